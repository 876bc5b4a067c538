/*
 * threads_rss [N...]: the memory idle threads cost (issue 10).  For each N
 * (default 1 10 100 1000), N threads each make CALLS malloc/free calls of
 * 16 B to 2 KiB (a window of WINDOW live blocks, freed at random), free
 * everything and then block; once all N are blocked the process's RSS is
 * read from /proc/self/statm and printed, and the threads end.  Plain C,
 * not linked with numakeg: run it under any malloc with LD_PRELOAD.
 *
 *   LD_PRELOAD=build/lib/libnumakeg.so build/bench/threads_rss 1000
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CALLS  20000
#define WINDOW 64

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int parked, release_all;

static double rss_mib(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long size = 0, res = 0;
	if (f == NULL || fscanf(f, "%ld %ld", &size, &res) != 2) {
		fprintf(stderr, "threads_rss: cannot read /proc/self/statm\n");
		exit(1);
	}
	fclose(f);
	return (double)res * (double)sysconf(_SC_PAGESIZE) / (1 << 20);
}

static void *worker(void *arg)
{
	uint64_t x = (uintptr_t)arg * 0x9E3779B97F4A7C15ull + 1;
	void *live[WINDOW] = { 0 };
	for (int i = 0; i < CALLS; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		int k = (int)(x % WINDOW);
		free(live[k]);
		live[k] = malloc(16 + (x >> 16) % 2033);
		if (live[k] == NULL)
			abort();
		memset(live[k], 1, 16);
	}
	for (int k = 0; k < WINDOW; k++)
		free(live[k]);
	pthread_mutex_lock(&lock);
	parked++;
	pthread_cond_broadcast(&cv);
	while (!release_all)
		pthread_cond_wait(&cv, &lock);
	pthread_mutex_unlock(&lock);
	return NULL;
}

int main(int argc, char **argv)
{
	static const int dflt[] = { 1, 10, 100, 1000 };
	int n = argc > 1 ? argc - 1 : 4;
	for (int a = 0; a < n; a++) {
		int nt = argc > 1 ? atoi(argv[a + 1]) : dflt[a];
		pthread_t *th = calloc((size_t)nt, sizeof(*th));
		if (th == NULL)
			return 1;
		parked = 0;
		release_all = 0;
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, 256 << 10);
		for (int i = 0; i < nt; i++)
			if (pthread_create(&th[i], &attr, worker, (void *)(uintptr_t)(i + 1)) != 0) {
				fprintf(stderr, "threads_rss: pthread_create %d failed\n", i);
				return 1;
			}
		pthread_mutex_lock(&lock);
		while (parked < nt)
			pthread_cond_wait(&cv, &lock);
		double rss = rss_mib();
		release_all = 1;
		pthread_cond_broadcast(&cv);
		pthread_mutex_unlock(&lock);
		for (int i = 0; i < nt; i++)
			pthread_join(th[i], NULL);
		printf("threads %d rss_mib %.1f\n", nt, rss);
		fflush(stdout);
		free(th);
	}
	return 0;
}
