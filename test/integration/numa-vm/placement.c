/*
 * Real placement, on a kernel that sees several NUMA nodes (run inside the
 * QEMU guest that tools/numa-vm.sh boots).  numakeg is this program's malloc
 * (linked static); for every domain a thread is moved there with
 * nk_thread_set_domain(), allocates small blocks, large blocks and zone
 * items, touches them, and asks the kernel (move_pages with no target) on
 * which node each page really is; large blocks on each path of the page
 * layer and a block grown by realloc too.  Then a block of domain 0 freed by a
 * thread on domain 1 must go home, not into domain 1's allocations.  And a
 * thread served by the per-CPU caches (rseq: the guest's glibc registers it)
 * that fills its CPU's arrays on one node and moves to the other gets the
 * other node's memory at once, and its own again when it moves back.
 */
#include <errno.h>
#include <numaif.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nk_test.h"
#include "numakeg.h"
#include "pcpu.h"   /* nk_pcpu_on, nk_tls_tc: which cache served the thread */


/* The node the kernel placed the page of p on, or -errno. */
static int
node_of(void *p)
{
	void *page = (void *)((uintptr_t)p & ~(uintptr_t)4095);
	int status = -1;
	if (move_pages(0, 1, &page, NULL, &status, 0) != 0)
		return -errno;
	return status;
}

enum { NSMALL = 256, NLARGE = 8, NZONE = 256 };

struct placed {
	int domain;
	int small_ok, large_ok, zone_ok, small_total, large_total, zone_total;
	int cpu;
	void *keep[16];   /* handed to the other domain's thread to free */
};

static nk_zone_t zone;

/* Pages of [p, p+n) on node (every 16th page and the last); -1: all of them. */
static long
first_page_off_node(char *p, size_t n, int node)
{
	for (size_t off = 0; off < n; off += 16 * 4096)
		if (node_of(p + off) != node)
			return (long)off;
	return node_of(p + n - 1) == node ? -1 : (long)(n - 1);
}

/*
 * Large blocks on every path of the page layer: the thread's run cache
 * (256 KiB, freed and taken again), the page cache (3 MiB, reused after a
 * free), a run past the cache (40 MiB), and a block grown by realloc from
 * 64 KiB to 24 MiB (in place where it can, moved where it cannot).
 */
static void
place_large_paths(struct placed *r)
{
	static const size_t sizes[] = { 256 << 10, 3 << 20, 40 << 20 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (int round = 0; round < 2; round++) {   /* fresh, then reused */
			char *p = malloc(sizes[i]);
			memset(p, 6, sizes[i]);
			long off = first_page_off_node(p, sizes[i], r->domain);
			CHECK(off < 0, "domain %d: a %zu-byte block (round %d) has page +%ld off its node",
			    r->domain, sizes[i], round, off);
			r->large_ok += off < 0;
			r->large_total++;
			free(p);
		}
	}
	size_t n = 64 << 10;
	char *g = malloc(n);
	memset(g, 7, n);
	while (n < (24u << 20)) {
		size_t next = n + n / 2;
		g = realloc(g, next);
		memset(g + n, 7, next - n);
		n = next;
		long off = first_page_off_node(g, n, r->domain);
		CHECK(off < 0, "domain %d: a block grown by realloc to %zu has page +%ld off its node",
		    r->domain, n, off);
		r->large_ok += off < 0;
		r->large_total++;
	}
	free(g);
}

static void *
place(void *arg)
{
	struct placed *r = arg;
	int err = nk_thread_set_domain(r->domain);
	CHECK(err == 0, "nk_thread_set_domain(%d): %s", r->domain, strerror(err));
	r->cpu = sched_getcpu();
	CHECK(nk_current_domain() == r->domain, "running on domain %d, want %d",
	    nk_current_domain(), r->domain);
	static __thread void *small[NSMALL], *large[NLARGE], *items[NZONE];
	for (int i = 0; i < NSMALL; i++) {
		small[i] = malloc(64 + (i % 8) * 32);
		memset(small[i], 1, 64);
		r->small_ok += node_of(small[i]) == r->domain;
		r->small_total++;
	}
	for (int i = 0; i < NLARGE; i++) {
		large[i] = malloc(256 << 10);
		memset(large[i], 2, 256 << 10);
		r->large_ok += node_of(large[i]) == r->domain &&
		    node_of((char *)large[i] + (255 << 10)) == r->domain;
		r->large_total++;
	}
	place_large_paths(r);
	for (int i = 0; i < NZONE; i++) {
		items[i] = nk_zalloc(zone, NK_WAITOK);
		memset(items[i], 3, 200);
		r->zone_ok += node_of(items[i]) == r->domain;
		r->zone_total++;
	}
	for (int i = 0; i < 16; i++)
		r->keep[i] = malloc(128);
	for (int i = 0; i < NSMALL; i++)
		free(small[i]);
	for (int i = 0; i < NLARGE; i++)
		free(large[i]);
	for (int i = 0; i < NZONE; i++)
		nk_zfree(zone, items[i]);
	return NULL;
}

