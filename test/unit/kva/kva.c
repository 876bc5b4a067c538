/*
 * The KVA map's own entries (seed 000).  Freeing every other page of a run
 * makes a boundary tag per hole, far more than one entry slab holds, so the
 * entry zone must get new slabs while the map is locked: from the reserve
 * during the insertion, from the map itself at unlock.  The test shows that
 * happened (locked slabs, replenishes), that the reserve is back, and that
 * nothing deadlocked or recursed (a watchdog would fire).
 */
#include "nk_test.h"
#include "numakeg.h"
#include "kva.h"

int
main(void)
{
	alarm(60);
	REQUIRE(nk_ndomains() == 4, "want 4 fake domains");
	struct kva_map_stats s0, s1, s2;
	kva_map_stats(2, &s0);

	enum { N = 6000 };
	static uintptr_t r[N];
	for (int i = 0; i < N; i++) {
		r[i] = kva_alloc(2, 4096, 4096);
		REQUIRE(r[i] != 0, "kva_alloc %d", i);
		REQUIRE(nk_domain_of((void *)r[i]) == 2, "range of domain %d", nk_domain_of((void *)r[i]));
	}
	for (int i = 1; i < N; i += 2)
		kva_free(r[i], 4096);
	kva_map_stats(2, &s1);
	CHECK(s1.free_segments >= s0.free_segments + N / 2 - 1,
	    "holes are not separate segments: %lu", s1.free_segments);
	CHECK(s1.replenishes > s0.replenishes, "the entry reserve was never replenished");
	CHECK(s1.locked_slabs > s0.locked_slabs,
	    "no entry slab was carved with the map locked (the recursive case did not happen)");
	CHECK(s1.entries_reserve >= 16, "reserve not refilled: %lu free entries", s1.entries_reserve);

	/* Freeing the rest coalesces the holes away again. */
	for (int i = 0; i < N; i += 2)
		kva_free(r[i], 4096);
	kva_map_stats(2, &s2);
	CHECK(s2.free_segments <= s0.free_segments + (s1.locked_slabs - s0.locked_slabs) + 1,
	    "segments did not coalesce: %lu (started with %lu)", s2.free_segments, s0.free_segments);
	CHECK(s2.entries_reserve >= 16, "reserve %lu", s2.entries_reserve);

	/* Aligned ranges, and growing in place. */
	uintptr_t a = kva_alloc(2, 1 << 20, 1 << 20);
	CHECK(a != 0 && (a & ((1 << 20) - 1)) == 0, "1 MiB alignment: %#lx", a);
	CHECK(kva_extend(a, 1 << 20, 2 << 20), "extend into free space failed");
	kva_free(a, 2 << 20);
	printf("entry slabs carved under the map lock: %lu, replenishes: %lu\n",
	    s1.locked_slabs - s0.locked_slabs, s1.replenishes - s0.replenishes);
	return nkt_done("core_kva");
}
