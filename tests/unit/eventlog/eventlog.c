/* Unit tests for src/store/eventlog.c: the syslog line format against hostile
 * values, every field round-tripping through SQLite and the JSON file, the
 * schema, open failures, a full disk, a locked database and queue overflow. */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "store/eventlog.h"
#include "store/eventlog_schema.h"
#include "tap.h"

static char tmpdir[64];

/* ------------------------------------------------------------ helpers */

static void path_in_tmp(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", tmpdir, name);
}

static char *read_whole(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap + 1);
    while (buf != NULL) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        char *bigger = realloc(buf, cap * 2 + 1);
        if (bigger == NULL) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    fclose(f);
    if (buf != NULL)
        buf[n] = '\0';
    *len = n;
    return buf;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits until the writer has dealt with `total` events. */
static void wait_handled(eventlog *log, uint64_t total)
{
    eventlog_stats st;
    for (int i = 0; i < 1000; i++) {
        eventlog_get_stats(log, &st);
        if (st.written + st.dropped + st.write_errors >= total)
            return;
        sleep_ms(10);
    }
}

/* Sends stderr to a file for a while, to count what the log reports. */
static int stderr_saved = -1;

static void capture_stderr(const char *path)
{
    fflush(stderr);
    stderr_saved = dup(2);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 2);
    close(fd);
}

static void restore_stderr(void)
{
    fflush(stderr);
    dup2(stderr_saved, 2);
    close(stderr_saved);
}

