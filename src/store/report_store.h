/* report_store.h: the ledger of DMARC aggregate reports sent (RFC 9990),
 * one row per (Report-ID, destination). An interface with backends, as
 * event_store.h and quarantine_store.h are: the dmarc_reports table of the
 * event database, SQLite's (schema version 7) or PostgreSQL's (version 4,
 * shared by the nodes of a cluster). The report run asks it
 * before each send, so a report already sent is never sent twice, and a
 * failed send is tried again by the next run until max attempts.
 *
 * Every function returns 0 on success and -1 on failure, with a message in
 * why. A handle is used by one thread at a time. */
#ifndef DA_STORE_REPORT_STORE_H
#define DA_STORE_REPORT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One ledger row; the strings are valid during a callback only. */
typedef struct report_ledger_row {
    const char *report_id;
    const char *policy_domain;
    const char *destination; /* the address (mailto:) the report went to */
    int64_t begin, end;      /* the reporting period */
    const char *state;       /* "sent" or "failed" */
    unsigned attempts;
    const char *last_error;  /* NULL when sent at the first try */
    int64_t time;            /* of the last attempt */
} report_ledger_row;

typedef int report_ledger_fn(void *ctx, const report_ledger_row *row);

typedef struct report_ledger report_ledger;

typedef struct report_ledger_ops {
    const char *name;
    bool (*claims)(const char *location);
    /* password_file: the database's password ([daemon]); NULL: none. */
    report_ledger *(*open)(const char *location, bool write, const char *password_file,
                           char *why, size_t why_size);
    /* The row of (report_id, destination): *found, and when found its
     * state (sent) and attempts. */
    int (*get)(report_ledger *l, const char *report_id, const char *destination, bool *found,
               bool *sent, unsigned *attempts, char *why, size_t why_size);
    /* One attempt: the row made or updated, attempts + 1, the state sent
     * or failed (with error), at time when. */
    int (*record)(report_ledger *l, const report_ledger_row *attempt, char *why,
                  size_t why_size);
    /* The rows with time >= since, newest first. */
    int (*list)(report_ledger *l, int64_t since, report_ledger_fn *fn, void *ctx, char *why,
                size_t why_size);
    void (*close)(report_ledger *l);
} report_ledger_ops;

struct report_ledger {
    const report_ledger_ops *ops;
};

extern const report_ledger_ops report_ledger_sqlite;
extern const report_ledger_ops report_ledger_pg; /* in a build with libpq */

/* Opens the ledger at location (the event database) with the first
 * backend that claims it; with write, the database is made or upgraded
 * to hold it. NULL with why. */
report_ledger *report_ledger_open(const char *location, bool write, const char *password_file,
                                  char *why, size_t why_size);
void report_ledger_close(report_ledger *l);

#endif
