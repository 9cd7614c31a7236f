/* The PostgreSQL event store (src/store/pg/) against a real server, which
 * tests/store/pg_store.sh starts and names in DOMAUTH_PG_URI (and a second,
 * empty database in DOMAUTH_PG_URI2): the same events written to SQLite
 * and to PostgreSQL give the same answers to the same queries, summaries
 * and purges (a differential test); nodes starting together apply the
 * schema once; a replayed event is stored once; the lease goes to one
 * holder at a time; a lost connection is made again; a held lock fails a
 * write after the timeout instead of hanging; the DMARC report ledger
 * answers as SQLite's, and concurrent recorders leave one sent row. Skips
 * without the variables. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/event_store.h"
#include "store/quarantine_store.h"
#include "store/report_store.h"
#include "tap.h"
#include "util/strbuf.h"

enum { EVENTS = 1500 };

static const char *const spf_results[] = {"pass", "fail", "softfail", "neutral", "none",
                                          "temperror", "permerror"};
static const char *const actions[] = {"accept", "tag", "reject", "defer", "quarantine"};
static const char *const domains[] = {"example.com", "Example.COM", "evil.example",
                                      "b.example.org", "\xc3\xa9t\xc3\xa9.example"};
static const char *const ips[] = {"192.0.2.1", "192.0.2.200", "198.51.100.7", "2001:db8::1",
                                  "2001:db8:1::9", "::ffff:192.0.2.77", "not an address"};
static const char *const nodes[] = {"mx1", "mx2", "mx3"};

/* Event i, deterministic; strings in static buffers per slot. */
typedef struct made {
    event_record r;
    event_result results[3];
    event_rcpt rcpts[2];
    char uid[40], rcpt[2][64], props[3][80], mail_from[64], queue_id[16], reply[64];
} made;

static void make_event(made *m, int i, const char *uid_prefix)
{
    memset(m, 0, sizeof *m);
    event_record *r = &m->r;
    r->time = 1800000000 + i * 60 + (i % 7);
    r->listener = i % 3 ? "milter" : "policy";
    snprintf(m->queue_id, sizeof m->queue_id, "Q%05d", i);
    r->queue_id = i % 5 ? m->queue_id : NULL;
    r->client_ip = ips[i % 7];
    r->client_name = i % 4 ? "mail.example" : NULL;
    /* Values an array literal or a CSV-like encoding must quote (the
     * writer sends each column as one array): both stores give them back
     * the same. */
    static const char *const helos[] = {"helo.example", "a\"b\\c,{d} e", "NULL", "",
                                        "{\"x\": [1]}", " lead,trail\t"};
    r->helo = helos[i % 6];
    snprintf(m->mail_from, sizeof m->mail_from, "user%d@%s", i % 13, domains[i % 5]);
    r->mail_from = i % 11 ? m->mail_from : "";
    r->header_from = i % 2 ? m->mail_from : NULL;
    bool skipped = i % 17 == 3;
    r->identity = skipped ? NULL : "mailfrom";
    r->domain = domains[i % 5];
    r->result = skipped ? NULL : spf_results[i % 7];
    r->mechanism = i % 3 ? "-all" : NULL;
    r->skip_reason = skipped ? (i % 2 ? "authenticated" : "trusted") : NULL;
    r->score = (i % 10) * 0.5;
    r->action = actions[(i / 3) % 5];
    r->held_action = i % 9 == 0 ? "reject" : NULL;
    snprintf(m->reply, sizeof m->reply, "550 5.7.1 no (%d)", i);
    r->reply = i % 4 == 1 ? m->reply : NULL;
    r->reasons = "spf=fail: fail_action reject";
    r->dmarc = i % 6 == 0 ? NULL : i % 2 ? "pass" : "fail";
    r->node = nodes[i % 3];
    snprintf(m->uid, sizeof m->uid, "%s%08d", uid_prefix, i);
    r->uid = m->uid;
    size_t n = 0;
    if (!skipped) {
        snprintf(m->props[0], sizeof m->props[0], "smtp.mailfrom=%s", m->mail_from);
        m->results[n++] = (event_result){"spf", spf_results[i % 7], domains[i % 5], "-all",
                                          NULL, m->props[0]};
    }
    if (i % 2) {
        snprintf(m->props[1], sizeof m->props[1], "header.d=%s header.s=s1", domains[(i + 1) % 5]);
        m->results[n++] = (event_result){i % 4 == 1 ? "DKIM" : "dkim", i % 8 ? "pass" : "fail",
                                          domains[(i + 1) % 5], "s1",
                                          i % 8 ? NULL : "body hash", m->props[1]};
    }
    if (i % 3 == 0)
        m->results[n++] = (event_result){"dmarc", i % 2 ? "pass" : "fail", domains[i % 5], NULL,
                                          NULL, "header.from=x"};
    r->results = n ? m->results : NULL;
    r->result_count = n;
    size_t k = 0;
    for (; k < (size_t)(i % 3); k++) {
        snprintf(m->rcpt[k], sizeof m->rcpt[k], "rcpt%zu-\"q\"\\%d@example.net", k, i);
        m->rcpts[k] = (event_rcpt){m->rcpt[k], r->action, k ? r->reply : NULL};
    }
    r->rcpts = k ? m->rcpts : NULL;
    r->rcpt_count = k;
}

