/*
 * nk_demo: the bundled demo workload.  The README's first command runs it
 * under LD_PRELOAD=libnumakeg.so; it also runs, unchanged, under any other
 * malloc, because it only calls malloc/calloc/realloc/free.
 *
 * Four threads each keep a table of live items of mixed sizes (16 B to
 * 256 KiB), replace them in a deterministic pseudo-random order, sometimes
 * with calloc or realloc, and hand some of them to the next thread, which
 * frees them: when that thread runs on another NUMA domain these are
 * cross-domain frees, the case numakeg's per-domain kegs must get right.
 * Every item carries a pattern derived from a seed kept in its header, and
 * is checked before it is freed or after it is reallocated; a mismatch makes
 * the program exit 1.
 *
 * numakeg is never linked: when it is preloaded, nk_ndomains,
 * nk_thread_set_domain and nk_domain_of are found with dlsym(RTLD_DEFAULT),
 * each thread is moved to domain (i % nk_ndomains()) and the summary says how
 * many of a thread's items were placed on its own domain.
 */
#ifndef _GNU_SOURCE  /* the build may define it already */
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NTHREADS   4
#define NSLOTS     512     /* live items per thread: a few MiB in all */
#define NOPS       250000  /* replacements per thread: about 1-3 s in all */
#define XFER_EVERY 8       /* one item in 8 is freed by the next thread */
#define MAX_SIZE   (256u * 1024u)

/* numakeg's NUMA controls, when it is the process's malloc. */
static int (*p_ndomains)(void);
static int (*p_set_domain)(int);
static int (*p_domain_of)(const void *);

/*
 * Item layout: an 8-byte header (size, seed), then the pattern.  16 B, the
 * smallest size, leaves 8 bytes of pattern.  The header lives in the item so
 * that the receiving thread of a handed-over item can check it alone.
 */
struct item_hdr {
	uint32_t size;
	uint32_t seed;
};

/* A handed-over item waits in its receiver's mailbox: a locked list whose
 * nodes are malloc'd by the sender and freed by the receiver (cross-domain
 * frees of small items too). */
struct mail {
	struct mail *next;
	void *item;
};

struct mailbox {
	pthread_mutex_t lock;
	struct mail *head;
};

struct thread_ctx {
	int id;
	int domain;             /* -1: no numakeg, or it refused */
	uint64_t rng;
	/* counters for the summary */
	uint64_t allocs, frees, callocs, reallocs, sent, received;
	uint64_t own_domain, other_domain, not_numakeg;
	uint64_t bytes;
	int failed;             /* content check or allocation failure */
	void *slot[NSLOTS];
};

static struct thread_ctx ctx[NTHREADS];
static struct mailbox box[NTHREADS];
static pthread_barrier_t done_barrier;

/* xorshift64*: deterministic per thread, so every run does the same work. */
static uint64_t rnd(struct thread_ctx *t)
{
	t->rng ^= t->rng >> 12;
	t->rng ^= t->rng << 25;
	t->rng ^= t->rng >> 27;
	return t->rng * 0x2545F4914F6CDD1DULL;
}

/* Mostly small sizes, as in real programs, with a tail of large blocks that
 * go through numakeg's large-allocation path (and glibc's mmap threshold). */
static size_t pick_size(struct thread_ctx *t)
{
	uint64_t r = rnd(t);
	unsigned c = (unsigned)(r % 100);
	r >>= 8;
	if (c < 70)
		return 16 + r % (256 - 16 + 1);
	if (c < 90)
		return 257 + r % (4096 - 257 + 1);
	if (c < 98)
		return 4097 + r % (65536 - 4097 + 1);
	return 65537 + r % (MAX_SIZE - 65537 + 1);
}

/* The pattern: one 64-bit word per 8 bytes, from a splitmix-like sequence
 * seeded by the item's seed; cheap enough to write and check every byte. */
static inline uint64_t pat_word(uint32_t seed, size_t i)
{
	uint64_t x = ((uint64_t)seed << 32 | seed) + (i + 1) * 0x9E3779B97F4A7C15ULL;
	x ^= x >> 31;
	return x * 0xBF58476D1CE4E5B9ULL;
}

static void fill(void *p, size_t size, uint32_t seed)
{
	struct item_hdr h = { (uint32_t)size, seed };
	unsigned char *b = (unsigned char *)p + sizeof h;
	size_t n = size - sizeof h, i;

	memcpy(p, &h, sizeof h);
	for (i = 0; i + 8 <= n; i += 8) {
		uint64_t w = pat_word(seed, i / 8);
		memcpy(b + i, &w, 8);
	}
	if (i < n) {
		uint64_t w = pat_word(seed, i / 8);
		memcpy(b + i, &w, n - i);
	}
}

