/* schema_pg.h: the PostgreSQL event store's schema, every version of it and
 * the steps between them. Only the files of store/pg/ include this. The
 * logical schema is SQLite's (store/sqlite/schema.h, version 7): the same
 * tables, columns and meanings, so that every reader answers the same on
 * both; the types are PostgreSQL's (bigint times, jsonb arrays, a lower()
 * index where SQLite has COLLATE NOCASE). The version is the highest row of
 * schema_version; every step runs in one transaction under an advisory lock
 * (PG_SCHEMA_LOCK), so the first node to start applies it and the others
 * wait for it and find it done. */
#ifndef DA_STORE_PG_SCHEMA_H
#define DA_STORE_PG_SCHEMA_H

#define EVENT_PG_SCHEMA_VERSION 4

/* pg_advisory_lock keys: the schema steps, and the cluster jobs' table. */
#define PG_SCHEMA_LOCK "7233012415"

#define EVENT_PG_VERSION_TABLE                                                      \
    "CREATE TABLE IF NOT EXISTS schema_version ("                                  \
    " version integer PRIMARY KEY, applied bigint NOT NULL)"

/* Version 1: the events table as SQLite's version 4 has it, the quarantine
 * index as its version 3, and domauth_inet(), which reads an address text
 * as inet (NULL when it is not one; an IPv4-mapped IPv6 address as IPv4),
 * for a query by network, as SQLite's domauth_ip_in. */
#define EVENT_PG_V1_SQL                                                             \
    "CREATE TABLE events ("                                                        \
    " id bigserial PRIMARY KEY, time bigint NOT NULL,"                             \
    " listener text, queue_id text, client_ip text, client_name text, helo text,"  \
    " mail_from text, rcpt text, header_from text, identity text, domain text,"    \
    " result text, mechanism text, problem text, skip_reason text,"                \
    " score double precision, action text, held_action text, reply text,"          \
    " reasons text, dmarc text,"                                                   \
    " results jsonb NOT NULL DEFAULT '[]', recipients jsonb NOT NULL DEFAULT '[]');" \
    "CREATE INDEX events_time ON events (time);"                                   \
    "CREATE INDEX events_result ON events (result);"                               \
    "CREATE INDEX events_client_ip ON events (client_ip);"                         \
    "CREATE INDEX events_domain ON events (lower(domain));"                        \
    "CREATE INDEX events_dmarc ON events (dmarc);"                                 \
    "CREATE TABLE quarantine ("                                                    \
    " id text PRIMARY KEY, path text NOT NULL, time bigint NOT NULL,"              \
    " sender text, rcpts jsonb NOT NULL DEFAULT '[]', domain text,"                \
    " results jsonb NOT NULL DEFAULT '[]', reasons text, told text, queue_id text,"\
    " client_ip text, size bigint, state text NOT NULL DEFAULT 'quarantined',"     \
    " state_time bigint, state_by text);"                                          \
    "CREATE INDEX quarantine_state_time ON quarantine (state, time);"              \
    "CREATE FUNCTION domauth_inet(a text) RETURNS inet"                            \
    " LANGUAGE plpgsql IMMUTABLE AS $f$"                                           \
    " DECLARE v inet;"                                                             \
    " BEGIN"                                                                       \
    "  v := a::inet;"                                                              \
    "  IF family(v) = 6 AND v <<= '::ffff:0:0/96'::inet THEN"                      \
    "   v := (substring(host(v) from 8))::inet;"                                   \
    "  END IF;"                                                                    \
    "  RETURN v;"                                                                  \
    " EXCEPTION WHEN others THEN RETURN NULL;"                                     \
    " END $f$;"

/* Version 2: as SQLite's version 5 (node, uid, cluster_jobs). */
#define EVENT_PG_V2_UPGRADE                                                         \
    "ALTER TABLE events ADD COLUMN node text, ADD COLUMN uid text;"                \
    "CREATE UNIQUE INDEX events_uid ON events (uid);"                              \
    "CREATE INDEX events_node ON events (node);"                                   \
    "CREATE TABLE cluster_jobs ("                                                  \
    " job text PRIMARY KEY, holder text NOT NULL, until bigint NOT NULL);"

/* Version 3: as SQLite's version 6, the newest events of one result or one
 * domain from an index in time order. */
#define EVENT_PG_V3_UPGRADE                                                         \
    "CREATE INDEX events_result_time ON events (result, time);"                    \
    "CREATE INDEX events_domain_time ON events (lower(domain), time);"             \
    "DROP INDEX IF EXISTS events_result;"                                          \
    "DROP INDEX IF EXISTS events_domain;"

/* Version 4: as SQLite's version 7, the ledger of DMARC aggregate reports
 * (report_store.h), one row per (report, destination), shared by the nodes.
 * The destination and policy domain compare without case there (COLLATE
 * NOCASE): here the key is on lower(destination). */
#define EVENT_PG_V4_UPGRADE                                                         \
    "CREATE TABLE dmarc_reports ("                                                 \
    " report_id text NOT NULL, destination text NOT NULL,"                         \
    " policy_domain text NOT NULL, period_begin bigint NOT NULL,"                  \
    " period_end bigint NOT NULL, state text NOT NULL,"                            \
    " attempts integer NOT NULL DEFAULT 0, last_error text, time bigint NOT NULL);" \
    "CREATE UNIQUE INDEX dmarc_reports_key ON dmarc_reports"                       \
    " (report_id, lower(destination));"                                            \
    "CREATE INDEX dmarc_reports_time ON dmarc_reports (time);"

/* As EVENT_SQLITE_COLUMNS: after id, in the order of enum event_field, then
 * the two arrays ($1..$25 in the INSERT). */
#define EVENT_PG_COLUMNS                                                            \
    "time, listener, queue_id, client_ip, client_name, helo, mail_from, rcpt, "    \
    "header_from, identity, domain, result, mechanism, problem, skip_reason, "     \
    "score, action, held_action, reply, reasons, dmarc, node, uid, results, recipients"

/* The events table as a reader of an older database sees it. */
#define EVENT_PG_SOURCE_V2 "events"
#define EVENT_PG_SOURCE_V1 "(SELECT *, NULL::text AS node, NULL::text AS uid FROM events)"

#endif
