/*
 * Topology: the domains, which cpu is on which, how far domains are from
 * each other, and which domain the calling thread runs on now.
 */
#ifndef NK_TOPO_H
#define NK_TOPO_H

#include "nk_base.h"  /* brings <sched.h> and <sys/rseq.h>, before its hidden pragma */
/* The layer below: where the kernel put pages (sys_move_pages), for topo's users. */
#include "sys.h"

struct nk_topo {
	int ndomains;
	bool fake;                                   /* NUMAKEG_FAKE_DOMAINS */
	const char *source;                          /* where the topology came from */
	int ncpus;                                   /* cpu ids are < ncpus (one real domain: 0 until a thread is pinned) */
	int bind_domain;                             /* -1, or every thread's domain */
	int os_node[NK_MAX_DOMAINS];                 /* the kernel's node id */
	uint16_t distance[NK_MAX_DOMAINS][NK_MAX_DOMAINS];
	/* fallback[d]: every domain, nearest first; fallback[d][0] == d. */
	uint8_t fallback[NK_MAX_DOMAINS][NK_MAX_DOMAINS];
	uint8_t cpu_domain[NK_MAX_CPUS];
	cpu_set_t domain_cpus[NK_MAX_DOMAINS];       /* for pinning threads */
};
extern struct nk_topo nk_topo;
extern __thread int nk_tls_domain_override;

/*
 * Discovers the topology; runs once on the bootstrap path.  On a machine
 * with more than one node it loads hwloc (dlopen), which mallocs.
 */
void topo_init(void);

/* The current cpu: one load from glibc's rseq area, else a system call. */
static inline int
topo_current_cpu(void)
{
	if (NK_LIKELY(__rseq_size != 0)) {
		const struct rseq *rs = (const struct rseq *)
		    ((const char *)__builtin_thread_pointer() + __rseq_offset);
		int cpu = (int)__atomic_load_n(&rs->cpu_id, __ATOMIC_RELAXED);
		if (NK_LIKELY(cpu >= 0))
			return cpu;
	}
	int cpu = sched_getcpu();
	return cpu < 0 ? 0 : cpu;
}

static inline int
topo_current_domain(void)
{
	if (nk_topo.ndomains == 1)
		return 0;
	if (nk_topo.bind_domain >= 0)
		return nk_topo.bind_domain;
	if (nk_tls_domain_override >= 0)
		return nk_tls_domain_override;
	int cpu = topo_current_cpu();
	return cpu < NK_MAX_CPUS ? nk_topo.cpu_domain[cpu] : 0;
}

/*
 * The current domain with no call at all, for the fast paths: -1 when only
 * a system call could tell (no rseq area), and the caller takes its slow
 * path, which uses topo_current_domain().
 */
static inline int
topo_fast_domain(void)
{
	if (nk_topo.bind_domain >= 0)
		return nk_topo.bind_domain;
	if (nk_tls_domain_override >= 0)
		return nk_tls_domain_override;
	if (__rseq_size == 0)
		return -1;
	const struct rseq *rs = (const struct rseq *)
	    ((const char *)__builtin_thread_pointer() + __rseq_offset);
	int cpu = (int)__atomic_load_n(&rs->cpu_id, __ATOMIC_RELAXED);
	return (unsigned)cpu < NK_MAX_CPUS ? nk_topo.cpu_domain[cpu] : -1;
}

int topo_set_thread_domain(int domain);

#endif /* NK_TOPO_H */
