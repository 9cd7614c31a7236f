/* verdict.c: the administrator's decision over a results vector; see
 * verdict.h. */
#include "verdict.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/strbuf.h"

static const char *const spf_words[SPF_RESULT_COUNT] = {
    "none", "neutral", "pass", "fail", "softfail", "temperror", "permerror"};
static const char *const dkim_words[DKIM_RESULT_COUNT] = {
    "none", "pass", "fail", "neutral", "policy", "temperror", "permerror"};
static const char *const dmarc_words[DMARC_RESULT_COUNT] = {"none", "pass", "fail", "temperror",
                                                            "permerror"};

static int word_index(const char *const *words, size_t n, const char *word)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(words[i], word) == 0)
            return (int)i;
    return -1;
}

/* How a method's several entries combine: DKIM signatures vouch for a
 * message when any one passes (the best counts); SPF over several From:
 * addresses must hold for all of them (the worst counts). */
static bool best_counts(const char *method)
{
    return strcmp(method, "dkim") == 0;
}

const result_policy *policy_for_result(const policy_settings *ps, const auth_result *r)
{
    if (r->policy_as != NULL && strcmp(r->policy_as, "invalid_from") == 0)
        return &ps->invalid_from;
    if (strcmp(r->method, "spf") == 0) {
        int i = word_index(spf_words, SPF_RESULT_COUNT, r->result);
        return i < 0 ? NULL : &ps->results[i];
    }
    if (strcmp(r->method, "dkim") == 0) {
        int i = word_index(dkim_words, DKIM_RESULT_COUNT, r->result);
        return i < 0 ? NULL : &ps->dkim_results[i];
    }
    if (strcmp(r->method, DA_SENDERID_AUTHRES_METHOD) == 0) {
        int i = word_index(spf_words, SENDERID_RESULT_COUNT, r->result);
        return i < 0 ? NULL : &ps->senderid_results[i];
    }
    if (strcmp(r->method, "dmarc") == 0) {
        int i = word_index(dmarc_words, DMARC_RESULT_COUNT, r->result);
        return i < 0 ? NULL : &ps->dmarc_results[i];
    }
    return NULL;
}

/* The configuration section of a method's table ("sender-id" is written
 * [senderid]). */
static const char *table_section(const char *method)
{
    return strcmp(method, DA_SENDERID_AUTHRES_METHOD) == 0 ? "senderid" : method;
}

/* reject > defer > quarantine > redirect > accept: a refusal keeps the
 * message out with no copy to manage, and a defer lets a sender with a
 * passing retry (a DNS error gone) through, so either overrides a
 * quarantine; a quarantine keeps it out of every mailbox, a redirect puts
 * it in the spam mailbox. */
static int severity(policy_action a)
{
    switch (a) {
    case ACTION_REJECT: return 4;
    case ACTION_DEFER: return 3;
    case ACTION_QUARANTINE: return 2;
    case ACTION_REDIRECT: return 1;
    case ACTION_ACCEPT: return 0;
    }
    return 0;
}

/* The action of an entry: its table's, or what the entry requests (a
 * DMARC record's policy) when the table honours requests and it is
 * stronger. */
static policy_action requested_action(const auth_result *r)
{
    if (r->requested == NULL)
        return ACTION_ACCEPT;
    if (strcmp(r->requested, "reject") == 0)
        return ACTION_REJECT;
    if (strcmp(r->requested, "quarantine") == 0)
        return ACTION_QUARANTINE;
    return ACTION_ACCEPT;
}

static policy_action entry_action(const result_policy *rp, const auth_result *r)
{
    if (rp->honor_request && severity(requested_action(r)) > severity(rp->action))
        return requested_action(r);
    return rp->action;
}

static const char *threshold_name(policy_action a)
{
    return a == ACTION_REJECT ? "reject" : a == ACTION_DEFER ? "defer" : "quarantine";
}

static double threshold_of(const policy_settings *ps, policy_action a)
{
    return a == ACTION_REJECT ? ps->reject_threshold
           : a == ACTION_DEFER ? ps->defer_threshold
                               : ps->quarantine_threshold;
}

