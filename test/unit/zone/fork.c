/*
 * cache_fork: 4 threads allocate and free continuously (several zones,
 * cross-domain frees between them through a shared exchange, items stamped
 * and checked) while the main thread forks, several times (the last two
 * forks come from a second thread with a warm cache of its own).  Each child
 * at once allocates from its only thread and from 4 new threads (on every
 * domain), checks the stamps and the domains, frees, checks that the
 * counters balance for what it did, and exits 0.  The parent checks each
 * child's exit status and carries on; at the end the busy threads stop and
 * nk_zone_get_cur() must be 0.  alarm() watches both: a deadlock (a lock
 * left held across fork, a cache torn down twice) fails with a message
 * instead of hanging.
 */
#include "cache_common.h"

#define NDOM    4
#define NZONES  3
#define NBUSY   4
#define NFORKS  8
#define XSLOTS  64
#define CHILD_ITEMS 2000

static nk_zone_t zones[NZONES];
static const size_t zsizes[NZONES] = { 24, 320, 2048 };
static int stop;                        /* atomic */
static uint64_t busy_ops[NBUSY];

/* A shared exchange: a thread drops an item in a slot, another takes it.
 * Items there describe themselves: word 0 is the stamp, its top byte the zone. */
static void *xch[XSLOTS];   /* atomic */

static size_t stamp_size(int zi)
{
	return zsizes[zi] & ~(size_t)7;
}

static void check_free(int zi, void *p, uint64_t stamp, const char *who);

/* An item from the exchange: its stamp says which zone it is from. */
static void check_free_self(void *p, const char *who)
{
	uint64_t st = *(const uint64_t *)p;
	int zi = (int)(st >> 56);
	if (zi >= NZONES)
		FAIL("%s: item %p from the exchange has a bad stamp %#llx", who, p,
		    (unsigned long long)st);
	check_free(zi, p, st, who);
}

static void check_free(int zi, void *p, uint64_t stamp, const char *who)
{
	size_t bad = ct_check(p, stamp_size(zi), stamp);
	CHECK(bad == 0, "%s: item %p of zone %s corrupted at byte %zu", who, p,
	    nk_zone_name(zones[zi]), bad - 1);
	ct_unstamp(p, stamp_size(zi));
	nk_zfree(zones[zi], p);
}

struct busy {
	pthread_t th;
	int id;
};

static void *busy_main(void *arg)
{
	struct busy *b = arg;
	int d = b->id % NDOM;
	if (nk_thread_set_domain(d) != 0)
		FAIL("busy thread %d: nk_thread_set_domain(%d) failed", b->id, d);
	uint64_t rng = ct_seed((uint64_t)b->id, 42), seq = 0;
	enum { KEEP = 64 };
	void *kept[KEEP] = { 0 };
	uint64_t kst[KEEP];
	int kzi[KEEP];
	char who[32];
	snprintf(who, sizeof(who), "busy thread %d", b->id);
	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		uint64_t r = nkt_rand(&rng);
		int zi = (int)(r % NZONES);
		int k = (int)((r >> 8) % KEEP);
		void *p = nk_zalloc(zones[zi], NK_WAITOK);
		if (p == NULL)
			FAIL("%s: NK_WAITOK returned NULL", who);
		CHECK(nk_domain_of(p) == d, "%s on domain %d: item %p of domain %d", who, d, p,
		    nk_domain_of(p));
		uint64_t st = ct_stamp((unsigned)zi, (unsigned)b->id, ++seq);
		ct_fill(p, stamp_size(zi), st);
		if ((r >> 20) & 1) {
			/* Through the exchange: another thread (maybe another domain) frees it. */
			void *old = __atomic_exchange_n(&xch[(r >> 24) % XSLOTS], p, __ATOMIC_ACQ_REL);
			if (old != NULL)
				check_free_self(old, who);
		} else {
			if (kept[k] != NULL)
				check_free(kzi[k], kept[k], kst[k], who);
			kept[k] = p;
			kst[k] = st;
			kzi[k] = zi;
		}
		busy_ops[b->id]++;
	}
	for (int k = 0; k < KEEP; k++)
		if (kept[k] != NULL)
			check_free(kzi[k], kept[k], kst[k], who);
	return NULL;
}

/* ---- the child ---- */

struct cjob {
	int id;
	int domain;
	int fails;
};

