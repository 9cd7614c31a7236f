/* canon.c: unit tests for DKIM canonicalization (RFC 6376 section 3.4):
 * the example of section 3.4.6 through the message reader, every chunk
 * size, empty bodies, trailing lines, l= limits and LF line ends. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dkim/dkim_internal.h"
#include "tap.h"

/* The example message of section 3.4.6. */
static const char example[] = "A: X\r\n"
                              "B : Y\t\r\n"
                              "\tZ  \r\n"
                              "\r\n"
                              " C \r\n"
                              "D \t E\r\n"
                              "\r\n"
                              "\r\n";

static void collect(void *arg, const unsigned char *data, size_t len)
{
    strbuf_append(arg, (const char *)data, len);
}

typedef struct canon_run {
    strbuf headers, body;
    dkim_body_canon bc;
} canon_run;

static void feed_body(void *arg, const unsigned char *data, size_t len)
{
    canon_run *r = arg;
    dkim_body_canon_feed(&r->bc, data, len);
}

/* Canonicalizes a whole message, fed in chunks, into headers and body. */
static void canonicalize(const char *msg, size_t len, da_dkim_canon canon, size_t chunk,
                         int64_t limit, canon_run *r)
{
    strbuf_init(&r->headers);
    strbuf_init(&r->body);
    dkim_body_canon_init(&r->bc, canon, limit, collect, &r->body);
    dkim_message m;
    dkim_message_init(&m, 0, feed_body, r);
    for (size_t off = 0; off < len; off += chunk)
        dkim_message_feed(&m, (const unsigned char *)msg + off, len - off < chunk ? len - off : chunk);
    dkim_message_finish(&m);
    dkim_body_canon_finish(&r->bc);
    for (size_t i = 0; i < m.field_count; i++)
        dkim_canon_header(&r->headers, canon, m.header.data + m.fields[i].start, m.fields[i].len, true);
    strbuf_append(&r->headers, "", 0);
    strbuf_append(&r->body, "", 0);
    dkim_message_free(&m);
}

static void free_run(canon_run *r)
{
    strbuf_free(&r->headers);
    strbuf_free(&r->body);
}

static void test_rfc_example(void)
{
    static const size_t chunks[] = {1, 2, 3, 5, 17, 4096};
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        canon_run r;
        canonicalize(example, strlen(example), DA_DKIM_RELAXED, chunks[c], -1, &r);
        TAP_STR_EQ(r.headers.data, "a:X\r\nb:Y Z\r\n", "3.4.6 relaxed headers (chunks of %zu)",
                   chunks[c]);
        TAP_STR_EQ(r.body.data, " C\r\nD E\r\n", "3.4.6 relaxed body (chunks of %zu)", chunks[c]);
        free_run(&r);
        canonicalize(example, strlen(example), DA_DKIM_SIMPLE, chunks[c], -1, &r);
        TAP_STR_EQ(r.headers.data, "A: X\r\nB : Y\t\r\n\tZ  \r\n",
                   "3.4.6 simple headers (chunks of %zu)", chunks[c]);
        TAP_STR_EQ(r.body.data, " C \r\nD \t E\r\n", "3.4.6 simple body (chunks of %zu)",
                   chunks[c]);
        free_run(&r);
    }
}

static void test_lf_line_ends(void)
{
    /* The same message with bare LF line ends canonicalizes identically. */
    const char *lf = "A: X\nB : Y\t\n\tZ  \n\n C \nD \t E\n\n\n";
    canon_run r;
    canonicalize(lf, strlen(lf), DA_DKIM_RELAXED, 3, -1, &r);
    TAP_STR_EQ(r.headers.data, "a:X\r\nb:Y Z\r\n", "LF line ends read as CRLF: headers");
    TAP_STR_EQ(r.body.data, " C\r\nD E\r\n", "LF line ends read as CRLF: body");
    free_run(&r);
}

static const char *body_of(const char *msg, da_dkim_canon canon, int64_t limit, uint64_t *total)
{
    static char out[256];
    canon_run r;
    canonicalize(msg, strlen(msg), canon, 1, limit, &r);
    snprintf(out, sizeof out, "%s", r.body.data ? r.body.data : "");
    if (total != NULL)
        *total = r.bc.total;
    free_run(&r);
    return out;
}

