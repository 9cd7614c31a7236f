/* Unit tests for the policy delegation codec: requests in every chunking,
 * several per read, every kind of bad request (each reported once, the
 * next one still parsed), and replies checked byte for byte. */
#include <stdlib.h>
#include <string.h>

#include "proto/policyd.h"
#include "tap.h"

#define LEN(a) (sizeof(a) - 1)

static const char rcpt_request[] =
    "request=smtpd_access_policy\n"
    "protocol_state=RCPT\n"
    "protocol_name=ESMTP\n"
    "client_address=192.0.2.10\n"
    "client_name=mail.example.com\n"
    "client_port=40123\n"
    "reverse_client_name=mail.example.com\n"
    "server_address=198.51.100.1\n"
    "server_port=25\n"
    "helo_name=mail.example.com\n"
    "sender=alice@example.com\n"
    "recipient=bob@example.net\n"
    "recipient_count=0\n"
    "queue_id=\n"
    "instance=1a2b.5f3e7a10.4c1d2.0\n"
    "size=0\n"
    "etrn_domain=\n"
    "stress=\n"
    "sasl_method=\n"
    "sasl_username=\n"
    "sasl_sender=\n"
    "ccert_subject=\n"
    "ccert_issuer=\n"
    "ccert_fingerprint=\n"
    "ccert_pubkey_fingerprint=\n"
    "encryption_protocol=TLSv1.3\n"
    "encryption_cipher=TLS_AES_256_GCM_SHA384\n"
    "encryption_keysize=256\n"
    "policy_context=a=b=c\n"
    "compatibility_level=3.6\n"
    "mail_version=3.7.11\n"
    "x_future_attribute=kept\n"
    "\n";

/* Collects what a stream gives: 'R' per request, 'E' per error, and the
 * sender of each request. */
typedef struct results {
    char kinds[32];
    char senders[32][64];
    size_t count;
    bool overrun;
} results;

static void feed_stream(policyd_parser *p, const char *data, size_t len, size_t chunk,
                        results *out)
{
    memset(out, 0, sizeof *out);
    for (size_t pos = 0; pos < len;) {
        size_t n = chunk < len - pos ? chunk : len - pos;
        const char *c = data + pos;
        size_t left = n;
        while (left > 0) {
            size_t used;
            policyd_status s = policyd_parser_feed(p, c, left, &used);
            if (used > left || (s == POLICYD_NEED_MORE && used != left)) {
                out->overrun = true;
                return;
            }
            c += used;
            left -= used;
            if (s != POLICYD_NEED_MORE && out->count < 32) {
                out->kinds[out->count] = s == POLICYD_REQUEST ? 'R' : 'E';
                const policyd_request *r = policyd_parser_request(p);
                snprintf(out->senders[out->count], 64, "%s",
                         r && r->sender ? r->sender : "-");
                out->count++;
            }
        }
        pos += n;
    }
}

