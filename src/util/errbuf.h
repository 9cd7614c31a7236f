/* errbuf.h: writing a reason into a caller's (char *err, size_t size)
 * buffer, the library's way of reporting errors. */
#ifndef DA_ERRBUF_H
#define DA_ERRBUF_H

#include <stddef.h>

/* Formats into err (when err is not NULL and size > 0) and returns -1, so
 * that "return errbuf_set(err, n, ...)" reports and fails in one step. */
int errbuf_set(char *err, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
