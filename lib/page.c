/*
 * The page layer.  Owns: the page descriptors (one per page of the KVA,
 * found from the address by one subtraction and shift, as vtoslab), each
 * domain's page accounting and limit, its cache of freed runs (page_cache.c)
 * and its NOFREE list.  Calls: kva, page_cache, the boot arena (the domains
 * array, at start-up).  Called by: slab and keg,
 * large, the zone layer (nk_reclaim's purge, the map entries' accounting),
 * malloc (page_lookup), stats.
 *
 * Freed runs are not given back to the OS at once: page faults cost about
 * 2 us a page on these machines, so a domain keeps freed runs, merged with
 * their free neighbours when nothing else fits, and gives back those unused
 * for NUMAKEG_DECAY_MS, inline, on its own alloc and free paths (there is no
 * background thread).  How much it keeps is a budget on its footprint (in
 * use plus cached), not on the cache alone: the cache may fill what lies
 * between the bytes in use now and the most in use lately plus a headroom
 * (page_keep), so a program's resident memory stays within about 1.125
 * times its recent peak, and below its peaks the cache is large and reuse
 * saves the faults.  When nothing cached fits, a cached run grows into free
 * address space beside it (page_cache.c).  Runs of 32 MiB and more go
 * back at once.  The system calls that give pages back run after the domain
 * lock is dropped.
 *
 * NOFREE pages (doc/DESIGN.md, "NOFREE") never go back to the OS.  Freed
 * ones go on a per-domain list of runs, the run length in the run's first descriptor; only
 * page_free_nofree() puts them there, and page_free() of a NOFREE page is a
 * bug that stops the process.
 */

#include <time.h>

#include "boot.h"
#include "page.h"
#include "page_cache.h"
#include "topo.h"

#define PAGE_RETURN_AT_ONCE ((size_t)32 << 20)  /* runs this big skip the cache */
/* The decay ticks, a quarter of NUMAKEG_DECAY_MS each, that the recent peak spans. */
#define PAGE_PEAK_TICKS 4
/* The footprint may exceed the recent peak in use by this fraction of it, or this many bytes. */
#define PAGE_HEADROOM_SHIFT 3
#define PAGE_HEADROOM_MIN   ((uint64_t)8 << 20)

struct page_domain {
	nk_lock_t lock;
	struct page_cache cache;             /* freed runs kept for reuse */
	uintptr_t nofree_list;               /* first run; next in its descriptor */
	uint64_t active, nofree, nofree_free, limit, purged, fallbacks;
	uint64_t meta;                       /* atomic: metadata, taken under other locks */
	uint64_t last_decay_ns;
	/*
	 * The most in use in this decay tick and in the ones before it: the
	 * recent peak is their maximum, so it forgets a peak after
	 * PAGE_PEAK_TICKS ticks (NUMAKEG_DECAY_MS), not at once.
	 */
	uint64_t peak[PAGE_PEAK_TICKS];
	uint64_t peak_max;                   /* their maximum */
} __attribute__((aligned(NK_CACHELINE)));

struct nk_pdesc *nk_pdesc;
struct nk_pclass *nk_pclass;
/* nk_topo.ndomains of them, from the boot arena (page_init). */
static struct page_domain *page_domains;

static void
page_purge_flush(struct page_purge *pp)
{
	for (int i = 0; i < pp->n; i++) {
		size_t bytes = pp->npages[i] << NK_PAGE_SHIFT;
		kva_purge(pp->addr[i], bytes);
		kva_free(pp->addr[i], bytes);
	}
	pp->n = 0;
}

/*
 * The decay's clock: the kernel's coarse monotonic clock, read from the vDSO
 * without the time stamp counter, to the tick (a few ms), which is all the
 * decay needs; the precise one cost 36 instructions of the ~1100 in a
 * page-layer malloc/free pair.
 */
static uint64_t
page_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
page_count_purged(struct page_domain *pd, uint64_t bytes)
{
	NK_LOCK_ASSERT_OWNED(&pd->lock);
	pd->purged += bytes;
}

/*
 * The decay, every quarter of NUMAKEG_DECAY_MS: runs unused that long go
 * back, and the oldest tick's peak in use is forgotten.
 */
