/* mime.h: the text of a message for a person to read (domauth-web's
 * quarantine view): the first text/plain part of the MIME tree (else the
 * first text/html, to be shown as text, never rendered), its transfer
 * encoding undone (quoted-printable, base64), its charset made UTF-8 when
 * it is utf-8, us-ascii or iso-8859-1. The message is untrusted: the parse
 * is lenient (what it cannot read it says in a note, and goes on), every
 * walk is bounded (nesting depth, parts, header field length) and the text
 * is cut at a size the caller gives, saying so. Nothing is rendered or
 * interpreted: the caller escapes the text for its page. */
#ifndef DA_MSG_MIME_H
#define DA_MSG_MIME_H

#include <stdbool.h>
#include <stddef.h>

#include "util/strbuf.h"

enum {
    MIME_DEPTH_MAX = 16,   /* multipart and message/rfc822 nesting */
    MIME_PARTS_MAX = 500,  /* entities looked at, over the whole walk */
    MIME_FIELD_MAX = 4096, /* an unfolded Content-Type kept, at most */
    MIME_NOTES_MAX = 4,    /* problems noted (the first ones) */
};

typedef struct mime_text {
    bool found;            /* a text part was found (else text is empty) */
    strbuf text;           /* the part's text: UTF-8 when converted */
    char type[64];         /* "text/plain" or "text/html" */
    char charset[64];      /* as declared, lower case; "us-ascii" when none */
    char encoding[32];     /* the transfer encoding, lower case; "7bit" when none */
    bool converted;        /* the charset was one of the three: text is UTF-8;
                            * else bytes >= 0x80 are written as \xNN */
    bool truncated;        /* the text was cut at max_bytes */
    size_t max_bytes;
    size_t part;           /* which entity, counting from 1 in walk order */
    size_t note_count;     /* problems met (each said once); the first ones in notes */
    char notes[MIME_NOTES_MAX][160]; /* what could not be read: "3 characters that are not
                                      * base64 skipped" */
} mime_text;

/* Finds and decodes the text of message (len bytes: header block, empty
 * line, body; LF or CRLF). At most max_bytes of text are kept (then
 * truncated is set). Returns 0 (found says whether there was a text
 * part), or -1 when out of memory. Free with mime_text_free, also after
 * -1. */
int mime_text_extract(const char *message, size_t len, size_t max_bytes, mime_text *out);
void mime_text_free(mime_text *t);

/* The decoders on their own, for the tests: each appends what it decodes
 * to out and returns the number of input bytes it could not read (bad
 * base64 characters, a '=' that starts no escape). */
size_t mime_decode_base64(const char *in, size_t len, strbuf *out);
size_t mime_decode_qp(const char *in, size_t len, strbuf *out);

#endif
