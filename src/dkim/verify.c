/* verify.c: DKIM verification (RFC 6376 section 6, RFC 8301, RFC 8463) as a
 * sans-I/O engine. The message is fed in pieces; once its header block is
 * in, each signature is parsed, its header hash computed and its key record
 * asked for, while the body is canonicalized and hashed as it streams past.
 * The caller answers the key questions; each signature gets its own result. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns/engine.h"
#include "authres/authres.h"
#include "dkim_internal.h"

enum { DEFAULT_MAX_SIGNATURES = 8 };

typedef dkim_key_query key_query;

/* The large part of a signature's state, only for those evaluated, so a
 * message with thousands of signature fields costs little for the rest. */
typedef struct sig_work {
    dkim_signature sig;
    dkim_body_canon body;
} sig_work;

typedef struct verify_sig {
    sig_work *work; /* NULL when the signature was not evaluated */
    bool done;
    da_dkim_result result;
    char reason[400];
    EVP_MD_CTX *body_md;
    bool body_hash_ok;
    unsigned char header_digest[64];
    size_t header_digest_len;
    key_query *query;
    unsigned key_bits;
    bool testing;
} verify_sig;

struct da_dkim_verify {
    da_dkim_verify_options options;
    dkim_message message;
    bool headers_processed, finished, done;
    verify_sig **sigs;
    size_t sig_count;
    key_query *queries;
    size_t query_count;
    da_dns_question *questions;
};

static void conclude(verify_sig *vs, da_dkim_result result, const char *reason)
{
    if (vs->done)
        return;
    vs->done = true;
    vs->result = result;
    dkim_printable_copy(vs->reason, sizeof vs->reason, reason, strlen(reason));
    EVP_MD_CTX_free(vs->body_md);
    vs->body_md = NULL;
}

/* ------------------------------------------------------- header stage */

static void body_hash_update(void *arg, const unsigned char *data, size_t len)
{
    EVP_DigestUpdate(arg, data, len);
}

static key_query *query_for(da_dkim_verify *v, const char *name)
{
    for (size_t i = 0; i < v->query_count; i++)
        if (strcasecmp(v->queries[i].name, name) == 0)
            return &v->queries[i];
    key_query *q = &v->queries[v->query_count++]; /* sized for max_signatures */
    dkim_key_query_init(q, name);
    return q;
}

static verify_sig *add_sig(da_dkim_verify *v)
{
    verify_sig *vs = calloc(1, sizeof *vs);
    if (vs == NULL)
        return NULL;
    v->sigs[v->sig_count++] = vs;
    return vs;
}

/* Parses one signature field and, when it is usable, starts its hashes. */
static void start_signature(da_dkim_verify *v, verify_sig *vs, const dkim_field *f)
{
    const char *field = v->message.header.data + f->start;
    char why[160];
    vs->work = calloc(1, sizeof *vs->work);
    if (vs->work == NULL) {
        conclude(vs, DA_DKIM_TEMPERROR, "out of memory");
        return;
    }
    if (dkim_signature_parse(field, f->len, f->value_offset, &vs->work->sig, why, sizeof why) !=
        0) {
        conclude(vs, DA_DKIM_PERMERROR, why);
        return;
    }
    dkim_signature *s = &vs->work->sig;
    if (s->expiration >= 0 && s->expiration < v->options.now) {
        conclude(vs, DA_DKIM_FAIL, "the signature has expired (x=)");
        return;
    }
    vs->header_digest_len = dkim_header_digest(
        &v->message, s->headers, s->header_lens, s->header_count, s->header_canon,
        dkim_key_cache_md(v->options.key_cache, s->algorithm),
        field, f->len, s->b_value_start, s->b_value_end, vs->header_digest);
    vs->body_md = EVP_MD_CTX_new();
    if (vs->header_digest_len == 0 || vs->body_md == NULL ||
        EVP_DigestInit_ex2(vs->body_md, dkim_key_cache_md(v->options.key_cache, s->algorithm),
                           NULL) != 1) {
        conclude(vs, DA_DKIM_TEMPERROR, "out of memory or a hash failure");
        return;
    }
    dkim_body_canon_init(&vs->work->body, s->body_canon, s->body_length, body_hash_update,
                         vs->body_md);
    vs->query = query_for(v, s->query_name);
}

