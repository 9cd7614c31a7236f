/* config_edit.c: domauth.conf edited line by line (config_edit.h). The
 * text is split once into physical lines, each classified as config.c's
 * reader would take it (comment or blank, section header, key, or
 * continuation of the key above); an edit then copies every line through
 * and touches only the lines of the key or the domain it is about. */
#include "config/config_edit.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"
#include "util/json.h"

typedef enum line_kind { L_OTHER, L_SECTION, L_KEY, L_CONTINUATION } line_kind;

typedef struct text_line {
    size_t start, end; /* [start, end): the line without its '\n' */
    size_t next;       /* where the next line starts */
    line_kind kind;
    /* L_SECTION: the section as config_key_line names it ("policy",
     * "domain example.org"); L_KEY: the key as written. */
    char name[256];
    bool name_too_long;
} text_line;

typedef struct text_lines {
    text_line *items;
    size_t count;
    bool crlf; /* the first line ends in CRLF: new lines do too */
} text_lines;

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static void set_name(text_line *l, const char *s, size_t n)
{
    if (n >= sizeof l->name) {
        l->name_too_long = true;
        n = sizeof l->name - 1;
    }
    memcpy(l->name, s, n);
    l->name[n] = '\0';
}

/* "[ Domain  Example.ORG ]" -> "domain example.org", as config.c's
 * start_section names it; other sections keep their spelling (config.c
 * compares them exactly). */
static void section_name(text_line *l, const char *s, size_t n)
{
    const char *close = memchr(s, ']', n);
    const char *p = s + 1, *e = close ? close : s + n;
    while (p < e && is_blank(*p))
        p++;
    while (e > p && is_blank(e[-1]))
        e--;
    size_t len = (size_t)(e - p);
    if (len > 6 && strncasecmp(p, "domain", 6) == 0 && is_blank(p[6])) {
        const char *d = p + 6;
        while (d < e && is_blank(*d))
            d++;
        char buf[sizeof l->name];
        size_t dn = (size_t)(e - d);
        int k = snprintf(buf, sizeof buf, "domain %.*s", (int)(dn < 240 ? dn : 240), d);
        for (char *c = buf + 7; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        set_name(l, buf, (size_t)k);
        if (dn >= 240)
            l->name_too_long = true;
        return;
    }
    set_name(l, p, len);
}

static int split_lines(const char *text, size_t len, text_lines *out, char *why, size_t why_size)
{
    memset(out, 0, sizeof *out);
    size_t cap = 0;
    size_t pos = 0;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        pos = 3; /* a byte order mark: kept, as part of the first line's start */
    bool in_key = false;
    size_t first = pos;
    while (pos < len) {
        if (out->count == cap) {
            cap = cap ? cap * 2 : 64;
            text_line *n = realloc(out->items, cap * sizeof *n);
            if (n == NULL) {
                snprintf(why, why_size, "out of memory");
                return -1;
            }
            out->items = n;
        }
        const char *eol = memchr(text + pos, '\n', len - pos);
        text_line *l = &out->items[out->count++];
        memset(l, 0, sizeof *l);
        l->start = pos == first ? 0 : pos;
        l->end = eol ? (size_t)(eol - text) : len;
        l->next = eol ? l->end + 1 : len;
        if (out->count == 1)
            out->crlf = l->end > l->start && text[l->end - 1] == '\r';
        const char *s = text + pos;
        size_t n = l->end - pos;
        while (n > 0 && isspace((unsigned char)s[n - 1]))
            n--;
        size_t indent = 0;
        while (indent < n && is_blank(s[indent]))
            indent++;
        s += indent;
        n -= indent;
        if (n == 0 || s[0] == ';' || s[0] == '#') {
            l->kind = L_OTHER; /* a logical line goes on after it */
        } else if (indent > 0 && in_key) {
            l->kind = L_CONTINUATION;
        } else if (s[0] == '[') {
            l->kind = L_SECTION;
            section_name(l, s, n);
            in_key = false;
        } else {
            size_t k = 0;
            while (k < n && s[k] != '=' && s[k] != ':')
                k++;
            size_t name_len = k;
            while (name_len > 0 && is_blank(s[name_len - 1]))
                name_len--;
            l->kind = k < n ? L_KEY : L_OTHER;
            if (l->kind == L_KEY)
                set_name(l, s, name_len);
            in_key = l->kind == L_KEY;
        }
        pos = l->next;
    }
    return 0;
}

static void lines_free(text_lines *t)
{
    free(t->items);
    t->items = NULL;
}

/* ------------------------------------------------------------ values */

int config_edit_check_value(const char *name, const char *value, char *why, size_t why_size)
{
    size_t n = strlen(value);
    /* "name = value" must fit one logical line. */
    if (n + strlen(name) + 3 > CONFIG_LINE_MAX) {
        snprintf(why, why_size, "%s: the value is %zu bytes; a line holds at most %d", name, n,
                 CONFIG_LINE_MAX);
        return -1;
    }
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)value[i];
        if (c == '\n' || c == '\r') {
            snprintf(why, why_size, "%s: the value has a line break (byte %zu); a value is one "
                                    "line", name, i + 1);
            return -1;
        }
        if (c < 0x20 || c == 0x7f) {
            snprintf(why, why_size, "%s: the value has the control character 0x%02x (byte %zu)",
                     name, c, i + 1);
            return -1;
        }
        size_t k = json_utf8_len((const unsigned char *)value + i);
        if (k == 0) {
            snprintf(why, why_size, "%s: the value is not valid UTF-8 (byte %zu)", name, i + 1);
            return -1;
        }
        if (k == 2 && c == 0xc2 && (unsigned char)value[i + 1] < 0xa0) {
            snprintf(why, why_size, "%s: the value has a C1 control character (byte %zu)", name,
                     i + 1);
            return -1;
        }
        if (c == ';' && (i == 0 || is_blank(value[i - 1]))) {
            snprintf(why, why_size, "%s: a ';' %s would start a comment: the rest of the value "
                                    "would be lost", name, i == 0 ? "at the start" : "after a blank");
            return -1;
        }
        i += k;
    }
    if (n > 0 && (is_blank(value[0]) || is_blank(value[n - 1]))) {
        snprintf(why, why_size, "%s: blanks at the start or end of the value would be dropped",
                 name);
        return -1;
    }
    return 0;
}

