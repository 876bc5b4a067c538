/*
 * cache_thread_exit: 64 short-lived threads, each on one of the 4 fake
 * domains, allocate 1000 items (from a zone with an inline cache slot and
 * one whose slot is out of line), check and free them (into their caches)
 * and return.  Half of them move to the next domain before freeing, so
 * their frees are cross-domain and they exit with items in their cross
 * buckets too.  Run twice: 64 threads at once, then 64 one after another;
 * a quarter of them also allocate and free from a TLS destructor that runs
 * after numakeg's (the cacheless path of a thread whose cache is gone).
 * Then a third round: 64 threads that only free, items the main thread
 * allocated on domain 0.
 *
 * Checked after the joins: nk_zone_get_cur() == 0; the counters equal what
 * the threads did; the thread caches themselves were freed (the internal
 * "thread-cache" zone has at most the main thread's); after
 * NK_RECLAIM_DRAIN: cached_items == 0, slabs == 0 and free_items == 0 on
 * every domain, and no bucket is left allocated (the internal "bucket-*"
 * zones).
 */
#include "cache_common.h"
#include "zone.h"   /* the zone list and slot ids: internals the test looks at */

#define NDOM     4
#define NTHREADS 64
#define NITEMS   1000

static nk_zone_t zA, zB;
static nk_zone_t fillers[80];
static uint64_t exp_a[2][NDOM], exp_f[2][NDOM], exp_x[2][NDOM];  /* atomic */

struct targ {
	int id;
	int round;
};

/*
 * A TLS destructor of the test's own, created after numakeg's: it runs once
 * the thread's cache is gone, allocates and frees one item (the cacheless
 * path), and counts it.
 */
static pthread_key_t late_key;
static int late_runs;   /* atomic */
static int late_after_cache;   /* atomic: runs that found the cache already gone */

static void late_destructor(void *arg)
{
	int d = (int)(intptr_t)arg - 1;
	if (nk_tls_tc == NK_TC_DEAD)
		__atomic_add_fetch(&late_after_cache, 1, __ATOMIC_RELAXED);
	void *p = nk_zalloc(zA, NK_NOWAIT);
	if (p == NULL)
		FAIL("TLS destructor: nk_zalloc after the thread cache went returned NULL, errno %d",
		    errno);
	CHECK(nk_domain_of(p) == d, "TLS destructor on domain %d: item of domain %d", d,
	    nk_domain_of(p));
	memset(p, 0x5A, 64);
	nk_zfree(zA, p);
	__atomic_add_fetch(&exp_a[0][d], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&exp_f[0][d], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&late_runs, 1, __ATOMIC_RELAXED);
}

static void *thread_main(void *arg)
{
	struct targ *t = arg;
	int d = (t->id + t->round) % NDOM;
	int err = nk_thread_set_domain(d);
	if (err)
		FAIL("thread %d: nk_thread_set_domain(%d) = %d", t->id, d, err);
	static __thread void *items[NITEMS];
	nk_zone_t zs[2] = { zA, zB };
	for (int i = 0; i < NITEMS; i++) {
		int zi = i & 1;
		void *p = nk_zalloc(zs[zi], (i & 2) ? NK_WAITOK : NK_NOWAIT);
		if (p == NULL)
			FAIL("thread %d: nk_zalloc(%s) returned NULL, errno %d", t->id,
			    nk_zone_name(zs[zi]), errno);
		CHECK(nk_domain_of(p) == d, "thread %d on domain %d: item %p of domain %d",
		    t->id, d, p, nk_domain_of(p));
		ct_fill(p, nk_zone_size(zs[zi]) & ~(size_t)7, ct_stamp((unsigned)zi, (unsigned)t->id,
		    (uint64_t)i + 1));
		items[i] = p;
	}
	__atomic_add_fetch(&exp_a[0][d], NITEMS / 2, __ATOMIC_RELAXED);
	__atomic_add_fetch(&exp_a[1][d], NITEMS / 2, __ATOMIC_RELAXED);
	int fd = d;
	if (t->id & 1) {
		fd = (d + 1) % NDOM;
		if ((err = nk_thread_set_domain(fd)) != 0)
			FAIL("thread %d: nk_thread_set_domain(%d) = %d", t->id, fd, err);
		__atomic_add_fetch(&exp_x[0][fd], NITEMS / 2, __ATOMIC_RELAXED);
		__atomic_add_fetch(&exp_x[1][fd], NITEMS / 2, __ATOMIC_RELAXED);
	}
	for (int i = 0; i < NITEMS; i++) {
		int zi = i & 1;
		size_t sz = nk_zone_size(zs[zi]) & ~(size_t)7;
		size_t bad = ct_check(items[i], sz, ct_stamp((unsigned)zi, (unsigned)t->id, (uint64_t)i + 1));
		CHECK(bad == 0, "thread %d: item %p of zone %s corrupted at byte %zu", t->id, items[i],
		    nk_zone_name(zs[zi]), bad - 1);
		ct_unstamp(items[i], sz);
		nk_zfree(zs[zi], items[i]);
	}
	__atomic_add_fetch(&exp_f[0][fd], NITEMS / 2, __ATOMIC_RELAXED);
	__atomic_add_fetch(&exp_f[1][fd], NITEMS / 2, __ATOMIC_RELAXED);
	if (t->id % 4 == 0)
		pthread_setspecific(late_key, (void *)(intptr_t)(fd + 1));
	return NULL;  /* the caches still hold items: the exit hook gives them back */
}

