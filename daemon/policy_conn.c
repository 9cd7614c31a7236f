/* policy_conn.c: a Postfix policy delegation session (SMTPD_POLICY_README):
 * requests decoded by src/policyd, one check per request, one "action="
 * reply each, in order, on a connection Postfix keeps open. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>

#include "domauthd.h"
#include "msg/address.h"
#include "proto/policyd.h"

typedef struct policy_state {
    policyd_parser parser;
    char *last_instance; /* headers are prepended once per message */
} policy_state;

void *policy_state_new(conn *c)
{
    (void)c;
    policy_state *p = calloc(1, sizeof *p);
    if (p != NULL && policyd_parser_init(&p->parser, NULL) != 0) {
        free(p);
        p = NULL;
    }
    return p;
}

static void policy_close(conn *c)
{
    policy_state *p = c->state;
    if (p == NULL)
        return;
    policyd_parser_free(&p->parser);
    free(p->last_instance);
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

typedef struct pending {
    char *instance;
} pending;

static void on_checked(conn *c, void *arg, const decision *d, const da_spf_eval *ev)
{
    (void)ev;
    pending *pd = arg;
    policy_state *p = c->state;
    strbuf out;
    strbuf_init(&out);
    char err[128];
    if (d->action != ACTION_ACCEPT) {
        unsigned code;
        char enhanced[32];
        const char *text;
        policy_split_reply(d->reply, &code, enhanced, sizeof enhanced, &text);
        if (policyd_reply_code(&out, code, enhanced, text, err, sizeof err) != 0)
            policyd_reply_action(&out, d->action == ACTION_DEFER ? "DEFER_IF_PERMIT" : "REJECT",
                                 text, err, sizeof err);
    } else {
        /* One PREPEND per reply, once per message: Received-SPF if on,
         * otherwise Authentication-Results. */
        bool first = p != NULL && (pd->instance == NULL || p->last_instance == NULL ||
                                   strcmp(pd->instance, p->last_instance) != 0);
        const char *name = d->received_spf ? "Received-SPF" : "Authentication-Results";
        const char *value = d->received_spf ? d->received_spf : d->authres;
        if (!first || value == NULL ||
            policyd_reply_prepend(&out, name, value, err, sizeof err) != 0)
            policyd_reply_dunno(&out);
        if (first && p != NULL && pd->instance != NULL) {
            free(p->last_instance);
            p->last_instance = strdup(pd->instance);
        }
    }
    send_reply(c, &out);
    free(pd->instance);
    free(pd);
    conn_resume(c);
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
        strbuf out;
        strbuf_init(&out);
        policyd_reply_dunno(&out);
        send_reply(c, &out);
        return 1;
    }
    pending *pd = calloc(1, sizeof *pd);
    if (pd == NULL) {
        strbuf out;
        strbuf_init(&out);
        policyd_reply_dunno(&out);
        send_reply(c, &out);
        return 1;
    }
    pd->instance = r->instance ? strdup(r->instance) : NULL;
    session_facts facts = {
        .client_ip = r->client_address,
        .client_name = r->client_name,
        .helo = r->helo_name,
        .authenticated = r->sasl_username != NULL && *r->sasl_username,
        .mail_from = r->sender ? r->sender : "",
        .header_from = NULL, /* not visible to a policy service */
    };
    const policy_settings *ps =
        config_settings_for(&c->config->config, address_domain(r->recipient));
    conn_pause(c);
    /* Postfix sends an empty queue_id until it has assigned one. */
    const char *queue_id = r->queue_id && *r->queue_id ? r->queue_id : NULL;
    check_start(c, ps, &facts, r->recipient, queue_id, on_checked, pd);
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

const conn_handler policy_handler = {policy_data, policy_close};