static int write_events(event_store *s, int from, int to, const char *prefix, char *why,
                        size_t why_size)
{
    enum { BATCH = 1000 }; /* the event log's batch under load */
    static made m[BATCH];
    const event_record *batch[BATCH];
    for (int i = from; i < to;) {
        int n = 0;
        for (; n < BATCH && i < to; n++, i++) {
            make_event(&m[n], i, prefix);
            batch[n] = &m[n].r;
        }
        if (event_store_write(s, batch, (size_t)n, why, why_size) != 0)
            return -1;
    }
    return 0;
}

static void put_strbuf(void *ctx, const char *bytes, size_t len)
{
    strbuf_append(ctx, bytes, len);
}

static int collect(void *ctx, int64_t id, const event_record *e)
{
    strbuf *b = ctx;
    event_json_write(e, id, put_strbuf, b);
    strbuf_putc(b, '\n');
    return 0;
}

static void counts_text(strbuf *b, const char *name, const event_counts *c)
{
    strbuf_printf(b, "%s:", name);
    for (size_t i = 0; i < c->count; i++)
        strbuf_printf(b, " %s=%llu", c->items[i].label, (unsigned long long)c->items[i].count);
    strbuf_putc(b, '\n');
}

/* The answers of one store to one query: the rows as JSON and the summary. */
static char *answers(event_store *s, const event_query *q)
{
    strbuf b;
    strbuf_init(&b);
    char why[512] = "";
    if (event_store_query(s, q, collect, &b, why, sizeof why) != 0)
        strbuf_printf(&b, "query error: %s\n", why);
    event_summary sum;
    if (event_store_summary(s, q, &sum, why, sizeof why) != 0) {
        strbuf_printf(&b, "summary error: %s\n", why);
    } else {
        strbuf_printf(&b, "events=%llu first=%lld last=%lld\n", (unsigned long long)sum.events,
                      (long long)sum.first, (long long)sum.last);
        counts_text(&b, "results", &sum.results);
        counts_text(&b, "actions", &sum.actions);
        counts_text(&b, "held", &sum.held);
        counts_text(&b, "methods", &sum.methods);
        event_summary_free(&sum);
    }
    uint64_t n = 0;
    if (event_store_count(s, q, &n, why, sizeof why) != 0)
        strbuf_printf(&b, "count error: %s\n", why);
    else
        strbuf_printf(&b, "count=%llu\n", (unsigned long long)n);
    return strbuf_take(&b);
}

/* The answers without the rows' ids: PostgreSQL's sequence also counts the
 * rows ON CONFLICT skipped (a replay leaves a gap), SQLite's rowid not. */
static char *strip_ids(char *s)
{
    if (s == NULL)
        return NULL;
    char *out = s;
    for (const char *p = s; *p;) {
        if (strncmp(p, "\"id\":", 5) == 0 && p[5] >= '0' && p[5] <= '9') {
            p += 5;
            while (*p >= '0' && *p <= '9')
                p++;
            continue;
        }
        *out++ = *p++;
    }
    *out = '\0';
    return s;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; s && *s; s++)
        n += *s == '\n';
    return n;
}

static event_store *open_as(const char *location, event_store_access access, char *why,
                            size_t why_size)
{
    event_store_options o = {.access = access, .busy_timeout_ms = 2000};
    return event_store_open(location, &o, why, why_size);
}

