/*
 * Kegs and zones with 4 fake domains (NUMAKEG_FAKE_DOMAINS=4): domain
 * policies, fallback, the reserve, ctor/dtor/init/fini, NK_ZERO, secondary
 * zones, NOFREE zones, nk_domain_of.  Run as "core_keg MODE"; the fallback
 * mode runs with NUMAKEG_DOMAIN_LIMIT set by ctest.
 */
#include "nk_test.h"
#include "numakeg.h"
#include "zone.h"  /* the zones' kegs, for the secondary-zone checks */

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
	enum { ORD_MAX = 100000 };  /* far above the few slabs preallocated */
	static void *ord[ORD_MAX];
	int n = 0;
	while (n < ORD_MAX && (ord[n] = nk_zalloc(z, NK_NOWAIT | NK_NOVM)) != NULL)
		n++;
	REQUIRE(n < ORD_MAX, "NK_NOVM handed out %d items from %lu free ones: it took new pages",
	    n, free_total);
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
	/*
	 * One keg: the secondary zone is on its master's keg, and the items
	 * of both come from that keg's slabs.  An independent zone of the same
	 * size has a keg of its own, and none of its items is in the others'
	 * slabs.
	 */
	nk_zone_t other = nk_zcreate("independent", 200, NULL, NULL, NULL, NULL, NK_ALIGN_PTR, 0);
	REQUIRE(other != NULL, "zcreate");
	CHECK(s->keg == m->keg, "the secondary zone has a keg of its own");
	CHECK(other->keg != m->keg, "an independent zone shares the master's keg");
	void *c[100];
	int in_master = 0, in_other = 0, foreign = 0;
	for (int i = 0; i < 100; i++) {
		c[i] = nk_zalloc(other, NK_NOWAIT);
		REQUIRE(c[i] != NULL, "alloc");
		struct nk_slab *sa = keg_slab_of(a[i]), *sb = keg_slab_of(b[i]), *sc = keg_slab_of(c[i]);
		in_master += sa != NULL && sa->keg == m->keg;
		in_master += sb != NULL && sb->keg == m->keg;
		in_other += sc != NULL && sc->keg == other->keg;
		for (int j = 0; j < 100; j++)
			foreign += sc == keg_slab_of(a[j]) || sc == keg_slab_of(b[j]);
	}
	CHECK(in_master == 200, "%d of 200 master/secondary items in the master's slabs", in_master);
	CHECK(in_other == 100, "%d of 100 independent items in their own keg's slabs", in_other);
	CHECK(foreign == 0, "%d independent items share a slab with the master's", foreign);
	/* The shared keg's slabs hold both zones' items: more than either needs alone. */
	struct nk_domain_stats sm, so;
	int d = nk_domain_of(a[0]);
	nk_zone_stats(m, d, &sm);
	nk_zone_stats(other, d, &so);
	uint64_t ipers = m->keg->ipers;
	CHECK(sm.slabs * ipers >= 200, "the master's keg holds %lu slabs of %lu items for 200 items",
	    sm.slabs, ipers);
	for (int i = 0; i < 100; i++)
		nk_zfree(other, c[i]);
	nk_zdestroy(other);
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
	struct nk_page_stats before, full, after;
	nk_page_stats(2, &before);
	enum { N = 1000 };
	static void *items[N];
	for (int i = 0; i < N; i++) {
		items[i] = nk_zalloc(z, NK_NOWAIT);
		REQUIRE(items[i] != NULL, "alloc");
		memset(items[i], 0xa5, 512);
	}
	struct nk_domain_stats st;
	nk_zone_stats(z, 2, &st);
	nk_page_stats(2, &full);
	uint64_t slabs = st.slabs;
	for (int i = 0; i < N; i++)
		nk_zfree(z, items[i]);
	nk_zone_reclaim(z, NK_RECLAIM_DRAIN);
	nk_reclaim();
	nk_zone_stats(z, 2, &st);
	nk_page_stats(2, &after);
	CHECK(st.slabs == slabs && slabs > 0, "a NOFREE zone gave slabs back: %lu -> %lu", slabs, st.slabs);
	CHECK(full.nofree_bytes >= before.nofree_bytes + (uint64_t)N * 512,
	    "NOFREE bytes %lu -> %lu for %d items of 512", before.nofree_bytes, full.nofree_bytes, N);
	CHECK(after.nofree_bytes == full.nofree_bytes, "NOFREE bytes went from %lu to %lu",
	    full.nofree_bytes, after.nofree_bytes);
	/*
	 * Nothing went back to the OS: the pages still hold what was written
	 * (a purge would read back zero).  The zone keeps its free-item maps
	 * in the slab headers, so the items' own bytes are untouched; the
	 * first 16 are left out, where a free mark could one day live.
	 */
	int lost = 0;
	for (int i = 0; i < N; i++)
		for (int k = 16; k < 512; k++)
			lost += ((volatile unsigned char *)items[i])[k] != 0xa5;
	CHECK(lost == 0, "%d bytes of freed NOFREE items changed after the drain and nk_reclaim", lost);
	nk_thread_set_domain(-1);
}

