/* cache.c: the shared DNS cache and the resolver that puts it in front of
 * any backend. One thread (one loop) only: no locks.
 *
 * Invariants: every stored entry is in exactly one hash chain and in the LRU
 * list (most recently used at the head); entries <= max_entries; every
 * in-flight question is in the in-flight table until its upstream answer
 * arrives, even when the cache itself has been freed meanwhile (then it is
 * "orphaned" and frees itself on arrival). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "resolver.h"
#include "util/lru.h"

typedef struct cache_entry {
    struct cache_entry *hash_next;
    lru_node lru;
    uint64_t hash;
    da_dns_type type;
    uint64_t expires_ms;
    size_t bytes;
    bool pinned; /* a compiled result depends on it (resolver_pin) */
    da_dns_answer *answer;
    char name[]; /* normalized */
} cache_entry;

typedef struct cache_waiter {
    struct cache_waiter *next;
    da_resolver_callback callback;
    void *arg;
} cache_waiter;

typedef struct inflight {
    struct inflight *hash_next;
    struct inflight *queue_next; /* waiting for a free upstream slot */
    struct da_dns_cache *cache;  /* NULL once the cache is gone */
    da_resolver *upstream;
    bool submitted;
    uint64_t hash;
    da_dns_question question;
    cache_waiter *waiters, *waiters_tail;
    char name[256];
} inflight;

struct da_dns_cache {
    da_dns_cache_options options;
    cache_entry **buckets;
    inflight **inflight_buckets;
    size_t bucket_mask;
    lru_list lru;
    /* Misses beyond max_upstream wait here, oldest first, so a burst
     * cannot overrun the upstream (or the socket buffer its answers use). */
    inflight *queue_head, *queue_tail;
    size_t upstream_active;
    da_dns_cache_stats stats;
    /* For results derived from held answers (resolver_hold). */
    uint64_t birth_ns, generation, stores;
};

static uint64_t monotonic_ms(void *arg)
{
    (void)arg;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t cache_now(const da_dns_cache *c)
{
    return c->options.clock(c->options.clock_arg);
}

/* FNV-1a over the normalized name and the type. */
static uint64_t key_hash(const char *name, da_dns_type type)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = name; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 1099511628211ull;
    }
    h ^= (uint64_t)type;
    h *= 1099511628211ull;
    return h;
}

da_dns_cache *da_dns_cache_new(const da_dns_cache_options *options)
{
    da_dns_cache *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    if (options != NULL)
        c->options = *options;
    if (c->options.max_entries == 0)
        c->options.max_entries = 100000;
    if (c->options.max_ttl == 0)
        c->options.max_ttl = 86400;
    if (c->options.max_negative_ttl == 0)
        c->options.max_negative_ttl = 3600;
    if (c->options.min_ttl > c->options.max_ttl)
        c->options.min_ttl = c->options.max_ttl;
    if (c->options.clock == NULL)
        c->options.clock = monotonic_ms;
    if (c->options.max_upstream == 0)
        c->options.max_upstream = 500;
    size_t buckets = 64;
    while (buckets < c->options.max_entries && buckets < ((size_t)1 << 24))
        buckets *= 2;
    c->buckets = calloc(buckets, sizeof *c->buckets);
    c->inflight_buckets = calloc(buckets, sizeof *c->inflight_buckets);
    if (c->buckets == NULL || c->inflight_buckets == NULL) {
        free(c->buckets);
        free(c->inflight_buckets);
        free(c);
        return NULL;
    }
    c->bucket_mask = buckets - 1;
    /* With the address, tells this cache from any later one at the same
     * address: results keyed to it can never apply to a successor. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    c->birth_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    return c;
}

static void entry_remove(da_dns_cache *c, cache_entry *e)
{
    /* A pinned answer dropped before its time (evicted, replaced): results
     * compiled from it are no longer what a lookup would give. Dropping it
     * at or after expiry needs nothing: those results expired with it. */
    if (e->pinned && e->expires_ms > cache_now(c))
        c->generation++;
    cache_entry **slot = &c->buckets[e->hash & c->bucket_mask];
    while (*slot != e)
        slot = &(*slot)->hash_next;
    *slot = e->hash_next;
    lru_unlink(&c->lru, &e->lru);
    c->stats.entries--;
    c->stats.bytes -= e->bytes;
    da_dns_answer_free(e->answer);
    free(e);
}

