/*
 * A machine of two NUMA nodes without hwloc's library (the QEMU guest of
 * tools/numa-vm.sh with NUMA_VM_NO_HWLOC=1): numakeg loads hwloc with dlopen
 * only where there is more than one node, and the .deb depends on libhwloc15
 * for that alone.  Where it is missing, numakeg must say so on stderr, name
 * the package, and run as one domain; allocation works as usual.
 *
 * numakeg is this program's malloc (linked static), so its start-up, and the
 * message, come before main: the program runs itself again (the argument
 * "child") with its stderr on a pipe, and checks both the message and what
 * the child saw.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nk_test.h"
#include "numakeg.h"

/* What the child checks: one domain, topology "none", allocations work. */
static int
child(void)
{
	REQUIRE(dlopen("libhwloc.so.15", RTLD_NOW | RTLD_LOCAL) == NULL,
	    "the guest has no libhwloc.so.15 (NUMA_VM_NO_HWLOC=1)");
	CHECK(nk_ndomains() == 1, "one domain without hwloc, got %d", nk_ndomains());

	char *dump = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&dump, &len);
	REQUIRE(f != NULL, "open_memstream");
	nk_stats_print(f, 1);
	REQUIRE(fclose(f) == 0, "fclose");
	CHECK(strstr(dump, "\"topology\":\"none\"") != NULL,
	    "the statistics say topology none: %.200s", dump);
	free(dump);

	enum { N = 10000 };
	static void *blocks[N];
	for (int i = 0; i < N; i++) {
		blocks[i] = malloc((size_t)(16 + (i % 64) * 16));
		REQUIRE(blocks[i] != NULL, "malloc");
		memset(blocks[i], i & 0xff, 16);
		CHECK(nk_domain_of(blocks[i]) == 0, "a block on domain 0");
	}
	for (int i = 0; i < N; i++)
		free(blocks[i]);
	void *large = malloc(8u << 20);
	REQUIRE(large != NULL, "an 8 MiB block");
	memset(large, 1, 8u << 20);
	free(large);
	return nkt_done("numa_vm_no_hwloc (child)");
}

int
main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "child") == 0)
		return child();

	/* The kernel must see more than one node, or hwloc is never loaded. */
	char online[64] = "";
	FILE *nodes = fopen("/sys/devices/system/node/online", "r");
	REQUIRE(nodes != NULL && fgets(online, sizeof(online), nodes) != NULL,
	    "read /sys/devices/system/node/online");
	fclose(nodes);
	online[strcspn(online, "\n")] = '\0';
	REQUIRE(strchr(online, '-') != NULL || strchr(online, ',') != NULL,
	    "the guest has more than one node online, got '%s'", online);

	int fds[2];
	REQUIRE(pipe(fds) == 0, "pipe");
	pid_t pid = fork();
	REQUIRE(pid >= 0, "fork");
	if (pid == 0) {
		dup2(fds[1], 2);
		close(fds[0]);
		close(fds[1]);
		execl("/proc/self/exe", argv[0], "child", (char *)NULL);
		_exit(126);
	}
	close(fds[1]);
	static char err[16384];
	size_t got = 0;
	ssize_t n;
	char rest[512];
	/* Read to the end (past a full buffer too), so the child never blocks. */
	while ((n = got < sizeof(err) - 1 ? read(fds[0], err + got, sizeof(err) - 1 - got)
	    : read(fds[0], rest, sizeof(rest))) > 0)
		if (got < sizeof(err) - 1)
			got += (size_t)n;
	err[got] = '\0';
	close(fds[0]);
	int status = 0;
	REQUIRE(waitpid(pid, &status, 0) == pid, "waitpid");
	fputs(err, stdout);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "the child passed (status %#x)", status);
	CHECK(strstr(err, "cannot load libhwloc.so.15") != NULL &&
	    strstr(err, "libhwloc15") != NULL,
	    "numakeg said it cannot load hwloc and named the package");
	CHECK(strstr(err, "running as one domain") != NULL,
	    "numakeg said it runs as one domain");
	return nkt_done("numa_vm_no_hwloc");
}
