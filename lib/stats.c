/*
 * Statistics: every zone per domain with the columns of FreeBSD's vmstat -z
 * (limit, used, free, requests, failures, sleeps) plus cross-domain frees,
 * fallbacks and the bytes used and held; the page layer per domain; the
 * placement check (move_pages).  Printed as text (a summary first, the
 * per-domain detail with NUMAKEG_STATS=text:full) or JSON (everything, schema
 * in doc/STATS.md), at exit, on nk_stats_print(), and live: on a signal or
 * an interval, acted on by the next allocation or free slow path (zone.c calls
 * zone_slow_hook with no lock held), appended as one JSON line.
 *
 * Nothing here allocates: a dump can run inside malloc, at exit after stdio
 * is gone, or in a forked child.  The snapshot lives in an anonymous
 * mapping, the text is formatted on the stack and written with write(2).
 * stderr is duplicated at start-up because programs such as cat close it
 * before exit handlers run.  This file takes the snapshot and decides where
 * a dump goes and when; stats_format.c prints it.
 *
 * Layering: stats.c may call the zone layer, keg, page, topo and malloc's
 * counters (large blocks, the policy name); nothing below calls it: the
 * live dumps come through zone_slow_hook, which stats_init sets, and
 * start-up and fork reach it from init.c.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "boot.h"
#include "stats.h"
#include "stats_int.h"

#define PLACEMENT_SAMPLE    256   /* pages checked per domain */

static int stats_fd = -1;                 /* a copy of stderr */
static pthread_mutex_t stats_mtx = PTHREAD_MUTEX_INITIALIZER;
static volatile sig_atomic_t stats_signal_pending;
static uint64_t stats_next_ns;            /* the next interval dump */
static bool stats_file_reported;          /* the unwritable file was reported */

/* ---- The snapshot: every zone's rows, taken before anything is printed ---- */

static void
row_add(struct srow *t, const struct srow *r)
{
	t->requests += r->requests;
	t->frees += r->frees;
	t->xdomain += r->xdomain;
	t->fallbacks += r->fallbacks;
	t->fails += r->fails;
	t->sleeps += r->sleeps;
	t->slabs += r->slabs;
	t->free_items += r->free_items;
	t->used += r->used;
	t->bytes_used += r->bytes_used;
	t->bytes_free += r->bytes_free;
	t->bytes_held += r->bytes_held;
}

static void
snap_zone_row(struct nk_zone *z, int d, struct srow *r)
{
	uint64_t tc_items = zone_domain_tc_items(z, d);
	memset(r, 0, sizeof(*r));
	zone_domain_counts(z, d, &r->requests, &r->frees, &r->xdomain);
	zone_domain_events(z, d, &r->fails, &r->sleeps);
	nk_lock(&z->depot[d].lock);
	r->free_items = z->depot[d].nitems + tc_items;
	nk_unlock(&z->depot[d].lock);
	/* Slabs belong to the keg: counted once, on its primary zone. */
	if (z->keg->owner == z) {
		struct nk_keg_domain *kd = &z->keg->dom[d];
		nk_lock(&kd->lock);
		r->fallbacks = kd->fallbacks;
		r->slabs = kd->nslabs;
		r->free_items += kd->free_items;
		nk_unlock(&kd->lock);
		r->bytes_held = r->slabs * z->keg->pages * NK_PAGE_SIZE;
	}
	r->used = (int64_t)r->requests - (int64_t)r->frees;
	r->bytes_used = r->used * (int64_t)z->size;
	r->bytes_free = r->free_items * z->size;
}

/*
 * Large blocks, with a zone's columns: a block is an item, the runs the
 * thread caches keep are the free ones, and the bytes held are both.
 * There are no slabs, and no waits.
 */
static void
snap_large_row(int d, struct srow *r)
{
	struct large_counts lc;
	memset(r, 0, sizeof(*r));
	malloc_large_counts(d, &lc);
	r->requests = lc.allocs;
	r->frees = lc.frees;
	r->used = (int64_t)lc.allocs - (int64_t)lc.frees;
	r->fails = lc.fails;
	r->fallbacks = lc.fallbacks;
	r->xdomain = lc.xdomain;
	r->free_items = lc.cached_runs;
	r->bytes_used = lc.used_bytes;
	r->bytes_free = lc.cached_bytes;
	r->bytes_held = (uint64_t)nk_max(lc.used_bytes, (int64_t)0) + lc.cached_bytes;
}

