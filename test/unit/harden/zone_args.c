/*
 * nk_zcreate's argument checks (issue 7, defect 6): a size or alignment no
 * keg can hold gives NULL with EINVAL, never a crash.  SIZE_MAX - 3 used to
 * round to 0 and die in a division (SIGFPE).  The largest sizes and the
 * page alignment that are allowed still work.
 */
#include <limits.h>

#include "nk_test.h"
#include "numakeg.h"

static void expect_einval(size_t size, int align, const char *what)
{
	errno = 0;
	nk_zone_t z = nk_zcreate("bad", size, NULL, NULL, NULL, NULL, align, 0);
	CHECK(z == NULL, "%s: nk_zcreate(size %zu, align %d) gave a zone", what, size, align);
	CHECK(errno == EINVAL, "%s: errno %d, want EINVAL", what, errno);
	if (z != NULL)
		nk_zdestroy(z);
}

static void expect_works(size_t size, int align)
{
	nk_zone_t z = nk_zcreate("good", size, NULL, NULL, NULL, NULL, align, 0);
	CHECK(z != NULL, "nk_zcreate(size %zu, align %d) failed: %s", size, align, strerror(errno));
	if (z == NULL)
		return;
	CHECK(nk_zone_size(z) >= size, "zone size %zu below %zu", nk_zone_size(z), size);
	void *a = nk_zalloc(z, NK_NOWAIT), *b = nk_zalloc(z, NK_NOWAIT);
	CHECK(a != NULL && b != NULL, "no item of %zu bytes", size);
	if (a && b) {
		CHECK(((uintptr_t)a & (uintptr_t)align) == 0 && ((uintptr_t)b & (uintptr_t)align) == 0,
		    "items %p %p not aligned to %d + 1", a, b, align);
		memset(a, 1, size);
		memset(b, 2, size);
		CHECK(((unsigned char *)a)[size - 1] == 1, "items of %zu bytes overlap", size);
	}
	if (a)
		nk_zfree(z, a);
	if (b)
		nk_zfree(z, b);
	nk_zdestroy(z);
}

int main(void)
{
	expect_einval(SIZE_MAX - 3, 0, "SIZE_MAX - 3 (defect 6)");
	expect_einval(SIZE_MAX, 0, "SIZE_MAX");
	expect_einval(SIZE_MAX - 4095, NK_ALIGN_PAGE, "SIZE_MAX - 4095, page aligned");
	expect_einval(SIZE_MAX / 2 + 1, 0, "2^63");
	expect_einval(((size_t)128 << 10) + 1, 0, "one byte past the largest item");
	expect_einval(0, 0, "size 0");
	expect_einval(64, 8191, "align above a page");
	expect_einval(64, 5, "align that is no mask");
	expect_einval(64, -1, "negative align");
	expect_einval(64, INT_MAX, "align INT_MAX");
	expect_einval(64, INT_MIN, "align INT_MIN");

	expect_works((size_t)128 << 10, 0);
	expect_works(((size_t)128 << 10) - 8, NK_ALIGN_PAGE);  /* rounds up to the largest */
	expect_works(1, 0);
	expect_works(100, NK_ALIGN_PAGE);
	expect_works(65, NK_ALIGN_CACHE);
	return nkt_done("harden_zone_args");
}
