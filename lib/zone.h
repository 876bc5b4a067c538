/*
 * Zones: the front end (uma_zone).  ctor/dtor, per-thread alloc/free/cross
 * buckets (uma_cache), a per-domain bucket depot, limits with sleeping
 * NK_WAITOK, secondary zones sharing a keg, inline daemon-free trimming.
 */
#ifndef NK_ZONE_H
#define NK_ZONE_H

#include "keg.h"
#include "topo.h"

#define NK_MAX_ZONES     4096
#define NK_TC_INLINE     64      /* zone ids below this have inline cache slots */
#define NK_MALLOC_IDS    40      /* ids 0..39: the malloc size classes, in order */
#define NK_BUCKET_MAX    256

/* Private zone flags, above the public NK_ZONE_* bits. */
#define NK_ZONE_INTERNAL 0x1000u /* numakeg's own: not in the totals */
#define NK_ZONE_MALLOC   0x2000u /* a malloc size class: free() may take its items */
#define NK_ZONE_LIMITED  0x4000u /* has a limit: no caches, counted items */
#define NK_ZONE_SECONDARY 0x8000u

struct nk_bucket {
	struct nk_bucket *next;
	uint16_t cnt;
	uint16_t cap;
	uint32_t pad;
	void *items[];
};

struct nk_depot {
	nk_lock_t lock;
	struct nk_bucket *full;     /* buckets with items (not always full) */
	struct nk_bucket *empty;
	uint32_t nfull, nempty;
	uint64_t nitems;
	uint64_t imin;              /* fewest items seen since the last trim */
	/* Counters flushed from thread caches. */
	uint64_t allocs, frees, xdomain;
	uint64_t fails, sleeps;     /* slow paths only: NULL returned, waits */
} __attribute__((aligned(NK_CACHELINE)));

struct nk_zone {
	char name[40];
	size_t size;
	uint32_t flags;
	int id;                     /* cache slot index */
	nk_ctor_t ctor;
	nk_dtor_t dtor;
	nk_init_t zinit;            /* secondary zones: run on import/release */
	nk_fini_t zfini;
	struct nk_keg *keg;
	/* The cache slot the fast paths may use, or -1 (ctor, dtor, no cache, limit). */
	int16_t alloc_slot, free_slot;
	uint16_t bucket_cap;        /* current bucket size */
	uint16_t bucket_max;
	/* Limits (nk_zone_set_max). */
	nk_lock_t lock;
	pthread_cond_t cv;
	int64_t max_items;
	int64_t items;              /* items users hold, while limited */
	int sleepers;
	uint64_t last_trim_ns;
	int64_t keg_out;            /* items taken from the keg and not returned */
	struct nk_zone *next;       /* the registry */
	struct nk_depot depot[NK_MAX_DOMAINS];
};

/*
 * A slot holds the live counts of its two buckets (acnt, fcnt): the fast
 * paths touch the slot's cache line and the items array, nothing else.  A
 * bucket's own cnt is exact only while it is out of a slot (in a depot, on
 * a list); slot_set_* and slot_take_* move the count between the two.
 *
 * A free goes into the alloc bucket while it has room, for LIFO reuse of
 * cache-hot items (as UMA's cache_free does), and spills into the free
 * bucket.  The fast paths count only frees (live_frees): allocations are
 * the frees minus the growth of the slot's items since the last settle
 * (base).  Every slow path settles the slot before it changes a bucket and
 * rebases it after.
 */
struct nk_cache_slot {
	struct nk_bucket *alloc;
	struct nk_bucket *free;
	uint16_t acnt, acap;        /* the alloc bucket's items and capacity */
	uint16_t fcnt, fcap;        /* the free bucket's; cap 0: no bucket */
	uint32_t live_frees;        /* frees since the last settle */
	uint16_t base;              /* acnt + fcnt at the last settle */
	uint16_t pad0;
	struct nk_bucket *cross;    /* items of other domains, on their way home */
	uint64_t nalloc, nfree, nxdomain;  /* settled counts */
};
_Static_assert(sizeof(struct nk_cache_slot) == 64, "a slot is one cache line");

