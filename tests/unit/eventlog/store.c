/* Unit tests for the event store (src/store/event_store.h, SQLite backend):
 * a database written by domauth 0.1 (schema version 1, made here from that
 * version's own SQL) is migrated in place with nothing lost; opening a
 * current one changes nothing; a newer one is refused and left alone; a
 * reader sees a version 1 file without changing it; and queries, counts
 * and the purge go through the interface. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/event_store.h"
#include "tap.h"
#include "util/strbuf.h"

static char tmpdir[64];

/* ------------------------------------------------ version 1, as data */

/* The CREATE statements of schema version 1, exactly as domauth 0.1's
 * daemon/eventlog_schema.h had them (EVENTLOG_CREATE_SQL). Copied, not
 * included: the test must not follow a later change of the code. */
static const char v1_create[] =
    "CREATE TABLE IF NOT EXISTS events ("
    " id INTEGER PRIMARY KEY,"
    " time INTEGER NOT NULL,"
    " listener TEXT, queue_id TEXT, client_ip TEXT, client_name TEXT, helo TEXT,"
    " mail_from TEXT, rcpt TEXT, header_from TEXT, identity TEXT,"
    " domain TEXT COLLATE NOCASE, result TEXT, mechanism TEXT, problem TEXT,"
    " skip_reason TEXT, score REAL, action TEXT, held_action TEXT, reply TEXT);"
    "CREATE INDEX IF NOT EXISTS events_time ON events (time);"
    "CREATE INDEX IF NOT EXISTS events_result ON events (result);"
    "CREATE INDEX IF NOT EXISTS events_client_ip ON events (client_ip);"
    "CREATE INDEX IF NOT EXISTS events_domain ON events (domain);";

/* Its INSERT, as domauth 0.1 prepared it (EVENTLOG_COLUMNS, ?1..?19). */
static const char v1_insert[] =
    "INSERT INTO events (time, listener, queue_id, client_ip, client_name, helo, mail_from, "
    "rcpt, header_from, identity, domain, result, mechanism, problem, skip_reason, score, "
    "action, held_action, reply) VALUES "
    "(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19)";

enum {
    V1_TIME, V1_LISTENER, V1_QUEUE_ID, V1_CLIENT_IP, V1_CLIENT_NAME, V1_HELO, V1_MAIL_FROM,
    V1_RCPT, V1_HEADER_FROM, V1_IDENTITY, V1_DOMAIN, V1_RESULT, V1_MECHANISM, V1_PROBLEM,
    V1_SKIP_REASON, V1_SCORE, V1_ACTION, V1_HELD_ACTION, V1_REPLY, V1_COLUMNS
};
static const char v1_select[] =
    "SELECT id, time, listener, queue_id, client_ip, client_name, helo, mail_from, rcpt, "
    "header_from, identity, domain, result, mechanism, problem, skip_reason, score, action, "
    "held_action, reply FROM events ORDER BY id";

enum { V1_ROWS = 400 };

static char long_value[3001];
static const char *const odd[] = {
    "quote\" and back\\slash",
    "cr\rlf\nFAKE result=\"pass\"",
    "ctl\x01\x1b[31m\x7f\t",
    "8bit \xff\xfe caf\xc3\xa9 \xc0\xaf",
    long_value,
    "",
};
enum { ODD = sizeof odd / sizeof odd[0] };
static const char *const spf_results[] = {"pass", "fail", "softfail", "neutral",
                                          "none", "temperror", "permerror"};
static const char *const identities[] = {"mailfrom", "helo", "header_from"};

/* One row as domauth 0.1 wrote it: the strings (NULL for NULL), the time
 * and the score. */
typedef struct v1_row {
    const char *s[V1_COLUMNS];
    int64_t time;
    double score;
    char buf[3][64];
} v1_row;

static void make_v1_row(v1_row *r, int i)
{
    memset(r->s, 0, sizeof r->s);
    bool skipped = i % 9 == 4;
    snprintf(r->buf[0], 64, "Q%04d", i);
    snprintf(r->buf[1], 64, "198.51.100.%d", i % 250);
    snprintf(r->buf[2], 64, "s%d@Example%d.org", i, i % 5);
    r->time = 1762000000 + 60 * (int64_t)i;
    r->score = i % 5 - 1.5;
    r->s[V1_LISTENER] = i % 2 ? "milter" : "policy";
    r->s[V1_QUEUE_ID] = i % 3 ? r->buf[0] : NULL;
    r->s[V1_CLIENT_IP] = r->buf[1];
    r->s[V1_CLIENT_NAME] = i % 4 ? odd[i % ODD] : NULL;
    r->s[V1_HELO] = i % 7 == 3 ? odd[(i / 7) % ODD] : "mx.example.org";
    r->s[V1_MAIL_FROM] = i % 11 == 0 ? "" : i % 6 == 1 ? odd[i % ODD] : r->buf[2];
    r->s[V1_RCPT] = i % 5 ? (i % 10 == 3 ? odd[i % ODD] : "postmaster@example.net") : NULL;
    r->s[V1_HEADER_FROM] = i % 3 == 1 ? r->buf[2] : NULL;
    if (!skipped) {
        r->s[V1_IDENTITY] = identities[i % 3];
        r->s[V1_DOMAIN] = i % 13 == 2 ? odd[i % ODD] : r->buf[2] + 4;
        r->s[V1_RESULT] = spf_results[i % 7];
        r->s[V1_MECHANISM] = i % 7 == 0 ? "ip4:198.51.100.0/24" : i % 7 == 1 ? "-all" : NULL;
        r->s[V1_PROBLEM] = i % 7 >= 5 ? odd[i % ODD] : NULL;
    } else {
        r->s[V1_SKIP_REASON] = i % 2 ? "authenticated" : "whitelisted";
    }
    r->s[V1_ACTION] = i % 7 == 1 ? "reject" : i % 7 == 5 ? "defer" : "accept";
    r->s[V1_HELD_ACTION] = i % 14 == 2 ? "reject" : NULL;
    r->s[V1_REPLY] = i % 7 == 1 ? "550 5.7.23 rejected" : i % 7 == 5 ? odd[i % ODD] : NULL;
}

/* Makes path a version 1 database holding V1_ROWS rows, as domauth 0.1 did
 * (WAL mode, user_version 1, one transaction of inserts). */
