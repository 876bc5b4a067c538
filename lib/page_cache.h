/*
 * The page layer's cache of freed runs, one per domain, under the page
 * layer's domain lock (page.c holds it around every call here).
 *
 * Freed runs coalesce with the free runs beside them, found in O(1) through
 * the page descriptors of their first and last pages (boundary tags, as in
 * vmem and jemalloc's extents).  Reuse is address-ordered first fit: the
 * lowest free address among the runs big enough (each size bin is kept in
 * address order), split when it is bigger.  Runs of 64 KiB and more merge
 * only when nothing fits (delayed coalescing), smaller ones as they come;
 * when even merged runs do not fit, one grows into the free address space
 * beside it (pcache_take_extending).
 * A run's description lives outside the windows (memory of its own, not
 * beside the program's pages), so a heap overflow cannot reach it, and
 * every unlink checks its neighbours.
 *
 * Calls: kva (address space for runs that grow into it), sys.c (memory for
 * the run descriptions), page.h's descriptor lookup.  Called by: page.c only.
 */
#ifndef NK_PAGE_CACHE_H
#define NK_PAGE_CACHE_H

#include "page.h"

/* Size bins: one per page count up to this, then four per doubling. */
#define PCACHE_EXACT_BINS  64
#define PCACHE_NBINS       192

struct page_run;

struct page_cache {
	int domain;
	struct page_run *bins[PCACHE_NBINS];
	uint64_t nonempty[PCACHE_NBINS / 64];   /* bit b: bins[b] has a run */
	struct page_run *oldest, *newest;       /* by the time they were freed */
	struct page_run *spare;                 /* unused run descriptions */
	uint64_t bytes;                         /* in the cache now */
	uint64_t runs;
};

/* Runs given back to the OS after the domain lock is dropped. */
#define PAGE_PURGE_MAX 16
struct page_purge {
	uintptr_t addr[PAGE_PURGE_MAX];
	size_t npages[PAGE_PURGE_MAX];
	int n;
};

void pcache_init(struct page_cache *pc, int domain);
/*
 * A cached run of npages whose start is aligned to align_pages pages (a
 * power of two), carved from the lowest-addressed run that holds it; 0 when
 * none does.
 */
uintptr_t pcache_take(struct page_cache *pc, size_t npages, size_t align_pages);
/*
 * When pcache_take found nothing: a cached run shorter than npages, aligned,
 * grown by the free address space after it to npages, taken out of the cache
 * whole; *fresh is the number of pages added (they read zero).  0 if none.
 */
uintptr_t pcache_take_extending(struct page_cache *pc, size_t npages, size_t align_pages,
    size_t *fresh);
/* The npages at addr, if they are the start of a cached run (growth in place). */
bool pcache_take_at(struct page_cache *pc, uintptr_t addr, size_t npages);
/*
 * Caches [addr, +npages), merged with its free neighbours.  False when no
 * run description could be had: the caller gives the pages back instead.
 */
bool pcache_put(struct page_cache *pc, uintptr_t addr, size_t npages, uint64_t now);
/*
 * Moves at least bytes (oldest runs first; the tail of a run when it is
 * bigger than needed) to pp, or as much as pp can take.  Returns the bytes
 * moved.
 */
uint64_t pcache_evict(struct page_cache *pc, uint64_t bytes, struct page_purge *pp);
/* Moves every run freed at or before cutoff_ns to pp, as far as pp has room. */
uint64_t pcache_evict_older(struct page_cache *pc, uint64_t cutoff_ns, struct page_purge *pp);
/* Debug builds: every run is on its bin and the age list, tagged, counted. */
void pcache_check(const struct page_cache *pc);

#endif /* NK_PAGE_CACHE_H */
