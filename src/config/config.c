/* config.c: domauth.conf, parsed with libinih (Debian's libinih) for the INI
 * syntax and a table of keys for everything else, so that the parser, the
 * sample file and the defaults cannot drift apart. */
#include "config.h"

#include <ctype.h>
#include <ini.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum value_type {
    T_BOOL,
    T_UINT,
    T_MODE,
    T_STRING,
    T_SCORE,
    T_ACTION,
    T_IDENTITY,
    T_STAGE,
    T_LISTEN,
    T_REPLY,
    T_IPLIST,
    T_FILELIST,
    T_CANON,
    T_SHA1,
    T_DKIMKEY,
    T_SESSIONS, /* a session limit: 1 to MAX_SESSION_LIMIT */
    T_SECONDS,  /* a timeout in seconds: 1 to MAX_TIMEOUT_SECONDS */
} value_type;

enum {
    MAX_SESSION_LIMIT = 1000000, /* far beyond any file descriptor limit */
    MAX_TIMEOUT_SECONDS = 86400, /* a day */
};

typedef enum section_kind { S_DAEMON, S_HOSTS, S_POLICY, S_DKIM } section_kind;

typedef struct key_spec {
    section_kind section;
    const char *name;
    value_type type;
    size_t offset; /* in domauth_config (daemon, hosts) or policy_settings */
    const char *default_value;
    const char *doc;
} key_spec;

#define DAEMON(name, type, field, def, doc) {S_DAEMON, name, type, offsetof(domauth_config, field), def, doc}
#define HOSTS(name, type, field, doc) {S_HOSTS, name, type, offsetof(domauth_config, field), "", doc}
#define POLICY(name, type, field, def, doc) {S_POLICY, name, type, offsetof(policy_settings, field), def, doc}
#define DKIM(name, type, field, def, doc) {S_DKIM, name, type, offsetof(domauth_config, field), def, doc}

