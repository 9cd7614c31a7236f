/* listen.c: listeners (unix or inet) and the connections they accept. A
 * connection reads into its own buffer and hands bytes to its protocol
 * handler; while the handler waits for a check the rest is held, so frames
 * are processed in order and none is lost.
 *
 * Every session is bounded. In memory: a connection that holds HOLD_LIMIT
 * bytes for a paused handler, or has WRITE_LIMIT bytes of replies unsent,
 * stops reading until that drains, so the kernel's flow control makes the
 * client wait. In number: per listener (milter_max_sessions,
 * policy_max_sessions, socketmap_max_sessions) and overall (max_sessions). In time: a session with
 * no complete request for *_idle_timeout seconds, or a request begun but not
 * whole after request_timeout seconds, is closed; neither runs while a check
 * is pending. Refusals and timeouts are logged at a limited rate. */
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "domauthd.h"
#include "proto/milter.h"

enum {
    READ_CHUNK = 65536,
    /* Input held for a paused handler before the connection stops reading:
     * nearly four of the largest body chunks with their framing, so an MTA
     * that sends a little ahead never waits. Progress never needs a whole
     * frame here (the handler reassembles frames itself); at most
     * HOLD_LIMIT - 1 + READ_CHUNK bytes are ever held. */
    HOLD_LIMIT = 256 * 1024,
    HOLD_MAX = HOLD_LIMIT + READ_CHUNK,
    /* Replies queued and not yet written, with what each write costs us: a
     * client that sends requests and reads no answers stops being read past
     * this. */
    WRITE_LIMIT = 256 * 1024,
};
_Static_assert(HOLD_LIMIT > 4 + 1 + MILTER_CHUNK_SIZE, "HOLD_LIMIT holds a whole body chunk");

struct listener {
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } io;
    domauthd *daemon;
    conn_kind kind;
    char address[300];
    char unix_path[256];
    listener *next;
};

/* The registry: every kind of listener, indexed by conn_kind. */
static const listener_kind *const kinds[CONN_KINDS] = {
    [CONN_MILTER] = &milter_listener,
    [CONN_POLICY] = &policy_listener,
    [CONN_CONTROL] = &control_listener,
    [CONN_SOCKETMAP] = &socketmap_listener,
    [CONN_METRICS] = &metrics_listener,
};

const char *listener_address(const listener *l)
{
    return l->address;
}

const listener *listener_next(const listener *l)
{
    return l->next;
}

conn_kind listener_kind_of(const listener *l)
{
    return l->kind;
}

const char *listener_kind_name(const listener *l)
{
    return kinds[l->kind]->name;
}

void conn_close_when_written(conn *c)
{
    if (c->unsent == 0)
        conn_close(c);
    else
        c->close_when_written = true;
}

static const char *kind_name(conn_kind kind)
{
    return kinds[kind]->name;
}

/* ---------------------------------------------------- rate-limited logs */

static void on_log_window(uv_timer_t *timer)
{
    log_limit *ll = timer->data;
    if (ll->held == 0) {
        ll->window = false;
        return;
    }
    daemon_log(ll->priority, "%s: %llu more in the last %d s; the last: %s", ll->what,
               (unsigned long long)ll->held, LOG_LIMIT_SECONDS, ll->last);
    ll->held = 0;
    uv_timer_start(timer, on_log_window, LOG_LIMIT_SECONDS * 1000, 0);
}

/* Writes the line, or counts it when one was written less than
 * LOG_LIMIT_SECONDS ago; what names such lines in the summary. */
