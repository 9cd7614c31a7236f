/* pages.c: the console's pages (pages.h). Server-rendered HTML that works
 * without script; every value through escape.h; charts from svg.h. The
 * History page pages by keyset (the last row's time and id), so the page
 * after a million events costs what the first does. */
#include "pages.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "control_client.h"
#include "escape.h"
#include "json_get.h"
#include "msg/mime.h"
#include "store/quarantine_store.h"
#include "store/spool.h"
#include "record/wizard.h"
#include "report/rollout.h"
#include "svg.h"

/* ------------------------------------------------------------ the shell */

void page_begin(web_response *r, const char *title, const web_session *s)
{
    strbuf *b = &r->body;
    strbuf_puts(b, "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                   "<title>");
    html_puts(b, title);
    strbuf_puts(b, " - domauth</title><link rel=\"stylesheet\" href=\"/style.css\"></head><body>"
                   "<header><span class=\"brand\">domauth</span>");
    if (s != NULL) {
        strbuf_puts(b, "<nav><a href=\"/\">Status</a><a href=\"/history\">History</a>"
                       "<a href=\"/quarantine\">Quarantine</a><a href=\"/rollout\">Rollout</a><a href=\"/records\">Records</a><a href=\"/settings\">Settings</a></nav><form method=\"post\" "
                       "action=\"/logout\" class=\"logout\">");
        page_csrf(r, s);
        strbuf_puts(b, "<span class=\"who\">");
        html_puts(b, s->user);
        strbuf_puts(b, s->role == WEB_ROLE_ADMIN ? " (admin)" : " (read only)");
        strbuf_puts(b, "</span> <button type=\"submit\" id=\"logout\">Log out</button></form>");
    }
    strbuf_puts(b, "</header><main><h1>");
    html_puts(b, title);
    strbuf_puts(b, "</h1>");
}

void page_end(web_response *r)
{
    strbuf_puts(&r->body, "</main></body></html>\n");
}

void page_csrf(web_response *r, const web_session *s)
{
    strbuf_puts(&r->body, "<input type=\"hidden\" name=\"csrf\" value=\"");
    html_puts(&r->body, s->csrf);
    strbuf_puts(&r->body, "\">");
}

void page_message(web_response *r, int status, const char *title, const char *text,
                  const web_session *s)
{
    r->status = status;
    page_begin(r, title, s);
    strbuf_puts(&r->body, "<p class=\"message\">");
    html_puts(&r->body, text);
    strbuf_puts(&r->body, "</p>");
    page_end(r);
}

static void format_time(int64_t t, char *buf, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL || strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        snprintf(buf, size, "@%lld", (long long)t);
}

static void put_time(strbuf *b, int64_t t)
{
    char buf[40];
    format_time(t, buf, sizeof buf);
    html_puts(b, buf);
}

static event_store *store(web_app *app, char *why, size_t why_size)
{
    if (app->store != NULL)
        return app->store;
    if (app->cfg->database == NULL || *app->cfg->database == '\0') {
        snprintf(why, why_size, "no database in the configuration ([daemon] database)");
        return NULL;
    }
    event_store_options o = {.access = EVENT_STORE_READ, .busy_timeout_ms = 2000,
                             .password_file = app->cfg->database_password_file};
    app->store = event_store_open(app->cfg->database, &o, why, why_size);
    return app->store;
}

/* ------------------------------------------------------------ status */

static void status_row(strbuf *b, const char *name, const char *value)
{
    strbuf_puts(b, "<tr><th>");
    html_puts(b, name);
    strbuf_puts(b, "</th><td>");
    html_puts(b, value);
    strbuf_puts(b, "</td></tr>");
}

static void status_number(strbuf *b, const char *json, size_t len, const char *name,
                          const char *path)
{
    double v;
    char text[64] = "-";
    if (json_get_number(json, len, path, &v))
        snprintf(text, sizeof text, "%.0f", v);
    status_row(b, name, text);
}

/* Counts per bucket over [end - n * step, end), one indexed range count
 * each; with methods, the results per method=result over the whole window
 * too (that one reads every event of the window's results vectors). */
static int chart_window(event_store *st, int64_t end, int64_t step, size_t n, const char *what,
                        const char *first, bool methods, strbuf *b, char *why, size_t why_size)
{
    uint64_t values[168];
    if (n > sizeof values / sizeof values[0])
        n = sizeof values / sizeof values[0];
    for (size_t i = 0; i < n; i++) {
        event_query q = {.have_since = true, .have_until = true,
                         .since = end - (int64_t)(n - i) * step,
                         .until = end - (int64_t)(n - i - 1) * step};
        if (event_store_count(st, &q, &values[i], why, why_size) != 0)
            return -1;
    }
    char title[120];
    snprintf(title, sizeof title, "Checks per %s", what);
    strbuf_puts(b, "<figure><figcaption>");
    html_puts(b, title);
    strbuf_puts(b, "</figcaption>");
    svg_bars(b, title, values, n, first, "now");
    strbuf_puts(b, "</figure>");
    if (!methods)
        return 0;
    event_query q = {.have_since = true, .since = end - (int64_t)n * step};
    event_counts per;
    if (event_store_methods(st, &q, &per, why, why_size) != 0)
        return -1;
    size_t m = per.count < 16 ? per.count : 16;
    const char *labels[16];
    uint64_t counts[16];
    for (size_t i = 0; i < m; i++) {
        labels[i] = per.items[i].label;
        counts[i] = per.items[i].count;
    }
    snprintf(title, sizeof title, "Results per method, since %s", first);
    strbuf_puts(b, "<figure><figcaption>");
    html_puts(b, title);
    strbuf_puts(b, "</figcaption>");
    svg_hbars(b, title, labels, counts, m);
    strbuf_puts(b, "</figure>");
    event_counts_free(&per);
    return 0;
}

static void charts(web_app *app, int64_t now, strbuf *b)
{
    /* Recomputed at most once a minute: the week's chart reads a week. */
    if (app->charts.len > 0 && now - app->charts_time < 60 && !app->charts.failed) {
        strbuf_append(b, app->charts.data, app->charts.len);
        return;
    }
    strbuf_clear(&app->charts);
    char why[600];
    event_store *st = store(app, why, sizeof why);
    strbuf *c = &app->charts;
    if (st == NULL) {
        strbuf_puts(b, "<p class=\"error\">Event store: ");
        html_puts(b, why);
        strbuf_puts(b, "</p>");
        return;
    }
    int64_t end = now / 60 * 60 + 60;
    strbuf_puts(c, "<section class=\"charts\"><h2>Last hour</h2>");
    int rc = chart_window(st, end, 60, 60, "minute", "60 min ago", true, c, why, sizeof why);
    if (rc == 0) {
        strbuf_puts(c, "<h2>Last day</h2>");
        rc = chart_window(st, now / 3600 * 3600 + 3600, 3600, 24, "hour", "24 h ago", true, c,
                          why, sizeof why);
    }
    if (rc == 0) {
        strbuf_puts(c, "<h2>Last week</h2>");
        /* The week's results per method would read a week of results
         * vectors on every refresh: the week shows the volume only. */
        rc = chart_window(st, now / 3600 * 3600 + 3600, 6 * 3600, 28, "6 hours", "7 days ago",
                          false, c, why, sizeof why);
    }
    strbuf_puts(c, "</section>");
    if (rc != 0) {
        strbuf_clear(c);
        strbuf_puts(b, "<p class=\"error\">Event store: ");
        html_puts(b, why);
        strbuf_puts(b, "</p>");
        return;
    }
    app->charts_time = now;
    strbuf_append(b, c->data, c->len);
}

static int count_row(void *ctx, const quarantine_row *row)
{
    (void)row;
    (*(uint64_t *)ctx)++;
    return 0;
}

/* The quarantine, read only, as domauthd's configuration names it. */
static quarantine *open_quarantine(const web_app *app, char *why, size_t why_size)
{
    quarantine_options o = {.dir = app->cfg->quarantine_dir, .database = app->cfg->database,
                            .days = app->cfg->quarantine_days,
                            .password_file = app->cfg->database_password_file};
    return quarantine_open(&o, why, why_size);
}

/* Quarantined messages, -1 when the index cannot be read. */
static long long quarantine_size(const web_app *app, char *why, size_t why_size)
{
    quarantine *q = open_quarantine(app, why, why_size);
    if (q == NULL)
        return -1;
    uint64_t n = 0;
    quarantine_index *x = quarantine_get_index(q);
    quarantine_query qq = {0};
    int rc = x ? x->ops->query(x, &qq, count_row, &n, why, why_size) : 0;
    quarantine_close(q);
    return rc == 0 ? (long long)n : -1;
}

void page_status(web_app *app, const web_request *req, web_response *r, const web_session *s)
{
    strbuf *b = &r->body;
    page_begin(r, "Status", s);
    strbuf status;
    strbuf_init(&status);
    char why[600];
    bool up = control_call(app->cfg->control_listen, "status", &status, why, sizeof why) == 0;
    const char *j = status.data ? status.data : "";
    size_t jl = status.len;
    strbuf_puts(b, "<section class=\"cards\"><table class=\"facts\" id=\"daemon\">");
    if (up) {
        status_row(b, "domauthd", "up");
        double v;
        char text[200];
        if (json_get_number(j, jl, "uptime_s", &v)) {
            long long sec = (long long)v;
            snprintf(text, sizeof text, "%lldd %02lld:%02lld:%02lld", sec / 86400,
                     sec % 86400 / 3600, sec % 3600 / 60, sec % 60);
            status_row(b, "uptime", text);
        }
        if (json_get_string(j, jl, "version", text, sizeof text))
            status_row(b, "version", text);
        if (json_get_string(j, jl, "config", text, sizeof text))
            status_row(b, "configuration", text);
        if (json_get_number(j, jl, "last_reload_time", &v) && v > 0) {
            char when[40], line[300], what[200] = "";
            format_time((int64_t)v, when, sizeof when);
            json_get_string(j, jl, "last_reload", what, sizeof what);
            snprintf(line, sizeof line, "%s UTC: %s", when, what);
            status_row(b, "last reload", line);
        } else {
            status_row(b, "last reload", "none since start");
        }
        if (json_get_string(j, jl, "monitor", text, sizeof text))
            status_row(b, "monitor mode", text);
        for (unsigned i = 0; i < 16; i++) {
            char path[64], kind[32], addr[160], line[220];
            snprintf(path, sizeof path, "listeners.%u.kind", i);
            if (!json_get_string(j, jl, path, kind, sizeof kind))
                break;
            snprintf(path, sizeof path, "listeners.%u.address", i);
            if (!json_get_string(j, jl, path, addr, sizeof addr))
                addr[0] = '\0';
            snprintf(line, sizeof line, "%s %s", kind, addr);
            status_row(b, "listener", line);
        }
    } else {
        strbuf_puts(b, "<tr><th>domauthd</th><td class=\"down\">down: ");
        html_puts(b, why);
        strbuf_puts(b, "</td></tr>");
    }
    long long qn = quarantine_size(app, why, sizeof why);
    char qtext[64];
    snprintf(qtext, sizeof qtext, "%lld message%s", qn, qn == 1 ? "" : "s");
    status_row(b, "quarantine", qn >= 0 ? qtext : "unreadable");
    strbuf_puts(b, "</table>");
    if (up) {
        strbuf_puts(b, "<table class=\"facts\" id=\"counters\"><tr><th colspan=\"2\">Counters "
                       "since start</th></tr>");
        status_number(b, j, jl, "messages", "messages.events");
        status_number(b, j, jl, "checked", "messages.checked");
        status_number(b, j, jl, "skipped", "messages.skipped");
        status_number(b, j, jl, "rejected", "messages.rejected");
        status_number(b, j, jl, "deferred", "messages.deferred");
        status_number(b, j, jl, "held back (monitor)", "messages.held_back");
        status_number(b, j, jl, "errors", "messages.errors");
        status_number(b, j, jl, "event log dropped", "event_log.dropped");
        status_number(b, j, jl, "event log write errors", "event_log.write_errors");
        double hits = 0, misses = 0;
        json_get_number(j, jl, "dns_cache.hits", &hits);
        json_get_number(j, jl, "dns_cache.misses", &misses);
        char ratio[64];
        if (hits + misses > 0)
            snprintf(ratio, sizeof ratio, "%.1f %% (%.0f hits, %.0f misses)",
                     100.0 * hits / (hits + misses), hits, misses);
        else
            snprintf(ratio, sizeof ratio, "- (no lookups yet)");
        status_row(b, "DNS cache hit ratio", ratio);
        status_number(b, j, jl, "DNS cache entries", "dns_cache.entries");
        status_number(b, j, jl, "DNS upstream errors", "dns_cache.upstream_errors");
        status_number(b, j, jl, "sessions active", "sessions.active");
        status_number(b, j, jl, "protocol errors", "sessions.protocol_errors");
        strbuf_puts(b, "</table>");
    }
    strbuf_puts(b, "</section>");
    strbuf_free(&status);
    charts(app, req->now, b);
    page_end(r);
}

/* ------------------------------------------------------------ history */

/* "", "@EPOCH", "YYYY-MM-DD", "YYYY-MM-DD HH:MM[:SS]" (UTC), or "Nm", "Nh",
 * "Nd" back from now. */
static bool parse_time(const char *s, int64_t now, int64_t *out)
{
    char *end;
    if (s[0] == '@') {
        long long v = strtoll(s + 1, &end, 10);
        if (end == s + 1 || *end)
            return false;
        *out = v;
        return true;
    }
    size_t n = strlen(s);
    if (n >= 2 && isdigit((unsigned char)s[0]) && strchr("mhd", s[n - 1]) && n < 12) {
        long long v = strtoll(s, &end, 10);
        if (end != s + n - 1)
            return false;
        *out = now - v * (s[n - 1] == 'm' ? 60 : s[n - 1] == 'h' ? 3600 : 86400);
        return true;
    }
    struct tm tm = {0};
    int y, mo, d, h = 0, mi = 0, sec = 0;
    char tail;
    int got = sscanf(s, "%4d-%2d-%2d%*1[ T]%2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &sec, &tail);
    if (got != 3 && got != 5 && got != 6) {
        got = sscanf(s, "%4d-%2d-%2d%c", &y, &mo, &d, &tail);
        if (got != 3)
            return false;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return false;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *out = (int64_t)timegm(&tm);
    return true;
}

static const char *const history_fields[] = {"since", "until", "client", "sender", "rcpt",
                                             "domain", "method", "result", "action", "held"};
enum { HISTORY_FIELDS = sizeof history_fields / sizeof history_fields[0] };

static const char *nonempty(const web_form *q, const char *name)
{
    const char *v = web_form_get(q, name);
    return v && *v ? v : NULL;
}

typedef struct history_state {
    strbuf *b;
    size_t rows;
    int64_t last_time, last_id;
} history_state;

static void cell(strbuf *b, const char *v)
{
    strbuf_puts(b, "<td>");
    html_puts(b, v && *v ? v : "");
    strbuf_puts(b, "</td>");
}

static int history_row(void *ctx, int64_t id, const event_record *e)
{
    history_state *st = ctx;
    strbuf *b = st->b;
    strbuf_printf(b, "<tr><td><a href=\"/event?id=%lld\">", (long long)id);
    put_time(b, e->time);
    strbuf_puts(b, "</a></td>");
    cell(b, e->client_ip);
    strbuf_puts(b, "<td>");
    html_puts(b, e->mail_from && *e->mail_from ? e->mail_from : "<>");
    if (e->header_from && *e->header_from) {
        strbuf_puts(b, "<br><span class=\"sub\">From: ");
        html_puts(b, e->header_from);
        strbuf_puts(b, "</span>");
    }
    strbuf_puts(b, "</td>");
    cell(b, e->rcpt);
    cell(b, e->domain);
    strbuf_puts(b, "<td>");
    for (size_t i = 0; i < e->result_count; i++) {
        strbuf_puts(b, "<span class=\"res res-");
        html_puts(b, e->results[i].result);
        strbuf_puts(b, "\">");
        html_puts(b, e->results[i].method);
        strbuf_putc(b, '=');
        html_puts(b, e->results[i].result);
        strbuf_puts(b, "</span> ");
    }
    if (e->skip_reason) {
        strbuf_puts(b, "skipped: ");
        html_puts(b, e->skip_reason);
    }
    strbuf_puts(b, "</td><td>");
    html_puts(b, e->action);
    if (e->held_action) {
        strbuf_puts(b, " <span class=\"sub\">(held back: ");
        html_puts(b, e->held_action);
        strbuf_puts(b, ")</span>");
    }
    strbuf_puts(b, "</td></tr>");
    st->rows++;
    st->last_time = e->time;
    st->last_id = id;
    return 0;
}

static void filter_input(strbuf *b, const web_form *q, const char *name, const char *label,
                         const char *hint)
{
    strbuf_puts(b, "<label>");
    html_puts(b, label);
    strbuf_puts(b, " <input name=\"");
    html_puts(b, name);
    strbuf_puts(b, "\" id=\"f-");
    html_puts(b, name);
    strbuf_puts(b, "\" placeholder=\"");
    html_puts(b, hint);
    strbuf_puts(b, "\" value=\"");
    html_puts(b, web_form_get(q, name));
    strbuf_puts(b, "\"></label>");
}

void page_history(web_app *app, const web_form *q, web_response *r, const web_session *s)
{
    strbuf *b = &r->body;
    int64_t now = (int64_t)time(NULL);
    event_query eq = {.limit = WEB_PAGE_ROWS};
    const char *err = NULL;
    const char *v;
    if ((v = nonempty(q, "since")) != NULL) {
        eq.have_since = parse_time(v, now, &eq.since);
        if (!eq.have_since)
            err = "since: not a time (2026-12-01, 2026-12-01 10:00, 2h, 3d, @EPOCH)";
    }
    if ((v = nonempty(q, "until")) != NULL) {
        eq.have_until = parse_time(v, now, &eq.until);
        if (!eq.have_until)
            err = "until: not a time (2026-12-01, 2026-12-01 10:00, 2h, 3d, @EPOCH)";
    }
    if ((v = nonempty(q, "client")) != NULL) {
        if (strchr(v, '/') != NULL) {
            if (event_query_network_valid(v))
                eq.client_net = v;
            else
                err = "client: an address or a network such as 192.0.2.0/24";
        } else {
            eq.client_ip = v;
        }
    }
    eq.sender = nonempty(q, "sender");
    eq.rcpt = nonempty(q, "rcpt");
    eq.domain = nonempty(q, "domain");
    eq.method = nonempty(q, "method");
    const char *result = nonempty(q, "result");
    if (result != NULL) {
        eq.results = &result;
        eq.result_count = 1;
    }
    const char *action = nonempty(q, "action");
    if (action != NULL) {
        eq.actions = &action;
        eq.action_count = 1;
    }
    eq.held_action = nonempty(q, "held");
    if ((v = nonempty(q, "before")) != NULL) {
        long long t, id;
        char tail;
        if (sscanf(v, "%lld.%lld%c", &t, &id, &tail) == 2 && id > 0) {
            eq.have_before = true;
            eq.before_time = t;
            eq.before_id = id;
        } else {
            err = "before: not a page position";
        }
    }
    page_begin(r, "History", s);
    strbuf_puts(b, "<form method=\"get\" action=\"/history\" class=\"filters\" id=\"search\">");
    filter_input(b, q, "since", "Since", "2h, 2026-12-01");
    filter_input(b, q, "until", "Until", "2026-12-02 08:00");
    filter_input(b, q, "client", "Client", "192.0.2.10 or /24");
    filter_input(b, q, "sender", "Sender", "part of MAIL FROM or From:");
    filter_input(b, q, "rcpt", "Recipient", "part of an address");
    filter_input(b, q, "domain", "Domain", "example.org");
    filter_input(b, q, "method", "Method", "spf, dkim, dmarc");
    filter_input(b, q, "result", "Result", "fail");
    filter_input(b, q, "action", "Action", "reject, quarantine");
    filter_input(b, q, "held", "Held back", "reject");
    strbuf_puts(b, "<button type=\"submit\" id=\"search-button\">Search</button></form>");
    if (err != NULL) {
        strbuf_puts(b, "<p class=\"error\">");
        html_puts(b, err);
        strbuf_puts(b, "</p>");
        page_end(r);
        r->status = 400;
        return;
    }
    char why[600];
    event_store *st = store(app, why, sizeof why);
    if (st == NULL) {
        strbuf_puts(b, "<p class=\"error\">Event store: ");
        html_puts(b, why);
        strbuf_puts(b, "</p>");
        page_end(r);
        return;
    }
    strbuf_puts(b, "<table class=\"events\" id=\"events\"><thead><tr><th>Time (UTC)</th>"
                   "<th>Client</th><th>Sender</th><th>Recipient</th><th>Domain</th>"
                   "<th>Results</th><th>Action</th></tr></thead><tbody>");
    history_state hs = {.b = b};
    if (event_store_query(st, &eq, history_row, &hs, why, sizeof why) != 0) {
        strbuf_puts(b, "</tbody></table><p class=\"error\">Event store: ");
        html_puts(b, why);
        strbuf_puts(b, "</p>");
        page_end(r);
        return;
    }
    strbuf_puts(b, "</tbody></table>");
    if (hs.rows == 0)
        strbuf_puts(b, "<p class=\"empty\">No events match.</p>");
    if (hs.rows == WEB_PAGE_ROWS) {
        strbuf_puts(b, "<p class=\"pager\"><a id=\"next\" href=\"/history?");
        for (size_t i = 0; i < HISTORY_FIELDS; i++) {
            const char *fv = nonempty(q, history_fields[i]);
            if (fv == NULL)
                continue;
            url_escape(b, history_fields[i]);
            strbuf_putc(b, '=');
            url_escape(b, fv);
            strbuf_puts(b, "&amp;");
        }
        strbuf_printf(b, "before=%lld.%lld\">Older &rarr;</a></p>", (long long)hs.last_time,
                      (long long)hs.last_id);
    }
    page_end(r);
}

/* ------------------------------------------------------------ one event */

static int event_one(void *ctx, int64_t id, const event_record *e)
{
    strbuf *b = ctx;
    (void)id;
    strbuf_puts(b, "<table class=\"facts\" id=\"event\">");
    for (int f = 0; f < EVF_COUNT; f++) {
        char num[64];
        const char *value;
        if (f == EVF_TIME) {
            format_time(e->time, num, sizeof num);
            strcat(num, " UTC");
            value = num;
        } else if (f == EVF_SCORE) {
            snprintf(num, sizeof num, "%g", e->score);
            value = num;
        } else {
            value = event_field_string(e, f);
        }
        if (value == NULL)
            continue;
        status_row(b, event_field_name(f), value);
    }
    strbuf_puts(b, "</table><h2>Results</h2><table class=\"events\" id=\"results\"><thead><tr>");
    for (int k = 0; k < EVENT_RESULT_STRINGS; k++) {
        strbuf_puts(b, "<th>");
        html_puts(b, event_result_key(k));
        strbuf_puts(b, "</th>");
    }
    strbuf_puts(b, "</tr></thead><tbody>");
    for (size_t i = 0; i < e->result_count; i++) {
        event_result x = e->results[i];
        strbuf_puts(b, "<tr>");
        for (int k = 0; k < EVENT_RESULT_STRINGS; k++)
            cell(b, *event_result_slot(&x, k));
        strbuf_puts(b, "</tr>");
    }
    strbuf_puts(b, "</tbody></table>");
    /* The header domauth adds carries these results as RFC 8601 names them. */
    strbuf_puts(b, "<h2>Authentication-Results (as added)</h2><pre class=\"header\">");
    for (size_t i = 0; i < e->result_count; i++) {
        strbuf_puts(b, i ? ";\n\t" : "\t");
        html_puts(b, e->results[i].method);
        strbuf_putc(b, '=');
        html_puts(b, e->results[i].result);
        if (e->results[i].reason) {
            strbuf_puts(b, " reason=\"");
            html_puts(b, e->results[i].reason);
            strbuf_putc(b, '"');
        }
        if (e->results[i].props) {
            strbuf_putc(b, ' ');
            html_puts(b, e->results[i].props);
        }
    }
    strbuf_puts(b, "</pre><h2>Recipients</h2><table class=\"events\" id=\"rcpts\"><thead><tr>"
                   "<th>address</th><th>action</th><th>reply</th></tr></thead><tbody>");
    for (size_t i = 0; i < e->rcpt_count; i++) {
        strbuf_puts(b, "<tr>");
        cell(b, e->rcpts[i].address);
        cell(b, e->rcpts[i].action);
        cell(b, e->rcpts[i].reply);
        strbuf_puts(b, "</tr>");
    }
    strbuf_puts(b, "</tbody></table>");
    return 1;
}

void page_event(web_app *app, const web_form *q, web_response *r, const web_session *s)
{
    const char *v = web_form_get(q, "id");
    char *end;
    long long id = v ? strtoll(v, &end, 10) : 0;
    if (v == NULL || *end || id <= 0) {
        page_message(r, 400, "Bad request", "id: an event number", s);
        return;
    }
    char why[600];
    event_store *st = store(app, why, sizeof why);
    if (st == NULL) {
        page_message(r, 503, "Event store", why, s);
        return;
    }
    char title[64];
    snprintf(title, sizeof title, "Event %lld", id);
    page_begin(r, title, s);
    size_t before = r->body.len;
    event_query eq = {.id = id, .limit = 1};
    if (event_store_query(st, &eq, event_one, &r->body, why, sizeof why) != 0) {
        strbuf_puts(&r->body, "<p class=\"error\">");
        html_puts(&r->body, why);
        strbuf_puts(&r->body, "</p>");
    } else if (r->body.len == before) {
        r->status = 404;
        strbuf_puts(&r->body, "<p class=\"error\">No such event.</p>");
    }
    page_end(r);
}

/* ------------------------------------------------------------ quarantine */

typedef struct qlist_state {
    strbuf *b;
    size_t rows;
    bool admin;
} qlist_state;

static void put_list(strbuf *b, const char *const *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i)
            strbuf_puts(b, ", ");
        html_puts(b, items[i]);
    }
}

static int qlist_row(void *ctx, const quarantine_row *row)
{
    qlist_state *st = ctx;
    strbuf *b = st->b;
    strbuf_puts(b, "<tr>");
    if (st->admin) {
        strbuf_puts(b, "<td><input type=\"checkbox\" name=\"id\" value=\"");
        html_puts(b, row->id);
        strbuf_puts(b, "\" aria-label=\"select\"></td>");
    }
    strbuf_puts(b, "<td><a class=\"qview\" href=\"/quarantine/view?id=");
    url_escape(b, row->id);
    strbuf_puts(b, "\">");
    put_time(b, row->time);
    strbuf_puts(b, "</a></td>");
    cell(b, row->sender && *row->sender ? row->sender : "<>");
    strbuf_puts(b, "<td>");
    put_list(b, row->rcpts, row->rcpt_count);
    strbuf_puts(b, "</td>");
    cell(b, row->domain);
    strbuf_puts(b, "<td>");
    put_list(b, row->results, row->result_count);
    strbuf_puts(b, "</td>");
    cell(b, row->client_ip);
    cell(b, row->state);
    strbuf_puts(b, "</tr>");
    st->rows++;
    return 0;
}

static int newest_purge(void *ctx, int64_t id, const event_record *e)
{
    strbuf *b = ctx;
    (void)id;
    strbuf_puts(b, " The last purge recorded: ");
    put_time(b, e->time);
    strbuf_puts(b, " UTC, ");
    html_puts(b, e->reasons ? e->reasons : "");
    if (e->node && *e->node) {
        strbuf_puts(b, " (node ");
        html_puts(b, e->node);
        strbuf_putc(b, ')');
    }
    strbuf_putc(b, '.');
    return 1;
}

/* The retention at work: domauthd's last purge and its next one (the
 * status), and the newest purge event in the store, by domauthd or
 * `domauth quarantine purge` on any node. domauthd's purge runs on its
 * loop and gives no progress; it is shown once done. */
static void purge_status(web_app *app, strbuf *b)
{
    strbuf st;
    strbuf_init(&st);
    char why[600], text[700];
    strbuf_printf(b, "<p class=\"note\" id=\"purge\">Kept %u days, then purged by domauthd.",
                  app->cfg->quarantine_days);
    if (control_call(app->cfg->control_listen, "status", &st, why, sizeof why) == 0) {
        const char *j = st.data ? st.data : "";
        double last = 0, removed = 0, next = 0;
        json_get_number(j, st.len, "quarantine_purge.last_time", &last);
        json_get_number(j, st.len, "quarantine_purge.last_removed", &removed);
        json_get_number(j, st.len, "quarantine_purge.next_time", &next);
        if (last > 0) {
            strbuf_puts(b, " domauthd's last purge: ");
            put_time(b, (int64_t)last);
            if (json_get_string(j, st.len, "quarantine_purge.last_error", text, sizeof text)) {
                strbuf_puts(b, " UTC, failed: ");
                html_puts(b, text);
                strbuf_putc(b, '.');
            } else {
                strbuf_printf(b, " UTC, %.0f message%s removed.", removed,
                              removed == 1 ? "" : "s");
            }
        } else {
            strbuf_puts(b, " domauthd has not purged since it started.");
        }
        if (next > 0) {
            strbuf_puts(b, " Next: ");
            put_time(b, (int64_t)next);
            strbuf_puts(b, " UTC.");
        }
    } else {
        strbuf_puts(b, " domauthd: ");
        html_puts(b, why);
        strbuf_putc(b, '.');
    }
    strbuf_free(&st);
    event_store *es = store(app, why, sizeof why);
    /* Bounded by time: no index has the action, so an unbounded newest
     * match walks back through every event when no purge was recorded.
     * Purges run daily; one older than a week is not "the last" to show. */
    const char *purge = "purge";
    event_query eq = {.limit = 1, .actions = &purge, .action_count = 1, .have_since = true,
                      .since = (int64_t)time(NULL) - 7 * 86400};
    if (es != NULL)
        event_store_query(es, &eq, newest_purge, b, why, sizeof why);
    strbuf_puts(b, "</p>");
}

void page_quarantine(web_app *app, const web_form *q, web_response *r, const web_session *s)
{
    strbuf *b = &r->body;
    int64_t now = (int64_t)time(NULL);
    quarantine_query qq = {.limit = 200};
    const char *v;
    const char *err = NULL;
    if ((v = nonempty(q, "since")) != NULL && !(qq.have_since = parse_time(v, now, &qq.since)))
        err = "since: not a time";
    qq.domain = nonempty(q, "domain");
    qq.result = nonempty(q, "result");
    qq.rcpt = nonempty(q, "rcpt");
    if ((v = nonempty(q, "state")) != NULL) {
        if (strcmp(v, "quarantined") && strcmp(v, "released") && strcmp(v, "deleted") &&
            strcmp(v, "all"))
            err = "state: quarantined, released, deleted or all";
        else
            qq.state = v;
    }
    page_begin(r, "Quarantine", s);
    strbuf_puts(b, "<form method=\"get\" action=\"/quarantine\" class=\"filters\">");
    filter_input(b, q, "since", "Since", "7d");
    filter_input(b, q, "domain", "Domain", "example.org");
    filter_input(b, q, "result", "Result", "fail or spf=fail");
    filter_input(b, q, "rcpt", "Recipient", "bob@example.org");
    filter_input(b, q, "state", "State", "quarantined, released, deleted, all");
    strbuf_puts(b, "<button type=\"submit\">Filter</button></form>");
    purge_status(app, b);
    if (err != NULL) {
        r->status = 400;
        strbuf_puts(b, "<p class=\"error\">");
        html_puts(b, err);
        strbuf_puts(b, "</p>");
        page_end(r);
        return;
    }
    char why[600];
    quarantine *qu = open_quarantine(app, why, sizeof why);
    if (qu == NULL) {
        strbuf_puts(b, "<p class=\"error\">");
        html_puts(b, why);
        strbuf_puts(b, "</p>");
        page_end(r);
        return;
    }
    bool admin = s->role == WEB_ROLE_ADMIN;
    if (admin) {
        strbuf_puts(b, "<form method=\"post\" action=\"/quarantine/action\" id=\"bulk\">");
        page_csrf(r, s);
    }
    strbuf_puts(b, "<table class=\"events\" id=\"quarantine\"><thead><tr>");
    if (admin)
        strbuf_puts(b, "<th></th>");
    strbuf_puts(b, "<th>Time (UTC)</th><th>Sender</th><th>Recipients</th><th>Domain</th>"
                   "<th>Results</th><th>Client</th><th>State</th></tr></thead><tbody>");
    qlist_state st = {.b = b, .admin = admin};
    quarantine_index *x = quarantine_get_index(qu);
    int rc = x ? x->ops->query(x, &qq, qlist_row, &st, why, sizeof why) : 0;
    strbuf_puts(b, "</tbody></table>");
    if (rc != 0) {
        strbuf_puts(b, "<p class=\"error\">");
        html_puts(b, why);
        strbuf_puts(b, "</p>");
    } else if (st.rows == 0) {
        strbuf_puts(b, "<p class=\"empty\">Nothing in the quarantine matches.</p>");
    }
    if (admin) {
        strbuf_puts(b, "<p class=\"actions\"><label>Release to another recipient (optional) "
                       "<input name=\"to\" id=\"release-to\" placeholder=\"postmaster@example.org\">"
                       "</label> <button type=\"submit\" name=\"action\" value=\"release\" "
                       "id=\"release-selected\">Release selected</button> <button type=\"submit\" "
                       "name=\"action\" value=\"delete\" id=\"delete-selected\">Delete selected"
                       "</button></p></form>");
    }
    quarantine_close(qu);
    page_end(r);
}

typedef struct qfind {
    char *path;
    char *state;
} qfind;

static int qfind_row(void *ctx, const quarantine_row *row)
{
    qfind *f = ctx;
    f->path = strdup(row->path ? row->path : "");
    f->state = strdup(row->state ? row->state : "");
    return 1;
}

/* The end of the header block (after its blank line), or len. */
static size_t header_end(const char *m, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (m[i] == '\n' && m[i + 1] == '\n')
            return i + 2;
        if (m[i] == '\n' && m[i + 1] == '\r' && i + 2 < len && m[i + 2] == '\n')
            return i + 3;
    }
    return len;
}

