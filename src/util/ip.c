/* ip.c: see ip.h. */
#include "ip.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

bool ip_parse4(const char *text, size_t len, uint8_t out[4])
{
    size_t pos = 0;
    for (int part = 0; part < 4; part++) {
        if (part > 0) {
            if (pos >= len || text[pos] != '.')
                return false;
            pos++;
        }
        size_t start = pos;
        unsigned value = 0;
        while (pos < len && text[pos] >= '0' && text[pos] <= '9' && pos - start < 3) {
            value = value * 10 + (unsigned)(text[pos] - '0');
            pos++;
        }
        size_t digits = pos - start;
        if (digits == 0 || value > 255 || (digits > 1 && text[start] == '0'))
            return false;
        out[part] = (uint8_t)value;
    }
    return pos == len;
}

bool ip_parse6(const char *text, size_t len, uint8_t out[16])
{
    char buf[IP_TEXT_MAX];
    if (len == 0 || len >= sizeof buf || memchr(text, '\0', len) != NULL)
        return false;
    memcpy(buf, text, len);
    buf[len] = '\0';
    /* An embedded IPv4 tail must be a strict dotted quad too. */
    const char *colon = strrchr(buf, ':');
    if (colon != NULL && strchr(colon, '.') != NULL) {
        uint8_t tail[4];
        if (!ip_parse4(colon + 1, strlen(colon + 1), tail))
            return false;
    }
    return inet_pton(AF_INET6, buf, out) == 1;
}

bool ip_parse(const char *text, size_t len, ip_addr *out)
{
    memset(out, 0, sizeof *out);
    if (memchr(text, ':', len) != NULL) {
        out->family = 6;
        return ip_parse6(text, len, out->bytes);
    }
    out->family = 4;
    return ip_parse4(text, len, out->bytes);
}

void ip_unmap(ip_addr *addr)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (addr->family == 6 && memcmp(addr->bytes, mapped, 12) == 0) {
        memmove(addr->bytes, addr->bytes + 12, 4);
        memset(addr->bytes + 4, 0, 12);
        addr->family = 4;
    }
}

bool ip_prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    unsigned whole = bits / 8;
    if (memcmp(a, b, whole) != 0)
        return false;
    unsigned rest = bits % 8;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

/* Writes one byte in decimal; returns the position after it. */
static char *put_octet(char *p, unsigned v)
{
    if (v >= 100)
        *p++ = (char)('0' + v / 100);
    if (v >= 10)
        *p++ = (char)('0' + v / 10 % 10);
    *p++ = (char)('0' + v % 10);
    return p;
}

/* IPv4 by hand: formatted a few times per check, where snprintf cost some
 * 1,700 instructions a call (callgrind, bench/README.md). */
void ip_format(const ip_addr *addr, char out[IP_TEXT_MAX])
{
    if (addr->family == 4) {
        char *p = out;
        for (int i = 0; i < 4; i++) {
            p = put_octet(p, addr->bytes[i]);
            *p++ = i == 3 ? '\0' : '.';
        }
    } else if (inet_ntop(AF_INET6, addr->bytes, out, IP_TEXT_MAX) == NULL)
        snprintf(out, IP_TEXT_MAX, "::");
}

static const char hex_digits[] = "0123456789abcdef";

/* Upper-case nibbles, as in the example of RFC 7208 section 7.3; names
 * compare case-insensitively, but explanation text shows the difference. */
static const char hex_upper[] = "0123456789ABCDEF";

void ip_format_dotted(const ip_addr *addr, char out[IP_NIBBLES_MAX + 8])
{
    if (addr->family == 4) {
        ip_format(addr, out);
        return;
    }
    char *p = out;
    for (int i = 0; i < 16; i++) {
        *p++ = hex_upper[addr->bytes[i] >> 4];
        *p++ = '.';
        *p++ = hex_upper[addr->bytes[i] & 15];
        *p++ = i == 15 ? '\0' : '.';
    }
}

void ip_reverse_name(const ip_addr *addr, char out[80])
{
    if (addr->family == 4) {
        snprintf(out, 80, "%u.%u.%u.%u.in-addr.arpa", addr->bytes[3], addr->bytes[2],
                 addr->bytes[1], addr->bytes[0]);
        return;
    }
    char *p = out;
    for (int i = 15; i >= 0; i--) {
        *p++ = hex_digits[addr->bytes[i] & 15];
        *p++ = '.';
        *p++ = hex_digits[addr->bytes[i] >> 4];
        *p++ = '.';
    }
    memcpy(p, "ip6.arpa", sizeof "ip6.arpa");
}
