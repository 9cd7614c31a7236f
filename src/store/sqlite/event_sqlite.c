/* event_sqlite.c: the SQLite event store, one file on one host. It owns the
 * schema (schema.h) and its migrations; every value from outside is a
 * bound parameter, and the SQL is built only from the constant fragments
 * here. */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "schema.h"
#include "sqlite_common.h"
#include "store/event_store.h"
#include "util/errbuf.h"
#include "util/strbuf.h"

enum {
    BUSY_TIMEOUT_DEFAULT_MS = 5000,
    PURGE_CHUNK = 10000, /* rows per transaction, so the writer never waits long */
};

typedef struct sqlite_store {
    event_store base;
    sqlite3 *db;
    int version;               /* of the file (after the migration, when writing) */
    bool upgrade_pending;      /* an older file, to upgrade before the first write */
    const char *source;        /* the events table as version 2 shows it */
    sqlite3_stmt *insert;      /* when writing */
    sqlite3_stmt *read_results, *read_rcpts; /* a row's arrays, when reading */
    strbuf results_json, rcpts_json;
} sqlite_store;

static int failed(sqlite_store *s, const char *what, char *why, size_t why_size)
{
    errbuf_set(why, why_size, "%s failed: %s", what, sqlite3_errmsg(s->db));
    return -1;
}

static int exec(sqlite3 *db, const char *sql, char *why, size_t why_size)
{
    char *message = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &message) == SQLITE_OK)
        return 0;
    errbuf_set(why, why_size, "%s", message ? message : sqlite3_errmsg(db));
    sqlite3_free(message);
    return -1;
}

/* ---------------------------------------------------------- opening */

/* Creates each missing directory above path, mode 0750 (before the umask). */
static int make_parent_directories(const char *path, char *why, size_t why_size)
{
    char *copy = strdup(path);
    if (copy == NULL) {
        errbuf_set(why, why_size, "out of memory");
        return -1;
    }
    int rc = 0;
    for (char *slash = strchr(copy + 1, '/'); slash != NULL; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        if (mkdir(copy, 0750) != 0 && errno != EEXIST) {
            errbuf_set(why, why_size, "cannot create directory %s: %s", copy, strerror(errno));
            rc = -1;
            break;
        }
        *slash = '/';
    }
    free(copy);
    return rc;
}

/* PRAGMA user_version, or -1 (with SQLite's message in why) when the file
 * cannot be read as a database. */
static int user_version(sqlite3 *db, char *why, size_t why_size)
{
    sqlite3_stmt *st = NULL;
    int version = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    else
        errbuf_set(why, why_size, "%s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return version;
}

/* A database from a newer domauth is left alone: this one would not know
 * what its columns mean. */
static int refuse_newer(int version, char *why, size_t why_size)
{
    errbuf_set(why, why_size,
        "schema version %d is newer than this domauth's (%d); the database is left as it is",
        version, EVENT_SQLITE_SCHEMA_VERSION);
    return -1;
}

/* Brings the schema to EVENT_SQLITE_SCHEMA_VERSION in one transaction.
 * Version 0 is a new file; upgrades[v] turns version v into v + 1. The
 * version is read again under the write lock (another writer may have
 * upgraded the file meanwhile); a file at the current version is not
 * written. */
static int migrate(sqlite_store *s, char *why, size_t why_size)
{
    static const char *const upgrades[EVENT_SQLITE_SCHEMA_VERSION] = {
        [0] = EVENT_SQLITE_V1_SQL,
        [1] = EVENT_SQLITE_V2_UPGRADE,
        [2] = EVENT_SQLITE_V3_UPGRADE,
        [3] = EVENT_SQLITE_V4_UPGRADE,
        [4] = EVENT_SQLITE_V5_UPGRADE,
        [5] = EVENT_SQLITE_V6_UPGRADE,
        [6] = EVENT_SQLITE_V7_UPGRADE,
        [7] = EVENT_SQLITE_V8_UPGRADE,
    };
    if (exec(s->db, "BEGIN IMMEDIATE", why, why_size) != 0)
        return -1;
    int version = user_version(s->db, why, why_size);
    if (version < 0)
        goto fail;
    if (version > EVENT_SQLITE_SCHEMA_VERSION) {
        refuse_newer(version, why, why_size);
        goto fail;
    }
    for (int v = version; v < EVENT_SQLITE_SCHEMA_VERSION; v++)
        if (exec(s->db, upgrades[v], why, why_size) != 0)
            goto fail;
    if (version < EVENT_SQLITE_SCHEMA_VERSION) {
        char sql[64]; /* a constant, not input: PRAGMA takes no parameters */
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", EVENT_SQLITE_SCHEMA_VERSION);
        if (exec(s->db, sql, why, why_size) != 0)
            goto fail;
    }
    if (exec(s->db, "COMMIT", why, why_size) != 0)
        goto fail;
    s->version = EVENT_SQLITE_SCHEMA_VERSION;
    return 0;
fail:
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/* The file is created beforehand, mode 0640: it holds addresses, and SQLite
 * gives its -wal and -shm files the mode of the database. */
static int open_for_writing(sqlite_store *s, const char *path, char *why, size_t why_size)
{
    if (make_parent_directories(path, why, why_size) != 0)
        return -1;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
    if (fd < 0) {
        errbuf_set(why, why_size, "%s", strerror(errno));
        return -1;
    }
    close(fd);
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        errbuf_set(why, why_size, "%s", s->db ? sqlite3_errmsg(s->db) : "out of memory");
        return -1;
    }
    return 0;
}

static int prepare_insert(sqlite_store *s, char *why, size_t why_size)
{
    char sql[640] = "INSERT INTO events (" EVENT_SQLITE_COLUMNS ") VALUES (";
    for (int c = 0; c < EVF_COUNT + 2; c++) {
        size_t used = strlen(sql);
        snprintf(sql + used, sizeof sql - used, "%s?%d", c ? "," : "", c + 1);
    }
    /* A replayed event (its uid stored already) is skipped, not an error. */
    strcat(sql, ") ON CONFLICT DO NOTHING");
    if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->insert, NULL) !=
        SQLITE_OK) {
        errbuf_set(why, why_size, "%s", sqlite3_errmsg(s->db));
        return -1;
    }
    return 0;
}

