/*
 * What every layer shares: assertions, the lock type with its order check,
 * constants, and the export macro.  No layer logic lives here.
 */
#ifndef NK_BASE_H
#define NK_BASE_H

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <sys/rseq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "numakeg.h"

/*
 * Everything declared after this is internal: hidden, so the library reaches
 * its own globals PC-relative instead of through the GOT (the fast paths
 * read several of them).  The public API is declared above, in numakeg.h.
 */
#pragma GCC visibility push(hidden)

#define NK_EXPORT __attribute__((visibility("default")))
#define NK_LIKELY(x)   __builtin_expect(!!(x), 1)
#define NK_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define NK_NOINLINE    __attribute__((noinline))
#define NK_COLD        __attribute__((cold, noinline))
#define NK_CACHELINE   64

#define NK_PAGE_SHIFT  12
#define NK_PAGE_SIZE   ((size_t)1 << NK_PAGE_SHIFT)
#define NK_PAGE_MASK   (NK_PAGE_SIZE - 1)
#define NK_MAX_DOMAINS 64
#define NK_MAX_CPUS    4096

/*
 * Big zero-initialized arrays of which a process start touches little or
 * nothing (the boot arena, tables indexed by zone id, the stats' buffers):
 * in .lbss, which the linker puts after .bss, so the small variables every
 * start writes share a few pages instead of lying scattered between them
 * (each page a start touches is a page fault).
 */
#define NK_BIG_BSS __attribute__((section(".lbss.numakeg")))

/*
 * NK_STATS 1 (the default): the counts that only the statistics read
 * (failures, sleeps, large blocks) and the dumps are compiled in; 0 (CMake's
 * -DNUMAKEG_STATISTICS=OFF): they compile away, to measure what they cost.
 * Statements test it with `if (NK_STATS)`, not #if, so that both builds
 * compile (and warn about) the same code.  The caches' own counts stay in
 * both: they also size buckets and hold zone limits.
 */
#ifndef NK_STATS
#define NK_STATS 1
#endif

#define nk_roundup(x, a)   (((x) + ((a) - 1)) & ~((a) - 1))
#define nk_howmany(x, y)   (((x) + ((y) - 1)) / (y))
#define nk_min(a, b)       ((a) < (b) ? (a) : (b))
#define nk_max(a, b)       ((a) > (b) ? (a) : (b))

/*
 * buf = prefix followed by n in decimal, cut to fit cap (cap >= 1): the
 * names of the zones made at every process start, where snprintf cost
 * more than the zones themselves.
 */
static inline void
nk_name_number(char *buf, size_t cap, const char *prefix, unsigned n)
{
	char digits[10];
	int nd = 0;
	do {
		digits[nd++] = (char)('0' + n % 10);
		n /= 10;
	} while (n != 0);
	size_t at = 0;
	while (*prefix != '\0' && at + 1 < cap)
		buf[at++] = *prefix++;
	while (nd > 0 && at + 1 < cap)
		buf[at++] = digits[--nd];
	buf[at] = '\0';
}

/* Reports through write(2) only: these run where malloc may be broken. */
void nk_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void nk_panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* NK_ASSERT is KASSERT: on in Debug builds (NK_DEBUG), gone in Release. */
#ifdef NK_DEBUG
#define NK_ASSERT(cond, ...) do {                                           \
	if (NK_UNLIKELY(!(cond)))                                            \
		nk_panic("assertion \"%s\" failed at %s:%d: %s", #cond,      \
		    __FILE__, __LINE__, nk_assert_msg(__VA_ARGS__));          \
} while (0)
#else
#define NK_ASSERT(cond, ...) do { (void)sizeof(cond); } while (0)
#endif
static inline const char *nk_assert_msg(const char *m) { return m; }

/*
 * Locks carry their rank in the lock order (doc/DESIGN.md, "Lock order"),
 * outermost first.
 * Debug builds record the ranks a thread holds and assert that a lock is
 * only taken while every lock held is of a lower rank, as WITNESS would.
 * The entry keg ranks inside the KVA map: the map allocates its own
 * boundary tags while locked (doc/DESIGN.md, "Lock order").
 */
enum nk_lock_rank {
	NK_RANK_REGISTRY = 1,   /* the zone list, the thread-cache list */
	NK_RANK_PCPU,           /* a CPU's cache region: making it, draining it */
	NK_RANK_ZONE,           /* a zone's limit and sleepers */
	NK_RANK_DEPOT,          /* a zone's per-domain bucket depot */
	NK_RANK_KEG,            /* a keg's per-domain slab lists */
	NK_RANK_PAGE,           /* a domain's page lists */
	NK_RANK_KVA,            /* a domain's address-space map */
	NK_RANK_ENTRY_KEG,      /* the keg of the map's own boundary tags */
	NK_RANK_MAX
};

