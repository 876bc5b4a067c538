/*
 * cache_rseq_capacity: a CPU's array grows where it runs short, and a
 * drain puts it back to its zone's floor (lib/pcpu.c, pcpu_grow; issue 10,
 * "Batches").
 *
 * Pinned to one CPU (alone in its fake domain), in the per-CPU mode
 * (skipped otherwise):
 *  1. After malloc's classes from 256 bytes up were used once (each array
 *     at its floor of 48 KiB of items), batches of 1000 64-byte items,
 *     allocated, stamped, checked distinct, checked and freed: after a few,
 *     the CPU's array holds more than the
 *     floor (192 items: 48 KiB of 64-byte items, at most 192) and at most
 *     the slots of a block (NK_PCPU_SLOTS, 2040), and at least the whole
 *     batch of 1000.  On the old fixed capacity it held at most 192; with
 *     blocks of 504 slots, at most 504.
 *  2. 200 items allocated and held, NK_RECLAIM_DRAIN, the 200 freed: a cap
 *     back at the floor spills half at the 193rd free, so the array holds
 *     fewer than 200; a cap left grown would hold all 200.
 *  3. The depot's bound grows on a per-CPU miss: batches of 20000 items
 *     (1.25 MiB, past the depot's base bound of 512 KiB) send items to the
 *     keg at first; the refills that then find the depot empty double its
 *     bound (lib/depot.c, zone_depot_take), and after a few rounds the
 *     depot holds more than its base between batches.  Before the per-CPU
 *     refills counted as misses, the bound stayed at its base and every
 *     batch went through the keg (16 threads of xmalloc-test spent 46% of
 *     their cpu time in the kernel, waiting on the keg's and depot's locks).
 *  4. A stream of allocations grows the array too: after a drain (cap at
 *     the floor), 3000 items allocated with no free between them: a later
 *     refill leaves more than the floor in the array (its cap grew on the
 *     refills that found it emptied by allocations alone; at the floor, a
 *     refill brought 192 items at most).
 *  5. Counts stay exact: get_cur 0 after every batch, and the zone's total
 *     allocations and frees equal what the test did.
 *  6. A drain sends the items home from the stopped array, outside the
 *     CPU's lock; a zone's fini that allocates from the zone meanwhile (on
 *     the CPU being drained) gets an item past the array, frees it, and the
 *     thread is still served by the per-CPU caches afterwards (a refusal
 *     there would give it a thread cache for good).
 */
#include "cache_common.h"

#include "zone.h"

#define BATCH  1000
#define BIG    20000
#define DEPOT_BASE ((512u << 10) / 64) /* depot.c's DEPOT_MAX_BYTES, in 64-byte items */
#define ROUNDS 6
#define FLOOR  192
#define SLOTS  NK_PCPU_SLOTS

static nk_zone_t zone;
static int dom;
static uint64_t ops;

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)*(void *const *)a, y = (uintptr_t)*(void *const *)b;
	return (x > y) - (x < y);
}

/* Phase 6: the fini of the second zone allocates from it once, mid-drain. */
static nk_zone_t zone_fini;
static int fini_depth, fini_nested_ok, fini_calls;

static void reentrant_fini(void *mem, size_t size)
{
	(void)mem;
	(void)size;
	fini_calls++;
	if (fini_depth++ == 0 && !fini_nested_ok) {
		void *p = nk_zalloc(zone_fini, NK_NOWAIT);
		if (p != NULL) {
			ct_fill(p, 64, ct_stamp(6, 0, 1));
			fini_nested_ok = ct_check(p, 64, ct_stamp(6, 0, 1)) == 0;
			nk_zfree(zone_fini, p);
		}
	}
	fini_depth--;
}

static uint64_t cached_here(void)
{
	return zone_domain_tc_items(zone, dom);
}

