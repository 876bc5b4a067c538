/*
 * The page layer's cache of freed runs and large blocks on it: coalescing
 * (free neighbours in every order merge into one run; a split run's pieces
 * come back whole), decay (a run idle past NUMAKEG_DECAY_MS is given back,
 * one in use never is), realloc growing and shrinking in place, and moving
 * the pages of a block of 8 MiB and more that cannot grow (mremap), zeroing
 * (calloc after reuse of a purged, a dirty and a coalesced run); a cached
 * run grows into the free address space after or before it when nothing
 * fits; blocks above 4 MiB are page-rounded.  Run with NUMAKEG_DECAY_MS=200
 * (the decay test sleeps past it).  With the argument "budget" (and a long
 * NUMAKEG_DECAY_MS, so that a slow machine forgets no peak): the footprint
 * budget, in use plus cached within the recent peak plus its headroom.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <malloc.h>
#include <sys/resource.h>

#include "nk_test.h"
#include "numakeg.h"
#include "page.h"

static uint64_t dirty_bytes(void)
{
	struct nk_page_stats ps;
	CHECK(nk_page_stats(0, &ps) == 0, "nk_page_stats(0)");
	return ps.dirty_bytes;
}

static uint64_t active_bytes(void)
{
	struct nk_page_stats ps;
	CHECK(nk_page_stats(0, &ps) == 0, "nk_page_stats(0)");
	return ps.active_bytes;
}

static uint64_t purged_bytes(void)
{
	struct nk_page_stats ps;
	CHECK(nk_page_stats(0, &ps) == 0, "nk_page_stats(0)");
	return ps.purged_bytes;
}

/* Three adjacent runs of n pages from the page layer, on domain 0. */
static char *three_runs(size_t n, char *run[3])
{
	bool zeroed;
	/* One run split in three makes them adjacent whatever the arena holds. */
	char *all = page_alloc(0, 3 * n, NK_PAGE_SIZE, &zeroed);
	REQUIRE(all != NULL, "%s", strerror(errno));
	page_free(all, 3 * n);
	for (int i = 0; i < 3; i++) {
		run[i] = page_alloc(0, n, NK_PAGE_SIZE, &zeroed);
		REQUIRE(run[i] != NULL, "%s", strerror(errno));
	}
	return all;
}

static void test_coalescing(void)
{
	static const int orders[6][3] = {
		{ 0, 1, 2 }, { 0, 2, 1 }, { 1, 0, 2 }, { 1, 2, 0 }, { 2, 0, 1 }, { 2, 1, 0 },
	};
	size_t n = 5;   /* pages */
	nk_reclaim();
	for (int o = 0; o < 6; o++) {
		char *run[3];
		char *all = three_runs(n, run);
		/* Best fit, lowest address first: the pieces are the run, in order. */
		CHECK(run[0] == all && run[1] == all + n * NK_PAGE_SIZE &&
		    run[2] == all + 2 * n * NK_PAGE_SIZE,
		    "order %d: a split run's pieces are not its pages in order: %p %p %p from %p",
		    o, (void *)run[0], (void *)run[1], (void *)run[2], (void *)all);
		uint64_t before = dirty_bytes();
		for (int i = 0; i < 3; i++)
			page_free(run[orders[o][i]], n);
		CHECK(dirty_bytes() == before + 3 * n * NK_PAGE_SIZE,
		    "order %d: dirty %llu, want %llu", o, (unsigned long long)dirty_bytes(),
		    (unsigned long long)(before + 3 * n * NK_PAGE_SIZE));
		/* Merged: one request of all three pages gets them back as one run. */
		bool zeroed = true;
		char *again = page_alloc(0, 3 * n, NK_PAGE_SIZE, &zeroed);
		CHECK(again == all && !zeroed, "order %d: freed neighbours did not merge "
		    "(got %p zeroed %d, want %p)", o, (void *)again, zeroed, (void *)all);
		page_free(again, 3 * n);
	}
	/* An aligned request is carved out of a cached run, the rest stays cached. */
	bool zeroed;
	char *big = page_alloc(0, 64, NK_PAGE_SIZE, &zeroed);
	REQUIRE(big != NULL, "%s", strerror(errno));
	page_free(big, 64);
	char *al = page_alloc(0, 4, 16 * NK_PAGE_SIZE, &zeroed);
	CHECK(al != NULL && ((uintptr_t)al & (16 * NK_PAGE_SIZE - 1)) == 0,
	    "aligned run %p is not 64 KiB aligned", (void *)al);
	page_free(al, 4);
	nk_reclaim();
	CHECK(dirty_bytes() == 0, "nk_reclaim left %llu dirty bytes",
	    (unsigned long long)dirty_bytes());
}

