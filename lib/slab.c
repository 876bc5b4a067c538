/*
 * Slabs (slab.h).  A slab is a run of pages holding ipers items from its
 * first byte; its header (canary, lists, free bitmap) sits right after the
 * last item, or, when that would waste too much, in an item of the
 * slab-header zone (UMA's OFFPAGE).  The pages' descriptors point at the
 * header, so an item finds its slab in O(1).  Every header carries a
 * canary checked whenever the keg touches the slab, and every list unlink
 * is checked (slab_unlink).  Secure mode adds a guard page after each slab
 * and a random item order.
 *
 * Layering: slab.c calls the page layer (slab memory, descriptors), the
 * system-call layer (secure mode's guard pages) and a keg's own
 * allocf/freef; off-page headers come from the item source zone_bootstrap
 * hands down (keg_set_header_source), so it never calls the zone layer.
 * Only keg.c calls it.
 */
#include "slab.h"
#include "sys.h"

#define SLAB_HDR_MAX KEG_SLAB_HDR_MAX

/* Off-page headers: items of the slab-header zone, which zone_boot.c makes. */
static struct nk_item_source keg_hdr_src;
uint64_t nk_slab_cookie;

/*
 * Secure mode: one PROT_NONE page after a slab, so a linear overflow out of
 * it faults instead of running into the next slab.  Each guard splits a
 * mapping in two, and the kernel caps a process's mappings
 * (vm.max_map_count, 65530 by default): past KEG_GUARD_MAX guarded slabs,
 * new slabs get none (as when mprotect fails).
 */
#define KEG_GUARD_MAX 16384
static int keg_guarded_slabs;

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
void
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
void
keg_cookie_init(void)
{
	nk_slab_cookie = nk_random_u64() | 1;  /* a zeroed header never passes */
}

/*
 * A link read out of a header: it must point at a slab header (in the
 * address space, on a slab page, its canary whole) before anything reads or
 * writes through it, so a bent link is reported instead of followed.
 */
void
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
void
slab_unlink(struct nk_keg *k, struct nk_keg_domain *kd, struct nk_slab *s)
{
	NK_LOCK_ASSERT_OWNED(&kd->lock);
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

void
slab_link(struct nk_keg *k, struct nk_keg_domain *kd, struct nk_slab *s, int list)
{
	NK_LOCK_ASSERT_OWNED(&kd->lock);
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

void
slab_relist(struct nk_keg *k, struct nk_keg_domain *kd, struct nk_slab *s)
{
	NK_LOCK_ASSERT_OWNED(&kd->lock);
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

static void *
keg_alloc_guarded(struct nk_keg *k, int domain, bool *zeroed, bool *guarded)
{
	*guarded = false;
	if (__atomic_load_n(&keg_guarded_slabs, __ATOMIC_RELAXED) >= KEG_GUARD_MAX)
		return page_alloc(domain, k->pages, NK_PAGE_SIZE, zeroed);
	char *mem = page_alloc(domain, (size_t)k->pages + 1, NK_PAGE_SIZE, zeroed);
	if (mem == NULL)
		return NULL;
	if (sys_guard(mem + ((size_t)k->pages << NK_PAGE_SHIFT), NK_PAGE_SIZE) != 0) {
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
	if (sys_unguard(guard, NK_PAGE_SIZE) != 0) {
		/* The page cannot be reused as memory: keep it out of circulation. */
		nk_msg("cannot lift the guard page at %p: %s pages kept", (void *)guard, k->name);
		page_free(mem, k->pages);
		return;
	}
	__atomic_sub_fetch(&keg_guarded_slabs, 1, __ATOMIC_RELAXED);
	page_free(mem, (size_t)k->pages + 1);
}

/* A new slab on exactly this domain, its items through init; no lock held. */
struct nk_slab *
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
void
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
void
keg_detach_empty(struct nk_keg *k, struct nk_keg_domain *kd, struct nk_slab *s,
    struct nk_slab **release)
{
	NK_LOCK_ASSERT_OWNED(&kd->lock);
	NK_ASSERT(s->nfree == k->ipers, "detaching a slab with items in use");
	slab_unlink(k, kd, s);
	kd->nslabs--;
	kd->free_items -= k->ipers;
	__atomic_sub_fetch(&k->free_total, k->ipers, __ATOMIC_RELAXED);
	s->next = *release;
	*release = s;
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
int
slab_take(struct nk_keg *k, struct nk_keg_domain *kd, struct nk_slab *s, void **items, int max)
{
	NK_LOCK_ASSERT_OWNED(&kd->lock);
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

void
keg_set_header_source(const struct nk_item_source *src)
{
	keg_hdr_src = *src;
}
