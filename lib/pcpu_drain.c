/*
 * The per-CPU caches seen from outside the CPU: draining another CPU's
 * arrays and its cross buckets (a zone's destruction or drain, the idle
 * trim), and the counts the statistics read.  The protocol that makes a
 * drain safe against the CPU's own sequences is pcpu.c's comment,
 * "Draining another CPU".
 *
 * Layering: as pcpu.c (the depots and the keg traffic of depot.c and bucket.c, the
 * topology, the system-call layer); internals from pcpu_int.h.
 */
#include <errno.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <string.h>

#include "pcpu_int.h"

/* ---- Draining other CPUs ---- */

/* After this, no sequence that started on cpu before it can commit. */
static void
pcpu_fence(int cpu)
{
	int err = errno;
	if (pcpu_membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ, MEMBARRIER_CMD_FLAG_CPU, cpu) != 0)
		nk_panic("membarrier(PRIVATE_EXPEDITED_RSEQ, cpu %d) failed: %s", cpu, strerror(errno));
	errno = err;
}

/*
 * Stops id's array on cpu, the CPU's lock held, and says how many items it
 * held; they stay where they are, in the array's memory, which no one
 * writes while the word is stopped and the drain is under way.  *cap: the
 * cap it had (0: it was stopped already).
 */
static unsigned
pcpu_steal(struct pcpu_region *r, int cpu, int id, uint32_t *cap)
{
	uint64_t *sp = pcpu_state(r, id);
	for (;;) {
		uint64_t st = __atomic_load_n(sp, __ATOMIC_ACQUIRE);
		uint64_t stopped = st & ~0xffffffffull;
		*cap = st_cap(st);
		if (st == stopped)
			return 0;
		if (!__atomic_compare_exchange_n(sp, &st, stopped, false, __ATOMIC_ACQ_REL,
		    __ATOMIC_ACQUIRE))
			continue;
		pcpu_fence(cpu);
		if (__atomic_load_n(sp, __ATOMIC_ACQUIRE) != stopped)
			continue;  /* a sequence that had read st committed after the swap */
		unsigned n = st_count(st);
		NK_ASSERT(n <= PCPU_SLOTS && n <= *cap, "a stolen count past the capacity");
		return n;
	}
}

/* A dying zone's counts on a CPU start over; pushes stay the word's. */
static void
pcpu_count_reset(struct pcpu_count *c, uint64_t st)
{
	memset(c, 0, sizeof(*c));
	c->mark = st_pushes(st);
}

/*
 * cpu's items of z back to the keg; dying: its counts reset, the array left
 * stopped.  The items go home straight from the stopped array (no copy: an
 * array holds up to 16 KiB of pointers, too much for a slow path's stack)
 * and outside the CPU's lock, since a zone's fini may allocate; meanwhile
 * pcpu_activate leaves the array stopped and other drains of it wait or
 * pass.
 */
static void
pcpu_drain_cpu(struct nk_zone *z, int cpu, bool dying)
{
	struct pcpu_region *r = pcpu_at(cpu);
	int id = z->id;
	struct pcpu_count *c = &r->cnt[id];
	nk_lock(&pcpu_lock[cpu]);
	if (!__atomic_load_n(&r->made, __ATOMIC_ACQUIRE)) {
		nk_unlock(&pcpu_lock[cpu]);
		return;
	}
	while (c->draining) {
		nk_unlock(&pcpu_lock[cpu]);
		if (!dying)
			return;  /* the trim's look: that drain does the work */
		sched_yield();  /* a zone's destruction waits until the items are home */
		nk_lock(&pcpu_lock[cpu]);
	}
	/* The partial cross bucket goes home too, once the lock is dropped. */
	struct nk_bucket *cross = c->cross;
	c->cross = NULL;
	uint64_t st = __atomic_load_n(pcpu_state(r, id), __ATOMIC_ACQUIRE);
	if (st_count(st) == 0 && (!dying || st_cap(st) == 0)) {
		if (dying)
			pcpu_count_reset(c, st);
		nk_unlock(&pcpu_lock[cpu]);
		pcpu_send_cross(z, cross);
		return;
	}
	uint32_t cap;
	unsigned n = pcpu_steal(r, cpu, id, &cap);
	st = pcpu_settle(r, id);
	if (!dying)
		pcpu_add(&c->out, n);
	c->draining = 1;
	nk_unlock(&pcpu_lock[cpu]);
	zone_release(z, pcpu_items(r, id), (int)n);
	pcpu_send_cross(z, cross);
	nk_lock(&pcpu_lock[cpu]);
	c->draining = 0;
	if (dying) {
		pcpu_count_reset(c, st);
	} else {
		/* The word is still stopped: a plain store restarts it, at the zone's floor. */
		uint16_t floor = __atomic_load_n(&pcpu_id_cap[id], __ATOMIC_ACQUIRE);
		NK_ASSERT(__atomic_load_n(pcpu_state(r, id), __ATOMIC_RELAXED) == st,
		    "a drained array changed while its items went home");
		if (cap != 0 && floor != 0)
			__atomic_store_n(pcpu_state(r, id), st | (uint64_t)floor << NK_PCPU_CAP_SHIFT,
			    __ATOMIC_RELEASE);
	}
	nk_unlock(&pcpu_lock[cpu]);
}

