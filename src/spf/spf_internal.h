/* spf_internal.h: evaluation details the library's own modules (header
 * builders) read but the public API does not expose. */
#ifndef DA_SPF_INTERNAL_H
#define DA_SPF_INTERNAL_H

#include "domauth.h"

const char *spf_eval_client_ip_text(const da_spf_eval *eval);
const char *spf_eval_helo(const da_spf_eval *eval);
const char *spf_eval_receiver(const da_spf_eval *eval);

#endif
