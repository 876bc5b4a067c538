/*
 * Zone limits and NK_WAITOK (seed 004): NOWAIT fails with ENOMEM at a limit
 * and when memory is exhausted; WAITOK sleeps until another thread frees,
 * and never returns NULL.  Run with NUMAKEG_DOMAIN_LIMIT=4M on 4 domains.
 */
#include <stdbool.h>
#include <sys/syscall.h>
#include <time.h>

#include "nk_test.h"
#include "numakeg.h"
#include "zone.h"  /* the zone's sleeper count, for the handshake */

static nk_zone_t zone;
static volatile int got;
static void *waited;
static int waiter_tid;   /* set by the waiter before it allocates: it has started */

static void *
waiter(void *arg)
{
	(void)arg;
	__atomic_store_n(&waiter_tid, (int)syscall(SYS_gettid), __ATOMIC_SEQ_CST);
	waited = nk_zalloc(zone, NK_WAITOK);
	__atomic_store_n(&got, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void
start_waiter(pthread_t *t)
{
	got = 0;
	waited = NULL;
	__atomic_store_n(&waiter_tid, 0, __ATOMIC_SEQ_CST);
	REQUIRE(pthread_create(t, NULL, waiter, NULL) == 0, "pthread_create");
}

/* The waiter thread's scheduler state from /proc ('S': sleeping), or '?'. */
static char
waiter_state(void)
{
	int tid = __atomic_load_n(&waiter_tid, __ATOMIC_SEQ_CST);
	if (tid == 0)
		return '?';
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return '?';
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *paren = strrchr(buf, ')');   /* the name may hold spaces */
	return paren != NULL && paren[1] == ' ' ? paren[2] : '?';
}

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* Page allocations refused on all domains so far. */
static uint64_t
refusals(void)
{
	uint64_t sum = 0;
	for (int d = 0; d < nk_ndomains(); d++) {
		struct nk_page_stats ps;
		nk_page_stats(d, &ps);
		sum += ps.fallbacks;
	}
	return sum;
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
	pthread_t t;
	start_waiter(&t);
	/*
	 * The handshake: the waiter has started and sleeps on the zone's limit
	 * (it counts itself a sleeper before it waits).  Without it a waiter
	 * that ran late would pass without ever having to wait.
	 */
	int ms = 0;
	while (ms < 10000 && !got && __atomic_load_n(&zone->sleepers, __ATOMIC_SEQ_CST) != 1) {
		sleep_ms(1);
		ms++;
	}
	CHECK(!got, "WAITOK returned %p at the limit instead of sleeping", waited);
	REQUIRE(__atomic_load_n(&zone->sleepers, __ATOMIC_SEQ_CST) == 1,
	    "after %d ms the WAITOK caller is not asleep on the limit (sleepers %d, started %d)",
	    ms, zone->sleepers, waiter_tid != 0);
	sleep_ms(100);
	CHECK(!got, "WAITOK returned at the limit while no item was freed");
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
	pthread_t t;
	uint64_t refused = refusals();
	start_waiter(&t);
	/*
	 * The handshake: the waiter has started, its allocation was refused
	 * (the page layer counted more refusals, and nothing else runs), and
	 * it sleeps before it tries again.  Without it a waiter that ran late
	 * would pass without ever having to wait.
	 */
	int ms = 0;
	bool refused_now = false, slept = false;
	while (ms < 10000 && !got && !(refused_now && slept)) {
		refused_now = refused_now || (waiter_tid != 0 && refusals() > refused);
		slept = refused_now && waiter_state() == 'S';
		if (!slept) {
			sleep_ms(1);
			ms++;
		}
	}
	CHECK(!got, "WAITOK returned %p while memory was exhausted", waited);
	REQUIRE(refused_now && slept, "after %d ms: waiter started %d, refused %d, seen asleep %d",
	    ms, waiter_tid != 0, refused_now, slept);
	sleep_ms(100);
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
	return nkt_done("core_zone");
}