/* Checks the first `limit` bytes of an item (all of it when limit is its
 * size); 0 when they are intact. */
static int check(const void *p, size_t limit)
{
	struct item_hdr h;
	const unsigned char *b = (const unsigned char *)p + sizeof h;
	size_t n, i;

	memcpy(&h, p, sizeof h);
	if (h.size < 16 || h.size > MAX_SIZE)
		return -1;
	if (limit > h.size)
		limit = h.size;
	n = limit - sizeof h;
	for (i = 0; i + 8 <= n; i += 8) {
		uint64_t w = pat_word(h.seed, i / 8);
		if (memcmp(b + i, &w, 8) != 0)
			return -1;
	}
	if (i < n) {
		uint64_t w = pat_word(h.seed, i / 8);
		if (memcmp(b + i, &w, n - i) != 0)
			return -1;
	}
	return 0;
}

static void fail(struct thread_ctx *t, const char *what, const void *p)
{
	/* Only the first failure of a thread is printed: one bad item is enough
	 * to know, and a corrupted heap could flood the terminal. */
	if (!t->failed)
		fprintf(stderr, "nk_demo: thread %d: %s %p\n", t->id, what, p);
	t->failed = 1;
}

/* Where numakeg put a new item, compared with the thread's domain. */
static void note_placement(struct thread_ctx *t, const void *p)
{
	int d;

	if (!p_domain_of || t->domain < 0)
		return;
	d = p_domain_of(p);
	if (d < 0)
		t->not_numakeg++;
	else if (d == t->domain)
		t->own_domain++;
	else
		t->other_domain++;
}

static void *new_item(struct thread_ctx *t)
{
	size_t size = pick_size(t);
	uint32_t seed = (uint32_t)rnd(t);
	void *p;

	if (rnd(t) % 20 == 0) {
		/* calloc: the whole item must read as zero before we fill it. */
		const unsigned char *b;
		size_t i;

		p = calloc(1, size);
		if (!p) {
			fail(t, "calloc failed, size", (void *)(uintptr_t)size);
			return NULL;
		}
		b = p;
		for (i = 0; i < size; i++)
			if (b[i]) {
				fail(t, "calloc returned non-zero memory at", p);
				break;
			}
		t->callocs++;
	} else {
		p = malloc(size);
		if (!p) {
			fail(t, "malloc failed, size", (void *)(uintptr_t)size);
			return NULL;
		}
	}
	t->allocs++;
	t->bytes += size;
	note_placement(t, p);
	fill(p, size, seed);
	return p;
}

static void free_item(struct thread_ctx *t, void *p)
{
	if (check(p, MAX_SIZE))
		fail(t, "content check failed before free of", p);
	free(p);
	t->frees++;
}

/* Hands an item to the next thread, which checks and frees it. */
static void send_item(struct thread_ctx *t, void *p)
{
	struct mailbox *mb = &box[(t->id + 1) % NTHREADS];
	struct mail *m = malloc(sizeof *m);

	if (!m) {
		fail(t, "malloc failed for a mail node", NULL);
		free_item(t, p);
		return;
	}
	m->item = p;
	pthread_mutex_lock(&mb->lock);
	m->next = mb->head;
	mb->head = m;
	pthread_mutex_unlock(&mb->lock);
	t->sent++;
}

/* Frees what the previous thread handed over.  The node and the item were
 * allocated on the sender's domain: with numakeg these are cross-domain
 * frees whenever the sender runs on another domain. */
static void drain_mailbox(struct thread_ctx *t)
{
	struct mailbox *mb = &box[t->id];
	struct mail *m;

	pthread_mutex_lock(&mb->lock);
	m = mb->head;
	mb->head = NULL;
	pthread_mutex_unlock(&mb->lock);
	while (m) {
		struct mail *next = m->next;
		free_item(t, m->item);
		free(m);
		t->received++;
		m = next;
	}
}

/* realloc an item to a new size: the old contents up to the smaller size
 * must survive, then the item gets a fresh pattern. */
static void *realloc_item(struct thread_ctx *t, void *p)
{
	struct item_hdr h;
	size_t size = pick_size(t);
	void *q;

	if (check(p, MAX_SIZE)) {
		fail(t, "content check failed before realloc of", p);
		return p;
	}
	memcpy(&h, p, sizeof h);
	q = realloc(p, size);
	if (!q) {
		fail(t, "realloc failed, size", (void *)(uintptr_t)size);
		return p;
	}
	if (check(q, size < h.size ? size : h.size))
		fail(t, "realloc lost the contents of", q);
	t->reallocs++;
	t->bytes += size;
	note_placement(t, q);
	fill(q, size, (uint32_t)rnd(t));
	return q;
}

