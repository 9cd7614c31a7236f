/* dkim.c: the "domauth dkim" verbs (keygen, sign, verify, check-dns) over
 * the library's DKIM engine. Reads messages from stdin, resolves keys with
 * c-ares or an offline zone file, prints for people or, with --json, for
 * scripts. No DKIM logic lives here. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/file.h"
#include "util/json.h"
#include "domauth.h"
#include "domauth_dkim.h"
#include "domauth_net.h"

int cmd_dkim(int argc, char **argv);

/* Exit statuses, documented in domauth(1). */
enum {
    EXIT_PASS = 0,
    EXIT_FAIL = 1,
    EXIT_POLICY = 2,
    EXIT_NEUTRAL = 3,
    EXIT_NONE = 4,
    EXIT_PERMERROR = 5,
    EXIT_TEMPERROR = 6,
    EXIT_USAGE = 64,
    EXIT_DATAERR = 65,
    EXIT_NOINPUT = 66,
    EXIT_SOFTWARE = 70,
    EXIT_CANTCREAT = 73,
};

static const char usage_dkim[] =
    "usage: domauth dkim keygen|record|sign|verify|check-dns [options]\n"
    "\n"
    "DKIM (RFC 6376, RFC 8301, RFC 8463):\n"
    "  keygen      make a signing key and print the TXT record to publish\n"
    "  record      print the TXT record of an existing private key\n"
    "  sign        sign the message on stdin; print the signature and the message\n"
    "  verify      verify every signature of the message on stdin\n"
    "  check-dns   check a published key record (and that it fits a private key)\n"
    "\n"
    "  domauth dkim VERB --help   shows the options of a verb\n";

static const char usage_record[] =
    "usage: domauth dkim record --key FILE --domain D --selector S\n"
    "\n"
    "Prints the TXT record for S._domainkey.D of an existing private key (PEM,\n"
    "RSA or Ed25519, or a base64 Ed25519 seed: the keys domauth signs with,\n"
    "OpenDKIM's included) as a BIND zone line, split into strings of at most\n"
    "255 bytes, as keygen prints it. Nothing is written.\n"
    "Exit status: 0, 64 usage error, 66 the key cannot be read or used.\n";

static const char usage_keygen[] =
    "usage: domauth dkim keygen --domain D --selector S [--type rsa|ed25519]\n"
    "                           [--bits N] [--out FILE]\n"
    "\n"
    "Writes a new private key in PEM (mode 0600; default S.private in the\n"
    "current directory; an existing file is never overwritten) and prints the\n"
    "TXT record for S._domainkey.D as a BIND zone line, split into strings of\n"
    "at most 255 bytes.\n"
    "  --type rsa|ed25519   key type (default rsa)\n"
    "  --bits N             RSA key size, 1024..8192 (default 2048)\n"
    "Exit status: 0, 64 usage error, 73 the key file cannot be created, 70 other.\n";

static const char usage_sign[] =
    "usage: domauth dkim sign --domain D --selector S --key FILE [options] < MESSAGE\n"
    "\n"
    "Prints a DKIM-Signature field followed by the message. The key is a PEM\n"
    "private key (RSA: rsa-sha256; Ed25519: ed25519-sha256) or a base64 Ed25519\n"
    "seed. A message with LF line ends is signed as if they were CRLF and is\n"
    "printed with LF.\n"
    "  --canon H/B          header/body canonicalization, simple or relaxed\n"
    "                       (default relaxed/relaxed)\n"
    "  --headers A:B:...    header fields to sign (From is always signed)\n"
    "  --no-oversign        do not over-sign From, To, Subject and Date\n"
    "  --identity ADDR      i= (an address at the domain or a subdomain)\n"
    "  --body-length        add l= (not recommended: lets text be appended)\n"
    "  --expire SECONDS     add x= that many seconds after now\n"
    "  --no-timestamp       omit t=\n"
    "Exit status: 0 signed; 64 usage error; 65 the message cannot be signed\n"
    "(e.g. it has no From field); 66 the key cannot be read or used.\n";

