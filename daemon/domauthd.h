/* domauthd.h: the daemon's shared types. One process, one libuv loop: the
 * listeners (milter, Postfix policy), the DNS resolver and caches, the event
 * log and the current configuration all live here. Only the daemon has
 * concurrency; the library it drives does no I/O of its own. */
#ifndef DA_DAEMON_H
#define DA_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config/config.h"
#include "domauth.h"
#include "domauth_net.h"
#include "store/eventlog.h"
#include "policy/decision.h"
#include "service/service.h"

/* A configuration shared by the sessions that started under it; a reload
 * makes a new one, and the old one goes when its last session ends. */
typedef struct config_ref {
    domauth_config config;
    unsigned refs;
    char host_name[256];
    struct da_dkim_key **dkim_keys; /* loaded from config.dkim_keys[i].path */
    struct srs *srs;                /* [srs] with its secrets file; NULL without socketmap */
    svc_config svc;                 /* the service's view of the above */
} config_ref;

config_ref *config_ref_get(config_ref *ref);
void config_ref_put(config_ref *ref);

/* The listener registry: each protocol describes itself in one
 * listener_kind (its file defines it), listed once in listen.c's table.
 * Adding a listener adds a kind here, its file and one table line; no
 * other listener's code changes. */
typedef enum conn_kind {
    CONN_MILTER,
    CONN_POLICY,
    CONN_CONTROL,
    CONN_SOCKETMAP,
    CONN_METRICS,
    CONN_KINDS
} conn_kind;

/* The SRS socketmap's lookups (socketmap_conn.c), by the reply given. */
typedef struct socketmap_stats {
    uint64_t requests, ok, notfound, temp, perm;
} socketmap_stats;

typedef struct daemon_stats {
    uint64_t connections, sessions_active, checks, skips, defers, rejects, held_back,
        protocol_errors;
    uint64_t kind_sessions_active[CONN_KINDS]; /* within sessions_active, by conn_kind */
    uint64_t sessions_refused; /* over a session limit: closed at accept */
    uint64_t idle_timeouts;    /* closed: no request for *_idle_timeout */
    uint64_t request_timeouts; /* closed: a request not whole within request_timeout */
    uint64_t reads_stopped;    /* times a connection stopped reading: input or replies
                                  backed up (listen.c, HOLD_LIMIT and WRITE_LIMIT) */
    socketmap_stats socketmap;
} daemon_stats;

/* A log line any client can make the daemon repeat (a refused connection, a
 * timeout): the first is written at once; the next ones within
 * LOG_LIMIT_SECONDS are counted, and one line then gives their number and
 * the last of them (listen.c). */
enum { LOG_LIMIT_SECONDS = 10 };
typedef struct log_limit {
    uv_timer_t timer;
    bool timer_ready; /* initialised at first use, on the loop */
    bool window;      /* a line was written less than LOG_LIMIT_SECONDS ago */
    int priority;
    const char *what; /* for the summary: "policy connections refused" */
    uint64_t held;    /* lines not written in this window */
    char last[300];
} log_limit;

typedef struct listener listener;

typedef struct domauthd {
    uv_loop_t *loop;
    const char *config_path;
    config_ref *config; /* the current one */
    da_resolver *upstream, *resolver; /* c-ares on the loop, the cache in front */
    da_dns_cache *cache;
    da_spf_record_cache *records;
    struct da_dkim_key_cache *dkim_key_cache; /* decoded keys of senders */
    eventlog *events;
    quarantine *quarantine; /* the folder, when a configuration can quarantine to it */
    uv_timer_t purge_timer; /* quarantine retention, daily */
    struct dmarc_timer *dmarc_timer; /* the daily DMARC reports (dmarc_timer.c) */
    bool purge_timer_ready;
    svc_env env;          /* what every message check shares */
    svc_counters counters;
    listener *listeners;
    uv_signal_t sighup, sigterm, sigint;
    uv_timer_t grace; /* after SIGTERM: the longest sessions may still take */
    bool stopping;
    daemon_stats stats;
    log_limit refusal_log[CONN_KINDS], timeout_log[CONN_KINDS]; /* indexed by conn_kind */
    int64_t started_at, reloaded_at;   /* seconds since the epoch */
    char last_reload[600];             /* "ok", or why the last reload was refused */
    /* The last quarantine purge (daemon_purge_now), for the status. */
    int64_t purged_at;                 /* 0: none since start */
    uint64_t purged_count;
    char purge_error[600];             /* "" when it went well */
    uint64_t reloads, reloads_refused;
} domauthd;

/* ---- connections (listen.c) ---- */

typedef struct conn conn;

/* How a request ends, as listen.c follows it for timeouts without decoding. */
typedef enum framing {
    FRAMING_LENGTH_PREFIX, /* a 4-byte big-endian length, then that many bytes */
    FRAMING_EMPTY_LINE,    /* name=value lines ending with an empty line */
    FRAMING_LINE,          /* one line */
    FRAMING_NETSTRING,     /* "LEN:DATA," */
} framing;

/* What a protocol handler supplies. */
typedef struct conn_handler {
    void *(*state_new)(conn *c);
    /* Called with bytes read; returns the number used. A handler waiting
     * for a check returns fewer and is fed the rest after conn_resume. */
    size_t (*on_data)(conn *c, const uint8_t *data, size_t len);
    void (*on_close)(conn *c); /* free protocol state (checks may still be out) */
} conn_handler;

