/* json.h: the one JSON string and number writer, used by every --json
 * output and the event log's JSON lines, so they encode the same bytes the
 * same way. */
#ifndef DA_UTIL_JSON_H
#define DA_UTIL_JSON_H

#include <stddef.h>
#include <stdio.h>

#include "util/strbuf.h"

typedef void json_put_fn(void *ctx, const char *bytes, size_t len);

/* Length of the well-formed UTF-8 sequence at p (1 for ASCII), or 0 when the
 * bytes there are not one (stray continuation, overlong, surrogate,
 * truncated). p is NUL-terminated. */
size_t json_utf8_len(const unsigned char *p);

/* Writes s as a JSON string ("null" for NULL). Well-formed UTF-8 passes
 * through; quotes, backslashes and control characters are escaped; a byte
 * that is not part of well-formed UTF-8 becomes \u00XX (its Latin-1
 * reading), so the output is valid JSON whatever the input held. */
void json_write_string(const char *s, json_put_fn *put, void *ctx);
void json_fputs(FILE *out, const char *s);
void json_strbuf(strbuf *out, const char *s);

/* The shortest decimal that reads back as v, or "null" when v is not finite
 * (JSON has no NaN). out must hold JSON_NUMBER_MAX bytes. */
enum { JSON_NUMBER_MAX = 32 };
void json_format_number(double v, char out[JSON_NUMBER_MAX]);

#endif
