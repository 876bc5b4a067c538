/*
 * The system-call layer (sys.h).  Owns: how numakeg reserves, commits,
 * purges and binds memory, and the fault injection of NUMAKEG_FAULT.
 * Calls: the kernel, nk_msg.  Nothing above it.
 *
 * The NUMA calls (mbind, move_pages) are made as raw system calls, which is
 * all libnuma's wrappers of them are: numakeg does not load libnuma.
 */
#include <linux/mempolicy.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sys.h"

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

enum sys_call { SYS_MMAP, SYS_MPROTECT, SYS_MADVISE, SYS_NCALLS };
static const char *const sys_call_names[SYS_NCALLS] = { "mmap", "mprotect", "madvise" };

/* Failure odds per call kind, as a 32-bit threshold: fail when rand < it. */
static uint32_t sys_fault_odds[SYS_NCALLS];
static bool sys_fault_armed;
static uint64_t sys_fault_state = 0x9e3779b97f4a7c15ull;
static uint64_t sys_fault_failed;

static bool
sys_fault(enum sys_call call)
{
	if (NK_LIKELY(!sys_fault_armed) || sys_fault_odds[call] == 0)
		return false;
	/* xorshift64*, shared by all threads: races only reshuffle the draws. */
	uint64_t x = __atomic_load_n(&sys_fault_state, __ATOMIC_RELAXED);
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	__atomic_store_n(&sys_fault_state, x, __ATOMIC_RELAXED);
	uint32_t r = (uint32_t)((x * 0x2545f4914f6cdd1dull) >> 32);
	if (r >= sys_fault_odds[call])
		return false;
	__atomic_add_fetch(&sys_fault_failed, 1, __ATOMIC_RELAXED);
	return true;
}

void
sys_fault_init(void)
{
	/* The seed is checked even without NUMAKEG_FAULT: a bad value always warns. */
	const char *seed = nk_getenv("NUMAKEG_FAULT_SEED");
	if (seed != NULL && *seed != '\0') {
		char *end;
		int saved = errno;
		errno = 0;
		unsigned long long v = strtoull(seed, &end, 0);
		bool bad = *seed < '0' || *seed > '9' || *end != '\0' || errno != 0;
		errno = saved;
		if (bad)
			nk_msg("ignoring NUMAKEG_FAULT_SEED=%s: want a number (decimal, or 0x hex) "
			    "below 2^64; using the default seed", seed);
		else
			sys_fault_state = v | 1;
	}
	const char *spec = nk_getenv("NUMAKEG_FAULT");
	if (spec == NULL || *spec == '\0')
		return;
	const char *p = spec;
	while (*p != '\0') {
		size_t namelen = strcspn(p, ":");
		char *end;
		unsigned long a = 0, b = 0;
		int which = -1;
		bool all = namelen == 3 && strncmp(p, "all", 3) == 0;
		for (int c = 0; c < SYS_NCALLS; c++)
			if (strlen(sys_call_names[c]) == namelen && strncmp(p, sys_call_names[c], namelen) == 0)
				which = c;
		if (p[namelen] == ':') {
			a = strtoul(p + namelen + 1, &end, 10);
			if (*end == '/')
				b = strtoul(end + 1, &end, 10);
		}
		if ((which < 0 && !all) || p[namelen] != ':' || b == 0 || a > b ||
		    (*end != ',' && *end != '\0')) {
			nk_msg("ignoring NUMAKEG_FAULT=%s at \"%s\": want CALL:A/B[,...] with CALL "
			    "mmap, mprotect, madvise or all, and A <= B", spec, p);
			memset(sys_fault_odds, 0, sizeof(sys_fault_odds));
			return;
		}
		uint32_t odds = (uint32_t)nk_min((uint64_t)a * ((uint64_t)1 << 32) / b, (uint64_t)UINT32_MAX);
		for (int c = 0; c < SYS_NCALLS; c++)
			if (all || c == which)
				sys_fault_odds[c] = odds;
		p = *end == ',' ? end + 1 : end;
	}
}

void
sys_fault_arm(void)
{
	__atomic_store_n(&sys_fault_armed, true, __ATOMIC_RELEASE);
}

uint64_t
sys_fault_count(void)
{
	return __atomic_load_n(&sys_fault_failed, __ATOMIC_RELAXED);
}

/*
 * At exit, a process that ran with NUMAKEG_FAULT says how many calls failed
 * on purpose: a test that runs a program under it can tell that the
 * injection reached the paths it means to try (test/unit/page/under_fault.sh).
 */
__attribute__((destructor)) static void
sys_fault_report(void)
{
	bool any = false;
	for (int c = 0; c < SYS_NCALLS; c++)
		any |= sys_fault_odds[c] != 0;
	if (any)
		nk_msg("NUMAKEG_FAULT: %llu system calls failed on purpose",
		    (unsigned long long)sys_fault_count());
}

