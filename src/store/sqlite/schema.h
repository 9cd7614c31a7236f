/* schema.h: the SQLite event store's schema, every version of it, and the
 * steps between them. Only event_sqlite.c includes this: nothing else in
 * domauth writes SQL for the events table. */
#ifndef DA_STORE_SQLITE_SCHEMA_H
#define DA_STORE_SQLITE_SCHEMA_H

/* PRAGMA user_version of the databases this code writes. Raise it with every
 * change to the table and add the step that upgrades the previous version to
 * the upgrades in event_sqlite.c; readers accept older versions. */
#define EVENT_SQLITE_SCHEMA_VERSION 8

/* Version 1 (domauth 0.1): one row per decision, the SPF result as columns.
 * domain compares without case (and its index follows), so `domauth log
 * --domain Example.COM` finds example.com through the index. Kept as it
 * was: a new database is made by this and then every upgrade, so a new
 * file and a migrated one have the same schema. */
#define EVENT_SQLITE_V1_SQL                                                         \
    "CREATE TABLE IF NOT EXISTS events ("                                          \
    " id INTEGER PRIMARY KEY,"                                                     \
    " time INTEGER NOT NULL,"                                                      \
    " listener TEXT, queue_id TEXT, client_ip TEXT, client_name TEXT, helo TEXT,"  \
    " mail_from TEXT, rcpt TEXT, header_from TEXT, identity TEXT,"                 \
    " domain TEXT COLLATE NOCASE, result TEXT, mechanism TEXT, problem TEXT,"      \
    " skip_reason TEXT, score REAL, action TEXT, held_action TEXT, reply TEXT);"   \
    "CREATE INDEX IF NOT EXISTS events_time ON events (time);"                     \
    "CREATE INDEX IF NOT EXISTS events_result ON events (result);"                 \
    "CREATE INDEX IF NOT EXISTS events_client_ip ON events (client_ip);"           \
    "CREATE INDEX IF NOT EXISTS events_domain ON events (domain);"

/* What a version 1 row stands for in version 2: its SPF columns as the one
 * entry of its results vector (the identity checked as its RFC 8601
 * property), its rcpt with the event's action and reply as its one
 * recipient. Used by the upgrade, and by readers of a version 1 file they
 * may not upgrade (domauth log opens the database read-only). */
#define EVENT_SQLITE_V1_RESULTS                                                     \
    "CASE WHEN result IS NULL THEN '[]' ELSE json_array(json_object("              \
    "'method', 'spf', 'result', result, 'domain', domain, 'detail', mechanism,"    \
    " 'reason', problem, 'props', CASE identity"                                   \
    " WHEN 'mailfrom' THEN 'smtp.mailfrom=' || mail_from"                          \
    " WHEN 'helo' THEN 'smtp.helo=' || helo"                                       \
    " WHEN 'header_from' THEN 'header.from=' || header_from END)) END"
#define EVENT_SQLITE_V1_RECIPIENTS                                                  \
    "CASE WHEN rcpt IS NULL THEN '[]' ELSE json_array(json_object("                \
    "'address', rcpt, 'action', action, 'reply', reply)) END"

/* Version 2: one row per message with everything in event_record. reasons
 * is text; results and recipients are JSON arrays of objects, as in the
 * JSON lines (store/event.h), which SQLite's json_each and json_extract
 * read, so `domauth log --method dkim --result fail` is one query. */
#define EVENT_SQLITE_V2_UPGRADE                                                     \
    "ALTER TABLE events ADD COLUMN reasons TEXT;"                                  \
    "ALTER TABLE events ADD COLUMN results TEXT NOT NULL DEFAULT '[]';"            \
    "ALTER TABLE events ADD COLUMN recipients TEXT NOT NULL DEFAULT '[]';"         \
    "UPDATE events SET results = " EVENT_SQLITE_V1_RESULTS ","                     \
    " recipients = " EVENT_SQLITE_V1_RECIPIENTS ";"

