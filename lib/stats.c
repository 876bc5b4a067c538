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
 * before exit handlers run.  May call: zone, keg, page, topo, malloc's
 * counters (large blocks and the policy name).
 */
#include <fcntl.h>
#include <numaif.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "malloc_int.h"

#define NUMAKEG_VERSION     "0.1.0"
#define STATS_SCHEMA        2     /* the JSON "version": doc/STATS.md */
#define PLACEMENT_SAMPLE    256   /* pages checked per domain */

const char *malloc_policy_str(void);
void malloc_large_counts(int domain, uint64_t *allocs, uint64_t *frees);

static int stats_fd = -1;                 /* a copy of stderr */
static pthread_mutex_t stats_mtx = PTHREAD_MUTEX_INITIALIZER;
static volatile sig_atomic_t stats_signal_pending;
static uint64_t stats_next_ns;            /* the next interval dump */
static bool stats_file_reported;          /* the unwritable file was reported */

/* ---- Output: a buffer flushed to a FILE or a descriptor ---- */

struct sink {
	FILE *f;
	int fd;
	size_t len;
	char buf[4096];
};

static void
sink_flush(struct sink *s)
{
	if (s->len == 0)
		return;
	if (s->f != NULL) {
		fwrite(s->buf, 1, s->len, s->f);
	} else {
		size_t off = 0;
		while (off < s->len) {
			ssize_t w = write(s->fd, s->buf + off, s->len - off);
			if (w <= 0)
				break;
			off += (size_t)w;
		}
	}
	s->len = 0;
}

__attribute__((format(printf, 2, 3))) static void
sink_printf(struct sink *s, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	size_t len = nk_min((size_t)n, sizeof(line) - 1);
	if (s->len + len > sizeof(s->buf))
		sink_flush(s);
	memcpy(s->buf + s->len, line, len);
	s->len += len;
}

/* A share as 0.xxx without floating point (printf's %f may allocate). */
static const char *
fmt_share(char *buf, size_t len, uint64_t part, uint64_t whole)
{
	if (whole == 0) {
		snprintf(buf, len, "null");
		return buf;
	}
	uint64_t permille = (part * 1000 + whole / 2) / whole;
	snprintf(buf, len, "%lu.%03lu", (unsigned long)(permille / 1000),
	    (unsigned long)(permille % 1000));
	return buf;
}

/* Bytes for people: 512, 12.5K, 3.2M, 1.0G; below zero with a sign. */
static const char *
fmt_bytes(char *buf, size_t len, int64_t sv)
{
	static const char units[] = "KMGTP";
	uint64_t v = sv < 0 ? (uint64_t)-sv : (uint64_t)sv;
	const char *sign = sv < 0 ? "-" : "";
	if (v < 1024) {
		snprintf(buf, len, "%s%lu", sign, (unsigned long)v);
		return buf;
	}
	int u = 0;
	uint64_t scale = 1024;
	while (u < 4 && v >= scale * 1024) {
		scale *= 1024;
		u++;
	}
	uint64_t tenths = (v * 10 + scale / 2) / scale;
	snprintf(buf, len, "%s%lu.%lu%c", sign, (unsigned long)(tenths / 10),
	    (unsigned long)(tenths % 10), units[u]);
	return buf;
}

/* ---- The snapshot: every zone's rows, taken before anything is printed ---- */

struct srow {
	uint64_t requests, frees, xdomain, fallbacks, fails, sleeps;
	uint64_t slabs, free_items;
	/*
	 * requests - frees.  Per domain both count by the domain of the thread
	 * that called, so a domain whose threads free blocks allocated on
	 * another domain can go below zero; the zone's total is exact.
	 */
	int64_t used;
	int64_t bytes_used;
	uint64_t bytes_free, bytes_held;
};

enum skind { SK_ZONE, SK_INTERNAL, SK_MALLOC, SK_CLASS, SK_LARGE };

