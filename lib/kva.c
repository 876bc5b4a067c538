/*
 * The KVA arena.  One reservation of address space (sys_reserve) holds a
 * window per domain, committed from its start as it is used.  Each window is a map of free segments described by
 * boundary tags: free lists by size class (vmem's instant fit) and a tag
 * table indexed by page that names the tag at each free segment's first and
 * last page, so that a freed range finds its free neighbours in O(1).
 *
 * The part that needs care is where the tags come from (doc/DESIGN.md, "The
 * KVA map's own tags"; FreeBSD's kernel map entries): they are items of the
 * entry zone, whose slabs take address space straight from the map.  Every
 * tag is allocated with the map locked, so an insertion never asks for a
 * new slab: it takes a reserved item and sets KVA_REPLENISH; kva_map_unlock()
 * then refills the reserve before it drops the lock, and that refill's slab
 * is carved out of the very map it holds (the allocf sees the lock is its
 * own).
 *
 * Layering: kva.c calls the lock layer, sys.c, the topology and the boot
 * arena (its maps, one per domain, come from there at start-up) only.  The
 * entry zone is made by the zone layer and reached through kva_entry_ops,
 * registered at start-up; the caller of kva_entry_slab_alloc accounts the
 * pages against the domain's limit (the page layer is above this one).
 */
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "boot.h"
#include "kva.h"
#include "sys.h"
#include "topo.h"

#define KVA_NLISTS       48
/*
 * The committed frontier grows by a quarter of what is committed, between
 * these bounds: few system calls for a growing heap, little committed and
 * unused for a small program (RLIMIT_DATA, strict overcommit).
 */
#define KVA_COMMIT_MIN   ((size_t)1 << 20)
#define KVA_COMMIT_MAX   ((size_t)64 << 20)
#define KVA_REPLENISH    0x1u
#define KVA_MIN_SHIFT    24                  /* the smallest window: 16 MiB */
#define KVA_MAX_META     4                   /* metadata arrays (kva_meta_array) */

struct kva_map {
	nk_lock_t lock;
	uintptr_t base, end;
	uintptr_t committed;          /* [base, committed) is read-write */
	struct kva_bt *lists[KVA_NLISTS];
	uint32_t flags;
	int domain;
	uint64_t free_bytes, nsegs, replenishes, locked_slabs;
	/* Each metadata array's slice for this window is writable from the
	 * slice's start up to here (page-aligned): committed once, not again. */
	uintptr_t meta_end[KVA_MAX_META];
	struct kva_bt boot_bt;        /* the window's first tag, never freed */
} __attribute__((aligned(NK_CACHELINE)));

uintptr_t nk_kva_base;
uintptr_t nk_kva_span;
unsigned nk_kva_shift;
uint64_t nk_kva_window;

/* nk_topo.ndomains maps, from the boot arena: a start touches what the
 * machine has, beside the zones' per-domain arrays. */
static struct kva_map *kva_maps;
static struct kva_bt **kva_tags;              /* per page of the whole span */
static struct kva_entry_ops kva_entries;
static bool kva_entries_ready;

static inline size_t
kva_page_index(uintptr_t a)
{
	return (a - nk_kva_base) >> NK_PAGE_SHIFT;
}

struct kva_bt *
kva_free_tag(uintptr_t addr)
{
	struct kva_bt *t = kva_contains((void *)addr) ? kva_tags[kva_page_index(addr)] : NULL;
	return t != NULL && t->start == addr ? t : NULL;
}

static inline int
kva_list_of(size_t size)
{
	size_t np = size >> NK_PAGE_SHIFT;
	return nk_min(63 - __builtin_clzl(np), KVA_NLISTS - 1);
}

/*
 * Arrays with an entry per page of the span (the tag table, the page
 * descriptors, the class map): reserved readable, so that a lookup of any
 * numakeg address reads zeros rather than faulting, and made writable a
 * slice at a time as the windows are committed.  Only what is committed
 * counts against RLIMIT_DATA.  They are cut from one reservation of
 * KVA_META_PER_PAGE bytes per page of the span, made with the span's (one
 * system call for all of them, at every process start, and a span too big
 * for them is refused and made smaller with the span).
 */
