/* frontend.h: small helpers the front ends (domauth, domauthd) share and
 * the library must not have: reading a file, writing JSON for scripts. */
#ifndef DA_FRONTEND_H
#define DA_FRONTEND_H

#include <stddef.h>
#include <stdio.h>

#include "domauth.h"

/* Reads a whole file of at most max_bytes. Returns a NUL-terminated buffer
 * (free with free()) and its length, or NULL with "cannot read PATH: why"
 * in err. */
char *front_read_file(const char *path, size_t max_bytes, size_t *len, char *err,
                      size_t err_size);

/* Loads a zone file (domauth(1), ZONE FILES) for offline answers. Returns
 * 0 with *zone set (free with da_zone_free), or an exit status with
 * "PATH: reason" in err: 66 (EX_NOINPUT) when the file cannot be read, 65
 * (EX_DATAERR) when a line does not parse. */
int front_load_zone(const char *path, da_zone **zone, char *err, size_t err_size);

/* Writes s as a JSON string ("null" for NULL): quotes, backslashes and
 * control characters escaped, bytes >= 0x7f as \u00XX, so the output is
 * ASCII whatever the input held. */
void front_json_string(FILE *out, const char *s);

#endif
