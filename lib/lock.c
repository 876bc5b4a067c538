/*
 * Locks with their lock-order check, reporting that does not allocate and
 * the clock: the plumbing below every layer (the options are in options.c).
 * Layering: lock.c calls only the C library and the kernel; every layer may
 * call it, and it knows none of them.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "nk_base.h"

int nk_inject_commit_failure_after = -1;

static __thread pid_t nk_tls_tid;
/*
 * The locks this thread holds, innermost last, so that nk_panic can let go
 * of them: an abort handler that calls malloc must find them free, not
 * deadlock on a lock its own thread took before the report.
 */
#define NK_HELD_MAX 16
static __thread nk_lock_t *nk_tls_held[NK_HELD_MAX];
static __thread unsigned nk_tls_nheld;
#ifdef NK_DEBUG
/* Bit r set: this thread holds a lock of rank r (WITNESS, in miniature). */
static __thread uint32_t nk_tls_held_ranks;
#endif

pid_t
nk_gettid(void)
{
	if (NK_UNLIKELY(nk_tls_tid == 0))
		nk_tls_tid = (pid_t)syscall(SYS_gettid);
	return nk_tls_tid;
}

void
nk_lock_forget_tid(void)
{
	nk_tls_tid = 0;
}

static void
nk_vmsg(const char *fmt, va_list ap)
{
	char buf[512];
	int n = snprintf(buf, sizeof(buf) - 1, "numakeg: ");
	int m = vsnprintf(buf + n, sizeof(buf) - 1 - (size_t)n, fmt, ap);
	if (m < 0)
		m = 0;
	size_t len = nk_min((size_t)n + (size_t)m, sizeof(buf) - 2);
	buf[len++] = '\n';
	ssize_t w = write(STDERR_FILENO, buf, len);
	(void)w;
}

void
nk_msg(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	nk_vmsg(fmt, ap);
	va_end(ap);
}

static void nk_lock_release_all(void);

void
nk_panic(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	nk_vmsg(fmt, ap);
	va_end(ap);
	nk_lock_release_all();
	abort();
}

/*
 * Adaptive mutexes spin a while before sleeping: numakeg's critical sections
 * are a few list operations, and a futex sleep costs more than the wait.
 */
static void
nk_mutex_init(pthread_mutex_t *m)
{
	pthread_mutexattr_t attr;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
	pthread_mutex_init(m, &attr);
	pthread_mutexattr_destroy(&attr);
}

void
nk_lock_init(nk_lock_t *lk, enum nk_lock_rank rank)
{
	nk_mutex_init(&lk->mtx);
	lk->rank = (uint8_t)rank;
	lk->owner = 0;
}

void
nk_lock_reinit(nk_lock_t *lk)
{
	nk_mutex_init(&lk->mtx);
	lk->owner = 0;
}

static inline void
nk_lock_note_acquire(nk_lock_t *lk)
{
	lk->owner = nk_gettid();
	if (NK_LIKELY(nk_tls_nheld < NK_HELD_MAX))
		nk_tls_held[nk_tls_nheld] = lk;
	nk_tls_nheld++;
#ifdef NK_DEBUG
	nk_tls_held_ranks |= 1u << lk->rank;
#endif
}

static inline void
nk_lock_note_release(nk_lock_t *lk)
{
	unsigned n = nk_min(nk_tls_nheld, (unsigned)NK_HELD_MAX);
	/* Almost always the innermost; out of order only after a trylock. */
	for (unsigned i = n; i-- > 0;)
		if (nk_tls_held[i] == lk) {
			memmove(&nk_tls_held[i], &nk_tls_held[i + 1], (n - 1 - i) * sizeof(lk));
			break;
		}
	if (nk_tls_nheld > 0)
		nk_tls_nheld--;
}

/* nk_panic: every lock this thread holds is let go (what it guards may be
 * half-changed, but the process is about to abort). */
static void
nk_lock_release_all(void)
{
	unsigned n = nk_min(nk_tls_nheld, (unsigned)NK_HELD_MAX);
	while (n > 0) {
		nk_lock_t *lk = nk_tls_held[--n];
		lk->owner = 0;
		pthread_mutex_unlock(&lk->mtx);
	}
	nk_tls_nheld = 0;
#ifdef NK_DEBUG
	nk_tls_held_ranks = 0;
#endif
}

void
nk_lock(nk_lock_t *lk)
{
#ifdef NK_DEBUG
	/* Every lock held must rank outside this one. */
	if ((nk_tls_held_ranks >> lk->rank) != 0)
		nk_panic("lock order violation: taking rank %d while holding ranks 0x%x",
		    lk->rank, nk_tls_held_ranks);
#endif
	pthread_mutex_lock(&lk->mtx);
	nk_lock_note_acquire(lk);
}

bool
nk_trylock(nk_lock_t *lk)
{
	/* A trylock cannot deadlock, so it may be taken out of order. */
	if (pthread_mutex_trylock(&lk->mtx) != 0)
		return false;
	nk_lock_note_acquire(lk);
	return true;
}

void
nk_unlock(nk_lock_t *lk)
{
	NK_ASSERT(lk->owner == nk_gettid(), "unlock of a lock this thread does not hold");
	lk->owner = 0;
	nk_lock_note_release(lk);
#ifdef NK_DEBUG
	nk_tls_held_ranks &= ~(1u << lk->rank);
#endif
	pthread_mutex_unlock(&lk->mtx);
}

bool
nk_lock_owned(const nk_lock_t *lk)
{
	return __atomic_load_n(&lk->owner, __ATOMIC_RELAXED) == nk_gettid();
}

uint64_t
nk_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * The start-up's secrets (the slab canary's cookie, the free mark's) from
 * one getrandom call, not one each: a process start makes as few system
 * calls as it can.  Start-up runs on one thread; no lock.
 */
#define NK_BOOT_RANDOM_WORDS 4
static uint64_t nk_boot_random[NK_BOOT_RANDOM_WORDS];
static unsigned nk_boot_random_left;

uint64_t
nk_random_u64(void)
{
	if (nk_boot_random_left == 0) {
		if (getrandom(nk_boot_random, sizeof(nk_boot_random), GRND_NONBLOCK) !=
		    (ssize_t)sizeof(nk_boot_random)) {
			/* No entropy yet (early boot): the clock and an address, mixed. */
			uint64_t x = nk_now_ns() ^ (uintptr_t)&nk_boot_random;
			for (unsigned i = 0; i < NK_BOOT_RANDOM_WORDS; i++) {
				x += 0x9e3779b97f4a7c15ull;
				uint64_t z = x;
				z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
				z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
				nk_boot_random[i] = z ^ (z >> 31);
			}
		}
		nk_boot_random_left = NK_BOOT_RANDOM_WORDS;
	}
	uint64_t r = nk_boot_random[--nk_boot_random_left];
	nk_boot_random[nk_boot_random_left] = 0;  /* a secret handed out is not kept */
	return r;
}
