/* cli_common.c: what the mail-path commands (domauth xmail-filter,
 * domauth-xmail-filter, domauth checkauth) share: reading the site's
 * configuration as domauthd reads it, and one log line to syslog and, when
 * asked, to standard error. Linked into both programs, so it uses only the
 * configuration reader and libc. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "commands.h"
#include "config/config.h"
#include "util/file.h"
#include "util/strbuf.h"

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

char *cli_read_stdin(size_t max_bytes, size_t *len, char *err, size_t err_size)
{
    strbuf sb;
    strbuf_init(&sb);
    char buf[65536];
    for (;;) {
        ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(err, err_size, "standard input: %s", strerror(errno));
            strbuf_free(&sb);
            return NULL;
        }
        if (n == 0)
            break;
        if (sb.len + (size_t)n > max_bytes) {
            snprintf(err, err_size, "standard input: longer than %zu bytes", max_bytes);
            strbuf_free(&sb);
            return NULL;
        }
        strbuf_append(&sb, buf, (size_t)n);
    }
    if (sb.failed) {
        snprintf(err, err_size, "standard input: out of memory");
        strbuf_free(&sb);
        return NULL;
    }
    *len = sb.len;
    return sb.data ? strbuf_take(&sb) : strdup("");
}

bool cli_parse_option_number(const char *option, const char *text, unsigned long min,
                             unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(text, &end, 10);
    if (errno || *end || end == text || text[0] == '-' || v < min || v > max) {
        fprintf(stderr, "domauth: %s takes %lu to %lu\n", option, min, max);
        return false;
    }
    *out = v;
    return true;
}
