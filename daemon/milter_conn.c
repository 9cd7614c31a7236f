/* milter_conn.c: a milter session with Postfix or Sendmail, natively on the
 * loop: a thin adapter over the message service (src/service). Frames are
 * decoded by src/proto; this file keeps the SMTP state the protocol
 * carries (connection facts, macros), hands the envelope and the message
 * to the service, and turns its replies and header edits into milter
 * frames. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <strings.h>
#include <syslog.h>

#include "domauthd.h"
#include "msg/mailtext.h"
#include "proto/milter.h"
#include "srs/srs.h"

typedef struct milter_state {
    milter_decoder decoder;
    milter_optneg agreed;
    bool negotiated;
    bool see_headers;   /* negotiated to receive the header fields */
    bool see_body;      /* and the body, for DKIM */
    bool leading_space; /* SMFIP_HDR_LEADSPC: values keep their leading space */
    /* connection */
    char *client_ip, *client_name, *helo, *mta_name;
    /* macros of the command in progress */
    char *macro_auth, *macro_queue_id;
    /* the message in progress */
    svc_msg *msg;
    config_ref *msg_config; /* the configuration msg was made with */
    char waiting_for;       /* the command whose reply waits */
} milter_state;

static void set_str(char **slot, const char *value)
{
    free(*slot);
    *slot = value ? strdup(value) : NULL;
}

static void message_end(milter_state *m)
{
    svc_msg_free(m->msg);
    m->msg = NULL;
    if (m->msg_config != NULL)
        config_ref_put(m->msg_config);
    m->msg_config = NULL;
}

static void connection_reset(milter_state *m)
{
    message_end(m);
    set_str(&m->client_ip, NULL);
    set_str(&m->client_name, NULL);
    set_str(&m->helo, NULL);
    set_str(&m->macro_auth, NULL);
    set_str(&m->macro_queue_id, NULL);
}

static void *milter_state_new(conn *c)
{
    (void)c;
    milter_state *m = calloc(1, sizeof *m);
    if (m != NULL)
        milter_decoder_init(&m->decoder, 0);
    return m;
}

