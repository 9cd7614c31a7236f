/* Unit tests for src/store/eventlog.c: the syslog line format against hostile
 * values, every field (results and recipients too) round-tripping through
 * the event store and the JSON file, the schema, stderr lines, open
 * failures, a full disk, a locked database and queue overflow. */
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

#include "store/event_store.h"
#include "store/eventlog.h"
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

/* What one test record's strings and arrays live in. */
typedef struct test_event {
    char text[7][64];
    event_result results[2];
    event_rcpt rcpts[3];
} test_event;

/* Fills r with event i; t holds what it points to. */
static void make_record(event_record *r, int i, test_event *t)
{
    snprintf(t->text[0], 64, "QID%05d", i);
    snprintf(t->text[1], 64, "192.0.2.%d", i % 256);
    snprintf(t->text[2], 64, "user%d@example%d.com", i, i % 7);
    snprintf(t->text[3], 64, "example%d.com", i % 7);
    snprintf(t->text[4], 64, "smtp.mailfrom=user%d@example%d.com", i, i % 7);
    snprintf(t->text[5], 64, "spf=%s: %s_action", results[i % 7], results[i % 7]);
    snprintf(t->text[6], 64, "test-%d", i);
    const char *h = hostile[i % HOSTILE_COUNT];
    bool skipped = i % 11 == 5;
    *r = (event_record){
        .time = 1780000000 + i,
        .listener = i % 2 ? "milter" : "policy",
        .queue_id = i % 3 ? t->text[0] : NULL,
        .client_ip = t->text[1],
        .client_name = i % 4 ? h : NULL,
        .helo = h,
        .mail_from = i % 13 == 0 ? "" : t->text[2],
        .rcpt = i % 5 ? "postmaster@example.net" : NULL,
        .header_from = i % 6 ? h : NULL,
        .identity = skipped ? NULL : "mailfrom",
        .domain = skipped ? NULL : t->text[3],
        .result = skipped ? NULL : results[i % 7],
        .mechanism = i % 7 == 0 ? "ip4:192.0.2.0/24" : NULL,
        .problem = i % 7 == 5 ? h : NULL,
        .skip_reason = skipped ? "authenticated" : NULL,
        .score = (i % 9) * 0.7 - 1.1,
        .action = i % 7 == 1 ? "reject" : "accept",
        .held_action = i % 7 == 2 ? "defer" : NULL,
        .reply = i % 7 == 1 ? h : NULL,
        .reasons = i % 4 == 0 ? NULL : i % 4 == 1 ? h : t->text[5],
        .node = i % 2 ? "mx1" : h,
        .uid = t->text[6],
    };
    size_t n = 0;
    if (!skipped)
        t->results[n++] = (event_result){"spf", r->result, r->domain, r->mechanism,
                                         r->problem, t->text[4]};
    if (i % 3 == 0)
        t->results[n++] = (event_result){"dkim", i % 2 ? "pass" : "fail", "example.org",
                                         "sel1", i % 2 ? NULL : h,
                                         i % 9 ? "header.d=example.org header.s=sel1" : h};
    r->results = n ? t->results : NULL;
    r->result_count = n;
    n = (size_t)(i % 4);
    for (size_t k = 0; k < n; k++)
        t->rcpts[k] = (event_rcpt){k == 0 ? "postmaster@example.net" : k == 1 ? h : "x@y.example",
                                   k == 1 ? "reject" : "accept", k == 1 ? "550 5.7.1 no" : NULL};
    r->rcpts = n ? t->rcpts : NULL;
    r->rcpt_count = n;
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

/* What a JSON reader gets back for a stored value: UTF-8 as it was, and
 * each byte that is not UTF-8 read as Latin-1. */
static void json_expected(const char *s, char *out)
{
    size_t n = 0, keep = stored_length(s);
    for (const unsigned char *p = (const unsigned char *)s; p < (const unsigned char *)s + keep;) {
        size_t len = json_utf8_len(p);
        if (len == 0 || p + len > (const unsigned char *)s + keep) {
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

/* Whether got is what JSON gives back for want (NULL for NULL). */
static bool same_as_json(const char *got, const char *want)
{
    static char expected[16384];
    if (want == NULL || got == NULL)
        return want == got;
    json_expected(want, expected);
    return strcmp(got, expected) == 0;
}

/* Whether got is want as stored: the same bytes, cut at 4096. */
static bool same_bytes(const char *got, const char *want)
{
    if (want == NULL || got == NULL)
        return want == got;
    return strlen(got) == stored_length(want) && memcmp(got, want, strlen(got)) == 0;
}

/* Compares the results and recipients of got with those of want, as they
 * come back through JSON; names the first difference in *what. */
static bool same_arrays(const event_record *got, const event_record *want, const char **what)
{
    if (got->result_count != want->result_count) {
        *what = "result_count";
        return false;
    }
    for (size_t k = 0; k < want->result_count; k++) {
        const event_result *g = &got->results[k], *w = &want->results[k];
        const char *gv[] = {g->method, g->result, g->domain, g->detail, g->reason, g->props};
        const char *wv[] = {w->method, w->result, w->domain, w->detail, w->reason, w->props};
        for (int c = 0; c < 6; c++)
            if (!same_as_json(gv[c], wv[c])) {
                *what = "results";
                return false;
            }
    }
    if (got->rcpt_count != want->rcpt_count) {
        *what = "rcpt_count";
        return false;
    }
    for (size_t k = 0; k < want->rcpt_count; k++) {
        const event_rcpt *g = &got->rcpts[k], *w = &want->rcpts[k];
        if (!same_as_json(g->address, w->address) || !same_as_json(g->action, w->action) ||
            !same_as_json(g->reply, w->reply)) {
            *what = "recipients";
            return false;
        }
    }
    return true;
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

/* Reads a string, a number or null at *p into v. */
static bool json_read_scalar(const char **p, json_value *v)
{
    v->is_null = v->is_string = false;
    if (**p == '"') {
        (*p)++;
        v->is_string = true;
        return json_read_string(p, v->text, sizeof v->text);
    }
    if (strncmp(*p, "null", 4) == 0) {
        v->is_null = true;
        *p += 4;
        return true;
    }
    size_t n = strspn(*p, "-+.0123456789eE");
    if (n == 0 || n >= sizeof v->text)
        return false;
    memcpy(v->text, *p, n);
    v->text[n] = '\0';
    *p += n;
    return true;
}

/* Reads {"key":scalar,...} at *p with exactly the keys in names, in any
 * order, into values[] by the key's index. */
static bool json_read_flat(const char **p, const char *const *names, int n, json_value *values)
{
    int keys = 0;
    if (*(*p)++ != '{')
        return false;
    while (**p != '}') {
        char key[64];
        if (keys > 0 && *(*p)++ != ',')
            return false;
        if (*(*p)++ != '"' || !json_read_string(p, key, sizeof key) || *(*p)++ != ':')
            return false;
        int slot = -1;
        for (int k = 0; k < n; k++)
            if (strcmp(key, names[k]) == 0)
                slot = k;
        if (slot < 0 || !json_read_scalar(p, &values[slot]))
            return false;
        keys++;
    }
    (*p)++;
    return keys == n;
}

/* An array of flat objects, at most max of them. Returns how many, or -1. */
static int json_read_array(const char **p, const char *const *names, int n, json_value *values,
                           int max)
{
    int count = 0;
    if (*(*p)++ != '[')
        return -1;
    while (**p != ']') {
        if (count > 0 && *(*p)++ != ',')
            return -1;
        if (count == max || !json_read_flat(p, names, n, values + count * n))
            return -1;
        count++;
    }
    (*p)++;
    return count;
}

static const char *const result_keys[] = {"method", "result", "domain", "detail", "reason", "props"};
static const char *const rcpt_keys[] = {"address", "action", "reply"};

/* A JSON line: every field of enum event_field, then "results" and
 * "recipients", arrays of objects. */
typedef struct json_event {
    json_value field[EVF_COUNT];
    json_value results[2 * 6], rcpts[3 * 3];
    int result_count, rcpt_count;
} json_event;

static bool json_read_event(const char *line, json_event *e)
{
    const char *p = line;
    int keys = 0;
    e->result_count = e->rcpt_count = -1;
    if (*p++ != '{')
        return false;
    while (*p != '}') {
        char key[64];
        if (keys > 0 && *p++ != ',')
            return false;
        if (*p++ != '"' || !json_read_string(&p, key, sizeof key) || *p++ != ':')
            return false;
        keys++;
        if (strcmp(key, "results") == 0) {
            if ((e->result_count = json_read_array(&p, result_keys, 6, e->results, 2)) < 0)
                return false;
            continue;
        }
        if (strcmp(key, "recipients") == 0) {
            if ((e->rcpt_count = json_read_array(&p, rcpt_keys, 3, e->rcpts, 3)) < 0)
                return false;
            continue;
        }
        int field = -1;
        for (int f = 0; f < EVF_COUNT; f++)
            if (strcmp(key, event_field_name(f)) == 0)
                field = f;
        if (field < 0 || !json_read_scalar(&p, &e->field[field]))
            return false;
    }
    return p[1] == '\0' && keys == EVF_COUNT + 2 && e->result_count >= 0 && e->rcpt_count >= 0;
}

/* Whether a JSON value is what was written for want. */
static bool json_same(const json_value *v, const char *want)
{
    if (want == NULL)
        return v->is_null;
    return v->is_string && same_as_json(v->text, want);
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

    /* One event per message: the reasons, the results vector and the
     * recipients, in short. */
    event_result vector[] = {
        {"spf", "fail", "example.com", "-all", NULL, "smtp.mailfrom=a@example.com"},
        {"dkim", "pass", "example.org", "s1", NULL, "header.d=example.org header.s=s1"},
        {"arc", "none", NULL, NULL, NULL, NULL},
    };
    event_rcpt rcpts[] = {{"a@example.net", "reject", "550 5.7.23 no"},
                          {"b@example.net", "accept", NULL}};
    event_record m = {
        .time = 1780000000, .listener = "milter", .client_ip = "192.0.2.1",
        .helo = "mx.example.com", .mail_from = "a@example.com", .action = "reject",
        .reasons = "spf=fail: fail_action reject", .results = vector, .result_count = 3,
        .rcpts = rcpts, .rcpt_count = 2,
    };
    eventlog_format_syslog(&m, line, sizeof line);
    TAP_STR_EQ(line,
               "listener=\"milter\" client_ip=\"192.0.2.1\" helo=\"mx.example.com\" "
               "mail_from=\"a@example.com\" score=\"0\" action=\"reject\" "
               "reasons=\"spf=fail: fail_action reject\" "
               "results=\"spf=fail(d=example.com) dkim=pass(d=example.org) arc=none\" "
               "recipients=\"a@example.net(reject) b@example.net(accept)\"",
               "syslog: reasons, results and recipients in short");
    vector[1].domain = "evil\" result=\"pass\r\nFAKE";
    rcpts[0].address = "x\"@y\x1b[2J";
    eventlog_format_syslog(&m, line, sizeof line);
    n = syslog_pairs(line, keys, values, 32);
    TAP_OK(n == 9 && strcmp(values[7], "spf=fail(d=example.com) dkim=pass(d=evil\" "
                                       "result=\"passFAKE) arc=none") == 0 &&
               strcmp(values[8], "x\"@y[2J(reject) b@example.net(accept)") == 0,
           "syslog: a hostile domain or address in them cannot add a key or a line");
    m.result_count = 64;
    event_result many[64];
    for (int i = 0; i < 64; i++)
        many[i] = vector[0];
    m.results = many;
    eventlog_format_syslog(&m, line, sizeof line);
    n = syslog_pairs(line, keys, values, 32);
    TAP_OK(n == 9 && strlen(values[7]) == 259 && strcmp(values[7] + 256, "...") == 0,
           "syslog: a long results vector is cut like any value");
}

/* ------------------------------------------------------ round trip */

static int sql_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    int v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

static char *sql_text(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    char *v = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
        v = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return v;
}

/* What the store gives back, checked against make_record. */
typedef struct store_check {
    int rows, bad_rows;
    int64_t last_time;
    bool newest_first;
} store_check;

static int check_row(void *ctx, int64_t id, const event_record *got)
{
    store_check *c = ctx;
    static test_event t;
    event_record want;
    int i = (int)(got->time - 1780000000);
    make_record(&want, i, &t);
    const char *what = NULL;
    if (id != i + 1)
        what = "id";
    if (got->score != want.score)
        what = "score";
    for (int f = 0; what == NULL && f < EVF_COUNT; f++)
        if (event_field_is_string(f) &&
            !same_bytes(event_field_string(got, f), event_field_string(&want, f)))
            what = event_field_name(f);
    if (what == NULL)
        same_arrays(got, &want, &what);
    if (what != NULL && c->bad_rows++ == 0)
        printf("# event %d: %s differs\n", i, what);
    if (c->rows > 0 && got->time > c->last_time)
        c->newest_first = false;
    c->last_time = got->time;
    c->rows++;
    return 0;
}

static void check_database(const char *path, int expected_rows)
{
    sqlite3 *db = NULL;
    TAP_OK(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK,
           "database opens");
    TAP_OK(sql_int(db, "PRAGMA user_version") == 8, "schema version 8 in user_version");
    char *mode = sql_text(db, "PRAGMA journal_mode");
    TAP_STR_EQ(mode, "wal", "the database is in WAL mode");
    free(mode);
    char *indexes = sql_text(db, "SELECT group_concat(name, ' ') FROM (SELECT name FROM "
                                 "sqlite_master WHERE type = 'index' AND tbl_name = 'events' "
                                 "ORDER BY name)");
    TAP_STR_EQ(indexes,
               "events_client_ip events_dmarc events_domain_time events_node "
               "events_result_time events_time events_uid",
               "indexes on time, (result, time), client_ip, (domain, time), dmarc, node and uid");
    free(indexes);
    TAP_OK(sql_int(db, "SELECT count(*) FROM events WHERE json_valid(results) AND "
                       "json_valid(recipients) AND json_type(results) = 'array' AND "
                       "json_type(recipients) = 'array'") == expected_rows,
           "database: results and recipients are JSON arrays in every row");
    /* The reasons column holds the bytes as they were, like the others. */
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "SELECT time, reasons FROM events ORDER BY id", -1, &st, NULL);
    int bad = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        static test_event t;
        event_record want;
        make_record(&want, (int)(sqlite3_column_int64(st, 0) - 1780000000), &t);
        bad += !same_bytes((const char *)sqlite3_column_text(st, 1), want.reasons);
    }
    sqlite3_finalize(st);
    TAP_OK(bad == 0, "database: reasons are stored byte for byte (%d differ)", bad);
    sqlite3_close(db);

    char why[512];
    event_store_options ro = {.access = EVENT_STORE_READ};
    event_store *store = event_store_open(path, &ro, why, sizeof why);
    TAP_OK(store != NULL && why[0] == '\0', "the store opens for reading (%s)", why);
    if (store == NULL)
        return;
    store_check c = {.newest_first = true};
    event_query all = {0};
    int rc = event_store_query(store, &all, check_row, &c, why, sizeof why);
    event_store_close(store);
    TAP_OK(rc == 0 && c.rows == expected_rows, "store: %d events (want %d) %s", c.rows,
           expected_rows, why);
    TAP_OK(c.newest_first, "store: newest first");
    TAP_OK(c.bad_rows == 0,
           "store: every field, result and recipient of every event round-trips (%d differ)",
           c.bad_rows);
}

static void check_json(const char *path)
{
    size_t len;
    char *data = read_whole(path, &len);
    TAP_OK(data != NULL, "JSON file exists");
    if (data == NULL)
        return;
    static json_event e;
    static test_event t;
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
        make_record(&r, lines, &t);
        const char *what = NULL;
        if (!json_read_event(line, &e))
            what = "the line";
        for (int f = 0; what == NULL && f < EVF_COUNT; f++) {
            bool same;
            if (f == EVF_TIME)
                same = atoll(e.field[f].text) == r.time;
            else if (f == EVF_SCORE)
                same = strtod(e.field[f].text, NULL) == r.score;
            else
                same = json_same(&e.field[f], event_field_string(&r, f));
            if (!same)
                what = event_field_name(f);
        }
        if (what == NULL && e.result_count != (int)r.result_count)
            what = "results count";
        for (int k = 0; what == NULL && k < e.result_count; k++) {
            const event_result *x = &r.results[k];
            const char *want[] = {x->method, x->result, x->domain, x->detail, x->reason, x->props};
            for (int c = 0; c < 6; c++)
                if (!json_same(&e.results[k * 6 + c], want[c]))
                    what = "results";
        }
        if (what == NULL && e.rcpt_count != (int)r.rcpt_count)
            what = "recipients count";
        for (int k = 0; what == NULL && k < e.rcpt_count; k++) {
            const event_rcpt *x = &r.rcpts[k];
            const char *want[] = {x->address, x->action, x->reply};
            for (int c = 0; c < 3; c++)
                if (!json_same(&e.rcpts[k * 3 + c], want[c]))
                    what = "recipients";
        }
        if (what != NULL && bad_lines++ == 0)
            printf("# line %d: %s differs\n", lines + 1, what);
        lines++;
    }
    free(data);
    TAP_OK(lines == EVENTS, "JSON: one line per event (%d)", lines);
    TAP_OK(raw_control == 0, "JSON: no raw control character inside a line");
    TAP_OK(bad_lines == 0,
           "JSON: every line parses and every field, result and recipient round-trips "
           "(%d differ)",
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

    static test_event text[EVENTS];
    uint64_t started = uv_hrtime();
    for (int i = 0; i < EVENTS; i++) {
        event_record r;
        make_record(&r, i, &text[i]);
        eventlog_write(log, &r);
        /* The copies must not point into our buffers. */
        memset(&text[i], '#', sizeof text[i]);
        for (int k = 0; k < 6; k++)
            text[i].text[k][63] = '\0';
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
    test_event more;
    make_record(&r, EVENTS, &more);
    eventlog_write(log, &r);
    eventlog_get_stats(log, &st);
    eventlog_close(log);
    sqlite3 *db;
    sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL);
    TAP_OK(err[0] == '\0' && sql_int(db, "SELECT count(*) FROM events") == EVENTS + 1,
           "reopen: an existing database is appended to");
    sqlite3_close(db);
}

/* Each event's line goes to stderr too when asked, whole, one per line. */
static void test_stderr_lines(uv_loop_t *loop)
{
    char report[128], err[256];
    path_in_tmp(report, sizeof report, "stderr-lines.txt");
    capture_stderr(report);
    eventlog_options o = {.stderr_lines = true};
    eventlog *log = eventlog_open(loop, &o, err, sizeof err);
    event_record r;
    test_event t;
    for (int i = 0; i < 7; i++) {
        make_record(&r, i, &t);
        eventlog_write(log, &r);
    }
    wait_handled(log, 7);
    eventlog_close(log);
    restore_stderr();
    size_t len;
    char *said = read_whole(report, &len);
    int lines = 0, good = 0;
    for (char *line = said, *nl; line && *line; line = nl + 1) {
        if ((nl = strchr(line, '\n')) == NULL)
            break;
        *nl = '\0';
        char want[16384];
        make_record(&r, lines, &t);
        eventlog_format_syslog(&r, want, sizeof want);
        good += strncmp(line, "domauthd: ", 10) == 0 && strcmp(line + 10, want) == 0;
        lines++;
    }
    TAP_OK(lines == 7 && good == 7,
           "stderr lines: each event's syslog line, after \"domauthd: \" (%d lines, %d right)",
           lines, good);
    free(said);

    /* Off by default. */
    capture_stderr(report);
    eventlog_options quiet = {0};
    log = eventlog_open(loop, &quiet, err, sizeof err);
    eventlog_write(log, &r);
    eventlog_close(log);
    restore_stderr();
    said = read_whole(report, &len);
    TAP_OK(said != NULL && len == 0, "stderr lines: off unless asked");
    free(said);
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
    test_event text;
    for (int i = 0; i < 100; i++) {
        make_record(&r, i, &text);
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
    test_event text;
    for (int i = 0; i < 50; i++) {
        make_record(&r, i, &text);
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
    test_event text;
    for (int i = 0; i < 40; i++) {
        make_record(&r, i, &text);
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
    test_event text;
    uint64_t started = uv_hrtime();
    for (int i = 0; i < 1000; i++) {
        make_record(&r, i, &text);
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
        make_record(&r, i, &text);
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

/* The same lock with a spool file: nothing is lost. The events go to the
 * spool while the lock is held (at most a bound: the ones past it are
 * lost, and counted), and are stored from it, in order and once, when the
 * lock goes, then the spool is empty. */
static void test_locked_with_spool(uv_loop_t *loop)
{
    char db_path[128], spool[128], small[128], report[128], err[512];
    path_in_tmp(db_path, sizeof db_path, "locked-spool.db");
    path_in_tmp(spool, sizeof spool, "locked.spool");
    path_in_tmp(small, sizeof small, "small.spool");
    path_in_tmp(report, sizeof report, "stderr-spool.txt");
    capture_stderr(report);
    eventlog_options o = {.database_path = db_path, .busy_timeout_ms = 200,
                          .spool_path = spool};
    eventlog *log = eventlog_open(loop, &o, err, sizeof err);
    sqlite3 *other;
    sqlite3_open(db_path, &other);
    int locked = sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    event_record r;
    test_event text;
    for (int i = 0; i < 300; i++) {
        make_record(&r, i, &text);
        eventlog_write(log, &r);
    }
    eventlog_stats st = {0};
    for (int i = 0; i < 500 && st.spooled < 300; i++) {
        sleep_ms(10);
        eventlog_get_stats(log, &st);
    }
    TAP_OK(locked == SQLITE_OK && st.spooled == 300 && st.write_errors == 0 && st.spool_bytes > 0,
           "locked, with a spool: the 300 events are spooled, none lost (%llu spooled, %llu "
           "bytes)", (unsigned long long)st.spooled, (unsigned long long)st.spool_bytes);
    sqlite3_exec(other, "COMMIT", NULL, NULL, NULL);
    /* The writer counts the replayed events before it empties the file. */
    for (int i = 0; i < 500 && (st.replayed < 300 || st.spool_bytes > 0); i++) {
        sleep_ms(10);
        eventlog_get_stats(log, &st);
    }
    eventlog_close(log);
    sqlite3_stmt *q;
    sqlite3_prepare_v2(other,
                       "SELECT count(*), count(DISTINCT uid), min(time = 1780000000 + id - 1)"
                       " FROM events", -1, &q, NULL);
    sqlite3_step(q);
    TAP_OK(st.replayed == 300 && sqlite3_column_int(q, 0) == 300 &&
               sqlite3_column_int(q, 1) == 300 && sqlite3_column_int(q, 2) == 1,
           "unlocked: stored from the spool, in order, once each (%d rows)",
           sqlite3_column_int(q, 0));
    sqlite3_finalize(q);
    struct stat sb;
    TAP_OK(stat(spool, &sb) == 0 && sb.st_size == 0 && st.spool_bytes == 0,
           "  and the spool file is empty");

    /* A bound of 4 kB: the events past it are lost, and counted. */
    o.spool_path = small;
    o.spool_max = 4096;
    log = eventlog_open(loop, &o, err, sizeof err);
    sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    for (int i = 0; i < 100; i++) {
        make_record(&r, 1000 + i, &text);
        eventlog_write(log, &r);
    }
    st = (eventlog_stats){0};
    for (int i = 0; i < 500 && st.spooled + st.write_errors < 100; i++) {
        sleep_ms(10);
        eventlog_get_stats(log, &st);
    }
    TAP_OK(st.spooled > 0 && st.spooled < 100 && st.spooled + st.write_errors == 100 &&
               st.spool_bytes <= 4096,
           "a spool of 4096 bytes: %llu spooled, %llu past the bound lost and counted",
           (unsigned long long)st.spooled, (unsigned long long)st.write_errors);
    sqlite3_exec(other, "COMMIT", NULL, NULL, NULL);
    eventlog_close(log);
    sqlite3_close(other);
    restore_stderr();
    size_t len;
    char *said = read_whole(report, &len);
    TAP_OK(count_occurrences(said, "decisions are kept in") == 2 &&
               count_occurrences(said, "events stored from") >= 1 &&
               count_occurrences(said, "full (") == 1,
           "the outages, the replay and the full spool are each reported once");
    if (said != NULL && count_occurrences(said, "full (") != 1)
        printf("# %s\n", said);
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
    test_event text;
    for (int i = 0; i < 3; i++) {
        make_record(&r, i, &text);
        eventlog_write(log, &r);
    }
    wait_handled(log, 3);
    rename(json_path, rotated);
    eventlog_reopen(log);
    for (int i = 0; i < 2; i++) {
        make_record(&r, i, &text);
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

/* The retention (event_days): the writer thread deletes the stored events
 * before a time, and only those; the loop is not held while it does. */
static void test_purge_before(uv_loop_t *loop)
{
    char db_path[128], err[1024];
    path_in_tmp(db_path, sizeof db_path, "purge.db");
    eventlog_options o = {.database_path = db_path};
    eventlog *log = eventlog_open(loop, &o, err, sizeof err);
    static test_event text[20];
    for (int i = 0; i < 20; i++) {
        event_record r;
        make_record(&r, i, &text[i]); /* times 1780000000 + i */
        eventlog_write(log, &r);
    }
    uint64_t started = uv_hrtime();
    eventlog_purge_before(log, 1780000000 + 12);
    uint64_t took_us = (uv_hrtime() - started) / 1000;
    eventlog_purge_before(NULL, 1);     /* no log: nothing */
    eventlog_close(log);
    sqlite3 *db;
    sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL);
    int left = sql_int(db, "SELECT count(*) FROM events");
    int oldest = sql_int(db, "SELECT min(time) - 1780000000 FROM events");
    sqlite3_close(db);
    TAP_OK(left == 8 && oldest == 12,
           "purge_before: the 12 older events deleted, the 8 from that time on kept (%d, %d)",
           left, oldest);
    TAP_OK(took_us < 100000, "purge_before returns at once (%llu us): the writer purges",
           (unsigned long long)took_us);
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
    test_locked_with_spool(&loop);
    test_reopen(&loop);
    test_stderr_lines(&loop);
    test_purge_before(&loop);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);

    char command[128];
    snprintf(command, sizeof command, "rm -rf '%s'", tmpdir);
    if (system(command) != 0)
        printf("# could not remove %s\n", tmpdir);
    return tap_done();
}