static const key_spec keys[] = {
    DAEMON("milter", T_LISTEN, milter_listen, "inet:127.0.0.1:8895",
           "Milter listener for Postfix (smtpd_milters) or Sendmail (INPUT_MAIL_FILTER):\n"
           "unix:/path or inet:host:port; empty turns it off."),
    DAEMON("policy", T_LISTEN, policy_listen, "inet:127.0.0.1:10045",
           "Postfix policy delegation listener (check_policy_service); empty turns it off."),
    DAEMON("socket_mode", T_MODE, socket_mode, "0660", "Permissions of unix sockets (octal)."),
    DAEMON("user", T_STRING, user, "",
           "Run as this user after the listeners are open (empty: stay as started)."),
    DAEMON("group", T_STRING, group, "", "Group to run as (empty: the user's group)."),
    DAEMON("pidfile", T_STRING, pidfile, "", "Write the process id here (empty: none)."),
    DAEMON("dns_servers", T_STRING, dns_servers, "",
           "DNS servers, ADDR[:PORT],... (empty: those of /etc/resolv.conf)."),
    DAEMON("dns_timeout_ms", T_UINT, dns_timeout_ms, "2000", "Time allowed per DNS try."),
    DAEMON("dns_tries", T_UINT, dns_tries, "2", "Tries per DNS server."),
    DAEMON("spf_deadline_ms", T_UINT, spf_deadline_ms, "20000",
           "Time allowed for one SPF check; then the result is temperror."),
    DAEMON("cache_entries", T_UINT, cache_entries, "100000", "DNS cache size, in answers."),
    DAEMON("max_sessions", T_UINT, max_sessions, "2000",
           "Connections served at once over both listeners; beyond it a new\n"
           "connection is closed at once, and the MTA applies its default action\n"
           "(milter_default_action)."),
    DAEMON("milter_max_sessions", T_SESSIONS, milter_max_sessions, "1000",
           "Milter connections served at once (1 to 1000000), within max_sessions:\n"
           "policy connections never take the milter's places, nor the reverse,\n"
           "while the two limits add up to no more than max_sessions."),
    DAEMON("policy_max_sessions", T_SESSIONS, policy_max_sessions, "1000",
           "Policy connections served at once (1 to 1000000), within max_sessions."),
    DAEMON("milter_idle_timeout", T_SECONDS, milter_idle_timeout, "3600",
           "Seconds (1 to 86400) a milter connection may go without a complete\n"
           "command while no check is pending; then it is closed. The MTA may be\n"
           "silent while it receives a message: keep this above the longest DATA."),
    DAEMON("policy_idle_timeout", T_SECONDS, policy_idle_timeout, "600",
           "Seconds (1 to 86400) a policy connection may go without a complete\n"
           "request; above Postfix's smtpd_policy_service_max_idle (300s), so that\n"
           "Postfix closes first."),
    DAEMON("request_timeout", T_SECONDS, request_timeout, "30",
           "Seconds (1 to 86400) allowed for a milter frame or a policy request\n"
           "to arrive whole once it has begun; then the connection is closed."),
    DAEMON("event_log", T_STRING, event_log, "",
           "Also write every decision as a JSON line to this file (empty: no)."),
    DAEMON("database", T_STRING, database, "/var/lib/domauth/events.db",
           "SQLite database of decisions, read by `domauth log` (empty: none)."),
    DAEMON("syslog", T_BOOL, syslog, "yes", "Log every decision to syslog."),
    DAEMON("syslog_facility", T_STRING, syslog_facility, "mail", "Syslog facility."),
    DAEMON("authserv_id", T_STRING, authserv_id, "",
           "The authserv-id of Authentication-Results (empty: this host's name)."),
    DAEMON("receiver", T_STRING, receiver, "",
           "This host's name in Received-SPF and %{r} (empty: this host's name)."),
    HOSTS("whitelist", T_IPLIST, whitelist,
          "Clients never checked. One entry per line: 192.0.2.7, 192.0.2.10-192.0.2.20,\n"
          "192.0.2.0/255.255.255.0, 192.0.2.0/24 or an IPv6 form, each optionally\n"
          "followed by a space and a comment. May be given many times."),
    HOSTS("whitelist_file", T_FILELIST, whitelist_files,
          "A file of whitelist entries, one a line, # comments. May be given many times."),
    HOSTS("trusted", T_IPLIST, trusted,
          "The site's own relays (same forms). Not checked while skip_trusted is on."),
    HOSTS("trusted_file", T_FILELIST, trusted_files, "A file of trusted relays."),
    DKIM("verify", T_BOOL, dkim_verify, "yes",
         "Verify DKIM signatures of arriving mail (milter only: it needs the body)\n"
         "and add dkim= results to Authentication-Results."),
    DKIM("sign", T_BOOL, dkim_sign, "yes",
         "Sign outgoing mail for the domains of the key table (milter only)."),
    DKIM("key", T_DKIMKEY, dkim_keys, "",
         "The key table: DOMAIN SELECTOR KEYFILE, one line each, e.g.\n"
         "key = example.com mail2026 /etc/domauth/keys/mail2026.private\n"
         "(make keys with domauth dkim keygen; * as DOMAIN signs any sender).\n"
         "The header From: domain chooses the key. May be given many times."),
    DKIM("sign_authenticated", T_BOOL, dkim_sign_authenticated, "yes",
         "Sign mail from SMTP AUTH sessions."),
    DKIM("sign_trusted", T_BOOL, dkim_sign_trusted, "yes",
         "Sign mail from the trusted relays of [hosts]."),
    DKIM("sign_loopback", T_BOOL, dkim_sign_loopback, "yes",
         "Sign mail submitted on this host (127.0.0.1, ::1, or no client address)."),
    DKIM("canonicalization", T_CANON, dkim_canon, "relaxed/relaxed",
         "Header/body canonicalization for signing: simple or relaxed each."),
    DKIM("sign_headers", T_STRING, dkim_headers, "",
         "Header fields to sign, colon-separated (empty: a standard set, with\n"
         "From, To, Subject and Date over-signed)."),
    DKIM("rsa_sha1", T_SHA1, dkim_sha1_neutral, "fail",
         "How a valid rsa-sha1 signature counts (RFC 8301): fail or neutral."),
    POLICY("monitor", T_BOOL, monitor, "yes",
           "Observe only: every message goes through with its headers, and the log\n"
           "says what enforcement would have done. Turn off to enforce."),
    POLICY("identity", T_IDENTITY, identity, "mailfrom",
           "What to check: mailfrom (MAIL FROM, or HELO when it is empty) or header_from\n"
           "(the From: header after DATA; MAIL FROM when there is none)."),
    POLICY("check_helo", T_BOOL, check_helo, "no",
           "Check the HELO name first; a HELO fail is treated as a MAIL FROM fail."),
    POLICY("skip_authenticated", T_BOOL, skip_authenticated, "yes",
           "Do not check sessions that used SMTP AUTH."),
    POLICY("check_local", T_BOOL, check_local, "no",
           "Check clients on loopback and private networks too."),
    POLICY("skip_trusted", T_BOOL, skip_trusted, "yes", "Do not check the trusted relays."),
    POLICY("reply_stage", T_STAGE, stage, "rcpt",
           "When a defer or reject is answered: mail, rcpt or data (end of DATA).\n"
           "header_from checks always answer at the end of DATA."),
    POLICY("received_spf", T_BOOL, received_spf, "yes", "Add a Received-SPF header."),
    POLICY("received_spf_skip_none", T_BOOL, received_spf_skip_none, "yes",
           "...but not when the result is none."),
    POLICY("authentication_results", T_BOOL, authentication_results, "yes",
           "Add an Authentication-Results header."),
    POLICY("remove_forged_authres", T_BOOL, remove_forged_authres, "yes",
           "Remove Authentication-Results headers that claim our authserv-id."),
    POLICY("score_header", T_STRING, score_header, "X-Domauth-Score",
           "Header that carries the message's score (empty: none)."),
    POLICY("defer_threshold", T_SCORE, defer_threshold, "0",
           "Defer when the score reaches this (0: never)."),
    POLICY("reject_threshold", T_SCORE, reject_threshold, "0",
           "Reject when the score reaches this (0: never)."),
    POLICY("defer_threshold_reply", T_REPLY, defer_threshold_reply,
           "451 4.7.1 Message scored too high; try again later", "Reply for a score defer."),
    POLICY("reject_threshold_reply", T_REPLY, reject_threshold_reply,
           "550 5.7.1 Message scored too high", "Reply for a score reject."),
};

