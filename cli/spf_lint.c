/* spf_lint.c: `domauth spf lint` (a domain's published SPF tree, or one
 * record) and `domauth spf wizard` (a record built from answers). The
 * checking is in src/record/; this file parses arguments, sets up DNS and
 * prints. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "commands.h"
#include "record/lint.h"
#include "record/wizard.h"
#include "spf/record.h"
#include "util/ip.h"
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
    "ptr, +all and ?all, terms that repeat others, record and answer size, exp=,\n"
    "the retired SPF RR type.\n"
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

/* Findings quote domains and terms from DNS: printed through cli_put_safe. */
static void print_finding_text(const spf_lint_finding *f)
{
    printf("%s ", spf_lint_severity_name(f->severity));
    cli_put_safe(stdout, f->domain, false);
    if (f->term > 0)
        printf(" term %u", f->term);
    if (f->term > 0 && f->term_text != NULL) {
        fputs(" (", stdout);
        cli_put_safe(stdout, f->term_text, false);
        putchar(')');
    }
    fputs(": ", stdout);
    cli_put_safe(stdout, f->message, false);
    printf(" [%s]\n", f->code);
}

static void print_lint_text(const spf_lint *lint)
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
static spf_lint *run_lint(const char *domain, const char *record, da_resolver *resolver)
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
    da_resolver_options ropt = {.servers = servers, .use_edns0 = true};
    int status = cli_open_resolver(zone_path, &ropt, NULL, &zone, &resolver);
    if (status != 0)
        return status;
    spf_lint *lint = run_lint(domain, record, resolver);
    status = CLI_EXIT_SOFTWARE;
    if (lint != NULL) {
        if (json) {
            print_lint_json(lint, domain);
        } else {
            if (spf_lint_record(lint) != NULL) {
                /* The record as published: any bytes at all. */
                cli_put_safe(stdout, domain ? domain : "record", false);
                fputs(": ", stdout);
                cli_put_safe(stdout, spf_lint_record(lint), false);
                putchar('\n');
            }
            print_lint_text(lint);
        }
        status = spf_lint_exit_status(lint);
    }
    spf_lint_free(lint);
    da_resolver_free(resolver);
    da_zone_free(zone);
    return status;
}

/* --------------------------------------------------------------- wizard */

static const char usage_spf_wizard[] =
    "usage: domauth spf wizard DOMAIN [options]\n"
    "\n"
    "Shows DOMAIN's current SPF, MX and A/AAAA records, builds an SPF record from\n"
    "the answers below, prints it with its BIND zone-file line (strings of at\n"
    "most 255 bytes) and checks it as 'domauth spf lint' would before you publish.\n"
    "Without any answer it asks the questions on a terminal; when standard input\n"
    "is not one, it proposes mx and a from what DNS shows.\n"
    "\n"
    "answers:\n"
    "  --no-mail             the domain sends no mail: v=spf1 -all\n"
    "  --mx                  the inbound MX hosts also send\n"
    "  --a                   the domain's own A/AAAA addresses send\n"
    "  --ip4 NET             another sending IPv4 address or network (repeat)\n"
    "  --ip6 NET             another sending IPv6 address or network (repeat)\n"
    "  --host NAME           another sending host, by name: a:NAME (repeat)\n"
    "  --include DOMAIN      an outsourced sender's record, e.g. a provider's (repeat)\n"
    "  --ptr                 hosts whose reverse name is in the domain (discouraged:\n"
    "                        RFC 7208 section 5.5)\n"
    "  --all fail|softfail|neutral  everything else: -all, ~all (default), ?all\n"
    "DNS:\n"
    "  --zone FILE           answer from a zone file, offline (see domauth(1))\n"
    "  --dns-server ADDR[:PORT][,...]  servers to ask (default: /etc/resolv.conf)\n"
    "  -h, --help            this text\n"
    "\n"
    "Exit status: that of the check (0 clean, 1 warnings, 2 errors); 64 usage or\n"
    "an answer that is not valid, 65/66 zone file errors, 70 internal error.\n";

typedef struct fact {
    da_dns_type type;
    da_dns_answer *answer;
} fact;

static void fact_callback(void *arg, const da_dns_question *q, const da_dns_answer *a)
{
    fact *facts = arg;
    for (int i = 0; i < 4; i++)
        if (facts[i].type == q->type && facts[i].answer == NULL)
            facts[i].answer = da_dns_answer_copy(a);
}

