/* xmail_spool.c: the XMail SMTP filter file; see xmail_spool.h.
 *
 * The parser walks the file once, line by line, checking each line where it
 * is found: its length, its CRLF, no NUL. Envelope lines are decoded into
 * copies; the message is only indexed (offsets of its header fields), so a
 * rewrite can copy every byte it does not change. */
#include "xmail_spool.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "msg/mailtext.h"
#include "util/ip.h"

static const char DATA_MARKER[] = "<<MAIL-DATA>>";

typedef struct cursor {
    const char *data;
    size_t len;
    size_t pos;     /* the next line's first byte */
    unsigned line;  /* the number of the line last read */
    xmail_spool_error *err;
} cursor;

static int fail(cursor *c, unsigned line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(cursor *c, unsigned line, const char *fmt, ...)
{
    c->err->line = line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err->text, sizeof c->err->text, fmt, ap);
    va_end(ap);
    return -1;
}

/* Reads the next line: *start and *text_len (without its line end), and
 * *terminated (it ends in CRLF; only the message's last line may not).
 * Returns 1 for a line, 0 at the end of the file, -1 for a bad line. */
static int next_line(cursor *c, size_t max, bool may_be_open, size_t *start, size_t *text_len,
                     bool *terminated)
{
    if (c->pos >= c->len)
        return 0;
    c->line++;
    const char *p = c->data + c->pos;
    size_t left = c->len - c->pos;
    size_t scan = left < max ? left : max;
    const char *nl = memchr(p, '\n', scan);
    size_t n = nl ? (size_t)(nl - p) : scan;
    const char *nul = memchr(p, '\0', n);
    if (nul != NULL)
        return fail(c, c->line, "a NUL byte at column %zu", (size_t)(nul - p) + 1);
    if (nl == NULL) {
        if (left > max)
            return fail(c, c->line, "longer than %zu bytes", max);
        if (!may_be_open)
            return fail(c, c->line, "no line end (the file is cut short)");
        const char *cr = memchr(p, '\r', n);
        if (cr != NULL)
            return fail(c, c->line, "a CR without LF at column %zu", (size_t)(cr - p) + 1);
        *start = c->pos;
        *text_len = n;
        *terminated = false;
        c->pos = c->len;
        return 1;
    }
    if (n == 0 || p[n - 1] != '\r')
        return fail(c, c->line, "ends in LF without CR (XMail writes CRLF)");
    const char *cr = memchr(p, '\r', n - 1);
    if (cr != NULL)
        return fail(c, c->line, "a CR without LF at column %zu", (size_t)(cr - p) + 1);
    *start = c->pos;
    *text_len = n - 1;
    *terminated = true;
    c->pos += n + 1;
    return 1;
}

static char *copy(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* Envelope text comes from the client: no control bytes in it. */
static int check_text(cursor *c, const char *s, size_t n, const char *what)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)s[i];
        if (b < 0x20 || b == 0x7f)
            return fail(c, c->line, "a control byte (0x%02x) in %s", b, what);
    }
    return 0;
}

/* "[address]:port" */
static int parse_endpoint(cursor *c, const char *s, size_t n, const char *what, char **ip,
                          unsigned *port)
{
    if (n < 4 || s[0] != '[')
        return fail(c, c->line, "the %s is not [address]:port", what);
    const char *close = memchr(s, ']', n);
    if (close == NULL || close + 1 >= s + n || close[1] != ':')
        return fail(c, c->line, "the %s is not [address]:port", what);
    size_t ip_len = (size_t)(close - s - 1);
    ip_addr a;
    if (ip_len == 0 || ip_len >= IP_TEXT_MAX || !ip_parse(s + 1, ip_len, &a))
        return fail(c, c->line, "the %s \"%.*s\" is not an IP address", what,
                    (int)(ip_len < 64 ? ip_len : 64), s + 1);
    const char *d = close + 2;
    size_t digits = (size_t)(s + n - d);
    unsigned long v = 0;
    if (digits == 0 || digits > 5)
        return fail(c, c->line, "the %s has no port", what);
    for (size_t i = 0; i < digits; i++) {
        if (d[i] < '0' || d[i] > '9')
            return fail(c, c->line, "the %s's port is not a number", what);
        v = v * 10 + (unsigned long)(d[i] - '0');
    }
    if (v > 65535)
        return fail(c, c->line, "the %s's port %lu is beyond 65535", what, v);
    *ip = copy(s + 1, ip_len);
    *port = (unsigned)v;
    return *ip ? 0 : fail(c, c->line, "out of memory");
}

