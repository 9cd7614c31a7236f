/* dmarc.c: `domauth dmarc report`, the DMARC aggregate reports (RFC 9990)
 * of one UTC day, by hand: the same run as domauthd's daily timer
 * (src/service/dmarc_reports.c), with a dry run that sends nothing, an
 * output directory for the files, and JSON lines of what was done. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>

#include "commands.h"
#include "config/config.h"
#include "domauth_net.h"
#include "service/dmarc_reports.h"
#include "util/json.h"

static const char usage[] =
    "usage: domauth dmarc report [--dry-run] [--date YYYY-MM-DD] [--domain D]\n"
    "                            [--output DIR] [--json] [OPTIONS]\n"
    "\n"
    "Builds the DMARC aggregate reports (RFC 9990) of one UTC day from the events in\n"
    "the store, one per policy domain seen whose record asks for reports (rua=), and\n"
    "sends each to its mailto: destinations with sendmail(1). A destination outside\n"
    "the policy domain's organizational domain gets it only when it publishes\n"
    "POLICY-DOMAIN._report._dmarc.DESTINATION TXT \"v=DMARC1\". A report sent is not\n"
    "sent again (the store keeps a ledger); a failed one is tried again by the next\n"
    "run, [dmarc] report_attempts times at most. domauthd does the same every day\n"
    "when [dmarc] report = yes.\n"
    "\n"
    "  --dry-run          build and check everything, send nothing, record nothing;\n"
    "                     print what would be sent (with --output, the mails too)\n"
    "  --date YYYY-MM-DD  the UTC day to report (default: yesterday)\n"
    "  --domain D         only the report of policy domain D\n"
    "  --output DIR       also write each report as RECEIVER!DOMAIN!BEGIN!END.xml.gz\n"
    "  --json             one JSON object per line for each outcome, then the totals\n"
    "  --config FILE      domauth.conf for [dmarc] report_*, database and the DNS\n"
    "                     (default /etc/domauth/domauth.conf)\n"
    "  --database PATH    the event store (default: the config's database)\n"
    "  --sendmail PATH    the sendmail(1) to run (default: [dmarc] report_sendmail)\n"
    "  --org-name TEXT    report_metadata org_name (default: [dmarc] report_org_name)\n"
    "  --email ADDRESS    the contact and From: (default: [dmarc] report_email)\n"
    "  --reporting-domain D  the Submitter and file name prefix (default:\n"
    "                     [dmarc] report_domain, else report_email's domain)\n"
    "  --zone FILE        answer the authorization queries from a zone file\n"
    "  --dns-servers LIST ADDR[:PORT],... instead of /etc/resolv.conf\n"
    "  -h, --help         this help\n"
    "\n"
    "Exit status: 0 when every report due went out (or would, with --dry-run) or\n"
    "was sent before; 1 when a send failed (it is logged and tried again next\n"
    "run); 64 usage; 65 a bad config; 66 no store; 70 another failure.\n"
    "\n"
    "Example: domauth dmarc report --dry-run --date 2026-12-01 --output /tmp/r\n";

typedef struct cli_ctx {
    bool json, dry_run;
} cli_ctx;

static void on_log(void *ctx, int priority, const char *line)
{
    (void)ctx;
    syslog(priority, "%s", line);
    fputs("domauth: ", stderr);
    cli_put_safe(stderr, line, false);
    fputc('\n', stderr);
}

static void json_kv(const char *key, const char *value, bool *first)
{
    printf("%s\"%s\":", *first ? "{" : ",", key);
    *first = false;
    if (value == NULL)
        fputs("null", stdout);
    else
        json_fputs(stdout, value);
}

static void on_outcome(void *ctx, const dmarc_report_outcome *o)
{
    const cli_ctx *c = ctx;
    if (c->json) {
        bool first = true;
        json_kv("domain", o->domain, &first);
        json_kv("report_id", o->report_id, &first);
        json_kv("filename", o->filename, &first);
        json_kv("destination", o->destination, &first);
        json_kv("status", o->status, &first);
        json_kv("detail", o->detail && *o->detail ? o->detail : NULL, &first);
        printf(",\"messages\":%llu,\"records\":%zu,\"xml_bytes\":%zu,\"gz_bytes\":%zu}\n",
               (unsigned long long)o->messages, o->records, o->xml_bytes, o->gz_bytes);
        return;
    }
    cli_put_safe(stdout, o->domain, false);
    printf(": %s", o->status);
    if (o->destination != NULL) {
        fputs(" ", stdout);
        cli_put_safe(stdout, o->destination, false);
    } else if (strcmp(o->status, "written") == 0) {
        fputs(" ", stdout);
        cli_put_safe(stdout, o->filename, false);
    }
    printf(" (%llu messages, %zu records", (unsigned long long)o->messages, o->records);
    if (o->detail && *o->detail) {
        fputs("; ", stdout);
        cli_put_safe(stdout, o->detail, false);
    }
    fputs(")\n", stdout);
}

enum {
    O_DRY = 1000, O_DATE, O_DOMAIN, O_OUTPUT, O_JSON, O_CONFIG, O_DATABASE, O_SENDMAIL,
    O_ORG, O_EMAIL, O_RDOMAIN, O_ZONE, O_DNS
};

static int cmd_dmarc_report(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"dry-run", no_argument, NULL, O_DRY},
        {"date", required_argument, NULL, O_DATE},
        {"domain", required_argument, NULL, O_DOMAIN},
        {"output", required_argument, NULL, O_OUTPUT},
        {"json", no_argument, NULL, O_JSON},
        {"config", required_argument, NULL, O_CONFIG},
        {"database", required_argument, NULL, O_DATABASE},
        {"sendmail", required_argument, NULL, O_SENDMAIL},
        {"org-name", required_argument, NULL, O_ORG},
        {"email", required_argument, NULL, O_EMAIL},
        {"reporting-domain", required_argument, NULL, O_RDOMAIN},
        {"zone", required_argument, NULL, O_ZONE},
        {"dns-servers", required_argument, NULL, O_DNS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *date = NULL, *domain = NULL, *output = NULL, *config = NULL, *database = NULL,
               *sendmail = NULL, *org = NULL, *email = NULL, *rdomain = NULL, *zone_path = NULL,
               *dns = NULL;
    cli_ctx ctx = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case O_DRY: ctx.dry_run = true; break;
        case O_DATE: date = optarg; break;
        case O_DOMAIN: domain = optarg; break;
        case O_OUTPUT: output = optarg; break;
        case O_JSON: ctx.json = true; break;
        case O_CONFIG: config = optarg; break;
        case O_DATABASE: database = optarg; break;
        case O_SENDMAIL: sendmail = optarg; break;
        case O_ORG: org = optarg; break;
        case O_EMAIL: email = optarg; break;
        case O_RDOMAIN: rdomain = optarg; break;
        case O_ZONE: zone_path = optarg; break;
        case O_DNS: dns = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return CLI_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "domauth dmarc report: unexpected argument '%s'\n", argv[optind]);
        return CLI_EXIT_USAGE;
    }
    int64_t now = (int64_t)time(NULL), begin;
    if (date != NULL) {
        if (dmarc_report_day(date, &begin) != 0) {
            fprintf(stderr, "domauth dmarc report: --date takes a day as YYYY-MM-DD, not '");
            cli_put_safe(stderr, date, false);
            fputs("'\n", stderr);
            return CLI_EXIT_USAGE;
        }
    } else {
        begin = now - now % 86400 - 86400; /* yesterday, UTC */
    }
    if (domain != NULL && !dmarc_report_domain_valid(domain)) {
        fputs("domauth dmarc report: --domain takes a domain name\n", stderr);
        return CLI_EXIT_USAGE;
    }
    if (output != NULL) {
        struct stat sb;
        if (stat(output, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            fprintf(stderr, "domauth dmarc report: --output %s is not a directory\n", output);
            return CLI_EXIT_USAGE;
        }
    }
    domauth_config cfg;
    char err[600];
    if (cli_load_site_config(&cfg, config ? config : CLI_DEFAULT_CONFIG, config != NULL, err,
                             sizeof err) != 0) {
        fprintf(stderr, "domauth: %s\n", err);
        return CLI_EXIT_DATAERR;
    }
    const char *mail = email ? email : cfg.dmarc_report_email;
    const char *at = mail ? strrchr(mail, '@') : NULL;
    const char *receiver = rdomain                                               ? rdomain
                           : cfg.dmarc_report_domain && *cfg.dmarc_report_domain ? cfg.dmarc_report_domain
                           : at                                                  ? at + 1
                                                                                 : "";
    dmarc_report_run_options o = {
        .database = database ? database : cfg.database,
        /* No lease here (an administrator's command): the ledger alone
         * keeps a report a node sent from going twice. */
        .password_file = cfg.database_password_file,
        .begin = begin,
        .end = begin + 86400,
        .only_domain = domain,
        .meta = {.org_name = org ? org : cfg.dmarc_report_org_name,
                 .email = mail,
                 .receiver = receiver,
                 .generator = "domauth " DOMAUTH_VERSION},
        .sendmail = sendmail ? sendmail : cfg.dmarc_report_sendmail,
        .dry_run = ctx.dry_run,
        .output_dir = output,
        .max_attempts = cfg.dmarc_report_attempts,
        .now = now,
        .log = on_log,
        .outcome = on_outcome,
        .ctx = &ctx,
    };
    int status = 0;
    if (o.meta.org_name == NULL || !*o.meta.org_name || mail == NULL || !*mail) {
        fputs("domauth dmarc report: needs the organization name and the contact address "
              "([dmarc] report_org_name and report_email, or --org-name and --email)\n",
              stderr);
        config_free(&cfg);
        return CLI_EXIT_USAGE;
    }
    if (!dmarc_report_domain_valid(receiver)) {
        fputs("domauth dmarc report: the reporting domain is not a domain name "
              "(--reporting-domain, [dmarc] report_domain or report_email's domain)\n",
              stderr);
        config_free(&cfg);
        return CLI_EXIT_USAGE;
    }
    da_resolver_options ro = {.servers = dns ? dns : cfg.dns_servers && *cfg.dns_servers
                                                         ? cfg.dns_servers
                                                         : NULL,
                              .timeout_ms = cfg.dns_timeout_ms,
                              .tries = cfg.dns_tries};
    da_zone *zone = NULL;
    if ((status = cli_open_resolver(zone_path, &ro, NULL, &zone, &o.resolver)) != 0) {
        config_free(&cfg);
        return status;
    }
    openlog("domauth", LOG_PID, LOG_MAIL);
    dmarc_report_totals t;
    if (dmarc_report_run(&o, &t, err, sizeof err) != 0) {
        fputs("domauth dmarc report: ", stderr);
        cli_put_safe(stderr, err, false);
        fputc('\n', stderr);
        status = strstr(err, "no event database") || strstr(err, "not a domauth event database")
                     ? CLI_EXIT_NOINPUT
                     : CLI_EXIT_SOFTWARE;
    } else {
        if (ctx.json)
            printf("{\"totals\":{\"events\":%llu,\"skipped_events\":%llu,\"reports\":%zu,"
                   "\"sent\":%zu,\"failed\":%zu,\"already_sent\":%zu,\"gave_up\":%zu,"
                   "\"not_authorized\":%zu,\"would_send\":%zu,\"skipped\":%zu}}\n",
                   (unsigned long long)t.events, (unsigned long long)t.skipped_events, t.reports,
                   t.sent, t.failed, t.already_sent, t.gave_up, t.unauthorized, t.would_send,
                   t.skipped);
        else
            printf("%zu reports from %llu events: %zu sent, %zu failed, %zu sent before, "
                   "%zu given up, %zu not authorized%s%s\n",
                   t.reports, (unsigned long long)t.events, t.sent, t.failed, t.already_sent,
                   t.gave_up, t.unauthorized, ctx.dry_run ? ", dry run: " : "",
                   ctx.dry_run ? "nothing sent" : "");
        status = t.failed > 0 ? 1 : 0;
    }
    da_resolver_free(o.resolver);
    da_zone_free(zone);
    config_free(&cfg);
    return status;
}

int cmd_dmarc(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_USAGE : 0;
    }
    if (strcmp(argv[1], "report") == 0)
        return cmd_dmarc_report(argc - 1, argv + 1);
    fprintf(stderr, "domauth dmarc: unknown command '%s' (report)\n", argv[1]);
    return CLI_EXIT_USAGE;
}
