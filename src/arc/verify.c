/* verify.c: ARC chain validation (RFC 8617 section 5.2) as a sans-I/O
 * engine over the DKIM engine's pieces. Once the header block is in, the
 * sets are collected and their structure and cv= values checked (a broken
 * chain fails without a DNS question), every AMS and seal is parsed and
 * its header hash computed, and the sealers' keys are asked for while the
 * body streams through one hasher per distinct AMS canonicalization. At the
 * end: the newest AMS, then every seal newest first, must validate; the
 * older AMSs give the oldest-pass instance. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns/engine.h"
#include "arc_internal.h"
#include "authres/authres.h"

enum { MAX_QUERIES = 2 * DA_ARC_MAX_INSTANCE };

/* One signature to check: an AMS or a seal. */
typedef struct sig_check {
    bool wanted;            /* parsed and hashed: its key is asked for */
    bool done;
    da_dkim_result result;  /* DA_DKIM_NONE until done */
    char reason[300];
    unsigned char digest[EVP_MAX_MD_SIZE];
    size_t digest_len;
    dkim_key_query *query;
} sig_check;

/* A body hash for every (canonicalization, l=) pair the AMSs use. */
typedef struct body_hasher {
    da_dkim_canon canon;
    int64_t limit;
    dkim_body_canon canon_state;
    EVP_MD_CTX *md;
    unsigned char hash[EVP_MAX_MD_SIZE];
    unsigned hash_len;
} body_hasher;

typedef struct set_state {
    dkim_signature ams;
    bool ams_parsed;
    arc_seal_sig seal;
    bool seal_parsed;
    sig_check ams_check, seal_check;
    body_hasher *body;
    char *authres;
} set_state;

struct da_arc_verify {
    da_arc_verify_options options;
    dkim_message message;
    bool headers_processed, finished, done;
    arc_chain chain;
    set_state *sets[DA_ARC_MAX_INSTANCE + 1]; /* by instance */
    unsigned set_count;
    body_hasher *hashers[DA_ARC_MAX_INSTANCE];
    size_t hasher_count;
    dkim_key_query queries[MAX_QUERIES];
    size_t query_count;
    da_dns_question questions[MAX_QUERIES];
    /* The outcome; concluded is set early for none and structural failures. */
    bool concluded;
    da_arc_cv cv;
    char reason[400];
    unsigned oldest_pass;
    bool temporary;
};

const char *da_arc_cv_name(da_arc_cv cv)
{
    switch (cv) {
    case DA_ARC_NONE: return "none";
    case DA_ARC_PASS: return "pass";
    case DA_ARC_FAIL: return "fail";
    }
    return "?";
}

static void conclude(da_arc_verify *v, da_arc_cv cv, const char *reason)
{
    if (v->concluded)
        return;
    v->concluded = true;
    v->cv = cv;
    dkim_printable_copy(v->reason, sizeof v->reason, reason, strlen(reason));
}

static void check_done(sig_check *c, da_dkim_result result, const char *reason)
{
    if (c->done)
        return;
    c->done = true;
    c->result = result;
    dkim_printable_copy(c->reason, sizeof c->reason, reason, strlen(reason));
}

/* ---------------------------------------------------------- the header */

static dkim_key_query *query_for(da_arc_verify *v, const char *name)
{
    for (size_t i = 0; i < v->query_count; i++)
        if (strcasecmp(v->queries[i].name, name) == 0)
            return &v->queries[i];
    dkim_key_query *q = &v->queries[v->query_count++]; /* two per set at most */
    dkim_key_query_init(q, name);
    return q;
}

static void body_hash_update(void *arg, const unsigned char *data, size_t len)
{
    EVP_DigestUpdate(arg, data, len);
}

static body_hasher *hasher_for(da_arc_verify *v, const dkim_signature *s)
{
    for (size_t i = 0; i < v->hasher_count; i++)
        if (v->hashers[i]->canon == s->body_canon && v->hashers[i]->limit == s->body_length)
            return v->hashers[i];
    body_hasher *h = calloc(1, sizeof *h);
    if (h == NULL)
        return NULL;
    h->md = EVP_MD_CTX_new();
    if (h->md == NULL ||
        EVP_DigestInit_ex2(h->md, dkim_key_cache_md(v->options.key_cache, DA_DKIM_RSA_SHA256),
                           NULL) != 1) {
        EVP_MD_CTX_free(h->md);
        free(h);
        return NULL;
    }
    h->canon = s->body_canon;
    h->limit = s->body_length;
    dkim_body_canon_init(&h->canon_state, h->canon, h->limit, body_hash_update, h->md);
    v->hashers[v->hasher_count++] = h; /* one per AMS at most */
    return h;
}

