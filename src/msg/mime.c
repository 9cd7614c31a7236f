/* mime.c: the first text part of a MIME message, decoded (mime.h). A walk
 * over the entity tree (RFC 2045, 2046): each entity's Content-Type and
 * Content-Transfer-Encoding are read from its header block, a multipart
 * body is cut at its boundary lines, message/rfc822 is walked into; the
 * first text/plain leaf wins, then (a second walk) the first text/html.
 * Everything malformed is noted and stepped over, never trusted: the
 * boundary must be found, the depth and the number of parts are capped,
 * the output is cut at the caller's size. */
#include "msg/mime.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/hex.h"

enum { BOUNDARY_MAX = 200 }; /* RFC 2046 allows 70; be generous, still bounded */

typedef struct walk {
    mime_text *out;
    const char *want; /* "text/plain" or "text/html" */
    size_t parts;
    bool stopped;     /* MIME_PARTS_MAX reached */
} walk;

typedef struct entity {
    const char *body;
    size_t body_len;
    char type[64];
    char charset[64];
    char encoding[32];
    char boundary[BOUNDARY_MAX + 1];
    bool have_boundary;
} entity;

static void note(mime_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(mime_text *t, const char *fmt, ...)
{
    char text[sizeof t->notes[0]];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    /* The same problem at every level of a nested message is said once. */
    for (size_t i = 0; i < t->note_count && i < MIME_NOTES_MAX; i++)
        if (strcmp(t->notes[i], text) == 0)
            return;
    if (t->note_count < MIME_NOTES_MAX)
        memcpy(t->notes[t->note_count], text, sizeof text);
    t->note_count++;
}

/* ------------------------------------------------------------ decoders */

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decodes until in is used up or out holds limit bytes (*more then says
 * that input was left). Returns the bad characters skipped. */
static size_t base64_limited(const char *in, size_t len, strbuf *out, size_t limit, bool *more)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t bad = 0;
    *more = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            continue;
        if (c == '=') {
            acc = 0; /* padding ends a quantum; what follows starts afresh */
            bits = 0;
            continue;
        }
        int v = b64_value(c);
        if (v < 0) {
            bad++;
            continue;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (out->len >= limit) {
                *more = true;
                return bad;
            }
            strbuf_putc(out, (char)((acc >> bits) & 0xff));
        }
    }
    return bad;
}

/* Quoted-printable (RFC 2045 6.7): =XX a byte (either case), '=' at a
 * line end (blanks allowed before it) a soft break; any other '=' is kept
 * as it is and counted. */
static size_t qp_limited(const char *in, size_t len, strbuf *out, size_t limit, bool *more)
{
    size_t bad = 0;
    *more = false;
    for (size_t i = 0; i < len; i++) {
        if (out->len >= limit) {
            *more = true;
            return bad;
        }
        unsigned char c = (unsigned char)in[i];
        if (c != '=') {
            strbuf_putc(out, (char)c);
            continue;
        }
        size_t k = i + 1;
        while (k < len && (in[k] == ' ' || in[k] == '\t'))
            k++;
        if (k == len || in[k] == '\n' || (in[k] == '\r' && k + 1 < len && in[k + 1] == '\n')) {
            i = k == len ? k : in[k] == '\r' ? k + 1 : k; /* a soft line break */
            continue;
        }
        int hi = i + 1 < len ? util_hex_digit(in[i + 1]) : -1;
        int lo = i + 2 < len ? util_hex_digit(in[i + 2]) : -1;
        if (hi >= 0 && lo >= 0) {
            strbuf_putc(out, (char)(hi * 16 + lo));
            i += 2;
        } else {
            strbuf_putc(out, '=');
            bad++;
        }
    }
    return bad;
}

size_t mime_decode_base64(const char *in, size_t len, strbuf *out)
{
    bool more;
    return base64_limited(in, len, out, SIZE_MAX, &more);
}

size_t mime_decode_qp(const char *in, size_t len, strbuf *out)
{
    bool more;
    return qp_limited(in, len, out, SIZE_MAX, &more);
}

/* ------------------------------------------------------------ headers */

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* The length of the line at p (without its line end) and where the next
 * one starts. */
static size_t line_at(const char *p, const char *end, const char **next)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *e = nl ? nl : end;
    *next = nl ? nl + 1 : end;
    if (e > p && e[-1] == '\r')
        e--;
    return (size_t)(e - p);
}

/* Whether a line starts a header field: a name of printable characters,
 * then ':'. */
