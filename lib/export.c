/*
 * The C library's names for the malloc family, and C++'s operator new and
 * delete.  Kept apart from malloc.c so that numakeg_noexport can sit beside
 * the C library's malloc (benchmarks, tests); each function is the same
 * inline body as its nk_ twin.
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
NK_EXPORT void free_sized(void *p, size_t n) { free_sized_fast(p, n); }
NK_EXPORT void free_aligned_sized(void *p, size_t align, size_t n) { free_aligned_sized_fast(p, align, n); }
NK_EXPORT int malloc_trim(size_t pad) { return nk_malloc_trim(pad); }

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

/*
 * C++'s replaceable operator new and delete, every standard form, exported
 * as jemalloc and tcmalloc do, so that a C++ program's new and delete (and
 * libstdc++'s own) come here without the extra call of libstdc++'s operator
 * new into malloc.  They are written in C, under their mangled (Itanium C++
 * ABI) names, so that each is malloc's or free's inline fast path; only a
 * failed allocation goes to the C++ part (cxx.cc: the new_handler loop,
 * std::bad_alloc).
 *
 * Sized delete, like free_sized (C23), takes the size as a hint only
 * (free_sized_fast): the block's descriptor, read anyway to check the
 * pointer (an invalid or double free is reported by name, as for free),
 * says its class, so a wrong size frees the block as what it is and
 * corrupts nothing.  Aligned forms use the hint only for alignments malloc
 * gives anyway: a larger alignment may have come from a larger class.
 */
void *nk_cxx_new_failed(size_t n, size_t align, bool nothrow);

/* Everything but a cache hit: malloc's slow path or an aligned allocation,
 * then the C++ part if that failed.  Out of line, so that the hit needs no
 * stack frame and a miss is a tail call (as malloc's). */
static NK_NOINLINE void *
cxx_new_slow(size_t n, size_t align, bool nothrow)
{
	void *p = align == 0 ? malloc_slow(n) : nk_aligned_alloc(align, n);
	if (NK_LIKELY(p != NULL))
		return p;
	return nk_cxx_new_failed(n, align, nothrow);
}

/* align_val_t is a size_t (an enum class of it): its value, at most 16 meaning "as malloc". */
static inline __attribute__((always_inline)) void *
cxx_new(size_t n, size_t align, bool nothrow)
{
	if (NK_LIKELY(align <= 16)) {
		void *p = malloc_fast_hit(n);
		if (NK_LIKELY(p != NULL))
			return p;
		align = 0;
	}
	return cxx_new_slow(n, align, nothrow);
}

/* operator new(size_t), new[](size_t) */
NK_EXPORT void *_Znwm(size_t n);
NK_EXPORT void *_Znam(size_t n);
/* ... (size_t, const std::nothrow_t &) */
NK_EXPORT void *_ZnwmRKSt9nothrow_t(size_t n, const void *nt);
NK_EXPORT void *_ZnamRKSt9nothrow_t(size_t n, const void *nt);
/* ... (size_t, std::align_val_t) */
NK_EXPORT void *_ZnwmSt11align_val_t(size_t n, size_t align);
NK_EXPORT void *_ZnamSt11align_val_t(size_t n, size_t align);
/* ... (size_t, std::align_val_t, const std::nothrow_t &) */
NK_EXPORT void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t n, size_t align, const void *nt);
NK_EXPORT void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t n, size_t align, const void *nt);
/* operator delete(void *), delete[](void *), and with const std::nothrow_t & */
NK_EXPORT void _ZdlPv(void *p);
NK_EXPORT void _ZdaPv(void *p);
NK_EXPORT void _ZdlPvRKSt9nothrow_t(void *p, const void *nt);
NK_EXPORT void _ZdaPvRKSt9nothrow_t(void *p, const void *nt);
/* ... (void *, size_t) */
NK_EXPORT void _ZdlPvm(void *p, size_t n);
NK_EXPORT void _ZdaPvm(void *p, size_t n);
/* ... (void *, std::align_val_t), and with const std::nothrow_t & */
NK_EXPORT void _ZdlPvSt11align_val_t(void *p, size_t align);
NK_EXPORT void _ZdaPvSt11align_val_t(void *p, size_t align);
NK_EXPORT void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t align, const void *nt);
NK_EXPORT void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t align, const void *nt);
/* ... (void *, size_t, std::align_val_t) */
NK_EXPORT void _ZdlPvmSt11align_val_t(void *p, size_t n, size_t align);
NK_EXPORT void _ZdaPvmSt11align_val_t(void *p, size_t n, size_t align);

void *_Znwm(size_t n) { return cxx_new(n, 0, false); }
void *_Znam(size_t n) { return cxx_new(n, 0, false); }
void *_ZnwmRKSt9nothrow_t(size_t n, const void *nt) { (void)nt; return cxx_new(n, 0, true); }
void *_ZnamRKSt9nothrow_t(size_t n, const void *nt) { (void)nt; return cxx_new(n, 0, true); }
void *_ZnwmSt11align_val_t(size_t n, size_t align) { return cxx_new(n, align, false); }
void *_ZnamSt11align_val_t(size_t n, size_t align) { return cxx_new(n, align, false); }
void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t n, size_t align, const void *nt) { (void)nt; return cxx_new(n, align, true); }
void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t n, size_t align, const void *nt) { (void)nt; return cxx_new(n, align, true); }

void _ZdlPv(void *p) { free_fast(p); }
void _ZdaPv(void *p) { free_fast(p); }
void _ZdlPvRKSt9nothrow_t(void *p, const void *nt) { (void)nt; free_fast(p); }
void _ZdaPvRKSt9nothrow_t(void *p, const void *nt) { (void)nt; free_fast(p); }
void _ZdlPvm(void *p, size_t n) { free_sized_fast(p, n); }
void _ZdaPvm(void *p, size_t n) { free_sized_fast(p, n); }
void _ZdlPvSt11align_val_t(void *p, size_t align) { (void)align; free_fast(p); }
void _ZdaPvSt11align_val_t(void *p, size_t align) { (void)align; free_fast(p); }
void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t align, const void *nt) { (void)align; (void)nt; free_fast(p); }
void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t align, const void *nt) { (void)align; (void)nt; free_fast(p); }
void _ZdlPvmSt11align_val_t(void *p, size_t n, size_t align) { free_aligned_sized_fast(p, align, n); }
void _ZdaPvmSt11align_val_t(void *p, size_t n, size_t align) { free_aligned_sized_fast(p, align, n); }
