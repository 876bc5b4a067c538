/*
 * nk_bench: numakeg against glibc malloc and jemalloc, in one process.
 *
 * It links numakeg_noexport (only the nk_* API), so malloc stays glibc's,
 * and loads jemalloc with dlopen(RTLD_LOCAL): its malloc/free, taken with
 * dlsym on that handle, sit beside glibc's without replacing them.
 *
 * Workloads, each with 1 and 2 threads (every thread does the same work on
 * its own items):
 *   pair64     a warm 64-byte malloc/free pair (the thread caches' fast path)
 *   batch64    1000 x 64 B allocated, then freed in the same order: more than
 *              any thread cache holds, so the shared layers work too
 *   churnSIZE  malloc/free of one SIZE block, first and last byte touched:
 *              what large blocks cost, page faults included (sys_ns and
 *              minflt say how much is the kernel's).  The sizes sit on both
 *              sides of numakeg's cache boundaries (lib/large.c, page.c):
 *                32K+1, 36K   just above the largest small class (32 KiB):
 *                             the smallest large blocks, page runs
 *                256K, 1M, 2M inside the thread's run cache (runs of at
 *                             most 2 MiB, 8 runs and 8 MiB a thread)
 *                2M+4K, 4M,   outside it (2M+4K rounds up to the 2.5 MiB
 *                24M          class): the page layer's cache of freed runs
 *                32M          returned to the OS at once (runs of 32 MiB
 *                             and more skip the page cache)
 * Times are per operation (one malloc + one free), the median over Google
 * Benchmark's repetitions.  After the run come a table of the medians (CPU,
 * wall and kernel time, page faults) and one `ratio ...` line per comparison
 * of numakeg with jemalloc and glibc.
 *
 * Every allocator is called through a function pointer, as a preloaded
 * malloc is called through the PLT: no allocator gets inlined or direct
 * calls that the others do not.
 */
#ifndef _GNU_SOURCE  /* the build may define it already */
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "numakeg.h"
#include "gbench_c.h"

struct allocator {
	const char *name;
	void *(*alloc)(size_t size);
	void (*release)(void *ptr);
};

/* The 64-byte zone: the UMA API itself, without the malloc layer's
 * size-class lookup.  NK_NOWAIT: a benchmark must not sleep. */
static nk_zone_t zone64;

static void *zone64_alloc(size_t size)
{
	(void)size;
	return nk_zalloc(zone64, NK_NOWAIT);
}

static void zone64_free(void *p)
{
	nk_zfree(zone64, p);
}

/* glibc's, by name: this program does not export numakeg's malloc. */
static void *glibc_alloc(size_t size) { return malloc(size); }
static void glibc_free(void *p) { free(p); }

static struct allocator a_zone = { "nk_zone", zone64_alloc, zone64_free };
static struct allocator a_nk = { "nk", nk_malloc, nk_free };
static struct allocator a_glibc = { "glibc", glibc_alloc, glibc_free };
static struct allocator a_jemalloc = { "jemalloc", NULL, NULL };

/* Keeps the compiler from proving that an allocation is unused and
 * removing the malloc/free pair (GCC does that for malloc by name). */
static inline void escape(void *p)
{
	__asm__ volatile("" : : "g"(p) : "memory");
}

/* One benchmark's parameters, handed over by nk_bench_arg(). */
struct bcase {
	const struct allocator *a;
	size_t size;
};

static void out_of_memory(nk_bench_state *st)
{
	nk_bench_skip_with_error(st, "allocation failed");
}

static void bm_pair(nk_bench_state *st)
{
	const struct bcase *c = nk_bench_arg(st);
	void *(*alloc)(size_t) = c->a->alloc;
	void (*release)(void *) = c->a->release;
	size_t size = c->size;
	int i;

	/* Warm: the thread's cache holds items before the clock starts. */
	for (i = 0; i < 1000; i++) {
		void *p = alloc(size);
		escape(p);
		release(p);
	}
	/* 64 pairs per loop call: the wrapper's per-call cost is then
	 * small beside a ~10 ns pair. */
	while (nk_bench_keep_running_batch(st, 64))
		for (i = 0; i < 64; i++) {
			char *p = alloc(size);
			if (!p) {
				out_of_memory(st);
				return;
			}
			p[0] = (char)i;  /* the item is used, if barely */
			escape(p);
			release(p);
		}
}

#define BATCH 1000

static void bm_batch(nk_bench_state *st)
{
	const struct bcase *c = nk_bench_arg(st);
	void *(*alloc)(size_t) = c->a->alloc;
	void (*release)(void *) = c->a->release;
	size_t size = c->size;
	void *ptrs[BATCH];
	int i;

	/* One iteration is one malloc + one free, as in the other workloads:
	 * a batch counts BATCH of them. */
	while (nk_bench_keep_running_batch(st, BATCH)) {
		for (i = 0; i < BATCH; i++) {
			char *p = alloc(size);
			if (!p) {
				while (i-- > 0)
					release(ptrs[i]);
				out_of_memory(st);
				return;
			}
			p[0] = (char)i;
			ptrs[i] = p;
		}
		escape(ptrs);
		for (i = 0; i < BATCH; i++)
			release(ptrs[i]);
	}
}

