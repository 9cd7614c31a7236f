/* quarantine_store.h: the quarantine, as the service and the CLI use it: the
 * spool (spool.h) with its index in the store, and retention. An interface
 * with backends, as event_store.h is: the index ops below are SQLite's
 * (store/sqlite/, schema version 3, the quarantine table of the event
 * database); a PostgreSQL index for many MTA nodes would be a second ops
 * table. The spool file is the message and its facts; the index lists and
 * filters them without opening every file, and keeps what became of each
 * (quarantined, released, deleted).
 *
 * Every function returns 0 on success and -1 on failure, with a message in
 * why. A handle is used by one thread at a time. */
#ifndef DA_STORE_QUARANTINE_STORE_H
#define DA_STORE_QUARANTINE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/spool.h"

/* One index row. */
typedef struct quarantine_row {
    const char *id, *path;
    int64_t time;
    const char *sender;
    const char *const *rcpts;
    size_t rcpt_count;
    const char *domain;
    const char *const *results; /* "spf=fail" ... */
    size_t result_count;
    const char *reasons, *told, *queue_id, *client_ip;
    uint64_t size;
    const char *state;          /* "quarantined", "released", "deleted" */
    int64_t state_time;
    const char *state_by;       /* who: a user name, "purge"; NULL when quarantined */
} quarantine_row;

/* Which rows: every filter that is set must match. */
typedef struct quarantine_query {
    bool have_since;
    int64_t since;          /* time >= since */
    const char *id;         /* exactly this one */
    const char *domain;     /* without case */
    const char *result;     /* "fail" (any method) or "spf=fail" */
    const char *rcpt;       /* one of the recipients, without case */
    const char *state;      /* NULL: quarantined only; "all": any */
    uint64_t limit;         /* newest first, at most this many (0: all) */
} quarantine_query;

/* Called per row, newest first; valid during the call. Nonzero stops. */
typedef int quarantine_row_fn(void *ctx, const quarantine_row *row);
/* Removes a purged message's file; 0 when it is gone (or was already). */
typedef int quarantine_remove_fn(void *ctx, const char *path);

typedef struct quarantine_index quarantine_index;

typedef struct quarantine_index_ops {
    const char *name;
    bool (*claims)(const char *location);
    /* password_file: the database's (PostgreSQL; NULL: none, SQLite ignores it). */
    quarantine_index *(*open)(const char *location, bool write, const char *password_file,
                              char *why, size_t why_size);
    int (*add)(quarantine_index *x, const quarantine_row *row, char *why, size_t why_size);
    int (*query)(quarantine_index *x, const quarantine_query *q, quarantine_row_fn *fn,
                 void *ctx, char *why, size_t why_size);
    /* Sets the state of one row (when, by whom); *found says whether it
     * exists. */
    int (*set_state)(quarantine_index *x, const char *id, const char *state, int64_t when,
                     const char *by, bool *found, char *why, size_t why_size);
    /* For the quarantined rows with time < before, oldest first, at most
     * limit (0: all): remove their files and mark them deleted at when. */
    int (*expire)(quarantine_index *x, int64_t before, uint64_t limit, int64_t when,
                  quarantine_remove_fn *remove, void *ctx, uint64_t *removed, char *why,
                  size_t why_size);
    void (*close)(quarantine_index *x);
    /* Optional (NULL: not supported): moves one row from state `from` to
     * `to` only when it is in `from`, in one statement, so that of two
     * releases of one message from two nodes one moves it and the other is
     * told (*moved false). */
    int (*change_state)(quarantine_index *x, const char *id, const char *from, const char *to,
                        int64_t when, const char *by, bool *moved, char *why, size_t why_size);
    /* Optional: adds the row only when its id has none, and never changes
     * one (*added says which), so rebuilding the index from the spool
     * cannot undo a release made meanwhile. */
    int (*add_missing)(quarantine_index *x, const quarantine_row *row, bool *added, char *why,
                       size_t why_size);
} quarantine_index_ops;

struct quarantine_index {
    const quarantine_index_ops *ops;
};

extern const quarantine_index_ops quarantine_index_sqlite;
/* The index in the PostgreSQL event database of many nodes (a build with
 * libpq): the spool files are in a directory every node mounts at the same
 * path (quarantine_dir), the rows in the database. */
extern const quarantine_index_ops quarantine_index_pg;
/* The backend of this build that claims location, or NULL. */
const quarantine_index_ops *quarantine_index_for(const char *location);

/* ------------------------------------------------- the whole quarantine */

typedef struct quarantine_options {
    const char *dir;        /* the maildir_spool */
    const char *database;   /* the index's location; NULL or "": no index */
    const char *password_file; /* the database's, for PostgreSQL (NULL: none) */
    unsigned days;          /* retention */
    unsigned purge_per_add; /* at most this many removals per add (0: none) */
    bool write;             /* the daemon (and delete, purge); else read only */
    const spool_io *io;     /* NULL: the system's */
} quarantine_options;

typedef struct quarantine quarantine;

quarantine *quarantine_open(const quarantine_options *o, char *why, size_t why_size);
void quarantine_close(quarantine *q);
/* A new retention (a reload), for the purges from now on. */
void quarantine_set_days(quarantine *q, unsigned days);
maildir_spool *quarantine_spool(quarantine *q);
quarantine_index *quarantine_get_index(quarantine *q); /* NULL: none */

/* A new message in the spool's tmp/. */
spool_file *quarantine_begin(quarantine *q, int64_t now, char *why, size_t why_size);
/* Commits f (spool_file_commit), indexes it and purges at most
 * purge_per_add expired messages. Returns 0; 1 when the message is stored
 * but the index failed (why says so; the file in new/ is still whole and
 * listed); -1 when it is not stored (why names the path and the error). */
int quarantine_commit(quarantine *q, spool_file *f, const spool_facts *facts, char *id,
                      size_t id_size, char *why, size_t why_size);
/* Removes every quarantined message older than the retention at now, at
 * most limit (0: all). Never one younger: time >= now - days * 86400 stays. */
int quarantine_purge(quarantine *q, int64_t now, uint64_t limit, uint64_t *removed, char *why,
                     size_t why_size);

/* A file in new/ that the index lacks (stored while the database was down,
 * or by a crash between the file and its row): row is made from the file's
 * own facts (state "unindexed"); when the file cannot be read, row has its
 * id and path only and problem says why. Nonzero stops the scan. */
typedef int quarantine_unindexed_fn(void *ctx, const quarantine_row *row, const char *problem);
/* Calls fn for every such file, in no order. With no index every file is
 * one. -1 with why when the index or the folder cannot be read, or fn
 * stopped the scan. */
int quarantine_scan_unindexed(quarantine *q, quarantine_unindexed_fn *fn, void *ctx, char *why,
                              size_t why_size);
/* Gives every unindexed file that reads its row (state quarantined, at its
 * own time), never changing a row that exists by then (add_missing):
 * *added rows written, *unreadable files that could not be read (each
 * named in the log by the caller's fn, when given; NULL: quiet). */
int quarantine_reindex(quarantine *q, quarantine_unindexed_fn *unreadable_fn, void *ctx,
                       uint64_t *added, uint64_t *unreadable, char *why, size_t why_size);

#endif
