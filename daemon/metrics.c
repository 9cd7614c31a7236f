/* metrics.c: the Prometheus endpoint ([daemon] metrics = ADDRESS:PORT):
 * GET /metrics answers the counters of `domauth status` and the latency
 * histograms of the checks in the text exposition format 0.0.4, one
 * request a connection. A listener of the registry like any other, so the
 * session limit, the idle and request timeouts and the counted refusal
 * logs of listen.c bound it; the request itself is parsed by
 * src/proto/http.c within HTTP_REQUEST_MAX bytes. It carries no mail and
 * changes nothing: a port that cannot be opened is logged and mail flows.
 * Every name written here is listed in domauthd(8), METRICS. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "domauthd.h"
#include "domauth_dmarc.h"
#include "proto/http.h"
#include "util/strbuf.h"

typedef struct metrics_state {
    char buf[HTTP_REQUEST_MAX];
    size_t len;
    bool answered;
} metrics_state;

static void *metrics_state_new(conn *c)
{
    (void)c;
    return calloc(1, sizeof(metrics_state));
}

static void metrics_close(conn *c)
{
    free(c->state);
    c->state = NULL;
}

/* Result words by da_spf_result and da_dkim_result, as domauth status
 * and Authentication-Results spell them. */
static const char *const spf_words[SPF_RESULT_COUNT] = {
    "none", "neutral", "pass", "fail", "softfail", "temperror", "permerror"};
static const char *const dkim_words[DKIM_RESULT_COUNT] = {
    "none", "pass", "fail", "neutral", "policy", "temperror", "permerror"};
static const char *const timing_names[SVC_TIMINGS] = {
    [SVC_TIME_SPF] = "spf",
    [SVC_TIME_DKIM] = "dkim",
    [SVC_TIME_SENDERID] = "senderid",
    [SVC_TIME_MESSAGE] = "message",
};