struct szone {
	char name[40];
	size_t size;                  /* 0: no one size (malloc, large) */
	enum skind kind;
	bool nofree, secondary;
	int64_t limit, reserve;
	uint32_t ipers;               /* items per slab, 0: no keg of its own */
	struct srow *rows;            /* ndomains rows, then the total */
};

struct sdomain {
	struct nk_page_stats pages;
	int64_t used_bytes;           /* may dip below zero while caches are counted */
	uint64_t free_bytes, requests, frees, xdomain;
	/* The placement check: pages sampled, on the intended node, not present. */
	uint64_t sampled, on_node, absent;
	int move_errno;               /* move_pages failed with this */
};

struct snapshot {
	int nd, nzones;
	struct szone *zones;
	struct sdomain dom[NK_MAX_DOMAINS];
	struct srow total;
	void *map;
	size_t maplen;
};

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

/* Large blocks: the one place that knows where their counts come from. */
static void
snap_large_row(int d, struct srow *r)
{
	memset(r, 0, sizeof(*r));
	malloc_large_counts(d, &r->requests, &r->frees);
	r->used = (int64_t)r->requests - (int64_t)r->frees;
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
	static void *pages[PLACEMENT_SAMPLE];
	static int status[PLACEMENT_SAMPLE];
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

/* ---- JSON (doc/STATS.md) ---- */

static const char *const kind_name[] = {
	[SK_ZONE] = "zone", [SK_INTERNAL] = "internal", [SK_MALLOC] = "malloc",
	[SK_CLASS] = "malloc-class", [SK_LARGE] = "large",
};

/* A zone's name as a JSON string's contents: names come from the program. */
static const char *
json_escape(char *buf, size_t len, const char *in)
{
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)in; *p && o + 7 < len; p++) {
		if (*p == '"' || *p == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)*p;
		} else if (*p < 0x20) {
			o += (size_t)snprintf(buf + o, len - o, "\\u%04x", *p);
		} else {
			buf[o++] = (char)*p;
		}
	}
	buf[o] = '\0';
	return buf;
}

static void
json_node(char *buf, size_t len, int d)
{
	if (nk_topo.fake)
		snprintf(buf, len, "null");
	else
		snprintf(buf, len, "%d", nk_topo.os_node[d]);
}

static void
json_row(struct sink *s, const struct srow *r)
{
	sink_printf(s, "\"requests\":%lu,\"frees\":%lu,\"used\":%ld,\"free\":%lu,"
	    "\"failures\":%lu,\"sleeps\":%lu,\"xdomain\":%lu,\"fallbacks\":%lu,\"slabs\":%lu,"
	    "\"bytes_used\":%ld,\"bytes_free\":%lu,\"bytes_held\":%lu",
	    r->requests, r->frees, r->used, r->free_items, r->fails, r->sleeps, r->xdomain,
	    r->fallbacks, r->slabs, r->bytes_used, r->bytes_free, r->bytes_held);
}

static void
json_zone(struct sink *s, const struct snapshot *sn, const struct szone *sz, bool comma)
{
	char node[32], name[sizeof(sz->name) * 6];
	sink_printf(s, "%s{\"name\":\"%s\",\"kind\":\"%s\",\"size\":%zu,\"items_per_slab\":%u,"
	    "\"limit\":%ld,\"reserve\":%ld,\"nofree\":%s,\"secondary\":%s,\"total\":{",
	    comma ? "," : "", json_escape(name, sizeof(name), sz->name), kind_name[sz->kind],
	    sz->size, sz->ipers, sz->limit, sz->reserve,
	    sz->nofree ? "true" : "false", sz->secondary ? "true" : "false");
	json_row(s, &sz->rows[sn->nd]);
	sink_printf(s, "},\"domains\":[");
	for (int d = 0; d < sn->nd; d++) {
		json_node(node, sizeof(node), d);
		sink_printf(s, "%s{\"domain\":%d,\"node\":%s,", d ? "," : "", d, node);
		json_row(s, &sz->rows[d]);
		sink_printf(s, "}");
	}
	sink_printf(s, "]");
	if (sz->kind == SK_MALLOC) {
		sink_printf(s, ",\"classes\":[");
		bool first = true;
		for (int i = 0; i < sn->nzones; i++)
			if (sn->zones[i].kind == SK_CLASS) {
				json_zone(s, sn, &sn->zones[i], !first);
				first = false;
			}
		sink_printf(s, "]");
	}
	sink_printf(s, "}");
}

