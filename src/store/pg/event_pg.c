/* event_pg.c: the PostgreSQL event store, one database for many MTA nodes
 * (libpq). It owns its schema (schema_pg.h) and migrations; every value
 * from outside is a parameter ($n), and the SQL is built only from the
 * constant fragments here. The location is a libpq connection URI
 * (postgresql://...); the password comes from the password file of the
 * options, PGPASSWORD or ~/.pgpass, never from the command line.
 *
 * A writer does not need the server at open: a node starts while the
 * database is away, its first write fails, and the event log spools (see
 * eventlog.c). The schema is then made by the first write that connects.
 * A lost connection (a restart, pg_terminate_backend) is made again once
 * within the write that found it lost, and the insert prepared again on it. */
#include <errno.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_common.h"
#include "schema_pg.h"
#include "store/event_read.h"
#include "store/event_store.h"
#include "util/errbuf.h"
#include "util/json.h"
#include "util/strbuf.h"

enum {
    TIMEOUT_DEFAULT_MS = 5000,
    PURGE_CHUNK = 10000,
    INSERT_PARAMS = EVF_COUNT + 2, /* a column's array each (the two jsonb ones last) */
    COLUMN_KEEP = 4 << 20, /* bytes of a column's buffer kept between batches */
    QUERY_PARAMS_MAX = 64 + 2 * 64, /* filters, and each listed result and action */
};

typedef struct pg_store {
    event_store base;
    pg_link link;
    event_store_access access;
    int version;            /* 0 until known (the writer before its first connection) */
    const char *source;
    event_reader *reader;
    bool prepared;          /* the insert is prepared on this connection */
    strbuf columns[INSERT_PARAMS]; /* a batch's array literals, one per column */
    strbuf scratch;         /* a value before it is quoted into its array */
} pg_store;

/* ---------------------------------------------------------- schema */

static int read_version(pg_store *s, char *why, size_t why_size)
{
    PGresult *res = PQexec(s->link.conn,
                           "SELECT coalesce(max(version), 0) FROM schema_version");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (state != NULL && strcmp(state, "42P01") == 0) /* undefined_table */
            errbuf_set(why, why_size, "the database holds no domauth schema");
        else
            pg_result_error(res, "schema version", why, why_size);
        PQclear(res);
        return -1;
    }
    int v = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    return v;
}

/* Brings the schema to EVENT_PG_SCHEMA_VERSION. Under the advisory lock,
 * so that nodes starting together apply each step once; each step and its
 * schema_version row in one transaction. */
static int migrate(pg_store *s, char *why, size_t why_size)
{
    static const char *const upgrades[EVENT_PG_SCHEMA_VERSION] = {
        [0] = EVENT_PG_V1_SQL,
        [1] = EVENT_PG_V2_UPGRADE,
        [2] = EVENT_PG_V3_UPGRADE,
        [3] = EVENT_PG_V4_UPGRADE,
    };
    PGconn *c = s->link.conn;
    if (pg_exec(c, "SELECT pg_advisory_lock(" PG_SCHEMA_LOCK ")", why, why_size) != 0)
        return -1;
    int rc = -1;
    if (pg_exec(c, EVENT_PG_VERSION_TABLE, why, why_size) != 0)
        goto out;
    int version = read_version(s, why, why_size);
    if (version < 0)
        goto out;
    if (version > EVENT_PG_SCHEMA_VERSION) {
        errbuf_set(why, why_size,
                   "schema version %d is newer than this domauth's (%d); the database is left "
                   "as it is", version, EVENT_PG_SCHEMA_VERSION);
        goto out;
    }
    for (int v = version; v < EVENT_PG_SCHEMA_VERSION; v++) {
        char record[160];
        snprintf(record, sizeof record,
                 "INSERT INTO schema_version VALUES (%d, extract(epoch from now())::bigint)",
                 v + 1);
        if (pg_exec(c, "BEGIN", why, why_size) != 0)
            goto out;
        if (pg_exec(c, upgrades[v], why, why_size) != 0 ||
            pg_exec(c, record, why, why_size) != 0 || pg_exec(c, "COMMIT", why, why_size) != 0) {
            char step[600];
            snprintf(step, sizeof step, "schema step to version %d: %s", v + 1, why);
            errbuf_set(why, why_size, "%s", step);
            pg_exec(c, "ROLLBACK", NULL, 0);
            goto out;
        }
    }
    s->version = EVENT_PG_SCHEMA_VERSION;
    s->source = EVENT_PG_SOURCE_V2;
    rc = 0;
out:
    pg_exec(c, "SELECT pg_advisory_unlock(" PG_SCHEMA_LOCK ")", NULL, 0);
    return rc;
}

