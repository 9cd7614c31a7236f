/* sign.c: DKIM signing (RFC 6376 section 5) with rsa-sha256 or
 * ed25519-sha256. The body is hashed as it streams in; at the end the
 * header list is chosen (over-signing From, To, Subject and Date unless told
 * not to), the field is folded, then hashed and signed exactly as folded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dkim_internal.h"

enum {
    LINE_WIDTH = 76,      /* fold the field's lines near this width */
    MAX_NAME_LEN = 128,   /* a header name we are asked to sign */
};

struct da_dkim_sign {
    da_dkim_sign_options options;
    da_dkim_algorithm algorithm;
    char domain[256], selector[256], identity[512];
    char *header_list;    /* copy of options.headers */
    dkim_message message;
    dkim_body_canon body;
    EVP_MD_CTX *body_md;
    unsigned ams_instance; /* writing an ARC-Message-Signature with this i= (else 0) */
};

static const char default_headers[] =
    "from:to:cc:subject:date:message-id:reply-to:in-reply-to:references:mime-version:"
    "content-type:content-transfer-encoding:sender:list-id:list-unsubscribe";

static const char *const oversigned[] = {"from", "to", "subject", "date"};

static int sign_error(char *err, size_t err_size, const char *why)
{
    snprintf(err, err_size, "%s", why);
    return -1;
}

static bool is_tag_value_text(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e || *s == ';')
            return false;
    return true;
}

static int check_options(const da_dkim_sign_options *o, char *err, size_t err_size)
{
    if (o->key == NULL)
        return sign_error(err, err_size, "no signing key");
    if (o->domain == NULL || !dkim_domain_is_valid(o->domain, strlen(o->domain)))
        return sign_error(err, err_size, "the signing domain is missing or not a domain name");
    if (o->selector == NULL || !dkim_domain_is_valid(o->selector, strlen(o->selector)))
        return sign_error(err, err_size, "the selector is missing or not valid");
    if (strlen(o->domain) + strlen(o->selector) + 12 > 253)
        return sign_error(err, err_size, "selector._domainkey.domain is too long");
    if (o->identity != NULL) {
        const char *at = strrchr(o->identity, '@');
        size_t d = strlen(o->domain), n = at ? strlen(at + 1) : 0;
        if (at == NULL || strlen(o->identity) >= 512 || !is_tag_value_text(o->identity) ||
            n < d || strcasecmp(at + 1 + n - d, o->domain) != 0 ||
            (n > d && at[1 + n - d - 1] != '.'))
            return sign_error(err, err_size,
                              "the identity (i=) must be an address at the domain or below");
    }
    if (o->expiration != 0 && o->expiration <= o->timestamp)
        return sign_error(err, err_size, "the expiration (x=) must be after the timestamp");
    if (o->timestamp < 0 || o->expiration < 0)
        return sign_error(err, err_size, "times before 1970 cannot be signed");
    if (o->headers != NULL && (strlen(o->headers) > 8192 || !is_tag_value_text(o->headers)))
        return sign_error(err, err_size, "the header list holds characters a name cannot");
    return 0;
}

static void body_bytes(void *arg, const unsigned char *data, size_t len)
{
    da_dkim_sign *s = arg;
    dkim_body_canon_feed(&s->body, data, len);
}

static void body_hash_update(void *arg, const unsigned char *data, size_t len)
{
    EVP_DigestUpdate(arg, data, len);
}

da_dkim_sign *da_dkim_sign_new(const da_dkim_sign_options *options, char *err,
                               size_t err_size)
{
    if (check_options(options, err, err_size) != 0)
        return NULL;
    da_dkim_sign *s = calloc(1, sizeof *s);
    if (s == NULL) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    s->options = *options;
    s->algorithm = da_dkim_key_get_type(options->key) == DA_DKIM_KEY_ED25519
                       ? DA_DKIM_ED25519_SHA256
                       : DA_DKIM_RSA_SHA256;
    snprintf(s->domain, sizeof s->domain, "%s", options->domain);
    snprintf(s->selector, sizeof s->selector, "%s", options->selector);
    snprintf(s->identity, sizeof s->identity, "%s", options->identity ? options->identity : "");
    s->header_list = strdup(options->headers ? options->headers : default_headers);
    s->body_md = EVP_MD_CTX_new();
    if (s->header_list == NULL || s->body_md == NULL ||
        EVP_DigestInit_ex2(s->body_md, dkim_key_md(options->key, s->algorithm), NULL) != 1) {
        snprintf(err, err_size, "out of memory");
        da_dkim_sign_free(s);
        return NULL;
    }
    s->options.headers = s->header_list;
    s->options.domain = s->domain;
    s->options.selector = s->selector;
    s->options.identity = options->identity ? s->identity : NULL;
    dkim_body_canon_init(&s->body, options->body_canon, -1, body_hash_update, s->body_md);
    dkim_message_init(&s->message, options->max_header_bytes, body_bytes, s);
    return s;
}

