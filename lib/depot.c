/*
 * Depots (bucket.h; UMA's uma_zone_domain): each zone's full and empty
 * buckets per domain, every trade with them written once (the thread
 * caches' zone_put_bucket, zone_fetch_empty, zone_swap_full and
 * zone_alloc_bucket, the per-CPU caches' zone_depot_take and
 * zone_depot_give), the miss path that fills a bucket from the keg, and
 * the trim; and how big buckets and depots are: the zone's bucket size and
 * each depot's bound grow on misses and shrink in the trim (doc/DESIGN.md,
 * "Bucket sizes follow the working set").  Layering: depot.c calls
 * bucket.c (bucket memory, the keg's traffic), the keg and the lock layer;
 * never the caches or the zone API above it.
 */
#include "bucket_int.h"

/*
 * A depot holds at most this many bytes of items, or two of the zone's
 * largest buckets if that is more: beyond it items go back to their slabs,
 * which hand them out again in address order.  Bigger depots cost
 * locality: items come back in the order they were freed, scattered over
 * many pages.
 */
#define DEPOT_MAX_BYTES   ((uint64_t)512 << 10)
/*
 * ... unless the working set is bigger: a miss after the depot sent items
 * back to the keg since the last trim (the program wanted them again) doubles
 * the depot's bound, up to this; the trim brings it back down.  Each item
 * sent to its slab and taken again costs about ten times a depot round trip
 * (keg_free_items, the slab lists, often a slab freed and made again):
 * batches of 10000 blocks of 256 B ran 1.4x slower per block than batches of
 * 1000 (bench/batch.c).
 */
#define DEPOT_GROWN_MAX_BYTES ((uint64_t)8 << 20)
/* Empty buckets a depot keeps for threads that need one: enough for a few
 * threads' trades, few enough not to hold memory. */
#define DEPOT_MAX_EMPTY   8
/* A trim shrinks the bucket size by a quarter, but not below this (or the
 * zone's largest): small buckets mean a trip to the depot every few items. */
#define BUCKET_CAP_FLOOR  8
/* A cache's first refill takes at most this many items (zone_import_bucket):
 * zone.c's first bucket size, NK_BUCKET_START. */
#define BUCKET_FIRST_FILL 32

/* ---- Depots ---- */

/* The depot's bound when the working set fits: DEPOT_MAX_BYTES. */
static uint64_t
zone_depot_base(const struct nk_zone *z)
{
	return nk_max((uint64_t)z->bucket_max * 2, DEPOT_MAX_BYTES / z->size);
}

/* Items domain d's depot may hold now: the base, or more once grown. */
static uint64_t
depot_limit(const struct nk_zone *z, const struct nk_depot *dep)
{
	return nk_max(dep->limit, zone_depot_base(z));
}

/*
 * A miss found the depot empty after it had turned buckets away since the
 * last trim: the working set is bigger than the bound, which doubles (up to
 * DEPOT_GROWN_MAX_BYTES).
 */
static void
depot_grow_on_miss(const struct nk_zone *z, struct nk_depot *dep)
{
	NK_LOCK_ASSERT_OWNED(&dep->lock);
	if (dep->overflows == 0)
		return;
	dep->overflows = 0;
	uint64_t top = nk_max(DEPOT_GROWN_MAX_BYTES / z->size, zone_depot_base(z));
	dep->limit = nk_min(depot_limit(z, dep) * 2, top);
}

/* Takes a depot's lock; contention makes the zone's buckets bigger, so
 * threads come here less often (UMA's zone_domain_lock). */
static void
depot_lock(struct nk_zone *z, struct nk_depot *dep)
{
	if (!nk_trylock(&dep->lock)) {
		uint16_t cap = zone_bucket_cap(z);
		if (cap < z->bucket_max)
			__atomic_store_n(&z->bucket_cap, (uint16_t)nk_min(cap * 2, z->bucket_max),
			    __ATOMIC_RELAXED);
		nk_lock(&dep->lock);
	}
}

/*
 * Whether a bucket may enter domain d's depot as it is: a first-touch depot
 * holds its own domain's items only, and a bucket filled by a fallback
 * (this domain was full) holds another's.
 */
static bool
bucket_is_home(const struct nk_zone *z, int d, const struct nk_bucket *b)
{
	if (nk_topo.ndomains == 1 || (z->flags & NK_ZONE_ROUNDROBIN))
		return true;
	for (int i = 0; i < b->cnt; i++)
		if (kva_domain_of(b->items[i]) != d)
			return false;
	return true;
}