enum { VIEW_TEXT_MAX = 256 * 1024 }; /* the text shown of one message, at most */

/* The body as stored (transfer encoding and all), as text. */
static void raw_body(strbuf *b, const char *id, const char *body, size_t len)
{
    size_t shown = len > VIEW_TEXT_MAX ? VIEW_TEXT_MAX : len;
    strbuf_puts(b, "<h2>Body as stored</h2><p class=\"note\"><a href=\"/quarantine/view?id=");
    url_escape(b, id);
    strbuf_puts(b, "\">The text part, decoded</a></p><pre class=\"message\" id=\"body\">");
    html_escape(b, body, shown);
    strbuf_puts(b, "</pre>");
    if (shown < len)
        strbuf_printf(b, "<p class=\"note\" id=\"truncated\">Truncated at %zu bytes (%zu more "
                         "not shown).</p>", shown, len - shown);
}

/* The first text/plain part (else text/html, as its source), decoded and
 * made UTF-8 where its charset allows, escaped: never rendered. */
static void text_part(strbuf *b, const char *id, const char *message, size_t len)
{
    mime_text t;
    int rc = mime_text_extract(message, len, VIEW_TEXT_MAX, &t);
    strbuf_puts(b, "<h2>Text</h2><p class=\"note\" id=\"text-about\">");
    if (rc != 0) {
        strbuf_puts(b, "Out of memory while decoding.");
    } else if (!t.found) {
        strbuf_puts(b, "The message has no text part (attachments only, or parts that could "
                       "not be read).");
    } else {
        html_puts(b, t.type);
        strbuf_puts(b, ", charset ");
        html_puts(b, t.charset);
        strbuf_puts(b, ", ");
        html_puts(b, t.encoding);
        strbuf_printf(b, ", part %zu", t.part);
        if (strcmp(t.type, "text/html") == 0)
            strbuf_puts(b, ": no text/plain part, the HTML is shown as its source text, never "
                           "rendered");
    }
    strbuf_puts(b, ". <a href=\"/quarantine/view?raw=1&amp;id=");
    url_escape(b, id);
    strbuf_puts(b, "\">The body as stored</a></p>");
    if (rc == 0 && t.note_count > 0) {
        strbuf_puts(b, "<ul class=\"notes\" id=\"text-notes\">");
        for (size_t i = 0; i < t.note_count && i < MIME_NOTES_MAX; i++) {
            strbuf_puts(b, "<li>");
            html_puts(b, t.notes[i]);
            strbuf_puts(b, "</li>");
        }
        if (t.note_count > MIME_NOTES_MAX)
            strbuf_printf(b, "<li>and %zu more</li>", t.note_count - MIME_NOTES_MAX);
        strbuf_puts(b, "</ul>");
    }
    if (rc == 0 && t.found) {
        strbuf_puts(b, "<pre class=\"message\" id=\"body\">");
        html_escape(b, t.text.data ? t.text.data : "", t.text.len);
        strbuf_puts(b, "</pre>");
        if (t.truncated)
            strbuf_printf(b, "<p class=\"note\" id=\"truncated\">Truncated at %zu bytes: the "
                             "rest of the text is not shown.</p>", t.text.len);
    }
    mime_text_free(&t);
}