static const char usage_verify[] =
    "usage: domauth dkim verify [--zone FILE | --dns-server ADDR] [options] < MESSAGE\n"
    "\n"
    "Verifies each DKIM-Signature of the message and prints one line per\n"
    "signature (result, d=, s=, a= and the reason), then an\n"
    "Authentication-Results field with one dkim= clause per signature.\n"
    "  --zone FILE          answer key queries from a zone file (offline;\n"
    "                       the format of 'domauth spf check --zone')\n"
    "  --dns-server ADDR[:PORT][,...]   DNS servers (default /etc/resolv.conf)\n"
    "  --dns-timeout MS     time per try (default 2000)\n"
    "  --receiver NAME      authserv-id of Authentication-Results (default unknown)\n"
    "  --sha1 fail|neutral  how to report a good rsa-sha1 signature (default fail,\n"
    "                       as RFC 8301 says)\n"
    "  --now SECONDS        the time to check x= against (default: the clock)\n"
    "  --json               one JSON object instead of text\n"
    "Exit status: 0 when a signature passes; otherwise temperror 6, fail 1,\n"
    "policy 2, neutral 3, permerror 5, none 4 (no signature), in that order of\n"
    "precedence; 64 usage error, 65 zone file error, 70 internal error.\n";

static const char usage_check_dns[] =
    "usage: domauth dkim check-dns --domain D --selector S [--key FILE]\n"
    "                              [--zone FILE | --dns-server ADDR]\n"
    "\n"
    "Fetches the TXT record at S._domainkey.D, checks that it parses as a DKIM\n"
    "key record and, with --key, that it holds the public half of the key.\n"
    "Exit status: 0 good; 1 the key does not match or is revoked; 4 no record;\n"
    "5 the record does not parse; 6 DNS error; 64 usage; 66 key unreadable.\n";

/* ---------------------------------------------------------------- input */

da_dkim_key *cli_load_dkim_key(const char *path)
{
    size_t len;
    char err[256] = "";
    char *text = util_read_file(path, 1u << 20, &len, err, sizeof err);
    if (text == NULL) {
        fprintf(stderr, "domauth: key file: %s\n", err);
        return NULL;
    }
    da_dkim_key *key = da_dkim_key_load(text, len, err, sizeof err);
    explicit_bzero(text, len);
    free(text);
    if (key == NULL)
        fprintf(stderr, "domauth: %s: %s\n", path, err);
    return key;
}

static bool parse_seconds(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0 || v > 253402300799LL)
        return false;
    *out = v;
    return true;
}

/* An authserv-id we print unquoted: letters, digits, '.', '-', '_'. */
static bool is_plain_name(const char *s)
{
    if (*s == '\0' || strlen(s) > 253)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '-' || *s == '_'))
            return false;
    return true;
}

/* A resolver from --zone or c-ares; the zone (if any) goes to *zone. */
static da_resolver *make_resolver(const char *zone_path, const da_resolver_options *ropt,
                                  da_zone **zone, int *status)
{
    char err[512] = "";
    *zone = NULL;
    if (zone_path == NULL) {
        da_resolver *r = da_resolver_new_cares(ropt, err, sizeof err);
        if (r == NULL) {
            fprintf(stderr, "domauth: cannot set up DNS: %s\n", err[0] ? err : "out of memory");
            *status = EXIT_SOFTWARE;
        }
        return r;
    }
    int load_status = da_zone_load_file(zone_path, zone, err, sizeof err);
    if (load_status != 0) {
        fprintf(stderr, "domauth: %s\n", err);
        *status = load_status;
        return NULL;
    }
    return da_resolver_new_zone(*zone);
}

/* --------------------------------------------------------------- keygen */

static void print_bind_record(const char *selector, const char *domain, const char *record)
{
    printf("%s._domainkey.%s.\tIN\tTXT\t", selector, domain);
    size_t len = strlen(record);
    for (size_t off = 0; off < len; off += 255)
        printf("%s\"%.*s\"", off ? " " : "", (int)(len - off < 255 ? len - off : 255),
               record + off);
    printf("\n");
}

