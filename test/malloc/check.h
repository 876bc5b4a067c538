/*
 * The small harness the malloc tests share: CHECK() counts and prints a
 * failed condition and goes on; nkt_done() turns the count into the exit
 * status.  nkt_death() runs a function in a forked child whose stderr goes
 * to a pipe, and reports how the child ended and what it printed.
 *
 * These binaries link numakeg_static, so malloc/free/... ARE numakeg here.
 */
#ifndef NK_TEST_CHECK_H
#define NK_TEST_CHECK_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "numakeg.h"

static int nkt_failures;
#ifndef NKT_MAX_FAILURES
#define NKT_MAX_FAILURES 100
#endif

#define CHECK(cond, ...) do {                                               \
	if (!(cond)) {                                                       \
		nkt_failures++;                                              \
		fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__,       \
		    __LINE__, #cond);                                        \
		fprintf(stderr, __VA_ARGS__);                                \
		fputc('\n', stderr);                                         \
		if (nkt_failures >= NKT_MAX_FAILURES) {                                   \
			fprintf(stderr, "too many failures, giving up\n");   \
			exit(1);                                             \
		}                                                            \
	}                                                                    \
} while (0)

static inline int nkt_done(const char *name)
{
	if (nkt_failures) {
		fprintf(stderr, "FAIL %s: %d check(s) failed\n", name, nkt_failures);
		return 1;
	}
	fprintf(stderr, "PASS %s\n", name);
	return 0;
}

/* Hides a pointer's origin from the compiler (no -Wfree-nonheap-object,
 * no -Wuse-after-free, no folding of what it points at). */
static inline void *nkt_launder(void *p)
{
	__asm__ volatile("" : "+r"(p) : : "memory");
	return p;
}

static inline size_t nkt_hide_size(size_t n)
{
	__asm__ volatile("" : "+r"(n));
	return n;
}

/* The byte a block with this seed holds at offset i. */
static inline unsigned char nkt_pat(uint64_t seed, size_t i)
{
	return (unsigned char)(((seed + i) * 0x9E3779B97F4A7C15ull) >> 56);
}

static inline void nkt_fill(void *p, size_t n, uint64_t seed)
{
	unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		c[i] = nkt_pat(seed, i);
}

/* Offset of the first byte in [0, n) that is wrong, or (size_t)-1. */
static inline size_t nkt_verify(const void *p, size_t n, uint64_t seed)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		if (c[i] != nkt_pat(seed, i))
			return i;
	return (size_t)-1;
}

static inline int nkt_is_zero(const void *p, size_t n)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		if (c[i])
			return 0;
	return 1;
}

static inline uint64_t nkt_rand(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* ---- death tests -------------------------------------------------------- */

struct nkt_death {
	int exited, status;      /* exited normally with this status */
	int signaled, sig;       /* killed by this signal */
	char out[16384];         /* what the child wrote to stderr */
};

/*
 * Runs fn(arg) in a child; its stderr goes to a pipe the parent reads.  The
 * child gets 30 s (SIGALRM after that), no core file, and if fn returns it
 * prints "<<fn returned>>" and exits 0.
 */
static inline void nkt_death(void (*fn)(void *), void *arg, struct nkt_death *d)
{
	int fds[2];
	memset(d, 0, sizeof(*d));
	fflush(stdout);
	fflush(stderr);
	if (pipe(fds) != 0) {
		perror("pipe");
		exit(2);
	}
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(2);
	}
	if (pid == 0) {
		struct rlimit rl = { 0, 0 };
		setrlimit(RLIMIT_CORE, &rl);
		close(fds[0]);
		dup2(fds[1], 2);
		close(fds[1]);
		signal(SIGABRT, SIG_DFL);
		alarm(30);
		fn(arg);
		static const char msg[] = "<<fn returned>>\n";
		(void)!write(2, msg, sizeof(msg) - 1);
		_exit(0);
	}
	close(fds[1]);
	size_t len = 0;
	for (;;) {
		ssize_t r = read(fds[0], d->out + len, sizeof(d->out) - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
		if (len == sizeof(d->out) - 1) {
			char sink[4096];   /* keep draining so the child never blocks */
			while (read(fds[0], sink, sizeof(sink)) > 0)
				;
			break;
		}
	}
	d->out[len] = '\0';
	close(fds[0]);
	if (getenv("NKT_VERBOSE"))      /* show what each child printed */
		fprintf(stderr, "[child stderr]\n%s[end]\n", d->out);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(st)) {
		d->exited = 1;
		d->status = WEXITSTATUS(st);
	} else if (WIFSIGNALED(st)) {
		d->signaled = 1;
		d->sig = WTERMSIG(st);
	}
}

static inline const char *nkt_death_how(const struct nkt_death *d, char *buf, size_t n)
{
	if (d->exited)
		snprintf(buf, n, "exited with status %d", d->status);
	else if (d->signaled)
		snprintf(buf, n, "killed by signal %d (%s)", d->sig, strsignal(d->sig));
	else
		snprintf(buf, n, "ended in an unknown way");
	return buf;
}

/* Waits for pid at most secs seconds; kills it (SIGKILL) after that.
 * Returns the wait status, or -1 when it had to be killed. */
static inline int nkt_wait_timeout(pid_t pid, int secs)
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

#endif /* NK_TEST_CHECK_H */
