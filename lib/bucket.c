/*
 * Buckets (bucket.h): their memory, the zone's traffic with its keg
 * (zone_import, zone_release, and the order fresh items are handed out in)
 * and cross-domain frees; the depots that hold them are depot.c's.
 * Layering: bucket.c calls the keg (items in and out of slabs), depot.c
 * (zone_put_bucket, for a cross bucket's items going home) and the lock
 * layer; it never calls the caches or the zone API above it, and its bucket
 * memory comes through the item sources zone.c hands down at start-up.
 */
#include "bucket_int.h"

static const uint16_t bucket_caps[NK_NBUCKET_SIZES] = { 2, 4, 8, 16, 32, 64, 128, 256 };
static struct nk_item_source bucket_src[NK_NBUCKET_SIZES];

_Static_assert(NK_BUCKET_MAX == 256, "the largest bucket size is the depot's largest");

uint16_t
bucket_size_cap(unsigned i)
{
	return bucket_caps[i];
}

size_t
bucket_size_bytes(unsigned i)
{
	return sizeof(struct nk_bucket) + bucket_caps[i] * sizeof(void *);
}

void
bucket_set_sources(const struct nk_item_source src[NK_NBUCKET_SIZES])
{
	for (unsigned i = 0; i < NK_NBUCKET_SIZES; i++)
		bucket_src[i] = src[i];
}

struct nk_bucket *
bucket_alloc(uint16_t cap)
{
	unsigned i = 0;
	while (i < NK_NBUCKET_SIZES - 1 && bucket_caps[i] < cap)
		i++;
	struct nk_bucket *b = bucket_src[i].alloc(bucket_src[i].ctx, NK_NOWAIT);
	if (b != NULL) {
		b->cnt = 0;
		b->cap = bucket_caps[i];
		b->filled_at = 0;
		b->next = NULL;
		b->canary = bucket_canary(b);
	}
	return b;
}

void
bucket_free(struct nk_bucket *b)
{
	bucket_check(b);
	unsigned i = 0;
	while (bucket_caps[i] != b->cap)
		i++;
	bucket_src[i].free(bucket_src[i].ctx, b);
}

/* ---- The zone and its keg ---- */

void
zone_release(struct nk_zone *z, void **items, int n)
{
	if (n == 0)
		return;
	if (z->zfini)
		for (int i = 0; i < n; i++)
			z->zfini(items[i], z->size);
	keg_free_items(z->keg, items, n);
}

/*
 * Items from the keg into items[0..max).  One keg call takes existing items
 * from several slabs under one lock, or a new slab's; until_full: calls
 * repeat until max or the keg has no more (a bucket refill that stopped at
 * the end of a partial slab would come back for more at once, a miss per
 * slab).  Round-robin zones: one call.
 */
int
zone_import_some(struct nk_zone *z, int domain, int flags, void **items, int max, bool exact,
    bool until_full)
{
	int n = 0, err = errno;
	/* A round-robin keg picks the next domain on every call: one request
	 * per refill keeps its slabs spread evenly over the domains. */
	if (z->flags & NK_ZONE_ROUNDROBIN)
		until_full = false;
	while (n < max) {
		int got = exact ? keg_alloc_items_domain(z->keg, domain, flags, items + n, max - n)
		                : keg_alloc_items(z->keg, domain, flags, items + n, max - n);
		NK_ASSERT(got >= 0 && got <= max - n, "the keg returned more items than asked");
		if (got == 0)
			break;
		n += got;
		if (!until_full)
			break;
	}
	if (n == 0)
		return 0;  /* errno: the keg's */
	errno = err;  /* items came: a later call's failure is no error */
	if (z->zinit) {
		int kept = 0;
		for (int i = 0; i < n; i++) {
			if (z->zinit(items[i], z->size, flags) == 0)
				items[kept++] = items[i];
			else
				keg_free_items(z->keg, &items[i], 1);
		}
		n = kept;
		if (n == 0)
			errno = ENOMEM;
	}
	return n;
}