static void test_differential(const char *uri, const char *dir)
{
    char why[512], path[256];
    snprintf(path, sizeof path, "%s/diff.db", dir);
    event_store *lite = open_as(path, EVENT_STORE_WRITE, why, sizeof why);
    event_store *pg = open_as(uri, EVENT_STORE_WRITE, why, sizeof why);
    TAP_OK(lite != NULL && pg != NULL && why[0] == '\0', "both stores open for writing (%s)", why);
    if (lite == NULL || pg == NULL)
        return;
    int a = write_events(lite, 0, EVENTS, "u", why, sizeof why);
    int b = write_events(pg, 0, EVENTS, "u", why, sizeof why);
    TAP_OK(a == 0 && b == 0, "%d events written to each (%s)", EVENTS, why);
    /* SQLite's writer handle does not read: a second handle does. */
    event_store *lite_writer = lite;
    lite = open_as(path, EVENT_STORE_PURGE, why, sizeof why);
    if (lite == NULL) {
        TAP_OK(0, "SQLite reader: %s", why);
        return;
    }

    static const char *const fail_only[] = {"fail"};
    static const char *const pass_fail[] = {"pass", "fail"};
    static const char *const rejects[] = {"reject", "defer"};
    struct {
        const char *what;
        event_query q;
    } queries[] = {
        {"everything", {0}},
        {"the newest 25", {.limit = 25}},
        {"a time range", {.have_since = true, .since = 1800010000, .have_until = true,
                          .until = 1800040000}},
        {"SPF fail", {.results = fail_only, .result_count = 1}},
        {"a domain, without case", {.domain = "EXAMPLE.com"}},
        {"a UTF-8 domain", {.domain = "\xc3\xa9t\xc3\xa9.example"}},
        {"method dkim (any case) fail", {.method = "Dkim", .results = fail_only,
                                         .result_count = 1}},
        {"method dkim, a domain", {.method = "dkim", .domain = "Evil.Example"}},
        {"method dmarc pass or fail, newest 10", {.method = "dmarc", .results = pass_fail,
                                                  .result_count = 2, .limit = 10}},
        {"one address", {.client_ip = "2001:db8::1"}},
        {"an IPv4 network (mapped addresses count)", {.client_net = "192.0.2.0/24"}},
        {"an IPv6 network", {.client_net = "2001:db8::/32"}},
        {"a network of one", {.client_net = "198.51.100.7/32"}},
        {"actions reject or defer (held too)", {.actions = rejects, .action_count = 2}},
        {"skipped", {.skipped = true}},
        {"node mx2", {.node = "mx2"}},
        {"node mx2 and SPF fail, newest 5", {.node = "mx2", .results = fail_only,
                                             .result_count = 1, .limit = 5}},
        {"nothing matches", {.domain = "nowhere.example"}},
        {"sender search, without case", {.sender = "USER3@"}},
        {"recipient search, without case", {.rcpt = "RCPT1-\"Q\""}},
        {"held back reject", {.held_action = "reject"}},
        {"one id", {.id = 42}},
        {"a page: before (time, id), newest 20",
         {.have_before = true, .before_time = 1800030003, .before_id = 500, .limit = 20}},
        {"a page of SPF fail by node", {.node = "mx1", .results = fail_only, .result_count = 1,
                                        .have_before = true, .before_time = 1800050000,
                                        .before_id = 900, .limit = 7}},
    };
    for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++) {
        char *x = answers(lite, &queries[i].q), *y = answers(pg, &queries[i].q);
        bool same = x && y && strcmp(x, y) == 0;
        TAP_OK(same && strstr(x, "query error:") == NULL && strstr(x, "summary error:") == NULL &&
                   strstr(x, "count error:") == NULL, "same answers: %s (%zu lines)",
               queries[i].what, count_lines(x));
        if (!same && x && y) {
            size_t k = 0;
            while (x[k] && x[k] == y[k])
                k++;
            size_t from = k > 120 ? k - 120 : 0;
            printf("#   sqlite: ...%.240s\n#   pg:     ...%.240s\n", x + from, y + from);
        }
        free(x);
        free(y);
    }

    /* Replay: the same events again are stored once. */
    b = write_events(pg, 0, 400, "u", why, sizeof why);
    a = write_events(lite_writer, 0, 400, "u", why, sizeof why);
    event_query all = {0};
    char *x = answers(lite, &all), *y = answers(pg, &all);
    TAP_OK(a == 0 && b == 0 && x && y && strcmp(x, y) == 0 && count_lines(x) == EVENTS + 6,
           "a replayed batch (same uids) is stored once by both: %zu rows", count_lines(y) - 5);
    free(x);
    free(y);

    /* One uid twice in one batch (a spool replayed while the same events
     * were queued): stored once, the batch not refused. */
    made twice[2];
    make_event(&twice[0], 700000, "dup");
    make_event(&twice[1], 700000, "dup");
    const event_record *pair[] = {&twice[0].r, &twice[1].r};
    b = event_store_write(pg, pair, 2, why, sizeof why);
    a = event_store_write(lite_writer, pair, 2, why, sizeof why);
    x = strip_ids(answers(lite, &all));
    y = strip_ids(answers(pg, &all));
    TAP_OK(a == 0 && b == 0 && x && y && strcmp(x, y) == 0 && count_lines(x) == EVENTS + 7,
           "a batch holding one uid twice: stored once by both (%s)", why);
    free(x);
    free(y);

    /* The purge deletes the same events. */
    uint64_t da = 0, db = 0;
    a = event_store_purge(lite, 1800030000, &da, why, sizeof why);
    b = event_store_purge(pg, 1800030000, &db, why, sizeof why);
    x = strip_ids(answers(lite, &all));
    y = strip_ids(answers(pg, &all));
    TAP_OK(a == 0 && b == 0 && da == db && da > 400 && x && y && strcmp(x, y) == 0,
           "purge: the same %llu events deleted, the same left", (unsigned long long)db);
    free(x);
    free(y);

    /* Bytes that are not UTF-8 are stored as the JSON lines show them. */
    made m;
    make_event(&m, 999999, "bad");
    m.r.helo = "8bit \xff\xfe caf\xc3\xa9";
    m.r.results = NULL;
    m.r.result_count = 0;
    const event_record *one[] = {&m.r};
    b = event_store_write(pg, one, 1, why, sizeof why);
    strbuf got;
    strbuf_init(&got);
    event_query q = {.client_ip = m.r.client_ip, .limit = 1};
    event_store_query(pg, &q, collect, &got, NULL, 0);
    TAP_OK(b == 0 && got.data && strstr(got.data, "\"helo\":\"8bit \xc3\xbf\xc3\xbe caf\xc3\xa9\""),
           "a HELO with bytes that are not UTF-8 is stored (as Latin-1): %s", b ? why : "ok");
    strbuf_free(&got);

    /* The lease: one holder at a time, renewed by its holder, free once ended. */
    bool g1 = false, g2 = true, g3 = false, g4 = false, l1 = false, l2 = true;
    event_store_lease(pg, "purge", "mx1", 1000, 3600, &g1, why, sizeof why);
    event_store_lease(pg, "purge", "mx2", 1001, 3600, &g2, why, sizeof why);
    event_store_lease(pg, "purge", "mx1", 1002, 3600, &g3, why, sizeof why);
    event_store_lease(pg, "purge", "mx2", 4602, 3600, &g4, why, sizeof why);
    event_store_lease(lite, "purge", "mx1", 1000, 3600, &l1, why, sizeof why);
    event_store_lease(lite, "purge", "mx2", 1001, 3600, &l2, why, sizeof why);
    TAP_OK(g1 && !g2 && g3 && g4, "lease (PostgreSQL): mx1 gets it, mx2 not, mx1 renews, mx2 "
                                  "after it ended");
    TAP_OK(l1 && !l2, "lease (SQLite): the same");
    char h1[64], h2[64], h3[64];
    int64_t u1 = 0, u2 = 0, u3 = -1;
    int r1 = event_store_lease_holder(pg, "purge", h1, sizeof h1, &u1, why, sizeof why);
    int r2 = event_store_lease_holder(lite, "purge", h2, sizeof h2, &u2, why, sizeof why);
    int r3 = event_store_lease_holder(pg, "never-taken", h3, sizeof h3, &u3, why, sizeof why);
    TAP_OK(r1 == 0 && r2 == 0 && r3 == 0 && strcmp(h1, "mx2") == 0 && u1 == 8202 &&
               strcmp(h2, "mx1") == 0 && u2 == 4600 && h3[0] == '\0' && u3 == 0,
           "lease holder: mx2 until 8202 (PostgreSQL), mx1 until 4600 (SQLite), none for a job "
           "never taken (%s %lld, %s %lld, '%s' %lld)", h1, (long long)u1, h2, (long long)u2, h3,
           (long long)u3);
    event_store_close(lite);
    event_store_close(lite_writer);
    event_store_close(pg);
}

