/* record_cache.h: the evaluator's side of da_spf_record_cache. A reference
 * keeps a parsed record alive even after the cache evicts it or is freed. */
#ifndef DA_SPF_RECORD_CACHE_H
#define DA_SPF_RECORD_CACHE_H

#include "domauth.h"
#include "record.h"

typedef struct spf_cached_record spf_cached_record;

/* Returns a reference to the parse of text (parsing it on a miss). On a
 * syntax error *record is NULL and *problem says why. Release with
 * spf_record_cache_release. NULL only when out of memory. */
spf_cached_record *spf_record_cache_get(da_spf_record_cache *cache, const char *text,
                                        size_t len, const spf_record **record,
                                        const char **problem);
void spf_record_cache_release(spf_cached_record *ref);

/* The cache's compiled policies, or NULL when they are turned off. */
struct spf_policy_table *spf_record_cache_policies(da_spf_record_cache *cache);

#endif
