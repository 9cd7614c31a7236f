/* report_sqlite.c: the ledger of DMARC aggregate reports in the SQLite
 * event database (the dmarc_reports table of schema version 7, schema.h).
 * The event store's open makes and migrates the file; this file only
 * reads and writes the table, every value a bound parameter. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema.h"
#include "sqlite_common.h"
#include "store/event_store.h"
#include "store/report_store.h"
#include "util/errbuf.h"

enum { BUSY_MS = 5000 };

typedef struct sqlite_ledger {
    report_ledger base;
    sqlite3 *db;
} sqlite_ledger;

static int fail(sqlite_ledger *l, const char *what, char *why, size_t why_size)
{
    errbuf_set(why, why_size, "report ledger: %s: %s", what, sqlite3_errmsg(l->db));
    return -1;
}

static void close_ledger(report_ledger *base)
{
    sqlite_ledger *l = (sqlite_ledger *)base;
    if (l == NULL)
        return;
    sqlite3_close(l->db);
    free(l);
}

static report_ledger *open_ledger(const char *location, bool write, const char *password_file,
                                  char *why, size_t why_size)
{
    (void)password_file; /* a file has none */
    sqlite3 *db = sqlite_open_table(location, write, 7 /* the version that made dmarc_reports */,
                                    "report ledger",
                                    "a write by domauthd or domauth dmarc report makes it",
                                    BUSY_MS, why, why_size);
    if (db == NULL)
        return NULL;
    sqlite_ledger *l = calloc(1, sizeof *l);
    if (l == NULL) {
        sqlite3_close(db);
        errbuf_set(why, why_size, "out of memory");
        return NULL;
    }
    l->base.ops = &report_ledger_sqlite;
    l->db = db;
    return &l->base;
}

static int get_row(report_ledger *base, const char *report_id, const char *destination,
                   bool *found, bool *sent, unsigned *attempts, char *why, size_t why_size)
{
    sqlite_ledger *l = (sqlite_ledger *)base;
    sqlite3_stmt *st;
    *found = *sent = false;
    *attempts = 0;
    if (sqlite3_prepare_v2(l->db,
                           "SELECT state, attempts FROM dmarc_reports"
                           " WHERE report_id = ?1 AND destination = ?2",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(l, "prepare", why, why_size);
    sqlite3_bind_text(st, 1, report_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, destination, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *state = sqlite3_column_text(st, 0);
        *found = true;
        *sent = state != NULL && strcmp((const char *)state, "sent") == 0;
        int n = sqlite3_column_int(st, 1);
        *attempts = n > 0 ? (unsigned)n : 0;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return fail(l, "select", why, why_size);
    return 0;
}

static int record_attempt(report_ledger *base, const report_ledger_row *a, char *why,
                          size_t why_size)
{
    sqlite_ledger *l = (sqlite_ledger *)base;
    sqlite3_stmt *st;
    /* A row that says sent stays sent: only a failed one is tried again. */
    if (sqlite3_prepare_v2(l->db,
                           "INSERT INTO dmarc_reports (report_id, destination, policy_domain,"
                           " period_begin, period_end, state, attempts, last_error, time)"
                           " VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?8)"
                           " ON CONFLICT (report_id, destination) DO UPDATE SET"
                           " state = excluded.state, attempts = attempts + 1,"
                           " last_error = excluded.last_error, time = excluded.time"
                           " WHERE state <> 'sent'",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(l, "prepare", why, why_size);
    sqlite3_bind_text(st, 1, a->report_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, a->destination, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, a->policy_domain, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, a->begin);
    sqlite3_bind_int64(st, 5, a->end);
    sqlite3_bind_text(st, 6, a->state, -1, SQLITE_STATIC);
    if (a->last_error != NULL)
        sqlite3_bind_text(st, 7, a->last_error, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 7);
    sqlite3_bind_int64(st, 8, a->time);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : fail(l, "insert", why, why_size);
}

static int list_rows(report_ledger *base, int64_t since, report_ledger_fn *fn, void *ctx,
                     char *why, size_t why_size)
{
    sqlite_ledger *l = (sqlite_ledger *)base;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(l->db,
                           "SELECT report_id, policy_domain, destination, period_begin,"
                           " period_end, state, attempts, last_error, time FROM dmarc_reports"
                           " WHERE time >= ?1 ORDER BY time DESC, report_id, destination",
                           -1, &st, NULL) != SQLITE_OK)
        return fail(l, "prepare", why, why_size);
    sqlite3_bind_int64(st, 1, since);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int n = sqlite3_column_int(st, 6);
        report_ledger_row row = {
            .report_id = (const char *)sqlite3_column_text(st, 0),
            .policy_domain = (const char *)sqlite3_column_text(st, 1),
            .destination = (const char *)sqlite3_column_text(st, 2),
            .begin = sqlite3_column_int64(st, 3),
            .end = sqlite3_column_int64(st, 4),
            .state = (const char *)sqlite3_column_text(st, 5),
            .attempts = n > 0 ? (unsigned)n : 0,
            .last_error = (const char *)sqlite3_column_text(st, 7),
            .time = sqlite3_column_int64(st, 8),
        };
        if (fn(ctx, &row) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : fail(l, "select", why, why_size);
}

const report_ledger_ops report_ledger_sqlite = {
    .name = "sqlite",
    .claims = sqlite_claims_location,
    .open = open_ledger,
    .get = get_row,
    .record = record_attempt,
    .list = list_rows,
    .close = close_ledger,
};
