/*
 * The coalescing cache of freed runs (page_cache.h).  Owns: run
 * descriptions, size bins, the age list, boundary tags in the descriptors of
 * free runs (PG_DIRTY on a run's first and last page, slab pointing at the
 * run).  Everything here runs under the domain's page lock.
 */
#include "page_cache.h"
#include "sys.h"

struct page_run {
	uintptr_t addr;
	size_t npages;                   /* 0: a spare description */
	uint64_t freed_ns;               /* when it, or a run merged into it, was freed */
	struct page_run *next, *prev;    /* its bin */
	struct page_run *newer, *older;  /* the age list */
	uint32_t bin;
	uint32_t domain;
};

/*
 * Descriptions come this many bytes at a time from outside the windows
 * (sys_map_private), never from the address space the program's blocks
 * are in: a heap overflow out of a block cannot reach them.  (Cut from the
 * windows, as they were, a chunk could sit right after a program's block.)
 */
#define PCACHE_SPARE_CHUNK ((size_t)64 << 10)
/*
 * Bounds on the searches, so that a bin of many runs costs no more than
 * this: runs looked at in a bin for the first that fits, and runs passed
 * over to insert one in address order.
 */
#define PCACHE_SCAN_MAX    32
#define PCACHE_SORT_SCAN   64
/* At most this many merge passes when nothing fits (see pcache_coalesce). */
#define PCACHE_COALESCE_PASSES 8
/* Runs shorter than this (64 KiB) merge with their neighbours as they come. */
#define PCACHE_MERGE_AT_ONCE 16

static unsigned
pcache_bin(size_t npages)
{
	NK_ASSERT(npages != 0, "an empty run");
	if (npages <= PCACHE_EXACT_BINS)
		return (unsigned)npages - 1;
	unsigned k = 63u - (unsigned)__builtin_clzl(npages);  /* >= 6 */
	unsigned sub = (unsigned)((npages - ((size_t)1 << k)) >> (k - 2));
	unsigned b = PCACHE_EXACT_BINS + (k - 6) * 4 + sub;
	return nk_min(b, PCACHE_NBINS - 1u);
}

static NK_COLD _Noreturn void
pcache_corrupt(const struct page_cache *pc, const struct page_run *r, const char *what)
{
	nk_panic("page cache of domain %d: free run %p [%#lx, +%zu pages] corrupted (%s): "
	    "heap corruption detected", pc->domain, (const void *)r, r ? r->addr : 0ul,
	    r ? r->npages : 0, what);
}

static void
pcache_tag(struct page_run *r)
{
	struct nk_pdesc *first = page_desc((void *)r->addr);
	struct nk_pdesc *last = first + r->npages - 1;
	first->slab = r;
	first->flags = PG_DIRTY;
	last->slab = r;
	last->flags = PG_DIRTY;
}

static void
pcache_untag_page(uintptr_t addr)
{
	struct nk_pdesc *d = page_desc((void *)addr);
	d->slab = NULL;
	d->flags = 0;
}

/* The free run whose last page is just before addr, if there is one. */
static struct page_run *
pcache_left_of(const struct page_cache *pc, uintptr_t addr)
{
	if (addr == nk_kva_base || kva_domain_of((void *)(addr - NK_PAGE_SIZE)) != pc->domain)
		return NULL;
	struct nk_pdesc *d = page_desc((void *)(addr - NK_PAGE_SIZE));
	if (!(d->flags & PG_DIRTY))
		return NULL;
	struct page_run *r = d->slab;
	if (r == NULL || r->npages == 0 || r->addr + (r->npages << NK_PAGE_SHIFT) != addr)
		pcache_corrupt(pc, r, "its last page's tag does not match it");
	return r;
}

/* The free run that starts at addr, if there is one. */
static struct page_run *
pcache_at(const struct page_cache *pc, uintptr_t addr)
{
	if (kva_domain_of((void *)addr) != pc->domain)
		return NULL;
	struct nk_pdesc *d = page_desc((void *)addr);
	if (!(d->flags & PG_DIRTY))
		return NULL;
	struct page_run *r = d->slab;
	if (r == NULL || r->npages == 0 || r->addr != addr)
		pcache_corrupt(pc, r, "its first page's tag does not match it");
	return r;
}