#define KVA_META_PER_PAGE 32  /* the tags' 8 bytes, the descriptors' 16, the class map's 4 */
static struct { char *base; size_t entry; } kva_meta[KVA_MAX_META];
static int kva_nmeta;
static char *kva_meta_region;
static size_t kva_meta_size, kva_meta_used;
static bool kva_committed_any;

void *
kva_meta_array(size_t entry_size)
{
	NK_ASSERT(!kva_committed_any, "a metadata array registered after the first commit");
	NK_ASSERT(kva_nmeta < KVA_MAX_META, "too many metadata arrays");
	size_t bytes = nk_roundup((nk_kva_span >> NK_PAGE_SHIFT) * entry_size, NK_PAGE_SIZE);
	NK_ASSERT(bytes <= kva_meta_size - kva_meta_used, "metadata past KVA_META_PER_PAGE");
	if (bytes > kva_meta_size - kva_meta_used)
		return NULL;
	char *p = kva_meta_region + kva_meta_used;
	kva_meta_used += bytes;
	kva_meta[kva_nmeta].base = p;
	kva_meta[kva_nmeta].entry = entry_size;
	kva_nmeta++;
	return p;
}

/*
 * Makes the metadata of m's pages [from, to) writable.  A window's slices
 * are committed from their start up (the first tag, then the frontier), so
 * what is writable already is skipped: the page an earlier call ended in is
 * not made writable twice.
 */
static int
kva_commit_meta(struct kva_map *m, uintptr_t from, uintptr_t to)
{
	for (int i = 0; i < kva_nmeta; i++) {
		uintptr_t lo = (uintptr_t)kva_meta[i].base + kva_page_index(from) * kva_meta[i].entry;
		uintptr_t hi = (uintptr_t)kva_meta[i].base + kva_page_index(to) * kva_meta[i].entry;
		lo &= ~(uintptr_t)NK_PAGE_MASK;
		hi = nk_roundup(hi, NK_PAGE_SIZE);
		NK_ASSERT(m->meta_end[i] == 0 || lo <= m->meta_end[i],
		    "a window's metadata committed with a gap");
		lo = nk_max(lo, m->meta_end[i]);
		if (lo >= hi)
			continue;
		if (sys_commit_meta((void *)lo, hi - lo) != 0)
			return ENOMEM;
		m->meta_end[i] = hi;
	}
	return 0;
}

/* ---- Tags on lists and in the tag table ---- */

/*
 * Whether a free segment's last page gets a tag.  Only a free of the range
 * just after a segment looks it up by its last page (kva_free_locked), and
 * nothing lies after the window's end: a segment that ends the window needs
 * no tag there.  So the tag table's slice of a window's last page is never
 * written and never committed (a system call and a page at every start;
 * the first free segment is the whole window).  A segment of one page is
 * tagged at its start anyway, which the frontier's commit covers.
 */
static inline bool
kva_bt_end_tagged(const struct kva_map *m, const struct kva_bt *bt)
{
	return bt->start + bt->size != m->end;
}

static void
kva_bt_link(struct kva_map *m, struct kva_bt *bt)
{
	NK_LOCK_ASSERT_OWNED(&m->lock);
	int l = kva_list_of(bt->size);
	bt->prev = NULL;
	bt->next = m->lists[l];
	if (bt->next)
		bt->next->prev = bt;
	m->lists[l] = bt;
	kva_tags[kva_page_index(bt->start)] = bt;
	if (kva_bt_end_tagged(m, bt))
		kva_tags[kva_page_index(bt->start + bt->size - NK_PAGE_SIZE)] = bt;
	m->free_bytes += bt->size;
	m->nsegs++;
}

