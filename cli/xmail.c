/* xmail.c: "domauth xmail-filter", domauth as an SMTP-time filter of the
 * XMail mail server (filters.post-rcpt.tab, filters.pre-data.tab,
 * filters.post-data.tab). XMail runs it once per check with the spool file
 * it wrote. The check goes to domauthd over its control socket when it
 * runs (its DNS cache, records and event store are warm and shared), else
 * the message service (src/service) runs here, blocking, with the site's
 * domauth.conf; both run the same svc_xmail check. The answer is the
 * exit status (3 refuses) and, when refusing, the reply as the first line of
 * FILE.rej; at post-data the header edits are written back into the file.
 *
 * Never in the way of mail: a file that does not parse, a configuration or
 * store that cannot be opened, a DNS outage or a passed deadline is logged
 * and the message accepted (or, at the deadline, the temperror action
 * applied), the file left as it was. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "config/config.h"
#include "msg/address.h"
#include "msg/mailtext.h"
#include "policy/decision.h"
#include "proto/xmail_spool.h"
#include "proto/xmail_wire.h"
#include "util/file.h"
#include "util/strbuf.h"
#include "util/syslog_facility.h"
#ifndef XMAIL_LIGHT
#include <uv.h>

#include "domauth.h"
#include "domauth_net.h"
#include "service/service.h"
#include "service/xmail_check.h"
#include "service_run.h"
#endif

#define DEFAULT_CONFIG "/etc/domauth/domauth.conf"

enum {
    XMAIL_ADDRESS_MAX = 256,     /* RFC 5321's path */
    XMAIL_EXIT_REJECT = 3,       /* XMail: refuse, with FILE.rej's first line as reply */
    DEADLINE_DEFAULT_MS = 60000, /* below XMail's 90 s filter timeout */
    DEADLINE_MIN_MS = 200,
    /* After the deadline the loop gets this long to wind down before the
     * alarm ends the process with the same outcome. */
    BACKSTOP_GRACE_S = 2,
};

static const char usage_xmail[] =
    "usage: domauth xmail-filter --stage STAGE [options] FILE\n"
    "       domauth-xmail-filter --stage STAGE [options] FILE\n"
    "\n"
    "Checks a message for the XMail mail server, as an SMTP filter: XMail runs\n"
    "it from MailRoot/filters.STAGE.tab with the spool file it wrote (@@FILE).\n"
    "The site's policy (domauth.conf) decides, as domauthd would.\n"
    "\n"
    "  --stage STAGE         post-rcpt, pre-data or post-data: the tab file the\n"
    "                        line is in (post-data sees the message: DKIM, the\n"
    "                        header From:, header fields added to the file)\n"
    "  --rcpt ADDR           the recipient being checked (post-rcpt: @@CRCPT)\n"
    "  --auth USER           the SMTP AUTH user (@@USERAUTH; \"-\": none)\n"
    "  --config FILE         domauth.conf (default " DEFAULT_CONFIG ", else the\n"
    "                        built-in defaults, which observe only)\n"
    "  --dns-server ADDR[:PORT][,...]  (default: the configuration's, else\n"
    "                        /etc/resolv.conf)\n"
    "  --zone FILE           answer from a zone file instead, offline\n"
    "  --deadline-ms N       the whole check's time (default 60000, under\n"
    "                        XMail's 90 s); then the temperror action applies\n"
    "  --in-process          check here even when domauthd runs (by default the\n"
    "                        check goes to domauthd's control socket, whose\n"
    "                        DNS cache is warm, and is made here only when\n"
    "                        domauthd cannot be reached; --zone and\n"
    "                        --dns-server imply this)\n"
    "  --stderr              log to standard error too (always when it is a\n"
    "                        terminal)\n"
    "  -h, --help            this text\n"
    "\n"
    "A tab line (fields quoted and TAB-separated), e.g. in filters.post-data.tab\n"
    "(domauth-xmail-filter links the C library only and starts faster):\n"
    "  \"/usr/bin/domauth-xmail-filter\"\t\"--stage\"\t\"post-data\"\t\"--auth\"\t\"@@USERAUTH\"\t\"@@FILE\"\n"
    "\n"
    "Exit status: 3 refused (reject or defer: the reply is the first line of\n"
    "FILE.rej); 0 accepted, also for a file that does not parse (logged, left\n"
    "as it was); 64 usage, 78 a configuration that cannot be used (XMail\n"
    "accepts on any status but 3). See domauth(1), XMAIL FILTER.\n";

