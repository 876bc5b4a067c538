/*
 * cache_rseq_cross: frees of another domain's items on the per-CPU path
 * go home a bucket at a time (the CPU's cross bucket, zone_free_cross),
 * not one by one to the keg.  With 4 fake domains, a thread on cpu_a
 * (domain A) allocates NITEMS, moves to cpu_b (domain B) and frees them.
 *
 * Checked, in the per-CPU mode (skipped otherwise, and on one CPU):
 *  - get_cur is 0, domain B counts NITEMS cross-domain frees;
 *  - full buckets reached domain A's depot (its items, or the buckets it
 *    sent on to the keg for want of room): one-by-one frees reach neither;
 *  - every item is a free item of domain A (in its keg, depot, a CPU's
 *    array, or the partial cross bucket, counted on the items' domain);
 *  - nk_zone_reclaim(DRAIN) sends the partial bucket home too: nothing left
 *    in any depot, array or cross bucket; and back on cpu_a, NITEMS
 *    allocations are all domain A's items again.
 */
#include "cache_common.h"

#include "bucket.h"
#include "kva.h"
#include "zone.h"

#define NITEMS 1000

static nk_zone_t zone;
static int cpu_a, cpu_b, dom_a, dom_b;
static void *items[NITEMS];

static void alloc_all(void)
{
	for (int i = 0; i < NITEMS; i++)
		if ((items[i] = nk_zalloc(zone, NK_WAITOK)) == NULL)
			FAIL("nk_zalloc returned NULL");
}

static int count_on(int d)
{
	int n = 0;
	for (int i = 0; i < NITEMS; i++)
		n += kva_domain_of(items[i]) == d;
	return n;
}

int main(void)
{
	ct_start("cache_rseq_cross", 60);
	if (!nk_pcpu_on)
		nkt_skip("the per-CPU caches are off (NUMAKEG_CACHE=thread, no rseq or no membarrier)");
	ct_two_cpus(&cpu_a, &cpu_b);
	dom_a = nk_topo.cpu_domain[cpu_a];
	dom_b = nk_topo.cpu_domain[cpu_b];
	if (dom_a == dom_b)
		nkt_skip("cpus %d and %d share a domain (want NUMAKEG_FAKE_DOMAINS=4)", cpu_a, cpu_b);
	zone = nk_zcreate("rseq-cross", 64, NULL, NULL, NULL, NULL, NK_ALIGN_PTR,
	    NK_ZONE_FIRSTTOUCH);
	if (zone == NULL)
		FAIL("nk_zcreate: errno %d", errno);

	ct_phase = "cross-domain frees";
	ct_pin(cpu_a);
	alloc_all();
	CHECK(count_on(dom_a) == NITEMS, "%d of %d items from cpu %d's domain %d",
	    count_on(dom_a), NITEMS, cpu_a, dom_a);
	ct_pin(cpu_b);
	for (int i = 0; i < NITEMS; i++)
		nk_zfree(zone, items[i]);
	CHECK(nk_tls_tc == NK_TC_PCPU, "the thread is not served by the per-CPU caches");
	CHECK(nk_zone_get_cur(zone) == 0, "get_cur %d after the frees", nk_zone_get_cur(zone));
	struct nk_domain_stats sb, sa;
	if (nk_zone_stats(zone, dom_b, &sb) != 0 || nk_zone_stats(zone, dom_a, &sa) != 0)
		FAIL("nk_zone_stats failed");
	CHECK(sb.xdomain == NITEMS, "domain %d counts %llu cross-domain frees, want %d", dom_b,
	    (unsigned long long)sb.xdomain, NITEMS);
	struct nk_depot *dep = &zone->depot[dom_a];
	uint64_t arrived = dep->nitems + dep->overflows;
	CHECK(arrived > 0, "no bucket reached domain %d's depot: the frees went one by one",
	    dom_a);
	/* Domain A's slabs hold every item, each a free one: in the keg, the
	 * depot, a CPU's array or the cross bucket (the last two: tc_items). */
	uint64_t ipers = zone->keg->ipers;
	uint64_t free_a = sa.free_items + sa.cached_items + zone_domain_tc_items(zone, dom_a);
	CHECK(free_a == sa.slabs * ipers, "domain %d: %llu free items in %llu slabs of %llu",
	    dom_a, (unsigned long long)free_a, (unsigned long long)sa.slabs,
	    (unsigned long long)ipers);
	CHECK(zone_domain_tc_items(zone, dom_b) == 0, "domain %d caches %llu items", dom_b,
	    (unsigned long long)zone_domain_tc_items(zone, dom_b));

	ct_phase = "reclaim";
	nk_zone_reclaim(zone, NK_RECLAIM_DRAIN);
	struct nk_domain_stats t = ct_zone_total(zone);
	CHECK(t.cached_items == 0, "%llu items still in the depots after nk_zone_reclaim",
	    (unsigned long long)t.cached_items);
	for (int d = 0; d < nk_ndomains(); d++)
		CHECK(zone_domain_tc_items(zone, d) == 0, "domain %d: %llu items in CPUs' arrays or "
		    "cross buckets after nk_zone_reclaim", d,
		    (unsigned long long)zone_domain_tc_items(zone, d));

	ct_phase = "home again";
	ct_pin(cpu_a);
	alloc_all();
	CHECK(count_on(dom_a) == NITEMS, "back on cpu %d: %d of %d items from domain %d", cpu_a,
	    count_on(dom_a), NITEMS, dom_a);
	for (int i = 0; i < NITEMS; i++)
		nk_zfree(zone, items[i]);
	CHECK(nk_zone_get_cur(zone) == 0, "get_cur %d at the end", nk_zone_get_cur(zone));
	if (nkt_failed())
		ct_print_zone(stderr, zone);
	nk_zdestroy(zone);
	printf("cache_rseq_cross: cpus %d and %d, %llu items reached domain %d's depot in buckets\n",
	    cpu_a, cpu_b, (unsigned long long)arrived, dom_a);
	return nkt_done(ct_name);
}
