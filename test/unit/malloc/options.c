/*
 * The environment variables that change placement and memory keeping, one
 * mode per ctest entry (which sets the variables, see CMakeLists.txt):
 *
 *   roundrobin   NUMAKEG_POLICY=roundrobin: small blocks spread over the
 *                domains, large blocks stay on the caller's domain
 *   interleave   NUMAKEG_POLICY=interleave: large blocks spread too, one
 *                domain per allocation
 *   bind         NUMAKEG_POLICY=bind:2 with a limit on domain 2: everything
 *                on domain 2, and ENOMEM (no fallback) once it is full
 *   dirty0       NUMAKEG_DIRTY_MAX=0: nothing freed is kept
 *   dirtymax     NUMAKEG_DIRTY_MAX=16M: freed pages are kept for reuse, and
 *                no more than that or the recent peak in use
 *   kva_window   NUMAKEG_KVA_WINDOW=64M on 2 domains: where each domain's
 *                addresses start and end, and nothing bigger than that
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <malloc.h>

#include "nk_test.h"
#include "numakeg.h"

static int ndom;

static void on_domain(int d)
{
	int e = nk_thread_set_domain(d);
	CHECK(e == 0, "nk_thread_set_domain(%d) = %d", d, e);
}

static void page_totals(uint64_t *active, uint64_t *dirty, uint64_t *purged)
{
	*active = *dirty = *purged = 0;
	for (int d = 0; d < ndom; d++) {
		struct nk_page_stats ps;
		CHECK(nk_page_stats(d, &ps) == 0, "nk_page_stats(%d)", d);
		*active += ps.active_bytes;
		*dirty += ps.dirty_bytes;
		*purged += ps.purged_bytes;
	}
}

/* Small blocks from a thread on domain 1 land on every domain, evenly enough. */
static void small_blocks_spread(const char *policy)
{
	enum { N = 20000 };
	static void *v[N];
	int per[64] = { 0 };
	on_domain(1);
	for (int i = 0; i < N; i++) {
		v[i] = malloc(256);
		CHECK(v[i] != NULL, "malloc(256)");
		int d = nk_domain_of(v[i]);
		if (d >= 0 && d < 64)
			per[d]++;
	}
	for (int d = 0; d < ndom; d++)
		CHECK(per[d] > N / ndom / 3, "%s: domain %d got %d of %d small blocks "
		    "(per domain %d %d %d %d)", policy, d, per[d], N, per[0], per[1], per[2], per[3]);
	for (int i = 0; i < N; i++)
		free(v[i]);
}

static void roundrobin(void)
{
	small_blocks_spread("roundrobin");
	/* Large blocks stay local. */
	on_domain(1);
	void *v[8];
	for (int i = 0; i < 8; i++) {
		v[i] = malloc(256 << 10);
		CHECK(v[i] != NULL && nk_domain_of(v[i]) == 1, "roundrobin: malloc(256 KiB) "
		    "from domain 1 = %p on domain %d", v[i], nk_domain_of(v[i]));
	}
	for (int i = 0; i < 8; i++)
		free(v[i]);
}

static void interleave(void)
{
	small_blocks_spread("interleave");
	on_domain(1);
	enum { N = 16 };
	void *v[N];
	int per[64] = { 0 }, prev = -1, repeats = 0;
	for (int i = 0; i < N; i++) {
		v[i] = malloc(256 << 10);
		CHECK(v[i] != NULL, "malloc(256 KiB)");
		int d = nk_domain_of(v[i]);
		if (d >= 0 && d < 64)
			per[d]++;
		repeats += d == prev;
		prev = d;
	}
	for (int d = 0; d < ndom; d++)
		CHECK(per[d] > 0, "interleave: no large block on domain %d (per domain %d %d %d %d)",
		    d, per[0], per[1], per[2], per[3]);
	CHECK(repeats == 0, "interleave: %d large blocks on the same domain as the one before",
	    repeats);
	for (int i = 0; i < N; i++)
		free(v[i]);
	/* Large blocks freed and allocated again still go round. */
	for (int i = 0; i < N; i++)
		v[i] = malloc(256 << 10);
	memset(per, 0, sizeof(per));
	for (int i = 0; i < N; i++) {
		int d = nk_domain_of(v[i]);
		if (d >= 0 && d < 64)
			per[d]++;
		free(v[i]);
	}
	for (int d = 0; d < ndom; d++)
		CHECK(per[d] > 0, "interleave, second round: no large block on domain %d", d);
}

