/* log.c: "domauth log", the decisions domauthd stored in its event store: a
 * filtered listing (newest first), counts per result and action, and the
 * purge of old events. It reads through the store's interface
 * (store/event_store.h) and writes no SQL; only --purge-before opens the
 * store for writing. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "commands.h"
#include "config/config.h"
#include "store/event_store.h"
#include "store/eventlog.h"
#include "util/file.h"
#include "util/json.h"
#include "util/node.h"

#define DEFAULT_CONFIG CLI_DEFAULT_CONFIG
#define DEFAULT_DATABASE CLI_DEFAULT_DATABASE

enum {
    DEFAULT_LIMIT = 100,
    MAX_LIST_ITEMS = 16,  /* values in one --result or --action list */
    MAX_METHOD = 32,      /* bytes of a --method name */
    COLUMN_CAP = 40,      /* wider values are shown whole but not aligned */
};

static const char usage_log[] =
    "usage: domauth log [options]\n"
    "\n"
    "Lists the decisions domauthd stored in its event database, newest first:\n"
    "one event per message, with every authentication result and recipient.\n"
    "\n"
    "where:\n"
    "  --database PATH       the database (default: the 'database' key of\n"
    "                        " DEFAULT_CONFIG ", else " DEFAULT_DATABASE ")\n"
    "  --config FILE         read the 'database' key from this file instead\n"
    "which events (all must match):\n"
    "  --since TIME          at or after TIME\n"
    "  --until TIME          before TIME\n"
    "  --method M            with a result of method M (spf, dkim, ...); then\n"
    "                        --result and --domain apply to that result\n"
    "  --result R[,R...]     SPF result: pass fail softfail neutral none\n"
    "                        temperror permerror; with --method, that method's\n"
    "                        result (also policy)\n"
    "  --ip IP|NET           client address, as domauthd wrote it, or a\n"
    "                        network: 192.0.2.0/24, 2001:db8::/32\n"
    "  --domain D            the checked domain (case does not matter); with\n"
    "                        --method, the domain of that result (DKIM's d=)\n"
    "  --action A[,A...]     what was done, or what monitor mode held back:\n"
    "                        accept tag quarantine defer reject; and the spam\n"
    "                        log's release delete purge (domauth quarantine)\n"
    "  --skip                only messages not checked (authenticated,\n"
    "                        whitelisted, local or trusted clients)\n"
    "  --node N              only the events node N decided ([daemon] node)\n"
    "  --limit N             at most N events (default 100; 0: all)\n"
    "output:\n"
    "  --json                one JSON object a line: every column, the results\n"
    "                        and the recipients\n"
    "  --summary             counts per result, per action and per method and\n"
    "                        result over the events selected (--limit does not\n"
    "                        apply)\n"
    "maintenance:\n"
    "  --purge-before TIME   delete the events before TIME and exit; one node of\n"
    "                        a cluster at a time (the daily purge's lease, taken\n"
    "                        as [daemon] node): exit 75 when another holds it\n"
    "  -h, --help            this text\n"
    "\n"
    "TIME is local time as 2026-11-22, 2026-11-22T10:00 or 2026-11-22T10:00:30\n"
    "(a space may replace the T), @SECONDS since the epoch, or an age: 90s, 30m,\n"
    "1h, 7d, 2w. --since 2026-11-22 --until 2026-11-23 is that whole day.\n"
    "\n"
    "The columns are the time, the node (only when the events listed come from\n"
    "more than one), the SPF result (- when skipped), the action with\n"
    "what monitor mode held back in parentheses, the client address, the\n"
    "envelope sender (<> when empty), the checked domain and the matched\n"
    "mechanism or why the check was skipped. With --method M, the result,\n"
    "domain and detail (DKIM's selector) are those of M's result. See\n"
    "doc/domauth-log.md.\n"
    "\n"
    "Exit status: 0 (also when nothing matches), 64 for a usage error, 65 for a\n"
    "configuration file that does not parse, 66 for a database that is missing\n"
    "or cannot be read, 70 for an internal error, 75 when --purge-before finds\n"
    "another node holding the cluster's purge lease.\n";

typedef struct log_options {
    const char *database, *config;
    bool have_since, have_until, have_purge;
    int64_t since, until, purge_before;
    char *results, *actions; /* comma lists, as given */
    const char *ip, *domain, *method, *node;
    bool skipped, json, summary;
    unsigned long limit;
} log_options;

