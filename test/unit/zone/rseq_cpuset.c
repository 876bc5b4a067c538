/*
 * cache_rseq_cpuset: a CPU whose per-CPU cache holds items and on which
 * no thread runs any more (the thread that filled it was moved out with
 * sched_setaffinity, as a cpuset change or an offline CPU would).
 *
 * Checked, in the per-CPU mode (skipped otherwise, and on one CPU):
 *  - right after the move: nk_zone_get_cur() == 0 and the cached items on
 *    the abandoned CPU's domain > 0 (the items are still there, counted);
 *  - the idle trim (NUMAKEG_TRIM_MS, set short by the test's environment)
 *    takes them back while the thread keeps working on the other CPU:
 *    cached items on that domain reach 0, get_cur stays exact;
 *  - after filling the abandoned CPU again: nk_zdestroy() gets every item
 *    back from it (keg_fini reports no slab still holding items: its
 *    message on stderr, captured, must be absent).
 *
 * "cache_rseq_cpuset offline" is the same with the CPU really taken
 * offline (/sys/devices/system/cpu/cpuN/online), in the two-node QEMU guest
 * of tools/numa-vm.sh where the program is root (ctest: numa_vm_cpu_offline):
 * the kernel moves the thread off the CPU, the trim and nk_zdestroy drain
 * the offline CPU's arrays (membarrier to an offline CPU has nothing to
 * interrupt), and once the CPU is back online a thread pinned to it is
 * served per CPU again.  The two CPUs are on different nodes.
 */
#include "cache_common.h"

#include <fcntl.h>

#include "zone.h"

#define NITEMS 150

static nk_zone_t zone;
static int cpu_a, cpu_b;
static bool offline_mode;   /* take cpu_b offline instead of leaving it */

/* Writes "0" or "1" to cpu's online file (offline mode only). */
static void set_online(int cpu, int on)
{
	char path[64];
	snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d/online", cpu);
	int fd = open(path, O_WRONLY);
	if (fd < 0 || write(fd, on ? "1" : "0", 1) != 1)
		FAIL("cpu %d %s: %s: %s", cpu, on ? "online" : "offline", path, strerror(errno));
	close(fd);
}

/* Fills the calling CPU's array: NITEMS allocated, then freed. */
static void fill_here(void)
{
	void *p[NITEMS];
	for (int i = 0; i < NITEMS; i++)
		if ((p[i] = nk_zalloc(zone, NK_WAITOK)) == NULL)
			FAIL("nk_zalloc returned NULL");
	for (int i = 0; i < NITEMS; i++)
		nk_zfree(zone, p[i]);
}

/* Items the caches of domain d hold (per CPU here: the thread has no cache of its own). */
static uint64_t cached_on(int d)
{
	return zone_domain_tc_items(zone, d);
}

/* The thread leaves cpu_b: moved by its affinity, or by cpu_b going offline. */
static void leave_cpu_b(void)
{
	if (offline_mode) {
		set_online(cpu_b, 0);
		CHECK(sched_getcpu() != cpu_b, "still running on cpu %d after it went offline",
		    cpu_b);
	}
	ct_pin(cpu_a);
}

static void *filler(void *arg)
{
	(void)arg;
	ct_pin(cpu_b);
	fill_here();
	leave_cpu_b();   /* for good (in offline mode: until the end) */
	CHECK(nk_tls_tc == NK_TC_PCPU, "the thread is not served by the per-CPU caches");
	int db = nk_topo.cpu_domain[cpu_b];
	CHECK(nk_zone_get_cur(zone) == 0, "get_cur %d right after the move", nk_zone_get_cur(zone));
	CHECK(cached_on(db) > 0, "no item cached on cpu %d's domain %d after it was filled", cpu_b, db);
	/* Keep missing on cpu_a (allocations past the array, frees back) until the trim ran. */
	ct_phase = "waiting for the idle trim";
	double end = ct_now() + 10;
	while (cached_on(db) > 0 && ct_now() < end) {
		/* More than an array can hold at its largest: every round misses. */
		static void *p[NK_PCPU_SLOTS + 100];
		for (int i = 0; i < NK_PCPU_SLOTS + 100; i++)
			if ((p[i] = nk_zalloc(zone, NK_WAITOK)) == NULL)
				FAIL("nk_zalloc returned NULL");
		for (int i = 0; i < NK_PCPU_SLOTS + 100; i++)
			nk_zfree(zone, p[i]);
		ct_sleep_ms(5);
	}
	CHECK(cached_on(db) == 0, "cpu %d (domain %d) still caches %llu items: the idle trim "
	    "did not take them back", cpu_b, db, (unsigned long long)cached_on(db));
	CHECK(nk_zone_get_cur(zone) == 0, "get_cur %d after the trim", nk_zone_get_cur(zone));
	/* Again, and this time the zone is destroyed with cpu_b's array full. */
	if (offline_mode)
		set_online(cpu_b, 1);
	ct_pin(cpu_b);
	fill_here();
	leave_cpu_b();
	CHECK(cached_on(db) > 0, "no item cached on cpu %d after the second fill", cpu_b);
	return NULL;
}

