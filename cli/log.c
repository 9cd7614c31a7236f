/* log.c: "domauth log", the decisions domauthd stored in its SQLite database:
 * a filtered listing (newest first), counts per result and action, and the
 * purge of old rows. Only --purge-before opens the database for writing. */
#include <errno.h>
#include <getopt.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "util/file.h"
#include "util/json.h"
#include "store/eventlog_schema.h"
#include "commands.h"
#include "config/config.h"

#define DEFAULT_CONFIG "/etc/domauth/domauth.conf"
#define DEFAULT_DATABASE "/var/lib/domauth/events.db"

enum {
    DEFAULT_LIMIT = 100,
    MAX_LIST_ITEMS = 16,  /* values in one --result or --action list */
    MAX_BINDS = 2 + 2 * MAX_LIST_ITEMS + 2 + MAX_LIST_ITEMS,
    COLUMN_CAP = 40,      /* wider values are shown whole but not aligned */
    PURGE_CHUNK = 10000,  /* rows per transaction, so domauthd never waits long */
    BUSY_TIMEOUT_MS = 10000,
};

static const char usage_log[] =
    "usage: domauth log [options]\n"
    "\n"
    "Lists the decisions domauthd stored in its event database, newest first.\n"
    "\n"
    "where:\n"
    "  --database PATH       the database (default: the 'database' key of\n"
    "                        " DEFAULT_CONFIG ", else " DEFAULT_DATABASE ")\n"
    "  --config FILE         read the 'database' key from this file instead\n"
    "which events (all must match):\n"
    "  --since TIME          at or after TIME\n"
    "  --until TIME          before TIME\n"
    "  --result R[,R...]     SPF result: pass fail softfail neutral none\n"
    "                        temperror permerror\n"
    "  --ip IP               client address, as domauthd wrote it\n"
    "  --domain D            the checked domain (case does not matter)\n"
    "  --action A[,A...]     what was done, or what monitor mode held back:\n"
    "                        accept tag defer reject\n"
    "  --skip                only messages not checked (authenticated,\n"
    "                        whitelisted, local or trusted clients)\n"
    "  --limit N             at most N events (default 100; 0: all)\n"
    "output:\n"
    "  --json                one JSON object a line, every column\n"
    "  --summary             counts per result and per action over the events\n"
    "                        selected (--limit does not apply)\n"
    "maintenance:\n"
    "  --purge-before TIME   delete the events before TIME and exit\n"
    "  -h, --help            this text\n"
    "\n"
    "TIME is local time as 2026-11-22, 2026-11-22T10:00 or 2026-11-22T10:00:30\n"
    "(a space may replace the T), @SECONDS since the epoch, or an age: 90s, 30m,\n"
    "1h, 7d, 2w. --since 2026-11-22 --until 2026-11-23 is that whole day.\n"
    "\n"
    "The columns are the time, the SPF result (- when skipped), the action with\n"
    "what monitor mode held back in parentheses, the client address, the\n"
    "envelope sender (<> when empty), the checked domain and the matched\n"
    "mechanism or why the check was skipped. See doc/domauth-log.md.\n"
    "\n"
    "Exit status: 0 (also when nothing matches), 64 for a usage error, 65 for a\n"
    "configuration file that does not parse, 66 for a database that is missing\n"
    "or cannot be read, 70 for an internal error.\n";

typedef struct log_options {
    const char *database, *config;
    bool have_since, have_until, have_purge;
    int64_t since, until, purge_before;
    char *results, *actions; /* comma lists, as given */
    const char *ip, *domain;
    bool skipped, json, summary;
    unsigned long limit;
} log_options;

/* A WHERE clause built only from the constant fragments below; every value
 * from the command line is a bound parameter. */
typedef struct where_clause {
    char sql[1024];
    struct {
        const char *text; /* NULL: an integer */
        int64_t number;
    } binds[MAX_BINDS];
    int bind_count;
    char *list_copy[2]; /* the split --result and --action lists */
} where_clause;

/* ------------------------------------------------------------- time */