static int child_work(int id, int domain)
{
	int bad = 0;
	if (domain >= 0 && nk_thread_set_domain(domain) != 0) {
		fprintf(stderr, "child %d: nk_thread_set_domain(%d) failed\n", id, domain);
		return 1;
	}
	int d = nk_current_domain();
	static __thread void *items[CHILD_ITEMS];
	static __thread uint64_t stamps[CHILD_ITEMS];
	for (int i = 0; i < CHILD_ITEMS; i++) {
		int zi = i % NZONES;
		void *p = nk_zalloc(zones[zi], (i & 1) ? NK_NOWAIT : NK_WAITOK);
		if (p == NULL) {
			fprintf(stderr, "child thread %d: nk_zalloc(%s) returned NULL, errno %d\n", id,
			    nk_zone_name(zones[zi]), errno);
			return 1;
		}
		if (nk_domain_of(p) != d && bad++ < 5)
			fprintf(stderr, "child thread %d on domain %d: item %p of domain %d\n", id, d,
			    p, nk_domain_of(p));
		stamps[i] = ct_stamp((unsigned)zi, 200u + (unsigned)id, (uint64_t)i);
		ct_fill(p, stamp_size(zi), stamps[i]);
		items[i] = p;
	}
	for (int i = 0; i < CHILD_ITEMS; i++) {
		int zi = i % NZONES;
		size_t off = ct_check(items[i], stamp_size(zi), stamps[i]);
		if (off != 0 && bad++ < 5)
			fprintf(stderr, "child thread %d: item %p of zone %s corrupted at byte %zu\n",
			    id, items[i], nk_zone_name(zones[zi]), off - 1);
		nk_zfree(zones[zi], items[i]);
	}
	return bad != 0;
}

static void *child_thread(void *arg)
{
	struct cjob *j = arg;
	j->fails = child_work(j->id, j->domain);
	return NULL;
}

static void child(int round)
{
	char phase[64];
	snprintf(phase, sizeof(phase), "child of fork %d", round);
	ct_phase = phase;
	alarm(20);   /* alarms are not inherited: the child's own watchdog */
	int fails = 0;
	int cur0[NZONES];
	for (int zi = 0; zi < NZONES; zi++)
		cur0[zi] = nk_zone_get_cur(zones[zi]);
	/* From the thread that forked, at once (bound: an unbound thread's fake
	 * domain follows the cpu it happens to run on). */
	fails += child_work(0, round % NDOM);
	/* From 4 new threads, one per domain. */
	pthread_t th[NDOM];
	struct cjob jobs[NDOM];
	for (int i = 0; i < NDOM; i++) {
		jobs[i] = (struct cjob){ i + 1, i, 0 };
		if (pthread_create(&th[i], NULL, child_thread, &jobs[i]) != 0) {
			fprintf(stderr, "child: pthread_create failed\n");
			_exit(1);
		}
	}
	for (int i = 0; i < NDOM; i++) {
		pthread_join(th[i], NULL);
		fails += jobs[i].fails;
	}
	/* What the child did balances: get_cur is where it was at the fork. */
	for (int zi = 0; zi < NZONES; zi++) {
		int cur = nk_zone_get_cur(zones[zi]);
		if (cur != cur0[zi]) {
			fprintf(stderr, "child: zone %s: get_cur %d after the child's work, %d before\n",
			    nk_zone_name(zones[zi]), cur, cur0[zi]);
			fails++;
		}
	}
	/* The child can drain: no other thread of the parent exists here. */
	nk_reclaim();
	for (int zi = 0; zi < NZONES; zi++)
		for (int d = 0; d < NDOM; d++) {
			struct nk_domain_stats s;
			nk_zone_stats(zones[zi], d, &s);
			if (s.cached_items != 0) {
				fprintf(stderr, "child: zone %s domain %d: cached_items %llu after nk_reclaim()\n",
				    nk_zone_name(zones[zi]), d, (unsigned long long)s.cached_items);
				fails++;
			}
		}
	fflush(stderr);
	exit(fails ? 1 : 0);
}

