/* dmarc_reports.h: one run of the DMARC aggregate reports (RFC 9990) for
 * the front ends (`domauth dmarc report`, domauthd's daily timer): the
 * period's events from the store, the reports (report/dmarc_report.h),
 * for each rua mailto: destination the external destination check over
 * the resolver, the sent-report ledger (store/report_store.h) so that
 * nothing goes twice, and sendmail(1). Blocking: the daemon runs it on a
 * thread of its own. */
#ifndef DA_SERVICE_DMARC_REPORTS_H
#define DA_SERVICE_DMARC_REPORTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "domauth.h"
#include "report/dmarc_report.h"

/* What became of one report at one destination (destination NULL: of the
 * report itself, e.g. written to the output directory or not built). */
typedef struct dmarc_report_outcome {
    const char *domain;
    const char *report_id;
    const char *filename;
    const char *destination; /* the address, or NULL */
    /* "sent", "failed", "would send" (dry run), "already sent", "gave up"
     * (attempts used), "not authorized", "skipped" (not mailto:, over its
     * size limit, no rua), "written" (to the output directory), "error" */
    const char *status;
    const char *detail; /* why, or NULL */
    uint64_t messages;
    size_t records, xml_bytes, gz_bytes, mail_bytes;
} dmarc_report_outcome;

typedef struct dmarc_report_run_options {
    const char *database;   /* the event store (and its ledger) */
    const char *password_file; /* the database's password ([daemon]); NULL: none */
    int64_t begin, end;     /* the period [begin, end) */
    const char *only_domain; /* one policy domain, or NULL */
    dmarc_report_meta meta;
    const char *sendmail;   /* the program; NULL: /usr/sbin/sendmail */
    bool dry_run;           /* build and check, send nothing, write no ledger row */
    const char *output_dir; /* write each report's FILE.xml.gz (and with dry_run the
                               mail as FILE.eml) here, or NULL */
    unsigned max_attempts;  /* 0: 5 */
    unsigned sendmail_timeout_s; /* 0: 120 */
    da_resolver *resolver;  /* blocking (answers in da_resolver_run); NULL: no
                               external destination is authorized */
    int64_t now;            /* the mails' Date */
    /* Log lines (syslog priorities) and outcomes; either may be NULL. */
    void (*log)(void *ctx, int priority, const char *line);
    void (*outcome)(void *ctx, const dmarc_report_outcome *o);
    void *ctx;
} dmarc_report_run_options;

typedef struct dmarc_report_totals {
    uint64_t events, skipped_events;
    size_t reports, sent, failed, already_sent, gave_up, unauthorized, would_send, skipped;
} dmarc_report_totals;

/* One run. 0 when it ran (some sends may have failed: see totals and the
 * log); -1 with why when it could not (no store, a bound, out of memory). */
int dmarc_report_run(const dmarc_report_run_options *o, dmarc_report_totals *totals, char *why,
                     size_t why_size);

/* The reporting periods (their begins, ascending, at most max in days)
 * with a send that failed at or after since and still has attempts left:
 * what a daily run tries again besides the day before. 0, or -1 with why
 * (no ledger yet is no periods, not an error). */
int dmarc_report_failed_periods(const char *database, const char *password_file, int64_t since,
                                unsigned max_attempts, int64_t *days, size_t max, size_t *count,
                                char *why, size_t why_size);

/* The UTC day of "YYYY-MM-DD" as [begin, begin + 86400). -1 when the
 * text is not a date. */
int dmarc_report_day(const char *text, int64_t *begin);

#endif
