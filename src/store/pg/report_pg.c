/* report_pg.c: the ledger of DMARC aggregate reports in the PostgreSQL
 * event database (the dmarc_reports table of schema_pg.h, version 4), one
 * ledger for every node of a cluster. The event store's open makes the
 * schema; this file only reads and writes the table, every value a
 * parameter. The answers are SQLite's (report_sqlite.c): a row that says
 * sent stays sent, which here holds between nodes too, since the upsert's
 * WHERE is evaluated on the row as locked by the conflict. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_common.h"
#include "store/event_store.h"
#include "store/report_store.h"
#include "util/errbuf.h"
#include "util/strbuf.h"

enum { TIMEOUT_MS = 5000 };

typedef struct pg_ledger {
    report_ledger base;
    pg_link link;
} pg_ledger;

static int result_fail(PGresult *res, const char *what, char *why, size_t why_size)
{
    return pg_fail_result(res, "report ledger", what, why, why_size);
}

static int connected(pg_ledger *l, char *why, size_t why_size)
{
    return pg_link_connect(&l->link, "report ledger", why, why_size);
}

static void close_ledger(report_ledger *base)
{
    pg_ledger *l = (pg_ledger *)base;
    if (l == NULL)
        return;
    pg_link_close(&l->link);
    free(l);
}

static report_ledger *open_ledger(const char *location, bool write, const char *password_file,
                                  char *why, size_t why_size)
{
    pg_ledger *l = calloc(1, sizeof *l);
    if (l == NULL) {
        errbuf_set(why, why_size, "out of memory");
        return NULL;
    }
    l->base.ops = &report_ledger_pg;
    if (pg_link_init(&l->link, location, password_file, TIMEOUT_MS, why, why_size) != 0) {
        close_ledger(&l->base);
        return NULL;
    }
    if (write) {
        /* The event store owns the schema: its writer's open brings it to
         * the version that has the ledger (under the schema lock). */
        event_store_options o = {.access = EVENT_STORE_WRITE, .password_file = password_file};
        char message[512] = "";
        event_store *es = event_store_open(location, &o, message, sizeof message);
        if (es == NULL) {
            errbuf_set(why, why_size, "%s", message);
            close_ledger(&l->base);
            return NULL;
        }
        event_store_close(es);
    }
    if (connected(l, why, why_size) != 0) {
        close_ledger(&l->base);
        return NULL;
    }
    PGresult *res = PQexec(l->link.conn, "SELECT 1 FROM dmarc_reports LIMIT 1");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        result_fail(res,
                    "no dmarc_reports table (a write by domauthd or domauth dmarc report "
                    "makes it)",
                    why, why_size);
        close_ledger(&l->base);
        return NULL;
    }
    PQclear(res);
    return &l->base;
}

static int get_row(report_ledger *base, const char *report_id, const char *destination,
                   bool *found, bool *sent, unsigned *attempts, char *why, size_t why_size)
{
    pg_ledger *l = (pg_ledger *)base;
    *found = *sent = false;
    *attempts = 0;
    if (connected(l, why, why_size) != 0)
        return -1;
    strbuf id, dest;
    strbuf_init(&id);
    strbuf_init(&dest);
    bool oom = false;
    const char *params[2] = {pg_param_text(&id, report_id, &oom), pg_param_text(&dest, destination, &oom)};
    int rc = 0;
    if (oom || params[0] == NULL || params[1] == NULL) {
        rc = errbuf_set(why, why_size, "out of memory");
    } else {
        PGresult *res = PQexecParams(l->link.conn,
                                     "SELECT state, attempts FROM dmarc_reports"
                                     " WHERE report_id = $1 AND lower(destination) = lower($2)",
                                     2, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            rc = result_fail(res, "select", why, why_size);
        } else {
            if (PQntuples(res) > 0) {
                *found = true;
                *sent = strcmp(PQgetvalue(res, 0, 0), "sent") == 0;
                long n = strtol(PQgetvalue(res, 0, 1), NULL, 10);
                *attempts = n > 0 ? (unsigned)n : 0;
            }
            PQclear(res);
        }
    }
    strbuf_free(&id);
    strbuf_free(&dest);
    return rc;
}