static void limited_log(domauthd *d, log_limit *ll, int priority, const char *what,
                        const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void limited_log(domauthd *d, log_limit *ll, int priority, const char *what,
                        const char *fmt, ...)
{
    char msg[sizeof ll->last];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!ll->timer_ready && !d->stopping) {
        uv_timer_init(d->loop, &ll->timer);
        ll->timer.data = ll;
        uv_unref((uv_handle_t *)&ll->timer); /* never keeps the loop alive */
        ll->timer_ready = true;
    }
    bool usable = ll->timer_ready && !uv_is_closing((uv_handle_t *)&ll->timer);
    if (usable && ll->window) {
        ll->held++;
        ll->priority = priority;
        ll->what = what;
        snprintf(ll->last, sizeof ll->last, "%s", msg);
        return;
    }
    daemon_log(priority, "%s", msg);
    if (usable) {
        ll->window = true;
        ll->held = 0;
        uv_timer_start(&ll->timer, on_log_window, LOG_LIMIT_SECONDS * 1000, 0);
    }
}

/* Writes what is still counted and closes the timer (at stop). */
static void log_limit_close(log_limit *ll)
{
    if (!ll->timer_ready || uv_is_closing((uv_handle_t *)&ll->timer))
        return;
    if (ll->held > 0)
        daemon_log(ll->priority, "%s: %llu more since the last line; the last: %s", ll->what,
                   (unsigned long long)ll->held, ll->last);
    ll->held = 0;
    ll->window = false;
    uv_close((uv_handle_t *)&ll->timer, NULL);
}

/* ------------------------------------------------------- connections */

static void on_conn_closed(uv_handle_t *handle)
{
    conn *c = handle->data;
    conn_unref(c);
}

void conn_ref(conn *c)
{
    c->refs++;
}

void conn_unref(conn *c)
{
    if (--c->refs > 0)
        return;
    config_ref_put(c->config);
    free(c->held);
    free(c);
}

void conn_refresh_config(conn *c)
{
    if (c->config == c->daemon->config)
        return;
    config_ref *old = c->config;
    c->config = config_ref_get(c->daemon->config);
    config_ref_put(old);
}

void conn_close(conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    daemon_stats *st = &c->daemon->stats;
    st->sessions_active--;
    st->kind_sessions_active[c->kind]--;
    if (c->handler->on_close != NULL)
        c->handler->on_close(c);
    /* At the end of the grace period main.c closes every handle without
     * telling us (pending writes then fail into here): never close twice. */
    if (!uv_is_closing((uv_handle_t *)&c->timer))
        uv_close((uv_handle_t *)&c->timer, on_conn_closed);
    if (!uv_is_closing(&c->io.handle))
        uv_close(&c->io.handle, on_conn_closed);
}

typedef struct write_req {
    uv_write_t req;
    size_t size; /* counted in c->unsent */
    char data[];
} write_req;

static void update_reading(conn *c);

static void on_written(uv_write_t *req, int status)
{
    write_req *w = (write_req *)req;
    conn *c = req->data;
    c->unsent -= w->size;
    if ((status < 0 || (c->close_when_written && c->unsent == 0)) && !c->closing)
        conn_close(c);
    update_reading(c); /* replies may have drained below WRITE_LIMIT */
    conn_unref(c);
    free(w);
}

void conn_send(conn *c, const void *data, size_t len)
{
    if (c->closing || len == 0)
        return;
    c->sends++;
    /* Nothing queued: write now, without a request. A reply then costs one
     * write(2), no allocation or copy, and no epoll_ctl for a write watcher
     * that libuv re-arms after each queued write (strace -c: 4 syscalls a
     * policy request before, 3 after). What the socket does not take, or
     * refuses, is queued as before. */
    if (c->unsent == 0 && kinds[c->kind]->direct_write) {
        uv_buf_t now = uv_buf_init((char *)data, (unsigned)len);
        int n = uv_try_write(&c->io.stream, &now, 1);
        if (n == (int)len)
            return;
        if (n > 0) {
            data = (const char *)data + n;
            len -= (size_t)n;
        }
        /* An error is left to the queued write below, which reports it
         * from the loop as before: closing here, inside the handler that
         * is sending, would free what it still uses. */
    }
    write_req *w = malloc(sizeof *w + len);
    if (w == NULL) {
        conn_close(c);
        return;
    }
    memcpy(w->data, data, len);
    uv_buf_t buf = uv_buf_init(w->data, (unsigned)len);
    w->req.data = c;
    w->size = sizeof *w + len;
    conn_ref(c);
    if (uv_write(&w->req, &c->io.stream, &buf, 1, on_written) != 0) {
        conn_unref(c);
        free(w);
        conn_close(c);
        return;
    }
    c->unsent += w->size;
}

