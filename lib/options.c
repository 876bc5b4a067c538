/*
 * The options: every NUMAKEG_* environment variable is read, checked and
 * turned into nk_opt here, once, at start-up.  A bad value gets one line on
 * stderr that names the variable and what it accepts, and the default is
 * used.  The variables that name domains (NUMAKEG_DOMAIN_LIMIT, bind:) are
 * checked a second time once the topology is known, through
 * nk_options_domains(), which topo.c calls with the domain table: this file
 * sits below topo and may call only nk_base.h (nk_msg) and the C library,
 * without malloc (getenv and strtoull are safe this early).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "nk_base.h"

struct nk_options nk_opt;

/* The largest KVA window whose page count fits 32 bits (a run's npages). */
#define OPT_KVA_WINDOW_MAX  ((uint64_t)1 << 43)
#define OPT_KVA_WINDOW_MIN  ((uint64_t)1 << 24)
/* Milliseconds past this would wrap when the page layer makes them ns. */
#define OPT_MS_MAX          (UINT64_MAX / 1000000u)
#define OPT_INTERVAL_MAX    (365u * 24 * 3600)

uint64_t
nk_parse_size(const char *s, const char **end)
{
	uint64_t v = 0;
	const char *p = s;
	if (*p < '0' || *p > '9')
		return UINT64_MAX;
	while (*p >= '0' && *p <= '9') {
		if (v > UINT64_MAX / 10)
			return UINT64_MAX;
		v = v * 10 + (uint64_t)(*p++ - '0');
	}
	int shift = 0;
	switch (*p) {
	case 'k': case 'K': shift = 10; p++; break;
	case 'm': case 'M': shift = 20; p++; break;
	case 'g': case 'G': shift = 30; p++; break;
	case 't': case 'T': shift = 40; p++; break;
	default: break;
	}
	if (shift && (*p == 'b' || *p == 'B'))
		p++;
	if (shift && v > (UINT64_MAX >> shift))
		return UINT64_MAX;
	if (end)
		*end = p;
	return v << shift;
}

/*
 * Whether the environment has any NUMAKEG_ variable, found by one pass over
 * it at start-up: almost no process has one, and then the twenty-odd
 * getenv calls of start-up (each a pass over the environment) are skipped.
 */
static bool opt_env_any = true;

static void
opt_env_scan(void)
{
	opt_env_any = false;
	for (char **e = environ; e != NULL && *e != NULL; e++)
		if (strncmp(*e, "NUMAKEG_", 8) == 0) {
			opt_env_any = true;
			return;
		}
}

const char *
nk_getenv(const char *name)
{
	return opt_env_any ? getenv(name) : NULL;
}

/* The variable's value, or NULL when it is unset or empty. */
static const char *
opt_get(const char *name)
{
	const char *s = nk_getenv(name);
	return (s != NULL && *s != '\0') ? s : NULL;
}

/* The one warning a bad value gets. */
static void
opt_bad(const char *name, const char *value, const char *want, const char *dflt)
{
	nk_msg("ignoring %s=%s: want %s; using %s", name, value, want, dflt);
}

/* A whole decimal number, nothing after it; false on anything else or overflow. */
static bool
opt_number(const char *s, uint64_t *out)
{
	const char *end;
	if (*s < '0' || *s > '9')
		return false;
	uint64_t v = 0;
	for (end = s; *end >= '0' && *end <= '9'; end++) {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*end - '0');
	}
	if (*end != '\0')
		return false;
	*out = v;
	return true;
}

static uint64_t
opt_size(const char *name, uint64_t dflt, const char *dflt_str)
{
	const char *s = opt_get(name);
	if (s == NULL)
		return dflt;
	const char *end;
	uint64_t v = nk_parse_size(s, &end);
	if (v == UINT64_MAX || *end != '\0') {
		opt_bad(name, s, "a size in bytes such as 4096, 64K, 64M, 1G", dflt_str);
		return dflt;
	}
	return v;
}

