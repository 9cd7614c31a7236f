/* ipset.h: sets of IPv4/IPv6 address ranges for the whitelist, the trusted
 * relays and the local networks. Entries are written as an address, a range
 * "a-b" (also "a - b"), "addr/netmask" or "addr/prefix", optionally followed
 * by a space and a comment. A lookup is a binary search over sorted, merged
 * ranges (see ipset.c), and is right whichever adders built the set. */
#ifndef DA_CONFIG_IPSET_H
#define DA_CONFIG_IPSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/ip.h"

/* An address as a 128-bit number, high half first; IPv4 uses the low 32 bits. */
typedef struct ip_key {
    uint64_t hi, lo;
} ip_key;

/* The addresses low..high, both included. */
typedef struct ip_span {
    ip_key low, high;
} ip_span;

/* Run sizes more than double towards the front (ipset.c), so 64 runs would
 * need more spans than memory holds. */
#define IP_RUNS_MAX 64

/* One family's spans, cut into sorted runs; the fields are ipset.c's. */
typedef struct ip_runs {
    ip_span *spans;
    size_t count, capacity;
    size_t run_end[IP_RUNS_MAX];
    unsigned runs;
} ip_runs;

typedef struct ip_set {
    ip_runs v4, v6;
} ip_set;

void ip_set_init(ip_set *set);
void ip_set_free(ip_set *set);
/* dst gets its own copy of src; -1 when out of memory (dst is then empty). */
int ip_set_copy(ip_set *dst, const ip_set *src);
/* Parses one entry (text up to len); blank text and text starting with '#'
 * are accepted and add nothing. Returns 0, or -1 with the reason in err. */
int ip_set_add_entry(ip_set *set, const char *text, size_t len, char *err, size_t err_size);
/* Adds every line of a file's contents; errors name the line. The lines
 * before a bad one stay added. */
int ip_set_add_lines(ip_set *set, const char *text, size_t len, char *err, size_t err_size);
bool ip_set_contains(const ip_set *set, const ip_addr *addr);
/* Loopback (127/8, ::1), private (10/8, 172.16/12, 192.168/16, fc00::/7),
 * shared (100.64/10, RFC 6598) and link-local (169.254/16, fe80::/10)
 * networks: the default local_networks. */
enum { IP_LOCAL_NETWORK_COUNT = 9 };
extern const char *const ip_local_networks[IP_LOCAL_NETWORK_COUNT];
int ip_set_add_local_networks(ip_set *set);

#endif
