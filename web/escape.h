/* escape.h: the one place where text meets HTML. Every value a page shows
 * (an event's From:, a Subject, a user name, a query echoed back) goes
 * through one of these, chosen by where it lands: element text, a quoted
 * attribute value, or a URL query component inside an attribute. Nothing
 * else in web/ writes untrusted bytes into a page. */
#ifndef DA_WEB_ESCAPE_H
#define DA_WEB_ESCAPE_H

#include <stddef.h>

#include "util/strbuf.h"

/* Element text and quoted attribute values (both quote styles): & < > " '
 * become entities; control characters other than tab and newline, and
 * bytes that are not valid UTF-8, become U+FFFD, so that a hostile header
 * can neither open markup nor smuggle bytes a browser reinterprets. A CR
 * before LF is dropped (a message's CRLF shows as its line end). */
void html_escape(strbuf *out, const char *s, size_t len);
void html_puts(strbuf *out, const char *s); /* NULL writes nothing */

/* A query string component: everything but A-Z a-z 0-9 - . _ ~ is
 * percent-encoded (the result is then safe in an attribute as well). */
void url_escape(strbuf *out, const char *s);

#endif
