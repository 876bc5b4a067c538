/*
 * cache_idle_threads [threads]: what an idle thread costs in the per-CPU
 * mode.  N threads (256 by default) each make 2000 nk_malloc/nk_free calls
 * of 16 B to 2 KiB, one thread at a time (so the items themselves are few
 * and reused), and then block.  The same N threads that block without a
 * call are the baseline: their stacks and the kernel's share are in both.
 *
 * Checked in the per-CPU mode:
 *  - no thread cache was made for any of them (nk_tc_list is empty): the
 *    per-CPU caches served every call;
 *  - RSS growth over the baseline, per thread, is below 8 KiB.  Why 8 KiB:
 *    a thread cache alone is 4.6 KiB (struct nk_tcache) plus two buckets
 *    per size class it touched (up to 2 KiB each), about 160 KiB for a
 *    thread of the workload; the per-CPU caches add nothing per
 *    thread, and what the items take is shared (the arrays and depots
 *    are per CPU and domain): the bound leaves room for noise (page
 *    tables, the last thread's items) and fails on any per-thread cache.
 */
#include "cache_common.h"

#include "zone.h"

#define MAXT     1024
#define CALLS    2000
#define HELD     32

static pthread_mutex_t work_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_open, parked;

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long size = 0, res = 0;
	if (f == NULL || fscanf(f, "%ld %ld", &size, &res) != 2)
		FAIL("cannot read /proc/self/statm");
	fclose(f);
	return res * (sysconf(_SC_PAGESIZE) / 1024);
}

static void park(void)
{
	pthread_mutex_lock(&gate_lock);
	parked++;
	pthread_cond_broadcast(&gate_cv);
	while (!gate_open)
		pthread_cond_wait(&gate_cv, &gate_lock);
	pthread_mutex_unlock(&gate_lock);
}

static void *idle_main(void *arg)
{
	(void)arg;
	park();
	return NULL;
}

static void *busy_main(void *arg)
{
	uint64_t rng = ct_seed((uint64_t)(uintptr_t)arg, 5);
	void *held[HELD] = { 0 };
	pthread_mutex_lock(&work_lock);
	for (int i = 0; i < CALLS / 2; i++) {
		int k = (int)(nkt_rand(&rng) % HELD);
		nk_free(held[k]);
		held[k] = nk_malloc(16 + nkt_rand(&rng) % 2033);
		if (held[k] == NULL)
			FAIL("nk_malloc returned NULL");
		memset(held[k], 1, 16);
	}
	for (int k = 0; k < HELD; k++)
		nk_free(held[k]);
	pthread_mutex_unlock(&work_lock);
	park();
	return NULL;
}

/* RSS with n threads parked, each having run fn first; the threads then end. */
static long rss_with(int n, void *(*fn)(void *), int *caches)
{
	static pthread_t th[MAXT];
	gate_open = 0;
	parked = 0;
	for (int i = 0; i < n; i++)
		if (pthread_create(&th[i], NULL, fn, (void *)(uintptr_t)i) != 0)
			FAIL("pthread_create %d", i);
	pthread_mutex_lock(&gate_lock);
	while (parked < n)
		pthread_cond_wait(&gate_cv, &gate_lock);
	pthread_mutex_unlock(&gate_lock);
	long rss = rss_kib();
	*caches = 0;
	zone_registry_lock();
	for (struct nk_tcache *tc = nk_tc_list; tc != NULL; tc = tc->next)
		(*caches)++;
	zone_registry_unlock();
	pthread_mutex_lock(&gate_lock);
	gate_open = 1;
	pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&gate_lock);
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	return rss;
}

int main(int argc, char **argv)
{
	ct_start("cache_idle_threads", 120);
	/* With the thread caches (NUMAKEG_CACHE=thread, no rseq): each thread has one. */
	int n = argc > 1 ? atoi(argv[1]) : 256;
	n = nk_min(nk_max(n, 16), MAXT);
	/* Warm up: the stacks glibc caches, numakeg's own start, the classes' first slabs. */
	int caches;
	(void)rss_with(n, busy_main, &caches);
	long base = rss_with(n, idle_main, &caches);
	long busy = rss_with(n, busy_main, &caches);
	double per = (double)(busy - base) / n;
	printf("cache_idle_threads: %d threads: RSS %ld KiB idle, %ld KiB after %d calls each: "
	    "%.2f KiB per thread; %d thread caches\n", n, base, busy, CALLS, per, caches);
	if (nk_pcpu_on) {
		CHECK(caches == 0, "%d thread caches made for threads the per-CPU caches serve", caches);
		CHECK(per < 8.0, "%.2f KiB of RSS per idle thread (bound 8 KiB)", per);
	} else {
		/*
		 * The fallback: every thread has its cache (their RSS shows
		 * too, about 80-110 KiB a thread here, but pages the warm-up's
		 * exited threads gave back make it vary under load).
		 */
		CHECK(caches == n, "%d thread caches for %d threads without per-CPU caches", caches, n);
	}
	return nkt_done(ct_name);
}
