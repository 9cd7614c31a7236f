/* main.c: domauth-web, the administrator's console (domauth-web(8)).
 *   domauth-web [-c FILE] [-f]          serve the console
 *   domauth-web -t [-c FILE]            check the configuration and exit
 *   domauth-web passwd USER [--role admin|read] [-c FILE]
 * A process of its own, unprivileged once its socket is open: it reads the
 * event store and the quarantine, and acts only through domauthd's control
 * socket. HTTP is libmicrohttpd's (see doc/design-notes.md); the single
 * polling thread runs every request, the main thread waits for signals. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <grp.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "util/file.h"
#include "web.h"

#define DEFAULT_CONFIG "/etc/domauth/domauth.conf"

static const char usage[] =
    "usage: domauth-web [-c FILE] [-f] [-t]\n"
    "       domauth-web passwd USER [--role admin|read] [-c FILE]\n"
    "The administrator's web console of domauth ([web] in domauth.conf).\n"
    "  -c FILE   the configuration (default " DEFAULT_CONFIG ")\n"
    "  -f        stay in the foreground, log to standard error too\n"
    "  -t        check the configuration and the users file, then exit\n"
    "passwd: sets USER's password in the [web] users file (read from the\n"
    "terminal twice, or one line on standard input), role admin (default) or read.\n";

typedef struct server {
    web_app app;
    struct MHD_Daemon *mhd;
    atomic_bool reload_users;
} server;

static int load_config(const char *path, domauth_config *cfg, char *err, size_t err_size)
{
    if (config_init(cfg) != 0) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    size_t len = 0;
    char *text = util_read_file(path, 16u << 20, &len, err, err_size);
    if (text == NULL) {
        config_free(cfg);
        return -1;
    }
    int rc = config_parse(cfg, path, text, len, err, err_size);
    free(text);
    return rc;
}

/* ------------------------------------------------------------ passwd */

static int read_password(const char *prompt, char *buf, size_t size)
{
    bool tty = isatty(STDIN_FILENO);
    struct termios old, quiet;
    if (tty) {
        fputs(prompt, stderr);
        tcgetattr(STDIN_FILENO, &old);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    }
    bool ok = fgets(buf, (int)size, stdin) != NULL;
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSANOW, &old);
        fputc('\n', stderr);
    }
    if (!ok)
        return -1;
    size_t n = strlen(buf);
    if (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    else if (n == size - 1)
        return -2; /* longer than the buffer: refused, not cut */
    return 0;
}

static int cmd_passwd(int argc, char **argv)
{
    const char *config = DEFAULT_CONFIG, *user = NULL, *role = "admin";
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--role") == 0 && i + 1 < argc)
            role = argv[++i];
        else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
            config = argv[++i];
        else if (argv[i][0] != '-' && user == NULL)
            user = argv[i];
        else {
            fputs(usage, stderr);
            return 64;
        }
    }
    if (user == NULL || (strcmp(role, "admin") && strcmp(role, "read"))) {
        fputs(usage, stderr);
        return 64;
    }
    domauth_config cfg;
    char err[700];
    if (load_config(config, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "domauth-web: %s\n", err);
        return 78;
    }
    char pw[1024], again[1024];
    int rc = read_password("Password: ", pw, sizeof pw);
    if (rc == 0 && isatty(STDIN_FILENO)) {
        rc = read_password("Again: ", again, sizeof again);
        if (rc == 0 && strcmp(pw, again) != 0) {
            fprintf(stderr, "domauth-web: the passwords differ\n");
            config_free(&cfg);
            return 1;
        }
    }
    if (rc != 0 || pw[0] == '\0') {
        fprintf(stderr, "domauth-web: %s\n", rc == -2 ? "password longer than 1023 bytes"
                                                      : "no password given");
        config_free(&cfg);
        return 1;
    }
    /* A new file goes to domauth-web's group: [web] group, [web] user's
     * group, else the domauth group its systemd unit runs as, if any. */
    gid_t group = (gid_t)-1;
    struct group *gr = cfg.web_group && *cfg.web_group ? getgrnam(cfg.web_group) : NULL;
    struct passwd *pwent = cfg.web_user && *cfg.web_user ? getpwnam(cfg.web_user) : NULL;
    if (gr != NULL)
        group = gr->gr_gid;
    else if (pwent != NULL)
        group = pwent->pw_gid;
    else if (geteuid() == 0 && (gr = getgrnam("domauth")) != NULL)
        group = gr->gr_gid;
    rc = web_users_set(cfg.web_users, user, strcmp(role, "admin") ? WEB_ROLE_READ : WEB_ROLE_ADMIN,
                       pw, group, err, sizeof err);
    memset(pw, 0, sizeof pw);
    memset(again, 0, sizeof again);
    if (rc != 0)
        fprintf(stderr, "domauth-web: %s\n", err);
    else
        printf("%s (%s) set in %s; domauth-web reads it on SIGHUP or restart\n", user, role,
               cfg.web_users);
    config_free(&cfg);
    return rc == 0 ? 0 : 1;
}