static int parse_line1(cursor *c, const char *s, size_t n, xmail_spool *out)
{
    /* Five fields from the right: XMail writes them; the HELO is the rest. */
    size_t cut[5];
    size_t found = 0;
    for (size_t i = n; i > 0 && found < 5; i--)
        if (s[i - 1] == ';')
            cut[found++] = i - 1;
    if (found < 5)
        return fail(c, 1, "not HELO;[ClientIP]:Port;ServerDomain;[ServerIP]:Port;Date;Logo "
                          "(%zu of the 5 ';' separators)", found);
    /* cut[4] < cut[3] < ... < cut[0] */
    const char *helo = s;
    size_t helo_len = cut[4];
    if (check_text(c, s, n, "line 1") != 0)
        return -1;
    if (parse_endpoint(c, s + cut[4] + 1, cut[3] - cut[4] - 1, "client address",
                       &out->client_ip, &out->client_port) != 0 ||
        parse_endpoint(c, s + cut[2] + 1, cut[1] - cut[2] - 1, "server address",
                       &out->server_ip, &out->server_port) != 0)
        return -1;
    out->helo = copy(helo, helo_len);
    out->server_name = copy(s + cut[3] + 1, cut[2] - cut[3] - 1);
    out->date = copy(s + cut[1] + 1, cut[0] - cut[1] - 1);
    out->logo = copy(s + cut[0] + 1, n - cut[0] - 1);
    if (!out->helo || !out->server_name || !out->date || !out->logo)
        return fail(c, 1, "out of memory");
    return 0;
}

/* "<path>" at s: sets the address (source route dropped) and *used (the
 * bytes up to and including '>'). */
static int parse_path(cursor *c, const char *s, size_t n, const char *what, char **address,
                      size_t *used)
{
    if (n == 0 || s[0] != '<')
        return fail(c, c->line, "%s: no '<' before the address", what);
    bool quoted = false;
    size_t i = 1;
    for (; i < n; i++) {
        if (quoted && s[i] == '\\' && i + 1 < n) {
            i++;
            continue;
        }
        if (s[i] == '"')
            quoted = !quoted;
        else if (!quoted && s[i] == '>')
            break;
    }
    if (i >= n)
        return fail(c, c->line, "%s: no '>' after the address", what);
    const char *a = s + 1;
    size_t a_len = i - 1;
    /* RFC 5321 4.1.2: a source route "@a,@b:" is accepted and ignored. */
    if (a_len > 0 && a[0] == '@') {
        const char *colon = memchr(a, ':', a_len);
        if (colon == NULL)
            return fail(c, c->line, "%s: a source route without ':'", what);
        a_len -= (size_t)(colon + 1 - a);
        a = colon + 1;
    }
    if (memchr(a, ' ', a_len) != NULL && memchr(a, '"', a_len) == NULL)
        return fail(c, c->line, "%s: a space in the address", what);
    *address = copy(a, a_len);
    *used = i + 1;
    return *address ? 0 : fail(c, c->line, "out of memory");
}

/* "VERB:" (any case), optional spaces: returns the bytes to skip, or 0. */
static size_t verb(const char *s, size_t n, const char *word)
{
    size_t w = strlen(word);
    if (n < w || strncasecmp(s, word, w) != 0)
        return 0;
    while (w < n && s[w] == ' ')
        w++;
    return w;
}