/*
 * Tags lie in the windows beside the program's pages, in a heap overflow's
 * reach; an unlink checks what it writes through (as slab_unlink does):
 * neighbours where tags can be (read only then) pointing back, the list
 * head, the tag table at both ends.  A failure reports and stops.
 */
static bool
kva_bt_plausible(const struct kva_map *m, const struct kva_bt *t)
{
	if (t == &m->boot_bt)
		return true;
	uintptr_t a = (uintptr_t)t;
	int d = kva_domain_of(t);
	/* Any window's committed part: the entry zone's items come from every domain. */
	return d >= 0 && (a & (sizeof(void *) - 1)) == 0 &&
	    a + sizeof(*t) <= __atomic_load_n(&kva_maps[d].committed, __ATOMIC_RELAXED);
}

static void
kva_bt_check(const struct kva_map *m, const struct kva_bt *bt)
{
	const char *what = NULL;
	if (bt->start < m->base || bt->size == 0 || bt->size > m->end - bt->start ||
	    ((bt->start | bt->size) & NK_PAGE_MASK) != 0)
		what = "its range is not inside the window";
	else if (kva_tags[kva_page_index(bt->start)] != bt)
		what = "the tag table does not name it at its first page";
	else if (kva_bt_end_tagged(m, bt) &&
	    kva_tags[kva_page_index(bt->start + bt->size - NK_PAGE_SIZE)] != bt)
		what = "the tag table does not name it at its last page";
	else if ((bt->prev != NULL && !kva_bt_plausible(m, bt->prev)) ||
	    (bt->next != NULL && !kva_bt_plausible(m, bt->next)))
		what = "a list link points where no tag can be";
	else if (bt->prev != NULL ? bt->prev->next != bt : m->lists[kva_list_of(bt->size)] != bt)
		what = bt->prev != NULL ? "its list neighbour does not point back (prev->next)"
		                        : "it has no previous tag but does not head its list";
	else if (bt->next != NULL && bt->next->prev != bt)
		what = "its list neighbour does not point back (next->prev)";
	if (NK_UNLIKELY(what != NULL))
		nk_panic("heap overflow/corruption detected in the address-space map of domain %d: "
		    "boundary tag %p: %s", m->domain, (const void *)bt, what);
}

static void
kva_bt_unlink(struct kva_map *m, struct kva_bt *bt)
{
	NK_LOCK_ASSERT_OWNED(&m->lock);
	kva_bt_check(m, bt);
	if (bt->prev)
		bt->prev->next = bt->next;
	else
		m->lists[kva_list_of(bt->size)] = bt->next;
	if (bt->next)
		bt->next->prev = bt->prev;
	/* Stale tags would make allocated pages look like free neighbours. */
	kva_tags[kva_page_index(bt->start)] = NULL;
	if (kva_bt_end_tagged(m, bt))
		kva_tags[kva_page_index(bt->start + bt->size - NK_PAGE_SIZE)] = NULL;
	m->free_bytes -= bt->size;
	m->nsegs--;
}

/* A new tag, with the map locked: never a new slab here (DESIGN.md, "The KVA map's own tags"). */
static struct kva_bt *
kva_bt_alloc(struct kva_map *m)
{
	NK_LOCK_ASSERT_OWNED(&m->lock);
	NK_ASSERT(kva_entries_ready, "map entry needed before the entry zone exists");
	struct kva_bt *bt = kva_entries.alloc();
	/* Whatever was taken, the reserve is topped up before the unlock. */
	m->flags |= KVA_REPLENISH;
	return bt;
}

static void
kva_bt_free(struct kva_map *m, struct kva_bt *bt)
{
	if (bt == &m->boot_bt)
		return;  /* a window's first tag is the map's own */
	kva_entries.free(bt);
}

static void
kva_map_lock(struct kva_map *m)
{
	nk_lock(&m->lock);
}

