/*
 * Zone limits and NK_WAITOK (seed 004): NOWAIT fails with ENOMEM at a limit
 * and when memory is exhausted; WAITOK sleeps until another thread frees,
 * and never returns NULL.  Run with NUMAKEG_DOMAIN_LIMIT=4M on 4 domains.
 */
#include <time.h>

#include "nk_test.h"

static nk_zone_t zone;
static volatile int got;
static void *waited;

static void *
waiter(void *arg)
{
	(void)arg;
	waited = nk_zalloc(zone, NK_WAITOK);
	__atomic_store_n(&got, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void
test_limit(void)
{
	zone = nk_zcreate("limited", 256, NULL, NULL, NULL, NULL, NK_ALIGN_PTR, 0);
	REQUIRE(zone != NULL, "zcreate");
	CHECK(nk_zone_set_max(zone, 50) == 50, "effective limit");
	CHECK(nk_zone_get_max(zone) == 50, "get_max");
	void *items[50];
	for (int i = 0; i < 50; i++)
		REQUIRE((items[i] = nk_zalloc(zone, NK_NOWAIT)) != NULL, "alloc %d under the limit", i);
	errno = 0;
	CHECK(nk_zalloc(zone, NK_NOWAIT) == NULL && errno == ENOMEM, "NOWAIT past the limit: errno %d", errno);
	got = 0;
	pthread_t t;
	pthread_create(&t, NULL, waiter, NULL);
	usleep(200 * 1000);
	CHECK(!got, "WAITOK did not wait at the limit");
	nk_zfree(zone, items[0]);
	pthread_join(t, NULL);
	CHECK(got && waited != NULL, "WAITOK returned %p", waited);
	CHECK(nk_zone_get_cur(zone) == 50, "cur %d", nk_zone_get_cur(zone));
	nk_zfree(zone, waited);
	for (int i = 1; i < 50; i++)
		nk_zfree(zone, items[i]);
	CHECK(nk_zone_get_cur(zone) == 0, "cur %d", nk_zone_get_cur(zone));
	nk_zdestroy(zone);
}

/* Every domain at its cap: NOWAIT fails; WAITOK waits for a free. */
static void
test_exhaustion(void)
{
	zone = nk_zcreate("big", 4096, NULL, NULL, NULL, NULL, NK_ALIGN_PTR, 0);
	REQUIRE(zone != NULL, "zcreate");
	enum { MAX = 8192 };
	static void *items[MAX];
	int n = 0;
	/*
	 * Exhausted for good: a WAITOK caller first gives back what numakeg's
	 * caches hold (nk_reclaim), which can make room under the cap, so
	 * allocate until even that leaves nothing.
	 */
	for (;;) {
		errno = 0;
		while (n < MAX && (items[n] = nk_zalloc(zone, NK_NOWAIT)) != NULL)
			n++;
		CHECK(n < MAX && errno == ENOMEM, "%d items of 4 KiB under a 4x4 MiB cap, errno %d", n, errno);
		nk_reclaim();
		if (n >= MAX || (items[n] = nk_zalloc(zone, NK_NOWAIT)) == NULL)
			break;
		n++;
	}
	CHECK(n > 4 * 256 / 2, "only %d items before exhaustion", n);
	got = 0;
	pthread_t t;
	pthread_create(&t, NULL, waiter, NULL);
	usleep(300 * 1000);
	CHECK(!got, "WAITOK returned while memory was exhausted");
	for (int i = 0; i < n; i++)
		nk_zfree(zone, items[i]);
	pthread_join(t, NULL);
	CHECK(got && waited != NULL, "WAITOK returned NULL");
	nk_zfree(zone, waited);
	nk_zdestroy(zone);
}

int
main(void)
{
	alarm(100);
	test_limit();
	test_exhaustion();
	return nk_test_done("core_zone");
}
