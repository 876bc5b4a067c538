/*
 * Per-CPU caches (UMA's uma_cache, per CPU as in the kernel, on restartable
 * sequences as tcmalloc does in user space): for each CPU a region with,
 * per zone id below NK_TC_INLINE, a state word and an array of items.  The
 * fast paths (malloc_int.h, zone.c) pop and push with the sequences of
 * pcpu_rseq.h; the slow paths here refill an empty array from the depot or
 * the keg and spill half of a full one into the depot, and drain the
 * arrays of other CPUs (zone destroy, reclaim, idle CPUs).  A thread whose
 * rseq is not registered, or that set its own domain, uses a thread cache
 * (tcache.h) instead; doc/DESIGN.md, "Caches".
 */
#ifndef NK_PCPU_H
#define NK_PCPU_H

#include "bucket.h"
#include "pcpu_rseq.h"

/* True once pcpu_init() found rseq, membarrier and memory, and NUMAKEG_CACHE allows. */
extern bool nk_pcpu_on;

/* Start-up (zone_boot.c), after the options and the topology. */
void pcpu_init(void);

/*
 * The zone's capacity per CPU, from its item size, when it is registered;
 * 0 when no CPU may cache it (internal zones).  CPUs take it up lazily.
 */
void pcpu_zone_setup(struct nk_zone *z);

/* The calling thread's CPU from its rseq area; -1 when rseq is not registered. */
static inline int
pcpu_current_cpu(void)
{
	const struct rseq *rs = (const struct rseq *)
	    ((const char *)__builtin_thread_pointer() + nk_rseq_off);
	return (int)__atomic_load_n(&rs->cpu_id, __ATOMIC_RELAXED);
}

/*
 * The slow paths, for a zone the per-CPU caches may hold (cacheable, id
 * below NK_TC_INLINE).  pcpu_alloc: the caller's CPU's array, refilled;
 * NULL with errno when no item could be had; *declined when this CPU
 * cannot serve (no rseq, no memory for its region): use a thread cache.
 * pcpu_free: false when declined; else the item is cached or home.
 */
void *pcpu_alloc(struct nk_zone *z, int flags, bool *declined);
bool pcpu_free(struct nk_zone *z, void *item);

/*
 * Every CPU's items of z back to the keg (nk_zdestroy, drains).  dying: the
 * zone is being destroyed: its counts are reset and the arrays stay stopped
 * until the id's next zone takes them up.
 */
void pcpu_drain_zone(struct nk_zone *z, bool dying);
/* Every NUMAKEG_TRIM_MS: CPUs whose array of z did not change since the last
 * look (offline, out of every thread's cpuset, idle) give their items back. */
void pcpu_trim_idle(struct nk_zone *z);

/* Counts of the CPUs of domain d for z; the items their arrays hold. */
void pcpu_zone_counts(struct nk_zone *z, int d, uint64_t *allocs, uint64_t *frees,
                      uint64_t *xdomain);
uint64_t pcpu_zone_items(struct nk_zone *z, int d);

/* fork(): the regions' locks (a rank below the registry's). */
void pcpu_fork_prepare(void);
void pcpu_fork_parent(void);
void pcpu_fork_child(void);

#endif /* NK_PCPU_H */