/*
 * NK_ZONE_ZINIT: items are zeroed when they enter the keg, even on pages
 * that held another zone's data (reused from the page layer's cache, which
 * hands them out without zeroing).
 */
static void
test_zinit(void)
{
	bind_or_die(3);
	enum { N = 2000 };
	static void *old[N], *items[N];
	nk_zone_t dirty = nk_zcreate("zinit-dirty", 256, NULL, NULL, NULL, NULL, NK_ALIGN_PTR, 0);
	REQUIRE(dirty != NULL, "zcreate");
	for (int i = 0; i < N; i++) {
		old[i] = nk_zalloc(dirty, NK_NOWAIT);
		REQUIRE(old[i] != NULL, "alloc");
		memset(old[i], 0xee, 256);
	}
	for (int i = 0; i < N; i++)
		nk_zfree(dirty, old[i]);
	nk_zdestroy(dirty);  /* its pages go to domain 3's cache of freed pages */

	nk_zone_t z = nk_zcreate("zinit", 256, NULL, NULL, NULL, NULL, NK_ALIGN_PTR, NK_ZONE_ZINIT);
	REQUIRE(z != NULL, "zcreate");
	int reused = 0, nonzero = 0;
	for (int i = 0; i < N; i++) {
		items[i] = nk_zalloc(z, NK_NOWAIT);
		REQUIRE(items[i] != NULL, "alloc");
		for (int k = 0; k < 256; k++)
			nonzero += ((unsigned char *)items[i])[k] != 0;
	}
	/* The premise: some of the new items sit where the old zone's did. */
	for (int i = 0; i < N; i++)
		for (int j = 0; j < N; j += 97)
			reused += items[i] == old[j];
	CHECK(reused > 0, "no page was reused (test premise: the dirty pages came back)");
	CHECK(nonzero == 0, "NK_ZONE_ZINIT left %d nonzero bytes in new items", nonzero);
	for (int i = 0; i < N; i++)
		nk_zfree(z, items[i]);
	nk_zdestroy(z);
	nk_thread_set_domain(-1);
}

/* NK_ZONE_NOBUCKET: no cache in between, every free reaches the keg at once. */
static void
test_nobucket(void)
{
	bind_or_die(1);
	nk_zone_t z = nk_zcreate("nobucket", 128, NULL, NULL, NULL, NULL, NK_ALIGN_PTR,
	    NK_ZONE_NOBUCKET);
	REQUIRE(z != NULL, "zcreate");
	enum { N = 300 };
	void *items[N];
	for (int i = 0; i < N; i++)
		REQUIRE((items[i] = nk_zalloc(z, NK_NOWAIT)) != NULL, "alloc");
	struct nk_domain_stats st;
	nk_zone_stats(z, 1, &st);
	uint64_t slabs = st.slabs, ipers = z->keg->ipers;
	CHECK(st.free_items == slabs * ipers - N, "after %d allocations the keg has %lu free "
	    "items in %lu slabs of %lu: items went to a cache", N, st.free_items, slabs, ipers);
	int missed = 0;
	for (int i = 0; i < N; i++) {
		struct nk_domain_stats a, b;
		nk_zone_stats(z, 1, &a);
		nk_zfree(z, items[i]);
		nk_zone_stats(z, 1, &b);
		/* One more free item, or (the slab became empty) one slab fewer. */
		if (!(b.free_items == a.free_items + 1 ||
		    (b.slabs + 1 == a.slabs && b.free_items + ipers == a.free_items + 1)))
			missed++;
		CHECK(b.cached_items == 0, "a NOBUCKET zone cached %lu items", b.cached_items);
	}
	CHECK(missed == 0, "%d of %d frees did not reach the keg at once", missed, N);
	nk_zdestroy(z);
	nk_thread_set_domain(-1);
}