static int check_readable(pg_store *s, char *why, size_t why_size)
{
    int v = read_version(s, why, why_size);
    if (v < 1) {
        if (v == 0)
            errbuf_set(why, why_size, "the database holds no domauth schema");
        return -1;
    }
    s->version = v;
    s->source = v == 1 ? EVENT_PG_SOURCE_V1 : EVENT_PG_SOURCE_V2;
    if (v > EVENT_PG_SCHEMA_VERSION)
        errbuf_set(why, why_size, "schema version %d is newer than this domauth's (%d)", v,
                   EVENT_PG_SCHEMA_VERSION);
    return 0;
}

/* The connection a write needs: made again when it was lost, and the
 * schema brought up to date on the first one. */
static int ensure_writer(pg_store *s, char *why, size_t why_size)
{
    bool fresh = false;
    if (pg_link_ensure(&s->link, &fresh, why, why_size) != 0)
        return -1;
    if (fresh)
        s->prepared = false; /* a new session has no prepared statements */
    if (s->version != EVENT_PG_SCHEMA_VERSION && migrate(s, why, why_size) != 0)
        return -1;
    return 0;
}

static void pg_close(event_store *store)
{
    pg_store *s = (pg_store *)store;
    if (s == NULL)
        return;
    pg_link_close(&s->link);
    event_reader_free(s->reader);
    for (int p = 0; p < INSERT_PARAMS; p++)
        strbuf_free(&s->columns[p]);
    strbuf_free(&s->scratch);
    free(s);
}

static event_store *pg_open(const char *location, const event_store_options *o, char *why,
                            size_t why_size)
{
    pg_store *s = calloc(1, sizeof *s);
    if (s == NULL || (s->reader = event_reader_new()) == NULL) {
        free(s);
        errbuf_set(why, why_size, "out of memory");
        return NULL;
    }
    s->base.ops = &event_store_pg;
    s->access = o->access;
    for (int p = 0; p < INSERT_PARAMS; p++)
        strbuf_init(&s->columns[p]);
    strbuf_init(&s->scratch);
    errbuf_set(why, why_size, "%s", "");
    unsigned timeout = o->busy_timeout_ms ? o->busy_timeout_ms : TIMEOUT_DEFAULT_MS;
    if (pg_link_init(&s->link, location, o->password_file, timeout, why, why_size) != 0) {
        pg_close(&s->base);
        return NULL;
    }
    bool fresh;
    if (o->access == EVENT_STORE_WRITE) {
        /* The server may be away: the writer starts anyway, and its writes
         * fail (and are spooled) until it connects. */
        char message[512] = "";
        if (ensure_writer(s, message, sizeof message) != 0) {
            if (s->link.conn != NULL && PQstatus(s->link.conn) == CONNECTION_OK) {
                errbuf_set(why, why_size, "%s", message); /* a schema refusal */
                pg_close(&s->base);
                return NULL;
            }
            errbuf_set(why, why_size, "not connected yet: %s", message);
        }
        return &s->base;
    }
    if (pg_link_ensure(&s->link, &fresh, why, why_size) != 0 ||
        check_readable(s, why, why_size) != 0) {
        pg_close(&s->base);
        return NULL;
    }
    return &s->base;
}

/* ---------------------------------------------------------- writing */

static void put_strbuf(void *ctx, const char *bytes, size_t len)
{
    strbuf_append(ctx, bytes, len);
}

/* The batch goes as one statement: a column's values are one array
 * parameter, and unnest() turns the arrays back into rows. The statement is
 * prepared once per connection (its plan made once), it is the same for any
 * number of rows, and a single statement is atomic without BEGIN and
 * COMMIT: one round trip per batch. A replayed event (its uid stored
 * already, or twice in the batch) is skipped by ON CONFLICT (uid). */
#define INSERT_STATEMENT "domauth_insert_events"

/* The type of a column's array parameter. */
static const char *param_type(int p)
{
    if (p == EVF_TIME)
        return "bigint[]";
    if (p == EVF_SCORE)
        return "double precision[]";
    return p < EVF_COUNT ? "text[]" : "jsonb[]";
}

