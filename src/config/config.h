/* config.h: domauth.conf as data. The parser reads the text of a file (the
 * caller reads the file) and reports every error with the file name, the
 * line and what was expected. Nothing here touches the network or disk. */
#ifndef DA_CONFIG_H
#define DA_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "config/ipset.h"
#include "config/namelist.h"
#include "domauth.h"

enum { SPF_RESULT_COUNT = 7 };  /* da_spf_result values 0..6 */
enum { DKIM_RESULT_COUNT = 7 }; /* da_dkim_result values 0..6 */
enum { SENDERID_RESULT_COUNT = 7 }; /* da_spf_result values, as Sender ID spells them */
enum { DMARC_RESULT_COUNT = 5 };    /* da_dmarc_result values 0..4 */
/* The longest logical line (a line and its continuation lines). */
enum { CONFIG_LINE_MAX = 4096 };
/* The longest subject tag, in bytes: the policy's verdict holds a tag in a
 * fixed buffer (DECISION_TAG_MAX in src/policy, 128 with the NUL), so the
 * parser refuses a longer one rather than let it be cut there. */
enum { CONFIG_TAG_MAX = 127 };

/* One line of the DKIM key table: sign mail from domain with this key. */
typedef struct dkim_key_entry {
    char *domain; /* lower case; "*" signs any domain with this key */
    char *selector;
    char *path;
    unsigned line; /* where it was configured, for messages */
    char *file;    /* the KeyTable it came from (line is its line), or NULL: a key line */
} dkim_key_entry;

typedef enum policy_action {
    ACTION_ACCEPT, /* let the message through (with headers, tag, score) */
    ACTION_DEFER,  /* 4xx: the sender tries again later */
    ACTION_REJECT, /* 5xx */
    ACTION_QUARANTINE, /* keep the message out of the mailbox: the spool folder or the
                        * MTA's hold queue (quarantine_mode); weaker than defer and
                        * reject, stronger than accept */
    ACTION_REDIRECT,   /* deliver to redirect_to instead of the recipients (a local
                        * spam mailbox); weaker than quarantine, stronger than accept */
} policy_action;

typedef enum quarantine_mode {
    QUARANTINE_FOLDER, /* domauth's own spool (quarantine_dir), indexed in the store */
    QUARANTINE_HOLD,   /* the MTA's hold queue (milter SMFIR_QUARANTINE, policy HOLD) */
} quarantine_mode;

typedef enum check_identity {
    IDENTITY_MAILFROM,    /* MAIL FROM, or HELO when the sender is empty */
    IDENTITY_HEADER_FROM, /* header From: after DATA; MAIL FROM when there is none */
} check_identity;

typedef enum reply_stage {
    STAGE_MAIL, /* answer at MAIL FROM */
    STAGE_RCPT, /* answer at RCPT TO (the default: per-recipient overrides apply) */
    STAGE_DATA, /* answer at the end of DATA */
} reply_stage;

/* What to do for one SPF result. */
typedef struct result_policy {
    policy_action action;
    char *reply;      /* "CODE [X.Y.Z] text"; text may hold %{explanation} etc. */
    bool tag_subject;
    char *tag;        /* subject prefix, at most CONFIG_TAG_MAX bytes */
    double score;
    /* The entry's own request (a DMARC record's p=) is carried out when it
     * is stronger than action: set on [dmarc]'s fail by honor_policy. */
    bool honor_request;
} result_policy;

/* Settings a [domain NAME] section may override. */
typedef struct policy_settings {
    bool monitor;
    check_identity identity;
    bool check_helo;
    bool skip_authenticated;
    bool check_local;
    bool skip_trusted;
    reply_stage stage;
    bool received_spf;
    bool received_spf_skip_none;
    bool authentication_results;
    bool remove_forged_authres;
    char *score_header;
    double defer_threshold;  /* 0: off */
    double reject_threshold; /* 0: off */
    char *defer_threshold_reply;
    char *reject_threshold_reply;
    double quarantine_threshold;     /* 0: off */
    char *quarantine_threshold_reply; /* what the sender hears with quarantine_reply = reply */
    char *redirect_to;                /* the mailbox of the redirect action, or "" */
    quarantine_mode quarantine_mode;
    bool quarantine_reply;           /* folder: send the deciding reply, yet keep the copy
                                      * (else accept and discard: the sender sees success) */
    result_policy results[SPF_RESULT_COUNT];           /* [spf], indexed by da_spf_result */
    result_policy dkim_results[DKIM_RESULT_COUNT];     /* [dkim], by da_dkim_result */
    result_policy senderid_results[SENDERID_RESULT_COUNT]; /* [senderid], by da_spf_result */
    result_policy dmarc_results[DMARC_RESULT_COUNT];       /* [dmarc], by da_dmarc_result */
    result_policy invalid_from; /* header_from identity, and no single parseable From: */
    /* Sender domains exempt once authenticated: an SPF pass for the MAIL
     * FROM (or HELO) domain, or a DKIM pass with that d=. */
    name_list whitelist_from;
    ip_set relays; /* [domain] trusted: that domain's own servers, not checked */
} policy_settings;

