/* policy_conn.c: a Postfix policy delegation session (SMTPD_POLICY_README),
 * a thin adapter over the message service: requests decoded by src/proto,
 * one check per request, one "action=" reply each, in order, on a
 * connection Postfix keeps open.
 *
 * Postfix sends one request per recipient, all with the same instance
 * attribute for one message; the requests of an instance are one message
 * to the service, whose event is written when the next instance starts,
 * when the connection closes, or after EVENT_FLUSH_MS without a request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>

#include "domauthd.h"
#include "msg/mailtext.h"
#include "proto/policyd.h"

enum { EVENT_FLUSH_MS = 2000 };

typedef struct policy_state {
    policyd_parser parser;
    svc_msg *msg;          /* the message (instance) in progress */
    config_ref *msg_config;
    char *instance;
    bool prepended;        /* the one header of this message was added */
    uv_timer_t *flush;     /* writes the event of an idle message */
} policy_state;

static void on_flush_closed(uv_handle_t *h)
{
    free(h);
}

static void message_end(policy_state *p)
{
    svc_msg_free(p->msg); /* writes its event */
    p->msg = NULL;
    if (p->msg_config != NULL)
        config_ref_put(p->msg_config);
    p->msg_config = NULL;
    free(p->instance);
    p->instance = NULL;
    p->prepended = false;
    if (p->flush != NULL)
        uv_timer_stop(p->flush);
}

static void on_flush(uv_timer_t *t)
{
    policy_state *p = t->data;
    message_end(p);
}

static void *policy_state_new(conn *c)
{
    policy_state *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    if (policyd_parser_init(&p->parser, NULL) != 0) {
        free(p);
        return NULL;
    }
    p->flush = malloc(sizeof *p->flush);
    if (p->flush != NULL) {
        uv_timer_init(c->daemon->loop, p->flush);
        p->flush->data = p;
    }
    return p;
}

static void policy_close(conn *c)
{
    policy_state *p = c->state;
    if (p == NULL)
        return;
    message_end(p);
    if (p->flush != NULL)
        uv_close((uv_handle_t *)p->flush, on_flush_closed);
    policyd_parser_free(&p->parser);
    free(p);
    c->state = NULL;
}

static void send_reply(conn *c, strbuf *out)
{
    if (out->failed || out->len == 0) {
        strbuf_free(out);
        strbuf_init(out);
        policyd_reply_dunno(out);
    }
    conn_send(c, out->data, out->len);
    strbuf_free(out);
}

static void send_dunno(conn *c)
{
    strbuf out;
    strbuf_init(&out);
    policyd_reply_dunno(&out);
    send_reply(c, &out);
}

static void on_reply(void *arg, const svc_reply *r)
{
    conn *c = arg;
    policy_state *p = c->state;
    strbuf out;
    strbuf_init(&out);
    char err[128];
    if (r->action == ACTION_REDIRECT) {
        /* access(5) REDIRECT: every recipient of the message goes there. */
        if (policyd_reply_action(&out, "REDIRECT", r->redirect_to, err, sizeof err) != 0) {
            daemon_log(LOG_ERR, "policy %s: redirect to %s: %s: delivered as addressed",
                       c->peer, r->redirect_to ? r->redirect_to : "-", err);
            strbuf_free(&out);
            strbuf_init(&out);
            policyd_reply_dunno(&out);
        }
    } else if (r->action == ACTION_QUARANTINE) {
        /* The MTA's hold queue: the message is kept, the sender sees
         * success (domauthd -t says a folder quarantine becomes this). */
        policyd_reply_action(&out, "HOLD", "domauth quarantine", err, sizeof err);
    } else if (r->action != ACTION_ACCEPT) {
        unsigned code;
        char enhanced[32];
        const char *text;
        policy_split_reply(r->reply ? r->reply : "", &code, enhanced, sizeof enhanced, &text);
        if (policyd_reply_code(&out, code, enhanced, text, err, sizeof err) != 0)
            policyd_reply_action(&out, r->action == ACTION_DEFER ? "DEFER_IF_PERMIT" : "REJECT",
                                 text, err, sizeof err);
    } else if (p != NULL && !p->prepended && r->edit_count > 0) {
        /* One PREPEND per reply, once per message (the service keeps only
         * the one edit this protocol can make). */
        const header_edit *e = &r->edits[0];
        if (policyd_reply_prepend(&out, e->name, e->value, err, sizeof err) != 0) {
            /* Too long for the one line PREPEND allows: cut with a marker
             * and say so, never drop the verdict's field. */
            size_t room = MAILTEXT_HEADER_LINE_MAX - strlen(e->name) - 2 - 5;
            strbuf cut;
            strbuf_init(&cut);
            strbuf_append(&cut, e->value, strlen(e->value) < room ? strlen(e->value) : room);
            strbuf_puts(&cut, "[...]");
            strbuf_free(&out);
            strbuf_init(&out);
            if (cut.failed ||
                policyd_reply_prepend(&out, e->name, cut.data, err, sizeof err) != 0) {
                daemon_log(LOG_WARNING, "policy %s: %s not prepended: %s", c->peer, e->name, err);
                strbuf_free(&out);
                strbuf_init(&out);
                policyd_reply_dunno(&out);
            } else {
                daemon_log(LOG_WARNING, "policy %s: %s was longer than a header line: cut",
                           c->peer, e->name);
            }
            strbuf_free(&cut);
        }
        p->prepended = true;
    } else {
        policyd_reply_dunno(&out);
    }
    send_reply(c, &out);
    /* Sending may close the connection (conn_send fails at once when out
     * of memory or refused by libuv), and free the state with it. */
    p = c->state;
    if (p != NULL && p->flush != NULL)
        uv_timer_start(p->flush, on_flush, EVENT_FLUSH_MS, 0);
    conn_resume(c);
}