static void test_decay(void)
{
	nk_reclaim();
	size_t n = 8 << 20;
	char *idle = malloc(n), *busy = malloc(n);
	REQUIRE(idle != NULL, "%s", strerror(errno));
	REQUIRE(busy != NULL, "%s", strerror(errno));
	nkt_fill(busy, n, 7);
	memset(idle, 1, n);
	uint64_t purged = purged_bytes();
	free(idle);
	CHECK(dirty_bytes() >= n, "a freed 8 MiB block is not cached (dirty %llu)",
	    (unsigned long long)dirty_bytes());
	/* Past the decay time, the next page-layer call gives the idle run back. */
	usleep(600 * 1000);
	free(malloc(40 << 10));
	free(malloc(3 << 20));
	CHECK(purged_bytes() >= purged + n, "an 8 MiB run idle past the decay time "
	    "was not given back (purged %llu -> %llu)", (unsigned long long)purged,
	    (unsigned long long)purged_bytes());
	CHECK(nkt_verify(busy, n, 7) == (size_t)-1, "a block in use changed during the decay");
	free(busy);
}

static void test_realloc_in_place(void)
{
	nk_reclaim();
	size_t n = 1 << 20;
	char *p = malloc(n);
	REQUIRE(p != NULL, "%s", strerror(errno));
	nkt_fill(p, n, 11);
	/* Growing into free address space after it. */
	char *q = realloc(p, 3 * n);
	CHECK(q == p, "realloc 1 -> 3 MiB moved the block (%p -> %p)", (void *)p, (void *)q);
	CHECK(q && nkt_verify(q, n, 11) == (size_t)-1, "contents lost growing in place");
	p = q;
	nkt_fill(p, 3 * n, 12);
	/* Shrinking: the block stays, the tail is cached... */
	q = realloc(p, n + 100);
	CHECK(q == p && nkt_verify(q, n + 100, 12) == (size_t)-1,
	    "realloc 3 MiB -> 1 MiB + 100 moved the block or lost its contents");
	/* ...and growing again takes the freed tail back, in place. */
	q = realloc(p, 2 * n + 5);
	CHECK(q == p && nkt_verify(q, n + 100, 12) == (size_t)-1,
	    "realloc into the block's own freed tail moved it or lost its contents");
	free(q);
}

/*
 * Nothing cached fits: a cached run with free address space after it (then
 * before it) grows into that space, so its resident pages are used, not
 * kept beside a fresh block.
 */
static void test_extending(void)
{
	size_t n = 32;   /* pages */
	bool zeroed;
	nk_reclaim();
	/* [b, +n) cached, [b + n, +2n) free address space. */
	char *b = page_alloc(0, 3 * n, NK_PAGE_SIZE, &zeroed);
	REQUIRE(b != NULL, "%s", strerror(errno));
	page_shrink(b, 3 * n, n);
	nk_reclaim();
	memset(b, 0x5a, n * NK_PAGE_SIZE);
	page_free(b, n);
	uint64_t dirty = dirty_bytes();
	CHECK(dirty >= n * NK_PAGE_SIZE, "the freed run is not cached (dirty %llu)",
	    (unsigned long long)dirty);
	char *g = page_alloc(0, 3 * n, NK_PAGE_SIZE, &zeroed);
	CHECK(g == b && !zeroed, "a cached run did not grow into the free space after it "
	    "(got %p zeroed %d, want %p)", (void *)g, zeroed, (void *)b);
	CHECK(dirty_bytes() == dirty - n * NK_PAGE_SIZE,
	    "the grown run is still counted as cached (dirty %llu -> %llu)",
	    (unsigned long long)dirty, (unsigned long long)dirty_bytes());
	CHECK(g[0] == 0x5a && g[n * NK_PAGE_SIZE - 1] == 0x5a && g[n * NK_PAGE_SIZE] == 0 &&
	    g[3 * n * NK_PAGE_SIZE - 1] == 0, "the grown run's old pages or its new ones are wrong");
	page_free(g, 3 * n);

	/* [c, +n) free address space, [c + n, +n) cached, [c + 2n, +n) in use. */
	nk_reclaim();
	char *c = page_alloc(0, 3 * n, NK_PAGE_SIZE, &zeroed);
	REQUIRE(c != NULL, "%s", strerror(errno));
	page_free(c, n);
	nk_reclaim();
	page_free(c + n * NK_PAGE_SIZE, n);
	g = page_alloc(0, 2 * n, NK_PAGE_SIZE, &zeroed);
	CHECK(g == c && !zeroed, "a cached run did not grow into the free space before it "
	    "(got %p, want %p)", (void *)g, (void *)c);
	page_free(g, 2 * n);
	page_free(c + 2 * n * NK_PAGE_SIZE, n);
	nk_reclaim();
}

