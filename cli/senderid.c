/* senderid.c: "domauth senderid check", Sender ID (RFC 4406) for one
 * message: the PRA (RFC 4407, given or selected from a message's header
 * fields) or the MAIL FROM checked against the domain's spf2.0 (or v=spf1)
 * record. The checking is the library's (src/msg/pra.c, src/spf); this
 * file parses arguments and prints. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "authres/authres.h"
#include "commands.h"
#include "domauth.h"
#include "domauth_net.h"
#include "msg/header_block.h"
#include "msg/pra.h"
#include "util/file.h"
#include "util/json.h"
#include "util/strbuf.h"

enum { MAX_MESSAGE = 64u << 20 };

static const char usage_senderid[] =
    "usage: domauth senderid check --ip IP (--pra ADDR | --message FILE) [options]\n"
    "       domauth senderid check --ip IP --scope mfrom --mail-from ADDR [options]\n"
    "\n"
    "Checks Sender ID (RFC 4406): may IP send mail whose Purported Responsible\n"
    "Address (RFC 4407) is ADDR, or, with --scope mfrom, whose MAIL FROM is ADDR?\n"
    "The record is the domain's spf2.0 record for the scope, or its v=spf1\n"
    "record when it publishes no spf2.0 record at all (see domauth(1)).\n"
    "\n"
    "identity:\n"
    "  --ip IP               client address (IPv4 or IPv6)\n"
    "  --pra ADDR            the PRA to check (scope pra)\n"
    "  --message FILE        select the PRA from FILE's header fields ('-' for\n"
    "                        standard input): Resent-Sender, Resent-From, Sender,\n"
    "                        From as RFC 4407 section 2 says; prints which field\n"
    "  --scope pra|mfrom     what to check (default pra)\n"
    "  --mail-from ADDR      the envelope sender: the identity for --scope mfrom\n"
    "  --helo NAME           HELO/EHLO name (%{h}; the identity for --scope mfrom\n"
    "                        with an empty --mail-from)\n"
    "  --receiver NAME       this host, for %{r} and the authserv-id (default: unknown)\n"
    "DNS:\n"
    "  --dns-server ADDR[:PORT][,...]  servers to ask (default: /etc/resolv.conf)\n"
    "  --zone FILE           answer from a zone file instead, offline\n"
    "output:\n"
    "  --trace               also print every term, DNS question and counter\n"
    "  --json                one JSON object instead of text\n"
    "  -h, --help            this text\n"
    "\n"
    "The first line is the result: pass, fail, softfail, neutral, none, temperror\n"
    "or permerror. A message whose PRA cannot be determined (RFC 4407 step 6) is\n"
    "a permerror, and the line after it says which rule. Exit status: pass 0,\n"
    "fail 1, softfail 2, neutral 3, none 4, permerror 5, temperror 6; 64 for a\n"
    "usage error, 65 for a zone file or message that does not parse, 66 for a\n"
    "file that cannot be read, 70 for an internal error.\n";

/* Selects the PRA from a message file; 0, or an exit status after saying why. */
static int pra_from_message(const char *path, pra_result *pra)
{
    char err[512];
    size_t len;
    char *text = strcmp(path, "-") == 0 ? cli_read_stdin(MAX_MESSAGE, &len, err, sizeof err)
                                        : util_read_file(path, MAX_MESSAGE, &len, err, sizeof err);
    if (text == NULL) {
        fprintf(stderr, "domauth: %s\n", err);
        return CLI_EXIT_NOINPUT;
    }
    header_field *fields;
    int n = header_block_split(text, len, &fields, NULL, err, sizeof err);
    if (n < 0) {
        fprintf(stderr, "domauth: %s: %s\n", path, err);
        free(text);
        return CLI_EXIT_DATAERR;
    }
    pra_select(fields, (size_t)n, pra); /* copies the address; the reason is static */
    free(fields);
    free(text);
    return 0;
}

static void print_trace(const da_spf_eval *ev)
{
    for (size_t i = 0; i < da_spf_eval_trace_count(ev); i++) {
        const da_spf_trace_event *t = da_spf_eval_trace_get(ev, i);
        printf("%*s", (int)(2 * t->depth), "");
        cli_put_safe(stdout, t->text, false);
        putchar('\n');
    }
}

