/*
 * Regression tests for the confirmed defects 1-5 of the reliability issue:
 * each failed on the code before the fix.
 *   1. free/realloc/malloc_usable_size of a pointer inside a large block's
 *      first page was accepted (and the block handed out at p + 16).
 *   2. realloc of a large block sitting freed in the thread's run cache grew
 *      it in place: two owners.
 *   3. calloc returned old data after madvise failed on locked pages.
 *   4. every process aborted at start under RLIMIT_DATA below about 6 GiB;
 *      now a process starts under a small limit, is charged little for
 *      numakeg's own data, and uses its limit up to the last 512 KiB.
 *   5. malloc(500 GiB) succeeded on a 24 GiB machine.
 * Usage: pages_defects [child-under-rlimit-data]
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <malloc.h>
#include <sys/mman.h>

#include "nk_test.h"
#include "numakeg.h"

static void expect_abort(const char *what, void (*fn)(void *), const char *must)
{
	struct nkt_child d;
	nkt_run_child(fn, NULL, &d);
	CHECK_CHILD_SIGNAL(&d, SIGABRT, what);
	CHECK_CHILD_SAYS(&d, "numakeg:", what);
	CHECK_CHILD_SAYS(&d, must, what);
}

/* ---- 1: pointers inside a large block's first page ---- */

static void free_inside_large(void *arg)
{
	(void)arg;
	char *p = malloc(40000);
	free(nkt_launder(p + 16));
	_exit(0);
}

static void realloc_inside_large(void *arg)
{
	(void)arg;
	char *p = malloc(40000);
	(void)!realloc(nkt_launder(p + 16), 50000);
	_exit(0);
}

static void usable_inside_large(void *arg)
{
	(void)arg;
	char *p = malloc(40000);
	(void)!malloc_usable_size(nkt_launder(p + 16));
	_exit(0);
}

/* ---- 2: realloc of a freed large block in the thread's run cache ---- */

static void realloc_freed_large(void *arg)
{
	(void)arg;
	char *p = malloc(256 << 10);
	free(p);
	(void)!realloc(nkt_launder(p), 512 << 10);
	_exit(0);
}

static void test_large_pointers(void)
{
	expect_abort("free(p + 16) of a 40000-byte block", free_inside_large,
	    "inside a large block");
	expect_abort("realloc(p + 16) of a 40000-byte block", realloc_inside_large,
	    "inside a large block");
	expect_abort("malloc_usable_size(p + 16) of a 40000-byte block", usable_inside_large,
	    "inside a large block");
	expect_abort("realloc of a freed 256 KiB block", realloc_freed_large,
	    "double free of a large block");

	/* What the defect did next: two owners of one block. */
	char *a = malloc(40000), *b = malloc(40000);
	CHECK(a != NULL && b != NULL && (b >= a + 40000 || a >= b + 40000),
	    "two 40000-byte blocks overlap: %p %p", (void *)a, (void *)b);
	free(a);
	free(b);
}

/* ---- 3: calloc after the pages were locked ---- */

static void test_calloc_locked(void)
{
	size_t n = 2 << 20;
	char *p = malloc(n);
	memset(p, 0xa5, n);
	if (mlock(p, n) != 0) {
		fprintf(stderr, "SKIP part of calloc_locked: mlock: %s\n", strerror(errno));
	} else {
		free(p);
		malloc_trim(0);   /* gives the run back: madvise refuses locked pages */
		char *q = calloc(1, n);
		CHECK(q != NULL && nkt_is_zero(q, n), "a 2 MiB calloc after mlock+free+trim "
		    "is not zero (%p, the freed block was %p)", (void *)q, (void *)p);
		free(q);
	}
	/* mlockall: every page, also future ones, is locked. */
	if (mlockall(MCL_CURRENT | MCL_FUTURE) != 0) {
		fprintf(stderr, "SKIP part of calloc_locked: mlockall: %s\n", strerror(errno));
		return;
	}
	size_t big = 40 << 20;
	char *r = malloc(big);
	CHECK(r != NULL, "malloc(40 MiB) under mlockall");
	if (r != NULL) {
		memset(r, 0x5a, big);
		free(r);
		malloc_trim(0);
		char *s = calloc(1, big);
		CHECK(s != NULL && nkt_is_zero(s, big), "a 40 MiB calloc under mlockall is not zero");
		free(s);
	}
	munlockall();
}

/* ---- 4: start-up and use under RLIMIT_DATA ---- */

static int child_under_rlimit(size_t limit)
{
	/* Runs in a fresh process started under a data limit of limit bytes. */
	size_t mid_size = limit / 8;
	int bad = 0;
	void *small[1000];
	for (int i = 0; i < 1000; i++) {
		small[i] = malloc(100 + i);
		bad += small[i] == NULL;
	}
	char *mid = malloc(mid_size);
	bad += mid == NULL;
	if (mid)
		memset(mid, 1, mid_size);
	errno = 0;
	void *huge = malloc((size_t)256 << 20);   /* past the limit: refused, not killed */
	int refused = huge == NULL && errno == ENOMEM;
	free(huge);
	for (int i = 0; i < 1000; i++)
		free(small[i]);
	free(mid);
	printf("under %zu MiB: small and %zu KiB failures=%d, over the limit refused=%d\n",
	    limit >> 20, mid_size >> 10, bad, refused);
	return bad == 0 && refused ? 0 : 1;
}

