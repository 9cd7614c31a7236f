/* dmarc_report.h: DMARC aggregate reports (RFC 9990) from stored events.
 * Over the events of one reporting period, one report per DMARC policy
 * domain: the record as last seen (policy_published), and one record per
 * (source IP, disposition, override reasons, alignment, identifiers,
 * DKIM and SPF results) row with its count; the XML in the
 * urn:ietf:params:xml:ns:dmarc-2.0 namespace, gzip, the file name, the
 * Report-ID, the Subject and the whole mail message the RFC prescribes.
 *
 * Pure: no clock, no DNS, no sending (the service does that, after the
 * external destination check). Every bound fails loudly with a reason;
 * nothing is cut short silently. */
#ifndef DA_REPORT_DMARC_REPORT_H
#define DA_REPORT_DMARC_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/event.h"
#include "util/strbuf.h"

enum {
    /* Policy domains in one period, records in one report: past these the
     * add fails (the caller reports it) rather than dropping rows. */
    DMARC_REPORT_DOMAINS_MAX = 10000,
    DMARC_REPORT_RECORDS_MAX = 200000,
    /* RFC 9990 section 3.1.1.15: no more than 100 signatures per row. */
    DMARC_REPORT_DKIM_MAX = 100,
    /* The XML of one report, and the mail message around its gzip. */
    DMARC_REPORT_XML_MAX = 64 * 1024 * 1024,
    /* Report URIs of one record (rua), and one URI. */
    DMARC_RUA_MAX = 16,
    DMARC_RUA_ADDRESS_MAX = 320,
};

/* Who reports: org_name and email are required (report_metadata), receiver
 * is the reporting domain (the file name and the Subject's Submitter). */
typedef struct dmarc_report_meta {
    const char *org_name;
    const char *email;         /* the contact, and the From: of the mail */
    const char *extra_contact; /* may be NULL */
    const char *receiver;      /* a domain name */
    const char *generator;     /* "domauth 0.1.0"; may be NULL */
} dmarc_report_meta;

typedef struct dmarc_report dmarc_report;
typedef struct dmarc_report_set dmarc_report_set;

/* The reports of the period [begin, end) (seconds since the epoch). NULL
 * when out of memory. Free with dmarc_report_set_free. */
dmarc_report_set *dmarc_report_set_new(int64_t begin, int64_t end);
void dmarc_report_set_free(dmarc_report_set *set);

/* Adds one event: each of its DMARC entries with a policy domain and a
 * pass or fail result becomes a row of that domain's report (its count
 * raised when the row is there already). Events outside the period, and
 * entries the event does not describe well enough for a report (no client
 * address, stored before the report data was kept) are counted in
 * *skipped and not added. 0, or -1 with why when a bound or memory ran
 * out (the rows of this event added before it stay; the caller gives up
 * the run rather than send a report short of rows). */
int dmarc_report_set_add(dmarc_report_set *set, const event_record *event, uint64_t *skipped,
                         char *why, size_t why_size);

/* Only this policy domain (compared without case), or NULL for all; set
 * before adding. */
void dmarc_report_set_only(dmarc_report_set *set, const char *domain);

size_t dmarc_report_set_count(const dmarc_report_set *set);
/* The reports by policy domain in ascending order (stable across runs). */
const dmarc_report *dmarc_report_set_get(const dmarc_report_set *set, size_t i);

const char *dmarc_report_domain(const dmarc_report *r);
/* The rua list as published (URIs separated by commas), or "". */
const char *dmarc_report_rua(const dmarc_report *r);
/* The policy domain's organizational domain, or the domain when unknown. */
const char *dmarc_report_org_domain(const dmarc_report *r);
int64_t dmarc_report_begin(const dmarc_report *r);
int64_t dmarc_report_end(const dmarc_report *r);
size_t dmarc_report_record_count(const dmarc_report *r);
uint64_t dmarc_report_message_count(const dmarc_report *r);
/* The count of record i (in the order of the XML), for tests. */
uint64_t dmarc_report_record_messages(const dmarc_report *r, size_t i);

