/* crypto.c: every use of OpenSSL in DKIM, through the EVP interface of
 * OpenSSL 3: signing keys (generate, load, export, publish) and the sign and
 * verify primitives over a header digest, for RSA and Ed25519. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "dkim_internal.h"

struct da_dkim_key {
    EVP_PKEY *pkey;
    da_dkim_key_type type;
    dkim_digests digests; /* a signing key signs many messages: fetched once */
};

enum { MIN_RSA_BITS = 1024 };

EVP_PKEY *dkim_key_pkey(const da_dkim_key *key)
{
    return key->pkey;
}

const EVP_MD *dkim_key_md(const da_dkim_key *key, da_dkim_algorithm algorithm)
{
    return dkim_digests_md(key ? &key->digests : NULL, algorithm);
}

/* ------------------------------------------------------- sign and verify */

EVP_PKEY_CTX *dkim_crypto_rsa_verify_ctx(EVP_PKEY *key, const EVP_MD *md)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    if (ctx == NULL || EVP_PKEY_verify_init(ctx) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) != 1 ||
        EVP_PKEY_CTX_set_signature_md(ctx, md) != 1) {
        EVP_PKEY_CTX_free(ctx);
        ctx = NULL;
    }
    ERR_clear_error();
    return ctx;
}

bool dkim_crypto_verify(const dkim_key_record *rec, da_dkim_algorithm algorithm,
                        const unsigned char *digest, size_t digest_len, const unsigned char *sig,
                        size_t sig_len)
{
    EVP_PKEY *key = rec->key;
    int ok = 0;
    if (algorithm == DA_DKIM_RSA_SHA256 && rec->rsa_sha256_verify != NULL) {
        ok = EVP_PKEY_verify(rec->rsa_sha256_verify, sig, sig_len, digest, digest_len) == 1;
    } else if (algorithm == DA_DKIM_ED25519_SHA256) {
        EVP_MD_CTX *mctx = EVP_MD_CTX_new();
        ok = mctx != NULL && EVP_DigestVerifyInit(mctx, NULL, NULL, NULL, key) == 1 &&
             EVP_DigestVerify(mctx, sig, sig_len, digest, digest_len) == 1;
        EVP_MD_CTX_free(mctx);
    } else {
        EVP_PKEY_CTX *ctx = dkim_crypto_rsa_verify_ctx(key, dkim_algorithm_md(algorithm));
        ok = ctx != NULL && EVP_PKEY_verify(ctx, sig, sig_len, digest, digest_len) == 1;
        EVP_PKEY_CTX_free(ctx);
    }
    ERR_clear_error();
    return ok;
}

size_t dkim_crypto_sign(EVP_PKEY *key, da_dkim_algorithm algorithm, const unsigned char *digest,
                        size_t digest_len, unsigned char *sig, size_t sig_size)
{
    size_t len = sig_size;
    int ok = 0;
    if (algorithm == DA_DKIM_ED25519_SHA256) {
        EVP_MD_CTX *mctx = EVP_MD_CTX_new();
        ok = mctx != NULL && EVP_DigestSignInit(mctx, NULL, NULL, NULL, key) == 1 &&
             EVP_DigestSign(mctx, sig, &len, digest, digest_len) == 1;
        EVP_MD_CTX_free(mctx);
    } else {
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL);
        size_t need = 0;
        ok = ctx != NULL && EVP_PKEY_sign_init(ctx) == 1 &&
             EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
             EVP_PKEY_CTX_set_signature_md(ctx, dkim_algorithm_md(algorithm)) == 1 &&
             EVP_PKEY_sign(ctx, NULL, &need, digest, digest_len) == 1 && need <= sig_size &&
             EVP_PKEY_sign(ctx, sig, &len, digest, digest_len) == 1;
        EVP_PKEY_CTX_free(ctx);
    }
    ERR_clear_error();
    return ok ? len : 0;
}

/* ----------------------------------------------------------------- keys */

static da_dkim_key *wrap_key(EVP_PKEY *pkey, char *err, size_t err_size)
{
    int id = EVP_PKEY_get_base_id(pkey);
    if (id != EVP_PKEY_RSA && id != EVP_PKEY_ED25519) {
        snprintf(err, err_size, "the key is neither RSA nor Ed25519");
        EVP_PKEY_free(pkey);
        return NULL;
    }
    if (id == EVP_PKEY_RSA &&
        (EVP_PKEY_get_bits(pkey) < MIN_RSA_BITS || EVP_PKEY_get_bits(pkey) > DKIM_MAX_RSA_BITS)) {
        snprintf(err, err_size, "an RSA key of %d bits is outside 1024..8192 (RFC 8301)",
                 EVP_PKEY_get_bits(pkey));
        EVP_PKEY_free(pkey);
        return NULL;
    }
    da_dkim_key *key = calloc(1, sizeof *key);
    if (key == NULL) {
        snprintf(err, err_size, "out of memory");
        EVP_PKEY_free(pkey);
        return NULL;
    }
    key->pkey = pkey;
    key->type = id == EVP_PKEY_RSA ? DA_DKIM_KEY_RSA : DA_DKIM_KEY_ED25519;
    dkim_digests_fetch(&key->digests);
    return key;
}