/* Round 3: threads that only free (items the main thread allocated). */
struct farg {
	int id;
	void **items;
	int n;
};

static void *freer_main(void *arg)
{
	struct farg *f = arg;
	int d = f->id % NDOM;
	if (nk_thread_set_domain(d) != 0)
		FAIL("freer %d: nk_thread_set_domain(%d) failed", f->id, d);
	nk_zone_t zs[2] = { zA, zB };
	for (int i = 0; i < f->n; i++) {
		int zi = i & 1;
		uint64_t st = *(uint64_t *)f->items[i];
		size_t sz = nk_zone_size(zs[zi]) & ~(size_t)7;
		size_t bad = ct_check(f->items[i], sz, st);
		CHECK(bad == 0 && (st >> 56) == (uint64_t)zi, "freer %d: item %p corrupted", f->id,
		    f->items[i]);
		if (nk_domain_of(f->items[i]) != d)
			__atomic_add_fetch(&exp_x[zi][d], 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&exp_f[zi][d], 1, __ATOMIC_RELAXED);
		nk_zfree(zs[zi], f->items[i]);
	}
	return NULL;
}

static nk_zone_t internal_zone(const char *name)
{
	for (struct nk_zone *z = nk_zone_list; z != NULL; z = z->next)
		if (strcmp(z->name, name) == 0)
			return z;
	return NULL;
}

static void check_round(int round, const char *how)
{
	nk_zone_t zs[2] = { zA, zB };
	for (int zi = 0; zi < 2; zi++) {
		nk_zone_t z = zs[zi];
		int cur = nk_zone_get_cur(z);
		CHECK(cur == 0, "%s: zone %s: nk_zone_get_cur() = %d after every thread freed its items "
		    "and exited", how, nk_zone_name(z), cur);
		for (int d = 0; d < NDOM; d++) {
			struct nk_domain_stats s;
			nk_zone_stats(z, d, &s);
			CHECK(s.allocs == exp_a[zi][d] && s.frees == exp_f[zi][d] && s.xdomain == exp_x[zi][d],
			    "%s: zone %s domain %d: allocs/frees/xdomain %llu/%llu/%llu, the threads made "
			    "%llu/%llu/%llu", how, nk_zone_name(z), d, (unsigned long long)s.allocs,
			    (unsigned long long)s.frees, (unsigned long long)s.xdomain,
			    (unsigned long long)exp_a[zi][d], (unsigned long long)exp_f[zi][d],
			    (unsigned long long)exp_x[zi][d]);
		}
	}
	nk_zone_t tcz = internal_zone("thread-cache");
	if (tcz == NULL)
		CHECK(0, "no internal zone named thread-cache");
	else {
		int live = nk_zone_get_cur(tcz);
		CHECK(live <= 1, "%s: %d thread caches still allocated after %d threads exited "
		    "(at most the main thread's may be)", how, live, NTHREADS);
	}
	printf("%s, before drain:\n", how);
	ct_print_zone(stdout, zA);
	ct_print_zone(stdout, zB);
	for (int zi = 0; zi < 2; zi++) {
		nk_zone_reclaim(zs[zi], NK_RECLAIM_DRAIN);
		for (int d = 0; d < NDOM; d++) {
			struct nk_domain_stats s;
			nk_zone_stats(zs[zi], d, &s);
			CHECK(s.cached_items == 0, "%s: zone %s domain %d: cached_items %llu after "
			    "NK_RECLAIM_DRAIN", how, nk_zone_name(zs[zi]), d,
			    (unsigned long long)s.cached_items);
			CHECK(s.slabs == 0 && s.free_items == 0, "%s: zone %s domain %d: slabs %llu "
			    "free_items %llu after NK_RECLAIM_DRAIN (every item freed, every thread gone)",
			    how, nk_zone_name(zs[zi]), d, (unsigned long long)s.slabs,
			    (unsigned long long)s.free_items);
		}
	}
	/* Buckets: every cache is gone and the depots are empty, so none is in use. */
	nk_reclaim();
	int nbucketzones = 0;
	for (struct nk_zone *z = nk_zone_list; z != NULL; z = z->next) {
		if (strncmp(z->name, "bucket-", 7) != 0)
			continue;
		nbucketzones++;
		int cur = nk_zone_get_cur(z);
		CHECK(cur == 0, "%s: %d buckets of zone %s still allocated after the threads exited and "
		    "every depot was drained", how, cur, z->name);
	}
	CHECK(nbucketzones > 0, "no internal zone named bucket-*: the bucket leak check saw nothing");
	(void)round;
}