static void
json_placement(struct sink *s, const struct sdomain *sd)
{
	char share[32];
	if (!nk_opt.stats_placement) {
		sink_printf(s, "\"placement\":null");
	} else if (nk_topo.fake) {
		sink_printf(s, "\"placement\":{\"applicable\":false,\"why\":\"fake topology\"}");
	} else if (sd->move_errno != 0) {
		sink_printf(s, "\"placement\":{\"applicable\":false,\"why\":\"move_pages: %s\"}",
		    strerrordesc_np(sd->move_errno));
	} else {
		fmt_share(share, sizeof(share), sd->on_node, sd->sampled - sd->absent);
		sink_printf(s, "\"placement\":{\"applicable\":true,\"sampled\":%lu,\"on_node\":%lu,"
		    "\"not_present\":%lu,\"share\":%s}", sd->sampled, sd->on_node, sd->absent, share);
	}
}

static void
emit_json(struct sink *s, const struct snapshot *sn, const char *reason)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	char node[32], share[32];
	sink_printf(s, "{\"version\":%d,\"numakeg\":\"%s\",\"pid\":%d,\"time\":%ld.%06ld,"
	    "\"reason\":\"%s\",\"ndomains\":%d,\"topology\":\"%s\",\"fake\":%s,\"policy\":\"%s\","
	    "\"page_size\":%zu,\"total\":{", STATS_SCHEMA, NUMAKEG_VERSION, (int)getpid(),
	    (long)ts.tv_sec, ts.tv_nsec / 1000, reason, sn->nd, nk_topo.source,
	    nk_topo.fake ? "true" : "false", malloc_policy_str(), NK_PAGE_SIZE);
	json_row(s, &sn->total);
	sink_printf(s, "},\"domains\":[");
	for (int d = 0; d < sn->nd; d++) {
		const struct sdomain *sd = &sn->dom[d];
		const struct nk_page_stats *ps = &sd->pages;
		json_node(node, sizeof(node), d);
		fmt_share(share, sizeof(share), sd->frees - sd->xdomain, sd->frees);
		sink_printf(s, "%s{\"domain\":%d,\"node\":%s,\"bytes_used\":%ld,\"bytes_free\":%lu,"
		    "\"requests\":%lu,\"frees\":%lu,\"xdomain\":%lu,\"local_share\":%s,",
		    d ? "," : "", d, node, sd->used_bytes, sd->free_bytes, sd->requests, sd->frees,
		    sd->xdomain, share);
		/* The page layer: every field of struct nk_page_stats. */
		sink_printf(s, "\"pages\":{\"active_bytes\":%lu,\"dirty_bytes\":%lu,"
		    "\"nofree_bytes\":%lu,\"limit_bytes\":%lu,\"purged_bytes\":%lu,\"fallbacks\":%lu},",
		    ps->active_bytes, ps->dirty_bytes, ps->nofree_bytes, ps->limit_bytes,
		    ps->purged_bytes, ps->fallbacks);
		json_placement(s, sd);
		sink_printf(s, "}");
	}
	sink_printf(s, "],\"zones\":[");
	bool first = true;
	for (int i = 0; i < sn->nzones; i++) {
		if (sn->zones[i].kind == SK_CLASS)
			continue;  /* inside malloc's "classes" */
		json_zone(s, sn, &sn->zones[i], !first);
		first = false;
	}
	sink_printf(s, "]}\n");
}

/* ---- Text: the summary, the zones by memory held, the detail on request ---- */

