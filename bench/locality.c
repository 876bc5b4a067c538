/*
 * locality: how well a malloc places the small blocks of a linked structure
 * for the cache (issue 10, "locality like jemalloc's"), for
 * bench/small_blocks.sh.
 *
 * Deliberately NOT linked with numakeg: it runs under any malloc, chosen by
 * LD_PRELOAD.
 *
 * Workload, as an interpreter builds its objects: a list of NODES nodes and
 * a binary tree of NODES nodes (built depth first, pre-order), each node
 * 32-128 B (uniform, fixed seed), allocated one after the other.  Around
 * every node the builder makes 0-3 temporary allocations of 16-256 B
 * (strings, frames): most are freed at once, one in four goes into a ring
 * of 256 that is freed in turn later, so that the heap holds holes of many
 * sizes while the structure grows.  The ring is freed after the build.
 * Then the list is walked from its head and the tree in pre-order (the
 * order the nodes were allocated in), PASSES times each; every visit reads
 * the node's key and its last byte.  A malloc that hands out consecutive
 * allocations at adjacent addresses makes the walk sequential in memory,
 * which the hardware prefetcher follows; one that scatters them makes every
 * visit a cache miss once the structure outgrows the caches (NODES
 * defaults to 2^18 per structure: about 40 MiB in all).
 *
 * Output ("name value" lines, for the runner's score functions; a '#' line
 * first), nanoseconds of the thread's CPU time:
 *   build_ns_per_node  time to build both structures, per node
 *   list_ns_per_node   one walk of the list, per node (median pass)
 *   tree_ns_per_node   one walk of the tree, per node (median pass)
 *   walk_ns_per_node   both walks, per node visited (median passes)
 * The keys are checked on every walk: exit status 1 on a wrong sum or a
 * failed allocation (said on stderr), 2 on bad arguments.
 *
 *   locality [NODES [PASSES]]      (defaults 262144, 15)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"

#define MIN_NODE 32u
#define MAX_NODE 128u
#define RING 256u
#define MAX_PASSES 1000u

struct node {
	struct node *next;  /* list: the next node; tree: the left child */
	struct node *right; /* tree only */
	uint64_t key;
	uint32_t size;      /* the allocation's size; its last byte holds key's low byte */
	uint32_t pad;
	/* payload up to size */
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng_next(void)
{
	return bench_rng(&rng_state);
}

static void *ring[RING];
static unsigned ring_pos;
static uint64_t next_key = 1;

static void *xmalloc(size_t size)
{
	void *p = malloc(size);

	if (!p) {
		fprintf(stderr, "locality: malloc(%zu) failed\n", size);
		exit(1);
	}
	return p;
}

/* The interpreter's temporaries around one object: 0-3 blocks of 16-256 B,
 * written; three in four freed at once, the others kept in the ring. */
static void temporaries(void)
{
	unsigned n = (unsigned)(rng_next() % 4), i;

	for (i = 0; i < n; i++) {
		size_t size = 16 + rng_next() % 241;
		char *t = xmalloc(size);

		memset(t, 0x5a, size);
		if (rng_next() % 4 == 0) {
			free(ring[ring_pos]);
			ring[ring_pos] = t;
			ring_pos = (ring_pos + 1) % RING;
		} else {
			free(t);
		}
	}
}

static struct node *new_node(void)
{
	uint32_t size = MIN_NODE + (uint32_t)(rng_next() % (MAX_NODE - MIN_NODE + 1));
	struct node *n;

	temporaries();
	n = xmalloc(size);
	n->next = n->right = NULL;
	n->key = next_key++;
	n->size = size;
	n->pad = 0;
	((unsigned char *)n)[size - 1] = (unsigned char)n->key;
	return n;
}

/* A tree of count nodes, pre-order: the root, then the left subtree, then
 * the right one (so that allocation order is the walk's order). */
static struct node *build_tree(size_t count)
{
	struct node *root;
	size_t left;

	if (count == 0)
		return NULL;
	root = new_node();
	left = (count - 1) / 2;
	root->next = build_tree(left);
	root->right = build_tree(count - 1 - left);
	return root;
}

