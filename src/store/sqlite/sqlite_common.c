/* sqlite_common.c: see sqlite_common.h. */
#include "sqlite_common.h"

#include <string.h>
#include <sys/stat.h>

#include "store/event_store.h"
#include "util/errbuf.h"

bool sqlite_claims_location(const char *location)
{
    return location != NULL && *location != '\0' && strstr(location, "://") == NULL;
}

int sqlite_user_version(sqlite3 *db)
{
    sqlite3_stmt *st;
    int v = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

sqlite3 *sqlite_open_table(const char *location, bool write, int since, const char *what,
                           const char *made_by, int busy_ms, char *why, size_t why_size)
{
    if (write) {
        event_store_options o = {.access = EVENT_STORE_WRITE};
        event_store *es = event_store_open(location, &o, why, why_size);
        if (es == NULL)
            return NULL;
        event_store_close(es);
    } else {
        struct stat sb;
        if (stat(location, &sb) != 0) {
            errbuf_set(why, why_size, "no database at %s", location);
            return NULL;
        }
    }
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(location, &db, write ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY,
                        NULL) != SQLITE_OK) {
        errbuf_set(why, why_size, "cannot open %s: %s", location,
                   db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, busy_ms);
    int v = sqlite_user_version(db);
    if (v < since) {
        errbuf_set(why, why_size, "%s has no %s (schema version %d; %s)", location, what, v,
                   made_by);
        sqlite3_close(db);
        return NULL;
    }
    return db;
}
