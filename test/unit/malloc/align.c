/*
 * posix_memalign, aligned_alloc, memalign, valloc, pvalloc; free_sized and
 * free_aligned_sized; memalign with an alignment that is no power of two;
 * malloc_trim, mallinfo2, mallinfo, mallopt, malloc_stats.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <malloc.h>

#include "nk_test.h"
#include "numakeg.h"

/* C23 names glibc 2.36 does not declare (glibc 2.39+ does); weak, so that
 * a library without them fails a check here instead of the link. */
extern void free_sized(void *ptr, size_t size) __attribute__((weak));
extern void free_aligned_sized(void *ptr, size_t alignment, size_t size)
    __attribute__((weak));

#define SENTINEL ((void *)(uintptr_t)0x5eed5eedu)

static size_t page;

static void check_aligned(void *p, size_t align, size_t n, const char *how)
{
	CHECK(p != NULL, "%s(align %zu, size %zu) returned NULL", how, align, n);
	if (!p)
		return;
	CHECK(((uintptr_t)p & (align - 1)) == 0, "%s(align %zu, size %zu) = %p "
	    "is misaligned", how, align, n, p);
	CHECK(malloc_usable_size(p) >= n, "%s(align %zu, size %zu): usable %zu",
	    how, align, n, malloc_usable_size(p));
	CHECK(nk_domain_of(p) >= 0, "%s(align %zu, size %zu) = %p: not numakeg's",
	    how, align, n, p);
	nkt_fill(p, n, align + n);
}

static void bad_alignments(void)
{
	/* Not a power of two, or not a multiple of sizeof(void *). */
	static const size_t bad[] = { 0, 1, 2, 3, 4, 5, 6, 7, 9, 12, 24, 48, 100,
		4095, 4097, 3 << 20, (size_t)1 << 63 | 8, SIZE_MAX };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		void *p = SENTINEL;
		errno = 0;
		int r = posix_memalign(&p, nkt_hide_size(bad[i]), 64);
		CHECK(r == EINVAL, "posix_memalign(align %zu) = %d, want EINVAL", bad[i], r);
		CHECK(p == SENTINEL, "posix_memalign(align %zu) changed *memptr to %p",
		    bad[i], p);
		p = SENTINEL;
		r = nk_posix_memalign(&p, nkt_hide_size(bad[i]), 64);
		CHECK(r == EINVAL, "nk_posix_memalign(align %zu) = %d, want EINVAL",
		    bad[i], r);
		CHECK(p == SENTINEL, "nk_posix_memalign(align %zu) changed *memptr to %p",
		    bad[i], p);
	}
	/* aligned_alloc: any power of two is valid (as glibc 2.38+); the
	 * rest is NULL with EINVAL. */
	static const size_t bad_aa[] = { 0, 3, 5, 6, 12, 24, 100, 4097, 3 << 20 };
	for (size_t i = 0; i < sizeof(bad_aa) / sizeof(bad_aa[0]); i++) {
		errno = 0;
		void *p = aligned_alloc(nkt_hide_size(bad_aa[i]), 64);
		CHECK(p == NULL && errno == EINVAL, "aligned_alloc(%zu, 64) = %p, "
		    "errno %d, want NULL/EINVAL", bad_aa[i], p, errno);
		free(p);
		errno = 0;
		p = nk_aligned_alloc(nkt_hide_size(bad_aa[i]), 64);
		CHECK(p == NULL && errno == EINVAL, "nk_aligned_alloc(%zu, 64) = %p, "
		    "errno %d, want NULL/EINVAL", bad_aa[i], p, errno);
		free(p);
	}
	for (size_t a = 1; a <= 4; a *= 2) {
		void *p = aligned_alloc(nkt_hide_size(a), 10);
		check_aligned(p, a, 10, "aligned_alloc");
		free(p);
	}
	/* Too big: ENOMEM, *memptr untouched. */
	void *p = SENTINEL;
	int r = posix_memalign(&p, 64, nkt_hide_size(SIZE_MAX - 100));
	CHECK(r == ENOMEM && p == SENTINEL, "posix_memalign(64, SIZE_MAX-100) = %d, "
	    "*memptr %p", r, p);
	errno = 0;
	p = aligned_alloc(4096, nkt_hide_size(SIZE_MAX - 100));
	CHECK(p == NULL && errno == ENOMEM, "aligned_alloc(4096, SIZE_MAX-100) = %p, "
	    "errno %d", p, errno);
	errno = 0;
	p = memalign(64, nkt_hide_size((size_t)PTRDIFF_MAX + 1));
	CHECK(p == NULL && errno == ENOMEM, "memalign(64, PTRDIFF_MAX+1) = %p, "
	    "errno %d", p, errno);
}

