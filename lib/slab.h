/*
 * Slabs (uma_slab): a keg's slab layout, the header canary and checked
 * list links, making and freeing a slab's memory, taking items out of a
 * slab.  The functions below the inline checks run with the slab's domain
 * lock held where they say so; keg.c is their only caller.
 */
#ifndef NK_SLAB_H
#define NK_SLAB_H

#include "keg_types.h"

/* The largest slab header: the size of the slab-header zone's items. */
#define KEG_SLAB_HDR_MAX (sizeof(struct nk_slab) + KEG_MAP_WORDS * sizeof(uint64_t))
/* Where off-page headers come from: the slab-header zone, set by zone_bootstrap. */
void keg_set_header_source(const struct nk_item_source *src);

/* Random per process (set by the first keg_init), never zero. */
extern uint64_t nk_slab_cookie;

/* A header that fails its canary, or a list link that does not point back. */
NK_COLD _Noreturn void keg_corrupt(const char *zone, const void *slab, const char *what);

/* Dies with a clear report if the header was overwritten (overflow, stray write). */
static inline void
slab_check(const char *zone, const struct nk_slab *s)
{
	if (NK_UNLIKELY(s->canary != (nk_slab_cookie ^ (uintptr_t)s)))
		keg_corrupt(zone, s, "its header canary was overwritten");
}

/* The slab an item lives in, and whether the pointer is an item's start. */
static inline struct nk_slab *
keg_slab_of(const void *item)
{
	struct nk_pdesc *pd = page_desc(item);
	return (pd->flags & PG_SLAB) ? (struct nk_slab *)pd->slab : NULL;
}
static inline bool
keg_item_start(const struct nk_keg *keg, const struct nk_slab *slab, const void *item)
{
	uint64_t off = (uint64_t)((const char *)item - slab->items);
	uint64_t idx = (off * keg->recip) >> 32;
	return idx < keg->ipers && idx * keg->size == off;
}

/* Sets the cookie: once, by the first keg_init (start-up, one thread). */
void keg_cookie_init(void);
/* Items per slab, pages per slab, where the header goes (keg_init). */
void keg_layout(struct nk_keg *k);
/* List moves of a slab, every link checked; the domain lock held. */
void slab_check_link(struct nk_keg *k, const struct nk_slab *from, const struct nk_slab *to);
void slab_unlink(struct nk_keg *k, struct nk_keg_domain *kd, struct nk_slab *s);
void slab_link(struct nk_keg *k, struct nk_keg_domain *kd, struct nk_slab *s, int list);
/* Puts a slab on the list its free count says. */
void slab_relist(struct nk_keg *k, struct nk_keg_domain *kd, struct nk_slab *s);
/* A new slab on domain (its pages, header and descriptors), not on a list; NULL: none. */
struct nk_slab *keg_alloc_slab(struct nk_keg *k, int domain, int flags);
/* Gives an unlinked empty slab back: fini, descriptors, header, pages. */
void keg_free_slab(struct nk_keg *k, struct nk_slab *s);
/* Unlinks an empty slab onto a release list; the domain lock held. */
void keg_detach_empty(struct nk_keg *k, struct nk_keg_domain *kd, struct nk_slab *s,
                      struct nk_slab **release);
/* Takes up to max items out of one slab; the domain lock held. */
int slab_take(struct nk_keg *k, struct nk_keg_domain *kd, struct nk_slab *s, void **items, int max);

#endif /* NK_SLAB_H */