void
pcpu_drain_zone(struct nk_zone *z, bool dying)
{
	if (!nk_pcpu_on || z->id < 0 || z->id >= NK_TC_INLINE)
		return;
	for (int cpu = 0; cpu < pcpu_ncpus; cpu++)
		pcpu_drain_cpu(z, cpu, dying);
}

void
pcpu_trim_idle(struct nk_zone *z)
{
	if (!nk_pcpu_on || z->id < 0 || z->id >= NK_TC_INLINE)
		return;
	int id = z->id;
	for (int cpu = 0; cpu < pcpu_ncpus; cpu++) {
		struct pcpu_region *r = pcpu_at(cpu);
		if (!__atomic_load_n(&r->made, __ATOMIC_ACQUIRE))
			continue;
		uint64_t st = __atomic_load_n(pcpu_state(r, id), __ATOMIC_ACQUIRE);
		uint64_t seen = __atomic_exchange_n(&r->cnt[id].seen, st, __ATOMIC_RELAXED);
		/* Unchanged for a whole trim period, with items: no thread uses it.
		 * A cross bucket goes home at every trim its array is idle. */
		if (st == seen && (st_count(st) > 0 ||
		    __atomic_load_n(&r->cnt[id].cross, __ATOMIC_RELAXED) != NULL))
			pcpu_drain_cpu(z, cpu, false);
	}
}

/* ---- Counts ---- */

void
pcpu_zone_counts(struct nk_zone *z, int d, uint64_t *allocs, uint64_t *frees, uint64_t *xdomain)
{
	int64_t a = 0;
	uint64_t f = 0, x = 0;
	int id = z->id;
	if (nk_pcpu_on && id >= 0 && id < NK_TC_INLINE) {
		for (int cpu = 0; cpu < pcpu_ncpus; cpu++) {
			struct pcpu_region *r = pcpu_at(cpu);
			if (!__atomic_load_n(&r->made, __ATOMIC_ACQUIRE) || (int)r->domain != d)
				continue;
			struct pcpu_count *c = &r->cnt[id];
			nk_lock(&pcpu_lock[cpu]);
			uint64_t st = pcpu_settle(r, id);
			uint64_t in = __atomic_load_n(&c->in, __ATOMIC_RELAXED);
			uint64_t out = __atomic_load_n(&c->out, __ATOMIC_RELAXED);
			uint64_t bypass = __atomic_load_n(&c->bypass, __ATOMIC_RELAXED);
			a += (int64_t)(c->frees + in) - (int64_t)(out + st_count(st));
			f += c->frees + bypass;
			x += __atomic_load_n(&c->xdomain, __ATOMIC_RELAXED);
			nk_unlock(&pcpu_lock[cpu]);
		}
	}
	/* A slow path between its count and its commit reads as a moment's negative. */
	*allocs = a > 0 ? (uint64_t)a : 0;
	*frees = f;
	*xdomain = x;
}

uint64_t
pcpu_zone_items(struct nk_zone *z, int d)
{
	uint64_t n = 0;
	int id = z->id;
	if (!nk_pcpu_on || id < 0 || id >= NK_TC_INLINE)
		return 0;
	for (int cpu = 0; cpu < pcpu_ncpus; cpu++) {
		struct pcpu_region *r = pcpu_at(cpu);
		if (!__atomic_load_n(&r->made, __ATOMIC_ACQUIRE))
			continue;
		if ((int)r->domain == d)
			n += st_count(__atomic_load_n(pcpu_state(r, id), __ATOMIC_RELAXED));
		/* Items on their way home are free items of their own domain. */
		if (__atomic_load_n(&r->cnt[id].cross, __ATOMIC_RELAXED) == NULL)
			continue;
		nk_lock(&pcpu_lock[cpu]);
		const struct nk_bucket *b = r->cnt[id].cross;
		for (int i = 0; b != NULL && i < b->cnt; i++)
			n += kva_domain_of(b->items[i]) == d;
		nk_unlock(&pcpu_lock[cpu]);
	}
	return n;
}

