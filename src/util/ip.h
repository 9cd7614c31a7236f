/* ip.h: IPv4/IPv6 addresses as bytes, prefix matching and text forms.
 * Parsing takes (pointer, length) and never reads past it. */
#ifndef DA_IP_H
#define DA_IP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ip_addr {
    int family;         /* 4 or 6 */
    uint8_t bytes[16];  /* IPv4 uses the first 4 */
} ip_addr;

enum { IP_TEXT_MAX = 64, IP_NIBBLES_MAX = 64 };

/* Strict text forms: dotted quad without leading zeros, or RFC 4291 IPv6. */
bool ip_parse(const char *text, size_t len, ip_addr *out);
bool ip_parse4(const char *text, size_t len, uint8_t out[4]);
bool ip_parse6(const char *text, size_t len, uint8_t out[16]);
/* Turns an IPv4-mapped IPv6 address (::ffff:a.b.c.d) into IPv4. */
void ip_unmap(ip_addr *addr);
/* True when the first bits of a and b agree (bits <= 32 or 128). */
bool ip_prefix_equal(const uint8_t *a, const uint8_t *b, unsigned bits);
/* Canonical text: dotted quad, or RFC 5952 compressed IPv6. */
void ip_format(const ip_addr *addr, char out[IP_TEXT_MAX]);
/* The %{i} form: dotted quad, or 32 dot-separated nibbles for IPv6. */
void ip_format_dotted(const ip_addr *addr, char out[IP_NIBBLES_MAX + 8]);
/* The PTR query name: 4.3.2.1.in-addr.arpa or nibbles.ip6.arpa. */
void ip_reverse_name(const ip_addr *addr, char out[80]);

#endif