/* Milliseconds, capped where the conversion to ns would wrap. */
static uint64_t
opt_ms(const char *name, uint64_t dflt)
{
	const char *s = opt_get(name);
	uint64_t v;
	if (s == NULL)
		return dflt;
	if (!opt_number(s, &v)) {
		if (s[0] >= '0' && s[0] <= '9' && strspn(s, "0123456789") == strlen(s)) {
			nk_msg("%s=%s is too large: want milliseconds 0..%lu; using %lu",
			    name, s, (unsigned long)OPT_MS_MAX, (unsigned long)OPT_MS_MAX);
			return OPT_MS_MAX;
		}
		opt_bad(name, s, "milliseconds, a whole number such as 1000", "the default 1000");
		return dflt;
	}
	if (v > OPT_MS_MAX) {
		nk_msg("%s=%s is too large: want milliseconds 0..%lu; using %lu",
		    name, s, (unsigned long)OPT_MS_MAX, (unsigned long)OPT_MS_MAX);
		return OPT_MS_MAX;
	}
	return v;
}

/* On/off switches: 1, 0, on, off, yes, no, true, false. */
static int
opt_bool(const char *name, int dflt)
{
	static const char *const on[] = { "1", "on", "yes", "true" };
	static const char *const off[] = { "0", "off", "no", "false" };
	const char *s = opt_get(name);
	if (s == NULL)
		return dflt;
	for (size_t i = 0; i < sizeof(on) / sizeof(on[0]); i++) {
		if (strcasecmp(s, on[i]) == 0)
			return 1;
		if (strcasecmp(s, off[i]) == 0)
			return 0;
	}
	opt_bad(name, s, "1 or 0 (on/off, yes/no, true/false)", dflt ? "on" : "off");
	return dflt;
}

/*
 * A copy, not getenv()'s pointer: programs such as redis-server write their
 * process title over the environment, and these are read again later.
 */
static const char *
opt_copy(const char *name, char *buf, size_t len)
{
	const char *s = opt_get(name);
	if (s == NULL)
		return NULL;
	size_t n = strlen(s);
	if (n >= len) {
		nk_msg("ignoring %s: want at most %zu characters; using the default", name, len - 1);
		return NULL;
	}
	memcpy(buf, s, n + 1);
	return buf;
}

static void
opt_fake_domains(void)
{
	const char *s = opt_get("NUMAKEG_FAKE_DOMAINS");
	uint64_t n;
	nk_opt.fake_domains = 0;
	if (s == NULL)
		return;
	if (!opt_number(s, &n) || n < 1 || n > NK_MAX_DOMAINS) {
		char want[32];
		snprintf(want, sizeof(want), "a number 1..%d", NK_MAX_DOMAINS);
		opt_bad("NUMAKEG_FAKE_DOMAINS", s, want, "the real topology");
		return;
	}
	nk_opt.fake_domains = (int)n;
}

static void
opt_stats(void)
{
	const char *s = opt_get("NUMAKEG_STATS");
	nk_opt.stats = NK_STATS_OFF;
	nk_opt.stats_full = false;
	if (s == NULL || strcmp(s, "0") == 0 || strcmp(s, "off") == 0)
		return;
	if (strcmp(s, "text") == 0 || strcmp(s, "1") == 0) {
		nk_opt.stats = NK_STATS_TEXT;
	} else if (strcmp(s, "text:full") == 0) {
		nk_opt.stats = NK_STATS_TEXT;
		nk_opt.stats_full = true;
	} else if (strcmp(s, "json") == 0) {
		nk_opt.stats = NK_STATS_JSON;
	} else {
		opt_bad("NUMAKEG_STATS", s, "text, text:full, json or 0", "off");
	}
}

