/* milter.h: the Sendmail/Postfix milter wire protocol, version 6, as a pure
 * codec: an incremental frame decoder, parsers for every command an MTA
 * sends and encoders for every reply a filter sends. No I/O, no globals. */
#ifndef DA_MILTER_H
#define DA_MILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msg/mailtext.h"
#include "util/strbuf.h"

/* A frame on the wire: a 4-byte big-endian length, then that many bytes:
 * one command (or reply) letter and its payload. The length counts the
 * letter, so it is never 0. */
enum {
    MILTER_PROTOCOL_VERSION = 6,   /* what Postfix >= 2.6 and Sendmail 8.14+ speak */
    MILTER_PROTOCOL_VERSION_MIN = 2,
    MILTER_LEN_BYTES = 4,
    MILTER_OPTNEG_SIZE = 12,       /* version, actions, protocol: 3 x uint32 */
    MILTER_CHUNK_SIZE = 65535,     /* largest body chunk Postfix/Sendmail send */
    /* Frame limit: body chunks may reach 1 MiB when SMFIP_MDS_1M is agreed;
     * the margin covers a letter and the largest header Postfix passes. */
    MILTER_DEFAULT_MAX_FRAME = 1024 * 1024 + 128 * 1024,
};

/* Commands, MTA to filter (SMFIC_*). */
#define SMFIC_ABORT 'A'   /* abort the current message; no reply */
#define SMFIC_BODY 'B'    /* body chunk */
#define SMFIC_CONNECT 'C' /* client connection */
#define SMFIC_MACRO 'D'   /* macros for the next command; no reply */
#define SMFIC_BODYEOB 'E' /* end of body (may carry a last chunk) */
#define SMFIC_HELO 'H'
#define SMFIC_QUIT_NC 'K' /* quit, but a new connection follows; no reply */
#define SMFIC_HEADER 'L'
#define SMFIC_MAIL 'M'
#define SMFIC_EOH 'N'     /* end of headers */
#define SMFIC_OPTNEG 'O'  /* option negotiation */
#define SMFIC_QUIT 'Q'    /* close the connection; no reply */
#define SMFIC_RCPT 'R'
#define SMFIC_DATA 'T'
#define SMFIC_UNKNOWN 'U' /* an SMTP command the MTA did not know */

/* Replies, filter to MTA (SMFIR_*). */
#define SMFIR_ADDRCPT '+'
#define SMFIR_DELRCPT '-'
#define SMFIR_ADDRCPT_PAR '2'
#define SMFIR_SHUTDOWN '4'   /* 421: close the SMTP connection */
#define SMFIR_ACCEPT 'a'
#define SMFIR_REPLBODY 'b'
#define SMFIR_CONTINUE 'c'
#define SMFIR_DISCARD 'd'
#define SMFIR_CHGFROM 'e'
#define SMFIR_CONN_FAIL 'f'
#define SMFIR_ADDHEADER 'h'
#define SMFIR_INSHEADER 'i'
#define SMFIR_SETSYMLIST 'l' /* never a frame of its own: see milter_encode_optneg_reply */
#define SMFIR_CHGHEADER 'm'
#define SMFIR_PROGRESS 'p'
#define SMFIR_QUARANTINE 'q'
#define SMFIR_REJECT 'r'
#define SMFIR_SKIP 's'
#define SMFIR_TEMPFAIL 't'
#define SMFIR_REPLYCODE 'y'

/* Actions the filter may take (SMFIF_*), in the OPTNEG actions field. */
#define SMFIF_ADDHDRS 0x0001u
#define SMFIF_CHGBODY 0x0002u
#define SMFIF_ADDRCPT 0x0004u
#define SMFIF_DELRCPT 0x0008u
#define SMFIF_CHGHDRS 0x0010u
#define SMFIF_QUARANTINE 0x0020u
#define SMFIF_CHGFROM 0x0040u
#define SMFIF_ADDRCPT_PAR 0x0080u
#define SMFIF_SETSYMLIST 0x0100u

/* Protocol steps the filter does not want (SMFIP_NO*), replies it will not
 * send (SMFIP_NR_*), and features (the rest), in the OPTNEG protocol field. */
