/* eventlog.h: every decision domauthd makes, written as one syslog line, an
 * optional JSON line, and a row in an SQLite database that `domauth log`
 * reads. Writing never blocks the event loop and never stops mail: a full
 * or read-only disk is reported (once per outage) and the event dropped. */
#ifndef DA_STORE_EVENTLOG_H
#define DA_STORE_EVENTLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* One entry of a message's results vector (RFC 8601 terms), flattened. */
typedef struct event_result {
    const char *method;  /* "spf", "dkim", "from", later "senderid", "dmarc", "arc" */
    const char *result;  /* "pass", "fail", ... */
    const char *domain;  /* the domain judged: SPF's checked domain, DKIM's d= */
    const char *detail;  /* SPF's matched mechanism, DKIM's selector; may be NULL */
    const char *reason;  /* why (a problem, a failure reason); may be NULL */
    const char *props;   /* "smtp.mailfrom=a@b.example", "header.d=b.example header.s=s1" */
} event_result;

/* What was done for one recipient (RCPT-stage rejects differ per recipient). */
typedef struct event_rcpt {
    const char *address;
    const char *action;      /* accept, tag, defer, reject, ... as done */
    const char *reply;       /* the reply sent for it, or NULL */
} event_rcpt;

/* One event per message, written after the final verdict. */
typedef struct event_record {
    int64_t time;            /* seconds since the epoch */
    const char *listener;    /* "milter", "policy", "verify", ... */
    const char *queue_id;    /* may be NULL */
    const char *client_ip;
    const char *client_name; /* may be NULL */
    const char *helo;
    const char *mail_from;   /* "" for the null sender */
    const char *rcpt;        /* the first recipient; may be NULL */
    const char *header_from; /* may be NULL */
    /* The SPF result that decided, kept as columns for filtering; the whole
     * results vector is in results. */
    const char *identity;    /* "mailfrom", "helo", "header_from", or NULL when skipped */
    const char *domain;      /* the checked domain */
    const char *result;      /* SPF result word, or NULL when skipped */
    const char *mechanism;   /* matched term, may be NULL */
    const char *problem;     /* for temperror/permerror, may be NULL */
    const char *skip_reason; /* "authenticated", "whitelisted", "local", "trusted", ... */
    double score;
    const char *action;      /* what was done: accept, tag, defer, reject */
    const char *held_action; /* what monitor mode held back, or NULL */
    const char *reply;       /* the SMTP reply sent or held back, may be NULL */
    const char *reasons;     /* why the action: "spf=fail: fail_action reject; ..." */
    const event_result *results;
    size_t result_count;
    const event_rcpt *rcpts; /* every recipient and what was done for it */
    size_t rcpt_count;
} event_record;

typedef struct eventlog eventlog;

typedef struct eventlog_options {
    bool syslog;
    const char *syslog_facility; /* "mail", "local0".."local7", "daemon" */
    const char *json_path;       /* NULL or "": off */
    const char *database_path;   /* NULL or "": off */
    /* Added later; zero means the default, so older initializers still work. */
    size_t queue_limit;          /* events waiting at most (0: 100000) */
    unsigned busy_timeout_ms;    /* wait for a locked database (0: 5000) */
} eventlog_options;

/* Opens the outputs; a database or file that cannot be opened is reported
 * in err and left off (the daemon still runs). Returns NULL only when out
 * of memory. */
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
} eventlog_stats;
void eventlog_get_stats(eventlog *log, eventlog_stats *stats);

/* Reopens the JSON file at its path before the next line (after log
 * rotation; call it on SIGHUP). Returns at once. */
void eventlog_reopen(eventlog *log);
/* The syslog line of a record: key="value" pairs, control characters
 * dropped, quotes and backslashes escaped, long values cut. Always
 * NUL-terminated; returns its length. Exposed for tests. */
size_t eventlog_format_syslog(const event_record *record, char *buf, size_t size);

#endif