static int count_row(void *ctx, const quarantine_row *row)
{
    (void)row;
    ++*(int *)ctx;
    return 0;
}

static int count_event(void *ctx, int64_t id, const event_record *e)
{
    (void)id;
    (void)e;
    ++*(int *)ctx;
    return 0;
}

static int psql_exec(const char *uri, const char *sql)
{
    PGconn *c = PQconnectdb(uri);
    PGresult *res = PQexec(c, sql);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;
    PQclear(res);
    PQfinish(c);
    return ok ? 0 : -1;
}

static long psql_number(const char *uri, const char *sql)
{
    PGconn *c = PQconnectdb(uri);
    PGresult *res = PQexec(c, sql);
    long v = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1
                 ? atol(PQgetvalue(res, 0, 0))
                 : -1;
    PQclear(res);
    PQfinish(c);
    return v;
}

/* Nodes starting at once on an empty database: the schema made once. */
static void test_concurrent_schema(const char *uri)
{
    enum { NODES = 4 };
    pid_t pids[NODES];
    for (int i = 0; i < NODES; i++) {
        if ((pids[i] = fork()) == 0) {
            char why[512];
            event_store *s = open_as(uri, EVENT_STORE_WRITE, why, sizeof why);
            char prefix[8];
            snprintf(prefix, sizeof prefix, "n%d-", i);
            int rc = s ? write_events(s, 0, 50, prefix, why, sizeof why) : -1;
            if (rc != 0)
                fprintf(stderr, "node %d: %s\n", i, why);
            event_store_close(s);
            _exit(rc ? 1 : 0);
        }
    }
    int ok = 0;
    for (int i = 0; i < NODES; i++) {
        int st;
        waitpid(pids[i], &st, 0);
        ok += WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }
    TAP_OK(ok == NODES, "%d nodes opening an empty database at once all write", ok);
    TAP_OK(psql_number(uri, "SELECT count(*) FROM schema_version") == 4 &&
               psql_number(uri, "SELECT max(version) FROM schema_version") == 4,
           "  and the schema steps were applied once each");
    TAP_OK(psql_number(uri, "SELECT count(*) FROM events") == NODES * 50,
           "  with every event stored (%ld)", psql_number(uri, "SELECT count(*) FROM events"));
}

/* A connection killed (pg_terminate_backend) is made again within the
 * write; a lock held on the table fails the write after the timeout. */
