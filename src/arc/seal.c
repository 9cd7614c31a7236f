/* seal.c: adding an ARC set (RFC 8617 section 5.1): the
 * ARC-Authentication-Results from the caller's Authentication-Results, the
 * ARC-Message-Signature made by the DKIM signer (relaxed/relaxed), then the
 * ARC-Seal over the earlier sets and the two new fields. The caller
 * validated the chain on arrival and says what it found (cv=); the sealer
 * checks that this fits the sets the message carries. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arc_internal.h"

enum { MAX_AUTHRES_BYTES = 16384 };

struct da_arc_seal {
    da_arc_seal_options options;
    char *authres;
    da_dkim_sign *sign;
};

static int seal_error(char *err, size_t err_size, const char *why)
{
    snprintf(err, err_size, "%s", why);
    return -1;
}

/* The payload goes into a header as given: printable ASCII and spaces or
 * tabs, or folding (CRLF or LF followed by whitespace). */
static int check_authres(const char *s, char *err, size_t err_size)
{
    size_t len = strlen(s);
    if (len == 0 || len > MAX_AUTHRES_BYTES)
        return seal_error(err, err_size, "the Authentication-Results text is empty or too long");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\r' && s[i + 1] == '\n')
            continue;
        if (c == '\n' && (s[i + 1] == ' ' || s[i + 1] == '\t'))
            continue;
        if (c != '\t' && (c < 0x20 || c > 0x7e))
            return seal_error(err, err_size,
                              "the Authentication-Results text holds a control character, a "
                              "line break that is not folding, or non-ASCII");
    }
    unsigned instance;
    size_t payload;
    if (arc_aar_parse(s, len, &instance, &payload) == 0)
        return seal_error(err, err_size,
                          "the Authentication-Results text starts with i=; give it without "
                          "the instance, which the sealer adds");
    return 0;
}

da_arc_seal *da_arc_seal_new(const da_arc_seal_options *options, char *err, size_t err_size)
{
    if (options->authres == NULL) {
        seal_error(err, err_size, "no Authentication-Results text to seal");
        return NULL;
    }
    if (check_authres(options->authres, err, err_size) != 0)
        return NULL;
    if ((unsigned)options->cv > DA_ARC_FAIL) {
        seal_error(err, err_size, "cv is not none, pass or fail");
        return NULL;
    }
    da_arc_seal *s = calloc(1, sizeof *s);
    if (s == NULL) {
        seal_error(err, err_size, "out of memory");
        return NULL;
    }
    s->options = *options;
    s->authres = strdup(options->authres);
    da_dkim_sign_options so = {
        .domain = options->domain,
        .selector = options->selector,
        .key = options->key,
        .header_canon = DA_DKIM_RELAXED,
        .body_canon = DA_DKIM_RELAXED,
        .headers = options->headers,
        .timestamp = options->timestamp,
        .max_header_bytes = options->max_header_bytes,
    };
    s->sign = s->authres ? da_dkim_sign_new(&so, err, err_size) : NULL;
    if (s->sign == NULL) {
        if (s->authres == NULL)
            seal_error(err, err_size, "out of memory");
        da_arc_seal_free(s);
        return NULL;
    }
    s->options.authres = s->authres;
    return s;
}

int da_arc_seal_set_result(da_arc_seal *s, da_arc_cv cv, const char *authres, char *err,
                           size_t err_size)
{
    if (authres == NULL || check_authres(authres, err, err_size) != 0)
        return authres == NULL ? seal_error(err, err_size, "no Authentication-Results text")
                               : -1;
    if ((unsigned)cv > DA_ARC_FAIL)
        return seal_error(err, err_size, "cv is not none, pass or fail");
    char *copy = strdup(authres);
    if (copy == NULL)
        return seal_error(err, err_size, "out of memory");
    free(s->authres);
    s->authres = copy;
    s->options.authres = copy;
    s->options.cv = cv;
    return 0;
}

void da_arc_seal_free(da_arc_seal *s)
{
    if (s == NULL)
        return;
    da_dkim_sign_free(s->sign);
    free(s->authres);
    free(s);
}

int da_arc_seal_feed(da_arc_seal *s, const void *data, size_t len)
{
    return da_dkim_sign_feed(s->sign, data, len);
}

/* The instance this set takes, from the sets present and the caller's cv. */
static int next_instance(const da_arc_seal *s, const dkim_message *m, arc_chain *chain,
                         unsigned *instance, char *err, size_t err_size)
{
    char why[300];
    bool sound = arc_chain_collect(m, chain, why, sizeof why) == 0;
    if (!chain->any) {
        if (s->options.cv != DA_ARC_NONE)
            return seal_error(err, err_size, "the message has no ARC sets: cv must be none");
        *instance = 1;
        return 0;
    }
    if (s->options.cv == DA_ARC_NONE)
        return seal_error(err, err_size, "the message has ARC sets: cv must be pass or fail");
    if (!sound && s->options.cv == DA_ARC_PASS) {
        snprintf(err, err_size, "cv=pass, but the chain is broken: %s", why);
        return -1;
    }
    if (chain->max_instance >= DA_ARC_MAX_INSTANCE)
        return seal_error(err, err_size, "the message has 50 ARC sets already (RFC 8617 4.2.1)");
    *instance = chain->max_instance + 1;
    return 0;
}