/* The AAR's payload, unfolded, printable ASCII, trimmed. */
static char *copy_authres(const char *value, size_t len)
{
    char *out = malloc(len + 1);
    if (out == NULL)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)value[i];
        if (c == '\r' || c == '\n')
            continue;
        out[n++] = c == '\t' ? ' ' : c >= 0x20 && c <= 0x7e ? (char)c : '?';
    }
    size_t start = 0;
    while (start < n && out[start] == ' ')
        start++;
    while (n > start && out[n - 1] == ' ')
        n--;
    memmove(out, out + start, n - start);
    out[n - start] = '\0';
    return out;
}

static const dkim_field *field_at(const da_arc_verify *v, size_t index)
{
    return &v->message.fields[index];
}

static const char *field_text(const da_arc_verify *v, const dkim_field *f)
{
    return v->message.header.data + f->start;
}

/* The fields the seal of instance i covers (RFC 8617 section 5.1.1): every
 * set below i in order AAR, AMS, AS, then i's AAR and AMS. */
static size_t seal_digest_for(const da_arc_verify *v, unsigned instance, const arc_seal_sig *s,
                              unsigned char *digest)
{
    arc_text covered[3 * DA_ARC_MAX_INSTANCE];
    size_t n = 0;
    for (unsigned j = 1; j <= instance; j++) {
        const arc_set *set = &v->chain.sets[j];
        size_t idx[3] = {set->aar, set->ams, set->as};
        for (int k = 0; k < (j == instance ? 2 : 3); k++) {
            const dkim_field *f = field_at(v, idx[k]);
            covered[n++] = (arc_text){field_text(v, f), f->len};
        }
    }
    const dkim_field *own = field_at(v, v->chain.sets[instance].as);
    return arc_seal_digest(covered, n, field_text(v, own), own->len, s->b_value_start,
                           s->b_value_end, s->algorithm, digest);
}

static int start_ams(da_arc_verify *v, unsigned j, set_state *st)
{
    const dkim_field *f = field_at(v, v->chain.sets[j].ams);
    char why[200];
    if (dkim_signature_parse_ams(field_text(v, f), f->len, f->value_offset,
                                 DA_ARC_MAX_INSTANCE, &st->ams, why, sizeof why) != 0) {
        check_done(&st->ams_check, DA_DKIM_PERMERROR, why);
        return 0;
    }
    st->ams_parsed = true;
    if (st->ams.algorithm == DA_DKIM_RSA_SHA1) {
        check_done(&st->ams_check, DA_DKIM_PERMERROR, "rsa-sha1 is not an ARC algorithm");
        return 0;
    }
    sig_check *c = &st->ams_check;
    c->digest_len = dkim_header_digest(&v->message, st->ams.headers, st->ams.header_lens,
                                       st->ams.header_count, st->ams.header_canon,
                                       dkim_key_cache_md(v->options.key_cache, st->ams.algorithm),
                                       field_text(v, f), f->len,
                                       st->ams.b_value_start, st->ams.b_value_end, c->digest);
    st->body = hasher_for(v, &st->ams);
    if (c->digest_len == 0 || st->body == NULL)
        return -1;
    c->query = query_for(v, st->ams.query_name);
    c->wanted = true;
    return 0;
}

static int start_seal(da_arc_verify *v, unsigned j, set_state *st, char *why, size_t why_size)
{
    const dkim_field *f = field_at(v, v->chain.sets[j].as);
    char err[200];
    if (arc_seal_parse(field_text(v, f), f->len, f->value_offset, &st->seal, err, sizeof err) !=
        0) {
        snprintf(why, why_size, "ARC-Seal i=%u: %s", j, err);
        return -1;
    }
    st->seal_parsed = true;
    return 0;
}

