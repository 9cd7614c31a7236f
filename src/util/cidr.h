/* cidr.h: address ranges as spans of integer keys, merged, and their
 * minimal cover by CIDR prefixes. IPv4 keys are 0..2^32-1, IPv6 keys the
 * whole 128 bits; a span never mixes families (the caller keeps one list
 * per family). Not a lookup structure (config/ipset.c is one). */
#ifndef DA_UTIL_CIDR_H
#define DA_UTIL_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

__extension__ typedef unsigned __int128 cidr_key;

/* Inclusive: lo <= hi. */
typedef struct cidr_span {
    cidr_key lo, hi;
} cidr_span;

/* Bits of a family's addresses: 32 or 128. */
unsigned cidr_width(int family);
/* The largest key of a family: 2^32-1 or 2^128-1. */
cidr_key cidr_key_max(int family);

cidr_key cidr_key_of(const uint8_t *addr, int family);
void cidr_key_bytes(cidr_key key, int family, uint8_t out[16]);
/* The span of prefix addr/bits (bits <= the family's width; host bits of
 * addr are ignored). */
cidr_span cidr_span_of(const uint8_t *addr, int family, unsigned bits);

/* Sorts spans by their start and joins the ones that overlap or touch, in
 * place. Returns the new count: the spans are then disjoint, none adjacent. */
size_t cidr_spans_merge(cidr_span *spans, size_t count);

/* The fewest prefixes that cover span exactly, in address order: calls
 * emit(arg, start, bits) for each and returns how many. Applied to each
 * span of a merged list, the result is the minimal prefix list for it. */
size_t cidr_span_prefixes(cidr_span span, int family,
                          void (*emit)(void *arg, cidr_key start, unsigned bits), void *arg);

/* "192.0.2.0/24", "2001:db8::/32" (RFC 5952 form); a full-length prefix is
 * written with its length too. out holds at least CIDR_TEXT_MAX bytes. */
enum { CIDR_TEXT_MAX = 72 };
void cidr_format(cidr_key start, unsigned bits, int family, char out[CIDR_TEXT_MAX]);

/* Strict "ADDR/BITS" of the family: canonical address text is not required,
 * but host bits must be zero and BITS has no leading zeros. */
bool cidr_parse(const char *text, size_t len, int family, cidr_key *start, unsigned *bits);

#endif