/*
 * Items of one slab at the same offset in their lines lie a multiple of
 * both the size and the line apart, at least the size plus a line when the
 * size is not a multiple of the line: no two of them share a line.  For
 * sizes below a line (several blocks a line: 16, 32, 48 bytes), within a
 * window of 256 bytes (two such periods for 48: 384), the items handed out
 * one after the other come from one offset (ascending), then the next:
 * four 16- or 32-byte blocks that one thread allocates in a row lie on four
 * lines, two 48-byte ones on two.
 * Two threads that take their first blocks one after the other on one
 * CPU, or blocks one thread allocated in a row and gave to others, then
 * write different lines (mimalloc-bench's cache-thrash and cache-scratch:
 * the per-CPU caches cannot tell which thread holds what).  The window is
 * small so that a structure built by consecutive allocations stays within
 * a few lines at a time: windows of 1 KiB, or the sizes 80-112 as well,
 * made bench/nk_ab's list walk 7-26 % slower; these cost it nothing
 * measurable (2026-12-01).  Callers hand this whatever zone_import gave
 * them, in the keg's order.
 */
#define HANDOUT_WINDOW_BYTES 256
#define HANDOUT_WINDOW 64

void
zone_handout_order(const struct nk_zone *z, void **items, int n)
{
	size_t size = z->size;
	/* A keg in random order (secure mode) keeps it: no grouping to undo it. */
	if (size < NK_CACHELINE && n > 2 && !z->keg->random_order) {
		size_t period = size / ((size_t)1 << nk_min(__builtin_ctzl(size), 6)) * NK_CACHELINE;
		size_t want = nk_max((size_t)HANDOUT_WINDOW_BYTES, 2 * period);
		size_t bytes = (want + period - 1) / period * period;  /* periods: not a power of two */
		int wn = (int)nk_min(bytes / size, (size_t)HANDOUT_WINDOW);
		void *window[HANDOUT_WINDOW];
		for (int w0 = 0; w0 < n; w0 += wn) {
			int m = nk_min(n - w0, wn);
			int at[NK_CACHELINE] = {0};
			memcpy(window, items + w0, (size_t)m * sizeof(void *));
			for (int i = 0; i < m; i++)
				at[(uintptr_t)window[i] & (NK_CACHELINE - 1)]++;
			for (int o = 0, pos = w0; o < NK_CACHELINE; o++) {
				int c = at[o];
				at[o] = pos;
				pos += c;
			}
			for (int i = 0; i < m; i++)
				items[at[(uintptr_t)window[i] & (NK_CACHELINE - 1)]++] = window[i];
		}
	}
	/* The first to be handed out goes on top (the end). */
	for (int i = 0, j = n - 1; i < j; i++, j--) {
		void *t = items[i];
		items[i] = items[j];
		items[j] = t;
	}
}

int
zone_import(struct nk_zone *z, int domain, int flags, void **items, int max, bool exact)
{
	return zone_import_some(z, domain, flags, items, max, exact, true);
}

void *
zone_import_one(struct nk_zone *z, int domain, int flags, bool exact)
{
	void *item;
	if (zone_import(z, domain, flags, &item, 1, exact) == 0)
		return NULL;
	__atomic_add_fetch(&z->depot[domain].allocs, 1, __ATOMIC_RELAXED);
	return item;
}

void
zone_release_one(struct nk_zone *z, void *item)
{
	int d = topo_current_domain();
	__atomic_add_fetch(&z->depot[d].frees, 1, __ATOMIC_RELAXED);
	if (nk_topo.ndomains > 1 && kva_domain_of(item) != d)
		__atomic_add_fetch(&z->depot[d].xdomain, 1, __ATOMIC_RELAXED);
	zone_release(z, &item, 1);
}

void
zone_release_bucket(struct nk_zone *z, struct nk_bucket *b)
{
	zone_release(z, b->items, b->cnt);
	b->cnt = 0;
	bucket_free(b);
}

/* ---- Cross-domain frees: each item to its own domain's depot ---- */

void
zone_free_cross(struct nk_zone *z, struct nk_bucket *b)
{
	while (b->cnt > 0) {
		int home = kva_domain_of(b->items[b->cnt - 1]);
		struct nk_bucket *nb = bucket_alloc(zone_bucket_cap(z));
		/* Gather this domain's items; the rest stay for the next round. */
		int kept = 0;
		for (int i = 0; i < b->cnt; i++) {
			void *it = b->items[i];
			if (kva_domain_of(it) == home && nb != NULL && nb->cnt < nb->cap)
				nb->items[nb->cnt++] = it;
			else if (kva_domain_of(it) == home && nb == NULL)
				zone_release(z, &it, 1);
			else
				b->items[kept++] = it;
		}
		b->cnt = (uint16_t)kept;
		if (nb != NULL) {
			if (nb->cnt > 0)
				zone_put_bucket(z, home, nb);
			else
				bucket_free(nb);
		}
	}
}
