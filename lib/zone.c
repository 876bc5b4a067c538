/*
 * Zones (zone.h): the allocation tiers, ctor/dtor, the public zone API,
 * limits, drain and reclaim, the counters the stats layer reads.
 *
 * Layering: zone.c is the top of the zone layer's data path.  It calls the
 * thread caches (tcache.c), the depots (depot.c), the registry, the keg
 * and the page layer (nk_reclaim's purge).  Nothing below calls it: the
 * lower files get the memory of their own structures (buckets, thread
 * caches, slab headers, map entries) from zones that zone_boot.c makes and
 * hands down as item sources at start-up, and the stats layer above
 * reaches in only through zone_slow_hook (doc/DESIGN.md, "Layers").
 *
 * Three tiers, as UMA's uma_zalloc_arg / zalloc_slow / zone_alloc_item:
 *  1. the inline fast path (zone_alloc_fast, zone_free_fast): a plain cache
 *     hit or push, no call, no stack frame;
 *  2. the slow path (zone_alloc_slow, zone_free_slow): starts over, with
 *     the cache made or refilled, limits, waiting, ctor and dtor;
 *  3. the uncached path (zone_alloc_uncached, zone_free_uncached): straight
 *     to the keg, for what no cache may hold.
 *
 * Daemon-free: depots are trimmed to their working set on the slow paths
 * (depot.c, zone_maybe_trim).
 */
#include <time.h>

#include "boot.h"
#include "zone.h"

/*
 * A bucket holds at most this many bytes of items (at least 2 items): a
 * thread's two buckets of a 32 KiB class then hold 128 KiB, not megabytes,
 * as UMA sizes buckets by item size and jemalloc lowers ncached_max as
 * sizes grow.
 */
#define NK_BUCKET_BYTES  ((size_t)64 << 10)
/* A zone's first bucket size: small enough for a thread that allocates a
 * few items, grown on misses and depot contention up to bucket_max, shrunk
 * by trims (depot.c; doc/DESIGN.md, "Bucket sizes follow the working set"). */
#define NK_BUCKET_START  32
/* NK_WAITOK with no memory: the longest wait between tries, in ms. */
#define ZONE_WAIT_MAX_MS 64

/*
 * A user zone and its keg, allocated together, from the zone of zones, and
 * followed by their per-domain arrays (zone_domain_bytes), at
 * ZONE_AND_KEG_HEAD bytes: one item per zone, its size set by the number
 * of domains when the zone of zones is made.
 */
struct zone_and_keg {
	struct nk_zone zone;
	struct nk_keg keg;
};
#define ZONE_AND_KEG_HEAD nk_roundup(sizeof(struct zone_and_keg), (size_t)NK_CACHELINE)
static struct nk_zone zone_zone;
static struct nk_keg zone_keg;

static void zone_count_fail(struct nk_zone *z, int d);
static void zone_count_sleep(struct nk_zone *z, int d);

/* ---- Tier 3: uncached ---- */

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

