/* escape.c: HTML and URL escaping for every page (escape.h). The UTF-8
 * check follows RFC 3629: no overlong forms, no surrogates, nothing above
 * U+10FFFF. */
#include "escape.h"

#include <string.h>

/* The length of the valid UTF-8 sequence at p (at most n bytes), 0 when
 * it is not one. */
static size_t utf8_sequence(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    unsigned cp = c & (0x3f >> (len - 1));
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

void html_escape(strbuf *out, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        size_t run = i;
        /* Copy the plain bytes in one append. */
        while (run < len && p[run] >= 0x20 && p[run] < 0x7f && p[run] != '&' && p[run] != '<' &&
               p[run] != '>' && p[run] != '"' && p[run] != '\'')
            run++;
        if (run > i)
            strbuf_append(out, s + i, run - i);
        i = run;
        if (i >= len)
            break;
        unsigned char c = p[i];
        switch (c) {
        case '&': strbuf_puts(out, "&amp;"); i++; continue;
        case '<': strbuf_puts(out, "&lt;"); i++; continue;
        case '>': strbuf_puts(out, "&gt;"); i++; continue;
        case '"': strbuf_puts(out, "&quot;"); i++; continue;
        case '\'': strbuf_puts(out, "&#39;"); i++; continue;
        case '\t':
        case '\n': strbuf_putc(out, (char)c); i++; continue;
        default: break;
        }
        if (c == '\r' && i + 1 < len && p[i + 1] == '\n') {
            i++; /* CRLF shows as a line end */
            continue;
        }
        if (c < 0x20 || c == 0x7f) {
            strbuf_puts(out, "\xef\xbf\xbd");
            i++;
            continue;
        }
        size_t n = utf8_sequence(p + i, len - i);
        /* C1 controls (U+0080..U+009F) are as unwelcome as C0 ones. */
        if (n == 0 || (n == 2 && c == 0xc2 && p[i + 1] < 0xa0)) {
            strbuf_puts(out, "\xef\xbf\xbd");
            i += n ? n : 1;
            continue;
        }
        strbuf_append(out, s + i, n);
        i += n;
    }
}

void html_puts(strbuf *out, const char *s)
{
    if (s != NULL)
        html_escape(out, s, strlen(s));
}

void url_escape(strbuf *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    if (s == NULL)
        return;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            strbuf_putc(out, (char)c);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            strbuf_append(out, e, 3);
        }
    }
}
