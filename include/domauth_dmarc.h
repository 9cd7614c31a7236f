/* domauth_dmarc.h: DMARC (RFC 9989, with RFC 7489 as an option), in
 * libdomauth. Like the SPF evaluator and the DKIM verifier, the DMARC
 * evaluator does no I/O: it asks for the TXT records at _dmarc.<name> (and,
 * for np, the From domain's A, AAAA and MX) as da_dns_question values and is
 * fed da_dns_answer values. It does not run SPF or DKIM: the caller passes
 * their outcomes in. Objects are opaque; each constructor names the function
 * that frees what it returns. */
#ifndef DOMAUTH_DMARC_H
#define DOMAUTH_DMARC_H

#include "domauth.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The dmarc= results of RFC 8601 section 2.7.x, in this order (the policy
 * tables are indexed by it). */
typedef enum da_dmarc_result {
    DA_DMARC_NONE = 0,  /* no DMARC policy record for the From domain */
    DA_DMARC_PASS,      /* an aligned SPF or DKIM pass */
    DA_DMARC_FAIL,      /* a policy record, and nothing aligned passed */
    DA_DMARC_TEMPERROR, /* a DNS error where the answer mattered */
    DA_DMARC_PERMERROR, /* only malformed DMARC records were found */
} da_dmarc_result;
#define DA_DMARC_RESULT_COUNT 5

const char *da_dmarc_result_name(da_dmarc_result result);

/* Which standard the evaluator follows. RFC 9989 finds the policy and the
 * organizational domain by the DNS tree walk; RFC 7489 by a public suffix
 * list (libpsl's), and honours pct=. */
typedef enum da_dmarc_mode {
    DA_DMARC_RFC9989 = 0,
    DA_DMARC_RFC7489,
} da_dmarc_mode;

typedef enum da_dmarc_policy {
    DA_DMARC_POLICY_NONE = 0,
    DA_DMARC_POLICY_QUARANTINE,
    DA_DMARC_POLICY_REJECT,
} da_dmarc_policy;

const char *da_dmarc_policy_name(da_dmarc_policy policy);

typedef enum da_dmarc_psd {
    DA_DMARC_PSD_U = 0, /* absent or psd=u: the tree walk goes on */
    DA_DMARC_PSD_Y,     /* a public suffix domain */
    DA_DMARC_PSD_N,     /* an organizational domain */
} da_dmarc_psd;

enum {
    /* A DMARC record longer than this is refused (a TXT record this long
     * is an attack or an accident, not a policy). */
    DA_DMARC_RECORD_MAX = 4096,
    /* rua= and ruf= are kept as text up to this; longer is an error. */
    DA_DMARC_URI_LIST_MAX = 1024,
    /* RFC 9989 section 4.10: at most eight queries per tree walk. */
    DA_DMARC_WALK_QUERIES_MAX = 8,
    /* DKIM domains aligned against From: at most this many distinct ones
     * are walked (each is a tree walk of its own). */
    DA_DMARC_DKIM_DOMAINS_MAX = 8,
};

/* A parsed DMARC record. The has_ flags say whether a tag was present. */
typedef struct da_dmarc_record {
    da_dmarc_policy p, sp, np;
    bool has_p, has_sp, has_np;
    da_dmarc_psd psd;
    bool testing;      /* t=y */
    bool adkim_strict; /* adkim=s */
    bool aspf_strict;  /* aspf=s */
    unsigned pct;      /* 0..100; 100 when absent (RFC 7489 mode only) */
    bool has_pct;
    char rua[DA_DMARC_URI_LIST_MAX + 1]; /* as published, "" when absent */
    char ruf[DA_DMARC_URI_LIST_MAX + 1];
    char fo[16]; /* "0" when absent */
} da_dmarc_record;

/* Is this TXT text meant as a DMARC record (does it start with v=DMARC1)?
 * The others at _dmarc.<name> are discarded unread (RFC 9989 section 4.10). */
bool da_dmarc_record_is_dmarc(const char *text, size_t len);

/* Parses a record that starts with v=DMARC1. Returns 0 with *out filled,
 * or -1 with err naming the tag and its byte position ("position 17: adkim:
 * 'x' is not r or s"). Unknown tags are ignored; in RFC 9989 mode pct, rf
 * and ri are accepted unread (the RFC removed them); in RFC 7489 mode pct
 * must be 0..100 and ri a number. A p= that is not none, quarantine or
 * reject makes the record p=none when rua= holds a URI (RFC 7489 section
 * 6.6.3; RFC 9989 keeps the rule), and an error otherwise. */
