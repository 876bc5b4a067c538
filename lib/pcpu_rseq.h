/*
 * The per-CPU caches' restartable sequences (rseq(2)), in x86-64 inline
 * assembly: the only code that touches a CPU's cache headers while other
 * threads may run on that CPU.  Owns nothing but the instruction sequences;
 * pcpu.h owns the memory they work on.  Includes nk_base.h only.
 *
 * A CPU's region starts at nk_pcpu_base + (cpu << NK_PCPU_SHIFT).  At byte
 * 0 it holds the domain its items belong to (u32).  Zone id i's block is
 * at NK_PCPU_BLOCKS + i * NK_PCPU_BLOCK_STRIDE: its 64-bit state word,
 * then its items, items[k] at 8 + 8k.  The stride is four pages and a
 * cache line, so that the ids' state words fall in 64 different L1 sets:
 * at a page stride every one of them sat in set 0, and a program using more
 * classes than the L1 has ways (12) missed on the state words.  Four pages
 * hold 2040 items: a batch of a thousand or two allocations followed by
 * their frees stays in the CPU's array (glibc-simple frees 1600 at a time;
 * at 504 items every such batch went through the depot).  Only the pages
 * an array uses are ever touched.  One register (the CPU's region plus
 * the block's offset) addresses both, with constant displacements: no load
 * on the sequences' chain but the state word's and the item's.  cpu_id is
 * sign-extended: the two regions below the base (cpu -1, rseq not
 * registered; -2, its registration failed) are never committed, read as
 * zeros, and every sequence misses there, so no sequence tests cpu_id.
 * The state word:
 *
 *   bits  0..15  count: items in the array, items[0..count-1]
 *   bits 16..31  cap: the array's capacity; 0 = stopped (every sequence misses)
 *   bits 32..63  pushes: single-item pushes (frees) so far, mod 2^32
 *
 * Each sequence sets the thread's rseq_cs to its descriptor, reads cpu_id,
 * works out the CPU's region, reads the state word, and ends with ONE store
 * of the new state word (the commit).  The kernel moves a thread that is
 * preempted, migrated or signalled between the descriptor's start and the
 * commit to the abort handler, which starts over (after setting rseq_cs
 * again: the kernel clears it on an abort).  Nothing before the commit is
 * visible to anyone: an item written above count is not in the array until
 * the commit says so, so an aborted push changes nothing.
 *
 * The abort handler is preceded by the 4-byte signature glibc registered
 * rseq with (RSEQ_SIG from <sys/rseq.h>, 0x53053053 on x86), the last four
 * bytes of a "ud1 sig(%rip), %edi", so that a stray jump there traps.
 * Descriptors go to the __rseq_cs section (aligned 32, as struct rseq_cs
 * must be) with a pointer in __rseq_cs_ptr_array, where debuggers look.
 *
 * Another thread changes a CPU's state word only while it is stopped, or
 * with a compare-and-swap followed by membarrier(MEMBARRIER_CMD_PRIVATE_
 * EXPEDITED_RSEQ) on that CPU (pcpu.c, the drain): after the barrier no
 * sequence that read the old word can still commit.
 */
#ifndef NK_PCPU_RSEQ_H
#define NK_PCPU_RSEQ_H

#include "nk_base.h"

#define NK_PCPU_SHIFT       21        /* a CPU's region: 2 MiB of address space */
#define NK_PCPU_GUARDS      2         /* regions below the base: cpu_id -1 and -2 */
#define NK_STR2(x) #x
#define NK_STR(x) NK_STR2(x)
#define NK_PCPU_BLOCKS      8192      /* the blocks, after the region's header */
#define NK_PCPU_BLOCK_STRIDE 16448    /* a block: the state word and 2055 item slots */
#define NK_PCPU_SLOTS       2040      /* items an id's array may hold (<= 2055) */
#define NK_PCPU_COUNT_MASK  0xffffull
#define NK_PCPU_CAP_SHIFT   16
#define NK_PCPU_PUSH_ONE    0x100000001ull  /* count + 1, pushes + 1 */

/* A zone id's block, from NK_PCPU_BLOCKS. */
static inline uintptr_t
pcpu_boff(int id)
{
	uintptr_t off = (uintptr_t)(unsigned)id;
#if defined(__x86_64__)
	/* One imul (off the sequences' chain of loads), where the compiler
	 * would spend three instructions on shifts and an add. */
	asm("imulq $" NK_STR(NK_PCPU_BLOCK_STRIDE) ", %1, %0" : "=r"(off) : "r"(off));
	return off;
#else
	return off * NK_PCPU_BLOCK_STRIDE;
#endif
}

