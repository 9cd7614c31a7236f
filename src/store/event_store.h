/* event_store.h: where events are kept. An interface with backends, as
 * OpenSMTPD's queue and table backends are: the event log's writer thread
 * appends batches through it, the readers (domauth log; later the web
 * console and reports) query, count and purge through it, and only a
 * backend knows its schema, its migrations and its query language. SQLite
 * (store/sqlite/) is the backend today; PostgreSQL, for many MTA nodes
 * sharing one history, is a second ops table beside it.
 *
 * Every function returns 0 on success and -1 on failure, with a message in
 * why (at most why_size bytes, NUL-terminated). A store handle is used by
 * one thread at a time. */
#ifndef DA_STORE_EVENT_STORE_H
#define DA_STORE_EVENT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/event.h"

typedef enum event_store_access {
    EVENT_STORE_READ,  /* read only; the store must exist; an older schema is read as it is */
    EVENT_STORE_PURGE, /* read and delete old events; the schema is left as it is */
    EVENT_STORE_WRITE, /* created when missing, migrated to the current schema (see
                          upgrade_on_write), appended to */
} event_store_access;

typedef struct event_store_options {
    event_store_access access;
    unsigned busy_timeout_ms; /* how long to wait for a lock (0: 5000) */
    /* With EVENT_STORE_WRITE: an older schema is upgraded by the first
     * write (on the thread that writes) instead of by the open, which then
     * costs no more than for a current file. An upgrade may rewrite every
     * row (seconds per million); a failed one fails that write, and the
     * next write tries again. A new file is always made by the open. */
    bool upgrade_on_write;
    /* A backend with a server (PostgreSQL): a file whose first line is the
     * password (NULL or "": none, libpq's own PGPASSWORD or ~/.pgpass). */
    const char *password_file;
} event_store_options;

/* Which events: every filter that is set must match. */
typedef struct event_query {
    bool have_since, have_until;
    int64_t since, until;         /* since <= time < until */
    /* Without method: results and domain apply to the SPF columns (result,
     * domain). With method: to one entry of the results vector of that
     * method (compared without case), which must exist. */
    const char *method;
    const char *const *results;   /* one of these results */
    size_t result_count;
    const char *domain;           /* this domain, compared without case */
    const char *client_ip;        /* exactly this address, as the MTA gave it */
    /* Or a network, "192.0.2.0/24" or "2001:db8::/32" (the caller checks
     * its form with event_query_network_valid). */
    const char *client_net;
    const char *const *actions;   /* action or held_action is one of these */
    size_t action_count;
    bool skipped;                 /* only events with a skip_reason */
    const char *node;             /* only this node's events (exactly) */
    /* Searches: the text anywhere in the field, without case (a scan). */
    const char *sender;           /* in MAIL FROM or in From: */
    const char *rcpt;             /* in a recipient's address */
    const char *held_action;      /* held_action is exactly this */
    int64_t id;                   /* only the event of this id (0: any) */
    /* Keyset paging: only the events after (before_time, before_id) in the
     * newest-first order, i.e. time < before_time, or the same time and
     * id < before_id; the next page starts after the last row shown, at
     * the same cost at any depth. Optional for a backend: one without it
     * fails the query ("paging not supported"). */
    bool have_before;
    int64_t before_time, before_id;
    uint64_t limit;               /* at most this many, newest first (0: all) */
} event_query;

/* Called for each event of a query, newest first. The record and its
 * strings are valid during the call only. A nonzero return stops the
 * query (which still returns 0). */
typedef int event_row_fn(void *ctx, int64_t id, const event_record *record);

typedef struct event_count {
    char *label;
    uint64_t count;
} event_count;

/* Labels and counts, the largest count first (then by label). */
typedef struct event_counts {
    event_count *items;
    size_t count;
} event_counts;

/* Counts over the events a query selects (its limit does not apply). */
typedef struct event_summary {
    uint64_t events;
    int64_t first, last;  /* the oldest and newest time, when events > 0 */
    event_counts results; /* per SPF result; "skipped: REASON" when skipped; "-" */
    event_counts actions; /* per action */
    event_counts held;    /* per held_action, among the events that have one */
    event_counts methods; /* per "method=result" over the entries of the results
                             vectors (only the query's method when it has one) */
} event_summary;

void event_summary_free(event_summary *summary);

typedef struct event_store event_store;

