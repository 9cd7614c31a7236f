/* srs.c: "domauth srs forward|reverse", one address rewritten with the
 * SRS engine (src/srs) and the secrets file. Reads the file and the clock;
 * the rewriting itself is the engine's. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "srs/srs.h"
#include "util/file.h"

#define DEFAULT_SECRETS "/etc/domauth/srs.secret"
#define SECRETS_MAX_BYTES (64 * 1024)

static const char usage_srs[] =
    "usage: domauth srs forward|reverse [options] ADDRESS\n"
    "\n"
    "Sender Rewriting Scheme (the SRS0/SRS1 forms of Mail::SRS, pysrs and PostSRSd).\n"
    "  forward   rewrite a sender for forwarding: user@domain becomes\n"
    "            SRS0=HHHH=TT=domain=user@SRS-DOMAIN (an SRS0 address becomes SRS1)\n"
    "  reverse   undo one forward step: the original sender of an SRS0 address,\n"
    "            the first forwarder's SRS0 address of an SRS1 one\n"
    "\n"
    "options:\n"
    "  --secrets FILE        one secret a line; the first signs, every one verifies\n"
    "                        (default " DEFAULT_SECRETS ")\n"
    "  --srs-domain DOMAIN   the domain forwarded senders go under (forward)\n"
    "  --separator =|+|-     the character after SRS0/SRS1 (default =)\n"
    "  --hash-length N       hash characters written, 4 to 27 (default 4)\n"
    "  --hash-min N          shortest hash accepted, 4 to 27 (default 4)\n"
    "  --max-age DAYS        days an SRS0 address stays valid (default 21)\n"
    "  --time SECONDS        the time to use, seconds since the epoch (tests)\n"
    "  -h, --help            this text\n"
    "\n"
    "Prints the rewritten address. Exit status: 0 done (forward of an address\n"
    "already under the SRS domain prints it unchanged); 1 when reverse is given\n"
    "something that is not an SRS address, a bad hash or an expired stamp (the\n"
    "reason is printed); 64 usage; 65 an address forward cannot rewrite (no @,\n"
    "too long); 66 secrets file unreadable or empty; 70 internal error.\n";

static int parse_number(const char *opt, const char *s, long long min, long long max,
                        long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "domauth srs: --%s: '%s' is not a number from %lld to %lld\n", opt, s,
                min, max);
        return -1;
    }
    *out = v;
    return 0;
}

int cmd_srs(int argc, char **argv)
{
    enum { O_SECRETS = 256, O_DOMAIN, O_SEPARATOR, O_HASHLEN, O_HASHMIN, O_MAXAGE, O_TIME };
    static const struct option options[] = {
        {"secrets", required_argument, NULL, O_SECRETS},
        {"srs-domain", required_argument, NULL, O_DOMAIN},
        {"separator", required_argument, NULL, O_SEPARATOR},
        {"hash-length", required_argument, NULL, O_HASHLEN},
        {"hash-min", required_argument, NULL, O_HASHMIN},
        {"max-age", required_argument, NULL, O_MAXAGE},
        {"time", required_argument, NULL, O_TIME},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage_srs, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_USAGE : 0;
    }
    bool forward;
    if (strcmp(argv[1], "forward") == 0) {
        forward = true;
    } else if (strcmp(argv[1], "reverse") == 0) {
        forward = false;
    } else {
        fprintf(stderr, "domauth srs: unknown command '%s'\n\n%s", argv[1], usage_srs);
        return CLI_EXIT_USAGE;
    }
    argc--;
    argv++;

    const char *secrets_path = DEFAULT_SECRETS, *domain = NULL;
    char separator = '=';
    long long hash_length = SRS_HASH_LENGTH_DEFAULT, hash_min = SRS_HASH_LENGTH_DEFAULT;
    long long max_age = SRS_MAX_AGE_DEFAULT, now = (long long)time(NULL);
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case O_SECRETS: secrets_path = optarg; break;
        case O_DOMAIN: domain = optarg; break;
        case O_SEPARATOR:
            if (strlen(optarg) != 1 || strchr("=+-", optarg[0]) == NULL) {
                fprintf(stderr, "domauth srs: --separator must be =, + or -\n");
                return CLI_EXIT_USAGE;
            }
            separator = optarg[0];
            break;
        case O_HASHLEN:
            if (parse_number("hash-length", optarg, 4, SRS_HASH_MAX, &hash_length) != 0)
                return CLI_EXIT_USAGE;
            break;
        case O_HASHMIN:
            if (parse_number("hash-min", optarg, 4, SRS_HASH_MAX, &hash_min) != 0)
                return CLI_EXIT_USAGE;
            break;
        case O_MAXAGE:
            if (parse_number("max-age", optarg, 1, 1023, &max_age) != 0)
                return CLI_EXIT_USAGE;
            break;
        case O_TIME:
            if (parse_number("time", optarg, 0, (long long)1 << 40, &now) != 0)
                return CLI_EXIT_USAGE;
            break;
        case 'h': fputs(usage_srs, stdout); return 0;
        default: fputs(usage_srs, stderr); return CLI_EXIT_USAGE;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "domauth srs: give exactly one ADDRESS\n\n%s", usage_srs);
        return CLI_EXIT_USAGE;
    }
    const char *address = argv[optind];
    if (forward && domain == NULL) {
        fprintf(stderr, "domauth srs: forward needs --srs-domain\n");
        return CLI_EXIT_USAGE;
    }

    srs *s = srs_new();
    if (s == NULL) {
        fprintf(stderr, "domauth srs: out of memory\n");
        return CLI_EXIT_SOFTWARE;
    }
    int status = CLI_EXIT_SOFTWARE;
    if (domain != NULL && srs_set_domain(s, domain) != 0) {
        fprintf(stderr, "domauth srs: --srs-domain '%s' is not a domain\n", domain);
        status = CLI_EXIT_USAGE;
        goto out;
    }
    if (srs_set_separator(s, separator) != 0 ||
        srs_set_hash_length(s, (unsigned)hash_length, (unsigned)hash_min) != 0 ||
        srs_set_max_age(s, (unsigned)max_age) != 0) {
        fprintf(stderr, "domauth srs: bad settings\n");
        status = CLI_EXIT_USAGE;
        goto out;
    }

    char err[512] = "";
    size_t len = 0;
    char *text = util_read_file(secrets_path, SECRETS_MAX_BYTES, &len, err, sizeof err);
    if (text == NULL) {
        fprintf(stderr, "domauth srs: %s\n", err);
        status = CLI_EXIT_NOINPUT;
        goto out;
    }
    int added = srs_add_secret_lines(s, text, len);
    free(text);
    if (added < 0) {
        fprintf(stderr, "domauth srs: out of memory\n");
        goto out;
    }
    if (added == 0) {
        fprintf(stderr, "domauth srs: %s holds no secret\n", secrets_path);
        status = CLI_EXIT_NOINPUT;
        goto out;
    }

    char result[SRS_ADDRESS_MAX];
    srs_status st = forward
        ? srs_forward(s, address, strlen(address), (int64_t)now, result, sizeof result)
        : srs_reverse(s, address, strlen(address), (int64_t)now, result, sizeof result);
    switch (st) {
    case SRS_OK:
    case SRS_UNCHANGED:
        printf("%s\n", result);
        status = 0;
        break;
    case SRS_NOT_SRS:
    case SRS_BAD_HASH:
    case SRS_EXPIRED:
    case SRS_BAD_ADDRESS:
    case SRS_TOO_LONG:
        /* The address may come from a message's envelope: escaped. */
        fprintf(stderr, "domauth srs: %s: ", srs_status_text(st));
        cli_put_safe(stderr, address, false);
        fputc('\n', stderr);
        status = st == SRS_BAD_ADDRESS || st == SRS_TOO_LONG ? CLI_EXIT_DATAERR : 1;
        break;
    case SRS_NO_SECRET:
    case SRS_CRYPTO:
        fprintf(stderr, "domauth srs: %s\n", srs_status_text(st));
        status = CLI_EXIT_SOFTWARE;
        break;
    }
out:
    srs_free(s);
    return status;
}
