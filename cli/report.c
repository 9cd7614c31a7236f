/* report.c: "domauth report", the rollout report (src/report/rollout.h)
 * over the event store: what each candidate enforcement policy would have
 * blocked over a period, and where the likely false positives are. Text
 * tables, --json for scripts, --html for a page with per-day charts (SVG
 * drawn here: the page needs no network when it is viewed). Everything
 * that came from mail (domains, addresses) is escaped for where it goes. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "report/rollout.h"
#include "store/event_store.h"
#include "util/json.h"

enum { DEFAULT_TOP = 10, DAY = 86400 };

static const char usage_report[] =
    "usage: domauth report [--since TIME] [--until TIME] [--threshold SCORE]...\n"
    "                      [--top N] [--json | --html FILE] [--database PATH | --config FILE]\n"
    "\n"
    "What enforcement would cost, from the event store: for each candidate\n"
    "policy (the running configuration, reject SPF fail, reject fail and\n"
    "softfail, quarantine SPF fail, reject DKIM fail, reject at a score), how\n"
    "many checked messages, sender domains and client networks (/24, /48) it\n"
    "would have blocked or quarantined over the period, per day; with the\n"
    "likely false positives: SPF failures carrying a valid DKIM signature of the\n"
    "same domain (forwarding), the sender domains failing most (a partner's\n"
    "record that misses a server), and days of temperror spikes (DNS trouble,\n"
    "not forgery). Messages not checked (whitelists, SMTP AUTH, local clients,\n"
    "whitelist_from) count under no policy.\n"
    "\n"
    "  --since TIME          start of the period (default 7d: seven days ago)\n"
    "  --until TIME          end of the period (default now)\n"
    "  --threshold SCORE     a reject_threshold to try (repeatable, at most 8;\n"
    "                        default 3 and 5)\n"
    "  --top N               failing sender domains listed (default 10, at most 50)\n"
    "  --node N              only the events of node N ([daemon] node)\n"
    "  --json                one JSON object\n"
    "  --html FILE           also write an HTML page with per-day charts\n"
    "  --database PATH       the event database (default: the 'database' key of\n"
    "                        " CLI_DEFAULT_CONFIG ", else " CLI_DEFAULT_DATABASE ")\n"
    "  --config FILE         read the 'database' key from this file instead\n"
    "\n"
    "TIME is as for domauth log: 2026-11-22[T10:00], @SECONDS or an age (7d).\n"
    "Days are UTC days. A temperror spike is a day with at least 5 SPF\n"
    "temperrors and at least 3 times the median day's.\n"
    "\n"
    "Exit status: 0, 64 usage error, 65 configuration that does not parse, 66\n"
    "database missing or unreadable, 70 internal error, 73 the HTML file cannot\n"
    "be written.\n";

typedef struct report_options {
    const char *database, *config, *html;
    const char *node; /* only this node's events (a database many nodes share) */
    int64_t since, until;
    double thresholds[ROLLOUT_THRESHOLDS_MAX];
    size_t threshold_count;
    unsigned top;
    bool json;
} report_options;

static int feed(void *ctx, int64_t id, const event_record *record)
{
    (void)id;
    rollout_add(ctx, record);
    return 0;
}

static void day_label(const rollout_report *r, size_t day, char out[32])
{
    time_t t = (time_t)(r->first_day + (int64_t)day * DAY);
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(out, 32, "%Y-%m-%d", &tm) == 0)
        snprintf(out, 32, "day %zu", day);
}

static uint64_t checked(const rollout_report *r)
{
    return r->events - r->not_checked;
}