static void
page_decay(struct page_domain *pd, struct page_purge *pp, uint64_t now)
{
	NK_LOCK_ASSERT_OWNED(&pd->lock);
	uint64_t decay = nk_opt.decay_ms * 1000000u;
	if (now - pd->last_decay_ns < decay / PAGE_PEAK_TICKS)
		return;
	pd->last_decay_ns = now;
	memmove(&pd->peak[1], &pd->peak[0], sizeof(pd->peak) - sizeof(pd->peak[0]));
	pd->peak[0] = pd->active;
	pd->peak_max = 0;
	for (int i = 0; i < PAGE_PEAK_TICKS; i++)
		pd->peak_max = nk_max(pd->peak_max, pd->peak[i]);
	if (now >= decay)
		page_count_purged(pd, pcache_evict_older(&pd->cache, now - decay, pp));
}

/*
 * The cached bytes the domain may keep: what fills its footprint up to the
 * recent peak in use plus a headroom (an eighth of the peak, at least
 * PAGE_HEADROOM_MIN, at most NUMAKEG_DIRTY_MAX).  Below its peak a program's
 * freed pages all stay for reuse; past it only the headroom does, as fresh
 * pages are needed there anyway.  (Half the peak in the cache whatever was
 * in use, with NUMAKEG_DIRTY_MAX as a floor, held 1.4 times jemalloc's
 * memory on mimalloc-bench's malloc-large; a sixteenth as the headroom
 * faulted 30 % more there.)
 */
static uint64_t
page_keep(const struct page_domain *pd)
{
	NK_LOCK_ASSERT_OWNED(&pd->lock);
	uint64_t peak = pd->peak_max;
	uint64_t headroom = nk_min(nk_max(peak >> PAGE_HEADROOM_SHIFT, PAGE_HEADROOM_MIN),
	    nk_opt.dirty_max);
	uint64_t cap = peak + headroom;
	return cap > pd->active ? cap - pd->active : 0;
}

/* Gives back the oldest cached bytes beyond the budget (page_keep). */
static void
page_trim(struct page_domain *pd, struct page_purge *pp)
{
	NK_LOCK_ASSERT_OWNED(&pd->lock);
	uint64_t keep = page_keep(pd);
	if (pd->cache.bytes > keep)
		page_count_purged(pd, pcache_evict(&pd->cache, pd->cache.bytes - keep, pp));
}

static inline uint64_t
page_charged(const struct page_domain *pd)
{
	return pd->active + pd->cache.bytes + pd->nofree + __atomic_load_n(&pd->meta, __ATOMIC_RELAXED);
}

/* Room for bytes more under the domain's limit, giving cached runs back for it. */
static bool
page_make_room(struct page_domain *pd, size_t bytes, struct page_purge *pp)
{
	NK_LOCK_ASSERT_OWNED(&pd->lock);
	if (pd->limit == 0)
		return true;
	while (page_charged(pd) + bytes > pd->limit) {
		uint64_t moved = pcache_evict(&pd->cache, page_charged(pd) + bytes - pd->limit, pp);
		page_count_purged(pd, moved);
		if (moved == 0 || pp->n == PAGE_PURGE_MAX)
			return page_charged(pd) + bytes <= pd->limit;
	}
	return true;
}

/* The domain is at its limit: counted, unlocked, ENOMEM. */
static void *
page_refuse(struct page_domain *pd, struct page_purge *pp)
{
	NK_LOCK_ASSERT_OWNED(&pd->lock);
	pd->fallbacks++;
	nk_unlock(&pd->lock);
	page_purge_flush(pp);
	errno = ENOMEM;
	return NULL;
}

static void
page_note_active(struct page_domain *pd, uint64_t bytes)
{
	NK_LOCK_ASSERT_OWNED(&pd->lock);
	pd->active += bytes;
	pd->peak[0] = nk_max(pd->peak[0], pd->active);
	pd->peak_max = nk_max(pd->peak_max, pd->active);
}

