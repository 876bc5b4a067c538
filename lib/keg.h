/*
 * Kegs: slabs of one item size, per-domain partial/full/free slab lists,
 * the domain policy (first-touch with fallback by distance, round-robin),
 * the reserve and NK_USE_RESERVE, init/fini, NOFREE kegs (uma_keg).
 */
#ifndef NK_KEG_H
#define NK_KEG_H

#include "page.h"

#define KEG_MAX_IPERS  1024
#define KEG_MAP_WORDS  (KEG_MAX_IPERS / 64)
#define KEG_MAX_ITEM   ((size_t)32 << NK_PAGE_SHIFT)  /* the largest item: one 32-page slab */

enum { SLAB_FREE, SLAB_PARTIAL, SLAB_FULL };

/*
 * A slab header.  The canary comes first, so a linear overflow out of the
 * item before an in-page header reaches it before anything the keg follows;
 * it is nk_slab_cookie ^ the header's address, checked whenever the keg
 * touches the slab (slab_check).
 */
struct nk_slab {
	uint64_t canary;
	struct nk_slab *next, *prev;
	struct nk_keg *keg;
	char *items;            /* item 0; the slab's pages start here */
	uint32_t nfree;
	uint16_t domain;
	uint8_t list;           /* SLAB_FREE / SLAB_PARTIAL / SLAB_FULL */
	uint8_t offpage : 1;    /* the header came from the header zone */
	uint8_t guarded : 1;    /* a PROT_NONE page follows the slab (secure mode) */
	uint64_t freemap[];     /* bit set: the item is free */
};

struct nk_keg_domain {
	nk_lock_t lock;
	struct nk_slab *lists[3];  /* indexed by SLAB_FREE / _PARTIAL / _FULL */
	uint64_t nslabs;
	uint64_t free_items;
	uint64_t fallbacks;        /* slabs made here for a request from elsewhere */
} __attribute__((aligned(NK_CACHELINE)));

/*
 * Memory for a lower layer's own small structures (slab headers, buckets,
 * thread caches, map entries) from a zone the zone layer makes for it and
 * hands down at start-up: so the layer below calls a function pointer, not
 * the zone API above it (UMA calls its internal zones directly).
 */
struct nk_item_source {
	void *(*alloc)(void *ctx, int flags);
	void (*free)(void *ctx, void *item);
	void *ctx;
};

struct nk_keg;
/* A keg's backend for slab memory (uma_zone_set_allocf). */
typedef void *(*keg_allocf_t)(struct nk_keg *keg, int domain, size_t bytes, bool *zeroed);
typedef void (*keg_freef_t)(struct nk_keg *keg, void *mem, size_t bytes);

struct nk_keg {
	const char *name;          /* the primary zone's name */
	size_t size;               /* item size, rounded to the alignment */
	size_t align;              /* a mask */
	uint32_t ipers;            /* items per slab */
	uint32_t pages;            /* pages per slab */
	uint32_t recip;            /* ceil(2^32 / size): item index without a divide */
	uint32_t hdr_offset;       /* in-page header: where it sits in the slab */
	bool offpage;
	bool nofallback;           /* bind policy: the domain or nothing */
	bool guard;                /* secure mode: a guard page after each slab */
	bool random_order;         /* secure mode: items leave a slab in random order */
	uint32_t flags;            /* NK_ZONE_* */
	nk_init_t init;
	nk_fini_t fini;
	keg_allocf_t allocf;
	keg_freef_t freef;
	int64_t reserve;           /* free items only NK_USE_RESERVE may take */
	int64_t free_total;        /* free items in all domains (atomic) */
	uint32_t rr_cursor;        /* round-robin: the next domain (atomic) */
	uint32_t keep_free_slabs;  /* empty slabs kept per domain before freeing */
	int refs;                  /* zones on this keg */
	struct nk_zone *owner;     /* the primary zone: free() finds it here */
	uint16_t zid;              /* its id, in every slab page's descriptor (zone_setup) */
	struct nk_keg_domain dom[NK_MAX_DOMAINS];
};

/*
 * Private zone flags, above the public NK_ZONE_* bits; a keg gets its
 * zone's flags (keg_init reads MALLOC and INTERNAL, for the secure mode).
 */
#define NK_ZONE_INTERNAL 0x1000u /* numakeg's own: not in the totals */
#define NK_ZONE_MALLOC   0x2000u /* a malloc size class: free() may take its items */
#define NK_ZONE_LIMITED  0x4000u /* has a limit: no caches, counted items */
#define NK_ZONE_SECONDARY 0x8000u
/* The keg of off-page slab headers is in-page itself. */
#define KEG_INPAGE_ONLY 0x10000u
/* The largest slab header: the size of the slab-header zone's items. */
#define KEG_SLAB_HDR_MAX (sizeof(struct nk_slab) + KEG_MAP_WORDS * sizeof(uint64_t))
/* Where off-page headers come from: the slab-header zone, set by zone_bootstrap. */
void keg_set_header_source(const struct nk_item_source *src);

int  keg_init(struct nk_keg *keg, const char *name, size_t size, int align,
              nk_init_t init, nk_fini_t fini, uint32_t zflags, enum nk_lock_rank rank);
void keg_fini(struct nk_keg *keg);
/*
 * Up to max items for a caller on domain, by the keg's policy.  Returns the
 * count; 0 with errno ENOMEM when nothing could be had.
 */
int  keg_alloc_items(struct nk_keg *keg, int domain, int flags, void **items, int max);
/* Exactly this domain first, then fallback by distance (zalloc_domain). */
int  keg_alloc_items_domain(struct nk_keg *keg, int domain, int flags, void **items, int max);
void keg_free_items(struct nk_keg *keg, void **items, int n);
int  keg_prealloc(struct nk_keg *keg, int nitems);
int  keg_prealloc_domain(struct nk_keg *keg, int domain, int nitems);
/* Frees every empty slab the reserve does not need. */
void keg_drain(struct nk_keg *keg);
int64_t keg_free_count(struct nk_keg *keg);

/* Random per process (set by the first keg_init), never zero. */
extern uint64_t nk_slab_cookie;

/* A header that fails its canary, or a list link that does not point back. */
NK_COLD _Noreturn void keg_corrupt(const char *zone, const void *slab, const char *what);

/* Dies with a clear report if the header was overwritten (overflow, stray write). */
static inline void
slab_check(const char *zone, const struct nk_slab *s)
{
	if (NK_UNLIKELY(s->canary != (nk_slab_cookie ^ (uintptr_t)s)))
		keg_corrupt(zone, s, "its header canary was overwritten");
}

/* The slab an item lives in, and whether the pointer is an item's start. */
static inline struct nk_slab *
keg_slab_of(const void *item)
{
	struct nk_pdesc *pd = page_desc(item);
	return (pd->flags & PG_SLAB) ? (struct nk_slab *)pd->slab : NULL;
}
static inline bool
keg_item_start(const struct nk_keg *keg, const struct nk_slab *slab, const void *item)
{
	uint64_t off = (uint64_t)((const char *)item - slab->items);
	uint64_t idx = (off * keg->recip) >> 32;
	return idx < keg->ipers && idx * keg->size == off;
}

void keg_fork_prepare(struct nk_keg *keg);
void keg_fork_parent(struct nk_keg *keg);
void keg_fork_child(struct nk_keg *keg);

#endif /* NK_KEG_H */
