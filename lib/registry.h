/*
 * The zone registry: zone ids (a zone's id is its cache slot index), the
 * list of zones, the list of thread caches, the one lock over all three,
 * and the walkers that follow zones without that lock (doc/DESIGN.md,
 * "Lock order" and "Invariants").  Owns no zone: registry.c may call the
 * lock layer only.
 */
#ifndef NK_REGISTRY_H
#define NK_REGISTRY_H

#include "zone_types.h"

extern struct nk_zone *nk_zone_list;
/* The thread caches, linked through next/prev (tcache.c), under the registry lock. */
extern struct nk_tcache *nk_tc_list;

void zone_registry_init(void);
void zone_registry_lock(void);
void zone_registry_unlock(void);
bool zone_registry_owned(void);
/*
 * Gives z an id and puts it on the list; ENOSPC when every id is taken.
 * id >= 0: exactly that id (a malloc class's, NK_ZONE_MALLOC: its class,
 * 0..NK_MALLOC_IDS-1, whenever it is made), EEXIST if it is taken; -1: the
 * lowest free id from NK_MALLOC_IDS on.
 */
int zone_register(struct nk_zone *z, int id);
/*
 * Takes z off the list and marks its id dying: zone_of_id() no longer finds
 * it, and the id is not reused until zone_release_id().  Then waits until
 * every walker that may have seen z is gone.
 */
void zone_unregister(struct nk_zone *z);
/* Every slot of the id is empty: the id may be reused. */
void zone_release_id(struct nk_zone *z);
/* The live zone with this id, or NULL (none, or one being destroyed). */
struct nk_zone *zone_of_id(unsigned id);
/*
 * With the registry lock held: the zone with this id, also one being
 * destroyed (nk_zdestroy frees it only after it took the registry lock to
 * flush the caches, so it is valid while the lock is held).
 */
struct nk_zone *zone_of_id_locked(unsigned id);

/*
 * A walk of the zone list that nk_zdestroy cannot pull a zone out from
 * under: zone_walk_begin returns the list's head, and until zone_walk_end
 * every zone reached through ->next stays valid (one being destroyed waits
 * for the walk to end).  Take no lock across the walk that nk_zdestroy
 * needs (the registry is fine to take and drop inside).  zone_foreach is
 * the same as a callback.  zone_walk_enter/exit mark a walk that finds its
 * zones by id (a thread flushing its own slots).
 */
struct nk_zone *zone_walk_begin(void);
void zone_walk_end(void);
void zone_foreach(void (*fn)(struct nk_zone *z, void *arg), void *arg);
void zone_walk_enter(void);
void zone_walk_exit(void);

/* fork(): the registry lock first (it is the outermost); then released or reset. */
void zone_registry_fork_prepare(void);
void zone_registry_fork_parent(void);
void zone_registry_fork_child(void);

#endif /* NK_REGISTRY_H */
