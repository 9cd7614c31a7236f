/* opendkim.h: OpenDKIM's KeyTable and SigningTable files (opendkim.conf(5))
 * read as domauth's DKIM key table: the one reader of both, for [dkim]
 * key_table and signing_table and for `domauth import opendkim`.
 *
 * domauth chooses a key by the From: domain (the domain, else a parent in
 * the table, else "*"), so each SigningTable line becomes one such entry,
 * or a note saying why it cannot: a pattern for one user, a d= that is not
 * the From: domain or a parent, a KeyTable line holding the key itself.
 * Pure: the caller reads the files and gets every finding through a
 * callback, with the file and line. */
#ifndef DA_CONFIG_OPENDKIM_H
#define DA_CONFIG_OPENDKIM_H

#include <stdbool.h>
#include <stddef.h>

enum { OPENDKIM_LINE_MAX = 4096 };

/* A value of opendkim.conf naming a data set. */
typedef enum opendkim_dataset {
    OPENDKIM_DS_LIST,   /* csl: or a plain list */
    OPENDKIM_DS_FILE,   /* file:PATH, /PATH, ./PATH */
    OPENDKIM_DS_REFILE, /* refile:PATH: patterns with '*' */
    OPENDKIM_DS_OTHER,  /* db:, ldap:, lua:, ... */
} opendkim_dataset;

/* The kind, and in *path what follows its prefix. */
opendkim_dataset opendkim_dataset_of(const char *value, const char **path);

typedef enum opendkim_note_kind {
    OPENDKIM_ERROR,    /* the line does not parse */
    OPENDKIM_UNMAPPED, /* it parses, but domauth has no equivalent: nothing is done for it */
    OPENDKIM_DIFFERS,  /* carried over, with a difference the text says */
} opendkim_note_kind;

typedef void opendkim_note_fn(void *ctx, opendkim_note_kind kind, const char *file,
                              unsigned line, const char *text);

/* A KeyTable line: NAME DOMAIN:SELECTOR:KEYFILE. */
typedef struct opendkim_key {
    char *name, *domain, *selector, *path;
    unsigned line;
} opendkim_key;

/* A SigningTable line as a domauth key entry: sign mail whose From:
 * domain is domain (lower case; "*": any) or under it, with the key. */
typedef struct opendkim_signing {
    char *domain;
    const opendkim_key *key; /* in the tables' keys */
    char *pattern;           /* as written, for comments */
    bool subdomains;         /* the pattern named only the subdomains of domain */
    unsigned line;
} opendkim_signing;

typedef struct opendkim_tables {
    char *key_file, *signing_file; /* as given, for messages */
    opendkim_key *keys;
    size_t key_count;
    opendkim_signing *signing;
    size_t signing_count;
} opendkim_tables;

void opendkim_tables_init(opendkim_tables *t);
void opendkim_tables_free(opendkim_tables *t);

/* Read the KeyTable first, then the SigningTable (refile: its patterns
 * are refile patterns, else domain names or .domain). Each returns 0, or
 * -1 when out of memory; every line that is not carried over whole is a
 * note. A text with a NUL byte is one error note and nothing else. */
int opendkim_read_key_table(opendkim_tables *t, const char *file, const char *text, size_t len,
                            opendkim_note_fn *note, void *ctx);
int opendkim_read_signing_table(opendkim_tables *t, const char *file, const char *text,
                                size_t len, bool refile, opendkim_note_fn *note, void *ctx);

#endif
