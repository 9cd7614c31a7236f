/* Unit tests for the socketmap codec: requests in every chunking, several
 * per read; malformed netstrings (fatal, and refused for good) and bad
 * requests (answered, the next still parsed); the bounds; and replies
 * checked byte for byte. */
#include <stdlib.h>
#include <string.h>

#include "proto/socketmap.h"
#include "tap.h"

#define LEN(a) (sizeof(a) - 1)

/* What a stream gives: 'R' per request, 'B' per bad request, 'E' for the
 * fatal error (then the stream stops), with "name|key" of each request. */
typedef struct results {
    char kinds[32];
    char requests[32][128];
    char last_error[160];
    size_t count;
    size_t used; /* bytes consumed in all */
} results;

static void feed_stream(socketmap_parser *p, const char *data, size_t len, size_t chunk,
                        results *out)
{
    memset(out, 0, sizeof *out);
    for (size_t pos = 0; pos < len;) {
        size_t n = len - pos < chunk ? len - pos : chunk;
        size_t used = 0;
        socketmap_status st = socketmap_parser_feed(p, data + pos, n, &used);
        pos += used;
        out->used += used;
        if (st == SOCKETMAP_NEED_MORE)
            continue;
        if (out->count >= 32)
            return;
        if (st == SOCKETMAP_REQUEST) {
            out->kinds[out->count] = 'R';
            snprintf(out->requests[out->count], sizeof out->requests[0], "%s|%.*s", p->name,
                     (int)p->key_len, p->key);
        } else {
            out->kinds[out->count] = st == SOCKETMAP_BAD_REQUEST ? 'B' : 'E';
            snprintf(out->last_error, sizeof out->last_error, "%s", socketmap_parser_error(p));
        }
        out->count++;
        if (st == SOCKETMAP_ERROR)
            return;
    }
}

static void test_requests_any_chunking(void)
{
    static const char stream[] = "25:forward alice@example.com,"
                                 "47:reverse SRS0=HHHH=TT=example.com=alice@fwd.test,"
                                 "8:forward ,"
                                 "13:name with key,";
    bool all_ok = true;
    for (size_t chunk = 1; chunk <= LEN(stream); chunk++) {
        socketmap_parser p;
        socketmap_parser_init(&p, 0);
        results r;
        feed_stream(&p, stream, LEN(stream), chunk, &r);
        bool ok = r.count == 4 && strcmp(r.kinds, "RRRR") == 0 &&
                  strcmp(r.requests[0], "forward|alice@example.com") == 0 &&
                  strcmp(r.requests[1], "reverse|SRS0=HHHH=TT=example.com=alice@fwd.test") == 0 &&
                  strcmp(r.requests[2], "forward|") == 0 &&
                  strcmp(r.requests[3], "name|with key") == 0 && r.used == LEN(stream);
        if (!ok) {
            printf("# chunk %zu: %zu results '%s', first '%s'\n", chunk, r.count, r.kinds,
                   r.requests[0]);
            all_ok = false;
        }
        socketmap_parser_free(&p);
    }
    TAP_OK(all_ok, "four requests (an empty key, a key with a space) in every chunking");
}

static void test_key_is_terminated(void)
{
    socketmap_parser p;
    socketmap_parser_init(&p, 0);
    size_t used;
    socketmap_status st = socketmap_parser_feed(&p, "9:forward a,", 12, &used);
    TAP_OK(st == SOCKETMAP_REQUEST && used == 12 && p.key_len == 1 && p.key[1] == '\0' &&
               strcmp(p.name, "forward") == 0,
           "a request's name and key are NUL-terminated, the length given");
    socketmap_parser_free(&p);
}

/* One malformed netstring: a fatal error with this message, at this byte,
 * and every later feed is refused. */
static void expect_fatal(const char *input, size_t consumed, const char *message)
{
    socketmap_parser p;
    socketmap_parser_init(&p, 0);
    size_t used;
    socketmap_status st = socketmap_parser_feed(&p, input, strlen(input), &used);
    bool ok = st == SOCKETMAP_ERROR && used == consumed &&
              strcmp(socketmap_parser_error(&p), message) == 0;
    if (!ok)
        printf("# status %d, used %zu, error '%s'\n", (int)st, used, socketmap_parser_error(&p));
    size_t again;
    bool stays = socketmap_parser_feed(&p, "3:a b,", 6, &again) == SOCKETMAP_ERROR && again == 0;
    TAP_OK(ok && stays, "malformed '%s': %s (and nothing after it is read)", input, message);
    socketmap_parser_free(&p);
}