/* Above 4 MiB a block is page-rounded: a class's tail would be resident waste. */
static void test_rounding(void)
{
	size_t sizes[] = { (5 << 20) + 1, (21 << 20) + 12345, (33 << 20) + 7 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char *p = malloc(sizes[i]);
		REQUIRE(p != NULL, "%s", strerror(errno));
		size_t want = (sizes[i] + NK_PAGE_SIZE - 1) & ~(size_t)NK_PAGE_MASK;
		CHECK(malloc_usable_size(p) == want, "malloc(%zu): usable %zu, want %zu",
		    sizes[i], malloc_usable_size(p), want);
		free(p);
	}
	/* Up to 4 MiB, four classes per doubling: 3 MiB + 1 rounds to 3.5 MiB. */
	char *p = malloc((3 << 20) + 1);
	REQUIRE(p != NULL, "%s", strerror(errno));
	CHECK(malloc_usable_size(p) == (7 << 19), "malloc(3 MiB + 1): usable %zu, want 3.5 MiB",
	    malloc_usable_size(p));
	free(p);
}

/*
 * The budget: a domain's pages in use plus cached stay within its recent
 * peak in use plus the headroom (an eighth of the peak, at least 8 MiB, at
 * most NUMAKEG_DIRTY_MAX, 64 MiB by default); what is freed below the peak
 * stays cached.
 */
static void test_budget(void)
{
	enum { NBLK = 48 };
	size_t blk = 64 * NK_PAGE_SIZE * 8;    /* 2 MiB */
	char *b[NBLK];
	bool zeroed;
	nk_reclaim();
	uint64_t base = active_bytes(), peak = 0;
	for (int i = 0; i < NBLK; i++) {
		b[i] = page_alloc(0, blk >> NK_PAGE_SHIFT, NK_PAGE_SIZE, &zeroed);
		REQUIRE(b[i] != NULL, "%s", strerror(errno));
		memset(b[i], 1, blk);
	}
	peak = active_bytes();
	for (int i = 0; i < NBLK; i += 2)
		page_free(b[i], blk >> NK_PAGE_SHIFT);
	CHECK(dirty_bytes() == NBLK / 2 * blk, "frees below the peak are not all cached "
	    "(dirty %llu, want %llu)", (unsigned long long)dirty_bytes(),
	    (unsigned long long)(NBLK / 2 * blk));
	/*
	 * Blocks larger than any cached run (no two cached runs are neighbours):
	 * fresh pages, the footprint past the peak, and the cache shrinks.
	 */
	char *big[NBLK / 2];
	for (int i = 0; i < NBLK / 2; i++) {
		big[i] = page_alloc(0, 3 * (blk >> NK_PAGE_SHIFT), NK_PAGE_SIZE, &zeroed);
		REQUIRE(big[i] != NULL, "%s", strerror(errno));
		uint64_t active = active_bytes();
		peak = active > peak ? active : peak;
		uint64_t headroom = peak / 8 > (8u << 20) ? peak / 8 : 8u << 20;
		headroom = headroom < (64u << 20) ? headroom : 64u << 20;
		/* In use includes metadata (run descriptions, map entries): 1 MiB for what it grew. */
		CHECK(active + dirty_bytes() <= peak + headroom + (1u << 20),
		    "step %d: in use %llu + cached %llu past the peak %llu + headroom %llu", i,
		    (unsigned long long)active, (unsigned long long)dirty_bytes(),
		    (unsigned long long)peak, (unsigned long long)headroom);
	}
	CHECK(dirty_bytes() < NBLK / 2 * blk, "the cache did not shrink as the footprint grew "
	    "(dirty %llu)", (unsigned long long)dirty_bytes());
	CHECK(peak > base, "no peak");
	for (int i = 0; i < NBLK / 2; i++)
		page_free(big[i], 3 * (blk >> NK_PAGE_SHIFT));
	for (int i = 1; i < NBLK; i += 2)
		page_free(b[i], blk >> NK_PAGE_SHIFT);
	nk_reclaim();
}