void page_quarantine_view(web_app *app, const web_form *q, web_response *r,
                          const web_session *s)
{
    const char *id = web_form_get(q, "id");
    if (!spool_id_valid(id)) {
        page_message(r, 400, "Bad request", "id: a quarantine id", s);
        return;
    }
    char why[700];
    quarantine *qu = open_quarantine(app, why, sizeof why);
    if (qu == NULL) {
        page_message(r, 503, "Quarantine", why, s);
        return;
    }
    qfind f = {0};
    quarantine_index *x = quarantine_get_index(qu);
    quarantine_query qq = {.id = id, .state = "all", .limit = 1};
    if (x != NULL && x->ops->query(x, &qq, qfind_row, &f, why, sizeof why) != 0) {
        quarantine_close(qu);
        page_message(r, 503, "Quarantine", why, s);
        return;
    }
    quarantine_close(qu);
    if (f.path == NULL) {
        page_message(r, 404, "Not found", "No such message in the quarantine.", s);
        return;
    }
    spool_entry e;
    char *message = NULL;
    size_t len = 0;
    page_begin(r, "Quarantined message", s);
    strbuf *b = &r->body;
    if (spool_read(f.path, &e, &message, &len, why, sizeof why) != 0) {
        strbuf_puts(b, "<p class=\"error\">");
        html_puts(b, strcmp(f.state, "quarantined") ? "This message is " : "");
        if (strcmp(f.state, "quarantined")) {
            html_puts(b, f.state);
            strbuf_puts(b, "; its copy is gone. ");
        }
        html_puts(b, why);
        strbuf_puts(b, "</p>");
    } else {
        strbuf_puts(b, "<table class=\"facts\" id=\"qfacts\">");
        status_row(b, "id", id);
        status_row(b, "state", f.state);
        status_row(b, "sender", e.mail_from && *e.mail_from ? e.mail_from : "<>");
        for (size_t i = 0; i < e.rcpt_count; i++)
            status_row(b, "recipient", e.rcpts[i]);
        status_row(b, "client", e.client_ip);
        status_row(b, "HELO", e.helo);
        status_row(b, "domain", e.domain);
        for (size_t i = 0; i < e.result_count; i++)
            status_row(b, "result", e.results[i]);
        status_row(b, "told the sender", e.told);
        status_row(b, "reasons", e.reasons);
        strbuf_puts(b, "</table>");
        if (s->role == WEB_ROLE_ADMIN && strcmp(f.state, "quarantined") == 0) {
            strbuf_puts(b, "<form method=\"post\" action=\"/quarantine/action\" class=\"actions\">");
            page_csrf(r, s);
            strbuf_puts(b, "<input type=\"hidden\" name=\"id\" value=\"");
            html_puts(b, id);
            strbuf_puts(b, "\"><label>Release to another recipient (optional) <input name=\"to\" "
                           "id=\"release-to\"></label> <button type=\"submit\" name=\"action\" "
                           "value=\"release\" id=\"release\">Release</button> <button "
                           "type=\"submit\" name=\"action\" value=\"delete\" id=\"delete\">Delete"
                           "</button></form>");
        }
        /* The message as text, never as HTML: headers, then its text part
         * decoded (msg/mime.h), or with raw=1 the body as it is stored. */
        size_t he = header_end(message, len);
        strbuf_puts(b, "<h2>Headers</h2><pre class=\"message\" id=\"headers\">");
        html_escape(b, message, he);
        strbuf_puts(b, "</pre>");
        if (web_form_get(q, "raw") != NULL)
            raw_body(b, id, message + he, len - he);
        else
            text_part(b, id, message, len);
        free(message);
        spool_entry_free(&e);
    }
    free(f.path);
    free(f.state);
    page_end(r);
}

