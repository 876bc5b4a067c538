/*
 * gbench_c: a small C interface to Google Benchmark, so that the benchmarks
 * themselves stay in C11 like the library.  A benchmark is a C function
 * that loops on nk_bench_keep_running() (or _batch); the wrapper adds the
 * system CPU time and minor page faults per iteration as counters (page
 * faults are what large blocks cost), and keeps each benchmark's median so
 * that the C side can compute ratios after the run.
 */
#ifndef NK_GBENCH_C_H
#define NK_GBENCH_C_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nk_bench_state nk_bench_state;
typedef void (*nk_bench_fn)(nk_bench_state *st);

/*
 * Registers a benchmark called `name`, run by `threads` threads at once
 * (each calls fn with its own state); `arg` is handed back by nk_bench_arg().
 * Both CPU and wall-clock time are measured (see struct nk_bench_result).
 */
void nk_bench_register(const char *name, nk_bench_fn fn, void *arg, int threads);

/* The loop condition: 1 while more iterations are wanted.  Timing starts
 * at the first call, so set-up before the loop is not measured. */
int nk_bench_keep_running(nk_bench_state *st);
/* The same, counting n iterations per call: the call's cost (a few ns)
 * is then spread over n operations, which matters for 10-ns operations. */
int nk_bench_keep_running_batch(nk_bench_state *st, size_t n);

void *nk_bench_arg(nk_bench_state *st);
int nk_bench_thread_index(nk_bench_state *st);
int nk_bench_threads(nk_bench_state *st);
/* Marks the run as failed (the message is reported); return right after. */
void nk_bench_skip_with_error(nk_bench_state *st, const char *msg);

/*
 * Parses the --benchmark_* options, runs the registered benchmarks and
 * prints Google Benchmark's usual table.  Defaults, each for an option the
 * arguments do not give: --benchmark_repetitions=5,
 * --benchmark_report_aggregates_only=true,
 * --benchmark_enable_random_interleaving=true (the repetitions of different
 * benchmarks alternate) and --benchmark_min_time=0.2.
 * Returns the number of benchmarks run (0 for --benchmark_list_tests), or
 * -1 when an argument was not understood (the error is printed).
 */
long nk_bench_run(int argc, char **argv);

/* One benchmark's result: the median over the repetitions (or the single
 * run), per iteration. */
struct nk_bench_result {
	double real_ns;   /* wall-clock time; with n threads, that of all of them
	                   * together divided by all their iterations */
	double cpu_ns;    /* CPU time: every thread's, summed, over all iterations */
	double sys_ns;    /* the kernel's part of it (getrusage), likewise */
	double minflt;    /* minor page faults, likewise */
};
/* After nk_bench_run(): 1 and *out filled in, or 0 when that benchmark did
 * not run (filtered out, skipped with an error). */
int nk_bench_result(const char *name, int threads, struct nk_bench_result *out);

#ifdef __cplusplus
}
#endif
#endif /* NK_GBENCH_C_H */
