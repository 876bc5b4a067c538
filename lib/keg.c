/*
 * Kegs: the slab layer under the zones (uma_keg).
 *
 * A slab is a run of pages holding ipers items from its first byte; its
 * header (canary, lists, free bitmap) sits right after the last item, or,
 * when that would waste too much, in an item of the header zone (UMA's
 * OFFPAGE).  The pages' descriptors point at the header, so an item finds
 * its slab in O(1).  Every header carries a canary checked whenever the keg
 * touches the slab, and every list unlink is checked (slab_unlink).
 *
 * Domain policy, as keg_fetch_slab does it:
 *  - first-touch: the caller's domain, a new slab there if it has no free
 *    item, and other domains, nearest first, only when that fails (domain at
 *    its limit or out of space), counted as a fallback of the domain used;
 *  - round-robin: a rotating cursor picks the domain for each request;
 *  - NK_USE_RESERVE: existing items of every domain before any new slab
 *    (fab343a7: the reserve was spread over domains by prealloc);
 *  - the reserve: items only NK_USE_RESERVE may take; others get a new slab.
 */
#include <sys/mman.h>
#include <sys/random.h>

#include "keg.h"
#include "topo.h"

#define SLAB_HDR_MAX KEG_SLAB_HDR_MAX

/* Off-page headers: items of the slab-header zone, which zone.c makes. */
static struct nk_item_source keg_hdr_src;
uint64_t nk_slab_cookie;

void
keg_corrupt(const char *zone, const void *slab, const char *what)
{
	/* nk_panic lets go of the locks this thread holds before it aborts. */
	nk_panic("heap overflow/corruption detected in zone %s: slab %p: %s",
	    zone ? zone : "?", slab, what);
}

static size_t
keg_hdr_size(uint32_t ipers)
{
	return sizeof(struct nk_slab) + nk_howmany(ipers, 64) * sizeof(uint64_t);
}

/* Picks the slab size and header placement: little waste, enough items. */
static void
keg_layout(struct nk_keg *k)
{
	size_t size = k->size;
	uint32_t want = size <= 1024 ? 16 : size <= 8192 ? 8 : 4;
	uint32_t minpages = size <= 256 ? 4 : 1;
	double best_waste = 2.0;

	for (uint32_t pages = minpages; pages <= 32; pages++) {
		size_t bytes = (size_t)pages << NK_PAGE_SHIFT;
		uint32_t ipers_off = (uint32_t)nk_min(bytes / size, KEG_MAX_IPERS);
		uint32_t ipers_in = ipers_off;
		while (ipers_in > 0 && ipers_in * size + nk_roundup(keg_hdr_size(ipers_in), 8) > bytes)
			ipers_in--;
		/* In-page wastes its header's room; off-page costs a header item. */
		double waste_in = ipers_in ? (double)(bytes - ipers_in * size) / bytes : 2.0;
		double waste_off = ipers_off ?
		    (double)(bytes - ipers_off * size + SLAB_HDR_MAX) / bytes : 2.0;
		bool off = waste_off < waste_in && !(k->flags & KEG_INPAGE_ONLY);
		uint32_t ipers = off ? ipers_off : ipers_in;
		double waste = off ? waste_off : waste_in;
		if (ipers == 0)
			continue;
		if (waste < best_waste - 0.01 || (ipers >= want && waste <= 0.125)) {
			best_waste = waste;
			k->pages = pages;
			k->ipers = ipers;
			k->offpage = off;
		}
		if (ipers >= want && waste <= 0.125)
			break;
	}
	NK_ASSERT(k->ipers > 0, "no slab layout");
	/*
	 * An in-page header sits right after the last item (sizes are multiples
	 * of 8), the slack after it: an overflow of even one byte out of the
	 * last item reaches the header's canary first.
	 */
	k->hdr_offset = (uint32_t)((size_t)k->ipers * size);
	NK_ASSERT(k->offpage || k->hdr_offset + keg_hdr_size(k->ipers) <=
	    ((size_t)k->pages << NK_PAGE_SHIFT), "no room for the header");
}

/* Once, by the first keg (the map's entry keg, at start-up, one thread). */
static void
keg_cookie_init(void)
{
	uint64_t c;
	if (getrandom(&c, sizeof(c), GRND_NONBLOCK) != (ssize_t)sizeof(c))
		c = nk_now_ns() * 0x9e3779b97f4a7c15ull ^ (uintptr_t)&c;
	nk_slab_cookie = c | 1;  /* a zeroed header never passes */
}

