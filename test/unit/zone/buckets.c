/*
 * cache_buckets: bucket sizes and depot bounds that follow the working set
 * (lib/depot.c; issue 10, "Batches").
 *
 *  1. Grow on misses: one thread on domain 0 allocates batches of 2000
 *     64-byte items and frees them (FIFO, then LIFO): every refill of the
 *     first batch misses the depot, so the zone's bucket size must reach
 *     its largest (bucket_max) from where it started.
 *  2. The depot bound grows: batches of 10000 256-byte items (2.5 MB, five
 *     times the depot's base bound): after a few rounds the depot holds the
 *     whole batch between rounds (cached_items above the base bound).
 *  3. Shrink on trim: the working set drops to 10 items; a trim that finds
 *     the depot unused since the previous one gives it back, and the bucket
 *     size goes down (not below the floor, 8), the depot bound too.  More
 *     idle trims keep the size within [8, bucket_max].
 *  4. Two threads on each of the four domains do the same batches at once
 *     (the depots of four domains, bucket sizes changed under them).
 *
 * Every item is stamped when allocated and checked before it is freed, and
 * every batch's pointers are checked distinct (no item handed out twice).
 * Checked at the end: allocs and frees equal what the threads did, exactly;
 * after NK_RECLAIM_DRAIN no item is cached and the depot bounds are back
 * at their base.
 */
#include "cache_common.h"
#include "zone.h"   /* struct nk_zone: the bucket size and depot bound the test watches */

#define NDOM      4
#define BIG_BATCH 10000
#define DEPOT_BASE_BYTES (512u << 10)   /* depot.c's DEPOT_MAX_BYTES */
#define BUCKET_FLOOR 8                  /* depot.c's BUCKET_CAP_FLOOR */
#define NTHREADS  8

static nk_zone_t z64, z256;
static uint64_t ops64, ops256;  /* atomic: allocations (= frees) done */

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)*(void *const *)a, y = (uintptr_t)*(void *const *)b;
	return (x > y) - (x < y);
}

/* One batch: n items allocated and stamped, checked distinct, checked and freed. */
static void batch(nk_zone_t z, void **items, int n, bool lifo, unsigned who, uint64_t *seq)
{
	size_t size = nk_zone_size(z);
	uint64_t first = *seq;
	for (int i = 0; i < n; i++) {
		items[i] = nk_zalloc(z, NK_NOWAIT);
		if (items[i] == NULL)
			FAIL("%s: allocation %d of a batch of %d failed", nk_zone_name(z), i, n);
		ct_fill(items[i], size, ct_stamp(size == 64 ? 1 : 2, who, ++*seq));
	}
	void **sorted = malloc((size_t)n * sizeof(void *));
	if (sorted == NULL)
		FAIL("out of memory");
	memcpy(sorted, items, (size_t)n * sizeof(void *));
	qsort(sorted, (size_t)n, sizeof(void *), cmp_ptr);
	for (int i = 1; i < n; i++)
		CHECK(sorted[i] != sorted[i - 1], "%s: item %p handed out twice in one batch",
		    nk_zone_name(z), sorted[i]);
	free(sorted);
	for (int k = 0; k < n; k++) {
		int i = lifo ? n - 1 - k : k;
		size_t bad = ct_check(items[i], size, ct_stamp(size == 64 ? 1 : 2, who, first + 1 + (uint64_t)i));
		CHECK(bad == 0, "%s: item %p (batch index %d) overwritten at offset %zu while held",
		    nk_zone_name(z), items[i], i, bad - 1);
		ct_unstamp(items[i], size);
		nk_zfree(z, items[i]);
	}
	__atomic_add_fetch(size == 64 ? &ops64 : &ops256, (uint64_t)n, __ATOMIC_RELAXED);
}

static uint16_t cap_of(nk_zone_t z)
{
	return __atomic_load_n(&z->bucket_cap, __ATOMIC_RELAXED);
}

static void *worker(void *arg)
{
	unsigned id = (unsigned)(uintptr_t)arg;
	if (nk_thread_set_domain((int)(id % NDOM)) != 0)
		FAIL("thread %u: nk_thread_set_domain failed", id);
	void **items = malloc(BIG_BATCH * sizeof(void *));
	if (items == NULL)
		FAIL("out of memory");
	uint64_t seq = 0;
	for (int r = 0; r < 6; r++) {
		batch(z64, items, 300 + 700 * (r % 3), r & 1, id, &seq);
		batch(z256, items, r == 5 ? BIG_BATCH : 3000, !(r & 1), id, &seq);
	}
	free(items);
	return NULL;
}

