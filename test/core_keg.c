/*
 * Kegs and zones with 4 fake domains (NUMAKEG_FAKE_DOMAINS=4): domain
 * policies, fallback, the reserve, ctor/dtor/init/fini, NK_ZERO, secondary
 * zones, NOFREE zones, nk_domain_of.  Run as "core_keg MODE"; the fallback
 * mode runs with NUMAKEG_DOMAIN_LIMIT set by ctest.
 */
#include "nk_test.h"

#define NDOM 4

static void
bind_or_die(int d)
{
	REQUIRE(nk_thread_set_domain(d) == 0, "nk_thread_set_domain(%d)", d);
	REQUIRE(nk_current_domain() == d, "current domain %d, want %d", nk_current_domain(), d);
}

static void
test_firsttouch(void)
{
	nk_zone_t z = nk_zcreate("ft", 64, NULL, NULL, NULL, NULL, NK_ALIGN_PTR, NK_ZONE_FIRSTTOUCH);
	REQUIRE(z != NULL, "zcreate");
	enum { N = 3000 };
	static void *items[NDOM][N];
	for (int d = 0; d < NDOM; d++) {
		bind_or_die(d);
		int local = 0;
		for (int i = 0; i < N; i++) {
			items[d][i] = nk_zalloc(z, NK_NOWAIT);
			REQUIRE(items[d][i] != NULL, "alloc");
			local += nk_domain_of(items[d][i]) == d;
		}
		CHECK(local == N, "domain %d: %d of %d items local", d, local, N);
	}
	/* Free each domain's items from another domain: cross frees go home. */
	for (int d = 0; d < NDOM; d++) {
		bind_or_die((d + 1) % NDOM);
		for (int i = 0; i < N; i++)
			nk_zfree(z, items[d][i]);
	}
	uint64_t xdomain = 0;
	for (int d = 0; d < NDOM; d++) {
		struct nk_domain_stats st;
		REQUIRE(nk_zone_stats(z, d, &st) == 0, "stats");
		xdomain += st.xdomain;
	}
	CHECK(xdomain == (uint64_t)NDOM * N, "xdomain %lu, want %d", xdomain, NDOM * N);
	/* After the cross frees, each domain again gets only its own items. */
	for (int d = 0; d < NDOM; d++) {
		bind_or_die(d);
		for (int i = 0; i < N; i++) {
			void *p = nk_zalloc(z, NK_NOWAIT);
			CHECK(nk_domain_of(p) == d, "reused item of domain %d on domain %d", nk_domain_of(p), d);
			items[d][i] = p;
		}
	}
	for (int d = 0; d < NDOM; d++)
		for (int i = 0; i < N; i++)
			nk_zfree(z, items[d][i]);
	CHECK(nk_zone_get_cur(z) == 0, "cur %d", nk_zone_get_cur(z));
	nk_thread_set_domain(-1);
	nk_zdestroy(z);
}

static void
test_roundrobin(void)
{
	nk_zone_t z = nk_zcreate("rr", 256, NULL, NULL, NULL, NULL, NK_ALIGN_PTR, NK_ZONE_ROUNDROBIN);
	REQUIRE(z != NULL, "zcreate");
	bind_or_die(1);
	enum { N = 20000 };
	static void *items[N];
	int per[NDOM] = { 0 };
	for (int i = 0; i < N; i++) {
		items[i] = nk_zalloc(z, NK_NOWAIT);
		REQUIRE(items[i] != NULL, "alloc");
		per[nk_domain_of(items[i])]++;
	}
	uint64_t lo = UINT64_MAX, hi = 0;
	for (int d = 0; d < NDOM; d++) {
		struct nk_domain_stats st;
		nk_zone_stats(z, d, &st);
		lo = st.slabs < lo ? st.slabs : lo;
		hi = st.slabs > hi ? st.slabs : hi;
		CHECK(per[d] > 0, "round-robin left domain %d without items", d);
	}
	CHECK(hi - lo <= 1, "slab counts range %lu..%lu", lo, hi);
	for (int i = 0; i < N; i++)
		nk_zfree(z, items[i]);
	nk_thread_set_domain(-1);
	nk_zdestroy(z);
}

