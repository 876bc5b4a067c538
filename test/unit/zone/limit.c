/*
 * cache_limit: nk_zone_set_max(z, 100).
 *  1. 100 NK_NOWAIT allocations succeed, the 101st returns NULL with errno
 *     ENOMEM; nk_zone_get_cur() says 100.
 *  2. A thread doing NK_WAITOK blocks (it has not returned 300 ms later,
 *     and a NOWAIT allocation elsewhere still fails meanwhile) until the
 *     main thread frees one item; then it returns a non-NULL item.
 *  3. Cached items do not let anyone past the limit, whether the caches were
 *     warmed before the limit was set (threads that stay alive holding
 *     cached items, and threads that exited) or after it: with the limit
 *     set, exactly 100 items can be had, from any thread, and no more.
 *     (a) threads warm their caches on every domain and stay alive; the
 *         limit is set; the main thread gets exactly 100; the warm threads
 *         get nothing; after the main thread frees, the warm threads get
 *         exactly 100 among them.
 *     (b) the limit set first; threads on every domain allocate and free
 *         (into their caches, if a limited zone had any) and stay alive;
 *         the main thread gets exactly 100.
 *     (c) threads warm their caches and exit; the limit is set; exactly 100.
 *     (d) the main thread on domain 0 takes the 100, a thread on domain 2
 *         frees them (cross-domain, counted there); exactly 100 again.
 *  4. Lifting the limit (set_max 0): get_max() is 0 and allocations go past
 *     100 again.
 */
#include "cache_common.h"

#define NDOM  4
#define LIMIT 100
#define NWARM 4

static int nowait_fill(nk_zone_t z, void **out, int max, const char *who)
{
	int n = 0;
	for (int i = 0; i < max; i++) {
		errno = 0;
		void *p = nk_zalloc(z, NK_NOWAIT);
		if (p == NULL) {
			CHECK(errno == ENOMEM, "%s: NK_NOWAIT allocation %d failed with errno %d, want "
			    "ENOMEM (%d)", who, i + 1, errno, ENOMEM);
			break;
		}
		memset(p, 0xA5, nk_zone_size(z));
		out[n++] = p;
	}
	return n;
}

static void free_all(nk_zone_t z, void **items, int n)
{
	for (int i = 0; i < n; i++)
		nk_zfree(z, items[i]);
}

/* ---- 2: a sleeping NK_WAITOK ---- */

static nk_zone_t wz;
static int waiter_started, waiter_returned;   /* atomic */
static void *waiter_item;

