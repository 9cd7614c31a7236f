/* mailtext.c: SMTP reply lines and header field text for filters; see
 * mailtext.h. Every input is (pointer, length) or a C string from our own
 * code; hostile bytes are replaced, never passed on. */
#include "util/errbuf.h"
#include "mailtext.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Everything that must not reach a reply or header as itself: C0 controls
 * other than the whitespace handled separately, and DEL. */
static bool is_control(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* Undoes appends after a failure, so callers see all or nothing. */
static void rewind_to(strbuf *out, size_t len)
{
    if (out->data != NULL && len <= out->len) {
        out->len = len;
        out->data[len] = '\0';
    }
}

/* Reads 1..3 digits at *p; false when there are none or more than three. */
static bool take_1_to_3_digits(const char **p)
{
    size_t n = 0;
    while (is_digit((*p)[n]))
        n++;
    if (n == 0 || n > 3)
        return false;
    *p += n;
    return true;
}

static bool enhanced_status_valid(const char *s, unsigned code_class)
{
    if (s[0] != (char)('0' + code_class) || s[1] != '.')
        return false;
    const char *p = s + 2;
    if (!take_1_to_3_digits(&p) || *p != '.')
        return false;
    p++;
    return take_1_to_3_digits(&p) && *p == '\0';
}

/* A word is a maximal run of bytes that are not whitespace. Finds the next
 * one at or after *pos; false at the end of the text. */
static bool next_word(const char *text, size_t len, size_t *pos, size_t *start, size_t *word_len)
{
    size_t i = *pos;
    while (i < len && is_space((unsigned char)text[i]))
        i++;
    if (i == len)
        return false;
    size_t j = i;
    while (j < len && !is_space((unsigned char)text[j]))
        j++;
    *start = i;
    *word_len = j - i;
    *pos = j;
    return true;
}

/* Appends a word, replacing control bytes (and, for replies, 8-bit bytes,
 * since SMTP replies are ASCII) with '?', and doubling '%' when asked. */
static void put_word(strbuf *out, const char *word, size_t len, bool ascii_only,
                     bool double_percent)
{
    /* Plain runs are copied whole: a reply or header line is written for
     * every message, and a call per byte was a sixth of the policy path. */
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)word[i];
        bool replace = is_control(c) || (ascii_only && c >= 0x80);
        if (!replace && !(double_percent && c == '%'))
            continue;
        strbuf_append(out, word + run, i - run);
        strbuf_append(out, replace ? "?" : "%%", replace ? 1 : 2);
        run = i + 1;
    }
    strbuf_append(out, word + run, len - run);
}

int mailtext_reply_line(strbuf *out, unsigned code, const char *enhanced, const char *text,
                        bool double_percent, char *err, size_t err_size)
{
    unsigned code_class = code / 100;
    if (code < 400 || code > 599 || (code / 10) % 10 > 5)
        return errbuf_set(err, err_size, "reply code %u is not a 4xx or 5xx SMTP code", code);
    if (enhanced != NULL && enhanced[0] != '\0' && !enhanced_status_valid(enhanced, code_class))
        return errbuf_set(err, err_size, "enhanced status \"%.20s\" is not %u.N.N (RFC 3463)",
                    enhanced, code_class);
    strbuf_printf(out, "%u", code);
    if (enhanced != NULL && enhanced[0] != '\0')
        strbuf_printf(out, " %s", enhanced);
    mailtext_reply_text(out, text, double_percent);
    return 0;
}

void mailtext_reply_text(strbuf *out, const char *text, bool double_percent)
{
    if (text == NULL)
        return;
    size_t len = strlen(text), pos = 0, start, word_len, kept = 0;
    while (kept < MAILTEXT_REPLY_TEXT_MAX && next_word(text, len, &pos, &start, &word_len)) {
        if (word_len > MAILTEXT_REPLY_TEXT_MAX - kept)
            word_len = MAILTEXT_REPLY_TEXT_MAX - kept;
        strbuf_putc(out, ' ');
        put_word(out, text + start, word_len, true, double_percent);
        kept += word_len + 1;
    }
}

bool mailtext_header_name_valid(const char *name, size_t len)
{
    if (len == 0 || len > MAILTEXT_HEADER_LINE_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 33 || c > 126 || c == ':')
            return false;
    }
    return true;
}