/* Report-ID "DOMAIN.BEGIN.END@RECEIVER" (RFC 9990 section 3.2.1's ridfmt:
 * the same report always gets the same id, so a resend is recognizable). */
int dmarc_report_id(const dmarc_report *r, const dmarc_report_meta *meta, char *out,
                    size_t out_size);
/* "RECEIVER!DOMAIN!BEGIN!END.xml.gz" (section 3.2.2). */
int dmarc_report_filename(const dmarc_report *r, const dmarc_report_meta *meta, char *out,
                          size_t out_size);
/* "Report Domain: DOMAIN Submitter: RECEIVER Report-ID: <ID>" (section
 * 3.2.2), folded before Submitter: and Report-ID: with newline and space. */
int dmarc_report_subject(const dmarc_report *r, const dmarc_report_meta *meta, char *out,
                         size_t out_size);

/* The report's XML, appended to out. -1 with why when meta lacks a
 * required field, a domain is not a domain name, or the XML would pass
 * DMARC_REPORT_XML_MAX. */
int dmarc_report_xml(const dmarc_report *r, const dmarc_report_meta *meta, strbuf *out,
                     char *why, size_t why_size);

/* gzip (RFC 1952) of data, in *out (free with free()). -1 with why. */
int dmarc_report_gzip(const char *data, size_t len, unsigned char **out, size_t *out_len,
                      char *why, size_t why_size);

/* The mail message (LF line ends, as sendmail(1) takes it): From: the
 * meta's email, To: to, the Subject above, Date (date, UTC), Message-ID
 * <Report-ID>, a text/plain part and the gzip as application/gzip
 * attachment named by dmarc_report_filename, base64. -1 with why. */
int dmarc_report_mail(const dmarc_report *r, const dmarc_report_meta *meta, const char *to,
                      const unsigned char *gz, size_t gz_len, int64_t date, strbuf *out,
                      char *why, size_t why_size);

/* One destination of a rua list. Only mailto: URIs are reported by mail;
 * others are returned with mailto false so the caller can say it skips
 * them. An RFC 7489 size limit suffix ("!10m") is read into max_size (0:
 * none); RFC 9990 has no size limit, but a record may still carry one. */
typedef struct dmarc_rua {
    bool mailto;
    char address[DMARC_RUA_ADDRESS_MAX + 1]; /* local@host, percent-decoded */
    char host[256];                          /* the address's domain, lower case */
    uint64_t max_size;
    char uri[DMARC_RUA_ADDRESS_MAX + 1]; /* as published, for messages */
} dmarc_rua;

/* Parses a rua list into out (at most max). *count is how many were kept;
 * a malformed URI is skipped and named in why (RFC 9990 section 3.2:
 * "SHOULD be ignored"), which is empty when every URI was good. Returns
 * 0, or -1 when more than max URIs were listed (the first max are kept). */
int dmarc_rua_parse(const char *list, dmarc_rua *out, size_t max, size_t *count, char *why,
                    size_t why_size);

/* Whether host lies in the organizational domain org (equal, or a
 * subdomain of it), compared without case: a destination outside needs
 * the external destination authorization (RFC 9990 section 4). */
bool dmarc_report_host_within(const char *host, const char *org);

/* Whether a TXT text at POLICY._report._dmarc.HOST authorizes reports: it
 * starts with the tag v=DMARC1 (RFC 9990 section 4, step 6). If it holds a
 * rua=, its first URI in override (size override_size; "" when none). */
bool dmarc_report_authorization(const char *text, size_t len, char *override,
                                size_t override_size);

/* Whether text is a domain name fit for a file name, a Report-ID and the
 * Subject: letters, digits, '-', '_' and '.', labels 1..63, at most 253. */
bool dmarc_report_domain_valid(const char *text);

#endif
