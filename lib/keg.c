/*
 * Kegs: the slab layer under the zones (uma_keg).  Items in and out of a
 * keg's slabs, by domain; the slabs themselves (layout, canaries, memory)
 * are slab.c's.
 *
 * Domain policy, as keg_fetch_slab does it:
 *  - first-touch: the caller's domain, a new slab there if it has no free
 *    item, and other domains, nearest first, only when that fails (domain at
 *    its limit or out of space), counted as a fallback of the domain used;
 *  - round-robin: a rotating cursor picks the domain for each request;
 *  - NK_USE_RESERVE: existing items of every domain before any new slab
 *    (the reserve is spread over domains by prealloc: doc/DESIGN.md,
 *    "The reserve");
 *  - the reserve: items only NK_USE_RESERVE may take; others get a new slab.
 *
 * Layering: keg.c calls slab.c, the page layer and the topology (distance
 * order); it never calls the zone layer above it (a keg knows its primary
 * zone only as a pointer and an id, for free() and the descriptors).
 */
#include "keg.h"
#include "topo.h"

/*
 * Empty slabs a domain keeps when items are freed, beyond the reserve: one,
 * so a program whose use goes up and down around a slab's worth of items
 * does not make and free a slab each time; keg_drain frees it.
 */
#define KEG_KEEP_FREE_SLABS 1

int
keg_init(struct nk_keg *k, struct nk_keg_domain *dom, const char *name, size_t size, int align,
    nk_init_t init, nk_fini_t fini, uint32_t zflags, enum nk_lock_rank rank)
{
	NK_ASSERT(dom != NULL && ((uintptr_t)dom & (NK_CACHELINE - 1)) == 0,
	    "a keg's domains: nk_topo.ndomains cache-aligned entries");
	if (NK_UNLIKELY(nk_slab_cookie == 0))
		keg_cookie_init();
	memset(k, 0, sizeof(*k));
	k->dom = dom;
	/* An alignment is a mask below a page; a size fits a 32-page slab. */
	if (align < 0 || ((size_t)align & ((size_t)align + 1)) != 0 || (size_t)align >= NK_PAGE_SIZE)
		return EINVAL;
	if (size == 0 || size > KEG_MAX_ITEM)
		return EINVAL;  /* checked before rounding: SIZE_MAX - 3 must not wrap to 0 */
	k->name = name;
	k->align = (size_t)nk_max(align, 7);  /* room for a pointer at least */
	k->size = nk_roundup(nk_max(size, (size_t)8), k->align + 1);
	if (k->size > KEG_MAX_ITEM)
		return EINVAL;
	k->flags = zflags;
	k->init = init;
	k->fini = fini;
	k->refs = 1;
	k->zid = UINT16_MAX;  /* until the zone is registered */
	/* NUMAKEG_SECURE: guard pages for malloc's classes, random order for
	 * every keg the program's items come from. */
	k->guard = nk_opt.secure && (zflags & NK_ZONE_MALLOC) && !(zflags & NK_ZONE_NOFREE);
	k->random_order = nk_opt.secure && !(zflags & NK_ZONE_INTERNAL);
	keg_layout(k);
	if (k->ipers == 0)
		return EINVAL;  /* no layout holds even one item (never for sizes above) */
	k->recip = (uint32_t)((((uint64_t)1 << 32) + k->size - 1) / k->size);
	for (int d = 0; d < nk_topo.ndomains; d++) {
		memset(&k->dom[d], 0, sizeof(k->dom[d]));
		nk_lock_init(&k->dom[d].lock, rank);
	}
	return 0;
}




/* Whether the reserve can spare one more empty slab. */
static bool
keg_can_spare_slab(struct nk_keg *k)
{
	return __atomic_load_n(&k->free_total, __ATOMIC_RELAXED) - (int64_t)k->ipers >= k->reserve;
}


/* Existing free items of one domain, leaving the reserve alone. */
static int
keg_take_existing(struct nk_keg *k, int d, int64_t reserve, void **items, int max)
{
	struct nk_keg_domain *kd = &k->dom[d];
	int n = 0;
	nk_lock(&kd->lock);
	while (n < max) {
		int64_t avail = __atomic_load_n(&k->free_total, __ATOMIC_RELAXED) - reserve;
		if (avail <= 0)
			break;
		struct nk_slab *s = kd->lists[SLAB_PARTIAL];
		if (s == NULL)
			s = kd->lists[SLAB_FREE];
		if (s == NULL)
			break;
		n += slab_take(k, kd, s, items + n, (int)nk_min((int64_t)(max - n), avail));
	}
	nk_unlock(&kd->lock);
	return n;
}

