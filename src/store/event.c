/* event.c: see event.h. */
#include "store/event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOT_STRING ((size_t)-1)

static const struct {
    const char *name;
    size_t offset; /* of the string in event_record, or NOT_STRING */
} fields[EVF_COUNT] = {
    [EVF_TIME] = {"time", NOT_STRING},
    [EVF_LISTENER] = {"listener", offsetof(event_record, listener)},
    [EVF_QUEUE_ID] = {"queue_id", offsetof(event_record, queue_id)},
    [EVF_CLIENT_IP] = {"client_ip", offsetof(event_record, client_ip)},
    [EVF_CLIENT_NAME] = {"client_name", offsetof(event_record, client_name)},
    [EVF_HELO] = {"helo", offsetof(event_record, helo)},
    [EVF_MAIL_FROM] = {"mail_from", offsetof(event_record, mail_from)},
    [EVF_RCPT] = {"rcpt", offsetof(event_record, rcpt)},
    [EVF_HEADER_FROM] = {"header_from", offsetof(event_record, header_from)},
    [EVF_IDENTITY] = {"identity", offsetof(event_record, identity)},
    [EVF_DOMAIN] = {"domain", offsetof(event_record, domain)},
    [EVF_RESULT] = {"result", offsetof(event_record, result)},
    [EVF_MECHANISM] = {"mechanism", offsetof(event_record, mechanism)},
    [EVF_PROBLEM] = {"problem", offsetof(event_record, problem)},
    [EVF_SKIP_REASON] = {"skip_reason", offsetof(event_record, skip_reason)},
    [EVF_SCORE] = {"score", NOT_STRING},
    [EVF_ACTION] = {"action", offsetof(event_record, action)},
    [EVF_HELD_ACTION] = {"held_action", offsetof(event_record, held_action)},
    [EVF_REPLY] = {"reply", offsetof(event_record, reply)},
    [EVF_REASONS] = {"reasons", offsetof(event_record, reasons)},
};

const char *event_field_name(int field)
{
    return field >= 0 && field < EVF_COUNT ? fields[field].name : "?";
}

bool event_field_is_string(int field)
{
    return field >= 0 && field < EVF_COUNT && fields[field].offset != NOT_STRING;
}

const char **event_field_slot(event_record *r, int field)
{
    return (const char **)(void *)((char *)r + fields[field].offset);
}

const char *event_field_string(const event_record *r, int field)
{
    if (!event_field_is_string(field))
        return NULL;
    return *event_field_slot((event_record *)r, field);
}

size_t event_kept_length(const char *s)
{
    size_t n = strnlen(s, EVENT_FIELD_MAX + 1);
    if (n <= EVENT_FIELD_MAX)
        return n;
    n = EVENT_FIELD_MAX;
    for (int i = 0; i < 3 && n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80; i++)
        n--;
    return n;
}

/* ------------------------------------------------------------ copying */

/* The strings of a result and of a recipient, as arrays of slots. */
enum { RESULT_STRINGS = 6, RCPT_STRINGS = 3 };

static const char **result_slot(event_result *r, int i)
{
    const char **slots[RESULT_STRINGS] = {&r->method, &r->result, &r->domain,
                                          &r->detail, &r->reason, &r->props};
    return slots[i];
}

static const char **rcpt_slot(event_rcpt *r, int i)
{
    const char **slots[RCPT_STRINGS] = {&r->address, &r->action, &r->reply};
    return slots[i];
}

static size_t string_size(const char *s)
{
    return s ? event_kept_length(s) + 1 : 0;
}

/* Copies *slot into the text area at *text and points *slot at the copy. */
static void move_string(const char **slot, char **text)
{
    if (*slot == NULL)
        return;
    size_t n = event_kept_length(*slot);
    memcpy(*text, *slot, n);
    (*text)[n] = '\0';
    *slot = *text;
    *text += n + 1;
}

