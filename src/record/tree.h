/* tree.h: the SPF tree that lint.c walks (every record under a domain and
 * the DNS answers for its terms), for the other readers in src/record/
 * (flatten.c). Internal to this folder: the types are the walker's own and
 * read-only to everyone else. Invariants are lint.c's: queries unique by
 * (name, type); nodes only appended, so an index stays valid; all of it in
 * the lint's arena. */
#ifndef DA_RECORD_TREE_H
#define DA_RECORD_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "record/lint.h"
#include "spf/record.h"
#include "util/arena.h"

typedef struct lint_query {
    const char *name;
    da_dns_type type;
    bool asked, answered;
    da_dns_status status;
    uint32_t ttl;           /* the answer's (negative TTL for void ones) */
    size_t count;
    const char **texts;     /* TXT, or MX exchange names */
    size_t *lens;           /* TXT lengths */
    uint8_t (*addrs)[16];   /* A, AAAA */
} lint_query;

/* Per mechanism of a node: the questions made for its target. */
typedef struct lint_term {
    const spf_term *term;
    unsigned index;         /* as written, 1-based, modifiers counted */
    const char *target;     /* literal target, lower case, or NULL */
    int q_a, q_aaaa, q_mx;  /* query indices or -1 */
    int child;              /* include: node index or -1 */
    /* mx, when the walk resolves MX hosts: an A and an AAAA query per
     * exchange name, in the MX answer's order (-1 when not made). */
    int (*q_hosts)[2];
    size_t nhosts;
    bool hosts_listed;
} lint_term;

typedef struct lint_node {
    const char *domain;     /* NULL: a given record without a domain */
    int parent;
    const char *via;        /* NULL (root), "include" or "redirect" */
    int q_txt;              /* -1 for a given record */
    const char *given;
    bool expanded;
    const char *text;       /* the SPF record, when exactly one */
    spf_record *rec;
    lint_term *terms;
    size_t nterms;
    unsigned redirect_index, exp_index;
    int redirect_child;     /* node index or -1 */
    int q_exp;
    int q_spf_rr;           /* the top domain's type 99 records, or -1 */
    unsigned own_lookups;
} lint_node;

struct spf_lint {
    arena a;
    lint_node *nodes;
    size_t nnodes;
    lint_query *queries;
    size_t nqueries;
    da_dns_question *out;
    size_t nout;
    spf_lint_finding *findings;
    size_t nfindings, findings_cap;
    bool analysed, truncated, failed;
    bool mx_hosts;          /* also ask each MX host's A and AAAA */
    unsigned lookups, voids;
    const char *path;
};

/* A lint that also resolves the addresses of every MX host (what a flat
 * list needs and the lint's findings do not). Free with spf_lint_free. */
spf_lint *spf_lint_new_walk(const char *domain);

#endif
