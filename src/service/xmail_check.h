/* xmail_check.h: one XMail filter check (a parsed spool file) through the
 * batch runner, the same whether `domauth xmail-filter` runs it in-process
 * or hands it to domauthd over the control socket: the same caps, session
 * and steps, so the verdict cannot depend on where it was made.
 *
 * Ownership: the caller keeps data and spool until svc_xmail_free; the
 * check owns its copies of rcpt and auth. */
#ifndef DA_SERVICE_XMAIL_CHECK_H
#define DA_SERVICE_XMAIL_CHECK_H

#include "proto/xmail_spool.h"
#include "service/batch.h"

typedef struct svc_xmail_check svc_xmail_check;

/* rcpt: the recipient being checked at post-rcpt (else NULL); auth: the
 * SMTP AUTH user, NULL, "" or "-" when none. NULL when out of memory. */
svc_xmail_check *svc_xmail_start(const svc_env *env, const svc_config *config, xmail_stage stage,
                                 const xmail_spool *spool, const char *data, const char *rcpt,
                                 const char *auth, svc_batch_done_fn fn, void *arg);
void svc_xmail_free(svc_xmail_check *check);

#endif