/* ------------------------------------------------------------ logging */

static bool log_stderr;

static void xmail_log(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void xmail_log(int priority, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cli_log_tee("domauth xmail-filter", log_stderr, priority, fmt, ap);
    va_end(ap);
}

/* --------------------------------------------------- the backstop alarm */

/* If the loop itself cannot end in time (a blocked disk, a stuck store),
 * SIGALRM ends the process with the deadline's outcome, prepared before
 * the check starts; only async-signal-safe calls in the handler. */
static char backstop_rej[4096];
static char backstop_line[DECISION_REPLY_MAX + 3];
static size_t backstop_len;

static void on_alarm(int sig)
{
    (void)sig;
    if (backstop_len > 0) {
        int fd = open(backstop_rej, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            ssize_t w = write(fd, backstop_line, backstop_len);
            (void)w;
            close(fd);
            _exit(XMAIL_EXIT_REJECT);
        }
    }
    _exit(0);
}

/* ---------------------------------------------------------- the check */

/* The verdict, from domauthd or in-process, as the filter carries it out. */
typedef struct filter_outcome {
    bool decided;
    policy_action action;
    char reply[DECISION_REPLY_MAX];
    char redirect_to[XMAIL_ADDRESS_MAX + 1];
    xmail_edit *edits; /* post-data: what the verdict asks, values folded */
    size_t edit_count;
    bool edits_failed;
    char summary[300]; /* the verdict in words, for the log line */
} filter_outcome;

static void free_edits(filter_outcome *u)
{
    for (size_t i = 0; i < u->edit_count; i++) {
        free((char *)u->edits[i].name);
        free((char *)u->edits[i].value);
    }
    free(u->edits);
    u->edits = NULL;
    u->edit_count = 0;
}

/* A value as it follows "Name:" in the file: a space, then folded. */
static char *field_value(const char *name, const char *value, const char *path)
{
    strbuf v;
    strbuf_init(&v);
    strbuf_putc(&v, ' ');
    bool cut = false;
    if (mailtext_header_fold_or_cut(&v, strlen(name), value, strlen(value), &cut) != 0) {
        strbuf_free(&v);
        return NULL;
    }
    if (cut)
        xmail_log(LOG_WARNING, "%s: a word of the %s field was too long for a header line and "
                  "was cut", path, name);
    return strbuf_take(&v);
}

/* Adds one edit (the value as the service made it, NULL to delete). */
static void add_edit(filter_outcome *u, xmail_edit_op op, unsigned index, const char *name,
                     const char *value, const char *path)
{
    xmail_edit *bigger = realloc(u->edits, (u->edit_count + 1) * sizeof *bigger);
    if (bigger == NULL) {
        u->edits_failed = true;
        return;
    }
    u->edits = bigger;
    xmail_edit *x = &u->edits[u->edit_count++];
    x->op = op;
    x->index = index;
    x->name = strdup(name);
    x->value = op == XMAIL_EDIT_DELETE || value == NULL ? NULL : field_value(name, value, path);
    if (x->name == NULL || (op != XMAIL_EDIT_DELETE && x->value == NULL))
        u->edits_failed = true;
}

#ifndef XMAIL_LIGHT
static xmail_edit_op edit_op(header_op op)
{
    return op == HEADER_INSERT_TOP ? XMAIL_EDIT_INSERT_TOP
           : op == HEADER_APPEND   ? XMAIL_EDIT_APPEND
           : op == HEADER_CHANGE   ? XMAIL_EDIT_CHANGE
                                   : XMAIL_EDIT_DELETE;
}

/* The in-process check's context. */
typedef struct filter_run {
    const char *path;
    filter_outcome *outcome;
} filter_run;

static void on_done(void *arg, const svc_batch_outcome *o)
{
    filter_run *u = arg;
    filter_outcome *out = u->outcome;
    out->decided = true;
    out->action = o->action;
    snprintf(out->reply, sizeof out->reply, "%s", o->reply ? o->reply : "");
    snprintf(out->redirect_to, sizeof out->redirect_to, "%s",
             o->redirect_to ? o->redirect_to : "");
    snprintf(out->summary, sizeof out->summary, "%s", o->summary ? o->summary : "accept");
    for (size_t i = 0; i < o->edit_count; i++)
        add_edit(out, edit_op(o->edits[i].op), o->edits[i].index, o->edits[i].name,
                 o->edits[i].value, u->path);
}

#endif

/* ------------------------------------------------- the deadline outcome */

/* The temperror action of the settings, as a reply line (NULL: accept). A
 * template's %{...} are expanded here, without a result to take them
 * from: the sender's domain, the client, "temperror". */
static int deadline_reply(const policy_settings *ps, const xmail_spool *s, char *out, size_t size)
{
    const result_policy *r = &ps->results[DA_SPF_TEMPERROR];
    if (ps->monitor || r->action == ACTION_ACCEPT || r->reply == NULL)
        return -1;
    const char *domain = address_domain(s->mail_from);
    if (domain == NULL || *domain == '\0')
        domain = s->helo;
    static const char *const names[] = {"%{explanation}", "%{result}", "%{domain}", "%{ip}",
                                        "%{sender}"};
    const char *values[] = {"the check's deadline passed", "temperror", domain, s->client_ip,
                            s->mail_from};
    strbuf sb;
    strbuf_init(&sb);
    for (const char *p = r->reply; *p;) {
        bool done = false;
        for (size_t k = 0; k < 5 && !done; k++) {
            size_t n = strlen(names[k]);
            if (strncmp(p, names[k], n) == 0) {
                strbuf_puts(&sb, values[k]);
                p += n;
                done = true;
            }
        }
        if (!done)
            strbuf_putc(&sb, *p++);
    }
    snprintf(out, size, "%s", sb.data ? sb.data : "");
    strbuf_free(&sb);
    return 0;
}

/* ---------------------------------------------------------- the files */

/* One printable line: the reply comes from a template and DNS text. */
static void reply_line(const char *reply, char *out, size_t size)
{
    size_t n = 0;
    for (const char *p = reply; *p && n + 1 < size; p++)
        out[n++] = ((unsigned char)*p < 0x20 || *p == 0x7f) ? ' ' : *p;
    out[n] = '\0';
}

static int write_rej(const char *path, const char *reply)
{
    char rej[4096];
    if ((size_t)snprintf(rej, sizeof rej, "%s.rej", path) >= sizeof rej)
        return -1;
    char line[DECISION_REPLY_MAX];
    reply_line(reply, line, sizeof line);
    FILE *f = fopen(rej, "w");
    if (f == NULL) {
        xmail_log(LOG_ERR, "%s: cannot write %s: %s (XMail answers 554 instead)", path, rej,
                  strerror(errno));
        return -1;
    }
    fprintf(f, "%s\r\n", line);
    if (fclose(f) != 0) {
        xmail_log(LOG_ERR, "%s: cannot write %s: %s", path, rej, strerror(errno));
        return -1;
    }
    return 0;
}

/* Writes bytes over path: a temporary file in the same directory, fsynced,
 * then renamed over it (and the directory fsynced), so the file is the old
 * one or the new one, never a mix. */
static int replace_file(const char *path, const char *bytes, size_t len, char *err,
                        size_t err_size)
{
    struct stat st;
    if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, err_size, "not a regular file");
        return -1;
    }
    char tmp[4096];
    const char *slash = strrchr(path, '/');
    int dir_len = slash ? (int)(slash - path + 1) : 0;
    if ((size_t)snprintf(tmp, sizeof tmp, "%.*s.%s.domauth-XXXXXX", dir_len, path,
                         slash ? slash + 1 : path) >= sizeof tmp) {
        snprintf(err, err_size, "the path is too long");
        return -1;
    }
    int fd = mkstemp(tmp);
    if (fd < 0) {
        snprintf(err, err_size, "cannot create a file beside it: %s", strerror(errno));
        return -1;
    }
    bool ok = fchmod(fd, st.st_mode & 07777) == 0;
    for (size_t done = 0; ok && done < len;) {
        ssize_t w = write(fd, bytes + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            ok = false;
        else
            done += (size_t)w;
    }
    if (ok)
        ok = fsync(fd) == 0;
    int saved = errno;
    if (close(fd) != 0 && ok) {
        ok = false;
        saved = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = false;
        saved = errno;
    }
    if (!ok) {
        unlink(tmp);
        snprintf(err, err_size, "cannot write it: %s", strerror(saved));
        return -1;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", dir_len ? dir_len : 1, dir_len ? path : ".");
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

/* ------------------------------------------------------ configuration */


#ifndef XMAIL_LIGHT
/* ------------------------------------------------- checked in-process */

typedef struct in_process_check {
    xmail_stage stage;
    const xmail_spool *spool;
    const char *data, *rcpt, *auth;
    filter_run run;
} in_process_check;

static void *start_check(const svc_env *env, const svc_config *sc, void *arg)
{
    in_process_check *p = arg;
    return svc_xmail_start(env, sc, p->stage, p->spool, p->data, p->rcpt, p->auth, on_done,
                           &p->run);
}

static void stop_check(void *check)
{
    svc_xmail_free(check);
}

/* The check in this process, with the site's configuration: its own DNS
 * cache (cold), the event store and the quarantine folder domauthd uses.
 * Returns when the outcome came or the deadline passed. */
static void check_in_process(domauth_config *cfg, const char *path, xmail_stage stage,
                             const xmail_spool *spool, const char *data, const char *rcpt,
                             const char *auth, const char *servers, const char *zone_path,
                             unsigned long deadline_ms, filter_outcome *out, bool *timed_out)
{
    in_process_check p = {.stage = stage, .spool = spool, .data = data, .rcpt = rcpt, .auth = auth,
                    .run = {.path = path, .outcome = out}};
    cli_service_run r = {.cfg = cfg,
                         .servers = servers,
                         .zone_path = zone_path,
                         .deadline_ms = deadline_ms,
                         .open_quarantine = stage == XMAIL_STAGE_POST_DATA,
                         .stderr_events = log_stderr,
                         .what = path,
                         .log = xmail_log,
                         .start = start_check,
                         .stop = stop_check,
                         .arg = &p,
                         .done = &out->decided};
    *timed_out = cli_service_run_once(&r) == 1;
}
#else

/* domauth-xmail-filter links none of the engines (so it starts in a
 * fraction of domauth's time): the check in-process is domauth's, run in
 * this process's place with what is left of the deadline. domauth is
 * looked for beside this program. */
static void exec_in_process(int argc, char **argv, const char *path, int64_t remaining_ms)
{
    char self[4096], binary[4200];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        xmail_log(LOG_ERR, "%s: not checked, accepted: cannot find domauth (/proc/self/exe: %s)",
                  path, strerror(errno));
        return;
    }
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash != NULL)
        *slash = '\0';
    snprintf(binary, sizeof binary, "%s/domauth", slash ? self : ".");
    char deadline[32];
    snprintf(deadline, sizeof deadline, "%lld",
             (long long)(remaining_ms > DEADLINE_MIN_MS ? remaining_ms : DEADLINE_MIN_MS));
    /* domauth xmail-filter OPTIONS... --in-process --deadline-ms N FILE
     * (getopt has moved FILE, the one operand, to the end). */
    char **args = calloc((size_t)argc + 6, sizeof *args);
    if (args == NULL)
        return;
    size_t k = 0;
    args[k++] = binary;
    args[k++] = "xmail-filter";
    for (int i = 1; i < argc - 1; i++)
        args[k++] = argv[i];
    args[k++] = "--in-process";
    args[k++] = "--deadline-ms";
    args[k++] = deadline;
    args[k++] = argv[argc - 1];
    args[k] = NULL;
    alarm(0); /* an alarm survives exec: domauth sets its own */
    execv(binary, args);
    xmail_log(LOG_ERR, "%s: not checked, accepted: cannot run %s: %s", path, binary,
              strerror(errno));
    free(args);
}
#endif