/* Allocates size-byte blocks until malloc fails; all must be on domain want. */
static int fill_bound(size_t size, int want, size_t limit, void **v, int max)
{
	int n = 0, elsewhere = 0;
	if ((size_t)max > 2 * limit / size + 16)
		max = (int)(2 * limit / size + 16);   /* twice the limit: it did not hold */
	errno = 0;
	while (n < max && (v[n] = malloc(size)) != NULL) {
		if (nk_domain_of(v[n]) != want && elsewhere++ < 3)
			CHECK(0, "bind: malloc(%zu) = %p on domain %d", size, v[n], nk_domain_of(v[n]));
		n++;
	}
	CHECK(n < max, "bind: %d blocks of %zu bytes and still no ENOMEM under a limit of %zu",
	    n, size, limit);
	CHECK(errno == ENOMEM, "bind: malloc(%zu) failed with errno %d, want ENOMEM", size, errno);
	CHECK((size_t)n * size <= limit, "bind: %d blocks of %zu bytes under a limit of %zu", n,
	    size, limit);
	return n;
}

static void bind_policy(void)
{
	const size_t limit = 8u << 20;
	on_domain(0);   /* the caller's domain does not matter */
	CHECK(nk_current_domain() == 2, "bind:2: nk_current_domain() = %d", nk_current_domain());
	enum { MAX = 100000 };
	static void *v[MAX];
	int n = fill_bound(1000, 2, limit, v, MAX);
	CHECK((size_t)n * 1024 > limit / 2, "bind: only %d small blocks before ENOMEM", n);
	for (int i = 0; i < n; i++)
		free(v[i]);
	malloc_trim(0);
	n = fill_bound(512 << 10, 2, limit, v, MAX);
	CHECK(n >= 4, "bind: only %d blocks of 512 KiB after a trim", n);
	for (int i = 0; i < n; i++)
		free(v[i]);
	/* The other domains were never asked. */
	for (int d = 0; d < ndom; d++) {
		struct nk_page_stats ps;
		nk_page_stats(d, &ps);
		if (d != 2)
			CHECK(ps.active_bytes + ps.dirty_bytes < (1u << 20),
			    "bind:2: domain %d holds %lu bytes", d, ps.active_bytes + ps.dirty_bytes);
	}
}

/* NUMAKEG_DIRTY_MAX=0: every page freed goes back at once. */
static void dirty0(void)
{
	uint64_t a0, d0, p0, a1, d1, p1;
	page_totals(&a0, &d0, &p0);
	CHECK(d0 == 0, "%lu dirty bytes at the start", d0);
	for (int round = 0; round < 4; round++) {
		void *v[8];
		for (int i = 0; i < 8; i++) {
			v[i] = malloc((size_t)(2 + i) << 20);
			CHECK(v[i] != NULL, "malloc");
			memset(v[i], i, (size_t)(2 + i) << 20);
		}
		for (int i = 0; i < 8; i++) {
			free(v[i]);
			page_totals(&a1, &d1, &p1);
			CHECK(d1 == 0, "round %d: %lu freed bytes kept with NUMAKEG_DIRTY_MAX=0", round, d1);
		}
	}
	CHECK(p1 >= p0 + 4 * 8 * (2u << 20), "purged %lu bytes for 4 rounds of 44 MiB", p1 - p0);
}

/* NUMAKEG_DIRTY_MAX=16M (and a decay too slow to act): kept for reuse, and bounded. */
static void dirtymax(void)
{
	const uint64_t dirty_max = 16u << 20;
	uint64_t a0, d0, p0, a1, d1, p1;
	void *v[32];
	/*
	 * A little freed is kept, and reused as it is (3 MiB runs: past the
	 * thread's own cache of runs of at most 2 MiB, so the page layer's).
	 */
	for (int i = 0; i < 4; i++) {
		v[i] = malloc(3u << 20);
		memset(v[i], 1, 3u << 20);
	}
	page_totals(&a0, &d0, &p0);
	for (int i = 0; i < 4; i++)
		free(v[i]);
	page_totals(&a1, &d1, &p1);
	CHECK(d1 >= d0 + (12u << 20), "freeing 12 MiB under NUMAKEG_DIRTY_MAX=16M kept %lu bytes",
	    d1 - d0);
	CHECK(p1 == p0, "freeing 12 MiB under NUMAKEG_DIRTY_MAX=16M purged %lu bytes", p1 - p0);
	void *again = malloc(3u << 20);
	int reused = 0;
	for (int i = 0; i < 4; i++)
		reused += again == v[i];
	CHECK(reused, "a kept run was not reused: %p", again);
	free(again);

	/* A lot freed: at most DIRTY_MAX, or the peak in use if that is more, is kept. */
	for (int round = 0; round < 3; round++) {
		uint64_t peak = 0;
		for (int i = 0; i < 32; i++) {
			size_t n = (size_t)(1 + (i + round) % 3) << 20;   /* 1, 2, 3 MiB + 8 bytes */
			v[i] = malloc(n + 8);
			CHECK(v[i] != NULL, "malloc");
			memset(v[i], i, n + 8);
		}
		page_totals(&a1, &d1, &p1);
		peak = a1;
		for (int i = 0; i < 32; i++)
			free(v[i]);
		page_totals(&a1, &d1, &p1);
		uint64_t bound = (dirty_max > peak ? dirty_max : peak) + (1u << 20);
		CHECK(d1 <= bound, "round %d: %lu bytes kept; NUMAKEG_DIRTY_MAX is 16 MiB and at "
		    "most %lu were in use", round, d1, peak);
		CHECK(d1 > 0, "round %d: nothing kept", round);
	}
}

