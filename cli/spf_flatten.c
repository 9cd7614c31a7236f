/* spf_flatten.c: `domauth spf flatten`: a domain's SPF tree as a flat
 * chain of ip4/ip6 records (src/record/flatten.c does the work), the zone
 * lines to publish it, when it goes stale, and with --state what changed
 * since the last run. This file parses arguments, sets up DNS, reads and
 * writes the state file and prints. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "record/flatten.h"
#include "record/wizard.h"
#include "util/file.h"
#include "util/json.h"
#include "domauth.h"
#include "domauth_net.h"

/* Exit statuses of spf flatten, documented in domauth(1). */
enum {
    FLAT_EXIT_REFUSED = 1,
    FLAT_EXIT_TEMPERROR = 2,
    FLAT_EXIT_PERMERROR = 3,
    FLAT_EXIT_CANTCREAT = 73, /* EX_CANTCREAT: the state file cannot be written */
    STATE_FILE_MAX = 8 << 20,
};

static const char usage_spf_flatten[] =
    "usage: domauth spf flatten DOMAIN [--zone FILE] [--state FILE] [--prefix P] [--json]\n"
    "\n"
    "Walks DOMAIN's published SPF tree (include, redirect, a, mx, ip4, ip6) and\n"
    "prints the same policy as ip4:/ip6: networks, merged and minimal, split into\n"
    "a chain when long: the head record for DOMAIN includes parts named\n"
    "P1.DOMAIN, P2.DOMAIN ... (at most 10, the lookup limit), each record at most\n"
    "450 bytes so its answer fits 512 bytes of UDP, with the zone-file lines for\n"
    "BIND. Every address gets the result the tree gives it: regions that the\n"
    "tree fails, softfails or leaves neutral before its final all are listed\n"
    "with their qualifier in the head. The output names the shortest TTL the\n"
    "result depends on and when it goes stale: run it again before then.\n"
    "\n"
    "Refused, with the term and its place in the tree: ptr, exists with a macro,\n"
    "any macro in a domain-spec or redirect= (they depend on the sender); exp=\n"
    "is dropped with a note. A tree over the 10-lookup, void or MX limits is\n"
    "flattened as it means, with a note that receivers give permerror today.\n"
    "\n"
    "  --zone FILE           answer from a zone file, offline (see domauth(1))\n"
    "  --dns-server ADDR[:PORT][,...]  servers to ask (default: /etc/resolv.conf)\n"
    "  --state FILE          compare with the result saved in FILE by the last run\n"
    "                        (networks added and removed), then save this one\n"
    "  --prefix P            names of the parts: P1.DOMAIN ... (default _spf)\n"
    "  --json                one JSON object instead of text\n"
    "  -h, --help            this text\n"
    "\n"
    "Exit status: 0 flattened; 1 refused (terms that cannot be flattened, or more\n"
    "networks than 11 records hold); 2 a DNS lookup failed (temperror: try again);\n"
    "3 the tree is broken (permerror: syntax, no record, a loop); 64 usage; 65 a\n"
    "zone or state file that does not parse, or a state for another domain; 66 a\n"
    "file that cannot be read; 70 internal error; 73 the state cannot be written.\n";

static int exit_for(spf_flat_status s)
{
    switch (s) {
    case SPF_FLAT_OK: return 0;
    case SPF_FLAT_REFUSED: return FLAT_EXIT_REFUSED;
    case SPF_FLAT_TEMPERROR: return FLAT_EXIT_TEMPERROR;
    case SPF_FLAT_PERMERROR: return FLAT_EXIT_PERMERROR;
    }
    return CLI_EXIT_SOFTWARE;
}

static void utc_text(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "@%lld", (long long)t);
}

/* The previous state: 0 with *state (NULL when the file does not exist
 * yet), or an exit status after saying why. */
static int load_state(const char *path, const char *domain, spf_flat_state **state)
{
    *state = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0 && errno == ENOENT)
        return 0;
    char err[512];
    size_t len;
    char *text = util_read_file(path, STATE_FILE_MAX, &len, err, sizeof err);
    if (text == NULL) {
        fprintf(stderr, "domauth: %s\n", err);
        return CLI_EXIT_NOINPUT;
    }
    int rc = spf_flat_state_parse(text, len, state, err, sizeof err);
    free(text);
    if (rc != 0) {
        fprintf(stderr, "domauth: %s: %s\n", path, err);
        return CLI_EXIT_DATAERR;
    }
    if (strcmp(spf_flat_state_domain(*state), domain) != 0) {
        fprintf(stderr, "domauth: %s: line 2: the state of %s, not of %s\n", path,
                spf_flat_state_domain(*state), domain);
        spf_flat_state_free(*state);
        *state = NULL;
        return CLI_EXIT_DATAERR;
    }
    return 0;
}