static void good_alignments(void)
{
	static const size_t sizes[] = { 0, 1, 8, 13, 64, 100, 1000, 4096, 5000,
		65536, 100000, (1u << 20) + 3 };
	enum { NS = sizeof(sizes) / sizeof(sizes[0]) };
	void *live[32][NS];
	int na = 0;
	for (size_t a = 8; a <= (2u << 20); a *= 2, na++) {
		for (int i = 0; i < NS; i++) {
			size_t n = sizes[i];
			void *p = SENTINEL;
			int r;
			switch ((na + i) % 4) {
			case 0:
				r = posix_memalign(&p, a, n);
				CHECK(r == 0, "posix_memalign(%zu, %zu) = %d", a, n, r);
				if (r)
					p = NULL;
				if (n == 0 && p == NULL)    /* allowed for size 0 */
					break;
				check_aligned(p, a, n, "posix_memalign");
				break;
			case 1:
				r = nk_posix_memalign(&p, a, n);
				CHECK(r == 0, "nk_posix_memalign(%zu, %zu) = %d", a, n, r);
				if (r)
					p = NULL;
				if (n == 0 && p == NULL)
					break;
				check_aligned(p, a, n, "nk_posix_memalign");
				break;
			case 2:
				p = aligned_alloc(a, n);
				check_aligned(p, a, n, "aligned_alloc");
				break;
			default:
				p = (i & 1) ? nk_memalign(a, n) : memalign(a, n);
				check_aligned(p, a, n, "memalign");
				break;
			}
			live[na][i] = p;
		}
	}
	/* Everything still holds its contents with all of it alive. */
	na = 0;
	for (size_t a = 8; a <= (2u << 20); a *= 2, na++) {
		for (int i = 0; i < NS; i++) {
			void *p = live[na][i];
			if (!p)
				continue;
			size_t bad = nkt_verify(p, sizes[i], a + sizes[i]);
			CHECK(bad == (size_t)-1, "aligned block (align %zu, size %zu) = %p: "
			    "byte %zu changed", a, sizes[i], p, bad);
			/* free_aligned_sized is for aligned_alloc's blocks (C23). */
			if ((na + i) % 4 == 2 && (i & 1))
				nk_free_aligned_sized(p, a, sizes[i]);
			else if ((na + i) % 4 == 2 && free_aligned_sized)
				free_aligned_sized(p, a, sizes[i]);
			else if (i & 1)
				nk_free(p);
			else
				free(p);
		}
	}
}

static void page_allocs(void)
{
	static const size_t sizes[] = { 1, 100, 4095, 4096, 4097, 10000, 65536,
		1000000 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];
		void *p = (i & 1) ? nk_valloc(n) : valloc(n);
		check_aligned(p, page, n, "valloc");
		free(p);

		size_t rounded = (n + page - 1) / page * page;
		p = (i & 1) ? pvalloc(n) : nk_pvalloc(n);
		check_aligned(p, page, n, "pvalloc");
		if (p) {
			CHECK(malloc_usable_size(p) >= rounded, "pvalloc(%zu): usable %zu "
			    "< %zu (size rounded to a page)", n, malloc_usable_size(p),
			    rounded);
			memset(p, 0x77, rounded);   /* the whole rounded size is ours */
		}
		free(p);
	}
	void *p = pvalloc(0);
	CHECK(p != NULL, "pvalloc(0) returned NULL");
	free(p);
}

static void sized_frees(void)
{
	CHECK(free_sized != NULL, "free_sized is not exported by numakeg");
	CHECK(free_aligned_sized != NULL, "free_aligned_sized is not exported by numakeg");
	for (size_t n = 1; n <= (4u << 20); n = n * 2 + 3) {
		void *p = malloc(n);
		CHECK(p != NULL, "malloc(%zu)", n);
		memset(p, 1, n);
		if (free_sized)
			free_sized(p, n);
		else
			free(p);
		p = nk_malloc(n);
		memset(p, 2, n);
		nk_free_sized(p, n);
		for (size_t a = 16; a <= 8192; a *= 8) {
			p = aligned_alloc(a, n);
			check_aligned(p, a, n, "aligned_alloc");
			if (free_aligned_sized)
				free_aligned_sized(p, a, n);
			else
				free(p);
			p = nk_aligned_alloc(a, n);
			check_aligned(p, a, n, "nk_aligned_alloc");
			nk_free_aligned_sized(p, a, n);
		}
	}
	/* NULL is a no-op for them too. */
	if (free_sized)
		free_sized(NULL, 10);
	if (free_aligned_sized)
		free_aligned_sized(NULL, 64, 10);
	nk_free_sized(NULL, 0);
	nk_free_aligned_sized(NULL, 64, 0);
}

