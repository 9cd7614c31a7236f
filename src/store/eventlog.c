/* eventlog.c: domauthd's record of its decisions. eventlog_write copies a
 * record onto a bounded queue and returns; one writer thread turns each into
 * a syslog line, a JSON line and a row of the event store, which it writes
 * through the store's interface (store/event_store.h) without knowing the
 * backend. Nothing here decides anything. */
#include "store/eventlog.h"
#include "util/node.h"
#include "util/syslog_facility.h"
#include "store/event_spool.h"
#include "store/event_store.h"

#include <errno.h>
#include <stdatomic.h>
#include <sys/random.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "util/strbuf.h"

/* Threading. A dedicated writer thread (uv_thread_t) waits on a condition
 * variable for a mutex-protected FIFO of copied records. We do not use
 * uv_queue_work: libuv's pool has four threads shared with file system and
 * DNS work, and a commit waiting up to the busy timeout on a locked database
 * would hold one of them; one thread also keeps rows in arrival order.
 *
 * Batching. The writer writes each event's syslog and JSON lines at once
 * and keeps the event for the store until it has BATCH_ROWS of them or the
 * oldest is BATCH_NS old (or the log closes); then it hands them to the
 * store as one batch, one transaction: a lone event still reaches the store
 * within 100 ms, and under load a commit carries up to BATCH_ROWS events.
 * The batch is large because a store's cost is mostly per commit and per
 * statement (an fsync; a round trip and a bind to a server): 1000 rows
 * against 200 took the store bench from 26k to 41k events/s on SQLite and
 * from 12k to 16k on PostgreSQL (bench/README.md).
 *
 * Errors. An output that fails (ENOSPC, EROFS, SQLITE_FULL, SQLITE_BUSY past
 * the busy timeout, a PostgreSQL server down or past its statement timeout) is
 * reported once when the outage starts and once when it ends; meanwhile each
 * lost event is counted in write_errors. The store is tried again at most
 * once per RETRY_NS so a locked file does not cost a busy timeout per batch.
 * Mail never waits for any of this.
 *
 * The spool. With a spool file (spool_path), the events the store does not
 * take are appended to it as JSON lines instead of being lost, up to
 * spool_max bytes; once the store takes a write again the file is stored
 * from its start, in order, and emptied. While it holds events every new
 * batch goes after them in the file, so the store gets them in order. Each
 * event has its uid (node boot key and sequence), so a replay that fails
 * midway and runs again stores nothing twice. */

enum {
    QUEUE_LIMIT_DEFAULT = 100000,
    BATCH_ROWS = 1000,
    SYSLOG_VALUE_MAX = 256,  /* bytes of a value in the syslog line */
    SYSLOG_LINE_MAX = 16384, /* 22 values of 256 bytes, escaped, fit */
    /* Bytes of the results or recipients summary built: what syslog_value
     * shows of a value (SYSLOG_VALUE_MAX, plus the rest of a UTF-8 sequence
     * that starts before it), and a byte more to tell that it goes on. */
    SUMMARY_MAX = SYSLOG_VALUE_MAX + 8,
};
#define QUEUE_BYTES_LIMIT ((size_t)256 << 20)
#define SPOOL_MAX_DEFAULT ((uint64_t)64 << 20)
#define BATCH_NS (100ull * 1000 * 1000)
#define RETRY_NS (1000ull * 1000 * 1000)

/* A queued copy: this header, then the record and everything it points
 * to (store/event.h, event_record_copy_into), in one allocation. */
typedef struct queued_event {
    struct queued_event *next;
    size_t size;             /* of the allocation */
    bool json_ok;            /* its JSON line was written (or JSON is off) */
    event_record *record;    /* just after this header */
} queued_event;

/* Where the record starts in a queued_event's allocation. */
#define RECORD_OFFSET \
    ((sizeof(queued_event) + _Alignof(max_align_t) - 1) / _Alignof(max_align_t) * \
     _Alignof(max_align_t))

struct eventlog {
    uv_loop_t *loop;
    uv_thread_t thread;
    uv_mutex_t lock;
    uv_cond_t wake;

    /* Under lock. queued and queued_bytes count the events in the FIFO and
     * those the writer has taken but not finished with. */
    queued_event *head, *tail;
    size_t queued, queued_bytes, queue_limit;
    bool closing, reopen_json;
    int64_t purge_before; /* 0, or: delete the stored events older than this */
    eventlog_stats stats;