/* Refills the entry reserve, with the map still locked, then unlocks. */
static void
kva_map_unlock(struct kva_map *m)
{
	NK_LOCK_ASSERT_OWNED(&m->lock);
	while (m->flags & KVA_REPLENISH) {
		m->flags &= ~KVA_REPLENISH;
		if (kva_entries_ready && kva_entries.free_count() < KVA_ENTRY_RESERVE) {
			/* The slab comes from this map: kva_entry_slab_alloc sees the lock is ours. */
			kva_entries.refill(m->domain, KVA_ENTRY_RESERVE);
			m->replenishes++;
		}
	}
	nk_unlock(&m->lock);
}

/* The node a window's pages are bound to, or -1 when placement is the OS's. */
static int
kva_node_of(const struct kva_map *m)
{
	return (!nk_topo.fake && nk_topo.ndomains > 1) ? nk_topo.os_node[m->domain] : -1;
}

/* One line, once, when the OS refuses to commit under a data limit. */
static void
kva_report_commit_failure(size_t len)
{
	static bool said;
	struct rlimit rl;
	if (__atomic_load_n(&said, __ATOMIC_RELAXED))
		return;
	/* A request larger than the limit itself is the program's business. */
	if (getrlimit(RLIMIT_DATA, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && len < rl.rlim_cur)
		nk_msg("the OS refused to commit %zu KiB more under RLIMIT_DATA (ulimit -d) of "
		    "%llu KiB: allocations fail with ENOMEM", len >> 10,
		    (unsigned long long)rl.rlim_cur >> 10);
	else
		return;
	__atomic_store_n(&said, true, __ATOMIC_RELAXED);
}

/* Makes m's frontier target: the metadata first, then the pages. */
static int
kva_commit_to(struct kva_map *m, uintptr_t target)
{
	kva_committed_any = true;
	/* The page after the frontier too: a free segment may start there. */
	if (kva_commit_meta(m, m->committed, target + NK_PAGE_SIZE) != 0 ||
	    sys_commit((void *)m->committed, target - m->committed) != 0)
		return ENOMEM;
	__atomic_store_n(&m->committed, target, __ATOMIC_RELAXED);  /* read unlocked by kva_bt_plausible */
	return 0;
}

/*
 * Makes [base, upto) accessible, charged now (sys_commit): an allocation the
 * kernel will not back fails here, not at a page fault.  A step it refuses
 * (a tight RLIMIT_DATA, strict overcommit) is retried with the need alone.
 */
static int
kva_commit_frontier(struct kva_map *m, uintptr_t upto)
{
	NK_LOCK_ASSERT_OWNED(&m->lock);
	if (upto <= m->committed)
		return 0;
	size_t step = nk_min(nk_max((m->committed - m->base) / 4, KVA_COMMIT_MIN), KVA_COMMIT_MAX);
	uintptr_t need = nk_roundup(upto, NK_PAGE_SIZE);
	uintptr_t target = nk_min(nk_roundup(upto, step), m->end);
	if (upto - m->committed > KVA_COMMIT_MAX)
		target = need;  /* a large request: no more than it */
	if (kva_commit_to(m, target) == 0 || (target > need && kva_commit_to(m, need) == 0))
		return 0;
	kva_report_commit_failure(need - m->committed);
	return ENOMEM;
}

/* Takes [a, a+size) out of the free segment bt. */
static int
kva_carve(struct kva_map *m, struct kva_bt *bt, uintptr_t a, size_t size)
{
	NK_LOCK_ASSERT_OWNED(&m->lock);
	uintptr_t bend = bt->start + bt->size;
	size_t lead = a - bt->start;
	size_t trail = bend - (a + size);
	NK_ASSERT(a >= bt->start && a + size <= bend, "carve outside its segment");
	struct kva_bt *tail = NULL;
	if (lead != 0 && trail != 0) {
		tail = kva_bt_alloc(m);
		if (tail == NULL)
			return ENOMEM;
	}
	kva_bt_unlink(m, bt);
	if (lead == 0 && trail == 0) {
		kva_bt_free(m, bt);
	} else if (lead == 0) {
		bt->start = a + size;
		bt->size = trail;
		kva_bt_link(m, bt);
	} else {
		bt->size = lead;
		kva_bt_link(m, bt);
		if (trail != 0) {
			tail->start = a + size;
			tail->size = trail;
			kva_bt_link(m, tail);
		}
	}
	return 0;
}

static uintptr_t
kva_alloc_locked(struct kva_map *m, size_t size, size_t align)
{
	NK_LOCK_ASSERT_OWNED(&m->lock);
	for (int l = kva_list_of(size); l < KVA_NLISTS; l++) {
		for (struct kva_bt *bt = m->lists[l]; bt != NULL; bt = bt->next) {
			uintptr_t a = nk_roundup(bt->start, align);
			if (a < bt->start || a + size > bt->start + bt->size || a + size < a)
				continue;
			if (kva_commit_frontier(m, a + size) != 0)
				return 0;
			if (kva_carve(m, bt, a, size) != 0)
				return 0;
			return a;
		}
	}
	return 0;
}

uintptr_t
kva_alloc(int domain, size_t size, size_t align)
{
	NK_ASSERT(domain >= 0 && domain < nk_topo.ndomains, "bad domain");
	NK_ASSERT((size & NK_PAGE_MASK) == 0 && size != 0, "unaligned size");
	align = nk_max(align, NK_PAGE_SIZE);
	struct kva_map *m = &kva_maps[domain];
	kva_map_lock(m);
	uintptr_t a = kva_alloc_locked(m, size, align);
	kva_map_unlock(m);
	if (a == 0)
		errno = ENOMEM;
	return a;
}

/* Frees with the map locked, coalescing with the free neighbours. */
static void
kva_free_locked(struct kva_map *m, uintptr_t addr, size_t size)
{
	NK_LOCK_ASSERT_OWNED(&m->lock);
	struct kva_bt *left = NULL, *right = NULL;
	if (addr > m->base) {
		struct kva_bt *t = kva_tags[kva_page_index(addr - NK_PAGE_SIZE)];
		if (t != NULL && t->start + t->size == addr)
			left = t;
	}
	if (addr + size < m->end) {
		struct kva_bt *t = kva_tags[kva_page_index(addr + size)];
		if (t != NULL && t->start == addr + size)
			right = t;
	}
	NK_ASSERT(left == NULL || left->start + left->size <= addr, "double free of KVA");
	if (left && right) {
		kva_bt_unlink(m, left);
		kva_bt_unlink(m, right);
		left->size += size + right->size;
		kva_bt_link(m, left);
		kva_bt_free(m, right);
	} else if (left) {
		kva_bt_unlink(m, left);
		left->size += size;
		kva_bt_link(m, left);
	} else if (right) {
		kva_bt_unlink(m, right);
		right->start = addr;
		right->size += size;
		kva_bt_link(m, right);
	} else {
		struct kva_bt *bt = kva_bt_alloc(m);
		if (bt == NULL) {
			/* Only if the reserve ran dry: lose the range, not the heap. */
			nk_msg("KVA: no map entry for [%#lx, +%zu): range leaked", addr, size);
			return;
		}
		bt->start = addr;
		bt->size = size;
		kva_bt_link(m, bt);
	}
}

void
kva_free(uintptr_t addr, size_t size)
{
	int d = kva_domain_of((void *)addr);
	NK_ASSERT(d >= 0 && (addr & NK_PAGE_MASK) == 0 && (size & NK_PAGE_MASK) == 0,
	    "kva_free of a range that is not KVA");
	struct kva_map *m = &kva_maps[d];
	kva_map_lock(m);
	kva_free_locked(m, addr, size);
	kva_map_unlock(m);
}

bool
kva_extend(uintptr_t addr, size_t oldsize, size_t newsize)
{
	int d = kva_domain_of((void *)addr);
	struct kva_map *m = &kva_maps[d];
	uintptr_t at = addr + oldsize;
	size_t more = newsize - oldsize;
	bool ok = false;
	kva_map_lock(m);
	if (at < m->end) {
		struct kva_bt *t = kva_tags[kva_page_index(at)];
		if (t != NULL && t->start == at && t->size >= more &&
		    kva_commit_frontier(m, at + more) == 0)
			ok = kva_carve(m, t, at, more) == 0;
	}
	kva_map_unlock(m);
	return ok;
}

bool
kva_extend_down(uintptr_t addr, size_t more)
{
	int d = kva_domain_of((void *)addr);
	struct kva_map *m = &kva_maps[d];
	bool ok = false;
	kva_map_lock(m);
	if (addr > m->base) {
		/* Below a committed range everything is committed: no frontier to move. */
		struct kva_bt *t = kva_tags[kva_page_index(addr - NK_PAGE_SIZE)];
		if (t != NULL && t->start + t->size == addr && t->size >= more)
			ok = kva_carve(m, t, addr - more, more) == 0;
	}
	kva_map_unlock(m);
	return ok;
}

void
kva_purge(uintptr_t addr, size_t size)
{
	sys_purge((void *)addr, size, kva_node_of(&kva_maps[kva_domain_of((void *)addr)]));
}

bool
kva_move(uintptr_t from, size_t size, uintptr_t to)
{
	NK_ASSERT(kva_domain_of((void *)from) == kva_domain_of((void *)to),
	    "pages moved across windows would sit on the wrong node");
	return sys_move((void *)from, size, (void *)to) == 0;
}

int
kva_populate(uintptr_t addr, size_t size)
{
	return sys_populate((void *)addr, size);
}

/* ---- The entry zone's slabs: straight from the map ---- */

void *
kva_entry_slab_alloc(struct nk_keg *keg, int domain, size_t bytes, bool *zeroed)
{
	(void)keg;
	struct kva_map *m = &kva_maps[domain];
	bool mine = nk_lock_owned(&m->lock);
	if (!mine)
		kva_map_lock(m);
	else
		m->locked_slabs++;
	/* A page-aligned carve from a segment's start needs no new tag. */
	uintptr_t a = kva_alloc_locked(m, bytes, NK_PAGE_SIZE);
	if (!mine)
		kva_map_unlock(m);
	if (a == 0)
		return NULL;
	*zeroed = true;
	return (void *)a;
}

size_t
kva_entry_size(void)
{
	return sizeof(struct kva_bt);
}

void
kva_set_entry_ops(const struct kva_entry_ops *ops)
{
	kva_entries = *ops;
	kva_entries_ready = true;
	for (int d = 0; d < nk_topo.ndomains; d++)
		kva_entries.refill(d, KVA_ENTRY_RESERVE);
}

void
kva_map_stats(int domain, struct kva_map_stats *out)
{
	struct kva_map *m = &kva_maps[domain];
	kva_map_lock(m);
	out->free_bytes = m->free_bytes;
	out->free_segments = m->nsegs;
	out->committed = m->committed - m->base;
	out->replenishes = m->replenishes;
	out->locked_slabs = m->locked_slabs;
	kva_map_unlock(m);
	out->entries_reserve = kva_entries_ready ? (uint64_t)kva_entries.free_count() : 0;
}

/* ---- Start-up ---- */

void
kva_init(void)
{
	int nd = nk_topo.ndomains;
	unsigned shift = 40;  /* 1 TiB a domain, less when there are many */
	const char *s = nk_opt.kva_window;  /* checked and capped by options.c */
	if (s != NULL) {
		uint64_t w = nk_parse_size(s, NULL);
		if (w != UINT64_MAX && w >= ((uint64_t)1 << KVA_MIN_SHIFT))
			shift = 63 - (unsigned)__builtin_clzll(w);
	}
	while (shift > 32 && ((uint64_t)nd << shift) > ((uint64_t)1 << 45))
		shift--;
	/*
	 * Windows are 2^shift bytes, so a domain is (p - base) >> shift; with one
	 * domain any size works (every offset below the span is domain 0).
	 * Under an address-space limit (ulimit -v) numakeg takes at most half
	 * of it, so the program keeps room for its own mappings.
	 */
	uint64_t window = (uint64_t)1 << shift;
	const uint64_t min_window = (uint64_t)1 << KVA_MIN_SHIFT;
	struct rlimit rl;
	if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
		uint64_t share = (uint64_t)rl.rlim_cur / 2 / (uint64_t)nd;
		if (nd == 1)
			window = nk_max(nk_min(window, share & ~(min_window - 1)), min_window);
		while (nd > 1 && window > min_window && window > share)
			window >>= 1;
	}
	void *base = NULL;
	for (;;) {
		size_t span = (size_t)nd * window;
		base = sys_reserve(span, false);
		if (base != NULL) {
			size_t meta = (span >> NK_PAGE_SHIFT) * KVA_META_PER_PAGE;
			kva_meta_region = sys_reserve(meta, true);
			if (kva_meta_region != NULL) {
				nk_kva_base = (uintptr_t)base;
				nk_kva_span = span;
				kva_meta_size = meta;
				kva_meta_used = 0;
				kva_nmeta = 0;
				kva_tags = kva_meta_array(sizeof(*kva_tags));
				break;
			}
			sys_unreserve(base, span);
			base = NULL;
		}
		if (window <= min_window)
			break;
		/* Refused: a smaller window (by quarters with one domain). */
		window = nd == 1 ? nk_max((window - window / 4) & ~(min_window - 1), min_window)
		                 : window / 2;
	}
	if (base == NULL)
		nk_panic("cannot reserve address space for %d domain windows of %u MiB",
		    nd, 1u << (KVA_MIN_SHIFT - 20));
	shift = 63 - (unsigned)__builtin_clzll(window);
	if (((uint64_t)1 << shift) < window)
		shift++;  /* one domain: the window may be no power of two */
	nk_kva_window = window;
	nk_kva_base = (uintptr_t)base;
	nk_kva_shift = shift;
	nk_kva_span = (uintptr_t)nd * window;

	kva_maps = boot_alloc((size_t)nd * sizeof(*kva_maps), NK_CACHELINE);
	if (kva_maps == NULL)
		nk_panic("no boot memory for %d domain maps", nd);
	for (int d = 0; d < nd; d++) {
		struct kva_map *m = &kva_maps[d];
		nk_lock_init(&m->lock, NK_RANK_KVA);
		m->domain = d;
		m->base = nk_kva_base + ((uintptr_t)d << shift);
		m->end = m->base + window;
		m->committed = m->base;
		/* Pages of this window land on its node wherever they are touched. */
		int node = kva_node_of(m);
		if (node >= 0 && sys_bind_node((void *)m->base, m->end - m->base, node) != 0)
			nk_msg("mbind of domain %d's window to node %d failed: %s",
			    d, node, strerror(errno));
		/* The tag of the window's first page names its free segment (its
		 * last page has none: kva_bt_end_tagged). */
		if (kva_commit_meta(m, m->base, m->base + NK_PAGE_SIZE) != 0)
			nk_panic("cannot commit the KVA map's first tags");
		struct kva_bt *bt = &m->boot_bt;
		bt->start = m->base;
		bt->size = m->end - m->base;
		kva_map_lock(m);
		kva_bt_link(m, bt);
		kva_map_unlock(m);
	}
}

void
kva_fork_prepare(void)
{
	for (int d = 0; d < nk_topo.ndomains; d++)
		pthread_mutex_lock(&kva_maps[d].lock.mtx);
	if (kva_entries_ready)
		kva_entries.fork_prepare();
}

void
kva_fork_parent(void)
{
	if (kva_entries_ready)
		kva_entries.fork_parent();
	for (int d = 0; d < nk_topo.ndomains; d++)
		pthread_mutex_unlock(&kva_maps[d].lock.mtx);
}

void
kva_fork_child(void)
{
	if (kva_entries_ready)
		kva_entries.fork_child();
	for (int d = 0; d < nk_topo.ndomains; d++)
		nk_lock_reinit(&kva_maps[d].lock);
}
