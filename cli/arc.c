/* arc.c: the "domauth arc" verbs (verify, seal) over the library's ARC
 * engine. Reads a message from a file or stdin, resolves the sealers' keys
 * with c-ares or an offline zone file, and prints the chain for people, or
 * the message with a new ARC set. No ARC logic lives here. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "commands.h"
#include "util/file.h"
#include "util/ip.h"
#include "domauth.h"
#include "domauth_arc.h"
#include "domauth_dkim.h"
#include "domauth_net.h"

int cmd_arc(int argc, char **argv);

/* Exit statuses of arc verify, documented in domauth(1). */
enum {
    EXIT_PASS = 0,
    EXIT_FAIL = 1,
    EXIT_NONE = 4,
    EXIT_TEMPFAIL = 6, /* fail, but from DNS: try again later */
    MAX_MESSAGE_BYTES = 64 << 20,
};

static const char usage_arc[] =
    "usage: domauth arc verify [options] [MESSAGE]\n"
    "       domauth arc seal --key FILE --selector S --domain D --authres TEXT [options]\n"
    "                        [MESSAGE]\n"
    "ARC (RFC 8617): validate a message's chain, or add this host's ARC set.\n"
    "See domauth arc verify --help and domauth arc seal --help.\n";

static const char usage_verify[] =
    "usage: domauth arc verify [--zone FILE | --dns-server ADDR] [options] [MESSAGE]\n"
    "Validates the ARC chain of MESSAGE (default stdin).\n"
    "  --zone FILE          answer key queries from a zone file (offline)\n"
    "  --dns-server ADDR[:PORT][,...]   DNS servers (default /etc/resolv.conf)\n"
    "  --dns-timeout MS     per-query timeout\n"
    "  --remote-ip IP       add smtp.remote-ip to the arc= clause\n"
    "  --receiver NAME      authserv-id of the Authentication-Results line\n"
    "  --min-rsa-bits N     refuse smaller RSA keys (default 1024)\n"
    "  -h, --help           this text\n"
    "The first line is 'cv=none|pass|fail', the instance count, the oldest-pass\n"
    "instance and the reason; then one line per ARC set (seal and AMS results,\n"
    "d=, s=) with its ARC-Authentication-Results; then an Authentication-Results\n"
    "line. Exit status: pass 0, fail 1, none 4, fail from a DNS error 6; 64 usage\n"
    "error, 65 zone file error, 66 unreadable message, 70 internal error.\n";

static const char usage_seal[] =
    "usage: domauth arc seal --key FILE --selector S --domain D --authres TEXT\n"
    "                        [--cv none|pass|fail] [--zone FILE | --dns-server ADDR]\n"
    "                        [--headers LIST] [--no-timestamp] [--fields-only] [MESSAGE]\n"
    "Adds an ARC set (ARC-Seal, ARC-Message-Signature, ARC-Authentication-Results)\n"
    "to MESSAGE (default stdin) and prints the message with the set prepended,\n"
    "or with --fields-only the three fields alone.\n"
    "  --key FILE       private key (PEM, or an Ed25519 seed in base64)\n"
    "  --selector S, --domain D   the key's s= and d=\n"
    "  --authres TEXT   this host's Authentication-Results payload\n"
    "                   (\"mx.example.org; spf=pass smtp.mailfrom=...\")\n"
    "  --cv STATUS      the chain's status on arrival; by default the chain is\n"
    "                   validated here (over --zone or DNS) when there is one\n"
    "  --headers LIST   header fields the AMS signs (colon-separated)\n"
    "  --no-timestamp   leave t= out\n"
    "Exit status: 0 sealed; 1 the message cannot be sealed (50 sets already, cv\n"
    "does not fit, no From); 6 the chain could not be validated (DNS); 64 usage\n"
    "error; 65 zone file error; 66 unreadable message or key; 70 internal error.\n";

/* ---------------------------------------------------------------- input */

static char *read_message(const char *path, size_t *len)
{
    char err[256] = "";
    char *text = path != NULL ? util_read_file(path, MAX_MESSAGE_BYTES, len, err, sizeof err)
                              : cli_read_stdin(MAX_MESSAGE_BYTES, len, err, sizeof err);
    if (text == NULL)
        fprintf(stderr, "domauth: %s\n", err);
    return text;
}

static bool parse_number(const char *s, long long max, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0 || v > max)
        return false;
    *out = v;
    return true;
}