typedef struct listener_kind {
    conn_kind kind;
    const char *name;      /* "milter": logs and counters */
    const char *unit;      /* what a request is called: "frame", "request" */
    framing framing;
    const conn_handler *handler;
    /* From the configuration: the address (NULL or "" is off), the mode of
     * a unix socket, the session limit and idle timeout with their keys. */
    const char *(*address)(const domauth_config *cfg);
    unsigned (*socket_mode)(const domauth_config *cfg);
    unsigned (*max_sessions)(const domauth_config *cfg);
    unsigned (*idle_timeout)(const domauth_config *cfg);
    const char *max_sessions_key, *idle_timeout_key;
    const char *refused_what; /* "milter connections refused", for counted logs */
    bool serves_mail;      /* one such listener is needed to start */
    bool inet;             /* carries no mail yet may be TCP (metrics; control is unix only) */
    /* Replies are written at once from the handler when nothing is queued
     * (conn_send). Only for handlers that never close a session after a
     * reply (conn_close_when_written would then close under them). */
    bool direct_write;
} listener_kind;

extern const listener_kind milter_listener, policy_listener, control_listener,
    socketmap_listener, metrics_listener;

struct conn {
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_tcp_t tcp;
        uv_pipe_t pipe;
    } io;
    domauthd *daemon;
    config_ref *config;
    conn_kind kind;
    const conn_handler *handler;
    void *state;        /* the protocol's */
    unsigned refs;      /* the connection itself and each check in flight */
    bool closing;
    bool paused;        /* waiting for a check: input is held back */
    uint8_t *held;      /* bytes read but not yet used */
    size_t held_len, held_cap;
    char peer[64];
    /* Flow control and timeouts (listen.c). The framing is followed as the
     * bytes arrive (length prefixes, empty lines), not decoded. */
    bool reading;           /* uv_read_start is in effect */
    size_t unsent;          /* bytes of replies queued, write requests included */
    uint64_t sends;         /* replies queued so far (conn_send calls) */
    bool tcp;               /* a TCP connection (TCP_QUICKACK applies) */
    bool mid_request;       /* part of a frame or request has arrived */
    uint8_t length_have;    /* milter: bytes of the length prefix received */
    uint8_t line_state;     /* policy: 0 at a line start, 1 after a lone CR, 2 in text */
    uint32_t length_acc;    /* milter: the length prefix so far */
    uint32_t frame_left;    /* milter: bytes of the current frame still to come */
    uint64_t quiet_since;   /* loop time the last request ended, the session began
                               or a check ended */
    uint64_t request_since; /* loop time the request under way began */
    uv_timer_t timer;       /* the idle or request timeout */
    bool close_when_written;
};

void conn_ref(conn *c);
void conn_unref(conn *c);
/* Queues bytes to send (copied). */
void conn_send(conn *c, const void *data, size_t len);
/* Stops handing input to the handler until conn_resume. */
void conn_pause(conn *c);
void conn_resume(conn *c);
void conn_close(conn *c);
/* Moves the connection to the current configuration, between requests or
 * messages only: Postfix keeps policy and milter connections open across
 * SMTP sessions, and a reload must reach them. */
void conn_refresh_config(conn *c);

/* Opens every listener the configuration names. */
int listeners_open(domauthd *d, char *err, size_t err_size);
void listeners_close(domauthd *d);
/* The address a listener is bound to ("inet:127.0.0.1:8895"), for logs. */
const char *listener_address(const listener *l);
const listener *listener_next(const listener *l);
conn_kind listener_kind_of(const listener *l);
const char *listener_kind_name(const listener *l);
/* Closes once every queued reply is written (a one-answer protocol). */
void conn_close_when_written(conn *c);

/* ---- protocols ---- */

extern const conn_handler milter_handler;
extern const conn_handler policy_handler;
extern const conn_handler socketmap_handler;

/* The SRS rewriter of a configuration's [srs] section, with the secrets
 * (the text of the secrets file, len bytes; source names it in errors).
 * NULL with why in err: a setting the engine refuses, no secret in the
 * text, out of memory (socketmap_conn.c). */
struct srs *socketmap_srs_new(const domauth_config *cfg, const char *secrets, size_t len,
                              const char *source, char *err, size_t err_size);

/* ---- what the control listener asks of the daemon (main.c) ---- */

/* Reloads the configuration as SIGHUP does. Returns 0, or -1 with why the
 * reload was refused in err (the running configuration stays). */
int daemon_reload(domauthd *d, char *err, size_t err_size);
/* Loads the configuration read from fd (path names it in messages) as a
 * reload would (the same checks as -t, with this process's rights: its keys
 * and files), and drops it. Returns 0, or -1 with why in err. */
int daemon_check_config(const char *path, int fd, char *err, size_t err_size);
/* The daily retention now (the control socket's purge): the event store's
 * on its writer thread (under the cluster's lease), the quarantine's. */
void daemon_purge_now(domauthd *d);

/* ---- logging of the daemon itself (main.c) ---- */

void daemon_log(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- the daily DMARC aggregate reports (dmarc_timer.c) ---- */

/* Starts the timer (it looks at [dmarc] report each time, so a reload
 * turns the reports on or off); stop closes it at exit (a run under way is
 * left to end with the process), free after the loop's last run. */
void dmarc_timer_start(domauthd *d);
void dmarc_timer_stop(domauthd *d);
void dmarc_timer_free(domauthd *d);
/* Daily runs left to the node holding the cluster's report lease (read on
 * the loop, as the timer writes it). */
uint64_t dmarc_timer_lease_skipped(const domauthd *d);

#endif
