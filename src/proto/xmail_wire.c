/* xmail_wire.c: the filter-to-domauthd codec (see xmail_wire.h). Both
 * directions are bounded and strict: the request comes from any local
 * process that can open the control socket. */
#include "proto/xmail_wire.h"
#include "util/hex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const op_names[] = {"insert", "append", "change", "delete"};

static bool needs_escape(unsigned char c)
{
    return c <= 0x20 || c == 0x7f || c == '%';
}

static int put_token(strbuf *out, const char *s)
{
    /* XMail's @@USERAUTH is "-" when the session did not authenticate. */
    if (s == NULL || *s == '\0' || strcmp(s, "-") == 0) {
        strbuf_putc(out, '-');
        return 0;
    }
    if (strlen(s) > 500)
        return -1;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (needs_escape(*p))
            strbuf_printf(out, "%%%02X", *p);
        else
            strbuf_putc(out, (char)*p);
    }
    return 0;
}

int xmail_wire_put_request(strbuf *out, xmail_stage stage, size_t length, const char *rcpt,
                           const char *auth)
{
    strbuf_printf(out, "xmail-check %s %zu ", xmail_stage_name(stage), length);
    if (put_token(out, rcpt) != 0)
        return -1;
    strbuf_putc(out, ' ');
    if (put_token(out, auth) != 0)
        return -1;
    strbuf_putc(out, '\n');
    return 0;
}

/* Decodes a token into out (size bytes); "-" is "". */
static int get_token(const char *s, size_t n, char *out, size_t size)
{
    if (n == 1 && s[0] == '-') {
        out[0] = '\0';
        return 0;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= n)
                return -1;
            int hi = util_hex_digit(s[i + 1]), lo = util_hex_digit(s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (unsigned char)(hi * 16 + lo);
            if (c == 0)
                return -1;
            i += 2;
        } else if (c <= 0x20 || c == 0x7f) {
            return -1;
        }
        if (k + 1 >= size)
            return -1;
        out[k++] = (char)c;
    }
    out[k] = '\0';
    return 0;
}

int xmail_wire_parse_request(const char *line, size_t len, xmail_wire_request *out, char *err,
                             size_t err_size)
{
    memset(out, 0, sizeof *out);
    const char *word[6];
    size_t wlen[6];
    size_t count = 0;
    for (size_t i = 0; i < len;) {
        while (i < len && line[i] == ' ')
            i++;
        if (i == len)
            break;
        if (count == 5) {
            snprintf(err, err_size, "more than five words");
            return -1;
        }
        word[count] = line + i;
        while (i < len && line[i] != ' ')
            i++;
        wlen[count] = (size_t)(line + i - word[count]);
        count++;
    }
    if (count != 5 || wlen[0] != 11 || memcmp(word[0], "xmail-check", 11) != 0) {
        snprintf(err, err_size, "expected: xmail-check STAGE LENGTH RCPT AUTH");
        return -1;
    }
    char stage[16];
    if (wlen[1] >= sizeof stage) {
        snprintf(err, err_size, "unknown stage");
        return -1;
    }
    memcpy(stage, word[1], wlen[1]);
    stage[wlen[1]] = '\0';
    int st = xmail_stage_parse(stage);
    if (st < 0) {
        snprintf(err, err_size, "unknown stage (post-rcpt, pre-data or post-data)");
        return -1;
    }
    out->stage = (xmail_stage)st;
    size_t length = 0;
    if (wlen[2] == 0 || wlen[2] > 10) {
        snprintf(err, err_size, "bad length");
        return -1;
    }
    for (size_t i = 0; i < wlen[2]; i++) {
        if (word[2][i] < '0' || word[2][i] > '9') {
            snprintf(err, err_size, "bad length");
            return -1;
        }
        length = length * 10 + (size_t)(word[2][i] - '0');
    }
    if (length == 0 || length > XMAIL_WIRE_FILE_MAX) {
        snprintf(err, err_size, "a file of %zu bytes (1 to %d are taken)", length,
                 XMAIL_WIRE_FILE_MAX);
        return -1;
    }
    out->length = length;
    if (get_token(word[3], wlen[3], out->rcpt, sizeof out->rcpt) != 0 ||
        get_token(word[4], wlen[4], out->auth, sizeof out->auth) != 0) {
        snprintf(err, err_size, "bad RCPT or AUTH word (percent-encoded, at most 500 bytes)");
        return -1;
    }
    return 0;
}

