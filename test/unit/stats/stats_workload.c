/*
 * Known workloads for the statistics tests; check_stats.py runs them and
 * reads what they wrote.  Each mode prints what failed and exits non-zero.
 *
 *   counts DIR   four threads, one per fake domain, make N[d] items of the
 *                zone "stats-test" and free M[d] of them; "stats-limited"
 *                sees two failures and a sleep at its limit; DIR/dump.json
 *                and DIR/dump.txt are the JSON and text dumps afterwards, of
 *                one state (the text is text:full with NUMAKEG_STATS=text:full).
 *   fork         allocates, forks; parent and child each allocate and exit
 *                (the exit dumps go to NUMAKEG_STATS_FILE with %p).
 *   live DIR [cpu]
 *                DIR/before.json, then four threads allocate while the main
 *                thread raises the stats signal and waits for the live dump
 *                in NUMAKEG_STATS_FILE; then DIR/after.json.  The threads set
 *                their domains (thread caches), or with "cpu" do not, and are
 *                served by the per-CPU caches (exits 77 when those are off).
 *   churn MS     mallocs and frees blocks of many sizes for MS milliseconds
 *                (interval dumps).
 *   pinned DIR cpu|thread
 *                the per-CPU caches or the thread caches (NUMAKEG_CACHE=thread),
 *                as programs get them: up to four threads, each pinned to a CPU
 *                of its own and not setting its domain, make N[k] items of
 *                "stats-test", N[k]/4 malloc(1500) blocks and N[k]/100 large
 *                blocks of 100 KiB (and one that fails), and free M[k], M[k]/4
 *                and M[k]/100 of them; then a thread on the second CPU frees
 *                some of the first thread's blocks (cross-domain frees);
 *                DIR/before.json and DIR/after.json around it, and one line
 *                "thread K cpu C domain D" each on stdout.  Exits 77 when the
 *                per-CPU caches are off but were asked for.
 *   noop         allocates a little and exits (option warnings, placement).
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "numakeg.h"
/* After the system headers and numakeg.h: nk_base.h hides what follows it. */
#include "pcpu.h"    /* nk_pcpu_on: which caches served the run */

#define NDOM 4
#define ITEM_SIZE 200

/* Requests and frees per domain: distinct, so a mix-up shows. */
static const int n_alloc[NDOM] = { 1000, 2000, 3000, 4000 };
static const int n_free[NDOM] = { 100, 700, 2000, 3999 };

static nk_zone_t zone;
static void *items[NDOM][4000];

static int
fail(const char *what)
{
	fprintf(stderr, "stats_workload: %s (%s)\n", what, strerror(errno));
	return 1;
}

static void *
counts_thread(void *arg)
{
	int d = (int)(intptr_t)arg;
	if (nk_thread_set_domain(d) != 0)
		return (void *)1;
	for (int i = 0; i < n_alloc[d]; i++)
		if ((items[d][i] = nk_zalloc(zone, NK_NOWAIT)) == NULL)
			return (void *)1;
	for (int i = 0; i < n_free[d]; i++)
		nk_zfree(zone, items[d][i]);
	return NULL;
}

static int
dump_to(const char *dir, const char *name, int json)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return fail(path);
	nk_stats_print(f, json);
	return fclose(f) != 0 ? fail(path) : 0;
}

/*
 * DIR/dump.json and DIR/dump.txt of one state: both files are opened first,
 * with buffers of their own (stdio would malloc them at the first write),
 * so nothing allocates between the two dumps and every number must agree.
 */
static int
dump_pair(const char *dir)
{
	static char bufs[2][1 << 16];
	static const char *const names[2] = { "dump.json", "dump.txt" };
	FILE *f[2];
	for (int i = 0; i < 2; i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if ((f[i] = fopen(path, "w")) == NULL)
			return fail(path);
		setvbuf(f[i], bufs[i], _IOFBF, sizeof(bufs[i]));
	}
	nk_stats_print(f[0], 1);
	nk_stats_print(f[1], 0);
	return (fclose(f[0]) != 0) | (fclose(f[1]) != 0) ? fail("the dumps") : 0;
}

/*
 * A zone limited to LIMITED_MAX items: two NK_NOWAIT calls past the limit
 * fail, and one NK_WAITOK call sleeps until another thread frees an item.
 */
#define LIMITED_MAX 4
static nk_zone_t limited;
static void *limited_items[LIMITED_MAX];