static double percent(uint64_t part, uint64_t whole)
{
    return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

static const char *kind_name(rollout_kind kind)
{
    switch (kind) {
    case ROLLOUT_CONFIGURED: return "configured";
    case ROLLOUT_SPF_FAIL: return "spf-fail";
    case ROLLOUT_SPF_FAIL_SOFTFAIL: return "spf-fail-softfail";
    case ROLLOUT_DKIM_FAIL: return "dkim-fail";
    case ROLLOUT_SCORE: return "score";
    }
    return "?";
}

/* --------------------------------------------------------------- text */

static void print_text(const rollout_report *r, unsigned top)
{
    char from[32], to[32];
    cli_format_time(r->options.since, from, sizeof from);
    cli_format_time(r->options.until, to, sizeof to);
    printf("Rollout report: %s .. %s (%zu UTC day%s)\n", from, to, r->days,
           r->days == 1 ? "" : "s");
    printf("Events: %llu; checked %llu; not checked %llu (whitelists, SMTP AUTH, local,\n"
           "whitelist_from: no policy acts on them)\n\n",
           (unsigned long long)r->events, (unsigned long long)checked(r),
           (unsigned long long)r->not_checked);
    printf("What each policy would have blocked or quarantined, of the checked messages:\n");
    printf("%-46s %9s %7s %8s %9s %10s\n", "policy", "messages", "%", "domains", "networks",
           "forwarded*");
    for (size_t i = 0; i < r->candidate_count; i++) {
        const rollout_candidate *c = &r->candidates[i];
        printf("%-46s %9llu %6.1f%% %8zu %9zu %10llu\n", c->name,
               (unsigned long long)c->messages, percent(c->messages, checked(r)),
               c->domains.count, c->networks.count, (unsigned long long)c->forwarded);
    }
    printf("* SPF failed, yet a valid DKIM signature of the same domain came with it:\n"
           "  most likely forwarded mail, which an SPF-only policy would lose.\n\n");

    printf("Sender domains failing SPF most (fail or softfail):\n");
    if (r->domain_count == 0) {
        printf("  none\n");
    } else {
        printf("%-40s %9s %14s %9s\n", "domain", "failures", "with DKIM pass", "networks");
        for (size_t i = 0; i < r->domain_count && i < top; i++) {
            const rollout_domain *d = &r->domains[i];
            cli_put_safe(stdout, d->domain, false);
            int pad = 40 - (int)strlen(d->domain);
            printf("%*s %9llu %14llu %9zu%s\n", pad > 0 ? pad : 0, "",
                   (unsigned long long)d->failed, (unsigned long long)d->dkim_pass,
                   d->networks.count,
                   d->dkim_pass * 2 > d->failed
                       ? "  (mostly signed: forwarded, or its SPF record misses a sender)"
                       : "");
        }
        if (r->domain_count > top)
            printf("  ... and %zu more\n", r->domain_count - top);
    }
    printf("\nSPF temperror per day (median %llu):\n", (unsigned long long)r->temperror_median);
    for (size_t d = 0; d < r->days; d++) {
        char label[32];
        day_label(r, d, label);
        printf("  %s %6llu%s\n", label, (unsigned long long)r->temperror_per_day[d],
               r->spike[d] ? "  spike: DNS trouble, not forgery; do not judge these" : "");
    }
    if (r->failed)
        printf("\nwarning: out of memory while counting: the figures are incomplete\n");
}

/* --------------------------------------------------------------- JSON */

static void json_per_day(const uint64_t *counts, size_t days)
{
    fputc('[', stdout);
    for (size_t d = 0; d < days; d++)
        printf("%s%llu", d ? "," : "", (unsigned long long)counts[d]);
    fputc(']', stdout);
}

static void print_json(const rollout_report *r, unsigned top)
{
    char first[32];
    day_label(r, 0, first);
    printf("{\"since\":%lld,\"until\":%lld,\"first_day\":\"%s\",\"days\":%zu,"
           "\"events\":%llu,\"checked\":%llu,\"not_checked\":%llu,\"complete\":%s,"
           "\"candidates\":[",
           (long long)r->options.since, (long long)r->options.until, first, r->days,
           (unsigned long long)r->events, (unsigned long long)checked(r),
           (unsigned long long)r->not_checked, r->failed ? "false" : "true");
    for (size_t i = 0; i < r->candidate_count; i++) {
        const rollout_candidate *c = &r->candidates[i];
        printf("%s{\"name\":", i ? "," : "");
        json_fputs(stdout, c->name);
        printf(",\"kind\":\"%s\",\"action\":\"%s\"", kind_name(c->kind), c->action);
        if (c->kind == ROLLOUT_SCORE) {
            char number[JSON_NUMBER_MAX];
            json_format_number(c->threshold, number);
            printf(",\"threshold\":%s", number);
        }
        printf(",\"messages\":%llu,\"domains\":%zu,\"networks\":%zu,\"forwarded\":%llu,"
               "\"per_day\":",
               (unsigned long long)c->messages, c->domains.count, c->networks.count,
               (unsigned long long)c->forwarded);
        json_per_day(c->per_day, r->days);
        fputc('}', stdout);
    }
    printf("],\"failing_domains\":[");
    for (size_t i = 0; i < r->domain_count && i < top; i++) {
        const rollout_domain *d = &r->domains[i];
        printf("%s{\"domain\":", i ? "," : "");
        json_fputs(stdout, d->domain);
        printf(",\"failed\":%llu,\"dkim_pass\":%llu,\"networks\":%zu}",
               (unsigned long long)d->failed, (unsigned long long)d->dkim_pass,
               d->networks.count);
    }
    printf("],\"failing_domain_count\":%zu,\"temperror\":{\"median\":%llu,\"per_day\":",
           r->domain_count, (unsigned long long)r->temperror_median);
    json_per_day(r->temperror_per_day, r->days);
    printf(",\"spikes\":[");
    bool any = false;
    for (size_t d = 0; d < r->days; d++) {
        if (!r->spike[d])
            continue;
        char label[32];
        day_label(r, d, label);
        printf("%s\"%s\"", any ? "," : "", label);
        any = true;
    }
    printf("]}}\n");
}

/* --------------------------------------------------------------- HTML */

static void html_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default:
            /* Control bytes and non-ASCII (not validated as UTF-8) as
             * character references of the byte, never raw. */
            if (c < 0x20 || c >= 0x7f)
                fprintf(f, "&#x%02X;", c);
            else
                fputc(c, f);
        }
    }
}

