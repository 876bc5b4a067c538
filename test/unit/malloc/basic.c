/*
 * malloc/free across sizes 0 .. 4 MiB, with the standard names (numakeg in
 * this binary) and the nk_ names mixed: contents, malloc_usable_size bounds,
 * writes up to the usable size, alignment, nk_domain_of, free(NULL).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <malloc.h>
#include <stdalign.h>
#include <stddef.h>
#include <sys/mman.h>

#include "nk_test.h"
#include "numakeg.h"

static char static_buf[256];

/* Largest power of two dividing n, at most 16: the alignment C17 requires
 * for an object of n bytes; glibc gives 16 to every size >= 16, and so must
 * a drop-in replacement (code relies on it), so that is checked too. */
static size_t want_align(size_t n)
{
	if (n >= 16)
		return 16;
	size_t a = 1;
	while (a < 16 && n % (a * 2) == 0)
		a *= 2;
	return a;
}

static void check_block(void *p, size_t n, const char *how, int small)
{
	CHECK(p != NULL, "%s(%zu) returned NULL", how, n);
	if (!p)
		return;
	size_t us = malloc_usable_size(p);
	CHECK(us == nk_malloc_usable_size(p),
	    "%s(%zu): malloc_usable_size %zu != nk_malloc_usable_size %zu",
	    how, n, us, nk_malloc_usable_size(p));
	CHECK(us >= n, "%s(%zu): usable size %zu < requested", how, n, us);
	if (small)
		CHECK((double)us <= 1.25 * (double)n + 16.0,
		    "%s(%zu): usable size %zu > 1.25*n+16 = %.2f", how, n, us,
		    1.25 * (double)n + 16.0);
	else
		CHECK(us <= 2 * n + (2u << 20),
		    "%s(%zu): usable size %zu is absurd", how, n, us);
	size_t a = want_align(n);
	CHECK(((uintptr_t)p & (a - 1)) == 0, "%s(%zu) = %p is not %zu-aligned",
	    how, n, p, a);
	int d = nk_domain_of(p);
	CHECK(d >= 0 && d < nk_ndomains(), "%s(%zu) = %p: nk_domain_of = %d "
	    "(ndomains %d)", how, n, p, d, nk_ndomains());
}

/* Sizes 0..4096, every one alive at once, each written to its usable size:
 * an overlap or a usable size that lies shows as a wrong byte. */
static void all_small_sizes_alive(void)
{
	enum { N = 4097 };
	static void *blk[N];
	static size_t use[N];
	for (size_t n = 0; n < N; n++) {
		blk[n] = (n & 1) ? nk_malloc(n) : malloc(n);
		check_block(blk[n], n, (n & 1) ? "nk_malloc" : "malloc", 1);
		if (!blk[n])
			continue;
		use[n] = malloc_usable_size(blk[n]);
		nkt_fill(blk[n], use[n], 1000 + n);
	}
	for (size_t n = 0; n < N; n++) {
		if (!blk[n])
			continue;
		size_t bad = nkt_verify(blk[n], use[n], 1000 + n);
		CHECK(bad == (size_t)-1, "malloc(%zu) = %p (usable %zu): byte %zu "
		    "changed while the other blocks were written", n, blk[n],
		    use[n], bad);
	}
	/* Free in a mixed order, with both names. */
	for (size_t n = 0; n < N; n += 2)
		nk_free(blk[n]);
	for (size_t n = 1; n < N; n += 2)
		free(blk[n]);
}

/* The same sizes, allocated and freed one by one, several per size. */
static void small_sizes_churn(void)
{
	for (size_t n = 0; n <= 4096; n++) {
		void *p[4];
		for (int k = 0; k < 4; k++) {
			p[k] = malloc(n);
			check_block(p[k], n, "malloc", 1);
			if (p[k])
				nkt_fill(p[k], n, n * 4 + (size_t)k);
		}
		for (int k = 0; k < 4; k++) {
			if (!p[k])
				continue;
			size_t bad = nkt_verify(p[k], n, n * 4 + (size_t)k);
			CHECK(bad == (size_t)-1, "malloc(%zu) #%d: byte %zu wrong",
			    n, k, bad);
			for (int j = 0; j < k; j++)
				CHECK(p[j] != p[k], "malloc(%zu) returned %p twice", n, p[k]);
		}
		for (int k = 3; k >= 0; k--)
			(k & 1) ? nk_free(p[k]) : free(p[k]);
	}
}

