/*
 * mixed_sizes: one thread, mixed sizes with realloc growth, for
 * bench/alloc_compare.sh.
 *
 * Deliberately NOT linked with numakeg: it runs under any malloc, chosen by
 * LD_PRELOAD.
 *
 * Workload (issue 8, "mixed sizes 8 B-64 KiB with realloc growth to 1 MiB,
 * one thread"): a fixed-seed PRNG drives OPS operations on three pools of
 * live objects, as a program that keeps many small records, some medium
 * buffers and a few growing ones:
 *   small   40000 slots, 8-512 B, skewed to the small end (most under 64 B);
 *           85 % of the operations replace one (free the old, malloc a new)
 *   medium  800 slots, 512 B-64 KiB, log-uniform; 13 % of the operations
 *   growing 16 buffers that grow by realloc in steps of 1/4 of their size
 *           (at least 256 B) up to a random limit between 64 KiB and 1 MiB,
 *           then are freed and start again at 8-64 B; 2 % of the operations
 * Every new object is filled completely with memset (a program writes what
 * it allocates), and its contents are checked before it is freed or, for a
 * growing buffer, after every realloc (first, last and every 4096th byte of
 * the old contents).  One small or medium allocation in 16 is a calloc and
 * is checked to be zero.
 *
 * Output: one line with a checksum over the sizes and contents read back;
 * the same under every correct malloc.  Exit status 1 on a failed
 * allocation or a wrong byte (said on stderr).
 *
 *   mixed_sizes [OPS]      (default 3000000)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

#define NSMALL 40000
#define NMEDIUM 800
#define NGROW 16

struct obj {
	unsigned char *p;
	size_t size;
	unsigned char tag;
};

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

/* splitmix64: the same sequence under every allocator. */
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

static void bad_byte(const struct obj *o, size_t off, unsigned got, unsigned want, const char *when)
{
	if (errors++ < 10)
		fprintf(stderr, "mixed_sizes: %s: object %p size %zu offset %zu: byte %u, expected %u\n",
		        when, (void *)o->p, o->size, off, got, want);
}

/* An object holds its tag (never 0) in every byte: memset is what a
 * program that fills its buffers costs, and a byte from another object or
 * from a lost realloc shows as a wrong tag (tags are not unique, but
 * neighbours' rarely match). */
static void fill(struct obj *o, size_t from, size_t to)
{
	memset(o->p + from, o->tag, to - from);
}

/* Checks the bytes at every 4096th offset and the last one, and sums them. */
static void check_one(const struct obj *o, size_t i, const char *when)
{
	if (o->p[i] != o->tag)
		bad_byte(o, i, o->p[i], o->tag, when);
	mix(o->p[i]);
}

static void check_sample(const struct obj *o, size_t size, const char *when)
{
	size_t i;

	for (i = 0; i < size; i += 4096)
		check_one(o, i, when);
	if (size > 0)
		check_one(o, size - 1, when);
}

/* Checks every byte (small objects: cheap, and where overlaps show first). */
static void check_all(const struct obj *o, const char *when)
{
	size_t i;
	unsigned sum = 0;

	for (i = 0; i < o->size; i++)
		sum += o->p[i];
	if (sum != o->size * (unsigned)o->tag)
		for (i = 0; i < o->size; i++)
			if (o->p[i] != o->tag)
				bad_byte(o, i, o->p[i], o->tag, when);
	mix(sum);
}

static int new_obj(struct obj *o, size_t size, unsigned char tag)
{
	int zeroed = rng_next() % 16 == 0;
	size_t i;

	o->size = size;
	o->tag = tag;
	o->p = zeroed ? calloc(1, size) : malloc(size);
	if (!o->p) {
		fprintf(stderr, "mixed_sizes: %s(%zu) failed\n", zeroed ? "calloc" : "malloc", size);
		return -1;
	}
	if (zeroed)
		for (i = 0; i < size; i += (i + 64 < size) ? 64 : 1)
			if (o->p[i] != 0)
				bad_byte(o, i, o->p[i], 0, "calloc'ed object not zero");
	fill(o, 0, size);
	mix(size);
	return 0;
}

