/*
 * The malloc layer's fast paths, inline, so that nk_malloc() and the
 * exported malloc() (export.c) are each one short function with no call on
 * a cache hit.  Everything else is out of line in malloc.c.
 */
#ifndef NK_MALLOC_INT_H
#define NK_MALLOC_INT_H

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
void *malloc_debug_alloc(unsigned cls, void *p);
void  free_slow(void *p);
void  free_debug(unsigned cls, void *p);
NK_COLD _Noreturn void malloc_bad_free(const void *p, const char *why, const struct nk_zone *z);
void  malloc_debug_check(struct nk_zone *z, void *p);

/* A cache hit; anything else is malloc_slow's, as a tail call. */
static inline void *
malloc_fast(size_t n)
{
	struct nk_tcache *tc;
	if (NK_LIKELY(n <= NK_SMALL_MAX) && NK_LIKELY((tc = tc_current()) != NULL)) {
		unsigned cls = malloc_size_class(n);
		struct nk_cache_slot *s = &tc->slot[cls];
		if (NK_LIKELY(s->acnt != 0)) {
			void *p = s->alloc->items[--s->acnt];
			if (NK_UNLIKELY(nk_opt.debug))
				return malloc_debug_alloc(cls, p);
			*(uint64_t *)p = 0;  /* no longer marked free */
			return p;
		}
	}
	return malloc_slow(n);
}

/*
 * The descriptor alone says which class a block is of and where its slab
 * starts, so the checks need no slab header: a pointer must be an item's
 * start, and a block already marked free is a double free.
 */
static inline void
free_fast(void *p)
{
	uintptr_t off = (uintptr_t)p - nk_kva_base;
	if (NK_LIKELY(off < nk_kva_span)) {
		struct nk_pdesc *pd = &nk_pdesc[off >> NK_PAGE_SHIFT];
		unsigned cls = pd->zid;
		if (NK_LIKELY((pd->flags & PG_SLAB) && cls < NK_NCLASSES)) {
			uint64_t ioff = ((uintptr_t)p & NK_PAGE_MASK) + ((uint64_t)pd->pgidx << NK_PAGE_SHIFT);
			uint64_t idx = (ioff * nk_class_recip[cls]) >> 32;
			if (NK_UNLIKELY(idx * nk_class_size[cls] != ioff || idx >= nk_class_ipers[cls]))
				malloc_bad_free(p, "not the start of a block", &nk_malloc_zones[cls]);
			uint64_t *w = p;
			uint64_t mark = nk_free_cookie ^ (uintptr_t)p;
			if (NK_UNLIKELY(*w == mark))
				malloc_bad_free(p, "double free", &nk_malloc_zones[cls]);
			*w = mark;
			if (NK_UNLIKELY(nk_opt.debug)) {
				free_debug(cls, p);
				return;
			}
			struct nk_tcache *tc = tc_current();
			if (NK_LIKELY(tc != NULL)) {
				struct nk_cache_slot *s = &tc->slot[cls];
				if (NK_LIKELY(s->fcnt < s->fcap) &&
				    (nk_topo.ndomains == 1 || nk_malloc_rr ||
				    (int)(off >> nk_kva_shift) == tc->domain)) {
					s->free->items[s->fcnt++] = p;
					return;
				}
			}
			zone_free_slow(&nk_malloc_zones[cls], p);
			return;
		}
	}
	if (p != NULL)
		free_slow(p);
}

#endif /* NK_MALLOC_INT_H */
