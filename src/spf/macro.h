/* macro.h: SPF macro expansion (RFC 7208 section 7). Pure string work: the
 * caller supplies every value, including the validated PTR name for %{p}. */
#ifndef DA_SPF_MACRO_H
#define DA_SPF_MACRO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/arena.h"
#include "util/ip.h"

typedef struct spf_macro_context {
    const char *sender;       /* %{s} */
    const char *local_part;   /* %{l} */
    const char *sender_domain; /* %{o} */
    const char *domain;       /* %{d}: the current <domain> */
    const ip_addr *ip;        /* %{i} %{c} %{v} */
    const char *helo;         /* %{h} */
    const char *receiver;     /* %{r} */
    const char *ptr_name;     /* %{p}: validated name, or NULL for "unknown" */
    int64_t now;              /* %{t} */
} spf_macro_context;

typedef enum spf_macro_use {
    SPF_MACRO_DOMAIN,      /* a domain-spec: c, r, t are errors */
    SPF_MACRO_EXPLANATION, /* exp= TXT text: every letter, spaces allowed */
} spf_macro_use;

/* Expands text into *out (arena-owned, NUL-terminated). For SPF_MACRO_DOMAIN
 * the result is shortened from the left to 253 characters by whole labels,
 * as section 7.3 says. Returns 0, or -1 with a reason in err. */
int spf_macro_expand(arena *a, const char *text, size_t len, spf_macro_use use,
                     const spf_macro_context *ctx, char **out, char *err, size_t err_size);

/* The same into out (out_size bytes, NUL-terminated), allocating nothing:
 * returns 0 with *out_len, -1 on a syntax error (reason in err), -2 when
 * the expansion does not fit. The result is spf_macro_expand's. */
int spf_macro_expand_into(const char *text, size_t len, spf_macro_use use,
                          const spf_macro_context *ctx, char *out, size_t out_size,
                          size_t *out_len, char *err, size_t err_size);

/* Syntax check only (no values needed). */
int spf_macro_check(const char *text, size_t len, spf_macro_use use, char *err,
                    size_t err_size);

/* True when expanding text would need %{p}. */
bool spf_macro_uses_ptr(const char *text, size_t len);

/* Problem and trace texts quote DNS data (names, records, expansions): each
 * byte outside printable ASCII becomes '?', in place, before the text can
 * reach a log line or a header comment. */
static inline void spf_text_printable(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            *s = '?';
}

#endif
