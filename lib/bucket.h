/*
 * Buckets and depots (uma_bucket, uma_zone_domain): a bucket is an array
 * of items; each zone keeps a depot of full and empty buckets per domain.
 * Every depot operation is written once here (zone_put_bucket,
 * zone_depot_take, zone_depot_give, zone_fetch_empty, the trim), and so
 * is the zone's traffic with its keg (zone_import, zone_release).  The
 * zone's bucket size and the depots' bounds follow the working set: misses
 * grow them, the trim shrinks them.
 */
#ifndef NK_BUCKET_H
#define NK_BUCKET_H

#include "zone_types.h"

/*
 * Bucket memory comes from numakeg's bucket zones, which zone.c creates
 * (zone_bootstrap) and hands down as one item source per bucket size:
 * bucket.c never calls the zone API.
 */
#define NK_NBUCKET_SIZES 8
uint16_t bucket_size_cap(unsigned i);       /* items of bucket size i */
size_t bucket_size_bytes(unsigned i);       /* bytes of a bucket of size i */
void bucket_set_sources(const struct nk_item_source src[NK_NBUCKET_SIZES]);

/* An empty bucket of at least cap items (the largest if none is that big); NULL: none. */
struct nk_bucket *bucket_alloc(uint16_t cap);
void bucket_free(struct nk_bucket *b);

/*
 * Items enter the zone from the keg (the secondary zone's init runs) and
 * leave it for the keg (its fini runs).  exact: the domain or nothing.
 */
int zone_import(struct nk_zone *z, int domain, int flags, void **items, int max, bool exact);
void zone_release(struct nk_zone *z, void **items, int n);
/*
 * Items zone_import returned (in address order) put in the order the
 * caches hand them out, the first at the end (arrays and buckets pop from
 * their top): ascending, so that consecutive allocations lie close, and,
 * for items smaller than a cache line, by their offset in the line first
 * within small windows, so that no two consecutive allocations share a
 * line.
 */
void zone_handout_order(const struct nk_zone *z, void **items, int n);
/* One item straight from the keg (no bucket), counted as an allocation on domain. */
void *zone_import_one(struct nk_zone *z, int domain, int flags, bool exact);
/* One item straight back to the keg, counted as a free on the caller's domain. */
void zone_release_one(struct nk_zone *z, void *item);

/*
 * The zone's current bucket size: what the caches' buckets hold and the
 * depot's batch size.  Misses grow it (zone_import_bucket), contention too
 * (UMA's zone_domain_lock), the trim shrinks it; threads read it racily,
 * and any value between the floor and bucket_max is a good one.
 */
static inline uint16_t
zone_bucket_cap(const struct nk_zone *z)
{
	return __atomic_load_n(&z->bucket_cap, __ATOMIC_RELAXED);
}

/*
 * A per-CPU cache's spill of n items (its array ran full: a stream of
 * frees) grows the zone's bucket size to take it in one bucket, up to
 * bucket_max: one depot trade a spill or refill instead of several, and
 * fewer bucket allocations.  The trim shrinks it again.
 */
static inline void
zone_bucket_want(struct nk_zone *z, unsigned n)
{
	uint16_t cap = zone_bucket_cap(z);
	if (cap < n && cap < z->bucket_max)
		__atomic_store_n(&z->bucket_cap, (uint16_t)nk_min(n, (unsigned)z->bucket_max),
		    __ATOMIC_RELAXED);
}

/*
 * A bucket with items into domain d's depot; if the depot is full (or the
 * zone limited) its items go back to the keg instead.  A first-touch depot
 * takes only its own domain's items: a bucket with others goes home
 * through zone_free_cross.  The bucket is the depot's or freed afterwards.
 */
void zone_put_bucket(struct nk_zone *z, int d, struct nk_bucket *b);
/* An empty bucket of at least the zone's current size, from the depot or new; NULL: none. */
struct nk_bucket *zone_fetch_empty(struct nk_zone *z, int d);
/*
 * The per-CPU caches' trades (pcpu.c), whatever the number of buckets they
 * move: two short holds of the depot's lock that move bucket pointers,
 * the items copied between them, outside it:
 * zone_depot_take: up to max items of domain d's depot into buf[0..n),
 * the first bucket's top item last (the next one handed out), the emptied
 * buckets kept as the depot's empties; returns n.  A depot with none is a
 * miss, which grows its bound if it sent items to the keg since the last
 * trim (as zone_alloc_bucket's).
 * zone_depot_give: n items into domain d's depot, in its empty buckets or
 * new ones; what it has no room for goes back to the keg, and items of
 * other domains go home (zone_put_bucket).
 */
int zone_depot_take(struct nk_zone *z, int d, void **buf, int max);
void zone_depot_give(struct nk_zone *z, int d, void **items, int n);
/*
 * A free path's trade in one lock hold: the full bucket into the depot
 * (as zone_put_bucket) and an empty one of the current size back (as
 * zone_fetch_empty); NULL: no empty bucket could be had.
 */
struct nk_bucket *zone_swap_full(struct nk_zone *z, int d, struct nk_bucket *full);
/*
 * An allocating cache's refill (uma's cache_fetch_bucket, then
 * zone_alloc_bucket): a bucket with items from domain d's depot, or, on a
 * miss, filled from the keg in address order (zone_import_bucket).  used:
 * the cache's empty bucket (may be NULL), kept, reused or freed.  stream:
 * the cache used up that bucket soon after it was refilled (the caller
 * judges), which on a miss grows the zone's bucket size.  NULL with errno:
 * no item, or no bucket memory (the caller may still try one item straight
 * from the keg).
 */
struct nk_bucket *zone_alloc_bucket(struct nk_zone *z, int d, int flags, struct nk_bucket *used,
                                    bool stream);
/*
 * The miss path alone: a bucket filled from the keg, reversed so that
 * consecutive allocations ascend.  A stream's miss doubles the zone's
 * bucket size first (up to bucket_max, if used was of the current size)
 * and fills the bucket to the brim, several slabs per keg call; another
 * miss takes what one keg call gives, a first refill (used NULL) at most
 * 32 items.  used is refilled if big enough, else freed; NULL with errno as
 * above.
 */
struct nk_bucket *zone_import_bucket(struct nk_zone *z, int d, int flags, struct nk_bucket *used,
                                     bool stream);
/* Sends a bucket of items of other domains to their own depots; it is left empty. */
void zone_free_cross(struct nk_zone *z, struct nk_bucket *b);

/*
 * Gives back what the depot held beyond its working set since the last
 * trim (all: everything); if that was anything, the working set dropped and
 * the zone's bucket size shrinks by a quarter (not below a floor).
 */
void zone_trim_depot(struct nk_zone *z, int d, bool all);
/* Every NUMAKEG_TRIM_MS, one thread trims the zone's depots on a slow path: true in that one. */
bool zone_maybe_trim(struct nk_zone *z);

#endif /* NK_BUCKET_H */
