/* file.c: see file.h. */
#include "file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *read_stream(FILE *f, const char *path, size_t max_bytes, size_t *len, char *err,
                         size_t err_size)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        n += fread(buf + n, 1, cap - n - 1, f);
        if (ferror(f)) {
            snprintf(err, err_size, "cannot read %s: %s", path, strerror(errno));
            free(buf);
            buf = NULL;
            break;
        }
        if (n > max_bytes) {
            snprintf(err, err_size, "cannot read %s: larger than %zu bytes", path, max_bytes);
            errno = EFBIG;
            free(buf);
            buf = NULL;
            break;
        }
        if (n < cap - 1)
            break; /* end of file */
        char *bigger = realloc(buf, cap * 2);
        if (bigger == NULL) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = bigger;
        cap *= 2;
    }
    fclose(f);
    if (buf == NULL) {
        if (err[0] == '\0')
            snprintf(err, err_size, "cannot read %s: out of memory", path);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

char *util_read_file(const char *path, size_t max_bytes, size_t *len, char *err,
                     size_t err_size)
{
    err[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        int saved = errno; /* callers tell a missing file from others by it */
        snprintf(err, err_size, "cannot read %s: %s", path, strerror(saved));
        errno = saved;
        return NULL;
    }
    return read_stream(f, path, max_bytes, len, err, err_size);
}

char *util_read_fd(int fd, const char *path, size_t max_bytes, size_t *len, char *err,
                   size_t err_size)
{
    err[0] = '\0';
    int own = dup(fd);
    FILE *f = own >= 0 && lseek(own, 0, SEEK_SET) == 0 ? fdopen(own, "rb") : NULL;
    if (f == NULL) {
        int saved = errno;
        if (own >= 0)
            close(own);
        snprintf(err, err_size, "cannot read %s: %s", path, strerror(saved));
        errno = saved;
        return NULL;
    }
    return read_stream(f, path, max_bytes, len, err, err_size);
}
