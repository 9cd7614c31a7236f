/* wire.c: builds DNS queries and parses responses into da_dns_answer.
 * The parser never trusts the message: every offset is checked against its
 * length, compression pointers must point backwards, and rdata must match
 * the layout of its type exactly before anything is taken from it. */
#include "wire.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    CLASS_IN = 1,
    TYPE_OPT = 41,
    RCODE_NXDOMAIN = 3,
    RR_FIXED_SIZE = 10,      /* type, class, ttl, rdlength after the owner */
    RR_MIN_SIZE = 1 + RR_FIXED_SIZE,
    QUESTION_MIN_SIZE = 1 + 4,
    MAX_POINTER_HOPS = 127,  /* more than a 255-byte name can need */
    MAX_LABEL = 63,
    SOA_FIXED_SIZE = 20,     /* serial, refresh, retry, expire, minimum */
};

/* Header flag bits (second 16-bit word). */
#define FLAG_QR 0x8000u
#define FLAG_OPCODE 0x7800u
#define FLAG_TC 0x0200u
#define FLAG_RD 0x0100u
#define RCODE_MASK 0x000fu

typedef enum wire_section { SECTION_ANSWER, SECTION_AUTHORITY, SECTION_ADDITIONAL } wire_section;

/* Where one resource record lies in the message; its fields are read once
 * and its rdata already checked against the layout of its type. */
typedef struct wire_rr {
    size_t owner;
    uint16_t type;
    uint16_t rclass;
    uint32_t ttl;
    size_t rdata;
    uint16_t rdlength;
    wire_section section;
} wire_rr;

typedef struct wire_message {
    const uint8_t *msg;
    size_t len;
    unsigned rcode; /* including the EDNS extended bits */
    wire_rr *rrs;
    size_t rr_count;
    char *err;
    size_t err_size;
} wire_message;

/* A name in wire form, lower-cased, including the final zero byte. */
typedef struct wire_name {
    uint8_t bytes[DNS_WIRE_MAX_NAME];
    size_t len;
} wire_name;

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static uint8_t ascii_lower(uint8_t c)
{
    /* Only ASCII letters fold (RFC 4343); no locale may change that. */
    return c >= 'A' && c <= 'Z' ? (uint8_t)(c + ('a' - 'A')) : c;
}