static inline void
slot_set_alloc(struct nk_cache_slot *s, struct nk_bucket *b)
{
	s->alloc = b;
	s->acnt = b ? b->cnt : 0;
	s->acap = b ? b->cap : 0;
}

static inline void
slot_set_free(struct nk_cache_slot *s, struct nk_bucket *b)
{
	s->free = b;
	s->fcnt = b ? b->cnt : 0;
	s->fcap = b ? b->cap : 0;
}

static inline struct nk_bucket *
slot_take_alloc(struct nk_cache_slot *s)
{
	struct nk_bucket *b = s->alloc;
	if (b != NULL)
		b->cnt = s->acnt;
	s->alloc = NULL;
	s->acnt = s->acap = 0;
	return b;
}

static inline struct nk_bucket *
slot_take_free(struct nk_cache_slot *s)
{
	struct nk_bucket *b = s->free;
	if (b != NULL)
		b->cnt = s->fcnt;
	s->free = NULL;
	s->fcnt = s->fcap = 0;
	return b;
}

static inline void
slot_swap(struct nk_cache_slot *s)
{
	struct nk_bucket *a = slot_take_alloc(s), *f = slot_take_free(s);
	slot_set_alloc(s, f);
	slot_set_free(s, a);
}

static inline void
slot_rebase(struct nk_cache_slot *s)
{
	NK_ASSERT(s->acnt <= s->acap && s->fcnt <= s->fcap, "slot counts past capacity");
	s->base = (uint16_t)(s->acnt + s->fcnt);
}

/* Allocations the fast paths made since the last settle. */
static inline uint64_t
slot_live_allocs(const struct nk_cache_slot *s)
{
	return (uint64_t)((int64_t)s->live_frees + s->base - (s->acnt + s->fcnt));
}

static inline void
slot_settle(struct nk_cache_slot *s)
{
	s->nalloc += slot_live_allocs(s);
	s->nfree += s->live_frees;
	s->live_frees = 0;
	slot_rebase(s);
}

/* NUMAKEG_SECURE: the item's slab header, its start, and not already cached. */
void zone_secure_free_check(const struct nk_cache_slot *s, void *item);

/* A free into the cache, the alloc bucket first; false if both are full. */
static inline bool
slot_push_raw(struct nk_cache_slot *s, void *item)
{
	if (NK_LIKELY(s->acnt < s->acap))
		s->alloc->items[s->acnt++] = item;
	else if (NK_LIKELY(s->fcnt < s->fcap))
		s->free->items[s->fcnt++] = item;
	else
		return false;
	s->live_frees++;
	return true;
}

/*
 * The fast paths' push.  In secure mode it declines, so every free takes
 * zone_free_slow, which checks the item first (zone_secure_free_check): a
 * call here would cost the fast paths a stack frame in every mode.
 */
static inline bool
slot_push(struct nk_cache_slot *s, void *item)
{
	if (NK_UNLIKELY(nk_opt.secure))
		return false;
	return slot_push_raw(s, item);
}

struct nk_tcache {
	int domain;                 /* the domain the alloc and free buckets hold */
	pid_t tid;
	struct nk_tcache *next, *prev;
	struct nk_cache_slot *ext[NK_MAX_ZONES / NK_TC_INLINE];
	struct nk_cache_slot slot[NK_TC_INLINE];
};

#define NK_TC_DEAD ((struct nk_tcache *)1)  /* the thread is exiting */
extern __thread struct nk_tcache *nk_tls_tc;
extern struct nk_zone *nk_zone_list;

/* The caller's cache slot for a zone; NULL if there is none yet. */
static inline struct nk_cache_slot *
tc_slot(struct nk_tcache *tc, int id)
{
	if (NK_LIKELY(id < NK_TC_INLINE))
		return &tc->slot[id];
	struct nk_cache_slot *chunk = tc->ext[id / NK_TC_INLINE];
	return chunk ? &chunk[id % NK_TC_INLINE] : NULL;
}