extern uintptr_t nk_pcpu_base;   /* the regions' address space; 0: no per-CPU caches */
extern long nk_rseq_off;         /* __rseq_offset, copied: one PC-relative load */

#if defined(__x86_64__)
#define NK_PCPU_ASM 1

#define PCPU_ST    NK_STR(NK_PCPU_BLOCKS)           /* the state word's displacement */
#define PCPU_ITEM0 "8200"                           /* items[0]'s */
_Static_assert(NK_PCPU_BLOCKS + 8 == 8200, "PCPU_ITEM0");
#define PCPU_ITEMM NK_STR(NK_PCPU_BLOCKS)           /* items[-1]'s: the top, indexed by count */

/*
 * The descriptor, the abort handler (in __rseq_failure, out of the hot
 * code) and the setting of rseq_cs; .Lrst%= is where an abort comes back.
 * Operands every sequence has: [rs] the rseq offset, [r] a scratch register.
 */
#define PCPU_RSEQ_PROLOGUE                                                  \
	".pushsection __rseq_cs, \"aw\"\n\t"                                \
	".balign 32\n\t"                                                    \
	".Lcs%=:\n\t"                                                       \
	".long 0, 0\n\t"                                                    \
	".quad .Lbeg%=, .Lend%= - .Lbeg%=, .Labt%=\n\t"                     \
	".popsection\n\t"                                                   \
	".pushsection __rseq_cs_ptr_array, \"aw\"\n\t"                      \
	".quad .Lcs%=\n\t"                                                  \
	".popsection\n\t"                                                   \
	".pushsection __rseq_failure, \"ax\"\n\t"                           \
	".byte 0x0f, 0xb9, 0x3d\n\t"                                        \
	".long " NK_STR(RSEQ_SIG) "\n\t"                                    \
	".Labt%=:\n\t"                                                      \
	"jmp .Lrst%=\n\t"                                                   \
	".popsection\n\t"                                                   \
	".Lrst%=:\n\t"                                                      \
	"leaq .Lcs%=(%%rip), %[r]\n\t"                                      \
	"movq %[r], %%fs:8(%[rs])\n\t"                                      \
	".Lbeg%=:\n\t"

/* [r] = this CPU's region (a guard region when rseq is not registered). */
#define PCPU_RSEQ_REGION                                                    \
	"movslq %%fs:4(%[rs]), %[r]\n\t"                                    \
	"shlq $" NK_STR(NK_PCPU_SHIFT) ", %[r]\n\t"                         \
	"addq %[base], %[r]\n\t"

/* The same for a sequence bound to one CPU: elsewhere it fails. */
#define PCPU_RSEQ_REGION_OF(cpu, miss)                                      \
	"movslq %%fs:4(%[rs]), %[r]\n\t"                                    \
	"cmpl %k[r], %k[" cpu "]\n\t"                                       \
	"jne %l[" miss "]\n\t"                                              \
	"shlq $" NK_STR(NK_PCPU_SHIFT) ", %[r]\n\t"                         \
	"addq %[base], %[r]\n\t"

/* The top item of the calling CPU's array of id; NULL if it is empty. */
static inline __attribute__((always_inline)) void *
pcpu_pop(int id)
{
	uintptr_t r, st, n;
	void *item;
	asm volatile goto(PCPU_RSEQ_PROLOGUE
	    PCPU_RSEQ_REGION
	    "addq %[b], %[r]\n\t"
	    "movq " PCPU_ST "(%[r]), %[st]\n\t"
	    "movzwl %w[st], %k[n]\n\t"
	    "testl %k[n], %k[n]\n\t"
	    "jz %l[miss]\n\t"
	    "movq " PCPU_ITEMM "(%[r],%[n],8), %[it]\n\t"
	    "decq %[st]\n\t"
	    "movq %[st], " PCPU_ST "(%[r])\n\t"      /* the commit */
	    ".Lend%=:\n\t"
	    : [r] "=&r"(r), [st] "=&r"(st), [n] "=&r"(n), [it] "=&r"(item)
	    : [rs] "r"(nk_rseq_off), [base] "m"(nk_pcpu_base), [b] "r"(pcpu_boff(id))
	    : "memory", "cc"
	    : miss);
	if (item == NULL)
		__builtin_unreachable();  /* arrays hold items only: callers' NULL tests fold away */
	return item;
miss:
	return NULL;
}

/* The push's body, after [r] is the block (plus a stride's worth of
 * bytes for ST and ITEM0 below a block's own): full or stopped misses. */