static void print_fact(const char *label, const da_dns_answer *a, bool spf_only)
{
    printf("  %-5s", label);
    if (a == NULL || a->status != DA_DNS_NOERROR) {
        printf(" (%s)\n", a ? da_dns_status_name(a->status) : "no answer");
        return;
    }
    size_t shown = 0;
    for (size_t i = 0; i < a->count; i++) {
        const da_dns_rr *rr = &a->records[i];
        char text[IP_TEXT_MAX];
        if (rr->type == DA_DNS_TXT) {
            if (spf_only && !spf_record_is_spf(rr->text, rr->text_len))
                continue;
            /* As published: NUL and escape sequences included. */
            printf("%s ", shown ? "       " : "");
            cli_put_safe_n(stdout, rr->text, rr->text_len, false);
            putchar('\n');
        } else if (rr->type == DA_DNS_MX) {
            printf("%s %u ", shown ? "       " : "", rr->preference);
            cli_put_safe(stdout, rr->name, false);
            putchar('\n');
        } else {
            ip_addr addr = {.family = rr->type == DA_DNS_A ? 4 : 6};
            memcpy(addr.bytes, rr->addr, 16);
            ip_format(&addr, text);
            printf("%s %s\n", shown ? "       " : "", text);
        }
        shown++;
    }
    if (shown == 0)
        printf(" none\n");
}

static bool has_records(const da_dns_answer *a)
{
    return a != NULL && a->status == DA_DNS_NOERROR && a->count > 0;
}

/* Grows a list of option values (argv strings, not copied). */
static bool push(const char ***list, size_t *count, const char *value)
{
    const char **grown = realloc(*list, (*count + 1) * sizeof **list);
    if (grown == NULL)
        return false;
    grown[(*count)++] = value;
    *list = grown;
    return true;
}

/* The interactive wizard: the source document's questions, one a line on
 * the terminal. Values typed are kept in owned (freed by the caller). */
typedef struct wizard_lists {
    const char **ip4, **ip6, **hosts, **includes;
    char **owned;
    size_t owned_count;
} wizard_lists;

/* Reads one line into buf without its newline; false at end of input. */
static bool ask(const char *prompt, char *buf, size_t size)
{
    printf("%s", prompt);
    fflush(stdout);
    if (fgets(buf, (int)size, stdin) == NULL) {
        printf("\n");
        return false;
    }
    buf[strcspn(buf, "\r\n")] = '\0';
    return true;
}

/* A yes/no question; an empty line takes the default. */
static bool ask_yes(const char *prompt, bool yes_default, bool *eof)
{
    char buf[64];
    for (;;) {
        char full[512];
        snprintf(full, sizeof full, "%s [%s] ", prompt, yes_default ? "Y/n" : "y/N");
        if (!ask(full, buf, sizeof buf)) {
            *eof = true;
            return yes_default;
        }
        if (buf[0] == '\0')
            return yes_default;
        if (strcasecmp(buf, "y") == 0 || strcasecmp(buf, "yes") == 0)
            return true;
        if (strcasecmp(buf, "n") == 0 || strcasecmp(buf, "no") == 0)
            return false;
        printf("  please answer y or n\n");
    }
}

/* Splits a line of words (spaces or commas) onto a list, keeping copies. */
static bool ask_words(const char *prompt, wizard_lists *lists, const char ***list,
                      size_t *count, const char ***other, size_t *other_count, bool *eof)
{
    char buf[2048];
    if (!ask(prompt, buf, sizeof buf)) {
        *eof = true;
        return true;
    }
    for (char *save = NULL, *word = strtok_r(buf, " ,\t", &save); word != NULL;
         word = strtok_r(NULL, " ,\t", &save)) {
        char *copy = strdup(word);
        char **owned = realloc(lists->owned, (lists->owned_count + 1) * sizeof *owned);
        if (copy == NULL || owned == NULL) {
            free(copy);
            if (owned != NULL)
                lists->owned = owned;
            return false;
        }
        lists->owned = owned;
        lists->owned[lists->owned_count++] = copy;
        /* An address with a colon is IPv6, when the caller gave both lists. */
        bool to_other = other != NULL && strchr(copy, ':') != NULL;
        if (!push(to_other ? other : list, to_other ? other_count : count, copy))
            return false;
    }
    return true;
}