da_dkim_key *da_dkim_key_generate(da_dkim_key_type type, unsigned bits, char *err,
                                  size_t err_size)
{
    if (bits == 0)
        bits = 2048;
    if (type == DA_DKIM_KEY_RSA && (bits < MIN_RSA_BITS || bits > DKIM_MAX_RSA_BITS)) {
        snprintf(err, err_size, "RSA keys must have 1024 to 8192 bits");
        return NULL;
    }
    EVP_PKEY *pkey = type == DA_DKIM_KEY_RSA ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits)
                                             : EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    ERR_clear_error();
    if (pkey == NULL) {
        snprintf(err, err_size, "key generation failed");
        return NULL;
    }
    return wrap_key(pkey, err, err_size);
}

/* Never prompts: an encrypted key is refused rather than asked about. */
static int no_passphrase(char *buf, int size, int rwflag, void *arg)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)arg;
    return 0;
}

static da_dkim_key *load_seed(const char *text, size_t len, char *err, size_t err_size)
{
    unsigned char seed[64];
    long n = len <= 80 ? dkim_base64_decode(text, len, seed, sizeof seed) : -1;
    if (n != 32) {
        snprintf(err, err_size, "neither a PEM private key nor a base64 Ed25519 seed");
        return NULL;
    }
    EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
    OPENSSL_cleanse(seed, sizeof seed);
    ERR_clear_error();
    if (pkey == NULL) {
        snprintf(err, err_size, "the Ed25519 seed was refused");
        return NULL;
    }
    return wrap_key(pkey, err, err_size);
}

da_dkim_key *da_dkim_key_load(const char *text, size_t len, char *err, size_t err_size)
{
    if (len > (1u << 20)) {
        snprintf(err, err_size, "the key file is too large");
        return NULL;
    }
    bool is_pem = false;
    for (size_t i = 0; i + 10 <= len && !is_pem; i++)
        is_pem = memcmp(text + i, "-----BEGIN", 10) == 0;
    if (!is_pem)
        return load_seed(text, len, err, err_size);
    BIO *bio = BIO_new_mem_buf(text, (int)len);
    EVP_PKEY *pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL) : NULL;
    BIO_free(bio);
    ERR_clear_error();
    if (pkey == NULL) {
        snprintf(err, err_size, "the PEM data holds no usable (unencrypted) private key");
        return NULL;
    }
    return wrap_key(pkey, err, err_size);
}

void da_dkim_key_free(da_dkim_key *key)
{
    if (key == NULL)
        return;
    EVP_PKEY_free(key->pkey);
    dkim_digests_free(&key->digests);
    free(key);
}

da_dkim_key_type da_dkim_key_get_type(const da_dkim_key *key)
{
    return key->type;
}

unsigned da_dkim_key_bits(const da_dkim_key *key)
{
    return (unsigned)EVP_PKEY_get_bits(key->pkey);
}

char *da_dkim_key_private_pem(const da_dkim_key *key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *out = NULL;
    if (bio != NULL && PEM_write_bio_PrivateKey(bio, key->pkey, NULL, NULL, 0, NULL, NULL) == 1) {
        char *data;
        long n = BIO_get_mem_data(bio, &data);
        if (n > 0 && (out = malloc((size_t)n + 1)) != NULL) {
            memcpy(out, data, (size_t)n);
            out[n] = '\0';
        }
    }
    BIO_free(bio);
    ERR_clear_error();
    return out;
}

char *da_dkim_key_record(const da_dkim_key *key)
{
    unsigned char raw[64];
    unsigned char *der = NULL;
    size_t len = 0;
    if (key->type == DA_DKIM_KEY_ED25519) {
        len = sizeof raw;
        if (EVP_PKEY_get_raw_public_key(key->pkey, raw, &len) != 1)
            return NULL;
    } else {
        int n = i2d_PUBKEY(key->pkey, &der);
        if (n <= 0)
            return NULL;
        len = (size_t)n;
    }
    strbuf sb;
    strbuf_init(&sb);
    strbuf_puts(&sb, key->type == DA_DKIM_KEY_ED25519 ? "v=DKIM1; k=ed25519; p="
                                                      : "v=DKIM1; k=rsa; p=");
    dkim_base64_encode(&sb, der ? der : raw, len);
    OPENSSL_free(der);
    return strbuf_take(&sb);
}

int da_dkim_key_check_record(const da_dkim_key *key, const char *record, size_t len,
                             char *err, size_t err_size)
{
    dkim_key_record rec;
    if (dkim_key_record_parse(record, len, &rec, err, err_size) != 0)
        return -1;
    int rc = 0;
    if (rec.revoked) {
        snprintf(err, err_size, "the published key is revoked (empty p=)");
        rc = 1;
    } else if (rec.is_ed25519 != (key->type == DA_DKIM_KEY_ED25519)) {
        snprintf(err, err_size, "the published key type (k=) differs from the private key's");
        rc = 1;
    } else if (EVP_PKEY_eq(rec.key, key->pkey) != 1) {
        snprintf(err, err_size, "the published key is not the private key's public half");
        rc = 1;
    } else {
        snprintf(err, err_size, "the published %u-bit %s key matches the private key", rec.bits,
                 rec.is_ed25519 ? "ed25519" : "RSA");
    }
    ERR_clear_error();
    dkim_key_record_clear(&rec);
    return rc;
}
