/* fuzz_dkim_key.c: libFuzzer target for DKIM key record parsing (tags,
 * base64, RSA and Ed25519 keys through OpenSSL), internal and public. */
#include <stdint.h>
#include <stdlib.h>

#include "dkim/dkim_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    dkim_key_record rec;
    char err[200];
    int rc = dkim_key_record_parse(text, size, &rec, err, sizeof err);
    if (rc == 0) {
        if (!rec.revoked && rec.key == NULL)
            abort(); /* a usable record always carries a key */
        dkim_key_record_clear(&rec);
    }
    unsigned bits = 0;
    int checked = da_dkim_record_check(text, size, &bits, err, sizeof err);
    if (checked == 0 && rc != 0)
        abort(); /* the public check cannot accept what the parser refuses */
    return 0;
}
