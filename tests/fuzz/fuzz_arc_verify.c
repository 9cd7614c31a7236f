/* fuzz_arc_verify.c: libFuzzer target for ARC chain validation over an
 * in-memory zone holding fixed keys (the Ed25519 key of seed 00 01 ... 1f at
 * fuzz._domainkey.example.com, as fuzz_dkim_verify has, and a revoked one at
 * gone._domainkey.example.com), the message fed in chunks chosen by the
 * first byte. The result must be consistent and the arc= clause and the
 * AAR payloads safe in a header. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "domauth.h"
#include "domauth_arc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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

static void check_text(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            abort(); /* header injection or raw bytes */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t chunk = (size_t)data[0] * 7 + 1;
    data++;
    size--;
    char err[200];
    da_arc_verify_options vo = {.max_header_bytes = 65536};
    da_arc_verify *v = da_arc_verify_new(&vo, err, sizeof err);
    da_resolver *r = da_resolver_new_zone(fixed_zone());
    for (size_t off = 0; off < size; off += chunk)
        da_arc_verify_feed(v, data + off, size - off < chunk ? size - off : chunk);
    if (da_arc_verify_run(v, r) == 0) {
        da_arc_result res;
        if (da_arc_verify_result(v, &res) != 0)
            abort();
        if (res.instances > DA_ARC_MAX_INSTANCE ||
            (res.cv == DA_ARC_PASS && (res.oldest_pass < 1 || res.oldest_pass > res.instances)) ||
            (res.cv != DA_ARC_PASS && res.oldest_pass != 0) ||
            (res.cv == DA_ARC_NONE && res.instances != 0))
            abort();
        check_text(res.reason);
        for (size_t i = 0; i < da_arc_verify_count(v); i++) {
            da_arc_set_info info;
            if (da_arc_verify_get(v, i, &info) != 0 || info.instance != i + 1)
                abort();
            if (res.cv == DA_ARC_PASS &&
                (info.seal_result != DA_DKIM_PASS || info.seal_cv != (i ? DA_ARC_PASS : DA_ARC_NONE)))
                abort();
            check_text(info.authres);
            check_text(info.seal_domain);
        }
        char *clause = da_arc_authres_clause(v, "192.0.2.1");
        if (clause != NULL)
            check_text(clause);
        free(clause);
    }
    da_resolver_free(r);
    da_arc_verify_free(v);
    return 0;
}