static struct page_run *
pcache_desc_alloc(struct page_cache *pc)
{
	if (pc->spare == NULL) {
		/* A system call under the page lock: once per 900 descriptions. */
		void *chunk = sys_map_private(PCACHE_SPARE_CHUNK);
		if (chunk == NULL)
			return NULL;
		page_account_meta(pc->domain, PCACHE_SPARE_CHUNK);
		struct page_run *r = (struct page_run *)chunk;
		size_t n = PCACHE_SPARE_CHUNK / sizeof(*r);
		for (size_t i = 0; i < n; i++) {
			r[i].npages = 0;
			r[i].next = i + 1 < n ? &r[i + 1] : NULL;
		}
		pc->spare = r;
	}
	struct page_run *r = pc->spare;
	pc->spare = r->next;
	r->domain = (uint32_t)pc->domain;
	return r;
}

static void
pcache_desc_free(struct page_cache *pc, struct page_run *r)
{
	r->npages = 0;
	r->next = pc->spare;
	pc->spare = r;
}

/*
 * Into its bin, in address order (the first PCACHE_SORT_SCAN runs are
 * compared; a bin longer than that is only nearly sorted): reuse takes the
 * lowest addresses, so a program's memory stays compact and the pages it
 * touched before are the ones it touches again.
 */
static void
pcache_link(struct page_cache *pc, struct page_run *r)
{
	unsigned b = pcache_bin(r->npages);
	struct page_run *prev = NULL, *next = pc->bins[b];
	for (int i = 0; next != NULL && next->addr < r->addr && i < PCACHE_SORT_SCAN; i++) {
		prev = next;
		next = next->next;
	}
	r->bin = b;
	r->prev = prev;
	r->next = next;
	if (next != NULL)
		next->prev = r;
	if (prev != NULL)
		prev->next = r;
	else
		pc->bins[b] = r;
	pc->nonempty[b / 64] |= 1ull << (b % 64);
	pc->bytes += r->npages << NK_PAGE_SHIFT;
	pcache_tag(r);
}

/* Off its bin, checked: a corrupted neighbour stops here, not in a wild write. */
static void
pcache_unlink(struct page_cache *pc, struct page_run *r)
{
	unsigned b = r->bin;
	if ((r->prev != NULL ? r->prev->next : pc->bins[b]) != r ||
	    (r->next != NULL && r->next->prev != r))
		pcache_corrupt(pc, r, "its bin's links do not point back at it");
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		pc->bins[b] = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	if (pc->bins[b] == NULL)
		pc->nonempty[b / 64] &= ~(1ull << (b % 64));
	pc->bytes -= r->npages << NK_PAGE_SHIFT;
}

/* The age list: newest at the head, oldest at the tail. */
/* Puts n on the age list just newer than r (r NULL: as the oldest). */
static void
pcache_age_insert(struct page_cache *pc, struct page_run *r, struct page_run *n)
{
	n->older = r;
	n->newer = r != NULL ? r->newer : pc->oldest;
	if (n->newer != NULL)
		n->newer->older = n;
	else
		pc->newest = n;
	if (r != NULL)
		r->newer = n;
	else
		pc->oldest = n;
	pc->runs++;
}

static void
pcache_age_unlink(struct page_cache *pc, struct page_run *r)
{
	if ((r->newer != NULL ? r->newer->older : pc->newest) != r ||
	    (r->older != NULL ? r->older->newer : pc->oldest) != r)
		pcache_corrupt(pc, r, "the age list does not point back at it");
	if (r->newer != NULL)
		r->newer->older = r->older;
	else
		pc->newest = r->older;
	if (r->older != NULL)
		r->older->newer = r->newer;
	else
		pc->oldest = r->newer;
	pc->runs--;
}

/* A run leaves the cache whole: tags, bin, age list, description. */
static void
pcache_remove(struct page_cache *pc, struct page_run *r)
{
	pcache_unlink(pc, r);
	pcache_age_unlink(pc, r);
	pcache_untag_page(r->addr);
	pcache_untag_page(r->addr + ((r->npages - 1) << NK_PAGE_SHIFT));
	pcache_desc_free(pc, r);
}

void
pcache_init(struct page_cache *pc, int domain)
{
	memset(pc, 0, sizeof(*pc));
	pc->domain = domain;
}

/* The first non-empty bin at or after b, or PCACHE_NBINS. */
static unsigned
pcache_next_bin(const struct page_cache *pc, unsigned b)
{
	for (unsigned w = b / 64; w < PCACHE_NBINS / 64; w++) {
		uint64_t bits = pc->nonempty[w];
		if (w == b / 64)
			bits &= ~0ull << (b % 64);
		if (bits != 0)
			return w * 64 + (unsigned)__builtin_ctzll(bits);
	}
	return PCACHE_NBINS;
}

