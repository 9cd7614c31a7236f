/* service.c: one message check; see service.h.
 *
 * A message moves through: envelope (MAIL, RCPT: SPF may run and decide
 * early when reply_stage says so), headers (From:, Subject:, forged fields,
 * the block kept for DKIM), body (streamed to DKIM), end (SPF if still due,
 * DKIM key lookups, both in parallel on the engine driver), then one
 * verdict over every result, the edits the front end can make, and the
 * event. */
#include "service.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>

#include "dns/driver.h"
#include "domauth_arc.h"
#include "domauth_dmarc.h"
#include "msg/address.h"
#include "msg/pra.h"
#include "spf/spf_internal.h"
#include "util/ip.h"
#include "util/strbuf.h"

typedef struct spf_job {
    svc_msg *m;
    da_spf_eval *eval;
    da_drive *drive;
    char *address;      /* the address checked (header From: identity) */
    bool helo_phase;    /* checking HELO first (check_helo) */
    bool helo_only;     /* the HELO check beside the From: ones (header_from) */
    bool done;
} spf_job;

/* One DMARC evaluation: one distinct From: domain. */
typedef struct dmarc_job {
    svc_msg *m;
    char *domain;
    da_dmarc_eval *eval;
    da_drive *drive;
    bool done;
} dmarc_job;

typedef struct rcpt_entry {
    char *address;
    const char *action; /* as done; NULL until decided */
    char *reply;
    bool refused;       /* deferred or rejected at RCPT */
} rcpt_entry;

typedef enum waiting {
    WAIT_NONE,
    WAIT_MAIL,
    WAIT_RCPT,
    WAIT_END,
} waiting;

struct svc_msg {
    const svc_env *env;
    const svc_config *cfg;
    svc_caps caps;
    /* session */
    char *client_ip, *client_name, *helo, *auth_user, *mta_name;
    char authserv_id[256], receiver[256];
    /* The client address as checked (IPv4-mapped IPv6 as IPv4), parsed
     * once: the skip, the signing decision and %{ip} all use it. */
    bool client_ok;
    ip_addr client;
    char client_ip_checked[IP_TEXT_MAX];
    svc_counters own_counters; /* when the front end keeps none */
    /* envelope */
    char *mail_from;
    char *queue_id;
    rcpt_entry *rcpts;
    size_t rcpt_count;
    const policy_settings *rcpt_ps; /* settings of the recipient being decided */
    /* headers */
    unsigned from_fields;
    char **from_addresses;  /* of the first From: field */
    bool from_invalid;
    char *subject;
    bool has_subject;
    unsigned authres_seen, score_seen;
    unsigned *forged_authres, *score_fields;
    const char *score_header; /* its name ("" for none), known at the first field */
    size_t forged_authres_count, score_field_count;
    strbuf header_block;
    bool headers_ended, header_block_too_long;
    /* DKIM */
    da_dkim_verify *verify;
    da_drive *dkim_drive;
    bool dkim_running, dkim_done;
    da_dkim_sign *signer;
    char *signature;
    /* ARC (RFC 8617): the chain, validated beside DKIM; and, when a trusted
     * sealer vouched for the message, why SPF or DMARC fails do not act. */
    da_arc_verify *arc;
    da_arc_seal *arc_sealer; /* [arc] seal: fed as the message arrives */
    da_drive *arc_drive;
    bool arc_running, arc_done, arc_results_in;
    char *arc_vouched;
    /* Sender ID (RFC 4406, pra scope): the fields RFC 4407's selection
     * reads, copied as they arrive; the check runs with DKIM. */
    struct sid_field {
        char *name, *value;
        size_t value_len;
    } *sid_fields;
    size_t sid_field_count, sid_field_bytes;
    bool sid_fields_overflow;
    da_spf_eval *sid_eval;
    da_drive *sid_drive;
    bool sid_running, sid_done, sid_results_in;
    pra_result sid_pra;
    bool sid_pra_made;
    /* DMARC (RFC 9989): after SPF and DKIM, one evaluation per distinct
     * domain of the From: field; or why there is none to make. */
    dmarc_job dmarc[SVC_FROM_ADDRESSES_MAX];
    size_t dmarc_count;
    bool dmarc_started, dmarc_results_in;
    const char *dmarc_no_from;
    /* While the end-of-message checks are being started: one that ends at
     * once (cached answers) must not decide before the others exist. */
    bool launching;
    /* SPF */
    spf_job spf[SVC_FROM_ADDRESSES_MAX + 1]; /* + the HELO beside header From: */
    size_t spf_count;
    bool spf_started, spf_done;
    const char *spf_identity; /* "mailfrom", "helo", "header_from" */
    skip_reason skip;
    /* the pending decision */
    waiting waiting;
    svc_reply_fn fn;
    void *fn_arg;
    /* the outcome */
    auth_results results;
    bool spf_results_in, dkim_results_in; /* their parts of results are built */
    verdict final;
    bool final_made;
    char *received_spf;
    bool event_written;
    const char *message_action;   /* as done at the end of the message */
    /* Quarantine (see "quarantine" below): the message as received,
     * streamed to the spool's tmp/ while a folder quarantine is possible;
     * what the sender is told once the final verdict quarantines. */
    spool_file *qfile;
    bool q_decided;          /* whether to stream was decided */
    char *q_error;           /* why there is no copy to commit, or NULL */
    bool rcpt_forced;        /* the front end decides at RCPT and has no end (policy) */
    bool told_set;           /* the final reply differs from the verdict's */
    policy_action told_action;
    bool told_hold;
    char *told_reply;        /* the reply sent, NULL for an accept */
    /* A reply callback may free the message: inside the service's own
     * calls the free waits until the outermost one returns. */
    unsigned depth;
    bool free_pending;
    /* Timings (monotonic microseconds; 0: not running): each check from
     * its start, and the MTA's wait from a check call to its answer. */
    uint64_t spf_began, dkim_began, sid_began, wait_began;
    uint64_t waited_us;
    bool waited;
};

static void really_free(svc_msg *m);

static void enter(svc_msg *m)
{
    m->depth++;
}

static void leave(svc_msg *m)
{
    if (--m->depth == 0 && m->free_pending)
        really_free(m);
}

