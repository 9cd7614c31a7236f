/* opendkim.c: OpenDKIM's KeyTable and SigningTable as domauth key entries
 * (see opendkim.h). The line rules are opendkim.conf(5)'s for flat files:
 * a key, white space, a value; '#' to the end of the line is a comment when
 * it starts the line or follows white space; blank lines are skipped. */
#include "config/opendkim.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void opendkim_tables_init(opendkim_tables *t)
{
    memset(t, 0, sizeof *t);
}

void opendkim_tables_free(opendkim_tables *t)
{
    for (size_t i = 0; i < t->key_count; i++) {
        free(t->keys[i].name);
        free(t->keys[i].domain);
        free(t->keys[i].selector);
        free(t->keys[i].path);
    }
    for (size_t i = 0; i < t->signing_count; i++) {
        free(t->signing[i].domain);
        free(t->signing[i].pattern);
    }
    free(t->keys);
    free(t->signing);
    free(t->key_file);
    free(t->signing_file);
    memset(t, 0, sizeof *t);
}

opendkim_dataset opendkim_dataset_of(const char *value, const char **path)
{
    *path = value;
    if (strncmp(value, "refile:", 7) == 0) {
        *path = value + 7;
        return OPENDKIM_DS_REFILE;
    }
    if (strncmp(value, "file:", 5) == 0) {
        *path = value + 5;
        return OPENDKIM_DS_FILE;
    }
    if (strncmp(value, "csl:", 4) == 0) {
        *path = value + 4;
        return OPENDKIM_DS_LIST;
    }
    if (value[0] == '/' || strncmp(value, "./", 2) == 0)
        return OPENDKIM_DS_FILE;
    if (strchr(value, ':') != NULL && strchr(value, ',') == NULL &&
        isalpha((unsigned char)value[0]))
        return OPENDKIM_DS_OTHER;
    return OPENDKIM_DS_LIST;
}

