/*
 * numakeg: FreeBSD's UMA slab allocator in user space, NUMA-aware and
 * daemon-free.  This is the one public header: the zone API (after uma(9)),
 * the nk_ malloc family, the NUMA controls and the statistics.
 */
#ifndef NUMAKEG_H
#define NUMAKEG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Zones ------------------------------------------------------------- */

typedef struct nk_zone *nk_zone_t;
typedef int  (*nk_ctor_t)(void *mem, size_t size, void *arg, int flags);
typedef void (*nk_dtor_t)(void *mem, size_t size, void *arg);
typedef int  (*nk_init_t)(void *mem, size_t size, int flags);
typedef void (*nk_fini_t)(void *mem, size_t size);

/* Alignment masks, as in UMA: an item is aligned to (mask + 1). */
#define NK_ALIGN_PTR    (sizeof(void *) - 1)
#define NK_ALIGN_CACHE  63
#define NK_ALIGN_PAGE   4095

/* Zone flags. */
#define NK_ZONE_FIRSTTOUCH  0x0001u /* items from the caller's domain (default) */
#define NK_ZONE_ROUNDROBIN  0x0002u /* slabs spread over all domains */
#define NK_ZONE_NOFREE      0x0004u /* slabs are never given back to the OS */
#define NK_ZONE_ZINIT       0x0008u /* items are zeroed when they enter the keg */
#define NK_ZONE_NOBUCKET    0x0010u /* no caches (per CPU or thread): every call goes to the keg */

/* Allocation flags. */
#define NK_WAITOK       0x0001 /* may sleep; never returns NULL */
#define NK_NOWAIT       0x0002 /* never sleeps; NULL with errno on failure */
#define NK_ZERO         0x0004 /* the item is zeroed before the ctor runs */
#define NK_USE_RESERVE  0x0008 /* may take the zone's reserved items, from any domain */
#define NK_NOVM         0x0010 /* never asks for new pages: existing slabs only */

/* nk_zone_reclaim() modes. */
#define NK_RECLAIM_TRIM   1 /* give back what the caches hold beyond their working set */
#define NK_RECLAIM_DRAIN  2 /* empty the caches (the caller's own and the depots) */

nk_zone_t nk_zcreate(const char *name, size_t size, nk_ctor_t ctor, nk_dtor_t dtor,
                     nk_init_t init, nk_fini_t fini, int align, uint32_t zflags);
nk_zone_t nk_zsecond_create(const char *name, nk_ctor_t ctor, nk_dtor_t dtor,
                            nk_init_t init, nk_fini_t fini, nk_zone_t master);
void  nk_zdestroy(nk_zone_t zone);
void *nk_zalloc(nk_zone_t zone, int flags);
void *nk_zalloc_arg(nk_zone_t zone, void *arg, int flags);
void *nk_zalloc_domain(nk_zone_t zone, void *arg, int domain, int flags);
void  nk_zfree(nk_zone_t zone, void *item);
void  nk_zfree_arg(nk_zone_t zone, void *item, void *arg);
int   nk_zone_reserve(nk_zone_t zone, int nitems);   /* 0 or an errno value */
int   nk_prealloc(nk_zone_t zone, int nitems);        /* 0 or an errno value */
int   nk_zone_set_max(nk_zone_t zone, int nitems);    /* the effective limit */
int   nk_zone_get_max(nk_zone_t zone);                /* 0: no limit */
int   nk_zone_get_cur(nk_zone_t zone);                /* items allocated now */
void  nk_zone_reclaim(nk_zone_t zone, int how);       /* NK_RECLAIM_TRIM / _DRAIN */
const char *nk_zone_name(nk_zone_t zone);
size_t nk_zone_size(nk_zone_t zone);                  /* the item size */
void  nk_reclaim(void);                               /* drain every zone */

/* ---- NUMA -------------------------------------------------------------- */

