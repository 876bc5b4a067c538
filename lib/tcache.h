/*
 * Thread caches (uma_cache, made per thread): a slot per zone with an alloc,
 * a free and a cross-domain bucket; made on a thread's first slow path,
 * sent home when the thread moves domains, flushed when it exits.
 */
#ifndef NK_TCACHE_H
#define NK_TCACHE_H

#include "bucket.h"
#include "registry.h"

/*
 * The memory of struct nk_tcache and of the out-of-line slot chunks comes
 * from numakeg's own zones, which zone.c creates and hands down here at
 * start-up; the destructor that flushes an exiting thread's cache is
 * registered here too.
 */
void tc_bootstrap(const struct nk_item_source *caches, const struct nk_item_source *chunks);

/*
 * The slow paths' way to the caller's cache: made on first use, and sent
 * home first if the thread runs on another domain now (so a first-touch
 * zone keeps its promise).  NULL while none can be had (start-up, thread
 * exit, no memory): the caller goes uncached.  The fast paths use tc_fast.
 */
struct nk_tcache *tc_get(void);
/* The caller's slot for zone id, made if need be; NULL: no cache (go uncached). */
struct nk_cache_slot *tc_get_slot(int id, struct nk_tcache **tcp);

/*
 * A cached allocation: the alloc bucket, the free bucket, a bucket from
 * the depot, then a new bucket filled from the keg (uma's cache_alloc).
 * NULL with errno when none of them had an item.
 */
void *tc_alloc(struct nk_zone *z, struct nk_tcache *tc, struct nk_cache_slot *s, int flags);
/*
 * A cached free: the slot's buckets, a trade at the depot, or the cross
 * bucket for another domain's item.  false: no bucket could be had, and the
 * caller frees the item uncached.
 */
bool tc_free(struct nk_zone *z, struct nk_tcache *tc, struct nk_cache_slot *s, void *item);

/* NUMAKEG_SECURE: the item's slab header, its start, and not already cached. */
void tc_secure_free_check(const struct nk_cache_slot *s, void *item);

/* The calling thread's slot of z, emptied into the depots. */
void tc_flush_own(struct nk_zone *z);
/* Every thread's slot of z, emptied: the registry lock held, z unregistered. */
void tc_flush_zone(struct nk_zone *z);

/* Counts not yet in z's domain-d depot: the caches of threads on domain d. */
void tc_zone_counts(struct nk_zone *z, int d, uint64_t *allocs, uint64_t *frees,
                    uint64_t *xdomain);
/* Items in the alloc and free buckets of the caches of threads on domain d. */
uint64_t tc_zone_items(struct nk_zone *z, int d);

/* In the fork child: the other threads' caches are dropped, their counts kept. */
void tc_fork_child(void);

#endif /* NK_TCACHE_H */
