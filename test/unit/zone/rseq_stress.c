/*
 * cache_rseq_stress [threads] [seconds]: preemption and migration against
 * the per-CPU caches (lib/pcpu.c).  More threads than CPUs (4 per CPU by
 * default, at least 8) allocate and free from two user zones and from
 * nk_malloc's classes, and keep up to HELD items each; every item carries
 * its thread's id and a sequence number (cache_common.h's stamp, on every
 * cache line) written at allocation and checked at the free.  Between
 * batches a thread yields, moves itself to one CPU with sched_setaffinity,
 * or back to all of them, so that sequences are preempted and threads
 * migrate in the middle of the fast paths.  A second run of the same kind
 * hands items over between threads through a shared exchange, so that
 * frees land on other CPUs (and, with fake domains, other domains).
 *
 * Checked:
 *  - every stamp intact at the free (no item handed out twice, none written
 *    by the allocator while live);
 *  - with items still held: nk_zone_get_cur() equals the items the threads
 *    hold; the per-zone allocs and frees, summed over the domains, equal
 *    what the threads counted (exact, no atomics on the fast paths);
 *  - after every item is freed: nk_zone_get_cur() == 0;
 *  - after NK_RECLAIM_DRAIN: no cached item left on any domain;
 *  - in the per-CPU mode (NUMAKEG_CACHE unset or cpu, rseq registered):
 *    the threads were really served by the per-CPU caches (no thread cache
 *    made); with NUMAKEG_CACHE=thread or glibc.pthread.rseq=0: by thread
 *    caches.
 */
#include "cache_common.h"

#include "zone.h"

#define NZ      2
#define HELD    96
#define MAXT    64
#define XSLOTS  128

static nk_zone_t zones[NZ];
static const size_t zsizes[NZ] = { 40, 448 };
static int nthreads, ncpus;
static double run_secs;
static int stop;                /* atomic */
static void *xch[XSLOTS];       /* atomic: items handed between threads */
static int pcpu_threads;        /* atomic: threads the per-CPU caches served */

struct item_ref {
	void *p;
	int kind;                  /* 0..NZ-1: a zone; NZ: nk_malloc */
	size_t size;
	uint64_t stamp;
};

struct worker {
	pthread_t th;
	int id;
	bool exchange;
	uint64_t rng, seq;
	struct item_ref held[HELD];
	int nheld;
	uint64_t allocs[NZ], frees[NZ];   /* zone items this thread allocated / freed */
};
static struct worker workers[MAXT];

static size_t kind_size(int kind, uint64_t r)
{
	if (kind < NZ)
		return zsizes[kind];
	return 16 + (size_t)(r % 2032);   /* a malloc class from 16 B to 2 KiB */
}

static void *item_alloc(struct worker *w, int kind, size_t size)
{
	void *p = kind < NZ ? nk_zalloc(zones[kind], NK_WAITOK) : nk_malloc(size);
	if (p == NULL)
		FAIL("thread %d: allocation of kind %d returned NULL", w->id, kind);
	if (kind < NZ)
		w->allocs[kind]++;
	return p;
}

static void item_free(struct worker *w, const struct item_ref *it)
{
	size_t bad = ct_check(it->p, it->size & ~(size_t)7, it->stamp);
	CHECK(bad == 0, "thread %d: item %p (kind %d, %zu B) stamp %#llx broken at byte %zu: "
	    "handed out twice or written while live", w->id, it->p, it->kind, it->size,
	    (unsigned long long)it->stamp, bad - 1);
	ct_unstamp(it->p, it->size & ~(size_t)7);
	if (it->kind < NZ) {
		nk_zfree(zones[it->kind], it->p);
		w->frees[it->kind]++;
	} else {
		nk_free(it->p);
	}
}