int nk_ndomains(void);
int nk_current_domain(void);
int nk_domain_of(const void *ptr);                  /* -1: not numakeg memory */
/*
 * Moves the calling thread to a domain: on a real NUMA machine it is pinned
 * to that node's cpus; with NUMAKEG_FAKE_DOMAINS the thread is simply said to
 * run there.  -1 undoes it (fake) or unpins (real).  0, or an errno value.
 * A thread on a fake domain is served by a cache of its own, not by the
 * per-CPU caches (NUMAKEG_CACHE), whose CPUs belong to their own domains.
 */
int nk_thread_set_domain(int domain);

/* ---- The malloc family ------------------------------------------------- */

void  *nk_malloc(size_t size);
void  *nk_calloc(size_t nmemb, size_t size);
void  *nk_realloc(void *ptr, size_t size);
void  *nk_reallocarray(void *ptr, size_t nmemb, size_t size);
void   nk_free(void *ptr);
/*
 * The size (and alignment) is a hint, never trusted: a block of another size
 * is freed as what it is, and bad or double frees are reported as nk_free's.
 */
void   nk_free_sized(void *ptr, size_t size);
void   nk_free_aligned_sized(void *ptr, size_t alignment, size_t size);
int    nk_posix_memalign(void **memptr, size_t alignment, size_t size);
void  *nk_aligned_alloc(size_t alignment, size_t size);
void  *nk_memalign(size_t alignment, size_t size);
void  *nk_valloc(size_t size);
void  *nk_pvalloc(size_t size);
size_t nk_malloc_usable_size(const void *ptr);
int    nk_malloc_trim(size_t pad);
/* An allocation placed on a given domain (falls back by distance when full). */
void  *nk_malloc_domain(size_t size, int domain);

/* ---- Statistics -------------------------------------------------------- */

struct nk_domain_stats {
	uint64_t allocs;        /* items handed out on this domain */
	uint64_t frees;         /* items given back by threads on this domain */
	uint64_t xdomain;       /* frees of items whose home is another domain */
	uint64_t fallbacks;     /* slabs taken here because another domain was full */
	uint64_t slabs;         /* slabs the keg holds on this domain */
	uint64_t free_items;    /* free items in those slabs */
	uint64_t cached_items;  /* items in this domain's bucket depot */
};
/* Per-domain counters of one zone; 0 or an errno value. */
int nk_zone_stats(nk_zone_t zone, int domain, struct nk_domain_stats *out);

struct nk_page_stats {
	uint64_t active_bytes;  /* pages in use on this domain */
	uint64_t dirty_bytes;   /* freed pages kept for reuse, not yet given back */
	uint64_t nofree_bytes;  /* pages that never go back to the OS */
	uint64_t limit_bytes;   /* NUMAKEG_DOMAIN_LIMIT for this domain, 0: none */
	uint64_t purged_bytes;  /* bytes given back to the OS (madvise) so far */
	uint64_t fallbacks;     /* page allocations that this domain could not serve */
};
int nk_page_stats(int domain, struct nk_page_stats *out);

/*
 * Prints every zone's per-domain statistics: text (like vmstat -z) or JSON.
 * A library built without statistics (cmake -DNUMAKEG_STATISTICS=OFF)
 * prints one line saying so instead (JSON: {"numakeg":VERSION,
 * "statistics":false}), as malloc_stats() does; nk_zone_stats and
 * nk_page_stats work the same in both builds.
 */
void nk_stats_print(FILE *out, int json);

/* ---- Version ----------------------------------------------------------- */

/*
 * The library's version, "MAJOR.MINOR.PATCH": the one number of the build
 * (project(VERSION) in CMakeLists.txt), which is also the shared library's
 * file version; the SONAME changes with MAJOR.  A static string, never NULL.
 */
const char *nk_version(void);

#ifdef __cplusplus
}
#endif
#endif /* NUMAKEG_H */