/* A visit reads the key and the node's last byte; a wrong byte counts. */
static uint64_t bad_bytes;

static uint64_t visit(const struct node *n)
{
	if (((const unsigned char *)n)[n->size - 1] != (unsigned char)n->key)
		bad_bytes++;
	return n->key;
}

static uint64_t walk_list(const struct node *n)
{
	uint64_t sum = 0;

	for (; n; n = n->next)
		sum += visit(n);
	return sum;
}

static uint64_t walk_tree(const struct node *n)
{
	uint64_t sum = 0;

	/* Recursion on the right child only: the left spine is a loop. */
	for (; n; n = n->next)
		sum += visit(n) + walk_tree(n->right);
	return sum;
}

static void free_tree(struct node *n)
{
	while (n) {
		struct node *left = n->next;

		free_tree(n->right);
		free(n);
		n = left;
	}
}

int main(int argc, char **argv)
{
	unsigned long nodes = 1ul << 18, passes = 15, i;
	static double list_ns[MAX_PASSES], tree_ns[MAX_PASSES], both_ns[MAX_PASSES];
	struct node *head = NULL, *tail = NULL, *tree;
	uint64_t want_list, want_tree;
	double t0, build;
	int rc = 0;

	if (argc > 3 || (argc > 1 && bench_parse_count(argv[1], 1ul << 26, &nodes) != 0) ||
	    (argc > 2 && bench_parse_count(argv[2], MAX_PASSES, &passes) != 0)) {
		fprintf(stderr, "usage: locality [NODES [PASSES]]  (1-%lu, default 262144; 1-%u, default 15)\n",
		        1ul << 26, MAX_PASSES);
		return 2;
	}
	t0 = bench_thread_ns();
	for (i = 0; i < nodes; i++) {
		struct node *n = new_node();

		if (tail)
			tail->next = n;
		else
			head = n;
		tail = n;
	}
	tree = build_tree(nodes);
	build = bench_thread_ns() - t0;
	for (i = 0; i < RING; i++) {
		free(ring[i]);
		ring[i] = NULL;
	}
	/* Keys: the list's are 1..nodes in order, the tree's the next nodes. */
	want_list = (uint64_t)nodes * (nodes + 1) / 2;
	want_tree = (uint64_t)nodes * (2 * (uint64_t)nodes + 1) - want_list;
	walk_list(head); /* one untimed pass of each: the first touches after the build */
	walk_tree(tree);
	for (i = 0; i < passes; i++) {
		double a = bench_thread_ns(), b, c;
		uint64_t sl, st;

		sl = walk_list(head);
		b = bench_thread_ns();
		st = walk_tree(tree);
		c = bench_thread_ns();
		if (sl != want_list || st != want_tree) {
			fprintf(stderr, "locality: pass %lu: key sums %llu and %llu, expected %llu and %llu\n", i,
			        (unsigned long long)sl, (unsigned long long)st, (unsigned long long)want_list,
			        (unsigned long long)want_tree);
			rc = 1;
		}
		list_ns[i] = (b - a) / (double)nodes;
		tree_ns[i] = (c - b) / (double)nodes;
		both_ns[i] = (c - a) / (2.0 * (double)nodes);
	}
	if (bad_bytes) {
		fprintf(stderr, "locality: %llu nodes with a wrong last byte\n", (unsigned long long)bad_bytes);
		rc = 1;
	}
	while (head) {
		struct node *next = head->next;

		free(head);
		head = next;
	}
	free_tree(tree);
	printf("# locality: nodes %lu per structure, passes %lu\n", nodes, passes);
	printf("build_ns_per_node %.2f\n", build / (2.0 * (double)nodes));
	printf("list_ns_per_node %.3f\n", bench_median(list_ns, (unsigned)passes));
	printf("tree_ns_per_node %.3f\n", bench_median(tree_ns, (unsigned)passes));
	printf("walk_ns_per_node %.3f\n", bench_median(both_ns, (unsigned)passes));
	return rc;
}
