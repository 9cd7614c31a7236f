/* Unit tests for domauth.conf parsing and the whitelist forms: defaults,
 * every value type, per-domain overrides, and errors that name the line. */
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "tap.h"

static int parse(domauth_config *cfg, const char *text, char *err)
{
    if (config_init(cfg) != 0)
        return -2;
    return config_parse(cfg, "test.conf", text, strlen(text), err, 512);
}

static void expect_error(const char *text, const char *want)
{
    domauth_config cfg;
    char err[512] = "";
    int rc = parse(&cfg, text, err);
    TAP_OK(rc == -1 && strstr(err, want) != NULL, "error names '%s'", want);
    if (rc != -1 || strstr(err, want) == NULL)
        printf("#   got rc %d, '%s'\n", rc, err);
    if (rc == 0)
        config_free(&cfg);
}

static bool contains(const ip_set *set, const char *ip)
{
    ip_addr a;
    ip_parse(ip, strlen(ip), &a);
    ip_unmap(&a);
    return ip_set_contains(set, &a);
}

/* Writes a sample line, uncommenting ";key = value" and ";[section]". */
static void emit_uncommented(void *arg, const char *line)
{
    if (line[0] == ';' && line[1] != ' ' && line[1] != '\0')
        line++;
    fprintf(arg, "%s\n", line);
}

