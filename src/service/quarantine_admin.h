/* quarantine_admin.h: what an administrator does to a quarantined message,
 * release (re-inject it with sendmail(1) and its original envelope, or to
 * another recipient) and delete, with the audit event each leaves in the
 * event store and the JSON event log ("the spam log"). One code path for
 * `domauth quarantine release|delete` and for domauthd's control commands
 * quarantine-release and quarantine-delete, which domauth-web uses: the
 * console never has the spool's write rights. Blocking (sendmail, SQLite):
 * domauthd runs these on libuv's thread pool, never on its loop. */
#ifndef DA_SERVICE_QUARANTINE_ADMIN_H
#define DA_SERVICE_QUARANTINE_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

#include "store/quarantine_store.h"

typedef struct svc_quarantine_admin {
    const char *dir;       /* the spool (quarantine_dir) */
    const char *database;  /* the index and the event store; NULL or "": none */
    const char *event_log; /* JSON lines for the audit events; NULL or "": none */
    const char *sendmail;  /* NULL: /usr/sbin/sendmail */
    unsigned days;
    const char *password_file; /* the database's password ([daemon]); NULL: none */
    const char *node;          /* the audit events' node; NULL: the host name */
} svc_quarantine_admin;

enum {
    SVC_Q_DONE = 0,
    SVC_Q_NOT_FOUND = 1,        /* no such id (or already deleted) */
    SVC_Q_NOT_QUARANTINED = 2,  /* released or deleted before */
    SVC_Q_FAILED = -1,          /* why says what; the message is where it was */
};

/* Where an id's spool file is, and its index state: the index's row, else
 * DIR/new/ID with state NULL (unindexed). 0 with f filled (free both
 * strings), 1 when the id is unknown, -1 with why. */
typedef struct svc_quarantine_file {
    char *path, *state;
} svc_quarantine_file;
int svc_quarantine_find(quarantine *q, const char *dir, const char *id, svc_quarantine_file *f,
                        char *why, size_t why_size);

/* Releases id from q (opened for writing): sendmail -i -f SENDER --
 * RECIPIENTS (or to), then the index row becomes "released" by `by`, the
 * copy is removed and the audit event written. *count is the number of
 * recipients. warn gets what went wrong after the release itself (the
 * audit event not written, the copy not removed), else "". */
int svc_quarantine_release(const svc_quarantine_admin *a, quarantine *q, const char *id,
                           const char *to, const char *by, size_t *count, char *why,
                           size_t why_size, char *warn, size_t warn_size);
/* Deletes id's copy and marks it deleted by `by`, with its audit event. */
int svc_quarantine_delete(const svc_quarantine_admin *a, quarantine *q, const char *id,
                          const char *by, char *why, size_t why_size, char *warn,
                          size_t warn_size);

/* An audit event (listener "quarantine", action release, delete or purge)
 * in the event store and the JSON log; warn says what could not be
 * written ("" when all was). */
void svc_quarantine_audit(const svc_quarantine_admin *a, const char *action,
                          const char *mail_from, char *const *rcpts, size_t rcpt_count,
                          const char *reasons, char *warn, size_t warn_size);

#endif
