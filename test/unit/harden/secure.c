/*
 * NUMAKEG_SECURE=1 (issue 7, "an opt-in hardened mode"): each check must
 * stop what it promises to stop, in a forked child:
 *   - a guard page follows each malloc slab: a linear overflow that gets
 *     past the slab's end faults at the write, and a free of a pointer
 *     into the guard page is reported;
 *   - items leave a fresh slab in random order, not address order;
 *   - a free checks the slab header's canary at once (an overflow off the
 *     slab's last block is reported at the next free into that slab);
 *   - nk_zfree of an item already in the thread's cache (the zone API has
 *     no free mark) and of a pointer inside an item are reported;
 *   - a thread cache (every thread has one in this mode: an item in the
 *     windows, so within a heap overflow's reach) whose list link was bent
 *     is reported when the thread exits, instead of being unlinked into a
 *     cycle that hangs every later walk of the list.
 * Run by ctest with NUMAKEG_SECURE=1; without it the test says it is
 * skipped and exits 77.
 */
#include <pthread.h>

#include "nk_test.h"
#include "numakeg.h"
#include "keg.h"
#include "zone_types.h"

static struct nk_slab *slab_of(void *p)
{
	return keg_slab_of(p);
}

/* A 64-byte block that is the last item of its slab (fills blocks[]). */
static void *last_block(void **blocks, int n)
{
	for (int i = 0; i < n; i++) {
		blocks[i] = malloc(64);
		if (blocks[i] == NULL)
			_exit(2);
	}
	for (int i = 0; i < n; i++) {
		struct nk_slab *s = slab_of(blocks[i]);
		if ((char *)blocks[i] == s->items + (size_t)(s->keg->ipers - 1) * s->keg->size)
			return blocks[i];
	}
	_exit(2);
}

static void *blocks[4096];

static void overflow_into_guard(void *arg)
{
	(void)arg;
	char *p = last_block(blocks, 4096);
	struct nk_slab *s = slab_of(p);
	if (!s->guarded) {
		fprintf(stderr, "<<slab not guarded>>\n");
		return;
	}
	size_t slab_bytes = (size_t)s->keg->pages << 12;
	char *end = s->items + slab_bytes;
	/* A linear overflow from the last block, up to and past the slab's end. */
	for (char *q = p + 64; q <= end; q++)
		*(volatile char *)q = 0x41;
	fprintf(stderr, "<<wrote past the slab>>\n");
}

/* The guard page belongs to the slab: a pointer into it is no block. */
static void free_in_guard(void *arg)
{
	(void)arg;
	char *p = last_block(blocks, 4096);
	struct nk_slab *s = slab_of(p);
	if (!s->guarded) {
		fprintf(stderr, "<<slab not guarded>>\n");
		return;
	}
	free(nkt_launder(s->items + ((size_t)s->keg->pages << 12)));
	fprintf(stderr, "<<free returned>>\n");
}

static void overflow_then_free(void *arg)
{
	(void)arg;
	char *p = last_block(blocks, 4096);
	memset(nkt_launder(p + 64), 0x41, 16);  /* onto the header's canary */
	free(p);                                 /* reported here, at once */
	fprintf(stderr, "<<free returned>>\n");
}

static void zone_double_free(void *arg)
{
	(void)arg;
	nk_zone_t z = nk_zcreate("secure-zone", 48, NULL, NULL, NULL, NULL, 0, 0);
	void *a = nk_zalloc(z, NK_NOWAIT), *b = nk_zalloc(z, NK_NOWAIT);
	nk_zfree(z, a);
	nk_zfree(z, b);
	nk_zfree(z, nkt_launder(a));
	fprintf(stderr, "<<second free returned>>\n");
}

static void zone_interior_free(void *arg)
{
	(void)arg;
	nk_zone_t z = nk_zcreate("secure-zone", 48, NULL, NULL, NULL, NULL, 0, 0);
	char *a = nk_zalloc(z, NK_NOWAIT);
	nk_zfree(z, nkt_launder(a + 8));
	fprintf(stderr, "<<interior free returned>>\n");
}

static void *bend_own_cache(void *arg)
{
	(void)arg;
	free(nkt_launder(malloc(64)));   /* this thread's cache is made */
	struct nk_tcache *tc = nk_tls_tc;
	if ((uintptr_t)tc <= (uintptr_t)NK_TC_PCPU) {
		fprintf(stderr, "<<the thread has no thread cache>>\n");
		_exit(3);
	}
	tc->next = tc;   /* it heads the list: unlinked, the list would be a cycle */
	return NULL;     /* the thread exits: its cache is unlinked */
}

static void thread_cache_bent(void *arg)
{
	(void)arg;
	pthread_t t;
	if (pthread_create(&t, NULL, bend_own_cache, NULL) != 0)
		_exit(2);
	pthread_join(t, NULL);
	fprintf(stderr, "<<the thread exited>>\n");
}

static void expect(const char *name, void (*fn)(void *), int sig, const char *msg)
{
	struct nkt_child d;
	nkt_run_child(fn, NULL, &d);
	CHECK_CHILD_SIGNAL(&d, sig, name);
	if (msg != NULL)
		CHECK_CHILD_SAYS(&d, msg, name);
}

/* Consecutive allocations from fresh slabs: how many are address neighbours. */
static void random_order(void)
{
	enum { N = 2000 };
	static char *p[N];
	nk_zone_t z = nk_zcreate("secure-order", 64, NULL, NULL, NULL, NULL, 0, 0);
	for (int i = 0; i < N; i++)
		p[i] = nk_zalloc(z, NK_NOWAIT);
	int neighbours = 0;
	for (int i = 1; i < N; i++) {
		ptrdiff_t d = p[i] - p[i - 1];
		if (d == 64 || d == -64)
			neighbours++;
	}
	/* In address order nearly all are; at random about 2 in 256. */
	CHECK(neighbours < N / 10, "%d of %d consecutive items are neighbours", neighbours, N - 1);
	for (int i = 0; i < N; i++)
		for (int j = 0; j < 64; j++)
			p[i][j] = (char)i;
	for (int i = 0; i < N; i++)
		CHECK(p[i][0] == (char)i && p[i][63] == (char)i, "item %d overlaps another", i);
	for (int i = 0; i < N; i++)
		nk_zfree(z, p[i]);
	nk_zdestroy(z);
}

int main(void)
{
	const char *s = getenv("NUMAKEG_SECURE");
	if (s == NULL || *s == '\0' || strcmp(s, "0") == 0) {
		nkt_skip("harden_secure: run it with NUMAKEG_SECURE=1");
	}
	expect("overflow into the guard page", overflow_into_guard, SIGSEGV, NULL);
	expect("free of a pointer into the guard page", free_in_guard, SIGABRT, "invalid pointer");
	expect("overflow then free", overflow_then_free, SIGABRT, "heap overflow/corruption detected");
	expect("zone double free", zone_double_free, SIGABRT, "double free of");
	expect("zone interior free", zone_interior_free, SIGABRT, "not the start of an item");
	expect("bent thread-cache link", thread_cache_bent, SIGABRT,
	    "heap overflow/corruption detected in the thread-cache list");
	random_order();
	return nkt_done("harden_secure");
}
