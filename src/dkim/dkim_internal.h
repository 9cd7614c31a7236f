/* dkim_internal.h: the pieces the DKIM signer and verifier share, and that
 * unit tests and fuzzers reach directly: the tag-list parser, base64, the
 * canonicalizers, key records and DKIM-Signature parsing. Not public API. */
#ifndef DA_DKIM_INTERNAL_H
#define DA_DKIM_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "domauth_dkim.h"
#include "util/strbuf.h"

enum {
    DKIM_MAX_TAGS = 64,          /* far above the 13 tags RFC 6376 defines */
    DKIM_MAX_SIGNED_HEADERS = 256,
    DKIM_MAX_RSA_BITS = 8192,    /* bounds verification cost */
    DKIM_MAX_SIGNATURE_BYTES = 1024,
    DKIM_MAX_KEPT_RECORDS = 4,     /* TXT records kept per key answer */
    DKIM_MAX_RECORD_BYTES = 8192,  /* a key record longer than this is refused */
};

/* ------------------------------------------------------ tag=value lists */

/* One tag; pointers into the parsed text. value is trimmed of FWS at both
 * ends; raw_value spans everything between '=' and the next ';' (what the
 * verifier empties for b=). */
typedef struct dkim_tag {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
    size_t raw_value_start, raw_value_end; /* offsets into the text */
} dkim_tag;

typedef struct dkim_tag_list {
    dkim_tag tags[DKIM_MAX_TAGS];
    size_t count;
} dkim_tag_list;

/* RFC 6376 section 3.2. Returns 0, or -1 with the reason in err (a
 * malformed spec, a duplicate tag, a forbidden character, too many tags). */
int dkim_tags_parse(const char *text, size_t len, dkim_tag_list *out, char *err,
                    size_t err_size);
const dkim_tag *dkim_tags_find(const dkim_tag_list *list, const char *name);

/* Base64 that may hold FWS (folded b= and p= values). Returns the decoded
 * length, or -1 on a bad character, bad padding or a truncated group. out
 * must hold len * 3 / 4 + 3 bytes. */
long dkim_base64_decode(const char *text, size_t len, unsigned char *out, size_t out_size);
void dkim_base64_encode(strbuf *out, const unsigned char *data, size_t len);

/* ----------------------------------------------------- canonicalization */

/* Appends one header field (name, colon, value, with its CRLF when
 * with_crlf) in the given canonical form. field is the raw field, folding
 * included, without its final CRLF. */
void dkim_canon_header(strbuf *out, da_dkim_canon canon, const char *field, size_t len,
                       bool with_crlf);

/* The body canonicalizer: a byte-at-a-time state machine that holds back
 * only what it cannot decide yet (trailing empty lines are a count, a
 * whitespace run is a flag), so it needs no buffer that grows with the body.
 * Output goes to emit in pieces; limit (-1: none) caps what is emitted, as
 * l= does, while total counts every canonical byte. */
typedef void (*dkim_emit_fn)(void *arg, const unsigned char *data, size_t len);

typedef struct dkim_body_canon {
    da_dkim_canon canon;
    dkim_emit_fn emit;
    void *emit_arg;
    int64_t limit;
    uint64_t total;      /* canonical bytes produced, beyond limit included */
    uint64_t emitted;    /* canonical bytes handed to emit */
    uint64_t held_crlf;  /* line ends not yet known to be trailing */
    bool held_cr;        /* a CR that may start a CRLF */
    bool held_space;     /* relaxed: a whitespace run inside a line */
    bool any_content;    /* relaxed: something but empty lines seen */
    unsigned char buf[4096];
    size_t buf_len;
} dkim_body_canon;

void dkim_body_canon_init(dkim_body_canon *bc, da_dkim_canon canon, int64_t limit,
                          dkim_emit_fn emit, void *emit_arg);
void dkim_body_canon_feed(dkim_body_canon *bc, const unsigned char *data, size_t len);
void dkim_body_canon_finish(dkim_body_canon *bc);

/* ----------------------------------------------------------- key records */

typedef struct dkim_key_record {
    EVP_PKEY *key;       /* NULL when revoked (empty p=) */
    /* An RSA PKCS#1 SHA-256 verify context set up once (a fresh one per
     * message cost some 85,000 instructions, a tenth of a verification):
     * made and owned by the key cache's slot; the copies the cache hands
     * out borrow it, and are used before the next lookup in that cache
     * (one cache per thread). NULL: set up per verification. */
    EVP_PKEY_CTX *rsa_sha256_verify;
    bool owns_verify_ctx;
    bool revoked;
    bool is_ed25519;
    bool allows_sha1, allows_sha256; /* h= */
    bool testing;        /* t=y */
    bool strict_identity; /* t=s */
    unsigned bits;
} dkim_key_record;

/* RFC 6376 section 3.6.1 (and RFC 8463 k=ed25519). Returns 0 (possibly
 * revoked), or -1 with the reason in err. Free with dkim_key_record_clear. */
