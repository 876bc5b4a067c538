/*
 * Before numakeg is ready: the start-up state, the boot arena (UMA's boot
 * pages) and the dynamic loader's address range.  hwloc, libnuma and the
 * dynamic loader call malloc while numakeg is starting: the thread that
 * starts numakeg serves its own nested calls from a bump arena (a small
 * static part, then mapped chunks); other threads wait.  Boot blocks are
 * never reused, and free() of one does nothing (doc/DESIGN.md, "Start-up").
 */
#ifndef NK_BOOT_H
#define NK_BOOT_H

#include "nk_base.h"

enum { NK_BOOT_NONE, NK_BOOT_STARTING, NK_BOOT_READY };
extern int nk_boot_state;

/*
 * Starts numakeg (init.c, the start-up sequence): called by the entry
 * points below when the library is not ready.  This is the one call that
 * goes up, by design: the first call into the library starts it, as
 * jemalloc's malloc_init does.  A nested call from the starting thread
 * returns at once (it is served by the boot arena); other threads wait.
 */
void nk_start(void);

static inline void
nk_init_once(void)
{
	if (NK_UNLIKELY(__atomic_load_n(&nk_boot_state, __ATOMIC_ACQUIRE) != NK_BOOT_READY))
		nk_start();
}

/* Starts numakeg if need be; false while it is starting (use the boot arena). */
static inline bool
nk_ready(void)
{
	nk_init_once();
	return __atomic_load_n(&nk_boot_state, __ATOMIC_ACQUIRE) == NK_BOOT_READY;
}

/*
 * A block of n bytes aligned to align (a power of two) with its size in the
 * 8 bytes before it.  The alignment is of the address, not of the offset in
 * the arena (which is only page aligned), and nothing here can wrap: an
 * alignment or size the arena cannot hold gives NULL with ENOMEM.
 */
void *boot_alloc(size_t n, size_t align);
bool boot_contains(const void *p);
size_t boot_size(const void *p);

/* A pointer the dynamic loader allocated before numakeg took over. */
bool boot_loader_block(const void *p);

#endif /* NK_BOOT_H */
