/*
 * The one harness of numakeg's C and C++ tests (doc/DESIGN.md, "Tests").
 *
 * Checks: CHECK(cond, fmt, ...) counts and prints a failed condition with
 * its file:line and goes on; CHECK_EQ/NE/LT/LE/GT/GE(a, b) compare two
 * integers or pointers, each evaluated once, and print both values;
 * REQUIRE(cond, fmt, ...) is a CHECK that ends the program when it fails;
 * FAIL(fmt, ...) ends it at once.  The count is atomic: threads may check.
 * After NKT_MAX_FAILURES failures the program gives up.  main() returns
 * nkt_done(name), which prints "PASS name" or "FAIL name: N check(s)
 * failed" and gives the exit status.
 *
 * Skips: nkt_skip(fmt, ...) prints "SKIPPED: reason" and exits 77, the
 * SKIP_RETURN_CODE of the tests that may skip.
 *
 * Children: nkt_run_child(fn, arg, &child) runs fn(arg) in a forked child
 * (30 s at most, no core file) and keeps how it ended and what it wrote to
 * stdout and stderr; CHECK_CHILD_EXIT, CHECK_CHILD_SIGNAL and
 * CHECK_CHILD_SAYS check the exit status, the signal and the text.
 * nkt_wait_timeout() waits for a child a test forked itself.
 *
 * Helpers: nkt_launder/nkt_hide_size hide values from the optimizer;
 * nkt_fill/nkt_verify write and check a seeded byte pattern; nkt_is_zero;
 * nkt_rand, a xorshift generator.
 *
 * Header only, C11 or C++, for programs linked with numakeg or not: it
 * calls only the C library (a test includes numakeg.h itself).
 */
#ifndef NK_TEST_H
#define NK_TEST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef NKT_MAX_FAILURES
#define NKT_MAX_FAILURES 100
#endif

/* The failed checks so far (atomic: checks may run in several threads). */
static int nkt_failures;

static inline int
nkt_failed(void)
{
	return __atomic_load_n(&nkt_failures, __ATOMIC_RELAXED);
}

/* Ends the program now, stdio flushed, no exit handlers (other threads
 * may still be running). */
__attribute__((noreturn)) static inline void
nkt_die(void)
{
	fflush(NULL);
	_exit(1);
}

/* Prints one failure as a single write, so threads' lines do not mix. */
__attribute__((format(printf, 4, 0))) static inline void
nkt_vreport(const char *file, int line, const char *what, const char *fmt, va_list ap)
{
	char msg[4096];
	int n = snprintf(msg, sizeof(msg), "%s:%d: %s", file, line, what);
	if (n >= 0 && (size_t)n < sizeof(msg) && fmt != NULL)
		vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	fprintf(stderr, "%s\n", msg);
}

/* Counts one failure; gives up after NKT_MAX_FAILURES of them. */
static inline void
nkt_count_failure(void)
{
	int n = __atomic_add_fetch(&nkt_failures, 1, __ATOMIC_RELAXED);
	if (n == NKT_MAX_FAILURES) {
		fprintf(stderr, "%d failed checks: giving up\n", n);
		nkt_die();
	}
}

__attribute__((format(printf, 4, 5))) static inline void
nkt_check_failed(const char *file, int line, const char *cond, const char *fmt, ...)
{
	char what[1024];
	snprintf(what, sizeof(what), "CHECK(%s) failed: ", cond);
	va_list ap;
	va_start(ap, fmt);
	nkt_vreport(file, line, what, fmt, ap);
	va_end(ap);
	nkt_count_failure();
}

static inline void
nkt_cmp_failed(const char *file, int line, const char *cmp, long long a, long long b)
{
	fprintf(stderr, "%s:%d: CHECK(%s) failed: %lld (%#llx) vs %lld (%#llx)\n", file, line,
	    cmp, a, (unsigned long long)a, b, (unsigned long long)b);
	nkt_count_failure();
}

__attribute__((noreturn, format(printf, 3, 4))) static inline void
nkt_fatal(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	nkt_vreport(file, line, "FATAL: ", fmt, ap);
	va_end(ap);
	nkt_die();
}

