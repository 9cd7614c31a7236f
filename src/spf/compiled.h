/* compiled.h: compiled SPF policies. Once a domain's record tree is held in
 * the DNS cache, check_host() over it is compiled into a small program of
 * prefix tests, so a warm check is a table lookup and a few prefix matches.
 * The program mirrors the walk in eval.c term by term, counters included
 * (DNS-querying terms, void lookups, answers used), so section 4.6.4's
 * limits strike at the same point. What depends on the client beyond its
 * address (macros, ptr), and what the cache does not hold yet, is a hole:
 * a check that reaches one is left to the walk. The walk stays the
 * reference; tests/unit/spf/compiled.c runs both and compares. */
#ifndef DA_SPF_COMPILED_H
#define DA_SPF_COMPILED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/resolver.h"
#include "domauth.h"
#include "macro.h"
#include "record.h"
#include "util/arena.h"
#include "util/ip.h"

typedef struct spf_policy spf_policy;
typedef struct spf_policy_table spf_policy_table;

/* What a policy is compiled for: the checked domain exactly as the walk
 * sees it (its spelling reaches %{d} and problem texts), the client's
 * address family (a and mx ask A or AAAA by it) and the limits. */
typedef struct spf_policy_key {
    const char *domain;
    int family; /* 4 or 6 */
    unsigned max_dns_terms, max_void, max_mx;
} spf_policy_key;

/* A compiled answer: what da_spf_eval_step would have set. */
typedef struct spf_policy_outcome {
    da_spf_result result;
    const char *mechanism, *problem; /* owned by the policy */
    /* For fail: the explanation still to expand for the client (macro
     * text, and the <domain> its %{d} stands for). */
    const char *exp_text, *exp_domain;
    size_t exp_len;
    unsigned dns_terms, void_lookups, queries;
} spf_policy_outcome;

spf_policy_table *spf_policy_table_new(size_t max_policies);
void spf_policy_table_free(spf_policy_table *table);
void spf_policy_table_stats(const spf_policy_table *table, da_spf_compiled_stats *out);

/* The valid policy for key under the cache state hold, as a reference
 * (release with spf_policy_release), or NULL. An invalid one is dropped.
 * No allocation. */
spf_policy *spf_policy_find(spf_policy_table *table, const resolver_hold *hold,
                            const spf_policy_key *key);
/* The client, for the terms that depend on more than its address: an
 * exists whose target has macros is expanded for it and looked up in the
 * cache as the walk would (held: answered here; not held: the walk). */
typedef struct spf_policy_client {
    const ip_addr *ip;
    spf_macro_context macros; /* all but .domain, which each record sets */
    da_resolver *resolver;    /* the cache the policy was found valid in */
    arena *scratch;           /* for the problem text of a DNS error there */
} spf_policy_client;

/* Runs the policy for the client (of family key->family). Returns 0 with
 * *out set, or -1: a hole was reached, the walk must answer. Allocates
 * nothing, but the problem text of a DNS error met by such an exists. */
int spf_policy_match(spf_policy_table *table, const spf_policy *policy,
                     const spf_policy_client *client, spf_policy_outcome *out);
void spf_policy_release(spf_policy *policy);

/* After a walk through resolver (which must offer hold_state and pin):
 * compiles key's policy from the answers the cache holds, unless a valid
 * one exists whose holes the cache still cannot fill. records shares
 * parsed records. Failures only mean no policy. */
void spf_policy_update(spf_policy_table *table, da_spf_record_cache *records,
                       da_resolver *resolver, const spf_policy_key *key);

/* Shared with eval.c, so the two agree on every detail. */
bool spf_name_is_queryable(const char *name);
bool spf_domain_is_checkable(const char *domain);
da_spf_result spf_qualifier_result(char qualifier);
extern const char spf_default_explanation[];

#endif
