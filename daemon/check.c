/* check.c: one decision for a message or recipient, shared by the milter
 * and policy listeners: skip or evaluate SPF on the loop (HELO first when
 * configured), apply the policy, log the event, hand the decision back. */
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "domauthd.h"

struct check_job {
    conn *c;
    const policy_settings *ps; /* in c->config, which c keeps alive */
    check_done_fn done;
    void *arg;
    session_facts facts;       /* strings owned by the job */
    char *rcpt, *queue_id;
    const char *identity;
    bool helo_phase;           /* evaluating the HELO identity first */
    da_spf_eval *eval;
};

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void job_free(check_job *job)
{
    free((char *)job->facts.client_ip);
    free((char *)job->facts.client_name);
    free((char *)job->facts.helo);
    free((char *)job->facts.mail_from);
    free((char *)job->facts.header_from);
    free(job->rcpt);
    free(job->queue_id);
    free(job);
}

static void log_event(check_job *job, const decision *d, const da_spf_eval *ev)
{
    conn *c = job->c;
    const char *held = NULL;
    if (d->monitor && d->enforced != ACTION_ACCEPT)
        held = policy_action_name(d->enforced);
    const char *action = policy_action_name(d->action);
    if (d->action == ACTION_ACCEPT && d->tag_subject)
        action = "tag";
    event_record rec = {
        .time = (int64_t)time(NULL),
        .listener = c->kind == CONN_MILTER ? "milter" : "policy",
        .queue_id = job->queue_id,
        .client_ip = job->facts.client_ip,
        .client_name = job->facts.client_name,
        .helo = job->facts.helo,
        .mail_from = job->facts.mail_from ? job->facts.mail_from : "",
        .rcpt = job->rcpt,
        .header_from = job->facts.header_from,
        .identity = ev ? job->identity : NULL,
        .domain = ev ? da_spf_eval_domain(ev) : NULL,
        .result = ev ? da_spf_result_name(da_spf_eval_result(ev)) : NULL,
        .mechanism = ev ? da_spf_eval_mechanism(ev) : NULL,
        .problem = ev ? da_spf_eval_problem(ev) : NULL,
        .skip_reason = skip_reason_name(d->skip),
        .score = d->score,
        .action = action,
        .held_action = held,
        .reply = d->enforced != ACTION_ACCEPT ? d->reply : NULL,
    };
    if (c->daemon->events != NULL)
        eventlog_write(c->daemon->events, &rec);
    daemon_stats *st = &c->daemon->stats;
    if (ev != NULL)
        st->checks++;
    else
        st->skips++;
    if (held != NULL)
        st->held_back++;
    else if (d->action == ACTION_DEFER)
        st->defers++;
    else if (d->action == ACTION_REJECT)
        st->rejects++;
}

static void finish(check_job *job, skip_reason skip, da_spf_eval *ev)
{
    conn *c = job->c;
    decision d;
    policy_decide(job->ps, skip, ev, c->config->authserv_id, &d);
    log_event(job, &d, ev);
    if (!c->closing)
        job->done(c, job->arg, &d, ev);
    decision_free(&d);
    da_spf_eval_free(ev);
    job_free(job);
    conn_unref(c);
}

static void start_eval(check_job *job, bool helo_identity);

static void on_eval_done(void *arg, da_spf_eval *ev)
{
    check_job *job = arg;
    /* A HELO that does not fail leaves the decision to the main identity
     * (RFC 7208 section 2.3). */
    if (job->helo_phase && da_spf_eval_result(ev) != DA_SPF_FAIL) {
        da_spf_eval_free(ev);
        job->helo_phase = false;
        start_eval(job, false);
        return;
    }
    if (job->helo_phase)
        job->identity = "helo";
    finish(job, SKIP_NONE, ev);
}

static void start_eval(check_job *job, bool helo_identity)
{
    conn *c = job->c;
    domauthd *d = c->daemon;
    da_spf_request req;
    policy_request(job->ps, &job->facts, &req, &job->identity);
    req.helo_identity = helo_identity;
    req.receiver = c->config->receiver;
    req.now = (int64_t)time(NULL);
    req.records = d->records;
    char err[256];
    da_spf_eval *ev = da_spf_eval_new(&req, err, sizeof err);
    if (ev == NULL) {
        /* An address the MTA gave us that is not an IP: nothing to check. */
        daemon_log(LOG_WARNING, "cannot check client %s: %s",
                   job->facts.client_ip ? job->facts.client_ip : "(none)", err);
        finish(job, SKIP_LOCAL, NULL);
        return;
    }
    job->eval = ev;
    if (da_spf_eval_start_uv(ev, d->loop, d->resolver, c->config->config.spf_deadline_ms,
                             on_eval_done, job) != 0) {
        da_spf_eval_abort(ev, "could not start the evaluation");
        finish(job, SKIP_NONE, ev);
    }
}

void check_start(conn *c, const policy_settings *ps, const session_facts *facts,
                 const char *rcpt, const char *queue_id, check_done_fn done, void *arg)
{
    check_job *job = calloc(1, sizeof *job);
    if (job == NULL) {
        /* Out of memory: let the message through rather than lose it. */
        decision d;
        policy_decide(ps, SKIP_LOCAL, NULL, c->config->authserv_id, &d);
        done(c, arg, &d, NULL);
        return;
    }
    conn_ref(c);
    job->c = c;
    job->ps = ps;
    job->done = done;
    job->arg = arg;
    job->facts.client_ip = dup_or_null(facts->client_ip);
    job->facts.client_name = dup_or_null(facts->client_name);
    job->facts.helo = dup_or_null(facts->helo);
    job->facts.mail_from = dup_or_null(facts->mail_from);
    job->facts.header_from = dup_or_null(facts->header_from);
    job->facts.authenticated = facts->authenticated;
    job->rcpt = dup_or_null(rcpt);
    job->queue_id = dup_or_null(queue_id);

    skip_reason skip = policy_skip(&c->config->config, ps, &job->facts);
    if (skip != SKIP_NONE) {
        finish(job, skip, NULL);
        return;
    }
    bool mailfrom_identity = ps->identity == IDENTITY_MAILFROM || job->facts.header_from == NULL;
    if (ps->check_helo && mailfrom_identity && job->facts.helo && *job->facts.helo &&
        job->facts.mail_from && *job->facts.mail_from) {
        job->helo_phase = true;
        start_eval(job, true);
        return;
    }
    start_eval(job, false);
}