static bool wizard_interactive(const char *domain, const da_dns_answer *mx,
                               const da_dns_answer *a, const da_dns_answer *aaaa,
                               spf_wizard_answers *w, wizard_lists *lists)
{
    bool eof = false;
    char q[512];
    printf("\nAnswer the questions to build the record (Enter takes the default).\n");
    snprintf(q, sizeof q, "Is %s used to send mail?", domain);
    if (!ask_yes(q, true, &eof)) {
        w->no_mail = true;
        return true;
    }
    if (!eof)
        w->mx = ask_yes("Do the inbound mail servers (the MX hosts above) also send mail?",
                        has_records(mx), &eof);
    if (!eof)
        w->a = ask_yes("Do the domain's own addresses (its A/AAAA records above) send mail?",
                       has_records(a) || has_records(aaaa), &eof);
    if (!eof && !ask_words("Other sending IP addresses or networks (e.g. 192.0.2.0/24 "
                           "2001:db8::/32; Enter for none): ",
                           lists, &lists->ip4, &w->ip4_count, &lists->ip6, &w->ip6_count,
                           &eof))
        return false;
    if (!eof && !ask_words("Other sending hosts, by name (Enter for none): ", lists,
                           &lists->hosts, &w->host_count, NULL, NULL, &eof))
        return false;
    if (!eof)
        w->ptr = ask_yes("Any host whose reverse DNS name is in the domain (ptr; "
                         "discouraged by RFC 7208)?", false, &eof);
    if (!eof && !ask_words("Outsourced senders: domains whose SPF record to include "
                           "(e.g. a mail service's; Enter for none): ",
                           lists, &lists->includes, &w->include_count, NULL, NULL, &eof))
        return false;
    while (!eof) {
        char buf[64];
        if (!ask("Everything else: fail (-all), softfail (~all) or neutral (?all)? "
                 "[softfail] ", buf, sizeof buf))
            break;
        if (buf[0] == '\0' || strcmp(buf, "softfail") == 0 || strcmp(buf, "~all") == 0)
            w->all = '~';
        else if (strcmp(buf, "fail") == 0 || strcmp(buf, "-all") == 0)
            w->all = '-';
        else if (strcmp(buf, "neutral") == 0 || strcmp(buf, "?all") == 0)
            w->all = '?';
        else {
            printf("  please answer fail, softfail or neutral\n");
            continue;
        }
        break;
    }
    printf("\n");
    return true;
}

