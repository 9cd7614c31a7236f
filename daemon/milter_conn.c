/* milter_conn.c: a milter session with Postfix or Sendmail, natively on the
 * loop. Frames are decoded by src/milter; this file keeps the SMTP state,
 * asks for checks at the configured stage, and turns decisions into milter
 * replies and header edits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>

#include "domauthd.h"
#include "milter/milter.h"
#include "policy/address.h"

enum { MAX_FORGED = 32 };

/* What the end of the message needs from a decision made earlier. */
typedef struct saved_decision {
    bool valid;
    char *received_spf, *authres, *score_value;
    bool tag_subject;
    char tag[DECISION_TAG_MAX];
} saved_decision;

typedef struct milter_state {
    milter_decoder decoder;
    milter_optneg agreed;
    bool negotiated;
    /* connection */
    char *client_ip, *client_name, *helo;
    /* macros of the command in progress */
    char *macro_auth, *macro_queue_id;
    /* message */
    char *mail_from, *queue_id, *first_rcpt, *header_from, *subject;
    bool authenticated;
    bool rcpt_checked; /* an RCPT-stage check ran for this message */
    unsigned authres_seen;
    unsigned forged[MAX_FORGED];
    unsigned forged_count;
    saved_decision saved;
    char waiting_for; /* the command whose reply waits for a check */
} milter_state;

static void set_str(char **slot, const char *value)
{
    free(*slot);
    *slot = value ? strdup(value) : NULL;
}

static void saved_clear(saved_decision *s)
{
    free(s->received_spf);
    free(s->authres);
    free(s->score_value);
    memset(s, 0, sizeof *s);
}

