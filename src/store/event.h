/* event.h: one event per message, as the service hands it to the event log
 * and the event store gives it back to readers, and its JSON object: the
 * one encoding of an event as JSON, shared by the JSON lines, the store's
 * results and recipients columns and `domauth log --json`. */
#ifndef DA_STORE_EVENT_H
#define DA_STORE_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/json.h"

/* One entry of a message's results vector (RFC 8601 terms), flattened. */
typedef struct event_result {
    const char *method;  /* "spf", "dkim", "sender-id", "dmarc", later "arc" */
    const char *result;  /* "pass", "fail", ... */
    const char *domain;  /* the domain judged: SPF's checked domain, DKIM's d= */
    const char *detail;  /* SPF's matched mechanism, DKIM's selector; may be NULL */
    const char *reason;  /* why (a problem, a failure reason); may be NULL */
    const char *props;   /* "smtp.mailfrom=a@b.example", "header.d=b.example header.s=s1" */
} event_result;

/* What was done for one recipient (RCPT-stage rejects differ per recipient). */
typedef struct event_rcpt {
    const char *address;
    const char *action;      /* accept, tag, defer, reject, ... as done */
    const char *reply;       /* the reply sent for it, or NULL */
} event_rcpt;

/* One event per message, written after the final verdict. */
typedef struct event_record {
    int64_t time;            /* seconds since the epoch */
    const char *listener;    /* "milter", "policy", "verify", ... */
    const char *queue_id;    /* may be NULL */
    const char *client_ip;
    const char *client_name; /* may be NULL */
    const char *helo;
    const char *mail_from;   /* "" for the null sender */
    const char *rcpt;        /* the first recipient; may be NULL */
    const char *header_from; /* may be NULL */
    /* The SPF result that decided, kept as columns for filtering; the whole
     * results vector is in results. */
    const char *identity;    /* "mailfrom", "helo", "header_from", or NULL when skipped */
    const char *domain;      /* the checked domain */
    const char *result;      /* SPF result word, or NULL when skipped */
    const char *mechanism;   /* matched term, may be NULL */
    const char *problem;     /* for temperror/permerror, may be NULL */
    const char *skip_reason; /* "authenticated", "whitelisted", "local", "trusted", ... */
    double score;
    const char *action;      /* what was done: accept, tag, defer, reject */
    const char *held_action; /* what monitor mode held back, or NULL */
    const char *reply;       /* the SMTP reply sent or held back, may be NULL */
    const char *reasons;     /* why the action: "spf=fail: fail_action reject; ..." */
    /* The DMARC result that counts (the worst over the From: domains), or
     * NULL when DMARC was not checked; the entries are in results. */
    const char *dmarc;
    /* The node that decided ([daemon] node, the host name by default) and
     * the event's own key, unique over every node and restart (the node's
     * random boot key and a sequence number): a replayed event is stored
     * once. Both NULL in events stored before they existed. */
    const char *node;
    const char *uid;
    const event_result *results;
    size_t result_count;
    const event_rcpt *rcpts; /* every recipient and what was done for it */
    size_t rcpt_count;
} event_record;

/* The single-valued fields, in the order of the JSON object, the syslog
 * line and the store's columns. Every one but EVF_TIME and EVF_SCORE is a
 * string. */
enum event_field {
    EVF_TIME, EVF_LISTENER, EVF_QUEUE_ID, EVF_CLIENT_IP, EVF_CLIENT_NAME, EVF_HELO,
    EVF_MAIL_FROM, EVF_RCPT, EVF_HEADER_FROM, EVF_IDENTITY, EVF_DOMAIN, EVF_RESULT,
    EVF_MECHANISM, EVF_PROBLEM, EVF_SKIP_REASON, EVF_SCORE, EVF_ACTION, EVF_HELD_ACTION,
    EVF_REPLY, EVF_REASONS, EVF_DMARC, EVF_NODE, EVF_UID, EVF_COUNT
};

/* "time", "listener", ... (the JSON keys and column names); "?" out of range. */
const char *event_field_name(int field);
/* Whether the field is a string, and where it is in a record. */
bool event_field_is_string(int field);
const char **event_field_slot(event_record *r, int field);
const char *event_field_string(const event_record *r, int field);

/* The strings of a result and of a recipient, by number, in the order of
 * the structs: their JSON keys ("method", "result", "domain", "detail",
 * "reason", "props"; "address", "action", "reply"; "?" out of range) and
 * where they are. */
enum { EVENT_RESULT_STRINGS = 6, EVENT_RCPT_STRINGS = 3 };
const char *event_result_key(int i);
const char **event_result_slot(event_result *x, int i);
const char *event_rcpt_key(int i);
const char **event_rcpt_slot(event_rcpt *x, int i);

/* What an event keeps: each string at most EVENT_FIELD_MAX bytes (cut
 * before a UTF-8 sequence that would not fit), at most EVENT_RESULTS_MAX
 * results and EVENT_RCPTS_MAX recipients. Bounds the writer's queue. */
enum { EVENT_FIELD_MAX = 4096, EVENT_RESULTS_MAX = 64, EVENT_RCPTS_MAX = 1000 };

/* The number of bytes of s an event keeps. */
size_t event_kept_length(const char *s);

/* A copy of r in one allocation (free() it), within the limits above; its
 * size in *size when size is not NULL. NULL when out of memory. */
event_record *event_record_copy(const event_record *r, size_t *size);
/* The same in memory the caller provides (aligned as malloc's, of
 * event_record_copy_size(r) bytes), e.g. after its own header in one
 * allocation. Returns mem. */
size_t event_record_copy_size(const event_record *r);
event_record *event_record_copy_into(const event_record *r, void *mem);

/* The JSON arrays of the results and the recipients: [{"method":...,
 * "result":...,"domain":...,"detail":...,"reason":...,"props":...}] and
 * [{"address":...,"action":...,"reply":...}], every key present, null for
 * NULL. "[]" when there are none. */
void event_json_results(const event_record *r, json_put_fn *put, void *ctx);
void event_json_recipients(const event_record *r, json_put_fn *put, void *ctx);

/* The event as one JSON object (no newline): "id" first when id >= 0, then
 * every field of enum event_field ("time" and "score" numbers, null for
 * NULL), then "results" and "recipients". */
void event_json_write(const event_record *r, int64_t id, json_put_fn *put, void *ctx);

#endif
