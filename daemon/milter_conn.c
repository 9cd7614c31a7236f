/* milter_conn.c: a milter session with Postfix or Sendmail, natively on the
 * loop. Frames are decoded by src/milter; this file keeps the SMTP state,
 * asks for SPF checks at the configured stage, verifies and signs DKIM, and
 * turns decisions into milter replies and header edits.
 *
 * The end of a message runs in order: DKIM key lookups (verification), the
 * SPF check if it was not made earlier, then one finishing step that adds
 * the DKIM results to the score and writes headers and the reply. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>

#include "domauth_dkim.h"
#include "domauthd.h"
#include "proto/milter.h"
#include "msg/address.h"

enum {
    MAX_FORGED = 32,
    MAX_HEADER_BLOCK = 1024 * 1024, /* beyond this DKIM gives up on the message */
};

/* DKIM verification of one message. It outlives the session if the
 * connection closes while key lookups are out: the last answer frees it. */
typedef struct dkim_job {
    conn *c;
    da_dkim_verify *verify;
    unsigned outstanding;
    bool stepping, progressed, done, abandoned;
} dkim_job;

typedef struct milter_state {
    milter_decoder decoder;
    milter_optneg agreed;
    bool negotiated;
    bool dkim_stream;   /* negotiated to receive the body and exact headers */
    bool leading_space; /* SMFIP_HDR_LEADSPC: values keep their leading space */
    /* connection */
    char *client_ip, *client_name, *helo;
    /* macros of the command in progress */
    char *macro_auth, *macro_queue_id;
    /* message */
    char *mail_from, *queue_id, *first_rcpt, *header_from, *subject;
    bool authenticated;
    bool spf_decided;   /* an SPF decision for this message is in `spf` */
    decision spf;       /* the first accepting SPF decision (headers, score) */
    unsigned authres_seen;
    unsigned forged[MAX_FORGED];
    unsigned forged_count;
    strbuf headers;     /* the header block as received, CRLF lines */
    bool headers_too_long;
    dkim_job *dkim;
    da_dkim_sign *signer;
    char *signature;    /* DKIM-Signature value to insert */
    char waiting_for;   /* the command whose reply waits */
} milter_state;

static void set_str(char **slot, const char *value)
{
    free(*slot);
    *slot = value ? strdup(value) : NULL;
}

static void dkim_job_release(dkim_job *job);

static void message_reset(milter_state *m)
{
    set_str(&m->mail_from, NULL);
    set_str(&m->queue_id, NULL);
    set_str(&m->first_rcpt, NULL);
    set_str(&m->header_from, NULL);
    set_str(&m->subject, NULL);
    set_str(&m->signature, NULL);
    m->authenticated = false;
    if (m->spf_decided)
        decision_free(&m->spf);
    m->spf_decided = false;
    m->authres_seen = 0;
    m->forged_count = 0;
    strbuf_free(&m->headers);
    m->headers_too_long = false;
    da_dkim_sign_free(m->signer);
    m->signer = NULL;
    if (m->dkim != NULL) {
        dkim_job_release(m->dkim);
        m->dkim = NULL;
    }
}

static void connection_reset(milter_state *m)
{
    message_reset(m);
    set_str(&m->client_ip, NULL);
    set_str(&m->client_name, NULL);
    set_str(&m->helo, NULL);
    set_str(&m->macro_auth, NULL);
    set_str(&m->macro_queue_id, NULL);
}

void *milter_state_new(conn *c)
{
    (void)c;
    milter_state *m = calloc(1, sizeof *m);
    if (m != NULL) {
        milter_decoder_init(&m->decoder, 0);
        strbuf_init(&m->headers);
    }
    return m;
}

static void milter_close(conn *c)
{
    milter_state *m = c->state;
    if (m == NULL)
        return;
    connection_reset(m);
    milter_decoder_free(&m->decoder);
    free(m);
    c->state = NULL;
}

/* ------------------------------------------------------------ replies */

static void send_frames(conn *c, strbuf *out)
{
    if (!out->failed)
        conn_send(c, out->data, out->len);
    else
        conn_close(c);
    strbuf_free(out);
}

static void send_simple(conn *c, char reply)
{
    strbuf out;
    strbuf_init(&out);
    char err[64];
    milter_encode_simple(&out, reply, err, sizeof err);
    send_frames(c, &out);
}

