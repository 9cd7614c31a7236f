/* End-to-end test of `domauth log`: fills a database through src/store/eventlog.c
 * (a real uv loop), then runs the built domauth (DOMAUTH_BIN or argv[1]) and
 * checks its filters (--method too), --json with the results and
 * recipients, --summary, --purge-before, exit codes, and a version 1 file
 * read without being changed. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "store/eventlog.h"
#include "tap.h"

static char tmpdir[64], db_path[128];
static const char *domauth_bin;

/* Runs "domauth log ARGS"; returns the exit status and the output (to free). */
static int run_log(const char *args, char **output)
{
    char command[1024];
    snprintf(command, sizeof command, "'%s' log %s 2>%s/stderr.txt", domauth_bin, args, tmpdir);
    FILE *p = popen(command, "r");
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    if (p == NULL || buf == NULL) {
        free(buf);
        if (p != NULL)
            pclose(p);
        *output = NULL;
        return -1;
    }
    for (size_t got; (got = fread(buf + n, 1, cap - 1 - n, p)) > 0;) {
        n += got;
        if (n == cap - 1) {
            char *bigger = realloc(buf, cap * 2);
            if (bigger == NULL)
                break;
            buf = bigger;
            cap *= 2;
        }
    }
    buf[n] = '\0';
    *output = buf;
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; s && *s; s++)
        n += *s == '\n';
    return n;
}

/* Runs ARGS and checks the exit status and the number of output lines. */
static char *expect(const char *args, int status, int lines, const char *what)
{
    char *out;
    int got = run_log(args, &out);
    TAP_OK(got == status && count_lines(out) == lines, "%s (exit %d, %d lines)", what, got,
           count_lines(out));
    return out;
}

static char *stderr_text(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/stderr.txt", tmpdir);
    FILE *f = fopen(path, "r");
    char *buf = calloc(1, 4096);
    if (f != NULL && buf != NULL) {
        size_t n = fread(buf, 1, 4095, f);
        buf[n] = '\0';
    }
    if (f != NULL)
        fclose(f);
    return buf;
}

