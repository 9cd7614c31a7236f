/* service.h: one message check for every front end (milter, Postfix
 * policy delegation, domauth verify, and the XMail filter and check-auth
 * responder to come). Given the session facts and the message as it
 * arrives, it runs SPF and DKIM in parallel on the generic engine driver,
 * asks policy for the verdict over the results vector, and hands back what
 * the front end must tell its MTA: an action, a reply and the header edits
 * it can carry out. One event is written per message, after the final
 * verdict, saying what was actually done.
 *
 * Ownership: the front end owns the env and the config (both must outlive
 * every message); a svc_msg owns copies of every string it is given. Every
 * callback may run inside the call that started it (cached answers). */
#ifndef DA_SERVICE_H
#define DA_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "authres/results.h"
#include "config/config.h"
#include "domauth.h"
#include "domauth_dkim.h"
#include "policy/verdict.h"
#include "store/eventlog.h"
#include "store/quarantine_store.h"

struct uv_loop_s;

enum {
    /* RFC 5321 4.5.3.1: longest local-part, domain and path. */
    SVC_LOCAL_PART_MAX = 64,
    SVC_DOMAIN_MAX = 255,
    SVC_PATH_MAX = 256,
    /* Beyond this the header block is not kept for DKIM (its own result). */
    SVC_HEADER_BLOCK_MAX = 1024 * 1024,
    /* From: addresses checked one by one under identity = header_from. */
    SVC_FROM_ADDRESSES_MAX = 8, /* more is the invalid_from finding, not a partial check */
};

/* Latency histograms (domauthd's metrics endpoint): how long each check
 * of a message took, on the monotonic clock. Buckets by upper bound, not
 * cumulative; the last is everything above SVC_LATENCY_BOUNDS_US's last. */
enum { SVC_LATENCY_BUCKETS = 14 };
extern const uint64_t svc_latency_bounds_us[SVC_LATENCY_BUCKETS];
typedef enum svc_timing {
    SVC_TIME_SPF,      /* the message's SPF check: every identity, HELO first included */
    SVC_TIME_DKIM,     /* every signature's verification, key lookups included */
    SVC_TIME_SENDERID, /* the PRA's check */
    SVC_TIME_MESSAGE,  /* a checked message: what the MTA waited for, answers summed */
    SVC_TIMINGS
} svc_timing;
typedef struct svc_histogram {
    uint64_t bucket[SVC_LATENCY_BUCKETS + 1];
    uint64_t count;
    uint64_t sum_us;
} svc_histogram;

/* Counters an administrator reads with `domauth status`. */
typedef struct svc_counters {
    uint64_t messages;                  /* events written */
    uint64_t checked, skipped;
    uint64_t skipped_by[SKIP_REASON_COUNT]; /* by skip_reason (sender-whitelisted: checked) */
    uint64_t spf[SPF_RESULT_COUNT];     /* by da_spf_result */
    uint64_t dkim[DKIM_RESULT_COUNT];   /* by da_dkim_result, per signature */
    uint64_t dmarc[DMARC_RESULT_COUNT]; /* by da_dmarc_result, per From: domain */
    uint64_t accepted, tagged, deferred, rejected, held_back;
    uint64_t quarantined;               /* stored in the folder or held by the MTA */
    uint64_t quarantine_failures;       /* could not be stored (quarantine_failure applied) */
    uint64_t invalid_input;             /* over-long addresses, unusable From: */
    uint64_t errors;                    /* out of memory, engine failures */
    svc_histogram latency[SVC_TIMINGS];
} svc_counters;

/* Counts one duration in h. */
void svc_histogram_add(svc_histogram *h, uint64_t us);

