// C++'s operator new and delete come from numakeg (export.c, cxx.cc):
// every standard form hands out numakeg memory, new throws std::bad_alloc
// on an impossible size after the new_handler loop, nothrow new returns
// nullptr, aligned new is aligned, a sized delete (or free_sized) with a
// wrong size frees the block by its real class (it is never handed out as
// a block of the wrong size), and a double delete is reported by name.
//
// Built three ways (CMakeLists.txt): linked with libnumakeg.so, with
// libnumakeg.a, and with neither, run under LD_PRELOAD=libnumakeg.so; the
// last finds nk_domain_of with dlsym.  Prints what failed, exits non-zero.
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <malloc.h>
#include <new>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "nk_test.h"

// Sizes the compiler cannot see, pointers it must keep: no new/delete pair
// may be folded away.
static volatile std::size_t impossible = SIZE_MAX / 2;
static void *volatile sink;

typedef int (*domain_of_fn)(const void *);
static domain_of_fn domain_of;

static bool
is_numakeg(const void *p)
{
	return domain_of(p) >= 0;
}

struct alignas(256) Over {
	char bytes[300];
};

struct Object {
	long a, b, c;  // 24 bytes: delete passes the size (sized deallocation)
};

static void
test_plain_forms()
{
	for (std::size_t n : { 0ul, 1ul, 64ul, 4000ul, 40000ul, 1ul << 20 }) {
		void *p = ::operator new(n);
		CHECK(is_numakeg(p), "operator new(%zu) = %p is not numakeg memory", n, p);
		std::memset(p, 0xab, n);
		sink = p;
		::operator delete(p);
		p = ::operator new[](n);
		CHECK(is_numakeg(p), "operator new[](%zu) = %p is not numakeg memory", n, p);
		::operator delete[](p, n);  // sized
		p = ::operator new(n, std::nothrow);
		CHECK(p != nullptr && is_numakeg(p), "nothrow operator new(%zu) = %p", n, p);
		::operator delete(p, std::nothrow);
		p = ::operator new[](n, std::nothrow);
		CHECK(p != nullptr && is_numakeg(p), "nothrow operator new[](%zu) = %p", n, p);
		::operator delete[](p, std::nothrow);
	}
	// new-expressions, as programs write them, and the library's own use.
	Object *o = new Object();
	CHECK(is_numakeg(o), "new Object = %p is not numakeg memory", (void *)o);
	delete o;
	std::vector<int> v(1000, 7);
	CHECK(is_numakeg(v.data()), "std::vector's storage %p is not numakeg memory", (void *)v.data());
	std::string s(200, 'x');
	CHECK(is_numakeg(s.data()), "std::string's storage %p is not numakeg memory", (void *)s.data());
}

static void
test_aligned_forms()
{
	for (std::size_t align : { 1ul, 8ul, 16ul, 32ul, 64ul, 256ul, 4096ul, 1ul << 16 }) {
		for (std::size_t n : { 1ul, 100ul, 5000ul, 200000ul }) {
			std::align_val_t al{align};
			void *p = ::operator new(n, al);
			CHECK(is_numakeg(p) && (uintptr_t)p % align == 0,
			    "operator new(%zu, align %zu) = %p", n, align, p);
			std::memset(p, 0xcd, n);
			::operator delete(p, n, al);
			p = ::operator new[](n, al, std::nothrow);
			CHECK(p != nullptr && is_numakeg(p) && (uintptr_t)p % align == 0,
			    "nothrow operator new[](%zu, align %zu) = %p", n, align, p);
			::operator delete[](p, al, std::nothrow);
			p = ::operator new[](n, al);
			CHECK(is_numakeg(p) && (uintptr_t)p % align == 0,
			    "operator new[](%zu, align %zu) = %p", n, align, p);
			::operator delete[](p, al);
			p = ::operator new(n, al, std::nothrow);
			CHECK(p != nullptr && (uintptr_t)p % align == 0,
			    "nothrow operator new(%zu, align %zu) = %p", n, align, p);
			::operator delete(p, n, al);
		}
	}
	Over *o = new Over;  // the compiler calls the aligned form
	CHECK(is_numakeg(o) && (uintptr_t)o % alignof(Over) == 0, "new Over = %p", (void *)o);
	delete o;
	Over *a = new Over[3];
	CHECK(is_numakeg(a) && (uintptr_t)a % alignof(Over) == 0, "new Over[3] = %p", (void *)a);
	delete[] a;
}

template <typename F>
static bool
throws_bad_alloc(F f)
{
	try {
		sink = f();
	} catch (const std::bad_alloc &) {
		return true;
	}
	return false;
}

static int handler_calls;
static void
handler_gives_up_third_time()
{
	if (++handler_calls == 3)
		std::set_new_handler(nullptr);
}
static void
handler_throws()
{
	handler_calls++;
	throw std::bad_alloc();
}