void *
page_alloc(int domain, size_t npages, size_t align, bool *zeroed)
{
	struct page_domain *pd = &page_domains[domain];
	size_t bytes = npages << NK_PAGE_SHIFT;
	struct page_purge pp;
	pp.n = 0;  /* not = { 0 }: that clears both arrays on every call */
	uintptr_t a;

	size_t align_pages = nk_max(align, NK_PAGE_SIZE) >> NK_PAGE_SHIFT, fresh;

	nk_lock(&pd->lock);
	page_decay(pd, &pp, page_now_ns());
	a = pcache_take(&pd->cache, npages, align_pages);
	if (a != 0) {
		page_note_active(pd, bytes);
		nk_unlock(&pd->lock);
		page_purge_flush(&pp);
		*zeroed = false;
		return (void *)a;
	}
	/* Room for all of it, though a cached run may provide part. */
	if (!page_make_room(pd, bytes, &pp))
		return page_refuse(pd, &pp);
	a = pcache_take_extending(&pd->cache, npages, align_pages, &fresh);
	page_note_active(pd, bytes);  /* charged now, so two threads cannot both pass the limit */
	/* Fresh pages grow the footprint: the cache shrinks to stay in budget. */
	page_trim(pd, &pp);
	nk_unlock(&pd->lock);
	page_purge_flush(&pp);
	if (a != 0) {
		*zeroed = false;
		return (void *)a;
	}

	a = kva_alloc(domain, bytes, align);
	if (a == 0) {
		nk_lock(&pd->lock);
		pd->active -= bytes;
		pd->fallbacks++;
		nk_unlock(&pd->lock);
		errno = ENOMEM;
		return NULL;
	}
	*zeroed = true;
	return (void *)a;
}

/* Gives a run to the cache, or back to the OS if it is big or caching is off. */
static void
page_release(struct page_domain *pd, uintptr_t addr, size_t npages)
{
	size_t bytes = npages << NK_PAGE_SHIFT;
	struct page_purge pp;
	pp.n = 0;
	uint64_t now = page_now_ns();
	nk_lock(&pd->lock);
	pd->active -= bytes;
	if (bytes >= PAGE_RETURN_AT_ONCE || nk_opt.dirty_max == 0 ||
	    !pcache_put(&pd->cache, addr, npages, now)) {
		page_count_purged(pd, bytes);
		pp.addr[0] = addr;
		pp.npages[0] = npages;
		pp.n = 1;
	} else {
		page_trim(pd, &pp);
	}
	page_decay(pd, &pp, now);
	pcache_check(&pd->cache);
	nk_unlock(&pd->lock);
	page_purge_flush(&pp);
}

void
page_free(void *addr, size_t npages)
{
	struct nk_pdesc *d = page_desc(addr);
	/* Only page_free_nofree() may take NOFREE pages back (DESIGN.md, "NOFREE"). */
	if (d->flags & PG_NOFREE)
		nk_panic("page_free() of NOFREE page %p: use page_free_nofree()", addr);
	NK_ASSERT(((uintptr_t)addr & NK_PAGE_MASK) == 0, "unaligned page");
	d->flags = 0;
	d->slab = NULL;
	page_release(&page_domains[kva_domain_of(addr)], (uintptr_t)addr, npages);
}

void *
page_alloc_nofree(int domain, size_t npages)
{
	struct page_domain *pd = &page_domains[domain];
	size_t bytes = npages << NK_PAGE_SHIFT;
	struct page_purge pp;
	pp.n = 0;

	nk_lock(&pd->lock);
	/* First fit on the NOFREE list; a longer run is split at the front. */
	uintptr_t *link = &pd->nofree_list;
	for (uintptr_t r = *link; r != 0; link = (uintptr_t *)&page_desc((void *)r)->slab, r = *link) {
		struct nk_pdesc *h = page_desc((void *)r);
		NK_ASSERT(h->flags & PG_NOFREE_LIST, "NOFREE list run without its mark");
		if (h->npages < npages)
			continue;
		uintptr_t next = (uintptr_t)h->slab;
		if (h->npages > npages) {
			uintptr_t rest = r + bytes;
			struct nk_pdesc *rh = page_desc((void *)rest);
			rh->npages = h->npages - (uint32_t)npages;
			rh->flags = PG_NOFREE | PG_NOFREE_LIST;
			rh->slab = (void *)next;
			next = rest;
		}
		*link = next;
		h->flags = PG_NOFREE;
		h->slab = NULL;
		h->npages = (uint32_t)npages;
		pd->nofree_free -= bytes;
		nk_unlock(&pd->lock);
		return (void *)r;
	}
	if (!page_make_room(pd, bytes, &pp))
		return page_refuse(pd, &pp);
	pd->nofree += bytes;
	nk_unlock(&pd->lock);
	page_purge_flush(&pp);

	uintptr_t a = kva_alloc(domain, bytes, NK_PAGE_SIZE);
	if (a == 0) {
		nk_lock(&pd->lock);
		pd->nofree -= bytes;
		nk_unlock(&pd->lock);
		errno = ENOMEM;
		return NULL;
	}
	/*
	 * NOFREE pages are committed now, page by page, as kmem_malloc does.
	 * If the OS refuses part-way, the pages already taken are NOFREE for
	 * good: they go on the NOFREE list, the rest of the range goes back.
	 */
	for (size_t i = 0; i < npages; i++) {
		uintptr_t p = a + (i << NK_PAGE_SHIFT);
		struct nk_pdesc *d = page_desc((void *)p);
		if (kva_populate(p, NK_PAGE_SIZE) != 0) {
			if (i > 0)
				page_free_nofree((void *)a, i);
			kva_free(p, (npages - i) << NK_PAGE_SHIFT);
			nk_lock(&pd->lock);
			pd->nofree -= (npages - i) << NK_PAGE_SHIFT;
			nk_unlock(&pd->lock);
			errno = ENOMEM;
			return NULL;
		}
		d->flags = PG_NOFREE;
		d->domain = (uint16_t)domain;
	}
	return (void *)a;
}

