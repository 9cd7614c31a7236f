/* srs.c: SRS0/SRS1 forward and reverse (see srs.h). Compatible with
 * Mail::SRS::Guarded, pysrs and PostSRSd: the hash is the first N base64
 * characters of HMAC-SHA1(secret, lowercase(stamp . domain . user)) for SRS0
 * and of HMAC-SHA1(secret, lowercase(srshost . srsuser)) for SRS1, where
 * srsuser is the SRS0 local part after "SRS0" (separator included).
 *
 * Every address is parsed from (pointer, length) and built into the
 * caller's buffer through a bounded writer whose overflow is an error. */
#include "srs.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#define SRS_DOMAIN_MAX 256
#define SRS_STAMP_PERIOD 1024 /* two base32 characters of days */

static const char base32_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

typedef struct srs_secret {
    char *bytes;
    size_t len;
} srs_secret;

struct srs {
    srs_secret *secrets;
    size_t count, cap;
    char domain[SRS_DOMAIN_MAX];
    char separator;
    unsigned hash_length, hash_min, max_age;
};

/* A piece of an address: pointer and length into the caller's input. */
typedef struct span {
    const char *p;
    size_t len;
} span;

/* ------------------------------------------------------------ helpers */

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool span_ieq(span a, const char *b)
{
    size_t n = strlen(b);
    if (a.len != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (lower(a.p[i]) != lower(b[i]))
            return false;
    return true;
}

static bool is_separator(char c)
{
    return c == '=' || c == '+' || c == '-';
}

/* Finds c in s; returns its index or s.len. */
static size_t span_find(span s, char c)
{
    const char *hit = memchr(s.p, c, s.len);
    return hit ? (size_t)(hit - s.p) : s.len;
}

/* NUL, CR and LF never belong in an envelope address, and copied into a
 * reply line they would end it early. */
static bool has_line_breakers(const char *addr, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (addr[i] == '\0' || addr[i] == '\r' || addr[i] == '\n')
            return true;
    return false;
}

/* Splits addr at its last '@'. */
static bool split_address(const char *addr, size_t len, span *local, span *domain)
{
    for (size_t i = len; i > 0; i--) {
        if (addr[i - 1] == '@') {
            *local = (span){addr, i - 1};
            *domain = (span){addr + i, len - i};
            return true;
        }
    }
    return false;
}

/* A bounded writer: any overflow makes the whole result fail. */
typedef struct writer {
    char *out;
    size_t size, len;
    bool overflow;
} writer;

static void put(writer *w, const char *p, size_t n)
{
    if (w->overflow || n >= w->size - w->len) {
        w->overflow = true;
        return;
    }
    memcpy(w->out + w->len, p, n);
    w->len += n;
    w->out[w->len] = '\0';
}

static void put_span(writer *w, span s)
{
    put(w, s.p, s.len);
}

static void put_str(writer *w, const char *s)
{
    put(w, s, strlen(s));
}

static void put_char(writer *w, char c)
{
    put(w, &c, 1);
}

/* ------------------------------------------------------------ hashing */

/* The base64 text of HMAC-SHA1(secret, lowercase(parts...)), first
 * SRS_HASH_MAX characters, into hash[SRS_HASH_MAX + 1]. */
static srs_status hash_compute(const srs_secret *secret, const span *parts, size_t nparts,
                               char *hash)
{
    char data[2 * SRS_ADDRESS_MAX];
    size_t n = 0;
    for (size_t i = 0; i < nparts; i++) {
        if (parts[i].len > sizeof data - n)
            return SRS_TOO_LONG;
        for (size_t j = 0; j < parts[i].len; j++)
            data[n++] = lower(parts[i].p[j]);
    }
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (HMAC(EVP_sha1(), secret->bytes, (int)secret->len, (const unsigned char *)data, n, mac,
             &mac_len) == NULL || mac_len != 20)
        return SRS_CRYPTO;
    /* 20 bytes are 27 base64 characters and one '=' of padding. */
    unsigned char text[29];
    if (EVP_EncodeBlock(text, mac, (int)mac_len) != 28)
        return SRS_CRYPTO;
    memcpy(hash, text, SRS_HASH_MAX);
    hash[SRS_HASH_MAX] = '\0';
    return SRS_OK;
}

/* Compares a hash as received with a computed one: case does not matter
 * (MTAs smash the case of local parts) and the URL-safe alphabet's '-' and
 * '_' stand for '+' and '/'. */
static bool hash_matches(span given, const char *computed)
{
    for (size_t i = 0; i < given.len; i++) {
        char c = given.p[i];
        if (c == '-') c = '+';
        else if (c == '_') c = '/';
        if (lower(c) != lower(computed[i]))
            return false;
    }
    return true;
}

static srs_status hash_check(const srs *s, span given, const span *parts, size_t nparts)
{
    if (given.len < s->hash_min || given.len > SRS_HASH_MAX)
        return SRS_BAD_HASH;
    for (size_t i = 0; i < s->count; i++) {
        char computed[SRS_HASH_MAX + 1];
        srs_status st = hash_compute(&s->secrets[i], parts, nparts, computed);
        if (st != SRS_OK)
            return st;
        if (hash_matches(given, computed))
            return SRS_OK;
    }
    return SRS_BAD_HASH;
}

/* ---------------------------------------------------------- day stamp */

static unsigned today(int64_t now)
{
    int64_t days = now / 86400;
    if (now < 0 && now % 86400 != 0)
        days--;
    int64_t r = days % SRS_STAMP_PERIOD;
    return (unsigned)(r < 0 ? r + SRS_STAMP_PERIOD : r);
}

static int base32_value(char c)
{
    const char *hit = strchr(base32_alphabet, c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
    return c != '\0' && hit != NULL ? (int)(hit - base32_alphabet) : -1;
}

static bool stamp_decode(span stamp, unsigned *days)
{
    if (stamp.len != 2)
        return false;
    int hi = base32_value(stamp.p[0]), lo = base32_value(stamp.p[1]);
    if (hi < 0 || lo < 0)
        return false;
    *days = (unsigned)(hi * 32 + lo);
    return true;
}

/* Valid when made at most max_age days ago, counting across the wrap. */
static bool stamp_fresh(unsigned then, unsigned max_age, int64_t now)
{
    unsigned day = today(now);
    if (day < then)
        day += SRS_STAMP_PERIOD;
    return day - then <= max_age;
}

/* ---------------------------------------------------------- lifecycle */

srs *srs_new(void)
{
    srs *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->separator = '=';
    s->hash_length = SRS_HASH_LENGTH_DEFAULT;
    s->hash_min = SRS_HASH_LENGTH_DEFAULT;
    s->max_age = SRS_MAX_AGE_DEFAULT;
    return s;
}

void srs_free(srs *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->count; i++) {
        OPENSSL_cleanse(s->secrets[i].bytes, s->secrets[i].len);
        free(s->secrets[i].bytes);
    }
    free(s->secrets);
    free(s);
}

int srs_add_secret(srs *s, const char *secret, size_t len)
{
    if (len == 0 || len > 0x7fffffff)
        return -1;
    if (s->count == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 4;
        srs_secret *grown = realloc(s->secrets, cap * sizeof *grown);
        if (grown == NULL)
            return -1;
        s->secrets = grown;
        s->cap = cap;
    }
    char *copy = malloc(len);
    if (copy == NULL)
        return -1;
    memcpy(copy, secret, len);
    s->secrets[s->count++] = (srs_secret){copy, len};
    return 0;
}

int srs_add_secret_lines(srs *s, const char *text, size_t len)
{
    int added = 0;
    size_t i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && text[end] != '\n')
            end++;
        size_t n = end - i;
        if (n > 0 && text[i + n - 1] == '\r')
            n--;
        if (n > 0) {
            if (srs_add_secret(s, text + i, n) != 0)
                return -1;
            added++;
        }
        i = end + 1;
    }
    return added;
}

