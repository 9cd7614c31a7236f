/* Unit tests for the config line editor (config/config_edit.h) that
 * domauth-web's Settings writes with: a key replaced keeps every other
 * byte, a key appended into its section or a new one, a domain reset,
 * values that would break the file refused; and each edited text read
 * back by the real parser gives the new value. TAP. */
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/config_edit.h"
#include "tap.h"

/* The edited text, or NULL with why printed. */
static char *set(const char *text, const char *section, const char *name, const char *value,
                 unsigned line, char *why)
{
    strbuf out;
    strbuf_init(&out);
    if (config_edit_set(text, strlen(text), section, name, value, line, &out, why, 300) != 0) {
        strbuf_free(&out);
        return NULL;
    }
    strbuf_putc(&out, '\0');
    return strbuf_take(&out);
}

/* Where the parser says (section, name) is set in text, 0 when not; -1
 * when the text does not parse. */
static int line_of(const char *text, const char *section, const char *name)
{
    domauth_config cfg;
    char err[512];
    if (config_init(&cfg) != 0 ||
        config_parse(&cfg, "t.conf", text, strlen(text), err, sizeof err) != 0) {
        printf("#   does not parse: %s\n", err);
        return -1;
    }
    int line = (int)config_key_line(&cfg, section, name);
    config_free(&cfg);
    return line;
}

/* The value the parser's line for (section, name) holds. */
static char *value_of(const char *text, const char *section, const char *name)
{
    int line = line_of(text, section, name);
    if (line <= 0)
        return NULL;
    strbuf v;
    strbuf_init(&v);
    if (!config_edit_value_at(text, strlen(text), (unsigned)line, &v)) {
        strbuf_free(&v);
        return NULL;
    }
    strbuf_putc(&v, '\0');
    return strbuf_take(&v);
}

static const char base[] =
    "; domauth.conf, hand-written\n"
    "[daemon]\n"
    "syslog = no   ; quiet\n"
    "\n"
    "[policy]\n"
    "# the site's switch\n"
    "monitor = yes\n"
    "reject_threshold_reply = 550 5.7.1 Message\n"
    "    scored too high\n"
    "; the end of [policy]\n"
    "\n"
    "[spf]\n"
    "fail_action: reject ; RFC 7208\n"
    "\n"
    "[Domain  Example.ORG]\n"
    "monitor = no\n"
    "spf_fail_action = quarantine\n"
    "trusted = 192.0.2.1\n"
    "\n"
    "; trailing comment\n";