static void milter_close(conn *c)
{
    milter_state *m = c->state;
    if (m == NULL)
        return;
    connection_reset(m);
    set_str(&m->mta_name, NULL);
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

static void append_verdict(strbuf *out, const svc_reply *r)
{
    char err[128];
    if (r->action == ACTION_ACCEPT || r->action == ACTION_REDIRECT) {
        milter_encode_simple(out, SMFIR_CONTINUE, err, sizeof err);
        return;
    }
    /* Quarantine: held by the MTA (then on as accepted, with the edits),
     * or kept in the folder already and discarded here. */
    if (r->action == ACTION_QUARANTINE) {
        if (r->hold) {
            const char *reason = r->verdict && r->verdict->reasons[0] ? r->verdict->reasons
                                                                      : "domauth quarantine";
            if (milter_encode_quarantine(out, reason, err, sizeof err) != 0)
                milter_encode_quarantine(out, "domauth quarantine", err, sizeof err);
            milter_encode_simple(out, SMFIR_CONTINUE, err, sizeof err);
        } else {
            milter_encode_simple(out, SMFIR_DISCARD, err, sizeof err);
        }
        return;
    }
    unsigned code;
    char enhanced[32];
    const char *text;
    policy_split_reply(r->reply ? r->reply : "", &code, enhanced, sizeof enhanced, &text);
    if (milter_encode_replycode(out, code, enhanced, text, err, sizeof err) != 0)
        milter_encode_simple(out, r->action == ACTION_DEFER ? SMFIR_TEMPFAIL : SMFIR_REJECT, err,
                             sizeof err);
}

/* A header value for the MTA: folded with "\n\t" (a word too long for a
 * line is cut with a marker and logged, never the field dropped), with the
 * leading space when SMFIP_HDR_LEADSPC was agreed. The DKIM signature comes
 * folded by the signer and is passed as it is. */
static char *header_value(conn *c, const milter_state *m, const header_edit *e)
{
    strbuf v;
    strbuf_init(&v);
    if (m->leading_space)
        strbuf_putc(&v, ' ');
    if (strcmp(e->name, "DKIM-Signature") == 0) {
        strbuf_puts(&v, e->value);
    } else {
        bool cut = false;
        if (mailtext_header_fold_or_cut(&v, strlen(e->name), e->value, strlen(e->value), &cut) !=
            0) {
            strbuf_free(&v);
            return NULL;
        }
        if (cut)
            daemon_log(LOG_WARNING, "milter %s: a word of the %s field was too long for a "
                       "header line and was cut", c->peer, e->name);
    }
    return strbuf_take(&v);
}

static void append_edits(conn *c, const milter_state *m, const svc_reply *r, strbuf *out)
{
    char err[128];
    for (size_t i = 0; i < r->edit_count; i++) {
        const header_edit *e = &r->edits[i];
        if (e->op == HEADER_DELETE) {
            milter_encode_chgheader(out, e->index, e->name, "", err, sizeof err);
            continue;
        }
        char *v = header_value(c, m, e);
        if (v == NULL) {
            daemon_log(LOG_ERR, "milter %s: out of memory: %s not added", c->peer, e->name);
            continue;
        }
        if (e->op == HEADER_CHANGE)
            milter_encode_chgheader(out, e->index, e->name, v, err, sizeof err);
        else if (e->op == HEADER_INSERT_TOP)
            milter_encode_insheader(out, 0, e->name, v, err, sizeof err);
        else
            milter_encode_addheader(out, e->name, v, err, sizeof err);
        free(v);
    }
}

/* [srs] milter_rewrite: a message that leaves for an off-site recipient (one not
 * of exclude_domains, the site's own) gets an SRS sender, so that it
 * passes SPF at its next hop; a message only to local recipients, the null
 * sender, a sender of the site's own and one already under the SRS domain
 * keep theirs. */
static void append_srs_sender(conn *c, const milter_state *m, strbuf *out)
{
    const domauth_config *cfg = &m->msg_config->config;
    const srs *s = m->msg_config->srs;
    const char *from = svc_msg_sender(m->msg);
    if (!cfg->srs_milter || s == NULL || from == NULL || !*from)
        return;
    if (!(m->agreed.actions & SMFIF_CHGFROM)) {
        daemon_log(LOG_WARNING, "milter %s: [srs] milter_rewrite = yes, but the MTA does not let "
                   "filters change the sender (SMFIF_CHGFROM): <%s> kept", c->peer,
                   from);
        return;
    }
    const char *at = strrchr(from, '@');
    if (at == NULL || config_srs_excluded(cfg, at + 1, strlen(at + 1)))
        return;
    bool off_site = false;
    for (size_t i = 0; i < svc_msg_accepted_count(m->msg) && !off_site; i++) {
        const char *ra = strrchr(svc_msg_accepted(m->msg, i), '@');
        off_site = ra != NULL && !config_srs_excluded(cfg, ra + 1, strlen(ra + 1));
    }
    if (!off_site)
        return;
    char rewritten[SRS_ADDRESS_MAX], err[128];
    srs_status st = srs_forward(s, from, strlen(from), (int64_t)time(NULL),
                                rewritten, sizeof rewritten);
    if (st != SRS_OK) {
        if (st != SRS_UNCHANGED)
            daemon_log(LOG_WARNING, "milter %s: <%s> not rewritten: %s", c->peer, from,
                       srs_status_text(st));
        return;
    }
    if (milter_encode_chgfrom(out, rewritten, err, sizeof err) != 0) {
        daemon_log(LOG_WARNING, "milter %s: <%s> not rewritten: %s", c->peer, from, err);
        return;
    }
    daemon_log(LOG_INFO, "milter %s: MAIL FROM <%s> rewritten to <%s> (SRS: off-site recipients)",
               c->peer, from, rewritten);
}

/* redirect: every recipient the message had goes, redirect_to comes
 * (the original ones are in X-Domauth-Original-Recipients). */
static void append_redirect(conn *c, const milter_state *m, const svc_reply *r, strbuf *out)
{
    char err[128];
    strbuf add;
    strbuf_init(&add);
    if (milter_encode_addrcpt(&add, r->redirect_to, err, sizeof err) != 0 || add.failed) {
        /* Nothing removed when nothing can be added: delivered as addressed. */
        daemon_log(LOG_ERR, "milter %s: redirect to %s: %s: delivered as addressed", c->peer,
                   r->redirect_to ? r->redirect_to : "-", err);
        strbuf_free(&add);
        return;
    }
    /* Removed first: a redirect_to that was also a recipient stays. */
    for (size_t i = 0; i < svc_msg_accepted_count(m->msg); i++) {
        const char *rcpt = svc_msg_accepted(m->msg, i);
        if (milter_encode_delrcpt(out, rcpt, err, sizeof err) != 0)
            daemon_log(LOG_ERR, "milter %s: recipient <%s> not removed: %s", c->peer, rcpt, err);
    }
    strbuf_append(out, add.data, add.len);
    strbuf_free(&add);
}

static void on_reply(void *arg, const svc_reply *r)
{
    conn *c = arg;
    milter_state *m = c->state;
    strbuf out;
    strbuf_init(&out);
    if (m != NULL && m->waiting_for == SMFIC_BODYEOB &&
        (r->action == ACTION_ACCEPT || r->action == ACTION_REDIRECT ||
         (r->action == ACTION_QUARANTINE && r->hold))) {
        append_edits(c, m, r, &out);
        if (r->action == ACTION_REDIRECT)
            append_redirect(c, m, r, &out);
        if (r->action == ACTION_ACCEPT)
            append_srs_sender(c, m, &out);
    }
    append_verdict(&out, r);
    send_frames(c, &out);
    /* Sending may close the connection (conn_send fails at once when out
     * of memory or refused by libuv), and the state with it. */
    m = c->state;
    if (m != NULL) {
        bool end = m->waiting_for == SMFIC_BODYEOB;
        m->waiting_for = 0;
        if (end)
            message_end(m);
    }
    conn_resume(c);
}

/* Sets up the service's view of the session for a new message. */
static int message_begin(conn *c, milter_state *m)
{
    message_end(m);
    conn_refresh_config(c);
    m->msg_config = config_ref_get(c->config);
    svc_caps caps = {
        .listener = "milter",
        .sees_message = m->see_headers,
        .sees_body = m->see_body,
        .can_insert = true,
        .can_change = (m->agreed.actions & SMFIF_CHGHDRS) != 0,
        .can_hold = (m->agreed.actions & SMFIF_QUARANTINE) != 0,
        .can_redirect = (m->agreed.actions & (SMFIF_ADDRCPT | SMFIF_DELRCPT)) ==
                        (SMFIF_ADDRCPT | SMFIF_DELRCPT),
    };
    svc_session s = {
        .client_ip = m->client_ip,
        .client_name = m->client_name,
        .helo = m->helo,
        .auth_user = m->macro_auth,
        .mta_name = m->mta_name,
    };
    m->msg = svc_msg_new(&c->daemon->env, &m->msg_config->svc, &caps, &s);
    if (m->msg == NULL) {
        daemon_log(LOG_ERR, "milter %s: out of memory: message not checked", c->peer);
        config_ref_put(m->msg_config);
        m->msg_config = NULL;
        return -1;
    }
    return 0;
}

/* --------------------------------------------------------- commands */

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
     * and changed (Subject tag, forged Authentication-Results). The headers
     * and body are wanted for DKIM and for the header From: identity, and
     * then exactly as received. */
    bool dkim = cfg->dkim_verify || (cfg->dkim_sign && cfg->dkim_key_count > 0);
    /* A folder quarantine keeps the message as received, and ARC verifies
     * it: they need the body (and the fields' leading space) even without
     * DKIM. */
    dkim = dkim || cfg->quarantine_possible || cfg->arc_check;
    uint32_t wanted = SMFIP_NOUNKNOWN | SMFIP_NODATA | SMFIP_NR_HDR | SMFIP_NR_EOH |
                      SMFIP_NR_CONN | SMFIP_NR_HELO;
    wanted |= dkim ? (SMFIP_HDR_LEADSPC | SMFIP_NR_BODY) : SMFIP_NOBODY;
    uint32_t optional = SMFIF_CHGHDRS | SMFIF_QUARANTINE | SMFIF_ADDRCPT | SMFIF_DELRCPT |
                        (cfg->srs_milter ? SMFIF_CHGFROM : 0);
    if (milter_negotiate(offered, SMFIF_ADDHDRS, optional, wanted,
                         &m->agreed, err,
                         sizeof err) != 0) {
        daemon_log(LOG_ERR, "milter negotiation with %s failed: %s", c->peer, err);
        return -1;
    }
    m->see_headers = !(m->agreed.protocol & SMFIP_NOHDRS);
    m->see_body = dkim && !(m->agreed.protocol & SMFIP_NOBODY);
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
    if (qid != NULL && *qid) {
        set_str(&m->macro_queue_id, qid);
        if (m->msg != NULL)
            svc_msg_queue_id(m->msg, qid);
    }
    const char *j = milter_macros_get(mac, "j");
    if (j != NULL && *j)
        set_str(&m->mta_name, j);
}