static char *dup_n(const char *s, size_t n)
{
    if (s == NULL)
        return NULL;
    char *d = malloc(n + 1);
    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static char *dup_or_null(const char *s)
{
    return s ? dup_n(s, strlen(s)) : NULL;
}

static void say(const svc_msg *m, int priority, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(const svc_msg *m, int priority, const char *fmt, ...)
{
    if (m->env->log == NULL)
        return;
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    m->env->log(priority, "%s", text);
}

static svc_counters *counters(svc_msg *m)
{
    return m->env->counters ? m->env->counters : &m->own_counters;
}

/* Upper bounds, 1 ms to 20 s (spf_deadline_ms's default): DNS answers from
 * the cache take microseconds, a timeout seconds. */
const uint64_t svc_latency_bounds_us[SVC_LATENCY_BUCKETS] = {
    1000,   2500,   5000,    10000,   25000,   50000,   100000,
    250000, 500000, 1000000, 2500000, 5000000, 10000000, 20000000};

void svc_histogram_add(svc_histogram *h, uint64_t us)
{
    size_t i = 0;
    while (i < SVC_LATENCY_BUCKETS && us > svc_latency_bounds_us[i])
        i++;
    h->bucket[i]++;
    h->count++;
    h->sum_us += us;
}

/* CLOCK_MONOTONIC through the vDSO: no system call, never steps back. Never
 * 0, which marks "not running". */
static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u + 1;
}

/* Ends a timing begun at *began (if it was) in the histogram of t. */
static void time_end(svc_msg *m, uint64_t *began, svc_timing t)
{
    if (*began == 0)
        return;
    svc_histogram_add(&counters(m)->latency[t], now_us() - *began);
    *began = 0;
}

static void wait_begin(svc_msg *m)
{
    m->wait_began = now_us();
}

static void wait_end(svc_msg *m)
{
    if (m->wait_began == 0)
        return;
    m->waited_us += now_us() - m->wait_began;
    m->waited = true;
    m->wait_began = 0;
}

/* snprintf(dst, size, "%s", src) without printf's cost per message (some
 * 600 instructions each, callgrind): cut at size - 1 bytes as it would be. */
static void copy_name(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (n >= size)
        n = size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

svc_msg *svc_msg_new(const svc_env *env, const svc_config *cfg, const svc_caps *caps,
                     const svc_session *s)
{
    svc_msg *m = calloc(1, sizeof *m);
    if (m == NULL)
        return NULL;
    m->env = env;
    m->cfg = cfg;
    m->caps = *caps;
    m->client_ip = dup_or_null(s->client_ip);
    m->client_name = dup_or_null(s->client_name);
    m->helo = dup_or_null(s->helo);
    m->auth_user = s->auth_user && *s->auth_user ? dup_or_null(s->auth_user) : NULL;
    m->mta_name = s->mta_name && *s->mta_name ? dup_or_null(s->mta_name) : NULL;
    const domauth_config *c = cfg->config;
    const char *fallback = m->mta_name ? m->mta_name : cfg->host_name ? cfg->host_name : "localhost";
    copy_name(m->authserv_id, sizeof m->authserv_id,
              c->authserv_id && *c->authserv_id ? c->authserv_id : fallback);
    copy_name(m->receiver, sizeof m->receiver,
              c->receiver && *c->receiver ? c->receiver : fallback);
    m->mail_from = dup_or_null("");
    if (m->client_ip != NULL && ip_parse(m->client_ip, strlen(m->client_ip), &m->client)) {
        ip_unmap(&m->client);
        ip_format(&m->client, m->client_ip_checked);
        m->client_ok = true;
    }
    strbuf_init(&m->header_block);
    auth_results_init(&m->results);
    return m;
}

/* ------------------------------------------------------------ envelope */

static bool address_too_long(const char *a, size_t len)
{
    if (len > SVC_PATH_MAX - 2) /* the path's brackets count */
        return true;
    const char *at = NULL;
    for (size_t i = 0; i < len; i++)
        if (a[i] == '@')
            at = a + i;
    if (at == NULL)
        return len > SVC_DOMAIN_MAX;
    return (size_t)(at - a) > SVC_LOCAL_PART_MAX || len - (size_t)(at - a) - 1 > SVC_DOMAIN_MAX;
}

void svc_msg_mail_from(svc_msg *m, const char *address, size_t len)
{
    free(m->mail_from);
    m->mail_from = dup_n(address, len);
    if (address_too_long(address, len)) {
        counters(m)->invalid_input++;
        say(m, LOG_WARNING,
            "client %s: MAIL FROM of %zu bytes is beyond RFC 5321's limits (local-part 64, "
            "domain 255, path 256); checked whole",
            m->client_ip ? m->client_ip : "-", len);
    }
}

void svc_msg_queue_id(svc_msg *m, const char *queue_id)
{
    if (queue_id != NULL && *queue_id) {
        free(m->queue_id);
        m->queue_id = dup_or_null(queue_id);
    }
}

const char *svc_msg_sender(const svc_msg *m)
{
    return m->mail_from;
}

size_t svc_msg_accepted_count(const svc_msg *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->rcpt_count; i++)
        n += !m->rcpts[i].refused;
    return n;
}

const char *svc_msg_accepted(const svc_msg *m, size_t index)
{
    for (size_t i = 0; i < m->rcpt_count; i++)
        if (!m->rcpts[i].refused && index-- == 0)
            return m->rcpts[i].address;
    return NULL;
}

const char *svc_msg_signature(const svc_msg *m)
{
    return m->signature;
}

static const policy_settings *settings_for(const svc_msg *m, const char *rcpt)
{
    return config_settings_for(m->cfg->config, address_domain(rcpt));
}

/* The settings the message as a whole is judged by: its first recipient
 * that was not refused, else the first recipient, else the global ones. */
static const policy_settings *message_settings(const svc_msg *m)
{
    for (size_t i = 0; i < m->rcpt_count; i++)
        if (!m->rcpts[i].refused)
            return settings_for(m, m->rcpts[i].address);
    return m->rcpt_count ? settings_for(m, m->rcpts[0].address) : &m->cfg->config->global;
}

static bool dkim_expected(const svc_msg *m)
{
    return m->caps.sees_body && m->cfg->config->dkim_verify;
}

static bool senderid_expected(const svc_msg *m)
{
    return m->caps.sees_message && m->cfg->config->senderid_check;
}

static bool dmarc_expected(const svc_msg *m)
{
    return m->caps.sees_message && m->cfg->config->dmarc_check;
}

/* ARC can change a verdict only where trusted sealers are named. */
static bool arc_may_vouch(const svc_msg *m)
{
    return m->caps.sees_body && m->cfg->config->arc_check &&
           m->cfg->config->arc_trusted_sealers.count > 0;
}

/* ---------------------------------------------------------------- skip */

static skip_reason decide_skip(svc_msg *m, const policy_settings *ps)
{
    if (ps->skip_authenticated && m->auth_user != NULL)
        return SKIP_AUTHENTICATED;
    if (m->client_ip == NULL)
        return SKIP_LOCAL; /* a local submission: no client address */
    if (!m->client_ok)
        return SKIP_BAD_CLIENT_IP;
    client_facts facts = {
        .address = &m->client,
        .authenticated = m->auth_user != NULL,
        .name = m->client_name,
        .helo = m->helo,
    };
    return policy_skip(m->cfg->config, ps, &facts);
}

/* ----------------------------------------------------------------- SPF */

static void spf_done(void *arg);

static int spf_job_start(svc_msg *m, spf_job *job, const char *address, bool helo_phase)
{
    da_spf_request req = {
        .client_ip = m->client_ip,
        .mail_from = address,
        .helo = m->helo ? m->helo : "",
        .receiver = m->receiver,
        .now = (int64_t)time(NULL),
        .helo_identity = helo_phase,
        .records = m->env->records,
    };
    char err[256];
    job->m = m;
    job->helo_phase = helo_phase;
    job->done = false;
    job->eval = da_spf_eval_new(&req, err, sizeof err);
    if (job->eval == NULL) {
        say(m, LOG_WARNING, "cannot check client %s: %s", m->client_ip ? m->client_ip : "-", err);
        return -1;
    }
    /* The driver steps the evaluation itself: let each replay take what
     * the DNS cache holds at once, as da_spf_eval_start did, instead of a
     * step (a whole replay) per cached answer. */
    spf_eval_peek_at(job->eval, m->env->resolver);
    da_engine engine = da_engine_spf(job->eval);
    if (da_drive_start(m->env->loop, m->env->resolver, m->cfg->config->spf_deadline_ms,
                       &engine, spf_done, job, &job->drive) != 0) {
        da_spf_eval_abort(job->eval, "could not start the evaluation");
        job->done = true;
        counters(m)->errors++;
    }
    return 0;
}

static void continue_waiting(svc_msg *m);

static void spf_check_all(svc_msg *m)
{
    if (m->spf_done)
        return;
    for (size_t i = 0; i < m->spf_count; i++)
        if (!m->spf[i].done)
            return;
    m->spf_done = true;
    time_end(m, &m->spf_began, SVC_TIME_SPF);
    continue_waiting(m);
}

static void spf_job_done(spf_job *job);

static void spf_done(void *arg)
{
    spf_job *job = arg;
    svc_msg *m = job->m;
    enter(m);
    spf_job_done(job);
    leave(m);
}

static void spf_job_done(spf_job *job)
{
    svc_msg *m = job->m;
    if (job->helo_only) {
        job->done = true;
        spf_check_all(m);
        return;
    }
    /* A HELO that does not fail leaves the decision to the main identity
     * (RFC 7208 section 2.3). */
    if (job->helo_phase && da_spf_eval_result(job->eval) != DA_SPF_FAIL) {
        da_spf_eval_free(job->eval);
        job->eval = NULL;
        if (spf_job_start(m, job, m->mail_from, false) == 0)
            return; /* this callback runs again for the second check */
        job->done = true;
        spf_check_all(m);
        return;
    }
    if (job->helo_phase)
        m->spf_identity = "helo";
    job->done = true;
    spf_check_all(m);
}

/* Starts the SPF check of the configured identity (once per message). */
static void spf_start(svc_msg *m, const policy_settings *ps)
{
    if (m->spf_started)
        return;
    m->spf_started = true;
    m->spf_began = now_us();
    /* A front end that sees no header (policy delegation) checks MAIL
     * FROM: domauthd -t and the start-up log say so, and the event names
     * the identity checked. */
    if (ps->identity == IDENTITY_HEADER_FROM && m->caps.sees_message) {
        m->spf_identity = "header_from";
        if (m->from_invalid || m->from_fields != 1 || m->from_addresses == NULL) {
            /* Nothing to check: an invalid From: is its own finding
             * (never a fallback to another identity). */
            m->spf_done = true;
            return;
        }
        for (size_t i = 0; m->from_addresses[i] && i < SVC_FROM_ADDRESSES_MAX; i++) {
            spf_job *job = &m->spf[m->spf_count++];
            job->address = dup_or_null(m->from_addresses[i]);
        }
        /* check_helo: the HELO is checked too, at once; if it fails it
         * decides (RFC 7208 section 2.3), else the From: checks do. */
        if (ps->check_helo && m->helo && *m->helo) {
            spf_job *job = &m->spf[m->spf_count++];
            job->helo_only = true;
        }
        for (size_t i = 0; i < m->spf_count; i++)
            if (spf_job_start(m, &m->spf[i], m->spf[i].address, m->spf[i].helo_only) != 0)
                m->spf[i].done = true;
    } else {
        m->spf_identity = *m->mail_from ? "mailfrom" : "helo";
        spf_job *job = &m->spf[m->spf_count++];
        bool helo_first = ps->check_helo && m->helo && *m->helo && *m->mail_from;
        if (spf_job_start(m, job, m->mail_from, helo_first) != 0)
            job->done = true;
    }
    spf_check_all(m);
}

/* ---------------------------------------------------------- Sender ID */

static void senderid_done(void *arg)
{
    svc_msg *m = arg;
    enter(m);
    m->sid_done = true;
    time_end(m, &m->sid_began, SVC_TIME_SENDERID);
    continue_waiting(m);
    leave(m);
}

/* Selects the PRA and starts its check beside DKIM's. A message with no
 * PRA is ill-formed (RFC 4407 step 6): a permerror, without DNS. */
static void senderid_start(svc_msg *m)
{
    if (!senderid_expected(m) || m->sid_pra_made)
        return;
    m->sid_pra_made = true;
    memset(&m->sid_pra, 0, sizeof m->sid_pra);
    if (m->sid_fields_overflow) {
        m->sid_pra.outcome = PRA_BAD_MAILBOX;
        m->sid_pra.reason = "too many or too long header fields to select a PRA";
        return;
    }
    header_field *fields = calloc(m->sid_field_count ? m->sid_field_count : 1, sizeof *fields);
    if (fields == NULL) {
        m->sid_pra.outcome = PRA_BAD_MAILBOX;
        m->sid_pra.reason = "out of memory";
        counters(m)->errors++;
        return;
    }
    for (size_t i = 0; i < m->sid_field_count; i++)
        fields[i] = (header_field){m->sid_fields[i].name, strlen(m->sid_fields[i].name),
                                   m->sid_fields[i].value, m->sid_fields[i].value_len};
    int rc = pra_select(fields, m->sid_field_count, &m->sid_pra);
    free(fields);
    if (rc != 0)
        return;
    da_spf_request req = {
        .client_ip = m->client_ip,
        .mail_from = m->mail_from,
        .helo = m->helo ? m->helo : "",
        .receiver = m->receiver,
        .now = (int64_t)time(NULL),
        .records = m->env->records,
        .scope = DA_SPF_SCOPE_PRA,
        .pra = m->sid_pra.address,
    };
    char err[256];
    m->sid_eval = da_spf_eval_new(&req, err, sizeof err);
    if (m->sid_eval == NULL) {
        say(m, LOG_WARNING, "cannot check Sender ID for client %s: %s",
            m->client_ip ? m->client_ip : "-", err);
        counters(m)->errors++;
        return;
    }
    spf_eval_peek_at(m->sid_eval, m->env->resolver);
    da_engine engine = da_engine_spf(m->sid_eval);
    m->sid_running = true;
    m->sid_began = now_us();
    if (da_drive_start(m->env->loop, m->env->resolver, m->cfg->config->spf_deadline_ms,
                       &engine, senderid_done, m, &m->sid_drive) != 0) {
        da_spf_eval_abort(m->sid_eval, "could not start the evaluation");
        m->sid_done = true;
        counters(m)->errors++;
    }
}

/* -------------------------------------------------------------- DMARC */

static void dmarc_done(void *arg)
{
    dmarc_job *job = arg;
    svc_msg *m = job->m;
    enter(m);
    job->done = true;
    continue_waiting(m);
    leave(m);
}

static bool dmarc_all_done(const svc_msg *m)
{
    for (size_t i = 0; i < m->dmarc_count; i++)
        if (!m->dmarc[i].done)
            return false;
    return true;
}

/* The SPF identity DMARC aligns: the MAIL FROM check's domain (the HELO
 * when MAIL FROM is null, as SPF checks it), only when it passed. */
static const char *dmarc_spf_domain(const svc_msg *m)
{
    for (size_t i = 0; i < m->spf_count; i++) {
        const spf_job *job = &m->spf[i];
        if (job->eval == NULL || !job->done || job->helo_only)
            continue;
        if (strcmp(m->spf_identity, "header_from") == 0)
            return NULL; /* the From: addresses were checked, not MAIL FROM */
        if (strcmp(da_spf_eval_identity(job->eval), "mailfrom") == 0 &&
            da_spf_eval_result(job->eval) == DA_SPF_PASS)
            return da_spf_eval_domain(job->eval);
    }
    return NULL;
}

/* Starts one evaluation per distinct From: domain, once SPF and DKIM are
 * in (RFC 9989 needs both). A message whose From: gives no domain to judge
 * (none, several fields, an unparseable one) gets a permerror, not the
 * first address's verdict. */
static void dmarc_start(svc_msg *m)
{
    if (!dmarc_expected(m) || m->dmarc_started)
        return;
    m->dmarc_started = true;
    if (m->from_fields == 0) {
        m->dmarc_no_from = "no From: header field";
        return;
    }
    if (m->from_fields > 1) {
        m->dmarc_no_from = "more than one From: header field";
        return;
    }
    if (m->from_invalid || m->from_addresses == NULL || m->from_addresses[0] == NULL) {
        m->dmarc_no_from = "no parseable address in From:";
        return;
    }
    const char *dkim_domains[DA_DMARC_DKIM_DOMAINS_MAX];
    size_t dkim_count = 0;
    size_t n = m->verify != NULL && m->dkim_done ? da_dkim_verify_count(m->verify) : 0;
    for (size_t i = 0; i < n && dkim_count < DA_DMARC_DKIM_DOMAINS_MAX; i++) {
        da_dkim_signature_info info;
        if (da_dkim_verify_get(m->verify, i, &info) == 0 && info.result == DA_DKIM_PASS &&
            info.domain != NULL)
            dkim_domains[dkim_count++] = info.domain;
    }
    const char *spf_domain = dmarc_spf_domain(m);
    for (size_t i = 0; m->from_addresses[i] && i < SVC_FROM_ADDRESSES_MAX; i++) {
        const char *at = strrchr(m->from_addresses[i], '@');
        if (at == NULL || at[1] == '\0') {
            m->dmarc_no_from = "a From: address without a domain";
            break;
        }
        bool seen = false;
        for (size_t j = 0; j < m->dmarc_count; j++)
            seen = seen || strcasecmp(m->dmarc[j].domain, at + 1) == 0;
        if (seen)
            continue;
        dmarc_job *job = &m->dmarc[m->dmarc_count++];
        memset(job, 0, sizeof *job);
        job->m = m;
        job->domain = dup_or_null(at + 1);
        da_dmarc_request req = {
            .from_domain = job->domain,
            .spf_domain = spf_domain,
            .spf_pass = spf_domain != NULL,
            .dkim_domains = dkim_domains,
            .dkim_count = dkim_count,
            .mode = (da_dmarc_mode)m->cfg->config->dmarc_mode,
            .from_exists = -1,
            .pct_roll = arc4random_uniform(100),
        };
        char err[256];
        job->eval = job->domain ? da_dmarc_eval_new(&req, err, sizeof err) : NULL;
        if (job->eval == NULL) {
            /* Not a domain DMARC can look up: judged as no usable From:. */
            say(m, LOG_NOTICE, "client %s: no DMARC check of From: domain '%.100s': %s",
                m->client_ip ? m->client_ip : "-", job->domain ? job->domain : "?",
                job->domain ? err : "out of memory");
            job->done = true;
            continue;
        }
        da_engine engine = da_engine_dmarc(job->eval);
        if (da_drive_start(m->env->loop, m->env->resolver, m->cfg->config->spf_deadline_ms,
                           &engine, dmarc_done, job, &job->drive) != 0) {
            da_dmarc_eval_abort(job->eval, "could not start the evaluation");
            job->done = true;
            counters(m)->errors++;
        }
    }
}

/* --------------------------------------------------------------- DKIM */

static void arc_done(void *arg)
{
    svc_msg *m = arg;
    enter(m);
    m->arc_done = true;
    continue_waiting(m);
    leave(m);
}

static void dkim_done(void *arg)
{
    svc_msg *m = arg;
    enter(m);
    m->dkim_done = true;
    time_end(m, &m->dkim_began, SVC_TIME_DKIM);
    continue_waiting(m);
    leave(m);
}

/* Loopback, or a local submission with no client address. */
static bool is_loopback(const svc_msg *m)
{
    if (m->client_ip == NULL)
        return true;
    const ip_addr *a = &m->client;
    return m->client_ok &&
           ((a->family == 4 && a->bytes[0] == 127) ||
            (a->family == 6 && ip_prefix_equal(a->bytes, (const uint8_t[16]){[15] = 1}, 128)));
}

static bool should_sign(const svc_msg *m)
{
    const domauth_config *cfg = m->cfg->config;
    if (!cfg->dkim_sign || cfg->dkim_key_count == 0 || !m->caps.sees_body ||
        m->caps.no_signing || m->cfg->dkim_keys == NULL)
        return false;
    if (cfg->dkim_sign_authenticated && m->auth_user != NULL)
        return true;
    if (cfg->dkim_sign_loopback && is_loopback(m))
        return true;
    return cfg->dkim_sign_trusted && m->client_ok && ip_set_contains(&cfg->trusted, &m->client);
}

/* The key for the From: domain: the domain itself, a parent domain in the
 * table (d= that parent), or "*" (d= the From: domain). */
static int signing_key(const domauth_config *cfg, const char *from_domain, const char **d_domain)
{
    int star = -1;
    for (const char *d = from_domain; d != NULL && *d;
         d = strchr(d, '.') ? strchr(d, '.') + 1 : NULL) {
        for (size_t i = 0; i < cfg->dkim_key_count; i++) {
            if (strcasecmp(cfg->dkim_keys[i].domain, d) == 0) {
                *d_domain = cfg->dkim_keys[i].domain;
                return (int)i;
            }
        }
    }
    for (size_t i = 0; i < cfg->dkim_key_count; i++)
        if (strcmp(cfg->dkim_keys[i].domain, "*") == 0)
            star = (int)i;
    *d_domain = from_domain;
    return star;
}

static da_dkim_canon canon_of(const char *s)
{
    return strncmp(s, "relaxed", 7) == 0 ? DA_DKIM_RELAXED : DA_DKIM_SIMPLE;
}

/* [arc] seal: the sealer gets the message as it arrives; the chain's
 * status and our Authentication-Results are set at the end. */
static void arc_seal_begin(svc_msg *m)
{
    const domauth_config *cfg = m->cfg->config;
    int k = -1;
    for (size_t i = 0; i < cfg->dkim_key_count && k < 0; i++)
        if (strcasecmp(cfg->dkim_keys[i].domain, cfg->arc_seal_domain) == 0)
            k = (int)i;
    if (k < 0 || m->cfg->dkim_keys == NULL || m->cfg->dkim_keys[k] == NULL) {
        say(m, LOG_ERR, "not ARC-sealed: %s for [arc] seal_domain %s",
            k < 0 ? "no [dkim] key line" : "the key could not be read", cfg->arc_seal_domain);
        return;
    }
    da_arc_seal_options so = {
        .domain = cfg->dkim_keys[k].domain,
        .selector = cfg->dkim_keys[k].selector,
        .key = m->cfg->dkim_keys[k],
        .authres = "pending; none",
        .cv = DA_ARC_NONE,
        .timestamp = (int64_t)time(NULL),
    };
    char err[256];
    m->arc_sealer = da_arc_seal_new(&so, err, sizeof err);
    if (m->arc_sealer == NULL)
        say(m, LOG_WARNING, "not ARC-sealed: %s", err);
    else
        da_arc_seal_feed(m->arc_sealer, m->header_block.data, m->header_block.len);
}

static void dkim_begin(svc_msg *m)
{
    const domauth_config *cfg = m->cfg->config;
    if (!m->caps.sees_body || m->header_block_too_long)
        return;
    strbuf_puts(&m->header_block, "\r\n");
    if (m->header_block.failed) {
        m->header_block_too_long = true;
        return;
    }
    char err[256];
    if (should_sign(m)) {
        const char *from = m->from_addresses && m->from_fields == 1 ? m->from_addresses[0] : NULL;
        const char *from_domain = address_domain(from);
        const char *d_domain = NULL;
        int k = from_domain ? signing_key(cfg, from_domain, &d_domain) : -1;
        if (k >= 0 && m->cfg->dkim_keys[k] == NULL) {
            say(m, LOG_ERR, "not signed for %s: the key %s (line %u) could not be read",
                d_domain, cfg->dkim_keys[k].path, cfg->dkim_keys[k].line);
        } else if (k >= 0) {
            const char *slash = strchr(cfg->dkim_canon, '/');
            da_dkim_sign_options so = {
                .domain = d_domain,
                .selector = cfg->dkim_keys[k].selector,
                .key = m->cfg->dkim_keys[k],
                .header_canon = canon_of(cfg->dkim_canon),
                .body_canon = canon_of(slash ? slash + 1 : cfg->dkim_canon),
                .headers = cfg->dkim_headers && *cfg->dkim_headers ? cfg->dkim_headers : NULL,
                .timestamp = (int64_t)time(NULL),
            };
            m->signer = da_dkim_sign_new(&so, err, sizeof err);
            if (m->signer == NULL)
                say(m, LOG_WARNING, "cannot sign for %s: %s", d_domain, err);
            else
                da_dkim_sign_feed(m->signer, m->header_block.data, m->header_block.len);
        }
    }
    /* Our own outgoing mail is signed, not verified. */
    if (cfg->dkim_verify && m->signer == NULL) {
        da_dkim_verify_options vo = {
            .now = (int64_t)time(NULL),
            .key_cache = m->env->dkim_key_cache,
            .sha1 = cfg->dkim_sha1_neutral ? DA_DKIM_SHA1_NEUTRAL : DA_DKIM_SHA1_FAIL,
        };
        m->verify = da_dkim_verify_new(&vo, err, sizeof err);
        if (m->verify != NULL)
            da_dkim_verify_feed(m->verify, m->header_block.data, m->header_block.len);
        else
            counters(m)->errors++;
    }
    if (cfg->arc_check && m->signer == NULL) {
        da_arc_verify_options ao = {.key_cache = m->env->dkim_key_cache};
        m->arc = da_arc_verify_new(&ao, err, sizeof err);
        if (m->arc != NULL)
            da_arc_verify_feed(m->arc, m->header_block.data, m->header_block.len);
        else
            counters(m)->errors++;
    }
    if (m->arc != NULL && cfg->arc_seal && !m->caps.no_signing)
        arc_seal_begin(m);
    strbuf_free(&m->header_block);
}

/* ------------------------------------------------------------ headers */

static int push_index(unsigned **list, size_t *count, unsigned value)
{
    unsigned *bigger = realloc(*list, (*count + 1) * sizeof *bigger);
    if (bigger == NULL)
        return -1;
    *list = bigger;
    (*list)[(*count)++] = value;
    return 0;
}

static void keep_header(svc_msg *m, const char *name, const char *value, size_t len)
{
    if (!m->caps.sees_body || m->header_block_too_long)
        return;
    size_t before = m->header_block.len;
    strbuf_puts(&m->header_block, name);
    strbuf_putc(&m->header_block, ':');
    for (size_t i = 0; i < len; i++) {
        if (value[i] == '\n' && (i == 0 || value[i - 1] != '\r'))
            strbuf_putc(&m->header_block, '\r');
        strbuf_putc(&m->header_block, value[i]);
    }
    strbuf_puts(&m->header_block, "\r\n");
    if (m->header_block.len > SVC_HEADER_BLOCK_MAX || m->header_block.failed) {
        m->header_block_too_long = true;
        m->header_block.len = before;
        strbuf_free(&m->header_block);
    }
}

static void quarantine_stream_header(svc_msg *m, const char *name, const char *value,
                                     size_t len);
static void quarantine_stream(svc_msg *m, const void *data, size_t len);

/* The fields RFC 4407 section 2 reads: the resent blocks, Sender and From,
 * and the trace fields that separate resent blocks. */
static bool pra_relevant(const char *name)
{
    static const char *const names[] = {"Resent-Sender", "Resent-From", "Sender", "From",
                                        "Received", "Return-Path"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(name, names[i]) == 0)
            return true;
    return false;
}

static void keep_pra_field(svc_msg *m, const char *name, const char *value, size_t len)
{
    if (!senderid_expected(m) || m->sid_fields_overflow || !pra_relevant(name))
        return;
    /* Bounded as the header block is, in fields and in bytes together: a
     * flood of Received fields is no PRA to guess at, it is a permerror of
     * its own. */
    if (m->sid_field_count >= HEADER_BLOCK_FIELDS_MAX ||
        len > SVC_HEADER_BLOCK_MAX - m->sid_field_bytes) {
        m->sid_fields_overflow = true;
        return;
    }
    struct sid_field *n = realloc(m->sid_fields, (m->sid_field_count + 1) * sizeof *n);
    if (n == NULL) {
        m->sid_fields_overflow = true;
        return;
    }
    m->sid_fields = n;
    struct sid_field *f = &n[m->sid_field_count];
    f->name = dup_or_null(name);
    f->value = dup_n(value, len);
    f->value_len = len;
    if (f->name == NULL || f->value == NULL) {
        free(f->name);
        free(f->value);
        m->sid_fields_overflow = true;
        return;
    }
    m->sid_field_count++;
    m->sid_field_bytes += len;
}

void svc_msg_header(svc_msg *m, const char *name, const char *value, size_t len)
{
    keep_header(m, name, value, len);
    keep_pra_field(m, name, value, len);
    quarantine_stream_header(m, name, value, len);
    if (strcasecmp(name, "From") == 0) {
        m->from_fields++;
        if (m->from_fields == 1) {
            int n = header_mailboxes(value, len, SVC_FROM_ADDRESSES_MAX, &m->from_addresses);
            /* More addresses than are checked is a finding, never a check
             * of only some of them. */
            if (n <= 0 || n > SVC_FROM_ADDRESSES_MAX)
                m->from_invalid = true;
        }
    } else if (strcasecmp(name, "Subject") == 0 && !m->has_subject) {
        m->has_subject = true;
        const char *v = value;
        size_t n = len;
        while (n > 0 && (*v == ' ' || *v == '\t')) {
            v++;
            n--;
        }
        m->subject = dup_n(v, n);
    } else if (strcasecmp(name, "Authentication-Results") == 0) {
        m->authres_seen++;
        if (policy_authres_claims(value, len, m->authserv_id))
            push_index(&m->forged_authres, &m->forged_authres_count, m->authres_seen);
    }
    /* Our score header from outside is forged too, whatever it says. The
     * recipients are all known once headers come: its name is looked up
     * once. */
    if (m->score_header == NULL) {
        const char *h = message_settings(m)->score_header;
        m->score_header = h != NULL ? h : "";
    }
    const char *score_header = m->score_header;
    if (*score_header && strcasecmp(name, score_header) == 0) {
        m->score_seen++;
        push_index(&m->score_fields, &m->score_field_count, m->score_seen);
    }
}

void svc_msg_end_headers(svc_msg *m)
{
    if (m->headers_ended)
        return; /* a second end of headers changes nothing */
    m->headers_ended = true;
    quarantine_stream(m, "\r\n", 2);
    dkim_begin(m);
}

void svc_msg_body(svc_msg *m, const void *data, size_t len)
{
    if (len == 0)
        return;
    quarantine_stream(m, data, len);
    if (m->signer != NULL)
        da_dkim_sign_feed(m->signer, data, len);
    if (m->verify != NULL)
        da_dkim_verify_feed(m->verify, data, len);
    if (m->arc != NULL)
        da_arc_verify_feed(m->arc, data, len);
    if (m->arc_sealer != NULL)
        da_arc_seal_feed(m->arc_sealer, data, len);
}

/* ------------------------------------------------------------ results */

static void add_spf_result(svc_msg *m, const spf_job *job)
{
    auth_results *rs = &m->results;
    const da_spf_eval *ev = job->eval;
    da_spf_result r = da_spf_eval_result(ev);
    bool header_identity = strcmp(m->spf_identity, "header_from") == 0;
    bool helo = !header_identity && strcmp(da_spf_eval_identity(ev), "helo") == 0;
    const char *explanation = da_spf_eval_explanation(ev);
    auth_result *e = auth_results_add(rs, "spf", da_spf_result_name(r), NULL,
                                      da_spf_eval_domain(ev), da_spf_eval_mechanism(ev));
    char *comment = spf_result_comment(ev);
    auth_result_comment(rs, e, comment);
    free(comment);
    auth_result_explanation(rs, e, explanation ? explanation : da_spf_eval_problem(ev));
    if (e != NULL)
        e->sender = arena_strdup(&rs->memory, da_spf_eval_sender(ev));
    if (header_identity)
        auth_result_prop(rs, e, "header.from", da_spf_eval_sender(ev));
    else if (helo)
        auth_result_prop(rs, e, "smtp.helo", da_spf_eval_domain(ev));
    else
        auth_result_prop(rs, e, "smtp.mailfrom", da_spf_eval_sender(ev));
}

static void add_dkim_results(svc_msg *m)
{
    auth_results *rs = &m->results;
    if (m->header_block_too_long && m->caps.sees_body && m->cfg->config->dkim_verify &&
        m->signer == NULL && m->signature == NULL) {
        char why[96];
        snprintf(why, sizeof why, "header block over %d bytes: not verified",
                 SVC_HEADER_BLOCK_MAX);
        auth_result *e = auth_results_add(rs, "dkim", "permerror", NULL, NULL, NULL);
        auth_result_comment(rs, e, why);
        return;
    }
    if (m->verify == NULL || !m->dkim_done)
        return;
    size_t n = da_dkim_verify_count(m->verify);
    if (n == 0) {
        auth_results_add(rs, "dkim", "none", NULL, NULL, NULL);
        return;
    }
    /* Signatures past the verifier's bound (max_signatures) are not
     * evaluated: one counted comment, not a result each, so a flood of
     * bogus signatures neither bloats the header nor counts in policy. */
    size_t not_evaluated = 0;
    auth_result *last = NULL;
    for (size_t i = 0; i < n; i++) {
        da_dkim_signature_info info;
        if (da_dkim_verify_get(m->verify, i, &info) != 0)
            continue;
        if (info.result == DA_DKIM_PERMERROR && strncmp(info.reason, "not evaluated", 13) == 0) {
            not_evaluated++;
            continue;
        }
        auth_result *e = auth_results_add(rs, "dkim", da_dkim_result_name(info.result), NULL,
                                          info.domain, info.selector);
        char comment[600];
        if (info.key_bits > 0)
            snprintf(comment, sizeof comment, "%u-bit key; %s", info.key_bits, info.reason);
        else
            snprintf(comment, sizeof comment, "%s", info.reason);
        auth_result_comment(rs, e, comment);
        auth_result_explanation(rs, e, info.reason);
        auth_result_prop(rs, e, "header.d", info.domain);
        if (!(info.identity[0] == '@' && info.identity[1] == '\0'))
            auth_result_prop(rs, e, "header.i", info.identity);
        auth_result_prop(rs, e, "header.s", info.selector);
        auth_result_prop(rs, e, "header.a", info.algorithm);
        auth_result_prop(rs, e, "header.b", info.header_b);
        last = e;
    }
    if (not_evaluated > 0 && last != NULL) {
        char comment[700];
        snprintf(comment, sizeof comment, "%s; %zu more signatures not evaluated",
                 last->comment ? last->comment : "", not_evaluated);
        auth_result_comment(rs, last, comment);
    }
}

/* arc=CV (sealed by ...) header.oldest-pass=N smtp.remote-ip=IP. */
static void add_arc_result(svc_msg *m)
{
    if (m->arc == NULL || !m->arc_done)
        return;
    da_arc_result r;
    if (da_arc_verify_result(m->arc, &r) != 0)
        return;
    auth_results *rs = &m->results;
    auth_result *e = auth_results_add(rs, "arc", da_arc_cv_name(r.cv), NULL, NULL, NULL);
    strbuf comment;
    strbuf_init(&comment);
    size_t n = da_arc_verify_count(m->arc);
    for (size_t i = 0; i < n; i++) {
        da_arc_set_info info;
        if (da_arc_verify_get(m->arc, i, &info) != 0 || info.seal_domain == NULL ||
            !*info.seal_domain)
            continue;
        strbuf_puts(&comment, comment.len ? ", " : "sealed by ");
        strbuf_printf(&comment, "i=%u %s", info.instance, info.seal_domain);
    }
    if (r.cv != DA_ARC_PASS && r.reason && *r.reason)
        strbuf_printf(&comment, "%s%s", comment.len ? "; " : "", r.reason);
    if (comment.len && !comment.failed)
        auth_result_comment(rs, e, comment.data);
    strbuf_free(&comment);
    if (r.cv == DA_ARC_PASS) {
        char oldest[16];
        snprintf(oldest, sizeof oldest, "%u", r.oldest_pass);
        auth_result_prop(rs, e, "header.oldest-pass", oldest);
    }
    if (m->client_ip != NULL && r.cv != DA_ARC_NONE)
        auth_result_prop(rs, e, "smtp.remote-ip", m->client_ip);
}

/* Whether one clause of an ARC-Authentication-Results payload ("spf=pass
 * smtp.mailfrom=...") is a pass of spf, dkim or dmarc; the method in out. */
static bool clause_pass(const char *clause, size_t len, char *out, size_t out_size)
{
    while (len > 0 && (*clause == ' ' || *clause == '\t')) {
        clause++;
        len--;
    }
    static const char *const methods[] = {"spf", "dkim", "dmarc"};
    for (size_t k = 0; k < 3; k++) {
        size_t n = strlen(methods[k]);
        if (len >= n + 5 && strncasecmp(clause, methods[k], n) == 0 &&
            strncasecmp(clause + n, "=pass", 5) == 0 &&
            (len == n + 5 || clause[n + 5] == ' ' || clause[n + 5] == '(')) {
            snprintf(out, out_size, "%s", methods[k]);
            return true;
        }
    }
    return false;
}

/* A chain that passes, whose newest set sealed by a trusted sealer
 * recorded an spf, dkim or dmarc pass: the forwarder vouches that the
 * message authenticated when it arrived there, so a local SPF fail (or
 * softfail) or DMARC fail, which forwarding causes, takes no action. The
 * results stay as found; the reasons say who vouched. */
static void arc_vouch(svc_msg *m)
{
    if (!arc_may_vouch(m) || m->arc == NULL || !m->arc_done)
        return;
    da_arc_result r;
    if (da_arc_verify_result(m->arc, &r) != 0 || r.cv != DA_ARC_PASS)
        return;
    if (m->arc_vouched == NULL) {
        const name_list *trusted = &m->cfg->config->arc_trusted_sealers;
        for (size_t i = da_arc_verify_count(m->arc); i-- > 0;) {
            da_arc_set_info info;
            if (da_arc_verify_get(m->arc, i, &info) != 0 || info.seal_domain == NULL ||
                name_list_match(trusted, info.seal_domain, strlen(info.seal_domain)) == NULL)
                continue;
            /* Its clauses, split at ';' outside comments; the first is the
             * authserv-id. */
            const char *p = info.authres ? info.authres : "";
            const char *start = p;
            int depth = 0;
            bool first = true;
            char method[8] = "";
            for (;; p++) {
                if (*p == '(')
                    depth++;
                else if (*p == ')' && depth > 0)
                    depth--;
                if ((*p == ';' && depth == 0) || *p == '\0') {
                    if (!first && clause_pass(start, (size_t)(p - start), method, sizeof method))
                        break;
                    method[0] = '\0';
                    first = false;
                    start = p + 1;
                }
                if (*p == '\0')
                    break;
            }
            if (method[0]) {
                strbuf why;
                strbuf_init(&why);
                strbuf_printf(&why, "ARC set i=%u sealed by %s (trusted_sealers) recorded %s=pass",
                              info.instance, info.seal_domain, method);
                m->arc_vouched = why.failed ? NULL : strbuf_take(&why);
                strbuf_free(&why);
            }
            break; /* the newest trusted set decides */
        }
    }
    if (m->arc_vouched == NULL)
        return;
    auth_results *rs = &m->results;
    for (size_t i = 0; i < rs->count; i++) {
        auth_result *e = &rs->items[i];
        bool spf_failed = strcmp(e->method, "spf") == 0 &&
                          (strcmp(e->result, "fail") == 0 || strcmp(e->result, "softfail") == 0);
        bool dmarc_failed = strcmp(e->method, "dmarc") == 0 && strcmp(e->result, "fail") == 0;
        if (spf_failed || dmarc_failed)
            e->overridden = m->arc_vouched;
    }
}

/* sender-id=RESULT header.<field>=PRA; a message without a PRA is a
 * permerror naming the rule of RFC 4407 it breaks. */
static void add_senderid_result(svc_msg *m)
{
    if (!m->sid_pra_made)
        return;
    auth_results *rs = &m->results;
    if (m->sid_eval == NULL || !m->sid_done) {
        if (m->sid_pra.outcome == PRA_FOUND)
            return; /* the check could not run: an error counted, no result */
        auth_result *e = auth_results_add(rs, DA_SENDERID_AUTHRES_METHOD, "permerror", NULL,
                                          NULL, pra_outcome_name(m->sid_pra.outcome));
        char why[200];
        snprintf(why, sizeof why, "no PRA: %s", m->sid_pra.reason ? m->sid_pra.reason : "?");
        auth_result_comment(rs, e, why);
        auth_result_explanation(rs, e, why);
        return;
    }
    const da_spf_eval *ev = m->sid_eval;
    da_spf_result r = da_spf_eval_result(ev);
    auth_result *e = auth_results_add(rs, DA_SENDERID_AUTHRES_METHOD, da_spf_result_name(r),
                                      NULL, da_spf_eval_domain(ev), da_spf_eval_mechanism(ev));
    const char *explanation = da_spf_eval_explanation(ev);
    auth_result_explanation(rs, e, explanation ? explanation : da_spf_eval_problem(ev));
    char *comment = spf_result_comment(ev);
    auth_result_comment(rs, e, comment);
    free(comment);
    if (e != NULL)
        e->sender = arena_strdup(&rs->memory, m->sid_pra.address);
    char prop[32];
    snprintf(prop, sizeof prop, "header.%s", m->sid_pra.field ? m->sid_pra.field : "from");
    auth_result_prop(rs, e, prop, m->sid_pra.address);
}

/* "p=reject sp=none dis=quarantine t=y; policy of example.com": what the
 * record says and what applies, in the header's comment. */
static void dmarc_comment(const da_dmarc_eval *ev, char *out, size_t out_size)
{
    bool failed = da_dmarc_eval_result(ev) == DA_DMARC_FAIL;
    const da_dmarc_record *rec = da_dmarc_eval_record(ev);
    if (rec == NULL) {
        const char *problem = da_dmarc_eval_problem(ev);
        snprintf(out, out_size, "%s", problem ? problem : "no DMARC record");
        return;
    }
    strbuf sb;
    strbuf_init(&sb);
    strbuf_printf(&sb, "p=%s", da_dmarc_policy_name(rec->p));
    if (rec->has_sp)
        strbuf_printf(&sb, " sp=%s", da_dmarc_policy_name(rec->sp));
    if (rec->has_np)
        strbuf_printf(&sb, " np=%s", da_dmarc_policy_name(rec->np));
    /* dis: what the result asks for (a pass asks for nothing). */
    strbuf_printf(&sb, " dis=%s",
                  da_dmarc_policy_name(failed ? da_dmarc_eval_policy(ev) : DA_DMARC_POLICY_NONE));
    if (rec->testing)
        strbuf_puts(&sb, " t=y");
    strbuf_printf(&sb, "; policy of %s", da_dmarc_eval_policy_domain(ev));
    snprintf(out, out_size, "%s", sb.failed || sb.data == NULL ? "" : sb.data);
    strbuf_free(&sb);
}

/* The report URIs as one property value: the rua list without the blanks
 * RFC 9989 allows around its commas, and any byte a property value cannot
 * hold (a blank, a control, non-ASCII) as %XX, so it stays one word. */
static void put_uri_list(strbuf *sb, const char *list)
{
    bool first = true;
    for (const char *p = list; *p;) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n > 0) {
            if (!first)
                strbuf_putc(sb, ',');
            first = false;
            for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)p[i];
                if (c <= 0x20 || c >= 0x7f)
                    strbuf_printf(sb, "%%%02X", c);
                else
                    strbuf_putc(sb, (char)c);
            }
        }
        if (end == NULL)
            break;
        p = end + 1;
    }
}

