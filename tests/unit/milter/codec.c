/* Unit tests for the milter codec: frames fed in every chunking, payload
 * parsers against truncated and malformed input, negotiation, and replies
 * checked byte for byte and round-tripped through the decoder. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/milter.h"
#include "tap.h"

#define LEN(a) (sizeof(a) - 1) /* string literal without its final NUL */

/* ----------------------------------------------------------- helpers */

typedef struct collected {
    char commands[64];
    size_t lens[64];
    size_t count;
    size_t total_payload;
    bool error;
} collected;

/* Feeds data in chunks of the sizes given by the chunk function and
 * records every frame. */
static void feed_all(milter_decoder *d, const uint8_t *data, size_t len,
                     size_t (*chunk)(size_t i), collected *out)
{
    memset(out, 0, sizeof *out);
    size_t pos = 0;
    for (size_t i = 0; pos < len; i++) {
        size_t n = chunk(i);
        if (n > len - pos)
            n = len - pos;
        const uint8_t *p = data + pos;
        size_t left = n;
        while (left > 0) {
            milter_frame f;
            size_t used;
            milter_decode_status s = milter_decoder_feed(d, p, left, &used, &f);
            if (used > left) {
                out->error = true;
                return;
            }
            p += used;
            left -= used;
            if (s == MILTER_DECODE_ERROR) {
                out->error = true;
                return;
            }
            if (s == MILTER_DECODE_FRAME && out->count < 64) {
                out->commands[out->count] = f.command;
                out->lens[out->count++] = f.len;
                out->total_payload += f.len;
            } else if (s == MILTER_DECODE_NEED_MORE && left != 0) {
                out->error = true; /* NEED_MORE must mean everything was used */
                return;
            }
        }
        pos += n;
    }
}

static size_t chunk_one(size_t i)
{
    (void)i;
    return 1;
}

static size_t chunk_all(size_t i)
{
    (void)i;
    return (size_t)-1;
}

static size_t chunk_varied(size_t i)
{
    static const size_t sizes[] = {3, 1, 7, 2, 13, 4, 5, 64, 1, 9};
    return sizes[i % 10];
}

/* What an MTA sends for one message, built with the generic frame encoder. */
static void build_conversation(strbuf *sb)
{
    const uint8_t optneg[] = {0, 0, 0, 6, 0, 0, 0x01, 0xff, 0, 0x1f, 0xff, 0xff};
    milter_encode_frame(sb, SMFIC_OPTNEG, optneg, sizeof optneg);
    const char connect_macros[] = "C{daemon_name}\0smtpd\0j\0mx.example.net\0_\0h [192.0.2.1]\0";
    milter_encode_frame(sb, SMFIC_MACRO, connect_macros, LEN(connect_macros));
    const char connect[] = "mail.example.com\0" "4\x01\x19" "192.0.2.1\0";
    milter_encode_frame(sb, SMFIC_CONNECT, connect, LEN(connect));
    milter_encode_frame(sb, SMFIC_HELO, "mail.example.com", 17);
    const char mail_macros[] = "M{auth_authen}\0alice\0i\0" "4Xyz1\0";
    milter_encode_frame(sb, SMFIC_MACRO, mail_macros, LEN(mail_macros));
    const char mail[] = "<alice@example.com>\0SIZE=1234\0BODY=8BITMIME\0";
    milter_encode_frame(sb, SMFIC_MAIL, mail, LEN(mail));
    milter_encode_frame(sb, SMFIC_RCPT, "<bob@example.net>", 18);
    milter_encode_frame(sb, SMFIC_DATA, NULL, 0);
    const char from[] = "From\0Alice <alice@example.com>\0";
    milter_encode_frame(sb, SMFIC_HEADER, from, LEN(from));
    const char subject[] = "Subject\0hello\n\tworld\0";
    milter_encode_frame(sb, SMFIC_HEADER, subject, LEN(subject));
    milter_encode_frame(sb, SMFIC_EOH, NULL, 0);
    milter_encode_frame(sb, SMFIC_BODY, "Hi Bob.\r\n", 9);
    milter_encode_frame(sb, SMFIC_BODYEOB, NULL, 0);
    milter_encode_frame(sb, SMFIC_QUIT, NULL, 0);
}

static const char conversation_letters[] = "ODCHDMRTLLNBEQ";

static bool bytes_equal(const strbuf *sb, const void *want, size_t want_len)
{
    return sb->len == want_len && memcmp(sb->data, want, want_len) == 0;
}

/* ----------------------------------------------------------- decoder */