#define PCPU_RSEQ_PUSH_BODY_AT(ST, ITEM0)                                   \
	"movq " ST "(%[r]), %[st]\n\t"                                      \
	"movzwl %w[st], %k[n]\n\t"                                          \
	"movl %k[st], %k[c]\n\t"                                            \
	"shrl $16, %k[c]\n\t"                                               \
	"cmpl %k[c], %k[n]\n\t"                                             \
	"jae %l[miss]\n\t"                                                  \
	"movq %[it], " ITEM0 "(%[r],%[n],8)\n\t"                            \
	"movabsq $" NK_STR(NK_PCPU_PUSH_ONE) ", %[c]\n\t"                   \
	"addq %[c], %[st]\n\t"                                              \
	"movq %[st], " ST "(%[r])\n\t"            /* the commit */          \
	".Lend%=:\n\t"
#define PCPU_RSEQ_PUSH_BODY PCPU_RSEQ_PUSH_BODY_AT(PCPU_ST, PCPU_ITEM0)

/*
 * The whole push of item at displacements ST and ITEM0 from the block at
 * offset boff (pcpu_push, pcpu_push_id1); a full or stopped array jumps
 * to the label miss.
 */
#define PCPU_RSEQ_PUSH(boff, item, ST, ITEM0, miss)                         \
	uintptr_t r_, st_, n_, c_;                                          \
	asm volatile goto(PCPU_RSEQ_PROLOGUE                                \
	    PCPU_RSEQ_REGION                                                \
	    "addq %[b], %[r]\n\t"                                           \
	    PCPU_RSEQ_PUSH_BODY_AT(ST, ITEM0)                               \
	    : [r] "=&r"(r_), [st] "=&r"(st_), [n] "=&r"(n_), [c] "=&r"(c_)  \
	    : [rs] "r"(nk_rseq_off), [base] "m"(nk_pcpu_base), [b] "r"(boff), \
	      [it] "r"(item)                                                \
	    : "memory", "cc"                                                \
	    : miss)

/* A free onto the calling CPU's array; false if it is full or stopped. */
static inline __attribute__((always_inline)) bool
pcpu_push(int id, void *item)
{
	PCPU_RSEQ_PUSH(pcpu_boff(id), item, PCPU_ST, PCPU_ITEM0, miss);
	return true;
miss:
	return false;
}

/*
 * pcpu_push for zone id id1 - 1, given id1: free() reads the id plus one
 * from the page class map (page.h) and uses it as it is, the block's
 * offset one stride short, made up in the displacements, so that no
 * subtraction sits between the map's load and the state word's.
 */
#define PCPU_ST_1    "-8256"   /* PCPU_ST - NK_PCPU_BLOCK_STRIDE */
#define PCPU_ITEM0_1 "-8248"   /* PCPU_ITEM0 - NK_PCPU_BLOCK_STRIDE */
_Static_assert(NK_PCPU_BLOCKS - NK_PCPU_BLOCK_STRIDE == -8256, "PCPU_ST_1");

static inline __attribute__((always_inline)) bool
pcpu_push_id1(unsigned id1, void *item)
{
	PCPU_RSEQ_PUSH(pcpu_boff((int)id1), item, PCPU_ST_1, PCPU_ITEM0_1, miss);
	return true;
miss:
	return false;
}

/*
 * pcpu_push for a first-touch zone on more than one domain: also misses
 * when the CPU's domain is not dom, the item's (a cross-domain free, or a
 * thread that moved after it looked).
 */
static inline __attribute__((always_inline)) bool
pcpu_push_dom(int id, void *item, int dom)
{
	uintptr_t r, st, n, c;
	asm volatile goto(PCPU_RSEQ_PROLOGUE
	    PCPU_RSEQ_REGION
	    "cmpl %k[dom], (%[r])\n\t"
	    "jne %l[miss]\n\t"
	    "addq %[b], %[r]\n\t"
	    PCPU_RSEQ_PUSH_BODY
	    : [r] "=&r"(r), [st] "=&r"(st), [n] "=&r"(n), [c] "=&r"(c)
	    : [rs] "r"(nk_rseq_off), [base] "m"(nk_pcpu_base), [b] "r"(pcpu_boff(id)),
	      [it] "r"(item), [dom] "r"(dom)
	    : "memory", "cc"
	    : miss);
	return true;
miss:
	return false;
}

/*
 * The slow paths' batch push: all of src[0..cnt-1] onto CPU cpu's array
 * (src[cnt-1] on top), or none.  false: the caller is not on cpu any more,
 * or there is no room.  Not counted as pushes: refills are not frees.
 */