/* What an aggregate report (RFC 9990) needs of one DMARC evaluation that
 * the header does not carry: the record as it applies (defaults filled
 * in), how it was found, the organizational domain, which identifiers
 * aligned and the report URIs. Kept in the event's props of the entry. */
static const char *dmarc_event_props(auth_results *rs, const da_dmarc_eval *ev)
{
    const da_dmarc_record *rec = da_dmarc_eval_record(ev);
    strbuf sb;
    strbuf_init(&sb);
    strbuf_printf(&sb, "dmarc.align.spf=%s dmarc.align.dkim=%s",
                  da_dmarc_eval_spf_aligned(ev) ? "pass" : "fail",
                  da_dmarc_eval_dkim_aligned(ev) ? "pass" : "fail");
    const char *org = da_dmarc_eval_org_domain(ev);
    if (org != NULL && *org)
        strbuf_printf(&sb, " dmarc.org=%s", org);
    strbuf_printf(&sb, " dmarc.discovery=%s", da_dmarc_eval_discovery(ev));
    if (rec != NULL) {
        da_dmarc_policy sp = rec->has_sp ? rec->sp : rec->p;
        da_dmarc_policy np = rec->has_np ? rec->np : sp;
        strbuf_printf(&sb, " dmarc.p=%s dmarc.sp=%s dmarc.np=%s dmarc.adkim=%s dmarc.aspf=%s",
                      da_dmarc_policy_name(rec->p), da_dmarc_policy_name(sp),
                      da_dmarc_policy_name(np), rec->adkim_strict ? "s" : "r",
                      rec->aspf_strict ? "s" : "r");
        strbuf_printf(&sb, " dmarc.t=%s dmarc.psd=%s", rec->testing ? "y" : "n",
                      rec->psd == DA_DMARC_PSD_Y   ? "y"
                      : rec->psd == DA_DMARC_PSD_N ? "n"
                                                   : "u");
        if (rec->has_pct)
            strbuf_printf(&sb, " dmarc.pct=%u", rec->pct);
        /* fo is a colon list of 0, 1, d, s: one word as published. */
        bool fo_ok = rec->fo[0] != '\0';
        for (const char *f = rec->fo; *f; f++)
            fo_ok = fo_ok && (isalnum((unsigned char)*f) || *f == ':');
        if (fo_ok)
            strbuf_printf(&sb, " dmarc.fo=%s", rec->fo);
        const char *tag = da_dmarc_eval_policy_tag(ev);
        strbuf_printf(&sb, " dmarc.policy=%s dmarc.applied=%s", tag ? tag : "p",
                      da_dmarc_policy_name(da_dmarc_eval_policy(ev)));
        if (da_dmarc_eval_softened(ev))
            strbuf_printf(&sb, " dmarc.softened=%s", rec->testing ? "testing" : "sampled");
        if (rec->rua[0]) {
            strbuf_puts(&sb, " dmarc.rua=");
            put_uri_list(&sb, rec->rua);
        }
    }
    const char *out = sb.failed || sb.data == NULL ? NULL : arena_strdup(&rs->memory, sb.data);
    strbuf_free(&sb);
    return out;
}

