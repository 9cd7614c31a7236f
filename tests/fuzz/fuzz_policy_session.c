/* fuzz_policy_session.c: libFuzzer target for whole Postfix policy
 * delegation sessions, through daemon/policy_conn.c's handler and the
 * message service, on a real loop with a zone resolver behind a DNS cache
 * (tests/fuzz/conn_stub.c stands in for listen.c). Any sequence of
 * requests, pipelined and cut anywhere, must neither crash nor leak, and
 * every reply must be one "action=..." line and an empty line.
 *
 * The input is read as a program: the first byte picks the configuration,
 * then each byte is an operation: a request built from a mask of the
 * attributes domauth reads (request, protocol_state, instance, sender,
 * recipient, client_address, client_name, helo_name, queue_id,
 * sasl_username, ...) with canned or fuzzed values, the same request again
 * for another recipient (several per message, then the next instance),
 * a raw line, an empty line or raw bytes; or the answers come (all, or one
 * in any order), time passes
 * (the event flush timer, SPF deadlines), the connection is lost, the
 * configuration reloaded, or the reads cut otherwise. A closed connection is
 * replaced by a new one. At the end everything is answered, closed and
 * freed: what is left is a leak. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn_stub.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An operation is its byte modulo OP_COUNT: new ones go at the end, so the
 * seeds (written with values below OP_COUNT) keep their meaning. */
enum op {
    OP_REQUEST, OP_TYPICAL, OP_AGAIN, OP_LINE, OP_EMPTY, OP_RAW, OP_DNS, OP_SETTLE, OP_TIME,
    OP_LOSE, OP_RELOAD, OP_CUT, OP_SEND_FAILS, OP_STOP, OP_ANSWER, OP_COUNT
};

enum { ATTR_COUNT = 16 };

typedef struct session {
    fuzz_session fs; /* first: run_op is handed it */
    strbuf value;
    /* the last request, for OP_AGAIN */
    strbuf last[ATTR_COUNT];
    bool last_present[ATTR_COUNT];
    bool crlf;
} session;

static const char *const attr_names[ATTR_COUNT] = {
    "request", "protocol_state", "protocol_name", "instance", "sender", "recipient",
    "client_address", "client_name", "helo_name", "queue_id", "sasl_username",
    "recipient_count", "size", "ccert_subject", "protocol_state", "sasl_method"};

static const char *const requests[] = {"smtpd_access_policy", "junk", ""};
static const char *const states[] = {"RCPT", "MAIL", "DATA", "END-OF-MESSAGE", "CONNECT",
                                     "rcpt", "EHLO", "VRFY", "", "ETRN"};
static const char *const protocols[] = {"ESMTP", "SMTP"};
static const char *const instances[] = {"a1.1", "a1.2", "b2", ""};
static const char *const counts[] = {"0", "1", "2"};
static const char *const sizes[] = {"0", "1024", "99999999999999999999"};
static const char *const subjects[] = {"CN=x", ""};
static const char *const methods[] = {"PLAIN", "LOGIN", ""};

static void pick_attr(session *s, size_t i)
{
    fuzz_reader *in = &s->fs.in;
    strbuf *v = &s->value;
    switch (i) {
    case 0: fuzz_value(in, v, requests, 3, true); break;
    case 1: case 14: fuzz_value(in, v, states, 10, true); break;
    case 2: fuzz_value(in, v, protocols, 2, true); break;
    case 3: fuzz_value(in, v, instances, 4, true); break;
    case 4: fuzz_pick(in, v, &fuzz_senders, true); break;
    case 5: fuzz_pick(in, v, &fuzz_rcpts, true); break;
    case 6: fuzz_pick(in, v, &fuzz_ips, true); break;
    case 7: fuzz_pick(in, v, &fuzz_client_names, true); break;
    case 8: fuzz_pick(in, v, &fuzz_helos, true); break;
    case 9: fuzz_pick(in, v, &fuzz_queue_ids, true); break;
    case 10: fuzz_pick(in, v, &fuzz_auth_users, true); break;
    case 11: fuzz_value(in, v, counts, 3, true); break;
    case 12: fuzz_value(in, v, sizes, 3, true); break;
    case 13: fuzz_value(in, v, subjects, 2, true); break;
    default: fuzz_value(in, v, methods, 3, true); break;
    }
    strbuf_clear(&s->last[i]);
    /* A value holds no LF: that would end its line. */
    for (size_t k = 0; k < v->len; k++)
        strbuf_putc(&s->last[i], v->data[k] == '\n' ? ' ' : v->data[k]);
    s->last_present[i] = true;
}

static void put_line(session *s, const char *name, const strbuf *value)
{
    strbuf_printf(&s->fs.wire, "%s=", name);
    strbuf_append(&s->fs.wire, value->data ? value->data : "", value->len);
    strbuf_puts(&s->fs.wire, s->crlf ? "\r\n" : "\n");
}

static void put_last(session *s)
{
    for (size_t i = 0; i < ATTR_COUNT; i++)
        if (s->last_present[i])
            put_line(s, attr_names[i], &s->last[i]);
    strbuf_puts(&s->fs.wire, s->crlf ? "\r\n" : "\n");
}

