/* domauth.c: the command-line front end. Parses arguments, builds a
 * resolver (c-ares, or an offline zone file), runs the library and prints
 * for people or, with --json, for scripts. No checking logic lives here. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "util/file.h"
#include "util/json.h"
#include "domauth.h"
#include "domauth_net.h"
#include "authres/authres.h"
#include "spf/spf_internal.h"
#include "util/strbuf.h"

enum {
    EXIT_USAGE = CLI_EXIT_USAGE,
    EXIT_DATAERR = CLI_EXIT_DATAERR,
    EXIT_NOINPUT = CLI_EXIT_NOINPUT,
    EXIT_SOFTWARE = CLI_EXIT_SOFTWARE,
};

/* Exit codes of "spf check" and "senderid check": one per result,
 * documented in domauth(1). */
int cli_spf_exit_code(da_spf_result r)
{
    switch (r) {
    case DA_SPF_PASS: return 0;
    case DA_SPF_FAIL: return 1;
    case DA_SPF_SOFTFAIL: return 2;
    case DA_SPF_NEUTRAL: return 3;
    case DA_SPF_NONE: return 4;
    case DA_SPF_PERMERROR: return 5;
    case DA_SPF_TEMPERROR: return 6;
    }
    return EXIT_SOFTWARE;
}

static const char usage_main[] =
    "usage: domauth COMMAND [ARGS]\n"
    "\n"
    "Sender-domain authentication for mail servers.\n"
    "\n"
    "commands:\n"
    "  spf check   evaluate SPF (RFC 7208) for a client IP and sender\n"
    "  spf trace   the same, showing every term, DNS question and counter\n"
    "  spf batch   check many senders at once, one request a line on stdin\n"
    "  spf lint    check a domain's published SPF tree, or one record's syntax\n"
    "  spf wizard  build an SPF record for a domain from answers, and check it\n"
    "  spf flatten a domain's SPF tree as ip4/ip6 records within the limits\n"
    "  dkim        DKIM keys, signing and verification (domauth dkim --help)\n"
    "  arc         ARC chains: verify, seal (domauth arc --help)\n"
    "  srs         rewrite a sender for forwarding, or undo it (domauth srs --help)\n"
    "  senderid check  Sender ID (RFC 4406): the PRA or MAIL FROM against spf2.0\n"
    "  verify      check a message as domauthd would: SPF, DKIM, policy, headers\n"
    "  xmail-filter  the SMTP filter of the XMail mail server (domauth xmail-filter --help)\n"
    "  checkauth   the check-auth responder: mails the sender what passed (--help)\n"
    "  log         the decisions domauthd logged (domauth log --help)\n"
    "  store       the event database: check, migrate to PostgreSQL, import a spool\n"
    "  quarantine  the messages domauthd kept: list, show, release, delete, purge\n"
    "  dmarc report  the DMARC aggregate reports (RFC 9990) of a day: build, send\n"
    "  report      what enforcement would cost, from the log (domauth report --help)\n"
    "  import      carry over an OpenDKIM or policyd-spf configuration (domauth import --help)\n"
    "  status      the running domauthd: uptime, reloads, listeners, counters\n"
    "  reload      make domauthd reload its configuration; says if it took\n"
    "\n"
    "  domauth COMMAND --help   shows the options of a command\n"
    "  domauth --version\n"
    "\n"
    "See domauth(1).\n";