static bool make_v1_database(const char *path)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    unlink(path);
    if (sqlite3_open(path, &db) != SQLITE_OK)
        return false;
    bool ok = sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL) == SQLITE_OK &&
              sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK &&
              sqlite3_exec(db, v1_create, NULL, NULL, NULL) == SQLITE_OK &&
              sqlite3_exec(db, "PRAGMA user_version = 1", NULL, NULL, NULL) == SQLITE_OK &&
              sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK &&
              sqlite3_prepare_v2(db, v1_insert, -1, &st, NULL) == SQLITE_OK;
    if (!ok) {
        sqlite3_close(db);
        return false;
    }
    sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    for (int i = 0; i < V1_ROWS; i++) {
        v1_row r;
        make_v1_row(&r, i);
        for (int c = 0; c < V1_COLUMNS; c++) {
            if (c == V1_TIME)
                sqlite3_bind_int64(st, c + 1, r.time);
            else if (c == V1_SCORE)
                sqlite3_bind_double(st, c + 1, r.score);
            else if (r.s[c] == NULL)
                sqlite3_bind_null(st, c + 1);
            else
                sqlite3_bind_text(st, c + 1, r.s[c], -1, SQLITE_STATIC);
        }
        ok = ok && sqlite3_step(st) == SQLITE_DONE;
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    ok = ok && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK;
    sqlite3_close(db);
    return ok;
}

/* ------------------------------------------------------------ helpers */

static int sql_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    int v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Every row of a query as one string: each value with its type, so two
 * dumps are equal only when every row and value is. */
static char *dump(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    size_t cap = 1 << 16, len = 0;
    char *out = malloc(cap);
    if (out == NULL || sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        free(out);
        return NULL;
    }
    out[0] = '\0';
    while (sqlite3_step(st) == SQLITE_ROW) {
        for (int c = 0; c < sqlite3_column_count(st); c++) {
            int type = sqlite3_column_type(st, c);
            const void *v = sqlite3_column_blob(st, c);
            size_t n = (size_t)sqlite3_column_bytes(st, c);
            if (len + n + 32 > cap) {
                while (len + n + 32 > cap)
                    cap *= 2;
                char *bigger = realloc(out, cap);
                if (bigger == NULL) {
                    free(out);
                    sqlite3_finalize(st);
                    return NULL;
                }
                out = bigger;
            }
            len += (size_t)snprintf(out + len, cap - len, "|%d:%zu:", type, n);
            if (n > 0)
                memcpy(out + len, v, n);
            len += n;
            out[len] = '\0';
        }
        out[len++] = '\n';
        out[len] = '\0';
    }
    sqlite3_finalize(st);
    return out;
}

static bool same_text(const unsigned char *got, const char *want)
{
    if (want == NULL || got == NULL)
        return (const void *)want == (const void *)got;
    return strcmp((const char *)got, want) == 0;
}

static void path_in_tmp(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", tmpdir, name);
}

static event_store *open_store(const char *path, event_store_access access, char *why,
                               size_t why_size)
{
    event_store_options o = {.access = access, .busy_timeout_ms = 1000};
    return event_store_open(path, &o, why, why_size);
}


static int count_event(void *ctx, int64_t id, const event_record *e)
{
    (void)id;
    (void)e;
    (*(int *)ctx)++;
    return 0;
}

typedef struct found_event {
    char *json;
} found_event;

static void put_strbuf(void *ctx, const char *bytes, size_t len)
{
    strbuf_append(ctx, bytes, len);
}

static int keep_json(void *ctx, int64_t id, const event_record *e)
{
    found_event *f = ctx;
    strbuf sb;
    strbuf_init(&sb);
    event_json_write(e, id, put_strbuf, &sb);
    free(f->json);
    f->json = strbuf_take(&sb);
    return 0;
}

/* The version 1 rows whose SPF result is fail. */
static int v1_fails(void)
{
    int n = 0;
    for (int i = 0; i < V1_ROWS; i++) {
        v1_row r;
        make_v1_row(&r, i);
        n += r.s[V1_RESULT] != NULL && strcmp(r.s[V1_RESULT], "fail") == 0;
    }
    return n;
}

/* -------------------------------------------------------- migration */

/* The props a version 1 row's SPF entry gets from its identity. */
static void expected_props(const v1_row *r, char *out, size_t size)
{
    const char *id = r->s[V1_IDENTITY];
    const char *key = NULL, *value = NULL;
    if (id != NULL && strcmp(id, "mailfrom") == 0)
        key = "smtp.mailfrom=", value = r->s[V1_MAIL_FROM];
    else if (id != NULL && strcmp(id, "helo") == 0)
        key = "smtp.helo=", value = r->s[V1_HELO];
    else if (id != NULL)
        key = "header.from=", value = r->s[V1_HEADER_FROM];
    if (key == NULL || value == NULL) {
        out[0] = '\0';
        return;
    }
    snprintf(out, size, "%s%s", key, value);
}

/* Whether an event read through the store is version 1 row i, with the
 * results entry and recipient the migration (or a reader of a version 1
 * file) makes of it. */
