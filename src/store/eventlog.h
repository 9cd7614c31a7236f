/* eventlog.h: every decision domauthd makes (one event per message), written
 * as one syslog line, an optional JSON line and a row in the event store
 * (store/event_store.h: SQLite or PostgreSQL) that `domauth log` reads.
 * Writing never blocks the event loop and never stops mail: a full or
 * read-only disk, or a locked or unreachable database, is reported (once
 * per outage); the event goes to the spool file when there is one (see
 * store/event_spool.h), else it is dropped. */
#ifndef DA_STORE_EVENTLOG_H
#define DA_STORE_EVENTLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "store/event.h"

typedef struct eventlog eventlog;

typedef struct eventlog_options {
    bool syslog;
    const char *syslog_facility; /* "mail", "local0".."local7", "daemon" */
    const char *json_path;       /* NULL or "": off */
    const char *database_path;   /* the event store's location; NULL or "": off */
    /* Added later; zero means the default, so older initializers still work. */
    size_t queue_limit;          /* events waiting at most (0: 100000) */
    unsigned busy_timeout_ms;    /* wait for a locked database (0: 5000) */
    /* Each event's syslog line on stderr too ("domauthd: " and the line),
     * whether syslog is on or not: in the foreground, /dev/log may be
     * missing, and the decisions must still be seen. */
    bool stderr_lines;
    /* Many nodes (issue 15). node names this host in every event (NULL or
     * "": the host name). password_file is the database's (see
     * event_store_options). While the store fails, events go to spool_path
     * (NULL or "": lost, as before), at most spool_max bytes (0: 64 MiB),
     * and are stored from it in order once the store works again. */
    const char *node;
    const char *password_file;
    const char *spool_path;
    uint64_t spool_max;
} eventlog_options;

/* Opens the outputs; a database or file that cannot be opened is reported
 * in err and left off (the daemon still runs). An older database is
 * upgraded by the writer thread, not here, so this does not wait for it.
 * Returns NULL only when out of memory. */
eventlog *eventlog_open(uv_loop_t *loop, const eventlog_options *options, char *err,
                        size_t err_size);
/* Copies the record and queues it; returns at once. */
void eventlog_write(eventlog *log, const event_record *record);
/* Flushes what is queued (waits for the writer thread) and closes. */
void eventlog_close(eventlog *log);
/* Counters for the daemon's status output. */
typedef struct eventlog_stats {
    uint64_t written;      /* events stored by every output that is on */
    uint64_t dropped;      /* refused: the queue was full (or no memory) */
    uint64_t write_errors; /* events some output failed to store (disk full, locked) */
    uint64_t purged;       /* events deleted by the retention (eventlog_purge_before) */
    uint64_t spooled;      /* events put in the spool file while the store failed */
    uint64_t replayed;     /* events stored from the spool file */
    uint64_t spool_bytes;  /* in the spool file now (0: empty) */
    uint64_t spool_bad_lines; /* lines of the spool file that did not read, skipped */
    uint64_t purge_skipped; /* purges left to the node holding the cluster's lease */
} eventlog_stats;
void eventlog_get_stats(eventlog *log, eventlog_stats *stats);

/* Asks the writer thread to delete the stored events older than before
 * (the retention, event_days); returns at once. Not the JSON lines: those
 * are logrotate's. With a store shared by many nodes, the node that takes
 * the "purge" lease (event_store_lease, for EVENTLOG_PURGE_LEASE seconds)
 * purges; the others count purge_skipped. */
enum { EVENTLOG_PURGE_LEASE = 20 * 3600 };
#define EVENTLOG_PURGE_JOB "purge" /* the lease's job name: domauthd and domauth log */
void eventlog_purge_before(eventlog *log, int64_t before);

/* Reopens the JSON file at its path before the next line (after log
 * rotation; call it on SIGHUP). Returns at once. */
void eventlog_reopen(eventlog *log);
/* The syslog line of a record: key="value" pairs of the fields that are
 * set, then the results vector and the recipients in short form, e.g.
 * results="spf=fail(d=example.com) dkim=pass(d=example.org)"
 * recipients="a@example.net(reject) b@example.net(accept)"; control
 * characters dropped, quotes and backslashes escaped, long values cut.
 * Always NUL-terminated; returns its length. Exposed for tests. */
size_t eventlog_format_syslog(const event_record *record, char *buf, size_t size);

/* The syslog facility (LOG_MAIL, LOG_LOCAL0, ...) of a syslog_facility
 * name: "mail", "daemon", "user", "local0".."local7"; LOG_MAIL for NULL or
 * "", -1 for any other name. The daemon's openlog and the event log's use
 * this one table. */
int eventlog_facility(const char *name);

#endif