static long minor_faults(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/*
 * realloc of a block of 8 MiB and more that cannot grow in place moves its
 * pages (mremap), not its bytes: the contents arrive, and the move faults
 * nothing in (a copy into fresh pages would fault every page).
 */
static void test_realloc_move(void)
{
	size_t n = 16 << 20;
	nk_reclaim();
	/* A block with another right after it, so that it cannot grow in place. */
	char *p = malloc(2 * n);
	REQUIRE(p != NULL, "%s", strerror(errno));
	CHECK(realloc(p, n) == p, "realloc shrinking 32 -> 16 MiB moved the block");
	nkt_fill(p, n, 21);
	char *wall = malloc(n);   /* the shrunk block's cached tail: the only cached run */
	REQUIRE(wall != NULL, "%s", strerror(errno));
	CHECK(wall == p + n, "the second block is not right after the first (%p, %p): "
	    "the move is not forced", (void *)p, (void *)wall);
	nk_reclaim();
	long before = minor_faults();
	char *q = realloc(p, 3 * n);
	long faults = minor_faults() - before;
	REQUIRE(q != NULL, "%s", strerror(errno));
	CHECK(q != p, "realloc grew in place though the next block is in use");
	CHECK(faults < 256, "realloc 16 -> 48 MiB faulted %ld pages: copied, not moved", faults);
	CHECK(nkt_verify(q, n, 21) == (size_t)-1, "contents lost moving the block");
	memset(q + n, 3, 2 * n);
	/* The freed old run is usable again and reads what was written next. */
	char *r = malloc(n);
	REQUIRE(r != NULL, "%s", strerror(errno));
	memset(r, 4, n);
	CHECK(r[0] == 4 && r[n - 1] == 4 && nkt_verify(q, n, 21) == (size_t)-1,
	    "a block on the moved-from run and the moved block disturb each other");
	free(r);
	free(q);
	free(wall);
}

static void test_zeroing(void)
{
	size_t sizes[] = { 40 << 10, 300 << 10, 3 << 20, 5 << 20 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];
		/* Dirty reuse: the same block comes back from a cache. */
		char *p = malloc(n);
		REQUIRE(p != NULL, "%s", strerror(errno));
		memset(p, 0xee, n);
		free(p);
		char *z = calloc(1, n);
		CHECK(z && nkt_is_zero(z, n), "calloc(%zu) after a dirty reuse is not zero", n);
		free(z);
		/* Coalesced: two neighbours freed dirty, one calloc over both. */
		char *a = malloc(n), *b = malloc(n);
		REQUIRE(a != NULL, "%s", strerror(errno));
		REQUIRE(b != NULL, "%s", strerror(errno));
		memset(a, 0xdd, n);
		memset(b, 0xdd, n);
		free(a);
		free(b);
		z = calloc(2, n);
		CHECK(z && nkt_is_zero(z, 2 * n), "calloc(2 x %zu) over freed neighbours is not zero", n);
		free(z);
		/* Purged: given back to the OS, then reused. */
		p = malloc(n);
		memset(p, 0xcc, n);
		free(p);
		nk_reclaim();
		z = calloc(1, n);
		CHECK(z && nkt_is_zero(z, n), "calloc(%zu) after a purge is not zero", n);
		free(z);
	}
}

/*
 * A cached run's description is out of a heap overflow's reach: not in the
 * windows, where the program's blocks are (issue 7, "metadata out of reach
 * of user data").  It was cut from the window, beside the program's pages.
 */
static void test_descriptions_out_of_reach(void)
{
	enum { N = 4 };
	char *v[N];
	for (int i = 0; i < N; i++) {
		v[i] = malloc((size_t)3 << 20);   /* past the thread's run cache: the page cache's */
		REQUIRE(v[i] != NULL, "malloc(3 MiB)");
		memset(v[i], 1, (size_t)3 << 20);
	}
	for (int i = 0; i < N; i += 2)      /* every other one: runs that cannot merge */
		free(v[i]);
	int cached = 0;
	for (int i = 0; i < N; i += 2) {
		struct nk_pdesc *d = page_desc(v[i]);
		if (!(d->flags & PG_DIRTY))
			continue;
		cached++;
		CHECK(d->slab != NULL && !kva_contains(d->slab), "the description %p of the cached "
		    "run at %p is in the windows, beside the program's pages", d->slab, (void *)v[i]);
	}
	CHECK(cached > 0, "no freed 3 MiB block was in the page cache");
	for (int i = 1; i < N; i += 2)
		free(v[i]);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "budget") == 0) {
		test_budget();
		return nkt_done("pages_cache budget");
	}
	test_coalescing();
	test_extending();
	test_rounding();
	test_realloc_in_place();
	test_realloc_move();
	test_zeroing();
	test_descriptions_out_of_reach();
	test_decay();
	return nkt_done("pages_cache");
}