/* An address for "release to": local@domain, printable, no blanks. */
static bool valid_address(const char *a)
{
    size_t n = strlen(a);
    if (n == 0 || n > 254 || strchr(a, '@') == NULL)
        return false;
    for (const char *p = a; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == '<' || *p == '>' ||
            *p == '"' || *p == '\\')
            return false;
    return true;
}

void page_quarantine_action(web_app *app, const web_form *f, web_response *r,
                            const web_session *s)
{
    const char *action = web_form_get(f, "action");
    const char *to = web_form_get(f, "to");
    if (to != NULL && *to == '\0')
        to = NULL;
    if (action == NULL || (strcmp(action, "release") && strcmp(action, "delete"))) {
        page_message(r, 400, "Bad request", "action: release or delete", s);
        return;
    }
    if (to != NULL && (strcmp(action, "release") || !valid_address(to))) {
        page_message(r, 400, "Bad request", "to: one address, local@domain", s);
        return;
    }
    page_begin(r, strcmp(action, "release") ? "Delete" : "Release", s);
    strbuf *b = &r->body;
    strbuf_puts(b, "<ul class=\"results\" id=\"action-results\">");
    size_t i = 0, n = 0;
    const char *id;
    while ((id = web_form_next(f, "id", &i)) != NULL) {
        n++;
        strbuf_puts(b, "<li>");
        html_puts(b, id);
        strbuf_puts(b, ": ");
        if (!spool_id_valid(id)) {
            strbuf_puts(b, "not a quarantine id</li>");
            continue;
        }
        char command[512];
        snprintf(command, sizeof command, "quarantine-%s %s web:%s%s%s", action, id, s->user,
                 to ? " " : "", to ? to : "");
        strbuf answer;
        strbuf_init(&answer);
        char why[600];
        if (control_call(app->cfg->control_listen, command, &answer, why, sizeof why) != 0) {
            html_puts(b, why);
        } else {
            while (answer.len > 0 && answer.data[answer.len - 1] == '\n')
                answer.data[--answer.len] = '\0';
            html_puts(b, answer.data ? answer.data : "(no answer)");
        }
        syslog(LOG_NOTICE, "%s: %s %s%s%s: %s", s->user, action, id, to ? " to " : "",
               to ? to : "", answer.data ? answer.data : why);
        strbuf_free(&answer);
        strbuf_puts(b, "</li>");
    }
    strbuf_puts(b, "</ul>");
    if (n == 0)
        strbuf_puts(b, "<p class=\"error\">No message selected.</p>");
    strbuf_puts(b, "<p><a href=\"/quarantine\">Back to the quarantine</a></p>");
    page_end(r);
}