static void append_verdict(strbuf *out, const decision *d)
{
    char err[128];
    if (d->action == ACTION_ACCEPT) {
        milter_encode_simple(out, SMFIR_CONTINUE, err, sizeof err);
        return;
    }
    unsigned code;
    char enhanced[32];
    const char *text;
    policy_split_reply(d->reply, &code, enhanced, sizeof enhanced, &text);
    if (milter_encode_replycode(out, code, enhanced, text, err, sizeof err) != 0)
        milter_encode_simple(out, d->action == ACTION_DEFER ? SMFIR_TEMPFAIL : SMFIR_REJECT,
                             err, sizeof err);
}

/* A header value for the MTA: folded with "\n\t", with the leading space
 * when SMFIP_HDR_LEADSPC was agreed (the MTA then adds none itself). */
static char *header_value(const milter_state *m, const char *name, const char *value)
{
    strbuf folded;
    strbuf_init(&folded);
    if (m->leading_space)
        strbuf_putc(&folded, ' ');
    char err[128];
    if (mailtext_header_fold(&folded, strlen(name), value, strlen(value), err, sizeof err) != 0) {
        strbuf_free(&folded);
        return NULL;
    }
    return strbuf_take(&folded);
}

static void add_on_top(strbuf *out, const milter_state *m, const char *name, const char *value)
{
    char *v = header_value(m, name, value);
    if (v == NULL)
        return;
    char err[128];
    if (milter_encode_insheader(out, 0, name, v, err, sizeof err) != 0)
        milter_encode_addheader(out, name, v, err, sizeof err);
    free(v);
}

/* Header edits at the end of the message: forged Authentication-Results
 * out, ours and Received-SPF in on top, the DKIM signature on top of all,
 * the score, and the subject tag (once). */
static void append_header_edits(milter_state *m, const policy_settings *ps, const decision *d,
                                const char *authres, strbuf *out)
{
    char err[128];
    bool can_change = (m->agreed.actions & SMFIF_CHGHDRS) != 0;
    if (ps->remove_forged_authres && can_change) {
        /* From the last so earlier indexes stay valid. */
        for (unsigned i = m->forged_count; i > 0; i--)
            milter_encode_chgheader(out, m->forged[i - 1], "Authentication-Results", "", err,
                                    sizeof err);
    }
    if (authres != NULL)
        add_on_top(out, m, "Authentication-Results", authres);
    if (d->received_spf != NULL)
        add_on_top(out, m, "Received-SPF", d->received_spf);
    if (m->signature != NULL) {
        /* Already folded by the signer; only its line ends change. */
        strbuf v;
        strbuf_init(&v);
        if (m->leading_space)
            strbuf_putc(&v, ' ');
        for (const char *p = m->signature; *p; p++)
            if (*p != '\r')
                strbuf_putc(&v, *p);
        if (!v.failed && milter_encode_insheader(out, 0, "DKIM-Signature", v.data, err,
                                                 sizeof err) != 0)
            milter_encode_addheader(out, "DKIM-Signature", v.data, err, sizeof err);
        strbuf_free(&v);
    }
    if (d->score_value && ps->score_header && *ps->score_header) {
        char *v = header_value(m, ps->score_header, d->score_value);
        if (v != NULL)
            milter_encode_addheader(out, ps->score_header, v, err, sizeof err);
        free(v);
    }
    /* A signed message keeps its subject: changing it would break the
     * signature just made. */
    if (d->tag_subject && can_change && m->signature == NULL) {
        const char *old = m->subject ? m->subject : "";
        while (*old == ' ' || *old == '\t')
            old++;
        /* "Added once even when several rules match": never tag twice. */
        if (strncmp(old, d->tag, strlen(d->tag)) != 0) {
            strbuf subject;
            strbuf_init(&subject);
            strbuf_puts(&subject, d->tag);
            if (*old) {
                strbuf_putc(&subject, ' ');
                strbuf_puts(&subject, old);
            }
            char *v = subject.failed ? NULL : header_value(m, "Subject", subject.data);
            if (v != NULL) {
                if (m->subject != NULL)
                    milter_encode_chgheader(out, 1, "Subject", v, err, sizeof err);
                else
                    milter_encode_addheader(out, "Subject", v, err, sizeof err);
            }
            free(v);
            strbuf_free(&subject);
        }
    }
}

