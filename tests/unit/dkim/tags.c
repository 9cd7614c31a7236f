/* tags.c: unit tests for the DKIM tag=value list parser (RFC 6376 section
 * 3.2), base64 with folding whitespace, and key record parsing (section
 * 3.6.1 and RFC 8463). */
#include <string.h>

#include "dkim/dkim_internal.h"
#include "tap.h"

static int parse(const char *text, dkim_tag_list *list, char *err, size_t err_size)
{
    return dkim_tags_parse(text, strlen(text), list, err, err_size);
}

static bool tag_is(const dkim_tag_list *list, const char *name, const char *value)
{
    const dkim_tag *t = dkim_tags_find(list, name);
    return t != NULL && t->value_len == strlen(value) && memcmp(t->value, value, t->value_len) == 0;
}

static void test_valid_lists(void)
{
    dkim_tag_list l;
    char err[160] = "";
    TAP_OK(parse("v=1; a=rsa-sha256; d=example.com", &l, err, sizeof err) == 0 && l.count == 3,
           "a simple list parses into 3 tags");
    TAP_OK(tag_is(&l, "a", "rsa-sha256") && tag_is(&l, "d", "example.com"), "values are kept");
    TAP_OK(parse("  v = 1 ;\r\n\ta=b ;", &l, err, sizeof err) == 0 && l.count == 2 &&
               tag_is(&l, "v", "1") && tag_is(&l, "a", "b"),
           "FWS around names, '=' and values is dropped; a trailing ';' is allowed");
    TAP_OK(parse("n=two words\r\n folded; x_1=", &l, err, sizeof err) == 0 &&
               tag_is(&l, "n", "two words\r\n folded") && tag_is(&l, "x_1", ""),
           "FWS inside a value stays; an empty value is allowed");
    TAP_OK(parse("", &l, err, sizeof err) == 0 && l.count == 0, "an empty list is allowed");
    TAP_OK(parse("A=1; a=2", &l, err, sizeof err) == 0 && tag_is(&l, "A", "1") &&
               tag_is(&l, "a", "2"),
           "tag names are case-sensitive");
    const char *text = "a=1; b= xy z ; c=3";
    TAP_OK(parse(text, &l, err, sizeof err) == 0, "a value with inner spaces parses");
    const dkim_tag *b = dkim_tags_find(&l, "b");
    TAP_OK(b && b->raw_value_start == 7 && b->raw_value_end == 13,
           "the raw span of b= covers its surrounding whitespace");
}

