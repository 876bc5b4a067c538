/*
 * calloc zeroes (also memory freed dirty just before); calloc, malloc,
 * realloc and reallocarray report an impossible size with NULL and ENOMEM,
 * and a failed realloc/reallocarray leaves the old block as it was.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <malloc.h>
#include <stdint.h>

#include "nk_test.h"
#include "numakeg.h"

static const size_t sizes[] = { 0, 1, 7, 8, 15, 16, 17, 24, 31, 32, 48, 63,
	64, 65, 96, 100, 127, 128, 129, 200, 255, 256, 257, 384, 500, 512, 513,
	768, 1000, 1024, 1025, 1536, 2000, 2048, 2049, 3000, 4095, 4096, 4097,
	6000, 8192, 10000, 16384, 20000, 32768, 40000, 65536, 65537, 100000,
	131072, 200000, 262144, 500000, 1048576, 1048577, 2097152, 3000000,
	4194304 };
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

static void calloc_zeroes(void)
{
	for (int round = 0; round < 3; round++) {
		for (size_t i = 0; i < NSIZES; i++) {
			size_t n = sizes[i];
			/* Dirty blocks of this size, freed just before the calloc. */
			void *dirty[8];
			for (int k = 0; k < 8; k++) {
				dirty[k] = malloc(n);
				if (dirty[k])
					memset(dirty[k], 0xA5, malloc_usable_size(dirty[k]));
			}
			for (int k = 0; k < 8; k++)
				(k & 1) ? free(dirty[k]) : nk_free(dirty[k]);
			for (int k = 0; k < 8; k++) {
				/* calloc(n,1), calloc(1,n), nk_calloc: alternate shapes. */
				unsigned char *p;
				switch (k % 3) {
				case 0: p = calloc(n, 1); break;
				case 1: p = calloc(1, n); break;
				default: p = nk_calloc(1, n); break;
				}
				CHECK(p != NULL, "calloc(%zu) returned NULL", n);
				if (!p) {
					dirty[k] = NULL;
					continue;
				}
				CHECK(nkt_is_zero(p, n), "calloc(%zu) = %p (round %d, #%d) "
				    "is not zeroed", n, (void *)p, round, k);
				dirty[k] = p;
				/* Dirty it again for the next calloc of this size. */
				memset(p, 0x5A, n);
			}
			for (int k = 0; k < 8; k++)
				free(dirty[k]);
		}
	}
	/* nmemb * size shapes that are not a single size. */
	for (size_t m = 1; m <= 4096; m *= 3) {
		for (size_t s = 1; s <= 1024; s = s * 2 + 1) {
			unsigned char *d = malloc(m * s);
			if (d)
				memset(d, 0xFF, m * s);
			free(d);
			unsigned char *p = calloc(m, s);
			CHECK(p != NULL, "calloc(%zu, %zu) returned NULL", m, s);
			if (p)
				CHECK(nkt_is_zero(p, m * s), "calloc(%zu, %zu) not zeroed", m, s);
			free(p);
		}
	}
}