static int write_new_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
    if (fd < 0) {
        fprintf(stderr, "domauth: cannot create %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t len = strlen(text), done = 0;
    while (done < len) {
        ssize_t n = write(fd, text + done, len - done);
        if (n <= 0) {
            fprintf(stderr, "domauth: writing %s: %s\n", path, strerror(errno));
            close(fd);
            unlink(path);
            return -1;
        }
        done += (size_t)n;
    }
    if (close(fd) != 0) {
        fprintf(stderr, "domauth: writing %s: %s\n", path, strerror(errno));
        unlink(path);
        return -1;
    }
    return 0;
}

static int cmd_keygen(int argc, char **argv)
{
    enum { O_DOMAIN = 256, O_SELECTOR, O_TYPE, O_BITS, O_OUT };
    static const struct option options[] = {
        {"domain", required_argument, NULL, O_DOMAIN},
        {"selector", required_argument, NULL, O_SELECTOR},
        {"type", required_argument, NULL, O_TYPE},
        {"bits", required_argument, NULL, O_BITS},
        {"out", required_argument, NULL, O_OUT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *domain = NULL, *selector = NULL, *out = NULL;
    da_dkim_key_type type = DA_DKIM_KEY_RSA;
    int64_t bits = 2048;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case O_DOMAIN: domain = optarg; break;
        case O_SELECTOR: selector = optarg; break;
        case O_OUT: out = optarg; break;
        case O_TYPE:
            if (strcmp(optarg, "rsa") == 0) type = DA_DKIM_KEY_RSA;
            else if (strcmp(optarg, "ed25519") == 0) type = DA_DKIM_KEY_ED25519;
            else {
                fprintf(stderr, "domauth: --type must be rsa or ed25519\n");
                return EXIT_USAGE;
            }
            break;
        case O_BITS:
            if (!parse_seconds(optarg, &bits) || bits < 1024 || bits > 8192) {
                fprintf(stderr, "domauth: --bits must be 1024..8192\n");
                return EXIT_USAGE;
            }
            break;
        case 'h': fputs(usage_keygen, stdout); return 0;
        default: fputs(usage_keygen, stderr); return EXIT_USAGE;
        }
    }
    if (domain == NULL || selector == NULL || optind < argc) {
        fprintf(stderr, "domauth: --domain and --selector are required\n%s", usage_keygen);
        return EXIT_USAGE;
    }
    if (!is_plain_name(domain) || !is_plain_name(selector)) {
        fprintf(stderr, "domauth: the domain and selector must be DNS names\n");
        return EXIT_USAGE;
    }
    char default_out[300];
    if (out == NULL) {
        snprintf(default_out, sizeof default_out, "%s.private", selector);
        out = default_out;
    }
    char err[256] = "";
    da_dkim_key *key = da_dkim_key_generate(type, (unsigned)bits, err, sizeof err);
    if (key == NULL) {
        fprintf(stderr, "domauth: %s\n", err);
        return EXIT_SOFTWARE;
    }
    char *pem = da_dkim_key_private_pem(key);
    char *record = da_dkim_key_record(key);
    int status = EXIT_SOFTWARE;
    if (pem != NULL && record != NULL) {
        status = write_new_file(out, pem) == 0 ? EXIT_PASS : EXIT_CANTCREAT;
        if (status == EXIT_PASS) {
            print_bind_record(selector, domain, record);
            fprintf(stderr, "domauth: private key written to %s\n", out);
        }
    }
    if (pem != NULL)
        explicit_bzero(pem, strlen(pem));
    free(pem);
    free(record);
    da_dkim_key_free(key);
    return status;
}

static int cmd_record(int argc, char **argv)
{
    enum { O_DOMAIN = 256, O_SELECTOR, O_KEY };
    static const struct option options[] = {
        {"domain", required_argument, NULL, O_DOMAIN},
        {"selector", required_argument, NULL, O_SELECTOR},
        {"key", required_argument, NULL, O_KEY},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *domain = NULL, *selector = NULL, *key_path = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case O_DOMAIN: domain = optarg; break;
        case O_SELECTOR: selector = optarg; break;
        case O_KEY: key_path = optarg; break;
        case 'h': fputs(usage_record, stdout); return 0;
        default: fputs(usage_record, stderr); return EXIT_USAGE;
        }
    }
    if (domain == NULL || selector == NULL || key_path == NULL || optind < argc) {
        fprintf(stderr, "domauth: --key, --domain and --selector are required\n%s", usage_record);
        return EXIT_USAGE;
    }
    if (!is_plain_name(domain) || !is_plain_name(selector)) {
        fprintf(stderr, "domauth: the domain and selector must be DNS names\n");
        return EXIT_USAGE;
    }
    da_dkim_key *key = cli_load_dkim_key(key_path);
    if (key == NULL)
        return EXIT_NOINPUT;
    char *record = da_dkim_key_record(key);
    int status = EXIT_SOFTWARE;
    if (record != NULL) {
        print_bind_record(selector, domain, record);
        status = EXIT_PASS;
    }
    free(record);
    da_dkim_key_free(key);
    return status;
}