static void *
limited_freer(void *arg)
{
	(void)arg;
	struct timespec nap = { 0, 50000000 };
	nanosleep(&nap, NULL);
	nk_zfree(limited, limited_items[0]);
	return NULL;
}

static int
limited_failures_and_sleeps(void)
{
	limited = nk_zcreate("stats-limited", 64, NULL, NULL, NULL, NULL, NK_ALIGN_PTR, 0);
	if (limited == NULL || nk_zone_set_max(limited, LIMITED_MAX) != LIMITED_MAX)
		return fail("the limited zone");
	for (int i = 0; i < LIMITED_MAX; i++)
		if ((limited_items[i] = nk_zalloc(limited, NK_NOWAIT)) == NULL)
			return fail("an item under the limit");
	for (int i = 0; i < 2; i++)
		if (nk_zalloc(limited, NK_NOWAIT) != NULL)
			return fail("an item past the limit was handed out");
	pthread_t t;
	if (pthread_create(&t, NULL, limited_freer, NULL) != 0)
		return fail("pthread_create");
	void *p = nk_zalloc(limited, NK_WAITOK);  /* sleeps until the free */
	pthread_join(t, NULL);
	return p == NULL ? fail("NK_WAITOK returned NULL") : 0;
}

static int
mode_counts(const char *dir)
{
	if (nk_ndomains() != NDOM) {
		fprintf(stderr, "stats_workload: want NUMAKEG_FAKE_DOMAINS=%d, have %d domains\n",
		    NDOM, nk_ndomains());
		return 1;
	}
	zone = nk_zcreate("stats-test", ITEM_SIZE, NULL, NULL, NULL, NULL, NK_ALIGN_PTR, 0);
	if (zone == NULL)
		return fail("nk_zcreate");
	/* A name JSON must escape: the dump still parses and keeps it. */
	nk_zone_t odd = nk_zcreate("odd \"quoted\" \\ name\t", 32, NULL, NULL, NULL, NULL,
	    NK_ALIGN_PTR, 0);
	if (odd == NULL || nk_zalloc(odd, NK_NOWAIT) == NULL)
		return fail("the oddly named zone");
	pthread_t t[NDOM];
	for (int d = 0; d < NDOM; d++)
		if (pthread_create(&t[d], NULL, counts_thread, (void *)(intptr_t)d) != 0)
			return fail("pthread_create");
	int bad = 0;
	for (int d = 0; d < NDOM; d++) {
		void *r;
		pthread_join(t[d], &r);
		bad |= r != NULL;
	}
	if (bad)
		return fail("a thread could not allocate or pin itself");
	if (limited_failures_and_sleeps() != 0)
		return 1;
	return dump_pair(dir);
}

/* mode_pinned's threads: k, the CPU to run on, and what they found. */
struct pinned {
	int k, cpu, domain, failed;
	pthread_t t;
};
#define PINNED_MALLOC_SIZE 1500
#define PINNED_LARGE_SIZE  (100 << 10)
/* What the cross-domain thread frees of thread 0's blocks, still held. */
#define XFREE_ITEMS  50
#define XFREE_MALLOC 25
#define XFREE_LARGE  2
static void *pinned_blocks[NDOM][4000 / 4], *pinned_large[NDOM][4000 / 100];

/* The calling thread onto p->cpu, its domain noted; false (p->failed) if it cannot be. */
static bool
pin_to(struct pinned *p)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(p->cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0) {
		p->failed = 1;
		return false;
	}
	p->domain = nk_current_domain();
	return true;
}

static void *
pinned_thread(void *arg)
{
	struct pinned *p = arg;
	/* Pinned before its first allocation: its cache (per CPU or its own) and
	 * its domain are the CPU's for the whole run. */
	if (!pin_to(p))
		return NULL;
	int k = p->k, nm = n_alloc[k] / 4, nl = n_alloc[k] / 100;
	void **blocks = pinned_blocks[k], **large = pinned_large[k];
	for (int i = 0; i < n_alloc[k]; i++)
		if ((items[k][i] = nk_zalloc(zone, NK_NOWAIT)) == NULL)
			p->failed = 1;
	for (int i = 0; i < nm; i++)
		if ((blocks[i] = malloc(PINNED_MALLOC_SIZE)) == NULL)
			p->failed = 1;
	for (int i = 0; i < nl; i++)
		if ((large[i] = malloc(PINNED_LARGE_SIZE)) == NULL)
			p->failed = 1;
	/* One large request that cannot be met: a failure on the thread's domain. */
	if (malloc((size_t)1 << 60) != NULL)
		p->failed = 1;
	if (p->failed)
		return NULL;
	for (int i = 0; i < n_free[k]; i++)
		nk_zfree(zone, items[k][i]);
	for (int i = 0; i < n_free[k] / 4; i++)
		free(blocks[i]);
	for (int i = 0; i < n_free[k] / 100; i++)
		free(large[i]);
	if (nk_current_domain() != p->domain)
		p->failed = 1;   /* it moved: the expected counts would not hold */
	return NULL;
}

