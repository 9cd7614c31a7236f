/* dkim_bench.c: domauth's side of the DKIM benchmark. Signs or verifies the
 * corpus in-process through the library API (include/domauth_dkim.h):
 *
 * - sign: one da_dkim_key loaded once; per message da_dkim_sign_new, feed in
 *   64 KiB chunks, da_dkim_sign_finish (the whole DKIM-Signature field).
 * - verify: per message da_dkim_verify_new, feed in 64 KiB chunks, finish,
 *   then da_dkim_verify_step / da_dkim_verify_answer, answering the key
 *   question from memory (no DNS, no resolver object), and the result read
 *   with da_dkim_verify_get.
 *
 * See dkim_drv.h for the command line and bench/dkim/README.md. */
#include "dkim_drv.h"

#include "domauth.h"
#include "domauth_dkim.h"

typedef struct ctx {
    const drv_args *a;
    da_dkim_key *key;
    da_dns_answer *answer;
    int64_t now;
    char *last_sig; /* warm-up check */
    /* As domauthd runs it: decoded keys are kept between messages. Set
     * DKIM_BENCH_NO_KEY_CACHE=1 to decode every time, as OpenDKIM does. */
    da_dkim_key_cache *key_cache;
} ctx;

static const char *selector(const drv_args *a) { return a->ed25519 ? "ed" : "rsa"; }

static void feed_sign(da_dkim_sign *s, const drv_msg *m)
{
    for (size_t off = 0; off < m->len; off += DRV_CHUNK)
        da_dkim_sign_feed(s, m->data + off, m->len - off < DRV_CHUNK ? m->len - off : DRV_CHUNK);
}

static bool verify_buf(ctx *c, const unsigned char *data, size_t len, const char *prefix)
{
    char err[256];
    da_dkim_verify_options vo = {.now = c->now, .key_cache = c->key_cache};
    da_dkim_verify *v = da_dkim_verify_new(&vo, err, sizeof err);
    if (v == NULL)
        drv_die("da_dkim_verify_new", err);
    if (prefix != NULL) {
        da_dkim_verify_feed(v, prefix, strlen(prefix));
        da_dkim_verify_feed(v, "\r\n", 2);
    }
    for (size_t off = 0; off < len; off += DRV_CHUNK)
        da_dkim_verify_feed(v, data + off, len - off < DRV_CHUNK ? len - off : DRV_CHUNK);
    da_dkim_verify_finish(v);
    for (;;) {
        da_dkim_step st = da_dkim_verify_step(v);
        if (st.kind == DA_DKIM_STEP_DONE)
            break;
        if (st.kind == DA_DKIM_STEP_INPUT)
            drv_die("verifier asks for input after finish", NULL);
        for (size_t i = 0; i < st.count; i++)
            da_dkim_verify_answer(v, &st.questions[i], c->answer);
    }
    da_dkim_signature_info info;
    bool ok = da_dkim_verify_count(v) == 1 && da_dkim_verify_get(v, 0, &info) == 0 &&
              info.result == DA_DKIM_PASS;
    da_dkim_verify_free(v);
    return ok;
}

static bool one_sign(void *arg, const drv_msg *m)
{
    ctx *c = arg;
    char err[256];
    da_dkim_sign_options so = {
        .domain = "bench.example",
        .selector = selector(c->a),
        .key = c->key,
        .header_canon = DA_DKIM_RELAXED,
        .body_canon = DA_DKIM_RELAXED,
        .timestamp = c->now,
    };
    da_dkim_sign *s = da_dkim_sign_new(&so, err, sizeof err);
    if (s == NULL)
        drv_die("da_dkim_sign_new", err);
    feed_sign(s, m);
    char *sig = da_dkim_sign_finish(s, err, sizeof err);
    da_dkim_sign_free(s);
    if (sig == NULL)
        return false;
    free(c->last_sig);
    c->last_sig = sig;
    return true;
}

static bool one_verify(void *arg, const drv_msg *m)
{
    return verify_buf(arg, m->data, m->len, NULL);
}

/* Warm-up for sign: the signature must also verify. */
static bool one_sign_checked(void *arg, const drv_msg *m)
{
    ctx *c = arg;
    return one_sign(arg, m) && verify_buf(c, m->data, m->len, c->last_sig);
}

int main(int argc, char **argv)
{
    drv_args a;
    drv_parse(&a, argc, argv);
    ctx c = {.a = &a, .now = (int64_t)time(NULL)};
    const char *no_cache = getenv("DKIM_BENCH_NO_KEY_CACHE");
    if (no_cache == NULL || strcmp(no_cache, "1") != 0)
        c.key_cache = da_dkim_key_cache_new(0);
    char err[256];
    c.answer = da_dns_answer_new(DA_DNS_NOERROR, 300);
    if (c.answer == NULL ||
        da_dns_answer_add_text(c.answer, DA_DNS_TXT, a.record, strlen(a.record), 300) != 0)
        drv_die("cannot build the key answer", NULL);
    if (a.sign) {
        c.key = da_dkim_key_load(a.key, a.key_len, err, sizeof err);
        if (c.key == NULL)
            drv_die("da_dkim_key_load", err);
        for (size_t k = 0; k < a.nmsgs; k++)
            if (!one_sign_checked(&c, &a.msgs[k]))
                fprintf(stderr, "dkim bench: domauth's signature of %s does not verify\n",
                        a.msgs[k].path);
    }
    drv_run(&a, "domauth", a.sign ? one_sign : one_verify, &c);
    free(c.last_sig);
    da_dkim_key_free(c.key);
    da_dns_answer_free(c.answer);
    return 0;
}
