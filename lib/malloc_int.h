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
extern uint8_t nk_class_lookup[NK_LOOKUP_MAX / 16 + 1];
extern uint64_t nk_free_cookie;   /* marks a freed block (double-free check) */
extern int nk_malloc_first_id;    /* zone id of class 0; classes are consecutive */

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
void  malloc_debug_check(struct nk_zone *z, void *p);
void  malloc_debug_fill(struct nk_zone *z, void *p);

/* A cache hit, or NULL. */
static inline void *
malloc_fast(size_t n)
{
	if (NK_LIKELY(n <= NK_SMALL_MAX)) {
		struct nk_tcache *tc = tc_current();
		if (NK_LIKELY(tc != NULL)) {
			unsigned cls = malloc_size_class(n);
			void *p = cache_alloc_fast(&tc->slot[nk_malloc_first_id + (int)cls]);
			if (NK_LIKELY(p != NULL)) {
				if (NK_UNLIKELY(nk_opt.debug))
					malloc_debug_check(&nk_malloc_zones[cls], p);
				*(uint64_t *)p = 0;  /* no longer marked free */
				return p;
			}
		}
	}
	return malloc_slow(n);
}

static inline void
free_fast(void *p)
{
	if (NK_UNLIKELY(p == NULL))
		return;
	if (NK_LIKELY(kva_contains(p))) {
		struct nk_pdesc *pd = page_desc(p);
		if (NK_LIKELY(pd->flags & PG_SLAB)) {
			struct nk_slab *slab = pd->slab;
			struct nk_keg *k = slab->keg;
			struct nk_zone *z = k->owner;
			if (NK_UNLIKELY(!(z->flags & NK_ZONE_MALLOC)))
				malloc_bad_free(p, "belongs to a zone, not to malloc", z);
			if (NK_UNLIKELY(!keg_item_start(k, slab, p)))
				malloc_bad_free(p, "not the start of a block", z);
			uint64_t *w = p;
			uint64_t mark = nk_free_cookie ^ (uintptr_t)p;
			if (NK_UNLIKELY(*w == mark))
				malloc_bad_free(p, "double free", z);
			*w = mark;
			if (NK_UNLIKELY(nk_opt.debug))
				malloc_debug_fill(z, p);
			struct nk_tcache *tc = tc_current();
			if (NK_LIKELY(tc != NULL) &&
			    cache_free_fast(tc, &tc->slot[z->id], p, z->flags & NK_ZONE_ROUNDROBIN))
				return;
			zone_free_slow(z, p);
			return;
		}
	}
	free_slow(p);
}

#endif /* NK_MALLOC_INT_H */