/* ----------------------------------------------------------------- sign */

static int parse_canon(const char *s, da_dkim_canon *header, da_dkim_canon *body)
{
    const char *slash = strchr(s, '/');
    char head[16];
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    if (n >= sizeof head)
        return -1;
    memcpy(head, s, n);
    head[n] = '\0';
    const char *tail = slash ? slash + 1 : "simple";
    if (strcmp(head, "simple") == 0) *header = DA_DKIM_SIMPLE;
    else if (strcmp(head, "relaxed") == 0) *header = DA_DKIM_RELAXED;
    else return -1;
    if (strcmp(tail, "simple") == 0) *body = DA_DKIM_SIMPLE;
    else if (strcmp(tail, "relaxed") == 0) *body = DA_DKIM_RELAXED;
    else return -1;
    return 0;
}

/* Prints the field with the line ends the message uses. */
static void print_field(const char *field, bool lf_only)
{
    for (const char *p = field; *p; p++) {
        if (lf_only && p[0] == '\r' && p[1] == '\n')
            continue;
        putchar(*p);
    }
    fputs(lf_only ? "\n" : "\r\n", stdout);
}

/* Feeds stdin to the signer and keeps a copy in a temporary file, so a
 * large message is printed back without being held in memory. */
static int sign_stdin(da_dkim_sign *s, FILE *copy, bool *lf_only)
{
    static unsigned char buf[65536];
    bool first_line_seen = false;
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) {
        if (!first_line_seen) {
            unsigned char *lf = memchr(buf, '\n', n);
            if (lf != NULL) {
                first_line_seen = true;
                *lf_only = lf == buf || lf[-1] != '\r';
            }
        }
        if (fwrite(buf, 1, n, copy) != n)
            return -1;
        da_dkim_sign_feed(s, buf, n);
    }
    return ferror(stdin) ? -1 : 0;
}

