/*
 * Buckets and depots (uma_bucket, uma_zone_domain): a bucket is an array
 * of items; each zone keeps a depot of full and empty buckets per domain.
 * Every depot operation is written once here (zone_put_bucket,
 * zone_fetch_bucket, zone_fetch_empty, the trim), and so is the zone's
 * traffic with its keg (zone_import, zone_release).
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
/* One item straight from the keg (no bucket), counted as an allocation on domain. */
void *zone_import_one(struct nk_zone *z, int domain, int flags, bool exact);
/* One item straight back to the keg, counted as a free on the caller's domain. */
void zone_release_one(struct nk_zone *z, void *item);

/*
 * A bucket with items into domain d's depot; if the depot is full (or the
 * zone limited) its items go back to the keg instead.  A first-touch depot
 * takes only its own domain's items: a bucket with others goes home
 * through zone_free_cross.  The bucket is the depot's or freed afterwards.
 */
void zone_put_bucket(struct nk_zone *z, int d, struct nk_bucket *b);
/*
 * A bucket with items from domain d's depot, or NULL; the caller's empty
 * bucket (may be NULL) is kept by the depot or freed.
 */
struct nk_bucket *zone_fetch_bucket(struct nk_zone *z, int d, struct nk_bucket *empty);
/* An empty bucket of at least the zone's current size, from the depot or new; NULL: none. */
struct nk_bucket *zone_fetch_empty(struct nk_zone *z, int d);
/* An empty bucket back to domain d's depot (kept for zone_fetch_empty), or freed. */
void zone_put_empty(struct nk_zone *z, int d, struct nk_bucket *b);
/* Sends a bucket of items of other domains to their own depots; it is left empty. */
void zone_free_cross(struct nk_zone *z, struct nk_bucket *b);

/* Gives back what the depot held beyond its working set since the last trim; all: everything. */
void zone_trim_depot(struct nk_zone *z, int d, bool all);
/* Every NUMAKEG_TRIM_MS, one thread trims the zone's depots on a slow path: true in that one. */
bool zone_maybe_trim(struct nk_zone *z);

#endif /* NK_BUCKET_H */