/* NUMAKEG_DOMAIN_LIMIT=0:2M: domain 0 fills, first-touch goes to domain 1. */
static void
test_fallback(void)
{
	nk_zone_t z = nk_zcreate("fb", 1024, NULL, NULL, NULL, NULL, NK_ALIGN_PTR, NK_ZONE_FIRSTTOUCH);
	REQUIRE(z != NULL, "zcreate");
	bind_or_die(0);
	enum { N = 8192 };  /* 8 MiB: four times the cap */
	static void *items[N];
	int per[NDOM] = { 0 };
	for (int i = 0; i < N; i++) {
		items[i] = nk_zalloc(z, NK_NOWAIT);
		REQUIRE(items[i] != NULL, "alloc %d: the fallback should have served it", i);
		per[nk_domain_of(items[i])]++;
	}
	CHECK(per[0] > 0 && per[0] < N, "domain 0 had %d items", per[0]);
	CHECK(per[1] + per[0] == N, "fallback went past the nearest domain: %d %d %d %d",
	    per[0], per[1], per[2], per[3]);
	struct nk_domain_stats st1;
	nk_zone_stats(z, 1, &st1);
	CHECK(st1.fallbacks > 0, "no fallback counted on domain 1");
	struct nk_page_stats ps0;
	nk_page_stats(0, &ps0);
	CHECK(ps0.limit_bytes == 2u << 20, "limit %lu", ps0.limit_bytes);
	CHECK(ps0.active_bytes + ps0.dirty_bytes <= ps0.limit_bytes, "domain 0 over its cap: %lu",
	    ps0.active_bytes);
	CHECK(ps0.fallbacks > 0, "page layer counted no refusal");
	/*
	 * The thread's alloc bucket now holds domain 1's items (the fallback).
	 * A migration flushes it: those items must go home to domain 1, not
	 * into domain 0's depot (and the depot lock must be left free).
	 */
	void *more = nk_zalloc(z, NK_NOWAIT);
	bind_or_die(2);
	bind_or_die(0);
	nk_zfree(z, more);
	for (int i = 0; i < N; i++)
		nk_zfree(z, items[i]);
	nk_zone_reclaim(z, NK_RECLAIM_DRAIN);
	CHECK(nk_zone_get_cur(z) == 0, "cur %d", nk_zone_get_cur(z));

	/* Preallocation on a full domain fails with ENOMEM, and returns. */
	void *hold[N];
	int held = 0;
	while (held < N && (hold[held] = nk_zalloc_domain(z, NULL, 0, NK_NOWAIT)) != NULL &&
	    nk_domain_of(hold[held]) == 0)
		held++;
	if (held < N && hold[held] != NULL)
		held++;  /* the first block from elsewhere: domain 0 is full */
	/* A few free items on domain 0, far fewer than asked for. */
	for (int i = 0; i < 10 && held > 0; i++)
		nk_zfree(z, hold[--held]);
	nk_zone_reclaim(z, NK_RECLAIM_DRAIN);
	int err = nk_prealloc(z, 4 * 64 * 1024);
	CHECK(err == ENOMEM, "prealloc past domain 0's limit returned %d", err);
	for (int i = 0; i < held; i++)
		nk_zfree(z, hold[i]);
	nk_thread_set_domain(-1);
	nk_zdestroy(z);
}

/* seed 001: reserved items on other domains serve NK_USE_RESERVE. */
static void
test_reserve(void)
{
	nk_zone_t z = nk_zcreate("resv", 128, NULL, NULL, NULL, NULL, NK_ALIGN_PTR, NK_ZONE_FIRSTTOUCH);
	REQUIRE(z != NULL, "zcreate");
	enum { R = 40 };
	CHECK(nk_zone_reserve(z, R) == 0, "reserve");
	CHECK(nk_prealloc(z, R) == 0, "prealloc");
	int with_slabs = 0;
	uint64_t free_total = 0;
	for (int d = 0; d < NDOM; d++) {
		struct nk_domain_stats st;
		nk_zone_stats(z, d, &st);
		with_slabs += st.slabs > 0;
		free_total += st.free_items;
	}
	CHECK(with_slabs == NDOM, "prealloc used %d of %d domains", with_slabs, NDOM);
	bind_or_die(3);
	/* Ordinary allocations without new pages take all but the reserve. */
	static void *ord[100000];
	int n = 0;
	while ((ord[n] = nk_zalloc(z, NK_NOWAIT | NK_NOVM)) != NULL)
		n++;
	CHECK(errno == ENOMEM, "errno %d", errno);
	CHECK((uint64_t)n == free_total - R, "ordinary took %d, want %lu", n, free_total - R);
	/* The reserve is on other domains now; NK_USE_RESERVE must find it. */
	void *res[R + 1];
	int remote = 0;
	for (int i = 0; i < R; i++) {
		res[i] = nk_zalloc(z, NK_NOWAIT | NK_USE_RESERVE);
		CHECK(res[i] != NULL, "reserve item %d missing", i);
		if (res[i] != NULL)
			remote += nk_domain_of(res[i]) != 3;
	}
	CHECK(remote > 0, "the reserve was found only on the current domain");
	res[R] = nk_zalloc(z, NK_NOWAIT | NK_USE_RESERVE | NK_NOVM);
	CHECK(res[R] == NULL, "more than the reserve came out");
	for (int i = 0; i < R; i++)
		nk_zfree(z, res[i]);
	for (int i = 0; i < n; i++)
		nk_zfree(z, ord[i]);
	nk_thread_set_domain(-1);
	nk_zdestroy(z);
}

