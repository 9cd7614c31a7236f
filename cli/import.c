/* import.c: "domauth import opendkim|policyd-spf FILE", for sites moving
 * from OpenDKIM or postfix-policyd-spf-python: reads their configuration
 * (opendkim.conf(5) with its KeyTable and SigningTable, policyd-spf.conf(5))
 * and prints the equivalent domauth.conf sections, naming every setting it
 * cannot carry over and why. The output is checked by domauth's own
 * configuration parser before it is printed. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "commands.h"
#include "config/config.h"
#include "config/ipset.h"
#include "config/opendkim.h"
#include "util/file.h"
#include "util/strbuf.h"

enum { FILE_MAX = 4u << 20, LINE_MAX_LEN = 4096 };

static const char usage_import[] =
    "usage: domauth import opendkim [FILE]      (default /etc/opendkim.conf)\n"
    "       domauth import policyd-spf [FILE]   (default\n"
    "                          /etc/postfix-policyd-spf-python/policyd-spf.conf)\n"
    "\n"
    "Reads the configuration of OpenDKIM (opendkim.conf(5): Mode, Domain,\n"
    "Selector, KeyFile, KeyTable, SigningTable including refile: patterns,\n"
    "InternalHosts, ExternalIgnoreList, Canonicalization, AuthservID, Socket,\n"
    "UserID, PidFile, Syslog, SignHeaders) or of postfix-policyd-spf-python\n"
    "(policyd-spf.conf(5): HELO_reject, Mail_From_reject, PermError_reject,\n"
    "TempError_Defer, skip_addresses, Whitelist, HELO_Whitelist,\n"
    "Domain_Whitelist, Domain_Whitelist_PTR, Header_Type, Authserv_Id,\n"
    "Lookup_Time) and prints the equivalent domauth.conf sections. Every\n"
    "setting that has no equivalent is listed at the end, with its line and\n"
    "why; nothing is written. Review the output before using it: both peers\n"
    "enforce by default, while domauth observes first (monitor).\n"
    "\n"
    "Exit status: 0; 64 usage error; 65 a line that does not parse; 66 a file\n"
    "that cannot be read; 70 the result is not a valid domauth.conf (a bug).\n";

/* What the import makes: one buffer per section, and the list of what was
 * left behind. */
typedef struct import {
    const char *path;
    strbuf daemon, hosts, dkim, policy, spf;
    strbuf unmapped;
    unsigned unmapped_count;
    bool failed; /* a file could not be read or a line did not parse */
    bool missing; /* a file to read was not there (exit 66, not 65) */
} import;

static void import_init(import *im, const char *path)
{
    memset(im, 0, sizeof *im);
    im->path = path;
    strbuf_init(&im->daemon);
    strbuf_init(&im->hosts);
    strbuf_init(&im->dkim);
    strbuf_init(&im->policy);
    strbuf_init(&im->spf);
    strbuf_init(&im->unmapped);
}

static void import_free(import *im)
{
    strbuf_free(&im->daemon);
    strbuf_free(&im->hosts);
    strbuf_free(&im->dkim);
    strbuf_free(&im->policy);
    strbuf_free(&im->spf);
    strbuf_free(&im->unmapped);
}

__attribute__((format(printf, 4, 5))) static void unmapped(import *im, const char *file,
                                                            unsigned line, const char *fmt, ...)
{
    va_list ap;
    char text[600];
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    strbuf_printf(&im->unmapped, ";   %s:%u: %s\n", file, line, text);
    im->unmapped_count++;
}

/* Values from the peers' files go into our file: printable ASCII (and
 * TABs between fields) only. */
