/*
 * Topology discovery.  hwloc finds the NUMA nodes, their cpus and the
 * distance matrix once, on the bootstrap path: hwloc calls malloc, which is
 * numakeg in an LD_PRELOADed process, so the caller arranges for those calls
 * to be served by the boot allocator.
 *
 * hwloc is loaded with dlopen, and only on a machine with more than one
 * NUMA node online: linked, it (and libudev and libm behind it) would be
 * loaded and relocated by every process started under numakeg, shell
 * commands included, where almost all machines have one node and nothing to
 * discover.  Its header gives the types and constants; every call goes
 * through a pointer from dlsym, so the library has no hwloc symbol to bind.
 *
 * NUMAKEG_FAKE_DOMAINS=N replaces the machine with N domains: cpu c is on
 * domain c % N, and a thread may say which domain it runs on
 * (nk_thread_set_domain), which is how tests migrate threads.  Their
 * distances form a line (10 + 10 * |i - j|) unless NUMAKEG_FAKE_DISTANCES
 * gives a matrix.
 *
 * Owns: nk_topo.  Calls: the kernel, the dynamic loader, hwloc, options.c's
 * nk_options_domains, nk_msg.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <hwloc.h>
#include <hwloc/distances.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "topo.h"

struct nk_topo nk_topo = { .ndomains = 1, .bind_domain = -1 };
__thread int nk_tls_domain_override = -1;

static void
topo_sort_fallbacks(void)
{
	int n = nk_topo.ndomains;
	if (n == 1)
		return;  /* fallback[0][0] == 0 already: no write, no page touched */
	for (int d = 0; d < n; d++) {
		/* Insertion sort by (distance, id): n is small and this runs once. */
		uint8_t order[NK_MAX_DOMAINS];
		for (int i = 0; i < n; i++) {
			int j = i;
			while (j > 0) {
				int a = order[j - 1];
				if (nk_topo.distance[d][a] < nk_topo.distance[d][i] ||
				    (nk_topo.distance[d][a] == nk_topo.distance[d][i] && a < i))
					break;
				order[j] = order[j - 1];
				j--;
			}
			order[j] = (uint8_t)i;
		}
		/* The domain itself is always first, whatever the table says. */
		nk_topo.fallback[d][0] = (uint8_t)d;
		int k = 1;
		for (int i = 0; i < n; i++)
			if (order[i] != d)
				nk_topo.fallback[d][k++] = order[i];
	}
}

static void
topo_fake(int n)
{
	nk_topo.fake = true;
	nk_topo.ndomains = n;
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);
	nk_topo.ncpus = (int)nk_min(nk_max(ncpu, 1), NK_MAX_CPUS);
	for (int i = 0; i < n; i++)
		CPU_ZERO(&nk_topo.domain_cpus[i]);
	/*
	 * cpu c is on domain c % n, counted rather than divided: this runs at
	 * every process start, and with one domain cpu_domain is already zero
	 * (writing it would fault its pages in for nothing).
	 */
	int last = n > 1 ? NK_MAX_CPUS : nk_topo.ncpus;
	for (int c = 0, d = 0; c < last; c++) {
		if (n > 1)
			nk_topo.cpu_domain[c] = (uint8_t)d;
		if (c < nk_topo.ncpus)
			CPU_SET(c, &nk_topo.domain_cpus[d]);
		if (++d == n)
			d = 0;
	}
	for (int i = 0; i < n; i++) {
		nk_topo.os_node[i] = 0;
		for (int j = 0; j < n; j++) {
			/* A line of nodes: the nearest neighbour is unambiguous. */
			int gap = i > j ? i - j : j - i;
			nk_topo.distance[i][j] = (uint16_t)(10 + 10 * gap);
		}
	}
}

/*
 * NUMAKEG_FAKE_DISTANCES: the fake domains' distance matrix, row-major,
 * N*N comma-separated numbers (1..65535), so that tests can give the
 * fallback an order that is not the index order.  Parsed by hand: this runs
 * before malloc works.  Anything malformed leaves the line topology, with one
 * line on stderr.
 */
