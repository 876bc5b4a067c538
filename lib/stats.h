/*
 * Statistics (doc/STATS.md): the snapshot and its two formats, the dumps at
 * exit, on a signal or an interval.  The stats layer sits above malloc and
 * reaches the zone layer's slow paths only through zone_slow_hook.
 */
#ifndef NK_STATS_H
#define NK_STATS_H

#include "malloc_int.h"

/* Reads the options: the exit dump, the signal, the interval (start-up). */
void stats_init(void);
/* In the fork child: a dump another thread was writing does not go on. */
void stats_fork_child(void);

#endif /* NK_STATS_H */