static int cmd_sign(int argc, char **argv)
{
    enum { O_DOMAIN = 256, O_SELECTOR, O_KEY, O_CANON, O_HEADERS, O_NO_OVERSIGN, O_IDENTITY,
           O_BODY_LENGTH, O_EXPIRE, O_NO_TIMESTAMP };
    static const struct option options[] = {
        {"domain", required_argument, NULL, O_DOMAIN},
        {"selector", required_argument, NULL, O_SELECTOR},
        {"key", required_argument, NULL, O_KEY},
        {"canon", required_argument, NULL, O_CANON},
        {"headers", required_argument, NULL, O_HEADERS},
        {"no-oversign", no_argument, NULL, O_NO_OVERSIGN},
        {"identity", required_argument, NULL, O_IDENTITY},
        {"body-length", no_argument, NULL, O_BODY_LENGTH},
        {"expire", required_argument, NULL, O_EXPIRE},
        {"no-timestamp", no_argument, NULL, O_NO_TIMESTAMP},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    da_dkim_sign_options so = {.header_canon = DA_DKIM_RELAXED, .body_canon = DA_DKIM_RELAXED};
    const char *key_path = NULL;
    int64_t expire = 0;
    bool timestamp = true;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case O_DOMAIN: so.domain = optarg; break;
        case O_SELECTOR: so.selector = optarg; break;
        case O_KEY: key_path = optarg; break;
        case O_HEADERS: so.headers = optarg; break;
        case O_NO_OVERSIGN: so.no_oversign = true; break;
        case O_IDENTITY: so.identity = optarg; break;
        case O_BODY_LENGTH: so.body_length = true; break;
        case O_NO_TIMESTAMP: timestamp = false; break;
        case O_CANON:
            if (parse_canon(optarg, &so.header_canon, &so.body_canon) != 0) {
                fprintf(stderr, "domauth: --canon must be simple|relaxed[/simple|relaxed]\n");
                return EXIT_USAGE;
            }
            break;
        case O_EXPIRE:
            if (!parse_seconds(optarg, &expire) || expire == 0 || expire > 100LL * 365 * 86400) {
                fprintf(stderr, "domauth: --expire takes a positive number of seconds\n");
                return EXIT_USAGE;
            }
            break;
        case 'h': fputs(usage_sign, stdout); return 0;
        default: fputs(usage_sign, stderr); return EXIT_USAGE;
        }
    }
    if (so.domain == NULL || so.selector == NULL || key_path == NULL || optind < argc) {
        fprintf(stderr, "domauth: --domain, --selector and --key are required\n%s", usage_sign);
        return EXIT_USAGE;
    }
    int64_t now = (int64_t)time(NULL);
    so.timestamp = timestamp || expire ? now : 0;
    so.expiration = expire ? now + expire : 0;

    da_dkim_key *key = cli_load_dkim_key(key_path);
    if (key == NULL)
        return EXIT_NOINPUT;
    so.key = key;
    char err[256] = "";
    int status = EXIT_SOFTWARE;
    FILE *copy = NULL;
    da_dkim_sign *s = da_dkim_sign_new(&so, err, sizeof err);
    if (s == NULL) {
        fprintf(stderr, "domauth: %s\n", err);
        status = EXIT_USAGE;
        goto out;
    }
    copy = tmpfile();
    bool lf_only = true;
    if (copy == NULL || sign_stdin(s, copy, &lf_only) != 0) {
        fprintf(stderr, "domauth: cannot read the message: %s\n", strerror(errno));
        status = EXIT_NOINPUT;
        goto out;
    }
    char *field = da_dkim_sign_finish(s, err, sizeof err);
    if (field == NULL) {
        fprintf(stderr, "domauth: cannot sign: %s\n", err);
        status = EXIT_DATAERR;
        goto out;
    }
    print_field(field, lf_only);
    free(field);
    rewind(copy);
    static char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, copy)) > 0)
        fwrite(buf, 1, n, stdout);
    status = fflush(stdout) == 0 ? EXIT_PASS : EXIT_SOFTWARE;
out:
    if (copy != NULL)
        fclose(copy);
    da_dkim_sign_free(s);
    da_dkim_key_free(key);
    return status;
}

/* --------------------------------------------------------------- verify */

/* Text from a message: printable ASCII only, so nothing reaches the
 * terminal or a log as a control sequence or a new line. */
static void print_safe(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        putchar(*p >= 0x20 && *p < 0x7f ? *p : '?');
}

static int result_rank(da_dkim_result r)
{
    switch (r) {
    case DA_DKIM_PASS: return 0;
    case DA_DKIM_TEMPERROR: return 1;
    case DA_DKIM_FAIL: return 2;
    case DA_DKIM_POLICY: return 3;
    case DA_DKIM_NEUTRAL: return 4;
    case DA_DKIM_PERMERROR: return 5;
    case DA_DKIM_NONE: return 6;
    }
    return 6;
}

static int result_exit(da_dkim_result r)
{
    switch (r) {
    case DA_DKIM_PASS: return EXIT_PASS;
    case DA_DKIM_FAIL: return EXIT_FAIL;
    case DA_DKIM_POLICY: return EXIT_POLICY;
    case DA_DKIM_NEUTRAL: return EXIT_NEUTRAL;
    case DA_DKIM_NONE: return EXIT_NONE;
    case DA_DKIM_PERMERROR: return EXIT_PERMERROR;
    case DA_DKIM_TEMPERROR: return EXIT_TEMPERROR;
    }
    return EXIT_SOFTWARE;
}