/* Reads exactly `digits` decimal digits at *p. */
static bool read_digits(const char **p, int digits, int *value)
{
    int v = 0;
    for (int i = 0; i < digits; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += digits;
    *value = v;
    return true;
}

/* "2026-11-22", "2026-11-22T10:00", "2026-11-22 10:00:30", local time. */
static bool parse_date(const char *s, int64_t *out)
{
    struct tm tm = {0};
    int year, month, day, hour = 0, minute = 0, second = 0;
    const char *p = s;
    if (!read_digits(&p, 4, &year) || *p++ != '-' || !read_digits(&p, 2, &month) ||
        *p++ != '-' || !read_digits(&p, 2, &day))
        return false;
    if (*p == 'T' || *p == ' ') {
        p++;
        if (!read_digits(&p, 2, &hour) || *p++ != ':' || !read_digits(&p, 2, &minute))
            return false;
        if (*p == ':' && (p++, !read_digits(&p, 2, &second)))
            return false;
    }
    if (*p != '\0' || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 ||
        minute > 59 || second > 60)
        return false;
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    tm.tm_isdst = -1;
    time_t t = mktime(&tm);
    if (t == (time_t)-1 || tm.tm_mday != day) /* mktime moved 2026-02-30 to March */
        return false;
    *out = (int64_t)t;
    return true;
}

/* "@1700000000", or an age such as "30m" counted back from now. */
static bool parse_time(const char *s, int64_t now, int64_t *out)
{
    char *end;
    if (s[0] == '@') {
        errno = 0;
        long long v = strtoll(s + 1, &end, 10);
        if (errno != 0 || end == s + 1 || *end != '\0')
            return false;
        *out = v;
        return true;
    }
    if (s[0] >= '0' && s[0] <= '9' && strchr("smhdw", s[strlen(s) - 1]) != NULL &&
        strchr(s, '-') == NULL) {
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        static const char units[] = "smhdw";
        static const int64_t seconds[] = {1, 60, 3600, 86400, 604800};
        if (errno != 0 || end[0] == '\0' || end[1] != '\0' || v > 100ull * 365 * 86400)
            return false;
        *out = now - (int64_t)v * seconds[strchr(units, end[0]) - units];
        return true;
    }
    return parse_date(s, out);
}

static void format_time(int64_t t, char *buf, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (localtime_r(&tt, &tm) == NULL || strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        snprintf(buf, size, "@%lld", (long long)t);
}

/* ------------------------------------------------------ where clause */

static void where_add(where_clause *w, const char *fragment)
{
    size_t used = strlen(w->sql);
    snprintf(w->sql + used, sizeof w->sql - used, "%s%s", used ? " AND " : " WHERE ", fragment);
}

static void where_append(where_clause *w, const char *text)
{
    size_t used = strlen(w->sql);
    snprintf(w->sql + used, sizeof w->sql - used, "%s", text);
}

static void bind_text(where_clause *w, const char *text)
{
    w->binds[w->bind_count].text = text;
    w->binds[w->bind_count++].number = 0;
}

static void bind_number(where_clause *w, int64_t number)
{
    w->binds[w->bind_count].text = NULL;
    w->binds[w->bind_count++].number = number;
}

/* Splits a comma list in place into items; returns how many, or -1 when
 * there are too many or one is empty. */
static int split_list(char *list, char **items)
{
    int n = 0;
    char *save = NULL;
    for (char *item = strtok_r(list, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
        if (n == MAX_LIST_ITEMS)
            return -1;
        items[n++] = item;
    }
    return n;
}

/* Appends "column IN (?,?,...)" binding items. */
static void where_in(where_clause *w, const char *column, char **items, int n)
{
    where_append(w, column);
    where_append(w, " IN (");
    for (int i = 0; i < n; i++) {
        where_append(w, i ? ",?" : "?");
        bind_text(w, items[i]);
    }
    where_append(w, ")");
}

static bool known_result(const char *r)
{
    static const char *const results[] = {"pass",    "fail",      "softfail", "neutral",
                                          "none",    "temperror", "permerror"};
    for (size_t i = 0; i < sizeof results / sizeof results[0]; i++)
        if (strcmp(r, results[i]) == 0)
            return true;
    return false;
}

/* Builds the clause from the options. Returns 0, or CLI_EXIT_USAGE after
 * saying what is wrong. */
static int where_build(where_clause *w, const log_options *o)
{
    char *items[MAX_LIST_ITEMS];
    if (o->have_since) {
        where_add(w, "time >= ?");
        bind_number(w, o->since);
    }
    if (o->have_until) {
        where_add(w, "time < ?");
        bind_number(w, o->until);
    }
    if (o->results != NULL) {
        int n = (w->list_copy[0] = strdup(o->results)) ? split_list(w->list_copy[0], items) : -1;
        if (n <= 0) {
            fprintf(stderr, "domauth: --result: give 1 to %d results, separated by commas\n",
                    MAX_LIST_ITEMS);
            return CLI_EXIT_USAGE;
        }
        for (int i = 0; i < n; i++)
            if (!known_result(items[i])) {
                fprintf(stderr, "domauth: --result: '%s' is not an SPF result\n", items[i]);
                return CLI_EXIT_USAGE;
            }
        where_add(w, "");
        where_in(w, "result", items, n);
    }
    if (o->ip != NULL) {
        where_add(w, "client_ip = ?");
        bind_text(w, o->ip);
    }
    if (o->domain != NULL) {
        where_add(w, "domain = ?"); /* the column compares without case */
        bind_text(w, o->domain);
    }
    if (o->actions != NULL) {
        int n = (w->list_copy[1] = strdup(o->actions)) ? split_list(w->list_copy[1], items) : -1;
        if (n <= 0) {
            fprintf(stderr, "domauth: --action: give 1 to %d actions, separated by commas\n",
                    MAX_LIST_ITEMS);
            return CLI_EXIT_USAGE;
        }
        where_add(w, "(");
        where_in(w, "action", items, n);
        where_append(w, " OR ");
        where_in(w, "held_action", items, n);
        where_append(w, ")");
    }
    if (o->skipped)
        where_add(w, "skip_reason IS NOT NULL");
    return 0;
}

static void where_free(where_clause *w)
{
    free(w->list_copy[0]);
    free(w->list_copy[1]);
}

/* Prepares head + where + tail and binds the clause's values. */
static sqlite3_stmt *prepare(sqlite3 *db, const char *head, const where_clause *w,
                             const char *tail)
{
    size_t size = strlen(head) + strlen(w->sql) + strlen(tail) + 1;
    char *sql = malloc(size);
    if (sql == NULL)
        return NULL;
    snprintf(sql, size, "%s%s%s", head, w->sql, tail);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    free(sql);
    if (rc != SQLITE_OK) {
        fprintf(stderr, "domauth: %s\n", sqlite3_errmsg(db));
        return NULL;
    }
    for (int i = 0; i < w->bind_count; i++) {
        if (w->binds[i].text != NULL)
            sqlite3_bind_text(st, i + 1, w->binds[i].text, -1, SQLITE_STATIC);
        else
            sqlite3_bind_int64(st, i + 1, w->binds[i].number);
    }
    return st;
}

/* ---------------------------------------------------------- display */

/* A copy of s fit for a terminal: control characters and bytes that are not
 * UTF-8 become '?', so a hostile HELO cannot send escape sequences. *width
 * is its length in characters. */
static char *display_copy(const char *s, size_t *width)
{
    size_t len = strlen(s);
    char *out = malloc(len + 1), *o = out;
    *width = 0;
    if (out == NULL)
        return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t n = json_utf8_len(p);
        bool control = n == 1 ? (*p < 0x20 || *p == 0x7F) : n == 2 && p[0] == 0xC2 && p[1] < 0xA0;
        if (n == 0 || control) {
            *o++ = '?';
            p += n ? n : 1;
        } else {
            memcpy(o, p, n);
            o += n;
            p += n;
        }
        (*width)++;
    }
    *o = '\0';
    return out;
}

enum { COL_TIME, COL_RESULT, COL_ACTION, COL_CLIENT, COL_SENDER, COL_DOMAIN, COL_WHY, COLS };

typedef struct table_row {
    char *cell[COLS];
    size_t width[COLS];
} table_row;

static const char *column_text(sqlite3_stmt *st, int column)
{
    return (const char *)sqlite3_column_text(st, column);
}

/* The cells of one row of the listing; the statement selects id first,
 * then EVENTLOG_COLUMNS, so column c of the table is c + 1. */
static bool row_fill(table_row *row, sqlite3_stmt *st)
{
    const char *v[COLS];
    const char *result = column_text(st, 1 + EVC_RESULT);
    const char *action = column_text(st, 1 + EVC_ACTION);
    const char *held = column_text(st, 1 + EVC_HELD_ACTION);
    const char *sender = column_text(st, 1 + EVC_MAIL_FROM);
    const char *skip = column_text(st, 1 + EVC_SKIP_REASON);
    const char *mechanism = column_text(st, 1 + EVC_MECHANISM);
    const char *problem = column_text(st, 1 + EVC_PROBLEM);
    char when[64], action_cell[128], why[600];
    format_time(sqlite3_column_int64(st, 1 + EVC_TIME), when, sizeof when);
    snprintf(action_cell, sizeof action_cell, "%.40s%s%.40s%s", action ? action : "-",
             held ? "(" : "", held ? held : "", held ? ")" : "");
    if (skip != NULL)
        snprintf(why, sizeof why, "skipped: %.500s", skip);
    else
        snprintf(why, sizeof why, "%.500s", mechanism ? mechanism : problem ? problem : "-");
    v[COL_TIME] = when;
    v[COL_RESULT] = result ? result : "-";
    v[COL_ACTION] = action_cell;
    v[COL_CLIENT] = column_text(st, 1 + EVC_CLIENT_IP);
    v[COL_SENDER] = sender == NULL ? "-" : *sender ? sender : "<>";
    v[COL_DOMAIN] = column_text(st, 1 + EVC_DOMAIN);
    v[COL_WHY] = why;
    for (int c = 0; c < COLS; c++)
        if ((row->cell[c] = display_copy(v[c] ? v[c] : "-", &row->width[c])) == NULL)
            return false;
    return true;
}

static void print_table(table_row *rows, size_t n)
{
    static const char *const titles[COLS] = {"TIME",   "RESULT", "ACTION(HELD)", "CLIENT",
                                             "SENDER", "DOMAIN", "MECHANISM"};
    size_t width[COLS];
    for (int c = 0; c < COLS; c++) {
        width[c] = strlen(titles[c]);
        for (size_t r = 0; r < n; r++)
            if (rows[r].width[c] > width[c] && rows[r].width[c] <= COLUMN_CAP)
                width[c] = rows[r].width[c];
    }
    for (int c = 0; c < COLS - 1; c++)
        printf("%-*s  ", (int)width[c], titles[c]);
    printf("%s\n", titles[COLS - 1]);
    for (size_t r = 0; r < n; r++) {
        for (int c = 0; c < COLS - 1; c++) {
            size_t pad = rows[r].width[c] < width[c] ? width[c] - rows[r].width[c] : 0;
            printf("%s%*s  ", rows[r].cell[c], (int)pad, "");
        }
        printf("%s\n", rows[r].cell[COLS - 1]);
    }
}

static void put_stdout(void *ctx, const char *bytes, size_t len)
{
    fwrite(bytes, 1, len, ctx);
}

/* One event as a JSON object with the keys of the daemon's JSON lines. */
static void print_json_row(sqlite3_stmt *st)
{
    printf("{\"id\":%lld", (long long)sqlite3_column_int64(st, 0));
    for (int c = 0; c < EVC_COUNT; c++) {
        char number[32];
        printf(",\"%s\":", eventlog_column_name(c));
        switch (sqlite3_column_type(st, c + 1)) {
        case SQLITE_NULL: fputs("null", stdout); break;
        case SQLITE_INTEGER: printf("%lld", (long long)sqlite3_column_int64(st, c + 1)); break;
        case SQLITE_FLOAT:
            json_format_number(sqlite3_column_double(st, c + 1), number);
            fputs(number, stdout);
            break;
        default: json_write_string(column_text(st, c + 1), put_stdout, stdout); break;
        }
    }
    fputs("}\n", stdout);
}

/* ----------------------------------------------------------- actions */

static int sql_failed(sqlite3 *db)
{
    fprintf(stderr, "domauth: %s\n", sqlite3_errmsg(db));
    return CLI_EXIT_SOFTWARE;
}

static void free_rows(table_row *rows, size_t n)
{
    for (size_t r = 0; r < n; r++)
        for (int c = 0; c < COLS; c++)
            free(rows[r].cell[c]);
    free(rows);
}

static int list_events(sqlite3 *db, const where_clause *w, const log_options *o)
{
    /* One row more than the limit tells whether there were more. */
    sqlite3_stmt *st = prepare(db, "SELECT id, " EVENTLOG_COLUMNS " FROM events", w,
                               " ORDER BY time DESC, id DESC LIMIT ?");
    if (st == NULL)
        return CLI_EXIT_SOFTWARE;
    sqlite3_bind_int64(st, w->bind_count + 1, o->limit ? (int64_t)o->limit + 1 : -1);
    table_row *rows = NULL;
    size_t n = 0, cap = 0, shown = 0; /* rows kept for the table; rows seen */
    bool more = false;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (o->limit && shown == o->limit) {
            more = true;
            break;
        }
        shown++;
        if (o->json) {
            print_json_row(st);
            continue;
        }
        if (n == cap) {
            size_t bigger = cap ? cap * 2 : 64;
            table_row *grown = realloc(rows, bigger * sizeof *rows);
            if (grown == NULL)
                break;
            rows = grown;
            cap = bigger;
        }
        memset(&rows[n], 0, sizeof rows[n]);
        if (!row_fill(&rows[n++], st))
            break;
    }
    int status = 0;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        status = sql_failed(db);
    else if (rc == SQLITE_ROW && !more) {
        fprintf(stderr, "domauth: out of memory\n");
        status = CLI_EXIT_SOFTWARE;
    }
    sqlite3_finalize(st);
    if (status == 0 && !o->json) {
        if (n == 0)
            printf("no events match\n");
        else
            print_table(rows, n);
        if (more)
            fprintf(stderr, "(the newest %lu events; --limit 0 shows all)\n", o->limit);
    }
    free_rows(rows, n);
    return status;
}

/* Prints "label count" lines (or JSON members) of a two-column query. */
static int print_counts(sqlite3 *db, const char *head, const where_clause *w, const char *tail,
                        bool json, const char *key, const char *title)
{
    sqlite3_stmt *st = prepare(db, head, w, tail);
    if (st == NULL)
        return CLI_EXIT_SOFTWARE;
    if (json)
        printf(",\"%s\":{", key);
    else
        printf("\n%-28s %10s\n", title, "events");
    int rc, i = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *label = column_text(st, 0);
        long long count = sqlite3_column_int64(st, 1);
        if (json) {
            printf("%s", i ? "," : "");
            json_write_string(label ? label : "-", put_stdout, stdout);
            printf(":%lld", count);
        } else {
            size_t width;
            char *shown = display_copy(label ? label : "-", &width);
            printf("%s%*s %10lld\n", shown ? shown : "?", width < 28 ? (int)(28 - width) : 0, "",
                   count);
            free(shown);
        }
        i++;
    }
    if (json)
        printf("}");
    else if (i == 0)
        printf("(none)\n");
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : sql_failed(db);
}