static void *worker(void *arg)
{
	struct thread_ctx *t = arg;
	long op;
	int i;

	t->domain = -1;
	if (p_ndomains && p_set_domain) {
		int nd = p_ndomains();
		int want = nd > 0 ? t->id % nd : 0;
		int err = p_set_domain(want);
		if (err == 0)
			t->domain = want;
		else
			fprintf(stderr, "nk_demo: thread %d: nk_thread_set_domain(%d): %s\n",
			        t->id, want, strerror(err));
	}

	for (i = 0; i < NSLOTS && !t->failed; i++)
		t->slot[i] = new_item(t);

	for (op = 0; op < NOPS && !t->failed; op++) {
		unsigned s = (unsigned)(rnd(t) % NSLOTS);
		uint64_t what = rnd(t) % 100;

		if (!t->slot[s]) {
			t->slot[s] = new_item(t);
			continue;
		}
		if (what < 10) {
			t->slot[s] = realloc_item(t, t->slot[s]);
			continue;
		}
		if (op % XFER_EVERY == 0)
			send_item(t, t->slot[s]);
		else
			free_item(t, t->slot[s]);
		t->slot[s] = new_item(t);
		/* Every so often take in what the previous thread sent, so that
		 * cross-domain frees interleave with local work. */
		if (op % 256 == 0)
			drain_mailbox(t);
	}

	/* Wait until nobody sends any more, then take in the rest. */
	pthread_barrier_wait(&done_barrier);
	drain_mailbox(t);
	for (i = 0; i < NSLOTS; i++)
		if (t->slot[i]) {
			free_item(t, t->slot[i]);
			t->slot[i] = NULL;
		}
	return NULL;
}

int main(void)
{
	pthread_t tid[NTHREADS];
	struct timespec t0, t1;
	int i, nd = 0, failed = 0;
	uint64_t total_allocs = 0;

	/* POSIX's way of turning dlsym's void * into a function pointer. */
	*(void **)&p_ndomains = dlsym(RTLD_DEFAULT, "nk_ndomains");
	*(void **)&p_set_domain = dlsym(RTLD_DEFAULT, "nk_thread_set_domain");
	*(void **)&p_domain_of = dlsym(RTLD_DEFAULT, "nk_domain_of");
	if (p_ndomains)
		nd = p_ndomains();

	if (p_ndomains && p_set_domain && p_domain_of)
		printf("nk_demo: numakeg is the malloc, %d NUMA domain%s\n", nd, nd == 1 ? "" : "s");
	else
		printf("nk_demo: numakeg not found (plain malloc); run with "
		       "LD_PRELOAD=libnumakeg.so to see placements\n");

	pthread_barrier_init(&done_barrier, NULL, NTHREADS);
	for (i = 0; i < NTHREADS; i++) {
		pthread_mutex_init(&box[i].lock, NULL);
		ctx[i].id = i;
		ctx[i].rng = 0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < NTHREADS; i++)
		if (pthread_create(&tid[i], NULL, worker, &ctx[i]) != 0) {
			fprintf(stderr, "nk_demo: pthread_create failed\n");
			return 2;
		}
	for (i = 0; i < NTHREADS; i++)
		pthread_join(tid[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);

	for (i = 0; i < NTHREADS; i++) {
		struct thread_ctx *t = &ctx[i];

		printf("thread %d: %" PRIu64 " allocs (%" PRIu64 " calloc), %" PRIu64 " reallocs, "
		       "%" PRIu64 " frees, %" PRIu64 " sent to thread %d, %" PRIu64 " received, "
		       "%.1f MiB allocated",
		       i, t->allocs, t->callocs, t->reallocs, t->frees, t->sent,
		       (i + 1) % NTHREADS, t->received, (double)t->bytes / (1 << 20));
		if (t->domain >= 0) {
			uint64_t placed = t->own_domain + t->other_domain + t->not_numakeg;
			printf(", domain %d: %" PRIu64 "/%" PRIu64 " items on its own domain",
			       t->domain, t->own_domain, placed);
			if (t->not_numakeg)
				printf(" (%" PRIu64 " not numakeg memory!)", t->not_numakeg);
		}
		printf("%s\n", t->failed ? "  FAILED" : "");
		total_allocs += t->allocs;
		failed |= t->failed;
		/* Memory numakeg did not hand out would mean the preload did not
		 * take: worth failing for, the demo is meant to show numakeg. */
		if (t->not_numakeg)
			failed = 1;
	}
	printf("nk_demo: %" PRIu64 " allocations in %.2f s: %s\n", total_allocs,
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
	       failed ? "FAILED" : "all contents checked OK");
	return failed ? 1 : 0;
}
