/*
 * Per-CPU caches (pcpu.h): UMA's per-CPU uma_cache in user space, on the
 * restartable sequences of pcpu_rseq.h.
 *
 * Why per CPU: a cache per thread costs memory per thread (two buckets per
 * zone, about 160 KiB for a thread that touched every size class, held
 * while it sleeps); a cache per CPU costs memory per CPU, and an idle
 * thread holds nothing.  rseq makes the per-CPU fast path as cheap as a
 * thread cache's (no atomic, no lock): a sequence that is preempted or
 * migrated before its commit starts over.
 *
 * Memory: one reservation of ncpus regions of 2 MiB (address space,
 * PROT_READ, never charged: reads give zeros, and a zero state word is a
 * stopped array, so every sequence on a CPU not made yet misses), with two
 * guard regions below it that are never made (cpu_id -1 and -2).  A CPU's
 * region is committed and bound to its domain's node on the first slow
 * path that runs there (pcpu_region).  A zone id's array takes up its cap
 * lazily too (pcpu_activate), from the capacity its zone asked for.
 *
 * Capacity per CPU and zone: it starts at its zone's floor, PCPU_BYTES of
 * items (at least 4, at most 192), and grows where it is short: every
 * spill of a full array doubles the CPU's cap for that zone (pcpu_grow),
 * up to PCPU_ID_BYTES of items (at most PCPU_SLOTS, 2040), while what the
 * CPU's caps have grown past their floors sums to at most PCPU_CPU_BYTES.
 * So a batch of up to 2040 allocations followed by their frees stays in
 * the array, a larger one costs a depot trade every few hundred blocks
 * (tcmalloc sizes its per-CPU caches the same way), and a CPU's memory
 * stays bounded: its zones' floors (at most 48 KiB of items each) and
 * 1 MiB of growth.  A drain (the idle trim, reclaim,
 * a zone's destruction) puts the cap back to the floor.
 *
 * Counts without an atomic on the fast paths: a push (a free) adds one to
 * both the count and the pushes field of the state word, in its one commit
 * store; a pop (an allocation) takes one off the count.  The slow paths
 * count, with atomics, the items they put into the array (in: refills and
 * the item they hand out), took out (out: spills, drains) and frees that
 * bypassed it (cross-domain items going home: they gather in the CPU's
 * cross bucket for the zone, under the CPU's lock, and go to their own
 * domains' depots a bucket at a time, zone_free_cross, as the thread
 * caches' do; drains and the idle trim send a partial one).  Then, for a
 * CPU and a zone:
 *   frees  = pushes + bypass
 *   allocs = pushes + in - out - count
 * pushes is 32 bits in the word and is folded into a 64-bit sum whenever a
 * slow path of that CPU and zone runs (pcpu_settle), as the thread caches
 * fold their 32-bit live_frees.
 *
 * Draining another CPU (pcpu_steal, in pcpu_drain.c with the counts the
 * statistics read): compare-and-swap its state word to
 * stopped (count 0, cap 0), then membarrier(MEMBARRIER_CMD_PRIVATE_
 * EXPEDITED_RSEQ, MEMBARRIER_CMD_FLAG_CPU, cpu): a sequence that read the
 * old word is either finished or aborted when it returns.  If one committed
 * after the swap (its commit overwrote the stopped word, and restored a
 * cap, which a stopped word never has), start over from the word it left.
 * Once the word is still the stopped one after the barrier, the items below
 * the old count are the drainer's; sequences that read the stopped word
 * all miss.  The CPU's lock keeps drainers and activations apart; while the
 * drainer sends the items home from the array itself (outside the lock),
 * the array is marked as draining, and a slow path that finds it so goes
 * past it rather than restart it.
 *
 * This file owns start-up, the calling CPU's slow paths and fork; the
 * internals both files share are in pcpu_int.h.
 *
 * Layering: pcpu.c calls the depots and the keg traffic (depot.c, bucket.c), the
 * topology and the system-call layer; never the thread caches or the zone
 * API above it.
 */
#include <sys/syscall.h>
#include <linux/membarrier.h>
#include <unistd.h>

#include "pcpu_int.h"
#include "sys.h"

#pragma weak __rseq_offset
#pragma weak __rseq_size

bool nk_pcpu_on;
uintptr_t nk_pcpu_base;
long nk_rseq_off;
int pcpu_ncpus;
uint16_t pcpu_id_cap[NK_TC_INLINE];
static uint16_t pcpu_id_cap_max[NK_TC_INLINE];
static uint32_t pcpu_id_size[NK_TC_INLINE];
nk_lock_t pcpu_lock[NK_MAX_CPUS];