static void *waiter(void *arg)
{
	(void)arg;
	__atomic_store_n(&waiter_started, 1, __ATOMIC_RELEASE);
	void *p = nk_zalloc(wz, NK_WAITOK);
	waiter_item = p;
	__atomic_store_n(&waiter_returned, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* ---- 3: threads with warm caches ---- */

enum { CMD_NONE, CMD_WARM, CMD_TRY, CMD_TAKE, CMD_FREE, CMD_EXIT };

struct warm {
	pthread_t th;
	int id;
	nk_zone_t z;
	pthread_mutex_t m;
	pthread_cond_t cv;
	int cmd, arg, busy;
	int got;                 /* what the last command obtained */
	void *items[2 * LIMIT + 10];
	int nitems;
};

static void *warm_main(void *arg)
{
	struct warm *w = arg;
	if (nk_thread_set_domain(w->id % NDOM) != 0)
		FAIL("warm thread %d: nk_thread_set_domain failed", w->id);
	for (;;) {
		pthread_mutex_lock(&w->m);
		while (w->cmd == CMD_NONE)
			pthread_cond_wait(&w->cv, &w->m);
		int cmd = w->cmd, a = w->arg;
		pthread_mutex_unlock(&w->m);
		char who[64];
		snprintf(who, sizeof(who), "warm thread %d (domain %d)", w->id, w->id % NDOM);
		int got = 0;
		switch (cmd) {
		case CMD_WARM: {
			/* Fill this thread's cache: allocate and free a batch. */
			void *tmp[300];
			int n = 0;
			for (int i = 0; i < a && i < 300; i++)
				if ((tmp[n] = nk_zalloc(w->z, NK_NOWAIT)) != NULL)
					n++;
			CHECK(n == (a < 300 ? a : 300), "%s: warm-up got %d of %d items", who, n, a);
			free_all(w->z, tmp, n);
			got = n;
			break;
		}
		case CMD_TRY:
			/* NOWAIT allocations until one fails, at most a; kept. */
			got = nowait_fill(w->z, w->items + w->nitems, a, who);
			w->nitems += got;
			break;
		case CMD_FREE:
			free_all(w->z, w->items, w->nitems);
			got = w->nitems;
			w->nitems = 0;
			break;
		case CMD_EXIT:
			break;
		}
		pthread_mutex_lock(&w->m);
		w->got = got;
		w->cmd = CMD_NONE;
		w->busy = 0;
		pthread_cond_broadcast(&w->cv);
		pthread_mutex_unlock(&w->m);
		if (cmd == CMD_EXIT)
			return NULL;
	}
}

static int warm_do(struct warm *w, int cmd, int arg)
{
	pthread_mutex_lock(&w->m);
	w->cmd = cmd;
	w->arg = arg;
	w->busy = 1;
	pthread_cond_broadcast(&w->cv);
	while (w->busy)
		pthread_cond_wait(&w->cv, &w->m);
	int got = w->got;
	pthread_mutex_unlock(&w->m);
	return got;
}

static void warm_start(struct warm *ws, nk_zone_t z)
{
	for (int i = 0; i < NWARM; i++) {
		struct warm *w = &ws[i];
		memset(w, 0, sizeof(*w));
		w->id = i;
		w->z = z;
		pthread_mutex_init(&w->m, NULL);
		pthread_cond_init(&w->cv, NULL);
		if (pthread_create(&w->th, NULL, warm_main, w) != 0)
			FAIL("pthread_create failed");
	}
}

static void warm_stop(struct warm *ws)
{
	for (int i = 0; i < NWARM; i++) {
		warm_do(&ws[i], CMD_FREE, 0);
		warm_do(&ws[i], CMD_EXIT, 0);
		pthread_join(ws[i].th, NULL);
	}
}

struct xfree_arg {
	nk_zone_t z;
	void *items[LIMIT + 10];
	int n;
};

static void *xfree_main(void *arg)
{
	struct xfree_arg *a = arg;
	if (nk_thread_set_domain(2) != 0)
		FAIL("nk_thread_set_domain(2) failed");
	free_all(a->z, a->items, a->n);
	return NULL;
}

static nk_zone_t make_zone(const char *name, size_t size)
{
	nk_zone_t z = nk_zcreate(name, size, NULL, NULL, NULL, NULL, NK_ALIGN_PTR, NK_ZONE_FIRSTTOUCH);
	if (z == NULL)
		FAIL("nk_zcreate(%s): errno %d", name, errno);
	return z;
}

static void set_limit(nk_zone_t z, int n)
{
	int eff = nk_zone_set_max(z, n);
	CHECK(eff == n, "zone %s: nk_zone_set_max(%d) returned %d", nk_zone_name(z), n, eff);
	CHECK(nk_zone_get_max(z) == n, "zone %s: nk_zone_get_max() = %d after set_max(%d)",
	    nk_zone_name(z), nk_zone_get_max(z), n);
}

/* The main thread takes what it can: exactly LIMIT, and the next one fails. */
static void expect_exactly_limit(nk_zone_t z, const char *how)
{
	static void *items[LIMIT + 50];
	char who[128];
	snprintf(who, sizeof(who), "%s: main thread", how);
	int n = nowait_fill(z, items, LIMIT + 50, who);
	CHECK(n == LIMIT, "%s: zone %s with limit %d: %d NK_NOWAIT allocations succeeded, want "
	    "exactly %d", how, nk_zone_name(z), LIMIT, n, LIMIT);
	int cur = nk_zone_get_cur(z);
	CHECK(cur == n, "%s: nk_zone_get_cur() = %d with %d items out", how, cur, n);
	free_all(z, items, n);
	cur = nk_zone_get_cur(z);
	CHECK(cur == 0, "%s: nk_zone_get_cur() = %d after freeing them", how, cur);
}

int main(void)
{
	ct_start("cache_limit", 110);
	static void *items[LIMIT + 10];

	/* ---- 1 ---- */
	ct_phase = "1: NOWAIT up to the limit";
	nk_zone_t z = make_zone("limit-basic", 64);
	CHECK(nk_zone_get_max(z) == 0, "a new zone has get_max() %d, want 0", nk_zone_get_max(z));
	set_limit(z, LIMIT);
	int n = 0;
	for (int i = 0; i < LIMIT; i++) {
		errno = 0;
		void *p = nk_zalloc(z, NK_NOWAIT);
		CHECK(p != NULL, "NK_NOWAIT allocation %d of %d under the limit failed, errno %d",
		    i + 1, LIMIT, errno);
		if (p != NULL)
			items[n++] = p;
	}
	errno = 0;
	void *extra = nk_zalloc(z, NK_NOWAIT);
	int err = errno;
	CHECK(extra == NULL, "allocation %d with a limit of %d succeeded: %p", LIMIT + 1, LIMIT, extra);
	CHECK(extra != NULL || err == ENOMEM, "allocation %d: NULL with errno %d, want ENOMEM (%d)",
	    LIMIT + 1, err, ENOMEM);
	if (extra != NULL)
		nk_zfree(z, extra);
	CHECK(nk_zone_get_cur(z) == LIMIT, "nk_zone_get_cur() = %d at the limit", nk_zone_get_cur(z));

	/* ---- 2 ---- */
	ct_phase = "2: NK_WAITOK sleeps at the limit";
	wz = z;
	pthread_t wt;
	if (pthread_create(&wt, NULL, waiter, NULL) != 0)
		FAIL("pthread_create failed");
	while (!__atomic_load_n(&waiter_started, __ATOMIC_ACQUIRE))
		ct_sleep_ms(1);
	ct_sleep_ms(300);
	CHECK(!__atomic_load_n(&waiter_returned, __ATOMIC_ACQUIRE),
	    "NK_WAITOK at the limit returned (%p) before any item was freed", waiter_item);
	errno = 0;
	extra = nk_zalloc(z, NK_NOWAIT);
	CHECK(extra == NULL && errno == ENOMEM, "NK_NOWAIT while a WAITOK sleeps at the limit: "
	    "%p errno %d", extra, errno);
	if (extra != NULL)
		nk_zfree(z, extra);
	int was_blocked = !__atomic_load_n(&waiter_returned, __ATOMIC_ACQUIRE);
	nk_zfree(z, items[--n]);           /* one slot frees up */
	double t0 = ct_now();
	while (!__atomic_load_n(&waiter_returned, __ATOMIC_ACQUIRE) && ct_now() - t0 < 10)
		ct_sleep_ms(1);
	CHECK(__atomic_load_n(&waiter_returned, __ATOMIC_ACQUIRE),
	    "NK_WAITOK did not wake up within 10 s of a free at the limit");
	pthread_join(wt, NULL);
	CHECK(was_blocked && waiter_item != NULL, "NK_WAITOK: blocked %d, then got %p", was_blocked,
	    waiter_item);
	CHECK(nk_zone_get_cur(z) == LIMIT, "nk_zone_get_cur() = %d, want %d (99 + the waiter's)",
	    nk_zone_get_cur(z), LIMIT);
	errno = 0;
	extra = nk_zalloc(z, NK_NOWAIT);
	CHECK(extra == NULL, "past the limit after the waiter's allocation: %p", extra);
	if (extra != NULL)
		nk_zfree(z, extra);
	if (waiter_item != NULL)
		nk_zfree(z, waiter_item);
	free_all(z, items, n);
	CHECK(nk_zone_get_cur(z) == 0, "nk_zone_get_cur() = %d after freeing all", nk_zone_get_cur(z));
	expect_exactly_limit(z, "1 again, after the waiter");

	/* ---- 3a: caches warmed before the limit, threads alive ---- */
	ct_phase = "3a: warm caches, then the limit";
	struct warm ws[NWARM];
	nk_zone_t z3 = make_zone("limit-warm-alive", 128);
	warm_start(ws, z3);
	for (int i = 0; i < NWARM; i++)
		warm_do(&ws[i], CMD_WARM, 250);
	CHECK(nk_zone_get_cur(z3) == 0, "3a: get_cur %d after the warm-up", nk_zone_get_cur(z3));
	set_limit(z3, LIMIT);
	{
		static void *mine[LIMIT + 50];
		int m = nowait_fill(z3, mine, LIMIT + 50, "3a: main thread");
		CHECK(m == LIMIT, "3a: limit %d set while %d threads held warm caches: the main thread "
		    "got %d items with NK_NOWAIT, want exactly %d", LIMIT, NWARM, m, LIMIT);
		int others = 0;
		for (int i = 0; i < NWARM; i++)
			others += warm_do(&ws[i], CMD_TRY, 20);
		CHECK(m + others <= LIMIT, "3a: threads with warm caches went past the limit: main %d + "
		    "others %d > %d", m, others, LIMIT);
		for (int i = 0; i < NWARM; i++)
			warm_do(&ws[i], CMD_FREE, 0);
		free_all(z3, mine, m);
		/* Now the warm threads, among them, get exactly the limit. */
		int total = 0;
		for (int i = 0; i < NWARM; i++)
			total += warm_do(&ws[i], CMD_TRY, LIMIT / NWARM);
		total += warm_do(&ws[0], CMD_TRY, LIMIT);
		CHECK(total == LIMIT, "3a: the threads whose caches were warm got %d items in all, "
		    "want exactly %d", total, LIMIT);
		CHECK(nk_zone_get_cur(z3) == total, "3a: get_cur %d with %d out", nk_zone_get_cur(z3),
		    total);
	}
	warm_stop(ws);
	CHECK(nk_zone_get_cur(z3) == 0, "3a: get_cur %d at the end", nk_zone_get_cur(z3));
	expect_exactly_limit(z3, "3a after the warm threads exited");

	/* ---- 3b: the limit first, then threads allocate and free, and stay ---- */
	ct_phase = "3b: the limit, then busy threads";
	nk_zone_t z4 = make_zone("limit-then-warm", 256);
	set_limit(z4, LIMIT);
	warm_start(ws, z4);
	for (int i = 0; i < NWARM; i++)
		warm_do(&ws[i], CMD_WARM, 80);
	expect_exactly_limit(z4, "3b: limit, then threads allocated and freed");
	{
		int total = 0;
		for (int i = 0; i < NWARM; i++)
			total += warm_do(&ws[i], CMD_TRY, LIMIT);
		CHECK(total == LIMIT, "3b: the threads got %d items in all, want exactly %d", total, LIMIT);
		errno = 0;
		extra = nk_zalloc(z4, NK_NOWAIT);
		CHECK(extra == NULL && errno == ENOMEM, "3b: main thread past the limit: %p errno %d",
		    extra, errno);
		if (extra != NULL)
			nk_zfree(z4, extra);
	}
	warm_stop(ws);
	expect_exactly_limit(z4, "3b after the threads exited");

	/* ---- 3c: caches warmed by threads that exited, then the limit ---- */
	ct_phase = "3c: exited warm threads, then the limit";
	nk_zone_t z5 = make_zone("limit-warm-exited", 32);
	warm_start(ws, z5);
	for (int i = 0; i < NWARM; i++)
		warm_do(&ws[i], CMD_WARM, 300);
	warm_stop(ws);
	/* The main thread's cache too. */
	{
		void *tmp[200];
		for (int i = 0; i < 200; i++)
			if ((tmp[i] = nk_zalloc(z5, NK_NOWAIT)) == NULL)
				FAIL("3c: warm-up allocation failed");
		free_all(z5, tmp, 200);
	}
	set_limit(z5, LIMIT);
	expect_exactly_limit(z5, "3c: caches warmed, threads exited, then the limit");

	/* ---- 3d: items freed by a thread on another domain ---- */
	ct_phase = "3d: cross-domain frees at the limit";
	nk_zone_t z6 = make_zone("limit-xdomain", 72);
	set_limit(z6, LIMIT);
	if (nk_thread_set_domain(0) != 0)
		FAIL("nk_thread_set_domain(0) failed");
	{
		struct xfree_arg xa = { z6, {0}, 0 };
		xa.n = nowait_fill(z6, xa.items, LIMIT + 10, "3d: main thread on domain 0");
		CHECK(xa.n == LIMIT, "3d: main thread got %d, want exactly %d", xa.n, LIMIT);
		struct nk_domain_stats before, after;
		nk_zone_stats(z6, 2, &before);
		pthread_t xt;
		if (pthread_create(&xt, NULL, xfree_main, &xa) != 0)
			FAIL("pthread_create failed");
		pthread_join(xt, NULL);
		nk_zone_stats(z6, 2, &after);
		CHECK(after.xdomain - before.xdomain == (uint64_t)xa.n && after.frees - before.frees ==
		    (uint64_t)xa.n, "3d: %d items of domain 0 freed on domain 2: frees +%llu xdomain +%llu",
		    xa.n, (unsigned long long)(after.frees - before.frees),
		    (unsigned long long)(after.xdomain - before.xdomain));
	}
	expect_exactly_limit(z6, "3d: after a thread on domain 2 freed the 100 items of domain 0");
	nk_thread_set_domain(-1);

	/* ---- 4: lifting the limit ---- */
	ct_phase = "4: no limit";
	CHECK(nk_zone_set_max(z5, 0) == 0, "set_max(0) did not return 0");
	CHECK(nk_zone_get_max(z5) == 0, "get_max() = %d after set_max(0)", nk_zone_get_max(z5));
	{
		static void *many[3 * LIMIT];
		int m = nowait_fill(z5, many, 3 * LIMIT, "4: no limit");
		CHECK(m == 3 * LIMIT, "4: limit lifted, got only %d of %d", m, 3 * LIMIT);
		free_all(z5, many, m);
		CHECK(nk_zone_get_cur(z5) == 0, "4: get_cur %d", nk_zone_get_cur(z5));
	}
	return nkt_done(ct_name);
}