/* What the front end shares between messages. */
typedef struct svc_env {
    struct uv_loop_s *loop;
    da_resolver *resolver;
    da_spf_record_cache *records;      /* may be NULL */
    da_dkim_key_cache *dkim_key_cache; /* may be NULL */
    eventlog *events;                  /* may be NULL: no event log */
    /* The quarantine folder (quarantine_mode = folder); NULL when none is
     * open, and then a folder quarantine is a failure (quarantine_failure). */
    quarantine *quarantine;
    svc_counters *counters;            /* may be NULL */
    /* Called with every event as it is written (tests, -f's stderr). */
    void (*on_event)(void *ctx, const event_record *record);
    void *event_ctx;
    void (*log)(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
} svc_env;

/* One configuration generation (a reload makes a new one). */
typedef struct svc_config {
    const domauth_config *config;
    const char *host_name;     /* this host's name: the last fallback below */
    /* authserv-id and Received-SPF receiver: config->authserv_id and
     * config->receiver when set, else the MTA's own name (svc_session
     * mta_name), else host_name. */
    da_dkim_key *const *dkim_keys; /* loaded from config->dkim_keys[i].path; NULL entries
                                    * are keys that could not be read */
} svc_config;

/* What the front end can carry out. */
typedef struct svc_caps {
    const char *listener;   /* "milter", "policy", "verify" */
    bool sees_message;      /* the header fields arrive (header From:, forged fields) */
    bool sees_body;         /* and the body, for DKIM */
    bool can_insert;        /* insert fields at the top (else appended) */
    bool can_change;        /* change and delete fields */
    unsigned max_added;     /* fields it can add; 0: any number */
    bool no_signing;        /* never sign (domauth verify holds no keys) */
    bool no_quarantine;     /* report a quarantine, keep no copy (domauth verify) */
    bool can_hold;          /* can put a message in the MTA's hold queue */
    bool can_redirect;      /* can replace the recipients (redirect_to) */
    bool no_discard;        /* cannot accept a message and drop it (XMail's SMTP
                             * filters): a folder quarantine told "accept" goes
                             * to redirect_to instead, else is refused, kept */
} svc_caps;

typedef struct svc_session {
    const char *client_ip;   /* NULL for a local submission without an address */
    const char *client_name;
    const char *helo;
    const char *auth_user;   /* SMTP AUTH login, NULL or "" when none */
    const char *mta_name;    /* the MTA's own host name (milter macro j), or NULL */
} svc_session;

/* What to tell the MTA. Valid during the callback only.
 * ACTION_QUARANTINE: with hold, put the message in the MTA's hold queue
 * (milter SMFIR_QUARANTINE, then accept with the edits; policy HOLD);
 * without, the copy is in the folder: discard it (milter SMFIR_DISCARD).
 * A folder quarantine with quarantine_reply = reply comes as ACTION_DEFER
 * or ACTION_REJECT with its reply: the front end just sends it.
 * ACTION_REDIRECT: deliver to redirect_to instead of the recipients (the
 * edits carry X-Domauth-Original-Recipients where fields can be added). */
typedef struct svc_reply {
    policy_action action;
    bool hold;
    const char *redirect_to;    /* ACTION_REDIRECT: the mailbox */
    const char *reply;          /* "550 5.7.23 text" for defer and reject */
    const header_edit *edits;   /* only what the front end can carry out */
    size_t edit_count;
    const verdict *verdict;
    const auth_results *results;
} svc_reply;

typedef void (*svc_reply_fn)(void *arg, const svc_reply *reply);

typedef struct svc_msg svc_msg;

svc_msg *svc_msg_new(const svc_env *env, const svc_config *config, const svc_caps *caps,
                     const svc_session *session);
/* Writes the event if it was not written yet (a transaction that ended
 * before its end of message: every recipient refused, RSET, a lost
 * connection), cancels checks still running, and frees. */
void svc_msg_free(svc_msg *m);

/* MAIL FROM, without angle brackets ("" for the null sender). An address
 * beyond RFC 5321's limits is kept whole (never cut) and reported. */
void svc_msg_mail_from(svc_msg *m, const char *address, size_t len);
void svc_msg_queue_id(svc_msg *m, const char *queue_id);

/* The decision at MAIL FROM: checks now when reply_stage = mail (and the
 * identity is MAIL FROM), else accepts. */
void svc_msg_check_mail(svc_msg *m, svc_reply_fn fn, void *arg);
/* The decision for a recipient: checks now when reply_stage = rcpt, or
 * always with force (policy delegation, which sees no message). */
void svc_msg_check_rcpt(svc_msg *m, const char *rcpt, size_t len, bool force, svc_reply_fn fn,
                        void *arg);

/* The message, as received: one header field at a time (value as on the
 * wire, folding kept), then the end of the header block, then the body. */
void svc_msg_header(svc_msg *m, const char *name, const char *value, size_t len);
void svc_msg_end_headers(svc_msg *m);
void svc_msg_body(svc_msg *m, const void *data, size_t len);
/* The final decision: every result, one score, the header edits; then
 * the event. */
void svc_msg_check_end(svc_msg *m, svc_reply_fn fn, void *arg);

/* For a front end with no end of message (policy delegation): write the
 * event now with what was decided. */
void svc_msg_finish(svc_msg *m);

/* The DKIM-Signature value made for this message, or NULL. */
const char *svc_msg_signature(const svc_msg *m);

/* The envelope as the service holds it: MAIL FROM ("" for the null
 * sender, NULL before it), and the recipients not refused so far (index
 * below svc_msg_accepted_count; NULL past the end). */
const char *svc_msg_sender(const svc_msg *m);
size_t svc_msg_accepted_count(const svc_msg *m);
const char *svc_msg_accepted(const svc_msg *m, size_t index);

#endif
