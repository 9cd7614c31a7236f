/* dmarc_internal.h: what the DMARC engine's files share (not installed). */
#ifndef DA_DMARC_INTERNAL_H
#define DA_DMARC_INTERNAL_H

#include <stddef.h>

#include "domauth_dmarc.h"

/* The registrable domain of name by the public suffix list (RFC 7489's
 * organizational domain), written to out; returns -1 when this build has no
 * libpsl or the answer does not fit. A name that is itself a public suffix
 * is its own organizational domain. */
int dmarc_psl_org_domain(const char *name, char *out, size_t out_size);
/* Whether libpsl's built-in list is there to ask (psl.c). */
bool dmarc_psl_ready(void);

#endif