typedef struct domain_policy {
    char *domain; /* lower case */
    policy_settings settings;
} domain_policy;

typedef struct domauth_config {
    char *path; /* for messages */
    /* [daemon] */
    char *user, *group, *pidfile;
    char *milter_listen, *policy_listen; /* "unix:/path" or "inet:host:port" */
    unsigned socket_mode;
    char *socket_group; /* group of the unix mail sockets, or "" */
    char *control_listen; /* "unix:/path" or "" */
    char *metrics_listen; /* "inet:ADDRESS:PORT" ([IPV6] in brackets) or "": off */
    unsigned control_mode;
    char *dns_servers;
    unsigned dns_timeout_ms, dns_tries, spf_deadline_ms, cache_entries;
    char *event_log, *database;
    char *database_password_file, *node, *event_spool; /* many nodes (issue 15) */
    unsigned event_spool_mb;
    bool syslog;
    char *syslog_facility;
    char *authserv_id;
    char *receiver;
    unsigned max_sessions;                               /* both listeners together */
    unsigned milter_max_sessions, policy_max_sessions;   /* each listener */
    unsigned milter_idle_timeout, policy_idle_timeout;   /* seconds without a request */
    unsigned request_timeout;                            /* seconds for one to arrive */
    char *quarantine_dir;       /* the spool: tmp/ and new/ under it */
    unsigned quarantine_days;   /* retention */
    char *sendmail;             /* what a release through the control socket runs */
    unsigned event_days;        /* the event store's retention */
    bool quarantine_failure_accept; /* a copy that cannot be stored: accept (else tempfail) */
    /* Computed by config_parse: some settings block (global or a domain)
     * can quarantine to the folder, so the service streams messages to
     * the spool only then. */
    bool quarantine_possible;
    /* [hosts] */
    ip_set whitelist, trusted, local;
    char *local_networks;        /* local's entries as text, for the start-up line */
    bool local_networks_default; /* not set in the file: the built-in list */
    name_list whitelist_helo, whitelist_ptr; /* clients not checked, by name */
    char **whitelist_files, **trusted_files;
    size_t whitelist_file_count, trusted_file_count;
    /* [dkim] */
    bool dkim_verify, dkim_sign;
    bool dkim_sign_authenticated, dkim_sign_trusted, dkim_sign_loopback;
    char *dkim_canon;   /* "relaxed/relaxed" */
    char *dkim_headers; /* "" for the default set */
    char *dkim_key_table, *dkim_signing_table; /* OpenDKIM's files as given, or "" */
    bool dkim_sha1_neutral;
    /* [senderid] */
    bool senderid_check;     /* Sender ID (PRA scope) where the header is seen */
    /* [dmarc] */
    bool dmarc_check;        /* DMARC where the header is seen, after SPF and DKIM */
    int dmarc_mode;          /* da_dmarc_mode: 0 rfc9989, 1 rfc7489 */
    bool dmarc_honor_policy; /* a fail gets the action its domain's policy asks */
    bool dmarc_report;            /* send the daily aggregate reports (RFC 9990) */
    char *dmarc_report_org_name;  /* report_metadata org_name */
    char *dmarc_report_email;     /* its contact and the mail's From: */
    char *dmarc_report_domain;    /* the Submitter; "" for report_email's domain */
    char *dmarc_report_sendmail;  /* the sendmail(1) to run */
    unsigned dmarc_report_hour;   /* UTC hour after which the day before is sent */
    unsigned dmarc_report_attempts; /* tries of a failing send */
    /* [arc] */
    bool arc_check;                 /* validate ARC chains where the body is seen */
    name_list arc_trusted_sealers;  /* seals that may vouch for a forwarded message */
    bool arc_seal;                  /* add this host's ARC set to checked messages */
    char *arc_seal_domain;          /* its d=; the key is this domain's in [dkim] */
    dkim_key_entry *dkim_keys;
    size_t dkim_key_count;
    /* [srs]: the SRS socketmap for Postfix's canonical maps */
    char *srs_socketmap;       /* "unix:/path", "inet:host:port" or "" (off) */
    char *srs_domain;          /* forwarded senders go under it */
    char *srs_secrets;         /* file: one secret a line, the first signs */
    char *srs_separator;       /* "=", "+" or "-" */
    unsigned srs_max_age, srs_hash_length, srs_hash_min_length;
    char *srs_exclude_domains; /* blank/comma list; ".example.org": its subdomains */
    bool srs_milter;           /* the milter rewrites MAIL FROM for off-site recipients */
    /* The envelope rewrite for alignment (BNC addresses, srs.h). */
    char *srs_envelope_domain;   /* the site's bounce domain, or "" */
    char *srs_envelope_senders;  /* own sender domains rewritten under it (list) */
    char *srs_envelope_bounces;  /* "forward" or "keep" */
    struct envelope_rule *srs_envelope_rules; /* per sending domain: beat the global */
    size_t srs_envelope_rule_count;
    unsigned srs_max_sessions, srs_idle_timeout;
    /* [web]: domauth-web (web/), the administrator's console */
    char *web_listen;          /* "inet:ADDRESS:PORT" */
    char *web_cert, *web_key;  /* PEM files, or "" (HTTP) */
    char *web_users;           /* NAME:ROLE:HASH lines */
    char *web_user, *web_group;
    unsigned web_session_minutes, web_max_connections;
    /* [policy] and [domain NAME] */
    policy_settings global;
    domain_policy *domains;
    size_t domain_count;
    struct config_lines *lines; /* where each key was set (config_key_line) */
    /* "FILE:LINE: ..." for what was read but should be written otherwise
     * (old key names); domauthd logs them, -t prints them. */
    char **warnings;
    size_t warning_count;
} domauth_config;

