/* psl.c: RFC 7489's organizational domain by the public suffix list
 * (libpsl's built-in copy, a read-only table: no state of ours). Only the
 * RFC 7489 mode uses it; RFC 9989 walks the DNS instead. */
#include <stdio.h>
#include <string.h>

#include "dmarc_internal.h"

#ifdef DA_HAVE_PSL
#include <libpsl.h>

bool dmarc_psl_ready(void)
{
    return psl_builtin() != NULL;
}

int dmarc_psl_org_domain(const char *name, char *out, size_t out_size)
{
    const psl_ctx_t *psl = psl_builtin();
    if (psl == NULL)
        return -1;
    const char *r = psl_registrable_domain(psl, name);
    /* NULL: name is a public suffix (or not under one); it is its own
     * organizational domain, as RFC 7489 section 3.2 step 3 ends. */
    int n = snprintf(out, out_size, "%s", r != NULL ? r : name);
    return n < 0 || (size_t)n >= out_size ? -1 : 0;
}
#else
bool dmarc_psl_ready(void)
{
    return false;
}

int dmarc_psl_org_domain(const char *name, char *out, size_t out_size)
{
    (void)name;
    (void)out;
    (void)out_size;
    return -1;
}
#endif