/* A bar per day, scaled to the largest; the labels are dates and counts,
 * no text from mail. */
static void html_chart(FILE *f, const rollout_report *r, const uint64_t *counts,
                       const bool *marked)
{
    enum { W = 640, H = 120, PAD = 20 };
    uint64_t max = 1;
    for (size_t d = 0; d < r->days; d++)
        if (counts[d] > max)
            max = counts[d];
    double bar = (double)(W - 2 * PAD) / (double)(r->days ? r->days : 1);
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "role=\"img\">\n",
            W, H + 2 * PAD);
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#888\"/>\n", PAD, PAD + H,
            W - PAD, PAD + H);
    for (size_t d = 0; d < r->days; d++) {
        double h = (double)H * (double)counts[d] / (double)max;
        char label[32];
        day_label(r, d, label);
        fprintf(f,
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\">"
                "<title>%s: %llu</title></rect>\n",
                PAD + d * bar + 1, PAD + H - h, bar > 3 ? bar - 2 : bar, h,
                marked != NULL && marked[d] ? "#c0392b" : "#2e86c1", label,
                (unsigned long long)counts[d]);
    }
    char first[32], last[32];
    day_label(r, 0, first);
    day_label(r, r->days ? r->days - 1 : 0, last);
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\">%s</text>\n", PAD, H + 2 * PAD - 4,
            first);
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">%s</text>\n",
            W - PAD, H + 2 * PAD - 4, last);
    fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"11\">max %llu</text>\n", PAD, PAD - 6,
            (unsigned long long)max);
    fputs("</svg>\n", f);
}

