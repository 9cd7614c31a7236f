/* Unit tests for util/ip: strict parsing, IPv4-mapped addresses, prefix
 * matching at every boundary, and the text forms SPF macros use. */
#include <stdio.h>
#include <string.h>

#include "tap.h"
#include "util/ip.h"

static bool parses(const char *s)
{
    ip_addr a;
    return ip_parse(s, strlen(s), &a);
}

static const char *formatted(const char *s, char *buf)
{
    ip_addr a;
    if (!ip_parse(s, strlen(s), &a))
        return "(unparsed)";
    ip_unmap(&a);
    ip_format(&a, buf);
    return buf;
}

int main(void)
{
    char buf[IP_NIBBLES_MAX + 8];
    TAP_OK(parses("192.0.2.1"), "dotted quad parses");
    TAP_OK(parses("0.0.0.0") && parses("255.255.255.255"), "edges of IPv4 parse");
    TAP_OK(!parses("192.0.2.01"), "leading zero rejected (RFC 7208 qnum)");
    TAP_OK(!parses("192.0.2.256"), "octet over 255 rejected");
    TAP_OK(!parses("192.0.2"), "three octets rejected");
    TAP_OK(!parses("192.0.2.1.5"), "five octets rejected");
    TAP_OK(!parses("192.0.2.1 "), "trailing space rejected");
    TAP_OK(!parses(""), "empty rejected");
    TAP_OK(parses("2001:db8::1") && parses("::") && parses("::1"), "IPv6 forms parse");
    TAP_OK(parses("::ffff:192.0.2.1"), "IPv6 with IPv4 tail parses");
    TAP_OK(!parses("::ffff:192.0.2.01"), "IPv6 with a sloppy IPv4 tail rejected");
    TAP_OK(!parses("2001:db8:::1") && !parses("2001:db8::1::2"), "malformed IPv6 rejected");
    TAP_OK(!parses("1:2:3:4:5:6:7:8:9"), "nine IPv6 groups rejected");

    {
        ip_addr a;
        ip_parse("192.0.2.1", 9, &a);
        TAP_OK(!ip_parse("192.0.2.1", 5, &a), "parsing honours the length, not the NUL");
    }

    TAP_STR_EQ(formatted("::ffff:192.0.2.1", buf), "192.0.2.1", "IPv4-mapped unmaps to IPv4");
    TAP_STR_EQ(formatted("::FFFF:1.2.3.4", buf), "1.2.3.4", "mapped form is case-insensitive");
    TAP_STR_EQ(formatted("2001:0DB8:0:0:0:0:0:1", buf), "2001:db8::1", "RFC 5952 text form");
    TAP_STR_EQ(formatted("::192.0.2.1", buf), "::192.0.2.1", "IPv4-compatible stays IPv6");

    {
        ip_addr a;
        ip_parse("2001:db8::cafe", 14, &a);
        ip_format_dotted(&a, buf);
        TAP_STR_EQ(buf, "2.0.0.1.0.D.B.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.C.A.F.E",
                   "%%{i} nibbles for IPv6");
        char rev[80];
        ip_reverse_name(&a, rev);
        TAP_STR_EQ(rev, "e.f.a.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
                   "ip6.arpa reverse name");
        ip_parse("192.0.2.1", 9, &a);
        ip_reverse_name(&a, rev);
        TAP_STR_EQ(rev, "1.2.0.192.in-addr.arpa", "in-addr.arpa reverse name");
    }

    {
        uint8_t a[16] = {192, 0, 2, 1}, b[16] = {192, 0, 2, 255}, c[16] = {192, 0, 3, 1};
        TAP_OK(ip_prefix_equal(a, b, 24), "/24 matches inside the network");
        TAP_OK(!ip_prefix_equal(a, c, 24), "/24 does not match the next network");
        TAP_OK(ip_prefix_equal(a, c, 23), "/23 spans both");
        TAP_OK(ip_prefix_equal(a, c, 0), "/0 matches everything");
        TAP_OK(!ip_prefix_equal(a, b, 32), "/32 is exact");
        uint8_t low[16] = {192, 0, 2, 127}, high[16] = {192, 0, 2, 128};
        TAP_OK(ip_prefix_equal(a, low, 25), "/25: .1 and .127 share the lower half");
        TAP_OK(!ip_prefix_equal(a, high, 25), "/25: .128 is in the upper half");
        uint8_t x[16] = {0x20, 0x01, 0x0d, 0xb8}, y[16] = {0x20, 0x01, 0x0d, 0xb9};
        TAP_OK(ip_prefix_equal(x, y, 31), "IPv6 /31");
        TAP_OK(!ip_prefix_equal(x, y, 32), "IPv6 /32");
        y[3] = 0xb8;
        y[15] = 1;
        TAP_OK(ip_prefix_equal(x, y, 127) && !ip_prefix_equal(x, y, 128), "IPv6 /127 and /128");
    }
    /* ip_format writes IPv4 by hand: every value of every octet, against
     * printf's rendering. */
    bool all_same = true;
    for (unsigned pos = 0; pos < 4 && all_same; pos++)
        for (unsigned v = 0; v < 256; v++) {
            ip_addr a = {.family = 4, .bytes = {198, 51, 100, 7}};
            a.bytes[pos] = (uint8_t)v;
            char want[IP_TEXT_MAX], got[IP_TEXT_MAX];
            snprintf(want, sizeof want, "%u.%u.%u.%u", a.bytes[0], a.bytes[1], a.bytes[2],
                     a.bytes[3]);
            ip_format(&a, got);
            if (strcmp(want, got) != 0) {
                all_same = false;
                break;
            }
        }
    TAP_OK(all_same, "IPv4 text equals printf's for every octet value in every position");
    return tap_done();
}
