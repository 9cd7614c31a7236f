/* tap.h: a few macros that print TAP (Test Anything Protocol) lines, which
 * the check target counts. One "ok"/"not ok" line per assertion. */
#ifndef DA_TAP_H
#define DA_TAP_H

#include <stdio.h>
#include <string.h>

static int tap_count, tap_failed;

#define TAP_OK(cond, ...)                                                          \
    do {                                                                           \
        int tap_ok_ = (cond) ? 1 : 0;                                              \
        tap_count++;                                                               \
        if (!tap_ok_)                                                              \
            tap_failed++;                                                          \
        printf("%s %d - ", tap_ok_ ? "ok" : "not ok", tap_count);                 \
        printf(__VA_ARGS__);                                                       \
        printf("\n");                                                              \
        if (!tap_ok_)                                                              \
            printf("#   failed at %s:%d: %s\n", __FILE__, __LINE__, #cond);        \
    } while (0)

#define TAP_STR_EQ(got, want, ...)                                                 \
    do {                                                                           \
        const char *tap_g_ = (got), *tap_w_ = (want);                              \
        int tap_same_ = tap_g_ && tap_w_ ? strcmp(tap_g_, tap_w_) == 0 : tap_g_ == tap_w_; \
        TAP_OK(tap_same_, __VA_ARGS__);                                            \
        if (!tap_same_)                                                            \
            printf("#   got  '%s'\n#   want '%s'\n", tap_g_ ? tap_g_ : "(null)",   \
                   tap_w_ ? tap_w_ : "(null)");                                    \
    } while (0)

#define TAP_SKIP(...)                                                              \
    do {                                                                           \
        tap_count++;                                                               \
        printf("ok %d # SKIP ", tap_count);                                        \
        printf(__VA_ARGS__);                                                       \
        printf("\n");                                                              \
    } while (0)

static inline int tap_done(void)
{
    printf("1..%d\n", tap_count);
    return tap_failed == 0 ? 0 : 1;
}

#endif
