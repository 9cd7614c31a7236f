/* wire.h: a bounded codec for DNS messages (RFC 1035) with no I/O: builds
 * one-question queries and turns a raw response into a da_dns_answer. Every
 * response is treated as hostile input: all reads are bounded by its length. */
#ifndef DA_DNS_WIRE_H
#define DA_DNS_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "domauth.h"

enum {
    DNS_WIRE_HEADER_SIZE = 12,
    DNS_WIRE_EDNS_PAYLOAD = 1232, /* UDP size advertised in the OPT record */
    DNS_WIRE_MAX_NAME = 255,      /* RFC 1035 2.3.4, in wire form */
    DNS_WIRE_MAX_QUERY = DNS_WIRE_HEADER_SIZE + DNS_WIRE_MAX_NAME + 4 + 11,
    DNS_WIRE_MAX_CNAME_HOPS = 8,
    DNS_WIRE_DEFAULT_NEGATIVE_TTL = 300,
};

/* Writes a standard query (RD set, class IN) for q into out. With edns0 an
 * OPT record advertising DNS_WIRE_EDNS_PAYLOAD bytes is appended as the last
 * 11 bytes. Returns 0, or -1 when the name cannot be encoded (empty label,
 * label over 63 bytes, name over 255 bytes) or out is too small. */
int dns_wire_build_query(uint16_t id, const da_dns_question *q, bool edns0, uint8_t *out,
                         size_t out_size, size_t *out_len);

/* Encodes a dotted name (one trailing dot allowed, "" is the root) into wire
 * form in out (size >= DNS_WIRE_MAX_NAME). Returns its length, or 0 when the
 * name cannot be encoded. */
size_t dns_wire_encode_name(const char *name, uint8_t *out, size_t out_size);

/* True when msg is long enough to have a header and its TC bit is set: the
 * answer did not fit and should be asked again over TCP. */
bool dns_wire_is_truncated(const uint8_t *msg, size_t len);

/* Parses a response to q. Returns a heap answer (free with
 * da_dns_answer_free) holding only records of q->type owned by the end of
 * the CNAME chain that starts at q->name, or NULL with the reason in err when
 * the message does not parse, does not answer q, or is truncated (TC). */
da_dns_answer *dns_wire_parse_response(const uint8_t *msg, size_t len, const da_dns_question *q,
                                       char *err, size_t err_size);

#endif
