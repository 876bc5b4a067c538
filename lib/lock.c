/*
 * Locks with their lock-order check, reporting that does not allocate, the
 * options table and the clock: the plumbing below every layer.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "nk_base.h"

struct nk_options nk_opt;
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

/* fork() gives the child a new tid; the cached one must go. */
void nk_lock_forget_tid(void);
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

uint64_t
nk_parse_size(const char *s, const char **end)
{
	uint64_t v = 0;
	const char *p = s;
	if (*p < '0' || *p > '9')
		return UINT64_MAX;
	while (*p >= '0' && *p <= '9') {
		if (v > UINT64_MAX / 10)
			return UINT64_MAX;
		v = v * 10 + (uint64_t)(*p++ - '0');
	}
	int shift = 0;
	switch (*p) {
	case 'k': case 'K': shift = 10; p++; break;
	case 'm': case 'M': shift = 20; p++; break;
	case 'g': case 'G': shift = 30; p++; break;
	case 't': case 'T': shift = 40; p++; break;
	default: break;
	}
	if (shift && (*p == 'b' || *p == 'B'))
		p++;
	if (shift && v > (UINT64_MAX >> shift))
		return UINT64_MAX;
	if (end)
		*end = p;
	return v << shift;
}

static uint64_t
nk_env_size(const char *name, uint64_t dflt)
{
	const char *s = getenv(name);
	if (s == NULL || *s == '\0')
		return dflt;
	const char *end;
	uint64_t v = nk_parse_size(s, &end);
	if (v == UINT64_MAX || *end != '\0') {
		nk_msg("ignoring %s=%s: not a size", name, s);
		return dflt;
	}
	return v;
}

static const char *
nk_env_copy(const char *name, char *buf, size_t len)
{
	const char *s = getenv(name);
	if (s == NULL)
		return NULL;
	if (strlen(s) >= len) {
		nk_msg("ignoring %s: longer than %zu characters", name, len - 1);
		return NULL;
	}
	memcpy(buf, s, strlen(s) + 1);
	return buf;
}

void
nk_options_init(void)
{
	const char *s;

	nk_opt.fake_domains = 0;
	if ((s = getenv("NUMAKEG_FAKE_DOMAINS")) != NULL && *s) {
		long n = strtol(s, NULL, 10);
		if (n < 1 || n > NK_MAX_DOMAINS)
			nk_msg("ignoring NUMAKEG_FAKE_DOMAINS=%s: want 1..%d", s, NK_MAX_DOMAINS);
		else
			nk_opt.fake_domains = (int)n;
	}
	s = getenv("NUMAKEG_DEBUG");
	nk_opt.debug = (s != NULL && *s && *s != '0');
#ifdef NK_DEBUG
	nk_opt.debug = !(s != NULL && *s == '0');
#endif
	nk_opt.stats = 0;
	if ((s = getenv("NUMAKEG_STATS")) != NULL && *s && strcmp(s, "0") != 0)
		nk_opt.stats = strcmp(s, "json") == 0 ? 2 : 1;
	/*
	 * Copies, not getenv()'s pointers: programs such as redis-server write
	 * their process title over the environment, and the stats file name
	 * is read again at exit.
	 */
	static char stats_file[512], domain_limit[512], policy[64];
	nk_opt.stats_file = nk_env_copy("NUMAKEG_STATS_FILE", stats_file, sizeof(stats_file));
	nk_opt.domain_limit = nk_env_copy("NUMAKEG_DOMAIN_LIMIT", domain_limit, sizeof(domain_limit));
	nk_opt.policy = nk_env_copy("NUMAKEG_POLICY", policy, sizeof(policy));
	nk_opt.dirty_max = nk_env_size("NUMAKEG_DIRTY_MAX", 64u << 20);
	nk_opt.decay_ms = nk_env_size("NUMAKEG_DECAY_MS", 1000);
	nk_opt.trim_ms = nk_env_size("NUMAKEG_TRIM_MS", 1000);
	nk_opt.secure = (s = getenv("NUMAKEG_SECURE")) != NULL && *s && strcmp(s, "0") != 0;
}