static void process_headers(da_dkim_verify *v)
{
    v->headers_processed = true;
    size_t found = 0;
    for (size_t i = 0; i < v->message.field_count; i++)
        if (dkim_field_is(&v->message, &v->message.fields[i], "DKIM-Signature", 14))
            found++;
    size_t max = v->options.max_signatures;
    /* Every signature gets a result, but only max of them are evaluated;
     * the rest cost one small record each. */
    v->sigs = calloc(found ? found : 1, sizeof *v->sigs);
    v->queries = calloc(max, sizeof *v->queries);
    v->questions = calloc(max, sizeof *v->questions);
    if (v->sigs == NULL || v->queries == NULL || v->questions == NULL) {
        v->message.failed = true;
        snprintf(v->message.problem, sizeof v->message.problem, "out of memory");
        return;
    }
    for (size_t i = 0; i < v->message.field_count; i++) {
        const dkim_field *f = &v->message.fields[i];
        if (!dkim_field_is(&v->message, f, "DKIM-Signature", 14))
            continue;
        verify_sig *vs = add_sig(v);
        if (vs == NULL)
            break;
        if (v->sig_count > max)
            conclude(vs, DA_DKIM_PERMERROR, "not evaluated: too many signatures");
        else
            start_signature(v, vs, f);
    }
}

static void body_bytes(void *arg, const unsigned char *data, size_t len)
{
    da_dkim_verify *v = arg;
    if (!v->headers_processed)
        process_headers(v);
    for (size_t i = 0; i < v->sig_count; i++)
        if (v->sigs[i]->body_md != NULL)
            dkim_body_canon_feed(&v->sigs[i]->work->body, data, len);
}

/* ------------------------------------------------------------ the API */

da_dkim_verify *da_dkim_verify_new(const da_dkim_verify_options *options, char *err,
                                   size_t err_size)
{
    da_dkim_verify *v = calloc(1, sizeof *v);
    if (v == NULL) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    v->options = *options;
    if (v->options.min_rsa_bits == 0)
        v->options.min_rsa_bits = 1024;
    if (v->options.max_signatures == 0)
        v->options.max_signatures = DEFAULT_MAX_SIGNATURES;
    if (v->options.max_signatures > 64)
        v->options.max_signatures = 64;
    dkim_message_init(&v->message, options->max_header_bytes, body_bytes, v);
    return v;
}

void da_dkim_verify_free(da_dkim_verify *v)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < v->sig_count; i++) {
        EVP_MD_CTX_free(v->sigs[i]->body_md);
        free(v->sigs[i]->work);
        free(v->sigs[i]);
    }
    for (size_t i = 0; i < v->query_count; i++)
        dkim_key_query_clear(&v->queries[i]);
    free(v->sigs);
    free(v->queries);
    free(v->questions);
    dkim_message_free(&v->message);
    free(v);
}

/* An unusable message: every signature (or one report, when its header
 * fields could not even be split) ends in permerror. */
static void fail_message(da_dkim_verify *v)
{
    if (!v->headers_processed || v->sigs == NULL) {
        v->headers_processed = true;
        free(v->sigs);
        v->sigs = calloc(1, sizeof *v->sigs);
        verify_sig *vs = v->sigs ? add_sig(v) : NULL;
        if (vs != NULL)
            conclude(vs, DA_DKIM_PERMERROR, v->message.problem);
        return;
    }
    for (size_t i = 0; i < v->sig_count; i++)
        conclude(v->sigs[i], DA_DKIM_PERMERROR, v->message.problem);
}

int da_dkim_verify_feed(da_dkim_verify *v, const void *data, size_t len)
{
    if (v->finished || v->message.failed)
        return -1;
    if (dkim_message_feed(&v->message, data, len) != 0 || v->message.failed) {
        fail_message(v);
        return -1;
    }
    if (v->message.headers_done && !v->headers_processed)
        process_headers(v);
    return 0;
}

static void finish_body_hash(verify_sig *vs)
{
    dkim_body_canon_finish(&vs->work->body);
    unsigned char hash[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(vs->body_md, hash, &len) != 1) {
        conclude(vs, DA_DKIM_TEMPERROR, "a hash failure");
        return;
    }
    EVP_MD_CTX_free(vs->body_md);
    vs->body_md = NULL;
    const dkim_signature *s = &vs->work->sig;
    vs->body_hash_ok = len == s->body_hash_len && memcmp(hash, s->body_hash, len) == 0;
}

