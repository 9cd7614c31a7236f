/* dns_wire_test.c: unit tests for the DNS message codec (src/dns/wire.c),
 * fed hand-built messages: each record type, compression, CNAME chains,
 * negative answers, and malformed or cut-short input that must be refused. */
#include "dns/wire.h"

#include <stdlib.h>
#include <string.h>

#include "tap.h"

/* A message under construction; tests write bytes exactly as on the wire. */
typedef struct msg {
    uint8_t b[4096];
    size_t n;
} msg;

static void u8(msg *m, unsigned v)
{
    m->b[m->n++] = (uint8_t)v;
}

static void u16(msg *m, unsigned v)
{
    u8(m, v >> 8 & 0xff);
    u8(m, v & 0xff);
}

static void u32(msg *m, uint32_t v)
{
    u16(m, v >> 16);
    u16(m, v & 0xffff);
}

static void raw(msg *m, const void *p, size_t len)
{
    memcpy(m->b + m->n, p, len);
    m->n += len;
}

/* Writes a dotted name uncompressed. */
static void name(msg *m, const char *dotted)
{
    m->n += dns_wire_encode_name(dotted, m->b + m->n, sizeof m->b - m->n);
}

static void pointer(msg *m, unsigned offset)
{
    u16(m, 0xc000 | offset);
}

/* Header for a response: QR, RD, RA and the given RCODE. */
static void header(msg *m, unsigned rcode, unsigned qd, unsigned an, unsigned ns, unsigned ar)
{
    m->n = 0;
    u16(m, 0x1234);
    u16(m, 0x8180 | rcode);
    u16(m, qd);
    u16(m, an);
    u16(m, ns);
    u16(m, ar);
}

static void question(msg *m, const char *qname, unsigned type)
{
    name(m, qname);
    u16(m, type);
    u16(m, 1);
}

/* Type, class IN, TTL and rdlength after an owner already written. */
static void rr_fixed(msg *m, unsigned type, uint32_t ttl, unsigned rdlength)
{
    u16(m, type);
    u16(m, 1);
    u32(m, ttl);
    u16(m, rdlength);
}

enum { QNAME_AT = 12 }; /* offset of the question name in every message */

static da_dns_answer *parse(const msg *m, const char *qname, da_dns_type type, char *err,
                            size_t err_size)
{
    da_dns_question q = {qname, type};
    return dns_wire_parse_response(m->b, m->n, &q, err, err_size);
}

