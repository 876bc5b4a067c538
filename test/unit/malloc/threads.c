/*
 * 8 threads x 200k random malloc/calloc/realloc/free operations; blocks
 * travel between threads through a shared queue and are freed (or
 * realloc'd) by a thread other than the one that allocated them.  Every
 * block carries a pattern derived from its own seed, checked before it is
 * freed or realloc'd, so an overlap or a lost byte shows.  With
 * NUMAKEG_FAKE_DOMAINS the threads are spread over the domains, which makes
 * the cross-thread frees cross-domain frees too.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>

#include "nk_test.h"
#include "numakeg.h"

#define NTHREADS 8
#define NOPS     200000
#define NSLOTS   256
#define QCAP     4096

struct blk {
	unsigned char *p;
	size_t size;
	uint64_t seed;
};

static struct {
	pthread_mutex_t mtx;
	struct blk q[QCAP];
	size_t head, len;
} shared = { .mtx = PTHREAD_MUTEX_INITIALIZER };

static atomic_int errors;
static atomic_uint_fast64_t seeds = 1;

#define TFAIL(...) do {                                                     \
	if (atomic_fetch_add(&errors, 1) < 20) {                             \
		fprintf(stderr, "thread %d: ", id);                          \
		fprintf(stderr, __VA_ARGS__);                                \
		fputc('\n', stderr);                                         \
	}                                                                    \
} while (0)

/* The pattern lives at the first and last 32 bytes and every 1024th byte
 * (writing every byte would make the test memory-bound). */
static void stamp(const struct blk *b)
{
	size_t n = b->size;
	for (size_t i = 0; i < n && i < 32; i++)
		b->p[i] = nkt_pat(b->seed, i);
	for (size_t i = n > 32 ? n - 32 : 0; i < n; i++)
		b->p[i] = nkt_pat(b->seed, i);
	for (size_t i = 1024; i < n; i += 1024)
		b->p[i] = nkt_pat(b->seed, i);
}

/* Checks the pattern at offsets below limit; the offset of a wrong byte
 * or (size_t)-1. */
static size_t check_stamp(const struct blk *b, size_t limit)
{
	size_t n = b->size;
	for (size_t i = 0; i < n && i < 32 && i < limit; i++)
		if (b->p[i] != nkt_pat(b->seed, i))
			return i;
	for (size_t i = n > 32 ? n - 32 : 0; i < n && i < limit; i++)
		if (b->p[i] != nkt_pat(b->seed, i))
			return i;
	for (size_t i = 1024; i < n && i < limit; i += 1024)
		if (b->p[i] != nkt_pat(b->seed, i))
			return i;
	return (size_t)-1;
}

static size_t rand_size(uint64_t *r)
{
	uint64_t x = nkt_rand(r);
	unsigned k = (unsigned)(x % 1000);
	x >>= 10;
	if (k < 800)
		return (size_t)(x % 513);            /* small, 0 included */
	if (k < 950)
		return 513 + (size_t)(x % 16384);    /* medium */
	if (k < 998)
		return 16384 + (size_t)(x % 131072); /* large */
	return 131072 + (size_t)(x % (1u << 21)); /* huge-ish, up to 2 MiB */
}

static int push(const struct blk *b)
{
	int ok = 0;
	pthread_mutex_lock(&shared.mtx);
	if (shared.len < QCAP) {
		shared.q[(shared.head + shared.len) % QCAP] = *b;
		shared.len++;
		ok = 1;
	}
	pthread_mutex_unlock(&shared.mtx);
	return ok;
}

static int pop(struct blk *b)
{
	int ok = 0;
	pthread_mutex_lock(&shared.mtx);
	if (shared.len > 0) {
		*b = shared.q[shared.head];
		shared.head = (shared.head + 1) % QCAP;
		shared.len--;
		ok = 1;
	}
	pthread_mutex_unlock(&shared.mtx);
	return ok;
}

