/* socketmap.c: the Postfix socketmap codec; see socketmap.h. The netstring
 * is checked where its bytes arrive: the length is refused at the digit
 * that takes it past the limit, so a client never makes us wait for (or
 * store) more than the limit. */
#include "socketmap.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int socketmap_parser_init(socketmap_parser *parser, size_t max)
{
    memset(parser, 0, sizeof *parser);
    parser->max = max ? max : SOCKETMAP_REQUEST_MAX;
    parser->buf = malloc(parser->max + 1);
    return parser->buf != NULL ? 0 : -1;
}

void socketmap_parser_free(socketmap_parser *parser)
{
    free(parser->buf);
    memset(parser, 0, sizeof *parser);
}

const char *socketmap_parser_error(const socketmap_parser *parser)
{
    return parser->error;
}

static void reset(socketmap_parser *parser)
{
    parser->state = SM_LENGTH;
    parser->digits = 0;
    parser->want = 0;
    parser->len = 0;
    parser->complete = false;
    parser->name = parser->key = NULL;
    parser->key_len = 0;
}

/* A byte as a message shows it: 'x', or 0xNN when it is not printable. */
static void describe(char *out, size_t size, unsigned char c)
{
    if (c >= 0x21 && c <= 0x7e)
        snprintf(out, size, "'%c'", c);
    else
        snprintf(out, size, "0x%02X", c);
}

__attribute__((format(printf, 2, 3))) static socketmap_status fail(socketmap_parser *parser,
                                                                   const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(parser->error, sizeof parser->error, fmt, ap);
    va_end(ap);
    parser->state = SM_FAILED;
    return SOCKETMAP_ERROR;
}

__attribute__((format(printf, 2, 3))) static socketmap_status bad(socketmap_parser *parser,
                                                                  const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(parser->error, sizeof parser->error, fmt, ap);
    va_end(ap);
    parser->complete = true; /* the next feed starts a new netstring */
    return SOCKETMAP_BAD_REQUEST;
}

/* The payload is whole: "NAME KEY". */
static socketmap_status finish(socketmap_parser *parser)
{
    char *p = parser->buf;
    size_t n = parser->len;
    p[n] = '\0';
    if (memchr(p, '\0', n) != NULL)
        return bad(parser, "NUL byte in the request");
    char *space = memchr(p, ' ', n);
    if (space == NULL)
        return bad(parser, "no space between the map name and the key");
    size_t name_len = (size_t)(space - p);
    if (name_len == 0)
        return bad(parser, "empty map name");
    if (name_len > SOCKETMAP_NAME_MAX)
        return bad(parser, "map name longer than %d bytes", SOCKETMAP_NAME_MAX);
    for (size_t i = 0; i < name_len; i++) {
        if ((unsigned char)p[i] < 0x21 || (unsigned char)p[i] > 0x7e) {
            char what[8];
            describe(what, sizeof what, (unsigned char)p[i]);
            return bad(parser, "map name: byte %s at offset %zu is not printable ASCII", what,
                       i);
        }
    }
    *space = '\0';
    parser->name = p;
    parser->key = space + 1;
    parser->key_len = n - name_len - 1;
    parser->complete = true;
    return SOCKETMAP_REQUEST;
}

socketmap_status socketmap_parser_feed(socketmap_parser *parser, const char *data, size_t len,
                                       size_t *consumed)
{
    *consumed = 0;
    if (parser->state == SM_FAILED)
        return SOCKETMAP_ERROR;
    if (parser->complete)
        reset(parser);
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)data[i];
        char what[8];
        switch (parser->state) {
        case SM_LENGTH:
            if (c >= '0' && c <= '9') {
                if (parser->digits == 1 && parser->want == 0) {
                    *consumed = i + 1;
                    return fail(parser, "netstring length with a leading zero");
                }
                size_t d = (size_t)(c - '0');
                /* Refused at the digit that passes the limit: never an
                 * overflow, never a wait for the bytes announced. */
                if (parser->want > parser->max / 10 || parser->want * 10 + d > parser->max) {
                    *consumed = i + 1;
                    return fail(parser, "netstring longer than %zu bytes", parser->max);
                }
                parser->want = parser->want * 10 + d;
                parser->digits++;
                i++;
                continue;
            }
            if (c == ':' && parser->digits > 0) {
                i++;
                parser->state = parser->want > 0 ? SM_DATA : SM_COMMA;
                continue;
            }
            *consumed = i + 1;
            describe(what, sizeof what, c);
            return fail(parser, "netstring length: expected a digit%s, not %s",
                        parser->digits > 0 ? " or ':'" : "", what);
        case SM_DATA: {
            size_t take = parser->want - parser->len;
            if (take > len - i)
                take = len - i;
            memcpy(parser->buf + parser->len, data + i, take);
            parser->len += take;
            i += take;
            if (parser->len == parser->want)
                parser->state = SM_COMMA;
            continue;
        }
        case SM_COMMA:
            *consumed = i + 1;
            if (c != ',') {
                describe(what, sizeof what, c);
                return fail(parser, "expected ',' after the %zu bytes of the netstring, not %s",
                            parser->want, what);
            }
            return finish(parser);
        case SM_FAILED:
            break;
        }
    }
    *consumed = len;
    return SOCKETMAP_NEED_MORE;
}

const char *socketmap_reply_name(socketmap_reply_kind kind)
{
    switch (kind) {
    case SOCKETMAP_OK: return "OK";
    case SOCKETMAP_NOTFOUND: return "NOTFOUND";
    case SOCKETMAP_TEMP: return "TEMP";
    case SOCKETMAP_TIMEOUT: return "TIMEOUT";
    case SOCKETMAP_PERM: return "PERM";
    }
    return "PERM";
}

int socketmap_reply(strbuf *out, socketmap_reply_kind kind, const char *text, size_t len,
                    char *err, size_t err_size)
{
    const char *word = socketmap_reply_name(kind);
    size_t payload = strlen(word) + 1 + len;
    if (kind == SOCKETMAP_OK && len == 0) {
        snprintf(err, err_size, "an OK reply needs data");
        return -1;
    }
    if (payload > SOCKETMAP_REPLY_MAX) {
        snprintf(err, err_size, "a reply of %zu bytes is longer than Postfix takes (%d)", payload,
                 SOCKETMAP_REPLY_MAX);
        return -1;
    }
    strbuf_printf(out, "%zu:%s ", payload, word);
    if (kind == SOCKETMAP_OK) {
        strbuf_append(out, text, len);
    } else {
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)text[i];
            strbuf_putc(out, c >= 0x20 && c <= 0x7e ? (char)c : '?');
        }
    }
    strbuf_putc(out, ',');
    return 0;
}
