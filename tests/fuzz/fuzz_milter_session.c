/* fuzz_milter_session.c: libFuzzer target for whole milter sessions, through
 * daemon/milter_conn.c's handler and the message service, on a real loop
 * with a zone resolver behind a DNS cache (tests/fuzz/conn_stub.c stands in
 * for listen.c). Any sequence of frames, in any order and cut anywhere,
 * must neither crash nor leak, and what is sent back must be milter reply
 * frames.
 *
 * The input is read as a program, so short inputs reach deep states: the
 * first byte picks the configuration (conn_stub.c), then each byte is an
 * operation, most of them one frame an MTA sends, built from canned or
 * fuzzed values (OPTNEG, MACRO, CONNECT, HELO, MAIL, RCPT, HEADER (once or
 * thousands of times), EOH, BODY,
 * BODYEOB, ABORT, QUIT_NC, QUIT, DATA, UNKNOWN, a raw frame, raw bytes);
 * the others let DNS answers come (all, or one in any order), let time pass (every timer fires), lose
 * the connection, reload the configuration or change how the bytes are
 * cut into reads. A closed connection is replaced by a new one. At the end
 * the answers come, the connection closes and everything is freed: what is
 * left is a leak. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn_stub.h"
#include "proto/milter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An operation is its byte modulo OP_COUNT: new ones go at the end, so the
 * seeds (written with values below OP_COUNT) keep their meaning. */
enum op {
    OP_OPTNEG, OP_MACRO, OP_CONNECT, OP_HELO, OP_MAIL, OP_RCPT, OP_HEADER, OP_HEADER_REPEAT,
    OP_EOH, OP_BODY, OP_BODYEOB, OP_ABORT, OP_QUIT_NC, OP_QUIT, OP_DATA, OP_UNKNOWN,
    OP_RAW_FRAME, OP_RAW_BYTES, OP_DNS, OP_SETTLE, OP_TIME, OP_LOSE, OP_RELOAD, OP_CUT,
    OP_MESSAGE, OP_SEND_FAILS, OP_STOP, OP_ANSWER, OP_COUNT
};

typedef struct session {
    fuzz_session fs; /* first: run_op is handed it */
    strbuf a, b;     /* scratch values */
} session;

/* ---------------------------------------------------- what comes back */

typedef struct reply_state {
    milter_decoder decoder;
    uint32_t agreed_protocol;
    bool negotiated;
} reply_state;

static void check_replies(fuzz_conn *fc, const uint8_t *data, size_t len)
{
    reply_state *rs = fc->check_state;
    while (len > 0) {
        size_t used = 0;
        milter_frame f;
        milter_decode_status st = milter_decoder_feed(&rs->decoder, data, len, &used, &f);
        FUZZ_CHECK(st != MILTER_DECODE_ERROR);
        data += used;
        len -= used;
        if (st == MILTER_DECODE_NEED_MORE)
            break;
        if (fuzz_tracing())
            fprintf(stderr, "reply '%c' %.*s\n", f.command,
                    f.command == SMFIC_OPTNEG ? 0 : (int)f.len, (const char *)f.payload);
        switch (f.command) {
        case SMFIC_OPTNEG: {
            milter_optneg agreed;
            char err[200];
            FUZZ_CHECK(milter_parse_optneg(f.payload, f.len, &agreed, err, sizeof err) == 0);
            rs->agreed_protocol = agreed.protocol;
            rs->negotiated = true;
            break;
        }
        case SMFIR_CONTINUE:
        case SMFIR_TEMPFAIL:
        case SMFIR_REJECT:
        case SMFIR_DISCARD:
            FUZZ_CHECK(f.len == 0);
            break;
        case SMFIR_QUARANTINE:
            /* quarantine_mode = hold: a reason, one NUL-terminated line. */
            FUZZ_CHECK(f.len >= 2 && f.payload[f.len - 1] == '\0');
            FUZZ_CHECK(memchr(f.payload, '\0', f.len) == f.payload + f.len - 1);
            FUZZ_CHECK(memchr(f.payload, '\n', f.len) == NULL);
            break;
        case SMFIR_REPLYCODE:
            FUZZ_CHECK(f.len >= 4 && f.payload[f.len - 1] == '\0');
            FUZZ_CHECK(f.payload[0] == '4' || f.payload[0] == '5');
            FUZZ_CHECK(memchr(f.payload, '\0', f.len) == f.payload + f.len - 1);
            FUZZ_CHECK(memchr(f.payload, '\n', f.len) == NULL);
            break;
        case SMFIR_ADDHEADER:
        case SMFIR_INSHEADER:
        case SMFIR_CHGHEADER: {
            size_t skip = f.command == SMFIR_ADDHEADER ? 0 : 4;
            FUZZ_CHECK(f.len > skip + 2 && f.payload[f.len - 1] == '\0');
            const char *name = (const char *)f.payload + skip;
            size_t name_len = strnlen(name, f.len - skip);
            FUZZ_CHECK(name_len > 0 && skip + name_len + 1 < f.len);
            FUZZ_CHECK(mailtext_header_name_valid(name, name_len));
            /* The value the MTA writes after "Name:": one field, however
             * the message's own fields (a tagged Subject) looked. */
            const char *value = name + name_len + 1;
            size_t value_len = f.len - skip - name_len - 2;
            FUZZ_CHECK(strlen(value) == value_len);
            FUZZ_CHECK(mailtext_header_value_valid(name_len, value, value_len));
            FUZZ_CHECK(value_len > 0 || f.command == SMFIR_CHGHEADER);
            break;
        }
        default:
            fprintf(stderr, "unexpected reply frame '%c'\n", f.command);
            abort();
        }
    }
}

