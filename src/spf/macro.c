/* macro.c: SPF macro expansion (RFC 7208 section 7). Pure string work over
 * values the caller supplies; no DNS, no clock. */
#include "macro.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "util/strbuf.h"

enum { MACRO_MAX_PARTS = 128 };

static bool is_delimiter(char c)
{
    return c != '\0' && strchr(".-+,/_=", c) != NULL;
}

static bool is_letter(char c, spf_macro_use use)
{
    c = (char)tolower((unsigned char)c);
    if (strchr("slodiphv", c) != NULL && c != '\0')
        return true;
    return use == SPF_MACRO_EXPLANATION && c != '\0' && strchr("crt", c) != NULL;
}

/* One parsed "%{...}" expression. */
typedef struct macro_expr {
    char letter;        /* as written; upper case asks for URL escaping */
    unsigned keep;      /* rightmost parts to keep; 0 = all */
    bool reverse;
    char delimiters[8]; /* NUL-terminated set; empty = "." */
} macro_expr;

/* Parses the expression starting after "%{" at s[*pos]; leaves *pos after "}". */
static int parse_expr(const char *s, size_t len, size_t *pos, spf_macro_use use, macro_expr *e,
                      char *err, size_t err_size)
{
    size_t p = *pos;
    memset(e, 0, sizeof *e);
    if (p >= len || !is_letter(s[p], use)) {
        if (p < len && strchr("crtCRT", s[p]) != NULL && s[p] != '\0')
            snprintf(err, err_size, "macro letter '%c' is only allowed in exp= text", s[p]);
        else
            snprintf(err, err_size, "invalid macro letter at offset %zu", p);
        return -1;
    }
    e->letter = s[p++];
    size_t digits = 0;
    unsigned keep = 0;
    while (p < len && isdigit((unsigned char)s[p])) {
        if (keep < 100000)
            keep = keep * 10 + (unsigned)(s[p] - '0');
        p++;
        digits++;
    }
    if (digits > 0 && keep == 0) {
        snprintf(err, err_size, "macro transformer must not be zero");
        return -1;
    }
    e->keep = keep;
    if (p < len && (s[p] == 'r' || s[p] == 'R')) {
        e->reverse = true;
        p++;
    }
    size_t nd = 0;
    while (p < len && is_delimiter(s[p])) {
        if (strchr(e->delimiters, s[p]) == NULL && nd < sizeof e->delimiters - 1)
            e->delimiters[nd++] = s[p];
        p++;
    }
    if (p >= len || s[p] != '}') {
        snprintf(err, err_size, "unterminated or malformed macro at offset %zu", *pos - 2);
        return -1;
    }
    *pos = p + 1;
    return 0;
}

/* Walks text, calling on_literal / on_expr; one routine for check and expand
 * so both accept exactly the same language. */
typedef struct macro_walker {
    void (*literal)(void *arg, const char *s, size_t len);
    void (*expr)(void *arg, const macro_expr *e);
    void *arg;
} macro_walker;

static int macro_walk(const char *s, size_t len, spf_macro_use use, const macro_walker *w,
                      char *err, size_t err_size)
{
    size_t p = 0;
    while (p < len) {
        unsigned char c = (unsigned char)s[p];
        if (c == '%') {
            if (p + 1 >= len) {
                snprintf(err, err_size, "'%%' at the end of a macro-string");
                return -1;
            }
            char n = s[p + 1];
            if (n == '%' || n == '_' || n == '-') {
                if (w != NULL)
                    w->literal(w->arg, n == '%' ? "%" : n == '_' ? " " : "%20", n == '-' ? 3 : 1);
                p += 2;
                continue;
            }
            if (n != '{') {
                snprintf(err, err_size, "'%%' must be followed by '{', '%%', '_' or '-' "
                         "(offset %zu)", p);
                return -1;
            }
            p += 2;
            macro_expr e;
            if (parse_expr(s, len, &p, use, &e, err, err_size) != 0)
                return -1;
            if (w != NULL)
                w->expr(w->arg, &e);
            continue;
        }
        bool ok = (c >= 0x21 && c <= 0x7e) || (c == ' ' && use == SPF_MACRO_EXPLANATION);
        if (!ok) {
            snprintf(err, err_size, "character 0x%02x not allowed at offset %zu", c, p);
            return -1;
        }
        size_t start = p;
        while (p < len && s[p] != '%' &&
               (((unsigned char)s[p] >= 0x21 && (unsigned char)s[p] <= 0x7e) ||
                (s[p] == ' ' && use == SPF_MACRO_EXPLANATION)))
            p++;
        if (w != NULL)
            w->literal(w->arg, s + start, p - start);
    }
    return 0;
}

