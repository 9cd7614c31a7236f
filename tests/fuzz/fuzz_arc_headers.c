/* fuzz_arc_headers.c: libFuzzer target for the ARC header parsers. The
 * input is read three ways: as one field given to the ARC-Seal, AMS and
 * AAR parsers (offsets and instances must stay in range), and as a header
 * block whose ARC sets are collected (a sound chain must have every field
 * of every instance, each of the right name and instance). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "arc/arc_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parse_one_field(const char *field, size_t size)
{
    const char *colon = memchr(field, ':', size);
    size_t value_offset = colon ? (size_t)(colon - field) + 1 : size;
    char err[200];
    arc_seal_sig *seal = malloc(sizeof *seal);
    if (seal != NULL && arc_seal_parse(field, size, value_offset, seal, err, sizeof err) == 0) {
        if (seal->instance < 1 || seal->instance > DA_ARC_MAX_INSTANCE ||
            seal->b_value_end > size || seal->b_value_start > seal->b_value_end ||
            seal->signature_len == 0 || seal->cv > DA_ARC_FAIL)
            abort();
    }
    free(seal);
    dkim_signature *ams = malloc(sizeof *ams);
    if (ams != NULL &&
        dkim_signature_parse_ams(field, size, value_offset, DA_ARC_MAX_INSTANCE, ams, err,
                                 sizeof err) == 0) {
        if (ams->instance < 1 || ams->instance > DA_ARC_MAX_INSTANCE ||
            ams->b_value_end > size || ams->header_count == 0)
            abort();
        for (size_t i = 0; i < ams->header_count; i++)
            if (ams->header_lens[i] == 8 && strncasecmp(ams->headers[i], "arc-seal", 8) == 0)
                abort(); /* h= may not list ARC-Seal */
    }
    free(ams);
    unsigned instance;
    size_t payload;
    if (arc_aar_parse(field, size, &instance, &payload) == 0 &&
        (instance < 1 || instance > DA_ARC_MAX_INSTANCE || payload > size))
        abort();
}

static void ignore_body(void *arg, const unsigned char *data, size_t len)
{
    (void)arg;
    (void)data;
    (void)len;
}

static void collect(const uint8_t *data, size_t size)
{
    dkim_message m;
    dkim_message_init(&m, 65536, ignore_body, NULL);
    if (dkim_message_feed(&m, data, size) == 0 && dkim_message_finish(&m) == 0) {
        arc_chain *chain = malloc(sizeof *chain);
        char err[300];
        if (chain != NULL && arc_chain_collect(&m, chain, err, sizeof err) == 0) {
            for (unsigned i = 1; i <= chain->count; i++) {
                size_t idx[3] = {chain->sets[i].aar, chain->sets[i].ams, chain->sets[i].as};
                for (int k = 0; k < 3; k++) {
                    unsigned got;
                    if (idx[k] >= m.field_count ||
                        arc_field_instance(&m, &m.fields[idx[k]], &got) != 0 || got != i)
                        abort();
                }
            }
        }
        free(chain);
    }
    dkim_message_free(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parse_one_field((const char *)data, size);
    collect(data, size);
    return 0;
}
