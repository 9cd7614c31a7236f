/* decision.c: the administrator's policy as a pure function; see
 * decision.h. */
#include "decision.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "spf/spf_internal.h"
#include "util/strbuf.h"

const char *skip_reason_name(skip_reason reason)
{
    switch (reason) {
    case SKIP_NONE: return NULL;
    case SKIP_AUTHENTICATED: return "authenticated";
    case SKIP_WHITELISTED: return "whitelisted";
    case SKIP_LOCAL: return "local";
    case SKIP_TRUSTED: return "trusted";
    case SKIP_BAD_CLIENT_IP: return "bad-client-ip";
    case SKIP_NO_MEMORY: return "no-memory";
    }
    return NULL;
}

skip_reason policy_skip(const domauth_config *cfg, const policy_settings *ps,
                        const session_facts *s)
{
    if (ps->skip_authenticated && s->authenticated)
        return SKIP_AUTHENTICATED;
    ip_addr ip;
    if (s->client_ip == NULL || !ip_parse(s->client_ip, strlen(s->client_ip), &ip))
        return SKIP_NONE; /* the evaluation reports the bad address */
    ip_unmap(&ip);
    if (ip_set_contains(&cfg->whitelist, &ip))
        return SKIP_WHITELISTED;
    if (ps->skip_trusted && ip_set_contains(&cfg->trusted, &ip))
        return SKIP_TRUSTED;
    if (!ps->check_local && ip_set_contains(&cfg->local, &ip))
        return SKIP_LOCAL;
    return SKIP_NONE;
}

void policy_request(const policy_settings *ps, const session_facts *s, da_spf_request *req,
                    const char **identity_name)
{
    memset(req, 0, sizeof *req);
    req->client_ip = s->client_ip;
    req->helo = s->helo ? s->helo : "";
    req->mail_from = s->mail_from ? s->mail_from : "";
    if (ps->identity == IDENTITY_HEADER_FROM && s->header_from != NULL && *s->header_from) {
        req->mail_from = s->header_from;
        *identity_name = "header_from";
    } else {
        *identity_name = *req->mail_from ? "mailfrom" : "helo";
    }
}

static void copy_printable(strbuf *out, const char *s, size_t max)
{
    for (size_t i = 0; s[i] && i < max; i++) {
        unsigned char c = (unsigned char)s[i];
        strbuf_putc(out, c >= 0x20 && c <= 0x7e ? (char)c : '?');
    }
}

void policy_expand_reply(const char *tmpl, const da_spf_eval *ev, char *out, size_t out_size)
{
    strbuf sb;
    strbuf_init(&sb);
    for (const char *p = tmpl; *p;) {
        const char *value = NULL;
        size_t skip = 0;
        static const char *const names[] = {"%{explanation}", "%{result}", "%{domain}",
                                            "%{ip}", "%{sender}"};
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            size_t n = strlen(names[i]);
            if (strncmp(p, names[i], n) != 0)
                continue;
            skip = n;
            if (ev == NULL)
                value = "";
            else if (i == 0)
                value = da_spf_eval_explanation(ev) ? da_spf_eval_explanation(ev)
                                                    : da_spf_eval_problem(ev);
            else if (i == 1)
                value = da_spf_result_name(da_spf_eval_result(ev));
            else if (i == 2)
                value = da_spf_eval_domain(ev);
            else if (i == 3)
                value = spf_eval_client_ip_text(ev);
            else
                value = da_spf_eval_sender(ev);
            if (value == NULL)
                value = "SPF check failed";
        }
        if (skip) {
            copy_printable(&sb, value, 300);
            p += skip;
        } else {
            copy_printable(&sb, p, 1);
            p++;
        }
    }
    const char *text = sb.data ? sb.data : "";
    snprintf(out, out_size, "%s", text);
    strbuf_free(&sb);
}

void policy_split_reply(const char *reply, unsigned *code, char *enhanced, size_t enh_size,
                        const char **text)
{
    *code = 0;
    for (int i = 0; i < 3 && reply[i] >= '0' && reply[i] <= '9'; i++)
        *code = *code * 10 + (unsigned)(reply[i] - '0');
    const char *p = reply + (*code >= 100 ? 3 : 0);
    while (*p == ' ')
        p++;
    enhanced[0] = '\0';
    if (p[0] >= '2' && p[0] <= '5' && p[1] == '.') {
        size_t n = strspn(p, "0123456789.");
        if (n < enh_size) {
            memcpy(enhanced, p, n);
            enhanced[n] = '\0';
            p += n;
            while (*p == ' ')
                p++;
        }
    }
    *text = p;
}

static int severity(policy_action a)
{
    return a == ACTION_REJECT ? 2 : a == ACTION_DEFER ? 1 : 0;
}