static void
opt_stats_live(void)
{
	const char *s = opt_get("NUMAKEG_STATS_SIGNAL");
	nk_opt.stats_signal = 0;
	if (s != NULL) {
		const char *n = strncasecmp(s, "SIG", 3) == 0 ? s + 3 : s;
		if (strcasecmp(n, "USR1") == 0)
			nk_opt.stats_signal = SIGUSR1;
		else if (strcasecmp(n, "USR2") == 0)
			nk_opt.stats_signal = SIGUSR2;
		else
			opt_bad("NUMAKEG_STATS_SIGNAL", s, "USR1 or USR2", "no signal");
	}
	s = opt_get("NUMAKEG_STATS_INTERVAL");
	nk_opt.stats_interval_s = 0;
	if (s != NULL) {
		uint64_t v;
		if (!opt_number(s, &v) || v > OPT_INTERVAL_MAX) {
			char want[64];
			snprintf(want, sizeof(want), "whole seconds 1..%u (0: none)", OPT_INTERVAL_MAX);
			opt_bad("NUMAKEG_STATS_INTERVAL", s, want, "no interval dumps");
		} else {
			nk_opt.stats_interval_s = (uint32_t)v;
		}
	}
	nk_opt.stats_placement = opt_bool("NUMAKEG_STATS_PLACEMENT", 0);
	nk_opt.secure = opt_bool("NUMAKEG_SECURE", 0);
}

/* Kept as text in canonical form: kva.c reads it as it read the variable. */
static void
opt_kva_window(void)
{
	static char window[32];
	const char *s = opt_get("NUMAKEG_KVA_WINDOW");
	nk_opt.kva_window = NULL;
	if (s == NULL)
		return;
	const char *end;
	uint64_t v = nk_parse_size(s, &end);
	const char *want = "a size 16M..8T such as 64G (rounded down to a power of two)";
	if (v == UINT64_MAX || *end != '\0') {
		opt_bad("NUMAKEG_KVA_WINDOW", s, want, "the default");
		return;
	}
	if (v < OPT_KVA_WINDOW_MIN) {
		opt_bad("NUMAKEG_KVA_WINDOW", s, want, "the default");
		return;
	}
	if (v >= 2 * OPT_KVA_WINDOW_MAX) {
		/* 16T and more: a run's page count would not fit 32 bits. */
		nk_msg("NUMAKEG_KVA_WINDOW=%s is too large: want %s; using 8T", s, want);
		v = OPT_KVA_WINDOW_MAX;
	}
	snprintf(window, sizeof(window), "%lu", (unsigned long)v);
	nk_opt.kva_window = window;
}

void
nk_options_init(void)
{
	opt_env_scan();
	opt_fake_domains();
	nk_opt.debug = opt_bool("NUMAKEG_DEBUG",
#ifdef NK_DEBUG
	    1
#else
	    0
#endif
	    );
	opt_stats();
	static char stats_file[512], domain_limit[512], policy[64];
	nk_opt.stats_file = opt_copy("NUMAKEG_STATS_FILE", stats_file, sizeof(stats_file));
	opt_stats_live();
	nk_opt.domain_limit = opt_copy("NUMAKEG_DOMAIN_LIMIT", domain_limit, sizeof(domain_limit));
	nk_opt.policy = opt_copy("NUMAKEG_POLICY", policy, sizeof(policy));
	nk_opt.dirty_max = opt_size("NUMAKEG_DIRTY_MAX", 64u << 20, "the default 64M");
	nk_opt.decay_ms = opt_ms("NUMAKEG_DECAY_MS", 1000);
	nk_opt.trim_ms = opt_ms("NUMAKEG_TRIM_MS", 1000);
	opt_kva_window();
}

/* ---- Variables that name domains: checked once the topology is known ---- */

/*
 * A domain as a user writes it: numakeg's index D, or nodeN, the kernel's
 * node id (what numactl and move_pages call it).  -1 if there is none such.
 */
static int
opt_domain(const char *s, const char **end, int ndomains, const int *os_node, bool fake)
{
	bool node = strncmp(s, "node", 4) == 0;
	const char *p = node ? s + 4 : s;
	if (*p < '0' || *p > '9')
		return -1;
	long v = 0;
	while (*p >= '0' && *p <= '9' && v < 100000)
		v = v * 10 + (*p++ - '0');
	*end = p;
	if (!node)
		return v < ndomains ? (int)v : -1;
	if (fake)
		return -1;  /* a fake topology has no kernel nodes to name */
	for (int d = 0; d < ndomains; d++)
		if (os_node[d] == v)
			return d;
	return -1;
}

