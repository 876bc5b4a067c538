/*
 * Fault injection: with NUMAKEG_FAULT making mmap, mprotect and madvise fail
 * at random, every allocation either succeeds with a usable block (its own
 * pattern survives until it is freed; calloc's reads zero) or returns NULL
 * with errno ENOMEM; nothing already allocated is lost; the counters
 * balance (large blocks; the size classes' zones, allocations minus frees
 * back to where they started; the test zone's allocations and frees equal to
 * the ones that succeeded, none left in use); and rounds of the same work do
 * not leak pages.
 * Run with NUMAKEG_FAULT set (the test fails if no call failed).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <malloc.h>
#include <pthread.h>

#include "nk_test.h"
#include "numakeg.h"
#include "large.h"
#include "malloc_int.h"
#include "sys.h"

#define LIVE 256

struct block {
	char *p;
	size_t n;
	uint64_t seed;
};

static size_t pick_size(uint64_t *rng)
{
	uint64_t r = nkt_rand(rng);
	switch (r % 8) {
	case 0: case 1: case 2: return 1 + r % 512;
	case 3: case 4: return 512 + r % (32 << 10);
	case 5: return (32 << 10) + r % (1 << 20);
	case 6: return (1 << 20) + r % (3 << 20);
	default: return (4 << 20) + r % (36 << 20);
	}
}

/*
 * The pattern of a block: every byte of its first and last 4 KiB and one
 * byte a page between, so that 40 MiB blocks cost little time and every
 * page is still checked.
 */
#define EDGE 4096

/* Calls fn on each patterned offset below limit of a block of n bytes. */
#define FOR_PATTERNED(i, n, limit)                                           \
	for (size_t i = 0, _end = nk_min((size_t)(limit), (size_t)(n)); i < _end; \
	     i = (i + 1 < EDGE || i + 1 >= (n) - nk_min((size_t)(n), (size_t)EDGE)) ? i + 1 : \
	         nk_min(((i + 1 - 123 + 4095) & ~(size_t)4095) + 123,             \
	                (n) - nk_min((size_t)(n), (size_t)EDGE)))

static void fill(char *p, size_t n, uint64_t seed)
{
	FOR_PATTERNED(i, n, n)
		p[i] = (char)nkt_pat(seed, i);
}

/* The first wrong offset below limit of a block filled at n bytes, or -1. */
static size_t verify(const char *p, size_t n, size_t limit, uint64_t seed)
{
	FOR_PATTERNED(i, n, limit)
		if ((unsigned char)p[i] != nkt_pat(seed, i))
			return i;
	return (size_t)-1;
}

static void check_block(const struct block *b, const char *when)
{
	size_t bad = verify(b->p, b->n, b->n, b->seed);
	CHECK(bad == (size_t)-1, "%s: block %p of %zu bytes changed at offset %zu",
	    when, (void *)b->p, b->n, bad);
}

static unsigned long nulls;
/* The test zone's items that nk_zalloc handed out and that went back. */
static uint64_t zone_got, zone_freed;   /* atomic: threads run rounds too */

/* A zone's allocations and frees over every domain. */
static void zone_totals(nk_zone_t z, uint64_t *allocs, uint64_t *frees)
{
	*allocs = *frees = 0;
	for (int d = 0; d < nk_ndomains(); d++) {
		struct nk_domain_stats st;
		CHECK(nk_zone_stats(z, d, &st) == 0, "nk_zone_stats(%d)", d);
		*allocs += st.allocs;
		*frees += st.frees;
	}
}

/* Small blocks live: the size classes' allocations minus frees. */
static int64_t small_live(void)
{
	malloc_make_all_classes();   /* a class not made yet has no counters */
	int64_t live = 0;
	for (unsigned c = 0; c < NK_NCLASSES; c++) {
		uint64_t a, f;
		zone_totals(&nk_malloc_zones[c], &a, &f);
		live += (int64_t)(a - f);
	}
	return live;
}

static void note_null(const char *what, size_t n)
{
	CHECK(errno == ENOMEM, "%s(%zu) returned NULL with errno %d, want ENOMEM", what, n, errno);
	nulls++;
}

