/* lint.h: checks a domain's published SPF tree (its record and those of
 * every include and redirect) and reports findings with their position.
 * Sans-I/O like the evaluator: step lists the DNS questions it needs, all
 * independent ones at once; answer feeds them back. Not an evaluator: it
 * asks no client IP and gives no SPF result. */
#ifndef DA_RECORD_LINT_H
#define DA_RECORD_LINT_H

#include <stdbool.h>
#include <stddef.h>

#include "dns/engine.h"
#include "domauth.h"

typedef enum spf_lint_severity {
    SPF_LINT_NOTE,    /* worth knowing; changes nothing */
    SPF_LINT_WARNING, /* works, but is wasteful, risky or deprecated */
    SPF_LINT_ERROR,   /* receivers get permerror (or worse) from it */
} spf_lint_severity;

const char *spf_lint_severity_name(spf_lint_severity severity);

/* One finding. Strings are owned by the lint. term is the 1-based index of
 * the term in the record as written (modifiers count), 0 for the record as
 * a whole; term_text is NULL then. */
typedef struct spf_lint_finding {
    spf_lint_severity severity;
    const char *code;      /* stable short name: "ptr", "lookup-limit", ... */
    const char *domain;    /* whose record; "(record)" for a record without a domain */
    unsigned term;
    const char *term_text;
    const char *message;
} spf_lint_finding;

typedef struct spf_lint spf_lint;

/* Lints domain's published record, or record (not NULL) as if published at
 * domain; domain may then be NULL, and terms that name no domain are not
 * looked up. Returns NULL when out of memory or given neither. Free with
 * spf_lint_free. */
spf_lint *spf_lint_new(const char *domain, const char *record);
void spf_lint_free(spf_lint *lint);

typedef struct spf_lint_step {
    bool done;
    size_t count;                     /* new questions to ask (0 while waiting) */
    const da_dns_question *questions; /* valid until the next step */
} spf_lint_step;

/* Lists the questions not yet handed out; each is listed once. done once
 * every question has been answered and the findings are made. */
spf_lint_step spf_lint_step_next(spf_lint *lint);
/* Feeds an answer; the lint copies what it keeps. Unknown questions are
 * ignored. */
void spf_lint_answer(spf_lint *lint, const da_dns_question *question,
                     const da_dns_answer *answer);
/* Runs to the end over a blocking resolver. 0, or -1 when it failed. */
int spf_lint_run(spf_lint *lint, da_resolver *resolver);

/* The lint as an engine (dns/engine.h), so it runs
 * on an event loop like the evaluator; the lint stays the caller's. With
 * no abort, a deadline answers what is still out as timeouts, which the
 * lint reports. */
da_engine da_engine_spf_lint(spf_lint *lint);

/* Estimated size in bytes of the UDP answer to name's TXT question
 * carrying count records of lens[i] bytes: header, question, and per
 * record a compressed name, the fixed fields and the character-strings
 * (at most 255 bytes each, one length byte each). Over 512 needs EDNS0 or
 * TCP. */
size_t spf_txt_answer_size(const char *name, const size_t *lens, size_t count);

/* Results, once done. */
size_t spf_lint_count(const spf_lint *lint);
const spf_lint_finding *spf_lint_get(const spf_lint *lint, size_t index);
size_t spf_lint_count_severity(const spf_lint *lint, spf_lint_severity severity);
unsigned spf_lint_lookups(const spf_lint *lint);      /* along the worst path */
const char *spf_lint_lookup_path(const spf_lint *lint); /* "a.example(3) > include:b(2)" */
unsigned spf_lint_void_lookups(const spf_lint *lint);
/* The record that was checked at the top (fetched or given), or NULL. */
const char *spf_lint_record(const spf_lint *lint);
/* 0 clean (notes only), 1 warnings only, 2 errors. */
int spf_lint_exit_status(const spf_lint *lint);

#endif
