/* keyrec.c: DKIM key records (RFC 6376 section 3.6.1, RFC 8463 k=ed25519):
 * the TXT data at selector._domainkey.domain, turned into an OpenSSL public
 * key and the flags the verifier applies. Revoked keys (empty p=) parse. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "dkim_internal.h"

enum { MAX_KEY_BYTES = 4096 };

static bool value_is(const dkim_tag *t, const char *s)
{
    size_t n = strlen(s);
    return t->value_len == n && memcmp(t->value, s, n) == 0;
}

static bool item_equals(const char *item, size_t len, const char *s)
{
    return len == strlen(s) && strncasecmp(item, s, len) == 0;
}

/* Calls back for each item of a colon-separated list, trimmed of FWS. */
typedef void (*list_item_fn)(void *arg, const char *item, size_t len);

static void for_each_item(const dkim_tag *t, list_item_fn fn, void *arg)
{
    const char *p = t->value, *end = t->value + t->value_len;
    while (p <= end) {
        const char *colon = memchr(p, ':', (size_t)(end - p));
        const char *stop = colon ? colon : end;
        const char *a = p, *b = stop;
        while (a < b && (*a == ' ' || *a == '\t' || *a == '\r' || *a == '\n'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r' || b[-1] == '\n'))
            b--;
        fn(arg, a, (size_t)(b - a));
        if (colon == NULL)
            break;
        p = colon + 1;
    }
}

static void note_hash(void *arg, const char *item, size_t len)
{
    dkim_key_record *rec = arg;
    if (item_equals(item, len, "sha1"))
        rec->allows_sha1 = true;
    else if (item_equals(item, len, "sha256"))
        rec->allows_sha256 = true;
}

static void note_service(void *arg, const char *item, size_t len)
{
    bool *for_email = arg;
    if (item_equals(item, len, "*") || item_equals(item, len, "email"))
        *for_email = true;
}

static void note_flag(void *arg, const char *item, size_t len)
{
    dkim_key_record *rec = arg;
    if (item_equals(item, len, "y"))
        rec->testing = true;
    else if (item_equals(item, len, "s"))
        rec->strict_identity = true;
}

static int key_error(dkim_key_record *rec, char *err, size_t err_size, const char *why)
{
    dkim_key_record_clear(rec);
    snprintf(err, err_size, "key record: %s", why);
    ERR_clear_error();
    return -1;
}

static EVP_PKEY *rsa_key_from_der(const unsigned char *der, size_t len)
{
    const unsigned char *p = der;
    EVP_PKEY *key = d2i_PUBKEY(NULL, &p, (long)len);
    if (key != NULL && p != der + len) { /* trailing bytes */
        EVP_PKEY_free(key);
        return NULL;
    }
    if (key == NULL) { /* some publish a bare RSAPublicKey */
        p = der;
        key = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, (long)len);
    }
    if (key != NULL && EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
        EVP_PKEY_free(key);
        return NULL;
    }
    return key;
}

static int parse_public_key(dkim_key_record *rec, const dkim_tag *p, char *err, size_t err_size)
{
    if (p->value_len == 0) {
        rec->revoked = true;
        return 0;
    }
    if (p->value_len > MAX_KEY_BYTES * 4 / 3 + 8)
        return key_error(rec, err, err_size, "p= is longer than any supported key");
    unsigned char der[MAX_KEY_BYTES + 4];
    long n = dkim_base64_decode(p->value, p->value_len, der, sizeof der);
    if (n <= 0)
        return key_error(rec, err, err_size, "p= is not valid base64");
    if (rec->is_ed25519) {
        if (n != 32)
            return key_error(rec, err, err_size, "an ed25519 key must be 32 bytes");
        rec->key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, der, 32);
        rec->bits = 256;
    } else {
        rec->key = rsa_key_from_der(der, (size_t)n);
        rec->bits = rec->key ? (unsigned)EVP_PKEY_get_bits(rec->key) : 0;
    }
    if (rec->key == NULL)
        return key_error(rec, err, err_size,
                         rec->is_ed25519 ? "p= is not an ed25519 key" : "p= is not an RSA key");
    return 0;
}

int dkim_key_record_parse(const char *text, size_t len, dkim_key_record *rec, char *err,
                          size_t err_size)
{
    memset(rec, 0, sizeof *rec);
    dkim_tag_list tags;
    char why[160];
    if (dkim_tags_parse(text, len, &tags, why, sizeof why) != 0) {
        snprintf(err, err_size, "key record: %s", why);
        return -1;
    }
    const dkim_tag *v = dkim_tags_find(&tags, "v");
    if (v != NULL && (v != &tags.tags[0] || !value_is(v, "DKIM1")))
        return key_error(rec, err, err_size, "v= is not DKIM1, or not first");
    const dkim_tag *k = dkim_tags_find(&tags, "k");
    if (k != NULL && value_is(k, "ed25519"))
        rec->is_ed25519 = true;
    else if (k != NULL && !value_is(k, "rsa"))
        return key_error(rec, err, err_size, "unknown key type k=");
    const dkim_tag *h = dkim_tags_find(&tags, "h");
    if (h != NULL)
        for_each_item(h, note_hash, rec);
    else
        rec->allows_sha1 = rec->allows_sha256 = true;
    const dkim_tag *s = dkim_tags_find(&tags, "s");
    bool for_email = s == NULL;
    if (s != NULL)
        for_each_item(s, note_service, &for_email);
    if (!for_email)
        return key_error(rec, err, err_size, "s= does not include email");
    const dkim_tag *t = dkim_tags_find(&tags, "t");
    if (t != NULL)
        for_each_item(t, note_flag, rec);
    const dkim_tag *p = dkim_tags_find(&tags, "p");
    if (p == NULL)
        return key_error(rec, err, err_size, "no p= tag");
    return parse_public_key(rec, p, err, err_size);
}

