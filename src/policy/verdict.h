/* verdict.h: the administrator's decision for a message (or, before DATA, a
 * recipient), a pure function of the session facts, the results vector
 * and the settings. No engine is special-cased: each result is looked up
 * in its method's table (action, reply, tag, score); one score from every
 * result meets the thresholds once no more results can come. The verdict
 * says what to do and which header edits to make, and why. */
#ifndef DA_POLICY_VERDICT_H
#define DA_POLICY_VERDICT_H

#include <stdbool.h>
#include <stddef.h>

#include "authres/results.h"
#include "config/config.h"
#include "policy/decision.h"

typedef enum header_op {
    HEADER_INSERT_TOP, /* above every other field (our trace fields) */
    HEADER_APPEND,     /* after the last field */
    HEADER_CHANGE,     /* replace the index-th field of that name (1-based) */
    HEADER_DELETE,     /* remove the index-th field of that name (1-based) */
} header_op;

typedef struct header_edit {
    header_op op;
    const char *name;
    unsigned index; /* HEADER_CHANGE and HEADER_DELETE */
    char *value;    /* unfolded (DKIM-Signature: folded by the signer); NULL for DELETE */
} header_edit;

/* What the message looks like, as far as the edits need it. */
typedef struct message_view {
    const unsigned *forged_authres; /* 1-based indexes among A-R fields */
    size_t forged_authres_count;
    const unsigned *score_fields;   /* 1-based indexes of ps->score_header fields */
    size_t score_field_count;
    bool has_subject;
    const char *subject;            /* the first Subject: value, or NULL */
    bool signing;                   /* we sign it: the subject must not change */
    const char *signature;          /* our DKIM-Signature value (folded), or NULL */
} message_view;

enum { VERDICT_REASONS_MAX = 1024 };

typedef struct verdict {
    skip_reason skip;
    policy_action enforced; /* what enforcement asks for */
    policy_action action;   /* what is done: ACCEPT in monitor mode */
    bool monitor;
    double score;
    char reply[DECISION_REPLY_MAX];
    char reasons[VERDICT_REASONS_MAX]; /* "spf=fail: fail_action reject; ..." */
    bool tag_subject;       /* the subject is (to be) tagged */
    char tag[DECISION_TAG_MAX];
    header_edit *edits;
    size_t edit_count;
    bool failed;            /* out of memory building edits */
} verdict;

typedef struct verdict_input {
    const policy_settings *ps;
    skip_reason skip;
    const auth_results *results;
    const char *authserv_id;
    const char *received_spf;  /* the Received-SPF value, or NULL */
    const message_view *message; /* NULL before DATA: no header edits */
    unsigned max_added;        /* fields the front end can add; 0: any number */
    bool final;                /* no result can still come */
    /* Before the final decision: the lowest total the results still to
     * come may add (<= 0). Thresholds act on score + this, so an early
     * threshold never acts on a score a later result could lower. */
    double pending_score_min;
    /* For %{...} in reply templates: the SPF result entry's values. */
    const char *client_ip, *sender;
} verdict_input;

/* Fills v (free with verdict_free). */
void policy_verdict(const verdict_input *in, verdict *v);
void verdict_free(verdict *v);

/* What the settings say for one result of a method, or NULL when the
 * method has no table. */
const result_policy *policy_for_result(const policy_settings *ps, const auth_result *r);

/* Adds a field on top (name not copied: a literal), e.g. the original
 * recipients of a redirect; v->failed when out of memory. */
void verdict_add_field(verdict *v, const char *name, const char *value);

/* Whether subject (leading blanks aside) already starts with tag, without
 * regard to case. */
bool policy_subject_tagged(const char *subject, const char *tag);

/* "accept", "tag" (accepted with its subject tagged), "quarantine", "defer",
 * "reject". */
const char *verdict_action_name(const verdict *v);

#endif
