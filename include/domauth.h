/* domauth.h: the public interface of libdomauth.
 * The library does no I/O of its own except through a resolver the caller
 * creates; engines are fed DNS answers and return values. Every object is
 * opaque; each constructor names the function that frees what it returns. */
#ifndef DOMAUTH_H
#define DOMAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DOMAUTH_VERSION "0.1.0"

/* ------------------------------------------------------------------ DNS */

typedef enum da_dns_type {
    DA_DNS_A = 1,
    DA_DNS_CNAME = 5,
    DA_DNS_SOA = 6,
    DA_DNS_PTR = 12,
    DA_DNS_MX = 15,
    DA_DNS_TXT = 16,
    DA_DNS_AAAA = 28,
    DA_DNS_SPF = 99,
} da_dns_type;

typedef enum da_dns_status {
    DA_DNS_NOERROR = 0, /* the name exists; zero or more records of the type */
    DA_DNS_NXDOMAIN,    /* RCODE 3: no such name */
    DA_DNS_SERVFAIL,    /* any other RCODE, or an answer that did not parse */
    DA_DNS_TIMEOUT,     /* no answer within the time allowed */
} da_dns_status;

const char *da_dns_type_name(da_dns_type type);
const char *da_dns_status_name(da_dns_status status);

/* One resource record of the type that was asked for. Strings are
 * NUL-terminated and owned by the answer that holds the record. */
typedef struct da_dns_rr {
    da_dns_type type;
    uint32_t ttl;
    uint8_t addr[16];       /* A: first 4 bytes; AAAA: all 16 */
    uint16_t preference;    /* MX */
    const char *name;       /* MX exchange, PTR or CNAME target, lower case */
    const char *text;       /* TXT/SPF: character-strings concatenated */
    size_t text_len;        /* TXT/SPF: may contain NUL bytes */
} da_dns_rr;

/* An answer to one question, holding only records of the asked type (a
 * backend follows CNAMEs itself). ttl is the minimum record TTL, or the
 * negative-caching TTL (RFC 2308) for NXDOMAIN and empty answers. */
typedef struct da_dns_answer {
    da_dns_status status;
    uint32_t ttl;
    size_t count;
    const da_dns_rr *records;
} da_dns_answer;

typedef struct da_dns_question {
    const char *name; /* without the trailing dot */
    da_dns_type type;
} da_dns_question;

/* A heap-allocated answer that owns its records: build one with
 * da_dns_answer_new and the add functions; free with da_dns_answer_free. */
da_dns_answer *da_dns_answer_new(da_dns_status status, uint32_t ttl);
int da_dns_answer_add_addr(da_dns_answer *answer, da_dns_type type, const uint8_t *addr,
                           uint32_t ttl);
int da_dns_answer_add_name(da_dns_answer *answer, da_dns_type type, uint16_t preference,
                           const char *name, uint32_t ttl);
int da_dns_answer_add_text(da_dns_answer *answer, da_dns_type type, const char *text,
                           size_t len, uint32_t ttl);
da_dns_answer *da_dns_answer_copy(const da_dns_answer *answer);
void da_dns_answer_free(da_dns_answer *answer);

/* A resolver answers questions. The callback runs once per submitted
 * question, from da_resolver_run (blocking backends) or from the owner's
 * event loop (asynchronous backends); the answer is valid only during the
 * callback. */
typedef struct da_resolver da_resolver;
typedef void (*da_resolver_callback)(void *arg, const da_dns_question *question,
                                     const da_dns_answer *answer);

int da_resolver_submit(da_resolver *resolver, const da_dns_question *question,
                       da_resolver_callback callback, void *arg);
/* Blocks until every submitted question has been answered. */
int da_resolver_run(da_resolver *resolver);
void da_resolver_free(da_resolver *resolver);

typedef struct da_resolver_options {
    const char *servers;   /* "ADDR[:PORT][,ADDR[:PORT]...]"; NULL: /etc/resolv.conf */
    unsigned timeout_ms;   /* per try; 0: 2000 */
    unsigned tries;        /* 0: 2 */
    bool use_edns0;        /* advertise a 1232-byte UDP payload */
} da_resolver_options;

/* Network backends (c-ares, blocking or on a libuv loop) are in
 * libdomauth-net: see domauth_net.h. The core library opens no sockets. */

/* In-memory zone: records added by the caller, answered without I/O. Used by
 * tests, the conformance suite, fuzzers and the offline demo. */
typedef struct da_zone da_zone;
da_zone *da_zone_new(void);
void da_zone_free(da_zone *zone);
/* Adds a record; the zone copies everything. */
int da_zone_add(da_zone *zone, const char *name, const da_dns_rr *record);
/* Makes every query for name (type 0: any type) time out, or answer
 * SERVFAIL. */
