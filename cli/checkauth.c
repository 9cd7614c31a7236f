/* checkauth.c: "domauth checkauth", the check-auth responder. An MTA
 * delivers a message to it (aliases(5) "|/usr/bin/domauth checkauth", or
 * a Postfix pipe(8) transport); it runs the whole message service over the
 * message with the envelope the MTA gives (SPF for the HELO and MAIL FROM,
 * Sender ID's PRA, DKIM per signature, DMARC, and what else the service
 * checks) and mails the sender a report: a summary, the details, and the
 * Authentication-Results as recorded.
 *
 * An auto-responder must not make mail loops or be a reflector: no reply
 * to the null sender, to MAILER-DAEMON, to a message that is itself
 * automatic (RFC 3834: Auto-Submitted other than "no", Precedence bulk,
 * list or junk, a List-Id) or that carries our own loop mark, nor more
 * than --rate replies per sender per hour. The reply goes out with the
 * null envelope sender and Auto-Submitted: auto-replied. Everything taken
 * from the message is printed as inert text: controls and non-ASCII bytes
 * are escaped, and no header field of the reply carries it except To:
 * (a checked address) and In-Reply-To/References (a checked msg-id). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "config/config.h"
#include "domauth.h"
#include "msg/address.h"
#include "msg/header_block.h"
#include "service/batch.h"
#include "service/sendmail.h"
#include "service_run.h"
#include "util/file.h"
#include "util/strbuf.h"
#include "util/syslog_facility.h"

#define DEFAULT_CONFIG "/etc/domauth/domauth.conf"
#define DEFAULT_SENDMAIL "/usr/sbin/sendmail"
#define DEFAULT_STATE "/var/lib/domauth/checkauth"
#define LOOP_MARK "X-Domauth-Checkauth"
/* A local submission takes seconds; past this sendmail is stuck. */
#define REPORT_SENDMAIL_TIMEOUT 120

enum {
    MESSAGE_MAX = 32 * 1024 * 1024,
    DEADLINE_MS = 60000,
    RATE_DEFAULT = 5, /* replies per sender per hour */
    RATE_WINDOW_S = 3600,
    EXIT_TEMPFAIL = 75, /* EX_TEMPFAIL: the MTA tries the delivery again */
    EXIT_CONFIG = 78,
};

static const char usage_checkauth[] =
    "usage: domauth checkauth [options] [MESSAGE]\n"
    "\n"
    "The check-auth responder: reads a message as the MTA delivers it (standard\n"
    "input, or MESSAGE), checks it as domauthd would (SPF for HELO and MAIL FROM,\n"
    "Sender ID's PRA, DKIM per signature, and what else the service checks) and\n"
    "mails the sender a report of what passed and what failed.\n"
    "\n"
    "The envelope, from the options or, as Postfix local(8) gives them to a\n"
    "command, from the environment:\n"
    "  --sender ADDR        MAIL FROM ($SENDER); \"\" for the null sender\n"
    "  --recipient ADDR     this mailbox ($RECIPIENT): the report's From:\n"
    "  --client-ip IP       the SMTP client ($CLIENT_ADDRESS)\n"
    "  --helo NAME          its HELO/EHLO name ($CLIENT_HELO)\n"
    "  --client-name NAME   its verified name ($CLIENT_HOSTNAME)\n"
    "Options:\n"
    "  --config FILE        domauth.conf (default " DEFAULT_CONFIG ", else built-in\n"
    "                       defaults)\n"
    "  --dns-server ADDR[:PORT][,...] | --zone FILE   as domauth verify\n"
    "  --sendmail PATH      the program the report is sent with (default\n"
    "                       " DEFAULT_SENDMAIL "; run as: PATH -i -f <> -- SENDER)\n"
    "  --rate N             replies per sender per hour (default 5; 0: no limit)\n"
    "  --state DIR          where the rate is counted (default " DEFAULT_STATE ")\n"
    "  --dry-run            print the report instead of sending it\n"
    "  --stderr             log to standard error too\n"
    "  -h, --help           this text\n"
    "\n"
    "In /etc/aliases:  check-auth: \"|/usr/bin/domauth checkauth\"\n"
    "Exit status: 0 the report was sent, or deliberately not (logged); 75 it\n"
    "could not be sent now (the MTA retries); 64 usage; 66 no message; 78 a\n"
    "configuration that cannot be used. See domauth(1), CHECK-AUTH RESPONDER.\n";

