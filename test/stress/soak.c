/*
 * nk_soak: a long mixed workload that checks every byte it gets back.
 *
 * Worker threads keep a bounded set of live blocks of random sizes (mostly
 * small, some up to 1 MiB); each block is filled with its own pattern when
 * it is allocated and checked when it is freed or reallocated.  Workers
 * free each other's blocks (a mailbox per worker), realloc, and exit after
 * a random number of operations (their mailbox is drained and closed, a
 * new worker takes the slot).  The main thread forks now and then (the
 * child allocates, checks and frees, and must exit cleanly within 30 s)
 * and samples the resident set size.
 *
 * It fails (exit 1) on a wrong byte, a failed or hung child, or a resident
 * set that grows: the largest sample of the last third above 1.5 times the
 * largest of the first third plus 64 MiB.  The live set is bounded, so
 * after the first seconds the RSS should stay flat.
 *
 * Usage: nk_soak [seconds] [threads]   (defaults: 20 s, 6 threads)
 * tools/soak.sh MINUTES runs it for minutes; ctest runs 20 s.
 * Linked with numakeg_static: malloc/free/realloc are numakeg's.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdatomic.h>

#include "nk_test.h"
#include "numakeg.h"

#define MAX_WORKERS 64
#define soak_min(a, b) ((a) < (b) ? (a) : (b))
#define soak_max(a, b) ((a) > (b) ? (a) : (b))
#define LIVE        1024   /* live blocks per worker */
#define MAILBOX     1024
#define MAX_SAMPLES 4096

struct block {
	unsigned char *p;
	size_t n;
	uint64_t seed;
};

struct mailbox {
	pthread_mutex_t lock;
	int open;
	int cnt;
	struct block b[MAILBOX];
};

static struct mailbox boxes[MAX_WORKERS];
static int nworkers;
static atomic_int stop;
static atomic_ulong total_ops, total_cross, total_reallocs, total_exits;

/* The pattern, a word at a time (the byte-wise one of check.h is too slow
 * for megabytes a second in a Debug build): the bytes of word i are those
 * of seed ^ i * golden, so any prefix of a block checks as it should. */
static void fill(unsigned char *p, size_t n, uint64_t seed)
{
	size_t words = n / 8;
	for (size_t i = 0; i < words; i++) {
		uint64_t v = seed ^ (i * 0x9E3779B97F4A7C15ull);
		memcpy(p + i * 8, &v, 8);
	}
	uint64_t v = seed ^ (words * 0x9E3779B97F4A7C15ull);
	memcpy(p + words * 8, &v, n - words * 8);  /* the tail: the same word's bytes */
}

static size_t verify(const unsigned char *p, size_t n, uint64_t seed)
{
	size_t words = n / 8;
	for (size_t i = 0; i < words; i++) {
		uint64_t v = seed ^ (i * 0x9E3779B97F4A7C15ull), got;
		memcpy(&got, p + i * 8, 8);
		if (got != v)
			for (size_t j = 0; j < 8; j++)
				if (p[i * 8 + j] != ((const unsigned char *)&v)[j])
					return i * 8 + j;
	}
	uint64_t v = seed ^ (words * 0x9E3779B97F4A7C15ull);
	for (size_t i = words * 8; i < n; i++)
		if (p[i] != ((const unsigned char *)&v)[i - words * 8])
			return i;
	return (size_t)-1;
}

static void check_block(const struct block *b, const char *when)
{
	size_t off = verify(b->p, b->n, b->seed);
	if (off != (size_t)-1)
		FAIL("%s: block %p of %zu bytes, seed %#lx, first bad byte %zu", when,
		    (void *)b->p, b->n, (unsigned long)b->seed, off);
}

static size_t random_size(uint64_t *rng)
{
	uint64_t r = nkt_rand(rng);
	unsigned pick = (unsigned)(r % 1000);
	r >>= 8;
	if (pick < 750)
		return 1 + r % 512;
	if (pick < 970)
		return 513 + r % (32768 - 512);
	if (pick < 997)
		return 32769 + r % (224 << 10);
	return (256 << 10) + r % (768 << 10);
}

static void new_block(struct block *b, uint64_t *rng)
{
	b->n = random_size(rng);
	b->seed = nkt_rand(rng);
	b->p = (nkt_rand(rng) & 7) == 0 ? calloc(1, b->n) : malloc(b->n);
	if (b->p == NULL)
		FAIL("allocation of %zu bytes failed: %s", b->n, strerror(errno));
	fill(b->p, b->n, b->seed);
}

static void free_block(struct block *b)
{
	check_block(b, "freed block changed");
	free(b->p);
	b->p = NULL;
}

