/*
 * What bucket.c and depot.c, the two halves of the bucket module, share:
 * the bucket header's check and the keg traffic the depots' miss path and
 * trim use.  Included by those two files only.
 */
#ifndef NK_BUCKET_INT_H
#define NK_BUCKET_INT_H

#include "bucket.h"

static inline uint64_t
bucket_canary(const struct nk_bucket *b)
{
	return nk_slab_cookie ^ (uintptr_t)b;
}

/* A bucket off a depot list or on its way back: overwritten, it stops the process. */
static inline void
bucket_check(const struct nk_bucket *b)
{
	if (NK_UNLIKELY(b->canary != bucket_canary(b) || b->cnt > b->cap))
		nk_panic("heap overflow/corruption detected in numakeg's buckets: bucket %p: "
		    "its header was overwritten", (const void *)b);
}

/*
 * Items from the keg into items[0..max), the keg called again until max or
 * until it has no more when until_full (zone_import's, and a stream's
 * bucket refill's), once otherwise.
 */
int zone_import_some(struct nk_zone *z, int domain, int flags, void **items, int max, bool exact,
                     bool until_full);
/* A bucket's items back to the keg, and the bucket freed. */
void zone_release_bucket(struct nk_zone *z, struct nk_bucket *b);

#endif /* NK_BUCKET_INT_H */