static bool printable(const char *s)
{
    for (; *s; s++)
        if (((unsigned char)*s < 0x20 && *s != '\t') || (unsigned char)*s > 0x7e)
            return false;
    return true;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* Calls fn for each line of a file, '#' comments and blank lines skipped. */
typedef void line_fn(import *im, void *ctx, const char *file, unsigned line, char *text);

static int each_line(import *im, const char *file, line_fn *fn, void *ctx)
{
    size_t len;
    char why[300];
    char *text = util_read_file(file, FILE_MAX, &len, why, sizeof why);
    if (text == NULL) {
        im->missing |= errno == ENOENT; /* before fprintf, which may change errno */
        fprintf(stderr, "domauth import: %s\n", why);
        im->failed = true;
        return -1;
    }
    if (memchr(text, '\0', len) != NULL) {
        fprintf(stderr, "domauth import: %s: holds a NUL byte: not a configuration file\n",
                file);
        free(text);
        im->failed = true;
        return -1;
    }
    unsigned n = 0;
    for (char *p = text, *next; p != NULL && *p; p = next) {
        next = strchr(p, '\n');
        if (next != NULL)
            *next++ = '\0';
        n++;
        char *hash = p;
        /* A comment starts the line or follows white space. */
        while ((hash = strchr(hash, '#')) != NULL) {
            if (hash == p || hash[-1] == ' ' || hash[-1] == '\t') {
                *hash = '\0';
                break;
            }
            hash++;
        }
        char *line = trim(p);
        if (*line == '\0')
            continue;
        if (strlen(line) > LINE_MAX_LEN || !printable(line)) {
            fprintf(stderr, "domauth import: %s:%u: a line too long or with control bytes\n",
                    file, n);
            im->failed = true;
            continue;
        }
        fn(im, ctx, file, n, line);
    }
    free(text);
    return 0;
}

/* An address entry domauth's [hosts] lists take. */
static bool address_entry(const char *entry)
{
    ip_set scratch;
    ip_set_init(&scratch);
    char why[100];
    bool ok = ip_set_add_entry(&scratch, entry, strlen(entry), why, sizeof why) == 0;
    ip_set_free(&scratch);
    return ok && *entry != '\0';
}

static bool plain_name(const char *s)
{
    if (*s == '\0' || strlen(s) > 253)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '.' && *s != '_')
            return false;
    return true;
}

/* ------------------------------------------------------------ OpenDKIM */

typedef struct opendkim {
    char *domain, *selector, *keyfile;      /* the single-key form */
    char *key_table, *signing_table;        /* dataset values as given */
    unsigned key_table_line, signing_table_line, domain_line;
    bool signed_any;                        /* a key line was made */
} opendkim;

typedef struct hosts_ctx {
    const char *key; /* "InternalHosts", ... */
} hosts_ctx;

static void add_host(import *im, const char *key, const char *file, unsigned line,
                     const char *entry)
{
    if (*entry == '!') {
        unmapped(im, file, line, "%s %s: a negated entry (domauth's lists only add)", key,
                 entry);
    } else if (address_entry(entry)) {
        strbuf_printf(&im->hosts, "trusted = %s ; from %s\n", entry, key);
    } else if (strcmp(entry, "localhost") == 0) {
        strbuf_printf(&im->hosts, "trusted = 127.0.0.1 ; from %s localhost\n", key);
    } else {
        unmapped(im, file, line,
                 "%s %s: a host name (domauth's trusted relays are addresses; "
                 "whitelist_ptr takes verified names, for checking only)",
                 key, entry);
    }
}

static void host_line(import *im, void *ctx, const char *file, unsigned line, char *text)
{
    add_host(im, ((hosts_ctx *)ctx)->key, file, line, text);
}

static void host_list(import *im, const char *key, const char *file, unsigned line,
                      const char *value)
{
    const char *rest;
    opendkim_dataset kind = opendkim_dataset_of(value, &rest);
    if (kind == OPENDKIM_DS_OTHER) {
        unmapped(im, file, line, "%s %s: a data set domauth cannot read", key, value);
        return;
    }
    if (kind == OPENDKIM_DS_FILE || kind == OPENDKIM_DS_REFILE) { /* a refile's patterns are host names */
        hosts_ctx c = {key};
        each_line(im, rest, host_line, &c);
        return;
    }
    char *copy = strdup(rest);
    for (char *save = NULL, *e = copy ? strtok_r(copy, ", \t", &save) : NULL; e != NULL;
         e = strtok_r(NULL, ", \t", &save))
        add_host(im, key, file, line, e);
    free(copy);
}

/* The tables' findings: an error fails the import, the rest is listed. */
static void table_note(void *ctx, opendkim_note_kind kind, const char *file, unsigned line,
                       const char *text)
{
    import *im = ctx;
    if (kind == OPENDKIM_ERROR) {
        fprintf(stderr, "domauth import: %s:%u: %s\n", file, line, text);
        im->failed = true;
    } else {
        unmapped(im, file, line, "%s", text);
    }
}

