/* event_spool.h: events kept in a local file while the event store cannot
 * take them (a PostgreSQL server down or too slow), one JSON object a line
 * as the JSON lines are (store/event.h), and stored from it again in order:
 * by the event log's writer when the store is back, by `domauth store
 * import` by hand. Every event carries its uid, so an event stored twice
 * (a replay cut short and done again) is kept once; a line without one
 * (the JSON lines of event_log before uids) is given one made of its bytes.
 * A line that does not
 * read as an event is reported with its file and line and skipped. */
#ifndef DA_STORE_EVENT_SPOOL_H
#define DA_STORE_EVENT_SPOOL_H

#include <stdint.h>
#include <sys/types.h>

#include "store/event_store.h"

/* Longest line read back; a longer one is reported and skipped. */
enum { EVENT_SPOOL_LINE_MAX = 8 << 20 };

/* Told of each line skipped: "PATH:LINE: why". */
typedef void event_spool_bad_fn(void *ctx, const char *message);

typedef struct event_spool_result {
    uint64_t stored;    /* events handed to the store (a replayed one counts, kept once) */
    uint64_t bad_lines; /* lines skipped */
    off_t offset;       /* where the next line starts: the end, or the batch that failed */
    uint64_t line;      /* the number of the line at offset, minus one */
} event_spool_result;

/* Stores the events of the file from *start (offset and line number; zero
 * for the start) in batches of one transaction each, in order. On a failed
 * write, returns -1 with why, and *start says where to go on from (the
 * failed batch). A file that does not exist is empty. */
int event_spool_replay(event_store *store, const char *path, event_spool_result *start,
                       event_spool_bad_fn *bad, void *ctx, char *why, size_t why_size);

#endif