int da_zone_add_failure(da_zone *zone, const char *name, da_dns_type type,
                        da_dns_status status);
/* Marks a name as existing even with no records (NODATA instead of NXDOMAIN). */
int da_zone_add_name(da_zone *zone, const char *name);
/* Loads a zone from text: one record a line, "name TYPE data" (see
 * da_zone_load_text in doc/zone-format.md). Returns 0, or -1 with
 * "line N: reason" in err. */
int da_zone_load_text(da_zone *zone, const char *text, size_t len, char *err,
                      size_t err_size);
/* Loads a zone file (domauth(1), ZONE FILES) for offline answers. Returns
 * 0 with *zone set (free with da_zone_free), or an exit status with
 * "PATH: reason" in err: 66 (EX_NOINPUT) when the file cannot be read, 65
 * (EX_DATAERR) when a line does not parse. */
int da_zone_load_file(const char *path, da_zone **zone, char *err, size_t err_size);
/* Answers a question from the zone, synchronously. Caller frees. */
da_dns_answer *da_zone_lookup(const da_zone *zone, const da_dns_question *question);
/* A resolver over a zone; the zone must outlive the resolver. */
da_resolver *da_resolver_new_zone(const da_zone *zone);

/* ------------------------------------------------------------ DNS cache */

/* A shared, bounded DNS cache for one thread (one event loop). It honours
 * TTLs within a floor and a ceiling, keeps NXDOMAIN and empty answers for
 * their negative TTL (RFC 2308), evicts the least recently used entry when
 * full, and coalesces identical questions in flight so a burst for one name
 * costs one upstream query. Not thread-safe. */
typedef struct da_dns_cache da_dns_cache;

/* Milliseconds from any fixed point; injectable so tests control time. */
typedef uint64_t (*da_clock_ms_fn)(void *arg);

typedef struct da_dns_cache_options {
    size_t max_entries;        /* 0: 100000 */
    uint32_t min_ttl;          /* seconds; floor for positive answers (0: 0) */
    uint32_t max_ttl;          /* seconds; ceiling (0: 86400) */
    uint32_t max_negative_ttl; /* seconds; ceiling for NXDOMAIN/NODATA (0: 3600) */
    uint32_t error_ttl;        /* seconds to keep SERVFAIL/timeouts (0: not kept) */
    size_t max_upstream;       /* questions sent upstream at once; more wait (0: 500) */
    da_clock_ms_fn clock;      /* NULL: CLOCK_MONOTONIC */
    void *clock_arg;
} da_dns_cache_options;

typedef struct da_dns_cache_stats {
    uint64_t hits, misses, coalesced, evictions, expirations, upstream_errors;
    size_t in_flight, queued, entries, bytes;
} da_dns_cache_stats;

da_dns_cache *da_dns_cache_new(const da_dns_cache_options *options);
/* Questions still in flight are answered SERVFAIL to their waiters first. */
void da_dns_cache_free(da_dns_cache *cache);
void da_dns_cache_get_stats(const da_dns_cache *cache, da_dns_cache_stats *stats);
/* A resolver that answers from cache, asking upstream on a miss. Neither the
 * cache nor upstream is owned; both must outlive it. A hit's callback runs
 * inside da_resolver_submit. */
da_resolver *da_resolver_new_cached(da_dns_cache *cache, da_resolver *upstream);

/* ------------------------------------------------------------------ SPF */

typedef enum da_spf_result {
    DA_SPF_NONE = 0,
    DA_SPF_NEUTRAL,
    DA_SPF_PASS,
    DA_SPF_FAIL,
    DA_SPF_SOFTFAIL,
    DA_SPF_TEMPERROR,
    DA_SPF_PERMERROR,
} da_spf_result;

const char *da_spf_result_name(da_spf_result result);

/* What an evaluation checks. DA_SPF_SCOPE_SPF is SPF itself (RFC 7208:
 * v=spf1 records only). The other two are Sender ID (RFC 4406) on the same
 * evaluator, macros and limits: records are chosen among "spf2.0/SCOPES"
 * records covering the scope, v=spf1 counting as "spf2.0/mfrom,pra" only
 * when the domain publishes no spf2.0 record at all (RFC 4406 3.4, 4.4). */
typedef enum da_spf_scope {
    DA_SPF_SCOPE_SPF = 0, /* RFC 7208: MAIL FROM, or HELO */
    DA_SPF_SCOPE_MFROM,   /* RFC 4406 "mfrom": MAIL FROM (HELO when it is empty) */
    DA_SPF_SCOPE_PRA,     /* RFC 4406 "pra": the Purported Responsible Address
                           * (RFC 4407, da_spf_request.pra); a PRA domain
                           * that does not exist is a fail */
} da_spf_scope;