int dkim_key_record_parse(const char *text, size_t len, dkim_key_record *out, char *err,
                          size_t err_size);
void dkim_key_record_clear(dkim_key_record *rec);
/* dkim_key_record_parse through a cache of decoded keys (cache may be NULL). */
int dkim_key_record_parse_cached(da_dkim_key_cache *cache, const char *text, size_t len,
                                 dkim_key_record *out, char *err, size_t err_size);

/* ----------------------------------------------------- key lookups */

/* One key record question and what its answer held (keyquery.c). */
typedef struct dkim_key_query {
    char name[256];          /* selector._domainkey.domain, no final dot */
    bool listed, answered;
    da_dns_status status;
    size_t record_count;
    char *records[DKIM_MAX_KEPT_RECORDS];
    size_t record_lens[DKIM_MAX_KEPT_RECORDS];
    bool records_dropped;    /* more, or longer, than we keep */
} dkim_key_query;

void dkim_key_query_init(dkim_key_query *q, const char *name);
void dkim_key_query_clear(dkim_key_query *q);
/* The question is this query's (TXT, same name, a final dot allowed) and
 * it has no answer yet. */
bool dkim_key_query_matches(const dkim_key_query *q, const da_dns_question *question);
/* Copies the TXT records the query keeps. */
void dkim_key_query_answer(dkim_key_query *q, const da_dns_answer *answer);
/* The first record that parses into rec (DA_DKIM_PASS), or the temperror or
 * permerror the answer gives, with why. Clear rec after a pass. */
da_dkim_result dkim_key_query_select(da_dkim_key_cache *cache, const dkim_key_query *q,
                                     dkim_key_record *rec, char *why, size_t why_size);
/* Refuses a key the signature may not use (RFC 6376 6.1.2, RFC 8301):
 * revoked, wrong type, h= not allowing the hash, RSA size, t=s. 0 or -1. */
int dkim_key_check_fits(const dkim_key_record *rec, da_dkim_algorithm algorithm,
                        const char *algorithm_text, const char *identity, const char *domain,
                        unsigned min_rsa_bits, char *why, size_t why_size);

/* ------------------------------------------------------ DKIM-Signature */

typedef struct dkim_signature {
    da_dkim_algorithm algorithm;
    char algorithm_text[32];
    da_dkim_canon header_canon, body_canon;
    char domain[256];
    char selector[256];
    char identity[512];           /* i=, or "@" d= */
    char query_name[256];         /* selector._domainkey.domain */
    char header_b[13];           /* RFC 6008: the first 12 characters of b= */
    unsigned char body_hash[64];
    size_t body_hash_len;
    unsigned char signature[DKIM_MAX_SIGNATURE_BYTES];
    size_t signature_len;
    /* h=: names, pointing into the field text the signature was parsed from. */
    const char *headers[DKIM_MAX_SIGNED_HEADERS];
    size_t header_lens[DKIM_MAX_SIGNED_HEADERS];
    size_t header_count;
    int64_t body_length;          /* -1: absent */
    int64_t timestamp, expiration; /* -1: absent */
    size_t b_value_start, b_value_end; /* offsets of b='s raw value in the field */
    unsigned instance;            /* ARC-Message-Signature: i= (1..50); else 0 */
} dkim_signature;

/* Parses and checks the value of a DKIM-Signature field (field points at the
 * whole field, value_offset at the first byte after the colon). Returns 0,
 * or -1 with the reason in err; domain, selector, identity and algorithm are
 * filled as far as the parse got, for reporting. */
int dkim_signature_parse(const char *field, size_t len, size_t value_offset,
                         dkim_signature *sig, char *err, size_t err_size);

/* The same for the value of an ARC-Message-Signature (RFC 8617 section
 * 4.1.2): DKIM's tags and checks, but i= is the instance (1..max_instance)
 * rather than an identity, there is no v=, and h= must not list ARC-Seal.
 * identity is "@" d=. */
int dkim_signature_parse_ams(const char *field, size_t len, size_t value_offset,
                             unsigned max_instance, dkim_signature *sig, char *err,
                             size_t err_size);

/* An instance number as ARC writes it: 1 to max digits, no sign, no
 * leading zero (RFC 8617 section 4.2.1 "i=1..50"). 0, or -1. */
int dkim_parse_instance(const char *s, size_t len, unsigned max, unsigned *out);

/* ------------------------------------------------------------ messages */

/* Splits a message into header fields while it arrives (LF read as CRLF),
 * then passes body bytes on. */
typedef struct dkim_field {
    size_t start, len;      /* in the header buffer; without the final CRLF */
    size_t name_len;        /* the name, trailing whitespace removed */
    size_t value_offset;    /* first byte after the colon */
} dkim_field;

typedef void (*dkim_body_fn)(void *arg, const unsigned char *data, size_t len);

