/* srs.h: the Sender Rewriting Scheme, forward and reverse, in the "Guarded"
 * form Mail::SRS, pysrs and PostSRSd share (SRS0 and SRS1 addresses). Pure:
 * no I/O and no clock; the caller passes the time and the secrets' bytes.
 * The envelope rewrite for bounce forwarding (BNC addresses) reuses it.
 * Not here: reading the secrets file, socketmaps, milter actions. */
#ifndef DA_SRS_H
#define DA_SRS_H

#include <stddef.h>
#include <stdint.h>

/* The longest address forward and reverse accept or produce, terminator
 * included. An RFC 5321 path is at most 256 octets; its SRS0 form adds the
 * domain again, the hash, the stamp and the SRS domain. */
#define SRS_ADDRESS_MAX 1024

#define SRS_HASH_MAX 27         /* base64 characters of an HMAC-SHA1 */
#define SRS_HASH_LENGTH_DEFAULT 4
#define SRS_MAX_AGE_DEFAULT 21  /* days a stamp stays valid */

typedef enum srs_status {
    SRS_OK = 0,
    SRS_UNCHANGED,   /* forward: already under the SRS domain, copied as is */
    SRS_NOT_SRS,     /* reverse: not an SRS0/SRS1 address, malformed, NUL/CR/LF */
    SRS_BAD_HASH,    /* reverse: no secret gives this hash */
    SRS_EXPIRED,     /* reverse: the day stamp is older than max_age */
    SRS_BAD_ADDRESS, /* forward: no local part or domain, or NUL, CR, LF */
    SRS_TOO_LONG,    /* input or output longer than SRS_ADDRESS_MAX or out_size */
    SRS_NO_SECRET,   /* no secret, or forward without an SRS domain */
    SRS_CRYPTO,      /* the HMAC failed */
} srs_status;

/* The rewriter: settings and secrets. Owned by its creator; free with
 * srs_free. Read-only during forward/reverse, so one may serve many threads. */
typedef struct srs srs;

srs *srs_new(void);
void srs_free(srs *s);

/* Adds one secret (bytes, not NUL-terminated). The first added signs; every
 * one verifies. Returns 0, or -1 when empty or out of memory. */
int srs_add_secret(srs *s, const char *secret, size_t len);
/* Adds a secret per line of text (CR LF or LF; empty lines skipped).
 * Returns the number added, or -1 when out of memory. */
int srs_add_secret_lines(srs *s, const char *text, size_t len);
size_t srs_secret_count(const srs *s);

/* The domain forwarded addresses go under. Returns -1 when empty, too long,
 * or containing '@' or '='. */
int srs_set_domain(srs *s, const char *domain);
/* The separator after SRS0/SRS1: '=' (the default), '+' or '-'. */
int srs_set_separator(srs *s, char separator);
/* Hash characters written (4..27, default 4); hashes shorter than
 * min_length (4..27) are refused when reversing. */
int srs_set_hash_length(srs *s, unsigned length, unsigned min_length);
/* Days a forward address stays reversible (1..1023, default 21). */
int srs_set_max_age(srs *s, unsigned days);

/* Rewrites addr (len bytes) for forwarding, at time now (seconds since the
 * epoch), into out (out_size bytes, NUL-terminated on SRS_OK/SRS_UNCHANGED):
 *   user@domain            -> SRS0=HHHH=TT=domain=user@srs-domain
 *   SRS0=...@fwd           -> SRS1=HHHH=fwd==...@srs-domain
 *   SRS1=HHHH=orig=...@fwd -> SRS1=hhhh=orig=...@srs-domain
 * An address already under the SRS domain is SRS_UNCHANGED. */
srs_status srs_forward(const srs *s, const char *addr, size_t len, int64_t now, char *out,
                       size_t out_size);

/* Undoes one forward step: SRS0 gives the original address, SRS1 the SRS0
 * address at the first forwarder. Checks the hash (any secret, any case, '+'
 * or '-' and '/' or '_' alike) and for SRS0 the day stamp's age. */
srs_status srs_reverse(const srs *s, const char *addr, size_t len, int64_t now, char *out,
                       size_t out_size);

/* The envelope rewrite for alignment with bounce forwarding: a site's own
 * outbound sender user@domain goes out as
 *   BNC=HHHH=TT=domain=user@bounce_domain
 * (a domain of the site's own, so SPF and DMARC align with it), signed and
 * stamped as SRS0 is but under its own tag, so that a bounce to it is
 * recognised and can be sent on to user@domain. An address already under
 * bounce_domain, or already in BNC form, is SRS_UNCHANGED. */
srs_status srs_bounce_forward(const srs *s, const char *bounce_domain, const char *addr,
                              size_t len, int64_t now, char *out, size_t out_size);
/* Undoes it: BNC=...@bounce-domain gives user@domain (hash and stamp
 * checked as for SRS0) and, when bounce_domain is not NULL, the domain the
 * bounce came to. SRS_NOT_SRS when addr is not in BNC form. */
srs_status srs_bounce_reverse(const srs *s, const char *addr, size_t len, int64_t now,
                              char *out, size_t out_size, char *bounce_domain,
                              size_t bounce_domain_size);

/* A short phrase for a status ("bad hash", "expired", ...). */
const char *srs_status_text(srs_status st);

#endif