static int summarize(sqlite3 *db, const where_clause *w, const log_options *o)
{
    sqlite3_stmt *st = prepare(db, "SELECT count(*), min(time), max(time) FROM events", w, "");
    if (st == NULL)
        return CLI_EXIT_SOFTWARE;
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return sql_failed(db);
    }
    long long total = sqlite3_column_int64(st, 0);
    char first[64] = "-", last[64] = "-";
    if (total > 0) {
        format_time(sqlite3_column_int64(st, 1), first, sizeof first);
        format_time(sqlite3_column_int64(st, 2), last, sizeof last);
    }
    if (o->json) {
        printf("{\"events\":%lld", total);
        if (total > 0)
            printf(",\"first\":%lld,\"last\":%lld", (long long)sqlite3_column_int64(st, 1),
                   (long long)sqlite3_column_int64(st, 2));
    } else {
        printf("%lld event%s", total, total == 1 ? "" : "s");
        if (total > 0)
            printf(", from %s to %s", first, last);
        printf("\n");
    }
    sqlite3_finalize(st);
    int status = print_counts(db, "SELECT coalesce(result, 'skipped: ' || skip_reason, '-'), "
                                  "count(*) FROM events", w, " GROUP BY 1 ORDER BY 2 DESC, 1",
                              o->json, "results", "result");
    if (status == 0)
        status = print_counts(db, "SELECT action, count(*) FROM events", w,
                              " GROUP BY 1 ORDER BY 2 DESC, 1", o->json, "actions", "action");
    if (status == 0)
        status = print_counts(db, "SELECT held_action, count(*) FROM events", w,
                              w->sql[0] ? " AND held_action IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1"
                                        : " WHERE held_action IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1",
                              o->json, "held", "held back (monitor mode)");
    if (o->json)
        printf("}\n");
    return status;
}