/* Six decisions: four on fixed days (UTC), two in the last hours. */
static void fill_database(void)
{
    int64_t now = (int64_t)time(NULL);
    static const event_result r0[] = {
        {"spf", "pass", "example.com", "mx", NULL, "smtp.mailfrom=a@example.com"},
        {"dkim", "pass", "example.com", "s2025", NULL, "header.d=example.com header.s=s2025"},
    };
    static const event_result r1[] = {
        {"spf", "fail", "Evil.Example", "-all", NULL, "smtp.mailfrom=b@Evil.Example"},
        {"dkim", "fail", "evil.example", "k1", "signature expired",
         "header.d=evil.example header.s=k1"},
    };
    static const event_result r2[] = {
        {"spf", "softfail", "example.org", "~all", NULL, "smtp.mailfrom=c@example.org"},
        {"dkim", "pass", "Example.ORG", "sel", NULL, "header.d=example.org header.s=sel"},
        {"dkim", "fail", "example.net", "old", "body hash did not verify",
         "header.d=example.net header.s=old"},
    };
    static const event_result r4[] = {
        {"spf", "temperror", "example.net", NULL, "DNS timeout", "smtp.mailfrom=esc@example.net"},
    };
    static const event_result r5[] = {{"spf", "pass", "ok.example", "a", NULL, "smtp.helo=ok"}};
    static const event_rcpt c1[] = {
        {"x@example.net", "reject", "550 5.7.23 Evil.Example says no"},
        {"y@example.net", "reject", "550 5.7.23 Evil.Example says no"},
    };
    static const event_rcpt c0[] = {{"a1@example.net", "accept", NULL}};
    event_record events[] = {
        {.time = 1762768800 /* 2025-11-10 10:00 */, .listener = "milter", .queue_id = "Q1",
         .client_ip = "192.0.2.1", .helo = "mx.example.com", .mail_from = "a@example.com",
         .identity = "mailfrom", .domain = "example.com", .result = "pass", .mechanism = "mx",
         .score = 0, .action = "accept", .results = r0, .result_count = 2, .rcpts = c0,
         .rcpt_count = 1},
        {.time = 1762862400 /* 2025-11-11 12:00 */, .listener = "policy",
         .client_ip = "192.0.2.2", .helo = "evil", .mail_from = "b@Evil.Example",
         .identity = "mailfrom", .domain = "Evil.Example", .result = "fail", .mechanism = "-all",
         .score = 5, .action = "reject", .reply = "550 5.7.23 Evil.Example says no",
         .reasons = "spf=fail: fail_action reject", .dmarc = "fail",
        .results = r1, .result_count = 2,
         .rcpts = c1, .rcpt_count = 2},
        {.time = 1762939800 /* 2025-11-12 09:30 */, .listener = "milter",
         .client_ip = "2001:db8::1", .helo = "h.example.org", .mail_from = "c@example.org",
         .identity = "mailfrom", .domain = "example.org", .result = "softfail",
         .mechanism = "~all", .score = 2.5, .action = "accept", .held_action = "defer",
         .reply = "451 4.7.23 try later", .results = r2, .result_count = 3},
        {.time = 1762943400 /* 2025-11-12 10:30 */, .listener = "milter",
         .client_ip = "198.51.100.5", .helo = "laptop", .mail_from = "me@example.com",
         .skip_reason = "authenticated", .score = 0, .action = "accept"},
        {.time = now - 1800, .listener = "policy", .client_ip = "192.0.2.1",
         .helo = "cr\r\nlf \x1b[2J", .mail_from = "esc\x1b]0;owned\x07@example.net",
         .identity = "mailfrom", .domain = "example.net", .result = "temperror",
         .problem = "DNS timeout", .score = 0, .action = "defer", .results = r4,
         .result_count = 1},
        {.time = now - 7200, .listener = "milter", .client_ip = "192.0.2.9", .helo = "ok",
         .mail_from = "", .identity = "helo", .domain = "ok.example", .result = "pass",
         .mechanism = "a", .score = -1, .action = "tag", .results = r5, .result_count = 1},
    };
    uv_loop_t loop;
    uv_loop_init(&loop);
    char err[512];
    /* Every event but the first is this node's, which eventlog stamps on
     * them; the uids are given so that the JSON below is known. */
    eventlog_options o = {.database_path = db_path, .node = "mx1"};
    eventlog *log = eventlog_open(&loop, &o, err, sizeof err);
    static const char *const uids[] = {"u0", "u1", "u2", "u3", "u4", "u5"};
    events[0].node = "mx2";
    for (size_t i = 0; i < sizeof events / sizeof events[0]; i++) {
        events[i].uid = uids[i];
        eventlog_write(log, &events[i]);
    }
    eventlog_close(log);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    TAP_OK(err[0] == '\0', "the database is filled through eventlog (%s)", err);
}