/* ------------------------------------------------------------- checks */

static session_facts facts_of(const milter_state *m)
{
    return (session_facts){
        .client_ip = m->client_ip,
        .client_name = m->client_name,
        .helo = m->helo,
        .authenticated = m->authenticated,
        .mail_from = m->mail_from ? m->mail_from : "",
        .header_from = m->header_from,
    };
}

static const policy_settings *message_settings(conn *c, const milter_state *m)
{
    return config_settings_for(&c->config->config, address_domain(m->first_rcpt));
}

/* The result that counts for scoring when a message has several
 * signatures: any pass wins, then a fail, then the errors. */
static da_dkim_result dkim_overall(const da_dkim_verify *v)
{
    static const da_dkim_result order[] = {DA_DKIM_PASS,      DA_DKIM_FAIL,
                                           DA_DKIM_TEMPERROR, DA_DKIM_PERMERROR,
                                           DA_DKIM_NEUTRAL,   DA_DKIM_POLICY};
    size_t n = da_dkim_verify_count(v);
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {
        for (size_t i = 0; i < n; i++) {
            da_dkim_signature_info info;
            if (da_dkim_verify_get(v, i, &info) == 0 && info.result == order[k])
                return order[k];
        }
    }
    return DA_DKIM_NONE;
}

/* Authentication-Results: the SPF value (or our id alone), then dkim=
 * clauses. NULL when there is nothing to report. */
static char *combined_authres(conn *c, const milter_state *m, const decision *d)
{
    if (!message_settings(c, m)->authentication_results)
        return NULL;
    bool dkim_done = m->dkim != NULL && m->dkim->done;
    if (d->authres == NULL && !dkim_done)
        return NULL;
    strbuf sb;
    strbuf_init(&sb);
    if (d->authres != NULL)
        strbuf_puts(&sb, d->authres);
    else
        strbuf_puts(&sb, c->config->authserv_id);
    if (dkim_done) {
        size_t n = da_dkim_verify_count(m->dkim->verify);
        for (size_t i = 0; i < (n ? n : 1); i++) {
            char *clause = da_dkim_authres_clause(m->dkim->verify, n ? i : 0);
            if (clause != NULL) {
                strbuf_puts(&sb, "; ");
                strbuf_puts(&sb, clause);
                free(clause);
            }
        }
    }
    return strbuf_take(&sb);
}

/* The end of the message: DKIM score, headers, reply. d is the SPF
 * decision (made now or earlier). */
static void finish_message(conn *c, milter_state *m, const decision *d_in)
{
    const policy_settings *ps = message_settings(c, m);
    decision d;
    if (decision_copy(&d, d_in) != 0) {
        send_simple(c, SMFIR_CONTINUE);
        message_reset(m);
        return;
    }
    if (m->dkim != NULL && m->dkim->done)
        policy_add_score(ps, &d, ps->dkim_scores[dkim_overall(m->dkim->verify)],
                         "score threshold (with DKIM)");
    strbuf out;
    strbuf_init(&out);
    if (d.action == ACTION_ACCEPT) {
        char *authres = combined_authres(c, m, &d);
        append_header_edits(m, ps, &d, authres, &out);
        free(authres);
    }
    append_verdict(&out, &d);
    send_frames(c, &out);
    decision_free(&d);
    message_reset(m);
}

static void resume_after(conn *c, milter_state *m)
{
    m->waiting_for = 0;
    conn_resume(c);
}

static void on_spf_checked(conn *c, void *arg, const decision *d, const da_spf_eval *ev)
{
    (void)arg;
    (void)ev;
    milter_state *m = c->state;
    if (m == NULL)
        return;
    char waited = m->waiting_for;
    if (waited == SMFIC_BODYEOB) {
        finish_message(c, m, d);
    } else {
        /* MAIL or RCPT: keep the first accepting decision for the end. */
        if (d->action == ACTION_ACCEPT && !m->spf_decided)
            m->spf_decided = decision_copy(&m->spf, d) == 0;
        strbuf out;
        strbuf_init(&out);
        append_verdict(&out, d);
        send_frames(c, &out);
    }
    resume_after(c, m);
}

static void start_check(conn *c, milter_state *m, const policy_settings *ps, const char *rcpt,
                        char command)
{
    m->waiting_for = command;
    conn_pause(c);
    session_facts facts = facts_of(m);
    check_start(c, ps, &facts, rcpt, m->queue_id, on_spf_checked, NULL);
}

