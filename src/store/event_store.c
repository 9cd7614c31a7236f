/* event_store.c: see event_store.h. The backends this build has, and the
 * calls that go through their ops tables. */
#include "store/event_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/ip.h"

static const event_store_ops *const backends[] = {
    &event_store_sqlite,
#ifdef DOMAUTH_HAVE_PG
    &event_store_pg,
#endif
};

bool event_store_have_pg(void)
{
#ifdef DOMAUTH_HAVE_PG
    return true;
#else
    return false;
#endif
}

event_store *event_store_open(const char *location, const event_store_options *options,
                              char *why, size_t why_size)
{
    static const event_store_options defaults = {.access = EVENT_STORE_READ};
    if (why != NULL && why_size > 0)
        why[0] = '\0';
    if (options == NULL)
        options = &defaults;
    for (size_t i = 0; location != NULL && i < sizeof backends / sizeof backends[0]; i++)
        if (backends[i]->claims(location))
            return backends[i]->open(location, options, why, why_size);
    if (why != NULL && why_size > 0)
        snprintf(why, why_size, "%s: this build has no event store for such a location",
                 location ? location : "(none)");
    return NULL;
}

int event_store_write(event_store *store, const event_record *const *records, size_t count,
                      char *why, size_t why_size)
{
    return store->ops->write(store, records, count, why, why_size);
}

int event_store_query(event_store *store, const event_query *query, event_row_fn *fn,
                      void *ctx, char *why, size_t why_size)
{
    return store->ops->query(store, query, fn, ctx, why, why_size);
}

int event_store_summary(event_store *store, const event_query *query, event_summary *summary,
                        char *why, size_t why_size)
{
    return store->ops->summary(store, query, summary, why, why_size);
}

int event_store_count(event_store *store, const event_query *query, uint64_t *count, char *why,
                      size_t why_size)
{
    if (store->ops->count != NULL)
        return store->ops->count(store, query, count, why, why_size);
    event_summary summary;
    if (store->ops->summary(store, query, &summary, why, why_size) != 0)
        return -1;
    *count = summary.events;
    event_summary_free(&summary);
    return 0;
}

int event_store_methods(event_store *store, const event_query *query, event_counts *methods,
                        char *why, size_t why_size)
{
    *methods = (event_counts){0};
    if (store->ops->methods != NULL)
        return store->ops->methods(store, query, methods, why, why_size);
    event_summary summary;
    if (store->ops->summary(store, query, &summary, why, why_size) != 0)
        return -1;
    *methods = summary.methods; /* taken: the summary no longer holds it */
    summary.methods = (event_counts){0};
    event_summary_free(&summary);
    return 0;
}

void event_counts_free(event_counts *counts)
{
    for (size_t i = 0; i < counts->count; i++)
        free(counts->items[i].label);
    free(counts->items);
    counts->items = NULL;
    counts->count = 0;
}

int event_store_purge(event_store *store, int64_t before, uint64_t *deleted, char *why,
                      size_t why_size)
{
    return store->ops->purge(store, before, deleted, why, why_size);
}

int event_store_lease(event_store *store, const char *job, const char *holder, int64_t now,
                      unsigned seconds, bool *granted, char *why, size_t why_size)
{
    if (store->ops->lease == NULL) {
        *granted = true;
        return 0;
    }
    return store->ops->lease(store, job, holder, now, seconds, granted, why, why_size);
}

int event_store_lease_holder(event_store *store, const char *job, char *holder,
                             size_t holder_size, int64_t *until, char *why, size_t why_size)
{
    if (holder_size > 0)
        holder[0] = '\0';
    *until = 0;
    if (store->ops->lease_holder == NULL)
        return 0;
    return store->ops->lease_holder(store, job, holder, holder_size, until, why, why_size);
}

void event_store_close(event_store *store)
{
    if (store != NULL)
        store->ops->close(store);
}

void event_summary_free(event_summary *summary)
{
    event_counts *lists[] = {&summary->results, &summary->actions, &summary->held,
                             &summary->methods};
    for (size_t l = 0; l < sizeof lists / sizeof lists[0]; l++)
        event_counts_free(lists[l]);
}

/* "ADDRESS/PREFIX" into its address and prefix length. */
static bool parse_network(const char *text, ip_addr *net, unsigned *bits)
{
    const char *slash = text ? strchr(text, '/') : NULL;
    if (slash == NULL || !ip_parse(text, (size_t)(slash - text), net))
        return false;
    const char *p = slash + 1;
    unsigned v = 0;
    size_t digits = 0;
    for (; *p >= '0' && *p <= '9' && digits < 4; p++, digits++)
        v = v * 10 + (unsigned)(*p - '0');
    if (digits == 0 || *p != '\0' || v > (net->family == 4 ? 32u : 128u))
        return false;
    *bits = v;
    return true;
}

bool event_query_network_valid(const char *text)
{
    ip_addr net;
    unsigned bits;
    return parse_network(text, &net, &bits);
}

bool event_ip_in_network(const char *ip, const char *net_text)
{
    ip_addr a, net;
    unsigned bits;
    if (ip == NULL || !parse_network(net_text, &net, &bits) || !ip_parse(ip, strlen(ip), &a))
        return false;
    ip_unmap(&a);
    return a.family == net.family && ip_prefix_equal(a.bytes, net.bytes, bits);
}
