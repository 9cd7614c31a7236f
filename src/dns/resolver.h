/* resolver.h: how a resolver backend plugs into da_resolver. Each backend
 * (zone, c-ares blocking, later the async loop one and the cache) supplies
 * these operations; callers only see the functions in domauth.h. */
#ifndef DA_DNS_RESOLVER_H
#define DA_DNS_RESOLVER_H

#include "domauth.h"

typedef struct resolver_ops {
    int (*submit)(void *impl, const da_dns_question *question, da_resolver_callback callback,
                  void *arg);
    int (*run)(void *impl);
    void (*destroy)(void *impl);
    /* Optional: an answer already held in memory (a cache), without I/O; valid
     * until the next call into the resolver. NULL when not held. */
    const da_dns_answer *(*peek)(void *impl, const da_dns_question *question);
} resolver_ops;

/* Takes ownership of impl; destroy is called by da_resolver_free. */
da_resolver *resolver_wrap(const resolver_ops *ops, void *impl);

/* The backend's peek, or NULL when it has none or holds no answer. */
const da_dns_answer *resolver_peek(da_resolver *resolver, const da_dns_question *question);

/* Lower-cases a DNS name and drops one trailing dot, into out (size >= 256).
 * Returns false when the name is longer than 253 characters. */
int dns_name_normalize(const char *name, char *out, size_t out_size);

#endif
