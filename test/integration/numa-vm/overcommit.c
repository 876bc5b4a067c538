/*
 * Strict overcommit (vm.overcommit_memory=2), inside the QEMU guest that
 * tools/numa-vm.sh boots: a setting a test cannot change on a shared host.
 * The guest is the test's own, so the program (root there) sets the mode,
 * then runs itself again so that numakeg starts under it (issue 7, defect
 * 4 and "start-up that fits any reasonable limit"; the code before the fix
 * could not start at all: its reservation was writable and charged whole).
 *
 * Under strict accounting, with numakeg as malloc (linked static):
 *   - the process starts, and small blocks and a 64 MiB block work;
 *   - malloc(500 GiB) and a request past what the kernel will still commit
 *     (the commit limit less what is committed, plus 64 MiB: less than the
 *     guest's memory, so only the accounting refuses it) give NULL with
 *     ENOMEM, as glibc's malloc does, without a word on stderr;
 *   - afterwards blocks are still given, and a forked child allocates;
 *   - what numakeg commits at start is small: Committed_AS grows by less
 *     than 64 MiB from before the first allocation to after it.
 * Usage: numa_vm_overcommit (it sets the mode and runs itself with "strict").
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nk_test.h"
#include "numakeg.h"

/* A /proc/meminfo field in KiB, or -1; reads with the C library's stdio,
 * which allocates: called before the first allocation only with buf. */
static long
meminfo_kib(const char *field)
{
	char buf[8192];
	int fd = open("/proc/meminfo", O_RDONLY);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	char *p = strstr(buf, field);
	return p != NULL ? strtol(p + strlen(field) + 1, NULL, 10) : -1;
}

static int
strict(void)
{
	long before = meminfo_kib("Committed_AS");
	void *first = malloc(100);   /* numakeg starts here */
	long after = meminfo_kib("Committed_AS");
	CHECK(first != NULL, "the first malloc under strict overcommit: %s", strerror(errno));
	CHECK(before > 0 && after > 0 && after - before < (64 << 10),
	    "Committed_AS %ld -> %ld KiB across numakeg's start", before, after);

	void *small[2000];
	for (int i = 0; i < 2000; i++) {
		small[i] = malloc(16 + (size_t)i * 7);
		CHECK(small[i] != NULL, "malloc(%d)", 16 + i * 7);
	}
	char *mid = malloc(64 << 20);
	CHECK(mid != NULL, "malloc(64 MiB): %s", strerror(errno));
	if (mid != NULL)
		memset(mid, 0x5a, 64 << 20);

	errno = 0;
	void *huge = malloc(nkt_hide_size((size_t)500 << 30));
	CHECK(huge == NULL && errno == ENOMEM, "malloc(500 GiB) = %p, errno %d", huge, errno);
	free(huge);
	long limit = meminfo_kib("CommitLimit"), committed = meminfo_kib("Committed_AS");
	long total = meminfo_kib("MemTotal");
	REQUIRE(limit > 0 && committed > 0 && total > 0, "no commit figures in /proc/meminfo");
	size_t past = ((size_t)(limit - committed) << 10) + ((size_t)64 << 20);
	CHECK(past < (size_t)total << 10, "the request past the commit limit (%zu KiB) is not "
	    "below the guest's memory (%ld KiB): the test proves nothing", past >> 10, total);
	printf("CommitLimit %ld KiB, Committed_AS %ld KiB, start committed %ld KiB, asking %zu MiB\n",
	    limit, committed, after - before, past >> 20);
	errno = 0;
	void *over = malloc(nkt_hide_size(past));
	CHECK(over == NULL && errno == ENOMEM, "malloc(%zu MiB) past the commit limit (%ld KiB, "
	    "%ld committed) = %p, errno %d", past >> 20, limit, committed, over, errno);
	free(over);

	/* Still working afterwards, in this process and in a child. */
	char *again = malloc(16 << 20);
	CHECK(again != NULL, "malloc(16 MiB) after the refusals: %s", strerror(errno));
	if (again != NULL)
		memset(again, 1, 16 << 20);
	pid_t pid = fork();
	if (pid == 0) {
		char *c = malloc(8 << 20);
		if (c == NULL)
			_exit(1);
		memset(c, 2, 8 << 20);
		free(c);
		_exit(mid != NULL && mid[12345] == 0x5a ? 0 : 2);
	}
	int st = 0;
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "a forked child under strict overcommit: status %#x", st);
	free(again);
	free(mid);
	for (int i = 0; i < 2000; i++)
		free(small[i]);
	free(first);
	return nkt_done("numa_vm_overcommit");
}

int
main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "strict") == 0)
		return strict();
	int fd = open("/proc/sys/vm/overcommit_memory", O_WRONLY);
	if (fd < 0 || write(fd, "2", 1) != 1) {
		fprintf(stderr, "FAIL numa_vm_overcommit: cannot set vm.overcommit_memory=2: %s\n",
		    strerror(errno));
		return 1;
	}
	close(fd);
	execl(argv[0], argv[0], "strict", (char *)NULL);
	fprintf(stderr, "FAIL numa_vm_overcommit: exec: %s\n", strerror(errno));
	return 1;
}
