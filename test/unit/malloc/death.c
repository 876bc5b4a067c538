/*
 * Death tests: a double free and an invalid free print a "numakeg: ..."
 * line on stderr and abort (README, "Using it").  Each bad action runs
 * in a forked child whose stderr the parent reads through a pipe.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <malloc.h>

#include "nk_test.h"
#include "numakeg.h"

static char static_buf[256];

/* Printed by a child after the bad call returned: when the report comes
 * only later (at a cache flush, say), the parent says so. */
static void mark_returned(void)
{
	static const char m[] = "<<bad call returned>>\n";
	(void)!write(2, m, sizeof(m) - 1);
}

/* After the bad call: give the library every chance to notice (drain the
 * caches), then return, which the parent counts as "did not die". */
static void settle(void)
{
	mark_returned();
	nk_reclaim();
	for (int i = 0; i < 1000; i++)
		free(malloc(64));
	nk_reclaim();
}

static void double_free_64(void *arg)
{
	(void)arg;
	void *p = malloc(64);
	free(p);
	free(nkt_launder(p));
	settle();
}

static void double_free_64_nk(void *arg)
{
	(void)arg;
	void *p = nk_malloc(64);
	memset(p, 0, 64);
	nk_free(p);
	nk_free(nkt_launder(p));
	settle();
}

/* The second free of a block the thread cache already handed back to the
 * keg: the first free is followed by a drain. */
static void double_free_64_drained(void *arg)
{
	(void)arg;
	void *p = malloc(64);
	free(p);
	nk_reclaim();
	free(nkt_launder(p));
	settle();
}

static void double_free_large(void *arg)
{
	size_t n = *(size_t *)arg;
	void *p = malloc(n);
	memset(p, 1, n);
	free(p);
	free(nkt_launder(p));
	settle();
}

static void free_stack(void *arg)
{
	(void)arg;
	char buf[64];
	memset(buf, 0, sizeof(buf));
	free(nkt_launder(buf));
	settle();
}

static void free_static(void *arg)
{
	(void)arg;
	free(nkt_launder(static_buf + 16));
	settle();
}

static void free_middle(void *arg)
{
	size_t n = *(size_t *)arg;
	char *p = malloc(n);
	memset(p, 0, n);
	free(nkt_launder(p + (n > 4096 ? 4096 + 8 : 8)));
	settle();
}

static void nk_free_middle(void *arg)
{
	size_t n = *(size_t *)arg;
	char *p = nk_malloc(n);
	memset(p, 0, n);
	nk_free(nkt_launder(p + n / 2 + 1));
	settle();
}

/* realloc of an invalid pointer is reported like free's. */
static void realloc_middle(void *arg)
{
	(void)arg;
	char *p = malloc(200);
	memset(p, 0, 200);
	void *q = realloc(nkt_launder(p + 24), 400);
	(void)q;
	settle();
}

/*
 * A pointer that was a 64-byte block's, given to free after its slab went
 * back and its pages became part of a large block: free's fast path looks
 * the class up in the page class map, which must have forgotten the slab
 * (a stale entry would push the address into a cache, and hand it out).
 * Exits 3 if no large block lands on the former slabs, which the parent
 * counts as a failure like any exit.
 */
static void free_former_block(void *arg)
{
	(void)arg;
	enum { NBLOCKS = 4096, NLARGE = 64, LARGE = 64 << 10 };
	static char *blocks[NBLOCKS];
	for (int i = 0; i < NBLOCKS; i++)
		blocks[i] = malloc(64);
	for (int i = 0; i < NBLOCKS; i++)
		free(blocks[i]);
	nk_reclaim();  /* the caches drained, the empty slabs' pages freed */
	for (int k = 0; k < NLARGE; k++) {
		char *big = malloc(LARGE);
		memset(big, 0x11, LARGE);  /* no free mark left anywhere in it */
		for (int i = 0; i < NBLOCKS; i++) {
			char *q = blocks[i];
			if (q > big && q < big + LARGE && ((uintptr_t)q & 4095) != 0) {
				free(nkt_launder(q));
				settle();
			}
		}
	}
	_exit(3);
}

static void harmless(void *arg)
{
	(void)arg;
	free(malloc(64));
	nk_reclaim();
}

static void expect_abort(const char *what, void (*fn)(void *), void *arg,
                         const char *must1, const char *must2)
{
	struct nkt_child d;
	int before = nkt_failed();
	nkt_run_child(fn, arg, &d);
	int ok = CHECK_CHILD_SIGNAL(&d, SIGABRT, what);
	CHECK_CHILD_SAYS(&d, "numakeg:", what);
	if (must1)
		CHECK_CHILD_SAYS(&d, must1, what);
	if (must2)
		CHECK_CHILD_SAYS(&d, must2, what);
	if (ok && strstr(d.out, "<<bad call returned>>"))
		fprintf(stderr, "note: %s was reported only after the bad call "
		    "returned (at a later allocation or drain)\n", what);
	if (nkt_failed() == before)
		fprintf(stderr, "ok: %s\n", what);
}

int main(void)
{
	/* A child that does nothing wrong exits 0 (checks the harness). */
	struct nkt_child d;
	nkt_run_child(harmless, NULL, &d);
	CHECK_CHILD_EXIT(&d, 0, "a child doing nothing wrong");

	expect_abort("double free of a 64-byte block", double_free_64, NULL,
	    "double free", "malloc-64");
	expect_abort("double nk_free of a 64-byte block", double_free_64_nk, NULL,
	    "double free", "malloc-64");
	/* After a drain the slab's pages are gone, and with them the zone's
	 * name: the report can only say the pages are no longer in use. */
	expect_abort("double free of a 64-byte block after a drain",
	    double_free_64_drained, NULL, "double free", NULL);
	size_t big = 100000, huge = 3u << 20;
	expect_abort("double free of a 100000-byte block", double_free_large, &big,
	    "double free", NULL);
	expect_abort("double free of a 3 MiB block", double_free_large, &huge,
	    "double free", NULL);

	expect_abort("free of a stack address", free_stack, NULL, "invalid pointer", NULL);
	expect_abort("free of a static address", free_static, NULL, "invalid pointer", NULL);
	size_t s64 = 64, s256 = 256, s100k = 100000, s3m = 3u << 20;
	expect_abort("free of the middle of a 64-byte block", free_middle, &s64,
	    "invalid pointer", NULL);
	expect_abort("free of the middle of a 256-byte block", nk_free_middle, &s256,
	    "invalid pointer", NULL);
	expect_abort("free of the middle of a 100000-byte block", free_middle, &s100k,
	    "invalid pointer", NULL);
	expect_abort("free of the middle of a 3 MiB block", free_middle, &s3m,
	    "invalid pointer", NULL);
	expect_abort("realloc of the middle of a 200-byte block", realloc_middle, NULL,
	    "invalid pointer", NULL);
	expect_abort("free of a former 64-byte block's address inside a large block",
	    free_former_block, NULL, "invalid pointer", NULL);
	return nkt_done("malloc_death");
}
