/* domauth_dkim.h: DKIM signing and verification (RFC 6376, with RFC 8301's
 * algorithm rules and RFC 8463's ed25519-sha256), in libdomauth.
 * Like the SPF evaluator, the verifier does no I/O: it asks for the key
 * records it needs as da_dns_question values and is fed da_dns_answer values.
 * It reads no clock either: the caller passes "now". Objects are opaque; each
 * constructor names the function that frees what it returns. */
#ifndef DOMAUTH_DKIM_H
#define DOMAUTH_DKIM_H

#include "domauth.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Messages are fed as bytes, in chunks of any size. A bare LF is read as
 * CRLF (mail read from a file or a pipe); CRLF stays CRLF. Header fields are
 * buffered (at most max_header_bytes); the body is canonicalized and hashed
 * as it arrives, so memory does not grow with the body. */

/* ------------------------------------------------------------- results */

/* The dkim= results of RFC 8601 section 2.7.1. */
typedef enum da_dkim_result {
    DA_DKIM_NONE = 0,  /* the message is not signed */
    DA_DKIM_PASS,
    DA_DKIM_FAIL,      /* the signature, body hash or timing did not check out */
    DA_DKIM_NEUTRAL,   /* e.g. rsa-sha1 under DA_DKIM_SHA1_NEUTRAL */
    DA_DKIM_POLICY,    /* valid, but refused by local policy */
    DA_DKIM_TEMPERROR, /* the key could not be fetched (DNS) */
    DA_DKIM_PERMERROR, /* malformed signature or key record, no key, revoked key... */
} da_dkim_result;

const char *da_dkim_result_name(da_dkim_result result);

typedef enum da_dkim_canon {
    DA_DKIM_SIMPLE = 0,
    DA_DKIM_RELAXED,
} da_dkim_canon;

typedef enum da_dkim_algorithm {
    DA_DKIM_RSA_SHA256 = 0,
    DA_DKIM_ED25519_SHA256,
    DA_DKIM_RSA_SHA1, /* verified only; never used to sign (RFC 8301) */
} da_dkim_algorithm;

const char *da_dkim_algorithm_name(da_dkim_algorithm algorithm);

/* ---------------------------------------------------------------- keys */

/* A private key for signing (RSA or Ed25519). */
typedef struct da_dkim_key da_dkim_key;

typedef enum da_dkim_key_type {
    DA_DKIM_KEY_RSA = 0,
    DA_DKIM_KEY_ED25519,
} da_dkim_key_type;

/* Generates a key; bits is for RSA only (1024..8192; 0: 2048). */
da_dkim_key *da_dkim_key_generate(da_dkim_key_type type, unsigned bits, char *err,
                                  size_t err_size);
/* Loads a PEM private key (PKCS#8 or traditional RSA), or a bare base64
 * Ed25519 seed of 32 bytes (the form dkimpy and Exim use). */
da_dkim_key *da_dkim_key_load(const char *text, size_t len, char *err, size_t err_size);
void da_dkim_key_free(da_dkim_key *key);
da_dkim_key_type da_dkim_key_get_type(const da_dkim_key *key);
unsigned da_dkim_key_bits(const da_dkim_key *key);
/* PKCS#8 PEM of the private key. Caller frees with free(). */
char *da_dkim_key_private_pem(const da_dkim_key *key);
/* The key record to publish: "v=DKIM1; k=rsa; p=...". Caller frees. */
char *da_dkim_key_record(const da_dkim_key *key);
/* Checks that a published key record parses and holds the public half of
 * key. Returns 0 when it does, 1 when it parses but does not match (or is
 * revoked), -1 when it does not parse; err says why. */
int da_dkim_key_check_record(const da_dkim_key *key, const char *record, size_t len,
                             char *err, size_t err_size);
/* Checks a key record's syntax and key alone (no private key). Returns 0, or
 * -1 with the reason in err. bits gets the key size when non-NULL. */
int da_dkim_record_check(const char *record, size_t len, unsigned *bits, char *err,
                         size_t err_size);

/* ------------------------------------------------------------- signing */

typedef struct da_dkim_sign_options {
    const char *domain;          /* d=, required */
    const char *selector;        /* s=, required */
    const da_dkim_key *key;      /* required; rsa-sha256 or ed25519-sha256 follows */
    da_dkim_canon header_canon;  /* c= header part (default simple, as the RFC) */
    da_dkim_canon body_canon;    /* c= body part */
    /* Header fields to sign, colon-separated ("from:to:subject"). NULL: From,
     * To, Cc, Subject, Date, Message-ID, Reply-To, In-Reply-To, References,
     * MIME-Version, Content-Type, Content-Transfer-Encoding, Sender, List-*
     * basics when present. Each name is listed once per instance present. */
    const char *headers;
    /* Over-signing: From, To, Subject and Date are listed once more than they
     * occur, so an added instance breaks the signature. On by default. */
    bool no_oversign;
    const char *identity;        /* i=, or NULL for none (the verifier uses @d) */
    int64_t timestamp;           /* t=, seconds since the epoch; 0: none */
    int64_t expiration;          /* x=; 0: none; must be after timestamp */
    bool body_length;            /* add l= (the whole body); off by default */
    size_t max_header_bytes;     /* 0: 1 MiB */
} da_dkim_sign_options;

typedef struct da_dkim_sign da_dkim_sign;

