/*
 * Large blocks: everything malloc hands out above the small classes, as
 * page runs.  Owns their size classes, their descriptors' PG_LARGE and
 * PG_TCACHED flags, the thread's cache of freed runs, growth and shrinking
 * in place, and their counts.  Calls: page, zone (nk_reclaim), topo.
 * Called by: malloc.  The zone layer knows nothing of large blocks.
 */
#ifndef NK_LARGE_H
#define NK_LARGE_H

#include "page.h"

/* Blocks above this are large (the largest small class). */
#define NK_LARGE_MIN_EXCL  32768

/*
 * Sets the caching policy (interleave spreads blocks one allocation a
 * domain, so a thread's cache of one domain's runs would defeat it) and
 * hooks the thread cache into nk_reclaim().
 */
void large_init(bool thread_cache);

/*
 * The size a large request is rounded to: four classes per doubling, as
 * jemalloc's, so that at most a quarter is waste and freed runs fit the
 * next request of a similar size; page-rounded above 4 MiB.  0 if n is too
 * big for any block.
 */
size_t large_size(size_t n);

/*
 * A block of at least n bytes aligned to align (a power of two, at least a
 * page), on domain or, unless exact, the nearest domain with room.  zero:
 * the first n bytes read zero.  NULL with errno ENOMEM.
 */
void *large_alloc(size_t n, size_t align, int domain, bool exact, bool zero);
/* p is a large block's start (page_lookup said NK_BLOCK_LARGE). */
void  large_free(void *p);
/*
 * Resizes a large block to hold n bytes (n > NK_LARGE_MIN_EXCL): in place
 * (p), or, for a block of 8 MiB and more, by moving its pages to a new run
 * of its domain without copying them (the new address).  NULL when it can
 * do neither, and the block is unchanged: the caller copies.
 */
void *large_realloc(void *p, size_t n);
/* The bytes a large block holds. */
size_t large_usable(const void *p);

/* The calling thread's cached runs go back to the page layer. */
void large_cache_flush(void);
/*
 * A domain's large blocks, thread caches included: the statistics'
 * malloc-large row, with a zone's columns (doc/STATS.md).
 */
struct large_counts {
	uint64_t allocs, frees;     /* blocks handed out, given back (by the block's domain) */
	uint64_t fails;             /* requests for this domain that returned NULL */
	uint64_t fallbacks;         /* blocks placed here for a request for another domain */
	uint64_t xdomain;           /* frees by this domain's threads of other domains' blocks */
	int64_t used_bytes;         /* the bytes of the blocks handed out and not given back */
	uint64_t cached_runs;       /* freed runs kept in this domain's thread caches */
	uint64_t cached_bytes;      /* and their bytes */
};
void large_counts(int domain, struct large_counts *out);

void large_fork_prepare(void);
void large_fork_parent(void);
void large_fork_child(void);

#endif /* NK_LARGE_H */