static void test_body_edges(void)
{
    TAP_STR_EQ(body_of("A: x\r\n\r\n", DA_DKIM_SIMPLE, -1, NULL), "\r\n",
               "simple: an empty body is one CRLF");
    TAP_STR_EQ(body_of("A: x\r\n\r\n", DA_DKIM_RELAXED, -1, NULL), "",
               "relaxed: an empty body stays empty");
    TAP_STR_EQ(body_of("A: x\r\n", DA_DKIM_SIMPLE, -1, NULL), "\r\n",
               "simple: no blank line at all is an empty body");
    TAP_STR_EQ(body_of("A: x\r\n\r\nabc", DA_DKIM_SIMPLE, -1, NULL), "abc\r\n",
               "simple: a missing final CRLF is added");
    TAP_STR_EQ(body_of("A: x\r\n\r\nabc  ", DA_DKIM_RELAXED, -1, NULL), "abc\r\n",
               "relaxed: trailing whitespace without CRLF goes, CRLF added");
    TAP_STR_EQ(body_of("A: x\r\n\r\n\r\n\r\nabc\r\n\r\n \t \r\n", DA_DKIM_RELAXED, -1, NULL),
               "\r\n\r\nabc\r\n", "relaxed: leading empty lines stay, trailing (and blank) go");
    TAP_STR_EQ(body_of("A: x\r\n\r\n\r\n\r\n", DA_DKIM_SIMPLE, -1, NULL), "\r\n",
               "simple: only empty lines become one CRLF");
    TAP_STR_EQ(body_of("A: x\r\n\r\na\rb\r\n", DA_DKIM_SIMPLE, -1, NULL), "a\rb\r\n",
               "a bare CR is text");
    TAP_STR_EQ(body_of("A: x\r\n\r\n\tindented\r\n", DA_DKIM_RELAXED, -1, NULL), " indented\r\n",
               "relaxed: leading whitespace becomes one space");
    uint64_t total = 0;
    TAP_STR_EQ(body_of("A: x\r\n\r\nhello world\r\n", DA_DKIM_SIMPLE, 5, &total), "hello",
               "l=5 passes only 5 canonical bytes on");
    TAP_OK(total == 13, "and counts all 13");
    TAP_STR_EQ(body_of("A: x\r\n\r\nhi\r\n", DA_DKIM_SIMPLE, 0, NULL), "", "l=0 passes nothing");
}

static void test_headers(void)
{
    strbuf sb;
    strbuf_init(&sb);
    const char *f = "SUBJect \t:  Hello\r\n \tthere   world  ";
    dkim_canon_header(&sb, DA_DKIM_RELAXED, f, strlen(f), true);
    TAP_STR_EQ(sb.data, "subject:Hello there world\r\n", "relaxed header: name, unfold, squeeze");
    strbuf_clear(&sb);
    dkim_canon_header(&sb, DA_DKIM_SIMPLE, f, strlen(f), false);
    TAP_STR_EQ(sb.data, f, "simple header: unchanged");
    strbuf_clear(&sb);
    dkim_canon_header(&sb, DA_DKIM_RELAXED, "X-Empty:", 8, true);
    TAP_STR_EQ(sb.data, "x-empty:\r\n", "relaxed header with an empty value");
    strbuf_clear(&sb);
    dkim_canon_header(&sb, DA_DKIM_RELAXED, "no colon here", 13, false);
    TAP_STR_EQ(sb.data, "no colon here:", "a line without a colon does not crash");
    strbuf_free(&sb);
}

/* The relaxed header canonicalization as it was, one strbuf_putc a byte:
 * the reference the buffered one is checked against. */
static void reference_relaxed_header(strbuf *out, const char *field, size_t len)
{
    const char *colon = memchr(field, ':', len);
    size_t name_end = colon ? (size_t)(colon - field) : len;
    size_t trimmed = name_end;
    while (trimmed > 0 && (field[trimmed - 1] == ' ' || field[trimmed - 1] == '\t' ||
                           field[trimmed - 1] == '\r' || field[trimmed - 1] == '\n'))
        trimmed--;
    for (size_t i = 0; i < trimmed; i++)
        if (field[i] != '\r' && field[i] != '\n')
            strbuf_putc(out, field[i] >= 'A' && field[i] <= 'Z' ? (char)(field[i] + 32)
                                                                 : field[i]);
    strbuf_putc(out, ':');
    bool pending_space = false, started = false;
    for (size_t i = name_end + 1; i < len; i++) {
        char c = field[i];
        if (c == '\r' || c == '\n')
            continue;
        if (c == ' ' || c == '\t') {
            pending_space = started;
            continue;
        }
        if (pending_space)
            strbuf_putc(out, ' ');
        pending_space = false;
        started = true;
        strbuf_putc(out, c);
    }
}

/* Differential: 20,000 random fields (seeded), up to 900 bytes so that
 * the output crosses the 256-byte run buffer several times, rich in the
 * bytes that matter (SP, TAB, CR, LF, ':', upper case). */