__attribute__((format(printf, 2, 3))) static int fail(wire_message *m, const char *fmt, ...)
{
    if (m->err != NULL && m->err_size > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(m->err, m->err_size, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* ------------------------------------------------------------- queries */

size_t dns_wire_encode_name(const char *name, uint8_t *out, size_t out_size)
{
    size_t text_len = strlen(name);
    if (text_len > 0 && name[text_len - 1] == '.')
        text_len--;
    size_t n = 0;
    size_t start = 0;
    while (start < text_len) {
        const char *dot = memchr(name + start, '.', text_len - start);
        size_t label_len = dot ? (size_t)(dot - (name + start)) : text_len - start;
        if (label_len == 0 || label_len > MAX_LABEL)
            return 0;
        if (n + 1 + label_len + 1 > DNS_WIRE_MAX_NAME || n + 1 + label_len + 1 > out_size)
            return 0;
        out[n++] = (uint8_t)label_len;
        memcpy(out + n, name + start, label_len);
        n += label_len;
        start += label_len + 1;
    }
    if (n + 1 > out_size)
        return 0;
    out[n++] = 0;
    return n;
}

int dns_wire_build_query(uint16_t id, const da_dns_question *q, bool edns0, uint8_t *out,
                         size_t out_size, size_t *out_len)
{
    uint8_t name[DNS_WIRE_MAX_NAME];
    size_t name_len = dns_wire_encode_name(q->name, name, sizeof name);
    size_t need = DNS_WIRE_HEADER_SIZE + name_len + 4 + (edns0 ? 11 : 0);
    if (name_len == 0 || need > out_size)
        return -1;
    memset(out, 0, DNS_WIRE_HEADER_SIZE);
    put16(out, id);
    put16(out + 2, FLAG_RD);
    put16(out + 4, 1);                /* QDCOUNT */
    put16(out + 10, edns0 ? 1 : 0);   /* ARCOUNT */
    size_t n = DNS_WIRE_HEADER_SIZE;
    memcpy(out + n, name, name_len);
    n += name_len;
    put16(out + n, (uint16_t)q->type);
    put16(out + n + 2, CLASS_IN);
    n += 4;
    if (edns0) {
        /* OPT RR (RFC 6891): root owner, payload size in the class field,
         * extended RCODE/version/flags zero, no options. */
        out[n++] = 0;
        put16(out + n, TYPE_OPT);
        put16(out + n + 2, DNS_WIRE_EDNS_PAYLOAD);
        memset(out + n + 4, 0, 6);
        n += 10;
    }
    *out_len = n;
    return 0;
}

bool dns_wire_is_truncated(const uint8_t *msg, size_t len)
{
    return msg != NULL && len >= DNS_WIRE_HEADER_SIZE && (get16(msg + 2) & FLAG_TC) != 0;
}

/* --------------------------------------------------------------- names */

/* Reads the name at off. Its uncompressed bytes must end before limit;
 * each compression pointer must point before the place the current run of
 * labels started, so runs strictly move backwards and no loop is possible.
 * *next receives the offset just after the name as it sits at off. */
static int read_name(wire_message *m, size_t off, size_t limit, wire_name *out, size_t *next)
{
    size_t pos = off, run_start = off, end = limit;
    unsigned hops = 0;
    bool jumped = false;
    out->len = 0;
    for (;;) {
        if (pos >= end)
            return fail(m, "name at offset %zu runs past the end of its data", off);
        uint8_t b = m->msg[pos];
        if ((b & 0xc0) == 0xc0) {
            if (pos + 1 >= end)
                return fail(m, "compression pointer at offset %zu is cut short", pos);
            size_t target = (size_t)(b & 0x3f) << 8 | m->msg[pos + 1];
            if (target >= run_start)
                return fail(m, "compression pointer at offset %zu points forward or loops", pos);
            if (++hops > MAX_POINTER_HOPS)
                return fail(m, "name at offset %zu has too many compression pointers", off);
            if (!jumped)
                *next = pos + 2;
            jumped = true;
            pos = run_start = target;
            end = m->len;
            continue;
        }
        if ((b & 0xc0) != 0)
            return fail(m, "name at offset %zu uses a reserved label type", off);
        if (b == 0) {
            out->bytes[out->len++] = 0;
            if (!jumped)
                *next = pos + 1;
            return 0;
        }
        if (pos + 1 + b > end)
            return fail(m, "label at offset %zu runs past the end of its data", pos);
        if (out->len + 1 + b + 1 > DNS_WIRE_MAX_NAME)
            return fail(m, "name at offset %zu is longer than 255 bytes", off);
        out->bytes[out->len++] = b;
        for (size_t i = 0; i < b; i++)
            out->bytes[out->len++] = ascii_lower(m->msg[pos + 1 + i]);
        pos += 1 + (size_t)b;
    }
}

static bool name_equal(const wire_name *a, const wire_name *b)
{
    return a->len == b->len && memcmp(a->bytes, b->bytes, a->len) == 0;
}

/* Dotted text of a wire name ("" for the root). Fails when a label holds a
 * dot or a NUL byte, which dotted text cannot carry unambiguously. */
static int name_to_text(const wire_name *name, char *out, size_t out_size)
{
    size_t pos = 0, n = 0;
    while (pos < name->len && name->bytes[pos] != 0) {
        size_t label_len = name->bytes[pos++];
        if (n > 0)
            out[n++] = '.';
        for (size_t i = 0; i < label_len; i++) {
            uint8_t c = name->bytes[pos + i];
            if (c == '.' || c == 0 || n + 1 >= out_size)
                return -1;
            out[n++] = (char)c;
        }
        pos += label_len;
    }
    out[n] = '\0';
    return 0;
}

/* ------------------------------------------------------- record layout */

static int check_name_rdata(wire_message *m, size_t off, size_t end)
{
    wire_name name;
    size_t next = 0;
    if (read_name(m, off, end, &name, &next) != 0)
        return -1;
    if (next != end)
        return fail(m, "record at offset %zu has %zu bytes after its name", off, end - next);
    return 0;
}

/* TXT rdata: one or more length-prefixed character-strings filling it. When
 * out is given the strings are concatenated into it (size >= rdlength). */
static int read_txt(wire_message *m, const wire_rr *rr, char *out, size_t *out_len)
{
    size_t pos = rr->rdata, end = rr->rdata + rr->rdlength, n = 0;
    while (pos < end) {
        size_t piece = m->msg[pos];
        if (pos + 1 + piece > end)
            return fail(m, "TXT string at offset %zu runs past its record", pos);
        if (out != NULL)
            memcpy(out + n, m->msg + pos + 1, piece);
        n += piece;
        pos += 1 + piece;
    }
    if (out_len != NULL)
        *out_len = n;
    return 0;
}

static int check_soa(wire_message *m, const wire_rr *rr, uint32_t *minimum)
{
    wire_name name;
    size_t end = rr->rdata + rr->rdlength, next = 0;
    if (read_name(m, rr->rdata, end, &name, &next) != 0 ||
        read_name(m, next, end, &name, &next) != 0)
        return -1;
    if (end - next != SOA_FIXED_SIZE)
        return fail(m, "SOA record at offset %zu has the wrong length", rr->rdata);
    if (minimum != NULL)
        *minimum = get32(m->msg + next + 16);
    return 0;
}

/* Checks that rdata has exactly the layout of its type (class IN only;
 * other classes and types are skipped whole by rdlength). */
static int check_rdata(wire_message *m, const wire_rr *rr)
{
    if (rr->rclass != CLASS_IN)
        return 0;
    size_t end = rr->rdata + rr->rdlength;
    switch (rr->type) {
    case DA_DNS_A:
        return rr->rdlength == 4 ? 0 : fail(m, "A record with %u bytes of data", rr->rdlength);
    case DA_DNS_AAAA:
        return rr->rdlength == 16 ? 0
                                  : fail(m, "AAAA record with %u bytes of data", rr->rdlength);
    case DA_DNS_CNAME:
    case DA_DNS_PTR:
        return check_name_rdata(m, rr->rdata, end);
    case DA_DNS_MX:
        if (rr->rdlength < 3)
            return fail(m, "MX record with %u bytes of data", rr->rdlength);
        return check_name_rdata(m, rr->rdata + 2, end);
    case DA_DNS_TXT:
    case DA_DNS_SPF:
        return read_txt(m, rr, NULL, NULL);
    case DA_DNS_SOA:
        return check_soa(m, rr, NULL);
    }
    return 0;
}

/* ------------------------------------------------------------ sections */

static int parse_header(wire_message *m, uint16_t counts[4])
{
    if (m->len < DNS_WIRE_HEADER_SIZE)
        return fail(m, "message of %zu bytes is shorter than a DNS header", m->len);
    unsigned flags = get16(m->msg + 2);
    if ((flags & FLAG_QR) == 0)
        return fail(m, "message is a query, not a response");
    if ((flags & FLAG_OPCODE) != 0)
        return fail(m, "response has opcode %u, not QUERY", (flags & FLAG_OPCODE) >> 11);
    if ((flags & FLAG_TC) != 0)
        return fail(m, "response is truncated (TC bit set): ask again over TCP");
    m->rcode = flags & RCODE_MASK;
    for (int i = 0; i < 4; i++)
        counts[i] = get16(m->msg + 4 + 2 * i);
    return 0;
}

static int parse_question(wire_message *m, uint16_t qdcount, const da_dns_question *q,
                          const wire_name *qname, size_t *pos)
{
    if (qdcount != 1)
        return fail(m, "response has %u questions, expected 1", qdcount);
    if (m->len - *pos < QUESTION_MIN_SIZE)
        return fail(m, "question section is cut short");
    wire_name name;
    if (read_name(m, *pos, m->len, &name, pos) != 0)
        return -1;
    if (m->len - *pos < 4)
        return fail(m, "question section is cut short");
    uint16_t type = get16(m->msg + *pos), rclass = get16(m->msg + *pos + 2);
    *pos += 4;
    if (!name_equal(&name, qname) || type != (uint16_t)q->type || rclass != CLASS_IN)
        return fail(m, "response answers another question than %s %s", q->name,
                    da_dns_type_name(q->type));
    return 0;
}

static int parse_record(wire_message *m, size_t *pos, wire_section section, wire_rr *rr)
{
    wire_name owner;
    size_t next = 0;
    rr->owner = *pos;
    if (read_name(m, *pos, m->len, &owner, &next) != 0)
        return -1;
    if (m->len - next < RR_FIXED_SIZE)
        return fail(m, "record at offset %zu is cut short", *pos);
    const uint8_t *p = m->msg + next;
    rr->type = get16(p);
    rr->rclass = get16(p + 2);
    rr->ttl = get32(p + 4);
    if (rr->ttl > INT32_MAX)
        rr->ttl = 0; /* RFC 2181 8: a TTL with the top bit set means zero */
    rr->rdlength = get16(p + 8);
    rr->rdata = next + RR_FIXED_SIZE;
    rr->section = section;
    if (m->len - rr->rdata < rr->rdlength)
        return fail(m, "record at offset %zu: %u bytes of data run past the end", *pos,
                    rr->rdlength);
    *pos = rr->rdata + rr->rdlength;
    return check_rdata(m, rr);
}

/* Reads every record of the three sections; the header's counts must be
 * backed by bytes actually present. */
static int parse_records(wire_message *m, const uint16_t counts[4], size_t pos)
{
    size_t total = (size_t)counts[1] + counts[2] + counts[3];
    if (total > (m->len - pos) / RR_MIN_SIZE)
        return fail(m, "header announces %zu records but only %zu bytes follow the question",
                    total, m->len - pos);
    m->rrs = calloc(total > 0 ? total : 1, sizeof *m->rrs);
    if (m->rrs == NULL)
        return fail(m, "out of memory");
    static const wire_section sections[3] = {SECTION_ANSWER, SECTION_AUTHORITY,
                                             SECTION_ADDITIONAL};
    for (int s = 0; s < 3; s++) {
        for (unsigned i = 0; i < counts[s + 1]; i++) {
            wire_rr *rr = &m->rrs[m->rr_count];
            if (parse_record(m, &pos, sections[s], rr) != 0)
                return -1;
            m->rr_count++;
            if (rr->type == TYPE_OPT && sections[s] == SECTION_ADDITIONAL)
                m->rcode |= (rr->ttl >> 24 & 0xffu) << 4; /* extended RCODE */
        }
    }
    return 0;
}

/* -------------------------------------------------------------- answer */

static const wire_rr *find_cname(wire_message *m, const wire_name *owner)
{
    for (size_t i = 0; i < m->rr_count; i++) {
        const wire_rr *rr = &m->rrs[i];
        if (rr->section != SECTION_ANSWER || rr->type != DA_DNS_CNAME || rr->rclass != CLASS_IN)
            continue;
        wire_name name;
        size_t next = 0;
        if (read_name(m, rr->owner, m->len, &name, &next) == 0 && name_equal(&name, owner))
            return rr;
    }
    return NULL;
}

/* Moves *target along the CNAME chain inside the answer section; lowers
 * *ttl to the smallest TTL of the links used. */
static int follow_cnames(wire_message *m, wire_name *target, uint32_t *ttl)
{
    for (int hops = 0;; hops++) {
        const wire_rr *cname = find_cname(m, target);
        if (cname == NULL)
            return 0;
        if (hops == DNS_WIRE_MAX_CNAME_HOPS)
            return fail(m, "CNAME chain longer than %d links", DNS_WIRE_MAX_CNAME_HOPS);
        size_t next = 0;
        if (read_name(m, cname->rdata, cname->rdata + cname->rdlength, target, &next) != 0)
            return -1;
        if (cname->ttl < *ttl)
            *ttl = cname->ttl;
    }
}

static int add_name_record(wire_message *m, da_dns_answer *a, const wire_rr *rr,
                           da_dns_type type)
{
    size_t off = rr->rdata, end = rr->rdata + rr->rdlength, next = 0;
    uint16_t preference = 0;
    if (type == DA_DNS_MX) {
        preference = get16(m->msg + off);
        off += 2;
    }
    wire_name name;
    char text[DNS_WIRE_MAX_NAME + 1];
    if (read_name(m, off, end, &name, &next) != 0)
        return -1;
    if (name_to_text(&name, text, sizeof text) != 0)
        return 0; /* a label with '.' or NUL cannot be named in text: skip it */
    return da_dns_answer_add_name(a, type, preference, text, rr->ttl) == 0
               ? 0
               : fail(m, "out of memory");
}

static int add_text_record(wire_message *m, da_dns_answer *a, const wire_rr *rr,
                           da_dns_type type)
{
    char *text = malloc((size_t)rr->rdlength + 1);
    size_t text_len = 0;
    if (text == NULL)
        return fail(m, "out of memory");
    int rc = read_txt(m, rr, text, &text_len);
    if (rc == 0 && da_dns_answer_add_text(a, type, text, text_len, rr->ttl) != 0)
        rc = fail(m, "out of memory");
    free(text);
    return rc;
}

static int add_record(wire_message *m, da_dns_answer *a, const wire_rr *rr, da_dns_type type)
{
    switch (type) {
    case DA_DNS_A:
    case DA_DNS_AAAA:
        return da_dns_answer_add_addr(a, type, m->msg + rr->rdata, rr->ttl) == 0
                   ? 0
                   : fail(m, "out of memory");
    case DA_DNS_TXT:
    case DA_DNS_SPF:
        return add_text_record(m, a, rr, type);
    case DA_DNS_MX:
    case DA_DNS_PTR:
    case DA_DNS_CNAME:
        return add_name_record(m, a, rr, type);
    case DA_DNS_SOA:
        break;
    }
    return 0; /* no layout to hand out for other types: the name exists */
}

static int collect_records(wire_message *m, da_dns_answer *a, const wire_name *owner,
                           da_dns_type type)
{
    for (size_t i = 0; i < m->rr_count; i++) {
        const wire_rr *rr = &m->rrs[i];
        if (rr->section != SECTION_ANSWER || rr->type != (uint16_t)type ||
            rr->rclass != CLASS_IN)
            continue;
        wire_name name;
        size_t next = 0;
        if (read_name(m, rr->owner, m->len, &name, &next) != 0)
            return -1;
        if (name_equal(&name, owner) && add_record(m, a, rr, type) != 0)
            return -1;
    }
    return 0;
}

/* RFC 2308 5: a negative answer lives min(SOA TTL, SOA MINIMUM) seconds. */
static uint32_t negative_ttl(wire_message *m)
{
    for (size_t i = 0; i < m->rr_count; i++) {
        const wire_rr *rr = &m->rrs[i];
        if (rr->section != SECTION_AUTHORITY || rr->type != DA_DNS_SOA || rr->rclass != CLASS_IN)
            continue;
        uint32_t minimum = 0;
        if (check_soa(m, rr, &minimum) != 0)
            continue;
        if (minimum > INT32_MAX)
            minimum = 0;
        return rr->ttl < minimum ? rr->ttl : minimum;
    }
    return DNS_WIRE_DEFAULT_NEGATIVE_TTL;
}

static da_dns_answer *build_answer(wire_message *m, const da_dns_question *q,
                                   const wire_name *qname)
{
    if (m->rcode != 0 && m->rcode != RCODE_NXDOMAIN)
        return da_dns_answer_new(DA_DNS_SERVFAIL, 0);
    wire_name target = *qname;
    uint32_t chain_ttl = UINT32_MAX;
    if (q->type != DA_DNS_CNAME && follow_cnames(m, &target, &chain_ttl) != 0)
        return NULL;
    da_dns_status status = m->rcode == RCODE_NXDOMAIN ? DA_DNS_NXDOMAIN : DA_DNS_NOERROR;
    da_dns_answer *a = da_dns_answer_new(status, 0);
    if (a == NULL) {
        fail(m, "out of memory");
        return NULL;
    }
    if (status == DA_DNS_NOERROR && collect_records(m, a, &target, q->type) != 0) {
        da_dns_answer_free(a);
        return NULL;
    }
    if (a->count == 0)
        a->ttl = negative_ttl(m);
    if (chain_ttl < a->ttl)
        a->ttl = chain_ttl;
    return a;
}

da_dns_answer *dns_wire_parse_response(const uint8_t *msg, size_t len, const da_dns_question *q,
                                       char *err, size_t err_size)
{
    wire_message m = {.msg = msg, .len = len, .err = err, .err_size = err_size};
    if (err != NULL && err_size > 0)
        err[0] = '\0';
    if (msg == NULL)
        len = m.len = 0;
    wire_name qname;
    qname.len = dns_wire_encode_name(q->name, qname.bytes, sizeof qname.bytes);
    if (qname.len == 0) {
        fail(&m, "question name '%s' cannot be encoded", q->name);
        return NULL;
    }
    for (size_t i = 0; i < qname.len; i++)
        qname.bytes[i] = ascii_lower(qname.bytes[i]); /* length bytes are < 'A' */
    uint16_t counts[4] = {0};
    size_t pos = DNS_WIRE_HEADER_SIZE;
    da_dns_answer *answer = NULL;
    if (parse_header(&m, counts) == 0 && parse_question(&m, counts[0], q, &qname, &pos) == 0 &&
        parse_records(&m, counts, pos) == 0)
        answer = build_answer(&m, q, &qname);
    free(m.rrs);
    return answer;
}