/* ---------------------------------------------------- checked by domauthd */

typedef enum ask_status {
    ASK_ANSWERED,     /* *out holds domauthd's verdict */
    ASK_NOT_THERE,    /* nobody to ask (or it declined): check in-process */
    ASK_NO_ANSWER,    /* asked, and no answer in time: the deadline's outcome */
} ask_status;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for fd to be ready for events until the deadline. */
static bool wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return false;
        struct pollfd p = {.fd = fd, .events = events};
        int rc = poll(&p, 1, (int)left);
        if (rc > 0)
            return true;
        if (rc < 0 && errno != EINTR)
            return false;
    }
}

/* 0 sent, -1 the deadline passed, -2 the peer is gone. */
static int send_all(int fd, const char *data, size_t len, int64_t deadline)
{
    while (len > 0) {
        ssize_t w = send(fd, data, len, MSG_NOSIGNAL);
        if (w > 0) {
            data += w;
            len -= (size_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!wait_fd(fd, POLLOUT, deadline))
                return -1;
        } else {
            return -2;
        }
    }
    return 0;
}

static ask_status ask_daemon(const char *socket_path, xmail_stage stage, const char *rcpt,
                             const char *auth, const char *data, size_t len, int64_t deadline,
                             const char *path, filter_outcome *out, char *why, size_t why_size)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(socket_path) >= sizeof sa.sun_path) {
        snprintf(why, why_size, "the control socket's path is too long");
        return ASK_NOT_THERE;
    }
    strcpy(sa.sun_path, socket_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(why, why_size, "socket: %s", strerror(errno));
        return ASK_NOT_THERE;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        snprintf(why, why_size, "%s: %s", socket_path, strerror(errno));
        close(fd);
        return ASK_NOT_THERE;
    }
    strbuf req;
    strbuf_init(&req);
    if (xmail_wire_put_request(&req, stage, len, rcpt, auth) != 0 || req.failed) {
        strbuf_free(&req);
        close(fd);
        snprintf(why, why_size, "the recipient or user is too long to send");
        return ASK_NOT_THERE;
    }
    int rc = send_all(fd, req.data, req.len, deadline);
    if (rc == 0)
        rc = send_all(fd, data, len, deadline);
    strbuf_free(&req);
    bool sent = rc == 0;
    strbuf answer;
    strbuf_init(&answer);
    /* A daemon that closes before answering (refused at its session limit,
     * stopping, gone) wrote no verdict: the check is ours to make. */
    ask_status status = rc == -2 ? ASK_NOT_THERE : ASK_NO_ANSWER;
    snprintf(why, why_size, "%s", rc == 0    ? "no answer in time"
                                  : rc == -1 ? "could not send the file in time"
                                             : "domauthd closed the connection");
    xmail_wire_answer a;
    while (sent) {
        char buf[16384];
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!wait_fd(fd, POLLIN, deadline))
                break;
            continue;
        }
        bool eof = n <= 0;
        if (eof && answer.len == 0) {
            snprintf(why, why_size, "domauthd closed the connection without an answer");
            status = ASK_NOT_THERE;
            break;
        }
        if (!eof)
            strbuf_append(&answer, buf, (size_t)n);
        if (answer.failed) {
            snprintf(why, why_size, "out of memory");
            break;
        }
        if (answer.len > XMAIL_WIRE_ANSWER_MAX) {
            snprintf(why, why_size, "domauthd's answer: over %d bytes", XMAIL_WIRE_ANSWER_MAX);
            break;
        }
        /* An answer ends with "end" or is one "error" line: parse only then,
         * not again after every chunk of a long one. */
        bool whole = eof || (answer.data[answer.len - 1] == '\n' &&
                     ((answer.len >= 4 && memcmp(answer.data + answer.len - 4, "end\n", 4) == 0) ||
                      (answer.len >= 6 && memcmp(answer.data, "error ", 6) == 0)));
        if (!whole)
            continue;
        char err[200];
        int got = xmail_wire_parse_answer(answer.data, answer.len, &a, err, sizeof err);
        if (got == 1 && eof) {
            snprintf(why, why_size, "domauthd closed the connection without an answer");
            status = ASK_NOT_THERE;
            break;
        }
        if (got == 1)
            continue;
        if (got < 0) {
            snprintf(why, why_size, "domauthd's answer: %s", err);
            break;
        }
        if (a.error != NULL) {
            /* It declined before checking (no event written): the check
             * is ours to make. */
            snprintf(why, why_size, "domauthd declined: %s", a.error);
            status = ASK_NOT_THERE;
        } else {
            int action = -1;
            for (int k = ACTION_ACCEPT; k <= ACTION_REDIRECT; k++)
                if (strcmp(a.action, policy_action_name((policy_action)k)) == 0)
                    action = k;
            if (action < 0) {
                snprintf(why, why_size, "domauthd's answer: unknown action %s", a.action);
            } else {
                status = ASK_ANSWERED;
                out->decided = true;
                out->action = (policy_action)action;
                snprintf(out->reply, sizeof out->reply, "%s", a.reply ? a.reply : "");
                snprintf(out->redirect_to, sizeof out->redirect_to, "%s",
                         a.redirect ? a.redirect : "");
                snprintf(out->summary, sizeof out->summary, "%s",
                         a.summary ? a.summary : a.action);
                for (size_t i = 0; i < a.edit_count; i++)
                    add_edit(out, a.edits[i].op, a.edits[i].index, a.edits[i].name,
                             a.edits[i].value, path);
            }
        }
        xmail_wire_answer_free(&a);
        break;
    }
    strbuf_free(&answer);
    close(fd);
    return status;
}