/*
 * NUMAKEG_DOMAIN_LIMIT: SIZE, or D:SIZE,... with D an index or nodeN.  Fills
 * nk_opt.limit and leaves the canonical text in nk_opt.domain_limit.
 */
static void
opt_domain_limit(int ndomains, const int *os_node, bool fake)
{
	static char canon[512];
	const char *s = nk_opt.domain_limit;
	const char *want = "SIZE, or D:SIZE,... with D a domain index or nodeN (the kernel's node id)";
	memset(nk_opt.limit, 0, sizeof(nk_opt.limit));
	if (s == NULL)
		return;
	const char *end;
	if (strchr(s, ':') == NULL) {
		uint64_t v = nk_parse_size(s, &end);
		if (v == UINT64_MAX || *end != '\0') {
			opt_bad("NUMAKEG_DOMAIN_LIMIT", s, want, "no limit");
			nk_opt.domain_limit = NULL;
			return;
		}
		for (int d = 0; d < ndomains; d++)
			nk_opt.limit[d] = v;
		return;
	}
	size_t o = 0;
	const char *p = s;
	while (*p) {
		int d = opt_domain(p, &end, ndomains, os_node, fake);
		const char *send;
		uint64_t v = d >= 0 && *end == ':' ? nk_parse_size(end + 1, &send) : UINT64_MAX;
		if (v == UINT64_MAX || (*send != ',' && *send != '\0') || o + 48 > sizeof(canon)) {
			opt_bad("NUMAKEG_DOMAIN_LIMIT", s, want, "no limit");
			nk_opt.domain_limit = NULL;
			memset(nk_opt.limit, 0, sizeof(nk_opt.limit));
			return;
		}
		nk_opt.limit[d] = v;
		o += (size_t)snprintf(canon + o, sizeof(canon) - o, "%s%d:%lu", o ? "," : "", d,
		    (unsigned long)v);
		p = *send == ',' ? send + 1 : send;
	}
	nk_opt.domain_limit = canon;
}

/*
 * NUMAKEG_POLICY: firsttouch, roundrobin, interleave, bind:D or bind:nodeN.
 * Fills nk_opt.policy_kind and _bind; bind:nodeN becomes bind:D.
 */
static void
opt_policy(int ndomains, const int *os_node, bool fake)
{
	static char canon[32];
	static const char *const names[] = { "firsttouch", "roundrobin", "interleave" };
	_Static_assert(NK_POLICY_FIRSTTOUCH == 0 && NK_POLICY_ROUNDROBIN == 1 &&
	    NK_POLICY_INTERLEAVE == 2, "names[] follows NK_POLICY_*");
	const char *s = nk_opt.policy;
	nk_opt.policy_kind = NK_POLICY_FIRSTTOUCH;
	nk_opt.policy_bind = -1;
	if (s == NULL)
		return;
	for (int k = 0; k < 3; k++)
		if (strcmp(s, names[k]) == 0) {
			nk_opt.policy_kind = k;  /* the names are in NK_POLICY_* order */
			return;
		}
	const char *end;
	int d = strncmp(s, "bind:", 5) == 0 ? opt_domain(s + 5, &end, ndomains, os_node, fake) : -1;
	if (d < 0 || *end != '\0') {
		opt_bad("NUMAKEG_POLICY", s, "firsttouch, roundrobin, interleave, bind:D "
		    "(a domain index) or bind:nodeN (the kernel's node id)", "firsttouch");
		nk_opt.policy = NULL;
		return;
	}
	nk_opt.policy_kind = NK_POLICY_BIND;
	nk_opt.policy_bind = d;
	snprintf(canon, sizeof(canon), "bind:%d", d);
	nk_opt.policy = canon;
}

void
nk_options_domains(int ndomains, const int *os_node, bool fake)
{
	opt_domain_limit(ndomains, os_node, fake);
	opt_policy(ndomains, os_node, fake);
}
