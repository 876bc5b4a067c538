/*
 * The page layer.  Every page of the KVA has a descriptor, found from the
 * address by one subtraction and shift (vtoslab).  Freed runs are not given
 * back to the OS at once: page faults cost about 2.3 us a page on these
 * machines, so a domain keeps freed runs for reuse, up to as many bytes as
 * it has in use (at least NUMAKEG_DIRTY_MAX), and gives back those older than
 * NUMAKEG_DECAY_MS, inline, on its own alloc/free paths (there is no
 * background thread).  Runs of 32 MiB and more
 * go back at once.
 *
 * NOFREE pages (seed 002) never go back to the OS.  Freed ones go on a
 * per-domain list of runs, the run length in the run's first descriptor; only
 * page_free_nofree() puts them there, and page_free() of a NOFREE page is a
 * bug that stops the process.
 */
#include <stdlib.h>
#include <sys/mman.h>

#include "page.h"
#include "topo.h"

#define PAGE_DIRTY_EXACT   64                   /* size lists for 1..64 pages */
#define PAGE_RETURN_AT_ONCE ((size_t)32 << 20)  /* runs this big skip the cache */

/* Lives in the first bytes of a dirty run: the run's memory is ours. */
struct page_dirty {
	struct page_dirty *next, *prev;     /* size list */
	struct page_dirty *anext, *aprev;   /* age list, oldest first */
	size_t npages;
	uint64_t freed_ns;
};

struct page_domain {
	nk_lock_t lock;
	struct page_dirty *bysize[PAGE_DIRTY_EXACT + 1];  /* [0]: longer runs */
	struct page_dirty *oldest, *newest;
	uintptr_t nofree_list;               /* first run; next in its descriptor */
	uint64_t active, dirty, nofree, nofree_free, limit, purged, fallbacks;
	uint64_t meta;                       /* atomic: map entries, taken under the map lock */
	uint64_t last_decay_ns;
	uint64_t active_peak;                /* the most in use lately; halves each decay tick */
} __attribute__((aligned(NK_CACHELINE)));

struct nk_pdesc *nk_pdesc;
static struct page_domain page_domains[NK_MAX_DOMAINS];

/* A list of runs to give back once the domain lock is dropped. */
struct page_purge {
	uintptr_t addr[16];
	size_t npages[16];
	int n;
};

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

static void
page_dirty_link(struct page_domain *pd, uintptr_t addr, size_t npages, uint64_t now)
{
	struct page_dirty *r = (struct page_dirty *)addr;
	int l = npages <= PAGE_DIRTY_EXACT ? (int)npages : 0;
	r->npages = npages;
	r->freed_ns = now;
	r->prev = NULL;
	r->next = pd->bysize[l];
	if (r->next)
		r->next->prev = r;
	pd->bysize[l] = r;
	r->anext = NULL;
	r->aprev = pd->newest;
	if (pd->newest)
		pd->newest->anext = r;
	else
		pd->oldest = r;
	pd->newest = r;
	pd->dirty += npages << NK_PAGE_SHIFT;
	struct nk_pdesc *d = page_desc(r);
	d->flags = PG_DIRTY;
	d->npages = (uint32_t)npages;
}

static void
page_dirty_unlink(struct page_domain *pd, struct page_dirty *r)
{
	int l = r->npages <= PAGE_DIRTY_EXACT ? (int)r->npages : 0;
	if (r->prev)
		r->prev->next = r->next;
	else
		pd->bysize[l] = r->next;
	if (r->next)
		r->next->prev = r->prev;
	if (r->aprev)
		r->aprev->anext = r->anext;
	else
		pd->oldest = r->anext;
	if (r->anext)
		r->anext->aprev = r->aprev;
	else
		pd->newest = r->aprev;
	pd->dirty -= r->npages << NK_PAGE_SHIFT;
	page_desc(r)->flags = 0;
}

/* Moves the oldest dirty run to the purge list; false when full or none. */
static bool
page_dirty_evict_oldest(struct page_domain *pd, struct page_purge *pp)
{
	struct page_dirty *r = pd->oldest;
	if (r == NULL || pp->n == (int)(sizeof(pp->addr) / sizeof(pp->addr[0])))
		return false;
	page_dirty_unlink(pd, r);
	pp->addr[pp->n] = (uintptr_t)r;
	pp->npages[pp->n++] = r->npages;
	pd->purged += r->npages << NK_PAGE_SHIFT;
	return true;
}