/* Deletes in chunks, each its own transaction, so that domauthd's inserts
 * wait at most one chunk. */
static int purge(sqlite3 *db, int64_t before)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db,
                           "DELETE FROM events WHERE id IN "
                           "(SELECT id FROM events WHERE time < ?1 LIMIT ?2)",
                           -1, &st, NULL) != SQLITE_OK)
        return sql_failed(db);
    sqlite3_bind_int64(st, 1, before);
    sqlite3_bind_int(st, 2, PURGE_CHUNK);
    long long total = 0;
    int rc;
    for (;;) {
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE || sqlite3_changes(db) == 0)
            break;
        total += sqlite3_changes(db);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        fprintf(stderr, "domauth: purge stopped after %lld events: %s\n", total,
                sqlite3_errmsg(db));
        return CLI_EXIT_SOFTWARE;
    }
    char when[64];
    format_time(before, when, sizeof when);
    printf("%lld events before %s deleted\n", total, when);
    return 0;
}

/* --------------------------------------------------- database access */

/* The database path: --database, else the configuration's 'database' key,
 * else the default. Sets *path (to free) or returns an exit status. */
static int database_path(const log_options *o, char **path)
{
    if (o->database != NULL)
        return (*path = strdup(o->database)) ? 0 : CLI_EXIT_SOFTWARE;
    const char *file = o->config ? o->config : DEFAULT_CONFIG;
    size_t len = 0;
    char why[300];
    char *text = util_read_file(file, 16u << 20, &len, why, sizeof why);
    if (text == NULL) {
        if (o->config != NULL || errno != ENOENT) {
            fprintf(stderr, "domauth: %s\n", why);
            if (o->config != NULL)
                return CLI_EXIT_NOINPUT;
        }
        return (*path = strdup(DEFAULT_DATABASE)) ? 0 : CLI_EXIT_SOFTWARE;
    }
    domauth_config cfg;
    char err[512] = "";
    int status = 0;
    if (config_init(&cfg) != 0) {
        free(text);
        return CLI_EXIT_SOFTWARE;
    }
    if (config_parse(&cfg, file, text, len, err, sizeof err) != 0) {
        fprintf(stderr, "domauth: %s\n", err);
        free(text);
        return CLI_EXIT_DATAERR;
    }
    free(text);
    if (cfg.database == NULL || cfg.database[0] == '\0') {
        fprintf(stderr, "domauth: %s sets no database (database = ); give --database\n", file);
        status = CLI_EXIT_NOINPUT;
    } else if ((*path = strdup(cfg.database)) == NULL) {
        status = CLI_EXIT_SOFTWARE;
    }
    config_free(&cfg);
    return status;
}

