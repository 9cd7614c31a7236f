/* eventlog.c: domauthd's record of its decisions. eventlog_write copies a
 * record onto a bounded queue and returns; one writer thread turns each into
 * a syslog line, a JSON line and an SQLite row. Nothing here decides anything. */
#include "store/eventlog.h"
#include "store/eventlog_schema.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

/* Threading. A dedicated writer thread (uv_thread_t) waits on a condition
 * variable for a mutex-protected FIFO of copied records. We do not use
 * uv_queue_work: libuv's pool has four threads shared with file system and
 * DNS work, and a commit waiting up to the busy timeout on a locked database
 * would hold one of them; one thread also keeps rows in arrival order.
 *
 * Batching. The writer takes up to BATCH_ROWS events at a time and inserts
 * them inside one transaction, which stays open until it holds BATCH_ROWS
 * rows or is BATCH_NS old (or the log closes): one commit per 100 ms at
 * most under load, and a lone event still reaches the disk within 100 ms.
 *
 * Errors. An output that fails (ENOSPC, EROFS, SQLITE_FULL, SQLITE_BUSY past
 * the busy timeout) is reported once when the outage starts and once when it
 * ends; meanwhile each lost event is counted in write_errors. The database is
 * tried again at most once per RETRY_NS so a locked file does not cost a busy
 * timeout per event. Mail never waits for any of this. */

enum {
    QUEUE_LIMIT_DEFAULT = 100000,
    BUSY_TIMEOUT_DEFAULT_MS = 5000,
    BATCH_ROWS = 200,
    FIELD_MAX = 4096,        /* bytes kept of any one string (bounds queue memory) */
    SYSLOG_VALUE_MAX = 256,  /* bytes of a value in the syslog line */
    SYSLOG_LINE_MAX = 8192,  /* 18 values of 256 bytes, escaped, fit */
};
#define QUEUE_BYTES_LIMIT ((size_t)256 << 20)
#define BATCH_NS (100ull * 1000 * 1000)
#define RETRY_NS (1000ull * 1000 * 1000)
#define NOT_STRING ((size_t)-1)

/* Where each column's value lives in event_record. */
static const size_t column_offset[EVC_COUNT] = {
    [EVC_TIME] = NOT_STRING,
    [EVC_LISTENER] = offsetof(event_record, listener),
    [EVC_QUEUE_ID] = offsetof(event_record, queue_id),
    [EVC_CLIENT_IP] = offsetof(event_record, client_ip),
    [EVC_CLIENT_NAME] = offsetof(event_record, client_name),
    [EVC_HELO] = offsetof(event_record, helo),
    [EVC_MAIL_FROM] = offsetof(event_record, mail_from),
    [EVC_RCPT] = offsetof(event_record, rcpt),
    [EVC_HEADER_FROM] = offsetof(event_record, header_from),
    [EVC_IDENTITY] = offsetof(event_record, identity),
    [EVC_DOMAIN] = offsetof(event_record, domain),
    [EVC_RESULT] = offsetof(event_record, result),
    [EVC_MECHANISM] = offsetof(event_record, mechanism),
    [EVC_PROBLEM] = offsetof(event_record, problem),
    [EVC_SKIP_REASON] = offsetof(event_record, skip_reason),
    [EVC_SCORE] = NOT_STRING,
    [EVC_ACTION] = offsetof(event_record, action),
    [EVC_HELD_ACTION] = offsetof(event_record, held_action),
    [EVC_REPLY] = offsetof(event_record, reply),
};

static const char **column_slot(event_record *r, int column)
{
    return (const char **)(void *)((char *)r + column_offset[column]);
}

static const char *column_string(const event_record *r, int column)
{
    return *column_slot((event_record *)r, column);
}

/* A queued copy: the record's strings point into text, one allocation. */
typedef struct queued_event {
    struct queued_event *next;
    size_t size;
    event_record record;
    char text[];
} queued_event;

/* A growable byte buffer for JSON lines; failed is set when memory ran out. */
typedef struct line_buffer {
    char *data;
    size_t len, cap;
    bool failed;
} line_buffer;

struct eventlog {
    uv_loop_t *loop;
    uv_thread_t thread;
    uv_mutex_t lock;
    uv_cond_t wake;

