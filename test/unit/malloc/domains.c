/*
 * Runs with NUMAKEG_FAKE_DOMAINS=4 (ctest ENVIRONMENT).  The library must
 * see 4 domains; a thread moved to domain d by nk_thread_set_domain gets
 * small and large blocks from d (first touch, the default policy); and
 * nk_malloc_domain(size, d) places its block on d whatever the caller's
 * domain.  Blocks freed from another domain than their own are fine.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <malloc.h>
#include <pthread.h>

#include "nk_test.h"
#include "numakeg.h"

#define ND 4

static const size_t sizes[] = { 1, 16, 64, 100, 1000, 4096, 5000, 20000,
	65536, 100000, 1u << 20, 3u << 20 };
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

static void *held[ND][NSIZES * 6];   /* freed later, from another domain */

static void in_domain(int d)
{
	int e = nk_thread_set_domain(d);
	CHECK(e == 0, "nk_thread_set_domain(%d) = %d", d, e);
	CHECK(nk_current_domain() == d, "after nk_thread_set_domain(%d), "
	    "nk_current_domain() = %d", d, nk_current_domain());
	int k = 0;
	for (size_t i = 0; i < NSIZES; i++) {
		size_t n = sizes[i];
		void *p[6];
		p[0] = malloc(n);
		p[1] = nk_malloc(n);
		p[2] = calloc(1, n);
		p[3] = realloc(malloc(8), n);
		p[4] = aligned_alloc(256, n);
		p[5] = NULL;
		CHECK(posix_memalign(&p[5], 4096, n) == 0, "posix_memalign(4096, %zu)", n);
		static const char *how[] = { "malloc", "nk_malloc", "calloc", "realloc",
			"aligned_alloc", "posix_memalign" };
		for (int j = 0; j < 6; j++) {
			CHECK(p[j] != NULL, "domain %d: %s(%zu) returned NULL", d, how[j], n);
			if (!p[j])
				continue;
			memset(p[j], d, n);
			int got = nk_domain_of(p[j]);
			CHECK(got == d, "thread on domain %d: %s(%zu) = %p is on domain %d",
			    d, how[j], n, p[j], got);
			held[d][k++] = p[j];
		}
	}
}

static void explicit_domains(void)
{
	/* From every domain (and from none), for every target. */
	for (int from = -1; from < ND; from++) {
		CHECK(nk_thread_set_domain(from) == 0, "nk_thread_set_domain(%d)", from);
		for (int d = 0; d < ND; d++) {
			void *v[NSIZES];
			for (size_t i = 0; i < NSIZES; i++) {
				v[i] = nk_malloc_domain(sizes[i], d);
				CHECK(v[i] != NULL, "nk_malloc_domain(%zu, %d) returned NULL",
				    sizes[i], d);
				if (!v[i])
					continue;
				memset(v[i], 0x11, sizes[i]);
				CHECK(nk_domain_of(v[i]) == d, "nk_malloc_domain(%zu, %d) = %p "
				    "is on domain %d (caller on %d)", sizes[i], d, v[i],
				    nk_domain_of(v[i]), from);
				CHECK(malloc_usable_size(v[i]) >= sizes[i],
				    "nk_malloc_domain(%zu, %d): usable %zu", sizes[i], d,
				    malloc_usable_size(v[i]));
			}
			for (size_t i = 0; i < NSIZES; i++)
				free(v[i]);
		}
	}
	CHECK(nk_thread_set_domain(-1) == 0, "nk_thread_set_domain(-1)");
}

struct targ { int d; int bad; };

static void *domain_thread(void *arg)
{
	struct targ *t = arg;
	if (nk_thread_set_domain(t->d) != 0) {
		t->bad++;
		return NULL;
	}
	void *v[256];
	for (int round = 0; round < 50; round++) {
		for (int i = 0; i < 256; i++) {
			size_t n = (i % 16 == 0) ? 70000 : (size_t)(i * 13 % 2000) + 1;
			v[i] = malloc(n);
			if (!v[i] || nk_domain_of(v[i]) != t->d) {
				if (t->bad++ < 5)
					fprintf(stderr, "thread on domain %d: malloc(%zu) = %p "
					    "on domain %d\n", t->d, n, v[i],
					    v[i] ? nk_domain_of(v[i]) : -2);
			}
		}
		for (int i = 0; i < 256; i++)
			free(v[i]);
	}
	return NULL;
}

int main(void)
{
	const char *e = getenv("NUMAKEG_FAKE_DOMAINS");
	CHECK(e && strcmp(e, "4") == 0, "NUMAKEG_FAKE_DOMAINS is not 4 (ctest sets "
	    "it): %s", e ? e : "(unset)");
	CHECK(nk_ndomains() == ND, "nk_ndomains() = %d, want %d", nk_ndomains(), ND);
	int cd = nk_current_domain();
	CHECK(cd >= 0 && cd < ND, "nk_current_domain() = %d", cd);

	int r = nk_thread_set_domain(ND);
	CHECK(r != 0, "nk_thread_set_domain(%d) (no such domain) = 0", ND);
	r = nk_thread_set_domain(-2);
	CHECK(r != 0, "nk_thread_set_domain(-2) = 0");

	for (int d = 0; d < ND; d++)
		in_domain(d);
	/* Free every domain's blocks from the next domain: cross-domain frees. */
	for (int d = 0; d < ND; d++) {
		CHECK(nk_thread_set_domain((d + 1) % ND) == 0, "set_domain");
		for (size_t k = 0; k < NSIZES * 6; k++) {
			if (held[d][k] && nk_domain_of(held[d][k]) != d)
				CHECK(0, "block %p of domain %d now says domain %d",
				    held[d][k], d, nk_domain_of(held[d][k]));
			free(held[d][k]);
			held[d][k] = NULL;
		}
	}
	/* And again once the cross-domain frees went through: still right. */
	for (int d = ND - 1; d >= 0; d--)
		in_domain(d);
	for (int d = 0; d < ND; d++)
		for (size_t k = 0; k < NSIZES * 6; k++)
			free(held[d][k]);

	CHECK(nk_thread_set_domain(-1) == 0, "nk_thread_set_domain(-1)");
	cd = nk_current_domain();
	CHECK(cd >= 0 && cd < ND, "after nk_thread_set_domain(-1), "
	    "nk_current_domain() = %d", cd);

	explicit_domains();

	pthread_t t[2 * ND];
	struct targ ta[2 * ND];
	for (int i = 0; i < 2 * ND; i++) {
		ta[i].d = i % ND;
		ta[i].bad = 0;
		CHECK(pthread_create(&t[i], NULL, domain_thread, &ta[i]) == 0,
		    "pthread_create");
	}
	for (int i = 0; i < 2 * ND; i++) {
		pthread_join(t[i], NULL);
		CHECK(ta[i].bad == 0, "thread %d on domain %d: %d block(s) not on its "
		    "domain", i, ta[i].d, ta[i].bad);
	}
	return nkt_done("malloc_domains");
}
