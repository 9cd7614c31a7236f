/* domauth_arc.h: ARC, the Authenticated Received Chain (RFC 8617), in
 * libdomauth: validating the chain of ARC sets a message carries, and
 * adding this host's set when it forwards. Built on the DKIM engine (same
 * canonicalization, tag lists, key records and algorithms: rsa-sha256 and,
 * beyond RFC 8617, ed25519-sha256).
 * Like the DKIM verifier, the ARC verifier does no I/O: it asks for the
 * sealers' key records as da_dns_question values and is fed da_dns_answer
 * values. Objects are opaque; each constructor names its free function. */
#ifndef DOMAUTH_ARC_H
#define DOMAUTH_ARC_H

#include "domauth.h"
#include "domauth_dkim.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { DA_ARC_MAX_INSTANCE = 50 }; /* RFC 8617 section 4.2.1 */

/* The chain validation status (cv=, and arc= in Authentication-Results). */
typedef enum da_arc_cv {
    DA_ARC_NONE = 0, /* no ARC sets */
    DA_ARC_PASS,
    DA_ARC_FAIL,
} da_arc_cv;

const char *da_arc_cv_name(da_arc_cv cv);

/* -------------------------------------------------------- verification */

typedef struct da_arc_verify_options {
    unsigned min_rsa_bits;        /* 0: 1024 (RFC 8301) */
    size_t max_header_bytes;      /* 0: 1 MiB; more makes the chain fail */
    da_dkim_key_cache *key_cache; /* optional; must outlive the verification */
} da_arc_verify_options;

typedef struct da_arc_verify da_arc_verify;

da_arc_verify *da_arc_verify_new(const da_arc_verify_options *options, char *err,
                                 size_t err_size);
void da_arc_verify_free(da_arc_verify *verify);
/* Feeds the next bytes of the message (bare LF read as CRLF). Returns 0, or
 * -1 once the message is unusable (the chain then fails with the reason). */
int da_arc_verify_feed(da_arc_verify *verify, const void *data, size_t len);
void da_arc_verify_finish(da_arc_verify *verify);

/* Steps are the DKIM verifier's: questions to answer, more input, or done. */
typedef da_dkim_step da_arc_step;

/* May be called once the header block is in: key questions go out while
 * the body is still arriving. Each question is listed once. */
da_arc_step da_arc_verify_step(da_arc_verify *verify);
/* The TXT answer to a question; the verifier copies what it keeps. */
void da_arc_verify_answer(da_arc_verify *verify, const da_dns_question *question,
                          const da_dns_answer *answer);
/* Steps to the end over a blocking resolver, after finish. */
int da_arc_verify_run(da_arc_verify *verify, da_resolver *resolver);

/* The chain's outcome, valid once a step returned DA_DKIM_STEP_DONE.
 * Strings are owned by the verifier. */
typedef struct da_arc_result {
    da_arc_cv cv;
    const char *reason;    /* why, in a few words ("" for none) */
    unsigned instances;    /* N, the highest instance (0: none) */
    /* The lowest instance from which every AMS up to N validates (RFC 8617
     * section 5.2 step 5): 1 when the message is as the first sealer saw
     * it; 0 unless cv is pass. */
    unsigned oldest_pass;
    /* The failure came from a DNS timeout or server failure, not from the
     * message: a caller may defer rather than act on cv=fail. */
    bool temporary;
} da_arc_result;

int da_arc_verify_result(const da_arc_verify *verify, da_arc_result *result);

/* One ARC set, as far as it parsed ("" or DA_DKIM_NONE beyond that). */
typedef struct da_arc_set_info {
    unsigned instance;
    const char *seal_domain, *seal_selector, *seal_algorithm; /* ARC-Seal d= s= a= */
    da_arc_cv seal_cv;           /* the cv= this seal recorded */
    da_dkim_result seal_result;  /* DA_DKIM_NONE: not evaluated */
    const char *seal_reason;
    const char *ams_domain, *ams_selector, *ams_algorithm;
    da_dkim_result ams_result;   /* DA_DKIM_NONE: not evaluated */
    const char *ams_reason;
    /* The ARC-Authentication-Results payload after "i=N;": authserv-id and
     * results, unfolded (line breaks removed), printable ASCII only. */
    const char *authres;
} da_arc_set_info;

/* Sets by instance, index 0 for i=1, up to the count (the sets collected;
 * 0 when the chain's structure was already broken). */
size_t da_arc_verify_count(const da_arc_verify *verify);
int da_arc_verify_get(const da_arc_verify *verify, size_t index, da_arc_set_info *info);

/* The arc= clause of Authentication-Results (RFC 8617 section 10.1):
 * "arc=pass (...) header.oldest-pass=1 smtp.remote-ip=192.0.2.1", the
 * sealers' domains in the comment; remote_ip may be NULL. Safe in a header
 * whatever the message held. Caller frees with free(). */
char *da_arc_authres_clause(const da_arc_verify *verify, const char *remote_ip);

/* ------------------------------------------------------------- sealing */

typedef struct da_arc_seal_options {
    const char *domain;          /* d= of the AMS and the seal, required */
    const char *selector;        /* s=, required */
    const da_dkim_key *key;      /* required; rsa-sha256 or ed25519-sha256 follows */
    /* The Authentication-Results payload this host wrote for the message:
     * "authserv-id; method=result ...", without the field name; it becomes
     * the ARC-Authentication-Results after "i=N; ". Required. */
    const char *authres;
    /* The chain's status as this host validated it on arrival (RFC 8617
     * section 5.1.1): none when the message has no ARC sets, else pass or
     * fail. A failed chain is sealed with cv=fail over this set alone. */
    da_arc_cv cv;
    /* Header fields the AMS signs, colon-separated; NULL: the DKIM signer's
     * default list (From, To, Cc, Subject, Date, Message-ID, ...), From,
     * To, Subject and Date over-signed. ARC-Seal is never signed. */
    const char *headers;
    int64_t timestamp;           /* t= of both signatures; 0: none */
    size_t max_header_bytes;     /* 0: 1 MiB */
} da_arc_seal_options;

typedef struct da_arc_seal da_arc_seal;

/* The key must outlive the sealer. NULL with the reason in err. */
da_arc_seal *da_arc_seal_new(const da_arc_seal_options *options, char *err, size_t err_size);
void da_arc_seal_free(da_arc_seal *seal);
/* For a sealer that learns the chain's status and its Authentication-
 * Results only once the message has passed (a milter): replaces the cv
 * and authres given at creation, before finish. 0, or -1 with why. */
int da_arc_seal_set_result(da_arc_seal *seal, da_arc_cv cv, const char *authres, char *err,
                           size_t err_size);
int da_arc_seal_feed(da_arc_seal *seal, const void *data, size_t len);
/* Ends the message and returns the new set as three folded fields to
 * prepend, in this order and separated by CRLF, without a final line end:
 * "ARC-Seal: ...", "ARC-Message-Signature: ...",
 * "ARC-Authentication-Results: ...". instance gets i= when non-NULL.
 * Caller frees with free(). NULL with the reason in err (the chain has 50
 * sets already, cv does not fit the message, no From, crypto...). */
char *da_arc_seal_finish(da_arc_seal *seal, unsigned *instance, char *err, size_t err_size);

#ifdef __cplusplus
}
#endif
#endif