/* Version 3: the quarantine index, one row per message in the spool
 * (store/quarantine_store.h). The spool file is the message and its facts;
 * this is what lists and filters them without opening every file. rcpts
 * and results are JSON arrays of strings ("spf=fail"); state is
 * quarantined, released or deleted, state_time when it became so and
 * state_by who made it so (a user name, "purge"). The
 * events table is unchanged. */
#define EVENT_SQLITE_V3_UPGRADE                                                     \
    "CREATE TABLE IF NOT EXISTS quarantine ("                                      \
    " id TEXT PRIMARY KEY, path TEXT NOT NULL, time INTEGER NOT NULL,"             \
    " sender TEXT, rcpts TEXT NOT NULL DEFAULT '[]', domain TEXT COLLATE NOCASE,"  \
    " results TEXT NOT NULL DEFAULT '[]', reasons TEXT, told TEXT, queue_id TEXT," \
    " client_ip TEXT, size INTEGER, state TEXT NOT NULL DEFAULT 'quarantined',"    \
    " state_time INTEGER, state_by TEXT);"                                         \
    "CREATE INDEX IF NOT EXISTS quarantine_state_time ON quarantine (state, time);"

/* Version 4: the DMARC result that counts for the message (the worst over
 * its From: domains), a column beside SPF's for filtering and its index;
 * NULL where DMARC was not checked, which is every row before version 4
 * (DMARC did not exist then), so the upgrade fills nothing in. */
#define EVENT_SQLITE_V4_UPGRADE                                                     \
    "ALTER TABLE events ADD COLUMN dmarc TEXT;"                                    \
    "CREATE INDEX IF NOT EXISTS events_dmarc ON events (dmarc);"

/* Version 5: many nodes (issue 15). Each event knows the node that decided
 * and has its own key, unique among all events (NULL, which the unique
 * index allows many times, in rows from before), so that an event spooled
 * while the database was away and replayed is stored once
 * (INSERT ... ON CONFLICT DO NOTHING). cluster_jobs holds the leases of
 * the jobs one node at a time runs (the purge; the report sender): a row
 * per job, its holder and the time its lease ends. */
#define EVENT_SQLITE_V5_UPGRADE                                                     \
    "ALTER TABLE events ADD COLUMN node TEXT;"                                     \
    "ALTER TABLE events ADD COLUMN uid TEXT;"                                      \
    "CREATE UNIQUE INDEX IF NOT EXISTS events_uid ON events (uid);"                \
    "CREATE INDEX IF NOT EXISTS events_node ON events (node);"                     \
    "CREATE TABLE IF NOT EXISTS cluster_jobs ("                                    \
    " job TEXT PRIMARY KEY, holder TEXT NOT NULL, until INTEGER NOT NULL);"
/* Version 6: the newest events of one result or one domain come from an
 * index in time order (the web console's History, `domauth log --result`),
 * instead of every matching row sorted: (result, time) and (domain, time)
 * replace the single-column indexes, whose lookups they also serve. The
 * events table is unchanged. */
#define EVENT_SQLITE_V6_UPGRADE                                                     \
    "CREATE INDEX IF NOT EXISTS events_result_time ON events (result, time);"      \
    "CREATE INDEX IF NOT EXISTS events_domain_time ON events (domain, time);"      \
    "DROP INDEX IF EXISTS events_result;"                                           \
    "DROP INDEX IF EXISTS events_domain;"
/* Version 7: the ledger of DMARC aggregate reports sent
 * (store/report_store.h): one row per (report, destination), so that a
 * report sent is never sent again and a failed one is retried a bounded
 * number of times. state is sent or failed; attempts counts the tries;
 * time is the last one's. The events table is unchanged. */
#define EVENT_SQLITE_V7_UPGRADE                                                     \
    "CREATE TABLE IF NOT EXISTS dmarc_reports ("                                   \
    " report_id TEXT NOT NULL, destination TEXT NOT NULL COLLATE NOCASE,"          \
    " policy_domain TEXT NOT NULL COLLATE NOCASE, period_begin INTEGER NOT NULL,"  \
    " period_end INTEGER NOT NULL, state TEXT NOT NULL,"                           \
    " attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, time INTEGER NOT NULL," \
    " PRIMARY KEY (report_id, destination));"                                      \
    "CREATE INDEX IF NOT EXISTS dmarc_reports_time ON dmarc_reports (time);"