/* glibc rounds a memalign alignment that is no power of two up to one; so does numakeg. */
static void memalign_rounds_up(void)
{
	static const struct { size_t asked, rounded; } cases[] = {
		{ 3, 16 }, { 24, 32 }, { 48, 64 }, { 100, 128 }, { 1000, 1024 },
		{ 4095, 4096 }, { 4097, 8192 }, { 3u << 20, 4u << 20 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (int k = 0; k < 8; k++) {   /* several blocks: one may be aligned by chance */
			size_t n = k & 1 ? 100 : 5000;
			void *p = (k & 2) ? nk_memalign(nkt_hide_size(cases[i].asked), n)
			                  : memalign(nkt_hide_size(cases[i].asked), n);
			check_aligned(p, cases[i].rounded, n, "memalign (no power of two)");
			free(p);
		}
	}
}

/* mallinfo is deprecated in glibc, and numakeg still exports it: test it. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

/* What mallinfo2/mallinfo say is in use and free; malloc_trim; mallopt. */
static void glibc_extras(void)
{
	const size_t big = 8u << 20;   /* above every cache of freed runs */
	/* Nothing is kept from before: a clean start for the counts below. */
	malloc_trim(0);
	struct mallinfo2 m0 = mallinfo2();
	struct mallinfo i0 = mallinfo();
	char *p = malloc(big);
	CHECK(p != NULL, "malloc(%zu)", big);
	memset(p, 1, big);
	struct mallinfo2 m1 = mallinfo2();
	struct mallinfo i1 = mallinfo();
	CHECK(m1.uordblks >= m0.uordblks + big, "mallinfo2: in use %zu -> %zu after malloc(%zu)",
	    m0.uordblks, m1.uordblks, big);
	CHECK(m1.arena >= m1.uordblks + m1.fordblks, "mallinfo2: arena %zu < in use %zu + free %zu",
	    m1.arena, m1.uordblks, m1.fordblks);
	CHECK((size_t)i1.uordblks >= (size_t)i0.uordblks + big,
	    "mallinfo: in use %d -> %d after malloc(%zu)", i0.uordblks, i1.uordblks, big);
	free(p);
	struct mallinfo2 m2 = mallinfo2();
	struct mallinfo i2 = mallinfo();
	CHECK(m2.uordblks + big <= m1.uordblks, "mallinfo2: in use %zu -> %zu after free(%zu)",
	    m1.uordblks, m2.uordblks, big);
	CHECK((size_t)i2.uordblks + big <= (size_t)i1.uordblks,
	    "mallinfo: in use %d -> %d after free", i1.uordblks, i2.uordblks);

	/* malloc_trim gives the freed block's pages back: 1; then nothing is left: 0. */
	p = malloc(big);
	memset(p, 2, big);
	free(p);
	int r = malloc_trim(0);
	CHECK(r == 1, "malloc_trim(0) after freeing %zu bytes = %d, want 1", big, r);
	struct mallinfo2 m3 = mallinfo2();
	CHECK(m3.fordblks < big, "mallinfo2: %zu free bytes kept after malloc_trim(0)", m3.fordblks);
	r = malloc_trim(0);
	CHECK(r == 0, "malloc_trim(0) with nothing to give back = %d, want 0", r);
	p = malloc(big);
	memset(p, 3, big);
	free(p);
	r = nk_malloc_trim(1 << 20);
	CHECK(r == 1, "nk_malloc_trim(1 MiB) after freeing %zu bytes = %d, want 1", big, r);

	/* mallopt changes nothing and says so: 0, as glibc does for what it does not do. */
	r = mallopt(M_TRIM_THRESHOLD, 128 * 1024);
	CHECK(r == 0, "mallopt(M_TRIM_THRESHOLD) = %d, want 0", r);
	r = mallopt(M_ARENA_MAX, 2);
	CHECK(r == 0, "mallopt(M_ARENA_MAX) = %d, want 0", r);
	/* Still fine afterwards. */
	p = malloc(100);
	CHECK(p != NULL && nk_domain_of(p) >= 0, "malloc after mallopt = %p", p);
	free(p);
}

/* malloc_stats prints numakeg's statistics to stderr. */
static void malloc_stats_prints(void)
{
	void *keep = malloc(200);
	FILE *tmp = tmpfile();
	CHECK(tmp != NULL, "tmpfile");
	if (tmp == NULL)
		return;
	fflush(stderr);
	int saved = dup(2);
	dup2(fileno(tmp), 2);
	malloc_stats();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	char buf[65536];
	rewind(tmp);
	size_t n = fread(buf, 1, sizeof(buf) - 1, tmp);
	buf[n] = '\0';
	fclose(tmp);
	CHECK(strstr(buf, "numakeg") != NULL, "malloc_stats printed no numakeg header: %.200s", buf);
	CHECK(strstr(buf, "malloc-") != NULL,
	    "malloc_stats shows no size class with a 200-byte block live: %.400s", buf);
	free(keep);
}

int main(void)
{
	page = (size_t)sysconf(_SC_PAGESIZE);
	bad_alignments();
	good_alignments();
	page_allocs();
	sized_frees();
	memalign_rounds_up();
	glibc_extras();
	malloc_stats_prints();
	return nkt_done("malloc_align");
}
