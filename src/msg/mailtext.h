/* mailtext.h: text rules shared by the milter and policy-delegation codecs:
 * SMTP reply lines ("550 5.7.1 text") and header fields a filter adds.
 * Pure functions over (pointer, length); nothing here knows about sockets. */
#ifndef DA_MILTER_MAILTEXT_H
#define DA_MILTER_MAILTEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "util/strbuf.h"

enum {
    /* Longest reply text kept. An SMTP reply line is at most 512 octets
     * with its CRLF (RFC 5321 4.5.3.1.5); this leaves room for the code,
     * the enhanced status and what the MTA prepends. */
    MAILTEXT_REPLY_TEXT_MAX = 400,
    MAILTEXT_HEADER_FOLD_WIDTH = 78,  /* RFC 5322 2.1.1 "SHOULD" */
    MAILTEXT_HEADER_LINE_MAX = 998,   /* RFC 5322 2.1.1 "MUST" */
};

/* Appends "CODE[ ENHANCED][ TEXT]" (no line ending) to out. code must be
 * 400..599; enhanced (NULL or "" for none) must be class.subject.detail
 * (RFC 3463: 1-3 digits each) with class equal to the code's first digit.
 * The text is made safe, not refused: CR, LF and TAB become spaces, other
 * control and non-ASCII bytes become '?', ends are trimmed, and it is cut
 * at MAILTEXT_REPLY_TEXT_MAX bytes. With double_percent every '%' is written
 * twice (Sendmail uses milter reply text as a format string; Postfix turns
 * "%%" back into "%"). Returns 0, or -1 with a reason in err; on -1 nothing
 * was appended. */
int mailtext_reply_line(strbuf *out, unsigned code, const char *enhanced, const char *text,
                        bool double_percent, char *err, size_t err_size);

/* Appends text as reply text, as mailtext_reply_line treats it, with one
 * space before it unless it is empty after cleaning. */
void mailtext_reply_text(strbuf *out, const char *text, bool double_percent);

/* True when name is a usable header field name: 1..MAILTEXT_HEADER_LINE_MAX
 * printable ASCII bytes other than ':' (RFC 5322 ftext). */
bool mailtext_header_name_valid(const char *name, size_t len);

/* True when value may follow "Name: " as is: no NUL or CR, LF only as
 * folding (followed by SP or TAB, and not ending the value), no other
 * control byte but TAB, and no line longer than MAILTEXT_HEADER_LINE_MAX
 * (the first line counting name_len + 2 for "Name: "). */
bool mailtext_header_value_valid(size_t name_len, const char *value, size_t len);

/* Appends value, made safe and folded for a header named with name_len
 * bytes: runs of whitespace (SP, TAB, CR, LF, that is any folding it had)
 * become one space, other control bytes (NUL and DEL included) become '?',
 * ends are trimmed, then lines are broken at spaces with "\n\t" so that
 * every line, "Name: " included, is at most MAILTEXT_HEADER_FOLD_WIDTH
 * bytes where the words allow. Milter header values use a bare LF: the MTA
 * adds the CR. Bytes >= 0x80 are kept (RFC 6532 UTF-8 headers). Returns 0,
 * or -1 when a single word would make a line longer than
 * MAILTEXT_HEADER_LINE_MAX (nothing appended). */
int mailtext_header_fold(strbuf *out, size_t name_len, const char *value, size_t len,
                         char *err, size_t err_size);

/* Appends value as one header line (no folding, for the policy protocol,
 * whose reply is a single line): whitespace runs become one space, other
 * control bytes '?', ends trimmed. Returns 0, or -1 when "Name: value"
 * would exceed MAILTEXT_HEADER_LINE_MAX (nothing appended). */
int mailtext_header_one_line(strbuf *out, size_t name_len, const char *value, size_t len,
                             char *err, size_t err_size);

/* mailtext_header_fold, but never refusing: a word too long for any line
 * is cut to fit with the marker "[...]" in its place, and *cut says so (the
 * caller logs it). A verdict's header is thus never dropped for its
 * content. Returns 0, or -1 only when out of memory. */
int mailtext_header_fold_or_cut(strbuf *out, size_t name_len, const char *value, size_t len,
                                bool *cut);

#endif
