/*
 * Fallback by distance, with a distance matrix whose nearest-first order is
 * not the index order (NUMAKEG_FAKE_DISTANCES, set by ctest).  A thread on a
 * full domain must get its memory from the nearest domain with room, then
 * the next nearest, and so on: each domain but the last is capped with
 * NUMAKEG_DOMAIN_LIMIT, and the test fills them one after another.
 *
 *   core_distance table ORDER0 [ORDER1 ...]  nk_topo.fallback[d] is ORDERd
 *   core_distance zone ORDER    zone items, keg fallback, caller on ORDER[0]
 *   core_distance large ORDER   nk_malloc large blocks, caller on ORDER[0]
 *   core_distance domain ORDER  nk_malloc_domain(ORDER[0]) from another domain,
 *                               small and large blocks
 *
 * ORDER is a string of domain digits, nearest first, e.g. "0312".
 */
#include "nk_test.h"
#include "numakeg.h"
#include "topo.h"

#define NDOM 4
#define MAX_ITEMS 200000

static int rank_of[NDOM];   /* the position of each domain in the expected order */

static void
parse_order(const char *s, int *order)
{
	REQUIRE(strlen(s) == NDOM, "order \"%s\": want %d digits", s, NDOM);
	for (int i = 0; i < NDOM; i++) {
		REQUIRE(s[i] >= '0' && s[i] < '0' + NDOM, "order \"%s\"", s);
		order[i] = s[i] - '0';
		rank_of[order[i]] = i;
	}
}

/*
 * Allocates with alloc() until a block lands on the last domain of order,
 * and checks that the domains were used in that order and never went back
 * to a nearer one once it had refused (a full domain stays full: nothing is
 * freed meanwhile).
 */
static void
fill_in_order(const char *what, void *(*alloc)(void), void (*release)(void *),
    const int *order)
{
	static void *blocks[MAX_ITEMS];
	int n = 0, per[NDOM] = { 0 }, highest = 0, backwards = 0;
	struct nk_page_stats before[NDOM];
	for (int d = 0; d < NDOM; d++)
		nk_page_stats(d, &before[d]);
	while (n < MAX_ITEMS) {
		void *p = alloc();
		REQUIRE(p != NULL, "%s %d: NULL (errno %d) with domain %d unlimited",
		    what, n, errno, order[NDOM - 1]);
		blocks[n++] = p;
		int d = nk_domain_of(p);
		REQUIRE(d >= 0 && d < NDOM, "%s %d: domain %d", what, n, d);
		per[d]++;
		if (rank_of[d] < highest && backwards++ < 5)
			CHECK(0, "%s %d came from domain %d after domain %d had served "
			    "(expected order %d%d%d%d)", what, n, d, order[highest],
			    order[0], order[1], order[2], order[3]);
		if (rank_of[d] > highest) {
			CHECK(rank_of[d] == highest + 1, "%s %d: after domain %d came domain %d, "
			    "skipping domain %d (expected order %d%d%d%d)", what, n, order[highest],
			    d, order[highest + 1], order[0], order[1], order[2], order[3]);
			highest = rank_of[d];
		}
		if (d == order[NDOM - 1])
			break;
	}
	CHECK(highest == NDOM - 1, "%s: %d blocks never reached domain %d", what, n,
	    order[NDOM - 1]);
	printf("%s: %d blocks; per domain %d %d %d %d\n", what, n, per[0], per[1], per[2], per[3]);
	for (int i = 0; i < NDOM; i++) {
		int d = order[i];
		CHECK(per[d] > 0, "%s: domain %d (choice %d) served nothing", what, d, i + 1);
		if (i < NDOM - 1) {
			struct nk_page_stats ps;
			nk_page_stats(d, &ps);
			CHECK(ps.fallbacks > before[d].fallbacks,
			    "%s: domain %d (choice %d) never refused a page allocation", what, d, i + 1);
		}
	}
	for (int i = 0; i < n; i++)
		release(blocks[i]);
}

static nk_zone_t zone;
static void *zone_alloc(void) { return nk_zalloc(zone, NK_NOWAIT); }
static void zone_release(void *p) { nk_zfree(zone, p); }

static void *large_alloc(void) { return nk_malloc(256 << 10); }
static int target_domain;
static void *domain_small(void) { return nk_malloc_domain(1000, target_domain); }
static void *domain_large(void) { return nk_malloc_domain(256 << 10, target_domain); }

static void
on_domain(int d)
{
	REQUIRE(nk_thread_set_domain(d) == 0, "nk_thread_set_domain(%d)", d);
	REQUIRE(nk_current_domain() == d, "current domain %d", nk_current_domain());
}

int
main(int argc, char **argv)
{
	alarm(100);
	REQUIRE(argc >= 3, "usage: core_distance MODE ORDER...");
	REQUIRE(nk_ndomains() == NDOM, "want %d fake domains, have %d", NDOM, nk_ndomains());
	const char *mode = argv[1];
	int order[NDOM];

	if (strcmp(mode, "table") == 0) {
		REQUIRE(argc == 2 + NDOM, "table wants %d orders", NDOM);
		for (int d = 0; d < NDOM; d++) {
			parse_order(argv[2 + d], order);
			for (int i = 0; i < NDOM; i++)
				CHECK(nk_topo.fallback[d][i] == order[i],
				    "domain %d: choice %d is %d, want %d (order %s)", d, i + 1,
				    nk_topo.fallback[d][i], order[i], argv[2 + d]);
		}
		return nkt_done("core_distance table");
	}

	parse_order(argv[2], order);
	if (strcmp(mode, "zone") == 0) {
		on_domain(order[0]);
		zone = nk_zcreate("distance", 1024, NULL, NULL, NULL, NULL, NK_ALIGN_PTR,
		    NK_ZONE_FIRSTTOUCH);
		REQUIRE(zone != NULL, "zcreate");
		fill_in_order("zone item", zone_alloc, zone_release, order);
		/* The keg counted each slab taken for another domain's caller. */
		for (int i = 1; i < NDOM; i++) {
			struct nk_domain_stats st;
			nk_zone_stats(zone, order[i], &st);
			CHECK(st.fallbacks > 0, "domain %d (choice %d): no fallback slab counted",
			    order[i], i + 1);
		}
		nk_zdestroy(zone);
	} else if (strcmp(mode, "large") == 0) {
		on_domain(order[0]);
		fill_in_order("malloc(256 KiB)", large_alloc, nk_free, order);
	} else if (strcmp(mode, "domain") == 0) {
		/* The caller runs on the last choice: placement follows the target. */
		on_domain(order[NDOM - 1]);
		target_domain = order[0];
		fill_in_order("nk_malloc_domain(1000)", domain_small, nk_free, order);
	} else if (strcmp(mode, "domain_large") == 0) {
		on_domain(order[NDOM - 1]);
		target_domain = order[0];
		fill_in_order("nk_malloc_domain(256 KiB)", domain_large, nk_free, order);
	} else {
		REQUIRE(0, "unknown mode %s", mode);
	}
	return nkt_done(mode);
}
