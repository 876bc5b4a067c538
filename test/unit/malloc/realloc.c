/*
 * realloc: NULL is malloc; growth and shrinking keep the contents through
 * small -> large -> huge -> small; realloc(p, 0) as glibc does it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <malloc.h>

#include "nk_test.h"
#include "numakeg.h"

static void chain(int use_nk, uint64_t seed)
{
	/* Up through every kind of block, then back down. */
	static const size_t steps[] = { 1, 7, 16, 24, 100, 128, 1000, 4096, 4097,
		5000, 12000, 40000, 65536, 300000, 1048576, 3000000, 4194304,
		9000000, 16777216, 20000001, 4194304, 2000000, 300000, 70000, 5000,
		4096, 1000, 100, 64, 17, 3, 1, 2048, 33, 5000000, 8 };
	size_t cur = 0;
	unsigned char *p = NULL;
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		size_t n = steps[i];
		unsigned char *q = use_nk ? nk_realloc(p, n) : realloc(p, n);
		CHECK(q != NULL, "%srealloc(%p [%zu bytes], %zu) returned NULL",
		    use_nk ? "nk_" : "", (void *)p, cur, n);
		if (!q) {
			free(p);
			return;
		}
		size_t keep = cur < n ? cur : n;
		size_t bad = nkt_verify(q, keep, seed);
		CHECK(bad == (size_t)-1, "%srealloc %zu -> %zu: byte %zu of the "
		    "%zu kept changed", use_nk ? "nk_" : "", cur, n, bad, keep);
		CHECK(malloc_usable_size(q) >= n, "realloc to %zu: usable size %zu",
		    n, malloc_usable_size(q));
		CHECK(nk_domain_of(q) >= 0, "realloc to %zu: %p is not numakeg's",
		    n, (void *)q);
		nkt_fill(q, n, seed);
		p = q;
		cur = n;
	}
	use_nk ? nk_free(p) : free(p);
}

/* Small growth steps by one byte, and shrinking by one, across classes. */
static void byte_steps(void)
{
	unsigned char *p = NULL;
	for (size_t n = 1; n <= 9000; n++) {
		unsigned char *q = realloc(p, n);
		CHECK(q != NULL, "realloc(.., %zu) returned NULL", n);
		if (!q) {
			free(p);
			return;
		}
		if (n > 1 && q[n - 2] != (unsigned char)(n - 2))
			CHECK(0, "realloc growing to %zu lost byte %zu", n, n - 2);
		q[n - 1] = (unsigned char)(n - 1);
		p = q;
	}
	for (size_t i = 0; i < 9000; i++)
		if (p[i] != (unsigned char)i) {
			CHECK(0, "after growing by bytes, byte %zu is %u", i, p[i]);
			break;
		}
	for (size_t n = 9000; n > 0; n = n > 7 ? n - 7 : 0) {
		unsigned char *q = nk_realloc(p, n);
		CHECK(q != NULL, "nk_realloc shrinking to %zu returned NULL", n);
		if (!q)
			break;
		p = q;
		if (p[n - 1] != (unsigned char)(n - 1) || p[0] != 0) {
			CHECK(0, "nk_realloc shrinking to %zu lost the contents", n);
			break;
		}
	}
	free(p);
}

/* Realloc to the same size, and within the usable size, keeps everything. */
static void same_size(void)
{
	for (size_t n = 1; n <= (1u << 22); n = n * 3 + 1) {
		unsigned char *p = malloc(n);
		CHECK(p != NULL, "malloc(%zu)", n);
		if (!p)
			continue;
		size_t us = malloc_usable_size(p);
		nkt_fill(p, us, n);
		unsigned char *q = realloc(p, n);
		CHECK(q != NULL, "realloc(p, same %zu) returned NULL", n);
		if (!q) {
			free(p);
			continue;
		}
		CHECK(nkt_verify(q, n, n) == (size_t)-1, "realloc(p, same %zu) changed it", n);
		unsigned char *r = realloc(q, us);
		CHECK(r != NULL, "realloc(p, usable %zu) returned NULL", us);
		if (!r) {
			free(q);
			continue;
		}
		CHECK(nkt_verify(r, n, n) == (size_t)-1, "realloc(p, usable %zu) changed it", us);
		free(r);
	}
}

static void zero_and_null(void)
{
	/* realloc(NULL, n) is malloc(n). */
	unsigned char *p = realloc(NULL, 100);
	CHECK(p != NULL && malloc_usable_size(p) >= 100, "realloc(NULL, 100) = %p",
	    (void *)p);
	CHECK(p == NULL || nk_domain_of(p) >= 0, "realloc(NULL, 100) not numakeg's");
	free(p);
	p = nk_realloc(NULL, 5000);
	CHECK(p != NULL && malloc_usable_size(p) >= 5000, "nk_realloc(NULL, 5000) = %p",
	    (void *)p);
	free(p);
	/* realloc(NULL, 0) is malloc(0): a unique pointer in glibc. */
	p = realloc(NULL, 0);
	CHECK(p != NULL, "realloc(NULL, 0) returned NULL (glibc returns malloc(0))");
	free(p);

	/*
	 * realloc(p, 0) with p != NULL: glibc frees p and returns NULL (C17
	 * leaves it implementation-defined, C23 undefined).  numakeg must match
	 * glibc, since programs preloaded with it were written against glibc:
	 * the result is NULL and p is freed (so the loop below, which would
	 * leak 1 GiB otherwise, stays small; and nothing is freed twice).
	 */
	for (int i = 0; i < 2048; i++) {
		size_t n = (i % 4 == 0) ? (512u << 10) : (size_t)(i % 300) + 1;
		void *a = (i & 1) ? malloc(n) : nk_malloc(n);
		CHECK(a != NULL, "malloc(%zu)", n);
		memset(a, 0x33, n);
		void *r = (i & 2) ? realloc(a, 0) : nk_realloc(a, 0);
		CHECK(r == NULL, "%srealloc(%p [%zu bytes], 0) = %p, want NULL (p freed, "
		    "as glibc)", (i & 2) ? "" : "nk_", a, n, r);
		if (r != NULL) {
			free(r);
			break;
		}
	}
}

int main(void)
{
	for (uint64_t s = 1; s <= 4; s++)
		chain((int)(s & 1), s);
	byte_steps();
	same_size();
	zero_and_null();
	return nkt_done("malloc_realloc");
}