static void test_malformed_netstrings(void)
{
    expect_fatal("x", 1, "netstring length: expected a digit, not 'x'");
    expect_fatal(":forward a,", 1, "netstring length: expected a digit, not ':'");
    expect_fatal("9 forward a,", 2, "netstring length: expected a digit or ':', not 0x20");
    expect_fatal("09:forward a,", 2, "netstring length with a leading zero");
    expect_fatal("9:forward a;", 12, "expected ',' after the 9 bytes of the netstring, not ';'");
    expect_fatal("8:forward a,", 11, "expected ',' after the 8 bytes of the netstring, not 'a'");
    expect_fatal("-1:x,", 1, "netstring length: expected a digit, not '-'");
    expect_fatal("forward alice@example.com\n", 1, "netstring length: expected a digit, not 'f'");
    /* The limit: refused at the digit that passes it, before any data. */
    expect_fatal("2049:", 4, "netstring longer than 2048 bytes");
    expect_fatal("99999999999999999999999999:", 4, "netstring longer than 2048 bytes");
}

static void test_limit_exact(void)
{
    char *buf = malloc(SOCKETMAP_REQUEST_MAX + 16);
    int n = snprintf(buf, 16, "%d:", SOCKETMAP_REQUEST_MAX);
    memcpy(buf + n, "forward ", 8);
    memset(buf + n + 8, 'a', SOCKETMAP_REQUEST_MAX - 8);
    buf[n + SOCKETMAP_REQUEST_MAX] = ',';
    size_t total = (size_t)n + SOCKETMAP_REQUEST_MAX + 1;
    socketmap_parser p;
    socketmap_parser_init(&p, 0);
    size_t used;
    socketmap_status st = socketmap_parser_feed(&p, buf, total, &used);
    TAP_OK(st == SOCKETMAP_REQUEST && used == total && p.key_len == SOCKETMAP_REQUEST_MAX - 8,
           "a request of exactly SOCKETMAP_REQUEST_MAX bytes is taken");
    socketmap_parser_free(&p);
    /* A smaller limit given to init. */
    socketmap_parser_init(&p, 10);
    st = socketmap_parser_feed(&p, "11:", 3, &used);
    TAP_OK(st == SOCKETMAP_ERROR && strcmp(socketmap_parser_error(&p),
                                           "netstring longer than 10 bytes") == 0,
           "the limit given to init is the one applied");
    socketmap_parser_free(&p);
    free(buf);
}