/* ---- Start-up ---- */

long
pcpu_membarrier(int cmd, unsigned flags, int cpu)
{
	return syscall(SYS_membarrier, cmd, flags, cpu);
}

void
pcpu_init(void)
{
	/* Secure mode checks every free against its thread cache's recent frees. */
	if (!NK_PCPU_ASM || !nk_opt.cache_cpu || nk_opt.secure)
		return;
	/* glibc older than 2.35 has no __rseq_offset; GLIBC_TUNABLES may have turned it off. */
	if (&__rseq_size == NULL || &__rseq_offset == NULL || __rseq_size < 8)
		return;
	if (pcpu_membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ, 0, 0) != 0)
		return;  /* no way to drain another CPU: thread caches for the whole process */
	/*
	 * Every cpu_id the kernel can report is below its nr_cpu_ids, which the
	 * raw sched_getaffinity tells (the bytes of its cpumask: rounded up to
	 * 64 cpus) without reading sysfs at start-up (startup_footprint).
	 */
	static unsigned long mask[NK_MAX_CPUS / (8 * sizeof(unsigned long))];
	long bytes = syscall(SYS_sched_getaffinity, 0, sizeof(mask), mask);
	if (bytes <= 0)
		return;
	pcpu_ncpus = (int)nk_min(nk_max((long)nk_topo.ncpus, bytes * 8), (long)NK_MAX_CPUS);
	/* Below the base: the guard regions of cpu_id -1 and -2 (pcpu_rseq.h), never committed. */
	char *base = sys_reserve((size_t)(pcpu_ncpus + NK_PCPU_GUARDS) << NK_PCPU_SHIFT, true);
	if (base == NULL)
		return;
	base += (size_t)NK_PCPU_GUARDS << NK_PCPU_SHIFT;
	for (int c = 0; c < pcpu_ncpus; c++)
		nk_lock_init(&pcpu_lock[c], NK_RANK_PCPU);
	nk_rseq_off = (long)__rseq_offset;
	nk_pcpu_base = (uintptr_t)base;
	nk_pcpu_on = true;
}

void
pcpu_zone_setup(struct nk_zone *z)
{
	NK_ASSERT(z->id >= 0, "zone not registered");
	if (z->id >= NK_TC_INLINE)
		return;
	uint16_t cap = 0;
	if (!(z->flags & (NK_ZONE_NOBUCKET | NK_ZONE_INTERNAL)))
		cap = (uint16_t)nk_min(nk_max(PCPU_BYTES / z->size, (size_t)PCPU_CAP_MIN),
		    (size_t)PCPU_FLOOR_SLOTS);
	pcpu_id_size[z->id] = (uint32_t)z->size;
	__atomic_store_n(&pcpu_id_cap_max[z->id],
	    (uint16_t)nk_max(nk_min(PCPU_ID_BYTES / z->size, (size_t)PCPU_SLOTS), (size_t)cap),
	    __ATOMIC_RELAXED);
	__atomic_store_n(&pcpu_id_cap[z->id], cap, __ATOMIC_RELEASE);
}

/* The domain a CPU's items belong to: a bind policy's, else the CPU's own. */
static int
pcpu_cpu_domain(int cpu)
{
	if (nk_topo.bind_domain >= 0)
		return nk_topo.bind_domain;
	return nk_topo.cpu_domain[cpu];
}

/* CPU cpu's region, committed on its domain's node on first use; NULL: none. */
static struct pcpu_region *
pcpu_region(int cpu)
{
	if (cpu < 0 || cpu >= pcpu_ncpus)
		return NULL;
	struct pcpu_region *r = pcpu_at(cpu);
	if (NK_LIKELY(__atomic_load_n(&r->made, __ATOMIC_ACQUIRE)))
		return r;
	nk_lock(&pcpu_lock[cpu]);
	if (!r->made) {
		int d = pcpu_cpu_domain(cpu);
		if (nk_topo.ndomains > 1 && !nk_topo.fake)
			(void)sys_bind_node(r, PCPU_REGION_BYTES, nk_topo.os_node[d]);
		if (sys_commit_meta(r, PCPU_REGION_BYTES) != 0) {
			nk_unlock(&pcpu_lock[cpu]);
			return NULL;
		}
		r->domain = (uint32_t)d;
		__atomic_store_n(&r->made, 1, __ATOMIC_RELEASE);
	}
	nk_unlock(&pcpu_lock[cpu]);
	return r;
}