/* After DKIM: the SPF check if it is still due (none was made at MAIL or
 * RCPT, or the identity is header From:, known only now), then the finish. */
static void continue_message(conn *c, milter_state *m)
{
    const policy_settings *ps = message_settings(c, m);
    if (!m->spf_decided || ps->identity == IDENTITY_HEADER_FROM) {
        start_check(c, m, ps, m->first_rcpt, SMFIC_BODYEOB);
        return;
    }
    finish_message(c, m, &m->spf);
    resume_after(c, m);
}

/* ---------------------------------------------------------------- DKIM */

static void dkim_job_free(dkim_job *job)
{
    da_dkim_verify_free(job->verify);
    conn_unref(job->c);
    free(job);
}

/* The session lets go of the job; it goes now or with its last answer. */
static void dkim_job_release(dkim_job *job)
{
    job->abandoned = true;
    if (job->outstanding == 0 && !job->stepping)
        dkim_job_free(job);
}

static void dkim_advance(dkim_job *job);

static void on_dkim_answer(void *arg, const da_dns_question *q, const da_dns_answer *a)
{
    dkim_job *job = arg;
    job->outstanding--;
    if (job->abandoned) {
        if (job->outstanding == 0 && !job->stepping)
            dkim_job_free(job);
        return;
    }
    da_dkim_verify_answer(job->verify, q, a);
    if (job->stepping)
        job->progressed = true;
    else
        dkim_advance(job);
}

/* Like the SPF driver: step after every answer; answers that arrive
 * inside submit (cache hits) only mark progress. */
static void dkim_advance(dkim_job *job)
{
    static const da_dns_answer failed = {.status = DA_DNS_SERVFAIL};
    job->stepping = true;
    da_dkim_step s;
    do {
        job->progressed = false;
        s = da_dkim_verify_step(job->verify);
        if (s.kind != DA_DKIM_STEP_QUERIES)
            break;
        for (size_t i = 0; i < s.count; i++) {
            job->outstanding++;
            if (da_resolver_submit(job->c->daemon->resolver, &s.questions[i], on_dkim_answer,
                                   job) != 0) {
                job->outstanding--;
                da_dkim_verify_answer(job->verify, &s.questions[i], &failed);
                job->progressed = true;
            }
        }
    } while (job->progressed);
    job->stepping = false;
    if (job->abandoned) {
        if (job->outstanding == 0)
            dkim_job_free(job);
        return;
    }
    if (s.kind == DA_DKIM_STEP_QUERIES)
        return; /* answers still out */
    job->done = true;
    conn *c = job->c;
    if (!c->closing && c->state != NULL)
        continue_message(c, c->state);
}

static bool is_loopback(const char *ip)
{
    if (ip == NULL)
        return true; /* a local submission (no client address) */
    ip_addr a;
    if (!ip_parse(ip, strlen(ip), &a))
        return false;
    ip_unmap(&a);
    return (a.family == 4 && a.bytes[0] == 127) ||
           (a.family == 6 && ip_prefix_equal(a.bytes, (const uint8_t[16]){[15] = 1}, 128));
}

/* The key for the From: domain: the domain itself, a parent domain in the
 * table (d= that parent), or "*" (d= the From: domain). */
