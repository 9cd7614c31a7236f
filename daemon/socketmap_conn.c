/* socketmap_conn.c: the SRS socketmap for Postfix's canonical maps, as
 * PostSRSd 2 serves it: "forward ADDRESS" rewrites a sender for mail
 * forwarded off-site, "reverse ADDRESS" undoes it for a bounce coming back.
 * Requests decoded by src/proto/socketmap, rewriting by src/srs; answered at
 * once and in order (no I/O behind a lookup), on a connection Postfix keeps
 * open between lookups.
 *
 * What each answers (PostSRSd's choices: only a broken request or an
 * internal failure is an error; anything that is merely not rewritten is
 * NOTFOUND, and Postfix keeps the address as it is):
 *   forward  OK SRS0=...@domain (SRS1 for an SRS0/SRS1 address from
 *            elsewhere); NOTFOUND for the null sender, no domain, a domain of
 *            exclude_domains, an address already under the SRS domain, or
 *            one the engine cannot rewrite
 *   reverse  OK the address one step back; NOTFOUND for an address that is
 *            not SRS, and (logged) for a bad hash or an expired stamp
 *   any      PERM for an unknown map name, a key longer than an address
 *            can be, a bad request, or a malformed netstring (then the
 *            connection closes); TEMP when the SRS engine fails, or when a
 *            reload left the socketmap without [srs] settings */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "domauthd.h"
#include "proto/socketmap.h"
#include "srs/srs.h"

typedef struct socketmap_state {
    socketmap_parser parser;
    bool failed; /* a malformed netstring was answered: nothing more is read */
} socketmap_state;

srs *socketmap_srs_new(const domauth_config *cfg, const char *secrets, size_t len,
                       const char *source, char *err, size_t err_size)
{
    srs *s = srs_new();
    if (s == NULL) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    const char *sep = cfg->srs_separator ? cfg->srs_separator : "=";
    if (srs_set_domain(s, cfg->srs_domain ? cfg->srs_domain : "") != 0) {
        snprintf(err, err_size, "[srs] domain '%s' cannot be an SRS domain",
                 cfg->srs_domain ? cfg->srs_domain : "");
    } else if (srs_set_separator(s, sep[0]) != 0 ||
               srs_set_hash_length(s, cfg->srs_hash_length, cfg->srs_hash_min_length) != 0 ||
               srs_set_max_age(s, cfg->srs_max_age) != 0) {
        snprintf(err, err_size, "[srs] separator, hash_length or max_age out of range");
    } else {
        int added = srs_add_secret_lines(s, secrets, len);
        if (added > 0)
            return s;
        if (added < 0)
            snprintf(err, err_size, "out of memory");
        else
            snprintf(err, err_size, "%s holds no secret (one a line; the first signs)", source);
    }
    srs_free(s);
    return NULL;
}

static void *socketmap_state_new(conn *c)
{
    (void)c;
    socketmap_state *s = calloc(1, sizeof *s);
    if (s != NULL && socketmap_parser_init(&s->parser, SOCKETMAP_REQUEST_MAX) != 0) {
        free(s);
        s = NULL;
    }
    return s;
}

static void socketmap_close(conn *c)
{
    socketmap_state *s = c->state;
    if (s == NULL)
        return;
    socketmap_parser_free(&s->parser);
    free(s);
    c->state = NULL;
}

static void reply(conn *c, socketmap_reply_kind kind, const char *text)
{
    socketmap_stats *st = &c->daemon->stats.socketmap;
    st->requests++;
    switch (kind) {
    case SOCKETMAP_OK: st->ok++; break;
    case SOCKETMAP_NOTFOUND: st->notfound++; break;
    case SOCKETMAP_TEMP:
    case SOCKETMAP_TIMEOUT: st->temp++; break;
    case SOCKETMAP_PERM: st->perm++; break;
    }
    strbuf out;
    strbuf_init(&out);
    char err[160];
    if (socketmap_reply(&out, kind, text, strlen(text), err, sizeof err) != 0 || out.failed) {
        /* Only out of memory: no reply at all is better than a wrong one,
         * and Postfix reports the lookup as failed. */
        daemon_log(LOG_ERR, "socketmap %s: reply not sent: %s", c->peer,
                   out.failed ? "out of memory" : err);
        strbuf_free(&out);
        conn_close(c);
        return;
    }
    conn_send(c, out.data, out.len);
    strbuf_free(&out);
}

static void forward(conn *c, const srs *s, const char *key, size_t len)
{
    const domauth_config *cfg = &c->config->config;
    if (len == 0) {
        reply(c, SOCKETMAP_NOTFOUND, "null sender");
        return;
    }
    const char *at = strrchr(key, '@');
    if (at == NULL || at[1] == '\0') {
        reply(c, SOCKETMAP_NOTFOUND, "no domain");
        return;
    }
    if (config_srs_excluded(cfg, at + 1, strlen(at + 1))) {
        reply(c, SOCKETMAP_NOTFOUND, "local domain");
        return;
    }
    char out[SRS_ADDRESS_MAX];
    srs_status st = srs_forward(s, key, len, (int64_t)time(NULL), out, sizeof out);
    switch (st) {
    case SRS_OK:
        daemon_log(LOG_DEBUG, "socketmap: forward <%s> -> <%s>", key, out);
        reply(c, SOCKETMAP_OK, out);
        return;
    case SRS_NO_SECRET:
    case SRS_CRYPTO:
        daemon_log(LOG_ERR, "socketmap: forward <%s>: %s", key, srs_status_text(st));
        reply(c, SOCKETMAP_TEMP, srs_status_text(st));
        return;
    default:
        /* Already under the SRS domain, not rewritable, or too long once
         * rewritten: the mail goes out with the sender it has. */
        daemon_log(LOG_DEBUG, "socketmap: forward <%s> not rewritten: %s", key,
                   srs_status_text(st));
        reply(c, SOCKETMAP_NOTFOUND, srs_status_text(st));
        return;
    }
}