void policy_decide(const policy_settings *ps, skip_reason skip, const da_spf_eval *ev,
                   const char *authserv_id, decision *d)
{
    memset(d, 0, sizeof *d);
    d->skip = skip;
    d->monitor = ps->monitor;
    d->enforced = d->action = ACTION_ACCEPT;
    if (skip != SKIP_NONE || ev == NULL) {
        d->why = "not checked";
        return;
    }
    da_spf_result r = da_spf_eval_result(ev);
    const result_policy *rp = &ps->results[r];
    d->result = r;
    d->score = rp->score;
    d->enforced = rp->action;
    d->why = "spf result";
    const char *reply_template = rp->reply;

    /* The score may ask for more than the result alone does. */
    const char *score_template = NULL;
    policy_action by_score = policy_threshold_action(ps, d->score, &score_template);
    if (severity(by_score) > severity(d->enforced)) {
        d->enforced = by_score;
        reply_template = score_template;
        d->why = "score threshold";
    }
    if (d->enforced != ACTION_ACCEPT)
        policy_expand_reply(reply_template, ev, d->reply, sizeof d->reply);
    d->action = ps->monitor ? ACTION_ACCEPT : d->enforced;

    /* Tagging changes the message, so monitor mode holds it back too. */
    if (rp->tag_subject && rp->tag != NULL && *rp->tag) {
        d->tag_subject = !ps->monitor;
        snprintf(d->tag, sizeof d->tag, "%s", rp->tag);
    }
    if (ps->received_spf && !(ps->received_spf_skip_none && r == DA_SPF_NONE))
        d->received_spf = da_spf_received_spf(ev);
    if (ps->authentication_results)
        d->authres = da_spf_authres_value(ev, authserv_id);
    if (ps->score_header != NULL && *ps->score_header) {
        char buf[64];
        snprintf(buf, sizeof buf, "%.1f", d->score);
        d->score_value = strdup(buf);
    }
}

policy_action policy_threshold_action(const policy_settings *ps, double score,
                                      const char **reply_template)
{
    *reply_template = NULL;
    /* Scores are sums of decimals (0.7 + 0.1): compared as the score header
     * shows them, to a tenth, not in raw binary floating point. */
    score += 1e-9;
    if (ps->reject_threshold > 0 && score >= ps->reject_threshold) {
        *reply_template = ps->reject_threshold_reply;
        return ACTION_REJECT;
    }
    if (ps->defer_threshold > 0 && score >= ps->defer_threshold) {
        *reply_template = ps->defer_threshold_reply;
        return ACTION_DEFER;
    }
    return ACTION_ACCEPT;
}

void policy_add_score(const policy_settings *ps, decision *d, double add, const char *why)
{
    d->score += add;
    const char *tmpl;
    policy_action by_score = policy_threshold_action(ps, d->score, &tmpl);
    if (severity(by_score) > severity(d->enforced)) {
        d->enforced = by_score;
        policy_expand_reply(tmpl, NULL, d->reply, sizeof d->reply);
        d->why = why;
        d->action = d->monitor ? ACTION_ACCEPT : d->enforced;
    }
    if (d->score_value != NULL) {
        char buf[64];
        snprintf(buf, sizeof buf, "%.1f", d->score);
        free(d->score_value);
        d->score_value = strdup(buf);
    }
}

int decision_copy(decision *dst, const decision *src)
{
    *dst = *src;
    dst->received_spf = src->received_spf ? strdup(src->received_spf) : NULL;
    dst->authres = src->authres ? strdup(src->authres) : NULL;
    dst->score_value = src->score_value ? strdup(src->score_value) : NULL;
    if ((src->received_spf && !dst->received_spf) || (src->authres && !dst->authres) ||
        (src->score_value && !dst->score_value)) {
        decision_free(dst);
        return -1;
    }
    return 0;
}

void decision_free(decision *d)
{
    free(d->received_spf);
    free(d->authres);
    free(d->score_value);
    d->received_spf = d->authres = d->score_value = NULL;
}

bool policy_authres_claims(const char *value, const char *authserv_id)
{
    if (value == NULL || authserv_id == NULL || !*authserv_id)
        return false;
    /* The authserv-id is the first token, before ';' or whitespace,
     * optionally after CFWS (RFC 8601 2.2). */
    const char *p = value;
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
    while (*p == '(') { /* skip one level of comments */
        const char *close = strchr(p, ')');
        if (close == NULL)
            return false;
        p = close + 1;
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
            p++;
    }
    size_t n = 0;
    while (p[n] && p[n] != ';' && p[n] != ' ' && p[n] != '\t' && p[n] != '\r' && p[n] != '\n')
        n++;
    if (n >= 2 && p[0] == '"' && p[n - 1] == '"') {
        p++;
        n -= 2;
    }
    return n == strlen(authserv_id) && strncasecmp(p, authserv_id, n) == 0;
}