/* WAL lets readers read while the writer writes. Keeping the -wal and -shm
 * files after close lets a reader without write access to the directory
 * open the database read-only; the size limit truncates the kept -wal file
 * after a checkpoint. NORMAL sync is enough for a log: a power cut may lose
 * the last commits, never the file.
 *
 * A file at the current version is used without taking the write lock. A
 * new one is made at once (cheap, and readers can then read it); an older
 * one is upgraded now, or by the first write when upgrade_on_write is set. */
static int set_up_writer(sqlite_store *s, const event_store_options *o, char *why,
                         size_t why_size)
{
    int persist = 1;
    if (exec(s->db, "PRAGMA journal_mode = WAL", why, why_size) != 0 ||
        exec(s->db, "PRAGMA synchronous = NORMAL", why, why_size) != 0 ||
        exec(s->db, "PRAGMA journal_size_limit = 8388608", why, why_size) != 0)
        return -1;
    sqlite3_file_control(s->db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
    int version = user_version(s->db, why, why_size);
    if (version < 0)
        return -1;
    if (version > EVENT_SQLITE_SCHEMA_VERSION)
        return refuse_newer(version, why, why_size);
    if (version > 0 && version < EVENT_SQLITE_SCHEMA_VERSION && o->upgrade_on_write) {
        s->version = version;
        s->upgrade_pending = true;
        return 0;
    }
    if (version < EVENT_SQLITE_SCHEMA_VERSION) {
        if (migrate(s, why, why_size) != 0) /* sets s->version */
            return -1;
    } else {
        s->version = version;
    }
    return prepare_insert(s, why, why_size);
}

/* The upgrade that set_up_writer left to the first write. */
static int upgrade_now(sqlite_store *s, char *why, size_t why_size)
{
    char message[400] = "";
    if (migrate(s, message, sizeof message) != 0 ||
        prepare_insert(s, message, sizeof message) != 0) {
        errbuf_set(why, why_size, "upgrade from schema version %d failed: %s", s->version, message);
        return -1;
    }
    s->upgrade_pending = false;
    return 0;
}

/* A reader (or the purge) takes the file as it is: it must exist and hold
 * an events table of some version. */
static int open_existing(sqlite_store *s, const char *path, bool writing, char *why,
                         size_t why_size)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        errbuf_set(why, why_size, "no event database at %s: %s", path, strerror(errno));
        return -1;
    }
    int flags = writing ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY;
    if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
        errbuf_set(why, why_size, "cannot open %s: %s", path,
            s->db ? sqlite3_errmsg(s->db) : "out of memory");
        return -1;
    }
    return 0;
}

/* The statement that reads a results or recipients array, one row per
 * element and one column per key of store/event.h (constant names, not
 * input), in their order: SELECT json_extract(value, '$.method'), ... FROM
 * json_each(?1). */
static int prepare_array_reader(sqlite_store *s, const char *(*key)(int), int n,
                                sqlite3_stmt **st)
{
    strbuf sql;
    strbuf_init(&sql);
    strbuf_puts(&sql, "SELECT ");
    for (int i = 0; i < n; i++)
        strbuf_printf(&sql, "%sjson_extract(value, '$.%s')", i ? ", " : "", key(i));
    strbuf_puts(&sql, " FROM json_each(?1)");
    int rc = sql.failed ? SQLITE_NOMEM : sqlite3_prepare_v2(s->db, sql.data, -1, st, NULL);
    strbuf_free(&sql);
    return rc;
}