enum pcpu_activation {
	PCPU_ACTIVE,      /* the array takes items (again): try it */
	PCPU_DECLINED,    /* the zone may not be cached: a thread cache serves */
	PCPU_DRAINING,    /* a drain is sending its items home: this call goes past it */
};

/*
 * A stopped array of the id takes up its zone's capacity.  A stopped word
 * may be written by anyone holding the CPU's lock: every sequence that
 * reads it misses, and none that read an older one is still running (the
 * drain that stopped it fenced).
 */
static enum pcpu_activation
pcpu_activate(struct pcpu_region *r, int cpu, int id)
{
	uint16_t cap = __atomic_load_n(&pcpu_id_cap[id], __ATOMIC_ACQUIRE);
	if (cap == 0)
		return PCPU_DECLINED;
	nk_lock(&pcpu_lock[cpu]);
	if (r->cnt[id].draining) {
		/* Its items are on their way home from the array itself.  Not
		 * declined: that would give the thread a cache of its own for good. */
		nk_unlock(&pcpu_lock[cpu]);
		return PCPU_DRAINING;
	}
	uint64_t st = __atomic_load_n(pcpu_state(r, id), __ATOMIC_ACQUIRE);
	if (st_cap(st) == 0 && st_count(st) == 0)
		__atomic_store_n(pcpu_state(r, id), st | (uint64_t)cap << NK_PCPU_CAP_SHIFT,
		    __ATOMIC_RELEASE);
	nk_unlock(&pcpu_lock[cpu]);
	return PCPU_ACTIVE;
}

uint64_t
pcpu_settle(struct pcpu_region *r, int id)
{
	struct pcpu_count *c = &r->cnt[id];
	uint64_t st = __atomic_load_n(pcpu_state(r, id), __ATOMIC_ACQUIRE);
	uint32_t p = st_pushes(st);
	__atomic_store_n(&c->frees, c->frees + (uint32_t)(p - c->mark), __ATOMIC_RELAXED);
	c->mark = p;
	return st;
}

/* A slow path's settle, if no one else holds the lock (someone else will fold then). */
static void
pcpu_settle_try(struct pcpu_region *r, int cpu, int id)
{
	if (nk_trylock(&pcpu_lock[cpu])) {
		(void)pcpu_settle(r, id);
		nk_unlock(&pcpu_lock[cpu]);
	}
}

/* ---- Slow paths of the calling CPU ---- */

/*
 * The calling CPU's array of id ran full: its cap doubles, up to the id's
 * maximum, if what the CPU's caps have grown past their floors stays within
 * PCPU_CPU_BYTES.  Floors are not counted: a program that has used many
 * classes has most of them at their floors (about 48 KiB of items each),
 * and counting those left no class room to grow.  The
 * word's cap changes with a compare-and-swap; the CPU's other threads
 * cannot be inside a sequence meanwhile (a preempted one starts over), so
 * only a caller that has just moved to another CPU can lose the change to
 * a commit there, and the next spill grows it again.  A stopped word is
 * left alone.
 */
static void
pcpu_grow(struct pcpu_region *r, int id)
{
	uint64_t *sp = pcpu_state(r, id);
	uint64_t st = __atomic_load_n(sp, __ATOMIC_RELAXED);
	uint32_t cap = st_cap(st);
	uint32_t max = __atomic_load_n(&pcpu_id_cap_max[id], __ATOMIC_RELAXED);
	if (cap == 0 || cap >= max)
		return;
	uint32_t want = nk_min(cap * 2, max);
	size_t bytes = (size_t)(want - cap) * pcpu_id_size[id];
	for (int i = 0; i < NK_TC_INLINE && bytes <= PCPU_CPU_BYTES; i++) {
		uint32_t c = st_cap(__atomic_load_n(pcpu_state(r, i), __ATOMIC_RELAXED));
		uint32_t floor = __atomic_load_n(&pcpu_id_cap[i], __ATOMIC_RELAXED);
		if (c > floor)
			bytes += (size_t)(c - floor) * pcpu_id_size[i];
	}
	if (bytes > PCPU_CPU_BYTES)
		return;
	uint64_t grown = (st & ~((uint64_t)0xffff << NK_PCPU_CAP_SHIFT)) |
	    (uint64_t)want << NK_PCPU_CAP_SHIFT;
	(void)__atomic_compare_exchange_n(sp, &st, grown, false, __ATOMIC_RELAXED,
	    __ATOMIC_RELAXED);
}

