/*
 * The per-CPU caches' restartable sequences (rseq(2)), in x86-64 inline
 * assembly: the only code that touches a CPU's cache headers while other
 * threads may run on that CPU.  Owns nothing but the instruction sequences;
 * pcpu.h owns the memory they work on.  Includes nk_base.h only.
 *
 * A CPU's region starts at nk_pcpu_base + (cpu << NK_PCPU_SHIFT).  At byte
 * 0 it holds the domain its items belong to (u32); at pcpu_hoff(id) the
 * id's 64-bit state word; at pcpu_ioff(id) the id's array of items (a fixed
 * stride, so that the sequences find it with an add instead of a load on
 * their chain of dependent loads).  The state word:
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

#define NK_PCPU_SHIFT   17                 /* a CPU's region: 128 KiB of address space */
#define NK_PCPU_COUNT_MASK  0xffffull
#define NK_PCPU_CAP_SHIFT   16
#define NK_PCPU_PUSH_ONE    0x100000001ull  /* count + 1, pushes + 1 */
#define NK_PCPU_HDR_OFF     64        /* the state words, 16 bytes apart */
#define NK_PCPU_ARRAYS_OFF  8192      /* the item arrays, after the headers */
#define NK_PCPU_SLOTS       192       /* items an id's array may hold */

static inline uintptr_t
pcpu_hoff(int id)
{
	return NK_PCPU_HDR_OFF + (uintptr_t)id * 16;
}

static inline uintptr_t
pcpu_ioff(int id)
{
	return NK_PCPU_ARRAYS_OFF + (uintptr_t)id * NK_PCPU_SLOTS * sizeof(void *);
}

extern uintptr_t nk_pcpu_base;   /* the regions' address space; 0: no per-CPU caches */
extern long nk_rseq_off;         /* __rseq_offset, copied: one PC-relative load */

#if defined(__x86_64__)
#define NK_PCPU_ASM 1

#define NK_STR2(x) #x
#define NK_STR(x) NK_STR2(x)

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

/* [r] = this CPU's region; a thread whose rseq is not registered misses. */
#define PCPU_RSEQ_REGION(miss)                                              \
	"movl %%fs:4(%[rs]), %k[r]\n\t"                                     \
	"testl %k[r], %k[r]\n\t"                                            \
	"js %l[" miss "]\n\t"                                               \
	"shlq $" NK_STR(NK_PCPU_SHIFT) ", %[r]\n\t"                         \
	"addq %[base], %[r]\n\t"

/* The same for a sequence bound to one CPU: elsewhere it fails. */
#define PCPU_RSEQ_REGION_OF(cpu, miss)                                      \
	"movl %%fs:4(%[rs]), %k[r]\n\t"                                     \
	"cmpl %k[r], %k[" cpu "]\n\t"                                       \
	"jne %l[" miss "]\n\t"                                              \
	"shlq $" NK_STR(NK_PCPU_SHIFT) ", %[r]\n\t"                         \
	"addq %[base], %[r]\n\t"

/* The top item of the calling CPU's array of the id at hoff; NULL if empty. */
static inline __attribute__((always_inline)) void *
pcpu_pop(int id)
{
	uintptr_t hoff = pcpu_hoff(id), ioff = pcpu_ioff(id);
	uintptr_t r, st, n;
	void *item;
	asm volatile goto(PCPU_RSEQ_PROLOGUE
	    PCPU_RSEQ_REGION("miss")
	    "movq (%[r],%[h]), %[st]\n\t"
	    "movzwl %w[st], %k[n]\n\t"
	    "testl %k[n], %k[n]\n\t"
	    "jz %l[miss]\n\t"
	    "leaq (%[r],%[io]), %[it]\n\t"
	    "movq -8(%[it],%[n],8), %[it]\n\t"
	    "decq %[st]\n\t"
	    "movq %[st], (%[r],%[h])\n\t"      /* the commit */
	    ".Lend%=:\n\t"
	    : [r] "=&r"(r), [st] "=&r"(st), [n] "=&r"(n), [it] "=&r"(item)
	    : [rs] "r"(nk_rseq_off), [base] "m"(nk_pcpu_base), [h] "r"(hoff), [io] "r"(ioff)
	    : "memory", "cc"
	    : miss);
	if (item == NULL)
		__builtin_unreachable();  /* arrays hold items only: callers' NULL tests fold away */
	return item;
miss:
	return NULL;
}