static void
text_domain_line(struct sink *s, const char *dom, const char *node, int64_t used,
    uint64_t held, uint64_t cached, const struct nk_page_stats *ps, const char *local,
    const char *placed)
{
	char b[7][32];
	sink_printf(s, "%-6s %5s %9s %9s %9s %9s %9s %9s %9s %6s %6s\n", dom, node,
	    fmt_bytes(b[0], 32, used), fmt_bytes(b[1], 32, held), fmt_bytes(b[2], 32, cached),
	    fmt_bytes(b[3], 32, ps->dirty_bytes), fmt_bytes(b[4], 32, ps->purged_bytes),
	    fmt_bytes(b[5], 32, ps->nofree_bytes),
	    ps->limit_bytes ? fmt_bytes(b[6], 32, ps->limit_bytes) : "-", local, placed);
}

static void
text_zone_header(struct sink *s)
{
	sink_printf(s, "%-22s %6s %3s %5s %7s %10s %10s %12s %6s %6s %9s %9s %9s %9s\n",
	    "zone", "size", "dom", "node", "limit", "used", "free", "requests", "fails",
	    "sleeps", "xdomain", "fallbacks", "bytes_used", "bytes_held");
}

static void
text_zone_row(struct sink *s, const char *name, const struct szone *sz, const char *dom,
    const char *node, const struct srow *r)
{
	char size[32], limit[32], bu[32], bh[32];
	snprintf(size, sizeof(size), sz->size ? "%zu" : "-", sz->size);
	if (*name == '\0')
		size[0] = '\0';  /* a domain row: the size is on its zone's row */
	snprintf(limit, sizeof(limit), sz->limit ? "%ld" : "-", sz->limit);
	/* What applies to the zone, on its own row: NOFREE, a reserve, a shared keg. */
	char notes[64] = "";
	if (*name != '\0')
		snprintf(notes, sizeof(notes), "%s%s%.0ld%s", sz->nofree ? " nofree" : "",
		    sz->reserve ? " reserve=" : "", sz->reserve, sz->secondary ? " secondary" : "");
	sink_printf(s, "%-22s %6s %3s %5s %7s %10ld %10lu %12lu %6lu %6lu %9lu %9lu %9s %9s%s\n",
	    name, size, dom, node, limit, r->used, r->free_items, r->requests, r->fails, r->sleeps,
	    r->xdomain, r->fallbacks, fmt_bytes(bu, 32, r->bytes_used),
	    fmt_bytes(bh, 32, r->bytes_held), notes);
}

/* A zone's total row, and with the detail its domains (the idle ones too). */
static void
text_zone(struct sink *s, const struct snapshot *sn, const struct szone *sz, const char *prefix,
    bool full)
{
	char name[48], dom[32], node[32];
	snprintf(name, sizeof(name), "%s%s", prefix, sz->name);
	text_zone_row(s, name, sz, "all", "-", &sz->rows[sn->nd]);
	if (!full)
		return;
	for (int d = 0; d < sn->nd; d++) {
		snprintf(dom, sizeof(dom), "%d", d);
		json_node(node, sizeof(node), d);
		text_zone_row(s, "", sz, dom, nk_topo.fake ? "-" : node, &sz->rows[d]);
	}
}