void *
sys_reserve(size_t len, bool meta)
{
	/*
	 * Neither is charged now: a PROT_NONE mapping is not, and a metadata
	 * array is MAP_NORESERVE.  Without MAP_NORESERVE, the arena's pages
	 * are charged when sys_commit makes them writable.
	 */
	void *p = meta ? mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
	               : mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void
sys_unreserve(void *addr, size_t len)
{
	(void)munmap(addr, len);
}

/* mprotect through the fault injection: 0, or ENOMEM. */
static int
sys_protect(void *addr, size_t len, int prot)
{
	if (sys_fault(SYS_MPROTECT))
		return ENOMEM;
	return mprotect(addr, len, prot) == 0 ? 0 : ENOMEM;
}

int
sys_commit(void *addr, size_t len)
{
	/*
	 * PROT_NONE to read-write on a mapping made without MAP_NORESERVE is
	 * what the kernel charges and counts: the overcommit policy (under the
	 * heuristic one, a request larger than memory and swap fails here) and
	 * RLIMIT_DATA both apply now, not at a later page fault.  (mmap with
	 * MAP_FIXED over the reservation would skip the RLIMIT_DATA check: the
	 * pages it replaces are counted as given back.)
	 */
	return sys_protect(addr, len, PROT_READ | PROT_WRITE);
}

void *
sys_map_private(size_t len)
{
	if (sys_fault(SYS_MMAP))
		return NULL;
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

int
sys_guard(void *addr, size_t len)
{
	return sys_protect(addr, len, PROT_NONE);
}

int
sys_unguard(void *addr, size_t len)
{
	return sys_protect(addr, len, PROT_READ | PROT_WRITE);
}

/* Replaces committed pages by fresh ones (zero, unlocked), charged anew. */
static int
sys_replace(void *addr, size_t len, int node)
{
	if (sys_fault(SYS_MMAP))
		return ENOMEM;
	void *p = mmap(addr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (p == MAP_FAILED)
		return ENOMEM;
	NK_ASSERT(p == addr, "MAP_FIXED moved the mapping");
	/* The new mapping has the default policy: the window's is restated. */
	if (node >= 0 && sys_bind_node(addr, len, node) != 0)
		nk_msg("mbind of [%p, +%zu) to node %d failed: %s", addr, len, node, strerror(errno));
	return 0;
}

int
sys_commit_meta(void *addr, size_t len)
{
	if (sys_fault(SYS_MPROTECT))
		return ENOMEM;
	return mprotect(addr, len, PROT_READ | PROT_WRITE) == 0 ? 0 : ENOMEM;
}

void
sys_purge(void *addr, size_t len, int node)
{
	if (!sys_fault(SYS_MADVISE) && madvise(addr, len, MADV_DONTNEED) == 0)
		return;
	/*
	 * madvise refuses locked pages (mlock, mlockall): replace the range by
	 * fresh zero pages, which also gives the old ones back.  If even that
	 * is refused, the pages stay, cleared by hand: a caller is told they
	 * are zero, so they must be.
	 */
	if (sys_replace(addr, len, node) == 0)
		return;
	memset(addr, 0, len);
}

int
sys_move(void *from, size_t len, void *to)
{
	if (sys_fault(SYS_MMAP))
		return ENOMEM;
	/*
	 * MREMAP_DONTUNMAP (Linux 5.7) leaves the source mapped, so no hole
	 * opens in the reservation for another thread's mmap to land in.
	 */
	void *p = mremap(from, len, len, MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, to);
	if (p == MAP_FAILED)
		return errno;
	NK_ASSERT(p == to, "MREMAP_FIXED moved the pages elsewhere");
	return 0;
}

int
sys_populate(void *addr, size_t len)
{
	if (nk_inject_commit_failure_after >= 0) {
		if (nk_inject_commit_failure_after == 0)
			return ENOMEM;
		nk_inject_commit_failure_after--;
	}
	if (sys_fault(SYS_MADVISE))
		return ENOMEM;
	if (madvise(addr, len, MADV_POPULATE_WRITE) == 0)
		return 0;
	if (errno != EINVAL)
		return ENOMEM;
	/* Kernels before 5.14: touch each page. */
	for (char *p = addr; p < (char *)addr + len; p += NK_PAGE_SIZE)
		*(volatile char *)p = 0;
	return 0;
}

int
sys_bind_node(void *addr, size_t len, int node)
{
	unsigned long mask[NK_MAX_DOMAINS / 64 + 16] = { 0 };
	if (node < 0 || (size_t)node >= sizeof(mask) * 8)
		return EINVAL;
	mask[node / 64] |= 1ul << (node % 64);
	/* maxnode as libnuma's mbind() passes it: the mask's size in bits. */
	return syscall(SYS_mbind, addr, (unsigned long)len, (unsigned long)MPOL_PREFERRED, mask,
	    (unsigned long)(sizeof(mask) * 8), 0ul) == 0 ? 0 : errno;
}

int
sys_allowed_nodes(void)
{
	/* The kernel's node masks have at most 1024 bits (NODES_SHIFT <= 10);
	 * a smaller buffer than its node count is refused (EINVAL). */
	unsigned long mask[1024 / 64] = { 0 };
	if (syscall(SYS_get_mempolicy, NULL, mask, (unsigned long)(sizeof(mask) * 8), NULL,
	    (unsigned long)MPOL_F_MEMS_ALLOWED) != 0)
		return errno == ENOSYS ? 1 : -1;
	int n = 0;
	for (size_t i = 0; i < sizeof(mask) / sizeof(mask[0]); i++)
		n += __builtin_popcountl(mask[i]);
	return n;
}

long
sys_move_pages(int pid, unsigned long count, void **pages, const int *nodes, int *status, int flags)
{
	return syscall(SYS_move_pages, pid, count, pages, nodes, status, flags);
}