int main(void)
{
	ct_start("cache_buckets", 120);
	if (nk_thread_set_domain(0) != 0)
		FAIL("nk_thread_set_domain(0) failed");
	z64 = nk_zcreate("bkt-64", 64, NULL, NULL, NULL, NULL, 0, 0);
	z256 = nk_zcreate("bkt-256", 256, NULL, NULL, NULL, NULL, 0, 0);
	if (z64 == NULL || z256 == NULL)
		FAIL("nk_zcreate failed");
	void **items = malloc(BIG_BATCH * sizeof(void *));
	if (items == NULL)
		FAIL("out of memory");
	uint64_t seq = 0;

	/* 1. Misses grow the bucket size to its largest. */
	ct_phase = "grow on misses";
	uint16_t start = cap_of(z64), max = z64->bucket_max;
	CHECK(start < max, "bkt-64 starts at its largest bucket size (%u): nothing to grow", start);
	for (int r = 0; r < 4; r++)
		batch(z64, items, 2000, r & 1, 0, &seq);
	CHECK(cap_of(z64) == max, "bkt-64: bucket size %u after batches of 2000 that missed, "
	    "want bucket_max %u (started at %u)", cap_of(z64), max, start);

	/* 2. A working set past the depot's base bound: the bound grows. */
	ct_phase = "depot bound";
	uint64_t base = DEPOT_BASE_BYTES / 256;
	for (int r = 0; r < 6; r++)
		batch(z256, items, BIG_BATCH, r & 1, 0, &seq);
	struct nk_domain_stats st;
	if (nk_zone_stats(z256, 0, &st) != 0)
		FAIL("nk_zone_stats failed");
	CHECK(st.cached_items > base, "bkt-256: the depot holds %llu items after batches of %d, "
	    "not above its base bound %llu: the bound did not grow",
	    (unsigned long long)st.cached_items, BIG_BATCH, (unsigned long long)base);
	CHECK(z256->depot[0].limit > base, "bkt-256: depot bound %llu, want above %llu",
	    (unsigned long long)z256->depot[0].limit, (unsigned long long)base);

	/* 3. The working set drops: trims shrink the bucket size and the bound. */
	ct_phase = "shrink on trim";
	uint16_t before = cap_of(z256);
	uint64_t limit_before = z256->depot[0].limit;
	nk_zone_reclaim(z256, NK_RECLAIM_TRIM);  /* starts a trim period */
	nk_zone_reclaim(z64, NK_RECLAIM_TRIM);
	for (int r = 0; r < 100; r++) {
		batch(z256, items, 10, r & 1, 0, &seq);
		batch(z64, items, 10, r & 1, 0, &seq);
	}
	nk_zone_reclaim(z256, NK_RECLAIM_TRIM);  /* the depot went unused: given back */
	nk_zone_reclaim(z64, NK_RECLAIM_TRIM);
	CHECK(cap_of(z256) < before, "bkt-256: bucket size %u after the working set dropped "
	    "and a trim gave the depot back, want below %u", cap_of(z256), before);
	CHECK(cap_of(z64) < max, "bkt-64: bucket size %u after the working set dropped, want below %u",
	    cap_of(z64), max);
	CHECK(z256->depot[0].limit < limit_before, "bkt-256: depot bound %llu after the trim, "
	    "want below %llu", (unsigned long long)z256->depot[0].limit,
	    (unsigned long long)limit_before);
	for (int t = 0; t < 20; t++) {
		batch(z64, items, 10, t & 1, 0, &seq);
		nk_zone_reclaim(z64, NK_RECLAIM_TRIM);
		CHECK(cap_of(z64) >= BUCKET_FLOOR && cap_of(z64) <= max,
		    "bkt-64: bucket size %u out of [%d, %u] after idle trims", cap_of(z64),
		    BUCKET_FLOOR, max);
	}
	free(items);

	/* 4. Threads on every domain at once. */
	ct_phase = "threads";
	pthread_t th[NTHREADS];
	for (unsigned i = 0; i < NTHREADS; i++)
		if (pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)(i + 1)) != 0)
			FAIL("pthread_create failed");
	for (unsigned i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);

	/* Counts exact; a drain leaves nothing cached and the bounds at their base. */
	ct_phase = "counts";
	nk_zone_t zs[2] = { z64, z256 };
	uint64_t want[2] = { ops64, ops256 };
	for (int k = 0; k < 2; k++) {
		struct nk_domain_stats t = ct_zone_total(zs[k]);
		CHECK(t.allocs == want[k] && t.frees == want[k], "%s: allocs %llu frees %llu, want %llu "
		    "each", nk_zone_name(zs[k]), (unsigned long long)t.allocs,
		    (unsigned long long)t.frees, (unsigned long long)want[k]);
		CHECK(nk_zone_get_cur(zs[k]) == 0, "%s: %d items in use, want 0", nk_zone_name(zs[k]),
		    nk_zone_get_cur(zs[k]));
		nk_zone_reclaim(zs[k], NK_RECLAIM_DRAIN);
		t = ct_zone_total(zs[k]);
		CHECK(t.cached_items == 0, "%s: %llu items cached after a drain",
		    nk_zone_name(zs[k]), (unsigned long long)t.cached_items);
		for (int d = 0; d < NDOM; d++)
			CHECK(zs[k]->depot[d].limit == 0, "%s: depot %d bound %llu after a drain, want "
			    "the base", nk_zone_name(zs[k]), d, (unsigned long long)zs[k]->depot[d].limit);
	}
	if (nkt_failed())
		for (int k = 0; k < 2; k++)
			ct_print_zone(stderr, zs[k]);
	nk_zdestroy(z64);
	nk_zdestroy(z256);
	return nkt_done(ct_name);
}