/* On thread 1's CPU: frees of blocks thread 0 made (on its domain) and holds. */
static void *
xfree_thread(void *arg)
{
	struct pinned *p = arg;
	if (!pin_to(p))
		return NULL;
	for (int i = 0; i < XFREE_ITEMS; i++)
		nk_zfree(zone, items[0][n_free[0] + i]);
	for (int i = 0; i < XFREE_MALLOC; i++)
		free(pinned_blocks[0][n_free[0] / 4 + i]);
	for (int i = 0; i < XFREE_LARGE; i++)
		free(pinned_large[0][n_free[0] / 100 + i]);
	if (nk_current_domain() != p->domain)
		p->failed = 1;
	return NULL;
}

static int
mode_pinned(const char *dir, const char *cache)
{
	bool want_cpu = strcmp(cache, "cpu") == 0;
	if (nk_ndomains() != NDOM) {
		fprintf(stderr, "stats_workload: want NUMAKEG_FAKE_DOMAINS=%d, have %d domains\n",
		    NDOM, nk_ndomains());
		return 1;
	}
	if (want_cpu && !nk_pcpu_on) {
		printf("SKIPPED: the per-CPU caches are off here (no rseq or no membarrier)\n");
		return 77;
	}
	if (!want_cpu && nk_pcpu_on) {
		fprintf(stderr, "stats_workload: NUMAKEG_CACHE=thread, yet the per-CPU caches are on\n");
		return 1;
	}
	zone = nk_zcreate("stats-test", ITEM_SIZE, NULL, NULL, NULL, NULL, NK_ALIGN_PTR, 0);
	if (zone == NULL)
		return fail("nk_zcreate");
	cpu_set_t mine;
	if (sched_getaffinity(0, sizeof(mine), &mine) != 0)
		return fail("sched_getaffinity");
	static struct pinned th[NDOM];
	int n = 0;
	for (int c = 0; c < CPU_SETSIZE && n < NDOM; c++)
		if (CPU_ISSET(c, &mine)) {
			th[n] = (struct pinned){ .k = n, .cpu = c };
			n++;
		}
	void *probe = malloc(PINNED_LARGE_SIZE);  /* before the first dump: not counted */
	printf("large block bytes %zu\n", malloc_usable_size(probe));
	free(probe);
	if (dump_to(dir, "before.json", 1))
		return 1;
	for (int i = 0; i < n; i++)
		if (pthread_create(&th[i].t, NULL, pinned_thread, &th[i]) != 0)
			return fail("pthread_create");
	int bad = 0;
	for (int i = 0; i < n; i++) {
		pthread_join(th[i].t, NULL);
		bad |= th[i].failed;
	}
	if (bad)
		return fail("a thread could not pin itself, allocate or stay on its domain");
	for (int i = 0; i < n; i++)
		printf("thread %d cpu %d domain %d\n", th[i].k, th[i].cpu, th[i].domain);
	if (n >= 2) {
		struct pinned x = { .k = -1, .cpu = th[1].cpu };
		if (pthread_create(&x.t, NULL, xfree_thread, &x) != 0)
			return fail("pthread_create");
		pthread_join(x.t, NULL);
		if (x.failed)
			return fail("the cross-domain thread could not pin itself or moved");
		printf("xfree domain %d of domain %d: items %d malloc %d large %d\n", x.domain,
		    th[0].domain, XFREE_ITEMS, XFREE_MALLOC, XFREE_LARGE);
	}
	return dump_to(dir, "after.json", 1);
}