static const char usage_spf_check[] =
    "usage: domauth spf check|trace --ip IP (--mail-from ADDR | --helo NAME) [options]\n"
    "\n"
    "Evaluates SPF for a message from IP with the given MAIL FROM and HELO.\n"
    "With an empty --mail-from (or none), the HELO identity is checked, as\n"
    "postmaster@HELO (RFC 7208 section 2.4).\n"
    "\n"
    "identity:\n"
    "  --ip IP               client address (IPv4 or IPv6)\n"
    "  --mail-from ADDR      envelope sender (MAIL FROM); may be empty\n"
    "  --helo NAME           HELO/EHLO name\n"
    "  --helo-identity       check the HELO identity even when --mail-from is set\n"
    "  --receiver NAME       this host's name, for %{r}, Received-SPF and the\n"
    "                        Authentication-Results authserv-id (default: unknown)\n"
    "  --scope spf|mfrom|pra what to check: spf is SPF (RFC 7208, the default);\n"
    "                        mfrom and pra are Sender ID (RFC 4406), over spf2.0\n"
    "                        records (see domauth senderid check --help)\n"
    "  --pra ADDR            the Purported Responsible Address, for --scope pra\n"
    "DNS:\n"
    "  --dns-server ADDR[:PORT][,...]  servers to ask (default: /etc/resolv.conf;\n"
    "                        IPv6 as [ADDR]:PORT)\n"
    "  --dns-timeout MS      time per try (default 2000)\n"
    "  --dns-tries N         tries per server (default 2)\n"
    "  --no-edns0            do not advertise EDNS0 (large answers then need TCP)\n"
    "  --zone FILE           answer from a zone file instead, offline\n"
    "                        (lines of 'name TYPE data'; see domauth(1))\n"
    "limits (RFC 7208 section 4.6.4):\n"
    "  --max-lookups N       DNS-querying terms (default 10)\n"
    "  --max-void N          void lookups (default 2)\n"
    "output:\n"
    "  --json                one JSON object instead of text\n"
    "  -h, --help            this text\n"
    "\n"
    "The first line of output is the result: pass, fail, softfail, neutral, none,\n"
    "temperror or permerror. Exit status: pass 0, fail 1, softfail 2, neutral 3,\n"
    "none 4, permerror 5, temperror 6; 64 for a usage error, 65 for a zone file\n"
    "that does not parse, 66 for a file that cannot be read, 70 for an internal\n"
    "error.\n";

/* ------------------------------------------------------------- shared */

int cli_open_resolver(const char *zone_path, const da_resolver_options *options,
                      struct uv_loop_s *loop, da_zone **zone, da_resolver **resolver)
{
    char err[512] = "";
    *zone = NULL;
    *resolver = NULL;
    if (zone_path != NULL) {
        int status = da_zone_load_file(zone_path, zone, err, sizeof err);
        if (status != 0) {
            fprintf(stderr, "domauth: %s\n", err);
            return status;
        }
        *resolver = da_resolver_new_zone(*zone);
    } else if (loop != NULL) {
        *resolver = da_resolver_new_uv(loop, options, err, sizeof err);
    } else {
        *resolver = da_resolver_new_cares(options, err, sizeof err);
    }
    if (*resolver == NULL) {
        fprintf(stderr, "domauth: cannot set up DNS: %s\n", err[0] ? err : "out of memory");
        da_zone_free(*zone);
        *zone = NULL;
        return CLI_EXIT_SOFTWARE;
    }
    return 0;
}

static const char *trace_kind_name(da_spf_trace_kind kind)
{
    switch (kind) {
    case DA_SPF_TRACE_RECORD: return "record";
    case DA_SPF_TRACE_TERM: return "term";
    case DA_SPF_TRACE_QUERY: return "dns";
    case DA_SPF_TRACE_LIMIT: return "limit";
    case DA_SPF_TRACE_RESULT: return "result";
    case DA_SPF_TRACE_NOTE: return "note";
    }
    return "?";
}

