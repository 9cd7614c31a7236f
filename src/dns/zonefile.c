/* zonefile.c: da_zone_load_file, the offline zone of `--zone` (domauth(1),
 * ZONE FILES) read from disk. */
#include <stdio.h>
#include <stdlib.h>

#include "domauth.h"
#include "util/file.h"

int da_zone_load_file(const char *path, da_zone **zone, char *err, size_t err_size)
{
    size_t len;
    *zone = NULL;
    err[0] = '\0';
    char *text = util_read_file(path, 64u << 20, &len, err, err_size);
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
