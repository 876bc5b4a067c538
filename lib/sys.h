/*
 * The system-call layer: every change numakeg makes to the process's memory
 * map (mmap, mprotect, madvise, mbind) goes through here, so that the
 * semantics the layers above rely on are written once and every call can be
 * made to fail on purpose (NUMAKEG_FAULT) to test the paths that handle it.
 * Below everything but nk_base.h; calls nothing of numakeg's.
 */
#ifndef NK_SYS_H
#define NK_SYS_H

#include "nk_base.h"

/*
 * Address space only: PROT_NONE, counted against RLIMIT_AS but neither
 * charged nor counted in RLIMIT_DATA until sys_commit.  meta: PROT_READ and
 * MAP_NORESERVE instead, for metadata arrays that may be read (as zeros)
 * before they are committed, and are never charged.  NULL on failure.
 */
void *sys_reserve(size_t len, bool meta);
void  sys_unreserve(void *addr, size_t len);

/*
 * Makes reserved pages read-write, charged and counted: the kernel's
 * overcommit policy and RLIMIT_DATA apply, so a request the kernel would
 * refuse to back fails here with ENOMEM instead of being killed later.
 * The pages read as zero and keep the range's NUMA policy.  0 or ENOMEM.
 */
int sys_commit(void *addr, size_t len);
/* Metadata: read-write (counted in RLIMIT_DATA) but not charged. */
int sys_commit_meta(void *addr, size_t len);
/*
 * Read-write memory of numakeg's own outside the reservation, where a heap
 * overflow out of the windows cannot run into it (the windows end in
 * address space that is not accessible).  Charged; NULL when refused.
 */
void *sys_map_private(size_t len);
/*
 * Secure mode's guard pages: committed pages made inaccessible, and made
 * read-write again.  0, or ENOMEM when the kernel refuses (a split of the
 * mapping past vm.max_map_count, or NUMAKEG_FAULT's mprotect).
 */
int sys_guard(void *addr, size_t len);
int sys_unguard(void *addr, size_t len);

/*
 * Gives committed pages back to the OS; they stay committed and always
 * read as zero afterwards.  madvise can fail (EINVAL on mlock()ed pages):
 * then the range is replaced by fresh pages, or cleared by hand when even
 * that is refused.  node >= 0: the node replaced pages are bound to.
 */
void sys_purge(void *addr, size_t len, int node);
/*
 * Moves the pages of [from, +len) to [to, +len), which they replace, by
 * remapping them (mremap, no copy); from stays mapped and reads zero.
 * Both ranges are private anonymous read-write memory.  0, or an errno
 * (an old kernel, locked pages, too many mappings): the caller copies.
 */
int sys_move(void *from, size_t len, void *to);
/* Faults committed pages in now; 0 or ENOMEM. */
int sys_populate(void *addr, size_t len);
/* Binds a range's future pages to a node (MPOL_PREFERRED); 0 or an errno. */
int sys_bind_node(void *addr, size_t len, int node);
/*
 * How many NUMA nodes the process may take memory from (get_mempolicy's
 * MPOL_F_MEMS_ALLOWED: the online nodes its cpuset allows): one system
 * call, where reading sysfs takes three and a path walk.  1 on a kernel
 * without NUMA, -1 where the call is refused (a seccomp filter: Docker's
 * allows it only with CAP_SYS_NICE).
 */
int sys_allowed_nodes(void);
/*
 * move_pages(2), as libnuma declares it: with nodes NULL, status[i] gets
 * the node pages[i] is on (or a negative errno).  0, or -1 with errno.
 */
long sys_move_pages(int pid, unsigned long count, void **pages, const int *nodes, int *status,
    int flags);

/*
 * Fault injection (NUMAKEG_FAULT=CALL:A/B[,CALL:A/B...], CALL one of mmap,
 * mprotect, madvise, or all): each such call fails with probability A/B,
 * from a fixed-seed generator (NUMAKEG_FAULT_SEED changes it), once armed.
 * Start-up arms it when it is done, so start-up itself never fails.  At
 * exit the process prints one line with the count of calls that failed.
 */
void sys_fault_init(void);
void sys_fault_arm(void);
/* Calls that failed on purpose so far, all kinds together. */
uint64_t sys_fault_count(void);

#endif /* NK_SYS_H */