/* ------------------------------------------------------------ rollout */

static int rollout_feed(void *ctx, int64_t id, const event_record *e)
{
    (void)id;
    rollout_add(ctx, e);
    return 0;
}

/* The rollout report (src/report, as `domauth report` computes it) over the
 * last DAYS days, for all mail or for mail to one recipient domain: what
 * turning monitor off would change there ("configured"), and what stricter
 * policies would block, with the likely false positives. */
void page_rollout(web_app *app, const web_form *q, web_response *r, const web_session *s)
{
    strbuf *b = &r->body;
    int64_t now = (int64_t)time(NULL);
    const char *v = nonempty(q, "days");
    char *end;
    long days = v ? strtol(v, &end, 10) : 7;
    if (v != NULL && (*end || days < 1 || days > 90)) {
        page_message(r, 400, "Bad request", "days: 1 to 90", s);
        return;
    }
    const char *domain = nonempty(q, "domain");
    char rcpt_at[300] = "";
    if (domain != NULL)
        snprintf(rcpt_at, sizeof rcpt_at, "@%s", domain);
    page_begin(r, "Rollout report", s);
    strbuf_puts(b, "<form method=\"get\" action=\"/rollout\" class=\"filters\">");
    filter_input(b, q, "days", "Days", "7");
    filter_input(b, q, "domain", "Recipient domain", "example.org (empty: all mail)");
    strbuf_puts(b, "<button type=\"submit\" id=\"rollout-button\">Report</button></form>"
                   "<p class=\"note\">Before <code>monitor = no</code> for a domain: the "
                   "\"configured\" line is what its settings would have blocked or "
                   "quarantined that monitor mode let through, and the SPF-only lines count "
                   "the forwarded mail (SPF fail with a DKIM pass) they would lose.</p>");
    char why[600];
    event_store *st = store(app, why, sizeof why);
    rollout_report *rep = st ? malloc(sizeof *rep) : NULL;
    rollout_options ro = {.since = now - days * 86400, .until = now + 1, .threshold_count = 2,
                          .thresholds = {3, 5}};
    if (st == NULL || rep == NULL || rollout_init(rep, &ro, why, sizeof why) != 0) {
        strbuf_puts(b, "<p class=\"error\">");
        html_puts(b, st == NULL || rep != NULL ? why : "out of memory");
        strbuf_puts(b, "</p>");
        free(rep);
        page_end(r);
        return;
    }
    event_query eq = {.have_since = true, .since = ro.since, .have_until = true,
                      .until = ro.until, .rcpt = domain ? rcpt_at : NULL};
    if (event_store_query(st, &eq, rollout_feed, rep, why, sizeof why) != 0) {
        strbuf_puts(b, "<p class=\"error\">");
        html_puts(b, why);
        strbuf_puts(b, "</p>");
        rollout_free(rep);
        free(rep);
        page_end(r);
        return;
    }
    rollout_finish(rep);
    uint64_t checked = rep->events - rep->not_checked;
    strbuf_printf(b, "<p id=\"rollout-summary\">%llu events, %llu checked, %llu not checked "
                     "(whitelists, SMTP AUTH, local: no policy acts on them).</p>",
                  (unsigned long long)rep->events, (unsigned long long)checked,
                  (unsigned long long)rep->not_checked);
    strbuf_puts(b, "<table class=\"events\" id=\"rollout\"><thead><tr><th>policy</th>"
                   "<th>messages</th><th>%</th><th>domains</th><th>networks</th>"
                   "<th>forwarded (SPF fail, DKIM pass)</th></tr></thead><tbody>");
    for (size_t i = 0; i < rep->candidate_count; i++) {
        const rollout_candidate *c = &rep->candidates[i];
        strbuf_puts(b, "<tr><td>");
        html_puts(b, c->name);
        strbuf_printf(b, "</td><td>%llu</td><td>%.1f</td><td>%zu</td><td>%zu</td><td>%llu</td>"
                         "</tr>",
                      (unsigned long long)c->messages,
                      checked ? 100.0 * (double)c->messages / (double)checked : 0.0,
                      c->domains.count, c->networks.count, (unsigned long long)c->forwarded);
    }
    strbuf_puts(b, "</tbody></table>");
    if (rep->candidate_count > 0) {
        const rollout_candidate *c = &rep->candidates[0];
        char title[160];
        snprintf(title, sizeof title, "%s, per day", c->name);
        strbuf_puts(b, "<figure><figcaption>");
        html_puts(b, title);
        strbuf_puts(b, "</figcaption>");
        svg_bars(b, title, c->per_day, rep->days, "first day", "today");
        strbuf_puts(b, "</figure>");
    }
    strbuf_puts(b, "<figure><figcaption>SPF temperror per day (a spike is DNS trouble, not "
                   "forgery)</figcaption>");
    svg_bars(b, "SPF temperror per day", rep->temperror_per_day, rep->days, "first day",
             "today");
    strbuf_puts(b, "</figure><h2>Sender domains failing SPF most</h2><table class=\"events\" "
                   "id=\"rollout-domains\"><thead><tr><th>domain</th><th>failures</th>"
                   "<th>with DKIM pass</th><th>networks</th></tr></thead><tbody>");
    for (size_t i = 0; i < rep->domain_count && i < 20; i++) {
        const rollout_domain *d = &rep->domains[i];
        strbuf_puts(b, "<tr><td>");
        html_puts(b, d->domain);
        strbuf_printf(b, "</td><td>%llu</td><td>%llu</td><td>%zu</td></tr>",
                      (unsigned long long)d->failed, (unsigned long long)d->dkim_pass,
                      d->networks.count);
    }
    strbuf_puts(b, "</tbody></table>");
    if (rep->failed)
        strbuf_puts(b, "<p class=\"error\">Out of memory while counting: the figures are "
                       "incomplete.</p>");
    rollout_free(rep);
    free(rep);
    page_end(r);
}