#define SMFIP_NOCONNECT 0x00000001u
#define SMFIP_NOHELO 0x00000002u
#define SMFIP_NOMAIL 0x00000004u
#define SMFIP_NORCPT 0x00000008u
#define SMFIP_NOBODY 0x00000010u
#define SMFIP_NOHDRS 0x00000020u
#define SMFIP_NOEOH 0x00000040u
#define SMFIP_NR_HDR 0x00000080u /* also known as SMFIP_NOHREPL */
#define SMFIP_NOUNKNOWN 0x00000100u
#define SMFIP_NODATA 0x00000200u
#define SMFIP_SKIP 0x00000400u     /* the MTA understands SMFIR_SKIP */
#define SMFIP_RCPT_REJ 0x00000800u /* send RCPTs the MTA rejected too */
#define SMFIP_NR_CONN 0x00001000u
#define SMFIP_NR_HELO 0x00002000u
#define SMFIP_NR_MAIL 0x00004000u
#define SMFIP_NR_RCPT 0x00008000u
#define SMFIP_NR_DATA 0x00010000u
#define SMFIP_NR_UNKN 0x00020000u
#define SMFIP_NR_EOH 0x00040000u
#define SMFIP_NR_BODY 0x00080000u
#define SMFIP_HDR_LEADSPC 0x00100000u /* header values keep their leading space */
#define SMFIP_MDS_256K 0x10000000u    /* body chunks up to 256 KiB */
#define SMFIP_MDS_1M 0x20000000u      /* body chunks up to 1 MiB */

/* Address families in SMFIC_CONNECT (SMFIA_*). */
#define SMFIA_UNKNOWN 'U' /* nothing follows the family */
#define SMFIA_UNIX 'L'    /* port (0) and socket path follow */
#define SMFIA_INET '4'
#define SMFIA_INET6 '6'

/* Macro stages for symbol lists (SMFIM_*), sent in the OPTNEG reply. */
enum {
    SMFIM_CONNECT = 0,
    SMFIM_HELO = 1,
    SMFIM_ENVFROM = 2,
    SMFIM_ENVRCPT = 3,
    SMFIM_DATA = 4,
    SMFIM_EOM = 5,
    SMFIM_EOH = 6,
};

/* ------------------------------------------------------------ frames */

typedef struct milter_frame {
    char command;           /* the letter */
    const uint8_t *payload; /* len bytes, owned by the decoder */
    size_t len;
} milter_frame;

typedef enum milter_decode_status {
    MILTER_DECODE_NEED_MORE = 0, /* every byte fed was used; feed more */
    MILTER_DECODE_FRAME,         /* *frame holds a complete frame */
    MILTER_DECODE_ERROR,         /* the stream is unusable: close it */
} milter_decode_status;

/* Reassembles frames from a byte stream. Holds at most one frame (its
 * buffer grows to the largest frame seen, never beyond max_frame). */
typedef struct milter_decoder {
    uint8_t length_bytes[MILTER_LEN_BYTES];
    size_t length_have;  /* bytes of the length prefix received */
    uint32_t frame_len;  /* the current frame's length, once known */
    uint8_t *buf;
    size_t buf_cap;
    size_t buf_have;     /* bytes of the current frame received */
    size_t max_frame;
    bool failed;
    char error[128];
} milter_decoder;

/* max_frame: the largest length prefix accepted; 0 means
 * MILTER_DEFAULT_MAX_FRAME. */
void milter_decoder_init(milter_decoder *decoder, size_t max_frame);
void milter_decoder_free(milter_decoder *decoder);

/* Uses bytes from data until one frame is complete or data runs out, and
 * sets *consumed to how many it used (always <= len; it never looks past
 * them). On MILTER_DECODE_FRAME the frame stays valid until the next call
 * on this decoder; call again with the bytes not consumed. An error (length
 * 0, length over the maximum, out of memory) is final: the stream has lost
 * its framing and every later call returns the error again. */
milter_decode_status milter_decoder_feed(milter_decoder *decoder, const uint8_t *data,
                                         size_t len, size_t *consumed, milter_frame *frame);
const char *milter_decoder_error(const milter_decoder *decoder);
/* True when part of a frame has been received: a close now truncated it. */
bool milter_decoder_mid_frame(const milter_decoder *decoder);

