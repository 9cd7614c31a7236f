/* json_get.c: see json_get.h. */
#include "json_get.h"

#include <stdlib.h>
#include <string.h>

#include "util/hex.h"

enum { MAX_DEPTH = 32 };

typedef struct cursor {
    const char *p, *end;
} cursor;

static void ws(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\n' || *c->p == '\t' || *c->p == '\r'))
        c->p++;
}

/* Skips a string (c->p at its quote). */
static bool skip_string(cursor *c)
{
    if (c->p >= c->end || *c->p != '"')
        return false;
    for (c->p++; c->p < c->end; c->p++) {
        if (*c->p == '\\') {
            c->p++;
            continue;
        }
        if (*c->p == '"') {
            c->p++;
            return true;
        }
    }
    return false;
}

static bool skip_value(cursor *c, int depth)
{
    ws(c);
    if (c->p >= c->end || depth > MAX_DEPTH)
        return false;
    char ch = *c->p;
    if (ch == '"')
        return skip_string(c);
    if (ch == '{' || ch == '[') {
        char close = ch == '{' ? '}' : ']';
        c->p++;
        ws(c);
        if (c->p < c->end && *c->p == close) {
            c->p++;
            return true;
        }
        for (;;) {
            if (ch == '{') {
                ws(c);
                if (!skip_string(c))
                    return false;
                ws(c);
                if (c->p >= c->end || *c->p != ':')
                    return false;
                c->p++;
            }
            if (!skip_value(c, depth + 1))
                return false;
            ws(c);
            if (c->p >= c->end)
                return false;
            if (*c->p == ',') {
                c->p++;
                continue;
            }
            if (*c->p == close) {
                c->p++;
                return true;
            }
            return false;
        }
    }
    /* number, true, false, null */
    const char *start = c->p;
    while (c->p < c->end && strchr(",}] \n\t\r", *c->p) == NULL)
        c->p++;
    return c->p > start;
}

/* Moves c to the value at path (c at a value). */
static bool find(cursor *c, const char *path)
{
    while (*path) {
        const char *dot = strchr(path, '.');
        size_t seg = dot ? (size_t)(dot - path) : strlen(path);
        ws(c);
        if (c->p >= c->end)
            return false;
        if (*c->p == '{') {
            c->p++;
            bool found = false;
            for (;;) {
                ws(c);
                if (c->p < c->end && *c->p == '}')
                    return false;
                const char *k = c->p + 1;
                if (!skip_string(c))
                    return false;
                size_t klen = (size_t)(c->p - 1 - k);
                ws(c);
                if (c->p >= c->end || *c->p != ':')
                    return false;
                c->p++;
                if (klen == seg && memcmp(k, path, seg) == 0) {
                    found = true;
                    break;
                }
                if (!skip_value(c, 1))
                    return false;
                ws(c);
                if (c->p < c->end && *c->p == ',')
                    c->p++;
                else
                    return false;
            }
            if (!found)
                return false;
        } else if (*c->p == '[') {
            char *endp;
            char num[16];
            if (seg == 0 || seg >= sizeof num)
                return false;
            memcpy(num, path, seg);
            num[seg] = '\0';
            unsigned long want = strtoul(num, &endp, 10);
            if (*endp != '\0')
                return false;
            c->p++;
            for (unsigned long i = 0; i < want; i++) {
                if (!skip_value(c, 1))
                    return false;
                ws(c);
                if (c->p < c->end && *c->p == ',')
                    c->p++;
                else
                    return false;
            }
            ws(c);
            if (c->p < c->end && *c->p == ']')
                return false;
        } else {
            return false;
        }
        path += seg + (dot ? 1 : 0);
        if (!dot)
            break;
    }
    ws(c);
    return c->p < c->end;
}

bool json_get_number(const char *text, size_t len, const char *path, double *out)
{
    cursor c = {text, text + len};
    if (!find(&c, path))
        return false;
    char buf[64];
    size_t n = 0;
    while (c.p < c.end && n + 1 < sizeof buf && strchr("-+.0123456789eE", *c.p) != NULL)
        buf[n++] = *c.p++;
    if (n == 0)
        return false;
    buf[n] = '\0';
    char *endp;
    *out = strtod(buf, &endp);
    return *endp == '\0';
}

/* Decodes the string at c->p into out. */
static bool read_string(cursor *c, char *out, size_t out_size)
{
    if (c->p >= c->end || *c->p != '"' || out_size == 0)
        return false;
    size_t o = 0;
    for (c->p++; c->p < c->end; c->p++) {
        char ch = *c->p;
        if (ch == '"') {
            out[o] = '\0';
            c->p++;
            return true;
        }
        if (ch == '\\') {
            if (++c->p >= c->end)
                return false;
            switch (*c->p) {
            case 'n': ch = '\n'; break;
            case 't': ch = '\t'; break;
            case 'r': ch = '\r'; break;
            case 'b': ch = '\b'; break;
            case 'f': ch = '\f'; break;
            case 'u': {
                if (c->end - c->p < 5)
                    return false;
                int v = 0;
                for (int k = 1; k <= 4; k++) {
                    int h = util_hex_digit(c->p[k]);
                    if (h < 0)
                        return false;
                    v = v << 4 | h;
                }
                c->p += 4;
                ch = v > 0 && v < 0x80 ? (char)v : '?';
                break;
            }
            default: ch = *c->p; break;
            }
        }
        if (o + 1 >= out_size)
            return false;
        out[o++] = ch;
    }
    return false;
}

bool json_get_string(const char *text, size_t len, const char *path, char *out,
                     size_t out_size)
{
    cursor c = {text, text + len};
    return find(&c, path) && read_string(&c, out, out_size);
}

bool json_get_key(const char *text, size_t len, const char *path, size_t *i, char *out,
                  size_t out_size)
{
    cursor c = {text, text + len};
    if (*path && !find(&c, path))
        return false;
    ws(&c);
    if (c.p >= c.end || *c.p != '{')
        return false;
    c.p++;
    for (size_t k = 0;; k++) {
        ws(&c);
        if (c.p >= c.end || *c.p == '}')
            return false;
        if (k == *i) {
            (*i)++;
            return read_string(&c, out, out_size);
        }
        if (!skip_string(&c))
            return false;
        ws(&c);
        if (c.p >= c.end || *c.p != ':')
            return false;
        c.p++;
        if (!skip_value(&c, 1))
            return false;
        ws(&c);
        if (c.p < c.end && *c.p == ',')
            c.p++;
        else
            return false;
    }
}