/* A backend. location is what the configuration's database key holds. */
typedef struct event_store_ops {
    const char *name;
    /* Whether location is for this backend ("postgresql://..." is not SQLite's). */
    bool (*claims)(const char *location);
    event_store *(*open)(const char *location, const event_store_options *options, char *why,
                         size_t why_size);
    /* Appends the records in one transaction: all are kept, or none. */
    int (*write)(event_store *store, const event_record *const *records, size_t count,
                 char *why, size_t why_size);
    int (*query)(event_store *store, const event_query *query, event_row_fn *fn, void *ctx,
                 char *why, size_t why_size);
    int (*summary)(event_store *store, const event_query *query, event_summary *summary,
                   char *why, size_t why_size);
    /* Optional (NULL: not supported): how many events the query selects
     * (its limit does not apply), without the summary's group counts; what
     * a chart's buckets cost one indexed range count each. */
    int (*count)(event_store *store, const event_query *query, uint64_t *count, char *why,
                 size_t why_size);
    /* Deletes the events before a time, in short transactions so that a
     * writer waits little; *deleted counts them, also when it fails midway. */
    int (*purge)(event_store *store, int64_t before, uint64_t *deleted, char *why,
                 size_t why_size);
    void (*close)(event_store *store);
    /* Optional (NULL: one host, every lease granted). Takes or renews the
     * lease of a job that one node of a cluster runs at a time (the purge,
     * the DMARC report sender): *granted when holder now holds job until
     * now + seconds, because nobody held it, the lease had ended, or holder
     * held it already. Needs EVENT_STORE_PURGE or EVENT_STORE_WRITE. */
    int (*lease)(event_store *store, const char *job, const char *holder, int64_t now,
                 unsigned seconds, bool *granted, char *why, size_t why_size);
    /* Optional: the schema version of the store as opened (0: not known
     * yet, a server not reached) and the one this code writes. */
    void (*schema_version)(event_store *store, int *have, int *current);
    /* Optional (NULL: not known): who holds the lease of job and until
     * when, to say so to whom it was refused; holder "" (and *until 0)
     * when nobody ever took it. At most holder_size bytes, NUL-terminated. */
    int (*lease_holder)(event_store *store, const char *job, char *holder, size_t holder_size,
                        int64_t *until, char *why, size_t why_size);
    /* Optional (NULL: the summary's): the summary's methods counts alone,
     * without its other group counts (a chart of results per method). */
    int (*methods)(event_store *store, const event_query *query, event_counts *methods,
                   char *why, size_t why_size);
} event_store_ops;

/* The head of every backend's handle. */
struct event_store {
    const event_store_ops *ops;
};

extern const event_store_ops event_store_sqlite;
/* In a build with libpq (meson -Dpostgresql, on when libpq is found). */
extern const event_store_ops event_store_pg;
/* Whether this build has the PostgreSQL backend. */
bool event_store_have_pg(void);

/* Opens location with the first backend that claims it. NULL on failure,
 * with why. On success why is empty, or holds a warning (a schema newer
 * than this code's, read anyway). */
event_store *event_store_open(const char *location, const event_store_options *options,
                              char *why, size_t why_size);
int event_store_write(event_store *store, const event_record *const *records, size_t count,
                      char *why, size_t why_size);
int event_store_query(event_store *store, const event_query *query, event_row_fn *fn,
                      void *ctx, char *why, size_t why_size);
int event_store_summary(event_store *store, const event_query *query, event_summary *summary,
                        char *why, size_t why_size);
/* The count op, or the summary's event count for a backend without one. */
int event_store_count(event_store *store, const event_query *query, uint64_t *count, char *why,
                      size_t why_size);
/* The methods op, or the summary's methods counts for a backend without
 * one; free with event_counts_free. */
int event_store_methods(event_store *store, const event_query *query, event_counts *methods,
                        char *why, size_t why_size);
void event_counts_free(event_counts *counts);
int event_store_purge(event_store *store, int64_t before, uint64_t *deleted, char *why,
                      size_t why_size);
void event_store_close(event_store *store);
/* The backend's lease op, or granted when it has none. */
int event_store_lease(event_store *store, const char *job, const char *holder, int64_t now,
                      unsigned seconds, bool *granted, char *why, size_t why_size);

/* The backend's lease_holder op; holder "" when it has none. */
int event_store_lease_holder(event_store *store, const char *job, char *holder,
                             size_t holder_size, int64_t *until, char *why, size_t why_size);

/* Whether text is ADDRESS/PREFIX (IPv4 up to /32, IPv6 up to /128). */
bool event_query_network_valid(const char *text);
/* Whether the address text ip is in the network text net (both as above;
 * an IPv4-mapped IPv6 address counts as IPv4). */
bool event_ip_in_network(const char *ip, const char *net);

#endif