/* Validates the chain of message; NULL after printing why. */
static da_arc_verify *validate(const char *message, size_t len, const char *zone_path,
                               const da_resolver_options *ropt, unsigned min_rsa_bits,
                               int *status)
{
    da_zone *zone = NULL;
    da_resolver *resolver = NULL;
    *status = cli_open_resolver(zone_path, ropt, NULL, &zone, &resolver);
    if (*status != 0)
        return NULL;
    char err[256] = "";
    da_arc_verify_options vo = {.min_rsa_bits = min_rsa_bits};
    da_arc_verify *v = da_arc_verify_new(&vo, err, sizeof err);
    if (v != NULL) {
        da_arc_verify_feed(v, message, len); /* an unusable message fails the chain */
        if (da_arc_verify_run(v, resolver) != 0) {
            fprintf(stderr, "domauth: the DNS resolver failed\n");
            da_arc_verify_free(v);
            v = NULL;
        }
    } else {
        fprintf(stderr, "domauth: %s\n", err);
    }
    *status = v ? 0 : CLI_EXIT_SOFTWARE;
    da_resolver_free(resolver);
    da_zone_free(zone);
    return v;
}

/* --------------------------------------------------------------- verify */

static void print_set(const da_arc_set_info *s)
{
    printf("i=%u seal=%s d=", s->instance, da_dkim_result_name(s->seal_result));
    cli_put_safe(stdout, s->seal_domain, false);
    printf(" s=");
    cli_put_safe(stdout, s->seal_selector, false);
    printf(" a=");
    cli_put_safe(stdout, s->seal_algorithm, false);
    printf(" cv=%s; ams=%s d=", da_arc_cv_name(s->seal_cv), da_dkim_result_name(s->ams_result));
    cli_put_safe(stdout, s->ams_domain, false);
    printf(" s=");
    cli_put_safe(stdout, s->ams_selector, false);
    if (s->ams_result != DA_DKIM_NONE && s->ams_result != DA_DKIM_PASS) {
        printf(" (");
        cli_put_safe(stdout, s->ams_reason, false);
        printf(")");
    }
    if (s->seal_result != DA_DKIM_NONE && s->seal_result != DA_DKIM_PASS) {
        printf(" (seal: ");
        cli_put_safe(stdout, s->seal_reason, false);
        printf(")");
    }
    printf("\n  aar: ");
    cli_put_safe(stdout, s->authres, false);
    printf("\n");
}

static int cmd_arc_verify(int argc, char **argv)
{
    enum { O_ZONE = 256, O_SERVER, O_TIMEOUT, O_REMOTE_IP, O_RECEIVER, O_MIN_BITS };
    static const struct option options[] = {
        {"zone", required_argument, NULL, O_ZONE},
        {"dns-server", required_argument, NULL, O_SERVER},
        {"dns-timeout", required_argument, NULL, O_TIMEOUT},
        {"remote-ip", required_argument, NULL, O_REMOTE_IP},
        {"receiver", required_argument, NULL, O_RECEIVER},
        {"min-rsa-bits", required_argument, NULL, O_MIN_BITS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    da_resolver_options ropt = {.use_edns0 = true};
    const char *zone_path = NULL, *receiver = "unknown", *remote_ip = NULL;
    unsigned min_bits = 0;
    long long number;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case O_ZONE: zone_path = optarg; break;
        case O_SERVER: ropt.servers = optarg; break;
        case O_REMOTE_IP: {
            ip_addr ip;
            if (!ip_parse(optarg, strlen(optarg), &ip)) {
                fprintf(stderr, "domauth: --remote-ip: '%s' is not an IP address\n", optarg);
                return CLI_EXIT_USAGE;
            }
            remote_ip = optarg;
            break;
        }
        case O_RECEIVER: receiver = optarg; break;
        case O_TIMEOUT:
        case O_MIN_BITS:
            if (!parse_number(optarg, c == O_TIMEOUT ? 600000 : 8192, &number) || number == 0) {
                fprintf(stderr, "domauth: --%s: '%s' is not a number in range\n",
                        c == O_TIMEOUT ? "dns-timeout" : "min-rsa-bits", optarg);
                return CLI_EXIT_USAGE;
            }
            if (c == O_TIMEOUT) ropt.timeout_ms = (unsigned)number;
            else min_bits = (unsigned)number;
            break;
        case 'h': fputs(usage_verify, stdout); return 0;
        default: fputs(usage_verify, stderr); return CLI_EXIT_USAGE;
        }
    }
    if (argc - optind > 1) {
        fprintf(stderr, "domauth: unexpected argument '%s'\n", argv[optind + 1]);
        return CLI_EXIT_USAGE;
    }
    size_t len;
    char *message = read_message(optind < argc ? argv[optind] : NULL, &len);
    if (message == NULL)
        return CLI_EXIT_NOINPUT;
    int status;
    da_arc_verify *v = validate(message, len, zone_path, &ropt, min_bits, &status);
    free(message);
    if (v == NULL)
        return status;
    da_arc_result r;
    da_arc_verify_result(v, &r);
    printf("cv=%s instances=%u oldest-pass=%u", da_arc_cv_name(r.cv), r.instances,
           r.oldest_pass);
    if (r.reason[0] != '\0') {
        printf(": ");
        cli_put_safe(stdout, r.reason, false);
    }
    printf("\n");
    for (size_t i = 0; i < da_arc_verify_count(v); i++) {
        da_arc_set_info info;
        if (da_arc_verify_get(v, i, &info) == 0)
            print_set(&info);
    }
    char *clause = da_arc_authres_clause(v, remote_ip);
    char *authres = clause ? cli_authres_value(receiver, clause) : NULL;
    if (authres != NULL) {
        printf("Authentication-Results: ");
        cli_put_safe(stdout, authres, false);
        printf("\n");
    }
    free(authres);
    free(clause);
    status = r.cv == DA_ARC_PASS ? EXIT_PASS
             : r.cv == DA_ARC_NONE ? EXIT_NONE
             : r.temporary ? EXIT_TEMPFAIL
                           : EXIT_FAIL;
    da_arc_verify_free(v);
    return status;
}