/* Written beside the file and renamed over it, so a crash leaves the old
 * state or the new one, never half of one. */
static int save_state(const char *path, const char *text)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 32);
    if (tmp == NULL)
        return CLI_EXIT_SOFTWARE;
    snprintf(tmp, plen + 32, "%s.tmp.%ld", path, (long)getpid());
    FILE *out = fopen(tmp, "w");
    bool ok = out != NULL && fputs(text, out) >= 0;
    if (out != NULL) {
        /* fclose always, even when an earlier step failed. */
        bool flushed = fflush(out) == 0 && fsync(fileno(out)) == 0;
        bool closed = fclose(out) == 0;
        ok = ok && flushed && closed;
    }
    if (ok && rename(tmp, path) != 0)
        ok = false;
    if (!ok) {
        fprintf(stderr, "domauth: cannot write the state %s: %s\n", path, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
    return ok ? 0 : FLAT_EXIT_CANTCREAT;
}

/* --------------------------------------------------------------- text */

/* The changes since the last run; the strings are the flat's and the
 * old state's. */
typedef struct diff_lists {
    bool have;        /* there was a previous state */
    int64_t since;
    const char *default_was;
    const char **added, **removed;
    size_t nadded, nremoved;
    bool failed;
} diff_lists;

static void diff_collect(void *arg, bool added, const char *term)
{
    diff_lists *d = arg;
    const char ***list = added ? &d->added : &d->removed;
    size_t *n = added ? &d->nadded : &d->nremoved;
    const char **grown = realloc(*list, (*n + 1) * sizeof **list);
    if (grown == NULL) {
        d->failed = true;
        return;
    }
    grown[(*n)++] = term;
    *list = grown;
}

static void print_diff_text(const diff_lists *d, const spf_flat *f)
{
    if (!d->have) {
        printf("changes: none known (no previous state)\n");
        return;
    }
    char when[32];
    utc_text(d->since, when);
    if (d->nadded + d->nremoved == 0 && strcmp(d->default_was, spf_flat_default(f)) == 0) {
        printf("changes since %s: none\n", when);
        return;
    }
    printf("changes since %s: %zu added, %zu removed\n", when, d->nadded, d->nremoved);
    for (size_t i = 0; i < d->nadded; i++)
        printf("  added   %s\n", d->added[i]);
    for (size_t i = 0; i < d->nremoved; i++)
        printf("  removed %s\n", d->removed[i]);
    if (strcmp(d->default_was, spf_flat_default(f)) != 0)
        printf("  default %s, was %s\n", spf_flat_default(f)[0] ? spf_flat_default(f) : "none",
               d->default_was[0] ? d->default_was : "none");
}

static void json_list(const char *const *v, size_t n)
{
    putchar('[');
    for (size_t i = 0; i < n; i++) {
        printf("%s", i ? "," : "");
        json_fputs(stdout, v[i]);
    }
    putchar(']');
}

static void print_text(const spf_flat *f, const char *domain, int64_t now)
{
    spf_flat_status st = spf_flat_result(f);
    fputs("flatten ", stdout);
    cli_put_safe(stdout, domain, false);
    printf(": %s\n", spf_flat_status_name(st));
    printf("published tree: %u DNS lookups along the worst path: ", spf_flat_tree_lookups(f));
    cli_put_safe(stdout, spf_flat_tree_path(f), false);
    putchar('\n');
    for (size_t i = 0; i < spf_flat_problem_count(f); i++) {
        const spf_flat_problem *p = spf_flat_problem_get(f, i);
        printf("%s: ", spf_flat_status_name(p->status));
        cli_put_safe(stdout, p->where, false);
        fputs(": ", stdout);
        cli_put_safe(stdout, p->message, false);
        printf(" [%s]\n", p->code);
    }
    for (size_t i = 0; i < spf_flat_note_count(f); i++) {
        fputs("note: ", stdout);
        cli_put_safe(stdout, spf_flat_note_get(f, i), false);
        putchar('\n');
    }
    if (st != SPF_FLAT_OK)
        return;
    const char *d = spf_flat_default(f);
    printf("networks: %zu ip4 and %zu ip6 pass, %zu terms in all; default %s\n",
           spf_flat_pass_count(f, 4), spf_flat_pass_count(f, 6), spf_flat_term_count(f),
           d[0] ? d : "none (neutral)");
    size_t n = spf_flat_record_count(f);
    printf("records: %zu (%u DNS lookup%s for receivers)\n", n, spf_flat_lookups(f),
           spf_flat_lookups(f) == 1 ? "" : "s");
    for (size_t i = 0; i < n; i++) {
        const spf_flat_record *r = spf_flat_record_get(f, i);
        printf("  %s (%zu bytes, answer about %zu bytes)\n    %s\n", r->name, strlen(r->text),
               r->answer_size, r->text);
    }
    printf("zone file lines (BIND):\n");
    for (size_t i = 0; i < n; i++) {
        const spf_flat_record *r = spf_flat_record_get(f, i);
        char *line = spf_wizard_zone_line(r->name, r->text);
        printf("  %s\n", line ? line : "(out of memory)");
        free(line);
    }
    char stale[32];
    utc_text(now + spf_flat_min_ttl(f), stale);
    printf("minimum TTL: %u s: the result goes stale at %s; flatten again before then\n",
           spf_flat_min_ttl(f), stale);
}

static void print_json(const spf_flat *f, const char *domain, int64_t now,
                       const diff_lists *d, bool saved, int status)
{
    spf_flat_status st = spf_flat_result(f);
    printf("{\"domain\":");
    json_fputs(stdout, domain);
    printf(",\"status\":\"%s\",\"exit\":%d,\"tree_lookups\":%u,\"tree_path\":",
           spf_flat_status_name(st), status, spf_flat_tree_lookups(f));
    json_fputs(stdout, spf_flat_tree_path(f));
    printf(",\"problems\":[");
    for (size_t i = 0; i < spf_flat_problem_count(f); i++) {
        const spf_flat_problem *p = spf_flat_problem_get(f, i);
        printf("%s{\"status\":\"%s\",\"code\":", i ? "," : "", spf_flat_status_name(p->status));
        json_fputs(stdout, p->code);
        printf(",\"where\":");
        json_fputs(stdout, p->where);
        printf(",\"message\":");
        json_fputs(stdout, p->message);
        printf("}");
    }
    printf("],\"notes\":[");
    for (size_t i = 0; i < spf_flat_note_count(f); i++) {
        printf("%s", i ? "," : "");
        json_fputs(stdout, spf_flat_note_get(f, i));
    }
    printf("]");
    if (st == SPF_FLAT_OK) {
        printf(",\"default\":");
        json_fputs(stdout, spf_flat_default(f));
        printf(",\"pass_ip4\":%zu,\"pass_ip6\":%zu,\"terms\":[", spf_flat_pass_count(f, 4),
               spf_flat_pass_count(f, 6));
        for (size_t i = 0; i < spf_flat_term_count(f); i++) {
            printf("%s", i ? "," : "");
            json_fputs(stdout, spf_flat_term_get(f, i));
        }
        printf("],\"lookups\":%u,\"records\":[", spf_flat_lookups(f));
        for (size_t i = 0; i < spf_flat_record_count(f); i++) {
            const spf_flat_record *r = spf_flat_record_get(f, i);
            char *line = spf_wizard_zone_line(r->name, r->text);
            printf("%s{\"name\":", i ? "," : "");
            json_fputs(stdout, r->name);
            printf(",\"text\":");
            json_fputs(stdout, r->text);
            printf(",\"bytes\":%zu,\"answer_size\":%zu,\"zone_line\":", strlen(r->text),
                   r->answer_size);
            json_fputs(stdout, line);
            printf("}");
            free(line);
        }
        char stale[32];
        utc_text(now + spf_flat_min_ttl(f), stale);
        printf("],\"min_ttl\":%u,\"stale_at\":\"%s\"", spf_flat_min_ttl(f), stale);
    }
    printf(",\"diff\":");
    if (d->have && st == SPF_FLAT_OK) {
        char when[32];
        utc_text(d->since, when);
        printf("{\"since\":\"%s\",\"default_was\":", when);
        json_fputs(stdout, d->default_was);
        printf(",\"added\":");
        json_list(d->added, d->nadded);
        printf(",\"removed\":");
        json_list(d->removed, d->nremoved);
        printf("}");
    } else {
        printf("null");
    }
    printf(",\"state_saved\":%s}\n", saved ? "true" : "false");
}

/* ---------------------------------------------------------------- main */

int cmd_spf_flatten(int argc, char **argv)
{
    enum { O_ZONE = 256, O_SERVER, O_STATE, O_PREFIX, O_JSON };
    static const struct option options[] = {
        {"zone", required_argument, NULL, O_ZONE},
        {"dns-server", required_argument, NULL, O_SERVER},
        {"state", required_argument, NULL, O_STATE},
        {"prefix", required_argument, NULL, O_PREFIX},
        {"json", no_argument, NULL, O_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *zone_path = NULL, *servers = NULL, *state_path = NULL, *prefix = NULL;
    bool json = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case O_ZONE: zone_path = optarg; break;
        case O_SERVER: servers = optarg; break;
        case O_STATE: state_path = optarg; break;
        case O_PREFIX: prefix = optarg; break;
        case O_JSON: json = true; break;
        case 'h': fputs(usage_spf_flatten, stdout); return 0;
        default: fputs(usage_spf_flatten, stderr); return CLI_EXIT_USAGE;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "domauth: give one DOMAIN\n%s", usage_spf_flatten);
        return CLI_EXIT_USAGE;
    }
    char err[512];
    spf_flat_options fopt = {.prefix = prefix};
    spf_flat *f = spf_flat_new(argv[optind], &fopt, err, sizeof err);
    if (f == NULL) {
        fprintf(stderr, "domauth: %s\n", err);
        return strcmp(err, "out of memory") == 0 ? CLI_EXIT_SOFTWARE : CLI_EXIT_USAGE;
    }
    /* The name as the flat keeps it (lower case, no final dot). */
    char *domain = NULL;
    spf_flat_state *old = NULL;
    da_zone *zone = NULL;
    da_resolver *resolver = NULL;
    diff_lists d = {0};
    int status = 0;
    domain = strdup(argv[optind]);
    if (domain == NULL) {
        status = CLI_EXIT_SOFTWARE;
        goto out;
    }
    for (char *p = domain; *p; p++)
        *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    for (size_t n = strlen(domain); n > 0 && domain[n - 1] == '.'; n--)
        domain[n - 1] = '\0';
    if (state_path != NULL && (status = load_state(state_path, domain, &old)) != 0)
        goto out;
    da_resolver_options ropt = {.servers = servers, .use_edns0 = true};
    if ((status = cli_open_resolver(zone_path, &ropt, NULL, &zone, &resolver)) != 0)
        goto out;
    if (spf_flat_run(f, resolver) != 0) {
        fprintf(stderr, "domauth: the DNS resolver failed, or out of memory\n");
        status = CLI_EXIT_SOFTWARE;
        goto out;
    }
    int64_t now = (int64_t)time(NULL);
    spf_flat_status st = spf_flat_result(f);
    status = exit_for(st);
    if (old != NULL && st == SPF_FLAT_OK) {
        d.have = true;
        d.since = spf_flat_state_saved(old);
        d.default_was = spf_flat_state_default(old);
        if (spf_flat_diff(old, f, diff_collect, &d) == SIZE_MAX || d.failed) {
            fprintf(stderr, "domauth: out of memory\n");
            status = CLI_EXIT_SOFTWARE;
            goto out;
        }
    }
    bool saved = false;
    if (state_path != NULL && st == SPF_FLAT_OK) {
        char *text = spf_flat_state_format(f, now);
        int rc = text ? save_state(state_path, text) : CLI_EXIT_SOFTWARE;
        free(text);
        if (rc != 0)
            status = rc;
        saved = rc == 0;
    }
    if (json) {
        print_json(f, domain, now, &d, saved, status);
    } else {
        print_text(f, domain, now);
        if (state_path != NULL && st == SPF_FLAT_OK) {
            print_diff_text(&d, f);
            if (saved)
                printf("state: saved to %s\n", state_path);
        } else if (state_path != NULL) {
            printf("state: %s left as it was (no result)\n", state_path);
        }
    }
out:
    free(d.added);
    free(d.removed);
    spf_flat_state_free(old);
    da_resolver_free(resolver);
    da_zone_free(zone);
    spf_flat_free(f);
    free(domain);
    return status;
}