static void test_replace(void)
{
    char why[300] = "";
    int line = line_of(base, "policy", "monitor");
    TAP_OK(line == 7, "the parser puts [policy] monitor on line 7 (%d)", line);
    char *t = set(base, "policy", "monitor", "no", (unsigned)line, why);
    TAP_OK(t != NULL, "monitor replaced (%s)", why);
    if (t == NULL)
        return;
    /* Everything but the one line is byte-for-byte the old text. */
    const char *old_line = "monitor = yes\n", *new_line = "monitor = no\n";
    const char *at = strstr(base, old_line);
    size_t before = (size_t)(at - base);
    TAP_OK(strncmp(t, base, before) == 0 && strncmp(t + before, new_line, strlen(new_line)) == 0 &&
               strcmp(t + before + strlen(new_line), at + strlen(old_line)) == 0,
           "only that line changed; comments and the rest kept");
    char *v = value_of(t, "policy", "monitor");
    TAP_STR_EQ(v, "no", "the parser reads the new value");
    free(v);
    free(t);

    /* "key: value ; comment" keeps its separator and its comment. */
    line = line_of(base, "spf", "fail_action");
    t = set(base, "spf", "fail_action", "quarantine", (unsigned)line, why);
    TAP_OK(t != NULL && strstr(t, "fail_action: quarantine ; RFC 7208\n") != NULL &&
               strstr(t, "fail_action: reject") == NULL,
           "a 'key: value ; comment' line keeps its style and comment");
    v = t ? value_of(t, "spf", "fail_action") : NULL;
    TAP_STR_EQ(v, "quarantine", "and reads back as quarantine");
    free(v);
    free(t);

    /* A value with continuation lines: the continuation goes, the comment
     * after it stays. */
    line = line_of(base, "policy", "reject_threshold_reply");
    v = value_of(base, "policy", "reject_threshold_reply");
    TAP_STR_EQ(v, "550 5.7.1 Message scored too high", "a continued value reads joined");
    free(v);
    t = set(base, "policy", "reject_threshold_reply", "550 5.7.1 No", (unsigned)line, why);
    TAP_OK(t != NULL && strstr(t, "scored too high") == NULL &&
               strstr(t, "reject_threshold_reply = 550 5.7.1 No\n; the end of [policy]\n") != NULL,
           "replacing a continued value drops its continuation lines only");
    v = t ? value_of(t, "policy", "reject_threshold_reply") : NULL;
    TAP_STR_EQ(v, "550 5.7.1 No", "and reads back");
    free(v);
    free(t);

    /* An empty value, then a value again. */
    const char empty[] = "[policy]\nredirect_to = ; none yet\n";
    t = set(empty, "policy", "redirect_to", "spam@example.org", 2, why);
    TAP_STR_EQ(t, "[policy]\nredirect_to = spam@example.org ; none yet\n",
               "an empty value with a comment is filled, the comment kept a comment");
    free(t);

    /* CRLF files keep CRLF. */
    const char crlf[] = "[policy]\r\nmonitor = yes\r\n";
    t = set(crlf, "policy", "monitor", "no", 2, why);
    TAP_STR_EQ(t, "[policy]\r\nmonitor = no\r\n", "a CRLF line stays CRLF");
    free(t);
    t = set(crlf, "policy", "check_helo", "yes", 0, why);
    TAP_STR_EQ(t, "[policy]\r\nmonitor = yes\r\ncheck_helo = yes\r\n",
               "a key appended to a CRLF file ends in CRLF");
    free(t);

    t = set(base, "policy", "monitor", "no", 3, why);
    TAP_OK(t != NULL, "a line number is the caller's: line 3 is a key (syslog)");
    free(t);
    t = set(base, "policy", "monitor", "no", 4, why);
    TAP_OK(t == NULL && strstr(why, "line 4 sets no key") != NULL,
           "a line that sets no key is refused (%s)", why);
    free(t);
}

