/* deadline_uv.c: da_spf_eval_start_uv, an asynchronous evaluation with a
 * deadline kept by a libuv timer. Lives in libdomauth-net because the core
 * library owns no timers. */
#include <stdlib.h>
#include <uv.h>

#include "domauth_net.h"

typedef struct deadline {
    uv_timer_t timer;
    da_spf_eval *eval;
    da_spf_done_fn done;
    void *arg;
} deadline;

static void on_closed(uv_handle_t *handle)
{
    free(handle->data);
}

static void on_done(void *arg, da_spf_eval *eval)
{
    deadline *d = arg;
    da_spf_done_fn done = d->done;
    void *done_arg = d->arg;
    uv_timer_stop(&d->timer);
    uv_close((uv_handle_t *)&d->timer, on_closed);
    done(done_arg, eval); /* may free eval: nothing touches it after this */
}

static void on_deadline(uv_timer_t *timer)
{
    deadline *d = timer->data;
    da_spf_eval_abort(d->eval, "no result within the evaluation deadline");
}

int da_spf_eval_start_uv(da_spf_eval *eval, struct uv_loop_s *loop, da_resolver *resolver,
                         unsigned deadline_ms, da_spf_done_fn done, void *arg)
{
    deadline *d = calloc(1, sizeof *d);
    if (d == NULL)
        return -1;
    d->eval = eval;
    d->done = done;
    d->arg = arg;
    uv_timer_init(loop, &d->timer);
    d->timer.data = d;
    uv_timer_start(&d->timer, on_deadline, deadline_ms ? deadline_ms : 20000, 0);
    if (da_spf_eval_start(eval, resolver, on_done, d) != 0) {
        uv_timer_stop(&d->timer);
        uv_close((uv_handle_t *)&d->timer, on_closed);
        return -1;
    }
    return 0;
}
