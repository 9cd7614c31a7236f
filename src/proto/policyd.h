/* policyd.h: the Postfix SMTP access policy delegation protocol
 * (SMTPD_POLICY_README) as a pure codec: an incremental request parser and
 * reply encoders. No I/O, no globals; one parser per connection. */
#ifndef DA_POLICYD_H
#define DA_POLICYD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/strbuf.h"

/* A request is lines "name=value\n" ended by an empty line. Names are
 * [a-z0-9_]+ (Postfix uses [a-z_]; digits are let in so a future attribute
 * does not break us); the value is everything after the first '=' and may
 * hold '='. A CR before the LF is dropped (for requests typed by hand).
 * Unknown names are kept. A name given twice is an error: Postfix never
 * does it, and a security decision should not rest on which copy wins. */
enum {
    POLICYD_DEFAULT_MAX_LINE = 2048,     /* Postfix's line_length_limit */
    POLICYD_DEFAULT_MAX_ATTRIBUTES = 64, /* Postfix 3.7 sends about 30 */
    POLICYD_DEFAULT_MAX_REQUEST = 32768,
};

typedef struct policyd_limits {
    size_t max_line;       /* bytes in one line without its LF; 0: default */
    size_t max_attributes; /* 0: default */
    size_t max_request;    /* bytes of one request, LFs included; 0: default */
} policyd_limits;

typedef enum policyd_status {
    POLICYD_NEED_MORE = 0, /* every byte fed was used; feed more */
    POLICYD_REQUEST,       /* a complete request: read it, reply, feed the rest */
    POLICYD_ERROR,         /* this request is bad: reply (e.g. DEFER_IF_PERMIT)
                              or close; the parser skips to its end by itself */
} policyd_status;

/* The attributes domauth uses; NULL when absent. Valid until the next feed. */
typedef struct policyd_request {
    const char *request;             /* "smtpd_access_policy" */
    const char *protocol_state;      /* CONNECT, EHLO, HELO, MAIL, RCPT, DATA, END-OF-MESSAGE, ... */
    const char *protocol_name;       /* SMTP, ESMTP */
    const char *helo_name;
    const char *queue_id;
    const char *sender;              /* "" for the null sender */
    const char *recipient;
    const char *recipient_count;
    const char *client_address;
    const char *client_name;         /* "unknown" when it did not verify */
    const char *client_port;
    const char *reverse_client_name;
    const char *instance;            /* the same for every request of one message */
    const char *sasl_method;
    const char *sasl_username;
    const char *sasl_sender;
    const char *size;
    const char *ccert_subject;
    const char *ccert_issuer;
    const char *ccert_fingerprint;
    const char *ccert_pubkey_fingerprint;
    const char *encryption_protocol;
    const char *encryption_cipher;
    const char *encryption_keysize;
    const char *etrn_domain;
    const char *stress;
    const char *server_address;
    const char *server_port;
    const char *policy_context;
    const char *compatibility_level;
    const char *mail_version;
} policyd_request;

typedef struct policyd_attribute {
    const char *name;
    const char *value;
    size_t value_len;
} policyd_attribute;

/* Where one attribute lies in the request buffer (offsets, because the
 * buffer may move while it grows). */
typedef struct policyd_slot {
    size_t name;
    size_t name_len;
    size_t value;
    size_t value_len;
    int known;            /* index among the known attributes, or -1 */
} policyd_slot;

typedef struct policyd_parser {
    policyd_limits limits;
    char *buf;            /* the request so far: "name\0value\0" per line */
    size_t len, cap;
    size_t line_start;    /* where the line being received begins in buf */
    policyd_slot *slots;  /* limits.max_attributes of them */
    size_t count;
    uint64_t known_seen;  /* bit k: known attribute k was given */
    int last_known;       /* the last known attribute given, -1 before any */
    bool complete;        /* the last feed returned a request: reset first */
    bool skipping;        /* after an error: discard to the end of the request */
    bool skip_line_empty; /* while skipping: the current line is empty so far */
    policyd_request request;
    char error[160];
} policyd_parser;

/* limits may be NULL. Returns 0, or -1 when out of memory. */
int policyd_parser_init(policyd_parser *parser, const policyd_limits *limits);
void policyd_parser_free(policyd_parser *parser);

/* Uses bytes from data until a request is complete, a request turns out
 * bad, or data runs out; *consumed says how many (never more than len).
 * Call again with the rest: several requests in one read and one request
 * over many reads both work. Each request gives exactly one
 * POLICYD_REQUEST or one POLICYD_ERROR, so replying once per result keeps
 * the connection in step. */
policyd_status policyd_parser_feed(policyd_parser *parser, const char *data, size_t len,
                                   size_t *consumed);
/* After POLICYD_REQUEST, until the next feed. */
const policyd_request *policyd_parser_request(const policyd_parser *parser);
size_t policyd_parser_attribute_count(const policyd_parser *parser);
bool policyd_parser_attribute(const policyd_parser *parser, size_t index,
                              policyd_attribute *out);
const char *policyd_parser_get(const policyd_parser *parser, const char *name);
/* After POLICYD_ERROR: why. */
const char *policyd_parser_error(const policyd_parser *parser);

/* Replies. Each appends "action=...\n\n" to out. Text is made one line
 * (CR, LF, TAB -> space; other control and 8-bit bytes -> '?'), trimmed
 * and cut at MAILTEXT_REPLY_TEXT_MAX bytes; it may be NULL. */
void policyd_reply_dunno(strbuf *out);
/* action: a word of letters and '_' (OK, DUNNO, REJECT, DEFER,
 * DEFER_IF_PERMIT, DEFER_IF_REJECT, WARN, INFO, HOLD, DISCARD, ...;
 * Postfix ignores case), then the text. */
int policyd_reply_action(strbuf *out, const char *action, const char *text, char *err,
                         size_t err_size);
/* "action=550 5.7.1 text": code 4xx/5xx, enhanced (NULL/"" for none)
 * x.y.z with x the code's class. */
int policyd_reply_code(strbuf *out, unsigned code, const char *enhanced, const char *text,
                       char *err, size_t err_size);
/* "action=PREPEND Name: value": value made one line (the protocol has no
 * folding); -1 when the header would exceed 998 bytes. */
int policyd_reply_prepend(strbuf *out, const char *name, const char *value, char *err,
                          size_t err_size);

#endif