void
page_free_nofree(void *addr, size_t npages)
{
	for (size_t i = 0; i < npages; i++) {
		struct nk_pdesc *d = page_desc((char *)addr + (i << NK_PAGE_SHIFT));
		if (!(d->flags & PG_NOFREE) || (d->flags & PG_NOFREE_LIST))
			nk_panic("page_free_nofree(%p, %zu): page %zu is not an allocated NOFREE page",
			    addr, npages, i);
		d->flags = PG_NOFREE;
		d->slab = NULL;
	}
	struct page_domain *pd = &page_domains[kva_domain_of(addr)];
	struct nk_pdesc *h = page_desc(addr);
	nk_lock(&pd->lock);
	h->flags = PG_NOFREE | PG_NOFREE_LIST;
	h->npages = (uint32_t)npages;
	h->slab = (void *)pd->nofree_list;
	pd->nofree_list = (uintptr_t)addr;
	pd->nofree_free += npages << NK_PAGE_SHIFT;
	nk_unlock(&pd->lock);
}

bool
page_grow(void *addr, size_t oldpages, size_t newpages)
{
	struct page_domain *pd = &page_domains[kva_domain_of(addr)];
	uintptr_t at = (uintptr_t)addr + (oldpages << NK_PAGE_SHIFT);
	size_t morepages = newpages - oldpages, more = morepages << NK_PAGE_SHIFT;
	struct page_purge pp;
	pp.n = 0;
	nk_lock(&pd->lock);
	/* A freed run right after the block: its pages are taken as they are. */
	if (pcache_take_at(&pd->cache, at, morepages)) {
		page_note_active(pd, more);
		nk_unlock(&pd->lock);
		return true;
	}
	bool room = page_make_room(pd, more, &pp);
	if (room)
		page_note_active(pd, more);
	nk_unlock(&pd->lock);
	page_purge_flush(&pp);
	if (!room)
		return false;
	if (!kva_extend(at - (oldpages << NK_PAGE_SHIFT), oldpages << NK_PAGE_SHIFT,
	    newpages << NK_PAGE_SHIFT)) {
		nk_lock(&pd->lock);
		pd->active -= more;
		nk_unlock(&pd->lock);
		return false;
	}
	return true;
}

bool
page_move(void *from, size_t npages, void *to)
{
	return kva_move((uintptr_t)from, npages << NK_PAGE_SHIFT, (uintptr_t)to);
}

void
page_zero(void *addr, size_t npages)
{
	kva_purge((uintptr_t)addr, npages << NK_PAGE_SHIFT);
}

void
page_shrink(void *addr, size_t oldpages, size_t newpages)
{
	NK_ASSERT(newpages > 0 && newpages < oldpages, "page_shrink that does not shrink");
	page_release(&page_domains[kva_domain_of(addr)],
	    (uintptr_t)addr + (newpages << NK_PAGE_SHIFT), oldpages - newpages);
}

void
page_set_slab(void *addr, size_t npages, void *slab, int domain, uint16_t zid, uint16_t extra)
{
	struct nk_pdesc *d = page_desc(addr);
	struct nk_pclass *e = &nk_pclass[((uintptr_t)addr - nk_kva_base) >> NK_PAGE_SHIFT];
	NK_ASSERT(npages <= UINT16_MAX + 1u, "a slab too long for its page entries");
	for (size_t i = 0; i < npages; i++) {
		e[i].zid1 = (uint16_t)(zid + 1);  /* a zone not registered yet (UINT16_MAX): 0 */
		e[i].pgidx = (uint16_t)i;
		d[i].slab = slab;
		d[i].pgidx = (uint16_t)i;
		d[i].zid = zid;
		d[i].domain = (uint16_t)domain;
		d[i].flags = PG_SLAB | extra;
	}
}

