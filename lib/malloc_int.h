/*
 * The malloc layer's fast paths, inline, so that nk_malloc() and the
 * exported malloc() (export.c) are each one short function with no call on
 * a cache hit.  Everything else is out of line in malloc.c.
 */
#ifndef NK_MALLOC_INT_H
#define NK_MALLOC_INT_H

#include "large.h"
#include "zone.h"

/*
 * Size classes: 16-byte steps up to 128, then four classes per power of two
 * (jemalloc's spacing: at most 25% internal waste) up to 32 KiB.  Larger
 * requests are page runs straight from the page layer.
 */
#define NK_NCLASSES     40
#define NK_SMALL_MAX    32768
#define NK_LOOKUP_MAX   NK_SMALL_MAX   /* the lookup table covers every class: one load */

extern struct nk_zone nk_malloc_zones[NK_NCLASSES];
extern uint32_t nk_class_size[NK_NCLASSES];

/*
 * free()'s item test, one multiplication and one compare (free_fast_finish),
 * indexed by the class plus one, as the page class map gives it:
 * nk_class_test[0][c + 1] = mul = floor(2^64 / size) + 1,
 * nk_class_test[1][c + 1] = lim = ipers * (size * mul mod 2^64); lim is 0
 * until the class is made, and always at index 0 (a page that is no slab's),
 * so that every test fails there.  Two rows, not pairs: one address and the
 * scaled index reach both.
 */
enum { NK_TEST_MUL, NK_TEST_LIM };
extern uint64_t nk_class_test[2][NK_NCLASSES + 1];
extern uint8_t nk_class_lookup[NK_LOOKUP_MAX / 16 + 1];
extern uint64_t nk_free_cookie;   /* marks a freed block (double-free check) */
extern bool nk_malloc_rr;         /* the classes are round-robin zones */
extern bool nk_malloc_one_home;   /* one domain, or round-robin: no home to check on a free */
/* NK_TC_PCPU when nk_malloc_one_home, else a value nk_tls_tc never holds:
 * free_fast's one compare for "per CPU, no home to check". */
extern struct nk_tcache *nk_free_pcpu_tag;
/*
 * The fast paths' gates, 0 under NUMAKEG_DEBUG (every call then takes the
 * slow path, which checks): the largest size malloc_fast serves, and the
 * span of addresses free_fast looks up (nk_kva_span).  One compare each
 * instead of a size or span test and a test of the debug option.
 */
extern size_t nk_malloc_fast_max;
extern uintptr_t nk_free_fast_span;

_Static_assert(NK_NCLASSES == NK_MALLOC_IDS, "a class is its zone id");

/*
 * Start-up (init.c): the policy once the topology is known, then the class
 * table; each class's zone is made on its first allocation.
 */
void malloc_policy_init(void);
void malloc_init(void);
/* Makes every class's zone not made yet (the stats list them all). */
void malloc_make_all_classes(void);
/* fork() (init.c): outermost; no class is half made in the child. */
void malloc_fork_prepare(void);
void malloc_fork_parent(void);
void malloc_fork_child(void);
/* For the stats layer: the policy's name, the large blocks' counts. */
const char *malloc_policy_str(void);
void malloc_large_counts(int domain, struct large_counts *out);
/* glibc's mallinfo2, from the page layer's counts (export.c). */
struct mallinfo2 malloc_mallinfo2(void);

/* The class of a request of n bytes, 0 < n <= NK_SMALL_MAX. */
static inline unsigned
malloc_size_class(size_t n)
{
	NK_ASSERT(n <= NK_LOOKUP_MAX, "no class for a request above NK_LOOKUP_MAX");
	return nk_class_lookup[(n + 15) >> 4];
}

void *malloc_slow(size_t n);
void  free_slow(void *p);
NK_COLD _Noreturn void malloc_bad_free(const void *p, const char *why, const struct nk_zone *z);
/* Reports a bad pointer given to fn ("free", "realloc", ...) by name, and stops. */
NK_COLD _Noreturn void malloc_bad_pointer(const char *fn, const void *p, const char *why,
                                          const struct nk_zone *z);
void  malloc_debug_check(struct nk_zone *z, void *p);

/*
 * The fast paths test everything first and change nothing until every test
 * has passed; anything else goes to the slow path as a tail call, which
 * starts over, so the fast paths need no stack frame (jemalloc's shape).
 * malloc_fast_hit: a cache hit, or NULL (a miss: the caller takes the slow
 * path; operator new shares it).
 */
static inline __attribute__((always_inline)) void *
malloc_fast_hit(size_t n)
{
	struct nk_tcache *tc;
	if (NK_LIKELY(n - 1 < nk_malloc_fast_max)) {  /* malloc(0) too takes the slow path */
		unsigned cls = malloc_size_class(n);
		if (NK_LIKELY(nk_tls_tc == NK_TC_PCPU)) {
			/* The per-CPU caches: a class is its zone id. */
			void *p = pcpu_pop((int)cls);
			if (NK_LIKELY(p != NULL)) {
				*(uint64_t *)p = 0;  /* no longer marked free */
				return p;
			}
		} else if (NK_LIKELY((tc = tc_fast()) != NULL)) {
			void *p = slot_pop(&tc->slot[cls]);
			if (NK_LIKELY(p != NULL)) {
				*(uint64_t *)p = 0;
				return p;
			}
		}
	}
	return NULL;
}

