/*
 * Large blocks (large.h).  Owns: the large size classes, PG_LARGE and
 * PG_TCACHED in the descriptors, the per-thread cache of freed runs, resize
 * in place, and the counts.  Calls: page, zone (nk_reclaim and its hook),
 * topo.  Called by: malloc.
 *
 * A thread keeps a few freed runs of its domain (LARGE_TC_RUNS of at most
 * LARGE_TC_MAX_BYTES, LARGE_TC_BYTES in all) and hands them out again for
 * a request of the same class: a thread that churns large blocks then does
 * not queue on its domain's page lock.  Everything else goes to the page
 * layer, whose cache merges and reuses freed runs.
 */
#include <stdlib.h>

#include "large.h"
#include "topo.h"
#include "zone.h"

/*
 * The thread cache's bounds: these cover the common 64 KiB - 2 MiB buffers
 * (I/O, hash tables, images) and hold at most 8 MiB a thread, half of it
 * in one run at most.
 */
#define LARGE_TC_RUNS       8
#define LARGE_TC_MAX_BYTES  ((size_t)2 << 20)
#define LARGE_TC_BYTES      ((uint64_t)8 << 20)
/*
 * Above this a block is page-rounded, not classed: the waste would be real
 * memory.  A reused run is resident to its end, the class's tail included:
 * with classes up to 32 MiB, mimalloc-bench's malloc-large (blocks of 5-25
 * MiB) held 444 MiB in use at its peak for 397 MiB asked, and 1.1 times
 * jemalloc's memory in all; page-rounded, 397 MiB.
 */
#define LARGE_CLASSED_MAX   ((size_t)4 << 20)

struct large_tcache {
	void *run[LARGE_TC_RUNS];
	uint32_t npages[LARGE_TC_RUNS];
	uint32_t n;
	int domain;                 /* of every run it holds and of its counts */
	uint64_t bytes;
	uint64_t allocs, frees;     /* served by this cache, not yet in the totals */
	bool registered, dead;
	struct large_tcache *next, *prev;
};

static __thread struct large_tcache large_tc;
static bool large_tc_enabled;
static pthread_key_t large_tc_key;
static nk_lock_t large_registry_lock;
static struct large_tcache *large_tc_list;
/* Allocations and frees by domain that did not go through a thread cache. */
static uint64_t large_allocs[NK_MAX_DOMAINS], large_frees[NK_MAX_DOMAINS];
/*
 * The rest of the statistics' columns (struct large_counts), by domain, off
 * the thread caches' path: the page layer's calls around them cost far more.
 * held_bytes: the runs large blocks took from the page layer and have not
 * given back, in use or kept by a thread cache (whose bytes it knows), so
 * a cache hit or a free into a cache counts nothing.
 */
static struct {
	int64_t held_bytes;
	uint64_t fails, fallbacks, xdomain;
} large_dom[NK_MAX_DOMAINS] NK_BIG_BSS;

/*
 * Every count here serves only the statistics: with NK_STATS 0 the helpers
 * do nothing and their callers skip what they computed for them.
 */
static void
large_count_bytes(int domain, int64_t bytes)
{
	if (NK_STATS)
		__atomic_add_fetch(&large_dom[domain].held_bytes, bytes, __ATOMIC_RELAXED);
}

/* A request for domain `asked` that returned NULL. */
static void
large_count_fail(int asked)
{
	if (NK_STATS)
		__atomic_add_fetch(&large_dom[asked].fails, 1, __ATOMIC_RELAXED);
}

/* A run of `size` bytes from the page layer of domain d, asked for on `asked`. */
static void
large_count_alloc(int d, int asked, size_t size)
{
	if (!NK_STATS)
		return;
	__atomic_add_fetch(&large_allocs[d], 1, __ATOMIC_RELAXED);
	large_count_bytes(d, (int64_t)size);
	if (d != asked)
		__atomic_add_fetch(&large_dom[d].fallbacks, 1, __ATOMIC_RELAXED);
}

/* A block of npages going back to the page layer, by its domain (home). */
static void
large_count_free(void *p, size_t npages)
{
	if (!NK_STATS)
		return;
	int home = kva_domain_of(p), here = topo_current_domain();
	if (NK_UNLIKELY(home < 0))
		home = here;  /* never: page_desc found it in the windows */
	__atomic_add_fetch(&large_frees[home], 1, __ATOMIC_RELAXED);
	large_count_bytes(home, -(int64_t)(npages << NK_PAGE_SHIFT));
	if (home != here)
		__atomic_add_fetch(&large_dom[here].xdomain, 1, __ATOMIC_RELAXED);
}

