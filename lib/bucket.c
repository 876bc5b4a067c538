/*
 * Buckets and depots (bucket.h).  Layering: bucket.c calls the keg (items
 * in and out of slabs) and the lock layer; it never calls the thread caches
 * or the zone API above it, and its bucket memory comes through the item
 * sources zone.c hands down at start-up.
 */
#include "bucket.h"

static const uint16_t bucket_caps[NK_NBUCKET_SIZES] = { 2, 4, 8, 16, 32, 64, 128, 256 };
static struct nk_item_source bucket_src[NK_NBUCKET_SIZES];

/*
 * A depot holds at most this many bytes of items, or two of the zone's
 * largest buckets if that is more: beyond it items go back to their slabs,
 * which hand them out again in address order.  Bigger depots cost
 * locality: items come back in the order they were freed, scattered over
 * many pages.
 */
#define DEPOT_MAX_BYTES   ((uint64_t)512 << 10)
/* Empty buckets a depot keeps for threads that need one: enough for a few
 * threads' trades, few enough not to hold memory. */
#define DEPOT_MAX_EMPTY   8
/* A trim shrinks the bucket size by a quarter, but not below this (or the
 * zone's largest): small buckets mean a trip to the depot every few items. */
#define BUCKET_CAP_FLOOR  8

_Static_assert(NK_BUCKET_MAX == 256, "the largest bucket size is the depot's largest");

uint16_t
bucket_size_cap(unsigned i)
{
	return bucket_caps[i];
}

size_t
bucket_size_bytes(unsigned i)
{
	return sizeof(struct nk_bucket) + bucket_caps[i] * sizeof(void *);
}

void
bucket_set_sources(const struct nk_item_source src[NK_NBUCKET_SIZES])
{
	for (unsigned i = 0; i < NK_NBUCKET_SIZES; i++)
		bucket_src[i] = src[i];
}

struct nk_bucket *
bucket_alloc(uint16_t cap)
{
	unsigned i = 0;
	while (i < NK_NBUCKET_SIZES - 1 && bucket_caps[i] < cap)
		i++;
	struct nk_bucket *b = bucket_src[i].alloc(bucket_src[i].ctx, NK_NOWAIT);
	if (b != NULL) {
		b->cnt = 0;
		b->cap = bucket_caps[i];
		b->next = NULL;
	}
	return b;
}

void
bucket_free(struct nk_bucket *b)
{
	unsigned i = 0;
	while (bucket_caps[i] != b->cap)
		i++;
	bucket_src[i].free(bucket_src[i].ctx, b);
}

/* ---- The zone and its keg ---- */

void
zone_release(struct nk_zone *z, void **items, int n)
{
	if (n == 0)
		return;
	if (z->zfini)
		for (int i = 0; i < n; i++)
			z->zfini(items[i], z->size);
	keg_free_items(z->keg, items, n);
}

int
zone_import(struct nk_zone *z, int domain, int flags, void **items, int max, bool exact)
{
	int n = exact ? keg_alloc_items_domain(z->keg, domain, flags, items, max)
	              : keg_alloc_items(z->keg, domain, flags, items, max);
	if (n == 0)
		return 0;
	if (z->zinit) {
		int kept = 0;
		for (int i = 0; i < n; i++) {
			if (z->zinit(items[i], z->size, flags) == 0)
				items[kept++] = items[i];
			else
				keg_free_items(z->keg, &items[i], 1);
		}
		n = kept;
		if (n == 0)
			errno = ENOMEM;
	}
	return n;
}

void *
zone_import_one(struct nk_zone *z, int domain, int flags, bool exact)
{
	void *item;
	if (zone_import(z, domain, flags, &item, 1, exact) == 0)
		return NULL;
	__atomic_add_fetch(&z->depot[domain].allocs, 1, __ATOMIC_RELAXED);
	return item;
}

void
zone_release_one(struct nk_zone *z, void *item)
{
	int d = topo_current_domain();
	__atomic_add_fetch(&z->depot[d].frees, 1, __ATOMIC_RELAXED);
	if (nk_topo.ndomains > 1 && kva_domain_of(item) != d)
		__atomic_add_fetch(&z->depot[d].xdomain, 1, __ATOMIC_RELAXED);
	zone_release(z, &item, 1);
}

/* A bucket's items back to the keg, and the bucket freed. */
static void
zone_release_bucket(struct nk_zone *z, struct nk_bucket *b)
{
	zone_release(z, b->items, b->cnt);
	b->cnt = 0;
	bucket_free(b);
}

/* ---- Depots ---- */

static uint64_t
zone_depot_max(const struct nk_zone *z)
{
	return nk_max((uint64_t)z->bucket_max * 2, DEPOT_MAX_BYTES / z->size);
}

/* Takes a depot's lock; contention makes the zone's buckets bigger, so
 * threads come here less often (UMA's zone_domain_lock). */
static void
depot_lock(struct nk_zone *z, struct nk_depot *dep)
{
	if (!nk_trylock(&dep->lock)) {
		if (z->bucket_cap < z->bucket_max)
			z->bucket_cap = (uint16_t)nk_min(z->bucket_cap * 2, z->bucket_max);
		nk_lock(&dep->lock);
	}
}