static bool is_field_line(const char *p, size_t n)
{
    size_t i = 0;
    while (i < n && p[i] > ' ' && p[i] < 0x7f && p[i] != ':')
        i++;
    return i > 0 && i < n && p[i] == ':';
}

/* The parameter value at *p (a token or a quoted-string), into out. */
static void param_value(const char **p, const char *end, char *out, size_t size,
                        bool *too_long)
{
    size_t n = 0;
    const char *s = *p;
    if (s < end && *s == '"') {
        for (s++; s < end && *s != '"'; s++) {
            if (*s == '\\' && s + 1 < end)
                s++;
            if (n + 1 < size)
                out[n++] = *s;
            else
                *too_long = true;
        }
        if (s < end)
            s++;
    } else {
        for (; s < end && *s != ';' && !is_blank(*s) && *s != '\r' && *s != '\n'; s++) {
            if (n + 1 < size)
                out[n++] = *s;
            else
                *too_long = true;
        }
    }
    out[n] = '\0';
    *p = s;
}

static void lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

/* Content-Type: type/subtype *(";" name "=" value). A comment in
 * parentheses is not read (rare in the parts that carry text). */
static void parse_content_type(mime_text *t, const char *v, size_t len, entity *e)
{
    const char *p = v, *end = v + len;
    while (p < end && is_blank(*p))
        p++;
    size_t n = 0;
    char type[sizeof e->type];
    while (p < end && *p != ';' && !is_blank(*p) && n + 1 < sizeof type)
        type[n++] = *p++;
    type[n] = '\0';
    lower(type);
    if (strchr(type, '/') != NULL && type[0] != '/')
        snprintf(e->type, sizeof e->type, "%s", type);
    else if (n > 0)
        note(t, "Content-Type '%.40s' is not type/subtype: read as text/plain", type);
    while (p < end) {
        while (p < end && *p != ';')
            p++;
        if (p == end)
            break;
        p++;
        while (p < end && is_blank(*p))
            p++;
        char name[32];
        n = 0;
        while (p < end && *p != '=' && *p != ';' && !is_blank(*p)) {
            if (n + 1 < sizeof name)
                name[n++] = *p;
            p++;
        }
        name[n] = '\0';
        while (p < end && is_blank(*p))
            p++;
        if (p == end || *p != '=')
            continue;
        p++;
        while (p < end && is_blank(*p))
            p++;
        char value[BOUNDARY_MAX + 1];
        bool too_long = false;
        param_value(&p, end, value, sizeof value, &too_long);
        if (strcasecmp(name, "boundary") == 0 && !e->have_boundary) {
            if (too_long || value[0] == '\0') {
                note(t, "a boundary %s: the multipart cannot be cut",
                     too_long ? "longer than 200 characters" : "that is empty");
            } else {
                memcpy(e->boundary, value, sizeof e->boundary);
                e->have_boundary = true;
            }
        } else if (strcasecmp(name, "charset") == 0) {
            snprintf(e->charset, sizeof e->charset, "%.63s", value);
            lower(e->charset);
        }
    }
}

/* Reads the header block of the entity at data; the body follows the
 * first empty line (or the first line that is no field: lenient). */
static void parse_entity(mime_text *t, const char *data, size_t len, const char *default_type,
                         entity *e)
{
    memset(e, 0, sizeof *e);
    snprintf(e->type, sizeof e->type, "%s", default_type);
    snprintf(e->charset, sizeof e->charset, "us-ascii");
    snprintf(e->encoding, sizeof e->encoding, "7bit");
    const char *p = data, *end = data + len;
    bool have_type = false, have_cte = false;
    char value[MIME_FIELD_MAX];
    while (p < end) {
        const char *next;
        size_t n = line_at(p, end, &next);
        if (n == 0) {
            p = next; /* the empty line */
            break;
        }
        if (!is_field_line(p, n))
            break; /* no header block, or a broken one: the body starts here */
        const char *colon = memchr(p, ':', n);
        size_t name_len = (size_t)(colon - p);
        /* The field's value, unfolded. */
        size_t vn = 0;
        bool cut = false;
        const char *v = colon + 1;
        size_t seg = n - name_len - 1;
        for (;;) {
            if (vn + seg > sizeof value) {
                cut = true;
                seg = sizeof value - vn;
            }
            memcpy(value + vn, v, seg);
            vn += seg;
            p = next;
            if (p >= end || !is_blank(*p))
                break;
            n = line_at(p, end, &next);
            v = p;
            seg = n;
        }
        bool ct = name_len == 12 && strncasecmp(colon - name_len, "content-type", 12) == 0;
        bool cte = name_len == 25 &&
                   strncasecmp(colon - name_len, "content-transfer-encoding", 25) == 0;
        if ((ct || cte) && cut)
            note(t, "a %s field longer than %d bytes: read up to there",
                 ct ? "Content-Type" : "Content-Transfer-Encoding", MIME_FIELD_MAX);
        if (ct && !have_type) {
            have_type = true;
            parse_content_type(t, value, vn, e);
        } else if (cte && !have_cte) {
            have_cte = true;
            const char *s = value, *se = value + vn;
            while (s < se && is_blank(*s))
                s++;
            size_t k = 0;
            while (s + k < se && !is_blank(s[k]) && s[k] != ';' && s[k] != '(' &&
                   k + 1 < sizeof e->encoding)
                k++;
            if (k > 0) {
                snprintf(e->encoding, sizeof e->encoding, "%.*s", (int)k, s);
                lower(e->encoding);
            }
        }
    }
    e->body = p;
    e->body_len = (size_t)(end - p);
}

