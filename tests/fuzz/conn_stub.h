/* conn_stub.h: what the session fuzz targets share. A stand-in for
 * daemon/listen.c (conn_send, conn_pause, conn_resume, conn_close, the
 * reference counts) and daemon/main.c (daemon_log, config_ref_get/put),
 * close enough that daemon/milter_conn.c and daemon/policy_conn.c run
 * unchanged; and a real service environment on a private libuv loop: a
 * resolver over an in-memory zone (SPF and DKIM key records) behind a
 * da_dns_cache, so a repeated question is answered inside the call that
 * asked, as in domauthd.
 *
 * One fuzz_env per input: fuzz_env_open, then the session, then (once the
 * target has closed its connections and freed its messages) fuzz_env_close,
 * which answers every question still out, runs the loop until nothing is
 * left on it (abort() if a handle stays: something was never closed) and
 * frees it all, so LeakSanitizer sees whatever a session left behind.
 *
 * FUZZ_TRACE=1 in the environment shows what an input does: the daemon's
 * log lines, the events and the replies, on stderr. */
#ifndef DA_FUZZ_CONN_STUB_H
#define DA_FUZZ_CONN_STUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "domauthd.h"
#include "util/strbuf.h"

#define FUZZ_CHECK(cond)                                                                 \
    do {                                                                                 \
        if (!(cond))                                                                     \
            fuzz_check_failed(#cond, __FILE__, __LINE__);                                \
    } while (0)
void fuzz_check_failed(const char *what, const char *file, int line) __attribute__((noreturn));
bool fuzz_tracing(void);

/* ---- reading the input ---- */

typedef struct fuzz_reader {
    const uint8_t *p, *end;
} fuzz_reader;

bool fuzz_more(const fuzz_reader *r);
uint8_t fuzz_byte(fuzz_reader *r);
uint32_t fuzz_u32(fuzz_reader *r);
/* A length byte (0xF0 and above: a second byte makes it up to 4095), then
 * that many bytes (fewer when the input ends). Points into the input. */
size_t fuzz_bytes(fuzz_reader *r, const uint8_t **out);
/* A value: the selector byte picks one of the n canned strings, or (past
 * them) fuzz_bytes; copied into sb, NUL-free only when no_nul. */
void fuzz_value(fuzz_reader *r, strbuf *sb, const char *const *canned, size_t n, bool no_nul);

/* ---- canned values: what a real session would hold, so short inputs
 * reach the checks (SPF of each zone domain, a valid DKIM signature) ---- */

typedef struct fuzz_list {
    const char *const *items;
    size_t count;
} fuzz_list;

extern const fuzz_list fuzz_ips, fuzz_client_names, fuzz_helos, fuzz_senders, fuzz_rcpts,
    fuzz_auth_users, fuzz_queue_ids, fuzz_header_names, fuzz_bodies;
/* The canned values of a header field (by its index in fuzz_header_names). */
const fuzz_list *fuzz_header_values(size_t name_index);
/* fuzz_value over a list. */
void fuzz_pick(fuzz_reader *r, strbuf *sb, const fuzz_list *list, bool no_nul);
/* A header field: name and value, canned or fuzzed. */
void fuzz_header(fuzz_reader *r, strbuf *name, strbuf *value);

/* A message that verifies: its DKIM-Signature field (a valid signature by
 * sign.test's key, the first of the canned DKIM-Signature values), the
 * From:, To: and Subject: fields it signs, in that order (each value as
 * after "Name:", without the leading space), and its body. */
typedef struct fuzz_field {
    const char *name, *value;
} fuzz_field;
enum { FUZZ_SIGNED_FIELDS = 4 };
extern const fuzz_field fuzz_signed_fields[FUZZ_SIGNED_FIELDS];
extern const char fuzz_signed_body[];

/* ---- the environment ---- */

enum { FUZZ_CONFIG_COUNT = 8 };

struct fuzz_upstream;

typedef struct fuzz_env {
    uv_loop_t loop;
    struct fuzz_upstream *upstream; /* the questions out, answered from the zone */
    domauthd d; /* loop, resolvers (d.upstream wraps upstream), cache, records, env,
                 * counters, config */
    size_t repeat_budget; /* bytes fuzz_repeat may still hand out */
} fuzz_env;

/* When set, called with each configuration made (fuzz_env_open, reload)
 * before it is used: a target adds what main.c's config_load would read
 * from files (socketmap_srs_new for [srs], in the socketmap target). */
extern void (*fuzz_config_made)(config_ref *ref);

/* The configuration is built-in text number config_variant %
 * FUZZ_CONFIG_COUNT, made into a generation as main.c's config_load does
 * (its DKIM keys from memory instead of files); the zone is the same for
 * every target (made once, never changed). */
void fuzz_env_open(fuzz_env *e, unsigned config_variant);
/* A reload: the daemon's configuration becomes a new one. */
void fuzz_env_reload(fuzz_env *e, unsigned config_variant);
/* Answers the questions out now (those they lead to come next time) and
 * runs what is due on the loop, without waiting. */
void fuzz_env_step(fuzz_env *e);
/* Answers one of the questions out, the pick-th (modulo their number), so
 * answers come in any order, as from a real resolver. */
void fuzz_env_answer_one(fuzz_env *e, unsigned pick);
/* Steps until no question is out (bounded). */
void fuzz_env_settle(fuzz_env *e);
/* As if time had passed every timer on the loop: each runs now. */
void fuzz_env_time_passes(fuzz_env *e);
/* SIGTERM (main.c's on_sigterm): domauthd stops; a session waiting for a
 * check closes once its reply is sent (conn_resume), the others now (the
 * caller closes them: no new connection may follow). */
void fuzz_env_stop(fuzz_env *e);
void fuzz_env_close(fuzz_env *e);

/* ---- connections ---- */

typedef struct fuzz_conn {
    conn c; /* first: the handlers see only this */
    strbuf out;                  /* every byte sent */
    void (*check_output)(struct fuzz_conn *fc, const uint8_t *data, size_t len);
    void *check_state;
    /* Fault injection: when not 0, the send that brings it to 0 fails as
     * listen.c's conn_send fails (out of memory, uv_write refused): the
     * connection is closed inside conn_send. */
    unsigned sends_before_failure;
} fuzz_conn;

/* How many copies of a unit of unit_len bytes an operation makes from its
 * count byte: 1 to 128, or up to 3840 (enough to pass SVC_HEADER_BLOCK_MAX
 * with fields of a few hundred bytes), but never more than 1.5 MiB in one
 * operation nor 4 MiB in one input, so memory stays bounded. At least 1. */
unsigned fuzz_repeat(fuzz_env *e, uint8_t count, size_t unit_len);

/* A new connection of that kind (milter_handler or policy_handler, whose
 * state_new makes its protocol state; a target links only the one it
 * drives), with a
 * reference for the caller (conn_unref it when done with the connection):
 * conn_close alone frees it on the loop's next turn, as in listen.c. */
fuzz_conn *fuzz_conn_open(fuzz_env *e, conn_kind kind, const conn_handler *handler);
/* Bytes as one read from the socket: handed to the handler, or held while
 * it waits, as listen.c's on_read does. */
void fuzz_conn_read(fuzz_conn *fc, const uint8_t *data, size_t len);

/* ---- a session target: one connection at a time, fed by a program ---- */

/* What fuzz_milter_session and fuzz_policy_session share: the input, the
 * environment, the connection in use (a new one when the last closed) and
 * the bytes written for it, handed over in reads cut as the input chose.
 * A target's own session struct starts with it. */
typedef struct fuzz_session {
    fuzz_env env;
    fuzz_reader in;
    fuzz_conn *fc;
    strbuf wire;        /* bytes not yet read by the daemon */
    size_t wire_sent;
    uint32_t cut_state; /* 0: every operation's bytes in one read */
    conn_kind kind;
    const conn_handler *handler;
    /* A new connection's output checks (check_output, check_state), and
     * their end when it is dropped; opened may be NULL, dropped too. */
    void (*opened)(fuzz_conn *fc);
    void (*dropped)(fuzz_conn *fc);
} fuzz_session;

/* The operations every session target has (their bytes differ by target). */
typedef enum fuzz_session_op {
    FUZZ_OP_DNS,        /* the questions out are answered */
    FUZZ_OP_ANSWER,     /* one of them, any: answers out of order */
    FUZZ_OP_SETTLE,     /* every answer comes */
    FUZZ_OP_TIME,       /* every timer fires */
    FUZZ_OP_LOSE,       /* the client went away, maybe mid-request or mid-check */
    FUZZ_OP_RELOAD,     /* a new configuration */
    FUZZ_OP_CUT,        /* the reads are cut otherwise */
    FUZZ_OP_SEND_FAILS, /* one of the next sends fails */
    FUZZ_OP_STOP,       /* SIGTERM */
} fuzz_session_op;

/* Hands the daemon what was written, in reads cut as chosen; with all, the
 * last part too. */
void fuzz_session_flush(fuzz_session *s, bool all);
/* Closes the connection in use, if any, and lets it go. */
void fuzz_session_drop(fuzz_session *s);
void fuzz_session_op_run(fuzz_session *s, fuzz_session_op op);
/* Runs the whole input: its first byte picks the configuration, then each
 * byte is an operation for run_op (s is the target's session), on the
 * connection in use; no new connection once stopping. At the end the rest
 * of what was written arrives, every answer comes, the client closes and
 * everything is freed (the target frees its own buffers). */
void fuzz_session_run(fuzz_session *s, const uint8_t *data, size_t size,
                      void (*run_op)(fuzz_session *s, uint8_t op));

#endif
