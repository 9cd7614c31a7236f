/* eventlog_schema.h: the events table as domauthd writes it and `domauth log`
 * reads it (columns, schema version, creation SQL), plus the JSON string and
 * number formatting both use, so the JSON file and `domauth log --json` agree. */
#ifndef DA_STORE_EVENTLOG_SCHEMA_H
#define DA_STORE_EVENTLOG_SCHEMA_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"

/* PRAGMA user_version of the databases this code writes. Raise it with every
 * change to the table and add the step that upgrades the previous version to
 * eventlog.c's migrations; readers accept older versions. */
#define EVENTLOG_SCHEMA_VERSION 2

/* The columns after id, in the order of enum eventlog_column. The INSERT
 * binds them as ?1..?19 and `domauth log` selects them in this order. */
#define EVENTLOG_COLUMNS                                                            \
    "time, listener, queue_id, client_ip, client_name, helo, mail_from, rcpt, "    \
    "header_from, identity, domain, result, mechanism, problem, skip_reason, "     \
    "score, action, held_action, reply"

enum eventlog_column {
    EVC_TIME, EVC_LISTENER, EVC_QUEUE_ID, EVC_CLIENT_IP, EVC_CLIENT_NAME, EVC_HELO,
    EVC_MAIL_FROM, EVC_RCPT, EVC_HEADER_FROM, EVC_IDENTITY, EVC_DOMAIN, EVC_RESULT,
    EVC_MECHANISM, EVC_PROBLEM, EVC_SKIP_REASON, EVC_SCORE, EVC_ACTION, EVC_HELD_ACTION,
    EVC_REPLY, EVC_COUNT
};

/* Version 1. domain compares without case (and its index follows), so
 * `domauth log --domain Example.COM` finds example.com through the index. */
#define EVENTLOG_CREATE_SQL                                                         \
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

/* A function, not an array, so that a file using only part of this header
 * gets no unused-variable warning. */
static inline const char *eventlog_column_name(int column)
{
    static const char *const names[EVC_COUNT] = {
        "time", "listener", "queue_id", "client_ip", "client_name", "helo", "mail_from",
        "rcpt", "header_from", "identity", "domain", "result", "mechanism", "problem",
        "skip_reason", "score", "action", "held_action", "reply",
    };
    return column >= 0 && column < EVC_COUNT ? names[column] : "?";
}

/* JSON strings and numbers: src/util/json, the one escaper of every --json
 * output. */

#endif
