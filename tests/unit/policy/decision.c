/* Unit tests for the policy decision: skips, identity choice, actions per
 * result, monitor mode, tags, scores and thresholds, headers, and replies
 * built safely from hostile explanations. */
#include <stdlib.h>
#include <string.h>

#include "policy/decision.h"
#include "tap.h"

static const char zone_text[] =
    "fail.example TXT \"v=spf1 -all exp=why.fail.example\"\n"
    "why.fail.example TXT \"%{i} is not allowed\"\n"
    "evil.example TXT \"v=spf1 -all exp=why.evil.example\"\n"
    "why.evil.example TXT \"bad\\013\\010X-Injected: 1\"\n"
    "soft.example TXT \"v=spf1 ~all\"\n"
    "pass.example TXT \"v=spf1 +all\"\n"
    "helo.example TXT \"v=spf1 a -all\"\n"
    "helo.example A 192.0.2.1\n";

static da_zone *zone;

static da_spf_eval *evaluate(const da_spf_request *req)
{
    char err[128];
    da_spf_eval *ev = da_spf_eval_new(req, err, sizeof err);
    da_resolver *r = da_resolver_new_zone(zone);
    da_spf_eval_run(ev, r);
    da_resolver_free(r);
    return ev;
}

static da_spf_eval *check(const char *ip, const char *from)
{
    da_spf_request req = {.client_ip = ip, .mail_from = from, .helo = "helo.example",
                          .receiver = "mx.test"};
    return evaluate(&req);
}

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