static void
topo_fake_distances(int n)
{
	const char *s = nk_getenv("NUMAKEG_FAKE_DISTANCES");
	if (s == NULL || *s == '\0')
		return;
	static uint16_t parsed[NK_MAX_DOMAINS][NK_MAX_DOMAINS] NK_BIG_BSS;
	const char *p = s;
	int count = 0;
	for (;;) {
		unsigned long v = 0;
		int digits = 0;
		while (*p >= '0' && *p <= '9' && digits < 6) {
			v = v * 10 + (unsigned long)(*p++ - '0');
			digits++;
		}
		if (digits == 0 || v == 0 || v > 65535 || count == n * n)
			goto bad;
		parsed[count / n][count % n] = (uint16_t)v;
		count++;
		if (*p == '\0')
			break;
		if (*p++ != ',')
			goto bad;
	}
	if (count != n * n)
		goto bad;
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++)
			nk_topo.distance[i][j] = parsed[i][j];
	return;
bad:
	nk_msg("ignoring NUMAKEG_FAKE_DISTANCES=%.64s: want %d*%d comma-separated numbers "
	    "1..65535, row by row; using a line of domains", s, n, n);
}

/*
 * The hwloc functions topo_hwloc calls, from libhwloc.so.15 (hwloc 2.x: the
 * soname is its ABI, which the header's types describe).  Declared with the
 * header's own prototypes, so a mismatch is a compile error.
 */
struct topo_hwloc_api {
	__typeof__(hwloc_get_api_version) *get_api_version;
	__typeof__(hwloc_topology_init) *topology_init;
	__typeof__(hwloc_topology_destroy) *topology_destroy;
	__typeof__(hwloc_topology_load) *topology_load;
	__typeof__(hwloc_topology_set_io_types_filter) *set_io_types_filter;
	__typeof__(hwloc_topology_set_cache_types_filter) *set_cache_types_filter;
	__typeof__(hwloc_topology_set_icache_types_filter) *set_icache_types_filter;
	__typeof__(hwloc_get_nbobjs_by_depth) *get_nbobjs_by_depth;
	__typeof__(hwloc_get_obj_by_depth) *get_obj_by_depth;
	__typeof__(hwloc_bitmap_first) *bitmap_first;
	__typeof__(hwloc_bitmap_next) *bitmap_next;
	__typeof__(hwloc_distances_get_by_type) *distances_get_by_type;
	__typeof__(hwloc_distances_release) *distances_release;
};

#define TOPO_HWLOC_SONAME "libhwloc.so.15"

/*
 * Loads hwloc and finds its functions.  The library stays loaded (never
 * dlclose'd): the program may use hwloc too, and unloading at start-up buys
 * nothing but risk.  On failure, says why (once) and returns false.
 */
static bool
topo_hwloc_load(struct topo_hwloc_api *api)
{
	void *lib = dlopen(TOPO_HWLOC_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (lib == NULL) {
		const char *why = dlerror();
		nk_msg("cannot load %s (%s): install Debian's libhwloc15 to use this machine's NUMA nodes",
		    TOPO_HWLOC_SONAME, why ? why : "?");
		return false;
	}
	static const struct { const char *name; size_t offset; } syms[] = {
#define TOPO_SYM(field, name) { name, offsetof(struct topo_hwloc_api, field) }
		TOPO_SYM(get_api_version, "hwloc_get_api_version"),
		TOPO_SYM(topology_init, "hwloc_topology_init"),
		TOPO_SYM(topology_destroy, "hwloc_topology_destroy"),
		TOPO_SYM(topology_load, "hwloc_topology_load"),
		TOPO_SYM(set_io_types_filter, "hwloc_topology_set_io_types_filter"),
		TOPO_SYM(set_cache_types_filter, "hwloc_topology_set_cache_types_filter"),
		TOPO_SYM(set_icache_types_filter, "hwloc_topology_set_icache_types_filter"),
		TOPO_SYM(get_nbobjs_by_depth, "hwloc_get_nbobjs_by_depth"),
		TOPO_SYM(get_obj_by_depth, "hwloc_get_obj_by_depth"),
		TOPO_SYM(bitmap_first, "hwloc_bitmap_first"),
		TOPO_SYM(bitmap_next, "hwloc_bitmap_next"),
		TOPO_SYM(distances_get_by_type, "hwloc_distances_get_by_type"),
		TOPO_SYM(distances_release, "hwloc_distances_release"),
#undef TOPO_SYM
	};
	for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		void *f = dlsym(lib, syms[i].name);
		if (f == NULL) {
			nk_msg("%s has no %s: not the hwloc 2 it should be", TOPO_HWLOC_SONAME,
			    syms[i].name);
			return false;
		}
		/* POSIX: a data pointer from dlsym converts to a function pointer. */
		memcpy((char *)api + syms[i].offset, &f, sizeof(f));
	}
	/* The struct layouts compiled in are hwloc 2's: refuse another major. */
	unsigned version = api->get_api_version();
	if ((version >> 16) != (HWLOC_API_VERSION >> 16)) {
		nk_msg("%s is hwloc API %#x, numakeg was built for %#x", TOPO_HWLOC_SONAME,
		    version, (unsigned)HWLOC_API_VERSION);
		return false;
	}
	return true;
}