static int senderid_check(int argc, char **argv)
{
    enum { O_IP = 256, O_PRA, O_MESSAGE, O_SCOPE, O_FROM, O_HELO, O_RECEIVER, O_SERVER, O_ZONE,
           O_TRACE, O_JSON };
    static const struct option options[] = {
        {"ip", required_argument, NULL, O_IP},
        {"pra", required_argument, NULL, O_PRA},
        {"message", required_argument, NULL, O_MESSAGE},
        {"scope", required_argument, NULL, O_SCOPE},
        {"mail-from", required_argument, NULL, O_FROM},
        {"helo", required_argument, NULL, O_HELO},
        {"receiver", required_argument, NULL, O_RECEIVER},
        {"dns-server", required_argument, NULL, O_SERVER},
        {"zone", required_argument, NULL, O_ZONE},
        {"trace", no_argument, NULL, O_TRACE},
        {"json", no_argument, NULL, O_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    da_spf_request req = {.scope = DA_SPF_SCOPE_PRA};
    da_resolver_options ropt = {.use_edns0 = true};
    const char *zone_path = NULL, *message = NULL;
    bool json = false, tracing = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case O_IP: req.client_ip = optarg; break;
        case O_PRA: req.pra = optarg; break;
        case O_MESSAGE: message = optarg; break;
        case O_SCOPE:
            if (da_spf_scope_parse(optarg, &req.scope) != 0 || req.scope == DA_SPF_SCOPE_SPF) {
                fprintf(stderr, "domauth: --scope: '%s' is not pra or mfrom\n", optarg);
                return CLI_EXIT_USAGE;
            }
            break;
        case O_FROM: req.mail_from = optarg; break;
        case O_HELO: req.helo = optarg; break;
        case O_RECEIVER: req.receiver = optarg; break;
        case O_SERVER: ropt.servers = optarg; break;
        case O_ZONE: zone_path = optarg; break;
        case O_TRACE: tracing = true; break;
        case O_JSON: json = true; break;
        case 'h': fputs(usage_senderid, stdout); return 0;
        default: fputs(usage_senderid, stderr); return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "domauth: unexpected argument '%s'\n", argv[optind]);
        return CLI_EXIT_USAGE;
    }
    if (req.client_ip == NULL) {
        fprintf(stderr, "domauth: --ip is required\n%s", usage_senderid);
        return CLI_EXIT_USAGE;
    }
    if (req.scope == DA_SPF_SCOPE_PRA && (req.pra == NULL) == (message == NULL)) {
        fprintf(stderr, "domauth: scope pra needs one of --pra ADDR and --message FILE\n");
        return CLI_EXIT_USAGE;
    }
    if (req.scope == DA_SPF_SCOPE_MFROM && (req.pra != NULL || message != NULL)) {
        fprintf(stderr, "domauth: --pra and --message are for --scope pra\n");
        return CLI_EXIT_USAGE;
    }
    if (req.scope == DA_SPF_SCOPE_MFROM && (req.mail_from == NULL || !*req.mail_from) &&
        (req.helo == NULL || !*req.helo)) {
        fprintf(stderr, "domauth: --scope mfrom needs --mail-from, or --helo for a null sender\n");
        return CLI_EXIT_USAGE;
    }
    req.now = (int64_t)time(NULL);
    req.trace = tracing;
    const char *receiver = req.receiver && *req.receiver ? req.receiver : "unknown";

    pra_result pra = {.outcome = PRA_FOUND, .field = "from"};
    if (message != NULL) {
        int status = pra_from_message(message, &pra);
        if (status != 0)
            return status;
        req.pra = pra.outcome == PRA_FOUND ? pra.address : NULL;
    }
    if (req.scope == DA_SPF_SCOPE_PRA && pra.outcome != PRA_FOUND) {
        /* No PRA: the message is ill-formed (RFC 4407 step 6) and cannot be
         * checked; reported as permerror, never as another identity's result. */
        if (json) {
            printf("{\"result\":\"permerror\",\"scope\":\"pra\",\"pra\":null,\"pra_field\":null,"
                   "\"pra_outcome\":");
            json_fputs(stdout, pra_outcome_name(pra.outcome));
            printf(",\"problem\":");
            json_fputs(stdout, pra.reason);
            printf("}\n");
        } else {
            printf("permerror\npra: none: %s\n", pra.reason);
        }
        return cli_spf_exit_code(DA_SPF_PERMERROR);
    }

    char err[512] = "";
    da_spf_eval *ev = da_spf_eval_new(&req, err, sizeof err);
    if (ev == NULL) {
        fprintf(stderr, "domauth: %s\n", err);
        return CLI_EXIT_USAGE;
    }
    da_zone *zone = NULL;
    da_resolver *resolver = NULL;
    int status = cli_open_resolver(zone_path, &ropt, NULL, &zone, &resolver);
    if (status != 0)
        goto out;
    status = CLI_EXIT_SOFTWARE;
    if (da_spf_eval_run(ev, resolver) != 0) {
        fprintf(stderr, "domauth: the DNS resolver failed\n");
        goto out;
    }
    char *clause = da_senderid_authres_clause(ev, pra.field);
    char *authres = clause ? cli_authres_value(receiver, clause) : NULL;
    free(clause);
    da_spf_result result = da_spf_eval_result(ev);
    bool is_pra = req.scope == DA_SPF_SCOPE_PRA;
    if (json) {
        printf("{\"result\":");
        json_fputs(stdout, da_spf_result_name(result));
        printf(",\"scope\":");
        json_fputs(stdout, da_spf_scope_name(req.scope));
        printf(",\"identity\":");
        json_fputs(stdout, da_spf_eval_identity(ev));
        printf(",\"sender\":");
        json_fputs(stdout, da_spf_eval_sender(ev));
        printf(",\"domain\":");
        json_fputs(stdout, da_spf_eval_domain(ev));
        if (is_pra) {
            printf(",\"pra\":");
            json_fputs(stdout, req.pra);
            printf(",\"pra_field\":");
            json_fputs(stdout, message ? pra.field : NULL);
            printf(",\"pra_step\":");
            if (message)
                printf("%u", pra.step);
            else
                printf("null");
        }
        printf(",\"mechanism\":");
        json_fputs(stdout, da_spf_eval_mechanism(ev));
        printf(",\"explanation\":");
        json_fputs(stdout, da_spf_eval_explanation(ev));
        printf(",\"problem\":");
        json_fputs(stdout, da_spf_eval_problem(ev));
        printf(",\"dns_terms\":%u,\"void_lookups\":%u", da_spf_eval_dns_terms(ev),
               da_spf_eval_void_lookups(ev));
        printf(",\"authentication_results\":");
        json_fputs(stdout, authres);
        printf("}\n");
    } else {
        printf("%s\n", da_spf_result_name(result));
        if (tracing)
            print_trace(ev);
        printf("scope: %s\n", da_spf_scope_name(req.scope));
        if (is_pra) {
            fputs("pra: ", stdout);
            cli_put_safe(stdout, req.pra, false);
            if (message)
                printf(" (%s)", pra.reason);
            putchar('\n');
        }
        const char *text = da_spf_eval_explanation(ev);
        if (text) {
            fputs("explanation: ", stdout);
            cli_put_safe(stdout, text, false);
            putchar('\n');
        }
        text = da_spf_eval_problem(ev);
        if (text) {
            fputs("problem: ", stdout);
            cli_put_safe(stdout, text, false);
            putchar('\n');
        }
        if (authres) {
            fputs("Authentication-Results: ", stdout);
            cli_put_safe(stdout, authres, false);
            putchar('\n');
        }
    }
    free(authres);
    status = cli_spf_exit_code(result);
out:
    da_resolver_free(resolver);
    da_zone_free(zone);
    da_spf_eval_free(ev);
    return status;
}

int cmd_senderid(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage_senderid, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_USAGE : 0;
    }
    if (strcmp(argv[1], "check") == 0)
        return senderid_check(argc - 1, argv + 1);
    fprintf(stderr, "domauth: unknown senderid command '%s'\n\n%s", argv[1], usage_senderid);
    return CLI_EXIT_USAGE;
}
