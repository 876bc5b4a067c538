/*
 * The zone layer's start-up and fork (zone.h): numakeg's own zones (map
 * entries, slab headers, buckets, thread caches), handed down as item
 * sources to the layers that need memory for their own structures, and
 * the fork handlers that take every zone, depot and keg lock.
 *
 * Layering: zone_boot.c sits on top of the zone layer: it calls zone.c
 * (zone_setup, nk_zalloc), the lower files' registration calls (kva, keg,
 * bucket, tcache) and the page layer (the map-entry slabs' accounting).
 * Only init.c calls it.
 */
#include "zone_boot.h"

static struct nk_zone bucket_zones[NK_NBUCKET_SIZES];
static struct nk_keg bucket_kegs[NK_NBUCKET_SIZES];
static struct nk_zone tc_zone, tc_ext_zone, slab_hdr_zone, kva_entry_zone;
static struct nk_keg tc_keg, tc_ext_keg, slab_hdr_keg, kva_entry_keg;

static void *
zone_source_alloc(void *zone, int flags)
{
	return nk_zalloc(zone, flags);
}

static void
zone_source_free(void *zone, void *item)
{
	nk_zfree(zone, item);
}

static struct nk_item_source
zone_source(struct nk_zone *z)
{
	return (struct nk_item_source){ zone_source_alloc, zone_source_free, z };
}

/* The KVA map's tags (kva.h, struct kva_entry_ops): reserved items only. */
static void *
kva_entry_alloc(void)
{
	return nk_zalloc(&kva_entry_zone, NK_NOWAIT | NK_USE_RESERVE | NK_NOVM);
}

static void
kva_entry_free(void *tag)
{
	nk_zfree(&kva_entry_zone, tag);
}

static int64_t
kva_entry_free_count(void)
{
	return keg_free_count(&kva_entry_keg);
}

static void
kva_entry_refill(int domain, int count)
{
	(void)keg_prealloc_domain(&kva_entry_keg, domain, count);
}

static void kva_entry_fork_prepare(void) { keg_fork_prepare(&kva_entry_keg); }
static void kva_entry_fork_parent(void) { keg_fork_parent(&kva_entry_keg); }
static void kva_entry_fork_child(void) { keg_fork_child(&kva_entry_keg); }

/* The entry keg's slabs: the map's own address space, counted against the domain. */
static void *
kva_entry_slab(struct nk_keg *keg, int domain, size_t bytes, bool *zeroed)
{
	void *mem = kva_entry_slab_alloc(keg, domain, bytes, zeroed);
	if (mem != NULL)
		page_account_meta(domain, bytes);
	return mem;
}

static void
zone_internal(struct nk_zone *z, struct nk_keg *keg, const char *name, size_t size,
    int align, uint32_t zflags, enum nk_lock_rank rank)
{
	zflags |= NK_ZONE_NOBUCKET | NK_ZONE_INTERNAL;
	if (zone_setup(z, keg, zone_static_domains(1, zflags), -1, name, size, NULL, NULL, NULL,
	    NULL, align, zflags, rank) != 0)
		nk_panic("cannot create zone %s", name);
}

/*
 * The order matters: the map-entry zone first (every later slab may need a
 * tag), then the slab-header zone (off-page kegs need it), then buckets and
 * thread caches (doc/DESIGN.md, "Start-up").
 */
void
zone_bootstrap(void)
{
	zone_registry_init();

	zone_internal(&kva_entry_zone, &kva_entry_keg, "kva-entry", kva_entry_size(),
	    NK_ALIGN_PTR, NK_ZONE_NOFREE, NK_RANK_ENTRY_KEG);
	kva_entry_keg.allocf = kva_entry_slab;
	kva_entry_keg.reserve = KVA_ENTRY_RESERVE / 2;
	static const struct kva_entry_ops entry_ops = {
		kva_entry_alloc, kva_entry_free, kva_entry_free_count, kva_entry_refill,
		kva_entry_fork_prepare, kva_entry_fork_parent, kva_entry_fork_child,
	};
	kva_set_entry_ops(&entry_ops);

	zone_internal(&slab_hdr_zone, &slab_hdr_keg, "slab-header", KEG_SLAB_HDR_MAX,
	    NK_ALIGN_PTR, KEG_INPAGE_ONLY, NK_RANK_KEG);
	struct nk_item_source hdr = zone_source(&slab_hdr_zone);
	keg_set_header_source(&hdr);

	struct nk_item_source buckets[NK_NBUCKET_SIZES];
	for (unsigned i = 0; i < NK_NBUCKET_SIZES; i++) {
		char name[24];
		nk_name_number(name, sizeof(name), "bucket-", bucket_size_cap(i));
		zone_internal(&bucket_zones[i], &bucket_kegs[i], name, bucket_size_bytes(i),
		    NK_ALIGN_PTR, 0, NK_RANK_KEG);
		buckets[i] = zone_source(&bucket_zones[i]);
	}
	bucket_set_sources(buckets);

	zone_internal(&tc_zone, &tc_keg, "thread-cache", sizeof(struct nk_tcache),
	    NK_ALIGN_CACHE, 0, NK_RANK_KEG);
	zone_internal(&tc_ext_zone, &tc_ext_keg, "thread-cache-ext",
	    NK_TC_INLINE * sizeof(struct nk_cache_slot), NK_ALIGN_CACHE, 0, NK_RANK_KEG);
	zone_api_bootstrap();
	struct nk_item_source caches = zone_source(&tc_zone), chunks = zone_source(&tc_ext_zone);
	tc_bootstrap(&caches, &chunks);
}

/* ---- fork ---- */

/* Every zone lock, depot lock and keg lock, outermost first. */
void
zone_fork_prepare(void)
{
	zone_registry_fork_prepare();
	for (struct nk_zone *z = nk_zone_list; z; z = z->next) {
		pthread_mutex_lock(&z->lock.mtx);
		for (int d = 0; d < nk_topo.ndomains; d++)
			pthread_mutex_lock(&z->depot[d].lock.mtx);
	}
	/* Every keg once, by any of its zones: a secondary zone's keg may have
	 * lost its primary zone (keg_fork_* skip a keg already done).  The
	 * map-entry keg is the KVA layer's to take, inside its map locks. */
	for (struct nk_zone *z = nk_zone_list; z; z = z->next)
		if (z->keg->dom[0].lock.rank == NK_RANK_KEG)
			keg_fork_prepare(z->keg);
}

void
zone_fork_parent(void)
{
	for (struct nk_zone *z = nk_zone_list; z; z = z->next)
		if (z->keg->dom[0].lock.rank == NK_RANK_KEG)
			keg_fork_parent(z->keg);
	for (struct nk_zone *z = nk_zone_list; z; z = z->next) {
		for (int d = 0; d < nk_topo.ndomains; d++)
			pthread_mutex_unlock(&z->depot[d].lock.mtx);
		pthread_mutex_unlock(&z->lock.mtx);
	}
	zone_registry_fork_parent();
}

/* The locks reset, then the other threads' caches dropped (tc_fork_child). */
void
zone_fork_child(void)
{
	for (struct nk_zone *z = nk_zone_list; z; z = z->next) {
		if (z->keg->dom[0].lock.rank == NK_RANK_KEG)
			keg_fork_child(z->keg);
		for (int d = 0; d < nk_topo.ndomains; d++)
			nk_lock_reinit(&z->depot[d].lock);
		nk_lock_reinit(&z->lock);
		pthread_cond_init(&z->cv, NULL);
		z->sleepers = 0;
	}
	zone_registry_fork_child();
	tc_fork_child();
}