static int parse_mail(cursor *c, const char *s, size_t n, xmail_spool *out)
{
    size_t skip = verb(s, n, "MAIL FROM:");
    if (skip == 0)
        return fail(c, 4, "not a MAIL FROM:<...> line");
    size_t used;
    if (parse_path(c, s + skip, n - skip, "MAIL FROM", &out->mail_from, &used) != 0)
        return -1;
    const char *rest = s + skip + used;
    size_t rest_len = n - skip - used;
    if (rest_len > 0 && rest[0] != ' ')
        return fail(c, 4, "MAIL FROM: text right after '>' (parameters follow a space)");
    while (rest_len > 0 && rest[0] == ' ') {
        rest++;
        rest_len--;
    }
    out->mail_params = copy(rest, rest_len);
    return out->mail_params ? 0 : fail(c, 4, "out of memory");
}

static int parse_rcpt(cursor *c, const char *s, size_t n, xmail_spool *out)
{
    size_t skip = verb(s, n, "RCPT TO:");
    if (skip == 0)
        return fail(c, c->line, "not a RCPT TO:<...> line");
    if (out->rcpt_count == XMAIL_SPOOL_RCPT_MAX)
        return fail(c, c->line, "more than %d recipients", XMAIL_SPOOL_RCPT_MAX);
    xmail_rcpt *bigger = realloc(out->rcpts, (out->rcpt_count + 1) * sizeof *bigger);
    if (bigger == NULL)
        return fail(c, c->line, "out of memory");
    out->rcpts = bigger;
    xmail_rcpt *r = &out->rcpts[out->rcpt_count];
    memset(r, 0, sizeof *r);
    size_t used;
    if (parse_path(c, s + skip, n - skip, "RCPT TO", &r->address, &used) != 0)
        return -1;
    out->rcpt_count++;
    if (r->address[0] == '\0')
        return fail(c, c->line, "RCPT TO:<> names no recipient");
    const char *rest = s + skip + used;
    size_t rest_len = n - skip - used;
    for (size_t i = 0; i + 4 <= rest_len; i++) {
        if (memcmp(rest + i, "{ra=", 4) != 0)
            continue;
        const char *close = memchr(rest + i + 4, '}', rest_len - i - 4);
        if (close == NULL)
            return fail(c, c->line, "RCPT TO: \"{ra=\" without '}'");
        r->real = copy(rest + i + 4, (size_t)(close - rest - i - 4));
        if (r->real == NULL)
            return fail(c, c->line, "out of memory");
        break;
    }
    return 0;
}

/* A header field's first line: name, optional WSP, ':'. Returns the
 * offset of the colon within the line, or 0 when it is no field. */
static size_t field_colon(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && (unsigned char)s[i] > 0x20 && (unsigned char)s[i] < 0x7f && s[i] != ':')
        i++;
    if (i == 0)
        return 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    if (i >= n || s[i] != ':')
        return 0;
    return i;
}

static size_t name_length(const char *s, size_t colon)
{
    while (colon > 0 && (s[colon - 1] == ' ' || s[colon - 1] == '\t'))
        colon--;
    return colon;
}

