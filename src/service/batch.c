/* batch.c: a whole transaction through one svc_msg (see batch.h). Each
 * step starts the next from its reply; a reply that comes inside the call
 * that asked for it (a cached answer) only marks the step done, and the
 * loop in advance() starts the next, so the stack never grows with the
 * number of recipients. */
#include "service/batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { SUMMARY_MAX = 300 };

typedef enum step {
    STEP_MAIL,   /* MESSAGE: the MAIL FROM decision */
    STEP_RCPTS,  /* the recipients, one at a time */
    STEP_END,    /* MESSAGE: the final decision */
    STEP_DONE,
} step;

struct svc_batch_run {
    svc_msg *msg;
    const svc_batch *batch;
    svc_batch_done_fn fn;
    void *arg;
    step step;
    size_t next_rcpt;
    bool pending;     /* a check is out */
    bool advancing;   /* advance() is on the stack */
    /* The outcome so far, owned. */
    policy_action action;
    bool hold, any_accepted;
    char *reply, *redirect_to;
    header_edit *edits;
    size_t edit_count;
    char summary[SUMMARY_MAX];
    const verdict *last_verdict; /* the svc_msg's, valid until the next step */
    const auth_results *last_results;
};

static void free_edits(svc_batch_run *r)
{
    for (size_t i = 0; i < r->edit_count; i++) {
        free((char *)r->edits[i].name);
        free((char *)r->edits[i].value);
    }
    free(r->edits);
    r->edits = NULL;
    r->edit_count = 0;
}

static void set_str(char **slot, const char *value)
{
    free(*slot);
    *slot = value ? strdup(value) : NULL;
}

/* Keeps the edits of a reply; on out of memory none (the verdict stands,
 * without its fields: never half of them). */
static void keep_edits(svc_batch_run *r, const svc_reply *reply)
{
    free_edits(r);
    if (reply->edit_count == 0)
        return;
    header_edit *e = calloc(reply->edit_count, sizeof *e);
    if (e == NULL)
        return;
    r->edits = e;
    for (size_t i = 0; i < reply->edit_count; i++) {
        e[i] = reply->edits[i];
        e[i].name = strdup(reply->edits[i].name);
        e[i].value = reply->edits[i].value ? strdup(reply->edits[i].value) : NULL;
        r->edit_count = i + 1;
        if (e[i].name == NULL || (reply->edits[i].value != NULL && e[i].value == NULL)) {
            free_edits(r);
            return;
        }
    }
}

static void keep_summary(svc_batch_run *r, const svc_reply *reply)
{
    const verdict *v = reply->verdict;
    if (v == NULL)
        return;
    snprintf(r->summary, sizeof r->summary, "%s%s, score %.1f", verdict_action_name(v),
             v->monitor && v->enforced != ACTION_ACCEPT ? " (monitor mode: enforcing would refuse)"
                                                        : "",
             v->score);
}

/* A refusal outranks another by severity: reject, then defer. */
static bool stronger_refusal(policy_action a, policy_action than)
{
    return than == ACTION_ACCEPT || (a == ACTION_REJECT && than == ACTION_DEFER);
}

static void advance(svc_batch_run *r);

static void on_reply(void *arg, const svc_reply *reply)
{
    svc_batch_run *r = arg;
    r->pending = false;
    keep_summary(r, reply);
    r->last_verdict = reply->verdict;
    r->last_results = reply->results;
    const svc_batch *b = r->batch;
    if (b->stage == SVC_BATCH_ENVELOPE && r->step == STEP_RCPTS) {
        /* One answer for the message: refused only when every recipient
         * is, with the strongest refusal's reply. */
        if (reply->action == ACTION_ACCEPT || reply->action == ACTION_REDIRECT ||
            reply->action == ACTION_QUARANTINE) {
            r->any_accepted = true;
        } else if (stronger_refusal(reply->action, r->action)) {
            r->action = reply->action;
            set_str(&r->reply, reply->reply);
        }
    } else {
        r->action = reply->action;
        r->hold = reply->hold;
        set_str(&r->reply, reply->reply);
        set_str(&r->redirect_to, reply->redirect_to);
        if (r->step == STEP_END)
            keep_edits(r, reply);
    }
    if (!r->advancing)
        advance(r);
}