    /* Under lock. */
    queued_event *head, *tail;
    size_t queued, queued_bytes, queue_limit;
    bool closing, reopen_json;
    eventlog_stats stats;

    /* After eventlog_open, only the writer thread touches these. */
    bool use_syslog, opened_syslog;
    char *json_path;
    int json_fd;          /* -1 when off, or when a reopen failed */
    bool json_failing;    /* in an outage: reported, not yet over */
    bool json_partial;    /* a write stopped mid-line: start the next on a new line */
    uint64_t json_lost;
    line_buffer line;

    char *db_path;
    sqlite3 *db;          /* NULL when off */
    sqlite3_stmt *insert;
    bool db_failing;
    uint64_t db_lost, db_retry_at;
    bool txn_open;
    uint64_t txn_started;
    size_t txn_rows;
    uint64_t txn_ok, txn_json_failed; /* rows in the open transaction, by JSON outcome */
};

/* ------------------------------------------------------------ helpers */

static void append_error(char *err, size_t err_size, const char *message)
{
    if (err == NULL || err_size == 0)
        return;
    size_t used = strnlen(err, err_size);
    if (used >= err_size - 1)
        return;
    snprintf(err + used, err_size - used, "%s%s", used ? "; " : "", message);
}

/* Reports an outage starting or ending: stderr (the journal, under systemd)
 * and syslog when it is on. Called rarely, by design. */
static void report(eventlog *log, int priority, const char *message)
{
    fprintf(stderr, "domauthd: %s\n", message);
    if (log->use_syslog)
        syslog(priority, "%s", message);
}

static void count(eventlog *log, uint64_t written, uint64_t errors)
{
    if (written == 0 && errors == 0)
        return;
    uv_mutex_lock(&log->lock);
    log->stats.written += written;
    log->stats.write_errors += errors;
    uv_mutex_unlock(&log->lock);
}

/* Bytes of s to keep: at most FIELD_MAX, never ending inside a UTF-8
 * sequence. */
static size_t kept_length(const char *s)
{
    size_t n = strnlen(s, FIELD_MAX + 1);
    if (n <= FIELD_MAX)
        return n;
    n = FIELD_MAX;
    for (int i = 0; i < 3 && n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80; i++)
        n--;
    return n;
}

static void line_put(void *ctx, const char *bytes, size_t len)
{
    line_buffer *b = ctx;
    if (b->failed)
        return;
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + len + 1)
            cap *= 2;
        char *bigger = realloc(b->data, cap);
        if (bigger == NULL) {
            b->failed = true;
            return;
        }
        b->data = bigger;
        b->cap = cap;
    }
    memcpy(b->data + b->len, bytes, len);
    b->len += len;
    b->data[b->len] = '\0';
}

static void line_puts(line_buffer *b, const char *s)
{
    line_put(b, s, strlen(s));
}

/* ------------------------------------------------------------- syslog */

/* A bounded writer over the caller's buffer: text past the end is cut. */
typedef struct bounded {
    char *buf;
    size_t size, len;
} bounded;

static void bounded_put(bounded *b, const char *s, size_t n)
{
    if (b->size == 0)
        return;
    size_t room = b->size - 1 - b->len;
    if (n > room)
        n = room;
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = '\0';
}

/* Writes one value between quotes. Control characters (C0, DEL, C1) are
 * dropped, so a CR or LF from a client can never start a second line; " and
 * \ are escaped, so a value cannot fake a key; bytes that are not UTF-8
 * become '?'. At most SYSLOG_VALUE_MAX bytes of the value are shown. */
static void syslog_value(bounded *b, const char *value)
{
    bounded_put(b, "\"", 1);
    const unsigned char *p = (const unsigned char *)value;
    size_t shown = 0;
    while (*p) {
        if (shown >= SYSLOG_VALUE_MAX) {
            bounded_put(b, "...", 3);
            break;
        }
        size_t n = json_utf8_len(p);
        if (n == 0) {
            bounded_put(b, "?", 1);
            n = 1;
        } else if (n == 1 && (*p < 0x20 || *p == 0x7F)) {
            /* dropped */
        } else if (n == 2 && p[0] == 0xC2 && p[1] < 0xA0) {
            /* C1 control (U+0080..U+009F, NEL among them): dropped */
        } else if (*p == '"' || *p == '\\') {
            char esc[2] = {'\\', (char)*p};
            bounded_put(b, esc, 2);
        } else {
            bounded_put(b, (const char *)p, n);
        }
        shown += n;
        p += n;
    }
    bounded_put(b, "\"", 1);
}

