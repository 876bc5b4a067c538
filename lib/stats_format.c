/*
 * The stats layer's output (stats_int.h): the sink, number formatting, and
 * the two formats of a snapshot, JSON (doc/STATS.md) and text.  Nothing
 * here allocates or takes a lock.  Layering: stats_format.c reads a
 * snapshot and the policy's name; it never reaches into a zone.
 */
#include <stdarg.h>
#include <unistd.h>

#include "stats_int.h"

void
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

void
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

void
stats_format_json(struct sink *s, const struct snapshot *sn, const char *reason)
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

void
stats_format_text(struct sink *s, const struct snapshot *sn, bool full)
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
	static int order[NK_MAX_ZONES + 8] NK_BIG_BSS;
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
	/* Always the last line: scripts (bench/workloads.sh) read it. */
	sink_printf(s, "numakeg: total allocs %lu frees %lu\n", sn->total.requests, sn->total.frees);
}
