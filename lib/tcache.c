/*
 * Thread caches (tcache.h), UMA's uma_cache made per thread.
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
 * The fallback of the per-CPU caches (pcpu.c), which serve every thread
 * whose rseq is registered: a thread cache costs memory per thread (two
 * buckets per zone it touched, kept while it sleeps), a per-CPU cache per
 * CPU.  Thread caches serve threads without rseq (GLIBC_TUNABLES=
 * glibc.pthread.rseq=0), threads that set their own domain on a fake
 * topology, zone ids past NK_TC_INLINE, and whole processes where the
 * per-CPU caches are off (NUMAKEG_CACHE=thread, secure mode, no membarrier,
 * not x86-64).  A thread that exits gives its buckets back.
 *
 * Layering: tcache.c calls the depots (depot.c), the registry, the keg
 * (secure-mode checks) and the topology; it never calls the zone API
 * above it.  The zone layer's top (zone.c) knows the caches; the caches
 * know only the zone's data.
 */
#include "tcache.h"

__thread struct nk_tcache *nk_tls_tc;

static pthread_key_t tc_key;
static struct nk_item_source tc_src, tc_chunk_src;

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
		struct nk_zone *z = zone_of_id((unsigned)id);
		if (z != NULL)
			fn(tc, z, s);
	}
	zone_walk_exit();
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
	tc_flush_counts(tc, z, s);
}

static void
tc_flush_slot_all(struct nk_tcache *tc, struct nk_zone *z, struct nk_cache_slot *s)
{
	tc_flush_slot(tc, z, s, true);
}

/* ---- Lifecycle ---- */

/*
 * The whole flush runs under the registry lock, dying zones included: a zone
 * that nk_zdestroy is destroying has its caches flushed by nk_zdestroy under
 * that lock from the cache list, so an exiting cache is either still on the
 * list then (and flushed there) or flushes that zone's slot itself first.
 * (Skipping dying zones here lost their items: the cache left the list
 * between nk_zdestroy's wait for walkers and its flush.)
 */
static void
tc_destroy(struct nk_tcache *tc)
{
	zone_registry_lock();
	for (int id = 0; id < NK_MAX_ZONES; id++) {
		struct nk_cache_slot *s = tc_slot(tc, id);
		if (s == NULL) {
			id += NK_TC_INLINE - 1;  /* a chunk that was never made */
			continue;
		}
		struct nk_zone *z = zone_of_id_locked((unsigned)id);
		if (z != NULL)
			tc_flush_slot_all(tc, z, s);
	}
	/*
	 * A thread cache is an item in the windows, beside the program's
	 * pages: its links are checked before the unlink writes through them
	 * (a forged one would be a wild write, a bent one a cycle that hangs
	 * every walker of the list).
	 */
	if (NK_UNLIKELY((tc->prev != NULL ? tc->prev->next : nk_tc_list) != tc ||
	    (tc->next != NULL && tc->next->prev != tc)))
		nk_panic("heap overflow/corruption detected in the thread-cache list: cache %p: "
		    "its list neighbours do not point back", (void *)tc);
	if (tc->prev)
		tc->prev->next = tc->next;
	else
		nk_tc_list = tc->next;
	if (tc->next)
		tc->next->prev = tc->prev;
	zone_registry_unlock();
	for (int i = 1; i < NK_MAX_ZONES / NK_TC_INLINE; i++)
		if (tc->ext[i])
			tc_chunk_src.free(tc_chunk_src.ctx, tc->ext[i]);
	tc_src.free(tc_src.ctx, tc);
}

static void
tc_thread_exit(void *arg)
{
	struct nk_tcache *tc = arg;
	/* Later calls in this thread (other TLS destructors) go to the keg. */
	nk_tls_tc = NK_TC_DEAD;
	if ((uintptr_t)tc > (uintptr_t)NK_TC_PCPU)
		tc_destroy(tc);
}

