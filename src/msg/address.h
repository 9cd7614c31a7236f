/* address.h: the sender address in a From: header field (RFC 5322 3.4),
 * for the header_from identity. Tolerant of display names, comments and
 * groups; strict about what it returns (a local@domain without spaces). */
#ifndef DA_POLICY_ADDRESS_H
#define DA_POLICY_ADDRESS_H

#include <stddef.h>

/* Finds the first mailbox's addr-spec in a From: value of len bytes.
 * Returns 0 with it in out, or -1 when there is none. */
int header_from_address(const char *value, size_t len, char *out, size_t out_size);

/* The domain of an address: what follows its last '@', or NULL. */
const char *address_domain(const char *address);

#endif