/* hwloc: nodes, cpusets, distances.  Returns false if it could not run. */
static bool
topo_hwloc(void)
{
	struct topo_hwloc_api api;
	if (!topo_hwloc_load(&api))
		return false;
	hwloc_topology_t t;
	if (api.topology_init(&t) != 0)
		return false;
	/*
	 * Only nodes and cpus matter: skip I/O and caches and their plugins.
	 * (Filtering every type away changed the nodes' cpusets: the NUMA VM
	 * test caught a thread of domain 1 running on node 0's cpu.)
	 */
	api.set_io_types_filter(t, HWLOC_TYPE_FILTER_KEEP_NONE);
	api.set_cache_types_filter(t, HWLOC_TYPE_FILTER_KEEP_NONE);
	api.set_icache_types_filter(t, HWLOC_TYPE_FILTER_KEEP_NONE);
	if (api.topology_load(t) != 0) {
		api.topology_destroy(t);
		return false;
	}
	/* NUMA nodes live at their own virtual depth in hwloc 2. */
	int n = (int)api.get_nbobjs_by_depth(t, HWLOC_TYPE_DEPTH_NUMANODE);
	if (n < 1)
		n = 1;
	if (n > NK_MAX_DOMAINS) {
		nk_msg("%d NUMA nodes; numakeg uses the first %d", n, NK_MAX_DOMAINS);
		n = NK_MAX_DOMAINS;
	}
	nk_topo.ndomains = n;
	int maxcpu = 0;
	for (int d = 0; d < n; d++) {
		hwloc_obj_t node = api.get_obj_by_depth(t, HWLOC_TYPE_DEPTH_NUMANODE, (unsigned)d);
		CPU_ZERO(&nk_topo.domain_cpus[d]);
		nk_topo.os_node[d] = node ? (int)node->os_index : 0;
		if (node == NULL || node->cpuset == NULL)
			continue;
		for (int cpu = api.bitmap_first(node->cpuset); cpu >= 0;
		    cpu = api.bitmap_next(node->cpuset, cpu)) {
			if (cpu < NK_MAX_CPUS) {
				nk_topo.cpu_domain[cpu] = (uint8_t)d;
				CPU_SET(cpu, &nk_topo.domain_cpus[d]);
				maxcpu = nk_max(maxcpu, cpu + 1);
			}
		}
	}
	nk_topo.ncpus = nk_max(maxcpu, 1);

	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++)
			nk_topo.distance[i][j] = (uint16_t)(i == j ? 10 : 20);
	struct hwloc_distances_s *dist[4];
	unsigned nr = 4;
	if (n > 1 && api.distances_get_by_type(t, HWLOC_OBJ_NUMANODE, &nr, dist,
	    HWLOC_DISTANCES_KIND_MEANS_LATENCY, 0) == 0 && nr > 0) {
		struct hwloc_distances_s *m = dist[0];
		for (unsigned i = 0; i < m->nbobjs; i++)
			for (unsigned j = 0; j < m->nbobjs; j++) {
				unsigned a = m->objs[i]->logical_index;
				unsigned b = m->objs[j]->logical_index;
				if (a < (unsigned)n && b < (unsigned)n)
					nk_topo.distance[a][b] =
					    (uint16_t)nk_min(m->values[i * m->nbobjs + j], 65535u);
			}
		/* nr says how many exist, which may be more than were stored. */
		for (unsigned k = 0; k < nk_min(nr, 4u); k++)
			api.distances_release(t, dist[k]);
	}
	api.topology_destroy(t);
	return true;
}

