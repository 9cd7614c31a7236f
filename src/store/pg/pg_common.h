/* pg_common.h: what the PostgreSQL event store and quarantine index share:
 * one connection with its parameters (made again when lost), errors in the
 * library's why form, text made valid UTF-8, and the lease row. Only
 * store/pg/ includes this. */
#ifndef DA_STORE_PG_COMMON_H
#define DA_STORE_PG_COMMON_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/strbuf.h"

typedef struct pg_link {
    PGconn *conn;     /* NULL before the first attempt */
    char *location;   /* the libpq URI */
    char *password;   /* from the password file, or NULL (libpq's own: PGPASSWORD, .pgpass) */
    unsigned timeout_ms; /* statement_timeout and lock_timeout of the session */
} pg_link;

/* Keeps the location, reads password_file (its first line; NULL: none).
 * Does not connect. */
int pg_link_init(pg_link *l, const char *location, const char *password_file,
                 unsigned timeout_ms, char *why, size_t why_size);
/* Connects when there is no good connection; *fresh when it made one
 * (its prepared statements are gone). */
int pg_link_ensure(pg_link *l, bool *fresh, char *why, size_t why_size);
void pg_link_close(pg_link *l);

/* libpq's last message without its newline. */
const char *pg_message(PGconn *c);
/* Runs a statement without parameters that returns no rows (or a row to
 * ignore). why may be NULL. */
int pg_exec(PGconn *c, const char *sql, char *why, size_t why_size);
/* "what failed: MESSAGE" from a result. Returns -1. */
int pg_result_error(const PGresult *res, const char *what, char *why, size_t why_size);
int pg_conn_error(PGconn *c, const char *what, char *why, size_t why_size);

/* Whether location is a libpq URI (postgresql:// or postgres://): what
 * every PostgreSQL backend claims. */
bool pg_claims_location(const char *location);
/* pg_link_ensure, failing as "PREFIX: connect: MESSAGE". */
int pg_link_connect(pg_link *l, const char *prefix, char *why, size_t why_size);
/* "PREFIX: what: MESSAGE" from res, which is cleared. Returns -1. */
int pg_fail_result(PGresult *res, const char *prefix, const char *what, char *why,
                   size_t why_size);
/* A text parameter: v made valid UTF-8 in sb (cleared first), or NULL when
 * v is NULL; *oom set when the buffer failed. */
const char *pg_param_text(strbuf *sb, const char *v, bool *oom);

/* Appends len bytes of s, each byte that is not part of well-formed UTF-8
 * as its Latin-1 reading (as the JSON lines write it), control characters
 * kept: a text column must be valid UTF-8. */
void pg_text_utf8(strbuf *out, const char *s, size_t len);

/* The lease of a cluster job (event_store.h, lease) in cluster_jobs. */
int pg_lease_row(PGconn *c, const char *job, const char *holder, int64_t now,
                 unsigned seconds, bool *granted, char *why, size_t why_size);
/* Who holds it (event_store.h, lease_holder). */
int pg_lease_holder_row(PGconn *c, const char *job, char *holder, size_t holder_size,
                        int64_t *until, char *why, size_t why_size);

#endif