/* Where the value of the key line l starts and ends (a trailing ' ;'
 * comment and blanks excluded), as config.c's start_key reads it. */
static void value_span(const char *text, const text_line *l, size_t *vstart, size_t *vend)
{
    size_t p = l->start;
    while (p < l->end && text[p] != '=' && text[p] != ':')
        p++;
    p++; /* past the separator */
    size_t cut = l->end;
    bool was_space = false;
    for (size_t i = p; i < l->end; i++) {
        if (text[i] == ';' && was_space) {
            cut = i;
            break;
        }
        was_space = isspace((unsigned char)text[i]) != 0;
    }
    while (p < cut && is_blank(text[p]))
        p++;
    size_t e = cut;
    while (e > p && isspace((unsigned char)text[e - 1]))
        e--;
    *vstart = p;
    *vend = e;
}

bool config_edit_value_at(const char *text, size_t len, unsigned line, strbuf *out)
{
    text_lines t;
    char why[64];
    if (line == 0 || split_lines(text, len, &t, why, sizeof why) != 0)
        return false;
    if (line > t.count || t.items[line - 1].kind != L_KEY) {
        lines_free(&t);
        return false;
    }
    size_t vs, ve;
    value_span(text, &t.items[line - 1], &vs, &ve);
    strbuf_append(out, text + vs, ve - vs);
    bool have = ve > vs;
    for (size_t i = line; i < t.count; i++) {
        const text_line *c = &t.items[i];
        if (c->kind == L_OTHER)
            continue;
        if (c->kind != L_CONTINUATION)
            break;
        size_t p = c->start;
        while (p < c->end && is_blank(text[p]))
            p++;
        size_t e = p;
        bool was_space = false;
        for (size_t k = p; k < c->end; k++) {
            if (text[k] == ';' && was_space)
                break;
            was_space = isspace((unsigned char)text[k]) != 0;
            if (!was_space)
                e = k + 1;
        }
        if (e > p) {
            if (have)
                strbuf_putc(out, ' ');
            strbuf_append(out, text + p, e - p);
            have = true;
        }
    }
    lines_free(&t);
    return true;
}

/* ------------------------------------------------------------ edits */

static void put_line_end(strbuf *out, const text_lines *t)
{
    strbuf_puts(out, t->crlf ? "\r\n" : "\n");
}

static void put_key(strbuf *out, const text_lines *t, const char *name, const char *value)
{
    strbuf_puts(out, name);
    strbuf_puts(out, *value ? " = " : " =");
    strbuf_puts(out, value);
    put_line_end(out, t);
}

/* Copies line i whole, with its '\n' (a last line without one gets one
 * when more follows: `more`). */
static void copy_line(strbuf *out, const char *text, const text_lines *t, size_t i, bool more)
{
    const text_line *l = &t->items[i];
    strbuf_append(out, text + l->start, l->next - l->start);
    if (more && l->next == l->end)
        put_line_end(out, t);
}

/* The last line of the logical line that starts at key: its last
 * continuation line (comment lines among them belong to it), else key. */
static size_t continuation_end(const text_lines *t, size_t key)
{
    size_t last = key;
    for (size_t i = key + 1; i < t->count; i++) {
        if (t->items[i].kind == L_CONTINUATION)
            last = i;
        else if (t->items[i].kind != L_OTHER)
            break;
    }
    return last;
}

static bool section_is(const text_line *l, const char *section)
{
    return l->kind == L_SECTION && !l->name_too_long && strcmp(l->name, section) == 0;
}

