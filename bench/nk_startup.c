/*
 * nk_startup: what a malloc costs every process that starts with it.
 *
 *   nk_startup [-n STARTS] [-r ROUNDS] [-p PROGRAM] LIB...
 *
 * Each LIB is a library to LD_PRELOAD, or "none" for the C library's own
 * malloc.  A round starts PROGRAM (default /bin/true) STARTS times under
 * each LIB in turn (posix_spawn, then waitpid), so that the libraries are
 * interleaved and a busy machine slows them alike; the table gives, per
 * library, the median over the rounds of the time of one start (spawn to
 * reaped), in microseconds, and the smallest round's; then the same for the
 * CPU time the started processes used (user + system, from getrusage's
 * RUSAGE_CHILDREN), which a busy machine disturbs much less than the wall
 * time.  Shell scripts and builds start thousands of processes: this is
 * the cost they pay.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAX_LIBS 16

static double
now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int
compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The environment without LD_PRELOAD, plus LD_PRELOAD=lib unless "none". */
static char **
environment_for(const char *lib)
{
	size_t n = 0;
	while (environ[n] != NULL)
		n++;
	char **env = calloc(n + 2, sizeof(*env));
	if (env == NULL)
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0)
			env[k++] = environ[i];
	if (strcmp(lib, "none") != 0) {
		size_t len = strlen(lib) + 12;
		char *entry = malloc(len);
		if (entry == NULL)
			return NULL;
		snprintf(entry, len, "LD_PRELOAD=%s", lib);
		env[k++] = entry;
	}
	env[k] = NULL;
	return env;
}

static double
children_cpu_us(void)
{
	struct rusage ru;
	getrusage(RUSAGE_CHILDREN, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/*
 * Microseconds per start over STARTS starts, wall; *cpu: the children's CPU
 * time per start.  Negative if one failed.
 */
static double
time_starts(const char *program, char **env, int starts, double *cpu)
{
	char *const argv[] = { (char *)program, NULL };
	double c0 = children_cpu_us();
	double t0 = now_us();
	for (int i = 0; i < starts; i++) {
		pid_t pid;
		int err = posix_spawn(&pid, program, NULL, NULL, argv, env);
		if (err != 0) {
			fprintf(stderr, "nk_startup: cannot start %s: %s\n", program, strerror(err));
			return -1;
		}
		int status;
		while (waitpid(pid, &status, 0) < 0)
			if (errno != EINTR)
				return -1;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "nk_startup: %s failed (status %#x)\n", program, status);
			return -1;
		}
	}
	double wall = (now_us() - t0) / starts;
	*cpu = (children_cpu_us() - c0) / starts;
	return wall;
}

int
main(int argc, char **argv)
{
	int starts = 200, rounds = 7, opt;
	const char *program = "/bin/true";
	while ((opt = getopt(argc, argv, "n:r:p:")) != -1) {
		switch (opt) {
		case 'n': starts = atoi(optarg); break;
		case 'r': rounds = atoi(optarg); break;
		case 'p': program = optarg; break;
		default: goto usage;
		}
	}
	int nlibs = argc - optind;
	if (nlibs < 1 || nlibs > MAX_LIBS || starts < 1 || rounds < 1)
		goto usage;

	char **envs[MAX_LIBS];
	double *times[MAX_LIBS], *cpus[MAX_LIBS];
	for (int l = 0; l < nlibs; l++) {
		const char *lib = argv[optind + l];
		if (strcmp(lib, "none") != 0 && access(lib, R_OK) != 0) {
			fprintf(stderr, "nk_startup: %s: %s\n", lib, strerror(errno));
			return 1;
		}
		envs[l] = environment_for(lib);
		times[l] = calloc((size_t)rounds, sizeof(double));
		cpus[l] = calloc((size_t)rounds, sizeof(double));
		if (envs[l] == NULL || times[l] == NULL || cpus[l] == NULL)
			return 1;
	}
	for (int r = 0; r < rounds; r++)
		for (int l = 0; l < nlibs; l++)
			if ((times[l][r] = time_starts(program, envs[l], starts, &cpus[l][r])) < 0)
				return 1;

	printf("%d rounds of %d starts of %s, interleaved; us per start\n", rounds, starts, program);
	printf("%-50s %10s %10s %10s %10s\n", "preload", "wall med", "wall min", "cpu med", "cpu min");
	for (int l = 0; l < nlibs; l++) {
		qsort(times[l], (size_t)rounds, sizeof(double), compare_double);
		qsort(cpus[l], (size_t)rounds, sizeof(double), compare_double);
		printf("%-50s %10.1f %10.1f %10.1f %10.1f\n", argv[optind + l], times[l][rounds / 2],
		    times[l][0], cpus[l][rounds / 2], cpus[l][0]);
	}
	return 0;
usage:
	fprintf(stderr, "usage: %s [-n STARTS] [-r ROUNDS] [-p PROGRAM] LIB|none...\n", argv[0]);
	return 2;
}
