/* fuzz_flatten_state.c: libFuzzer target for the state file of
 * `domauth spf flatten --state` (spf_flat_state_parse). Checks that the
 * parser never reads past the input, that an error always names a line,
 * and that what it accepts has only canonical, distinct terms. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "record/flatten.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond))                                                                     \
            abort();                                                                     \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Copy so that reads past size are out of bounds for ASan. */
    char *copy = malloc(size ? size : 1);
    CHECK(copy != NULL);
    memcpy(copy, data, size);
    spf_flat_state *st = NULL;
    char err[256];
    if (spf_flat_state_parse(copy, size, &st, err, sizeof err) == 0) {
        CHECK(st != NULL);
        CHECK(spf_flat_state_domain(st) != NULL && spf_flat_state_default(st) != NULL);
        size_t n = spf_flat_state_term_count(st);
        for (size_t i = 0; i < n; i++) {
            const char *t = spf_flat_state_term_get(st, i);
            CHECK(t != NULL && strstr(t, "ip") != NULL);
            for (size_t j = 0; j < i; j++)
                CHECK(strcmp(t, spf_flat_state_term_get(st, j)) != 0);
        }
        spf_flat_state_free(st);
    } else {
        CHECK(st == NULL && strncmp(err, "line ", 5) == 0);
    }
    free(copy);
    return 0;
}