/* NK_RECLAIM_TRIM: the depot gives back what it held idle, and keeps what was used. */
static void
test_trim(void)
{
	bind_or_die(0);
	nk_zone_t z = nk_zcreate("trim", 64, NULL, NULL, NULL, NULL, NK_ALIGN_PTR, 0);
	REQUIRE(z != NULL, "zcreate");
	enum { N = 20000, M = 1000 };
	static void *items[N];
	for (int i = 0; i < N; i++)
		REQUIRE((items[i] = nk_zalloc(z, NK_NOWAIT)) != NULL, "alloc");
	for (int i = 0; i < N; i++)
		nk_zfree(z, items[i]);
	struct nk_domain_stats full, mid, after;
	nk_zone_stats(z, 0, &full);
	REQUIRE(full.cached_items >= 4 * M, "test premise: %lu of %d freed items in the depot",
	    full.cached_items, N);
	nk_zone_reclaim(z, NK_RECLAIM_TRIM);
	/* The working set: M items taken from the depot and given back. */
	for (int i = 0; i < M; i++)
		REQUIRE((items[i] = nk_zalloc(z, NK_NOWAIT)) != NULL, "alloc");
	for (int i = 0; i < M; i++)
		nk_zfree(z, items[i]);
	nk_zone_stats(z, 0, &mid);
	nk_zone_reclaim(z, NK_RECLAIM_TRIM);
	nk_zone_stats(z, 0, &after);
	printf("trim: depot %lu, after a trim and %d items of use %lu, after the next trim %lu\n",
	    full.cached_items, M, mid.cached_items, after.cached_items);
	CHECK(after.cached_items < full.cached_items / 2,
	    "NK_RECLAIM_TRIM kept %lu of %lu idle items in the depot", after.cached_items,
	    full.cached_items);
	CHECK(after.cached_items > 0, "NK_RECLAIM_TRIM emptied the depot: the working set went too");
	uint64_t ipers = z->keg->ipers;
	uint64_t out_full = full.slabs * ipers - full.free_items;
	uint64_t out_after = after.slabs * ipers - after.free_items;
	CHECK(out_after + (full.cached_items - after.cached_items) / 2 < out_full,
	    "the keg got little back: %lu items out of it before, %lu after", out_full, out_after);
	nk_zdestroy(z);
	nk_thread_set_domain(-1);
}

static void *last_ctor_arg, *last_dtor_arg;

static int
arg_ctor(void *mem, size_t size, void *arg, int flags)
{
	(void)mem; (void)size; (void)flags;
	last_ctor_arg = arg;
	return 0;
}

static void
arg_dtor(void *mem, size_t size, void *arg)
{
	(void)mem; (void)size;
	last_dtor_arg = arg;
}

/* nk_zalloc_arg / nk_zfree_arg: the argument reaches the ctor and the dtor. */
static void
test_args(void)
{
	nk_zone_t z = nk_zcreate("args", 48, arg_ctor, arg_dtor, NULL, NULL, NK_ALIGN_PTR, 0);
	REQUIRE(z != NULL, "zcreate");
	for (uintptr_t i = 1; i <= 50; i++) {
		void *p = nk_zalloc_arg(z, (void *)(i * 16), NK_NOWAIT);
		REQUIRE(p != NULL, "alloc");
		CHECK(last_ctor_arg == (void *)(i * 16), "ctor got %p, want %p", last_ctor_arg,
		    (void *)(i * 16));
		nk_zfree_arg(z, p, (void *)(i * 16 + 8));
		CHECK(last_dtor_arg == (void *)(i * 16 + 8), "dtor got %p, want %p", last_dtor_arg,
		    (void *)(i * 16 + 8));
	}
	void *p = nk_zalloc(z, NK_NOWAIT);
	nk_zfree(z, p);
	CHECK(last_dtor_arg == NULL, "nk_zfree passed %p to the dtor, want NULL", last_dtor_arg);
	nk_zdestroy(z);
}