/* Frees what others sent here. */
static void drain_mailbox(struct mailbox *m)
{
	struct block local[MAILBOX];
	pthread_mutex_lock(&m->lock);
	int n = m->cnt;
	memcpy(local, m->b, (size_t)n * sizeof(local[0]));
	m->cnt = 0;
	pthread_mutex_unlock(&m->lock);
	for (int i = 0; i < n; i++)
		free_block(&local[i]);
}

/* A block to another worker, or freed here if its box is closed or full. */
static void send_block(struct block *b, int self, uint64_t *rng)
{
	int to = (int)(nkt_rand(rng) % (uint64_t)nworkers);
	if (to != self) {
		struct mailbox *m = &boxes[to];
		pthread_mutex_lock(&m->lock);
		if (m->open && m->cnt < MAILBOX) {
			check_block(b, "block changed before a cross-thread free");
			m->b[m->cnt++] = *b;
			pthread_mutex_unlock(&m->lock);
			b->p = NULL;
			atomic_fetch_add_explicit(&total_cross, 1, memory_order_relaxed);
			return;
		}
		pthread_mutex_unlock(&m->lock);
	}
	free_block(b);
}

struct worker {
	int slot;
	uint64_t seed;
};

static void *worker(void *arg)
{
	struct worker *w = arg;
	int self = w->slot;
	uint64_t rng = w->seed | 1;
	free(w);
	struct mailbox *m = &boxes[self];
	static __thread struct block live[LIVE];
	memset(live, 0, sizeof(live));
	pthread_mutex_lock(&m->lock);
	m->open = 1;
	pthread_mutex_unlock(&m->lock);
	/* A life of 20k..200k operations, then the thread exits. */
	uint64_t life = 20000 + nkt_rand(&rng) % 180000, ops = 0;
	while (!atomic_load_explicit(&stop, memory_order_relaxed) && ops < life) {
		for (int k = 0; k < 64; k++, ops++) {
			struct block *b = &live[nkt_rand(&rng) % LIVE];
			unsigned op = (unsigned)(nkt_rand(&rng) % 16);
			if (b->p == NULL) {
				new_block(b, &rng);
			} else if (op < 8) {
				free_block(b);
			} else if (op < 12) {
				send_block(b, self, &rng);
			} else {
				size_t n = random_size(&rng);
				check_block(b, "block changed before realloc");
				unsigned char *q = realloc(b->p, n);
				if (q == NULL)
					FAIL("realloc of block %p (%zu bytes) to %zu bytes failed",
					    (void *)b->p, b->n, n);
				b->p = q;
				size_t keep = soak_min(n, b->n);
				b->n = keep;
				check_block(b, "realloc lost the contents");
				b->n = n;
				b->seed = nkt_rand(&rng);
				fill(b->p, b->n, b->seed);
				atomic_fetch_add_explicit(&total_reallocs, 1, memory_order_relaxed);
			}
		}
		drain_mailbox(m);
		atomic_fetch_add_explicit(&total_ops, 64, memory_order_relaxed);
	}
	/* Close the box, free what is in it and what this thread holds. */
	pthread_mutex_lock(&m->lock);
	m->open = 0;
	pthread_mutex_unlock(&m->lock);
	drain_mailbox(m);
	for (int i = 0; i < LIVE; i++)
		if (live[i].p != NULL) {
			if (i % 2)
				free_block(&live[i]);
			else
				send_block(&live[i], self, &rng);
		}
	atomic_fetch_add_explicit(&total_exits, 1, memory_order_relaxed);
	return NULL;
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long pages = 0, rss = 0;
	if (f == NULL)
		return -1;
	if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
		rss = -1;
	fclose(f);
	return rss < 0 ? -1 : rss * (sysconf(_SC_PAGESIZE) / 1024);
}

/* In a forked child: the allocator must work, with the parent's blocks intact. */
static void fork_child(const struct block *held, int nheld)
{
	alarm(30);
	for (int i = 0; i < nheld; i++)
		check_block(&held[i], "a block changed across fork");
	uint64_t rng = (uint64_t)getpid() * 0x9E3779B97F4A7C15ull;
	static struct block b[256];
	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < 256; i++)
			new_block(&b[i], &rng);
		for (int i = 0; i < 256; i++)
			free_block(&b[i]);
	}
	_exit(0);
}

static pthread_t start_worker(int slot, uint64_t *rng)
{
	struct worker *w = malloc(sizeof(*w));
	if (w == NULL)
		FAIL("malloc of a worker failed");
	w->slot = slot;
	w->seed = nkt_rand(rng);
	pthread_t t;
	if (pthread_create(&t, NULL, worker, w) != 0)
		FAIL("pthread_create");
	return t;
}

