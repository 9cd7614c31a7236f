/* event_read.h: an event back from its JSON object (store/event.h,
 * event_json_write), for the events a node spooled while its database was
 * away, `domauth store import` of a JSON lines file, and a backend that
 * keeps the results and recipients as JSON (PostgreSQL's jsonb, which
 * gives its keys in its own order and with spaces). The text is untrusted:
 * every error names what and the byte where it was found, and every size is
 * bounded by event.h's limits. */
#ifndef DA_STORE_EVENT_READ_H
#define DA_STORE_EVENT_READ_H

#include <stddef.h>

#include "store/event.h"

/* What a read record points into: reused from one read to the next. */
typedef struct event_reader event_reader;

event_reader *event_reader_new(void);
void event_reader_free(event_reader *rd);

/* One event object: keys in any order, unknown keys (and "id") skipped,
 * every string at most EVENT_FIELD_MAX bytes once decoded, at most
 * EVENT_RESULTS_MAX results and EVENT_RCPTS_MAX recipients; "time" an
 * integer, "score" a number or null. On success r points into rd until the
 * next read. -1 with why ("byte 17: expected ':'") on bad input. */
int event_read_json(event_reader *rd, const char *json, size_t len, event_record *r,
                    char *why, size_t why_size);

/* The results and recipients arrays alone (either may be NULL: none),
 * into r->results and r->rcpts; r's other fields are left as they are. */
int event_read_arrays(event_reader *rd, const char *results, const char *rcpts,
                      event_record *r, char *why, size_t why_size);

/* A JSON array of strings (the quarantine index's rcpts and results) as a
 * list of copies (free each and the list); at most max of them. */
int event_read_strings(const char *json, size_t max, char ***out, size_t *count, char *why,
                       size_t why_size);

#endif