/* Per-result keys: "<result>_<suffix>" in [policy] and [domain] sections. */
typedef struct result_key {
    const char *suffix;
    value_type type;
    size_t offset;
    const char *doc;
} result_key;

static const result_key result_keys[] = {
    {"action", T_ACTION, offsetof(result_policy, action), "accept, defer or reject"},
    {"reply", T_REPLY, offsetof(result_policy, reply),
     "\"CODE [X.Y.Z] text\"; %{explanation} %{result} %{domain} %{ip} %{sender}"},
    {"tag_subject", T_BOOL, offsetof(result_policy, tag_subject), "prefix the Subject"},
    {"tag", T_STRING, offsetof(result_policy, tag), "the prefix"},
    {"score", T_SCORE, offsetof(result_policy, score), "added to the message's score"},
};

typedef struct result_defaults {
    const char *action, *reply, *tag_subject, *tag, *score;
} result_defaults;

/* Indexed by da_spf_result. RFC 7372 names 5.7.23 and 4.7.24/5.7.24. */
static const result_defaults result_default[SPF_RESULT_COUNT] = {
    [DA_SPF_NONE] = {"accept", "550 5.7.23 No SPF record for %{domain}", "no", "", "0"},
    [DA_SPF_NEUTRAL] = {"accept", "550 5.7.23 SPF neutral for %{domain}", "no", "", "0"},
    [DA_SPF_PASS] = {"accept", "550 5.7.1 Refused", "no", "", "0"},
    [DA_SPF_FAIL] = {"reject", "550 5.7.23 %{explanation}", "no", "*** FRAUD ***", "5.0"},
    [DA_SPF_SOFTFAIL] = {"accept", "451 4.7.23 SPF softfail for %{domain}; try again later",
                         "no", "*** SPOOFED? ***", "2.0"},
    [DA_SPF_TEMPERROR] = {"accept", "451 4.7.24 SPF check of %{domain} failed temporarily",
                          "no", "", "0"},
    [DA_SPF_PERMERROR] = {"accept", "550 5.7.24 SPF record of %{domain} is broken", "no", "",
                          "0"},
};

const char *policy_action_name(policy_action action)
{
    switch (action) {
    case ACTION_ACCEPT: return "accept";
    case ACTION_DEFER: return "defer";
    case ACTION_REJECT: return "reject";
    }
    return "?";
}

/* ------------------------------------------------------------- values */

static int set_string(char **slot, const char *value, char *why, size_t why_size)
{
    char *copy = strdup(value);
    if (copy == NULL) {
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    free(*slot);
    *slot = copy;
    return 0;
}

static int parse_bool(const char *v, bool *out, char *why, size_t why_size)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    snprintf(why, why_size, "expected yes or no, not '%s'", v);
    return -1;
}

static int parse_uint(const char *v, int base, unsigned *out, char *why, size_t why_size)
{
    char *end;
    unsigned long n = strtoul(v, &end, base);
    if (*v == '\0' || *v == '-' || *end != '\0' || n > 100000000ul) {
        snprintf(why, why_size, "expected a whole number, not '%s'", v);
        return -1;
    }
    *out = (unsigned)n;
    return 0;
}

/* A whole number from lo to hi, with the range in the message. */
static int parse_range(const char *v, unsigned lo, unsigned hi, const char *unit, unsigned *out,
                       char *why, size_t why_size)
{
    unsigned n;
    if (parse_uint(v, 10, &n, why, why_size) != 0 || n < lo || n > hi) {
        snprintf(why, why_size, "expected %u to %u%s, not '%s'", lo, hi, unit, v);
        return -1;
    }
    *out = n;
    return 0;
}

static int parse_score(const char *v, double *out, char *why, size_t why_size)
{
    char *end;
    double d = strtod(v, &end);
    if (*v == '\0' || *end != '\0' || d != d || d > 1e6 || d < -1e6) {
        snprintf(why, why_size, "expected a number such as 5.0 or -1.5, not '%s'", v);
        return -1;
    }
    *out = d;
    return 0;
}

static int parse_choice(const char *v, const char *const *names, size_t n, int *out, char *why,
                        size_t why_size)
{
    for (size_t i = 0; i < n; i++) {
        if (strcasecmp(v, names[i]) == 0) {
            *out = (int)i;
            return 0;
        }
    }
    int used = snprintf(why, why_size, "expected one of");
    for (size_t i = 0; i < n && used > 0 && (size_t)used < why_size; i++)
        used += snprintf(why + used, why_size - (size_t)used, "%s %s", i ? "," : "", names[i]);
    if (used > 0 && (size_t)used < why_size)
        snprintf(why + used, why_size - (size_t)used, "; not '%s'", v);
    return -1;
}