static void test_one_request(void)
{
    policyd_parser p;
    policyd_parser_init(&p, NULL);
    size_t used;
    policyd_status s = policyd_parser_feed(&p, rcpt_request, LEN(rcpt_request), &used);
    TAP_OK(s == POLICYD_REQUEST && used == LEN(rcpt_request), "a Postfix RCPT request parses");
    const policyd_request *r = policyd_parser_request(&p);
    TAP_STR_EQ(r->request, "smtpd_access_policy", "request");
    TAP_STR_EQ(r->protocol_state, "RCPT", "protocol_state");
    TAP_STR_EQ(r->client_address, "192.0.2.10", "client_address");
    TAP_STR_EQ(r->helo_name, "mail.example.com", "helo_name");
    TAP_STR_EQ(r->sender, "alice@example.com", "sender");
    TAP_STR_EQ(r->recipient, "bob@example.net", "recipient");
    TAP_STR_EQ(r->instance, "1a2b.5f3e7a10.4c1d2.0", "instance");
    TAP_STR_EQ(r->queue_id, "", "empty queue_id is present and empty");
    TAP_STR_EQ(r->sasl_username, "", "empty sasl_username");
    TAP_STR_EQ(r->encryption_cipher, "TLS_AES_256_GCM_SHA384", "encryption_cipher");
    TAP_STR_EQ(r->policy_context, "a=b=c", "a value may hold '='");
    TAP_STR_EQ(r->mail_version, "3.7.11", "mail_version");
    TAP_STR_EQ(policyd_parser_get(&p, "x_future_attribute"), "kept", "unknown attribute kept");
    TAP_OK(policyd_parser_get(&p, "nope") == NULL, "absent attribute is NULL");
    TAP_OK(policyd_parser_attribute_count(&p) == 32, "32 attributes");
    policyd_attribute a;
    TAP_OK(policyd_parser_attribute(&p, 30, &a) && strcmp(a.name, "mail_version") == 0 &&
               a.value_len == 6 && !policyd_parser_attribute(&p, 32, &a),
           "attributes by index, in order");
    policyd_parser_free(&p);
}

static void test_chunkings(void)
{
    /* Three requests; the second has no sender, so a leftover from the
     * first would show. */
    const char stream[] = "request=smtpd_access_policy\nsender=a@x\n\n"
                          "request=smtpd_access_policy\nprotocol_state=DATA\n\n"
                          "request=smtpd_access_policy\r\nsender=c@x\r\n\r\n";
    static const size_t chunks[] = {1, 2, 3, 7, 16, 41, 1000};
    for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
        policyd_parser p;
        policyd_parser_init(&p, NULL);
        results got;
        feed_stream(&p, stream, LEN(stream), chunks[i], &got);
        TAP_OK(!got.overrun && got.count == 3 && memcmp(got.kinds, "RRR", 3) == 0 &&
                   strcmp(got.senders[0], "a@x") == 0 && strcmp(got.senders[1], "-") == 0 &&
                   strcmp(got.senders[2], "c@x") == 0,
               "three requests in %zu-byte chunks, reset between them, CRLF tolerated",
               chunks[i]);
        policyd_parser_free(&p);
    }
    /* Every truncation of one request: no result until the empty line. */
    bool ok = true;
    for (size_t cut = 0; cut < LEN(rcpt_request); cut++) {
        policyd_parser p;
        policyd_parser_init(&p, NULL);
        char *copy = malloc(cut ? cut : 1);
        memcpy(copy, rcpt_request, cut);
        results got;
        feed_stream(&p, copy, cut, cut ? cut : 1, &got);
        if (got.overrun || got.count != 0)
            ok = false;
        free(copy);
        policyd_parser_free(&p);
    }
    TAP_OK(ok, "no truncation of a request yields a result");
}

/* A bad request, then a good one, in one read and byte by byte: one error,
 * then the good request. */
static void expect_bad(const char *bad, const policyd_limits *limits, const char *what)
{
    const char good[] = "sender=ok@x\n\n"; /* short: it must fit the small limits */
    size_t bad_len = strlen(bad);
    char *stream = malloc(bad_len + LEN(good));
    memcpy(stream, bad, bad_len);
    memcpy(stream + bad_len, good, LEN(good));
    bool ok = true;
    char reason[160] = "";
    for (size_t chunk = 1; chunk <= 1000; chunk = chunk == 1 ? 1000 : 1001) {
        policyd_parser p;
        policyd_parser_init(&p, limits);
        results got;
        feed_stream(&p, stream, bad_len + LEN(good), chunk, &got);
        if (got.overrun || got.count != 2 || memcmp(got.kinds, "ER", 2) != 0 ||
            strcmp(got.senders[1], "ok@x") != 0)
            ok = false;
        snprintf(reason, sizeof reason, "%s", policyd_parser_error(&p));
        policyd_parser_free(&p);
    }
    TAP_OK(ok, "%s: one error, then the next request parses (%s)", what, reason);
    free(stream);
}

