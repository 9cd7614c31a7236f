/* policyd.c: the Postfix policy delegation codec; see policyd.h. Input is
 * bounded where it arrives (line, attribute and request limits are checked
 * before a byte is stored) and a bad request never desynchronises the next. */
#include "util/errbuf.h"
#include "policyd.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg/mailtext.h"

/* Known attribute names and where their value goes in policyd_request. */
#define FIELD(name) {#name, sizeof #name - 1, offsetof(policyd_request, name)}
static const struct known_attribute {
    const char *name;
    size_t len;
    size_t offset;
} known_attributes[] = {
    FIELD(request), FIELD(protocol_state), FIELD(protocol_name), FIELD(helo_name),
    FIELD(queue_id), FIELD(sender), FIELD(recipient), FIELD(recipient_count),
    FIELD(client_address), FIELD(client_name), FIELD(client_port), FIELD(reverse_client_name),
    FIELD(instance), FIELD(sasl_method), FIELD(sasl_username), FIELD(sasl_sender), FIELD(size),
    FIELD(ccert_subject), FIELD(ccert_issuer), FIELD(ccert_fingerprint),
    FIELD(ccert_pubkey_fingerprint), FIELD(encryption_protocol), FIELD(encryption_cipher),
    FIELD(encryption_keysize), FIELD(etrn_domain), FIELD(stress), FIELD(server_address),
    FIELD(server_port), FIELD(policy_context), FIELD(compatibility_level), FIELD(mail_version),
};
#undef FIELD
enum { KNOWN_COUNT = sizeof known_attributes / sizeof known_attributes[0] };
_Static_assert(KNOWN_COUNT <= 64, "known_seen is a 64-bit mask");

int policyd_parser_init(policyd_parser *parser, const policyd_limits *limits)
{
    memset(parser, 0, sizeof *parser);
    parser->limits.max_line = POLICYD_DEFAULT_MAX_LINE;
    parser->limits.max_attributes = POLICYD_DEFAULT_MAX_ATTRIBUTES;
    parser->limits.max_request = POLICYD_DEFAULT_MAX_REQUEST;
    if (limits != NULL && limits->max_line)
        parser->limits.max_line = limits->max_line;
    if (limits != NULL && limits->max_attributes)
        parser->limits.max_attributes = limits->max_attributes;
    if (limits != NULL && limits->max_request)
        parser->limits.max_request = limits->max_request;
    parser->slots = calloc(parser->limits.max_attributes, sizeof *parser->slots);
    return parser->slots != NULL ? 0 : -1;
}

void policyd_parser_free(policyd_parser *parser)
{
    free(parser->buf);
    free(parser->slots);
    memset(parser, 0, sizeof *parser);
}

static void reset_request(policyd_parser *parser)
{
    parser->len = 0;
    parser->line_start = 0;
    parser->count = 0;
    parser->known_seen = 0;
    parser->last_known = -1;
    parser->complete = false;
    memset(&parser->request, 0, sizeof parser->request);
}

/* Reports a bad request once and discards the rest of it: the next empty
 * line ends the skip. line_done says whether the offending line's LF has
 * already been consumed (then the next line starts empty). */
__attribute__((format(printf, 3, 4))) static policyd_status
request_fail(policyd_parser *parser, bool line_done, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(parser->error, sizeof parser->error, fmt, ap);
    va_end(ap);
    reset_request(parser);
    parser->skipping = true;
    parser->skip_line_empty = line_done;
    return POLICYD_ERROR;
}

static bool reserve(policyd_parser *parser, size_t extra)
{
    size_t need = parser->len + extra;
    if (need <= parser->cap)
        return true;
    size_t cap = parser->cap ? parser->cap * 2 : 512;
    while (cap < need)
        cap *= 2;
    char *p = realloc(parser->buf, cap);
    if (p == NULL)
        return false;
    parser->buf = p;
    parser->cap = cap;
    return true;
}

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* Every request carries some 30 attributes: names are matched by length
 * first, and a known name's repeat is one bit, so a request costs no
 * quadratic run of strcmp. */
static int known_index(const char *name, size_t len, int guess)
{
    /* Postfix sends the attributes in one order, which this table follows
     * for the most part: the name after the last one known is tried first. */
    if (guess >= 0 && guess < KNOWN_COUNT && known_attributes[guess].len == len &&
        memcmp(known_attributes[guess].name, name, len) == 0)
        return guess;
    for (int k = 0; k < KNOWN_COUNT; k++)
        if (known_attributes[k].len == len && memcmp(known_attributes[k].name, name, len) == 0)
            return k;
    return -1;
}

