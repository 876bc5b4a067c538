/*
 * A preload library for the preload tests, loaded beside libnumakeg.so: when
 * any program starts (each exec), it appends "PID EXECUTABLE" to the file
 * named by NK_PIDLOG.  The driver then requires a statistics dump from every
 * process that started, which shows that numakeg served all of them and not
 * just one.  It calls no malloc: it runs before the program's own code.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

__attribute__((constructor)) static void
nk_pidlog_start(void)
{
	const char *path = getenv("NK_PIDLOG");
	if (path == NULL || *path == '\0')
		return;
	char exe[512];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		n = 0;
	exe[n] = '\0';
	char line[600];
	int len = snprintf(line, sizeof(line), "%d %s\n", (int)getpid(), exe);
	if (len <= 0 || (size_t)len >= sizeof(line))
		return;
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	/* One write with O_APPEND: lines from concurrent processes do not mix. */
	ssize_t w = write(fd, line, (size_t)len);
	(void)w;
	close(fd);
}