/*
 * Items of domain d for a refill: from the depot, as many as max in one
 * trade (a depot bucket may hold far fewer than a refill wants: a batch of
 * a thousand allocations would otherwise come back here every bucket), or,
 * if the depot has none, new ones from the keg.
 */
static int
pcpu_fill(struct nk_zone *z, int d, int flags, void **buf, int max)
{
	int n = zone_depot_take(z, d, buf, max);
	if (n > 0)
		return n;
	n = zone_import(z, d, flags, buf, max, false);
	zone_handout_order(z, buf, n);
	return n;
}

void *
pcpu_alloc(struct nk_zone *z, int flags, bool *declined)
{
	int id = z->id;
	NK_ASSERT(id >= 0 && id < NK_TC_INLINE, "a zone id past the per-CPU arrays");
	*declined = false;
	for (int tries = 0; tries < 3; tries++) {
		int cpu = pcpu_current_cpu();
		struct pcpu_region *r = pcpu_region(cpu);
		if (r == NULL)
			break;
		void *item = pcpu_pop(id);
		if (item != NULL)
			return item;
		uint64_t st = __atomic_load_n(pcpu_state(r, id), __ATOMIC_RELAXED);
		if (st_cap(st) == 0) {
			enum pcpu_activation a = pcpu_activate(r, cpu, id);
			if (a == PCPU_DECLINED)
				break;
			if (a == PCPU_DRAINING) {
				/* One item from the depot or the keg, straight to the caller. */
				void *item;
				if (pcpu_fill(z, (int)r->domain, flags, &item, 1) == 0)
					return NULL;  /* errno from the keg */
				pcpu_add(&r->cnt[id].in, 1);
				return item;
			}
			continue;
		}
		int d = (int)r->domain;
		void *buf[PCPU_REFILL_MAX];
		/* As many as the array holds (a spill or a stream may have grown it). */
		int n = pcpu_fill(z, d, flags, buf, (int)nk_min(st_cap(st), (uint32_t)PCPU_REFILL_MAX));
		if (n == 0)
			return NULL;  /* errno from the keg */
		struct pcpu_count *c = &r->cnt[id];
		/*
		 * An array emptied again with fewer frees since the last refill than
		 * half its cap is a stream of allocations (a producer thread): its
		 * cap doubles as a full array's does (pcpu_grow), so that the next
		 * refills take more at once and come to the depot less often.
		 */
		uint32_t last = __atomic_exchange_n(&c->refill_mark, st_pushes(st), __ATOMIC_RELAXED);
		if (__atomic_load_n(&c->in, __ATOMIC_RELAXED) != 0 && st_pushes(st) - last < st_cap(st) / 2)
			pcpu_grow(r, id);
		pcpu_add(&c->in, (uint64_t)n);
		/* The last one is the caller's; the others go onto the array. */
		if (n > 1 && !pcpu_push_batch(cpu, id, buf, (uintptr_t)(n - 1))) {
			pcpu_add(&c->out, (uint64_t)(n - 1));   /* moved, or raced: home */
			zone_depot_give(z, d, buf, n - 1);
		}
		pcpu_settle_try(r, cpu, id);
		return buf[n - 1];
	}
	*declined = true;
	return NULL;
}

/* A full array: half of it into the depot. */
static void
pcpu_spill(struct nk_zone *z, struct pcpu_region *r, int cpu, int id)
{
	int d = (int)r->domain;
	void *buf[PCPU_SPILL_MAX];
	uint64_t st = __atomic_load_n(pcpu_state(r, id), __ATOMIC_RELAXED);
	uintptr_t want = nk_max(st_cap(st) / 2u, 1u);
	long k = pcpu_pop_batch(cpu, id, buf, nk_min(want, (uintptr_t)PCPU_SPILL_MAX));
	if (k <= 0)
		return;
	pcpu_grow(r, id);  /* the next stream of frees fits better */
	pcpu_add(&r->cnt[id].out, (uint64_t)k);
	zone_bucket_want(z, (unsigned)k);
	zone_depot_give(z, d, buf, (int)k);
	pcpu_settle_try(r, cpu, id);
}