static int parse_message(cursor *c, xmail_spool *out)
{
    out->message = c->pos;
    bool in_header = true;
    size_t start, n;
    bool terminated;
    int rc;
    out->header_end = c->pos;
    out->body = c->len;
    while ((rc = next_line(c, XMAIL_SPOOL_MESSAGE_LINE_MAX, true, &start, &n, &terminated)) == 1) {
        if (!in_header)
            continue;
        const char *s = c->data + start;
        size_t line_end = terminated ? start + n + 2 : start + n;
        if (n == 0) {
            in_header = false;
            out->header_end = start;
            out->blank_line = true;
            out->body = line_end;
            continue;
        }
        if ((s[0] == ' ' || s[0] == '\t') && out->field_count > 0) {
            xmail_field *f = &out->fields[out->field_count - 1];
            f->end = line_end;
            f->value_len = start + n - f->value;
            out->header_end = line_end;
            continue;
        }
        size_t colon = field_colon(s, n);
        if (colon == 0) {
            /* Not a field: the body starts here (no blank line), as
             * Postfix's cleanup takes it. */
            in_header = false;
            out->header_end = start;
            out->body = start;
            continue;
        }
        if (out->field_count == XMAIL_SPOOL_FIELDS_MAX)
            return fail(c, c->line, "more than %d header fields", XMAIL_SPOOL_FIELDS_MAX);
        xmail_field *bigger = realloc(out->fields, (out->field_count + 1) * sizeof *bigger);
        if (bigger == NULL)
            return fail(c, c->line, "out of memory");
        out->fields = bigger;
        xmail_field *f = &out->fields[out->field_count++];
        f->start = start;
        f->end = line_end;
        f->name_len = name_length(s, colon);
        f->value = start + colon + 1;
        f->value_len = start + n - f->value;
        out->header_end = line_end;
    }
    if (rc < 0)
        return -1;
    if (in_header)
        out->body = c->len;
    return 0;
}

int xmail_spool_parse(const char *data, size_t len, xmail_stage stage, xmail_spool *out,
                      xmail_spool_error *err)
{
    memset(out, 0, sizeof *out);
    memset(err, 0, sizeof *err);
    cursor c = {.data = data, .len = len, .err = err};
    out->size = len;
    if (len > XMAIL_SPOOL_FILE_MAX) {
        fail(&c, 0, "larger than %d bytes", XMAIL_SPOOL_FILE_MAX);
        return -1;
    }
    static const char *const what[] = {"line 1 (HELO;[ClientIP]:Port;...)",
                                       "line 2 (the server's SMTP domain)",
                                       "line 3 (the SMTP message id)",
                                       "line 4 (MAIL FROM:<...>)"};
    size_t start, n;
    bool terminated;
    for (int i = 0; i < 4; i++) {
        int rc = next_line(&c, XMAIL_SPOOL_LINE_MAX, false, &start, &n, &terminated);
        if (rc == 0) {
            fail(&c, (unsigned)i + 1, "missing: the file ends before %s", what[i]);
            goto bad;
        }
        if (rc < 0)
            goto bad;
        const char *s = data + start;
        int ok = 0;
        if (i == 0) {
            ok = parse_line1(&c, s, n, out);
        } else if (i == 1 || i == 2) {
            if (n == 0)
                ok = fail(&c, c.line, "%s is empty", what[i]);
            else if (check_text(&c, s, n, what[i]) == 0)
                *(i == 1 ? &out->smtp_domain : &out->message_id) = copy(s, n);
            else
                ok = -1;
            if (ok == 0 && (i == 1 ? out->smtp_domain : out->message_id) == NULL)
                ok = fail(&c, c.line, "out of memory");
        } else {
            ok = check_text(&c, s, n, "the MAIL FROM line");
            if (ok == 0)
                ok = parse_mail(&c, s, n, out);
        }
        if (ok != 0)
            goto bad;
    }
    out->rcpt_lines = c.pos;
    out->rcpt_lines_end = c.pos;
    for (;;) {
        int rc = next_line(&c, XMAIL_SPOOL_LINE_MAX, false, &start, &n, &terminated);
        if (rc < 0)
            goto bad;
        if (rc == 0)
            break;
        const char *s = data + start;
        if (n == sizeof DATA_MARKER - 1 && memcmp(s, DATA_MARKER, n) == 0) {
            if (stage != XMAIL_STAGE_POST_DATA) {
                fail(&c, c.line, "%s at %s (only post-data files carry the message)",
                     DATA_MARKER, xmail_stage_name(stage));
                goto bad;
            }
            out->has_data = true;
            out->data_marker = start;
            break;
        }
        if (check_text(&c, s, n, "a RCPT TO line") != 0 || parse_rcpt(&c, s, n, out) != 0)
            goto bad;
        out->rcpt_lines_end = c.pos;
    }
    if (stage == XMAIL_STAGE_POST_DATA && !out->has_data) {
        fail(&c, c.line + 1, "no %s line after the envelope (a post-data file must have one)",
             DATA_MARKER);
        goto bad;
    }
    if (stage != XMAIL_STAGE_POST_RCPT && out->rcpt_count == 0) {
        fail(&c, 5, "no RCPT TO line (at %s every recipient is in the file)",
             xmail_stage_name(stage));
        goto bad;
    }
    if (out->has_data && parse_message(&c, out) != 0)
        goto bad;
    return 0;
bad:
    xmail_spool_free(out);
    return -1;
}