/* Reads one table file through the one reader of src/config/opendkim.c. */
static int read_table(import *im, opendkim_tables *t, const char *file, bool signing, bool refile)
{
    size_t len;
    char why[300];
    char *text = util_read_file(file, FILE_MAX, &len, why, sizeof why);
    if (text == NULL) {
        im->missing |= errno == ENOENT; /* before fprintf, which may change errno */
        fprintf(stderr, "domauth import: %s\n", why);
        im->failed = true;
        return -1;
    }
    int rc = signing ? opendkim_read_signing_table(t, file, text, len, refile, table_note, im)
                     : opendkim_read_key_table(t, file, text, len, table_note, im);
    free(text);
    if (rc != 0) {
        fprintf(stderr, "domauth import: %s: out of memory\n", file);
        im->failed = true;
    }
    return rc;
}

static void opendkim_line(import *im, void *ctx, const char *file, unsigned line, char *text)
{
    opendkim *o = ctx;
    char *value = text + strcspn(text, " \t");
    if (*value != '\0')
        *value++ = '\0';
    value = trim(value);
    const char *key = text;
    if (strcasecmp(key, "Mode") == 0) {
        bool s = strchr(value, 's') != NULL, v = strchr(value, 'v') != NULL;
        if (value[strspn(value, "sv")] != '\0') {
            unmapped(im, file, line, "Mode %s: not s, v or sv", value);
            return;
        }
        strbuf_printf(&im->dkim, "sign = %s\nverify = %s\n", s ? "yes" : "no", v ? "yes" : "no");
    } else if (strcasecmp(key, "Canonicalization") == 0) {
        strbuf_printf(&im->dkim, "canonicalization = %s\n", value);
    } else if (strcasecmp(key, "AuthservID") == 0) {
        if (strcmp(value, "HOSTNAME") == 0)
            strbuf_puts(&im->daemon, "; AuthservID HOSTNAME: domauth's default (the MTA's "
                                     "name, else this host's)\n");
        else
            strbuf_printf(&im->daemon, "authserv_id = %s\n", value);
    } else if (strcasecmp(key, "Domain") == 0) {
        o->domain = strdup(value);
        o->domain_line = line;
    } else if (strcasecmp(key, "Selector") == 0) {
        o->selector = strdup(value);
    } else if (strcasecmp(key, "KeyFile") == 0) {
        o->keyfile = strdup(value);
    } else if (strcasecmp(key, "KeyTable") == 0) {
        o->key_table = strdup(value);
        o->key_table_line = line;
    } else if (strcasecmp(key, "SigningTable") == 0) {
        o->signing_table = strdup(value);
        o->signing_table_line = line;
    } else if (strcasecmp(key, "InternalHosts") == 0 ||
               strcasecmp(key, "ExternalIgnoreList") == 0 || strcasecmp(key, "PeerList") == 0) {
        if (strcasecmp(key, "PeerList") == 0)
            strbuf_puts(&im->hosts, "; PeerList: these clients are not checked either\n");
        host_list(im, key, file, line, value);
    } else if (strcasecmp(key, "Socket") == 0) {
        char *at;
        if (strncmp(value, "local:", 6) == 0 || strncmp(value, "unix:", 5) == 0)
            strbuf_printf(&im->daemon, "milter = unix:%s\n", strchr(value, ':') + 1);
        else if (strncmp(value, "inet:", 5) == 0 && (at = strchr(value, '@')) != NULL)
            strbuf_printf(&im->daemon, "milter = inet:%s:%.*s\n", at + 1,
                          (int)(at - value - 5), value + 5);
        else if (strncmp(value, "inet:", 5) == 0)
            strbuf_printf(&im->daemon, "milter = inet:0.0.0.0:%s\n", value + 5);
        else
            unmapped(im, file, line, "Socket %s: not local: or inet:", value);
    } else if (strcasecmp(key, "UserID") == 0) {
        char *colon = strchr(value, ':');
        if (colon != NULL)
            *colon++ = '\0';
        strbuf_printf(&im->daemon, "user = %s\n", value);
        if (colon != NULL)
            strbuf_printf(&im->daemon, "group = %s\n", colon);
    } else if (strcasecmp(key, "PidFile") == 0) {
        strbuf_printf(&im->daemon, "pidfile = %s\n", value);
    } else if (strcasecmp(key, "Syslog") == 0) {
        bool yes = strcasecmp(value, "yes") == 0 || strcasecmp(value, "true") == 0 ||
                   strcmp(value, "1") == 0;
        strbuf_printf(&im->daemon, "syslog = %s\n", yes ? "yes" : "no");
    } else if (strcasecmp(key, "SyslogFacility") == 0) {
        strbuf_printf(&im->daemon, "syslog_facility = %s\n", value);
    } else if (strcasecmp(key, "SignHeaders") == 0) {
        char *copy = strdup(value);
        for (char *c = copy; c && *c; c++)
            if (*c == ',')
                *c = ':';
        strbuf_printf(&im->dkim, "sign_headers = %s\n", copy ? copy : "");
        free(copy);
    } else if (strcasecmp(key, "OversignHeaders") == 0 && strcasecmp(value, "From") == 0) {
        strbuf_puts(&im->dkim, "; OversignHeaders From: domauth over-signs From (and To, "
                               "Subject, Date) by default\n");
    } else if (strcasecmp(key, "UMask") == 0) {
        unmapped(im, file, line, "UMask %s: set socket_mode instead (the socket's permissions)",
                 value);
    } else if (strcasecmp(key, "TrustAnchorFile") == 0 || strcasecmp(key, "Nameservers") == 0) {
        unmapped(im, file, line, "%s: domauth uses the resolvers of dns_servers or "
                                 "/etc/resolv.conf, without DNSSEC validation of its own", key);
    } else {
        unmapped(im, file, line, "%s %s: no domauth equivalent", key, value);
    }
}

