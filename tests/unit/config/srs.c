/* Unit tests for the [srs] section of domauth.conf: defaults, every key,
 * the errors that name their line, what the socketmap needs, and the
 * exclude_domains match. */
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

static void test_defaults(void)
{
    domauth_config cfg;
    char err[512] = "";
    TAP_OK(parse(&cfg, "", err) == 0, "an empty file parses");
    TAP_STR_EQ(cfg.srs_socketmap, "", "no socketmap by default");
    TAP_STR_EQ(cfg.srs_secrets, "/etc/domauth/srs.secret", "secrets default, as domauth srs");
    TAP_STR_EQ(cfg.srs_separator, "=", "separator =");
    TAP_OK(cfg.srs_max_age == 21 && cfg.srs_hash_length == 4 && cfg.srs_hash_min_length == 4,
           "max_age 21, hashes of 4");
    TAP_OK(cfg.srs_max_sessions == 100 && cfg.srs_idle_timeout == 60,
           "100 socketmap sessions, 60 s idle");
    config_free(&cfg);
}

static void test_every_key(void)
{
    domauth_config cfg;
    char err[512] = "";
    const char *text = "[daemon]\n"
                       "milter =\n"
                       "policy =\n"
                       "[srs]\n"
                       "socketmap = unix:/run/domauth/srs.sock\n"
                       "domain = fwd.example.net\n"
                       "secrets = /etc/domauth/srs.keys\n"
                       "separator = +\n"
                       "max_age = 30\n"
                       "hash_length = 6\n"
                       "hash_min_length = 5\n"
                       "exclude_domains = example.net, Example.ORG .lists.example.com\n"
                       "socketmap_max_sessions = 7\n"
                       "socketmap_idle_timeout = 20\n";
    int rc = parse(&cfg, text, err);
    TAP_OK(rc == 0, "every [srs] key parses, and a socketmap alone is a listener");
    if (rc != 0) {
        printf("#   %s\n", err);
        return;
    }
    TAP_STR_EQ(cfg.srs_socketmap, "unix:/run/domauth/srs.sock", "socketmap");
    TAP_STR_EQ(cfg.srs_domain, "fwd.example.net", "domain");
    TAP_STR_EQ(cfg.srs_secrets, "/etc/domauth/srs.keys", "secrets");
    TAP_STR_EQ(cfg.srs_separator, "+", "separator");
    TAP_OK(cfg.srs_max_age == 30 && cfg.srs_hash_length == 6 && cfg.srs_hash_min_length == 5 &&
               cfg.srs_max_sessions == 7 && cfg.srs_idle_timeout == 20,
           "the numbers");
    TAP_OK(config_key_line(&cfg, "srs", "max_age") == 9, "config_key_line knows [srs]");
    static const struct {
        const char *domain;
        bool excluded;
    } cases[] = {
        {"example.net", true},        {"EXAMPLE.NET", true},         {"example.org", true},
        {"sub.example.net", false},   {"lists.example.com", false},  {"a.lists.example.com", true},
        {"x.y.lists.example.com", true}, {"badlists.example.com", false}, {"example.com", false},
        {"", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        TAP_OK(config_srs_excluded(&cfg, cases[i].domain, strlen(cases[i].domain)) ==
                   cases[i].excluded,
               "'%s' is %sexcluded", cases[i].domain, cases[i].excluded ? "" : "not ");
    config_free(&cfg);
}

static void test_errors(void)
{
    expect_error("[srs]\nseparator = ~\n", "test.conf:2: separator: expected =, + or -, not '~'");
    expect_error("[srs]\nseparator = ==\n", "test.conf:2: separator: expected =, + or -");
    expect_error("[srs]\nmax_age = 1024\n", "test.conf:2: max_age: expected 1 to 1023 days");
    expect_error("[srs]\nmax_age = 0\n", "test.conf:2: max_age: expected a whole number");
    expect_error("[srs]\nhash_length = 3\n", "test.conf:2: hash_length: expected 4 to 27");
    expect_error("[srs]\n\nhash_min_length = 28\n",
                 "test.conf:3: hash_min_length: expected 4 to 27");
    expect_error("[srs]\nexclude_domains = ok.example, bad..example\n",
                 "test.conf:2: exclude_domains: 'bad..example' is not a domain name");
    expect_error("[srs]\nexclude_domains = a@b.example\n", "'a@b.example' is not a domain name");
    expect_error("[srs]\ndomain = not a domain\n", "test.conf:2: domain: expected a host name");
    expect_error("[srs]\nsocketmap = tcp:1\n", "test.conf:2: socketmap: expected unix:/path");
    expect_error("[srs]\nsocketmap = unix:/run/s.sock\n",
                 "test.conf:2: socketmap needs domain in [srs]");
    expect_error("[srs]\nsocketmap = unix:/run/s.sock\ndomain = f.example\nsecrets =\n",
                 "test.conf:2: socketmap needs secrets in [srs]");
    expect_error("[daemon]\npolicy = inet:127.0.0.1:10045\n"
                 "[srs]\nsocketmap = inet:127.0.0.1:10045\ndomain = f.example\n",
                 "test.conf:4: socketmap = inet:127.0.0.1:10045 is also another listener's");
    expect_error("[srs]\ndomain = a.example\ndomain = b.example\n",
                 "'domain' is given twice in [srs] (first on line 2)");
    expect_error("[srs]\nlisten = unix:/x\n", "test.conf:2: unknown key 'listen' in [srs]");
    expect_error("[daemon]\nmilter =\npolicy =\n", "milter and policy are both empty");
}

int main(void)
{
    test_defaults();
    test_every_key();
    test_errors();
    return tap_done();
}