static void test_conversation_in_every_chunking(void)
{
    strbuf sb;
    strbuf_init(&sb);
    build_conversation(&sb);
    size_t (*chunkers[])(size_t) = {chunk_all, chunk_one, chunk_varied};
    const char *names[] = {"one read", "1 byte at a time", "varied chunks"};
    for (size_t c = 0; c < 3; c++) {
        milter_decoder d;
        milter_decoder_init(&d, 0);
        collected got;
        feed_all(&d, (const uint8_t *)sb.data, sb.len, chunkers[c], &got);
        TAP_OK(!got.error && got.count == LEN(conversation_letters) &&
                   memcmp(got.commands, conversation_letters, got.count) == 0,
               "conversation decodes in order (%s)", names[c]);
        TAP_OK(!milter_decoder_mid_frame(&d), "no partial frame left (%s)", names[c]);
        milter_decoder_free(&d);
    }

    /* Every prefix: only whole frames come out, a partial one is noticed. */
    bool prefixes_ok = true;
    for (size_t cut = 0; cut < sb.len; cut++) {
        milter_decoder d;
        milter_decoder_init(&d, 0);
        collected got;
        feed_all(&d, (const uint8_t *)sb.data, cut, chunk_all, &got);
        size_t whole = 0, pos = 0;
        while (pos + 4 <= cut) {
            size_t flen = (size_t)(uint8_t)sb.data[pos] << 24 | (size_t)(uint8_t)sb.data[pos + 1] << 16 |
                          (size_t)(uint8_t)sb.data[pos + 2] << 8 | (uint8_t)sb.data[pos + 3];
            if (pos + 4 + flen > cut)
                break;
            pos += 4 + flen;
            whole++;
        }
        if (got.error || got.count != whole || milter_decoder_mid_frame(&d) != (pos != cut))
            prefixes_ok = false;
        milter_decoder_free(&d);
    }
    TAP_OK(prefixes_ok, "every truncation yields exactly the whole frames before it");
    strbuf_free(&sb);
}

static void test_frame_bytes(void)
{
    const uint8_t wire[] = {0, 0, 0, 13, 'O', 0, 0, 0, 6, 0, 0, 1, 0xff, 0, 0x1f, 0xff, 0xff};
    milter_decoder d;
    milter_decoder_init(&d, 0);
    milter_frame f;
    size_t used;
    milter_decode_status s = milter_decoder_feed(&d, wire, sizeof wire, &used, &f);
    TAP_OK(s == MILTER_DECODE_FRAME && used == sizeof wire && f.command == 'O' && f.len == 12,
           "hand-written OPTNEG frame decodes");
    milter_optneg o;
    char err[200];
    TAP_OK(milter_parse_optneg(f.payload, f.len, &o, err, sizeof err) == 0 && o.version == 6 &&
               o.actions == 0x1ff && o.protocol == 0x1fffff,
           "OPTNEG fields: version 6, actions 0x1ff, protocol 0x1fffff");
    /* Two frames and half of a third in one read. */
    const uint8_t two[] = {0, 0, 0, 1, 'N', 0, 0, 0, 1, 'E', 0, 0};
    size_t pos = 0;
    s = milter_decoder_feed(&d, two, sizeof two, &used, &f);
    pos += used;
    TAP_OK(s == MILTER_DECODE_FRAME && f.command == 'N' && f.len == 0 && used == 5,
           "first of several frames in one read; stops right after it");
    s = milter_decoder_feed(&d, two + pos, sizeof two - pos, &used, &f);
    pos += used;
    TAP_OK(s == MILTER_DECODE_FRAME && f.command == 'E' && used == 5, "second frame");
    s = milter_decoder_feed(&d, two + pos, sizeof two - pos, &used, &f);
    TAP_OK(s == MILTER_DECODE_NEED_MORE && used == 2 && milter_decoder_mid_frame(&d),
           "half a length prefix: need more");
    milter_decoder_free(&d);
}

/* Postfix sends macros before every header and body chunk as well (its
 * end-of-header and end-of-data macro lists): they must parse. */
static void test_macros_for_every_command(void)
{
    char err[200];
    milter_macros mac;
    static const char letters[] = "ABCEHKLMNQRTU";
    bool all = true;
    for (const char *l = letters; *l; l++) {
        char payload[] = "Xi\0" "QID1\0";
        payload[0] = *l;
        if (milter_parse_macros((const uint8_t *)payload, sizeof payload - 1, &mac, err,
                                sizeof err) != 0 ||
            strcmp(milter_macros_get(&mac, "i"), "QID1") != 0)
            all = false;
    }
    TAP_OK(all, "macros parse before every MTA command, headers (L) and body (B) included");
    const char bad[] = "Oi\0x\0";
    TAP_OK(milter_parse_macros((const uint8_t *)bad, sizeof bad - 1, &mac, err, sizeof err) != 0,
           "macros for OPTNEG are refused: %s", err);
}