/* Makes the calling thread's cache; NULL while that cannot be done. */
struct nk_tcache *tc_get_slow(void);
/* The caller's cache, made on its first use; NULL while none can be had. */
struct nk_tcache *tc_get(void);
/* The thread moved to another domain: its buckets go home first. */
void tc_migrate(struct nk_tcache *tc, int domain);
/* Several domains: the thread may have moved since its last call. */
struct nk_tcache *tc_check_domain(struct nk_tcache *tc);

/*
 * The fast path.  The caller's thread cache, checked against the domain the
 * thread runs on now so that a first-touch zone keeps its promise after a
 * migration; NULL sends the caller to the slow path.
 */
static inline struct nk_tcache *
tc_current(void)
{
	struct nk_tcache *tc = nk_tls_tc;
	if (NK_UNLIKELY((uintptr_t)tc <= 1))
		return NULL;
	if (NK_UNLIKELY(nk_topo.ndomains > 1))
		return tc_check_domain(tc);
	return tc;
}

static inline void *
cache_alloc_fast(struct nk_cache_slot *s)
{
	if (NK_LIKELY(s->acnt != 0))
		return s->alloc->items[--s->acnt];
	return NULL;
}


/*
 * The cache, if the fast paths may use it now: no call, so they need no
 * stack frame.  A thread that moved domains gets NULL and the slow path,
 * which sends its buckets home (tc_current) before going on.
 */
static inline struct nk_tcache *
tc_fast(void)
{
	struct nk_tcache *tc = nk_tls_tc;
	if (NK_UNLIKELY((uintptr_t)tc <= 1))
		return NULL;
	if (NK_UNLIKELY(nk_topo.ndomains > 1) && topo_fast_domain() != tc->domain)
		return NULL;
	return tc;
}

void *zone_alloc_slow(struct nk_zone *z, int flags);
/* Recomputes alloc_slot and free_slot after the zone's flags changed. */
void zone_set_fast_slots(struct nk_zone *z);
void  zone_free_slow(struct nk_zone *z, void *item);
/* Internal zones live in static storage with their keg. */
int zone_setup(struct nk_zone *z, struct nk_keg *keg, const char *name, size_t size,
               nk_ctor_t ctor, nk_dtor_t dtor, nk_init_t init, nk_fini_t fini,
               int align, uint32_t zflags, enum nk_lock_rank keg_rank);
void zone_bootstrap(void);
void zone_drain(struct nk_zone *z);
void zone_fork_prepare(void);
void zone_fork_parent(void);
void zone_fork_child(void);

/*
 * Called by nk_reclaim() for the calling thread, after the zones are
 * drained: a layer above gives back what it caches itself (large.c's runs).
 */
void zone_set_reclaim_hook(void (*hook)(void));

/* Per-domain counters: what the stats layer prints. */
void zone_domain_counts(struct nk_zone *z, int domain, uint64_t *allocs,
                        uint64_t *frees, uint64_t *xdomain);
void zone_registry_lock(void);
void zone_registry_unlock(void);
/* Failed allocations and sleeps (limit or memory) of requests on a domain. */
void zone_domain_events(struct nk_zone *z, int domain, uint64_t *fails, uint64_t *sleeps);
/* Items in the alloc and free buckets of the caches of threads on a domain. */
uint64_t zone_domain_tc_items(struct nk_zone *z, int domain);
void zone_count_fail(struct nk_zone *z, int domain);
void zone_count_sleep(struct nk_zone *z, int domain);
/*
 * Called on the allocation and free slow paths of the program's zones (never
 * numakeg's own, which run under locks), with no lock held, while set:
 * the stats layer above sets it for live dumps (zone.c never calls upward).
 */
extern void (*zone_slow_hook)(void);
/*
 * A walk of the zone list that nk_zdestroy cannot pull a zone out from
 * under: zone_walk_begin returns the list's head, and until zone_walk_end
 * every zone reached through ->next stays valid (one being destroyed waits
 * for the walk to end).  Take no lock across the walk that nk_zdestroy
 * needs (the registry is fine to take and drop inside).  zone_foreach is
 * the same as a callback.
 */
struct nk_zone *zone_walk_begin(void);
void zone_walk_end(void);
void zone_foreach(void (*fn)(struct nk_zone *z, void *arg), void *arg);

#endif /* NK_ZONE_H */
