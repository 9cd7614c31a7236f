/* fuzz_policyd_request.c: libFuzzer target for the policy delegation
 * codec. The first byte seeds chunk sizes, the second picks the limits; the
 * rest is a keep-alive stream of requests. Replies built from request
 * values must stay one attribute line ended by an empty line. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/policyd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond))                                                                     \
            abort();                                                                     \
    } while (0)

static size_t next_chunk(uint32_t *state)
{
    *state = *state * 1103515245u + 12345u;
    uint32_t r = *state >> 16;
    return (r & 3) == 0 ? 1 + (r >> 2) % 2048 : 1 + (r >> 2) % 16;
}

/* A reply is "action=..." and exactly one LF pair, at its end. */
static void check_reply(const strbuf *reply)
{
    CHECK(reply->len >= 9 && memcmp(reply->data, "action=", 7) == 0);
    CHECK(memcmp(reply->data + reply->len - 2, "\n\n", 2) == 0);
    CHECK(memchr(reply->data, '\n', reply->len - 2) == NULL);
    CHECK(memchr(reply->data, '\r', reply->len) == NULL);
    CHECK(strlen(reply->data) == reply->len);
}

static void use_request(const policyd_parser *parser)
{
    const policyd_request *request = policyd_parser_request(parser);
    CHECK(request != NULL);
    policyd_attribute attribute;
    size_t count = policyd_parser_attribute_count(parser);
    for (size_t i = 0; policyd_parser_attribute(parser, i, &attribute); i++) {
        CHECK(i < count && attribute.name[0] != '\0');
        CHECK(strlen(attribute.value) == attribute.value_len);
        CHECK(policyd_parser_get(parser, attribute.name) == attribute.value);
    }
    const char *text = request->sender ? request->sender : request->client_name;
    if (text == NULL)
        return;
    strbuf reply;
    strbuf_init(&reply);
    char err[200];
    if (policyd_reply_prepend(&reply, "Authentication-Results", text, err, sizeof err) == 0)
        check_reply(&reply);
    strbuf_clear(&reply);
    CHECK(policyd_reply_action(&reply, "DEFER_IF_PERMIT", text, err, sizeof err) == 0);
    check_reply(&reply);
    strbuf_clear(&reply);
    CHECK(policyd_reply_code(&reply, 550, "5.7.1", text, err, sizeof err) == 0);
    check_reply(&reply);
    strbuf_free(&reply);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint32_t state = data[0];
    policyd_limits small = {.max_line = 64, .max_attributes = 8, .max_request = 256};
    policyd_parser parser;
    if (policyd_parser_init(&parser, data[1] & 1 ? &small : NULL) != 0)
        return 0;
    const char *p = (const char *)data + 2;
    size_t left = size - 2;
    while (left > 0) {
        size_t chunk = next_chunk(&state);
        if (chunk > left)
            chunk = left;
        char *copy = malloc(chunk); /* exact size: reads past it trip ASan */
        memcpy(copy, p, chunk);
        size_t offset = 0;
        while (offset < chunk) {
            size_t used;
            policyd_status status = policyd_parser_feed(&parser, copy + offset, chunk - offset,
                                                        &used);
            CHECK(used <= chunk - offset);
            offset += used;
            if (status == POLICYD_NEED_MORE) {
                CHECK(offset == chunk);
                break;
            }
            if (status == POLICYD_REQUEST)
                use_request(&parser);
            else
                CHECK(policyd_parser_error(&parser)[0] != '\0');
        }
        free(copy);
        p += chunk;
        left -= chunk;
    }
    policyd_parser_free(&parser);
    return 0;
}