static bool same_as_v1(const event_record *e, int i)
{
    v1_row r;
    make_v1_row(&r, i);
    static const int field_of[V1_COLUMNS] = {
        [V1_LISTENER] = EVF_LISTENER, [V1_QUEUE_ID] = EVF_QUEUE_ID,
        [V1_CLIENT_IP] = EVF_CLIENT_IP, [V1_CLIENT_NAME] = EVF_CLIENT_NAME,
        [V1_HELO] = EVF_HELO, [V1_MAIL_FROM] = EVF_MAIL_FROM, [V1_RCPT] = EVF_RCPT,
        [V1_HEADER_FROM] = EVF_HEADER_FROM, [V1_IDENTITY] = EVF_IDENTITY,
        [V1_DOMAIN] = EVF_DOMAIN, [V1_RESULT] = EVF_RESULT, [V1_MECHANISM] = EVF_MECHANISM,
        [V1_PROBLEM] = EVF_PROBLEM, [V1_SKIP_REASON] = EVF_SKIP_REASON,
        [V1_ACTION] = EVF_ACTION, [V1_HELD_ACTION] = EVF_HELD_ACTION, [V1_REPLY] = EVF_REPLY,
    };
    if (e->time != r.time || e->score != r.score || e->reasons != NULL)
        return false;
    for (int c = 0; c < V1_COLUMNS; c++)
        if (c != V1_TIME && c != V1_SCORE &&
            !same_text((const unsigned char *)event_field_string(e, field_of[c]), r.s[c]))
            return false;
    if (r.s[V1_RESULT] == NULL) {
        if (e->result_count != 0)
            return false;
    } else {
        char props[4200];
        expected_props(&r, props, sizeof props);
        const event_result *x = e->results;
        if (e->result_count != 1 || !same_text((const unsigned char *)x->method, "spf") ||
            !same_text((const unsigned char *)x->result, r.s[V1_RESULT]) ||
            !same_text((const unsigned char *)x->domain, r.s[V1_DOMAIN]) ||
            !same_text((const unsigned char *)x->detail, r.s[V1_MECHANISM]) ||
            !same_text((const unsigned char *)x->reason, r.s[V1_PROBLEM]) ||
            !same_text((const unsigned char *)x->props, props[0] ? props : NULL))
            return false;
    }
    if (r.s[V1_RCPT] == NULL)
        return e->rcpt_count == 0;
    return e->rcpt_count == 1 && same_text((const unsigned char *)e->rcpts[0].address, r.s[V1_RCPT]) &&
           same_text((const unsigned char *)e->rcpts[0].action, r.s[V1_ACTION]) &&
           same_text((const unsigned char *)e->rcpts[0].reply, r.s[V1_REPLY]);
}

typedef struct seen {
    int rows, bad;
} seen;

static int check_v1_event(void *ctx, int64_t id, const event_record *e)
{
    seen *sn = ctx;
    int i = (int)(id - 1);
    if (!same_as_v1(e, i) || i != V1_ROWS - 1 - sn->rows) {
        if (sn->bad++ == 0)
            printf("# event id %lld differs\n", (long long)id);
    }
    sn->rows++;
    return 0;
}

static void check_v1_events(const char *path, const char *what)
{
    char why[512];
    seen sn = {0};
    event_store *s = open_store(path, EVENT_STORE_READ, why, sizeof why);
    event_query all = {0};
    int rc = s ? event_store_query(s, &all, check_v1_event, &sn, why, sizeof why) : -1;
    event_store_close(s);
    TAP_OK(rc == 0 && sn.rows == V1_ROWS && sn.bad == 0,
           "%s: the store reads every version 1 row as an event, newest first, with its "
           "results and recipient (%d rows, %d differ) %s",
           what, sn.rows, sn.bad, why);
}

static void test_migration(void)
{
    char path[128], why[512];
    path_in_tmp(path, sizeof path, "v1.db");
    TAP_OK(make_v1_database(path), "a version 1 database, made with version 1's own SQL");
    sqlite3 *db;
    sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    char *before = dump(db, v1_select);
    int indexes_before = sql_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'index'");
    sqlite3_close(db);

    event_store *s = open_store(path, EVENT_STORE_WRITE, why, sizeof why);
    TAP_OK(s != NULL && why[0] == '\0', "the writer opens it (%s)", why);
    event_store_close(s);

    sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    TAP_OK(sql_int(db, "PRAGMA user_version") == 8, "migrated: schema version 8");
    char *after = dump(db, v1_select);
    TAP_OK(before != NULL && after != NULL && strcmp(before, after) == 0,
           "migrated: every row, id and value of version 1 is still there, byte for byte, "
           "with its type");
    free(before);
    free(after);
    /* Version 3 adds the quarantine table's two (its key and state_time),
     * version 4 the dmarc column's, version 5 uid's, node's and the key of
     * cluster_jobs; version 7 replaces two by two (result, time and domain,
     * time); version 7 the report ledger's two. */
    TAP_OK(sql_int(db, "SELECT count(*) FROM sqlite_master WHERE type = 'index'") ==
               indexes_before + 8 && indexes_before == 4,
           "migrated: the indexes are kept");
    TAP_OK(sql_int(db, "SELECT count(*) FROM events WHERE reasons IS NULL") == V1_ROWS,
           "migrated: reasons is NULL (version 1 had none)");

    /* The new columns, row by row, against what each row said. */
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db,
                       "SELECT id, json_array_length(results), "
                       "json_extract(results, '$[0].method'), "
                       "json_extract(results, '$[0].result'), "
                       "json_extract(results, '$[0].domain'), "
                       "json_extract(results, '$[0].detail'), "
                       "json_extract(results, '$[0].reason'), "
                       "json_extract(results, '$[0].props'), "
                       "json_array_length(recipients), "
                       "json_extract(recipients, '$[0].address'), "
                       "json_extract(recipients, '$[0].action'), "
                       "json_extract(recipients, '$[0].reply'), "
                       "json_type(results, '$[0].detail'), json_type(recipients, '$[0].reply') "
                       "FROM events ORDER BY id",
                       -1, &st, NULL);
    int rows = 0, bad = 0, with_results = 0, with_rcpt = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        v1_row r;
        make_v1_row(&r, rows);
        bool same = sqlite3_column_int64(st, 0) == rows + 1;
        if (r.s[V1_RESULT] == NULL) {
            same = same && sqlite3_column_int(st, 1) == 0;
        } else {
            char props[4200];
            expected_props(&r, props, sizeof props);
            with_results++;
            same = same && sqlite3_column_int(st, 1) == 1 &&
                   same_text(sqlite3_column_text(st, 2), "spf") &&
                   same_text(sqlite3_column_text(st, 3), r.s[V1_RESULT]) &&
                   same_text(sqlite3_column_text(st, 4), r.s[V1_DOMAIN]) &&
                   same_text(sqlite3_column_text(st, 5), r.s[V1_MECHANISM]) &&
                   same_text(sqlite3_column_text(st, 6), r.s[V1_PROBLEM]) &&
                   same_text(sqlite3_column_text(st, 7), props[0] ? props : NULL) &&
                   (r.s[V1_MECHANISM] != NULL ||
                    same_text(sqlite3_column_text(st, 12), "null"));
        }
        if (r.s[V1_RCPT] == NULL) {
            same = same && sqlite3_column_int(st, 8) == 0;
        } else {
            with_rcpt++;
            same = same && sqlite3_column_int(st, 8) == 1 &&
                   same_text(sqlite3_column_text(st, 9), r.s[V1_RCPT]) &&
                   same_text(sqlite3_column_text(st, 10), r.s[V1_ACTION]) &&
                   same_text(sqlite3_column_text(st, 11), r.s[V1_REPLY]) &&
                   (r.s[V1_REPLY] != NULL || same_text(sqlite3_column_text(st, 13), "null"));
        }
        if (!same && bad++ == 0)
            printf("# row %d: new columns differ\n", rows);
        rows++;
    }
    sqlite3_finalize(st);
    TAP_OK(rows == V1_ROWS && bad == 0 && with_results > 0 && with_rcpt > 0,
           "migrated: each row's SPF columns are its results entry, its rcpt with the "
           "action and reply its recipient (%d rows, %d differ)",
           rows, bad);
    TAP_OK(sql_int(db, "SELECT count(*) FROM events WHERE skip_reason IS NOT NULL AND "
                       "results = '[]'") == sql_int(db, "SELECT count(*) FROM events WHERE "
                                                        "skip_reason IS NOT NULL") &&
               sql_int(db, "SELECT count(*) FROM events WHERE skip_reason IS NOT NULL") > 0,
           "migrated: a skipped message has no results");
    sqlite3_close(db);

    /* A migrated file has the schema of a new one. */
    char fresh_path[128];
    path_in_tmp(fresh_path, sizeof fresh_path, "fresh.db");
    s = open_store(fresh_path, EVENT_STORE_WRITE, why, sizeof why);
    event_store_close(s);
    sqlite3 *fresh;
    sqlite3_open_v2(fresh_path, &fresh, SQLITE_OPEN_READONLY, NULL);
    sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    static const char columns[] = "SELECT name, type, \"notnull\", dflt_value, pk "
                                  "FROM pragma_table_info('events') ORDER BY cid";
    static const char index_list[] = "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                                     "ORDER BY name";
    char *a = dump(db, columns), *b = dump(fresh, columns);
    char *c = dump(db, index_list), *d = dump(fresh, index_list);
    TAP_OK(a && b && strcmp(a, b) == 0 && c && d && strcmp(c, d) == 0 &&
               sql_int(fresh, "PRAGMA user_version") == 8,
           "migrated: the same columns and indexes as a new version 8 file");
    free(a);
    free(b);
    free(c);
    free(d);
    sqlite3_close(fresh);

    sqlite3_close(db);

    /* Through the store: the old rows read as events with their results. */
    check_v1_events(path, "migrated");
}