static void opendkim_keys(import *im, opendkim *o, const char *file)
{
    if (o->key_table != NULL || o->signing_table != NULL) {
        const char *kt, *st;
        opendkim_dataset ktk = o->key_table ? opendkim_dataset_of(o->key_table, &kt)
                                            : OPENDKIM_DS_OTHER;
        opendkim_dataset stk = o->signing_table ? opendkim_dataset_of(o->signing_table, &st)
                                                : OPENDKIM_DS_OTHER;
        if (o->key_table == NULL || o->signing_table == NULL) {
            unmapped(im, file, o->key_table ? o->key_table_line : o->signing_table_line,
                     "a KeyTable without a SigningTable (or the reverse) signs nothing");
            return;
        }
        if (ktk != OPENDKIM_DS_FILE && ktk != OPENDKIM_DS_REFILE) {
            unmapped(im, file, o->key_table_line, "KeyTable %s: not a file", o->key_table);
            return;
        }
        if (stk != OPENDKIM_DS_FILE && stk != OPENDKIM_DS_REFILE) {
            unmapped(im, file, o->signing_table_line, "SigningTable %s: not a file",
                     o->signing_table);
            return;
        }
        opendkim_tables t;
        opendkim_tables_init(&t);
        if (read_table(im, &t, kt, false, false) == 0 &&
            read_table(im, &t, st, true, stk == OPENDKIM_DS_REFILE) == 0) {
            for (size_t i = 0; i < t.signing_count; i++) {
                const opendkim_signing *e = &t.signing[i];
                strbuf_printf(&im->dkim, "key = %s %s %s ; SigningTable %s\n", e->domain,
                              e->key->selector, e->key->path, e->pattern);
                if (e->subdomains)
                    strbuf_printf(&im->dkim, "; (this key also signs %s itself, which %s did "
                                             "not)\n", e->domain, e->pattern);
                o->signed_any = true;
            }
        }
        opendkim_tables_free(&t);
        if (o->domain || o->keyfile)
            unmapped(im, file, o->domain_line,
                     "Domain/Selector/KeyFile beside a KeyTable: OpenDKIM ignores them");
        return;
    }
    if (o->domain != NULL && o->selector != NULL && o->keyfile != NULL) {
        char *copy = strdup(o->domain);
        for (char *save = NULL, *d = copy ? strtok_r(copy, ", \t", &save) : NULL; d != NULL;
             d = strtok_r(NULL, ", \t", &save)) {
            if (d[0] == '/' || strchr(d, ':') != NULL) {
                unmapped(im, file, o->domain_line, "Domain %s: a data set domauth cannot read",
                         d);
                continue;
            }
            strbuf_printf(&im->dkim, "key = %s %s %s\n", d, o->selector, o->keyfile);
            o->signed_any = true;
        }
        free(copy);
    } else if (o->domain || o->selector || o->keyfile) {
        unmapped(im, file, o->domain_line,
                 "Domain, Selector and KeyFile are needed together to sign");
    }
}

