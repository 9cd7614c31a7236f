/* wizard.h: builds an SPF record from a publisher's answers (the source
 * document's SPF Record Wizard), and its BIND zone-file form. Pure: answers
 * in, record out; the DNS facts it is shown are looked up by the caller. */
#ifndef DA_RECORD_WIZARD_H
#define DA_RECORD_WIZARD_H

#include <stdbool.h>
#include <stddef.h>

typedef struct spf_wizard_answers {
    bool no_mail;          /* the domain sends no mail: "v=spf1 -all", nothing else */
    bool mx;               /* the inbound MX hosts also send */
    bool a;                /* the domain's own A/AAAA addresses send */
    bool ptr;              /* hosts whose reverse name is in the domain (discouraged) */
    const char *const *ip4; /* networks, "192.0.2.1" or "192.0.2.0/24" */
    size_t ip4_count;
    const char *const *ip6;
    size_t ip6_count;
    const char *const *hosts; /* other sending hosts by name: a:NAME */
    size_t host_count;
    const char *const *includes; /* outsourced senders: include:DOMAIN */
    size_t include_count;
    char all;              /* '-' fail, '~' softfail, '?' neutral; 0: '~' */
} spf_wizard_answers;

/* The record, in the order receivers evaluate most cheaply first: a, mx,
 * ip4, ip6, a:hosts, include, ptr, then all. Returns a string to free with
 * free(), or NULL with the reason (the answer that is wrong) in err. */
char *spf_wizard_record(const spf_wizard_answers *answers, char *err, size_t err_size);

/* The zone-file line for BIND: "DOMAIN.<TAB>IN<TAB>TXT<TAB>" and the record
 * as quoted strings of at most 255 bytes. Free with free(); NULL when out
 * of memory. */
char *spf_wizard_zone_line(const char *domain, const char *record);

/* Size in bytes of a DNS answer holding just this TXT record (header,
 * question, one answer with its strings): over 512 needs EDNS0 or TCP. */
size_t spf_wizard_answer_size(const char *domain, const char *record);

#endif
