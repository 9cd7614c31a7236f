/* spf_internal.h: evaluation details the library's own modules (header
 * builders) read but the public API does not expose. */
#ifndef DA_SPF_INTERNAL_H
#define DA_SPF_INTERNAL_H

#include "domauth.h"

const char *spf_eval_client_ip_text(const da_spf_eval *eval);
const char *spf_eval_helo(const da_spf_eval *eval);
const char *spf_eval_receiver(const da_spf_eval *eval);
/* For an evaluation stepped by another driver (src/dns/driver.c) rather
 * than da_spf_eval_start: the resolver whose cached answers each replay may
 * take at once (resolver_peek), as da_spf_eval_start and da_spf_eval_run
 * arrange for themselves. Without it every cached answer costs one more
 * step, a whole replay of the evaluation. Call before the first step; the
 * resolver must outlive the evaluation. */
void spf_eval_peek_at(da_spf_eval *eval, da_resolver *resolver);

/* The text of the Received-SPF comment ("receiver: domain of sender
 * designates ip as permitted sender"), unquoted. Caller frees. */
char *spf_result_comment(const da_spf_eval *eval);
/* Received-SPF naming the identity checked and the real envelope sender,
 * for checks of another identity than MAIL FROM (e.g. "header-from").
 * Caller frees. */
char *spf_received_spf_as(const da_spf_eval *eval, const char *identity,
                          const char *envelope_from);

#endif