static int check_listen(const char *v, char *why, size_t why_size)
{
    if (*v == '\0')
        return 0;
    if (strncmp(v, "unix:", 5) == 0 && v[5] == '/')
        return 0;
    if (strncmp(v, "inet:", 5) == 0) {
        const char *colon = strrchr(v + 5, ':');
        unsigned port;
        if (colon != NULL && colon > v + 5 && parse_uint(colon + 1, 10, &port, why, why_size) == 0 &&
            port > 0 && port < 65536)
            return 0;
    }
    snprintf(why, why_size, "expected unix:/path or inet:host:port, not '%s'", v);
    return -1;
}

int config_check_reply(const char *reply, char cls, char *err, size_t err_size)
{
    size_t len = strlen(reply);
    if (len < 3 || !isdigit((unsigned char)reply[0]) || !isdigit((unsigned char)reply[1]) ||
        !isdigit((unsigned char)reply[2]) || (len > 3 && reply[3] != ' ')) {
        snprintf(err, err_size, "a reply starts with a three-digit code, e.g. '550 5.7.23 text'");
        return -1;
    }
    if (cls != 0 && reply[0] != cls) {
        snprintf(err, err_size, "a %s reply must start with %cxx, not '%.3s'",
                 cls == '4' ? "defer" : "reject", cls, reply);
        return -1;
    }
    if (reply[0] != '4' && reply[0] != '5') {
        snprintf(err, err_size, "reply code must be 4xx or 5xx, not '%.3s'", reply);
        return -1;
    }
    /* An enhanced status code, when present, has the same class. */
    const char *p = reply + 4;
    if (len > 4 && isdigit((unsigned char)p[0]) && p[1] == '.') {
        if (p[0] != reply[0]) {
            snprintf(err, err_size, "enhanced status %c.x.x does not match reply code %.3s", p[0],
                     reply);
            return -1;
        }
        size_t n = strspn(p, "0123456789.");
        int dots = 0;
        for (size_t i = 0; i < n; i++)
            dots += p[i] == '.';
        if (dots != 2 || p[n - 1] == '.' || (p[n] != ' ' && p[n] != '\0')) {
            snprintf(err, err_size, "enhanced status code must look like 5.7.1");
            return -1;
        }
    }
    for (const char *q = reply; *q; q++) {
        if ((unsigned char)*q < 0x20 || (unsigned char)*q > 0x7e) {
            snprintf(err, err_size, "reply text must be printable ASCII");
            return -1;
        }
    }
    return 0;
}