static void test_build_query(void)
{
    uint8_t out[DNS_WIRE_MAX_QUERY];
    size_t len = 0;
    da_dns_question q = {"Example.COM.", DA_DNS_TXT};
    TAP_OK(dns_wire_build_query(0xbeef, &q, false, out, sizeof out, &len) == 0,
           "query builds");
    static const uint8_t want[] = {0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
                                   7, 'E', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'C', 'O', 'M', 0,
                                   0, 16, 0, 1};
    TAP_OK(len == sizeof want && memcmp(out, want, len) == 0, "query bytes: RD, one question");
    TAP_OK(dns_wire_build_query(1, &q, true, out, sizeof out, &len) == 0 &&
               len == sizeof want + 11 && out[11] == 1,
           "EDNS0 query has ARCOUNT 1 and an 11-byte OPT");
    static const uint8_t opt[] = {0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0};
    TAP_OK(memcmp(out + sizeof want, opt, sizeof opt) == 0, "OPT advertises 1232 bytes");
    TAP_OK(dns_wire_build_query(1, &q, true, out, 20, &len) != 0, "small buffer refused");

    char label64[80];
    memset(label64, 'a', 64);
    strcpy(label64 + 64, ".com");
    da_dns_question bad[] = {{"a..b", DA_DNS_A}, {label64, DA_DNS_A}, {".x", DA_DNS_A}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        TAP_OK(dns_wire_build_query(1, &bad[i], false, out, sizeof out, &len) != 0,
               "unencodable name %zu refused", i);
    char longname[300] = "";
    for (int i = 0; i < 64; i++)
        strcat(longname, "abc.");
    da_dns_question too_long = {longname, DA_DNS_A};
    TAP_OK(dns_wire_build_query(1, &too_long, false, out, sizeof out, &len) != 0,
           "name over 255 bytes refused");
}

static void test_a_and_aaaa(void)
{
    msg m;
    char err[200];
    header(&m, 0, 1, 2, 0, 0);
    question(&m, "example.com", DA_DNS_A);
    pointer(&m, QNAME_AT);
    rr_fixed(&m, DA_DNS_A, 600, 4);
    raw(&m, "\xc0\x00\x02\x01", 4);
    pointer(&m, QNAME_AT);
    rr_fixed(&m, DA_DNS_A, 300, 4);
    raw(&m, "\xc0\x00\x02\x02", 4);
    da_dns_answer *a = parse(&m, "EXAMPLE.com.", DA_DNS_A, err, sizeof err);
    TAP_OK(a != NULL && a->status == DA_DNS_NOERROR && a->count == 2,
           "A: two records through compression pointers%s%s", a ? "" : ": ", a ? "" : err);
    if (a != NULL) {
        TAP_OK(memcmp(a->records[1].addr, "\xc0\x00\x02\x02", 4) == 0, "A: address");
        TAP_OK(a->ttl == 300, "A: answer TTL is the smallest");
    }
    da_dns_answer_free(a);

    header(&m, 0, 1, 1, 0, 0);
    question(&m, "v6.example", DA_DNS_AAAA);
    pointer(&m, QNAME_AT);
    rr_fixed(&m, DA_DNS_AAAA, 60, 16);
    raw(&m, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
    a = parse(&m, "v6.example", DA_DNS_AAAA, err, sizeof err);
    TAP_OK(a != NULL && a->count == 1 && a->records[0].addr[0] == 0x20 &&
               a->records[0].addr[15] == 1 && a->ttl == 60,
           "AAAA: one record");
    da_dns_answer_free(a);

    header(&m, 0, 1, 1, 0, 0);
    question(&m, "example.com", DA_DNS_A);
    pointer(&m, QNAME_AT);
    rr_fixed(&m, DA_DNS_A, 60, 5);
    raw(&m, "\1\2\3\4\5", 5);
    a = parse(&m, "example.com", DA_DNS_A, err, sizeof err);
    TAP_OK(a == NULL && strstr(err, "A record") != NULL, "A with 5 bytes refused: %s", err);
    da_dns_answer_free(a);

    /* A huge TTL (top bit set) counts as zero (RFC 2181 8). */
    header(&m, 0, 1, 1, 0, 0);
    question(&m, "example.com", DA_DNS_A);
    pointer(&m, QNAME_AT);
    rr_fixed(&m, DA_DNS_A, 0x80000000u, 4);
    raw(&m, "\1\2\3\4", 4);
    a = parse(&m, "example.com", DA_DNS_A, err, sizeof err);
    TAP_OK(a != NULL && a->ttl == 0, "TTL with the top bit set is zero");
    da_dns_answer_free(a);
}

static void test_mx_ptr(void)
{
    msg m;
    char err[200];
    header(&m, 0, 1, 2, 0, 0);
    question(&m, "example.com", DA_DNS_MX);
    pointer(&m, QNAME_AT);
    rr_fixed(&m, DA_DNS_MX, 3600, 2 + 7);
    u16(&m, 10);
    u8(&m, 4);
    raw(&m, "MAIL", 4);
    pointer(&m, QNAME_AT);               /* mail.example.com */
    pointer(&m, QNAME_AT);
    rr_fixed(&m, DA_DNS_MX, 3600, 2 + 1);
    u16(&m, 0);
    u8(&m, 0);                           /* null MX (RFC 7505) */
    da_dns_answer *a = parse(&m, "example.com", DA_DNS_MX, err, sizeof err);
    TAP_OK(a != NULL && a->count == 2, "MX: two records%s%s", a ? "" : ": ", a ? "" : err);
    if (a != NULL && a->count == 2) {
        TAP_OK(a->records[0].preference == 10, "MX: preference");
        TAP_STR_EQ(a->records[0].name, "mail.example.com", "MX: compressed exchange, lower case");
        TAP_STR_EQ(a->records[1].name, "", "MX: root exchange is the empty name");
    }
    da_dns_answer_free(a);

    /* An MX whose name stops before rdlength is used up. */
    header(&m, 0, 1, 1, 0, 0);
    question(&m, "example.com", DA_DNS_MX);
    pointer(&m, QNAME_AT);
    rr_fixed(&m, DA_DNS_MX, 3600, 2 + 1 + 1);
    u16(&m, 5);
    u8(&m, 0);
    u8(&m, 0);
    a = parse(&m, "example.com", DA_DNS_MX, err, sizeof err);
    TAP_OK(a == NULL, "MX with bytes after its name refused: %s", err);

    header(&m, 0, 1, 1, 0, 0);
    question(&m, "4.3.2.1.in-addr.arpa", DA_DNS_PTR);
    pointer(&m, QNAME_AT);
    rr_fixed(&m, DA_DNS_PTR, 100, 18);
    name(&m, "host.example.org");
    a = parse(&m, "4.3.2.1.in-addr.arpa", DA_DNS_PTR, err, sizeof err);
    TAP_OK(a != NULL && a->count == 1, "PTR: one record%s%s", a ? "" : ": ", a ? "" : err);
    if (a != NULL && a->count == 1)
        TAP_STR_EQ(a->records[0].name, "host.example.org", "PTR: target");
    da_dns_answer_free(a);
}

static void test_txt(void)
{
    msg m;
    char err[200];
    header(&m, 0, 1, 2, 0, 0);
    question(&m, "example.com", DA_DNS_TXT);
    pointer(&m, QNAME_AT);
    rr_fixed(&m, DA_DNS_TXT, 300, 1 + 7 + 1 + 5 + 1);
    u8(&m, 7);
    raw(&m, "v=spf1 ", 7);
    u8(&m, 5);
    raw(&m, "-all\0", 5);
    u8(&m, 0);                           /* an empty string at the end */
    pointer(&m, QNAME_AT);
    rr_fixed(&m, DA_DNS_TXT, 300, 0);    /* no string at all */
    da_dns_answer *a = parse(&m, "example.com", DA_DNS_TXT, err, sizeof err);
    TAP_OK(a != NULL && a->count == 2, "TXT: two records%s%s", a ? "" : ": ", a ? "" : err);
    if (a != NULL && a->count == 2) {
        TAP_OK(a->records[0].text_len == 12 && memcmp(a->records[0].text, "v=spf1 -all\0", 12) == 0,
               "TXT: strings concatenated, NUL kept");
        TAP_OK(a->records[1].text_len == 0, "TXT: empty record");
    }
    da_dns_answer_free(a);

    header(&m, 0, 1, 1, 0, 0);
    question(&m, "example.com", DA_DNS_TXT);
    pointer(&m, QNAME_AT);
    rr_fixed(&m, DA_DNS_TXT, 300, 4);
    u8(&m, 5);                           /* claims 5 bytes, record holds 3 */
    raw(&m, "abc", 3);
    a = parse(&m, "example.com", DA_DNS_TXT, err, sizeof err);
    TAP_OK(a == NULL && strstr(err, "TXT") != NULL, "TXT string past its record refused: %s",
           err);

    /* A TXT record of another owner is not ours. */
    header(&m, 0, 1, 1, 0, 0);
    question(&m, "example.com", DA_DNS_TXT);
    name(&m, "other.example.com");
    rr_fixed(&m, DA_DNS_TXT, 300, 2);
    u8(&m, 1);
    u8(&m, 'x');
    a = parse(&m, "example.com", DA_DNS_TXT, err, sizeof err);
    TAP_OK(a != NULL && a->count == 0 && a->ttl == DNS_WIRE_DEFAULT_NEGATIVE_TTL,
           "TXT of another owner ignored; NODATA with default TTL");
    da_dns_answer_free(a);
}

static void test_cname(void)
{
    msg m;
    char err[200];
    /* example.com CNAME a.example.net; A records sit before the CNAMEs. */
    header(&m, 0, 1, 4, 0, 0);
    question(&m, "example.com", DA_DNS_A);
    size_t b_at = m.n;
    name(&m, "B.example.net");
    rr_fixed(&m, DA_DNS_A, 50, 4);
    raw(&m, "\x0a\0\0\x01", 4);
    name(&m, "c.example.net");
    rr_fixed(&m, DA_DNS_A, 50, 4);
    raw(&m, "\x0a\0\0\x02", 4);
    pointer(&m, QNAME_AT);
    rr_fixed(&m, DA_DNS_CNAME, 120, 4);
    u8(&m, 1);
    u8(&m, 'a');
    pointer(&m, b_at + 2);               /* a.example.net */
    size_t a_at = m.n - 4;
    pointer(&m, a_at);
    rr_fixed(&m, DA_DNS_CNAME, 30, 2);
    pointer(&m, b_at);                   /* b.example.net */
    da_dns_answer *a = parse(&m, "example.com", DA_DNS_A, err, sizeof err);
    TAP_OK(a != NULL && a->count == 1, "CNAME chain of two followed%s%s", a ? "" : ": ", a ? "" : err);
    if (a != NULL && a->count == 1) {
        TAP_OK(a->records[0].addr[3] == 1, "CNAME: only the chain end's records");
        TAP_OK(a->ttl == 30, "CNAME: TTL bounded by the chain links");
    }
    da_dns_answer_free(a);

    a = parse(&m, "example.com", DA_DNS_CNAME, err, sizeof err);
    TAP_OK(a == NULL, "question type mismatch refused: %s", err);

    /* A CNAME loop: x -> y -> x. */
    header(&m, 0, 1, 2, 0, 0);
    question(&m, "x.test", DA_DNS_TXT);
    pointer(&m, QNAME_AT);
    rr_fixed(&m, DA_DNS_CNAME, 60, 8);
    name(&m, "y.test");
    size_t y_at = m.n - 8;
    pointer(&m, y_at);
    rr_fixed(&m, DA_DNS_CNAME, 60, 2);
    pointer(&m, QNAME_AT);
    a = parse(&m, "x.test", DA_DNS_TXT, err, sizeof err);
    TAP_OK(a == NULL && strstr(err, "CNAME") != NULL, "CNAME loop refused: %s", err);

    /* Asking for the CNAME itself returns it instead of following it. */
    header(&m, 0, 1, 1, 0, 0);
    question(&m, "x.test", DA_DNS_CNAME);
    pointer(&m, QNAME_AT);
    rr_fixed(&m, DA_DNS_CNAME, 60, 8);
    name(&m, "Y.test");
    a = parse(&m, "x.test", DA_DNS_CNAME, err, sizeof err);
    TAP_OK(a != NULL && a->count == 1 && strcmp(a->records[0].name, "y.test") == 0,
           "CNAME question answered with the CNAME");
    da_dns_answer_free(a);

    /* Chain ends at a name with no data: NODATA, TTL from SOA and chain. */
    header(&m, 0, 1, 1, 1, 0);
    question(&m, "x.test", DA_DNS_A);
    pointer(&m, QNAME_AT);
    rr_fixed(&m, DA_DNS_CNAME, 900, 8);
    name(&m, "y.test");
    pointer(&m, QNAME_AT + 2);
    rr_fixed(&m, DA_DNS_SOA, 3600, 2 + 2 + 20);
    pointer(&m, QNAME_AT);
    pointer(&m, QNAME_AT);
    u32(&m, 1);
    u32(&m, 2);
    u32(&m, 3);
    u32(&m, 4);
    u32(&m, 1200);
    a = parse(&m, "x.test", DA_DNS_A, err, sizeof err);
    TAP_OK(a != NULL && a->status == DA_DNS_NOERROR && a->count == 0 && a->ttl == 900,
           "CNAME to NODATA: TTL min(chain 900, SOA 3600, MINIMUM 1200)");
    da_dns_answer_free(a);
}

static void test_negative(void)
{
    msg m;
    char err[200];
    header(&m, 3, 1, 0, 1, 0);
    question(&m, "nx.example.com", DA_DNS_TXT);
    pointer(&m, QNAME_AT + 3);           /* example.com */
    rr_fixed(&m, DA_DNS_SOA, 3600, 2 + 6 + 20);
    pointer(&m, QNAME_AT + 3);
    u8(&m, 3);
    raw(&m, "dns", 3);
    pointer(&m, QNAME_AT + 3);
    u32(&m, 2024);
    u32(&m, 7200);
    u32(&m, 900);
    u32(&m, 86400);
    u32(&m, 120);
    da_dns_answer *a = parse(&m, "nx.example.com", DA_DNS_TXT, err, sizeof err);
    TAP_OK(a != NULL && a->status == DA_DNS_NXDOMAIN && a->count == 0 && a->ttl == 120,
           "NXDOMAIN with SOA: TTL is SOA MINIMUM 120%s%s", a ? "" : ": ", a ? "" : err);
    da_dns_answer_free(a);

    /* Lower the SOA record's own TTL from 3600 to 60, below MINIMUM. */
    size_t ttl_at = QNAME_AT + 16 + 4 + 2 + 4;
    m.b[ttl_at] = 0, m.b[ttl_at + 1] = 0, m.b[ttl_at + 2] = 0, m.b[ttl_at + 3] = 60;
    a = parse(&m, "nx.example.com", DA_DNS_TXT, err, sizeof err);
    TAP_OK(a != NULL && a->ttl == 60, "negative TTL is min(SOA TTL, MINIMUM)");
    da_dns_answer_free(a);

    header(&m, 3, 1, 0, 0, 0);
    question(&m, "nx.example.com", DA_DNS_TXT);
    a = parse(&m, "nx.example.com", DA_DNS_TXT, err, sizeof err);
    TAP_OK(a != NULL && a->status == DA_DNS_NXDOMAIN && a->ttl == DNS_WIRE_DEFAULT_NEGATIVE_TTL,
           "NXDOMAIN without SOA: default TTL 300");
    da_dns_answer_free(a);

    static const unsigned rcodes[] = {1, 2, 4, 5, 9, 15};
    for (size_t i = 0; i < sizeof rcodes / sizeof rcodes[0]; i++) {
        header(&m, rcodes[i], 1, 0, 0, 0);
        question(&m, "example.com", DA_DNS_A);
        a = parse(&m, "example.com", DA_DNS_A, err, sizeof err);
        TAP_OK(a != NULL && a->status == DA_DNS_SERVFAIL, "RCODE %u maps to SERVFAIL", rcodes[i]);
        da_dns_answer_free(a);
    }

    /* EDNS extended RCODE (BADVERS = 16) is not NOERROR. */
    header(&m, 0, 1, 0, 0, 1);
    question(&m, "example.com", DA_DNS_A);
    u8(&m, 0);
    u16(&m, 41);
    u16(&m, 1232);
    u32(&m, 0x01000000);
    u16(&m, 0);
    a = parse(&m, "example.com", DA_DNS_A, err, sizeof err);
    TAP_OK(a != NULL && a->status == DA_DNS_SERVFAIL, "extended RCODE maps to SERVFAIL");
    da_dns_answer_free(a);
}

static void test_malformed(void)
{
    msg m;
    char err[200];
    da_dns_answer *a;

    /* Compression loop: the answer's owner points at itself. */
    header(&m, 0, 1, 1, 0, 0);
    question(&m, "example.com", DA_DNS_A);
    size_t self = m.n;
    pointer(&m, self);
    rr_fixed(&m, DA_DNS_A, 1, 4);
    raw(&m, "\1\2\3\4", 4);
    a = parse(&m, "example.com", DA_DNS_A, err, sizeof err);
    TAP_OK(a == NULL && strstr(err, "pointer") != NULL, "pointer to itself refused: %s", err);

    /* Two-step loop: label then pointer back to that label. */
    header(&m, 0, 1, 1, 0, 0);
    question(&m, "example.com", DA_DNS_A);
    size_t loop_at = m.n;
    u8(&m, 1);
    u8(&m, 'a');
    pointer(&m, loop_at);
    rr_fixed(&m, DA_DNS_A, 1, 4);
    raw(&m, "\1\2\3\4", 4);
    a = parse(&m, "example.com", DA_DNS_A, err, sizeof err);
    TAP_OK(a == NULL, "label+pointer loop refused: %s", err);

    /* Forward pointer. */
    header(&m, 0, 1, 1, 0, 0);
    question(&m, "example.com", DA_DNS_A);
    pointer(&m, m.n + 2);
    rr_fixed(&m, DA_DNS_A, 1, 4);
    raw(&m, "\1\2\3\4", 4);
    a = parse(&m, "example.com", DA_DNS_A, err, sizeof err);
    TAP_OK(a == NULL, "forward pointer refused: %s", err);

    /* A name of 127 one-byte labels plus root is 255 bytes: fine. With one
     * more label, built from pointers into it, it is too long. */
    header(&m, 0, 1, 1, 0, 0);
    question(&m, "example.com", DA_DNS_A);
    size_t long_at = m.n;
    for (int i = 0; i < 127; i++) {
        u8(&m, 1);
        u8(&m, 'a');
    }
    u8(&m, 0);
    rr_fixed(&m, DA_DNS_A, 1, 4);
    raw(&m, "\1\2\3\4", 4);
    a = parse(&m, "example.com", DA_DNS_A, err, sizeof err);
    TAP_OK(a != NULL && a->count == 0, "255-byte owner name accepted%s%s", a ? "" : ": ", a ? "" : err);
    da_dns_answer_free(a);
    header(&m, 0, 1, 2, 0, 0);
    question(&m, "example.com", DA_DNS_A);
    long_at = m.n;
    for (int i = 0; i < 127; i++) {
        u8(&m, 1);
        u8(&m, 'a');
    }
    u8(&m, 0);
    rr_fixed(&m, DA_DNS_A, 1, 4);
    raw(&m, "\1\2\3\4", 4);
    u8(&m, 1);
    u8(&m, 'b');
    pointer(&m, long_at);
    rr_fixed(&m, DA_DNS_A, 1, 4);
    raw(&m, "\1\2\3\4", 4);
    a = parse(&m, "example.com", DA_DNS_A, err, sizeof err);
    TAP_OK(a == NULL && strstr(err, "255") != NULL, "257-byte name refused: %s", err);

    /* Reserved label type 0x40. */
    header(&m, 0, 1, 1, 0, 0);
    question(&m, "example.com", DA_DNS_A);
    u8(&m, 0x41);
    u8(&m, 0);
    rr_fixed(&m, DA_DNS_A, 1, 4);
    raw(&m, "\1\2\3\4", 4);
    a = parse(&m, "example.com", DA_DNS_A, err, sizeof err);
    TAP_OK(a == NULL, "reserved label type refused: %s", err);

    /* Header counts larger than the bytes present. */
    header(&m, 0, 1, 200, 0, 0);
    question(&m, "example.com", DA_DNS_A);
    pointer(&m, QNAME_AT);
    rr_fixed(&m, DA_DNS_A, 1, 4);
    raw(&m, "\1\2\3\4", 4);
    a = parse(&m, "example.com", DA_DNS_A, err, sizeof err);
    TAP_OK(a == NULL && strstr(err, "200") != NULL, "inflated ANCOUNT refused: %s", err);

    /* Questions that do not match, and messages that are not answers. */
    header(&m, 0, 1, 0, 0, 0);
    question(&m, "example.org", DA_DNS_A);
    a = parse(&m, "example.com", DA_DNS_A, err, sizeof err);
    TAP_OK(a == NULL && strstr(err, "another question") != NULL, "wrong name refused: %s", err);
    header(&m, 0, 0, 0, 0, 0);
    a = parse(&m, "example.com", DA_DNS_A, err, sizeof err);
    TAP_OK(a == NULL, "no question refused: %s", err);
    header(&m, 0, 1, 0, 0, 0);
    question(&m, "example.com", DA_DNS_A);
    m.b[2] &= 0x7f;
    a = parse(&m, "example.com", DA_DNS_A, err, sizeof err);
    TAP_OK(a == NULL && strstr(err, "query") != NULL, "query (QR=0) refused: %s", err);

    header(&m, 0, 1, 0, 0, 0);
    question(&m, "example.com", DA_DNS_TXT);
    m.b[2] |= 0x02;
    TAP_OK(dns_wire_is_truncated(m.b, m.n), "TC bit reported");
    a = parse(&m, "example.com", DA_DNS_TXT, err, sizeof err);
    TAP_OK(a == NULL && strstr(err, "TC") != NULL, "truncated answer not taken as NODATA: %s",
           err);
    m.b[2] &= (uint8_t)~0x02;
    TAP_OK(!dns_wire_is_truncated(m.b, m.n) && !dns_wire_is_truncated(m.b, 5),
           "TC clear, short message not truncated");
}

/* Every prefix of a valid message must be refused without a crash; the
 * full message must parse. Run under ASan/valgrind to catch overreads:
 * each prefix is copied to a buffer of exactly its size. */
static void test_every_truncation(void)
{
    msg m;
    char err[200];
    header(&m, 0, 1, 3, 1, 1);
    question(&m, "example.com", DA_DNS_TXT);
    pointer(&m, QNAME_AT);
    rr_fixed(&m, DA_DNS_CNAME, 60, 6);
    u8(&m, 3);
    raw(&m, "spf", 3);
    pointer(&m, QNAME_AT);
    size_t spf_at = m.n - 6;
    pointer(&m, spf_at);
    rr_fixed(&m, DA_DNS_TXT, 60, 13);
    u8(&m, 5);
    raw(&m, "v=spf", 5);
    u8(&m, 5);
    raw(&m, "1 -al", 5);
    u8(&m, 0);
    pointer(&m, spf_at);
    rr_fixed(&m, DA_DNS_TXT, 60, 2);
    u8(&m, 1);
    u8(&m, 'x');
    pointer(&m, QNAME_AT);
    rr_fixed(&m, DA_DNS_SOA, 60, 4 + 20);
    pointer(&m, QNAME_AT);
    pointer(&m, QNAME_AT);
    for (int i = 0; i < 5; i++)
        u32(&m, 7);
    u8(&m, 0);
    u16(&m, 41);
    u16(&m, 1232);
    u32(&m, 0);
    u16(&m, 0);

    da_dns_question q = {"example.com", DA_DNS_TXT};
    da_dns_answer *a = dns_wire_parse_response(m.b, m.n, &q, err, sizeof err);
    TAP_OK(a != NULL && a->count == 2 && a->records[0].text_len == 10,
           "full message parses%s%s", a ? "" : ": ", a ? "" : err);
    da_dns_answer_free(a);
    size_t refused = 0;
    for (size_t len = 0; len < m.n; len++) {
        uint8_t *copy = malloc(len ? len : 1);
        memcpy(copy, m.b, len);
        a = dns_wire_parse_response(copy, len, &q, err, sizeof err);
        if (a == NULL && err[0] != '\0')
            refused++;
        da_dns_answer_free(a);
        free(copy);
    }
    TAP_OK(refused == m.n, "all %zu cut-short prefixes refused with a reason (%zu)", m.n,
           refused);
}

int main(void)
{
    test_build_query();
    test_a_and_aaaa();
    test_mx_ptr();
    test_txt();
    test_cname();
    test_negative();
    test_malformed();
    test_every_truncation();
    return tap_done();
}