/* Opening a current (version 8) file for writing changes nothing in it. */
static void test_reopen_is_a_no_op(void)
{
    char path[128], why[512];
    path_in_tmp(path, sizeof path, "v1.db"); /* migrated by test_migration */
    sqlite3 *watch;
    sqlite3_open_v2(path, &watch, SQLITE_OPEN_READONLY, NULL);
    static const char everything[] = "SELECT * FROM events ORDER BY id";
    char *before = dump(watch, everything);
    char *schema_before = dump(watch, "SELECT * FROM sqlite_master ORDER BY name");
    int version_before = sql_int(watch, "PRAGMA data_version");
    event_store *s = open_store(path, EVENT_STORE_WRITE, why, sizeof why);
    TAP_OK(s != NULL && why[0] == '\0', "version 2: opens for writing (%s)", why);
    event_store_close(s);
    /* data_version changes when another connection commits a change. */
    TAP_OK(sql_int(watch, "PRAGMA data_version") == version_before,
           "version 2: opening it committed nothing");
    char *after = dump(watch, everything);
    char *schema_after = dump(watch, "SELECT * FROM sqlite_master ORDER BY name");
    TAP_OK(before && after && strcmp(before, after) == 0 && schema_before && schema_after &&
               strcmp(schema_before, schema_after) == 0 &&
               sql_int(watch, "PRAGMA user_version") == 8,
           "version 8: rows and schema unchanged");
    free(before);
    free(after);
    free(schema_before);
    free(schema_after);
    /* The check above can see a commit: writing one event is seen. */
    s = open_store(path, EVENT_STORE_WRITE, why, sizeof why);
    event_record r = {.time = 2000000000, .client_ip = "192.0.2.99"};
    const event_record *one[] = {&r};
    TAP_OK(event_store_write(s, one, 1, why, sizeof why) == 0 &&
               sql_int(watch, "PRAGMA data_version") != version_before,
           "version 2: (a write is seen by the same check)");
    event_store_close(s);
    sqlite3_close(watch);
}

/* A database of a later version is refused with a clear error and left
 * as it is; a reader may still read it, with a warning. */
static void test_newer_is_refused(void)
{
    char path[128], why[512];
    path_in_tmp(path, sizeof path, "v3.db");
    sqlite3 *db;
    sqlite3_open(path, &db);
    sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL);
    sqlite3_exec(db, v1_create, NULL, NULL, NULL);
    sqlite3_exec(db,
                 "ALTER TABLE events ADD COLUMN reasons TEXT;"
                 "ALTER TABLE events ADD COLUMN results TEXT NOT NULL DEFAULT '[]';"
                 "ALTER TABLE events ADD COLUMN recipients TEXT NOT NULL DEFAULT '[]';"
                 "ALTER TABLE events ADD COLUMN dmarc TEXT;"
                 "ALTER TABLE events ADD COLUMN node TEXT;"
                 "ALTER TABLE events ADD COLUMN uid TEXT;"
                 "ALTER TABLE events ADD COLUMN from_the_future TEXT;"
                 "INSERT INTO events (time, client_ip, from_the_future) VALUES (1, '192.0.2.1', 'x');"
                 "PRAGMA user_version = 9",
                 NULL, NULL, NULL);
    char *before = dump(db, "SELECT * FROM events");
    char *schema_before = dump(db, "SELECT * FROM sqlite_master ORDER BY name");
    int data_version = sql_int(db, "PRAGMA data_version");

    event_store *s = open_store(path, EVENT_STORE_WRITE, why, sizeof why);
    TAP_OK(s == NULL && strstr(why, "schema version 9 is newer than this domauth's (8)") != NULL,
           "version 9: the writer refuses it: %s", why);
    event_store_close(s);
    char *after = dump(db, "SELECT * FROM events");
    char *schema_after = dump(db, "SELECT * FROM sqlite_master ORDER BY name");
    TAP_OK(sql_int(db, "PRAGMA data_version") == data_version &&
               sql_int(db, "PRAGMA user_version") == 9 && before && after &&
               strcmp(before, after) == 0 && schema_before && schema_after &&
               strcmp(schema_before, schema_after) == 0,
           "version 9: the file is not modified");
    free(before);
    free(after);
    free(schema_before);
    free(schema_after);

    s = open_store(path, EVENT_STORE_READ, why, sizeof why);
    int rows = 0;
    event_query all = {0};
    if (s != NULL)
        event_store_query(s, &all, count_event, &rows, NULL, 0);
    TAP_OK(s != NULL && strstr(why, "newer") != NULL && rows == 1,
           "version 9: a reader reads it, with a warning: %s", why);
    event_store_close(s);
    sqlite3_close(db);
}

