/*
 * malloc(3) on zones, as malloc(9) sits on UMA: 40 size classes, each a
 * zone of its own, and page runs for anything larger than 32 KiB
 * (large.c, kmem_malloc's counterpart).  This file owns the malloc family,
 * the size classes, the placement policy (NUMAKEG_POLICY), the NUMA calls
 * and the reports of bad pointers.
 *
 * Layering: malloc.c calls the zone layer, large.c, the page layer's
 * descriptor lookup (page_lookup) and the boot arena (boot.h: calls that
 * come before numakeg is ready).  It never calls the stats layer or the
 * start-up sequence (init.c) except through nk_init_once().
 */
#include <malloc.h>
#include <stdlib.h>

#include "boot.h"
#include "large.h"
#include "malloc_int.h"

struct nk_zone nk_malloc_zones[NK_NCLASSES] NK_BIG_BSS;  /* touched as the classes are made */
static struct nk_keg malloc_kegs[NK_NCLASSES] NK_BIG_BSS;
uint32_t nk_class_size[NK_NCLASSES];
uint64_t nk_class_test[2][NK_NCLASSES + 1];  /* by class + 1; index 0 fails */
uint8_t nk_class_lookup[NK_LOOKUP_MAX / 16 + 1];
uint64_t nk_free_cookie;
bool nk_malloc_rr;
bool nk_malloc_one_home;
struct nk_tcache *nk_free_pcpu_tag;
size_t nk_malloc_fast_max;
uintptr_t nk_free_fast_span;
static uint32_t class_zflags;      /* the classes' zone flags, by the policy */
static char *class_domain_mem;     /* every class's per-domain arrays (boot arena) */


enum {
	POLICY_FIRSTTOUCH = NK_POLICY_FIRSTTOUCH, POLICY_ROUNDROBIN = NK_POLICY_ROUNDROBIN,
	POLICY_INTERLEAVE = NK_POLICY_INTERLEAVE, POLICY_BIND = NK_POLICY_BIND
};
static int malloc_policy = POLICY_FIRSTTOUCH;
static char malloc_policy_name[24] = "firsttouch";
static uint32_t large_rr_cursor;

void
malloc_policy_init(void)
{
	/* options.c checked NUMAKEG_POLICY and turned nodeN into a domain index. */
	malloc_policy = nk_opt.policy_kind;
	if (malloc_policy == POLICY_BIND)
		nk_topo.bind_domain = nk_opt.policy_bind;
	if (nk_opt.policy != NULL)
		snprintf(malloc_policy_name, sizeof(malloc_policy_name), "%s", nk_opt.policy);
}

const char *
malloc_policy_str(void)
{
	return malloc_policy_name;
}

/* NUMAKEG_DEBUG: fresh items look freed, so the first allocation checks too. */
static int
malloc_debug_init(void *mem, size_t size, int flags)
{
	(void)flags;
	memset(mem, 0x5a, size);
	*(uint64_t *)mem = nk_free_cookie ^ (uintptr_t)mem;
	return 0;
}