typedef struct dkim_message {
    strbuf header;          /* the header block, CRLF line ends */
    size_t max_header_bytes;
    dkim_field *fields;
    size_t field_count;
    bool headers_done;
    bool failed;
    char problem[128];
    bool prev_cr;           /* the last byte fed was CR (LF normalization) */
    size_t match;           /* progress towards CRLF CRLF in the header */
    dkim_body_fn body;
    void *body_arg;
    bool body_started;
} dkim_message;

void dkim_message_init(dkim_message *m, size_t max_header_bytes, dkim_body_fn body,
                       void *body_arg);
void dkim_message_free(dkim_message *m);
/* Returns 0, or -1 when the message is unusable (problem says why). */
int dkim_message_feed(dkim_message *m, const unsigned char *data, size_t len);
/* Ends the message; the header block ends here if no blank line came. */
int dkim_message_finish(dkim_message *m);
bool dkim_field_is(const dkim_message *m, const dkim_field *f, const char *name,
                   size_t name_len);

/* Hashes the header fields named in names (bottom-up instance selection),
 * then the signature field itself (b= emptied, no CRLF), as section 3.7
 * says, into a digest of the algorithm's hash. Returns the digest length. */
size_t dkim_header_digest(const dkim_message *m, const char *const *names,
                          const size_t *name_lens, size_t name_count, da_dkim_canon canon,
                          const EVP_MD *md, const char *sig_field, size_t sig_len,
                          size_t b_start, size_t b_end, unsigned char *digest);

/* --------------------------------------------------------------- crypto */

const EVP_MD *dkim_algorithm_md(da_dkim_algorithm algorithm);
/* The hashes fetched once for objects that outlive a message (the key
 * cache, a signing key): with OpenSSL 3, every init with EVP_sha256()'s
 * legacy handle fetches the algorithm again (a provider lookup under a
 * lock, some 100,000 instructions; bench/dkim/README.md). A fetch that
 * fails leaves NULL, and dkim_digests_md then gives the legacy handle. */
typedef struct dkim_digests {
    EVP_MD *sha1, *sha256;
} dkim_digests;
void dkim_digests_fetch(dkim_digests *d);
void dkim_digests_free(dkim_digests *d);
const EVP_MD *dkim_digests_md(const dkim_digests *d, da_dkim_algorithm algorithm);
/* The key cache's digests, or the legacy handle without a cache. */
const EVP_MD *dkim_key_cache_md(const da_dkim_key_cache *cache, da_dkim_algorithm algorithm);
/* A signing key's digests. */
const EVP_MD *dkim_key_md(const da_dkim_key *key, da_dkim_algorithm algorithm);
/* Verifies sig over a header digest (RSA PKCS#1 v1.5 with the digest's
 * hash, or Ed25519 over the SHA-256 digest as RFC 8463 says). */
bool dkim_crypto_verify(const dkim_key_record *rec, da_dkim_algorithm algorithm,
                        const unsigned char *digest, size_t digest_len, const unsigned char *sig,
                        size_t sig_len);
/* An RSA PKCS#1 v1.5 verify context for key and the digest md, ready for
 * EVP_PKEY_verify (again and again), or NULL. */
EVP_PKEY_CTX *dkim_crypto_rsa_verify_ctx(EVP_PKEY *key, const EVP_MD *md);
/* Signs a header digest; returns the signature length, or 0. */
size_t dkim_crypto_sign(EVP_PKEY *key, da_dkim_algorithm algorithm, const unsigned char *digest,
                        size_t digest_len, unsigned char *sig, size_t sig_size);
EVP_PKEY *dkim_key_pkey(const da_dkim_key *key);

/* ------------------------------------------------------------ folding */

/* Builds a header field folded near 76 columns, as the signer writes its
 * own (sign.c): pieces go on the current line or start a continuation. */
typedef struct dkim_folder {
    strbuf out;
    size_t line_len;
} dkim_folder;

void dkim_folder_init(dkim_folder *f, const char *start);
void dkim_fold_piece(dkim_folder *f, const char *text, size_t len, bool space_before);
void dkim_fold_tag(dkim_folder *f, const char *name, const char *value);
void dkim_fold_number(dkim_folder *f, const char *name, long long value);
/* b='s value, which may be folded anywhere (verifiers delete it). */
void dkim_fold_base64(dkim_folder *f, const char *text, size_t len);

/* ---------------------------------------------------- signing for ARC */

/* The signer's view of the message it was fed (for the ARC sealer, which
 * reads the earlier ARC sets from it, after dkim_message_finish on it). */
dkim_message *dkim_sign_message(da_dkim_sign *sign);
/* Ends the message like da_dkim_sign_finish but writes an
 * ARC-Message-Signature with i=instance (no v=, no i= identity), and never
 * signs ARC-Seal (RFC 8617 section 4.1.2). Caller frees. */
char *dkim_sign_finish_ams(da_dkim_sign *sign, unsigned instance, char *err, size_t err_size);

/* Small helpers. */
bool dkim_domain_is_valid(const char *s, size_t len);
void dkim_printable_copy(char *out, size_t out_size, const char *s, size_t len);

#endif
