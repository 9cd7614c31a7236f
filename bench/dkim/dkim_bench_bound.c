/* dkim_bench_bound.c: the bound of the DKIM benchmark, measured in the same
 * run, the same way (dkim_drv.h's timed loop, the same core) as the
 * verifiers it bounds. Per message it does only what no verifier (or
 * signer) can avoid, with everything else prepared outside the timed loop:
 *
 * - SHA-256 over the message's relaxed-canonicalized body (canonicalized
 *   beforehand, untimed: the scan itself is a verifier's cost, not the
 *   bound's);
 * - one public-key operation of the key type on that 32-byte digest: RSA
 *   PKCS#1 v1.5 verify (or sign), or Ed25519 verify (or sign).
 *
 * The digest, contexts and key are fetched and decoded once. The header
 * hash (a few hundred bytes) is left out, so the bound is a little faster
 * than any real verifier and no ratio against it can exceed 1.0 but by
 * noise. The signatures verified are made at start-up with --key.
 * See dkim_drv.h for the command line and bench/dkim/README.md. */
#include "dkim_drv.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

typedef struct bound_msg {
    unsigned char *canon; /* relaxed-canonicalized body */
    size_t canon_len;
    unsigned char sig[512];
    size_t sig_len;
} bound_msg;

typedef struct ctx {
    const drv_args *a;
    EVP_PKEY *key;
    EVP_MD *sha256;
    EVP_MD_CTX *md;
    EVP_MD_CTX *ed;    /* Ed25519: DigestVerify/DigestSign context, re-initialised */
    EVP_PKEY_CTX *rsa; /* RSA: initialised once for verify or sign */
    bound_msg *msgs;
} ctx;

static bool is_wsp(unsigned char c) { return c == ' ' || c == '\t'; }

/* RFC 6376 section 3.4.4, from the first empty line on (untimed). */
static unsigned char *relaxed_body(const unsigned char *m, size_t len, size_t *out_len)
{
    size_t start = 0;
    for (size_t i = 0; i + 3 < len; i++)
        if (m[i] == '\r' && m[i + 1] == '\n' && m[i + 2] == '\r' && m[i + 3] == '\n') {
            start = i + 4;
            break;
        }
    unsigned char *out = malloc(len - start + 3);
    if (out == NULL)
        drv_die("out of memory", NULL);
    size_t n = 0, kept = 0; /* kept: length up to the last non-empty line */
    size_t i = start;
    while (i < len) {
        size_t e = i;
        while (e < len && !(m[e] == '\r' && e + 1 < len && m[e + 1] == '\n'))
            e++;
        size_t line_start = n;
        bool space = false;
        for (size_t k = i; k < e; k++) {
            if (is_wsp(m[k])) {
                space = true;
            } else {
                if (space) /* leading blanks too become one SP */
                    out[n++] = ' ';
                space = false;
                out[n++] = m[k];
            }
        }
        out[n++] = '\r';
        out[n++] = '\n';
        if (n - line_start > 2)
            kept = n;
        i = e + 2;
    }
    *out_len = kept;
    return out;
}

static void digest(ctx *c, const bound_msg *b, unsigned char d[32])
{
    unsigned int dl = 0;
    if (EVP_DigestInit_ex2(c->md, c->sha256, NULL) != 1 ||
        EVP_DigestUpdate(c->md, b->canon, b->canon_len) != 1 ||
        EVP_DigestFinal_ex(c->md, d, &dl) != 1 || dl != 32)
        drv_die("SHA-256 failed", NULL);
}

static bool keyop(ctx *c, bound_msg *b, const unsigned char d[32], bool sign)
{
    if (c->a->ed25519) {
        if (sign) {
            size_t l = sizeof b->sig;
            return EVP_DigestSignInit_ex(c->ed, NULL, NULL, NULL, NULL, c->key, NULL) == 1 &&
                   EVP_DigestSign(c->ed, b->sig, &l, d, 32) == 1 && (b->sig_len = l) > 0;
        }
        return EVP_DigestVerifyInit_ex(c->ed, NULL, NULL, NULL, NULL, c->key, NULL) == 1 &&
               EVP_DigestVerify(c->ed, b->sig, b->sig_len, d, 32) == 1;
    }
    if (sign) {
        size_t l = sizeof b->sig;
        return EVP_PKEY_sign(c->rsa, b->sig, &l, d, 32) == 1 && (b->sig_len = l) > 0;
    }
    return EVP_PKEY_verify(c->rsa, b->sig, b->sig_len, d, 32) == 1;
}

static bool one(void *arg, const drv_msg *m)
{
    ctx *c = arg;
    bound_msg *b = &c->msgs[m - c->a->msgs];
    unsigned char d[32];
    digest(c, b, d);
    return keyop(c, b, d, c->a->sign);
}

static void rsa_init(ctx *c, bool sign)
{
    EVP_PKEY_CTX_free(c->rsa);
    c->rsa = EVP_PKEY_CTX_new_from_pkey(NULL, c->key, NULL);
    if (c->rsa == NULL || (sign ? EVP_PKEY_sign_init(c->rsa) : EVP_PKEY_verify_init(c->rsa)) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(c->rsa, RSA_PKCS1_PADDING) != 1 ||
        EVP_PKEY_CTX_set_signature_md(c->rsa, c->sha256) != 1)
        drv_die("cannot set up the RSA context", NULL);
}

int main(int argc, char **argv)
{
    drv_args a;
    drv_parse(&a, argc, argv);
    ctx c = {.a = &a};
    BIO *bio = BIO_new_mem_buf(a.key, (int)a.key_len);
    c.key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    if (c.key == NULL)
        drv_die("cannot read the private key", a.key_path);
    c.sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    c.md = EVP_MD_CTX_new();
    c.ed = EVP_MD_CTX_new();
    c.msgs = calloc(a.nmsgs, sizeof *c.msgs);
    if (c.sha256 == NULL || c.md == NULL || c.ed == NULL || c.msgs == NULL)
        drv_die("out of memory", NULL);
    /* Untimed: canonicalize every body and, for verify, sign its digest. */
    if (!a.ed25519)
        rsa_init(&c, true);
    for (size_t k = 0; k < a.nmsgs; k++) {
        bound_msg *b = &c.msgs[k];
        b->canon = relaxed_body(a.msgs[k].data, a.msgs[k].len, &b->canon_len);
        unsigned char d[32];
        digest(&c, b, d);
        if (!keyop(&c, b, d, true))
            drv_die("cannot sign a digest", a.msgs[k].path);
    }
    if (!a.ed25519 && !a.sign)
        rsa_init(&c, false);
    drv_run(&a, "bound", one, &c);
    for (size_t k = 0; k < a.nmsgs; k++)
        free(c.msgs[k].canon);
    free(c.msgs);
    EVP_PKEY_CTX_free(c.rsa);
    EVP_MD_CTX_free(c.md);
    EVP_MD_CTX_free(c.ed);
    EVP_MD_free(c.sha256);
    EVP_PKEY_free(c.key);
    return 0;
}