static int check_readable(sqlite_store *s, const char *path, char *why, size_t why_size)
{
    char message[256] = "";
    s->version = user_version(s->db, message, sizeof message);
    if (s->version < 1) {
        errbuf_set(why, why_size, "%s is not a domauth event database%s%s", path,
            message[0] ? ": " : "", message);
        return -1;
    }
    s->source = s->version == 1   ? EVENT_SQLITE_SOURCE_V1
                : s->version < 4 ? EVENT_SQLITE_SOURCE_V2
                : s->version < 5 ? EVENT_SQLITE_SOURCE_V4
                                 : EVENT_SQLITE_SOURCE_V5;
    if (prepare_array_reader(s, event_result_key, EVENT_RESULT_STRINGS, &s->read_results) !=
            SQLITE_OK ||
        prepare_array_reader(s, event_rcpt_key, EVENT_RCPT_STRINGS, &s->read_rcpts) !=
            SQLITE_OK) {
        errbuf_set(why, why_size, "%s", sqlite3_errmsg(s->db));
        return -1;
    }
    if (s->version > EVENT_SQLITE_SCHEMA_VERSION)
        errbuf_set(why, why_size, "%s has schema version %d, newer than this domauth's (%d)", path,
            s->version, EVENT_SQLITE_SCHEMA_VERSION);
    return 0;
}

static void sqlite_close(event_store *store)
{
    sqlite_store *s = (sqlite_store *)store;
    if (s == NULL)
        return;
    sqlite3_finalize(s->insert);
    sqlite3_finalize(s->read_results);
    sqlite3_finalize(s->read_rcpts);
    sqlite3_close(s->db);
    strbuf_free(&s->results_json);
    strbuf_free(&s->rcpts_json);
    free(s);
}

/* domauth_ip_in(ip, network): 1 when the address is in the network, for
 * a query by network (--ip 192.0.2.0/24); the store keeps addresses as
 * text, as the MTA gave them. */
static void sql_ip_in(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const char *ip = (const char *)sqlite3_value_text(argv[0]);
    const char *net = (const char *)sqlite3_value_text(argv[1]);
    sqlite3_result_int(ctx, ip != NULL && net != NULL && event_ip_in_network(ip, net));
}

static event_store *sqlite_open(const char *path, const event_store_options *o, char *why,
                                size_t why_size)
{
    sqlite_store *s = calloc(1, sizeof *s);
    if (s == NULL) {
        errbuf_set(why, why_size, "out of memory");
        return NULL;
    }
    s->base.ops = &event_store_sqlite;
    strbuf_init(&s->results_json);
    strbuf_init(&s->rcpts_json);
    errbuf_set(why, why_size, "%s", "");
    int rc;
    if (o->access == EVENT_STORE_WRITE)
        rc = open_for_writing(s, path, why, why_size);
    else
        rc = open_existing(s, path, o->access == EVENT_STORE_PURGE, why, why_size);
    if (rc == 0 &&
        sqlite3_create_function_v2(s->db, "domauth_ip_in", 2,
                                   SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, NULL,
                                   sql_ip_in, NULL, NULL, NULL) != SQLITE_OK) {
        errbuf_set(why, why_size, "%s: %s", path, sqlite3_errmsg(s->db));
        rc = -1;
    }
    if (rc == 0) {
        sqlite3_busy_timeout(s->db, (int)(o->busy_timeout_ms ? o->busy_timeout_ms
                                                             : BUSY_TIMEOUT_DEFAULT_MS));
        if (o->access == EVENT_STORE_WRITE)
            rc = set_up_writer(s, o, why, why_size);
        else
            rc = check_readable(s, path, why, why_size);
    }
    if (rc != 0) {
        sqlite_close(&s->base);
        return NULL;
    }
    return &s->base;
}

/* ---------------------------------------------------------- writing */

static void put_strbuf(void *ctx, const char *bytes, size_t len)
{
    strbuf_append(ctx, bytes, len);
}

static int bind_record(sqlite_store *s, const event_record *r)
{
    sqlite3_stmt *st = s->insert;
    for (int f = 0; f < EVF_COUNT; f++) {
        if (f == EVF_TIME) {
            sqlite3_bind_int64(st, f + 1, r->time);
        } else if (f == EVF_SCORE) {
            sqlite3_bind_double(st, f + 1, r->score);
        } else {
            const char *v = event_field_string(r, f);
            if (v == NULL)
                sqlite3_bind_null(st, f + 1);
            else
                sqlite3_bind_text(st, f + 1, v, (int)event_kept_length(v), SQLITE_STATIC);
        }
    }
    strbuf_clear(&s->results_json);
    strbuf_clear(&s->rcpts_json);
    event_json_results(r, put_strbuf, &s->results_json);
    event_json_recipients(r, put_strbuf, &s->rcpts_json);
    if (s->results_json.failed || s->rcpts_json.failed) {
        s->results_json.failed = s->rcpts_json.failed = false;
        return -1;
    }
    sqlite3_bind_text(st, EVF_COUNT + 1, s->results_json.data, (int)s->results_json.len,
                      SQLITE_STATIC);
    sqlite3_bind_text(st, EVF_COUNT + 2, s->rcpts_json.data, (int)s->rcpts_json.len,
                      SQLITE_STATIC);
    return 0;
}

/* One batch's entries per hour, method and result (version 8), added to
 * event_result_hours with one upsert each before the batch commits. */