/* Keeps bytes the handler did not use, in order, ahead of later reads. */
static int hold(conn *c, const uint8_t *data, size_t len)
{
    if (c->held_len + len > c->held_cap) {
        size_t need = c->held_len + len;
        size_t cap = c->held_cap ? c->held_cap : 4096;
        while (cap < need)
            cap *= 2;
        if (cap > HOLD_MAX && need <= HOLD_MAX)
            cap = HOLD_MAX; /* what update_reading lets in, no more */
        uint8_t *n = realloc(c->held, cap);
        if (n == NULL)
            return -1;
        c->held = n;
        c->held_cap = cap;
    }
    memcpy(c->held + c->held_len, data, len);
    c->held_len += len;
    return 0;
}

/* Hands data to the handler until it pauses; keeps what it did not use. */
static void deliver(conn *c, const uint8_t *data, size_t len)
{
    while (len > 0 && !c->paused && !c->closing) {
        size_t used = c->handler->on_data(c, data, len);
        if (used > len)
            used = len;
        data += used;
        len -= used;
        if (used == 0 && !c->paused)
            break; /* the handler closed or cannot go on */
    }
    if (len > 0 && !c->closing && hold(c, data, len) != 0)
        conn_close(c);
}

static void alloc_buffer(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)handle;
    (void)suggested;
    char *p = malloc(READ_CHUNK);
    *buf = uv_buf_init(p, p ? READ_CHUNK : 0);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

/* Reads while there is room: not while HOLD_LIMIT bytes wait for a paused
 * handler, nor while WRITE_LIMIT bytes of replies wait for the client. What
 * the client sends meanwhile waits in the kernel, in order. */
static void update_reading(conn *c)
{
    if (c->closing)
        return;
    bool full = c->held_len >= HOLD_LIMIT || c->unsent >= WRITE_LIMIT;
    if (full && c->reading) {
        uv_read_stop(&c->io.stream);
        c->reading = false;
        c->daemon->stats.reads_stopped++;
    } else if (!full && !c->reading) {
        if (uv_read_start(&c->io.stream, alloc_buffer, on_read) != 0) {
            conn_close(c);
            return;
        }
        c->reading = true;
    }
}

/* Follows the framing over bytes just read, without decoding them (the
 * handler does that): a milter frame is a 4-byte length and that many
 * bytes; a policy request ends with an empty line (a lone CR counts as
 * empty, as the parser drops it). Returns true when a frame or request
 * ended in them; c->mid_request says whether another has begun. */