static void test_faults(const char *uri)
{
    char why[512] = "";
    event_store_options o = {.access = EVENT_STORE_WRITE, .busy_timeout_ms = 300};
    event_store *s = event_store_open(uri, &o, why, sizeof why);
    int rc = s ? write_events(s, 10000, 10010, "f", why, sizeof why) : -1;
    TAP_OK(rc == 0, "a writer writes (%s)", why);
    psql_exec(uri, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                   "application_name = 'domauth' AND pid <> pg_backend_pid()");
    rc = s ? write_events(s, 10010, 10020, "f", why, sizeof why) : -1;
    TAP_OK(rc == 0, "after pg_terminate_backend the next write reconnects and succeeds (%s)",
           rc ? why : "ok");

    PGconn *holder = PQconnectdb(uri);
    PQclear(PQexec(holder, "BEGIN"));
    PQclear(PQexec(holder, "LOCK TABLE events IN ACCESS EXCLUSIVE MODE"));
    time_t t0 = time(NULL);
    rc = s ? write_events(s, 10020, 10030, "f", why, sizeof why) : 0;
    time_t took = time(NULL) - t0;
    TAP_OK(rc != 0 && took <= 3, "a table lock held elsewhere fails the write in %lds: %s",
           (long)took, why);
    PQclear(PQexec(holder, "ROLLBACK"));
    PQfinish(holder);
    rc = s ? write_events(s, 10020, 10030, "f", why, sizeof why) : -1;
    TAP_OK(rc == 0, "once it is released the write succeeds (%s)", rc ? why : "ok");
    event_store_close(s);

    s = open_as("postgresql:///nosuchdb?host=/nonexistent&user=domauth", EVENT_STORE_WRITE, why,
                sizeof why);
    TAP_OK(s != NULL && strstr(why, "not connected") != NULL,
           "a writer opens while the server is away (%s)", why);
    rc = s ? write_events(s, 0, 1, "x", why, sizeof why) : 0;
    TAP_OK(rc != 0 && strstr(why, "connect") != NULL, "  and its writes fail: %s", why);
    event_store_close(s);
    s = open_as("postgresql:///nosuchdb?host=/nonexistent&user=domauth", EVENT_STORE_READ, why,
                sizeof why);
    TAP_OK(s == NULL && strstr(why, "connect") != NULL, "a reader does not: %s", why);
}

/* The quarantine index: a row added by one node is listed by another; of
 * eight processes releasing one message at once (change_state from
 * quarantined), exactly one moves it, every time. */
static void test_quarantine(const char *uri)
{
    char why[512] = "";
    quarantine_index *x = quarantine_index_pg.open(uri, true, NULL, why, sizeof why);
    TAP_OK(x != NULL, "the PostgreSQL quarantine index opens (%s)", why);
    if (x == NULL)
        return;
    enum { ROUNDS = 5, RACERS = 8 };
    const char *rcpts[] = {"b@dest.test", "C@Dest.Test"};
    const char *results[] = {"spf=fail", "dkim=none"};
    int exactly_one = 0;
    for (int round = 0; round < ROUNDS; round++) {
        char id[32];
        snprintf(id, sizeof id, "race-%d", round);
        quarantine_row row = {.id = id, .path = "/shared/new/x", .time = 1800000000 + round,
                              .sender = "a@sender.test", .rcpts = rcpts, .rcpt_count = 2,
                              .domain = "Sender.Test", .results = results, .result_count = 2,
                              .state = "quarantined"};
        if (x->ops->add(x, &row, why, sizeof why) != 0)
            break;
        int go[2];
        if (pipe(go) != 0)
            break;
        pid_t pids[RACERS];
        for (int i = 0; i < RACERS; i++) {
            if ((pids[i] = fork()) == 0) {
                close(go[1]);
                char w[512];
                quarantine_index *mine = quarantine_index_pg.open(uri, false, NULL, w, sizeof w);
                /* Connected and ready: wait for the start, all at once. */
                char c;
                if (read(go[0], &c, 1) < 0)
                    _exit(3);
                bool moved = false;
                int rc = mine ? mine->ops->change_state(mine, id, "quarantined", "released",
                                                        1900000000, "racer", &moved, w, sizeof w)
                              : -1;
                if (mine)
                    mine->ops->close(mine);
                _exit(rc != 0 ? 2 : moved ? 0 : 1);
            }
        }
        close(go[0]);
        usleep(200000);
        close(go[1]); /* every racer's read returns now */
        int winners = 0, losers = 0;
        for (int i = 0; i < RACERS; i++) {
            int st;
            waitpid(pids[i], &st, 0);
            if (WIFEXITED(st))
                winners += WEXITSTATUS(st) == 0, losers += WEXITSTATUS(st) == 1;
        }
        exactly_one += winners == 1 && losers == RACERS - 1;
    }
    TAP_OK(exactly_one == ROUNDS, "%d racing releases, %d rounds: exactly one moves the row "
                                  "each time (%d of %d)", RACERS, ROUNDS, exactly_one, ROUNDS);
    /* What the CLI lists: by domain without case, by result, by recipient. */
    int n = 0;
    quarantine_query q = {.domain = "sender.TEST", .result = "fail", .rcpt = "c@dest.test",
                          .state = "all"};
    x->ops->query(x, &q, count_row, &n, why, sizeof why);
    TAP_OK(n == ROUNDS, "list by domain, result and recipient (without case): %d rows", n);
    q = (quarantine_query){0};
    n = 0;
    x->ops->query(x, &q, count_row, &n, why, sizeof why);
    TAP_OK(n == 0, "none left quarantined (%d)", n);
    /* Rebuilding the index from the spool (quarantine_reindex): a row that
     * exists, released meanwhile, is not written over; a new one is. */
    quarantine_row stale = {.id = "race-0", .path = "/shared/new/x", .time = 1,
                            .state = "quarantined"};
    bool wrote = true;
    int rc = x->ops->add_missing(x, &stale, &wrote, why, sizeof why);
    n = 0;
    q = (quarantine_query){.state = "released", .id = "race-0"};
    x->ops->query(x, &q, count_row, &n, why, sizeof why);
    TAP_OK(rc == 0 && !wrote && n == 1, "add_missing over a released row writes nothing (%s)",
           rc ? why : "still released");
    quarantine_row fresh = {.id = "rebuilt-1", .path = "/shared/new/y", .time = 2,
                            .state = "quarantined"};
    rc = x->ops->add_missing(x, &fresh, &wrote, why, sizeof why);
    n = 0;
    q = (quarantine_query){.id = "rebuilt-1"};
    x->ops->query(x, &q, count_row, &n, why, sizeof why);
    TAP_OK(rc == 0 && wrote && n == 1, "add_missing adds a row its id did not have (%s)",
           rc ? why : "added");
    x->ops->close(x);
}