static void test_bad_lengths(void)
{
    milter_decoder d;
    milter_frame f;
    size_t used;
    const uint8_t zero[] = {0, 0, 0, 0, 'c'};
    milter_decoder_init(&d, 0);
    TAP_OK(milter_decoder_feed(&d, zero, sizeof zero, &used, &f) == MILTER_DECODE_ERROR &&
               strstr(milter_decoder_error(&d), "length 0") != NULL && used == 4,
           "length 0 is refused: %s", milter_decoder_error(&d));
    TAP_OK(milter_decoder_feed(&d, zero, sizeof zero, &used, &f) == MILTER_DECODE_ERROR &&
               used == 0,
           "the error is final and consumes nothing");
    milter_decoder_free(&d);

    const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 'B'};
    milter_decoder_init(&d, 0);
    TAP_OK(milter_decoder_feed(&d, huge, sizeof huge, &used, &f) == MILTER_DECODE_ERROR &&
               strstr(milter_decoder_error(&d), "exceeds") != NULL,
           "4 GiB length is refused before any allocation: %s", milter_decoder_error(&d));
    milter_decoder_free(&d);

    milter_decoder_init(&d, 16);
    const uint8_t at_max[] = {0, 0, 0, 16, 'B', 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    TAP_OK(milter_decoder_feed(&d, at_max, sizeof at_max, &used, &f) == MILTER_DECODE_FRAME &&
               f.len == 15,
           "a frame of exactly the configured maximum is accepted");
    const uint8_t over[] = {0, 0, 0, 17, 'B'};
    TAP_OK(milter_decoder_feed(&d, over, sizeof over, &used, &f) == MILTER_DECODE_ERROR,
           "one byte over the configured maximum is refused");
    milter_decoder_free(&d);

    milter_decoder_init(&d, 0);
    const uint8_t big[] = {0, 0x11, 0, 0, 'B'}; /* 1 MiB + 64 KiB: under the default */
    TAP_OK(milter_decoder_feed(&d, big, sizeof big, &used, &f) == MILTER_DECODE_NEED_MORE &&
               used == 5,
           "a 1 MiB + 64 KiB body frame fits the default limit");
    milter_decoder_free(&d);
}

/* ---------------------------------------------------------- payloads */

static int parse_as(char letter, const void *payload, size_t len, milter_command *cmd,
                    char *err, size_t err_size)
{
    milter_frame f = {letter, payload, len};
    return milter_parse_command(&f, cmd, err, err_size);
}

/* Copies a prefix to the heap so that ASan catches any read past it. */
static int parse_prefix(char letter, const char *payload, size_t cut)
{
    char *copy = malloc(cut ? cut : 1);
    memcpy(copy, payload, cut);
    milter_command cmd;
    char err[200];
    int rc = parse_as(letter, copy, cut, &cmd, err, sizeof err);
    free(copy);
    return rc;
}

static void test_every_truncation(void)
{
    static const struct {
        char letter;
        const char *payload;
        size_t len;
    } whole[] = {
        {'C', "mx.example\0" "4\0\x19" "192.0.2.1", 24},
        {'C', "h\0" "6\x12\x34" "2001:db8::1", 17},
        {'C', "localhost\0" "L\0\0" "/run/postfix/smtpd", 32},
        {'C', "unknown\0U", 9},
        {'H', "mail.example.com", 17},
        {'L', "Subject\0hi", 11},
        {'U', "XYZZY foo", 10},
        {'O', "\0\0\0\6\0\0\1\xff\0\x1f\xff\xff", 12},
    };
    for (size_t i = 0; i < sizeof whole / sizeof whole[0]; i++) {
        bool ok = parse_prefix(whole[i].letter, whole[i].payload, whole[i].len) == 0;
        for (size_t cut = 0; cut < whole[i].len; cut++)
            if (parse_prefix(whole[i].letter, whole[i].payload, cut) == 0)
                ok = false;
        TAP_OK(ok, "'%c' payload %zu parses whole and fails at every truncation",
               whole[i].letter, i);
    }
    /* Macros and argv: a prefix is valid exactly at a string boundary. */
    const char macros[] = "C{client_addr}\0" "192.0.2.1\0j\0mx\0";
    bool macros_ok = true;
    size_t nuls = 0;
    for (size_t cut = 0; cut <= LEN(macros); cut++) {
        bool boundary = cut >= 1 && nuls % 2 == 0 && (cut == 1 || macros[cut - 1] == '\0');
        if ((parse_prefix('D', macros, cut) == 0) != boundary)
            macros_ok = false;
        if (cut < LEN(macros) && macros[cut] == '\0')
            nuls++;
    }
    TAP_OK(macros_ok, "MACRO prefixes are valid only at pair boundaries");
    const char args[] = "<a@example.com>\0SIZE=10\0";
    bool args_ok = true;
    for (size_t cut = 0; cut <= LEN(args); cut++)
        if ((parse_prefix('M', args, cut) == 0) != (cut > 0 && args[cut - 1] == '\0'))
            args_ok = false;
    TAP_OK(args_ok, "MAIL prefixes are valid only after a NUL");
}

static void expect_bad(char letter, const char *payload, size_t len, const char *what)
{
    /* A heap copy of exactly len bytes, so a read past it trips ASan. */
    char *copy = malloc(len ? len : 1);
    memcpy(copy, payload, len);
    milter_command cmd;
    char err[200] = "";
    int rc = parse_as(letter, copy, len, &cmd, err, sizeof err);
    free(copy);
    TAP_OK(rc == -1 && err[0] != '\0', "%s is refused: %s", what, err);
}