/* ----------------------------------------------------------- the filter */

int cmd_xmail_filter(int argc, char **argv)
{
    enum {
        O_STAGE = 1000, O_RCPT, O_AUTH, O_CONFIG, O_SERVER, O_ZONE, O_DEADLINE, O_STDERR,
        O_IN_PROCESS
    };
    static const struct option options[] = {
        {"stage", required_argument, NULL, O_STAGE},
        {"rcpt", required_argument, NULL, O_RCPT},
        {"auth", required_argument, NULL, O_AUTH},
        {"config", required_argument, NULL, O_CONFIG},
        {"dns-server", required_argument, NULL, O_SERVER},
        {"zone", required_argument, NULL, O_ZONE},
        {"deadline-ms", required_argument, NULL, O_DEADLINE},
        {"stderr", no_argument, NULL, O_STDERR},
        {"in-process", no_argument, NULL, O_IN_PROCESS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *stage_name = NULL, *rcpt = NULL, *auth = NULL, *config_path = NULL;
    const char *servers = NULL, *zone_path = NULL;
    unsigned long deadline_ms = DEADLINE_DEFAULT_MS;
    bool in_process = false;
    log_stderr = isatty(STDERR_FILENO);
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case O_STAGE: stage_name = optarg; break;
        case O_RCPT: rcpt = optarg; break;
        case O_AUTH: auth = optarg; break;
        case O_CONFIG: config_path = optarg; break;
        case O_SERVER: servers = optarg; break;
        case O_ZONE: zone_path = optarg; break;
        case O_DEADLINE:
            if (!cli_parse_option_number("--deadline-ms", optarg, DEADLINE_MIN_MS, 3600000,
                                         &deadline_ms))
                return CLI_EXIT_USAGE;
            break;
        case O_STDERR: log_stderr = true; break;
        case O_IN_PROCESS: in_process = true; break;
        case 'h': fputs(usage_xmail, stdout); return 0;
        default: fputs(usage_xmail, stderr); return CLI_EXIT_USAGE;
        }
    }
    int stage = stage_name ? xmail_stage_parse(stage_name) : -1;
    if (stage < 0 || optind + 1 != argc) {
        fprintf(stderr, "domauth: --stage post-rcpt|pre-data|post-data and one FILE are "
                        "required\n%s", usage_xmail);
        return CLI_EXIT_USAGE;
    }
    if (stage == XMAIL_STAGE_POST_RCPT && (rcpt == NULL || *rcpt == '\0')) {
        fprintf(stderr, "domauth: --stage post-rcpt needs --rcpt (XMail's @@CRCPT): the "
                        "recipient is not in the file yet\n");
        return CLI_EXIT_USAGE;
    }
    const char *path = argv[optind];
    char err[1024];
    domauth_config cfg;
    bool given = config_path != NULL;
    if (config_path == NULL)
        config_path = DEFAULT_CONFIG;
    if (cli_load_site_config(&cfg, config_path, given, err, sizeof err) != 0) {
        openlog("domauth", LOG_PID, LOG_MAIL);
        xmail_log(LOG_ERR, "%s: not checked: the configuration: %s", path, err);
        closelog();
        return 78; /* EX_CONFIG: XMail accepts */
    }
    int facility = util_syslog_facility(cfg.syslog_facility);
    openlog("domauth", LOG_PID, facility < 0 ? LOG_MAIL : facility);

    /* The file: a problem with it is logged and the message accepted. */
    int status = 0;
    size_t len = 0;
    char *data = util_read_file(path, XMAIL_SPOOL_FILE_MAX, &len, err, sizeof err);
    if (data == NULL) {
        xmail_log(LOG_ERR, "%s: not checked, accepted: %s", path, err);
        config_free(&cfg);
        closelog();
        return 0;
    }
    xmail_spool spool;
    xmail_spool_error perr;
    if (xmail_spool_parse(data, len, (xmail_stage)stage, &spool, &perr) != 0) {
        if (perr.line)
            xmail_log(LOG_ERR, "%s: line %u: %s; not an XMail %s file: accepted unchecked, the "
                      "file left as it is", path, perr.line, perr.text, stage_name);
        else
            xmail_log(LOG_ERR, "%s: %s; accepted unchecked, the file left as it is", path,
                      perr.text);
        free(data);
        config_free(&cfg);
        closelog();
        return 0;
    }

    /* The deadline: each engine's own deadline is cut so that HELO and MAIL
     * FROM checked one after the other still end within it, with the
     * normal temperror result; the timer and the alarm are the rest. */
    int64_t deadline = now_ms() + (int64_t)deadline_ms;
    unsigned engine_ms = (unsigned)((deadline_ms - 100) / 2);
    if (cfg.spf_deadline_ms == 0 || cfg.spf_deadline_ms > engine_ms)
        cfg.spf_deadline_ms = engine_ms;
    const char *decided_for = stage == XMAIL_STAGE_POST_RCPT ? rcpt : spool.rcpts[0].address;
    const policy_settings *ps = config_settings_for(&cfg, address_domain(decided_for));
    char late_reply[DECISION_REPLY_MAX];
    bool late_refuses = deadline_reply(ps, &spool, late_reply, sizeof late_reply) == 0;
    if (late_refuses) {
        snprintf(backstop_rej, sizeof backstop_rej, "%s.rej", path);
        char line[DECISION_REPLY_MAX];
        reply_line(late_reply, line, sizeof line);
        backstop_len = (size_t)snprintf(backstop_line, sizeof backstop_line, "%s\r\n", line);
    }
    signal(SIGALRM, on_alarm);
    alarm((unsigned)((deadline_ms + 999) / 1000) + BACKSTOP_GRACE_S);

    /* domauthd, when it runs, checks with its warm cache and writes the
     * event; else (or with --zone, or --in-process) this process does. */
    filter_outcome u = {.action = ACTION_ACCEPT};
    bool timed_out = false;
    const char *via = "in-process";
    const char *control = cfg.control_listen;
    bool try_daemon = !in_process && zone_path == NULL && servers == NULL && control != NULL &&
                      strncmp(control, "unix:", 5) == 0 && len <= XMAIL_WIRE_FILE_MAX;
    if (try_daemon) {
        char why[600];
        ask_status st = ask_daemon(control + 5, (xmail_stage)stage, rcpt, auth, data, len,
                                   deadline, path, &u, why, sizeof why);
        if (st == ASK_ANSWERED) {
            via = "domauthd";
        } else if (st == ASK_NO_ANSWER) {
            via = "domauthd";
            timed_out = true;
            xmail_log(LOG_WARNING, "%s: domauthd (%s): %s", path, control + 5, why);
        } else {
            xmail_log(LOG_INFO, "%s: domauthd not reachable (%s): checked in-process", path,
                      why);
        }
    }
    if (!u.decided && !timed_out) {
#ifndef XMAIL_LIGHT
        check_in_process(&cfg, path, (xmail_stage)stage, &spool, data, rcpt, auth, servers,
                         zone_path, (unsigned long)(deadline - now_ms() > DEADLINE_MIN_MS
                                                        ? deadline - now_ms()
                                                        : DEADLINE_MIN_MS),
                         &u, &timed_out);
#else
        exec_in_process(argc, argv, path, deadline - now_ms());
        /* Only when domauth could not be run: accepted, as documented. */
#endif
    }

    policy_action action = u.action;
    char reply[DECISION_REPLY_MAX];
    snprintf(reply, sizeof reply, "%s", u.reply);
    if (timed_out || !u.decided) {
        /* No verdict in time: the temperror action, and no edits. */
        free_edits(&u);
        action = late_refuses ? ACTION_DEFER : ACTION_ACCEPT;
        snprintf(reply, sizeof reply, "%s", late_refuses ? late_reply : "");
        xmail_log(LOG_WARNING, "%s: %s within %lu ms: the temperror action, %s", path,
                  timed_out ? "no verdict" : "no verdict (the DNS resolver stopped)",
                  deadline_ms, late_refuses ? reply : "accept");
    } else {
        xmail_log(LOG_INFO, "%s: %s %s from %s for %s (%s): %s%s%s", path, stage_name,
                  spool.message_id, spool.client_ip,
                  stage == XMAIL_STAGE_POST_RCPT ? rcpt : spool.rcpts[0].address, via,
                  u.summary[0] ? u.summary : "accept", action != ACTION_ACCEPT ? ": " : "",
                  action == ACTION_REDIRECT ? u.redirect_to
                  : action != ACTION_ACCEPT ? reply
                                            : "");
    }

    const char *new_rcpt[1] = {u.redirect_to};
    bool redirect = action == ACTION_REDIRECT && u.redirect_to[0] != '\0' &&
                    stage == XMAIL_STAGE_POST_DATA;
    if (action == ACTION_DEFER || action == ACTION_REJECT) {
        /* XMail has one refusal: the reply line says reject (5xx) or
         * defer (4xx), and XMail sends it as written. */
        write_rej(path, reply[0] ? reply : "554 5.7.1 Refused by policy");
        status = XMAIL_EXIT_REJECT;
    } else if (u.edit_count > 0 || redirect) {
        strbuf out;
        strbuf_init(&out);
        char why[300];
        if (u.edits_failed) {
            xmail_log(LOG_ERR, "%s: out of memory: the file left as it is", path);
        } else if (xmail_spool_rewrite(data, &spool, u.edits, u.edit_count,
                                       redirect ? new_rcpt : NULL, redirect ? 1 : 0, &out, why,
                                       sizeof why) != 0) {
            xmail_log(LOG_ERR, "%s: not rewritten: %s; the file left as it is", path, why);
        } else if (replace_file(path, out.data, out.len, why, sizeof why) != 0) {
            xmail_log(LOG_ERR, "%s: not rewritten: %s; the file left as it is", path, why);
        }
        strbuf_free(&out);
    }
    if (action == ACTION_QUARANTINE)
        xmail_log(LOG_ERR, "%s: a quarantine XMail cannot carry out (no hold queue): "
                  "delivered", path);

    free_edits(&u);
    alarm(0);
    xmail_spool_free(&spool);
    free(data);
    config_free(&cfg);
    closelog();
    return status;
}