/* The decay: runs freed longer ago than NUMAKEG_DECAY_MS go back. */
static void
page_decay(struct page_domain *pd, struct page_purge *pp, uint64_t now)
{
	uint64_t decay = nk_opt.decay_ms * 1000000u;
	if (now - pd->last_decay_ns < decay / 4)
		return;
	pd->last_decay_ns = now;
	pd->active_peak = nk_max(pd->active, pd->active_peak / 2);
	while (pd->oldest != NULL && now - pd->oldest->freed_ns >= decay)
		if (!page_dirty_evict_oldest(pd, pp))
			break;
}

/* A cached run of exactly npages, or a longer one split. */
static uintptr_t
page_dirty_take(struct page_domain *pd, size_t npages)
{
	struct page_dirty *r = NULL;
	if (npages <= PAGE_DIRTY_EXACT)
		r = pd->bysize[npages];
	for (size_t l = npages + 1; r == NULL && l <= PAGE_DIRTY_EXACT; l++)
		r = pd->bysize[l];
	if (r == NULL)
		for (struct page_dirty *c = pd->bysize[0]; c != NULL; c = c->next)
			if (c->npages >= npages) {
				r = c;
				break;
			}
	if (r == NULL)
		return 0;
	size_t have = r->npages;
	uint64_t when = r->freed_ns;
	page_dirty_unlink(pd, r);
	if (have > npages)
		page_dirty_link(pd, (uintptr_t)r + (npages << NK_PAGE_SHIFT), have - npages, when);
	return (uintptr_t)r;
}

static inline uint64_t
page_charged(const struct page_domain *pd)
{
	return pd->active + pd->dirty + pd->nofree + __atomic_load_n(&pd->meta, __ATOMIC_RELAXED);
}

/* Room for bytes more under the domain's limit, purging cached runs for it. */
static bool
page_make_room(struct page_domain *pd, size_t bytes, struct page_purge *pp)
{
	if (pd->limit == 0)
		return true;
	while (page_charged(pd) + bytes > pd->limit)
		if (!page_dirty_evict_oldest(pd, pp))
			return false;
	return true;
}

/* The domain is at its limit: counted, unlocked, ENOMEM. */
static void *
page_refuse(struct page_domain *pd, struct page_purge *pp)
{
	pd->fallbacks++;
	nk_unlock(&pd->lock);
	page_purge_flush(pp);
	errno = ENOMEM;
	return NULL;
}

void *
page_alloc(int domain, size_t npages, size_t align, bool *zeroed)
{
	struct page_domain *pd = &page_domains[domain];
	size_t bytes = npages << NK_PAGE_SHIFT;
	struct page_purge pp = { .n = 0 };
	uintptr_t a = 0;

	nk_lock(&pd->lock);
	page_decay(pd, &pp, nk_now_ns());
	if (align <= NK_PAGE_SIZE && (a = page_dirty_take(pd, npages)) != 0) {
		pd->active += bytes;
		pd->active_peak = nk_max(pd->active_peak, pd->active);
		nk_unlock(&pd->lock);
		page_purge_flush(&pp);
		*zeroed = false;
		return (void *)a;
	}
	if (!page_make_room(pd, bytes, &pp))
		return page_refuse(pd, &pp);
	pd->active += bytes;    /* charged now, so two threads cannot both pass the limit */
	pd->active_peak = nk_max(pd->active_peak, pd->active);
	nk_unlock(&pd->lock);
	page_purge_flush(&pp);

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
	struct page_purge pp = { .n = 0 };
	nk_lock(&pd->lock);
	pd->active -= bytes;
	if (bytes >= PAGE_RETURN_AT_ONCE || nk_opt.dirty_max == 0) {
		pd->purged += bytes;
		pp.addr[0] = addr;
		pp.npages[0] = npages;
		pp.n = 1;
	} else {
		uint64_t now = nk_now_ns();
		page_dirty_link(pd, addr, npages, now);
		/*
		 * A domain keeps as many freed bytes as it had in use lately (at
		 * least NUMAKEG_DIRTY_MAX): a program that frees and reallocates a
		 * large working set in rounds then faults nothing in again.  The
		 * decay gives them back once they stay unused.
		 */
		uint64_t keep = nk_max(nk_opt.dirty_max, pd->active_peak);
		while (pd->dirty > keep && page_dirty_evict_oldest(pd, &pp))
			;
		page_decay(pd, &pp, now);
	}
	nk_unlock(&pd->lock);
	page_purge_flush(&pp);
}

