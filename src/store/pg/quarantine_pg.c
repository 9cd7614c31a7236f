/* quarantine_pg.c: the quarantine index in the PostgreSQL event database
 * (the quarantine table of schema_pg.h), for many nodes: the messages are
 * files in a directory every node mounts at the same path, the rows here,
 * so a message quarantined by one node is listed, released and deleted
 * from any. The event store's open makes the schema; this file only reads
 * and writes the table, every value a parameter. A writer opens while the
 * server is away (its adds then fail: the message stays in the spool,
 * listed as not indexed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_common.h"
#include "store/event_read.h"
#include "store/event_store.h"
#include "store/quarantine_store.h"
#include "util/errbuf.h"
#include "util/json.h"
#include "util/strbuf.h"

enum { EXPIRE_CHUNK = 1000, TIMEOUT_MS = 5000, ARRAY_MAX = 100000 };

typedef struct pg_index {
    quarantine_index base;
    pg_link link;
    bool write;
} pg_index;

static int fail(const char *what, const char *message, char *why, size_t why_size)
{
    return errbuf_set(why, why_size, "quarantine index: %s: %s", what, message);
}

static int result_fail(PGresult *res, const char *what, char *why, size_t why_size)
{
    return pg_fail_result(res, "quarantine index", what, why, why_size);
}

static int connected(pg_index *x, char *why, size_t why_size)
{
    return pg_link_connect(&x->link, "quarantine index", why, why_size);
}

static void close_index(quarantine_index *base)
{
    pg_index *x = (pg_index *)base;
    if (x == NULL)
        return;
    pg_link_close(&x->link);
    free(x);
}

static quarantine_index *open_index(const char *location, bool write, const char *password_file,
                                    char *why, size_t why_size)
{
    pg_index *x = calloc(1, sizeof *x);
    if (x == NULL) {
        errbuf_set(why, why_size, "out of memory");
        return NULL;
    }
    x->base.ops = &quarantine_index_pg;
    x->write = write;
    if (pg_link_init(&x->link, location, password_file, TIMEOUT_MS, why, why_size) != 0) {
        close_index(&x->base);
        return NULL;
    }
    if (write) {
        /* The event store owns the schema: its writer's open makes it (or
         * does nothing while the server is away). */
        event_store_options o = {.access = EVENT_STORE_WRITE, .password_file = password_file};
        char message[512];
        event_store *es = event_store_open(location, &o, message, sizeof message);
        if (es == NULL) {
            errbuf_set(why, why_size, "%s", message);
            close_index(&x->base);
            return NULL;
        }
        event_store_close(es);
        return &x->base;
    }
    if (connected(x, why, why_size) != 0) {
        close_index(&x->base);
        return NULL;
    }
    PGresult *res = PQexec(x->link.conn, "SELECT 1 FROM quarantine LIMIT 1");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        result_fail(res, "no quarantine table (domauthd makes it)", why, why_size);
        close_index(&x->base);
        return NULL;
    }
    PQclear(res);
    return &x->base;
}

static void json_array(strbuf *sb, const char *const *items, size_t n)
{
    strbuf_clear(sb);
    strbuf_putc(sb, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            strbuf_putc(sb, ',');
        json_strbuf(sb, items[i]);
    }
    strbuf_putc(sb, ']');
}

#define INSERT_COLUMNS                                                                    \
    "INSERT INTO quarantine (id, path, time, sender, rcpts, domain, results, reasons,"    \
    " told, queue_id, client_ip, size, state, state_time) VALUES ($1, $2, $3, $4,"        \
    " $5::jsonb, $6, $7::jsonb, $8, $9, $10, $11, $12, $13, $14)"

/* sql: INSERT_COLUMNS and its ON CONFLICT clause; *added (when not NULL):
 * a row was written. */
static int insert_row(pg_index *x, const char *sql, const quarantine_row *r, bool *added,
                      char *why, size_t why_size)
{
    if (connected(x, why, why_size) != 0)
        return -1;
    enum { N = 14 };
    strbuf text[N];
    for (int i = 0; i < N; i++)
        strbuf_init(&text[i]);
    char when[24], size[24], state_time[24];
    snprintf(when, sizeof when, "%lld", (long long)r->time);
    snprintf(size, sizeof size, "%llu", (unsigned long long)r->size);
    snprintf(state_time, sizeof state_time, "%lld",
             (long long)(r->state_time ? r->state_time : r->time));
    bool oom = false;
    json_array(&text[4], r->rcpts, r->rcpt_count);
    json_array(&text[6], r->results, r->result_count);
    const char *params[N] = {
        pg_param_text(&text[0], r->id, &oom),
        pg_param_text(&text[1], r->path, &oom),
        when,
        pg_param_text(&text[3], r->sender, &oom),
        text[4].data,
        pg_param_text(&text[5], r->domain, &oom),
        text[6].data,
        pg_param_text(&text[7], r->reasons, &oom),
        pg_param_text(&text[8], r->told, &oom),
        pg_param_text(&text[9], r->queue_id, &oom),
        pg_param_text(&text[10], r->client_ip, &oom),
        size,
        r->state ? r->state : "quarantined", state_time,
    };
    for (int i = 0; i < N; i++)
        oom |= text[i].failed;
    int rc = 0;
    if (oom) {
        rc = errbuf_set(why, why_size, "out of memory");
    } else {
        PGresult *res = PQexecParams(x->link.conn, sql, N, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            rc = result_fail(res, "insert", why, why_size);
        } else {
            if (added != NULL)
                *added = strcmp(PQcmdTuples(res), "0") != 0;
            PQclear(res);
        }
    }
    for (int i = 0; i < N; i++)
        strbuf_free(&text[i]);
    return rc;
}