static void batch(int n, uint64_t *seq)
{
	static void *items[BIG], *sorted[BIG];
	uint64_t first = *seq;
	for (int i = 0; i < n; i++) {
		if ((items[i] = nk_zalloc(zone, NK_NOWAIT)) == NULL)
			FAIL("allocation %d of a batch of %d failed", i, n);
		ct_fill(items[i], 64, ct_stamp(1, 0, ++*seq));
	}
	memcpy(sorted, items, (size_t)n * sizeof(void *));
	qsort(sorted, (size_t)n, sizeof(void *), cmp_ptr);
	for (int i = 1; i < n; i++)
		CHECK(sorted[i] != sorted[i - 1], "item %p handed out twice in one batch", sorted[i]);
	for (int i = n; i-- > 0;) {
		CHECK(ct_check(items[i], 64, ct_stamp(1, 0, first + 1 + (uint64_t)i)) == 0,
		    "item %d of a batch was overwritten while in use", i);
		nk_zfree(zone, items[i]);
	}
	ops += (uint64_t)n;
	CHECK(nk_zone_get_cur(zone) == 0, "get_cur %d after a batch", nk_zone_get_cur(zone));
}

int main(void)
{
	ct_start("cache_rseq_capacity", 60);
	if (!nk_pcpu_on)
		nkt_skip("the per-CPU caches are off (NUMAKEG_CACHE=thread, no rseq or no membarrier)");
	int cpu = sched_getcpu();
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (cpu < 0 || sched_setaffinity(0, sizeof(set), &set) != 0)
		FAIL("cannot pin to cpu %d: %s", cpu, strerror(errno));
	dom = nk_topo.cpu_domain[cpu];
	for (int c = 0; c < CPU_SETSIZE && c < NK_MAX_CPUS; c++)
		if (c != cpu && c < nk_topo.ncpus && nk_topo.cpu_domain[c] == dom)
			nkt_skip("cpu %d shares domain %d with cpu %d (want NUMAKEG_FAKE_DOMAINS=4 "
			    "and at most 4 cpus)", c, dom, cpu);
	zone = nk_zcreate("rseq-capacity", 64, NULL, NULL, NULL, NULL, NK_ALIGN_PTR,
	    NK_ZONE_FIRSTTOUCH);
	if (zone == NULL)
		FAIL("nk_zcreate: errno %d", errno);

	/* Many classes in use first, each CPU array at its floor: their floors
	 * (48 KiB of items each, 1.4 MiB in all) must not use up the growth
	 * budget (phase 1). */
	ct_phase = "many classes";
	for (size_t size = 256; size <= 32768; size += size / 4) {
		void *p = nk_malloc(size);
		if (p == NULL)
			FAIL("nk_malloc(%zu) failed", size);
		nk_free(p);
	}

	ct_phase = "batches";
	uint64_t seq = 0, most = 0;
	for (int r = 0; r < ROUNDS; r++) {
		batch(BATCH, &seq);
		most = nk_max(most, cached_here());
	}
	CHECK(most > FLOOR, "the array held at most %llu items after batches of %d: its "
	    "capacity did not grow past the floor of %d", (unsigned long long)most, BATCH, FLOOR);
	CHECK(most <= SLOTS, "the array held %llu items, more than its %d slots",
	    (unsigned long long)most, SLOTS);
	CHECK(most >= BATCH, "the array held at most %llu items after batches of %d: a whole "
	    "batch does not stay on the CPU", (unsigned long long)most, BATCH);

	ct_phase = "depot bound";
	for (int r = 0; r < ROUNDS; r++)
		batch(BIG, &seq);
	const struct nk_depot *dep = &zone->depot[dom];
	CHECK(dep->limit > DEPOT_BASE, "depot bound %llu after batches of %d, want above its "
	    "base %u: per-CPU misses did not grow it", (unsigned long long)dep->limit, BIG,
	    DEPOT_BASE);
	CHECK(dep->nitems > DEPOT_BASE, "the depot holds %llu items between batches of %d, want "
	    "more than its base %u", (unsigned long long)dep->nitems, BIG, DEPOT_BASE);
	uint64_t depot_items = dep->nitems;

	ct_phase = "drain";
	void *held[200];
	for (int i = 0; i < 200; i++)
		if ((held[i] = nk_zalloc(zone, NK_NOWAIT)) == NULL)
			FAIL("allocation %d of 200 failed", i);
	nk_zone_reclaim(zone, NK_RECLAIM_DRAIN);
	CHECK(cached_here() == 0, "%llu items cached after a drain",
	    (unsigned long long)cached_here());
	for (int i = 0; i < 200; i++)
		nk_zfree(zone, held[i]);
	ops += 200;
	CHECK(cached_here() < 200, "the array holds all %llu items of a batch of 200 after a "
	    "drain: its capacity was not put back to the floor", (unsigned long long)cached_here());

	ct_phase = "stream";
	enum { STREAM = 3000 };
	static void *stream[STREAM];
	nk_zone_reclaim(zone, NK_RECLAIM_DRAIN);
	uint64_t stream_most = 0;
	for (int i = 0; i < STREAM; i++) {
		if ((stream[i] = nk_zalloc(zone, NK_NOWAIT)) == NULL)
			FAIL("allocation %d of a stream of %d failed", i, STREAM);
		stream_most = nk_max(stream_most, cached_here());
	}
	CHECK(stream_most > FLOOR, "a stream of %d allocations found at most %llu items in the "
	    "array after a refill: its cap did not grow past the floor of %d", STREAM,
	    (unsigned long long)stream_most, FLOOR);
	CHECK(stream_most <= SLOTS, "the array held %llu items, more than its %d slots",
	    (unsigned long long)stream_most, SLOTS);
	for (int i = 0; i < STREAM; i++)
		nk_zfree(zone, stream[i]);
	ops += STREAM;

	ct_phase = "drain with a fini that allocates";
	zone_fini = nk_zcreate("rseq-capacity-fini", 64, NULL, NULL, NULL, reentrant_fini,
	    NK_ALIGN_PTR, NK_ZONE_FIRSTTOUCH);
	if (zone_fini == NULL)
		FAIL("nk_zcreate: errno %d", errno);
	static void *fheld[300];
	for (int i = 0; i < 300; i++)
		if ((fheld[i] = nk_zalloc(zone_fini, NK_NOWAIT)) == NULL)
			FAIL("allocation %d of 300 failed", i);
	for (int i = 0; i < 300; i++)
		nk_zfree(zone_fini, fheld[i]);
	CHECK(zone_domain_tc_items(zone_fini, dom) > 0, "nothing cached on the CPU before the drain");
	nk_zone_reclaim(zone_fini, NK_RECLAIM_DRAIN);
	CHECK(fini_calls > 0, "the drain sent no item home through the fini");
	CHECK(fini_nested_ok, "the fini's allocation from the zone being drained failed or was "
	    "overwritten");
	CHECK(nk_tls_tc == NK_TC_PCPU, "the thread left the per-CPU caches after allocating "
	    "during a drain");
	CHECK(nk_zone_get_cur(zone_fini) == 0, "get_cur %d after the drain",
	    nk_zone_get_cur(zone_fini));
	nk_zdestroy(zone_fini);

	struct nk_domain_stats t = ct_zone_total(zone);
	CHECK(t.allocs == ops && t.frees == ops, "allocs %llu, frees %llu; the test did %llu of each",
	    (unsigned long long)t.allocs, (unsigned long long)t.frees, (unsigned long long)ops);
	printf("cache_rseq_capacity: cpu %d, domain %d: at most %llu items cached (floor %d); "
	    "the depot held %llu between batches of %d\n", cpu, dom, (unsigned long long)most,
	    FLOOR, (unsigned long long)depot_items, BIG);
	nk_zdestroy(zone);
	return nkt_done(ct_name);
}
