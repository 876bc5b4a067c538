/*
 * What the two halves of the stats layer share: the snapshot (stats.c takes
 * it) and the output sink and formats (stats_format.c prints it).
 */
#ifndef NK_STATS_INT_H
#define NK_STATS_INT_H

#include <stdio.h>

#include "malloc_int.h"
#include "nk_version.h"   /* the build's, from project(VERSION): nk_version()'s number */

#define NUMAKEG_VERSION     NK_VERSION_STRING
#define STATS_SCHEMA        3     /* the JSON "version": doc/STATS.md */

/* Output: a buffer flushed to a FILE or a descriptor, never malloc. */
struct sink {
	FILE *f;
	int fd;
	size_t len;
	char buf[4096];
};
void sink_flush(struct sink *s);
__attribute__((format(printf, 2, 3))) void sink_printf(struct sink *s, const char *fmt, ...);

/* The snapshot: every zone's rows, taken before anything is printed. */
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

/* The two formats of a snapshot: JSON (doc/STATS.md) and text. */
void stats_format_json(struct sink *s, const struct snapshot *sn, const char *reason);
void stats_format_text(struct sink *s, const struct snapshot *sn, bool full);

#endif /* NK_STATS_INT_H */
