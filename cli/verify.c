/* verify.c: "domauth verify", the message service (src/service) run once,
 * blocking, over real DNS or a zone file: the same check domauthd makes
 * for a message, from a file or stdin, with the site's configuration.
 * Prints every result, the verdict and the header fields it would add. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "commands.h"
#include "config/config.h"
#include "domauth.h"
#include "domauth_net.h"
#include "service/service.h"
#include "util/file.h"
#include "util/json.h"
#include "util/strbuf.h"

enum { MAX_MESSAGE = 64u << 20 };

static const char usage_verify[] =
    "usage: domauth verify --ip IP --helo NAME --mail-from ADDR [options] [MESSAGE]\n"
    "\n"
    "Checks one message as domauthd would (SPF, DKIM, the site's policy) and\n"
    "prints each result, the verdict and the Authentication-Results field.\n"
    "The message is read from MESSAGE or standard input (LF or CRLF lines).\n"
    "\n"
    "the session:\n"
    "  --ip IP               the client's address\n"
    "  --helo NAME           its HELO/EHLO name\n"
    "  --mail-from ADDR      the envelope sender (\"\" for the null sender)\n"
    "  --rcpt ADDR           a recipient (repeatable; its domain picks\n"
    "                        [domain ...] settings)\n"
    "  --auth USER           the session authenticated as USER (SMTP AUTH)\n"
    "where the answers come from:\n"
    "  --dns-server ADDR[:PORT][,...]  (default: /etc/resolv.conf)\n"
    "  --zone FILE           answer from a zone file instead, offline\n"
    "  --config FILE         domauth.conf to apply (default: built-in defaults,\n"
    "                        which observe only: see monitor in domauth.conf(5))\n"
    "output:\n"
    "  --json                one JSON object\n"
    "  -h, --help            this text\n"
    "\n"
    "Exit status: 0 accepted (or tagged), 1 rejected, 2 deferred, 3 quarantined, 4\n"
    "redirected (as enforced:\n"
    "in monitor mode the held-back action counts); 64 usage, 65 a file that\n"
    "does not parse, 66 a file that cannot be read, 70 a setup failure.\n";

typedef struct run {
    bool replied;
    policy_action action, enforced;
    char reply[600];
    strbuf edits;   /* "Name: value\n" for each added field */
    verdict copy;   /* the fields of the verdict to print */
    char reasons[VERDICT_REASONS_MAX];
    double score;
    bool monitor, tagged;
    strbuf results_json, results_text;
} run;

static void on_reply(void *arg, const svc_reply *r)
{
    run *u = arg;
    u->replied = true;
    u->action = r->action;
    u->enforced = r->verdict ? r->verdict->enforced : r->action;
    snprintf(u->reply, sizeof u->reply, "%s",
             r->verdict && r->verdict->enforced != ACTION_ACCEPT ? r->verdict->reply : "");
    if (r->verdict != NULL) {
        snprintf(u->reasons, sizeof u->reasons, "%s", r->verdict->reasons);
        u->score = r->verdict->score;
        u->monitor = r->verdict->monitor;
        u->tagged = r->verdict->tag_subject;
    }
    strbuf_clear(&u->edits);
    for (size_t i = 0; i < r->edit_count; i++) {
        const header_edit *e = &r->edits[i];
        if (e->op == HEADER_DELETE)
            strbuf_printf(&u->edits, "(removed: %s field %u)\n", e->name, e->index);
        else
            strbuf_printf(&u->edits, "%s: %s\n", e->name, e->value);
    }
    strbuf_clear(&u->results_json);
    strbuf_clear(&u->results_text);
    for (size_t i = 0; r->results && i < r->results->count; i++) {
        const auth_result *a = &r->results->items[i];
        strbuf_printf(&u->results_text, "%-5s %-10s", a->method, a->result);
        if (a->domain && *a->domain)
            strbuf_printf(&u->results_text, " %s", a->domain);
        if (a->comment && *a->comment)
            strbuf_printf(&u->results_text, " (%s)", a->comment);
        strbuf_putc(&u->results_text, '\n');
        strbuf_puts(&u->results_json, i ? ", {\"method\": " : "{\"method\": ");
        json_strbuf(&u->results_json, a->method);
        strbuf_puts(&u->results_json, ", \"result\": ");
        json_strbuf(&u->results_json, a->result);
        strbuf_puts(&u->results_json, ", \"domain\": ");
        json_strbuf(&u->results_json, a->domain);
        strbuf_puts(&u->results_json, ", \"comment\": ");
        json_strbuf(&u->results_json, a->comment);
        strbuf_puts(&u->results_json, ", \"properties\": {");
        for (size_t k = 0; k < a->prop_count; k++) {
            if (k)
                strbuf_puts(&u->results_json, ", ");
            json_strbuf(&u->results_json, a->props[k].name);
            strbuf_puts(&u->results_json, ": ");
            json_strbuf(&u->results_json, a->props[k].value);
        }
        strbuf_puts(&u->results_json, "}}");
    }
}