typedef struct hour_count {
    int64_t hour;
    const char *method, *result; /* the records', valid during the write */
    int64_t n;
} hour_count;

typedef struct hour_counts {
    hour_count *items;
    size_t count, cap;
} hour_counts;

static int count_results(hour_counts *c, const event_record *r)
{
    int64_t hour = r->time - r->time % 3600; /* as the upgrade and the trigger compute it */
    for (size_t i = 0; i < r->result_count; i++) {
        const char *m = r->results[i].method ? r->results[i].method : "-";
        const char *v = r->results[i].result ? r->results[i].result : "-";
        size_t k = 0;
        while (k < c->count && (c->items[k].hour != hour || strcmp(c->items[k].method, m) ||
                                strcmp(c->items[k].result, v)))
            k++;
        if (k == c->count) {
            if (c->count == c->cap) {
                size_t cap = c->cap ? c->cap * 2 : 32;
                hour_count *n = realloc(c->items, cap * sizeof *n);
                if (n == NULL)
                    return -1;
                c->items = n;
                c->cap = cap;
            }
            c->items[c->count++] = (hour_count){hour, m, v, 0};
        }
        c->items[k].n++;
    }
    return 0;
}

static int store_counts(sqlite_store *s, const hour_counts *c, char *why, size_t why_size)
{
    if (c->count == 0)
        return 0;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, EVENT_SQLITE_COUNT_RESULTS, -1, &st, NULL) != SQLITE_OK)
        return failed(s, "counting results", why, why_size);
    int rc = SQLITE_DONE;
    for (size_t i = 0; i < c->count && rc == SQLITE_DONE; i++) {
        sqlite3_bind_int64(st, 1, c->items[i].hour);
        sqlite3_bind_text(st, 2, c->items[i].method, (int)event_kept_length(c->items[i].method),
                          SQLITE_STATIC);
        sqlite3_bind_text(st, 3, c->items[i].result, (int)event_kept_length(c->items[i].result),
                          SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, c->items[i].n);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : failed(s, "counting results", why, why_size);
}

static int sqlite_write(event_store *store, const event_record *const *records, size_t count,
                        char *why, size_t why_size)
{
    hour_counts counts = {0};
    int status = -1;
    sqlite_store *s = (sqlite_store *)store;
    if (s->upgrade_pending && upgrade_now(s, why, why_size) != 0)
        return -1;
    if (s->insert == NULL) {
        errbuf_set(why, why_size, "the event store was not opened for writing");
        return -1;
    }
    if (count == 0)
        return 0;
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return failed(s, "begin", why, why_size);
    for (size_t i = 0; i < count; i++) {
        if (bind_record(s, records[i]) != 0) {
            errbuf_set(why, why_size, "insert failed: out of memory");
            goto fail;
        }
        int rc = sqlite3_step(s->insert);
        sqlite3_reset(s->insert);
        sqlite3_clear_bindings(s->insert); /* the strings are the caller's */
        if (rc != SQLITE_DONE) {
            failed(s, "insert", why, why_size);
            goto fail;
        }
        /* A replay stored nothing, and is not counted. */
        if (s->version >= 8 && sqlite3_changes(s->db) == 1 &&
            count_results(&counts, records[i]) != 0) {
            errbuf_set(why, why_size, "insert failed: out of memory");
            goto fail;
        }
    }
    if (store_counts(s, &counts, why, why_size) != 0)
        goto fail;
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        failed(s, "commit", why, why_size);
        goto fail;
    }
    status = 0;
    goto done;
fail:
    if (!sqlite3_get_autocommit(s->db)) /* SQLite may have rolled back already */
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
done:
    free(counts.items);
    return status;
}

/* ---------------------------------------------------------- queries */

/* The WHERE conditions of a query, built from the constant fragments below
 * with a ? for each value. The same walk appends the SQL (sql set) or binds
 * the values in the same order (st set). */
typedef struct where_walk {
    strbuf *sql;
    sqlite3_stmt *st;
    int bound;
    int conditions;
} where_walk;

static void where_sql(where_walk *w, const char *fragment)
{
    if (w->sql != NULL)
        strbuf_puts(w->sql, fragment);
}

static void where_and(where_walk *w)
{
    where_sql(w, w->conditions++ ? " AND " : " WHERE ");
}

static void where_text(where_walk *w, const char *fragment, const char *value)
{
    where_sql(w, fragment);
    if (w->st != NULL)
        sqlite3_bind_text(w->st, ++w->bound, value, -1, SQLITE_STATIC);
}

static void where_number(where_walk *w, const char *fragment, int64_t value)
{
    where_sql(w, fragment);
    if (w->st != NULL)
        sqlite3_bind_int64(w->st, ++w->bound, value);
}

/* "expr IN (?,?,...)" */
static void where_in(where_walk *w, const char *expr, const char *const *values, size_t n)
{
    where_sql(w, expr);
    where_sql(w, " IN (");
    for (size_t i = 0; i < n; i++)
        where_text(w, i ? ",?" : "?", values[i]);
    where_sql(w, ")");
}