static void test_header_differential(void)
{
    static const char alphabet[] = "  \t\t\r\n::AZaz09-_;=\x80\xff";
    uint32_t x = 0x9e3779b9u;
    char field[900];
    strbuf want, got;
    strbuf_init(&want);
    strbuf_init(&got);
    size_t bad = 0, cases = 20000;
    for (size_t n = 0; n < cases; n++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        size_t len = x % sizeof field;
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            field[i] = (x & 3) ? alphabet[(x >> 8) % (sizeof alphabet - 1)] : (char)('a' + (x >> 8) % 26);
        }
        strbuf_clear(&want);
        strbuf_clear(&got);
        reference_relaxed_header(&want, field, len);
        strbuf_append(&want, "\r\n", 2);
        dkim_canon_header(&got, DA_DKIM_RELAXED, field, len, true);
        if (want.len != got.len || memcmp(want.data, got.data, want.len) != 0)
            bad++;
    }
    TAP_OK(bad == 0, "relaxed header canonicalization equals the byte-at-a-time reference "
                     "over %zu random fields (%zu differ)", cases, bad);
    strbuf_free(&want);
    strbuf_free(&got);
}

/* Relaxed body canonicalization straight from RFC 6376 section 3.4.4, for
 * bodies whose CRs all begin a CRLF: the reference for the scanner. */
static size_t reference_relaxed_body(const unsigned char *m, size_t len, unsigned char *out)
{
    size_t n = 0, kept = 0, i = 0;
    while (i < len) {
        size_t e = i;
        while (e < len && !(m[e] == '\r' && e + 1 < len && m[e + 1] == '\n'))
            e++;
        size_t line_start = n;
        bool space = false;
        for (size_t k = i; k < e; k++) {
            if (m[k] == ' ' || m[k] == '\t') {
                space = true;
            } else {
                if (space)
                    out[n++] = ' ';
                space = false;
                out[n++] = m[k];
            }
        }
        out[n++] = '\r';
        out[n++] = '\n';
        if (n - line_start > 2)
            kept = n;
        i = e + 2;
    }
    return kept;
}

/* Differential: 5,000 random bodies (seeded) up to 3,000 bytes, mostly
 * words with single spaces (the scanner's 8-byte path) and runs of SP, TAB
 * and CRLF at random places (its exits), fed in random chunks, against the
 * reference. */
static void test_body_differential(void)
{
    uint32_t x = 0x2545f491u;
    static unsigned char body[3000], want[3100];
    size_t bad = 0, cases = 5000;
    for (size_t n = 0; n < cases; n++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        size_t len = x % (sizeof body - 2), i = 0;
        while (i < len) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            unsigned r = x % 100;
            if (r < 3 && i + 2 <= len) {
                body[i++] = '\r';
                body[i++] = '\n';
            } else if (r < 5) {
                body[i++] = '\t';
            } else if (r < 20) {
                body[i++] = ' ';
            } else {
                body[i++] = (unsigned char)((r & 1) ? 'a' + x % 26 : 0x80 + (x >> 8) % 128);
            }
        }
        len = i;
        strbuf got;
        strbuf_init(&got);
        dkim_body_canon bc;
        dkim_body_canon_init(&bc, DA_DKIM_RELAXED, -1, collect, &got);
        for (size_t off = 0; off < len;) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            size_t chunk = 1 + x % 700;
            if (chunk > len - off)
                chunk = len - off;
            dkim_body_canon_feed(&bc, body + off, chunk);
            off += chunk;
        }
        dkim_body_canon_finish(&bc);
        size_t wlen = reference_relaxed_body(body, len, want);
        if (got.len != wlen || (wlen > 0 && memcmp(got.data, want, wlen) != 0))
            bad++;
        strbuf_free(&got);
    }
    TAP_OK(bad == 0, "relaxed body canonicalization equals RFC 6376's over %zu random bodies "
                     "in random chunks (%zu differ)", cases, bad);
}

/* Differential over bodies made of lines, as mail is: text lines with
 * single spaces (the 16-byte scanner's path through whole lines), empty
 * lines alone and in pairs, lines that start with one SP, several blanks
 * or a TAB, trailing blanks, whitespace-only lines, a bare CR, a line
 * longer than a block; fed whole and in random chunks (a chunk may end
 * anywhere in a CR LF or before the scanner's lookahead), and with an l=
 * limit, whose output must be the first l bytes of the unlimited one. */