static void test_bad_lists(void)
{
    static const struct {
        const char *text, *why;
    } cases[] = {
        {"v=1; v=1", "twice"},
        {"v", "expected '='"},
        {"v=1; =x", "must start with a letter"},
        {"1a=x", "must start with a letter"},
        {"v=1;; a=2", "must start with a letter"},
        {"a=x\x01y", "control"},
        {"a=caf\xc3\xa9", "8-bit"},
        {"a=x\r\ny=1", "control"},
        {"a-b=1", "expected '='"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dkim_tag_list l;
        char err[160] = "";
        int rc = parse(cases[i].text, &l, err, sizeof err);
        TAP_OK(rc == -1 && strstr(err, cases[i].why) != NULL, "malformed list %zu refused: %s", i,
               err);
    }
    char many[64 * 8 + 16] = "";
    for (int i = 0; i < 65; i++) {
        char one[16];
        snprintf(one, sizeof one, "t%d=1;", i);
        strcat(many, one);
    }
    dkim_tag_list l;
    char err[160] = "";
    TAP_OK(parse(many, &l, err, sizeof err) == -1 && strstr(err, "too many") != NULL,
           "65 tags are refused (%s)", err);
}

static void test_base64(void)
{
    unsigned char out[64];
    TAP_OK(dkim_base64_decode("aGVsbG8=", 8, out, sizeof out) == 5 && memcmp(out, "hello", 5) == 0,
           "base64 with one pad");
    TAP_OK(dkim_base64_decode("aGk=", 4, out, sizeof out) == 2 && memcmp(out, "hi", 2) == 0,
           "base64 with one pad, short");
    TAP_OK(dkim_base64_decode("aA==", 4, out, sizeof out) == 1 && out[0] == 'h',
           "base64 with two pads");
    TAP_OK(dkim_base64_decode("aGVs\r\n\tbG8h", 11, out, sizeof out) == 6 &&
               memcmp(out, "hello!", 6) == 0,
           "folding whitespace inside base64 is skipped");
    TAP_OK(dkim_base64_decode("aGVsbG8", 7, out, sizeof out) == -1, "truncated base64 is refused");
    TAP_OK(dkim_base64_decode("aGV*bG8=", 8, out, sizeof out) == -1, "a bad character is refused");
    TAP_OK(dkim_base64_decode("aA==aA==", 8, out, sizeof out) == -1,
           "data after padding is refused");
    TAP_OK(dkim_base64_decode("a===", 4, out, sizeof out) == -1, "three pads are refused");
    TAP_OK(dkim_base64_decode("aGVsbG8h", 8, out, 4) == -1, "output bounded by its size");
    strbuf sb;
    strbuf_init(&sb);
    dkim_base64_encode(&sb, (const unsigned char *)"hello", 5);
    TAP_STR_EQ(sb.data, "aGVsbG8=", "encoding round-trips");
    strbuf_free(&sb);
    /* Every length and every byte value through encode, then decode. */
    unsigned char data[48], back[64];
    size_t round_trip_bad = 0;
    for (size_t len = 0; len <= sizeof data; len++) {
        for (size_t i = 0; i < len; i++)
            data[i] = (unsigned char)(len * 37 + i * 101);
        strbuf_init(&sb);
        dkim_base64_encode(&sb, data, len);
        long n = dkim_base64_decode(sb.data ? sb.data : "", sb.len, back, sizeof back);
        if (n != (long)len || memcmp(back, data, len) != 0)
            round_trip_bad++;
        strbuf_free(&sb);
    }
    TAP_OK(round_trip_bad == 0, "0 to 48 bytes round-trip through encode and decode (%zu differ)",
           round_trip_bad);
    size_t wrong = 0;
    for (int c = 0; c < 256; c++) {
        /* "aG?k" is three bytes when ? is a symbol; "aG?k=" two when ? is
         * skipped; refused otherwise. */
        char text[6] = {'a', 'G', (char)c, 'k', '=', 0};
        bool alphabet = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == '+' || c == '/';
        bool blank = c == ' ' || c == '\t' || c == '\r' || c == '\n';
        long as_symbol = dkim_base64_decode(text, 4, out, sizeof out);
        long as_blank = dkim_base64_decode(text, 5, out, sizeof out);
        if ((as_symbol == 3) != alphabet || (as_blank == 2) != blank ||
            (!alphabet && as_symbol != -1) || (!blank && as_blank != -1))
            wrong++;
    }
    TAP_OK(wrong == 0, "each of the 256 byte values is a symbol, skipped or refused as it "
                       "should be (%zu wrong)", wrong);
}

static const char rsa_1024[] =
    "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi"
    "0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip"
    "3G+2kryOTIKT+l/K4w3QIDAQAB";

static int key_record(const char *prefix, const char *p, dkim_key_record *rec, char *err)
{
    char text[1024];
    snprintf(text, sizeof text, "%s%s", prefix, p);
    return dkim_key_record_parse(text, strlen(text), rec, err, 160);
}

static void test_key_records(void)
{
    dkim_key_record rec;
    char err[160] = "";
    TAP_OK(key_record("v=DKIM1; k=rsa; p=", rsa_1024, &rec, err) == 0 && rec.key && rec.bits == 1024 &&
               rec.allows_sha1 && rec.allows_sha256 && !rec.testing,
           "an RSA record parses: 1024 bits, any hash");
    dkim_key_record_clear(&rec);
    TAP_OK(key_record("p=", rsa_1024, &rec, err) == 0 && !rec.is_ed25519,
           "k= defaults to rsa and v= is optional");
    dkim_key_record_clear(&rec);
    TAP_OK(key_record("v=DKIM1; h=sha256; t=y:s; s=email; p=", rsa_1024, &rec, err) == 0 &&
               !rec.allows_sha1 && rec.allows_sha256 && rec.testing && rec.strict_identity,
           "h=, t=y:s and s=email are read");
    dkim_key_record_clear(&rec);
    TAP_OK(key_record("v=DKIM1; k=ed25519; p=", "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=", &rec,
                      err) == 0 && rec.is_ed25519 && rec.key,
           "an ed25519 record parses (RFC 8463 A.2)");
    dkim_key_record_clear(&rec);
    TAP_OK(key_record("v=DKIM1; p=", "", &rec, err) == 0 && rec.revoked && rec.key == NULL,
           "an empty p= is a revoked key");
    static const struct {
        const char *prefix, *p, *why;
    } bad[] = {
        {"v=DKIM2; p=", rsa_1024, "v= is not DKIM1"},
        {"k=rsa; v=DKIM1; p=", rsa_1024, "not first"},
        {"v=DKIM1; k=dsa; p=", rsa_1024, "unknown key type"},
        {"v=DKIM1; s=tlsrpt; p=", rsa_1024, "email"},
        {"v=DKIM1; k=rsa", "", "no p="},
        {"v=DKIM1; p=", "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQ", "base64"},
        {"v=DKIM1; p=", "aGVsbG8gd29ybGQ=", "not an RSA key"},
        {"v=DKIM1; k=ed25519; p=", "aGVsbG8gd29ybGQ=", "32 bytes"},
        {"v=DKIM1: g=*; p=", rsa_1024, "v= is not DKIM1"},
        {"v=DKIM1; p=; p=", "", "twice"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = key_record(bad[i].prefix, bad[i].p, &rec, err);
        TAP_OK(rc == -1 && strstr(err, bad[i].why) != NULL, "bad key record %zu refused: %s", i,
               err);
    }
}

int main(void)
{
    test_valid_lists();
    test_bad_lists();
    test_base64();
    test_key_records();
    return tap_done();
}