static int replace_line(const char *text, const text_lines *t, unsigned line, const char *value,
                        strbuf *out, char *why, size_t why_size)
{
    if (line > t->count || t->items[line - 1].kind != L_KEY) {
        snprintf(why, why_size, "line %u sets no key (the file changed?)", line);
        return -1;
    }
    size_t key = line - 1, last = continuation_end(t, key);
    for (size_t i = 0; i < t->count; i++) {
        if (i == key) {
            const text_line *l = &t->items[i];
            size_t vs, ve;
            value_span(text, l, &vs, &ve);
            strbuf_append(out, text + l->start, vs - l->start);
            /* "key =value" keeps its style; "key =" gets its blank back. */
            if (vs == l->end && *value && !is_blank(text[vs - 1]))
                strbuf_putc(out, ' ');
            strbuf_puts(out, value);
            if (ve < l->end && text[ve] == ';')
                strbuf_putc(out, ' '); /* the old value was empty: keep the comment one */
            strbuf_append(out, text + ve, l->next - ve);
        } else if (i > key && i <= last && t->items[i].kind == L_CONTINUATION) {
            continue; /* the old value's rest */
        } else {
            copy_line(out, text, t, i, i + 1 < t->count);
        }
    }
    return 0;
}

static int append_key(const char *text, size_t len, const text_lines *t, const char *section,
                      const char *name, const char *value, strbuf *out)
{
    /* After the last key (and its continuation) of the last block of
     * section, else after its header. */
    size_t after = SIZE_MAX;
    for (size_t i = 0; i < t->count; i++) {
        if (!section_is(&t->items[i], section))
            continue;
        after = i;
        for (size_t k = i + 1; k < t->count && t->items[k].kind != L_SECTION; k++)
            if (t->items[k].kind == L_KEY)
                after = continuation_end(t, k);
    }
    if (after == SIZE_MAX) {
        strbuf_append(out, text, len);
        if (len > 0 && text[len - 1] != '\n')
            put_line_end(out, t);
        if (len > 0 && t->count > 0 && t->items[t->count - 1].end > t->items[t->count - 1].start)
            put_line_end(out, t); /* a blank line before the new section */
        strbuf_printf(out, "[%s]", section);
        put_line_end(out, t);
        put_key(out, t, name, value);
        return 0;
    }
    for (size_t i = 0; i < t->count; i++) {
        copy_line(out, text, t, i, i + 1 < t->count || i == after);
        if (i == after)
            put_key(out, t, name, value);
    }
    (void)len;
    return 0;
}

int config_edit_set(const char *text, size_t len, const char *section, const char *name,
                    const char *value, unsigned line, strbuf *out, char *why, size_t why_size)
{
    if (config_edit_check_value(name, value, why, why_size) != 0)
        return -1;
    if (*name == '\0' || strpbrk(name, " \t=:;#[]\r\n") != NULL || *section == '\0' ||
        strpbrk(section, "[]\r\n;") != NULL) {
        snprintf(why, why_size, "[%s] %s: not a key name", section, name);
        return -1;
    }
    text_lines t;
    if (split_lines(text, len, &t, why, why_size) != 0)
        return -1;
    int rc = line > 0 ? replace_line(text, &t, line, value, out, why, why_size)
                      : append_key(text, len, &t, section, name, value, out);
    lines_free(&t);
    if (rc == 0 && out->failed) {
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    return rc;
}

int config_edit_reset_domain(const char *text, size_t len, const char *domain, strbuf *out,
                             strbuf *removed, size_t *count, char *why, size_t why_size)
{
    char section[300];
    int k = snprintf(section, sizeof section, "domain %s", domain);
    if (k < 0 || (size_t)k >= sizeof section) {
        snprintf(why, why_size, "domain name too long");
        return -1;
    }
    for (char *c = section + 7; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    text_lines t;
    if (split_lines(text, len, &t, why, why_size) != 0)
        return -1;
    *count = 0;
    bool inside = false;
    size_t skip_to = 0; /* continuation lines of a removed key, up to here */
    bool skipping = false;
    for (size_t i = 0; i < t.count; i++) {
        const text_line *l = &t.items[i];
        if (l->kind == L_SECTION)
            inside = section_is(l, section);
        if (skipping && i <= skip_to) {
            if (l->kind != L_CONTINUATION)
                copy_line(out, text, &t, i, i + 1 < t.count); /* a comment among them */
            continue;
        }
        skipping = false;
        if (inside && l->kind == L_KEY && strcmp(l->name, "trusted") != 0) {
            if (removed != NULL) {
                unsigned line = (unsigned)i + 1;
                strbuf_printf(removed, "%s%s = ", *count ? "; " : "", l->name);
                config_edit_value_at(text, len, line, removed);
            }
            (*count)++;
            skip_to = continuation_end(&t, i);
            skipping = true;
            continue;
        }
        copy_line(out, text, &t, i, i + 1 < t.count);
    }
    lines_free(&t);
    if (out->failed || (removed != NULL && removed->failed)) {
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    return 0;
}