int cmd_spf_wizard(int argc, char **argv)
{
    enum { O_NOMAIL = 256, O_MX, O_A, O_IP4, O_IP6, O_HOST, O_INCLUDE, O_PTR, O_ALL, O_ZONE,
           O_SERVER };
    static const struct option options[] = {
        {"no-mail", no_argument, NULL, O_NOMAIL},
        {"mx", no_argument, NULL, O_MX},
        {"a", no_argument, NULL, O_A},
        {"ip4", required_argument, NULL, O_IP4},
        {"ip6", required_argument, NULL, O_IP6},
        {"host", required_argument, NULL, O_HOST},
        {"include", required_argument, NULL, O_INCLUDE},
        {"ptr", no_argument, NULL, O_PTR},
        {"all", required_argument, NULL, O_ALL},
        {"zone", required_argument, NULL, O_ZONE},
        {"dns-server", required_argument, NULL, O_SERVER},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    spf_wizard_answers w = {0};
    wizard_lists lists = {0};
    const char *zone_path = NULL, *servers = NULL;
    bool answered = false, oom = false;
    int status = CLI_EXIT_USAGE;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (c >= O_NOMAIL && c <= O_ALL)
            answered = true;
        switch (c) {
        case O_NOMAIL: w.no_mail = true; break;
        case O_MX: w.mx = true; break;
        case O_A: w.a = true; break;
        case O_PTR: w.ptr = true; break;
        case O_IP4: oom |= !push(&lists.ip4, &w.ip4_count, optarg); break;
        case O_IP6: oom |= !push(&lists.ip6, &w.ip6_count, optarg); break;
        case O_HOST: oom |= !push(&lists.hosts, &w.host_count, optarg); break;
        case O_INCLUDE: oom |= !push(&lists.includes, &w.include_count, optarg); break;
        case O_ALL:
            if (strcmp(optarg, "fail") == 0) w.all = '-';
            else if (strcmp(optarg, "softfail") == 0) w.all = '~';
            else if (strcmp(optarg, "neutral") == 0) w.all = '?';
            else {
                fprintf(stderr, "domauth: --all must be fail, softfail or neutral\n");
                goto out_args;
            }
            break;
        case O_ZONE: zone_path = optarg; break;
        case O_SERVER: servers = optarg; break;
        case 'h': fputs(usage_spf_wizard, stdout); status = 0; goto out_args;
        default: fputs(usage_spf_wizard, stderr); goto out_args;
        }
    }
    if (oom) {
        fprintf(stderr, "domauth: out of memory\n");
        status = CLI_EXIT_SOFTWARE;
        goto out_args;
    }
    if (optind + 1 != argc || !looks_like_domain(argv[optind])) {
        fprintf(stderr, "domauth: give one DOMAIN\n%s", usage_spf_wizard);
        goto out_args;
    }
    const char *domain = argv[optind];

    da_zone *zone;
    da_resolver *resolver;
    da_resolver_options ropt = {.servers = servers, .use_edns0 = true};
    status = cli_open_resolver(zone_path, &ropt, NULL, &zone, &resolver);
    if (status != 0)
        goto out_args;

    /* What DNS says today, as the document's wizard shows it first. */
    fact facts[4] = {{DA_DNS_TXT, NULL}, {DA_DNS_MX, NULL}, {DA_DNS_A, NULL},
                     {DA_DNS_AAAA, NULL}};
    for (int i = 0; i < 4; i++) {
        da_dns_question q = {domain, facts[i].type};
        if (da_resolver_submit(resolver, &q, fact_callback, facts) != 0)
            facts[i].answer = NULL;
    }
    status = CLI_EXIT_SOFTWARE;
    if (da_resolver_run(resolver) != 0) {
        fprintf(stderr, "domauth: the DNS resolver failed\n");
        goto out;
    }
    printf("current DNS for %s:\n", domain);
    print_fact("SPF", facts[0].answer, true);
    print_fact("MX", facts[1].answer, false);
    print_fact("A", facts[2].answer, false);
    print_fact("AAAA", facts[3].answer, false);

    if (!answered && isatty(STDIN_FILENO)) {
        if (!wizard_interactive(domain, facts[1].answer, facts[2].answer, facts[3].answer, &w,
                                &lists)) {
            fprintf(stderr, "domauth: out of memory\n");
            goto out;
        }
    } else if (!answered) {
        w.mx = has_records(facts[1].answer);
        w.a = has_records(facts[2].answer) || has_records(facts[3].answer);
        w.no_mail = !w.mx && !w.a;
        printf("no answers given: proposing %s from DNS (see --help for the questions)\n",
               w.no_mail ? "--no-mail" : w.mx && w.a ? "--mx --a" : w.mx ? "--mx" : "--a");
    }
    if (w.mx && !has_records(facts[1].answer))
        printf("warning: --mx, but %s has no MX records today\n", domain);
    if (w.a && !has_records(facts[2].answer) && !has_records(facts[3].answer))
        printf("warning: --a, but %s has no A or AAAA records today\n", domain);

    w.ip4 = lists.ip4;
    w.ip6 = lists.ip6;
    w.hosts = lists.hosts;
    w.includes = lists.includes;
    char err[512];
    char *record = spf_wizard_record(&w, err, sizeof err);
    if (record == NULL) {
        fprintf(stderr, "domauth: %s\n", err);
        status = CLI_EXIT_USAGE;
        goto out;
    }
    char *line = spf_wizard_zone_line(domain, record);
    printf("record:\n  %s\n", record);
    printf("zone file line (BIND):\n  %s\n", line ? line : "(out of memory)");
    size_t size = spf_wizard_answer_size(domain, record);
    if (size > 512)
        printf("warning: the answer would be %zu bytes, over 512: receivers without EDNS0 "
               "must retry over TCP; shorten the record (fewer ip4 terms, wider networks)\n",
               size);
    if (w.no_mail)
        printf("advice: SPF is not inherited: publish \"v=spf1 -all\" also at every name "
               "under %s that has an address but sends no mail (www.%s and the like), and "
               "a null MX (RFC 7505: \"MX 0 .\") where no mail is received either\n",
               domain, domain);
    free(line);

    printf("check:\n");
    spf_lint *lint = run_lint(domain, record, resolver);
    if (lint != NULL) {
        print_lint_text(lint);
        status = spf_lint_exit_status(lint);
    }
    spf_lint_free(lint);
    free(record);
out:
    for (int i = 0; i < 4; i++)
        da_dns_answer_free(facts[i].answer);
    da_resolver_free(resolver);
    da_zone_free(zone);
out_args:
    free(lists.ip4);
    free(lists.ip6);
    free(lists.hosts);
    free(lists.includes);
    for (size_t i = 0; i < lists.owned_count; i++)
        free(lists.owned[i]);
    free(lists.owned);
    return status;
}
