/*
 * Zones: the front end (uma_zone, uma_cache).
 *
 * Every thread has a cache slot per zone with an alloc and a free bucket
 * (magazines).  They hold items of the domain the thread ran on when it
 * filled them (tc->domain); when the thread finds itself on another domain
 * its buckets go home to that domain's depot first (tc_migrate), so a
 * first-touch zone always hands out items of the thread's current domain.
 * A freed item of another domain goes into the cross bucket and, in
 * batches, to its own domain's depot (zone_free_cross): never into this
 * domain's alloc path.
 *
 * Per-thread rather than per-cpu: a per-cpu cache without restartable
 * sequences needs an atomic on every call, and the domain check above gives
 * the locality a per-cpu cache would.  Memory grows with threads; a thread
 * that exits gives its buckets back.
 *
 * Daemon-free: depots are trimmed to their working set (the fewest items
 * they held in the last NUMAKEG_TRIM_MS) on the slow paths, when that much
 * time has passed; bucket sizes grow when a depot lock is contended and
 * shrink when a trim gives items back.
 */
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "zone.h"

__thread struct nk_tcache *nk_tls_tc;
struct nk_zone *nk_zone_list;

static nk_lock_t zone_registry;
static struct nk_zone *zone_by_id[NK_MAX_ZONES];
/* An id whose zone nk_zdestroy is taking apart: skipped, not yet reusable
 * (a new zone on it would share slots still being flushed). */
#define ZONE_ID_DYING ((struct nk_zone *)1)
static struct nk_tcache *tc_list;
static pthread_key_t tc_key;

#define NK_NBUCKET_ZONES 8
static const uint16_t bucket_caps[NK_NBUCKET_ZONES] = { 2, 4, 8, 16, 32, 64, 128, 256 };
/*
 * A bucket holds at most this many bytes of items (at least 2 items): a
 * thread's two buckets of a 32 KiB class then hold 128 KiB, not megabytes,
 * as UMA sizes buckets by item size and jemalloc lowers ncached_max as
 * sizes grow.
 */
#define NK_BUCKET_BYTES  ((size_t)64 << 10)
static struct nk_zone bucket_zones[NK_NBUCKET_ZONES];
static struct nk_keg bucket_kegs[NK_NBUCKET_ZONES];
static struct nk_zone tc_zone, tc_ext_zone, zone_zone;
static struct nk_keg tc_keg, tc_ext_keg, zone_keg;

/* A user zone and its keg, allocated together. */
struct zone_and_keg {
	struct nk_zone zone;
	struct nk_keg keg;
};

/*
 * Walkers: code that follows zones (the zone list, zone_by_id) or slots of
 * them without the registry lock: nk_reclaim, the stats dump, and a thread
 * flushing its own slots (exit, migration).  nk_zdestroy unregisters a zone,
 * then waits until no walker is left before it touches the zone's slots or
 * frees it, so a walker never follows a freed zone.  Sequentially consistent:
 * a walker that saw the zone registered entered before it was unregistered.
 */
static int zone_walkers;
static __thread int zone_walk_depth;  /* this thread's, for fork */

static void
zone_walk_enter(void)
{
	zone_walk_depth++;
	__atomic_add_fetch(&zone_walkers, 1, __ATOMIC_SEQ_CST);
}

static void
zone_walk_exit(void)
{
	__atomic_sub_fetch(&zone_walkers, 1, __ATOMIC_SEQ_CST);
	zone_walk_depth--;
}

/* Waits for the walkers that may have seen an unregistered zone. */
static void
zone_walk_wait(void)
{
	while (__atomic_load_n(&zone_walkers, __ATOMIC_SEQ_CST) > zone_walk_depth) {
		struct timespec ts = { 0, 50000 };
		nanosleep(&ts, NULL);
	}
}

struct nk_zone *
zone_walk_begin(void)
{
	zone_walk_enter();
	zone_registry_lock();
	struct nk_zone *z = nk_zone_list;
	zone_registry_unlock();
	return z;
}

void
zone_walk_end(void)
{
	zone_walk_exit();
}

void
zone_foreach(void (*fn)(struct nk_zone *z, void *arg), void *arg)
{
	for (struct nk_zone *z = zone_walk_begin(); z != NULL; z = z->next)
		fn(z, arg);
	zone_walk_end();
}

void
zone_registry_lock(void)
{
	nk_lock(&zone_registry);
}

void
zone_registry_unlock(void)
{
	nk_unlock(&zone_registry);
}

/* ---- Buckets ---- */

static struct nk_bucket *
bucket_alloc(uint16_t cap)
{
	int i = 0;
	while (i < NK_NBUCKET_ZONES - 1 && bucket_caps[i] < cap)
		i++;
	struct nk_bucket *b = nk_zalloc(&bucket_zones[i], NK_NOWAIT);
	if (b != NULL) {
		b->cnt = 0;
		b->cap = bucket_caps[i];
		b->next = NULL;
	}
	return b;
}

static void
bucket_free(struct nk_bucket *b)
{
	int i = 0;
	while (bucket_caps[i] != b->cap)
		i++;
	nk_zfree(&bucket_zones[i], b);
}

/* Items leave the zone for the keg: the secondary zone's fini, then the keg. */
static void
zone_release_items(struct nk_zone *z, void **items, int n)
{
	if (n == 0)
		return;
	if (z->zfini)
		for (int i = 0; i < n; i++)
			z->zfini(items[i], z->size);
	keg_free_items(z->keg, items, n);
	__atomic_sub_fetch(&z->keg_out, n, __ATOMIC_RELAXED);
}

/* A limited zone's item came back from its user: one more may go out. */
static void
zone_limit_put(struct nk_zone *z)
{
	nk_lock(&z->lock);
	z->items--;
	if (z->sleepers)
		pthread_cond_broadcast(&z->cv);
	nk_unlock(&z->lock);
}