static int write_html(const char *path, const rollout_report *r, unsigned top)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "domauth: %s: %s\n", path, strerror(errno));
        return 73;
    }
    char from[32], to[32];
    cli_format_time(r->options.since, from, sizeof from);
    cli_format_time(r->options.until, to, sizeof to);
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
          "style-src 'unsafe-inline'\">\n<title>domauth rollout report</title>\n"
          "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
          "table{border-collapse:collapse}td,th{padding:.2em .6em;border-bottom:1px solid #ddd}"
          "td.n{text-align:right}</style></head><body>\n",
          f);
    fprintf(f, "<h1>Rollout report</h1>\n<p>%s .. %s (%zu UTC days). Events: %llu; checked "
               "%llu; not checked %llu.</p>\n",
            from, to, r->days, (unsigned long long)r->events, (unsigned long long)checked(r),
            (unsigned long long)r->not_checked);
    fputs("<h2>What each policy would have blocked or quarantined</h2>\n<table><tr><th>policy"
          "</th><th>messages</th><th>%</th><th>domains</th><th>networks</th><th>forwarded"
          "</th></tr>\n",
          f);
    for (size_t i = 0; i < r->candidate_count; i++) {
        const rollout_candidate *c = &r->candidates[i];
        fputs("<tr><td>", f);
        html_text(f, c->name);
        fprintf(f, "</td><td class=\"n\">%llu</td><td class=\"n\">%.1f</td><td class=\"n\">%zu"
                   "</td><td class=\"n\">%zu</td><td class=\"n\">%llu</td></tr>\n",
                (unsigned long long)c->messages, percent(c->messages, checked(r)),
                c->domains.count, c->networks.count, (unsigned long long)c->forwarded);
    }
    fputs("</table>\n<p>forwarded: SPF failed, yet a valid DKIM signature of the same domain "
          "came with it (most likely forwarded mail).</p>\n",
          f);
    for (size_t i = 0; i < r->candidate_count; i++) {
        fputs("<h3>", f);
        html_text(f, r->candidates[i].name);
        fputs(", per day</h3>\n", f);
        html_chart(f, r, r->candidates[i].per_day, NULL);
    }
    fputs("<h2>Sender domains failing SPF most</h2>\n<table><tr><th>domain</th><th>failures"
          "</th><th>with DKIM pass</th><th>networks</th></tr>\n",
          f);
    for (size_t i = 0; i < r->domain_count && i < top; i++) {
        const rollout_domain *d = &r->domains[i];
        fputs("<tr><td>", f);
        html_text(f, d->domain);
        fprintf(f, "</td><td class=\"n\">%llu</td><td class=\"n\">%llu</td><td class=\"n\">%zu"
                   "</td></tr>\n",
                (unsigned long long)d->failed, (unsigned long long)d->dkim_pass,
                d->networks.count);
    }
    fprintf(f, "</table>\n<h2>SPF temperror per day</h2>\n<p>Median %llu a day; days in red "
               "are spikes (DNS trouble, not forgery).</p>\n",
            (unsigned long long)r->temperror_median);
    html_chart(f, r, r->temperror_per_day, r->spike);
    fputs("</body></html>\n", f);
    if (ferror(f) | (fclose(f) != 0)) {
        fprintf(stderr, "domauth: %s: cannot write the page\n", path);
        return 73;
    }
    return 0;
}

/* ------------------------------------------------------------ options */

