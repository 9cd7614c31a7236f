/* dkim_bench_opendkim.c: OpenDKIM's side of the DKIM benchmark, through
 * libopendkim (the library the opendkim milter and opendkim-testmsg are
 * built on), in-process, set up as the milter sets it up:
 *
 * - one DKIM_LIB (dkim_init) for the run; SignHeaders = the library's
 *   dkim_should_signhdrs (the milter's default), OversignHeaders = From;
 * - sign: per message dkim_sign with the PEM key text (libopendkim parses
 *   the key at every dkim_eom, as in the milter), dkim_chunk in 64 KiB
 *   chunks, dkim_eom, dkim_getsighdr_d (the header value);
 * - verify: per message dkim_verify, dkim_chunk, dkim_eom; the key record is
 *   answered from memory by a dkim_set_key_lookup callback (no DNS), and
 *   DKIM_STAT_OK from dkim_eom with a passing signature counts as pass.
 *
 * See dkim_drv.h for the command line and bench/dkim/README.md. */
#include "dkim_drv.h"

#include <opendkim/dkim.h>

static const char *g_record;

static DKIM_CBSTAT key_lookup(DKIM *dkim, DKIM_SIGINFO *sig, u_char *buf, size_t buflen)
{
    (void)dkim;
    (void)sig;
    size_t n = strlen(g_record);
    if (n + 1 > buflen)
        return DKIM_CBSTAT_ERROR;
    memcpy(buf, g_record, n + 1);
    return DKIM_CBSTAT_CONTINUE;
}

typedef struct ctx {
    const drv_args *a;
    DKIM_LIB *lib;
    char last_sig[4096]; /* warm-up check */
} ctx;

static bool feed(DKIM *d, const unsigned char *data, size_t len)
{
    for (size_t off = 0; off < len; off += DRV_CHUNK)
        if (dkim_chunk(d, (u_char *)data + off,
                       len - off < DRV_CHUNK ? len - off : DRV_CHUNK) != DKIM_STAT_OK)
            return false;
    return dkim_chunk(d, NULL, 0) == DKIM_STAT_OK;
}

static bool one_sign(void *arg, const drv_msg *m)
{
    ctx *c = arg;
    DKIM_STAT st;
    DKIM *d = dkim_sign(c->lib, (const u_char *)"bench", NULL, (dkim_sigkey_t)c->a->key,
                        (const u_char *)(c->a->ed25519 ? "ed" : "rsa"),
                        (const u_char *)"bench.example", DKIM_CANON_RELAXED, DKIM_CANON_RELAXED,
                        c->a->ed25519 ? DKIM_SIGN_ED25519SHA256 : DKIM_SIGN_RSASHA256, -1, &st);
    if (d == NULL)
        return false;
    bool ok = feed(d, m->data, m->len) && dkim_eom(d, NULL) == DKIM_STAT_OK;
    u_char *hdr = NULL;
    size_t hlen = 0;
    if (ok)
        ok = dkim_getsighdr_d(d, strlen("DKIM-Signature: "), &hdr, &hlen) == DKIM_STAT_OK &&
             hlen > 0;
    if (ok)
        snprintf(c->last_sig, sizeof c->last_sig, "DKIM-Signature: %.*s\r\n", (int)hlen,
                 (const char *)hdr);
    dkim_free(d);
    return ok;
}

static bool verify_buf(ctx *c, const unsigned char *data, size_t len, const char *prefix)
{
    DKIM_STAT st;
    DKIM *d = dkim_verify(c->lib, (const u_char *)"bench", NULL, &st);
    if (d == NULL)
        return false;
    bool ok = true;
    if (prefix != NULL)
        ok = dkim_chunk(d, (u_char *)prefix, strlen(prefix)) == DKIM_STAT_OK;
    ok = ok && feed(d, data, len) && dkim_eom(d, NULL) == DKIM_STAT_OK;
    if (ok) {
        DKIM_SIGINFO *sig = dkim_getsignature(d);
        ok = sig != NULL && DKIM_SIG_CHECK(sig);
    }
    dkim_free(d);
    return ok;
}

static bool one_verify(void *arg, const drv_msg *m)
{
    return verify_buf(arg, m->data, m->len, NULL);
}

int main(int argc, char **argv)
{
    drv_args a;
    drv_parse(&a, argc, argv);
    g_record = a.record;
    ctx c = {.a = &a};
    c.lib = dkim_init(NULL, NULL);
    if (c.lib == NULL)
        drv_die("dkim_init failed", NULL);
    if (dkim_options(c.lib, DKIM_OP_SETOPT, DKIM_OPTS_SIGNHDRS, dkim_should_signhdrs,
                     sizeof(u_char **)) != DKIM_STAT_OK)
        drv_die("cannot set SignHeaders", NULL);
    static const u_char *oversign[] = {(const u_char *)"from", NULL};
    if (dkim_options(c.lib, DKIM_OP_SETOPT, DKIM_OPTS_OVERSIGNHDRS, oversign,
                     sizeof(u_char **)) != DKIM_STAT_OK)
        drv_die("cannot set OversignHeaders", NULL);
    dkim_set_key_lookup(c.lib, key_lookup);
    if (a.sign)
        for (size_t k = 0; k < a.nmsgs; k++)
            if (!one_sign(&c, &a.msgs[k]) ||
                !verify_buf(&c, a.msgs[k].data, a.msgs[k].len, c.last_sig))
                fprintf(stderr, "dkim bench: OpenDKIM's signature of %s does not verify\n",
                        a.msgs[k].path);
    drv_run(&a, "opendkim", a.sign ? one_sign : one_verify, &c);
    dkim_close(c.lib);
    return 0;
}