#define CHECK(cond, ...) do {                                                \
	if (!(cond))                                                          \
		nkt_check_failed(__FILE__, __LINE__, #cond, __VA_ARGS__);     \
} while (0)

/* A CHECK that ends the program when it fails.  Evaluates cond once. */
#define REQUIRE(cond, ...) do {                                              \
	if (!(cond)) {                                                        \
		nkt_check_failed(__FILE__, __LINE__, #cond, __VA_ARGS__);     \
		nkt_die();                                                    \
	}                                                                     \
} while (0)

#define FAIL(...) nkt_fatal(__FILE__, __LINE__, __VA_ARGS__)

/* Integers or pointers, each side evaluated once, both printed. */
#define NKT_CHECK_CMP(a, op, b) do {                                         \
	__typeof__(a) nkt_a_ = (a);                                           \
	__typeof__(b) nkt_b_ = (b);                                           \
	if (!(nkt_a_ op nkt_b_))                                              \
		nkt_cmp_failed(__FILE__, __LINE__, #a " " #op " " #b,         \
		    (long long)nkt_a_, (long long)nkt_b_);                    \
} while (0)
#define CHECK_EQ(a, b) NKT_CHECK_CMP(a, ==, b)
#define CHECK_NE(a, b) NKT_CHECK_CMP(a, !=, b)
#define CHECK_LT(a, b) NKT_CHECK_CMP(a, <, b)
#define CHECK_LE(a, b) NKT_CHECK_CMP(a, <=, b)
#define CHECK_GT(a, b) NKT_CHECK_CMP(a, >, b)
#define CHECK_GE(a, b) NKT_CHECK_CMP(a, >=, b)

/* main's return value: 0 when every check passed. */
static inline int
nkt_done(const char *name)
{
	int n = nkt_failed();
	if (n) {
		fprintf(stderr, "FAIL %s: %d check(s) failed\n", name, n);
		return 1;
	}
	fprintf(stderr, "PASS %s\n", name);
	return 0;
}

/* The test cannot run here: ctest counts it as skipped (SKIP_RETURN_CODE 77). */
__attribute__((noreturn, format(printf, 1, 2))) static inline void
nkt_skip(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("SKIPPED: ", stdout);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(NULL);
	exit(77);
}

/* ---- children ------------------------------------------------------------ */

struct nkt_child {
	int exited, status;      /* exited normally with this status */
	int signaled, sig;       /* killed by this signal */
	char out[16384];         /* what it wrote to stdout and stderr */
};

/*
 * Runs fn(arg) in a child whose stdout and stderr go to a pipe the parent
 * reads.  The child gets 30 s (SIGALRM after that), no core file, the
 * default SIGABRT action; if fn returns it prints "<<fn returned>>" and
 * exits 0.
 */