void
malloc_init(void)
{
	nk_free_cookie = nk_random_u64() | 1;  /* never zero, so a zeroed block is never "free" */
	for (unsigned c = 0; c < NK_NCLASSES; c++) {
		if (c < 8) {
			nk_class_size[c] = 16 * (c + 1);
		} else {
			unsigned k = 7 + (c - 8) / 4, j = (c - 8) % 4;
			nk_class_size[c] = (1u << k) + (j + 1) * (1u << (k - 2));
		}
	}
	/* Sizes grow with i: the class only moves up (2049 entries, one pass). */
	for (unsigned i = 0, c = 0; i <= NK_LOOKUP_MAX / 16; i++) {
		size_t n = nk_max((size_t)i * 16, (size_t)1);
		while (nk_class_size[c] < n)
			c++;
		nk_class_lookup[i] = (uint8_t)c;
	}
	class_zflags = NK_ZONE_MALLOC;
	if (malloc_policy == POLICY_ROUNDROBIN || malloc_policy == POLICY_INTERLEAVE)
		class_zflags |= NK_ZONE_ROUNDROBIN;
	else
		class_zflags |= NK_ZONE_FIRSTTOUCH;
	/* Every class's depots and keg domains in one block, touched only as
	 * the classes are made. */
	class_domain_mem = zone_static_domains(NK_NCLASSES, class_zflags);
	nk_malloc_rr = (class_zflags & NK_ZONE_ROUNDROBIN) != 0;
	nk_malloc_one_home = nk_topo.ndomains == 1 || nk_malloc_rr;
	nk_free_pcpu_tag = nk_malloc_one_home ? NK_TC_PCPU : NK_TC_NEVER;
	/* NUMAKEG_DEBUG: every call takes the slow path, which checks. */
	nk_malloc_fast_max = nk_opt.debug ? 0 : NK_SMALL_MAX;
	nk_free_fast_span = nk_opt.debug ? 0 : nk_kva_span;
	large_init(malloc_policy != POLICY_INTERLEAVE);
}

/*
 * A class's zone is made on the class's first allocation, not at start-up:
 * forty zones cost a process start about 60k instructions and a page fault
 * every few zones (each about 2.5 us), and most processes use a handful of
 * classes.  The zone takes its class as its id whenever it is made
 * (zone_register), so a class is still its zone id.  Nothing reads a class's
 * zone before it is made: its thread-cache slots stay empty (the fast paths
 * miss and come here), free() finds only blocks of classes made, and the
 * stats make every class first (malloc_make_all_classes).
 */
static uint8_t class_ready[NK_NCLASSES];     /* read with acquire */
static pthread_mutex_t class_make_lock = PTHREAD_MUTEX_INITIALIZER;