/* dmarc=RESULT (comment) header.from=DOMAIN policy.dmarc=... for each From:
 * domain; a message without one From: domain is a permerror naming why. */
static void add_dmarc_results(svc_msg *m)
{
    auth_results *rs = &m->results;
    if (m->dmarc_no_from != NULL) {
        auth_result *e = auth_results_add(rs, "dmarc", "permerror", NULL, NULL, NULL);
        auth_result_comment(rs, e, m->dmarc_no_from);
        auth_result_explanation(rs, e, m->dmarc_no_from);
        return;
    }
    for (size_t i = 0; i < m->dmarc_count; i++) {
        const dmarc_job *job = &m->dmarc[i];
        if (job->eval == NULL || !job->done)
            continue;
        const da_dmarc_eval *ev = job->eval;
        da_dmarc_result r = da_dmarc_eval_result(ev);
        const da_dmarc_record *rec = da_dmarc_eval_record(ev);
        auth_result *e = auth_results_add(rs, "dmarc", da_dmarc_result_name(r), NULL,
                                          job->domain, da_dmarc_eval_policy_domain(ev));
        char comment[600];
        dmarc_comment(ev, comment, sizeof comment);
        auth_result_comment(rs, e, comment);
        auth_result_explanation(rs, e, da_dmarc_eval_problem(ev));
        auth_result_prop(rs, e, "header.from", job->domain);
        if (e != NULL)
            e->event_props = dmarc_event_props(rs, ev);
        if (rec != NULL) {
            const char *applied = da_dmarc_policy_name(da_dmarc_eval_policy(ev));
            auth_result_prop(rs, e, "policy.dmarc", applied);
            auth_result_prop(rs, e, "policy.published-domain-policy",
                             da_dmarc_policy_name(rec->p));
            if (rec->has_sp)
                auth_result_prop(rs, e, "policy.published-subdomain-policy",
                                 da_dmarc_policy_name(rec->sp));
            if (e != NULL && r == DA_DMARC_FAIL)
                e->requested = arena_strdup(&rs->memory, applied);
        }
    }
}