/* Feeds the message: each header field with its value as on the wire
 * (folding kept, CRLF), then the body with CRLF line ends. */
static int feed_message(svc_msg *m, const char *text, size_t len, char *err, size_t err_size)
{
    const char *p = text, *end = text + len;
    strbuf field;
    strbuf_init(&field);
    for (;;) {
        if (p >= end)
            break;
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        size_t line_len = (size_t)(line_end - p);
        if (line_len > 0 && p[line_len - 1] == '\r')
            line_len--;
        const char *next = nl ? nl + 1 : end;
        if (line_len == 0) { /* the end of the header block */
            p = next;
            break;
        }
        if (p[0] == ' ' || p[0] == '\t') {
            if (field.len == 0) {
                snprintf(err, err_size, "the message starts with a continuation line");
                strbuf_free(&field);
                return -1;
            }
            strbuf_puts(&field, "\r\n");
            strbuf_append(&field, p, line_len);
        } else {
            if (field.len > 0) {
                const char *colon = memchr(field.data, ':', field.len);
                *(char *)colon = '\0';
                svc_msg_header(m, field.data, colon + 1, field.len - (size_t)(colon + 1 - field.data));
                strbuf_clear(&field);
            }
            if (memchr(p, ':', line_len) == NULL) {
                snprintf(err, err_size, "header line without a colon: %.*s",
                         (int)(line_len < 60 ? line_len : 60), p);
                strbuf_free(&field);
                return -1;
            }
            strbuf_append(&field, p, line_len);
        }
        p = next;
    }
    if (field.len > 0) {
        const char *colon = memchr(field.data, ':', field.len);
        *(char *)colon = '\0';
        svc_msg_header(m, field.data, colon + 1, field.len - (size_t)(colon + 1 - field.data));
    }
    strbuf_free(&field);
    svc_msg_end_headers(m);
    strbuf body;
    strbuf_init(&body);
    for (const char *q = p; q < end; q++) {
        if (*q == '\n' && (q == p || q[-1] != '\r'))
            strbuf_putc(&body, '\r');
        strbuf_putc(&body, *q);
        if (body.len >= 65536) {
            svc_msg_body(m, body.data, body.len);
            strbuf_clear(&body);
        }
    }
    if (body.len > 0)
        svc_msg_body(m, body.data, body.len);
    strbuf_free(&body);
    return 0;
}

/* Results, reply, reasons and fields quote the message and DNS (domains,
 * comments, exp= texts): printed through cli_put_safe. */
static void print_text(const run *u)
{
    cli_put_safe(stdout, u->results_text.data ? u->results_text.data : "(no results)\n", true);
    const char *names[] = {"accept", "defer", "reject", "quarantine"}; /* policy_action */
    const char *action = u->action == ACTION_ACCEPT && u->tagged ? "tag" : names[u->action];
    printf("verdict: %s", action);
    if (u->monitor && u->enforced != ACTION_ACCEPT)
        printf(" (monitor mode; enforcing would %s)", names[u->enforced]);
    printf(", score %.1f\n", u->score);
    if (u->reply[0]) {
        fputs("reply: ", stdout);
        cli_put_safe(stdout, u->reply, false);
        putchar('\n');
    }
    if (u->reasons[0]) {
        fputs("why: ", stdout);
        cli_put_safe(stdout, u->reasons, false);
        putchar('\n');
    }
    if (u->edits.len > 0)
        cli_put_safe(stdout, u->edits.data, true);
}

