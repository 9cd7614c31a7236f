/* tags.c: the tag=value lists of RFC 6376 section 3.2 (DKIM-Signature
 * fields and key records), base64 with folding whitespace, and the small
 * name checks both parsers share. Bounded: (pointer, length), never NUL. */
#include <stdio.h>
#include <string.h>

#include "dkim_internal.h"

static bool is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* VALCHAR: %x21-3A / %x3C-7E (printable, no ';'). */
static bool is_valchar(char c)
{
    unsigned char u = (unsigned char)c;
    return u >= 0x21 && u <= 0x7e && u != ';';
}

/* Skips FWS: whitespace, and CRLF only when whitespace follows (a fold). */
static size_t skip_fws(const char *text, size_t len, size_t i)
{
    for (;;) {
        if (i < len && is_wsp(text[i])) {
            i++;
        } else if (i + 2 < len && text[i] == '\r' && text[i + 1] == '\n' &&
                   is_wsp(text[i + 2])) {
            i += 3;
        } else {
            return i;
        }
    }
}

static int tag_error(char *err, size_t err_size, const char *why, size_t index)
{
    snprintf(err, err_size, "tag %zu: %s", index, why);
    return -1;
}

/* Parses the value from i to the next ';' or the end; returns its end. */
static int parse_value(const char *text, size_t len, size_t i, dkim_tag *tag, size_t *next,
                       char *err, size_t err_size, size_t index)
{
    tag->raw_value_start = i;
    i = skip_fws(text, len, i);
    size_t value_start = i, value_end = i;
    while (i < len && text[i] != ';') {
        if (is_valchar(text[i])) {
            i++;
            value_end = i;
            continue;
        }
        size_t after = skip_fws(text, len, i);
        if (after == i)
            return tag_error(err, err_size, "a control or 8-bit character in a value",
                             index);
        i = after;
    }
    tag->raw_value_end = i;
    tag->value = text + value_start;
    tag->value_len = value_end - value_start;
    *next = i;
    return 0;
}

int dkim_tags_parse(const char *text, size_t len, dkim_tag_list *out, char *err,
                    size_t err_size)
{
    out->count = 0;
    size_t i = 0;
    for (size_t index = 1;; index++) {
        i = skip_fws(text, len, i);
        if (i == len)
            return 0; /* empty list, or a trailing ';' */
        if (!is_alpha(text[i]))
            return tag_error(err, err_size, "a tag name must start with a letter",
                             index);
        dkim_tag tag = {.name = text + i};
        while (i < len && (is_alpha(text[i]) || is_digit(text[i]) || text[i] == '_'))
            i++;
        tag.name_len = (size_t)(text + i - tag.name);
        i = skip_fws(text, len, i);
        if (i == len || text[i] != '=')
            return tag_error(err, err_size, "expected '=' after the tag name", index);
        if (parse_value(text, len, i + 1, &tag, &i, err, err_size, index) != 0)
            return -1;
        for (size_t k = 0; k < out->count; k++)
            if (out->tags[k].name_len == tag.name_len &&
                memcmp(out->tags[k].name, tag.name, tag.name_len) == 0)
                return tag_error(err, err_size, "the tag appears twice", index);
        if (out->count == DKIM_MAX_TAGS)
            return tag_error(err, err_size, "too many tags (at most 64)", index);
        out->tags[out->count++] = tag;
        if (i == len)
            return 0;
        i++; /* the ';' */
    }
}

/* Tag names are case-sensitive (section 3.2). */
const dkim_tag *dkim_tags_find(const dkim_tag_list *list, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < list->count; i++)
        if (list->tags[i].name_len == n && memcmp(list->tags[i].name, name, n) == 0)
            return &list->tags[i];
    return NULL;
}

/* --------------------------------------------------------------- base64 */

/* Each byte's meaning in base64 text: 1 + its value, B64_SKIP for the
 * whitespace FWS may leave, B64_PAD for '=', 0 for anything else. A table,
 * because the decoder runs over every b=, bh= and p= (a few percent of a
 * small message's verification when it branched per range). */
enum { B64_SKIP = 65, B64_PAD = 66 };
static const unsigned char base64_table[256] = {
     0,  0,  0,  0,  0,  0,  0,  0,  0, 65, 65,  0,  0, 65,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
    65,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0, 63,  0,  0,  0, 64,
    53, 54, 55, 56, 57, 58, 59, 60, 61, 62,  0,  0,  0, 66,  0,  0,
     0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14, 15,
    16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26,  0,  0,  0,  0,  0,
     0, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41,
    42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
};

long dkim_base64_decode(const char *text, size_t len, unsigned char *out, size_t out_size)
{
    size_t n = 0, padding = 0;
    unsigned group = 0, in_group = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned v = base64_table[(unsigned char)text[i]];
        if (v == B64_SKIP)
            continue;
        if (v == B64_PAD) {
            padding++;
            in_group++;
            if (padding > 2)
                return -1;
            continue;
        }
        if (v == 0 || padding > 0)
            return -1; /* a bad character, or data after padding */
        group = (group << 6) | (v - 1);
        if (++in_group == 4) {
            if (n + 3 > out_size)
                return -1;
            out[n++] = (unsigned char)(group >> 16);
            out[n++] = (unsigned char)(group >> 8);
            out[n++] = (unsigned char)group;
            group = 0;
            in_group = 0;
        }
    }
    if (in_group == 0 && padding == 0)
        return (long)n;
    if (in_group != 4 || padding == 0)
        return -1; /* truncated */
    /* The last group: 4 symbols, 1 or 2 of them padding. */
    group <<= 6 * (unsigned)padding;
    if (n + 2 > out_size)
        return -1;
    out[n++] = (unsigned char)(group >> 16);
    if (padding == 1)
        out[n++] = (unsigned char)(group >> 8);
    return (long)n;
}

void dkim_base64_encode(strbuf *out, const unsigned char *data, size_t len)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < len; i += 3) {
        unsigned g = (unsigned)data[i] << 16;
        if (i + 1 < len)
            g |= (unsigned)data[i + 1] << 8;
        if (i + 2 < len)
            g |= data[i + 2];
        strbuf_putc(out, alphabet[(g >> 18) & 63]);
        strbuf_putc(out, alphabet[(g >> 12) & 63]);
        strbuf_putc(out, i + 1 < len ? alphabet[(g >> 6) & 63] : '=');
        strbuf_putc(out, i + 2 < len ? alphabet[g & 63] : '=');
    }
}

/* ---------------------------------------------------------------- names */

/* A domain we can query: LDH-ish labels of 1..63, at most 253 in all. */
bool dkim_domain_is_valid(const char *s, size_t len)
{
    if (len == 0 || len > 253 || s[0] == '.' || s[len - 1] == '.')
        return false;
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '.') {
            if (label == 0)
                return false;
            label = 0;
            continue;
        }
        if (!is_alpha(c) && !is_digit(c) && c != '-' && c != '_')
            return false;
        if (++label > 63)
            return false;
    }
    return true;
}

void dkim_printable_copy(char *out, size_t out_size, const char *s, size_t len)
{
    if (out_size == 0)
        return;
    size_t n = len < out_size - 1 ? len : out_size - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = c >= 0x20 && c <= 0x7e ? (char)c : '?';
    }
    out[n] = '\0';
}