/* Does r hold npages starting at a multiple of align_pages? The start, or 0. */
static uintptr_t
pcache_fit(const struct page_run *r, size_t npages, size_t align_pages)
{
	uintptr_t a = nk_roundup(r->addr, align_pages << NK_PAGE_SHIFT);
	if (a + (npages << NK_PAGE_SHIFT) > r->addr + (r->npages << NK_PAGE_SHIFT))
		return 0;
	return a;
}

/*
 * Takes [a, +npages) out of the cached run r: r keeps what lies before it,
 * the rest after it becomes a run of its own (the same age).
 */
static bool
pcache_carve(struct page_cache *pc, struct page_run *r, uintptr_t a, size_t npages)
{
	uintptr_t end = r->addr + (r->npages << NK_PAGE_SHIFT);
	uintptr_t cut_end = a + (npages << NK_PAGE_SHIFT);
	struct page_run *tail = NULL;
	if (a != r->addr && cut_end != end) {
		tail = pcache_desc_alloc(pc);
		if (tail == NULL)
			return false;
	}
	pcache_unlink(pc, r);
	pcache_untag_page(r->addr);
	pcache_untag_page(end - NK_PAGE_SIZE);
	if (a == r->addr && cut_end == end) {
		pcache_age_unlink(pc, r);
		pcache_desc_free(pc, r);
		return true;
	}
	if (a == r->addr) {
		r->addr = cut_end;
		r->npages = (end - cut_end) >> NK_PAGE_SHIFT;
		pcache_link(pc, r);
		return true;
	}
	r->npages = (a - r->addr) >> NK_PAGE_SHIFT;
	pcache_link(pc, r);
	if (tail != NULL) {
		tail->addr = cut_end;
		tail->npages = (end - cut_end) >> NK_PAGE_SHIFT;
		tail->freed_ns = r->freed_ns;
		pcache_link(pc, tail);
		pcache_age_insert(pc, r, tail);  /* r's age and place */
	}
	return true;
}

/* The first run of bin b, in address order, that holds the request; its start in *at. */
static struct page_run *
pcache_first_fit_in(const struct page_cache *pc, unsigned b, size_t npages, size_t align_pages,
    uintptr_t *at)
{
	int looked = 0;
	for (struct page_run *r = pc->bins[b]; r != NULL && looked++ < PCACHE_SCAN_MAX; r = r->next) {
		uintptr_t a = pcache_fit(r, npages, align_pages);
		if (a != 0) {
			*at = a;
			return r;
		}
	}
	return NULL;
}

/*
 * Absorbs the free run just right of r into r (r keeps its bin order after a
 * relink).  The merged run has the older of the two ages and the older's
 * place on the age list, so the age list stays in order.
 */
static void
pcache_absorb_right(struct page_cache *pc, struct page_run *r, struct page_run *right)
{
	pcache_unlink(pc, r);
	pcache_unlink(pc, right);
	pcache_untag_page(r->addr + ((r->npages - 1) << NK_PAGE_SHIFT));
	pcache_untag_page(right->addr);
	pcache_age_unlink(pc, r);
	if (right->freed_ns < r->freed_ns)
		r->freed_ns = right->freed_ns;
	/* Where the older of the two was: right's place, or r's old one. */
	pcache_age_insert(pc, r->freed_ns == right->freed_ns ? right->older : r->older, r);
	pcache_age_unlink(pc, right);
	r->npages += right->npages;
	pcache_desc_free(pc, right);
	pcache_link(pc, r);
}

/*
 * Merges every run with the free runs right of it.  Freed runs are not
 * merged as they come (jemalloc's delayed coalescing of dirty extents): a
 * run freed whole is most often taken again whole by the next request of
 * its size class, at the same address, so the pages the program touched
 * before are touched again and not new ones.  This runs when nothing fits.
 * Returns whether anything merged.
 */
static bool
pcache_coalesce(struct page_cache *pc)
{
	bool merged = false;
	/*
	 * A pass visits the runs oldest first and merges each into its left
	 * neighbour; a merged run can move to an age already passed, so passes
	 * repeat while they merge (a bounded number: what is left stays split).
	 */
	for (int pass = 0; pass < PCACHE_COALESCE_PASSES; pass++) {
		bool any = false;
		struct page_run *r = pc->oldest;
		while (r != NULL) {
			struct page_run *next = r->newer;
			struct page_run *left = pcache_left_of(pc, r->addr);
			if (left != NULL) {
				/* r goes; next may move, but it stays a live run. */
				pcache_absorb_right(pc, left, r);
				any = true;
			}
			r = next;
		}
		merged |= any;
		if (!any)
			break;
	}
	return merged;
}

