/*
 * Runs with NUMAKEG_DEBUG=1 (ctest ENVIRONMENT; the library reads it at its
 * start).  Freed items are filled with a pattern that the next allocation
 * checks, so a write after free is reported ("numakeg: ... use after free"
 * or "... modified after free") and the process aborts.  An honest workload
 * must not trip it, and calloc must still return zeros.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <malloc.h>

#include "nk_test.h"
#include "numakeg.h"

struct uaf { size_t size, off; };

static void write_after_free(void *arg)
{
	const struct uaf *u = arg;
	unsigned char *p = malloc(u->size);
	memset(p, 0, u->size);
	free(p);
	unsigned char *q = nkt_launder(p);
	for (size_t i = 0; i < 8 && u->off + i < u->size; i++)
		q[u->off + i] = (unsigned char)(0x41 + i);
	/* Allocate that size again and again: one of them is the freed item. */
	for (int i = 0; i < 100000; i++) {
		void *v = malloc(u->size);
		if (!v)
			break;
		memset(v, 1, u->size);
	}
	static const char m[] = "<<no report after 100000 allocations>>\n";
	(void)!write(2, m, sizeof(m) - 1);
}

static void expect_uaf(size_t size, size_t off)
{
	struct uaf u = { size, off };
	struct nkt_child d;
	char what[128];
	snprintf(what, sizeof(what), "write at offset %zu of a freed %zu-byte block", off, size);
	nkt_run_child(write_after_free, &u, &d);
	CHECK_CHILD_SIGNAL(&d, SIGABRT, what);
	CHECK_CHILD_SAYS(&d, "numakeg:", what);
	CHECK(strstr(d.out, "use after free") || strstr(d.out, "modified after free"),
	    "%s: the child says neither \"use after free\" nor \"modified after free\":\n%s",
	    what, d.out);
}

/* Debug mode must not report what is not there. */
static void honest_workload(void)
{
	uint64_t r = 42;
	void *v[512] = { 0 };
	size_t sz[512] = { 0 };
	for (int k = 0; k < 200000; k++) {
		unsigned i = (unsigned)(nkt_rand(&r) % 512);
		if (v[i]) {
			CHECK(nkt_verify(v[i], sz[i], i) == (size_t)-1, "block %u changed", i);
			free(v[i]);
		}
		size_t n = (size_t)(nkt_rand(&r) % 3000);
		if (k % 1000 == 0)
			n = 300000;
		switch (k % 3) {
		case 0:
			v[i] = calloc(1, n);
			CHECK(v[i] && nkt_is_zero(v[i], n), "calloc(%zu) = %p not zeroed "
			    "in debug mode", n, v[i]);
			break;
		case 1:
			v[i] = malloc(n);
			break;
		default:
			v[i] = realloc(malloc(n / 2 + 1), n + 1);
			n++;
			break;
		}
		CHECK(v[i] != NULL, "allocation of %zu returned NULL", n);
		sz[i] = n;
		if (v[i])
			nkt_fill(v[i], n, i);
	}
	for (int i = 0; i < 512; i++)
		free(v[i]);
}

int main(void)
{
	const char *e = getenv("NUMAKEG_DEBUG");
	CHECK(e && strcmp(e, "1") == 0, "NUMAKEG_DEBUG is not 1 (ctest sets it): %s",
	    e ? e : "(unset)");
	honest_workload();
	expect_uaf(64, 32);
	expect_uaf(64, 63);
	expect_uaf(1000, 500);
	return nkt_done("malloc_debug_uaf");
}
