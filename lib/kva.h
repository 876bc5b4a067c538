/*
 * KVA: numakeg's "kernel virtual address space".  One reservation, cut into
 * a window per domain, so the domain of any numakeg address is a subtraction
 * and a shift.  Inside each window a vmem/vm_map-like arena hands out page
 * ranges; its boundary tags (map entries) come from a zone of its own whose
 * slabs take address space straight from the map (doc/DESIGN.md, "The KVA
 * map's own tags").
 */
#ifndef NK_KVA_H
#define NK_KVA_H

#include "nk_base.h"

extern uintptr_t nk_kva_base;     /* start of domain 0's window */
extern uintptr_t nk_kva_span;     /* ndomains windows */
extern unsigned  nk_kva_shift;    /* a domain is (p - base) >> this */
extern uint64_t  nk_kva_window;   /* a window's size: 2^shift, or less with one domain */

static inline bool
kva_contains(const void *p)
{
	return (uintptr_t)p - nk_kva_base < nk_kva_span;
}

static inline int
kva_domain_of(const void *p)
{
	uintptr_t off = (uintptr_t)p - nk_kva_base;
	return off < nk_kva_span ? (int)(off >> nk_kva_shift) : -1;
}

/* Reserves the windows; on a real multi-node machine binds each to its node. */
void kva_init(void);
/*
 * The map's boundary tags are items of a zone (NK_RANK_ENTRY_KEG) that the
 * zone layer makes at start-up and hands down as these operations, so that
 * kva.c calls no zone or keg function (doc/DESIGN.md, "The KVA map's own
 * tags").  alloc runs with the map locked and takes only reserved tags
 * (NK_USE_RESERVE | NK_NOVM); refill tops up a domain's reserve, and may
 * run with that domain's map locked: its slabs come from
 * kva_entry_slab_alloc, which carves them from the map itself.
 */
struct kva_entry_ops {
	void *(*alloc)(void);
	void (*free)(void *tag);
	int64_t (*free_count)(void);
	void (*refill)(int domain, int count);
	/* The entry keg's locks, taken inside the map locks at fork. */
	void (*fork_prepare)(void);
	void (*fork_parent)(void);
	void (*fork_child)(void);
};
#define KVA_ENTRY_RESERVE 32                /* free tags kept for locked insertions */
/*
 * A free segment's boundary tag.  Tags are items of the entry zone, whose
 * slabs lie in the windows beside the program's pages, so every unlink
 * checks a tag's links and range before it writes through them.
 */
struct kva_bt {
	uintptr_t start;
	size_t size;
	struct kva_bt *next, *prev;   /* on the size-class free list */
};
/* The tag of the free segment that starts at addr, or NULL.  It reads the
 * tag table without the map's lock: for tests, with no other thread in it. */
struct kva_bt *kva_free_tag(uintptr_t addr);
/* The size of a tag: the entry zone's item size. */
size_t kva_entry_size(void);
/* Registers the operations and fills each domain's reserve. */
void kva_set_entry_ops(const struct kva_entry_ops *ops);
/* The entry keg's slab allocator (keg_allocf_t): address space straight from the map. */
struct nk_keg;
void *kva_entry_slab_alloc(struct nk_keg *keg, int domain, size_t bytes, bool *zeroed);

/* A page-aligned range of the domain's window, aligned to align; 0 and errno. */
uintptr_t kva_alloc(int domain, size_t size, size_t align);
void kva_free(uintptr_t addr, size_t size);
/* Grows [addr, addr+oldsize) to newsize in place if the space after it is free. */
bool kva_extend(uintptr_t addr, size_t oldsize, size_t newsize);
/* Takes the more bytes just below addr if they are free (a range grows downwards). */
bool kva_extend_down(uintptr_t addr, size_t more);

/* Gives the pages of a range back to the OS; the range stays mapped and reads zero. */
void kva_purge(uintptr_t addr, size_t size);
/* Moves the pages of one range of a window onto another (sys_move); false: copy them. */
bool kva_move(uintptr_t from, size_t size, uintptr_t to);
/* Faults a range in now; ENOMEM when the OS refuses (or a test says so). */
int kva_populate(uintptr_t addr, size_t size);
/*
 * An array of entry_size bytes per page of the span, indexed by
 * (addr - nk_kva_base) >> NK_PAGE_SHIFT: it reads as zeros everywhere and is
 * writable where the windows are committed.  Registered before the first
 * allocation; NULL when the address space cannot be had.
 */
void *kva_meta_array(size_t entry_size);

struct kva_map_stats {
	uint64_t free_bytes;      /* free address space in the window */
	uint64_t free_segments;   /* boundary tags on the free lists */
	uint64_t committed;       /* bytes of the window made accessible so far */
	uint64_t replenishes;     /* times the entry reserve was refilled at unlock */
	uint64_t locked_slabs;    /* entry slabs carved while the map was already locked */
	uint64_t entries_reserve; /* free map entries right now */
};
void kva_map_stats(int domain, struct kva_map_stats *out);

/* fork(): every map lock, in order; then released or re-initialized. */
void kva_fork_prepare(void);
void kva_fork_parent(void);
void kva_fork_child(void);

#endif /* NK_KVA_H */