static void large_sizes(void)
{
	size_t sizes[128];
	int ns = 0;
	for (int k = 12; k <= 22; k++) {
		sizes[ns++] = ((size_t)1 << k) - 1;
		sizes[ns++] = (size_t)1 << k;
		sizes[ns++] = ((size_t)1 << k) + 1;
		sizes[ns++] = ((size_t)1 << k) + ((size_t)1 << (k - 1)) + 7;
	}
	static const size_t odd[] = { 4097, 5000, 8191, 12345, 16385, 30001,
	    65537, 100003, 131071, 262147, 524289, 1000001, 1048575, 1572865,
	    2097151, 2097153, 3000017, 3999999, 4194303, 4194304 };
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++)
		sizes[ns++] = odd[i];

	/* One at a time, filled to the usable size. */
	for (int i = 0; i < ns; i++) {
		size_t n = sizes[i];
		void *p = (i & 1) ? nk_malloc(n) : malloc(n);
		check_block(p, n, (i & 1) ? "nk_malloc" : "malloc", 0);
		if (!p)
			continue;
		size_t us = malloc_usable_size(p);
		nkt_fill(p, us, n);
		size_t bad = nkt_verify(p, us, n);
		CHECK(bad == (size_t)-1, "malloc(%zu): byte %zu of %zu wrong", n, bad, us);
		(i & 2) ? free(p) : nk_free(p);
	}
	/* All alive at once (about 40 MiB), then checked. */
	static void *blk[128];
	static size_t use[128];
	for (int i = 0; i < ns; i++) {
		blk[i] = malloc(sizes[i]);
		check_block(blk[i], sizes[i], "malloc", 0);
		if (!blk[i])
			continue;
		use[i] = malloc_usable_size(blk[i]);
		nkt_fill(blk[i], use[i], 77 + (uint64_t)i);
	}
	for (int i = 0; i < ns; i++) {
		if (!blk[i])
			continue;
		size_t bad = nkt_verify(blk[i], use[i], 77 + (uint64_t)i);
		CHECK(bad == (size_t)-1, "malloc(%zu) = %p alive with others: "
		    "byte %zu of %zu wrong", sizes[i], blk[i], bad, use[i]);
	}
	for (int i = ns - 1; i >= 0; i--)
		free(blk[i]);
}

static void not_numakeg_memory(void)
{
	int on_stack = 0;
	CHECK(nk_domain_of(nkt_launder(&on_stack)) == -1,
	    "nk_domain_of(stack %p) = %d, want -1", (void *)&on_stack,
	    nk_domain_of(nkt_launder(&on_stack)));
	CHECK(nk_domain_of(nkt_launder(static_buf)) == -1,
	    "nk_domain_of(static %p) = %d, want -1", (void *)static_buf,
	    nk_domain_of(nkt_launder(static_buf)));
	CHECK(nk_domain_of((void *)not_numakeg_memory) == -1,
	    "nk_domain_of(text) = %d, want -1", nk_domain_of((void *)not_numakeg_memory));
	CHECK(nk_domain_of(NULL) == -1, "nk_domain_of(NULL) = %d, want -1",
	    nk_domain_of(NULL));
	void *m = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m != MAP_FAILED) {
		CHECK(nk_domain_of(m) == -1, "nk_domain_of(own mmap %p) = %d, want -1",
		    m, nk_domain_of(m));
		munmap(m, 1 << 16);
	}
}

int main(void)
{
	CHECK(nk_ndomains() >= 1, "nk_ndomains() = %d", nk_ndomains());
	int cd = nk_current_domain();
	CHECK(cd >= 0 && cd < nk_ndomains(), "nk_current_domain() = %d", cd);

	/* free(NULL) and friends are no-ops. */
	free(NULL);
	nk_free(NULL);
	CHECK(malloc_usable_size(NULL) == 0, "malloc_usable_size(NULL) = %zu",
	    malloc_usable_size(NULL));
	CHECK(nk_malloc_usable_size(NULL) == 0, "nk_malloc_usable_size(NULL) = %zu",
	    nk_malloc_usable_size(NULL));

	/* malloc(0): a unique pointer, like glibc's. */
	void *z0 = malloc(0), *z1 = nk_malloc(0);
	CHECK(z0 != NULL && z1 != NULL && z0 != z1, "malloc(0) = %p, nk_malloc(0) = %p",
	    z0, z1);
	free(z0);
	free(z1);

	all_small_sizes_alive();
	small_sizes_churn();
	large_sizes();
	not_numakeg_memory();
	return nkt_done("malloc_basic");
}