int main(void)
{
	ct_start("cache_thread_exit", 110);
	zA = nk_zcreate("texit-64", 64, NULL, NULL, NULL, NULL, NK_ALIGN_PTR, NK_ZONE_FIRSTTOUCH);
	for (int i = 0; i < 80; i++) {
		char n[32];
		snprintf(n, sizeof(n), "texit-filler-%d", i);
		if ((fillers[i] = nk_zcreate(n, 48, NULL, NULL, NULL, NULL, 0, 0)) == NULL)
			FAIL("nk_zcreate(%s): errno %d", n, errno);
	}
	zB = nk_zcreate("texit-ext-200", 200, NULL, NULL, NULL, NULL, NK_ALIGN_PTR, NK_ZONE_FIRSTTOUCH);
	if (zA == NULL || zB == NULL)
		FAIL("nk_zcreate failed: errno %d", errno);
	CHECK(zA->id < NK_TC_INLINE && zB->id >= NK_TC_INLINE, "slot ids %d and %d: the test wants "
	    "one inline and one out-of-line slot", zA->id, zB->id);

	if (pthread_key_create(&late_key, late_destructor) != 0)
		FAIL("pthread_key_create failed");
	static struct targ args[NTHREADS];
	pthread_t th[NTHREADS];

	/* Round 1: all at once. */
	ct_phase = "round 1: 64 threads at once";
	for (int i = 0; i < NTHREADS; i++) {
		args[i] = (struct targ){ i, 0 };
		if (pthread_create(&th[i], NULL, thread_main, &args[i]) != 0)
			FAIL("pthread_create %d failed", i);
	}
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	check_round(0, "64 threads at once");

	/* Round 2: one after another, each on the next domain. */
	ct_phase = "round 2: 64 threads one after another";
	for (int i = 0; i < NTHREADS; i++) {
		args[i] = (struct targ){ i, 1 };
		if (pthread_create(&th[i], NULL, thread_main, &args[i]) != 0)
			FAIL("pthread_create %d failed", i);
		pthread_join(th[i], NULL);
	}
	check_round(1, "64 threads one after another");
	CHECK(__atomic_load_n(&late_runs, __ATOMIC_RELAXED) == 2 * NTHREADS / 4,
	    "the late TLS destructor ran %d times, want %d", late_runs, 2 * NTHREADS / 4);
	CHECK(late_after_cache > 0, "the late TLS destructor never ran after numakeg's (%d runs): "
	    "the test did not reach the cacheless path", late_runs);

	/* Round 3: the main thread (domain 0) allocates, 64 threads only free. */
	ct_phase = "round 3: threads that only free";
	if (nk_thread_set_domain(0) != 0)
		FAIL("nk_thread_set_domain(0) failed");
	enum { PER = 500 };
	static void *pool[NTHREADS][PER];
	static struct farg fargs[NTHREADS];
	nk_zone_t zs[2] = { zA, zB };
	for (int t = 0; t < NTHREADS; t++) {
		for (int i = 0; i < PER; i++) {
			int zi = i & 1;
			void *p = nk_zalloc(zs[zi], NK_WAITOK);
			if (p == NULL)
				FAIL("main: NK_WAITOK returned NULL");
			CHECK(nk_domain_of(p) == 0, "main on domain 0: item of domain %d", nk_domain_of(p));
			ct_fill(p, nk_zone_size(zs[zi]) & ~(size_t)7, ct_stamp((unsigned)zi, 255,
			    (uint64_t)t * PER + (uint64_t)i));
			pool[t][i] = p;
		}
		exp_a[0][0] += PER / 2;
		exp_a[1][0] += PER / 2;
		fargs[t] = (struct farg){ t, pool[t], PER };
	}
	for (int t = 0; t < NTHREADS; t++)
		if (pthread_create(&th[t], NULL, freer_main, &fargs[t]) != 0)
			FAIL("pthread_create %d failed", t);
	for (int t = 0; t < NTHREADS; t++)
		pthread_join(th[t], NULL);
	check_round(2, "64 threads that only free");
	return nkt_done(ct_name);
}
