/* file.h: reading a whole file for the front ends and the zone loader.
 * The engines never call it: they take bytes, not paths. */
#ifndef DA_UTIL_FILE_H
#define DA_UTIL_FILE_H

#include <stddef.h>

/* Reads a whole file of at most max_bytes. Returns a NUL-terminated buffer
 * (free with free()) and its length, or NULL with "cannot read PATH: why"
 * in err and errno left as the failed call set it. */
char *util_read_file(const char *path, size_t max_bytes, size_t *len, char *err,
                     size_t err_size);
/* The same from a file already open (read from its start; fd stays open):
 * what was checked is what is read, with no second open by name. path
 * names it in err. */
char *util_read_fd(int fd, const char *path, size_t max_bytes, size_t *len, char *err,
                   size_t err_size);

#endif
