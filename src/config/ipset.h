/* ipset.h: sets of IPv4/IPv6 address ranges for the whitelist, the trusted
 * relays and the local networks. Entries are written as an address, a range
 * "a-b", "addr/netmask" or "addr/prefix", optionally followed by a space and
 * a comment. */
#ifndef DA_CONFIG_IPSET_H
#define DA_CONFIG_IPSET_H

#include <stdbool.h>
#include <stddef.h>

#include "util/ip.h"

typedef struct ip_range {
    int family;
    uint8_t low[16], high[16];
} ip_range;

typedef struct ip_set {
    ip_range *ranges;
    size_t count, capacity;
} ip_set;

void ip_set_init(ip_set *set);
void ip_set_free(ip_set *set);
int ip_set_copy(ip_set *dst, const ip_set *src);
/* Parses one entry (text up to len); blank text and text starting with '#'
 * are accepted and add nothing. Returns 0, or -1 with the reason in err. */
int ip_set_add_entry(ip_set *set, const char *text, size_t len, char *err, size_t err_size);
/* Adds every line of a file's contents; errors name the line. */
int ip_set_add_lines(ip_set *set, const char *text, size_t len, char *err, size_t err_size);
bool ip_set_contains(const ip_set *set, const ip_addr *addr);
/* Loopback (127/8, ::1) and private networks (10/8, 172.16/12, 192.168/16,
 * fc00::/7, fe80::/10). */
int ip_set_add_local_networks(ip_set *set);

#endif