static char *authres_field(const da_dkim_verify *v, const char *receiver)
{
    size_t count = da_dkim_verify_count(v), cap = strlen(receiver) + 16, len = 0;
    char *out = malloc(cap);
    if (out == NULL)
        return NULL;
    len = (size_t)snprintf(out, cap, "%s", receiver);
    for (size_t i = 0; i < (count ? count : 1); i++) {
        char *clause = da_dkim_authres_clause(v, count ? i : 0);
        if (clause == NULL) {
            free(out);
            return NULL;
        }
        size_t need = len + strlen(clause) + 3;
        char *bigger = need > cap ? realloc(out, cap = need * 2) : out;
        if (bigger == NULL) {
            free(clause);
            free(out);
            return NULL;
        }
        out = bigger;
        len += (size_t)snprintf(out + len, cap - len, "; %s", clause);
        free(clause);
    }
    return out;
}

static void print_verify_json(const da_dkim_verify *v, da_dkim_result overall,
                              const char *authres)
{
    printf("{\"result\":");
    json_fputs(stdout, da_dkim_result_name(overall));
    printf(",\"signatures\":[");
    for (size_t i = 0; i < da_dkim_verify_count(v); i++) {
        da_dkim_signature_info info;
        da_dkim_verify_get(v, i, &info);
        printf("%s{\"result\":", i ? "," : "");
        json_fputs(stdout, da_dkim_result_name(info.result));
        printf(",\"reason\":");
        json_fputs(stdout, info.reason);
        printf(",\"domain\":");
        json_fputs(stdout, info.domain);
        printf(",\"selector\":");
        json_fputs(stdout, info.selector);
        printf(",\"identity\":");
        json_fputs(stdout, info.identity);
        printf(",\"algorithm\":");
        json_fputs(stdout, info.algorithm);
        printf(",\"header_b\":");
        json_fputs(stdout, info.header_b);
        printf(",\"body_length\":%lld,\"body_bytes\":%llu,\"key_bits\":%u,\"testing\":%s}",
               (long long)info.body_length, (unsigned long long)info.body_bytes, info.key_bits,
               info.testing ? "true" : "false");
    }
    printf("],\"authentication_results\":");
    json_fputs(stdout, authres);
    printf("}\n");
}

static void print_verify_text(const da_dkim_verify *v, const char *authres)
{
    size_t count = da_dkim_verify_count(v);
    if (count == 0)
        printf("none: the message has no DKIM-Signature field\n");
    for (size_t i = 0; i < count; i++) {
        da_dkim_signature_info info;
        da_dkim_verify_get(v, i, &info);
        printf("%s d=", da_dkim_result_name(info.result));
        print_safe(info.domain);
        printf(" s=");
        print_safe(info.selector);
        printf(" a=");
        print_safe(info.algorithm);
        printf(": ");
        print_safe(info.reason);
        printf("\n");
    }
    if (authres != NULL)
        printf("Authentication-Results: %s\n", authres);
}

static int feed_stdin(da_dkim_verify *v)
{
    static unsigned char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, stdin)) > 0)
        da_dkim_verify_feed(v, buf, n); /* an unusable message is reported per signature */
    return ferror(stdin) ? -1 : 0;
}