/* Fills every default (observe-only; see domauth.conf(5)). */
int config_init(domauth_config *cfg);
void config_free(domauth_config *cfg);

/* Parses text as the file `path`. Returns 0, or -1 with
 * "PATH:LINE: reason" in err; cfg is then freed and must not be used. */
int config_parse(domauth_config *cfg, const char *path, const char *text, size_t len, char *err,
                 size_t err_size);

/* The line that set a single-valued key, 0 when it was not set; section is
 * "daemon", "dkim", "srs", "policy" or "domain NAME" (NAME in lower case). */
unsigned config_key_line(const domauth_config *cfg, const char *section, const char *name);

/* Reads the files of whitelist_file and trusted_file into the whitelist
 * and the trusted relays. Returns 0, or -1 with "FILE:LINE: reason" (or
 * why the file cannot be read) in err. For every front end that loads a
 * configuration (domauthd, the XMail filter). */
int config_read_host_files(domauth_config *cfg, char *err, size_t err_size);

/* Reads [dkim] key_table and signing_table (OpenDKIM's files, through
 * config/opendkim.h) into the key table, after the key lines; what differs
 * from OpenDKIM becomes a warning with its file and line. Returns 0, or -1
 * with "FILE:LINE: reason" in err. For a front end that signs (domauthd). */
int config_read_dkim_tables(domauth_config *cfg, char *err, size_t err_size);

/* The settings for a recipient domain: its [domain] section, a parent
 * domain's, or the global ones. */
const policy_settings *config_settings_for(const domauth_config *cfg, const char *rcpt_domain);

/* Checks a reply "CODE [X.Y.Z] text" for the class it must have (4 or 5).
 * Returns 0, or -1 with the reason. */
int config_check_reply(const char *reply, char cls, char *err, size_t err_size);

/* The key table, for a reader that shows the settings (domauth-web): key i
 * of config_key_count(), its section ("daemon", "policy", ...), its name,
 * its default as the file would write it, whether a [domain NAME] section
 * may override it, and whether it may be given many times (a list, whose
 * lines config_key_line does not note). False past the end. */
size_t config_key_count(void);
bool config_key_info(size_t i, const char **section, const char **name,
                     const char **default_value, bool *per_domain, bool *multiple);

/* The per-result keys, for a reader that shows or edits them: key i of
 * config_result_key_count(), e.g. section "spf", name "fail_action",
 * domain_name "spf_fail_action" (as a [domain NAME] section writes it);
 * invalid_from_* are section "policy" with the same name in both. */
typedef struct config_result_key_info {
    const char *section;
    char name[48];
    char domain_name[64];
    const char *default_value;
} config_result_key_info;
size_t config_result_key_count(void);
bool config_result_key(size_t i, config_result_key_info *out);

/* Whether domauth-web may change key `name` of `section` (named as
 * config_key_line names them; "domain NAME" with a result key's
 * domain_name): the keys of the site's policy ([policy], [domain NAME],
 * the result keys and the switches of [spf], [dkim], [senderid], [dmarc],
 * [arc]), single-valued. Never what names a program, a file, a socket, a
 * user or the database: a console that could set [daemon] sendmail could
 * run a program as domauthd. */
bool config_key_editable(const char *section, const char *name);

/* Writes the sample configuration, every key commented with its default. */
void config_write_sample(void (*emit)(void *arg, const char *line), void *arg);

const char *policy_action_name(policy_action action);

/* Whether these settings can ask for a quarantine (an action or the
 * threshold), whatever its mode. */
bool policy_settings_can_quarantine(const policy_settings *ps);
/* Whether domain (len bytes) is one of [srs] exclude_domains: an entry
 * "example.org" is that domain, ".example.org" every name under it. Case
 * does not matter. */
bool config_srs_excluded(const domauth_config *cfg, const char *domain, size_t len);

/* envelope_rewrite = DOMAIN BOUNCE-DOMAIN [forward|keep] */
typedef struct envelope_rule {
    char *domain;        /* lower case; ".example.org": the names under it */
    char *bounce_domain; /* its senders go out as BNC=...@bounce_domain */
    bool forward;        /* bounces to them go on to the original sender */
    unsigned line;
} envelope_rule;

/* The bounce domain a sender domain's mail goes out under: its
 * envelope_rewrite rule, else envelope_domain when the domain is one of
 * envelope_senders; NULL when neither. *forward says whether bounces to it
 * go on to the original sender. */
const char *config_envelope_domain(const domauth_config *cfg, const char *domain, size_t len,
                                   bool *forward);

#endif