/*
 * True when the process can have memory on one NUMA node only: there is
 * nothing for hwloc to discover, and its discovery costs milliseconds at
 * every process start (every git or shell subprocess under LD_PRELOAD pays
 * it).  The kernel says so in one system call (the nodes the cpuset allows,
 * which is also what hwloc would report); sysfs's list of online nodes is
 * read only where that call is refused.
 */
static bool
topo_one_node_online(void)
{
	int allowed = sys_allowed_nodes();
	if (allowed >= 1)
		return allowed == 1;
	int fd = open("/sys/devices/system/node/online", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;  /* no sysfs: let hwloc decide */
	char buf[32];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return strcmp(buf, "0\n") == 0 || strcmp(buf, "0") == 0;
}

/*
 * One real domain.  Its cpus matter only to pinning (topo_set_thread_domain)
 * and are counted then (topo_count_cpus): sysconf reads a sysfs file, which
 * every process start would pay for.  Only the first line of nk_topo is
 * written (fallback[0][0] is 0 already), so a start touches one page of it.
 */
static void
topo_one_domain(const char *source)
{
	nk_topo.ndomains = 1;
	nk_topo.fake = false;
	nk_topo.os_node[0] = 0;
	nk_topo.distance[0][0] = 10;
	nk_topo.source = source;
}

static pthread_once_t topo_cpus_once = PTHREAD_ONCE_INIT;

/* topo_one_domain's cpus, on the first pinning: every cpu is on domain 0. */
static void
topo_count_cpus(void)
{
	if (nk_topo.ncpus != 0)
		return;  /* hwloc's count */
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);
	int n = (int)nk_min(nk_max(ncpu, 1), NK_MAX_CPUS);
	CPU_ZERO(&nk_topo.domain_cpus[0]);
	for (int c = 0; c < n; c++)
		CPU_SET(c, &nk_topo.domain_cpus[0]);
	__atomic_store_n(&nk_topo.ncpus, n, __ATOMIC_RELEASE);
}

void
topo_init(void)
{
	if (nk_opt.fake_domains > 0) {
		topo_fake(nk_opt.fake_domains);
		topo_fake_distances(nk_opt.fake_domains);
		nk_topo.source = "fake";
	} else if (topo_one_node_online()) {
		topo_one_domain("one node");
	} else if (topo_hwloc()) {
		nk_topo.source = "hwloc";
	} else {
		nk_msg("no topology from hwloc; running as one domain");
		topo_one_domain("none");
	}
	const char *fake_distances = nk_getenv("NUMAKEG_FAKE_DISTANCES");
	if (nk_opt.fake_domains <= 0 && fake_distances != NULL && *fake_distances)
		nk_msg("ignoring NUMAKEG_FAKE_DISTANCES: it needs NUMAKEG_FAKE_DOMAINS");
	topo_sort_fallbacks();
	nk_options_domains(nk_topo.ndomains, nk_topo.os_node, nk_topo.fake);
}

int
topo_set_thread_domain(int domain)
{
	if (domain < -1 || domain >= nk_topo.ndomains)
		return EINVAL;
	if (nk_topo.fake) {
		nk_tls_domain_override = domain;
		return 0;
	}
	pthread_once(&topo_cpus_once, topo_count_cpus);
	cpu_set_t set;
	if (domain < 0) {
		CPU_ZERO(&set);
		for (int c = 0; c < nk_topo.ncpus; c++)
			CPU_SET(c, &set);
	} else {
		set = nk_topo.domain_cpus[domain];
		if (CPU_COUNT(&set) == 0)
			return EINVAL;  /* a memory-only node has no cpu to run on */
	}
	if (sched_setaffinity(0, sizeof(set), &set) != 0)
		return errno;
	return 0;
}
