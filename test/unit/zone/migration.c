/*
 * cache_migration: a thread warms its cache on domain a, moves to domain b
 * (nk_thread_set_domain), and its very next nk_zalloc must return an item
 * of domain b; so must every later one.  Over every ordered pair (a, b),
 * a != b, several ways of warming the cache (alloc bucket empty, partly
 * full, full; a cross bucket holding items of b; items of a freed after the
 * move), and zones whose cache slot is inline and one whose slot lives in
 * the thread cache's extension (id >= NK_TC_INLINE), all in one thread so
 * that the cache carries state from pair to pair.  At the end every item is
 * freed and the counters must balance.
 */
#include "cache_common.h"
#include "zone.h"   /* struct nk_zone: only to read a zone's cache slot id */

#define NDOM   4
#define NZ     4
#define WARM   600
#define AFTER  700

enum warm { W_FREE_ALL, W_PARTIAL, W_ONE, W_CROSS, W_FREE_AFTER, W_NWARM };
static const char *warm_name[W_NWARM] = {
	"alloc+free (alloc bucket empty)", "alloc+free, then keep some (alloc bucket partial)",
	"one alloc+free (alloc bucket full)", "cross bucket holds items of b",
	"items of a freed after the move",
};

static nk_zone_t zones[NZ];
static nk_zone_t filler[80];
static void *held[NZ][WARM + AFTER + 8];
static int nheld[NZ];
static uint64_t seq;
static int cur_dom;
/* What the test did, by zone and by the domain it ran on. */
static uint64_t exp_a[NZ][NDOM], exp_f[NZ][NDOM], exp_x[NZ][NDOM];

static void *alloc_on(nk_zone_t z, int zi, int want, const char *what, int a, int b, int v)
{
	void *p = nk_zalloc(z, (seq & 1) ? NK_WAITOK : NK_NOWAIT);
	if (p == NULL)
		FAIL("nk_zalloc(%s) returned NULL, errno %d", nk_zone_name(z), errno);
	exp_a[zi][cur_dom]++;
	int d = nk_domain_of(p);
	CHECK(d == want, "%s: zone %s, %d -> %d, warm-up \"%s\": got %p of domain %d, want %d",
	    what, nk_zone_name(z), a, b, warm_name[v], p, d, want);
	ct_fill(p, nk_zone_size(z) & ~(size_t)7, ct_stamp((unsigned)zi, 0, ++seq));
	return p;
}

static void free_one(int zi, void *p)
{
	uint64_t st = *(uint64_t *)p;
	size_t bad = ct_check(p, nk_zone_size(zones[zi]) & ~(size_t)7, st);
	CHECK(bad == 0 && (st >> 56) == (uint64_t)zi, "zone %s: item %p corrupted (byte %zu)",
	    nk_zone_name(zones[zi]), p, bad ? bad - 1 : 0);
	ct_unstamp(p, nk_zone_size(zones[zi]) & ~(size_t)7);
	exp_f[zi][cur_dom]++;
	if (nk_domain_of(p) != cur_dom)
		exp_x[zi][cur_dom]++;
	nk_zfree(zones[zi], p);
}

static void set_dom(int d)
{
	int err = nk_thread_set_domain(d);
	if (err)
		FAIL("nk_thread_set_domain(%d) = %d", d, err);
	cur_dom = d;
	CHECK(nk_current_domain() == d, "nk_current_domain() = %d after set_domain(%d)",
	    nk_current_domain(), d);
}

static uint64_t npairs;

static void run_pair(int a, int b, int v)
{
	void *tmp[WARM];
	set_dom(a);
	for (int zi = 0; zi < NZ; zi++) {
		nk_zone_t z = zones[zi];
		switch (v) {
		case W_FREE_ALL:
		case W_PARTIAL:
			for (int i = 0; i < WARM; i++)
				tmp[i] = alloc_on(z, zi, a, "warm-up", a, b, v);
			for (int i = 0; i < WARM; i++)
				free_one(zi, tmp[i]);
			if (v == W_PARTIAL)
				for (int i = 0; i < 50; i++)
					held[zi][nheld[zi]++] = alloc_on(z, zi, a, "warm-up", a, b, v);
			break;
		case W_ONE:
			free_one(zi, alloc_on(z, zi, a, "warm-up", a, b, v));
			break;
		case W_CROSS: {
			/* Items of b, made on b, freed on a: into a's cross bucket. */
			set_dom(b);
			for (int i = 0; i < 20; i++)
				tmp[i] = alloc_on(z, zi, b, "warm-up (on b)", a, b, v);
			set_dom(a);
			free_one(zi, alloc_on(z, zi, a, "warm-up", a, b, v));
			for (int i = 0; i < 20; i++)
				free_one(zi, tmp[i]);
			break;
		}
		case W_FREE_AFTER:
			for (int i = 0; i < 100; i++)
				held[zi][nheld[zi]++] = alloc_on(z, zi, a, "warm-up", a, b, v);
			break;
		}
	}
	set_dom(b);
	/* The very next allocation, in every zone. */
	for (int zi = 0; zi < NZ; zi++)
		held[zi][nheld[zi]++] = alloc_on(zones[zi], zi, b, "first alloc after the move", a, b, v);
	if (v == W_FREE_AFTER) {
		/* Items of a freed on b: they must not come back on b. */
		for (int zi = 0; zi < NZ; zi++) {
			int keep = 0;
			for (int i = 0; i < nheld[zi]; i++) {
				if (nk_domain_of(held[zi][i]) == a)
					free_one(zi, held[zi][i]);
				else
					held[zi][keep++] = held[zi][i];
			}
			nheld[zi] = keep;
		}
	}
	for (int zi = 0; zi < NZ; zi++) {
		for (int i = 0; i < AFTER; i++) {
			void *p = alloc_on(zones[zi], zi, b, "later alloc after the move", a, b, v);
			if (i % 3 == 0)
				free_one(zi, p);   /* back into b's cache, and out again */
			else
				held[zi][nheld[zi]++] = p;
		}
	}
	/* Everything back, freed on b (items of a: cross-domain). */
	for (int zi = 0; zi < NZ; zi++) {
		while (nheld[zi] > 0)
			free_one(zi, held[zi][--nheld[zi]]);
	}
	npairs++;
}