/* ------------------------------------------------------------ the text */

static bool charset_is(const char *cs, const char *const *names)
{
    for (; *names; names++)
        if (strcmp(cs, *names) == 0)
            return true;
    return false;
}

/* Appends the decoded part to t->text as UTF-8 (or \xNN), at most
 * t->max_bytes. */
static int take_text(mime_text *t, const entity *e, size_t part)
{
    static const char *const utf8[] = {"utf-8", "utf8", "us-ascii", "ascii", "ansi_x3.4-1968",
                                       NULL};
    static const char *const latin1[] = {"iso-8859-1", "iso8859-1", "iso_8859-1", "latin1",
                                         "latin-1", "l1", NULL};
    t->found = true;
    t->part = part;
    snprintf(t->type, sizeof t->type, "%s", e->type);
    snprintf(t->charset, sizeof t->charset, "%s", e->charset[0] ? e->charset : "us-ascii");
    snprintf(t->encoding, sizeof t->encoding, "%s", e->encoding);
    strbuf raw;
    strbuf_init(&raw);
    bool more = false;
    size_t bad = 0;
    const char *data = e->body;
    size_t len = e->body_len;
    if (strcmp(e->encoding, "base64") == 0) {
        bad = base64_limited(data, len, &raw, t->max_bytes, &more);
        if (bad > 0)
            note(t, "%zu characters that are not base64 skipped", bad);
    } else if (strcmp(e->encoding, "quoted-printable") == 0) {
        bad = qp_limited(data, len, &raw, t->max_bytes, &more);
        if (bad > 0)
            note(t, "%zu '=' that start no quoted-printable escape kept as they are", bad);
    } else {
        if (strcmp(e->encoding, "7bit") && strcmp(e->encoding, "8bit") &&
            strcmp(e->encoding, "binary"))
            note(t, "transfer encoding '%.32s' unknown: shown undecoded", e->encoding);
        more = len > t->max_bytes;
        strbuf_append(&raw, data, more ? t->max_bytes : len);
    }
    if (raw.failed) {
        strbuf_free(&raw);
        return -1;
    }
    bool is_utf8 = charset_is(t->charset, utf8), is_latin1 = charset_is(t->charset, latin1);
    t->converted = is_utf8 || is_latin1;
    if (!t->converted)
        note(t, "charset '%.40s' is not converted: bytes above 0x7f are shown as \\xNN",
             t->charset);
    strbuf *o = &t->text;
    for (size_t i = 0; i < raw.len; i++) {
        unsigned char c = (unsigned char)raw.data[i];
        char enc[5];
        size_t n = 1;
        enc[0] = (char)c;
        if (c >= 0x80 && is_latin1) {
            enc[0] = (char)(0xc0 | (c >> 6));
            enc[1] = (char)(0x80 | (c & 0x3f));
            n = 2;
        } else if (c >= 0x80 && !is_utf8) {
            snprintf(enc, sizeof enc, "\\x%02X", c);
            n = 4;
        }
        if (o->len + n > t->max_bytes) {
            more = true;
            break;
        }
        strbuf_append(o, enc, n);
    }
    strbuf_free(&raw);
    t->truncated = more;
    return o->failed ? -1 : 0;
}

/* Whether line p (n bytes) is a delimiter of boundary: "--boundary", then
 * "--" for the last, then only blanks. */
