/*
 * What the per-thread cache tests share beyond the harness (nk_test.h): an
 * alarm() watchdog that names what was running when it fired, item stamping
 * (a pattern written at allocation and checked before the free), a seed
 * mixer and a clock.
 *
 * These programs link numakeg_noexport: malloc is glibc's, numakeg is only
 * reached through the nk_* API.
 */
#ifndef NK_CACHE_COMMON_H
#define NK_CACHE_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nk_test.h"
#include "numakeg.h"

static const char *ct_name = "?";
static volatile const char *ct_phase = "start";

/* ---- watchdog ---- */

static void ct_alarm_handler(int sig)
{
	(void)sig;
	char buf[256];
	const char *ph = (const char *)ct_phase;
	int n = snprintf(buf, sizeof(buf),
	    "%s: FATAL: watchdog fired (pid %d) during \"%s\": deadlock or far too slow\n",
	    ct_name, (int)getpid(), ph ? ph : "?");
	if (n > 0)
		(void)!write(2, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
	_exit(3);
}

static inline void ct_watchdog(unsigned secs)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = ct_alarm_handler;
	sigaction(SIGALRM, &sa, NULL);
	alarm(secs);
}

static inline void ct_start(const char *name, unsigned watchdog_secs)
{
	ct_name = name;
	setvbuf(stdout, NULL, _IOLBF, 0);
	ct_watchdog(watchdog_secs);
	if (nk_ndomains() != 4)
		FAIL("nk_ndomains() = %d, want 4: run with NUMAKEG_FAKE_DOMAINS=4",
		    nk_ndomains());
}

/* ---- CPUs ---- */

/* Pins the calling thread to cpu, and checks it runs there. */
static inline void ct_pin(int cpu)
{
	cpu_set_t s;
	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	if (sched_setaffinity(0, sizeof(s), &s) != 0)
		FAIL("sched_setaffinity(cpu %d): %s", cpu, strerror(errno));
	sched_yield();
	CHECK(sched_getcpu() == cpu, "pinned to cpu %d, running on %d", cpu, sched_getcpu());
}

/* The first and the last CPU the process may run on; skips the test on one. */
static inline void ct_two_cpus(int *first, int *last)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) != 0 || CPU_COUNT(&set) < 2)
		nkt_skip("needs two CPUs to run on");
	*first = -1;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set)) {
			if (*first < 0)
				*first = c;
			*last = c;
		}
}

/* ---- time, seeds (nkt_rand is the generator) ---- */

static inline double ct_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void ct_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static inline uint64_t ct_seed(uint64_t a, uint64_t b)
{
	uint64_t x = (a + 1) * 0x9E3779B97F4A7C15ull ^ (b + 7) * 0xC2B2AE3D27D4EB4Full;
	return x ? x : 1;
}

/* ---- stamps ----
 * Word 0 holds the stamp; one word in every 64 bytes holds stamp ^ the
 * line's mix; the last word (items >= 16 bytes) holds ~stamp.  Every
 * cache line of the item is touched, so an item handed out twice, or
 * written by the allocator while live, shows up at the check.
 */
static inline uint64_t ct_stamp(unsigned zone, unsigned thread, uint64_t seq)
{
	return ((uint64_t)(zone & 0xff) << 56) | ((uint64_t)(thread & 0xff) << 48) |
	    (seq & 0xffffffffffffull);
}

static inline uint64_t ct_line_mix(size_t line)
{
	return (uint64_t)line * 0xD6E8FEB86659FD93ull;
}

static inline void ct_fill(void *p, size_t size, uint64_t stamp)
{
	uint64_t *w = p;
	w[0] = stamp;
	for (size_t off = 64; off + 16 <= size; off += 64)
		w[off / 8] = stamp ^ ct_line_mix(off / 64);
	if (size >= 16)
		w[size / 8 - 1] = ~stamp;
}

/* 0 if the item holds the stamp; else the offset of the first bad word + 1. */
static inline size_t ct_check(const void *p, size_t size, uint64_t stamp)
{
	const uint64_t *w = p;
	if (w[0] != stamp)
		return 1;
	for (size_t off = 64; off + 16 <= size; off += 64)
		if (w[off / 8] != (stamp ^ ct_line_mix(off / 64)))
			return off + 1;
	if (size >= 16 && w[size / 8 - 1] != ~stamp)
		return size / 8 * 8 - 8 + 1;
	return 0;
}

/* Scribbles over the stamp so a stale copy is never taken for a live one. */
static inline void ct_unstamp(void *p, size_t size)
{
	uint64_t *w = p;
	w[0] = 0xDEADDEADDEADDEADull;
	if (size >= 16)
		w[size / 8 - 1] = 0xDEADDEADDEADDEADull;
}

/* Sum of one counter over a zone's domains. */
static inline struct nk_domain_stats ct_zone_total(nk_zone_t z)
{
	struct nk_domain_stats t, s;
	memset(&t, 0, sizeof(t));
	for (int d = 0; d < nk_ndomains(); d++) {
		if (nk_zone_stats(z, d, &s) != 0)
			FAIL("nk_zone_stats(%s, %d) failed", nk_zone_name(z), d);
		t.allocs += s.allocs;
		t.frees += s.frees;
		t.xdomain += s.xdomain;
		t.fallbacks += s.fallbacks;
		t.slabs += s.slabs;
		t.free_items += s.free_items;
		t.cached_items += s.cached_items;
	}
	return t;
}

static inline void ct_print_zone(FILE *f, nk_zone_t z)
{
	struct nk_domain_stats s;
	for (int d = 0; d < nk_ndomains(); d++) {
		if (nk_zone_stats(z, d, &s) != 0)
			continue;
		fprintf(f, "  %-16s dom %d: allocs %llu frees %llu xdomain %llu fallbacks %llu "
		    "slabs %llu free_items %llu cached %llu\n", nk_zone_name(z), d,
		    (unsigned long long)s.allocs, (unsigned long long)s.frees,
		    (unsigned long long)s.xdomain, (unsigned long long)s.fallbacks,
		    (unsigned long long)s.slabs, (unsigned long long)s.free_items,
		    (unsigned long long)s.cached_items);
	}
}

#endif /* NK_CACHE_COMMON_H */