static cache_entry *entry_find(da_dns_cache *c, const char *name, da_dns_type type, uint64_t hash)
{
    for (cache_entry *e = c->buckets[hash & c->bucket_mask]; e; e = e->hash_next)
        if (e->hash == hash && e->type == type && strcmp(e->name, name) == 0)
            return e;
    return NULL;
}

static size_t answer_bytes(const da_dns_answer *a)
{
    size_t n = sizeof *a + a->count * sizeof(da_dns_rr);
    for (size_t i = 0; i < a->count; i++) {
        if (a->records[i].name)
            n += strlen(a->records[i].name) + 1;
        if (a->records[i].text)
            n += a->records[i].text_len + 1;
    }
    return n;
}

/* How long an answer may be kept, in seconds; 0: not at all. */
static uint32_t keep_seconds(const da_dns_cache *c, const da_dns_answer *a)
{
    const da_dns_cache_options *o = &c->options;
    switch (a->status) {
    case DA_DNS_SERVFAIL:
    case DA_DNS_TIMEOUT:
        return o->error_ttl;
    case DA_DNS_NXDOMAIN:
        return a->ttl < o->max_negative_ttl ? a->ttl : o->max_negative_ttl;
    case DA_DNS_NOERROR:
        break;
    }
    if (a->count == 0) /* NODATA: negative caching too */
        return a->ttl < o->max_negative_ttl ? a->ttl : o->max_negative_ttl;
    uint32_t ttl = a->ttl;
    if (ttl < o->min_ttl)
        ttl = o->min_ttl;
    if (ttl > o->max_ttl)
        ttl = o->max_ttl;
    return ttl;
}

static void cache_store(da_dns_cache *c, const char *name, da_dns_type type, uint64_t hash,
                        const da_dns_answer *a)
{
    uint32_t seconds = keep_seconds(c, a);
    if (seconds == 0)
        return;
    cache_entry *old = entry_find(c, name, type, hash);
    if (old != NULL)
        entry_remove(c, old);
    size_t name_len = strlen(name);
    cache_entry *e = calloc(1, sizeof *e + name_len + 1);
    if (e == NULL)
        return;
    e->answer = da_dns_answer_copy(a);
    if (e->answer == NULL) {
        free(e);
        return;
    }
    memcpy(e->name, name, name_len + 1);
    e->hash = hash;
    e->type = type;
    e->expires_ms = cache_now(c) + (uint64_t)seconds * 1000u;
    e->bytes = sizeof *e + name_len + 1 + answer_bytes(a);
    cache_entry **slot = &c->buckets[hash & c->bucket_mask];
    e->hash_next = *slot;
    *slot = e;
    lru_push_front(&c->lru, &e->lru);
    c->stats.entries++;
    c->stats.bytes += e->bytes;
    c->stores++;
    while (c->stats.entries > c->options.max_entries && c->lru.tail != NULL) {
        entry_remove(c, LRU_ENTRY(c->lru.tail, cache_entry, lru));
        c->stats.evictions++;
    }
}

void da_dns_cache_get_stats(const da_dns_cache *c, da_dns_cache_stats *stats)
{
    *stats = c->stats;
}

/* ----------------------------------------------------------- in flight */

