/*
 * large_churn: large-block churn for bench/alloc_compare.sh.
 *
 * Deliberately NOT linked with numakeg: it runs under any malloc, chosen by
 * LD_PRELOAD, so that glibc, jemalloc, mimalloc, tcmalloc and numakeg run
 * the same binary.
 *
 * Workload (issue 8, "large-block churn"): SLOTS live blocks (default 20);
 * each iteration picks a slot at random, frees its block and allocates a
 * new one of a random size between 64 KiB and 4 MiB (uniform in bytes, not
 * page-aligned, so that the allocators' large size classes are exercised).
 * Blocks are touched sparsely, as a program that keeps big buffers but
 * fills only part of them: the first and the last cache line and one byte
 * in every 16th page.  That is what makes a fresh mapping or a purged run
 * cost page faults while a reused dirty one does not.
 *
 * One allocation in 32 is a calloc: the touched bytes must read zero, which
 * checks that a recycled run (dirty, purged or coalesced) is zeroed.  Every
 * block's touched bytes are checked again before it is freed.
 *
 * Output: one line with the iteration count and a checksum over the sizes
 * and the contents read back; it is the same under every correct malloc.
 * Exit status 1 on a failed allocation or a wrong byte (said on stderr).
 *
 *   large_churn [ITERATIONS [SLOTS]]      (defaults 40000, 20)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

#define MIN_SIZE (64u * 1024)
#define MAX_SIZE (4u * 1024 * 1024)
#define PAGE 4096u
#define LINE 64u
#define PAGE_STRIDE (16u * PAGE)

struct block {
	unsigned char *p;
	size_t size;
	unsigned char tag;
};

/* splitmix64: a fixed seed gives every allocator the same sequence. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng_next(void)
{
	return bench_rng(&rng_state);
}

static uint64_t checksum = 1469598103934665603ull;

static void mix(uint64_t v)
{
	checksum = (checksum ^ v) * 1099511628211ull;
}

static long errors;

static void bad_byte(const struct block *b, size_t off, unsigned got, unsigned want,
                     const char *when)
{
	if (errors++ < 10)
		fprintf(stderr, "large_churn: %s: block %p size %zu offset %zu: byte %u, expected %u\n",
		        when, (void *)b->p, b->size, off, got, want);
}

/* The touched offsets of a block: the first and the last cache line, and
 * the first byte of every 16th page after the first.  fn is called with
 * each range [off, off + len). */
static void for_each_touched(const struct block *b,
                             void (*fn)(const struct block *, size_t, size_t))
{
	size_t off;

	fn(b, 0, LINE);
	for (off = PAGE_STRIDE; off + LINE < b->size - LINE; off += PAGE_STRIDE)
		fn(b, off, 1);
	fn(b, b->size - LINE, LINE);
}

static unsigned char pattern(const struct block *b, size_t off)
{
	return (unsigned char)(b->tag + off * 7u + (off >> 12));
}

static void check_zero(const struct block *b, size_t off, size_t len)
{
	size_t i;

	for (i = off; i < off + len; i++)
		if (b->p[i] != 0)
			bad_byte(b, i, b->p[i], 0, "calloc'ed block not zero");
}

static void write_range(const struct block *b, size_t off, size_t len)
{
	size_t i;

	for (i = off; i < off + len; i++)
		b->p[i] = pattern(b, i);
}

static void check_range(const struct block *b, size_t off, size_t len)
{
	size_t i;

	for (i = off; i < off + len; i++) {
		if (b->p[i] != pattern(b, i))
			bad_byte(b, i, b->p[i], pattern(b, i), "block changed while live");
		mix(b->p[i]);
	}
}

int main(int argc, char **argv)
{
	long iterations = argc > 1 ? atol(argv[1]) : 40000;
	long nslots = argc > 2 ? atol(argv[2]) : 20;
	struct block *slots;
	long i;

	if (iterations <= 0 || nslots <= 0) {
		fprintf(stderr, "usage: large_churn [ITERATIONS [SLOTS]]  (positive numbers)\n");
		return 2;
	}
	slots = calloc((size_t)nslots, sizeof *slots);
	if (!slots) {
		perror("large_churn: calloc");
		return 1;
	}
	for (i = 0; i < iterations; i++) {
		struct block *b = &slots[rng_next() % (uint64_t)nslots];
		uint64_t r = rng_next();
		size_t size = MIN_SIZE + (size_t)(r % (MAX_SIZE - MIN_SIZE + 1));
		int zeroed = (r >> 40) % 32 == 0;

		if (b->p) {
			for_each_touched(b, check_range);
			free(b->p);
		}
		b->size = size;
		b->tag = (unsigned char)i;
		b->p = zeroed ? calloc(1, size) : malloc(size);
		if (!b->p) {
			fprintf(stderr, "large_churn: %s(%zu) failed at iteration %ld\n",
			        zeroed ? "calloc" : "malloc", size, i);
			return 1;
		}
		if (zeroed)
			for_each_touched(b, check_zero);
		for_each_touched(b, write_range);
		mix(size);
	}
	for (i = 0; i < nslots; i++)
		if (slots[i].p) {
			for_each_touched(&slots[i], check_range);
			free(slots[i].p);
		}
	free(slots);
	printf("large_churn: %ld iterations, %ld slots, checksum %016llx\n", iterations, nslots,
	       (unsigned long long)checksum);
	if (errors) {
		fprintf(stderr, "large_churn: %ld wrong bytes\n", errors);
		return 1;
	}
	return 0;
}