static int cmd_verify(int argc, char **argv)
{
    enum { O_ZONE = 256, O_SERVER, O_TIMEOUT, O_RECEIVER, O_SHA1, O_NOW, O_JSON };
    static const struct option options[] = {
        {"zone", required_argument, NULL, O_ZONE},
        {"dns-server", required_argument, NULL, O_SERVER},
        {"dns-timeout", required_argument, NULL, O_TIMEOUT},
        {"receiver", required_argument, NULL, O_RECEIVER},
        {"sha1", required_argument, NULL, O_SHA1},
        {"now", required_argument, NULL, O_NOW},
        {"json", no_argument, NULL, O_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    da_dkim_verify_options vo = {.now = (int64_t)time(NULL)};
    da_resolver_options ropt = {.use_edns0 = true};
    const char *zone_path = NULL, *receiver = "unknown";
    bool json = false;
    int64_t number;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case O_ZONE: zone_path = optarg; break;
        case O_SERVER: ropt.servers = optarg; break;
        case O_JSON: json = true; break;
        case O_RECEIVER:
            if (!is_plain_name(optarg)) {
                fprintf(stderr, "domauth: --receiver must be a host name\n");
                return EXIT_USAGE;
            }
            receiver = optarg;
            break;
        case O_SHA1:
            if (strcmp(optarg, "fail") == 0) vo.sha1 = DA_DKIM_SHA1_FAIL;
            else if (strcmp(optarg, "neutral") == 0) vo.sha1 = DA_DKIM_SHA1_NEUTRAL;
            else {
                fprintf(stderr, "domauth: --sha1 must be fail or neutral\n");
                return EXIT_USAGE;
            }
            break;
        case O_TIMEOUT:
        case O_NOW:
            if (!parse_seconds(optarg, &number) || (c == O_TIMEOUT && (number == 0 ||
                                                                       number > 600000))) {
                fprintf(stderr, "domauth: --%s: '%s' is not a number in range\n",
                        c == O_NOW ? "now" : "dns-timeout", optarg);
                return EXIT_USAGE;
            }
            if (c == O_NOW) vo.now = number;
            else ropt.timeout_ms = (unsigned)number;
            break;
        case 'h': fputs(usage_verify, stdout); return 0;
        default: fputs(usage_verify, stderr); return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "domauth: unexpected argument '%s'\n", argv[optind]);
        return EXIT_USAGE;
    }
    int status = EXIT_SOFTWARE;
    da_zone *zone = NULL;
    da_resolver *resolver = make_resolver(zone_path, &ropt, &zone, &status);
    char err[256] = "";
    da_dkim_verify *v = resolver ? da_dkim_verify_new(&vo, err, sizeof err) : NULL;
    if (v == NULL)
        goto out;
    if (feed_stdin(v) != 0) {
        fprintf(stderr, "domauth: cannot read the message: %s\n", strerror(errno));
        status = EXIT_NOINPUT;
        goto out;
    }
    if (da_dkim_verify_run(v, resolver) != 0) {
        fprintf(stderr, "domauth: the DNS resolver failed\n");
        goto out;
    }
    da_dkim_result overall = DA_DKIM_NONE;
    for (size_t i = 0; i < da_dkim_verify_count(v); i++) {
        da_dkim_signature_info info;
        da_dkim_verify_get(v, i, &info);
        if (result_rank(info.result) < result_rank(overall))
            overall = info.result;
    }
    char *authres = authres_field(v, receiver);
    if (json)
        print_verify_json(v, overall, authres);
    else
        print_verify_text(v, authres);
    free(authres);
    status = result_exit(overall);
out:
    da_dkim_verify_free(v);
    da_resolver_free(resolver);
    da_zone_free(zone);
    return status;
}

/* ------------------------------------------------------------ check-dns */

typedef struct txt_lookup {
    bool answered;
    da_dns_answer *answer;
} txt_lookup;

static void keep_answer(void *arg, const da_dns_question *q, const da_dns_answer *a)
{
    (void)q;
    txt_lookup *t = arg;
    t->answered = true;
    t->answer = da_dns_answer_copy(a);
}

static int check_one_record(const da_dns_rr *rr, const da_dkim_key *key)
{
    char err[256] = "";
    unsigned bits = 0;
    printf("record: ");
    print_safe(rr->text);
    printf("\n");
    if (da_dkim_record_check(rr->text, rr->text_len, &bits, err, sizeof err) != 0) {
        printf("problem: %s\n", err);
        return strstr(err, "revoked") ? EXIT_FAIL : EXIT_PERMERROR;
    }
    printf("key: %u bits; the record parses\n", bits);
    if (key == NULL)
        return EXIT_PASS;
    int rc = da_dkim_key_check_record(key, rr->text, rr->text_len, err, sizeof err);
    printf("%s: %s\n", rc == 0 ? "match" : "mismatch", err);
    return rc == 0 ? EXIT_PASS : rc > 0 ? EXIT_FAIL : EXIT_PERMERROR;
}