/* Zones aligned to a cache line and to a page: every item, over several slabs. */
static void
test_aligned(void)
{
	static const struct { size_t size; int align; } cases[] = {
		{ 100, NK_ALIGN_CACHE }, { 64, NK_ALIGN_CACHE }, { 1000, NK_ALIGN_CACHE },
		{ 100, NK_ALIGN_PAGE }, { 4096, NK_ALIGN_PAGE }, { 5000, NK_ALIGN_PAGE },
	};
	enum { N = 600 };
	static void *items[N];
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		size_t size = cases[c].size, a = (size_t)cases[c].align + 1;
		nk_zone_t z = nk_zcreate("aligned", size, NULL, NULL, NULL, NULL, cases[c].align, 0);
		REQUIRE(z != NULL, "zcreate(%zu, align %zu)", size, a);
		int misaligned = 0;
		for (int i = 0; i < N; i++) {
			items[i] = nk_zalloc(z, NK_NOWAIT);
			REQUIRE(items[i] != NULL, "alloc");
			misaligned += ((uintptr_t)items[i] & (a - 1)) != 0;
			memset(items[i], i & 0xff, size);
		}
		CHECK(misaligned == 0, "size %zu, align %zu: %d of %d items misaligned", size, a,
		    misaligned, N);
		int damaged = 0;
		for (int i = 0; i < N; i++)
			for (size_t k = 0; k < size; k += 7)
				damaged += ((unsigned char *)items[i])[k] != (i & 0xff);
		CHECK(damaged == 0, "size %zu, align %zu: items overlap (%d bytes)", size, a, damaged);
		for (int i = 0; i < N; i++)
			nk_zfree(z, items[i]);
		nk_zdestroy(z);
	}
}

static int nofree_init_calls, nofree_init_fail_at = -1, nofree_fini_calls;

static int
nofree_init(void *mem, size_t size, int flags)
{
	(void)mem; (void)size; (void)flags;
	return nofree_init_fail_at >= 0 && nofree_init_calls++ >= nofree_init_fail_at ? ENOMEM : 0;
}

static void
nofree_fini(void *mem, size_t size)
{
	(void)mem; (void)size;
	nofree_fini_calls++;
}

/*
 * A NOFREE zone whose init fails part-way through a new slab (and then on
 * every slab the fallback tries on the other domains): the slabs' pages go
 * back on the NOFREE lists (never to the OS, never lost), the items already
 * initialised are finalised, and the next slab is made from those same
 * pages, so the NOFREE byte counts do not grow again.
 */
static uint64_t
nofree_bytes_all(void)
{
	uint64_t sum = 0;
	for (int d = 0; d < NDOM; d++) {
		struct nk_page_stats ps;
		nk_page_stats(d, &ps);
		sum += ps.nofree_bytes;
	}
	return sum;
}

static void
test_nofree_init_fails(void)
{
	bind_or_die(1);
	nk_zone_t z = nk_zcreate("nofree-init", 512, NULL, NULL, nofree_init, nofree_fini,
	    NK_ALIGN_PTR, NK_ZONE_NOFREE);
	REQUIRE(z != NULL, "zcreate");
	uint64_t nofree0 = nofree_bytes_all();
	nofree_init_calls = 0;
	nofree_fini_calls = 0;
	nofree_init_fail_at = 3;
	errno = 0;
	void *p = nk_zalloc(z, NK_NOWAIT);
	CHECK(p == NULL && errno == ENOMEM, "a failing init gave %p, errno %d", p, errno);
	CHECK(nofree_fini_calls == 3, "fini ran %d times for the 3 items initialised",
	    nofree_fini_calls);
	uint64_t nofree1 = nofree_bytes_all();
	CHECK(nofree1 > nofree0, "the failed slabs' pages were not kept NOFREE: %lu -> %lu",
	    nofree0, nofree1);
	nofree_init_fail_at = -1;
	p = nk_zalloc(z, NK_NOWAIT);
	REQUIRE(p != NULL, "allocation after the failed init: errno %d", errno);
	CHECK(nk_domain_of(p) == 1, "the good slab is on domain %d", nk_domain_of(p));
	uint64_t nofree2 = nofree_bytes_all();
	CHECK(nofree2 == nofree1, "the next slab took new NOFREE pages (%lu -> %lu) "
	    "instead of the ones the failed slab gave back", nofree1, nofree2);
	struct nk_domain_stats st;
	nk_zone_stats(z, 1, &st);
	CHECK(st.slabs == 1, "%lu slabs after one good slab", st.slabs);
	nk_zfree(z, p);
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
		return nkt_done("core_keg fallback");
	}
	test_domain_of();
	test_firsttouch();
	test_roundrobin();
	test_reserve();
	test_hooks();
	test_zero();
	test_secondary();
	test_nofree();
	test_zinit();
	test_nobucket();
	test_trim();
	test_args();
	test_aligned();
	test_nofree_init_fails();
	return nkt_done("core_keg");
}