/* The store's query made from the options, and the split lists it points
 * into. */
typedef struct log_query {
    event_query q;
    char *copies[2];
    const char *results[MAX_LIST_ITEMS], *actions[MAX_LIST_ITEMS];
} log_query;

/* ------------------------------------------------------------ query */

/* Splits a comma list in place into items; returns how many, or -1 when
 * there are too many or one is empty. */
static int split_list(char *list, const char **items)
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

static bool in_list(const char *word, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(word, list[i]) == 0)
            return true;
    return false;
}

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

/* SPF's results, and those of any method (RFC 8601 section 2.7). */
static const char *const spf_results[] = {"pass", "fail",      "softfail", "neutral",
                                          "none", "temperror", "permerror"};
static const char *const any_results[] = {"pass",      "fail",      "softfail", "neutral", "none",
                                          "temperror", "permerror", "policy"};

/* A method name as RFC 8601 spells them: letters, digits, '-', '_', '.'. */
static bool method_name(const char *m)
{
    size_t n = strlen(m);
    if (n == 0 || n > MAX_METHOD)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)m[i]) && m[i] != '-' && m[i] != '_' && m[i] != '.')
            return false;
    return true;
}

/* Builds the query from the options. Returns 0, or CLI_EXIT_USAGE after
 * saying what is wrong. */
static int query_build(log_query *lq, const log_options *o)
{
    event_query *q = &lq->q;
    q->have_since = o->have_since;
    q->since = o->since;
    q->have_until = o->have_until;
    q->until = o->until;
    if (o->ip != NULL && strchr(o->ip, '/') != NULL) {
        if (!event_query_network_valid(o->ip)) {
            fprintf(stderr, "domauth: --ip: '%s' is not ADDRESS/PREFIX (192.0.2.0/24, "
                            "2001:db8::/32)\n",
                    o->ip);
            return CLI_EXIT_USAGE;
        }
        q->client_net = o->ip;
    } else {
        q->client_ip = o->ip;
    }
    q->domain = o->domain;
    q->skipped = o->skipped;
    q->node = o->node;
    q->limit = o->limit;
    if (o->method != NULL) {
        if (!method_name(o->method)) {
            fprintf(stderr, "domauth: --method: '%s' is not a method name (spf, dkim, ...)\n",
                    o->method);
            return CLI_EXIT_USAGE;
        }
        q->method = o->method;
    }
    if (o->results != NULL) {
        int n = (lq->copies[0] = strdup(o->results)) ? split_list(lq->copies[0], lq->results)
                                                     : -1;
        if (n <= 0) {
            fprintf(stderr, "domauth: --result: give 1 to %d results, separated by commas\n",
                    MAX_LIST_ITEMS);
            return CLI_EXIT_USAGE;
        }
        for (int i = 0; i < n; i++) {
            if (o->method == NULL && !in_list(lq->results[i], spf_results, COUNT_OF(spf_results))) {
                fprintf(stderr, "domauth: --result: '%s' is not an SPF result\n",
                        lq->results[i]);
                return CLI_EXIT_USAGE;
            }
            if (o->method != NULL && !in_list(lq->results[i], any_results, COUNT_OF(any_results))) {
                fprintf(stderr, "domauth: --result: '%s' is not a result (pass fail softfail "
                                "neutral none temperror permerror policy)\n",
                        lq->results[i]);
                return CLI_EXIT_USAGE;
            }
        }
        q->results = lq->results;
        q->result_count = (size_t)n;
    }
    if (o->actions != NULL) {
        int n = (lq->copies[1] = strdup(o->actions)) ? split_list(lq->copies[1], lq->actions)
                                                     : -1;
        if (n <= 0) {
            fprintf(stderr, "domauth: --action: give 1 to %d actions, separated by commas\n",
                    MAX_LIST_ITEMS);
            return CLI_EXIT_USAGE;
        }
        q->actions = lq->actions;
        q->action_count = (size_t)n;
    }
    return 0;
}