/* Issue 18 item 11: values -t accepted and the daemon refused or misread. */
static void test_issue18_values(void)
{
    domauth_config cfg;
    char err[512] = "";

    /* socket_mode is octal, at most 0777. */
    expect_error("[daemon]\nsocket_mode = 77777777\n",
                 "test.conf:2: socket_mode: expected an octal mode such as 0660, at most 0777");
    expect_error("[daemon]\nsocket_mode = 0999\n", "test.conf:2: socket_mode: expected an octal mode");
    expect_error("[daemon]\nsocket_mode = 01000\n", "at most 0777, not '01000'");
    expect_error("[daemon]\nsocket_mode = -1\n", "socket_mode: expected an octal mode");
    expect_error("[daemon]\nsocket_mode = 0x1ff\n", "socket_mode: expected an octal mode");
    TAP_OK(parse(&cfg, "[daemon]\nsocket_mode = 0777\n", err) == 0 && cfg.socket_mode == 0777,
           "socket_mode = 0777 is the largest");
    config_free(&cfg);

    /* Syslog facilities: the known ones, named in the error, stored in lower case. */
    expect_error("[daemon]\nsyslog_facility = bogus\n",
                 "test.conf:2: syslog_facility: expected one of mail, daemon, user, local0, "
                 "local1, local2, local3, local4, local5, local6, local7; not 'bogus'");
    TAP_OK(parse(&cfg, "[daemon]\nsyslog_facility = LOCAL3\n", err) == 0 &&
               strcmp(cfg.syslog_facility, "local3") == 0,
           "syslog_facility LOCAL3 is stored as local3 (the daemon compares exactly)");
    config_free(&cfg);

    /* Numbers: digits only, within range; 0 where 0 would mean the default. */
    expect_error("[daemon]\nmax_sessions = 0\n",
                 "test.conf:2: max_sessions: expected a whole number from 1 to 100000000, not '0'");
    expect_error("[daemon]\ndns_timeout_ms = 5x\n", "test.conf:2: dns_timeout_ms: expected a whole number");
    expect_error("[daemon]\ndns_timeout_ms = -5\n", "dns_timeout_ms: expected a whole number");
    expect_error("[daemon]\ndns_timeout_ms = +5\n", "dns_timeout_ms: expected a whole number");
    expect_error("[daemon]\ndns_timeout_ms = 0\n", "dns_timeout_ms: expected a whole number from 1");
    expect_error("[daemon]\ndns_tries = 0\n", "dns_tries: expected a whole number from 1");
    expect_error("[daemon]\nspf_deadline_ms = 0\n", "spf_deadline_ms: expected a whole number from 1");
    expect_error("[daemon]\ncache_entries = 0\n", "cache_entries: expected a whole number from 1");
    expect_error("[daemon]\ncache_entries = 18446744073709551617\n", "cache_entries: expected a whole number");
    expect_error("[daemon]\nmax_sessions = 4294967297\n", "max_sessions: expected a whole number");
    expect_error("[daemon]\nmax_sessions = 100000001\n", "max_sessions: expected a whole number");
    expect_error("[daemon]\nmilter = inet:127.0.0.1:+25\n", "milter: expected unix:/path or inet:host:port");
    expect_error("[policy]\nfail_score = 0x10\n", "fail_score: expected a number such as 5.0");
    expect_error("[policy]\nfail_score = inf\n", "fail_score: expected a number such as 5.0");
    expect_error("[policy]\nfail_score = 1e9\n", "fail_score: expected a number such as 5.0");
    TAP_OK(parse(&cfg, "[daemon]\nmax_sessions = 1\n[policy]\nfail_score = 2.5e1\n", err) == 0 &&
               cfg.max_sessions == 1 && cfg.global.results[DA_SPF_FAIL].score == 25.0,
           "max_sessions = 1 and a score with an exponent are taken");
    config_free(&cfg);

    /* Paths are absolute: domauthd -d and reloads run in /. */
    expect_error("[daemon]\npidfile = run/domauthd.pid\n", "test.conf:2: pidfile: expected an absolute path");
    expect_error("[daemon]\ndatabase = events.db\n", "test.conf:2: database: expected an absolute path");
    expect_error("[daemon]\nevent_log = events.jsonl\n", "event_log: expected an absolute path");
    expect_error("[hosts]\nwhitelist_file = wl.txt\n", "test.conf:2: whitelist_file: expected an absolute path");
    expect_error("[dkim]\nkey = example.com s1 keys/s1.private\n", "key: the key file must be an absolute path");
    expect_error("[dkim]\nkey = exa$mple.com s1 /k/s1.private\n", "key: 'exa$mple.com' is not a domain name");
    {
        /* A field too long for its buffer is named, not split in two. */
        char text[400] = "[dkim]\nkey = example.com ";
        memset(text + strlen(text), 's', 200);
        strcat(text, " /k/s1.private\n");
        expect_error(text, "test.conf:2: key: the selector 'sss");
        expect_error(text, "...' is longer than 127 characters");
    }

    /* Names that end up in header fields. */
    expect_error("[daemon]\nauthserv_id = mx example\n", "test.conf:2: authserv_id: expected a host name");
    expect_error("[daemon]\nreceiver = mx;evil\n", "test.conf:2: receiver: expected a host name");
    expect_error("[policy]\nscore_header = X Score\n", "score_header: expected a header field name");
    expect_error("[domain a.example]\nscore_header = X-Score:\n", "score_header: expected a header field name");
    expect_error("[dkim]\nsign_headers = from::to\n", "test.conf:2: sign_headers: '': an empty name");
    expect_error("[dkim]\nsign_headers = from:x y:to\n", "sign_headers: 'x y': not a header field name");
    expect_error("[dkim]\nsign_headers = from;to\n", "sign_headers: 'from;to': not a header field name");
    TAP_OK(parse(&cfg, "[dkim]\nsign_headers = From : To:subject \ncanonicalization = Relaxed/Simple\n", err) == 0 &&
               strcmp(cfg.dkim_headers, "From:To:subject") == 0 &&
               strcmp(cfg.dkim_canon, "relaxed/simple") == 0,
           "sign_headers blanks dropped (the signer refuses them); canonicalization lower-cased");
    config_free(&cfg);

    /* Replies: the RFC 5321 length and known macros only. */
    expect_error("[policy]\nfail_reply = 550 5.7.23 %{sendr} is not allowed\n",
                 "test.conf:2: fail_reply: unknown macro '%{sendr}'");
    {
        char text[700] = "[policy]\nfail_reply = 550 ";
        memset(text + strlen(text), 'x', 520);
        strcat(text, "\n");
        expect_error(text, "test.conf:2: fail_reply: a reply line is at most 510 characters");
    }

    /* Tags: the verdict holds CONFIG_TAG_MAX bytes; a longer one is refused,
     * not cut there. */
    {
        char text[400] = "[spf]\nfail_tag = ";
        memset(text + strlen(text), 't', CONFIG_TAG_MAX);
        strcat(text, "\n");
        TAP_OK(parse(&cfg, text, err) == 0 && strlen(cfg.global.results[DA_SPF_FAIL].tag) ==
                                                   CONFIG_TAG_MAX,
               "a tag of CONFIG_TAG_MAX bytes is taken whole");
        config_free(&cfg);
        char longer[400] = "[domain a.example]\ndkim_fail_tag = ";
        memset(longer + strlen(longer), 't', CONFIG_TAG_MAX + 1);
        strcat(longer, "\n");
        expect_error(longer, "test.conf:2: dkim_fail_tag: a tag is at most 127 bytes, not 128");
    }

    /* Listeners and the user. */
    expect_error("[daemon]\nmilter = inet:127.0.0.1:10045\n",
                 "test.conf:2: milter and policy are both inet:127.0.0.1:10045");
    expect_error("[daemon]\nmilter =\npolicy =\n", "test.conf:3: milter and policy are both empty");
    expect_error("[daemon]\ngroup = mail\n", "test.conf:2: group = mail needs user");
    TAP_OK(parse(&cfg, "[daemon]\n\nuser = domauth\ngroup = mail\n", err) == 0 &&
               config_key_line(&cfg, "daemon", "user") == 3 &&
               config_key_line(&cfg, "daemon", "group") == 4 &&
               config_key_line(&cfg, "daemon", "pidfile") == 0,
           "config_key_line names the line of a key, 0 for one not set");
    config_free(&cfg);
}