static void bm_churn(nk_bench_state *st)
{
	const struct bcase *c = nk_bench_arg(st);
	void *(*alloc)(size_t) = c->a->alloc;
	void (*release)(void *) = c->a->release;
	size_t size = c->size;

	/* Touching both ends faults in (at least) two pages whenever the
	 * allocator gave the block back to the kernel since the last round:
	 * that is the cost this workload shows. */
	while (nk_bench_keep_running(st)) {
		char *p = alloc(size);
		if (!p) {
			out_of_memory(st);
			return;
		}
		p[0] = 1;
		p[size - 1] = 1;
		escape(p);
		release(p);
	}
}

struct workload {
	const char *name;   /* benchmark name prefix */
	const char *label;  /* in the ratio lines */
	nk_bench_fn fn;
	size_t size;
	int zone;           /* also run on the 64-byte zone */
};

static const struct workload workloads[] = {
	{ "pair64", "64B pair", bm_pair, 64, 1 },
	{ "batch64", "1000x64B batch", bm_batch, 64, 1 },
	{ "churn32K+1", "32KiB+1B churn", bm_churn, 32 * 1024 + 1, 0 },
	{ "churn36K", "36KiB churn", bm_churn, 36 * 1024, 0 },
	{ "churn256K", "256KiB churn", bm_churn, 256 * 1024, 0 },
	{ "churn1M", "1MiB churn", bm_churn, 1024 * 1024, 0 },
	{ "churn2M", "2MiB churn", bm_churn, 2 * 1024 * 1024, 0 },
	{ "churn2M+4K", "2MiB+4KiB churn", bm_churn, 2 * 1024 * 1024 + 4096, 0 },
	{ "churn4M", "4MiB churn", bm_churn, 4 * 1024 * 1024, 0 },
	{ "churn24M", "24MiB churn", bm_churn, 24 * 1024 * 1024, 0 },
	{ "churn32M", "32MiB churn", bm_churn, 32 * 1024 * 1024, 0 },
};
#define NWORKLOADS (sizeof workloads / sizeof workloads[0])
#define MAXTHREADS 2
#define NALLOC 4

static struct bcase cases[NWORKLOADS][NALLOC];

static void name_of(char *buf, size_t len, const struct workload *w, const struct allocator *a)
{
	snprintf(buf, len, "%s/%s", w->name, a->name);
}

static int get(const struct workload *w, const struct allocator *a, int threads,
               struct nk_bench_result *r)
{
	char name[64];

	if (!a->alloc)
		return 0;
	name_of(name, sizeof name, w, a);
	return nk_bench_result(name, threads, r);
}

/*
 * The ratios use CPU time per operation (all threads' CPU time over all
 * their operations), not wall time: this 2-core machine is shared, and when
 * another process runs, the wall time of the 2-thread runs swings by 30-80%
 * between repetitions while their CPU time stays within a few percent.  With
 * 1 thread the two agree when the machine is quiet.  The wall-time ratio is
 * printed beside it: it is the one that would show time spent blocked on a
 * lock, which CPU time does not count.
 */
static void print_ratio(const char *what, const char *label, int threads,
                        const struct nk_bench_result *rn, const struct nk_bench_result *rb)
{
	printf("ratio %s (%s, %d thread%s): ", what, label, threads, threads == 1 ? "" : "s");
	if (rn && rb)
		printf("%.2f (wall %.2f)\n", rn->cpu_ns / rb->cpu_ns, rn->real_ns / rb->real_ns);
	else
		printf("n/a\n");
}