static void opendkim_free(opendkim *o)
{
    free(o->domain);
    free(o->selector);
    free(o->keyfile);
    free(o->key_table);
    free(o->signing_table);
}

/* ---------------------------------------------------- policyd-spf */

static bool truthy(const char *v)
{
    return strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0 || strcmp(v, "1") == 0;
}

/* policyd-spf's comma lists (no spaces, says its man page; spaces taken too). */
static void each_item(const char *value, void (*fn)(import *, const char *, void *), import *im,
                      void *ctx)
{
    char *copy = strdup(value);
    for (char *save = NULL, *e = copy ? strtok_r(copy, ", \t", &save) : NULL; e != NULL;
         e = strtok_r(NULL, ", \t", &save))
        fn(im, e, ctx);
    free(copy);
}

typedef struct item_ctx {
    const char *file, *key, *target;
    unsigned line;
} item_ctx;

static void address_item(import *im, const char *e, void *ctx)
{
    item_ctx *c = ctx;
    /* ::ffff:127.0.0.0/104: domauth looks IPv4-mapped clients up as IPv4. */
    unsigned a, b, cc, d, bits;
    char tail;
    if (strncasecmp(e, "::ffff:", 7) == 0 &&
        sscanf(e + 7, "%u.%u.%u.%u/%u%c", &a, &b, &cc, &d, &bits, &tail) == 5 && bits >= 96 &&
        bits <= 128 && a < 256 && b < 256 && cc < 256 && d < 256) {
        char v4[40];
        snprintf(v4, sizeof v4, "%u.%u.%u.%u/%u", a, b, cc, d, bits - 96);
        if (address_entry(v4)) {
            strbuf_printf(&im->hosts, "%s = %s ; from %s %s (IPv4-mapped)\n", c->target, v4,
                          c->key, e);
            return;
        }
    }
    if (address_entry(e))
        strbuf_printf(&im->hosts, "%s = %s ; from %s\n", c->target, e, c->key);
    else
        unmapped(im, c->file, c->line, "%s %s: not an address or network", c->key, e);
}

static void name_item(import *im, const char *e, void *ctx)
{
    item_ctx *c = ctx;
    if (!plain_name(e)) {
        unmapped(im, c->file, c->line, "%s %s: not a host name", c->key, e);
        return;
    }
    if (strcmp(c->target, "whitelist_ptr") == 0)
        strbuf_printf(&im->hosts, "whitelist_ptr = %s *.%s ; from %s\n", e, e, c->key);
    else
        strbuf_printf(&im->hosts, "%s = %s ; from %s\n", c->target, e, c->key);
}

typedef struct spf_state {
    bool helo_seen, mfrom_seen, test_only;
} spf_state;

