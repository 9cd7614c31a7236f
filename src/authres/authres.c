/* authres.c: quoting for header field values (RFC 5322 atoms and quoted
 * strings, RFC 8601 tokens, comment text), so that hostile values cannot
 * break out of their field or add header lines. */
#include "authres.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static bool is_atext(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static bool is_dot_atom(const char *s)
{
    if (*s == '\0' || *s == '.')
        return false;
    bool last_dot = false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '.') {
            if (last_dot)
                return false;
            last_dot = true;
        } else if (is_atext(*p)) {
            last_dot = false;
        } else {
            return false;
        }
    }
    return !last_dot;
}

/* Printable ASCII passes; anything else (CR, LF, NUL, 8-bit) becomes '?'. */
static char printable(unsigned char c)
{
    return c >= 0x20 && c <= 0x7e ? (char)c : '?';
}

static void append_quoted(strbuf *out, const char *value)
{
    strbuf_putc(out, '"');
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        if (*p == '"' || *p == '\\')
            strbuf_putc(out, '\\');
        strbuf_putc(out, printable(*p));
    }
    strbuf_putc(out, '"');
}

void header_append_value(strbuf *out, const char *value)
{
    if (is_dot_atom(value))
        strbuf_puts(out, value);
    else
        append_quoted(out, value);
}

void header_append_printable(strbuf *out, const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        strbuf_putc(out, printable(*p));
}

void header_append_comment_text(strbuf *out, const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '(' || *p == ')' || *p == '\\')
            strbuf_putc(out, '\\');
        strbuf_putc(out, printable(*p));
    }
}

/* RFC 2045 token: printable ASCII except space and tspecials. */
static bool is_token(const char *s)
{
    if (*s == '\0')
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p > 0x7e || strchr("()<>@,;:\\\"/[]?=", *p) != NULL)
            return false;
    return true;
}

/* RFC 8601 pvalue: [local-part "@"] domain-name, or a token / quoted-string. */
static bool is_plain_address(const char *s)
{
    const char *at = strrchr(s, '@');
    if (at == NULL || at == s)
        return false;
    size_t local_len = (size_t)(at - s);
    char local[256];
    if (local_len >= sizeof local)
        return false;
    memcpy(local, s, local_len);
    local[local_len] = '\0';
    return is_dot_atom(local) && is_dot_atom(at + 1);
}

void header_append_token(strbuf *out, const char *value)
{
    if (is_token(value) || is_plain_address(value))
        strbuf_puts(out, value);
    else
        append_quoted(out, value);
}
