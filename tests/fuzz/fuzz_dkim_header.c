/* fuzz_dkim_header.c: libFuzzer target for header canonicalization and
 * DKIM-Signature parsing: the input is one header field. Relaxed output
 * must hold no CR or LF but the final CRLF, and the parse must not crash. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dkim/dkim_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *field = (const char *)data;
    strbuf out;
    strbuf_init(&out);
    dkim_canon_header(&out, DA_DKIM_RELAXED, field, size, true);
    if (!out.failed) {
        if (out.len < 3 || memcmp(out.data + out.len - 2, "\r\n", 2) != 0)
            abort();
        for (size_t i = 0; i + 2 < out.len; i++)
            if (out.data[i] == '\r' || out.data[i] == '\n')
                abort();
    }
    strbuf_clear(&out);
    dkim_canon_header(&out, DA_DKIM_SIMPLE, field, size, false);
    if (!out.failed && (out.len != size || (size && memcmp(out.data, field, size) != 0)))
        abort();
    strbuf_free(&out);

    const char *colon = memchr(field, ':', size);
    size_t value_offset = colon ? (size_t)(colon - field) + 1 : size;
    dkim_signature *sig = malloc(sizeof *sig);
    char err[200];
    if (sig != NULL && dkim_signature_parse(field, size, value_offset, sig, err, sizeof err) == 0) {
        if (sig->b_value_end > size || sig->b_value_start > sig->b_value_end ||
            sig->header_count == 0)
            abort();
        for (size_t i = 0; i < sig->header_count; i++)
            if (sig->headers[i] < field || sig->headers[i] + sig->header_lens[i] > field + size)
                abort();
    }
    free(sig);
    return 0;
}