/* ------------------------------------------------------------ records */

/* Splits a blank- or comma-separated field into at most max entries,
 * copied into buf; returns the count (entries past max are refused). */
static size_t split_list(const char *v, char *buf, size_t size, const char **out, size_t max,
                         bool *too_many)
{
    size_t n = 0;
    *too_many = false;
    if (v == NULL)
        return 0;
    snprintf(buf, size, "%s", v);
    for (char *save = NULL, *tok = strtok_r(buf, " \t\r\n,", &save); tok;
         tok = strtok_r(NULL, " \t\r\n,", &save)) {
        if (n == max) {
            *too_many = true;
            break;
        }
        out[n++] = tok;
    }
    return n;
}

static void checkbox(strbuf *b, const web_form *q, const char *name, const char *label)
{
    strbuf_puts(b, "<label class=\"check\"><input type=\"checkbox\" name=\"");
    html_puts(b, name);
    strbuf_puts(b, "\" value=\"1\"");
    if (web_form_get(q, name) != NULL)
        strbuf_puts(b, " checked");
    strbuf_puts(b, "> ");
    html_puts(b, label);
    strbuf_puts(b, "</label>");
}

/* The SPF record wizard (src/record/wizard.h) as a form: answers in, the
 * record, its BIND line and its answer size out. Pure: no DNS. */
