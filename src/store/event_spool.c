/* event_spool.c: see event_spool.h. */
#include "store/event_spool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/event_read.h"
#include "util/errbuf.h"

enum { REPLAY_BATCH = 200 };

/* Two 64-bit FNV-1a hashes of the line (different offsets), as hex. */
static void line_key(const char *text, size_t len, char *out, size_t size)
{
    uint64_t a = 0xcbf29ce484222325ull, b = 0x84222325cbf29ce4ull;
    for (size_t i = 0; i < len; i++) {
        a = (a ^ (unsigned char)text[i]) * 0x100000001b3ull;
        b = (b ^ (unsigned char)text[len - 1 - i]) * 0x100000001b3ull;
    }
    snprintf(out, size, "line:%016llx%016llx", (unsigned long long)a, (unsigned long long)b);
}

static void free_batch(event_record **batch, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(batch[i]);
}

/* Writes the batch; frees it either way. */
static int flush(event_store *store, event_record **batch, size_t *n, char *why,
                 size_t why_size)
{
    int rc = 0;
    if (*n > 0)
        rc = event_store_write(store, (const event_record *const *)batch, *n, why, why_size);
    free_batch(batch, *n);
    *n = 0;
    return rc;
}

int event_spool_replay(event_store *store, const char *path, event_spool_result *start,
                       event_spool_bad_fn *bad, void *ctx, char *why, size_t why_size)
{
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        if (errno == ENOENT)
            return 0;
        return errbuf_set(why, why_size, "%s: %s", path, strerror(errno));
    }
    if (start->offset > 0 && fseeko(f, start->offset, SEEK_SET) != 0) {
        int e = errno;
        fclose(f);
        return errbuf_set(why, why_size, "%s: %s", path, strerror(e));
    }
    event_reader *rd = event_reader_new();
    event_record *batch[REPLAY_BATCH];
    size_t n = 0;
    /* Where the batch being built starts, for a failed write to go back to. */
    off_t batch_offset = start->offset;
    uint64_t batch_line = start->line, line = start->line;
    off_t offset = start->offset;
    char *text = NULL;
    size_t cap = 0;
    int rc = 0;
    if (rd == NULL) {
        fclose(f);
        return errbuf_set(why, why_size, "out of memory");
    }
    for (;;) {
        errno = 0;
        ssize_t len = getline(&text, &cap, f);
        if (len < 0) {
            if (ferror(f)) {
                rc = errbuf_set(why, why_size, "%s: %s", path, strerror(errno ? errno : EIO));
                break;
            }
            break;
        }
        line++;
        offset += len;
        char message[600];
        if (len > 0 && text[len - 1] == '\n')
            text[--len] = '\0';
        if (len == 0)
            continue;
        char reason[400];
        event_record r;
        if ((size_t)len > EVENT_SPOOL_LINE_MAX) {
            snprintf(reason, sizeof reason, "a line of %zd bytes (at most %d)", len,
                     EVENT_SPOOL_LINE_MAX);
        } else if (event_read_json(rd, text, (size_t)len, &r, reason, sizeof reason) == 0) {
            /* A line without a uid (event_log's JSON lines from before
             * uids) gets one made of its bytes: imported twice, kept once. */
            char made[48];
            if (r.uid == NULL) {
                line_key(text, (size_t)len, made, sizeof made);
                r.uid = made;
            }
            event_record *copy = event_record_copy(&r, NULL);
            if (copy == NULL) {
                rc = errbuf_set(why, why_size, "out of memory");
                break;
            }
            batch[n++] = copy;
            if (n == REPLAY_BATCH) {
                if (flush(store, batch, &n, why, why_size) != 0) {
                    rc = -1;
                    break;
                }
                start->stored += REPLAY_BATCH;
                batch_offset = offset;
                batch_line = line;
            }
            continue;
        }
        start->bad_lines++;
        if (bad != NULL) {
            snprintf(message, sizeof message, "%s:%llu: %s; the line is skipped", path,
                     (unsigned long long)line, reason);
            bad(ctx, message);
        }
    }
    if (rc == 0) {
        size_t last = n;
        if (flush(store, batch, &n, why, why_size) != 0) {
            rc = -1;
        } else {
            start->stored += last;
            batch_offset = offset;
            batch_line = line;
        }
    }
    free_batch(batch, n);
    start->offset = batch_offset;
    start->line = batch_line;
    free(text);
    event_reader_free(rd);
    fclose(f);
    return rc;
}