bool mailtext_header_value_valid(size_t name_len, const char *value, size_t len)
{
    size_t line_len = name_len + 2;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)value[i];
        if (c == '\n') {
            /* Folding only: a continuation line starts with WSP. */
            if (i + 1 == len || (value[i + 1] != ' ' && value[i + 1] != '\t'))
                return false;
            line_len = 0;
            continue;
        }
        if (c == '\0' || c == '\r' || (is_control(c) && c != '\t'))
            return false;
        if (++line_len > MAILTEXT_HEADER_LINE_MAX)
            return false;
    }
    return true;
}

int mailtext_header_fold(strbuf *out, size_t name_len, const char *value, size_t len,
                         char *err, size_t err_size)
{
    size_t mark = out->len;
    size_t line_len = name_len + 2; /* "Name: " */
    size_t pos = 0, start, word_len;
    bool first = true;
    while (next_word(value, len, &pos, &start, &word_len)) {
        size_t with_space = first ? word_len : word_len + 1;
        if (!first && line_len + with_space > MAILTEXT_HEADER_FOLD_WIDTH) {
            strbuf_append(out, "\n\t", 2);
            line_len = 1;
            with_space = word_len;
        } else if (!first) {
            strbuf_putc(out, ' ');
        }
        if (line_len + with_space > MAILTEXT_HEADER_LINE_MAX) {
            rewind_to(out, mark);
            return errbuf_set(err, err_size, "a word of %zu bytes cannot fit a %d-byte header line",
                        word_len, MAILTEXT_HEADER_LINE_MAX);
        }
        put_word(out, value + start, word_len, false, false);
        line_len += with_space;
        first = false;
    }
    return 0;
}

int mailtext_header_one_line(strbuf *out, size_t name_len, const char *value, size_t len,
                             char *err, size_t err_size)
{
    size_t mark = out->len;
    size_t line_len = name_len + 2;
    size_t pos = 0, start, word_len;
    bool first = true;
    while (next_word(value, len, &pos, &start, &word_len)) {
        line_len += first ? word_len : word_len + 1;
        if (line_len > MAILTEXT_HEADER_LINE_MAX) {
            rewind_to(out, mark);
            return errbuf_set(err, err_size, "header longer than %d bytes on one line",
                        MAILTEXT_HEADER_LINE_MAX);
        }
        if (!first)
            strbuf_putc(out, ' ');
        put_word(out, value + start, word_len, false, false);
        first = false;
    }
    return 0;
}

int mailtext_header_fold_or_cut(strbuf *out, size_t name_len, const char *value, size_t len,
                                bool *cut)
{
    char err[128];
    *cut = false;
    size_t before = out->len;
    if (mailtext_header_fold(out, name_len, value, len, err, sizeof err) == 0)
        return out->failed ? -1 : 0;
    out->len = before;
    /* The longest word that fits on a line of its own after a fold (a TAB)
     * or after "Name: ", whichever is shorter. */
    size_t room = MAILTEXT_HEADER_LINE_MAX - 1;
    if (name_len + 2 < MAILTEXT_HEADER_LINE_MAX && MAILTEXT_HEADER_LINE_MAX - name_len - 2 < room)
        room = MAILTEXT_HEADER_LINE_MAX - name_len - 2;
    static const char marker[] = "[...]";
    size_t keep = room > sizeof marker + 16 ? room - sizeof marker - 16 : 1;
    strbuf cut_value;
    strbuf_init(&cut_value);
    size_t word = 0;
    for (size_t i = 0; i < len; i++) {
        char c = value[i];
        bool space = c == ' ' || c == '\t' || c == '\r' || c == '\n';
        if (space) {
            word = 0;
            strbuf_putc(&cut_value, c);
            continue;
        }
        if (word < keep)
            strbuf_putc(&cut_value, c);
        else if (word == keep) {
            strbuf_puts(&cut_value, marker);
            *cut = true;
        }
        word++;
    }
    int rc = cut_value.failed ? -1
                              : mailtext_header_fold(out, name_len, cut_value.data ? cut_value.data : "",
                                                     cut_value.len, err, sizeof err);
    strbuf_free(&cut_value);
    if (rc != 0)
        out->len = before;
    return rc != 0 || out->failed ? -1 : 0;
}