static void round_of_work(uint64_t seed, int ops)
{
	struct block live[LIVE];
	memset(live, 0, sizeof(live));
	uint64_t rng = seed | 1;
	nk_zone_t zone = nk_zcreate("fault-items", 200, NULL, NULL, NULL, NULL, NK_ALIGN_PTR, 0);
	CHECK(zone != NULL || errno == ENOMEM, "nk_zcreate: errno %d", errno);
	void *items[64] = { 0 };
	uint64_t got = 0, freed = 0;
	for (int op = 0; op < ops; op++) {
		struct block *b = &live[nkt_rand(&rng) % LIVE];
		uint64_t r = nkt_rand(&rng);
		if (b->p != NULL && r % 3 == 0) {
			/* realloc: the old contents survive, or the block is untouched. */
			check_block(b, "before realloc");
			size_t n = pick_size(&rng);
			errno = 0;
			char *q = realloc(b->p, n);
			if (q == NULL) {
				note_null("realloc", n);
				check_block(b, "after a failed realloc");
				continue;
			}
			size_t keep = nk_min(n, b->n);
			CHECK(verify(q, b->n, keep, b->seed) == (size_t)-1, "realloc lost the contents");
			b->p = q;
			b->n = n;
			fill(q, n, b->seed);
			continue;
		}
		if (b->p != NULL) {
			check_block(b, "before free");
			free(b->p);
			b->p = NULL;
		}
		size_t n = pick_size(&rng);
		errno = 0;
		char *p;
		if (r % 5 == 1) {
			p = calloc(1, n);
			if (p != NULL)
				CHECK(nkt_is_zero(p, n), "calloc(%zu) is not zero", n);
		} else if (r % 5 == 2) {
			p = aligned_alloc(4096 << (r % 4), n);
			if (p != NULL)
				CHECK(((uintptr_t)p & ((4096u << (r % 4)) - 1)) == 0, "misaligned block");
		} else {
			p = malloc(n);
		}
		if (p == NULL) {
			note_null("malloc", n);
			continue;
		}
		b->p = p;
		b->n = n;
		b->seed = nkt_rand(&rng);
		fill(p, n, b->seed);
		if (zone != NULL) {
			int i = (int)(r % 64);
			if (items[i] != NULL) {
				nk_zfree(zone, items[i]);
				freed++;
			}
			items[i] = nk_zalloc(zone, NK_NOWAIT);
			if (items[i] == NULL)
				note_null("nk_zalloc", 200);
			else
				got++;
		}
	}
	for (int i = 0; i < LIVE; i++)
		if (live[i].p != NULL) {
			check_block(&live[i], "at the end");
			free(live[i].p);
		}
	if (zone != NULL) {
		for (int i = 0; i < 64; i++)
			if (items[i] != NULL) {
				nk_zfree(zone, items[i]);
				freed++;
			}
		uint64_t allocs, frees;
		zone_totals(zone, &allocs, &frees);
		CHECK(allocs == got && frees == freed, "zone counters: %llu allocations and %llu "
		    "frees counted, %llu and %llu happened", (unsigned long long)allocs,
		    (unsigned long long)frees, (unsigned long long)got, (unsigned long long)freed);
		CHECK(nk_zone_get_cur(zone) == 0, "%d items of the zone in use after all were freed",
		    nk_zone_get_cur(zone));
		__atomic_add_fetch(&zone_got, got, __ATOMIC_RELAXED);
		__atomic_add_fetch(&zone_freed, freed, __ATOMIC_RELAXED);
		nk_zdestroy(zone);
	}
}

static uint64_t active_bytes(void)
{
	uint64_t sum = 0;
	for (int d = 0; d < nk_ndomains(); d++) {
		struct nk_page_stats ps;
		nk_page_stats(d, &ps);
		sum += ps.active_bytes;
	}
	return sum;
}

/* Large blocks allocated minus freed, all domains. */
static int64_t large_live(uint64_t *allocs_out)
{
	uint64_t allocs = 0, frees = 0;
	for (int d = 0; d < nk_ndomains(); d++) {
		struct large_counts lc;
		large_counts(d, &lc);
		allocs += lc.allocs;
		frees += lc.frees;
	}
	if (allocs_out != NULL)
		*allocs_out = allocs;
	return (int64_t)(allocs - frees);
}

static void *idle_thread(void *arg)
{
	return arg;
}

static void *thread_main(void *arg)
{
	round_of_work((uint64_t)(uintptr_t)arg, 1500);
	return NULL;
}

int main(void)
{
	if (getenv("NUMAKEG_FAULT") == NULL) {
		fprintf(stderr, "pages_fault needs NUMAKEG_FAULT (ctest sets it)\n");
		return 2;
	}
	/*
	 * Two threads first: the C library keeps what it allocated for them
	 * (a thread's DTV stays with its cached stack) and reuses it for the
	 * two threads below; then the counts at the start are the library's own.
	 */
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		CHECK(pthread_create(&t[i], NULL, idle_thread, NULL) == 0, "pthread_create");
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	int64_t live_at_start = large_live(NULL);
	int64_t small_at_start = small_live();
	round_of_work(1, 3000);
	nk_reclaim();
	uint64_t after_one = active_bytes();
	for (int r = 0; r < 2; r++)
		round_of_work(100 + (uint64_t)r, 1500);
	for (int i = 0; i < 2; i++)
		CHECK(pthread_create(&t[i], NULL, thread_main, (void *)(uintptr_t)(7 + i)) == 0, "pthread_create");
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	nk_reclaim();
	uint64_t after_more = active_bytes();
	/* Slabs kept for reuse may differ a little; lost runs would be megabytes. */
	CHECK(after_more <= after_one + (4 << 20), "pages in use grew from %llu to %llu bytes "
	    "over rounds of the same work: something failed and was lost",
	    (unsigned long long)after_one, (unsigned long long)after_more);
	uint64_t allocs;
	int64_t live = large_live(&allocs);
	CHECK(live == live_at_start, "large blocks live: %lld at the start, %lld after all "
	    "were freed", (long long)live_at_start, (long long)live);
	int64_t small = small_live();
	CHECK(small == small_at_start, "small blocks live: %lld at the start, %lld after all "
	    "were freed", (long long)small_at_start, (long long)small);
	CHECK(zone_got > 0 && zone_got == zone_freed, "the test zone: %llu items allocated, %llu "
	    "freed", (unsigned long long)zone_got, (unsigned long long)zone_freed);
	CHECK(sys_fault_count() > 0, "no system call failed: NUMAKEG_FAULT had no effect");
	fprintf(stderr, "%llu injected failures, %lu allocations refused, %llu large blocks\n",
	    (unsigned long long)sys_fault_count(), nulls, (unsigned long long)allocs);
	return nkt_done("pages_fault");
}