static int prepare_insert(pg_store *s, char *why, size_t why_size)
{
    strbuf sql;
    strbuf_init(&sql);
    strbuf_puts(&sql, "INSERT INTO events (" EVENT_PG_COLUMNS ") SELECT * FROM unnest(");
    for (int p = 0; p < INSERT_PARAMS; p++)
        strbuf_printf(&sql, "%s$%d::%s", p ? ", " : "", p + 1, param_type(p));
    strbuf_puts(&sql, ") ON CONFLICT (uid) DO NOTHING");
    if (sql.failed) {
        strbuf_free(&sql);
        return errbuf_set(why, why_size, "insert failed: out of memory");
    }
    PGresult *res = PQprepare(s->link.conn, INSERT_STATEMENT, sql.data, INSERT_PARAMS, NULL);
    strbuf_free(&sql);
    int rc = 0;
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = pg_result_error(res, "prepare insert", why, why_size);
    else
        s->prepared = true;
    PQclear(res);
    return rc;
}

/* Appends len bytes of text as an element of an array literal: quoted,
 * with '"' and the backslash escaped, so that no value can end the element. */
static void array_text(strbuf *col, const char *text, size_t len)
{
    const char *p = text, *end = text + len;
    strbuf_putc(col, '"');
    while (p < end) {
        const char *q = p;
        while (q < end && *q != '"' && *q != '\\')
            q++;
        strbuf_append(col, p, (size_t)(q - p));
        if (q < end) {
            char esc[2] = {'\\', *q};
            strbuf_append(col, esc, 2);
            q++;
        }
        p = q;
    }
    strbuf_putc(col, '"');
}

/* Appends a record's value of every column to that column's array; the
 * text made valid UTF-8 as the JSON lines make it (pg_text_utf8). */
static void add_row(pg_store *s, const event_record *r, bool first)
{
    strbuf *tmp = &s->scratch;
    for (int p = 0; p < INSERT_PARAMS; p++) {
        strbuf *col = &s->columns[p];
        strbuf_putc(col, first ? '{' : ',');
        if (p == EVF_TIME) {
            strbuf_printf(col, "%lld", (long long)r->time);
            continue;
        }
        if (p == EVF_SCORE) {
            char number[JSON_NUMBER_MAX];
            json_format_number(r->score, number);
            strbuf_puts(col, strcmp(number, "null") == 0 ? "0" : number);
            continue;
        }
        strbuf_clear(tmp);
        if (p == EVF_COUNT) {
            event_json_results(r, put_strbuf, tmp);
        } else if (p == EVF_COUNT + 1) {
            event_json_recipients(r, put_strbuf, tmp);
        } else {
            const char *text = event_field_string(r, p);
            if (text == NULL) {
                strbuf_puts(col, "NULL");
                continue;
            }
            pg_text_utf8(tmp, text, event_kept_length(text));
        }
        if (tmp->failed)
            col->failed = true;
        array_text(col, tmp->data ? tmp->data : "", tmp->len);
    }
}

/* The records of a batch in one execution of the prepared statement. */
static int write_batch(pg_store *s, const event_record *const *records, size_t count,
                       char *why, size_t why_size)
{
    const char *params[INSERT_PARAMS];
    bool failed = false;
    for (int p = 0; p < INSERT_PARAMS; p++) {
        strbuf_clear(&s->columns[p]);
        s->columns[p].failed = false;
    }
    s->scratch.failed = false;
    for (size_t i = 0; i < count; i++)
        add_row(s, records[i], i == 0);
    for (int p = 0; p < INSERT_PARAMS; p++) {
        strbuf_putc(&s->columns[p], '}');
        failed |= s->columns[p].failed;
        params[p] = s->columns[p].data;
    }
    if (failed)
        return errbuf_set(why, why_size, "insert failed: out of memory");
    if (!s->prepared && prepare_insert(s, why, why_size) != 0)
        return -1;
    PGresult *res =
        PQexecPrepared(s->link.conn, INSERT_STATEMENT, INSERT_PARAMS, params, NULL, NULL, 0);
    int rc = 0;
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = pg_result_error(res, "insert", why, why_size);
    PQclear(res);
    /* The buffers are kept for the next batch, but not the size of a rare
     * huge one (a thousand events of a thousand recipients each). */
    for (int p = 0; p < INSERT_PARAMS; p++)
        if (s->columns[p].cap > COLUMN_KEEP)
            strbuf_free(&s->columns[p]);
    return rc;
}