int spf_macro_check(const char *text, size_t len, spf_macro_use use, char *err, size_t err_size)
{
    return macro_walk(text, len, use, NULL, err, err_size);
}

static void note_ptr(void *arg, const macro_expr *e)
{
    if (e->letter == 'p' || e->letter == 'P')
        *(bool *)arg = true;
}

static void ignore_literal(void *arg, const char *s, size_t len)
{
    (void)arg;
    (void)s;
    (void)len;
}

bool spf_macro_uses_ptr(const char *text, size_t len)
{
    bool uses = false;
    char err[8];
    macro_walker w = {ignore_literal, note_ptr, &uses};
    return macro_walk(text, len, SPF_MACRO_EXPLANATION, &w, err, sizeof err) == 0 && uses;
}

/* Where an expansion goes: a growing strbuf, or a fixed buffer that
 * notes overflow (spf_macro_expand_into). */
typedef struct sink {
    strbuf *sb;
    char *buf;
    size_t cap, len;
    bool overflow;
} sink;

static void sink_append(sink *k, const char *s, size_t n)
{
    if (k->sb != NULL) {
        strbuf_append(k->sb, s, n);
        return;
    }
    if (k->overflow || n >= k->cap - k->len) {
        k->overflow = true;
        return;
    }
    memcpy(k->buf + k->len, s, n);
    k->len += n;
}

typedef struct expand_state {
    sink out;
    const spf_macro_context *ctx;
} expand_state;

static void expand_literal(void *arg, const char *s, size_t len)
{
    sink_append(&((expand_state *)arg)->out, s, len);
}

/* RFC 3986 unreserved characters stay; everything else is %XX. */
static void url_escape(sink *out, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            sink_append(out, (const char *)&s[i], 1);
        } else {
            char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
            sink_append(out, esc, 3);
        }
    }
}

static void letter_value(const spf_macro_context *ctx, char letter, char *tmp, size_t tmp_size,
                         const char **value)
{
    switch (tolower((unsigned char)letter)) {
    case 's': *value = ctx->sender; break;
    case 'l': *value = ctx->local_part; break;
    case 'o': *value = ctx->sender_domain; break;
    case 'd': *value = ctx->domain; break;
    case 'h': *value = ctx->helo; break;
    case 'p': *value = ctx->ptr_name ? ctx->ptr_name : "unknown"; break;
    case 'r': *value = ctx->receiver ? ctx->receiver : "unknown"; break;
    case 'v': *value = ctx->ip && ctx->ip->family == 6 ? "ip6" : "in-addr"; break;
    case 'i':
        if (ctx->ip != NULL && tmp_size >= IP_NIBBLES_MAX + 8)
            ip_format_dotted(ctx->ip, tmp);
        *value = tmp;
        break;
    case 'c':
        if (ctx->ip != NULL && tmp_size >= IP_TEXT_MAX)
            ip_format(ctx->ip, tmp);
        *value = tmp;
        break;
    case 't':
        snprintf(tmp, tmp_size, "%" PRId64, ctx->now);
        *value = tmp;
        break;
    default: *value = ""; break;
    }
    if (*value == NULL)
        *value = "";
}