static int cmd_check_dns(int argc, char **argv)
{
    enum { O_DOMAIN = 256, O_SELECTOR, O_KEY, O_ZONE, O_SERVER };
    static const struct option options[] = {
        {"domain", required_argument, NULL, O_DOMAIN},
        {"selector", required_argument, NULL, O_SELECTOR},
        {"key", required_argument, NULL, O_KEY},
        {"zone", required_argument, NULL, O_ZONE},
        {"dns-server", required_argument, NULL, O_SERVER},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *domain = NULL, *selector = NULL, *key_path = NULL, *zone_path = NULL;
    da_resolver_options ropt = {.use_edns0 = true};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case O_DOMAIN: domain = optarg; break;
        case O_SELECTOR: selector = optarg; break;
        case O_KEY: key_path = optarg; break;
        case O_ZONE: zone_path = optarg; break;
        case O_SERVER: ropt.servers = optarg; break;
        case 'h': fputs(usage_check_dns, stdout); return 0;
        default: fputs(usage_check_dns, stderr); return EXIT_USAGE;
        }
    }
    if (domain == NULL || selector == NULL || optind < argc) {
        fprintf(stderr, "domauth: --domain and --selector are required\n%s", usage_check_dns);
        return EXIT_USAGE;
    }
    if (!is_plain_name(domain) || !is_plain_name(selector)) {
        fprintf(stderr, "domauth: the domain and selector must be DNS names\n");
        return EXIT_USAGE;
    }
    da_dkim_key *key = key_path ? cli_load_dkim_key(key_path) : NULL;
    if (key_path != NULL && key == NULL)
        return EXIT_NOINPUT;
    int status = EXIT_SOFTWARE;
    da_zone *zone = NULL;
    da_resolver *resolver = make_resolver(zone_path, &ropt, &zone, &status);
    char name[600];
    snprintf(name, sizeof name, "%s._domainkey.%s", selector, domain);
    da_dns_question q = {name, DA_DNS_TXT};
    txt_lookup t = {0};
    if (resolver == NULL || da_resolver_submit(resolver, &q, keep_answer, &t) != 0 ||
        da_resolver_run(resolver) != 0 || !t.answered || t.answer == NULL)
        goto out;
    printf("name: %s\n", name);
    if (t.answer->status == DA_DNS_SERVFAIL || t.answer->status == DA_DNS_TIMEOUT) {
        printf("problem: DNS error (%s)\n", da_dns_status_name(t.answer->status));
        status = EXIT_TEMPERROR;
    } else if (t.answer->count == 0) {
        printf("problem: no TXT record\n");
        status = EXIT_NONE;
    } else {
        if (t.answer->count > 1)
            printf("warning: %zu TXT records; verifiers may pick any\n", t.answer->count);
        status = check_one_record(&t.answer->records[0], key);
    }
out:
    da_dns_answer_free(t.answer);
    da_resolver_free(resolver);
    da_zone_free(zone);
    da_dkim_key_free(key);
    return status;
}

/* ----------------------------------------------------------- dispatch */

int cmd_dkim(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage_dkim, argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    if (strcmp(argv[1], "keygen") == 0)
        return cmd_keygen(argc - 1, argv + 1);
    if (strcmp(argv[1], "record") == 0)
        return cmd_record(argc - 1, argv + 1);
    if (strcmp(argv[1], "sign") == 0)
        return cmd_sign(argc - 1, argv + 1);
    if (strcmp(argv[1], "verify") == 0)
        return cmd_verify(argc - 1, argv + 1);
    if (strcmp(argv[1], "check-dns") == 0)
        return cmd_check_dns(argc - 1, argv + 1);
    fprintf(stderr, "domauth: unknown dkim command '%s'\n\n%s", argv[1], usage_dkim);
    return EXIT_USAGE;
}