static int n_ctor, n_dtor, n_init, n_fini;

static int
t_ctor(void *mem, size_t size, void *arg, int flags)
{
	(void)flags;
	__atomic_add_fetch(&n_ctor, 1, __ATOMIC_RELAXED);
	if (arg == (void *)1)
		return ENOMEM;  /* the failing ctor */
	memset(mem, 0xab, size);
	return 0;
}

static void
t_dtor(void *mem, size_t size, void *arg)
{
	(void)mem; (void)size; (void)arg;
	__atomic_add_fetch(&n_dtor, 1, __ATOMIC_RELAXED);
}

static int
t_init(void *mem, size_t size, int flags)
{
	(void)flags;
	memset(mem, 0, size);
	__atomic_add_fetch(&n_init, 1, __ATOMIC_RELAXED);
	return 0;
}

static void
t_fini(void *mem, size_t size)
{
	(void)mem; (void)size;
	__atomic_add_fetch(&n_fini, 1, __ATOMIC_RELAXED);
}

static void
test_hooks(void)
{
	nk_zone_t z = nk_zcreate("hooks", 96, t_ctor, t_dtor, t_init, t_fini, NK_ALIGN_PTR, 0);
	REQUIRE(z != NULL, "zcreate");
	enum { N = 500 };
	void *items[N];
	for (int i = 0; i < N; i++) {
		items[i] = nk_zalloc(z, NK_WAITOK);
		REQUIRE(items[i] != NULL, "WAITOK returned NULL");
		CHECK(((unsigned char *)items[i])[95] == 0xab, "ctor did not run on the item");
	}
	CHECK(n_ctor == N, "ctor ran %d times, want %d", n_ctor, N);
	CHECK(n_init >= N, "init ran %d times for %d items", n_init, N);
	int inits = n_init;
	for (int i = 0; i < N; i++)
		nk_zfree(z, items[i]);
	CHECK(n_dtor == N, "dtor ran %d times, want %d", n_dtor, N);
	CHECK(n_init == inits, "init ran again on free");

	/* A failing ctor: NULL, ENOMEM, no dtor, and the item is not lost. */
	int cur = nk_zone_get_cur(z), dtors = n_dtor;
	errno = 0;
	void *p = nk_zalloc_arg(z, (void *)1, NK_NOWAIT);
	CHECK(p == NULL && errno == ENOMEM, "failing ctor gave %p errno %d", p, errno);
	CHECK(n_dtor == dtors, "dtor ran for a failed ctor");
	CHECK(nk_zone_get_cur(z) == cur, "cur %d after a failed ctor, was %d", nk_zone_get_cur(z), cur);

	/* fini for every init, once the slabs go. */
	nk_zone_reclaim(z, NK_RECLAIM_DRAIN);
	nk_zdestroy(z);
	CHECK(n_fini == n_init, "fini %d, init %d", n_fini, n_init);
}

static void
test_zero(void)
{
	nk_zone_t zz = nk_zcreate("zero", 96, NULL, NULL, NULL, NULL, NK_ALIGN_PTR, 0);
	REQUIRE(zz != NULL, "zcreate");
	/* NK_ZERO gives zeroes even for reused items. */
	enum { M = 200 };
	void *dirty[M], *clean[M];
	for (int i = 0; i < M; i++) {
		dirty[i] = nk_zalloc(zz, NK_NOWAIT);
		memset(dirty[i], 0xff, 96);
	}
	for (int i = 0; i < M; i++)
		nk_zfree(zz, dirty[i]);
	int reused = 0, nonzero = 0;
	for (int i = 0; i < M; i++) {
		clean[i] = nk_zalloc(zz, NK_NOWAIT | NK_ZERO);
		for (int j = 0; j < M; j++)
			reused += clean[i] == dirty[j];
		for (int k = 0; k < 96; k++)
			nonzero += ((unsigned char *)clean[i])[k] != 0;
	}
	CHECK(reused > 0, "no item was reused (test premise)");
	CHECK(nonzero == 0, "NK_ZERO left %d bytes of old contents", nonzero);
	for (int i = 0; i < M; i++)
		nk_zfree(zz, clean[i]);

	nk_zdestroy(zz);
}