/* The literal's bytes without the NUL C adds: write every NUL explicitly. */
#define EXPECT_BAD(letter, literal, what) expect_bad(letter, literal, LEN(literal), what)

static void test_malformed_payloads(void)
{
    EXPECT_BAD('C', "h\0X\0\0" "1.2.3.4\0", "CONNECT family 'X'");
    EXPECT_BAD('C', "h\0" "4", "CONNECT '4' without port");
    EXPECT_BAD('C', "h\0" "4\0", "CONNECT '4' with half a port");
    EXPECT_BAD('C', "h\0" "L", "CONNECT 'L' without port");
    EXPECT_BAD('C', "h\0" "4\0\x19" "1.2.3.4", "CONNECT address without NUL");
    EXPECT_BAD('C', "h\0" "4\0\x19" "\0", "CONNECT '4' with an empty address");
    EXPECT_BAD('C', "h\0" "U\0", "CONNECT 'U' followed by bytes");
    EXPECT_BAD('C', "h\0" "4\0\x19" "1.2.3.4\0junk", "CONNECT with trailing bytes");
    EXPECT_BAD('C', "h", "CONNECT hostname without NUL");
    EXPECT_BAD('C', "h\0", "CONNECT without family");
    EXPECT_BAD('C', "", "empty CONNECT");
    EXPECT_BAD('L', "Sub\x01ject\0v\0", "header name with a control byte");
    EXPECT_BAD('L', "Subject\r\0v\0", "header name ending in CR");
    EXPECT_BAD('L', "Sub ject\0v\0", "header name with a space");
    EXPECT_BAD('L', "Subject:\0v\0", "header name with ':'");
    EXPECT_BAD('L', "Subj\xc3\xa9\0v\0", "header name with 8-bit bytes");
    EXPECT_BAD('L', "\0v\0", "empty header name");
    EXPECT_BAD('L', "Subject\0v", "header value without NUL");
    EXPECT_BAD('L', "Subject\0v\0x", "header with bytes after the value");
    EXPECT_BAD('L', "Subject", "header name without NUL");
    EXPECT_BAD('L', "Subject\0", "header without value");
    EXPECT_BAD('D', "", "MACRO without command letter");
    EXPECT_BAD('D', "Zi\0v\0", "MACRO for letter 'Z'");
    EXPECT_BAD('D', "\0i\0v\0", "MACRO for letter NUL");
    EXPECT_BAD('D', "C\0v\0", "MACRO with an empty name");
    EXPECT_BAD('D', "Ci\0", "MACRO name without value");
    EXPECT_BAD('D', "Ci\0v", "MACRO value without NUL");
    EXPECT_BAD('D', "Ci", "MACRO name without NUL");
    EXPECT_BAD('O', "\0\0\0\6\0\0\0\0\0\0\0", "OPTNEG of 11 bytes");
    EXPECT_BAD('H', "a\0b\0", "HELO with two strings");
    EXPECT_BAD('H', "mx", "HELO without NUL");
    EXPECT_BAD('U', "", "empty UNKNOWN");
    EXPECT_BAD('M', "", "MAIL without address");
    EXPECT_BAD('R', "<a@b>\0NOTIFY=NEVER", "RCPT argument without NUL");
    EXPECT_BAD('N', "x", "EOH with a payload");
    EXPECT_BAD('T', "x", "DATA with a payload");
    EXPECT_BAD('A', "x", "ABORT with a payload");
    EXPECT_BAD('Q', "x", "QUIT with a payload");
    EXPECT_BAD('K', "x", "QUIT_NC with a payload");
    EXPECT_BAD('Z', "", "unknown command 'Z'");
    EXPECT_BAD('c', "", "a reply letter sent as a command");
}

