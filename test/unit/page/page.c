/*
 * The page layer: the NOFREE list (seed 002) with a multi-page NOFREE
 * allocation that fails part-way (injected), page_free() of NOFREE pages
 * refused, the dirty-run cache and its decay.
 */
#include <sys/mman.h>

#include "nk_test.h"
#include "numakeg.h"
#include "page.h"

static void *nofree_page;

static void
free_nofree_page_the_wrong_way(void *arg)
{
	(void)arg;
	page_free(nofree_page, 1);
}

int
main(void)
{
	alarm(60);
	REQUIRE(nk_ndomains() == 4, "want 4 fake domains");
	struct nk_page_stats p0, p1, p2;
	nk_page_stats(1, &p0);

	/* Eight pages, the fourth commit fails: three pages stay NOFREE, on the list. */
	nk_inject_commit_failure_after = 3;
	errno = 0;
	void *a = page_alloc_nofree(1, 8);
	nk_inject_commit_failure_after = -1;
	CHECK(a == NULL && errno == ENOMEM, "part-way failure returned %p errno %d", a, errno);
	nk_page_stats(1, &p1);
	CHECK(p1.nofree_bytes == p0.nofree_bytes + 3 * 4096,
	    "NOFREE bytes %lu, want %lu + 3 pages", p1.nofree_bytes, p0.nofree_bytes);

	/* Those three pages serve the next NOFREE allocation: nothing new. */
	void *b = page_alloc_nofree(1, 3);
	nk_page_stats(1, &p2);
	REQUIRE(b != NULL, "page_alloc_nofree from the list");
	CHECK(p2.nofree_bytes == p1.nofree_bytes, "the list was not used: %lu", p2.nofree_bytes);
	CHECK(page_desc(b)->flags & PG_NOFREE, "NOFREE mark missing");
	memset(b, 0x11, 3 * 4096);

	/* Back on the list with page_free_nofree(), then split first-fit. */
	page_free_nofree(b, 3);
	CHECK(page_desc(b)->flags & PG_NOFREE_LIST, "run head not on the list");
	CHECK(page_desc(b)->npages == 3, "run length %u in the first descriptor", page_desc(b)->npages);
	void *c = page_alloc_nofree(1, 2);
	void *d = page_alloc_nofree(1, 1);
	CHECK(c == b, "first fit should reuse the run's front");
	CHECK(d == (char *)b + 2 * 4096, "the rest of the run");
	nk_page_stats(1, &p2);
	CHECK(p2.nofree_bytes == p1.nofree_bytes, "NOFREE pages grew: %lu", p2.nofree_bytes);

	/* An ordinary free of a NOFREE page stops the process, naming the mistake. */
	nofree_page = d;
	struct nkt_child child;
	nkt_run_child(free_nofree_page_the_wrong_way, NULL, &child);
	CHECK_CHILD_SIGNAL(&child, SIGABRT, "page_free of a NOFREE page");
	CHECK_CHILD_SAYS(&child, "NOFREE", "page_free of a NOFREE page");

	/* The dirty cache: a freed run is reused as is, not faulted again. */
	bool zeroed;
	void *r = page_alloc(0, 16, 4096, &zeroed);
	REQUIRE(r != NULL, "page_alloc");
	memset(r, 0x77, 16 * 4096);
	page_free(r, 16);
	struct nk_page_stats q0, q1;
	nk_page_stats(0, &q0);
	CHECK(q0.dirty_bytes >= 16 * 4096, "freed run not cached: dirty %lu", q0.dirty_bytes);
	void *r2 = page_alloc(0, 16, 4096, &zeroed);
	CHECK(r2 == r && !zeroed, "cached run not reused (%p vs %p, zeroed %d)", r2, r, zeroed);
	page_free(r2, 16);

	/* Decay: runs older than NUMAKEG_DECAY_MS go back to the OS, inline. */
	nk_opt.decay_ms = 20;
	usleep(50 * 1000);
	void *t = page_alloc(0, 1, 4096, &zeroed);  /* any page call runs the decay */
	nk_page_stats(0, &q1);
	CHECK(q1.purged_bytes >= q0.purged_bytes + 16 * 4096, "decay purged %lu bytes",
	    q1.purged_bytes - q0.purged_bytes);
	/*
	 * The purged run's pages are no longer resident (asked with mincore,
	 * which does not fault them in again: an unpurged run stays resident,
	 * it was written above).  The page t may have been carved from the
	 * same range; it is not touched, so it is not resident either.
	 */
	unsigned char resident[16];
	REQUIRE(mincore(r, 16 * 4096, resident) == 0, "mincore: %s", strerror(errno));
	int still = 0;
	for (int i = 0; i < 16; i++)
		still += resident[i] & 1;
	CHECK(still == 0, "%d of the 16 purged pages are still resident", still);
	page_free(t, 1);
	return nkt_done("core_page");
}
