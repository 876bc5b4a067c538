/*
 * The page layer's cache of freed runs and large blocks on it: coalescing
 * (free neighbours in every order merge into one run; a split run's pieces
 * come back whole), decay (a run idle past NUMAKEG_DECAY_MS is given back,
 * one in use never is), realloc growing and shrinking in place, and zeroing
 * (calloc after reuse of a purged, a dirty and a coalesced run).
 * Run with NUMAKEG_DECAY_MS=200 (the decay test sleeps past it).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <malloc.h>

#include "nk_test.h"
#include "numakeg.h"
#include "page.h"

static uint64_t dirty_bytes(void)
{
	struct nk_page_stats ps;
	CHECK(nk_page_stats(0, &ps) == 0, "nk_page_stats(0)");
	return ps.dirty_bytes;
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

int main(void)
{
	test_coalescing();
	test_realloc_in_place();
	test_zeroing();
	test_decay();
	return nkt_done("pages_cache");
}
