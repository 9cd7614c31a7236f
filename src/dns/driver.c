/* driver.c: see driver.h. */
#include "driver.h"

#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "domauth_dkim.h"
#include "domauth_arc.h"
#include "domauth_dmarc.h"

/* A question submitted and not yet called back: the resolver's callback
 * gets it as its argument and finds its drive through it. */
typedef struct pending_question {
    struct pending_question *next;
    struct da_drive *drive;
    da_dns_type type;
    bool answered; /* by the deadline: the real answer, when it comes, is dropped */
    char name[];
} pending_question;

struct da_drive {
    uv_timer_t timer;
    da_resolver *resolver;
    da_engine engine;
    da_drive_done_fn done;
    void *arg;
    da_drive **handle;
    pending_question *out; /* submitted, callback not yet run */
    bool stepping, progressed, finished, cancelled, timer_closed;
};

static void maybe_free(da_drive *d);

static void on_timer_closed(uv_handle_t *handle)
{
    da_drive *d = handle->data;
    d->timer_closed = true;
    maybe_free(d);
}

static void maybe_free(da_drive *d)
{
    if (!(d->finished || d->cancelled) || d->out != NULL || d->stepping)
        return;
    if (!d->timer_closed) {
        if (!uv_is_closing((uv_handle_t *)&d->timer)) {
            uv_timer_stop(&d->timer);
            uv_close((uv_handle_t *)&d->timer, on_timer_closed);
        }
        return;
    }
    free(d);
}

static void advance(da_drive *d);

static void unlink_question(da_drive *d, pending_question *p)
{
    for (pending_question **pp = &d->out; *pp; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    }
    free(p);
}

static void on_answer(void *arg, const da_dns_question *question, const da_dns_answer *a)
{
    pending_question *p = arg;
    da_drive *d = p->drive;
    bool live = !d->cancelled && !d->finished && !p->answered;
    p->answered = true;
    if (live) {
        d->engine.answer(d->engine.self, question, a);
        if (d->stepping)
            d->progressed = true;
        else
            advance(d);
    }
    unlink_question(d, p);
    maybe_free(d);
}

static void finish(da_drive *d)
{
    d->finished = true;
    uv_timer_stop(&d->timer);
    if (d->handle != NULL)
        *d->handle = NULL;
    da_drive_done_fn done = d->done;
    void *arg = d->arg;
    d->stepping = true; /* done may cancel nothing now, but must not free us mid-call */
    done(arg);
    d->stepping = false;
    maybe_free(d);
}

static void advance(da_drive *d)
{
    static const da_dns_answer failed = {.status = DA_DNS_SERVFAIL};
    d->stepping = true;
    da_engine_step s;
    do {
        d->progressed = false;
        s = d->engine.step(d->engine.self);
        if (s.done)
            break;
        for (size_t i = 0; i < s.count && !d->cancelled; i++) {
            const da_dns_question *q = &s.questions[i];
            size_t len = strlen(q->name);
            pending_question *p = malloc(sizeof *p + len + 1);
            if (p == NULL) {
                d->engine.answer(d->engine.self, q, &failed);
                d->progressed = true;
                continue;
            }
            *p = (pending_question){.next = d->out, .drive = d, .type = q->type};
            memcpy(p->name, q->name, len + 1);
            d->out = p;
            da_dns_question copy = {p->name, q->type};
            if (da_resolver_submit(d->resolver, &copy, on_answer, p) != 0) {
                /* Not submitted: no callback will come. */
                unlink_question(d, p);
                d->engine.answer(d->engine.self, q, &failed);
                d->progressed = true;
            }
        }
    } while (d->progressed && !d->cancelled);
    d->stepping = false;
    if (d->cancelled) {
        maybe_free(d);
        return;
    }
    if (s.done)
        finish(d);
}