static void test_append(void)
{
    char why[300] = "";
    char *t = set(base, "policy", "check_helo", "yes", 0, why);
    TAP_OK(t != NULL && strstr(t, "    scored too high\ncheck_helo = yes\n; the end of [policy]\n") != NULL,
           "appended after the last key of [policy] (and its continuation), before the "
           "comments that end it");
    char *v = t ? value_of(t, "policy", "check_helo") : NULL;
    TAP_STR_EQ(v, "yes", "the parser reads the appended key");
    free(v);
    free(t);

    t = set(base, "domain example.org", "spf_softfail_action", "defer", 0, why);
    TAP_OK(t != NULL && strstr(t, "trusted = 192.0.2.1\nspf_softfail_action = defer\n") != NULL,
           "into a [Domain  Example.ORG] header however it is spelled");
    v = t ? value_of(t, "domain example.org", "spf_softfail_action") : NULL;
    TAP_STR_EQ(v, "defer", "the domain's key reads back");
    free(v);
    free(t);

    t = set(base, "dkim", "fail_action", "reject", 0, why);
    TAP_OK(t != NULL && strncmp(t, base, strlen(base)) == 0 &&
               strcmp(t + strlen(base), "\n[dkim]\nfail_action = reject\n") == 0,
           "a missing section is created at the end, after a blank line");
    v = t ? value_of(t, "dkim", "fail_action") : NULL;
    TAP_STR_EQ(v, "reject", "the new section's key reads back");
    free(v);
    free(t);

    t = set(base, "domain new.example", "monitor", "no", 0, why);
    v = t ? value_of(t, "domain new.example", "monitor") : NULL;
    TAP_STR_EQ(v, "no", "a new [domain NAME] section");
    free(v);
    free(t);

    /* A section given twice: the last block gets the key. */
    const char twice[] = "[policy]\nmonitor = yes\n[spf]\nfail_action = reject\n[policy]\n"
                         "check_helo = no\n";
    t = set(twice, "policy", "reply_stage", "data", 0, why);
    TAP_STR_EQ(t, "[policy]\nmonitor = yes\n[spf]\nfail_action = reject\n[policy]\n"
                  "check_helo = no\nreply_stage = data\n",
               "a section given twice: its last block");
    free(t);

    /* A file without a final newline, and a section without keys. */
    t = set("[policy]", "policy", "monitor", "no", 0, why);
    TAP_STR_EQ(t, "[policy]\nmonitor = no\n", "after the header of an empty last section");
    free(t);
    t = set("[daemon]\nsyslog = no", "policy", "monitor", "no", 0, why);
    TAP_STR_EQ(t, "[daemon]\nsyslog = no\n\n[policy]\nmonitor = no\n",
               "a last line without a newline gets one before the new section");
    free(t);
    t = set("", "policy", "monitor", "no", 0, why);
    TAP_STR_EQ(t, "[policy]\nmonitor = no\n", "an empty file");
    free(t);
}

static void test_reset(void)
{
    char why[300] = "";
    strbuf out, removed;
    strbuf_init(&out);
    strbuf_init(&removed);
    size_t n = 0;
    int rc = config_edit_reset_domain(base, strlen(base), "EXAMPLE.org", &out, &removed, &n, why,
                                      sizeof why);
    strbuf_putc(&out, '\0');
    strbuf_putc(&removed, '\0');
    TAP_OK(rc == 0 && n == 2, "reset removes the domain's two overrides (%zu)", n);
    TAP_STR_EQ(removed.data, "monitor = no; spf_fail_action = quarantine",
               "and says which, with their values");
    const char *header = "[Domain  Example.ORG]\n";
    const char *at = strstr(base, header);
    TAP_OK(at && strncmp(out.data, base, (size_t)(at - base) + strlen(header)) == 0 &&
               strcmp(out.data + (at - base) + strlen(header),
                      "trusted = 192.0.2.1\n\n; trailing comment\n") == 0,
           "the header, the domain's own servers and the comments stay; nothing else moves");
    domauth_config cfg;
    char err[512];
    if (config_init(&cfg) == 0 &&
        config_parse(&cfg, "t.conf", out.data, out.len - 1, err, sizeof err) == 0) {
        const policy_settings *ps = config_settings_for(&cfg, "example.org");
        TAP_OK(ps->monitor == cfg.global.monitor &&
                   ps->results[DA_SPF_FAIL].action == cfg.global.results[DA_SPF_FAIL].action,
               "the domain's settings are the global ones again");
        config_free(&cfg);
    } else {
        TAP_OK(false, "the reset file parses: %s", err);
    }
    strbuf_free(&out);
    strbuf_free(&removed);

    const char cont[] = "[domain a.example]\nreject_threshold_reply = 550 5.7.1 A\n  b\n"
                        "; kept\n  c\nmonitor = no\n[policy]\nmonitor = yes\n";
    strbuf_init(&out);
    rc = config_edit_reset_domain(cont, strlen(cont), "a.example", &out, NULL, &n, why,
                                  sizeof why);
    strbuf_putc(&out, '\0');
    TAP_STR_EQ(out.data, "[domain a.example]\n; kept\n[policy]\nmonitor = yes\n",
               "continuation lines go with their key; comment lines among them stay");
    strbuf_free(&out);

    strbuf_init(&out);
    rc = config_edit_reset_domain(base, strlen(base), "other.example", &out, NULL, &n, why,
                                  sizeof why);
    TAP_OK(rc == 0 && n == 0 && out.len == strlen(base) && memcmp(out.data, base, out.len) == 0,
           "a domain without a section: nothing removed, the text unchanged");
    strbuf_free(&out);
}