size_t srs_secret_count(const srs *s)
{
    return s->count;
}

int srs_set_domain(srs *s, const char *domain)
{
    size_t n = strlen(domain);
    if (n == 0 || n >= sizeof s->domain || strpbrk(domain, "@= \t\r\n") != NULL)
        return -1;
    memcpy(s->domain, domain, n + 1);
    return 0;
}

int srs_set_separator(srs *s, char separator)
{
    if (!is_separator(separator))
        return -1;
    s->separator = separator;
    return 0;
}

int srs_set_hash_length(srs *s, unsigned length, unsigned min_length)
{
    if (length < 4 || length > SRS_HASH_MAX || min_length < 4 || min_length > SRS_HASH_MAX)
        return -1;
    s->hash_length = length;
    s->hash_min = min_length;
    return 0;
}

int srs_set_max_age(srs *s, unsigned days)
{
    if (days < 1 || days >= SRS_STAMP_PERIOD)
        return -1;
    s->max_age = days;
    return 0;
}

/* ------------------------------------------------------------ parsing */

/* SRS0 or SRS1 (any case), then a separator. */
static bool has_srs_prefix(span local, const char *prefix)
{
    return local.len >= 5 && span_ieq((span){local.p, 4}, prefix) && is_separator(local.p[4]);
}