static void process_headers(da_arc_verify *v)
{
    v->headers_processed = true;
    char why[400];
    if (arc_chain_collect(&v->message, &v->chain, why, sizeof why) != 0) {
        conclude(v, DA_ARC_FAIL, why);
        return;
    }
    if (v->chain.count == 0) {
        conclude(v, DA_ARC_NONE, "");
        return;
    }
    unsigned n = v->chain.count;
    for (unsigned j = 1; j <= n; j++) {
        set_state *st = calloc(1, sizeof *st);
        if (st == NULL) {
            conclude(v, DA_ARC_FAIL, "out of memory");
            v->temporary = true;
            return;
        }
        v->sets[j] = st;
        v->set_count = j;
        const dkim_field *aar = field_at(v, v->chain.sets[j].aar);
        unsigned instance;
        size_t payload;
        const char *value = field_text(v, aar) + aar->value_offset;
        size_t value_len = aar->len - aar->value_offset;
        if (arc_aar_parse(value, value_len, &instance, &payload) == 0)
            st->authres = copy_authres(value + payload, value_len - payload);
        if (start_seal(v, j, st, why, sizeof why) != 0) {
            conclude(v, DA_ARC_FAIL, why);
            return;
        }
    }
    /* Step 2, then step 3.3: the cv= each seal recorded. */
    if (v->sets[n]->seal.cv == DA_ARC_FAIL) {
        snprintf(why, sizeof why, "the newest ARC-Seal (i=%u, d=%s) records cv=fail", n,
                 v->sets[n]->seal.domain);
        conclude(v, DA_ARC_FAIL, why);
        return;
    }
    for (unsigned j = 1; j <= n; j++) {
        da_arc_cv want = j == 1 ? DA_ARC_NONE : DA_ARC_PASS;
        if (v->sets[j]->seal.cv != want) {
            snprintf(why, sizeof why, "ARC-Seal i=%u has cv=%s where it must be %s", j,
                     da_arc_cv_name(v->sets[j]->seal.cv), da_arc_cv_name(want));
            conclude(v, DA_ARC_FAIL, why);
            return;
        }
    }
    for (unsigned j = 1; j <= n; j++) {
        set_state *st = v->sets[j];
        if (start_ams(v, j, st) != 0) {
            conclude(v, DA_ARC_FAIL, "out of memory or a hash failure");
            v->temporary = true;
            return;
        }
        sig_check *c = &st->seal_check;
        c->digest_len = seal_digest_for(v, j, &st->seal, c->digest);
        if (c->digest_len == 0) {
            conclude(v, DA_ARC_FAIL, "out of memory or a hash failure");
            v->temporary = true;
            return;
        }
        c->query = query_for(v, st->seal.query_name);
        c->wanted = true;
    }
}

static void body_bytes(void *arg, const unsigned char *data, size_t len)
{
    da_arc_verify *v = arg;
    if (!v->headers_processed)
        process_headers(v);
    if (v->concluded)
        return;
    for (size_t i = 0; i < v->hasher_count; i++)
        dkim_body_canon_feed(&v->hashers[i]->canon_state, data, len);
}

/* ------------------------------------------------------------ the API */

da_arc_verify *da_arc_verify_new(const da_arc_verify_options *options, char *err,
                                 size_t err_size)
{
    da_arc_verify *v = calloc(1, sizeof *v);
    if (v == NULL) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    v->options = *options;
    if (v->options.min_rsa_bits == 0)
        v->options.min_rsa_bits = 1024;
    dkim_message_init(&v->message, options->max_header_bytes, body_bytes, v);
    return v;
}

void da_arc_verify_free(da_arc_verify *v)
{
    if (v == NULL)
        return;
    for (unsigned j = 1; j <= v->set_count; j++) {
        if (v->sets[j] != NULL)
            free(v->sets[j]->authres);
        free(v->sets[j]);
    }
    for (size_t i = 0; i < v->hasher_count; i++) {
        EVP_MD_CTX_free(v->hashers[i]->md);
        free(v->hashers[i]);
    }
    for (size_t i = 0; i < v->query_count; i++)
        dkim_key_query_clear(&v->queries[i]);
    dkim_message_free(&v->message);
    free(v);
}

static void fail_message(da_arc_verify *v)
{
    v->headers_processed = true;
    char why[200];
    snprintf(why, sizeof why, "the message is unusable: %s", v->message.problem);
    conclude(v, DA_ARC_FAIL, why);
}

int da_arc_verify_feed(da_arc_verify *v, const void *data, size_t len)
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

void da_arc_verify_finish(da_arc_verify *v)
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
    if (v->concluded)
        return;
    for (size_t i = 0; i < v->hasher_count; i++) {
        body_hasher *h = v->hashers[i];
        dkim_body_canon_finish(&h->canon_state);
        if (EVP_DigestFinal_ex(h->md, h->hash, &h->hash_len) != 1) {
            conclude(v, DA_ARC_FAIL, "a hash failure");
            v->temporary = true;
        }
    }
}

void da_arc_verify_answer(da_arc_verify *v, const da_dns_question *question,
                          const da_dns_answer *answer)
{
    for (size_t i = 0; i < v->query_count; i++)
        if (dkim_key_query_matches(&v->queries[i], question)) {
            dkim_key_query_answer(&v->queries[i], answer);
            return;
        }
}