/*
 * Another domain's item into cpu's cross bucket for the zone; a bucket
 * that fills goes home whole (zone_free_cross) after the CPU's lock is
 * dropped, so that other threads of the CPU wait only for the append.  The
 * thread may have left cpu: any CPU's bucket will do, the items are not
 * this CPU's to hand out.
 */
static void
pcpu_free_cross(struct nk_zone *z, struct pcpu_region *r, int cpu, int id, void *item)
{
	struct pcpu_count *c = &r->cnt[id];
	struct nk_bucket *fresh = NULL, *full = NULL;
	for (;;) {
		nk_lock(&pcpu_lock[cpu]);
		if (c->cross == NULL && fresh != NULL) {
			c->cross = fresh;
			fresh = NULL;
		}
		struct nk_bucket *b = c->cross;
		if (b != NULL) {
			NK_ASSERT(b->cnt < b->cap, "a full cross bucket left on a CPU");
			b->items[b->cnt++] = item;
			if (b->cnt == b->cap) {
				full = b;
				c->cross = NULL;
			}
			nk_unlock(&pcpu_lock[cpu]);
			break;
		}
		nk_unlock(&pcpu_lock[cpu]);
		if ((fresh = bucket_alloc(zone_bucket_cap(z))) == NULL) {
			zone_release(z, &item, 1);  /* no bucket: home alone */
			return;
		}
	}
	if (fresh != NULL)
		bucket_free(fresh);
	pcpu_send_cross(z, full);
}

void
pcpu_send_cross(struct nk_zone *z, struct nk_bucket *b)
{
	if (b == NULL)
		return;
	zone_free_cross(z, b);
	bucket_free(b);
}

bool
pcpu_free(struct nk_zone *z, void *item)
{
	int id = z->id;
	bool home_check = nk_topo.ndomains > 1 && !(z->flags & NK_ZONE_ROUNDROBIN);
	struct pcpu_region *r = NULL;
	NK_ASSERT(id >= 0 && id < NK_TC_INLINE, "a zone id past the per-CPU arrays");
	for (int tries = 0; tries < 3; tries++) {
		int cpu = pcpu_current_cpu();
		r = pcpu_region(cpu);
		if (r == NULL)
			return false;
		int d = (int)r->domain;
		if (home_check && kva_domain_of(item) != d) {
			/* Another domain's item goes home, never into this CPU's array. */
			pcpu_add(&r->cnt[id].bypass, 1);
			pcpu_add(&r->cnt[id].xdomain, 1);
			pcpu_free_cross(z, r, cpu, id, item);
			return true;
		}
		if (home_check ? pcpu_push_dom(id, item, d) : pcpu_push(id, item))
			return true;
		uint64_t st = __atomic_load_n(pcpu_state(r, id), __ATOMIC_RELAXED);
		if (st_cap(st) == 0) {
			enum pcpu_activation a = pcpu_activate(r, cpu, id);
			if (a == PCPU_DECLINED)
				return false;
			if (a == PCPU_DRAINING)
				break;  /* straight home, below */
			continue;
		}
		pcpu_spill(z, r, cpu, id);
	}
	/* Still no room (other threads keep filling it): straight home. */
	pcpu_add(&r->cnt[id].bypass, 1);
	zone_release(z, &item, 1);
	return true;
}

/* ---- fork ---- */

void
pcpu_fork_prepare(void)
{
	for (int c = 0; c < pcpu_ncpus; c++)
		pthread_mutex_lock(&pcpu_lock[c].mtx);
}

void
pcpu_fork_parent(void)
{
	for (int c = pcpu_ncpus; c-- > 0;)
		pthread_mutex_unlock(&pcpu_lock[c].mtx);
}

/*
 * The child's arrays are the parent's, every item valid: a sequence the
 * fork interrupted in another thread never committed, and a slow path it
 * interrupted loses only the items it held (as with the thread caches).
 * The membarrier registration is made again: it belongs to the memory map.
 */
void
pcpu_fork_child(void)
{
	for (int c = 0; c < pcpu_ncpus; c++) {
		nk_lock_reinit(&pcpu_lock[c]);
		/* A drain the fork cut short: its items stay lost, its array can restart. */
		struct pcpu_region *r = pcpu_at(c);
		if (nk_pcpu_on && __atomic_load_n(&r->made, __ATOMIC_ACQUIRE))
			for (int id = 0; id < NK_TC_INLINE; id++)
				r->cnt[id].draining = 0;
	}
	if (nk_pcpu_on)
		(void)pcpu_membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ, 0, 0);
}