/* The address of MAIL FROM or RCPT TO without its angle brackets, whole:
 * no buffer meets it. */
static void bare_address(const char *address, const char **start, size_t *len)
{
    size_t n = strlen(address);
    if (n >= 2 && address[0] == '<' && address[n - 1] == '>') {
        address++;
        n -= 2;
    }
    *start = address;
    *len = n;
}

static void wait_for(conn *c, milter_state *m, char command)
{
    m->waiting_for = command;
    conn_pause(c);
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
        int rc = message_begin(c, m);
        set_str(&m->macro_auth, NULL);
        if (rc != 0) {
            continue_if_due(c, m, SMFIC_MAIL);
            return 1;
        }
        const char *a;
        size_t n;
        bare_address(cmd.args.address, &a, &n);
        svc_msg_mail_from(m->msg, a, n);
        svc_msg_queue_id(m->msg, m->macro_queue_id);
        wait_for(c, m, SMFIC_MAIL);
        svc_msg_check_mail(m->msg, on_reply, c);
        return 0;
    }
    case SMFIC_RCPT: {
        if (m->msg == NULL) {
            continue_if_due(c, m, SMFIC_RCPT);
            return 1;
        }
        const char *a;
        size_t n;
        bare_address(cmd.args.address, &a, &n);
        wait_for(c, m, SMFIC_RCPT);
        svc_msg_check_rcpt(m->msg, a, n, false, on_reply, c);
        return 0;
    }
    case SMFIC_HEADER:
        if (m->msg != NULL) {
            /* The value as on the wire: with its leading space when the MTA
             * keeps it, else with the one the MTA took away. Only DKIM needs
             * the exact bytes; without the body, nothing reads the space
             * and the value is passed as it came, uncopied. */
            if (m->leading_space || !m->see_body) {
                svc_msg_header(m->msg, cmd.header.name, cmd.header.value, cmd.header.value_len);
            } else {
                strbuf v;
                strbuf_init(&v);
                strbuf_putc(&v, ' ');
                strbuf_append(&v, cmd.header.value, cmd.header.value_len);
                if (!v.failed)
                    svc_msg_header(m->msg, cmd.header.name, v.data, v.len);
                strbuf_free(&v);
            }
        }
        continue_if_due(c, m, SMFIC_HEADER);
        return 1;
    case SMFIC_EOH:
        if (m->msg != NULL)
            svc_msg_end_headers(m->msg);
        continue_if_due(c, m, SMFIC_EOH);
        return 1;
    case SMFIC_BODY:
        if (m->msg != NULL)
            svc_msg_body(m->msg, cmd.body.data, cmd.body.len);
        continue_if_due(c, m, SMFIC_BODY);
        return 1;
    case SMFIC_DATA:
    case SMFIC_UNKNOWN:
        continue_if_due(c, m, cmd.code);
        return 1;
    case SMFIC_BODYEOB:
        if (m->msg == NULL) {
            send_simple(c, SMFIR_CONTINUE);
            return 1;
        }
        svc_msg_body(m->msg, cmd.body.data, cmd.body.len);
        svc_msg_queue_id(m->msg, m->macro_queue_id);
        wait_for(c, m, SMFIC_BODYEOB);
        svc_msg_check_end(m->msg, on_reply, c);
        return 0;
    case SMFIC_ABORT:
        message_end(m);
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

const conn_handler milter_handler = {milter_state_new, milter_data, milter_close};

static const char *milter_address(const domauth_config *cfg)
{
    return cfg->milter_listen;
}

static unsigned listener_socket_mode(const domauth_config *cfg)
{
    return cfg->socket_mode;
}

static unsigned milter_max(const domauth_config *cfg)
{
    return cfg->milter_max_sessions;
}

static unsigned milter_idle(const domauth_config *cfg)
{
    return cfg->milter_idle_timeout;
}

const listener_kind milter_listener = {
    .kind = CONN_MILTER,
    .name = "milter",
    .unit = "frame",
    .framing = FRAMING_LENGTH_PREFIX,
    .handler = &milter_handler,
    .address = milter_address,
    .socket_mode = listener_socket_mode,
    .max_sessions = milter_max,
    .idle_timeout = milter_idle,
    .max_sessions_key = "milter_max_sessions",
    .idle_timeout_key = "milter_idle_timeout",
    .refused_what = "milter connections refused",
    .serves_mail = true,
    .direct_write = true,
};