void da_dkim_verify_finish(da_dkim_verify *v)
{
    if (v->finished)
        return;
    v->finished = true;
    if (v->message.failed || dkim_message_finish(&v->message) != 0 || v->message.failed) {
        fail_message(v);
        return;
    }
    if (!v->headers_processed)
        process_headers(v);
    if (v->message.failed) {
        fail_message(v);
        return;
    }
    for (size_t i = 0; i < v->sig_count; i++)
        if (v->sigs[i]->body_md != NULL)
            finish_body_hash(v->sigs[i]);
}

/* --------------------------------------------------------- key answers */

void da_dkim_verify_answer(da_dkim_verify *v, const da_dns_question *question,
                           const da_dns_answer *answer)
{
    for (size_t i = 0; i < v->query_count; i++)
        if (dkim_key_query_matches(&v->queries[i], question)) {
            dkim_key_query_answer(&v->queries[i], answer);
            return;
        }
}

/* Refuses keys the signature may not use (section 6.1.2; RFC 8301). */
static int check_key_fits(const da_dkim_verify *v, const dkim_signature *s,
                          const dkim_key_record *rec, char *why, size_t why_size)
{
    return dkim_key_check_fits(rec, s->algorithm, s->algorithm_text, s->identity, s->domain,
                               v->options.min_rsa_bits, why, why_size);
}

static void decide_with_key(const da_dkim_verify *v, verify_sig *vs, const dkim_key_record *rec)
{
    const dkim_signature *s = &vs->work->sig;
    uint64_t body_bytes = vs->work->body.total;
    char why[400];
    vs->key_bits = rec->bits;
    vs->testing = rec->testing;
    if (check_key_fits(v, s, rec, why, sizeof why) != 0) {
        conclude(vs, DA_DKIM_PERMERROR, why);
        return;
    }
    if (s->body_length >= 0 && body_bytes < (uint64_t)s->body_length) {
        conclude(vs, DA_DKIM_FAIL, "the body is shorter than l= says");
        return;
    }
    if (!vs->body_hash_ok) {
        conclude(vs, DA_DKIM_FAIL, "body hash did not verify");
        return;
    }
    if (!dkim_crypto_verify(rec, s->algorithm, vs->header_digest, vs->header_digest_len,
                            s->signature, s->signature_len)) {
        conclude(vs, DA_DKIM_FAIL, "signature did not verify");
        return;
    }
    const char *testing = rec->testing ? " (key in testing mode, t=y)" : "";
    if (s->algorithm == DA_DKIM_RSA_SHA1) {
        snprintf(why, sizeof why, "rsa-sha1 signature verified, but RFC 8301 forbids rsa-sha1%s",
                 testing);
        conclude(vs, v->options.sha1 == DA_DKIM_SHA1_NEUTRAL ? DA_DKIM_NEUTRAL : DA_DKIM_FAIL,
                 why);
    } else if (s->body_length >= 0 && body_bytes > (uint64_t)s->body_length) {
        snprintf(why, sizeof why, "signature verified; l= covers %lld of %llu body bytes%s",
                 (long long)s->body_length, (unsigned long long)body_bytes, testing);
        conclude(vs, DA_DKIM_PASS, why);
    } else {
        snprintf(why, sizeof why, "signature verified%s", testing);
        conclude(vs, DA_DKIM_PASS, why);
    }
}

static void decide(const da_dkim_verify *v, verify_sig *vs)
{
    dkim_key_record rec;
    char why[400];
    da_dkim_result r = dkim_key_query_select(v->options.key_cache, vs->query, &rec, why,
                                             sizeof why);
    if (r != DA_DKIM_PASS) {
        conclude(vs, r, why);
        return;
    }
    decide_with_key(v, vs, &rec);
    dkim_key_record_clear(&rec);
}

/* ---------------------------------------------------------------- steps */