/* "DOMAIN SELECTOR KEYFILE" into the key table. */
static int add_dkim_key(domauth_config *cfg, const char *value, char *why, size_t why_size)
{
    char domain[256], selector[128], path[1024], extra[2];
    if (sscanf(value, "%255s %127s %1023s %1s", domain, selector, path, extra) != 3) {
        snprintf(why, why_size, "expected DOMAIN SELECTOR KEYFILE, not '%.100s'", value);
        return -1;
    }
    for (char *p = selector; *p; p++) {
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.' && *p != '_') {
            snprintf(why, why_size, "selector '%s' is not a DNS label sequence", selector);
            return -1;
        }
    }
    dkim_key_entry *n = realloc(cfg->dkim_keys, (cfg->dkim_key_count + 1) * sizeof *n);
    if (n == NULL) {
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    cfg->dkim_keys = n;
    dkim_key_entry *k = &n[cfg->dkim_key_count];
    k->domain = strdup(domain);
    k->selector = strdup(selector);
    k->path = strdup(path);
    k->line = 0;
    if (!k->domain || !k->selector || !k->path) {
        free(k->domain);
        free(k->selector);
        free(k->path);
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    for (char *p = k->domain; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    cfg->dkim_key_count++;
    return 0;
}

/* Sets one typed value at base+offset. */
static int set_value(domauth_config *cfg, void *base, value_type type, size_t offset,
                     const char *value, char *why, size_t why_size)
{
    void *slot = (char *)base + offset;
    static const char *const actions[] = {"accept", "defer", "reject"};
    static const char *const identities[] = {"mailfrom", "header_from"};
    static const char *const stages[] = {"mail", "rcpt", "data"};
    int choice;
    switch (type) {
    case T_BOOL:
        return parse_bool(value, slot, why, why_size);
    case T_UINT:
        return parse_uint(value, 10, slot, why, why_size);
    case T_MODE:
        return parse_uint(value, 8, slot, why, why_size);
    case T_SESSIONS:
        return parse_range(value, 1, MAX_SESSION_LIMIT, " sessions", slot, why, why_size);
    case T_SECONDS:
        return parse_range(value, 1, MAX_TIMEOUT_SECONDS, " seconds", slot, why, why_size);
    case T_SCORE:
        return parse_score(value, slot, why, why_size);
    case T_STRING:
        return set_string(slot, value, why, why_size);
    case T_LISTEN:
        if (check_listen(value, why, why_size) != 0)
            return -1;
        return set_string(slot, value, why, why_size);
    case T_REPLY:
        if (config_check_reply(value, 0, why, why_size) != 0)
            return -1;
        return set_string(slot, value, why, why_size);
    case T_ACTION:
        if (parse_choice(value, actions, 3, &choice, why, why_size) != 0)
            return -1;
        *(policy_action *)slot = (policy_action)choice;
        return 0;
    case T_IDENTITY:
        if (parse_choice(value, identities, 2, &choice, why, why_size) != 0)
            return -1;
        *(check_identity *)slot = (check_identity)choice;
        return 0;
    case T_STAGE:
        if (parse_choice(value, stages, 3, &choice, why, why_size) != 0)
            return -1;
        *(reply_stage *)slot = (reply_stage)choice;
        return 0;
    case T_IPLIST:
        return ip_set_add_entry(slot, value, strlen(value), why, why_size);
    case T_CANON: {
        static const char *const canons[] = {"simple/simple", "simple/relaxed",
                                             "relaxed/simple", "relaxed/relaxed",
                                             "simple", "relaxed"};
        if (parse_choice(value, canons, 6, &choice, why, why_size) != 0)
            return -1;
        return set_string(slot, value, why, why_size);
    }
    case T_SHA1: {
        static const char *const modes[] = {"fail", "neutral"};
        if (parse_choice(value, modes, 2, &choice, why, why_size) != 0)
            return -1;
        *(bool *)slot = choice == 1;
        return 0;
    }
    case T_DKIMKEY:
        if (*value == '\0')
            return 0; /* the default: no keys */
        return add_dkim_key(cfg, value, why, why_size);
    case T_FILELIST: {
        char ***list = slot;
        size_t *count = offset == offsetof(domauth_config, whitelist_files)
                            ? &cfg->whitelist_file_count
                            : &cfg->trusted_file_count;
        char **n = realloc(*list, (*count + 1) * sizeof *n);
        if (n == NULL || (n[*count] = strdup(value)) == NULL) {
            if (n != NULL)
                *list = n;
            snprintf(why, why_size, "out of memory");
            return -1;
        }
        *list = n;
        (*count)++;
        return 0;
    }
    }
    return -1;
}

/* Sets a [policy]-style key (also the per-result ones) on settings. Returns
 * 0, -1 for a bad value, -2 for an unknown key. */
static int set_policy_key(domauth_config *cfg, policy_settings *ps, const char *name,
                          const char *value, char *why, size_t why_size)
{
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (keys[i].section == S_POLICY && strcmp(keys[i].name, name) == 0)
            return set_value(cfg, ps, keys[i].type, keys[i].offset, value, why, why_size);
    if (strncmp(name, "dkim_", 5) == 0) {
        static const char *const dkim_results[DKIM_RESULT_COUNT] = {
            "none", "pass", "fail", "neutral", "policy", "temperror", "permerror"};
        for (int r = 0; r < DKIM_RESULT_COUNT; r++) {
            char key[40];
            snprintf(key, sizeof key, "dkim_%s_score", dkim_results[r]);
            if (strcmp(name, key) == 0)
                return parse_score(value, &ps->dkim_scores[r], why, why_size);
        }
        return -2;
    }
    const char *underscore = strchr(name, '_');
    if (underscore == NULL)
        return -2;
    for (int r = 0; r < SPF_RESULT_COUNT; r++) {
        const char *rname = da_spf_result_name((da_spf_result)r);
        if (strlen(rname) != (size_t)(underscore - name) ||
            strncmp(name, rname, (size_t)(underscore - name)) != 0)
            continue;
        for (size_t k = 0; k < sizeof result_keys / sizeof result_keys[0]; k++)
            if (strcmp(underscore + 1, result_keys[k].suffix) == 0)
                return set_value(cfg, &ps->results[r], result_keys[k].type,
                                 result_keys[k].offset, value, why, why_size);
    }
    return -2;
}

/* ------------------------------------------------------- init and free */

static void settings_free(policy_settings *ps)
{
    free(ps->score_header);
    free(ps->defer_threshold_reply);
    free(ps->reject_threshold_reply);
    for (int r = 0; r < SPF_RESULT_COUNT; r++) {
        free(ps->results[r].reply);
        free(ps->results[r].tag);
    }
    memset(ps, 0, sizeof *ps);
}

static int settings_copy(policy_settings *dst, const policy_settings *src)
{
    *dst = *src;
    dst->score_header = strdup(src->score_header);
    dst->defer_threshold_reply = strdup(src->defer_threshold_reply);
    dst->reject_threshold_reply = strdup(src->reject_threshold_reply);
    bool ok = dst->score_header && dst->defer_threshold_reply && dst->reject_threshold_reply;
    for (int r = 0; r < SPF_RESULT_COUNT; r++) {
        dst->results[r].reply = strdup(src->results[r].reply);
        dst->results[r].tag = strdup(src->results[r].tag);
        ok = ok && dst->results[r].reply && dst->results[r].tag;
    }
    if (!ok) {
        settings_free(dst);
        return -1;
    }
    return 0;
}

int config_init(domauth_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    ip_set_init(&cfg->whitelist);
    ip_set_init(&cfg->trusted);
    ip_set_init(&cfg->local);
    char why[256];
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const key_spec *k = &keys[i];
        if (k->section == S_HOSTS)
            continue;
        void *base = k->section == S_POLICY ? (void *)&cfg->global : (void *)cfg;
        if (set_value(cfg, base, k->type, k->offset, k->default_value, why, sizeof why) != 0)
            goto fail;
    }
    for (int r = 0; r < SPF_RESULT_COUNT; r++) {
        const result_defaults *d = &result_default[r];
        const char *values[] = {d->action, d->reply, d->tag_subject, d->tag, d->score};
        for (size_t k = 0; k < sizeof result_keys / sizeof result_keys[0]; k++)
            if (set_value(cfg, &cfg->global.results[r], result_keys[k].type,
                          result_keys[k].offset, values[k], why, sizeof why) != 0)
                goto fail;
    }
    if (ip_set_add_local_networks(&cfg->local) != 0)
        goto fail;
    return 0;
fail:
    config_free(cfg);
    return -1;
}

void config_free(domauth_config *cfg)
{
    free(cfg->path);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if ((keys[i].section == S_DAEMON || keys[i].section == S_DKIM) &&
            (keys[i].type == T_STRING || keys[i].type == T_LISTEN || keys[i].type == T_CANON))
            free(*(char **)((char *)cfg + keys[i].offset));
    }
    for (size_t i = 0; i < cfg->dkim_key_count; i++) {
        free(cfg->dkim_keys[i].domain);
        free(cfg->dkim_keys[i].selector);
        free(cfg->dkim_keys[i].path);
    }
    free(cfg->dkim_keys);
    ip_set_free(&cfg->whitelist);
    ip_set_free(&cfg->trusted);
    ip_set_free(&cfg->local);
    for (size_t i = 0; i < cfg->whitelist_file_count; i++)
        free(cfg->whitelist_files[i]);
    for (size_t i = 0; i < cfg->trusted_file_count; i++)
        free(cfg->trusted_files[i]);
    free(cfg->whitelist_files);
    free(cfg->trusted_files);
    settings_free(&cfg->global);
    for (size_t i = 0; i < cfg->domain_count; i++) {
        free(cfg->domains[i].domain);
        settings_free(&cfg->domains[i].settings);
    }
    free(cfg->domains);
    memset(cfg, 0, sizeof *cfg);
}

