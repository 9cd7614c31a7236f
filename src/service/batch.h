/* batch.h: one message check for a front end that has the transaction at
 * once rather than command by command: the XMail filter (in-process, or in
 * domauthd through its control socket) and, later, the check-auth
 * responder. It drives a svc_msg through the steps an SMTP session would
 * take (MAIL FROM, each RCPT TO, the message, its end) and hands back one
 * outcome, with copies of the edits, so the caller may carry them out after
 * the svc_msg is gone.
 *
 * Ownership: the caller keeps the svc_batch and every string it points to
 * until the done callback has run or svc_batch_free; the outcome is valid
 * during the callback only. The callback may run inside svc_batch_start
 * (cached answers); it must not free the run (free it after). */
#ifndef DA_SERVICE_BATCH_H
#define DA_SERVICE_BATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "service/service.h"

typedef enum svc_batch_stage {
    SVC_BATCH_RCPT,     /* one recipient before it is accepted (XMail post-rcpt) */
    SVC_BATCH_ENVELOPE, /* the whole envelope, no message (XMail pre-data) */
    SVC_BATCH_MESSAGE,  /* the envelope and the message (XMail post-data) */
} svc_batch_stage;

typedef struct svc_batch_field {
    const char *name;
    size_t name_len;
    const char *value; /* as on the wire after the colon, folding kept */
    size_t value_len;
} svc_batch_field;

typedef struct svc_batch {
    svc_batch_stage stage;
    const char *queue_id;       /* may be NULL */
    const char *mail_from;      /* without brackets; "" for the null sender */
    const char *const *rcpts;   /* the recipients accepted so far */
    size_t rcpt_count;
    const char *rcpt;           /* SVC_BATCH_RCPT: the one being checked */
    const svc_batch_field *fields; /* SVC_BATCH_MESSAGE: the header block */
    size_t field_count;
    const char *body;           /* after the header block's empty line */
    size_t body_len;
} svc_batch;

typedef struct svc_batch_outcome {
    policy_action action; /* ACTION_ACCEPT, _REDIRECT, _QUARANTINE, _DEFER, _REJECT */
    bool hold;            /* ACTION_QUARANTINE: the MTA's hold queue (else discard) */
    const char *reply;    /* defer and reject: "550 5.7.1 text" */
    const char *redirect_to; /* ACTION_REDIRECT */
    const header_edit *edits; /* SVC_BATCH_MESSAGE: what the caps allow */
    size_t edit_count;
    const char *summary;  /* the verdict in words, for a log line */
    const verdict *verdict;       /* the last decision's, or NULL when none came */
    const auth_results *results;  /* every result of the check, or NULL */
} svc_batch_outcome;

typedef void (*svc_batch_done_fn)(void *arg, const svc_batch_outcome *outcome);

typedef struct svc_batch_run svc_batch_run;

/* Starts the check. NULL when out of memory (nothing is called). */
svc_batch_run *svc_batch_start(const svc_env *env, const svc_config *config, const svc_caps *caps,
                               const svc_session *session, const svc_batch *batch,
                               svc_batch_done_fn fn, void *arg);
/* Cancels what still runs (the callback is not called after this), writes
 * the event, frees. */
void svc_batch_free(svc_batch_run *run);

#endif
