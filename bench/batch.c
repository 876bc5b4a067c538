/*
 * batch: allocate a batch of small blocks, then free it, for
 * bench/small_blocks.sh (issue 10, "batches: allocating or freeing a
 * thousand blocks in a row must not fall off a cliff at the bucket size").
 *
 * Deliberately NOT linked with numakeg: it runs under any malloc, chosen by
 * LD_PRELOAD.
 *
 * Workload: one thread; a round mallocs BATCH blocks of 16-64 B (sizes from
 * a fixed-seed table of 4096, uniform in bytes), writes the first and the
 * last byte of each, then frees them all, FIFO (first allocated, first
 * freed) or LIFO (last allocated, first freed), reading each block's first
 * byte before it is freed.  A pass is BLOCKS blocks in rounds of BATCH; the
 * passes alternate FIFO and LIFO, PASSES of each, after one untimed pass of
 * each (page faults and the caches' first fill).  A malloc whose per-thread
 * cache holds fewer than BATCH blocks goes to its shared layers once per
 * cache-full of blocks in both directions: the time per block then rises
 * with BATCH, the cliff that the runner's table shows across 10, 100, 1000
 * and 10000.
 *
 * Output ("name value" lines, for the runner's score functions; a '#' line
 * first), nanoseconds of the thread's CPU time per block (one malloc and
 * one free), median pass:
 *   fifo_ns_per_block, lifo_ns_per_block, and ns_per_block, their mean
 * Exit status 1 on a failed allocation or a wrong byte (said on stderr), 2
 * on bad arguments.
 *
 *   batch BATCH [BLOCKS [PASSES]]      (defaults: BLOCKS 1000000, PASSES 5)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench_util.h"

#define MIN_SIZE 16u
#define MAX_SIZE 64u
#define SIZES 4096u
#define MAX_PASSES 1000u

static unsigned char sizes[SIZES];
static unsigned char **blocks;
static unsigned long bad_bytes;

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng_next(void)
{
	return bench_rng(&rng_state);
}

/* One round: batch blocks allocated, then freed in the order asked. */
static void round_trip(unsigned long batch, unsigned long *size_pos, int lifo)
{
	unsigned long i;

	for (i = 0; i < batch; i++) {
		unsigned size = sizes[(*size_pos)++ % SIZES];
		unsigned char *p = malloc(size);

		if (!p) {
			fprintf(stderr, "batch: malloc(%u) failed\n", size);
			exit(1);
		}
		p[0] = (unsigned char)i;
		p[size - 1] = (unsigned char)size;
		blocks[i] = p;
	}
	for (i = 0; i < batch; i++) {
		unsigned long k = lifo ? batch - 1 - i : i;

		if (blocks[k][0] != (unsigned char)k)
			bad_bytes++;
		free(blocks[k]);
	}
}

/* One pass: at least `total` blocks; the time per block in ns. */
static double pass(unsigned long batch, unsigned long total, int lifo)
{
	unsigned long rounds = (total + batch - 1) / batch, r, size_pos = 0;
	double t0 = bench_thread_ns();

	for (r = 0; r < rounds; r++)
		round_trip(batch, &size_pos, lifo);
	return (bench_thread_ns() - t0) / (double)(rounds * batch);
}

int main(int argc, char **argv)
{
	unsigned long batch, total = 1000000, passes = 5, i;
	static double fifo[MAX_PASSES], lifo[MAX_PASSES];
	double f, l;

	if (argc < 2 || argc > 4 || bench_parse_count(argv[1], 1ul << 24, &batch) != 0 ||
	    (argc > 2 && bench_parse_count(argv[2], 1ul << 40, &total) != 0) ||
	    (argc > 3 && bench_parse_count(argv[3], MAX_PASSES, &passes) != 0)) {
		fprintf(stderr, "usage: batch BATCH [BLOCKS [PASSES]]  (1-%lu; default 1000000; 1-%u, default 5)\n",
		        1ul << 24, MAX_PASSES);
		return 2;
	}
	for (i = 0; i < SIZES; i++)
		sizes[i] = (unsigned char)(MIN_SIZE + rng_next() % (MAX_SIZE - MIN_SIZE + 1));
	blocks = malloc(batch * sizeof(*blocks));
	if (!blocks) {
		fprintf(stderr, "batch: no room for %lu pointers\n", batch);
		return 1;
	}
	pass(batch, total, 0);
	pass(batch, total, 1);
	for (i = 0; i < passes; i++) {
		fifo[i] = pass(batch, total, 0);
		lifo[i] = pass(batch, total, 1);
	}
	free(blocks);
	if (bad_bytes) {
		fprintf(stderr, "batch: %lu blocks with a wrong first byte\n", bad_bytes);
		return 1;
	}
	f = bench_median(fifo, (unsigned)passes);
	l = bench_median(lifo, (unsigned)passes);
	printf("# batch: %lu blocks of %u-%u B per round, %lu per pass, %lu passes each way\n", batch, MIN_SIZE,
	       MAX_SIZE, total, passes);
	printf("fifo_ns_per_block %.3f\n", f);
	printf("lifo_ns_per_block %.3f\n", l);
	printf("ns_per_block %.3f\n", (f + l) / 2);
	return 0;
}