static void
snap_zone_header(struct szone *sz, const struct nk_zone *z, enum skind kind)
{
	snprintf(sz->name, sizeof(sz->name), "%s", z->name);
	sz->size = z->size;
	sz->kind = kind;
	sz->nofree = (z->flags & NK_ZONE_NOFREE) != 0;
	sz->secondary = z->keg->owner != z;
	sz->limit = (z->flags & NK_ZONE_LIMITED) ? z->max_items : 0;
	sz->reserve = sz->secondary ? 0 : z->keg->reserve;
	sz->ipers = sz->secondary ? 0 : z->keg->ipers;
}

/* numakeg's committed pages of a domain, checked with move_pages(). */
static void
snap_placement(struct snapshot *sn, int d)
{
	static void *pages[PLACEMENT_SAMPLE] NK_BIG_BSS;
	static int status[PLACEMENT_SAMPLE] NK_BIG_BSS;
	unsigned long n = 0;
	/* A walk nk_zdestroy waits for: no zone is freed under it. */
	for (struct nk_zone *z = zone_walk_begin(); z != NULL && n < PLACEMENT_SAMPLE; z = z->next) {
		if (z->keg->owner != z)
			continue;
		struct nk_keg_domain *kd = &z->keg->dom[d];
		nk_lock(&kd->lock);
		for (int l = SLAB_PARTIAL; l <= SLAB_FULL; l++)
			for (struct nk_slab *s = kd->lists[l]; s != NULL && n < PLACEMENT_SAMPLE; s = s->next)
				for (uint32_t p = 0; p < z->keg->pages && n < PLACEMENT_SAMPLE; p++)
					pages[n++] = (void *)(((uintptr_t)s->items & ~NK_PAGE_MASK) +
					    p * NK_PAGE_SIZE);
		nk_unlock(&kd->lock);
	}
	zone_walk_end();
	sn->dom[d].sampled = n;
	if (n != 0 && sys_move_pages(0, n, pages, NULL, status, 0) != 0) {
		sn->dom[d].move_errno = errno;
		sn->dom[d].sampled = 0;
		return;
	}
	for (unsigned long i = 0; i < n; i++) {
		if (status[i] == nk_topo.os_node[d])
			sn->dom[d].on_node++;
		else if (status[i] < 0)
			sn->dom[d].absent++;
	}
}

