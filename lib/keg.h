/*
 * Kegs: slabs of one item size, per-domain partial/full/free slab lists,
 * the domain policy (first-touch with fallback by distance, round-robin),
 * the reserve and NK_USE_RESERVE, init/fini, NOFREE kegs (uma_keg).  The
 * data is in keg_types.h, the slab mechanics in slab.h.
 */
#ifndef NK_KEG_H
#define NK_KEG_H

#include "slab.h"

/*
 * dom: memory for nk_topo.ndomains struct nk_keg_domain, cache-aligned,
 * which the keg uses until it is gone (the caller's: a keg does not know
 * where it lives).
 */
int  keg_init(struct nk_keg *keg, struct nk_keg_domain *dom, const char *name, size_t size,
              int align, nk_init_t init, nk_fini_t fini, uint32_t zflags,
              enum nk_lock_rank rank);
void keg_fini(struct nk_keg *keg);
/*
 * Up to max items for a caller on domain, by the keg's policy.  Returns the
 * count; 0 with errno ENOMEM when nothing could be had.
 */
int  keg_alloc_items(struct nk_keg *keg, int domain, int flags, void **items, int max);
/* Exactly this domain first, then fallback by distance (zalloc_domain). */
int  keg_alloc_items_domain(struct nk_keg *keg, int domain, int flags, void **items, int max);
void keg_free_items(struct nk_keg *keg, void **items, int n);
int  keg_prealloc(struct nk_keg *keg, int nitems);
int  keg_prealloc_domain(struct nk_keg *keg, int domain, int nitems);
/* Frees every empty slab the reserve does not need. */
void keg_drain(struct nk_keg *keg);
int64_t keg_free_count(struct nk_keg *keg);

void keg_fork_prepare(struct nk_keg *keg);
void keg_fork_parent(struct nk_keg *keg);
void keg_fork_child(struct nk_keg *keg);

#endif /* NK_KEG_H */
