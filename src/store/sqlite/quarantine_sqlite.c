/* quarantine_sqlite.c: the quarantine index in the SQLite event database
 * (the quarantine table of schema version 3, schema.h). The event store's
 * open makes and migrates the file; this file only reads and writes the
 * table, every value a bound parameter. */
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema.h"
#include "sqlite_common.h"
#include "store/event_store.h"
#include "store/quarantine_store.h"
#include "util/errbuf.h"
#include "util/json.h"
#include "util/strbuf.h"

enum { EXPIRE_CHUNK = 1000, BUSY_MS = 5000 };

typedef struct sqlite_index {
    quarantine_index base;
    sqlite3 *db;
    sqlite3_stmt *insert;
    sqlite3_stmt *insert_missing; /* the same, or nothing when the id has a row */
} sqlite_index;

static int fail(sqlite_index *x, const char *what, char *why, size_t why_size)
{
    errbuf_set(why, why_size, "quarantine index: %s: %s", what, sqlite3_errmsg(x->db));
    return -1;
}

static void close_index(quarantine_index *base)
{
    sqlite_index *x = (sqlite_index *)base;
    if (x == NULL)
        return;
    sqlite3_finalize(x->insert);
    sqlite3_finalize(x->insert_missing);
    sqlite3_close(x->db);
    free(x);
}

#define INSERT_COLUMNS                                                                    \
    " INTO quarantine (id, path, time, sender, rcpts, domain, results, reasons, told,"    \
    " queue_id, client_ip, size, state, state_time) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7,"  \
    " ?8, ?9, ?10, ?11, ?12, ?13, ?14)"

static quarantine_index *open_index(const char *location, bool write, const char *password_file,
                                    char *why, size_t why_size)
{
    (void)password_file;
    sqlite3 *db = sqlite_open_table(location, write, 3, "quarantine index", "domauthd makes it",
                                    BUSY_MS, why, why_size);
    if (db == NULL)
        return NULL;
    sqlite_index *x = calloc(1, sizeof *x);
    if (x == NULL) {
        sqlite3_close(db);
        errbuf_set(why, why_size, "out of memory");
        return NULL;
    }
    x->base.ops = &quarantine_index_sqlite;
    x->db = db;
    /* The spool file is what must survive a power cut (it is synced); the
     * index can be rebuilt from it, so NORMAL is enough here too. */
    if (write && (sqlite3_exec(x->db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL",
                               NULL, NULL, NULL) != SQLITE_OK ||
                  sqlite3_prepare_v3(x->db, "INSERT OR REPLACE" INSERT_COLUMNS, -1,
                                     SQLITE_PREPARE_PERSISTENT, &x->insert, NULL) != SQLITE_OK ||
                  sqlite3_prepare_v3(x->db, "INSERT OR IGNORE" INSERT_COLUMNS, -1,
                                     SQLITE_PREPARE_PERSISTENT, &x->insert_missing,
                                     NULL) != SQLITE_OK)) {
        fail(x, "prepare", why, why_size);
        close_index(&x->base);
        return NULL;
    }
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

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v == NULL)
        sqlite3_bind_null(st, i);
    else
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
}

static int insert_row(sqlite_index *x, sqlite3_stmt *st, const quarantine_row *r, bool *added,
                      char *why, size_t why_size)
{
    strbuf rcpts, results;
    strbuf_init(&rcpts);
    strbuf_init(&results);
    json_array(&rcpts, r->rcpts, r->rcpt_count);
    json_array(&results, r->results, r->result_count);
    if (rcpts.failed || results.failed) {
        strbuf_free(&rcpts);
        strbuf_free(&results);
        errbuf_set(why, why_size, "out of memory");
        return -1;
    }
    bind_text(st, 1, r->id);
    bind_text(st, 2, r->path);
    sqlite3_bind_int64(st, 3, r->time);
    bind_text(st, 4, r->sender);
    bind_text(st, 5, rcpts.data);
    bind_text(st, 6, r->domain);
    bind_text(st, 7, results.data);
    bind_text(st, 8, r->reasons);
    bind_text(st, 9, r->told);
    bind_text(st, 10, r->queue_id);
    bind_text(st, 11, r->client_ip);
    sqlite3_bind_int64(st, 12, (sqlite3_int64)r->size);
    bind_text(st, 13, r->state ? r->state : "quarantined");
    sqlite3_bind_int64(st, 14, r->state_time ? r->state_time : r->time);
    int rc = sqlite3_step(st);
    if (added != NULL)
        *added = rc == SQLITE_DONE && sqlite3_changes(x->db) > 0;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    strbuf_free(&rcpts);
    strbuf_free(&results);
    return rc == SQLITE_DONE ? 0 : fail(x, "insert", why, why_size);
}

