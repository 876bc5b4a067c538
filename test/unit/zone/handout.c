/*
 * The order in which a zone hands out fresh items (zone_handout_order,
 * lib/bucket.c), through whichever cache the run uses (per CPU, or per
 * thread with NUMAKEG_CACHE=thread): for items smaller than a cache line,
 * no two consecutive allocations share a line (16 and 32 bytes: no four in
 * a row do), so that blocks allocated in a row and given to other threads
 * are not falsely shared; and consecutive allocations stay close (within a
 * 256-byte window) or, for line-sized items, adjacent and ascending, so
 * that a structure built by them is walked in memory order.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "nk_test.h"
#include "numakeg.h"

#define NITEMS 96
#define LINE 64

static uintptr_t
first_line(const void *p)
{
	return (uintptr_t)p / LINE;
}

static uintptr_t
last_line(const void *p, size_t size)
{
	return ((uintptr_t)p + size - 1) / LINE;
}

static bool
share_line(const void *a, const void *b, size_t size)
{
	return first_line(a) <= last_line(b, size) && first_line(b) <= last_line(a, size);
}

/* NITEMS fresh items of a new zone of this size, in the order handed out. */
static void
take(size_t size, void **items, nk_zone_t *zp)
{
	char name[32];
	snprintf(name, sizeof(name), "handout-%zu", size);
	nk_zone_t z = nk_zcreate(name, size, NULL, NULL, NULL, NULL, 0, 0);
	REQUIRE(z != NULL, "nk_zcreate(%zu)", size);
	for (int i = 0; i < NITEMS; i++) {
		items[i] = nk_zalloc(z, NK_WAITOK);
		REQUIRE(items[i] != NULL, "nk_zalloc, size %zu, item %d", size, i);
	}
	*zp = z;
}

static void
give_back(nk_zone_t z, void **items)
{
	for (int i = 0; i < NITEMS; i++)
		nk_zfree(z, items[i]);
	nk_zdestroy(z);
}

/* Sizes below a line: runs of `run` consecutive items on as many lines, all close. */
static void
check_small(size_t size, int run)
{
	void *items[NITEMS];
	nk_zone_t z;
	take(size, items, &z);
	int shared = 0, far = 0;
	for (int i = 0; i + 1 < NITEMS; i++) {
		for (int j = i + 1; j < i + run && j < NITEMS; j++)
			if (share_line(items[i], items[j], size))
				shared++;
		uintptr_t a = (uintptr_t)items[i], b = (uintptr_t)items[i + 1];
		if ((a > b ? a - b : b - a) > 1024)
			far++;
	}
	CHECK(shared == 0, "size %zu: %d pairs among %d consecutive items share a cache line",
	    size, shared, run);
	/* A slab's end, or a window's, may jump; within windows items stay close. */
	CHECK(far <= NITEMS / 8, "size %zu: %d of %d consecutive pairs lie over 1 KiB apart",
	    size, far, NITEMS - 1);
	give_back(z, items);
}

/* Line-sized items: adjacent and ascending (slab ends aside). */
static void
check_line_sized(size_t size)
{
	void *items[NITEMS];
	nk_zone_t z;
	take(size, items, &z);
	int adjacent = 0;
	for (int i = 0; i + 1 < NITEMS; i++)
		if ((uintptr_t)items[i + 1] == (uintptr_t)items[i] + size)
			adjacent++;
	CHECK(adjacent >= NITEMS * 7 / 8, "size %zu: only %d of %d consecutive pairs adjacent and ascending",
	    size, adjacent, NITEMS - 1);
	give_back(z, items);
}

int
main(void)
{
	check_small(16, 4);
	check_small(32, 4);
	check_small(48, 2);
	check_small(8, 4);
	check_line_sized(64);
	check_line_sized(128);
	return nkt_done("zone_handout");
}