typedef struct nk_lock {
	pthread_mutex_t mtx;
	uint8_t rank;
	pid_t owner;            /* thread id of the holder, for "held by me" checks */
} nk_lock_t;

void nk_lock_init(nk_lock_t *lk, enum nk_lock_rank rank);
void nk_lock(nk_lock_t *lk);
bool nk_trylock(nk_lock_t *lk);
void nk_unlock(nk_lock_t *lk);
bool nk_lock_owned(const nk_lock_t *lk);
pid_t nk_gettid(void);
/* fork() gives the child a new tid; the cached one must go (in the child). */
void nk_lock_forget_tid(void);
/* After fork() in the child: the lock is free and owned by no one. */
void nk_lock_reinit(nk_lock_t *lk);
#define NK_LOCK_ASSERT_OWNED(lk) NK_ASSERT(nk_lock_owned(lk), "lock not held")

/* A monotonic clock in nanoseconds, cheap (vDSO, coarse). */
uint64_t nk_now_ns(void);
/* 64 random bits for the start-up's cookies: one getrandom call serves
 * several (start-up only: the starting thread, no lock). */
uint64_t nk_random_u64(void);

/* Options read from the environment once, at start-up (options.c). */
enum { NK_STATS_OFF, NK_STATS_TEXT, NK_STATS_JSON };
enum { NK_POLICY_FIRSTTOUCH, NK_POLICY_ROUNDROBIN, NK_POLICY_INTERLEAVE, NK_POLICY_BIND };
struct nk_options {
	int fake_domains;          /* NUMAKEG_FAKE_DOMAINS, 0: real topology */
	int debug;                 /* NUMAKEG_DEBUG */
	int stats;                 /* NUMAKEG_STATS: NK_STATS_OFF, _TEXT or _JSON */
	bool stats_full;           /* NUMAKEG_STATS=text:full: the per-class detail too */
	int stats_signal;          /* NUMAKEG_STATS_SIGNAL: a live dump on it, 0: none */
	uint32_t stats_interval_s; /* NUMAKEG_STATS_INTERVAL: a live dump this often, 0: none */
	int stats_placement;       /* NUMAKEG_STATS_PLACEMENT: check pages with move_pages */
	const char *stats_file;    /* NUMAKEG_STATS_FILE */
	const char *domain_limit;  /* NUMAKEG_DOMAIN_LIMIT, checked, canonical (D:BYTES,...) */
	const char *policy;        /* NUMAKEG_POLICY, checked, canonical (bind:D) */
	/* What the two say, by numakeg's domain index, once the topology is known: */
	uint64_t limit[NK_MAX_DOMAINS];  /* bytes a domain may hold, 0: no limit */
	int policy_kind;           /* NK_POLICY_* */
	int policy_bind;           /* NK_POLICY_BIND: the domain */
	const char *kva_window;    /* NUMAKEG_KVA_WINDOW, checked and capped; read by kva.c */
	uint64_t dirty_max;        /* NUMAKEG_DIRTY_MAX: freed pages kept per domain */
	uint64_t decay_ms;         /* NUMAKEG_DECAY_MS: dirty pages older go back */
	uint64_t trim_ms;          /* NUMAKEG_TRIM_MS: how often depots are trimmed */
	int secure;                /* NUMAKEG_SECURE: guard pages, random order, free checks */
	bool cache_cpu;            /* NUMAKEG_CACHE: per-CPU caches where rseq allows (else per thread) */
};
extern struct nk_options nk_opt;
/* Reads and checks the environment without malloc: getenv() is safe at start-up. */
void nk_options_init(void);
/* getenv() for a NUMAKEG_ variable at start-up: NULL at once when the
 * environment has none (nk_options_init looked). */
const char *nk_getenv(const char *name);
/*
 * Once the topology is known: checks the variables that name domains and
 * rewrites them with numakeg's domain indexes (nodeN becomes its index).
 */
void nk_options_domains(int ndomains, const int *os_node, bool fake);
/* "64M", "1G", "4096": bytes, or UINT64_MAX on a malformed value. */
uint64_t nk_parse_size(const char *s, const char **end);

/* Failure injection for tests: the next N page commits succeed, then one fails. */
extern int nk_inject_commit_failure_after;

#endif /* NK_BASE_H */