static int add_row(quarantine_index *base, const quarantine_row *r, char *why, size_t why_size)
{
    sqlite_index *x = (sqlite_index *)base;
    return insert_row(x, x->insert, r, NULL, why, why_size);
}

static int add_missing(quarantine_index *base, const quarantine_row *r, bool *added, char *why,
                       size_t why_size)
{
    sqlite_index *x = (sqlite_index *)base;
    return insert_row(x, x->insert_missing, r, added, why, why_size);
}

/* A JSON array of strings, as add_row wrote it, into a list. */
static int read_array(sqlite_index *x, const char *json, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(x->db, "SELECT value FROM json_each(?1)", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, json ? json : "[]", -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        char **bigger = realloc(*out, (*n + 1) * sizeof *bigger);
        if (bigger == NULL || (bigger[*n] = strdup(v ? v : "")) == NULL) {
            if (bigger != NULL)
                *out = bigger;
            rc = SQLITE_NOMEM;
            break;
        }
        *out = bigger;
        (*n)++;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static void free_list(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

#define COLUMNS                                                                        \
    "id, path, time, sender, rcpts, domain, results, reasons, told, queue_id, client_ip," \
    " size, state, state_time, state_by"

static int query_rows(quarantine_index *base, const quarantine_query *q, quarantine_row_fn *fn,
                      void *ctx, char *why, size_t why_size)
{
    sqlite_index *x = (sqlite_index *)base;
    /* Constant fragments only; each filter is "?N IS NULL OR ...", so one
     * statement serves every combination. */
    static const char sql[] =
        "SELECT " COLUMNS " FROM quarantine WHERE"
        " (?1 IS NULL OR time >= ?1)"
        " AND (?2 IS NULL OR id = ?2)"
        " AND (?3 IS NULL OR domain = ?3)"
        " AND (?4 IS NULL OR EXISTS (SELECT 1 FROM json_each(results) AS r WHERE r.value = ?4"
        " OR substr(r.value, instr(r.value, '=') + 1) = ?4))"
        " AND (?5 IS NULL OR EXISTS (SELECT 1 FROM json_each(rcpts) AS t"
        " WHERE t.value = ?5 COLLATE NOCASE))"
        " AND (?6 = 'all' OR state = ?6)"
        " ORDER BY time DESC, id DESC LIMIT ?7";
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(x->db, sql, -1, &st, NULL) != SQLITE_OK)
        return fail(x, "query", why, why_size);
    if (q->have_since)
        sqlite3_bind_int64(st, 1, q->since);
    bind_text(st, 2, q->id);
    bind_text(st, 3, q->domain);
    bind_text(st, 4, q->result);
    bind_text(st, 5, q->rcpt);
    bind_text(st, 6, q->state ? q->state : "quarantined");
    sqlite3_bind_int64(st, 7, q->limit ? (sqlite3_int64)q->limit : -1);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        char **rcpts, **results;
        size_t nr, nres;
        if (read_array(x, (const char *)sqlite3_column_text(st, 4), &rcpts, &nr) != 0 ||
            read_array(x, (const char *)sqlite3_column_text(st, 6), &results, &nres) != 0) {
            sqlite3_finalize(st);
            return fail(x, "reading an array", why, why_size);
        }
        quarantine_row r = {
            .id = (const char *)sqlite3_column_text(st, 0),
            .path = (const char *)sqlite3_column_text(st, 1),
            .time = sqlite3_column_int64(st, 2),
            .sender = (const char *)sqlite3_column_text(st, 3),
            .rcpts = (const char *const *)rcpts,
            .rcpt_count = nr,
            .domain = (const char *)sqlite3_column_text(st, 5),
            .results = (const char *const *)results,
            .result_count = nres,
            .reasons = (const char *)sqlite3_column_text(st, 7),
            .told = (const char *)sqlite3_column_text(st, 8),
            .queue_id = (const char *)sqlite3_column_text(st, 9),
            .client_ip = (const char *)sqlite3_column_text(st, 10),
            .size = (uint64_t)sqlite3_column_int64(st, 11),
            .state = (const char *)sqlite3_column_text(st, 12),
            .state_time = sqlite3_column_int64(st, 13),
            .state_by = (const char *)sqlite3_column_text(st, 14),
        };
        int stop = fn(ctx, &r);
        free_list(rcpts, nr);
        free_list(results, nres);
        if (stop) {
            rc = SQLITE_DONE;
            break;
        }
    }
    if (rc != SQLITE_DONE) {
        fail(x, "query", why, why_size);
        sqlite3_finalize(st);
        return -1;
    }
    sqlite3_finalize(st);
    return 0;
}

static int set_state(quarantine_index *base, const char *id, const char *state, int64_t when,
                     const char *by, bool *found, char *why, size_t why_size)
{
    sqlite_index *x = (sqlite_index *)base;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(x->db,
                           "UPDATE quarantine SET state = ?1, state_time = ?2, state_by = ?4"
                           " WHERE id = ?3",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(x, "update", why, why_size);
    sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, when);
    sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
    bind_text(st, 4, by);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    *found = sqlite3_changes(x->db) > 0;
    return rc == SQLITE_DONE ? 0 : fail(x, "update", why, why_size);
}

static int change_state(quarantine_index *base, const char *id, const char *from,
                        const char *to, int64_t when, const char *by, bool *moved, char *why,
                        size_t why_size)
{
    sqlite_index *x = (sqlite_index *)base;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(x->db,
                           "UPDATE quarantine SET state = ?1, state_time = ?2, state_by = ?4"
                           " WHERE id = ?3 AND state = ?5",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(x, "update", why, why_size);
    sqlite3_bind_text(st, 1, to, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, when);
    sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
    bind_text(st, 4, by);
    sqlite3_bind_text(st, 5, from, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    *moved = rc == SQLITE_DONE && sqlite3_changes(x->db) > 0;
    return rc == SQLITE_DONE ? 0 : fail(x, "update", why, why_size);
}

/* In chunks, each one transaction: a chunk's files are removed, then its
 * rows marked; a row whose file could not be removed stays quarantined. */
static int expire(quarantine_index *base, int64_t before, uint64_t limit, int64_t when,
                  quarantine_remove_fn *remove, void *ctx, uint64_t *removed, char *why,
                  size_t why_size)
{
    sqlite_index *x = (sqlite_index *)base;
    *removed = 0;
    sqlite3_stmt *pick = NULL, *mark = NULL;
    int result = -1;
    if (sqlite3_prepare_v2(x->db,
                           "SELECT id, path FROM quarantine WHERE state = 'quarantined'"
                           " AND time < ?1 ORDER BY time, id LIMIT ?2",
                           -1, &pick, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(x->db,
                           "UPDATE quarantine SET state = 'deleted', state_time = ?1,"
                           " state_by = 'purge' WHERE id = ?2",
                           -1, &mark, NULL) != SQLITE_OK) {
        fail(x, "purge", why, why_size);
        goto out;
    }
    uint64_t failed_files = 0;
    for (;;) {
        uint64_t want = EXPIRE_CHUNK;
        if (limit && limit - *removed < want)
            want = limit - *removed;
        if (want == 0)
            break;
        if (sqlite3_exec(x->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
            fail(x, "purge", why, why_size);
            goto out;
        }
        sqlite3_bind_int64(pick, 1, before);
        /* Rows whose files would not go stay quarantined: skip past them. */
        sqlite3_bind_int64(pick, 2, (sqlite3_int64)(want + failed_files));
        uint64_t got = 0, skipped = 0;
        int rc;
        while ((rc = sqlite3_step(pick)) == SQLITE_ROW) {
            const char *id = (const char *)sqlite3_column_text(pick, 0);
            const char *path = (const char *)sqlite3_column_text(pick, 1);
            got++;
            if (remove(ctx, path) != 0) {
                skipped++;
                continue;
            }
            sqlite3_bind_int64(mark, 1, when);
            sqlite3_bind_text(mark, 2, id, -1, SQLITE_TRANSIENT);
            if (sqlite3_step(mark) != SQLITE_DONE) {
                sqlite3_reset(mark);
                rc = SQLITE_ERROR;
                break;
            }
            sqlite3_reset(mark);
            (*removed)++;
        }
        sqlite3_reset(pick);
        if (rc != SQLITE_DONE) {
            fail(x, "purge", why, why_size);
            sqlite3_exec(x->db, "ROLLBACK", NULL, NULL, NULL);
            goto out;
        }
        if (sqlite3_exec(x->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            fail(x, "purge", why, why_size);
            sqlite3_exec(x->db, "ROLLBACK", NULL, NULL, NULL);
            goto out;
        }
        failed_files = skipped;
        if (got - skipped == 0 || got < want + failed_files)
            break;
    }
    result = 0;
out:
    sqlite3_finalize(pick);
    sqlite3_finalize(mark);
    return result;
}

const quarantine_index_ops quarantine_index_sqlite = {
    .name = "sqlite",
    .claims = sqlite_claims_location,
    .open = open_index,
    .add = add_row,
    .query = query_rows,
    .set_state = set_state,
    .expire = expire,
    .close = close_index,
    .change_state = change_state,
    .add_missing = add_missing,
};