static inline void
nkt_run_child(void (*fn)(void *), void *arg, struct nkt_child *c)
{
	int fds[2];
	memset(c, 0, sizeof(*c));
	fflush(NULL);
	if (pipe(fds) != 0)
		FAIL("pipe: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0)
		FAIL("fork: %s", strerror(errno));
	if (pid == 0) {
		struct rlimit rl;
		rl.rlim_cur = rl.rlim_max = 0;
		setrlimit(RLIMIT_CORE, &rl);
		close(fds[0]);
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		close(fds[1]);
		signal(SIGABRT, SIG_DFL);
		alarm(30);
		fn(arg);
		static const char msg[] = "<<fn returned>>\n";
		fflush(NULL);
		(void)!write(2, msg, sizeof(msg) - 1);
		_exit(0);
	}
	close(fds[1]);
	size_t len = 0;
	for (;;) {
		ssize_t r = read(fds[0], c->out + len, sizeof(c->out) - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
		if (len == sizeof(c->out) - 1) {
			char sink[4096];   /* keep draining so the child never blocks */
			while (read(fds[0], sink, sizeof(sink)) > 0)
				;
			break;
		}
	}
	c->out[len] = '\0';
	close(fds[0]);
	if (getenv("NKT_VERBOSE"))      /* show what each child printed */
		fprintf(stderr, "[child output]\n%s[end]\n", c->out);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(st)) {
		c->exited = 1;
		c->status = WEXITSTATUS(st);
	} else if (WIFSIGNALED(st)) {
		c->signaled = 1;
		c->sig = WTERMSIG(st);
	}
}

/* "exited with status N", "killed by signal N (name)". */
static inline const char *
nkt_child_how(const struct nkt_child *c, char *buf, size_t n)
{
	if (c->exited)
		snprintf(buf, n, "exited with status %d", c->status);
	else if (c->signaled)
		snprintf(buf, n, "killed by signal %d (%s)", c->sig, strsignal(c->sig));
	else
		snprintf(buf, n, "ended in an unknown way");
	return buf;
}

/* One check of a child: sig > 0: killed by sig; sig == 0: exited with
 * status; text != NULL: its output holds text.  1 when it passed. */
static inline int
nkt_check_child(const char *file, int line, const struct nkt_child *c, int sig, int status,
    const char *text, const char *what)
{
	char how[128], want[128];
	int ok;
	if (text != NULL) {
		ok = strstr(c->out, text) != NULL;
		snprintf(want, sizeof(want), "\"%s\" in its output", text);
	} else if (sig > 0) {
		ok = c->signaled && c->sig == sig;
		snprintf(want, sizeof(want), "killed by signal %d (%s)", sig, strsignal(sig));
	} else {
		ok = c->exited && c->status == status;
		snprintf(want, sizeof(want), "exit status %d", status);
	}
	if (!ok) {
		fprintf(stderr, "%s:%d: %s: the child %s, want %s; it printed:\n%s%s", file, line,
		    what, nkt_child_how(c, how, sizeof(how)), want, c->out,
		    c->out[0] && c->out[strlen(c->out) - 1] != '\n' ? "\n" : "");
		nkt_count_failure();
	}
	return ok;
}

#define CHECK_CHILD_EXIT(c, status, what) \
	nkt_check_child(__FILE__, __LINE__, (c), 0, (status), NULL, (what))
#define CHECK_CHILD_SIGNAL(c, sig, what) \
	nkt_check_child(__FILE__, __LINE__, (c), (sig), 0, NULL, (what))
#define CHECK_CHILD_SAYS(c, text, what) \
	nkt_check_child(__FILE__, __LINE__, (c), 0, 0, (text), (what))

/* Waits for pid at most secs seconds; kills it (SIGKILL) after that.
 * Returns the wait status, -1 when it had to be killed, -2 when waitpid
 * failed. */
static inline int
nkt_wait_timeout(pid_t pid, int secs)
{
	int st;
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	for (int i = 0; i < secs * 100; i++) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return st;
		if (r < 0 && errno != EINTR)
			return -2;
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return -1;
}

/* ---- helpers ------------------------------------------------------------- */

/* Hides a pointer's origin from the compiler (no -Wfree-nonheap-object,
 * no -Wuse-after-free, no folding of what it points at). */
static inline void *
nkt_launder(void *p)
{
	__asm__ volatile("" : "+r"(p) : : "memory");
	return p;
}

static inline size_t
nkt_hide_size(size_t n)
{
	__asm__ volatile("" : "+r"(n));
	return n;
}

/* The byte a block with this seed holds at offset i. */
static inline unsigned char
nkt_pat(uint64_t seed, size_t i)
{
	return (unsigned char)(((seed + i) * 0x9E3779B97F4A7C15ull) >> 56);
}

static inline void
nkt_fill(void *p, size_t n, uint64_t seed)
{
	unsigned char *c = (unsigned char *)p;
	for (size_t i = 0; i < n; i++)
		c[i] = nkt_pat(seed, i);
}

/* Offset of the first byte in [0, n) that is wrong, or (size_t)-1. */
static inline size_t
nkt_verify(const void *p, size_t n, uint64_t seed)
{
	const unsigned char *c = (const unsigned char *)p;
	for (size_t i = 0; i < n; i++)
		if (c[i] != nkt_pat(seed, i))
			return i;
	return (size_t)-1;
}

static inline int
nkt_is_zero(const void *p, size_t n)
{
	const unsigned char *c = (const unsigned char *)p;
	for (size_t i = 0; i < n; i++)
		if (c[i])
			return 0;
	return 1;
}

/* xorshift64: *s must not be 0. */
static inline uint64_t
nkt_rand(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

#endif /* NK_TEST_H */
