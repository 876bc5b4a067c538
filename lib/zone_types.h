/*
 * The zone layer's data (uma_int.h's uma_zone, uma_bucket, uma_cache): the
 * zone, its per-domain bucket depot, the bucket, a thread cache and its
 * slots, and the inline slot operations.  Shared by the files of the zone
 * layer (registry.c, bucket.c, depot.c, tcache.c, zone.c) and read by the
 * layers above; it holds no code that calls out (doc/DESIGN.md, "Layers").
 */
#ifndef NK_ZONE_TYPES_H
#define NK_ZONE_TYPES_H

#include "keg.h"
#include "topo.h"

#define NK_MAX_ZONES     4096
#define NK_TC_INLINE     64      /* zone ids below this have inline cache slots */
#define NK_MALLOC_IDS    40      /* ids 0..39: the malloc size classes, in order */
#define NK_BUCKET_MAX    256

struct nk_bucket {
	/*
	 * nk_slab_cookie ^ the bucket's address, checked whenever a depot list
	 * gives the bucket up and when it is freed (bucket_int.h): bucket slabs sit
	 * in the windows beside the program's blocks, and a linear overflow
	 * into one reaches this word before the list link and the items.
	 */
	uint64_t canary;
	struct nk_bucket *next;
	uint16_t cnt;
	uint16_t cap;
	/* The refilling cache's traffic count (allocations + frees) at which
	 * allocations alone would empty it (tcache.c): emptied about then, the
	 * cache is streaming. */
	uint32_t filled_at;
	void *items[];
};