static void test_filters(void)
{
    char args[512];
    char *out;
#define DB "--database '%s' "
    snprintf(args, sizeof args, DB "--json", db_path);
    out = expect(args, 0, 6, "--json: one line per event");
    char *temperror = strstr(out, "\"temperror\""), *tag = strstr(out, "\"tag\"");
    char *pass2025 = strstr(out, "\"time\":1762768800");
    TAP_OK(temperror && tag && pass2025 && temperror < tag && tag < pass2025,
           "--json: newest first");
    TAP_OK(strstr(out, "\"helo\":\"cr\\r\\nlf \\u001b[2J\"") != NULL,
           "--json: hostile values are escaped");
    TAP_OK(strstr(out, "\"mail_from\":\"\",") != NULL && strstr(out, "\"score\":2.5,") != NULL &&
               strstr(out, "\"queue_id\":null") != NULL && strstr(out, "\"id\":") != NULL,
           "--json: empty strings, numbers, nulls and the id");
    free(out);

    snprintf(args, sizeof args, DB "--result fail --json", db_path);
    out = expect(args, 0, 1, "--result fail");
    TAP_OK(strstr(out, "\"domain\":\"Evil.Example\"") != NULL, "--result fail: the right one");
    free(out);
    snprintf(args, sizeof args, DB "--result fail,softfail --json", db_path);
    free(expect(args, 0, 2, "--result with a list"));
    snprintf(args, sizeof args, DB "--ip 192.0.2.1 --json", db_path);
    free(expect(args, 0, 2, "--ip"));
    snprintf(args, sizeof args, DB "--ip 192.0.2.0/24 --json", db_path);
    free(expect(args, 0, 4, "--ip NETWORK: the four clients in 192.0.2.0/24"));
    snprintf(args, sizeof args, DB "--ip 192.0.2.0/30 --json", db_path);
    free(expect(args, 0, 3, "--ip NETWORK: /30 holds .1 and .2, not .9"));
    snprintf(args, sizeof args, DB "--ip 2001:db8::/32 --json", db_path);
    free(expect(args, 0, 1, "--ip NETWORK: IPv6"));
    snprintf(args, sizeof args, DB "--ip 0.0.0.0/0 --limit 2 --json", db_path);
    free(expect(args, 0, 2, "--ip 0.0.0.0/0 with --limit: the limit still applies"));
    snprintf(args, sizeof args, DB "--ip 192.0.2.0/24 --summary --json", db_path);
    out = expect(args, 0, 1, "--ip NETWORK --summary");
    TAP_OK(strstr(out, "\"events\":4") != NULL, "--ip NETWORK --summary counts those four");
    free(out);
    snprintf(args, sizeof args, DB "--ip 192.0.2.0/33", db_path);
    free(expect(args, 64, 0, "--ip with a prefix too long is a usage error"));
    snprintf(args, sizeof args, DB "--domain evil.EXAMPLE --json", db_path);
    free(expect(args, 0, 1, "--domain ignores case"));
    snprintf(args, sizeof args, DB "--action defer --json", db_path);
    free(expect(args, 0, 2, "--action matches what was done and what was held back"));
    snprintf(args, sizeof args, DB "--skip --json", db_path);
    out = expect(args, 0, 1, "--skip");
    TAP_OK(strstr(out, "\"skip_reason\":\"authenticated\"") != NULL, "--skip: the skipped one");
    free(out);
    snprintf(args, sizeof args, DB "--since 2025-11-11 --until 2025-11-12T10:00 --json",
             db_path);
    free(expect(args, 0, 2, "--since and --until with dates"));
    snprintf(args, sizeof args, DB "--since '2025-11-12 09:30:00' --until @1762943401 --json",
             db_path);
    free(expect(args, 0, 2, "--since includes, --until excludes; @SECONDS"));
    snprintf(args, sizeof args, DB "--since 1h --json", db_path);
    out = expect(args, 0, 1, "--since 1h");
    TAP_OK(strstr(out, "\"temperror\"") != NULL, "--since 1h: the last half hour's");
    free(out);
    snprintf(args, sizeof args, DB "--since 3h --result pass --ip 192.0.2.9 --json", db_path);
    free(expect(args, 0, 1, "filters combine"));
    snprintf(args, sizeof args, DB "--limit 2 --json", db_path);
    free(expect(args, 0, 2, "--limit"));
    snprintf(args, sizeof args, DB "--result neutral", db_path);
    out = expect(args, 0, 1, "nothing matches: exit 0");
    TAP_OK(strstr(out, "no events match") != NULL, "nothing matches: said so");
    free(out);
}