/* Makes the calling thread's cache; NULL while that cannot be done. */
static struct nk_tcache *
tc_create(void)
{
	if (nk_tls_tc == NK_TC_DEAD)
		return NULL;
	/* While the cache is being made, this thread's calls bypass it. */
	nk_tls_tc = NK_TC_DEAD;
	struct nk_tcache *tc = tc_src.alloc(tc_src.ctx, NK_NOWAIT | NK_ZERO);
	if (tc == NULL) {
		nk_tls_tc = NULL;
		return NULL;
	}
	tc->domain = topo_current_domain();
	zone_registry_lock();
	tc->next = nk_tc_list;
	if (nk_tc_list)
		nk_tc_list->prev = tc;
	nk_tc_list = tc;
	zone_registry_unlock();
	(void)pthread_setspecific(tc_key, tc);
	nk_tls_tc = tc;
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

/* The thread moved to another domain: its buckets go home first. */
static void
tc_migrate(struct nk_tcache *tc, int domain)
{
	NK_ASSERT(domain >= 0 && domain < nk_topo.ndomains, "migration to a bad domain");
	tc_each_slot(tc, tc_migrate_slot);
	tc->domain = domain;
}

struct nk_tcache *
tc_get(void)
{
	struct nk_tcache *tc = nk_tls_tc;
	if (NK_UNLIKELY((uintptr_t)tc <= (uintptr_t)NK_TC_PCPU))
		return tc_create();  /* also a thread the per-CPU caches served so far */
	if (NK_UNLIKELY(nk_topo.ndomains > 1)) {
		int d = topo_current_domain();
		if (NK_UNLIKELY(d != tc->domain))
			tc_migrate(tc, d);
	}
	return tc;
}

struct nk_cache_slot *
tc_get_slot(int id, struct nk_tcache **tcp)
{
	struct nk_tcache *tc = tc_get();
	*tcp = tc;
	if (tc == NULL)
		return NULL;
	struct nk_cache_slot *s = tc_slot(tc, id);
	if (s != NULL)
		return s;
	/* A zone whose id is past the inline ones: its chunk is made on first use. */
	struct nk_cache_slot *chunk = tc_chunk_src.alloc(tc_chunk_src.ctx, NK_NOWAIT | NK_ZERO);
	if (chunk == NULL)
		return NULL;
	tc->ext[id / NK_TC_INLINE] = chunk;
	return &chunk[id % NK_TC_INLINE];
}

void
tc_bootstrap(const struct nk_item_source *caches, const struct nk_item_source *chunks)
{
	tc_src = *caches;
	tc_chunk_src = *chunks;
	if (pthread_key_create(&tc_key, tc_thread_exit) != 0)
		nk_panic("pthread_key_create failed");
}

/* ---- Allocation and free through a slot ---- */

void *
tc_alloc(struct nk_zone *z, struct nk_tcache *tc, struct nk_cache_slot *s, int flags)
{
	void *item = slot_pop(s);
	if (item != NULL)
		return item;
	slot_assert(s);
	slot_settle(s);
	if (s->fcnt > 0) {
		slot_swap(s);
		return slot_pop(s);
	}
	int d = tc->domain;
	/*
	 * A stream: the bucket ran dry by allocations alone, or nearly (a batch
	 * of allocations; a cache whose use wanders up and down frees about as
	 * often as it allocates).  filled_at is the slot's traffic count at
	 * which pure allocation would have emptied it; a free and the
	 * allocation it feeds add two.  A stream's miss grows the buckets.
	 */
	uint32_t traffic = (uint32_t)(s->nalloc + s->nfree);
	struct nk_bucket *used = slot_take_alloc(s);
	bool stream = used != NULL && traffic - used->filled_at <= used->cap / 8u;
	/* The depot's bucket, or the keg's on a miss. */
	struct nk_bucket *b = zone_alloc_bucket(z, d, flags, used, stream);
	if (b == NULL)
		return zone_import_one(z, d, flags, false);
	b->filled_at = traffic + b->cnt;
	slot_set_alloc(s, b);
	zone_maybe_trim(z);
	return slot_pop(s);
}

bool
tc_free(struct nk_zone *z, struct nk_tcache *tc, struct nk_cache_slot *s, void *item)
{
	slot_assert(s);
	slot_settle(s);
	if (nk_topo.ndomains > 1 && !(z->flags & NK_ZONE_ROUNDROBIN) &&
	    kva_domain_of(item) != tc->domain) {
		/* zone_free_cross: never into this domain's alloc path. */
		if (s->cross == NULL && (s->cross = bucket_alloc(zone_bucket_cap(z))) == NULL)
			return false;
		s->nfree++;
		s->nxdomain++;
		s->cross->items[s->cross->cnt++] = item;
		if (s->cross->cnt == s->cross->cap)
			zone_free_cross(z, s->cross);
		return true;
	}
	if (slot_push_raw(s, item))
		return true;
	/* The free bucket is full or missing: trade it at the depot. */
	if (s->free != NULL && s->acnt == 0) {
		slot_swap(s);
		if (slot_push_raw(s, item))
			return true;
	}
	struct nk_bucket *full = slot_take_free(s);
	struct nk_bucket *empty = full != NULL ? zone_swap_full(z, tc->domain, full)
	                                       : zone_fetch_empty(z, tc->domain);
	if (empty == NULL)
		return false;
	slot_set_free(s, empty);
	slot_push_raw(s, item);
	zone_maybe_trim(z);
	return true;
}

/*
 * Secure mode, on every free into a cache: the slab header's canary (an
 * overflow out of the slab's last item is found at the free, not when the
 * slab is next touched), the pointer is an item's start, and, for a zone's
 * item, that it is not among the last TC_SECURE_SCAN frees of each of the
 * slot's buckets (a double free the zone API has no free mark for; the
 * keg's free bitmap catches the others when the bucket goes back).  Eight:
 * a double free usually follows the first free closely, and the scan runs
 * on every free.
 */
#define TC_SECURE_SCAN 8
void
tc_secure_free_check(const struct nk_cache_slot *s, void *item)
{
	struct nk_slab *slab = kva_contains(item) ? keg_slab_of(item) : NULL;
	if (slab == NULL)
		nk_panic("free of %p: not an item of any zone", item);
	unsigned zid = page_desc(item)->zid;
	struct nk_zone *z = zone_of_id(zid);
	const char *name = z != NULL ? z->name : "?";
	slab_check(name, slab);
	if (!keg_item_start(slab->keg, slab, item))
		nk_panic("free of %p in zone %s: not the start of an item", item, name);
	if (zid < NK_MALLOC_IDS)
		return;  /* malloc's blocks carry a free mark, checked on every free */
	/* The most recent frees of each bucket: where a double free lands. */
	for (unsigned i = s->acnt; i-- > 0 && s->acnt - i <= TC_SECURE_SCAN;)
		if (NK_UNLIKELY(s->alloc->items[i] == item))
			nk_panic("double free of %p in zone %s", item, name);
	for (unsigned i = s->fcnt; i-- > 0 && s->fcnt - i <= TC_SECURE_SCAN;)
		if (NK_UNLIKELY(s->free->items[i] == item))
			nk_panic("double free of %p in zone %s", item, name);
}

/* ---- Flushes and counts for the zone layer ---- */

void
tc_flush_own(struct nk_zone *z)
{
	struct nk_tcache *self = nk_tls_tc;
	if ((uintptr_t)self > (uintptr_t)NK_TC_PCPU) {
		struct nk_cache_slot *s = tc_slot(self, z->id);
		if (s != NULL)
			tc_flush_slot(self, z, s, true);
	}
}

void
tc_flush_zone(struct nk_zone *z)
{
	NK_ASSERT(zone_registry_owned(), "registry lock not held");
	for (struct nk_tcache *tc = nk_tc_list; tc != NULL; tc = tc->next) {
		struct nk_cache_slot *s = tc_slot(tc, z->id);
		if (s != NULL)
			tc_flush_slot(tc, z, s, true);
	}
}

void
tc_zone_counts(struct nk_zone *z, int d, uint64_t *allocs, uint64_t *frees, uint64_t *xdomain)
{
	uint64_t a = 0, f = 0, x = 0;
	zone_registry_lock();
	for (struct nk_tcache *tc = nk_tc_list; tc != NULL; tc = tc->next) {
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

uint64_t
tc_zone_items(struct nk_zone *z, int d)
{
	uint64_t n = 0;
	zone_registry_lock();
	for (struct nk_tcache *tc = nk_tc_list; tc != NULL; tc = tc->next) {
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

/*
 * In the child: the other threads are gone, and fork() may have caught one
 * of them half-way through a bucket update (the fast paths take no lock),
 * so their buckets cannot be trusted: their items are leaked, as glibc and
 * jemalloc do.  Their counts are kept, so the statistics stay whole.
 */
void
tc_fork_child(void)
{
	struct nk_tcache *self = nk_tls_tc;
	struct nk_tcache *tc = nk_tc_list;
	nk_tc_list = NULL;
	while (tc != NULL) {
		struct nk_tcache *next = tc->next;
		if (tc == self) {
			tc->prev = NULL;
			tc->next = nk_tc_list;
			nk_tc_list = tc;
		} else {
			tc_each_slot(tc, tc_flush_counts);
		}
		tc = next;
	}
}