/* -------------------------------------------------------------- parse */

/* A [domain] section's settings are applied after the whole file, on top of
 * the final [policy] values, so the order of sections does not matter. */
typedef struct pending_key {
    char *section_domain;
    char *name, *value;
    unsigned line;
} pending_key;

typedef struct parse_state {
    domauth_config *cfg;
    const char *text, *pos, *end;
    unsigned line;
    bool line_too_long;
    int line_buffer; /* what libinih reads a line into */
    char *err;
    size_t err_size;
    bool failed;
    pending_key *pending;
    size_t pending_count;
    unsigned seen_line[sizeof keys / sizeof keys[0]];
} parse_state;

/* Feeds libinih one line at a time, counting lines so that every error can
 * name its line (Debian's libinih does not pass line numbers). */
static char *read_line(char *buf, int size, void *stream)
{
    parse_state *st = stream;
    if (st->pos >= st->end)
        return NULL;
    const char *eol = memchr(st->pos, '\n', (size_t)(st->end - st->pos));
    size_t len = eol ? (size_t)(eol - st->pos) + 1 : (size_t)(st->end - st->pos);
    st->line++;
    st->line_buffer = size;
    if (len + 1 > (size_t)size) {
        st->line_too_long = true;
        len = (size_t)size - 2;
        memcpy(buf, st->pos, len);
        buf[len] = '\n';
        buf[len + 1] = '\0';
        st->pos = eol ? eol + 1 : st->end;
        return buf;
    }
    memcpy(buf, st->pos, len);
    buf[len] = '\0';
    st->pos += len;
    return buf;
}

