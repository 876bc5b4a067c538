/*
 * A linear heap overflow must not reach allocator metadata silently
 * (issue 7, defect 7).  Writing 128 bytes past the last 64-byte block of a
 * slab used to overwrite the slab header's list links and crash later in
 * slab_relist (or give a crafted write); now the header's canary or the
 * checked unlink stops the process with "heap overflow/corruption
 * detected" and the zone's name.  Each case runs in a forked child.
 *
 * The buckets the depots keep sit in slabs of numakeg's own zones, in the
 * same windows: an overflow that reaches one overwrites its header's canary
 * first, and the next depot that gives the bucket up stops the process.
 *
 * The test reads the slab layout through the library's internal headers
 * (keg.h) to find the last block of a slab, and a depot's bucket (zone.h);
 * malloc/free are numakeg's.
 */
#include <malloc.h>

#include "nk_test.h"
#include "numakeg.h"
#include "keg.h"
#include "zone.h"

#define NBLOCKS 4096

static void *blocks[NBLOCKS];

/* Fills blocks[] with 64-byte blocks; returns the index of one that is the
 * last item of its slab, with the slab still holding other blocks. */
static int fill_and_find_last(void)
{
	for (int i = 0; i < NBLOCKS; i++) {
		blocks[i] = malloc(64);
		if (blocks[i] == NULL) {
			fprintf(stderr, "malloc(64) failed\n");
			_exit(2);
		}
		memset(blocks[i], 0x11, 64);
	}
	for (int i = 0; i < NBLOCKS; i++) {
		struct nk_slab *s = keg_slab_of(blocks[i]);
		char *last = s->items + (size_t)(s->keg->ipers - 1) * s->keg->size;
		if ((char *)blocks[i] == last && s->keg->size == 64)
			return i;
	}
	fprintf(stderr, "no block is the last of its slab\n");
	_exit(2);
}

static void free_all_and_trim(int skip)
{
	for (int i = 0; i < NBLOCKS; i++)
		if (i != skip)
			free(blocks[i]);
	malloc_trim(0);
}

/* The reproducer: 128 bytes past the last block, then frees and a trim. */
static void overflow_then_trim(void *arg)
{
	(void)arg;
	int last = fill_and_find_last();
	memset((char *)nkt_launder(blocks[last]) + 64, 0x41, 128);
	free_all_and_trim(-1);
	fprintf(stderr, "<<trim returned>>\n");
}

/* The same overflow, found by free() of the overflowed block itself once
 * the caches are drained, and by malloc_usable_size. */
static void overflow_then_usable_size(void *arg)
{
	(void)arg;
	int last = fill_and_find_last();
	memset((char *)nkt_launder(blocks[last]) + 64, 0x41, 128);
	(void)malloc_usable_size(blocks[last]);
	fprintf(stderr, "<<usable_size returned>>\n");
}

/* An overflow of exactly one byte still reaches the canary. */
static void overflow_one_byte(void *arg)
{
	(void)arg;
	int last = fill_and_find_last();
	struct nk_slab *s = keg_slab_of(blocks[last]);
	if (s->offpage) {
		fprintf(stderr, "<<the header is off the slab's pages>>\n");
		return;
	}
	/* The header sits right after the last item: one byte past it. */
	((volatile char *)blocks[last])[64] ^= 1;
	free_all_and_trim(-1);
	fprintf(stderr, "<<trim returned>>\n");
}

/* A crafted write that leaves the canary whole but bends a list link: the
 * checked unlink catches it instead of writing through the link. */
static void bent_link(void *arg)
{
	(void)arg;
	int last = fill_and_find_last();
	struct nk_slab *s = keg_slab_of(blocks[last]);
	/* Every slab is full: they sit on one list; find one with a neighbour. */
	struct nk_slab *victim = s->next != NULL ? s : s->prev;
	if (victim == NULL || victim->next == NULL) {
		fprintf(stderr, "<<no slab with a neighbour>>\n");
		return;
	}
	victim->next->prev = (struct nk_slab *)(uintptr_t)0x4141414141414140ull;
	free_all_and_trim(-1);
	fprintf(stderr, "<<trim returned>>\n");
}

/* A zone's items freed past its caches into the depot; a depot bucket's header overwritten. */
static void overwritten_bucket(void *arg)
{
	(void)arg;
	nk_zone_t z = nk_zcreate("bucket-victim", 64, NULL, NULL, NULL, NULL, NK_ALIGN_PTR, 0);
	if (z == NULL) {
		fprintf(stderr, "nk_zcreate failed\n");
		_exit(2);
	}
	for (int i = 0; i < NBLOCKS; i++)
		if ((blocks[i] = nk_zalloc(z, NK_NOWAIT)) == NULL) {
			fprintf(stderr, "nk_zalloc failed\n");
			_exit(2);
		}
	for (int i = 0; i < NBLOCKS; i++)
		nk_zfree(z, blocks[i]);
	struct nk_bucket *b = z->depot[0].full;
	if (b == NULL) {
		fprintf(stderr, "<<no bucket in the depot>>\n");
		return;
	}
	memset(b, 0x41, 16);   /* what a linear overflow into its slab writes first */
	for (int i = 0; i < NBLOCKS; i++)
		(void)nk_zalloc(z, NK_NOWAIT);
	fprintf(stderr, "<<allocations returned>>\n");
}

static void expect_report(const char *name, void (*fn)(void *))
{
	struct nkt_child d;
	nkt_run_child(fn, NULL, &d);
	CHECK_CHILD_SIGNAL(&d, SIGABRT, name);
	CHECK_CHILD_SAYS(&d, "heap overflow/corruption detected", name);
	CHECK_CHILD_SAYS(&d, "malloc-64", name);   /* the report names the zone */
}

int main(void)
{
	expect_report("overflow then malloc_trim", overflow_then_trim);
	expect_report("overflow then malloc_usable_size", overflow_then_usable_size);
	expect_report("one-byte overflow", overflow_one_byte);
	expect_report("bent list link", bent_link);
	struct nkt_child d;
	nkt_run_child(overwritten_bucket, NULL, &d);
	CHECK_CHILD_SIGNAL(&d, SIGABRT, "overwritten depot bucket");
	CHECK_CHILD_SAYS(&d, "heap overflow/corruption detected in numakeg's buckets",
	    "overwritten depot bucket");
	return nkt_done("harden_overflow");
}
