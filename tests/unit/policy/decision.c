/* Unit tests for the shared pieces of policy (policy/decision.h): which
 * clients are checked, the score thresholds (compared as the score header
 * shows them), reply splitting, and forged Authentication-Results. The
 * verdict itself is tested through the message service, by the scripted
 * sessions of tests/service. */
#include <stdlib.h>
#include <string.h>

#include "policy/decision.h"
#include "tap.h"

static domauth_config load(const char *text)
{
    domauth_config cfg;
    char err[256];
    config_init(&cfg);
    if (config_parse(&cfg, "t.conf", text, strlen(text), err, sizeof err) != 0) {
        printf("# config: %s\n", err);
        exit(2);
    }
    return cfg;
}

/* The client as the service passes it: parsed, IPv4-mapped unmapped. */
static skip_reason skip(const domauth_config *cfg, const policy_settings *ps, const char *ip,
                        bool authenticated)
{
    ip_addr a;
    if (!ip_parse(ip, strlen(ip), &a))
        return (skip_reason)-1;
    ip_unmap(&a);
    client_facts facts = {.address = &a, .authenticated = authenticated};
    return policy_skip(cfg, ps, &facts);
}

static skip_reason skip_named(const domauth_config *cfg, const char *ip, const char *name,
                              const char *helo)
{
    ip_addr a;
    if (!ip_parse(ip, strlen(ip), &a))
        return (skip_reason)-1;
    client_facts facts = {.address = &a, .name = name, .helo = helo};
    return policy_skip(cfg, config_settings_for(cfg, "dest.example"), &facts);
}

static bool claims(const char *value)
{
    return policy_authres_claims(value, strlen(value), "mx.test");
}