/* The key must outlive the signer. Returns NULL with a reason in err. */
da_dkim_sign *da_dkim_sign_new(const da_dkim_sign_options *options, char *err,
                               size_t err_size);
void da_dkim_sign_free(da_dkim_sign *sign);
/* Feeds the next bytes of the message. Returns 0, or -1 once the message is
 * unusable (e.g. the header block is too large); finish then says why. */
int da_dkim_sign_feed(da_dkim_sign *sign, const void *data, size_t len);
/* Ends the message and returns the whole field "DKIM-Signature: ...", folded
 * with CRLF + TAB, without a final line ending. Caller frees with free().
 * NULL with the reason in err (no From field, unusable message, crypto). */
char *da_dkim_sign_finish(da_dkim_sign *sign, char *err, size_t err_size);

/* -------------------------------------------------------- verification */

typedef enum da_dkim_sha1_policy {
    DA_DKIM_SHA1_FAIL = 0, /* RFC 8301: rsa-sha1 is not valid: fail */
    DA_DKIM_SHA1_NEUTRAL,  /* report a good rsa-sha1 signature as neutral */
} da_dkim_sha1_policy;

/* Decoded public keys shared between verifications, keyed by the key
 * record's text, so a busy signer's key is decoded once rather than per
 * message (decoding an RSA key costs several RSA verifications). Bounded;
 * one per thread. */
typedef struct da_dkim_key_cache da_dkim_key_cache;
da_dkim_key_cache *da_dkim_key_cache_new(size_t slots); /* 0: 1024 */
void da_dkim_key_cache_free(da_dkim_key_cache *cache);
void da_dkim_key_cache_stats(const da_dkim_key_cache *cache, uint64_t *hits, uint64_t *decodes);

typedef struct da_dkim_verify_options {
    int64_t now;                 /* seconds since the epoch, for x= (required) */
    da_dkim_sha1_policy sha1;
    unsigned min_rsa_bits;       /* 0: 1024 (RFC 8301); less is refused */
    unsigned max_signatures;     /* 0: 8; later ones are permerror, not evaluated */
    size_t max_header_bytes;     /* 0: 1 MiB; more makes every signature permerror */
    da_dkim_key_cache *key_cache; /* optional; must outlive the verification */
} da_dkim_verify_options;

typedef struct da_dkim_verify da_dkim_verify;

da_dkim_verify *da_dkim_verify_new(const da_dkim_verify_options *options, char *err,
                                   size_t err_size);
void da_dkim_verify_free(da_dkim_verify *verify);
/* Feeds the next bytes of the message. Returns 0, or -1 once the message is
 * unusable (every signature then ends in permerror with the reason). */
int da_dkim_verify_feed(da_dkim_verify *verify, const void *data, size_t len);
/* Marks the end of the message. */
void da_dkim_verify_finish(da_dkim_verify *verify);

typedef enum da_dkim_step_kind {
    /* Answer the listed questions, then step again. count is 0 when every
     * question has been handed out but some are still unanswered. */
    DA_DKIM_STEP_QUERIES,
    DA_DKIM_STEP_INPUT,   /* feed more of the message, or finish it */
    DA_DKIM_STEP_DONE,    /* every signature has its result */
} da_dkim_step_kind;

typedef struct da_dkim_step {
    da_dkim_step_kind kind;
    size_t count;                     /* questions not yet handed out */
    const da_dns_question *questions; /* valid until the next step */
} da_dkim_step;

/* May be called as soon as the header block has been fed: key questions go
 * out while the body is still arriving. Each question is listed once. */
da_dkim_step da_dkim_verify_step(da_dkim_verify *verify);
/* Feeds the TXT answer to a question; the verifier copies what it keeps.
 * Answers to questions it did not ask are ignored. */
void da_dkim_verify_answer(da_dkim_verify *verify, const da_dns_question *question,
                           const da_dns_answer *answer);
/* Steps to the end over a blocking resolver, after finish. */
int da_dkim_verify_run(da_dkim_verify *verify, da_resolver *resolver);

/* One signature's outcome. Strings are owned by the verifier; any may be
 * "" when the signature did not parse that far. */
typedef struct da_dkim_signature_info {
    da_dkim_result result;
    const char *reason;     /* why, in a few words */
    const char *domain;     /* d= */
    const char *selector;   /* s= */
    const char *identity;   /* i=, or "@" d= when absent */
    const char *algorithm;  /* a= as written */
    const char *header_b;   /* the first 12 characters of b= (RFC 6008) */
    int64_t body_length;    /* l=, or -1 when absent */
    uint64_t body_bytes;    /* canonicalized body bytes seen */
    int64_t timestamp;      /* t=, or -1 */
    int64_t expiration;     /* x=, or -1 */
    unsigned key_bits;      /* 0 when no key was read */
    bool testing;           /* the key record has t=y */
} da_dkim_signature_info;

/* Results, valid once a step returned DA_DKIM_STEP_DONE: one per
 * DKIM-Signature field, in header order (top first). */
size_t da_dkim_verify_count(const da_dkim_verify *verify);
int da_dkim_verify_get(const da_dkim_verify *verify, size_t index,
                       da_dkim_signature_info *info);
/* The dkim= clause of Authentication-Results for one signature ("dkim=none"
 * when index == count == 0), safe in a header whatever the message held.
 * Caller frees with free(). */
char *da_dkim_authres_clause(const da_dkim_verify *verify, size_t index);

#ifdef __cplusplus
}
#endif
#endif