void
zone_put_bucket(struct nk_zone *z, int d, struct nk_bucket *b)
{
	struct nk_depot *dep = &z->depot[d];
	NK_ASSERT(b->cnt > 0 && b->cnt <= b->cap, "a bucket with a bad count");
	NK_ASSERT(d >= 0 && d < nk_topo.ndomains, "bad domain");
	if (z->flags & NK_ZONE_LIMITED) {
		zone_release_bucket(z, b);
		return;
	}
	if (nk_topo.ndomains > 1 && !(z->flags & NK_ZONE_ROUNDROBIN)) {
		/*
		 * A first-touch depot holds its own domain's items only.  A
		 * bucket filled by a fallback (this domain was full) holds
		 * another's: its items go home instead.
		 */
		for (int i = 0; i < b->cnt; i++)
			if (kva_domain_of(b->items[i]) != d) {
				zone_free_cross(z, b);
				bucket_free(b);
				return;
			}
	}
	depot_lock(z, dep);
	if (dep->nitems + b->cnt > zone_depot_max(z)) {
		nk_unlock(&dep->lock);
		zone_release_bucket(z, b);
		return;
	}
	b->next = dep->full;
	dep->full = b;
	dep->nitems += b->cnt;
	nk_unlock(&dep->lock);
}

struct nk_bucket *
zone_fetch_bucket(struct nk_zone *z, int d, struct nk_bucket *empty)
{
	struct nk_depot *dep = &z->depot[d];
	depot_lock(z, dep);
	struct nk_bucket *b = dep->full;
	if (b != NULL) {
		dep->full = b->next;
		dep->nitems -= b->cnt;
		if (dep->nitems < dep->imin)
			dep->imin = dep->nitems;
	}
	if (empty != NULL && dep->nempty < DEPOT_MAX_EMPTY) {
		empty->next = dep->empty;
		dep->empty = empty;
		dep->nempty++;
		empty = NULL;
	}
	nk_unlock(&dep->lock);
	if (empty != NULL)
		bucket_free(empty);
	return b;
}

struct nk_bucket *
zone_fetch_empty(struct nk_zone *z, int d)
{
	struct nk_depot *dep = &z->depot[d];
	struct nk_bucket *empty = NULL;
	nk_lock(&dep->lock);
	if (dep->empty != NULL && dep->empty->cap >= z->bucket_cap) {
		empty = dep->empty;
		dep->empty = empty->next;
		dep->nempty--;
	}
	nk_unlock(&dep->lock);
	if (empty == NULL)
		empty = bucket_alloc(z->bucket_cap);
	if (empty != NULL)
		empty->cnt = 0;
	return empty;
}

void
zone_put_empty(struct nk_zone *z, int d, struct nk_bucket *b)
{
	struct nk_depot *dep = &z->depot[d];
	NK_ASSERT(b->cnt == 0, "an empty bucket with items");
	nk_lock(&dep->lock);
	if (dep->nempty < DEPOT_MAX_EMPTY) {
		b->next = dep->empty;
		dep->empty = b;
		dep->nempty++;
		b = NULL;
	}
	nk_unlock(&dep->lock);
	if (b != NULL)
		bucket_free(b);
}

void
zone_free_cross(struct nk_zone *z, struct nk_bucket *b)
{
	while (b->cnt > 0) {
		int home = kva_domain_of(b->items[b->cnt - 1]);
		struct nk_bucket *nb = bucket_alloc(z->bucket_cap);
		/* Gather this domain's items; the rest stay for the next round. */
		int kept = 0;
		for (int i = 0; i < b->cnt; i++) {
			void *it = b->items[i];
			if (kva_domain_of(it) == home && nb != NULL && nb->cnt < nb->cap)
				nb->items[nb->cnt++] = it;
			else if (kva_domain_of(it) == home && nb == NULL)
				zone_release(z, &it, 1);
			else
				b->items[kept++] = it;
		}
		b->cnt = (uint16_t)kept;
		if (nb != NULL) {
			if (nb->cnt > 0)
				zone_put_bucket(z, home, nb);
			else
				bucket_free(nb);
		}
	}
}

/* ---- Trimming, inline (no daemon) ---- */

void
zone_trim_depot(struct nk_zone *z, int d, bool all)
{
	struct nk_depot *dep = &z->depot[d];
	struct nk_bucket *release = NULL, *empties = NULL;
	nk_lock(&dep->lock);
	uint64_t excess = all ? dep->nitems : dep->imin;
	uint64_t freed = 0;
	while (dep->full != NULL && freed < excess) {
		struct nk_bucket *b = dep->full;
		dep->full = b->next;
		dep->nitems -= b->cnt;
		freed += b->cnt;
		b->next = release;
		release = b;
	}
	if (all || freed > 0) {
		empties = dep->empty;
		dep->empty = NULL;
		dep->nempty = 0;
	}
	dep->imin = dep->nitems;
	nk_unlock(&dep->lock);
	while (release != NULL) {
		struct nk_bucket *b = release;
		release = b->next;
		zone_release_bucket(z, b);
	}
	while (empties != NULL) {
		struct nk_bucket *b = empties;
		empties = b->next;
		bucket_free(b);
	}
	if (freed > 0 && !all && z->bucket_cap > nk_min(z->bucket_max, BUCKET_CAP_FLOOR))
		z->bucket_cap = (uint16_t)(z->bucket_cap - z->bucket_cap / 4);
}

bool
zone_maybe_trim(struct nk_zone *z)
{
	uint64_t now = nk_now_ns();
	uint64_t last = __atomic_load_n(&z->last_trim_ns, __ATOMIC_RELAXED);
	if (now - last < nk_opt.trim_ms * 1000000u)
		return false;
	/* One thread trims; the others go on. */
	if (!__atomic_compare_exchange_n(&z->last_trim_ns, &last, now, false,
	    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return false;
	for (int d = 0; d < nk_topo.ndomains; d++)
		zone_trim_depot(z, d, false);
	keg_drain(z->keg);
	return true;
}