/* "spf", "mfrom" or "pra"; and back (-1 for another word). */
const char *da_spf_scope_name(da_spf_scope scope);
int da_spf_scope_parse(const char *word, da_spf_scope *out);

/* Sender ID results are the SPF result words (RFC 4406 uses RFC 4408's),
 * in da_spf_result order; for the results vector and policy tables. The
 * Authentication-Results method is "sender-id" (RFC 8601 2.7, IANA's
 * registry), its property header.<field> naming the field the PRA came
 * from ("header.from=a@example.com"). */
#define DA_SENDERID_RESULT_COUNT 7
#define DA_SENDERID_AUTHRES_METHOD "sender-id"
const char *da_senderid_result_name(size_t index); /* NULL past the last */

typedef struct da_spf_request {
    const char *client_ip;  /* IPv4 or IPv6 text; IPv4-mapped IPv6 is checked as IPv4 */
    const char *mail_from;  /* MAIL FROM address; NULL or "" checks the HELO identity */
    const char *helo;       /* HELO/EHLO name */
    const char *receiver;   /* %{r} and the Received-SPF receiver; NULL: "unknown" */
    int64_t now;            /* %{t}, seconds since the epoch (the library reads no clock) */
    bool helo_identity;     /* check the HELO identity even when mail_from is set */
    bool trace;             /* keep a trace of the final pass (da_spf_eval_trace_*) */
    struct da_spf_record_cache *records; /* optional shared parsed records */
    /* Limits of RFC 7208 section 4.6.4; 0 means the RFC's value. */
    unsigned max_dns_terms;   /* 10 */
    unsigned max_void_lookups; /* 2 */
    unsigned max_mx_names;    /* 10 */
    unsigned max_ptr_names;   /* 10 */
    /* Sender ID (see da_spf_scope); 0 is SPF as RFC 7208 says. */
    da_spf_scope scope;
    const char *pra;          /* the PRA, for DA_SPF_SCOPE_PRA (required there) */
    /* Never answer from a compiled policy (see da_spf_record_cache): the
     * walk only, as a reference for tests and debugging. */
    bool walk_only;
} da_spf_request;

typedef struct da_spf_eval da_spf_eval;

/* Creates an evaluation. Returns NULL with a reason in err when the request
 * is unusable (e.g. the client IP does not parse). Free with da_spf_eval_free. */
da_spf_eval *da_spf_eval_new(const da_spf_request *request, char *err, size_t err_size);
void da_spf_eval_free(da_spf_eval *eval);

typedef enum da_spf_step_kind {
    DA_SPF_STEP_QUERIES, /* answer the listed questions, then step again */
    DA_SPF_STEP_DONE,    /* the result is ready */
} da_spf_step_kind;

typedef struct da_spf_step {
    da_spf_step_kind kind;
    size_t count;                      /* questions not yet answered */
    const da_dns_question *questions;  /* valid until the next step */
} da_spf_step;

/* Advances the evaluation as far as the answers it has allow. The questions
 * it lists are independent and may be answered in any order; some are
 * prefetches the evaluation may turn out not to need. */
da_spf_step da_spf_eval_step(da_spf_eval *eval);
/* Feeds the answer to a question; the evaluation copies what it keeps.
 * Answers to questions it did not ask are ignored. */
void da_spf_eval_answer(da_spf_eval *eval, const da_dns_question *question,
                        const da_dns_answer *answer);

/* Results, valid once a step returned DA_SPF_STEP_DONE. Strings are owned by
 * the evaluation. */
da_spf_result da_spf_eval_result(const da_spf_eval *eval);
const char *da_spf_eval_identity(const da_spf_eval *eval);      /* "mailfrom", "helo" or "pra" */
da_spf_scope da_spf_eval_scope(const da_spf_eval *eval);
const char *da_spf_eval_sender(const da_spf_eval *eval);        /* checked <sender> */
const char *da_spf_eval_domain(const da_spf_eval *eval);        /* checked domain */
const char *da_spf_eval_mechanism(const da_spf_eval *eval);     /* matched term, or NULL */
const char *da_spf_eval_explanation(const da_spf_eval *eval);   /* for fail, else NULL */
const char *da_spf_eval_problem(const da_spf_eval *eval);       /* why perm/temperror */
unsigned da_spf_eval_dns_terms(const da_spf_eval *eval);
unsigned da_spf_eval_void_lookups(const da_spf_eval *eval);
unsigned da_spf_eval_queries(const da_spf_eval *eval);          /* DNS answers consumed */