/* Opens the database (read-only unless writing) and checks that it holds
 * an events table. Returns 0 or an exit status. */
static int open_database(const char *path, bool writing, sqlite3 **db)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "domauth: no event database at %s: %s\n", path, strerror(errno));
        return CLI_EXIT_NOINPUT;
    }
    int flags = writing ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY;
    if (sqlite3_open_v2(path, db, flags, NULL) != SQLITE_OK) {
        fprintf(stderr, "domauth: cannot open %s: %s\n", path,
                *db ? sqlite3_errmsg(*db) : "out of memory");
        return CLI_EXIT_NOINPUT;
    }
    sqlite3_busy_timeout(*db, BUSY_TIMEOUT_MS);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(*db, "PRAGMA user_version", -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    int version = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    sqlite3_finalize(st);
    if (version < 1) {
        fprintf(stderr, "domauth: %s is not a domauth event database%s%s\n", path,
                rc == SQLITE_ROW ? "" : ": ", rc == SQLITE_ROW ? "" : sqlite3_errmsg(*db));
        return CLI_EXIT_NOINPUT;
    }
    if (version > EVENTLOG_SCHEMA_VERSION)
        fprintf(stderr, "domauth: warning: %s has schema version %d, newer than this "
                        "domauth's (%d)\n", path, version, EVENTLOG_SCHEMA_VERSION);
    return 0;
}