/* Items enter the zone from the keg: the secondary zone's init. */
static int
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
	__atomic_add_fetch(&z->keg_out, n, __ATOMIC_RELAXED);
	return n;
}

/* A bucket's items back to the keg, and the bucket freed. */
static void
zone_release_bucket(struct nk_zone *z, struct nk_bucket *b)
{
	zone_release_items(z, b->items, b->cnt);
	b->cnt = 0;
	bucket_free(b);
}

/*
 * A depot holds at most a few buckets' worth (512 KiB of items): beyond it
 * items go back to their slabs, which hand them out again in address order.
 * Bigger depots cost locality: items come back in the order they were
 * freed, scattered over many pages.
 */
static uint64_t
zone_depot_max(const struct nk_zone *z)
{
	return nk_max((uint64_t)z->bucket_max * 2, ((uint64_t)512 << 10) / z->size);
}

static void zone_free_cross(struct nk_zone *z, struct nk_bucket *b);

/* Puts a bucket with items into a domain's depot (or the keg, if full). */
static void
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
	if (!nk_trylock(&dep->lock)) {
		/* Contention: bigger buckets mean fewer trips here. */
		if (z->bucket_cap < z->bucket_max)
			z->bucket_cap = (uint16_t)nk_min(z->bucket_cap * 2, z->bucket_max);
		nk_lock(&dep->lock);
	}
	if (dep->nitems + b->cnt > zone_depot_max(z)) {
		nk_unlock(&dep->lock);
		zone_release_bucket(z, b);
		return;
	}
	b->next = dep->full;
	dep->full = b;
	dep->nfull++;
	dep->nitems += b->cnt;
	nk_unlock(&dep->lock);
}

/* ---- Trimming, inline ---- */

static void
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
		dep->nfull--;
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
	if (freed > 0 && !all && z->bucket_cap > nk_min(z->bucket_max, 8))
		z->bucket_cap = (uint16_t)(z->bucket_cap - z->bucket_cap / 4);
}