static void put_line_text(strbuf *out, const char *text)
{
    size_t n = 0;
    for (const char *p = text; *p && n < XMAIL_WIRE_LINE_MAX - 64; p++, n++)
        strbuf_putc(out, ((unsigned char)*p < 0x20 || *p == 0x7f) ? ' ' : *p);
}

void xmail_wire_put_ok(strbuf *out, const char *action, bool hold)
{
    strbuf_printf(out, "ok %s %d\n", action, hold ? 1 : 0);
}

void xmail_wire_put_text(strbuf *out, const char *key, const char *text)
{
    if (text == NULL)
        return;
    strbuf_printf(out, "%s ", key);
    put_line_text(out, text);
    strbuf_putc(out, '\n');
}

int xmail_wire_put_edit(strbuf *out, xmail_edit_op op, unsigned index, const char *name,
                        const char *value)
{
    if ((unsigned)op > XMAIL_EDIT_DELETE || name == NULL || strlen(name) > 1000)
        return -1;
    size_t vlen = value ? strlen(value) : 0;
    strbuf_printf(out, "edit %s %u %zu %zu\n", op_names[op], index, strlen(name), vlen);
    strbuf_puts(out, name);
    if (value)
        strbuf_append(out, value, vlen);
    strbuf_putc(out, '\n');
    return 0;
}

void xmail_wire_put_end(strbuf *out)
{
    strbuf_puts(out, "end\n");
}

void xmail_wire_put_error(strbuf *out, const char *text)
{
    strbuf_puts(out, "error ");
    put_line_text(out, text);
    strbuf_putc(out, '\n');
}

void xmail_wire_answer_free(xmail_wire_answer *a)
{
    if (a == NULL)
        return;
    free(a->reply);
    free(a->redirect);
    free(a->summary);
    free(a->error);
    for (size_t i = 0; i < a->edit_count; i++) {
        free(a->edits[i].name);
        free(a->edits[i].value);
    }
    free(a->edits);
    memset(a, 0, sizeof *a);
}

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* Reads an unsigned decimal word of at most 10 digits at *p (within end). */
static int get_number(const char **p, const char *end, size_t *value)
{
    const char *s = *p;
    size_t v = 0, digits = 0;
    while (s < end && *s >= '0' && *s <= '9' && digits < 10) {
        v = v * 10 + (size_t)(*s - '0');
        s++;
        digits++;
    }
    if (digits == 0 || (s < end && *s >= '0' && *s <= '9'))
        return -1;
    *value = v;
    *p = s;
    return 0;
}

static int bad(xmail_wire_answer *out, char *err, size_t err_size, const char *why)
{
    xmail_wire_answer_free(out);
    snprintf(err, err_size, "%s", why);
    return -1;
}