/* The lowest-addressed run of exactly npages, aligned; NULL if none is seen. */
static struct page_run *
pcache_exact_fit(const struct page_cache *pc, size_t npages, size_t align_pages)
{
	int looked = 0;
	for (struct page_run *r = pc->bins[pcache_bin(npages)]; r != NULL && looked++ < PCACHE_SCAN_MAX;
	    r = r->next)
		if (r->npages == npages && (r->addr & ((align_pages << NK_PAGE_SHIFT) - 1)) == 0)
			return r;
	return NULL;
}

/*
 * A run of exactly the size first (the same class freed before, at the
 * same address); else first fit by address among the bins that can hold
 * the request, as jemalloc's extents and vmem's address-ordered policies,
 * the run split; else the free runs are merged and that is tried again.
 */
uintptr_t
pcache_take(struct page_cache *pc, size_t npages, size_t align_pages)
{
	struct page_run *exact = pcache_exact_fit(pc, npages, align_pages);
	if (exact != NULL)
		return pcache_carve(pc, exact, exact->addr, npages) ? exact->addr : 0;
	for (int pass = 0; pass < 2; pass++) {
		struct page_run *best = NULL;
		uintptr_t best_a = 0;
		for (unsigned b = pcache_next_bin(pc, pcache_bin(npages)); b < PCACHE_NBINS;
		    b = pcache_next_bin(pc, b + 1)) {
			uintptr_t a;
			struct page_run *r = pcache_first_fit_in(pc, b, npages, align_pages, &a);
			if (r != NULL && (best == NULL || r->addr < best->addr)) {
				best = r;
				best_a = a;
			}
		}
		if (best != NULL)
			return pcache_carve(pc, best, best_a, npages) ? best_a : 0;
		if (pass == 0 && !pcache_coalesce(pc))
			break;
	}
	return 0;
}

/*
 * No cached run holds the request: a run followed by free address space
 * grows into it, as glibc's top chunk does, so that only the pages added are
 * fresh (and fault) and the run's resident pages are used rather than kept
 * beside a fresh block and given back later.  The biggest runs are tried
 * first (the fewest fresh pages), at most PCACHE_SCAN_MAX of them.
 */
uintptr_t
pcache_take_extending(struct page_cache *pc, size_t npages, size_t align_pages, size_t *fresh)
{
	int looked = 0;
	for (int b = (int)pcache_bin(npages); b >= 0 && looked < PCACHE_SCAN_MAX; b--) {
		for (struct page_run *r = pc->bins[b]; r != NULL && looked++ < PCACHE_SCAN_MAX; r = r->next) {
			if (r->npages >= npages)
				continue;
			/*
			 * Free space after the run, else before it (aligned).  kva
			 * ranks below the page lock: it may be called with it held.
			 */
			size_t more = (npages - r->npages) << NK_PAGE_SHIFT;
			uintptr_t a = r->addr, mask = (align_pages << NK_PAGE_SHIFT) - 1;
			if ((a & mask) == 0 &&
			    kva_extend(a, r->npages << NK_PAGE_SHIFT, npages << NK_PAGE_SHIFT))
				;
			else if (((a - more) & mask) == 0 && kva_extend_down(a, more))
				a -= more;
			else
				continue;
			*fresh = npages - r->npages;
			pcache_remove(pc, r);
			return a;
		}
	}
	return 0;
}

bool
pcache_take_at(struct page_cache *pc, uintptr_t addr, size_t npages)
{
	struct page_run *r = pcache_at(pc, addr);
	if (r == NULL)
		return false;
	struct page_run *right;
	while (r->npages < npages &&
	    (right = pcache_at(pc, r->addr + (r->npages << NK_PAGE_SHIFT))) != NULL)
		pcache_absorb_right(pc, r, right);
	if (r->npages < npages)
		return false;
	return pcache_carve(pc, r, addr, npages);
}