/* Forks once from the calling thread, waits for the child, checks it. */
static void do_fork(int f, const char *from)
{
	char phase[64];
	snprintf(phase, sizeof(phase), "parent: fork %d from %s", f, from);
	ct_phase = phase;
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0)
		FAIL("fork: %s", strerror(errno));
	if (pid == 0)
		child(f);
	snprintf(phase, sizeof(phase), "parent: waiting for child %d", f);
	ct_phase = phase;
	/* The child may hang before its own watchdog is set (in the
	 * library's atfork child handler): wait at most 30 s, then kill it. */
	int st = nkt_wait_timeout(pid, 30);
	if (st == -2)
		FAIL("waitpid: %s", strerror(errno));
	if (st == -1)
		FAIL("child of fork %d (pid %d) did not finish in 30 s: a deadlock in the "
		    "child (fork() itself, the atfork child handler, or the child's first "
		    "allocations); killed it", f, (int)pid);
	if (WIFEXITED(st))
		CHECK(WEXITSTATUS(st) == 0, "child of fork %d exited with status %d", f,
		    WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		CHECK(0, "child of fork %d killed by signal %d (%s)", f, WTERMSIG(st),
		    strsignal(WTERMSIG(st)));
	else
		CHECK(0, "child of fork %d: wait status %#x", f, st);
	/* The parent carries on: its own allocations still work. */
	void *p = nk_zalloc(zones[f % NZONES], NK_NOWAIT);
	CHECK(p != NULL, "parent: allocation after fork %d failed", f);
	nk_zfree(zones[f % NZONES], p);
}

/* The last forks come from a thread that is not the main one, its cache warm. */
static void *forker_main(void *arg)
{
	int f = (int)(intptr_t)arg;
	if (nk_thread_set_domain(3) != 0)
		FAIL("forker: nk_thread_set_domain(3) failed");
	void *tmp[100];
	for (int zi = 0; zi < NZONES; zi++) {
		for (int i = 0; i < 100; i++)
			if ((tmp[i] = nk_zalloc(zones[zi], NK_NOWAIT)) == NULL)
				FAIL("forker: allocation failed");
		for (int i = 0; i < 100; i++)
			nk_zfree(zones[zi], tmp[i]);
	}
	do_fork(f, "a second thread");
	return NULL;
}

int main(void)
{
	ct_start("cache_fork", 100);
	for (int zi = 0; zi < NZONES; zi++) {
		char n[32];
		snprintf(n, sizeof(n), "fork-%zu", zsizes[zi]);
		zones[zi] = nk_zcreate(n, zsizes[zi], NULL, NULL, NULL, NULL, NK_ALIGN_PTR,
		    NK_ZONE_FIRSTTOUCH);
		if (zones[zi] == NULL)
			FAIL("nk_zcreate(%s): errno %d", n, errno);
	}
	struct busy busy[NBUSY];
	for (int i = 0; i < NBUSY; i++) {
		busy[i].id = i;
		if (pthread_create(&busy[i].th, NULL, busy_main, &busy[i]) != 0)
			FAIL("pthread_create failed");
	}
	for (int f = 0; f < NFORKS; f++) {
		ct_sleep_ms(20 + 10 * f);
		if (f < NFORKS - 2) {
			do_fork(f, "the main thread");
			continue;
		}
		pthread_t ft;
		if (pthread_create(&ft, NULL, forker_main, (void *)(intptr_t)f) != 0)
			FAIL("pthread_create failed");
		pthread_join(ft, NULL);
	}
	ct_phase = "stopping the busy threads";
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	uint64_t ops = 0;
	for (int i = 0; i < NBUSY; i++) {
		pthread_join(busy[i].th, NULL);
		ops += busy_ops[i];
	}
	for (int x = 0; x < XSLOTS; x++)
		if (xch[x] != NULL)
			check_free_self(xch[x], "main");
	ct_phase = "final checks";
	printf("cache_fork: %d forks while 4 threads made %llu allocations\n", NFORKS,
	    (unsigned long long)ops);
	CHECK(ops > 0, "the busy threads made no allocation");
	for (int zi = 0; zi < NZONES; zi++) {
		int cur = nk_zone_get_cur(zones[zi]);
		CHECK(cur == 0, "zone %s: nk_zone_get_cur() = %d after every item was freed",
		    nk_zone_name(zones[zi]), cur);
		struct nk_domain_stats t = ct_zone_total(zones[zi]);
		CHECK(t.xdomain > 0, "zone %s: no cross-domain free counted", nk_zone_name(zones[zi]));
	}
	return nkt_done(ct_name);
}