static int add_row(quarantine_index *base, const quarantine_row *r, char *why, size_t why_size)
{
    return insert_row((pg_index *)base,
                      INSERT_COLUMNS
                      " ON CONFLICT (id) DO UPDATE SET path = excluded.path, time = excluded.time,"
                      " sender = excluded.sender, rcpts = excluded.rcpts, domain = excluded.domain,"
                      " results = excluded.results, reasons = excluded.reasons, told = excluded.told,"
                      " queue_id = excluded.queue_id, client_ip = excluded.client_ip,"
                      " size = excluded.size, state = excluded.state,"
                      " state_time = excluded.state_time, state_by = NULL",
                      r, NULL, why, why_size);
}

static int add_missing(quarantine_index *base, const quarantine_row *r, bool *added, char *why,
                       size_t why_size)
{
    return insert_row((pg_index *)base, INSERT_COLUMNS " ON CONFLICT (id) DO NOTHING", r, added,
                      why, why_size);
}

static void free_list(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

static const char *value(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

static int query_rows(quarantine_index *base, const quarantine_query *q, quarantine_row_fn *fn,
                      void *ctx, char *why, size_t why_size)
{
    pg_index *x = (pg_index *)base;
    if (connected(x, why, why_size) != 0)
        return -1;
    /* As SQLite's: each filter "$N IS NULL OR ...", one statement for all. */
    static const char sql[] =
        "SELECT id, path, time, sender, rcpts, domain, results, reasons, told, queue_id,"
        " client_ip, size, state, state_time, state_by FROM quarantine WHERE"
        " ($1::bigint IS NULL OR time >= $1::bigint)"
        " AND ($2::text IS NULL OR id = $2)"
        " AND ($3::text IS NULL OR lower(domain) = lower($3))"
        " AND ($4::text IS NULL OR EXISTS (SELECT 1 FROM jsonb_array_elements_text(results)"
        " AS r(v) WHERE r.v = $4 OR substr(r.v, strpos(r.v, '=') + 1) = $4))"
        " AND ($5::text IS NULL OR EXISTS (SELECT 1 FROM jsonb_array_elements_text(rcpts)"
        " AS t(v) WHERE lower(t.v) = lower($5)))"
        " AND ($6 = 'all' OR state = $6)"
        " ORDER BY time DESC, id DESC LIMIT $7::bigint";
    char since[24], limit[24];
    snprintf(since, sizeof since, "%lld", (long long)q->since);
    snprintf(limit, sizeof limit, "%llu", (unsigned long long)q->limit);
    const char *params[7] = {q->have_since ? since : NULL, q->id, q->domain, q->result, q->rcpt,
                             q->state ? q->state : "quarantined", q->limit ? limit : NULL};
    PGresult *res = PQexecParams(x->link.conn, sql, 7, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return result_fail(res, "query", why, why_size);
    int rows = PQntuples(res), rc = 0;
    for (int i = 0; i < rows; i++) {
        char **rcpts, **results;
        size_t nr, nres;
        char message[300];
        if (event_read_strings(PQgetvalue(res, i, 4), ARRAY_MAX, &rcpts, &nr, message,
                               sizeof message) != 0) {
            rc = fail("reading rcpts", message, why, why_size);
            break;
        }
        if (event_read_strings(PQgetvalue(res, i, 6), ARRAY_MAX, &results, &nres, message,
                               sizeof message) != 0) {
            free_list(rcpts, nr);
            rc = fail("reading results", message, why, why_size);
            break;
        }
        quarantine_row r = {
            .id = value(res, i, 0),
            .path = value(res, i, 1),
            .time = strtoll(PQgetvalue(res, i, 2), NULL, 10),
            .sender = value(res, i, 3),
            .rcpts = (const char *const *)rcpts,
            .rcpt_count = nr,
            .domain = value(res, i, 5),
            .results = (const char *const *)results,
            .result_count = nres,
            .reasons = value(res, i, 7),
            .told = value(res, i, 8),
            .queue_id = value(res, i, 9),
            .client_ip = value(res, i, 10),
            .size = strtoull(PQgetvalue(res, i, 11), NULL, 10),
            .state = value(res, i, 12),
            .state_time = strtoll(PQgetvalue(res, i, 13), NULL, 10),
            .state_by = value(res, i, 14),
        };
        int stop = fn(ctx, &r);
        free_list(rcpts, nr);
        free_list(results, nres);
        if (stop)
            break;
    }
    PQclear(res);
    return rc;
}

/* UPDATE ... WHERE id = $3 [AND state = $5] RETURNING id: *changed when a
 * row was. */
static int update_state(pg_index *x, const char *id, const char *from, const char *to,
                        int64_t when, const char *by, bool *changed, char *why, size_t why_size)
{
    *changed = false;
    if (connected(x, why, why_size) != 0)
        return -1;
    char at[24];
    snprintf(at, sizeof at, "%lld", (long long)when);
    const char *params[5] = {to, at, id, by, from};
    PGresult *res = PQexecParams(x->link.conn,
                                 from != NULL
                                     ? "UPDATE quarantine SET state = $1, state_time = $2,"
                                       " state_by = $4 WHERE id = $3 AND state = $5 RETURNING id"
                                     : "UPDATE quarantine SET state = $1, state_time = $2,"
                                       " state_by = $4 WHERE id = $3 RETURNING id",
                                 from != NULL ? 5 : 4, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return result_fail(res, "update", why, why_size);
    *changed = PQntuples(res) > 0;
    PQclear(res);
    return 0;
}

static int set_state(quarantine_index *base, const char *id, const char *state, int64_t when,
                     const char *by, bool *found, char *why, size_t why_size)
{
    return update_state((pg_index *)base, id, NULL, state, when, by, found, why, why_size);
}

static int change_state(quarantine_index *base, const char *id, const char *from,
                        const char *to, int64_t when, const char *by, bool *moved, char *why,
                        size_t why_size)
{
    return update_state((pg_index *)base, id, from, to, when, by, moved, why, why_size);
}

/* In chunks, each one transaction. FOR UPDATE SKIP LOCKED: two nodes
 * purging at once take different rows. A row whose file would not go stays
 * quarantined. */
static int expire(quarantine_index *base, int64_t before, uint64_t limit, int64_t when,
                  quarantine_remove_fn *remove, void *ctx, uint64_t *removed, char *why,
                  size_t why_size)
{
    pg_index *x = (pg_index *)base;
    *removed = 0;
    if (connected(x, why, why_size) != 0)
        return -1;
    PGconn *c = x->link.conn;
    char before_text[24], when_text[24];
    snprintf(before_text, sizeof before_text, "%lld", (long long)before);
    snprintf(when_text, sizeof when_text, "%lld", (long long)when);
    uint64_t failed_files = 0;
    for (;;) {
        uint64_t want = EXPIRE_CHUNK;
        if (limit && limit - *removed < want)
            want = limit - *removed;
        if (want == 0)
            return 0;
        char count[24];
        snprintf(count, sizeof count, "%llu", (unsigned long long)(want + failed_files));
        char message[512];
        if (pg_exec(c, "BEGIN", message, sizeof message) != 0)
            return fail("purge", message, why, why_size);
        const char *pick_params[2] = {before_text, count};
        PGresult *pick = PQexecParams(c,
                                      "SELECT id, path FROM quarantine WHERE state = 'quarantined'"
                                      " AND time < $1::bigint ORDER BY time, id LIMIT $2::bigint"
                                      " FOR UPDATE SKIP LOCKED",
                                      2, NULL, pick_params, NULL, NULL, 0);
        if (PQresultStatus(pick) != PGRES_TUPLES_OK) {
            pg_exec(c, "ROLLBACK", NULL, 0);
            return result_fail(pick, "purge", why, why_size);
        }
        uint64_t got = (uint64_t)PQntuples(pick), skipped = 0;
        for (int i = 0; i < PQntuples(pick); i++) {
            if (remove(ctx, PQgetvalue(pick, i, 1)) != 0) {
                skipped++;
                continue;
            }
            const char *mark_params[2] = {when_text, PQgetvalue(pick, i, 0)};
            PGresult *mark = PQexecParams(c,
                                          "UPDATE quarantine SET state = 'deleted',"
                                          " state_time = $1::bigint, state_by = 'purge'"
                                          " WHERE id = $2",
                                          2, NULL, mark_params, NULL, NULL, 0);
            if (PQresultStatus(mark) != PGRES_COMMAND_OK) {
                PQclear(pick);
                pg_exec(c, "ROLLBACK", NULL, 0);
                return result_fail(mark, "purge", why, why_size);
            }
            PQclear(mark);
            (*removed)++;
        }
        PQclear(pick);
        if (pg_exec(c, "COMMIT", message, sizeof message) != 0)
            return fail("purge", message, why, why_size);
        failed_files = skipped;
        if (got - skipped == 0 || got < want + failed_files)
            return 0;
    }
}

const quarantine_index_ops quarantine_index_pg = {
    .name = "postgresql",
    .claims = pg_claims_location,
    .open = open_index,
    .add = add_row,
    .query = query_rows,
    .set_state = set_state,
    .expire = expire,
    .close = close_index,
    .change_state = change_state,
    .add_missing = add_missing,
};