void
page_set_large(void *addr, size_t npages, int domain, uint16_t flags)
{
	struct nk_pdesc *d = page_desc(addr);
	NK_ASSERT(npages <= UINT32_MAX, "a run too long for its descriptor");
	d->slab = NULL;
	d->npages = (uint32_t)npages;
	d->domain = (uint16_t)domain;
	d->flags = flags;
}

void
page_clear(void *addr, size_t npages)
{
	struct nk_pdesc *d = page_desc(addr);
	struct nk_pclass *e = &nk_pclass[((uintptr_t)addr - nk_kva_base) >> NK_PAGE_SHIFT];
	for (size_t i = 0; i < npages; i++) {
		e[i] = (struct nk_pclass){ 0, 0 };
		uint16_t keep = d[i].flags & PG_NOFREE;
		d[i].slab = NULL;
		d[i].flags = keep;
	}
}

void
page_account_meta(int domain, size_t bytes)
{
	__atomic_add_fetch(&page_domains[domain].meta, bytes, __ATOMIC_RELAXED);
}

void
page_purge_all(void)
{
	for (int d = 0; d < nk_topo.ndomains; d++) {
		struct page_domain *pd = &page_domains[d];
		for (;;) {
			struct page_purge pp;
	pp.n = 0;
			nk_lock(&pd->lock);
			page_count_purged(pd, pcache_evict(&pd->cache, UINT64_MAX, &pp));
			nk_unlock(&pd->lock);
			if (pp.n == 0)
				break;
			page_purge_flush(&pp);
		}
	}
}

NK_EXPORT int
nk_page_stats(int domain, struct nk_page_stats *out)
{
	if (domain < 0 || domain >= nk_topo.ndomains || out == NULL)
		return EINVAL;
	struct page_domain *pd = &page_domains[domain];
	nk_lock(&pd->lock);
	out->active_bytes = pd->active + __atomic_load_n(&pd->meta, __ATOMIC_RELAXED);
	out->dirty_bytes = pd->cache.bytes;
	out->nofree_bytes = pd->nofree;
	out->limit_bytes = pd->limit;
	out->purged_bytes = pd->purged;
	out->fallbacks = pd->fallbacks;
	nk_unlock(&pd->lock);
	return 0;
}

void
page_init(void)
{
	nk_pdesc = kva_meta_array(sizeof(struct nk_pdesc));
	if (nk_pdesc == NULL)
		nk_panic("cannot reserve %zu MiB of address space for the page descriptors "
		    "(ulimit -v?)", (nk_kva_span >> NK_PAGE_SHIFT) * sizeof(struct nk_pdesc) >> 20);
	nk_pclass = kva_meta_array(sizeof(*nk_pclass));
	if (nk_pclass == NULL)
		nk_panic("cannot reserve %zu MiB of address space for the page class map "
		    "(ulimit -v?)", (nk_kva_span >> NK_PAGE_SHIFT) * sizeof(*nk_pclass) >> 20);
	page_domains = boot_alloc((size_t)nk_topo.ndomains * sizeof(*page_domains), NK_CACHELINE);
	if (page_domains == NULL)
		nk_panic("no boot memory for %d page domains", nk_topo.ndomains);
	for (int d = 0; d < nk_topo.ndomains; d++) {
		nk_lock_init(&page_domains[d].lock, NK_RANK_PAGE);
		pcache_init(&page_domains[d].cache, d);
		page_domains[d].limit = nk_opt.limit[d];  /* NUMAKEG_DOMAIN_LIMIT, parsed by options.c */
	}
}

void
page_fork_prepare(void)
{
	for (int d = 0; d < nk_topo.ndomains; d++)
		pthread_mutex_lock(&page_domains[d].lock.mtx);
}

void
page_fork_parent(void)
{
	for (int d = 0; d < nk_topo.ndomains; d++)
		pthread_mutex_unlock(&page_domains[d].lock.mtx);
}

void
page_fork_child(void)
{
	for (int d = 0; d < nk_topo.ndomains; d++)
		nk_lock_reinit(&page_domains[d].lock);
}
