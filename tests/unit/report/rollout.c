/* rollout.c: the rollout report against a generated event history with
 * known answers (issue 9): the aggregation (src/report/rollout.c) fed
 * directly, then the same history written to a store and read back by the
 * built `domauth report` (DOMAUTH_BIN) in text, JSON and HTML, where a
 * hostile domain must arrive escaped. TAP. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "report/rollout.h"
#include "store/event_store.h"
#include "tap.h"

enum { DAY = 86400, SINCE = 1793491200 /* 2026-11-01 00:00 UTC */, DAYS = 7 };

/* The history: what each part contributes is the known answer. */
typedef struct history {
    event_record records[256];
    event_result results[256][2];
    char ips[256][48];
    size_t count;
} history;

static event_record *add(history *h, int day, int second, const char *ip, const char *domain,
                         const char *spf, double score, const char *dkim, const char *dkim_domain)
{
    event_record *e = &h->records[h->count];
    event_result *res = h->results[h->count];
    memset(e, 0, sizeof *e);
    snprintf(h->ips[h->count], sizeof h->ips[0], "%s", ip);
    e->time = SINCE + (int64_t)day * DAY + second;
    e->listener = "milter";
    e->client_ip = h->ips[h->count];
    e->helo = "mx.example";
    e->mail_from = "someone@example";
    e->identity = spf ? "mailfrom" : NULL;
    e->domain = domain;
    e->result = spf;
    e->score = score;
    e->action = "accept";
    size_t n = 0;
    if (spf != NULL)
        res[n++] = (event_result){.method = "spf", .result = spf, .domain = domain};
    if (dkim != NULL)
        res[n++] = (event_result){.method = "dkim", .result = dkim, .domain = dkim_domain};
    e->results = res;
    e->result_count = n;
    h->count++;
    return e;
}

static void make_history(history *h)
{
    h->count = 0;
    char ip[48];
    for (int d = 0; d < DAYS; d++) {
        for (int i = 0; i < 10; i++) { /* 70 passes */
            snprintf(ip, sizeof ip, "192.0.2.%d", 10 + i);
            add(h, d, 100 + i, ip, "good.test", "pass", 0, NULL, NULL);
        }
        for (int i = 0; i < 2; i++) { /* 14 forgeries, monitor held back a reject */
            snprintf(ip, sizeof ip, "203.0.113.%d", d * 2 + i);
            add(h, d, 200 + i, ip, "spoof.test", "fail", 5, NULL, NULL)->held_action = "reject";
        }
        /* 7 forwarded: SPF fail from the forwarder, the author's signature valid */
        add(h, d, 300, "198.51.100.7", "news.test", "fail", 5, "pass", "news.test")->held_action =
            "reject";
        if (d != 5) /* one temperror a day but on day 5 */
            add(h, d, 400, "192.0.2.70", "dns.test", "temperror", 0, NULL, NULL);
    }
    add(h, 6, 500, "2001:db8:1::5", "spoof.test", "fail", 5, NULL, NULL)->held_action = "reject";
    for (int i = 0; i < 3; i++) /* softfail, day 2 */
        add(h, 2, 600 + i, "192.0.2.50", "soft.test", "softfail", 2, NULL, NULL);
    for (int i = 0; i < 4; i++) /* SPF pass, DKIM fail, day 3 */
        add(h, 3, 700 + i, "192.0.2.60", "good.test", "pass", 3, "fail", "dk.test");
    for (int i = 0; i < 20; i++) /* DNS trouble on day 5 */
        add(h, 5, 800 + i, "192.0.2.71", "dns.test", "temperror", 0, NULL, NULL);
    for (int i = 0; i < 5; i++) /* whitelisted: never checked */
        add(h, 1, 900 + i, "10.1.1.1", NULL, NULL, 0, NULL, NULL)->skip_reason = "whitelisted";
    for (int i = 0; i < 2; i++) /* whitelist_from: checked, exempt */
        add(h, 4, 950 + i, "192.0.2.80", "partner.test", "fail", 5, "pass", "partner.test")
            ->skip_reason = "sender-whitelisted";
    /* A hostile domain name, to be escaped everywhere. */
    add(h, 6, 990, "192.0.2.99", "<img src=x onerror=alert(1)>.test", "softfail", 2, NULL, NULL);
    /* Outside the period, on both sides. */
    add(h, -1, 0, "203.0.113.200", "spoof.test", "fail", 5, NULL, NULL);
    add(h, DAYS, 0, "203.0.113.201", "spoof.test", "fail", 5, NULL, NULL);
}

static const rollout_candidate *find(const rollout_report *r, const char *name)
{
    for (size_t i = 0; i < r->candidate_count; i++)
        if (strcmp(r->candidates[i].name, name) == 0)
            return &r->candidates[i];
    return NULL;
}

