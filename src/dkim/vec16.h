/* vec16.h: sixteen bytes at a time through the compilers' vector extension
 * (SSE2 on x86-64, NEON on ARM64; no intrinsics, no CPU dispatch), for the
 * DKIM body scanners (canon.c, message.c). DKIM_VEC16 is defined where it
 * is available; elsewhere the callers keep their byte loops. */
#ifndef DOMAUTH_DKIM_VEC16_H
#define DOMAUTH_DKIM_VEC16_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if (defined(__GNUC__) || defined(__clang__)) && defined(__BYTE_ORDER__) && \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define DKIM_VEC16 1

typedef unsigned char v16 __attribute__((vector_size(16)));

static inline v16 load16(const unsigned char *p)
{
    v16 v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* 0xff in each byte equal to c, 0 elsewhere. */
static inline v16 is16(v16 v, unsigned char c)
{
    return (v16)(v == (v16){0} + c);
}

/* 0xff in each byte at or below c. */
static inline v16 at_most16(v16 v, unsigned char c)
{
    return (v16)(v <= (v16){0} + c);
}

/* The offset of the first byte set in mask, or 16. */
static inline size_t first_set16(v16 mask)
{
    uint64_t lo, hi;
    memcpy(&lo, &mask, 8);
    memcpy(&hi, (const unsigned char *)&mask + 8, 8);
    if (lo != 0)
        return (size_t)__builtin_ctzll(lo) / 8;
    if (hi != 0)
        return 8 + (size_t)__builtin_ctzll(hi) / 8;
    return 16;
}
#endif

#endif
