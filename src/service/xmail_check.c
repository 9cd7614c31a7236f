/* xmail_check.c: a spool file as a batch (see xmail_check.h). */
#include "service/xmail_check.h"

#include <stdlib.h>
#include <string.h>

struct svc_xmail_check {
    svc_batch batch;
    const char **rcpts;
    svc_batch_field *fields;
    char *rcpt, *auth;
    svc_batch_run *run;
};

svc_xmail_check *svc_xmail_start(const svc_env *env, const svc_config *config, xmail_stage stage,
                                 const xmail_spool *spool, const char *data, const char *rcpt,
                                 const char *auth, svc_batch_done_fn fn, void *arg)
{
    svc_xmail_check *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->rcpts = calloc(spool->rcpt_count ? spool->rcpt_count : 1, sizeof *c->rcpts);
    c->fields = calloc(spool->field_count ? spool->field_count : 1, sizeof *c->fields);
    c->rcpt = rcpt ? strdup(rcpt) : NULL;
    c->auth = auth && *auth && strcmp(auth, "-") != 0 ? strdup(auth) : NULL;
    if (c->rcpts == NULL || c->fields == NULL || (rcpt && c->rcpt == NULL) ||
        (auth && *auth && strcmp(auth, "-") != 0 && c->auth == NULL)) {
        svc_xmail_free(c);
        return NULL;
    }
    for (size_t i = 0; i < spool->rcpt_count; i++)
        c->rcpts[i] = spool->rcpts[i].address;
    for (size_t i = 0; i < spool->field_count; i++) {
        const xmail_field *f = &spool->fields[i];
        c->fields[i] = (svc_batch_field){.name = data + f->start, .name_len = f->name_len,
                                         .value = data + f->value, .value_len = f->value_len};
    }
    c->batch = (svc_batch){
        .stage = stage == XMAIL_STAGE_POST_RCPT  ? SVC_BATCH_RCPT
                 : stage == XMAIL_STAGE_PRE_DATA ? SVC_BATCH_ENVELOPE
                                                 : SVC_BATCH_MESSAGE,
        .queue_id = spool->message_id,
        .mail_from = spool->mail_from,
        .rcpts = c->rcpts,
        .rcpt_count = spool->rcpt_count,
        .rcpt = c->rcpt ? c->rcpt : "",
        .fields = c->fields,
        .field_count = spool->has_data ? spool->field_count : 0,
        .body = spool->has_data ? data + spool->body : NULL,
        .body_len = spool->has_data && spool->size > spool->body ? spool->size - spool->body : 0,
    };
    /* Before DATA XMail shows no message, as policy delegation does; at
     * post-data the whole message is in the file, every field can be
     * added, changed or removed and the RCPT TO lines replaced, but a
     * message accepted cannot be dropped. The filter holds no keys. */
    svc_caps caps = {.listener = "xmail", .no_signing = true, .no_discard = true};
    if (stage == XMAIL_STAGE_POST_DATA)
        caps.sees_message = caps.sees_body = caps.can_insert = caps.can_change =
            caps.can_redirect = true;
    svc_session session = {.client_ip = spool->client_ip,
                           .helo = spool->helo,
                           .auth_user = c->auth,
                           .mta_name = spool->smtp_domain};
    c->run = svc_batch_start(env, config, &caps, &session, &c->batch, fn, arg);
    if (c->run == NULL) {
        svc_xmail_free(c);
        return NULL;
    }
    return c;
}

void svc_xmail_free(svc_xmail_check *c)
{
    if (c == NULL)
        return;
    svc_batch_free(c->run);
    free(c->rcpts);
    free(c->fields);
    free(c->rcpt);
    free(c->auth);
    free(c);
}