static void expect(const rollout_report *r, const char *name, uint64_t messages, size_t domains,
                   size_t networks, uint64_t forwarded)
{
    const rollout_candidate *c = find(r, name);
    TAP_OK(c != NULL && c->messages == messages && c->domains.count == domains &&
               c->networks.count == networks && c->forwarded == forwarded,
           "%s: %llu messages, %zu domains, %zu networks, %llu forwarded (got %llu %zu %zu %llu)",
           name, (unsigned long long)messages, domains, networks, (unsigned long long)forwarded,
           c ? (unsigned long long)c->messages : 0, c ? c->domains.count : 0,
           c ? c->networks.count : 0, c ? (unsigned long long)c->forwarded : 0);
}

static void test_aggregation(const history *h)
{
    rollout_report *r = malloc(sizeof *r);
    rollout_options o = {.since = SINCE, .until = SINCE + DAYS * DAY, .thresholds = {3, 5},
                         .threshold_count = 2};
    char why[128];
    TAP_OK(rollout_init(r, &o, why, sizeof why) == 0 && r->days == DAYS, "a 7-day period");
    for (size_t i = 0; i < h->count; i++)
        rollout_add(r, &h->records[i]);
    rollout_finish(r);
    TAP_OK(r->events == 133 && r->not_checked == 7 && r->outside == 2,
           "133 events in the period (7 not checked or exempt), 2 outside (%llu, %llu, %llu)",
           (unsigned long long)r->events, (unsigned long long)r->not_checked,
           (unsigned long long)r->outside);
    expect(r, "the running configuration (done or held back)", 22, 2, 3, 7);
    expect(r, "reject SPF fail", 22, 2, 3, 7);
    expect(r, "reject SPF fail and softfail", 26, 4, 4, 7);
    expect(r, "quarantine SPF fail", 22, 2, 3, 7);
    expect(r, "reject DKIM fail (no valid signature)", 4, 1, 1, 0);
    expect(r, "reject at score >= 3.0", 26, 3, 4, 7);
    expect(r, "reject at score >= 5.0", 22, 2, 3, 7);
    const rollout_candidate *fail = find(r, "reject SPF fail");
    TAP_OK(fail && fail->per_day[0] == 3 && fail->per_day[6] == 4 && fail->per_day[3] == 3,
           "per day: 3 a day, 4 on the last (the IPv6 forgery)");
    TAP_OK(r->domain_count == 4 && strcmp(r->domains[0].domain, "spoof.test") == 0 &&
               r->domains[0].failed == 15 && r->domains[0].networks.count == 2 &&
               strcmp(r->domains[1].domain, "news.test") == 0 && r->domains[1].failed == 7 &&
               r->domains[1].dkim_pass == 7 && strcmp(r->domains[2].domain, "soft.test") == 0,
           "failing domains: spoof.test 15 (2 networks), news.test 7 all signed, soft.test");
    TAP_OK(r->temperror_median == 1 && r->temperror_per_day[5] == 20 && r->spike[5] &&
               !r->spike[4] && !r->spike[0],
           "temperror: median 1 a day, day 5's 20 is the one spike");
    rollout_free(r);
    free(r);

    char net[64];
    TAP_OK(rollout_network("203.0.113.77", net, sizeof net) && strcmp(net, "203.0.113.0/24") == 0,
           "an IPv4 client's network is its /24");
    TAP_OK(rollout_network("2001:db8:aa:bb::1", net, sizeof net) &&
               strcmp(net, "2001:db8:aa::/48") == 0,
           "an IPv6 client's network is its /48 (%s)", net);
    TAP_OK(rollout_network("::ffff:192.0.2.1", net, sizeof net) && strcmp(net, "192.0.2.0/24") == 0,
           "an IPv4-mapped client counts as IPv4");
    TAP_OK(!rollout_network("not an address", net, sizeof net), "no network for a non-address");
    rollout_report *bad = malloc(sizeof *bad);
    rollout_options long_period = {.since = 0, .until = 400 * (int64_t)DAY};
    TAP_OK(rollout_init(bad, &long_period, why, sizeof why) != 0 && strstr(why, "longer than"),
           "a period over a year is refused (%s)", why);
    free(bad);
}

static int run(const char *command, char **out)
{
    FILE *p = popen(command, "r");
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    if (p == NULL || buf == NULL) {
        free(buf);
        if (p != NULL)
            pclose(p);
        *out = NULL;
        return -1;
    }
    for (size_t got; (got = fread(buf + n, 1, cap - 1 - n, p)) > 0;)
        n += got;
    buf[n] = '\0';
    *out = buf;
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    char *buf = calloc(1, 1 << 20);
    if (buf != NULL)
        buf[fread(buf, 1, (1 << 20) - 1, f)] = '\0';
    fclose(f);
    return buf;
}