/* A database of the first PostgreSQL schema (version 1: no node, no uid,
 * no cluster_jobs), made here from a copy of that version's tables (not
 * included: the test must not follow a later change; the indexes and
 * domauth_inet shortened, as no step touches them): a reader reads it as it
 * is, without changing it; the first writer brings it to version 3 with
 * every row kept. */
static const char pg_v1[] =
    "CREATE TABLE schema_version (version integer PRIMARY KEY, applied bigint NOT NULL);"
    "INSERT INTO schema_version VALUES (1, 0);"
    "CREATE TABLE events (id bigserial PRIMARY KEY, time bigint NOT NULL,"
    " listener text, queue_id text, client_ip text, client_name text, helo text,"
    " mail_from text, rcpt text, header_from text, identity text, domain text,"
    " result text, mechanism text, problem text, skip_reason text,"
    " score double precision, action text, held_action text, reply text,"
    " reasons text, dmarc text,"
    " results jsonb NOT NULL DEFAULT '[]', recipients jsonb NOT NULL DEFAULT '[]');"
    "CREATE INDEX events_time ON events (time);"
    "CREATE TABLE quarantine (id text PRIMARY KEY, path text NOT NULL, time bigint NOT NULL,"
    " sender text, rcpts jsonb NOT NULL DEFAULT '[]', domain text,"
    " results jsonb NOT NULL DEFAULT '[]', reasons text, told text, queue_id text,"
    " client_ip text, size bigint, state text NOT NULL DEFAULT 'quarantined',"
    " state_time bigint, state_by text);"
    "CREATE FUNCTION domauth_inet(a text) RETURNS inet LANGUAGE plpgsql IMMUTABLE AS"
    " $f$ BEGIN RETURN a::inet; EXCEPTION WHEN others THEN RETURN NULL; END $f$;"
    "INSERT INTO events (time, client_ip, domain, result, action, results) VALUES"
    " (1700000000, '192.0.2.1', 'old.example', 'fail', 'reject',"
    " '[{\"method\":\"spf\",\"result\":\"fail\",\"domain\":\"old.example\"}]'),"
    " (1700000060, '192.0.2.2', 'old.example', 'pass', 'accept', '[]');";

static void test_upgrade(const char *uri)
{
    char why[512] = "";
    TAP_OK(psql_exec(uri, pg_v1) == 0, "a version 1 database, made from its own SQL");
    event_store *r = open_as(uri, EVENT_STORE_READ, why, sizeof why);
    strbuf got;
    strbuf_init(&got);
    event_query all = {0};
    if (r != NULL)
        event_store_query(r, &all, collect, &got, why, sizeof why);
    TAP_OK(r != NULL && got.data && strstr(got.data, "\"domain\":\"old.example\"") &&
               strstr(got.data, "\"node\":null,\"uid\":null") &&
               psql_number(uri, "SELECT max(version) FROM schema_version") == 1,
           "a reader reads version 1 as it is (node and uid null), not upgrading it (%s)", why);
    event_query by_node = {.node = "mx1"};
    int n = 0;
    if (r != NULL)
        event_store_query(r, &by_node, count_event, &n, why, sizeof why);
    TAP_OK(n == 0, "  --node on version 1: none (%s)", why);
    event_store_close(r);
    strbuf_free(&got);
    event_store *w = open_as(uri, EVENT_STORE_WRITE, why, sizeof why);
    int rc = w ? write_events(w, 0, 3, "up", why, sizeof why) : -1;
    TAP_OK(w != NULL && rc == 0 && psql_number(uri, "SELECT max(version) FROM schema_version") == 4 &&
               psql_number(uri, "SELECT count(*) FROM events") == 5 &&
               psql_number(uri, "SELECT count(*) FROM events WHERE uid IS NULL") == 2,
           "the first writer upgrades it to version 4, the old rows kept (%s)", rc ? why : "ok");
    bool granted = false;
    TAP_OK(w && event_store_lease(w, "purge", "mx1", 1, 60, &granted, why, sizeof why) == 0 &&
               granted, "  and the lease works on it (%s)", why);
    event_store_close(w);
}


