/* pra.h: the Purported Responsible Address of a message (RFC 4407
 * section 2), the identity Sender ID (RFC 4406) checks in its "pra"
 * scope. A pure function over the header fields, in message order; it
 * does no DNS and keeps nothing. */
#ifndef DA_MSG_PRA_H
#define DA_MSG_PRA_H

#include <stddef.h>

#include "header_block.h"

enum {
    /* An addr-spec is at most 64 + 1 + 255 octets (RFC 5321 4.5.3.1);
     * a longer mailbox is treated as hopelessly malformed, not cut. */
    PRA_ADDRESS_MAX = 320,
};

/* Which step of RFC 4407 section 2 chose the field, or why none could be
 * chosen (step 6: the message is ill-formed). */
typedef enum pra_outcome {
    PRA_FOUND = 0,
    PRA_NO_FIELD,          /* no Resent-Sender, Resent-From, Sender or From field */
    PRA_SEVERAL_SENDER,    /* step 3: more than one non-empty Sender field */
    PRA_SEVERAL_FROM,      /* step 4: more than one non-empty From field */
    PRA_SEVERAL_MAILBOXES, /* step 5: the field holds more than one mailbox */
    PRA_NO_MAILBOX,        /* step 5: the field holds no mailbox (an empty group) */
    PRA_BAD_MAILBOX,       /* step 5: the mailbox does not parse */
    PRA_NO_DOMAIN,         /* step 5: the mailbox has no domain name */
} pra_outcome;

typedef struct pra_result {
    pra_outcome outcome;
    unsigned step;        /* 1..4: the step that chose the field (also when it was bad) */
    const char *field;    /* "resent-sender", "resent-from", "sender" or "from" (for
                           * header.<field>), or NULL when no field was chosen */
    size_t field_index;   /* the chosen field's index in the array */
    char address[PRA_ADDRESS_MAX + 1]; /* the PRA when outcome is PRA_FOUND, else "" */
    const char *reason;   /* static text: what was chosen, or why there is no PRA */
} pra_result;

/* Runs the algorithm of RFC 4407 section 2 over count fields. Returns 0
 * with the PRA in out->address, or -1 with out->outcome and out->reason
 * saying which rule found the message ill-formed (or that memory ran out:
 * PRA_BAD_MAILBOX with a reason saying so). */
int pra_select(const header_field *fields, size_t count, pra_result *out);

/* The outcome's name for logs and JSON: "found", "no-field",
 * "several-sender", ... */
const char *pra_outcome_name(pra_outcome outcome);

#endif