static void expand_expr(void *arg, const macro_expr *e)
{
    expand_state *st = arg;
    char tmp[IP_NIBBLES_MAX + 8] = "";
    const char *value;
    letter_value(st->ctx, e->letter, tmp, sizeof tmp, &value);

    /* Split on the delimiters, optionally reverse, keep the rightmost parts,
     * join with dots. */
    const char *delims = e->delimiters[0] ? e->delimiters : ".";
    const char *starts[MACRO_MAX_PARTS];
    size_t lens[MACRO_MAX_PARTS];
    size_t parts = 0;
    /* The delimiter set as a table: this loop runs per character. */
    bool is_delim[256] = {false};
    for (const char *d = delims; *d; d++)
        is_delim[(unsigned char)*d] = true;
    const char *p = value;
    for (;;) {
        const char *q = p;
        while (*q && !is_delim[(unsigned char)*q])
            q++;
        if (parts < MACRO_MAX_PARTS) {
            starts[parts] = p;
            lens[parts] = (size_t)(q - p);
            parts++;
        } else {
            /* Too many parts to split: fold the rest into the last one. */
            lens[parts - 1] = strlen(starts[parts - 1]);
            break;
        }
        if (*q == '\0')
            break;
        p = q + 1;
    }
    if (e->reverse) {
        for (size_t i = 0; i < parts / 2; i++) {
            const char *ts = starts[i];
            size_t tl = lens[i];
            starts[i] = starts[parts - 1 - i];
            lens[i] = lens[parts - 1 - i];
            starts[parts - 1 - i] = ts;
            lens[parts - 1 - i] = tl;
        }
    }
    /* Joined with dots; escaping the parts one by one is escaping the
     * whole, since a dot is unreserved. */
    size_t first = e->keep > 0 && e->keep < parts ? parts - e->keep : 0;
    bool escape = isupper((unsigned char)e->letter);
    for (size_t i = first; i < parts; i++) {
        if (i > first)
            sink_append(&st->out, ".", 1);
        if (escape)
            url_escape(&st->out, starts[i], lens[i]);
        else
            sink_append(&st->out, starts[i], lens[i]);
    }
}

/* Section 7.3: drops whole labels from the left until it fits. */
static void shorten_domain(const char **result, size_t *result_len)
{
    while (*result_len > 253) {
        const char *dot = memchr(*result, '.', *result_len);
        if (dot == NULL) {
            *result += *result_len;
            *result_len = 0;
            break;
        }
        *result_len -= (size_t)(dot + 1 - *result);
        *result = dot + 1;
    }
}

int spf_macro_expand(arena *a, const char *text, size_t len, spf_macro_use use,
                     const spf_macro_context *ctx, char **out, char *err, size_t err_size)
{
    *out = NULL;
    strbuf sb;
    strbuf_init(&sb);
    expand_state st = {.out = {.sb = &sb}, .ctx = ctx};
    macro_walker w = {expand_literal, expand_expr, &st};
    if (macro_walk(text, len, use, &w, err, err_size) != 0) {
        strbuf_free(&sb);
        return -1;
    }
    if (sb.failed) {
        strbuf_free(&sb);
        snprintf(err, err_size, "out of memory expanding a macro");
        return -1;
    }
    const char *result = sb.data ? sb.data : "";
    size_t result_len = sb.len;
    if (use == SPF_MACRO_DOMAIN)
        shorten_domain(&result, &result_len);
    *out = arena_strndup(a, result, result_len);
    strbuf_free(&sb);
    if (*out == NULL) {
        snprintf(err, err_size, "out of memory expanding a macro");
        return -1;
    }
    return 0;
}

int spf_macro_expand_into(const char *text, size_t len, spf_macro_use use,
                          const spf_macro_context *ctx, char *out, size_t out_size,
                          size_t *out_len, char *err, size_t err_size)
{
    if (out_size == 0)
        return -2;
    expand_state st = {.out = {.buf = out, .cap = out_size}, .ctx = ctx};
    macro_walker w = {expand_literal, expand_expr, &st};
    if (macro_walk(text, len, use, &w, err, err_size) != 0)
        return -1;
    if (st.out.overflow) {
        snprintf(err, err_size, "expansion longer than %zu bytes", out_size - 1);
        return -2;
    }
    const char *result = out;
    size_t result_len = st.out.len;
    if (use == SPF_MACRO_DOMAIN)
        shorten_domain(&result, &result_len);
    memmove(out, result, result_len);
    out[result_len] = '\0';
    *out_len = result_len;
    return 0;
}
