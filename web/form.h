/* form.h: the parts of an HTTP request domauth-web parses itself, all
 * untrusted: query strings and form bodies (application/x-www-form-
 * urlencoded, as HTML forms send them) and the Cookie header.
 * libmicrohttpd frames the request; these give it meaning. Bounded: a
 * form of more than WEB_FORM_MAX_BYTES or WEB_FORM_MAX_FIELDS fields is
 * refused with a reason, never cut short. */
#ifndef DA_WEB_FORM_H
#define DA_WEB_FORM_H

#include <stdbool.h>
#include <stddef.h>

enum { WEB_FORM_MAX_BYTES = 64 * 1024, WEB_FORM_MAX_FIELDS = 512 };

typedef struct web_field {
    const char *name, *value; /* decoded, NUL-terminated, in the form's storage */
} web_field;

typedef struct web_form {
    web_field *fields;
    size_t count;
    char *storage;
} web_form;

/* Parses "a=1&b=x+y%21": '+' is a space, %XX a byte. A field without '='
 * has the empty value; empty pieces ("a=1&&b=2") are skipped. Refuses a
 * malformed escape, a NUL byte (encoded or not), too many fields or bytes.
 * Returns 0, or -1 with the reason in why (f is then empty). Free with
 * web_form_free, also after a failure. */
int web_form_parse(web_form *f, const char *text, size_t len, char *why, size_t why_size);
void web_form_free(web_form *f);

/* The first value of name, or NULL. */
const char *web_form_get(const web_form *f, const char *name);
/* The next field named name after index *i (start with *i = 0); NULL at
 * the end. For repeated fields (the ids of a bulk action). */
const char *web_form_next(const web_form *f, const char *name, size_t *i);

/* The value of cookie name in a Cookie header ("a=1; b=2", RFC 6265
 * section 4.2), copied into out. Returns 1 when found, 0 when absent, -1
 * when the header is malformed or the value does not fit. */
int web_cookie_get(const char *header, size_t len, const char *name, char *out,
                   size_t out_size);

#endif