struct nk_depot {
	nk_lock_t lock;
	struct nk_bucket *full;     /* buckets with items (not always full) */
	struct nk_bucket *empty;
	uint32_t nempty;
	uint64_t nitems;
	uint64_t imin;              /* fewest items seen since the last trim */
	/* The bound on nitems: 0 until a miss grows it past the base (depot.c). */
	uint64_t limit;
	uint64_t overflows;         /* buckets sent to the keg for want of room, since the last trim */
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
	struct nk_zone *next;       /* the registry */
	/*
	 * One depot per domain, nk_topo.ndomains of them (not NK_MAX_DOMAINS:
	 * a zone's memory is then what the machine needs, and a start-up
	 * touches one line per zone and domain instead of a page per zone).
	 * zone_setup's caller provides them (zone_domain_bytes).
	 */
	struct nk_depot *depot;
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
 * the frees minus the growth of the slot's items since the last settle,
 * live_frees + base - (acnt + fcnt).  base is kept by the slot operations
 * themselves: a bucket that enters or leaves the slot moves base by its
 * count, so the allocations a slot has seen do not change when a slow path
 * trades buckets, and no caller has to remember to rebase (doc/DESIGN.md,
 * "Invariants"; debug builds check it with slot_assert).
 */
struct nk_cache_slot {
	struct nk_bucket *alloc;
	struct nk_bucket *free;
	/*
	 * Every access reads or writes a count with its capacity as one
	 * 32-bit word (slot_pop, slot_push_raw, slot_set_*, slot_take_*): a
	 * 16-bit store followed by a 32-bit load of the word cannot be
	 * forwarded.  With 16-bit counts thread-cache mode was 9-19 % slower
	 * on the 64-byte pair, glibc-simple's loop and batches of 10-100
	 * (bench/nk_ab, 2026-12-01).
	 */
	union {
		struct { uint16_t acnt, acap; };  /* the alloc bucket's items and capacity */
		uint32_t aword;
	};
	union {
		struct { uint16_t fcnt, fcap; };  /* the free bucket's; cap 0: no bucket */
		uint32_t fword;
	};
	uint32_t live_frees;        /* frees since the last settle */
	int32_t base;               /* see above: acnt + fcnt at the settle, moved by trades */
	struct nk_bucket *cross;    /* items of other domains, on their way home */
	uint64_t nalloc, nfree, nxdomain;  /* settled counts */
};
_Static_assert(sizeof(struct nk_cache_slot) == 64, "a slot is one cache line");

/* A count word's count and capacity, and its count's unit. */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define SLOT_CNT(w)  ((uint32_t)(uint16_t)(w))
#define SLOT_CAP(w)  ((uint32_t)(w) >> 16)
#define SLOT_ONE     1u
#else
#define SLOT_CNT(w)  ((uint32_t)(w) >> 16)
#define SLOT_CAP(w)  ((uint32_t)(uint16_t)(w))
#define SLOT_ONE     0x10000u
#endif

/* A count word from a count and a capacity: the slow paths write the whole
 * word too, since a 16-bit store followed by the fast path's 32-bit load
 * of the word cannot be forwarded (batches of 10 after each bucket trade). */
static inline uint32_t
slot_word(uint32_t cnt, uint32_t cap)
{
	return cnt * SLOT_ONE + cap * (SLOT_ONE == 1u ? 0x10000u : 1u);
}

static inline void
slot_set_alloc(struct nk_cache_slot *s, struct nk_bucket *b)
{
	NK_ASSERT(s->alloc == NULL && s->acnt == 0, "a slot's alloc bucket replaced, not taken");
	s->alloc = b;
	s->aword = b ? slot_word(b->cnt, b->cap) : 0;
	s->base += b ? b->cnt : 0;
}

static inline void
slot_set_free(struct nk_cache_slot *s, struct nk_bucket *b)
{
	NK_ASSERT(s->free == NULL && s->fcnt == 0, "a slot's free bucket replaced, not taken");
	s->free = b;
	s->fword = b ? slot_word(b->cnt, b->cap) : 0;
	s->base += b ? b->cnt : 0;
}

static inline struct nk_bucket *
slot_take_alloc(struct nk_cache_slot *s)
{
	struct nk_bucket *b = s->alloc;
	if (b != NULL)
		b->cnt = s->acnt;
	s->base -= s->acnt;
	s->alloc = NULL;
	s->aword = 0;
	return b;
}

static inline struct nk_bucket *
slot_take_free(struct nk_cache_slot *s)
{
	struct nk_bucket *b = s->free;
	if (b != NULL)
		b->cnt = s->fcnt;
	s->base -= s->fcnt;
	s->free = NULL;
	s->fword = 0;
	return b;
}

static inline void
slot_swap(struct nk_cache_slot *s)
{
	struct nk_bucket *a = slot_take_alloc(s), *f = slot_take_free(s);
	slot_set_alloc(s, f);
	slot_set_free(s, a);
}

/* Allocations the fast paths made since the last settle. */
static inline uint64_t
slot_live_allocs(const struct nk_cache_slot *s)
{
	return (uint64_t)((int64_t)s->live_frees + s->base - (s->acnt + s->fcnt));
}

/*
 * The slot's own bookkeeping, checked by the thread that owns it (another
 * thread's read races with its fast paths): counts within capacity, and no
 * fewer allocations than none.  A trade that bypassed slot_set_* and
 * slot_take_* shows here as a negative count.
 */
static inline void
slot_assert(const struct nk_cache_slot *s)
{
	NK_ASSERT(s->acnt <= s->acap && s->fcnt <= s->fcap, "slot counts past capacity");
	NK_ASSERT((int64_t)s->live_frees + s->base - (s->acnt + s->fcnt) >= 0,
	    "slot bookkeeping: fewer allocations than none");
	(void)s;
}

/* Folds the fast paths' counts into the settled ones. */
static inline void
slot_settle(struct nk_cache_slot *s)
{
	s->nalloc += slot_live_allocs(s);
	s->nfree += s->live_frees;
	s->live_frees = 0;
	s->base = s->acnt + s->fcnt;
}

/* A free into the cache, the alloc bucket first; false if both are full. */
static inline bool
slot_push_raw(struct nk_cache_slot *s, void *item)
{
	uint32_t a = s->aword;
	if (NK_LIKELY(SLOT_CNT(a) < SLOT_CAP(a))) {
		s->alloc->items[SLOT_CNT(a)] = item;
		s->aword = a + SLOT_ONE;
	} else {
		uint32_t f = s->fword;
		if (NK_UNLIKELY(SLOT_CNT(f) >= SLOT_CAP(f)))
			return false;
		s->free->items[SLOT_CNT(f)] = item;
		s->fword = f + SLOT_ONE;
	}
	s->live_frees++;
	return true;
}

/*
 * The fast paths' push.  In secure mode it declines, so every free takes
 * zone_free_slow, which checks the item first (tc_secure_free_check): a
 * call here would cost the fast paths a stack frame in every mode.
 */
static inline bool
slot_push(struct nk_cache_slot *s, void *item)
{
	if (NK_UNLIKELY(nk_opt.secure))
		return false;
	return slot_push_raw(s, item);
}

/* The fast paths' pop from the alloc bucket; NULL when it is empty. */
static inline void *
slot_pop(struct nk_cache_slot *s)
{
	uint32_t w = s->aword;
	if (NK_LIKELY(SLOT_CNT(w) != 0)) {
		s->aword = w - SLOT_ONE;
		void *item = s->alloc->items[SLOT_CNT(w) - 1];
		if (item == NULL)
			__builtin_unreachable();  /* buckets hold items only: callers' NULL tests fold away */
		return item;
	}
	return NULL;
}

struct nk_tcache {
	int domain;                 /* the domain the alloc and free buckets hold */
	struct nk_tcache *next, *prev;
	struct nk_cache_slot *ext[NK_MAX_ZONES / NK_TC_INLINE];
	struct nk_cache_slot slot[NK_TC_INLINE];
};

#define NK_TC_DEAD ((struct nk_tcache *)1)  /* the thread is exiting */
/* The thread has no cache of its own: the per-CPU caches serve it (pcpu.h). */
#define NK_TC_PCPU ((struct nk_tcache *)2)
#define NK_TC_NEVER ((struct nk_tcache *)3)  /* a value nk_tls_tc never holds */
extern __thread struct nk_tcache *nk_tls_tc;

/* A cache slot of a thread's cache for a zone id; NULL if there is none yet. */
static inline struct nk_cache_slot *
tc_slot(struct nk_tcache *tc, int id)
{
	if (NK_LIKELY(id < NK_TC_INLINE))
		return &tc->slot[id];
	struct nk_cache_slot *chunk = tc->ext[id / NK_TC_INLINE];
	return chunk ? &chunk[id % NK_TC_INLINE] : NULL;
}

/*
 * The cache, if the fast paths may use it now: no call, so they need no
 * stack frame.  A thread that moved domains gets NULL and the slow path,
 * which sends its buckets home (tc_get) before going on.
 */
static inline struct nk_tcache *
tc_fast(void)
{
	struct nk_tcache *tc = nk_tls_tc;
	if (NK_UNLIKELY((uintptr_t)tc <= (uintptr_t)NK_TC_PCPU))
		return NULL;
	if (NK_UNLIKELY(nk_topo.ndomains > 1) && topo_fast_domain() != tc->domain)
		return NULL;
	return tc;
}

#endif /* NK_ZONE_TYPES_H */