static void test_refuse(void)
{
    char why[300] = "";
    static const struct {
        const char *value, *want;
    } bad[] = {
        {"no\n[daemon]", "line break"},
        {"no\rx", "line break"},
        {"a\x01" "b", "control character 0x01"},
        {"a\x7f", "control character 0x7f"},
        {"\xc0\xbc", "not valid UTF-8"},
        {"\xed\xa0\x80", "not valid UTF-8"},
        {"\xc2\x85", "C1 control"},
        {"reject ; and more", "would start a comment"},
        {";x", "would start a comment"},
        {" reject", "blanks"},
        {"reject\t", "control character 0x09"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *t = set(base, "spf", "fail_action", bad[i].value, 13, why);
        TAP_OK(t == NULL && strstr(why, bad[i].want) != NULL && strncmp(why, "fail_action:", 12) == 0,
               "refused, naming the key: %s", why);
        free(t);
    }
    char big[CONFIG_LINE_MAX + 8];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char *t = set(base, "spf", "fail_action", big, 13, why);
    TAP_OK(t == NULL && strstr(why, "at most") != NULL, "a value over a line is refused (%s)",
           why);
    free(t);
    t = set(base, "spf", "fail_action", "caf\xc3\xa9;x #y", 13, why);
    TAP_OK(t != NULL, "UTF-8, a ';' inside a word and a '#' are fine (%s)", why);
    free(t);
    t = set(base, "spf", "fail=action", "x", 0, why);
    TAP_OK(t == NULL && strstr(why, "not a key name") != NULL, "a key name with '=' is refused");
    free(t);
}

static void test_editable(void)
{
    TAP_OK(config_key_editable("policy", "monitor"), "[policy] monitor is editable");
    TAP_OK(config_key_editable("spf", "fail_action"), "[spf] fail_action is editable");
    TAP_OK(config_key_editable("domain example.org", "spf_fail_action") &&
               config_key_editable("domain example.org", "dmarc_fail_score") &&
               config_key_editable("domain example.org", "invalid_from_action"),
           "a domain's result keys are editable by their domain names");
    TAP_OK(config_key_editable("dkim", "verify") && config_key_editable("arc", "check"),
           "method switches are editable");
    TAP_OK(!config_key_editable("daemon", "sendmail") && !config_key_editable("daemon", "user") &&
               !config_key_editable("dmarc", "report_sendmail") &&
               !config_key_editable("web", "users") && !config_key_editable("dkim", "key_table"),
           "programs, users, files and the console's own keys are not");
    TAP_OK(!config_key_editable("domain example.org", "trusted") &&
               !config_key_editable("policy", "whitelist_from") &&
               !config_key_editable("hosts", "whitelist"),
           "lists are not");
    TAP_OK(!config_key_editable("spf", "bogus_action") &&
               !config_key_editable("domain example.org", "fail_action"),
           "unknown keys, and old names, are not");
    size_t n = config_result_key_count();
    config_result_key_info r;
    TAP_OK(n == (7 + 7 + 7 + 5 + 1) * 5 && config_result_key(0, &r) &&
               strcmp(r.section, "spf") == 0 && strcmp(r.name, "none_action") == 0 &&
               strcmp(r.domain_name, "spf_none_action") == 0 && !config_result_key(n, &r),
           "the result keys: %zu, spf none_action first", n);
}

int main(void)
{
    test_replace();
    test_append();
    test_reset();
    test_refuse();
    test_editable();
    return tap_done();
}