void xmail_spool_free(xmail_spool *s)
{
    if (s == NULL)
        return;
    free(s->helo);
    free(s->client_ip);
    free(s->server_name);
    free(s->server_ip);
    free(s->date);
    free(s->logo);
    free(s->smtp_domain);
    free(s->message_id);
    free(s->mail_from);
    free(s->mail_params);
    for (size_t i = 0; i < s->rcpt_count; i++) {
        free(s->rcpts[i].address);
        free(s->rcpts[i].real);
    }
    free(s->rcpts);
    free(s->fields);
    memset(s, 0, sizeof *s);
}

/* ------------------------------------------------------------ rewrite */

/* "Name:" and the value with every line ending in CRLF; a line break
 * must be folding (followed by SP or TAB), or the value would start a
 * field of its own. */
static int put_field(strbuf *out, const char *name, const char *value, char *err, size_t err_size)
{
    size_t name_len = strlen(name);
    if (!mailtext_header_name_valid(name, name_len)) {
        snprintf(err, err_size, "\"%s\" is not a header field name", name);
        return -1;
    }
    strbuf_append(out, name, name_len);
    strbuf_putc(out, ':');
    size_t n = strlen(value);
    for (size_t i = 0; i < n; i++) {
        char ch = value[i];
        if (ch == '\r' && i + 1 < n && value[i + 1] == '\n')
            continue; /* CRLF: written at the LF */
        if (ch == '\r' || ch == '\0') {
            snprintf(err, err_size, "the %s value holds a bare CR", name);
            return -1;
        }
        if (ch == '\n') {
            if (i + 1 >= n || (value[i + 1] != ' ' && value[i + 1] != '\t')) {
                snprintf(err, err_size, "the %s value has a line break that is not folding",
                         name);
                return -1;
            }
            strbuf_puts(out, "\r\n");
            continue;
        }
        strbuf_putc(out, ch);
    }
    strbuf_puts(out, "\r\n");
    return 0;
}

static bool same_name(const char *data, const xmail_field *f, const char *name)
{
    return strlen(name) == f->name_len && strncasecmp(data + f->start, name, f->name_len) == 0;
}

/* The field index (into spool->fields) of the index-th field named name,
 * or -1. */
static long find_field(const char *data, const xmail_spool *spool, const char *name,
                       unsigned index)
{
    unsigned seen = 0;
    for (size_t i = 0; i < spool->field_count; i++)
        if (same_name(data, &spool->fields[i], name) && ++seen == index)
            return (long)i;
    return -1;
}

/* Original bytes of a field; a last field without its line end gets one
 * when more follows. */
static void put_original(strbuf *out, const char *data, const xmail_field *f)
{
    strbuf_append(out, data + f->start, f->end - f->start);
    if (f->end - f->start < 2 || data[f->end - 1] != '\n')
        strbuf_puts(out, "\r\n");
}

/* An address XMail can take back in "RCPT TO:<a> {ra=a}": no controls,
 * no angle brackets, braces or spaces, and within SMTP's path length. */
static bool rcpt_address_ok(const char *a)
{
    size_t n = strlen(a);
    if (n == 0 || n > 256 || strchr(a, '@') == NULL)
        return false;
    for (const char *p = a; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f || strchr("<>{}", *p) != NULL)
            return false;
    return true;
}

