/*
 * fork() from a multithreaded process whose threads are busy in malloc
 * and free: the child must find every allocator lock usable, malloc and
 * free from several threads of its own, and exit 0.  A child that hangs
 * (a lock held across fork) is killed after 30 s and counted as a failure.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>

#include "nk_test.h"
#include "numakeg.h"

#define NBUSY   4
#define NFORKS  40

static atomic_int stop;

static void *busy(void *arg)
{
	uint64_t r = (uint64_t)(intptr_t)arg * 7919 + 1;
	void *keep[64] = { 0 };
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		unsigned i = (unsigned)(nkt_rand(&r) % 64);
		size_t n = (size_t)(nkt_rand(&r) % 4096);
		if (nkt_rand(&r) % 50 == 0)
			n = (size_t)(nkt_rand(&r) % (1u << 20));    /* large ones too */
		free(keep[i]);
		keep[i] = (nkt_rand(&r) & 1) ? malloc(n) : nk_malloc(n);
		if (keep[i])
			memset(keep[i], (int)i, n < 64 ? n : 64);
		if (nkt_rand(&r) % 1000 == 0)
			nk_reclaim();
	}
	for (int i = 0; i < 64; i++)
		free(keep[i]);
	return NULL;
}

static atomic_int child_bad;

static void *child_worker(void *arg)
{
	uint64_t r = (uint64_t)(intptr_t)arg + 99;
	void *v[128] = { 0 };
	for (int k = 0; k < 20000; k++) {
		unsigned i = (unsigned)(nkt_rand(&r) % 128);
		if (v[i]) {
			if (((unsigned char *)v[i])[0] != (unsigned char)i)
				atomic_fetch_add(&child_bad, 1);
			free(v[i]);
		}
		size_t n = 1 + (size_t)(nkt_rand(&r) % 2000);
		if (k % 500 == 0)
			n = 200000;
		v[i] = malloc(n);
		if (!v[i] || nk_domain_of(v[i]) < 0) {
			atomic_fetch_add(&child_bad, 1);
			v[i] = NULL;
			continue;
		}
		memset(v[i], (int)i, n);
	}
	for (int i = 0; i < 128; i++)
		free(v[i]);
	return NULL;
}

static int child_main(void)
{
	/* The parent's blocks are still there and freeable. */
	void *p = malloc(1000);
	if (!p)
		return 10;
	memset(p, 1, 1000);
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		if (pthread_create(&t[i], NULL, child_worker, (void *)(intptr_t)i) != 0)
			return 11;
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	free(p);
	if (atomic_load(&child_bad))
		return 12;
	/* A grandchild, forked while single-threaded again. */
	pid_t g = fork();
	if (g == 0) {
		void *q = malloc(50000);
		free(malloc(10));
		free(q);
		_exit(0);
	}
	int st = nkt_wait_timeout(g, 30);
	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return 13;
	return 0;
}

static const char *why(int rc)
{
	switch (rc) {
	case 10: return "malloc(1000) returned NULL in the child";
	case 11: return "pthread_create failed in the child";
	case 12: return "a child thread got NULL, non-numakeg memory or a changed block";
	case 13: return "the grandchild failed or hung";
	case 14: return "the block allocated before fork changed";
	default: return "?";
	}
}

int main(void)
{
	pthread_t t[NBUSY];
	for (int i = 0; i < NBUSY; i++)
		CHECK(pthread_create(&t[i], NULL, busy, (void *)(intptr_t)i) == 0,
		    "pthread_create");
	/* A block allocated before the forks, freed in every child. */
	char *before = malloc(300);
	strcpy(before, "allocated before fork");
	for (int f = 0; f < NFORKS; f++) {
		struct timespec ts = { 0, 2 * 1000 * 1000 };
		nanosleep(&ts, NULL);               /* let the threads get going */
		fflush(stderr);
		pid_t pid = fork();
		CHECK(pid >= 0, "fork: %s", strerror(errno));
		if (pid == 0) {
			alarm(60);
			int rc = strcmp(before, "allocated before fork") ? 14 : 0;
			free(before);
			if (rc == 0)
				rc = child_main();
			exit(rc);                   /* atexit handlers included */
		}
		int st = nkt_wait_timeout(pid, 30);
		if (st == -1)
			CHECK(0, "fork #%d: the child hung for 30 s (killed)", f);
		else if (st >= 0 && WIFSIGNALED(st))
			CHECK(0, "fork #%d: the child died of signal %d (%s)", f,
			    WTERMSIG(st), strsignal(WTERMSIG(st)));
		else if (st >= 0)
			CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
			    "fork #%d: the child exited %d (%s)", f, WEXITSTATUS(st),
			    why(WEXITSTATUS(st)));
		else
			CHECK(0, "fork #%d: waitpid failed", f);
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < NBUSY; i++)
		pthread_join(t[i], NULL);
	free(before);
	return nkt_done("malloc_fork");
}