static void reverse(conn *c, const srs *s, const char *key, size_t len)
{
    char out[SRS_ADDRESS_MAX];
    srs_status st = srs_reverse(s, key, len, (int64_t)time(NULL), out, sizeof out);
    switch (st) {
    case SRS_OK:
        daemon_log(LOG_DEBUG, "socketmap: reverse <%s> -> <%s>", key, out);
        reply(c, SOCKETMAP_OK, out);
        return;
    case SRS_BAD_HASH:
    case SRS_EXPIRED:
        /* An SRS address that does not verify: a forged bounce, one past
         * max_age, or one signed by a secret no longer in the file. */
        daemon_log(LOG_NOTICE, "socketmap: reverse <%s> refused: %s", key, srs_status_text(st));
        reply(c, SOCKETMAP_NOTFOUND, srs_status_text(st));
        return;
    case SRS_NO_SECRET:
    case SRS_CRYPTO:
        daemon_log(LOG_ERR, "socketmap: reverse <%s>: %s", key, srs_status_text(st));
        reply(c, SOCKETMAP_TEMP, srs_status_text(st));
        return;
    default:
        /* Postfix asks for every recipient: most are not SRS at all. */
        reply(c, SOCKETMAP_NOTFOUND, srs_status_text(st));
        return;
    }
}

static void lookup(conn *c, const char *name, const char *key, size_t len)
{
    bool is_forward = strcmp(name, "forward") == 0;
    if (!is_forward && strcmp(name, "reverse") != 0) {
        daemon_log(LOG_WARNING, "socketmap %s: unknown map name '%s' (forward or reverse)",
                   c->peer, name);
        reply(c, SOCKETMAP_PERM, "unknown map name: expected forward or reverse");
        return;
    }
    const srs *s = c->config->srs;
    if (s == NULL) {
        daemon_log(LOG_ERR, "socketmap %s: no [srs] socketmap settings since the last reload; "
                            "restart to close the socketmap",
                   c->peer);
        reply(c, SOCKETMAP_TEMP, "SRS is not configured");
        return;
    }
    if (len >= SRS_ADDRESS_MAX) {
        daemon_log(LOG_WARNING, "socketmap %s: a key of %zu bytes is longer than any address",
                   c->peer, len);
        reply(c, SOCKETMAP_PERM, "key too long");
        return;
    }
    if (is_forward)
        forward(c, s, key, len);
    else
        reverse(c, s, key, len);
}

static size_t socketmap_data(conn *c, const uint8_t *data, size_t len)
{
    socketmap_state *s = c->state;
    size_t used_total = 0;
    while (used_total < len && !c->closing && !s->failed) {
        size_t used = 0;
        socketmap_status st = socketmap_parser_feed(&s->parser, (const char *)data + used_total,
                                                    len - used_total, &used);
        used_total += used;
        if (st == SOCKETMAP_NEED_MORE)
            break;
        /* Between requests: a reload reaches a connection Postfix keeps. */
        conn_refresh_config(c);
        if (st == SOCKETMAP_REQUEST) {
            lookup(c, s->parser.name, s->parser.key, s->parser.key_len);
            s = c->state; /* a failed send closes the connection and frees it */
            if (s == NULL)
                return len;
            continue;
        }
        c->daemon->stats.protocol_errors++;
        const char *why = socketmap_parser_error(&s->parser);
        char text[200];
        snprintf(text, sizeof text, "bad request: %s", why);
        if (st == SOCKETMAP_ERROR) {
            /* The stream cannot be followed: one PERM, as Postfix expects,
             * and the connection closes once it is written. */
            daemon_log(LOG_WARNING, "socketmap %s: malformed netstring: %s: connection closed",
                       c->peer, why);
            s->failed = true;
            reply(c, SOCKETMAP_PERM, text);
            if (!c->closing)
                conn_close_when_written(c);
            return len;
        }
        daemon_log(LOG_WARNING, "socketmap %s: %s", c->peer, text);
        reply(c, SOCKETMAP_PERM, text);
        s = c->state;
        if (s == NULL)
            return len;
    }
    return s != NULL && s->failed ? len : used_total;
}

const conn_handler socketmap_handler = {socketmap_state_new, socketmap_data, socketmap_close};

static const char *socketmap_address(const domauth_config *cfg)
{
    return cfg->srs_socketmap;
}

static unsigned socketmap_socket_mode(const domauth_config *cfg)
{
    return cfg->socket_mode;
}

static unsigned socketmap_max(const domauth_config *cfg)
{
    return cfg->srs_max_sessions;
}

static unsigned socketmap_idle(const domauth_config *cfg)
{
    return cfg->srs_idle_timeout;
}

const listener_kind socketmap_listener = {
    .kind = CONN_SOCKETMAP,
    .name = "socketmap",
    .unit = "request",
    .framing = FRAMING_NETSTRING,
    .handler = &socketmap_handler,
    .address = socketmap_address,
    .socket_mode = socketmap_socket_mode,
    .max_sessions = socketmap_max,
    .idle_timeout = socketmap_idle,
    .max_sessions_key = "socketmap_max_sessions",
    .idle_timeout_key = "socketmap_idle_timeout",
    .refused_what = "socketmap connections refused",
    .serves_mail = true,
};