static int pg_write(event_store *store, const event_record *const *records, size_t count,
                    char *why, size_t why_size)
{
    pg_store *s = (pg_store *)store;
    if (s->access != EVENT_STORE_WRITE) {
        errbuf_set(why, why_size, "the event store was not opened for writing");
        return -1;
    }
    if (count == 0)
        return 0;
    /* A connection found lost (a restart, pg_terminate_backend) is made
     * again once, and the batch written on the new one. */
    for (int attempt = 0;; attempt++) {
        if (ensure_writer(s, why, why_size) != 0)
            return -1;
        if (write_batch(s, records, count, why, why_size) == 0)
            return 0;
        if (attempt > 0 || PQstatus(s->link.conn) == CONNECTION_OK)
            return -1;
    }
}

/* ---------------------------------------------------------- queries */

/* The WHERE of a query, built from the constant fragments below with a $n
 * for each value, which goes into params. */
typedef struct where_walk {
    strbuf *sql;
    const char *params[QUERY_PARAMS_MAX];
    char numbers[8][24]; /* since, until, id, and the paging key's three */
    int count, numbers_used, conditions;
    bool overflow;
} where_walk;

static void where_sql(where_walk *w, const char *fragment)
{
    strbuf_puts(w->sql, fragment);
}

static void where_and(where_walk *w)
{
    where_sql(w, w->conditions++ ? " AND " : " WHERE ");
}

/* Appends fragment with "$n" where it has "?" (at most one). */
static void where_value(where_walk *w, const char *fragment, const char *value)
{
    const char *q = strchr(fragment, '?');
    if (w->count == QUERY_PARAMS_MAX) {
        w->overflow = true;
        return;
    }
    w->params[w->count++] = value;
    strbuf_append(w->sql, fragment, (size_t)(q - fragment));
    strbuf_printf(w->sql, "$%d", w->count);
    strbuf_puts(w->sql, q + 1);
}

static void where_number(where_walk *w, const char *fragment, int64_t value)
{
    char *slot = w->numbers[w->numbers_used++];
    snprintf(slot, sizeof w->numbers[0], "%lld", (long long)value);
    where_value(w, fragment, slot);
}

static void where_in(where_walk *w, const char *expr, const char *const *values, size_t n)
{
    where_sql(w, expr);
    where_sql(w, " IN (");
    for (size_t i = 0; i < n; i++)
        where_value(w, i ? ",?" : "?", values[i]);
    where_sql(w, ")");
}

#define ENTRY_METHOD "(r.value->>'method')"
#define ENTRY_RESULT "(r.value->>'result')"
#define ENTRY_DOMAIN "(r.value->>'domain')"

static void where_walk_query(where_walk *w, const event_query *q)
{
    if (q->have_since) {
        where_and(w);
        where_number(w, "time >= ?", q->since);
    }
    if (q->have_until) {
        where_and(w);
        where_number(w, "time < ?", q->until);
    }
    if (q->method != NULL) {
        where_and(w);
        where_value(w, "EXISTS (SELECT 1 FROM jsonb_array_elements(ev.results) AS r(value)"
                       " WHERE lower(" ENTRY_METHOD ") = lower(?)",
                    q->method);
        if (q->result_count > 0) {
            where_sql(w, " AND ");
            where_in(w, ENTRY_RESULT, q->results, q->result_count);
        }
        if (q->domain != NULL)
            where_value(w, " AND lower(" ENTRY_DOMAIN ") = lower(?)", q->domain);
        where_sql(w, ")");
    } else {
        if (q->result_count > 0) {
            where_and(w);
            where_in(w, "result", q->results, q->result_count);
        }
        if (q->domain != NULL) {
            where_and(w);
            where_value(w, "lower(domain) = lower(?)", q->domain);
        }
    }
    if (q->client_ip != NULL) {
        where_and(w);
        where_value(w, "client_ip = ?", q->client_ip);
    }
    if (q->client_net != NULL) {
        where_and(w);
        where_value(w, "domauth_inet(client_ip) <<= domauth_inet(?)", q->client_net);
    }
    if (q->action_count > 0) {
        where_and(w);
        where_sql(w, "(");
        where_in(w, "action", q->actions, q->action_count);
        where_sql(w, " OR ");
        where_in(w, "held_action", q->actions, q->action_count);
        where_sql(w, ")");
    }
    if (q->skipped) {
        where_and(w);
        where_sql(w, "skip_reason IS NOT NULL");
    }
    if (q->node != NULL) {
        where_and(w);
        where_value(w, "node = ?", q->node);
    }
    /* The searches and the paging key, as SQLite's backend reads them. */
    if (q->sender != NULL) {
        where_and(w);
        where_value(w, "(strpos(lower(mail_from), lower(?)) > 0", q->sender);
        where_value(w, " OR strpos(lower(header_from), lower(?)) > 0)", q->sender);
    }
    if (q->rcpt != NULL) {
        where_and(w);
        where_value(w, "(strpos(lower(rcpt), lower(?)) > 0", q->rcpt);
        where_value(w, " OR EXISTS (SELECT 1 FROM jsonb_array_elements(ev.recipients) AS p(value)"
                       " WHERE strpos(lower(p.value->>'address'), lower(?)) > 0))",
                    q->rcpt);
    }
    if (q->held_action != NULL) {
        where_and(w);
        where_value(w, "held_action = ?", q->held_action);
    }
    if (q->id != 0) {
        where_and(w);
        where_number(w, "ev.id = ?", q->id);
    }
    if (q->have_before) {
        /* time <= T first, so that the time index bounds the scan. */
        where_and(w);
        where_number(w, "ev.time <= ?", q->before_time);
        where_number(w, " AND (ev.time < ?", q->before_time);
        where_number(w, " OR ev.id < ?)", q->before_id);
    }
}