size_t
large_size(size_t n)
{
	if (n > PTRDIFF_MAX || n > nk_kva_window)
		return 0;
	if (n > LARGE_CLASSED_MAX || n <= NK_LARGE_MIN_EXCL)
		return nk_roundup(nk_max(n, (size_t)1), NK_PAGE_SIZE);  /* aligned small ones too */
	/* n in (2^k, 2^(k+1)]: four steps of 2^(k-2), each a whole number of pages. */
	unsigned k = 63u - (unsigned)__builtin_clzl(n - 1);
	size_t step = nk_max((size_t)1 << (k - 2), NK_PAGE_SIZE);
	return nk_roundup(n, step);
}

/* ---- The thread cache ---- */

/* Its counts join the totals (under the registry lock). */
static void
large_tc_fold_counts(struct large_tcache *tc)
{
	if (NK_STATS) {
		__atomic_add_fetch(&large_allocs[tc->domain], tc->allocs, __ATOMIC_RELAXED);
		__atomic_add_fetch(&large_frees[tc->domain], tc->frees, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&tc->allocs, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&tc->frees, 0, __ATOMIC_RELAXED);
}

static void
large_tc_unregister(struct large_tcache *tc)
{
	nk_lock(&large_registry_lock);
	large_tc_fold_counts(tc);
	/* Checked as every list unlink is (the caches are thread-local, out of
	 * a heap overflow's reach, but a stray write still stops here). */
	if (NK_UNLIKELY((tc->prev != NULL ? tc->prev->next : large_tc_list) != tc ||
	    (tc->next != NULL && tc->next->prev != tc)))
		nk_panic("corruption detected in the large blocks' thread-cache list: cache %p: "
		    "its list neighbours do not point back", (void *)tc);
	if (tc->prev != NULL)
		tc->prev->next = tc->next;
	else
		large_tc_list = tc->next;
	if (tc->next != NULL)
		tc->next->prev = tc->prev;
	tc->registered = false;
	nk_unlock(&large_registry_lock);
}

/* Runs go back to the page layer; counts stay with the cache. */
static void
large_tc_drain(struct large_tcache *tc)
{
	while (tc->n > 0) {
		uint32_t i = tc->n - 1;
		__atomic_store_n(&tc->n, i, __ATOMIC_RELAXED);  /* the stats read n and bytes */
		void *run = tc->run[i];
		page_set_large(run, tc->npages[i], tc->domain, PG_LARGE);
		large_count_bytes(tc->domain, -(int64_t)((size_t)tc->npages[i] << NK_PAGE_SHIFT));
		page_free(run, tc->npages[i]);
	}
	__atomic_store_n(&tc->bytes, 0, __ATOMIC_RELAXED);
}

static void
large_tc_thread_exit(void *arg)
{
	struct large_tcache *tc = arg;
	large_tc_drain(tc);
	large_tc_unregister(tc);
	tc->dead = true;  /* a free after this (another key's destructor) skips the cache */
}

/* The calling thread's cache, registered on first use; NULL if it cannot be. */
static struct large_tcache *
large_tc_get(void)
{
	struct large_tcache *tc = &large_tc;
	if (NK_LIKELY(tc->registered))
		return tc;
	if (tc->dead || !large_tc_enabled)
		return NULL;
	if (pthread_setspecific(large_tc_key, tc) != 0)
		return NULL;
	tc->domain = topo_current_domain();
	nk_lock(&large_registry_lock);
	tc->prev = NULL;
	tc->next = large_tc_list;
	if (tc->next != NULL)
		tc->next->prev = tc;
	large_tc_list = tc;
	tc->registered = true;
	nk_unlock(&large_registry_lock);
	return tc;
}

/* The thread's domain changed: the old domain's runs and counts go. */
static void
large_tc_rehome(struct large_tcache *tc, int domain)
{
	large_tc_drain(tc);
	nk_lock(&large_registry_lock);
	large_tc_fold_counts(tc);
	tc->domain = domain;
	nk_unlock(&large_registry_lock);
}

static void *
large_tc_take(int domain, size_t npages)
{
	struct large_tcache *tc = large_tc_get();
	if (tc == NULL || tc->domain != domain)
		return NULL;
	for (uint32_t i = 0; i < tc->n; i++) {
		if (tc->npages[i] != npages)
			continue;
		void *run = tc->run[i];
		uint32_t last = tc->n - 1;
		tc->run[i] = tc->run[last];
		tc->npages[i] = tc->npages[last];
		__atomic_store_n(&tc->n, last, __ATOMIC_RELAXED);
		__atomic_store_n(&tc->bytes, tc->bytes - (npages << NK_PAGE_SHIFT), __ATOMIC_RELAXED);
		if (NK_STATS)
			__atomic_store_n(&tc->allocs, tc->allocs + 1, __ATOMIC_RELAXED);
		page_desc(run)->flags = PG_LARGE;
		return run;
	}
	return NULL;
}

static bool
large_tc_put(void *run, size_t npages)
{
	size_t bytes = npages << NK_PAGE_SHIFT;
	if (bytes > LARGE_TC_MAX_BYTES)
		return false;
	struct large_tcache *tc = large_tc_get();
	if (tc == NULL)
		return false;
	int domain = kva_domain_of(run);
	if (domain != tc->domain) {
		int here = topo_current_domain();
		if (domain != here)
			return false;   /* another domain's run goes home through the page layer */
		large_tc_rehome(tc, here);
	}
	if (tc->n == LARGE_TC_RUNS || tc->bytes + bytes > LARGE_TC_BYTES)
		return false;
	tc->run[tc->n] = run;
	tc->npages[tc->n] = (uint32_t)npages;
	__atomic_store_n(&tc->n, tc->n + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&tc->bytes, tc->bytes + bytes, __ATOMIC_RELAXED);
	if (NK_STATS)
		__atomic_store_n(&tc->frees, tc->frees + 1, __ATOMIC_RELAXED);
	page_desc(run)->flags = PG_LARGE | PG_TCACHED;
	return true;
}

void
large_cache_flush(void)
{
	struct large_tcache *tc = &large_tc;
	if (tc->registered)
		large_tc_drain(tc);
}

void
large_counts(int domain, struct large_counts *out)
{
	memset(out, 0, sizeof(*out));
	nk_lock(&large_registry_lock);
	out->allocs = __atomic_load_n(&large_allocs[domain], __ATOMIC_RELAXED);
	out->frees = __atomic_load_n(&large_frees[domain], __ATOMIC_RELAXED);
	out->used_bytes = __atomic_load_n(&large_dom[domain].held_bytes, __ATOMIC_RELAXED);
	out->fails = __atomic_load_n(&large_dom[domain].fails, __ATOMIC_RELAXED);
	out->fallbacks = __atomic_load_n(&large_dom[domain].fallbacks, __ATOMIC_RELAXED);
	out->xdomain = __atomic_load_n(&large_dom[domain].xdomain, __ATOMIC_RELAXED);
	for (struct large_tcache *tc = large_tc_list; tc != NULL; tc = tc->next)
		if (__atomic_load_n(&tc->domain, __ATOMIC_RELAXED) == domain) {
			out->allocs += __atomic_load_n(&tc->allocs, __ATOMIC_RELAXED);
			out->frees += __atomic_load_n(&tc->frees, __ATOMIC_RELAXED);
			out->cached_runs += __atomic_load_n(&tc->n, __ATOMIC_RELAXED);
			out->cached_bytes += __atomic_load_n(&tc->bytes, __ATOMIC_RELAXED);
		}
	nk_unlock(&large_registry_lock);
	if (NK_STATS)  /* else nothing counted the bytes held */
		out->used_bytes -= (int64_t)out->cached_bytes;  /* held, less what the caches keep */
}

/* ---- Blocks ---- */

/*
 * A recycled run handed out by calloc: above this many bytes its pages are
 * given back to the OS to be zeroed (as jemalloc zeroes dirty extents), not
 * cleared by hand, which would make every page resident whether or not the
 * program touches it.
 */
#define LARGE_ZERO_BY_PURGE ((size_t)64 << 10)

static void
large_zero(void *p, size_t n)
{
	if (n >= LARGE_ZERO_BY_PURGE)
		page_zero(p, nk_howmany(n, NK_PAGE_SIZE));
	else
		memset(p, 0, n);
}

void *
large_alloc(size_t n, size_t align, int domain, bool exact, bool zero)
{
	size_t size = large_size(n);
	if (size == 0) {
		large_count_fail(domain);
		errno = ENOMEM;
		return NULL;
	}
	size_t npages = size >> NK_PAGE_SHIFT;
	NK_ASSERT(align >= NK_PAGE_SIZE && (align & (align - 1)) == 0, "bad large alignment");
	if (align == NK_PAGE_SIZE) {
		void *run = large_tc_take(domain, npages);
		if (run != NULL) {
			if (zero)
				large_zero(run, n);
			return run;
		}
	}
	int tries = exact ? 1 : nk_topo.ndomains;
	for (int attempt = 0; attempt < 2; attempt++) {
		for (int i = 0; i < tries; i++) {
			int d = nk_topo.fallback[domain][i];
			bool zeroed;
			void *p = page_alloc(d, npages, align, &zeroed);
			if (p == NULL)
				continue;
			page_set_large(p, npages, d, PG_LARGE);
			large_count_alloc(d, domain, size);
			if (zero && !zeroed)
				large_zero(p, n);
			return p;
		}
		/* Out of memory: what the caches hold may be enough. */
		large_cache_flush();
		nk_reclaim();
	}
	large_count_fail(domain);
	errno = ENOMEM;
	return NULL;
}

void
large_free(void *p)
{
	struct nk_pdesc *pd = page_desc(p);
	NK_ASSERT((pd->flags & (PG_LARGE | PG_TCACHED)) == PG_LARGE && ((uintptr_t)p & NK_PAGE_MASK) == 0,
	    "large_free of something else");
	size_t npages = pd->npages;
	if (large_tc_put(p, npages))
		return;
	NK_ASSERT(kva_domain_of(p) >= 0, "a large block outside the windows");
	large_count_free(p, npages);
	page_free(p, npages);
}

static bool
large_resize(void *p, size_t n)
{
	struct nk_pdesc *pd = page_desc(p);
	size_t size = large_size(n);
	if (size == 0)
		return false;
	size_t oldpages = pd->npages, newpages = size >> NK_PAGE_SHIFT;
	if (newpages == oldpages)
		return true;
	if (newpages < oldpages) {
		/* Shrinking keeps the block where it is; a small class moves (malloc.c). */
		pd->npages = (uint32_t)newpages;
		page_shrink(p, oldpages, newpages);
		if (NK_STATS)
			large_count_bytes(kva_domain_of(p), -(int64_t)((oldpages - newpages) << NK_PAGE_SHIFT));
		return true;
	}
	if (!page_grow(p, oldpages, newpages))
		return false;
	pd->npages = (uint32_t)newpages;
	if (NK_STATS)
		large_count_bytes(kva_domain_of(p), (int64_t)((newpages - oldpages) << NK_PAGE_SHIFT));
	return true;
}

/*
 * Blocks this big that cannot grow in place move by remapping their pages
 * (mremap into a run of the same window), not by copying: 0.02-0.05 ms
 * whatever the size, against 5 ms (8 MiB) to 160 ms (256 MiB) for a copy
 * into fresh pages and 1-21 ms into resident ones, measured here.
 */
#define LARGE_MOVE_MIN ((size_t)8 << 20)

/* Moves a block of oldpages to a new run of newpages on its domain; NULL: copy it. */
static void *
large_move(void *p, size_t oldpages, size_t newpages)
{
	int d = kva_domain_of(p);
	int saved = errno;
	bool zeroed;
	void *q = page_alloc(d, newpages, NK_PAGE_SIZE, &zeroed);
	if (q == NULL) {
		errno = saved;  /* the copy may still find room elsewhere */
		return NULL;
	}
	if (!page_move(p, oldpages, q)) {
		page_free(q, newpages);
		errno = saved;
		return NULL;
	}
	/*
	 * The pages keep their node: the block stays on its domain, as it does
	 * when it grows in place.  The old run reads zero now; it is freed.
	 */
	page_set_large(q, newpages, d, PG_LARGE);
	page_free(p, oldpages);
	if (NK_STATS) {
		__atomic_add_fetch(&large_allocs[d], 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&large_frees[d], 1, __ATOMIC_RELAXED);
	}
	large_count_bytes(d, (int64_t)((newpages - oldpages) << NK_PAGE_SHIFT));
	return q;
}

void *
large_realloc(void *p, size_t n)
{
	if (large_resize(p, n))
		return p;
	size_t oldpages = page_desc(p)->npages, size = large_size(n);
	if ((oldpages << NK_PAGE_SHIFT) < LARGE_MOVE_MIN || size == 0)
		return NULL;
	NK_ASSERT(size >> NK_PAGE_SHIFT > oldpages, "a shrink that did not happen in place");
	return large_move(p, oldpages, size >> NK_PAGE_SHIFT);
}

size_t
large_usable(const void *p)
{
	return (size_t)page_desc(p)->npages << NK_PAGE_SHIFT;
}

/* ---- Start-up and fork ---- */

void
large_init(bool thread_cache)
{
	nk_lock_init(&large_registry_lock, NK_RANK_REGISTRY);
	large_tc_enabled = thread_cache && pthread_key_create(&large_tc_key, large_tc_thread_exit) == 0;
	zone_set_reclaim_hook(large_cache_flush);
}

void
large_fork_prepare(void)
{
	pthread_mutex_lock(&large_registry_lock.mtx);
}

void
large_fork_parent(void)
{
	pthread_mutex_unlock(&large_registry_lock.mtx);
}

/* Other threads' caches are gone with them: their counts stay, their runs leak. */
void
large_fork_child(void)
{
	nk_lock_reinit(&large_registry_lock);
	struct large_tcache *tc = large_tc_list;
	large_tc_list = NULL;
	while (tc != NULL) {
		struct large_tcache *next = tc->next;
		if (tc == &large_tc) {
			tc->prev = NULL;
			tc->next = NULL;
			large_tc_list = tc;
		} else {
			large_tc_fold_counts(tc);
		}
		tc = next;
	}
}