/* domauth log opens the database read-only: a version 1 file (a daemon not
 * yet restarted after the upgrade) is read as version 2, not changed. */
static void test_reader_of_v1(void)
{
    char path[128], why[512];
    path_in_tmp(path, sizeof path, "v1-read.db");
    make_v1_database(path);
    check_v1_events(path, "version 1, read-only");
    sqlite3 *db;
    sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    TAP_OK(sql_int(db, "PRAGMA user_version") == 1 &&
               sql_int(db, "SELECT count(*) FROM pragma_table_info('events') WHERE name = "
                           "'results'") == 0,
           "version 1, read-only: still version 1");
    sqlite3_close(db);

    event_store *s = open_store(path, EVENT_STORE_READ, why, sizeof why);
    const char *fail[] = {"fail"};
    event_query q = {.method = "SPF", .results = fail, .result_count = 1};
    int rows = 0;
    int rc = event_store_query(s, &q, count_event, &rows, why, sizeof why);
    TAP_OK(rc == 0 && rows == v1_fails() && rows > 0,
           "version 1, read-only: --method spf --result fail works on it (%d) %s", rows, why);
    event_summary sum;
    rc = event_store_summary(s, &q, &sum, why, sizeof why);
    TAP_OK(rc == 0 && sum.events == (uint64_t)rows && sum.methods.count == 1 &&
               strcmp(sum.methods.items[0].label, "spf=fail") == 0 &&
               sum.methods.items[0].count == (uint64_t)rows,
           "version 1, read-only: summary per method and result");
    if (rc == 0)
        event_summary_free(&sum);
    event_store_close(s);

    /* A reader cannot write. */
    s = open_store(path, EVENT_STORE_READ, why, sizeof why);
    event_record r = {.time = 1, .client_ip = "192.0.2.1"};
    const event_record *one[] = {&r};
    TAP_OK(event_store_write(s, one, 1, why, sizeof why) != 0,
           "a store opened for reading refuses writes: %s", why);
    event_store_close(s);
}

/* An upgrade that fails midway leaves the file as it was. */
static void test_failed_migration(void)
{
    char path[128], why[512];
    path_in_tmp(path, sizeof path, "v1-clash.db");
    make_v1_database(path);
    sqlite3 *db;
    sqlite3_open(path, &db);
    /* A column the upgrade will add already there (someone's own): the
     * third ALTER fails after the first two succeeded. */
    sqlite3_exec(db, "ALTER TABLE events ADD COLUMN recipients TEXT", NULL, NULL, NULL);
    char *before = dump(db, "SELECT * FROM events ORDER BY id");
    char *schema_before = dump(db, "SELECT * FROM sqlite_master ORDER BY name");
    event_store *s = open_store(path, EVENT_STORE_WRITE, why, sizeof why);
    TAP_OK(s == NULL && strstr(why, "recipients") != NULL,
           "a failing upgrade is reported: %s", why);
    event_store_close(s);
    char *after = dump(db, "SELECT * FROM events ORDER BY id");
    char *schema_after = dump(db, "SELECT * FROM sqlite_master ORDER BY name");
    TAP_OK(sql_int(db, "PRAGMA user_version") == 1 && before && after &&
               strcmp(before, after) == 0 && schema_before && schema_after &&
               strcmp(schema_before, schema_after) == 0,
           "a failing upgrade is rolled back whole");
    free(before);
    free(after);
    free(schema_before);
    free(schema_after);
    sqlite3_close(db);
}

/* With upgrade_on_write (the daemon's event log), the open leaves a
 * version 1 file as it is and the first write upgrades it; a write that
 * finds it locked fails, and the next one upgrades it. */
static void test_upgrade_on_write(void)
{
    char path[128], why[512];
    path_in_tmp(path, sizeof path, "v1-later.db");
    make_v1_database(path);
    event_store_options o = {.access = EVENT_STORE_WRITE, .busy_timeout_ms = 100,
                             .upgrade_on_write = true};
    event_store *s = event_store_open(path, &o, why, sizeof why);
    sqlite3 *db;
    sqlite3_open(path, &db);
    TAP_OK(s != NULL && why[0] == '\0' && sql_int(db, "PRAGMA user_version") == 1,
           "upgrade on write: the open leaves version 1 as it is (%s)", why);
    event_record r = {.time = 1800000000, .listener = "milter", .client_ip = "192.0.2.9",
                      .helo = "h", .mail_from = "", .action = "accept"};
    const event_record *one[] = {&r};
    sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    int locked = s ? event_store_write(s, one, 1, why, sizeof why) : 0;
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    TAP_OK(locked != 0 && strstr(why, "upgrade") != NULL && sql_int(db, "PRAGMA user_version") == 1,
           "upgrade on write: a locked file fails the write, unchanged (%s)", why);
    int rc = s ? event_store_write(s, one, 1, why, sizeof why) : -1;
    TAP_OK(rc == 0 && sql_int(db, "PRAGMA user_version") == 8 &&
               sql_int(db, "SELECT count(*) FROM events") == V1_ROWS + 1,
           "upgrade on write: the next write upgrades, then appends (%s)", why);
    event_store_close(s);
    sqlite3_close(db);
}

/* -------------------------------------------- queries through the API */

