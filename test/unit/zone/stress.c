/*
 * cache_stress N [calls] [seed]: N threads in producer/consumer
 * pairs.  Each pair has two bounded queues, one each way, so each thread
 * frees items the other allocated; the two threads of most pairs sit on
 * different (fake) domains, so those frees are cross-domain.  Some threads
 * also hop between domains now and then.  Several first-touch zones of
 * random sizes (8..4096 B); every item carries a stamp (zone, thread,
 * sequence) written at allocation and checked before it is freed.
 * Threads finish at different times and simply return: what they freed
 * last sits in their caches until the thread-exit hook gives it back.
 *
 * Checked:
 *  - every nk_zalloc result is on the calling thread's domain (first touch,
 *    no limits: equality, always), so an item of domain A freed by a thread
 *    on B never comes back to a thread allocating on B;
 *  - every stamp is intact at the free (no item handed out twice, none
 *    written by the allocator while live);
 *  - after the threads are gone: nk_zone_get_cur() == 0; the per-domain
 *    allocs, frees and xdomain counters equal what the threads counted;
 *    no fallbacks; xdomain > 0;
 *  - after NK_RECLAIM_DRAIN on every zone and nk_reclaim(): cached_items,
 *    slabs and free_items are 0 on every domain, and every domain's
 *    active page bytes are below their peak during the run.
 */
#include "cache_common.h"

#define NZONES   6
#define NDOM     4
#define QCAP     256
#define HELD_MAX 512
#define MAXT     64

struct qent {
	void *p;
	uint32_t zi;
	uint64_t stamp;
};

struct queue {
	pthread_mutex_t m;
	int head, count;
	struct qent e[QCAP];
};

struct worker {
	pthread_t th;
	int id;
	int partner;
	int home;              /* the domain it starts on */
	int dom;               /* the domain it runs on now */
	int roam;              /* hops between domains */
	long iters;
	uint64_t rng;
	uint64_t seq;
	struct queue inq;      /* the partner pushes, this thread pops */
	int done;              /* atomic: no more pushes from this thread */
	struct qent held[HELD_MAX];
	int nheld;
	/* What this thread did, by zone and by the domain it ran on. */
	uint64_t allocs[NZONES][NDOM], frees[NZONES][NDOM], xfrees[NZONES][NDOM];
	uint64_t ops;
};

static nk_zone_t zones[NZONES];
static size_t zsize[NZONES];      /* the size asked for */
static size_t zstamp[NZONES];     /* bytes the stamp covers */
static struct worker W[MAXT];
static int nthreads;
static int running;               /* atomic */

static bool q_push(struct queue *q, const struct qent *e)
{
	pthread_mutex_lock(&q->m);
	bool ok = q->count < QCAP;
	if (ok) {
		q->e[(q->head + q->count) % QCAP] = *e;
		q->count++;
	}
	pthread_mutex_unlock(&q->m);
	return ok;
}

static int q_pop(struct queue *q, struct qent *out, int max)
{
	pthread_mutex_lock(&q->m);
	int n = 0;
	while (n < max && q->count > 0) {
		out[n++] = q->e[q->head];
		q->head = (q->head + 1) % QCAP;
		q->count--;
	}
	pthread_mutex_unlock(&q->m);
	return n;
}

static void *w_alloc(struct worker *w, uint32_t zi, struct qent *e)
{
	int flags = (nkt_rand(&w->rng) & 1) ? NK_WAITOK : NK_NOWAIT;
	void *p = nk_zalloc(zones[zi], flags);
	w->ops++;
	if (p == NULL)
		FAIL("thread %d (domain %d): nk_zalloc(%s, %s) returned NULL (errno %d)",
		    w->id, w->dom, nk_zone_name(zones[zi]),
		    flags == NK_WAITOK ? "NK_WAITOK" : "NK_NOWAIT", errno);
	int d = nk_domain_of(p);
	CHECK(d == w->dom,
	    "thread %d bound to domain %d got %p of domain %d from zone %s (first touch broken)",
	    w->id, w->dom, p, d, nk_zone_name(zones[zi]));
	w->allocs[zi][w->dom]++;
	e->p = p;
	e->zi = zi;
	e->stamp = ct_stamp(zi, (unsigned)w->id, ++w->seq);
	ct_fill(p, zstamp[zi], e->stamp);
	return p;
}

