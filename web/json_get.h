/* json_get.h: reading values out of the control socket's "status" JSON by
 * path ("dns_cache.hits", "listeners.0.address"). A small skipping reader,
 * depth-limited, that never trusts the text to be well formed: a value it
 * cannot find or parse is simply absent. */
#ifndef DA_WEB_JSON_GET_H
#define DA_WEB_JSON_GET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The number at path, or false. */
bool json_get_number(const char *text, size_t len, const char *path, double *out);
/* The string at path decoded into out (escapes \" \\ \/ \n \t and \uXXXX
 * for ASCII; others become '?'), or false when absent or it does not fit. */
bool json_get_string(const char *text, size_t len, const char *path, char *out,
                     size_t out_size);
/* The keys of the object at path, one at a time: *i counts (start at 0). */
bool json_get_key(const char *text, size_t len, const char *path, size_t *i, char *out,
                  size_t out_size);

#endif