    /* After eventlog_open, only the writer thread touches these. */
    bool use_syslog, opened_syslog, stderr_lines;
    char *json_path;
    int json_fd;          /* -1 when off, or when a reopen failed */
    bool json_failing;    /* in an outage: reported, not yet over */
    bool json_partial;    /* a write stopped mid-line: start the next on a new line */
    uint64_t json_lost;
    strbuf line;          /* the JSON line being built */

    char *node;           /* stamped on every event */
    uint64_t boot_key;    /* random per open: the first half of each uid */
    atomic_uint_fast64_t sequence;

    char *db_path;
    event_store *store;   /* NULL when off */
    char *spool_path;     /* NULL when off */
    int spool_fd;         /* -1 until the first append */
    uint64_t spool_bytes, spool_max;
    bool spool_failing;   /* full or unwritable: reported, not yet over */
    event_spool_result spool_at; /* how far a replay got */
    strbuf spool_line;
    bool db_failing;
    uint64_t db_lost, db_retry_at;
    /* Events waiting for the store, oldest first, and their records. */
    queued_event *pending_head, *pending_tail;
    size_t pending;
    uint64_t pending_since;
    const event_record *batch[BATCH_ROWS];
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

/* Counts events the writer is done with, stored or not, and takes them off
 * the queue's limits (an event waiting in the writer's batch still counts
 * against them). */
static void count_spooled(eventlog *log, uint64_t written, uint64_t errors, uint64_t spooled,
                          size_t bytes)
{
    uv_mutex_lock(&log->lock);
    log->stats.written += written;
    log->stats.write_errors += errors;
    log->stats.spooled += spooled;
    log->stats.spool_bytes = log->spool_bytes;
    log->queued -= written + errors + spooled;
    log->queued_bytes -= bytes;
    uv_mutex_unlock(&log->lock);
}

static void count(eventlog *log, uint64_t written, uint64_t errors, size_t bytes)
{
    count_spooled(log, written, errors, 0, bytes);
}

/* json_put_fn over a strbuf (a failed allocation sets its failed flag). */
static void line_put(void *ctx, const char *bytes, size_t len)
{
    strbuf_append(ctx, bytes, len);
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

static void bounded_puts(bounded *b, const char *s)
{
    bounded_put(b, s, strlen(s));
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

static void syslog_pair(bounded *b, const char *key, const char *value)
{
    if (b->len > 0)
        bounded_put(b, " ", 1);
    bounded_puts(b, key);
    bounded_put(b, "=", 1);
    syslog_value(b, value);
}

/* The results vector in short, "spf=fail(d=example.com) dkim=pass(d=...)",
 * and the recipients, "a@example.net(reject) b@example.net(accept)"; they
 * are escaped as one value each. Each is built only as far as the line
 * shows it: up to 1000 recipients are not walked to be cut. */
static void syslog_summaries(bounded *b, const event_record *r)
{
    char text[SUMMARY_MAX];
    if (r->results != NULL && r->result_count > 0) {
        bounded t = {text, sizeof text, 0};
        text[0] = '\0';
        for (size_t i = 0; i < r->result_count && t.len + 1 < t.size; i++) {
            const event_result *x = &r->results[i];
            if (i)
                bounded_put(&t, " ", 1);
            bounded_puts(&t, x->method ? x->method : "?");
            bounded_put(&t, "=", 1);
            bounded_puts(&t, x->result ? x->result : "?");
            if (x->domain != NULL) {
                bounded_puts(&t, "(d=");
                bounded_puts(&t, x->domain);
                bounded_put(&t, ")", 1);
            }
        }
        syslog_pair(b, "results", text);
    }
    if (r->rcpts != NULL && r->rcpt_count > 0) {
        bounded t = {text, sizeof text, 0};
        text[0] = '\0';
        for (size_t i = 0; i < r->rcpt_count && t.len + 1 < t.size; i++) {
            const event_rcpt *x = &r->rcpts[i];
            if (i)
                bounded_put(&t, " ", 1);
            bounded_puts(&t, x->address ? x->address : "?");
            if (x->action != NULL) {
                bounded_put(&t, "(", 1);
                bounded_puts(&t, x->action);
                bounded_put(&t, ")", 1);
            }
        }
        syslog_pair(b, "recipients", text);
    }
}

size_t eventlog_format_syslog(const event_record *r, char *buf, size_t size)
{
    bounded b = {buf, size, 0};
    if (size > 0)
        buf[0] = '\0';
    for (int f = 0; f < EVF_COUNT; f++) {
        char number[JSON_NUMBER_MAX];
        const char *value;
        if (f == EVF_TIME)
            continue; /* syslog stamps the line itself */
        if (f == EVF_SCORE) {
            json_format_number(r->score, number);
            value = number;
        } else if ((value = event_field_string(r, f)) == NULL) {
            continue;
        }
        syslog_pair(&b, event_field_name(f), value);
    }
    syslog_summaries(&b, r);
    return b.len;
}

int eventlog_facility(const char *name)
{
    return util_syslog_facility(name);
}

/* ---------------------------------------------------------- JSON file */

static void json_build(strbuf *b, const event_record *r, bool newline_first)
{
    strbuf_clear(b);
    b->failed = false;
    if (newline_first)
        strbuf_putc(b, '\n');
    event_json_write(r, -1, line_put, b);
    strbuf_putc(b, '\n');
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

/* -------------------------------------------------------------- store */

static void db_outage(eventlog *log, const char *why)
{
    log->db_retry_at = uv_hrtime() + RETRY_NS;
    if (log->db_failing)
        return;
    log->db_failing = true;
    char message[1200];
    if (log->spool_path != NULL)
        snprintf(message, sizeof message,
                 "event database %s: %s; decisions are kept in %s until it works again",
                 log->db_path, why, log->spool_path);
    else
        snprintf(message, sizeof message,
                 "event database %s: %s; decisions are not stored until it works again",
                 log->db_path, why);
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
    if (log->spool_bytes == 0)
        log->spool_failing = false; /* the next outage's spool trouble is news */
}

/* ------------------------------------------------------------ spool */

static void spool_trouble(eventlog *log, const char *what)
{
    if (log->spool_failing)
        return;
    log->spool_failing = true;
    char message[1200];
    snprintf(message, sizeof message, "event spool %s: %s; decisions are lost until it has room",
             log->spool_path, what);
    report(log, LOG_ERR, message);
}

/* Appends one event as a JSON line; false when it is lost (the spool full
 * or unwritable, reported once). A short write is cut off again, so the
 * file holds whole lines only. */
static bool spool_append(eventlog *log, const event_record *r)
{
    if (log->spool_fd < 0) {
        log->spool_fd = json_open_file(log->spool_path);
        if (log->spool_fd < 0) {
            char what[300];
            snprintf(what, sizeof what, "cannot open: %s", strerror(errno));
            spool_trouble(log, what);
            return false;
        }
    }
    json_build(&log->spool_line, r, false);
    if (log->spool_line.failed) {
        spool_trouble(log, "out of memory");
        return false;
    }
    if (log->spool_bytes + log->spool_line.len > log->spool_max) {
        char what[300];
        snprintf(what, sizeof what, "full (%llu bytes, spool_max %llu)",
                 (unsigned long long)log->spool_bytes, (unsigned long long)log->spool_max);
        spool_trouble(log, what);
        return false;
    }
    size_t done = write_all(log->spool_fd, log->spool_line.data, log->spool_line.len);
    if (done < log->spool_line.len) {
        char what[300];
        snprintf(what, sizeof what, "cannot write: %s", strerror(errno));
        if (done > 0 && ftruncate(log->spool_fd, (off_t)log->spool_bytes) != 0)
            snprintf(what, sizeof what, "cannot write, nor cut the line short: %s",
                     strerror(errno));
        spool_trouble(log, what);
        return false;
    }
    /* spool_failing stays until the spool is emptied: a smaller event
     * that still fits does not end a full spool's outage. */
    log->spool_bytes += log->spool_line.len;
    return true;
}

static void spool_bad_line(void *ctx, const char *message)
{
    eventlog *log = ctx;
    uv_mutex_lock(&log->lock);
    log->stats.spool_bad_lines++;
    uv_mutex_unlock(&log->lock);
    report(log, LOG_WARNING, message);
}

/* Stores the spool file's events, from where the last try stopped, once
 * the back-off is over. True when the spool is empty afterwards. */
static bool spool_replay(eventlog *log)
{
    if (log->spool_bytes == 0)
        return true;
    if (uv_hrtime() < log->db_retry_at)
        return false;
    char why[512] = "";
    uint64_t before = log->spool_at.stored;
    int rc = event_spool_replay(log->store, log->spool_path, &log->spool_at, spool_bad_line, log,
                                why, sizeof why);
    uint64_t stored = log->spool_at.stored - before;
    uv_mutex_lock(&log->lock);
    log->stats.replayed += stored;
    uv_mutex_unlock(&log->lock);
    if (rc != 0) {
        db_outage(log, why[0] ? why : "replay failed");
        return false;
    }
    char message[1200];
    snprintf(message, sizeof message,
             "event database %s: %llu events stored from %s (%llu lines skipped)", log->db_path,
             (unsigned long long)log->spool_at.stored, log->spool_path,
             (unsigned long long)log->spool_at.bad_lines);
    report(log, LOG_NOTICE, message);
    /* Every line is stored: the file starts again empty. */
    if (log->spool_fd >= 0 ? ftruncate(log->spool_fd, 0) : truncate(log->spool_path, 0)) {
        snprintf(message, sizeof message, "event spool %s: cannot empty it: %s", log->spool_path,
                 strerror(errno));
        report(log, LOG_ERR, message);
    }
    log->spool_bytes = 0;
    log->spool_failing = false;
    log->spool_at = (event_spool_result){0};
    uv_mutex_lock(&log->lock);
    log->stats.spool_bytes = 0;
    uv_mutex_unlock(&log->lock);
    db_recovered(log);
    return true;
}

/* The pending events the store did not take: into the spool when there is
 * one (counted as spooled), else lost. */
static void spool_or_lose(eventlog *log, size_t n, size_t bytes)
{
    uint64_t kept = 0;
    if (log->spool_path != NULL)
        for (size_t i = 0; i < n; i++)
            kept += spool_append(log, log->batch[i]);
    count_spooled(log, 0, n - kept, kept, bytes);
    log->db_lost += n - kept;
}

/* Hands the pending events to the store as one batch, counts them as
 * written, spooled or lost, and frees them. Events waiting in the spool go
 * first: while any do, these join them there. */
static void db_flush(eventlog *log)
{
    if (log->pending == 0)
        return;
    size_t n = 0, bytes = 0;
    uint64_t json_ok = 0;
    for (queued_event *e = log->pending_head; e != NULL; e = e->next) {
        log->batch[n++] = e->record;
        json_ok += e->json_ok;
        bytes += e->size;
    }
    char why[512] = "";
    /* While the store fails, it is asked again only after the back-off,
     * whether or not the spool took the last events. */
    if ((log->db_failing && uv_hrtime() < log->db_retry_at) || !spool_replay(log)) {
        spool_or_lose(log, n, bytes);
    } else if (event_store_write(log->store, log->batch, n, why, sizeof why) == 0) {
        count(log, json_ok, n - json_ok, bytes);
        db_recovered(log);
    } else {
        db_outage(log, why[0] ? why : "write failed");
        spool_or_lose(log, n, bytes);
    }
    for (queued_event *e = log->pending_head, *next; e != NULL; e = next) {
        next = e->next;
        free(e);
    }
    log->pending_head = log->pending_tail = NULL;
    log->pending = 0;
}

/* Keeps e for the next batch, or loses it at once while the store is
 * failing and its back-off is not over. Takes e. */
static void db_add(eventlog *log, queued_event *e)
{
    if (log->db_failing && log->spool_path == NULL && uv_hrtime() < log->db_retry_at) {
        log->db_lost++;
        count(log, 0, 1, e->size);
        free(e);
        return;
    }
    e->next = NULL;
    if (log->pending_tail != NULL)
        log->pending_tail->next = e;
    else
        log->pending_head = e;
    log->pending_tail = e;
    if (log->pending++ == 0)
        log->pending_since = uv_hrtime();
    if (log->pending >= BATCH_ROWS)
        db_flush(log);
}

/* ------------------------------------------------------------- writer */

/* Writes the syslog and JSON lines of e, then keeps it for the store or
 * frees it. Takes e. */
static void write_event(eventlog *log, queued_event *e)
{
    const event_record *r = e->record;
    if (log->use_syslog || log->stderr_lines) {
        static const char prefix[] = "domauthd: ";
        char line[sizeof prefix - 1 + SYSLOG_LINE_MAX + 1];
        size_t len = eventlog_format_syslog(r, line + sizeof prefix - 1, SYSLOG_LINE_MAX);
        if (log->use_syslog)
            syslog(LOG_INFO, "%s", line + sizeof prefix - 1);
        if (log->stderr_lines) {
            /* One write, so that lines from the loop's thread cannot cut in. */
            memcpy(line, prefix, sizeof prefix - 1);
            len += sizeof prefix - 1;
            line[len++] = '\n';
            (void)write_all(STDERR_FILENO, line, len);
        }
    }
    e->json_ok = log->json_path == NULL || json_write(log, r);
    if (log->store != NULL) {
        db_add(log, e);
        return;
    }
    count(log, e->json_ok, !e->json_ok, e->size);
    free(e);
}

/* Waits (under lock) until there is something to do: events, a reopen, the
 * close, or the pending batch reaching its age limit. */
static void wait_for_work(eventlog *log)
{
    while (log->head == NULL && !log->closing && !log->reopen_json && log->purge_before == 0) {
        if (log->pending == 0 && log->spool_bytes > 0) {
            /* Events wait in the spool: wake up to try the store again. */
            if (uv_cond_timedwait(&log->wake, &log->lock, RETRY_NS) == UV_ETIMEDOUT)
                return;
            continue;
        }
        if (log->pending == 0) {
            uv_cond_wait(&log->wake, &log->lock);
            continue;
        }
        uint64_t age = uv_hrtime() - log->pending_since;
        if (age >= BATCH_NS ||
            uv_cond_timedwait(&log->wake, &log->lock, BATCH_NS - age) == UV_ETIMEDOUT)
            return;
    }
}

/* Takes up to BATCH_ROWS events off the FIFO; they count against the
 * queue's limits until count() says they are done. */
static queued_event *take_batch(eventlog *log)
{
    queued_event *first = log->head, *last = NULL;
    size_t n = 0;
    for (queued_event *e = first; e != NULL && n < BATCH_ROWS; e = e->next, n++)
        last = e;
    if (last == NULL)
        return NULL;
    log->head = last->next;
    if (log->head == NULL)
        log->tail = NULL;
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
        int64_t purge_before = log->purge_before;
        log->purge_before = 0;
        bool closing = log->closing;
        bool done = closing && log->head == NULL;
        uv_mutex_unlock(&log->lock);

        if (closing && !was_closing) {
            /* One more try at a failing store before the end, without
             * waiting out the back-off. */
            was_closing = true;
            log->db_retry_at = 0;
        }
        if (reopen)
            json_reopen(log);
        while (batch != NULL) {
            queued_event *next = batch->next;
            write_event(log, batch);
            batch = next;
        }
        if (log->pending > 0 && (done || uv_hrtime() - log->pending_since >= BATCH_NS))
            db_flush(log);
        if (log->pending == 0 && log->spool_bytes > 0 && log->store != NULL)
            spool_replay(log);
        if (purge_before != 0 && log->store != NULL) {
            /* Here, not on the loop: a purge takes seconds on a large store
             * (in short transactions, so the next batch waits little). The
             * events already taken are stored first: "older than" means
             * every one written before the request. */
            if (log->pending > 0)
                db_flush(log);
            uint64_t deleted = 0;
            char why[512];
            char message[700];
            /* One node of a cluster purges the shared store: the one that
             * holds the lease (on one host, the lease is always granted). */
            bool mine = true;
            if (event_store_lease(log->store, EVENTLOG_PURGE_JOB, log->node, (int64_t)time(NULL),
                                  EVENTLOG_PURGE_LEASE, &mine, why, sizeof why) != 0) {
                snprintf(message, sizeof message, "event database %s: purge lease: %s",
                         log->db_path, why);
                report(log, LOG_ERR, message);
            } else if (!mine) {
                uv_mutex_lock(&log->lock);
                log->stats.purge_skipped++;
                uv_mutex_unlock(&log->lock);
            } else if (event_store_purge(log->store, purge_before, &deleted, why, sizeof why) !=
                       0) {
                snprintf(message, sizeof message, "event database %s: purge: %s (%llu deleted)",
                         log->db_path, why, (unsigned long long)deleted);
                report(log, LOG_ERR, message);
            } else if (deleted > 0) {
                snprintf(message, sizeof message,
                         "event database %s: %llu events past the retention deleted",
                         log->db_path, (unsigned long long)deleted);
                report(log, LOG_INFO, message);
            }
            uv_mutex_lock(&log->lock);
            log->stats.purged += deleted;
            uv_mutex_unlock(&log->lock);
        }
        if (done)
            return;
    }
}

/* ---------------------------------------------------------------- API */

static void open_outputs(eventlog *log, const eventlog_options *o, char *err, size_t err_size)
{
    char why[512], message[1024];
    log->stderr_lines = o->stderr_lines;
    if (o->syslog) {
        int facility = eventlog_facility(o->syslog_facility);
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
        /* The open runs on the caller's thread (the daemon's loop, its
         * listeners already open): an older database is upgraded by the
         * writer thread's first batch instead. */
        event_store_options so = {.access = EVENT_STORE_WRITE,
                                  .busy_timeout_ms = o->busy_timeout_ms,
                                  .upgrade_on_write = true,
                                  .password_file = o->password_file};
        why[0] = '\0';
        log->store = event_store_open(o->database_path, &so, why, sizeof why);
        if (log->store != NULL && why[0] != '\0') {
            /* A server not reached yet: the writer spools until it is. */
            snprintf(message, sizeof message, "event database %s: %s", o->database_path, why);
            append_error(err, err_size, message);
        }
        if (log->store == NULL || (log->db_path = strdup(o->database_path)) == NULL) {
            snprintf(message, sizeof message, "event database %s: %s (database off)",
                     o->database_path, why[0] ? why : "out of memory");
            append_error(err, err_size, message);
            event_store_close(log->store);
            log->store = NULL;
        }
    }
    if (log->store != NULL && o->spool_path != NULL && *o->spool_path != '\0') {
        if ((log->spool_path = strdup(o->spool_path)) == NULL) {
            append_error(err, err_size, "out of memory (event spool off)");
            return;
        }
        log->spool_max = o->spool_max ? o->spool_max : SPOOL_MAX_DEFAULT;
        /* Events a previous run spooled are stored first. */
        struct stat sb;
        if (stat(log->spool_path, &sb) == 0 && sb.st_size > 0) {
            log->spool_bytes = (uint64_t)sb.st_size;
            log->stats.spool_bytes = log->spool_bytes;
        }
    }
}

static void close_outputs(eventlog *log)
{
    event_store_close(log->store);
    if (log->json_fd >= 0)
        close(log->json_fd);
    if (log->opened_syslog)
        closelog();
    if (log->spool_fd >= 0)
        close(log->spool_fd);
    free(log->json_path);
    free(log->db_path);
    free(log->spool_path);
    free(log->node);
    strbuf_free(&log->line);
    strbuf_free(&log->spool_line);
}

/* The node's name, and a random key that makes its events' uids differ
 * from those of its earlier runs and of every other node. */
static int set_node(eventlog *log, const char *node)
{
    char host[UTIL_HOST_NAME_MAX];
    if ((log->node = strdup(util_node_name(node, host))) == NULL)
        return -1;
    if (getrandom(&log->boot_key, sizeof log->boot_key, 0) != (ssize_t)sizeof log->boot_key)
        log->boot_key = (uint64_t)time(NULL) << 20 ^ (uint64_t)getpid() ^ uv_hrtime();
    atomic_init(&log->sequence, 0);
    return 0;
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
    log->spool_fd = -1;
    strbuf_init(&log->line);
    strbuf_init(&log->spool_line);
    if (set_node(log, options->node) != 0) {
        free(log);
        return NULL;
    }
    log->queue_limit = options->queue_limit ? options->queue_limit : QUEUE_LIMIT_DEFAULT;
    if (uv_mutex_init(&log->lock) != 0) {
        free(log->node);
        free(log);
        return NULL;
    }
    if (uv_cond_init(&log->wake) != 0) {
        uv_mutex_destroy(&log->lock);
        free(log->node);
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

void eventlog_write(eventlog *log, const event_record *record)
{
    if (log == NULL || record == NULL)
        return;
    /* Each event says which node decided and has its own key. */
    event_record stamped = *record;
    char uid[48];
    if (stamped.node == NULL)
        stamped.node = log->node;
    if (stamped.uid == NULL) {
        uint64_t n = atomic_fetch_add(&log->sequence, 1) + 1;
        snprintf(uid, sizeof uid, "%016llx-%llu", (unsigned long long)log->boot_key,
                 (unsigned long long)n);
        stamped.uid = uid;
    }
    record = &stamped;
    size_t size = RECORD_OFFSET + event_record_copy_size(record);
    queued_event *e = malloc(size);
    if (e != NULL) {
        e->next = NULL;
        e->size = size;
        e->json_ok = false;
        e->record = event_record_copy_into(record, (char *)e + RECORD_OFFSET);
    }
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

void eventlog_purge_before(eventlog *log, int64_t before)
{
    if (log == NULL || before <= 0)
        return;
    uv_mutex_lock(&log->lock);
    log->purge_before = before;
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