static int delimiter_kind(const char *p, size_t n, const char *boundary, size_t blen)
{
    if (n < blen + 2 || p[0] != '-' || p[1] != '-' || memcmp(p + 2, boundary, blen) != 0)
        return 0;
    size_t i = blen + 2;
    int kind = 1;
    if (i + 2 <= n && p[i] == '-' && p[i + 1] == '-') {
        kind = 2;
        i += 2;
    }
    for (; i < n; i++)
        if (!is_blank(p[i]))
            return 0;
    return kind;
}

static bool walk_entity(walk *w, const char *data, size_t len, const char *default_type,
                        unsigned depth, int *rc);

/* The parts of a multipart body, each walked in turn. */
static bool walk_multipart(walk *w, const entity *e, unsigned depth, int *rc)
{
    const char *child_type = strcmp(e->type, "multipart/digest") == 0 ? "message/rfc822"
                                                                        : "text/plain";
    size_t blen = strlen(e->boundary);
    const char *p = e->body, *end = e->body + e->body_len;
    const char *part = NULL; /* the current part's start */
    bool closed = false, any = false;
    while (p < end && !w->stopped) {
        const char *next;
        size_t n = line_at(p, end, &next);
        int kind = delimiter_kind(p, n, e->boundary, blen);
        if (kind != 0) {
            if (part != NULL) {
                /* The line end before a delimiter belongs to it. */
                const char *pe = p;
                if (pe > part && pe[-1] == '\n')
                    pe--;
                if (pe > part && pe[-1] == '\r')
                    pe--;
                if (walk_entity(w, part, (size_t)(pe - part), child_type, depth + 1, rc))
                    return true;
                if (*rc != 0)
                    return false;
            }
            any = true;
            if (kind == 2) {
                closed = true;
                break;
            }
            part = next;
        }
        p = next;
    }
    if (w->stopped)
        return false;
    if (!any) {
        note(w->out, "the boundary of a %.40s never occurs: its body is skipped", e->type);
        return false;
    }
    if (!closed && part != NULL) {
        note(w->out, "a %.40s has no closing boundary: its last part runs to the end", e->type);
        return walk_entity(w, part, (size_t)(end - part), child_type, depth + 1, rc);
    }
    return false;
}

static bool walk_entity(walk *w, const char *data, size_t len, const char *default_type,
                        unsigned depth, int *rc)
{
    if (++w->parts > MIME_PARTS_MAX) {
        if (!w->stopped)
            note(w->out, "more than %d parts: the rest is not looked at", MIME_PARTS_MAX);
        w->stopped = true;
        return false;
    }
    if (depth > MIME_DEPTH_MAX) {
        note(w->out, "parts nested deeper than %d: not looked at", MIME_DEPTH_MAX);
        return false;
    }
    size_t number = w->parts;
    entity e;
    parse_entity(w->out, data, len, default_type, &e);
    if (strncmp(e.type, "multipart/", 10) == 0) {
        if (e.have_boundary)
            return walk_multipart(w, &e, depth, rc);
        /* Without a boundary the parts cannot be told apart: the body is
         * the one text there is. */
        note(w->out, "a %.40s without a boundary: its body is read as text/plain", e.type);
        snprintf(e.type, sizeof e.type, "text/plain");
    }
    if (strcmp(e.type, "message/rfc822") == 0 || strcmp(e.type, "message/global") == 0)
        return walk_entity(w, e.body, e.body_len, "text/plain", depth + 1, rc);
    if (strcmp(e.type, w->want) != 0)
        return false;
    *rc = take_text(w->out, &e, number);
    return *rc == 0;
}

int mime_text_extract(const char *message, size_t len, size_t max_bytes, mime_text *out)
{
    memset(out, 0, sizeof *out);
    strbuf_init(&out->text);
    out->max_bytes = max_bytes;
    walk plain = {.out = out, .want = "text/plain"};
    int rc = 0;
    if (walk_entity(&plain, message, len, "text/plain", 0, &rc))
        return 0;
    if (rc != 0)
        return -1;
    /* No text/plain: the walk for text/html meets the same problems and
     * notes them again, once. */
    out->note_count = 0;
    walk html = {.out = out, .want = "text/html"};
    walk_entity(&html, message, len, "text/plain", 0, &rc);
    return rc == 0 ? 0 : -1;
}

void mime_text_free(mime_text *t)
{
    strbuf_free(&t->text);
}