/* --------------------------------------------------------- the wire */

static void opened(fuzz_conn *fc)
{
    reply_state *rs = calloc(1, sizeof *rs);
    FUZZ_CHECK(rs != NULL);
    milter_decoder_init(&rs->decoder, 0);
    fc->check_state = rs;
    fc->check_output = check_replies;
}

static void dropped(fuzz_conn *fc)
{
    reply_state *rs = fc->check_state;
    fc->check_output = NULL;
    fc->check_state = NULL;
    milter_decoder_free(&rs->decoder);
    free(rs);
}

static void frame(session *s, char letter, const void *payload, size_t len)
{
    milter_encode_frame(&s->fs.wire, letter, payload, len);
    FUZZ_CHECK(!s->fs.wire.failed);
}

/* ------------------------------------------------------- the frames */

static void put_str(strbuf *p, const strbuf *v)
{
    strbuf_append(p, v->data, v->len);
    strbuf_putc(p, '\0');
}

static void put_u32(strbuf *p, uint32_t v)
{
    char b[4] = {(char)(v >> 24), (char)(v >> 16), (char)(v >> 8), (char)v};
    strbuf_append(p, b, 4);
}

static void op_optneg(session *s, strbuf *p)
{
    uint8_t kind = fuzz_byte(&s->fs.in);
    uint32_t version = 6, actions = 0x1ff, protocol = 0x1fffff; /* Postfix 3 */
    switch (kind % 5) {
    case 1: protocol = 0x001fffff & ~SMFIP_HDR_LEADSPC; break; /* Sendmail 8.14 */
    case 2: version = 2; actions = 0x3f; protocol = 0x7f; break;
    case 3: actions = SMFIF_ADDHDRS; protocol = 0; break;
    case 4:
        version = fuzz_u32(&s->fs.in);
        actions = fuzz_u32(&s->fs.in);
        protocol = fuzz_u32(&s->fs.in);
        break;
    }
    put_u32(p, version);
    put_u32(p, actions);
    put_u32(p, protocol);
    frame(s, SMFIC_OPTNEG, p->data, p->len);
}

static void op_macro(session *s, strbuf *p)
{
    static const char commands[] = {SMFIC_CONNECT, SMFIC_HELO, SMFIC_MAIL, SMFIC_RCPT,
                                    SMFIC_DATA, SMFIC_EOH, SMFIC_BODYEOB, SMFIC_HEADER};
    static const char *const names[] = {"j", "i", "{auth_authen}", "{daemon_name}", "_",
                                        "auth_authen", "{auth_type}"};
    uint8_t c = fuzz_byte(&s->fs.in);
    strbuf_putc(p, c < 8 ? commands[c] : (char)c);
    unsigned n = fuzz_byte(&s->fs.in) % 4;
    for (unsigned i = 0; i < n; i++) {
        fuzz_value(&s->fs.in, &s->a, names, 7, true);
        const fuzz_list *values = strcmp(s->a.data, "i") == 0 ? &fuzz_queue_ids
                                  : strstr(s->a.data, "auth") ? &fuzz_auth_users
                                                              : &fuzz_client_names;
        fuzz_pick(&s->fs.in, &s->b, values, true);
        put_str(p, &s->a);
        put_str(p, &s->b);
    }
    frame(s, SMFIC_MACRO, p->data, p->len);
}