int main(int argc, char **argv)
{
	offline_mode = argc > 1 && strcmp(argv[1], "offline") == 0;
	if (offline_mode) {
		/* In the guest: no ctest to set the trim's period; numakeg reads
		 * it at start, so the program runs itself again with it set. */
		if (getenv("NUMAKEG_TRIM_MS") == NULL) {
			setenv("NUMAKEG_TRIM_MS", "20", 1);
			execv("/proc/self/exe", argv);
			FAIL("execv(/proc/self/exe): %s", strerror(errno));
		}
		ct_name = "numa_vm_cpu_offline";
		setvbuf(stdout, NULL, _IOLBF, 0);
		ct_watchdog(300);   /* software emulation */
	} else {
		ct_start("cache_rseq_cpuset", 60);
	}
	if (!nk_pcpu_on) {
		nkt_skip("the per-CPU caches are off (NUMAKEG_CACHE=thread, no rseq or no membarrier)");
	}
	ct_two_cpus(&cpu_a, &cpu_b);
	if (nk_topo.cpu_domain[cpu_a] == nk_topo.cpu_domain[cpu_b]) {
		if (offline_mode)
			FAIL("cpus %d and %d share a node in the two-node guest", cpu_a, cpu_b);
		nkt_skip("cpus %d and %d share a domain (want NUMAKEG_FAKE_DOMAINS=4)", cpu_a, cpu_b);
	}
	if (offline_mode && access("/sys/devices/system/cpu/cpu1/online", W_OK) != 0)
		FAIL("cannot take cpus offline here: run it in tools/numa-vm.sh's guest");
	zone = nk_zcreate("rseq-cpuset", 64, NULL, NULL, NULL, NULL, NK_ALIGN_PTR,
	    NK_ZONE_FIRSTTOUCH);
	if (zone == NULL)
		FAIL("nk_zcreate: errno %d", errno);
	pthread_t th;
	if (pthread_create(&th, NULL, filler, NULL) != 0)
		FAIL("pthread_create");
	pthread_join(th, NULL);

	/* nk_zdestroy with cpu_b's array holding items; keg_fini's report captured. */
	ct_phase = "nk_zdestroy";
	char path[] = "/tmp/nk_rseq_cpuset_XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		FAIL("mkstemp: %s", strerror(errno));
	unlink(path);
	fflush(stderr);
	int saved = dup(2);
	dup2(fd, 2);
	nk_zdestroy(zone);
	dup2(saved, 2);
	close(saved);
	char buf[256] = { 0 };
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	CHECK(n <= 0 || strstr(buf, "items not freed") == NULL,
	    "nk_zdestroy left items behind: %s", buf);
	if (offline_mode) {
		/* cpu_b back: a thread pinned to it is served by its array again. */
		ct_phase = "cpu back online";
		set_online(cpu_b, 1);
		zone = nk_zcreate("rseq-cpuset-2", 64, NULL, NULL, NULL, NULL, NK_ALIGN_PTR,
		    NK_ZONE_FIRSTTOUCH);
		if (zone == NULL)
			FAIL("nk_zcreate: errno %d", errno);
		ct_pin(cpu_b);
		fill_here();
		int db = nk_topo.cpu_domain[cpu_b];
		CHECK(nk_tls_tc == NK_TC_PCPU, "the main thread is not served per CPU");
		CHECK(cached_on(db) > 0, "cpu %d back online: nothing cached on its domain %d",
		    cpu_b, db);
		CHECK(nk_zone_get_cur(zone) == 0, "get_cur %d on the cpu back online",
		    nk_zone_get_cur(zone));
		nk_zdestroy(zone);
	}
	printf("%s: cpus %d and %d%s\n", ct_name, cpu_a, cpu_b,
	    offline_mode ? ", the second taken offline twice" : "");
	return nkt_done(ct_name);
}
