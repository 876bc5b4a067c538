/*
 * dlopen/dlclose under LD_PRELOAD=libnumakeg.so.  This program is NOT
 * linked to numakeg: only the preload makes numakeg its malloc, and the
 * plugin's (dl_plugin.c, not linked to it either).  Two threads load the
 * plugin, pass blocks across both ways and unload it, 50 times each; every
 * block must be numakeg's (nk_domain_of, found with dlsym in the preloaded
 * library) and keep its contents.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nk_test.h"

static const char *plugin_path;
static int (*domain_of)(const void *);

static void *
worker(void *arg)
{
	(void)arg;
	for (int round = 0; round < 50; round++) {
		void *h = dlopen(plugin_path, RTLD_NOW | RTLD_LOCAL);
		CHECK(h != NULL, "dlopen: %s", dlerror());
		if (h == NULL)
			return NULL;
		char *(*make)(size_t) = (char *(*)(size_t))dlsym(h, "plugin_make");
		void (*take)(char *) = (void (*)(char *))dlsym(h, "plugin_take");
		int (*held_ok)(void) = (int (*)(void))dlsym(h, "plugin_held_ok");
		CHECK(make && take && held_ok, "dlsym");
		if (!make || !take || !held_ok)
			return NULL;
		for (size_t n = 16; n <= (1u << 20); n *= 4) {
			char *p = make(n);            /* the plugin's malloc ... */
			CHECK(p != NULL && domain_of(p) >= 0, "plugin block of %zu = %p is not numakeg's",
			    n, p);
			CHECK(p == NULL || malloc_usable_size(p) >= n, "usable size %zu < %zu",
			    malloc_usable_size(p), n);
			CHECK(p == NULL || (p[0] == 0x17 && p[n - 1] == 0x17), "plugin block contents");
			free(p);                      /* ... our free */
			char *q = malloc(n);          /* our malloc ... */
			CHECK(q != NULL && domain_of(q) >= 0, "block of %zu = %p is not numakeg's", n, q);
			if (q != NULL)
				memset(q, 1, n);
			take(q);                      /* ... the plugin's free */
		}
		CHECK(held_ok(), "the constructor's block was damaged");
		CHECK(dlclose(h) == 0, "dlclose: %s", dlerror());
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s PLUGIN.so (run with LD_PRELOAD=libnumakeg.so)\n", argv[0]);
		return 2;
	}
	plugin_path = argv[1];
	domain_of = (int (*)(const void *))dlsym(RTLD_DEFAULT, "nk_domain_of");
	if (domain_of == NULL) {
		FAIL("nk_domain_of not found: libnumakeg.so is not preloaded (LD_PRELOAD=%s)",
		    getenv("LD_PRELOAD") ? getenv("LD_PRELOAD") : "");
	}
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, worker, NULL);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	return nkt_done("malloc_dlopen_preload");
}