/* The trace: one line per event of the final evaluation pass, in order. */
typedef enum da_spf_trace_kind {
    DA_SPF_TRACE_RECORD,   /* record fetched for a domain */
    DA_SPF_TRACE_TERM,     /* a term evaluated, and whether it matched */
    DA_SPF_TRACE_QUERY,    /* a DNS question and its answer */
    DA_SPF_TRACE_LIMIT,    /* a counter moved */
    DA_SPF_TRACE_RESULT,   /* a check_host() result */
    DA_SPF_TRACE_NOTE,
} da_spf_trace_kind;

typedef struct da_spf_trace_event {
    da_spf_trace_kind kind;
    unsigned depth;   /* include/redirect nesting */
    const char *text;
} da_spf_trace_event;

size_t da_spf_eval_trace_count(const da_spf_eval *eval);
const da_spf_trace_event *da_spf_eval_trace_get(const da_spf_eval *eval, size_t index);

/* Runs an evaluation to the end over a resolver (blocking). */
int da_spf_eval_run(da_spf_eval *eval, da_resolver *resolver);

/* Runs an evaluation over an asynchronous resolver: done is called once,
 * when the result is ready (possibly before this returns, when every answer
 * was cached). The evaluation steps after every answer, so it moves on as
 * soon as what it needs has arrived. da_spf_eval_free may be called from
 * done or later; questions still in flight are then let go safely. */
typedef void (*da_spf_done_fn)(void *arg, da_spf_eval *eval);
int da_spf_eval_start(da_spf_eval *eval, da_resolver *resolver, da_spf_done_fn done,
                      void *arg);
/* Ends an evaluation now with temperror (e.g. its deadline passed); done is
 * called if it had not been. */
void da_spf_eval_abort(da_spf_eval *eval, const char *reason);

/* Parsed SPF records shared between evaluations, keyed by record text, so a
 * hot domain's record is parsed once. Bounded (least recently used goes
 * first); one per thread. Pass it in da_spf_request.records. */
typedef struct da_spf_record_cache da_spf_record_cache;
da_spf_record_cache *da_spf_record_cache_new(size_t max_records);
void da_spf_record_cache_free(da_spf_record_cache *cache);
void da_spf_record_cache_stats(const da_spf_record_cache *cache, uint64_t *hits,
                               uint64_t *parses);
/* Compiled policies (on by default): once a domain's record tree is held
 * in the DNS cache of the resolver an evaluation uses (da_resolver_new_cached),
 * the cache compiles it into prefix tests that answer later checks of that
 * domain without walking the records, exactly as the walk would, until the
 * first answer in it expires or the DNS cache drops one. Traced checks,
 * Sender ID scopes and checks reaching a term that depends on the client
 * (macros, ptr) walk. */
void da_spf_record_cache_set_compiled(da_spf_record_cache *cache, bool enabled);
typedef struct da_spf_compiled_stats {
    uint64_t compiles;      /* policies compiled (or recompiled) */
    uint64_t answered;      /* checks answered by a policy */
    uint64_t fallbacks;     /* checks that reached a hole and walked */
    uint64_t invalidated;   /* policies dropped: expired or the DNS cache changed */
    uint64_t declined;      /* trees too large to compile */
    size_t policies;        /* held now */
} da_spf_compiled_stats;
void da_spf_record_cache_compiled_stats(const da_spf_record_cache *cache,
                                        da_spf_compiled_stats *out);

/* Header field values (without "Name: " and without a line ending), made
 * safe for a header whatever the inputs held. Caller frees with free(). */
char *da_spf_received_spf(const da_spf_eval *eval);
char *da_spf_authres_clause(const da_spf_eval *eval);
/* The whole Authentication-Results value: authserv_id (NULL or "":
 * "localhost"), made a token or quoted, then "; " and the spf= clause. */
char *da_spf_authres_value(const da_spf_eval *eval, const char *authserv_id);
/* The Sender ID clause: "sender-id=RESULT (comment) header.FIELD=PRA" for a
 * pra-scope evaluation, field being the one the PRA came from (pra.h's
 * "from", "sender", "resent-from", "resent-sender"; NULL: "from"); for an
 * mfrom-scope one the property is smtp.mailfrom (smtp.helo for a null
 * sender). Caller frees with free(). */
char *da_senderid_authres_clause(const da_spf_eval *eval, const char *field);

/* Checks a record's syntax without DNS. Returns 0 and fills nothing, or -1
 * with "term N (text): reason" in err. */
int da_spf_record_check(const char *record, size_t len, char *err, size_t err_size);

#ifdef __cplusplus
}
#endif
#endif
