/* json.c: see json.h. */
#include "json.h"

#include <stdlib.h>
#include <string.h>

size_t json_utf8_len(const unsigned char *p)
{
    unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        if (c == 0xF4)
            hi = 0x8F; /* beyond U+10FFFF */
    } else {
        return 0;
    }
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

void json_write_string(const char *s, json_put_fn *put, void *ctx)
{
    if (s == NULL) {
        put(ctx, "null", 4);
        return;
    }
    put(ctx, "\"", 1);
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t n = json_utf8_len(p);
        if (n > 1) {
            put(ctx, (const char *)p, n);
            p += n;
            continue;
        }
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            put(ctx, esc, 2);
        } else if (*p == '\n') {
            put(ctx, "\\n", 2);
        } else if (*p == '\r') {
            put(ctx, "\\r", 2);
        } else if (*p == '\t') {
            put(ctx, "\\t", 2);
        } else if (*p < 0x20 || *p >= 0x7F) {
            snprintf(esc, sizeof esc, "\\u%04x", (unsigned)*p);
            put(ctx, esc, 6);
        } else {
            put(ctx, (const char *)p, 1);
        }
        p++;
    }
    put(ctx, "\"", 1);
}

static void put_file(void *ctx, const char *bytes, size_t len)
{
    fwrite(bytes, 1, len, ctx);
}

static void put_strbuf(void *ctx, const char *bytes, size_t len)
{
    strbuf_append(ctx, bytes, len);
}

void json_fputs(FILE *out, const char *s)
{
    json_write_string(s, put_file, out);
}

void json_strbuf(strbuf *out, const char *s)
{
    json_write_string(s, put_strbuf, out);
}

void json_format_number(double v, char out[JSON_NUMBER_MAX])
{
    if (v != v || v - v != 0) { /* NaN, or an infinity */
        strcpy(out, "null");
        return;
    }
    for (int digits = 6; digits <= 17; digits++) {
        snprintf(out, JSON_NUMBER_MAX, "%.*g", digits, v);
        if (strtod(out, NULL) == v)
            return;
    }
}
