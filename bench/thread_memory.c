/*
 * thread_memory: the memory that idle threads keep in the allocator (issue
 * 10, "cache memory that does not grow with the thread count"), for
 * bench/small_blocks.sh.
 *
 * Deliberately NOT linked with numakeg: it runs under any malloc, chosen by
 * LD_PRELOAD, so that glibc, jemalloc, mimalloc, tcmalloc and numakeg run
 * the same binary.
 *
 * Workload: the main thread reads its resident set (the baseline), then
 * starts THREADS threads (256 KiB stacks, so that the stacks' share of the
 * resident set is small and the same under every allocator).  Each runs as
 * soon as it is started (no start barrier: with 1000 threads on 2 cores,
 * a barrier makes spinning allocators crawl, tcmalloc's 30x) and does OPS
 * mallocs and OPS frees of 16 B-2 KiB blocks (the octave drawn uniformly,
 * the size uniformly in it) over a live set of LIVE slots: an operation
 * frees a slot's block, when it has one, and puts a new one in it.  Every
 * block gets its tag in every cache line and is checked before it is
 * freed.  Then the thread frees its live blocks and waits at a barrier:
 * idle, its caches still attached.  With every thread idle, the main thread
 * reads the resident set again, then lets the threads exit.
 *
 * Output ("name value" lines, for the runner's score functions, after a
 * '#' line that gives the parameters):
 *   rss_baseline_mib   resident set before the threads
 *   rss_idle_mib       resident set with every thread idle
 *   rss_delta_mib      the difference
 *   rss_per_thread_kib the difference per thread
 * Exit status 1 on a failed allocation, a wrong byte or a failed thread
 * start (said on stderr), 2 on bad arguments.
 *
 *   thread_memory THREADS [OPS [LIVE]]      (defaults: OPS 20000, LIVE 64)
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"

#define MIN_SIZE 16u
#define MAX_SIZE 2048u
#define STACK_SIZE (256u * 1024)
#define MAX_LIVE 4096u

struct slot {
	unsigned char *p;
	uint32_t size;
	unsigned char tag;
};

static unsigned long ops_per_thread = 20000;
static unsigned live_slots = 64;
static pthread_barrier_t idle_gate, exit_gate;
static atomic_long failures;

/* 16 B-2 KiB: the octave [2^k, 2^(k+1)), k = 4..10, uniformly, then the size
 * uniformly in it, so that small and large classes are both exercised. */
static uint32_t block_size(uint64_t *rng)
{
	uint64_t r = bench_rng(rng);
	unsigned octave = 4 + (unsigned)(r % 7);
	uint32_t lo = 1u << octave;
	uint32_t size = lo + (uint32_t)((r >> 8) % lo);

	return size > MAX_SIZE ? MAX_SIZE : size;
}

/* A block holds its tag in its first byte, in one byte of every 64 and in
 * its last byte: every cache line (hence every page) of it is written, at a
 * fraction of memset's cost over 20 M blocks. */
static void fill_block(const struct slot *s)
{
	uint32_t i;

	for (i = 0; i < s->size; i += 64)
		s->p[i] = s->tag;
	s->p[s->size - 1] = s->tag;
}

static int check_byte(const struct slot *s, uint32_t at)
{
	if (s->p[at] == s->tag)
		return 0;
	fprintf(stderr, "thread_memory: block %p size %u offset %u: byte %u, expected %u\n", (void *)s->p,
	        s->size, at, s->p[at], s->tag);
	return -1;
}

static int check_block(const struct slot *s)
{
	uint32_t i;

	for (i = 0; i < s->size; i += 64)
		if (check_byte(s, i) != 0)
			return -1;
	return check_byte(s, s->size - 1);
}

static void release(struct slot *s)
{
	if (!s->p)
		return;
	if (check_block(s) != 0)
		atomic_fetch_add(&failures, 1);
	free(s->p);
	s->p = NULL;
}