/* ---------------------------------------------------- command payloads */

/* Every parser takes the payload (after the letter) as (pointer, length),
 * checks it completely and returns 0, or -1 with a reason in err. Strings it
 * returns point into the payload (each is NUL-terminated there) and live as
 * long as the frame: copy what you keep. */

typedef struct milter_optneg {
    uint32_t version;
    uint32_t actions;  /* SMFIF_* */
    uint32_t protocol; /* SMFIP_* */
} milter_optneg;

/* NUL-separated name/value pairs after the command letter. */
typedef struct milter_macros {
    char command;        /* the command these macros go with */
    const char *pairs;   /* name NUL value NUL ..., pairs_len bytes */
    size_t pairs_len;
    size_t count;        /* number of pairs */
} milter_macros;

typedef struct milter_connect {
    const char *hostname; /* "[192.0.2.1]" when the client has no name */
    char family;          /* SMFIA_* */
    uint16_t port;        /* 0 for SMFIA_UNIX and SMFIA_UNKNOWN */
    const char *address;  /* IP text or socket path; NULL for SMFIA_UNKNOWN */
} milter_connect;

/* MAIL/RCPT: the address ("<a@b>", "<>"), then ESMTP arguments. */
typedef struct milter_args {
    const char *address;
    const char *strings; /* all strings, address first, strings_len bytes */
    size_t strings_len;
    size_t count;        /* address included */
} milter_args;

typedef struct milter_header {
    const char *name;  /* a valid field name */
    const char *value; /* as the MTA passes it: may hold "\n\t" folding */
    size_t value_len;
} milter_header;

typedef struct milter_body {
    const uint8_t *data;
    size_t len;
} milter_body;

int milter_parse_optneg(const uint8_t *payload, size_t len, milter_optneg *out, char *err,
                        size_t err_size);
int milter_parse_macros(const uint8_t *payload, size_t len, milter_macros *out, char *err,
                        size_t err_size);
int milter_parse_connect(const uint8_t *payload, size_t len, milter_connect *out, char *err,
                         size_t err_size);
/* HELO (the name) and UNKNOWN (the command line): one string. */
int milter_parse_string(const uint8_t *payload, size_t len, const char **out, char *err,
                        size_t err_size);
int milter_parse_args(const uint8_t *payload, size_t len, milter_args *out, char *err,
                      size_t err_size);
int milter_parse_header(const uint8_t *payload, size_t len, milter_header *out, char *err,
                        size_t err_size);
/* BODY: any bytes. BODYEOB: a last chunk, usually empty. */
int milter_parse_body(const uint8_t *payload, size_t len, milter_body *out, char *err,
                      size_t err_size);
/* EOH, ABORT, QUIT, QUIT_NC, DATA: nothing may follow the letter. */
int milter_parse_empty(const uint8_t *payload, size_t len, char *err, size_t err_size);

/* Walks the pairs: *cursor starts at 0; false after the last pair. */
bool milter_macros_next(const milter_macros *macros, size_t *cursor, const char **name,
                        const char **value);
/* The value of a macro, or NULL. "auth_authen" and "{auth_authen}" both
 * find "{auth_authen}"; "i" finds "i". */
const char *milter_macros_get(const milter_macros *macros, const char *name);
/* Walks the ESMTP arguments after the address; *cursor starts at 0. */
bool milter_args_next(const milter_args *args, size_t *cursor, const char **arg);

/* Any command, by its letter. */
typedef struct milter_command {
    char code; /* SMFIC_* */
    union {
        milter_optneg optneg;   /* O */
        milter_macros macros;   /* D */
        milter_connect connect; /* C */
        const char *helo;       /* H */
        milter_args args;       /* M, R */
        milter_header header;   /* L */
        milter_body body;       /* B, E */
        const char *unknown;    /* U */
    };
} milter_command;

/* Parses a frame by its letter; -1 for letters that are not MTA commands. */
int milter_parse_command(const milter_frame *frame, milter_command *out, char *err,
                         size_t err_size);

/* Whether the MTA waits for a reply to this command, given the protocol
 * flags agreed in negotiation (SMFIP_NR_*). False for D, A, Q, K. */
