/*
 * The boot arena and the loader's range (boot.h).  Layering: boot.c calls
 * nothing but the C library's system calls (no malloc, no stdio; mmap for
 * the arena's chunks): it runs before and while numakeg starts.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "boot.h"

/*
 * The boot arena: a static part in the .bss, enough for a start on one node
 * or on a few fake domains (about 20 KiB and 80 KiB of it are used), then
 * chunks mapped as they are needed (hwloc's topology of a large machine,
 * many fake domains: 64 of them use 1.2 MiB).  The .bss counts whole
 * against RLIMIT_DATA and the commit charge of strict overcommit, touched or
 * not: an 8 MiB arena there charged every process 8 MiB it never used, and
 * a process under ulimit -d 8M could not even be loaded.
 */
#define BOOT_STATIC_SIZE ((size_t)256 << 10)
#define BOOT_CHUNK_MIN   ((size_t)1 << 20)
#define BOOT_MAX_CHUNKS  16
#define BOOT_BLOCK_MAX   ((size_t)8 << 20)   /* a block, and an alignment, at most */
static char boot_static[BOOT_STATIC_SIZE] NK_BIG_BSS __attribute__((aligned(4096)));
static struct boot_chunk {
	char *base;
	size_t size, used;
} boot_chunks[1 + BOOT_MAX_CHUNKS] = { { boot_static, BOOT_STATIC_SIZE, 0 } };
static int boot_nchunks = 1;  /* read unlocked by boot_contains: published last */
int nk_boot_state;            /* NK_BOOT_NONE, _STARTING or _READY */
/* The loader's own mappings: blocks from before numakeg took over. */
static uintptr_t loader_lo, loader_hi;
static bool loader_known;

bool
boot_contains(const void *p)
{
	int n = __atomic_load_n(&boot_nchunks, __ATOMIC_ACQUIRE);
	for (int i = 0; i < n; i++)
		if ((const char *)p >= boot_chunks[i].base &&
		    (const char *)p < boot_chunks[i].base + boot_chunks[i].size)
			return true;
	return false;
}

/* n bytes aligned to align from chunk c, or NULL if they do not fit. */
static void *
boot_take(struct boot_chunk *c, size_t n, size_t align)
{
	uintptr_t base = (uintptr_t)c->base;
	uintptr_t at = nk_roundup(base + c->used + 16, (uintptr_t)align);  /* no wrap: both small */
	size_t start = (size_t)(at - base);
	if (start > c->size || n > c->size - start)
		return NULL;
	c->used = start + n;
	((size_t *)(c->base + start))[-1] = n;
	return c->base + start;
}

void *
boot_alloc(size_t n, size_t align)
{
	align = nk_max(align, (size_t)16);
	if ((align & (align - 1)) != 0) {
		errno = EINVAL;
		return NULL;
	}
	if (n > BOOT_BLOCK_MAX || align > BOOT_BLOCK_MAX) {
		errno = ENOMEM;
		return NULL;
	}
	for (int i = 0; i < boot_nchunks; i++) {
		void *p = boot_take(&boot_chunks[i], n, align);
		if (p != NULL)
			return p;
	}
	if (boot_nchunks == 1 + BOOT_MAX_CHUNKS) {
		errno = ENOMEM;
		return NULL;
	}
	/* A new chunk: the block, its alignment and its size word fit in it. */
	size_t size = nk_roundup(nk_max(n + align + 16, BOOT_CHUNK_MIN), (size_t)4096);
	void *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		errno = ENOMEM;
		return NULL;
	}
	struct boot_chunk *c = &boot_chunks[boot_nchunks];
	c->base = m;
	c->size = size;
	c->used = 0;
	void *p = boot_take(c, n, align);
	NK_ASSERT(p != NULL, "a boot chunk made for a block does not hold it");
	__atomic_store_n(&boot_nchunks, boot_nchunks + 1, __ATOMIC_RELEASE);
	return p;
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