static void print_json(const run *u)
{
    const char *names[] = {"accept", "defer", "reject", "quarantine"}; /* policy_action */
    const char *action = u->action == ACTION_ACCEPT && u->tagged ? "tag" : names[u->action];
    printf("{\"action\": ");
    json_fputs(stdout, action);
    printf(", \"enforced\": ");
    json_fputs(stdout, names[u->enforced]);
    printf(", \"monitor\": %s, \"score\": ", u->monitor ? "true" : "false");
    char n[JSON_NUMBER_MAX];
    json_format_number(u->score, n);
    fputs(n, stdout);
    printf(", \"reply\": ");
    json_fputs(stdout, u->reply[0] ? u->reply : NULL);
    printf(", \"reasons\": ");
    json_fputs(stdout, u->reasons);
    printf(", \"results\": [%s]", u->results_json.data ? u->results_json.data : "");
    printf(", \"headers\": ");
    json_fputs(stdout, u->edits.data ? u->edits.data : "");
    printf("}\n");
}

static void close_handle(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

int cmd_verify(int argc, char **argv)
{
    enum { O_IP = 1000, O_HELO, O_FROM, O_RCPT, O_AUTH, O_SERVER, O_ZONE, O_CONFIG, O_JSON };
    static const struct option options[] = {
        {"ip", required_argument, NULL, O_IP},
        {"helo", required_argument, NULL, O_HELO},
        {"mail-from", required_argument, NULL, O_FROM},
        {"rcpt", required_argument, NULL, O_RCPT},
        {"auth", required_argument, NULL, O_AUTH},
        {"dns-server", required_argument, NULL, O_SERVER},
        {"zone", required_argument, NULL, O_ZONE},
        {"config", required_argument, NULL, O_CONFIG},
        {"json", no_argument, NULL, O_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *ip = NULL, *helo = "", *from = NULL, *auth = NULL, *servers = NULL;
    const char *zone_path = NULL, *config_path = NULL;
    const char *rcpts[64];
    size_t rcpt_count = 0;
    bool json = false;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case O_IP: ip = optarg; break;
        case O_HELO: helo = optarg; break;
        case O_FROM: from = optarg; break;
        case O_RCPT:
            if (rcpt_count == sizeof rcpts / sizeof rcpts[0]) {
                fprintf(stderr, "domauth: at most %zu --rcpt\n", sizeof rcpts / sizeof rcpts[0]);
                return CLI_EXIT_USAGE;
            }
            rcpts[rcpt_count++] = optarg;
            break;
        case O_AUTH: auth = optarg; break;
        case O_SERVER: servers = optarg; break;
        case O_ZONE: zone_path = optarg; break;
        case O_CONFIG: config_path = optarg; break;
        case O_JSON: json = true; break;
        case 'h': fputs(usage_verify, stdout); return 0;
        default: fputs(usage_verify, stderr); return CLI_EXIT_USAGE;
        }
    }
    if (ip == NULL || from == NULL || optind + 1 < argc) {
        fprintf(stderr, "domauth: --ip and --mail-from are required, and one MESSAGE at most\n%s",
                usage_verify);
        return CLI_EXIT_USAGE;
    }
    char err[700];
    domauth_config cfg;
    if (config_init(&cfg) != 0) {
        fprintf(stderr, "domauth: out of memory\n");
        return CLI_EXIT_SOFTWARE;
    }
    if (config_path != NULL) {
        size_t len;
        char *text = util_read_file(config_path, 16u << 20, &len, err, sizeof err);
        if (text == NULL) {
            fprintf(stderr, "domauth: %s\n", err);
            config_free(&cfg);
            return CLI_EXIT_NOINPUT;
        }
        int rc = config_parse(&cfg, config_path, text, len, err, sizeof err);
        free(text);
        if (rc != 0) {
            fprintf(stderr, "domauth: %s\n", err);
            return CLI_EXIT_DATAERR;
        }
    }
    size_t msg_len = 0;
    char *message = NULL;
    if (optind < argc) {
        message = util_read_file(argv[optind], MAX_MESSAGE, &msg_len, err, sizeof err);
    } else {
        message = cli_read_stdin(MAX_MESSAGE, &msg_len, err, sizeof err);
    }
    if (message == NULL) {
        fprintf(stderr, "domauth: %s\n", err);
        config_free(&cfg);
        return CLI_EXIT_NOINPUT;
    }

    uv_loop_t loop;
    uv_loop_init(&loop);
    da_zone *zone = NULL;
    da_resolver *upstream = NULL;
    da_resolver_options ro = {.servers = servers, .use_edns0 = true,
                              .timeout_ms = cfg.dns_timeout_ms, .tries = cfg.dns_tries};
    int rc = cli_open_resolver(zone_path, &ro, &loop, &zone, &upstream);
    if (rc != 0) {
        free(message);
        config_free(&cfg);
        uv_loop_close(&loop);
        return rc;
    }
    da_dns_cache_options co = {.max_entries = 1000};
    da_dns_cache *cache = da_dns_cache_new(&co);
    da_resolver *resolver = upstream && cache ? da_resolver_new_cached(cache, upstream) : NULL;
    if (resolver == NULL) {
        fprintf(stderr, "domauth: cannot set up DNS: out of memory\n");
        da_resolver_free(upstream);
        da_dns_cache_free(cache);
        da_zone_free(zone);
        free(message);
        config_free(&cfg);
        uv_loop_close(&loop);
        return CLI_EXIT_SOFTWARE;
    }
    char host[256] = "localhost";
    gethostname(host, sizeof host - 1);
    svc_env env = {.loop = &loop, .resolver = resolver};
    svc_config sc = {.config = &cfg, .host_name = host};
    /* It verifies; it never signs (it holds no keys). */
    svc_caps caps = {.listener = "verify", .sees_message = true, .sees_body = true,
                     .no_quarantine = true,
                     .can_insert = true, .can_change = true, .no_signing = true};
    svc_session session = {.client_ip = ip, .helo = helo, .auth_user = auth};
    svc_msg *m = svc_msg_new(&env, &sc, &caps, &session);
    run u;
    memset(&u, 0, sizeof u);
    strbuf_init(&u.edits);
    strbuf_init(&u.results_json);
    strbuf_init(&u.results_text);
    int status = 0;
    if (m == NULL) {
        fprintf(stderr, "domauth: out of memory\n");
        status = CLI_EXIT_SOFTWARE;
        goto out;
    }
    svc_msg_mail_from(m, from, strlen(from));
    /* Replies before the end are shown only when they refuse. */
    u.replied = false;
    svc_msg_check_mail(m, on_reply, &u);
    for (size_t i = 0; i < rcpt_count; i++)
        svc_msg_check_rcpt(m, rcpts[i], strlen(rcpts[i]), false, on_reply, &u);
    if (rcpt_count == 0)
        svc_msg_check_rcpt(m, "postmaster", 10, false, on_reply, &u);
    /* Early replies come when the answers do: run them out first. */
    for (int guard = 0; guard < 100000; guard++) {
        if (zone != NULL)
            da_resolver_run(upstream);
        if (uv_run(&loop, zone ? UV_RUN_NOWAIT : UV_RUN_ONCE) == 0 && (zone == NULL || guard > 2))
            break;
    }
    if (feed_message(m, message, msg_len, err, sizeof err) != 0) {
        fputs("domauth: the message: ", stderr);
        cli_put_safe(stderr, err, false);
        fputc('\n', stderr);
        status = CLI_EXIT_DATAERR;
        goto out;
    }
    u.replied = false;
    svc_msg_check_end(m, on_reply, &u);
    while (!u.replied) {
        if (zone != NULL)
            da_resolver_run(upstream);
        if (uv_run(&loop, zone ? UV_RUN_NOWAIT : UV_RUN_ONCE) == 0 && zone == NULL && !u.replied)
            break;
    }
    if (!u.replied) {
        fprintf(stderr, "domauth: no verdict (the DNS resolver stopped)\n");
        status = CLI_EXIT_SOFTWARE;
        goto out;
    }
    if (json)
        print_json(&u);
    else
        print_text(&u);
    status = u.enforced == ACTION_REJECT       ? 1
             : u.enforced == ACTION_DEFER      ? 2
             : u.enforced == ACTION_QUARANTINE ? 3
             : u.enforced == ACTION_REDIRECT   ? 4
                                               : 0;
out:
    svc_msg_free(m);
    da_resolver_free(resolver);
    da_resolver_free(upstream);
    da_dns_cache_free(cache);
    uv_walk(&loop, close_handle, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    da_zone_free(zone);
    strbuf_free(&u.edits);
    strbuf_free(&u.results_json);
    strbuf_free(&u.results_text);
    free(message);
    config_free(&cfg);
    return status;
}