/* Issue 18 item 11: repeats, [domain] headers, long values. */
static void test_issue18_lines(void)
{
    domauth_config cfg;
    char err[512] = "";

    /* A key given twice is an error in every section, naming both lines. */
    expect_error("[domain example.org]\nfail_action = defer\nfail_action = reject\n",
                 "test.conf:3: 'fail_action' is given twice in [domain example.org] (first on line 2)");
    expect_error("[domain example.org]\nmonitor = no\n[policy]\n[domain Example.ORG]\nmonitor = yes\n",
                 "test.conf:5: 'monitor' is given twice in [domain example.org] (first on line 2)");
    expect_error("[policy]\nfail_action = defer\n\nfail_action = reject\n",
                 "test.conf:4: 'fail_action' is given twice in [policy] (first on line 2)");
    expect_error("[policy]\ndkim_fail_score = 1\ndkim_fail_score = 2\n",
                 "test.conf:3: 'dkim_fail_score' is given twice in [policy] (first on line 2)");
    expect_error("[daemon]\nuser = a\n[policy]\n[daemon]\nuser = b\n",
                 "test.conf:5: 'user' is given twice in [daemon] (first on line 2)");
    TAP_OK(parse(&cfg, "[domain a.example]\nmonitor = no\n[domain b.example]\nmonitor = no\n", err) == 0,
           "the same key in two domains is no repeat");
    config_free(&cfg);

    /* [domain] takes one domain name. */
    expect_error("[policy]\n[domain a b c]\nmonitor = no\n", "test.conf:2: [domain a b c]: one domain per section");
    expect_error("[domain a.example,b.example]\n", "test.conf:1: [domain a.example,b.example]: one domain per section");
    expect_error("[domain]\nmonitor = no\n", "test.conf:1: [domain] needs a domain name");
    expect_error("[domain *.example.org]\n", "test.conf:1: [domain *.example.org]: '*.example.org' is not a domain name");
    expect_error("[domain example..org]\n", "is not a domain name");
    expect_error("[domain example.org.]\n", "is not a domain name");
    expect_error("[policy] monitor = no\n", "test.conf:1: unexpected text after the section header");
    expect_error("[policy\n", "test.conf:1: expected ']'");
    expect_error("monitor = no\n", "test.conf:1: 'monitor' comes before any section");
    {
        /* libinih cut section names at 50 characters: a long domain was misread. */
        const char *text = "[domain a-rather-long-subdomain.of-a-rather-long-domain.example.org]\n"
                           "monitor = no\n";
        TAP_OK(parse(&cfg, text, err) == 0 && cfg.domain_count == 1 &&
                   strcmp(cfg.domains[0].domain,
                          "a-rather-long-subdomain.of-a-rather-long-domain.example.org") == 0,
               "a [domain] name past 50 characters is kept whole");
        config_free(&cfg);
    }

    /* Continuation lines (Postfix style): long values. */
    {
        char text[CONFIG_LINE_MAX * 2] = "[dkim]\nsign_headers = from:to:cc:subject:date";
        char want[CONFIG_LINE_MAX] = "from:to:cc:subject:date";
        for (int i = 0; i < 12; i++) {
            char piece[100];
            snprintf(piece, sizeof piece, "\n    :x-list-header-number-%02d:x-another-one-%02d", i, i);
            strcat(text, piece);
            snprintf(piece, sizeof piece, ":x-list-header-number-%02d:x-another-one-%02d", i, i);
            strcat(want, piece);
        }
        strcat(text, "   ; a comment\n; a comment line between\n\n\t:list-id\nverify = no\n");
        strcat(want, ":list-id");
        int rc = parse(&cfg, text, err);
        TAP_OK(rc == 0 && strlen(want) > 500 && strcmp(cfg.dkim_headers, want) == 0 && !cfg.dkim_verify,
               "sign_headers over indented continuation lines: %zu characters, joined", strlen(want));
        if (rc != 0)
            printf("#   %s\n", err);
        else if (strcmp(cfg.dkim_headers, want) != 0)
            printf("#   got '%s'\n", cfg.dkim_headers);
        if (rc == 0)
            config_free(&cfg);
    }
    TAP_OK(parse(&cfg, "[policy]\nfail_reply = 550 5.7.23 Mail from %{domain} is refused:\n"
                       "  see the SPF record of the domain\r\n\tand ask its owner\r\n", err) == 0 &&
               strcmp(cfg.global.results[DA_SPF_FAIL].reply,
                      "550 5.7.23 Mail from %{domain} is refused: see the SPF record of the "
                      "domain and ask its owner") == 0,
           "a reply continued over two lines (CRLF too), joined with single spaces");
    config_free(&cfg);
    TAP_OK(parse(&cfg, "[hosts]\nwhitelist =\n  192.0.2.1 the printer\n  192.0.2.9\n"
                       "[dkim]\nkey = a.example s1 /k/a\n   b.example s2 /k/b\n", err) == 0 &&
               contains(&cfg.whitelist, "192.0.2.1") && contains(&cfg.whitelist, "192.0.2.9") &&
               !contains(&cfg.whitelist, "192.0.2.2") && cfg.dkim_key_count == 2 &&
               cfg.dkim_keys[1].line == 7 && strcmp(cfg.dkim_keys[1].selector, "s2") == 0,
           "for list keys each continuation line is one more entry, with its own line");
    config_free(&cfg);
    TAP_OK(parse(&cfg, "[daemon]\n    syslog = no\n", err) == 0 && !cfg.syslog,
           "an indented key with nothing to continue is a key (as libinih read it)");
    config_free(&cfg);
    expect_error("[daemon]\npidfile = /run/domauthd.pid\n    user = domauth\n",
                 "test.conf:3: an indented line continues the value of 'pidfile' (line 2), but this one "
                 "looks like a key");
    {
        /* Past the limit of a logical line: an error naming its first line. */
        char text[CONFIG_LINE_MAX * 2] = "[dkim]\nverify = yes\nsign_headers = from";
        for (int i = 0; i < 60; i++)
            strcat(text, "\n  :x-a-header-name-of-some-length-to-fill-the-logical-line-up-to-the-limit");
        strcat(text, "\n");
        expect_error(text, "test.conf:3: 'sign_headers' is longer than 4096 characters with its "
                           "continuation lines (to line");
    }
    {
        /* A line of 4096 characters is still taken. */
        char text[CONFIG_LINE_MAX + 100] = "[hosts]\nwhitelist = 192.0.2.1 ";
        size_t used = strlen(text) - strlen("[hosts]\n");
        memset(text + strlen(text), 'c', CONFIG_LINE_MAX - used);
        strcat(text, "\n");
        int rc = parse(&cfg, text, err);
        TAP_OK(rc == 0 && contains(&cfg.whitelist, "192.0.2.1"),
               "a line of %d characters (a long comment) is taken", CONFIG_LINE_MAX);
        if (rc != 0)
            printf("#   %s\n", err);
        else
            config_free(&cfg);
    }
}