static void w_free(struct worker *w, const struct qent *e)
{
	size_t bad = ct_check(e->p, zstamp[e->zi], e->stamp);
	CHECK(bad == 0,
	    "thread %d: item %p of zone %s (stamp %#llx) corrupted at byte %zu before its free: "
	    "handed out twice or written while live", w->id, e->p, nk_zone_name(zones[e->zi]),
	    (unsigned long long)e->stamp, bad - 1);
	ct_unstamp(e->p, zstamp[e->zi]);
	int d = nk_domain_of(e->p);
	CHECK(d >= 0 && d < NDOM, "nk_domain_of(%p) = %d", e->p, d);
	if (d != w->dom)
		w->xfrees[e->zi][w->dom]++;
	w->frees[e->zi][w->dom]++;
	nk_zfree(zones[e->zi], e->p);
	w->ops++;
}

static void w_drain_inq(struct worker *w, int max)
{
	struct qent buf[64];
	while (max > 0) {
		int n = q_pop(&w->inq, buf, max < 64 ? max : 64);
		if (n == 0)
			break;
		for (int i = 0; i < n; i++)
			w_free(w, &buf[i]);
		max -= n;
	}
}

static void w_set_domain(struct worker *w, int d)
{
	int err = nk_thread_set_domain(d);
	if (err != 0)
		FAIL("thread %d: nk_thread_set_domain(%d) = %d", w->id, d, err);
	w->dom = d;
	CHECK(nk_current_domain() == d, "thread %d: nk_current_domain() = %d after set_domain(%d)",
	    w->id, nk_current_domain(), d);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct worker *p = &W[w->partner];
	w_set_domain(w, w->home);
	for (long i = 0; i < w->iters; i++) {
		if (w->roam && i > 0 && i % 7919 == 0)
			w_set_domain(w, (w->dom + 1 + (int)(nkt_rand(&w->rng) % (NDOM - 1))) % NDOM);
		w_drain_inq(w, 32);
		uint64_t r = nkt_rand(&w->rng);
		uint32_t zi = (uint32_t)((r >> 8) % NZONES);
		unsigned action = (unsigned)(r % 100);
		struct qent e;
		if (action < 55) {
			/* To the partner, who frees it. */
			w_alloc(w, zi, &e);
			bool pushed = false;
			for (int tries = 0; tries < 4 && !pushed; tries++) {
				if (__atomic_load_n(&p->done, __ATOMIC_ACQUIRE))
					break;
				pushed = q_push(&p->inq, &e);
				if (!pushed) {
					w_drain_inq(w, QCAP);
					sched_yield();
				}
			}
			if (!pushed)
				w_free(w, &e);
		} else if (action < 85 || w->nheld == 0) {
			/* Kept a while: the live set, and so the slab count, grows. */
			w_alloc(w, zi, &e);
			if (w->nheld == HELD_MAX) {
				int k = (int)(nkt_rand(&w->rng) % HELD_MAX);
				w_free(w, &w->held[k]);
				w->held[k] = e;
			} else {
				w->held[w->nheld++] = e;
			}
		} else {
			int k = (int)(nkt_rand(&w->rng) % (uint64_t)w->nheld);
			w_free(w, &w->held[k]);
			w->held[k] = w->held[--w->nheld];
		}
	}
	/* Free what is held (into this thread's cache), stop producing, then
	 * take what the partner still sends until it has stopped too. */
	while (w->nheld > 0)
		w_free(w, &w->held[--w->nheld]);
	__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
	for (;;) {
		int pd = __atomic_load_n(&p->done, __ATOMIC_ACQUIRE);
		w_drain_inq(w, QCAP);
		if (pd) {
			w_drain_inq(w, QCAP);
			break;
		}
		sched_yield();
	}
	pthread_mutex_lock(&w->inq.m);
	CHECK(w->inq.count == 0, "thread %d: %d items left in its queue", w->id, w->inq.count);
	pthread_mutex_unlock(&w->inq.m);
	__atomic_sub_fetch(&running, 1, __ATOMIC_RELEASE);
	return NULL;  /* exits with items in its cache: the exit hook gives them back */
}