/* An SRS1 local part: SRS1<sep>HASH=SRSHOST=SRSUSER, where SRSUSER is
 * the SRS0 local part after "SRS0" (it starts with a separator). A host
 * with '@' in it is refused, here and in SRS0, so that what reverse
 * returns splits back into the same local part and domain. */
typedef struct srs1_parts {
    span hash, host, user;
} srs1_parts;

static bool parse_srs1(span local, srs1_parts *p)
{
    if (!has_srs_prefix(local, "SRS1"))
        return false;
    span rest = {local.p + 5, local.len - 5};
    size_t i = span_find(rest, '=');
    if (i == 0 || i == rest.len)
        return false;
    p->hash = (span){rest.p, i};
    rest = (span){rest.p + i + 1, rest.len - i - 1};
    i = span_find(rest, '=');
    if (i == 0 || i == rest.len)
        return false;
    p->host = (span){rest.p, i};
    p->user = (span){rest.p + i + 1, rest.len - i - 1};
    return span_find(p->host, '@') == p->host.len && p->user.len >= 2 &&
           is_separator(p->user.p[0]);
}

/* An SRS0 local part: SRS0<sep>HASH=TT=DOMAIN=USER (USER may hold '='). */
typedef struct srs0_parts {
    span hash, stamp, domain, user;
} srs0_parts;

/* HASH=TT=DOMAIN=USER after a tag and its separator: SRS0's fields, and
 * the bounce address's (BNC=). */
static bool parse_stamped_fields(span rest, srs0_parts *p)
{
    span *fields[3] = {&p->hash, &p->stamp, &p->domain};
    for (size_t f = 0; f < 3; f++) {
        size_t i = span_find(rest, '=');
        if (i == 0 || i == rest.len)
            return false;
        *fields[f] = (span){rest.p, i};
        rest = (span){rest.p + i + 1, rest.len - i - 1};
    }
    p->user = rest;
    return span_find(p->domain, '@') == p->domain.len && p->user.len > 0;
}

static bool parse_srs0(span local, srs0_parts *p)
{
    return has_srs_prefix(local, "SRS0") &&
           parse_stamped_fields((span){local.p + 5, local.len - 5}, p);
}

/* ------------------------------------------------------------ forward */

/* Writes SRS1<sep>HASH=host=user, the hash signing host and user. */
static srs_status put_srs1(writer *w, const srs *s, span host, span user)
{
    char hash[SRS_HASH_MAX + 1];
    span parts[2] = {host, user};
    srs_status st = hash_compute(&s->secrets[0], parts, 2, hash);
    if (st != SRS_OK)
        return st;
    put_str(w, "SRS1");
    put_char(w, s->separator);
    put(w, hash, s->hash_length);
    put_char(w, '=');
    put_span(w, host);
    put_char(w, '=');
    put_span(w, user);
    return SRS_OK;
}

/* Writes HEAD HASH=TT=DOMAIN=USER, the hash signing (tag,) stamp, domain
 * and user: SRS0's form, and the bounce address's under its own tag. */
static srs_status put_stamped(writer *w, const srs *s, const span *tag, const char *head,
                              span domain, span local, int64_t now)
{
    unsigned day = today(now);
    char hash[SRS_HASH_MAX + 1];
    char stamp[2] = {base32_alphabet[(day >> 5) & 31], base32_alphabet[day & 31]};
    span parts[4];
    size_t n = 0;
    if (tag != NULL)
        parts[n++] = *tag;
    parts[n++] = (span){stamp, 2};
    parts[n++] = domain;
    parts[n++] = local;
    srs_status st = hash_compute(&s->secrets[0], parts, n, hash);
    if (st != SRS_OK)
        return st;
    put_str(w, head);
    put(w, hash, s->hash_length);
    put_char(w, '=');
    put(w, stamp, 2);
    put_char(w, '=');
    put_span(w, domain);
    put_char(w, '=');
    put_span(w, local);
    return SRS_OK;
}

