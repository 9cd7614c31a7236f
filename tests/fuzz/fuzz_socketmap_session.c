/* fuzz_socketmap_session.c: libFuzzer target for whole SRS socketmap
 * sessions, through daemon/socketmap_conn.c's handler (tests/fuzz/
 * conn_stub.c stands in for listen.c and main.c; the [srs] secrets are
 * given from memory as config_load would read them). Any stream of
 * netstrings, pipelined and cut anywhere, with reloads between (some
 * configurations have no [srs], as after a reload that removed it), must
 * neither crash nor leak; every reply is one netstring "OK data",
 * "NOTFOUND ...", "TEMP ..." or "PERM ...", one per request, and after a
 * malformed netstring nothing more is answered.
 *
 * The input is read as a program: the first byte picks the configuration,
 * then each byte is an operation: a request of a canned or fuzzed map name
 * and key; the reverse of the last address a forward gave (so hashes that
 * verify are reached), maybe with one byte changed; a raw netstring of
 * fuzzed bytes; raw bytes; or the connection is lost, the configuration
 * reloaded, time passes, the reads are cut otherwise, a send fails, the
 * daemon stops. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn_stub.h"
#include "proto/socketmap.h"
#include "srs/srs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum op {
    OP_REQUEST, OP_REVERSE_LAST, OP_NETSTRING, OP_RAW, OP_LOSE, OP_RELOAD, OP_TIME, OP_CUT,
    OP_SEND_FAILS, OP_STOP, OP_COUNT
};

typedef struct session {
    fuzz_session fs; /* first: run_op is handed it */
    strbuf name, key;
    char last[SRS_ADDRESS_MAX]; /* the last address an OK reply gave */
} session;

/* What the replies of the connection in use are checked against. */
typedef struct reply_check {
    socketmap_parser parser; /* reads the daemon's netstrings */
    session *s;
    bool failed_seen; /* a PERM for a malformed netstring went out */
} reply_check;

static const char *const names[] = {"forward", "reverse", "FORWARD", "junk", "forward "};
static const char *const keys[] = {
    "alice@example.org", "bob@dest.test", "c@sub.pass.test", "", "postmaster", "@example.org",
    "SRS0=abcd=TT=orig.test=bob@other.test", "SRS0=HHHH=TT=example.org=alice@fwd.test",
    "SRS1=HHHH=other.test==abcd=TT=orig.test=bob@fwd.test", "SRS0+x+YY+d+u@fwd.test",
    "SRS0=====@fwd.test", "a@fwd.test", "\"quoted@local\"@example.org", "x@other.test",
    "srs0=abcd=zz=a.test=b@fwd.test"};

static void secrets_for(config_ref *ref)
{
    if (ref->config.srs_socketmap == NULL || *ref->config.srs_socketmap == '\0')
        return;
    static const char secrets[] = "fuzz-secret-new\nfuzz-secret-old\n";
    char err[300];
    ref->srs = socketmap_srs_new(&ref->config, secrets, sizeof secrets - 1, "fuzz", err, sizeof err);
    if (ref->srs == NULL) {
        fprintf(stderr, "[srs] of a built-in configuration: %s\n", err);
        abort();
    }
}

static void put_netstring(session *s, const char *p, size_t n)
{
    strbuf_printf(&s->fs.wire, "%zu:", n);
    strbuf_append(&s->fs.wire, p, n);
    strbuf_putc(&s->fs.wire, ',');
}

static void put_request(session *s, const char *name, size_t name_len, const char *key,
                        size_t key_len)
{
    strbuf req;
    strbuf_init(&req);
    strbuf_append(&req, name, name_len);
    strbuf_putc(&req, ' ');
    strbuf_append(&req, key, key_len);
    FUZZ_CHECK(!req.failed);
    put_netstring(s, req.data, req.len);
    strbuf_free(&req);
}

