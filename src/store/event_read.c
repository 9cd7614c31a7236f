/* event_read.c: see event_read.h. A small recursive-descent reader for the
 * one shape event_json_write makes (an object of strings, numbers, null and
 * two arrays of objects of strings), not a general JSON library. Decoded
 * strings are at most twice as long as their encoding (a byte that is not
 * UTF-8 is read as Latin-1), so they go into one buffer sized from the input
 * before the read starts: no pointer into it moves. */
#include "store/event_read.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/errbuf.h"
#include "util/json.h"

enum { SKIP_DEPTH_MAX = 16 };

struct event_reader {
    char *text;                 /* decoded strings, NUL-terminated */
    size_t text_cap, text_len;
    event_result results[EVENT_RESULTS_MAX];
    event_rcpt rcpts[EVENT_RCPTS_MAX];
};

typedef struct cursor {
    const char *p, *start, *end;
    event_reader *rd;
    char *why;
    size_t why_size;
} cursor;

event_reader *event_reader_new(void)
{
    return calloc(1, sizeof(event_reader));
}

void event_reader_free(event_reader *rd)
{
    if (rd == NULL)
        return;
    free(rd->text);
    free(rd);
}

__attribute__((format(printf, 2, 3))) static int bad(cursor *c, const char *fmt, ...)
{
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    errbuf_set(c->why, c->why_size, "byte %zu: %s", (size_t)(c->p - c->start) + 1, what);
    return -1;
}

static void blanks(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int expect(cursor *c, char ch)
{
    blanks(c);
    if (c->p >= c->end || *c->p != ch)
        return bad(c, "expected '%c'", ch);
    c->p++;
    return 0;
}

static bool peek(cursor *c, char ch)
{
    blanks(c);
    return c->p < c->end && *c->p == ch;
}

static bool literal(cursor *c, const char *word)
{
    size_t n = strlen(word);
    blanks(c);
    if ((size_t)(c->end - c->p) >= n && memcmp(c->p, word, n) == 0) {
        c->p += n;
        return true;
    }
    return false;
}

static int hex4(cursor *c, unsigned *v)
{
    if (c->end - c->p < 4)
        return bad(c, "a \\u escape needs four hex digits");
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char h = c->p[i];
        unsigned d = h >= '0' && h <= '9'   ? (unsigned)(h - '0')
                     : h >= 'a' && h <= 'f' ? (unsigned)(h - 'a' + 10)
                     : h >= 'A' && h <= 'F' ? (unsigned)(h - 'A' + 10)
                                            : 16u;
        if (d == 16)
            return bad(c, "a \\u escape needs four hex digits");
        *v = *v << 4 | d;
    }
    c->p += 4;
    return 0;
}

static void put_utf8(event_reader *rd, unsigned cp)
{
    char *o = rd->text + rd->text_len;
    if (cp < 0x80) {
        o[0] = (char)cp;
        rd->text_len += 1;
    } else if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3F));
        rd->text_len += 2;
    } else if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        rd->text_len += 3;
    } else {
        o[0] = (char)(0xF0 | cp >> 18);
        o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
        o[2] = (char)(0x80 | (cp >> 6 & 0x3F));
        o[3] = (char)(0x80 | (cp & 0x3F));
        rd->text_len += 4;
    }
}

/* The length of the well-formed UTF-8 sequence at p (before end), or 0.
 * json_utf8_len reads a NUL-terminated string; this input is not. */
static size_t utf8_len(const char *p, const char *end)
{
    unsigned char tmp[5] = {0};
    size_t avail = (size_t)(end - p);
    memcpy(tmp, p, avail < 4 ? avail : 4);
    size_t n = json_utf8_len(tmp);
    return n <= avail ? n : 0;
}

/* A JSON string into the text buffer; *out points at it (NUL-terminated).
 * With out NULL the string is checked and dropped (an unknown key's). */