bool
pcache_put(struct page_cache *pc, uintptr_t addr, size_t npages, uint64_t now)
{
	struct page_run *r = pcache_desc_alloc(pc);
	if (r == NULL) {
		/* No description to spare: merged into a neighbour it needs none. */
		struct page_run *left = pcache_left_of(pc, addr);
		if (left == NULL)
			return false;
		pcache_unlink(pc, left);
		pcache_untag_page(left->addr + ((left->npages - 1) << NK_PAGE_SHIFT));
		left->npages += npages;
		pcache_link(pc, left);
		return true;
	}
	r->addr = addr;
	r->npages = npages;
	r->freed_ns = pc->newest != NULL ? nk_max(now, pc->newest->freed_ns) : now;
	pcache_link(pc, r);
	pcache_age_insert(pc, pc->newest, r);
	if (npages < PCACHE_MERGE_AT_ONCE) {
		/*
		 * Small runs (slabs, medium blocks) merge at once: they are seldom
		 * taken again whole by a block of their own class, and left apart
		 * they fragment the cache (mixed-size workload: 41 -> 39.5 MiB).
		 */
		struct page_run *left = pcache_left_of(pc, addr);
		if (left != NULL) {
			pcache_absorb_right(pc, left, r);
			r = left;
		}
		struct page_run *right = pcache_at(pc, r->addr + (r->npages << NK_PAGE_SHIFT));
		if (right != NULL)
			pcache_absorb_right(pc, r, right);
	}
	return true;
}

static bool
pcache_purge_add(struct page_purge *pp, uintptr_t addr, size_t npages)
{
	if (pp->n == PAGE_PURGE_MAX)
		return false;
	pp->addr[pp->n] = addr;
	pp->npages[pp->n++] = npages;
	return true;
}

/* Moves the whole run r to pp (the caller checked there is room); its bytes. */
static uint64_t
pcache_evict_whole(struct page_cache *pc, struct page_run *r, struct page_purge *pp)
{
	uintptr_t a = r->addr;
	size_t n = r->npages;
	pcache_remove(pc, r);
	pcache_purge_add(pp, a, n);
	return n << NK_PAGE_SHIFT;
}

uint64_t
pcache_evict(struct page_cache *pc, uint64_t bytes, struct page_purge *pp)
{
	uint64_t moved = 0;
	while (moved < bytes && pc->oldest != NULL && pp->n < PAGE_PURGE_MAX) {
		struct page_run *r = pc->oldest;
		uint64_t left = bytes - moved;
		size_t need = (size_t)(left >> NK_PAGE_SHIFT) + ((left & NK_PAGE_MASK) != 0);
		if (need < r->npages) {
			/* Only the tail: the run keeps its start, so memory stays compact. */
			uintptr_t cut = r->addr + ((r->npages - need) << NK_PAGE_SHIFT);
			if (!pcache_carve(pc, r, cut, need))
				break;
			pcache_purge_add(pp, cut, need);
			moved += need << NK_PAGE_SHIFT;
			break;
		}
		moved += pcache_evict_whole(pc, r, pp);
	}
	return moved;
}

uint64_t
pcache_evict_older(struct page_cache *pc, uint64_t cutoff_ns, struct page_purge *pp)
{
	uint64_t moved = 0;
	while (pc->oldest != NULL && pc->oldest->freed_ns <= cutoff_ns && pp->n < PAGE_PURGE_MAX) {
		moved += pcache_evict_whole(pc, pc->oldest, pp);
	}
	return moved;
}

void
pcache_check(const struct page_cache *pc)
{
#ifdef NK_DEBUG
	uint64_t bytes = 0, runs = 0;
	for (unsigned b = 0; b < PCACHE_NBINS; b++) {
		NK_ASSERT(((pc->nonempty[b / 64] >> (b % 64)) & 1) == (pc->bins[b] != NULL),
		    "a bin's bit disagrees with the bin");
		for (const struct page_run *r = pc->bins[b]; r != NULL; r = r->next) {
			NK_ASSERT(r->bin == b && pcache_bin(r->npages) == b, "a run in the wrong bin");
			NK_ASSERT(page_desc((void *)r->addr)->slab == r &&
			    page_desc((void *)(r->addr + ((r->npages - 1) << NK_PAGE_SHIFT)))->slab == r,
			    "a run's boundary tags do not name it");
			bytes += r->npages << NK_PAGE_SHIFT;
		}
	}
	for (const struct page_run *r = pc->oldest; r != NULL; r = r->newer) {
		NK_ASSERT(r->newer == NULL || r->newer->freed_ns >= r->freed_ns,
		    "age list out of order");
		runs++;
	}
	NK_ASSERT(bytes == pc->bytes && runs == pc->runs, "cache counts disagree with its runs");
#else
	(void)pc;
#endif
}