static void check_replies(fuzz_conn *fc, const uint8_t *data, size_t len)
{
    reply_check *rc = fc->check_state;
    FUZZ_CHECK(len > 0 && !rc->failed_seen);
    while (len > 0) {
        size_t used;
        socketmap_status st = socketmap_parser_feed(&rc->parser, (const char *)data, len, &used);
        /* conn_send gets whole replies. */
        FUZZ_CHECK(st == SOCKETMAP_REQUEST && used <= len);
        data += used;
        len -= used;
        const char *word = rc->parser.name, *text = rc->parser.key;
        if (fuzz_tracing())
            fprintf(stderr, "reply %s %s\n", word, text);
        FUZZ_CHECK(strcmp(word, "OK") == 0 || strcmp(word, "NOTFOUND") == 0 ||
                   strcmp(word, "TEMP") == 0 || strcmp(word, "PERM") == 0);
        if (strcmp(word, "OK") == 0) {
            FUZZ_CHECK(rc->parser.key_len > 0 && rc->parser.key_len < SRS_ADDRESS_MAX);
            memcpy(rc->s->last, text, rc->parser.key_len + 1);
        }
        if (strncmp(text, "bad request: netstring", 22) == 0 ||
            strncmp(text, "bad request: expected ','", 25) == 0)
            rc->failed_seen = true;
    }
}

static session *current; /* the session whose connections are being opened */

static void opened(fuzz_conn *fc)
{
    reply_check *rc = calloc(1, sizeof *rc);
    FUZZ_CHECK(rc != NULL && socketmap_parser_init(&rc->parser, SOCKETMAP_REPLY_MAX) == 0);
    rc->s = current;
    fc->check_state = rc;
    fc->check_output = check_replies;
}

static void dropped(fuzz_conn *fc)
{
    reply_check *rc = fc->check_state;
    socketmap_parser_free(&rc->parser);
    free(rc);
    fc->check_state = NULL;
}

static void run_op(fuzz_session *fs, uint8_t op)
{
    session *s = (session *)fs;
    fuzz_reader *in = &s->fs.in;
    switch (op % OP_COUNT) {
    case OP_REQUEST:
        fuzz_value(in, &s->name, names, sizeof names / sizeof names[0], false);
        fuzz_value(in, &s->key, keys, sizeof keys / sizeof keys[0], false);
        put_request(s, s->name.data ? s->name.data : "", s->name.len,
                    s->key.data ? s->key.data : "", s->key.len);
        break;
    case OP_REVERSE_LAST: {
        char key[SRS_ADDRESS_MAX];
        snprintf(key, sizeof key, "%s", s->last[0] ? s->last : "SRS0=x=TT=a.test=b@fwd.test");
        uint8_t where = fuzz_byte(in), what = fuzz_byte(in);
        size_t n = strlen(key);
        if (what != 0 && n > 0)
            key[where % n] = (char)what;
        put_request(s, "reverse", 7, key, strlen(key));
        break;
    }
    case OP_NETSTRING: {
        const uint8_t *b;
        size_t n = fuzz_bytes(in, &b);
        put_netstring(s, (const char *)b, n);
        break;
    }
    case OP_RAW: {
        const uint8_t *b;
        size_t n = fuzz_bytes(in, &b);
        strbuf_append(&s->fs.wire, (const char *)b, n);
        break;
    }
    case OP_LOSE: fuzz_session_op_run(&s->fs, FUZZ_OP_LOSE); break;
    case OP_RELOAD: fuzz_session_op_run(&s->fs, FUZZ_OP_RELOAD); break;
    case OP_TIME: fuzz_session_op_run(&s->fs, FUZZ_OP_TIME); break;
    case OP_CUT: fuzz_session_op_run(&s->fs, FUZZ_OP_CUT); break;
    case OP_SEND_FAILS: fuzz_session_op_run(&s->fs, FUZZ_OP_SEND_FAILS); break;
    case OP_STOP: fuzz_session_op_run(&s->fs, FUZZ_OP_STOP); break;
    }
    FUZZ_CHECK(!s->fs.wire.failed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static session s;
    memset(&s, 0, sizeof s);
    current = &s;
    fuzz_config_made = secrets_for;
    s.fs.kind = CONN_SOCKETMAP;
    s.fs.handler = &socketmap_handler;
    s.fs.opened = opened;
    s.fs.dropped = dropped;
    strbuf_init(&s.name);
    strbuf_init(&s.key);
    fuzz_session_run(&s.fs, data, size, run_op);
    strbuf_free(&s.name);
    strbuf_free(&s.key);
    return 0;
}