static bool
snap_take(struct snapshot *sn)
{
	int nd = nk_topo.ndomains, nz = 0;
	/* Every class listed, those not used yet too: made now, before counting. */
	malloc_make_all_classes();
	zone_registry_lock();
	for (struct nk_zone *z = nk_zone_list; z != NULL; z = z->next)
		nz++;
	zone_registry_unlock();
	nz += 2 + 8;  /* malloc, malloc-large, and zones made meanwhile */
	memset(sn, 0, sizeof(*sn));
	sn->nd = nd;
	sn->maplen = nk_roundup((size_t)nz * (sizeof(struct szone) +
	    (size_t)(nd + 1) * sizeof(struct srow)), NK_PAGE_SIZE);
	sn->map = mmap(NULL, sn->maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (sn->map == MAP_FAILED)
		return false;
	sn->zones = sn->map;
	struct srow *rows = (struct srow *)(sn->zones + nz);
	int nrows_zones = nz;

	/* malloc first, its classes after it, then large blocks, then the rest. */
	struct szone *mall = &sn->zones[sn->nzones++];
	snprintf(mall->name, sizeof(mall->name), "malloc");
	mall->kind = SK_MALLOC;
	mall->rows = rows;
	rows += nd + 1;
	for (unsigned c = 0; c < NK_NCLASSES; c++) {
		struct nk_zone *z = &nk_malloc_zones[c];
		struct szone *sz = &sn->zones[sn->nzones++];
		snap_zone_header(sz, z, SK_CLASS);
		sz->rows = rows;
		rows += nd + 1;
		for (int d = 0; d < nd; d++) {
			snap_zone_row(z, d, &sz->rows[d]);
			row_add(&sz->rows[nd], &sz->rows[d]);
			row_add(&mall->rows[d], &sz->rows[d]);
		}
		row_add(&mall->rows[nd], &sz->rows[nd]);
	}
	struct szone *large = &sn->zones[sn->nzones++];
	snprintf(large->name, sizeof(large->name), "malloc-large");
	large->kind = SK_LARGE;
	large->rows = rows;
	rows += nd + 1;
	for (int d = 0; d < nd; d++) {
		snap_large_row(d, &large->rows[d]);
		row_add(&large->rows[nd], &large->rows[d]);
	}
	for (struct nk_zone *z = zone_walk_begin(); z != NULL && sn->nzones < nrows_zones; z = z->next) {
		if (z->flags & NK_ZONE_MALLOC)
			continue;
		struct szone *sz = &sn->zones[sn->nzones++];
		snap_zone_header(sz, z, (z->flags & NK_ZONE_INTERNAL) ? SK_INTERNAL : SK_ZONE);
		sz->rows = rows;
		rows += nd + 1;
		for (int d = 0; d < nd; d++) {
			snap_zone_row(z, d, &sz->rows[d]);
			row_add(&sz->rows[nd], &sz->rows[d]);
		}
	}
	zone_walk_end();
	/*
	 * Domains and the process.  A domain's bytes used are its memory the
	 * program holds: its slabs' items less the free ones (in the slabs and
	 * in the caches, which hold the domain's own items), zone by zone.
	 */
	for (int i = 0; i < sn->nzones; i++) {
		struct szone *sz = &sn->zones[i];
		if (sz->kind == SK_CLASS || sz->kind == SK_ZONE) {
			for (int d = 0; d < nd; d++) {
				struct srow *r = &sz->rows[d];
				int64_t items = (int64_t)(r->slabs * sz->ipers) - (int64_t)r->free_items;
				sn->dom[d].used_bytes += items * (int64_t)sz->size;
				sn->dom[d].free_bytes += r->bytes_free;
			}
		}
		/* Large blocks count by the domain they are on, as slabs do. */
		if (sz->kind == SK_LARGE) {
			for (int d = 0; d < nd; d++) {
				sn->dom[d].used_bytes += sz->rows[d].bytes_used;
				sn->dom[d].free_bytes += sz->rows[d].bytes_free;
			}
		}
		if (sz->kind == SK_CLASS || sz->kind == SK_INTERNAL)
			continue;
		for (int d = 0; d < nd; d++) {
			struct srow *r = &sz->rows[d];
			sn->dom[d].requests += r->requests;
			sn->dom[d].frees += r->frees;
			sn->dom[d].xdomain += r->xdomain;
		}
		row_add(&sn->total, &sz->rows[nd]);
	}
	for (int d = 0; d < nd; d++) {
		nk_page_stats(d, &sn->dom[d].pages);
		if (nk_opt.stats_placement && !nk_topo.fake)
			snap_placement(sn, d);
	}
	return true;
}

static void
snap_release(struct snapshot *sn)
{
	if (sn->map != NULL && sn->map != MAP_FAILED)
		munmap(sn->map, sn->maplen);
}

static void
stats_emit(struct sink *s, int format, bool full, const char *reason)
{
	struct snapshot sn;
	if (!snap_take(&sn)) {
		nk_msg("statistics: no memory for the snapshot");
		return;
	}
	if (format == NK_STATS_JSON)
		stats_format_json(s, &sn, reason);
	else
		stats_format_text(s, &sn, full);
	snap_release(&sn);
}

NK_EXPORT void
nk_stats_print(FILE *out, int json)
{
	nk_init_once();
	struct sink s = { .f = out, .fd = -1, .len = 0 };
	pthread_mutex_lock(&stats_mtx);
	stats_emit(&s, json ? NK_STATS_JSON : NK_STATS_TEXT, nk_opt.stats_full, "call");
	sink_flush(&s);
	pthread_mutex_unlock(&stats_mtx);
	fflush(out);
}

NK_EXPORT int
nk_zone_stats(nk_zone_t z, int domain, struct nk_domain_stats *out)
{
	if (z == NULL || out == NULL || domain < 0 || domain >= nk_topo.ndomains)
		return EINVAL;
	memset(out, 0, sizeof(*out));
	zone_domain_counts(z, domain, &out->allocs, &out->frees, &out->xdomain);
	struct nk_keg_domain *kd = &z->keg->dom[domain];
	nk_lock(&kd->lock);
	out->fallbacks = kd->fallbacks;
	out->slabs = kd->nslabs;
	out->free_items = kd->free_items;
	nk_unlock(&kd->lock);
	nk_lock(&z->depot[domain].lock);
	out->cached_items = z->depot[domain].nitems;
	nk_unlock(&z->depot[domain].lock);
	return 0;
}

/* ---- Where a dump goes ---- */

/*
 * NUMAKEG_STATS_FILE with "%p" made the pid; -1 without a file.  An
 * unwritable file is reported once and the caller writes to stderr.
 */
static int
stats_open(int flags)
{
	if (nk_opt.stats_file == NULL)
		return -1;
	char path[512];
	size_t o = 0;
	for (const char *p = nk_opt.stats_file; *p && o < sizeof(path) - 16; p++) {
		if (p[0] == '%' && p[1] == 'p') {
			o += (size_t)snprintf(path + o, sizeof(path) - o, "%d", (int)getpid());
			p++;
		} else {
			path[o++] = *p;
		}
	}
	path[o] = '\0';
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0644);
	if (fd < 0 && !stats_file_reported) {
		stats_file_reported = true;
		nk_msg("cannot write NUMAKEG_STATS_FILE=%s (%s); the statistics go to stderr",
		    path, strerrordesc_np(errno));
	}
	return fd;
}

