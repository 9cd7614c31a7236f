/* xmail_wire.h: how `domauth xmail-filter` hands a check to a running
 * domauthd over its control socket, and gets the verdict back, as a pure
 * codec (no I/O). The filter keeps the file and its rights; the daemon
 * keeps the DNS cache, the parsed records and the event store.
 *
 * Request, one line then the file's bytes:
 *   xmail-check STAGE LENGTH RCPT AUTH LF <LENGTH bytes>
 * STAGE is post-rcpt, pre-data or post-data; RCPT (the recipient being
 * checked at post-rcpt) and AUTH (the SMTP AUTH user) are "-" when none,
 * else percent-encoded (every byte below 0x21, 0x7f and '%').
 *
 * Answer, lines, the connection closed after it:
 *   ok ACTION HOLD                ACTION: accept redirect quarantine defer reject
 *   reply TEXT                    (optional) the SMTP reply
 *   redirect ADDRESS              (optional) ACTION redirect's mailbox
 *   summary TEXT                  (optional) the verdict in words
 *   edit OP INDEX NAMELEN VALUELEN LF NAME VALUE LF   (any number)
 *   end
 * or one line "error TEXT". OP is insert, append, change or delete; VALUE
 * is the field's value as the service made it (unfolded, or folded with
 * CRLF where it came from the message), any bytes. */
#ifndef DA_PROTO_XMAIL_WIRE_H
#define DA_PROTO_XMAIL_WIRE_H

#include <stdbool.h>
#include <stddef.h>

#include "proto/xmail_spool.h"
#include "util/strbuf.h"

enum {
    XMAIL_WIRE_LINE_MAX = 2048,           /* a request's first line, an answer's text lines */
    XMAIL_WIRE_ANSWER_MAX = 4 * 1024 * 1024,
    XMAIL_WIRE_EDITS_MAX = 64,
    /* The daemon takes files up to this; the filter checks larger ones
     * in-process (the daemon must not hold hundreds of MB per session). */
    XMAIL_WIRE_FILE_MAX = 16 * 1024 * 1024,
};

typedef struct xmail_wire_request {
    xmail_stage stage;
    size_t length;
    char rcpt[512];  /* decoded; "" when none */
    char auth[512];
} xmail_wire_request;

typedef struct xmail_wire_edit {
    xmail_edit_op op;
    unsigned index;
    char *name;
    char *value;    /* NULL for delete */
    size_t value_len;
} xmail_wire_edit;

typedef struct xmail_wire_answer {
    char action[16];
    bool hold;
    char *reply, *redirect, *summary; /* NULL when absent */
    xmail_wire_edit *edits;
    size_t edit_count;
    char *error;    /* an "error" answer: its text; nothing else is set */
} xmail_wire_answer;

/* Writes the request line (not the file). Returns -1 when rcpt or auth is
 * too long. */
int xmail_wire_put_request(strbuf *out, xmail_stage stage, size_t length, const char *rcpt,
                           const char *auth);
/* Parses a request line (without its LF). 0, or -1 with why in err. */
int xmail_wire_parse_request(const char *line, size_t len, xmail_wire_request *out, char *err,
                             size_t err_size);

/* The answer's parts, in order: xmail_wire_put_ok, then optional text
 * lines and edits, then xmail_wire_put_end. Text is made one printable
 * line (controls become spaces). */
void xmail_wire_put_ok(strbuf *out, const char *action, bool hold);
void xmail_wire_put_text(strbuf *out, const char *key, const char *text);
int xmail_wire_put_edit(strbuf *out, xmail_edit_op op, unsigned index, const char *name,
                        const char *value);
void xmail_wire_put_end(strbuf *out);
void xmail_wire_put_error(strbuf *out, const char *text);

/* Parses a whole answer (up to and including "end", or an error line).
 * 0 with *out filled (free with xmail_wire_answer_free), 1 when more bytes
 * are needed, -1 with why in err when it is not an answer. */
int xmail_wire_parse_answer(const char *data, size_t len, xmail_wire_answer *out, char *err,
                            size_t err_size);
void xmail_wire_answer_free(xmail_wire_answer *a);

#endif
