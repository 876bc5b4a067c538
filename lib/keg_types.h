/*
 * The keg layer's data (uma_int.h's uma_keg and uma_slab): the slab header,
 * a keg and its per-domain lists, the private zone flags a keg reads.  No
 * code that calls out.  Shared by slab.c and keg.c and read by the layers
 * above (doc/DESIGN.md, "Layers").
 */
#ifndef NK_KEG_TYPES_H
#define NK_KEG_TYPES_H

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
	int refs;                  /* zones on this keg */
	struct nk_zone *owner;     /* the primary zone: free() finds it here */
	uint16_t zid;              /* its id, in every slab page's descriptor (zone_setup) */
	/* nk_topo.ndomains of them, from keg_init's caller (as a zone's depots). */
	struct nk_keg_domain *dom;
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

#endif /* NK_KEG_TYPES_H */
