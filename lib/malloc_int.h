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
#define NK_LOOKUP_MAX   1024

extern struct nk_zone nk_malloc_zones[NK_NCLASSES];
extern uint32_t nk_class_size[NK_NCLASSES];
extern uint32_t nk_class_recip[NK_NCLASSES];  /* ceil(2^32 / size) */
extern uint32_t nk_class_ipers[NK_NCLASSES];
extern uint8_t nk_class_lookup[NK_LOOKUP_MAX / 16 + 1];
extern uint64_t nk_free_cookie;   /* marks a freed block (double-free check) */
extern bool nk_malloc_rr;         /* the classes are round-robin zones */

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

static inline unsigned
malloc_size_class(size_t n)
{
	if (NK_LIKELY(n <= NK_LOOKUP_MAX))
		return nk_class_lookup[(n + 15) >> 4];
	/* n in (2^k, 2^(k+1)]: four steps of 2^(k-2). */
	unsigned k = 63u - (unsigned)__builtin_clzl(n - 1);
	unsigned step_shift = k - 2;
	unsigned j = (unsigned)((n - 1 - ((size_t)1 << k)) >> step_shift);
	return 8 + (k - 7) * 4 + j;
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
 */
static inline __attribute__((always_inline)) void *
malloc_fast(size_t n)
{
	struct nk_tcache *tc;
	if (NK_LIKELY(n <= NK_SMALL_MAX) && NK_LIKELY(!nk_opt.debug)) {
		unsigned cls = malloc_size_class(n);
		if (NK_LIKELY(nk_tls_tc == NK_TC_PCPU)) {
			/* The per-CPU caches: a class is its zone id. */
			void *p = pcpu_pop((int)cls);
			if (NK_LIKELY(p != NULL)) {
				*(uint64_t *)p = 0;  /* no longer marked free */
				return p;
			}
		} else if (NK_LIKELY((tc = tc_fast()) != NULL)) {
			struct nk_cache_slot *s = &tc->slot[cls];
			if (NK_LIKELY(s->acnt != 0)) {
				void *p = s->alloc->items[--s->acnt];
				*(uint64_t *)p = 0;
				return p;
			}
		}
	}
	return malloc_slow(n);
}

/*
 * The descriptor alone says which class a block is of and where its slab
 * starts, so the checks need no slab header: a pointer must be an item's
 * start, and a block already marked free is a double free (free_slow says
 * which, by name).  free_fast_push: those checks and the push, once the
 * class is known, for free_fast and free_sized_fast alike; false when the
 * block must take the slow path.
 */
static inline __attribute__((always_inline)) bool
free_fast_push(void *p, uintptr_t off, const struct nk_pdesc *pd, unsigned cls)
{
	if (NK_UNLIKELY(!(pd->flags & PG_SLAB) || nk_opt.debug))
		return false;
	/* Per CPU, or the thread's cache if the fast paths may use it now. */
	struct nk_tcache *tc = nk_tls_tc;
	bool pcpu = tc == NK_TC_PCPU;
	if (!pcpu && (tc = tc_fast()) == NULL)
		return false;
	uint64_t ioff = ((uintptr_t)p & NK_PAGE_MASK) + ((uint64_t)pd->pgidx << NK_PAGE_SHIFT);
	uint64_t idx = (ioff * nk_class_recip[cls]) >> 32;
	uint64_t *w = p;
	uint64_t mark = nk_free_cookie ^ (uintptr_t)p;
	bool one_home = nk_topo.ndomains == 1 || nk_malloc_rr;
	int home = (int)(off >> nk_kva_shift);
	if (NK_UNLIKELY(idx * nk_class_size[cls] != ioff || idx >= nk_class_ipers[cls] ||
	    *w == mark || (!pcpu && !one_home && home != tc->domain)))
		return false;
	*w = mark;
	/* A CPU's array holds its domain's items only (pcpu_push_dom). */
	if (NK_LIKELY(pcpu ? (one_home ? pcpu_push((int)cls, p) : pcpu_push_dom((int)cls, p, home)) :
	    slot_push(&tc->slot[cls], p)))
		return true;
	*w = 0;  /* free_slow starts over and marks it again */
	return false;
}

static inline __attribute__((always_inline)) void
free_fast(void *p)
{
	uintptr_t off = (uintptr_t)p - nk_kva_base;
	if (NK_LIKELY(off < nk_kva_span)) {
		const struct nk_pdesc *pd = &nk_pdesc[off >> NK_PAGE_SHIFT];
		unsigned cls = pd->zid;
		if (NK_LIKELY(cls < NK_NCLASSES) && NK_LIKELY(free_fast_push(p, off, pd, cls)))
			return;
	}
	free_slow(p);
}

/*
 * A free that is told the size (free_sized, C++'s sized delete).  The size
 * is not trusted: it only says which class to expect, and the block is
 * pushed only if its descriptor names that class, with every check of
 * free_fast.  What it buys is time, not work: the class's tables and the
 * thread's slot are read while the descriptor is still on its way, off the
 * chain of dependent loads (a 64-byte new/sized-delete pair, bench:
 * about 30% faster though a few instructions longer).  Any other block
 * (a wrong size, an aligned allocation from a larger class, a block realloc
 * shrank in place, a large one) takes free_fast, and is freed as what its
 * descriptor says it is.
 */
static inline __attribute__((always_inline)) void
free_sized_fast(void *p, size_t n)
{
	uintptr_t off = (uintptr_t)p - nk_kva_base;
	if (NK_LIKELY(n <= NK_SMALL_MAX) && NK_LIKELY(off < nk_kva_span)) {
		unsigned cls = malloc_size_class(n);
		const struct nk_pdesc *pd = &nk_pdesc[off >> NK_PAGE_SHIFT];
		if (NK_LIKELY(pd->zid == cls) && NK_LIKELY(free_fast_push(p, off, pd, cls)))
			return;
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
