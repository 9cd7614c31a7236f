/* record_cache.c: parsed SPF records shared between evaluations, keyed by
 * the record's exact text, so a hot domain is parsed once. Entries are
 * reference-counted: eviction only unlinks them; the last reference frees. */
#include "record_cache.h"

#include "compiled.h"

#include <stdlib.h>
#include <string.h>

#include "util/arena.h"
#include "util/lru.h"

struct spf_cached_record {
    spf_cached_record *hash_next;
    lru_node lru;
    uint64_t hash;
    unsigned refs; /* the cache's own reference counts as one */
    arena memory;
    const spf_record *record;
    const char *problem;
    size_t text_len;
    char text[];
};

struct da_spf_record_cache {
    spf_cached_record **buckets;
    size_t mask, count, max;
    lru_list lru;
    uint64_t hits, parses;
    spf_policy_table *policies; /* compiled policies, keyed by domain */
    bool compiled;              /* da_spf_record_cache_set_compiled */
};

static uint64_t text_hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

da_spf_record_cache *da_spf_record_cache_new(size_t max_records)
{
    da_spf_record_cache *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->max = max_records ? max_records : 10000;
    size_t n = 64;
    while (n < c->max && n < ((size_t)1 << 22))
        n *= 2;
    c->buckets = calloc(n, sizeof *c->buckets);
    if (c->buckets == NULL) {
        free(c);
        return NULL;
    }
    c->mask = n - 1;
    c->policies = spf_policy_table_new(c->max);
    if (c->policies == NULL) {
        free(c->buckets);
        free(c);
        return NULL;
    }
    c->compiled = true;
    return c;
}

static void entry_destroy(spf_cached_record *e)
{
    arena_free(&e->memory);
    free(e);
}

void spf_record_cache_release(spf_cached_record *e)
{
    if (e != NULL && --e->refs == 0)
        entry_destroy(e);
}

/* Drops the cache's reference; evaluations still holding one keep it. */
static void evict(da_spf_record_cache *c, spf_cached_record *e)
{
    spf_cached_record **slot = &c->buckets[e->hash & c->mask];
    while (*slot != e)
        slot = &(*slot)->hash_next;
    *slot = e->hash_next;
    lru_unlink(&c->lru, &e->lru);
    c->count--;
    spf_record_cache_release(e);
}

void da_spf_record_cache_free(da_spf_record_cache *c)
{
    if (c == NULL)
        return;
    while (c->lru.head != NULL)
        evict(c, LRU_ENTRY(c->lru.head, spf_cached_record, lru));
    spf_policy_table_free(c->policies);
    free(c->buckets);
    free(c);
}

void da_spf_record_cache_stats(const da_spf_record_cache *c, uint64_t *hits, uint64_t *parses)
{
    *hits = c->hits;
    *parses = c->parses;
}

void da_spf_record_cache_set_compiled(da_spf_record_cache *c, bool enabled)
{
    c->compiled = enabled;
}

void da_spf_record_cache_compiled_stats(const da_spf_record_cache *c, da_spf_compiled_stats *out)
{
    spf_policy_table_stats(c->policies, out);
}

struct spf_policy_table *spf_record_cache_policies(da_spf_record_cache *c)
{
    return c->compiled ? c->policies : NULL;
}

spf_cached_record *spf_record_cache_get(da_spf_record_cache *c, const char *text, size_t len,
                                        const spf_record **record, const char **problem)
{
    uint64_t hash = text_hash(text, len);
    for (spf_cached_record *e = c->buckets[hash & c->mask]; e; e = e->hash_next) {
        if (e->hash == hash && e->text_len == len && memcmp(e->text, text, len) == 0) {
            c->hits++;
            lru_touch(&c->lru, &e->lru);
            e->refs++;
            *record = e->record;
            *problem = e->problem;
            return e;
        }
    }
    spf_cached_record *e = calloc(1, sizeof *e + len + 1);
    if (e == NULL)
        return NULL;
    arena_init(&e->memory);
    memcpy(e->text, text, len);
    e->text_len = len;
    e->hash = hash;
    c->parses++;
    char err[512];
    spf_record *parsed = NULL;
    if (spf_record_parse_any(&e->memory, e->text, len, &parsed, err, sizeof err) != 0) {
        e->problem = arena_strdup(&e->memory, err);
        if (e->problem == NULL) {
            entry_destroy(e);
            return NULL;
        }
    }
    e->record = parsed;
    e->refs = 2; /* the cache's and the caller's */
    spf_cached_record **slot = &c->buckets[hash & c->mask];
    e->hash_next = *slot;
    *slot = e;
    lru_push_front(&c->lru, &e->lru);
    c->count++;
    while (c->count > c->max && c->lru.tail != NULL && c->lru.tail != &e->lru)
        evict(c, LRU_ENTRY(c->lru.tail, spf_cached_record, lru));
    *record = e->record;
    *problem = e->problem;
    return e;
}
