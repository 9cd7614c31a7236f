/* spf_lint.c: `domauth spf lint` (a domain's published SPF tree, or one
 * record) and `domauth spf wizard` (a record built from answers). The
 * checking is in src/record/; this file parses arguments, sets up DNS and
 * prints. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "commands.h"
#include "record/lint.h"
#include "util/json.h"
#include "domauth.h"
#include "domauth_net.h"

static const char usage_spf_lint[] =
    "usage: domauth spf lint DOMAIN [options]\n"
    "       domauth spf lint [DOMAIN] --record TEXT [options]\n"
    "       domauth spf lint RECORD\n"
    "\n"
    "Checks DOMAIN's published SPF record and the records of every include and\n"
    "redirect under it: syntax, one record, the 10-lookup and 2-void-lookup\n"
    "limits along the worst path, MX names, loops, includes without a record,\n"
    "ptr, +all and ?all, terms that repeat others, record and answer size, exp=.\n"
    "With --record, TEXT is checked as if DOMAIN published it (without DOMAIN,\n"
    "terms naming no domain are not looked up). Each finding is printed as\n"
    "  SEVERITY DOMAIN term N (TEXT): message [code]\n"
    "with SEVERITY error, warning or note.\n"
    "\n"
    "  --record TEXT         check this record instead of the published one\n"
    "  --zone FILE           answer from a zone file, offline (see domauth(1))\n"
    "  --dns-server ADDR[:PORT][,...]  servers to ask (default: /etc/resolv.conf)\n"
    "  --json                one JSON object instead of text\n"
    "  -h, --help            this text\n"
    "\n"
    "Exit status: 0 no errors or warnings (notes only), 1 warnings only, 2 errors;\n"
    "64 usage, 65 a zone file that does not parse, 66 a file that cannot be read,\n"
    "70 internal error.\n"
    "\n"
    "The third form (one argument that is a record, not a domain) checks syntax\n"
    "only, without DNS: it prints 'ok' and exits 0, or names the wrong term and\n"
    "exits 65.\n";

/* A domain, as opposed to a record: no space, no '=', not "v=spf1". */
static bool looks_like_domain(const char *s)
{
    return *s != '\0' && strchr(s, ' ') == NULL && strchr(s, '=') == NULL &&
           strchr(s, ':') == NULL;
}

static int lint_syntax_only(const char *record)
{
    char err[512];
    if (da_spf_record_check(record, strlen(record), err, sizeof err) != 0) {
        printf("permerror: %s\n", err);
        return CLI_EXIT_DATAERR;
    }
    printf("ok\n");
    return 0;
}

/* Makes the resolver (and the zone it reads, when --zone). Returns 0, or
 * the exit status after printing why. */
int cli_open_resolver(const char *zone_path, const char *servers, da_zone **zone,
                      da_resolver **resolver)
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
    } else {
        da_resolver_options ropt = {.servers = servers, .use_edns0 = true};
        *resolver = da_resolver_new_cares(&ropt, err, sizeof err);
    }
    if (*resolver == NULL) {
        fprintf(stderr, "domauth: cannot set up DNS: %s\n", err[0] ? err : "out of memory");
        da_zone_free(*zone);
        *zone = NULL;
        return CLI_EXIT_SOFTWARE;
    }
    return 0;
}

static void print_finding_text(const spf_lint_finding *f)
{
    printf("%s %s", spf_lint_severity_name(f->severity), f->domain);
    if (f->term > 0 && f->term_text != NULL)
        printf(" term %u (%s)", f->term, f->term_text);
    else if (f->term > 0)
        printf(" term %u", f->term);
    printf(": %s [%s]\n", f->message, f->code);
}

void cli_print_lint_text(const spf_lint *lint)
{
    for (size_t i = 0; i < spf_lint_count(lint); i++)
        print_finding_text(spf_lint_get(lint, i));
    printf("summary: %zu errors, %zu warnings, %zu notes\n",
           spf_lint_count_severity(lint, SPF_LINT_ERROR),
           spf_lint_count_severity(lint, SPF_LINT_WARNING),
           spf_lint_count_severity(lint, SPF_LINT_NOTE));
}