static void release(int id, struct blk *b, uint64_t *r)
{
	size_t bad = check_stamp(b, SIZE_MAX);
	if (bad != (size_t)-1)
		TFAIL("block %p (%zu bytes) changed at byte %zu before free",
		    (void *)b->p, b->size, bad);
	if (b->p && nk_domain_of(b->p) < 0)
		TFAIL("block %p (%zu bytes) is not numakeg's", (void *)b->p, b->size);
	switch (nkt_rand(r) % 3) {
	case 0: free(b->p); break;
	case 1: nk_free(b->p); break;
	default: nk_free_sized(b->p, b->size); break;
	}
	b->p = NULL;
}

static int new_block(int id, struct blk *b, uint64_t *r)
{
	b->size = rand_size(r);
	b->seed = atomic_fetch_add(&seeds, 1) * 0x1000193u;
	int how = (int)(nkt_rand(r) % 8);
	if (how == 0) {
		b->p = calloc(1, b->size);
		if (b->p && !nkt_is_zero(b->p, b->size))
			TFAIL("calloc(%zu) = %p not zeroed", b->size, (void *)b->p);
	} else if (how == 1) {
		b->p = nk_malloc(b->size);
	} else {
		b->p = malloc(b->size);
	}
	if (!b->p) {
		TFAIL("malloc(%zu) returned NULL", b->size);
		return 0;
	}
	stamp(b);
	return 1;
}

static void resize(int id, struct blk *b, uint64_t *r)
{
	size_t n = rand_size(r);
	if (n == 0)
		n = 1;      /* realloc(p, 0) frees: tested elsewhere */
	unsigned char *q = (nkt_rand(r) & 1) ? realloc(b->p, n) : nk_realloc(b->p, n);
	if (!q) {
		TFAIL("realloc(%p, %zu) returned NULL", (void *)b->p, n);
		return;
	}
	struct blk nb = { q, b->size, b->seed };
	size_t bad = check_stamp(&nb, n);
	if (bad != (size_t)-1)
		TFAIL("realloc %zu -> %zu (%p -> %p) lost byte %zu", b->size, n,
		    (void *)b->p, (void *)q, bad);
	b->p = q;
	b->size = n;
	stamp(b);
}

static void *worker(void *arg)
{
	int id = (int)(intptr_t)arg;
	int nd = nk_ndomains();
	if (nd > 1) {
		int e = nk_thread_set_domain(id % nd);
		if (e != 0)
			TFAIL("nk_thread_set_domain(%d) = %d", id % nd, e);
	}
	uint64_t r = 0x9E3779B97F4A7C15ull * (uint64_t)(id + 1);
	static __thread struct blk slot[NSLOTS];
	memset(slot, 0, sizeof(slot));
	for (int op = 0; op < NOPS; op++) {
		unsigned k = (unsigned)(nkt_rand(&r) % 100);
		struct blk *b = &slot[nkt_rand(&r) % NSLOTS];
		if (k < 40) {                    /* allocate, or free what is there */
			if (b->p)
				release(id, b, &r);
			else
				new_block(id, b, &r);
		} else if (k < 55) {             /* resize */
			if (b->p)
				resize(id, b, &r);
			else
				new_block(id, b, &r);
		} else if (k < 75) {             /* give a block to another thread */
			if (b->p && push(b))
				b->p = NULL;
		} else {                         /* take one from another thread */
			struct blk got;
			if (!pop(&got))
				continue;
			if (b->p || (nkt_rand(&r) & 1)) {
				release(id, &got, &r);
			} else {
				*b = got;            /* keep it: realloc it first */
				resize(id, b, &r);
			}
		}
	}
	for (int i = 0; i < NSLOTS; i++)
		if (slot[i].p)
			release(id, &slot[i], &r);
	return NULL;
}

int main(void)
{
	pthread_t t[NTHREADS];
	for (int i = 0; i < NTHREADS; i++) {
		int e = pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i);
		CHECK(e == 0, "pthread_create: %s", strerror(e));
	}
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	/* What is left in the queue is freed by the main thread. */
	struct blk b;
	uint64_t r = 12345;
	int id = -1;
	while (pop(&b))
		release(id, &b, &r);
	CHECK(atomic_load(&errors) == 0, "%d error(s) in the threads (first ones above)",
	    atomic_load(&errors));
	return nkt_done("malloc_threads");
}
