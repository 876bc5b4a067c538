/*
 * Start-up and fork: the one place that knows every layer, and calls each
 * in order (jemalloc's malloc_init and jemalloc_fork; mimalloc's init.c).
 *
 * Layering: init.c is the top; it may call every layer and none calls it,
 * except through nk_start(), the one way up (boot.h): the first call into
 * the library starts it.  The orders below are doc/DESIGN.md's "Start-up"
 * and "fork" sections.
 */
#include <sched.h>

#include "boot.h"
#include "large.h"
#include "malloc_int.h"
#include "stats.h"
#include "sys.h"
#include "zone_boot.h"

static pid_t nk_starter;

/*
 * fork(): every lock of numakeg, outermost first (the lock order of
 * nk_base.h), so that no other thread holds one when the child is made;
 * the parent lets them go innermost first; the child re-initializes them
 * and drops what the other threads (gone in the child) were doing.
 */
static void
nk_fork_prepare(void)
{
	malloc_fork_prepare();
	large_fork_prepare();
	zone_fork_prepare();
	page_fork_prepare();
	kva_fork_prepare();
}

static void
nk_fork_parent(void)
{
	kva_fork_parent();
	page_fork_parent();
	zone_fork_parent();
	large_fork_parent();
	malloc_fork_parent();
}

static void
nk_fork_child(void)
{
	nk_lock_forget_tid();
	stats_fork_child();
	kva_fork_child();
	page_fork_child();
	zone_fork_child();
	large_fork_child();
	malloc_fork_child();
}

void
nk_start(void)
{
	int expected = NK_BOOT_NONE;
	if (__atomic_compare_exchange_n(&nk_boot_state, &expected, NK_BOOT_STARTING, false,
	    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		nk_starter = nk_gettid();
		nk_options_init();
		sys_fault_init();
		topo_init();          /* hwloc: its mallocs come from the boot arena */
		malloc_policy_init(); /* NUMAKEG_POLICY names a domain: after the topology */
		kva_init();
		page_init();
		zone_bootstrap();
		malloc_init();        /* the size classes' zones and the large blocks */
		stats_init();
		__atomic_store_n(&nk_boot_state, NK_BOOT_READY, __ATOMIC_RELEASE);
		pthread_atfork(nk_fork_prepare, nk_fork_parent, nk_fork_child);
		sys_fault_arm();
		return;
	}
	if (expected == NK_BOOT_STARTING && nk_starter == nk_gettid())
		return;  /* a nested call while starting: the caller uses the boot arena */
	while (__atomic_load_n(&nk_boot_state, __ATOMIC_ACQUIRE) != NK_BOOT_READY)
		sched_yield();
}

__attribute__((constructor)) static void
nk_constructor(void)
{
	nk_init_once();
}