srs_status srs_forward(const srs *s, const char *addr, size_t len, int64_t now, char *out,
                       size_t out_size)
{
    if (out == NULL || out_size == 0)
        return SRS_TOO_LONG;
    out[0] = '\0';
    if (s->count == 0 || s->domain[0] == '\0')
        return SRS_NO_SECRET;
    if (len >= SRS_ADDRESS_MAX)
        return SRS_TOO_LONG;
    span local, domain;
    if (has_line_breakers(addr, len) || !split_address(addr, len, &local, &domain) ||
        local.len == 0 || domain.len == 0 ||
        domain.len >= SRS_DOMAIN_MAX || span_find(domain, '=') != domain.len)
        return SRS_BAD_ADDRESS;

    writer w = {out, out_size < SRS_ADDRESS_MAX ? out_size : SRS_ADDRESS_MAX, 0, false};
    if (span_ieq(domain, s->domain)) {
        put(&w, addr, len);
        return w.overflow ? SRS_TOO_LONG : SRS_UNCHANGED;
    }

    srs_status st;
    srs1_parts p1;
    if (parse_srs1(local, &p1)) {
        /* Re-forwarding an SRS1 address: keep the first forwarder and its
         * SRS0 part, sign them again for our domain. */
        if ((st = put_srs1(&w, s, p1.host, p1.user)) != SRS_OK)
            return st;
    } else if (has_srs_prefix(local, "SRS0")) {
        /* Forwarding another forwarder's SRS0 address: wrap it as SRS1 so
         * that bounces go back through that forwarder. */
        if ((st = put_srs1(&w, s, domain, (span){local.p + 4, local.len - 4})) != SRS_OK)
            return st;
    } else {
        char head[6] = {'S', 'R', 'S', '0', s->separator, '\0'};
        if ((st = put_stamped(&w, s, NULL, head, domain, local, now)) != SRS_OK)
            return st;
    }
    put_char(&w, '@');
    put_str(&w, s->domain);
    if (w.overflow) {
        out[0] = '\0';
        return SRS_TOO_LONG;
    }
    return SRS_OK;
}

/* ------------------------------------------------------------ reverse */

srs_status srs_reverse(const srs *s, const char *addr, size_t len, int64_t now, char *out,
                       size_t out_size)
{
    if (out == NULL || out_size == 0)
        return SRS_TOO_LONG;
    out[0] = '\0';
    if (len >= SRS_ADDRESS_MAX)
        return SRS_TOO_LONG;
    span local, domain;
    if (has_line_breakers(addr, len) || !split_address(addr, len, &local, &domain))
        return SRS_NOT_SRS;
    if (s->count == 0)
        return SRS_NO_SECRET;

    writer w = {out, out_size < SRS_ADDRESS_MAX ? out_size : SRS_ADDRESS_MAX, 0, false};
    srs_status st;
    srs1_parts p1;
    srs0_parts p0;
    if (parse_srs1(local, &p1)) {
        span parts[2] = {p1.host, p1.user};
        if ((st = hash_check(s, p1.hash, parts, 2)) != SRS_OK)
            return st;
        put_str(&w, "SRS0");
        put_span(&w, p1.user);
        put_char(&w, '@');
        put_span(&w, p1.host);
    } else if (parse_srs0(local, &p0)) {
        unsigned then;
        if (!stamp_decode(p0.stamp, &then))
            return SRS_NOT_SRS;
        span parts[3] = {p0.stamp, p0.domain, p0.user};
        if ((st = hash_check(s, p0.hash, parts, 3)) != SRS_OK)
            return st;
        if (!stamp_fresh(then, s->max_age, now))
            return SRS_EXPIRED;
        put_span(&w, p0.user);
        put_char(&w, '@');
        put_span(&w, p0.domain);
    } else {
        return SRS_NOT_SRS;
    }
    if (w.overflow) {
        out[0] = '\0';
        return SRS_TOO_LONG;
    }
    return SRS_OK;
}

/* ------------------------------------------------------ bounce address */

/* BNC=HASH=TT=DOMAIN=USER: SRS0's fields under a tag of its own. The tag
 * is signed too, so a BNC hash is never a valid SRS0 hash of the same
 * fields, nor the reverse. */