static int count_occurrences(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text; p && (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* ------------------------------------------------- the test records */

enum { EVENTS = 1000 };

/* Values that try to break each output. */
static char long_ascii[3001], long_euro[12001];
static const char *const hostile[] = {
    "quote\" result=\"pass\" back\\slash",
    "cr\rlf\nFAKE domauthd: result=\"pass\"",
    "ctl\x01\x02\x1b[31mred\x7f\t",
    "8bit \xff\xfe caf\xc3\xa9 \xe2\x82\xac nel\xc2\x85 \xed\xa0\x80 \xc0\xaf",
    long_ascii,
    long_euro,
    "",
};
enum { HOSTILE_COUNT = sizeof hostile / sizeof hostile[0] };

static const char *const results[] = {"pass", "fail", "softfail", "neutral",
                                      "none", "temperror", "permerror"};

/* Fills r with event i; `text` holds the strings made for it. */
static void make_record(event_record *r, int i, char text[4][64])
{
    snprintf(text[0], 64, "QID%05d", i);
    snprintf(text[1], 64, "192.0.2.%d", i % 256);
    snprintf(text[2], 64, "user%d@example%d.com", i, i % 7);
    snprintf(text[3], 64, "example%d.com", i % 7);
    const char *h = hostile[i % HOSTILE_COUNT];
    bool skipped = i % 11 == 5;
    *r = (event_record){
        .time = 1780000000 + i,
        .listener = i % 2 ? "milter" : "policy",
        .queue_id = i % 3 ? text[0] : NULL,
        .client_ip = text[1],
        .client_name = i % 4 ? h : NULL,
        .helo = h,
        .mail_from = i % 13 == 0 ? "" : text[2],
        .rcpt = i % 5 ? "postmaster@example.net" : NULL,
        .header_from = i % 6 ? h : NULL,
        .identity = skipped ? NULL : "mailfrom",
        .domain = skipped ? NULL : text[3],
        .result = skipped ? NULL : results[i % 7],
        .mechanism = i % 7 == 0 ? "ip4:192.0.2.0/24" : NULL,
        .problem = i % 7 == 5 ? h : NULL,
        .skip_reason = skipped ? "authenticated" : NULL,
        .score = (i % 9) * 0.7 - 1.1,
        .action = i % 7 == 1 ? "reject" : "accept",
        .held_action = i % 7 == 2 ? "defer" : NULL,
        .reply = i % 7 == 1 ? h : NULL,
    };
}

static const char *record_string(const event_record *r, int column)
{
    switch (column) {
    case EVC_LISTENER: return r->listener;
    case EVC_QUEUE_ID: return r->queue_id;
    case EVC_CLIENT_IP: return r->client_ip;
    case EVC_CLIENT_NAME: return r->client_name;
    case EVC_HELO: return r->helo;
    case EVC_MAIL_FROM: return r->mail_from;
    case EVC_RCPT: return r->rcpt;
    case EVC_HEADER_FROM: return r->header_from;
    case EVC_IDENTITY: return r->identity;
    case EVC_DOMAIN: return r->domain;
    case EVC_RESULT: return r->result;
    case EVC_MECHANISM: return r->mechanism;
    case EVC_PROBLEM: return r->problem;
    case EVC_SKIP_REASON: return r->skip_reason;
    case EVC_ACTION: return r->action;
    case EVC_HELD_ACTION: return r->held_action;
    case EVC_REPLY: return r->reply;
    }
    return NULL;
}

/* What is stored of a value: at most 4096 bytes, cut before a UTF-8
 * sequence that would not fit. */
static size_t stored_length(const char *s)
{
    size_t n = strlen(s);
    if (n <= 4096)
        return n;
    n = 4096;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

/* -------------------------------------------------- a tiny JSON reader */

/* Decodes the JSON string at *p (after the opening quote) into out as
 * UTF-8; returns false on malformed input. */
static bool json_read_string(const char **p, char *out, size_t size)
{
    size_t n = 0;
    const unsigned char *s = (const unsigned char *)*p;
    while (*s != '"') {
        unsigned cp;
        if (*s == '\0' || *s < 0x20 || n + 5 > size)
            return false;
        if (*s != '\\') {
            out[n++] = (char)*s++;
            continue;
        }
        s++;
        switch (*s) {
        case '"': case '\\': case '/': out[n++] = (char)*s; s++; continue;
        case 'n': out[n++] = '\n'; s++; continue;
        case 'r': out[n++] = '\r'; s++; continue;
        case 't': out[n++] = '\t'; s++; continue;
        case 'b': out[n++] = '\b'; s++; continue;
        case 'f': out[n++] = '\f'; s++; continue;
        case 'u':
            if (sscanf((const char *)s + 1, "%4x", &cp) != 1)
                return false;
            s += 5;
            break;
        default: return false;
        }
        if (cp < 0x80) {
            out[n++] = (char)cp;
        } else if (cp < 0x800) {
            out[n++] = (char)(0xC0 | cp >> 6);
            out[n++] = (char)(0x80 | (cp & 0x3F));
        } else {
            out[n++] = (char)(0xE0 | cp >> 12);
            out[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            out[n++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    out[n] = '\0';
    *p = (const char *)s + 1;
    return true;
}

typedef struct json_value {
    bool is_null, is_string;
    char text[16384]; /* the string, or the number as written */
} json_value;

/* Reads a flat object {"key":value,...} of strings, numbers and nulls into
 * values[] indexed by column; returns the number of keys, or -1. */
static int json_read_object(const char *line, json_value *values)
{
    const char *p = line;
    int keys = 0;
    if (*p++ != '{')
        return -1;
    while (*p != '}') {
        char key[64];
        if (keys > 0 && *p++ != ',')
            return -1;
        if (*p++ != '"' || !json_read_string(&p, key, sizeof key) || *p++ != ':')
            return -1;
        int column = -1;
        for (int c = 0; c < EVC_COUNT; c++)
            if (strcmp(key, eventlog_column_name(c)) == 0)
                column = c;
        if (column < 0)
            return -1;
        json_value *v = &values[column];
        v->is_null = v->is_string = false;
        if (*p == '"') {
            p++;
            v->is_string = true;
            if (!json_read_string(&p, v->text, sizeof v->text))
                return -1;
        } else if (strncmp(p, "null", 4) == 0) {
            v->is_null = true;
            p += 4;
        } else {
            size_t n = strspn(p, "-+.0123456789eE");
            if (n == 0 || n >= sizeof v->text)
                return -1;
            memcpy(v->text, p, n);
            v->text[n] = '\0';
            p += n;
        }
        keys++;
    }
    return p[1] == '\0' ? keys : -1;
}

/* What a JSON reader gets back for a stored value: UTF-8 as it was, and
 * each byte that is not UTF-8 read as Latin-1. */
static void json_expected(const char *s, char *out)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t len = json_utf8_len(p);
        if (len == 0) {
            out[n++] = (char)(0xC0 | *p >> 6);
            out[n++] = (char)(0x80 | (*p & 0x3F));
            p++;
        } else {
            memcpy(out + n, p, len);
            n += len;
            p += len;
        }
    }
    out[n] = '\0';
}

/* --------------------------------------------------------- syslog */

/* Parses key="value" pairs as a log reader would and checks what came out:
 * returns the number of pairs, or -1 when the line is not made of them. */
static int syslog_pairs(const char *line, const char **keys, char values[][1024], int max)
{
    int n = 0;
    const char *p = line;
    while (*p) {
        if (n > 0 && *p++ != ' ')
            return -1;
        const char *eq = strchr(p, '=');
        if (eq == NULL || eq[1] != '"' || n == max)
            return -1;
        keys[n] = p;
        p = eq + 2;
        size_t len = 0;
        while (*p != '"') {
            if (*p == '\0')
                return -1;
            if (*p == '\\')
                p++;
            if (len < 1023)
                values[n][len++] = *p;
            p++;
        }
        values[n][len] = '\0';
        p++;
        n++;
    }
    return n;
}

static void test_syslog_format(void)
{
    char line[8192];
    event_record r = {
        .time = 1780000000, .listener = "milter", .queue_id = "4XyZ1", .client_ip = "192.0.2.1",
        .helo = "mx.example.com", .mail_from = "a@example.com", .identity = "mailfrom",
        .domain = "example.com", .result = "fail", .mechanism = "-all", .score = 5,
        .action = "reject", .reply = "550 5.7.23 no",
    };
    size_t len = eventlog_format_syslog(&r, line, sizeof line);
    TAP_STR_EQ(line,
               "listener=\"milter\" queue_id=\"4XyZ1\" client_ip=\"192.0.2.1\" "
               "helo=\"mx.example.com\" mail_from=\"a@example.com\" identity=\"mailfrom\" "
               "domain=\"example.com\" result=\"fail\" mechanism=\"-all\" score=\"5\" "
               "action=\"reject\" reply=\"550 5.7.23 no\"",
               "syslog: key=\"value\" pairs, NULL fields left out");
    TAP_OK(len == strlen(line), "syslog: the length returned is the line's");

    r.helo = "evil\r\nFAKE domauthd: result=\"pass\" x=\\";
    r.mail_from = "ctl\x01\x1b[31m\x7f\tend";
    r.header_from = "8bit \xff caf\xc3\xa9 nel\xc2\x85.";
    eventlog_format_syslog(&r, line, sizeof line);
    bool clean = true;
    for (const unsigned char *p = (const unsigned char *)line; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            clean = false;
    TAP_OK(clean, "syslog: no control character survives (CR, LF, ESC, DEL, TAB)");
    TAP_OK(strstr(line, "\xc2\x85") == NULL, "syslog: C1 controls (NEL) are dropped too");
    const char *keys[32];
    static char values[32][1024];
    int n = syslog_pairs(line, keys, values, 32);
    TAP_OK(n == 13, "syslog: a hostile HELO cannot add a key (%d pairs)", n);
    TAP_STR_EQ(values[3], "evilFAKE domauthd: result=\"pass\" x=\\",
               "syslog: quotes and backslashes are escaped, CR LF dropped");
    TAP_STR_EQ(values[4], "ctl[31mend", "syslog: other control characters dropped");
    TAP_STR_EQ(values[5], "8bit ? caf\xc3\xa9 nel.",
               "syslog: UTF-8 kept, stray 8-bit bytes become '?'");

    char big[10000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    r.helo = r.mail_from = r.header_from = r.reply = r.problem = r.rcpt = big;
    len = eventlog_format_syslog(&r, line, sizeof line);
    n = syslog_pairs(line, keys, values, 32);
    TAP_OK(n == 15 && strlen(values[3]) == 259 && strcmp(values[3] + 256, "...") == 0,
           "syslog: long values are cut to 256 bytes and marked (%d pairs, %zu bytes)", n, len);

    char tiny[10];
    len = eventlog_format_syslog(&r, tiny, sizeof tiny);
    TAP_OK(len == 9 && tiny[9] == '\0', "syslog: a short buffer is filled and terminated");
}

/* ------------------------------------------------------ round trip */

static void check_database(const char *path, int expected_rows)
{
    sqlite3 *db = NULL;
    TAP_OK(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK,
           "database opens");
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
    sqlite3_step(st);
    TAP_OK(sqlite3_column_int(st, 0) == EVENTLOG_SCHEMA_VERSION, "schema version in user_version");
    sqlite3_finalize(st);
    sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL);
    sqlite3_step(st);
    TAP_STR_EQ((const char *)sqlite3_column_text(st, 0), "wal", "the database is in WAL mode");
    sqlite3_finalize(st);
    sqlite3_prepare_v2(db,
                       "SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_master "
                       "WHERE type = 'index' AND tbl_name = 'events' ORDER BY name)",
                       -1, &st, NULL);
    sqlite3_step(st);
    TAP_STR_EQ((const char *)sqlite3_column_text(st, 0),
               "events_client_ip events_domain events_result events_time",
               "indexes on time, result, client_ip and domain");
    sqlite3_finalize(st);

    sqlite3_prepare_v2(db, "SELECT id, " EVENTLOG_COLUMNS " FROM events ORDER BY id", -1, &st,
                       NULL);
    int rows = 0, bad_rows = 0;
    static char text[EVENTS][4][64];
    while (sqlite3_step(st) == SQLITE_ROW) {
        event_record r;
        make_record(&r, rows, text[rows % EVENTS]);
        bool same = sqlite3_column_int64(st, 1 + EVC_TIME) == r.time &&
                    sqlite3_column_double(st, 1 + EVC_SCORE) == r.score;
        for (int c = 0; c < EVC_COUNT; c++) {
            if (c == EVC_TIME || c == EVC_SCORE)
                continue;
            const char *want = record_string(&r, c);
            const char *got = (const char *)sqlite3_column_text(st, 1 + c);
            if (want == NULL ? got != NULL
                             : got == NULL || strlen(got) != stored_length(want) ||
                                   memcmp(got, want, strlen(got)) != 0) {
                if (bad_rows == 0)
                    printf("# row %d column %s differs\n", rows, eventlog_column_name(c));
                same = false;
            }
        }
        bad_rows += !same;
        rows++;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    TAP_OK(rows == expected_rows, "database: %d rows (want %d)", rows, expected_rows);
    TAP_OK(bad_rows == 0, "database: every field of every row round-trips (%d differ)",
           bad_rows);
}

static void check_json(const char *path)
{
    size_t len;
    char *data = read_whole(path, &len);
    TAP_OK(data != NULL, "JSON file exists");
    if (data == NULL)
        return;
    static json_value values[EVC_COUNT];
    static char want[16384];
    static char text[4][64];
    int lines = 0, bad_lines = 0, raw_control = 0;
    for (char *line = data, *nl; *line; line = nl + 1) {
        nl = strchr(line, '\n');
        if (nl == NULL) {
            bad_lines++;
            break;
        }
        *nl = '\0';
        for (const char *p = line; *p; p++)
            raw_control += (unsigned char)*p < 0x20;
        event_record r;
        make_record(&r, lines, text);
        bool same = json_read_object(line, values) == EVC_COUNT;
        for (int c = 0; same && c < EVC_COUNT; c++) {
            if (c == EVC_TIME) {
                same = atoll(values[c].text) == r.time;
            } else if (c == EVC_SCORE) {
                same = strtod(values[c].text, NULL) == r.score;
            } else if (record_string(&r, c) == NULL) {
                same = values[c].is_null;
            } else {
                char copy[16384];
                const char *s = record_string(&r, c);
                size_t n = stored_length(s);
                memcpy(copy, s, n);
                copy[n] = '\0';
                json_expected(copy, want);
                same = values[c].is_string && strcmp(values[c].text, want) == 0;
            }
            if (!same && bad_lines == 0)
                printf("# line %d key %s differs\n", lines + 1, eventlog_column_name(c));
        }
        bad_lines += !same;
        lines++;
    }
    free(data);
    TAP_OK(lines == EVENTS, "JSON: one line per event (%d)", lines);
    TAP_OK(raw_control == 0, "JSON: no raw control character inside a line");
    TAP_OK(bad_lines == 0, "JSON: every line parses and every field round-trips (%d differ)",
           bad_lines);
}

static void test_round_trip(uv_loop_t *loop)
{
    char db_path[128], json_path[128], dir[128], err[1024];
    path_in_tmp(dir, sizeof dir, "var/lib");
    path_in_tmp(db_path, sizeof db_path, "var/lib/domauth/events.db");
    path_in_tmp(json_path, sizeof json_path, "events.json");
    eventlog_options o = {.json_path = json_path, .database_path = db_path};
    eventlog *log = eventlog_open(loop, &o, err, sizeof err);
    TAP_OK(log != NULL && err[0] == '\0', "open: database and JSON file (%s)", err);
    struct stat sb;
    strcat(dir, "/domauth");
    TAP_OK(stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode) && (sb.st_mode & 07777) == 0750,
           "open: missing parent directories are created, mode 0750");
    TAP_OK(stat(db_path, &sb) == 0 && (sb.st_mode & 0777) == 0640, "open: database mode 0640");

    static char text[EVENTS][4][64];
    uint64_t started = uv_hrtime();
    for (int i = 0; i < EVENTS; i++) {
        event_record r;
        make_record(&r, i, text[i]);
        eventlog_write(log, &r);
        /* The copies must not point into our buffers. */
        memset(text[i], '#', sizeof text[i]);
        text[i][0][63] = text[i][1][63] = text[i][2][63] = text[i][3][63] = '\0';
    }
    uint64_t took_us = (uv_hrtime() - started) / 1000;
    TAP_OK(took_us < 2000000, "write: %d events queued in %llu us", EVENTS,
           (unsigned long long)took_us);
    uv_run(loop, UV_RUN_NOWAIT);
    eventlog_close(log);
    check_database(db_path, EVENTS);
    check_json(json_path);

    /* An existing database of this version is used as it is. */
    log = eventlog_open(loop, &o, err, sizeof err);
    eventlog_stats st;
    event_record r;
    char more[4][64];
    make_record(&r, EVENTS, more);
    eventlog_write(log, &r);
    eventlog_get_stats(log, &st);
    eventlog_close(log);
    sqlite3 *db;
    sqlite3_stmt *q;
    sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL);
    sqlite3_prepare_v2(db, "SELECT count(*) FROM events", -1, &q, NULL);
    sqlite3_step(q);
    TAP_OK(err[0] == '\0' && sqlite3_column_int(q, 0) == EVENTS + 1,
           "reopen: an existing database is appended to");
    sqlite3_finalize(q);
    sqlite3_close(db);
}

/* ------------------------------------------------------ failures */

static void test_cannot_open(uv_loop_t *loop)
{
    char err[1024];
    eventlog_options o = {.json_path = "/dev/null/x/events.json",
                          .database_path = "/dev/null/x/events.db"};
    eventlog *log = eventlog_open(loop, &o, err, sizeof err);
    TAP_OK(log != NULL, "unwritable paths: the log still opens");
    TAP_OK(strstr(err, "/dev/null/x/events.db") != NULL &&
               strstr(err, "/dev/null/x/events.json") != NULL,
           "unwritable paths: both are reported: %s", err);
    event_record r;
    char text[4][64];
    for (int i = 0; i < 100; i++) {
        make_record(&r, i, text);
        eventlog_write(log, &r);
    }
    wait_handled(log, 100);
    eventlog_stats st;
    eventlog_get_stats(log, &st);
    TAP_OK(st.written == 100 && st.write_errors == 0 && st.dropped == 0,
           "unwritable paths: writes are accepted, with those outputs off");
    eventlog_close(log);

    /* A database written by a newer domauth is left alone. */
    char db_path[128];
    path_in_tmp(db_path, sizeof db_path, "newer.db");
    sqlite3 *db;
    sqlite3_open(db_path, &db);
    sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL);
    sqlite3_close(db);
    eventlog_options newer = {.database_path = db_path};
    log = eventlog_open(loop, &newer, err, sizeof err);
    TAP_OK(log != NULL && strstr(err, "newer") != NULL, "a newer schema is refused: %s", err);
    eventlog_write(log, &r);
    eventlog_close(log);
}

static void test_counts_without_outputs(uv_loop_t *loop)
{
    char err[256];
    eventlog_options o = {0};
    eventlog *log = eventlog_open(loop, &o, err, sizeof err);
    event_record r;
    char text[4][64];
    for (int i = 0; i < 50; i++) {
        make_record(&r, i, text);
        eventlog_write(log, &r);
    }
    wait_handled(log, 50);
    eventlog_stats st;
    eventlog_get_stats(log, &st);
    TAP_OK(st.written == 50 && st.dropped == 0 && st.write_errors == 0,
           "no outputs: every event is counted as written (%llu/%llu/%llu)",
           (unsigned long long)st.written, (unsigned long long)st.dropped,
           (unsigned long long)st.write_errors);
    eventlog_close(log);
    eventlog_close(NULL);
    eventlog_write(NULL, &r);
    TAP_OK(1, "NULL log: close and write do nothing");
}

static void test_disk_full(uv_loop_t *loop)
{
    char err[256], report[128];
    if (access("/dev/full", W_OK) != 0) {
        TAP_SKIP("no /dev/full");
        return;
    }
    path_in_tmp(report, sizeof report, "stderr-full.txt");
    capture_stderr(report);
    eventlog_options o = {.json_path = "/dev/full"};
    eventlog *log = eventlog_open(loop, &o, err, sizeof err);
    event_record r;
    char text[4][64];
    for (int i = 0; i < 40; i++) {
        make_record(&r, i, text);
        eventlog_write(log, &r);
    }
    wait_handled(log, 40);
    eventlog_stats st;
    eventlog_get_stats(log, &st);
    eventlog_close(log);
    restore_stderr();
    size_t len;
    char *said = read_whole(report, &len);
    TAP_OK(st.write_errors == 40 && st.written == 0 && st.dropped == 0,
           "disk full: each lost line is counted (%llu errors)",
           (unsigned long long)st.write_errors);
    TAP_OK(count_occurrences(said, "No space left on device") == 1,
           "disk full: reported once per outage, not per line");
    free(said);
}

/* Holds the database's write lock from another connection: the writer's
 * transactions wait out the busy timeout and fail, the queue fills and
 * overflows, and when the lock goes writing resumes. */
static void test_locked_and_overflow(uv_loop_t *loop)
{
    char db_path[128], report[128], err[512];
    path_in_tmp(db_path, sizeof db_path, "locked.db");
    path_in_tmp(report, sizeof report, "stderr-locked.txt");
    capture_stderr(report);
    eventlog_options o = {.database_path = db_path, .queue_limit = 10, .busy_timeout_ms = 300};
    eventlog *log = eventlog_open(loop, &o, err, sizeof err);
    sqlite3 *other;
    sqlite3_open(db_path, &other);
    int locked = sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL);

    event_record r;
    char text[4][64];
    uint64_t started = uv_hrtime();
    for (int i = 0; i < 1000; i++) {
        make_record(&r, i, text);
        eventlog_write(log, &r);
    }
    uint64_t took_ms = (uv_hrtime() - started) / 1000000;
    wait_handled(log, 1000);
    eventlog_stats st;
    eventlog_get_stats(log, &st);
    TAP_OK(locked == SQLITE_OK, "another connection holds the write lock");
    TAP_OK(took_ms < 300, "locked: writing 1000 events did not wait (%llu ms)",
           (unsigned long long)took_ms);
    TAP_OK(st.dropped >= 1000 - 2 * 10 && st.dropped + st.write_errors == 1000 &&
               st.written == 0,
           "overflow: a full queue drops and counts (%llu dropped, %llu lost)",
           (unsigned long long)st.dropped, (unsigned long long)st.write_errors);

    sqlite3_exec(other, "COMMIT", NULL, NULL, NULL);
    sleep_ms(1100); /* past the writer's back-off */
    for (int i = 0; i < 5; i++) {
        make_record(&r, i, text);
        eventlog_write(log, &r);
    }
    wait_handled(log, 1005);
    eventlog_get_stats(log, &st);
    eventlog_close(log);
    restore_stderr();
    TAP_OK(st.written == 5, "unlocked: writing resumes (%llu written)",
           (unsigned long long)st.written);
    sqlite3_stmt *q;
    sqlite3_prepare_v2(other, "SELECT count(*) FROM events", -1, &q, NULL);
    sqlite3_step(q);
    TAP_OK(sqlite3_column_int(q, 0) == 5, "unlocked: the new rows are in the database");
    sqlite3_finalize(q);
    sqlite3_close(other);
    size_t len;
    char *said = read_whole(report, &len);
    TAP_OK(count_occurrences(said, "are not stored until it works again") == 1 &&
               count_occurrences(said, "writing again") == 1,
           "locked: the outage is reported once, and its end once");
    free(said);
}

static void test_reopen(uv_loop_t *loop)
{
    char json_path[128], rotated[128], err[256];
    path_in_tmp(json_path, sizeof json_path, "rotate.json");
    path_in_tmp(rotated, sizeof rotated, "rotate.json.1");
    eventlog_options o = {.json_path = json_path};
    eventlog *log = eventlog_open(loop, &o, err, sizeof err);
    event_record r;
    char text[4][64];
    for (int i = 0; i < 3; i++) {
        make_record(&r, i, text);
        eventlog_write(log, &r);
    }
    wait_handled(log, 3);
    rename(json_path, rotated);
    eventlog_reopen(log);
    for (int i = 0; i < 2; i++) {
        make_record(&r, i, text);
        eventlog_write(log, &r);
    }
    eventlog_close(log);
    size_t old_len, new_len;
    char *old_data = read_whole(rotated, &old_len), *new_data = read_whole(json_path, &new_len);
    TAP_OK(count_occurrences(old_data, "\n") == 3 && count_occurrences(new_data, "\n") == 2,
           "reopen: lines after eventlog_reopen go to the new file");
    free(old_data);
    free(new_data);
}

int main(void)
{
    strcpy(tmpdir, "/tmp/eventlog-test-XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    umask(022);
    memset(long_ascii, 'A', sizeof long_ascii - 1);
    for (size_t i = 0; i + 3 < sizeof long_euro; i += 3)
        memcpy(long_euro + i, "\xe2\x82\xac", 3);

    uv_loop_t loop;
    uv_loop_init(&loop);
    test_syslog_format();
    test_round_trip(&loop);
    test_cannot_open(&loop);
    test_counts_without_outputs(&loop);
    test_disk_full(&loop);
    test_locked_and_overflow(&loop);
    test_reopen(&loop);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);

    char command[128];
    snprintf(command, sizeof command, "rm -rf '%s'", tmpdir);
    if (system(command) != 0)
        printf("# could not remove %s\n", tmpdir);
    return tap_done();
}