size_t eventlog_format_syslog(const event_record *r, char *buf, size_t size)
{
    bounded b = {buf, size, 0};
    if (size > 0)
        buf[0] = '\0';
    for (int c = 0; c < EVC_COUNT; c++) {
        char number[32];
        const char *value;
        if (c == EVC_TIME)
            continue; /* syslog stamps the line itself */
        if (c == EVC_SCORE) {
            json_format_number(r->score, number);
            value = number;
        } else if ((value = column_string(r, c)) == NULL) {
            continue;
        }
        if (b.len > 0)
            bounded_put(&b, " ", 1);
        const char *name = eventlog_column_name(c);
        bounded_put(&b, name, strlen(name));
        bounded_put(&b, "=", 1);
        syslog_value(&b, value);
    }
    return b.len;
}

static int facility_code(const char *name)
{
    static const struct { const char *name; int code; } facilities[] = {
        {"mail", LOG_MAIL},     {"daemon", LOG_DAEMON}, {"user", LOG_USER},
        {"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2},
        {"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5},
        {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7},
    };
    if (name == NULL || *name == '\0')
        return LOG_MAIL;
    for (size_t i = 0; i < sizeof facilities / sizeof facilities[0]; i++)
        if (strcmp(name, facilities[i].name) == 0)
            return facilities[i].code;
    return -1;
}

/* ---------------------------------------------------------- JSON file */

static void json_build(line_buffer *b, const event_record *r, bool newline_first)
{
    b->len = 0;
    b->failed = false;
    if (newline_first)
        line_puts(b, "\n");
    line_puts(b, "{");
    for (int c = 0; c < EVC_COUNT; c++) {
        char number[32];
        line_puts(b, c ? ",\"" : "\"");
        line_puts(b, eventlog_column_name(c));
        line_puts(b, "\":");
        if (c == EVC_TIME) {
            snprintf(number, sizeof number, "%lld", (long long)r->time);
            line_puts(b, number);
        } else if (c == EVC_SCORE) {
            json_format_number(r->score, number);
            line_puts(b, number);
        } else {
            json_write_string(column_string(r, c), line_put, b);
        }
    }
    line_puts(b, "}\n");
}

/* Writes all of buf; returns the bytes written, which are fewer than len
 * only on an error (errno says which). */
static size_t write_all(int fd, const char *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, buf + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            break;
        }
        done += (size_t)n;
    }
    return done;
}

static int json_open_file(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
}

static void json_outage(eventlog *log, const char *what, int error)
{
    log->json_lost++;
    if (log->json_failing)
        return;
    log->json_failing = true;
    char message[1024];
    snprintf(message, sizeof message,
             "event log %s: %s: %s; JSON lines are lost until it works again", log->json_path,
             what, strerror(error));
    report(log, LOG_ERR, message);
}

static void json_recovered(eventlog *log)
{
    if (!log->json_failing)
        return;
    char message[1024];
    snprintf(message, sizeof message, "event log %s: writing again (%llu lines were lost)",
             log->json_path, (unsigned long long)log->json_lost);
    report(log, LOG_NOTICE, message);
    log->json_failing = false;
    log->json_lost = 0;
}

static void json_reopen(eventlog *log)
{
    if (log->json_path == NULL)
        return;
    if (log->json_fd >= 0)
        close(log->json_fd);
    log->json_fd = json_open_file(log->json_path);
    log->json_partial = false; /* a new file starts clean */
}

/* Returns whether the line was written whole. */
static bool json_write(eventlog *log, const event_record *r)
{
    if (log->json_fd < 0) {
        json_reopen(log); /* a reopen after rotation failed: try again */
        if (log->json_fd < 0) {
            json_outage(log, "cannot open", errno);
            return false;
        }
    }
    json_build(&log->line, r, log->json_partial);
    if (log->line.failed) {
        json_outage(log, "formatting", ENOMEM);
        return false;
    }
    size_t done = write_all(log->json_fd, log->line.data, log->line.len);
    if (done < log->line.len) {
        int error = errno;
        if (done > 0)
            log->json_partial = true;
        json_outage(log, "cannot write", error);
        return false;
    }
    log->json_partial = false;
    json_recovered(log);
    return true;
}