da_dkim_step da_dkim_verify_step(da_dkim_verify *v)
{
    if (v->done)
        return (da_dkim_step){DA_DKIM_STEP_DONE, 0, NULL};
    if (!v->headers_processed)
        return (da_dkim_step){DA_DKIM_STEP_INPUT, 0, NULL};
    size_t fresh = 0;
    for (size_t i = 0; i < v->query_count; i++) {
        key_query *q = &v->queries[i];
        bool needed = false;
        for (size_t k = 0; k < v->sig_count && !needed; k++)
            needed = v->sigs[k]->query == q && !v->sigs[k]->done;
        if (needed && !q->listed) {
            q->listed = true;
            v->questions[fresh++] = (da_dns_question){q->name, DA_DNS_TXT};
        }
    }
    if (fresh > 0)
        return (da_dkim_step){DA_DKIM_STEP_QUERIES, fresh, v->questions};
    if (!v->finished)
        return (da_dkim_step){DA_DKIM_STEP_INPUT, 0, NULL};
    for (size_t i = 0; i < v->sig_count; i++) {
        verify_sig *vs = v->sigs[i];
        if (!vs->done && !vs->query->answered)
            return (da_dkim_step){DA_DKIM_STEP_QUERIES, 0, v->questions};
    }
    for (size_t i = 0; i < v->sig_count; i++)
        if (!v->sigs[i]->done)
            decide(v, v->sigs[i]);
    v->done = true;
    return (da_dkim_step){DA_DKIM_STEP_DONE, 0, NULL};
}

/* The blocking run is the generic one (dns/engine.h) over this
 * verifier's steps; input wanted after finish cannot happen. */
static da_engine_step engine_step(void *self)
{
    da_dkim_step s = da_dkim_verify_step(self);
    return (da_engine_step){s.kind != DA_DKIM_STEP_QUERIES, s.count, s.questions};
}

static void engine_answer(void *self, const da_dns_question *q, const da_dns_answer *a)
{
    da_dkim_verify_answer(self, q, a);
}

int da_dkim_verify_run(da_dkim_verify *v, da_resolver *resolver)
{
    da_dkim_verify_finish(v);
    da_engine e = {v, engine_step, engine_answer, NULL};
    return da_engine_run(&e, resolver, 100);
}

/* -------------------------------------------------------------- results */

size_t da_dkim_verify_count(const da_dkim_verify *v)
{
    return v->done ? v->sig_count : 0;
}

int da_dkim_verify_get(const da_dkim_verify *v, size_t index, da_dkim_signature_info *info)
{
    if (!v->done || index >= v->sig_count)
        return -1;
    static const dkim_signature not_evaluated = {
        .body_length = -1, .timestamp = -1, .expiration = -1};
    const verify_sig *vs = v->sigs[index];
    const dkim_signature *s = vs->work ? &vs->work->sig : &not_evaluated;
    *info = (da_dkim_signature_info){
        .result = vs->result,
        .reason = vs->reason,
        .domain = s->domain,
        .selector = s->selector,
        .identity = s->identity,
        .algorithm = s->algorithm_text,
        .header_b = s->header_b,
        .body_length = s->body_length,
        .body_bytes = vs->work ? vs->work->body.total : 0,
        .timestamp = s->timestamp,
        .expiration = s->expiration,
        .key_bits = vs->key_bits,
        .testing = vs->testing,
    };
    return 0;
}

static void append_property(strbuf *sb, const char *name, const char *value)
{
    if (value == NULL || *value == '\0')
        return;
    strbuf_printf(sb, " %s=", name);
    header_append_token(sb, value);
}

char *da_dkim_authres_clause(const da_dkim_verify *v, size_t index)
{
    strbuf sb;
    strbuf_init(&sb);
    da_dkim_signature_info info;
    if (da_dkim_verify_get(v, index, &info) != 0) {
        strbuf_puts(&sb, "dkim=none");
        return strbuf_take(&sb);
    }
    strbuf_printf(&sb, "dkim=%s (", da_dkim_result_name(info.result));
    if (info.key_bits > 0)
        strbuf_printf(&sb, "%u-bit key; ", info.key_bits);
    header_append_comment_text(&sb, info.reason);
    strbuf_putc(&sb, ')');
    append_property(&sb, "header.d", info.domain);
    append_property(&sb, "header.i", info.identity[0] == '@' && info.identity[1] == '\0'
                                          ? NULL
                                          : info.identity);
    append_property(&sb, "header.s", info.selector);
    append_property(&sb, "header.a", info.algorithm);
    append_property(&sb, "header.b", info.header_b);
    return strbuf_take(&sb);
}
