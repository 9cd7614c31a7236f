/* form.c: query strings, form bodies and cookies (form.h). One pass over
 * the bytes, every length checked where it is read. */
#include "form.h"

#include <stdlib.h>
#include <string.h>

#include "util/errbuf.h"
#include "util/hex.h"

/* Decodes text[0..len) into out (room for len + 1 bytes). Returns the
 * decoded length, or -1 with why. at is the piece's offset, for messages. */
static long decode(const char *text, size_t len, char *out, size_t at, char *why,
                   size_t why_size)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi = i + 1 < len ? util_hex_digit(text[i + 1]) : -1;
            int lo = i + 2 < len ? util_hex_digit(text[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                errbuf_set(why, why_size, "malformed %%-escape at byte %zu", at + i);
                return -1;
            }
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        if (c == '\0') {
            errbuf_set(why, why_size, "NUL byte at byte %zu", at + i);
            return -1;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return (long)o;
}

int web_form_parse(web_form *f, const char *text, size_t len, char *why, size_t why_size)
{
    *f = (web_form){0};
    if (len > WEB_FORM_MAX_BYTES) {
        errbuf_set(why, why_size, "form of %zu bytes; at most %d", len, WEB_FORM_MAX_BYTES);
        return -1;
    }
    size_t pieces = 1;
    for (size_t i = 0; i < len; i++)
        pieces += text[i] == '&';
    if (pieces > WEB_FORM_MAX_FIELDS * 2) {
        errbuf_set(why, why_size, "more than %d fields", WEB_FORM_MAX_FIELDS);
        return -1;
    }
    /* Each piece decodes to at most its own length plus two NULs. */
    f->storage = malloc(len + 2 * pieces + 1);
    f->fields = calloc(pieces, sizeof *f->fields);
    if (f->storage == NULL || f->fields == NULL) {
        errbuf_set(why, why_size, "out of memory");
        web_form_free(f);
        return -1;
    }
    char *out = f->storage;
    size_t start = 0;
    while (start <= len) {
        const char *amp = memchr(text + start, '&', len - start);
        size_t end = amp ? (size_t)(amp - text) : len;
        if (end > start) {
            const char *eq = memchr(text + start, '=', end - start);
            size_t name_end = eq ? (size_t)(eq - text) : end;
            if (f->count == WEB_FORM_MAX_FIELDS) {
                errbuf_set(why, why_size, "more than %d fields", WEB_FORM_MAX_FIELDS);
                web_form_free(f);
                return -1;
            }
            long n = decode(text + start, name_end - start, out, start, why, why_size);
            if (n < 0) {
                web_form_free(f);
                return -1;
            }
            f->fields[f->count].name = out;
            out += n + 1;
            size_t vstart = eq ? name_end + 1 : end;
            long v = decode(text + vstart, end - vstart, out, vstart, why, why_size);
            if (v < 0) {
                web_form_free(f);
                return -1;
            }
            f->fields[f->count++].value = out;
            out += v + 1;
        }
        if (amp == NULL)
            break;
        start = end + 1;
    }
    return 0;
}

void web_form_free(web_form *f)
{
    free(f->fields);
    free(f->storage);
    *f = (web_form){0};
}

const char *web_form_next(const web_form *f, const char *name, size_t *i)
{
    for (; *i < f->count; (*i)++) {
        if (strcmp(f->fields[*i].name, name) == 0)
            return f->fields[(*i)++].value;
    }
    return NULL;
}

const char *web_form_get(const web_form *f, const char *name)
{
    size_t i = 0;
    return web_form_next(f, name, &i);
}

int web_cookie_get(const char *header, size_t len, const char *name, char *out,
                   size_t out_size)
{
    size_t name_len = strlen(name);
    size_t i = 0;
    while (i < len) {
        while (i < len && (header[i] == ' ' || header[i] == '\t' || header[i] == ';'))
            i++;
        size_t start = i;
        while (i < len && header[i] != ';')
            i++;
        /* One cookie-pair: name=value (value may be in double quotes). */
        const char *pair = header + start;
        size_t plen = i - start;
        while (plen > 0 && (pair[plen - 1] == ' ' || pair[plen - 1] == '\t'))
            plen--;
        if (plen == 0)
            continue;
        const char *eq = memchr(pair, '=', plen);
        if (eq == NULL)
            continue; /* not a cookie-pair; RFC 6265 5.2 ignores it */
        size_t nlen = (size_t)(eq - pair);
        if (nlen != name_len || memcmp(pair, name, nlen) != 0)
            continue;
        const char *v = eq + 1;
        size_t vlen = plen - nlen - 1;
        if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
            v++;
            vlen -= 2;
        }
        for (size_t k = 0; k < vlen; k++) {
            unsigned char c = (unsigned char)v[k];
            /* cookie-octet: no controls, space, DQUOTE, comma, semicolon, backslash */
            if (c < 0x21 || c > 0x7e || c == '"' || c == ',' || c == '\\')
                return -1;
        }
        if (vlen >= out_size)
            return -1;
        memcpy(out, v, vlen);
        out[vlen] = '\0';
        return 1;
    }
    return 0;
}