static int parse_options(int argc, char **argv, report_options *o)
{
    enum { O_SINCE = 256, O_UNTIL, O_THRESHOLD, O_TOP, O_JSON, O_HTML, O_DATABASE, O_CONFIG,
           O_NODE };
    static const struct option options[] = {
        {"since", required_argument, NULL, O_SINCE},
        {"until", required_argument, NULL, O_UNTIL},
        {"threshold", required_argument, NULL, O_THRESHOLD},
        {"top", required_argument, NULL, O_TOP},
        {"json", no_argument, NULL, O_JSON},
        {"html", required_argument, NULL, O_HTML},
        {"database", required_argument, NULL, O_DATABASE},
        {"config", required_argument, NULL, O_CONFIG},
        {"node", required_argument, NULL, O_NODE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int64_t now = (int64_t)time(NULL);
    o->since = now - 7 * DAY;
    o->until = now;
    o->top = DEFAULT_TOP;
    const char *since = NULL, *until = NULL;
    bool thresholds_given = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        char *end;
        switch (c) {
        case O_SINCE: since = optarg; break;
        case O_UNTIL: until = optarg; break;
        case O_THRESHOLD: {
            if (!thresholds_given)
                o->threshold_count = 0;
            thresholds_given = true;
            errno = 0;
            double v = strtod(optarg, &end);
            if (errno != 0 || end == optarg || *end != '\0' || !(v > 0) || v > 1000) {
                fprintf(stderr, "domauth report: --threshold %s: expected a score above 0\n",
                        optarg);
                return CLI_EXIT_USAGE;
            }
            if (o->threshold_count == ROLLOUT_THRESHOLDS_MAX) {
                fprintf(stderr, "domauth report: at most %d --threshold\n",
                        ROLLOUT_THRESHOLDS_MAX);
                return CLI_EXIT_USAGE;
            }
            o->thresholds[o->threshold_count++] = v;
            break;
        }
        case O_TOP: {
            errno = 0;
            unsigned long v = strtoul(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0' || v > ROLLOUT_TOP_MAX) {
                fprintf(stderr, "domauth report: --top %s: expected 0 to %d\n", optarg,
                        ROLLOUT_TOP_MAX);
                return CLI_EXIT_USAGE;
            }
            o->top = (unsigned)v;
            break;
        }
        case O_JSON: o->json = true; break;
        case O_HTML: o->html = optarg; break;
        case O_DATABASE: o->database = optarg; break;
        case O_CONFIG: o->config = optarg; break;
        case O_NODE: o->node = optarg; break;
        case 'h': fputs(usage_report, stdout); return -1;
        default: fputs(usage_report, stderr); return CLI_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "domauth report: unexpected argument '%s'\n", argv[optind]);
        return CLI_EXIT_USAGE;
    }
    if (!thresholds_given) {
        o->thresholds[0] = 3;
        o->thresholds[1] = 5;
        o->threshold_count = 2;
    }
    if ((until != NULL && !cli_parse_time(until, now, &o->until)) ||
        (since != NULL && !cli_parse_time(since, now, &o->since))) {
        fprintf(stderr, "domauth report: cannot read the time '%s' (see --help)\n",
                until != NULL && !cli_parse_time(until, now, &o->until) ? until : since);
        return CLI_EXIT_USAGE;
    }
    return 0;
}

int cmd_report(int argc, char **argv)
{
    report_options o = {0};
    int status = parse_options(argc, argv, &o);
    if (status != 0)
        return status < 0 ? 0 : status;
    rollout_options ro = {.since = o.since, .until = o.until, .threshold_count = o.threshold_count};
    memcpy(ro.thresholds, o.thresholds, sizeof ro.thresholds);
    rollout_report *r = malloc(sizeof *r);
    char why[256];
    if (r == NULL)
        return CLI_EXIT_SOFTWARE;
    if (rollout_init(r, &ro, why, sizeof why) != 0) {
        fprintf(stderr, "domauth report: %s\n", why);
        free(r);
        return CLI_EXIT_USAGE;
    }
    char *path = NULL;
    event_store *store = NULL;
    char *password_file = NULL;
    if ((status = cli_database_path(o.database, o.config, &path, &password_file)) == 0 &&
        (status = cli_open_store(path, password_file, false, &store)) == 0) {
        event_query q = {.have_since = true, .since = o.since, .have_until = true,
                         .until = o.until, .node = o.node};
        char qwhy[512];
        if (event_store_query(store, &q, feed, r, qwhy, sizeof qwhy) != 0) {
            fprintf(stderr, "domauth report: %s\n", qwhy);
            status = CLI_EXIT_NOINPUT;
        }
    }
    if (status == 0) {
        rollout_finish(r);
        if (o.json)
            print_json(r, o.top);
        else
            print_text(r, o.top);
        if (o.html != NULL)
            status = write_html(o.html, r, o.top);
        if (fflush(stdout) != 0 && status == 0) {
            fprintf(stderr, "domauth: cannot write the output: %s\n", strerror(errno));
            status = CLI_EXIT_SOFTWARE;
        }
    }
    if (store != NULL)
        event_store_close(store);
    free(path);
    free(password_file);
    rollout_free(r);
    free(r);
    return status;
}
