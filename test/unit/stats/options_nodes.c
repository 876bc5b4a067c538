/*
 * nodeN in NUMAKEG_DOMAIN_LIMIT and NUMAKEG_POLICY=bind: the kernel's node
 * ids become numakeg's domain indexes, by the topology's table, whatever the
 * order hwloc put the nodes in.  Calls options.c's nk_options_domains()
 * directly with a made-up table (4 domains whose nodes are 2, 3, 0, 1), as
 * topo.c calls it with the real one.
 */
#include <stdio.h>
#include <string.h>

#include "nk_test.h"   /* first: nk_base.h hides what is declared after it */
#include "nk_base.h"

static void
expect(const char *what, const char *got, const char *want)
{
	CHECK((got == NULL) == (want == NULL) && (got == NULL || strcmp(got, want) == 0),
	    "%s: got %s, want %s", what, got ? got : "(none)", want ? want : "(none)");
}

static void
run(const char *limit, const char *policy, bool fake, const char *want_limit,
    const char *want_policy)
{
	static const int os_node[4] = { 2, 3, 0, 1 };
	nk_opt.domain_limit = limit;
	nk_opt.policy = policy;
	nk_options_domains(4, os_node, fake);
	char what[128];
	snprintf(what, sizeof(what), "NUMAKEG_DOMAIN_LIMIT=%s%s", limit ? limit : "",
	    fake ? " (fake)" : "");
	expect(what, nk_opt.domain_limit, want_limit);
	snprintf(what, sizeof(what), "NUMAKEG_POLICY=%s%s", policy ? policy : "", fake ? " (fake)" : "");
	expect(what, nk_opt.policy, want_policy);
}

int
main(void)
{
	/* Indexes stay as they are; nodeN becomes the index of node N's domain. */
	run("0:1M,3:2G", "bind:3", false, "0:1048576,3:2147483648", "bind:3");
	run("node0:1M,node3:4K", "bind:node0", false, "2:1048576,1:4096", "bind:2");
	run("node1:64M", "bind:node1", false, "3:67108864", "bind:3");
	run("64M", "firsttouch", false, "64M", "firsttouch");
	/* No such node, no such domain, or a fake topology: the default (a warning each). */
	run("node7:1M", "bind:node7", false, NULL, NULL);
	run("4:1M", "bind:4", false, NULL, NULL);
	run("node0:1M", "bind:node0", true, NULL, NULL);
	return nkt_done("stats_options_nodes");
}