/* Pushes a bucket with items; false (nothing changed) if the depot is full. */
static bool
depot_push_full(struct nk_zone *z, struct nk_depot *dep, struct nk_bucket *b)
{
	NK_LOCK_ASSERT_OWNED(&dep->lock);
	if (dep->nitems + b->cnt > depot_limit(z, dep)) {
		dep->overflows++;
		return false;
	}
	b->next = dep->full;
	dep->full = b;
	dep->nitems += b->cnt;
	return true;
}

/* Pops a bucket with items, or NULL; the working-set minimum follows. */
static struct nk_bucket *
depot_pop_full(struct nk_depot *dep)
{
	NK_LOCK_ASSERT_OWNED(&dep->lock);
	struct nk_bucket *b = dep->full;
	if (b != NULL) {
		bucket_check(b);
		dep->full = b->next;
		dep->nitems -= b->cnt;
		if (dep->nitems < dep->imin)
			dep->imin = dep->nitems;
	}
	return b;
}

/* Keeps an empty bucket for a later trade; false if the depot has enough. */
static bool
depot_push_empty(struct nk_depot *dep, struct nk_bucket *empty)
{
	NK_LOCK_ASSERT_OWNED(&dep->lock);
	if (dep->nempty >= DEPOT_MAX_EMPTY)
		return false;
	empty->next = dep->empty;
	dep->empty = empty;
	dep->nempty++;
	return true;
}

/* An empty bucket of at least cap items, or NULL. */
static struct nk_bucket *
depot_pop_empty(struct nk_depot *dep, uint16_t cap)
{
	NK_LOCK_ASSERT_OWNED(&dep->lock);
	struct nk_bucket *empty = dep->empty;
	if (empty == NULL)
		return NULL;
	bucket_check(empty);
	if (empty->cap < cap)
		return NULL;
	dep->empty = empty->next;
	dep->nempty--;
	return empty;
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
	if (!bucket_is_home(z, d, b)) {
		zone_free_cross(z, b);  /* its items go home instead */
		bucket_free(b);
		return;
	}
	depot_lock(z, dep);
	bool kept = depot_push_full(z, dep, b);
	nk_unlock(&dep->lock);
	if (!kept)
		zone_release_bucket(z, b);
}

/* Whether every item is domain d's (bucket_is_home, for a batch). */
static bool
items_are_home(const struct nk_zone *z, int d, void *const *items, int n)
{
	if (nk_topo.ndomains == 1 || (z->flags & NK_ZONE_ROUNDROBIN))
		return true;
	for (int i = 0; i < n; i++)
		if (kva_domain_of(items[i]) != d)
			return false;
	return true;
}

/* Buckets taken off a depot: their items back to the keg, the buckets freed. */
static void
buckets_release(struct nk_zone *z, struct nk_bucket *list)
{
	while (list != NULL) {
		struct nk_bucket *next = list->next;
		zone_release_bucket(z, list);
		list = next;
	}
}

/* A list of buckets off the depot back onto it in one hold of its lock:
 * the empty ones as its empties (the rest freed), one with items left
 * (whose items were in it before) onto its full list. */
static void
depot_put_back(struct nk_zone *z, struct nk_depot *dep, struct nk_bucket *list)
{
	struct nk_bucket *unkept = NULL;
	depot_lock(z, dep);
	while (list != NULL) {
		struct nk_bucket *b = list;
		list = b->next;
		if (b->cnt > 0) {
			b->next = dep->full;
			dep->full = b;
			dep->nitems += b->cnt;
		} else if (!depot_push_empty(dep, b)) {
			b->next = unkept;
			unkept = b;
		}
	}
	nk_unlock(&dep->lock);
	buckets_release(z, unkept);
}

/*
 * The per-CPU trades hold the depot's lock only to move bucket pointers,
 * and copy items outside it: the buckets were last written by other CPUs,
 * and copying a few hundred items under the lock held it for as long as
 * those cache lines took to arrive, while 16 CPUs queued for it.
 */
int
zone_depot_take(struct nk_zone *z, int d, void **buf, int max)
{
	struct nk_depot *dep = &z->depot[d];
	struct nk_bucket *got = NULL, **tail = &got;
	int n = 0;
	NK_ASSERT(d >= 0 && d < nk_topo.ndomains && max > 0, "bad domain or count");
	/* Whole buckets off the full list; the first whatever its count, the
	 * others while they fit. */
	depot_lock(z, dep);
	while (n < max && dep->full != NULL && (n == 0 || n + dep->full->cnt <= max)) {
		struct nk_bucket *b = depot_pop_full(dep);
		b->next = NULL;
		*tail = b;
		tail = &b->next;
		n += b->cnt;
	}
	if (got == NULL)
		depot_grow_on_miss(z, dep);  /* a miss, as zone_alloc_bucket's */
	nk_unlock(&dep->lock);
	if (got == NULL)
		return 0;
	/* Out of the buckets, the first one's top item last (the next one
	 * handed out); only the first can hold more than max. */
	int want = nk_min(n, max), at = want;
	for (struct nk_bucket *b = got; b != NULL && at > 0; b = b->next) {
		int k = nk_min((int)b->cnt, at);
		memcpy(&buf[at - k], &b->items[b->cnt - k], (size_t)k * sizeof(void *));
		b->cnt = (uint16_t)(b->cnt - k);
		at -= k;
	}
	NK_ASSERT(at == 0, "a take left a hole in its buffer");
	depot_put_back(z, dep, got);
	return want;
}

