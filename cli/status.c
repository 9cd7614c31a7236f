/* status.c: "domauth status" and "domauth reload", over domauthd's control
 * socket (the control key of domauth.conf; domauthd(8), CONTROL SOCKET).
 * status prints uptime, configuration and its last reload, listeners and
 * every counter; reload makes domauthd reload and says whether it took, so
 * a service manager sees a refused reload (ExecReload). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "commands.h"
#include "config/config.h"
#include "util/file.h"

#define DEFAULT_CONFIG "/etc/domauth/domauth.conf"

static const char usage_status[] =
    "usage: domauth status [--json] [--config FILE | --socket PATH]\n"
    "       domauth reload [--config FILE | --socket PATH]\n"
    "\n"
    "status: what the running domauthd reports: uptime, configuration and its\n"
    "last reload, listeners, messages and actions, results per method, the DNS\n"
    "cache, the event log, sessions and errors.\n"
    "reload: makes domauthd read its configuration again (as SIGHUP does) and\n"
    "prints 'ok' or why it was refused; the running configuration then stays.\n"
    "\n"
    "  --config FILE   read the control key from FILE (default " DEFAULT_CONFIG ")\n"
    "  --socket PATH   the control socket itself\n"
    "  --json          status as one JSON object\n"
    "\n"
    "Exit status: 0 done; 1 reload refused; 69 domauthd is not answering (no\n"
    "such socket, not running); 64 usage; 65 the configuration does not parse.\n";

enum { EXIT_UNAVAILABLE = 69, ANSWER_MAX = 4u << 20 };

/* "control = unix:PATH" in a file's text, however the rest reads. */
static int control_line(const char *text, char *out, size_t out_size)
{
    int found = -1;
    for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, "control", 7) != 0)
            continue;
        const char *p = line + 7;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p++ != '=')
            continue;
        while (*p == ' ' || *p == '\t')
            p++;
        if (strncmp(p, "unix:", 5) != 0)
            continue;
        p += 5;
        size_t n = strcspn(p, " \t\r\n;#");
        if (n == 0 || n >= out_size)
            continue;
        memcpy(out, p, n);
        out[n] = '\0';
        found = 0;
    }
    return found;
}

static int control_path(const char *config_path, bool given, char *out, size_t out_size)
{
    domauth_config cfg;
    if (config_init(&cfg) != 0)
        return CLI_EXIT_SOFTWARE;
    char err[600];
    size_t len;
    char *text = NULL;
    if (given || access(config_path, F_OK) == 0) {
        text = util_read_file(config_path, 16u << 20, &len, err, sizeof err);
        if (text == NULL) {
            fprintf(stderr, "domauth: %s\n", err);
            config_free(&cfg);
            return CLI_EXIT_NOINPUT;
        }
        if (config_parse(&cfg, config_path, text, len, err, sizeof err) != 0) {
            /* A file that does not parse is what a reload must be told
             * about: find its control line all the same. */
            int found = control_line(text, out, out_size);
            free(text);
            if (found == 0) {
                fprintf(stderr, "domauth: note: %s\n", err);
                return 0;
            }
            fprintf(stderr, "domauth: %s\n", err);
            return CLI_EXIT_DATAERR;
        }
        free(text);
    }
    int rc = 0;
    const char *c = cfg.control_listen;
    if (c == NULL || strncmp(c, "unix:", 5) != 0) {
        fprintf(stderr, "domauth: %s has no control socket (control = unix:/path)\n",
                config_path);
        rc = EXIT_UNAVAILABLE;
    } else {
        snprintf(out, out_size, "%s", c + 5);
    }
    config_free(&cfg);
    return rc;
}

/* Sends one command and returns domauthd's answer in *answer (free it).
 * The answer is read up to ANSWER_MAX bytes: whatever holds the socket
 * cannot make us grow without end. */
static int ask(const char *path, const char *command, char **answer)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof sa.sun_path) {
        fprintf(stderr, "domauth: %s: path too long for a unix socket\n", path);
        return CLI_EXIT_USAGE;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        fprintf(stderr, "domauth: cannot reach domauthd at %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return EXIT_UNAVAILABLE;
    }
    size_t n = strlen(command);
    if (write(fd, command, n) != (ssize_t)n || write(fd, "\n", 1) != 1) {
        fprintf(stderr, "domauth: %s: %s\n", path, strerror(errno));
        close(fd);
        return EXIT_UNAVAILABLE;
    }
    size_t cap = 8192, len = 0;
    char *buf = malloc(cap);
    bool too_long = false;
    for (;;) {
        if (buf == NULL)
            break;
        if (len + 1 >= cap) {
            if (cap >= ANSWER_MAX) {
                too_long = true;
                break;
            }
            char *bigger = realloc(buf, cap * 2);
            if (bigger == NULL)
                break;
            buf = bigger;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + len, cap - len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    if (buf == NULL || len == 0 || too_long) {
        free(buf);
        fprintf(stderr, "domauth: %s from domauthd at %s\n",
                too_long ? "an answer too long" : "no answer", path);
        return EXIT_UNAVAILABLE;
    }
    buf[len] = '\0';
    *answer = buf;
    return 0;
}

int cmd_status(int argc, char **argv, bool reload)
{
    enum { O_CONFIG = 1000, O_SOCKET, O_JSON };
    static const struct option options[] = {
        {"config", required_argument, NULL, O_CONFIG},
        {"socket", required_argument, NULL, O_SOCKET},
        {"json", no_argument, NULL, O_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = DEFAULT_CONFIG, *socket_path = NULL;
    bool given = false, json = false;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case O_CONFIG: config_path = optarg; given = true; break;
        case O_SOCKET: socket_path = optarg; break;
        case O_JSON: json = true; break;
        case 'h': fputs(usage_status, stdout); return 0;
        default: fputs(usage_status, stderr); return CLI_EXIT_USAGE;
        }
    }
    if (optind != argc || (reload && json)) {
        fputs(usage_status, stderr);
        return CLI_EXIT_USAGE;
    }
    char path[300];
    if (socket_path != NULL) {
        snprintf(path, sizeof path, "%s", socket_path);
    } else {
        int rc = control_path(config_path, given, path, sizeof path);
        if (rc != 0)
            return rc;
    }
    char *answer = NULL;
    int rc = ask(path, reload ? "reload" : json ? "status" : "status text", &answer);
    if (rc != 0)
        return rc;
    /* domauthd's answer quotes configuration and errors: no control
     * sequences reach the terminal. */
    cli_put_safe(stdout, answer, true);
    int status = reload && strncmp(answer, "ok", 2) != 0 ? 1 : 0;
    free(answer);
    return status;
}
