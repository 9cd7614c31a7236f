/* decision.h: the administrator's policy as a pure function. Given what is
 * known of a session, the configuration and (unless skipped) an SPF
 * evaluation, it says what to do: skip or check, accept/defer/reject with
 * which reply, tag the subject, the score, and the header values to add.
 * No I/O; the daemon carries the decision out. */
#ifndef DA_POLICY_DECISION_H
#define DA_POLICY_DECISION_H

#include <stdbool.h>

#include "config/config.h"
#include "domauth.h"

typedef enum skip_reason {
    SKIP_NONE,
    SKIP_AUTHENTICATED,
    SKIP_WHITELISTED,
    SKIP_LOCAL,
    SKIP_TRUSTED,
    SKIP_BAD_CLIENT_IP, /* the MTA gave an address that does not parse */
    SKIP_NO_MEMORY,     /* the check could not be made: let the mail through */
} skip_reason;

const char *skip_reason_name(skip_reason reason); /* NULL for SKIP_NONE */

typedef struct session_facts {
    const char *client_ip;   /* text, as the MTA gave it */
    const char *client_name; /* may be NULL */
    const char *helo;        /* may be NULL */
    bool authenticated;      /* SMTP AUTH succeeded */
    const char *mail_from;   /* without angle brackets; "" for the null sender */
    const char *header_from; /* address of the From: header; NULL if none or not yet */
} session_facts;

/* Whether this session is checked at all. */
skip_reason policy_skip(const domauth_config *cfg, const policy_settings *ps,
                        const session_facts *session);

/* The SPF request for the configured identity; strings point into session.
 * identity_name is "mailfrom", "helo" or "header_from". */
void policy_request(const policy_settings *ps, const session_facts *session,
                    da_spf_request *request, const char **identity_name);

enum { DECISION_REPLY_MAX = 512, DECISION_TAG_MAX = 128 };

typedef struct decision {
    skip_reason skip;
    da_spf_result result;   /* valid when skip == SKIP_NONE */
    double score;
    policy_action enforced; /* what enforcement asks for */
    policy_action action;   /* what is done: ACCEPT in monitor mode */
    bool monitor;           /* enforcement held back */
    char reply[DECISION_REPLY_MAX];   /* for a defer or reject (enforced or held) */
    bool tag_subject;
    char tag[DECISION_TAG_MAX];
    char *received_spf;     /* header value, or NULL: not added */
    char *authres;          /* Authentication-Results value, or NULL */
    char *score_value;      /* value for ps->score_header, or NULL */
    const char *why;        /* "spf fail", "score 7.0 reached reject_threshold 7.0", ... */
} decision;

/* Fills d. eval is NULL when the session was skipped. authserv_id names
 * this host in Authentication-Results. Free with decision_free. */
void policy_decide(const policy_settings *ps, skip_reason skip, const da_spf_eval *eval,
                   const char *authserv_id, decision *d);
void decision_free(decision *d);
/* A deep copy; returns -1 when out of memory (dst is then empty). */
int decision_copy(decision *dst, const decision *src);

/* The action a total score asks for under ps's thresholds, and the reply
 * template for it (NULL for accept). */
policy_action policy_threshold_action(const policy_settings *ps, double score,
                                      const char **reply_template);

/* Adds to the score of a decision already made (e.g. DKIM results at the
 * end of the message) and raises its action if a threshold is now reached.
 * Updates score_value too. */
void policy_add_score(const policy_settings *ps, decision *d, double add, const char *why);

/* Expands %{explanation} %{result} %{domain} %{ip} %{sender} in a reply
 * template; the result is printable ASCII only (DNS text is untrusted). */
void policy_expand_reply(const char *template_text, const da_spf_eval *eval, char *out,
                         size_t out_size);

/* Splits a checked reply "550 5.7.23 text" into its code, enhanced status
 * code (empty when absent) and text (pointing into reply). */
void policy_split_reply(const char *reply, unsigned *code, char *enhanced, size_t enh_size,
                        const char **text);

/* True when an Authentication-Results value claims authserv_id (RFC 8601
 * section 5: such headers from outside must be removed). */
bool policy_authres_claims(const char *header_value, const char *authserv_id);

#endif