static bool follow_framing(conn *c, const uint8_t *p, size_t n)
{
    bool ended = false;
    if (kinds[c->kind]->framing == FRAMING_NETSTRING) {
        /* "LEN:DATA,": digits, then LEN bytes and the comma. */
        while (n > 0) {
            if (c->frame_left > 0) {
                size_t take = n < c->frame_left ? n : c->frame_left;
                c->frame_left -= (uint32_t)take;
                p += take;
                n -= take;
                ended = ended || c->frame_left == 0;
                continue;
            }
            uint8_t b = *p++;
            n--;
            if (b >= '0' && b <= '9') {
                c->length_have = 1;
                if (c->length_acc < 100000000) /* the handler refuses far less */
                    c->length_acc = c->length_acc * 10 + (uint32_t)(b - '0');
            } else if (b == ':' && c->length_have) {
                c->frame_left = c->length_acc + 1; /* the data and its comma */
                c->length_have = 0;
                c->length_acc = 0;
            } else {
                /* No netstring: the handler refuses it and closes. */
                c->length_have = 0;
                c->length_acc = 0;
                ended = true;
            }
        }
        c->mid_request = c->length_have > 0 || c->frame_left > 0;
        return ended;
    }
    if (kinds[c->kind]->framing == FRAMING_LENGTH_PREFIX) {
        while (n > 0) {
            if (c->frame_left > 0) {
                size_t take = n < c->frame_left ? n : c->frame_left;
                c->frame_left -= (uint32_t)take;
                p += take;
                n -= take;
                ended = ended || c->frame_left == 0;
                continue;
            }
            c->length_acc = c->length_acc << 8 | *p++;
            n--;
            if (++c->length_have == 4) {
                c->frame_left = c->length_acc; /* 0: the handler refuses it */
                c->length_have = 0;
                c->length_acc = 0;
                ended = ended || c->frame_left == 0;
            }
        }
        c->mid_request = c->length_have > 0 || c->frame_left > 0;
        return ended;
    }
    while (n > 0) {
        const uint8_t *lf = memchr(p, '\n', n);
        size_t text = lf ? (size_t)(lf - p) : n;
        if (text > 0) {
            c->mid_request = true;
            c->line_state = c->line_state == 0 && text == 1 && p[0] == '\r' ? 1 : 2;
        }
        if (lf == NULL)
            break;
        if (c->line_state < 2 || kinds[c->kind]->framing == FRAMING_LINE) {
            ended = true; /* an empty line (or any line): the request is whole */
            c->mid_request = false;
        }
        c->line_state = 0;
        p = lf + 1;
        n -= text + 1;
    }
    return ended;
}

static void on_timeout(uv_timer_t *timer);

/* Starts the timeout that applies now: none while a check is pending, the
 * request timeout while a request is under way, else the idle timeout. */
static void arm_timer(conn *c)
{
    if (c->closing)
        return;
    if (c->paused) {
        uv_timer_stop(&c->timer);
        return;
    }
    const domauth_config *cfg = &c->config->config;
    uint64_t since = c->mid_request ? c->request_since : c->quiet_since;
    unsigned seconds = c->mid_request ? cfg->request_timeout : kinds[c->kind]->idle_timeout(cfg);
    uint64_t due = since + (uint64_t)seconds * 1000, now = uv_now(c->daemon->loop);
    uv_timer_start(&c->timer, on_timeout, due > now ? due - now : 0, 0);
}

static void on_timeout(uv_timer_t *timer)
{
    conn *c = timer->data;
    if (c->closing || c->paused)
        return;
    domauthd *d = c->daemon;
    const domauth_config *cfg = &c->config->config;
    const char *kind = kind_name(c->kind);
    if (c->mid_request) {
        d->stats.request_timeouts++;
        limited_log(d, &d->timeout_log[c->kind], LOG_NOTICE, "sessions timed out",
                    "%s %s: a %s not whole after %u s (request_timeout): session closed", kind,
                    c->peer, kinds[c->kind]->unit, cfg->request_timeout);
    } else {
        d->stats.idle_timeouts++;
        limited_log(d, &d->timeout_log[c->kind], LOG_NOTICE, "sessions timed out",
                    "%s %s: no request for %u s (%s): session closed", kind, c->peer,
                    kinds[c->kind]->idle_timeout(cfg), kinds[c->kind]->idle_timeout_key);
    }
    conn_close(c);
}

/* Bytes that got no reply: acknowledge them now. Postfix's milter client
 * writes without TCP_NODELAY, and it streams frames that are answered by
 * nothing (macros, and headers and body under SMFIP_NR_*): its next write
 * then waits under Nagle for the ACK of the last, which the kernel here
 * delays by up to 40 ms (delayed ACK) as no reply carries it. Measured by
 * the milter benchmark: 45 ms added to every message (bench/README.md). */