/* ---------------------------------------------------------- options */

static int parse_options(int argc, char **argv, log_options *o)
{
    enum { O_DATABASE = 256, O_CONFIG, O_SINCE, O_UNTIL, O_RESULT, O_IP, O_DOMAIN, O_ACTION,
           O_SKIP, O_LIMIT, O_JSON, O_SUMMARY, O_PURGE };
    static const struct option options[] = {
        {"database", required_argument, NULL, O_DATABASE},
        {"config", required_argument, NULL, O_CONFIG},
        {"since", required_argument, NULL, O_SINCE},
        {"until", required_argument, NULL, O_UNTIL},
        {"result", required_argument, NULL, O_RESULT},
        {"ip", required_argument, NULL, O_IP},
        {"domain", required_argument, NULL, O_DOMAIN},
        {"action", required_argument, NULL, O_ACTION},
        {"skip", no_argument, NULL, O_SKIP},
        {"limit", required_argument, NULL, O_LIMIT},
        {"json", no_argument, NULL, O_JSON},
        {"summary", no_argument, NULL, O_SUMMARY},
        {"purge-before", required_argument, NULL, O_PURGE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int64_t now = (int64_t)time(NULL);
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case O_DATABASE: o->database = optarg; break;
        case O_CONFIG: o->config = optarg; break;
        case O_RESULT: o->results = optarg; break;
        case O_IP: o->ip = optarg; break;
        case O_DOMAIN: o->domain = optarg; break;
        case O_ACTION: o->actions = optarg; break;
        case O_SKIP: o->skipped = true; break;
        case O_JSON: o->json = true; break;
        case O_SUMMARY: o->summary = true; break;
        case O_SINCE:
        case O_UNTIL:
        case O_PURGE: {
            int64_t *t = c == O_SINCE ? &o->since : c == O_UNTIL ? &o->until : &o->purge_before;
            if (!parse_time(optarg, now, t)) {
                fprintf(stderr, "domauth: --%s: '%s' is not a time (2026-11-22, "
                                "2026-11-22T10:00, @SECONDS, or an age like 30m, 1h, 7d)\n",
                        options[c - O_DATABASE].name, optarg);
                return CLI_EXIT_USAGE;
            }
            *(c == O_SINCE ? &o->have_since : c == O_UNTIL ? &o->have_until : &o->have_purge) =
                true;
            break;
        }
        case O_LIMIT: {
            char *end;
            errno = 0;
            o->limit = strtoul(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0' || optarg[0] == '-' ||
                o->limit > 100000000ul) {
                fprintf(stderr, "domauth: --limit: '%s' is not a number (0 for all)\n", optarg);
                return CLI_EXIT_USAGE;
            }
            break;
        }
        case 'h': fputs(usage_log, stdout); return -1;
        default: fputs(usage_log, stderr); return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "domauth: unexpected argument '%s'\n", argv[optind]);
        return CLI_EXIT_USAGE;
    }
    if (o->have_purge && (o->have_since || o->have_until || o->results || o->ip || o->domain ||
                          o->actions || o->skipped || o->json || o->summary)) {
        fprintf(stderr, "domauth: --purge-before takes no other options than --database "
                        "and --config\n");
        return CLI_EXIT_USAGE;
    }
    return 0;
}

int cmd_log(int argc, char **argv)
{
    log_options o = {.limit = DEFAULT_LIMIT};
    int status = parse_options(argc, argv, &o);
    if (status != 0)
        return status < 0 ? 0 : status;
    where_clause w = {0};
    if ((status = where_build(&w, &o)) != 0) {
        where_free(&w);
        return status;
    }
    char *path = NULL;
    sqlite3 *db = NULL;
    if ((status = database_path(&o, &path)) == 0 &&
        (status = open_database(path, o.have_purge, &db)) == 0) {
        if (o.have_purge)
            status = purge(db, o.purge_before);
        else if (o.summary)
            status = summarize(db, &w, &o);
        else
            status = list_events(db, &w, &o);
    }
    if (fflush(stdout) != 0 && status == 0) {
        fprintf(stderr, "domauth: cannot write the output: %s\n", strerror(errno));
        status = CLI_EXIT_SOFTWARE;
    }
    sqlite3_close(db);
    free(path);
    where_free(&w);
    return status;
}