int xmail_spool_rewrite(const char *data, const xmail_spool *spool, const xmail_edit *edits,
                        size_t edit_count, const char *const *rcpts, size_t rcpt_count,
                        strbuf *out, char *err, size_t err_size)
{
    if (!spool->has_data) {
        snprintf(err, err_size, "the file has no message to edit");
        return -1;
    }
    for (size_t i = 0; rcpts != NULL && i < rcpt_count; i++) {
        if (!rcpt_address_ok(rcpts[i])) {
            snprintf(err, err_size, "recipient %zu is not an address a RCPT TO line can hold",
                     i + 1);
            return -1;
        }
    }
    if (rcpts != NULL && rcpt_count == 0) {
        snprintf(err, err_size, "no recipient to put in the RCPT TO lines");
        return -1;
    }
    /* Per original field: -1 kept, -2 deleted, else the edit replacing it. */
    long *fate = calloc(spool->field_count ? spool->field_count : 1, sizeof *fate);
    if (fate == NULL) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < spool->field_count; i++)
        fate[i] = -1;
    bool *appended = calloc(edit_count ? edit_count : 1, sizeof *appended);
    if (appended == NULL) {
        free(fate);
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    for (size_t k = 0; k < edit_count; k++) {
        const xmail_edit *e = &edits[k];
        if (e->op == XMAIL_EDIT_APPEND) {
            appended[k] = true;
        } else if (e->op == XMAIL_EDIT_CHANGE || e->op == XMAIL_EDIT_DELETE) {
            long at = e->index ? find_field(data, spool, e->name, e->index) : -1;
            if (at >= 0)
                fate[at] = e->op == XMAIL_EDIT_DELETE ? -2 : (long)k;
            else if (e->op == XMAIL_EDIT_CHANGE)
                appended[k] = true; /* fewer fields of that name: added */
        }
    }
    int rc = 0;
    if (rcpts == NULL) {
        strbuf_append(out, data, spool->message);
    } else {
        strbuf_append(out, data, spool->rcpt_lines);
        for (size_t i = 0; i < rcpt_count; i++)
            strbuf_printf(out, "RCPT TO:<%s> {ra=%s}\r\n", rcpts[i], rcpts[i]);
        strbuf_append(out, data + spool->rcpt_lines_end, spool->message - spool->rcpt_lines_end);
    }
    /* Each insertion goes above the ones before it, as milter's
     * insheader at index 0 does: the trace fields end in the same order
     * behind Postfix and behind XMail. */
    for (size_t k = edit_count; k-- > 0 && rc == 0;)
        if (edits[k].op == XMAIL_EDIT_INSERT_TOP)
            rc = put_field(out, edits[k].name, edits[k].value ? edits[k].value : "", err,
                           err_size);
    for (size_t i = 0; i < spool->field_count && rc == 0; i++) {
        if (fate[i] == -1)
            put_original(out, data, &spool->fields[i]);
        else if (fate[i] >= 0)
            rc = put_field(out, edits[fate[i]].name, edits[fate[i]].value, err, err_size);
    }
    for (size_t k = 0; k < edit_count && rc == 0; k++)
        if (appended[k])
            rc = put_field(out, edits[k].name, edits[k].value ? edits[k].value : "", err,
                           err_size);
    if (rc == 0)
        strbuf_append(out, data + spool->header_end, spool->size - spool->header_end);
    free(fate);
    free(appended);
    if (rc == 0 && out->failed) {
        snprintf(err, err_size, "out of memory");
        rc = -1;
    }
    return rc;
}

const char *xmail_stage_name(xmail_stage stage)
{
    switch (stage) {
    case XMAIL_STAGE_POST_RCPT: return "post-rcpt";
    case XMAIL_STAGE_PRE_DATA: return "pre-data";
    case XMAIL_STAGE_POST_DATA: return "post-data";
    }
    return "?";
}

int xmail_stage_parse(const char *name)
{
    for (int s = XMAIL_STAGE_POST_RCPT; s <= XMAIL_STAGE_POST_DATA; s++)
        if (strcmp(name, xmail_stage_name((xmail_stage)s)) == 0)
            return s;
    return -1;
}
