/*
 * Statistics: per zone and per domain (vmstat -z, sysctl vm.uma), printed as
 * text or JSON at exit when NUMAKEG_STATS asks, and on demand.  The printer
 * formats into a stack buffer and writes with write(2): it runs at exit,
 * where stdio and malloc may already be torn down.  stderr is duplicated at
 * start-up because programs such as cat close it before exit handlers run.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#include "malloc_int.h"

#define NUMAKEG_VERSION "0.1.0"

const char *malloc_policy_str(void);
void malloc_large_counts(int domain, uint64_t *allocs, uint64_t *frees);

static int stats_fd = -1;

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

/* Large blocks: page runs, one row per domain. */
static void
stats_emit_large(struct sink *s, int json, bool *first_zone, uint64_t *tot_a, uint64_t *tot_f)
{
	for (int d = 0; d < nk_topo.ndomains; d++) {
		uint64_t a, f;
		malloc_large_counts(d, &a, &f);
		*tot_a += a;
		*tot_f += f;
		if (a == 0 && f == 0)
			continue;
		if (json)
			sink_printf(s, "%s{\"name\":\"malloc-large\",\"size\":0,\"internal\":false,"
			    "\"domains\":[{\"domain\":%d,\"allocs\":%lu,\"frees\":%lu}]}",
			    *first_zone ? "" : ",", d, a, f);
		else
			sink_printf(s, "%-20s %6s %3d %12lu %12lu\n", "malloc-large", "pages", d, a, f);
		*first_zone = false;
	}
}

static void
stats_emit(struct sink *s, int json)
{
	uint64_t tot_a = 0, tot_f = 0;
	int nd = nk_topo.ndomains;
	const char *src = nk_topo.source;
	if (json)
		sink_printf(s, "{\"version\":\"%s\",\"pid\":%d,\"ndomains\":%d,\"topology\":\"%s\","
		    "\"policy\":\"%s\",\"zones\":[", NUMAKEG_VERSION, (int)getpid(), nd, src,
		    malloc_policy_str());
	else {
		sink_printf(s, "numakeg %s: pid %d, %d domains (%s), policy %s\n", NUMAKEG_VERSION,
		    (int)getpid(), nd, src, malloc_policy_str());
		sink_printf(s, "%-20s %6s %3s %12s %12s %10s %9s %7s %10s %8s\n", "zone", "size",
		    "dom", "allocs", "frees", "xdomain", "fallbacks", "slabs", "free_items", "cached");
	}
	zone_registry_lock();
	struct nk_zone *zones = nk_zone_list;
	zone_registry_unlock();
	bool first_zone = true, large_done = false;
	for (struct nk_zone *z = zones; z != NULL; z = z->next) {
		bool first_dom = true;
		/* numakeg's own zones (buckets, headers, map entries) come last. */
		if ((z->flags & NK_ZONE_INTERNAL) && !large_done) {
			stats_emit_large(s, json, &first_zone, &tot_a, &tot_f);
			large_done = true;
			if (!json)
				sink_printf(s, "-- numakeg's own zones --\n");
		}
		for (int d = 0; d < nd; d++) {
			struct nk_domain_stats st;
			nk_zone_stats(z, d, &st);
			if (!(z->flags & NK_ZONE_INTERNAL)) {
				tot_a += st.allocs;
				tot_f += st.frees;
			}
			if (st.allocs == 0 && st.frees == 0 && st.slabs == 0)
				continue;
			if (json) {
				if (first_dom)
					sink_printf(s, "%s{\"name\":\"%s\",\"size\":%zu,\"internal\":%s,\"domains\":[",
					    first_zone ? "" : ",", z->name, z->size,
					    (z->flags & NK_ZONE_INTERNAL) ? "true" : "false");
				sink_printf(s, "%s{\"domain\":%d,\"allocs\":%lu,\"frees\":%lu,\"xdomain\":%lu,"
				    "\"fallbacks\":%lu,\"slabs\":%lu,\"free_items\":%lu,\"cached_items\":%lu}",
				    first_dom ? "" : ",", d, st.allocs, st.frees, st.xdomain, st.fallbacks,
				    st.slabs, st.free_items, st.cached_items);
				first_zone = false;
			} else {
				sink_printf(s, "%-20s %6zu %3d %12lu %12lu %10lu %9lu %7lu %10lu %8lu\n",
				    z->name, z->size, d, st.allocs, st.frees, st.xdomain, st.fallbacks,
				    st.slabs, st.free_items, st.cached_items);
			}
			first_dom = false;
		}
		if (json && !first_dom)
			sink_printf(s, "]}");
	}
	if (!large_done)
		stats_emit_large(s, json, &first_zone, &tot_a, &tot_f);
	if (json)
		sink_printf(s, "],\"pages\":[");
	for (int d = 0; d < nd; d++) {
		struct nk_page_stats ps;
		nk_page_stats(d, &ps);
		if (json)
			sink_printf(s, "%s{\"domain\":%d,\"active_bytes\":%lu,\"dirty_bytes\":%lu,"
			    "\"nofree_bytes\":%lu,\"limit_bytes\":%lu,\"purged_bytes\":%lu,\"fallbacks\":%lu}",
			    d ? "," : "", d, ps.active_bytes, ps.dirty_bytes, ps.nofree_bytes,
			    ps.limit_bytes, ps.purged_bytes, ps.fallbacks);
		else
			sink_printf(s, "pages domain %d: active %lu dirty %lu nofree %lu purged %lu "
			    "limit %lu fallbacks %lu\n", d, ps.active_bytes, ps.dirty_bytes,
			    ps.nofree_bytes, ps.purged_bytes, ps.limit_bytes, ps.fallbacks);
	}
	if (json)
		sink_printf(s, "],\"total\":{\"allocs\":%lu,\"frees\":%lu}}\n", tot_a, tot_f);
	else
		sink_printf(s, "numakeg: total allocs %lu frees %lu\n", tot_a, tot_f);
}

NK_EXPORT void
nk_stats_print(FILE *out, int json)
{
	extern void nk_init_once(void);
	nk_init_once();
	struct sink s = { .f = out, .fd = -1, .len = 0 };
	stats_emit(&s, json);
	sink_flush(&s);
	fflush(out);
}

static void
stats_atexit(void)
{
	int fd = stats_fd;
	bool close_it = false;
	if (nk_opt.stats_file != NULL && *nk_opt.stats_file) {
		/* "%p" in the name becomes the pid: one file per process. */
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
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		close_it = fd >= 0;
	}
	if (fd < 0)
		return;
	struct sink s = { .f = NULL, .fd = fd, .len = 0 };
	stats_emit(&s, nk_opt.stats == 2);
	sink_flush(&s);
	if (close_it)
		close(fd);
}

void stats_init(void);
void
stats_init(void)
{
	if (nk_opt.stats == 0)
		return;
	if (nk_opt.stats_file == NULL || *nk_opt.stats_file == '\0')
		stats_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 100);
	atexit(stats_atexit);
}