/* ------------------------------------------------ the report ledger */

static int ledger_line(void *ctx, const report_ledger_row *row)
{
    strbuf_printf(ctx, "%s|%s|%s|%lld|%lld|%s|%u|%s|%lld\n", row->report_id, row->policy_domain,
                  row->destination, (long long)row->begin, (long long)row->end, row->state,
                  row->attempts, row->last_error ? row->last_error : "(null)",
                  (long long)row->time);
    return 0;
}

/* One attempt: report id, destination, state, error, time. */
typedef struct ledger_step {
    const char *id, *dest, *state, *error;
    int64_t time;
} ledger_step;

static const ledger_step ledger_steps[] = {
    {"r1", "mailto:a@example.org", "failed", "sendmail exit 75", 100},
    {"r1", "mailto:a@example.org", "failed", "sendmail exit 75", 200},
    {"r1", "mailto:a@example.org", "sent", NULL, 300},
    {"r1", "mailto:a@example.org", "failed", "would be a second send", 400}, /* refused */
    {"r1", "mailto:A@EXAMPLE.ORG", "sent", NULL, 450},   /* the same destination: refused */
    {"r1", "mailto:b@example.net", "sent", NULL, 300},   /* a second destination */
    {"r2", "mailto:a@example.org", "failed", "timeout", 500},
    {"r3", "mailto:c@example.com", "sent", NULL, 500},
    {"r4", "mailto:d@example.com", "failed", "", 600}, /* an empty text is a text */
};

/* The steps on one ledger: after each, get's answer into out; then the
 * listing since 250 and since 0. */
static int ledger_run(report_ledger *l, strbuf *out, char *why, size_t why_size)
{
    for (size_t i = 0; i < sizeof ledger_steps / sizeof ledger_steps[0]; i++) {
        const ledger_step *st = &ledger_steps[i];
        report_ledger_row a = {.report_id = st->id, .policy_domain = "example.com",
                               .destination = st->dest, .begin = 86400, .end = 2 * 86400,
                               .state = st->state, .last_error = st->error, .time = st->time};
        bool found, sent;
        unsigned attempts;
        if (l->ops->record(l, &a, why, why_size) != 0 ||
            l->ops->get(l, st->id, st->dest, &found, &sent, &attempts, why, why_size) != 0)
            return -1;
        strbuf_printf(out, "step %zu: found %d sent %d attempts %u\n", i, found, sent, attempts);
    }
    bool found = true, sent = true;
    unsigned attempts = 9;
    if (l->ops->get(l, "r9", "mailto:a@example.org", &found, &sent, &attempts, why, why_size) != 0)
        return -1;
    strbuf_printf(out, "unknown: found %d sent %d attempts %u\n", found, sent, attempts);
    strbuf_puts(out, "since 250:\n");
    if (l->ops->list(l, 250, ledger_line, out, why, why_size) != 0)
        return -1;
    strbuf_puts(out, "all:\n");
    return l->ops->list(l, 0, ledger_line, out, why, why_size);
}

