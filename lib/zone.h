/*
 * Zones: the front end (uma_zone), the top of the zone layer.  ctor/dtor,
 * the allocation tiers, limits with sleeping NK_WAITOK, secondary zones
 * sharing a keg, drain and reclaim, numakeg's own zones, and the zone
 * layer's part of fork.  The data is in zone_types.h; the depots in
 * bucket.h, the thread caches in tcache.h, the registry in registry.h:
 * this header brings them all, for the layers above.
 */
#ifndef NK_ZONE_H
#define NK_ZONE_H

#include "tcache.h"

/*
 * Internal zones live in static storage with their keg.  keg_rank is the
 * keg's lock rank (NK_RANK_KEG, or NK_RANK_ENTRY_KEG for the KVA map's).
 * domain_mem: zone_domain_bytes(zflags), cache-aligned, for the zone's
 * depots and its keg's domains, one of each per domain; the zone keeps it.
 * id: the zone id a malloc class must have (its class), or -1
 * (zone_register).
 */
int zone_setup(struct nk_zone *z, struct nk_keg *keg, void *domain_mem, int id,
               const char *name, size_t size, nk_ctor_t ctor, nk_dtor_t dtor,
               nk_init_t init, nk_fini_t fini, int align, uint32_t zflags,
               enum nk_lock_rank keg_rank);
/* The bytes of a zone's per-domain arrays: nk_topo.ndomains depots, and as
 * many keg domains unless zflags has NK_ZONE_SECONDARY. */
size_t zone_domain_bytes(uint32_t zflags);
/*
 * The per-domain arrays of nzones static zones, one after the other, from
 * the boot arena: numakeg's own zones and malloc's classes, made while it
 * starts (the starting thread only).  Packed, so the zones made at every
 * process start touch a few pages, not one per zone.
 */
void *zone_static_domains(int nzones, uint32_t zflags);
/* zone.c's part of the start-up (zone_boot.h): the zone user zones come from. */
void zone_api_bootstrap(void);

/*
 * The free slow path, for a layer above whose fast path declined (malloc's
 * free_slow): item is not NULL and its dtor, if any, has run.  It goes into
 * the caller's cache (made on first use), home to its domain's depot if it
 * is another domain's, or straight to the keg.
 */
void zone_free_slow(struct nk_zone *z, void *item);

/*
 * Called by nk_reclaim() for the calling thread, after the zones are
 * drained: a layer above gives back what it caches itself (large.c's runs).
 */
void zone_set_reclaim_hook(void (*hook)(void));

/* Per-domain counters: what the stats layer prints. */
void zone_domain_counts(struct nk_zone *z, int domain, uint64_t *allocs,
                        uint64_t *frees, uint64_t *xdomain);
/* Failed allocations and sleeps (limit or memory) of requests on a domain. */
void zone_domain_events(struct nk_zone *z, int domain, uint64_t *fails, uint64_t *sleeps);
/* Items in the alloc and free buckets of the caches of threads on a domain. */
uint64_t zone_domain_tc_items(struct nk_zone *z, int domain);
/*
 * Called on the allocation and free slow paths of the program's zones (never
 * numakeg's own, which run under locks), with no lock held, while set:
 * the stats layer above sets it for live dumps (zone.c never calls upward).
 */
extern void (*zone_slow_hook)(void);

#endif /* NK_ZONE_H */