void da_dkim_sign_free(da_dkim_sign *s)
{
    if (s == NULL)
        return;
    EVP_MD_CTX_free(s->body_md);
    dkim_message_free(&s->message);
    free(s->header_list);
    free(s);
}

int da_dkim_sign_feed(da_dkim_sign *s, const void *data, size_t len)
{
    return dkim_message_feed(&s->message, data, len);
}

/* ------------------------------------------------------ the header list */

typedef struct name_list {
    const char *names[DKIM_MAX_SIGNED_HEADERS];
    size_t lens[DKIM_MAX_SIGNED_HEADERS];
    size_t count;
} name_list;

static size_t count_instances(const dkim_message *m, const char *name, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < m->field_count; i++)
        if (dkim_field_is(m, &m->fields[i], name, len))
            n++;
    return n;
}

static bool is_oversigned(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof oversigned / sizeof oversigned[0]; i++)
        if (strlen(oversigned[i]) == len && strncasecmp(oversigned[i], name, len) == 0)
            return true;
    return false;
}

static bool already_listed(const name_list *l, const char *name, size_t len)
{
    for (size_t i = 0; i < l->count; i++)
        if (l->lens[i] == len && strncasecmp(l->names[i], name, len) == 0)
            return true;
    return false;
}

/* Lists a name once per instance, once more when over-signed; an explicitly
 * requested name that is absent is listed once (its absence is signed). */
static int add_name(const da_dkim_sign *s, name_list *l, const char *name, size_t len,
                    bool explicit_list)
{
    /* A DKIM signature never covers itself; an AMS never covers ARC-Seal. */
    const char *own = s->ams_instance ? "ARC-Seal" : "DKIM-Signature";
    if (len == 0 || len > MAX_NAME_LEN || already_listed(l, name, len) ||
        (len == strlen(own) && strncasecmp(name, own, len) == 0))
        return 0;
    size_t times = count_instances(&s->message, name, len);
    if (!s->options.no_oversign && is_oversigned(name, len))
        times++;
    else if (times == 0 && explicit_list)
        times = 1;
    for (size_t i = 0; i < times; i++) {
        if (l->count == DKIM_MAX_SIGNED_HEADERS)
            return -1;
        l->names[l->count] = name;
        l->lens[l->count++] = len;
    }
    return 0;
}

static int choose_headers(const da_dkim_sign *s, name_list *l)
{
    l->count = 0;
    bool explicit_list = s->header_list != NULL && strcmp(s->header_list, default_headers) != 0;
    if (add_name(s, l, "from", 4, true) != 0)
        return -1;
    const char *p = s->header_list;
    while (*p) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        if (add_name(s, l, p, len, explicit_list) != 0)
            return -1;
        if (colon == NULL)
            break;
        p = colon + 1;
    }
    return 0;
}

/* ------------------------------------------------------------- folding */

void dkim_folder_init(dkim_folder *f, const char *start)
{
    strbuf_init(&f->out);
    strbuf_puts(&f->out, start);
    f->line_len = f->out.len;
}

void dkim_fold_piece(dkim_folder *f, const char *text, size_t len, bool space_before)
{
    if (f->line_len + len + (space_before ? 1 : 0) > LINE_WIDTH && f->line_len > 1) {
        strbuf_append(&f->out, "\r\n\t", 3);
        f->line_len = 1;
    } else if (space_before) {
        strbuf_putc(&f->out, ' ');
        f->line_len++;
    }
    strbuf_append(&f->out, text, len);
    f->line_len += len;
}

void dkim_fold_tag(dkim_folder *f, const char *name, const char *value)
{
    char piece[600];
    int n = snprintf(piece, sizeof piece, "%s=%s;", name, value);
    dkim_fold_piece(f, piece, n > 0 ? (size_t)n : 0, true);
}

void dkim_fold_number(dkim_folder *f, const char *name, long long value)
{
    char piece[64];
    int n = snprintf(piece, sizeof piece, "%s=%lld;", name, value);
    dkim_fold_piece(f, piece, (size_t)n, true);
}

static void fold_header_list(dkim_folder *f, const name_list *l)
{
    for (size_t i = 0; i < l->count; i++) {
        char piece[MAX_NAME_LEN + 8];
        int n = snprintf(piece, sizeof piece, "%s%.*s%s", i == 0 ? "h=" : "", (int)l->lens[i],
                         l->names[i], i + 1 == l->count ? ";" : ":");
        dkim_fold_piece(f, piece, (size_t)n, i == 0);
    }
}

/* b= is the last tag: its value may be folded anywhere, since verifiers
 * delete it, folding included, before hashing. */
void dkim_fold_base64(dkim_folder *f, const char *text, size_t len)
{
    while (len > 0) {
        size_t room = f->line_len < LINE_WIDTH ? LINE_WIDTH - f->line_len : 0;
        if (room < 8) {
            strbuf_append(&f->out, "\r\n\t", 3);
            f->line_len = 1;
            continue;
        }
        size_t n = len < room ? len : room;
        strbuf_append(&f->out, text, n);
        f->line_len += n;
        text += n;
        len -= n;
    }
}

