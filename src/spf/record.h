/* record.h: the parsed form of an SPF record (RFC 7208 sections 4.6, 5, 6).
 * Parsing checks the whole record's syntax up front, as section 4.6 asks;
 * it does no DNS and expands no macros. */
#ifndef DA_SPF_RECORD_H
#define DA_SPF_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/arena.h"

typedef enum spf_mechanism {
    SPF_ALL,
    SPF_INCLUDE,
    SPF_A,
    SPF_MX,
    SPF_PTR,
    SPF_IP4,
    SPF_IP6,
    SPF_EXISTS,
} spf_mechanism;

typedef struct spf_term {
    spf_mechanism mechanism;
    char qualifier;          /* '+', '-', '~' or '?' */
    const char *domain_spec; /* unexpanded macro-string, or NULL when absent */
    unsigned cidr4;          /* a, mx: 0..32 (default 32); ip4: prefix */
    unsigned cidr6;          /* a, mx: 0..128 (default 128); ip6: prefix */
    uint8_t addr[16];        /* ip4 (first 4 bytes) and ip6 network */
    const char *text;        /* the term as written, for traces */
} spf_term;

typedef struct spf_record {
    spf_term *terms; /* mechanisms, in order */
    size_t count;
    const char *redirect; /* domain-spec of redirect=, or NULL */
    const char *exp;      /* domain-spec of exp=, or NULL */
} spf_record;

/* True when text is an SPF record: "v=spf1" (any case) then a space or the end. */
bool spf_record_is_spf(const char *text, size_t len);

/* The scopes a Sender ID record covers (RFC 4406 3.1). */
enum {
    SPF_SCOPE_BIT_MFROM = 1,
    SPF_SCOPE_BIT_PRA = 2,
    SPF_SCOPE_BIT_OTHER = 4, /* a scope name this code does not know */
};

/* True when text is a Sender ID record: "spf2.0/" then scope names
 * separated by commas (any case), then a space or the end. Sets *scopes to
 * the SPF_SCOPE_BIT_ bits it names and *version_len to the length of that
 * version section. A version section that is not of that form makes no
 * Sender ID record (as "v=spf10" makes no SPF record). */
bool spf_record_is_senderid(const char *text, size_t len, unsigned *scopes, size_t *version_len);

/* Parses text into *out, allocated in a. Returns 0, or -1 with a reason
 * naming the term in err. */
int spf_record_parse(arena *a, const char *text, size_t len, spf_record **out, char *err,
                     size_t err_size);
/* The same for a v=spf1 or a Sender ID record: the terms after either
 * version section, whose syntax is SPF's (RFC 4406 3.1). */
int spf_record_parse_any(arena *a, const char *text, size_t len, spf_record **out, char *err,
                         size_t err_size);

const char *spf_mechanism_name(spf_mechanism mechanism);
/* True for mechanisms and modifiers that count toward the 10-lookup limit. */
bool spf_mechanism_queries_dns(spf_mechanism mechanism);

#endif