static const event_result r_spf_pass = {"spf", "pass", "example.com", "mx", NULL,
                                        "smtp.mailfrom=a@example.com"};
static const event_result r_spf_fail = {"spf", "fail", "Evil.Example", "-all", NULL,
                                        "smtp.mailfrom=b@evil.example"};
static const event_result r_dkim_pass = {"dkim", "pass", "example.org", "s1", NULL,
                                         "header.d=example.org header.s=s1"};
static const event_result r_dkim_fail = {"dkim", "fail", "Signer.Example", "s2",
                                         "body hash did not verify",
                                         "header.d=signer.example header.s=s2"};

/* Pages of two, by the last row's (time, id), over events that share a
 * time and whose ids are not in time order: every event once, in order. */
typedef struct page_state {
    int64_t last_time, last_id;
    int rows;
    char order[64];
} page_state;

static int page_row(void *ctx, int64_t id, const event_record *e)
{
    page_state *p = ctx;
    p->last_time = e->time;
    p->last_id = id;
    p->rows++;
    size_t n = strlen(p->order);
    snprintf(p->order + n, sizeof p->order - n, "%lld ", (long long)id);
    return 0;
}

static void test_keyset_pages(void)
{
    char path[128], why[512];
    path_in_tmp(path, sizeof path, "pages.db");
    int64_t times[] = {50, 70, 70, 60, 70, 40, 60};
    event_record ev[7];
    const event_record *batch[7];
    for (int i = 0; i < 7; i++) {
        ev[i] = (event_record){.time = times[i], .client_ip = "192.0.2.9", .mail_from = "x@y",
                               .action = "accept"};
        batch[i] = &ev[i];
    }
    event_store *s = open_store(path, EVENT_STORE_WRITE, why, sizeof why);
    TAP_OK(s != NULL && event_store_write(s, batch, 7, why, sizeof why) == 0,
           "seven events written for paging (%s)", why);
    event_store_close(s);
    s = open_store(path, EVENT_STORE_READ, why, sizeof why);
    page_state all = {0};
    event_query q = {.limit = 2};
    int pages = 0;
    for (; pages < 10; pages++) {
        page_state p = {0};
        if (event_store_query(s, &q, page_row, &p, why, sizeof why) != 0 || p.rows == 0)
            break;
        strcat(all.order, p.order);
        all.rows += p.rows;
        q.have_before = true;
        q.before_time = p.last_time;
        q.before_id = p.last_id;
    }
    TAP_STR_EQ(all.order, "5 3 2 7 4 1 6 ", "pages of 2 by (time, id): each event once, newest first");
    TAP_OK(pages == 4 && all.rows == 7, "four pages, seven rows (%d, %d)", pages, all.rows);
    event_store_close(s);
}

