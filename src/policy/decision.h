/* decision.h: the pieces of the administrator's policy that the verdict
 * (verdict.h) and the front ends share: skip reasons, which clients are
 * checked, the score thresholds, reply splitting, forged A-R recognition.
 * Pure functions, no I/O. */
#ifndef DA_POLICY_DECISION_H
#define DA_POLICY_DECISION_H

#include <stdbool.h>

#include "authres/results.h"
#include "config/config.h"
#include "domauth.h"
#include "util/ip.h"

typedef enum skip_reason {
    SKIP_NONE,
    SKIP_AUTHENTICATED,
    SKIP_WHITELISTED,
    SKIP_LOCAL,
    SKIP_TRUSTED,
    SKIP_BAD_CLIENT_IP, /* the MTA gave an address that does not parse */
    SKIP_NO_MEMORY,     /* the check could not be made: let the mail through */
    SKIP_PTR_WHITELISTED,    /* whitelist_ptr: by the verified client name */
    SKIP_HELO_WHITELISTED,   /* whitelist_helo: by the HELO name */
    SKIP_DOMAIN_TRUSTED,     /* [domain] trusted: the recipient domain's own servers */
    SKIP_SENDER_WHITELISTED, /* whitelist_from: checked, authenticated, not acted on */
    SKIP_REASON_COUNT
} skip_reason;

const char *skip_reason_name(skip_reason reason); /* NULL for SKIP_NONE */

/* What the skip rules look at. */
typedef struct client_facts {
    const ip_addr *address;  /* as checked (IPv4-mapped IPv6 unmapped); NULL: none */
    bool authenticated;      /* SMTP AUTH */
    const char *name;        /* the MTA's verified client name, "unknown" or NULL */
    const char *helo;        /* or NULL */
} client_facts;

/* Whether a client is checked at all: SMTP AUTH (when skipped), then the
 * IP whitelist, whitelist_ptr, whitelist_helo, the recipient domain's own
 * servers ([domain] trusted), the trusted relays and local networks. */
skip_reason policy_skip(const domauth_config *cfg, const policy_settings *ps,
                        const client_facts *client);

/* The whitelist_from pattern an authenticated result of results matches
 * (an SPF pass for its domain, a DKIM pass for its d=), or NULL; *by is
 * that result. */
const char *policy_sender_whitelisted(const policy_settings *ps, const auth_results *results,
                                      const auth_result **by);

/* Longest reply and subject tag a verdict holds. */
enum { DECISION_REPLY_MAX = 512, DECISION_TAG_MAX = 128 };

/* The action a total score asks for under ps's thresholds (reject, then
 * defer, then quarantine), and the reply template for it (NULL for
 * accept). */
policy_action policy_threshold_action(const policy_settings *ps, double score,
                                      const char **reply_template);

/* Splits a checked reply "550 5.7.23 text" into its code, enhanced status
 * code (empty when absent) and text (pointing into reply). */
void policy_split_reply(const char *reply, unsigned *code, char *enhanced, size_t enh_size,
                        const char **text);

/* True when an Authentication-Results value of len bytes claims
 * authserv_id (RFC 8601 section 5: such headers from outside must be
 * removed). */
bool policy_authres_claims(const char *header_value, size_t len, const char *authserv_id);

#endif
