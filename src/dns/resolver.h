/* resolver.h: how a resolver backend plugs into da_resolver. Each backend
 * (zone, c-ares blocking, later the async loop one and the cache) supplies
 * these operations; callers only see the functions in domauth.h. */
#ifndef DA_DNS_RESOLVER_H
#define DA_DNS_RESOLVER_H

#include "domauth.h"

struct resolver_hold;

typedef struct resolver_ops {
    int (*submit)(void *impl, const da_dns_question *question, da_resolver_callback callback,
                  void *arg);
    int (*run)(void *impl);
    void (*destroy)(void *impl);
    /* Optional: an answer already held in memory (a cache), without I/O; valid
     * until the next call into the resolver. NULL when not held. */
    const da_dns_answer *(*peek)(void *impl, const da_dns_question *question);
    /* Optional (caches): what a result derived from held answers needs to
     * know it still holds (see resolver_hold). Returns 0, or -1 when the
     * backend holds nothing. */
    int (*hold_state)(void *impl, struct resolver_hold *out);
    /* Optional (caches): peek that also marks the answer as depended upon,
     * so that dropping it before it expires bumps the generation; sets
     * *expires_ms (on the hold_state clock). Does not count as a hit. */
    const da_dns_answer *(*pin)(void *impl, const da_dns_question *question,
                                uint64_t *expires_ms);
} resolver_ops;

/* The state of a cache for results computed from its answers (compiled SPF
 * policies). Such a result stays exact while `source` and `generation` are
 * what they were when it was made and now_ms is before the earliest expiry
 * of the answers it pinned: expiry alone needs no generation bump, because
 * a pinned answer never outlives its own expiry time. */
typedef struct resolver_hold {
    const void *cache;   /* with source: which cache */
    uint64_t source;     /* its creation time: no later cache at that address has it */
    uint64_t generation; /* bumped when a pinned answer goes before it expires */
    uint64_t stores;     /* answers stored so far: something new may be held */
    uint64_t now_ms;     /* the cache's clock */
} resolver_hold;

/* Takes ownership of impl; destroy is called by da_resolver_free. */
da_resolver *resolver_wrap(const resolver_ops *ops, void *impl);

/* The backend's peek, or NULL when it has none or holds no answer. */
const da_dns_answer *resolver_peek(da_resolver *resolver, const da_dns_question *question);
/* The backend's hold_state and pin; -1 and NULL when it has none. */
int resolver_hold_state(da_resolver *resolver, resolver_hold *out);
const da_dns_answer *resolver_pin(da_resolver *resolver, const da_dns_question *question,
                                  uint64_t *expires_ms);

/* Lower-cases a DNS name and drops one trailing dot, into out (size >= 256).
 * Returns false when the name is longer than 253 characters. */
int dns_name_normalize(const char *name, char *out, size_t out_size);

#endif