static void test_queries(void)
{
    char path[128], why[512];
    path_in_tmp(path, sizeof path, "queries.db");
    event_result rs[4][2] = {{r_spf_pass, r_dkim_pass}, {r_spf_fail, r_dkim_fail},
                             {r_spf_pass, r_dkim_fail}, {r_dkim_pass}};
    event_rcpt rcpts[] = {{"a@example.net", "accept", NULL},
                          {"b@example.net", "reject", "550 5.7.1 no"}};
    event_record events[] = {
        {.time = 100, .client_ip = "192.0.2.1", .mail_from = "a@example.com",
         .identity = "mailfrom", .domain = "example.com", .result = "pass", .action = "accept",
         .results = rs[0], .result_count = 2, .rcpts = rcpts, .rcpt_count = 1},
        {.time = 200, .client_ip = "192.0.2.2", .mail_from = "b@evil.example",
         .identity = "mailfrom", .domain = "Evil.Example", .result = "fail", .action = "reject",
         .reasons = "spf=fail: fail_action reject", .dmarc = "fail",
        .results = rs[1], .result_count = 2,
         .rcpts = rcpts, .rcpt_count = 2},
        {.time = 300, .client_ip = "192.0.2.1", .mail_from = "c@example.com",
         .identity = "mailfrom", .domain = "example.com", .result = "pass", .action = "accept",
         .held_action = "reject", .results = rs[2], .result_count = 2},
        {.time = 400, .client_ip = "192.0.2.3", .skip_reason = "authenticated",
         .action = "accept", .results = rs[3], .result_count = 1},
    };
    const event_record *batch[] = {&events[0], &events[1], &events[2], &events[3]};
    event_store *s = open_store(path, EVENT_STORE_WRITE, why, sizeof why);
    TAP_OK(s != NULL && event_store_write(s, batch, 4, why, sizeof why) == 0,
           "a batch of four events is written (%s)", why);
    event_store_close(s);
    s = open_store(path, EVENT_STORE_READ, why, sizeof why);

    struct { const char *what; event_query q; int want; } cases[] = {
        {"everything", {0}, 4},
        {"--method dkim", {.method = "dkim"}, 4},
        {"--method DKIM --result fail", {.method = "DKIM", .results = (const char *[]){"fail"},
                                         .result_count = 1}, 2},
        {"--method dkim --result pass,policy",
         {.method = "dkim", .results = (const char *[]){"pass", "policy"}, .result_count = 2}, 2},
        {"--method dkim --domain signer.example", {.method = "dkim", .domain = "signer.example"},
         2},
        {"--method dkim --result fail --domain example.org",
         {.method = "dkim", .results = (const char *[]){"fail"}, .result_count = 1,
          .domain = "example.org"}, 0},
        {"--method spf --result fail", {.method = "spf", .results = (const char *[]){"fail"},
                                        .result_count = 1}, 1},
        {"--method arc", {.method = "arc"}, 0},
        {"--result pass (the SPF column)", {.results = (const char *[]){"pass"},
                                            .result_count = 1}, 2},
        {"--domain evil.example", {.domain = "evil.example"}, 1},
        {"--action reject", {.actions = (const char *[]){"reject"}, .action_count = 1}, 2},
        {"--skip", {.skipped = true}, 1},
        {"--ip", {.client_ip = "192.0.2.1"}, 2},
        {"--since 200 --until 400", {.have_since = true, .since = 200, .have_until = true,
                                     .until = 400}, 2},
        /* The web console's searches and keyset paging (issue 14). */
        {"sender contains EVIL", {.sender = "EVIL"}, 1},
        {"sender contains example.com", {.sender = "example.com"}, 2},
        {"a recipient contains b@", {.rcpt = "b@"}, 1},
        {"a recipient contains example.net", {.rcpt = "example.net"}, 2},
        {"held_action reject", {.held_action = "reject"}, 1},
        {"id 2", {.id = 2}, 1},
        {"id 99", {.id = 99}, 0},
        {"after (300, 3) newest first", {.have_before = true, .before_time = 300,
                                         .before_id = 3}, 2},
        {"after (400, 4)", {.have_before = true, .before_time = 400, .before_id = 4}, 3},
        {"after (100, 1)", {.have_before = true, .before_time = 100, .before_id = 1}, 0},
        {"--limit 3", {.limit = 3}, 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rows = 0;
        int rc = event_store_query(s, &cases[i].q, count_event, &rows, why, sizeof why);
        TAP_OK(rc == 0 && rows == cases[i].want, "query %s: %d events (want %d) %s",
               cases[i].what, rows, cases[i].want, rc ? why : "");
        if (cases[i].q.limit != 0)
            continue; /* a count has no limit */
        uint64_t n = 99;
        rc = event_store_count(s, &cases[i].q, &n, why, sizeof why);
        TAP_OK(rc == 0 && n == (uint64_t)cases[i].want, "count %s: %llu", cases[i].what,
               (unsigned long long)n);
    }

    /* The second event whole, as the store gives it back. */
    event_query q = {.domain = "EVIL.example"};
    found_event found = {0};
    event_store_query(s, &q, keep_json, &found, why, sizeof why);
    TAP_STR_EQ(found.json,
               "{\"id\":2,\"time\":200,\"listener\":null,\"queue_id\":null,"
               "\"client_ip\":\"192.0.2.2\",\"client_name\":null,\"helo\":null,"
               "\"mail_from\":\"b@evil.example\",\"rcpt\":null,\"header_from\":null,"
               "\"identity\":\"mailfrom\",\"domain\":\"Evil.Example\",\"result\":\"fail\","
               "\"mechanism\":null,\"problem\":null,\"skip_reason\":null,\"score\":0,"
               "\"action\":\"reject\",\"held_action\":null,\"reply\":null,"
               "\"reasons\":\"spf=fail: fail_action reject\",\"dmarc\":\"fail\","
               "\"node\":null,\"uid\":null,"
               "\"results\":[{\"method\":\"spf\",\"result\":\"fail\",\"domain\":\"Evil.Example\","
               "\"detail\":\"-all\",\"reason\":null,\"props\":\"smtp.mailfrom=b@evil.example\"},"
               "{\"method\":\"dkim\",\"result\":\"fail\",\"domain\":\"Signer.Example\","
               "\"detail\":\"s2\",\"reason\":\"body hash did not verify\","
               "\"props\":\"header.d=signer.example header.s=s2\"}],"
               "\"recipients\":[{\"address\":\"a@example.net\",\"action\":\"accept\","
               "\"reply\":null},{\"address\":\"b@example.net\",\"action\":\"reject\","
               "\"reply\":\"550 5.7.1 no\"}]}",
               "an event comes back whole: fields, results and recipients");
    free(found.json);

    event_query none = {0};
    event_summary sum;
    int rc = event_store_summary(s, &none, &sum, why, sizeof why);
    TAP_OK(rc == 0 && sum.events == 4 && sum.first == 100 && sum.last == 400,
           "summary: count and span (%s)", why);
    if (rc == 0) {
        char text[1024] = "";
        const event_counts *lists[] = {&sum.results, &sum.actions, &sum.held, &sum.methods};
        for (int l = 0; l < 4; l++) {
            for (size_t i = 0; i < lists[l]->count; i++) {
                size_t used = strlen(text);
                snprintf(text + used, sizeof text - used, "%s%s=%llu", i ? " " : "",
                         lists[l]->items[i].label, (unsigned long long)lists[l]->items[i].count);
            }
            strcat(text, "; ");
        }
        TAP_STR_EQ(text,
                   "pass=2 fail=1 skipped: authenticated=1; accept=3 reject=1; reject=1; "
                   "dkim=fail=2 dkim=pass=2 spf=pass=2 spf=fail=1; ",
                   "summary: per result, action, held action, and method=result");
        event_summary_free(&sum);
    }
    event_query dkim = {.method = "dkim", .results = (const char *[]){"fail"}, .result_count = 1};
    rc = event_store_summary(s, &dkim, &sum, why, sizeof why);
    TAP_OK(rc == 0 && sum.events == 2 && sum.methods.count == 1 &&
               strcmp(sum.methods.items[0].label, "dkim=fail") == 0,
           "summary with a method: only that method's entries");
    if (rc == 0)
        event_summary_free(&sum);
    uint64_t deleted = 0;
    TAP_OK(event_store_purge(s, 1000, &deleted, why, sizeof why) != 0,
           "purge: refused by a read-only store");
    event_store_close(s);

    s = open_store(path, EVENT_STORE_PURGE, why, sizeof why);
    rc = event_store_purge(s, 300, &deleted, why, sizeof why);
    int rows = 0;
    event_store_query(s, &none, count_event, &rows, why, sizeof why);
    TAP_OK(rc == 0 && deleted == 2 && rows == 2, "purge: the events before a time go (%llu)",
           (unsigned long long)deleted);
    event_store_close(s);

    /* Where a store cannot be. */
    s = open_store("mysql://db.example/domauth", EVENT_STORE_READ, why, sizeof why);
    TAP_OK(s == NULL && strstr(why, "no event store") != NULL,
           "a location no backend of this build claims: %s", why);
    path_in_tmp(path, sizeof path, "missing.db");
    s = open_store(path, EVENT_STORE_READ, why, sizeof why);
    TAP_OK(s == NULL && strstr(why, "no event database at") != NULL,
           "a reader does not create a missing store: %s", why);
    TAP_OK(access(path, F_OK) != 0, "  and no file appeared");
}

/* Version 8's hourly counts of the results vectors: a summary over whole
 * hours (from event_result_hours) gives exactly what the same window read
 * from the events gives (json_each); the triggers keep it through a
 * replayed event (stored once), a purge and an upgrade. */
static char *methods_of(event_store *s, int64_t since, bool until, int64_t until_time)
{
    event_query q = {.have_since = true, .since = since, .have_until = until,
                     .until = until_time};
    event_summary sum;
    char why[300];
    if (event_store_summary(s, &q, &sum, why, sizeof why) != 0)
        return NULL;
    strbuf b;
    strbuf_init(&b);
    for (size_t i = 0; i < sum.methods.count; i++)
        strbuf_printf(&b, "%s%s:%llu", i ? " " : "", sum.methods.items[i].label,
                      (unsigned long long)sum.methods.items[i].count);
    strbuf_putc(&b, '\0');
    event_summary_free(&sum);
    return strbuf_take(&b);
}

static void test_hourly_counts(void)
{
    char path[128], why[512];
    path_in_tmp(path, sizeof path, "hours.db");
    event_store *s = open_store(path, EVENT_STORE_WRITE, why, sizeof why);
    const int64_t h = 1800000000 / 3600 * 3600; /* a whole hour */
    event_result spf_pass = {"spf", "pass", "a.example", NULL, NULL, NULL};
    event_result spf_fail = {"spf", "fail", "b.example", NULL, NULL, NULL};
    event_result dkim = {"dkim", "pass", "a.example", "s1", NULL, NULL};
    event_result none = {NULL, NULL, NULL, NULL, NULL, NULL};
    event_result two[2] = {spf_pass, dkim}, helo_twice[2] = {spf_fail, spf_pass};
    event_record rs[6] = {
        {.time = h + 10, .client_ip = "192.0.2.1", .uid = "u1", .results = two, .result_count = 2},
        {.time = h + 20, .client_ip = "192.0.2.2", .uid = "u2", .results = helo_twice,
         .result_count = 2},
        {.time = h + 3599, .client_ip = "192.0.2.3", .uid = "u3", .results = &none,
         .result_count = 1},
        {.time = h + 3600, .client_ip = "192.0.2.4", .uid = "u4", .results = two, .result_count = 2},
        {.time = h + 7300, .client_ip = "192.0.2.5", .uid = "u5", .results = &spf_fail,
         .result_count = 1},
        {.time = h + 20, .client_ip = "192.0.2.2", .uid = "u2", .results = helo_twice,
         .result_count = 2}, /* a replay of u2: stored once */
    };
    const event_record *all[6] = {&rs[0], &rs[1], &rs[2], &rs[3], &rs[4], &rs[5]};
    TAP_OK(s && event_store_write(s, all, 5, why, sizeof why) == 0 &&
               event_store_write(s, all + 5, 1, why, sizeof why) == 0,
           "hourly counts: events in three hours written, one replayed (%s)", why);
    event_store_close(s);
    s = open_store(path, EVENT_STORE_READ, why, sizeof why);
    /* since h: whole hours (the counts); since h - 1: not (the events). */
    char *hours = methods_of(s, h, false, 0), *events = methods_of(s, h - 1, false, 0);
    TAP_OK(hours && events && strcmp(hours, events) == 0 &&
               strcmp(hours, "spf=pass:3 dkim=pass:2 spf=fail:2 -=-:1") == 0,
           "a window of whole hours counts as the events do: %s | %s", hours, events);
    free(hours);
    free(events);
    event_query wq = {.have_since = true, .since = h};
    event_counts mc;
    TAP_OK(event_store_methods(s, &wq, &mc, why, sizeof why) == 0 && mc.count == 4 &&
               strcmp(mc.items[0].label, "spf=pass") == 0 && mc.items[0].count == 3,
           "event_store_methods: the summary's methods counts alone");
    event_counts_free(&mc);
    hours = methods_of(s, h, true, h + 3600);
    events = methods_of(s, h - 1, true, h + 3600);
    TAP_OK(hours && events && strcmp(hours, events) == 0 &&
               strcmp(hours, "spf=pass:2 -=-:1 dkim=pass:1 spf=fail:1") == 0,
           "one hour, [since, until): %s", hours);
    free(hours);
    free(events);
    event_store_close(s);
    s = open_store(path, EVENT_STORE_WRITE, why, sizeof why);
    uint64_t deleted = 0;
    TAP_OK(s && event_store_purge(s, h + 3600, &deleted, why, sizeof why) == 0 && deleted == 3,
           "the purge deletes the first hour's three events");
    event_store_close(s);
    s = open_store(path, EVENT_STORE_READ, why, sizeof why);
    hours = s ? methods_of(s, h, false, 0) : NULL;
    events = s ? methods_of(s, h - 1, false, 0) : NULL;
    TAP_OK(hours && events && strcmp(hours, events) == 0 &&
               strcmp(hours, "dkim=pass:1 spf=fail:1 spf=pass:1") == 0,
           "after the purge the counts still agree: %s", hours);
    free(hours);
    free(events);
    event_store_close(s);
    sqlite3 *db;
    sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    TAP_OK(sql_int(db, "SELECT count(*) FROM event_result_hours WHERE hour = 1799996400") == 0,
           "and the emptied hour has no rows left");
    sqlite3_close(db);

    /* The version 1 file test_migration upgraded: counted by the upgrade. */
    path_in_tmp(path, sizeof path, "v1.db");
    s = open_store(path, EVENT_STORE_READ, why, sizeof why);
    hours = s ? methods_of(s, 0, false, 0) : NULL;
    events = s ? methods_of(s, -1, false, 0) : NULL;
    TAP_OK(hours && events && strcmp(hours, events) == 0 && strstr(hours, "spf=") != NULL,
           "an upgraded file's counts are its events': %.60s", hours ? hours : "");
    free(hours);
    free(events);
    event_store_close(s);
}

int main(void)
{
    strcpy(tmpdir, "/tmp/event-store-test-XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    memset(long_value, 'L', sizeof long_value - 1);
    test_migration();
    test_reopen_is_a_no_op();
    test_newer_is_refused();
    test_reader_of_v1();
    test_failed_migration();
    test_upgrade_on_write();
    test_queries();
    test_keyset_pages();
    test_hourly_counts();
    char command[128];
    snprintf(command, sizeof command, "rm -rf '%s'", tmpdir);
    if (system(command) != 0)
        printf("# could not remove %s\n", tmpdir);
    return tap_done();
}
