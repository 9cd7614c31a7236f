/* fuzz_opendkim_tables.c: libFuzzer target for the reader of OpenDKIM's
 * KeyTable and SigningTable (src/config/opendkim.c), which [dkim]
 * key_table and signing_table and domauth import opendkim share. The first
 * byte picks refile; the rest is the KeyTable, then (after the first 0xff
 * byte) the SigningTable. Every entry must point at a key read, have a
 * lower-case domain and a line within the text; every note a line too. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/opendkim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond))                                                                     \
            abort();                                                                     \
    } while (0)

typedef struct limits {
    unsigned key_lines, signing_lines;
    bool signing;
} limits;

static unsigned count_lines(const char *p, size_t n)
{
    unsigned lines = 1;
    for (size_t i = 0; i < n; i++)
        lines += p[i] == '\n';
    return lines;
}

static void note(void *ctx, opendkim_note_kind kind, const char *file, unsigned line,
                 const char *text)
{
    const limits *l = ctx;
    CHECK(kind == OPENDKIM_ERROR || kind == OPENDKIM_UNMAPPED || kind == OPENDKIM_DIFFERS);
    CHECK(file != NULL && text != NULL && text[0] != '\0');
    CHECK(line <= (l->signing ? l->signing_lines : l->key_lines));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool refile = data[0] & 1;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    const char *sep = memchr(text, 0xff, len);
    size_t klen = sep ? (size_t)(sep - text) : len;
    const char *st = sep ? sep + 1 : "";
    size_t slen = sep ? len - klen - 1 : 0;
    limits l = {count_lines(text, klen), count_lines(st, slen), false};
    opendkim_tables t;
    opendkim_tables_init(&t);
    if (opendkim_read_key_table(&t, "KT", text, klen, note, &l) == 0) {
        l.signing = true;
        if (opendkim_read_signing_table(&t, "ST", st, slen, refile, note, &l) == 0) {
            for (size_t i = 0; i < t.signing_count; i++) {
                const opendkim_signing *e = &t.signing[i];
                CHECK(e->key >= t.keys && e->key < t.keys + t.key_count);
                CHECK(e->domain[0] != '\0' && e->line >= 1 && e->line <= l.signing_lines);
                for (const char *p = e->domain; *p; p++)
                    CHECK(!isupper((unsigned char)*p));
            }
        }
    }
    for (size_t i = 0; i < t.key_count; i++)
        CHECK(t.keys[i].line >= 1 && t.keys[i].line <= l.key_lines);
    opendkim_tables_free(&t);
    return 0;
}