/* ------------------------------------------------------------ logging */

static bool log_stderr;

static void ca_log(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ca_log(int priority, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cli_log_tee("domauth checkauth", log_stderr, priority, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------- the message */

/* The message with every line ending in CRLF (the MTA hands LF), without
 * an mbox "From " line. */
static char *normalise(const char *text, size_t len, size_t *out_len)
{
    if (len >= 5 && memcmp(text, "From ", 5) == 0) {
        const char *nl = memchr(text, '\n', len);
        size_t skip = nl ? (size_t)(nl - text) + 1 : len;
        text += skip;
        len -= skip;
    }
    strbuf sb;
    strbuf_init(&sb);
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r'))
            strbuf_putc(&sb, '\r');
        strbuf_putc(&sb, text[i]);
    }
    if (sb.failed) {
        strbuf_free(&sb);
        return NULL;
    }
    *out_len = sb.len;
    if (sb.data == NULL)
        return strdup("");
    return strbuf_take(&sb);
}

/* The value of the first field named name, trimmed, in out (empty when
 * there is none). */
static void field_value(const header_field *f, size_t n, const char *name, char *out, size_t size)
{
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (f[i].name_len != strlen(name) || strncasecmp(f[i].name, name, f[i].name_len) != 0)
            continue;
        const char *v = f[i].value, *end = v + f[i].value_len;
        while (v < end && (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n'))
            v++;
        while (end > v && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
            end--;
        size_t k = 0;
        for (; v < end && k + 1 < size; v++)
            out[k++] = (*v == '\r' || *v == '\n' || *v == '\t') ? ' ' : *v;
        out[k] = '\0';
        return;
    }
}

static bool has_field(const header_field *f, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (f[i].name_len == strlen(name) && strncasecmp(f[i].name, name, f[i].name_len) == 0)
            return true;
    return false;
}

/* Why no reply may go to this message, or NULL (RFC 3834 section 2). */
static const char *no_reply_reason(const char *sender, const header_field *f, size_t n)
{
    if (sender == NULL || *sender == '\0')
        return "the null sender";
    const char *at = strrchr(sender, '@');
    size_t local = at ? (size_t)(at - sender) : strlen(sender);
    if (local == 13 && strncasecmp(sender, "mailer-daemon", 13) == 0)
        return "MAILER-DAEMON";
    char v[256];
    field_value(f, n, "Auto-Submitted", v, sizeof v);
    if (v[0] && strncasecmp(v, "no", 2) != 0)
        return "an automatic message (Auto-Submitted)";
    field_value(f, n, "Precedence", v, sizeof v);
    if (strcasecmp(v, "bulk") == 0 || strcasecmp(v, "list") == 0 || strcasecmp(v, "junk") == 0)
        return "bulk or list mail (Precedence)";
    if (has_field(f, n, "List-Id"))
        return "list mail (List-Id)";
    if (has_field(f, n, LOOP_MARK))
        return "a report of this responder (loop)";
    return NULL;
}

/* An address a To: field and sendmail's argument may hold: no controls,
 * spaces, quotes, angle brackets, commas or a leading '-'. */
static bool reply_address_ok(const char *a)
{
    size_t n = strlen(a);
    if (n == 0 || n > 256 || a[0] == '-' || strchr(a, '@') == NULL)
        return false;
    for (const char *p = a; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || strchr("<>()\",;:\\[]", *p))
            return false;
    return true;
}

/* A msg-id the reply may quote: "<...>" of printable ASCII. */
static bool msg_id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n < 3 || n > 250 || id[0] != '<' || id[n - 1] != '>')
        return false;
    for (size_t i = 1; i + 1 < n; i++)
        if ((unsigned char)id[i] <= 0x20 || (unsigned char)id[i] >= 0x7f || id[i] == '<' ||
            id[i] == '>')
            return false;
    return true;
}

/* ------------------------------------------------------------ the rate */

/* Counts a reply to sender in DIR (one small file per sender, named by a
 * hash of the address, holding the times of the replies in the window).
 * Returns 1 when a reply may go (and records it), 0 when the sender had
 * its rate, -1 when the state cannot be kept (then the reply goes: the
 * limit is a courtesy, the report is what the sender asked for; logged). */
static int rate_take(const char *dir, const char *sender, unsigned rate, time_t now)
{
    if (rate == 0)
        return 1;
    uint64_t h = 1469598103934665603ull; /* FNV-1a over the lower-cased address */
    for (const char *p = sender; *p; p++) {
        h ^= (unsigned char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        h *= 1099511628211ull;
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/%016llx", dir, (unsigned long long)h);
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        ca_log(LOG_WARNING, "rate state %s: %s (not counted)", dir, strerror(errno));
        return -1;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0 || flock(fd, LOCK_EX) != 0) {
        ca_log(LOG_WARNING, "rate state %s: %s (not counted)", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    char buf[4096];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    long long kept[64];
    size_t count = 0;
    for (char *p = buf; *p && count < 64;) {
        char *end;
        long long t = strtoll(p, &end, 10);
        if (end == p)
            break;
        if (t > (long long)now - RATE_WINDOW_S && t <= (long long)now)
            kept[count++] = t;
        p = end;
        while (*p == '\n')
            p++;
    }
    int allowed = count < rate;
    if (allowed && count == 64)
        memmove(kept, kept + 1, --count * sizeof kept[0]);
    if (allowed)
        kept[count++] = (long long)now;
    strbuf out;
    strbuf_init(&out);
    for (size_t i = 0; i < count; i++)
        strbuf_printf(&out, "%lld\n", kept[i]);
    if (ftruncate(fd, 0) != 0 || pwrite(fd, out.data ? out.data : "", out.len, 0) != (ssize_t)out.len)
        ca_log(LOG_WARNING, "rate state %s: %s", path, strerror(errno));
    strbuf_free(&out);
    close(fd);
    return allowed;
}

/* ---------------------------------------------------------- the report */

/* Text from the message or DNS, as inert printable ASCII. */
static void put_inert(strbuf *sb, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p >= 0x20 && *p < 0x7f)
            strbuf_putc(sb, (char)*p);
        else
            strbuf_printf(sb, "\\x%02x", *p);
    }
}

static const char *prop(const auth_result *r, const char *name)
{
    for (size_t i = 0; i < r->prop_count; i++)
        if (strcmp(r->props[i].name, name) == 0)
            return r->props[i].value;
    return NULL;
}

/* The words after a result, as the source document's responder gives them. */
static const char *result_words(const char *method, const char *result)
{
    if (strcmp(method, "dmarc") == 0 && strcmp(result, "fail") == 0)
        return "fail (no SPF or DKIM pass aligned with the From: domain)";
    if (strcmp(method, "dmarc") == 0 && strcmp(result, "none") == 0)
        return "none (no DMARC record)";
    if (strcmp(result, "fail") == 0)
        return "fail (not permitted)";
    if (strcmp(result, "softfail") == 0)
        return "softfail (not permitted, transitional)";
    if (strcmp(result, "none") == 0)
        return strcmp(method, "dkim") == 0 ? "none (message not signed)" : "none (no record)";
    if (strcmp(result, "temperror") == 0)
        return "temperror (a DNS error: try again later)";
    if (strcmp(result, "permerror") == 0)
        return strcmp(method, "dkim") == 0 ? "permerror (a broken signature or key)"
                                           : "permerror (a broken record)";
    return result;
}

typedef struct report {
    bool done;
    strbuf summary, details, authres;
    char verdict[300];
} report;

static void line(strbuf *sb, const char *label, const char *value)
{
    strbuf_printf(sb, "%-17s ", label);
    put_inert(sb, value);
    strbuf_putc(sb, '\n');
}

/* An Authentication-Results value with one result a line: a new line
 * after each ';' outside comments and quoted strings. */
static void put_authres(strbuf *sb, const char *value)
{
    int depth = 0;
    bool quoted = false;
    for (const char *p = value; *p; p++) {
        char one[2] = {*p, '\0'};
        if (*p == '\r' || *p == '\n' || (*p == '\t' && depth == 0)) {
            continue; /* the service's own folding, if any */
        }
        put_inert(sb, one);
        if (quoted) {
            quoted = *p != '"';
        } else if (*p == '"') {
            quoted = true;
        } else if (*p == '(') {
            depth++;
        } else if (*p == ')' && depth > 0) {
            depth--;
        } else if (*p == ';' && depth == 0) {
            strbuf_puts(sb, "\n   ");
        }
    }
}

/* The summary's lines in the source document's order: mail-from (and
 * HELO), PRA, each DKIM signature, DMARC, then any other method. */
enum { S_SPF, S_PRA, S_DKIM, S_DMARC, S_OTHER, S_COUNT };

static void on_checked(void *arg, const svc_batch_outcome *o)
{
    report *rp = arg;
    rp->done = true;
    snprintf(rp->verdict, sizeof rp->verdict, "%s", o->summary ? o->summary : "accept");
    strbuf part[S_COUNT];
    for (int k = 0; k < S_COUNT; k++)
        strbuf_init(&part[k]);
    bool seen[S_COUNT] = {false};
    bool spf_mail = false;
    const auth_results *rs = o->results;
    for (size_t i = 0; rs && i < rs->count; i++) {
        const auth_result *r = &rs->items[i];
        if (strcmp(r->method, "spf") == 0) {
            bool helo = prop(r, "smtp.helo") != NULL && prop(r, "smtp.mailfrom") == NULL;
            line(&part[S_SPF], helo ? "HELO check:" : "mail-from check:",
                 result_words(r->method, r->result));
            spf_mail |= !helo;
            seen[S_SPF] = true;
        } else if (strcmp(r->method, "sender-id") == 0) {
            line(&part[S_PRA], "PRA check:", result_words(r->method, r->result));
            seen[S_PRA] = true;
            for (size_t k = 0; k < r->prop_count; k++) {
                if (strncmp(r->props[k].name, "header.", 7) != 0)
                    continue;
                line(&rp->details, "PRA header:", r->props[k].name + 7);
                line(&rp->details, "PRA:", r->props[k].value);
            }
        } else if (strcmp(r->method, "dkim") == 0) {
            const char *d = prop(r, "header.d"), *s = prop(r, "header.s");
            strbuf *sb = &part[S_DKIM];
            strbuf_printf(sb, "%-17s ", "DKIM check:");
            put_inert(sb, result_words("dkim", r->result));
            if (d != NULL) {
                strbuf_puts(sb, " (d=");
                put_inert(sb, d);
                if (s != NULL) {
                    strbuf_puts(sb, " s=");
                    put_inert(sb, s);
                }
                strbuf_puts(sb, ")");
            }
            strbuf_putc(sb, '\n');
            seen[S_DKIM] = true;
        } else if (strcmp(r->method, "dmarc") == 0) {
            line(&part[S_DMARC], "DMARC check:", result_words(r->method, r->result));
            seen[S_DMARC] = true;
        } else if (strcmp(r->method, "arc") == 0) {
            strbuf *sb = &part[S_OTHER];
            strbuf_printf(sb, "%-17s ", "ARC check:");
            put_inert(sb, strcmp(r->result, "none") == 0 ? "none (no ARC sets)" : r->result);
            if (r->comment && strcmp(r->result, "none") != 0) {
                strbuf_puts(sb, " (");
                put_inert(sb, r->comment);
                strbuf_puts(sb, ")");
            }
            strbuf_putc(sb, '\n');
        } else {
            char label[64];
            snprintf(label, sizeof label, "%.40s check:", r->method);
            line(&part[S_OTHER], label, result_words(r->method, r->result));
        }
    }
    if (!spf_mail)
        line(&part[S_SPF], "mail-from check:", "not checked");
    if (!seen[S_PRA])
        line(&part[S_PRA], "PRA check:", "not checked (no PRA in the header)");
    if (!seen[S_DKIM])
        line(&part[S_DKIM], "DKIM check:", "none (message not signed)");
    if (!seen[S_DMARC])
        line(&part[S_DMARC], "DMARC check:", "not checked here");
    for (int k = 0; k < S_COUNT; k++) {
        if (part[k].len)
            strbuf_append(&rp->summary, part[k].data, part[k].len);
        strbuf_free(&part[k]);
    }
    for (size_t i = 0; i < o->edit_count; i++) {
        if (strcasecmp(o->edits[i].name, "Authentication-Results") == 0 && o->edits[i].value) {
            strbuf_puts(&rp->authres, "Authentication-Results: ");
            put_authres(&rp->authres, o->edits[i].value);
            strbuf_putc(&rp->authres, '\n');
        }
    }
}

typedef struct check_ctx {
    const svc_batch *batch;
    svc_session session;
    report *rp;
} check_ctx;

static void *start_check(const svc_env *env, const svc_config *sc, void *arg)
{
    check_ctx *c = arg;
    /* It reports; it never signs, keeps no copy and refuses nothing. */
    svc_caps caps = {.listener = "checkauth", .sees_message = true, .sees_body = true,
                     .can_insert = true, .no_signing = true, .no_quarantine = true};
    return svc_batch_start(env, sc, &caps, &c->session, c->batch, on_checked, c->rp);
}

static void stop_check(void *run)
{
    svc_batch_free(run);
}

/* The report as a message (CRLF lines) to sender. */
static void compose(strbuf *out, const report *rp, const char *from, const char *to,
                    const char *host, const char *msg_id, const char *helo, const char *ip,
                    const char *sender, const char *subject)
{
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    strbuf body;
    strbuf_init(&body);
    strbuf_printf(&body, "This is the check-auth responder of %s (domauth %s).\n"
                         "It checked the message you sent", host, DOMAUTH_VERSION);
    if (subject[0]) {
        strbuf_puts(&body, " (subject: ");
        put_inert(&body, subject);
        strbuf_puts(&body, ")");
    }
    strbuf_puts(&body, " as it arrived here.\n\n"
                       "==========================================================\n"
                       "Summary of results\n"
                       "==========================================================\n\n");
    strbuf_append(&body, rp->summary.data ? rp->summary.data : "", rp->summary.len);
    strbuf_puts(&body, "\n==========================================================\n"
                       "Details\n"
                       "==========================================================\n\n");
    line(&body, "HELO hostname:", helo && *helo ? helo : "(none)");
    line(&body, "Source IP:", ip && *ip ? ip : "(none)");
    line(&body, "mail-from:", sender);
    strbuf_append(&body, rp->details.data ? rp->details.data : "", rp->details.len);
    line(&body, "Verdict here:", rp->verdict);
    strbuf_puts(&body, "\n==========================================================\n"
                       "Authentication-Results, as this server recorded them\n"
                       "==========================================================\n\n");
    if (rp->authres.len)
        strbuf_append(&body, rp->authres.data, rp->authres.len);
    else
        strbuf_puts(&body, "(none)\n");

    strbuf_printf(out, "From: check-auth responder <%s>\r\n", from);
    strbuf_printf(out, "To: <%s>\r\n", to);
    strbuf_printf(out, "Subject: Authentication report for your message\r\n");
    strbuf_printf(out, "Date: %s\r\n", date);
    strbuf_printf(out, "Message-ID: <checkauth.%lld.%ld@%s>\r\n", (long long)now, (long)getpid(),
                  host);
    if (msg_id[0]) {
        strbuf_printf(out, "In-Reply-To: %s\r\n", msg_id);
        strbuf_printf(out, "References: %s\r\n", msg_id);
    }
    strbuf_puts(out, "Auto-Submitted: auto-replied\r\n");
    strbuf_printf(out, "%s: yes\r\n", LOOP_MARK);
    strbuf_puts(out, "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n"
                     "Content-Transfer-Encoding: 7bit\r\n\r\n");
    /* Body lines: CRLF, none over 998 characters. */
    const char *p = body.data ? body.data : "";
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        while (n > 998) {
            strbuf_append(out, p, 998);
            strbuf_puts(out, "\r\n ");
            p += 998;
            n -= 998;
        }
        strbuf_append(out, p, n);
        strbuf_puts(out, "\r\n");
        p += n + (nl ? 1 : 0);
    }
    strbuf_free(&body);
}

/* Runs sendmail with the report on its standard input, from the null
 * envelope sender (a reply to the report cannot loop). 0, or -1 (logged). */
static int send_report(const char *sendmail, const char *to, const strbuf *msg)
{
    const char *rcpt[1] = {to};
    char why[600];
    if (svc_sendmail(sendmail, "<>", rcpt, 1, msg->data, msg->len, false, REPORT_SENDMAIL_TIMEOUT,
                     why, sizeof why) != 0) {
        ca_log(LOG_ERR, "report to <%s> not sent: %s", to, why);
        return -1;
    }
    return 0;
}

static const char *env_or(const char *value, const char *name)
{
    if (value != NULL)
        return value;
    const char *e = getenv(name);
    return e;
}

int cmd_checkauth(int argc, char **argv)
{
    enum {
        O_SENDER = 1000, O_RCPT, O_IP, O_HELO, O_NAME, O_CONFIG, O_SERVER, O_ZONE, O_SENDMAIL,
        O_RATE, O_STATE, O_DRY, O_STDERR
    };
    static const struct option options[] = {
        {"sender", required_argument, NULL, O_SENDER},
        {"recipient", required_argument, NULL, O_RCPT},
        {"client-ip", required_argument, NULL, O_IP},
        {"helo", required_argument, NULL, O_HELO},
        {"client-name", required_argument, NULL, O_NAME},
        {"config", required_argument, NULL, O_CONFIG},
        {"dns-server", required_argument, NULL, O_SERVER},
        {"zone", required_argument, NULL, O_ZONE},
        {"sendmail", required_argument, NULL, O_SENDMAIL},
        {"rate", required_argument, NULL, O_RATE},
        {"state", required_argument, NULL, O_STATE},
        {"dry-run", no_argument, NULL, O_DRY},
        {"stderr", no_argument, NULL, O_STDERR},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *sender = NULL, *recipient = NULL, *ip = NULL, *helo = NULL, *name = NULL;
    const char *config_path = NULL, *servers = NULL, *zone_path = NULL;
    const char *sendmail = DEFAULT_SENDMAIL, *state = DEFAULT_STATE;
    unsigned long rate = RATE_DEFAULT;
    bool dry_run = false;
    log_stderr = isatty(STDERR_FILENO);
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case O_SENDER: sender = optarg; break;
        case O_RCPT: recipient = optarg; break;
        case O_IP: ip = optarg; break;
        case O_HELO: helo = optarg; break;
        case O_NAME: name = optarg; break;
        case O_CONFIG: config_path = optarg; break;
        case O_SERVER: servers = optarg; break;
        case O_ZONE: zone_path = optarg; break;
        case O_SENDMAIL: sendmail = optarg; break;
        case O_RATE:
            if (!cli_parse_option_number("--rate", optarg, 0, 10000, &rate))
                return CLI_EXIT_USAGE;
            break;
        case O_STATE: state = optarg; break;
        case O_DRY: dry_run = true; break;
        case O_STDERR: log_stderr = true; break;
        case 'h': fputs(usage_checkauth, stdout); return 0;
        default: fputs(usage_checkauth, stderr); return CLI_EXIT_USAGE;
        }
    }
    if (optind + 1 < argc) {
        fprintf(stderr, "domauth: one MESSAGE at most\n%s", usage_checkauth);
        return CLI_EXIT_USAGE;
    }
    sender = env_or(sender, "SENDER");
    recipient = env_or(recipient, "RECIPIENT");
    ip = env_or(ip, "CLIENT_ADDRESS");
    helo = env_or(helo, "CLIENT_HELO");
    name = env_or(name, "CLIENT_HOSTNAME");
    if (sender == NULL) {
        fprintf(stderr, "domauth: the sender is not known: --sender, or $SENDER as Postfix "
                        "local(8) sets it\n");
        return CLI_EXIT_USAGE;
    }
    if (sender[0] == '<' && sender[1] == '>' && sender[2] == '\0')
        sender = "";
    if (ip != NULL && (*ip == '\0' || strcmp(ip, "unknown") == 0))
        ip = NULL;

    char err[1024];
    domauth_config cfg;
    bool given = config_path != NULL;
    if (config_path == NULL)
        config_path = DEFAULT_CONFIG;
    if (cli_load_site_config(&cfg, config_path, given, err, sizeof err) != 0) {
        fprintf(stderr, "domauth: %s\n", err);
        return EXIT_CONFIG;
    }
    /* The report is of every check, whatever the site enforces: nothing
     * skipped, Sender ID and the HELO checked, nothing refused. */
    cfg.senderid_check = true;
    cfg.dkim_verify = true;
    cfg.dmarc_check = true;
    cfg.arc_check = true;
    for (size_t i = 0; i <= cfg.domain_count; i++) {
        policy_settings *ps = i < cfg.domain_count ? &cfg.domains[i].settings : &cfg.global;
        ps->check_helo = true;
        ps->check_local = true;
        ps->skip_authenticated = false;
        ps->monitor = true;
        ps->authentication_results = true;
    }
    int facility = util_syslog_facility(cfg.syslog_facility);
    openlog("domauth", LOG_PID, facility < 0 ? LOG_MAIL : facility);

    int status = 0;
    char *raw = NULL, *message = NULL;
    header_field *fields = NULL;
    svc_batch_field *bfields = NULL;
    report rp = {0};
    strbuf_init(&rp.summary);
    strbuf_init(&rp.details);
    strbuf_init(&rp.authres);
    size_t raw_len = 0, msg_len = 0, body_at = 0;
    /* Standard input is read as it is: reopening /dev/stdin fails on the
     * pipe(8) a root process made for this one, run as another user. */
    raw = optind < argc ? util_read_file(argv[optind], MESSAGE_MAX, &raw_len, err, sizeof err)
                        : cli_read_stdin(MESSAGE_MAX, &raw_len, err, sizeof err);
    if (raw == NULL) {
        ca_log(LOG_ERR, "no message: %s", err);
        status = CLI_EXIT_NOINPUT;
        goto out;
    }
    message = normalise(raw, raw_len, &msg_len);
    int n = message ? header_block_split(message, msg_len, &fields, &body_at, err, sizeof err)
                    : -1;
    if (n < 0) {
        /* Nothing to report on: said in the log; the MTA must not retry. */
        ca_log(LOG_WARNING, "message from <%s> not checked: %s", sender,
               message ? err : "out of memory");
        goto out;
    }
    const char *why_not = no_reply_reason(sender, fields, (size_t)n);
    if (why_not != NULL) {
        ca_log(LOG_INFO, "message from <%s>: no report (%s)", sender, why_not);
        goto out;
    }
    if (!reply_address_ok(sender)) {
        ca_log(LOG_WARNING, "message from <%s>: no report (not an address to reply to)", sender);
        goto out;
    }
    bfields = calloc((size_t)n ? (size_t)n : 1, sizeof *bfields);
    if (bfields == NULL) {
        status = EXIT_TEMPFAIL;
        goto out;
    }
    for (int i = 0; i < n; i++)
        bfields[i] = (svc_batch_field){fields[i].name, fields[i].name_len, fields[i].value,
                                       fields[i].value_len};
    const char *rcpts[1] = {recipient && *recipient ? recipient : "check-auth"};
    svc_batch batch = {.stage = SVC_BATCH_MESSAGE,
                       .mail_from = sender,
                       .rcpts = rcpts,
                       .rcpt_count = 1,
                       .fields = bfields,
                       .field_count = (size_t)n,
                       .body = message + body_at,
                       .body_len = msg_len - body_at};
    check_ctx ctx = {.batch = &batch,
                     .session = {.client_ip = ip, .client_name = name, .helo = helo ? helo : ""},
                     .rp = &rp};
    cli_service_run r = {.cfg = &cfg,
                         .servers = servers,
                         .zone_path = zone_path,
                         .deadline_ms = DEADLINE_MS,
                         .stderr_events = false,
                         .what = "checkauth",
                         .log = ca_log,
                         .start = start_check,
                         .stop = stop_check,
                         .arg = &ctx,
                         .done = &rp.done};
    if (cli_service_run_once(&r) != 0 || !rp.done) {
        ca_log(LOG_WARNING, "message from <%s>: no verdict within %d s: tried again later", sender,
               DEADLINE_MS / 1000);
        status = EXIT_TEMPFAIL;
        goto out;
    }
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    char msg_id[256], subject[200];
    field_value(fields, (size_t)n, "Message-ID", msg_id, sizeof msg_id);
    if (!msg_id_ok(msg_id))
        msg_id[0] = '\0';
    field_value(fields, (size_t)n, "Subject", subject, sizeof subject);
    char from[300];
    if (recipient && reply_address_ok(recipient))
        snprintf(from, sizeof from, "%s", recipient);
    else
        snprintf(from, sizeof from, "check-auth@%s", host);
    strbuf out;
    strbuf_init(&out);
    compose(&out, &rp, from, sender, host, msg_id, helo, ip, sender, subject);
    if (out.failed) {
        strbuf_free(&out);
        status = EXIT_TEMPFAIL;
        goto out;
    }
    if (dry_run) {
        fwrite(out.data, 1, out.len, stdout);
        strbuf_free(&out);
        goto out;
    }
    int allowed = rate_take(state, sender, (unsigned)rate, time(NULL));
    if (allowed == 0) {
        ca_log(LOG_NOTICE, "message from <%s>: no report (more than %lu this hour)", sender, rate);
    } else if (send_report(sendmail, sender, &out) != 0) {
        status = EXIT_TEMPFAIL;
    } else {
        ca_log(LOG_INFO, "report sent to <%s> (%s)", sender, rp.verdict);
    }
    strbuf_free(&out);
out:
    free(bfields);
    free(fields);
    free(message);
    free(raw);
    strbuf_free(&rp.summary);
    strbuf_free(&rp.details);
    strbuf_free(&rp.authres);
    config_free(&cfg);
    closelog();
    return status;
}