/* Expands %{explanation} %{result} %{domain} %{ip} %{sender}; printable
 * ASCII only (DNS text is untrusted). */
static void expand_reply(const char *tmpl, const auth_result *r, const verdict_input *in,
                         char *out, size_t out_size)
{
    static const char *const names[] = {"%{explanation}", "%{result}", "%{domain}", "%{ip}",
                                        "%{sender}"};
    strbuf sb;
    strbuf_init(&sb);
    for (const char *p = tmpl ? tmpl : ""; *p;) {
        const char *value = NULL;
        size_t skip = 0;
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            size_t n = strlen(names[i]);
            if (strncmp(p, names[i], n) != 0)
                continue;
            skip = n;
            if (r == NULL)
                value = "";
            else if (i == 0)
                value = r->explanation;
            else if (i == 1)
                value = r->result;
            else if (i == 2)
                value = r->domain;
            else if (i == 3)
                value = in->client_ip;
            else
                value = r->sender ? r->sender : in->sender;
            if (value == NULL)
                value = i == 0 ? "authentication check failed" : "";
        }
        const char *text = skip ? value : p;
        size_t max = skip ? 300 : 1;
        for (size_t i = 0; text[i] && i < max; i++) {
            unsigned char c = (unsigned char)text[i];
            strbuf_putc(&sb, c >= 0x20 && c <= 0x7e ? (char)c : '?');
        }
        p += skip ? skip : 1;
    }
    snprintf(out, out_size, "%s", sb.data ? sb.data : "");
    strbuf_free(&sb);
}

static void add_reason(verdict *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_reason(verdict *v, const char *fmt, ...)
{
    size_t len = strlen(v->reasons);
    if (len + 3 >= sizeof v->reasons)
        return;
    if (len > 0) {
        memcpy(v->reasons + len, "; ", 3);
        len += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->reasons + len, sizeof v->reasons - len, fmt, ap);
    va_end(ap);
}

static void add_edit(verdict *v, header_op op, const char *name, unsigned index,
                     const char *value)
{
    header_edit *bigger = realloc(v->edits, (v->edit_count + 1) * sizeof *bigger);
    if (bigger == NULL) {
        v->failed = true;
        return;
    }
    v->edits = bigger;
    char *copy = value ? strdup(value) : NULL;
    if (value != NULL && copy == NULL) {
        v->failed = true;
        return;
    }
    v->edits[v->edit_count++] = (header_edit){op, name, index, copy};
}

/* The Subject edit that puts the tag before the old subject. */
static void add_subject_tag(verdict *v, const message_view *m, const char *old)
{
    strbuf subject;
    strbuf_init(&subject);
    strbuf_puts(&subject, v->tag);
    if (*old) {
        strbuf_putc(&subject, ' ');
        strbuf_puts(&subject, old);
    }
    if (subject.failed) {
        v->failed = true;
    } else {
        add_edit(v, m->has_subject ? HEADER_CHANGE : HEADER_APPEND, "Subject",
                 m->has_subject ? 1 : 0, subject.data);
        v->tag_subject = true;
    }
    strbuf_free(&subject);
}

/* The entry of each method that counts (see best_counts), in order of
 * first appearance. */
static size_t counting_entries(const auth_results *rs, const policy_settings *ps,
                               const auth_result **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < rs->count; i++) {
        const auth_result *r = &rs->items[i];
        const char *key = r->policy_as ? r->policy_as : r->method;
        size_t k;
        for (k = 0; k < n; k++) {
            const char *other = out[k]->policy_as ? out[k]->policy_as : out[k]->method;
            if (strcmp(other, key) == 0)
                break;
        }
        const result_policy *rp = policy_for_result(ps, r);
        if (k == n) {
            if (n < max)
                out[n++] = r;
            continue;
        }
        const result_policy *cur = policy_for_result(ps, out[k]);
        if (rp == NULL || cur == NULL)
            continue;
        bool replace;
        if (best_counts(key))
            replace = strcmp(r->result, "pass") == 0 && strcmp(out[k]->result, "pass") != 0;
        else
            replace = severity(entry_action(rp, r)) > severity(entry_action(cur, out[k])) ||
                      (severity(entry_action(rp, r)) == severity(entry_action(cur, out[k])) &&
                       rp->score > cur->score);
        if (replace)
            out[k] = r;
    }
    return n;
}