static void test_payload_values(void)
{
    milter_command cmd;
    char err[200];
    const char connect6[] = "[2001:db8::1]\0" "6\x04\x01" "2001:db8::1\0";
    TAP_OK(parse_as('C', connect6, LEN(connect6), &cmd, err, sizeof err) == 0 &&
               cmd.connect.family == '6' && cmd.connect.port == 1025 &&
               strcmp(cmd.connect.address, "2001:db8::1") == 0 &&
               strcmp(cmd.connect.hostname, "[2001:db8::1]") == 0,
           "CONNECT IPv6: port 1025, address and bracketed hostname");
    const char unknown[] = "unknown\0U";
    TAP_OK(parse_as('C', unknown, LEN(unknown), &cmd, err, sizeof err) == 0 &&
               cmd.connect.family == 'U' && cmd.connect.address == NULL,
           "CONNECT 'U': no port, no address");

    const char macros[] = "M{auth_authen}\0alice\0i\0" "4Xyz1\0{mail_addr}\0\0";
    TAP_OK(parse_as('D', macros, LEN(macros), &cmd, err, sizeof err) == 0 &&
               cmd.macros.command == 'M' && cmd.macros.count == 3,
           "MACRO for MAIL with three pairs");
    TAP_STR_EQ(milter_macros_get(&cmd.macros, "auth_authen"), "alice", "macro by bare name");
    TAP_STR_EQ(milter_macros_get(&cmd.macros, "{auth_authen}"), "alice", "macro by braced name");
    TAP_STR_EQ(milter_macros_get(&cmd.macros, "i"), "4Xyz1", "one-letter macro");
    TAP_STR_EQ(milter_macros_get(&cmd.macros, "mail_addr"), "", "macro with an empty value");
    TAP_OK(milter_macros_get(&cmd.macros, "j") == NULL, "absent macro is NULL");

    const char mail[] = "<alice@example.com>\0SIZE=1234\0BODY=8BITMIME\0";
    TAP_OK(parse_as('M', mail, LEN(mail), &cmd, err, sizeof err) == 0 && cmd.args.count == 3 &&
               strcmp(cmd.args.address, "<alice@example.com>") == 0,
           "MAIL: address and two ESMTP arguments");
    size_t cursor = 0;
    const char *arg, *args[2] = {NULL, NULL};
    for (size_t n = 0; n < 2 && milter_args_next(&cmd.args, &cursor, &arg); n++)
        args[n] = arg;
    TAP_OK(args[0] && args[1] && strcmp(args[0], "SIZE=1234") == 0 &&
               strcmp(args[1], "BODY=8BITMIME") == 0 &&
               !milter_args_next(&cmd.args, &cursor, &arg),
           "ESMTP arguments iterate in order");
    TAP_OK(parse_as('R', "<>", 3, &cmd, err, sizeof err) == 0 && cmd.args.count == 1 &&
               !milter_args_next(&cmd.args, &(size_t){0}, &arg),
           "RCPT with no arguments");

    const char header[] = "Subject\0 folded\n\tvalue\0";
    TAP_OK(parse_as('L', header, LEN(header), &cmd, err, sizeof err) == 0 &&
               strcmp(cmd.header.value, " folded\n\tvalue") == 0 && cmd.header.value_len == 14,
           "HEADER value kept as the MTA sent it");
    TAP_OK(parse_as('E', "tail", 4, &cmd, err, sizeof err) == 0 && cmd.body.len == 4,
           "BODYEOB may carry a last chunk");
}

/* ------------------------------------------------------- negotiation */

static void test_negotiation(void)
{
    char err[200];
    milter_optneg offered = {6, 0x1ff, 0x1fffff}, agreed;
    uint32_t wanted = SMFIP_NOUNKNOWN | SMFIP_NODATA | SMFIP_NOBODY | SMFIP_NR_HDR;
    TAP_OK(milter_negotiate(&offered, SMFIF_ADDHDRS | SMFIF_CHGHDRS, SMFIF_SETSYMLIST, wanted,
                            &agreed, err, sizeof err) == 0 &&
               agreed.version == 6 && agreed.actions == 0x111 && agreed.protocol == wanted,
           "Postfix 3 offer: everything asked for is granted");

    milter_optneg old = {2, SMFIF_ADDHDRS | SMFIF_CHGHDRS, 0x7f};
    TAP_OK(milter_negotiate(&old, SMFIF_ADDHDRS | SMFIF_CHGHDRS, SMFIF_SETSYMLIST, wanted,
                            &agreed, err, sizeof err) == 0 &&
               agreed.version == 2 && agreed.actions == 0x11 && agreed.protocol == SMFIP_NOBODY,
           "version 2 offer: version 2, optional action and unknown steps dropped");

    milter_optneg no_chg = {6, SMFIF_ADDHDRS, 0x1fffff};
    TAP_OK(milter_negotiate(&no_chg, SMFIF_ADDHDRS | SMFIF_CHGHDRS, 0, 0, &agreed, err,
                            sizeof err) == -1,
           "a required action not offered fails: %s", err);
    milter_optneg v1 = {1, 0x1ff, 0x1fffff};
    TAP_OK(milter_negotiate(&v1, 0, 0, 0, &agreed, err, sizeof err) == -1,
           "version 1 is refused: %s", err);
    milter_optneg v9 = {9, 0x1ff, 0x1fffff};
    TAP_OK(milter_negotiate(&v9, 0, 0, 0, &agreed, err, sizeof err) == 0 && agreed.version == 6,
           "a newer MTA gets version 6");

    TAP_OK(milter_reply_expected(0, 'C') && !milter_reply_expected(SMFIP_NR_CONN, 'C') &&
               !milter_reply_expected(SMFIP_NR_HDR, 'L') && milter_reply_expected(SMFIP_NR_HDR, 'N') &&
               !milter_reply_expected(0, 'D') && !milter_reply_expected(0, 'A') &&
               !milter_reply_expected(0, 'Q') && !milter_reply_expected(0, 'K') &&
               milter_reply_expected(0x1fffff, 'E') && milter_reply_expected(0x1fffff, 'O'),
           "which commands wait for a reply");

    /* OPTNEG reply with symbol lists, byte for byte. */
    milter_optneg ours = {6, SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_SETSYMLIST,
                          SMFIP_NOUNKNOWN | SMFIP_NODATA};
    milter_symlist lists[] = {{SMFIM_CONNECT, "j {daemon_name}"}, {SMFIM_ENVFROM, "i {auth_authen}"}};
    strbuf sb;
    strbuf_init(&sb);
    const char want[] = "\0\0\0\x35O"
                        "\0\0\0\6" "\0\0\x01\x11" "\0\0\x03\0"
                        "\0\0\0\0" "j {daemon_name}\0"
                        "\0\0\0\2" "i {auth_authen}\0";
    TAP_OK(milter_encode_optneg_reply(&sb, &ours, lists, 2, err, sizeof err) == 0 &&
               bytes_equal(&sb, want, LEN(want)),
           "OPTNEG reply with two symbol lists, byte for byte");
    strbuf_clear(&sb);
    TAP_OK(milter_encode_optneg_reply(&sb, &ours, NULL, 0, err, sizeof err) == 0 &&
               sb.len == 17 && sb.data[3] == 13 && memcmp(sb.data + 4, want + 4, 13) == 0,
           "OPTNEG reply without lists is 13 bytes");
    milter_optneg no_sym = ours;
    no_sym.actions &= ~SMFIF_SETSYMLIST;
    TAP_OK(milter_encode_optneg_reply(&sb, &no_sym, lists, 2, err, sizeof err) == -1,
           "symbol lists without SMFIF_SETSYMLIST are refused: %s", err);
    milter_symlist bad_stage[] = {{7, "i"}};
    TAP_OK(milter_encode_optneg_reply(&sb, &ours, bad_stage, 1, err, sizeof err) == -1,
           "symbol list stage 7 is refused");
    milter_symlist twice[] = {{1, "i"}, {1, "j"}};
    TAP_OK(milter_encode_optneg_reply(&sb, &ours, twice, 2, err, sizeof err) == -1,
           "two lists for one stage are refused");
    milter_symlist ctl[] = {{1, "i\nj"}};
    TAP_OK(milter_encode_optneg_reply(&sb, &ours, ctl, 1, err, sizeof err) == -1,
           "a list with a control byte is refused");
    strbuf_free(&sb);
}

