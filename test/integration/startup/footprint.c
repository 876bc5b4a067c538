/*
 * startup_footprint's probe: run with libnumakeg.so preloaded, before any
 * allocation of its own, it prints how many pages of numakeg's zero data
 * (.bss and .lbss: the anonymous mapping right after the library's file
 * mappings, up to the end of its writable segment) the process start
 * touched, and nothing else.  It calls no malloc (no stdio) so the count is
 * the start's alone.  (The kernel merges an anonymous mapping of the loader's
 * that happens to lie right after the library into the same line of
 * /proc/self/maps: its pages are not numakeg's and are not counted.)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static char maps[1 << 16];
static unsigned char resident[1 << 14];  /* up to 64 MiB of .bss, a byte a page */

static void
say(const char *s)
{
	(void)!write(1, s, strlen(s));
}

/* The end of libnumakeg's writable segment (.data, .bss, .lbss), page-rounded. */
static int
find_end(struct dl_phdr_info *info, size_t size, void *end)
{
	(void)size;
	if (info->dlpi_name == NULL || strstr(info->dlpi_name, "libnumakeg") == NULL)
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_W)) {
			unsigned long e = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
			*(unsigned long *)end = (e + 4095) & ~4095ul;
		}
	}
	return 1;
}

int
main(void)
{
	int fd = open("/proc/self/maps", O_RDONLY);
	if (fd < 0) {
		say("SKIPPED: no /proc/self/maps\n");
		return 77;
	}
	size_t have = 0;
	ssize_t r;
	while (have < sizeof(maps) - 1 && (r = read(fd, maps + have, sizeof(maps) - 1 - have)) > 0)
		have += (size_t)r;
	close(fd);
	maps[have] = '\0';
	/* The line after the library's last line, if it is anonymous. */
	unsigned long lo = 0, hi = 0;
	int after_lib = 0;
	for (char *line = maps, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
		*nl = '\0';
		int is_lib = strstr(line, "libnumakeg") != NULL;
		if (after_lib && !is_lib) {
			char *end;
			lo = strtoul(line, &end, 16);
			hi = strtoul(end + 1, NULL, 16);
			/* Anonymous: no path after the inode column (six fields). */
			int fields = 0;
			for (char *p = line; *p; ) {
				while (*p == ' ')
					p++;
				if (*p == '\0')
					break;
				fields++;
				while (*p && *p != ' ')
					p++;
			}
			if (fields != 5 || strstr(line, "rw-p") == NULL)
				lo = hi = 0;
			break;
		}
		after_lib = is_lib;
	}
	if (hi <= lo) {
		/* footprint.sh preloads it: not finding it is a failure, not a skip. */
		say("FAIL: libnumakeg.so is not mapped, or has no .bss mapping after it\n");
		return 1;
	}
	unsigned long end = 0;
	dl_iterate_phdr(find_end, &end);
	if (end > lo && end < hi)
		hi = end;
	size_t pages = (hi - lo) / 4096;
	if (pages > sizeof(resident) || mincore((void *)lo, hi - lo, resident) != 0) {
		say("SKIPPED: numakeg's .bss is larger than this probe reads\n");
		return 77;
	}
	unsigned n = 0;
	for (size_t i = 0; i < pages; i++)
		n += resident[i] & 1;
	char out[32];
	int k = (int)sizeof(out) - 1;
	out[k--] = '\0';
	out[k--] = '\n';
	do {
		out[k--] = (char)('0' + n % 10);
		n /= 10;
	} while (n != 0);
	say(out + k + 1);
	return 0;
}
