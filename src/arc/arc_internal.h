/* arc_internal.h: what the ARC verifier and sealer share, and what unit
 * tests and fuzzers reach directly: collecting the ARC sets of a header
 * block, parsing ARC-Seal and ARC-Authentication-Results, and the seal's
 * hash (RFC 8617 section 5.1.1). The rest is the DKIM engine's
 * (src/dkim/dkim_internal.h). Not public API. */
#ifndef DA_ARC_INTERNAL_H
#define DA_ARC_INTERNAL_H

#include "domauth_arc.h"
#include "dkim/dkim_internal.h"

/* One set: the three fields of an instance, as indexes into the message's
 * fields (SIZE_MAX when missing). */
typedef struct arc_set {
    size_t aar, ams, as;
} arc_set;

typedef struct arc_chain {
    arc_set sets[DA_ARC_MAX_INSTANCE + 1]; /* by instance; [0] unused */
    unsigned count;        /* N: the highest instance when the chain is sound */
    unsigned max_instance; /* the highest valid i= seen, sound or not */
    bool any;              /* any ARC field at all */
} arc_chain;

/* Collects the sets (RFC 8617 section 5.2 steps 1 and 3.1-3.2). Returns 0
 * (count is 0 when there are no ARC fields), or -1 with the reason when the
 * structure is broken: an i= missing, malformed or over 50, a duplicate
 * field for an instance, an incomplete set, a gap. */
int arc_chain_collect(const dkim_message *m, arc_chain *chain, char *err, size_t err_size);

bool arc_field_is_arc(const dkim_message *m, const dkim_field *f);

/* The i= that starts an ARC-Authentication-Results value, and where the
 * payload after its ';' begins (an offset into value). 0, or -1. */
int arc_aar_parse(const char *value, size_t len, unsigned *instance, size_t *payload_offset);

/* The instance of any ARC field's value: the AAR's leading i=, or the i=
 * tag of an AMS or AS tag list. 0, or -1. */
int arc_field_instance(const dkim_message *m, const dkim_field *f, unsigned *instance);

typedef struct arc_seal_sig {
    unsigned instance;
    da_dkim_algorithm algorithm;
    char algorithm_text[32];
    da_arc_cv cv;
    char domain[256], selector[256], query_name[256];
    int64_t timestamp;     /* -1: absent */
    unsigned char signature[DKIM_MAX_SIGNATURE_BYTES];
    size_t signature_len;
    size_t b_value_start, b_value_end; /* of b='s raw value in the field */
} arc_seal_sig;

/* Parses an ARC-Seal field (field: the whole field, value_offset: after the
 * colon), RFC 8617 section 4.1.3: i, a, b, cv, d, s required, t optional,
 * h= forbidden. Identity fields are filled as far as the parse got. */
int arc_seal_parse(const char *field, size_t len, size_t value_offset, arc_seal_sig *out,
                   char *err, size_t err_size);

/* One field the seal covers: its raw text without the final CRLF. */
typedef struct arc_text {
    const char *text;
    size_t len;
} arc_text;

/* The seal's hash: the covered fields in order, relaxed, each with CRLF,
 * then the seal itself with b='s value emptied and no CRLF. Returns the
 * digest length, or 0. */
size_t arc_seal_digest(const arc_text *covered, size_t count, const char *seal, size_t seal_len,
                       size_t b_start, size_t b_end, da_dkim_algorithm algorithm,
                       unsigned char *digest);

#endif