/* The DMARC word for the event's column: the worst entry (fail, then the
 * errors, then none, then pass), as policy counts the worst. */
static const char *worst_dmarc(const auth_results *rs)
{
    static const char *const order[] = {"pass", "none", "permerror", "temperror", "fail"};
    int worst = -1;
    for (size_t i = 0; i < rs->count; i++) {
        if (strcmp(rs->items[i].method, "dmarc") != 0)
            continue;
        for (int k = 0; k < 5; k++)
            if (strcmp(rs->items[i].result, order[k]) == 0 && k > worst)
                worst = k;
    }
    return worst < 0 ? NULL : order[worst];
}

static void add_from_finding(svc_msg *m)
{
    size_t addresses = 0;
    for (char **a = m->from_addresses; a && *a; a++)
        addresses++;
    const char *what = m->from_fields == 0   ? "no From: header field"
                       : m->from_fields > 1  ? "more than one From: header field"
                       : addresses > SVC_FROM_ADDRESSES_MAX
                           ? "more From: addresses than are checked (8)"
                           : "no parseable address in From:";
    auth_result *e = auth_results_add(&m->results, "spf", "permerror", NULL, NULL, NULL);
    if (e == NULL)
        return;
    auth_result_comment(&m->results, e, what);
    auth_result_explanation(&m->results, e, what);
    auth_result_prop(&m->results, e, "policy.identity", "header_from");
    e->policy_as = "invalid_from";
}

static void add_spf_results(svc_msg *m)
{
    if (m->spf_identity != NULL && strcmp(m->spf_identity, "header_from") == 0 &&
        m->spf_count == 0)
        add_from_finding(m);
    const spf_job *helo_fail = NULL;
    for (size_t i = 0; i < m->spf_count; i++)
        if (m->spf[i].helo_only && m->spf[i].done && m->spf[i].eval != NULL &&
            da_spf_eval_result(m->spf[i].eval) == DA_SPF_FAIL)
            helo_fail = &m->spf[i];
    if (helo_fail != NULL)
        m->spf_identity = "helo";
    for (size_t i = 0; i < m->spf_count; i++) {
        if (m->spf[i].eval == NULL || !m->spf[i].done)
            continue;
        /* A failing HELO decides alone; one that does not fail says nothing. */
        if ((helo_fail != NULL && &m->spf[i] != helo_fail) ||
            (helo_fail == NULL && m->spf[i].helo_only))
            continue;
        add_spf_result(m, &m->spf[i]);
        if (m->received_spf == NULL) {
            const da_spf_eval *ev = m->spf[i].eval;
            m->received_spf = strcmp(m->spf_identity, "header_from") == 0
                                  ? spf_received_spf_as(ev, "header-from", m->mail_from)
                                  : da_spf_received_spf(ev);
        }
    }
}

/* The results vector, built once per part: SPF's entries (and Received-SPF)
 * when SPF is done, DKIM's when DKIM is; every decision after that reuses
 * them. */
static void build_results(svc_msg *m, bool with_dkim)
{
    if (!m->spf_results_in && m->spf_done) {
        m->spf_results_in = true;
        add_spf_results(m);
    }
    if (with_dkim && !m->dkim_results_in) {
        m->dkim_results_in = true;
        add_dkim_results(m);
    }
    if (with_dkim && !m->sid_results_in) {
        m->sid_results_in = true;
        add_senderid_result(m);
    }
    if (with_dkim && !m->dmarc_results_in && m->dmarc_started && dmarc_all_done(m)) {
        m->dmarc_results_in = true;
        add_dmarc_results(m);
    }
    if (with_dkim && !m->arc_results_in && m->arc_done) {
        m->arc_results_in = true;
        add_arc_result(m);
    }
    if (with_dkim)
        arc_vouch(m);
}

/* -------------------------------------------------------------- replies */

static bool edit_possible(const svc_msg *m, const header_edit *e, unsigned *added)
{
    /* A subject is tagged only where the fields are seen and can change:
     * elsewhere a second Subject: would be added. */
    if (strcasecmp(e->name, "Subject") == 0 && (!m->caps.can_change || !m->caps.sees_message))
        return false;
    if ((e->op == HEADER_CHANGE || e->op == HEADER_DELETE) && !m->caps.can_change)
        return false;
    if (e->op == HEADER_INSERT_TOP || e->op == HEADER_APPEND ||
        (e->op == HEADER_CHANGE && !m->caps.can_change)) {
        if (m->caps.max_added && *added >= m->caps.max_added)
            return false;
        (*added)++;
    }
    return true;
}

/* Drops the edits the front end cannot make, so the event records only
 * what was done: a subject tag that cannot be made is not a tag. */
static int edit_rank(const header_edit *e)
{
    /* Where only some fields can be added, the trace fields go first. */
    if (strcmp(e->name, "Received-SPF") == 0)
        return 0;
    if (strcmp(e->name, "Authentication-Results") == 0 && e->op != HEADER_DELETE)
        return 1;
    return 2;
}

static void keep_possible_edits(svc_msg *m, verdict *v)
{
    if (m->caps.max_added > 0) {
        /* A stable insertion sort by rank; there are a handful of edits. */
        for (size_t i = 1; i < v->edit_count; i++) {
            header_edit e = v->edits[i];
            size_t j = i;
            while (j > 0 && edit_rank(&v->edits[j - 1]) > edit_rank(&e)) {
                v->edits[j] = v->edits[j - 1];
                j--;
            }
            v->edits[j] = e;
        }
    }
    unsigned added = 0;
    size_t kept = 0;
    bool subject_kept = false;
    for (size_t i = 0; i < v->edit_count; i++) {
        header_edit *e = &v->edits[i];
        if (edit_possible(m, e, &added)) {
            if (strcmp(e->name, "Subject") == 0)
                subject_kept = true;
            v->edits[kept++] = *e;
        } else {
            free(e->value);
        }
    }
    v->edit_count = kept;
    if (v->tag_subject && !subject_kept) {
        /* Tagged already (no edit needed) stays a tag; otherwise not. */
        if (!policy_subject_tagged(m->subject, v->tag))
            v->tag_subject = false;
    }
}

static void make_verdict(svc_msg *m, const policy_settings *ps, bool final, bool with_message,
                         verdict *v)
{
    message_view view = {
        .forged_authres = m->forged_authres,
        .forged_authres_count = m->forged_authres_count,
        .score_fields = m->score_fields,
        .score_field_count = m->score_field_count,
        .has_subject = m->has_subject,
        .subject = m->subject,
        .signing = m->signer != NULL || m->signature != NULL,
        .signature = m->signature,
    };
    /* Until DKIM is in, its most negative score may still come: a
     * threshold acts early only if it would be reached even then. */
    double pending_min = 0;
    if (!final && dkim_expected(m)) {
        double lowest = 0;
        for (int r = 0; r < DKIM_RESULT_COUNT; r++)
            if (ps->dkim_results[r].score < lowest)
                lowest = ps->dkim_results[r].score;
        pending_min += lowest;
    }
    if (!final && senderid_expected(m)) {
        double lowest = 0;
        for (int r = 0; r < SENDERID_RESULT_COUNT; r++)
            if (ps->senderid_results[r].score < lowest)
                lowest = ps->senderid_results[r].score;
        pending_min += lowest;
    }
    if (!final && dmarc_expected(m)) {
        /* One entry per From: domain, the worst counting: one lowest. */
        double lowest = 0;
        for (int r = 0; r < DMARC_RESULT_COUNT; r++)
            if (ps->dmarc_results[r].score < lowest)
                lowest = ps->dmarc_results[r].score;
        pending_min += lowest;
    }
    verdict_input in = {
        .ps = ps,
        .pending_score_min = pending_min,
        .skip = m->skip,
        .results = &m->results,
        .authserv_id = m->authserv_id,
        .received_spf = m->received_spf,
        .message = with_message ? &view : NULL,
        .max_added = m->caps.max_added,
        .final = final,
        .client_ip = m->client_ip_checked[0] ? m->client_ip_checked : m->client_ip,
        .sender = m->mail_from,
    };
    policy_verdict(&in, v);
    if (v->failed)
        counters(m)->errors++;
    if (with_message)
        keep_possible_edits(m, v);
}