void
zone_depot_give(struct nk_zone *z, int d, void **items, int n)
{
	struct nk_depot *dep = &z->depot[d];
	NK_ASSERT(d >= 0 && d < nk_topo.ndomains, "bad domain");
	if ((z->flags & NK_ZONE_LIMITED) || !items_are_home(z, d, items, n)) {
		/* The keg's, or partly other domains' (a refill that fell back):
		 * bucket by bucket through zone_put_bucket, which sends them. */
		while (n > 0) {
			struct nk_bucket *b = zone_fetch_empty(z, d);
			if (b == NULL)
				break;
			int k = nk_min(n, (int)b->cap);
			memcpy(b->items, items, (size_t)k * sizeof(void *));
			b->cnt = (uint16_t)k;
			zone_put_bucket(z, d, b);
			items += k;
			n -= k;
		}
		zone_release(z, items, n);
		return;
	}
	uint16_t cap = zone_bucket_cap(z);
	struct nk_bucket *empties = NULL;
	int have = 0;
	/* The room the depot has, and its empty buckets for that many. */
	depot_lock(z, dep);
	uint64_t limit = depot_limit(z, dep);
	int room = dep->nitems >= limit ? 0 : (int)nk_min((uint64_t)n, limit - dep->nitems);
	if (room < n)
		dep->overflows++;  /* full: the rest goes back to the keg */
	int need = (room + cap - 1) / cap;
	for (struct nk_bucket *b; have < need && (b = depot_pop_empty(dep, cap)) != NULL; have++) {
		b->next = empties;
		empties = b;
	}
	nk_unlock(&dep->lock);
	for (struct nk_bucket *b; have < need && (b = bucket_alloc(cap)) != NULL; have++) {
		b->next = empties;
		empties = b;
	}
	/* Filled outside the lock. */
	int given = 0;
	for (struct nk_bucket *b = empties; b != NULL; b = b->next) {
		int k = nk_min(room - given, (int)cap);
		memcpy(b->items, items + given, (size_t)k * sizeof(void *));
		b->cnt = (uint16_t)k;
		given += k;
	}
	struct nk_bucket *refused = NULL;
	if (empties != NULL) {
		depot_lock(z, dep);
		while (empties != NULL) {
			struct nk_bucket *b = empties;
			empties = b->next;
			/* Other CPUs' trades may have filled it meanwhile. */
			if (!depot_push_full(z, dep, b)) {
				b->next = refused;
				refused = b;
			}
		}
		nk_unlock(&dep->lock);
	}
	buckets_release(z, refused);
	zone_release(z, items + given, n - given);
}

struct nk_bucket *
zone_fetch_empty(struct nk_zone *z, int d)
{
	struct nk_depot *dep = &z->depot[d];
	uint16_t cap = zone_bucket_cap(z);
	nk_lock(&dep->lock);
	struct nk_bucket *empty = depot_pop_empty(dep, cap);
	nk_unlock(&dep->lock);
	if (empty == NULL)
		empty = bucket_alloc(cap);
	if (empty != NULL)
		empty->cnt = 0;
	return empty;
}

struct nk_bucket *
zone_swap_full(struct nk_zone *z, int d, struct nk_bucket *full)
{
	struct nk_depot *dep = &z->depot[d];
	uint16_t cap = zone_bucket_cap(z);
	NK_ASSERT(d >= 0 && d < nk_topo.ndomains, "bad domain");
	if ((z->flags & NK_ZONE_LIMITED) || !bucket_is_home(z, d, full)) {
		zone_put_bucket(z, d, full);  /* the keg's or other domains' */
		return zone_fetch_empty(z, d);
	}
	depot_lock(z, dep);
	bool kept = depot_push_full(z, dep, full);
	struct nk_bucket *empty = depot_pop_empty(dep, cap);
	nk_unlock(&dep->lock);
	if (!kept) {
		/* The depot is full: the items go back to their slabs, and the
		 * bucket, emptied, is the one handed back (if big enough). */
		zone_release(z, full->items, full->cnt);
		full->cnt = 0;
		if (empty == NULL && full->cap >= cap)
			return full;
		bucket_free(full);
	}
	if (empty == NULL)
		empty = bucket_alloc(cap);
	if (empty != NULL)
		empty->cnt = 0;
	return empty;
}