static void test_bad_requests_keep_step(void)
{
    static const char stream[] = "7:forward,"                /* no space */
                                 "6: alice,"                 /* empty name */
                                 "0:,"                       /* empty payload */
                                 "9:forward a,"              /* good */
                                 "12:for\x01ward a@b,"       /* control byte in name */
                                 "11:forward a\0b,"          /* NUL */
                                 "9:reverse b,";             /* good */
    socketmap_parser p;
    socketmap_parser_init(&p, 0);
    results r;
    feed_stream(&p, stream, LEN(stream), LEN(stream), &r);
    TAP_STR_EQ(r.kinds, "BBBRBBR", "bad requests are answered one by one, the good ones parsed");
    TAP_STR_EQ(r.requests[3], "forward|a", "the request after bad ones is whole");
    TAP_STR_EQ(r.requests[6], "reverse|b", "and the last one too");
    socketmap_parser_free(&p);

    static const struct {
        const char *input;
        size_t len;
        const char *error;
    } cases[] = {
        {"7:forward,", 10, "no space between the map name and the key"},
        {"6: alice,", 9, "empty map name"},
        {"12:for\x01ward a@b,", 16, "map name: byte 0x01 at offset 3 is not printable ASCII"},
        {"11:forward a\0b,", 15, "NUL byte in the request"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        socketmap_parser_init(&p, 0);
        size_t used;
        socketmap_status st = socketmap_parser_feed(&p, cases[i].input, cases[i].len, &used);
        TAP_OK(st == SOCKETMAP_BAD_REQUEST && used == cases[i].len &&
                   strcmp(socketmap_parser_error(&p), cases[i].error) == 0,
               "bad request %zu: %s", i, cases[i].error);
        socketmap_parser_free(&p);
    }
    char name[128];
    memset(name, 'n', 65);
    snprintf(name + 65, sizeof name - 65, " key");
    char wire[160];
    int n = snprintf(wire, sizeof wire, "%zu:%s,", strlen(name), name);
    socketmap_parser_init(&p, 0);
    size_t used;
    socketmap_status st = socketmap_parser_feed(&p, wire, (size_t)n, &used);
    TAP_OK(st == SOCKETMAP_BAD_REQUEST &&
               strcmp(socketmap_parser_error(&p), "map name longer than 64 bytes") == 0,
           "a map name of 65 bytes is refused");
    socketmap_parser_free(&p);
}

static void expect_reply(socketmap_reply_kind kind, const char *text, size_t len,
                         const char *want)
{
    strbuf sb;
    strbuf_init(&sb);
    char err[128] = "";
    int rc = socketmap_reply(&sb, kind, text, len, err, sizeof err);
    bool ok = rc == 0 && sb.len == strlen(want) && memcmp(sb.data, want, sb.len) == 0;
    if (!ok)
        printf("# rc %d, got '%.*s' (%s)\n", rc, (int)sb.len, sb.data ? sb.data : "", err);
    TAP_OK(ok, "reply %s", want);
    strbuf_free(&sb);
}

static void test_replies(void)
{
    expect_reply(SOCKETMAP_OK, "SRS0=x@fwd.test", 15, "18:OK SRS0=x@fwd.test,");
    expect_reply(SOCKETMAP_NOTFOUND, NULL, 0, "9:NOTFOUND ,");
    expect_reply(SOCKETMAP_NOTFOUND, "local domain", 12, "21:NOTFOUND local domain,");
    expect_reply(SOCKETMAP_TEMP, "no\nsecret", 9, "14:TEMP no?secret,");
    expect_reply(SOCKETMAP_TIMEOUT, "slow", 4, "12:TIMEOUT slow,");
    expect_reply(SOCKETMAP_PERM, "bad \xff", 5, "10:PERM bad ?,");

    strbuf sb;
    strbuf_init(&sb);
    char err[128];
    TAP_OK(socketmap_reply(&sb, SOCKETMAP_OK, "", 0, err, sizeof err) == -1 && sb.len == 0 &&
               strcmp(err, "an OK reply needs data") == 0,
           "an OK reply without data is refused, nothing written");
    char *big = malloc(SOCKETMAP_REPLY_MAX);
    memset(big, 'a', SOCKETMAP_REPLY_MAX);
    TAP_OK(socketmap_reply(&sb, SOCKETMAP_OK, big, SOCKETMAP_REPLY_MAX - 3, err, sizeof err) ==
                   0 &&
               !sb.failed,
           "a reply of exactly Postfix's limit is written");
    strbuf_clear(&sb);
    TAP_OK(socketmap_reply(&sb, SOCKETMAP_OK, big, SOCKETMAP_REPLY_MAX - 2, err, sizeof err) ==
                   -1 &&
               sb.len == 0,
           "one byte more is refused: %s", err);
    free(big);
    strbuf_free(&sb);
}

/* A reply the parser reads back: the encoder writes real netstrings. */
static void test_reply_round_trip(void)
{
    strbuf sb;
    strbuf_init(&sb);
    char err[64];
    socketmap_reply(&sb, SOCKETMAP_OK, "a b c", 5, err, sizeof err);
    socketmap_parser p;
    socketmap_parser_init(&p, 0);
    size_t used;
    socketmap_status st = socketmap_parser_feed(&p, sb.data, sb.len, &used);
    TAP_OK(st == SOCKETMAP_REQUEST && strcmp(p.name, "OK") == 0 && strcmp(p.key, "a b c") == 0,
           "the parser reads the encoder's netstring back");
    socketmap_parser_free(&p);
    strbuf_free(&sb);
}

int main(void)
{
    test_requests_any_chunking();
    test_key_is_terminated();
    test_malformed_netstrings();
    test_limit_exact();
    test_bad_requests_keep_step();
    test_replies();
    test_reply_round_trip();
    return tap_done();
}