int da_dmarc_record_parse(const char *text, size_t len, da_dmarc_mode mode, da_dmarc_record *out,
                          char *err, size_t err_size);

/* -------------------------------------------------------------- evaluation */

typedef struct da_dmarc_request {
    const char *from_domain; /* the RFC5322.From domain (one; see the service for several) */
    /* SPF: the MAIL FROM domain, used only when spf_pass (RFC 9989 section
     * 4.4: only an SPF pass of the MAIL FROM identity can align). */
    const char *spf_domain;
    bool spf_pass;
    /* The d= of each DKIM signature that verified (pass). */
    const char *const *dkim_domains;
    size_t dkim_count;
    da_dmarc_mode mode;
    /* Whether the From domain exists (for np): -1 unknown, and the
     * evaluator asks for its A, AAAA and MX when it needs to know; 0 it does
     * not; 1 it does. */
    int from_exists;
    /* RFC 7489 mode: 0..99, compared with pct= (a message is subject to
     * the policy when pct_roll < pct). The caller draws it; the evaluator
     * has no random source. */
    unsigned pct_roll;
} da_dmarc_request;

typedef struct da_dmarc_eval da_dmarc_eval;

/* Returns NULL with err set when the request is unusable (no From domain,
 * a name too long, RFC 7489 mode without libpsl in this build). Free with
 * da_dmarc_eval_free. */
da_dmarc_eval *da_dmarc_eval_new(const da_dmarc_request *request, char *err, size_t err_size);
void da_dmarc_eval_free(da_dmarc_eval *eval);

typedef struct da_dmarc_step {
    bool done;
    size_t count;                     /* questions to ask now (0 while waiting) */
    const da_dns_question *questions; /* valid until the next step */
} da_dmarc_step;

/* Lists the questions to ask now; each is asked once. done when the result
 * is known. Answers may come in any order. */
da_dmarc_step da_dmarc_eval_step(da_dmarc_eval *eval);
void da_dmarc_eval_answer(da_dmarc_eval *eval, const da_dns_question *question,
                          const da_dns_answer *answer);
/* Ends now with a temperror (a deadline passed). */
void da_dmarc_eval_abort(da_dmarc_eval *eval, const char *reason);

/* What the evaluation found; strings owned by the eval. */
da_dmarc_result da_dmarc_eval_result(const da_dmarc_eval *eval);
/* The domain whose record was used (the policy domain), or NULL. */
const char *da_dmarc_eval_policy_domain(const da_dmarc_eval *eval);
/* The From domain's organizational domain (RFC 9989 section 4.10.2, or the
 * public suffix list's in RFC 7489 mode), or NULL when not determined. */
const char *da_dmarc_eval_org_domain(const da_dmarc_eval *eval);
/* The policy record, or NULL when none was found. */
const da_dmarc_record *da_dmarc_eval_record(const da_dmarc_eval *eval);
/* The policy that applies to the From domain: p, sp or np of the record
 * (which one: da_dmarc_eval_policy_tag), before and after t=y (or pct= in
 * RFC 7489 mode) softened it. DA_DMARC_POLICY_NONE without a record. */
da_dmarc_policy da_dmarc_eval_published_policy(const da_dmarc_eval *eval);
da_dmarc_policy da_dmarc_eval_policy(const da_dmarc_eval *eval);
const char *da_dmarc_eval_policy_tag(const da_dmarc_eval *eval); /* "p", "sp", "np" or NULL */
/* True when t=y (or pct= sampling) softened the policy. */
bool da_dmarc_eval_softened(const da_dmarc_eval *eval);
/* Which identifiers aligned: SPF's MAIL FROM domain, and the first aligned
 * DKIM d= (NULL when none). */
bool da_dmarc_eval_spf_aligned(const da_dmarc_eval *eval);
const char *da_dmarc_eval_dkim_aligned(const da_dmarc_eval *eval);
/* Why the result is what it is, in words ("no DMARC record", "_dmarc.x:
 * position 3: ..."), or NULL. */
const char *da_dmarc_eval_problem(const da_dmarc_eval *eval);
/* How many DNS questions were asked. */
unsigned da_dmarc_eval_queries(const da_dmarc_eval *eval);
/* "treewalk" or "psl": how the policy was discovered (RFC 9990's
 * discovery_method). */
const char *da_dmarc_eval_discovery(const da_dmarc_eval *eval);

/* The organizational domains by the public suffix list, for RFC 7489 mode:
 * true when this build has libpsl. */
bool da_dmarc_have_psl(void);

#ifdef __cplusplus
}
#endif

#endif
