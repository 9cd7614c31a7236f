/* flatten.h: a domain's published SPF tree as a flat list of ip4/ip6
 * terms (`domauth spf flatten`), split into a chain of records within the
 * DNS limits, with the shortest TTL seen and a state to diff against the
 * next run. Sans-I/O: it walks the tree with lint's walker (tree.h) and is
 * run like any engine (dns/engine.h).
 *
 * Exact, not approximate: the tree is evaluated as a function from client
 * address to result (pass, fail, softfail, neutral) over the whole IPv4
 * and IPv6 space, first match winning as RFC 7208 section 4.6.2 says, an
 * include matching where its record passes, redirect= deciding what the
 * record left open. The flat record lists each region whose result is not
 * the default (the final `all`, or the redirect target's) as disjoint
 * minimal prefixes with that result's qualifier, so term order no longer
 * matters and every address gets the result the tree gives it (lookup
 * limits aside: see the notes). Only terms whose matches do not depend on
 * the sender can be flattened: ptr, exists with a macro and any macro in a
 * domain-spec are refused with their place; exp= is dropped with a note. */
#ifndef DA_RECORD_FLATTEN_H
#define DA_RECORD_FLATTEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/engine.h"
#include "domauth.h"

typedef enum spf_flat_status {
    SPF_FLAT_OK,
    SPF_FLAT_REFUSED,   /* terms that cannot be flattened, or a result too large */
    SPF_FLAT_TEMPERROR, /* a DNS lookup the tree needs failed */
    SPF_FLAT_PERMERROR, /* the tree is broken: syntax, no record, a loop */
} spf_flat_status;

const char *spf_flat_status_name(spf_flat_status status);

enum {
    SPF_FLAT_RECORD_MAX = 450, /* TXT data per record, so the answer fits 512 bytes */
    SPF_FLAT_PARTS_MAX = 10,   /* each part is one include: the lookup limit */
    SPF_FLAT_PREFIX_MAX = 40,
};

typedef struct spf_flat_options {
    const char *prefix;  /* parts are PREFIX1.DOMAIN, PREFIX2.DOMAIN...; NULL: "_spf" */
    size_t record_max;   /* bytes of TXT data a record; 0: SPF_FLAT_RECORD_MAX */
} spf_flat_options;

typedef struct spf_flat spf_flat;

/* Returns NULL with the reason in err (a bad domain or prefix, no memory).
 * Free with spf_flat_free. */
spf_flat *spf_flat_new(const char *domain, const spf_flat_options *options, char *err,
                       size_t err_size);
void spf_flat_free(spf_flat *flat);

/* As an engine: step asks every independent question at once. */
da_engine da_engine_spf_flat(spf_flat *flat);
/* Runs to the end over a blocking resolver. 0, or -1 when it failed. */
int spf_flat_run(spf_flat *flat, da_resolver *resolver);

/* A problem that stops flattening, where it is: "a.example > include:b.example
 * term 3 (ptr)". Strings owned by the flat. */
typedef struct spf_flat_problem {
    spf_flat_status status;
    const char *code;    /* "ptr", "macro", "exists", "dns", "no-record", ... */
    const char *where;
    const char *message;
} spf_flat_problem;

/* One published record of the result: the head at DOMAIN, then the parts. */
typedef struct spf_flat_record {
    const char *name;
    const char *text;
    size_t answer_size; /* estimated UDP answer with just this record */
} spf_flat_record;

/* Results, once done. The status is the worst problem's (temperror, then
 * permerror, then refused), OK when there is none. */
spf_flat_status spf_flat_result(const spf_flat *flat);
size_t spf_flat_problem_count(const spf_flat *flat);
const spf_flat_problem *spf_flat_problem_get(const spf_flat *flat, size_t index);
/* Things worth knowing that do not stop it (exp= dropped, limits). */
size_t spf_flat_note_count(const spf_flat *flat);
const char *spf_flat_note_get(const spf_flat *flat, size_t index);

/* The flat terms, each "ip4:N/B" or a qualified "-ip6:N/B", disjoint and
 * minimal per result: the non-pass ones first, then pass (IPv4, IPv6). */
size_t spf_flat_term_count(const spf_flat *flat);
const char *spf_flat_term_get(const spf_flat *flat, size_t index);
/* The final term kept from the tree: "-all", "~all", "?all", "+all", or
 * "" when the tree has none (neutral). */
const char *spf_flat_default(const spf_flat *flat);
/* Pass prefixes by family (4 or 6). */
size_t spf_flat_pass_count(const spf_flat *flat, int family);
size_t spf_flat_record_count(const spf_flat *flat);
const spf_flat_record *spf_flat_record_get(const spf_flat *flat, size_t index);
/* DNS lookups a receiver makes for the chain (its includes). */
unsigned spf_flat_lookups(const spf_flat *flat);
/* What the published tree needs (lint's count along the worst path). */
unsigned spf_flat_tree_lookups(const spf_flat *flat);
const char *spf_flat_tree_path(const spf_flat *flat);
/* The shortest TTL of any answer the result depends on: the flat record
 * goes stale that many seconds after the lookups. */
uint32_t spf_flat_min_ttl(const spf_flat *flat);

/* --------------------------------------------------------------- state
 * A saved result, so the next run can say what changed:
 *
 *   domauth-spf-flatten 1
 *   domain example.com
 *   default -all
 *   ttl 3600
 *   saved 1796126461
 *   term ip4:192.0.2.0/24
 *   term -ip6:2001:db8::/32
 *   end
 *
 * Strict: those lines in that order, each ended by LF, any number of term
 * lines (canonical text as spf_flat_term_get writes it, none twice),
 * "default" one of -all ~all ?all +all or "none", nothing after "end". */
typedef struct spf_flat_state spf_flat_state;

/* Returns 0 with *out set (free with spf_flat_state_free), or -1 with
 * "line N: reason" in err. */
int spf_flat_state_parse(const char *text, size_t len, spf_flat_state **out, char *err,
                         size_t err_size);
void spf_flat_state_free(spf_flat_state *state);
const char *spf_flat_state_domain(const spf_flat_state *state);
const char *spf_flat_state_default(const spf_flat_state *state); /* "" for none */
int64_t spf_flat_state_saved(const spf_flat_state *state);
size_t spf_flat_state_term_count(const spf_flat_state *state);
const char *spf_flat_state_term_get(const spf_flat_state *state, size_t index);

/* The state of a successful flat, saved at now; free with free(). NULL
 * when out of memory or the flat has no result. */
char *spf_flat_state_format(const spf_flat *flat, int64_t now);

/* Calls emit for each term in the flat but not in old (added) and each in
 * old but not in the flat (removed), in their lists' order. Returns how
 * many (SIZE_MAX when out of memory); the default's change is not
 * counted (compare the defaults). */
size_t spf_flat_diff(const spf_flat_state *old, const spf_flat *flat,
                     void (*emit)(void *arg, bool added, const char *term), void *arg);

#endif