static bool unknown_seen(const policyd_parser *parser, const char *name, size_t len)
{
    for (size_t i = 0; i < parser->count; i++) {
        const policyd_slot *slot = &parser->slots[i];
        if (slot->known < 0 && slot->name_len == len &&
            memcmp(parser->buf + slot->name, name, len) == 0)
            return true;
    }
    return false;
}

/* Points the known fields at their values; the buffer no longer moves. */
static policyd_status finish_request(policyd_parser *parser)
{
    for (size_t i = 0; i < parser->count; i++) {
        const policyd_slot *slot = &parser->slots[i];
        if (slot->known < 0)
            continue;
        const char **field =
            (const char **)((char *)&parser->request + known_attributes[slot->known].offset);
        *field = parser->buf + slot->value;
    }
    parser->complete = true;
    return POLICYD_REQUEST;
}

/* A whole line (without its LF) is at buf + line_start. Stores it as an
 * attribute, ends the request (empty line), or fails. */
static policyd_status end_line(policyd_parser *parser)
{
    char *line = parser->buf + parser->line_start;
    size_t line_len = parser->len - parser->line_start;
    if (line_len > 0 && line[line_len - 1] == '\r')
        line_len--;
    if (line_len == 0) {
        if (parser->count == 0) {
            /* Nothing to skip: the request already ended. */
            policyd_status status = request_fail(parser, true, "empty request");
            parser->skipping = false;
            return status;
        }
        return finish_request(parser);
    }
    if (memchr(line, '\0', line_len) != NULL)
        return request_fail(parser, true, "attribute %zu holds a NUL byte", parser->count + 1);
    /* The name is checked while the '=' is looked for: one pass. */
    size_t name_len = 0;
    while (name_len < line_len && name_char(line[name_len]))
        name_len++;
    if (name_len == line_len || line[name_len] != '=') {
        if (memchr(line + name_len, '=', line_len - name_len) == NULL)
            return request_fail(parser, true, "line %zu is not name=value", parser->count + 1);
        return request_fail(parser, true, "attribute name %zu is not [a-z0-9_]+",
                            parser->count + 1);
    }
    if (name_len == 0)
        return request_fail(parser, true, "attribute name %zu is not [a-z0-9_]+",
                            parser->count + 1);
    char *equals = line + name_len;
    if (parser->count == parser->limits.max_attributes)
        return request_fail(parser, true, "more than %zu attributes",
                            parser->limits.max_attributes);
    *equals = '\0';
    line[line_len] = '\0';
    int known = known_index(line, name_len, parser->last_known + 1);
    if (known >= 0 ? (parser->known_seen >> known & 1) != 0 : unknown_seen(parser, line, name_len))
        return request_fail(parser, true, "attribute %.40s given twice", line);
    if (known >= 0) {
        parser->known_seen |= UINT64_C(1) << known;
        parser->last_known = known;
    }
    policyd_slot *slot = &parser->slots[parser->count++];
    slot->known = known;
    slot->name_len = name_len;
    slot->name = parser->line_start;
    slot->value = parser->line_start + name_len + 1;
    slot->value_len = line_len - name_len - 1;
    parser->len = parser->line_start + line_len + 1;
    parser->line_start = parser->len;
    return POLICYD_NEED_MORE;
}

/* While skipping a bad request: consumes up to and including one LF.
 * Returns the bytes used. */
static size_t skip_some(policyd_parser *parser, const char *data, size_t len)
{
    const char *lf = memchr(data, '\n', len);
    size_t end = lf != NULL ? (size_t)(lf - data) : len;
    for (size_t i = 0; i < end; i++)
        if (data[i] != '\r')
            parser->skip_line_empty = false;
    if (lf == NULL)
        return len;
    if (parser->skip_line_empty)
        parser->skipping = false; /* that was the empty line ending the request */
    parser->skip_line_empty = true;
    return end + 1;
}

