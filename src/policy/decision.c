/* decision.c: the pieces of policy the verdict and the front ends share;
 * see decision.h. */
#include "decision.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>


const char *skip_reason_name(skip_reason reason)
{
    switch (reason) {
    case SKIP_NONE: return NULL;
    case SKIP_AUTHENTICATED: return "authenticated";
    case SKIP_WHITELISTED: return "whitelisted";
    case SKIP_LOCAL: return "local";
    case SKIP_TRUSTED: return "trusted";
    case SKIP_BAD_CLIENT_IP: return "bad-client-ip";
    case SKIP_NO_MEMORY: return "no-memory";
    case SKIP_PTR_WHITELISTED: return "ptr-whitelisted";
    case SKIP_HELO_WHITELISTED: return "helo-whitelisted";
    case SKIP_DOMAIN_TRUSTED: return "domain-trusted";
    case SKIP_SENDER_WHITELISTED: return "sender-whitelisted";
    case SKIP_REASON_COUNT: break;
    }
    return NULL;
}

/* A name the MTA could not verify is "unknown" (Postfix) or "[address]"
 * (Sendmail): never a whitelisted name. */
static bool name_usable(const char *name)
{
    return name != NULL && name[0] != '\0' && name[0] != '[' && strcmp(name, "unknown") != 0;
}

skip_reason policy_skip(const domauth_config *cfg, const policy_settings *ps,
                        const client_facts *client)
{
    if (ps->skip_authenticated && client->authenticated)
        return SKIP_AUTHENTICATED;
    const ip_addr *ip = client->address;
    if (ip != NULL && ip_set_contains(&cfg->whitelist, ip))
        return SKIP_WHITELISTED;
    if (name_usable(client->name) &&
        name_list_match(&cfg->whitelist_ptr, client->name, strlen(client->name)) != NULL)
        return SKIP_PTR_WHITELISTED;
    if (client->helo != NULL &&
        name_list_match(&cfg->whitelist_helo, client->helo, strlen(client->helo)) != NULL)
        return SKIP_HELO_WHITELISTED;
    if (ip == NULL)
        return SKIP_NONE;
    if (ip_set_contains(&ps->relays, ip))
        return SKIP_DOMAIN_TRUSTED;
    if (ps->skip_trusted && ip_set_contains(&cfg->trusted, ip))
        return SKIP_TRUSTED;
    if (!ps->check_local && ip_set_contains(&cfg->local, ip))
        return SKIP_LOCAL;
    return SKIP_NONE;
}

const char *policy_sender_whitelisted(const policy_settings *ps, const auth_results *results,
                                      const auth_result **by)
{
    *by = NULL;
    if (ps->whitelist_from.count == 0 || results == NULL)
        return NULL;
    for (size_t i = 0; i < results->count; i++) {
        const auth_result *r = &results->items[i];
        if (strcmp(r->result, "pass") != 0 || r->domain == NULL)
            continue;
        if (strcmp(r->method, "spf") != 0 && strcmp(r->method, "dkim") != 0)
            continue;
        const char *pattern = name_list_match(&ps->whitelist_from, r->domain, strlen(r->domain));
        if (pattern != NULL) {
            *by = r;
            return pattern;
        }
    }
    return NULL;
}

void policy_split_reply(const char *reply, unsigned *code, char *enhanced, size_t enh_size,
                        const char **text)
{
    *code = 0;
    for (int i = 0; i < 3 && reply[i] >= '0' && reply[i] <= '9'; i++)
        *code = *code * 10 + (unsigned)(reply[i] - '0');
    const char *p = reply + (*code >= 100 ? 3 : 0);
    while (*p == ' ')
        p++;
    enhanced[0] = '\0';
    if (p[0] >= '2' && p[0] <= '5' && p[1] == '.') {
        size_t n = strspn(p, "0123456789.");
        if (n < enh_size) {
            memcpy(enhanced, p, n);
            enhanced[n] = '\0';
            p += n;
            while (*p == ' ')
                p++;
        }
    }
    *text = p;
}

policy_action policy_threshold_action(const policy_settings *ps, double score,
                                      const char **reply_template)
{
    *reply_template = NULL;
    /* Scores are sums of decimals (0.7 + 0.1): compared as the score header
     * shows them, to a tenth, not in raw binary floating point. */
    score += 1e-9;
    if (ps->reject_threshold > 0 && score >= ps->reject_threshold) {
        *reply_template = ps->reject_threshold_reply;
        return ACTION_REJECT;
    }
    if (ps->defer_threshold > 0 && score >= ps->defer_threshold) {
        *reply_template = ps->defer_threshold_reply;
        return ACTION_DEFER;
    }
    if (ps->quarantine_threshold > 0 && score >= ps->quarantine_threshold) {
        *reply_template = ps->quarantine_threshold_reply;
        return ACTION_QUARANTINE;
    }
    return ACTION_ACCEPT;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

bool policy_authres_claims(const char *value, size_t len, const char *authserv_id)
{
    if (value == NULL || authserv_id == NULL || !*authserv_id)
        return false;
    /* The authserv-id is the first token, before ';' or whitespace,
     * optionally after CFWS (RFC 8601 2.2). */
    const char *p = value, *end = value + len;
    while (p < end && is_space(*p))
        p++;
    while (p < end && *p == '(') { /* skip one level of comments */
        const char *close = memchr(p, ')', (size_t)(end - p));
        if (close == NULL)
            return false;
        p = close + 1;
        while (p < end && is_space(*p))
            p++;
    }
    size_t n = 0;
    while (p + n < end && p[n] && p[n] != ';' && !is_space(p[n]))
        n++;
    if (n >= 2 && p[0] == '"' && p[n - 1] == '"') {
        p++;
        n -= 2;
    }
    return n == strlen(authserv_id) && strncasecmp(p, authserv_id, n) == 0;
}
