/* Differential test of body canonicalization: random bodies rich in the
 * bytes that matter (SP, TAB, CR, LF) must hash the same whether fed whole,
 * a byte at a time, or in random chunks, for every canonicalization. The
 * whole-buffer path takes the run-at-a-time fast paths; one byte at a time
 * exercises the byte-by-byte state machine. */
#include <stdlib.h>
#include <string.h>

#include "domauth_dkim.h"
#include "tap.h"

static unsigned seed = 12345;
static unsigned next_random(void)
{
    seed = seed * 1103515245u + 12345u;
    return (seed >> 16) & 0x7fff;
}

/* The bh= value of a signature over headers + body fed in chunks of the
 * given size (0: random sizes). */
static char *body_hash(const da_dkim_key *key, da_dkim_canon canon, const char *body,
                       size_t len, size_t chunk)
{
    char err[256];
    da_dkim_sign_options so = {.domain = "x.example", .selector = "s", .key = key,
                               .header_canon = canon, .body_canon = canon};
    da_dkim_sign *s = da_dkim_sign_new(&so, err, sizeof err);
    const char *head = "From: a@x.example\r\nSubject: t\r\n\r\n";
    da_dkim_sign_feed(s, head, strlen(head));
    for (size_t off = 0; off < len;) {
        size_t n = chunk ? chunk : 1 + next_random() % 64;
        if (n > len - off)
            n = len - off;
        da_dkim_sign_feed(s, body + off, n);
        off += n;
    }
    char *field = da_dkim_sign_finish(s, err, sizeof err);
    da_dkim_sign_free(s);
    if (field == NULL)
        return NULL;
    char *bh = strstr(field, "bh=");
    char *end = bh ? strchr(bh, ';') : NULL;
    char *out = bh && end ? strndup(bh, (size_t)(end - bh)) : NULL;
    free(field);
    return out;
}

int main(void)
{
    char err[256];
    da_dkim_key *key = da_dkim_key_generate(DA_DKIM_KEY_ED25519, 0, err, sizeof err);
    static const char alphabet[] = "ab  \t\t\r\n\r\n.";
    int mismatches[2] = {0, 0};
    for (int round = 0; round < 300; round++) {
        size_t len = next_random() % 300;
        char *body = malloc(len + 1);
        for (size_t i = 0; i < len; i++)
            body[i] = alphabet[next_random() % (sizeof alphabet - 1)];
        body[len] = '\0';
        for (int c = 0; c < 2; c++) {
            da_dkim_canon canon = c ? DA_DKIM_RELAXED : DA_DKIM_SIMPLE;
            char *whole = body_hash(key, canon, body, len, len ? len : 1);
            char *bytes = body_hash(key, canon, body, len, 1);
            char *random = body_hash(key, canon, body, len, 0);
            if (!whole || !bytes || !random || strcmp(whole, bytes) != 0 ||
                strcmp(whole, random) != 0) {
                if (mismatches[c]++ == 0)
                    printf("# round %d (%s): whole %s, bytes %s, random %s\n", round,
                           c ? "relaxed" : "simple", whole ? whole : "-", bytes ? bytes : "-",
                           random ? random : "-");
            }
            free(whole);
            free(bytes);
            free(random);
        }
        free(body);
    }
    TAP_OK(mismatches[0] == 0, "simple: 300 random bodies hash the same whole, bytewise, chunked");
    TAP_OK(mismatches[1] == 0, "relaxed: 300 random bodies hash the same whole, bytewise, chunked");
    da_dkim_key_free(key);
    return tap_done();
}
