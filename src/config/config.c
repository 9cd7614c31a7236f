/* config.c: domauth.conf: an INI-style file read by its own line reader
 * (Postfix-style continuation lines, one limit for a logical line, every
 * error with its line), and a table of keys for everything else, so that the
 * parser, the sample file and the defaults cannot drift apart. */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/opendkim.h"
#include "domauth_dkim.h"
#include "domauth_dmarc.h"
#include "util/file.h"

typedef enum value_type {
    T_BOOL,
    T_COUNT,    /* a [daemon] number, 1 to UINT_LIMIT: 0 would not mean "none" but the
                 * built-in default (the resolver, the cache and the SPF deadline read
                 * 0 so), or, for max_sessions, refuse every connection */
    T_MODE,
    T_STRING,
    T_TAG,      /* a subject tag: at most CONFIG_TAG_MAX bytes */
    T_SCORE,
    T_ACTION,
    T_IDENTITY,
    T_STAGE,
    T_LISTEN,
    T_HTTPLISTEN, /* ADDRESS:PORT or [IPV6]:PORT, stored as inet:ADDRESS:PORT, or empty */
    T_REPLY,
    T_IPLIST,
    T_NAMELIST,   /* host or domain name patterns (namelist.h) */
    T_LOCALNETS,  /* local_networks: the first entry replaces the built-in list */
    T_ENVRULE,    /* envelope_rewrite = DOMAIN BOUNCE-DOMAIN [forward|keep] */
    T_FILELIST,
    T_CANON,
    T_SHA1,
    T_DKIMKEY,
    T_FACILITY,   /* a syslog facility name, stored in lower case */
    T_PATH,       /* an absolute path, or empty */
    T_DATABASE,   /* an absolute path (SQLite), a postgresql:// URI, or empty */
    T_DATASET,    /* an OpenDKIM data set: [file:|refile:]/absolute/path, or empty */
    T_HOSTNAME,   /* a host name (a token in header fields), or empty */
    T_HEADER,     /* a header field name, or empty */
    T_HEADERLIST, /* header field names, colon-separated, or empty */
    T_SESSIONS, /* a session limit: 1 to MAX_SESSION_LIMIT */
    T_SECONDS,  /* a timeout in seconds: 1 to MAX_TIMEOUT_SECONDS */
    T_DAYS,     /* a retention in days: 1 to MAX_RETENTION_DAYS */
    T_QMODE,    /* quarantine_mode: folder or hold */
    T_DMARCMODE, /* [dmarc] mode: rfc9989 or rfc7489 (stored as da_dmarc_mode) */
    T_QREPLY,   /* quarantine_reply: accept or reply (stored as bool: reply) */
    T_QFAILURE, /* quarantine_failure: tempfail or accept (stored as bool: accept) */
    T_HOUR,     /* an hour of the day, 0 to 23 */
    T_ATTEMPTS, /* a number of tries, 1 to MAX_ATTEMPTS */
    T_MAILBOX,  /* local@domain fit for a header field and sendmail's argument, or empty */
} value_type;

enum {
    MAX_SESSION_LIMIT = 1000000, /* far beyond any file descriptor limit */
    MAX_TIMEOUT_SECONDS = 86400, /* a day */
    MAX_RETENTION_DAYS = 36500,  /* a century: beyond it a typo, not a policy */
    MAX_ATTEMPTS = 100,          /* report sends: beyond it a loop, not a retry */
};

typedef enum section_kind {
    S_DAEMON, S_HOSTS, S_POLICY, S_DKIM, S_SPF, S_SRS, S_SENDERID, S_DMARC, S_ARC, S_WEB
} section_kind;

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
#define SENDERID(name, type, field, def, doc) \
    {S_SENDERID, name, type, offsetof(domauth_config, field), def, doc}
#define DMARC(name, type, field, def, doc) \
    {S_DMARC, name, type, offsetof(domauth_config, field), def, doc}
#define ARC(name, type, field, def, doc) \
    {S_ARC, name, type, offsetof(domauth_config, field), def, doc}
#define SRS(name, type, field, def, doc) {S_SRS, name, type, offsetof(domauth_config, field), def, doc}
#define WEB(name, type, field, def, doc) {S_WEB, name, type, offsetof(domauth_config, field), def, doc}

