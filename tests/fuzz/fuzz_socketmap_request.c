/* fuzz_socketmap_request.c: libFuzzer target for the socketmap codec. The
 * first byte seeds chunk sizes, the second picks the limit; the rest is a
 * stream of netstrings. Fed in chunks it must give the same results as fed
 * whole (the parser keeps no state that depends on where reads end); every
 * request is well formed as socketmap.h promises; a reply built from a key
 * is one netstring that the parser reads back. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/socketmap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond))                                                                     \
            abort();                                                                     \
    } while (0)

enum { RESULTS_MAX = 256 };

typedef struct result {
    socketmap_status status;
    uint64_t digest; /* of name and key, or of the error */
} result;

static uint64_t fnv(uint64_t h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)p[i]) * 1099511628211u;
    return h;
}

static size_t next_chunk(uint32_t *state)
{
    *state = *state * 1103515245u + 12345u;
    uint32_t r = *state >> 16;
    return (r & 3) == 0 ? 1 + (r >> 2) % 4096 : 1 + (r >> 2) % 8;
}

static void check_request(const socketmap_parser *p)
{
    size_t name_len = strlen(p->name);
    CHECK(name_len > 0 && name_len <= SOCKETMAP_NAME_MAX);
    for (size_t i = 0; i < name_len; i++)
        CHECK(p->name[i] > 0x20 && p->name[i] < 0x7f);
    CHECK(strlen(p->key) == p->key_len);
    CHECK(name_len + 1 + p->key_len <= p->max);
    /* A reply carrying the key, read back by the parser. */
    strbuf out;
    strbuf_init(&out);
    char err[160];
    if (socketmap_reply(&out, p->key_len ? SOCKETMAP_OK : SOCKETMAP_NOTFOUND, p->key, p->key_len,
                        err, sizeof err) == 0) {
        CHECK(!out.failed);
        socketmap_parser back;
        CHECK(socketmap_parser_init(&back, out.len) == 0);
        size_t used;
        socketmap_status st = socketmap_parser_feed(&back, out.data, out.len, &used);
        CHECK(used == out.len);
        CHECK(st == SOCKETMAP_REQUEST && back.key_len == p->key_len);
        CHECK(memcmp(back.key, p->key, p->key_len) == 0);
        socketmap_parser_free(&back);
    }
    strbuf_free(&out);
}

/* Feeds the stream in chunks (chunk_seed 0: whole) and records results. */
static size_t run(const char *data, size_t len, size_t max, uint32_t chunk_seed, result *out)
{
    socketmap_parser p;
    CHECK(socketmap_parser_init(&p, max) == 0);
    size_t count = 0;
    uint32_t state = chunk_seed;
    size_t pos = 0;
    while (pos < len && count < RESULTS_MAX) {
        size_t n = chunk_seed ? next_chunk(&state) : len - pos;
        if (n > len - pos)
            n = len - pos;
        while (n > 0 && count < RESULTS_MAX) {
            size_t used = 0;
            socketmap_status st = socketmap_parser_feed(&p, data + pos, n, &used);
            CHECK(used <= n);
            pos += used;
            n -= used;
            if (st == SOCKETMAP_NEED_MORE) {
                CHECK(n == 0);
                break;
            }
            result *r = &out[count++];
            r->status = st;
            if (st == SOCKETMAP_REQUEST) {
                check_request(&p);
                r->digest = fnv(fnv(14695981039346656037u, p.name, strlen(p.name) + 1), p.key,
                                p.key_len);
            } else {
                const char *e = socketmap_parser_error(&p);
                CHECK(e[0] != '\0');
                r->digest = fnv(14695981039346656037u, e, strlen(e));
            }
            if (st == SOCKETMAP_ERROR) {
                size_t again;
                CHECK(socketmap_parser_feed(&p, "1:x,", 4, &again) == SOCKETMAP_ERROR &&
                      again == 0);
                socketmap_parser_free(&p);
                return count;
            }
        }
    }
    socketmap_parser_free(&p);
    return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint32_t seed = data[0] | 1u; /* never 0: that means "whole" */
    static const size_t limits[] = {0, 1, 9, 64, 2048};
    size_t max = limits[data[1] % 5];
    const char *stream = (const char *)data + 2;
    size_t len = size - 2;
    static result whole[RESULTS_MAX], chunked[RESULTS_MAX];
    size_t a = run(stream, len, max, 0, whole);
    size_t b = run(stream, len, max, seed, chunked);
    CHECK(a == b);
    for (size_t i = 0; i < a; i++)
        CHECK(whole[i].status == chunked[i].status && whole[i].digest == chunked[i].digest);
    return 0;
}