/* ---- The miss path: the depot had nothing, the keg fills a bucket ---- */

/*
 * A streaming cache (it used up a whole bucket of the zone's current size
 * soon after it was refilled: the caller's judgement, tcache.c) missed: the
 * working set is bigger than what the buckets carry, so they double (up to
 * bucket_max), and every trip to the depot or the keg moves twice as many
 * items.  Other misses do not count: every thread's first refill misses, as
 * does a cache whose use wanders up and down, and bigger buckets there only
 * make each idle thread hold more.  The trim shrinks them again
 * (zone_trim_depot).  UMA grows uz_bucket_size on depot lock contention
 * only (depot_lock, which does that too); a batch of a thousand items on
 * one thread has no contention, only misses.
 */
static uint16_t
zone_grow_on_miss(struct nk_zone *z, const struct nk_bucket *used, bool stream)
{
	uint16_t cap = zone_bucket_cap(z);
	if (stream && used != NULL && used->cap >= cap && cap < z->bucket_max) {
		cap = (uint16_t)nk_min(cap * 2, z->bucket_max);
		__atomic_store_n(&z->bucket_cap, cap, __ATOMIC_RELAXED);
	}
	return cap;
}

struct nk_bucket *
zone_import_bucket(struct nk_zone *z, int d, int flags, struct nk_bucket *used, bool stream)
{
	uint16_t cap = zone_grow_on_miss(z, used, stream);
	/*
	 * Only a stream gets its bucket filled to the brim, from as many slabs
	 * as it takes.  Other misses take what one keg call has at hand (a
	 * partial slab's items, or a new slab's), and a cache's first refill
	 * no more than a first bucket's worth: most threads allocate a few
	 * items of most classes, and what their refills took stays in their
	 * caches while they idle (1000 threads of random sizes up to 2 KiB
	 * held 17% more when every refill was filled and every miss grew the
	 * buckets).
	 */
	if (used == NULL)
		cap = (uint16_t)nk_min(cap, BUCKET_FIRST_FILL);
	struct nk_bucket *b = used;
	if (b == NULL || b->cap < cap) {
		b = bucket_alloc(cap);
		if (b == NULL) {
			b = used;  /* no memory for a bigger one: the old one will do */
		} else if (used != NULL) {
			bucket_free(used);
		}
		if (b == NULL)
			return NULL;
	}
	int n = zone_import_some(z, d, flags, b->items, nk_min(b->cap, cap), false, stream);
	if (n == 0) {
		int err = errno;
		bucket_free(b);
		errno = err;
		return NULL;
	}
	b->cnt = (uint16_t)n;
	/* Ascending, as jemalloc hands out a slab's lowest region first: a
	 * structure built by consecutive allocations is walked in memory order. */
	zone_handout_order(z, b->items, n);
	return b;
}

struct nk_bucket *
zone_alloc_bucket(struct nk_zone *z, int d, int flags, struct nk_bucket *used, bool stream)
{
	struct nk_depot *dep = &z->depot[d];
	NK_ASSERT(used == NULL || used->cnt == 0, "a bucket with items traded as empty");
	depot_lock(z, dep);
	struct nk_bucket *b = depot_pop_full(dep);
	if (b == NULL) {
		/* A miss: the used bucket is refilled (or replaced by a bigger one). */
		depot_grow_on_miss(z, dep);
		nk_unlock(&dep->lock);
		return zone_import_bucket(z, d, flags, used, stream);
	}
	if (used != NULL && depot_push_empty(dep, used))
		used = NULL;
	nk_unlock(&dep->lock);
	if (used != NULL)
		bucket_free(used);
	return b;
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
		bucket_check(b);
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
	dep->overflows = 0;
	if (all)
		dep->limit = 0;
	else if (freed > 0 && dep->limit > 0)
		dep->limit -= dep->limit / 4;  /* the working set dropped */
	nk_unlock(&dep->lock);
	buckets_release(z, release);
	buckets_release(z, empties);
	/* The working set dropped (the depot held items nobody asked for since
	 * the last trim): smaller buckets, so the caches hold less. */
	uint16_t cap = zone_bucket_cap(z);
	if (freed > 0 && !all && cap > nk_min(z->bucket_max, BUCKET_CAP_FLOOR))
		__atomic_store_n(&z->bucket_cap, (uint16_t)(cap - cap / 4), __ATOMIC_RELAXED);
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