/* Runs "SELECT head FROM source AS ev joins WHERE ... [AND extra] tail"
 * (extra's "?" bound to extra_value, tail's to tail_value). With single_row,
 * the rows come one PGresult at a time (PQsetSingleRowMode) and the caller
 * reads them with PQgetResult; else the whole result is returned. */
/* The counts of a summary, "label, count" over the query's rows: the
 * largest count first, then the labels in byte order with NULL first, as
 * SQLite sorts them (an ordinal cannot take a COLLATE, hence the outer
 * query). */
#define COUNT_HEAD "SELECT label, n FROM ("
#define COUNT_TAIL " GROUP BY 1) AS c ORDER BY n DESC, label COLLATE \"C\" NULLS FIRST"

/* With counting, head is "EXPR AS label, count(*) AS n" and the query is
 * wrapped as above (tail is then COUNT_TAIL). */
static PGresult *run_query(pg_store *s, const char *head, const char *joins,
                           const event_query *q, const char *extra, const char *extra_value,
                           const char *tail, const char *tail_value, bool single_row,
                           bool counting, char *why, size_t why_size)
{
    strbuf sql;
    strbuf_init(&sql);
    strbuf_printf(&sql, "%sSELECT %s FROM %s AS ev%s", counting ? COUNT_HEAD : "", head,
                  s->source, joins);
    where_walk w = {.sql = &sql};
    where_walk_query(&w, q);
    if (extra != NULL) {
        where_and(&w);
        if (extra_value != NULL)
            where_value(&w, extra, extra_value);
        else
            where_sql(&w, extra);
    }
    if (tail_value != NULL)
        where_value(&w, tail, tail_value);
    else
        where_sql(&w, tail);
    PGresult *res = NULL;
    if (w.overflow) {
        errbuf_set(why, why_size, "too many values in the query (at most %d)", QUERY_PARAMS_MAX);
    } else if (sql.failed) {
        errbuf_set(why, why_size, "out of memory");
    } else if (single_row) {
        if (!PQsendQueryParams(s->link.conn, sql.data, w.count, NULL, w.params, NULL, NULL, 0) ||
            !PQsetSingleRowMode(s->link.conn))
            pg_conn_error(s->link.conn, "query", why, why_size);
        else
            res = PQgetResult(s->link.conn);
        if (res == NULL)
            errbuf_set(why, why_size, "query failed: %s", pg_message(s->link.conn));
    } else {
        res = PQexecParams(s->link.conn, sql.data, w.count, NULL, w.params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            pg_result_error(res, "query", why, why_size);
            PQclear(res);
            res = NULL;
        }
    }
    strbuf_free(&sql);
    return res;
}

