/* fuzz_dkim_tags.c: libFuzzer target for the DKIM tag=value list parser
 * and the base64 decoder: every tag must lie inside the input, and decoding
 * must stay within its output buffer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dkim/dkim_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    dkim_tag_list list;
    char err[160];
    if (dkim_tags_parse(text, size, &list, err, sizeof err) == 0) {
        for (size_t i = 0; i < list.count; i++) {
            const dkim_tag *t = &list.tags[i];
            if (t->name < text || t->name + t->name_len > text + size || t->value < text ||
                t->value + t->value_len > text + size || t->raw_value_end > size ||
                t->raw_value_start > t->raw_value_end)
                abort();
            unsigned char *out = malloc(t->value_len * 3 / 4 + 3);
            if (out != NULL) {
                long n = dkim_base64_decode(t->value, t->value_len, out, t->value_len * 3 / 4 + 3);
                if (n > (long)(t->value_len * 3 / 4 + 3))
                    abort();
                free(out);
            }
        }
    }
    unsigned char small[16];
    volatile long n = dkim_base64_decode(text, size, small, sizeof small);
    (void)n;
    return 0;
}