static const span bounce_tag = {"bnc", 3};

static bool parse_bounce(span local, srs0_parts *p)
{
    return local.len >= 4 && span_ieq((span){local.p, 3}, "BNC") && local.p[3] == '=' &&
           parse_stamped_fields((span){local.p + 4, local.len - 4}, p);
}

srs_status srs_bounce_forward(const srs *s, const char *bounce_domain, const char *addr,
                              size_t len, int64_t now, char *out, size_t out_size)
{
    if (out == NULL || out_size == 0)
        return SRS_TOO_LONG;
    out[0] = '\0';
    if (s->count == 0 || bounce_domain == NULL || *bounce_domain == '\0')
        return SRS_NO_SECRET;
    if (len >= SRS_ADDRESS_MAX)
        return SRS_TOO_LONG;
    span local, domain;
    if (has_line_breakers(addr, len) || !split_address(addr, len, &local, &domain) ||
        local.len == 0 || domain.len == 0 || domain.len >= SRS_DOMAIN_MAX ||
        span_find(domain, '=') != domain.len)
        return SRS_BAD_ADDRESS;
    writer w = {out, out_size < SRS_ADDRESS_MAX ? out_size : SRS_ADDRESS_MAX, 0, false};
    srs0_parts already;
    if (span_ieq(domain, bounce_domain) || parse_bounce(local, &already)) {
        put(&w, addr, len);
        return w.overflow ? SRS_TOO_LONG : SRS_UNCHANGED;
    }
    srs_status st = put_stamped(&w, s, &bounce_tag, "BNC=", domain, local, now);
    if (st != SRS_OK)
        return st;
    put_char(&w, '@');
    put_str(&w, bounce_domain);
    if (w.overflow) {
        out[0] = '\0';
        return SRS_TOO_LONG;
    }
    return SRS_OK;
}

srs_status srs_bounce_reverse(const srs *s, const char *addr, size_t len, int64_t now,
                              char *out, size_t out_size, char *bounce_domain,
                              size_t bounce_domain_size)
{
    if (out == NULL || out_size == 0)
        return SRS_TOO_LONG;
    out[0] = '\0';
    if (bounce_domain != NULL && bounce_domain_size > 0)
        bounce_domain[0] = '\0';
    if (len >= SRS_ADDRESS_MAX)
        return SRS_TOO_LONG;
    span local, domain;
    srs0_parts p;
    if (has_line_breakers(addr, len) || !split_address(addr, len, &local, &domain) ||
        !parse_bounce(local, &p))
        return SRS_NOT_SRS;
    if (s->count == 0)
        return SRS_NO_SECRET;
    unsigned then;
    if (!stamp_decode(p.stamp, &then))
        return SRS_NOT_SRS;
    span parts[4] = {bounce_tag, p.stamp, p.domain, p.user};
    srs_status st = hash_check(s, p.hash, parts, 4);
    if (st != SRS_OK)
        return st;
    if (!stamp_fresh(then, s->max_age, now))
        return SRS_EXPIRED;
    writer w = {out, out_size < SRS_ADDRESS_MAX ? out_size : SRS_ADDRESS_MAX, 0, false};
    put_span(&w, p.user);
    put_char(&w, '@');
    put_span(&w, p.domain);
    if (w.overflow || (bounce_domain != NULL && domain.len >= bounce_domain_size)) {
        out[0] = '\0';
        return SRS_TOO_LONG;
    }
    if (bounce_domain != NULL) {
        memcpy(bounce_domain, domain.p, domain.len);
        bounce_domain[domain.len] = '\0';
    }
    return SRS_OK;
}

const char *srs_status_text(srs_status st)
{
    switch (st) {
    case SRS_OK: return "ok";
    case SRS_UNCHANGED: return "already under the SRS domain";
    case SRS_NOT_SRS: return "not an SRS address";
    case SRS_BAD_HASH: return "bad hash";
    case SRS_EXPIRED: return "expired";
    case SRS_BAD_ADDRESS: return "not an address (no local part or no domain)";
    case SRS_TOO_LONG: return "address too long";
    case SRS_NO_SECRET: return "no secret or no SRS domain";
    case SRS_CRYPTO: return "HMAC-SHA1 failed";
    }
    return "unknown";
}