/* ----------------------------------------------------------------- seal */

static bool message_has_arc(const char *message, size_t len)
{
    /* Only decides whether to validate; the engine does the real parse. */
    static const char *const names[] = {"ARC-Seal:", "ARC-Message-Signature:",
                                        "ARC-Authentication-Results:"};
    for (size_t i = 0; i < len; i++) {
        if (i > 0 && message[i - 1] != '\n')
            continue;
        if (message[i] == '\r' || message[i] == '\n')
            return false; /* end of the header block */
        for (size_t k = 0; k < 3; k++) {
            size_t n = strlen(names[k]);
            if (len - i >= n && strncasecmp(message + i, names[k], n) == 0)
                return true;
        }
    }
    return false;
}

/* The set with the message's own line ends. */
static void print_fields(const char *fields, bool lf_only)
{
    for (const char *p = fields; *p; p++) {
        if (lf_only && p[0] == '\r' && p[1] == '\n')
            continue;
        putchar(*p);
    }
    fputs(lf_only ? "\n" : "\r\n", stdout);
}

static int cmd_arc_seal(int argc, char **argv)
{
    enum { O_KEY = 256, O_SELECTOR, O_DOMAIN, O_AUTHRES, O_CV, O_ZONE, O_SERVER, O_HEADERS,
           O_NO_TIMESTAMP, O_FIELDS_ONLY, O_TIMESTAMP };
    static const struct option options[] = {
        {"key", required_argument, NULL, O_KEY},
        {"selector", required_argument, NULL, O_SELECTOR},
        {"domain", required_argument, NULL, O_DOMAIN},
        {"authres", required_argument, NULL, O_AUTHRES},
        {"cv", required_argument, NULL, O_CV},
        {"zone", required_argument, NULL, O_ZONE},
        {"dns-server", required_argument, NULL, O_SERVER},
        {"headers", required_argument, NULL, O_HEADERS},
        {"no-timestamp", no_argument, NULL, O_NO_TIMESTAMP},
        {"timestamp", required_argument, NULL, O_TIMESTAMP},
        {"fields-only", no_argument, NULL, O_FIELDS_ONLY},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    da_arc_seal_options so = {.timestamp = (int64_t)time(NULL)};
    da_resolver_options ropt = {.use_edns0 = true};
    const char *key_path = NULL, *zone_path = NULL;
    bool cv_given = false, fields_only = false;
    long long number;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case O_KEY: key_path = optarg; break;
        case O_SELECTOR: so.selector = optarg; break;
        case O_DOMAIN: so.domain = optarg; break;
        case O_AUTHRES: so.authres = optarg; break;
        case O_ZONE: zone_path = optarg; break;
        case O_SERVER: ropt.servers = optarg; break;
        case O_HEADERS: so.headers = optarg; break;
        case O_NO_TIMESTAMP: so.timestamp = 0; break;
        case O_FIELDS_ONLY: fields_only = true; break;
        case O_TIMESTAMP:
            if (!parse_number(optarg, 253402300799LL, &number)) {
                fprintf(stderr, "domauth: --timestamp: '%s' is not a time in seconds\n", optarg);
                return CLI_EXIT_USAGE;
            }
            so.timestamp = number;
            break;
        case O_CV:
            cv_given = true;
            if (strcmp(optarg, "none") == 0) so.cv = DA_ARC_NONE;
            else if (strcmp(optarg, "pass") == 0) so.cv = DA_ARC_PASS;
            else if (strcmp(optarg, "fail") == 0) so.cv = DA_ARC_FAIL;
            else {
                fprintf(stderr, "domauth: --cv must be none, pass or fail\n");
                return CLI_EXIT_USAGE;
            }
            break;
        case 'h': fputs(usage_seal, stdout); return 0;
        default: fputs(usage_seal, stderr); return CLI_EXIT_USAGE;
        }
    }
    if (key_path == NULL || so.selector == NULL || so.domain == NULL || so.authres == NULL) {
        fprintf(stderr, "domauth: arc seal needs --key, --selector, --domain and --authres\n");
        return CLI_EXIT_USAGE;
    }
    if (argc - optind > 1) {
        fprintf(stderr, "domauth: unexpected argument '%s'\n", argv[optind + 1]);
        return CLI_EXIT_USAGE;
    }
    da_dkim_key *key = cli_load_dkim_key(key_path);
    if (key == NULL)
        return CLI_EXIT_NOINPUT;
    so.key = key;
    size_t len;
    char *message = read_message(optind < argc ? argv[optind] : NULL, &len);
    int status = CLI_EXIT_NOINPUT;
    char err[512] = "";
    da_arc_seal *seal = NULL;
    char *fields = NULL;
    if (message == NULL)
        goto out;
    if (!cv_given && message_has_arc(message, len)) {
        da_arc_verify *v = validate(message, len, zone_path, &ropt, 0, &status);
        if (v == NULL)
            goto out;
        da_arc_result r;
        da_arc_verify_result(v, &r);
        so.cv = r.cv == DA_ARC_PASS ? DA_ARC_PASS : DA_ARC_FAIL;
        bool temporary = r.cv == DA_ARC_FAIL && r.temporary;
        if (temporary) {
            fprintf(stderr, "domauth: the chain could not be validated: ");
            cli_put_safe(stderr, r.reason, false);
            fprintf(stderr, "\n");
        }
        da_arc_verify_free(v);
        if (temporary) {
            status = EXIT_TEMPFAIL;
            goto out;
        }
    }
    seal = da_arc_seal_new(&so, err, sizeof err);
    if (seal == NULL) {
        fprintf(stderr, "domauth: %s\n", err);
        status = CLI_EXIT_USAGE;
        goto out;
    }
    da_arc_seal_feed(seal, message, len);
    fields = da_arc_seal_finish(seal, NULL, err, sizeof err);
    if (fields == NULL) {
        fprintf(stderr, "domauth: cannot seal: %s\n", err);
        status = EXIT_FAIL;
        goto out;
    }
    const char *lf = memchr(message, '\n', len);
    bool lf_only = lf != NULL && (lf == message || lf[-1] != '\r');
    print_fields(fields, lf_only);
    if (!fields_only)
        fwrite(message, 1, len, stdout);
    status = fflush(stdout) == 0 ? 0 : CLI_EXIT_SOFTWARE;
out:
    free(fields);
    da_arc_seal_free(seal);
    free(message);
    da_dkim_key_free(key);
    return status;
}

int cmd_arc(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage_arc, stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "verify") == 0)
        return cmd_arc_verify(argc - 1, argv + 1);
    if (strcmp(argv[1], "seal") == 0)
        return cmd_arc_seal(argc - 1, argv + 1);
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage_arc, stdout);
        return 0;
    }
    fprintf(stderr, "domauth: unknown arc command '%s'\n", argv[1]);
    fputs(usage_arc, stderr);
    return CLI_EXIT_USAGE;
}