/* whitelist_from: an authenticated sender domain of the list lifts every
 * action and tag (the results and score stay, for the headers and the
 * log). Before the final decision a result still to come (a DKIM pass)
 * could lift it, so an action waits for the end of the message. */
static void exempt_sender(const verdict_input *in, verdict *v)
{
    const policy_settings *ps = in->ps;
    const auth_result *by;
    const char *pattern = policy_sender_whitelisted(ps, in->results, &by);
    if (pattern != NULL) {
        v->skip = SKIP_SENDER_WHITELISTED;
        bool lifted = v->enforced != ACTION_ACCEPT || v->tag[0];
        add_reason(v, "whitelist_from %s: %s=pass for %s%s%s", pattern, by->method, by->domain,
                   lifted ? ", lifts " : "",
                   !lifted ? "" : v->enforced != ACTION_ACCEPT ? policy_action_name(v->enforced)
                                                                : "the tag");
        v->enforced = ACTION_ACCEPT;
        v->tag[0] = '\0';
        return;
    }
    if (!in->final && ps->whitelist_from.count > 0 && v->enforced != ACTION_ACCEPT) {
        add_reason(v, "%s waits for the end of the message: a result still to come may "
                      "authenticate a whitelist_from domain",
                   policy_action_name(v->enforced));
        v->enforced = ACTION_ACCEPT;
    }
}