static void print_json(const da_spf_eval *ev, const char *received, const char *authres,
                       bool with_trace)
{
    printf("{\"result\":");
    json_fputs(stdout, da_spf_result_name(da_spf_eval_result(ev)));
    printf(",\"identity\":");
    json_fputs(stdout, da_spf_eval_identity(ev));
    printf(",\"sender\":");
    json_fputs(stdout, da_spf_eval_sender(ev));
    printf(",\"domain\":");
    json_fputs(stdout, da_spf_eval_domain(ev));
    printf(",\"mechanism\":");
    json_fputs(stdout, da_spf_eval_mechanism(ev));
    printf(",\"explanation\":");
    json_fputs(stdout, da_spf_eval_explanation(ev));
    printf(",\"problem\":");
    json_fputs(stdout, da_spf_eval_problem(ev));
    printf(",\"dns_terms\":%u,\"void_lookups\":%u,\"dns_answers\":%u",
           da_spf_eval_dns_terms(ev), da_spf_eval_void_lookups(ev), da_spf_eval_queries(ev));
    printf(",\"received_spf\":");
    json_fputs(stdout, received);
    printf(",\"authentication_results\":");
    json_fputs(stdout, authres);
    if (with_trace) {
        printf(",\"trace\":[");
        for (size_t i = 0; i < da_spf_eval_trace_count(ev); i++) {
            const da_spf_trace_event *t = da_spf_eval_trace_get(ev, i);
            printf("%s{\"kind\":\"%s\",\"depth\":%u,\"text\":", i ? "," : "",
                   trace_kind_name(t->kind), t->depth);
            json_fputs(stdout, t->text);
            printf("}");
        }
        printf("]");
    }
    printf("}\n");
}

char *cli_authres_value(const char *receiver, const char *clause)
{
    strbuf sb;
    strbuf_init(&sb);
    header_append_token(&sb, receiver);
    strbuf_puts(&sb, "; ");
    strbuf_puts(&sb, clause);
    return strbuf_take(&sb);
}

/* "label text" and a new line, when text is not NULL. */
static void print_line(const char *label, const char *text)
{
    if (text == NULL)
        return;
    fputs(label, stdout);
    cli_put_safe(stdout, text, false);
    putchar('\n');
}

static void print_trace(const da_spf_eval *ev)
{
    for (size_t i = 0; i < da_spf_eval_trace_count(ev); i++) {
        const da_spf_trace_event *t = da_spf_eval_trace_get(ev, i);
        printf("%*s%-6s ", (int)(2 * t->depth), "", trace_kind_name(t->kind));
        cli_put_safe(stdout, t->text, false);
        putchar('\n');
    }
    printf("counters: %u DNS-querying terms, %u void lookups, %u DNS answers used\n",
           da_spf_eval_dns_terms(ev), da_spf_eval_void_lookups(ev), da_spf_eval_queries(ev));
}

/* -------------------------------------------------------------- input */

static bool parse_unsigned(const char *s, unsigned max, unsigned *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v > max || s[0] == '-')
        return false;
    *out = (unsigned)v;
    return true;
}

/* ------------------------------------------------------------ commands */