static void ack_now(conn *c)
{
    uv_os_fd_t fd;
    int one = 1;
    if (c->tcp && uv_fileno(&c->io.handle, &fd) == 0)
        (void)setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    conn *c = stream->data;
    if (nread < 0) {
        conn_close(c);
    } else if (nread > 0) {
        conn_ref(c);
        const uint8_t *data = (const uint8_t *)buf->base;
        uint64_t now = uv_now(c->daemon->loop);
        bool was_mid = c->mid_request, ended = follow_framing(c, data, (size_t)nread);
        if (ended)
            c->quiet_since = now;
        if (c->mid_request && (ended || !was_mid))
            c->request_since = now;
        if (c->paused || c->held_len > 0) {
            if (hold(c, data, (size_t)nread) != 0)
                conn_close(c);
        } else {
            uint64_t sends = c->sends;
            deliver(c, data, (size_t)nread);
            if (c->sends == sends && !c->paused && !c->closing)
                ack_now(c);
        }
        update_reading(c);
        arm_timer(c);
        conn_unref(c);
    }
    free(buf->base);
}

void conn_pause(conn *c)
{
    c->paused = true;
    arm_timer(c); /* no timeout while the check runs (spf_deadline_ms bounds it) */
}

void conn_resume(conn *c)
{
    if (c->closing || !c->paused)
        return;
    if (c->daemon->stopping) {
        /* The reply is queued; the session ends with it. */
        conn_close(c);
        return;
    }
    c->paused = false;
    /* The timeouts count from the end of the check. */
    c->quiet_since = c->request_since = uv_now(c->daemon->loop);
    conn_ref(c);
    /* Feed what was held; the handler may pause again part-way. */
    while (c->held_len > 0 && !c->paused && !c->closing) {
        size_t len = c->held_len;
        uint8_t *data = c->held;
        c->held = NULL;
        c->held_len = c->held_cap = 0;
        deliver(c, data, len);
        free(data);
    }
    update_reading(c);
    arm_timer(c);
    conn_unref(c);
}

static void on_listener_closed(uv_handle_t *handle);

/* Takes the connection off the queue and closes it, so the MTA applies its
 * default action now rather than waiting. */
static void refuse(listener *l)
{
    domauthd *d = l->daemon;
    uv_stream_t *refused =
        malloc(l->io.handle.type == UV_TCP ? sizeof(uv_tcp_t) : sizeof(uv_pipe_t));
    if (refused == NULL)
        return;
    if (l->io.handle.type == UV_TCP)
        uv_tcp_init(d->loop, (uv_tcp_t *)refused);
    else
        uv_pipe_init(d->loop, (uv_pipe_t *)refused, 0);
    uv_accept(&l->io.stream, refused);
    refused->data = refused;
    uv_close((uv_handle_t *)refused, on_listener_closed);
}

/* NULL when a session may start on l, else the key of the limit reached. */
static const char *limit_reached(const listener *l, unsigned *limit)
{
    const domauthd *d = l->daemon;
    const domauth_config *cfg = &d->config->config;
    const listener_kind *k = kinds[l->kind];
    *limit = k->max_sessions(cfg);
    if (d->stats.kind_sessions_active[l->kind] >= *limit)
        return k->max_sessions_key;
    *limit = cfg->max_sessions;
    if (k->serves_mail && d->stats.sessions_active >= *limit)
        return "max_sessions";
    return NULL;
}