policyd_status policyd_parser_feed(policyd_parser *parser, const char *data, size_t len,
                                   size_t *consumed)
{
    size_t used = 0;
    *consumed = 0;
    if (parser->complete)
        reset_request(parser);
    while (used < len) {
        if (parser->skipping) {
            used += skip_some(parser, data + used, len - used);
            *consumed = used;
            continue;
        }
        const char *lf = memchr(data + used, '\n', len - used);
        size_t chunk = lf != NULL ? (size_t)(lf - (data + used)) : len - used;
        size_t line_len = parser->len - parser->line_start + chunk;
        if (line_len > parser->limits.max_line) {
            *consumed = used + chunk;
            return request_fail(parser, false, "line longer than %zu bytes",
                                parser->limits.max_line);
        }
        /* +1: the LF, stored as the NUL that ends the value. */
        if (parser->len + chunk + 1 > parser->limits.max_request) {
            *consumed = used + chunk;
            return request_fail(parser, false, "request longer than %zu bytes",
                                parser->limits.max_request);
        }
        if (!reserve(parser, chunk + 1)) {
            *consumed = used + chunk;
            return request_fail(parser, false, "out of memory");
        }
        memcpy(parser->buf + parser->len, data + used, chunk);
        parser->len += chunk;
        used += chunk;
        *consumed = used;
        if (lf == NULL)
            break;
        used++; /* the LF */
        *consumed = used;
        policyd_status status = end_line(parser);
        if (status != POLICYD_NEED_MORE)
            return status;
    }
    return POLICYD_NEED_MORE;
}

const policyd_request *policyd_parser_request(const policyd_parser *parser)
{
    return parser->complete ? &parser->request : NULL;
}

size_t policyd_parser_attribute_count(const policyd_parser *parser)
{
    return parser->complete ? parser->count : 0;
}

bool policyd_parser_attribute(const policyd_parser *parser, size_t index,
                              policyd_attribute *out)
{
    if (!parser->complete || index >= parser->count)
        return false;
    const policyd_slot *slot = &parser->slots[index];
    out->name = parser->buf + slot->name;
    out->value = parser->buf + slot->value;
    out->value_len = slot->value_len;
    return true;
}

const char *policyd_parser_get(const policyd_parser *parser, const char *name)
{
    policyd_attribute attribute;
    for (size_t i = 0; policyd_parser_attribute(parser, i, &attribute); i++)
        if (strcmp(attribute.name, name) == 0)
            return attribute.value;
    return NULL;
}

const char *policyd_parser_error(const policyd_parser *parser)
{
    return parser->error;
}

/* ------------------------------------------------------------ replies */

void policyd_reply_dunno(strbuf *out)
{
    strbuf_puts(out, "action=DUNNO\n\n");
}

static bool action_word_valid(const char *action)
{
    size_t len = strlen(action);
    if (len == 0 || len > 32)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = action[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'))
            return false;
    }
    return true;
}

int policyd_reply_action(strbuf *out, const char *action, const char *text, char *err,
                         size_t err_size)
{
    if (action == NULL || !action_word_valid(action))
        return errbuf_set(err, err_size, "action \"%.40s\" is not a word of letters and '_'",
                    action ? action : "(null)");
    strbuf_printf(out, "action=%s", action);
    mailtext_reply_text(out, text, false);
    strbuf_puts(out, "\n\n");
    return 0;
}

int policyd_reply_code(strbuf *out, unsigned code, const char *enhanced, const char *text,
                       char *err, size_t err_size)
{
    strbuf line;
    strbuf_init(&line);
    if (mailtext_reply_line(&line, code, enhanced, text, false, err, err_size) != 0) {
        strbuf_free(&line);
        return -1;
    }
    strbuf_puts(out, "action=");
    strbuf_append(out, line.data, line.len);
    strbuf_puts(out, "\n\n");
    strbuf_free(&line);
    return 0;
}

int policyd_reply_prepend(strbuf *out, const char *name, const char *value, char *err,
                          size_t err_size)
{
    size_t name_len = name ? strlen(name) : 0;
    if (name == NULL || !mailtext_header_name_valid(name, name_len))
        return errbuf_set(err, err_size, "header name is empty or not printable ASCII without ':'");
    strbuf header;
    strbuf_init(&header);
    const char *v = value ? value : "";
    if (mailtext_header_one_line(&header, name_len, v, strlen(v), err, err_size) != 0) {
        strbuf_free(&header);
        return -1;
    }
    strbuf_printf(out, "action=PREPEND %s: ", name);
    strbuf_append(out, header.data ? header.data : "", header.len);
    strbuf_puts(out, "\n\n");
    strbuf_free(&header);
    return 0;
}