#define ENTRY_METHOD "json_extract(r.value, '$.method')"
#define ENTRY_RESULT "json_extract(r.value, '$.result')"
#define ENTRY_DOMAIN "json_extract(r.value, '$.domain')"

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
        where_text(w, "EXISTS (SELECT 1 FROM json_each(ev.results) AS r WHERE " ENTRY_METHOD
                      " = ? COLLATE NOCASE",
                   q->method);
        if (q->result_count > 0) {
            where_sql(w, " AND ");
            where_in(w, ENTRY_RESULT, q->results, q->result_count);
        }
        if (q->domain != NULL)
            where_text(w, " AND " ENTRY_DOMAIN " = ? COLLATE NOCASE", q->domain);
        where_sql(w, ")");
    } else {
        if (q->result_count > 0) {
            where_and(w);
            where_in(w, "result", q->results, q->result_count);
        }
        if (q->domain != NULL) {
            where_and(w);
            where_text(w, "domain = ?", q->domain); /* the column compares without case */
        }
    }
    if (q->client_ip != NULL) {
        where_and(w);
        where_text(w, "client_ip = ?", q->client_ip);
    }
    if (q->client_net != NULL) {
        where_and(w);
        where_text(w, "domauth_ip_in(client_ip, ?)", q->client_net);
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
        where_text(w, "node = ?", q->node);
    }
    if (q->sender != NULL) {
        where_and(w);
        where_text(w, "(instr(lower(mail_from), lower(?))", q->sender);
        where_text(w, " OR instr(lower(header_from), lower(?)))", q->sender);
    }
    if (q->rcpt != NULL) {
        where_and(w);
        where_text(w, "(instr(lower(rcpt), lower(?)) OR EXISTS (SELECT 1 FROM "
                      "json_each(ev.recipients) AS p WHERE instr(lower(json_extract(p.value, "
                      "'$.address')), lower(?))))",
                   q->rcpt);
        if (w->st != NULL)
            sqlite3_bind_text(w->st, ++w->bound, q->rcpt, -1, SQLITE_STATIC);
    }
    if (q->held_action != NULL) {
        where_and(w);
        where_text(w, "held_action = ?", q->held_action);
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

/* Prepares "SELECT head FROM source AS ev" + joins + the query's WHERE
 * (+ " AND extra" when extra is set, binding extra_value) + tail, and
 * binds every value. *next_bind is the number of the next parameter. */
static sqlite3_stmt *prepare_query(sqlite_store *s, const char *head, const char *joins,
                                   const event_query *q, const char *extra,
                                   const char *extra_value, const char *tail, int *next_bind,
                                   char *why, size_t why_size)
{
    strbuf sql;
    strbuf_init(&sql);
    strbuf_printf(&sql, "SELECT %s FROM %s AS ev%s", head, s->source, joins);
    where_walk w = {.sql = &sql};
    where_walk_query(&w, q);
    if (extra != NULL) {
        where_and(&w);
        where_sql(&w, extra);
    }
    strbuf_puts(&sql, tail);
    if (sql.failed) {
        strbuf_free(&sql);
        errbuf_set(why, why_size, "out of memory");
        return NULL;
    }
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql.data, -1, &st, NULL);
    strbuf_free(&sql);
    if (rc != SQLITE_OK) {
        errbuf_set(why, why_size, "%s", sqlite3_errmsg(s->db));
        return NULL;
    }
    where_walk b = {.st = st};
    where_walk_query(&b, q);
    if (extra != NULL && extra_value != NULL)
        sqlite3_bind_text(st, ++b.bound, extra_value, -1, SQLITE_STATIC);
    if (next_bind != NULL)
        *next_bind = b.bound + 1;
    return st;
}

/* Reads a JSON array of objects (a row's results or recipients) with st,
 * which selects `columns` strings per element. Their text goes into text;
 * offsets[i * columns + c] is where each starts, or (size_t)-1 for NULL. */
static int read_array(sqlite3_stmt *st, const char *json, int columns, strbuf *text,
                      size_t **offsets, size_t *cap, size_t *count)
{
    *count = 0;
    sqlite3_bind_text(st, 1, json ? json : "[]", -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if ((*count + 1) * (size_t)columns > *cap) {
            size_t bigger = *cap ? *cap * 2 : 16 * (size_t)columns;
            size_t *grown = realloc(*offsets, bigger * sizeof **offsets);
            if (grown == NULL) {
                sqlite3_reset(st);
                return SQLITE_NOMEM;
            }
            *offsets = grown;
            *cap = bigger;
        }
        for (int c = 0; c < columns; c++) {
            const unsigned char *v = sqlite3_column_text(st, c);
            size_t *slot = &(*offsets)[*count * (size_t)columns + (size_t)c];
            if (v == NULL) {
                *slot = (size_t)-1;
                continue;
            }
            *slot = text->len;
            strbuf_append(text, (const char *)v, (size_t)sqlite3_column_bytes(st, c));
            strbuf_putc(text, '\0');
        }
        (*count)++;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE)
        return rc;
    return text->failed ? SQLITE_NOMEM : SQLITE_OK;
}