static const char *value_or_null(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

static int read_row(pg_store *s, const PGresult *res, event_record *r, char *why,
                    size_t why_size)
{
    *r = (event_record){0};
    r->time = strtoll(PQgetvalue(res, 0, 1 + EVF_TIME), NULL, 10);
    r->score = strtod(PQgetvalue(res, 0, 1 + EVF_SCORE), NULL);
    for (int f = 0; f < EVF_COUNT; f++)
        if (event_field_is_string(f))
            *event_field_slot(r, f) = value_or_null(res, 0, 1 + f);
    return event_read_arrays(s->reader, value_or_null(res, 0, 1 + EVF_COUNT),
                             value_or_null(res, 0, 2 + EVF_COUNT), r, why, why_size);
}

/* Reads and drops what is left of a single-row query; a query stopped
 * early is cancelled first, so that its rows are not all sent. */
static void drain(PGconn *c, bool cancel)
{
    if (cancel) {
        PGcancel *k = PQgetCancel(c);
        char ignored[64];
        if (k != NULL) {
            PQcancel(k, ignored, sizeof ignored);
            PQfreeCancel(k);
        }
    }
    PGresult *res;
    while ((res = PQgetResult(c)) != NULL)
        PQclear(res);
}

static int pg_query(event_store *store, const event_query *q, event_row_fn *fn, void *ctx,
                    char *why, size_t why_size)
{
    pg_store *s = (pg_store *)store;
    if (s->source == NULL) {
        errbuf_set(why, why_size, "the event store was not opened for reading");
        return -1;
    }
    char limit[24];
    snprintf(limit, sizeof limit, "%lld", q->limit ? (long long)q->limit : -1LL);
    PGresult *res = run_query(s, "id, " EVENT_PG_COLUMNS,
                              "", q, NULL, NULL,
                              q->limit ? " ORDER BY time DESC, id DESC LIMIT ?"
                                       : " ORDER BY time DESC, id DESC",
                              q->limit ? limit : NULL, true, false, why, why_size);
    if (res == NULL)
        return -1;
    int status = 0;
    for (;;) {
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_TUPLES_OK) { /* the end */
            PQclear(res);
            drain(s->link.conn, false);
            break;
        }
        if (st != PGRES_SINGLE_TUPLE) {
            pg_result_error(res, "query", why, why_size);
            PQclear(res);
            drain(s->link.conn, false);
            status = -1;
            break;
        }
        event_record r;
        if (read_row(s, res, &r, why, why_size) != 0) {
            PQclear(res);
            drain(s->link.conn, true);
            status = -1;
            break;
        }
        int stop = fn(ctx, strtoll(PQgetvalue(res, 0, 0), NULL, 10), &r);
        PQclear(res);
        if (stop != 0) {
            drain(s->link.conn, true);
            break;
        }
        res = PQgetResult(s->link.conn);
        if (res == NULL)
            break;
    }
    return status;
}

/* ---------------------------------------------------------- summary */

