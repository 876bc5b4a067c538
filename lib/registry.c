/*
 * The zone registry (registry.h): ids, the zone list, the thread-cache
 * list head, the registry lock and the walkers.  Layering: registry.c sits
 * at the bottom of the zone layer and calls only the lock layer; it never
 * looks inside a zone's buckets or a thread's cache.
 */
#include <time.h>

#include "registry.h"

struct nk_zone *nk_zone_list;
struct nk_tcache *nk_tc_list;

static nk_lock_t zone_registry;
static struct nk_zone *zone_by_id[NK_MAX_ZONES] NK_BIG_BSS;
/*
 * An id whose zone nk_zdestroy is taking apart: zone_of_id() skips it, and
 * it is not reusable yet (a new zone on it would share slots still being
 * flushed); zone_of_id_locked() still finds the zone.
 */
static bool zone_id_dying[NK_MAX_ZONES] NK_BIG_BSS;

/*
 * Walkers: code that follows zones (the zone list, zone ids) or slots of
 * them without the registry lock: nk_reclaim, the stats dump, and a thread
 * flushing its own slots (exit, migration).  zone_unregister waits until no
 * walker is left before nk_zdestroy touches the zone's slots or frees it,
 * so a walker never follows a freed zone.  Sequentially consistent: a
 * walker that saw the zone registered entered before it was unregistered.
 */
static int zone_walkers;
static __thread int zone_walk_depth;  /* this thread's, for fork */

void
zone_walk_enter(void)
{
	zone_walk_depth++;
	__atomic_add_fetch(&zone_walkers, 1, __ATOMIC_SEQ_CST);
}

void
zone_walk_exit(void)
{
	__atomic_sub_fetch(&zone_walkers, 1, __ATOMIC_SEQ_CST);
	zone_walk_depth--;
}

/* Waits for the walkers that may have seen an unregistered zone. */
static void
zone_walk_wait(void)
{
	while (__atomic_load_n(&zone_walkers, __ATOMIC_SEQ_CST) > zone_walk_depth) {
		struct timespec ts = { 0, 50000 };
		nanosleep(&ts, NULL);
	}
}

struct nk_zone *
zone_walk_begin(void)
{
	zone_walk_enter();
	zone_registry_lock();
	struct nk_zone *z = nk_zone_list;
	zone_registry_unlock();
	return z;
}

void
zone_walk_end(void)
{
	zone_walk_exit();
}

void
zone_foreach(void (*fn)(struct nk_zone *z, void *arg), void *arg)
{
	for (struct nk_zone *z = zone_walk_begin(); z != NULL; z = z->next)
		fn(z, arg);
	zone_walk_end();
}

void
zone_registry_init(void)
{
	nk_lock_init(&zone_registry, NK_RANK_REGISTRY);
}

void
zone_registry_lock(void)
{
	nk_lock(&zone_registry);
}

void
zone_registry_unlock(void)
{
	nk_unlock(&zone_registry);
}

bool
zone_registry_owned(void)
{
	return nk_lock_owned(&zone_registry);
}

int
zone_register(struct nk_zone *z, int want)
{
	/* A malloc class is its zone id (ids 0..39), whenever it is made. */
	NK_ASSERT((want >= 0 && want < NK_MALLOC_IDS) == ((z->flags & NK_ZONE_MALLOC) != 0),
	    "ids below NK_MALLOC_IDS are the malloc classes', and only theirs");
	zone_registry_lock();
	int id = -1, err = ENOSPC;
	if (want >= 0) {
		if (want < NK_MAX_ZONES && zone_by_id[want] == NULL)
			id = want;
		else
			err = EEXIST;
	} else {
		for (int i = NK_MALLOC_IDS; i < NK_MAX_ZONES; i++)
			if (zone_by_id[i] == NULL) {
				id = i;
				break;
			}
	}
	if (id >= 0) {
		z->id = id;
		zone_by_id[id] = z;
		z->next = nk_zone_list;
		nk_zone_list = z;
	}
	zone_registry_unlock();
	return id < 0 ? err : 0;
}

void
zone_unregister(struct nk_zone *z)
{
	zone_registry_lock();
	__atomic_store_n(&zone_id_dying[z->id], true, __ATOMIC_SEQ_CST);
	for (struct nk_zone **pp = &nk_zone_list; *pp; pp = &(*pp)->next)
		if (*pp == z) {
			*pp = z->next;
			break;
		}
	zone_registry_unlock();
	zone_walk_wait();
}

void
zone_release_id(struct nk_zone *z)
{
	zone_registry_lock();
	NK_ASSERT(zone_by_id[z->id] == z && zone_id_dying[z->id], "an id released that was not dying");
	zone_by_id[z->id] = NULL;
	zone_id_dying[z->id] = false;
	zone_registry_unlock();
}

struct nk_zone *
zone_of_id(unsigned id)
{
	if (id >= NK_MAX_ZONES)
		return NULL;
	struct nk_zone *z = __atomic_load_n(&zone_by_id[id], __ATOMIC_SEQ_CST);
	return __atomic_load_n(&zone_id_dying[id], __ATOMIC_SEQ_CST) ? NULL : z;
}

struct nk_zone *
zone_of_id_locked(unsigned id)
{
	NK_ASSERT(zone_registry_owned(), "registry lock not held");
	return id < NK_MAX_ZONES ? zone_by_id[id] : NULL;
}

void
zone_registry_fork_prepare(void)
{
	pthread_mutex_lock(&zone_registry.mtx);
}

void
zone_registry_fork_parent(void)
{
	pthread_mutex_unlock(&zone_registry.mtx);
}

void
zone_registry_fork_child(void)
{
	nk_lock_reinit(&zone_registry);
	/* Only this thread lives on: walkers of others are gone with them. */
	__atomic_store_n(&zone_walkers, zone_walk_depth, __ATOMIC_RELAXED);
}
