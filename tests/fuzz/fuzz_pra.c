/* fuzz_pra.c: libFuzzer target for the PRA selection (RFC 4407) and the
 * header block splitter it reads messages with. Checks what the API
 * promises: a found PRA is one bounded addr-spec with a domain, named by
 * a field that is one of the four the RFC reads, at an index in range;
 * no PRA leaves the address empty and gives a reason. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msg/header_block.h"
#include "msg/pra.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    header_field *fields = NULL;
    char err[256];
    size_t body = 0;
    int n = header_block_split((const char *)data, size, &fields, &body, err, sizeof err);
    if (n < 0) {
        if (fields != NULL || strnlen(err, sizeof err) == 0)
            abort();
        return 0;
    }
    if (body > size)
        abort();
    pra_result r;
    int rc = pra_select(fields, (size_t)n, &r);
    if (r.reason == NULL)
        abort();
    if (rc == 0) {
        size_t len = strnlen(r.address, sizeof r.address);
        const char *at = strrchr(r.address, '@');
        if (r.outcome != PRA_FOUND || len == 0 || len > PRA_ADDRESS_MAX || at == NULL ||
            at[1] == '\0' || r.field == NULL || r.field_index >= (size_t)n ||
            r.step < 1 || r.step > 4)
            abort();
        const header_field *f = &fields[r.field_index];
        if (f->name_len != strlen(r.field))
            abort();
    } else if (rc != -1 || r.outcome == PRA_FOUND || r.address[0] != '\0') {
        abort();
    }
    free(fields);
    return 0;
}
