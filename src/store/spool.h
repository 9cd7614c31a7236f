/* spool.h: the quarantine spool, a Maildir-style directory (tmp/, new/).
 * A message is streamed into tmp/ while it arrives; commit writes the
 * spool file (a header of facts, then the message exactly as received),
 * syncs it, renames it into new/ and syncs new/, so that a file in new/ is
 * always whole. A crash leaves at most files in tmp/, which are never
 * listed. Not here: the index (quarantine_store.h) and retention.
 *
 * A spool file is
 *     X-Domauth-Quarantine-Version: 1
 *     X-Domauth-Quarantine-KEY: VALUE        (one line each; see spool.c)
 *     ...
 *     <empty line>
 *     the message, Size bytes
 * Values are printable ASCII; any other byte and '%' are written %XX, so
 * a hostile envelope cannot add a line. spool_parse reads it back strictly. */
#ifndef DA_STORE_SPOOL_H
#define DA_STORE_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum {
    SPOOL_ID_MAX = 128,         /* a file name in new/ */
    SPOOL_HEADER_MAX = 1 << 20, /* the facts block; more is a corrupt file */
};

/* Whether id can name a spool file: not empty, not hidden, shorter than
 * SPOOL_ID_MAX, of letters, digits and ._-,=: only (Maildir's alphabet,
 * which the writer's names keep to): never a path. */
bool spool_id_valid(const char *id);

/* The system calls the writer makes, injectable for fault tests (a full
 * disk, a failing fsync or rename). A NULL member is the system's own. */
typedef struct spool_io {
    ssize_t (*write)(void *ctx, int fd, const void *buf, size_t len);
    int (*fsync)(void *ctx, int fd);
    int (*rename)(void *ctx, const char *from, const char *to);
    uint32_t (*random)(void *ctx); /* for file names */
    void *ctx;
} spool_io;

/* The facts of a quarantined message. Strings may be NULL (absent). */
typedef struct spool_facts {
    int64_t time;
    const char *mail_from;
    const char *const *rcpts;
    size_t rcpt_count;
    const char *client_ip, *client_name, *helo, *queue_id;
    const char *domain;  /* the domain judged by the deciding result */
    const char *const *results; /* "spf=fail", "dkim=none" ... */
    size_t result_count;
    double score;
    const char *verdict; /* "quarantine" */
    const char *told;    /* what the sender heard: "accept" or the reply line */
    const char *reasons;
} spool_facts;

typedef struct maildir_spool maildir_spool;
typedef struct spool_file spool_file;

/* Opens (with create: makes, mode 0750) dir with tmp/ and new/. */
maildir_spool *spool_open(const char *dir, bool create, const spool_io *io, char *why,
                  size_t why_size);
void spool_close(maildir_spool *s);
const char *spool_dir(const maildir_spool *s);

/* A new message in tmp/, named so that names cannot collide (time, pid, a
 * counter, random bits; O_EXCL, another name on EEXIST). NULL with why. */
spool_file *spool_file_begin(maildir_spool *s, int64_t now, char *why, size_t why_size);
/* Appends message bytes (buffered, bounded memory). An error is kept and
 * reported by commit. */
void spool_file_write(spool_file *f, const void *data, size_t len);
/* The message bytes written so far. */
uint64_t spool_file_size(const spool_file *f);
/* Writes the spool file, syncs it, renames it into new/ and syncs new/;
 * then frees f. On success id (the name in new/) and path are filled. On
 * failure nothing is left in new/, and why names the path and the error. */
int spool_file_commit(spool_file *f, const spool_facts *facts, char *id, size_t id_size,
                      char *path, size_t path_size, char *why, size_t why_size);
/* Removes the tmp file and frees f. */
void spool_file_abort(spool_file *f);

/* Removes files in tmp/ older than max_age seconds (left by a crash).
 * Returns how many, or -1. */
int spool_clean_tmp(maildir_spool *s, int64_t now, int64_t max_age);

/* What spool_parse read back. Strings are in one allocation (free with
 * spool_entry_free). */
typedef struct spool_entry {
    int version;
    char *id;
    int64_t time;
    char *mail_from;
    char **rcpts;
    size_t rcpt_count;
    char *client_ip, *client_name, *helo, *queue_id, *domain;
    char **results;
    size_t result_count;
    double score;
    char *verdict, *told, *reasons;
    uint64_t size;          /* of the message, as the header says */
    size_t message_offset;  /* where the message starts in the file */
    char *memory;
} spool_entry;

/* Parses the header of a spool file from its first len bytes (at most
 * SPOOL_HEADER_MAX are needed). Strict: the version line first, known
 * keys only, each once (Rcpt and Result may repeat), every required key,
 * valid %XX escapes, numbers in range, the empty line. Returns 0, or -1
 * with why ("line N: ..."). */
int spool_parse(const char *data, size_t len, spool_entry *out, char *why, size_t why_size);
void spool_entry_free(spool_entry *e);

/* Reads and parses the file at path, and checks that the message is whole
 * (file size = offset + Size). With message, the message bytes are
 * returned too (malloc'ed, *message_len). */
int spool_read(const char *path, spool_entry *out, char **message, size_t *message_len,
               char *why, size_t why_size);

#endif