static void test_bad_requests(void)
{
    expect_bad("request=x\nno equals sign\nsender=a\n\n", NULL, "line without '='");
    expect_bad("Request=x\n\n", NULL, "upper-case name");
    expect_bad("=x\n\n", NULL, "empty name");
    expect_bad("re-quest=x\n\n", NULL, "name with '-'");
    expect_bad("re quest=x\n\n", NULL, "name with a space");
    expect_bad("sender=a\nsender=b\n\n", NULL, "duplicate name");
    expect_bad("x_new=a\nsender=s\nx_new=b\n\n", NULL, "duplicate unknown name");
    /* A name that is a prefix of a known one, or one known name in two
     * requests, is no repeat. */
    {
        const char stream[] = "send=a\nsender=b\nsenders=c\n\nsender=d\nsend=e\n\n";
        policyd_parser p;
        policyd_parser_init(&p, NULL);
        results got;
        feed_stream(&p, stream, LEN(stream), 3, &got);
        TAP_OK(got.count == 2 && memcmp(got.kinds, "RR", 2) == 0 &&
                   strcmp(got.senders[0], "b") == 0 && strcmp(got.senders[1], "d") == 0,
               "prefixes of a known name and a name in the next request are not repeats");
        policyd_parser_free(&p);
    }
    expect_bad("\n", NULL, "empty request");
    expect_bad("\r\n", NULL, "empty request with CRLF");
    /* strlen stops at a NUL: build this one by hand. */
    {
        const char good[] = "request=y\n\n";
        char stream[64];
        size_t n = LEN("request=x\nsender=a\0b\n\n");
        memcpy(stream, "request=x\nsender=a\0b\n\n", n);
        memcpy(stream + n, good, LEN(good));
        policyd_parser p;
        policyd_parser_init(&p, NULL);
        results got;
        feed_stream(&p, stream, n + LEN(good), 1, &got);
        TAP_OK(got.count == 2 && memcmp(got.kinds, "ER", 2) == 0,
               "NUL inside a value: one error, then the next request (%s)",
               policyd_parser_error(&p));
        policyd_parser_free(&p);
    }
    policyd_limits small = {.max_line = 20, .max_attributes = 3, .max_request = 60};
    expect_bad("sender=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n\n", &small, "line too long");
    expect_bad("a=1\nb=2\nc=3\nd=4\n\n", &small, "too many attributes");
    expect_bad("a=1234567890\nb=1234567890\nc=1234567890\nd=1\n\n", &(policyd_limits){.max_request = 40},
               "request too long");
    /* The limits are exact: at the limit is fine. */
    policyd_parser p;
    policyd_parser_init(&p, &small);
    size_t used;
    const char at_limit[] = "sender=1234567890123\na=1\nb=2\n\n"; /* 20-byte line, 3 attributes */
    TAP_OK(policyd_parser_feed(&p, at_limit, LEN(at_limit), &used) == POLICYD_REQUEST,
           "a 20-byte line and 3 attributes fit limits of 20 and 3");
    policyd_parser_free(&p);
    /* Garbage with no line end is cut off at the line limit, not buffered. */
    policyd_parser_init(&p, &small);
    char junk[500];
    memset(junk, 'j', sizeof junk);
    TAP_OK(policyd_parser_feed(&p, junk, sizeof junk, &used) == POLICYD_ERROR && used <= 500 &&
               policyd_parser_feed(&p, junk, sizeof junk, &used) == POLICYD_NEED_MORE &&
               used == sizeof junk && p.len == 0,
           "endless line: one error, then discarded without storing");
    policyd_parser_free(&p);
}

