/*
 * numakeg built without statistics (NK_STATS 0, numakeg_nostats_static):
 * zones and malloc work, nk_zone_stats still gives the caches' and kegs'
 * exact counts, nk_stats_print and malloc_stats print one line saying the
 * statistics are not built, and a variable that asks for a dump
 * (NUMAKEG_STATS, NUMAKEG_STATS_SIGNAL, NUMAKEG_STATS_INTERVAL) gets one
 * warning line at start-up that names it, and no dump at exit.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nk_test.h"
#include "numakeg.h"

#define NALLOC 100
#define NFREE  40

static const char *const built_without = "built without statistics";

/* What nk_stats_print writes to a file, read back. */
static void print_to_string(int json, char *buf, size_t cap)
{
	FILE *f = tmpfile();
	REQUIRE(f != NULL, "tmpfile");
	nk_stats_print(f, json);
	rewind(f);
	size_t n = fread(buf, 1, cap - 1, f);
	buf[n] = '\0';
	fclose(f);
}

static int count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void zone_counts(void)
{
	nk_zone_t z = nk_zcreate("nostats-48", 48, NULL, NULL, NULL, NULL, NK_ALIGN_PTR, 0);
	REQUIRE(z != NULL, "nk_zcreate");
	void *items[NALLOC];
	for (int i = 0; i < NALLOC; i++) {
		items[i] = nk_zalloc(z, NK_WAITOK);
		REQUIRE(items[i] != NULL, "nk_zalloc %d", i);
		memset(items[i], i, 48);
	}
	for (int i = 0; i < NFREE; i++)
		nk_zfree(z, items[i]);
	uint64_t allocs = 0, frees = 0;
	for (int d = 0; d < nk_ndomains(); d++) {
		struct nk_domain_stats st;
		CHECK_EQ(nk_zone_stats(z, d, &st), 0);
		allocs += st.allocs;
		frees += st.frees;
	}
	CHECK_EQ(allocs, (uint64_t)NALLOC);
	CHECK_EQ(frees, (uint64_t)NFREE);
	for (int i = NFREE; i < NALLOC; i++)
		nk_zfree(z, items[i]);
	nk_zdestroy(z);
}

static void malloc_works(void)
{
	static const size_t sizes[] = { 1, 64, 4000, 36 << 10, 1 << 20, 8 << 20 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char *p = nkt_launder(malloc(sizes[i]));
		REQUIRE(p != NULL, "malloc(%zu)", sizes[i]);
		p[sizes[i] - 1] = 2;
		p[0] = 1;
		p = realloc(p, sizes[i] * 2);
		REQUIRE(p != NULL && p[0] == 1, "realloc(%zu)", sizes[i] * 2);
		free(p);
	}
}

static void prints_one_line(void)
{
	char buf[4096];
	print_to_string(0, buf, sizeof(buf));
	CHECK(strstr(buf, built_without) != NULL, "text: %s", buf);
	CHECK_EQ(count_lines(buf), 1);
	print_to_string(1, buf, sizeof(buf));
	char want[128];
	snprintf(want, sizeof(want), "{\"numakeg\":\"%s\",\"statistics\":false}\n", nk_version());
	CHECK(strcmp(buf, want) == 0, "json: %s, want %s", buf, want);
}

/* malloc_stats() writes the same line to stderr. */
static void call_malloc_stats(void *arg)
{
	(void)arg;
	malloc_stats();
}

static void malloc_stats_one_line(void)
{
	struct nkt_child c;
	nkt_run_child(call_malloc_stats, NULL, &c);
	CHECK_CHILD_EXIT(&c, 0, "malloc_stats");
	CHECK_CHILD_SAYS(&c, built_without, "malloc_stats");
	CHECK(strstr(c.out, "zone ") == NULL, "malloc_stats printed a table:\n%s", c.out);
}

/* This program again, allocating a little, under env ("NAME=VALUE;..."). */
static void exec_self(void *arg)
{
	char *env = strdup(arg);
	for (char *tok = strtok(env, ";"); tok != NULL; tok = strtok(NULL, ";"))
		putenv(tok);
	execl("/proc/self/exe", "stats_nostats", "workload", (char *)NULL);
	fprintf(stderr, "exec: %s\n", strerror(errno));
	_exit(1);
}

static void startup_warning(const char *env, const char *want)
{
	struct nkt_child c;
	nkt_run_child(exec_self, (void *)env, &c);
	CHECK_CHILD_EXIT(&c, 0, env);
	CHECK_CHILD_SAYS(&c, want, env);
	CHECK(count_lines(c.out) == 1, "%s: want one line from numakeg, it printed:\n%s", env,
	    c.out);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "workload") == 0) {
		malloc_works();
		return 0;
	}
	zone_counts();
	malloc_works();
	prints_one_line();
	malloc_stats_one_line();
	startup_warning("NUMAKEG_STATS=1",
	    "NUMAKEG_STATS=1 ignored: numakeg was built without statistics");
	startup_warning("NUMAKEG_STATS=json;NUMAKEG_STATS_FILE=/nonexistent/x",
	    "NUMAKEG_STATS=json ignored: numakeg was built without statistics");
	startup_warning("NUMAKEG_STATS_SIGNAL=USR2;NUMAKEG_STATS_INTERVAL=1",
	    "NUMAKEG_STATS_SIGNAL=USR2, NUMAKEG_STATS_INTERVAL=1 ignored: numakeg was built "
	    "without statistics");
	return nkt_done("stats_nostats");
}
