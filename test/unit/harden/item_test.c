/*
 * free()'s item test (malloc_int.h: one multiplication and one compare say
 * that an address is a multiple of the class's size AND below the end of
 * the slab's last item).  For every size class whose slabs have room past
 * their last item (slack or an on-page header), free() of the address one
 * item past the last one, a multiple of the size inside the slab's pages,
 * must be reported as an invalid pointer (a limit one item too large lets
 * it onto the caches: 17 of 18 checks fail); the last item itself is freed
 * like any block (a limit one item too small only sends it to the slow
 * path, which checks again).  Each bad free runs in a forked child, with
 * NUMAKEG_DEBUG=0 (CMakeLists.txt) so that the fast path does the test.
 * And the arithmetic on its own: for every class, every offset from the
 * slab's start to two items past its last, against a division.
 *
 * The slab layout comes from the library's internal headers (keg.h).
 */
#include <malloc.h>

#include "nk_test.h"
#include "numakeg.h"
#include "keg.h"
#include "malloc_int.h"

#define NCLASSES 40
#define NBLOCKS  64

static size_t class_size(unsigned c)
{
	if (c < 8)
		return 16 * (c + 1);
	unsigned k = 7 + (c - 8) / 4, j = (c - 8) % 4;
	return ((size_t)1 << k) + (j + 1) * ((size_t)1 << (k - 2));
}

static void free_past_last(void *arg)
{
	free(nkt_launder(arg));
	fprintf(stderr, "<<free returned>>\n");
}

/* Allocates blocks of size until one is the last item of its slab. */
static void *find_last_item(size_t size, void **blocks, int *n)
{
	for (*n = 0; *n < NBLOCKS; (*n)++) {
		char *p = malloc(size);
		if (p == NULL)
			return NULL;
		blocks[*n] = p;
		struct nk_slab *s = keg_slab_of(p);
		if (p == s->items + (size_t)(s->keg->ipers - 1) * s->keg->size) {
			(*n)++;
			return p;
		}
	}
	return NULL;
}

/*
 * The arithmetic itself, for class c (made): every slab offset up to two
 * items past the slab's items, against the plain division.
 */
static void check_arithmetic(unsigned c, size_t size, uint64_t ipers)
{
	/* The tables are indexed by the class plus one (the page class map's id). */
	uint64_t mul = nk_class_test[NK_TEST_MUL][c + 1], lim = nk_class_test[NK_TEST_LIM][c + 1];
	uint64_t wrong = 0, first = 0;
	for (uint64_t n = 0; n < (ipers + 2) * size; n++) {
		bool want = n % size == 0 && n / size < ipers;
		if ((n * mul < lim) != want && wrong++ == 0)
			first = n;
	}
	CHECK(wrong == 0, "class %u (%zu B, %llu a slab): the item test is wrong at %llu offsets, "
	    "the first %llu", c, size, (unsigned long long)ipers, (unsigned long long)wrong,
	    (unsigned long long)first);
}

int main(void)
{
	int tested = 0;
	/* Index 0 is a page that is no slab's (the page class map's 0): every offset fails. */
	CHECK(nk_class_test[NK_TEST_LIM][0] == 0, "the item test's limit for no class is %llu, not 0",
	    (unsigned long long)nk_class_test[NK_TEST_LIM][0]);
	for (unsigned c = 0; c < NCLASSES; c++) {
		size_t size = class_size(c);
		void *blocks[NBLOCKS];
		int n;
		char *last = find_last_item(size, blocks, &n);
		if (last == NULL) {
			/* Large slabs: the last item is more than NBLOCKS away. */
			void *p = malloc(size);
			struct nk_slab *s = keg_slab_of(p);
			last = s->items + (size_t)(s->keg->ipers - 1) * s->keg->size;
			free(p);
			for (int i = 0; i < n; i++)
				free(blocks[i]);
			n = 0;
		}
		struct nk_slab *s = keg_slab_of(last);
		CHECK(s != NULL && s->keg->size == size, "class %u (%zu B): a slab of the class", c,
		    size);
		if (s == NULL)
			continue;
		check_arithmetic(c, size, s->keg->ipers);
		char *past = last + size;
		char *end = s->items + (size_t)s->keg->pages * NK_PAGE_SIZE;
		if (past + sizeof(void *) <= end) {
			/* The address a limit one item too large would accept. */
			struct nkt_child d;
			char what[96];
			snprintf(what, sizeof(what), "free one item past the last of a %zu-byte slab",
			    size);
			nkt_run_child(free_past_last, past, &d);
			CHECK_CHILD_SIGNAL(&d, SIGABRT, what);
			CHECK_CHILD_SAYS(&d, "invalid pointer", what);
			tested++;
		}
		/* The last item itself is a block like any other. */
		for (int i = 0; i < n; i++)
			free(blocks[i]);
	}
	fprintf(stderr, "%d of %d classes have room past their slabs' last item\n", tested,
	    NCLASSES);
	CHECK(tested >= 10, "too few classes with room past the last item (%d) to test the limit",
	    tested);
	return nkt_done("harden_item_test");
}