/* ----------------------------------------------------------- database */

/* Creates each missing directory above path, mode 0750 (before the umask). */
static int make_parent_directories(const char *path, char *why, size_t why_size)
{
    char *copy = strdup(path);
    if (copy == NULL) {
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    int rc = 0;
    for (char *slash = strchr(copy + 1, '/'); slash != NULL; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        if (mkdir(copy, 0750) != 0 && errno != EEXIST) {
            snprintf(why, why_size, "cannot create directory %s: %s", copy, strerror(errno));
            rc = -1;
            break;
        }
        *slash = '/';
    }
    free(copy);
    return rc;
}

static int db_exec(sqlite3 *db, const char *sql, char *why, size_t why_size)
{
    char *message = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &message) == SQLITE_OK)
        return 0;
    snprintf(why, why_size, "%s", message ? message : sqlite3_errmsg(db));
    sqlite3_free(message);
    return -1;
}

static int db_user_version(sqlite3 *db, int *version)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

/* Brings the schema to EVENTLOG_SCHEMA_VERSION in one transaction. Version
 * 0 is a new file. Each later version adds one entry to upgrades[]
 * (upgrades[v] turns version v into v + 1). A database from a newer domauth
 * is left alone: this one would not know what its columns mean. */
static int db_migrate(sqlite3 *db, char *why, size_t why_size)
{
    static const char *const upgrades[EVENTLOG_SCHEMA_VERSION] = {
        [0] = EVENTLOG_CREATE_SQL,
    };
    int version = 0;
    if (db_exec(db, "BEGIN IMMEDIATE", why, why_size) != 0)
        return -1;
    if (db_user_version(db, &version) != 0) {
        snprintf(why, why_size, "%s", sqlite3_errmsg(db));
        goto fail;
    }
    if (version > EVENTLOG_SCHEMA_VERSION) {
        snprintf(why, why_size, "schema version %d is newer than this domauthd's (%d)", version,
                 EVENTLOG_SCHEMA_VERSION);
        goto fail;
    }
    for (int v = version; v < EVENTLOG_SCHEMA_VERSION; v++)
        if (db_exec(db, upgrades[v], why, why_size) != 0)
            goto fail;
    if (version < EVENTLOG_SCHEMA_VERSION) {
        char sql[64]; /* a constant, not input: PRAGMA takes no parameters */
        snprintf(sql, sizeof sql, "PRAGMA user_version = %d", EVENTLOG_SCHEMA_VERSION);
        if (db_exec(db, sql, why, why_size) != 0)
            goto fail;
    }
    if (db_exec(db, "COMMIT", why, why_size) != 0)
        goto fail;
    return 0;
fail:
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

static int db_prepare_insert(eventlog *log, char *why, size_t why_size)
{
    char sql[512] = "INSERT INTO events (" EVENTLOG_COLUMNS ") VALUES (";
    for (int c = 0; c < EVC_COUNT; c++) {
        size_t used = strlen(sql);
        snprintf(sql + used, sizeof sql - used, "%s?%d", c ? "," : "", c + 1);
    }
    strcat(sql, ")");
    if (sqlite3_prepare_v3(log->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &log->insert, NULL) ==
        SQLITE_OK)
        return 0;
    snprintf(why, why_size, "%s", sqlite3_errmsg(log->db));
    return -1;
}

/* The file is created beforehand, mode 0640: it holds addresses, and SQLite
 * gives its -wal and -shm files the mode of the database. */
static int db_open(eventlog *log, const char *path, unsigned busy_ms, char *why,
                   size_t why_size)
{
    if (make_parent_directories(path, why, why_size) != 0)
        return -1;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
    if (fd < 0) {
        snprintf(why, why_size, "%s", strerror(errno));
        return -1;
    }
    close(fd);
    if (sqlite3_open_v2(path, &log->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        snprintf(why, why_size, "%s", log->db ? sqlite3_errmsg(log->db) : "out of memory");
        return -1;
    }
    sqlite3_busy_timeout(log->db, (int)busy_ms);
    /* WAL lets `domauth log` read while we write. Keeping the -wal and -shm
     * files after close lets a reader without write access to the directory
     * open the database read-only; the size limit truncates the kept -wal
     * file after a checkpoint. NORMAL sync is enough for a log: a power cut
     * may lose the last commits, never the file. */
    int persist = 1;
    if (db_exec(log->db, "PRAGMA journal_mode = WAL", why, why_size) != 0 ||
        db_exec(log->db, "PRAGMA synchronous = NORMAL", why, why_size) != 0 ||
        db_exec(log->db, "PRAGMA journal_size_limit = 8388608", why, why_size) != 0)
        return -1;
    sqlite3_file_control(log->db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
    if (db_migrate(log->db, why, why_size) != 0)
        return -1;
    return db_prepare_insert(log, why, why_size);
}

static void db_outage(eventlog *log, const char *what)
{
    log->db_retry_at = uv_hrtime() + RETRY_NS;
    if (log->db_failing)
        return;
    log->db_failing = true;
    char message[1024];
    snprintf(message, sizeof message,
             "event database %s: %s failed: %s; decisions are not stored until it works again",
             log->db_path, what, sqlite3_errmsg(log->db));
    report(log, LOG_ERR, message);
}

static void db_recovered(eventlog *log)
{
    if (!log->db_failing)
        return;
    char message[1024];
    snprintf(message, sizeof message, "event database %s: writing again (%llu events were lost)",
             log->db_path, (unsigned long long)log->db_lost);
    report(log, LOG_NOTICE, message);
    log->db_failing = false;
    log->db_lost = 0;
}

/* Ends the open transaction without keeping it: its rows are lost. */
static void db_abandon(eventlog *log)
{
    if (!sqlite3_get_autocommit(log->db)) /* SQLite may have rolled back already */
        sqlite3_exec(log->db, "ROLLBACK", NULL, NULL, NULL);
    uint64_t lost = log->txn_ok + log->txn_json_failed;
    count(log, 0, lost);
    log->db_lost += lost;
    log->txn_open = false;
    log->txn_rows = 0;
    log->txn_ok = log->txn_json_failed = 0;
}

static void db_commit(eventlog *log)
{
    if (!log->txn_open)
        return;
    if (sqlite3_exec(log->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        db_outage(log, "commit");
        db_abandon(log);
        return;
    }
    count(log, log->txn_ok, log->txn_json_failed);
    log->txn_open = false;
    log->txn_rows = 0;
    log->txn_ok = log->txn_json_failed = 0;
    db_recovered(log);
}

static void db_bind(sqlite3_stmt *st, const event_record *r)
{
    for (int c = 0; c < EVC_COUNT; c++) {
        if (c == EVC_TIME) {
            sqlite3_bind_int64(st, c + 1, r->time);
        } else if (c == EVC_SCORE) {
            sqlite3_bind_double(st, c + 1, r->score);
        } else {
            const char *s = column_string(r, c);
            if (s == NULL)
                sqlite3_bind_null(st, c + 1);
            else
                sqlite3_bind_text(st, c + 1, s, -1, SQLITE_STATIC);
        }
    }
}

/* Adds the row to the open transaction (opening one). Returns false when
 * the row is lost; an earlier failure less than RETRY_NS ago loses it
 * without trying. */
static bool db_insert(eventlog *log, const event_record *r)
{
    if (log->db_failing && uv_hrtime() < log->db_retry_at) {
        log->db_lost++;
        return false;
    }
    if (!log->txn_open) {
        if (sqlite3_exec(log->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
            db_outage(log, "begin");
            log->db_lost++;
            return false;
        }
        log->txn_open = true;
        log->txn_started = uv_hrtime();
    }
    db_bind(log->insert, r);
    int rc = sqlite3_step(log->insert);
    sqlite3_reset(log->insert);
    sqlite3_clear_bindings(log->insert); /* the strings are about to be freed */
    if (rc != SQLITE_DONE) {
        db_outage(log, "insert");
        db_abandon(log);
        log->db_lost++;
        return false;
    }
    log->txn_rows++;
    return true;
}

/* ------------------------------------------------------------- writer */

static void write_event(eventlog *log, const event_record *r)
{
    if (log->use_syslog) {
        char line[SYSLOG_LINE_MAX];
        eventlog_format_syslog(r, line, sizeof line);
        syslog(LOG_INFO, "%s", line);
    }
    bool json_ok = log->json_path == NULL || json_write(log, r);
    if (log->db == NULL) {
        count(log, json_ok, !json_ok);
        return;
    }
    if (!db_insert(log, r)) {
        count(log, 0, 1);
        return;
    }
    if (json_ok)
        log->txn_ok++;
    else
        log->txn_json_failed++;
}

/* Waits (under lock) until there is something to do: events, a reopen, the
 * close, or the open transaction reaching its age limit. */
static void wait_for_work(eventlog *log)
{
    while (log->head == NULL && !log->closing && !log->reopen_json) {
        if (!log->txn_open) {
            uv_cond_wait(&log->wake, &log->lock);
            continue;
        }
        uint64_t age = uv_hrtime() - log->txn_started;
        if (age >= BATCH_NS ||
            uv_cond_timedwait(&log->wake, &log->lock, BATCH_NS - age) == UV_ETIMEDOUT)
            return;
    }
}

static queued_event *take_batch(eventlog *log)
{
    queued_event *first = log->head, *last = NULL;
    size_t n = 0;
    for (queued_event *e = first; e != NULL && n < BATCH_ROWS; e = e->next, n++) {
        log->queued_bytes -= e->size;
        last = e;
    }
    if (last == NULL)
        return NULL;
    log->head = last->next;
    if (log->head == NULL)
        log->tail = NULL;
    log->queued -= n;
    last->next = NULL;
    return first;
}

static void writer_main(void *arg)
{
    eventlog *log = arg;
    bool was_closing = false;
    /* Signals go to the loop's thread, where libuv handles them. */
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    for (;;) {
        uv_mutex_lock(&log->lock);
        wait_for_work(log);
        queued_event *batch = take_batch(log);
        bool reopen = log->reopen_json;
        log->reopen_json = false;
        bool closing = log->closing;
        bool done = closing && log->head == NULL;
        uv_mutex_unlock(&log->lock);

        if (closing && !was_closing) {
            /* One more try at a failing database before the end, without
             * waiting out the back-off. */
            was_closing = true;
            log->db_retry_at = 0;
        }
        if (reopen)
            json_reopen(log);
        while (batch != NULL) {
            queued_event *next = batch->next;
            write_event(log, &batch->record);
            free(batch);
            batch = next;
        }
        if (log->txn_open &&
            (done || log->txn_rows >= BATCH_ROWS || uv_hrtime() - log->txn_started >= BATCH_NS))
            db_commit(log);
        if (done)
            return;
    }
}

/* ---------------------------------------------------------------- API */

static void open_outputs(eventlog *log, const eventlog_options *o, char *err, size_t err_size)
{
    char why[512], message[1024];
    if (o->syslog) {
        int facility = facility_code(o->syslog_facility);
        if (facility < 0) {
            snprintf(message, sizeof message, "unknown syslog facility '%s', using mail",
                     o->syslog_facility);
            append_error(err, err_size, message);
            facility = LOG_MAIL;
        }
        /* openlog is per process: the daemon's other messages share it. */
        openlog("domauthd", LOG_PID | LOG_NDELAY, facility);
        log->use_syslog = log->opened_syslog = true;
    }
    if (o->json_path != NULL && *o->json_path != '\0') {
        log->json_fd = json_open_file(o->json_path);
        if (log->json_fd < 0) {
            snprintf(message, sizeof message, "event log %s: %s (JSON lines off)", o->json_path,
                     strerror(errno));
            append_error(err, err_size, message);
        } else if ((log->json_path = strdup(o->json_path)) == NULL) {
            append_error(err, err_size, "out of memory (JSON lines off)");
            close(log->json_fd);
            log->json_fd = -1;
        }
    }
    if (o->database_path != NULL && *o->database_path != '\0') {
        unsigned busy = o->busy_timeout_ms ? o->busy_timeout_ms : BUSY_TIMEOUT_DEFAULT_MS;
        why[0] = '\0';
        if (db_open(log, o->database_path, busy, why, sizeof why) != 0 ||
            (log->db_path = strdup(o->database_path)) == NULL) {
            snprintf(message, sizeof message, "event database %s: %s (database off)",
                     o->database_path, why[0] ? why : "out of memory");
            append_error(err, err_size, message);
            sqlite3_finalize(log->insert);
            sqlite3_close(log->db);
            log->insert = NULL;
            log->db = NULL;
        }
    }
}

static void close_outputs(eventlog *log)
{
    sqlite3_finalize(log->insert);
    sqlite3_close(log->db);
    if (log->json_fd >= 0)
        close(log->json_fd);
    if (log->opened_syslog)
        closelog();
    free(log->json_path);
    free(log->db_path);
    free(log->line.data);
}

eventlog *eventlog_open(uv_loop_t *loop, const eventlog_options *options, char *err,
                        size_t err_size)
{
    static const eventlog_options none = {0};
    if (err != NULL && err_size > 0)
        err[0] = '\0';
    if (options == NULL)
        options = &none;
    eventlog *log = calloc(1, sizeof *log);
    if (log == NULL)
        return NULL;
    /* The writer has its own thread, so the loop is not used today; it is
     * kept so that a later version can report back on it (uv_async). */
    log->loop = loop;
    log->json_fd = -1;
    log->queue_limit = options->queue_limit ? options->queue_limit : QUEUE_LIMIT_DEFAULT;
    if (uv_mutex_init(&log->lock) != 0) {
        free(log);
        return NULL;
    }
    if (uv_cond_init(&log->wake) != 0) {
        uv_mutex_destroy(&log->lock);
        free(log);
        return NULL;
    }
    open_outputs(log, options, err, err_size);
    /* Without the writer nothing could be written; like running out of
     * memory, this leaves the caller without a log. */
    if (uv_thread_create(&log->thread, writer_main, log) != 0) {
        append_error(err, err_size, "cannot start the event log's writer thread");
        close_outputs(log);
        uv_cond_destroy(&log->wake);
        uv_mutex_destroy(&log->lock);
        free(log);
        return NULL;
    }
    return log;
}

static queued_event *copy_record(const event_record *r)
{
    size_t length[EVC_COUNT] = {0};
    size_t size = sizeof(queued_event);
    for (int c = 0; c < EVC_COUNT; c++) {
        if (column_offset[c] == NOT_STRING || column_string(r, c) == NULL)
            continue;
        length[c] = kept_length(column_string(r, c));
        size += length[c] + 1;
    }
    queued_event *e = malloc(size);
    if (e == NULL)
        return NULL;
    e->next = NULL;
    e->size = size;
    e->record = *r;
    char *text = e->text;
    for (int c = 0; c < EVC_COUNT; c++) {
        if (column_offset[c] == NOT_STRING || column_string(r, c) == NULL)
            continue;
        memcpy(text, column_string(r, c), length[c]);
        text[length[c]] = '\0';
        *column_slot(&e->record, c) = text;
        text += length[c] + 1;
    }
    return e;
}

void eventlog_write(eventlog *log, const event_record *record)
{
    if (log == NULL || record == NULL)
        return;
    queued_event *e = copy_record(record);
    uv_mutex_lock(&log->lock);
    if (e == NULL || log->queued >= log->queue_limit ||
        log->queued_bytes + e->size > QUEUE_BYTES_LIMIT || log->closing) {
        log->stats.dropped++;
        uv_mutex_unlock(&log->lock);
        free(e);
        return;
    }
    if (log->tail != NULL)
        log->tail->next = e;
    else
        log->head = e;
    log->tail = e;
    log->queued++;
    log->queued_bytes += e->size;
    uv_cond_signal(&log->wake);
    uv_mutex_unlock(&log->lock);
}

void eventlog_reopen(eventlog *log)
{
    if (log == NULL)
        return;
    uv_mutex_lock(&log->lock);
    log->reopen_json = true;
    uv_cond_signal(&log->wake);
    uv_mutex_unlock(&log->lock);
}

void eventlog_get_stats(eventlog *log, eventlog_stats *stats)
{
    if (log == NULL) {
        *stats = (eventlog_stats){0};
        return;
    }
    uv_mutex_lock(&log->lock);
    *stats = log->stats;
    uv_mutex_unlock(&log->lock);
}

void eventlog_close(eventlog *log)
{
    if (log == NULL)
        return;
    uv_mutex_lock(&log->lock);
    log->closing = true;
    uv_cond_signal(&log->wake);
    uv_mutex_unlock(&log->lock);
    uv_thread_join(&log->thread);
    close_outputs(log);
    uv_cond_destroy(&log->wake);
    uv_mutex_destroy(&log->lock);
    free(log);
}
