/*
 * The per-CPU caches' internals, shared by pcpu.c (start-up, the calling
 * CPU's slow paths, fork) and pcpu_drain.c (other CPUs' arrays drained,
 * the counts): a region's layout, the state word's fields, the CPUs'
 * locks.  Included by those two files only.
 */
#ifndef NK_PCPU_INT_H
#define NK_PCPU_INT_H

#include "pcpu.h"

#define PCPU_REGION_BYTES ((size_t)1 << NK_PCPU_SHIFT)
#define PCPU_SLOTS        NK_PCPU_SLOTS
#define PCPU_BYTES        ((size_t)48 << 10)   /* an id's floor, in items' bytes */
#define PCPU_FLOOR_SLOTS  192
#define PCPU_CAP_MIN      4
#define PCPU_ID_BYTES     ((size_t)128 << 10)  /* an id's cap grows up to this */
#define PCPU_CPU_BYTES    ((size_t)1 << 20)    /* and a CPU's caps past their floors sum to at most this */
/* Items a refill moves at once (4 KiB of pointers on the slow path's
 * stack: a thread's stack may be as small as 16 KiB), so that a CPU that
 * only allocates trades with the depot once per 504 items; a spill moves
 * half an array, at most 252. */
#define PCPU_REFILL_MAX   504
#define PCPU_SPILL_MAX    252

/* The slow paths' counts of a CPU and zone id (see above), and the trim's last look. */
struct pcpu_count {
	uint32_t mark;               /* pushes at the last settle */
	uint32_t refill_mark;        /* pushes at the last refill (pcpu_alloc) */
	uint32_t draining;           /* a drain is sending the stopped array's items home */
	uint64_t frees;              /* pushes folded in by settles */
	uint64_t in, out, bypass, xdomain;
	uint64_t seen;               /* the state word at the last idle check */
	struct nk_bucket *cross;     /* other domains' items on their way home (the CPU's lock) */
};

/* A region's header; the ids' blocks (state word, items) follow at NK_PCPU_BLOCKS. */
struct pcpu_region {
	uint32_t domain;             /* the sequences compare it (pcpu_push_dom) */
	uint32_t made;
	char pad[NK_CACHELINE - 8];
	struct pcpu_count cnt[NK_TC_INLINE];
};
_Static_assert(sizeof(struct pcpu_region) <= NK_PCPU_BLOCKS, "the header overlaps the blocks");
_Static_assert(NK_PCPU_BLOCKS + (size_t)NK_TC_INLINE * NK_PCPU_BLOCK_STRIDE <= PCPU_REGION_BYTES,
    "blocks past the region");
_Static_assert(PCPU_SLOTS < NK_PCPU_BLOCK_STRIDE / sizeof(void *) &&
    PCPU_REFILL_MAX <= PCPU_SLOTS, "items past their block");

static inline uint64_t *
pcpu_state(struct pcpu_region *r, int id)
{
	return (uint64_t *)((char *)r + NK_PCPU_BLOCKS + pcpu_boff(id));
}

static inline void **
pcpu_items(struct pcpu_region *r, int id)
{
	return (void **)(pcpu_state(r, id) + 1);
}

extern int pcpu_ncpus;
extern uint16_t pcpu_id_cap[NK_TC_INLINE];      /* the floor; 0: not cached */
extern nk_lock_t pcpu_lock[NK_MAX_CPUS];

static inline struct pcpu_region *
pcpu_at(int cpu)
{
	return (struct pcpu_region *)(nk_pcpu_base + ((uintptr_t)cpu << NK_PCPU_SHIFT));
}

static inline uint32_t st_count(uint64_t st) { return (uint32_t)(st & NK_PCPU_COUNT_MASK); }
static inline uint32_t st_cap(uint64_t st) { return (uint32_t)(st >> NK_PCPU_CAP_SHIFT) & 0xffff; }
static inline uint32_t st_pushes(uint64_t st) { return (uint32_t)(st >> 32); }

static inline void
pcpu_add(uint64_t *counter, uint64_t n)
{
	__atomic_add_fetch(counter, n, __ATOMIC_RELAXED);
}

/* Folds the 32-bit pushes into the sum; the CPU's lock held.  The word read. */
uint64_t pcpu_settle(struct pcpu_region *r, int id);
long pcpu_membarrier(int cmd, unsigned flags, int cpu);
/* A cross bucket taken off a CPU (NULL: none) goes home, and is freed. */
void pcpu_send_cross(struct nk_zone *z, struct nk_bucket *b);

#endif /* NK_PCPU_INT_H */
