/* A library for malloc_dlopen: it allocates when loaded, frees when unloaded. */
#include <stdlib.h>
#include <string.h>

static char *held;

__attribute__((constructor)) static void
plugin_load(void)
{
	held = malloc(4096);
	memset(held, 0x42, 4096);
}

__attribute__((destructor)) static void
plugin_unload(void)
{
	free(held);
}

/* A block the caller frees, and one the caller gave us to free. */
char *
plugin_make(size_t n)
{
	char *p = malloc(n);
	if (p != NULL)
		memset(p, 0x17, n);
	return p;
}

void
plugin_take(char *p)
{
	free(p);
}

int
plugin_held_ok(void)
{
	for (int i = 0; i < 4096; i++)
		if (held[i] != 0x42)
			return 0;
	return 1;
}