static void move_somewhere(struct worker *w)
{
	uint64_t r = nkt_rand(&w->rng);
	switch (r % 4) {
	case 0:
		sched_yield();
		break;
	case 1: {
		cpu_set_t one;
		CPU_ZERO(&one);
		CPU_SET((int)((r >> 8) % (uint64_t)ncpus), &one);
		(void)sched_setaffinity(0, sizeof(one), &one);   /* a cpuset may refuse it */
		break;
	}
	case 2: {
		cpu_set_t all;
		CPU_ZERO(&all);
		for (int c = 0; c < ncpus; c++)
			CPU_SET(c, &all);
		(void)sched_setaffinity(0, sizeof(all), &all);
		break;
	}
	default:
		break;   /* run on */
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	double end = ct_now() + run_secs;
	unsigned batches = 0;
	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE) && (batches++ & 15 || ct_now() < end)) {
		for (int op = 0; op < 64; op++) {
			uint64_t r = nkt_rand(&w->rng);
			int slot = (int)((r >> 16) % HELD);
			struct item_ref *it = &w->held[slot];
			if (it->p != NULL) {
				item_free(w, it);
				it->p = NULL;
				w->nheld--;
				if (!(r & 1))
					continue;   /* leave the slot empty a while */
			}
			int kind = (int)((r >> 24) % (NZ + 1));
			it->kind = kind;
			it->size = kind_size(kind, r >> 32);
			it->p = item_alloc(w, kind, it->size);
			it->stamp = ct_stamp((unsigned)kind, (unsigned)w->id, ++w->seq);
			ct_fill(it->p, it->size & ~(size_t)7, it->stamp);
			w->nheld++;
			if (w->exchange && ((r >> 40) & 3) == 0) {
				/* Hand it to whichever thread takes the slot next; free what was there. */
				struct item_ref *box = malloc(sizeof(*box));
				if (box == NULL)
					FAIL("malloc");
				*box = *it;
				it->p = NULL;
				w->nheld--;
				struct item_ref *old = __atomic_exchange_n(&xch[(r >> 48) % XSLOTS], (void *)box,
				    __ATOMIC_ACQ_REL);
				if (old != NULL) {
					item_free(w, old);
					free(old);
				}
			}
		}
		move_somewhere(w);
	}
	if (nk_tls_tc == NK_TC_PCPU)
		__atomic_add_fetch(&pcpu_threads, 1, __ATOMIC_RELAXED);
	return NULL;
}