/* ----------------------------------------------------------- replies */

/* Decodes exactly one frame from sb and returns it (payload in a copy the
 * caller frees), or letter 0. */
static milter_frame decode_one(const strbuf *sb, uint8_t **copy)
{
    milter_frame f = {0, NULL, 0}, got;
    milter_decoder d;
    milter_decoder_init(&d, 0);
    size_t used;
    *copy = NULL;
    if (milter_decoder_feed(&d, (const uint8_t *)sb->data, sb->len, &used, &got) ==
            MILTER_DECODE_FRAME &&
        used == sb->len) {
        *copy = malloc(got.len + 1);
        memcpy(*copy, got.payload, got.len);
        f = (milter_frame){got.command, *copy, got.len};
    }
    milter_decoder_free(&d);
    return f;
}

static void test_simple_replies(void)
{
    strbuf sb;
    strbuf_init(&sb);
    char err[200];
    const char letters[] = "cartdps4f";
    bool ok = true;
    for (size_t i = 0; i < LEN(letters); i++) {
        strbuf_clear(&sb);
        const char want[] = {0, 0, 0, 1, letters[i]};
        if (milter_encode_simple(&sb, letters[i], err, sizeof err) != 0 ||
            !bytes_equal(&sb, want, 5))
            ok = false;
    }
    TAP_OK(ok, "continue, accept, reject, tempfail, discard, progress, skip, shutdown, "
               "conn_fail: 00 00 00 01 letter");
    TAP_OK(milter_encode_simple(&sb, 'y', err, sizeof err) == -1 &&
               milter_encode_simple(&sb, 'h', err, sizeof err) == -1 &&
               milter_encode_simple(&sb, '\0', err, sizeof err) == -1,
           "letters that need a payload are refused");
    strbuf_free(&sb);
}

