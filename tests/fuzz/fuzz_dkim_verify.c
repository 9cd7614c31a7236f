/* fuzz_dkim_verify.c: libFuzzer target for whole-message verification over
 * an in-memory zone holding fixed keys (an Ed25519 key at
 * fuzz._domainkey.example.com, a revoked one at gone._domainkey.example.com),
 * with the message fed in chunks chosen by the first byte. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "domauth.h"
#include "domauth_dkim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The public half of the Ed25519 seed 00 01 02 ... 1f (see the seed corpus). */
static const char fuzz_record[] = "v=DKIM1; k=ed25519; p=A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=";

static da_zone *fixed_zone(void)
{
    static da_zone *zone; /* built once, read-only afterwards */
    if (zone == NULL) {
        zone = da_zone_new();
        da_dns_rr rr = {.type = DA_DNS_TXT, .text = fuzz_record, .text_len = strlen(fuzz_record)};
        da_zone_add(zone, "fuzz._domainkey.example.com", &rr);
        da_dns_rr gone = {.type = DA_DNS_TXT, .text = "v=DKIM1; p=", .text_len = 11};
        da_zone_add(zone, "gone._domainkey.example.com", &gone);
    }
    return zone;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t chunk = (size_t)data[0] * 7 + 1;
    data++;
    size--;
    char err[200];
    da_dkim_verify_options vo = {.now = 1700000000, .max_header_bytes = 65536};
    da_dkim_verify *v = da_dkim_verify_new(&vo, err, sizeof err);
    da_resolver *r = da_resolver_new_zone(fixed_zone());
    for (size_t off = 0; off < size; off += chunk)
        da_dkim_verify_feed(v, data + off, size - off < chunk ? size - off : chunk);
    if (da_dkim_verify_run(v, r) == 0) {
        for (size_t i = 0; i < da_dkim_verify_count(v); i++) {
            da_dkim_signature_info info;
            if (da_dkim_verify_get(v, i, &info) != 0)
                abort();
            char *clause = da_dkim_authres_clause(v, i);
            if (clause != NULL && strpbrk(clause, "\r\n") != NULL)
                abort(); /* header injection */
            free(clause);
        }
    }
    da_resolver_free(r);
    da_dkim_verify_free(v);
    return 0;
}