static void family(strbuf *sb, const char *name, const char *type, const char *help)
{
    strbuf_printf(sb, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample(strbuf *sb, const char *name, uint64_t v)
{
    strbuf_printf(sb, "%s %llu\n", name, (unsigned long long)v);
}

/* One sample with one label; values here are fixed words, never input. */
static void labelled(strbuf *sb, const char *name, const char *label, const char *value,
                     uint64_t v)
{
    strbuf_printf(sb, "%s{%s=\"%s\"} %llu\n", name, label, value, (unsigned long long)v);
}

static void counter(strbuf *sb, const char *name, const char *help, uint64_t v)
{
    family(sb, name, "counter", help);
    sample(sb, name, v);
}

static void gauge(strbuf *sb, const char *name, const char *help, uint64_t v)
{
    family(sb, name, "gauge", help);
    sample(sb, name, v);
}

/* Microseconds as seconds, exactly (no floating point). */
static void seconds(strbuf *sb, uint64_t us)
{
    strbuf_printf(sb, "%llu.%06llu", (unsigned long long)(us / 1000000),
                  (unsigned long long)(us % 1000000));
}

static void histograms(strbuf *sb, const svc_counters *k)
{
    const char *name = "domauth_check_duration_seconds";
    family(sb, name, "histogram",
           "Time a check took: spf, dkim and senderid per message from the start of the "
           "check to its result; message: what the MTA waited for a checked message.");
    for (int t = 0; t < SVC_TIMINGS; t++) {
        const svc_histogram *h = &k->latency[t];
        uint64_t cumulative = 0;
        for (int b = 0; b < SVC_LATENCY_BUCKETS; b++) {
            cumulative += h->bucket[b];
            strbuf_printf(sb, "%s_bucket{check=\"%s\",le=\"", name, timing_names[t]);
            seconds(sb, svc_latency_bounds_us[b]);
            strbuf_printf(sb, "\"} %llu\n", (unsigned long long)cumulative);
        }
        cumulative += h->bucket[SVC_LATENCY_BUCKETS];
        strbuf_printf(sb, "%s_bucket{check=\"%s\",le=\"+Inf\"} %llu\n", name, timing_names[t],
                      (unsigned long long)cumulative);
        strbuf_printf(sb, "%s_sum{check=\"%s\"} ", name, timing_names[t]);
        seconds(sb, h->sum_us);
        strbuf_printf(sb, "\n%s_count{check=\"%s\"} %llu\n", name, timing_names[t],
                      (unsigned long long)h->count);
    }
}

static void write_metrics(domauthd *d, strbuf *sb)
{
    const svc_counters *k = &d->counters;
    const daemon_stats *st = &d->stats;

    family(sb, "domauth_build_info", "gauge", "The running version (always 1).");
    labelled(sb, "domauth_build_info", "version", DOMAUTH_VERSION, 1);
    gauge(sb, "domauth_start_time_seconds", "When domauthd started, in seconds since the epoch.",
          (uint64_t)d->started_at);
    gauge(sb, "domauth_monitor_mode", "1 while monitor = yes (nothing is enforced), else 0.",
          d->config->config.global.monitor ? 1 : 0);
    family(sb, "domauth_reloads_total", "counter", "Reloads (SIGHUP, domauth reload) by outcome.");
    labelled(sb, "domauth_reloads_total", "outcome", "ok", d->reloads);
    labelled(sb, "domauth_reloads_total", "outcome", "refused", d->reloads_refused);

    counter(sb, "domauth_messages_total", "Messages, one event each.", k->messages);
    counter(sb, "domauth_checked_total", "Messages checked.", k->checked);
    counter(sb, "domauth_not_checked_total", "Messages not checked (a skip reason applied).",
            k->skipped);
    family(sb, "domauth_skipped_total", "counter",
           "Messages by skip reason (sender-whitelisted ones were checked, then exempted).");
    for (int r = 1; r < SKIP_REASON_COUNT; r++)
        labelled(sb, "domauth_skipped_total", "reason", skip_reason_name((skip_reason)r),
                 k->skipped_by[r]);
    family(sb, "domauth_spf_results_total", "counter", "SPF results, one per address checked.");
    for (int r = 0; r < SPF_RESULT_COUNT; r++)
        labelled(sb, "domauth_spf_results_total", "result", spf_words[r], k->spf[r]);
    family(sb, "domauth_dkim_results_total", "counter", "DKIM results, one per signature.");
    for (int r = 0; r < DKIM_RESULT_COUNT; r++)
        labelled(sb, "domauth_dkim_results_total", "result", dkim_words[r], k->dkim[r]);
    family(sb, "domauth_dmarc_results_total", "counter",
           "DMARC results, one per From: domain judged.");
    for (int r = 0; r < DMARC_RESULT_COUNT; r++)
        labelled(sb, "domauth_dmarc_results_total", "result",
                 da_dmarc_result_name((da_dmarc_result)r), k->dmarc[r]);
    family(sb, "domauth_actions_total", "counter",
           "What was done with each message (redirect counts as accept).");
    labelled(sb, "domauth_actions_total", "action", "accept", k->accepted);
    labelled(sb, "domauth_actions_total", "action", "tag", k->tagged);
    labelled(sb, "domauth_actions_total", "action", "quarantine", k->quarantined);
    labelled(sb, "domauth_actions_total", "action", "defer", k->deferred);
    labelled(sb, "domauth_actions_total", "action", "reject", k->rejected);
    counter(sb, "domauth_held_back_total",
            "Messages whose enforced action monitor mode held back.", k->held_back);
    counter(sb, "domauth_quarantine_failures_total",
            "Messages to quarantine that could not be kept (quarantine_failure applied).",
            k->quarantine_failures);
    counter(sb, "domauth_invalid_input_total",
            "Over-long addresses and unusable From: fields.", k->invalid_input);
    counter(sb, "domauth_errors_total", "Out of memory and engine failures.", k->errors);
    histograms(sb, k);

    da_dns_cache_stats cs = {0};
    if (d->cache != NULL)
        da_dns_cache_get_stats(d->cache, &cs);
    counter(sb, "domauth_dns_cache_hits_total", "DNS answers from the cache.", cs.hits);
    counter(sb, "domauth_dns_cache_misses_total", "DNS questions asked upstream.", cs.misses);
    counter(sb, "domauth_dns_cache_coalesced_total",
            "DNS questions that joined an identical one in flight.", cs.coalesced);
    counter(sb, "domauth_dns_cache_evictions_total", "Answers evicted by the size bound.",
            cs.evictions);
    counter(sb, "domauth_dns_cache_expirations_total", "Answers expired by their TTL.",
            cs.expirations);
    counter(sb, "domauth_dns_upstream_errors_total", "Upstream DNS errors and timeouts.",
            cs.upstream_errors);
    gauge(sb, "domauth_dns_cache_entries", "Answers in the cache.", cs.entries);
    gauge(sb, "domauth_dns_in_flight", "DNS questions in flight.", cs.in_flight);

    eventlog_stats es = {0};
    if (d->events != NULL)
        eventlog_get_stats(d->events, &es);
    counter(sb, "domauth_eventlog_written_total", "Events stored by every output that is on.",
            es.written);
    counter(sb, "domauth_eventlog_dropped_total", "Events refused: the queue was full.",
            es.dropped);
    counter(sb, "domauth_eventlog_write_errors_total",
            "Events some output failed to store (disk full, database locked).",
            es.write_errors);
    counter(sb, "domauth_eventlog_purged_total", "Events deleted past event_days.", es.purged);
    counter(sb, "domauth_eventlog_spooled_total",
            "Events kept in event_spool while the database failed.", es.spooled);
    counter(sb, "domauth_eventlog_replayed_total", "Events stored from event_spool.",
            es.replayed);
    gauge(sb, "domauth_eventlog_spool_bytes", "Bytes waiting in event_spool.", es.spool_bytes);
    counter(sb, "domauth_eventlog_spool_bad_lines_total",
            "Lines of event_spool that did not read as an event, skipped.", es.spool_bad_lines);
    counter(sb, "domauth_eventlog_purges_skipped_total",
            "Daily purges left to the node holding the cluster's purge lease.", es.purge_skipped);
    counter(sb, "domauth_dmarc_report_runs_skipped_total",
            "Daily DMARC report runs left to the node holding the cluster's report lease.",
            dmarc_timer_lease_skipped(d));

    counter(sb, "domauth_connections_total", "Connections accepted, every listener.",
            st->connections);
    family(sb, "domauth_sessions_active", "gauge", "Sessions open, by listener.");
    for (const listener *l = d->listeners; l != NULL; l = listener_next(l))
        labelled(sb, "domauth_sessions_active", "listener", listener_kind_name(l),
                 st->kind_sessions_active[listener_kind_of(l)]);
    counter(sb, "domauth_sessions_refused_total", "Connections closed at a session limit.",
            st->sessions_refused);
    counter(sb, "domauth_idle_timeouts_total", "Sessions closed by an idle timeout.",
            st->idle_timeouts);
    counter(sb, "domauth_request_timeouts_total", "Sessions closed by request_timeout.",
            st->request_timeouts);
    counter(sb, "domauth_reads_stopped_total",
            "Times a connection stopped reading (input or replies backed up).",
            st->reads_stopped);
    counter(sb, "domauth_protocol_errors_total", "Malformed milter, policy or socketmap input.",
            st->protocol_errors);
    family(sb, "domauth_socketmap_replies_total", "counter", "SRS socketmap lookups by reply.");
    labelled(sb, "domauth_socketmap_replies_total", "reply", "ok", st->socketmap.ok);
    labelled(sb, "domauth_socketmap_replies_total", "reply", "notfound", st->socketmap.notfound);
    labelled(sb, "domauth_socketmap_replies_total", "reply", "temp", st->socketmap.temp);
    labelled(sb, "domauth_socketmap_replies_total", "reply", "perm", st->socketmap.perm);
}

static void reply(conn *c, unsigned code, const char *extra, const char *body, size_t len,
                  bool head)
{
    strbuf out;
    strbuf_init(&out);
    http_response(&out, code, len ? "text/plain; charset=utf-8" : NULL, extra, body, len, head);
    if (!out.failed)
        conn_send(c, out.data, out.len);
    strbuf_free(&out);
    conn_close_when_written(c);
}

static void answer(conn *c, const http_request *req)
{
    bool head = strcmp(req->method, "HEAD") == 0;
    if (strcmp(req->path, "/metrics") != 0) {
        static const char text[] = "not found: the metrics are at /metrics\n";
        reply(c, 404, NULL, text, sizeof text - 1, head);
        return;
    }
    if (strcmp(req->method, "GET") != 0 && !head) {
        static const char text[] = "only GET and HEAD\n";
        reply(c, 405, "Allow: GET, HEAD\r\n", text, sizeof text - 1, false);
        return;
    }
    strbuf body;
    strbuf_init(&body);
    write_metrics(c->daemon, &body);
    if (body.failed) {
        static const char text[] = "out of memory\n";
        reply(c, 500, NULL, text, sizeof text - 1, head);
    } else {
        strbuf out;
        strbuf_init(&out);
        http_response(&out, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, body.data,
                      body.len, head);
        if (!out.failed)
            conn_send(c, out.data, out.len);
        strbuf_free(&out);
        conn_close_when_written(c);
    }
    strbuf_free(&body);
}

static size_t metrics_data(conn *c, const uint8_t *data, size_t len)
{
    metrics_state *s = c->state;
    if (s->answered)
        return len; /* one request a connection: the rest is ignored */
    size_t room = sizeof s->buf - s->len;
    size_t take = len < room ? len : room;
    memcpy(s->buf + s->len, data, take);
    s->len += take;
    http_request req;
    http_status st = http_request_parse(s->buf, s->len, &req);
    if (st == HTTP_NEED_MORE && take < len)
        st = HTTP_TOO_LARGE; /* cannot happen: the parser says so at the limit */
    if (st == HTTP_NEED_MORE)
        return len;
    s->answered = true;
    if (st == HTTP_OK) {
        answer(c, &req);
    } else {
        c->daemon->stats.protocol_errors++;
        unsigned code = st == HTTP_TOO_LARGE ? 431 : st == HTTP_VERSION ? 505 : 400;
        char text[200];
        int n = snprintf(text, sizeof text, "%s\n",
                         st == HTTP_BAD ? req.why : http_reason(code));
        reply(c, code, NULL, text, n > 0 ? (size_t)n : 0, false);
    }
    return len;
}

static const conn_handler metrics_handler = {metrics_state_new, metrics_data, metrics_close};

static const char *metrics_address(const domauth_config *cfg)
{
    return cfg->metrics_listen;
}

static unsigned metrics_socket_mode(const domauth_config *cfg)
{
    (void)cfg;
    return 0; /* TCP only */
}

static unsigned metrics_max(const domauth_config *cfg)
{
    (void)cfg;
    return 8; /* a scraper or two, not traffic */
}

static unsigned metrics_idle(const domauth_config *cfg)
{
    (void)cfg;
    return 10;
}

const listener_kind metrics_listener = {
    .kind = CONN_METRICS,
    .name = "metrics",
    .unit = "request",
    .framing = FRAMING_EMPTY_LINE,
    .handler = &metrics_handler,
    .address = metrics_address,
    .socket_mode = metrics_socket_mode,
    .max_sessions = metrics_max,
    .idle_timeout = metrics_idle,
    .max_sessions_key = "the metrics session limit (8)",
    .idle_timeout_key = "the metrics idle timeout (10 s)",
    .refused_what = "metrics connections refused",
    .serves_mail = false,
    .inet = true,
};
