/* strbuf.h: a growable, length-counted string for building output from
 * untrusted pieces. Always NUL-terminated; a failed allocation sets a
 * sticky error flag instead of truncating silently. */
#ifndef DA_STRBUF_H
#define DA_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

typedef struct strbuf {
    char *data;
    size_t len;
    size_t cap;
    bool failed;
} strbuf;

void strbuf_init(strbuf *sb);
void strbuf_free(strbuf *sb);
void strbuf_clear(strbuf *sb);
void strbuf_append(strbuf *sb, const char *s, size_t len);
void strbuf_puts(strbuf *sb, const char *s);
void strbuf_putc(strbuf *sb, char c);
void strbuf_printf(strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the buffer to the caller (free with free()); NULL if any append failed. */
char *strbuf_take(strbuf *sb);

#endif