static int n_ctor2;
static int
t_ctor2(void *mem, size_t size, void *arg, int flags)
{
	(void)mem; (void)size; (void)arg; (void)flags;
	n_ctor2++;
	return 0;
}

static void
test_secondary(void)
{
	n_ctor = 0;
	nk_zone_t m = nk_zcreate("master", 200, t_ctor, NULL, NULL, NULL, NK_ALIGN_PTR, 0);
	nk_zone_t s = nk_zsecond_create("second", t_ctor2, NULL, NULL, NULL, m);
	REQUIRE(m && s, "zcreate");
	CHECK(nk_zone_size(s) == nk_zone_size(m), "sizes differ");
	void *a[100], *b[100];
	for (int i = 0; i < 100; i++) {
		a[i] = nk_zalloc(m, NK_NOWAIT);
		b[i] = nk_zalloc(s, NK_NOWAIT);
	}
	CHECK(n_ctor == 100 && n_ctor2 == 100, "ctors %d %d", n_ctor, n_ctor2);
	struct nk_domain_stats sm, ss;
	int d = nk_domain_of(a[0]);
	nk_zone_stats(m, d, &sm);
	nk_zone_stats(s, d, &ss);
	CHECK(sm.slabs == ss.slabs && sm.slabs > 0, "the keg is not shared: %lu vs %lu", sm.slabs, ss.slabs);
	CHECK(nk_zone_get_cur(m) == 100 && nk_zone_get_cur(s) == 100, "cur %d %d",
	    nk_zone_get_cur(m), nk_zone_get_cur(s));
	for (int i = 0; i < 100; i++) {
		nk_zfree(m, a[i]);
		nk_zfree(s, b[i]);
	}
	nk_zdestroy(s);
	nk_zdestroy(m);
}

static void
test_nofree(void)
{
	nk_zone_t z = nk_zcreate("nofree", 512, NULL, NULL, NULL, NULL, NK_ALIGN_PTR, NK_ZONE_NOFREE);
	REQUIRE(z != NULL, "zcreate");
	bind_or_die(2);
	struct nk_page_stats before, after;
	nk_page_stats(2, &before);
	void *items[1000];
	for (int i = 0; i < 1000; i++)
		items[i] = nk_zalloc(z, NK_NOWAIT);
	struct nk_domain_stats st;
	nk_zone_stats(z, 2, &st);
	uint64_t slabs = st.slabs;
	for (int i = 0; i < 1000; i++)
		nk_zfree(z, items[i]);
	nk_zone_reclaim(z, NK_RECLAIM_DRAIN);
	nk_reclaim();
	nk_zone_stats(z, 2, &st);
	nk_page_stats(2, &after);
	CHECK(st.slabs == slabs && slabs > 0, "a NOFREE zone gave slabs back: %lu -> %lu", slabs, st.slabs);
	CHECK(after.nofree_bytes > before.nofree_bytes, "no NOFREE pages counted");
	CHECK(after.purged_bytes == before.purged_bytes || after.nofree_bytes >= slabs * 4096,
	    "NOFREE pages purged");
	nk_thread_set_domain(-1);
}

static int static_var;

static void
test_domain_of(void)
{
	int stack_var;
	CHECK(nk_domain_of(&stack_var) == -1, "stack address has domain %d", nk_domain_of(&stack_var));
	CHECK(nk_domain_of(&static_var) == -1, "static address has domain %d", nk_domain_of(&static_var));
	CHECK(nk_domain_of(NULL) == -1, "NULL has a domain");
	void *heap = malloc(64);  /* the C library's malloc: numakeg_noexport */
	CHECK(nk_domain_of(heap) == -1, "glibc heap has domain %d", nk_domain_of(heap));
	free(heap);
	CHECK(nk_ndomains() == NDOM, "ndomains %d", nk_ndomains());
}

int
main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "all";
	alarm(120);
	if (strcmp(mode, "fallback") == 0) {
		test_fallback();
		return nk_test_done("core_keg fallback");
	}
	test_domain_of();
	test_firsttouch();
	test_roundrobin();
	test_reserve();
	test_hooks();
	test_zero();
	test_secondary();
	test_nofree();
	return nk_test_done("core_keg");
}