int
keg_init(struct nk_keg *k, const char *name, size_t size, int align,
    nk_init_t init, nk_fini_t fini, uint32_t zflags, enum nk_lock_rank rank)
{
	if (NK_UNLIKELY(nk_slab_cookie == 0))
		keg_cookie_init();
	memset(k, 0, offsetof(struct nk_keg, dom));
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
	k->keep_free_slabs = 1;
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

/*
 * A link read out of a header: it must point at a slab header (in the
 * address space, on a slab page, its canary whole) before anything reads or
 * writes through it, so a bent link is reported instead of followed.
 */
static void
slab_check_link(struct nk_keg *k, const struct nk_slab *from, const struct nk_slab *to)
{
	if (NK_UNLIKELY(((uintptr_t)to & 7) != 0 || !kva_contains(to) ||
	    !(page_desc(to)->flags & PG_SLAB)))
		keg_corrupt(k->name, from, "a list link points outside every slab");
	slab_check(k->name, to);
}

/*
 * Checked unlink: the slab and its neighbours pass their canaries, and each
 * neighbour points back at the slab (next->prev == s, prev->next == s, or
 * the list head is s), before anything is written through those links.
 */
static void
slab_unlink(struct nk_keg *k, struct nk_keg_domain *kd, struct nk_slab *s)
{
	slab_check(k->name, s);
	if (NK_UNLIKELY(s->list > SLAB_FULL || s->keg != k))
		keg_corrupt(k->name, s, "its header names another keg or list");
	if (s->prev != NULL) {
		slab_check_link(k, s, s->prev);
		if (NK_UNLIKELY(s->prev->next != s))
			keg_corrupt(k->name, s, "its list neighbour does not point back (prev->next)");
	} else if (NK_UNLIKELY(kd->lists[s->list] != s)) {
		keg_corrupt(k->name, s, "it has no previous slab but does not head its list");
	}
	if (s->next != NULL) {
		slab_check_link(k, s, s->next);
		if (NK_UNLIKELY(s->next->prev != s))
			keg_corrupt(k->name, s, "its list neighbour does not point back (next->prev)");
	}
	if (s->prev)
		s->prev->next = s->next;
	else
		kd->lists[s->list] = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->next = s->prev = NULL;
}

static void
slab_link(struct nk_keg *k, struct nk_keg_domain *kd, struct nk_slab *s, int list)
{
	struct nk_slab *head = kd->lists[list];
	if (head != NULL) {
		slab_check_link(k, s, head);
		if (NK_UNLIKELY(head->prev != NULL))
			keg_corrupt(k->name, head, "the head of its list has a previous slab");
	}
	s->list = (uint8_t)list;
	s->prev = NULL;
	s->next = head;
	if (head)
		head->prev = s;
	kd->lists[list] = s;
}

static void
slab_relist(struct nk_keg *k, struct nk_keg_domain *kd, struct nk_slab *s)
{
	slab_check(k->name, s);
	int want = s->nfree == 0 ? SLAB_FULL : s->nfree == k->ipers ? SLAB_FREE : SLAB_PARTIAL;
	if (want != s->list) {
		slab_unlink(k, kd, s);
		slab_link(k, kd, s, want);
	}
}

static void
keg_release_mem(struct nk_keg *k, void *mem, size_t bytes)
{
	if (k->freef)
		k->freef(k, mem, bytes);
	else
		page_free(mem, k->pages);
}

/*
 * Secure mode: one PROT_NONE page after a slab, so a linear overflow out of
 * it faults instead of running into the next slab.  Each guard splits a
 * mapping in two, and the kernel caps a process's mappings
 * (vm.max_map_count, 65530 by default): past KEG_GUARD_MAX guarded slabs,
 * new slabs get none (as when mprotect fails).
 */
#define KEG_GUARD_MAX 16384
static int keg_guarded_slabs;

static void *
keg_alloc_guarded(struct nk_keg *k, int domain, bool *zeroed, bool *guarded)
{
	*guarded = false;
	if (__atomic_load_n(&keg_guarded_slabs, __ATOMIC_RELAXED) >= KEG_GUARD_MAX)
		return page_alloc(domain, k->pages, NK_PAGE_SIZE, zeroed);
	char *mem = page_alloc(domain, (size_t)k->pages + 1, NK_PAGE_SIZE, zeroed);
	if (mem == NULL)
		return NULL;
	if (mprotect(mem + ((size_t)k->pages << NK_PAGE_SHIFT), NK_PAGE_SIZE, PROT_NONE) != 0) {
		page_free(mem, (size_t)k->pages + 1);  /* no guard to be had: a plain slab */
		return page_alloc(domain, k->pages, NK_PAGE_SIZE, zeroed);
	}
	__atomic_add_fetch(&keg_guarded_slabs, 1, __ATOMIC_RELAXED);
	*guarded = true;
	return mem;
}

/* A slab's pages back to where they came from, its guard page made plain. */
static void
keg_release_slab_mem(struct nk_keg *k, void *mem, bool guarded)
{
	if (!guarded) {
		keg_release_mem(k, mem, (size_t)k->pages << NK_PAGE_SHIFT);
		return;
	}
	char *guard = (char *)mem + ((size_t)k->pages << NK_PAGE_SHIFT);
	if (mprotect(guard, NK_PAGE_SIZE, PROT_READ | PROT_WRITE) != 0) {
		/* The page cannot be reused as memory: keep it out of circulation. */
		nk_msg("cannot lift the guard page at %p: %s pages kept", guard, k->name);
		page_free(mem, k->pages);
		return;
	}
	__atomic_sub_fetch(&keg_guarded_slabs, 1, __ATOMIC_RELAXED);
	page_free(mem, (size_t)k->pages + 1);
}

/* A new slab on exactly this domain, its items through init; no lock held. */
static struct nk_slab *
keg_alloc_slab(struct nk_keg *k, int domain, int flags)
{
	size_t bytes = (size_t)k->pages << NK_PAGE_SHIFT;
	bool zeroed = false, guarded = false;
	void *mem;
	if (k->allocf)
		mem = k->allocf(k, domain, bytes, &zeroed);
	else if (k->flags & NK_ZONE_NOFREE)
		mem = page_alloc_nofree(domain, k->pages);
	else if (k->guard)
		mem = keg_alloc_guarded(k, domain, &zeroed, &guarded);
	else
		mem = page_alloc(domain, k->pages, NK_PAGE_SIZE, &zeroed);
	if (mem == NULL)
		return NULL;

	struct nk_slab *s;
	if (k->offpage) {
		s = keg_hdr_src.alloc(keg_hdr_src.ctx, NK_NOWAIT);
		if (s == NULL) {
			if (k->flags & NK_ZONE_NOFREE)
				page_free_nofree(mem, k->pages);
			else
				keg_release_slab_mem(k, mem, guarded);
			return NULL;
		}
	} else {
		s = (struct nk_slab *)((char *)mem + k->hdr_offset);
	}
	s->canary = nk_slab_cookie ^ (uintptr_t)s;
	s->next = s->prev = NULL;
	s->keg = k;
	s->items = mem;
	s->nfree = k->ipers;
	s->domain = (uint16_t)domain;
	s->list = SLAB_FREE;
	s->offpage = k->offpage;
	s->guarded = guarded;
	size_t words = nk_howmany(k->ipers, 64);
	memset(s->freemap, 0xff, words * sizeof(uint64_t));
	if (k->ipers % 64)
		s->freemap[words - 1] = ((uint64_t)1 << (k->ipers % 64)) - 1;

	if ((k->flags & NK_ZONE_ZINIT) && !zeroed)
		memset(mem, 0, (size_t)k->ipers * k->size);
	if (k->init != NULL) {
		for (uint32_t i = 0; i < k->ipers; i++) {
			if (k->init((char *)mem + i * k->size, k->size, flags) != 0) {
				/* Undo what was done: the slab never existed. */
				if (k->fini)
					for (uint32_t j = 0; j < i; j++)
						k->fini((char *)mem + j * k->size, k->size);
				if (k->offpage)
					keg_hdr_src.free(keg_hdr_src.ctx, s);
				if (k->flags & NK_ZONE_NOFREE)
					page_free_nofree(mem, k->pages);
				else
					keg_release_slab_mem(k, mem, guarded);
				errno = ENOMEM;
				return NULL;
			}
		}
	}
	/* The guard page too: a pointer into it is no item of any slab. */
	page_set_slab(mem, k->pages + guarded, s, domain, k->zid,
	    (k->flags & NK_ZONE_NOFREE) && !k->allocf ? PG_NOFREE : 0);
	return s;
}

/* Gives an unlinked empty slab back: fini, descriptors, header, pages. */
static void
keg_free_slab(struct nk_keg *k, struct nk_slab *s)
{
	NK_ASSERT(s->nfree == k->ipers, "freeing a slab with items in use");
	NK_ASSERT(!(k->flags & NK_ZONE_NOFREE), "freeing a NOFREE keg's slab");
	slab_check(k->name, s);
	void *mem = s->items;
	if (k->fini)
		for (uint32_t i = 0; i < k->ipers; i++)
			k->fini((char *)mem + i * k->size, k->size);
	bool guarded = s->guarded;
	page_clear(mem, k->pages + guarded);
	if (s->offpage)
		keg_hdr_src.free(keg_hdr_src.ctx, s);
	keg_release_slab_mem(k, mem, guarded);
}

/* Unlinks an empty slab onto a release list; the domain lock is held. */
static void
keg_detach_empty(struct nk_keg *k, struct nk_keg_domain *kd, struct nk_slab *s,
    struct nk_slab **release)
{
	NK_ASSERT(s->nfree == k->ipers, "detaching a slab with items in use");
	slab_unlink(k, kd, s);
	kd->nslabs--;
	kd->free_items -= k->ipers;
	__atomic_sub_fetch(&k->free_total, k->ipers, __ATOMIC_RELAXED);
	s->next = *release;
	*release = s;
}

/* Whether the reserve can spare one more empty slab. */
static bool
keg_can_spare_slab(struct nk_keg *k)
{
	return __atomic_load_n(&k->free_total, __ATOMIC_RELAXED) - (int64_t)k->ipers >= k->reserve;
}

/* A per-thread xorshift, seeded from the cookie: secure mode's item order. */
static __thread uint64_t keg_rng;

static uint64_t
keg_random(void)
{
	uint64_t x = keg_rng;
	if (NK_UNLIKELY(x == 0))
		x = (nk_slab_cookie ^ ((uint64_t)nk_gettid() << 32) ^ nk_now_ns()) | 1;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	keg_rng = x;
	return x;
}

/*
 * Secure mode: each item from a random place in the slab (the first free
 * one at or after a random index), so neighbours in memory are not
 * neighbours in allocation order and an overflow's target is a guess.
 */
static int
slab_take_random(struct nk_keg *k, struct nk_slab *s, void **items, int max)
{
	size_t words = nk_howmany(k->ipers, 64);
	int n = 0;
	while (n < max && s->nfree > 0) {
		uint32_t r = (uint32_t)(((keg_random() >> 32) * k->ipers) >> 32);
		size_t w = r / 64;
		uint64_t m = s->freemap[w] & (~(uint64_t)0 << (r % 64));
		while (m == 0) {  /* nfree > 0: some word has a bit */
			w = w + 1 == words ? 0 : w + 1;
			m = s->freemap[w];
		}
		int bit = __builtin_ctzll(m);
		s->freemap[w] &= ~((uint64_t)1 << bit);
		items[n++] = s->items + (w * 64 + (size_t)bit) * k->size;
		s->nfree--;
	}
	return n;
}

/* Takes up to max items out of one slab; the domain lock is held. */
static int
slab_take(struct nk_keg *k, struct nk_keg_domain *kd, struct nk_slab *s, void **items, int max)
{
	int n = 0;
	size_t words = nk_howmany(k->ipers, 64);
	slab_check(k->name, s);
	if (NK_UNLIKELY(s->nfree > k->ipers || s->items == NULL))
		keg_corrupt(k->name, s, "its free count is past the slab's items");
	if (k->random_order) {
		n = slab_take_random(k, s, items, max);
	} else {
		for (size_t w = 0; w < words && n < max && s->nfree; w++) {
			while (s->freemap[w] != 0 && n < max) {
				int bit = __builtin_ctzll(s->freemap[w]);
				s->freemap[w] &= s->freemap[w] - 1;
				items[n++] = s->items + (w * 64 + (size_t)bit) * k->size;
				s->nfree--;
			}
		}
	}
	NK_ASSERT(kd->free_items >= (uint64_t)n, "domain free count below the items taken");
	kd->free_items -= (uint64_t)n;
	__atomic_sub_fetch(&k->free_total, n, __ATOMIC_RELAXED);
	slab_relist(k, kd, s);
	return n;
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
		for (struct nk_slab *e = kd->lists[SLAB_FREE]; e && empties <= k->keep_free_slabs; e = e->next) {
			slab_check_link(k, s, e);
			empties++;
		}
		if (empties > k->keep_free_slabs && keg_can_spare_slab(k))
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
}

int64_t
keg_free_count(struct nk_keg *k)
{
	return __atomic_load_n(&k->free_total, __ATOMIC_RELAXED);
}

void
keg_set_header_source(const struct nk_item_source *src)
{
	keg_hdr_src = *src;
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