static int record_attempt(report_ledger *base, const report_ledger_row *a, char *why,
                          size_t why_size)
{
    pg_ledger *l = (pg_ledger *)base;
    if (connected(l, why, why_size) != 0)
        return -1;
    enum { N = 8 };
    const char *in[N] = {a->report_id, a->destination, a->policy_domain, NULL, NULL,
                         a->state,     a->last_error,  NULL};
    char begin[24], end[24], when[24];
    snprintf(begin, sizeof begin, "%lld", (long long)a->begin);
    snprintf(end, sizeof end, "%lld", (long long)a->end);
    snprintf(when, sizeof when, "%lld", (long long)a->time);
    strbuf text[N];
    const char *params[N];
    bool oom = false;
    for (int i = 0; i < N; i++) {
        strbuf_init(&text[i]);
        params[i] = pg_param_text(&text[i], in[i], &oom);
    }
    params[3] = begin;
    params[4] = end;
    params[7] = when;
    int rc = 0;
    if (oom) {
        rc = errbuf_set(why, why_size, "out of memory");
    } else {
        /* A row that says sent stays sent: only a failed one is tried
         * again. Two nodes recording at once: the second waits for the
         * first's row and sees its state. */
        PGresult *res = PQexecParams(
            l->link.conn,
            "INSERT INTO dmarc_reports (report_id, destination, policy_domain, period_begin,"
            " period_end, state, attempts, last_error, time)"
            " VALUES ($1, $2, $3, $4::bigint, $5::bigint, $6, 1, $7, $8::bigint)"
            " ON CONFLICT (report_id, lower(destination)) DO UPDATE SET"
            " state = excluded.state, attempts = dmarc_reports.attempts + 1,"
            " last_error = excluded.last_error, time = excluded.time"
            " WHERE dmarc_reports.state <> 'sent'",
            N, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            rc = result_fail(res, "insert", why, why_size);
        else
            PQclear(res);
    }
    for (int i = 0; i < N; i++)
        strbuf_free(&text[i]);
    return rc;
}

static const char *value(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

static int list_rows(report_ledger *base, int64_t since, report_ledger_fn *fn, void *ctx,
                     char *why, size_t why_size)
{
    pg_ledger *l = (pg_ledger *)base;
    if (connected(l, why, why_size) != 0)
        return -1;
    char from[24];
    snprintf(from, sizeof from, "%lld", (long long)since);
    const char *params[1] = {from};
    /* Ordered as SQLite's; COLLATE "C" is its byte order for the ties. */
    PGresult *res = PQexecParams(
        l->link.conn,
        "SELECT report_id, policy_domain, destination, period_begin, period_end, state,"
        " attempts, last_error, time FROM dmarc_reports WHERE time >= $1::bigint"
        " ORDER BY time DESC, report_id COLLATE \"C\", lower(destination) COLLATE \"C\"",
        1, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return result_fail(res, "select", why, why_size);
    int rows = PQntuples(res);
    for (int i = 0; i < rows; i++) {
        long n = strtol(PQgetvalue(res, i, 6), NULL, 10);
        report_ledger_row row = {
            .report_id = value(res, i, 0),
            .policy_domain = value(res, i, 1),
            .destination = value(res, i, 2),
            .begin = strtoll(PQgetvalue(res, i, 3), NULL, 10),
            .end = strtoll(PQgetvalue(res, i, 4), NULL, 10),
            .state = value(res, i, 5),
            .attempts = n > 0 ? (unsigned)n : 0,
            .last_error = value(res, i, 7),
            .time = strtoll(PQgetvalue(res, i, 8), NULL, 10),
        };
        if (fn(ctx, &row) != 0)
            break;
    }
    PQclear(res);
    return 0;
}

const report_ledger_ops report_ledger_pg = {
    .name = "postgresql",
    .claims = pg_claims_location,
    .open = open_ledger,
    .get = get_row,
    .record = record_attempt,
    .list = list_rows,
    .close = close_ledger,
};