/* NUMAKEG_KVA_WINDOW=64M, 2 domains: windows of exactly that, back to back. */
static void kva_window(void)
{
	const uintptr_t w = 64u << 20;
	CHECK(ndom == 2, "want 2 domains, have %d", ndom);
	char *p = nk_malloc_domain(1u << 20, 0), *q = nk_malloc_domain(1u << 20, 1);
	CHECK(p != NULL && q != NULL && nk_domain_of(p) == 0 && nk_domain_of(q) == 1,
	    "blocks %p %p on domains %d %d", p, q, nk_domain_of(p), nk_domain_of(q));
	if (p == NULL || q == NULL)
		return;
	CHECK(q > p && (uintptr_t)(q - p) < 2 * w, "domain 1's block %p is not within two "
	    "windows above domain 0's %p", q, p);
	/* The first address of domain 1, found by bisection (nk_domain_of reads nothing). */
	uintptr_t lo = (uintptr_t)p, hi = (uintptr_t)q;
	while (hi - lo > 1) {
		uintptr_t mid = lo + (hi - lo) / 2;
		if (nk_domain_of((void *)mid) == 0)
			lo = mid;
		else
			hi = mid;
	}
	uintptr_t b = hi;
	CHECK(nk_domain_of((void *)b) == 1, "%#lx: domain %d", b, nk_domain_of((void *)b));
	CHECK(nk_domain_of((void *)(b - w)) == 0, "domain 0's first byte %#lx: %d", b - w,
	    nk_domain_of((void *)(b - w)));
	CHECK(nk_domain_of((void *)(b - w - 1)) == -1, "the byte below domain 0's window: %d",
	    nk_domain_of((void *)(b - w - 1)));
	CHECK(nk_domain_of((void *)(b + w - 1)) == 1, "domain 1's last byte: %d",
	    nk_domain_of((void *)(b + w - 1)));
	CHECK(nk_domain_of((void *)(b + w)) == -1, "the byte above domain 1's window: %d",
	    nk_domain_of((void *)(b + w)));
	CHECK(p >= (char *)(b - w) && q + (1u << 20) <= (char *)(b + w), "blocks outside the windows");
	free(p);
	free(q);

	/* Nothing bigger than a window; and no more than the two windows in all. */
	errno = 0;
	p = malloc(w + (1u << 20));
	CHECK(p == NULL && errno == ENOMEM, "malloc(window + 1 MiB) = %p, errno %d", p, errno);
	free(p);
	on_domain(0);
	enum { MAX = 64 };
	void *v[MAX];
	int n = 0;
	errno = 0;
	while (n < MAX && (v[n] = malloc(8u << 20)) != NULL) {
		int d = nk_domain_of(v[n]);
		CHECK(d == 0 || d == 1, "block %p on domain %d", v[n], d);
		n++;
	}
	CHECK(n < MAX && errno == ENOMEM, "%d blocks of 8 MiB in two windows of 64 MiB, errno %d",
	    n, errno);
	CHECK(n >= 8 && n <= 16, "%d blocks of 8 MiB fit in two windows of 64 MiB", n);
	for (int i = 0; i < n; i++)
		free(v[i]);
	on_domain(-1);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	ndom = nk_ndomains();
	if (strcmp(mode, "roundrobin") == 0)
		roundrobin();
	else if (strcmp(mode, "interleave") == 0)
		interleave();
	else if (strcmp(mode, "bind") == 0)
		bind_policy();
	else if (strcmp(mode, "dirty0") == 0)
		dirty0();
	else if (strcmp(mode, "dirtymax") == 0)
		dirtymax();
	else if (strcmp(mode, "kva_window") == 0)
		kva_window();
	else
		CHECK(0, "unknown mode \"%s\"", mode);
	char name[64];
	snprintf(name, sizeof(name), "malloc_options %s", mode);
	return nkt_done(name);
}