static int signing_key(conn *c, const char *from_domain, const char **d_domain)
{
    const domauth_config *cfg = &c->config->config;
    int star = -1;
    for (const char *d = from_domain; d != NULL && *d; d = strchr(d, '.') ? strchr(d, '.') + 1 : NULL) {
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

static bool should_sign(conn *c, const milter_state *m)
{
    const domauth_config *cfg = &c->config->config;
    if (!cfg->dkim_sign || cfg->dkim_key_count == 0 || !m->dkim_stream)
        return false;
    if (cfg->dkim_sign_authenticated && m->authenticated)
        return true;
    if (cfg->dkim_sign_loopback && is_loopback(m->client_ip))
        return true;
    if (cfg->dkim_sign_trusted && m->client_ip != NULL) {
        ip_addr a;
        if (ip_parse(m->client_ip, strlen(m->client_ip), &a)) {
            ip_unmap(&a);
            if (ip_set_contains(&cfg->trusted, &a))
                return true;
        }
    }
    return false;
}

static da_dkim_canon canon_of(const char *s)
{
    return strncmp(s, "relaxed", 7) == 0 ? DA_DKIM_RELAXED : DA_DKIM_SIMPLE;
}

/* At the end of the headers: start verifying and, for our own mail,
 * signing; both get the header block now and the body as it comes. */
static void dkim_start(conn *c, milter_state *m)
{
    const domauth_config *cfg = &c->config->config;
    if (!m->dkim_stream || m->headers_too_long)
        return;
    strbuf_puts(&m->headers, "\r\n");
    if (m->headers.failed)
        return;
    char err[256];
    if (should_sign(c, m)) {
        const char *from_domain = address_domain(m->header_from);
        const char *d_domain = NULL;
        int k = from_domain ? signing_key(c, from_domain, &d_domain) : -1;
        if (k >= 0) {
            const char *slash = strchr(cfg->dkim_canon, '/');
            da_dkim_sign_options so = {
                .domain = d_domain,
                .selector = cfg->dkim_keys[k].selector,
                .key = c->config->dkim_keys[k],
                .header_canon = canon_of(cfg->dkim_canon),
                .body_canon = canon_of(slash ? slash + 1 : cfg->dkim_canon),
                .headers = cfg->dkim_headers && *cfg->dkim_headers ? cfg->dkim_headers : NULL,
                .timestamp = (int64_t)time(NULL),
            };
            m->signer = da_dkim_sign_new(&so, err, sizeof err);
            if (m->signer == NULL)
                daemon_log(LOG_WARNING, "cannot sign for %s: %s", d_domain, err);
            else
                da_dkim_sign_feed(m->signer, m->headers.data, m->headers.len);
        }
    }
    /* Our own outgoing mail is signed, not verified. */
    if (cfg->dkim_verify && m->signer == NULL) {
        da_dkim_verify_options vo = {.now = (int64_t)time(NULL),
                                     .key_cache = c->daemon->dkim_key_cache,
                                     .sha1 = cfg->dkim_sha1_neutral ? DA_DKIM_SHA1_NEUTRAL
                                                                    : DA_DKIM_SHA1_FAIL};
        da_dkim_verify *v = da_dkim_verify_new(&vo, err, sizeof err);
        dkim_job *job = v ? calloc(1, sizeof *job) : NULL;
        if (job == NULL) {
            da_dkim_verify_free(v);
            return;
        }
        job->verify = v;
        job->c = c;
        conn_ref(c);
        m->dkim = job;
        da_dkim_verify_feed(v, m->headers.data, m->headers.len);
    }
    strbuf_free(&m->headers);
}

static void dkim_body(milter_state *m, const uint8_t *data, size_t len)
{
    if (len == 0)
        return;
    if (m->signer != NULL)
        da_dkim_sign_feed(m->signer, data, len);
    if (m->dkim != NULL)
        da_dkim_verify_feed(m->dkim->verify, data, len);
}

/* --------------------------------------------------------- commands */

static void strip_brackets(const char *address, char *out, size_t out_size)
{
    size_t len = strlen(address);
    if (len >= 2 && address[0] == '<' && address[len - 1] == '>') {
        address++;
        len -= 2;
    }
    snprintf(out, out_size, "%.*s", (int)len, address);
}

static void continue_if_due(conn *c, const milter_state *m, char command)
{
    if (milter_reply_expected(m->agreed.protocol, command))
        send_simple(c, SMFIR_CONTINUE);
}

static int on_optneg(conn *c, milter_state *m, const milter_optneg *offered)
{
    char err[200];
    const domauth_config *cfg = &c->config->config;
    /* Headers are added (Received-SPF, Authentication-Results, DKIM-Signature)
     * and changed (Subject tag, forged Authentication-Results). The body is
     * wanted only for DKIM, and then with headers exactly as received. */
    bool dkim = cfg->dkim_verify || (cfg->dkim_sign && cfg->dkim_key_count > 0);
    uint32_t wanted = SMFIP_NOUNKNOWN | SMFIP_NODATA | SMFIP_NR_HDR | SMFIP_NR_EOH |
                      SMFIP_NR_CONN | SMFIP_NR_HELO;
    wanted |= dkim ? (SMFIP_HDR_LEADSPC | SMFIP_NR_BODY) : SMFIP_NOBODY;
    if (milter_negotiate(offered, SMFIF_ADDHDRS, SMFIF_CHGHDRS, wanted, &m->agreed, err,
                         sizeof err) != 0) {
        daemon_log(LOG_ERR, "milter negotiation with %s failed: %s", c->peer, err);
        return -1;
    }
    m->dkim_stream = dkim && !(m->agreed.protocol & SMFIP_NOBODY);
    m->leading_space = (m->agreed.protocol & SMFIP_HDR_LEADSPC) != 0;
    strbuf out;
    strbuf_init(&out);
    if (milter_encode_optneg_reply(&out, &m->agreed, NULL, 0, err, sizeof err) != 0) {
        strbuf_free(&out);
        return -1;
    }
    m->negotiated = true;
    send_frames(c, &out);
    return 0;
}

static void on_macros(milter_state *m, const milter_macros *mac)
{
    const char *auth = milter_macros_get(mac, "{auth_authen}");
    if (auth != NULL && mac->command == SMFIC_MAIL)
        set_str(&m->macro_auth, auth);
    const char *qid = milter_macros_get(mac, "i");
    if (qid != NULL && *qid)
        set_str(&m->macro_queue_id, qid);
}

/* Keeps the header for DKIM as it was on the wire: "Name:" then the value
 * (with its own leading space when the MTA keeps it), CRLF line ends. */
static void keep_header(milter_state *m, const milter_header *h)
{
    if (!m->dkim_stream || m->headers_too_long)
        return;
    size_t before = m->headers.len;
    strbuf_puts(&m->headers, h->name);
    strbuf_puts(&m->headers, m->leading_space ? ":" : ": ");
    for (size_t i = 0; i < h->value_len; i++) {
        if (h->value[i] == '\n' && (i == 0 || h->value[i - 1] != '\r'))
            strbuf_putc(&m->headers, '\r');
        strbuf_putc(&m->headers, h->value[i]);
    }
    strbuf_puts(&m->headers, "\r\n");
    if (m->headers.len > MAX_HEADER_BLOCK) {
        m->headers_too_long = true;
        m->headers.len = before;
    }
}

static void on_header(conn *c, milter_state *m, const milter_header *h)
{
    keep_header(m, h);
    const char *authserv = c->config->authserv_id;
    if (strcasecmp(h->name, "From") == 0 && m->header_from == NULL) {
        char address[512];
        if (header_from_address(h->value, h->value_len, address, sizeof address) == 0)
            set_str(&m->header_from, address);
    } else if (strcasecmp(h->name, "Subject") == 0 && m->subject == NULL) {
        set_str(&m->subject, h->value);
    } else if (strcasecmp(h->name, "Authentication-Results") == 0) {
        m->authres_seen++;
        if (policy_authres_claims(h->value, authserv) && m->forged_count < MAX_FORGED)
            m->forged[m->forged_count++] = m->authres_seen;
    }
}

static int on_end_of_message(conn *c, milter_state *m, const milter_body *last)
{
    if (m->queue_id == NULL && m->macro_queue_id != NULL)
        set_str(&m->queue_id, m->macro_queue_id);
    dkim_body(m, last->data, last->len);
    if (m->signer != NULL) {
        char err[256];
        char *field = da_dkim_sign_finish(m->signer, err, sizeof err);
        if (field == NULL) {
            daemon_log(LOG_WARNING, "queue %s: not signed: %s", m->queue_id ? m->queue_id : "-",
                       err);
        } else {
            const char *colon = strchr(field, ':');
            const char *value = colon ? colon + 1 : field;
            while (*value == ' ')
                value++;
            set_str(&m->signature, value);
            free(field);
        }
    }
    m->waiting_for = SMFIC_BODYEOB;
    conn_pause(c);
    if (m->dkim != NULL) {
        da_dkim_verify_finish(m->dkim->verify);
        dkim_advance(m->dkim); /* continues the message when the keys are in */
    } else {
        continue_message(c, m);
    }
    return 0;
}

/* Handles one frame. Returns 1 to go on, 0 when waiting, -1 to close. */
static int on_frame(conn *c, milter_state *m, const milter_frame *frame)
{
    milter_command cmd;
    char err[200];
    if (milter_parse_command(frame, &cmd, err, sizeof err) != 0) {
        c->daemon->stats.protocol_errors++;
        daemon_log(LOG_WARNING, "milter %s: bad '%c' frame: %s", c->peer, frame->command, err);
        return -1;
    }
    if (!m->negotiated && cmd.code != SMFIC_OPTNEG) {
        daemon_log(LOG_WARNING, "milter %s: '%c' before option negotiation", c->peer, cmd.code);
        return -1;
    }
    const domauth_config *cfg = &c->config->config;
    switch (cmd.code) {
    case SMFIC_OPTNEG:
        return on_optneg(c, m, &cmd.optneg) == 0 ? 1 : -1;
    case SMFIC_MACRO:
        on_macros(m, &cmd.macros);
        return 1;
    case SMFIC_CONNECT:
        connection_reset(m);
        set_str(&m->client_name, cmd.connect.hostname);
        if (cmd.connect.family == SMFIA_INET || cmd.connect.family == SMFIA_INET6)
            set_str(&m->client_ip, cmd.connect.address);
        continue_if_due(c, m, SMFIC_CONNECT);
        return 1;
    case SMFIC_HELO:
        set_str(&m->helo, cmd.helo);
        continue_if_due(c, m, SMFIC_HELO);
        return 1;
    case SMFIC_MAIL: {
        message_reset(m);
        conn_refresh_config(c);
        cfg = &c->config->config;
        char address[1024];
        strip_brackets(cmd.args.address, address, sizeof address);
        set_str(&m->mail_from, address);
        m->authenticated = m->macro_auth != NULL && *m->macro_auth;
        set_str(&m->macro_auth, NULL);
        set_str(&m->queue_id, m->macro_queue_id);
        const policy_settings *ps = &cfg->global;
        if (ps->stage == STAGE_MAIL && ps->identity == IDENTITY_MAILFROM) {
            start_check(c, m, ps, NULL, SMFIC_MAIL);
            return 0;
        }
        continue_if_due(c, m, SMFIC_MAIL);
        return 1;
    }
    case SMFIC_RCPT: {
        char address[1024];
        strip_brackets(cmd.args.address, address, sizeof address);
        if (m->first_rcpt == NULL)
            set_str(&m->first_rcpt, address);
        const policy_settings *ps = config_settings_for(cfg, address_domain(address));
        if (ps->stage == STAGE_RCPT && ps->identity == IDENTITY_MAILFROM) {
            start_check(c, m, ps, address, SMFIC_RCPT);
            return 0;
        }
        continue_if_due(c, m, SMFIC_RCPT);
        return 1;
    }
    case SMFIC_HEADER:
        on_header(c, m, &cmd.header);
        continue_if_due(c, m, SMFIC_HEADER);
        return 1;
    case SMFIC_EOH:
        dkim_start(c, m);
        continue_if_due(c, m, SMFIC_EOH);
        return 1;
    case SMFIC_BODY:
        dkim_body(m, cmd.body.data, cmd.body.len);
        continue_if_due(c, m, SMFIC_BODY);
        return 1;
    case SMFIC_DATA:
    case SMFIC_UNKNOWN:
        continue_if_due(c, m, cmd.code);
        return 1;
    case SMFIC_BODYEOB:
        on_end_of_message(c, m, &cmd.body);
        return 0;
    case SMFIC_ABORT:
        message_reset(m);
        return 1;
    case SMFIC_QUIT_NC:
        connection_reset(m);
        return 1;
    case SMFIC_QUIT:
        return -1;
    }
    return 1;
}

static size_t milter_data(conn *c, const uint8_t *data, size_t len)
{
    milter_state *m = c->state;
    size_t used_total = 0;
    while (used_total < len && !c->paused && !c->closing) {
        size_t used = 0;
        milter_frame frame;
        milter_decode_status st =
            milter_decoder_feed(&m->decoder, data + used_total, len - used_total, &used, &frame);
        used_total += used;
        if (st == MILTER_DECODE_NEED_MORE)
            break;
        if (st == MILTER_DECODE_ERROR) {
            c->daemon->stats.protocol_errors++;
            daemon_log(LOG_WARNING, "milter %s: %s", c->peer, milter_decoder_error(&m->decoder));
            conn_close(c);
            return len;
        }
        if (on_frame(c, m, &frame) < 0) {
            conn_close(c);
            return len;
        }
    }
    return used_total;
}

const conn_handler milter_handler = {milter_data, milter_close};
