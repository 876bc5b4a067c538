// The C++ part of operator new: what it does when memory runs out.  The
// operators themselves are in export.c, in C, so that their fast paths are
// malloc's and free's own inline bodies; they come here only when an
// allocation failed.
//
// As the standard says: call the installed new_handler and try again while
// there is one; with none, throw std::bad_alloc (or, for the nothrow forms,
// return nullptr, which they also do when the handler throws bad_alloc).
//
// libnumakeg.so must not link the C++ run-time library: every process
// started under it would load libstdc++ (and libm and libgcc_s) for nothing.
// So every symbol this file takes from it is a weak reference: a C++
// program has libstdc++ loaded, and the references bind to it; in a C
// program they are null, and nothing calls operator new there.  Should the
// operators still be called without it (a C++ plugin loaded with
// RTLD_LOCAL into a C program), running out of memory stops the process
// with a message instead of throwing.
//
// Owns: nothing.  Calls: malloc.c's allocation functions, nk_panic, the C++
// run-time library.
#include <cstddef>
#include <new>

// The references the code below makes to libstdc++ and libgcc_s, weak.
__asm__(".weak _ZSt15get_new_handlerv\n"
        ".weak __cxa_allocate_exception\n"
        ".weak __cxa_free_exception\n"
        ".weak __cxa_throw\n"
        ".weak __cxa_begin_catch\n"
        ".weak __cxa_end_catch\n"
        ".weak __gxx_personality_v0\n"
        ".weak _Unwind_Resume\n"
        ".weak _ZTISt9bad_alloc\n"
        ".weak _ZTVSt9bad_alloc\n"
        ".weak _ZTVSt9exception\n"
        ".weak _ZNSt9bad_allocD1Ev\n");

extern "C" {
void *nk_malloc(std::size_t n);
void *nk_aligned_alloc(std::size_t align, std::size_t n);
[[noreturn]] void nk_panic(const char *fmt, ...) __attribute__((visibility("hidden")));
void *nk_cxx_new_failed(std::size_t n, std::size_t align, bool nothrow)
    __attribute__((visibility("hidden")));
}

// One of the weak references, to ask whether libstdc++ is there at all (a
// weakref: the compiler knows that its address may be null).
static void *cxx_runtime_probe(std::size_t) __attribute__((weakref("__cxa_allocate_exception")));

namespace {

// What the operator asked for, once more: align 0 is as malloc aligns.
void *
retry(std::size_t n, std::size_t align)
{
	return align == 0 ? nk_malloc(n) : nk_aligned_alloc(align, n);
}

[[noreturn]] void
throw_bad_alloc(std::size_t n)
{
	if (cxx_runtime_probe == nullptr)
		nk_panic("operator new(%zu): out of memory, and the C++ run-time library is not "
		    "loaded where numakeg can reach it: cannot throw std::bad_alloc", n);
	throw std::bad_alloc();
}

}  // namespace

void *
nk_cxx_new_failed(std::size_t n, std::size_t align, bool nothrow)
{
	// No alignment but a power of two is valid: trying again cannot help.
	if ((align & (align - 1)) != 0) {
		if (nothrow)
			return nullptr;
		throw_bad_alloc(n);
	}
	for (;;) {
		std::new_handler handler = nullptr;
		if (cxx_runtime_probe != nullptr)
			handler = std::get_new_handler();
		if (handler == nullptr) {
			if (nothrow)
				return nullptr;
			throw_bad_alloc(n);
		}
		if (nothrow) {
			try {
				handler();
			} catch (const std::bad_alloc &) {
				return nullptr;
			}
		} else {
			handler();
		}
		if (void *p = retry(n, align))
			return p;
	}
}
