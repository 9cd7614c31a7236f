/* fuzz_spf_macro.c: libFuzzer target for SPF macro expansion. The first byte
 * picks the client address (IPv4 or IPv6) and whether %{p} is known; the rest
 * is the macro-string, expanded as a domain-spec and as explanation text. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spf/macro.h"
#include "util/arena.h"
#include "util/ip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void expand_one(const char *text, size_t len, spf_macro_use use,
                       const spf_macro_context *ctx)
{
    arena a;
    arena_init(&a);
    char *out = NULL;
    char err[256] = "", err2[256] = "";
    int rc = spf_macro_expand(&a, text, len, use, ctx, &out, err, sizeof err);
    volatile size_t sink = 0;
    if (rc == 0) {
        if (out == NULL)
            abort();
        sink += strlen(out);
        /* What expands must also pass the syntax-only check. */
        if (spf_macro_check(text, len, use, err2, sizeof err2) != 0) {
            fprintf(stderr, "expanded, but spf_macro_check says: %s\n", err2);
            abort();
        }
    } else {
        sink += strnlen(err, sizeof err);
    }
    (void)sink;
    arena_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    static const char *const clients[] = {"192.0.2.3", "2001:db8::cb01", "203.0.113.200",
                                          "::ffff:198.51.100.7"};
    uint8_t pick = data[0];
    const char *client = clients[pick % 4];
    ip_addr ip;
    if (!ip_parse(client, strlen(client), &ip))
        abort();
    ip_unmap(&ip);

    spf_macro_context ctx = {
        .sender = "strong-bad@email.example.com",
        .local_part = "strong-bad",
        .sender_domain = "email.example.com",
        .domain = (pick & 4) ? "email.example.com" : "_spf.sub.example.net",
        .ip = &ip,
        .helo = "mail.example.org",
        .receiver = "receiver.example.org",
        .ptr_name = (pick & 8) ? "mx.example.org" : NULL,
        .now = 1400000000,
    };
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    expand_one(text, len, SPF_MACRO_DOMAIN, &ctx);
    expand_one(text, len, SPF_MACRO_EXPLANATION, &ctx);
    char err[256];
    (void)spf_macro_check(text, len, SPF_MACRO_DOMAIN, err, sizeof err);
    (void)spf_macro_uses_ptr(text, len);
    return 0;
}