static void reply_with(svc_msg *m, svc_reply_fn fn, void *arg, const verdict *v)
{
    bool told = m->told_set && v == &m->final;
    policy_action action = told ? m->told_action : v->action;
    svc_reply r = {
        .action = action,
        .hold = told && m->told_hold,
        .redirect_to = action == ACTION_REDIRECT ? message_settings(m)->redirect_to : NULL,
        .reply = told                            ? m->told_reply
                 : v->action == ACTION_ACCEPT ||
                         v->action == ACTION_REDIRECT ? NULL
                                                      : v->reply,
        .edits = v->edits,
        .edit_count = v->edit_count,
        .verdict = v,
        .results = &m->results,
    };
    fn(arg, &r);
}

static rcpt_entry *add_rcpt(svc_msg *m, const char *rcpt, size_t len)
{
    rcpt_entry *bigger = realloc(m->rcpts, (m->rcpt_count + 1) * sizeof *bigger);
    if (bigger == NULL)
        return NULL;
    m->rcpts = bigger;
    rcpt_entry *e = &m->rcpts[m->rcpt_count];
    memset(e, 0, sizeof *e);
    e->address = dup_n(rcpt, len);
    if (e->address == NULL)
        return NULL;
    m->rcpt_count++;
    if (address_too_long(rcpt, len)) {
        counters(m)->invalid_input++;
        say(m, LOG_WARNING, "client %s: RCPT TO of %zu bytes is beyond RFC 5321's limits",
            m->client_ip ? m->client_ip : "-", len);
    }
    return e;
}

/* The early (MAIL or RCPT) decision, once SPF is in. */
static void decide_early(svc_msg *m)
{
    const policy_settings *ps = m->rcpt_ps ? m->rcpt_ps : &m->cfg->config->global;
    build_results(m, false);
    verdict v;
    /* Final only when nothing else can come (no DKIM result to wait for).
     * A front end that sees no message adds its fields now. */
    make_verdict(m, ps,
                 !dkim_expected(m) && !senderid_expected(m) && !dmarc_expected(m) &&
                     !arc_may_vouch(m),
                 !m->caps.sees_message, &v);
    /* A quarantine needs the message: where it comes, the end of DATA
     * carries it out and the recipient is accepted now; policy delegation
     * has no message and hands it to the MTA's hold queue. */
    bool no_end = m->rcpt_forced && !m->caps.sees_message; /* this answer is all */
    /* A redirect is carried out at the end of the message, where one comes
     * (the recipient is accepted now, as for a quarantine); policy
     * delegation answers REDIRECT now. */
    bool quarantined = v.action == ACTION_QUARANTINE ||
                       (v.action == ACTION_REDIRECT && !(no_end && m->caps.can_redirect));
    m->told_set = quarantined;
    m->told_action = ACTION_ACCEPT;
    m->told_hold = false;
    free(m->told_reply);
    m->told_reply = NULL;
    if (v.action == ACTION_REDIRECT) {
        /* Accepted now (the end carries it out), or, with no end and no
         * way to redirect, delivered as addressed: said in the reasons. */
        if (no_end)
            say(m, LOG_WARNING, "client %s: redirect to %s not possible here: delivered",
                m->client_ip ? m->client_ip : "-", ps->redirect_to);
    } else if (quarantined && no_end && m->caps.can_hold) {
        m->told_action = ACTION_QUARANTINE;
        m->told_hold = true;
    } else if (quarantined && no_end && !m->cfg->config->quarantine_failure_accept) {
        m->told_action = ACTION_DEFER; /* nowhere to keep it: never delivered instead */
        m->told_reply = dup_or_null("451 4.3.0 Message could not be kept; try again later");
    }
    if (m->waiting == WAIT_RCPT && m->rcpt_count > 0) {
        rcpt_entry *e = &m->rcpts[m->rcpt_count - 1];
        e->action = !quarantined        ? verdict_action_name(&v)
                    : v.action == ACTION_REDIRECT && no_end ? "accept"
                    : m->told_hold      ? "quarantine"
                    : m->told_reply     ? "defer"
                                        : "accept";
        e->refused = (v.action != ACTION_ACCEPT && v.action != ACTION_REDIRECT && !quarantined) ||
                     m->told_reply != NULL;
        if (e->refused)
            e->reply = dup_or_null(m->told_reply ? m->told_reply : v.reply);
    }
    /* The latest decision stands for the message until a later one: the
     * event of a transaction that ends here reports it. */
    if (m->final_made)
        verdict_free(&m->final);
    m->final = v;
    m->final_made = true;
    if (v.action != ACTION_ACCEPT && !quarantined && m->waiting == WAIT_MAIL)
        m->message_action = verdict_action_name(&m->final);
    if (v.action == ACTION_REDIRECT && no_end && m->caps.can_redirect)
        m->message_action = "redirect"; /* REDIRECT answers for the whole message */
    svc_reply_fn fn = m->fn;
    void *arg = m->fn_arg;
    m->waiting = WAIT_NONE;
    wait_end(m);
    reply_with(m, fn, arg, &m->final);
}

