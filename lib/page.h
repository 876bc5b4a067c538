/*
 * Pages: committing address space on a domain and giving it back, one
 * descriptor per page found from the address in O(1) (vm_page, vtoslab), the
 * per-domain cache of freed runs, coalescing, with decay (page_cache.h), and
 * the NOFREE page list (doc/DESIGN.md, "NOFREE").
 */
#ifndef NK_PAGE_H
#define NK_PAGE_H

#include "kva.h"

struct nk_pdesc {
	void *slab;         /* PG_SLAB: the slab; on a free list: the next run */
	union {
		uint32_t npages;    /* run length, in the run's first descriptor */
		struct {            /* PG_SLAB: what free() needs without the slab */
			uint16_t pgidx; /* this page's index in its slab */
			uint16_t zid;   /* the keg's primary zone id */
		};
	};
	uint16_t domain;
	uint16_t flags;
};
#define PG_SLAB        0x01  /* part of a slab: slab points to it */
#define PG_LARGE       0x02  /* first page of a large allocation */
#define PG_NOFREE      0x04  /* never goes back to the OS */
#define PG_NOFREE_LIST 0x08  /* first page of a run on the NOFREE list */
#define PG_DIRTY       0x10  /* first or last page of a freed run in the page cache */
#define PG_TCACHED     0x20  /* with PG_LARGE: a freed run in a thread's cache */

extern struct nk_pdesc *nk_pdesc;

/*
 * What free() needs of a slab page, four bytes a page beside the
 * descriptors' sixteen (tcmalloc's size-class map does the same): the keg's
 * primary zone id plus one (0 on every page that is no slab's: never
 * written pages read zero) and the page's index in its slab.  A heap of a
 * few MiB has its entries in a few KiB, which stay in L1 where the
 * descriptors' lines would not (larson's loop: every free looked up a
 * descriptor in L2).  The two halves are loaded separately, as the
 * descriptor's were, so that the class is a load and nothing more on
 * free's chain of dependent operations: malloc's fast path indexes its
 * class tables and reaches the CPU's arrays with the id plus one as it is
 * (malloc_int.h).  page_set_slab and page_clear keep both.
 */
struct nk_pclass {
	uint16_t zid1;    /* the zone id + 1; 0: no slab's page */
	uint16_t pgidx;   /* this page's index in its slab */
};
extern struct nk_pclass *nk_pclass;

static inline struct nk_pdesc *
page_desc(const void *p)
{
	return &nk_pdesc[((uintptr_t)p - nk_kva_base) >> NK_PAGE_SHIFT];
}

/*
 * What a pointer given to free(), realloc() or malloc_usable_size() is, by
 * its page's descriptor: the one lookup those calls share.
 */
enum nk_block_kind {
	NK_BLOCK_FOREIGN,      /* not in numakeg's address space */
	NK_BLOCK_SLAB,         /* on a slab's page: the keg says which item */
	NK_BLOCK_LARGE,        /* the start of a large block in use */
	NK_BLOCK_LARGE_FREED,  /* the start of a freed large block, in a thread's cache */
	NK_BLOCK_LARGE_INSIDE, /* inside a large block's first page, not its start */
	NK_BLOCK_NONE,         /* no block starts on this page */
};

static inline enum nk_block_kind
page_lookup(const void *p, struct nk_pdesc **pdp)
{
	if (!kva_contains(p))
		return NK_BLOCK_FOREIGN;
	struct nk_pdesc *pd = page_desc(p);
	*pdp = pd;
	if (pd->flags & PG_SLAB)
		return NK_BLOCK_SLAB;
	if (!(pd->flags & PG_LARGE))
		return NK_BLOCK_NONE;
	if ((uintptr_t)p & NK_PAGE_MASK)
		return NK_BLOCK_LARGE_INSIDE;
	return (pd->flags & PG_TCACHED) ? NK_BLOCK_LARGE_FREED : NK_BLOCK_LARGE;
}

void page_init(void);

/*
 * npages on the domain, aligned to align (a power of two >= a page).  NULL
 * with errno ENOMEM when the domain is at its limit or out of space: the
 * caller decides where to fall back.  *zeroed says the pages are fresh.
 */
void *page_alloc(int domain, size_t npages, size_t align, bool *zeroed);
/* Frees a run taken by page_alloc: asserts it is no NOFREE run. */
void page_free(void *addr, size_t npages);
/* Like page_alloc, but these pages never go back to the OS. */
void *page_alloc_nofree(int domain, size_t npages);
/* Puts NOFREE pages back on the NOFREE list (and nowhere else). */
void page_free_nofree(void *addr, size_t npages);
/*
 * Grows or shrinks a run in place; false if the pages after it are taken.
 * The run's descriptor is the caller's to update.
 */
bool page_grow(void *addr, size_t oldpages, size_t newpages);
void page_shrink(void *addr, size_t oldpages, size_t newpages);

/*
 * Moves the pages of the run at from onto the first npages of the run at to
 * (both in use, on one domain) without copying; from then reads zero.
 * False when the OS refuses: the caller copies.
 */
bool page_move(void *from, size_t npages, void *to);

/* Makes the pages of a run in use read zero, by giving them back to the OS. */
void page_zero(void *addr, size_t npages);

/* Descriptors: a slab marks all its pages, a large run its first page. */
void page_set_slab(void *addr, size_t npages, void *slab, int domain, uint16_t zid, uint16_t extra);
void page_set_large(void *addr, size_t npages, int domain, uint16_t flags);
void page_clear(void *addr, size_t npages);

/* Gives every cached freed run back to the OS. */
void page_purge_all(void);
/* Pages counted against a domain's limit that the page layer did not hand out. */
void page_account_meta(int domain, size_t bytes);

void page_fork_prepare(void);
void page_fork_parent(void);
void page_fork_child(void);

#endif /* NK_PAGE_H */