static void on_connection(uv_stream_t *server, int status)
{
    listener *l = server->data;
    domauthd *d = l->daemon;
    if (status < 0 || d->stopping)
        return;
    unsigned limit;
    const char *key = limit_reached(l, &limit);
    if (key != NULL) {
        refuse(l);
        d->stats.sessions_refused++;
        limited_log(d, &d->refusal_log[l->kind], LOG_WARNING, kinds[l->kind]->refused_what,
                    "%s (%u) reached: a %s connection was refused", key, limit,
                    kind_name(l->kind));
        return;
    }
    conn *c = calloc(1, sizeof *c);
    if (c == NULL)
        return;
    c->daemon = d;
    c->kind = l->kind;
    c->refs = 1; /* released by on_conn_closed */
    c->config = config_ref_get(d->config);
    c->handler = kinds[l->kind]->handler;
    int rc = l->io.handle.type == UV_TCP ? uv_tcp_init(d->loop, &c->io.tcp)
                                         : uv_pipe_init(d->loop, &c->io.pipe, 0);
    if (rc != 0) {
        conn_unref(c);
        return;
    }
    c->io.handle.data = c;
    if (uv_accept(server, &c->io.stream) != 0) {
        c->closing = true;
        uv_close(&c->io.handle, on_conn_closed);
        return;
    }
    uv_timer_init(d->loop, &c->timer);
    c->timer.data = c;
    conn_ref(c); /* released when the timer is closed (conn_close) */
    c->quiet_since = uv_now(d->loop);
    if (l->io.handle.type == UV_TCP) {
        struct sockaddr_storage ss;
        int len = sizeof ss;
        if (uv_tcp_getpeername(&c->io.tcp, (struct sockaddr *)&ss, &len) == 0) {
            if (ss.ss_family == AF_INET6)
                uv_ip6_name((struct sockaddr_in6 *)&ss, c->peer, sizeof c->peer);
            else
                uv_ip4_name((struct sockaddr_in *)&ss, c->peer, sizeof c->peer);
        }
        uv_tcp_nodelay(&c->io.tcp, 1);
        c->tcp = true;
    } else {
        snprintf(c->peer, sizeof c->peer, "unix");
    }
    d->stats.connections++;
    d->stats.sessions_active++;
    d->stats.kind_sessions_active[l->kind]++;
    c->state = c->handler->state_new(c);
    if (c->state == NULL) {
        conn_close(c);
        return;
    }
    update_reading(c);
    arm_timer(c);
}

/* ---------------------------------------------------------- listeners */

static void on_listener_closed(uv_handle_t *handle)
{
    free(handle->data);
}

/* A unix socket gets mode and, unless group is (gid_t)-1, that group, set
 * right after bind: before listen, so no client connects to it while it
 * still has the umask's permissions. */
static int open_one(domauthd *d, const char *spec, conn_kind kind, unsigned mode, gid_t group,
                    char *err, size_t err_size)
{
    listener *l = calloc(1, sizeof *l);
    if (l == NULL) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    l->daemon = d;
    l->kind = kind;
    snprintf(l->address, sizeof l->address, "%s", spec);
    int rc;
    bool initialized = false;
    if (strncmp(spec, "unix:", 5) == 0) {
        snprintf(l->unix_path, sizeof l->unix_path, "%s", spec + 5);
        unlink(l->unix_path); /* a stale socket from an earlier run */
        rc = uv_pipe_init(d->loop, &l->io.pipe, 0);
        initialized = rc == 0;
        if (rc == 0)
            rc = uv_pipe_bind(&l->io.pipe, l->unix_path);
        if (rc == 0 && chmod(l->unix_path, mode) != 0)
            rc = uv_translate_sys_error(errno);
        if (rc == 0 && group != (gid_t)-1 && chown(l->unix_path, (uid_t)-1, group) != 0)
            rc = uv_translate_sys_error(errno);
    } else {
        char host[256];
        const char *hp = spec + 5;
        const char *colon = strrchr(hp, ':');
        snprintf(host, sizeof host, "%.*s", (int)(colon - hp), hp);
        int port = atoi(colon + 1);
        char *h = host; /* [v6]:port */
        size_t hl = strlen(h);
        if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
            h[hl - 1] = '\0';
            h++;
        }
        struct sockaddr_storage ss;
        if (strchr(h, ':') != NULL)
            rc = uv_ip6_addr(h, port, (struct sockaddr_in6 *)&ss);
        else
            rc = uv_ip4_addr(h, port, (struct sockaddr_in *)&ss);
        if (rc == 0) {
            rc = uv_tcp_init(d->loop, &l->io.tcp);
            initialized = rc == 0;
        }
        if (rc == 0)
            rc = uv_tcp_bind(&l->io.tcp, (struct sockaddr *)&ss, 0);
    }
    l->io.handle.data = l;
    if (rc == 0)
        rc = uv_listen(&l->io.stream, 511, on_connection);
    if (rc != 0) {
        snprintf(err, err_size, "cannot listen on %s: %s", spec, uv_strerror(rc));
        if (initialized)
            uv_close(&l->io.handle, on_listener_closed);
        else
            free(l);
        return -1;
    }
    l->next = d->listeners;
    d->listeners = l;
    daemon_log(LOG_INFO, "listening for %s on %s", kind_name(kind), spec);
    return 0;
}