void dkim_key_record_clear(dkim_key_record *rec)
{
    if (rec->owns_verify_ctx)
        EVP_PKEY_CTX_free(rec->rsa_sha256_verify);
    rec->rsa_sha256_verify = NULL;
    rec->owns_verify_ctx = false;
    EVP_PKEY_free(rec->key);
    rec->key = NULL;
}

int da_dkim_record_check(const char *record, size_t len, unsigned *bits, char *err,
                         size_t err_size)
{
    dkim_key_record rec;
    if (dkim_key_record_parse(record, len, &rec, err, err_size) != 0)
        return -1;
    if (bits != NULL)
        *bits = rec.bits;
    int rc = 0;
    if (rec.revoked) {
        snprintf(err, err_size, "the key is revoked (empty p=)");
        rc = -1;
    }
    dkim_key_record_clear(&rec);
    return rc;
}

/* ------------------------------------------------------------ key cache */

/* Direct-mapped: a record's hash picks its slot and a newcomer replaces the
 * old one. Hot keys stay; no list to keep. Each user takes its own
 * reference to the EVP_PKEY, so replacing a slot frees nothing in use. */
typedef struct key_slot {
    uint64_t hash;
    char *text;
    size_t len;
    dkim_key_record rec;
} key_slot;

struct da_dkim_key_cache {
    key_slot *slots;
    size_t count;
    uint64_t hits, decodes;
    dkim_digests digests; /* the cache outlives messages: fetched once here */
};

da_dkim_key_cache *da_dkim_key_cache_new(size_t slots)
{
    da_dkim_key_cache *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->count = slots ? slots : 1024;
    c->slots = calloc(c->count, sizeof *c->slots);
    if (c->slots == NULL) {
        free(c);
        return NULL;
    }
    dkim_digests_fetch(&c->digests);
    return c;
}

static void slot_clear(key_slot *slot)
{
    free(slot->text);
    dkim_key_record_clear(&slot->rec);
    memset(slot, 0, sizeof *slot);
}

void da_dkim_key_cache_free(da_dkim_key_cache *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->count; i++)
        slot_clear(&c->slots[i]);
    dkim_digests_free(&c->digests);
    free(c->slots);
    free(c);
}

void da_dkim_key_cache_stats(const da_dkim_key_cache *c, uint64_t *hits, uint64_t *decodes)
{
    *hits = c->hits;
    *decodes = c->decodes;
}

const EVP_MD *dkim_key_cache_md(const da_dkim_key_cache *c, da_dkim_algorithm algorithm)
{
    return dkim_digests_md(c ? &c->digests : NULL, algorithm);
}

static uint64_t record_hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* A copy of rec holding its own reference to the key. */
static int record_share(dkim_key_record *dst, const dkim_key_record *src)
{
    *dst = *src;
    dst->owns_verify_ctx = false;
    if (src->key != NULL && EVP_PKEY_up_ref(src->key) != 1) {
        dst->key = NULL;
        dst->rsa_sha256_verify = NULL;
        return -1;
    }
    return 0;
}

int dkim_key_record_parse_cached(da_dkim_key_cache *c, const char *text, size_t len,
                                 dkim_key_record *rec, char *err, size_t err_size)
{
    if (c == NULL)
        return dkim_key_record_parse(text, len, rec, err, err_size);
    uint64_t h = record_hash(text, len);
    key_slot *slot = &c->slots[h % c->count];
    if (slot->text != NULL && slot->hash == h && slot->len == len &&
        memcmp(slot->text, text, len) == 0 && record_share(rec, &slot->rec) == 0) {
        c->hits++;
        return 0;
    }
    c->decodes++;
    if (dkim_key_record_parse(text, len, rec, err, err_size) != 0)
        return -1;
    char *copy = malloc(len ? len : 1);
    dkim_key_record shared;
    if (copy != NULL && record_share(&shared, rec) == 0) {
        slot_clear(slot);
        memcpy(copy, text, len);
        slot->text = copy;
        slot->len = len;
        slot->hash = h;
        slot->rec = shared;
        if (shared.key != NULL && !shared.is_ed25519) {
            slot->rec.rsa_sha256_verify =
                dkim_crypto_rsa_verify_ctx(shared.key, dkim_key_cache_md(c, DA_DKIM_RSA_SHA256));
            slot->rec.owns_verify_ctx = slot->rec.rsa_sha256_verify != NULL;
            rec->rsa_sha256_verify = slot->rec.rsa_sha256_verify; /* borrowed, as on a hit */
        }
    } else {
        free(copy);
    }
    return 0;
}