void policy_verdict(const verdict_input *in, verdict *v)
{
    const policy_settings *ps = in->ps;
    memset(v, 0, sizeof *v);
    v->skip = in->skip;
    v->monitor = ps->monitor;
    v->enforced = v->action = ACTION_ACCEPT;
    const auth_result *decider = NULL;
    const char *reply_template = NULL;

    if (in->skip != SKIP_NONE) {
        add_reason(v, "not checked: %s", skip_reason_name(in->skip));
    } else {
        const auth_result *counting[32];
        size_t n = counting_entries(in->results, ps, counting, 32);
        for (size_t i = 0; i < n; i++) {
            const auth_result *r = counting[i];
            const result_policy *rp = policy_for_result(ps, r);
            if (rp == NULL)
                continue;
            if (r->overridden != NULL) {
                if (rp->action != ACTION_ACCEPT || rp->score != 0 || rp->tag_subject)
                    add_reason(v, "%s=%s: not acted on: %s", r->method, r->result,
                               r->overridden);
                continue;
            }
            v->score += rp->score;
            if (rp->tag_subject && rp->tag != NULL && *rp->tag && !v->tag[0])
                snprintf(v->tag, sizeof v->tag, "%s", rp->tag);
            policy_action action = entry_action(rp, r);
            if (severity(action) > severity(v->enforced)) {
                v->enforced = action;
                reply_template = rp->reply;
                decider = r;
            }
            if (action != rp->action)
                add_reason(v, "%s=%s: the domain's policy %s (honored)", r->method, r->result,
                           policy_action_name(action));
            else if (rp->action != ACTION_ACCEPT) {
                if (r->policy_as != NULL)
                    add_reason(v, "%s=%s: %s_action %s", r->method, r->result, r->policy_as,
                               policy_action_name(rp->action));
                else
                    add_reason(v, "%s=%s: [%s] %s_action %s", r->method, r->result,
                               table_section(r->method), r->result,
                               policy_action_name(rp->action));
            }
        }
        /* One score from every result meets the thresholds: the final
         * score, or before it the lowest it can still become. */
        {
            const char *tmpl;
            double lowest = v->score + (in->final ? 0 : in->pending_score_min);
            policy_action by_score = policy_threshold_action(ps, lowest, &tmpl);
            if (severity(by_score) > severity(v->enforced)) {
                v->enforced = by_score;
                reply_template = tmpl;
                decider = n > 0 ? counting[0] : NULL;
                add_reason(v, "score %.1f reached %s_threshold %.1f", v->score,
                           threshold_name(by_score), threshold_of(ps, by_score));
            }
        }
        exempt_sender(in, v);
        if (v->enforced != ACTION_ACCEPT)
            expand_reply(reply_template, decider, in, v->reply, sizeof v->reply);
        if (ps->monitor && v->enforced != ACTION_ACCEPT)
            add_reason(v, "monitor mode: %s held back", policy_action_name(v->enforced));
        else if (ps->monitor && v->tag[0])
            add_reason(v, "monitor mode: tag held back");
    }
    v->action = ps->monitor ? ACTION_ACCEPT : v->enforced;

    /* A quarantined message keeps its edits: one held by the MTA (hold
     * mode) may be released as it is; the folder's copy is the message as
     * received, without them. */
    const message_view *m = in->message;
    if (m == NULL || (v->action != ACTION_ACCEPT && v->action != ACTION_QUARANTINE &&
                      v->action != ACTION_REDIRECT))
        return;
    /* Header edits, in the order the MTA applies them. Forged fields go
     * first, from the last so earlier indexes stay valid. */
    if (ps->remove_forged_authres) {
        for (size_t i = m->forged_authres_count; i > 0; i--)
            add_edit(v, HEADER_DELETE, "Authentication-Results", m->forged_authres[i - 1], NULL);
        if (ps->score_header != NULL && *ps->score_header)
            for (size_t i = m->score_field_count; i > 0; i--)
                add_edit(v, HEADER_DELETE, ps->score_header, m->score_fields[i - 1], NULL);
    }
    const auth_result *spf = auth_results_find(in->results, "spf");
    bool received_spf = in->received_spf != NULL && ps->received_spf && in->skip == SKIP_NONE &&
                        !(ps->received_spf_skip_none && spf != NULL &&
                          strcmp(spf->result, "none") == 0);
    /* A front end that adds one field takes Received-SPF first: the
     * Authentication-Results value is then not built at all. */
    if (ps->authentication_results && in->skip == SKIP_NONE &&
        !(in->max_added == 1 && received_spf)) {
        char *value = auth_results_header(in->results, in->authserv_id, 0);
        if (value == NULL)
            v->failed = true;
        else
            add_edit(v, HEADER_INSERT_TOP, "Authentication-Results", 0, value);
        free(value);
    }
    if (received_spf)
        add_edit(v, HEADER_INSERT_TOP, "Received-SPF", 0, in->received_spf);
    if (ps->score_header != NULL && *ps->score_header && in->skip == SKIP_NONE) {
        char buf[64];
        snprintf(buf, sizeof buf, "%.1f", v->score);
        add_edit(v, HEADER_APPEND, ps->score_header, 0, buf);
    }
    /* Tagging changes the message, so monitor mode holds it back; a message
     * we sign keeps its subject, which the signature covers. */
    if (v->tag[0] && !ps->monitor && !m->signing && v->action == ACTION_ACCEPT) {
        const char *old = m->subject ? m->subject : "";
        while (*old == ' ' || *old == '\t')
            old++;
        if (policy_subject_tagged(m->subject, v->tag))
            v->tag_subject = true; /* tagged already: never twice */
        else
            add_subject_tag(v, m, old);
    }
    /* Our signature goes on top of everything we add (it is inserted last). */
    if (m->signature != NULL)
        add_edit(v, HEADER_INSERT_TOP, "DKIM-Signature", 0, m->signature);
}

void verdict_add_field(verdict *v, const char *name, const char *value)
{
    add_edit(v, HEADER_INSERT_TOP, name, 0, value);
}

bool policy_subject_tagged(const char *subject, const char *tag)
{
    const char *s = subject ? subject : "";
    while (*s == ' ' || *s == '\t')
        s++;
    /* "[spam]" and "[SPAM]" are the same tag to a reader: never both. */
    return tag != NULL && *tag && strncasecmp(s, tag, strlen(tag)) == 0;
}

void verdict_free(verdict *v)
{
    for (size_t i = 0; i < v->edit_count; i++)
        free(v->edits[i].value);
    free(v->edits);
    v->edits = NULL;
    v->edit_count = 0;
}

const char *verdict_action_name(const verdict *v)
{
    if (v->action == ACTION_ACCEPT && v->tag_subject)
        return "tag";
    return policy_action_name(v->action);
}