static void test_table(void)
{
    char args[512], *out;
    snprintf(args, sizeof args, DB, db_path);
    out = expect(args, 0, 7, "table: a header and six rows");
    TAP_OK(strchr(out, '\x1b') == NULL && strchr(out, '\x07') == NULL,
           "table: no escape sequence reaches the terminal");
    /* Every row's client column starts where the header's does. */
    const char *header = out, *client = strstr(out, "CLIENT");
    size_t column = client ? (size_t)(client - header) : 0;
    bool aligned = client != NULL;
    int rows = 0;
    for (const char *line = strchr(out, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
        const char *row = line + 1;
        aligned = aligned && row[column - 1] == ' ' && row[column] != ' ' &&
                  (strncmp(row + column, "192.0.2.", 8) == 0 ||
                   strncmp(row + column, "2001:db8::1", 11) == 0 ||
                   strncmp(row + column, "198.51.100.5", 12) == 0);
        rows++;
    }
    TAP_OK(aligned && rows == 6, "table: columns are aligned");
    TAP_OK(strstr(out, "accept(defer)") != NULL && strstr(out, "skipped: authenticated") &&
               strstr(out, " <> ") != NULL && strstr(out, "DNS timeout") != NULL,
           "table: held actions, skips, the null sender and problems are shown");
    free(out);
    snprintf(args, sizeof args, DB "--limit 1", db_path);
    out = expect(args, 0, 2, "table: --limit 1");
    free(out);
    char *said = stderr_text();
    TAP_OK(said && strstr(said, "--limit 0") != NULL, "table: says when more events exist");
    free(said);
}

/* The count on the first line of a --summary that starts with label and
 * spaces, or -1. */
static long summary_count(const char *out, const char *label)
{
    size_t n = strlen(label);
    for (const char *line = out; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        if (strncmp(line, label, n) != 0 || line[n] != ' ')
            continue;
        const char *p = line + n;
        while (*p == ' ')
            p++;
        return strtol(p, NULL, 10);
    }
    return -1;
}

static void test_summary(void)
{
    char args[512], *out;
    snprintf(args, sizeof args, DB "--summary", db_path);
    out = expect(args, 0, 25, "--summary");
    TAP_OK(strstr(out, "6 events, from 2025-11-10 10:00:00") != NULL, "--summary: total and span");
    TAP_OK(summary_count(out, "pass") == 2 && summary_count(out, "fail") == 1 &&
               summary_count(out, "skipped: authenticated") == 1 &&
               summary_count(out, "accept") == 3 && summary_count(out, "tag") == 1 &&
               summary_count(out, "defer") == 1,
           "--summary: counts per result and action");
    TAP_OK(strstr(out, "\nmethod=result ") != NULL && summary_count(out, "spf=pass") == 2 &&
               summary_count(out, "dkim=pass") == 2 && summary_count(out, "dkim=fail") == 2 &&
               summary_count(out, "spf=temperror") == 1,
           "--summary: counts per method and result over every results vector");
    free(out);
    snprintf(args, sizeof args, DB "--summary --json --since 2025-11-11", db_path);
    out = expect(args, 0, 1, "--summary --json");
    TAP_OK(strstr(out, "{\"events\":5,") == out && strstr(out, "\"pass\":1") != NULL &&
               strstr(out, "\"reject\":1") != NULL &&
               strstr(out, "\"held\":{\"defer\":1}") != NULL &&
               strstr(out, ",\"methods\":{\"dkim=fail\":2,\"dkim=pass\":1,\"spf=fail\":1,"
                           "\"spf=pass\":1,\"spf=softfail\":1,\"spf=temperror\":1}}") != NULL,
           "--summary --json: over the selection, per method and result too");
    free(out);
    snprintf(args, sizeof args, DB "--summary --json --method dkim --result fail", db_path);
    out = expect(args, 0, 1, "--summary --json --method dkim --result fail");
    TAP_OK(strstr(out, "{\"events\":2,") == out &&
               strstr(out, "\"methods\":{\"dkim=fail\":2,\"dkim=pass\":1}") != NULL,
           "--summary with --method: the events with such a result, that method's counts");
    free(out);
}

static void test_methods(void)
{
    char args[512], *out;
    snprintf(args, sizeof args, DB "--method dkim --json", db_path);
    free(expect(args, 0, 3, "--method dkim: the events with a DKIM result"));
    snprintf(args, sizeof args, DB "--method dkim --result fail --json", db_path);
    out = expect(args, 0, 2, "--method dkim --result fail: any DKIM result that failed");
    TAP_OK(strstr(out, "\"time\":1762862400") != NULL && strstr(out, "\"time\":1762939800") != NULL,
           "--method dkim --result fail: the right ones (one of two signatures is enough)");
    free(out);
    snprintf(args, sizeof args, DB "--method DKIM --result pass,policy --json", db_path);
    free(expect(args, 0, 2, "--method ignores case; --result takes a list"));
    snprintf(args, sizeof args, DB "--method dkim --result fail --domain EXAMPLE.net --json",
             db_path);
    out = expect(args, 0, 1, "--method with --domain: the domain of that same result");
    TAP_OK(strstr(out, "\"time\":1762939800") != NULL, "--method --domain: the right one");
    free(out);
    snprintf(args, sizeof args, DB "--method dkim --result pass --domain example.net --json",
             db_path);
    free(expect(args, 0, 0, "--method: --result and --domain must match the same result"));
    snprintf(args, sizeof args, DB "--method spf --result temperror,softfail --json", db_path);
    free(expect(args, 0, 2, "--method spf: the results vector's SPF entries"));
    snprintf(args, sizeof args, DB "--method dkim --since 2025-11-12 --json", db_path);
    free(expect(args, 0, 1, "--method combines with the other filters"));
    snprintf(args, sizeof args, DB "--method arc --json", db_path);
    free(expect(args, 0, 0, "--method arc: none"));
    snprintf(args, sizeof args, DB "--method dkim --result maybe", db_path);
    free(expect(args, 64, 0, "--method with an unknown result: exit 64"));
    snprintf(args, sizeof args, DB "--method 'dk im'", db_path);
    free(expect(args, 64, 0, "a --method that is not a name: exit 64"));
    snprintf(args, sizeof args, DB "--result policy", db_path);
    free(expect(args, 64, 0, "--result policy without --method (not an SPF result): exit 64"));

    snprintf(args, sizeof args, DB "--method dkim --result fail", db_path);
    out = expect(args, 0, 3, "--method: the table");
    TAP_OK(strncmp(out, "TIME", 4) == 0 && strstr(out, "  DKIM ") != NULL &&
               strstr(out, "  DETAIL\n") != NULL,
           "--method: the result column is headed by the method, the last is its detail");
    TAP_OK(strstr(out, "evil.example") != NULL && strstr(out, " k1\n") != NULL &&
               strstr(out, "example.net") != NULL && strstr(out, " old\n") != NULL &&
               strstr(out, "Example.ORG") == NULL,
           "--method: each row shows the result asked for, its domain and selector");
    free(out);
}

static void test_json_results(void)
{
    char args[512], *out;
    snprintf(args, sizeof args, DB "--json --result fail", db_path);
    out = expect(args, 0, 1, "--json: one event");
    TAP_OK(strstr(out, "\"reply\":\"550 5.7.23 Evil.Example says no\","
                       "\"reasons\":\"spf=fail: fail_action reject\",\"dmarc\":\"fail\","
                       "\"node\":\"mx1\",\"uid\":\"u1\","
                       "\"results\":[{\"method\":\"spf\",\"result\":\"fail\","
                       "\"domain\":\"Evil.Example\",\"detail\":\"-all\",\"reason\":null,"
                       "\"props\":\"smtp.mailfrom=b@Evil.Example\"},"
                       "{\"method\":\"dkim\",\"result\":\"fail\",\"domain\":\"evil.example\","
                       "\"detail\":\"k1\",\"reason\":\"signature expired\","
                       "\"props\":\"header.d=evil.example header.s=k1\"}],") != NULL,
           "--json: the reasons and every result, as objects");
    TAP_OK(strstr(out, "\"recipients\":[{\"address\":\"x@example.net\",\"action\":\"reject\","
                       "\"reply\":\"550 5.7.23 Evil.Example says no\"},"
                       "{\"address\":\"y@example.net\",\"action\":\"reject\","
                       "\"reply\":\"550 5.7.23 Evil.Example says no\"}]}\n") != NULL,
           "--json: every recipient, what was done and the reply");
    free(out);
    snprintf(args, sizeof args, DB "--json --skip", db_path);
    out = expect(args, 0, 1, "--json: a skipped event");
    TAP_OK(strstr(out, "\"reasons\":null,\"dmarc\":null,\"node\":\"mx1\",\"uid\":\"u3\","
                       "\"results\":[],\"recipients\":[]}") != NULL,
           "--json: no results or recipients are empty arrays");
    free(out);
    snprintf(args, sizeof args, DB "--json --node mx2", db_path);
    out = expect(args, 0, 1, "--node mx2: the one event of that node");
    TAP_OK(strstr(out, "\"node\":\"mx2\",\"uid\":\"u0\"") != NULL, "  and its node and uid");
    free(out);
    snprintf(args, sizeof args, DB "--node mx1", db_path);
    free(expect(args, 0, 6, "--node mx1: a header and the five others"));
    snprintf(args, sizeof args, DB "--node mx3", db_path);
    out = expect(args, 0, 1, "--node mx3: none");
    free(out);
}

/* A database domauthd 0.1 wrote (schema version 1) that no domauthd has
 * migrated yet: domauth log reads it, read-only, with results made of its
 * SPF columns, and leaves it at version 1. */
static void test_version_1(void)
{
    char path[160], args[512], *out;
    snprintf(path, sizeof path, "%s/v1.db", tmpdir);
    sqlite3 *db;
    sqlite3_open(path, &db);
    int rc = sqlite3_exec(
        db,
        "PRAGMA journal_mode = WAL;"
        "CREATE TABLE IF NOT EXISTS events ( id INTEGER PRIMARY KEY, time INTEGER NOT NULL,"
        " listener TEXT, queue_id TEXT, client_ip TEXT, client_name TEXT, helo TEXT,"
        " mail_from TEXT, rcpt TEXT, header_from TEXT, identity TEXT,"
        " domain TEXT COLLATE NOCASE, result TEXT, mechanism TEXT, problem TEXT,"
        " skip_reason TEXT, score REAL, action TEXT, held_action TEXT, reply TEXT);"
        "CREATE INDEX IF NOT EXISTS events_time ON events (time);"
        "CREATE INDEX IF NOT EXISTS events_result ON events (result);"
        "CREATE INDEX IF NOT EXISTS events_client_ip ON events (client_ip);"
        "CREATE INDEX IF NOT EXISTS events_domain ON events (domain);"
        "PRAGMA user_version = 1;"
        "INSERT INTO events (time, listener, client_ip, helo, mail_from, rcpt, identity, domain,"
        " result, mechanism, score, action, reply) VALUES (1762768800, 'milter', '192.0.2.7',"
        " 'mx.example.com', 'v@example.com', 'r@example.net', 'mailfrom', 'example.com', 'fail',"
        " '-all', 5, 'reject', '550 no');"
        "INSERT INTO events (time, listener, client_ip, helo, mail_from, skip_reason, score,"
        " action) VALUES (1762768900, 'policy', '192.0.2.8', 'laptop', 'me@example.com',"
        " 'authenticated', 0, 'accept');",
        NULL, NULL, NULL);
    sqlite3_close(db);
    TAP_OK(rc == SQLITE_OK, "a version 1 database");
    snprintf(args, sizeof args, "--database '%s' --json --method spf --result fail", path);
    out = expect(args, 0, 1, "version 1: --method spf --result fail");
    TAP_OK(strstr(out, "\"reasons\":null,\"dmarc\":null,\"node\":null,\"uid\":null,"
                       "\"results\":[{\"method\":\"spf\",\"result\":\"fail\","
                       "\"domain\":\"example.com\",\"detail\":\"-all\",\"reason\":null,"
                       "\"props\":\"smtp.mailfrom=v@example.com\"}],\"recipients\":"
                       "[{\"address\":\"r@example.net\",\"action\":\"reject\","
                       "\"reply\":\"550 no\"}]}") != NULL,
           "version 1: each row read with its results entry and recipient");
    free(out);
    snprintf(args, sizeof args, "--database '%s'", path);
    free(expect(args, 0, 3, "version 1: the table"));
    sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
    sqlite3_step(st);
    TAP_OK(sqlite3_column_int(st, 0) == 1, "version 1: domauth log did not change the file");
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void test_errors_and_purge(void)
{
    char args[512], *out, *said;
    snprintf(args, sizeof args, "--database '%s/none.db'", tmpdir);
    free(expect(args, 66, 0, "a missing database: exit 66"));
    said = stderr_text();
    TAP_OK(said && strstr(said, "no event database at") != NULL, "a missing database: said so");
    free(said);
    snprintf(args, sizeof args, "--database '%s/stderr.txt'", tmpdir);
    free(expect(args, 66, 0, "a file that is not a database: exit 66"));
    snprintf(args, sizeof args, DB "--since yesterday", db_path);
    free(expect(args, 64, 0, "a bad time: exit 64"));
    snprintf(args, sizeof args, DB "--result maybe", db_path);
    free(expect(args, 64, 0, "an unknown result: exit 64"));
    snprintf(args, sizeof args, DB "--frobnicate", db_path);
    free(expect(args, 64, 0, "an unknown option: exit 64"));
    snprintf(args, sizeof args, DB "--purge-before 1d --json", db_path);
    free(expect(args, 64, 0, "--purge-before with a filter: exit 64"));
    out = NULL;
    int status = run_log("--help", &out);
    TAP_OK(status == 0 && strstr(out, "--purge-before") && strstr(out, "--summary") &&
               strstr(out, "--method") && strstr(out, "Exit status"),
           "--help: exit 0 and every option");
    free(out);

    char config[160];
    snprintf(config, sizeof config, "%s/domauth.conf", tmpdir);
    FILE *f = fopen(config, "w");
    fprintf(f, "[daemon]\ndatabase = %s\n", db_path);
    fclose(f);
    snprintf(args, sizeof args, "--config '%s' --json", config);
    free(expect(args, 0, 6, "--config: the database key is used"));

    snprintf(args, sizeof args, DB "--purge-before 2025-11-12", db_path);
    out = expect(args, 0, 1, "--purge-before");
    TAP_OK(strstr(out, "2 events before") != NULL, "--purge-before: says how many");
    free(out);
    snprintf(args, sizeof args, DB "--json", db_path);
    free(expect(args, 0, 4, "--purge-before: the older events are gone"));
}

int main(int argc, char **argv)
{
    domauth_bin = argc > 1 ? argv[1] : getenv("DOMAUTH_BIN");
    if (domauth_bin == NULL || access(domauth_bin, X_OK) != 0) {
        TAP_SKIP("no domauth binary (set DOMAUTH_BIN)");
        return tap_done();
    }
    /* The fixed days above are UTC; domauth reads TIME in local time. */
    setenv("TZ", "UTC", 1);
    tzset();
    strcpy(tmpdir, "/tmp/domauth-log-test-XXXXXX");
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(db_path, sizeof db_path, "%s/events.db", tmpdir);
    fill_database();
    test_filters();
    test_table();
    test_summary();
    test_methods();
    test_json_results();
    test_version_1();
    test_errors_and_purge();

    char command[128];
    snprintf(command, sizeof command, "rm -rf '%s'", tmpdir);
    if (system(command) != 0)
        printf("# could not remove %s\n", tmpdir);
    return tap_done();
}