static void test_replycode(void)
{
    strbuf sb;
    strbuf_init(&sb);
    char err[200];
    const char want[] = "\0\0\0\x1cy550 5.7.1 SPF check failed\0";
    TAP_OK(milter_encode_replycode(&sb, 550, "5.7.1", "SPF check failed", err, sizeof err) == 0 &&
               bytes_equal(&sb, want, LEN(want)),
           "REPLYCODE 550 5.7.1, byte for byte");
    strbuf_clear(&sb);
    milter_encode_replycode(&sb, 451, "4.7.1", "100% \r\nbusy\x01\xc3\xa9", err, sizeof err);
    uint8_t *copy;
    milter_frame f = decode_one(&sb, &copy);
    TAP_OK(f.command == 'y' && f.len > 0 && copy[f.len - 1] == 0, "REPLYCODE round trip");
    TAP_STR_EQ(copy ? (const char *)copy : NULL, "451 4.7.1 100%% busy???",
               "'%%' doubled, CR/LF folded to a space, control and 8-bit bytes replaced");
    free(copy);
    strbuf_clear(&sb);
    TAP_OK(milter_encode_replycode(&sb, 550, NULL, NULL, err, sizeof err) == 0 &&
               bytes_equal(&sb, "\0\0\0\5y550\0", 9),
           "bare code without status or text");
    static const struct {
        unsigned code;
        const char *enhanced;
    } bad[] = {{250, NULL}, {600, NULL}, {399, NULL}, {570, NULL}, {550, "4.7.1"},
               {450, "5.7.1"}, {550, "5.7"}, {550, "5.7.1.2"}, {550, "5.7.1234"},
               {550, "5..1"}, {550, "5.x.1"}, {550, " 5.7.1"}};
    bool all_refused = true;
    strbuf_clear(&sb);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (milter_encode_replycode(&sb, bad[i].code, bad[i].enhanced, "x", err, sizeof err) != -1)
            all_refused = false;
    TAP_OK(all_refused && sb.len == 0, "bad codes and mismatched enhanced codes are refused, "
                                       "nothing written");
    char long_text[2000];
    memset(long_text, 'a', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = '\0';
    milter_encode_replycode(&sb, 550, "5.7.1", long_text, err, sizeof err);
    TAP_OK(sb.len == 4 + 1 + 10 + MAILTEXT_REPLY_TEXT_MAX + 1,
           "reply text is cut at %d bytes", MAILTEXT_REPLY_TEXT_MAX);
    strbuf_free(&sb);
}

static void test_header_replies(void)
{
    strbuf sb;
    strbuf_init(&sb);
    char err[200];
    const char want_add[] = "\0\0\0\x0dhX-Test\0a\n\tb\0";
    TAP_OK(milter_encode_addheader(&sb, "X-Test", "a\n\tb", err, sizeof err) == 0 &&
               bytes_equal(&sb, want_add, LEN(want_add)),
           "ADDHEADER with folding, byte for byte");
    strbuf_clear(&sb);
    const char want_chg[] = "\0\0\0\x1dm\0\0\0\2Authentication-Results\0\0";
    TAP_OK(milter_encode_chgheader(&sb, 2, "Authentication-Results", "", err, sizeof err) == 0 &&
               bytes_equal(&sb, want_chg, LEN(want_chg)),
           "CHGHEADER index 2 with an empty value (delete), byte for byte");
    strbuf_clear(&sb);
    const char want_ins[] = "\0\0\0\x14i\0\0\0\0Received-SPF\0x\0";
    TAP_OK(milter_encode_insheader(&sb, 0, "Received-SPF", "x", err, sizeof err) == 0 &&
               bytes_equal(&sb, want_ins, LEN(want_ins)),
           "INSHEADER index 0, byte for byte");

    /* Round trip: the ADDHEADER payload has the layout of SMFIC_HEADER. */
    strbuf_clear(&sb);
    milter_encode_addheader(&sb, "Authentication-Results", "mx.example; spf=pass", err, sizeof err);
    uint8_t *copy;
    milter_frame f = decode_one(&sb, &copy);
    milter_header h;
    TAP_OK(f.command == 'h' && milter_parse_header(f.payload, f.len, &h, err, sizeof err) == 0 &&
               strcmp(h.name, "Authentication-Results") == 0 &&
               strcmp(h.value, "mx.example; spf=pass") == 0,
           "ADDHEADER round trip through the decoder and header parser");
    free(copy);
    strbuf_clear(&sb);
    milter_encode_chgheader(&sb, 7, "Subject", "[SPF fail] hi", err, sizeof err);
    f = decode_one(&sb, &copy);
    TAP_OK(f.command == 'm' && f.len > 4 && copy[3] == 7 &&
               milter_parse_header(f.payload + 4, f.len - 4, &h, err, sizeof err) == 0 &&
               strcmp(h.value, "[SPF fail] hi") == 0,
           "CHGHEADER round trip: index then name and value");
    free(copy);

    static const struct {
        const char *name, *value, *why;
    } bad[] = {{"", "v", "empty name"},
               {"X Test", "v", "name with a space"},
               {"X-Test:", "v", "name with ':'"},
               {"X-T\xc3\xa9st", "v", "name with 8-bit bytes"},
               {"X-Test", "a\r\n\tb", "value with CR"},
               {"X-Test", "a\nb", "value with a bare LF"},
               {"X-Test", "a\n", "value ending in LF"},
               {"X-Test", "a\x01" "b", "value with a control byte"}};
    strbuf_clear(&sb);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        TAP_OK(milter_encode_addheader(&sb, bad[i].name, bad[i].value, err, sizeof err) == -1 &&
                   sb.len == 0,
               "ADDHEADER refuses a %s", bad[i].why);
    TAP_OK(milter_encode_chgheader(&sb, 0, "Subject", "x", err, sizeof err) == -1,
           "CHGHEADER index 0 is refused (1-based)");
    TAP_OK(milter_encode_quarantine(&sb, "spoofed\r\nX: y", err, sizeof err) == 0 &&
               bytes_equal(&sb, "\0\0\0\x0eqspoofed X: y\0", 18),
           "QUARANTINE reason made one line");
    strbuf_clear(&sb);
    TAP_OK(milter_encode_quarantine(&sb, " \r\n", err, sizeof err) == -1 && sb.len == 0,
           "empty quarantine reason is refused");
    strbuf_clear(&sb);
    TAP_OK(milter_encode_chgfrom(&sb, "SRS0=ab=JU=x.test=u@fwd.test", err, sizeof err) == 0 &&
               bytes_equal(&sb, "\0\0\0\x20" "e<SRS0=ab=JU=x.test=u@fwd.test>\0", 36),
           "CHGFROM: the address in angle brackets, NUL-terminated");
    strbuf_clear(&sb);
    TAP_OK(milter_encode_chgfrom(&sb, "a@b\r\nX: y", err, sizeof err) == -1 &&
               milter_encode_chgfrom(&sb, "a b@c", err, sizeof err) == -1 &&
               milter_encode_chgfrom(&sb, "<a@b>", err, sizeof err) == -1 &&
               milter_encode_chgfrom(&sb, "", err, sizeof err) == -1 && sb.len == 0,
           "CHGFROM refuses CR/LF, blanks, angle brackets and an empty address");
    strbuf_free(&sb);
}

/* Every line of a folded value, "Name: " included on the first. */
static bool lines_within(size_t name_len, const char *v, size_t limit)
{
    size_t line = name_len + 2;
    for (; *v; v++) {
        if (*v == '\n') {
            if (line > limit)
                return false;
            line = 0;
        } else {
            line++;
        }
    }
    return line <= limit;
}

static void test_header_fold(void)
{
    strbuf sb;
    strbuf_init(&sb);
    char err[200];
    const char *value = "mx.example.net; spf=pass smtp.mailfrom=alice@example.com "
                        "smtp.helo=mail.example.com; dkim=pass header.d=example.com "
                        "header.s=selector1 header.b=abcdefgh; dmarc=pass header.from=example.com";
    const char *name = "Authentication-Results";
    TAP_OK(mailtext_header_fold(&sb, strlen(name), value, strlen(value), err, sizeof err) == 0,
           "long Authentication-Results folds");
    TAP_OK(lines_within(strlen(name), sb.data, 78) && strstr(sb.data, "\n\t") != NULL &&
               strchr(sb.data, '\r') == NULL,
           "every line within 78 bytes, folded with LF TAB, no CR");
    TAP_OK(mailtext_header_value_valid(strlen(name), sb.data, sb.len),
           "the folded value passes the encoder's check");
    strbuf frame;
    strbuf_init(&frame);
    TAP_OK(milter_encode_addheader(&frame, name, sb.data, err, sizeof err) == 0,
           "folded value is accepted by ADDHEADER");
    strbuf_free(&frame);

    strbuf_clear(&sb);
    const char hostile[] = "  a\r\nX-Injected: 1\r\n\r\nbody\x00z\x7f  ";
    mailtext_header_fold(&sb, 7, hostile, LEN(hostile), err, sizeof err);
    TAP_STR_EQ(sb.data, "a X-Injected: 1 body?z?",
               "CR/LF runs become one space, NUL and DEL become '?', ends trimmed");
    strbuf_clear(&sb);
    mailtext_header_fold(&sb, 7, "caf\xc3\xa9", 5, err, sizeof err);
    TAP_STR_EQ(sb.data, "caf\xc3\xa9", "UTF-8 is kept");

    char word[1100];
    memset(word, 'w', sizeof word - 1);
    word[sizeof word - 1] = '\0';
    strbuf_clear(&sb);
    strbuf_puts(&sb, "kept");
    TAP_OK(mailtext_header_fold(&sb, 7, word, strlen(word), err, sizeof err) == -1 &&
               strcmp(sb.data, "kept") == 0,
           "a word longer than 998 bytes is refused, nothing appended: %s", err);
    strbuf_clear(&sb);
    char ninety[91];
    memset(ninety, 'n', 90);
    ninety[90] = '\0';
    char two_words[200];
    snprintf(two_words, sizeof two_words, "short %s", ninety);
    mailtext_header_fold(&sb, 7, two_words, strlen(two_words), err, sizeof err);
    TAP_OK(strncmp(sb.data, "short\n\tnnn", 10) == 0 && mailtext_header_value_valid(7, sb.data, sb.len),
           "a word longer than a line goes on a line of its own");
    strbuf_clear(&sb);
    mailtext_header_fold(&sb, 7, "", 0, err, sizeof err);
    TAP_OK(sb.len == 0, "empty value stays empty");
    strbuf_free(&sb);
}

int main(void)
{
    test_conversation_in_every_chunking();
    test_frame_bytes();
    test_macros_for_every_command();
    test_bad_lengths();
    test_every_truncation();
    test_malformed_payloads();
    test_payload_values();
    test_negotiation();
    test_simple_replies();
    test_replycode();
    test_header_replies();
    test_header_fold();
    return tap_done();
}