static int string(cursor *c, const char **out)
{
    blanks(c);
    if (c->p >= c->end || *c->p != '"')
        return bad(c, "expected a string");
    c->p++;
    event_reader *rd = c->rd;
    size_t begin = rd->text_len;
    while (c->p < c->end && *c->p != '"') {
        unsigned char ch = (unsigned char)*c->p;
        if (ch < 0x20)
            return bad(c, "a control character in a string");
        if (ch >= 0x80) {
            /* Well-formed UTF-8 as it is; any other byte as its Latin-1
             * reading, as the JSON writer (util/json.h) shows such bytes. */
            size_t n = utf8_len(c->p, c->end);
            if (n == 0) {
                put_utf8(rd, ch);
                n = 1;
            } else {
                memcpy(rd->text + rd->text_len, c->p, n);
                rd->text_len += n;
            }
            c->p += n;
            continue;
        }
        if (ch != '\\') {
            rd->text[rd->text_len++] = (char)ch;
            c->p++;
            continue;
        }
        c->p++;
        if (c->p >= c->end)
            break;
        char e = *c->p++;
        unsigned cp;
        switch (e) {
        case '"': case '\\': case '/': rd->text[rd->text_len++] = e; break;
        case 'b': rd->text[rd->text_len++] = '\b'; break;
        case 'f': rd->text[rd->text_len++] = '\f'; break;
        case 'n': rd->text[rd->text_len++] = '\n'; break;
        case 'r': rd->text[rd->text_len++] = '\r'; break;
        case 't': rd->text[rd->text_len++] = '\t'; break;
        case 'u':
            if (hex4(c, &cp) != 0)
                return -1;
            if (cp >= 0xD800 && cp < 0xDC00) {
                unsigned low;
                if (c->end - c->p < 2 || c->p[0] != '\\' || c->p[1] != 'u')
                    return bad(c, "a lone surrogate in a \\u escape");
                c->p += 2;
                if (hex4(c, &low) != 0)
                    return -1;
                if (low < 0xDC00 || low > 0xDFFF)
                    return bad(c, "a lone surrogate in a \\u escape");
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return bad(c, "a lone surrogate in a \\u escape");
            }
            if (cp == 0)
                return bad(c, "\\u0000 in a string");
            put_utf8(rd, cp);
            break;
        default:
            c->p--;
            return bad(c, "unknown escape \\%c", e);
        }
    }
    if (c->p >= c->end)
        return bad(c, "unterminated string");
    c->p++;
    if (rd->text_len - begin > EVENT_FIELD_MAX)
        return bad(c, "a string longer than %d bytes", EVENT_FIELD_MAX);
    rd->text[rd->text_len++] = '\0';
    if (out != NULL)
        *out = rd->text + begin;
    else
        rd->text_len = begin;
    return 0;
}

/* A string or null. */
static int nullable_string(cursor *c, const char **out)
{
    if (literal(c, "null")) {
        *out = NULL;
        return 0;
    }
    return string(c, out);
}

/* A number token as a double; integral says whether it had no fraction
 * or exponent. */
static int number(cursor *c, double *v, bool *integral)
{
    blanks(c);
    const char *s = c->p;
    char token[64];
    size_t n = 0;
    *integral = true;
    while (s + n < c->end && n < sizeof token - 1 &&
           strchr("+-0123456789.eE", s[n]) != NULL && s[n] != '\0') {
        if (s[n] == '.' || s[n] == 'e' || s[n] == 'E')
            *integral = false;
        n++;
    }
    if (n == 0)
        return bad(c, "expected a number");
    if (n == sizeof token - 1)
        return bad(c, "a number too long");
    memcpy(token, s, n);
    token[n] = '\0';
    char *stop;
    errno = 0;
    *v = strtod(token, &stop);
    if (*stop != '\0' || errno == ERANGE || !isfinite(*v))
        return bad(c, "'%s' is not a number", token);
    c->p += n;
    return 0;
}

static int skip_value(cursor *c, int depth);

static int skip_container(cursor *c, char close, bool object, int depth)
{
    c->p++;
    if (peek(c, close)) {
        c->p++;
        return 0;
    }
    for (;;) {
        if (object && (string(c, NULL) != 0 || expect(c, ':') != 0))
            return -1;
        if (skip_value(c, depth + 1) != 0)
            return -1;
        if (peek(c, ',')) {
            c->p++;
            continue;
        }
        return expect(c, close);
    }
}