static void fail_at(parse_state *st, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail_at(parse_state *st, unsigned line, const char *fmt, ...)
{
    if (st->failed)
        return;
    st->failed = true;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(st->err, st->err_size, "%s:%u: %s", st->cfg->path ? st->cfg->path : "(config)",
             line, msg);
}

static const char *domain_of_section(const char *section)
{
    if (strncasecmp(section, "domain", 6) != 0 || (section[6] != ' ' && section[6] != '\t'))
        return NULL;
    const char *d = section + 7;
    while (*d == ' ' || *d == '\t')
        d++;
    return *d ? d : NULL;
}

/* libinih's handler: nonzero means "go on". Errors are kept in st. */
static int on_key(void *user, const char *section, const char *name, const char *value)
{
    parse_state *st = user;
    if (st->failed)
        return 1;
    if (st->line_too_long) {
        fail_at(st, st->line, "line longer than %d characters; shorten it or split a list "
                "over several lines", st->line_buffer - 3);
        return 1;
    }
    char why[300] = "";
    const char *domain = domain_of_section(section);
    if (domain != NULL) {
        pending_key *n = realloc(st->pending, (st->pending_count + 1) * sizeof *n);
        if (n == NULL) {
            fail_at(st, st->line, "out of memory");
            return 1;
        }
        st->pending = n;
        pending_key *pk = &n[st->pending_count];
        pk->section_domain = strdup(domain);
        pk->name = strdup(name);
        pk->value = strdup(value);
        pk->line = st->line;
        st->pending_count++;
        for (char *p = pk->section_domain; p && *p; p++)
            *p = (char)tolower((unsigned char)*p);
        if (!pk->section_domain || !pk->name || !pk->value)
            fail_at(st, st->line, "out of memory");
        return 1;
    }
    section_kind kind;
    if (strcmp(section, "daemon") == 0)
        kind = S_DAEMON;
    else if (strcmp(section, "hosts") == 0)
        kind = S_HOSTS;
    else if (strcmp(section, "policy") == 0)
        kind = S_POLICY;
    else if (strcmp(section, "dkim") == 0)
        kind = S_DKIM;
    else {
        fail_at(st, st->line,
                "unknown section [%s]; expected [daemon], [hosts], [dkim], [policy] or "
                "[domain NAME]",
                section);
        return 1;
    }
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const key_spec *k = &keys[i];
        if (k->section != kind || strcmp(k->name, name) != 0)
            continue;
        bool repeatable = k->type == T_IPLIST || k->type == T_FILELIST || k->type == T_DKIMKEY;
        if (!repeatable && st->seen_line[i] != 0) {
            fail_at(st, st->line, "'%s' is given twice (first on line %u)", name,
                    st->seen_line[i]);
            return 1;
        }
        st->seen_line[i] = st->line;
        void *base = kind == S_POLICY ? (void *)&st->cfg->global : (void *)st->cfg;
        if (set_value(st->cfg, base, k->type, k->offset, value, why, sizeof why) != 0)
            fail_at(st, st->line, "%s: %s", name, why);
        else if (k->type == T_DKIMKEY && st->cfg->dkim_key_count > 0)
            st->cfg->dkim_keys[st->cfg->dkim_key_count - 1].line = st->line;
        return 1;
    }
    if (kind == S_POLICY) {
        int rc = set_policy_key(st->cfg, &st->cfg->global, name, value, why, sizeof why);
        if (rc == -1)
            fail_at(st, st->line, "%s: %s", name, why);
        if (rc != -2)
            return 1;
    }
    fail_at(st, st->line, "unknown key '%s' in [%s]", name, section);
    return 1;
}

/* Replies must match their action's class: 4xx for defer, 5xx for reject. */
static int check_replies(parse_state *st, const policy_settings *ps, const char *where)
{
    for (int r = 0; r < SPF_RESULT_COUNT; r++) {
        const result_policy *rp = &ps->results[r];
        if (rp->action == ACTION_ACCEPT)
            continue;
        char why[200], msg[300];
        if (config_check_reply(rp->reply, rp->action == ACTION_DEFER ? '4' : '5', why,
                               sizeof why) == 0)
            continue;
        const char *name = da_spf_result_name((da_spf_result)r);
        snprintf(msg, sizeof msg, "%s%s_reply: %s (the reply must suit %s_action = %s)", where,
                 name, why, name, policy_action_name(rp->action));
        st->failed = true;
        snprintf(st->err, st->err_size, "%s: %s", st->cfg->path ? st->cfg->path : "(config)",
                 msg);
        return -1;
    }
    return 0;
}

static int apply_domains(parse_state *st)
{
    domauth_config *cfg = st->cfg;
    for (size_t i = 0; i < st->pending_count && !st->failed; i++) {
        pending_key *pk = &st->pending[i];
        domain_policy *dp = NULL;
        for (size_t d = 0; d < cfg->domain_count; d++)
            if (strcmp(cfg->domains[d].domain, pk->section_domain) == 0)
                dp = &cfg->domains[d];
        if (dp == NULL) {
            domain_policy *n = realloc(cfg->domains, (cfg->domain_count + 1) * sizeof *n);
            if (n == NULL)
                return -1;
            cfg->domains = n;
            dp = &n[cfg->domain_count];
            memset(dp, 0, sizeof *dp);
            dp->domain = strdup(pk->section_domain);
            if (dp->domain == NULL || settings_copy(&dp->settings, &cfg->global) != 0) {
                free(dp->domain);
                fail_at(st, pk->line, "out of memory");
                return -1;
            }
            cfg->domain_count++;
        }
        char why[300];
        int rc = set_policy_key(cfg, &dp->settings, pk->name, pk->value, why, sizeof why);
        if (rc == -1)
            fail_at(st, pk->line, "%s: %s", pk->name, why);
        else if (rc == -2)
            fail_at(st, pk->line,
                    "'%s' cannot be set per domain (only [policy] keys can)", pk->name);
    }
    return st->failed ? -1 : 0;
}