static void test_replies(void)
{
    strbuf sb;
    strbuf_init(&sb);
    char err[200];
    policyd_reply_dunno(&sb);
    TAP_STR_EQ(sb.data, "action=DUNNO\n\n", "DUNNO");
    strbuf_clear(&sb);
    policyd_reply_action(&sb, "DEFER_IF_PERMIT", "SPF temporary error, try later", err, sizeof err);
    TAP_STR_EQ(sb.data, "action=DEFER_IF_PERMIT SPF temporary error, try later\n\n",
               "DEFER_IF_PERMIT with text");
    strbuf_clear(&sb);
    policyd_reply_action(&sb, "defer_if_permit", NULL, err, sizeof err);
    TAP_STR_EQ(sb.data, "action=defer_if_permit\n\n", "lower-case action, no text");
    strbuf_clear(&sb);
    policyd_reply_action(&sb, "REJECT", "bad\r\naction=OK\n\nsender", err, sizeof err);
    TAP_STR_EQ(sb.data, "action=REJECT bad action=OK sender\n\n",
               "text cannot end the reply or add an attribute");
    strbuf_clear(&sb);
    TAP_OK(policyd_reply_code(&sb, 450, "4.7.1", "Try again later", err, sizeof err) == 0,
           "450 4.7.1");
    TAP_STR_EQ(sb.data, "action=450 4.7.1 Try again later\n\n", "450 4.7.1 text");
    strbuf_clear(&sb);
    policyd_reply_code(&sb, 550, "5.7.1", "100% spoofed", err, sizeof err);
    TAP_STR_EQ(sb.data, "action=550 5.7.1 100% spoofed\n\n", "550 5.7.1; '%%' not doubled here");
    strbuf_clear(&sb);
    TAP_OK(policyd_reply_code(&sb, 550, "4.7.1", "x", err, sizeof err) == -1 && sb.len == 0 &&
               policyd_reply_code(&sb, 250, NULL, "x", err, sizeof err) == -1 && sb.len == 0,
           "bad codes are refused, nothing written");
    TAP_OK(policyd_reply_action(&sb, "REJECT 550", "x", err, sizeof err) == -1 &&
               policyd_reply_action(&sb, "", "x", err, sizeof err) == -1 &&
               policyd_reply_action(&sb, "OK\n", "x", err, sizeof err) == -1 && sb.len == 0,
           "action words with spaces, newlines or nothing are refused");
    policyd_reply_prepend(&sb, "Authentication-Results", "mx.example;\r\n\tspf=pass\nX-Evil: 1",
                          err, sizeof err);
    TAP_STR_EQ(sb.data, "action=PREPEND Authentication-Results: mx.example; spf=pass X-Evil: 1\n\n",
               "PREPEND value made one line");
    strbuf_clear(&sb);
    TAP_OK(policyd_reply_prepend(&sb, "X Bad", "v", err, sizeof err) == -1 &&
               policyd_reply_prepend(&sb, "X:Bad", "v", err, sizeof err) == -1 && sb.len == 0,
           "bad header names are refused");
    char big[1200];
    memset(big, 'v', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    TAP_OK(policyd_reply_prepend(&sb, "X-Big", big, err, sizeof err) == -1 && sb.len == 0,
           "a header over 998 bytes is refused: %s", err);

    /* Round trip: a reply is name=value lines too. */
    policyd_reply_code(&sb, 550, "5.7.1", "a=b rejected", err, sizeof err);
    policyd_parser p;
    policyd_parser_init(&p, NULL);
    size_t used;
    TAP_OK(policyd_parser_feed(&p, sb.data, sb.len, &used) == POLICYD_REQUEST && used == sb.len,
           "a reply parses as one name=value block");
    TAP_STR_EQ(policyd_parser_get(&p, "action"), "550 5.7.1 a=b rejected", "round trip of action");
    policyd_parser_free(&p);
    strbuf_free(&sb);
}

int main(void)
{
    test_one_request();
    test_chunkings();
    test_bad_requests();
    test_replies();
    return tap_done();
}
