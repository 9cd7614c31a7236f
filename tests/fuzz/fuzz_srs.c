/* fuzz_srs.c: libFuzzer target for the SRS address parser (srs_reverse)
 * and the rewriter it undoes. The first byte picks the clock (a day of the
 * 1024-day stamp cycle); the rest is an address. Checks that results stay
 * inside their buffers and that forward followed by reverse gives the
 * address back whenever forward wrote an SRS0 address. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "srs/srs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond))                                                                     \
            abort();                                                                     \
    } while (0)

static srs *rewriter;

static void setup(void)
{
    rewriter = srs_new();
    CHECK(rewriter != NULL);
    static const char secrets[] = "sekrit\nold-secret\n";
    CHECK(srs_add_secret_lines(rewriter, secrets, sizeof secrets - 1) == 2);
    CHECK(srs_set_domain(rewriter, "fwd.example.net") == 0);
}

static void check_result(srs_status st, const char *out, size_t size)
{
    size_t n = strnlen(out, size);
    CHECK(n < size);
    if (st != SRS_OK && st != SRS_UNCHANGED)
        CHECK(n == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (rewriter == NULL)
        setup();
    if (size == 0)
        return 0;
    /* 2026-11-30 plus up to 255 days: stamps before, at and after "JU". */
    int64_t now = 1796126461 + (int64_t)data[0] * 86400;
    const char *addr = (const char *)data + 1;
    size_t len = size - 1;

    /* Copy so that reads past len are out of bounds for ASan. */
    char *copy = malloc(len ? len : 1);
    CHECK(copy != NULL);
    memcpy(copy, addr, len);

    char out[SRS_ADDRESS_MAX], back[SRS_ADDRESS_MAX], small[40];
    srs_status st = srs_reverse(rewriter, copy, len, now, out, sizeof out);
    check_result(st, out, sizeof out);
    st = srs_reverse(rewriter, copy, len, now, small, sizeof small);
    check_result(st, small, sizeof small);

    st = srs_forward(rewriter, copy, len, now, out, sizeof out);
    check_result(st, out, sizeof out);
    if (st == SRS_OK && strncmp(out, "SRS0", 4) == 0) {
        /* Forward refuses NUL, so the input is a C string of len bytes. */
        srs_status back_st = srs_reverse(rewriter, out, strlen(out), now, back, sizeof back);
        CHECK(back_st == SRS_OK);
        CHECK(strlen(back) == len && memcmp(back, copy, len) == 0);
    }
    st = srs_forward(rewriter, copy, len, now, small, sizeof small);
    check_result(st, small, sizeof small);
    free(copy);
    return 0;
}