/* A new slab on d, its items (all of them count: they are new). */
static int
keg_take_new(struct nk_keg *k, int d, int flags, void **items, int max)
{
	struct nk_slab *s = keg_alloc_slab(k, d, flags);
	if (s == NULL)
		return 0;
	struct nk_keg_domain *kd = &k->dom[d];
	nk_lock(&kd->lock);
	slab_link(k, kd, s, SLAB_FREE);
	kd->nslabs++;
	kd->free_items += k->ipers;
	__atomic_add_fetch(&k->free_total, k->ipers, __ATOMIC_RELAXED);
	int n = max > 0 ? slab_take(k, kd, s, items, max) : 0;
	nk_unlock(&kd->lock);
	return n;
}

static void
keg_count_fallback(struct nk_keg *k, int d)
{
	nk_lock(&k->dom[d].lock);
	k->dom[d].fallbacks++;
	nk_unlock(&k->dom[d].lock);
}

/* Domains in the order the policy tries them. */
static int
keg_domain_order(struct nk_keg *k, int domain, bool exact, uint8_t *order)
{
	int nd = nk_topo.ndomains;
	if ((k->flags & NK_ZONE_ROUNDROBIN) && !exact) {
		uint32_t start = __atomic_fetch_add(&k->rr_cursor, 1, __ATOMIC_RELAXED) % (uint32_t)nd;
		for (int i = 0; i < nd; i++)
			order[i] = (uint8_t)((start + (uint32_t)i) % (uint32_t)nd);
		return nd;
	}
	memcpy(order, nk_topo.fallback[domain], (size_t)nd);
	return k->nofallback ? 1 : nd;
}

static int
keg_alloc_common(struct nk_keg *k, int domain, int flags, void **items, int max, bool exact)
{
	uint8_t order[NK_MAX_DOMAINS];
	int n;
	int64_t reserve = (flags & NK_USE_RESERVE) ? 0 : k->reserve;
	NK_ASSERT(domain >= 0 && domain < nk_topo.ndomains, "bad domain");
	int cnt = keg_domain_order(k, domain, exact, order);

	if (flags & NK_USE_RESERVE) {
		/* Reserved items may sit on any domain: look everywhere first. */
		for (int i = 0; i < nk_topo.ndomains; i++)
			if ((n = keg_take_existing(k, nk_topo.fallback[domain][i], 0, items, max)) > 0)
				return n;
	}
	for (int i = 0; i < cnt; i++) {
		int d = order[i];
		n = keg_take_existing(k, d, reserve, items, max);
		if (n == 0 && !(flags & NK_NOVM))
			n = keg_take_new(k, d, flags, items, max);
		if (n > 0) {
			if (d != domain && !(k->flags & NK_ZONE_ROUNDROBIN))
				keg_count_fallback(k, d);
			return n;
		}
	}
	errno = ENOMEM;
	return 0;
}

int
keg_alloc_items(struct nk_keg *k, int domain, int flags, void **items, int max)
{
	return keg_alloc_common(k, domain, flags, items, max, false);
}

int
keg_alloc_items_domain(struct nk_keg *k, int domain, int flags, void **items, int max)
{
	return keg_alloc_common(k, domain, flags, items, max, true);
}

NK_COLD static void
keg_bad_free(struct nk_keg *k, void *item, const char *what)
{
	nk_panic("%s %p in zone %s", what, item, k->name);
}

void
keg_free_items(struct nk_keg *k, void **items, int n)
{
	struct nk_slab *release = NULL;
	int locked = -1;
	for (int i = 0; i < n; i++) {
		void *item = items[i];
		struct nk_slab *s = kva_contains(item) ? keg_slab_of(item) : NULL;
		if (s != NULL)
			slab_check(k->name, s);  /* before its keg, items or freemap are read */
		if (s == NULL || s->keg != k || !keg_item_start(k, s, item))
			keg_bad_free(k, item, "free of an item that is not this zone's:");
		if (s->domain != locked) {
			if (locked >= 0)
				nk_unlock(&k->dom[locked].lock);
			locked = s->domain;
			nk_lock(&k->dom[locked].lock);
		}
		struct nk_keg_domain *kd = &k->dom[locked];
		size_t idx = (size_t)((char *)item - s->items) / k->size;
		uint64_t bit = (uint64_t)1 << (idx % 64);
		if (s->freemap[idx / 64] & bit) {
			nk_unlock(&kd->lock);
			keg_bad_free(k, item, "double free of");
		}
		s->freemap[idx / 64] |= bit;
		s->nfree++;
		NK_ASSERT(s->nfree <= k->ipers, "more free items than the slab holds");
		kd->free_items++;
		__atomic_add_fetch(&k->free_total, 1, __ATOMIC_RELAXED);
		slab_relist(k, kd, s);
		if (s->list != SLAB_FREE || (k->flags & NK_ZONE_NOFREE))
			continue;
		/* Keep a few empty slabs; more go back, unless the reserve needs them. */
		uint32_t empties = 0;
		for (struct nk_slab *e = kd->lists[SLAB_FREE]; e && empties <= KEG_KEEP_FREE_SLABS; e = e->next) {
			slab_check_link(k, s, e);
			empties++;
		}
		if (empties > KEG_KEEP_FREE_SLABS && keg_can_spare_slab(k))
			keg_detach_empty(k, kd, s, &release);
	}
	if (locked >= 0)
		nk_unlock(&k->dom[locked].lock);
	while (release != NULL) {
		struct nk_slab *s = release;
		release = s->next;
		keg_free_slab(k, s);
	}
}

