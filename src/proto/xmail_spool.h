/* xmail_spool.h: the file the XMail mail server hands an SMTP-time filter
 * (filters.post-rcpt.tab, filters.pre-data.tab, filters.post-data.tab), as
 * a pure codec: a strict, bounded parser over the bytes of the file and a
 * writer that rebuilds it with header edits. No I/O; the caller reads and
 * writes the file.
 *
 * The file, every line ending in CRLF:
 *   HELO;[ClientIP]:Port;ServerDomain;[ServerIP]:Port;Date;Logo
 *   the server's SMTP domain
 *   the SMTP message id
 *   MAIL FROM:<address> [ESMTP parameters]     (as the client sent it)
 *   RCPT TO:<address> {ra=real-address}        (one per accepted recipient)
 *   <<MAIL-DATA>>                              (post-data only)
 *   the message as received
 * The first field of line 1 is the client's HELO argument, which the client
 * chooses: the other five fields are split off from the right, so a ';' in
 * the HELO name cannot forge the client address. */
#ifndef DA_PROTO_XMAIL_SPOOL_H
#define DA_PROTO_XMAIL_SPOOL_H

#include <stdbool.h>
#include <stddef.h>

#include "util/strbuf.h"

enum {
    /* An envelope line, CRLF included. XMail's own SMTP command lines are
     * shorter; a longer line is not one XMail wrote. */
    XMAIL_SPOOL_LINE_MAX = 4096,
    /* A line of the message. RFC 5322 says 998; real mail is sloppier, so
     * the bound only stops a file that is no mail at all. */
    XMAIL_SPOOL_MESSAGE_LINE_MAX = 256 * 1024,
    XMAIL_SPOOL_RCPT_MAX = 10000,
    /* Header fields of the message the parser indexes; beyond this the
     * file is refused (never some fields seen and others not). */
    XMAIL_SPOOL_FIELDS_MAX = 10000,
    /* The whole file. */
    XMAIL_SPOOL_FILE_MAX = 256 * 1024 * 1024,
};

typedef enum xmail_stage {
    XMAIL_STAGE_POST_RCPT, /* the recipient being checked is not in the file yet */
    XMAIL_STAGE_PRE_DATA,  /* every recipient is in the file, no message */
    XMAIL_STAGE_POST_DATA, /* <<MAIL-DATA>> and the message follow */
} xmail_stage;

typedef struct xmail_rcpt {
    char *address; /* without the angle brackets */
    char *real;    /* the {ra=...} value, or NULL */
} xmail_rcpt;

/* A header field of the message: offsets into the file's bytes. */
typedef struct xmail_field {
    size_t start;      /* the field's first byte */
    size_t end;        /* after its last CRLF (folded lines included) */
    size_t name_len;   /* the name starts at start */
    size_t value;      /* after the colon */
    size_t value_len;  /* up to the final CRLF (inner CRLFs of folding kept) */
} xmail_field;

typedef struct xmail_spool {
    /* line 1 */
    char *helo;          /* may be empty */
    char *client_ip;     /* without brackets: "192.0.2.1", "2001:db8::1" */
    unsigned client_port;
    char *server_name;   /* line 1's third field */
    char *server_ip;
    unsigned server_port;
    char *date, *logo;
    /* lines 2 to 4 */
    char *smtp_domain;
    char *message_id;
    char *mail_from;     /* without brackets; "" for the null sender */
    char *mail_params;   /* the ESMTP parameters after '>', "" when none */
    xmail_rcpt *rcpts;
    size_t rcpt_count;
    size_t rcpt_lines;     /* the first RCPT TO line's first byte */
    size_t rcpt_lines_end; /* after the last RCPT TO line */
    /* post-data */
    bool has_data;
    size_t data_marker;  /* where the "<<MAIL-DATA>>" line starts */
    size_t message;      /* the message's first byte (after that line) */
    xmail_field *fields; /* the header block, in order */
    size_t field_count;
    size_t header_end;   /* after the last field: a blank line, the body or the end */
    size_t body;         /* the first byte after the header block (its blank line
                          * included), or the file's end */
    bool blank_line;     /* the header block ends with an empty line */
    size_t size;         /* the file's length */
} xmail_spool;

typedef struct xmail_spool_error {
    unsigned line; /* 1-based; 0 when the problem is the file as a whole */
    char text[240];
} xmail_spool_error;

/* Parses the len bytes of a spool file as XMail writes it at stage. On
 * success fills *out (free with xmail_spool_free) and returns 0; else
 * returns -1 with the line and the problem in *err and *out empty. The
 * fields' offsets refer to data, which the caller keeps. */
int xmail_spool_parse(const char *data, size_t len, xmail_stage stage, xmail_spool *out,
                      xmail_spool_error *err);
void xmail_spool_free(xmail_spool *spool);

/* One change to the message's header block. */
typedef enum xmail_edit_op {
    XMAIL_EDIT_INSERT_TOP, /* above every field (each above the ones inserted before it) */
    XMAIL_EDIT_APPEND,     /* after the last field */
    XMAIL_EDIT_CHANGE,     /* the index-th field of that name (1-based); appended when
                            * there are fewer */
    XMAIL_EDIT_DELETE,     /* the index-th field of that name; nothing when there are fewer */
} xmail_edit_op;

typedef struct xmail_edit {
    xmail_edit_op op;
    const char *name;
    unsigned index;
    const char *value; /* as it follows "Name:" (leading space included), lines
                        * separated by LF or CRLF; NULL for DELETE */
} xmail_edit;

/* Writes to out the file data (parsed into spool, post-data) with the
 * edits made: every byte before the message as it was, then the header
 * block edited, then the body as it was; every line written ends in CRLF.
 * With rcpts (not NULL), the RCPT TO lines are replaced by one line per
 * address, "RCPT TO:<a> {ra=a}", so that XMail delivers to those instead
 * (a redirect); every other envelope byte stays as it was.
 * Returns 0, or -1 with why in err (a bad name, value or address, out of
 * memory); out is then unspecified. */
int xmail_spool_rewrite(const char *data, const xmail_spool *spool, const xmail_edit *edits,
                        size_t edit_count, const char *const *rcpts, size_t rcpt_count,
                        strbuf *out, char *err, size_t err_size);

const char *xmail_stage_name(xmail_stage stage);
/* "post-rcpt", "pre-data", "post-data"; -1 for another name. */
int xmail_stage_parse(const char *name);

#endif