static void message_reset(milter_state *m)
{
    set_str(&m->mail_from, NULL);
    set_str(&m->queue_id, NULL);
    set_str(&m->first_rcpt, NULL);
    set_str(&m->header_from, NULL);
    set_str(&m->subject, NULL);
    m->authenticated = false;
    m->rcpt_checked = false;
    m->authres_seen = 0;
    m->forged_count = 0;
    saved_clear(&m->saved);
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
    milter_state *m = calloc(1, sizeof *m);
    if (m != NULL)
        milter_decoder_init(&m->decoder, 0);
    (void)c;
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

/* "550 5.7.23 text" -> code, enhanced status (may be empty), text. */
static void split_reply(const char *reply, unsigned *code, char *enhanced, size_t enh_size,
                        const char **text)
{
    *code = (unsigned)((reply[0] - '0') * 100 + (reply[1] - '0') * 10 + (reply[2] - '0'));
    const char *p = reply + 3;
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
    split_reply(d->reply, &code, enhanced, sizeof enhanced, &text);
    if (milter_encode_replycode(out, code, enhanced, text, err, sizeof err) != 0)
        milter_encode_simple(out, d->action == ACTION_DEFER ? SMFIR_TEMPFAIL : SMFIR_REJECT,
                             err, sizeof err);
}

static void save_decision(milter_state *m, const decision *d)
{
    saved_clear(&m->saved);
    m->saved.valid = true;
    m->saved.received_spf = d->received_spf ? strdup(d->received_spf) : NULL;
    m->saved.authres = d->authres ? strdup(d->authres) : NULL;
    m->saved.score_value = d->score_value ? strdup(d->score_value) : NULL;
    m->saved.tag_subject = d->tag_subject;
    snprintf(m->saved.tag, sizeof m->saved.tag, "%s", d->tag);
}

/* Header edits at the end of the message: forged Authentication-Results
 * out, ours in, Received-SPF on top, the score, the subject tag (once). */
static void append_header_edits(milter_state *m, const policy_settings *ps,
                                strbuf *out)
{
    char err[128];
    bool can_change = (m->agreed.actions & SMFIF_CHGHDRS) != 0;
    if (ps->remove_forged_authres && can_change) {
        /* From the last so earlier indexes stay valid. */
        for (unsigned i = m->forged_count; i > 0; i--)
            milter_encode_chgheader(out, m->forged[i - 1], "Authentication-Results", "", err,
                                    sizeof err);
    }
    if (!m->saved.valid)
        return;
    struct {
        const char *name;
        const char *value;
    } adds[] = {
        {"Authentication-Results", m->saved.authres},
        {"Received-SPF", m->saved.received_spf},
    };
    for (size_t i = 0; i < sizeof adds / sizeof adds[0]; i++) {
        if (adds[i].value == NULL)
            continue;
        strbuf folded;
        strbuf_init(&folded);
        if (mailtext_header_fold(&folded, strlen(adds[i].name), adds[i].value,
                                 strlen(adds[i].value), err, sizeof err) == 0 && !folded.failed) {
            /* On top, like Received: what this host saw comes first. */
            if (milter_encode_insheader(out, 0, adds[i].name, folded.data, err, sizeof err) != 0)
                milter_encode_addheader(out, adds[i].name, folded.data, err, sizeof err);
        }
        strbuf_free(&folded);
    }
    if (m->saved.score_value && ps->score_header && *ps->score_header)
        milter_encode_addheader(out, ps->score_header, m->saved.score_value, err, sizeof err);
    if (m->saved.tag_subject && can_change) {
        const char *old = m->subject ? m->subject : "";
        /* "Added once even when several rules match": never tag twice. */
        if (strncmp(old, m->saved.tag, strlen(m->saved.tag)) != 0) {
            strbuf subject;
            strbuf_init(&subject);
            strbuf_puts(&subject, m->saved.tag);
            if (*old) {
                strbuf_putc(&subject, ' ');
                strbuf_puts(&subject, old);
            }
            strbuf folded;
            strbuf_init(&folded);
            if (!subject.failed && mailtext_header_fold(&folded, 7, subject.data, subject.len,
                                                        err, sizeof err) == 0) {
                if (m->subject != NULL)
                    milter_encode_chgheader(out, 1, "Subject", folded.data, err, sizeof err);
                else
                    milter_encode_addheader(out, "Subject", folded.data, err, sizeof err);
            }
            strbuf_free(&folded);
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

static const char *domain_of(const char *address)
{
    const char *at = address ? strrchr(address, '@') : NULL;
    return at ? at + 1 : NULL;
}

static void on_checked(conn *c, void *arg, const decision *d, const da_spf_eval *ev)
{
    (void)arg;
    (void)ev;
    milter_state *m = c->state;
    if (m == NULL)
        return;
    const policy_settings *ps = config_settings_for(&c->config->config, domain_of(m->first_rcpt));
    strbuf out;
    strbuf_init(&out);
    char waited = m->waiting_for;
    m->waiting_for = 0;
    if (waited == SMFIC_BODYEOB) {
        save_decision(m, d);
        if (d->action == ACTION_ACCEPT)
            append_header_edits(m, ps, &out);
        append_verdict(&out, d);
        message_reset(m);
    } else {
        /* MAIL or RCPT: keep the first accepted decision for the headers. */
        if (d->action == ACTION_ACCEPT && !m->saved.valid)
            save_decision(m, d);
        append_verdict(&out, d);
    }
    send_frames(c, &out);
    conn_resume(c);
}

static void start_check(conn *c, milter_state *m, const policy_settings *ps, const char *rcpt,
                        char command)
{
    m->waiting_for = command;
    conn_pause(c);
    session_facts facts = facts_of(m);
    check_start(c, ps, &facts, rcpt, m->queue_id, on_checked, NULL);
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

static bool reply_due(const milter_state *m, char command)
{
    return milter_reply_expected(m->agreed.protocol, command);
}

static void continue_if_due(conn *c, const milter_state *m, char command)
{
    if (reply_due(m, command))
        send_simple(c, SMFIR_CONTINUE);
}

static int on_optneg(conn *c, milter_state *m, const milter_optneg *offered)
{
    char err[200];
    /* Headers are added (Received-SPF, Authentication-Results) and changed
     * (Subject tag, forged Authentication-Results). The body is never
     * needed; headers only for From:, Subject and Authentication-Results. */
    uint32_t wanted = SMFIP_NOBODY | SMFIP_NOUNKNOWN | SMFIP_NODATA | SMFIP_NR_HDR |
                      SMFIP_NR_EOH | SMFIP_NR_CONN | SMFIP_NR_HELO;
    if (milter_negotiate(offered, SMFIF_ADDHDRS, SMFIF_CHGHDRS, wanted, &m->agreed, err,
                         sizeof err) != 0) {
        daemon_log(LOG_ERR, "milter negotiation with %s failed: %s", c->peer, err);
        return -1;
    }
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

static int on_header(conn *c, milter_state *m, const milter_header *h)
{
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
    return 0;
}

/* Handles one frame. Returns 1 to go on, 0 when waiting for a check, -1 to
 * close the connection. */
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
        const policy_settings *ps = config_settings_for(cfg, domain_of(address));
        if (ps->stage == STAGE_RCPT && ps->identity == IDENTITY_MAILFROM) {
            m->rcpt_checked = true;
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
        continue_if_due(c, m, SMFIC_EOH);
        return 1;
    case SMFIC_BODY:
    case SMFIC_DATA:
    case SMFIC_UNKNOWN:
        continue_if_due(c, m, cmd.code);
        return 1;
    case SMFIC_BODYEOB: {
        if (m->queue_id == NULL && m->macro_queue_id != NULL)
            set_str(&m->queue_id, m->macro_queue_id);
        const policy_settings *ps = config_settings_for(cfg, domain_of(m->first_rcpt));
        bool checked_earlier = m->saved.valid || m->rcpt_checked ||
                               (cfg->global.stage == STAGE_MAIL &&
                                cfg->global.identity == IDENTITY_MAILFROM);
        if (!checked_earlier || ps->identity == IDENTITY_HEADER_FROM) {
            start_check(c, m, ps, m->first_rcpt, SMFIC_BODYEOB);
            return 0;
        }
        strbuf out;
        strbuf_init(&out);
        append_header_edits(m, ps, &out);
        milter_encode_simple(&out, SMFIR_CONTINUE, err, sizeof err);
        send_frames(c, &out);
        message_reset(m);
        return 1;
    }
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
        int rc = on_frame(c, m, &frame);
        if (rc < 0) {
            conn_close(c);
            return len;
        }
    }
    return used_total;
}

const conn_handler milter_handler = {milter_data, milter_close};