/* A free onto the calling CPU's array; false if it is full or stopped. */
static inline __attribute__((always_inline)) bool
pcpu_push(int id, void *item)
{
	uintptr_t hoff = pcpu_hoff(id), ioff = pcpu_ioff(id);
	uintptr_t r, st, n, c;
	asm volatile goto(PCPU_RSEQ_PROLOGUE
	    PCPU_RSEQ_REGION("miss")
	    "movq (%[r],%[h]), %[st]\n\t"
	    "movzwl %w[st], %k[n]\n\t"
	    "movl %k[st], %k[c]\n\t"
	    "shrl $16, %k[c]\n\t"
	    "cmpl %k[c], %k[n]\n\t"
	    "jae %l[miss]\n\t"
	    "leaq (%[r],%[io]), %[c]\n\t"
	    "movq %[it], (%[c],%[n],8)\n\t"
	    "movabsq $" NK_STR(NK_PCPU_PUSH_ONE) ", %[c]\n\t"
	    "addq %[c], %[st]\n\t"
	    "movq %[st], (%[r],%[h])\n\t"      /* the commit */
	    ".Lend%=:\n\t"
	    : [r] "=&r"(r), [st] "=&r"(st), [n] "=&r"(n), [c] "=&r"(c)
	    : [rs] "r"(nk_rseq_off), [base] "m"(nk_pcpu_base), [h] "r"(hoff), [io] "r"(ioff),
	      [it] "r"(item)
	    : "memory", "cc"
	    : miss);
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
	uintptr_t hoff = pcpu_hoff(id), ioff = pcpu_ioff(id);
	uintptr_t r, st, n, c;
	asm volatile goto(PCPU_RSEQ_PROLOGUE
	    PCPU_RSEQ_REGION("miss")
	    "cmpl %k[dom], (%[r])\n\t"
	    "jne %l[miss]\n\t"
	    "movq (%[r],%[h]), %[st]\n\t"
	    "movzwl %w[st], %k[n]\n\t"
	    "movl %k[st], %k[c]\n\t"
	    "shrl $16, %k[c]\n\t"
	    "cmpl %k[c], %k[n]\n\t"
	    "jae %l[miss]\n\t"
	    "leaq (%[r],%[io]), %[c]\n\t"
	    "movq %[it], (%[c],%[n],8)\n\t"
	    "movabsq $" NK_STR(NK_PCPU_PUSH_ONE) ", %[c]\n\t"
	    "addq %[c], %[st]\n\t"
	    "movq %[st], (%[r],%[h])\n\t"      /* the commit */
	    ".Lend%=:\n\t"
	    : [r] "=&r"(r), [st] "=&r"(st), [n] "=&r"(n), [c] "=&r"(c)
	    : [rs] "r"(nk_rseq_off), [base] "m"(nk_pcpu_base), [h] "r"(hoff), [io] "r"(ioff),
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
	uintptr_t hoff = pcpu_hoff(id), ioff = pcpu_ioff(id);
	uintptr_t r, st, c, dst, i;
	asm volatile goto(PCPU_RSEQ_PROLOGUE
	    PCPU_RSEQ_REGION_OF("cpu", "fail")
	    "movq (%[r],%[h]), %[st]\n\t"
	    "movzwl %w[st], %k[i]\n\t"
	    "movl %k[st], %k[c]\n\t"
	    "shrl $16, %k[c]\n\t"
	    "subl %k[i], %k[c]\n\t"            /* room */
	    "cmpq %[cnt], %[c]\n\t"
	    "jb %l[fail]\n\t"
	    "leaq (%[r],%[io]), %[dst]\n\t"
	    "leaq (%[dst],%[i],8), %[dst]\n\t"
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
	    "movq %[st], (%[r],%[h])\n\t"      /* the commit */
	    ".Lend%=:\n\t"
	    : [r] "=&r"(r), [st] "=&r"(st), [c] "=&r"(c), [dst] "=&r"(dst), [i] "=&r"(i)
	    : [rs] "r"(nk_rseq_off), [base] "m"(nk_pcpu_base), [h] "r"(hoff), [io] "r"(ioff),
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
	uintptr_t hoff = pcpu_hoff(id), ioff = pcpu_ioff(id);
	uintptr_t r, st, n, k, src, c;
	asm volatile goto(PCPU_RSEQ_PROLOGUE
	    PCPU_RSEQ_REGION_OF("cpu", "fail")
	    "movq (%[r],%[h]), %[st]\n\t"
	    "movzwl %w[st], %k[n]\n\t"
	    "movq %[n], %[k]\n\t"
	    "cmpq %[max], %[k]\n\t"
	    "cmovaq %[max], %[k]\n\t"          /* k = min(count, max) */
	    "testq %[k], %[k]\n\t"
	    "jz .Lend%=\n\t"
	    "leaq (%[r],%[io]), %[src]\n\t"
	    "subq %[k], %[n]\n\t"
	    "leaq (%[src],%[n],8), %[src]\n\t"
	    "xorl %k[n], %k[n]\n\t"
	    ".Lcopy%=:\n\t"
	    "movq (%[src],%[n],8), %[c]\n\t"
	    "movq %[c], (%[dst],%[n],8)\n\t"
	    "incq %[n]\n\t"
	    "cmpq %[k], %[n]\n\t"
	    "jb .Lcopy%=\n\t"
	    "subq %[k], %[st]\n\t"
	    "movq %[st], (%[r],%[h])\n\t"      /* the commit */
	    ".Lend%=:\n\t"
	    : [r] "=&r"(r), [st] "=&r"(st), [n] "=&r"(n), [k] "=&r"(k), [src] "=&r"(src),
	      [c] "=&r"(c)
	    : [rs] "r"(nk_rseq_off), [base] "m"(nk_pcpu_base), [h] "r"(hoff), [io] "r"(ioff),
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