static void print_lint_json(const spf_lint *lint, const char *domain)
{
    printf("{\"domain\":");
    json_fputs(stdout, domain);
    printf(",\"record\":");
    json_fputs(stdout, spf_lint_record(lint));
    printf(",\"lookups\":%u,\"lookup_path\":", spf_lint_lookups(lint));
    json_fputs(stdout, spf_lint_lookup_path(lint));
    printf(",\"void_lookups\":%u,\"errors\":%zu,\"warnings\":%zu,\"notes\":%zu,\"findings\":[",
           spf_lint_void_lookups(lint), spf_lint_count_severity(lint, SPF_LINT_ERROR),
           spf_lint_count_severity(lint, SPF_LINT_WARNING),
           spf_lint_count_severity(lint, SPF_LINT_NOTE));
    for (size_t i = 0; i < spf_lint_count(lint); i++) {
        const spf_lint_finding *f = spf_lint_get(lint, i);
        printf("%s{\"severity\":\"%s\",\"code\":", i ? "," : "",
               spf_lint_severity_name(f->severity));
        json_fputs(stdout, f->code);
        printf(",\"domain\":");
        json_fputs(stdout, f->domain);
        printf(",\"term\":%u,\"text\":", f->term);
        json_fputs(stdout, f->term_text);
        printf(",\"message\":");
        json_fputs(stdout, f->message);
        printf("}");
    }
    printf("],\"exit\":%d}\n", spf_lint_exit_status(lint));
}

/* Runs the lint over resolver; NULL (after printing why) when it failed. */
spf_lint *cli_run_lint(const char *domain, const char *record, da_resolver *resolver)
{
    spf_lint *lint = spf_lint_new(domain, record);
    if (lint == NULL) {
        fprintf(stderr, "domauth: out of memory\n");
        return NULL;
    }
    if (spf_lint_run(lint, resolver) != 0) {
        fprintf(stderr, "domauth: the DNS resolver failed\n");
        spf_lint_free(lint);
        return NULL;
    }
    return lint;
}

int cmd_spf_lint(int argc, char **argv)
{
    /* The first form of all: one argument that is a record. */
    if (argc == 2 && argv[1][0] != '-' && !looks_like_domain(argv[1]))
        return lint_syntax_only(argv[1]);

    enum { O_RECORD = 256, O_ZONE, O_SERVER, O_JSON };
    static const struct option options[] = {
        {"record", required_argument, NULL, O_RECORD},
        {"zone", required_argument, NULL, O_ZONE},
        {"dns-server", required_argument, NULL, O_SERVER},
        {"json", no_argument, NULL, O_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *record = NULL, *zone_path = NULL, *servers = NULL;
    bool json = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case O_RECORD: record = optarg; break;
        case O_ZONE: zone_path = optarg; break;
        case O_SERVER: servers = optarg; break;
        case O_JSON: json = true; break;
        case 'h': fputs(usage_spf_lint, stdout); return 0;
        default: fputs(usage_spf_lint, stderr); return CLI_EXIT_USAGE;
        }
    }
    const char *domain = NULL;
    if (optind < argc)
        domain = argv[optind++];
    if (optind < argc) {
        fprintf(stderr, "domauth: unexpected argument '%s'\n", argv[optind]);
        return CLI_EXIT_USAGE;
    }
    if (domain == NULL && record == NULL) {
        fputs(usage_spf_lint, stderr);
        return CLI_EXIT_USAGE;
    }
    if (domain != NULL && !looks_like_domain(domain)) {
        fprintf(stderr, "domauth: '%s' is not a domain (give a record with --record)\n",
                domain);
        return CLI_EXIT_USAGE;
    }
    da_zone *zone;
    da_resolver *resolver;
    int status = cli_open_resolver(zone_path, servers, &zone, &resolver);
    if (status != 0)
        return status;
    spf_lint *lint = cli_run_lint(domain, record, resolver);
    status = CLI_EXIT_SOFTWARE;
    if (lint != NULL) {
        if (json) {
            print_lint_json(lint, domain);
        } else {
            if (spf_lint_record(lint) != NULL)
                printf("%s: %s\n", domain ? domain : "record", spf_lint_record(lint));
            cli_print_lint_text(lint);
        }
        status = spf_lint_exit_status(lint);
    }
    spf_lint_free(lint);
    da_resolver_free(resolver);
    da_zone_free(zone);
    return status;
}
