/* decision.h: the pieces of the administrator's policy that the verdict
 * (verdict.h) and the front ends share: skip reasons, which clients are
 * checked, the score thresholds, reply splitting, forged A-R recognition.
 * Pure functions, no I/O. */
#ifndef DA_POLICY_DECISION_H
#define DA_POLICY_DECISION_H

#include <stdbool.h>

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
} skip_reason;

const char *skip_reason_name(skip_reason reason); /* NULL for SKIP_NONE */

/* Whether a client is checked at all: SMTP AUTH (when skipped), then the
 * whitelist, trusted relays and local networks, by its address as checked
 * (IPv4-mapped IPv6 already unmapped). client is NULL when there is none. */
skip_reason policy_skip(const domauth_config *cfg, const policy_settings *ps,
                        const ip_addr *client, bool authenticated);

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