static void test_body_lines_differential(void)
{
    static const char *const pieces[] = {
        "the quick brown fox", "jumps over", "a", "lazy dog.", "", "", " indented once",
        "   indented thrice", "\tafter a tab", "trailing blank ", "trailing tab\t", "  ",
        " \t ", "bare\rcr inside", "x", "0123456789abcdef0123456789abcdef0123456789", "double  space",
    };
    uint32_t x = 0x9e3779b9u;
    static unsigned char body[4000], want[4100];
    size_t bad = 0, bad_limit = 0, cases = 4000;
    for (size_t n = 0; n < cases; n++) {
        size_t len = 0;
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        size_t lines = x % 40;
        for (size_t l = 0; l < lines; l++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            const char *piece = pieces[x % (sizeof pieces / sizeof pieces[0])];
            size_t plen = strlen(piece);
            if (len + plen + 2 > sizeof body)
                break;
            memcpy(body + len, piece, plen);
            len += plen;
            body[len++] = '\r';
            body[len++] = '\n';
        }
        /* A tail of blank lines, long enough to lie in the scanner's
         * lookahead: the canonical body ends before it. */
        static const char *const blank[] = {"", " ", "  ", " \t ", "\t"};
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        for (size_t t = x % 3 == 0 ? 3 + x % 6 : 0; t > 0 && len + 5 < sizeof body; t--) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            const char *b = blank[x % 5];
            memcpy(body + len, b, strlen(b));
            len += strlen(b);
            body[len++] = '\r';
            body[len++] = '\n';
        }
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        if (len > 0 && x % 4 == 0)
            len -= 1 + x % 2; /* no final CRLF, or a lone CR at the end */
        size_t wlen = reference_relaxed_body(body, len, want);
        /* Fed from a buffer of exactly len bytes: a scanner reading past
         * the data (its lookahead, its 16-byte loads) is an ASan error, not
         * a read into the rest of a static array. */
        unsigned char *exact = malloc(len ? len : 1);
        memcpy(exact, body, len);
        for (int pass = 0; pass < 3; pass++) {
            strbuf got;
            strbuf_init(&got);
            dkim_body_canon bc;
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            int64_t limit = pass == 2 ? (int64_t)(x % (wlen + 2)) : -1;
            dkim_body_canon_init(&bc, DA_DKIM_RELAXED, limit, collect, &got);
            for (size_t off = 0; off < len;) {
                x ^= x << 13, x ^= x >> 17, x ^= x << 5;
                size_t chunk = pass == 0 ? len : 1 + x % 90;
                if (chunk > len - off)
                    chunk = len - off;
                dkim_body_canon_feed(&bc, exact + off, chunk);
                off += chunk;
            }
            dkim_body_canon_finish(&bc);
            size_t expect = limit >= 0 && (size_t)limit < wlen ? (size_t)limit : wlen;
            bool same = got.len == expect && (expect == 0 || memcmp(got.data, want, expect) == 0);
            if (!same && pass < 2)
                bad++;
            if (!same && pass == 2)
                bad_limit++;
            strbuf_free(&got);
        }
        free(exact);
    }
    TAP_OK(bad == 0, "relaxed canonicalization of %zu line-structured bodies, whole and in "
                     "chunks, equals RFC 6376's (%zu differ)", cases, bad);
    TAP_OK(bad_limit == 0, "with an l= limit the output is the first l canonical bytes "
                           "(%zu differ)", bad_limit);
}

static void test_header_limits(void)
{
    dkim_message m;
    strbuf sink;
    strbuf_init(&sink);
    dkim_message_init(&m, 64, collect, &sink);
    const char *big = "Subject: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    int rc = dkim_message_feed(&m, (const unsigned char *)big, strlen(big));
    TAP_OK(rc == -1 && m.failed && strstr(m.problem, "too large") != NULL,
           "a header block over the limit is refused (%s)", m.problem);
    dkim_message_free(&m);
    dkim_message_init(&m, 0, collect, &sink);
    const char *folded = "A: 1\r\n continued\r\nB: 2\r\n\r\nbody";
    dkim_message_feed(&m, (const unsigned char *)folded, strlen(folded));
    dkim_message_finish(&m);
    TAP_OK(m.field_count == 2 && m.fields[0].len == 16, "a folded field is one field");
    TAP_STR_EQ(sink.data, "body", "the body is passed on");
    dkim_message_free(&m);
    strbuf_free(&sink);
}

int main(void)
{
    test_rfc_example();
    test_lf_line_ends();
    test_body_edges();
    test_headers();
    test_header_differential();
    test_body_differential();
    test_body_lines_differential();
    test_header_limits();
    return tap_done();
}
