/* socketmap.h: the Postfix socketmap protocol (socketmap_table(5)) as a pure
 * codec: an incremental request parser and a reply encoder, server side.
 * No I/O, no globals; one parser per connection.
 *
 * Every request and reply is one netstring, "LEN:DATA," (LEN in decimal,
 * without leading zeros). A request is "NAME KEY": the map name, one space,
 * the lookup key (which may hold spaces, and may be empty). A reply is
 * "OK data", "NOTFOUND ", "TEMP reason", "TIMEOUT reason" or "PERM reason". */
#ifndef DA_SOCKETMAP_H
#define DA_SOCKETMAP_H

#include <stdbool.h>
#include <stddef.h>

#include "util/strbuf.h"

enum {
    /* The longest request, without the netstring's framing. Postfix's own
     * client takes replies of up to 100000 bytes, but the keys served here
     * are addresses: at most 256 octets in SMTP (RFC 5321 4.5.3.1.3), and
     * SRS_ADDRESS_MAX (1024) for an SRS address near its limit. 2048 bytes
     * hold any of them with a map name, and nothing that is no address
     * costs more memory than this per connection. */
    SOCKETMAP_REQUEST_MAX = 2048,
    SOCKETMAP_NAME_MAX = 64,       /* a map name: printable, no space */
    /* The longest reply text Postfix accepts (dict_sockmap's limit), the
     * status word and its space included. */
    SOCKETMAP_REPLY_MAX = 100000,
};

typedef enum socketmap_status {
    SOCKETMAP_NEED_MORE = 0, /* every byte fed was used; feed more */
    SOCKETMAP_REQUEST,       /* a request: read it, reply, feed the rest */
    SOCKETMAP_BAD_REQUEST,   /* a whole netstring that is no request (no space, an
                                empty or bad map name, a NUL): reply PERM; the
                                stream is still in step, so the next may follow */
    SOCKETMAP_ERROR,         /* the netstring itself is malformed or too long: the
                                stream cannot be followed further. Reply PERM and
                                close; the parser refuses every later byte */
} socketmap_status;

typedef struct socketmap_parser {
    size_t max;          /* the longest payload taken */
    enum { SM_LENGTH, SM_DATA, SM_COMMA, SM_FAILED } state;
    size_t digits;       /* of LEN so far */
    size_t want;         /* LEN, once read */
    char *buf;           /* the payload so far; max + 1 bytes */
    size_t len;
    bool complete;       /* the last feed returned a request: start anew */
    /* The request, valid until the next feed (pointers into buf, both
     * NUL-terminated: the key holds no NUL). */
    const char *name, *key;
    size_t key_len;
    char error[160];
} socketmap_parser;

/* max is the longest payload accepted (0: SOCKETMAP_REQUEST_MAX). Returns
 * 0, or -1 when out of memory. */
int socketmap_parser_init(socketmap_parser *parser, size_t max);
void socketmap_parser_free(socketmap_parser *parser);

/* Uses bytes from data until a request is whole (or bad), or data runs out;
 * *consumed says how many (never more than len). Call again with the rest:
 * several requests in one read and one request over many reads both work.
 * Each netstring gives one SOCKETMAP_REQUEST or SOCKETMAP_BAD_REQUEST, so
 * one reply per result keeps the connection in step. */
socketmap_status socketmap_parser_feed(socketmap_parser *parser, const char *data, size_t len,
                                       size_t *consumed);
/* After SOCKETMAP_BAD_REQUEST or SOCKETMAP_ERROR: why, naming the byte. */
const char *socketmap_parser_error(const socketmap_parser *parser);

typedef enum socketmap_reply_kind {
    SOCKETMAP_OK,       /* data: the value found (not empty) */
    SOCKETMAP_NOTFOUND, /* the text is optional */
    SOCKETMAP_TEMP,     /* a temporary failure: Postfix tries again later */
    SOCKETMAP_TIMEOUT,
    SOCKETMAP_PERM,     /* a permanent failure (a bad request) */
} socketmap_reply_kind;

/* Appends one reply netstring to out. The text (len bytes; may be NULL
 * when len is 0) is sent as it is for OK; for the others it is made one
 * printable line (control and 8-bit bytes -> '?'). Returns 0, or -1 with
 * why in err (OK without data, a reply over SOCKETMAP_REPLY_MAX) and out
 * unchanged. */
int socketmap_reply(strbuf *out, socketmap_reply_kind kind, const char *text, size_t len,
                    char *err, size_t err_size);

/* "OK", "NOTFOUND", ...: for logs and counters. */
const char *socketmap_reply_name(socketmap_reply_kind kind);

#endif