static void build_field(const da_dkim_sign *s, dkim_folder *f, const name_list *l,
                        const unsigned char *body_hash, size_t body_hash_len)
{
    static const char *const canon_names[] = {"simple", "relaxed"};
    if (s->ams_instance > 0) {
        char start[64];
        snprintf(start, sizeof start, "ARC-Message-Signature: i=%u;", s->ams_instance);
        dkim_folder_init(f, start);
    } else {
        dkim_folder_init(f, "DKIM-Signature: v=1;");
    }
    dkim_fold_tag(f, "a", da_dkim_algorithm_name(s->algorithm));
    char canon[32];
    snprintf(canon, sizeof canon, "%s/%s", canon_names[s->options.header_canon == DA_DKIM_RELAXED],
             canon_names[s->options.body_canon == DA_DKIM_RELAXED]);
    dkim_fold_tag(f, "c", canon);
    dkim_fold_tag(f, "d", s->domain);
    dkim_fold_tag(f, "s", s->selector);
    if (s->options.identity != NULL && s->ams_instance == 0)
        dkim_fold_tag(f, "i", s->identity);
    if (s->options.timestamp > 0)
        dkim_fold_number(f, "t", (long long)s->options.timestamp);
    if (s->options.expiration > 0)
        dkim_fold_number(f, "x", (long long)s->options.expiration);
    if (s->options.body_length)
        dkim_fold_number(f, "l", (long long)s->body.total);
    fold_header_list(f, l);
    strbuf bh;
    strbuf_init(&bh);
    dkim_base64_encode(&bh, body_hash, body_hash_len);
    dkim_fold_tag(f, "bh", bh.data ? bh.data : "");
    strbuf_free(&bh);
    dkim_fold_piece(f, "b=", 2, true);
}

/* ------------------------------------------------------------- finish */

static bool finish_body(da_dkim_sign *s, unsigned char *hash, unsigned int *hash_len)
{
    dkim_body_canon_finish(&s->body);
    return EVP_DigestFinal_ex(s->body_md, hash, hash_len) == 1;
}

static char *sign_field(da_dkim_sign *s, dkim_folder *f, const name_list *l, char *err,
                        size_t err_size)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    const char *field = f->out.data;
    size_t len = f->out.len;
    /* The field as hashed starts at its name, like any other header field. */
    size_t digest_len = dkim_header_digest(&s->message, l->names, l->lens, l->count,
                                           s->options.header_canon,
                                           dkim_key_md(s->options.key, s->algorithm), field, len, len,
                                           len, digest);
    unsigned char sig[DKIM_MAX_SIGNATURE_BYTES];
    size_t sig_len = digest_len ? dkim_crypto_sign(dkim_key_pkey(s->options.key), s->algorithm,
                                                   digest, digest_len, sig, sizeof sig)
                                : 0;
    if (sig_len == 0) {
        sign_error(err, err_size, "signing failed in OpenSSL");
        strbuf_free(&f->out);
        return NULL;
    }
    strbuf b;
    strbuf_init(&b);
    dkim_base64_encode(&b, sig, sig_len);
    dkim_fold_base64(f, b.data ? b.data : "", b.len);
    strbuf_free(&b);
    char *out = strbuf_take(&f->out);
    if (out == NULL)
        sign_error(err, err_size, "out of memory");
    return out;
}

dkim_message *dkim_sign_message(da_dkim_sign *s)
{
    return &s->message;
}

char *dkim_sign_finish_ams(da_dkim_sign *s, unsigned instance, char *err, size_t err_size)
{
    s->ams_instance = instance;
    return da_dkim_sign_finish(s, err, err_size);
}

char *da_dkim_sign_finish(da_dkim_sign *s, char *err, size_t err_size)
{
    if (dkim_message_finish(&s->message) != 0) {
        sign_error(err, err_size, s->message.problem);
        return NULL;
    }
    if (count_instances(&s->message, "from", 4) == 0) {
        sign_error(err, err_size, "the message has no From field, which a signature must cover");
        return NULL;
    }
    unsigned char body_hash[EVP_MAX_MD_SIZE];
    unsigned int body_hash_len = 0;
    if (!finish_body(s, body_hash, &body_hash_len)) {
        sign_error(err, err_size, "hashing the body failed");
        return NULL;
    }
    name_list names;
    if (choose_headers(s, &names) != 0) {
        sign_error(err, err_size, "too many header fields to sign");
        return NULL;
    }
    dkim_folder f;
    build_field(s, &f, &names, body_hash, body_hash_len);
    if (f.out.failed) {
        strbuf_free(&f.out);
        sign_error(err, err_size, "out of memory");
        return NULL;
    }
    return sign_field(s, &f, &names, err, err_size);
}