static int cmd_spf_check(int argc, char **argv, bool tracing)
{
    enum { O_IP = 256, O_FROM, O_HELO, O_HELO_ID, O_RECEIVER, O_SERVER, O_TIMEOUT, O_TRIES,
           O_NOEDNS, O_ZONE, O_MAXLOOK, O_MAXVOID, O_JSON, O_SCOPE, O_PRA };
    static const struct option options[] = {
        {"ip", required_argument, NULL, O_IP},
        {"mail-from", required_argument, NULL, O_FROM},
        {"helo", required_argument, NULL, O_HELO},
        {"helo-identity", no_argument, NULL, O_HELO_ID},
        {"receiver", required_argument, NULL, O_RECEIVER},
        {"dns-server", required_argument, NULL, O_SERVER},
        {"dns-timeout", required_argument, NULL, O_TIMEOUT},
        {"dns-tries", required_argument, NULL, O_TRIES},
        {"no-edns0", no_argument, NULL, O_NOEDNS},
        {"zone", required_argument, NULL, O_ZONE},
        {"max-lookups", required_argument, NULL, O_MAXLOOK},
        {"max-void", required_argument, NULL, O_MAXVOID},
        {"json", no_argument, NULL, O_JSON},
        {"scope", required_argument, NULL, O_SCOPE},
        {"pra", required_argument, NULL, O_PRA},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    da_spf_request req = {.trace = true};
    da_resolver_options ropt = {.use_edns0 = true};
    const char *zone_path = NULL;
    bool json = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case O_IP: req.client_ip = optarg; break;
        case O_FROM: req.mail_from = optarg; break;
        case O_HELO: req.helo = optarg; break;
        case O_HELO_ID: req.helo_identity = true; break;
        case O_RECEIVER: req.receiver = optarg; break;
        case O_SERVER: ropt.servers = optarg; break;
        case O_NOEDNS: ropt.use_edns0 = false; break;
        case O_ZONE: zone_path = optarg; break;
        case O_JSON: json = true; break;
        case O_PRA: req.pra = optarg; break;
        case O_SCOPE:
            if (da_spf_scope_parse(optarg, &req.scope) != 0) {
                fprintf(stderr, "domauth: --scope: '%s' is not spf, mfrom or pra\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case O_TIMEOUT:
        case O_TRIES:
        case O_MAXLOOK:
        case O_MAXVOID: {
            unsigned v;
            if (!parse_unsigned(optarg, c == O_TIMEOUT ? 600000 : 1000, &v) || v == 0) {
                fprintf(stderr, "domauth: --%s: '%s' is not a positive number in range\n",
                        options[c - O_IP].name, optarg);
                return EXIT_USAGE;
            }
            if (c == O_TIMEOUT) ropt.timeout_ms = v;
            else if (c == O_TRIES) ropt.tries = v;
            else if (c == O_MAXLOOK) req.max_dns_terms = v;
            else req.max_void_lookups = v;
            break;
        }
        case 'h': fputs(usage_spf_check, stdout); return 0;
        default: fputs(usage_spf_check, stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "domauth: unexpected argument '%s'\n", argv[optind]);
        return EXIT_USAGE;
    }
    if (req.client_ip == NULL) {
        fprintf(stderr, "domauth: --ip is required\n%s", usage_spf_check);
        return EXIT_USAGE;
    }
    if (req.scope == DA_SPF_SCOPE_PRA && (req.pra == NULL || !*req.pra)) {
        fprintf(stderr, "domauth: --scope pra needs --pra ADDR\n");
        return EXIT_USAGE;
    }
    if (req.scope != DA_SPF_SCOPE_PRA && req.pra != NULL) {
        fprintf(stderr, "domauth: --pra is for --scope pra\n");
        return EXIT_USAGE;
    }
    if (req.scope != DA_SPF_SCOPE_PRA && (req.mail_from == NULL || !*req.mail_from) &&
        (req.helo == NULL || !*req.helo)) {
        fprintf(stderr, "domauth: give --mail-from, or --helo for the HELO identity\n");
        return EXIT_USAGE;
    }
    if (req.helo_identity && (req.helo == NULL || !*req.helo)) {
        fprintf(stderr, "domauth: --helo-identity needs --helo\n");
        return EXIT_USAGE;
    }
    req.now = (int64_t)time(NULL);
    const char *receiver = req.receiver && *req.receiver ? req.receiver : "unknown";

    char err[512] = "";
    da_spf_eval *ev = da_spf_eval_new(&req, err, sizeof err);
    if (ev == NULL) {
        fprintf(stderr, "domauth: %s\n", err);
        return EXIT_USAGE;
    }

    da_zone *zone = NULL;
    da_resolver *resolver = NULL;
    int status = cli_open_resolver(zone_path, &ropt, NULL, &zone, &resolver);
    if (status != 0)
        goto out;
    status = EXIT_SOFTWARE;
    if (da_spf_eval_run(ev, resolver) != 0) {
        fprintf(stderr, "domauth: the DNS resolver failed\n");
        goto out;
    }

    char *received, *authres;
    if (req.scope == DA_SPF_SCOPE_SPF) {
        received = da_spf_received_spf(ev);
        authres = da_spf_authres_value(ev, receiver);
    } else {
        /* Sender ID: the sender-id= clause; Received-SPF names the identity. */
        received = spf_received_spf_as(ev, da_spf_eval_identity(ev),
                                       req.mail_from ? req.mail_from : "");
        char *clause = da_senderid_authres_clause(ev, NULL);
        authres = cli_authres_value(receiver, clause ? clause : "");
        free(clause);
    }
    if (json) {
        print_json(ev, received, authres, tracing);
    } else {
        printf("%s\n", da_spf_result_name(da_spf_eval_result(ev)));
        if (tracing)
            print_trace(ev);
        print_line("explanation: ", da_spf_eval_explanation(ev));
        print_line("problem: ", da_spf_eval_problem(ev));
        print_line("Received-SPF: ", received);
        print_line("Authentication-Results: ", authres);
    }
    free(received);
    free(authres);
    status = cli_spf_exit_code(da_spf_eval_result(ev));

out:
    da_resolver_free(resolver);
    da_zone_free(zone);
    da_spf_eval_free(ev);
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(usage_main, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("domauth %s\n", DOMAUTH_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "dkim") == 0) {
        int cmd_dkim(int, char **);
        return cmd_dkim(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "arc") == 0) return cmd_arc(argc - 1, argv + 1);
    if (strcmp(argv[1], "srs") == 0) return cmd_srs(argc - 1, argv + 1);
    if (strcmp(argv[1], "senderid") == 0) return cmd_senderid(argc - 1, argv + 1);
    if (strcmp(argv[1], "log") == 0) return cmd_log(argc - 1, argv + 1);
    if (strcmp(argv[1], "store") == 0) return cmd_store(argc - 1, argv + 1);
    if (strcmp(argv[1], "quarantine") == 0) return cmd_quarantine(argc - 1, argv + 1);
    if (strcmp(argv[1], "report") == 0) return cmd_report(argc - 1, argv + 1);
    if (strcmp(argv[1], "dmarc") == 0) return cmd_dmarc(argc - 1, argv + 1);
    if (strcmp(argv[1], "import") == 0) return cmd_import(argc - 1, argv + 1);
    if (strcmp(argv[1], "verify") == 0) return cmd_verify(argc - 1, argv + 1);
    if (strcmp(argv[1], "xmail-filter") == 0) return cmd_xmail_filter(argc - 1, argv + 1);
    if (strcmp(argv[1], "checkauth") == 0) return cmd_checkauth(argc - 1, argv + 1);
    if (strcmp(argv[1], "status") == 0) return cmd_status(argc - 1, argv + 1, false);
    if (strcmp(argv[1], "reload") == 0) return cmd_status(argc - 1, argv + 1, true);
    if (strcmp(argv[1], "spf") == 0) {
        if (argc < 3 || strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0) {
            fputs(usage_main, argc < 3 ? stderr : stdout);
            return argc < 3 ? EXIT_USAGE : 0;
        }
        if (strcmp(argv[2], "check") == 0)
            return cmd_spf_check(argc - 2, argv + 2, false);
        if (strcmp(argv[2], "trace") == 0)
            return cmd_spf_check(argc - 2, argv + 2, true);
        if (strcmp(argv[2], "lint") == 0)
            return cmd_spf_lint(argc - 2, argv + 2);
        if (strcmp(argv[2], "wizard") == 0)
            return cmd_spf_wizard(argc - 2, argv + 2);
        if (strcmp(argv[2], "flatten") == 0)
            return cmd_spf_flatten(argc - 2, argv + 2);
        if (strcmp(argv[2], "batch") == 0)
            return cmd_spf_batch(argc - 2, argv + 2);
        fprintf(stderr, "domauth: unknown spf command '%s'\n\n%s", argv[2], usage_main);
        return EXIT_USAGE;
    }
    fprintf(stderr, "domauth: unknown command '%s'\n\n%s", argv[1], usage_main);
    return EXIT_USAGE;
}