static void op_connect(session *s, strbuf *p)
{
    fuzz_pick(&s->fs.in, &s->a, &fuzz_client_names, true);
    put_str(p, &s->a);
    uint8_t fam = fuzz_byte(&s->fs.in);
    static const char families[] = {SMFIA_INET, SMFIA_INET6, SMFIA_UNIX, SMFIA_UNKNOWN};
    char family = fam < 4 ? families[fam] : (char)fam;
    strbuf_putc(p, family);
    if (family != SMFIA_UNKNOWN) {
        strbuf_append(p, "\x61\x6d", 2); /* port 24941 */
        fuzz_pick(&s->fs.in, &s->b, &fuzz_ips, true);
        put_str(p, &s->b);
    }
    frame(s, SMFIC_CONNECT, p->data, p->len);
}

static void op_address(session *s, strbuf *p, char letter, const fuzz_list *list)
{
    uint8_t form = fuzz_byte(&s->fs.in);
    fuzz_pick(&s->fs.in, &s->a, list, true);
    if (form & 1)
        strbuf_append(p, s->a.data, s->a.len);
    else
        strbuf_printf(p, "<%s>", s->a.data);
    strbuf_putc(p, '\0');
    static const char *const args[] = {"SIZE=100", "BODY=8BITMIME", "SMTPUTF8", "AUTH=<>"};
    for (unsigned i = 0; i < (form >> 1) % 3; i++) {
        fuzz_value(&s->fs.in, &s->b, args, 4, true);
        put_str(p, &s->b);
    }
    frame(s, letter, p->data, p->len);
}

static void op_header(session *s, strbuf *p)
{
    fuzz_header(&s->fs.in, &s->a, &s->b);
    put_str(p, &s->a);
    /* The value as the MTA passes it: with its leading space when
     * SMFIP_HDR_LEADSPC was agreed. */
    const reply_state *rs = s->fs.fc->check_state;
    if (rs->negotiated && (rs->agreed_protocol & SMFIP_HDR_LEADSPC))
        strbuf_putc(p, ' ');
    put_str(p, &s->b);
    frame(s, SMFIC_HEADER, p->data, p->len);
}

static void op_body(session *s, strbuf *p, char letter)
{
    fuzz_pick(&s->fs.in, &s->a, &fuzz_bodies, false);
    unsigned repeat = fuzz_byte(&s->fs.in);
    repeat = repeat < 200 ? 1 : (repeat - 199) * 40; /* up to 2240 copies */
    for (unsigned i = 0; i < repeat && p->len < MILTER_CHUNK_SIZE; i++)
        strbuf_append(p, s->a.data, s->a.len);
    if (p->len > MILTER_CHUNK_SIZE)
        p->len = MILTER_CHUNK_SIZE;
    frame(s, letter, p->data, p->len);
}

/* A whole message with canned values, the quickest way to an end of
 * message: MAIL, RCPT, the signed sign.test header and body, EOM. */