static int skip_value(cursor *c, int depth)
{
    if (depth > SKIP_DEPTH_MAX)
        return bad(c, "nested more than %d deep", SKIP_DEPTH_MAX);
    blanks(c);
    if (c->p >= c->end)
        return bad(c, "expected a value");
    if (*c->p == '"')
        return string(c, NULL);
    if (*c->p == '{')
        return skip_container(c, '}', true, depth);
    if (*c->p == '[')
        return skip_container(c, ']', false, depth);
    if (literal(c, "null") || literal(c, "true") || literal(c, "false"))
        return 0;
    double v;
    bool integral;
    return number(c, &v, &integral);
}

/* An array of objects whose string members are named by key(i), i < n,
 * into items (size each, slot(item, i) gives a member's place), at most
 * max. */
static int object_array(cursor *c, const char *what, void *items, size_t size, size_t max,
                        int n, const char *(*key)(int), const char **(*slot)(void *, int),
                        size_t *count)
{
    *count = 0;
    if (literal(c, "null"))
        return 0;
    if (expect(c, '[') != 0)
        return -1;
    if (peek(c, ']')) {
        c->p++;
        return 0;
    }
    for (;;) {
        if (*count == max)
            return bad(c, "more than %zu %s", max, what);
        void *item = (char *)items + *count * size;
        memset(item, 0, size);
        if (expect(c, '{') != 0)
            return -1;
        if (!peek(c, '}')) {
            for (;;) {
                const char *name;
                if (string(c, &name) != 0 || expect(c, ':') != 0)
                    return -1;
                int k = 0;
                while (k < n && strcmp(key(k), name) != 0)
                    k++;
                c->rd->text_len -= strlen(name) + 1; /* the key is not kept */
                if (k < n) {
                    if (nullable_string(c, slot(item, k)) != 0)
                        return -1;
                } else if (skip_value(c, 1) != 0) {
                    return -1;
                }
                if (!peek(c, ','))
                    break;
                c->p++;
            }
        }
        if (expect(c, '}') != 0)
            return -1;
        (*count)++;
        if (peek(c, ',')) {
            c->p++;
            continue;
        }
        return expect(c, ']');
    }
}

static const char **result_slot(void *x, int i)
{
    return event_result_slot(x, i);
}

static const char **rcpt_slot(void *x, int i)
{
    return event_rcpt_slot(x, i);
}

static int read_results(cursor *c, event_record *r)
{
    size_t n;
    if (object_array(c, "results", c->rd->results, sizeof(event_result), EVENT_RESULTS_MAX,
                     EVENT_RESULT_STRINGS, event_result_key, result_slot, &n) != 0)
        return -1;
    r->results = n ? c->rd->results : NULL;
    r->result_count = n;
    return 0;
}

static int read_rcpts(cursor *c, event_record *r)
{
    size_t n;
    if (object_array(c, "recipients", c->rd->rcpts, sizeof(event_rcpt), EVENT_RCPTS_MAX,
                     EVENT_RCPT_STRINGS, event_rcpt_key, rcpt_slot, &n) != 0)
        return -1;
    r->rcpts = n ? c->rd->rcpts : NULL;
    r->rcpt_count = n;
    return 0;
}

/* Room for every string the input can decode to, and their NULs: a byte
 * that is not UTF-8 becomes two. */
static int reserve(event_reader *rd, size_t len, char *why, size_t why_size)
{
    size_t need = 2 * len + 16;
    rd->text_len = 0;
    if (need <= rd->text_cap)
        return 0;
    char *grown = realloc(rd->text, need);
    if (grown == NULL) {
        errbuf_set(why, why_size, "out of memory");
        return -1;
    }
    rd->text = grown;
    rd->text_cap = need;
    return 0;
}

static int at_end(cursor *c)
{
    blanks(c);
    return c->p == c->end ? 0 : bad(c, "text after the end");
}

