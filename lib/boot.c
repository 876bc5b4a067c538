/*
 * The boot arena and the loader's range (boot.h).  Layering: boot.c calls
 * nothing but the C library's system calls (no malloc, no stdio): it runs
 * before and while numakeg starts.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "boot.h"

/* Big enough for hwloc's topology of a large machine and the loader's
 * start-up allocations; it is in the .bss, so untouched pages cost nothing. */
#define BOOT_ARENA_SIZE ((size_t)8 << 20)
static char boot_arena[BOOT_ARENA_SIZE] NK_BIG_BSS __attribute__((aligned(4096)));
static size_t boot_used;
int nk_boot_state;            /* NK_BOOT_NONE, _STARTING or _READY */
/* The loader's own mappings: blocks from before numakeg took over. */
static uintptr_t loader_lo, loader_hi;
static bool loader_known;

bool
boot_contains(const void *p)
{
	return (const char *)p >= boot_arena && (const char *)p < boot_arena + BOOT_ARENA_SIZE;
}

void *
boot_alloc(size_t n, size_t align)
{
	align = nk_max(align, (size_t)16);
	if ((align & (align - 1)) != 0) {
		errno = EINVAL;
		return NULL;
	}
	if (n > BOOT_ARENA_SIZE || align > BOOT_ARENA_SIZE) {
		errno = ENOMEM;
		return NULL;
	}
	uintptr_t base = (uintptr_t)boot_arena;
	uintptr_t at = nk_roundup(base + boot_used + 16, (uintptr_t)align);  /* no wrap: both small */
	size_t start = (size_t)(at - base);
	if (start > BOOT_ARENA_SIZE || n > BOOT_ARENA_SIZE - start) {
		errno = ENOMEM;
		return NULL;
	}
	boot_used = start + n;
	((size_t *)(boot_arena + start))[-1] = n;
	return boot_arena + start;
}

size_t
boot_size(const void *p)
{
	return ((const size_t *)p)[-1];
}

static void
record_loader_range(void)
{
	/* /proc/self/maps with read(2): no stdio, no malloc. */
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	char buf[8192];
	size_t have = 0;
	ssize_t r;
	uintptr_t lo_all = 0, hi_all = 0;  /* published whole, at the end */
	while ((r = read(fd, buf + have, sizeof(buf) - 1 - have)) > 0) {
		have += (size_t)r;
		buf[have] = '\0';
		char *line = buf, *nl;
		while ((nl = strchr(line, '\n')) != NULL) {
			*nl = '\0';
			if (strstr(line, "/ld-linux") != NULL) {
				uintptr_t lo = strtoul(line, NULL, 16);
				char *dash = strchr(line, '-');
				uintptr_t hi = dash ? strtoul(dash + 1, NULL, 16) : lo;
				if (lo_all == 0 || lo < lo_all)
					lo_all = lo;
				if (hi > hi_all)
					hi_all = hi;
			}
			line = nl + 1;
		}
		have = (size_t)(buf + have - line);
		memmove(buf, line, have);
		if (have == sizeof(buf) - 1)
			have = 0;
	}
	close(fd);
	loader_lo = lo_all;
	loader_hi = hi_all;
}

bool
boot_loader_block(const void *p)
{
	/* Read only when needed: most processes never free a foreign pointer. */
	if (!__atomic_load_n(&loader_known, __ATOMIC_ACQUIRE)) {
		record_loader_range();
		__atomic_store_n(&loader_known, true, __ATOMIC_RELEASE);
	}
	return (uintptr_t)p >= loader_lo && (uintptr_t)p < loader_hi;
}
