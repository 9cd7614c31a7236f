/* frontend.c: see frontend.h. */
#include "frontend.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

char *front_read_file(const char *path, size_t max_bytes, size_t *len, char *err,
                      size_t err_size)
{
    err[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, err_size, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
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
        if (n < cap - 1)
            break; /* end of file */
        if (cap > max_bytes) {
            snprintf(err, err_size, "cannot read %s: larger than %zu bytes", path, max_bytes);
            free(buf);
            buf = NULL;
            break;
        }
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

int front_load_zone(const char *path, da_zone **zone, char *err, size_t err_size)
{
    size_t len;
    *zone = NULL;
    err[0] = '\0';
    char *text = front_read_file(path, 64u << 20, &len, err, err_size);
    if (text == NULL)
        return 66;
    char why[300];
    *zone = da_zone_new();
    int rc = *zone ? da_zone_load_text(*zone, text, len, why, sizeof why) : -1;
    free(text);
    if (rc != 0) {
        snprintf(err, err_size, "%s: %s", path, *zone ? why : "out of memory");
        da_zone_free(*zone);
        *zone = NULL;
        return 65;
    }
    return 0;
}

void front_json_string(FILE *out, const char *s)
{
    if (s == NULL) {
        fputs("null", out);
        return;
    }
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", out); break;
        case '\\': fputs("\\\\", out); break;
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        default:
            if (*p < 0x20 || *p >= 0x7f)
                fprintf(out, "\\u%04x", *p);
            else
                fputc(*p, out);
        }
    }
    fputc('"', out);
}