event_record *event_record_copy(const event_record *r, size_t *size_out)
{
    size_t results = r->results ? r->result_count : 0;
    size_t rcpts = r->rcpts ? r->rcpt_count : 0;
    if (results > EVENT_RESULTS_MAX)
        results = EVENT_RESULTS_MAX;
    if (rcpts > EVENT_RCPTS_MAX)
        rcpts = EVENT_RCPTS_MAX;
    /* event_record, then the results, then the recipients (all of pointer
     * alignment), then the text. */
    size_t size = sizeof(event_record) + results * sizeof(event_result) +
                  rcpts * sizeof(event_rcpt);
    for (int f = 0; f < EVF_COUNT; f++)
        size += string_size(event_field_string(r, f));
    for (size_t i = 0; i < results; i++) {
        event_result copy = r->results[i];
        for (int s = 0; s < RESULT_STRINGS; s++)
            size += string_size(*result_slot(&copy, s));
    }
    for (size_t i = 0; i < rcpts; i++) {
        event_rcpt copy = r->rcpts[i];
        for (int s = 0; s < RCPT_STRINGS; s++)
            size += string_size(*rcpt_slot(&copy, s));
    }
    event_record *e = malloc(size);
    if (e == NULL)
        return NULL;
    *e = *r;
    event_result *result_copy = (event_result *)(void *)(e + 1);
    event_rcpt *rcpt_copy = (event_rcpt *)(void *)(result_copy + results);
    char *text = (char *)(rcpt_copy + rcpts);
    for (int f = 0; f < EVF_COUNT; f++)
        if (event_field_is_string(f))
            move_string(event_field_slot(e, f), &text);
    for (size_t i = 0; i < results; i++) {
        result_copy[i] = r->results[i];
        for (int s = 0; s < RESULT_STRINGS; s++)
            move_string(result_slot(&result_copy[i], s), &text);
    }
    for (size_t i = 0; i < rcpts; i++) {
        rcpt_copy[i] = r->rcpts[i];
        for (int s = 0; s < RCPT_STRINGS; s++)
            move_string(rcpt_slot(&rcpt_copy[i], s), &text);
    }
    e->results = results ? result_copy : NULL;
    e->result_count = results;
    e->rcpts = rcpts ? rcpt_copy : NULL;
    e->rcpt_count = rcpts;
    if (size_out != NULL)
        *size_out = size;
    return e;
}

/* --------------------------------------------------------------- JSON */

static void put_str(json_put_fn *put, void *ctx, const char *s)
{
    put(ctx, s, strlen(s));
}

/* "key":"value" members of one object, each key present. */
static void json_members(const char *const *keys, const char *const *values, int n,
                         json_put_fn *put, void *ctx)
{
    put(ctx, "{", 1);
    for (int i = 0; i < n; i++) {
        put_str(put, ctx, i ? ",\"" : "\"");
        put_str(put, ctx, keys[i]);
        put(ctx, "\":", 2);
        json_write_string(values[i], put, ctx);
    }
    put(ctx, "}", 1);
}

void event_json_results(const event_record *r, json_put_fn *put, void *ctx)
{
    static const char *const keys[RESULT_STRINGS] = {"method", "result", "domain",
                                                     "detail", "reason", "props"};
    put(ctx, "[", 1);
    for (size_t i = 0; r->results != NULL && i < r->result_count; i++) {
        const event_result *x = &r->results[i];
        const char *values[RESULT_STRINGS] = {x->method, x->result, x->domain,
                                              x->detail, x->reason, x->props};
        if (i)
            put(ctx, ",", 1);
        json_members(keys, values, RESULT_STRINGS, put, ctx);
    }
    put(ctx, "]", 1);
}

void event_json_recipients(const event_record *r, json_put_fn *put, void *ctx)
{
    static const char *const keys[RCPT_STRINGS] = {"address", "action", "reply"};
    put(ctx, "[", 1);
    for (size_t i = 0; r->rcpts != NULL && i < r->rcpt_count; i++) {
        const event_rcpt *x = &r->rcpts[i];
        const char *values[RCPT_STRINGS] = {x->address, x->action, x->reply};
        if (i)
            put(ctx, ",", 1);
        json_members(keys, values, RCPT_STRINGS, put, ctx);
    }
    put(ctx, "]", 1);
}

void event_json_write(const event_record *r, int64_t id, json_put_fn *put, void *ctx)
{
    char number[JSON_NUMBER_MAX];
    put(ctx, "{", 1);
    if (id >= 0) {
        snprintf(number, sizeof number, "%lld", (long long)id);
        put_str(put, ctx, "\"id\":");
        put_str(put, ctx, number);
        put(ctx, ",", 1);
    }
    for (int f = 0; f < EVF_COUNT; f++) {
        put_str(put, ctx, f ? ",\"" : "\"");
        put_str(put, ctx, fields[f].name);
        put(ctx, "\":", 2);
        if (f == EVF_TIME) {
            snprintf(number, sizeof number, "%lld", (long long)r->time);
            put_str(put, ctx, number);
        } else if (f == EVF_SCORE) {
            json_format_number(r->score, number);
            put_str(put, ctx, number);
        } else {
            json_write_string(event_field_string(r, f), put, ctx);
        }
    }
    put_str(put, ctx, ",\"results\":");
    event_json_results(r, put, ctx);
    put_str(put, ctx, ",\"recipients\":");
    event_json_recipients(r, put, ctx);
    put(ctx, "}", 1);
}