int listeners_open(domauthd *d, char *err, size_t err_size)
{
    const domauth_config *cfg = &d->config->config;
    bool mail = false;
    /* socket_group: the group the MTA's user is in, so that socket_mode
     * 0660 lets it connect whoever domauthd runs as. */
    gid_t mail_group = (gid_t)-1;
    if (cfg->socket_group && *cfg->socket_group) {
        errno = 0;
        struct group *gr = getgrnam(cfg->socket_group);
        if (gr == NULL) {
            snprintf(err, err_size, "socket_group: no group '%s' on this system%s%s",
                     cfg->socket_group, errno ? ": " : "", errno ? strerror(errno) : "");
            return -1;
        }
        mail_group = gr->gr_gid;
    }
    for (int k = 0; k < CONN_KINDS; k++) {
        const char *address = kinds[k]->address(cfg);
        if (address == NULL || *address == '\0')
            continue;
        if (!kinds[k]->serves_mail && !kinds[k]->inet) {
            /* The control socket: unix only (its mode is its access
             * control), in a directory made if missing. */
            if (strncmp(address, "unix:", 5) != 0) {
                daemon_log(LOG_WARNING, "%s = %s: only unix:/path is allowed; no %s socket",
                           kinds[k]->name, address, kinds[k]->name);
                continue;
            }
            char dir[300];
            snprintf(dir, sizeof dir, "%s", address + 5);
            char *slash = strrchr(dir, '/');
            if (slash != NULL && slash != dir) {
                *slash = '\0';
                if (mkdir(dir, 0755) != 0 && errno != EEXIST)
                    daemon_log(LOG_WARNING, "cannot make %s for the %s socket: %s", dir,
                               kinds[k]->name, strerror(errno));
            }
        }
        gid_t group = kinds[k]->serves_mail ? mail_group : (gid_t)-1;
        if (open_one(d, address, (conn_kind)k, kinds[k]->socket_mode(cfg), group, err,
                     err_size) != 0) {
            if (kinds[k]->serves_mail)
                return -1;
            /* A listener that carries no mail (control) never stops it. */
            daemon_log(LOG_WARNING, "%s (the daemon runs without it)", err);
            continue;
        }
        mail = mail || kinds[k]->serves_mail;
    }
    if (!mail) {
        snprintf(err, err_size, "no listener configured: set milter or policy in [daemon], "
                                "or socketmap in [srs]");
        return -1;
    }
    bool both = cfg->milter_listen && *cfg->milter_listen && cfg->policy_listen &&
                *cfg->policy_listen;
    if (both && (uint64_t)cfg->milter_max_sessions + cfg->policy_max_sessions > cfg->max_sessions)
        daemon_log(LOG_WARNING,
                   "milter_max_sessions (%u) and policy_max_sessions (%u) add up to more than "
                   "max_sessions (%u): one listener can fill the places of the other",
                   cfg->milter_max_sessions, cfg->policy_max_sessions, cfg->max_sessions);
    return 0;
}

void listeners_close(domauthd *d)
{
    for (int k = 0; k < CONN_KINDS; k++) {
        log_limit_close(&d->refusal_log[k]);
        log_limit_close(&d->timeout_log[k]);
    }
    listener *l = d->listeners;
    d->listeners = NULL;
    while (l != NULL) {
        listener *next = l->next;
        if (l->unix_path[0])
            unlink(l->unix_path);
        uv_close(&l->io.handle, on_listener_closed);
        l = next;
    }
}
