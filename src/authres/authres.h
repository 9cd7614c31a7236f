/* authres.h: safe pieces of header fields. Anything that came from the
 * network goes through these before it reaches a header: no CR, LF or other
 * control character survives, and quoting follows RFC 5322. */
#ifndef DA_AUTHRES_H
#define DA_AUTHRES_H

#include <stddef.h>

#include "util/strbuf.h"

/* Appends value as a dot-atom when it is one, otherwise as a quoted-string. */
void header_append_value(strbuf *out, const char *value);
/* Appends text for use inside a (comment). */
void header_append_comment_text(strbuf *out, const char *text);
/* Appends text with every byte that is not printable ASCII as '?', and
 * nothing escaped: for text a later writer quotes. */
void header_append_printable(strbuf *out, const char *text);
/* Appends an RFC 8601 value: a token when possible, else a quoted-string. */
void header_append_token(strbuf *out, const char *value);

#endif