static void fold_authres(dkim_folder *f, const char *text)
{
    /* Folded at the spaces of the caller's text, so the field stays near
     * 76 columns; its own folding stays as it was given. */
    const char *p = text;
    while (*p) {
        while (*p == ' ')
            p++;
        if (*p == '\0')
            break;
        const char *end = strchr(p, ' ');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        dkim_fold_piece(f, p, len, true);
        p += len;
    }
}

static char *build_seal(const da_arc_seal *s, const dkim_message *m, const arc_chain *chain,
                        unsigned instance, const char *aar, const char *ams, char *err,
                        size_t err_size)
{
    da_dkim_algorithm algorithm = da_dkim_key_get_type(s->options.key) == DA_DKIM_KEY_ED25519
                                      ? DA_DKIM_ED25519_SHA256
                                      : DA_DKIM_RSA_SHA256;
    dkim_folder f;
    char start[32];
    snprintf(start, sizeof start, "ARC-Seal: i=%u;", instance);
    dkim_folder_init(&f, start);
    dkim_fold_tag(&f, "a", da_dkim_algorithm_name(algorithm));
    dkim_fold_tag(&f, "cv", da_arc_cv_name(s->options.cv));
    dkim_fold_tag(&f, "d", s->options.domain);
    dkim_fold_tag(&f, "s", s->options.selector);
    if (s->options.timestamp > 0)
        dkim_fold_number(&f, "t", (long long)s->options.timestamp);
    dkim_fold_piece(&f, "b=", 2, true);
    if (f.out.failed) {
        strbuf_free(&f.out);
        seal_error(err, err_size, "out of memory");
        return NULL;
    }
    /* A failed chain is sealed over this set alone (as dkimpy and OpenARC
     * do): verifiers stop at the newest cv=fail and check nothing below. */
    arc_text covered[3 * DA_ARC_MAX_INSTANCE];
    size_t n = 0;
    if (s->options.cv == DA_ARC_PASS)
        for (unsigned j = 1; j < instance; j++) {
            size_t idx[3] = {chain->sets[j].aar, chain->sets[j].ams, chain->sets[j].as};
            for (int k = 0; k < 3; k++) {
                const dkim_field *fl = &m->fields[idx[k]];
                covered[n++] = (arc_text){m->header.data + fl->start, fl->len};
            }
        }
    covered[n++] = (arc_text){aar, strlen(aar)};
    covered[n++] = (arc_text){ams, strlen(ams)};
    unsigned char digest[EVP_MAX_MD_SIZE], sig[DKIM_MAX_SIGNATURE_BYTES];
    size_t digest_len = arc_seal_digest(covered, n, f.out.data, f.out.len, f.out.len, f.out.len,
                                        algorithm, digest);
    size_t sig_len = digest_len ? dkim_crypto_sign(dkim_key_pkey(s->options.key), algorithm,
                                                   digest, digest_len, sig, sizeof sig)
                                : 0;
    if (sig_len == 0) {
        strbuf_free(&f.out);
        seal_error(err, err_size, "sealing failed in OpenSSL");
        return NULL;
    }
    strbuf b;
    strbuf_init(&b);
    dkim_base64_encode(&b, sig, sig_len);
    dkim_fold_base64(&f, b.data ? b.data : "", b.len);
    strbuf_free(&b);
    char *out = strbuf_take(&f.out);
    if (out == NULL)
        seal_error(err, err_size, "out of memory");
    return out;
}

char *da_arc_seal_finish(da_arc_seal *s, unsigned *instance_out, char *err, size_t err_size)
{
    /* The AMS first: it ends the message, after which its header fields
     * (and the earlier ARC sets among them) can be read. The instance it
     * carries is not known before the header is in, so the signer is told
     * it at the end. */
    dkim_message *m = dkim_sign_message(s->sign);
    if (dkim_message_finish(m) != 0) {
        seal_error(err, err_size, m->problem);
        return NULL;
    }
    arc_chain chain;
    unsigned instance;
    if (next_instance(s, m, &chain, &instance, err, err_size) != 0)
        return NULL;
    char *ams = dkim_sign_finish_ams(s->sign, instance, err, err_size);
    if (ams == NULL)
        return NULL;
    dkim_folder aar;
    char start[48];
    snprintf(start, sizeof start, "ARC-Authentication-Results: i=%u;", instance);
    dkim_folder_init(&aar, start);
    fold_authres(&aar, s->authres);
    char *aar_text = strbuf_take(&aar.out);
    char *seal = aar_text ? build_seal(s, m, &chain, instance, aar_text, ams, err, err_size)
                          : NULL;
    char *out = NULL;
    if (seal != NULL) {
        size_t len = strlen(seal) + strlen(ams) + strlen(aar_text) + 5;
        out = malloc(len);
        if (out != NULL)
            snprintf(out, len, "%s\r\n%s\r\n%s", seal, ams, aar_text);
        else
            seal_error(err, err_size, "out of memory");
    } else if (aar_text == NULL) {
        seal_error(err, err_size, "out of memory");
    }
    if (out != NULL && instance_out != NULL)
        *instance_out = instance;
    free(seal);
    free(ams);
    free(aar_text);
    return out;
}