static void run(bool exchange)
{
	char phase[64];
	snprintf(phase, sizeof(phase), "%d threads, exchange %d", nthreads, exchange);
	ct_phase = phase;
	memset(workers, 0, sizeof(workers));
	__atomic_store_n(&pcpu_threads, 0, __ATOMIC_RELAXED);
	for (int i = 0; i < nthreads; i++) {
		workers[i].id = i;
		workers[i].exchange = exchange;
		workers[i].rng = ct_seed((uint64_t)i, exchange ? 77 : 7);
		if (pthread_create(&workers[i].th, NULL, worker_main, &workers[i]) != 0)
			FAIL("pthread_create failed");
	}
	for (int i = 0; i < nthreads; i++)
		pthread_join(workers[i].th, NULL);

	/* Items still held: get_cur must say exactly how many, and the counters balance. */
	uint64_t allocs[NZ] = { 0 }, frees[NZ] = { 0 };
	int64_t held[NZ] = { 0 };
	for (int i = 0; i < nthreads; i++)
		for (int z = 0; z < NZ; z++) {
			allocs[z] += workers[i].allocs[z];
			frees[z] += workers[i].frees[z];
		}
	for (int x = 0; x < XSLOTS; x++) {
		struct item_ref *box = xch[x];
		if (box != NULL && box->kind < NZ)
			held[box->kind]++;
	}
	for (int i = 0; i < nthreads; i++)
		for (int s = 0; s < HELD; s++)
			if (workers[i].held[s].p != NULL && workers[i].held[s].kind < NZ)
				held[workers[i].held[s].kind]++;
	for (int z = 0; z < NZ; z++) {
		struct nk_domain_stats t = ct_zone_total(zones[z]);
		int cur = nk_zone_get_cur(zones[z]);
		CHECK(cur == held[z], "%s: zone %s: get_cur %d with %lld items held", phase,
		    nk_zone_name(zones[z]), cur, (long long)held[z]);
		CHECK(t.allocs - t.frees == (uint64_t)held[z], "%s: zone %s: allocs %llu - frees %llu "
		    "!= %lld held", phase, nk_zone_name(zones[z]), (unsigned long long)t.allocs,
		    (unsigned long long)t.frees, (long long)held[z]);
		CHECK(t.allocs >= allocs[z] && t.frees >= frees[z], "%s: zone %s: counted allocs %llu "
		    "frees %llu, fewer than the threads made (%llu, %llu)", phase, nk_zone_name(zones[z]),
		    (unsigned long long)t.allocs, (unsigned long long)t.frees,
		    (unsigned long long)allocs[z], (unsigned long long)frees[z]);
	}
	/* Everything back, by the main thread (items of every CPU and domain). */
	struct worker *mw = &workers[0];
	for (int x = 0; x < XSLOTS; x++) {
		struct item_ref *box = xch[x];
		xch[x] = NULL;
		if (box != NULL) {
			item_free(mw, box);
			free(box);
		}
	}
	for (int i = 0; i < nthreads; i++)
		for (int s = 0; s < HELD; s++)
			if (workers[i].held[s].p != NULL) {
				item_free(mw, &workers[i].held[s]);
				workers[i].held[s].p = NULL;
			}
	uint64_t all_allocs = 0, all_frees = 0;
	for (int i = 0; i < nthreads; i++)
		for (int z = 0; z < NZ; z++) {
			all_allocs += workers[i].allocs[z];
			all_frees += workers[i].frees[z];
		}
	uint64_t counted_allocs = 0, counted_frees = 0;
	for (int z = 0; z < NZ; z++) {
		int cur = nk_zone_get_cur(zones[z]);
		CHECK(cur == 0, "%s: zone %s: get_cur %d after every item was freed", phase,
		    nk_zone_name(zones[z]), cur);
		struct nk_domain_stats t = ct_zone_total(zones[z]);
		counted_allocs += t.allocs;
		counted_frees += t.frees;
	}
	CHECK(all_allocs == all_frees, "%s: the threads allocated %llu and freed %llu", phase,
	    (unsigned long long)all_allocs, (unsigned long long)all_frees);
	for (int z = 0; z < NZ; z++) {
		nk_zone_reclaim(zones[z], NK_RECLAIM_DRAIN);
		struct nk_domain_stats t = ct_zone_total(zones[z]);
		CHECK(t.cached_items == 0, "%s: zone %s: %llu items cached after a drain", phase,
		    nk_zone_name(zones[z]), (unsigned long long)t.cached_items);
		for (int d = 0; d < nk_ndomains(); d++)
			CHECK(zone_domain_tc_items(zones[z], d) == 0, "%s: zone %s: %llu items in the "
			    "caches of domain %d after a drain", phase, nk_zone_name(zones[z]),
			    (unsigned long long)zone_domain_tc_items(zones[z], d), d);
		if (t.cached_items != 0)
			ct_print_zone(stderr, zones[z]);
	}
	int served = __atomic_load_n(&pcpu_threads, __ATOMIC_RELAXED);
	const char *mode = getenv("NUMAKEG_CACHE");
	bool want_cpu = nk_pcpu_on;
	if (mode != NULL && strcmp(mode, "thread") == 0)
		CHECK(!nk_pcpu_on, "NUMAKEG_CACHE=thread, yet the per-CPU caches are on");
	if (want_cpu)
		CHECK(served == nthreads, "%s: the per-CPU caches served %d threads of %d", phase,
		    served, nthreads);
	else
		CHECK(served == 0, "%s: per-CPU caches off, yet they served %d threads", phase, served);
	printf("%s: %llu zone allocations, counted %llu/%llu, %d of %d threads per CPU\n", phase,
	    (unsigned long long)all_allocs, (unsigned long long)counted_allocs,
	    (unsigned long long)counted_frees, served, nthreads);
}

int main(int argc, char **argv)
{
	ct_start("cache_rseq_stress", 240);
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		FAIL("sched_getaffinity: %s", strerror(errno));
	ncpus = 0;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set))
			ncpus = c + 1;
	nthreads = argc > 1 ? atoi(argv[1]) : nk_max(8, 4 * ncpus);
	nthreads = nk_min(nk_max(nthreads, 2), MAXT);
	run_secs = argc > 2 ? atof(argv[2]) : 3.0;
	for (int z = 0; z < NZ; z++) {
		char n[32];
		snprintf(n, sizeof(n), "rseq-%zu", zsizes[z]);
		zones[z] = nk_zcreate(n, zsizes[z], NULL, NULL, NULL, NULL, NK_ALIGN_PTR,
		    NK_ZONE_FIRSTTOUCH);
		if (zones[z] == NULL)
			FAIL("nk_zcreate(%s): errno %d", n, errno);
	}
	printf("cache_rseq_stress: %d threads on %d cpus, per-CPU caches %s\n", nthreads, ncpus,
	    nk_pcpu_on ? "on" : "off");
	run(false);
	run(true);
	for (int z = 0; z < NZ; z++)
		nk_zdestroy(zones[z]);
	return nkt_done(ct_name);
}