/* One dump to the stats file (or stderr); live dumps append a JSON line. */
static void
stats_dump(int format, const char *reason, bool append)
{
	int fd = stats_open(append ? O_APPEND : O_TRUNC);
	bool close_it = fd >= 0;
	if (fd < 0)
		fd = stats_fd;
	if (fd < 0)
		return;
	struct sink s = { .f = NULL, .fd = fd, .len = 0 };
	stats_emit(&s, format, nk_opt.stats_full, reason);
	sink_flush(&s);
	if (close_it)
		close(fd);
}

static bool
stats_live_enabled(void)
{
	return nk_opt.stats_signal != 0 || nk_opt.stats_interval_s != 0;
}

static void
stats_atexit(void)
{
	pthread_mutex_lock(&stats_mtx);
	zone_slow_hook = NULL;
	if (nk_opt.stats != NK_STATS_OFF)
		stats_dump(nk_opt.stats, "exit", stats_live_enabled());
	else if (stats_live_enabled())
		stats_dump(NK_STATS_JSON, "exit", true);
	pthread_mutex_unlock(&stats_mtx);
}

/* The handler only raises a flag: the next allocation slow path dumps. */
static void
stats_on_signal(int sig)
{
	(void)sig;
	stats_signal_pending = 1;
}

/* zone_slow_hook: zone.c's allocation slow path, with no lock held. */
static void
stats_live_poll(void)
{
	const char *reason = NULL;
	if (stats_signal_pending) {
		reason = "signal";
	} else if (nk_opt.stats_interval_s != 0) {
		uint64_t now = nk_now_ns(), next = __atomic_load_n(&stats_next_ns, __ATOMIC_RELAXED);
		if (now >= next && __atomic_compare_exchange_n(&stats_next_ns, &next,
		    now + (uint64_t)nk_opt.stats_interval_s * 1000000000u, false,
		    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			reason = "interval";
	}
	if (reason == NULL || pthread_mutex_trylock(&stats_mtx) != 0)
		return;
	stats_signal_pending = 0;
	stats_dump(NK_STATS_JSON, reason, true);
	pthread_mutex_unlock(&stats_mtx);
}

/*
 * A dump in another thread at fork() does not go on in the child: the
 * child starts with the lock free.  (Taking it in a prepare handler could
 * deadlock against malloc's, which holds the zone locks a dump needs.)
 */
void
stats_fork_child(void)
{
	pthread_mutex_init(&stats_mtx, NULL);
	stats_file_reported = false;
}

void
stats_init(void)
{
	if (nk_opt.stats == NK_STATS_OFF && !stats_live_enabled())
		return;
	stats_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 100);
	if (stats_live_enabled()) {
		/*
		 * Each dump appends a line; nothing truncates the file, so that
		 * processes sharing a name (no %p) do not wipe each other's.
		 */
		if (nk_opt.stats_signal != 0) {
			struct sigaction sa;
			memset(&sa, 0, sizeof(sa));
			sa.sa_handler = stats_on_signal;
			sa.sa_flags = SA_RESTART;
			sigemptyset(&sa.sa_mask);
			sigaction(nk_opt.stats_signal, &sa, NULL);
		}
		stats_next_ns = nk_now_ns() + (uint64_t)nk_opt.stats_interval_s * 1000000000u;
		zone_slow_hook = stats_live_poll;
	}
	atexit(stats_atexit);
}