void
page_free(void *addr, size_t npages)
{
	struct nk_pdesc *d = page_desc(addr);
	/* seed 002: only page_free_nofree() may take NOFREE pages back. */
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
	struct page_purge pp = { .n = 0 };

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
	size_t more = (newpages - oldpages) << NK_PAGE_SHIFT;
	struct page_purge pp = { .n = 0 };
	nk_lock(&pd->lock);
	bool room = page_make_room(pd, more, &pp);
	if (room)
		pd->active += more;
	nk_unlock(&pd->lock);
	page_purge_flush(&pp);
	if (!room)
		return false;
	if (!kva_extend((uintptr_t)addr, oldpages << NK_PAGE_SHIFT, newpages << NK_PAGE_SHIFT)) {
		nk_lock(&pd->lock);
		pd->active -= more;
		nk_unlock(&pd->lock);
		return false;
	}
	page_desc(addr)->npages = (uint32_t)newpages;
	return true;
}

void
page_shrink(void *addr, size_t oldpages, size_t newpages)
{
	NK_ASSERT(newpages > 0 && newpages < oldpages, "page_shrink that does not shrink");
	page_desc(addr)->npages = (uint32_t)newpages;
	page_release(&page_domains[kva_domain_of(addr)],
	    (uintptr_t)addr + (newpages << NK_PAGE_SHIFT), oldpages - newpages);
}

void
page_set_slab(void *addr, size_t npages, void *slab, int domain, uint16_t zid, uint16_t extra)
{
	struct nk_pdesc *d = page_desc(addr);
	for (size_t i = 0; i < npages; i++) {
		d[i].slab = slab;
		d[i].pgidx = (uint16_t)i;
		d[i].zid = zid;
		d[i].domain = (uint16_t)domain;
		d[i].flags = PG_SLAB | extra;
	}
}

void
page_set_large(void *addr, size_t npages, int domain)
{
	struct nk_pdesc *d = page_desc(addr);
	d->slab = NULL;
	d->npages = (uint32_t)npages;
	d->domain = (uint16_t)domain;
	d->flags = PG_LARGE;
}

void
page_clear(void *addr, size_t npages)
{
	struct nk_pdesc *d = page_desc(addr);
	for (size_t i = 0; i < npages; i++) {
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
			struct page_purge pp = { .n = 0 };
			nk_lock(&pd->lock);
			while (page_dirty_evict_oldest(pd, &pp))
				;
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
	out->dirty_bytes = pd->dirty;
	out->nofree_bytes = pd->nofree;
	out->limit_bytes = pd->limit;
	out->purged_bytes = pd->purged;
	out->fallbacks = pd->fallbacks;
	nk_unlock(&pd->lock);
	return 0;
}

/* NUMAKEG_DOMAIN_LIMIT: "SIZE" for every domain, or "D:SIZE,D:SIZE". */
static void
page_parse_limits(const char *s)
{
	if (s == NULL || *s == '\0')
		return;
	const char *p = s;
	if (strchr(s, ':') == NULL) {
		const char *end;
		uint64_t v = nk_parse_size(p, &end);
		if (v == UINT64_MAX || *end != '\0') {
			nk_msg("ignoring NUMAKEG_DOMAIN_LIMIT=%s: not a size", s);
			return;
		}
		for (int d = 0; d < nk_topo.ndomains; d++)
			page_domains[d].limit = v;
		return;
	}
	while (*p) {
		char *colon;
		long d = strtol(p, &colon, 10);
		const char *end;
		if (*colon != ':' || d < 0 || d >= nk_topo.ndomains ||
		    (page_domains[d].limit = nk_parse_size(colon + 1, &end)) == UINT64_MAX ||
		    (*end != ',' && *end != '\0')) {
			nk_msg("ignoring the rest of NUMAKEG_DOMAIN_LIMIT=%s at \"%s\"", s, p);
			if (d >= 0 && d < nk_topo.ndomains && page_domains[d].limit == UINT64_MAX)
				page_domains[d].limit = 0;
			return;
		}
		p = *end == ',' ? end + 1 : end;
	}
}

void
page_init(void)
{
	size_t npages = nk_kva_span >> NK_PAGE_SHIFT;
	nk_pdesc = kva_reserve_meta(npages * sizeof(struct nk_pdesc));
	if (nk_pdesc == NULL)
		nk_panic("cannot reserve the page descriptor array");
	for (int d = 0; d < nk_topo.ndomains; d++)
		nk_lock_init(&page_domains[d].lock, NK_RANK_PAGE);
	page_parse_limits(nk_opt.domain_limit);
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