static void on_deadline(uv_timer_t *timer)
{
    da_drive *d = timer->data;
    if (d->finished || d->cancelled)
        return;
    if (d->engine.abort != NULL) {
        d->engine.abort(d->engine.self, "no result within the evaluation deadline");
    } else {
        static const da_dns_answer timed_out = {.status = DA_DNS_TIMEOUT};
        d->stepping = true;
        for (pending_question *p = d->out; p != NULL; p = p->next) {
            if (p->answered)
                continue;
            p->answered = true;
            da_dns_question q = {p->name, p->type};
            d->engine.answer(d->engine.self, &q, &timed_out);
        }
        d->stepping = false;
    }
    advance(d);
}

int da_drive_start(struct uv_loop_s *loop, da_resolver *resolver, unsigned deadline_ms,
                   const da_engine *engine, da_drive_done_fn done, void *arg, da_drive **handle)
{
    da_drive *d = calloc(1, sizeof *d);
    *handle = d;
    if (d == NULL)
        return -1;
    d->handle = handle;
    d->resolver = resolver;
    d->engine = *engine;
    d->done = done;
    d->arg = arg;
    uv_timer_init(loop, &d->timer);
    d->timer.data = d;
    uv_timer_start(&d->timer, on_deadline, deadline_ms ? deadline_ms : 20000, 0);
    advance(d);
    return 0;
}

void da_drive_cancel(da_drive *d)
{
    if (d == NULL || d->finished)
        return;
    if (d->handle != NULL)
        *d->handle = NULL;
    d->handle = NULL;
    d->cancelled = true;
    maybe_free(d);
}

/* ------------------------------------------------------------ engines */

static da_engine_step spf_step(void *self)
{
    da_spf_step s = da_spf_eval_step(self);
    return (da_engine_step){s.kind == DA_SPF_STEP_DONE, s.count, s.questions};
}

static void spf_answer(void *self, const da_dns_question *q, const da_dns_answer *a)
{
    da_spf_eval_answer(self, q, a);
}

static void spf_abort(void *self, const char *reason)
{
    da_spf_eval_abort(self, reason);
}

da_engine da_engine_spf(da_spf_eval *eval)
{
    return (da_engine){eval, spf_step, spf_answer, spf_abort};
}

static da_engine_step dkim_step(void *self)
{
    da_dkim_step s = da_dkim_verify_step(self);
    /* Input wanted after finish cannot happen; treat it as done. */
    return (da_engine_step){s.kind != DA_DKIM_STEP_QUERIES, s.count, s.questions};
}

static void dkim_answer(void *self, const da_dns_question *q, const da_dns_answer *a)
{
    da_dkim_verify_answer(self, q, a);
}

da_engine da_engine_dkim(struct da_dkim_verify *verify)
{
    return (da_engine){verify, dkim_step, dkim_answer, NULL};
}

static da_engine_step dmarc_step(void *self)
{
    da_dmarc_step s = da_dmarc_eval_step(self);
    return (da_engine_step){s.done, s.count, s.questions};
}

static void dmarc_answer(void *self, const da_dns_question *q, const da_dns_answer *a)
{
    da_dmarc_eval_answer(self, q, a);
}

static void dmarc_abort(void *self, const char *reason)
{
    da_dmarc_eval_abort(self, reason);
}

da_engine da_engine_dmarc(struct da_dmarc_eval *eval)
{
    return (da_engine){eval, dmarc_step, dmarc_answer, dmarc_abort};
}

static da_engine_step arc_step(void *self)
{
    da_arc_step s = da_arc_verify_step(self);
    /* Input wanted after finish cannot happen; treat it as done. */
    return (da_engine_step){s.kind != DA_DKIM_STEP_QUERIES, s.count, s.questions};
}

static void arc_answer(void *self, const da_dns_question *q, const da_dns_answer *a)
{
    da_arc_verify_answer(self, q, a);
}

da_engine da_engine_arc(struct da_arc_verify *verify)
{
    return (da_engine){verify, arc_step, arc_answer, NULL};
}