int main(void)
{
    char err[128];
    zone = da_zone_new();
    da_zone_load_text(zone, zone_text, strlen(zone_text), err, sizeof err);

    /* Skips. */
    domauth_config cfg = load("[hosts]\nwhitelist = 198.51.100.0/24\ntrusted = 203.0.113.9\n");
    const policy_settings *ps = &cfg.global;
    session_facts s = {.client_ip = "192.0.2.50", .mail_from = "a@fail.example", .helo = "h"};
    TAP_OK(policy_skip(&cfg, ps, &s) == SKIP_NONE, "a public client is checked");
    s.authenticated = true;
    TAP_OK(policy_skip(&cfg, ps, &s) == SKIP_AUTHENTICATED, "SMTP AUTH sessions are skipped");
    s.authenticated = false;
    s.client_ip = "198.51.100.77";
    TAP_OK(policy_skip(&cfg, ps, &s) == SKIP_WHITELISTED, "whitelisted clients are skipped");
    s.client_ip = "203.0.113.9";
    TAP_OK(policy_skip(&cfg, ps, &s) == SKIP_TRUSTED, "trusted relays are skipped");
    s.client_ip = "192.168.3.4";
    TAP_OK(policy_skip(&cfg, ps, &s) == SKIP_LOCAL, "LAN clients are skipped by default");
    s.client_ip = "127.0.0.1";
    TAP_OK(policy_skip(&cfg, ps, &s) == SKIP_LOCAL, "loopback is skipped by default");
    s.client_ip = "::ffff:10.0.0.1";
    TAP_OK(policy_skip(&cfg, ps, &s) == SKIP_LOCAL, "IPv4-mapped LAN client is skipped");
    config_free(&cfg);
    cfg = load("[policy]\ncheck_local = yes\nskip_authenticated = no\n");
    s.client_ip = "192.168.3.4";
    s.authenticated = true;
    TAP_OK(policy_skip(&cfg, &cfg.global, &s) == SKIP_NONE,
           "check_local and skip_authenticated=no check everything");
    config_free(&cfg);

    /* Identity. */
    cfg = load("[policy]\nidentity = header_from\n");
    da_spf_request req;
    const char *id;
    session_facts h = {.client_ip = "192.0.2.1", .mail_from = "bounce@a.example",
                       .header_from = "boss@b.example", .helo = "h.example"};
    policy_request(&cfg.global, &h, &req, &id);
    TAP_OK(strcmp(req.mail_from, "boss@b.example") == 0 && strcmp(id, "header_from") == 0,
           "header_from identity uses the From: address");
    h.header_from = NULL;
    policy_request(&cfg.global, &h, &req, &id);
    TAP_OK(strcmp(req.mail_from, "bounce@a.example") == 0 && strcmp(id, "mailfrom") == 0,
           "without From: it falls back to MAIL FROM");
    h.mail_from = "";
    policy_request(&cfg.global, &h, &req, &id);
    TAP_OK(strcmp(id, "helo") == 0, "null sender: the HELO identity");
    config_free(&cfg);

    /* Defaults: monitor holds back the reject of a fail. */
    cfg = load("[policy]\nauthentication_results = yes\n");
    da_spf_eval *ev = check("192.0.2.1", "user@fail.example");
    decision d;
    policy_decide(&cfg.global, SKIP_NONE, ev, "mx.test", &d);
    TAP_OK(d.result == DA_SPF_FAIL && d.enforced == ACTION_REJECT && d.action == ACTION_ACCEPT &&
               d.monitor,
           "monitor: fail would reject, the message is accepted");
    TAP_STR_EQ(d.reply, "550 5.7.23 192.0.2.1 is not allowed", "reply carries the exp= text");
    TAP_OK(d.score == 5.0 && d.score_value && strcmp(d.score_value, "5.0") == 0, "fail scores 5.0");
    TAP_OK(d.received_spf && strncmp(d.received_spf, "fail ", 5) == 0, "Received-SPF value");
    TAP_OK(d.authres && strncmp(d.authres, "mx.test; spf=fail ", 18) == 0,
           "Authentication-Results value with the authserv-id");
    TAP_OK(!d.tag_subject, "no tag by default");
    decision_free(&d);
    config_free(&cfg);

    /* Enforcing, with a tag and a custom reply. */
    cfg = load("[policy]\nmonitor = no\nfail_tag_subject = yes\nfail_reply = 554 Transaction failed\n");
    policy_decide(&cfg.global, SKIP_NONE, ev, "mx.test", &d);
    TAP_OK(d.action == ACTION_REJECT && strcmp(d.reply, "554 Transaction failed") == 0,
           "enforced reject with the configured reply");
    TAP_OK(d.tag_subject && strcmp(d.tag, "*** FRAUD ***") == 0, "subject tag");
    decision_free(&d);
    config_free(&cfg);
    cfg = load("[policy]\nmonitor = no\nfail_action = defer\nfail_reply = 451 Please try again later\n");
    policy_decide(&cfg.global, SKIP_NONE, ev, "mx.test", &d);
    TAP_OK(d.action == ACTION_DEFER && strcmp(d.reply, "451 Please try again later") == 0,
           "defer with 451");
    decision_free(&d);
    config_free(&cfg);
    da_spf_eval_free(ev);

    /* Scores and thresholds. */
    cfg = load("[policy]\nmonitor = no\nsoftfail_score = 3.5\nreject_threshold = 3\n");
    ev = check("192.0.2.1", "user@soft.example");
    policy_decide(&cfg.global, SKIP_NONE, ev, "mx.test", &d);
    TAP_OK(d.result == DA_SPF_SOFTFAIL && d.action == ACTION_REJECT &&
               strncmp(d.reply, "550 5.7.1 Message scored too high", 33) == 0,
           "a score over the reject threshold rejects");
    decision_free(&d);
    config_free(&cfg);
    da_spf_eval_free(ev);
    cfg = load("[policy]\npass_score = -1\n");
    ev = check("192.0.2.1", "user@pass.example");
    policy_decide(&cfg.global, SKIP_NONE, ev, "mx.test", &d);
    TAP_OK(d.score == -1.0 && d.action == ACTION_ACCEPT && d.enforced == ACTION_ACCEPT,
           "a negative pass score credits the message");
    decision_free(&d);
    config_free(&cfg);
    da_spf_eval_free(ev);

    /* Received-SPF is left out for none by default. */
    cfg = load("");
    ev = check("192.0.2.1", "user@nospf.example");
    policy_decide(&cfg.global, SKIP_NONE, ev, "mx.test", &d);
    TAP_OK(d.result == DA_SPF_NONE && d.received_spf == NULL && d.authres != NULL,
           "no Received-SPF for none; Authentication-Results still added");
    decision_free(&d);
    da_spf_eval_free(ev);
    policy_decide(&cfg.global, SKIP_AUTHENTICATED, NULL, "mx.test", &d);
    TAP_OK(d.skip == SKIP_AUTHENTICATED && d.action == ACTION_ACCEPT && !d.received_spf &&
               !d.authres,
           "a skipped session gets no SPF headers");
    decision_free(&d);
    config_free(&cfg);

    /* Hostile exp= text cannot break the SMTP reply. */
    cfg = load("[policy]\nmonitor = no\n");
    ev = check("192.0.2.1", "user@evil.example");
    policy_decide(&cfg.global, SKIP_NONE, ev, "mx.test", &d);
    bool clean = true;
    for (const char *p = d.reply; *p; p++)
        clean = clean && (unsigned char)*p >= 0x20 && (unsigned char)*p <= 0x7e;
    TAP_OK(d.action == ACTION_REJECT && clean && strstr(d.reply, "\n") == NULL,
           "reply from hostile exp= text is one printable line (%s)", d.reply);
    decision_free(&d);
    config_free(&cfg);
    da_spf_eval_free(ev);

    /* Forged Authentication-Results detection. */
    TAP_OK(policy_authres_claims("mx.test; spf=pass smtp.mailfrom=x", "mx.test"), "claims our id");
    TAP_OK(policy_authres_claims("  MX.Test ; dkim=pass", "mx.test"), "case-insensitive, spaces");
    TAP_OK(policy_authres_claims("(forged) mx.test; spf=pass", "mx.test"), "after a comment");
    TAP_OK(policy_authres_claims("mx.test 1; spf=pass", "mx.test"), "with a version");
    TAP_OK(!policy_authres_claims("mx.test.evil; spf=pass", "mx.test"), "a longer id is not ours");
    TAP_OK(!policy_authres_claims("other.example; spf=pass", "mx.test"), "another host's id");

    da_zone_free(zone);
    return tap_done();
}