static void
test_failure()
{
	std::size_t n = impossible;
	std::align_val_t al{64};
	CHECK(throws_bad_alloc([n] { return ::operator new(n); }), "operator new(huge) did not throw");
	CHECK(throws_bad_alloc([n] { return ::operator new[](n); }), "operator new[](huge) did not throw");
	CHECK(throws_bad_alloc([n, al] { return ::operator new(n, al); }),
	    "operator new(huge, align 64) did not throw");
	CHECK(throws_bad_alloc([n] { return new char[n]; }), "new char[huge] did not throw");
	CHECK(::operator new(n, std::nothrow) == nullptr, "nothrow operator new(huge) is not null");
	CHECK(::operator new[](n, std::nothrow) == nullptr, "nothrow operator new[](huge) is not null");
	CHECK(::operator new(n, al, std::nothrow) == nullptr, "nothrow aligned operator new(huge) is not null");
	CHECK(new (std::nothrow) char[n] == nullptr, "new (nothrow) char[huge] is not null");

	// The new_handler loop: called until it gives up, then bad_alloc.
	handler_calls = 0;
	std::set_new_handler(handler_gives_up_third_time);
	CHECK(throws_bad_alloc([n] { return ::operator new(n); }), "no bad_alloc after the handler gave up");
	CHECK(handler_calls == 3, "the new_handler ran %d times, want 3", handler_calls);
	handler_calls = 0;
	std::set_new_handler(handler_gives_up_third_time);
	CHECK(::operator new(n, al, std::nothrow) == nullptr, "nothrow new with a handler is not null");
	CHECK(handler_calls == 3, "the new_handler ran %d times for nothrow new, want 3", handler_calls);
	// A handler that throws: new passes it on, nothrow new returns null.
	handler_calls = 0;
	std::set_new_handler(handler_throws);
	CHECK(throws_bad_alloc([n] { return ::operator new(n); }), "the handler's bad_alloc did not come out");
	CHECK(::operator new[](n, std::nothrow) == nullptr, "nothrow new[] with a throwing handler is not null");
	CHECK(handler_calls == 2, "the throwing handler ran %d times, want 2", handler_calls);
	std::set_new_handler(nullptr);
}

// A sized delete with the wrong size: numakeg frees the block by the class
// its descriptor names, not by the size.  Had it believed the size, the
// block would sit in the other class's cache and be handed out as a block
// of that size (a 32-byte block as a 64-byte one: a heap overflow); it must
// never be: every block then allocated with that size must be of that
// size's class (its usable size says which; a page given back and reused
// for the class is no false alarm).  Many blocks each: a block whose offset
// in its slab happens to fit the other class is the case only the class
// check catches.
typedef void *(*alloc_fn)(std::size_t);
typedef void (*sized_free_fn)(void *, std::size_t);

static void *new_block(std::size_t n) { return ::operator new(n); }
static void sized_delete(void *p, std::size_t n) { ::operator delete(p, n); }

static void
check_wrong_size(const char *how, alloc_fn alloc, sized_free_fn release, std::size_t real,
    std::size_t claimed)
{
	const int count = 256;
	void *freed[count], *held[2 * count];
	void *probe = alloc(claimed);
	std::size_t want = malloc_usable_size(probe);
	release(probe, claimed);
	for (int i = 0; i < count; i++)
		freed[i] = alloc(real);
	for (int i = 0; i < count; i++)
		release(freed[i], claimed);
	int bad = 0;
	for (int i = 0; i < 2 * count; i++) {
		held[i] = alloc(claimed);
		bad += malloc_usable_size(held[i]) != want;
	}
	CHECK(bad == 0, "%s: after %d blocks of %zu bytes were freed as %zu bytes, %d of %d "
	    "%zu-byte blocks were not of that size's class (%zu bytes)", how, count, real, claimed,
	    bad, 2 * count, claimed, want);
	for (int i = 0; i < 2 * count; i++)
		release(held[i], claimed);
}

static void
test_wrong_size()
{
	check_wrong_size("sized delete", new_block, sized_delete, 32, 64);
	check_wrong_size("sized delete", new_block, sized_delete, 64, 4096);
	check_wrong_size("sized delete", new_block, sized_delete, 4096, 16);
	check_wrong_size("sized delete", new_block, sized_delete, 100000, 48);
	// C23's free_sized, the same path (glibc 2.36 does not declare it).
	sized_free_fn free_sized = (sized_free_fn)dlsym(RTLD_DEFAULT, "free_sized");
	CHECK(free_sized != nullptr, "numakeg exports no free_sized");
	if (free_sized != nullptr) {
		check_wrong_size("free_sized", std::malloc, free_sized, 48, 96);
		check_wrong_size("free_sized", std::malloc, free_sized, 2000, 1000);
	}
}

static void
delete_twice(void *)
{
	Object *o = new Object();
	sink = o;  // kept: the compiler may not fold the pair away
	delete o;
	delete static_cast<Object *>(sink);
}

// A double delete stops the process with the double-free report.
static void
test_double_delete()
{
	struct nkt_child child;
	nkt_run_child(delete_twice, nullptr, &child);
	CHECK_CHILD_SIGNAL(&child, SIGABRT, "a double delete");
	CHECK_CHILD_SAYS(&child, "double free", "a double delete");
}

int
main()
{
	domain_of = (domain_of_fn)dlsym(RTLD_DEFAULT, "nk_domain_of");
	if (domain_of == nullptr) {
		FAIL("nk_domain_of not found: numakeg is not loaded "
		    "(link it, or run with LD_PRELOAD=libnumakeg.so)");
	}
	test_plain_forms();
	test_aligned_forms();
	test_failure();
	test_wrong_size();
	test_double_delete();
	return nkt_done("cxx_operators");
}