static const key_spec keys[] = {
    DAEMON("milter", T_LISTEN, milter_listen, "inet:127.0.0.1:8895",
           "Milter listener for Postfix (smtpd_milters) or Sendmail (INPUT_MAIL_FILTER):\n"
           "unix:/path or inet:host:port; empty turns it off."),
    DAEMON("policy", T_LISTEN, policy_listen, "inet:127.0.0.1:10045",
           "Postfix policy delegation listener (check_policy_service); empty turns it off."),
    DAEMON("socket_mode", T_MODE, socket_mode, "0660",
           "Permissions of unix sockets (octal, at most 0777)."),
    DAEMON("socket_group", T_STRING, socket_group, "",
           "Group of the milter, policy and socketmap unix sockets, set when they are\n"
           "made (empty: the group domauthd runs as). With socket_mode 0660 and the\n"
           "MTA's user in this group, Postfix can connect (e.g. domauth, postfix in it)."),
    DAEMON("control", T_LISTEN, control_listen, "unix:/run/domauth/domauthd.ctl",
           "The control socket that domauth status and domauth reload talk to\n"
           "(unix:/path only; empty turns it off). Its directory is made if missing.\n"
           "A control socket that cannot be opened is logged; mail flows all the same."),
    DAEMON("metrics", T_HTTPLISTEN, metrics_listen, "",
           "Serve the counters and latency histograms to Prometheus over HTTP on\n"
           "ADDRESS:PORT (an IP address: 127.0.0.1:9895, [::1]:9895; empty: off).\n"
           "GET /metrics only, no authentication: keep it on loopback or a\n"
           "management network (8 connections at once, 10 s idle, 4 KiB requests)."),
    DAEMON("control_mode", T_MODE, control_mode, "0600",
           "Permissions of the control socket: who may read the counters and reload."),
    DAEMON("user", T_STRING, user, "",
           "Run as this user after the listeners are open (empty: stay as started)."),
    DAEMON("group", T_STRING, group, "", "Group to run as (empty: the user's group)."),
    DAEMON("pidfile", T_PATH, pidfile, "",
           "Write the process id here (empty: none); removed at stop. With user, its\n"
           "directory must be writable by that user, who removes it: /run/domauth/\n"
           "(made for user when missing), not /run itself."),
    DAEMON("dns_servers", T_STRING, dns_servers, "",
           "DNS servers, ADDR[:PORT],... (empty: those of /etc/resolv.conf)."),
    DAEMON("dns_timeout_ms", T_COUNT, dns_timeout_ms, "2000", "Time allowed per DNS try."),
    DAEMON("dns_tries", T_COUNT, dns_tries, "2", "Tries per DNS server."),
    DAEMON("spf_deadline_ms", T_COUNT, spf_deadline_ms, "20000",
           "Time allowed for one SPF check; then the result is temperror."),
    DAEMON("cache_entries", T_COUNT, cache_entries, "100000", "DNS cache size, in answers."),
    DAEMON("max_sessions", T_COUNT, max_sessions, "2000",
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
    DAEMON("quarantine_dir", T_PATH, quarantine_dir, "/var/lib/domauth/quarantine",
           "The quarantine spool (quarantine_mode = folder), Maildir-style: each message\n"
           "is written to tmp/, synced and renamed into new/ before the MTA hears the\n"
           "reply, and indexed in the database. Made (0750) when missing."),
    DAEMON("sendmail", T_PATH, sendmail, "/usr/sbin/sendmail",
           "The sendmail(1) that a release from the quarantine through the control\n"
           "socket (domauth-web) runs: PATH -i -f SENDER -- RECIPIENTS."),
    DAEMON("quarantine_days", T_DAYS, quarantine_days, "30",
           "Days a quarantined message is kept (1 to 36500); older ones are removed\n"
           "when a message is added (a few at a time), daily, and by\n"
           "domauth quarantine purge. A younger message is never removed by a purge."),
    DAEMON("event_days", T_DAYS, event_days, "90",
           "Days the event database keeps decisions (1 to 36500): older ones are\n"
           "deleted soon after start and then daily, by the event log's own thread.\n"
           "The JSON lines of event_log are logrotate's (domauthd reopens it on HUP)."),
    DAEMON("quarantine_failure", T_QFAILURE, quarantine_failure_accept, "tempfail",
           "When a message to quarantine cannot be stored (full disk, read-only\n"
           "spool): tempfail (451 4.3.0, the sender tries again) or accept (deliver\n"
           "it). Either way the log names the path and the error."),
    DAEMON("event_log", T_PATH, event_log, "",
           "Also write every decision as a JSON line to this file (empty: no)."),
    DAEMON("database", T_DATABASE, database, "/var/lib/domauth/events.db",
           "The database of decisions, read by `domauth log` (empty: none): an SQLite\n"
           "file on this host, or a PostgreSQL server that many MTA nodes share, as a\n"
           "libpq URI: postgresql://domauth@db.example/domauth (no password in it: see\n"
           "database_password_file)."),
    DAEMON("database_password_file", T_PATH, database_password_file, "",
           "A file whose first line is the PostgreSQL password, readable by domauthd's\n"
           "user (it is read after the drop to user). Empty: libpq's own PGPASSWORD or\n"
           "~/.pgpass."),
    DAEMON("node", T_HOSTNAME, node, "",
           "This node's name in every event, for a database many MTAs share (domauth\n"
           "log --node). Empty: the host name."),
    DAEMON("event_spool", T_PATH, event_spool, "",
           "While the database cannot take events (a server down or too slow, an SQLite\n"
           "file locked), they are kept in this file, one JSON line each, and stored\n"
           "from it in order once it can. Empty: the database's path with .spool added,\n"
           "or /var/lib/domauth/events.spool for a PostgreSQL database."),
    DAEMON("event_spool_size", T_COUNT, event_spool_mb, "64",
           "The most MiB event_spool may hold; the events past it are lost, and counted."),
    DAEMON("syslog", T_BOOL, syslog, "yes", "Log every decision to syslog."),
    DAEMON("syslog_facility", T_FACILITY, syslog_facility, "mail",
           "Syslog facility: mail, daemon, user or local0 to local7."),
    DAEMON("authserv_id", T_HOSTNAME, authserv_id, "",
           "The authserv-id of Authentication-Results (empty: the MTA's host name,\n"
           "milter macro j, else this host's name)."),
    DAEMON("receiver", T_HOSTNAME, receiver, "",
           "This host's name in Received-SPF and %{r} (empty: as authserv_id)."),
    HOSTS("whitelist", T_IPLIST, whitelist,
          "Clients never checked. One entry per line: 192.0.2.7, 192.0.2.10-192.0.2.20,\n"
          "192.0.2.0/255.255.255.0, 192.0.2.0/24 or an IPv6 form, each optionally\n"
          "followed by a space and a comment. May be given many times."),
    HOSTS("whitelist_file", T_FILELIST, whitelist_files,
          "A file of whitelist entries, one a line, # comments. May be given many times."),
    HOSTS("trusted", T_IPLIST, trusted,
          "The site's own relays (same forms). Not checked while skip_trusted is on."),
    HOSTS("trusted_file", T_FILELIST, trusted_files, "A file of trusted relays."),
    HOSTS("local_networks", T_LOCALNETS, local,
          "The networks check_local = no leaves unchecked (same forms). Given once or\n"
          "more, it replaces the built-in list: 127.0.0.0/8 ::1 10.0.0.0/8 172.16.0.0/12\n"
          "192.168.0.0/16 100.64.0.0/10 169.254.0.0/16 fc00::/7 fe80::/10. Behind a NAT\n"
          "or a front filter whose address is private, set it to what is truly local."),
    HOSTS("whitelist_ptr", T_NAMELIST, whitelist_ptr,
          "Clients never checked, by their verified reverse DNS name (the name the MTA\n"
          "confirmed forward and back): names or *.name, separated by blanks or commas.\n"
          "May be given many times."),
    HOSTS("whitelist_helo", T_NAMELIST, whitelist_helo,
          "Clients never checked, by the HELO name they give (same forms). Anybody\n"
          "can say any HELO name: prefer whitelist_ptr or whitelist_from."),
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
    DKIM("key_table", T_DATASET, dkim_key_table, "",
         "OpenDKIM's KeyTable file, read as it is (NAME DOMAIN:SELECTOR:KEYFILE a\n"
         "line): with signing_table, the keys of a site moving from OpenDKIM, beside\n"
         "any key lines. file:/path or /path. Read at start and reload."),
    DKIM("signing_table", T_DATASET, dkim_signing_table, "",
         "OpenDKIM's SigningTable file (PATTERN KEYNAME a line): refile:/path for\n"
         "refile patterns (*@example.com, *@*.example.com, *), else file:/path or /path\n"
         "(example.com, .example.com). Each line becomes a key line; one domauth cannot\n"
         "carry out (a pattern for one user) is an error naming the file and line."),
    DKIM("sign_authenticated", T_BOOL, dkim_sign_authenticated, "yes",
         "Sign mail from SMTP AUTH sessions."),
    DKIM("sign_trusted", T_BOOL, dkim_sign_trusted, "yes",
         "Sign mail from the trusted relays of [hosts]."),
    DKIM("sign_loopback", T_BOOL, dkim_sign_loopback, "yes",
         "Sign mail submitted on this host (127.0.0.1, ::1, or no client address)."),
    DKIM("canonicalization", T_CANON, dkim_canon, "relaxed/relaxed",
         "Header/body canonicalization for signing: simple or relaxed each."),
    DKIM("sign_headers", T_HEADERLIST, dkim_headers, "",
         "Header fields to sign, colon-separated (empty: a standard set, with\n"
         "From, To, Subject and Date over-signed)."),
    DKIM("rsa_sha1", T_SHA1, dkim_sha1_neutral, "fail",
         "How a valid rsa-sha1 signature counts (RFC 8301): fail or neutral."),
    SENDERID("check", T_BOOL, senderid_check, "no",
             "Check Sender ID (RFC 4406) in its pra scope where the header is seen\n"
             "(milter, domauth verify, the XMail filter at post-data): the Purported\n"
             "Responsible Address (RFC 4407) against its domain's spf2.0/pra record, or\n"
             "v=spf1 when it has no spf2.0 record; sender-id= in Authentication-Results.\n"
             "Off by default: the experiment ended (RFC 6686) and DMARC took its place."),
    DMARC("check", T_BOOL, dmarc_check, "no",
          "Check DMARC (RFC 9989) where the header is seen (milter, domauth verify,\n"
          "the XMail filter at post-data), after SPF and DKIM: the From: domain's\n"
          "policy found by the DNS tree walk, SPF (MAIL FROM) and DKIM (d=) aligned\n"
          "with it; dmarc= in Authentication-Results. Off by default: turning it on\n"
          "adds up to eight DNS queries per From: domain and makes verdicts before\n"
          "the end of the message provisional; observe with it on, then act."),
    DMARC("mode", T_DMARCMODE, dmarc_mode, "rfc9989",
          "rfc9989: policy and organizational domains by the DNS tree walk (psd=,\n"
          "np=, t=). rfc7489: by the public suffix list (libpsl), with pct=, for a\n"
          "site that must judge as an older peer (OpenDMARC) does."),
    DMARC("report", T_BOOL, dmarc_report, "no",
          "Send DMARC aggregate reports (RFC 9990) once a day: for the UTC day\n"
          "before, one report per policy domain whose record asks for them (rua=\n"
          "mailto:), from the events in database, to each destination (one outside\n"
          "the domain only when it publishes the authorization record), with\n"
          "report_sendmail. Needs report_org_name and report_email. A report sent is\n"
          "not sent again; a failed one is tried again at the next run. `domauth\n"
          "dmarc report` does the same by hand."),
    DMARC("report_org_name", T_STRING, dmarc_report_org_name, "",
          "The reporting organization's name (report_metadata org_name)."),
    DMARC("report_email", T_MAILBOX, dmarc_report_email, "",
          "The reports' contact address and From: (its domain must pass DMARC with\n"
          "the mail the reports go out with: RFC 9990 section 3.2.2)."),
    DMARC("report_domain", T_HOSTNAME, dmarc_report_domain, "",
          "The reporting domain, in the file names and the Subject's Submitter\n"
          "(empty: the domain of report_email)."),
    DMARC("report_sendmail", T_PATH, dmarc_report_sendmail, "/usr/sbin/sendmail",
          "The sendmail(1) the reports are sent with (-i -f report_email -- to)."),
    DMARC("report_hour", T_HOUR, dmarc_report_hour, "1",
          "The UTC hour (0-23) after which domauthd sends the day before's reports."),
    DMARC("report_attempts", T_ATTEMPTS, dmarc_report_attempts, "5",
          "How many times a report that failed to go out is tried (once per run)."),
    DMARC("honor_policy", T_BOOL, dmarc_honor_policy, "no",
          "Apply the domain's published policy to a DMARC fail: p=reject (or sp=,\n"
          "np=) rejects with fail_reply, p=quarantine quarantines, t=y one step\n"
          "softer (reject as quarantine, quarantine as none); fail_action still\n"
          "applies when it is stronger. no: only this section's actions count\n"
          "(monitor first: see what the domains ask before doing it)."),
    ARC("check", T_BOOL, arc_check, "no",
        "Validate the ARC chain (RFC 8617) of arriving mail where the body is seen\n"
        "(milter, domauth verify, the XMail filter at post-data): arc= in\n"
        "Authentication-Results with the sealers' domains. Off by default."),
    ARC("trusted_sealers", T_NAMELIST, arc_trusted_sealers, "",
        "Forwarders and lists whose ARC seals this site trusts (d= of the\n"
        "ARC-Seal; *.example.org: its subdomains), blank or comma separated. When\n"
        "the chain passes and the newest set sealed by one of them recorded spf,\n"
        "dkim or dmarc pass in its ARC-Authentication-Results, a local SPF or\n"
        "DMARC fail takes no action and no score (the reasons say who vouched);\n"
        "the results in Authentication-Results stay as found."),
    ARC("seal", T_BOOL, arc_seal, "no",
        "Add this host's ARC set (ARC-Authentication-Results, -Message-Signature,\n"
        "-Seal) to each message checked where the body is seen (milter), sealing\n"
        "its own Authentication-Results and the chain's status as validated here:\n"
        "for a host that forwards (aliases, lists). Needs check = yes and\n"
        "seal_domain; the key is seal_domain's in the [dkim] key table."),
    ARC("seal_domain", T_STRING, arc_seal_domain, "",
        "d= of the seals this host makes; [dkim] must have a key line (or key_table\n"
        "entry) for exactly this domain."),
    SRS("socketmap", T_LISTEN, srs_socketmap, "",
        "A Postfix socketmap answering 'forward' and 'reverse' lookups with SRS\n"
        "(unix:/path or inet:host:port; empty turns it off), for main.cf:\n"
        "sender_canonical_maps = socketmap:unix:/path:forward\n"
        "recipient_canonical_maps = socketmap:unix:/path:reverse\n"
        "A unix socket gets socket_mode and the user of [daemon]."),
    SRS("domain", T_HOSTNAME, srs_domain, "",
        "The domain forwarded senders are rewritten under (SRS0=...@domain);\n"
        "needed with socketmap. Its mail must reach this host, for the bounces."),
    SRS("secrets", T_PATH, srs_secrets, "/etc/domauth/srs.secret",
        "One secret a line: the first signs, every line verifies (rotation).\n"
        "Read at start and reload, as the run-as user can; keep it private."),
    SRS("separator", T_STRING, srs_separator, "=", "The character after SRS0/SRS1: =, + or -."),
    SRS("max_age", T_COUNT, srs_max_age, "21",
        "Days (1 to 1023) a forwarded sender stays reversible."),
    SRS("hash_length", T_COUNT, srs_hash_length, "4", "Hash characters written (4 to 27)."),
    SRS("hash_min_length", T_COUNT, srs_hash_min_length, "4",
        "Shortest hash accepted when reversing (4 to 27)."),
    SRS("exclude_domains", T_STRING, srs_exclude_domains, "",
        "Sender domains never rewritten (the site's own), separated by blanks or\n"
        "commas; .example.org stands for every name under example.org."),
    SRS("milter_rewrite", T_BOOL, srs_milter, "no",
        "Rewrite MAIL FROM with SRS in domauthd's milter too, for mail that leaves\n"
        "for off-site recipients (a relay or forwarding host; those of\n"
        "exclude_domains are local and keep the sender: a message only to them is\n"
        "left alone). Needs domain and secrets, and the MTA's SMFIF_CHGFROM."),
    SRS("envelope_domain", T_HOSTNAME, srs_envelope_domain, "",
        "The site's own bounce domain for the envelope rewrite (alignment): the\n"
        "senders of envelope_senders go out as BNC=HASH=TT=domain=user@this, so\n"
        "SPF and DMARC judge a domain of the site's own; its mail must reach this\n"
        "host. Postfix asks the socketmap's 'envelope' map (sender_canonical_maps)."),
    SRS("envelope_senders", T_STRING, srs_envelope_senders, "",
        "The site's sender domains rewritten under envelope_domain (blanks or\n"
        "commas; .example.org: every name under example.org)."),
    SRS("envelope_bounces", T_STRING, srs_envelope_bounces, "forward",
        "What the 'reverse' map does with a bounce to a BNC address: forward (to\n"
        "the original sender) or keep (it stays in envelope_domain's mailbox)."),
    SRS("envelope_rewrite", T_ENVRULE, srs_envelope_rules, "",
        "Per sending domain, beating the two keys above: DOMAIN BOUNCE-DOMAIN\n"
        "[forward|keep], e.g. envelope_rewrite = shop.example bounce.shop.example keep.\n"
        "May be given many times."),
    SRS("socketmap_max_sessions", T_SESSIONS, srs_max_sessions, "100",
        "Socketmap connections served at once (1 to 1000000), within max_sessions."),
    SRS("socketmap_idle_timeout", T_SECONDS, srs_idle_timeout, "60",
        "Seconds (1 to 86400) a socketmap connection may go without a request;\n"
        "above Postfix's own idle time for it (10 s), so that Postfix closes first."),
    POLICY("monitor", T_BOOL, monitor, "yes",
           "Observe only: every message goes through with its headers, and the log\n"
           "says what enforcement would have done. Turn off to enforce."),
    POLICY("identity", T_IDENTITY, identity, "mailfrom",
           "What to check: mailfrom (MAIL FROM, or HELO when it is empty) or header_from\n"
           "(the From: header after DATA; a missing or unusable one is invalid_from_*)."),
    POLICY("check_helo", T_BOOL, check_helo, "no",
           "Check the HELO name first; a HELO fail is treated as a MAIL FROM fail."),
    POLICY("skip_authenticated", T_BOOL, skip_authenticated, "yes",
           "Do not check sessions that used SMTP AUTH."),
    POLICY("check_local", T_BOOL, check_local, "no",
           "Check the clients of [hosts] local_networks (loopback, private, shared and\n"
           "link-local networks by default) too."),
    POLICY("skip_trusted", T_BOOL, skip_trusted, "yes", "Do not check the trusted relays."),
    POLICY("whitelist_from", T_NAMELIST, whitelist_from, "",
           "Sender domains never acted on once authenticated: an SPF pass for the MAIL\n"
           "FROM (or HELO) domain, or a valid DKIM signature with that d= (names or\n"
           "*.name). A forger cannot claim them: unauthenticated mail from them is\n"
           "judged as any other. A DKIM pass is known at the end of DATA only, so a\n"
           "reject that it could lift waits for the end of DATA."),
    POLICY("trusted", T_IPLIST, relays, "",
           "In a [domain NAME] section only: that domain's own servers (addresses as in\n"
           "[hosts] whitelist), not checked for mail to it. May be given many times."),
    POLICY("reply_stage", T_STAGE, stage, "rcpt",
           "When a defer or reject is answered: mail, rcpt or data (end of DATA).\n"
           "header_from checks always answer at the end of DATA."),
    POLICY("received_spf", T_BOOL, received_spf, "yes", "Add a Received-SPF header."),
    POLICY("received_spf_skip_none", T_BOOL, received_spf_skip_none, "yes",
           "Leave Received-SPF out when the SPF result is none (no record published);\n"
           "Authentication-Results still records spf=none."),
    POLICY("authentication_results", T_BOOL, authentication_results, "yes",
           "Add an Authentication-Results header."),
    POLICY("remove_forged_authres", T_BOOL, remove_forged_authres, "yes",
           "Remove Authentication-Results headers that claim our authserv-id."),
    POLICY("score_header", T_HEADER, score_header, "X-Domauth-Score",
           "Header that carries the message's score (empty: none)."),
    POLICY("defer_threshold", T_SCORE, defer_threshold, "0",
           "Defer when the score reaches this (0: never)."),
    POLICY("reject_threshold", T_SCORE, reject_threshold, "0",
           "Reject when the score reaches this (0: never)."),
    POLICY("quarantine_threshold", T_SCORE, quarantine_threshold, "0",
           "Quarantine when the score reaches this (0: never); reject and defer\n"
           "thresholds, when also reached, come first."),
    POLICY("quarantine_mode", T_QMODE, quarantine_mode, "folder",
           "Where a quarantined message goes: folder (quarantine_dir, listed by\n"
           "domauth quarantine) or hold (the MTA's hold queue: milter QUARANTINE,\n"
           "Postfix HOLD; release with postsuper -H). The policy listener sees no\n"
           "message and always answers HOLD."),
    POLICY("quarantine_reply", T_QREPLY, quarantine_reply, "accept",
           "What the sender is told when a message goes to the folder: accept (it is\n"
           "stored, then discarded: the sender sees success) or reply (the deciding\n"
           "result's <result>_reply, or quarantine_threshold_reply, is sent while\n"
           "the copy is kept)."),
    POLICY("redirect_to", T_STRING, redirect_to, "",
           "The local mailbox a message goes to instead of its recipients when an action\n"
           "says redirect (spam@example.org): with the milter, the recipients are\n"
           "replaced and kept in X-Domauth-Original-Recipients and in the event; with\n"
           "policy delegation, Postfix's REDIRECT. Needed by a redirect action."),
    POLICY("quarantine_threshold_reply", T_REPLY, quarantine_threshold_reply,
           "550 5.7.1 Message scored too high",
           "Reply for a score quarantine with quarantine_reply = reply."),
    POLICY("defer_threshold_reply", T_REPLY, defer_threshold_reply,
           "451 4.7.1 Message scored too high; try again later", "Reply for a score defer."),
    POLICY("reject_threshold_reply", T_REPLY, reject_threshold_reply,
           "550 5.7.1 Message scored too high", "Reply for a score reject."),
    /* [web]: domauth-web, the administrator's console (its own process). */
    WEB("listen", T_HTTPLISTEN, web_listen, "127.0.0.1:8896",
        "Where domauth-web serves the console: ADDRESS:PORT ([IPV6]:PORT). Keep it on\n"
        "loopback or a management network; with cert and key it speaks HTTPS."),
    WEB("cert", T_PATH, web_cert, "",
        "TLS certificate chain (PEM) for the console; with key, HTTPS only (empty: HTTP)."),
    WEB("key", T_PATH, web_key, "", "The certificate's private key (PEM), read before the user change."),
    WEB("users", T_PATH, web_users, "/etc/domauth/web-users",
        "The console's users: NAME:ROLE:ARGON2ID-HASH a line, ROLE admin or read, as\n"
        "domauth-web passwd writes them."),
    WEB("user", T_STRING, web_user, "",
        "Run domauth-web as this user once its socket is open (empty: stay as started).\n"
        "Give it read access to the database and the quarantine, and the control socket."),
    WEB("group", T_STRING, web_group, "", "Group to run domauth-web as (empty: the user's group)."),
    WEB("session_minutes", T_COUNT, web_session_minutes, "480",
        "Minutes a login lasts without use; then the console asks for the password again."),
    WEB("max_connections", T_SESSIONS, web_max_connections, "64",
        "Connections domauth-web serves at once (1 to 1000000)."),
};

/* Per-result keys: "<result>_<suffix>" in [policy] and [domain] sections. */
typedef struct result_key {
    const char *suffix;
    value_type type;
    size_t offset;
    const char *doc;
} result_key;

static const result_key result_keys[] = {
    {"action", T_ACTION, offsetof(result_policy, action),
     "accept, redirect, quarantine, defer or reject"},
    {"reply", T_REPLY, offsetof(result_policy, reply),
     "\"CODE [X.Y.Z] text\"; %{explanation} %{result} %{domain} %{ip} %{sender}"},
    {"tag_subject", T_BOOL, offsetof(result_policy, tag_subject), "prefix the Subject"},
    {"tag", T_TAG, offsetof(result_policy, tag), "the prefix"},
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

/* Indexed by da_dkim_result. RFC 7372 names 5.7.20 (no valid signature). */
static const result_defaults dkim_result_default[DKIM_RESULT_COUNT] = {
    [DA_DKIM_NONE] = {"accept", "550 5.7.20 No DKIM signature", "no", "", "0"},
    [DA_DKIM_PASS] = {"accept", "550 5.7.1 Refused", "no", "", "0"},
    [DA_DKIM_FAIL] = {"accept", "550 5.7.20 DKIM signature of %{domain} does not verify", "no",
                      "", "0"},
    [DA_DKIM_NEUTRAL] = {"accept", "550 5.7.20 DKIM signature of %{domain} is not acceptable",
                         "no", "", "0"},
    [DA_DKIM_POLICY] = {"accept", "550 5.7.20 DKIM signature of %{domain} is refused by policy",
                        "no", "", "0"},
    [DA_DKIM_TEMPERROR] = {"accept",
                           "451 4.7.5 DKIM key of %{domain} could not be fetched; try again later",
                           "no", "", "0"},
    [DA_DKIM_PERMERROR] = {"accept", "550 5.7.20 DKIM signature of %{domain} is broken", "no", "",
                           "0"},
};
static const result_defaults invalid_from_default = {
    "accept", "550 5.7.1 The From: header field must hold exactly one valid address", "no",
    "", "0"};

static const char *spf_name(int result)
{
    return da_spf_result_name((da_spf_result)result);
}

static const char *dkim_name(int result)
{
    return da_dkim_result_name((da_dkim_result)result);
}

/* Indexed by da_spf_result, as Sender ID's words are SPF's. Observe first:
 * every result accepts; a fail is 5.7.1 as RFC 4406 section 8 has it. */
static const result_defaults senderid_result_default[SENDERID_RESULT_COUNT] = {
    [DA_SPF_NONE] = {"accept", "550 5.7.1 No Sender ID record for %{domain}", "no", "", "0"},
    [DA_SPF_NEUTRAL] = {"accept", "550 5.7.1 Sender ID neutral for %{domain}", "no", "", "0"},
    [DA_SPF_PASS] = {"accept", "550 5.7.1 Refused", "no", "", "0"},
    [DA_SPF_FAIL] = {"accept", "550 5.7.1 Sender-Id check failed for %{domain}", "no", "", "0"},
    [DA_SPF_SOFTFAIL] = {"accept", "451 4.7.1 Sender ID softfail for %{domain}; try again later",
                         "no", "", "0"},
    [DA_SPF_TEMPERROR] = {"accept", "451 4.7.1 Sender ID check of %{domain} failed temporarily",
                          "no", "", "0"},
    [DA_SPF_PERMERROR] = {"accept", "550 5.7.1 Sender ID check of %{domain} is broken", "no", "",
                          "0"},
};

/* A method's table of results: its section ([spf]), the prefix of its keys
 * elsewhere (spf_fail_action), the results' names as the engine spells
 * them, their defaults and where the table is in policy_settings. */
typedef struct result_method {
    const char *section;
    int count;
    const char *(*name)(int result);
    const result_defaults *defaults;
    size_t table;
} result_method;

static const result_method spf_method = {"spf", SPF_RESULT_COUNT, spf_name, result_default,
                                         offsetof(policy_settings, results)};
static const result_method dkim_method = {"dkim", DKIM_RESULT_COUNT, dkim_name,
                                          dkim_result_default,
                                          offsetof(policy_settings, dkim_results)};
static const result_method senderid_method = {"senderid", SENDERID_RESULT_COUNT, spf_name,
                                              senderid_result_default,
                                              offsetof(policy_settings, senderid_results)};
static const char *dmarc_name(int result)
{
    return da_dmarc_result_name((da_dmarc_result)result);
}

/* Indexed by da_dmarc_result. Observe first: every result accepts; the
 * domain's own policy comes in with honor_policy = yes. */
static const result_defaults dmarc_result_default[DMARC_RESULT_COUNT] = {
    [DA_DMARC_NONE] = {"accept", "550 5.7.1 No DMARC policy for %{domain}", "no", "", "0"},
    [DA_DMARC_PASS] = {"accept", "550 5.7.1 Refused", "no", "", "0"},
    [DA_DMARC_FAIL] = {"accept", "550 5.7.1 Rejected by the DMARC policy of %{domain}", "no", "",
                       "0"},
    [DA_DMARC_TEMPERROR] = {"accept",
                            "451 4.7.1 DMARC check of %{domain} failed temporarily; try again later",
                            "no", "", "0"},
    [DA_DMARC_PERMERROR] = {"accept", "550 5.7.1 DMARC check failed: %{explanation}", "no", "",
                            "0"},
};
static const result_method dmarc_method = {"dmarc", DMARC_RESULT_COUNT, dmarc_name,
                                           dmarc_result_default,
                                           offsetof(policy_settings, dmarc_results)};
static const result_method *const methods[] = {&spf_method, &dkim_method, &senderid_method,
                                               &dmarc_method};

static result_policy *method_table(const result_method *m, policy_settings *ps)
{
    return (result_policy *)(void *)((char *)ps + m->table);
}

static const result_key *find_suffix(const char *suffix)
{
    for (size_t k = 0; k < sizeof result_keys / sizeof result_keys[0]; k++)
        if (strcmp(suffix, result_keys[k].suffix) == 0)
            return &result_keys[k];
    return NULL;
}

/* The one reading of "<result>_<suffix>" for a method: the result's index
 * and the key, or false when name is not one of its keys. */
static bool find_result_key(const result_method *m, const char *name, int *result,
                            const result_key **key)
{
    for (int r = 0; r < m->count; r++) {
        size_t n = strlen(m->name(r));
        if (strncmp(name, m->name(r), n) == 0 && name[n] == '_') {
            *result = r;
            *key = find_suffix(name + n + 1);
            return *key != NULL;
        }
    }
    return false;
}

bool policy_settings_can_quarantine(const policy_settings *ps)
{
    if (ps->quarantine_threshold > 0)
        return true;
    for (int r = 0; r < SPF_RESULT_COUNT; r++)
        if (ps->results[r].action == ACTION_QUARANTINE)
            return true;
    for (int r = 0; r < DKIM_RESULT_COUNT; r++)
        if (ps->dkim_results[r].action == ACTION_QUARANTINE)
            return true;
    for (int r = 0; r < SENDERID_RESULT_COUNT; r++)
        if (ps->senderid_results[r].action == ACTION_QUARANTINE)
            return true;
    /* A domain's p=quarantine, honoured, quarantines too. */
    for (int r = 0; r < DMARC_RESULT_COUNT; r++)
        if (ps->dmarc_results[r].action == ACTION_QUARANTINE || ps->dmarc_results[r].honor_request)
            return true;
    return ps->invalid_from.action == ACTION_QUARANTINE;
}

const char *policy_action_name(policy_action action)
{
    switch (action) {
    case ACTION_ACCEPT: return "accept";
    case ACTION_DEFER: return "defer";
    case ACTION_REJECT: return "reject";
    case ACTION_QUARANTINE: return "quarantine";
    case ACTION_REDIRECT: return "redirect";
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
    snprintf(why, why_size, "expected yes or no, not '%.200s'", v);
    return -1;
}

/* Whether a libpq URI holds a password: user:password@ in its authority,
 * or a password= parameter. */
static bool uri_has_password(const char *uri)
{
    const char *authority = strstr(uri, "://") + 3;
    size_t n = strcspn(authority, "/?");
    const char *at = memchr(authority, '@', n);
    if (at != NULL && memchr(authority, ':', (size_t)(at - authority)) != NULL)
        return true;
    return strstr(uri, "password=") != NULL;
}

enum { UINT_LIMIT = 100000000 };

/* Digits only (strtoul alone would take a sign, blanks and overflow). The
 * message names the range, with unit (" seconds") when there is one. */
static int parse_uint_range(const char *v, unsigned min, unsigned max, const char *unit,
                            unsigned *out, char *why, size_t why_size)
{
    unsigned long n = 0;
    size_t digits = strspn(v, "0123456789");
    bool ok = digits > 0 && v[digits] == '\0' && digits <= 10;
    if (ok)
        n = strtoul(v, NULL, 10);
    if (!ok || n < min || n > max) {
        if (unit != NULL)
            snprintf(why, why_size, "expected %u to %u%s, not '%.200s'", min, max, unit, v);
        else
            snprintf(why, why_size, "expected a whole number from %u to %u, not '%.200s'", min,
                     max, v);
        return -1;
    }
    *out = (unsigned)n;
    return 0;
}

static int parse_mode(const char *v, unsigned *out, char *why, size_t why_size)
{
    size_t digits = strspn(v, "01234567");
    unsigned long n = digits > 0 && digits <= 11 && v[digits] == '\0' ? strtoul(v, NULL, 8) : 0;
    if (digits == 0 || v[digits] != '\0' || digits > 11 || n > 0777) {
        snprintf(why, why_size, "expected an octal mode such as 0660, at most 0777, not '%.200s'", v);
        return -1;
    }
    *out = (unsigned)n;
    return 0;
}

static int parse_score(const char *v, double *out, char *why, size_t why_size)
{
    char *end;
    double d = strtod(v, &end);
    /* Decimal only: strtod would also take hexadecimal, inf and nan. */
    if (*v == '\0' || v[strspn(v, "0123456789.+-eE")] != '\0' || strpbrk(v, "0123456789") == NULL ||
        *end != '\0' || d != d || d > 1e6 || d < -1e6) {
        snprintf(why, why_size, "expected a number such as 5.0 or -1.5, not '%.200s'", v);
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
        snprintf(why + used, why_size - (size_t)used, "; not '%.200s'", v);
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
        if (colon != NULL && colon > v + 5 &&
            parse_uint_range(colon + 1, 1, 65535, NULL, &port, why, why_size) == 0)
            return 0;
    }
    snprintf(why, why_size, "expected unix:/path or inet:host:port, not '%.200s'", v);
    return -1;
}

/* metrics: "ADDRESS:PORT" or "[IPV6]:PORT" (inet: in front is taken too),
 * as "inet:ADDRESS:PORT" in *out, which listen.c opens. */
static int set_http_listen(char **slot, const char *v, char *why, size_t why_size)
{
    if (*v == '\0')
        return set_string(slot, v, why, why_size);
    const char *hp = strncmp(v, "inet:", 5) == 0 ? v + 5 : v;
    const char *colon = strrchr(hp, ':');
    unsigned port;
    ip_addr ip;
    char host[64];
    size_t hl = colon ? (size_t)(colon - hp) : 0;
    const char *h = hp;
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    } else if (hl > 0 && memchr(h, ':', hl) != NULL) {
        snprintf(why, why_size, "an IPv6 address goes in brackets: [%.*s]:PORT", (int)hl, h);
        return -1;
    }
    if (colon == NULL || hl == 0 || hl >= sizeof host) {
        snprintf(why, why_size, "expected ADDRESS:PORT or [IPV6]:PORT, not '%.200s'", v);
        return -1;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    if (!ip_parse(host, hl, &ip)) {
        snprintf(why, why_size, "'%s' is not an IP address (a name is not resolved here)",
                 host);
        return -1;
    }
    if (parse_uint_range(colon + 1, 1, 65535, NULL, &port, why, why_size) != 0)
        return -1;
    char norm[100];
    snprintf(norm, sizeof norm, "inet:%s%s%s:%u", ip.family == 6 ? "[" : "", host,
             ip.family == 6 ? "]" : "", port);
    return set_string(slot, norm, why, why_size);
}

int config_check_reply(const char *reply, char cls, char *err, size_t err_size)
{
    size_t len = strlen(reply);
    if (len > 510) {
        snprintf(err, err_size, "a reply line is at most 510 characters (RFC 5321), not %zu",
                 len);
        return -1;
    }
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
    /* A mistyped macro would reach the client as it is. */
    static const char *const macros[] = {"%{explanation}", "%{result}", "%{domain}", "%{ip}",
                                         "%{sender}"};
    for (const char *q = strstr(reply, "%{"); q != NULL; q = strstr(q + 2, "%{")) {
        bool known = false;
        for (size_t i = 0; i < sizeof macros / sizeof macros[0] && !known; i++)
            known = strncmp(q, macros[i], strlen(macros[i])) == 0;
        if (!known) {
            size_t n = strcspn(q, "}");
            snprintf(err, err_size,
                     "unknown macro '%.*s'; expected %%{explanation}, %%{result}, %%{domain}, "
                     "%%{ip} or %%{sender}",
                     (int)(q[n] ? n + 1 : n > 40 ? 40 : n), q);
            return -1;
        }
    }
    return 0;
}

/* A host or domain name: labels of letters, digits, '-' and '_' (and UTF-8
 * bytes), 1 to 63 characters each, 253 in all, no empty label. */
static bool is_domain_name(const char *d)
{
    size_t len = strlen(d), label = 0;
    if (len == 0 || len > 253)
        return false;
    for (const char *p = d; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '.') {
            if (label == 0)
                return false;
            label = 0;
            continue;
        }
        if (!isalnum(c) && c != '-' && c != '_' && c < 0x80)
            return false;
        if (++label > 63)
            return false;
    }
    return label > 0;
}

static bool is_field_name(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e || s[i] == ':' || s[i] == ';')
            return false;
    return true;
}

/* "From : To:subject" -> "From:To:subject", or an error. The signer refuses
 * blanks in the list and skips names past 128 characters, so they are
 * refused here, where a mistake still names its line. */
static int normalize_header_list(const char *v, char **out, char *why, size_t why_size)
{
    char *copy = malloc(strlen(v) + 1);
    if (copy == NULL) {
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    size_t used = 0, count = 0;
    const char *p = v;
    while (*v != '\0') {
        while (*p == ' ' || *p == '\t')
            p++;
        size_t n = strcspn(p, ":"), len = n;
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        const char *problem = NULL;
        if (len == 0)
            problem = "an empty name in the list (two colons, or one at an end)";
        else if (!is_field_name(p, len) || len > 128)
            problem = "not a header field name (at most 128 printable characters, no ';')";
        else if (++count > 128)
            problem = "more than 128 names";
        if (problem != NULL) {
            snprintf(why, why_size, "'%.*s': %s", (int)(len > 60 ? 60 : len), p, problem);
            free(copy);
            return -1;
        }
        if (used > 0)
            copy[used++] = ':';
        memcpy(copy + used, p, len);
        used += len;
        if (p[n] == '\0')
            break;
        p += n + 1;
    }
    copy[used] = '\0';
    free(*out);
    *out = copy;
    return 0;
}

/* "DOMAIN SELECTOR KEYFILE" into the key table. */
static int add_dkim_key(domauth_config *cfg, const char *value, char *why, size_t why_size)
{
    char domain[256], selector[128], path[1024];
    char *const fields[] = {domain, selector, path};
    static const size_t sizes[] = {sizeof domain, sizeof selector, sizeof path};
    static const char *const what[] = {"domain", "selector", "key file"};
    /* Split by hand at the blanks sscanf's %s stops at: %255s would cut a
     * longer field in two and report the wrong number of fields. */
    static const char blanks[] = " \t\n\v\f\r";
    const char *f = value + strspn(value, blanks);
    size_t count = 0;
    for (; *f != '\0'; f += strspn(f, blanks), count++) {
        size_t n = strcspn(f, blanks);
        if (count < 3 && n >= sizes[count]) {
            snprintf(why, why_size, "the %s '%.60s...' is longer than %zu characters",
                     what[count], f, sizes[count] - 1);
            return -1;
        }
        if (count < 3)
            snprintf(fields[count], sizes[count], "%.*s", (int)n, f);
        f += n;
    }
    if (count != 3) {
        snprintf(why, why_size, "expected DOMAIN SELECTOR KEYFILE, not '%.100s'", value);
        return -1;
    }
    for (char *p = selector; *p; p++) {
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.' && *p != '_') {
            snprintf(why, why_size, "selector '%s' is not a DNS label sequence", selector);
            return -1;
        }
    }
    if (strcmp(domain, "*") != 0 && !is_domain_name(domain)) {
        snprintf(why, why_size, "'%s' is not a domain name (or * for any)", domain);
        return -1;
    }
    if (!is_domain_name(selector) ||
        (strcmp(domain, "*") != 0 && strlen(domain) + strlen(selector) + 12 > 253)) {
        snprintf(why, why_size, "selector '%s' is not valid or %s._domainkey.%s is too long",
                 selector, selector, domain);
        return -1;
    }
    if (path[0] != '/') {
        snprintf(why, why_size, "the key file must be an absolute path, not '%.200s'", path);
        return -1;
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
    k->file = NULL;
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

/* envelope_rewrite = DOMAIN BOUNCE-DOMAIN [forward|keep] */
static int add_envelope_rule(domauth_config *cfg, const char *value, char *why, size_t why_size)
{
    char domain[300] = "", bounce[300] = "", mode[16] = "forward", extra[2] = "";
    int n = sscanf(value, "%299s %299s %15s %1s", domain, bounce, mode, extra);
    if (n < 2 || n > 3) {
        snprintf(why, why_size, "expected DOMAIN BOUNCE-DOMAIN [forward|keep], not '%.200s'",
                 value);
        return -1;
    }
    if (!is_domain_name(domain[0] == '.' ? domain + 1 : domain) || !is_domain_name(bounce)) {
        snprintf(why, why_size, "'%.100s' and '%.100s' must be domain names (.domain for the "
                                "names under one)",
                 domain, bounce);
        return -1;
    }
    if (strcmp(mode, "forward") != 0 && strcmp(mode, "keep") != 0) {
        snprintf(why, why_size, "'%.20s': expected forward or keep", mode);
        return -1;
    }
    envelope_rule *rules =
        realloc(cfg->srs_envelope_rules, (cfg->srs_envelope_rule_count + 1) * sizeof *rules);
    if (rules == NULL) {
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    cfg->srs_envelope_rules = rules;
    envelope_rule *r = &rules[cfg->srs_envelope_rule_count];
    memset(r, 0, sizeof *r);
    r->domain = strdup(domain);
    r->bounce_domain = strdup(bounce);
    r->forward = strcmp(mode, "forward") == 0;
    if (r->domain == NULL || r->bounce_domain == NULL) {
        free(r->domain);
        free(r->bounce_domain);
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    for (char *c = r->domain; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    cfg->srs_envelope_rule_count++;
    return 0;
}

/* One local_networks entry: the first of the file replaces the built-in
 * list; the text (without the comment) is kept for the start-up line. */
static int set_local_network(domauth_config *cfg, const char *value, char *why,
                             size_t why_size)
{
    size_t len = strcspn(value, " \t");
    if (len == 0)
        return 0;
    ip_set fresh;
    ip_set_init(&fresh);
    ip_set *set = cfg->local_networks_default ? &fresh : &cfg->local;
    if (ip_set_add_entry(set, value, strlen(value), why, why_size) != 0) {
        ip_set_free(&fresh);
        return -1;
    }
    size_t old = cfg->local_networks_default || cfg->local_networks == NULL
                     ? 0
                     : strlen(cfg->local_networks);
    char *text = realloc(cfg->local_networks_default ? NULL : cfg->local_networks,
                         old + len + 2);
    if (text == NULL) {
        ip_set_free(&fresh);
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    if (cfg->local_networks_default) {
        free(cfg->local_networks);
        ip_set_free(&cfg->local);
        cfg->local = fresh;
        cfg->local_networks_default = false;
    }
    if (old > 0)
        text[old++] = ' ';
    memcpy(text + old, value, len);
    text[old + len] = '\0';
    cfg->local_networks = text;
    return 0;
}

/* Sets one typed value at base+offset. */
static int set_value(domauth_config *cfg, void *base, value_type type, size_t offset,
                     const char *value, char *why, size_t why_size)
{
    void *slot = (char *)base + offset;
    /* In the order of policy_action. */
    static const char *const actions[] = {"accept", "defer", "reject", "quarantine", "redirect"};
    static const char *const identities[] = {"mailfrom", "header_from"};
    static const char *const stages[] = {"mail", "rcpt", "data"};
    int choice;
    switch (type) {
    case T_BOOL:
        return parse_bool(value, slot, why, why_size);
    case T_COUNT:
        return parse_uint_range(value, 1, UINT_LIMIT, NULL, slot, why, why_size);
    case T_MODE:
        return parse_mode(value, slot, why, why_size);
    case T_SESSIONS:
        return parse_uint_range(value, 1, MAX_SESSION_LIMIT, " sessions", slot, why, why_size);
    case T_SECONDS:
        return parse_uint_range(value, 1, MAX_TIMEOUT_SECONDS, " seconds", slot, why, why_size);
    case T_DAYS:
        return parse_uint_range(value, 1, MAX_RETENTION_DAYS, " days", slot, why, why_size);
    case T_HOUR:
        return parse_uint_range(value, 0, 23, " (an hour of the day, UTC)", slot, why, why_size);
    case T_ATTEMPTS:
        return parse_uint_range(value, 1, MAX_ATTEMPTS, " attempts", slot, why, why_size);
    case T_MAILBOX: {
        const char *at = strrchr(value, '@');
        bool ok = *value == '\0' || (at != NULL && at != value && strchr(value, '@') == at &&
                                     is_domain_name(at + 1));
        for (const unsigned char *c = (const unsigned char *)value; ok && *c; c++)
            ok = *c > 0x20 && *c < 0x7f && strchr("<>,;:\"()[]\\", *c) == NULL;
        if (!ok) {
            snprintf(why, why_size, "expected an address such as dmarc@example.org, not '%.200s'",
                     value);
            return -1;
        }
        return set_string(slot, value, why, why_size);
    }
    case T_DMARCMODE: {
        static const char *const modes[] = {"rfc9989", "rfc7489"};
        if (parse_choice(value, modes, 2, &choice, why, why_size) != 0)
            return -1;
        *(int *)slot = choice;
        return 0;
    }
    case T_QMODE: {
        static const char *const modes[] = {"folder", "hold"};
        if (parse_choice(value, modes, 2, &choice, why, why_size) != 0)
            return -1;
        *(quarantine_mode *)slot = (quarantine_mode)choice;
        return 0;
    }
    case T_QREPLY:
    case T_QFAILURE: {
        static const char *const replies[] = {"accept", "reply"};
        static const char *const failures[] = {"tempfail", "accept"};
        if (parse_choice(value, type == T_QREPLY ? replies : failures, 2, &choice, why,
                         why_size) != 0)
            return -1;
        *(bool *)slot = choice == 1;
        return 0;
    }
    case T_SCORE:
        return parse_score(value, slot, why, why_size);
    case T_STRING:
        return set_string(slot, value, why, why_size);
    case T_TAG:
        if (strlen(value) > CONFIG_TAG_MAX) {
            snprintf(why, why_size, "a tag is at most %d bytes, not %zu", CONFIG_TAG_MAX,
                     strlen(value));
            return -1;
        }
        return set_string(slot, value, why, why_size);
    case T_LISTEN:
        if (check_listen(value, why, why_size) != 0)
            return -1;
        return set_string(slot, value, why, why_size);
    case T_HTTPLISTEN:
        return set_http_listen(slot, value, why, why_size);
    case T_REPLY:
        if (config_check_reply(value, 0, why, why_size) != 0)
            return -1;
        return set_string(slot, value, why, why_size);
    case T_ACTION:
        if (parse_choice(value, actions, 5, &choice, why, why_size) != 0)
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
    case T_NAMELIST:
        return name_list_add(slot, value, why, why_size);
    case T_LOCALNETS:
        return set_local_network(cfg, value, why, why_size);
    case T_CANON: {
        static const char *const canons[] = {"simple/simple", "simple/relaxed",
                                             "relaxed/simple", "relaxed/relaxed",
                                             "simple", "relaxed"};
        if (parse_choice(value, canons, 6, &choice, why, why_size) != 0)
            return -1;
        /* Stored as listed: the signer compares in lower case. */
        return set_string(slot, canons[choice], why, why_size);
    }
    case T_FACILITY: {
        /* The names domauthd and its event log map (syslog.h). */
        static const char *const facilities[] = {"mail",   "daemon", "user",   "local0",
                                                 "local1", "local2", "local3", "local4",
                                                 "local5", "local6", "local7"};
        if (parse_choice(value, facilities, sizeof facilities / sizeof facilities[0], &choice,
                         why, why_size) != 0)
            return -1;
        return set_string(slot, facilities[choice], why, why_size);
    }
    case T_DATASET: {
        const char *path;
        opendkim_dataset kind = opendkim_dataset_of(value, &path);
        if (*value != '\0' &&
            ((kind != OPENDKIM_DS_FILE && kind != OPENDKIM_DS_REFILE) || path[0] != '/')) {
            snprintf(why, why_size,
                     "expected file:/path, refile:/path or /path (an absolute path), not "
                     "'%.200s'",
                     value);
            return -1;
        }
        return set_string(slot, value, why, why_size);
    }
    case T_DATABASE:
        if (strncmp(value, "postgresql://", 13) == 0 || strncmp(value, "postgres://", 11) == 0) {
            /* The password goes in database_password_file: this line is
             * shown by -t and readable by every user of domauth log. */
            if (uri_has_password(value)) {
                snprintf(why, why_size,
                         "a password in the database URI; put it in database_password_file");
                return -1;
            }
            return set_string(slot, value, why, why_size);
        }
        /* fall through */
    case T_PATH:
        /* domauthd -d runs in /, and a reload reads the file again there. */
        if (*value != '\0' && *value != '/') {
            snprintf(why, why_size, "expected an absolute path (or nothing), not '%.200s'", value);
            return -1;
        }
        return set_string(slot, value, why, why_size);
    case T_HOSTNAME:
        if (*value != '\0' && !is_domain_name(value)) {
            snprintf(why, why_size, "expected a host name such as mx.example.org, not '%.200s'",
                     value);
            return -1;
        }
        return set_string(slot, value, why, why_size);
    case T_HEADER:
        if (*value != '\0' && (!is_field_name(value, strlen(value)) || strlen(value) > 128)) {
            snprintf(why, why_size,
                     "expected a header field name such as X-Domauth-Score, not '%.200s'", value);
            return -1;
        }
        return set_string(slot, value, why, why_size);
    case T_HEADERLIST:
        return normalize_header_list(value, slot, why, why_size);
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
    case T_ENVRULE:
        if (*value == '\0')
            return 0;
        return add_envelope_rule(cfg, value, why, why_size);
    case T_FILELIST: {
        if (*value != '/') {
            snprintf(why, why_size, "expected an absolute path, not '%.200s'", value);
            return -1;
        }
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

/* A per-result key "<result>_<suffix>" of one method's table. -2 when name
 * is not one. */
static int set_table_key(domauth_config *cfg, const result_method *m, policy_settings *ps,
                         const char *name, const char *value, char *why, size_t why_size)
{
    int r;
    const result_key *key;
    if (!find_result_key(m, name, &r, &key))
        return -2;
    return set_value(cfg, &method_table(m, ps)[r], key->type, key->offset, value, why, why_size);
}

/* Sets a [policy] or [domain NAME] key on settings: the shared [policy]
 * keys, invalid_from_*, and the methods' per-result keys by their full
 * names (spf_fail_action, dkim_fail_score). Returns 0, -1 for a bad value,
 * -2 for an unknown key, 1 when set through an old name (*new_name then
 * says the current one: "[spf] fail_action" or "spf_fail_action"). */
static int set_policy_key(domauth_config *cfg, policy_settings *ps, const char *name,
                          const char *value, char *why, size_t why_size, bool in_domain,
                          char *new_name, size_t new_name_size)
{
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (keys[i].section == S_POLICY && strcmp(keys[i].name, name) == 0)
            return set_value(cfg, ps, keys[i].type, keys[i].offset, value, why, why_size);
    if (strncmp(name, "invalid_from_", 13) == 0) {
        const result_key *key = find_suffix(name + 13);
        return key == NULL ? -2
                           : set_value(cfg, &ps->invalid_from, key->type, key->offset, value,
                                       why, why_size);
    }
    if (strncmp(name, "dkim_", 5) == 0) {
        int rc = set_table_key(cfg, &dkim_method, ps, name + 5, value, why, why_size);
        /* dkim_*_score was a [policy] key before [dkim] had results. */
        if (rc == 0 && !in_domain) {
            snprintf(new_name, new_name_size, "[dkim] %s", name + 5);
            return 1;
        }
        return rc;
    }
    if (strncmp(name, "spf_", 4) == 0)
        return set_table_key(cfg, &spf_method, ps, name + 4, value, why, why_size);
    if (strncmp(name, "senderid_", 9) == 0)
        return set_table_key(cfg, &senderid_method, ps, name + 9, value, why, why_size);
    if (strncmp(name, "dmarc_", 6) == 0)
        return set_table_key(cfg, &dmarc_method, ps, name + 6, value, why, why_size);
    /* The names of before [spf]: fail_action and the like. */
    int rc = set_table_key(cfg, &spf_method, ps, name, value, why, why_size);
    if (rc == 0) {
        snprintf(new_name, new_name_size, in_domain ? "spf_%s" : "[spf] %s", name);
        return 1;
    }
    return rc;
}

static int add_warning(domauth_config *cfg, const char *text)
{
    char **n = realloc(cfg->warnings, (cfg->warning_count + 1) * sizeof *n);
    if (n == NULL)
        return -1;
    cfg->warnings = n;
    if ((n[cfg->warning_count] = strdup(text)) == NULL)
        return -1;
    cfg->warning_count++;
    return 0;
}

/* ------------------------------------------------------- init and free */

static int set_result_defaults(domauth_config *cfg, result_policy *rp, const result_defaults *d)
{
    char why[256];
    const char *values[] = {d->action, d->reply, d->tag_subject, d->tag, d->score};
    for (size_t k = 0; k < sizeof result_keys / sizeof result_keys[0]; k++)
        if (set_value(cfg, rp, result_keys[k].type, result_keys[k].offset, values[k], why,
                      sizeof why) != 0)
            return -1;
    return 0;
}

/* Every result table of a settings block, for freeing and copying. */
static size_t result_tables(policy_settings *ps, result_policy **out)
{
    size_t n = 0;
    for (int r = 0; r < SPF_RESULT_COUNT; r++)
        out[n++] = &ps->results[r];
    for (int r = 0; r < DKIM_RESULT_COUNT; r++)
        out[n++] = &ps->dkim_results[r];
    for (int r = 0; r < SENDERID_RESULT_COUNT; r++)
        out[n++] = &ps->senderid_results[r];
    for (int r = 0; r < DMARC_RESULT_COUNT; r++)
        out[n++] = &ps->dmarc_results[r];
    out[n++] = &ps->invalid_from;
    return n;
}
enum {
    RESULT_TABLES_MAX =
        SPF_RESULT_COUNT + DKIM_RESULT_COUNT + SENDERID_RESULT_COUNT + DMARC_RESULT_COUNT + 1
};

static void lines_free(struct config_lines *l);

/* The types held as a malloc'ed string in the structure. */
static bool is_string_type(value_type type)
{
    switch (type) {
    case T_STRING:
    case T_TAG:
    case T_LISTEN:
    case T_HTTPLISTEN:
    case T_CANON:
    case T_FACILITY:
    case T_PATH:
    case T_DATABASE:
    case T_DATASET:
    case T_HOSTNAME:
    case T_HEADER:
    case T_HEADERLIST:
    case T_REPLY:
    case T_MAILBOX:
        return true;
    default:
        return false;
    }
}

static void settings_free(policy_settings *ps)
{
    free(ps->score_header);
    free(ps->defer_threshold_reply);
    free(ps->reject_threshold_reply);
    free(ps->quarantine_threshold_reply);
    free(ps->redirect_to);
    result_policy *tables[RESULT_TABLES_MAX];
    size_t n = result_tables(ps, tables);
    for (size_t i = 0; i < n; i++) {
        free(tables[i]->reply);
        free(tables[i]->tag);
    }
    name_list_free(&ps->whitelist_from);
    ip_set_free(&ps->relays);
    memset(ps, 0, sizeof *ps);
}

static int settings_copy(policy_settings *dst, const policy_settings *src)
{
    *dst = *src;
    dst->score_header = strdup(src->score_header);
    dst->defer_threshold_reply = strdup(src->defer_threshold_reply);
    dst->reject_threshold_reply = strdup(src->reject_threshold_reply);
    dst->quarantine_threshold_reply = strdup(src->quarantine_threshold_reply);
    dst->redirect_to = strdup(src->redirect_to);
    bool ok = dst->score_header && dst->defer_threshold_reply && dst->reject_threshold_reply &&
              dst->quarantine_threshold_reply && dst->redirect_to;
    result_policy *tables[RESULT_TABLES_MAX];
    size_t n = result_tables(dst, tables);
    for (size_t i = 0; i < n; i++) {
        tables[i]->reply = strdup(tables[i]->reply);
        tables[i]->tag = strdup(tables[i]->tag);
        ok = ok && tables[i]->reply && tables[i]->tag;
    }
    /* A domain adds to the global whitelist_from; trusted is its own. */
    ok = name_list_copy(&dst->whitelist_from, &src->whitelist_from) == 0 && ok;
    ok = ip_set_copy(&dst->relays, &src->relays) == 0 && ok;
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
    for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++)
        for (int r = 0; r < methods[m]->count; r++)
            if (set_result_defaults(cfg, &method_table(methods[m], &cfg->global)[r],
                                    &methods[m]->defaults[r]) != 0)
                goto fail;
    if (set_result_defaults(cfg, &cfg->global.invalid_from, &invalid_from_default) != 0)
        goto fail;
    if (ip_set_add_local_networks(&cfg->local) != 0)
        goto fail;
    {
        size_t len = 0;
        for (size_t i = 0; i < IP_LOCAL_NETWORK_COUNT; i++)
            len += strlen(ip_local_networks[i]) + 1;
        if ((cfg->local_networks = malloc(len)) == NULL)
            goto fail;
        cfg->local_networks[0] = '\0';
        for (size_t i = 0; i < IP_LOCAL_NETWORK_COUNT; i++) {
            if (i > 0)
                strcat(cfg->local_networks, " ");
            strcat(cfg->local_networks, ip_local_networks[i]);
        }
        cfg->local_networks_default = true;
    }
    return 0;
fail:
    config_free(cfg);
    return -1;
}

void config_free(domauth_config *cfg)
{
    free(cfg->path);
    for (size_t i = 0; i < cfg->warning_count; i++)
        free(cfg->warnings[i]);
    free(cfg->warnings);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if ((keys[i].section == S_DAEMON || keys[i].section == S_DKIM ||
             keys[i].section == S_SRS || keys[i].section == S_ARC ||
             keys[i].section == S_WEB || keys[i].section == S_DMARC) &&
            is_string_type(keys[i].type))
            free(*(char **)((char *)cfg + keys[i].offset));
    }
    for (size_t i = 0; i < cfg->dkim_key_count; i++) {
        free(cfg->dkim_keys[i].domain);
        free(cfg->dkim_keys[i].selector);
        free(cfg->dkim_keys[i].path);
        free(cfg->dkim_keys[i].file);
    }
    free(cfg->dkim_keys);
    ip_set_free(&cfg->whitelist);
    ip_set_free(&cfg->trusted);
    ip_set_free(&cfg->local);
    name_list_free(&cfg->whitelist_helo);
    name_list_free(&cfg->whitelist_ptr);
    name_list_free(&cfg->arc_trusted_sealers);
    free(cfg->local_networks);
    for (size_t i = 0; i < cfg->srs_envelope_rule_count; i++) {
        free(cfg->srs_envelope_rules[i].domain);
        free(cfg->srs_envelope_rules[i].bounce_domain);
    }
    free(cfg->srs_envelope_rules);
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
    lines_free(cfg->lines);
    memset(cfg, 0, sizeof *cfg);
}

/* -------------------------------------------------------------- parse */

/* Where each single-valued key was set: finds a key given twice, and lets
 * the daemon name the line of a value it checks itself (config_key_line). */
typedef struct key_line {
    char *section; /* "daemon", "policy", "domain example.org", ... */
    char *name;
    unsigned line;
} key_line;

struct config_lines {
    key_line *items;
    size_t count;
};

static void lines_free(struct config_lines *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->count; i++) {
        free(l->items[i].section);
        free(l->items[i].name);
    }
    free(l->items);
    free(l);
}

static const key_line *lines_find(const struct config_lines *l, const char *section,
                                  const char *name)
{
    for (size_t i = 0; l != NULL && i < l->count; i++)
        if (strcmp(l->items[i].section, section) == 0 && strcmp(l->items[i].name, name) == 0)
            return &l->items[i];
    return NULL;
}

unsigned config_key_line(const domauth_config *cfg, const char *section, const char *name)
{
    const key_line *k = lines_find(cfg->lines, section, name);
    return k != NULL ? k->line : 0;
}

/* A [domain] section's settings are applied after the whole file, on top of
 * the final [policy] values, so the order of sections does not matter. */
typedef struct pending_key {
    char *section_domain;
    char *name, *value;
    unsigned line;
} pending_key;

typedef struct parse_state {
    domauth_config *cfg;
    char *err;
    size_t err_size;
    bool failed;
    const policy_settings *current_ps; /* the settings check_replies is at */
    pending_key *pending;
    size_t pending_count;
    /* The current section: "daemon", ... or "domain example.org". */
    bool in_section;
    char section[CONFIG_LINE_MAX + 1];
    /* The logical line being gathered: a key and its value so far. */
    bool have_key, key_is_list;
    unsigned key_line;
    char key[CONFIG_LINE_MAX + 1];
    char value[CONFIG_LINE_MAX + 1];
    size_t value_len;
} parse_state;

static void fail_at(parse_state *st, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail_at(parse_state *st, unsigned line, const char *fmt, ...)
{
    if (st->failed)
        return;
    st->failed = true;
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(st->err, st->err_size, "%s:%u: %s", st->cfg->path ? st->cfg->path : "(config)",
             line, msg);
}

/* Notes where a key was set, under its canonical name (section, name);
 * a repeat is reported with the names as written. */
static int note_key(parse_state *st, const char *section, const char *name,
                    const char *written_section, const char *written_name, unsigned line)
{
    struct config_lines *l = st->cfg->lines;
    const key_line *first = lines_find(l, section, name);
    if (first != NULL) {
        fail_at(st, line, "'%s' is given twice in [%s] (first on line %u)", written_name,
                written_section, first->line);
        return -1;
    }
    key_line *n = l ? realloc(l->items, (l->count + 1) * sizeof *n) : NULL;
    if (n == NULL) {
        fail_at(st, line, "out of memory");
        return -1;
    }
    l->items = n;
    n[l->count] = (key_line){strdup(section), strdup(name), line};
    if (n[l->count].section == NULL || n[l->count].name == NULL) {
        free(n[l->count].section);
        free(n[l->count].name);
        fail_at(st, line, "out of memory");
        return -1;
    }
    l->count++;
    return 0;
}

/* A per-result key is one key under all its names ([policy] fail_action
 * is [spf] fail_action; [domain X] fail_action is its spf_fail_action), so
 * giving it twice under two names is caught like any repeat. */
static bool is_result_key(const result_method *m, const char *name)
{
    int r;
    const result_key *key;
    return find_result_key(m, name, &r, &key);
}

static void canonical_key(const char *section, const char *name, char *csec, size_t csec_size,
                          char *cname, size_t cname_size)
{
    snprintf(csec, csec_size, "%s", section);
    snprintf(cname, cname_size, "%s", name);
    bool policy = strcmp(section, "policy") == 0;
    bool domain = strncmp(section, "domain ", 7) == 0;
    if (!policy && !domain)
        return;
    if (is_result_key(&spf_method, name)) {
        if (policy)
            snprintf(csec, csec_size, "spf");
        else
            snprintf(cname, cname_size, "spf_%s", name);
    } else if (policy && strncmp(name, "spf_", 4) == 0 &&
               is_result_key(&spf_method, name + 4)) {
        snprintf(csec, csec_size, "spf");
        snprintf(cname, cname_size, "%s", name + 4);
    } else if (policy && strncmp(name, "dkim_", 5) == 0 &&
               is_result_key(&dkim_method, name + 5)) {
        snprintf(csec, csec_size, "dkim");
        snprintf(cname, cname_size, "%s", name + 5);
    } else if (policy && strncmp(name, "senderid_", 9) == 0 &&
               is_result_key(&senderid_method, name + 9)) {
        snprintf(csec, csec_size, "senderid");
        snprintf(cname, cname_size, "%s", name + 9);
    } else if (policy && strncmp(name, "dmarc_", 6) == 0 &&
               is_result_key(&dmarc_method, name + 6)) {
        snprintf(csec, csec_size, "dmarc");
        snprintf(cname, cname_size, "%s", name + 6);
    }
}

static const char *domain_of_section(const char *section)
{
    if (strncmp(section, "domain ", 7) != 0)
        return NULL;
    return section + 7;
}

static bool section_kind_of(const char *section, section_kind *kind)
{
    static const struct {
        const char *name;
        section_kind kind;
    } names[] = {{"daemon", S_DAEMON}, {"hosts", S_HOSTS}, {"policy", S_POLICY}, {"dkim", S_DKIM},
                 {"spf", S_SPF},       {"srs", S_SRS},       {"senderid", S_SENDERID},
                 {"dmarc", S_DMARC},   {"arc", S_ARC},       {"web", S_WEB}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(section, names[i].name) == 0) {
            *kind = names[i].kind;
            return true;
        }
    }
    return false;
}

/* The keys that may be given many times, each time one more entry. */
static bool is_list_key(const char *section, const char *name)
{
    section_kind kind;
    if (domain_of_section(section) != NULL)
        kind = S_POLICY;
    else if (!section_kind_of(section, &kind))
        return false;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (keys[i].section == kind && strcmp(keys[i].name, name) == 0)
            return keys[i].type == T_IPLIST || keys[i].type == T_FILELIST ||
                   keys[i].type == T_DKIMKEY || keys[i].type == T_NAMELIST ||
                   keys[i].type == T_LOCALNETS || keys[i].type == T_ENVRULE;
    return false;
}

/* One key = value of the current section, continuation lines joined. */
static void handle_key(parse_state *st, const char *section, const char *name, const char *value,
                       unsigned line)
{
    if (st->failed)
        return;
    char canon_section[CONFIG_LINE_MAX + 1], canon_name[CONFIG_LINE_MAX + 1];
    canonical_key(section, name, canon_section, sizeof canon_section, canon_name,
                  sizeof canon_name);
    if (!is_list_key(section, name) &&
        note_key(st, canon_section, canon_name, section, name, line) != 0)
        return;
    char why[400] = "";
    const char *domain = domain_of_section(section);
    if (domain != NULL) {
        pending_key *n = realloc(st->pending, (st->pending_count + 1) * sizeof *n);
        if (n == NULL) {
            fail_at(st, line, "out of memory");
            return;
        }
        st->pending = n;
        pending_key *pk = &n[st->pending_count];
        pk->section_domain = strdup(domain);
        pk->name = strdup(name);
        pk->value = strdup(value);
        pk->line = line;
        st->pending_count++;
        if (!pk->section_domain || !pk->name || !pk->value)
            fail_at(st, line, "out of memory");
        return;
    }
    section_kind kind;
    if (!section_kind_of(section, &kind)) {
        fail_at(st, line, "unknown section [%s]", section); /* checked at the header */
        return;
    }
    if (kind == S_POLICY && strcmp(name, "trusted") == 0) {
        fail_at(st, line, "trusted: the site's relays are [hosts] trusted; 'trusted' belongs "
                          "in a [domain NAME] section, for that domain's own servers");
        return;
    }
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const key_spec *k = &keys[i];
        if (k->section != kind || strcmp(k->name, name) != 0)
            continue;
        void *base = kind == S_POLICY ? (void *)&st->cfg->global : (void *)st->cfg;
        int rc = set_value(st->cfg, base, k->type, k->offset, value, why, sizeof why);
        if (rc != 0)
            fail_at(st, line, "%s: %s", name, why);
        else if (k->type == T_DKIMKEY && *value != '\0' && st->cfg->dkim_key_count > 0)
            st->cfg->dkim_keys[st->cfg->dkim_key_count - 1].line = line;
        return;
    }
    if (kind == S_SPF || kind == S_DKIM || kind == S_SENDERID || kind == S_DMARC) {
        int rc = set_table_key(st->cfg,
                               kind == S_SPF        ? &spf_method
                               : kind == S_DKIM     ? &dkim_method
                               : kind == S_SENDERID ? &senderid_method
                                                    : &dmarc_method,
                               &st->cfg->global, name, value, why, sizeof why);
        if (rc == -1)
            fail_at(st, line, "%s: %s", name, why);
        if (rc != -2)
            return;
    }
    if (kind == S_POLICY) {
        char new_name[128];
        int rc = set_policy_key(st->cfg, &st->cfg->global, name, value, why, sizeof why, false,
                                new_name, sizeof new_name);
        if (rc == -1)
            fail_at(st, line, "%s: %s", name, why);
        if (rc == 1) {
            char text[600];
            snprintf(text, sizeof text, "%s:%u: [policy] %s is the old name of %s (still read)",
                     st->cfg->path ? st->cfg->path : "-", line, name, new_name);
            if (add_warning(st->cfg, text) != 0)
                fail_at(st, line, "out of memory");
        }
        if (rc != -2)
            return;
    }
    fail_at(st, line, "unknown key '%s' in [%s]", name, section);
}

/* ---- the line reader ----
 * A logical line is a line that starts in the first column and the lines
 * after it that start with white space (Postfix's main.cf rule); comment and
 * blank lines in between are skipped. A continuation is joined to the value
 * with one space, or, for the list keys, is one more entry. */

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Cuts an inline comment (';' after white space) and trailing blanks. */
static size_t value_length(const char *v, size_t len)
{
    bool was_space = false;
    for (size_t i = 0; i < len; i++) {
        if (v[i] == ';' && was_space) {
            len = i;
            break;
        }
        was_space = isspace((unsigned char)v[i]) != 0;
    }
    while (len > 0 && isspace((unsigned char)v[len - 1]))
        len--;
    return len;
}

/* An indented "word =" or "[...]": a key or header that was indented by
 * mistake, which as a continuation would silently join the value above. */
static bool looks_like_key(const char *s, size_t len)
{
    if (len > 0 && s[0] == '[')
        return true;
    size_t i = 0;
    while (i < len && (isalnum((unsigned char)s[i]) || s[i] == '_'))
        i++;
    if (i == 0)
        return false;
    while (i < len && is_blank(s[i]))
        i++;
    return i < len && s[i] == '=';
}

static void flush_key(parse_state *st)
{
    if (!st->have_key)
        return;
    st->have_key = false;
    st->value[st->value_len] = '\0';
    handle_key(st, st->section, st->key, st->value, st->key_line);
}

static void start_section(parse_state *st, const char *s, size_t len, unsigned line)
{
    const char *close = memchr(s, ']', len);
    if (close == NULL) {
        fail_at(st, line, "expected ']' at the end of the section header");
        return;
    }
    const char *after = close + 1, *end = s + len;
    while (after < end && is_blank(*after))
        after++;
    if (after < end && *after != ';' && *after != '#') {
        fail_at(st, line, "unexpected text after the section header: '%.*s'",
                (int)(end - after > 60 ? 60 : end - after), after);
        return;
    }
    const char *name = s + 1;
    while (name < close && is_blank(*name))
        name++;
    size_t n = (size_t)(close - name);
    while (n > 0 && is_blank(name[n - 1]))
        n--;
    char text[CONFIG_LINE_MAX + 1];
    snprintf(text, sizeof text, "%.*s", (int)n, name);
    section_kind kind;
    if (section_kind_of(text, &kind)) {
        snprintf(st->section, sizeof st->section, "%s", text);
        st->in_section = true;
        return;
    }
    if (strncasecmp(text, "domain", 6) != 0 || (text[6] != '\0' && !is_blank(text[6]))) {
        fail_at(st, line,
                "unknown section [%s]; expected [daemon], [hosts], [dkim], [policy] or "
                "[domain NAME]",
                text);
        return;
    }
    char *d = text + 6;
    while (is_blank(*d))
        d++;
    if (*d == '\0') {
        fail_at(st, line, "[domain] needs a domain name, e.g. [domain example.org]");
        return;
    }
    if (strpbrk(d, " \t,") != NULL) {
        fail_at(st, line,
                "[domain %s]: one domain per section (a section covers the domain's "
                "subdomains too); give each domain its own [domain NAME]",
                d);
        return;
    }
    if (!is_domain_name(d)) {
        fail_at(st, line, "[domain %s]: '%s' is not a domain name, e.g. [domain example.org]",
                d, d);
        return;
    }
    for (char *p = d; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    snprintf(st->section, sizeof st->section, "domain %s", d);
    st->in_section = true;
}

static void start_key(parse_state *st, const char *s, size_t len, unsigned line)
{
    size_t n = 0;
    while (n < len && s[n] != '=' && s[n] != ':')
        n++;
    size_t name_len = n;
    while (name_len > 0 && is_blank(s[name_len - 1]))
        name_len--;
    if (n == len || name_len == 0) {
        fail_at(st, line, "expected 'key = value', a [section] header or a comment");
        return;
    }
    if (!st->in_section) {
        fail_at(st, line,
                "'%.*s' comes before any section; expected [daemon], [hosts], [dkim], "
                "[policy] or [domain NAME] first",
                (int)(name_len > 60 ? 60 : name_len), s);
        return;
    }
    const char *v = s + n + 1;
    size_t vlen = value_length(v, len - n - 1);
    while (vlen > 0 && isspace((unsigned char)*v)) {
        v++;
        vlen--;
    }
    memcpy(st->key, s, name_len);
    st->key[name_len] = '\0';
    memcpy(st->value, v, vlen);
    st->value_len = vlen;
    st->key_line = line;
    st->have_key = true;
    st->key_is_list = is_list_key(st->section, st->key);
}

static void continue_key(parse_state *st, const char *s, size_t len, unsigned line)
{
    if (looks_like_key(s, len)) {
        fail_at(st, line,
                "an indented line continues the value of '%s' (line %u), but this one looks "
                "like a key or a section header; start it in the first column",
                st->key, st->key_line);
        return;
    }
    size_t vlen = value_length(s, len);
    if (st->key_is_list) {
        /* One more entry, from this line. */
        flush_key(st);
        memcpy(st->value, s, vlen);
        st->value_len = vlen;
        st->key_line = line;
        st->have_key = true;
        return;
    }
    if (vlen == 0)
        return;
    if (st->value_len + 1 + vlen > CONFIG_LINE_MAX) {
        fail_at(st, st->key_line,
                "'%s' is longer than %d characters with its continuation lines (to line %u); "
                "that is the limit of a logical line",
                st->key, CONFIG_LINE_MAX, line);
        return;
    }
    if (st->value_len > 0)
        st->value[st->value_len++] = ' ';
    memcpy(st->value + st->value_len, s, vlen);
    st->value_len += vlen;
}

static void parse_lines(parse_state *st, const char *text, size_t len)
{
    const char *p = text, *end = text + len;
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3; /* a UTF-8 byte order mark */
    unsigned line = 0;
    while (p < end && !st->failed) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t n = eol ? (size_t)(eol - p) : (size_t)(end - p);
        const char *s = p;
        p = eol ? eol + 1 : end;
        line++;
        if (n > CONFIG_LINE_MAX) {
            fail_at(st, line,
                    "line longer than %d characters; split a long value over indented "
                    "continuation lines (the limit of a logical line is also %d)",
                    CONFIG_LINE_MAX, CONFIG_LINE_MAX);
            return;
        }
        while (n > 0 && isspace((unsigned char)s[n - 1]))
            n--; /* also the '\r' of CRLF */
        size_t indent = 0;
        while (indent < n && is_blank(s[indent]))
            indent++;
        s += indent;
        n -= indent;
        if (n == 0 || s[0] == ';' || s[0] == '#')
            continue; /* blank or comment: a logical line goes on after it */
        if (indent > 0 && st->have_key) {
            continue_key(st, s, n, line);
            continue;
        }
        /* A new logical line. An indented one with nothing to continue is
         * taken as it is, as libinih did. */
        flush_key(st);
        if (st->failed)
            return;
        if (s[0] == '[')
            start_section(st, s, n, line);
        else
            start_key(st, s, n, line);
    }
    flush_key(st);
}

/* Replies must match their action's class: 4xx for defer, 5xx for reject.
 * The error names the line of the reply (or of the action, when the reply
 * is the default) and the key as it is written in its section. */
static int check_one_reply(parse_state *st, const result_policy *rp, const char *section,
                           const char *reply_key, const char *action_key, const char *where)
{
    /* A quarantine's reply (quarantine_reply = reply) may be 4xx or 5xx:
     * set_value checked that much already. */
    if (rp->action == ACTION_REDIRECT) {
        /* Nothing is told: the message is delivered, elsewhere. */
        const char *to = st->current_ps != NULL ? st->current_ps->redirect_to : NULL;
        if (to != NULL && *to)
            return 0;
        unsigned line = config_key_line(st->cfg, section, action_key);
        fail_at(st, line, "%s%s = redirect needs redirect_to (the mailbox it goes to)", where,
                action_key);
        return -1;
    }
    if (rp->action == ACTION_ACCEPT || rp->action == ACTION_QUARANTINE)
        return 0;
    char why[200];
    if (config_check_reply(rp->reply, rp->action == ACTION_DEFER ? '4' : '5', why, sizeof why) ==
        0)
        return 0;
    unsigned line = config_key_line(st->cfg, section, reply_key);
    if (line == 0)
        line = config_key_line(st->cfg, section, action_key);
    fail_at(st, line, "%s%s: %s (the reply must suit %s = %s)", where, reply_key, why,
            action_key, rp->action == ACTION_DEFER ? "defer" : "reject");
    return -1;
}

/* Every reply suits its action in every table: [spf], [dkim], invalid_from
 * and the thresholds; in a [domain] section by the names written there. */
/* A mailbox for redirect_to: local@domain, printable, no blanks, the
 * length RFC 5321 allows a path. */
static bool mailbox_valid(const char *a)
{
    const char *at = strrchr(a, '@');
    if (at == NULL || at == a || strlen(a) > 256 || !is_domain_name(at + 1))
        return false;
    for (const char *p = a; p < at; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == '<' || *p == '>')
            return false;
    return true;
}

static int check_replies(parse_state *st, policy_settings *ps, const char *domain)
{
    char where[300] = "", section[300];
    if (domain != NULL)
        snprintf(where, sizeof where, "[domain %s] ", domain);
    st->current_ps = ps;
    if (ps->redirect_to != NULL && *ps->redirect_to && !mailbox_valid(ps->redirect_to)) {
        unsigned line;
        if (domain != NULL) {
            snprintf(section, sizeof section, "domain %s", domain);
            line = config_key_line(st->cfg, section, "redirect_to");
        } else {
            line = config_key_line(st->cfg, "policy", "redirect_to");
        }
        fail_at(st, line, "%sredirect_to: '%.100s' is not a mailbox (local@domain)",
                domain ? where : "[policy] ", ps->redirect_to);
        return -1;
    }
    const char *policy_where = domain ? where : "[policy] ";
    char reply_key[96], action_key[96], method_where[16];
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        const result_method *m = methods[i];
        const result_policy *table = method_table(m, ps);
        /* [spf] fail_reply; [domain X] spf_fail_reply. */
        const char *prefix = domain ? m->section : "", *sep = domain ? "_" : "";
        snprintf(method_where, sizeof method_where, "[%s] ", m->section);
        if (domain != NULL)
            snprintf(section, sizeof section, "domain %s", domain);
        else
            snprintf(section, sizeof section, "%s", m->section);
        for (int r = 0; r < m->count; r++) {
            snprintf(reply_key, sizeof reply_key, "%s%s%s_reply", prefix, sep, m->name(r));
            snprintf(action_key, sizeof action_key, "%s%s%s_action", prefix, sep, m->name(r));
            if (check_one_reply(st, &table[r], section, reply_key, action_key,
                                domain ? where : method_where) != 0)
                return -1;
        }
    }
    snprintf(section, sizeof section, domain ? "domain %s" : "policy", domain);
    if (check_one_reply(st, &ps->invalid_from, section, "invalid_from_reply",
                        "invalid_from_action", policy_where) != 0)
        return -1;
    const result_policy defer = {.action = ACTION_DEFER, .reply = ps->defer_threshold_reply};
    const result_policy reject = {.action = ACTION_REJECT, .reply = ps->reject_threshold_reply};
    if ((ps->defer_threshold > 0 && check_one_reply(st, &defer, section, "defer_threshold_reply",
                                                    "defer_threshold", policy_where) != 0) ||
        (ps->reject_threshold > 0 && check_one_reply(st, &reject, section,
                                                     "reject_threshold_reply",
                                                     "reject_threshold", policy_where) != 0))
        return -1;
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
            if (n == NULL) {
                fail_at(st, pk->line, "out of memory");
                return -1;
            }
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
        char why[400], new_name[128];
        int rc = set_policy_key(cfg, &dp->settings, pk->name, pk->value, why, sizeof why, true,
                                new_name, sizeof new_name);
        if (rc == 1) {
            char text[600];
            snprintf(text, sizeof text, "%s:%u: [domain %s] %s is the old name of %s (still read)",
                     cfg->path ? cfg->path : "-", pk->line, pk->section_domain, pk->name,
                     new_name);
            if (add_warning(cfg, text) != 0)
                fail_at(st, pk->line, "out of memory");
        }
        if (rc == -1)
            fail_at(st, pk->line, "%s: %s", pk->name, why);
        else if (rc == -2)
            fail_at(st, pk->line,
                    "'%s' cannot be set per domain (only [policy] keys can)", pk->name);
    }
    return st->failed ? -1 : 0;
}

/* What no single value shows: listeners and the user they run as. */
static void check_daemon(parse_state *st)
{
    const domauth_config *cfg = st->cfg;
    bool milter = cfg->milter_listen && *cfg->milter_listen;
    bool policy = cfg->policy_listen && *cfg->policy_listen;
    bool socketmap = cfg->srs_socketmap && *cfg->srs_socketmap;
    unsigned milter_line = config_key_line(cfg, "daemon", "milter");
    unsigned policy_line = config_key_line(cfg, "daemon", "policy");
    if (!milter && !policy && !socketmap)
        fail_at(st, milter_line > policy_line ? milter_line : policy_line,
                "milter and policy are both empty: domauthd would serve nothing; set at "
                "least one listener");
    else if (milter && policy && strcmp(cfg->milter_listen, cfg->policy_listen) == 0)
        fail_at(st, milter_line > policy_line ? milter_line : policy_line,
                "milter and policy are both %s; they need addresses of their own",
                cfg->milter_listen);
    if ((cfg->user == NULL || *cfg->user == '\0') && cfg->group && *cfg->group)
        fail_at(st, config_key_line(cfg, "daemon", "group"),
                "group = %s needs user: domauthd changes its group only with its user",
                cfg->group);
    /* [web]: a certificate is served with its key, and only then. */
    bool cert = cfg->web_cert && *cfg->web_cert, key = cfg->web_key && *cfg->web_key;
    if (cert != key)
        fail_at(st, config_key_line(cfg, "web", cert ? "cert" : "key"),
                "[web] %s without %s: HTTPS needs both (or neither, for HTTP)",
                cert ? "cert" : "key", cert ? "key" : "cert");
    if ((cfg->web_user == NULL || *cfg->web_user == '\0') && cfg->web_group && *cfg->web_group)
        fail_at(st, config_key_line(cfg, "web", "group"),
                "[web] group = %s needs user: domauth-web changes its group only with its user",
                cfg->web_group);
    /* OpenDKIM's tables go together: one names the keys, the other who
     * signs with which. */
    bool kt = cfg->dkim_key_table && *cfg->dkim_key_table;
    bool stb = cfg->dkim_signing_table && *cfg->dkim_signing_table;
    const char *rest;
    if (kt != stb)
        fail_at(st, config_key_line(cfg, "dkim", kt ? "key_table" : "signing_table"),
                "%s without %s signs nothing: give both", kt ? "key_table" : "signing_table",
                kt ? "signing_table" : "key_table");
    else if (kt && opendkim_dataset_of(cfg->dkim_key_table, &rest) == OPENDKIM_DS_REFILE)
        fail_at(st, config_key_line(cfg, "dkim", "key_table"),
                "a KeyTable is looked up by key name: file:/path or /path, not refile:");
}

/* The next entry of a blank- or comma-separated list; false at the end. */
static bool next_list_entry(const char **p, const char **entry, size_t *len)
{
    *p += strspn(*p, " \t,");
    if (**p == '\0')
        return false;
    *entry = *p;
    *len = strcspn(*p, " \t,");
    *p += *len;
    return true;
}

/* [srs]: the ranges the engine takes, the domains listed, and what the
 * socketmap needs to answer at all. */
static void check_srs(parse_state *st)
{
    const domauth_config *cfg = st->cfg;
    const char *sep = cfg->srs_separator;
    if (strlen(sep) != 1 || strchr("=+-", sep[0]) == NULL)
        fail_at(st, config_key_line(cfg, "srs", "separator"),
                "separator: expected =, + or -, not '%.60s'", sep);
    else if (cfg->srs_max_age > 1023)
        fail_at(st, config_key_line(cfg, "srs", "max_age"),
                "max_age: expected 1 to 1023 days (the stamp wraps at 1024), not %u",
                cfg->srs_max_age);
    else if (cfg->srs_hash_length < 4 || cfg->srs_hash_length > 27)
        fail_at(st, config_key_line(cfg, "srs", "hash_length"),
                "hash_length: expected 4 to 27 characters, not %u", cfg->srs_hash_length);
    else if (cfg->srs_hash_min_length < 4 || cfg->srs_hash_min_length > 27)
        fail_at(st, config_key_line(cfg, "srs", "hash_min_length"),
                "hash_min_length: expected 4 to 27 characters, not %u",
                cfg->srs_hash_min_length);
    const char *p = cfg->srs_exclude_domains, *entry;
    size_t n;
    while (!st->failed && next_list_entry(&p, &entry, &n)) {
        char name[300];
        snprintf(name, sizeof name, "%.*s", (int)(n < 299 ? n : 299), entry);
        if (n >= 299 || !is_domain_name(name[0] == '.' ? name + 1 : name))
            fail_at(st, config_key_line(cfg, "srs", "exclude_domains"),
                    "exclude_domains: '%.80s' is not a domain name (or .domain)", name);
    }
    p = cfg->srs_envelope_senders;
    while (!st->failed && next_list_entry(&p, &entry, &n)) {
        char name[300];
        snprintf(name, sizeof name, "%.*s", (int)(n < 299 ? n : 299), entry);
        if (n >= 299 || !is_domain_name(name[0] == '.' ? name + 1 : name))
            fail_at(st, config_key_line(cfg, "srs", "envelope_senders"),
                    "envelope_senders: '%.80s' is not a domain name (or .domain)", name);
    }
    if (!st->failed && strcmp(cfg->srs_envelope_bounces, "forward") != 0 &&
        strcmp(cfg->srs_envelope_bounces, "keep") != 0)
        fail_at(st, config_key_line(cfg, "srs", "envelope_bounces"),
                "envelope_bounces: expected forward or keep, not '%.60s'",
                cfg->srs_envelope_bounces);
    if (!st->failed && *cfg->srs_envelope_senders && !*cfg->srs_envelope_domain)
        fail_at(st, config_key_line(cfg, "srs", "envelope_senders"),
                "envelope_senders needs envelope_domain: the bounce domain they go under");
    if (!st->failed && cfg->srs_milter && (!*cfg->srs_domain || !*cfg->srs_secrets))
        fail_at(st, config_key_line(cfg, "srs", "milter_rewrite"),
                "milter_rewrite = yes needs domain and secrets in [srs]");
    if (st->failed || *cfg->srs_socketmap == '\0')
        return;
    unsigned line = config_key_line(cfg, "srs", "socketmap");
    if (*cfg->srs_domain == '\0')
        fail_at(st, line, "socketmap needs domain in [srs]: the domain forwarded senders are "
                          "rewritten under");
    else if (*cfg->srs_secrets == '\0')
        fail_at(st, line, "socketmap needs secrets in [srs]: the file of SRS secrets");
    else if ((cfg->milter_listen && strcmp(cfg->srs_socketmap, cfg->milter_listen) == 0) ||
             (cfg->policy_listen && strcmp(cfg->srs_socketmap, cfg->policy_listen) == 0) ||
             (cfg->control_listen && strcmp(cfg->srs_socketmap, cfg->control_listen) == 0))
        fail_at(st, line, "socketmap = %s is also another listener's address",
                cfg->srs_socketmap);
}

bool config_srs_excluded(const domauth_config *cfg, const char *domain, size_t len)
{
    const char *p = cfg->srs_exclude_domains ? cfg->srs_exclude_domains : "", *entry;
    size_t n;
    while (next_list_entry(&p, &entry, &n)) {
        if (entry[0] == '.') {
            /* .example.org: a name ending in it, with a label before. */
            if (len > n && strncasecmp(domain + len - n, entry, n) == 0)
                return true;
        } else if (len == n && strncasecmp(domain, entry, n) == 0) {
            return true;
        }
    }
    return false;
}

static bool domain_in(const char *pattern, size_t n, const char *domain, size_t len)
{
    if (pattern[0] == '.')
        return len > n && strncasecmp(domain + len - n, pattern, n) == 0;
    return len == n && strncasecmp(domain, pattern, n) == 0;
}

const char *config_envelope_domain(const domauth_config *cfg, const char *domain, size_t len,
                                   bool *forward)
{
    for (size_t i = 0; i < cfg->srs_envelope_rule_count; i++) {
        const envelope_rule *r = &cfg->srs_envelope_rules[i];
        if (domain_in(r->domain, strlen(r->domain), domain, len)) {
            *forward = r->forward;
            return r->bounce_domain;
        }
    }
    *forward = cfg->srs_envelope_bounces == NULL || strcmp(cfg->srs_envelope_bounces, "keep") != 0;
    if (cfg->srs_envelope_domain == NULL || !*cfg->srs_envelope_domain)
        return NULL;
    const char *p = cfg->srs_envelope_senders ? cfg->srs_envelope_senders : "", *entry;
    size_t n;
    while (next_list_entry(&p, &entry, &n))
        if (domain_in(entry, n, domain, len))
            return cfg->srs_envelope_domain;
    return NULL;
}

static int read_list_files(ip_set *set, char **files, size_t count, char *err, size_t err_size)
{
    for (size_t i = 0; i < count; i++) {
        size_t len;
        char *text = util_read_file(files[i], 16u << 20, &len, err, err_size);
        if (text == NULL)
            return -1;
        char why[300];
        int rc = ip_set_add_lines(set, text, len, why, sizeof why);
        free(text);
        if (rc != 0) {
            snprintf(err, err_size, "%s:%s", files[i],
                     why + (strncmp(why, "line ", 5) == 0 ? 5 : 0));
            return -1;
        }
    }
    return 0;
}

/* [dkim] key_table and signing_table: OpenDKIM's files, each line of the
 * SigningTable one more entry of the key table, as a key line would make it.
 * The first line that cannot be carried out is the error; a difference
 * (an i= dropped, a first-match order) is a warning with its line. */
typedef struct table_state {
    domauth_config *cfg;
    char *err;
    size_t err_size;
    bool failed;
} table_state;

static void table_note(void *ctx, opendkim_note_kind kind, const char *file, unsigned line,
                       const char *text)
{
    table_state *ts = ctx;
    char msg[800];
    snprintf(msg, sizeof msg, "%s:%u: %s%s", file, line, text,
             kind == OPENDKIM_UNMAPPED ? " (key_table and signing_table take what domauth "
                                         "can sign the same way; see domauth import opendkim)"
                                       : "");
    if (kind == OPENDKIM_DIFFERS) {
        if (add_warning(ts->cfg, msg) != 0 && !ts->failed) {
            snprintf(ts->err, ts->err_size, "%s: out of memory", file);
            ts->failed = true;
        }
    } else if (!ts->failed) {
        snprintf(ts->err, ts->err_size, "%s", msg);
        ts->failed = true;
    }
}

static int read_table_file(table_state *ts, opendkim_tables *t, const char *value, bool signing)
{
    const char *path;
    opendkim_dataset kind = opendkim_dataset_of(value, &path);
    size_t len;
    char *text = util_read_file(path, 16u << 20, &len, ts->err, ts->err_size);
    if (text == NULL)
        return -1;
    int rc = signing ? opendkim_read_signing_table(t, path, text, len,
                                                   kind == OPENDKIM_DS_REFILE, table_note, ts)
                     : opendkim_read_key_table(t, path, text, len, table_note, ts);
    free(text);
    if (rc != 0 && !ts->failed)
        snprintf(ts->err, ts->err_size, "%s: out of memory", path);
    return rc != 0 || ts->failed ? -1 : 0;
}

int config_read_dkim_tables(domauth_config *cfg, char *err, size_t err_size)
{
    if (cfg->dkim_key_table == NULL || *cfg->dkim_key_table == '\0' ||
        cfg->dkim_signing_table == NULL || *cfg->dkim_signing_table == '\0')
        return 0;
    table_state ts = {cfg, err, err_size, false};
    opendkim_tables t;
    opendkim_tables_init(&t);
    int rc = read_table_file(&ts, &t, cfg->dkim_key_table, false);
    if (rc == 0)
        rc = read_table_file(&ts, &t, cfg->dkim_signing_table, true);
    for (size_t i = 0; rc == 0 && i < t.signing_count; i++) {
        const opendkim_signing *e = &t.signing[i];
        char value[CONFIG_LINE_MAX], why[400];
        int n = snprintf(value, sizeof value, "%s %s %s", e->domain, e->key->selector,
                         e->key->path);
        if (n < 0 || (size_t)n >= sizeof value) {
            snprintf(why, sizeof why, "the key line would be longer than %d characters",
                     CONFIG_LINE_MAX);
            rc = -1;
        } else {
            rc = add_dkim_key(cfg, value, why, sizeof why);
        }
        if (rc != 0) {
            /* The selector and the file are the KeyTable's: name both lines. */
            snprintf(err, err_size, "%s:%u: key %s (for %s in %s:%u): %s", t.key_file,
                     e->key->line, e->key->name, e->pattern, t.signing_file, e->line, why);
            break;
        }
        dkim_key_entry *k = &cfg->dkim_keys[cfg->dkim_key_count - 1];
        k->line = e->key->line;
        if ((k->file = strdup(t.key_file)) == NULL) {
            snprintf(err, err_size, "%s: out of memory", t.key_file);
            rc = -1;
        }
    }
    opendkim_tables_free(&t);
    return rc;
}

int config_read_host_files(domauth_config *cfg, char *err, size_t err_size)
{
    return read_list_files(&cfg->whitelist, cfg->whitelist_files, cfg->whitelist_file_count, err,
                           err_size) != 0 ||
                   read_list_files(&cfg->trusted, cfg->trusted_files, cfg->trusted_file_count,
                                   err, err_size) != 0
               ? -1
               : 0;
}

int config_parse(domauth_config *cfg, const char *path, const char *text, size_t len, char *err,
                 size_t err_size)
{
    cfg->path = strdup(path ? path : "(config)");
    parse_state *st = calloc(1, sizeof *st);
    if (st == NULL || cfg->path == NULL ||
        (cfg->lines == NULL && (cfg->lines = calloc(1, sizeof *cfg->lines)) == NULL)) {
        snprintf(err, err_size, "%s:0: out of memory", path ? path : "(config)");
        free(st);
        config_free(cfg);
        return -1;
    }
    *st = (parse_state){.cfg = cfg, .err = err, .err_size = err_size};
    /* Refuse a NUL byte rather than read a file that is not text. */
    const char *nul = memchr(text, '\0', len);
    if (nul != NULL) {
        unsigned line = 1;
        for (const char *p = text; p < nul; p++)
            line += *p == '\n';
        fail_at(st, line, "NUL byte in the file");
    }
    if (!st->failed)
        parse_lines(st, text, len);
    if (!st->failed)
        apply_domains(st);
    if (!st->failed) {
        /* [dmarc] honor_policy is global: every settings block's fail
         * entry carries the domain's request out. */
        for (size_t d = 0; d <= cfg->domain_count; d++) {
            policy_settings *ps = d < cfg->domain_count ? &cfg->domains[d].settings : &cfg->global;
            ps->dmarc_results[DA_DMARC_FAIL].honor_request = cfg->dmarc_honor_policy;
        }
        if (cfg->dmarc_mode == DA_DMARC_RFC7489 && !da_dmarc_have_psl())
            fail_at(st, 0, "[dmarc] mode = rfc7489 needs the public suffix list: this domauth "
                           "was built without libpsl");
        else if (cfg->dmarc_report &&
                 (cfg->dmarc_report_org_name == NULL || !*cfg->dmarc_report_org_name ||
                  cfg->dmarc_report_email == NULL || !*cfg->dmarc_report_email))
            fail_at(st, 0, "[dmarc] report = yes needs report_org_name and report_email (the "
                           "report's metadata and From:)");
        else if (cfg->arc_seal && !cfg->arc_check)
            fail_at(st, 0, "[arc] seal = yes needs check = yes: a seal records the chain's "
                           "status as this host validated it");
        else if (cfg->arc_seal && (cfg->arc_seal_domain == NULL || !*cfg->arc_seal_domain))
            fail_at(st, 0, "[arc] seal = yes needs seal_domain (the d= of the seals; its key "
                           "comes from the [dkim] key table)");
    }
    if (!st->failed)
        check_daemon(st);
    if (!st->failed) {
        bool folder = false;
        for (size_t d = 0; d <= cfg->domain_count; d++) {
            const policy_settings *ps = d < cfg->domain_count ? &cfg->domains[d].settings
                                                              : &cfg->global;
            folder = folder || (ps->quarantine_mode == QUARANTINE_FOLDER &&
                                policy_settings_can_quarantine(ps));
        }
        cfg->quarantine_possible = folder;
    }
    if (!st->failed)
        check_srs(st);
    if (!st->failed && check_replies(st, &cfg->global, NULL) == 0) {
        for (size_t d = 0; d < cfg->domain_count && !st->failed; d++) {
            check_replies(st, &cfg->domains[d].settings, cfg->domains[d].domain);
        }
    }
    for (size_t i = 0; i < st->pending_count; i++) {
        free(st->pending[i].section_domain);
        free(st->pending[i].name);
        free(st->pending[i].value);
    }
    free(st->pending);
    bool failed = st->failed;
    free(st);
    if (failed) {
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

/* The keys "<name>_<suffix>" of one result, commented out with their
 * defaults. */
static void emit_result(void (*emit)(void *arg, const char *line), void *arg, const char *name,
                        const result_defaults *d)
{
    char line[512];
    const char *values[] = {d->action, d->reply, d->tag_subject, d->tag, d->score};
    emit(arg, "");
    for (size_t k = 0; k < sizeof result_keys / sizeof result_keys[0]; k++) {
        snprintf(line, sizeof line, ";%s_%s = %s", name, result_keys[k].suffix, values[k]);
        emit(arg, line);
    }
}

static void emit_method(void (*emit)(void *arg, const char *line), void *arg,
                        const result_method *m)
{
    for (int r = 0; r < m->count; r++)
        emit_result(emit, arg, m->name(r), &m->defaults[r]);
}

/* A section's keys from the table, each with its doc and default. */
static void emit_keys(void (*emit)(void *arg, const char *line), void *arg, section_kind kind)
{
    char line[512];
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (keys[i].section != kind)
            continue;
        if (keys[i].section == S_POLICY && keys[i].type == T_IPLIST)
            continue; /* [domain] trusted: shown with the [domain] example */
        emit(arg, "");
        emit_doc(emit, arg, keys[i].doc);
        if (keys[i].type == T_DKIMKEY)
            snprintf(line, sizeof line, ";%s = example.com mail2026 /etc/domauth/keys/mail2026.private",
                     keys[i].name);
        else if (keys[i].type == T_IPLIST)
            snprintf(line, sizeof line, ";%s = 192.0.2.10 our office gateway", keys[i].name);
        else if (keys[i].type == T_LOCALNETS)
            snprintf(line, sizeof line, ";%s = 127.0.0.0/8 ::1", keys[i].name);
        else if (keys[i].type == T_ENVRULE)
            snprintf(line, sizeof line, ";%s = shop.example bounce.shop.example forward",
                     keys[i].name);
        else if (keys[i].type == T_NAMELIST)
            snprintf(line, sizeof line, ";%s = %s", keys[i].name,
                     keys[i].section == S_POLICY ? "partner.example *.partner.example"
                                                 : "*.mail.partner.example");
        else if (keys[i].type == T_FILELIST)
            snprintf(line, sizeof line, ";%s = /etc/domauth/%s", keys[i].name, keys[i].name);
        else
            snprintf(line, sizeof line, ";%s = %s", keys[i].name, keys[i].default_value);
        emit(arg, line);
    }
}

size_t config_key_count(void)
{
    return sizeof keys / sizeof keys[0];
}

bool config_key_info(size_t i, const char **section, const char **name,
                     const char **default_value, bool *per_domain, bool *multiple)
{
    static const char *const names[] = {"daemon", "hosts", "policy", "dkim", "spf",
                                        "srs", "senderid", "dmarc", "arc", "web"};
    if (i >= sizeof keys / sizeof keys[0])
        return false;
    const key_spec *k = &keys[i];
    *section = names[k->section];
    *name = k->name;
    *default_value = k->default_value;
    *per_domain = k->section == S_POLICY;
    *multiple = is_list_key(names[k->section], k->name);
    return true;
}

size_t config_result_key_count(void)
{
    size_t n = 0;
    for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++)
        n += (size_t)methods[m]->count;
    return (n + 1) * (sizeof result_keys / sizeof result_keys[0]); /* + invalid_from */
}

static const char *result_default_value(const result_defaults *d, size_t k)
{
    const char *values[] = {d->action, d->reply, d->tag_subject, d->tag, d->score};
    return values[k];
}

bool config_result_key(size_t i, config_result_key_info *out)
{
    const size_t per = sizeof result_keys / sizeof result_keys[0];
    size_t row = i / per, k = i % per;
    memset(out, 0, sizeof *out);
    for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++) {
        const result_method *rm = methods[m];
        if (row < (size_t)rm->count) {
            out->section = rm->section;
            snprintf(out->name, sizeof out->name, "%s_%s", rm->name((int)row),
                     result_keys[k].suffix);
            snprintf(out->domain_name, sizeof out->domain_name, "%s_%s", rm->section, out->name);
            out->default_value = result_default_value(&rm->defaults[row], k);
            return true;
        }
        row -= (size_t)rm->count;
    }
    if (row > 0)
        return false;
    out->section = "policy";
    snprintf(out->name, sizeof out->name, "invalid_from_%s", result_keys[k].suffix);
    snprintf(out->domain_name, sizeof out->domain_name, "%s", out->name);
    out->default_value = result_default_value(&invalid_from_default, k);
    return true;
}

static bool type_editable(value_type type)
{
    switch (type) {
    case T_PATH: case T_DATASET: case T_DATABASE: case T_LISTEN: case T_HTTPLISTEN:
    case T_MODE: case T_IPLIST: case T_NAMELIST: case T_LOCALNETS: case T_ENVRULE:
    case T_FILELIST: case T_DKIMKEY: case T_FACILITY:
        return false;
    default:
        return true;
    }
}

bool config_key_editable(const char *section, const char *name)
{
    bool domain = strncmp(section, "domain ", 7) == 0;
    section_kind kind = S_POLICY;
    if (!domain && !section_kind_of(section, &kind))
        return false;
    if (kind != S_POLICY && kind != S_SPF && kind != S_DKIM && kind != S_SENDERID &&
        kind != S_DMARC && kind != S_ARC)
        return false;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (keys[i].section == kind && strcmp(keys[i].name, name) == 0)
            return type_editable(keys[i].type) && !is_list_key(section, name);
    config_result_key_info r;
    for (size_t i = 0; config_result_key(i, &r); i++) {
        if (domain ? strcmp(r.domain_name, name) == 0
                   : strcmp(r.section, section) == 0 && strcmp(r.name, name) == 0)
            return true;
    }
    return false;
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
        emit_keys(emit, arg, sections[s].kind);
        if (sections[s].kind == S_DKIM) {
            emit(arg, "");
            emit(arg, "; What each DKIM result does (none, pass, fail, neutral, policy,");
            emit(arg, "; temperror, permerror), the same keys as [spf]. With several signatures");
            emit(arg, "; the best result counts (one valid signature vouches for the message).");
            emit_method(emit, arg, &dkim_method);
        }
    }
    emit(arg, "");
    emit(arg, "; invalid_from_*: with identity = header_from, a message whose From: field");
    emit(arg, "; holds no parseable address, or that has more than one From: field (RFC 5322");
    emit(arg, "; allows one): it is never checked by another identity instead.");
    emit_result(emit, arg, "invalid_from", &invalid_from_default);
    emit(arg, "");
    emit(arg, "[spf]");
    emit(arg, "");
    emit(arg, "; What each SPF result does (none, neutral, pass, fail, softfail, temperror,");
    emit(arg, "; permerror). Every result's score adds to the message's one score, which");
    emit(arg, "; meets defer_threshold and reject_threshold in [policy].");
    for (size_t k = 0; k < sizeof result_keys / sizeof result_keys[0]; k++) {
        snprintf(line, sizeof line, ";   <result>_%s: %s", result_keys[k].suffix,
                 result_keys[k].doc);
        emit(arg, line);
    }
    emit_method(emit, arg, &spf_method);
    emit(arg, "");
    emit(arg, "[senderid]");
    emit_keys(emit, arg, S_SENDERID);
    emit(arg, "");
    emit(arg, "; What each Sender ID result does, the same results and keys as [spf].");
    emit_method(emit, arg, &senderid_method);
    emit(arg, "");
    emit(arg, "[dmarc]");
    emit_keys(emit, arg, S_DMARC);
    emit(arg, "");
    emit(arg, "; What each DMARC result does (none, pass, fail, temperror, permerror),");
    emit(arg, "; the same keys as [spf]; per domain as dmarc_<key>.");
    emit_method(emit, arg, &dmarc_method);
    emit(arg, "");
    emit(arg, "[arc]");
    emit_keys(emit, arg, S_ARC);
    emit(arg, "");
    emit(arg, "[web]");
    emit(arg, "");
    emit(arg, "; domauth-web, the administrator's console (domauth-web(8)): a process of its");
    emit(arg, "; own, which reads the database and acts through the control socket.");
    emit_keys(emit, arg, S_WEB);
    emit(arg, "");
    emit(arg, "[srs]");
    emit(arg, "");
    emit(arg, "; Sender Rewriting Scheme for mail forwarded off-site: a socketmap that");
    emit(arg, "; Postfix asks to rewrite senders (forward) and bounce recipients (reverse).");
    emit_keys(emit, arg, S_SRS);
    emit(arg, "");
    emit(arg, "; Per recipient domain: any [policy] key, and the [spf] and [dkim] result");
    emit(arg, "; keys as spf_<key> and dkim_<key>, overriding the global value.");
    emit(arg, ";[domain example.org]");
    emit(arg, ";monitor = no");
    emit(arg, ";spf_fail_action = reject");
    emit(arg, ";dkim_fail_score = 3");
    emit(arg, "; That domain's own servers (not checked for mail to it):");
    emit(arg, ";trusted = 203.0.113.0/28");
}