static void op_message(session *s, strbuf *p)
{
    uint8_t v = fuzz_byte(&s->fs.in);
    const char *from = fuzz_senders.items[v % fuzz_senders.count];
    const reply_state *rs = s->fs.fc->check_state;
    const char *sp = rs->negotiated && (rs->agreed_protocol & SMFIP_HDR_LEADSPC) ? " " : "";
    strbuf_printf(p, "<%s>", from);
    frame(s, SMFIC_MAIL, p->data, p->len + 1);
    strbuf_clear(p);
    strbuf_printf(p, "<%s>", fuzz_rcpts.items[(v >> 4) % fuzz_rcpts.count]);
    frame(s, SMFIC_RCPT, p->data, p->len + 1);
    for (size_t i = (v & 8) ? 1 : 0; i < FUZZ_SIGNED_FIELDS; i++) {
        strbuf_clear(p);
        strbuf_printf(p, "%s%c%s%s", fuzz_signed_fields[i].name, 0, sp,
                      fuzz_signed_fields[i].value);
        frame(s, SMFIC_HEADER, p->data, p->len + 1);
    }
    frame(s, SMFIC_EOH, NULL, 0);
    frame(s, SMFIC_BODY, fuzz_signed_body, strlen(fuzz_signed_body));
    frame(s, SMFIC_BODYEOB, NULL, 0);
}

static void run_op(fuzz_session *fs, uint8_t op)
{
    session *s = (session *)fs;
    fuzz_reader *in = &s->fs.in;
    strbuf p;
    strbuf_init(&p);
    switch (op % OP_COUNT) {
    case OP_OPTNEG: op_optneg(s, &p); break;
    case OP_MACRO: op_macro(s, &p); break;
    case OP_CONNECT: op_connect(s, &p); break;
    case OP_HELO:
        fuzz_pick(in, &s->a, &fuzz_helos, true);
        put_str(&p, &s->a);
        frame(s, SMFIC_HELO, p.data, p.len);
        break;
    case OP_MAIL: op_address(s, &p, SMFIC_MAIL, &fuzz_senders); break;
    case OP_RCPT: op_address(s, &p, SMFIC_RCPT, &fuzz_rcpts); break;
    case OP_HEADER: op_header(s, &p); break;
    case OP_HEADER_REPEAT: {
        /* Many fields: signatures past the verifier's bound, a header
         * block past SVC_HEADER_BLOCK_MAX. */
        uint8_t count = fuzz_byte(in);
        op_header(s, &p);
        unsigned n = fuzz_repeat(&s->fs.env, count, p.len + 5);
        strbuf one;
        strbuf_init(&one);
        strbuf_append(&one, s->fs.wire.data + s->fs.wire.len - (p.len + 5), p.len + 5);
        for (unsigned i = 1; i < n; i++)
            strbuf_append(&s->fs.wire, one.data, one.len);
        FUZZ_CHECK(!s->fs.wire.failed && !one.failed);
        strbuf_free(&one);
        break;
    }
    case OP_EOH: frame(s, SMFIC_EOH, NULL, 0); break;
    case OP_BODY: op_body(s, &p, SMFIC_BODY); break;
    case OP_BODYEOB:
        if (fuzz_byte(in) & 1)
            op_body(s, &p, SMFIC_BODYEOB);
        else
            frame(s, SMFIC_BODYEOB, NULL, 0);
        break;
    case OP_ABORT: frame(s, SMFIC_ABORT, NULL, 0); break;
    case OP_QUIT_NC: frame(s, SMFIC_QUIT_NC, NULL, 0); break;
    case OP_QUIT: frame(s, SMFIC_QUIT, NULL, 0); break;
    case OP_DATA: frame(s, SMFIC_DATA, NULL, 0); break;
    case OP_UNKNOWN:
        fuzz_value(in, &s->a, (const char *const[]){"VRFY x", "XCLIENT ADDR=1.2.3.4"}, 2,
                   true);
        put_str(&p, &s->a);
        frame(s, SMFIC_UNKNOWN, p.data, p.len);
        break;
    case OP_RAW_FRAME: {
        char letter = (char)fuzz_byte(in);
        const uint8_t *b;
        size_t n = fuzz_bytes(in, &b);
        frame(s, letter, b, n);
        break;
    }
    case OP_RAW_BYTES: {
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
    case OP_MESSAGE: op_message(s, &p); break;
    }
    strbuf_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static session s; /* zeroed per input below */
    memset(&s, 0, sizeof s);
    s.fs.kind = CONN_MILTER;
    s.fs.handler = &milter_handler;
    s.fs.opened = opened;
    s.fs.dropped = dropped;
    strbuf_init(&s.a);
    strbuf_init(&s.b);
    fuzz_session_run(&s.fs, data, size, run_op);
    strbuf_free(&s.a);
    strbuf_free(&s.b);
    return 0;
}
