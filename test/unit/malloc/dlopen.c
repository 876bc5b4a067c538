/*
 * dlopen/dlclose with numakeg as malloc (linked static, exported to the
 * plugin): a library that allocates in its constructor and frees in its
 * destructor is loaded and unloaded 200 times from 4 threads at once, and
 * blocks cross between it and the program both ways.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nk_test.h"
#include "numakeg.h"

static const char *plugin_path;

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
		for (size_t n = 16; n <= (1u << 20); n *= 4) {
			char *p = make(n);            /* the plugin's malloc ... */
			CHECK(p != NULL && nk_domain_of(p) >= 0, "plugin block %zu not numakeg's", n);
			CHECK(p[0] == 0x17 && p[n - 1] == 0x17, "plugin block contents");
			free(p);                      /* ... our free */
			char *q = malloc(n);          /* our malloc ... */
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
	plugin_path = argc > 1 ? argv[1] : "./libnk_dl_plugin.so";
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, worker, NULL);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	return nkt_done("malloc_dlopen");
}
