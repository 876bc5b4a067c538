/*
 * nk_ab: allocators side by side in ONE process, in alternating slices, so
 * that a machine whose speed drifts by 10-60 % from one second to the next
 * (the 2-cpu guest, bench/RESULTS.md) slows all of them alike.  Separate
 * runs of a program under each allocator cannot decide a 5 % difference
 * there; slices of a few milliseconds, the order rotated every round, and
 * the median slice of each can.
 *
 *   nk_ab [-r ROUNDS] [-s SLICE_MS] [-k KERNEL,...] [-p PROCS] NAME=LIB ...
 *
 * Within one process the slices agree to a few percent, but from one process
 * to the next the ratios move by up to 15-25 %: each places the libraries,
 * their code and their heaps at other addresses (with ASLR off, setarch -R,
 * three processes agreed within 3 %).  -p PROCS runs PROCS processes one
 * after the other and prints, per kernel, the median over them of each
 * allocator's median and of each ratio, with the ratios' range.
 *
 * LIB is a malloc library (libnumakeg.so, libjemalloc.so.2, ...), opened
 * with dlopen(RTLD_LOCAL | RTLD_DEEPBIND): its malloc and free serve only
 * the kernels, and the process's own malloc stays glibc's.  NAME=glibc
 * uses the C library's.  Two builds of one allocator (numakeg before and
 * after a change) can run side by side: every copy has its own globals.
 * Ratios are against the first allocator named: the median over rounds of
 * the ratio of the two slices of one round.
 *
 * Kernels (single-threaded):
 *   simple   mimalloc-bench's glibc-simple: batches of 25, 100, 400 and
 *            1600 blocks of 16 bytes, each block written, the first half
 *            freed in order (FIFO), the rest in reverse (LIFO)
 *   random   glibc-thread's loop on one thread: 1024 live blocks, a random
 *            one replaced by a block of 4..32768 bytes (inverse-square
 *            sizes), every byte written
 *   larson   larson's loop on one thread: 5000 live blocks of 8-1000 bytes
 *            (uniform), a random one freed and replaced, only its first
 *            bytes written: the blocks freed are cold, as in servers
 *   pair     malloc(64) and free at once
 *   batchN   N blocks of 64 bytes allocated, then freed in order
 *            (N = 10, 100, 1000, 10000)
 *   mixN     bench/batch.c's FIFO rounds: N blocks of 16-64 bytes (uniform
 *            in bytes: four classes), the first and last byte of each
 *            written, then each block's first byte read and the block
 *            freed, in order
 *   walk     bench/locality's list, built once per allocator (2^17 nodes of
 *            32-128 bytes, each among 0-3 temporary blocks of 16-256 bytes,
 *            a quarter of them kept in a ring of 256 for a while); a slice
 *            walks it in allocation order: ns per node visited.  Not a
 *            malloc/free cost but where the blocks were put.
 *
 * The figure is nanoseconds per malloc/free pair (walk: per node), the
 * kernel's own work (writing the blocks) included, as in the programs it
 * imitates.  Libraries with a large initial-exec TLS (jemalloc's) need
 * static TLS room: nk_ab re-executes itself with GLIBC_TUNABLES=
 * glibc.rtld.optional_static_tls set when it is not.  A failed allocation
 * stops the run, naming the allocator.  Not linked with numakeg.
 */
#include <dlfcn.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_ALLOCS  8
#define MAX_KERNELS 12
#define MAX_ROUNDS  1000

struct alloc {
	const char *name;
	void *(*malloc)(size_t);
	void (*free)(void *);
	void **work;          /* the random kernel's live blocks */
	unsigned rnd_pos;
	void **lwork;         /* the larson kernel's live blocks */
	uint64_t lpos;
	unsigned mpos;        /* the mix kernels' place in mix_size */
	struct node *list;    /* the walk kernel's list */
};

struct node {
	struct node *next;
	uint64_t key;
};

struct kernel {
	const char *name;
	/* Runs `units` units on a; returns the malloc/free pairs done. */
	uint64_t (*run)(struct alloc *a, uint64_t units, long arg);
	long arg;
	uint64_t units;       /* per slice, calibrated */
	double ns[MAX_ALLOCS][MAX_ROUNDS];
};

static volatile char sink;

/* An allocation the kernel is about to write to must have succeeded. */
static void *
checked(const struct alloc *a, void *p, size_t n)
{
	if (p == NULL) {
		fprintf(stderr, "nk_ab: %s: malloc(%zu) returned NULL\n", a->name, n);
		exit(1);
	}
	return p;
}

