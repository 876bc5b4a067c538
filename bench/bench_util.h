/*
 * What the plain-C benchmark programs of bench/ share (large_churn,
 * mixed_sizes, thread_memory, locality, batch, nk_batch): a seeded random
 * stream, the thread's CPU clock, a median, a strict count parser.  Header
 * only, so that a program stays one file and links nothing of numakeg.
 */
#ifndef NK_BENCH_UTIL_H
#define NK_BENCH_UTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

/* splitmix64: a fixed seed gives every allocator the same sequence. */
static inline uint64_t
bench_rng(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/*
 * The thread's CPU time, not the wall clock: on a busy machine the time
 * the thread spends preempted would swamp what is measured (the cycles of
 * malloc and free, and the stalls of cache misses, which CPU time includes).
 */
static inline double
bench_thread_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static inline int
bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The median of v[0..n-1], n > 0; v is sorted in place. */
static inline double
bench_median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), bench_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* A decimal count in 1..max into *out; -1 for anything else. */
static inline int
bench_parse_count(const char *text, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v = strtoul(text, &end, 10);
	if (*text == '\0' || *end != '\0' || v == 0 || v > max)
		return -1;
	*out = v;
	return 0;
}

#endif /* NK_BENCH_UTIL_H */