int
keg_prealloc_domain(struct nk_keg *k, int domain, int nitems)
{
	struct nk_keg_domain *kd = &k->dom[domain];
	for (;;) {
		nk_lock(&kd->lock);
		uint64_t slabs = kd->nslabs;
		bool enough = kd->free_items >= (uint64_t)nitems;
		nk_unlock(&kd->lock);
		if (enough)
			return 0;
		keg_take_new(k, domain, NK_NOWAIT, NULL, 0);
		nk_lock(&kd->lock);
		bool grew = kd->nslabs > slabs;
		nk_unlock(&kd->lock);
		if (!grew)
			return ENOMEM;  /* the domain is full: no new slab came */
	}
}

int
keg_prealloc(struct nk_keg *k, int nitems)
{
	/* uma_prealloc: spread over the domains, round-robin. */
	int nd = nk_topo.ndomains;
	int per = (nitems + nd - 1) / nd;
	int err = 0;
	for (int d = 0; d < nd; d++) {
		int e = keg_prealloc_domain(k, d, per);
		if (e != 0)
			err = e;
	}
	return err;
}

void
keg_drain(struct nk_keg *k)
{
	if (k->flags & NK_ZONE_NOFREE)
		return;
	for (int d = 0; d < nk_topo.ndomains; d++) {
		struct nk_keg_domain *kd = &k->dom[d];
		struct nk_slab *release = NULL;
		nk_lock(&kd->lock);
		struct nk_slab *s;
		while ((s = kd->lists[SLAB_FREE]) != NULL && keg_can_spare_slab(k))
			keg_detach_empty(k, kd, s, &release);
		nk_unlock(&kd->lock);
		while (release != NULL) {
			s = release;
			release = s->next;
			keg_free_slab(k, s);
		}
	}
}

void
keg_fini(struct nk_keg *k)
{
	int64_t saved = k->reserve;
	k->reserve = 0;
	keg_drain(k);
	k->reserve = saved;
	/* As UMA's keg_dtor: slabs still holding items are the caller's leak. */
	uint64_t slabs = 0;
	for (int d = 0; d < nk_topo.ndomains; d++) {
		struct nk_keg_domain *kd = &k->dom[d];
		nk_lock(&kd->lock);
		for (int l = SLAB_PARTIAL; l <= SLAB_FULL; l++)
			for (struct nk_slab *sl = kd->lists[l]; sl != NULL; sl = sl->next)
				slabs++;
		nk_unlock(&kd->lock);
	}
	if (slabs != 0)
		nk_msg("zone %s destroyed with items not freed: %llu slabs stay allocated",
		    k->name, (unsigned long long)slabs);
}

int64_t
keg_free_count(struct nk_keg *k)
{
	return __atomic_load_n(&k->free_total, __ATOMIC_RELAXED);
}

/*
 * Several zones share a keg (secondary zones), and its primary zone may be
 * gone: the fork handlers are called once per zone, and do each keg once.
 * The owner field marks a keg this fork holds: the forking thread's id
 * (nobody else can set it while the mutex is ours).
 */
void
keg_fork_prepare(struct nk_keg *k)
{
	pid_t me = nk_gettid();
	if (k->dom[0].lock.owner == me)
		return;  /* already taken for this fork, through another zone */
	for (int d = 0; d < nk_topo.ndomains; d++) {
		pthread_mutex_lock(&k->dom[d].lock.mtx);
		k->dom[d].lock.owner = me;
	}
}

void
keg_fork_parent(struct nk_keg *k)
{
	if (k->dom[0].lock.owner != nk_gettid())
		return;  /* already let go, through another zone */
	for (int d = 0; d < nk_topo.ndomains; d++) {
		k->dom[d].lock.owner = 0;
		pthread_mutex_unlock(&k->dom[d].lock.mtx);
	}
}

void
keg_fork_child(struct nk_keg *k)
{
	/* The owner is the parent's thread id, or 0 once this keg is done. */
	if (k->dom[0].lock.owner == 0)
		return;
	for (int d = 0; d < nk_topo.ndomains; d++)
		nk_lock_reinit(&k->dom[d].lock);
}