static void test_cli(const history *h, const char *domauth)
{
    char dir[] = "/tmp/domauth-report-XXXXXX";
    if (mkdtemp(dir) == NULL) {
        TAP_OK(false, "a temporary directory");
        return;
    }
    char db[128], html[128], cmd[1024];
    snprintf(db, sizeof db, "%s/events.db", dir);
    snprintf(html, sizeof html, "%s/report.html", dir);
    event_store_options so = {.access = EVENT_STORE_WRITE};
    char why[512];
    event_store *store = event_store_open(db, &so, why, sizeof why);
    const event_record *ptrs[256];
    for (size_t i = 0; i < h->count; i++)
        ptrs[i] = &h->records[i];
    TAP_OK(store != NULL && event_store_write(store, ptrs, h->count, why, sizeof why) == 0,
           "the history is in a store (%s)", store ? why : "open failed");
    if (store != NULL)
        event_store_close(store);

    char *out = NULL;
    snprintf(cmd, sizeof cmd, "'%s' report --database %s --since @%d --until @%d --json", domauth,
             db, SINCE, SINCE + DAYS * DAY);
    int status = run(cmd, &out);
    TAP_OK(status == 0 && out && strstr(out, "\"events\":133,\"checked\":126,\"not_checked\":7"),
           "domauth report --json: the same counts through the store");
    TAP_OK(out && strstr(out, "{\"name\":\"reject SPF fail and softfail\",\"kind\":"
                              "\"spf-fail-softfail\",\"action\":\"reject\",\"messages\":26,"
                              "\"domains\":4,\"networks\":4,\"forwarded\":7,"
                              "\"per_day\":[3,3,6,3,3,3,5]}"),
           "--json: a candidate with its per-day counts");
    TAP_OK(out && strstr(out, "\"temperror\":{\"median\":1,\"per_day\":[1,1,1,1,1,20,1],"
                              "\"spikes\":[\"2026-11-06\"]}"),
           "--json: the temperror spike on 2026-11-06");
    TAP_OK(out && strstr(out, "\"domain\":\"<img src=x onerror=alert(1)>.test\""),
           "--json: the hostile domain as a JSON string");
    free(out);

    snprintf(cmd, sizeof cmd,
             "'%s' report --database %s --since @%d --until @%d --threshold 2 --html %s", domauth,
             db, SINCE, SINCE + DAYS * DAY, html);
    status = run(cmd, &out);
    TAP_OK(status == 0 && out && strstr(out, "reject at score >= 2.0") &&
               strstr(out, "news.test") && strstr(out, "mostly signed"),
           "text: a chosen threshold, and news.test flagged as mostly signed");
    TAP_OK(out && strstr(out, "2026-11-06     20  spike"), "text: the spike day is flagged");
    TAP_OK(out && strstr(out, "\\x") == NULL && strstr(out, "<img src=x onerror=alert(1)>.test"),
           "text: the hostile domain is printable ASCII, shown as it is");
    free(out);
    char *page = slurp(html);
    TAP_OK(page && strstr(page, "&lt;img src=x onerror=alert(1)&gt;.test") &&
               strstr(page, "<img") == NULL,
           "--html: the hostile domain is escaped, no markup from mail");
    TAP_OK(page && strstr(page, "<svg") && strstr(page, "#c0392b") &&
               strstr(page, "default-src 'none'"),
           "--html: SVG charts, the spike marked, no outside resources allowed");
    free(page);

    snprintf(cmd, sizeof cmd, "'%s' report --database %s/missing.db 2>/dev/null", domauth, dir);
    status = run(cmd, &out);
    TAP_OK(status == 66, "a missing database is exit 66 (%d)", status);
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' report --threshold -1 --database %s 2>/dev/null", domauth, db);
    status = run(cmd, &out);
    TAP_OK(status == 64, "a bad threshold is a usage error (%d)", status);
    free(out);
    if (getenv("REPORT_KEEP") != NULL) { /* to look at the page */
        printf("# kept %s\n", dir);
        return;
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "# could not remove %s\n", dir);
}

int main(int argc, char **argv)
{
    static history h;
    make_history(&h);
    test_aggregation(&h);
    const char *domauth = argc > 1 ? argv[1] : getenv("DOMAUTH_BIN");
    if (domauth != NULL)
        test_cli(&h, domauth);
    else
        TAP_SKIP("DOMAUTH_BIN not set: domauth report not run");
    return tap_done();
}