/* Version 8: the entries of the results vectors counted per hour, method
 * and result: added by the writer once per batch (sqlite_write, from the
 * records in hand: a trigger parsing each row's JSON doubled the cost of
 * a write), taken off by a trigger as events are deleted (so a purge, or
 * an administrator's DELETE, keeps it exact), and filled from the events
 * already stored by the upgrade (about 30 s per million events). "Results per method over the
 * last day" (the console's Status page, event_store_summary over whole
 * hours) then sums a few hundred rows instead of parsing every event's
 * results vector (3.4 s for a day of 140,000 events). The events table is
 * unchanged. */
#define EVENT_SQLITE_ENTRY_METHOD "coalesce(json_extract(j.value, '$.method'), '-')"
#define EVENT_SQLITE_ENTRY_RESULT "coalesce(json_extract(j.value, '$.result'), '-')"
#define EVENT_SQLITE_COUNT_RESULTS                                                  \
    "INSERT INTO event_result_hours (hour, method, result, events) VALUES (?1, ?2, ?3, ?4)" \
    " ON CONFLICT (hour, method, result) DO UPDATE SET events = events + excluded.events"
#define EVENT_SQLITE_V8_UPGRADE                                                     \
    "CREATE TABLE IF NOT EXISTS event_result_hours ("                              \
    " hour INTEGER NOT NULL, method TEXT NOT NULL, result TEXT NOT NULL,"          \
    " events INTEGER NOT NULL, PRIMARY KEY (hour, method, result)) WITHOUT ROWID;" \
    "INSERT INTO event_result_hours (hour, method, result, events)"                \
    " SELECT ev.time - ev.time % 3600, " EVENT_SQLITE_ENTRY_METHOD ", "            \
    EVENT_SQLITE_ENTRY_RESULT ", count(*) FROM events AS ev, json_each(ev.results) AS j" \
    " WHERE true GROUP BY 1, 2, 3;"                                                \
    "CREATE TRIGGER IF NOT EXISTS events_uncount_results AFTER DELETE ON events BEGIN" \
    " UPDATE event_result_hours SET events = events - d.n FROM"                    \
    " (SELECT " EVENT_SQLITE_ENTRY_METHOD " AS m, " EVENT_SQLITE_ENTRY_RESULT " AS r," \
    " count(*) AS n FROM json_each(OLD.results) AS j GROUP BY 1, 2) AS d"          \
    " WHERE hour = OLD.time - OLD.time % 3600 AND method = d.m AND result = d.r;"  \
    " DELETE FROM event_result_hours WHERE hour = OLD.time - OLD.time % 3600"      \
    " AND events <= 0;"                                                            \
    " END;"

/* The columns after id, in the order of enum event_field, then the two
 * arrays. The INSERT binds them as ?1..?25 and queries select them in this
 * order after id. */
#define EVENT_SQLITE_COLUMNS                                                        \
    "time, listener, queue_id, client_ip, client_name, helo, mail_from, rcpt, "    \
    "header_from, identity, domain, result, mechanism, problem, skip_reason, "     \
    "score, action, held_action, reply, reasons, dmarc, node, uid, results, recipients"

/* The events table as a reader sees it, by the version of the file (a
 * reader may not upgrade: it reads an older file through these). */
#define EVENT_SQLITE_SOURCE_V5 "events"
#define EVENT_SQLITE_SOURCE_V4 "(SELECT *, NULL AS node, NULL AS uid FROM events)"
#define EVENT_SQLITE_SOURCE_V2 "(SELECT *, NULL AS dmarc, NULL AS node, NULL AS uid FROM events)"
#define EVENT_SQLITE_SOURCE_V1                                                      \
    "(SELECT *, NULL AS reasons, " EVENT_SQLITE_V1_RESULTS " AS results, "         \
    EVENT_SQLITE_V1_RECIPIENTS " AS recipients, NULL AS dmarc, NULL AS node,"      \
    " NULL AS uid FROM events)"

#endif