void page_records(web_app *app, const web_form *q, web_response *r, const web_session *s)
{
    (void)app;
    strbuf *b = &r->body;
    page_begin(r, "Records: SPF wizard", s);
    strbuf_puts(b, "<form method=\"get\" action=\"/records\" class=\"filters\" id=\"wizard\">");
    filter_input(b, q, "domain", "Domain", "example.org");
    checkbox(b, q, "mx", "its MX hosts send");
    checkbox(b, q, "a", "its own address sends");
    checkbox(b, q, "no_mail", "it sends no mail");
    filter_input(b, q, "ip4", "IPv4 senders", "192.0.2.0/24 198.51.100.7");
    filter_input(b, q, "ip6", "IPv6 senders", "2001:db8::/32");
    filter_input(b, q, "hosts", "Other hosts", "out.example.net");
    filter_input(b, q, "includes", "Services (include:)", "_spf.example.com");
    filter_input(b, q, "all", "Others", "~ (softfail), - (fail), ? (neutral)");
    strbuf_puts(b, "<button type=\"submit\" id=\"wizard-button\">Build the record</button></form>");
    const char *domain = nonempty(q, "domain");
    if (domain == NULL) {
        page_end(r);
        return;
    }
    char b4[2048], b6[2048], bh[2048], bi[2048];
    const char *ip4[32], *ip6[32], *hosts[32], *inc[32];
    bool over4, over6, overh, overi;
    spf_wizard_answers a = {.no_mail = web_form_get(q, "no_mail") != NULL,
                            .mx = web_form_get(q, "mx") != NULL,
                            .a = web_form_get(q, "a") != NULL};
    a.ip4_count = split_list(web_form_get(q, "ip4"), b4, sizeof b4, ip4, 32, &over4);
    a.ip6_count = split_list(web_form_get(q, "ip6"), b6, sizeof b6, ip6, 32, &over6);
    a.host_count = split_list(web_form_get(q, "hosts"), bh, sizeof bh, hosts, 32, &overh);
    a.include_count = split_list(web_form_get(q, "includes"), bi, sizeof bi, inc, 32, &overi);
    a.ip4 = ip4;
    a.ip6 = ip6;
    a.hosts = hosts;
    a.includes = inc;
    const char *all = nonempty(q, "all");
    a.all = all == NULL ? 0 : all[0];
    char err[300] = "";
    char *record = NULL;
    if (over4 || over6 || overh || overi)
        snprintf(err, sizeof err, "at most 32 entries a field");
    else if (all != NULL && (strlen(all) != 1 || strchr("-~?", all[0]) == NULL))
        snprintf(err, sizeof err, "others: -, ~ or ?");
    else
        record = spf_wizard_record(&a, err, sizeof err);
    if (record == NULL) {
        r->status = 400;
        strbuf_puts(b, "<p class=\"error\" id=\"wizard-error\">");
        html_puts(b, err);
        strbuf_puts(b, "</p>");
        page_end(r);
        return;
    }
    char *zone = spf_wizard_zone_line(domain, record);
    size_t size = spf_wizard_answer_size(domain, record);
    strbuf_puts(b, "<h2>The record</h2><pre class=\"header\" id=\"wizard-record\">");
    html_puts(b, record);
    strbuf_puts(b, "</pre><h2>For a BIND zone file</h2><pre class=\"header\" id=\"wizard-zone\">");
    html_puts(b, zone ? zone : "(out of memory)");
    strbuf_printf(b, "</pre><p class=\"note\">A DNS answer of %zu bytes%s. Check the published "
                     "tree with <code>domauth spf lint ", size,
                  size > 512 ? ": over 512, it needs EDNS0 or TCP" : "");
    html_puts(b, domain);
    strbuf_puts(b, "</code>.</p>");
    free(zone);
    free(record);
    page_end(r);
}