static void feed_message(svc_batch_run *r)
{
    const svc_batch *b = r->batch;
    for (size_t i = 0; i < b->field_count; i++) {
        const svc_batch_field *f = &b->fields[i];
        char name[1024];
        size_t n = f->name_len < sizeof name - 1 ? f->name_len : sizeof name - 1;
        memcpy(name, f->name, n);
        name[n] = '\0';
        svc_msg_header(r->msg, name, f->value, f->value_len);
    }
    svc_msg_end_headers(r->msg);
    if (b->body_len > 0)
        svc_msg_body(r->msg, b->body, b->body_len);
}

static void finish(svc_batch_run *r)
{
    r->step = STEP_DONE;
    if (r->batch->stage == SVC_BATCH_ENVELOPE && r->any_accepted) {
        r->action = ACTION_ACCEPT;
        set_str(&r->reply, NULL);
    }
    svc_batch_outcome o = {
        .action = r->action,
        .hold = r->hold,
        .reply = r->reply,
        .redirect_to = r->redirect_to,
        .edits = r->edits,
        .edit_count = r->edit_count,
        .summary = r->summary[0] ? r->summary : "accept",
        .verdict = r->last_verdict,
        .results = r->last_results,
    };
    r->fn(r->arg, &o);
}

/* Starts checks until one is out or the transaction is done. */
static void advance(svc_batch_run *r)
{
    const svc_batch *b = r->batch;
    r->advancing = true;
    while (!r->pending && r->step != STEP_DONE) {
        if (r->step == STEP_MAIL) {
            r->step = STEP_RCPTS;
            r->pending = true;
            svc_msg_check_mail(r->msg, on_reply, r);
        } else if (r->step == STEP_RCPTS) {
            if (b->stage == SVC_BATCH_RCPT) {
                if (r->next_rcpt++ > 0) {
                    finish(r);
                    break;
                }
                r->pending = true;
                svc_msg_check_rcpt(r->msg, b->rcpt, strlen(b->rcpt), true, on_reply, r);
            } else if (r->next_rcpt < b->rcpt_count) {
                const char *a = b->rcpts[r->next_rcpt++];
                r->pending = true;
                /* Before DATA the recipient's answer is the filter's;
                 * with the message, the end decides. */
                svc_msg_check_rcpt(r->msg, a, strlen(a), b->stage == SVC_BATCH_ENVELOPE,
                                   on_reply, r);
            } else if (b->stage == SVC_BATCH_MESSAGE) {
                r->step = STEP_END;
                feed_message(r);
                r->pending = true;
                svc_msg_check_end(r->msg, on_reply, r);
            } else {
                finish(r);
                break;
            }
        } else { /* STEP_END replied */
            finish(r);
            break;
        }
    }
    r->advancing = false;
}

svc_batch_run *svc_batch_start(const svc_env *env, const svc_config *config, const svc_caps *caps,
                               const svc_session *session, const svc_batch *batch,
                               svc_batch_done_fn fn, void *arg)
{
    svc_batch_run *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->msg = svc_msg_new(env, config, caps, session);
    if (r->msg == NULL) {
        free(r);
        return NULL;
    }
    r->batch = batch;
    r->fn = fn;
    r->arg = arg;
    r->action = ACTION_ACCEPT;
    if (batch->queue_id != NULL)
        svc_msg_queue_id(r->msg, batch->queue_id);
    svc_msg_mail_from(r->msg, batch->mail_from, strlen(batch->mail_from));
    r->step = batch->stage == SVC_BATCH_MESSAGE ? STEP_MAIL : STEP_RCPTS;
    advance(r);
    return r;
}

void svc_batch_free(svc_batch_run *run)
{
    if (run == NULL)
        return;
    svc_msg_free(run->msg); /* cancels what still runs, writes the event */
    free_edits(run);
    free(run->reply);
    free(run->redirect_to);
    free(run);
}
