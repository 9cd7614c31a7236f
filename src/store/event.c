/* event.c: see event.h. */
#include "store/event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOT_STRING ((size_t)-1)

/* A JSON key (a column name) and where its string is in the struct. */
typedef struct member {
    const char *key;
    size_t offset; /* of the string, or NOT_STRING */
} member;

static const char **member_slot(const member *m, void *x)
{
    return (const char **)(void *)((char *)x + m->offset);
}

static const char *member_string(const member *m, const void *x)
{
    return *(const char *const *)(const void *)((const char *)x + m->offset);
}

static const member fields[EVF_COUNT] = {
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
    [EVF_DMARC] = {"dmarc", offsetof(event_record, dmarc)},
    [EVF_NODE] = {"node", offsetof(event_record, node)},
    [EVF_UID] = {"uid", offsetof(event_record, uid)},
};

const char *event_field_name(int field)
{
    return field >= 0 && field < EVF_COUNT ? fields[field].key : "?";
}

bool event_field_is_string(int field)
{
    return field >= 0 && field < EVF_COUNT && fields[field].offset != NOT_STRING;
}

const char **event_field_slot(event_record *r, int field)
{
    return member_slot(&fields[field], r);
}

const char *event_field_string(const event_record *r, int field)
{
    if (!event_field_is_string(field))
        return NULL;
    return member_string(&fields[field], r);
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

/* The strings of a result and of a recipient: their JSON keys and where
 * they are, in the order of the structs. */
static const member result_members[EVENT_RESULT_STRINGS] = {
    {"method", offsetof(event_result, method)}, {"result", offsetof(event_result, result)},
    {"domain", offsetof(event_result, domain)}, {"detail", offsetof(event_result, detail)},
    {"reason", offsetof(event_result, reason)}, {"props", offsetof(event_result, props)},
};
static const member rcpt_members[EVENT_RCPT_STRINGS] = {
    {"address", offsetof(event_rcpt, address)},
    {"action", offsetof(event_rcpt, action)},
    {"reply", offsetof(event_rcpt, reply)},
};

const char *event_result_key(int i)
{
    return i >= 0 && i < EVENT_RESULT_STRINGS ? result_members[i].key : "?";
}

const char **event_result_slot(event_result *x, int i)
{
    return member_slot(&result_members[i], x);
}

const char *event_rcpt_key(int i)
{
    return i >= 0 && i < EVENT_RCPT_STRINGS ? rcpt_members[i].key : "?";
}

const char **event_rcpt_slot(event_rcpt *x, int i)
{
    return member_slot(&rcpt_members[i], x);
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

/* The results and recipients a copy keeps. */
static size_t kept_results(const event_record *r)
{
    size_t n = r->results ? r->result_count : 0;
    return n > EVENT_RESULTS_MAX ? EVENT_RESULTS_MAX : n;
}

static size_t kept_rcpts(const event_record *r)
{
    size_t n = r->rcpts ? r->rcpt_count : 0;
    return n > EVENT_RCPTS_MAX ? EVENT_RCPTS_MAX : n;
}

size_t event_record_copy_size(const event_record *r)
{
    size_t results = kept_results(r), rcpts = kept_rcpts(r);
    /* event_record, then the results, then the recipients (all of pointer
     * alignment), then the text. */
    size_t size = sizeof(event_record) + results * sizeof(event_result) +
                  rcpts * sizeof(event_rcpt);
    for (int f = 0; f < EVF_COUNT; f++)
        size += string_size(event_field_string(r, f));
    for (size_t i = 0; i < results; i++)
        for (int s = 0; s < EVENT_RESULT_STRINGS; s++)
            size += string_size(member_string(&result_members[s], &r->results[i]));
    for (size_t i = 0; i < rcpts; i++)
        for (int s = 0; s < EVENT_RCPT_STRINGS; s++)
            size += string_size(member_string(&rcpt_members[s], &r->rcpts[i]));
    return size;
}

event_record *event_record_copy_into(const event_record *r, void *mem)
{
    size_t results = kept_results(r), rcpts = kept_rcpts(r);
    event_record *e = mem;
    *e = *r;
    event_result *result_copy = (event_result *)(void *)(e + 1);
    event_rcpt *rcpt_copy = (event_rcpt *)(void *)(result_copy + results);
    char *text = (char *)(rcpt_copy + rcpts);
    for (int f = 0; f < EVF_COUNT; f++)
        if (event_field_is_string(f))
            move_string(event_field_slot(e, f), &text);
    for (size_t i = 0; i < results; i++) {
        result_copy[i] = r->results[i];
        for (int s = 0; s < EVENT_RESULT_STRINGS; s++)
            move_string(event_result_slot(&result_copy[i], s), &text);
    }
    for (size_t i = 0; i < rcpts; i++) {
        rcpt_copy[i] = r->rcpts[i];
        for (int s = 0; s < EVENT_RCPT_STRINGS; s++)
            move_string(event_rcpt_slot(&rcpt_copy[i], s), &text);
    }
    e->results = results ? result_copy : NULL;
    e->result_count = results;
    e->rcpts = rcpts ? rcpt_copy : NULL;
    e->rcpt_count = rcpts;
    return e;
}

event_record *event_record_copy(const event_record *r, size_t *size_out)
{
    size_t size = event_record_copy_size(r);
    void *mem = malloc(size);
    if (mem == NULL)
        return NULL;
    if (size_out != NULL)
        *size_out = size;
    return event_record_copy_into(r, mem);
}

/* --------------------------------------------------------------- JSON */

static void put_str(json_put_fn *put, void *ctx, const char *s)
{
    put(ctx, s, strlen(s));
}

/* One object of an array: "key":"value" for each member, each key present. */
static void json_members(const member *members, int n, const void *x, json_put_fn *put,
                         void *ctx)
{
    put(ctx, "{", 1);
    for (int i = 0; i < n; i++) {
        put_str(put, ctx, i ? ",\"" : "\"");
        put_str(put, ctx, members[i].key);
        put(ctx, "\":", 2);
        json_write_string(member_string(&members[i], x), put, ctx);
    }
    put(ctx, "}", 1);
}

void event_json_results(const event_record *r, json_put_fn *put, void *ctx)
{
    put(ctx, "[", 1);
    for (size_t i = 0; r->results != NULL && i < r->result_count; i++) {
        if (i)
            put(ctx, ",", 1);
        json_members(result_members, EVENT_RESULT_STRINGS, &r->results[i], put, ctx);
    }
    put(ctx, "]", 1);
}

void event_json_recipients(const event_record *r, json_put_fn *put, void *ctx)
{
    put(ctx, "[", 1);
    for (size_t i = 0; r->rcpts != NULL && i < r->rcpt_count; i++) {
        if (i)
            put(ctx, ",", 1);
        json_members(rcpt_members, EVENT_RCPT_STRINGS, &r->rcpts[i], put, ctx);
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
        put_str(put, ctx, fields[f].key);
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
