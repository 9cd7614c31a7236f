/* pra.c: the PRA selection of RFC 4407 section 2; see pra.h. Each step
 * of the RFC is one block below, in the RFC's order, so that the code
 * can be read against it. The mailbox rules of step 5 use
 * header_mailboxes (address.c), as the From: identity does. */
#include "pra.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "address.h"

enum { NOT_FOUND = -1 };

static bool name_is(const header_field *f, const char *name)
{
    size_t n = strlen(name);
    return f->name_len == n && strncasecmp(f->name, name, n) == 0;
}

/* "Non-empty": the value holds something other than blanks and folding. */
static bool non_empty(const header_field *f)
{
    for (size_t i = 0; i < f->value_len; i++) {
        char c = f->value[i];
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
            return true;
    }
    return false;
}

/* The first non-empty field called name with an index in [from, to), or
 * NOT_FOUND. */
static long first_field(const header_field *fields, size_t from, size_t to, const char *name)
{
    for (size_t i = from; i < to; i++)
        if (name_is(&fields[i], name) && non_empty(&fields[i]))
            return (long)i;
    return NOT_FOUND;
}

/* How many non-empty fields are called name; the first in *first. */
static size_t count_fields(const header_field *fields, size_t count, const char *name,
                           long *first)
{
    size_t n = 0;
    *first = NOT_FOUND;
    for (size_t i = 0; i < count; i++) {
        if (name_is(&fields[i], name) && non_empty(&fields[i])) {
            if (n++ == 0)
                *first = (long)i;
        }
    }
    return n;
}

static int ill_formed(pra_result *out, pra_outcome outcome, const char *reason)
{
    out->outcome = outcome;
    out->reason = reason;
    out->address[0] = '\0';
    return -1;
}

/* Step 5: the chosen field must hold exactly one mailbox with a domain. */
static int check_chosen(const header_field *f, pra_result *out)
{
    char **list = NULL;
    int n = header_mailboxes(f->value, f->value_len, 1, &list);
    if (n < 0)
        return ill_formed(out, PRA_BAD_MAILBOX, "the chosen field's mailbox does not parse "
                          "(RFC 4407 step 5)");
    if (n == 0)
        return ill_formed(out, PRA_NO_MAILBOX, "the chosen field holds no mailbox "
                          "(RFC 4407 step 5)");
    if (n > 1) {
        address_list_free(list);
        return ill_formed(out, PRA_SEVERAL_MAILBOXES, "the chosen field holds more than one "
                          "mailbox (RFC 4407 step 5)");
    }
    const char *domain = address_domain(list[0]);
    size_t len = strlen(list[0]);
    int rc = 0;
    if (domain == NULL || domain[0] == '\0' || domain[0] == '[' || strchr(domain, '"') != NULL)
        rc = ill_formed(out, PRA_NO_DOMAIN, "the chosen mailbox has no domain name "
                        "(RFC 4407 step 5)");
    else if (len > PRA_ADDRESS_MAX)
        rc = ill_formed(out, PRA_BAD_MAILBOX, "the chosen mailbox is longer than an address "
                        "can be (RFC 4407 step 5)");
    else
        memcpy(out->address, list[0], len + 1);
    address_list_free(list);
    return rc;
}

static const char *const field_names[] = {NULL, "resent-sender", "resent-from", "sender", "from"};

static const char *const chosen_reasons[] = {
    NULL,
    "the first Resent-Sender field (RFC 4407 step 1)",
    "the first Resent-From field (RFC 4407 step 2)",
    "the one Sender field (RFC 4407 step 3)",
    "the one From field (RFC 4407 step 4)",
};

static int choose(const header_field *fields, long index, unsigned step, pra_result *out)
{
    out->step = step;
    out->field = field_names[step];
    out->field_index = (size_t)index;
    if (check_chosen(&fields[index], out) != 0)
        return -1;
    out->outcome = PRA_FOUND;
    out->reason = chosen_reasons[step];
    return 0;
}

int pra_select(const header_field *fields, size_t count, pra_result *out)
{
    memset(out, 0, sizeof *out);

    /* Step 1: the first non-empty Resent-Sender, unless a non-empty
     * Resent-From comes before it with a Received or Return-Path field
     * between the two: then the Resent-Sender belongs to an older resent
     * block than that Resent-From, and step 2 decides. */
    long resent_sender = first_field(fields, 0, count, "resent-sender");
    if (resent_sender != NOT_FOUND) {
        long resent_from = first_field(fields, 0, (size_t)resent_sender, "resent-from");
        bool trace_between = false;
        if (resent_from != NOT_FOUND) {
            for (long i = resent_from + 1; i < resent_sender; i++)
                if (name_is(&fields[i], "received") || name_is(&fields[i], "return-path"))
                    trace_between = true;
        }
        if (!trace_between)
            return choose(fields, resent_sender, 1, out);
    }

    /* Step 2: the first non-empty Resent-From. */
    long resent_from = first_field(fields, 0, count, "resent-from");
    if (resent_from != NOT_FOUND)
        return choose(fields, resent_from, 2, out);

    /* Step 3: exactly one non-empty Sender, or none (then step 4). */
    long first;
    size_t senders = count_fields(fields, count, "sender", &first);
    if (senders > 1) {
        out->step = 3;
        return ill_formed(out, PRA_SEVERAL_SENDER, "more than one Sender field (RFC 4407 step 3)");
    }
    if (senders == 1)
        return choose(fields, first, 3, out);

    /* Step 4: exactly one non-empty From. */
    size_t froms = count_fields(fields, count, "from", &first);
    out->step = 4;
    if (froms > 1)
        return ill_formed(out, PRA_SEVERAL_FROM, "more than one From field (RFC 4407 step 4)");
    if (froms == 0)
        return ill_formed(out, PRA_NO_FIELD, "no Resent-Sender, Resent-From, Sender or From "
                          "field (RFC 4407 step 4)");
    return choose(fields, first, 4, out);
}

const char *pra_outcome_name(pra_outcome outcome)
{
    static const char *const names[] = {"found",         "no-field",   "several-sender",
                                        "several-from",  "several-mailboxes", "no-mailbox",
                                        "bad-mailbox",   "no-domain"};
    return (unsigned)outcome < sizeof names / sizeof names[0] ? names[outcome] : "?";
}