static void *thread_main(void *arg)
{
	uint64_t rng = (uint64_t)(uintptr_t)arg * 0x2545f4914f6cdd1dull + 1;
	struct slot *slots = calloc(live_slots, sizeof(*slots));
	unsigned long op;
	unsigned i;

	if (!slots) {
		atomic_fetch_add(&failures, 1);
	} else {
		for (op = 0; op < ops_per_thread; op++) {
			struct slot *s = &slots[bench_rng(&rng) % live_slots];

			release(s);
			s->size = block_size(&rng);
			s->tag = (unsigned char)(1 + op % 255);
			s->p = malloc(s->size);
			if (!s->p) {
				fprintf(stderr, "thread_memory: malloc(%u) failed\n", s->size);
				atomic_fetch_add(&failures, 1);
				break;
			}
			fill_block(s);
		}
		for (i = 0; i < live_slots; i++)
			release(&slots[i]);
		free(slots);
	}
	/* Idle: everything freed, the thread's caches still attached. */
	pthread_barrier_wait(&idle_gate);
	pthread_barrier_wait(&exit_gate);
	return NULL;
}

/* The resident set in bytes (/proc/self/statm's second field). */
static double rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long size = 0, resident = 0;
	int n;

	if (!f)
		return -1;
	n = fscanf(f, "%lu %lu", &size, &resident);
	fclose(f);
	return n == 2 ? (double)resident * (double)sysconf(_SC_PAGESIZE) : -1;
}

int main(int argc, char **argv)
{
	unsigned long nthreads, live = live_slots, i, started = 0;
	pthread_attr_t attr;
	pthread_t *tids;
	double base, idle;
	int rc = 0;

	if (argc < 2 || argc > 4 || bench_parse_count(argv[1], 100000, &nthreads) != 0 ||
	    (argc > 2 && bench_parse_count(argv[2], 1ul << 40, &ops_per_thread) != 0) ||
	    (argc > 3 && bench_parse_count(argv[3], MAX_LIVE, &live) != 0)) {
		fprintf(stderr, "usage: thread_memory THREADS [OPS [LIVE]]  (1-100000, default 20000, 1-%u default 64)\n",
		        MAX_LIVE);
		return 2;
	}
	live_slots = (unsigned)live;
	tids = calloc(nthreads, sizeof(*tids));
	if (!tids) {
		fprintf(stderr, "thread_memory: out of memory\n");
		return 1;
	}
	base = rss_bytes();
	if (pthread_barrier_init(&idle_gate, NULL, (unsigned)nthreads + 1) != 0 ||
	    pthread_barrier_init(&exit_gate, NULL, (unsigned)nthreads + 1) != 0 ||
	    pthread_attr_init(&attr) != 0 || pthread_attr_setstacksize(&attr, STACK_SIZE) != 0) {
		fprintf(stderr, "thread_memory: barrier or attribute set-up failed\n");
		return 1;
	}
	for (i = 0; i < nthreads; i++) {
		int err = pthread_create(&tids[i], &attr, thread_main, (void *)(uintptr_t)(i + 1));

		if (err != 0) {
			/* The others wait at the idle gate for ever: give up. */
			fprintf(stderr, "thread_memory: pthread_create of thread %lu: %s\n", i + 1, strerror(err));
			_exit(1);
		}
		started++;
	}
	pthread_barrier_wait(&idle_gate);
	idle = rss_bytes();
	pthread_barrier_wait(&exit_gate);
	for (i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	free(tids);
	pthread_attr_destroy(&attr);
	if (base < 0 || idle < 0) {
		fprintf(stderr, "thread_memory: /proc/self/statm cannot be read\n");
		return 1;
	}
	if (atomic_load(&failures) != 0) {
		fprintf(stderr, "thread_memory: %ld failures\n", (long)atomic_load(&failures));
		rc = 1;
	}
	printf("# thread_memory: threads %lu, ops %lu, live %u\n", nthreads, ops_per_thread, live_slots);
	printf("rss_baseline_mib %.2f\n", base / 1048576.0);
	printf("rss_idle_mib %.2f\n", idle / 1048576.0);
	printf("rss_delta_mib %.2f\n", (idle - base) / 1048576.0);
	printf("rss_per_thread_kib %.2f\n", (idle - base) / 1024.0 / (double)nthreads);
	return rc;
}
