/* fuzz_dkim_body.c: libFuzzer target for streaming body canonicalization.
 * The first bytes choose the mode, an l= limit and a split point; the
 * output must not depend on how the body was split into chunks, and must
 * respect the limit. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dkim/dkim_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void collect(void *arg, const unsigned char *data, size_t len)
{
    strbuf_append(arg, (const char *)data, len);
}

static void run(da_dkim_canon canon, int64_t limit, const uint8_t *body, size_t size,
                size_t chunk, strbuf *out, uint64_t *total)
{
    dkim_body_canon bc;
    dkim_body_canon_init(&bc, canon, limit, collect, out);
    for (size_t off = 0; off < size; off += chunk)
        dkim_body_canon_feed(&bc, body + off, size - off < chunk ? size - off : chunk);
    dkim_body_canon_finish(&bc);
    *total = bc.total;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    da_dkim_canon canon = data[0] & 1 ? DA_DKIM_RELAXED : DA_DKIM_SIMPLE;
    int64_t limit = data[1] < 128 ? -1 : (int64_t)(data[1] - 128) * 4;
    size_t chunk = (size_t)data[2] % 17 + 1;
    const uint8_t *body = data + 3;
    size -= 3;
    strbuf whole, pieces;
    strbuf_init(&whole);
    strbuf_init(&pieces);
    uint64_t total_whole, total_pieces;
    run(canon, limit, body, size, size ? size : 1, &whole, &total_whole);
    run(canon, limit, body, size, chunk, &pieces, &total_pieces);
    if (!whole.failed && !pieces.failed) {
        if (whole.len != pieces.len || total_whole != total_pieces ||
            (whole.len && memcmp(whole.data, pieces.data, whole.len) != 0))
            abort();
        if (limit >= 0 && whole.len > (size_t)limit)
            abort();
        if (limit < 0 && whole.len != total_whole)
            abort();
    }
    strbuf_free(&whole);
    strbuf_free(&pieces);
    return 0;
}