/* ----------------------------------------------------------- deciding */

static void decide_ams(const da_arc_verify *v, set_state *st)
{
    sig_check *c = &st->ams_check;
    const dkim_signature *s = &st->ams;
    dkim_key_record rec;
    char why[300];
    da_dkim_result r = dkim_key_query_select(v->options.key_cache, c->query, &rec, why,
                                             sizeof why);
    if (r != DA_DKIM_PASS) {
        check_done(c, r, why);
        return;
    }
    const body_hasher *h = st->body;
    if (dkim_key_check_fits(&rec, s->algorithm, s->algorithm_text, s->identity, s->domain,
                            v->options.min_rsa_bits, why, sizeof why) != 0)
        check_done(c, DA_DKIM_PERMERROR, why);
    else if (s->body_length >= 0 && h->canon_state.total < (uint64_t)s->body_length)
        check_done(c, DA_DKIM_FAIL, "the body is shorter than l= says");
    else if (h->hash_len != s->body_hash_len || memcmp(h->hash, s->body_hash, h->hash_len) != 0)
        check_done(c, DA_DKIM_FAIL, "body hash did not verify");
    else if (!dkim_crypto_verify(&rec, s->algorithm, c->digest, c->digest_len, s->signature,
                                 s->signature_len))
        check_done(c, DA_DKIM_FAIL, "signature did not verify");
    else
        check_done(c, DA_DKIM_PASS, "signature verified");
    dkim_key_record_clear(&rec);
}

static void decide_seal(const da_arc_verify *v, set_state *st)
{
    sig_check *c = &st->seal_check;
    const arc_seal_sig *s = &st->seal;
    dkim_key_record rec;
    char why[300], identity[260];
    da_dkim_result r = dkim_key_query_select(v->options.key_cache, c->query, &rec, why,
                                             sizeof why);
    if (r != DA_DKIM_PASS) {
        check_done(c, r, why);
        return;
    }
    snprintf(identity, sizeof identity, "@%s", s->domain);
    if (dkim_key_check_fits(&rec, s->algorithm, s->algorithm_text, identity, s->domain,
                            v->options.min_rsa_bits, why, sizeof why) != 0)
        check_done(c, DA_DKIM_PERMERROR, why);
    else if (!dkim_crypto_verify(&rec, s->algorithm, c->digest, c->digest_len, s->signature,
                                 s->signature_len))
        check_done(c, DA_DKIM_FAIL, "seal did not verify");
    else
        check_done(c, DA_DKIM_PASS, "seal verified");
    dkim_key_record_clear(&rec);
}

static void fail_on(da_arc_verify *v, const char *what, unsigned j, const char *domain,
                    const sig_check *c)
{
    char why[700];
    snprintf(why, sizeof why, "%s i=%u (d=%.100s): %.250s", what, j, domain, c->reason);
    conclude(v, DA_ARC_FAIL, why);
    v->temporary = c->result == DA_DKIM_TEMPERROR;
}

/* Section 5.2 steps 4 to 7 over the checked signatures. */
static void decide_chain(da_arc_verify *v)
{
    unsigned n = v->chain.count;
    for (unsigned j = 1; j <= n; j++) {
        if (v->sets[j]->ams_check.wanted)
            decide_ams(v, v->sets[j]);
        if (v->sets[j]->seal_check.wanted)
            decide_seal(v, v->sets[j]);
    }
    set_state *newest = v->sets[n];
    if (newest->ams_check.result != DA_DKIM_PASS) {
        fail_on(v, "ARC-Message-Signature", n, newest->ams.domain, &newest->ams_check);
        return;
    }
    for (unsigned j = n; j >= 1; j--)
        if (v->sets[j]->seal_check.result != DA_DKIM_PASS) {
            fail_on(v, "ARC-Seal", j, v->sets[j]->seal.domain, &v->sets[j]->seal_check);
            return;
        }
    unsigned oldest = n;
    while (oldest > 1 && v->sets[oldest - 1]->ams_check.result == DA_DKIM_PASS)
        oldest--;
    v->oldest_pass = oldest;
    char why[64];
    snprintf(why, sizeof why, "%u ARC set%s validated", n, n == 1 ? "" : "s");
    conclude(v, DA_ARC_PASS, why);
}