static inline bool
pcpu_push_batch(int cpu, int id, void *const *src, uintptr_t cnt)
{
	uintptr_t r, st, c, dst, i;
	asm volatile goto(PCPU_RSEQ_PROLOGUE
	    PCPU_RSEQ_REGION_OF("cpu", "fail")
	    "addq %[b], %[r]\n\t"
	    "movq " PCPU_ST "(%[r]), %[st]\n\t"
	    "movzwl %w[st], %k[i]\n\t"
	    "movl %k[st], %k[c]\n\t"
	    "shrl $16, %k[c]\n\t"
	    "subl %k[i], %k[c]\n\t"            /* room */
	    "cmpq %[cnt], %[c]\n\t"
	    "jb %l[fail]\n\t"
	    "leaq " PCPU_ITEM0 "(%[r],%[i],8), %[dst]\n\t"
	    "xorl %k[i], %k[i]\n\t"
	    ".Lcopy%=:\n\t"
	    "cmpq %[cnt], %[i]\n\t"
	    "jae .Lcopied%=\n\t"
	    "movq (%[src],%[i],8), %[c]\n\t"
	    "movq %[c], (%[dst],%[i],8)\n\t"
	    "incq %[i]\n\t"
	    "jmp .Lcopy%=\n\t"
	    ".Lcopied%=:\n\t"
	    "addq %[cnt], %[st]\n\t"
	    "movq %[st], " PCPU_ST "(%[r])\n\t"      /* the commit */
	    ".Lend%=:\n\t"
	    : [r] "=&r"(r), [st] "=&r"(st), [c] "=&r"(c), [dst] "=&r"(dst), [i] "=&r"(i)
	    : [rs] "r"(nk_rseq_off), [base] "m"(nk_pcpu_base), [b] "r"(pcpu_boff(id)),
	      [cpu] "r"(cpu), [src] "r"(src), [cnt] "r"(cnt)
	    : "memory", "cc"
	    : fail);
	return true;
fail:
	return false;
}

/*
 * The slow paths' batch pop: up to max items off the top of CPU cpu's
 * array into dst (the topmost last).  The number taken (0 if the array is
 * empty or stopped), or -1 if the caller is not on cpu any more.
 */
static inline long
pcpu_pop_batch(int cpu, int id, void **dst, uintptr_t max)
{
	uintptr_t r, st, n, k, src, c;
	asm volatile goto(PCPU_RSEQ_PROLOGUE
	    PCPU_RSEQ_REGION_OF("cpu", "fail")
	    "addq %[b], %[r]\n\t"
	    "movq " PCPU_ST "(%[r]), %[st]\n\t"
	    "movzwl %w[st], %k[n]\n\t"
	    "movq %[n], %[k]\n\t"
	    "cmpq %[max], %[k]\n\t"
	    "cmovaq %[max], %[k]\n\t"          /* k = min(count, max) */
	    "testq %[k], %[k]\n\t"
	    "jz .Lend%=\n\t"
	    "subq %[k], %[n]\n\t"
	    "leaq " PCPU_ITEM0 "(%[r],%[n],8), %[src]\n\t"
	    "xorl %k[n], %k[n]\n\t"
	    ".Lcopy%=:\n\t"
	    "movq (%[src],%[n],8), %[c]\n\t"
	    "movq %[c], (%[dst],%[n],8)\n\t"
	    "incq %[n]\n\t"
	    "cmpq %[k], %[n]\n\t"
	    "jb .Lcopy%=\n\t"
	    "subq %[k], %[st]\n\t"
	    "movq %[st], " PCPU_ST "(%[r])\n\t"      /* the commit */
	    ".Lend%=:\n\t"
	    : [r] "=&r"(r), [st] "=&r"(st), [n] "=&r"(n), [k] "=&r"(k), [src] "=&r"(src),
	      [c] "=&r"(c)
	    : [rs] "r"(nk_rseq_off), [base] "m"(nk_pcpu_base), [b] "r"(pcpu_boff(id)),
	      [cpu] "r"(cpu), [dst] "r"(dst), [max] "r"(max)
	    : "memory", "cc"
	    : fail);
	return (long)k;
fail:
	return -1;
}

#else  /* not x86-64: no sequences; pcpu_init() leaves the per-CPU caches off */
#define NK_PCPU_ASM 0
static inline void *pcpu_pop(int id) { (void)id; return NULL; }
static inline bool pcpu_push(int id, void *item) { (void)id; (void)item; return false; }
static inline bool pcpu_push_id1(unsigned id1, void *item) { (void)id1; (void)item; return false; }
static inline bool
pcpu_push_dom(int id, void *item, int dom)
{
	(void)id; (void)item; (void)dom;
	return false;
}
static inline bool
pcpu_push_batch(int cpu, int id, void *const *src, uintptr_t cnt)
{
	(void)cpu; (void)id; (void)src; (void)cnt;
	return false;
}
static inline long
pcpu_pop_batch(int cpu, int id, void **dst, uintptr_t max)
{
	(void)cpu; (void)id; (void)dst; (void)max;
	return -1;
}
#endif

#endif /* NK_PCPU_RSEQ_H */
