/*
 * nk_batch (bench/nk_batch.c): numakeg's cost per block when a thread allocates a batch of
 * blocks and then frees them all (issue 10, "Batches"), for tuning the
 * bucket sizes (lib/bucket.c).  numakeg only: the comparison with the other
 * allocators is mimalloc-bench's glibc-simple and glibc-thread.
 *
 * For each block size (16, 64, 256 B), batch size (10 ... 10000) and free
 * order (fifo: in allocation order; lifo: the last allocated first), one
 * measurement repeats the batch until about ROUND_BLOCKS blocks went through
 * and reports ns per block (one malloc + one free).  Each printed figure is
 * the median of REPS measurements; the cases are interleaved (every case
 * once, then every case again), so a burst of load on a shared machine
 * spreads over all of them instead of landing on one.
 *
 * Usage: nk_batch [reps] [sizes...]   (defaults: 5; 16 64 256)
 *        nk_batch -1 SIZE BATCH fifo|lifo ROUNDS: one case, ROUNDS batches
 *        after one warm batch, no timing (for valgrind --tool=callgrind:
 *        instructions per block are exact where times are noisy)
 * It links numakeg_noexport and calls nk_malloc/nk_free by name.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "numakeg.h"

/* Blocks per measurement: long enough (a few ms) to swamp the clock reads,
 * short enough that REPS x every case runs in seconds. */
#define ROUND_BLOCKS 2000000L
#define MAX_REPS     31

static const int batches[] = { 10, 100, 300, 1000, 3000, 10000 };
#define NBATCH ((int)(sizeof(batches) / sizeof(batches[0])))
#define MAX_BATCH 10000
#define MAX_SIZES 8

static void *ptrs[MAX_BATCH];

/* Keeps the compiler from dropping an allocation it can see unused. */
static inline void escape(void *p)
{
	__asm__ volatile("" : : "g"(p) : "memory");
}

/* One batch: n blocks allocated (first byte written), then all freed. */
static void one_batch(size_t size, int n, int lifo)
{
	for (int i = 0; i < n; i++) {
		char *p = nk_malloc(size);
		if (p == NULL) {
			fprintf(stderr, "nk_batch: nk_malloc(%zu) failed\n", size);
			exit(1);
		}
		p[0] = (char)i;
		ptrs[i] = p;
	}
	escape(ptrs);
	if (lifo)
		for (int i = n - 1; i >= 0; i--)
			nk_free(ptrs[i]);
	else
		for (int i = 0; i < n; i++)
			nk_free(ptrs[i]);
}

/* ns per block of one measurement. */
static double measure(size_t size, int n, int lifo)
{
	long rounds = ROUND_BLOCKS / n;
	one_batch(size, n, lifo);  /* warm: the caches hold this working set */
	double t0 = bench_thread_ns();
	for (long r = 0; r < rounds; r++)
		one_batch(size, n, lifo);
	return (bench_thread_ns() - t0) / (double)(rounds * n);
}

int main(int argc, char **argv)
{
	if (argc == 6 && strcmp(argv[1], "-1") == 0) {
		size_t size = (size_t)strtoul(argv[2], NULL, 0);
		int n = atoi(argv[3]), lifo = strcmp(argv[4], "lifo") == 0;
		long rounds = atol(argv[5]);
		if (n < 1 || n > MAX_BATCH || rounds < 0) {
			fprintf(stderr, "nk_batch -1: BATCH 1..%d, ROUNDS >= 0\n", MAX_BATCH);
			return 2;
		}
		for (long r = 0; r <= rounds; r++)
			one_batch(size, n, lifo);
		return 0;
	}
	int reps = argc > 1 ? atoi(argv[1]) : 5;
	if (reps < 1 || reps > MAX_REPS) {
		fprintf(stderr, "usage: nk_batch [reps 1..%d] [sizes...]\n", MAX_REPS);
		return 2;
	}
	size_t sizes[MAX_SIZES] = { 16, 64, 256 };
	int nsizes = 3;
	if (argc > 2) {
		nsizes = 0;
		for (int i = 2; i < argc && nsizes < MAX_SIZES; i++)
			sizes[nsizes++] = (size_t)strtoul(argv[i], NULL, 0);
	}
	static double t[MAX_SIZES][2][NBATCH][MAX_REPS];
	for (int r = 0; r < reps; r++)
		for (int s = 0; s < nsizes; s++)
			for (int o = 0; o < 2; o++)
				for (int b = 0; b < NBATCH; b++)
					t[s][o][b][r] = measure(sizes[s], batches[b], o);

	printf("ns per block (malloc + free), median of %d\n%-5s %-5s", reps, "size", "order");
	for (int b = 0; b < NBATCH; b++)
		printf(" %7d", batches[b]);
	printf("\n");
	for (int s = 0; s < nsizes; s++)
		for (int o = 0; o < 2; o++) {
			printf("%-5zu %-5s", sizes[s], o ? "lifo" : "fifo");
			for (int b = 0; b < NBATCH; b++) {
				qsort(t[s][o][b], (size_t)reps, sizeof(double), bench_cmp_double);
				printf(" %7.2f", t[s][o][b][reps / 2]);
			}
			printf("\n");
		}
	return 0;
}