static void
zone_maybe_trim(struct nk_zone *z)
{
	uint64_t now = nk_now_ns();
	uint64_t last = __atomic_load_n(&z->last_trim_ns, __ATOMIC_RELAXED);
	if (now - last < nk_opt.trim_ms * 1000000u)
		return;
	/* One thread trims; the others go on. */
	if (!__atomic_compare_exchange_n(&z->last_trim_ns, &last, now, false,
	    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return;
	for (int d = 0; d < nk_topo.ndomains; d++)
		zone_trim_depot(z, d, false);
	keg_drain(z->keg);
}

/* ---- Thread caches ---- */

static void tc_flush_slot(struct nk_tcache *tc, struct nk_zone *z, struct nk_cache_slot *s, bool all);

/* Calls fn for every cache slot of the thread that exists, with its zone. */
static void
tc_each_slot(struct nk_tcache *tc,
    void (*fn)(struct nk_tcache *, struct nk_zone *, struct nk_cache_slot *))
{
	zone_walk_enter();
	for (int id = 0; id < NK_MAX_ZONES; id++) {
		struct nk_cache_slot *s = tc_slot(tc, id);
		if (s == NULL) {
			id += NK_TC_INLINE - 1;  /* a chunk that was never made */
			continue;
		}
		struct nk_zone *z = __atomic_load_n(&zone_by_id[id], __ATOMIC_SEQ_CST);
		if (z != NULL && z != ZONE_ID_DYING)
			fn(tc, z, s);
	}
	zone_walk_exit();
}

static void
tc_flush_slot_all(struct nk_tcache *tc, struct nk_zone *z, struct nk_cache_slot *s)
{
	tc_flush_slot(tc, z, s, true);
}




/*
 * The cache stays on the list while its slots are flushed: a zone that
 * nk_zdestroy unregisters meanwhile is skipped here, and flushed by
 * nk_zdestroy from the list instead (under the registry lock, which the
 * unlink below waits for).
 */
static void
tc_destroy(struct nk_tcache *tc)
{
	tc_each_slot(tc, tc_flush_slot_all);
	zone_registry_lock();
	if (tc->prev)
		tc->prev->next = tc->next;
	else
		tc_list = tc->next;
	if (tc->next)
		tc->next->prev = tc->prev;
	zone_registry_unlock();
	for (int i = 1; i < NK_MAX_ZONES / NK_TC_INLINE; i++)
		if (tc->ext[i])
			nk_zfree(&tc_ext_zone, tc->ext[i]);
	nk_zfree(&tc_zone, tc);
}

static void
tc_thread_exit(void *arg)
{
	struct nk_tcache *tc = arg;
	/* Later calls in this thread (other TLS destructors) go to the keg. */
	nk_tls_tc = NK_TC_DEAD;
	if ((uintptr_t)tc > 1)
		tc_destroy(tc);
}

struct nk_tcache *
tc_get_slow(void)
{
	if (nk_tls_tc == NK_TC_DEAD)
		return NULL;
	/* While the cache is being made, this thread's calls bypass it. */
	nk_tls_tc = NK_TC_DEAD;
	struct nk_tcache *tc = nk_zalloc(&tc_zone, NK_NOWAIT | NK_ZERO);
	if (tc == NULL) {
		nk_tls_tc = NULL;
		return NULL;
	}
	tc->domain = topo_current_domain();
	tc->tid = nk_gettid();
	zone_registry_lock();
	tc->next = tc_list;
	if (tc_list)
		tc_list->prev = tc;
	tc_list = tc;
	zone_registry_unlock();
	(void)pthread_setspecific(tc_key, tc);
	nk_tls_tc = tc;
	return tc;
}

/* The slot of a zone whose id is past the inline ones: made on first use. */
static struct nk_cache_slot *
tc_slot_make(struct nk_tcache *tc, int id)
{
	struct nk_cache_slot *s = tc_slot(tc, id);
	if (s != NULL)
		return s;
	struct nk_cache_slot *chunk = nk_zalloc(&tc_ext_zone, NK_NOWAIT | NK_ZERO);
	if (chunk == NULL)
		return NULL;
	tc->ext[id / NK_TC_INLINE] = chunk;
	return &chunk[id % NK_TC_INLINE];
}

struct nk_tcache *
tc_get(void)
{
	struct nk_tcache *tc = tc_current();
	return tc != NULL ? tc : tc_get_slow();
}

/* The caller's slot for z, made if need be; NULL: no cache (use the keg). */
static struct nk_cache_slot *
zone_cache_slot(struct nk_zone *z, struct nk_tcache **tcp)
{
	struct nk_tcache *tc = tc_get();
	*tcp = tc;
	return tc != NULL ? tc_slot_make(tc, z->id) : NULL;
}

/* Counters of a slot into the depot of the domain they belong to. */
static void
tc_flush_counts(struct nk_tcache *tc, struct nk_zone *z, struct nk_cache_slot *s)
{
	struct nk_depot *dep = &z->depot[tc->domain];
	slot_settle(s);
	if (s->nalloc)
		__atomic_add_fetch(&dep->allocs, s->nalloc, __ATOMIC_RELAXED);
	if (s->nfree)
		__atomic_add_fetch(&dep->frees, s->nfree, __ATOMIC_RELAXED);
	if (s->nxdomain)
		__atomic_add_fetch(&dep->xdomain, s->nxdomain, __ATOMIC_RELAXED);
	__atomic_store_n(&s->nalloc, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&s->nfree, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&s->nxdomain, 0, __ATOMIC_RELAXED);
}

/* A slot's buckets home; all: also the cross bucket and the empties. */
static void
tc_flush_slot(struct nk_tcache *tc, struct nk_zone *z, struct nk_cache_slot *s, bool all)
{
	slot_settle(s);
	struct nk_bucket *b[2] = { slot_take_alloc(s), slot_take_free(s) };
	for (int i = 0; i < 2; i++) {
		if (b[i] == NULL)
			continue;
		if (b[i]->cnt > 0)
			zone_put_bucket(z, tc->domain, b[i]);
		else if (all)
			bucket_free(b[i]);
		else if (i == 0)
			slot_set_alloc(s, b[i]);  /* an empty bucket may stay */
		else
			slot_set_free(s, b[i]);
	}
	if (all && s->cross != NULL) {
		zone_free_cross(z, s->cross);
		bucket_free(s->cross);
		s->cross = NULL;
	}
	slot_rebase(s);
	tc_flush_counts(tc, z, s);
}

struct nk_tcache *
tc_check_domain(struct nk_tcache *tc)
{
	int d = topo_current_domain();
	if (NK_UNLIKELY(d != tc->domain))
		tc_migrate(tc, d);
	return tc;
}

/* A migrating thread's slot: buckets of the old domain go to its depot. */
static void
tc_migrate_slot(struct nk_tcache *tc, struct nk_zone *z, struct nk_cache_slot *s)
{
	if (s->alloc == NULL && s->free == NULL && s->nalloc == 0 && s->nfree == 0)
		return;
	if (z->flags & NK_ZONE_ROUNDROBIN)
		tc_flush_counts(tc, z, s);  /* items of any domain may stay */
	else
		tc_flush_slot(tc, z, s, false);
}

void
tc_migrate(struct nk_tcache *tc, int domain)
{
	NK_ASSERT(domain >= 0 && domain < nk_topo.ndomains, "migration to a bad domain");
	tc_each_slot(tc, tc_migrate_slot);
	tc->domain = domain;
}

/*
 * Secure mode, on every free into a cache: the slab header's canary (an
 * overflow out of the slab's last item is found at the free, not when the
 * slab is next touched), the pointer is an item's start, and, for a zone's
 * item, that it is not among the last ZONE_SECURE_SCAN frees of each of
 * the slot's buckets (a double free the zone API has no free mark for; the
 * keg's free bitmap catches the others when the bucket goes back).
 */
#define ZONE_SECURE_SCAN 8
void
zone_secure_free_check(const struct nk_cache_slot *s, void *item)
{
	struct nk_slab *slab = kva_contains(item) ? keg_slab_of(item) : NULL;
	if (slab == NULL)
		nk_panic("free of %p: not an item of any zone", item);
	unsigned zid = page_desc(item)->zid;
	struct nk_zone *z = zid < NK_MAX_ZONES ? __atomic_load_n(&zone_by_id[zid], __ATOMIC_RELAXED) : NULL;
	const char *name = z != NULL && z != ZONE_ID_DYING ? z->name : "?";
	slab_check(name, slab);
	if (!keg_item_start(slab->keg, slab, item))
		nk_panic("free of %p in zone %s: not the start of an item", item, name);
	if (zid < NK_MALLOC_IDS)
		return;  /* malloc's blocks carry a free mark, checked on every free */
	/* The most recent frees of each bucket: where a double free lands. */
	for (unsigned i = s->acnt; i-- > 0 && s->acnt - i <= ZONE_SECURE_SCAN;)
		if (NK_UNLIKELY(s->alloc->items[i] == item))
			nk_panic("double free of %p in zone %s", item, name);
	for (unsigned i = s->fcnt; i-- > 0 && s->fcnt - i <= ZONE_SECURE_SCAN;)
		if (NK_UNLIKELY(s->free->items[i] == item))
			nk_panic("double free of %p in zone %s", item, name);
}

/* ---- Cross-domain frees ---- */

/* Sends a bucket of items of other domains to their own depots. */
static void
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
				zone_release_items(z, &it, 1);
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

/* ---- Allocation ---- */

static void *
zone_alloc_nocache(struct nk_zone *z, int domain, int flags, bool exact)
{
	void *item;
	if (zone_import(z, domain, flags, &item, 1, exact) == 0)
		return NULL;
	__atomic_add_fetch(&z->depot[domain].allocs, 1, __ATOMIC_RELAXED);
	return item;
}

static void
zone_free_nocache(struct nk_zone *z, void *item)
{
	int d = topo_current_domain();
	__atomic_add_fetch(&z->depot[d].frees, 1, __ATOMIC_RELAXED);
	if (nk_topo.ndomains > 1 && kva_domain_of(item) != d)
		__atomic_add_fetch(&z->depot[d].xdomain, 1, __ATOMIC_RELAXED);
	zone_release_items(z, &item, 1);
	/* Only items users held count against a limit, not cached ones. */
	if (z->flags & NK_ZONE_LIMITED)
		zone_limit_put(z);
}

/* At the limit: NOWAIT fails, WAITOK sleeps until a free wakes it. */
static void *
zone_alloc_limited(struct nk_zone *z, int domain, int flags, bool exact)
{
	nk_lock(&z->lock);
	while (z->items >= z->max_items) {
		if (!(flags & NK_WAITOK)) {
			nk_unlock(&z->lock);
			errno = ENOMEM;
			return NULL;
		}
		z->sleepers++;
		zone_count_sleep(z, domain);
		z->lock.owner = 0;
		pthread_cond_wait(&z->cv, &z->lock.mtx);
		z->lock.owner = nk_gettid();
		z->sleepers--;
	}
	z->items++;
	nk_unlock(&z->lock);
	void *item = zone_alloc_nocache(z, domain, flags, exact);
	if (item == NULL)
		zone_limit_put(z);
	return item;
}

/* The alloc bucket is empty: the free bucket, the depot, then the keg. */
static void *
cache_alloc_refill(struct nk_zone *z, struct nk_tcache *tc, struct nk_cache_slot *s, int flags)
{
	slot_settle(s);
	if (s->fcnt > 0) {
		slot_swap(s);
		slot_rebase(s);
		return cache_alloc_fast(s);
	}
	int d = tc->domain;
	struct nk_depot *dep = &z->depot[d];
	struct nk_bucket *empty = slot_take_alloc(s), *b;
	slot_rebase(s);
	if (!nk_trylock(&dep->lock)) {
		if (z->bucket_cap < z->bucket_max)
			z->bucket_cap = (uint16_t)nk_min(z->bucket_cap * 2, z->bucket_max);
		nk_lock(&dep->lock);
	}
	b = dep->full;
	if (b != NULL) {
		dep->full = b->next;
		dep->nfull--;
		dep->nitems -= b->cnt;
		if (dep->nitems < dep->imin)
			dep->imin = dep->nitems;
	}
	if (empty != NULL && dep->nempty < 8) {
		empty->next = dep->empty;
		dep->empty = empty;
		dep->nempty++;
		empty = NULL;
	}
	nk_unlock(&dep->lock);
	if (empty != NULL)
		bucket_free(empty);
	if (b == NULL) {
		b = bucket_alloc(z->bucket_cap);
		if (b == NULL)
			return zone_alloc_nocache(z, d, flags, false);
		int n = zone_import(z, d, flags, b->items, nk_min(b->cap, z->bucket_cap), false);
		if (n == 0) {
			int err = errno;
			bucket_free(b);
			errno = err;
			return NULL;
		}
		b->cnt = (uint16_t)n;
	}
	slot_set_alloc(s, b);
	slot_rebase(s);
	zone_maybe_trim(z);
	return cache_alloc_fast(s);
}

/* WAITOK found no memory: give back what caches hold, wait, try again. */
static void
zone_wait_for_memory(int *backoff_ms)
{
	nk_reclaim();
	struct timespec ts = { 0, (long)*backoff_ms * 1000000L };
	nanosleep(&ts, NULL);
	if (*backoff_ms < 64)
		*backoff_ms *= 2;
}

static void *
zone_alloc_once(struct nk_zone *z, int domain, int flags, bool exact)
{
	if (z->flags & NK_ZONE_LIMITED)
		return zone_alloc_limited(z, domain, flags, exact);
	if (exact || (z->flags & NK_ZONE_NOBUCKET) || (flags & (NK_USE_RESERVE | NK_NOVM)))
		return zone_alloc_nocache(z, domain, flags, exact);
	struct nk_tcache *tc;
	struct nk_cache_slot *s = zone_cache_slot(z, &tc);
	if (s == NULL)
		return zone_alloc_nocache(z, domain, flags, false);
	void *item = cache_alloc_fast(s);
	return item ? item : cache_alloc_refill(z, tc, s, flags);
}

static void *
zone_alloc_item(struct nk_zone *z, int domain, int flags, bool exact)
{
	int backoff = 1;
	for (;;) {
		int d = domain < 0 ? topo_current_domain() : domain;
		void *item = zone_alloc_once(z, d, flags, exact);
		if (item != NULL)
			return item;
		if (!(flags & NK_WAITOK)) {
			zone_count_fail(z, d);
			return NULL;
		}
		/* NK_WAITOK never returns NULL (seed 004). */
		zone_count_sleep(z, d);
		zone_wait_for_memory(&backoff);
	}
}

void *
zone_alloc_slow(struct nk_zone *z, int flags)
{
	return zone_alloc_item(z, -1, flags, false);
}

void
zone_free_slow(struct nk_zone *z, void *item)
{
	if (NK_UNLIKELY(zone_slow_hook != NULL) && !(z->flags & NK_ZONE_INTERNAL))
		zone_slow_hook();  /* as on the allocation slow path */
	if (z->flags & (NK_ZONE_NOBUCKET | NK_ZONE_LIMITED)) {
		zone_free_nocache(z, item);
		return;
	}
	struct nk_tcache *tc;
	struct nk_cache_slot *s = zone_cache_slot(z, &tc);
	if (s == NULL) {
		zone_free_nocache(z, item);
		return;
	}
	if (NK_UNLIKELY(nk_opt.secure))
		zone_secure_free_check(s, item);
	slot_settle(s);
	if (nk_topo.ndomains > 1 && !(z->flags & NK_ZONE_ROUNDROBIN) &&
	    kva_domain_of(item) != tc->domain) {
		/* zone_free_cross: never into this domain's alloc path. */
		if (s->cross == NULL && (s->cross = bucket_alloc(z->bucket_cap)) == NULL) {
			zone_free_nocache(z, item);
			return;
		}
		s->nfree++;
		s->nxdomain++;
		s->cross->items[s->cross->cnt++] = item;
		if (s->cross->cnt == s->cross->cap)
			zone_free_cross(z, s->cross);
		return;
	}
	if (slot_push_raw(s, item))
		return;
	/* The free bucket is full or missing: trade it at the depot. */
	if (s->free != NULL && s->acnt == 0) {
		slot_swap(s);
		slot_rebase(s);
		if (slot_push_raw(s, item))
			return;
	}
	struct nk_depot *dep = &z->depot[tc->domain];
	struct nk_bucket *full = slot_take_free(s), *empty = NULL;
	slot_rebase(s);
	if (full != NULL)
		zone_put_bucket(z, tc->domain, full);
	nk_lock(&dep->lock);
	if (dep->empty != NULL && dep->empty->cap >= z->bucket_cap) {
		empty = dep->empty;
		dep->empty = empty->next;
		dep->nempty--;
	}
	nk_unlock(&dep->lock);
	if (empty == NULL)
		empty = bucket_alloc(z->bucket_cap);
	if (empty == NULL) {
		zone_free_nocache(z, item);
		return;
	}
	empty->cnt = 0;
	slot_set_free(s, empty);
	slot_rebase(s);
	slot_push_raw(s, item);
	zone_maybe_trim(z);
}

/* ---- ctor/dtor and the public calls ---- */

static void *
zone_ctor(struct nk_zone *z, void *item, void *arg, int flags)
{
	if (flags & NK_ZERO)
		memset(item, 0, z->size);
	if (z->ctor != NULL && z->ctor(item, z->size, arg, flags) != 0) {
		/* The item goes back as it came: without the dtor. */
		if (!(z->flags & (NK_ZONE_NOBUCKET | NK_ZONE_LIMITED)) && !(flags & NK_USE_RESERVE))
			zone_free_slow(z, item);
		else
			zone_free_nocache(z, item);
		errno = ENOMEM;
		return NULL;
	}
	return item;
}

/* Everything but a plain cache hit: limits, flags, ctor, the slow path. */
static NK_NOINLINE void *
zone_alloc_full(struct nk_zone *z, void *arg, int flags)
{
	void *item = NULL;
	if (NK_UNLIKELY(zone_slow_hook != NULL) && !(z->flags & NK_ZONE_INTERNAL))
		zone_slow_hook();  /* no lock held here: a live stats dump may run */
	if (!(z->flags & (NK_ZONE_NOBUCKET | NK_ZONE_LIMITED)) &&
	    !(flags & (NK_USE_RESERVE | NK_NOVM))) {
		struct nk_tcache *tc = tc_current();
		struct nk_cache_slot *s = tc ? tc_slot(tc, z->id) : NULL;
		if (s != NULL)
			item = cache_alloc_fast(s);
	}
	if (item == NULL && (item = zone_alloc_slow(z, flags)) == NULL)
		return NULL;
	if ((flags & NK_ZERO) || z->ctor != NULL)
		return zone_ctor(z, item, arg, flags);
	return item;
}

/* A plain cache hit, or the full path; nk_zalloc and nk_zalloc_arg share it. */
static inline __attribute__((always_inline)) void *
zone_alloc_fast(nk_zone_t z, void *arg, int flags)
{
	struct nk_tcache *tc;
	int id = z->alloc_slot;
	if (NK_LIKELY(id >= 0 && !(flags & (NK_USE_RESERVE | NK_NOVM | NK_ZERO)) &&
	    (tc = tc_fast()) != NULL)) {
		struct nk_cache_slot *s = &tc->slot[id];
		if (NK_LIKELY(s->acnt != 0))
			return s->alloc->items[--s->acnt];
	}
	return zone_alloc_full(z, arg, flags);
}

NK_EXPORT void *
nk_zalloc_arg(nk_zone_t z, void *arg, int flags)
{
	return zone_alloc_fast(z, arg, flags);
}

NK_EXPORT void *
nk_zalloc(nk_zone_t z, int flags)
{
	return zone_alloc_fast(z, NULL, flags);
}

NK_EXPORT void *
nk_zalloc_domain(nk_zone_t z, void *arg, int domain, int flags)
{
	if (domain < 0 || domain >= nk_topo.ndomains) {
		errno = EINVAL;
		return NULL;
	}
	void *item = zone_alloc_item(z, domain, flags, true);
	if (item == NULL)
		return NULL;
	if ((flags & NK_ZERO) || z->ctor != NULL)
		return zone_ctor(z, item, arg, flags);
	return item;
}

static NK_NOINLINE void
zone_free_full(struct nk_zone *z, void *item, void *arg)
{
	if (item == NULL)
		return;
	if (z->dtor != NULL)
		z->dtor(item, z->size, arg);
	if (!(z->flags & (NK_ZONE_NOBUCKET | NK_ZONE_LIMITED))) {
		struct nk_tcache *tc = tc_current();
		struct nk_cache_slot *s = tc ? tc_slot(tc, z->id) : NULL;
		/* An item of another domain goes home through zone_free_slow. */
		if (s != NULL && (nk_topo.ndomains == 1 || (z->flags & NK_ZONE_ROUNDROBIN) ||
		    kva_domain_of(item) == tc->domain) && slot_push(s, item))
			return;
	}
	zone_free_slow(z, item);
}

static inline __attribute__((always_inline)) void
zone_free_fast(nk_zone_t z, void *item, void *arg)
{
	struct nk_tcache *tc;
	int id = z->free_slot;
	if (NK_LIKELY(id >= 0 && item != NULL && (tc = tc_fast()) != NULL &&
	    (nk_topo.ndomains == 1 || kva_domain_of(item) == tc->domain))) {
		if (NK_LIKELY(slot_push(&tc->slot[id], item)))
			return;
	}
	zone_free_full(z, item, arg);
}

NK_EXPORT void
nk_zfree_arg(nk_zone_t z, void *item, void *arg)
{
	zone_free_fast(z, item, arg);
}

NK_EXPORT void
nk_zfree(nk_zone_t z, void *item)
{
	zone_free_fast(z, item, NULL);
}

/* ---- Creation, limits, reclaim ---- */

static int
zone_register(struct nk_zone *z)
{
	zone_registry_lock();
	int id = -1;
	/* The malloc classes take ids 0..39 in order: a class is its zone id. */
	int lo = (z->flags & NK_ZONE_MALLOC) ? 0 : NK_MALLOC_IDS;
	for (int i = lo; i < NK_MAX_ZONES; i++)
		if (zone_by_id[i] == NULL) {
			id = i;
			break;
		}
	if (id >= 0) {
		z->id = id;
		zone_by_id[id] = z;
		z->next = nk_zone_list;
		nk_zone_list = z;
	}
	zone_registry_unlock();
	return id < 0 ? ENOSPC : 0;
}

int
zone_setup(struct nk_zone *z, struct nk_keg *keg, const char *name, size_t size,
    nk_ctor_t ctor, nk_dtor_t dtor, nk_init_t init, nk_fini_t fini,
    int align, uint32_t zflags, enum nk_lock_rank keg_rank)
{
	memset(z, 0, offsetof(struct nk_zone, depot));
	snprintf(z->name, sizeof(z->name), "%s", name ? name : "(unnamed)");
	if ((zflags & NK_ZONE_FIRSTTOUCH) && (zflags & NK_ZONE_ROUNDROBIN))
		return EINVAL;
	/* A secondary zone shares its master's keg; others bring a new one. */
	if (!(zflags & NK_ZONE_SECONDARY)) {
		int err = keg_init(keg, z->name, size, align, init, fini, zflags, keg_rank);
		if (err != 0)
			return err;
		keg->owner = z;
	}
	z->keg = keg;
	z->size = keg->size;
	z->flags = zflags;
	z->ctor = ctor;
	z->dtor = dtor;
	z->bucket_max = (uint16_t)nk_min(nk_max(NK_BUCKET_BYTES / z->size, 2), NK_BUCKET_MAX);
	z->bucket_cap = (uint16_t)nk_min(z->bucket_max, 32);
	z->last_trim_ns = nk_now_ns();
	z->alloc_slot = z->free_slot = -1;  /* until registered */
	nk_lock_init(&z->lock, NK_RANK_ZONE);
	pthread_cond_init(&z->cv, NULL);
	for (int d = 0; d < nk_topo.ndomains; d++) {
		memset(&z->depot[d], 0, sizeof(z->depot[d]));
		nk_lock_init(&z->depot[d].lock, NK_RANK_DEPOT);
	}
	int err = zone_register(z);
	if (err == 0)
		zone_set_fast_slots(z);
	return err;
}

void
zone_set_fast_slots(struct nk_zone *z)
{
	bool cached = !(z->flags & (NK_ZONE_NOBUCKET | NK_ZONE_LIMITED)) && z->id < NK_TC_INLINE;
	/* Round-robin zones go the full way on free: their items may be remote. */
	z->alloc_slot = (int16_t)(cached && z->ctor == NULL ? z->id : -1);
	z->free_slot = (int16_t)(cached && z->dtor == NULL &&
	    !(z->flags & NK_ZONE_ROUNDROBIN) ? z->id : -1);
}

NK_EXPORT nk_zone_t
nk_zcreate(const char *name, size_t size, nk_ctor_t ctor, nk_dtor_t dtor,
    nk_init_t init, nk_fini_t fini, int align, uint32_t zflags)
{
	extern void nk_init_once(void);
	nk_init_once();
	uint32_t public = NK_ZONE_FIRSTTOUCH | NK_ZONE_ROUNDROBIN | NK_ZONE_NOFREE |
	    NK_ZONE_ZINIT | NK_ZONE_NOBUCKET;
	if (size == 0 || (zflags & ~public) != 0) {
		errno = EINVAL;
		return NULL;
	}
	struct zone_and_keg *zk = nk_zalloc(&zone_zone, NK_NOWAIT);
	if (zk == NULL)
		return NULL;
	int err = zone_setup(&zk->zone, &zk->keg, name, size, ctor, dtor, init, fini,
	    align, zflags, NK_RANK_KEG);
	if (err != 0) {
		nk_zfree(&zone_zone, zk);
		errno = err;
		return NULL;
	}
	return &zk->zone;
}

NK_EXPORT nk_zone_t
nk_zsecond_create(const char *name, nk_ctor_t ctor, nk_dtor_t dtor,
    nk_init_t zinit, nk_fini_t zfini, nk_zone_t master)
{
	if (master == NULL || (master->flags & NK_ZONE_INTERNAL)) {
		errno = EINVAL;
		return NULL;
	}
	struct zone_and_keg *zk = nk_zalloc(&zone_zone, NK_NOWAIT);
	if (zk == NULL)
		return NULL;
	struct nk_keg *keg = master->keg;
	int err = zone_setup(&zk->zone, keg, name, keg->size, ctor, dtor, NULL, NULL,
	    0, (master->flags & ~NK_ZONE_LIMITED) | NK_ZONE_SECONDARY, NK_RANK_KEG);
	if (err != 0) {
		nk_zfree(&zone_zone, zk);
		errno = err;
		return NULL;
	}
	zk->zone.zinit = zinit;
	zk->zone.zfini = zfini;
	__atomic_add_fetch(&keg->refs, 1, __ATOMIC_RELAXED);
	return &zk->zone;
}

/* Empties the depots, and this zone's slots in every thread cache. */
void
zone_drain(struct nk_zone *z)
{
	struct nk_tcache *self = nk_tls_tc;
	if ((uintptr_t)self > 1) {
		struct nk_cache_slot *s = tc_slot(self, z->id);
		if (s != NULL)
			tc_flush_slot(self, z, s, true);
	}
	for (int d = 0; d < nk_topo.ndomains; d++)
		zone_trim_depot(z, d, true);
	keg_drain(z->keg);
}

NK_EXPORT void
nk_zdestroy(nk_zone_t z)
{
	if (z == NULL || (z->flags & NK_ZONE_INTERNAL))
		return;
	/*
	 * The caller promises no thread uses the zone any more (as uma(9)
	 * does), but threads may still flush their slots of it (exit,
	 * migration), and nk_reclaim or the stats may be walking the list:
	 * unregister it, wait for those walkers, then flush every cache's slot
	 * of it with the registry lock held, so no cache is freed meanwhile.
	 */
	zone_registry_lock();
	__atomic_store_n(&zone_by_id[z->id], ZONE_ID_DYING, __ATOMIC_SEQ_CST);
	for (struct nk_zone **pp = &nk_zone_list; *pp; pp = &(*pp)->next)
		if (*pp == z) {
			*pp = z->next;
			break;
		}
	zone_registry_unlock();
	zone_walk_wait();
	zone_registry_lock();
	for (struct nk_tcache *tc = tc_list; tc != NULL; tc = tc->next) {
		struct nk_cache_slot *s = tc_slot(tc, z->id);
		if (s != NULL)
			tc_flush_slot(tc, z, s, true);
	}
	zone_registry_unlock();
	zone_drain(z);
	zone_registry_lock();
	zone_by_id[z->id] = NULL;  /* every slot of the id is empty: it may be reused */
	zone_registry_unlock();
	struct nk_keg *keg = z->keg;
	if (__atomic_sub_fetch(&keg->refs, 1, __ATOMIC_RELAXED) == 0) {
		keg_fini(keg);
		/* The keg lives with its primary zone: free that zone's memory now. */
		nk_zfree(&zone_zone, (char *)keg - offsetof(struct zone_and_keg, keg));
	}
	if (!(z->flags & NK_ZONE_SECONDARY))
		return;  /* a primary zone's memory goes with its keg */
	nk_zfree(&zone_zone, z);
}

NK_EXPORT int
nk_zone_set_max(nk_zone_t z, int nitems)
{
	if (nitems <= 0) {
		nk_lock(&z->lock);
		z->flags &= ~NK_ZONE_LIMITED;
		zone_set_fast_slots(z);
		z->max_items = 0;
		pthread_cond_broadcast(&z->cv);
		nk_unlock(&z->lock);
		return 0;
	}
	nk_lock(&z->lock);
	bool was = z->flags & NK_ZONE_LIMITED;
	z->max_items = nitems;
	if (!was) {
		/* From now on no cache holds this zone's items: a limit stays a limit. */
		z->flags |= NK_ZONE_LIMITED;
		zone_set_fast_slots(z);
	}
	if (z->sleepers)
		pthread_cond_broadcast(&z->cv);
	nk_unlock(&z->lock);
	if (!was) {
		/*
		 * What users hold counts; what caches hold does not, and goes
		 * back to the keg as the caches are flushed (other threads' on
		 * their next slow path, migration or exit).
		 */
		zone_drain(z);
		int cur = nk_zone_get_cur(z);
		nk_lock(&z->lock);
		z->items = cur;
		nk_unlock(&z->lock);
	}
	return nitems;
}

NK_EXPORT int
nk_zone_get_max(nk_zone_t z)
{
	return (z->flags & NK_ZONE_LIMITED) ? (int)z->max_items : 0;
}

void
zone_domain_counts(struct nk_zone *z, int d, uint64_t *allocs, uint64_t *frees, uint64_t *xdomain)
{
	uint64_t a = __atomic_load_n(&z->depot[d].allocs, __ATOMIC_RELAXED);
	uint64_t f = __atomic_load_n(&z->depot[d].frees, __ATOMIC_RELAXED);
	uint64_t x = __atomic_load_n(&z->depot[d].xdomain, __ATOMIC_RELAXED);
	zone_registry_lock();
	for (struct nk_tcache *tc = tc_list; tc != NULL; tc = tc->next) {
		if (__atomic_load_n(&tc->domain, __ATOMIC_RELAXED) != d)
			continue;
		struct nk_cache_slot *s = tc_slot(tc, z->id);
		if (s == NULL)
			continue;
		/* Unsettled fast-path work: the buckets' moves since the last settle. */
		a += __atomic_load_n(&s->nalloc, __ATOMIC_RELAXED) + slot_live_allocs(s);
		f += __atomic_load_n(&s->nfree, __ATOMIC_RELAXED) +
		    __atomic_load_n(&s->live_frees, __ATOMIC_RELAXED);
		x += __atomic_load_n(&s->nxdomain, __ATOMIC_RELAXED);
	}
	zone_registry_unlock();
	*allocs = a;
	*frees = f;
	*xdomain = x;
}

NK_EXPORT int
nk_zone_get_cur(nk_zone_t z)
{
	int64_t cur = 0;
	for (int d = 0; d < nk_topo.ndomains; d++) {
		uint64_t a, f, x;
		zone_domain_counts(z, d, &a, &f, &x);
		cur += (int64_t)a - (int64_t)f;
	}
	return (int)cur;
}

NK_EXPORT int
nk_zone_reserve(nk_zone_t z, int nitems)
{
	if (nitems < 0)
		return EINVAL;
	__atomic_store_n(&z->keg->reserve, nitems, __ATOMIC_RELAXED);
	return 0;
}

NK_EXPORT int
nk_prealloc(nk_zone_t z, int nitems)
{
	if (nitems < 0)
		return EINVAL;
	return keg_prealloc(z->keg, nitems);
}

NK_EXPORT void
nk_zone_reclaim(nk_zone_t z, int how)
{
	if (how == NK_RECLAIM_DRAIN) {
		zone_drain(z);
		return;
	}
	for (int d = 0; d < nk_topo.ndomains; d++)
		zone_trim_depot(z, d, false);
	keg_drain(z->keg);
}

static void (*zone_reclaim_hook)(void);

void
zone_set_reclaim_hook(void (*hook)(void))
{
	zone_reclaim_hook = hook;
}

NK_EXPORT void
nk_reclaim(void)
{
	/* A walker: nk_zdestroy frees no zone while this walk may be on it. */
	for (struct nk_zone *z = zone_walk_begin(); z != NULL; z = z->next)
		zone_drain(z);
	zone_walk_end();
	if (zone_reclaim_hook != NULL)
		zone_reclaim_hook();
	page_purge_all();
}

NK_EXPORT const char *
nk_zone_name(nk_zone_t z)
{
	return z->name;
}

NK_EXPORT size_t
nk_zone_size(nk_zone_t z)
{
	return z->size;
}

/* ---- Start-up and fork ---- */

void keg_bootstrap(void);

void
zone_bootstrap(void)
{
	nk_lock_init(&zone_registry, NK_RANK_REGISTRY);
	kva_entries_init();
	keg_bootstrap();
	for (int i = 0; i < NK_NBUCKET_ZONES; i++) {
		char name[24];
		snprintf(name, sizeof(name), "bucket-%u", bucket_caps[i]);
		zone_setup(&bucket_zones[i], &bucket_kegs[i], name,
		    sizeof(struct nk_bucket) + bucket_caps[i] * sizeof(void *),
		    NULL, NULL, NULL, NULL, NK_ALIGN_PTR,
		    NK_ZONE_NOBUCKET | NK_ZONE_INTERNAL, NK_RANK_KEG);
	}
	zone_setup(&tc_zone, &tc_keg, "thread-cache", sizeof(struct nk_tcache),
	    NULL, NULL, NULL, NULL, NK_ALIGN_CACHE, NK_ZONE_NOBUCKET | NK_ZONE_INTERNAL, NK_RANK_KEG);
	zone_setup(&tc_ext_zone, &tc_ext_keg, "thread-cache-ext",
	    NK_TC_INLINE * sizeof(struct nk_cache_slot), NULL, NULL, NULL, NULL,
	    NK_ALIGN_CACHE, NK_ZONE_NOBUCKET | NK_ZONE_INTERNAL, NK_RANK_KEG);
	zone_setup(&zone_zone, &zone_keg, "zones", sizeof(struct zone_and_keg),
	    NULL, NULL, NULL, NULL, NK_ALIGN_CACHE, NK_ZONE_NOBUCKET | NK_ZONE_INTERNAL, NK_RANK_KEG);
	if (pthread_key_create(&tc_key, tc_thread_exit) != 0)
		nk_panic("pthread_key_create failed");
}

/* Every zone lock, depot lock and keg lock, outermost first. */
void
zone_fork_prepare(void)
{
	pthread_mutex_lock(&zone_registry.mtx);
	for (struct nk_zone *z = nk_zone_list; z; z = z->next) {
		pthread_mutex_lock(&z->lock.mtx);
		for (int d = 0; d < nk_topo.ndomains; d++)
			pthread_mutex_lock(&z->depot[d].lock.mtx);
	}
	/* Every keg once, by any of its zones: a secondary zone's keg may have
	 * lost its primary zone (keg_fork_* skip a keg already done). */
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
	pthread_mutex_unlock(&zone_registry.mtx);
}

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
	nk_lock_reinit(&zone_registry);
	/* Only this thread lives on: walkers of others are gone with them. */
	__atomic_store_n(&zone_walkers, zone_walk_depth, __ATOMIC_RELAXED);
}

/*
 * In the child: the other threads are gone, and fork() may have caught one
 * of them half-way through a bucket update (the fast paths take no lock),
 * so their buckets cannot be trusted: their items are leaked, as glibc and
 * jemalloc do.  Their counts are kept, so the statistics stay whole.
 */
void zone_fork_child_caches(void);
void
zone_fork_child_caches(void)
{
	struct nk_tcache *self = nk_tls_tc;
	struct nk_tcache *tc = tc_list;
	tc_list = NULL;
	while (tc != NULL) {
		struct nk_tcache *next = tc->next;
		if (tc == self) {
			tc->prev = NULL;
			tc->next = tc_list;
			tc_list = tc;
		} else {
			tc_each_slot(tc, tc_flush_counts);
		}
		tc = next;
	}
	if ((uintptr_t)self > 1)
		self->tid = nk_gettid();
}

/* ---- Counters for the stats layer: slow paths only ---- */

void (*zone_slow_hook)(void);

void
zone_count_fail(struct nk_zone *z, int d)
{
	__atomic_add_fetch(&z->depot[d].fails, 1, __ATOMIC_RELAXED);
}

void
zone_count_sleep(struct nk_zone *z, int d)
{
	__atomic_add_fetch(&z->depot[d].sleeps, 1, __ATOMIC_RELAXED);
}

void
zone_domain_events(struct nk_zone *z, int d, uint64_t *fails, uint64_t *sleeps)
{
	*fails = __atomic_load_n(&z->depot[d].fails, __ATOMIC_RELAXED);
	*sleeps = __atomic_load_n(&z->depot[d].sleeps, __ATOMIC_RELAXED);
}

uint64_t
zone_domain_tc_items(struct nk_zone *z, int d)
{
	uint64_t n = 0;
	zone_registry_lock();
	for (struct nk_tcache *tc = tc_list; tc != NULL; tc = tc->next) {
		if (__atomic_load_n(&tc->domain, __ATOMIC_RELAXED) != d)
			continue;
		struct nk_cache_slot *s = tc_slot(tc, z->id);
		if (s != NULL)
			n += (uint64_t)__atomic_load_n(&s->acnt, __ATOMIC_RELAXED) +
			    __atomic_load_n(&s->fcnt, __ATOMIC_RELAXED);
	}
	zone_registry_unlock();
	return n;
}
