/* fuzz_event_read.c: libFuzzer target for the event reader
 * (src/store/event_read.c), which reads event_spool files and the JSON
 * lines `domauth store import` is given, and the arrays of the PostgreSQL
 * store: text anyone who can write those files could have altered. Checks
 * that a refusal says why, that an event read is within event.h's limits
 * and that writing it as JSON and reading that again gives the same JSON. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/event_read.h"
#include "util/strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond))                                                                     \
            abort();                                                                     \
    } while (0)

static void put(void *ctx, const char *bytes, size_t len)
{
    strbuf_append(ctx, bytes, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    event_reader *rd = event_reader_new(), *again = event_reader_new();
    CHECK(rd != NULL && again != NULL);
    event_record r, r2;
    char why[300];
    why[0] = '\0';
    if (event_read_json(rd, (const char *)data, size, &r, why, sizeof why) != 0) {
        CHECK(why[0] != '\0' && strnlen(why, sizeof why) < sizeof why);
    } else {
        CHECK(r.result_count <= EVENT_RESULTS_MAX && r.rcpt_count <= EVENT_RCPTS_MAX);
        for (int f = 0; f < EVF_COUNT; f++) {
            const char *v = event_field_string(&r, f);
            CHECK(v == NULL || strlen(v) <= EVENT_FIELD_MAX);
        }
        strbuf a, b;
        strbuf_init(&a);
        strbuf_init(&b);
        event_json_write(&r, -1, put, &a);
        CHECK(!a.failed);
        CHECK(event_read_json(again, a.data, a.len, &r2, why, sizeof why) == 0);
        event_json_write(&r2, -1, put, &b);
        CHECK(!b.failed && a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
        strbuf_free(&a);
        strbuf_free(&b);
    }
    /* The same bytes as an array of strings (the quarantine index's). */
    char *text = malloc(size + 1);
    CHECK(text != NULL);
    memcpy(text, data, size);
    text[size] = '\0';
    char **list;
    size_t n;
    if (event_read_strings(text, 64, &list, &n, why, sizeof why) == 0) {
        CHECK(n <= 64);
        for (size_t i = 0; i < n; i++)
            free(list[i]);
        free(list);
    } else {
        CHECK(list == NULL && n == 0);
    }
    free(text);
    event_reader_free(rd);
    event_reader_free(again);
    return 0;
}