int main(void)
{
    domauth_config cfg;
    char err[512] = "";

    /* Defaults: observe only, fail would be rejected, scores 5 and 2. */
    TAP_OK(parse(&cfg, "", err) == 0, "an empty file is the defaults");
    TAP_OK(cfg.global.monitor && cfg.global.skip_authenticated && !cfg.global.check_local,
           "monitor on, authenticated skipped, local not checked");
    TAP_OK(cfg.global.results[DA_SPF_FAIL].action == ACTION_REJECT &&
               cfg.global.results[DA_SPF_TEMPERROR].action == ACTION_ACCEPT,
           "fail would reject, temperror accepts");
    TAP_OK(cfg.global.results[DA_SPF_FAIL].score == 5.0 &&
               cfg.global.results[DA_SPF_SOFTFAIL].score == 2.0 &&
               cfg.global.results[DA_SPF_PASS].score == 0.0,
           "scores fail 5.0, softfail 2.0, pass 0");
    TAP_STR_EQ(cfg.global.results[DA_SPF_FAIL].tag, "*** FRAUD ***", "fail tag text");
    TAP_OK(!cfg.global.results[DA_SPF_FAIL].tag_subject, "subject tagging off by default");
    TAP_OK(cfg.global.received_spf && cfg.global.received_spf_skip_none, "Received-SPF on, not for none");
    TAP_OK(contains(&cfg.local, "127.0.0.1") && contains(&cfg.local, "10.1.2.3") &&
               contains(&cfg.local, "172.31.255.255") && !contains(&cfg.local, "172.32.0.1") &&
               contains(&cfg.local, "192.168.7.7") && contains(&cfg.local, "::1") &&
               contains(&cfg.local, "fd00::1") && contains(&cfg.local, "fe80::1") &&
               !contains(&cfg.local, "192.0.2.1"),
           "local networks: loopback and private ranges only");
    config_free(&cfg);

    /* Every value type, comments, whitelist forms. */
    const char *full =
        "; a comment\n"
        "# another\n"
        "[daemon]\n"
        "milter = unix:/run/domauth/milter.sock\n"
        "policy = inet:127.0.0.1:10045\n"
        "socket_mode = 0600\n"
        "dns_timeout_ms = 500 ; inline comment\n"
        "syslog = off\n"
        "[hosts]\n"
        "whitelist = 192.168.1.100 the printer\n"
        "whitelist = 192.168.1.110-192.168.1.120 lab\n"
        "whitelist = 192.0.2.40 - 192.0.2.45 spaced range\n"
        "whitelist = 10.9.0.0/255.255.0.0\n"
        "whitelist = 10.8.0.0/16 vpn\n"
        "whitelist = 2001:db8:1::/48\n"
        "trusted = 203.0.113.5\n"
        "[policy]\n"
        "monitor = no\n"
        "identity = header_from\n"
        "reply_stage = data\n"
        "fail_action = defer\n"
        "fail_reply = 451 4.7.1 Please try again later\n"
        "fail_tag_subject = yes\n"
        "softfail_score = -1.5\n"
        "reject_threshold = 7\n"
        "[domain Example.ORG]\n"
        "monitor = yes\n"
        "fail_action = reject\n"
        "fail_reply = 554 Transaction failed\n";
    TAP_OK(parse(&cfg, full, err) == 0, "a full file parses");
    if (err[0])
        printf("#   %s\n", err);
    TAP_STR_EQ(cfg.milter_listen, "unix:/run/domauth/milter.sock", "milter listener");
    TAP_OK(cfg.socket_mode == 0600 && cfg.dns_timeout_ms == 500 && !cfg.syslog,
           "octal mode, number with inline comment, boolean off");
    TAP_OK(contains(&cfg.whitelist, "192.168.1.100") && !contains(&cfg.whitelist, "192.168.1.101"),
           "single address");
    TAP_OK(contains(&cfg.whitelist, "192.168.1.110") && contains(&cfg.whitelist, "192.168.1.120") &&
               !contains(&cfg.whitelist, "192.168.1.121"),
           "range a-b, inclusive");
    TAP_OK(contains(&cfg.whitelist, "192.0.2.40") && contains(&cfg.whitelist, "192.0.2.45") &&
               !contains(&cfg.whitelist, "192.0.2.46"),
           "range 'a - b' with spaces is the whole range, not a and a comment");
    TAP_OK(contains(&cfg.whitelist, "10.9.200.1") && !contains(&cfg.whitelist, "10.10.0.1"),
           "address/netmask");
    TAP_OK(contains(&cfg.whitelist, "10.8.255.255"), "address/prefix");
    TAP_OK(contains(&cfg.whitelist, "2001:db8:1:ffff::1") && !contains(&cfg.whitelist, "2001:db8:2::1"),
           "IPv6 prefix");
    TAP_OK(contains(&cfg.whitelist, "::ffff:192.168.1.100"), "IPv4-mapped client matches IPv4 entry");
    TAP_OK(contains(&cfg.trusted, "203.0.113.5"), "trusted relay");
    TAP_OK(!cfg.global.monitor && cfg.global.identity == IDENTITY_HEADER_FROM &&
               cfg.global.stage == STAGE_DATA,
           "global policy keys");
    TAP_OK(cfg.global.results[DA_SPF_FAIL].action == ACTION_DEFER &&
               cfg.global.results[DA_SPF_FAIL].tag_subject &&
               cfg.global.results[DA_SPF_SOFTFAIL].score == -1.5 &&
               cfg.global.reject_threshold == 7.0,
           "per-result keys and threshold");
    const policy_settings *org = config_settings_for(&cfg, "example.org");
    const policy_settings *sub = config_settings_for(&cfg, "mail.EXAMPLE.org");
    const policy_settings *other = config_settings_for(&cfg, "example.net");
    TAP_OK(org != &cfg.global && sub == org && other == &cfg.global,
           "domain override found for the domain and its subdomains only");
    TAP_OK(org->monitor && org->results[DA_SPF_FAIL].action == ACTION_REJECT &&
               strcmp(org->results[DA_SPF_FAIL].reply, "554 Transaction failed") == 0,
           "override keys apply");
    TAP_OK(org->identity == IDENTITY_HEADER_FROM && org->results[DA_SPF_SOFTFAIL].score == -1.5,
           "keys the domain does not set fall back to the global ones");
    config_free(&cfg);

    /* Order of sections does not matter for overrides. */
    TAP_OK(parse(&cfg, "[domain a.example]\nmonitor = no\n[policy]\nsoftfail_score = 9\n", err) == 0 &&
               config_settings_for(&cfg, "a.example")->results[DA_SPF_SOFTFAIL].score == 9.0,
           "a [domain] section sees [policy] keys set after it");
    config_free(&cfg);

    /* Errors name the file, the line and what was expected. */
    expect_error("[policy]\nmonitor = maybe\n", "test.conf:2: monitor: expected yes or no");
    expect_error("[daemon]\n\nmilter = tcp:1.2.3.4\n", "test.conf:3: milter: expected unix:/path or inet:host:port");
    expect_error("[policy]\nfail_action = bounce\n", "test.conf:2: fail_action: expected one of accept, defer, reject");
    expect_error("[policy]\nfail_reply = hello\n", "test.conf:2: fail_reply: a reply starts with a three-digit code");
    expect_error("[policy]\nfail_reply = 550 4.7.1 x\n", "does not match reply code");
    expect_error("[policy]\nfail_action = defer\n", "fail_reply: a defer reply must start with 4xx");
    expect_error("[policy]\nsoftfail_score = lots\n", "test.conf:2: softfail_score: expected a number");
    expect_error("[hosts]\nwhitelist = 192.168.1.300\n", "test.conf:2: whitelist: '192.168.1.300' is not an IP address");
    expect_error("[hosts]\nwhitelist = 10.0.0.9-10.0.0.1\n", "ends before it starts");
    expect_error("[hosts]\nwhitelist = 192.0.2.40 - 192.0.2.450\n",
                 "test.conf:2: whitelist: '192.0.2.40 - 192.0.2.450' is not a range");
    expect_error("[hosts]\nwhitelist = 10.0.0.0/255.0.255.0\n", "not a prefix length or netmask");
    expect_error("[policy]\nmonitr = no\n", "test.conf:2: unknown key 'monitr' in [policy]");
    expect_error("[polcy]\nmonitor = no\n", "test.conf:1: unknown section [polcy]");
    expect_error("[policy]\nmonitor = no\nmonitor = yes\n", "test.conf:3: 'monitor' is given twice in [policy] (first on line 2)");
    expect_error("[domain x.example]\nmilter = inet:1.2.3.4:5\n", "test.conf:2: 'milter' cannot be set per domain");
    expect_error("[policy]\nthis line has no equals sign\n", "test.conf:2: expected 'key = value'");
    {
        char text[5000] = "[policy]\nscore_header = X-";
        memset(text + strlen(text), 'x', 4100);
        strcat(text, "\n");
        expect_error(text, "test.conf:2: line longer than 4096 characters");
    }
    {
        const char text[] = "[policy]\nmonitor = no\0\n";
        domauth_config c2;
        config_init(&c2);
        int rc = config_parse(&c2, "test.conf", text, sizeof text - 1, err, sizeof err);
        TAP_OK(rc == -1 && strstr(err, "test.conf:2: NUL byte") != NULL, "a NUL byte is an error, not the end");
    }

    test_issue18_values();
    /* Sections: [spf] and [dkim] per-result keys, old names still read
     * (with a warning), and every table's reply must suit its action. */
    TAP_OK(parse(&cfg, "[spf]\nfail_action = reject\n[dkim]\nfail_action = reject\n"
                       "fail_score = 4.5\n[domain x.example]\nspf_fail_action = accept\n"
                       "dkim_pass_score = -2\n",
                 err) == 0 &&
               cfg.global.results[DA_SPF_FAIL].action == ACTION_REJECT &&
               cfg.global.dkim_results[2].action == ACTION_REJECT &&
               cfg.global.dkim_results[2].score == 4.5 &&
               config_settings_for(&cfg, "x.example")->results[DA_SPF_FAIL].action ==
                   ACTION_ACCEPT &&
               config_settings_for(&cfg, "x.example")->dkim_results[1].score == -2.0 &&
               cfg.warning_count == 0,
           "[spf], [dkim] and [domain] spf_/dkim_ keys, no warning");
    config_free(&cfg);
    TAP_OK(parse(&cfg, "[policy]\nfail_action = reject\ndkim_fail_score = 3\n", err) == 0 &&
               cfg.global.results[DA_SPF_FAIL].action == ACTION_REJECT &&
               cfg.global.dkim_results[2].score == 3.0 && cfg.warning_count == 2 &&
               strstr(cfg.warnings[0], "test.conf:2: [policy] fail_action is the old name of "
                                       "[spf] fail_action") != NULL,
           "old names in [policy] still work, each with a warning naming the new key");
    config_free(&cfg);
    expect_error("[dkim]\nfail_action = defer\n",
                 "test.conf:2: [dkim] fail_reply: a defer reply must start with 4xx");
    expect_error("[policy]\ninvalid_from_action = defer\n",
                 "invalid_from_reply: a defer reply must start with 4xx");
    expect_error("[policy]\nreject_threshold = 5\nreject_threshold_reply = 451 4.7.1 later\n",
                 "reject_threshold_reply: a reject reply must start with 5xx");
    test_issue18_lines();
    /* Session limits and timeouts: defaults, values, and 0 or absurd ones
     * refused with the line. */
    TAP_OK(parse(&cfg, "", err) == 0 && cfg.max_sessions == 2000 &&
               cfg.milter_max_sessions == 1000 && cfg.policy_max_sessions == 1000 &&
               cfg.milter_idle_timeout == 3600 && cfg.policy_idle_timeout == 600 &&
               cfg.request_timeout == 30,
           "session limits 2000 (1000 per listener), idle 3600 s / 600 s, request 30 s");
    config_free(&cfg);
    TAP_OK(parse(&cfg,
                 "[daemon]\nmilter_max_sessions = 1\npolicy_max_sessions = 1000000\n"
                 "milter_idle_timeout = 86400\npolicy_idle_timeout = 1\nrequest_timeout = 5\n",
                 err) == 0 &&
               cfg.milter_max_sessions == 1 && cfg.policy_max_sessions == 1000000 &&
               cfg.milter_idle_timeout == 86400 && cfg.policy_idle_timeout == 1 &&
               cfg.request_timeout == 5,
           "session limits and timeouts at the ends of their ranges");
    config_free(&cfg);
    expect_error("[daemon]\n\nmilter_max_sessions = 0\n",
                 "test.conf:3: milter_max_sessions: expected 1 to 1000000 sessions, not '0'");
    expect_error("[daemon]\npolicy_max_sessions = 1000001\n",
                 "test.conf:2: policy_max_sessions: expected 1 to 1000000 sessions");
    expect_error("[daemon]\npolicy_max_sessions = -1\n",
                 "test.conf:2: policy_max_sessions: expected 1 to");
    expect_error("[daemon]\nmilter_idle_timeout = 0\n",
                 "test.conf:2: milter_idle_timeout: expected 1 to 86400 seconds, not '0'");
    expect_error("[daemon]\npolicy_idle_timeout = 300s\n",
                 "test.conf:2: policy_idle_timeout: expected 1 to 86400 seconds, not '300s'");
    expect_error("[daemon]\nrequest_timeout = 86401\n",
                 "test.conf:2: request_timeout: expected 1 to 86400 seconds");
    expect_error("[daemon]\nrequest_timeout = -1\n", "test.conf:2: request_timeout: expected 1 to");

    /* [dkim]: the key table, canonicalization, rsa-sha1, DKIM scores. */
    TAP_OK(parse(&cfg,
                 "[dkim]\nkey = Example.COM sel1 /k/sel1.private\nkey = * any /k/any.private\n"
                 "canonicalization = simple/relaxed\nrsa_sha1 = neutral\n"
                 "[policy]\ndkim_fail_score = 3.5\n[domain x.example]\ndkim_pass_score = -2\n",
                 err) == 0,
           "a [dkim] section parses");
    TAP_OK(cfg.dkim_key_count == 2 && strcmp(cfg.dkim_keys[0].domain, "example.com") == 0 &&
               strcmp(cfg.dkim_keys[0].selector, "sel1") == 0 && cfg.dkim_keys[0].line == 2 &&
               strcmp(cfg.dkim_keys[1].domain, "*") == 0,
           "key table: domain lower-cased, selector, line kept");
    TAP_OK(strcmp(cfg.dkim_canon, "simple/relaxed") == 0 && cfg.dkim_sha1_neutral && cfg.dkim_verify,
           "canonicalization, rsa_sha1, verify default");
    TAP_OK(cfg.global.dkim_results[2].score == 3.5 &&
               config_settings_for(&cfg, "x.example")->dkim_results[1].score == -2.0 &&
               config_settings_for(&cfg, "x.example")->dkim_results[2].score == 3.5,
           "DKIM scores, globally and per domain");
    config_free(&cfg);
    expect_error("[dkim]\nkey = example.com sel1\n", "test.conf:2: key: expected DOMAIN SELECTOR KEYFILE");
    expect_error("[dkim]\nkey = example.com s/el /k\n", "is not a DNS label sequence");
    expect_error("[dkim]\ncanonicalization = loose\n", "test.conf:2: canonicalization: expected one of");
    expect_error("[policy]\ndkim_great_score = 1\n", "unknown key 'dkim_great_score'");

    /* Whitelist files: errors name the line in that file. */
    {
        ip_set set;
        ip_set_init(&set);
        const char *file = "# office\n192.0.2.1 gateway\n\n192.0.2.0/33\n";
        TAP_OK(ip_set_add_lines(&set, file, strlen(file), err, sizeof err) == -1 &&
                   strstr(err, "line 4:") != NULL,
               "whitelist file errors name the line");
        ip_set_free(&set);
    }

    /* The sample file, every key uncommented, parses to the defaults. */
    {
        char *sample = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&sample, &len);
        config_write_sample(emit_uncommented, f);
        fclose(f);
        domauth_config c3, defaults;
        int rc = parse(&c3, sample, err);
        TAP_OK(rc == 0, "the sample configuration, uncommented, parses");
        if (rc != 0)
            printf("#   %s\n", err);
        config_init(&defaults);
        if (rc == 0) {
            TAP_OK(c3.global.monitor == defaults.global.monitor &&
                       c3.dns_timeout_ms == defaults.dns_timeout_ms &&
                       c3.policy_max_sessions == defaults.policy_max_sessions &&
                       c3.request_timeout == defaults.request_timeout &&
                       strcmp(c3.milter_listen, defaults.milter_listen) == 0 &&
                       c3.global.results[DA_SPF_FAIL].score == 5.0 &&
                       strcmp(c3.global.results[DA_SPF_FAIL].reply,
                              defaults.global.results[DA_SPF_FAIL].reply) == 0,
                   "the sample shows the real defaults");
            config_free(&c3);
        }
        config_free(&defaults);
        free(sample);
    }
    /* [web]: domauth-web's section (issue 14). */
    {
        domauth_config w;
        int rc = parse(&w, "[daemon]\nmilter = unix:/m\n[web]\nlisten = [::1]:9443\n"
                           "cert = /etc/domauth/web.pem\nkey = /etc/domauth/web.key\n"
                           "users = /srv/users\nsession_minutes = 30\n", err);
        TAP_OK(rc == 0 && strcmp(w.web_listen, "inet:[::1]:9443") == 0 &&
                   strcmp(w.web_cert, "/etc/domauth/web.pem") == 0 &&
                   strcmp(w.web_users, "/srv/users") == 0 && w.web_session_minutes == 30,
               "[web] listen, cert, key, users, session_minutes are read");
        if (rc == 0)
            config_free(&w);
        rc = parse(&w, "[daemon]\nmilter = unix:/m\n", err);
        TAP_OK(rc == 0 && strcmp(w.web_listen, "inet:127.0.0.1:8896") == 0 &&
                   strcmp(w.web_users, "/etc/domauth/web-users") == 0 && w.web_cert[0] == '\0',
               "[web] defaults: 127.0.0.1:8896, /etc/domauth/web-users, no TLS");
        if (rc == 0)
            config_free(&w);
    }
    expect_error("[daemon]\nmilter = unix:/m\n[web]\ncert = /etc/c.pem\n",
                 "test.conf:4: [web] cert without key");
    expect_error("[daemon]\nmilter = unix:/m\n[web]\nlisten = localhost:80\n", "test.conf:4:");
    expect_error("[daemon]\nmilter = unix:/m\n[web]\ngroup = www\n",
                 "test.conf:4: [web] group = www needs user");
    expect_error("[daemon]\nmilter = unix:/m\n[web]\nport = 1\n", "unknown key 'port' in [web]");
    return tap_done();
}