static inline __attribute__((always_inline)) void *
malloc_fast(size_t n)
{
	void *p = malloc_fast_hit(n);
	if (NK_LIKELY(p != NULL))
		return p;
	return malloc_slow(n);
}

/*
 * The page's entry in the class map (nk_pclass, page.h) alone says which
 * class a block is of and where its slab starts, so the checks need no slab
 * header: a pointer must be an item's start, and a block already marked
 * free is a double free (free_slow says which, by name).  An item's start
 * is a multiple n = q * d of the class's size d with q below the slab's
 * item count, and one multiplication and one compare say both (after
 * Lemire, Kaser and Kurz, "Faster remainder by direct computation", 2019).
 * With m = floor(2^64 / d) + 1 and
 * e = d * m mod 2^64 (1 <= e <= d), for an offset n < 2^32 in the slab:
 * n * m mod 2^64 is q * e when d divides n, and at least m > 2^48 when it
 * does not (d <= 2^15).  So n is an item's start iff n * m mod 2^64 <
 * ipers * e (below 2^32): nk_class_test's mul and lim, indexed by the
 * class plus one as the map gives it.  free_fast_finish: those checks and
 * the push, once the class is known, for free_fast and free_sized_fast alike; whatever it
 * cannot do goes to free_slow, which starts over.  The common case, a
 * CPU's cache with no home to check, is straight-line code that needs no
 * stack frame; the others are out of line (free_fast_other), and every
 * way out is a tail call.
 */
void free_fast_other(void *p, uintptr_t off, unsigned cls, uint64_t mark);

static inline __attribute__((always_inline)) void
free_fast_finish(void *p, uintptr_t off, unsigned pgidx, unsigned cls1)
{
	uint64_t ioff = ((uintptr_t)p & NK_PAGE_MASK) + ((uint64_t)pgidx << NK_PAGE_SHIFT);
	uint64_t *w = p;
	uint64_t mark = nk_free_cookie ^ (uintptr_t)p;
	if (NK_UNLIKELY(ioff * nk_class_test[NK_TEST_MUL][cls1] >= nk_class_test[NK_TEST_LIM][cls1] ||
	    *w == mark)) {
		free_slow(p);
		return;
	}
	if (NK_LIKELY(nk_tls_tc == nk_free_pcpu_tag)) {
		*w = mark;
		if (NK_LIKELY(pcpu_push_id1(cls1, p)))
			return;
		*w = 0;  /* free_slow starts over and marks it again */
		free_slow(p);
		return;
	}
	free_fast_other(p, off, cls1 - 1, mark);
}

/* cls1: the class plus one from the page class map; 0 (no slab's page) fails the item test. */
static inline __attribute__((always_inline)) void
free_fast(void *p)
{
	uintptr_t off = (uintptr_t)p - nk_kva_base;
	if (NK_LIKELY(off < nk_free_fast_span)) {
		const struct nk_pclass *pc = &nk_pclass[off >> NK_PAGE_SHIFT];
		unsigned cls1 = pc->zid1;
		if (NK_LIKELY(cls1 <= NK_NCLASSES)) {
			free_fast_finish(p, off, pc->pgidx, cls1);
			return;
		}
	}
	free_slow(p);
}

/*
 * A free that is told the size (free_sized, C++'s sized delete).  The size
 * is not trusted: it only says which class to expect, and the block is
 * pushed only if its page's class-map entry names that class, with every
 * check of free_fast.  What it buys is time, not work: the class's tables
 * and the thread's slot are read while the entry is still on its way, off the
 * chain of dependent loads (a 64-byte new/sized-delete pair, bench:
 * about 30% faster though a few instructions longer).  Any other block
 * (a wrong size, an aligned allocation from a larger class, a block realloc
 * shrank in place, a large one) takes free_fast, and is freed as what its
 * page says it is.
 */
static inline __attribute__((always_inline)) void
free_sized_fast(void *p, size_t n)
{
	uintptr_t off = (uintptr_t)p - nk_kva_base;
	if (NK_LIKELY(n <= NK_SMALL_MAX) && NK_LIKELY(off < nk_free_fast_span)) {
		unsigned cls1 = malloc_size_class(n) + 1;
		const struct nk_pclass *pc = &nk_pclass[off >> NK_PAGE_SHIFT];
		if (NK_LIKELY(pc->zid1 == cls1)) {
			free_fast_finish(p, off, pc->pgidx, cls1);
			return;
		}
	}
	free_fast(p);
}

/* The size says the class only when the alignment is malloc's own. */
static inline __attribute__((always_inline)) void
free_aligned_sized_fast(void *p, size_t align, size_t n)
{
	if (NK_LIKELY(align <= 16))
		free_sized_fast(p, n);
	else
		free_fast(p);
}

#endif /* NK_MALLOC_INT_H */
