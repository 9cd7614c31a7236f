/* cli_common.c: what the mail-path commands (domauth xmail-filter,
 * domauth-xmail-filter, domauth checkauth) share: reading the site's
 * configuration as domauthd reads it, and one log line to syslog and, when
 * asked, to standard error. Linked into both programs, so it uses only the
 * configuration reader and libc. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>
#include <unistd.h>

#include "commands.h"
#include "config/config.h"
#include "util/file.h"

int cli_load_site_config(domauth_config *cfg, const char *path, bool given, char *err,
                         size_t err_size)
{
    if (config_init(cfg) != 0) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    size_t len = 0;
    char *text = NULL;
    if (given || access(path, F_OK) == 0) {
        text = util_read_file(path, 16u << 20, &len, err, err_size);
        if (text == NULL) {
            config_free(cfg);
            return -1;
        }
    }
    int rc = config_parse(cfg, path, text ? text : "", len, err, err_size);
    free(text);
    if (rc != 0)
        return -1; /* config_parse freed it */
    if (config_read_host_files(cfg, err, err_size) != 0) {
        config_free(cfg);
        return -1;
    }
    return 0;
}

void cli_log_tee(const char *who, bool to_stderr, int priority, const char *fmt, va_list ap)
{
    char text[1200];
    vsnprintf(text, sizeof text, fmt, ap);
    syslog(priority, "%s", text);
    if (to_stderr) {
        fprintf(stderr, "%s: ", who);
        cli_put_safe(stderr, text, false);
        fputc('\n', stderr);
    }
}