static void query_free(log_query *lq)
{
    free(lq->copies[0]);
    free(lq->copies[1]);
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

enum { COL_TIME, COL_NODE, COL_RESULT, COL_ACTION, COL_CLIENT, COL_SENDER, COL_DOMAIN, COL_WHY,
       COLS };

typedef struct table_row {
    char *cell[COLS];
    size_t width[COLS];
} table_row;


/* The entry of the results vector the table shows with --method: the
 * first of that method whose result the query asked for, else the first of
 * that method. */
static const event_result *shown_result(const event_record *r, const event_query *q)
{
    const event_result *first = NULL;
    for (size_t i = 0; i < r->result_count; i++) {
        const event_result *x = &r->results[i];
        if (x->method == NULL || strcasecmp(x->method, q->method) != 0)
            continue;
        if (first == NULL)
            first = x;
        if (q->result_count == 0 ||
            (x->result != NULL && in_list(x->result, q->results, q->result_count)))
            return x;
    }
    return first;
}

/* The cells of one row of the listing. */
static bool row_fill(table_row *row, const event_record *r, const event_query *q)
{
    const char *v[COLS];
    const char *result = r->result, *domain = r->domain, *why_text;
    char when[64], action_cell[128], why[600];
    cli_format_time(r->time, when, sizeof when);
    snprintf(action_cell, sizeof action_cell, "%.40s%s%.40s%s", r->action ? r->action : "-",
             r->held_action ? "(" : "", r->held_action ? r->held_action : "",
             r->held_action ? ")" : "");
    why_text = r->mechanism ? r->mechanism : r->problem;
    if (q->method != NULL) {
        const event_result *x = shown_result(r, q);
        result = x ? x->result : NULL;
        domain = x ? x->domain : NULL;
        why_text = x ? (x->detail ? x->detail : x->reason) : NULL;
    }
    if (r->skip_reason != NULL && q->method == NULL)
        snprintf(why, sizeof why, "skipped: %.500s", r->skip_reason);
    else
        snprintf(why, sizeof why, "%.500s", why_text ? why_text : "-");
    v[COL_TIME] = when;
    v[COL_NODE] = r->node;
    v[COL_RESULT] = result ? result : "-";
    v[COL_ACTION] = action_cell;
    v[COL_CLIENT] = r->client_ip;
    v[COL_SENDER] = r->mail_from == NULL ? "-" : *r->mail_from ? r->mail_from : "<>";
    v[COL_DOMAIN] = domain;
    v[COL_WHY] = why;
    for (int c = 0; c < COLS; c++)
        if ((row->cell[c] = display_copy(v[c] ? v[c] : "-", &row->width[c])) == NULL)
            return false;
    return true;
}

/* Whether the rows come from more than one node (an event without one
 * counts as node "-"): then the table has a NODE column. */
static bool many_nodes(const table_row *rows, size_t n)
{
    for (size_t r = 1; r < n; r++)
        if (strcmp(rows[r].cell[COL_NODE], rows[0].cell[COL_NODE]) != 0)
            return true;
    return false;
}

/* With a method, its name (upper case) heads the result column and the
 * last one is its detail. */
static void print_table(table_row *rows, size_t n, const char *method)
{
    const char *titles[COLS] = {"TIME",   "NODE",   "RESULT", "ACTION(HELD)", "CLIENT",
                                "SENDER", "DOMAIN", "MECHANISM"};
    bool shown[COLS];
    for (int c = 0; c < COLS; c++)
        shown[c] = c != COL_NODE || many_nodes(rows, n);
    char method_title[MAX_METHOD + 1];
    if (method != NULL) {
        size_t i = 0;
        for (; method[i] && i < MAX_METHOD; i++)
            method_title[i] = (char)toupper((unsigned char)method[i]);
        method_title[i] = '\0';
        titles[COL_RESULT] = method_title;
        titles[COL_WHY] = "DETAIL";
    }
    size_t width[COLS];
    for (int c = 0; c < COLS; c++) {
        width[c] = strlen(titles[c]);
        for (size_t r = 0; r < n; r++)
            if (rows[r].width[c] > width[c] && rows[r].width[c] <= COLUMN_CAP)
                width[c] = rows[r].width[c];
    }
    for (int c = 0; c < COLS - 1; c++)
        if (shown[c])
            printf("%-*s  ", (int)width[c], titles[c]);
    printf("%s\n", titles[COLS - 1]);
    for (size_t r = 0; r < n; r++) {
        for (int c = 0; c < COLS - 1; c++) {
            if (!shown[c])
                continue;
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

/* ----------------------------------------------------------- actions */

static int store_failed(const char *why)
{
    fprintf(stderr, "domauth: %s\n", why[0] ? why : "the event store failed");
    return CLI_EXIT_SOFTWARE;
}

static void free_rows(table_row *rows, size_t n)
{
    for (size_t r = 0; r < n; r++)
        for (int c = 0; c < COLS; c++)
            free(rows[r].cell[c]);
    free(rows);
}

/* What the listing collects as the store hands it events. */
typedef struct listing {
    const log_options *o;
    const event_query *q;
    table_row *rows;
    size_t n, cap, shown; /* rows kept for the table; rows seen */
    bool more, out_of_memory;
} listing;

static int list_row(void *ctx, int64_t id, const event_record *r)
{
    listing *l = ctx;
    if (l->o->limit && l->shown == l->o->limit) {
        l->more = true;
        return 1;
    }
    l->shown++;
    if (l->o->json) {
        /* The keys of the daemon's JSON lines, and the id. */
        event_json_write(r, id, put_stdout, stdout);
        fputc('\n', stdout);
        return 0;
    }
    if (l->n == l->cap) {
        size_t bigger = l->cap ? l->cap * 2 : 64;
        table_row *grown = realloc(l->rows, bigger * sizeof *grown);
        if (grown == NULL) {
            l->out_of_memory = true;
            return 1;
        }
        l->rows = grown;
        l->cap = bigger;
    }
    memset(&l->rows[l->n], 0, sizeof l->rows[l->n]);
    if (!row_fill(&l->rows[l->n++], r, l->q)) {
        l->out_of_memory = true;
        return 1;
    }
    return 0;
}

static int list_events(event_store *store, const event_query *q, const log_options *o)
{
    /* One event more than the limit tells whether there were more. */
    event_query plus = *q;
    plus.limit = o->limit ? (uint64_t)o->limit + 1 : 0;
    listing l = {.o = o, .q = q};
    char why[512] = "";
    int status = 0;
    if (event_store_query(store, &plus, list_row, &l, why, sizeof why) != 0) {
        status = store_failed(why);
    } else if (l.out_of_memory) {
        fprintf(stderr, "domauth: out of memory\n");
        status = CLI_EXIT_SOFTWARE;
    }
    if (status == 0 && !o->json) {
        if (l.n == 0)
            printf("no events match\n");
        else
            print_table(l.rows, l.n, q->method);
        if (l.more)
            fprintf(stderr, "(the newest %lu events; --limit 0 shows all)\n", o->limit);
    }
    free_rows(l.rows, l.n);
    return status;
}

/* Prints "label count" lines (or JSON members) of one list of counts. */
static void print_counts(const event_counts *counts, bool json, const char *key,
                         const char *title)
{
    if (json)
        printf(",\"%s\":{", key);
    else
        printf("\n%-28s %10s\n", title, "events");
    for (size_t i = 0; i < counts->count; i++) {
        const char *label = counts->items[i].label;
        unsigned long long count = (unsigned long long)counts->items[i].count;
        if (json) {
            printf("%s", i ? "," : "");
            json_write_string(label, put_stdout, stdout);
            printf(":%llu", count);
        } else {
            size_t width;
            char *shown = display_copy(label, &width);
            printf("%s%*s %10llu\n", shown ? shown : "?", width < 28 ? (int)(28 - width) : 0,
                   "", count);
            free(shown);
        }
    }
    if (json)
        printf("}");
    else if (counts->count == 0)
        printf("(none)\n");
}

static int summarize(event_store *store, const event_query *q, const log_options *o)
{
    event_summary sum;
    char why[512] = "";
    if (event_store_summary(store, q, &sum, why, sizeof why) != 0)
        return store_failed(why);
    unsigned long long total = (unsigned long long)sum.events;
    if (o->json) {
        printf("{\"events\":%llu", total);
        if (total > 0)
            printf(",\"first\":%lld,\"last\":%lld", (long long)sum.first, (long long)sum.last);
    } else {
        char first[64], last[64];
        printf("%llu event%s", total, total == 1 ? "" : "s");
        if (total > 0) {
            cli_format_time(sum.first, first, sizeof first);
            cli_format_time(sum.last, last, sizeof last);
            printf(", from %s to %s", first, last);
        }
        printf("\n");
    }
    print_counts(&sum.results, o->json, "results", "result");
    print_counts(&sum.actions, o->json, "actions", "action");
    print_counts(&sum.held, o->json, "held", "held back (monitor mode)");
    print_counts(&sum.methods, o->json, "methods", "method=result");
    if (o->json)
        printf("}\n");
    event_summary_free(&sum);
    return 0;
}

/* The purge takes the cluster's "purge" lease first, as domauthd's daily
 * purge does (store/eventlog.c), under the same holder name, this node's:
 * two nodes never purge the shared store at once, and a node's own daemon
 * does not stand in its way. */
static int purge(event_store *store, int64_t before, const char *configured_node)
{
    uint64_t deleted = 0;
    char why[512] = "", host[UTIL_HOST_NAME_MAX];
    const char *node = util_node_name(configured_node, host);
    bool mine = false;
    if (event_store_lease(store, EVENTLOG_PURGE_JOB, node, (int64_t)time(NULL),
                          EVENTLOG_PURGE_LEASE, &mine, why, sizeof why) != 0) {
        fprintf(stderr, "domauth: the cluster's purge lease: %s; nothing deleted\n", why);
        return CLI_EXIT_SOFTWARE;
    }
    if (!mine) {
        char holder[256] = "", until[64] = "?";
        int64_t end = 0;
        if (event_store_lease_holder(store, EVENTLOG_PURGE_JOB, holder, sizeof holder, &end,
                                     why, sizeof why) == 0 && end > 0)
            cli_format_time(end, until, sizeof until);
        fprintf(stderr, "domauth: node %s%s%s holds the cluster's purge lease until %s: it runs "
                        "the purge; nothing deleted here (this is node %s)\n",
                holder[0] ? "'" : "", holder[0] ? holder : "(unknown)", holder[0] ? "'" : "",
                until, node);
        return CLI_EXIT_TEMPFAIL;
    }
    if (event_store_purge(store, before, &deleted, why, sizeof why) != 0) {
        fprintf(stderr, "domauth: purge stopped after %llu events: %s\n",
                (unsigned long long)deleted, why);
        return CLI_EXIT_SOFTWARE;
    }
    char when[64];
    cli_format_time(before, when, sizeof when);
    printf("%llu events before %s deleted\n", (unsigned long long)deleted, when);
    return 0;
}

/* --------------------------------------------------- database access */

/* ---------------------------------------------------------- options */

static int parse_options(int argc, char **argv, log_options *o)
{
    enum { O_DATABASE = 256, O_CONFIG, O_SINCE, O_UNTIL, O_RESULT, O_IP, O_DOMAIN, O_ACTION,
           O_SKIP, O_LIMIT, O_JSON, O_SUMMARY, O_PURGE, O_METHOD, O_NODE };
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
        {"method", required_argument, NULL, O_METHOD},
        {"node", required_argument, NULL, O_NODE},
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
        case O_METHOD: o->method = optarg; break;
        case O_ACTION: o->actions = optarg; break;
        case O_SKIP: o->skipped = true; break;
        case O_NODE: o->node = optarg; break;
        case O_JSON: o->json = true; break;
        case O_SUMMARY: o->summary = true; break;
        case O_SINCE:
        case O_UNTIL:
        case O_PURGE: {
            int64_t *t = c == O_SINCE ? &o->since : c == O_UNTIL ? &o->until : &o->purge_before;
            if (!cli_parse_time(optarg, now, t)) {
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
                          o->method || o->actions || o->skipped || o->node || o->json ||
                          o->summary)) {
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
    log_query lq = {0};
    if ((status = query_build(&lq, &o)) != 0) {
        query_free(&lq);
        return status;
    }
    char *path = NULL, *node = NULL;
    event_store *store = NULL;
    char *password_file = NULL;
    if ((status = cli_database_config(o.database, o.config, &path, &password_file, &node)) == 0 &&
        (status = cli_open_store(path, password_file, o.have_purge, &store)) == 0) {
        if (o.have_purge)
            status = purge(store, o.purge_before, node);
        else if (o.summary)
            status = summarize(store, &lq.q, &o);
        else
            status = list_events(store, &lq.q, &o);
    }
    if (fflush(stdout) != 0 && status == 0) {
        fprintf(stderr, "domauth: cannot write the output: %s\n", strerror(errno));
        status = CLI_EXIT_SOFTWARE;
    }
    event_store_close(store);
    free(path);
    free(node);
    free(password_file);
    query_free(&lq);
    return status;
}