static void
emit_text(struct sink *s, const struct snapshot *sn, bool full)
{
	int nd = sn->nd;
	sink_printf(s, "numakeg %s: pid %d, %d domains (%s), policy %s\n", NUMAKEG_VERSION,
	    (int)getpid(), nd, nk_topo.source, malloc_policy_str());
	sink_printf(s, "%-6s %5s %9s %9s %9s %9s %9s %9s %9s %6s %6s\n", "domain", "node", "used",
	    "held", "cached", "dirty", "purged", "nofree", "limit", "local", "placed");
	struct nk_page_stats tp;
	memset(&tp, 0, sizeof(tp));
	int64_t tu = 0;
	uint64_t tc = 0, tf = 0, tx = 0, ts = 0, ton = 0;
	char node[32], local[32], placed[32], dom[32];
	for (int d = 0; d < nd; d++) {
		const struct sdomain *sd = &sn->dom[d];
		tp.active_bytes += sd->pages.active_bytes;
		tp.dirty_bytes += sd->pages.dirty_bytes;
		tp.purged_bytes += sd->pages.purged_bytes;
		tp.nofree_bytes += sd->pages.nofree_bytes;
		tp.limit_bytes += sd->pages.limit_bytes;
		tu += sd->used_bytes;
		tc += sd->free_bytes;
		tf += sd->frees;
		tx += sd->xdomain;
		ts += sd->sampled - sd->absent;
		ton += sd->on_node;
	}
	const char *na = !nk_opt.stats_placement ? "-" : nk_topo.fake ? "n/a" : NULL;
	fmt_share(local, sizeof(local), tf - tx, tf);
	fmt_share(placed, sizeof(placed), ton, ts);
	text_domain_line(s, "total", "-", tu, tp.active_bytes, tc, &tp,
	    tf ? local : "-", na ? na : placed);
	for (int d = 0; d < nd; d++) {
		const struct sdomain *sd = &sn->dom[d];
		snprintf(dom, sizeof(dom), "%d", d);
		json_node(node, sizeof(node), d);
		fmt_share(local, sizeof(local), sd->frees - sd->xdomain, sd->frees);
		fmt_share(placed, sizeof(placed), sd->on_node, sd->sampled - sd->absent);
		text_domain_line(s, dom, nk_topo.fake ? "-" : node, sd->used_bytes,
		    sd->pages.active_bytes, sd->free_bytes, &sd->pages, sd->frees ? local : "-",
		    na ? na : placed);
	}
	sink_printf(s, "process: %lu requests, %lu frees, %ld in use\n", sn->total.requests,
	    sn->total.frees, sn->total.used);

	/* The zones, the most memory held first (used bytes break ties). */
	static int order[NK_MAX_ZONES + 8];
	int n = 0;
	for (int i = 0; i < sn->nzones; i++)
		if (sn->zones[i].kind != SK_CLASS && (full || sn->zones[i].kind != SK_INTERNAL))
			order[n++] = i;
	for (int i = 1; i < n; i++) {
		int v = order[i], j = i;
		const struct srow *rv = &sn->zones[v].rows[nd];
		while (j > 0) {
			const struct srow *rj = &sn->zones[order[j - 1]].rows[nd];
			if (rj->bytes_held > rv->bytes_held ||
			    (rj->bytes_held == rv->bytes_held && rj->bytes_used >= rv->bytes_used))
				break;
			order[j] = order[j - 1];
			j--;
		}
		order[j] = v;
	}
	sink_printf(s, "\n");
	text_zone_header(s);
	for (int i = 0; i < n; i++) {
		const struct szone *sz = &sn->zones[order[i]];
		text_zone(s, sn, sz, sz->kind == SK_INTERNAL ? "(numakeg) " : "", full);
		if (sz->kind == SK_MALLOC && full)
			for (int c = 0; c < sn->nzones; c++)
				if (sn->zones[c].kind == SK_CLASS &&
				    sn->zones[c].rows[nd].requests + sn->zones[c].rows[nd].slabs != 0)
					text_zone(s, sn, &sn->zones[c], "  ", true);
	}
	if (!full)
		sink_printf(s, "(NUMAKEG_STATS=text:full: every domain, malloc's size classes and "
		    "numakeg's own zones)\n");
	/* Always the last line: scripts (test/preload) read it. */
	sink_printf(s, "numakeg: total allocs %lu frees %lu\n", sn->total.requests, sn->total.frees);
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
		emit_json(s, &sn, reason);
	else
		emit_text(s, &sn, full);
	snap_release(&sn);
}

NK_EXPORT void
nk_stats_print(FILE *out, int json)
{
	extern void nk_init_once(void);
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
static void
stats_fork_child(void)
{
	pthread_mutex_init(&stats_mtx, NULL);
	stats_file_reported = false;
}

void stats_init(void);
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
	pthread_atfork(NULL, NULL, stats_fork_child);
	atexit(stats_atexit);
}