static const char *at(const strbuf *text, size_t offset)
{
    return offset == (size_t)-1 ? NULL : text->data + offset;
}

/* The arrays of one row, with what they point into. */
typedef struct row_arrays {
    strbuf text;
    size_t *result_at, *rcpt_at;
    size_t result_cap, rcpt_cap;
    event_result *results;
    event_rcpt *rcpts;
    size_t results_room, rcpts_room;
} row_arrays;

static void row_arrays_free(row_arrays *a)
{
    strbuf_free(&a->text);
    free(a->result_at);
    free(a->rcpt_at);
    free(a->results);
    free(a->rcpts);
}

/* Fills r from the current row of st (id, then EVENT_SQLITE_COLUMNS). */
static int read_row(sqlite_store *s, sqlite3_stmt *st, row_arrays *a, event_record *r)
{
    *r = (event_record){0};
    r->time = sqlite3_column_int64(st, 1 + EVF_TIME);
    r->score = sqlite3_column_double(st, 1 + EVF_SCORE);
    for (int f = 0; f < EVF_COUNT; f++)
        if (event_field_is_string(f))
            *event_field_slot(r, f) = (const char *)sqlite3_column_text(st, 1 + f);
    const char *results = (const char *)sqlite3_column_text(st, 1 + EVF_COUNT);
    const char *rcpts = (const char *)sqlite3_column_text(st, 2 + EVF_COUNT);
    size_t nresults, nrcpts;
    strbuf_clear(&a->text);
    int rc = read_array(s->read_results, results, EVENT_RESULT_STRINGS, &a->text, &a->result_at,
                        &a->result_cap, &nresults);
    if (rc == SQLITE_OK)
        rc = read_array(s->read_rcpts, rcpts, EVENT_RCPT_STRINGS, &a->text, &a->rcpt_at,
                        &a->rcpt_cap, &nrcpts);
    if (rc != SQLITE_OK)
        return rc;
    if (nresults > a->results_room) {
        event_result *grown = realloc(a->results, nresults * sizeof *grown);
        if (grown == NULL)
            return SQLITE_NOMEM;
        a->results = grown;
        a->results_room = nresults;
    }
    if (nrcpts > a->rcpts_room) {
        event_rcpt *grown = realloc(a->rcpts, nrcpts * sizeof *grown);
        if (grown == NULL)
            return SQLITE_NOMEM;
        a->rcpts = grown;
        a->rcpts_room = nrcpts;
    }
    for (size_t i = 0; i < nresults; i++)
        for (int c = 0; c < EVENT_RESULT_STRINGS; c++)
            *event_result_slot(&a->results[i], c) =
                at(&a->text, a->result_at[i * EVENT_RESULT_STRINGS + (size_t)c]);
    for (size_t i = 0; i < nrcpts; i++)
        for (int c = 0; c < EVENT_RCPT_STRINGS; c++)
            *event_rcpt_slot(&a->rcpts[i], c) =
                at(&a->text, a->rcpt_at[i * EVENT_RCPT_STRINGS + (size_t)c]);
    r->results = nresults ? a->results : NULL;
    r->result_count = nresults;
    r->rcpts = nrcpts ? a->rcpts : NULL;
    r->rcpt_count = nrcpts;
    return SQLITE_OK;
}

static int sqlite_query(event_store *store, const event_query *q, event_row_fn *fn, void *ctx,
                        char *why, size_t why_size)
{
    sqlite_store *s = (sqlite_store *)store;
    if (s->read_results == NULL) {
        errbuf_set(why, why_size, "the event store was not opened for reading");
        return -1;
    }
    int limit_bind;
    sqlite3_stmt *st = prepare_query(s, "id, " EVENT_SQLITE_COLUMNS, "", q, NULL, NULL,
                                     " ORDER BY time DESC, id DESC LIMIT ?", &limit_bind, why,
                                     why_size);
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, limit_bind, q->limit ? (int64_t)q->limit : -1);
    row_arrays a = {0};
    strbuf_init(&a.text);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        event_record r;
        if ((rc = read_row(s, st, &a, &r)) != SQLITE_OK)
            break;
        if (fn(ctx, sqlite3_column_int64(st, 0), &r) != 0) {
            rc = SQLITE_DONE;
            break;
        }
    }
    int status = 0;
    if (rc != SQLITE_DONE) {
        errbuf_set(why, why_size, "%s", rc == SQLITE_NOMEM ? "out of memory" : sqlite3_errmsg(s->db));
        status = -1;
    }
    sqlite3_finalize(st);
    row_arrays_free(&a);
    return status;
}

/* ---------------------------------------------------------- summary */