static int message_begin(conn *c, policy_state *p, const policyd_request *r)
{
    message_end(p);
    p->msg_config = config_ref_get(c->config);
    svc_caps caps = {
        .listener = "policy",
        .sees_message = false,
        .can_insert = true,
        .can_change = false,
        .max_added = 1,
        .can_hold = true, /* HOLD: this protocol's only quarantine (it sees no message) */
        .can_redirect = true, /* REDIRECT */
    };
    svc_session s = {
        .client_ip = r->client_address,
        .client_name = r->client_name,
        .helo = r->helo_name,
        .auth_user = r->sasl_username,
    };
    p->msg = svc_msg_new(&c->daemon->env, &p->msg_config->svc, &caps, &s);
    if (p->msg == NULL) {
        config_ref_put(p->msg_config);
        p->msg_config = NULL;
        return -1;
    }
    p->instance = r->instance ? strdup(r->instance) : NULL;
    const char *sender = r->sender ? r->sender : "";
    svc_msg_mail_from(p->msg, sender, strlen(sender));
    return 0;
}

/* Returns 1 to go on, 0 when a check was started. */
static int on_request(conn *c, policy_state *p)
{
    const policyd_request *r = policyd_parser_request(&p->parser);
    conn_refresh_config(c);
    const char *state = r->protocol_state ? r->protocol_state : "";
    bool checkable = strcasecmp(state, "RCPT") == 0 || strcasecmp(state, "MAIL") == 0 ||
                     strcasecmp(state, "DATA") == 0 ||
                     strcasecmp(state, "END-OF-MESSAGE") == 0;
    if (r->request == NULL || strcmp(r->request, "smtpd_access_policy") != 0 || !checkable) {
        send_dunno(c);
        return 1;
    }
    bool same_message = p->msg != NULL && r->instance != NULL && p->instance != NULL &&
                        strcmp(r->instance, p->instance) == 0;
    if (!same_message && message_begin(c, p, r) != 0) {
        daemon_log(LOG_ERR, "policy %s: out of memory: request not checked", c->peer);
        send_dunno(c);
        return 1;
    }
    /* Postfix sends an empty queue_id until it has assigned one. */
    if (r->queue_id && *r->queue_id)
        svc_msg_queue_id(p->msg, r->queue_id);
    if (p->flush != NULL)
        uv_timer_stop(p->flush);
    conn_pause(c);
    const char *rcpt = r->recipient ? r->recipient : "";
    svc_msg_check_rcpt(p->msg, rcpt, strlen(rcpt), true, on_reply, c);
    return 0;
}

static size_t policy_data(conn *c, const uint8_t *data, size_t len)
{
    policy_state *p = c->state;
    size_t used_total = 0;
    while (used_total < len && !c->paused && !c->closing) {
        size_t used = 0;
        policyd_status st = policyd_parser_feed(&p->parser, (const char *)data + used_total,
                                                len - used_total, &used);
        used_total += used;
        if (st == POLICYD_NEED_MORE)
            break;
        if (st == POLICYD_ERROR) {
            /* One bad request gets one answer; Postfix then applies its
             * own policy for it. The parser resynchronises by itself. */
            c->daemon->stats.protocol_errors++;
            daemon_log(LOG_WARNING, "policy %s: bad request: %s", c->peer,
                       policyd_parser_error(&p->parser));
            strbuf out;
            strbuf_init(&out);
            char err[64];
            policyd_reply_action(&out, "DEFER_IF_PERMIT", "domauth: malformed policy request",
                                 err, sizeof err);
            send_reply(c, &out);
            continue;
        }
        on_request(c, p);
    }
    return used_total;
}

const conn_handler policy_handler = {policy_state_new, policy_data, policy_close};

static const char *policy_address(const domauth_config *cfg)
{
    return cfg->policy_listen;
}

static unsigned policy_socket_mode(const domauth_config *cfg)
{
    return cfg->socket_mode;
}

static unsigned policy_max(const domauth_config *cfg)
{
    return cfg->policy_max_sessions;
}

static unsigned policy_idle(const domauth_config *cfg)
{
    return cfg->policy_idle_timeout;
}

const listener_kind policy_listener = {
    .kind = CONN_POLICY,
    .name = "policy",
    .unit = "request",
    .framing = FRAMING_EMPTY_LINE,
    .handler = &policy_handler,
    .address = policy_address,
    .socket_mode = policy_socket_mode,
    .max_sessions = policy_max,
    .idle_timeout = policy_idle,
    .max_sessions_key = "policy_max_sessions",
    .idle_timeout_key = "policy_idle_timeout",
    .refused_what = "policy connections refused",
    .serves_mail = true,
    .direct_write = true,
};