int main(int argc, char **argv)
{
	int seconds = argc > 1 ? atoi(argv[1]) : 20;
	nworkers = argc > 2 ? atoi(argv[2]) : 6;
	if (seconds < 3 || nworkers < 2 || nworkers > MAX_WORKERS) {
		fprintf(stderr, "usage: nk_soak [seconds >= 3] [threads 2..%d]\n", MAX_WORKERS);
		return 2;
	}
	uint64_t rng = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull | 1;
	fprintf(stderr, "nk_soak: %d s, %d worker threads, seed %#lx\n", seconds, nworkers,
	    (unsigned long)rng);
	for (int i = 0; i < MAX_WORKERS; i++)
		pthread_mutex_init(&boxes[i].lock, NULL);
	pthread_t threads[MAX_WORKERS];
	for (int i = 0; i < nworkers; i++)
		threads[i] = start_worker(i, &rng);

	/* The main thread's own blocks, which forked children check. */
	static struct block held[64];
	for (int i = 0; i < 64; i++)
		new_block(&held[i], &rng);

	static long samples[MAX_SAMPLES];
	int nsamples = 0, forks = 0;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* Sample about 30 times over the run, at least every 2 s, at most 4/s. */
	double every = soak_max(0.25, soak_min(2.0, seconds / 30.0));
	double next_sample = 0, next_fork = 0.5;
	for (;;) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		double t = (double)(now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9;
		if (t >= seconds)
			break;
		/* Restart the workers that ended their life. */
		for (int i = 0; i < nworkers; i++) {
			if (pthread_tryjoin_np(threads[i], NULL) == 0)
				threads[i] = start_worker(i, &rng);
		}
		if (t >= next_sample && nsamples < MAX_SAMPLES) {
			samples[nsamples] = rss_kib();
			fprintf(stderr, "nk_soak: t=%5.1fs rss=%ld KiB ops=%lu cross=%lu reallocs=%lu "
			    "thread exits=%lu forks=%d\n", t, samples[nsamples],
			    (unsigned long)atomic_load(&total_ops), (unsigned long)atomic_load(&total_cross),
			    (unsigned long)atomic_load(&total_reallocs),
			    (unsigned long)atomic_load(&total_exits), forks);
			nsamples++;
			next_sample += every;
		}
		if (t >= next_fork) {
			pid_t pid = fork();
			if (pid == 0)
				fork_child(held, 64);
			if (pid < 0)
				FAIL("fork: %s", strerror(errno));
			int st = nkt_wait_timeout(pid, 35);
			CHECK(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
			    "forked child %d %s", (int)pid,
			    st == -1 ? "hung (killed after 35 s)" : "failed");
			forks++;
			next_fork = t + 0.5 + (double)(nkt_rand(&rng) % 1000) / 1000.0;
			/* Replace a held block now and then. */
			struct block *h = &held[nkt_rand(&rng) % 64];
			free_block(h);
			new_block(h, &rng);
		}
		struct timespec nap = { 0, 20 * 1000 * 1000 };
		nanosleep(&nap, NULL);
	}
	atomic_store(&stop, 1);
	for (int i = 0; i < nworkers; i++)
		pthread_join(threads[i], NULL);
	for (int i = 0; i < nworkers; i++)
		drain_mailbox(&boxes[i]);  /* blocks sent while the last workers closed */
	for (int i = 0; i < 64; i++)
		free_block(&held[i]);

	CHECK(nsamples >= 6, "only %d RSS samples", nsamples);
	if (nsamples >= 6) {
		int third = nsamples / 3;
		long first = 0, last = 0;
		for (int i = 0; i < third; i++)
			first = soak_max(first, samples[i]);
		for (int i = nsamples - third; i < nsamples; i++)
			last = soak_max(last, samples[i]);
		long limit = first + first / 2 + 64 * 1024;
		fprintf(stderr, "nk_soak: rss max first third %ld KiB, last third %ld KiB (limit %ld)\n",
		    first, last, limit);
		CHECK(last <= limit, "the resident set grew");
	}
	fprintf(stderr, "nk_soak: %lu operations, %lu cross-thread frees, %lu reallocs, "
	    "%lu thread exits, %d forks\n",
	    (unsigned long)atomic_load(&total_ops), (unsigned long)atomic_load(&total_cross),
	    (unsigned long)atomic_load(&total_reallocs), (unsigned long)atomic_load(&total_exits), forks);
	return nkt_done("nk_soak");
}
