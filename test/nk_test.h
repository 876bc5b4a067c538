/* A check macro and helpers for the engine's unit tests. */
#ifndef NK_TEST_H
#define NK_TEST_H

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "numakeg.h"

static int nk_test_failures;

#define CHECK(cond, ...) do {                                              \
	if (!(cond)) {                                                     \
		fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
		fprintf(stderr, __VA_ARGS__);                               \
		fputc('\n', stderr);                                        \
		nk_test_failures++;                                         \
	}                                                                  \
} while (0)

/* Evaluates cond once: it may allocate. */
#define REQUIRE(cond, ...) do {                                            \
	int nk_before_ = nk_test_failures;                                 \
	CHECK(cond, __VA_ARGS__);                                          \
	if (nk_test_failures != nk_before_)                                \
		exit(1);                                                   \
} while (0)

static inline int
nk_test_done(const char *name)
{
	if (nk_test_failures) {
		fprintf(stderr, "%s: %d check(s) failed\n", name, nk_test_failures);
		return 1;
	}
	printf("%s: all checks passed\n", name);
	return 0;
}

/* Runs fn in a child; returns the signal that ended it (0: exited), and its stderr. */
static inline int
nk_test_in_child(void (*fn)(void), char *err, size_t errlen)
{
	int pfd[2];
	if (pipe(pfd) != 0)
		return -1;
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(pfd[1], 2);
		close(pfd[0]);
		fn();
		_exit(0);
	}
	close(pfd[1]);
	size_t have = 0;
	ssize_t r;
	while (have + 1 < errlen && (r = read(pfd[0], err + have, errlen - 1 - have)) > 0)
		have += (size_t)r;
	err[have] = '\0';
	close(pfd[0]);
	int st;
	waitpid(pid, &st, 0);
	return WIFSIGNALED(st) ? WTERMSIG(st) : 0;
}

#endif
