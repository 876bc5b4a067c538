/*
 * The KVA map's own entries (seed 000).  Freeing every other page of a run
 * makes a boundary tag per hole, far more than one entry slab holds, so the
 * entry zone must get new slabs while the map is locked: from the reserve
 * during the insertion, from the map itself at unlock.  The test shows that
 * happened (locked slabs, replenishes), that the reserve is back, and that
 * nothing deadlocked or recursed (a watchdog would fire).
 *
 * Then the tags' checked unlinks (issue 7, "every list unlink checked"): a
 * tag lives in an entry slab beside the program's pages, so a heap overflow
 * can bend it.  Each way of bending one, done in a forked child, must stop
 * the process with a report at the next unlink of that tag, not write
 * through the bent link or corrupt the map in silence.
 */
#include "nk_test.h"
#include "numakeg.h"
#include "kva.h"

/*
 * Eight pages of domain 3 with free one-page holes at pages 2 and 5, each
 * with its own tag; bend() bends the tag of page 5, then page 4 is freed,
 * which merges it with page 5's segment: that tag is unlinked.
 */
static void
unlink_bent_tag(void (*bend)(struct kva_bt *t))
{
	uintptr_t a = kva_alloc(3, 8 * 4096, 4096);
	REQUIRE(a != 0, "kva_alloc");
	kva_free(a + 2 * 4096, 4096);
	kva_free(a + 5 * 4096, 4096);
	struct kva_bt *t = kva_free_tag(a + 5 * 4096);
	REQUIRE(t != NULL && t->size == 4096, "no one-page tag for the hole at page 5");
	bend(t);
	kva_free(a + 4 * 4096, 4096);
	fprintf(stderr, "<<the bent tag was unlinked>>\n");
	_exit(0);
}

/* A forged link to an address no tag can have: the unlink wrote through it. */
static void bend_next_wild(struct kva_bt *t) { t->next = (struct kva_bt *)(uintptr_t)0x4141414141414140ull; }
static void bend_prev_wild(struct kva_bt *t) { t->prev = (struct kva_bt *)(uintptr_t)0x4141414141414140ull; }
/* A link to a real tag that does not point back: the lists were corrupted in silence. */
static void bend_prev_self(struct kva_bt *t) { t->prev = t; }
/* Its size: the unlink took it off another size class's list. */
static void bend_size(struct kva_bt *t) { t->size = 64 * 4096; }

static void child_next_wild(void *arg) { (void)arg; unlink_bent_tag(bend_next_wild); }
static void child_prev_wild(void *arg) { (void)arg; unlink_bent_tag(bend_prev_wild); }
static void child_prev_self(void *arg) { (void)arg; unlink_bent_tag(bend_prev_self); }
static void child_size(void *arg) { (void)arg; unlink_bent_tag(bend_size); }

static void
expect_tag_report(const char *what, void (*fn)(void *), const char *says)
{
	struct nkt_child c;
	nkt_run_child(fn, NULL, &c);
	CHECK_CHILD_SIGNAL(&c, SIGABRT, what);
	CHECK_CHILD_SAYS(&c, "heap overflow/corruption detected in the address-space map", what);
	CHECK_CHILD_SAYS(&c, says, what);
}

static void
test_bent_tags(void)
{
	expect_tag_report("a tag's next link forged", child_next_wild, "where no tag can be");
	expect_tag_report("a tag's prev link forged", child_prev_wild, "where no tag can be");
	expect_tag_report("a tag's prev link bent to itself", child_prev_self, "does not point back");
	expect_tag_report("a tag's size bent", child_size, "at its last page");
}

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
	test_bent_tags();
	printf("entry slabs carved under the map lock: %lu, replenishes: %lu\n",
	    s1.locked_slabs - s0.locked_slabs, s1.replenishes - s0.replenishes);
	return nkt_done("core_kva");
}