static int read_counts(sqlite_store *s, sqlite3_stmt *st, event_counts *out, char *why,
                       size_t why_size)
{
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (out->count == cap) {
            size_t bigger = cap ? cap * 2 : 16;
            event_count *grown = realloc(out->items, bigger * sizeof *grown);
            if (grown == NULL) {
                rc = SQLITE_NOMEM;
                break;
            }
            out->items = grown;
            cap = bigger;
        }
        const char *label = (const char *)sqlite3_column_text(st, 0);
        char *copy = strdup(label ? label : "-");
        if (copy == NULL) {
            rc = SQLITE_NOMEM;
            break;
        }
        out->items[out->count].label = copy;
        out->items[out->count++].count = (uint64_t)sqlite3_column_int64(st, 1);
    }
    if (rc != SQLITE_DONE)
        errbuf_set(why, why_size, "%s", rc == SQLITE_NOMEM ? "out of memory" : sqlite3_errmsg(s->db));
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int count_by(sqlite_store *s, const char *head, const char *joins, const event_query *q,
                    const char *extra, const char *extra_value, event_counts *out, char *why,
                    size_t why_size)
{
    sqlite3_stmt *st = prepare_query(s, head, joins, q, extra, extra_value,
                                     " GROUP BY 1 ORDER BY 2 DESC, 1", NULL, why, why_size);
    return st == NULL ? -1 : read_counts(s, st, out, why, why_size);
}

/* Whether the results per method of q can come from the hourly counts
 * (version 8): a window of whole hours and no other filter. */
static bool hours_only(const sqlite_store *s, const event_query *q)
{
    return s->version >= 8 && s->version <= EVENT_SQLITE_SCHEMA_VERSION && q->have_since && q->since % 3600 == 0 &&
           (!q->have_until || q->until % 3600 == 0) && q->method == NULL &&
           q->result_count == 0 && q->domain == NULL && q->client_ip == NULL &&
           q->client_net == NULL && q->action_count == 0 && !q->skipped && q->node == NULL &&
           q->sender == NULL && q->rcpt == NULL && q->held_action == NULL && q->id == 0 &&
           !q->have_before;
}

/* The same counts as the json_each query of sqlite_summary, from
 * event_result_hours. */
static int methods_by_hour(sqlite_store *s, const event_query *q, event_counts *out, char *why,
                           size_t why_size)
{
    sqlite3_stmt *st;
    const char *sql = q->have_until
                          ? "SELECT method || '=' || result, sum(events) FROM event_result_hours"
                            " WHERE hour >= ?1 AND hour < ?2 GROUP BY 1 HAVING sum(events) > 0"
                            " ORDER BY 2 DESC, 1"
                          : "SELECT method || '=' || result, sum(events) FROM event_result_hours"
                            " WHERE hour >= ?1 GROUP BY 1 HAVING sum(events) > 0"
                            " ORDER BY 2 DESC, 1";
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        errbuf_set(why, why_size, "%s", sqlite3_errmsg(s->db));
        return -1;
    }
    sqlite3_bind_int64(st, 1, q->since);
    if (q->have_until)
        sqlite3_bind_int64(st, 2, q->until);
    return read_counts(s, st, out, why, why_size);
}

/* The entries of the results vectors per method=result: from the hourly
 * counts when the window allows, else from every event's vector. */
static int methods_of(sqlite_store *s, const event_query *q, event_counts *out, char *why,
                      size_t why_size)
{
    if (hours_only(s, q))
        return methods_by_hour(s, q, out, why, why_size);
    return count_by(s,
                    "coalesce(" ENTRY_METHOD ", '-') || '=' || coalesce(" ENTRY_RESULT
                    ", '-'), count(*)",
                    ", json_each(ev.results) AS r", q,
                    q->method ? ENTRY_METHOD " = ? COLLATE NOCASE" : NULL, q->method, out, why,
                    why_size);
}

static int sqlite_methods(event_store *store, const event_query *q, event_counts *out,
                          char *why, size_t why_size)
{
    sqlite_store *s = (sqlite_store *)store;
    *out = (event_counts){0};
    if (s->read_results == NULL) {
        errbuf_set(why, why_size, "the event store was not opened for reading");
        return -1;
    }
    int rc = methods_of(s, q, out, why, why_size);
    if (rc != 0)
        event_counts_free(out);
    return rc;
}

static int sqlite_summary(event_store *store, const event_query *q, event_summary *out,
                          char *why, size_t why_size)
{
    sqlite_store *s = (sqlite_store *)store;
    *out = (event_summary){0};
    if (s->read_results == NULL) {
        errbuf_set(why, why_size, "the event store was not opened for reading");
        return -1;
    }
    /* prepare_query never reads q->limit (only sqlite_query binds it), so
     * the counts cover every event the filters select. */
    sqlite3_stmt *st = prepare_query(s, "count(*), min(time), max(time)", "", q, NULL, NULL,
                                     "", NULL, why, why_size);
    if (st == NULL)
        return -1;
    if (sqlite3_step(st) != SQLITE_ROW) {
        errbuf_set(why, why_size, "%s", sqlite3_errmsg(s->db));
        sqlite3_finalize(st);
        return -1;
    }
    out->events = (uint64_t)sqlite3_column_int64(st, 0);
    out->first = sqlite3_column_int64(st, 1);
    out->last = sqlite3_column_int64(st, 2);
    sqlite3_finalize(st);
    int rc = count_by(s, "coalesce(result, 'skipped: ' || skip_reason, '-'), count(*)", "", q,
                      NULL, NULL, &out->results, why, why_size);
    if (rc == 0)
        rc = count_by(s, "action, count(*)", "", q, NULL, NULL, &out->actions, why,
                      why_size);
    if (rc == 0)
        rc = count_by(s, "held_action, count(*)", "", q, "held_action IS NOT NULL", NULL,
                      &out->held, why, why_size);
    if (rc == 0)
        rc = methods_of(s, q, &out->methods, why, why_size);
    if (rc != 0)
        event_summary_free(out);
    return rc;
}