static void policyd_line(import *im, void *ctx, const char *file, unsigned line, char *text)
{
    spf_state *st = ctx;
    char *eq = strchr(text, '=');
    if (eq == NULL) {
        fprintf(stderr, "domauth import: %s:%u: expected Key = Value\n", file, line);
        im->failed = true;
        return;
    }
    *eq = '\0';
    char *key = trim(text), *value = trim(eq + 1);
    item_ctx c = {file, key, NULL, line};
    if (strcasecmp(key, "HELO_reject") == 0) {
        st->helo_seen = true;
        if (strcasecmp(value, "Fail") == 0) {
            strbuf_puts(&im->policy, "check_helo = yes ; HELO_reject = Fail: a HELO fail counts "
                                     "as a MAIL FROM fail\n");
        } else if (strcasecmp(value, "False") == 0 || strcasecmp(value, "No_Check") == 0 ||
                   strcasecmp(value, "Null") == 0) {
            strbuf_printf(&im->policy, "check_helo = no ; HELO_reject = %s%s\n", value,
                          strcasecmp(value, "Null") == 0
                              ? " (the null sender's HELO is checked by RFC 7208 anyway)"
                              : "");
        } else {
            strbuf_puts(&im->policy, "check_helo = yes\n");
            unmapped(im, file, line,
                     "HELO_reject = %s: domauth judges a checked HELO by the [spf] table of "
                     "MAIL FROM (only HELO fail is rejected as above)",
                     value);
        }
    } else if (strcasecmp(key, "Mail_From_reject") == 0) {
        st->mfrom_seen = true;
        bool sf = strcasecmp(value, "Softfail") == 0, np = strcasecmp(value, "SPF_Not_Pass") == 0;
        if (strcasecmp(value, "Fail") == 0 || sf || np) {
            strbuf_puts(&im->spf, "fail_action = reject\n");
            if (sf || np)
                strbuf_puts(&im->spf, "softfail_action = reject\n"
                                      "softfail_reply = 550 5.7.23 SPF softfail for %{domain}\n");
            if (np)
                strbuf_puts(&im->spf, "neutral_action = reject\npermerror_action = reject\n");
        } else if (strcasecmp(value, "False") == 0) {
            strbuf_puts(&im->spf, "fail_action = accept ; Mail_From_reject = False: headers "
                                  "only\n");
        } else {
            unmapped(im, file, line, "Mail_From_reject = %s: domauth always checks MAIL FROM",
                     value);
        }
    } else if (strcasecmp(key, "PermError_reject") == 0) {
        strbuf_printf(&im->spf, "permerror_action = %s\n", truthy(value) ? "reject" : "accept");
    } else if (strcasecmp(key, "TempError_Defer") == 0) {
        strbuf_printf(&im->spf, "temperror_action = %s\n", truthy(value) ? "defer" : "accept");
    } else if (strcasecmp(key, "skip_addresses") == 0) {
        strbuf_puts(&im->policy, "check_local = no ; skip_addresses\n");
        c.target = "local_networks";
        each_item(value, address_item, im, &c);
    } else if (strcasecmp(key, "Whitelist") == 0) {
        c.target = "whitelist";
        each_item(value, address_item, im, &c);
    } else if (strcasecmp(key, "HELO_Whitelist") == 0) {
        c.target = "whitelist_helo";
        each_item(value, name_item, im, &c);
        unmapped(im, file, line, "HELO_Whitelist: policyd-spf also checks that the HELO name's "
                                 "A/AAAA holds the client; domauth's whitelist_helo does not "
                                 "(prefer whitelist or whitelist_ptr)");
    } else if (strcasecmp(key, "Domain_Whitelist_PTR") == 0) {
        c.target = "whitelist_ptr";
        each_item(value, name_item, im, &c);
    } else if (strcasecmp(key, "Domain_Whitelist") == 0) {
        unmapped(im, file, line,
                 "Domain_Whitelist = %s: skips clients that those domains' SPF records "
                 "authorise; domauth has no such list (put the forwarders' addresses in "
                 "[hosts] whitelist, or use whitelist_from for senders they authenticate)",
                 value);
    } else if (strcasecmp(key, "Header_Type") == 0) {
        if (strcasecmp(value, "AR") == 0)
            strbuf_puts(&im->policy, "received_spf = no\nauthentication_results = yes\n");
        else if (strcasecmp(value, "SPF") == 0)
            strbuf_puts(&im->policy, "received_spf = yes\nauthentication_results = no\n");
        else if (strcasecmp(value, "None") == 0)
            strbuf_puts(&im->policy, "received_spf = no\nauthentication_results = no\n");
        else
            unmapped(im, file, line, "Header_Type = %s: SPF or AR", value);
    } else if (strcasecmp(key, "Authserv_Id") == 0) {
        strbuf_printf(&im->daemon, "authserv_id = %s\n", value);
    } else if (strcasecmp(key, "Lookup_Time") == 0) {
        char *end;
        long s = strtol(value, &end, 10);
        if (*end == '\0' && s > 0 && s <= 3600)
            strbuf_printf(&im->daemon, "spf_deadline_ms = %ld\n", s * 1000);
        else
            unmapped(im, file, line, "Lookup_Time = %s: not a number of seconds", value);
    } else if (strcasecmp(key, "TestOnly") == 0 || strcasecmp(key, "defaultSeedOnly") == 0) {
        /* 0 is its test mode: headers only, no reject. */
        st->test_only = strcmp(value, "0") == 0;
    } else if (strcasecmp(key, "debugLevel") == 0) {
        /* Nothing to carry: a logging level. */
    } else {
        unmapped(im, file, line, "%s = %s: no domauth equivalent", key, value);
    }
}