static NK_NOINLINE void
malloc_make_class(unsigned c)
{
	pthread_mutex_lock(&class_make_lock);
	if (!__atomic_load_n(&class_ready[c], __ATOMIC_ACQUIRE)) {
		char name[24];
		nk_name_number(name, sizeof(name), "malloc-", nk_class_size[c]);
		if (zone_setup(&nk_malloc_zones[c], &malloc_kegs[c],
		    class_domain_mem + c * zone_domain_bytes(class_zflags), (int)c, name,
		    nk_class_size[c], NULL, NULL, nk_opt.debug ? malloc_debug_init : NULL, NULL,
		    15, class_zflags, NK_RANK_KEG) != 0)
			nk_panic("cannot create zone %s", name);
		malloc_kegs[c].nofallback = malloc_policy == POLICY_BIND;
		NK_ASSERT(nk_malloc_zones[c].id == (int)c, "a class must be its zone id");
		/* free()'s item test (malloc_int.h): valid for slab offsets below
		 * 2^32 and sizes up to 2^15.  lim is stored last: a reader that
		 * sees it sees mul (x86 keeps loads in order; release/acquire
		 * elsewhere). */
		uint64_t d = nk_class_size[c];
		uint64_t mul = (uint64_t)(((unsigned __int128)1 << 64) / d) + 1;
		uint64_t e = d * mul;  /* mod 2^64 */
		NK_ASSERT(d <= ((uint64_t)1 << 15) && e >= 1 && e <= d, "the item test's e");
		NK_ASSERT((uint64_t)malloc_kegs[c].ipers * d < ((uint64_t)1 << 32),
		    "a slab past the item test's range");
		nk_class_test[NK_TEST_MUL][c + 1] = mul;
		__atomic_store_n(&nk_class_test[NK_TEST_LIM][c + 1], (uint64_t)malloc_kegs[c].ipers * e,
		    __ATOMIC_RELEASE);
		__atomic_store_n(&class_ready[c], 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&class_make_lock);
}

/* The zone of class c, made first if it is the class's first allocation. */
static inline struct nk_zone *
malloc_class_zone(unsigned c)
{
	NK_ASSERT(c < NK_NCLASSES, "no such class");
	if (NK_UNLIKELY(!__atomic_load_n(&class_ready[c], __ATOMIC_ACQUIRE)))
		malloc_make_class(c);
	return &nk_malloc_zones[c];
}

void
malloc_make_all_classes(void)
{
	for (unsigned c = 0; c < NK_NCLASSES; c++)
		(void)malloc_class_zone(c);
}

/*
 * fork(): no class half made in the child.  Outside every lock of the
 * zone layer (making a class takes the registry lock).
 */
void
malloc_fork_prepare(void)
{
	pthread_mutex_lock(&class_make_lock);
}

void
malloc_fork_parent(void)
{
	pthread_mutex_unlock(&class_make_lock);
}

void
malloc_fork_child(void)
{
	pthread_mutex_init(&class_make_lock, NULL);
}

/* ---- Reports ---- */

void
malloc_bad_pointer(const char *fn, const void *p, const char *why, const struct nk_zone *z)
{
	if (strcmp(why, "double free") == 0)
		nk_panic("%s(): double free of %p in zone %s", fn, p, z ? z->name : "?");
	if (z != NULL)
		nk_panic("%s(): invalid pointer %p (%s, zone %s)", fn, p, why, z->name);
	nk_panic("%s(): invalid pointer %p (%s)", fn, p, why);
}

void
malloc_bad_free(const void *p, const char *why, const struct nk_zone *z)
{
	malloc_bad_pointer("free", p, why, z);
}

void
malloc_debug_check(struct nk_zone *z, void *p)
{
	const unsigned char *b = p;
	if (*(uint64_t *)p != (nk_free_cookie ^ (uintptr_t)p))
		nk_panic("use after free: %p in zone %s was modified after free (its free mark)",
		    p, z->name);
	for (size_t i = 8; i < z->size; i++)
		if (b[i] != 0x5a)
			nk_panic("use after free: %p in zone %s was modified after free (byte %zu)",
			    p, z->name, i);
}

/* ---- Allocation ---- */

/* The domain a new allocation goes to, by policy. */
static int
malloc_pick_domain(void)
{
	if (malloc_policy == POLICY_INTERLEAVE)
		return (int)(__atomic_fetch_add(&large_rr_cursor, 1, __ATOMIC_RELAXED) %
		    (uint32_t)nk_topo.ndomains);
	return topo_current_domain();
}

/* A large block by the placement policy: bind never falls back. */
static void *
malloc_large(size_t n, size_t align, int domain, bool zero)
{
	return large_alloc(n, nk_max(align, NK_PAGE_SIZE), domain,
	    malloc_policy == POLICY_BIND, zero);
}

static void *
malloc_class(unsigned cls, int flags)
{
	struct nk_zone *z = malloc_class_zone(cls);
	void *p = nk_zalloc(z, flags);
	if (p == NULL) {
		/* malloc never sleeps, but it does give back what caches hold. */
		nk_reclaim();
		p = nk_zalloc(z, flags);
		if (p == NULL)
			return NULL;
	}
	if (nk_opt.debug)
		malloc_debug_check(z, p);
	*(uint64_t *)p = 0;
	return p;
}

void *
malloc_slow(size_t n)
{
	if (!nk_ready())
		return boot_alloc(n, 16);
	if (n <= NK_SMALL_MAX)
		return malloc_class(malloc_size_class(n), NK_NOWAIT);
	return malloc_large(n, NK_PAGE_SIZE, malloc_pick_domain(), false);
}

/*
 * The malloc class of a small block that free() or realloc() was given, after
 * the checks that name a bad pointer: a zone's item, not a block's start, or
 * a block already marked free.
 */
static struct nk_zone *
malloc_block_zone(const char *fn, void *p, struct nk_pdesc *pd)
{
	struct nk_slab *slab = pd->slab;
	slab_check(pd->zid < NK_NCLASSES ? nk_malloc_zones[pd->zid].name : "?", slab);
	struct nk_zone *z = slab->keg->owner;
	if (pd->zid >= NK_NCLASSES)
		malloc_bad_pointer(fn, p, "belongs to a zone, not to malloc", z);
	if (!keg_item_start(slab->keg, slab, p))
		malloc_bad_pointer(fn, p, "not the start of a block", z);
	if (*(uint64_t *)p == (nk_free_cookie ^ (uintptr_t)p))
		malloc_bad_pointer(fn, p, "double free", z);
	return z;
}

/* A pointer numakeg did not give out: the loader's, or a bad one. */
static void
malloc_foreign_free(void *p, const char *fn)
{
	if (boot_loader_block(p))
		return;  /* allocated by the loader before numakeg took over */
	malloc_bad_pointer(fn, p, "not numakeg memory", NULL);
}

/* The reports for what page_lookup() found that is no block in use. */
static NK_COLD _Noreturn void
malloc_bad_kind(const char *fn, void *p, enum nk_block_kind kind)
{
	switch (kind) {
	case NK_BLOCK_LARGE_FREED:
		malloc_bad_pointer(fn, p, "double free of a large block", NULL);
	case NK_BLOCK_LARGE_INSIDE:
		malloc_bad_pointer(fn, p, "inside a large block, not its start", NULL);
	default:
		/*
		 * No block starts on this page: a pointer into a large block, or a
		 * block freed before whose pages went back (a double free).
		 * Telling the two apart would mean a search; the report names both.
		 */
		malloc_bad_pointer(fn, p,
		    "not a block's start: inside a large block, or a double free", NULL);
	}
}

/*
 * free_fast_finish's other cases, the checks done and the block not yet
 * marked: a CPU's cache on a first-touch machine of several domains (the
 * block goes onto the array only on its home domain's CPUs), or the
 * thread's cache (home domain only, as well).  Anything else: free_slow.
 */
void
free_fast_other(void *p, uintptr_t off, unsigned cls, uint64_t mark)
{
	struct nk_tcache *tc = nk_tls_tc;
	uint64_t *w = p;
	int home = (int)(off >> nk_kva_shift);
	if (tc == NK_TC_PCPU) {
		*w = mark;
		if (pcpu_push_dom((int)cls, p, home))
			return;
		*w = 0;  /* free_slow starts over and marks it again */
	} else if ((tc = tc_fast()) != NULL && (nk_malloc_one_home || home == tc->domain)) {
		*w = mark;
		if (slot_push(&tc->slot[cls], p))
			return;
		*w = 0;
	}
	free_slow(p);
}

/* Everything free_fast did not finish: it starts over, and reports. */
void
free_slow(void *p)
{
	if (p == NULL || boot_contains(p))
		return;  /* boot blocks are never reused */
	struct nk_pdesc *pd;
	enum nk_block_kind kind = page_lookup(p, &pd);
	switch (kind) {
	case NK_BLOCK_SLAB: {
		struct nk_zone *z = malloc_block_zone("free", p, pd);
		*(uint64_t *)p = nk_free_cookie ^ (uintptr_t)p;
		if (nk_opt.debug)  /* checked when the block comes back */
			memset((char *)p + 8, 0x5a, z->size - 8);
		zone_free_slow(z, p);
		return;
	}
	case NK_BLOCK_LARGE:
		large_free(p);
		return;
	case NK_BLOCK_FOREIGN:
		malloc_foreign_free(p, "free");
		return;
	default:
		malloc_bad_kind("free", p, kind);
	}
}

NK_EXPORT void *
nk_malloc(size_t n)
{
	return malloc_fast(n);
}

NK_EXPORT void
nk_free(void *p)
{
	free_fast(p);
}

NK_EXPORT void
nk_free_sized(void *p, size_t n)
{
	free_sized_fast(p, n);
}

NK_EXPORT void
nk_free_aligned_sized(void *p, size_t align, size_t n)
{
	free_aligned_sized_fast(p, align, n);
}

NK_EXPORT size_t
nk_malloc_usable_size(const void *p)
{
	if (p == NULL)
		return 0;
	if (boot_contains(p))
		return boot_size(p);
	struct nk_pdesc *pd;
	enum nk_block_kind kind = page_lookup(p, &pd);
	switch (kind) {
	case NK_BLOCK_SLAB:
		return malloc_block_zone("malloc_usable_size", (void *)p, pd)->size;
	case NK_BLOCK_LARGE:
		return large_usable(p);
	case NK_BLOCK_FOREIGN:
		return 0;   /* the loader's blocks: their size is not ours to know */
	default:
		malloc_bad_kind("malloc_usable_size", (void *)p, kind);
	}
}

NK_EXPORT void *
nk_calloc(size_t nmemb, size_t size)
{
	size_t n;
	if (__builtin_mul_overflow(nmemb, size, &n)) {
		errno = ENOMEM;
		return NULL;
	}
	if (!nk_ready()) {
		void *p = boot_alloc(n, 16);
		return p ? memset(p, 0, n) : NULL;
	}
	if (n > NK_SMALL_MAX)
		return malloc_large(n, NK_PAGE_SIZE, malloc_pick_domain(), true);
	void *p = malloc_fast(n);
	return p ? memset(p, 0, n) : NULL;
}

/* Alignment for the memalign family: a class whose items fall on it, or pages. */
static void *
malloc_aligned(size_t align, size_t n)
{
	if (!nk_ready())
		return boot_alloc(n, align);
	if (align <= 16)
		return malloc_fast(n);
	if (n <= NK_SMALL_MAX && align <= NK_PAGE_SIZE) {
		/* Slabs start on a page: items are aligned when the size is a multiple. */
		unsigned cls = malloc_size_class(nk_max(n, align));
		while (cls < NK_NCLASSES && (nk_class_size[cls] & (align - 1)) != 0)
			cls++;
		if (cls < NK_NCLASSES)
			return malloc_class(cls, NK_NOWAIT);
	}
	if (n > SIZE_MAX - align) {
		errno = ENOMEM;
		return NULL;
	}
	return malloc_large(nk_max(n, (size_t)1), align, malloc_pick_domain(), false);
}

NK_EXPORT int
nk_posix_memalign(void **memptr, size_t align, size_t n)
{
	if (align < sizeof(void *) || (align & (align - 1)) != 0)
		return EINVAL;
	int saved = errno;
	void *p = malloc_aligned(align, n);
	if (p == NULL) {
		int err = errno;
		errno = saved;
		return err ? err : ENOMEM;
	}
	errno = saved;
	*memptr = p;
	return 0;
}

NK_EXPORT void *
nk_aligned_alloc(size_t align, size_t n)
{
	if (align == 0 || (align & (align - 1)) != 0) {
		errno = EINVAL;
		return NULL;
	}
	return malloc_aligned(align, n);
}

NK_EXPORT void *
nk_memalign(size_t align, size_t n)
{
	/* As glibc: an alignment that is no power of two is rounded up to one. */
	if (align > SIZE_MAX / 2 + 1) {
		errno = EINVAL;
		return NULL;
	}
	size_t a = 16;
	while (a < align)
		a <<= 1;
	return malloc_aligned(a, n);
}

NK_EXPORT void *
nk_valloc(size_t n)
{
	return malloc_aligned(NK_PAGE_SIZE, n);
}

NK_EXPORT void *
nk_pvalloc(size_t n)
{
	if (n > SIZE_MAX - NK_PAGE_SIZE) {
		errno = ENOMEM;
		return NULL;
	}
	return malloc_aligned(NK_PAGE_SIZE, nk_max(nk_roundup(n, NK_PAGE_SIZE), NK_PAGE_SIZE));
}

static void *
realloc_move(void *p, size_t old, size_t n)
{
	void *q = malloc_fast(n);
	if (q == NULL)
		return NULL;  /* the old block stays as it was */
	memcpy(q, p, nk_min(old, n));
	free_fast(p);
	return q;
}

NK_EXPORT void *
nk_realloc(void *p, size_t n)
{
	if (p == NULL)
		return malloc_fast(n);
	if (n == 0) {
		/* glibc: realloc(p, 0) frees p and returns NULL. */
		free_fast(p);
		return NULL;
	}
	if (boot_contains(p))
		return realloc_move(p, boot_size(p), n);
	struct nk_pdesc *pd;
	enum nk_block_kind kind = page_lookup(p, &pd);
	switch (kind) {
	case NK_BLOCK_SLAB: {
		struct nk_zone *z = malloc_block_zone("realloc", p, pd);
		/* The same class: nothing moves (n below 32 KiB maps to one class). */
		if (n <= NK_SMALL_MAX && malloc_size_class(n) == (unsigned)z->id)
			return p;
		return realloc_move(p, z->size, n);
	}
	case NK_BLOCK_LARGE:
		if (n > NK_SMALL_MAX) {
			void *q = large_realloc(p, n);
			if (q != NULL)
				return q;
		}
		return realloc_move(p, large_usable(p), n);
	case NK_BLOCK_FOREIGN:
		malloc_bad_pointer("realloc", p, "not numakeg memory", NULL);
	default:
		malloc_bad_kind("realloc", p, kind);
	}
}

NK_EXPORT void *
nk_reallocarray(void *p, size_t nmemb, size_t size)
{
	size_t n;
	if (__builtin_mul_overflow(nmemb, size, &n)) {
		errno = ENOMEM;
		return NULL;
	}
	return nk_realloc(p, n);
}

NK_EXPORT int
nk_malloc_trim(size_t pad)
{
	(void)pad;
	uint64_t before = 0, after = 0;
	struct nk_page_stats ps;
	for (int d = 0; d < nk_topo.ndomains; d++)
		if (nk_page_stats(d, &ps) == 0)
			before += ps.purged_bytes;
	nk_reclaim();
	for (int d = 0; d < nk_topo.ndomains; d++)
		if (nk_page_stats(d, &ps) == 0)
			after += ps.purged_bytes;
	return after > before;
}

NK_EXPORT void *
nk_malloc_domain(size_t n, int domain)
{
	if (!nk_ready())
		return boot_alloc(n, 16);
	if (domain < 0 || domain >= nk_topo.ndomains) {
		errno = EINVAL;
		return NULL;
	}
	if (n > NK_SMALL_MAX)
		return malloc_large(n, NK_PAGE_SIZE, domain, false);
	struct nk_zone *z = malloc_class_zone(malloc_size_class(n));
	void *p = nk_zalloc_domain(z, NULL, domain, NK_NOWAIT);
	if (p == NULL)
		return NULL;
	if (nk_opt.debug)
		malloc_debug_check(z, p);
	*(uint64_t *)p = 0;
	return p;
}

void
malloc_large_counts(int domain, struct large_counts *out)
{
	large_counts(domain, out);
}

/* glibc's mallinfo2, from the page layer's counts. */
struct mallinfo2
malloc_mallinfo2(void)
{
	struct mallinfo2 mi;
	memset(&mi, 0, sizeof(mi));
	if (!nk_ready())
		return mi;
	for (int d = 0; d < nk_topo.ndomains; d++) {
		struct nk_page_stats ps;
		if (nk_page_stats(d, &ps) != 0)
			continue;
		mi.arena += ps.active_bytes + ps.dirty_bytes + ps.nofree_bytes;
		mi.uordblks += ps.active_bytes + ps.nofree_bytes;
		mi.fordblks += ps.dirty_bytes;
	}
	mi.keepcost = mi.fordblks;
	return mi;
}

/* ---- NUMA calls ---- */

NK_EXPORT int
nk_ndomains(void)
{
	nk_init_once();
	return nk_topo.ndomains;
}

NK_EXPORT int
nk_current_domain(void)
{
	nk_init_once();
	return topo_current_domain();
}

NK_EXPORT int
nk_domain_of(const void *p)
{
	nk_init_once();
	return kva_domain_of(p);
}

NK_EXPORT int
nk_thread_set_domain(int domain)
{
	nk_init_once();
	int err = topo_set_thread_domain(domain);
	if (err == 0 && nk_tls_domain_override >= 0)
		zone_thread_domain_set();  /* a fake domain: no CPU's cache holds its items */
	return err;
}