/* ------------------------------------------------------------ purge */

/* Deletes in chunks, each its own transaction, so that the writer's
 * inserts wait at most one chunk. */
static int sqlite_purge(event_store *store, int64_t before, uint64_t *deleted, char *why,
                        size_t why_size)
{
    sqlite_store *s = (sqlite_store *)store;
    sqlite3_stmt *st;
    *deleted = 0;
    if (sqlite3_prepare_v2(s->db,
                           "DELETE FROM events WHERE id IN "
                           "(SELECT id FROM events WHERE time < ?1 LIMIT ?2)",
                           -1, &st, NULL) != SQLITE_OK) {
        errbuf_set(why, why_size, "%s", sqlite3_errmsg(s->db));
        return -1;
    }
    sqlite3_bind_int64(st, 1, before);
    sqlite3_bind_int(st, 2, PURGE_CHUNK);
    int rc;
    for (;;) {
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE || sqlite3_changes(s->db) == 0)
            break;
        *deleted += (uint64_t)sqlite3_changes(s->db);
    }
    if (rc != SQLITE_DONE)
        errbuf_set(why, why_size, "%s", sqlite3_errmsg(s->db));
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* ------------------------------------------------------------ lease */

/* One host may still run two processes on one file (domauthd and a
 * `domauth log --purge`), so the lease is a row here too. A file older
 * than version 5 has no cluster_jobs: every lease is granted. */
static int sqlite_lease(event_store *store, const char *job, const char *holder, int64_t now,
                        unsigned seconds, bool *granted, char *why, size_t why_size)
{
    sqlite_store *s = (sqlite_store *)store;
    *granted = false;
    if (s->version < 5) {
        *granted = true;
        return 0;
    }
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO cluster_jobs (job, holder, until) VALUES (?1, ?2, ?3)"
                           " ON CONFLICT (job) DO UPDATE SET holder = excluded.holder,"
                           " until = excluded.until"
                           " WHERE cluster_jobs.until <= ?4 OR cluster_jobs.holder = ?2",
                           -1, &st, NULL) != SQLITE_OK)
        return failed(s, "lease", why, why_size);
    sqlite3_bind_text(st, 1, job, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, holder, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now + (int64_t)seconds);
    sqlite3_bind_int64(st, 4, now);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return failed(s, "lease", why, why_size);
    *granted = sqlite3_changes(s->db) == 1;
    return 0;
}

static int sqlite_lease_holder(event_store *store, const char *job, char *holder,
                               size_t holder_size, int64_t *until, char *why, size_t why_size)
{
    sqlite_store *s = (sqlite_store *)store;
    if (s->version < 5)
        return 0; /* no cluster_jobs: nobody holds anything */
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT holder, until FROM cluster_jobs WHERE job = ?1", -1,
                           &st, NULL) != SQLITE_OK)
        return failed(s, "lease holder", why, why_size);
    sqlite3_bind_text(st, 1, job, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *h = (const char *)sqlite3_column_text(st, 0);
        snprintf(holder, holder_size, "%s", h ? h : "");
        *until = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return failed(s, "lease holder", why, why_size);
    return 0;
}

static void sqlite_schema_version(event_store *store, int *have, int *current)
{
    *have = ((sqlite_store *)store)->version;
    *current = EVENT_SQLITE_SCHEMA_VERSION;
}

static int sqlite_count(event_store *store, const event_query *q, uint64_t *count, char *why,
                        size_t why_size)
{
    sqlite_store *s = (sqlite_store *)store;
    sqlite3_stmt *st = prepare_query(s, "count(*)", "", q, NULL, NULL, "", NULL, why, why_size);
    if (st == NULL)
        return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *count = (uint64_t)sqlite3_column_int64(st, 0);
    else
        errbuf_set(why, why_size, "%s", sqlite3_errmsg(s->db));
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

const event_store_ops event_store_sqlite = {
    .name = "sqlite",
    .claims = sqlite_claims_location,
    .open = sqlite_open,
    .write = sqlite_write,
    .query = sqlite_query,
    .summary = sqlite_summary,
    .count = sqlite_count,
    .purge = sqlite_purge,
    .close = sqlite_close,
    .lease = sqlite_lease,
    .schema_version = sqlite_schema_version,
    .lease_holder = sqlite_lease_holder,
    .methods = sqlite_methods,
};
