/*
 * The zone layer's start-up and fork handlers (zone_boot.c), for init.c.
 */
#ifndef NK_ZONE_BOOT_H
#define NK_ZONE_BOOT_H

#include "zone.h"

/* The registry, numakeg's own zones, the thread caches: after page_init. */
void zone_bootstrap(void);
/* fork(): every zone, depot and keg lock, outermost first; released or reset. */
void zone_fork_prepare(void);
void zone_fork_parent(void);
void zone_fork_child(void);

#endif /* NK_ZONE_BOOT_H */
