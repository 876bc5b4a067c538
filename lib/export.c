/*
 * The C library's names for the malloc family.  Kept apart from malloc.c so
 * that numakeg_noexport can sit beside the C library's malloc (benchmarks,
 * tests); each function is the same inline body as its nk_ twin.
 */
#include <malloc.h>

#include "malloc_int.h"

NK_EXPORT void *malloc(size_t n) { return malloc_fast(n); }
NK_EXPORT void free(void *p) { free_fast(p); }
NK_EXPORT void *calloc(size_t nmemb, size_t size) { return nk_calloc(nmemb, size); }
NK_EXPORT void *realloc(void *p, size_t n) { return nk_realloc(p, n); }
NK_EXPORT void *reallocarray(void *p, size_t nmemb, size_t size) { return nk_reallocarray(p, nmemb, size); }
NK_EXPORT int posix_memalign(void **memptr, size_t align, size_t n) { return nk_posix_memalign(memptr, align, n); }
NK_EXPORT void *aligned_alloc(size_t align, size_t n) { return nk_aligned_alloc(align, n); }
NK_EXPORT void *memalign(size_t align, size_t n) { return nk_memalign(align, n); }
NK_EXPORT void *valloc(size_t n) { return nk_valloc(n); }
NK_EXPORT void *pvalloc(size_t n) { return nk_pvalloc(n); }
NK_EXPORT size_t malloc_usable_size(void *p) { return nk_malloc_usable_size(p); }
NK_EXPORT void free_sized(void *p, size_t n) { (void)n; free_fast(p); }
NK_EXPORT void free_aligned_sized(void *p, size_t align, size_t n) { (void)align; (void)n; free_fast(p); }
NK_EXPORT int malloc_trim(size_t pad) { return nk_malloc_trim(pad); }

struct mallinfo2 malloc_mallinfo2(void);
NK_EXPORT struct mallinfo2 mallinfo2(void) { return malloc_mallinfo2(); }

NK_EXPORT struct mallinfo
mallinfo(void)
{
	/* The old interface has int fields: values past INT_MAX are clamped. */
	struct mallinfo2 m2 = malloc_mallinfo2();
	struct mallinfo m;
	memset(&m, 0, sizeof(m));
	m.arena = (int)nk_min(m2.arena, (size_t)0x7fffffff);
	m.uordblks = (int)nk_min(m2.uordblks, (size_t)0x7fffffff);
	m.fordblks = (int)nk_min(m2.fordblks, (size_t)0x7fffffff);
	m.keepcost = (int)nk_min(m2.keepcost, (size_t)0x7fffffff);
	return m;
}

NK_EXPORT int
mallopt(int param, int value)
{
	/* glibc's tunables have no meaning here: say so, change nothing. */
	if (nk_opt.debug)
		nk_msg("mallopt(%d, %d) ignored: numakeg has no such tunables", param, value);
	return 0;
}

NK_EXPORT void
malloc_stats(void)
{
	nk_stats_print(stderr, 0);
}
