/*
 * The statistics' placement check (NUMAKEG_STATS_PLACEMENT) against this
 * program's own measurement, on a kernel that sees several NUMA nodes (run
 * inside the QEMU guest of tools/numa-vm.sh).  Domain 0 has a limit
 * (NUMAKEG_DOMAIN_LIMIT=node0:4M) and a thread on it allocates more than that,
 * so part of its blocks fall back to the nearest domain.  The program asks
 * the kernel (move_pages) where every page of its blocks is: each must be
 * on the node of the domain numakeg says it belongs to (nk_domain_of), some
 * must be on another domain than the thread's, and the dump's placement
 * share and fallbacks must say the same.
 *
 * With the argument nearest=N (the 4-node guest, whose distance matrix puts
 * node N nearest to node 0), every block that fell back must be on node N:
 * the fallback follows the distances, and the dump names that node.
 *
 * numa-vm.sh passes no environment, so the program sets its variables and
 * runs itself again: numakeg reads them before main.
 */
#include <errno.h>
#include <numaif.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nk_test.h"
#include "numakeg.h"

#define NBLOCKS  (96 * 1024)   /* x 64 B: 6 MiB, past domain 0's 4 MiB */
/* By the kernel's node id: domain 0 is node 0 in this guest (checked below). */
#define LIMIT_ENV "node0:4M"


static void *blocks[NBLOCKS];
static char dump[1 << 20];

/* The domain's numbers from the JSON dump: placement and page fallbacks. */
static int
parse_domain(const char *json, int d, unsigned long *sampled, unsigned long *on_node,
    unsigned long *absent, int *node)
{
	char key[64];
	snprintf(key, sizeof(key), "{\"domain\":%d,\"node\":", d);
	/* The top-level domains come before "zones": the first match is it. */
	const char *p = strstr(json, key);
	const char *zones = strstr(json, "\"zones\":[");
	if (p == NULL || zones == NULL || p > zones)
		return -1;
	if (sscanf(p + strlen(key), "%d", node) != 1)
		return -1;
	const char *pl = strstr(p, "\"placement\":{\"applicable\":true,\"sampled\":");
	if (pl == NULL || pl > zones)
		return -1;
	pl += strlen("\"placement\":{\"applicable\":true,\"sampled\":");
	if (sscanf(pl, "%lu,\"on_node\":%lu,\"not_present\":%lu", sampled, on_node, absent) != 3)
		return -1;
	return 0;
}

int
main(int argc, char **argv)
{
	if (getenv("NUMAKEG_STATS_PLACEMENT") == NULL) {
		setenv("NUMAKEG_STATS_PLACEMENT", "1", 1);
		setenv("NUMAKEG_DOMAIN_LIMIT", LIMIT_ENV, 1);
		execv("/proc/self/exe", argv);
		FAIL("cannot run myself again: %s", strerror(errno));
	}
	int nearest = -1;
	if (argc > 1 && strncmp(argv[1], "nearest=", 8) == 0)
		nearest = atoi(argv[1] + 8);
	int nd = nk_ndomains();
	if (nd < 2) {
		nkt_skip("%d NUMA domain(s) here, the test wants 2 or more", nd);
	}
	int err = nk_thread_set_domain(0);
	CHECK(err == 0, "nk_thread_set_domain(0): %s", strerror(err));

	int elsewhere = 0, wrong = 0, asked = 0, not_nearest = 0;
	for (int i = 0; i < NBLOCKS; i++) {
		blocks[i] = malloc(64);
		REQUIRE(blocks[i] != NULL, "malloc %d", i);
		memset(blocks[i], 1, 64);
	}
	/* The program's own measurement: a page a block, every 64th block. */
	int status[NBLOCKS / 64];
	void *pages[NBLOCKS / 64];
	int n = 0;
	for (int i = 0; i < NBLOCKS; i += 64)
		pages[n++] = (void *)((uintptr_t)blocks[i] & ~(uintptr_t)4095);
	CHECK(move_pages(0, (unsigned long)n, pages, NULL, status, 0) == 0, "move_pages: %s",
	    strerror(errno));
	FILE *f = fmemopen(dump, sizeof(dump) - 1, "w");
	nk_stats_print(f, 1);
	fclose(f);
	for (int i = 0; i < n; i++) {
		int d = nk_domain_of(pages[i]);
		int node = -1;
		unsigned long s, o, a;
		if (d < 0 || parse_domain(dump, d, &s, &o, &a, &node) != 0) {
			wrong++;
			continue;
		}
		asked++;
		elsewhere += d != 0;
		wrong += status[i] != node;
		if (d != 0 && nearest >= 0 && status[i] != nearest) {
			not_nearest++;
			if (not_nearest == 1)
				printf("stats_placement: a fallback page on node %d, not the nearest %d\n",
				    status[i], nearest);
		}
	}
	if (nearest >= 0)
		CHECK(not_nearest == 0, "%d fallback pages not on node %d, the nearest to node 0",
		    not_nearest, nearest);
	printf("stats_placement: %d pages asked, %d on another domain than the thread's, "
	    "%d not on their domain's node\n", asked, elsewhere, wrong);
	CHECK(asked == n, "every page's domain is in the dump (%d of %d)", asked, n);
	CHECK(wrong == 0, "every page on its domain's node (%d are not)", wrong);
	CHECK(elsewhere > 0, "past domain 0's limit, blocks fell back to another domain");
	for (int d = 0; d < nd; d++) {
		unsigned long s = 0, o = 0, a = 0;
		int node = -1;
		CHECK(parse_domain(dump, d, &s, &o, &a, &node) == 0, "domain %d's placement", d);
		if (d == 0)
			CHECK(node == 0, "domain 0 is node 0, as node0:4M assumes (it is %d)", node);
		printf("stats_placement: domain %d (node %d): %lu sampled, %lu on the node, %lu "
		    "not present\n", d, node, s, o, a);
		if (d == 0 || (elsewhere > 0 && d == nk_domain_of(pages[n - 1])))
			CHECK(s > 0 && o == s - a, "domain %d: the dump's share is 1 as measured", d);
	}
	/* The fallback is counted: slabs made on another domain for domain 0. */
	const char *m = strstr(dump, "{\"name\":\"malloc\",");
	unsigned long fb = 0;
	for (const char *p = m; p != NULL && (p = strstr(p + 1, "\"fallbacks\":")) != NULL &&
	    p < strstr(m, "\"classes\":"); )
		fb += strtoul(p + strlen("\"fallbacks\":"), NULL, 10);
	CHECK(m != NULL && fb > 0, "malloc's rows count the fallbacks (%lu)", fb);
	for (int i = 0; i < NBLOCKS; i++)
		free(blocks[i]);
	fflush(stdout);
	return nkt_done("numa_vm_stats_placement");
}