int xmail_wire_parse_answer(const char *data, size_t len, xmail_wire_answer *out, char *err,
                            size_t err_size)
{
    memset(out, 0, sizeof *out);
    if (len > XMAIL_WIRE_ANSWER_MAX)
        return bad(out, err, err_size, "answer too long");
    size_t pos = 0;
    bool first = true;
    for (;;) {
        const char *line = data + pos;
        const char *lf = memchr(line, '\n', len - pos);
        if (lf == NULL) {
            if (len - pos > XMAIL_WIRE_LINE_MAX)
                return bad(out, err, err_size, "a line too long");
            xmail_wire_answer_free(out);
            return 1;
        }
        size_t n = (size_t)(lf - line);
        if (n > XMAIL_WIRE_LINE_MAX)
            return bad(out, err, err_size, "a line too long");
        pos += n + 1;
        if (memchr(line, '\0', n) != NULL)
            return bad(out, err, err_size, "a NUL byte in a line");
        if (first) {
            first = false;
            if (n >= 6 && memcmp(line, "error ", 6) == 0) {
                out->error = dup_n(line + 6, n - 6);
                return out->error ? 0 : bad(out, err, err_size, "out of memory");
            }
            /* "ok ACTION HOLD" */
            const char *sp = n > 3 && memcmp(line, "ok ", 3) == 0 ? memchr(line + 3, ' ', n - 3)
                                                                  : NULL;
            size_t alen = sp ? (size_t)(sp - line - 3) : 0;
            if (sp == NULL || alen == 0 || alen >= sizeof out->action || line + n - sp != 2 ||
                (sp[1] != '0' && sp[1] != '1'))
                return bad(out, err, err_size, "the first line is not \"ok ACTION HOLD\"");
            memcpy(out->action, line + 3, alen);
            out->action[alen] = '\0';
            out->hold = sp[1] == '1';
            continue;
        }
        if (n == 3 && memcmp(line, "end", 3) == 0)
            return 0;
        char **text = n >= 6 && memcmp(line, "reply ", 6) == 0      ? &out->reply
                      : n >= 9 && memcmp(line, "redirect ", 9) == 0 ? &out->redirect
                      : n >= 8 && memcmp(line, "summary ", 8) == 0  ? &out->summary
                                                                    : NULL;
        if (text != NULL) {
            const char *sp = memchr(line, ' ', n);
            if (*text != NULL)
                return bad(out, err, err_size, "a line given twice");
            *text = dup_n(sp + 1, (size_t)(line + n - sp - 1));
            if (*text == NULL)
                return bad(out, err, err_size, "out of memory");
            continue;
        }
        if (n < 5 || memcmp(line, "edit ", 5) != 0)
            return bad(out, err, err_size, "an unknown line");
        if (out->edit_count == XMAIL_WIRE_EDITS_MAX)
            return bad(out, err, err_size, "too many edits");
        const char *p = line + 5, *end = line + n;
        int op = -1;
        for (int k = 0; k < 4; k++) {
            size_t on = strlen(op_names[k]);
            if ((size_t)(end - p) > on && memcmp(p, op_names[k], on) == 0 && p[on] == ' ') {
                op = k;
                p += on + 1;
                break;
            }
        }
        size_t index, name_len, value_len;
        if (op < 0 || get_number(&p, end, &index) != 0 || p == end || *p++ != ' ' ||
            get_number(&p, end, &name_len) != 0 || p == end || *p++ != ' ' ||
            get_number(&p, end, &value_len) != 0 || p != end || index > 100000 ||
            name_len == 0 || name_len > 1000)
            return bad(out, err, err_size, "a bad edit line");
        if (value_len > len || name_len + value_len + 1 > len - pos) {
            if (value_len > XMAIL_WIRE_ANSWER_MAX)
                return bad(out, err, err_size, "an edit too long");
            xmail_wire_answer_free(out);
            return 1;
        }
        if (data[pos + name_len + value_len] != '\n')
            return bad(out, err, err_size, "an edit not followed by its line end");
        xmail_wire_edit *bigger = realloc(out->edits, (out->edit_count + 1) * sizeof *bigger);
        if (bigger == NULL)
            return bad(out, err, err_size, "out of memory");
        out->edits = bigger;
        xmail_wire_edit *e = &out->edits[out->edit_count++];
        memset(e, 0, sizeof *e);
        e->op = (xmail_edit_op)op;
        e->index = (unsigned)index;
        e->name = dup_n(data + pos, name_len);
        if (op != XMAIL_EDIT_DELETE) {
            e->value = dup_n(data + pos + name_len, value_len);
            e->value_len = value_len;
        }
        if (e->name == NULL || (op != XMAIL_EDIT_DELETE && e->value == NULL))
            return bad(out, err, err_size, "out of memory");
        if (memchr(e->name, '\0', name_len) != NULL ||
            (e->value && memchr(e->value, '\0', value_len) != NULL))
            return bad(out, err, err_size, "a NUL byte in an edit");
        pos += name_len + value_len + 1;
    }
}