static void write_event(svc_msg *m);
static void quarantine_carry_out(svc_msg *m, const policy_settings *ps);
static void add_final_reason(svc_msg *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* redirect: the recipients the message had go with it, in a field (where
 * fields can be added) and in the event; a front end that cannot replace
 * recipients delivers as addressed, and the event says so. */
static void redirect_carry_out(svc_msg *m, const policy_settings *ps)
{
    if (m->final.action != ACTION_REDIRECT)
        return;
    if (!m->caps.can_redirect) {
        m->told_set = true;
        m->told_action = ACTION_ACCEPT;
        m->told_hold = false;
        free(m->told_reply);
        m->told_reply = NULL;
        m->message_action = "accept";
        add_final_reason(m, "redirect to %s not possible here: delivered as addressed",
                         ps->redirect_to);
        say(m, LOG_WARNING, "queue %s: redirect to %s not possible here: delivered",
            m->queue_id ? m->queue_id : "-", ps->redirect_to);
        return;
    }
    strbuf list;
    strbuf_init(&list);
    for (size_t i = 0; i < m->rcpt_count; i++) {
        if (m->rcpts[i].refused)
            continue;
        if (list.len > 0)
            strbuf_puts(&list, ", ");
        strbuf_printf(&list, "<%s>", m->rcpts[i].address);
    }
    if (list.len > 0 && m->caps.sees_message)
        verdict_add_field(&m->final, "X-Domauth-Original-Recipients", list.data);
    strbuf_free(&list);
    add_final_reason(m, "redirected to %s", ps->redirect_to);
}

/* Adds this host's ARC set above everything else we add, sealing the
 * Authentication-Results of this check and the chain's status as
 * validated here; only for a message that goes on (a refused one is not
 * forwarded). */
static void arc_seal_carry_out(svc_msg *m)
{
    da_arc_seal *sealer = m->arc_sealer;
    m->arc_sealer = NULL;
    if (sealer == NULL)
        return;
    verdict *v = &m->final;
    da_arc_result r;
    const char *authres = NULL;
    for (size_t i = 0; i < v->edit_count && authres == NULL; i++)
        if (v->edits[i].op != HEADER_DELETE &&
            strcasecmp(v->edits[i].name, "Authentication-Results") == 0)
            authres = v->edits[i].value;
    char err[256] = "";
    if (v->action == ACTION_DEFER || v->action == ACTION_REJECT || m->arc == NULL ||
        !m->arc_done || da_arc_verify_result(m->arc, &r) != 0 || authres == NULL) {
        if (authres == NULL && v->action != ACTION_DEFER && v->action != ACTION_REJECT)
            say(m, LOG_WARNING, "queue %s: not ARC-sealed: no Authentication-Results to seal",
                m->queue_id ? m->queue_id : "-");
        da_arc_seal_free(sealer);
        return;
    }
    if (r.cv == DA_ARC_FAIL && r.temporary) {
        /* Sealed cv=fail, the chain would be broken for good by a DNS
         * failure here: better no set of ours than a false one. */
        add_final_reason(m, "not ARC-sealed: the chain could not be validated now (%s)",
                         r.reason ? r.reason : "DNS");
        da_arc_seal_free(sealer);
        return;
    }
    /* The field's value as we add it, folded with LF: one line for the
     * AAR, whose payload the seal carries. */
    strbuf flat;
    strbuf_init(&flat);
    for (const char *p = authres; *p; p++) {
        if (*p == '\r')
            continue;
        if (*p == '\n') {
            strbuf_putc(&flat, ' ');
            while (p[1] == ' ' || p[1] == '\t')
                p++;
            continue;
        }
        strbuf_putc(&flat, *p);
    }
    char *fields = NULL;
    if (!flat.failed &&
        da_arc_seal_set_result(sealer, r.cv, flat.data, err, sizeof err) == 0)
        fields = da_arc_seal_finish(sealer, NULL, err, sizeof err);
    strbuf_free(&flat);
    da_arc_seal_free(sealer);
    if (fields == NULL) {
        say(m, LOG_WARNING, "queue %s: not ARC-sealed: %s", m->queue_id ? m->queue_id : "-",
            err[0] ? err : "out of memory");
        return;
    }
    /* Three fields, CRLF between them, folded with CRLF + blank: each
     * goes on top, the seal last so that it ends up first. */
    static const char *const names[3] = {"ARC-Seal", "ARC-Message-Signature",
                                         "ARC-Authentication-Results"};
    char *values[3] = {NULL, NULL, NULL};
    for (const char *p = fields; *p;) {
        const char *colon = strchr(p, ':');
        if (colon == NULL)
            break;
        int which = -1;
        for (int k = 0; k < 3; k++)
            if ((size_t)(colon - p) == strlen(names[k]) &&
                strncasecmp(p, names[k], strlen(names[k])) == 0)
                which = k;
        const char *q = colon + 1;
        while (*q == ' ')
            q++;
        strbuf val;
        strbuf_init(&val);
        for (; *q; q++) {
            if (q[0] == '\r' && q[1] == '\n' && q[2] != ' ' && q[2] != '\t')
                break; /* the next field */
            if (*q != '\r')
                strbuf_putc(&val, *q);
        }
        if (which >= 0 && values[which] == NULL && !val.failed)
            values[which] = strbuf_take(&val);
        strbuf_free(&val);
        p = *q ? q + 2 : q;
    }
    if (values[0] && values[1] && values[2]) {
        verdict_add_field(v, names[2], values[2]);
        verdict_add_field(v, names[1], values[1]);
        verdict_add_field(v, names[0], values[0]);
        add_final_reason(m, "ARC-sealed as %s (cv=%s)", m->cfg->config->arc_seal_domain,
                         da_arc_cv_name(r.cv));
    } else {
        say(m, LOG_ERR, "queue %s: not ARC-sealed: the sealer's fields did not parse",
            m->queue_id ? m->queue_id : "-");
    }
    for (int k = 0; k < 3; k++)
        free(values[k]);
    free(fields);
}

static void decide_end(svc_msg *m)
{
    const policy_settings *ps = message_settings(m);
    build_results(m, true);
    if (m->final_made)
        verdict_free(&m->final);
    make_verdict(m, ps, true, true, &m->final);
    m->final_made = true;
    m->message_action = verdict_action_name(&m->final);
    m->told_set = false;
    redirect_carry_out(m, ps);
    arc_seal_carry_out(m);
    /* The copy is on disk (or its fallback decided) before the event and
     * the reply. */
    quarantine_carry_out(m, ps);
    const char *sent = m->told_set ? m->told_reply
                       : m->final.action != ACTION_ACCEPT && m->final.action != ACTION_REDIRECT
                           ? m->final.reply
                           : NULL;
    for (size_t i = 0; i < m->rcpt_count; i++) {
        if (!m->rcpts[i].refused) {
            m->rcpts[i].action = m->message_action;
            if (sent != NULL) {
                free(m->rcpts[i].reply);
                m->rcpts[i].reply = dup_or_null(sent);
            }
        }
    }
    wait_end(m);
    /* The event before the reply: a log that says what the MTA is told. */
    write_event(m);
    svc_reply_fn fn = m->fn;
    void *arg = m->fn_arg;
    m->waiting = WAIT_NONE;
    reply_with(m, fn, arg, &m->final);
}

static void continue_waiting(svc_msg *m)
{
    if (m->launching)
        return;
    switch (m->waiting) {
    case WAIT_NONE:
        return;
    case WAIT_MAIL:
    case WAIT_RCPT:
        if (m->spf_done)
            decide_early(m);
        return;
    case WAIT_END:
        if (!m->spf_done || !(m->dkim_done || !m->dkim_running) ||
            !(m->sid_done || !m->sid_running) || !(m->arc_done || !m->arc_running))
            return;
        /* DMARC needs SPF's and DKIM's results: it starts now. One that
         * ends at once must not decide inside its own start. */
        if (dmarc_expected(m) && !m->dmarc_started) {
            m->launching = true;
            dmarc_start(m);
            m->launching = false;
        }
        if (dmarc_all_done(m))
            decide_end(m);
        return;
    }
}

static void accept_now(svc_msg *m, svc_reply_fn fn, void *arg)
{
    verdict v;
    memset(&v, 0, sizeof v);
    v.action = v.enforced = ACTION_ACCEPT;
    svc_reply r = {.action = ACTION_ACCEPT, .verdict = &v, .results = &m->results};
    fn(arg, &r);
}

void svc_msg_check_mail(svc_msg *m, svc_reply_fn fn, void *arg)
{
    const policy_settings *ps = &m->cfg->config->global;
    m->skip = decide_skip(m, ps); /* per decision: skips differ per domain */
    if (ps->stage != STAGE_MAIL || ps->identity != IDENTITY_MAILFROM || m->skip != SKIP_NONE) {
        accept_now(m, fn, arg);
        return;
    }
    m->rcpt_ps = ps;
    m->waiting = WAIT_MAIL;
    m->fn = fn;
    m->fn_arg = arg;
    wait_begin(m);
    enter(m);
    spf_start(m, ps);
    continue_waiting(m);
    leave(m);
}

static void check_rcpt(svc_msg *m, const char *rcpt, size_t len, bool force, svc_reply_fn fn,
                       void *arg);

void svc_msg_check_rcpt(svc_msg *m, const char *rcpt, size_t len, bool force, svc_reply_fn fn,
                        void *arg)
{
    enter(m);
    check_rcpt(m, rcpt, len, force, fn, arg);
    leave(m);
}

static void check_rcpt(svc_msg *m, const char *rcpt, size_t len, bool force, svc_reply_fn fn,
                       void *arg)
{
    m->rcpt_forced = force;
    rcpt_entry *e = add_rcpt(m, rcpt, len);
    const policy_settings *ps = settings_for(m, e ? e->address : NULL);
    m->skip = decide_skip(m, ps); /* per decision: skips differ per domain */
    /* reply_stage = mail in a [domain] section: the recipient's domain is
     * known only now, so RCPT is the earliest answer for it; after a MAIL
     * answer, each recipient is decided with its own settings. */
    bool now = force || (ps->stage != STAGE_DATA && ps->identity == IDENTITY_MAILFROM);
    if (!now || m->skip != SKIP_NONE || e == NULL) {
        if (e != NULL)
            e->action = m->skip != SKIP_NONE && !m->caps.sees_message ? "accept" : NULL;
        if (!m->caps.sees_message) {
            /* Policy delegation: this answer is all there will be. SPF is
             * not marked done: a later recipient may still need it. */
            m->rcpt_ps = ps;
            m->waiting = WAIT_RCPT;
            m->fn = fn;
            m->fn_arg = arg;
            decide_early(m);
            return;
        }
        accept_now(m, fn, arg);
        return;
    }
    m->rcpt_ps = ps;
    m->waiting = WAIT_RCPT;
    m->fn = fn;
    m->fn_arg = arg;
    wait_begin(m);
    spf_start(m, ps);
    continue_waiting(m);
}

static void check_end(svc_msg *m, svc_reply_fn fn, void *arg);

void svc_msg_check_end(svc_msg *m, svc_reply_fn fn, void *arg)
{
    enter(m);
    check_end(m, fn, arg);
    leave(m);
}

static void check_end(svc_msg *m, svc_reply_fn fn, void *arg)
{
    const policy_settings *ps = message_settings(m);
    m->skip = decide_skip(m, ps); /* per decision: skips differ per domain */
    if (!m->headers_ended)
        svc_msg_end_headers(m);
    if (m->signer != NULL) {
        char err[256];
        char *field = da_dkim_sign_finish(m->signer, err, sizeof err);
        if (field == NULL) {
            say(m, LOG_WARNING, "queue %s: not signed: %s", m->queue_id ? m->queue_id : "-",
                err);
        } else {
            const char *colon = strchr(field, ':');
            const char *value = colon ? colon + 1 : field;
            while (*value == ' ')
                value++;
            /* Folded by the signer with CRLF; header edits use bare LF. */
            strbuf v;
            strbuf_init(&v);
            for (const char *p = value; *p; p++)
                if (*p != '\r')
                    strbuf_putc(&v, *p);
            m->signature = strbuf_take(&v);
            free(field);
        }
        da_dkim_sign_free(m->signer);
        m->signer = NULL;
    }
    m->waiting = WAIT_END;
    m->fn = fn;
    m->fn_arg = arg;
    if (m->skip == SKIP_NONE) {
        wait_begin(m);
        /* SPF (if not made at MAIL or RCPT, or the identity is header
         * From:, known only now), DKIM and Sender ID in parallel. Any may
         * end inside its start (cached answers, nothing to look up): the
         * decision waits until all have started. */
        m->launching = true;
        if (m->verify != NULL) {
            da_dkim_verify_finish(m->verify);
            da_engine engine = da_engine_dkim(m->verify);
            m->dkim_running = true;
            m->dkim_began = now_us();
            if (da_drive_start(m->env->loop, m->env->resolver, m->cfg->config->spf_deadline_ms,
                               &engine, dkim_done, m, &m->dkim_drive) != 0) {
                counters(m)->errors++;
                m->dkim_running = false;
            }
        }
        if (m->arc != NULL) {
            da_arc_verify_finish(m->arc);
            da_engine engine = da_engine_arc(m->arc);
            m->arc_running = true;
            if (da_drive_start(m->env->loop, m->env->resolver, m->cfg->config->spf_deadline_ms,
                               &engine, arc_done, m, &m->arc_drive) != 0) {
                counters(m)->errors++;
                m->arc_running = false;
            }
        }
        senderid_start(m);
        spf_start(m, ps);
        m->launching = false;
        continue_waiting(m);
    } else {
        decide_end(m); /* skipped: nothing to wait for */
    }
}

/* ---------------------------------------------------------- quarantine
 *
 * A folder quarantine keeps the message exactly as received, so it is
 * streamed to the spool's tmp/ while it arrives, but only when this
 * message could be quarantined to the folder at all (the configuration
 * says so, the front end sees the body, the client is checked): no cost
 * otherwise. The final verdict commits the copy (synced, in new/, indexed)
 * before the event and the reply, or the free unlinks it. */

static void quarantine_start(svc_msg *m)
{
    m->q_decided = true;
    const policy_settings *ps = message_settings(m);
    if (!m->cfg->config->quarantine_possible || !m->caps.sees_body || m->caps.no_quarantine ||
        ps->quarantine_mode != QUARANTINE_FOLDER || !policy_settings_can_quarantine(ps) ||
        decide_skip(m, ps) != SKIP_NONE)
        return;
    char why[512];
    if (m->env->quarantine == NULL) {
        m->q_error = dup_or_null("no quarantine folder is open");
        return;
    }
    m->qfile = quarantine_begin(m->env->quarantine, (int64_t)time(NULL), why, sizeof why);
    if (m->qfile == NULL)
        m->q_error = dup_or_null(why);
}

static void quarantine_stream(svc_msg *m, const void *data, size_t len)
{
    if (!m->q_decided)
        quarantine_start(m);
    if (m->qfile != NULL)
        spool_file_write(m->qfile, data, len);
}

/* A field as on the wire: bare LF in a folded value becomes CRLF, as for
 * DKIM (keep_header). */
static void quarantine_stream_header(svc_msg *m, const char *name, const char *value,
                                     size_t len)
{
    if (!m->q_decided)
        quarantine_start(m);
    if (m->qfile == NULL)
        return;
    spool_file_write(m->qfile, name, strlen(name));
    spool_file_write(m->qfile, ":", 1);
    size_t from = 0;
    for (size_t i = 0; i < len; i++) {
        if (value[i] == '\n' && (i == 0 || value[i - 1] != '\r')) {
            spool_file_write(m->qfile, value + from, i - from);
            spool_file_write(m->qfile, "\r", 1);
            from = i;
        }
    }
    spool_file_write(m->qfile, value + from, len - from);
    spool_file_write(m->qfile, "\r\n", 2);
}

static void add_final_reason(svc_msg *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_final_reason(svc_msg *m, const char *fmt, ...)
{
    char *r = m->final.reasons;
    size_t len = strlen(r), size = sizeof m->final.reasons;
    if (len + 3 >= size)
        return;
    if (len > 0) {
        memcpy(r + len, "; ", 3);
        len += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r + len, size - len, fmt, ap);
    va_end(ap);
}

/* The folder's copy: facts from the envelope and the verdict. */
static int quarantine_store_copy(svc_msg *m, const char *told, char *id, size_t id_size,
                                 char *why, size_t why_size)
{
    const char **rcpts = calloc(m->rcpt_count + 1, sizeof *rcpts);
    char **results = calloc(m->results.count + 1, sizeof *results);
    int rc = -1;
    if (rcpts == NULL || results == NULL) {
        snprintf(why, why_size, "out of memory");
        goto out;
    }
    size_t nr = 0;
    for (size_t i = 0; i < m->rcpt_count; i++)
        if (!m->rcpts[i].refused)
            rcpts[nr++] = m->rcpts[i].address;
    for (size_t i = 0; i < m->results.count; i++) {
        const auth_result *e = &m->results.items[i];
        size_t n = strlen(e->method) + strlen(e->result) + 2;
        if ((results[i] = malloc(n)) == NULL) {
            snprintf(why, why_size, "out of memory");
            goto out;
        }
        snprintf(results[i], n, "%s=%s", e->method, e->result);
    }
    const auth_result *spf = auth_results_find(&m->results, "spf");
    spool_facts facts = {
        .time = (int64_t)time(NULL),
        .mail_from = m->mail_from,
        .rcpts = rcpts,
        .rcpt_count = nr,
        .client_ip = m->client_ip,
        .client_name = m->client_name,
        .helo = m->helo,
        .queue_id = m->queue_id,
        .domain = spf && spf->domain ? spf->domain : address_domain(m->mail_from),
        .results = (const char *const *)results,
        .result_count = m->results.count,
        .score = m->final.score,
        .verdict = "quarantine",
        .told = told,
        .reasons = m->final.reasons,
    };
    spool_file *f = m->qfile;
    m->qfile = NULL; /* the commit frees it, whatever happens */
    rc = quarantine_commit(m->env->quarantine, f, &facts, id, id_size, why, why_size);
out:
    for (size_t i = 0; results != NULL && i < m->results.count; i++)
        free(results[i]);
    free(results);
    free(rcpts);
    return rc;
}

/* The copy is kept, the sender is to be told "accept", and the MTA cannot
 * drop a message it accepted: its recipients are replaced with redirect_to
 * (the spam account) where the front end can, else the sender is refused
 * with the deciding reply ("rejected but kept"). Never delivered as
 * addressed: that would undo the quarantine. */
static void quarantine_undiscardable(svc_msg *m, const policy_settings *ps, const char *id)
{
    const char *fallback = "554 5.7.1 Message refused by policy and kept for review";
    if (ps->redirect_to != NULL && *ps->redirect_to && m->caps.can_redirect) {
        m->told_action = ACTION_REDIRECT;
        m->message_action = "quarantine";
        strbuf list;
        strbuf_init(&list);
        for (size_t i = 0; i < m->rcpt_count; i++) {
            if (m->rcpts[i].refused)
                continue;
            strbuf_printf(&list, "%s<%s>", list.len ? ", " : "", m->rcpts[i].address);
        }
        if (list.len > 0 && m->caps.sees_message)
            verdict_add_field(&m->final, "X-Domauth-Original-Recipients", list.data);
        strbuf_free(&list);
        add_final_reason(m, "quarantined as %s; sender told accept; delivered to %s instead of "
                         "the recipients (the MTA cannot drop a message)", id, ps->redirect_to);
        return;
    }
    const char *reply = m->final.reply[0] ? m->final.reply : fallback;
    m->told_action = reply[0] == '4' ? ACTION_DEFER : ACTION_REJECT;
    m->told_reply = dup_or_null(reply);
    add_final_reason(m, "quarantined as %s; sender told %s (the MTA cannot drop a message it "
                     "accepted, and no redirect_to is set)", id, reply);
}

/* Carries out a final quarantine verdict, deciding what the sender is
 * told (m->told_*), or drops the copy when the verdict is another. */
static void quarantine_carry_out(svc_msg *m, const policy_settings *ps)
{
    const domauth_config *cfg = m->cfg->config;
    verdict *v = &m->final;
    if (v->action != ACTION_QUARANTINE) {
        spool_file_abort(m->qfile);
        m->qfile = NULL;
        return;
    }
    m->told_set = true;
    m->told_hold = false;
    free(m->told_reply);
    m->told_reply = NULL;
    if (m->caps.no_quarantine) {
        m->told_action = ACTION_QUARANTINE;
        return;
    }
    char why[1024] = "";
    if (ps->quarantine_mode == QUARANTINE_HOLD || !m->caps.sees_body) {
        if (m->caps.can_hold) {
            m->told_action = ACTION_QUARANTINE;
            m->told_hold = true;
            add_final_reason(m, "held in the MTA's queue (%s)",
                             ps->quarantine_mode == QUARANTINE_HOLD ? "quarantine_mode hold"
                                                                    : "no message to keep");
            return;
        }
        snprintf(why, sizeof why, "%sthe MTA did not agree to hold messages (milter quarantine)",
                 ps->quarantine_mode == QUARANTINE_HOLD ? "" : "no body to keep, and ");
    } else if (m->qfile == NULL) {
        snprintf(why, sizeof why, "%s", m->q_error ? m->q_error : "no copy of the message");
    } else {
        /* A reply keeps its own class: 4xx is a defer, 5xx a reject. */
        bool reply = ps->quarantine_reply && v->reply[0] != '\0';
        char id[SPOOL_ID_MAX];
        int rc = quarantine_store_copy(m, reply ? v->reply : "accept", id, sizeof id, why,
                                       sizeof why);
        if (rc >= 0) {
            if (rc == 1)
                say(m, LOG_ERR, "quarantine: %s", why);
            if (!reply && m->caps.no_discard) {
                quarantine_undiscardable(m, ps, id);
                return;
            }
            m->told_action = !reply ? ACTION_QUARANTINE
                             : v->reply[0] == '4' ? ACTION_DEFER
                                                  : ACTION_REJECT;
            m->told_reply = reply ? dup_or_null(v->reply) : NULL;
            add_final_reason(m, "quarantined as %s; sender told %s", id,
                             reply ? v->reply : "accept");
            return;
        }
    }
    /* Never accepted and dropped without a copy: the fallback the site
     * chose, and a line naming the path and the error. */
    counters(m)->quarantine_failures++;
    say(m, LOG_ERR, "quarantine of queue %s from <%s> failed: %s; %s",
        m->queue_id ? m->queue_id : "-", m->mail_from ? m->mail_from : "", why,
        cfg->quarantine_failure_accept ? "delivered (quarantine_failure = accept)"
                                       : "deferred (quarantine_failure = tempfail)");
    if (cfg->quarantine_failure_accept) {
        m->told_action = ACTION_ACCEPT;
        m->message_action = "accept";
        add_final_reason(m, "quarantine failed: %s; delivered (quarantine_failure accept)", why);
    } else {
        m->told_action = ACTION_DEFER;
        m->told_reply = dup_or_null("451 4.3.0 Message could not be kept; try again later");
        m->message_action = "defer";
        add_final_reason(m, "quarantine failed: %s; deferred (quarantine_failure tempfail)", why);
    }
}

/* --------------------------------------------------------------- event */

/* The message's results, counted once, as the event records them. */
static void count_results(const svc_msg *m, svc_counters *c)
{
    for (size_t i = 0; i < m->results.count; i++) {
        const auth_result *e = &m->results.items[i];
        if (e->policy_as != NULL) {
            c->invalid_input++;
            continue;
        }
        if (strcmp(e->method, "dmarc") == 0) {
            for (int r = 0; r < DMARC_RESULT_COUNT; r++)
                if (strcmp(e->result, da_dmarc_result_name((da_dmarc_result)r)) == 0)
                    c->dmarc[r]++;
            continue;
        }
        bool spf = strcmp(e->method, "spf") == 0;
        for (int r = 0; r < (spf ? SPF_RESULT_COUNT : DKIM_RESULT_COUNT); r++) {
            const char *name = spf ? da_spf_result_name((da_spf_result)r)
                                   : da_dkim_result_name((da_dkim_result)r);
            if (strcmp(e->result, name) == 0) {
                if (spf)
                    c->spf[r]++;
                else if (strcmp(e->method, "dkim") == 0)
                    c->dkim[r]++;
                break;
            }
        }
    }
    if (m->results.failed)
        c->errors++;
}

static void write_event(svc_msg *m)
{
    if (m->event_written)
        return;
    m->event_written = true;
    svc_counters *c = counters(m);
    c->messages++;
    count_results(m, c);
    if (!m->final_made) {
        /* Ended before any decision (RSET, or every recipient refused
         * before anything was checked). */
        build_results(m, false);
    }
    const verdict *v = m->final_made ? &m->final : NULL;
    if (m->skip != SKIP_NONE)
        c->skipped++;
    else
        c->checked++;
    if (m->skip == SKIP_NONE && m->waited)
        svc_histogram_add(&c->latency[SVC_TIME_MESSAGE], m->waited_us);
    skip_reason why = v != NULL && v->skip != SKIP_NONE ? v->skip : m->skip;
    if (why != SKIP_NONE)
        c->skipped_by[why]++;
    const char *action = m->message_action;
    if (action == NULL) {
        /* No message-level action (no end of message was seen): accepted
         * when some recipient accepted it, else the strongest refusal. */
        static const char *const order[] = {"accept", "tag", "quarantine", "defer", "reject"};
        int accepted = -1, refused = -1;
        for (size_t i = 0; i < m->rcpt_count; i++) {
            for (int k = 0; k < 5 && m->rcpts[i].action != NULL; k++) {
                if (strcmp(m->rcpts[i].action, order[k]) != 0)
                    continue;
                if (k < 3 && k > accepted)
                    accepted = k;
                if (k >= 3 && k > refused)
                    refused = k;
            }
        }
        action = accepted >= 0 ? order[accepted] : refused >= 0 ? order[refused] : "accept";
    }
    if (v != NULL && v->monitor && v->enforced != ACTION_ACCEPT)
        c->held_back++;
    if (strcmp(action, "reject") == 0)
        c->rejected++;
    else if (strcmp(action, "defer") == 0)
        c->deferred++;
    else if (strcmp(action, "tag") == 0)
        c->tagged++;
    else if (strcmp(action, "quarantine") == 0)
        c->quarantined++;
    else
        c->accepted++;
    if (m->env->events == NULL && m->env->on_event == NULL)
        return;

    size_t nres = m->results.count;
    event_result *res = calloc(nres ? nres : 1, sizeof *res);
    char **props = calloc(nres ? nres : 1, sizeof *props);
    event_rcpt *rc = calloc(m->rcpt_count ? m->rcpt_count : 1, sizeof *rc);
    if (res == NULL || props == NULL || rc == NULL) {
        c->errors++;
        free(res);
        free(props);
        free(rc);
        return;
    }
    for (size_t i = 0; i < nres; i++) {
        const auth_result *e = &m->results.items[i];
        strbuf sb;
        strbuf_init(&sb);
        for (size_t k = 0; k < e->prop_count; k++)
            strbuf_printf(&sb, "%s%s=%s", k ? " " : "", e->props[k].name, e->props[k].value);
        if (e->event_props != NULL)
            strbuf_printf(&sb, "%s%s", sb.len ? " " : "", e->event_props);
        /* Why the entry took no action (a trusted ARC sealer vouched), for
         * the report's override reason. */
        if (e->overridden != NULL)
            strbuf_printf(&sb, "%soverride=trusted_forwarder", sb.len ? " " : "");
        props[i] = strbuf_take(&sb);
        res[i] = (event_result){e->method, e->result, e->domain, e->detail,
                                e->explanation ? e->explanation : e->comment, props[i]};
    }
    for (size_t i = 0; i < m->rcpt_count; i++)
        rc[i] = (event_rcpt){m->rcpts[i].address,
                             m->rcpts[i].action ? m->rcpts[i].action : "accept",
                             m->rcpts[i].reply};
    const auth_result *spf = auth_results_find(&m->results, "spf");
    const char *held = NULL;
    if (v != NULL && v->monitor && v->enforced != ACTION_ACCEPT)
        held = policy_action_name(v->enforced);
    const char *header_from = m->from_addresses && m->from_fields == 1 ? m->from_addresses[0]
                                                                        : NULL;
    event_record rec = {
        .time = (int64_t)time(NULL),
        .listener = m->caps.listener,
        .queue_id = m->queue_id,
        .client_ip = m->client_ip,
        .client_name = m->client_name,
        .helo = m->helo,
        .mail_from = m->mail_from ? m->mail_from : "",
        .rcpt = m->rcpt_count ? m->rcpts[0].address : NULL,
        .header_from = header_from,
        .identity = spf ? m->spf_identity : NULL,
        .domain = spf ? spf->domain : NULL,
        .result = spf ? spf->result : NULL,
        .mechanism = spf ? spf->detail : NULL,
        .problem = spf && (strcmp(spf->result, "permerror") == 0 ||
                           strcmp(spf->result, "temperror") == 0)
                       ? spf->explanation
                       : NULL,
        /* whitelist_from is known once results are: the verdict's. */
        .skip_reason = skip_reason_name(v != NULL && v->skip != SKIP_NONE ? v->skip : m->skip),
        .score = v ? v->score : 0,
        .action = action,
        .held_action = held,
        .reply = m->told_set && v == &m->final ? m->told_reply
                 : v && v->enforced != ACTION_ACCEPT && v->enforced != ACTION_REDIRECT
                     ? v->reply
                     : NULL,
        .reasons = v && v->reasons[0] ? v->reasons : NULL,
        .dmarc = worst_dmarc(&m->results),
        .results = res,
        .result_count = nres,
        .rcpts = rc,
        .rcpt_count = m->rcpt_count,
    };
    if (m->env->events != NULL)
        eventlog_write(m->env->events, &rec);
    if (m->env->on_event != NULL)
        m->env->on_event(m->env->event_ctx, &rec);
    for (size_t i = 0; i < nres; i++)
        free(props[i]);
    free(props);
    free(res);
    free(rc);
}

void svc_msg_finish(svc_msg *m)
{
    write_event(m);
}

void svc_msg_free(svc_msg *m)
{
    if (m == NULL)
        return;
    if (m->rcpt_count > 0 || m->final_made)
        write_event(m);
    if (m->depth > 0) {
        m->free_pending = true;
        return;
    }
    really_free(m);
}

static void really_free(svc_msg *m)
{
    for (size_t i = 0; i < m->spf_count; i++) {
        da_drive_cancel(m->spf[i].drive);
        da_spf_eval_free(m->spf[i].eval);
        free(m->spf[i].address);
    }
    da_drive_cancel(m->dkim_drive);
    da_dkim_verify_free(m->verify);
    da_drive_cancel(m->arc_drive);
    da_arc_verify_free(m->arc);
    da_arc_seal_free(m->arc_sealer);
    free(m->arc_vouched);
    da_drive_cancel(m->sid_drive);
    da_spf_eval_free(m->sid_eval);
    for (size_t i = 0; i < m->dmarc_count; i++) {
        da_drive_cancel(m->dmarc[i].drive);
        da_dmarc_eval_free(m->dmarc[i].eval);
        free(m->dmarc[i].domain);
    }
    for (size_t i = 0; i < m->sid_field_count; i++) {
        free(m->sid_fields[i].name);
        free(m->sid_fields[i].value);
    }
    free(m->sid_fields);
    da_dkim_sign_free(m->signer);
    free(m->signature);
    spool_file_abort(m->qfile);
    free(m->q_error);
    free(m->told_reply);
    for (size_t i = 0; i < m->rcpt_count; i++) {
        free(m->rcpts[i].address);
        free(m->rcpts[i].reply);
    }
    free(m->rcpts);
    address_list_free(m->from_addresses);
    free(m->subject);
    free(m->forged_authres);
    free(m->score_fields);
    strbuf_free(&m->header_block);
    auth_results_free(&m->results);
    if (m->final_made)
        verdict_free(&m->final);
    free(m->received_spf);
    free(m->client_ip);
    free(m->client_name);
    free(m->helo);
    free(m->auth_user);
    free(m->mta_name);
    free(m->mail_from);
    free(m->queue_id);
    free(m);
}
