/* results.h: the results vector, the one currency between the engines,
 * policy, the headers and the event log (../shared/design.md). Each entry
 * is one RFC 8601 resinfo: a method, its result, an optional reason and
 * comment, and properties such as smtp.mailfrom or header.d.
 *
 * Ownership: a vector owns every string in it (copied on add, in its own
 * arena); auth_results_free releases them all at once. */
#ifndef DA_AUTHRES_RESULTS_H
#define DA_AUTHRES_RESULTS_H

#include <stdbool.h>
#include <stddef.h>

#include "util/arena.h"

enum {
    AUTH_RESULT_MAX_PROPS = 8,
    /* Signatures and the like reported one clause each, at most; the rest
     * become one counted comment (a flood must not make a huge header). */
    AUTH_RESULTS_HEADER_CLAUSES = 16,
};

typedef struct auth_prop {
    const char *name;  /* "smtp.mailfrom", "header.d", "policy.from", ... */
    const char *value;
} auth_prop;

typedef struct auth_result {
    const char *method;  /* "spf", "dkim", "from", ... */
    const char *result;  /* "pass", "fail", "none", "permerror", ... */
    const char *reason;  /* reason= text, or NULL */
    const char *comment; /* the (comment) after the result, or NULL */
    const char *domain;  /* the domain judged (not in the header) */
    const char *detail;  /* e.g. SPF's matched mechanism (not in the header) */
    const char *explanation; /* SPF's exp= text or problem, for replies (not in the header) */
    const char *policy_as;   /* judge by this table instead of the method's ("invalid_from") */
    const char *sender;      /* the address checked, for %{sender} in replies (not in the header) */
    /* The action the judged domain asks for ("reject", "quarantine",
     * "none": a DMARC record's policy), or NULL; policy applies it where the
     * table honours requests (not in the header). */
    const char *requested;
    /* Why this result takes no action and no score although its table
     * says otherwise (a trusted ARC sealer vouched for the message), or
     * NULL; the caller owns the text (not in the header). */
    const char *overridden;
    /* More "name=value" properties, space-separated, for the event only
     * (not in the header): what DMARC's aggregate reports need (the
     * published record, alignment, the report URIs), or NULL. Owned by
     * the vector's arena. */
    const char *event_props;
    auth_prop props[AUTH_RESULT_MAX_PROPS];
    size_t prop_count;
} auth_result;

typedef struct auth_results {
    arena memory;
    auth_result *items;
    size_t count, capacity;
    bool failed; /* out of memory once: the vector is incomplete */
} auth_results;

void auth_results_init(auth_results *r);
void auth_results_free(auth_results *r);

/* Appends an entry (strings copied; NULL stays NULL) and returns it for
 * auth_result_prop, or NULL when out of memory (r->failed is then set). */
auth_result *auth_results_add(auth_results *r, const char *method, const char *result,
                              const char *reason, const char *domain, const char *detail);
/* Adds a property (copied); ignored past AUTH_RESULT_MAX_PROPS or for an
 * empty value. */
void auth_result_prop(auth_results *r, auth_result *entry, const char *name, const char *value);
void auth_result_comment(auth_results *r, auth_result *entry, const char *comment);
void auth_result_explanation(auth_results *r, auth_result *entry, const char *text);

/* The first entry of a method, or NULL. */
const auth_result *auth_results_find(const auth_results *r, const char *method);

/* The Authentication-Results value (without "Authentication-Results: "):
 * authserv-id, then one "; method=result ..." clause per entry, "; none" when there are none (RFC 8601 section 2.2). A method with
 * more than max_clauses entries (0: AUTH_RESULTS_HEADER_CLAUSES) reports the
 * first max_clauses and says how many more in one comment. Everything
 * quoted so that no value can leave its field. Caller frees with free(). */
char *auth_results_header(const auth_results *r, const char *authserv_id, size_t max_clauses);

#endif
