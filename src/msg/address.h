/* address.h: the sender address in a From: header field (RFC 5322 3.4),
 * for the header_from identity. Tolerant of display names, comments and
 * groups; strict about what it returns (a local@domain without spaces). */
#ifndef DA_POLICY_ADDRESS_H
#define DA_POLICY_ADDRESS_H

#include <stddef.h>

/* Finds the first mailbox's addr-spec in a From: value of len bytes.
 * Returns 0 with it in out, or -1 when there is none. */
int header_from_address(const char *value, size_t len, char *out, size_t out_size);

/* Every mailbox of a From: (or Sender:) value, split at the commas between
 * mailboxes (outside quotes, comments and angle brackets; groups "name:
 * a, b;" give their members). Returns the number of mailboxes with their
 * addr-specs in a NULL-terminated array (free with address_list_free), 0
 * with *out NULL when the value holds no mailbox at all, or -1 with *out
 * NULL when some part of it is not a mailbox (e.g. "CEO <ceo@x.example"
 * without '>'): such a field is reported, never read as the part that
 * parsed. Every mailbox is checked, but only the first max + 1 are kept:
 * max + 1 means "more than max", so a long field costs no more memory
 * than the caller's limit. */
int header_mailboxes(const char *value, size_t len, size_t max, char ***out);
void address_list_free(char **list);

/* The domain of an address: what follows its last '@', or NULL. */
const char *address_domain(const char *address);

#endif