/* This process's VmData (what RLIMIT_DATA counts) in bytes, read without malloc. */
static size_t vm_data(void)
{
	char buf[4096];
	int fd = open("/proc/self/status", O_RDONLY);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	const char *p = strstr(buf, "VmData:");
	return p != NULL ? (size_t)strtoul(p + 7, NULL, 10) << 10 : 0;
}

/*
 * Under a data limit, 64 KiB blocks until malloc says ENOMEM: by then the
 * process must have used its limit, all but a little.  numakeg commits in
 * steps (a quarter of what it has); a step the kernel refuses must not end
 * the allocations while what they need would still fit.
 */
static int child_fill_rlimit(size_t limit)
{
	enum { BLOCK = 64 << 10 };
	size_t max = limit / BLOCK + 64, n = 0;
	static void *v[4096];
	errno = 0;
	while (n < max && n < 4096 && (v[n] = malloc(BLOCK)) != NULL)
		memset(v[n++], 7, BLOCK);
	int e = errno;
	size_t used = vm_data();
	printf("under %zu KiB: %zu blocks of 64 KiB, then errno %d with VmData %zu KiB\n",
	    limit >> 10, n, e, used >> 10);
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	return n < max && e == ENOMEM && used + (512 << 10) >= limit ? 0 : 1;
}

static const char *self_path;

/* This program again as MODE, under RLIMIT_DATA of mib MiB (in a forked child). */
static void exec_self_under_rlimit_data(uintptr_t mib, const char *mode)
{
	rlim_t limit = (rlim_t)mib << 20;
	struct rlimit rl = { limit, limit };
	if (setrlimit(RLIMIT_DATA, &rl) != 0)
		_exit(3);
	char arg[32];
	snprintf(arg, sizeof(arg), "%lu", (unsigned long)mib);
	execl(self_path, self_path, mode, arg, (char *)NULL);
	_exit(4);
}

static void exec_under_rlimit_data(void *mib)
{
	exec_self_under_rlimit_data((uintptr_t)mib, "child-under-rlimit-data");
}

static void exec_fill_rlimit_data(void *mib)
{
	exec_self_under_rlimit_data((uintptr_t)mib, "child-fill-rlimit-data");
}

/* The program's zero-initialised static data, numakeg's included (GNU ld). */
extern char __bss_start[], _end[];

static void test_rlimit_data(const char *self)
{
	self_path = self;
	struct nkt_child d;
	nkt_run_child(exec_under_rlimit_data, (void *)(uintptr_t)64, &d);
	CHECK_CHILD_EXIT(&d, 0, "a process under RLIMIT_DATA=64 MiB");
	nkt_run_child(exec_fill_rlimit_data, (void *)(uintptr_t)100, &d);
	CHECK_CHILD_EXIT(&d, 0, "64 KiB blocks under RLIMIT_DATA=100 MiB until ENOMEM: "
	    "the limit used, all but 512 KiB");
	/*
	 * What every process is charged up front, against RLIMIT_DATA and by
	 * strict overcommit, whether it allocates or not: the .bss counts whole,
	 * touched or not.  numakeg's boot arena once put 8 MiB there, and a
	 * program under ulimit -d 8M could not even be loaded.
	 */
	size_t bss = (size_t)(_end - __bss_start);
	CHECK(bss < ((size_t)1 << 20), "%zu KiB of .bss (numakeg's and this program's): every "
	    "process is charged it against RLIMIT_DATA", bss >> 10);
}

/* ---- 5: requests the kernel will not back ---- */

static void test_overcommit(void)
{
	FILE *f = fopen("/proc/sys/vm/overcommit_memory", "r");
	int mode = -1;
	if (f != NULL) {
		if (fscanf(f, "%d", &mode) != 1)
			mode = -1;
		fclose(f);
	}
	if (mode == 1) {
		fprintf(stderr, "SKIP overcommit: vm.overcommit_memory=1 lets the kernel back anything\n");
		return;
	}
	errno = 0;
	void *p = malloc(nkt_hide_size((size_t)500 << 30));
	CHECK(p == NULL && errno == ENOMEM, "malloc(500 GiB) gave %p, errno %d", p, errno);
	free(p);
	errno = 0;
	p = calloc(1, nkt_hide_size((size_t)500 << 30));
	CHECK(p == NULL && errno == ENOMEM, "calloc(500 GiB) gave %p, errno %d", p, errno);
	free(p);
	/* And what the kernel will back still works afterwards. */
	char *q = malloc(64 << 20);
	CHECK(q != NULL, "malloc(64 MiB) after the refusals");
	if (q)
		memset(q, 1, 64 << 20);
	free(q);
}

int main(int argc, char **argv)
{
	if (argc > 2 && strcmp(argv[1], "child-fill-rlimit-data") == 0)
		return child_fill_rlimit((size_t)strtoul(argv[2], NULL, 10) << 20);
	if (argc > 2 && strcmp(argv[1], "child-under-rlimit-data") == 0)
		return child_under_rlimit((size_t)strtoul(argv[2], NULL, 10) << 20);
	test_large_pointers();
	test_rlimit_data(argv[0]);
	test_overcommit();
	test_calloc_locked();   /* last: it leaves the process mlockall()ed until its end */
	return nkt_done("pages_defects");
}
