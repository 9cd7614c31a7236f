/* fuzz_http_request.c: libFuzzer target for the metrics endpoint's HTTP
 * request parser (src/proto/http.c). The parser is handed everything
 * received so far after every read, so: each prefix of the input gives
 * NEED_MORE or the whole input's answer (never a different one, and the
 * same request once it is whole); a request has a token method, a path
 * that starts with '/' and holds no query, and a length within the input;
 * nothing is ever NEED_MORE at HTTP_REQUEST_MAX bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond))                                                                     \
            abort();                                                                     \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 2 * HTTP_REQUEST_MAX)
        size = 2 * HTTP_REQUEST_MAX;
    const char *p = (const char *)data;
    http_request whole, part;
    http_status st = http_request_parse(p, size, &whole);
    if (size >= HTTP_REQUEST_MAX)
        CHECK(st != HTTP_NEED_MORE);
    if (st == HTTP_OK) {
        CHECK(whole.length > 0 && whole.length <= size);
        CHECK(whole.method[0] != '\0' && strlen(whole.method) <= HTTP_METHOD_MAX);
        CHECK(whole.path[0] == '/' && strlen(whole.path) <= HTTP_PATH_MAX);
        CHECK(strpbrk(whole.path, "?# \r\n") == NULL);
        /* The request alone gives the same request. */
        CHECK(http_request_parse(p, whole.length, &part) == HTTP_OK);
        CHECK(part.length == whole.length && strcmp(part.path, whole.path) == 0 &&
              strcmp(part.method, whole.method) == 0);
    }
    if (st == HTTP_BAD)
        CHECK(whole.why[0] != '\0');
    /* Prefixes: the answer only ever goes from NEED_MORE to the final one,
     * except that a longer input may reach HTTP_TOO_LARGE. */
    size_t step = size / 16 + 1;
    for (size_t k = 0; k < size; k += step) {
        http_status sp = http_request_parse(p, k, &part);
        if (sp == HTTP_NEED_MORE)
            continue;
        CHECK(sp == st);
        if (sp == HTTP_OK)
            CHECK(part.length == whole.length && strcmp(part.path, whole.path) == 0);
    }
    return 0;
}
