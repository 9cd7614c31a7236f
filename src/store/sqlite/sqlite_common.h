/* sqlite_common.h: what the SQLite event store, quarantine index and
 * report ledger share: which locations are theirs, and opening the event
 * database for a table a later schema version added. Only store/sqlite/
 * includes this. */
#ifndef DA_STORE_SQLITE_COMMON_H
#define DA_STORE_SQLITE_COMMON_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

/* A path; URIs (postgresql://, file:) are for other backends. */
bool sqlite_claims_location(const char *location);

/* PRAGMA user_version of db, or -1. */
int sqlite_user_version(sqlite3 *db);

/* Opens the event database at location for a table added in schema
 * version since (what: "quarantine index"; made_by: who makes it, for the
 * error). With write, the event store's writer open makes the file or
 * brings it to the current version first: the event store owns the
 * schema. NULL with why when the file is missing, cannot be opened or is
 * older than since. */
sqlite3 *sqlite_open_table(const char *location, bool write, int since, const char *what,
                           const char *made_by, int busy_ms, char *why, size_t why_size);

#endif