static inflight *inflight_find(da_dns_cache *c, const char *name, da_dns_type type, uint64_t hash)
{
    for (inflight *f = c->inflight_buckets[hash & c->bucket_mask]; f; f = f->hash_next)
        if (f->hash == hash && f->question.type == type && strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

static void inflight_unlink(da_dns_cache *c, inflight *f)
{
    inflight **slot = &c->inflight_buckets[f->hash & c->bucket_mask];
    while (*slot != f)
        slot = &(*slot)->hash_next;
    *slot = f->hash_next;
    c->stats.in_flight--;
}

static void deliver_and_free(inflight *f, const da_dns_answer *a)
{
    cache_waiter *w = f->waiters;
    while (w != NULL) {
        cache_waiter *next = w->next;
        w->callback(w->arg, &f->question, a);
        free(w);
        w = next;
    }
    free(f);
}

static void on_upstream_answer(void *arg, const da_dns_question *q, const da_dns_answer *a);

/* Sends queued questions while upstream slots are free. */
static void submit_queued(da_dns_cache *c)
{
    while (c->queue_head != NULL && c->upstream_active < c->options.max_upstream) {
        inflight *f = c->queue_head;
        c->queue_head = f->queue_next;
        if (c->queue_head == NULL)
            c->queue_tail = NULL;
        c->stats.queued--;
        f->submitted = true;
        c->upstream_active++;
        if (da_resolver_submit(f->upstream, &f->question, on_upstream_answer, f) != 0) {
            static const da_dns_answer failed = {.status = DA_DNS_SERVFAIL};
            on_upstream_answer(f, &f->question, &failed);
        }
    }
}

static void on_upstream_answer(void *arg, const da_dns_question *q, const da_dns_answer *a)
{
    (void)q;
    inflight *f = arg;
    da_dns_cache *c = f->cache;
    if (c != NULL) {
        c->upstream_active--;
        inflight_unlink(c, f);
        if (a->status == DA_DNS_SERVFAIL || a->status == DA_DNS_TIMEOUT)
            c->stats.upstream_errors++;
        cache_store(c, f->name, f->question.type, f->hash, a);
    }
    deliver_and_free(f, a);
    if (c != NULL)
        submit_queued(c);
}

void da_dns_cache_free(da_dns_cache *c)
{
    if (c == NULL)
        return;
    static const da_dns_answer gone = {.status = DA_DNS_SERVFAIL};
    for (size_t i = 0; i <= c->bucket_mask; i++) {
        for (inflight *f = c->inflight_buckets[i]; f; f = f->hash_next) {
            /* Waiters hear now; the upstream answer, when it comes, frees f. */
            cache_waiter *w = f->waiters;
            f->waiters = f->waiters_tail = NULL;
            f->cache = NULL;
            while (w != NULL) {
                cache_waiter *next = w->next;
                w->callback(w->arg, &f->question, &gone);
                free(w);
                w = next;
            }
        }
    }
    /* Queued questions were never sent: nothing upstream will free them. */
    inflight *q = c->queue_head;
    while (q != NULL) {
        inflight *next = q->queue_next;
        free(q);
        q = next;
    }
    while (c->lru.head != NULL)
        entry_remove(c, LRU_ENTRY(c->lru.head, cache_entry, lru));
    free(c->buckets);
    free(c->inflight_buckets);
    free(c);
}

/* ------------------------------------------------------ the resolver */

typedef struct cached_resolver {
    da_dns_cache *cache;
    da_resolver *upstream;
} cached_resolver;

/* A live entry for the question, or NULL; an expired one is dropped. */
static cache_entry *cache_lookup(da_dns_cache *c, const char *name, da_dns_type type,
                                 uint64_t hash)
{
    cache_entry *e = entry_find(c, name, type, hash);
    if (e != NULL && e->expires_ms <= cache_now(c)) {
        entry_remove(c, e);
        c->stats.expirations++;
        return NULL;
    }
    if (e != NULL) {
        c->stats.hits++;
        lru_touch(&c->lru, &e->lru);
    }
    return e;
}

static const da_dns_answer *cached_peek(void *impl, const da_dns_question *q)
{
    cached_resolver *cr = impl;
    char name[256];
    if (dns_name_normalize(q->name, name, sizeof name) != 0)
        return NULL;
    cache_entry *e = cache_lookup(cr->cache, name, q->type, key_hash(name, q->type));
    return e != NULL ? e->answer : NULL;
}

static int cached_hold_state(void *impl, resolver_hold *out)
{
    cached_resolver *cr = impl;
    da_dns_cache *c = cr->cache;
    *out = (resolver_hold){.cache = c, .source = c->birth_ns, .generation = c->generation,
                           .stores = c->stores, .now_ms = cache_now(c)};
    return 0;
}

static const da_dns_answer *cached_pin(void *impl, const da_dns_question *q,
                                       uint64_t *expires_ms)
{
    cached_resolver *cr = impl;
    da_dns_cache *c = cr->cache;
    char name[256];
    if (dns_name_normalize(q->name, name, sizeof name) != 0)
        return NULL;
    cache_entry *e = entry_find(c, name, q->type, key_hash(name, q->type));
    if (e == NULL || e->expires_ms <= cache_now(c))
        return NULL;
    e->pinned = true;
    *expires_ms = e->expires_ms;
    return e->answer;
}

static int cached_submit(void *impl, const da_dns_question *q, da_resolver_callback callback,
                         void *arg)
{
    cached_resolver *cr = impl;
    da_dns_cache *c = cr->cache;
    char name[256];
    if (dns_name_normalize(q->name, name, sizeof name) != 0)
        return -1;
    uint64_t hash = key_hash(name, q->type);

    cache_entry *e = cache_lookup(c, name, q->type, hash);
    if (e != NULL) {
        callback(arg, q, e->answer);
        return 0;
    }

    cache_waiter *w = malloc(sizeof *w);
    if (w == NULL)
        return -1;
    w->next = NULL;
    w->callback = callback;
    w->arg = arg;
    inflight *f = inflight_find(c, name, q->type, hash);
    if (f != NULL) {
        c->stats.coalesced++;
        f->waiters_tail->next = w;
        f->waiters_tail = w;
        return 0;
    }
    c->stats.misses++;
    f = calloc(1, sizeof *f);
    if (f == NULL) {
        free(w);
        return -1;
    }
    memcpy(f->name, name, strlen(name) + 1);
    f->question.name = f->name;
    f->question.type = q->type;
    f->hash = hash;
    f->cache = c;
    f->waiters = f->waiters_tail = w;
    f->upstream = cr->upstream;
    inflight **slot = &c->inflight_buckets[hash & c->bucket_mask];
    f->hash_next = *slot;
    *slot = f;
    c->stats.in_flight++;
    if (c->upstream_active >= c->options.max_upstream) {
        if (c->queue_tail != NULL)
            c->queue_tail->queue_next = f;
        else
            c->queue_head = f;
        c->queue_tail = f;
        c->stats.queued++;
        return 0;
    }
    f->submitted = true;
    c->upstream_active++;
    if (da_resolver_submit(cr->upstream, &f->question, on_upstream_answer, f) != 0) {
        c->upstream_active--;
        inflight_unlink(c, f);
        free(w);
        free(f);
        return -1;
    }
    return 0;
}

static int cached_run(void *impl)
{
    return da_resolver_run(((cached_resolver *)impl)->upstream);
}

static void cached_destroy(void *impl)
{
    free(impl);
}

static const resolver_ops cached_resolver_ops = {
    .submit = cached_submit, .run = cached_run, .destroy = cached_destroy, .peek = cached_peek,
    .hold_state = cached_hold_state, .pin = cached_pin};

da_resolver *da_resolver_new_cached(da_dns_cache *cache, da_resolver *upstream)
{
    cached_resolver *cr = malloc(sizeof *cr);
    if (cr == NULL)
        return NULL;
    cr->cache = cache;
    cr->upstream = upstream;
    return resolver_wrap(&cached_resolver_ops, cr);
}