int main(int argc, char **argv)
{
	static char name[32];
	nthreads = argc > 1 ? atoi(argv[1]) : 4;
	if (nthreads < 2 || nthreads > MAXT || nthreads % 2)
		FAIL("want an even thread count 2..%d, got %s", MAXT, argc > 1 ? argv[1] : "");
	snprintf(name, sizeof(name), "cache_stress_%d", nthreads);
	ct_start(name, 110);
	/* nk_zalloc + nk_zfree calls in all: 2M with 2 threads, 4M with 4, 6M with 16
	 * (an iteration makes about 1.7 calls); argv[2] overrides. */
	long target = nthreads == 2 ? 2000000 : nthreads == 4 ? 4000000 : 6000000;
	if (argc > 2)
		target = atol(argv[2]);
	long per_thread = (long)((double)target / (1.7 * nthreads));
	uint64_t seed = argc > 3 ? strtoull(argv[3], NULL, 0) : 0x5EED0000ull + (uint64_t)nthreads;
	printf("%s: %d threads, ~%ld calls, seed %#llx\n", name, nthreads, target,
	    (unsigned long long)seed);

	/* Zones: always 8 and 4096 bytes, and four random sizes between. */
	uint64_t rng = ct_seed(seed, 1);
	for (int i = 0; i < NZONES; i++) {
		size_t sz;
		if (i == 0)
			sz = 8;
		else if (i == NZONES - 1)
			sz = 4096;
		else {
			int e = 3 + (int)(nkt_rand(&rng) % 9);       /* 8 .. 2048 */
			sz = ((size_t)1 << e) + nkt_rand(&rng) % ((size_t)1 << e);
		}
		char zn[32];
		snprintf(zn, sizeof(zn), "stress-%d-%zu", i, sz);
		zones[i] = nk_zcreate(zn, sz, NULL, NULL, NULL, NULL, NK_ALIGN_PTR, NK_ZONE_FIRSTTOUCH);
		if (zones[i] == NULL)
			FAIL("nk_zcreate(%s) failed: errno %d", zn, errno);
		zsize[i] = sz;
		zstamp[i] = sz & ~(size_t)7;
		CHECK(nk_zone_size(zones[i]) >= sz, "zone %s: item size %zu < %zu asked", zn,
		    nk_zone_size(zones[i]), sz);
		printf("  zone %s: item size %zu\n", zn, nk_zone_size(zones[i]));
	}

	/* Pairs (2k, 2k+1).  Domains: k % 4 and a second one that differs for
	 * most pairs (the same for every third pair from k = 2 on). */
	for (int i = 0; i < nthreads; i++) {
		struct worker *w = &W[i];
		memset(w, 0, sizeof(*w));
		w->id = i;
		w->partner = i ^ 1;
		int k = i / 2;
		int a = k % NDOM;
		int b = (k % 3 == 2) ? a : (a + 1 + k % 3) % NDOM;
		w->home = (i & 1) ? b : a;
		w->roam = nthreads >= 4 && (i % 4 == 3);
		w->rng = ct_seed(seed, (uint64_t)i + 100);
		/* Different lengths: threads finish, and exit, at different times. */
		w->iters = per_thread / 2 + (per_thread * (i % 4)) / 3;
		pthread_mutex_init(&w->inq.m, NULL);
	}
	for (int i = 0; i < nthreads; i++)
		printf("  thread %d: domain %d, partner %d (domain %d)%s, %ld allocs\n", i, W[i].home,
		    W[i].partner, W[W[i].partner].home, W[i].roam ? ", roams" : "", W[i].iters);

	struct nk_page_stats ps;
	uint64_t peak_active[NDOM] = { 0 }, peak_slabs[NDOM] = { 0 };
	uint64_t base_active[NDOM];
	for (int d = 0; d < NDOM; d++) {
		if (nk_page_stats(d, &ps) != 0)
			FAIL("nk_page_stats(%d) failed", d);
		base_active[d] = ps.active_bytes;
	}

	double t0 = ct_now();
	running = nthreads;
	ct_phase = "threads running";
	for (int i = 0; i < nthreads; i++)
		if (pthread_create(&W[i].th, NULL, worker_main, &W[i]) != 0)
			FAIL("pthread_create failed");
	/* Watch the peak while they run. */
	while (__atomic_load_n(&running, __ATOMIC_ACQUIRE) > 0) {
		uint64_t slabs[NDOM] = { 0 };
		for (int zi = 0; zi < NZONES; zi++)
			for (int d = 0; d < NDOM; d++) {
				struct nk_domain_stats s;
				if (nk_zone_stats(zones[zi], d, &s) == 0)
					slabs[d] += s.slabs;
			}
		for (int d = 0; d < NDOM; d++) {
			if (slabs[d] > peak_slabs[d])
				peak_slabs[d] = slabs[d];
			if (nk_page_stats(d, &ps) == 0 && ps.active_bytes > peak_active[d])
				peak_active[d] = ps.active_bytes;
		}
		ct_sleep_ms(5);
	}
	ct_phase = "joining threads";
	for (int i = 0; i < nthreads; i++)
		pthread_join(W[i].th, NULL);
	double t1 = ct_now();
	ct_phase = "final checks";

	/* What the threads did. */
	uint64_t exp_a[NZONES][NDOM] = { { 0 } }, exp_f[NZONES][NDOM] = { { 0 } };
	uint64_t exp_x[NZONES][NDOM] = { { 0 } };
	uint64_t ops = 0, xtotal = 0;
	for (int i = 0; i < nthreads; i++) {
		ops += W[i].ops;
		for (int zi = 0; zi < NZONES; zi++)
			for (int d = 0; d < NDOM; d++) {
				exp_a[zi][d] += W[i].allocs[zi][d];
				exp_f[zi][d] += W[i].frees[zi][d];
				exp_x[zi][d] += W[i].xfrees[zi][d];
				xtotal += W[i].xfrees[zi][d];
			}
	}
	printf("%s: %llu nk_zalloc/nk_zfree calls in %.2f s, %llu cross-domain frees\n", name,
	    (unsigned long long)ops, t1 - t0, (unsigned long long)xtotal);
	CHECK(xtotal > 0, "the test made no cross-domain frees (pairs on different domains)");

	for (int zi = 0; zi < NZONES; zi++) {
		nk_zone_t z = zones[zi];
		int cur = nk_zone_get_cur(z);
		CHECK(cur == 0, "zone %s: nk_zone_get_cur() = %d after every item was freed",
		    nk_zone_name(z), cur);
		uint64_t zx = 0;
		for (int d = 0; d < NDOM; d++) {
			struct nk_domain_stats s;
			CHECK(nk_zone_stats(z, d, &s) == 0, "nk_zone_stats(%s, %d)", nk_zone_name(z), d);
			CHECK(s.allocs == exp_a[zi][d], "zone %s domain %d: allocs %llu, the threads made %llu",
			    nk_zone_name(z), d, (unsigned long long)s.allocs, (unsigned long long)exp_a[zi][d]);
			CHECK(s.frees == exp_f[zi][d], "zone %s domain %d: frees %llu, the threads made %llu",
			    nk_zone_name(z), d, (unsigned long long)s.frees, (unsigned long long)exp_f[zi][d]);
			CHECK(s.xdomain == exp_x[zi][d],
			    "zone %s domain %d: xdomain %llu, the threads made %llu cross-domain frees",
			    nk_zone_name(z), d, (unsigned long long)s.xdomain, (unsigned long long)exp_x[zi][d]);
			CHECK(s.fallbacks == 0, "zone %s domain %d: %llu fallbacks with no limit set",
			    nk_zone_name(z), d, (unsigned long long)s.fallbacks);
			zx += s.xdomain;
		}
		uint64_t ex = 0;
		for (int d = 0; d < NDOM; d++)
			ex += exp_x[zi][d];
		if (ex > 0)
			CHECK(zx > 0, "zone %s: %llu cross-domain frees made, xdomain counters all 0",
			    nk_zone_name(z), (unsigned long long)ex);
	}

	printf("before drain:\n");
	for (int zi = 0; zi < NZONES; zi++)
		ct_print_zone(stdout, zones[zi]);
	ct_phase = "drain";
	for (int zi = 0; zi < NZONES; zi++)
		nk_zone_reclaim(zones[zi], NK_RECLAIM_DRAIN);
	nk_reclaim();
	printf("after drain:\n");
	for (int zi = 0; zi < NZONES; zi++)
		ct_print_zone(stdout, zones[zi]);

	uint64_t slabs_after[NDOM] = { 0 };
	for (int zi = 0; zi < NZONES; zi++) {
		for (int d = 0; d < NDOM; d++) {
			struct nk_domain_stats s;
			nk_zone_stats(zones[zi], d, &s);
			CHECK(s.cached_items == 0, "zone %s domain %d: cached_items %llu after NK_RECLAIM_DRAIN",
			    nk_zone_name(zones[zi]), d, (unsigned long long)s.cached_items);
			CHECK(s.slabs == 0,
			    "zone %s domain %d: %llu slabs (%llu free items) after NK_RECLAIM_DRAIN with "
			    "every item freed and every thread gone", nk_zone_name(zones[zi]), d,
			    (unsigned long long)s.slabs, (unsigned long long)s.free_items);
			CHECK(s.free_items == 0, "zone %s domain %d: free_items %llu after drain",
			    nk_zone_name(zones[zi]), d, (unsigned long long)s.free_items);
			slabs_after[d] += s.slabs;
		}
	}
	for (int d = 0; d < NDOM; d++) {
		uint64_t used = 0;
		for (int zi = 0; zi < NZONES; zi++)
			used += exp_a[zi][d];
		if (nk_page_stats(d, &ps) != 0)
			FAIL("nk_page_stats(%d)", d);
		printf("domain %d: slabs peak %llu after %llu; active bytes start %llu peak %llu after %llu,"
		    " dirty %llu, purged %llu\n", d, (unsigned long long)peak_slabs[d],
		    (unsigned long long)slabs_after[d], (unsigned long long)base_active[d],
		    (unsigned long long)peak_active[d], (unsigned long long)ps.active_bytes,
		    (unsigned long long)ps.dirty_bytes, (unsigned long long)ps.purged_bytes);
		CHECK(ps.dirty_bytes == 0, "domain %d: %llu dirty bytes after nk_reclaim()", d,
		    (unsigned long long)ps.dirty_bytes);
		if (used == 0)
			continue;  /* no thread ran here */
		CHECK(peak_slabs[d] > 0, "domain %d: %llu allocations there but no slab seen during "
		    "the run", d, (unsigned long long)used);
		CHECK(slabs_after[d] < peak_slabs[d], "domain %d: slabs %llu after drain, peak %llu",
		    d, (unsigned long long)slabs_after[d], (unsigned long long)peak_slabs[d]);
		CHECK(ps.active_bytes < peak_active[d],
		    "domain %d: active bytes %llu after drain and nk_reclaim(), peak %llu", d,
		    (unsigned long long)ps.active_bytes, (unsigned long long)peak_active[d]);
	}
	return nkt_done(ct_name);
}