static int read_counts(PGresult *res, event_counts *out, char *why, size_t why_size)
{
    int n = PQntuples(res);
    out->items = n ? calloc((size_t)n, sizeof *out->items) : NULL;
    if (n && out->items == NULL) {
        PQclear(res);
        return errbuf_set(why, why_size, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        const char *label = value_or_null(res, i, 0);
        if ((out->items[i].label = strdup(label ? label : "-")) == NULL) {
            PQclear(res);
            return errbuf_set(why, why_size, "out of memory");
        }
        out->items[i].count = strtoull(PQgetvalue(res, i, 1), NULL, 10);
        out->count++;
    }
    PQclear(res);
    return 0;
}

static int count_by(pg_store *s, const char *head, const char *joins, const event_query *q,
                    const char *extra, const char *extra_value, event_counts *out, char *why,
                    size_t why_size)
{
    PGresult *res = run_query(s, head, joins, q, extra, extra_value, COUNT_TAIL, NULL, false,
                              true, why, why_size);
    return res == NULL ? -1 : read_counts(res, out, why, why_size);
}

static int pg_count(event_store *store, const event_query *q, uint64_t *count, char *why,
                    size_t why_size)
{
    pg_store *s = (pg_store *)store;
    if (s->source == NULL) {
        errbuf_set(why, why_size, "the event store was not opened for reading");
        return -1;
    }
    PGresult *res =
        run_query(s, "count(*)", "", q, NULL, NULL, "", NULL, false, false, why, why_size);
    if (res == NULL)
        return -1;
    *count = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return 0;
}

static int pg_summary(event_store *store, const event_query *q, event_summary *out, char *why,
                      size_t why_size)
{
    pg_store *s = (pg_store *)store;
    *out = (event_summary){0};
    if (s->source == NULL) {
        errbuf_set(why, why_size, "the event store was not opened for reading");
        return -1;
    }
    PGresult *res = run_query(s, "count(*), coalesce(min(time), 0), coalesce(max(time), 0)", "",
                              q, NULL, NULL, "", NULL, false, false, why, why_size);
    if (res == NULL)
        return -1;
    out->events = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    out->first = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    out->last = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
    PQclear(res);
    int rc = count_by(s, "coalesce(result, 'skipped: ' || skip_reason, '-') AS label, count(*) AS n", "", q,
                      NULL, NULL, &out->results, why, why_size);
    if (rc == 0)
        rc = count_by(s, "action AS label, count(*) AS n", "", q, NULL, NULL, &out->actions, why, why_size);
    if (rc == 0)
        rc = count_by(s, "held_action AS label, count(*) AS n", "", q, "held_action IS NOT NULL", NULL,
                      &out->held, why, why_size);
    if (rc == 0)
        rc = count_by(s,
                      "coalesce(" ENTRY_METHOD ", '-') || '=' || coalesce(" ENTRY_RESULT
                      ", '-') AS label, count(*) AS n",
                      ", jsonb_array_elements(ev.results) AS r(value)", q,
                      q->method ? "lower(" ENTRY_METHOD ") = lower(?)" : NULL, q->method,
                      &out->methods, why, why_size);
    if (rc != 0)
        event_summary_free(out);
    return rc;
}

/* ------------------------------------------------------------ purge */

static int pg_purge(event_store *store, int64_t before, uint64_t *deleted, char *why,
                    size_t why_size)
{
    pg_store *s = (pg_store *)store;
    *deleted = 0;
    if (s->access == EVENT_STORE_READ) {
        errbuf_set(why, why_size, "the event store was not opened for purging");
        return -1;
    }
    if (s->access == EVENT_STORE_WRITE && ensure_writer(s, why, why_size) != 0)
        return -1;
    char time[24], chunk[16];
    snprintf(time, sizeof time, "%lld", (long long)before);
    snprintf(chunk, sizeof chunk, "%d", PURGE_CHUNK);
    const char *params[2] = {time, chunk};
    for (;;) {
        /* Each chunk its own transaction, so a writer waits little. */
        PGresult *res = PQexecParams(s->link.conn,
                                     "DELETE FROM events WHERE id IN (SELECT id FROM events"
                                     " WHERE time < $1 LIMIT $2)",
                                     2, NULL, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            pg_result_error(res, "purge", why, why_size);
            PQclear(res);
            return -1;
        }
        uint64_t n = strtoull(PQcmdTuples(res), NULL, 10);
        PQclear(res);
        if (n == 0)
            return 0;
        *deleted += n;
    }
}

/* ------------------------------------------------------------ lease */

static int pg_lease(event_store *store, const char *job, const char *holder, int64_t now,
                    unsigned seconds, bool *granted, char *why, size_t why_size)
{
    pg_store *s = (pg_store *)store;
    *granted = false;
    if (s->access == EVENT_STORE_WRITE && ensure_writer(s, why, why_size) != 0)
        return -1;
    if (s->version < 2)
        return errbuf_set(why, why_size, "schema version %d has no cluster_jobs", s->version);
    return pg_lease_row(s->link.conn, job, holder, now, seconds, granted, why, why_size);
}

static int pg_lease_holder(event_store *store, const char *job, char *holder,
                           size_t holder_size, int64_t *until, char *why, size_t why_size)
{
    pg_store *s = (pg_store *)store;
    if (s->access == EVENT_STORE_WRITE && ensure_writer(s, why, why_size) != 0)
        return -1;
    if (s->version < 2)
        return 0; /* no cluster_jobs: nobody holds anything */
    return pg_lease_holder_row(s->link.conn, job, holder, holder_size, until, why, why_size);
}

static void pg_schema_version(event_store *store, int *have, int *current)
{
    *have = ((pg_store *)store)->version;
    *current = EVENT_PG_SCHEMA_VERSION;
}

const event_store_ops event_store_pg = {
    .name = "postgresql",
    .claims = pg_claims_location,
    .open = pg_open,
    .write = pg_write,
    .query = pg_query,
    .summary = pg_summary,
    .count = pg_count,
    .purge = pg_purge,
    .close = pg_close,
    .lease = pg_lease,
    .schema_version = pg_schema_version,
    .lease_holder = pg_lease_holder,
};