bool milter_reply_expected(uint32_t agreed_protocol, char command);

/* ------------------------------------------------------- negotiation */

/* What the filter asks for, given what the MTA offered:
 * - required_actions must all be offered, else -1 (e.g. SMFIF_ADDHDRS);
 * - optional_actions are kept where offered (e.g. SMFIF_SETSYMLIST);
 * - wanted_protocol (steps to skip, replies not sent, features) is kept
 *   where offered; the daemon must honour every SMFIP_NR_* and SMFIP_SKIP
 *   bit left in agreed->protocol (see milter_reply_expected).
 * agreed->version is min(offered, MILTER_PROTOCOL_VERSION); offers below
 * MILTER_PROTOCOL_VERSION_MIN are refused. */
int milter_negotiate(const milter_optneg *offered, uint32_t required_actions,
                     uint32_t optional_actions, uint32_t wanted_protocol,
                     milter_optneg *agreed, char *err, size_t err_size);

/* A list of macro names the filter wants at one stage (SMFIM_*), names
 * separated by spaces, e.g. "{auth_authen} {auth_type} i". */
typedef struct milter_symlist {
    uint32_t stage;
    const char *macros;
} milter_symlist;

/* Appends the OPTNEG reply frame. Symbol lists, if any, follow the three
 * fields in the same frame: that is where Postfix and Sendmail read them
 * (there is no separate SMFIR_SETSYMLIST frame). They need SMFIF_SETSYMLIST
 * in agreed->actions and version 6. Note that Postfix, once it receives any
 * list, sends no macros at the stages not listed. */
int milter_encode_optneg_reply(strbuf *out, const milter_optneg *agreed,
                               const milter_symlist *lists, size_t list_count, char *err,
                               size_t err_size);

/* ----------------------------------------------------------- replies */

/* Appends any frame: 4-byte length, letter, payload. */
void milter_encode_frame(strbuf *out, char letter, const void *payload, size_t len);
/* Replies without payload: SMFIR_CONTINUE, ACCEPT, REJECT, TEMPFAIL,
 * DISCARD, PROGRESS, SKIP, SHUTDOWN, CONN_FAIL. -1 for other letters. */
int milter_encode_simple(strbuf *out, char reply, char *err, size_t err_size);
/* SMFIR_REPLYCODE "CODE ENHANCED text"; see mailtext_reply_line ('%' is
 * doubled). A 4xx code makes the MTA tempfail, 5xx reject. */
int milter_encode_replycode(strbuf *out, unsigned code, const char *enhanced, const char *text,
                            char *err, size_t err_size);
/* Header edits, allowed only in reply to SMFIC_BODYEOB. name must pass
 * mailtext_header_name_valid and value mailtext_header_value_valid (build
 * it with mailtext_header_fold). Without SMFIP_HDR_LEADSPC (we never ask
 * for it) the MTA writes "Name: value", adding the space itself. */
int milter_encode_addheader(strbuf *out, const char *name, const char *value, char *err,
                            size_t err_size);
/* index 0 inserts above the first header. */
int milter_encode_insheader(strbuf *out, uint32_t index, const char *name, const char *value,
                            char *err, size_t err_size);
/* index is 1-based among headers of that name; "" as value deletes it. */
int milter_encode_chgheader(strbuf *out, uint32_t index, const char *name, const char *value,
                            char *err, size_t err_size);
/* The reason is one line (sanitized like reply text, '%' not doubled). */
int milter_encode_quarantine(strbuf *out, const char *reason, char *err, size_t err_size);
/* SMFIR_CHGFROM: the envelope sender becomes <address> (no ESMTP
 * arguments). Refuses an address with a control byte, '<' or '>', or
 * longer than 1024 bytes. */
int milter_encode_chgfrom(strbuf *out, const char *address, char *err, size_t err_size);
/* SMFIR_ADDRCPT / SMFIR_DELRCPT: a recipient <address> added or removed
 * (the same checks as CHGFROM). */
int milter_encode_addrcpt(strbuf *out, const char *address, char *err, size_t err_size);
int milter_encode_delrcpt(strbuf *out, const char *address, char *err, size_t err_size);

#endif