/* 8-512 B, skewed to the small end: the octave [2^k, 2^(k+1)) is drawn
 * from this table, 10 of 16 draws under 64 B. */
static const unsigned char small_octaves[16] = { 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 6, 6, 7, 7, 8, 8 };

static size_t small_size(void)
{
	uint64_t r = rng_next();
	size_t lo = (size_t)1 << small_octaves[r % 16];

	return lo + (size_t)((r >> 8) % lo);    /* [lo, 2 lo) */
}

/* 512 B-64 KiB, log-uniform. */
static size_t medium_size(void)
{
	uint64_t r = rng_next();
	unsigned shift = 9 + (unsigned)(r % 7);  /* 512 B .. 32 KiB octaves */
	size_t lo = (size_t)1 << shift;

	return lo + (size_t)((r >> 8) % lo);
}

struct grow {
	struct obj o;
	size_t limit;
};

static int grow_start(struct grow *g, unsigned char tag)
{
	g->limit = 64 * 1024 + (size_t)(rng_next() % (1024 * 1024 - 64 * 1024 + 1));
	return new_obj(&g->o, 8 + (size_t)(rng_next() % 57), tag);
}

static int grow_step(struct grow *g, unsigned char tag)
{
	size_t old = g->o.size, step = old / 4 < 256 ? 256 : old / 4, size = old + step;
	unsigned char *p;

	if (old >= g->limit) {
		check_sample(&g->o, old, "grown buffer changed while live");
		free(g->o.p);
		return grow_start(g, tag);
	}
	if (size > g->limit)
		size = g->limit;
	p = realloc(g->o.p, size);
	if (!p) {
		fprintf(stderr, "mixed_sizes: realloc(%zu) failed\n", size);
		return -1;
	}
	g->o.p = p;
	check_sample(&g->o, old, "realloc lost contents");
	g->o.size = size;
	fill(&g->o, old, size);
	mix(size);
	return 0;
}

int main(int argc, char **argv)
{
	long ops = argc > 1 ? atol(argv[1]) : 3000000;
	struct obj *small, *medium;
	struct grow grow[NGROW];
	long i;

	if (ops <= 0) {
		fprintf(stderr, "usage: mixed_sizes [OPS]  (a positive number)\n");
		return 2;
	}
	small = calloc(NSMALL, sizeof *small);
	medium = calloc(NMEDIUM, sizeof *medium);
	if (!small || !medium) {
		perror("mixed_sizes: calloc");
		return 1;
	}
	for (i = 0; i < NGROW; i++)
		if (grow_start(&grow[i], (unsigned char)(i * 2 + 1)) < 0)
			return 1;
	for (i = 0; i < ops; i++) {
		uint64_t r = rng_next() % 100;
		unsigned char tag = (unsigned char)(i * 31) | 1;
		struct obj *o;

		if (r < 85) {
			o = &small[rng_next() % NSMALL];
			if (o->p) {
				check_all(o, "small object changed while live");
				free(o->p);
			}
			if (new_obj(o, small_size(), tag) < 0)
				return 1;
		} else if (r < 98) {
			o = &medium[rng_next() % NMEDIUM];
			if (o->p) {
				check_sample(o, o->size, "medium object changed while live");
				free(o->p);
			}
			if (new_obj(o, medium_size(), tag) < 0)
				return 1;
		} else if (grow_step(&grow[rng_next() % NGROW], tag) < 0) {
			return 1;
		}
	}
	for (i = 0; i < NSMALL; i++)
		if (small[i].p) {
			check_all(&small[i], "small object changed while live");
			free(small[i].p);
		}
	for (i = 0; i < NMEDIUM; i++)
		if (medium[i].p) {
			check_sample(&medium[i], medium[i].size, "medium object changed while live");
			free(medium[i].p);
		}
	for (i = 0; i < NGROW; i++) {
		check_sample(&grow[i].o, grow[i].o.size, "grown buffer changed while live");
		free(grow[i].o.p);
	}
	free(small);
	free(medium);
	printf("mixed_sizes: %ld operations, checksum %016llx\n", ops, (unsigned long long)checksum);
	if (errors) {
		fprintf(stderr, "mixed_sizes: %ld wrong bytes\n", errors);
		return 1;
	}
	return 0;
}