static void too_big(void)
{
	size_t half = SIZE_MAX / 2 + 1;
	void *p;

	errno = 0;
	p = calloc(nkt_hide_size(half), nkt_hide_size(3));
	CHECK(p == NULL && errno == ENOMEM, "calloc(SIZE_MAX/2+1, 3) = %p, errno %d",
	    p, errno);
	errno = 0;
	p = nk_calloc(nkt_hide_size(half), nkt_hide_size(3));
	CHECK(p == NULL && errno == ENOMEM, "nk_calloc(SIZE_MAX/2+1, 3) = %p, errno %d",
	    p, errno);
	errno = 0;
	p = calloc(nkt_hide_size(3), nkt_hide_size(half));
	CHECK(p == NULL && errno == ENOMEM, "calloc(3, SIZE_MAX/2+1) = %p, errno %d",
	    p, errno);
	errno = 0;
	p = calloc(nkt_hide_size((size_t)1 << 32), nkt_hide_size((size_t)1 << 32));
	CHECK(p == NULL && errno == ENOMEM, "calloc(2^32, 2^32) = %p, errno %d", p, errno);

	errno = 0;
	p = malloc(nkt_hide_size(SIZE_MAX));
	CHECK(p == NULL && errno == ENOMEM, "malloc(SIZE_MAX) = %p, errno %d", p, errno);
	errno = 0;
	p = nk_malloc(nkt_hide_size(SIZE_MAX));
	CHECK(p == NULL && errno == ENOMEM, "nk_malloc(SIZE_MAX) = %p, errno %d", p, errno);
	errno = 0;
	p = malloc(nkt_hide_size((size_t)PTRDIFF_MAX + 1));
	CHECK(p == NULL && errno == ENOMEM, "malloc(PTRDIFF_MAX+1) = %p, errno %d",
	    p, errno);
	errno = 0;
	p = nk_malloc(nkt_hide_size((size_t)PTRDIFF_MAX + 1));
	CHECK(p == NULL && errno == ENOMEM, "nk_malloc(PTRDIFF_MAX+1) = %p, errno %d",
	    p, errno);
	errno = 0;
	p = malloc(nkt_hide_size(SIZE_MAX - 4095));
	CHECK(p == NULL && errno == ENOMEM, "malloc(SIZE_MAX-4095) = %p, errno %d",
	    p, errno);

	/* A failed realloc / reallocarray keeps the old block. */
	for (size_t n = 16; n <= ((size_t)1 << 20); n *= 8) {
		unsigned char *old = malloc(n);
		CHECK(old != NULL, "malloc(%zu) returned NULL", n);
		if (!old)
			continue;
		nkt_fill(old, n, n + 5);

		errno = 0;
		void *q = reallocarray(nkt_launder(old), nkt_hide_size(half), nkt_hide_size(3));
		CHECK(q == NULL && errno == ENOMEM, "reallocarray(%zu-byte block, "
		    "SIZE_MAX/2+1, 3) = %p, errno %d", n, q, errno);
		errno = 0;
		q = nk_reallocarray(nkt_launder(old), nkt_hide_size(3), nkt_hide_size(half));
		CHECK(q == NULL && errno == ENOMEM, "nk_reallocarray(%zu-byte block, "
		    "3, SIZE_MAX/2+1) = %p, errno %d", n, q, errno);
		errno = 0;
		q = realloc(nkt_launder(old), nkt_hide_size(SIZE_MAX));
		CHECK(q == NULL && errno == ENOMEM, "realloc(%zu-byte block, SIZE_MAX) "
		    "= %p, errno %d", n, q, errno);
		errno = 0;
		q = nk_realloc(nkt_launder(old), nkt_hide_size((size_t)PTRDIFF_MAX + 1));
		CHECK(q == NULL && errno == ENOMEM, "nk_realloc(%zu-byte block, "
		    "PTRDIFF_MAX+1) = %p, errno %d", n, q, errno);

		CHECK(nk_domain_of(old) >= 0, "old block %p no longer numakeg's", (void *)old);
		size_t bad = nkt_verify(old, n, n + 5);
		CHECK(bad == (size_t)-1, "after failed reallocs the %zu-byte block "
		    "changed at byte %zu", n, bad);
		/* And it is still a live block: it can grow and be freed. */
		unsigned char *g = reallocarray(old, n, 2);
		CHECK(g != NULL, "reallocarray(%zu, 2) after the failures returned NULL", n);
		if (g) {
			bad = nkt_verify(g, n, n + 5);
			CHECK(bad == (size_t)-1, "reallocarray(%zu-byte block, %zu, 2) "
			    "lost byte %zu", n, n, bad);
			free(g);
		} else {
			free(old);
		}
	}

	/* reallocarray(NULL, ...) is a malloc; good sizes work. */
	unsigned char *r = reallocarray(NULL, 10, 10);
	CHECK(r != NULL && malloc_usable_size(r) >= 100,
	    "reallocarray(NULL, 10, 10) = %p", (void *)r);
	free(r);
}

int main(void)
{
	calloc_zeroes();
	too_big();
	return nkt_done("malloc_calloc");
}