int main(void)
{
	ct_start("cache_migration", 110);
	static const size_t sizes[NZ - 1] = { 16, 256, 3000 };
	for (int zi = 0; zi < NZ - 1; zi++) {
		char n[32];
		snprintf(n, sizeof(n), "mig-%zu", sizes[zi]);
		zones[zi] = nk_zcreate(n, sizes[zi], NULL, NULL, NULL, NULL, NK_ALIGN_PTR,
		    NK_ZONE_FIRSTTOUCH);
		if (zones[zi] == NULL)
			FAIL("nk_zcreate(%s): errno %d", n, errno);
	}
	/* Enough zones that the last one's cache slot is out of line. */
	for (int i = 0; i < 80; i++) {
		char n[32];
		snprintf(n, sizeof(n), "mig-filler-%d", i);
		filler[i] = nk_zcreate(n, 32, NULL, NULL, NULL, NULL, 0, NK_ZONE_FIRSTTOUCH);
		if (filler[i] == NULL)
			FAIL("nk_zcreate(%s): errno %d", n, errno);
	}
	zones[NZ - 1] = nk_zcreate("mig-ext-96", 96, NULL, NULL, NULL, NULL, NK_ALIGN_PTR,
	    NK_ZONE_FIRSTTOUCH);
	if (zones[NZ - 1] == NULL)
		FAIL("nk_zcreate(mig-ext-96): errno %d", errno);
	CHECK(zones[NZ - 1]->id >= NK_TC_INLINE, "zone mig-ext-96 has slot id %d < %d: the test "
	    "does not reach the out-of-line slots", zones[NZ - 1]->id, NK_TC_INLINE);

	for (int v = 0; v < W_NWARM; v++)
		for (int a = 0; a < NDOM; a++)
			for (int b = 0; b < NDOM; b++)
				if (a != b)
					run_pair(a, b, v);
	/* And back and forth quickly: one alloc between moves. */
	for (int r = 0; r < 200; r++) {
		int d = r % NDOM;
		set_dom(d);
		for (int zi = 0; zi < NZ; zi++)
			free_one(zi, alloc_on(zones[zi], zi, d, "ping-pong", (d + 3) % NDOM, d, W_ONE));
	}
	printf("cache_migration: %llu pairs, %llu items\n", (unsigned long long)npairs,
	    (unsigned long long)seq);

	for (int zi = 0; zi < NZ; zi++) {
		nk_zone_t z = zones[zi];
		int cur = nk_zone_get_cur(z);
		CHECK(cur == 0, "zone %s: nk_zone_get_cur() = %d with every item freed",
		    nk_zone_name(z), cur);
		struct nk_domain_stats t = ct_zone_total(z);
		CHECK(t.xdomain > 0, "zone %s: no cross-domain free counted", nk_zone_name(z));
		for (int d = 0; d < NDOM; d++) {
			struct nk_domain_stats s;
			nk_zone_stats(z, d, &s);
			CHECK(s.allocs == exp_a[zi][d] && s.frees == exp_f[zi][d] &&
			    s.xdomain == exp_x[zi][d], "zone %s domain %d: allocs/frees/xdomain "
			    "%llu/%llu/%llu, the test made %llu/%llu/%llu", nk_zone_name(z), d,
			    (unsigned long long)s.allocs, (unsigned long long)s.frees,
			    (unsigned long long)s.xdomain, (unsigned long long)exp_a[zi][d],
			    (unsigned long long)exp_f[zi][d], (unsigned long long)exp_x[zi][d]);
		}
		CHECK(t.fallbacks == 0, "zone %s: %llu fallbacks with no limit", nk_zone_name(z),
		    (unsigned long long)t.fallbacks);
		nk_zone_reclaim(z, NK_RECLAIM_DRAIN);
		for (int d = 0; d < NDOM; d++) {
			struct nk_domain_stats s;
			nk_zone_stats(z, d, &s);
			CHECK(s.cached_items == 0 && s.slabs == 0,
			    "zone %s domain %d after NK_RECLAIM_DRAIN: cached %llu slabs %llu free_items %llu",
			    nk_zone_name(z), d, (unsigned long long)s.cached_items,
			    (unsigned long long)s.slabs, (unsigned long long)s.free_items);
		}
		ct_print_zone(stdout, z);
	}
	return nkt_done(ct_name);
}