/* ------------------------------------------------------------ style */

const char web_style_css[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1c1c1c;background:#f6f6f4}"
    "header{display:flex;gap:1.5em;align-items:center;background:#23313f;color:#fff;"
    "padding:.5em 1em}header a{color:#dfe8f0;margin-right:1em;text-decoration:none}"
    ".brand{font-weight:700;letter-spacing:.05em}.logout{margin-left:auto}"
    "main{padding:1em 1.5em;max-width:1200px}h1{font-size:1.4em;margin:.2em 0 .6em}"
    "h2{font-size:1.1em;margin:1.2em 0 .4em}table{border-collapse:collapse;background:#fff}"
    "th,td{text-align:left;padding:.25em .6em;border-bottom:1px solid #e3e3e0;"
    "vertical-align:top}table.events{width:100%}.facts th{color:#555;font-weight:500}"
    ".cards{display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start}.sub{color:#666;font-size:.9em}"
    ".filters{display:flex;flex-wrap:wrap;gap:.5em 1em;margin-bottom:1em}"
    ".filters label{display:flex;flex-direction:column;font-size:.85em;color:#444}"
    ".filters button{align-self:flex-end}input{padding:.25em}.error,.down{color:#a01818}"
    ".res{white-space:nowrap;padding:0 .2em}.res-pass{color:#176b20}.res-fail{color:#a01818}"
    ".res-softfail{color:#9a5a00}pre.message,pre.header{background:#fff;padding:.6em;"
    "border:1px solid #ddd;white-space:pre-wrap;word-break:break-all;max-height:40em;"
    "overflow:auto}svg.chart{width:100%;max-width:640px;background:#fff;border:1px solid #e3e3e0}"
    "svg .bar{fill:#3b6ea5}svg .axis{stroke:#999}svg .label{font-size:11px;fill:#333}"
    "figure{margin:.5em 0}figcaption{font-size:.9em;color:#444}"
    ".login{display:flex;flex-direction:column;gap:.6em;max-width:20em}"
    "tr.default td,tr.inherited td{color:#777}.check{flex-direction:row!important;"
    "align-items:center;gap:.3em}"
    ".login label{display:flex;flex-direction:column}.pager{margin-top:1em}\n";