int config_parse(domauth_config *cfg, const char *path, const char *text, size_t len, char *err,
                 size_t err_size)
{
    cfg->path = strdup(path ? path : "(config)");
    parse_state st = {.cfg = cfg, .text = text, .pos = text, .end = text + len, .err = err,
                      .err_size = err_size};
    /* libinih stops at a NUL byte; refuse one rather than ignore the rest. */
    const char *nul = memchr(text, '\0', len);
    if (nul != NULL) {
        unsigned line = 1;
        for (const char *p = text; p < nul; p++)
            line += *p == '\n';
        fail_at(&st, line, "NUL byte in the file");
    }
    if (!st.failed) {
        int rc = ini_parse_stream(read_line, &st, on_key, &st);
        if (rc > 0 && !st.failed)
            fail_at(&st, (unsigned)rc,
                    "expected 'key = value', a [section] header or a comment");
        else if (rc < 0 && !st.failed)
            fail_at(&st, 0, "could not be read");
    }
    if (!st.failed)
        apply_domains(&st);
    if (!st.failed && check_replies(&st, &cfg->global, "[policy] ") == 0) {
        for (size_t d = 0; d < cfg->domain_count && !st.failed; d++) {
            char where[300];
            snprintf(where, sizeof where, "[domain %s] ", cfg->domains[d].domain);
            check_replies(&st, &cfg->domains[d].settings, where);
        }
    }
    for (size_t i = 0; i < st.pending_count; i++) {
        free(st.pending[i].section_domain);
        free(st.pending[i].name);
        free(st.pending[i].value);
    }
    free(st.pending);
    if (st.failed) {
        config_free(cfg);
        return -1;
    }
    return 0;
}

const policy_settings *config_settings_for(const domauth_config *cfg, const char *rcpt_domain)
{
    if (rcpt_domain == NULL || cfg->domain_count == 0)
        return &cfg->global;
    /* The closest enclosing domain wins: mail.example.org, then example.org. */
    const char *d = rcpt_domain;
    while (d != NULL && *d) {
        for (size_t i = 0; i < cfg->domain_count; i++)
            if (strcasecmp(cfg->domains[i].domain, d) == 0)
                return &cfg->domains[i].settings;
        d = strchr(d, '.');
        if (d != NULL)
            d++;
    }
    return &cfg->global;
}

/* -------------------------------------------------------------- sample */

static void emit_doc(void (*emit)(void *, const char *), void *arg, const char *doc)
{
    char line[256];
    const char *p = doc;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        snprintf(line, sizeof line, "; %.*s", (int)n, p);
        emit(arg, line);
        p += n + (nl ? 1 : 0);
    }
}

void config_write_sample(void (*emit)(void *arg, const char *line), void *arg)
{
    static const struct {
        section_kind kind;
        const char *header;
    } sections[] = {{S_DAEMON, "[daemon]"}, {S_HOSTS, "[hosts]"}, {S_DKIM, "[dkim]"},
                    {S_POLICY, "[policy]"}};
    char line[512];
    emit(arg, "; domauth.conf: configuration of domauthd. Every key is shown with its");
    emit(arg, "; default, commented out; see domauth.conf(5). Lines starting with ; or #");
    emit(arg, "; are comments; ' ;' also starts a comment after a value.");
    for (size_t s = 0; s < sizeof sections / sizeof sections[0]; s++) {
        emit(arg, "");
        emit(arg, sections[s].header);
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            if (keys[i].section != sections[s].kind)
                continue;
            emit(arg, "");
            emit_doc(emit, arg, keys[i].doc);
            if (keys[i].type == T_DKIMKEY)
                snprintf(line, sizeof line, ";%s = example.com mail2026 /etc/domauth/keys/mail2026.private",
                         keys[i].name);
            else if (keys[i].type == T_IPLIST)
                snprintf(line, sizeof line, ";%s = 192.0.2.10 our office gateway", keys[i].name);
            else if (keys[i].type == T_FILELIST)
                snprintf(line, sizeof line, ";%s = /etc/domauth/%s", keys[i].name,
                         keys[i].name);
            else
                snprintf(line, sizeof line, ";%s = %s", keys[i].name, keys[i].default_value);
            emit(arg, line);
        }
    }
    emit(arg, "");
    emit(arg, "; Per result (none, neutral, pass, fail, softfail, temperror, permerror):");
    for (size_t k = 0; k < sizeof result_keys / sizeof result_keys[0]; k++) {
        snprintf(line, sizeof line, ";   <result>_%s: %s", result_keys[k].suffix,
                 result_keys[k].doc);
        emit(arg, line);
    }
    for (int r = 0; r < SPF_RESULT_COUNT; r++) {
        const result_defaults *d = &result_default[r];
        const char *name = da_spf_result_name((da_spf_result)r);
        emit(arg, "");
        snprintf(line, sizeof line, ";%s_action = %s", name, d->action);
        emit(arg, line);
        snprintf(line, sizeof line, ";%s_reply = %s", name, d->reply);
        emit(arg, line);
        snprintf(line, sizeof line, ";%s_tag_subject = %s", name, d->tag_subject);
        emit(arg, line);
        snprintf(line, sizeof line, ";%s_tag = %s", name, d->tag);
        emit(arg, line);
        snprintf(line, sizeof line, ";%s_score = %s", name, d->score);
        emit(arg, line);
    }
    emit(arg, "");
    emit(arg, "; DKIM results add to the score too (none, pass, fail, neutral, policy,");
    emit(arg, "; temperror, permerror):");
    emit(arg, ";dkim_pass_score = 0");
    emit(arg, ";dkim_fail_score = 0");
    emit(arg, "");
    emit(arg, "; Per recipient domain: any [policy] key, overriding the global value.");
    emit(arg, ";[domain example.org]");
    emit(arg, ";monitor = no");
    emit(arg, ";fail_action = reject");
}