/* ---------------------------------------------------------------- main */

static void put_section(FILE *out, const char *name, const strbuf *sb)
{
    if (sb->len == 0)
        return;
    fprintf(out, "\n[%s]\n%s", name, sb->data);
}

/* The output, as text, for printing and for the parser check. */
static char *render(const import *im, const char *what)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f == NULL)
        return NULL;
    fprintf(f, "; domauth.conf sections made by `domauth import %s %s`.\n", what, im->path);
    fprintf(f, "; Review before use (domauth.conf(5)). Both peers enforce; domauth's default\n"
               "; is to observe (monitor = yes): watch `domauth report` before enforcing.\n");
    put_section(f, "daemon", &im->daemon);
    put_section(f, "hosts", &im->hosts);
    put_section(f, "dkim", &im->dkim);
    put_section(f, "policy", &im->policy);
    put_section(f, "spf", &im->spf);
    if (im->unmapped_count > 0)
        fprintf(f, "\n; Not carried over (%u):\n%s", im->unmapped_count, im->unmapped.data);
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

int cmd_import(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        fputs(usage_import, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_USAGE : 0;
    }
    const char *what = argv[1];
    bool dkim = strcmp(what, "opendkim") == 0, spf = strcmp(what, "policyd-spf") == 0;
    if ((!dkim && !spf) || argc > 3) {
        fprintf(stderr, "domauth import: expected opendkim or policyd-spf and a file\n%s",
                usage_import);
        return CLI_EXIT_USAGE;
    }
    const char *path = argc == 3 ? argv[2]
                       : dkim    ? "/etc/opendkim.conf"
                                 : "/etc/postfix-policyd-spf-python/policyd-spf.conf";
    import im;
    import_init(&im, path);
    int status = 0;
    if (dkim) {
        opendkim o = {0};
        if (each_line(&im, path, opendkim_line, &o) == 0)
            opendkim_keys(&im, &o, path);
        opendkim_free(&o);
    } else {
        spf_state st = {0};
        if (each_line(&im, path, policyd_line, &st) == 0) {
            /* Their defaults, when the file does not say: reject SPF fail. */
            if (!st.mfrom_seen)
                strbuf_puts(&im.spf, "fail_action = reject ; policyd-spf's default "
                                     "Mail_From_reject = Fail\n");
            if (!st.helo_seen)
                strbuf_puts(&im.policy, "check_helo = yes ; policyd-spf's default "
                                        "HELO_reject = Fail\n");
            if (st.test_only)
                strbuf_puts(&im.policy, "monitor = yes ; TestOnly = 0: observe, never reject\n");
            else
                strbuf_puts(&im.policy, "; policyd-spf rejects at once; to do the same after a "
                                        "week of watching:\n;monitor = no\n");
        }
    }
    char *text = NULL;
    if (im.failed) {
        status = im.missing ? CLI_EXIT_NOINPUT : CLI_EXIT_DATAERR;
    } else if ((text = render(&im, what)) == NULL) {
        status = CLI_EXIT_SOFTWARE;
    } else {
        /* Whatever we print must be a domauth.conf domauth reads. */
        domauth_config cfg;
        char err[512];
        if (config_init(&cfg) != 0) {
            status = CLI_EXIT_SOFTWARE;
        } else if (config_parse(&cfg, "(import)", text, strlen(text), err, sizeof err) != 0) {
            fprintf(stderr, "domauth import: the result does not parse (%s); please report\n",
                    err);
            status = CLI_EXIT_SOFTWARE;
        } else {
            config_free(&cfg);
            fputs(text, stdout);
            if (im.unmapped_count > 0)
                fprintf(stderr, "domauth import: %u setting%s of %s not carried over (listed "
                                "at the end)\n",
                        im.unmapped_count, im.unmapped_count == 1 ? "" : "s", path);
        }
    }
    free(text);
    import_free(&im);
    return status;
}