/* At the limit: NOWAIT fails, WAITOK sleeps until a free wakes it. */
static bool
zone_limit_take(struct nk_zone *z, int domain, int flags)
{
	nk_lock(&z->lock);
	while (z->items >= z->max_items) {
		if (!(flags & NK_WAITOK)) {
			nk_unlock(&z->lock);
			errno = ENOMEM;
			return false;
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
	return true;
}

/*
 * Straight from the keg, for what no cache may hold: NOBUCKET and limited
 * zones, NK_USE_RESERVE and NK_NOVM, an exact domain, or a thread without a
 * cache.  A limited zone counts the item against its limit first.
 */
static void *
zone_alloc_uncached(struct nk_zone *z, int domain, int flags, bool exact)
{
	if (!(z->flags & NK_ZONE_LIMITED))
		return zone_import_one(z, domain, flags, exact);
	if (!zone_limit_take(z, domain, flags))
		return NULL;
	void *item = zone_import_one(z, domain, flags, exact);
	if (item == NULL)
		zone_limit_put(z);
	return item;
}

static void
zone_free_uncached(struct nk_zone *z, void *item)
{
	zone_release_one(z, item);
	/* Only items users held count against a limit, not cached ones. */
	if (z->flags & NK_ZONE_LIMITED)
		zone_limit_put(z);
}

/* ---- Tier 2: the slow path ---- */

static bool
zone_cacheable(const struct nk_zone *z, int flags)
{
	return !(z->flags & (NK_ZONE_NOBUCKET | NK_ZONE_LIMITED)) &&
	    !(flags & (NK_USE_RESERVE | NK_NOVM));
}

/* WAITOK found no memory: give back what caches hold, wait, try again. */
static void
zone_wait_for_memory(int *backoff_ms)
{
	nk_reclaim();
	struct timespec ts = { 0, (long)*backoff_ms * 1000000L };
	nanosleep(&ts, NULL);
	if (*backoff_ms < ZONE_WAIT_MAX_MS)
		*backoff_ms *= 2;
}

/*
 * Whether the per-CPU caches serve this call: a cacheable zone with an
 * inline id, and a thread they serve already, or one without a cache of
 * its own yet whose rseq is registered and which did not set its own
 * domain (a thread cache keeps an override's promise; pcpu.h).  Decided
 * once per thread: the answer is kept in nk_tls_tc.
 */
static bool
zone_pcpu_ok(const struct nk_zone *z, int flags)
{
	if (!nk_pcpu_on || z->id >= NK_TC_INLINE || !zone_cacheable(z, flags))
		return false;
	struct nk_tcache *tc = nk_tls_tc;
	if (tc == NK_TC_PCPU)
		return true;
	if (tc != NULL || nk_tls_domain_override >= 0 || pcpu_current_cpu() < 0)
		return false;
	nk_tls_tc = NK_TC_PCPU;
	return true;
}

/* After a per-CPU slow path: the depots' trim, and then the idle CPUs'. */
static void
zone_pcpu_trim(struct nk_zone *z)
{
	if (zone_maybe_trim(z))
		pcpu_trim_idle(z);
}

void
zone_thread_domain_set(void)
{
	if (nk_tls_tc == NK_TC_PCPU)
		nk_tls_tc = NULL;  /* the next slow path makes it a thread cache */
}

void
zone_free_slow(struct nk_zone *z, void *item)
{
	if (NK_STATS && NK_UNLIKELY(zone_slow_hook != NULL) && !(z->flags & NK_ZONE_INTERNAL))
		zone_slow_hook();  /* as on the allocation slow path */
	if (zone_pcpu_ok(z, 0) && pcpu_free(z, item)) {
		zone_pcpu_trim(z);
		return;
	}
	struct nk_tcache *tc;
	struct nk_cache_slot *s = NULL;
	if (zone_cacheable(z, 0))
		s = tc_get_slot(z->id, &tc);
	if (s != NULL && NK_UNLIKELY(nk_opt.secure))
		tc_secure_free_check(s, item);
	if (s == NULL || !tc_free(z, tc, s, item))
		zone_free_uncached(z, item);
}

static void *
zone_ctor(struct nk_zone *z, void *item, void *arg, int flags)
{
	if (flags & NK_ZERO)
		memset(item, 0, z->size);
	if (z->ctor != NULL && z->ctor(item, z->size, arg, flags) != 0) {
		/* The item goes back as it came: without the dtor. */
		if (!(flags & NK_USE_RESERVE))
			zone_free_slow(z, item);
		else
			zone_free_uncached(z, item);
		errno = ENOMEM;
		return NULL;
	}
	return item;
}

/*
 * The allocation slow path: everything the inline fast path did not
 * finish, started over (the fast path changed nothing).  domain < 0: the
 * caller's domain, through its thread cache (made on its first call, its
 * buckets refilled from the depot or the keg) when the zone and flags allow
 * one; domain >= 0: exactly that domain, uncached.  NK_WAITOK waits for
 * memory and never returns NULL (doc/DESIGN.md, "Invariants"); otherwise
 * NULL with errno ENOMEM, counted as a failure of the domain.  Then NK_ZERO
 * and the ctor.  Called with no lock held; the stats hook may run first.
 */
static NK_NOINLINE void *
zone_alloc_slow(struct nk_zone *z, void *arg, int domain, int flags)
{
	bool exact = domain >= 0;
	if (NK_STATS && NK_UNLIKELY(zone_slow_hook != NULL) && !exact &&
	    !(z->flags & NK_ZONE_INTERNAL))
		zone_slow_hook();  /* no lock held here: a live stats dump may run */
	int backoff = 1;
	void *item;
	for (;;) {
		int d = exact ? domain : topo_current_domain();
		struct nk_tcache *tc;
		struct nk_cache_slot *s = NULL;
		bool declined = true;
		if (!exact && zone_pcpu_ok(z, flags)) {
			item = pcpu_alloc(z, flags, &declined);
			if (!declined)
				zone_pcpu_trim(z);
		}
		if (declined) {
			if (!exact && zone_cacheable(z, flags))
				s = tc_get_slot(z->id, &tc);
			item = s != NULL ? tc_alloc(z, tc, s, flags) :
			    zone_alloc_uncached(z, d, flags, exact);
		}
		if (item != NULL)
			break;
		if (!(flags & NK_WAITOK)) {
			zone_count_fail(z, d);
			return NULL;
		}
		zone_count_sleep(z, d);
		zone_wait_for_memory(&backoff);
	}
	if ((flags & NK_ZERO) || z->ctor != NULL)
		return zone_ctor(z, item, arg, flags);
	return item;
}

/* ---- Tier 1: the inline fast path ---- */

/* A plain cache hit, or the slow path; nk_zalloc and nk_zalloc_arg share it. */
static inline __attribute__((always_inline)) void *
zone_alloc_fast(nk_zone_t z, void *arg, int flags)
{
	struct nk_tcache *tc;
	int id = z->alloc_slot;
	if (NK_LIKELY(id >= 0 && !(flags & (NK_USE_RESERVE | NK_NOVM | NK_ZERO)))) {
		if (nk_tls_tc == NK_TC_PCPU) {
			void *item = pcpu_pop(id);
			if (NK_LIKELY(item != NULL))
				return item;
		} else if ((tc = tc_fast()) != NULL) {
			void *item = slot_pop(&tc->slot[id]);
			if (NK_LIKELY(item != NULL))
				return item;
		}
	}
	return zone_alloc_slow(z, arg, -1, flags);
}

/* The fast path's fallback: the dtor, then the slow path. */
static NK_NOINLINE void
zone_free_dtor(struct nk_zone *z, void *item, void *arg)
{
	if (item == NULL)
		return;
	if (z->dtor != NULL)
		z->dtor(item, z->size, arg);
	zone_free_slow(z, item);
}

static inline __attribute__((always_inline)) void
zone_free_fast(nk_zone_t z, void *item, void *arg)
{
	struct nk_tcache *tc;
	int id = z->free_slot;
	if (NK_LIKELY(id >= 0 && item != NULL)) {
		if (nk_tls_tc == NK_TC_PCPU) {
			/* free_slot is -1 for round-robin zones: the item's domain is checked. */
			if (NK_LIKELY(nk_topo.ndomains == 1 ? pcpu_push(id, item) :
			    pcpu_push_dom(id, item, kva_domain_of(item))))
				return;
		} else if ((tc = tc_fast()) != NULL &&
		    (nk_topo.ndomains == 1 || kva_domain_of(item) == tc->domain)) {
			if (NK_LIKELY(slot_push(&tc->slot[id], item)))
				return;
		}
	}
	zone_free_dtor(z, item, arg);
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
	return zone_alloc_slow(z, arg, domain, flags);
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

/* ---- Creation ---- */

/* Recomputes alloc_slot and free_slot after the zone's flags changed. */
static void
zone_set_fast_slots(struct nk_zone *z)
{
	bool cached = !(z->flags & (NK_ZONE_NOBUCKET | NK_ZONE_LIMITED)) && z->id < NK_TC_INLINE;
	/* Round-robin zones go the full way on free: their items may be remote. */
	z->alloc_slot = (int16_t)(cached && z->ctor == NULL ? z->id : -1);
	z->free_slot = (int16_t)(cached && z->dtor == NULL &&
	    !(z->flags & NK_ZONE_ROUNDROBIN) ? z->id : -1);
}

size_t
zone_domain_bytes(uint32_t zflags)
{
	size_t bytes = (size_t)nk_topo.ndomains * sizeof(struct nk_depot);
	if (!(zflags & NK_ZONE_SECONDARY))
		bytes += (size_t)nk_topo.ndomains * sizeof(struct nk_keg_domain);
	return bytes;
}

void *
zone_static_domains(int nzones, uint32_t zflags)
{
	NK_ASSERT(__atomic_load_n(&nk_boot_state, __ATOMIC_ACQUIRE) == NK_BOOT_STARTING,
	    "the boot arena serves only the starting thread");
	void *mem = boot_alloc((size_t)nzones * zone_domain_bytes(zflags), NK_CACHELINE);
	if (mem == NULL)
		nk_panic("no boot memory for the per-domain arrays of %d zones", nzones);
	return mem;
}

int
zone_setup(struct nk_zone *z, struct nk_keg *keg, void *domain_mem, int id, const char *name,
    size_t size, nk_ctor_t ctor, nk_dtor_t dtor, nk_init_t init, nk_fini_t fini,
    int align, uint32_t zflags, enum nk_lock_rank keg_rank)
{
	NK_ASSERT(domain_mem != NULL && ((uintptr_t)domain_mem & (NK_CACHELINE - 1)) == 0,
	    "a zone's per-domain arrays: zone_domain_bytes, cache-aligned");
	memset(z, 0, sizeof(*z));
	z->depot = domain_mem;
	/* Cut to fit and terminated (the memset), without snprintf's cost. */
	if (name == NULL)
		name = "(unnamed)";
	memcpy(z->name, name, strnlen(name, sizeof(z->name) - 1));
	if ((zflags & NK_ZONE_FIRSTTOUCH) && (zflags & NK_ZONE_ROUNDROBIN))
		return EINVAL;
	/* A secondary zone shares its master's keg; others bring a new one,
	 * whose domains follow the zone's depots. */
	if (!(zflags & NK_ZONE_SECONDARY)) {
		struct nk_keg_domain *dom = (struct nk_keg_domain *)(z->depot + nk_topo.ndomains);
		int err = keg_init(keg, dom, z->name, size, align, init, fini, zflags, keg_rank);
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
	z->bucket_cap = (uint16_t)nk_min(z->bucket_max, NK_BUCKET_START);
	z->last_trim_ns = nk_now_ns();
	z->alloc_slot = z->free_slot = -1;  /* until registered */
	nk_lock_init(&z->lock, NK_RANK_ZONE);
	pthread_cond_init(&z->cv, NULL);
	for (int d = 0; d < nk_topo.ndomains; d++) {
		memset(&z->depot[d], 0, sizeof(z->depot[d]));
		nk_lock_init(&z->depot[d].lock, NK_RANK_DEPOT);
	}
	int err = zone_register(z, id);
	if (err != 0)
		return err;
	if (!(zflags & NK_ZONE_SECONDARY))
		keg->zid = (uint16_t)z->id;
	zone_set_fast_slots(z);
	pcpu_zone_setup(z);
	return 0;
}

void
zone_api_bootstrap(void)
{
	uint32_t zflags = NK_ZONE_NOBUCKET | NK_ZONE_INTERNAL;
	if (zone_setup(&zone_zone, &zone_keg, zone_static_domains(1, zflags), -1, "zones",
	    ZONE_AND_KEG_HEAD + zone_domain_bytes(0), NULL, NULL, NULL, NULL, NK_ALIGN_CACHE,
	    zflags, NK_RANK_KEG) != 0)
		nk_panic("cannot create zone zones");
}

NK_EXPORT nk_zone_t
nk_zcreate(const char *name, size_t size, nk_ctor_t ctor, nk_dtor_t dtor,
    nk_init_t init, nk_fini_t fini, int align, uint32_t zflags)
{
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
	int err = zone_setup(&zk->zone, &zk->keg, (char *)zk + ZONE_AND_KEG_HEAD, -1, name, size,
	    ctor, dtor, init, fini, align, zflags, NK_RANK_KEG);
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
	int err = zone_setup(&zk->zone, keg, (char *)zk + ZONE_AND_KEG_HEAD, -1, name, keg->size,
	    ctor, dtor, NULL, NULL, 0, (master->flags & ~NK_ZONE_LIMITED) | NK_ZONE_SECONDARY,
	    NK_RANK_KEG);
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

/* ---- Drain, destroy, limits, reclaim ---- */

/* Empties the depots, and this zone's slot in the caller's cache. */
static void
zone_drain(struct nk_zone *z)
{
	tc_flush_own(z);
	pcpu_drain_zone(z, false);
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
	zone_unregister(z);
	zone_registry_lock();
	tc_flush_zone(z);
	zone_registry_unlock();
	pcpu_drain_zone(z, true);  /* every CPU's items; the id's arrays stay stopped */
	zone_drain(z);
	zone_release_id(z);
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

/*
 * ---- Counters for the stats layer: slow paths only ----
 * Failures and sleeps serve only the statistics: gone with NK_STATS 0.
 */

void (*zone_slow_hook)(void);

static void
zone_count_fail(struct nk_zone *z, int d)
{
	if (NK_STATS)
		__atomic_add_fetch(&z->depot[d].fails, 1, __ATOMIC_RELAXED);
}

static void
zone_count_sleep(struct nk_zone *z, int d)
{
	if (NK_STATS)
		__atomic_add_fetch(&z->depot[d].sleeps, 1, __ATOMIC_RELAXED);
}

void
zone_domain_counts(struct nk_zone *z, int d, uint64_t *allocs, uint64_t *frees, uint64_t *xdomain)
{
	uint64_t a, f, x, pa, pf, px;
	tc_zone_counts(z, d, &a, &f, &x);
	pcpu_zone_counts(z, d, &pa, &pf, &px);
	*allocs = a + pa + __atomic_load_n(&z->depot[d].allocs, __ATOMIC_RELAXED);
	*frees = f + pf + __atomic_load_n(&z->depot[d].frees, __ATOMIC_RELAXED);
	*xdomain = x + px + __atomic_load_n(&z->depot[d].xdomain, __ATOMIC_RELAXED);
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
	return tc_zone_items(z, d) + pcpu_zone_items(z, d);
}