static void report(void)
{
	const struct allocator *all[] = { &a_zone, &a_nk, &a_glibc, &a_jemalloc };
	const struct allocator *nks[] = { &a_nk, &a_zone };
	const struct allocator *base[] = { &a_jemalloc, &a_glibc };
	size_t w;
	int t, k, b;

	printf("\nmedians per operation (one malloc + one free); cpu: all threads' CPU time,\n"
	       "wall: elapsed time (2 threads: both together), sys: kernel part of cpu,\n"
	       "minflt: minor page faults\n");
	printf("%-10s %3s %-9s %10s %10s %10s %9s\n", "workload", "thr", "allocator",
	       "cpu ns", "wall ns", "sys ns", "minflt");
	for (w = 0; w < NWORKLOADS; w++)
		for (t = 1; t <= MAXTHREADS; t++)
			for (k = 0; k < NALLOC; k++) {
				struct nk_bench_result r;

				if (get(&workloads[w], all[k], t, &r))
					printf("%-10s %3d %-9s %10.1f %10.1f %10.1f %9.4f\n", workloads[w].name,
					       t, all[k]->name, r.cpu_ns, r.real_ns, r.sys_ns, r.minflt);
			}

	/* One line per comparison, for scripts and the README: nk is
	 * nk_malloc, nk_zone the 64-byte zone's nk_zalloc. */
	printf("\nratio < 1: numakeg is faster; CPU time per op (wall-time ratio in brackets)\n");
	for (w = 0; w < NWORKLOADS; w++)
		for (t = 1; t <= MAXTHREADS; t++)
			for (k = 0; k < (workloads[w].zone ? 2 : 1); k++)
				for (b = 0; b < 2; b++) {
					struct nk_bench_result rn, rb;
					int hn = get(&workloads[w], nks[k], t, &rn);
					int hb = get(&workloads[w], base[b], t, &rb);
					char what[32];

					snprintf(what, sizeof what, "%s/%s", nks[k]->name, base[b]->name);
					print_ratio(what, workloads[w].label, t, hn ? &rn : NULL, hb ? &rb : NULL);
				}
}

/*
 * Debian's libjemalloc.so.2 has 2.6 KiB of initial-exec TLS, more than the
 * surplus glibc keeps for libraries loaded later (512 bytes by default), so
 * dlopen fails with "cannot allocate memory in static TLS block".  The
 * surplus is fixed at start-up: the program runs itself again with a larger
 * one (glibc.rtld.optional_static_tls), once; if that fails too, it goes on
 * without jemalloc.
 */
static void reexec_with_static_tls(char **argv)
{
	const char *old = getenv("GLIBC_TUNABLES");
	const char *tls = "glibc.rtld.optional_static_tls=16384";
	char *tun;

	if (old && *old) {
		if (asprintf(&tun, "%s:%s", old, tls) < 0)
			return;
	} else if (!(tun = strdup(tls))) {
		return;
	}
	setenv("GLIBC_TUNABLES", tun, 1);
	setenv("NK_BENCH_REEXEC", "1", 1);
	fflush(NULL);
	execv("/proc/self/exe", argv);
	/* exec failed: carry on as we are, without jemalloc. */
	unsetenv("NK_BENCH_REEXEC");
	free(tun);
}

int main(int argc, char **argv)
{
	const struct allocator *allocs[NALLOC] = { &a_zone, &a_nk, &a_glibc, &a_jemalloc };
	void *jh;
	size_t w;
	long nrun;
	int t, k;

	/* RTLD_LOCAL: jemalloc's malloc must not replace anybody's. */
	jh = dlopen("libjemalloc.so.2", RTLD_NOW | RTLD_LOCAL);
	if (!jh && !getenv("NK_BENCH_REEXEC"))
		reexec_with_static_tls(argv);
	if (jh) {
		/* POSIX's way of turning dlsym's void * into a function pointer. */
		*(void **)&a_jemalloc.alloc = dlsym(jh, "malloc");
		*(void **)&a_jemalloc.release = dlsym(jh, "free");
		if (!a_jemalloc.alloc || !a_jemalloc.release)
			a_jemalloc.alloc = NULL, a_jemalloc.release = NULL;
	}
	if (!a_jemalloc.alloc)
		fprintf(stderr, "nk_bench: jemalloc not loaded (%s): its benchmarks are left out\n",
		        jh ? "no malloc/free in it" : dlerror());

	zone64 = nk_zcreate("bench-64", 64, NULL, NULL, NULL, NULL, NK_ALIGN_PTR, 0);
	if (!zone64) {
		fprintf(stderr, "nk_bench: nk_zcreate failed\n");
		return 1;
	}
	printf("nk_bench: numakeg with %d NUMA domain%s; glibc malloc%s\n", nk_ndomains(),
	       nk_ndomains() == 1 ? "" : "s", a_jemalloc.alloc ? ", jemalloc" : "");

	/* Registered workload by workload, the allocators next to each other;
	 * the random interleaving of the repetitions mixes them further. */
	for (w = 0; w < NWORKLOADS; w++)
		for (t = 1; t <= MAXTHREADS; t++)
			for (k = 0; k < NALLOC; k++) {
				char name[64];

				if (!allocs[k]->alloc || (allocs[k] == &a_zone && !workloads[w].zone))
					continue;
				cases[w][k].a = allocs[k];
				cases[w][k].size = workloads[w].size;
				name_of(name, sizeof name, &workloads[w], allocs[k]);
				nk_bench_register(name, workloads[w].fn, &cases[w][k], t);
			}

	nrun = nk_bench_run(argc, argv);
	if (nrun < 0)
		return 2;  /* a bad argument; Google Benchmark said which */
	if (nrun == 0)
		return 0;  /* --benchmark_list_tests, or a filter that matched nothing */
	report();
	nk_zdestroy(zone64);
	if (jh)
		dlclose(jh);
	return 0;
}