static int
mode_fork(void)
{
	void *p = malloc(100);
	pid_t pid = fork();
	if (pid < 0)
		return fail("fork");
	void *q = malloc(300);
	free(q);
	free(p);
	if (pid == 0) {
		printf("child %d\n", (int)getpid());
		exit(0);  /* exit, not _exit: the child's dump is an exit handler */
	}
	int status;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return fail("the child failed");
	printf("parent %d\n", (int)getpid());
	return 0;
}

static volatile int live_stop;
static bool live_per_cpu;

static void *
live_thread(void *arg)
{
	int d = (int)(intptr_t)arg;
	if (!live_per_cpu)
		nk_thread_set_domain(d);
	/* Items kept until the end: every bucket refill is a slow path. */
	static void *held[NDOM][100000];
	long n = 0;
	while (!live_stop && n < 100000) {
		if ((held[d][n] = nk_zalloc(zone, NK_NOWAIT)) == NULL)
			return (void *)1;
		n++;
		if (n % 1000 == 0)
			sched_yield();
	}
	return (void *)0;
}

static off_t
file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_size : -1;
}

static int
mode_live(const char *dir, bool per_cpu)
{
	live_per_cpu = per_cpu;
	if (per_cpu && !nk_pcpu_on) {
		printf("SKIPPED: the per-CPU caches are off here (no rseq or no membarrier)\n");
		return 77;
	}
	const char *live = getenv("NUMAKEG_STATS_FILE");
	if (live == NULL)
		return fail("NUMAKEG_STATS_FILE is not set");
	zone = nk_zcreate("stats-test", ITEM_SIZE, NULL, NULL, NULL, NULL, NK_ALIGN_PTR, 0);
	if (zone == NULL)
		return fail("nk_zcreate");
	if (dump_to(dir, "before.json", 1))
		return 1;
	off_t size0 = file_size(live);
	pthread_t t[NDOM];
	for (int d = 0; d < NDOM; d++)
		if (pthread_create(&t[d], NULL, live_thread, (void *)(intptr_t)d) != 0)
			return fail("pthread_create");
	struct timespec ms = { 0, 1000000 };
	nanosleep(&ms, NULL);
	raise(SIGUSR2);
	/* The threads' next slow path writes the dump; wait for it (10 s at most). */
	int waited = 0;
	while (file_size(live) <= size0 && waited++ < 10000)
		nanosleep(&ms, NULL);
	nanosleep(&ms, NULL);
	live_stop = 1;
	int bad = 0;
	for (int d = 0; d < NDOM; d++) {
		void *r;
		pthread_join(t[d], &r);
		bad |= r != NULL;
	}
	if (bad)
		return fail("a thread could not allocate");
	if (file_size(live) <= size0) {
		fprintf(stderr, "stats_workload: no live dump in %s after 10 s\n", live);
		return 1;
	}
	return dump_to(dir, "after.json", 1);
}

/* Rounds of 1000 blocks held, then freed: every round passes slow paths. */
static int
mode_churn(long ms)
{
	static void *held[1000];
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		for (int i = 0; i < 1000; i++)
			if ((held[i] = malloc(16 + (size_t)(i % 64) * 48)) == NULL)
				return fail("malloc");
		for (int i = 0; i < 1000; i++)
			free(held[i]);
		struct timespec nap = { 0, 2000000 };
		nanosleep(&nap, NULL);
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < ms);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	if (strcmp(mode, "counts") == 0 && argc == 3)
		return mode_counts(argv[2]);
	if (strcmp(mode, "pinned") == 0 && argc == 4)
		return mode_pinned(argv[2], argv[3]);
	if (strcmp(mode, "fork") == 0)
		return mode_fork();
	if (strcmp(mode, "live") == 0 && (argc == 3 || (argc == 4 && strcmp(argv[3], "cpu") == 0)))
		return mode_live(argv[2], argc == 4);
	if (strcmp(mode, "churn") == 0 && argc == 3)
		return mode_churn(atol(argv[2]));
	if (strcmp(mode, "noop") == 0) {
		/* Enough to fill a few slabs: the placement check samples them. */
		static void *keep[2000];
		for (int i = 0; i < 2000; i++)
			if ((keep[i] = malloc(64 + (size_t)(i % 8) * 64)) == NULL)
				return fail("malloc");
		for (int i = 0; i < 2000; i += 2)
			free(keep[i]);
		return 0;
	}
	fprintf(stderr, "usage: stats_workload counts DIR | pinned DIR cpu|thread | fork | "
	    "live DIR [cpu] | churn MS | noop\n");
	return 2;
}