static uint64_t
k_simple(struct alloc *a, uint64_t units, long arg)
{
	static const int sizes[4] = { 25, 100, 400, 1600 };
	char *arr[1600];
	uint64_t pairs = 0;
	(void)arg;
	for (uint64_t u = 0; u < units; u++) {
		int n = sizes[u % 4];
		for (int i = 0; i < n; i++) {
			char *p = checked(a, a->malloc(16), 16);
			for (int g = 0; g < 16; g++)
				p[g] = (char)g;
			arr[i] = p;
		}
		for (int i = 0; i < n / 2; i++)
			a->free(arr[i]);
		for (int i = n - 1; i >= n / 2; i--)
			a->free(arr[i]);
		pairs += (uint64_t)n;
	}
	return pairs;
}

/* The kernels' one random generator (Knuth's MMIX LCG): its state's next value. */
static uint64_t
lcg_next(uint64_t *x)
{
	*x = *x * 6364136223846793005ull + 1442695040888963407ull;
	return *x;
}

/* A kernel's set of n live blocks, made on its first slice (all NULL). */
static void **
live_set(void ***set, size_t n)
{
	if (*set == NULL && (*set = calloc(n, sizeof(void *))) == NULL) {
		perror("nk_ab");
		exit(1);
	}
	return *set;
}

#define RND_SET   1024
#define MIX_SIZES 4096
static unsigned char mix_size[MIX_SIZES];   /* the mix kernels': 16-64 bytes */

#define RND_SIZES 8000
static unsigned rnd_size[RND_SIZES];
static unsigned rnd_slot[RND_SET * 4];

static void
random_init(void)
{
	uint64_t x = 88;
	const double lo = pow(4.0, -1.0), hi = pow(32768.0, -1.0);
	for (int i = 0; i < RND_SIZES; i++) {
		lcg_next(&x);
		double r = (double)(x >> 11) / (double)(1ull << 53);
		rnd_size[i] = (unsigned)pow((hi - lo) * r + lo, -1.0);  /* inverse square */
	}
	for (int i = 0; i < RND_SET * 4; i++)
		rnd_slot[i] = (unsigned)(lcg_next(&x) >> 33) % RND_SET;
	for (int i = 0; i < MIX_SIZES; i++)
		mix_size[i] = (unsigned char)(16 + (lcg_next(&x) >> 33) % 49);
}

static uint64_t
k_random(struct alloc *a, uint64_t units, long arg)
{
	(void)arg;
	void **work = live_set(&a->work, RND_SET);
	unsigned pos = a->rnd_pos;
	for (uint64_t u = 0; u < units; u++, pos++) {
		unsigned slot = rnd_slot[pos % (RND_SET * 4)], n = rnd_size[pos % RND_SIZES];
		a->free(work[slot]);
		char *p = checked(a, a->malloc(n), n);
		for (unsigned i = 0; i < n; i++)
			p[i] = (char)i;
		work[slot] = p;
	}
	a->rnd_pos = pos;
	return units;
}

#define LARSON_SET 5000

static uint64_t
k_larson(struct alloc *a, uint64_t units, long arg)
{
	(void)arg;
	void **work = live_set(&a->lwork, LARSON_SET);
	uint64_t x = a->lpos;
	for (uint64_t u = 0; u < units; u++) {
		lcg_next(&x);
		unsigned slot = (unsigned)(x >> 33) % LARSON_SET;
		size_t n = 8 + (size_t)((x >> 13) % 993);
		a->free(work[slot]);
		char *p = checked(a, a->malloc(n), n);
		memset(p, (int)u, 8);
		work[slot] = p;
	}
	a->lpos = x;
	return units;
}

static uint64_t
k_pair(struct alloc *a, uint64_t units, long arg)
{
	(void)arg;
	for (uint64_t u = 0; u < units; u++) {
		char *p = checked(a, a->malloc(64), 64);
		sink = *(volatile char *)p;
		a->free(p);
	}
	return units;
}

static uint64_t
k_batch(struct alloc *a, uint64_t units, long n)
{
	void *arr[10000];
	for (uint64_t u = 0; u < units; u++) {
		for (long i = 0; i < n; i++)
			arr[i] = a->malloc(64);
		for (long i = 0; i < n; i++)
			a->free(arr[i]);
	}
	return units * (uint64_t)n;
}