/* A request with the attributes of a 16-bit mask; bit 15 sends CRLF. */
static void op_request(session *s)
{
    uint16_t mask = (uint16_t)(fuzz_byte(&s->fs.in) << 8 | fuzz_byte(&s->fs.in));
    s->crlf = (mask & 0x8000) != 0;
    mask &= 0x7fff;
    for (size_t i = 0; i < ATTR_COUNT; i++) {
        s->last_present[i] = false;
        if (mask & (1u << i))
            pick_attr(s, i);
    }
    put_last(s);
}

/* What Postfix sends at RCPT, with the sender, recipient, client and
 * instance chosen. */
static void op_typical(session *s)
{
    static const size_t fixed[] = {0, 1, 2, 7, 8, 9, 11};
    static const char *const fixed_values[] = {"smtpd_access_policy", "RCPT", "ESMTP",
                                               "mx.pass.test", "mx.pass.test", "", "0"};
    for (size_t i = 0; i < ATTR_COUNT; i++)
        s->last_present[i] = false;
    for (size_t k = 0; k < sizeof fixed / sizeof fixed[0]; k++) {
        strbuf_clear(&s->last[fixed[k]]);
        strbuf_puts(&s->last[fixed[k]], fixed_values[k]);
        s->last_present[fixed[k]] = true;
    }
    pick_attr(s, 3);
    pick_attr(s, 4);
    pick_attr(s, 5);
    pick_attr(s, 6);
    s->crlf = false;
    put_last(s);
}

/* The last request again: another recipient, or the next state (DATA,
 * END-OF-MESSAGE) of the same instance. */
static void op_again(session *s)
{
    uint8_t what = fuzz_byte(&s->fs.in);
    if (what & 1)
        pick_attr(s, 5);
    if (what & 2)
        pick_attr(s, 1);
    if (what & 4)
        pick_attr(s, 9);
    put_last(s);
}

/* ---------------------------------------------------- what comes back */

static void check_replies(fuzz_conn *fc, const uint8_t *data, size_t len)
{
    (void)fc;
    /* conn_send gets whole replies: "action=TEXT\n\n", TEXT one line. */
    const char *p = (const char *)data, *end = p + len;
    FUZZ_CHECK(len > 0);
    while (p < end) {
        if (fuzz_tracing())
            fprintf(stderr, "reply %.*s\n", (int)strcspn(p, "\n"), p);
        FUZZ_CHECK((size_t)(end - p) > 9 && memcmp(p, "action=", 7) == 0);
        const char *lf = memchr(p, '\n', (size_t)(end - p));
        FUZZ_CHECK(lf != NULL && lf > p + 7 && lf + 1 < end && lf[1] == '\n');
        FUZZ_CHECK(memchr(p, '\0', (size_t)(lf - p)) == NULL);
        FUZZ_CHECK(memchr(p, '\r', (size_t)(lf - p)) == NULL);
        p = lf + 2;
    }
}

/* --------------------------------------------------------- the wire */

static void opened(fuzz_conn *fc)
{
    fc->check_output = check_replies;
}

static void run_op(fuzz_session *fs, uint8_t op)
{
    session *s = (session *)fs;
    fuzz_reader *in = &s->fs.in;
    switch (op % OP_COUNT) {
    case OP_REQUEST: op_request(s); break;
    case OP_TYPICAL: op_typical(s); break;
    case OP_AGAIN: op_again(s); break;
    case OP_LINE: {
        uint8_t which = fuzz_byte(in);
        if (which < ATTR_COUNT) {
            pick_attr(s, which);
            s->last_present[which] = false; /* not for OP_AGAIN */
            put_line(s, attr_names[which], &s->last[which]);
        } else {
            const uint8_t *b;
            size_t n = fuzz_bytes(in, &b);
            strbuf_append(&s->fs.wire, (const char *)b, n);
            strbuf_putc(&s->fs.wire, '\n');
        }
        break;
    }
    case OP_EMPTY: strbuf_puts(&s->fs.wire, "\n"); break;
    case OP_RAW: {
        const uint8_t *b;
        size_t n = fuzz_bytes(in, &b);
        strbuf_append(&s->fs.wire, (const char *)b, n);
        break;
    }
    case OP_DNS: fuzz_session_op_run(&s->fs, FUZZ_OP_DNS); break;
    case OP_ANSWER: fuzz_session_op_run(&s->fs, FUZZ_OP_ANSWER); break;
    case OP_SETTLE: fuzz_session_op_run(&s->fs, FUZZ_OP_SETTLE); break;
    case OP_TIME: fuzz_session_op_run(&s->fs, FUZZ_OP_TIME); break;
    case OP_LOSE: fuzz_session_op_run(&s->fs, FUZZ_OP_LOSE); break;
    case OP_RELOAD: fuzz_session_op_run(&s->fs, FUZZ_OP_RELOAD); break;
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
    s.fs.kind = CONN_POLICY;
    s.fs.handler = &policy_handler;
    s.fs.opened = opened;
    strbuf_init(&s.value);
    for (size_t i = 0; i < ATTR_COUNT; i++)
        strbuf_init(&s.last[i]);
    fuzz_session_run(&s.fs, data, size, run_op);
    strbuf_free(&s.value);
    for (size_t i = 0; i < ATTR_COUNT; i++)
        strbuf_free(&s.last[i]);
    return 0;
}