/* ------------------------------------------------------------ HTTP */

enum { WEB_QUERY_MAX = 8192 };

typedef struct request_ctx {
    bool started;
    bool too_large, uri_too_long;
    char *query; /* raw, as the request line had it */
    char *body;
    size_t len;
} request_ctx;

/* libmicrohttpd hands the access handler a decoded path and decoded
 * arguments; the console parses the raw query itself (form.h, fuzzed), so
 * it keeps the request line's own here, before any decoding. */
static void *uri_seen(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls;
    (void)c;
    request_ctx *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    const char *q = strchr(uri, '?');
    q = q ? q + 1 : "";
    size_t n = strlen(q);
    if (n > WEB_QUERY_MAX) {
        r->uri_too_long = true;
        n = 0;
    }
    r->query = strndup(q, n);
    if (r->query == NULL) {
        free(r);
        return NULL;
    }
    return r;
}

static void request_done(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    request_ctx *r = *con_cls;
    if (r != NULL) {
        free(r->body);
        free(r->query);
        free(r);
    }
    *con_cls = NULL;
}

static void client_ip(struct MHD_Connection *c, char *out, size_t size)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(out, size, "?");
    if (ci == NULL || ci->client_addr == NULL)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)size);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)size);
}

static enum MHD_Result send_simple(struct MHD_Connection *c, unsigned status, const char *text)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), (void *)text,
                                                                MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(resp, "Content-Type", "text/plain; charset=utf-8");
    enum MHD_Result rc = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    (void)version;
    server *srv = cls;
    request_ctx *rc = *con_cls;
    if (rc == NULL)
        return MHD_NO; /* out of memory in uri_seen */
    if (!rc->started) {
        rc->started = true;
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (cl != NULL && strtoull(cl, NULL, 10) > WEB_BODY_MAX)
            rc->too_large = true;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        if (!rc->too_large && rc->len + *upload_size <= WEB_BODY_MAX) {
            char *grown = realloc(rc->body, rc->len + *upload_size + 1);
            if (grown == NULL)
                return MHD_NO;
            rc->body = grown;
            memcpy(rc->body + rc->len, upload, *upload_size);
            rc->len += *upload_size;
            rc->body[rc->len] = '\0';
        } else {
            rc->too_large = true;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (rc->too_large)
        return send_simple(c, 413, "request body too large\n");
    if (rc->uri_too_long)
        return send_simple(c, 414, "query string too long\n");
    if (atomic_exchange(&srv->reload_users, false)) {
        char why[600];
        if (web_app_reload_users(&srv->app, why, sizeof why) != 0)
            syslog(LOG_ERR, "users file not reloaded: %s", why);
        else
            syslog(LOG_INFO, "users file reloaded: %zu users", srv->app.users.count);
    }
    /* The raw query string: domauth's own parser reads it (form.h). */
    const char *q = strchr(url, '?');
    char path[1024];
    snprintf(path, sizeof path, "%.*s", q ? (int)(q - url) : (int)strlen(url), url);
    char ip[64];
    client_ip(c, ip, sizeof ip);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    web_request req = {
        .method = method,
        .path = path,
        .query = "",
        .body = rc->body,
        .body_len = rc->len,
        .cookie = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Cookie"),
        .content_type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type"),
        .client_ip = ip,
        .now = (int64_t)time(NULL),
        .now_precise = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9,
    };
    req.query = rc->query;
    web_response resp;
    web_response_init(&resp);
    web_handle(&srv->app, &req, &resp);
    size_t len = resp.body.len;
    char *body = strbuf_take(&resp.body);
    struct MHD_Response *m =
        body ? MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE)
             : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(m, "Content-Type", resp.content_type);
    MHD_add_response_header(m, "Cache-Control", "no-store");
    MHD_add_response_header(m, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(m, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(m, "X-Frame-Options", "DENY");
    /* No script at all, nothing from elsewhere, forms only to here. */
    MHD_add_response_header(m, "Content-Security-Policy",
                            "default-src 'none'; style-src 'self'; img-src 'self'; "
                            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
    if (srv->app.tls)
        MHD_add_response_header(m, "Strict-Transport-Security", "max-age=31536000");
    for (int i = 0; i < 2; i++)
        if (resp.set_cookie[i][0])
            MHD_add_response_header(m, "Set-Cookie", resp.set_cookie[i]);
    if (resp.location[0])
        MHD_add_response_header(m, "Location", resp.location);
    enum MHD_Result out = MHD_queue_response(c, (unsigned)(body ? resp.status : 500), m);
    MHD_destroy_response(m);
    web_response_free(&resp);
    return out;
}

/* ------------------------------------------------------------ start */

/* A listening socket on "inet:ADDRESS:PORT" ("inet:[IPV6]:PORT"), opened
 * before the user change so that a port below 1024 works too. */
static int open_listener(const char *listen_on, bool *v6, char *err, size_t err_size)
{
    const char *hp = strncmp(listen_on, "inet:", 5) == 0 ? listen_on + 5 : listen_on;
    const char *colon = strrchr(hp, ':');
    char host[64];
    if (colon == NULL || (size_t)(colon - hp) >= sizeof host) {
        snprintf(err, err_size, "[web] listen: %s: expected ADDRESS:PORT", listen_on);
        return -1;
    }
    snprintf(host, sizeof host, "%.*s", (int)(colon - hp), hp);
    unsigned port = (unsigned)strtoul(colon + 1, NULL, 10);
    struct sockaddr_storage ss = {0};
    socklen_t sl;
    char *h = host;
    if (h[0] == '[') {
        h++;
        h[strlen(h) - 1] = '\0';
    }
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, h, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        sl = sizeof *s4;
        *v6 = false;
    } else if (inet_pton(AF_INET6, h, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        sl = sizeof *s6;
        *v6 = true;
    } else {
        snprintf(err, err_size, "[web] listen: '%s' is not an IP address", h);
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 64) != 0) {
        snprintf(err, err_size, "[web] listen %s: %s", listen_on + 5, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static int drop_privileges(const domauth_config *cfg, char *err, size_t err_size)
{
    if (cfg->web_user == NULL || *cfg->web_user == '\0')
        return 0;
    struct passwd *pw = getpwnam(cfg->web_user);
    if (pw == NULL) {
        snprintf(err, err_size, "%s:%u: [web] user: no user '%s' on this system", cfg->path,
                 config_key_line(cfg, "web", "user"), cfg->web_user);
        return -1;
    }
    gid_t gid = pw->pw_gid;
    if (cfg->web_group && *cfg->web_group) {
        struct group *gr = getgrnam(cfg->web_group);
        if (gr == NULL) {
            snprintf(err, err_size, "%s:%u: [web] group: no group '%s' on this system",
                     cfg->path, config_key_line(cfg, "web", "group"), cfg->web_group);
            return -1;
        }
        gid = gr->gr_gid;
    }
    if (getuid() == pw->pw_uid && geteuid() == pw->pw_uid)
        return 0;
    if (geteuid() != 0) {
        snprintf(err, err_size, "[web] user = %s needs domauth-web started as root",
                 cfg->web_user);
        return -1;
    }
    if (setgroups(1, &gid) != 0 || setgid(gid) != 0 || setuid(pw->pw_uid) != 0) {
        snprintf(err, err_size, "cannot become %s: %s", cfg->web_user, strerror(errno));
        return -1;
    }
    return 0;
}

/* libmicrohttpd's messages, into syslog; its format strings are its own. */
static void log_mhd(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void log_mhd(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    syslog(LOG_WARNING, "http: %s", line);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "passwd") == 0)
        return cmd_passwd(argc, argv);
    const char *config = DEFAULT_CONFIG;
    bool test = false, foreground = false;
    int opt;
    while ((opt = getopt(argc, argv, "c:fth")) != -1) {
        switch (opt) {
        case 'c': config = optarg; break;
        case 'f': foreground = true; break;
        case 't': test = true; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 64;
        }
    }
    if (optind != argc) {
        fputs(usage, stderr);
        return 64;
    }
    (void)foreground; /* always in the foreground (systemd's Type=simple) */
    openlog("domauth-web", LOG_PID | LOG_PERROR, LOG_DAEMON);
    static domauth_config cfg;
    char err[700];
    if (load_config(config, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "domauth-web: %s\n", err);
        return 78;
    }
    bool tls = cfg.web_cert && *cfg.web_cert;
    char *cert = NULL, *key = NULL;
    if (tls) {
        size_t n;
        cert = util_read_file(cfg.web_cert, 1u << 20, &n, err, sizeof err);
        key = cert ? util_read_file(cfg.web_key, 1u << 20, &n, err, sizeof err) : NULL;
        if (key == NULL) {
            fprintf(stderr, "domauth-web: [web] %s\n", err);
            free(cert);
            config_free(&cfg);
            return 66;
        }
    }
    static server srv;
    if (web_app_init(&srv.app, &cfg, tls, err, sizeof err) != 0) {
        fprintf(stderr, "domauth-web: %s\n", err);
        config_free(&cfg);
        return 78;
    }
    if (test) {
        printf("domauth-web: %s: ok; %zu users in %s; %s on %s\n", config, srv.app.users.count,
               cfg.web_users, tls ? "https" : "http", cfg.web_listen + 5);
        web_app_free(&srv.app);
        config_free(&cfg);
        free(cert);
        free(key);
        return 0;
    }
    bool v6;
    int fd = open_listener(cfg.web_listen, &v6, err, sizeof err);
    if (fd < 0 || drop_privileges(&cfg, err, sizeof err) != 0) {
        syslog(LOG_ERR, "%s", err);
        return 71;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* the HTTP thread inherits the mask */
    signal(SIGPIPE, SIG_IGN);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
                     (tls ? MHD_USE_TLS : 0) | (v6 ? MHD_USE_IPv6 : 0);
    srv.mhd = MHD_start_daemon(
        flags, 0, NULL, NULL, handle, &srv, MHD_OPTION_EXTERNAL_LOGGER, log_mhd, NULL,
        MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg.web_max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, 16u, MHD_OPTION_CONNECTION_TIMEOUT, 30u,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024, MHD_OPTION_URI_LOG_CALLBACK,
        uri_seen, NULL, MHD_OPTION_NOTIFY_COMPLETED, request_done, NULL,
        tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, cert,
        MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_END);
    if (srv.mhd == NULL) {
        syslog(LOG_ERR, "cannot start the HTTP server on %s%s", cfg.web_listen + 5,
               tls ? " (check the certificate and key)" : "");
        return 71;
    }
    syslog(LOG_INFO, "started: %s://%s/, %zu users (%s), database %s", tls ? "https" : "http",
           cfg.web_listen + 5, srv.app.users.count, cfg.web_users,
           cfg.database && *cfg.database ? cfg.database : "(none)");
    for (;;) {
        int sig;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            atomic_store(&srv.reload_users, true);
            continue;
        }
        break;
    }
    syslog(LOG_INFO, "stopping");
    MHD_stop_daemon(srv.mhd);
    web_app_free(&srv.app);
    config_free(&cfg);
    free(cert);
    free(key);
    return 0;
}