da_arc_step da_arc_verify_step(da_arc_verify *v)
{
    if (v->done)
        return (da_arc_step){DA_DKIM_STEP_DONE, 0, NULL};
    if (!v->headers_processed)
        return (da_arc_step){DA_DKIM_STEP_INPUT, 0, NULL};
    size_t fresh = 0;
    if (!v->concluded)
        for (size_t i = 0; i < v->query_count; i++) {
            dkim_key_query *q = &v->queries[i];
            if (!q->listed) {
                q->listed = true;
                v->questions[fresh++] = (da_dns_question){q->name, DA_DNS_TXT};
            }
        }
    if (fresh > 0)
        return (da_arc_step){DA_DKIM_STEP_QUERIES, fresh, v->questions};
    if (!v->finished)
        return (da_arc_step){DA_DKIM_STEP_INPUT, 0, NULL};
    if (!v->concluded) {
        for (size_t i = 0; i < v->query_count; i++)
            if (!v->queries[i].answered)
                return (da_arc_step){DA_DKIM_STEP_QUERIES, 0, v->questions};
        decide_chain(v);
    }
    v->done = true;
    return (da_arc_step){DA_DKIM_STEP_DONE, 0, NULL};
}

/* The blocking run is the generic one (dns/engine.h) over this
 * verifier's steps; input wanted after finish cannot happen. */
static da_engine_step engine_step(void *self)
{
    da_arc_step s = da_arc_verify_step(self);
    return (da_engine_step){s.kind != DA_DKIM_STEP_QUERIES, s.count, s.questions};
}

static void engine_answer(void *self, const da_dns_question *q, const da_dns_answer *a)
{
    da_arc_verify_answer(self, q, a);
}

int da_arc_verify_run(da_arc_verify *v, da_resolver *resolver)
{
    da_arc_verify_finish(v);
    da_engine e = {v, engine_step, engine_answer, NULL};
    return da_engine_run(&e, resolver, 100);
}

/* ------------------------------------------------------------ results */

int da_arc_verify_result(const da_arc_verify *v, da_arc_result *result)
{
    if (!v->done)
        return -1;
    *result = (da_arc_result){
        .cv = v->cv,
        .reason = v->reason,
        .instances = v->chain.count ? v->chain.count : v->chain.max_instance,
        .oldest_pass = v->cv == DA_ARC_PASS ? v->oldest_pass : 0,
        .temporary = v->temporary,
    };
    return 0;
}

size_t da_arc_verify_count(const da_arc_verify *v)
{
    return v->done ? v->set_count : 0;
}

int da_arc_verify_get(const da_arc_verify *v, size_t index, da_arc_set_info *info)
{
    if (!v->done || index >= v->set_count)
        return -1;
    const set_state *st = v->sets[index + 1];
    *info = (da_arc_set_info){
        .instance = (unsigned)index + 1,
        .seal_domain = st->seal.domain,
        .seal_selector = st->seal.selector,
        .seal_algorithm = st->seal.algorithm_text,
        .seal_cv = st->seal.cv,
        .seal_result = st->seal_check.result,
        .seal_reason = st->seal_check.reason,
        .ams_domain = st->ams.domain,
        .ams_selector = st->ams.selector,
        .ams_algorithm = st->ams.algorithm_text,
        .ams_result = st->ams_check.result,
        .ams_reason = st->ams_check.reason,
        .authres = st->authres ? st->authres : "",
    };
    return 0;
}

char *da_arc_authres_clause(const da_arc_verify *v, const char *remote_ip)
{
    strbuf sb;
    strbuf_init(&sb);
    da_arc_result r;
    if (da_arc_verify_result(v, &r) != 0 || r.cv == DA_ARC_NONE) {
        strbuf_puts(&sb, "arc=none");
    } else {
        strbuf_printf(&sb, "arc=%s (", da_arc_cv_name(r.cv));
        if (r.cv == DA_ARC_PASS) {
            strbuf_printf(&sb, "i=%u; sealed by ", r.instances);
            for (unsigned j = v->set_count; j >= 1; j--) {
                header_append_comment_text(&sb, v->sets[j]->seal.domain);
                if (j > 1)
                    strbuf_puts(&sb, ", ");
            }
        } else {
            header_append_comment_text(&sb, r.reason);
        }
        strbuf_putc(&sb, ')');
        if (r.cv == DA_ARC_PASS)
            strbuf_printf(&sb, " header.oldest-pass=%u", r.oldest_pass);
    }
    if (remote_ip != NULL && *remote_ip != '\0') {
        strbuf_puts(&sb, " smtp.remote-ip=");
        header_append_token(&sb, remote_ip);
    }
    return strbuf_take(&sb);
}