int event_read_json(event_reader *rd, const char *json, size_t len, event_record *r,
                    char *why, size_t why_size)
{
    *r = (event_record){0};
    if (reserve(rd, len, why, why_size) != 0)
        return -1;
    cursor c = {json, json, json + len, rd, why, why_size};
    bool have_time = false;
    if (expect(&c, '{') != 0)
        return -1;
    if (!peek(&c, '}')) {
        for (;;) {
            const char *name;
            if (string(&c, &name) != 0 || expect(&c, ':') != 0)
                return -1;
            char key[32];
            snprintf(key, sizeof key, "%s", name);
            rd->text_len -= strlen(name) + 1;
            int f = 0;
            while (f < EVF_COUNT && strcmp(event_field_name(f), key) != 0)
                f++;
            int rc;
            double v;
            bool integral;
            if (f == EVF_TIME) {
                rc = number(&c, &v, &integral);
                if (rc == 0 && (!integral || v < 0 || v > 9007199254740992.0))
                    rc = bad(&c, "time is not a whole number of seconds");
                if (rc == 0)
                    r->time = (int64_t)v;
                have_time = true;
            } else if (f == EVF_SCORE) {
                if (literal(&c, "null")) {
                    r->score = 0;
                    rc = 0;
                } else {
                    rc = number(&c, &r->score, &integral);
                }
            } else if (f < EVF_COUNT) {
                rc = nullable_string(&c, event_field_slot(r, f));
            } else if (strcmp(key, "results") == 0) {
                rc = read_results(&c, r);
            } else if (strcmp(key, "recipients") == 0) {
                rc = read_rcpts(&c, r);
            } else {
                rc = skip_value(&c, 1);
            }
            if (rc != 0)
                return -1;
            if (!peek(&c, ','))
                break;
            c.p++;
        }
    }
    if (expect(&c, '}') != 0 || at_end(&c) != 0)
        return -1;
    if (!have_time) {
        errbuf_set(why, why_size, "no \"time\" in the event");
        return -1;
    }
    return 0;
}

int event_read_arrays(event_reader *rd, const char *results, const char *rcpts,
                      event_record *r, char *why, size_t why_size)
{
    size_t a = results ? strlen(results) : 0, b = rcpts ? strlen(rcpts) : 0;
    if (reserve(rd, a + b, why, why_size) != 0)
        return -1;
    char message[300];
    r->results = NULL;
    r->result_count = 0;
    r->rcpts = NULL;
    r->rcpt_count = 0;
    if (results != NULL) {
        cursor c = {results, results, results + a, rd, message, sizeof message};
        if (read_results(&c, r) != 0 || at_end(&c) != 0)
            return errbuf_set(why, why_size, "results: %s", message);
    }
    if (rcpts != NULL) {
        cursor c = {rcpts, rcpts, rcpts + b, rd, message, sizeof message};
        if (read_rcpts(&c, r) != 0 || at_end(&c) != 0)
            return errbuf_set(why, why_size, "recipients: %s", message);
    }
    return 0;
}

int event_read_strings(const char *json, size_t max, char ***out, size_t *count, char *why,
                       size_t why_size)
{
    *out = NULL;
    *count = 0;
    event_reader *rd = event_reader_new();
    size_t len = strlen(json);
    if (rd == NULL || reserve(rd, len, why, why_size) != 0) {
        event_reader_free(rd);
        return errbuf_set(why, why_size, "out of memory");
    }
    cursor c = {json, json, json + len, rd, why, why_size};
    int rc = expect(&c, '[');
    if (rc == 0 && peek(&c, ']')) {
        c.p++;
    } else {
        while (rc == 0) {
            const char *v;
            char **bigger;
            if (*count == max) {
                rc = bad(&c, "more than %zu strings", max);
                break;
            }
            if ((rc = string(&c, &v)) != 0)
                break;
            if ((bigger = realloc(*out, (*count + 1) * sizeof *bigger)) == NULL ||
                (bigger[*count] = strdup(v)) == NULL) {
                if (bigger != NULL)
                    *out = bigger;
                rc = errbuf_set(why, why_size, "out of memory");
                break;
            }
            *out = bigger;
            (*count)++;
            if (peek(&c, ',')) {
                c.p++;
                continue;
            }
            rc = expect(&c, ']');
            break;
        }
    }
    if (rc == 0)
        rc = at_end(&c);
    if (rc != 0) {
        for (size_t i = 0; i < *count; i++)
            free((*out)[i]);
        free(*out);
        *out = NULL;
        *count = 0;
    }
    event_reader_free(rd);
    return rc;
}
