/* eventlog_schema.h: the events table as domauthd writes it and `domauth log`
 * reads it (columns, schema version, creation SQL), plus the JSON string and
 * number formatting both use, so the JSON file and `domauth log --json` agree. */
#ifndef DA_DAEMON_EVENTLOG_SCHEMA_H
#define DA_DAEMON_EVENTLOG_SCHEMA_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* PRAGMA user_version of the databases this code writes. Raise it with every
 * change to the table and add the step that upgrades the previous version to
 * eventlog.c's migrations; readers accept older versions. */
#define EVENTLOG_SCHEMA_VERSION 1

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

/* Length of the well-formed UTF-8 sequence at p (1 for ASCII), or 0 when the
 * bytes there are not one (a stray continuation byte, an overlong form, a
 * surrogate, a truncated sequence). p is NUL-terminated, and NUL is never a
 * continuation byte, so reading stops at the end. */
static inline size_t evs_utf8_len(const unsigned char *p)
{
    unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;       /* overlong */
        if (c == 0xED) hi = 0x9F;       /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;       /* overlong */
        if (c == 0xF4) hi = 0x8F;       /* beyond U+10FFFF */
    } else
        return 0;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

typedef void evs_put_fn(void *ctx, const char *bytes, size_t len);

/* Writes s as a JSON string (null for NULL). Well-formed UTF-8 passes through
 * unchanged; control characters are escaped; a byte that is not part of
 * well-formed UTF-8 is written as \u00XX (its Latin-1 reading), so the line
 * stays valid JSON whatever the client sent. */
static inline void evs_json_string(const char *s, evs_put_fn *put, void *ctx)
{
    if (s == NULL) {
        put(ctx, "null", 4);
        return;
    }
    put(ctx, "\"", 1);
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t n = evs_utf8_len(p);
        char esc[8];
        if (n > 1) {
            put(ctx, (const char *)p, n);
            p += n;
            continue;
        }
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            put(ctx, esc, 2);
        } else if (*p == '\n') {
            put(ctx, "\\n", 2);
        } else if (*p == '\r') {
            put(ctx, "\\r", 2);
        } else if (*p == '\t') {
            put(ctx, "\\t", 2);
        } else if (*p < 0x20 || *p >= 0x7F) {
            snprintf(esc, sizeof esc, "\\u%04x", (unsigned)*p);
            put(ctx, esc, 6);
        } else {
            put(ctx, (const char *)p, 1);
        }
        p++;
    }
    put(ctx, "\"", 1);
}

/* The shortest decimal that reads back as v, or "null" when v is not a
 * finite number (JSON has no NaN). out must hold 32 bytes. */
static inline void evs_format_number(double v, char *out)
{
    if (v != v || v - v != 0) { /* NaN, or an infinity */
        strcpy(out, "null");
        return;
    }
    for (int digits = 6; digits <= 17; digits++) {
        snprintf(out, 32, "%.*g", digits, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

#endif