/* Frees another domain's blocks, then allocates: its own domain's memory. */
static void *
cross(void *arg)
{
	struct placed *r = arg;
	nk_thread_set_domain(r->domain);
	for (int i = 0; i < 16; i++)
		free(r->keep[i]);  /* r->keep came from the other domain */
	int ok = 0;
	for (int i = 0; i < 64; i++) {
		char *p = malloc(128);
		memset(p, 4, 128);
		ok += node_of(p) == r->domain && nk_domain_of(p) == r->domain;
		free(p);
	}
	CHECK(ok == 64, "domain %d: %d of 64 blocks after cross frees are local", r->domain, ok);
	return NULL;
}

/*
 * Moves between domains 0 and 1 with its CPU's arrays full of the first
 * one's blocks: each stay's allocations must be on the node it runs on.
 */
static void *
migrate(void *arg)
{
	int *served_per_cpu = arg;
	enum { N = 512 };
	static __thread void *p[N];
	const int order[] = { 0, 1, 0, 1 };
	for (unsigned k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
		int d = order[k];
		int err = nk_thread_set_domain(d);
		CHECK(err == 0, "nk_thread_set_domain(%d): %s", d, strerror(err));
		int ok = 0;
		for (int i = 0; i < N; i++) {
			p[i] = malloc(48 + (i % 4) * 16);
			memset(p[i], 8, 48);
			ok += node_of(p[i]) == d && nk_domain_of(p[i]) == d;
		}
		CHECK(ok == N, "migration, stay %u on domain %d: %d of %d blocks local", k, d, ok, N);
		printf("numa-vm: migration, stay %u on domain %d (cpu %d): %d/%d blocks local\n",
		    k, d, sched_getcpu(), ok, N);
		for (int i = 0; i < N; i++)
			free(p[i]);   /* into this CPU's arrays, for the next stay to leave behind */
	}
	*served_per_cpu = nk_tls_tc == NK_TC_PCPU;
	return NULL;
}

int
main(void)
{
	int nd = nk_ndomains();
	printf("numa-vm: numakeg sees %d domains\n", nd);
	REQUIRE(nd >= 2, "want at least 2 domains from hwloc, got %d", nd);
	zone = nk_zcreate("placement", 200, NULL, NULL, NULL, NULL, NK_ALIGN_PTR, 0);
	struct placed r[8];
	memset(r, 0, sizeof(r));
	for (int d = 0; d < nd && d < 8; d++) {
		pthread_t t;
		r[d].domain = d;
		pthread_create(&t, NULL, place, &r[d]);
		pthread_join(t, NULL);
		printf("numa-vm: domain %d (cpu %d): small %d/%d, large %d/%d, zone %d/%d on node %d\n",
		    d, r[d].cpu, r[d].small_ok, r[d].small_total, r[d].large_ok, r[d].large_total,
		    r[d].zone_ok, r[d].zone_total, d);
		CHECK(r[d].small_ok == r[d].small_total, "small blocks off their node");
		CHECK(r[d].large_ok == r[d].large_total, "large blocks off their node");
		CHECK(r[d].zone_ok == r[d].zone_total, "zone items off their node");
	}
	/* Domain 0's blocks freed on domain 1, and the other way round. */
	struct placed x0 = r[1], x1 = r[0];  /* the blocks, and the other domain */
	x0.domain = 0;
	x1.domain = 1;
	pthread_t t0, t1;
	pthread_create(&t0, NULL, cross, &x1);
	pthread_join(t0, NULL);
	pthread_create(&t1, NULL, cross, &x0);
	pthread_join(t1, NULL);
	/*
	 * The window's binding, not the toucher, decides: memory of domain d
	 * first touched by a thread on another domain still lands on d.
	 */
	for (int d = 0; d < nd; d++) {
		int other = (d + 1) % nd;
		nk_thread_set_domain(other);
		char *big = nk_malloc_domain(1 << 20, d);
		char *small = nk_malloc_domain(64, d);
		memset(big, 5, 1 << 20);
		memset(small, 5, 64);
		CHECK(nk_domain_of(big) == d && node_of(big) == d &&
		    node_of(big + (1 << 20) - 1) == d,
		    "1 MiB for domain %d touched from domain %d is on node %d", d, other, node_of(big));
		CHECK(node_of(small) == d, "64 B for domain %d touched from domain %d is on node %d",
		    d, other, node_of(small));
		printf("numa-vm: domain %d's memory touched from domain %d: node %d (big), %d (small)\n",
		    d, other, node_of(big), node_of(small));
		nk_free(big);
		nk_free(small);
	}
	/* Migration with the per-CPU caches full of the old node's blocks. */
	int per_cpu = 0;
	pthread_t tm;
	pthread_create(&tm, NULL, migrate, &per_cpu);
	pthread_join(tm, NULL);
	printf("numa-vm: per-CPU caches %s; the migrating thread was served %s\n",
	    nk_pcpu_on ? "on" : "off", per_cpu ? "per CPU" : "by a thread cache");
	CHECK(!nk_pcpu_on || per_cpu, "the per-CPU caches are on, yet the migrating thread "
	    "was not served by them");
	nk_thread_set_domain(-1);
	nk_stats_print(stdout, 0);
	fflush(stdout);
	return nkt_done("numa_vm_placement");
}