/* uri holds the schema; empty is a database without one. */
static void test_ledger(const char *uri, const char *empty, const char *dir)
{
    char why[512], path[256];
    snprintf(path, sizeof path, "%s/ledger.db", dir);
    report_ledger *pg = report_ledger_open(empty, false, NULL, why, sizeof why);
    TAP_OK(pg == NULL && strstr(why, "dmarc_reports") != NULL,
           "ledger: a reader before the schema has it: %s", why);
    report_ledger_close(pg);
    report_ledger *lite = report_ledger_open(path, true, NULL, why, sizeof why);
    TAP_OK(lite != NULL, "ledger: SQLite opens (%s)", lite ? "ok" : why);
    pg = report_ledger_open(uri, true, NULL, why, sizeof why);
    TAP_OK(pg != NULL && strcmp(pg->ops->name, "postgresql") == 0,
           "ledger: PostgreSQL's claims the URI and opens (%s)", pg ? "ok" : why);
    if (lite == NULL || pg == NULL) {
        report_ledger_close(lite);
        report_ledger_close(pg);
        return;
    }
    strbuf a, b;
    strbuf_init(&a);
    strbuf_init(&b);
    int ra = ledger_run(lite, &a, why, sizeof why);
    TAP_OK(ra == 0, "ledger: the steps on SQLite (%s)", ra ? why : "ok");
    int rb = ledger_run(pg, &b, why, sizeof why);
    TAP_OK(rb == 0, "ledger: the steps on PostgreSQL (%s)", rb ? why : "ok");
    bool same = ra == 0 && rb == 0 && a.data && b.data && strcmp(a.data, b.data) == 0;
    TAP_OK(same, "ledger: the same answers on both (%zu bytes)", a.len);
    if (!same)
        printf("# sqlite:\n%s# postgresql:\n%s", a.data ? a.data : "", b.data ? b.data : "");
    /* What the sequence must give, so that two equal wrong answers fail. */
    TAP_OK(a.data && strstr(a.data, "step 2: found 1 sent 1 attempts 3\n") &&
               strstr(a.data, "step 3: found 1 sent 1 attempts 3\n") &&
               strstr(a.data, "step 4: found 1 sent 1 attempts 3\n") &&
               strstr(a.data, "step 6: found 1 sent 0 attempts 1\n") &&
               strstr(a.data, "unknown: found 0 sent 0 attempts 0\n") &&
               strstr(a.data, "step 8: found 1 sent 0 attempts 1\n") &&
               strstr(a.data,
                      "r1|example.com|mailto:a@example.org|86400|172800|sent|3|(null)|300\n"),
           "ledger: sent after two failures, then a failure and a send again refused");
    report_ledger_close(lite);
    strbuf_free(&a);
    strbuf_free(&b);

    /* Recorders on many connections at once (as nodes would be): for one
     * (report, destination), half record sent, half failed; one row that
     * says sent remains, and "sent" was written once. */
    enum { RECORDERS = 8 };
    int gate[2];
    if (pipe(gate) != 0) {
        report_ledger_close(pg);
        return;
    }
    pid_t pids[RECORDERS];
    for (int i = 0; i < RECORDERS; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            close(gate[1]);
            char cwhy[512];
            report_ledger *l = report_ledger_open(uri, true, NULL, cwhy, sizeof cwhy);
            char c;
            ssize_t got = read(gate[0], &c, 1); /* 0 when the parent opens the gate */
            (void)got;
            report_ledger_row row = {.report_id = "race", .policy_domain = "example.com",
                                     .destination = "mailto:race@example.org", .begin = 0,
                                     .end = 86400, .state = i % 2 ? "failed" : "sent",
                                     .last_error = i % 2 ? "lost" : NULL, .time = 1000 + i};
            int rc = l ? l->ops->record(l, &row, cwhy, sizeof cwhy) : -1;
            if (rc != 0)
                fprintf(stderr, "# recorder %d: %s\n", i, cwhy);
            report_ledger_close(l);
            _exit(rc ? 1 : 0);
        }
    }
    close(gate[0]);
    usleep(300000); /* every child connected and waiting */
    close(gate[1]);
    int ok = 0;
    for (int i = 0; i < RECORDERS; i++) {
        int st;
        waitpid(pids[i], &st, 0);
        ok += WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }
    TAP_OK(ok == RECORDERS, "ledger: %d concurrent recorders all succeed", ok);
    bool found, sent;
    unsigned attempts;
    int rc = pg->ops->get(pg, "race", "mailto:race@example.org", &found, &sent, &attempts, why,
                          sizeof why);
    long rows = psql_number(uri, "SELECT count(*) FROM dmarc_reports WHERE report_id = 'race'");
    long sends = psql_number(uri, "SELECT count(*) FROM dmarc_reports WHERE report_id = 'race'"
                                  " AND state = 'sent' AND last_error IS NULL");
    /* Sent was recorded by the first sender; every later attempt was
     * refused, so attempts counts the failures before it, plus one. */
    TAP_OK(rc == 0 && found && sent && rows == 1 && sends == 1 && attempts >= 1 &&
               attempts <= RECORDERS / 2 + 1,
           "  one row, sent, after %u attempts (%ld rows)", attempts, rows);
    report_ledger_close(pg);
}

int main(void)
{
    const char *uri = getenv("DOMAUTH_PG_URI"), *uri2 = getenv("DOMAUTH_PG_URI2");
    const char *uri3 = getenv("DOMAUTH_PG_URI3");
    if (uri == NULL || uri2 == NULL || uri3 == NULL || !event_store_have_pg()) {
        printf("1..0 # SKIP %s\n", !event_store_have_pg() ? "built without libpq"
                                                          : "no DOMAUTH_PG_URI (run by "
                                                            "tests/store/pg_store.sh)");
        return 0;
    }
    char dir[] = "/tmp/pg_store.XXXXXX";
    if (mkdtemp(dir) == NULL)
        return 1;
    char why[512];
    event_store *r = open_as(uri, EVENT_STORE_READ, why, sizeof why);
    TAP_OK(r == NULL && strstr(why, "no domauth schema") != NULL,
           "a reader of an empty database: %s", why);
    test_differential(uri, dir);
    test_concurrent_schema(uri2);
    test_faults(uri);
    test_quarantine(uri);
    test_ledger(uri2, uri3, dir);
    test_upgrade(uri3);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    printf("1..%d\n", tap_count);
    return tap_failed ? 1 : 0;
}