static uint64_t
k_mix(struct alloc *a, uint64_t units, long n)
{
	unsigned char *arr[10000];
	unsigned pos = a->mpos;
	for (uint64_t u = 0; u < units; u++) {
		for (long i = 0; i < n; i++) {
			unsigned size = mix_size[pos++ % MIX_SIZES];
			unsigned char *p = checked(a, a->malloc(size), size);
			p[0] = (unsigned char)i;
			p[size - 1] = (unsigned char)i;
			arr[i] = p;
		}
		for (long i = 0; i < n; i++) {
			sink = *(volatile unsigned char *)arr[i];
			a->free(arr[i]);
		}
	}
	a->mpos = pos;
	return units * (uint64_t)n;
}

#define WALK_NODES (1u << 17)
#define WALK_RING  256

static uint64_t
walk_rand(uint64_t *x)
{
	return lcg_next(x) >> 33;
}

static void
walk_build(struct alloc *a)
{
	void *ring[WALK_RING] = { 0 };
	unsigned ring_pos = 0;
	uint64_t x = 42;
	struct node **tail = &a->list;
	for (unsigned i = 0; i < WALK_NODES; i++) {
		for (uint64_t t = walk_rand(&x) % 4; t > 0; t--) {
			size_t tn = 16 + walk_rand(&x) % 241;
			char *tmp = checked(a, a->malloc(tn), tn);
			tmp[0] = 1;
			if (walk_rand(&x) % 4 == 0) {
				a->free(ring[ring_pos]);
				ring[ring_pos] = tmp;
				ring_pos = (ring_pos + 1) % WALK_RING;
			} else {
				a->free(tmp);
			}
		}
		size_t nn = 32 + walk_rand(&x) % 97;
		struct node *n = checked(a, a->malloc(nn), nn);
		n->next = NULL;
		n->key = i;
		*tail = n;
		tail = &n->next;
	}
	for (unsigned i = 0; i < WALK_RING; i++)
		a->free(ring[i]);
}

static uint64_t
k_walk(struct alloc *a, uint64_t units, long arg)
{
	(void)arg;
	if (a->list == NULL)
		walk_build(a);
	uint64_t sum = 0;
	for (uint64_t u = 0; u < units; u++)
		for (const struct node *n = a->list; n != NULL; n = n->next)
			sum += n->key;
	if (sum != units * ((uint64_t)WALK_NODES * (WALK_NODES - 1) / 2)) {
		fprintf(stderr, "nk_ab: the walk's keys do not add up\n");
		exit(1);
	}
	return units * WALK_NODES;
}

static double
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int
cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return (a > b) - (a < b);
}

/* A table's header: the allocators' names, then each one's ratio to the first. */
static void
print_header(const struct alloc *al, int na, int name_w, int ratio_w)
{
	printf("%-12s", "kernel");
	for (int a = 0; a < na; a++)
		printf(" %*s", name_w, al[a].name);
	for (int a = 1; a < na; a++)
		printf(" %*.*s/%-6.6s", ratio_w, ratio_w, al[a].name, al[0].name);
	printf("\n");
}