int main(void)
{
    /* Skips. */
    domauth_config cfg = load("[hosts]\nwhitelist = 198.51.100.0/24\ntrusted = 203.0.113.9\n");
    const policy_settings *ps = &cfg.global;
    TAP_OK(skip(&cfg, ps, "192.0.2.50", false) == SKIP_NONE, "a public client is checked");
    TAP_OK(skip(&cfg, ps, "192.0.2.50", true) == SKIP_AUTHENTICATED,
           "SMTP AUTH sessions are skipped");
    TAP_OK(skip(&cfg, ps, "198.51.100.77", false) == SKIP_WHITELISTED,
           "whitelisted clients are skipped");
    TAP_OK(skip(&cfg, ps, "203.0.113.9", false) == SKIP_TRUSTED, "trusted relays are skipped");
    TAP_OK(skip(&cfg, ps, "192.168.3.4", false) == SKIP_LOCAL,
           "LAN clients are skipped by default");
    TAP_OK(skip(&cfg, ps, "127.0.0.1", false) == SKIP_LOCAL, "loopback is skipped by default");
    TAP_OK(skip(&cfg, ps, "::ffff:10.0.0.1", false) == SKIP_LOCAL,
           "IPv4-mapped LAN client is skipped");
    TAP_OK(policy_skip(&cfg, ps, &(client_facts){0}) == SKIP_NONE,
           "no address: nothing here to skip it by");
    config_free(&cfg);

    /* By name, and a recipient domain's own servers. */
    cfg = load("[hosts]\nwhitelist_ptr = *.mail.partner.example, relay.other.example.\n"
               "whitelist_helo = Helo.Friend.Example\n"
               "[domain dest.example]\ntrusted = 192.0.2.128/25\n");
    TAP_OK(skip_named(&cfg, "192.0.2.5", "mx1.mail.partner.example", NULL) == SKIP_PTR_WHITELISTED,
           "whitelist_ptr *.name: a name below it is skipped");
    TAP_OK(skip_named(&cfg, "192.0.2.5", "MX1.Mail.Partner.Example.", NULL) == SKIP_PTR_WHITELISTED,
           "whitelist_ptr: case and a trailing dot do not matter");
    TAP_OK(skip_named(&cfg, "192.0.2.5", "mail.partner.example", NULL) == SKIP_NONE,
           "whitelist_ptr *.name: the name itself is not below it");
    TAP_OK(skip_named(&cfg, "192.0.2.5", "evilmail.partner.example", NULL) == SKIP_NONE,
           "whitelist_ptr *.mail.partner.example: evilmail.partner.example is not below it");
    TAP_OK(skip_named(&cfg, "192.0.2.5", "relay.other.example", NULL) == SKIP_PTR_WHITELISTED,
           "whitelist_ptr: an exact name");
    TAP_OK(skip_named(&cfg, "192.0.2.5", "unknown", NULL) == SKIP_NONE &&
               skip_named(&cfg, "192.0.2.5", "[192.0.2.5]", NULL) == SKIP_NONE,
           "an unverified client name never matches");
    TAP_OK(skip_named(&cfg, "192.0.2.5", NULL, "helo.friend.example") == SKIP_HELO_WHITELISTED,
           "whitelist_helo: by the HELO name, without case");
    TAP_OK(skip_named(&cfg, "192.0.2.200", NULL, "x.example") == SKIP_DOMAIN_TRUSTED,
           "[domain] trusted: that domain's own servers are skipped for mail to it");
    {
        ip_addr a;
        ip_parse("192.0.2.200", 11, &a);
        client_facts facts = {.address = &a};
        TAP_OK(policy_skip(&cfg, config_settings_for(&cfg, "other.example"), &facts) == SKIP_NONE,
               "[domain] trusted: not for mail to another domain");
    }
    config_free(&cfg);
    cfg = load("[policy]\ncheck_local = yes\nskip_authenticated = no\n");
    TAP_OK(skip(&cfg, &cfg.global, "192.168.3.4", true) == SKIP_NONE,
           "check_local and skip_authenticated=no check everything");
    config_free(&cfg);

    /* Thresholds: the score as the score header shows it (to a tenth). */
    cfg = load("[policy]\ndefer_threshold = 3\nreject_threshold = 0.8\n"
               "defer_threshold_reply = 451 4.7.1 later\n");
    const char *tmpl = NULL;
    TAP_OK(policy_threshold_action(&cfg.global, 0.7 + 0.1, &tmpl) == ACTION_REJECT && tmpl &&
               strncmp(tmpl, "5", 1) == 0,
           "0.7 + 0.1 reaches reject_threshold 0.8, with its reply");
    TAP_OK(policy_threshold_action(&cfg.global, 0.7, &tmpl) == ACTION_ACCEPT && tmpl == NULL,
           "below both thresholds: accept, no reply");
    config_free(&cfg);
    cfg = load("[policy]\ndefer_threshold = 3\nreject_threshold = 6\n"
               "defer_threshold_reply = 451 4.7.1 later\n");
    TAP_OK(policy_threshold_action(&cfg.global, 3.0, &tmpl) == ACTION_DEFER && tmpl &&
               strcmp(tmpl, "451 4.7.1 later") == 0,
           "defer_threshold defers with its reply");
    config_free(&cfg);

    /* Replies. */
    unsigned code;
    char enhanced[32];
    const char *text;
    policy_split_reply("550 5.7.23 no thanks", &code, enhanced, sizeof enhanced, &text);
    TAP_OK(code == 550 && strcmp(enhanced, "5.7.23") == 0 && strcmp(text, "no thanks") == 0,
           "a reply splits into code, enhanced status and text");
    policy_split_reply("451 try later", &code, enhanced, sizeof enhanced, &text);
    TAP_OK(code == 451 && enhanced[0] == '\0' && strcmp(text, "try later") == 0,
           "without an enhanced status code");

    /* Forged Authentication-Results detection. */
    TAP_OK(claims("mx.test; spf=pass smtp.mailfrom=x"), "claims our id");
    TAP_OK(claims("  MX.Test ; dkim=pass"), "case-insensitive, spaces");
    TAP_OK(claims("(forged) mx.test; spf=pass"), "after a comment");
    TAP_OK(claims("mx.test 1; spf=pass"), "with a version");
    TAP_OK(!claims("mx.test.evil; spf=pass"), "a longer id is not ours");
    TAP_OK(!claims("other.example; spf=pass"), "another host's id");
    TAP_OK(policy_authres_claims("mx.test.evil; spf=pass", 7, "mx.test"),
           "only len bytes are read: a value cut after the id claims it");
    TAP_OK(!policy_authres_claims("(unclosed mx.test; x", 20, "mx.test"),
           "an unclosed comment claims nothing");
    return tap_done();
}