__attribute__((format(printf, 6, 7))) static void say(opendkim_note_fn *note, void *ctx,
                                                      opendkim_note_kind kind, const char *file,
                                                      unsigned line, const char *fmt, ...)
{
    char text[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    note(ctx, kind, file, line, text);
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

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* Printable ASCII and TABs only: these values go into domauth.conf text
 * and log lines. */
static bool printable(const char *s)
{
    for (; *s; s++)
        if (((unsigned char)*s < 0x20 && *s != '\t') || (unsigned char)*s > 0x7e)
            return false;
    return true;
}

typedef int line_fn(opendkim_tables *t, const char *file, unsigned line, char *text,
                    bool refile, opendkim_note_fn *note, void *ctx);

/* Calls fn for each line that is not blank or a comment. */
static int each_line(opendkim_tables *t, const char *file, const char *text, size_t len,
                     bool refile, line_fn *fn, opendkim_note_fn *note, void *ctx)
{
    if (memchr(text, '\0', len) != NULL) {
        say(note, ctx, OPENDKIM_ERROR, file, 0, "holds a NUL byte: not a table");
        return 0;
    }
    char *copy = malloc(len + 1);
    if (copy == NULL)
        return -1;
    memcpy(copy, text, len);
    copy[len] = '\0';
    unsigned n = 0;
    int rc = 0;
    for (char *p = copy, *next; p != NULL && *p && rc == 0; p = next) {
        next = strchr(p, '\n');
        if (next != NULL)
            *next++ = '\0';
        n++;
        for (char *hash = p; (hash = strchr(hash, '#')) != NULL; hash++) {
            if (hash == p || hash[-1] == ' ' || hash[-1] == '\t') {
                *hash = '\0';
                break;
            }
        }
        char *line = trim(p);
        if (*line == '\0')
            continue;
        if (strlen(line) > OPENDKIM_LINE_MAX || !printable(line)) {
            say(note, ctx, OPENDKIM_ERROR, file, n, "a line too long or with control bytes");
            continue;
        }
        rc = fn(t, file, n, line, refile, note, ctx);
    }
    free(copy);
    return rc;
}

/* ------------------------------------------------------------ KeyTable */

static int key_line(opendkim_tables *t, const char *file, unsigned line, char *text, bool refile,
                    opendkim_note_fn *note, void *ctx)
{
    (void)refile;
    char *name = text, *value = text + strcspn(text, " \t");
    if (*value == '\0') {
        say(note, ctx, OPENDKIM_ERROR, file, line, "a KeyTable line is NAME DOMAIN:SELECTOR:KEY");
        return 0;
    }
    *value++ = '\0';
    value = trim(value);
    char *sel = strchr(value, ':');
    char *path = sel ? strchr(sel + 1, ':') : NULL;
    if (sel == NULL || path == NULL) {
        say(note, ctx, OPENDKIM_ERROR, file, line, "a KeyTable value is DOMAIN:SELECTOR:KEY");
        return 0;
    }
    *sel++ = '\0';
    *path++ = '\0';
    if (strcmp(value, "%") != 0 && !plain_name(value)) {
        say(note, ctx, OPENDKIM_ERROR, file, line,
            "key %s: the domain '%s' is not a domain name or %%", name, value);
        return 0;
    }
    if (!plain_name(sel)) {
        say(note, ctx, OPENDKIM_ERROR, file, line, "key %s: the selector '%s' is not a name",
            name, sel);
        return 0;
    }
    if (path[0] != '/' && strncmp(path, "./", 2) != 0 && strncmp(path, "../", 3) != 0) {
        say(note, ctx, OPENDKIM_UNMAPPED, file, line,
            "key %s: the key itself in the table (domauth reads key files)", name);
        return 0;
    }
    opendkim_key *n = realloc(t->keys, (t->key_count + 1) * sizeof *n);
    if (n == NULL)
        return -1;
    t->keys = n;
    opendkim_key *k = &n[t->key_count];
    *k = (opendkim_key){strdup(name), strdup(value), strdup(sel), strdup(path), line};
    if (!k->name || !k->domain || !k->selector || !k->path) {
        free(k->name);
        free(k->domain);
        free(k->selector);
        free(k->path);
        return -1;
    }
    t->key_count++;
    return 0;
}

int opendkim_read_key_table(opendkim_tables *t, const char *file, const char *text, size_t len,
                            opendkim_note_fn *note, void *ctx)
{
    free(t->key_file);
    if ((t->key_file = strdup(file)) == NULL)
        return -1;
    return each_line(t, file, text, len, false, key_line, note, ctx);
}

/* -------------------------------------------------------- SigningTable */

static const opendkim_key *find_key(const opendkim_tables *t, const char *name)
{
    for (size_t i = 0; i < t->key_count; i++)
        if (strcmp(t->keys[i].name, name) == 0)
            return &t->keys[i];
    return NULL;
}

/* A SigningTable pattern as the From: domain it covers: "*@example.com"
 * (refile) or "example.com" (other tables) is example.com, "*@*.example.com"
 * or ".example.com" its subdomains (*sub set), "*" any sender. NULL when it
 * names one user or another shape. */
static const char *pattern_domain(const char *pattern, bool refile, bool *sub, bool *any)
{
    *sub = *any = false;
    if (strcmp(pattern, "*") == 0 || strcmp(pattern, "*@*") == 0) {
        *any = true;
        return "*";
    }
    if (refile) {
        if (strncmp(pattern, "*@*.", 4) == 0 && plain_name(pattern + 4)) {
            *sub = true;
            return pattern + 4;
        }
        if (strncmp(pattern, "*@", 2) == 0 && plain_name(pattern + 2))
            return pattern + 2;
        return NULL;
    }
    if (pattern[0] == '.' && plain_name(pattern + 1)) {
        *sub = true;
        return pattern + 1;
    }
    return strchr(pattern, '@') == NULL && plain_name(pattern) ? pattern : NULL;
}

static bool under(const char *name, const char *parent)
{
    size_t n = strlen(name), p = strlen(parent);
    return p > 0 && n > p && name[n - p - 1] == '.' && strcasecmp(name + n - p, parent) == 0;
}

/* OpenDKIM takes the first line that matches, domauth the closest domain:
 * a line after a "*" line or after a subdomain pattern covering it is
 * used where OpenDKIM would use the earlier one. */
static void order_note(const opendkim_tables *t, const char *file, unsigned line,
                       const char *from, opendkim_note_fn *note, void *ctx)
{
    for (size_t i = 0; i < t->signing_count; i++) {
        const opendkim_signing *e = &t->signing[i];
        if (strcmp(e->domain, "*") == 0 ? strcmp(from, "*") != 0
                                        : e->subdomains && under(from, e->domain)) {
            say(note, ctx, OPENDKIM_DIFFERS, file, line,
                "%s: OpenDKIM signs this with line %u's key (%s, the first match); domauth "
                "with this line's (the closest domain)",
                from, e->line, e->pattern);
            return;
        }
    }
}

static int signing_line(opendkim_tables *t, const char *file, unsigned line, char *text,
                        bool refile, opendkim_note_fn *note, void *ctx)
{
    char *save = NULL;
    char *pattern = strtok_r(text, " \t", &save);
    char *keyname = strtok_r(NULL, " \t", &save);
    char *signer = strtok_r(NULL, " \t", &save);
    if (pattern == NULL || keyname == NULL) {
        say(note, ctx, OPENDKIM_ERROR, file, line, "a SigningTable line is PATTERN KEYNAME");
        return 0;
    }
    const opendkim_key *k = find_key(t, keyname);
    if (k == NULL) {
        say(note, ctx, OPENDKIM_UNMAPPED, file, line, "%s %s: no key of that name in the KeyTable",
            pattern, keyname);
        return 0;
    }
    bool sub, any;
    const char *from = pattern_domain(pattern, refile, &sub, &any);
    if (from == NULL) {
        say(note, ctx, OPENDKIM_UNMAPPED, file, line,
            "%s: a key for one sender or pattern (domauth chooses keys by the From: domain)",
            pattern);
        return 0;
    }
    const char *d = k->domain;
    if (strcmp(d, "%") == 0) {
        /* d= the sender's domain: domauth's "*" entry when any sender. */
        d = from;
    } else if (any) {
        say(note, ctx, OPENDKIM_UNMAPPED, file, line,
            "*: every sender signed with d=%s (domauth's * entry signs with d= the From: "
            "domain)",
            d);
        return 0;
    } else if (strcasecmp(d, from) != 0 && !under(from, d)) {
        say(note, ctx, OPENDKIM_UNMAPPED, file, line,
            "%s: signed with d=%s, not the From: domain or a parent", pattern, d);
        return 0;
    }
    /* Else a parent's key: domauth uses it for its subdomains too. */
    if (sub && strcmp(k->domain, "%") == 0) {
        say(note, ctx, OPENDKIM_UNMAPPED, file, line,
            "%s: d= each subdomain itself (domauth signs a subdomain with its parent's key and "
            "d=)",
            pattern);
        return 0;
    }
    if (signer != NULL)
        say(note, ctx, OPENDKIM_DIFFERS, file, line, "%s: the signer (i=) %s is not carried over",
            pattern, signer);
    if (sub)
        say(note, ctx, OPENDKIM_DIFFERS, file, line,
            "%s: this key also signs %s itself, which the pattern did not", pattern, d);
    else if (strcmp(d, "*") != 0 && strcasecmp(d, from) != 0)
        say(note, ctx, OPENDKIM_DIFFERS, file, line,
            "%s: signed with the key of its parent %s, whose entry signs %s and all its "
            "subdomains too (domauth's key table goes by d=)",
            pattern, d, d);
    order_note(t, file, line, from, note, ctx);
    opendkim_signing *n = realloc(t->signing, (t->signing_count + 1) * sizeof *n);
    if (n == NULL)
        return -1;
    t->signing = n;
    opendkim_signing *e = &n[t->signing_count];
    *e = (opendkim_signing){strdup(d), k, strdup(pattern), sub, line};
    if (e->domain == NULL || e->pattern == NULL) {
        free(e->domain);
        free(e->pattern);
        return -1;
    }
    for (char *p = e->domain; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    t->signing_count++;
    return 0;
}

int opendkim_read_signing_table(opendkim_tables *t, const char *file, const char *text,
                                size_t len, bool refile, opendkim_note_fn *note, void *ctx)
{
    free(t->signing_file);
    if ((t->signing_file = strdup(file)) == NULL)
        return -1;
    return each_line(t, file, text, len, refile, signing_line, note, ctx);
}