static double
median(double *v, int n)
{
	double tmp[MAX_ROUNDS];
	memcpy(tmp, v, (size_t)n * sizeof(*v));
	qsort(tmp, (size_t)n, sizeof(*tmp), cmp_double);
	return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

static int
add_kernel(struct kernel *k, int nk, const char *name)
{
	if (nk >= MAX_KERNELS) {
		fprintf(stderr, "nk_ab: at most %d kernels\n", MAX_KERNELS);
		exit(2);
	}
	k[nk].name = name;
	k[nk].arg = 0;
	if (strcmp(name, "simple") == 0) {
		k[nk].run = k_simple;
	} else if (strcmp(name, "random") == 0) {
		k[nk].run = k_random;
	} else if (strcmp(name, "larson") == 0) {
		k[nk].run = k_larson;
	} else if (strcmp(name, "walk") == 0) {
		k[nk].run = k_walk;
	} else if (strcmp(name, "pair") == 0) {
		k[nk].run = k_pair;
	} else if (strncmp(name, "batch", 5) == 0 && (k[nk].arg = atol(name + 5)) > 0 &&
	    k[nk].arg <= 10000) {
		k[nk].run = k_batch;
	} else if (strncmp(name, "mix", 3) == 0 && (k[nk].arg = atol(name + 3)) > 0 &&
	    k[nk].arg <= 10000) {
		k[nk].run = k_mix;
	} else {
		fprintf(stderr, "nk_ab: unknown kernel '%s' (simple, random, larson, pair, batchN or mixN "
		    "with N <= 10000, walk)\n",
		    name);
		exit(2);
	}
	return nk + 1;
}

static void
usage(void)
{
	fprintf(stderr, "usage: nk_ab [-r ROUNDS] [-s SLICE_MS] [-k KERNEL,...] [-p PROCS] "
	    "NAME=LIB|glibc ...\n");
	exit(2);
}

/*
 * -p: the same run in procs processes (NK_AB_RAW=1: one line per kernel,
 * its allocators' medians then their ratios), and their medians.
 */
static int
run_processes(char **argv0, int procs, int na, int nk, const struct kernel *kern,
    const struct alloc *al)
{
	static double v[MAX_ROUNDS][MAX_KERNELS][2 * MAX_ALLOCS];
	int ncol = 2 * na - 1;
	setenv("NK_AB_RAW", "1", 1);
	for (int p = 0; p < procs; p++) {
		int fd[2];
		if (pipe(fd) != 0) {
			perror("nk_ab: pipe");
			return 1;
		}
		pid_t pid = fork();
		if (pid < 0) {
			perror("nk_ab: fork");
			return 1;
		}
		if (pid == 0) {
			dup2(fd[1], STDOUT_FILENO);
			close(fd[0]);
			close(fd[1]);
			execv("/proc/self/exe", argv0);
			_exit(127);
		}
		close(fd[1]);
		FILE *in = fdopen(fd[0], "r");
		for (int k = 0; k < nk; k++) {
			char name[64];
			if (fscanf(in, "%63s", name) != 1 || strcmp(name, kern[k].name) != 0) {
				fprintf(stderr, "nk_ab: process %d gave no figures for %s\n", p + 1, kern[k].name);
				return 1;
			}
			for (int c = 0; c < ncol; c++)
				if (fscanf(in, "%lf", &v[p][k][c]) != 1) {
					fprintf(stderr, "nk_ab: process %d: a figure of %s is missing\n", p + 1,
					    kern[k].name);
					return 1;
				}
		}
		fclose(in);
		int status;
		if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "nk_ab: process %d failed\n", p + 1);
			return 1;
		}
	}
	printf("nk_ab: %d processes; each allocator's median ns per pair, and the ratios' median "
	    "[range] over the processes\n", procs);
	print_header(al, na, 12, 13);
	for (int k = 0; k < nk; k++) {
		printf("%-12s", kern[k].name);
		for (int c = 0; c < ncol; c++) {
			double col[MAX_ROUNDS], lo = v[0][k][c], hi = v[0][k][c];
			for (int p = 0; p < procs; p++) {
				col[p] = v[p][k][c];
				lo = fmin(lo, col[p]);
				hi = fmax(hi, col[p]);
			}
			if (c < na) {
				printf(" %12.2f", median(col, procs));
			} else {
				char cell[48];
				snprintf(cell, sizeof(cell), "%.3f [%.2f-%.2f]", median(col, procs), lo, hi);
				printf(" %20s", cell);
			}
		}
		printf("\n");
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static struct kernel kern[MAX_KERNELS];
	struct alloc al[MAX_ALLOCS];
	int rounds = 21, nk = 0, na = 0, procs = 1, opt;
	bool raw = getenv("NK_AB_RAW") != NULL;
	char *argv0[64];  /* getopt permutes argv: the children get it as it came */
	if (argc >= 64)
		usage();
	memcpy(argv0, argv, (size_t)(argc + 1) * sizeof(char *));
	double slice_ms = 20;
	const char *klist = "simple,random,larson,pair,batch10,batch100,batch1000,batch10000,mix1000,walk";

	/* jemalloc's TLS does not fit glibc's default room for dlopen'd libraries. */
	if (getenv("NK_AB_EXEC") == NULL) {
		setenv("NK_AB_EXEC", "1", 1);
		setenv("GLIBC_TUNABLES", "glibc.rtld.optional_static_tls=65536", 1);
		execv("/proc/self/exe", argv);
		perror("nk_ab: re-exec");  /* go on: libraries with small TLS still load */
	}
	while ((opt = getopt(argc, argv, "r:s:k:p:")) != -1) {
		switch (opt) {
		case 'p': procs = atoi(optarg); break;
		case 'r': rounds = atoi(optarg); break;
		case 's': slice_ms = atof(optarg); break;
		case 'k': klist = optarg; break;
		default: usage();
		}
	}
	if (rounds < 1 || rounds > MAX_ROUNDS || slice_ms <= 0 || procs < 1 ||
	    procs > MAX_ROUNDS || optind >= argc)
		usage();
	char *ks = strdup(klist);
	for (char *save = NULL, *t = strtok_r(ks, ",", &save); t; t = strtok_r(NULL, ",", &save))
		nk = add_kernel(kern, nk, t);
	for (int i = optind; i < argc; i++) {
		char *arg = strdup(argv[i]);  /* argv stays as it came: -p passes it on */
		char *eq = arg != NULL ? strchr(arg, '=') : NULL;
		if (eq == NULL || na >= MAX_ALLOCS)
			usage();
		*eq = '\0';
		struct alloc *a = &al[na++];
		memset(a, 0, sizeof(*a));
		a->name = arg;
		if (strcmp(eq + 1, "glibc") == 0) {
			a->malloc = malloc;
			a->free = free;
			continue;
		}
		void *h = dlopen(eq + 1, RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
		if (h == NULL) {
			fprintf(stderr, "nk_ab: %s: %s\n", eq + 1, dlerror());
			return 1;
		}
		a->malloc = (void *(*)(size_t))dlsym(h, "malloc");
		a->free = (void (*)(void *))dlsym(h, "free");
		if (a->malloc == NULL || a->free == NULL) {
			fprintf(stderr, "nk_ab: %s has no malloc or free\n", eq + 1);
			return 1;
		}
	}
	if (procs > 1 && !raw)
		return run_processes(argv0, procs, na, nk, kern, al);
	random_init();

	/* Calibrate each kernel on the first allocator (after a warm-up of all). */
	for (int k = 0; k < nk; k++) {
		for (int a = 0; a < na; a++)
			kern[k].run(&al[a], 64, kern[k].arg);
		uint64_t units = 16;
		for (;;) {
			double t0 = now_ns();
			kern[k].run(&al[0], units, kern[k].arg);
			double ms = (now_ns() - t0) / 1e6;
			if (ms >= slice_ms / 4 || units > (1ull << 40)) {
				kern[k].units = (uint64_t)fmax(1.0, (double)units * slice_ms / fmax(ms, 1e-3));
				break;
			}
			units *= 4;
		}
		for (int a = 0; a < na; a++)  /* settle every heap at the slice's size */
			kern[k].run(&al[a], kern[k].units, kern[k].arg);
	}

	for (int r = 0; r < rounds; r++)
		for (int k = 0; k < nk; k++)
			for (int j = 0; j < na; j++) {
				int a = (j + r) % na;  /* rotate who goes first */
				double t0 = now_ns();
				uint64_t pairs = kern[k].run(&al[a], kern[k].units, kern[k].arg);
				kern[k].ns[a][r] = (now_ns() - t0) / (double)pairs;
			}

	if (raw) {
		for (int k = 0; k < nk; k++) {
			printf("%s", kern[k].name);
			for (int a = 0; a < na; a++)
				printf(" %.6g", median(kern[k].ns[a], rounds));
			for (int a = 1; a < na; a++) {
				double ratio[MAX_ROUNDS];
				for (int r = 0; r < rounds; r++)
					ratio[r] = kern[k].ns[a][r] / kern[k].ns[0][r];
				printf(" %.6g", median(ratio, rounds));
			}
			printf("\n");
		}
		return 0;
	}
	printf("nk_ab: %d rounds of %.0f ms slices, allocators alternating; ns per malloc/free pair, median (min)\n",
	    rounds, slice_ms);
	print_header(al, na, 18, 9);
	for (int k = 0; k < nk; k++) {
		double med[MAX_ALLOCS];
		printf("%-12s", kern[k].name);
		for (int a = 0; a < na; a++) {
			med[a] = median(kern[k].ns[a], rounds);
			double mn = kern[k].ns[a][0];
			for (int r = 1; r < rounds; r++)
				mn = fmin(mn, kern[k].ns[a][r]);
			char cell[40];
			snprintf(cell, sizeof(cell), "%.2f (%.2f)", med[a], mn);
			printf(" %18s", cell);
		}
		for (int a = 1; a < na; a++) {
			double ratio[MAX_ROUNDS];  /* paired: the same round's slices */
			for (int r = 0; r < rounds; r++)
				ratio[r] = kern[k].ns[a][r] / kern[k].ns[0][r];
			printf(" %16.3f", median(ratio, rounds));
		}
		printf("\n");
	}
	return 0;
}
