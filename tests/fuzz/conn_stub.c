/* conn_stub.c: see conn_stub.h. The connection functions follow
 * daemon/listen.c (the same reference counting, holding and resuming) with
 * the socket left out; config_ref_get/put and the key loading follow
 * daemon/main.c. */
#include "conn_stub.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/resolver.h"
#include "domauth_dkim.h"
#include "srs/srs.h"
#include "store/event.h"

void fuzz_check_failed(const char *what, const char *file, int line)
{
    fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
    abort();
}

/* ------------------------------------------------------------ the input */

bool fuzz_more(const fuzz_reader *r)
{
    return r->p < r->end;
}

uint8_t fuzz_byte(fuzz_reader *r)
{
    return r->p < r->end ? *r->p++ : 0;
}

uint32_t fuzz_u32(fuzz_reader *r)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v = v << 8 | fuzz_byte(r);
    return v;
}

size_t fuzz_bytes(fuzz_reader *r, const uint8_t **out)
{
    size_t n = fuzz_byte(r);
    if (n >= 0xF0)
        n = (n & 0x0F) << 8 | fuzz_byte(r);
    size_t left = (size_t)(r->end - r->p);
    if (n > left)
        n = left;
    *out = r->p;
    r->p += n;
    return n;
}

void fuzz_value(fuzz_reader *r, strbuf *sb, const char *const *canned, size_t n, bool no_nul)
{
    strbuf_clear(sb);
    uint8_t pick = fuzz_byte(r);
    if (pick < n) {
        strbuf_puts(sb, canned[pick]);
    } else {
        const uint8_t *b;
        size_t len = fuzz_bytes(r, &b);
        for (size_t i = 0; i < len; i++)
            if (!no_nul || b[i] != 0)
                strbuf_putc(sb, (char)b[i]);
    }
    if (sb->data == NULL)
        strbuf_puts(sb, ""); /* never NULL */
}

/* ------------------------------------------------------ daemon (main.c) */

bool fuzz_tracing(void)
{
    static int on = -1;
    if (on < 0)
        on = getenv("FUZZ_TRACE") != NULL;
    return on;
}

void daemon_log(int priority, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap); /* every argument is read */
    va_end(ap);
    if (fuzz_tracing())
        fprintf(stderr, "log %d: %s\n", priority, msg);
}

config_ref *config_ref_get(config_ref *ref)
{
    ref->refs++;
    return ref;
}

void config_ref_put(config_ref *ref)
{
    if (ref != NULL && --ref->refs == 0) {
        for (size_t i = 0; ref->dkim_keys && i < ref->config.dkim_key_count; i++)
            da_dkim_key_free(ref->dkim_keys[i]);
        free(ref->dkim_keys);
        srs_free(ref->srs);
        config_free(&ref->config);
        free(ref);
    }
}

/* A throwaway Ed25519 key made for these tests (domauth dkim keygen), as
 * its bare base64 seed: OpenSSL's PEM decoding would cost milliseconds per
 * input. Its public half is s1._domainkey.sign.test in the zone below. */
static const char sign_key_seed[] = "u2lDTfJCBz3l0JSXNxApWTEr6Mg4FJRdHcPXlo2Rua4=";

/* The configurations a session may run under: observe-only defaults,
 * enforcement at each reply stage, header From: identity, signing, per
 * domain sections, scores and thresholds, quarantines (no folder is open
 * here: a folder quarantine takes the quarantine_failure path, a hold goes
 * to the front end). */
static const char *const config_texts[FUZZ_CONFIG_COUNT] = {
    /* 0: the defaults */
    "[daemon]\nauthserv_id = mx.dest.test\n",
    /* 1: enforce at RCPT, HELO first, signing for sign.test */
    "[daemon]\nauthserv_id = mx.dest.test\n"
    "[hosts]\ntrusted = 10.0.0.0/8\nwhitelist = 192.0.2.200\n"
    "[dkim]\nkey = sign.test s1 /fuzz/sign.private\nfail_action = reject\npass_score = -2\n"
    "[policy]\nmonitor = no\ncheck_helo = yes\n"
    "[spf]\nsoftfail_action = defer\nneutral_tag_subject = yes\nneutral_tag = [NEUTRAL]\n"
    "[srs]\nsocketmap = unix:/fuzz/srs.sock\ndomain = fwd.test\nexclude_domains = dest.test\n",
    /* 2: enforce at MAIL, no DKIM, AUTH sessions checked too */
    "[daemon]\nreceiver = mx.dest.test\n"
    "[dkim]\nverify = no\nsign = no\n"
    "[policy]\nmonitor = no\nreply_stage = mail\nskip_authenticated = no\n"
    "[spf]\nfail_reply = 550 5.7.23 %{explanation} (%{ip}, %{sender})\n",
    /* 3: header From: identity, answered at DATA, tags and scores */
    "[daemon]\nauthserv_id = mx.dest.test\n"
    "[dkim]\nfail_action = reject\nnone_score = 1\n"
    "[policy]\nmonitor = no\nidentity = header_from\nreply_stage = data\n"
    "invalid_from_action = reject\nreject_threshold = 6\ndefer_threshold = 4\n"
    "quarantine_threshold = 2\n"
    "[spf]\nfail_action = accept\nfail_tag_subject = yes\nsoftfail_tag_subject = yes\n"
    "[srs]\nsocketmap = unix:/fuzz/srs.sock\ndomain = FWD.test\nseparator = +\nhash_length = 8\n"
    "hash_min_length = 6\nmax_age = 1\nexclude_domains = .pass.test other.test\n",
    /* 4: per-domain sections, a key for any domain, loopback checked */
    "[dkim]\nkey = * s1 /fuzz/sign.private\ncanonicalization = simple/simple\n"
    "sign_headers = From:Subject:To\n"
    "[policy]\ncheck_local = yes\nreceived_spf = no\nscore_header = X-Spam-Score\n"
    "[domain dest.test]\nmonitor = no\nreply_stage = mail\nspf_fail_action = defer\n"
    "spf_fail_reply = 451 4.7.23 %{explanation}\n"
    "[domain other.test]\nmonitor = no\nidentity = header_from\ndkim_pass_score = -3\n"
    "spf_softfail_action = reject\nspf_softfail_reply = 550 5.7.23 softfail for %{domain}\n"
    "spf_fail_action = quarantine\nquarantine_mode = hold\n",
    /* 5: monitor mode holding back what enforcement would do */
    "[daemon]\nauthserv_id = mx.dest.test\n"
    "[dkim]\nrsa_sha1 = neutral\npermerror_action = reject\ntemperror_action = defer\n"
    "[policy]\nauthentication_results = no\nremove_forged_authres = no\nscore_header =\n"
    "received_spf_skip_none = no\n"
    "[spf]\nnone_action = defer\nnone_reply = 451 4.7.23 no SPF record\npermerror_action = reject\ntemperror_tag_subject = yes\ntemperror_tag = [TEMP]\n",
    /* 6: signing only for AUTH sessions, thresholds at RCPT */
    "[daemon]\nauthserv_id = mx.dest.test\n"
    "[dkim]\nverify = no\nkey = sign.test s1 /fuzz/sign.private\n"
    "key = peer.test s2 /fuzz/sign.private\nsign_loopback = no\nsign_trusted = no\n"
    "[policy]\nmonitor = no\nreject_threshold = 2\n"
    "[spf]\nneutral_action = quarantine\nfail_action = quarantine\n"
    "[srs]\nsocketmap = inet:127.0.0.1:10003\ndomain = fwd.test\nseparator = -\n",
    /* 7: everything rejects, everything tags */
    "[daemon]\nauthserv_id = mx.dest.test\n"
    "[dkim]\nnone_action = reject\npass_tag_subject = yes\npass_tag = [DKIM]\n"
    "[policy]\nmonitor = no\ncheck_local = yes\nskip_trusted = no\n"
    "[spf]\npass_action = defer\npass_reply = 451 4.7.1 try again\nnone_action = reject\nneutral_action = reject\n"
    "pass_tag_subject = yes\npass_tag = [PASS]\nnone_tag_subject = yes\nnone_tag = [NONE]\n",
};

void (*fuzz_config_made)(config_ref *ref);

static config_ref *fuzz_config_new(unsigned variant)
{
    const char *text = config_texts[variant % FUZZ_CONFIG_COUNT];
    config_ref *ref = calloc(1, sizeof *ref);
    FUZZ_CHECK(ref != NULL && config_init(&ref->config) == 0);
    ref->refs = 1;
    char err[600];
    if (config_parse(&ref->config, "fuzz.conf", text, strlen(text), err, sizeof err) != 0) {
        fprintf(stderr, "built-in configuration %u: %s\n", variant % FUZZ_CONFIG_COUNT, err);
        abort();
    }
    domauth_config *cfg = &ref->config;
    if (cfg->dkim_key_count > 0) {
        ref->dkim_keys = calloc(cfg->dkim_key_count, sizeof *ref->dkim_keys);
        FUZZ_CHECK(ref->dkim_keys != NULL);
        for (size_t i = 0; i < cfg->dkim_key_count; i++) {
            ref->dkim_keys[i] = da_dkim_key_load(sign_key_seed, strlen(sign_key_seed), err,
                                                 sizeof err);
            FUZZ_CHECK(ref->dkim_keys[i] != NULL);
        }
    }
    snprintf(ref->host_name, sizeof ref->host_name, "host.dest.test");
    ref->svc = (svc_config){.config = cfg, .host_name = ref->host_name,
                            .dkim_keys = ref->dkim_keys};
    if (fuzz_config_made != NULL)
        fuzz_config_made(ref);
    return ref;
}

/* ------------------------------------------------------------- the zone */

static const char zone_text[] =
    "pass.test TXT \"v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all\"\n"
    "fail.test TXT \"v=spf1 -all exp=why.fail.test\"\n"
    "why.fail.test TXT \"%{i} is not one of %{d}'s hosts\"\n"
    "soft.test TXT \"v=spf1 ~all\"\n"
    "neutral.test TXT \"v=spf1 ?all\"\n"
    "inc.test TXT \"v=spf1 include:pass.test a:mx.inc.test mx ptr exists:%{ir}.e.inc.test -all\"\n"
    "inc.test MX 10 mx.inc.test\n"
    "mx.inc.test A 198.51.100.7\n"
    "mx.inc.test AAAA 2001:db8::25\n"
    "7.100.51.198.in-addr.arpa PTR mx.inc.test\n"
    "perm.test TXT \"v=spf1 frobnicate -all\"\n"
    "two.test TXT \"v=spf1 -all\"\n"
    "two.test TXT \"v=spf1 +all\"\n"
    "loop.test TXT \"v=spf1 include:loop.test\"\n"
    "redir.test TXT \"v=spf1 redirect=pass.test\"\n"
    "temp.test TIMEOUT\n"
    "broken.test SERVFAIL TXT\n"
    "mx.pass.test A 192.0.2.10\n"
    "mx.pass.test TXT \"v=spf1 a -all\"\n"
    "sign.test TXT \"v=spf1 ip4:192.0.2.0/24 -all\"\n"
    "s1._domainkey.sign.test TXT \"v=DKIM1; k=ed25519; "
    "p=s/eDJkqvLLmnqYpW6f9CdXkPos89FB8QrnaaPTi4rL8=\"\n"
    "revoked._domainkey.sign.test TXT \"v=DKIM1; k=ed25519; p=\"\n"
    "slow._domainkey.sign.test TIMEOUT\n"
    "peer.test TXT \"v=spf1 ip4:198.51.100.0/24 -all\"\n"
    "s1._domainkey.peer.test TXT \"v=DKIM1; k=rsa; "
    "p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAp3IiG90LFe7flj0XlkoHxDuooFo9mlMmB06yt2oR0xvn2"
    "eXYk9PYPbQNhyVMDoX/bqz2kWvKpB3NxxbSvG75kO31NyF1RkiHdTRW8uk0BISxMrFDOFSo1FJ2hnyIUOipawwE7pv8"
    "b9v1Ykqgm/FxXP/diWbbzTZeZ2psXC1aJb2h4KnwmlfOQOIyTvoeWFzFJ\" \"HQaRLJ/nZahWWzfRCRXz3tBXsE+65"
    "fzPKwSKoFRBRe2RiGfSsd8oWDelZ5IeOZCDGj4R0OKaX7xiN7sGO3kGEltWWPJgTWPUDhZRisOe/ANe2N1X44L5h2U"
    "+HZ5KA1EI2oX8tkGAZN6XoOg6eC3xwIDAQAB\"\n"
    "dest.test TXT \"v=spf1 mx -all\"\n";

static const da_zone *fuzz_zone(void)
{
    static da_zone *zone;
    if (zone == NULL) {
        char err[300];
        zone = da_zone_new();
        if (zone == NULL || da_zone_load_text(zone, zone_text, strlen(zone_text), err,
                                              sizeof err) != 0) {
            fprintf(stderr, "built-in zone: %s\n", err);
            abort();
        }
    }
    return zone;
}

/* ----------------------------------------------- the upstream resolver */

/* Like da_resolver_new_zone, but the questions out can be counted and
 * answered one by one in any order. */
typedef struct upstream_question {
    da_dns_question question;
    char name[256];
    da_resolver_callback callback;
    void *arg;
} upstream_question;

typedef struct fuzz_upstream {
    upstream_question *out;
    size_t count, cap;
} fuzz_upstream;

static int upstream_submit(void *impl, const da_dns_question *q, da_resolver_callback cb,
                           void *arg)
{
    fuzz_upstream *u = impl;
    if (u->count == u->cap) {
        size_t cap = u->cap ? u->cap * 2 : 16;
        upstream_question *n = realloc(u->out, cap * sizeof *n);
        FUZZ_CHECK(n != NULL);
        u->out = n;
        u->cap = cap;
    }
    upstream_question *p = &u->out[u->count++];
    snprintf(p->name, sizeof p->name, "%s", q->name);
    p->question = (da_dns_question){p->name, q->type};
    p->callback = cb;
    p->arg = arg;
    return 0;
}

static void upstream_answer(fuzz_upstream *u, size_t i)
{
    upstream_question q = u->out[i];
    memmove(&u->out[i], &u->out[i + 1], (u->count - i - 1) * sizeof *u->out);
    u->count--;
    q.question.name = q.name;
    da_dns_answer *a = da_zone_lookup(fuzz_zone(), &q.question);
    da_dns_answer fallback = {.status = DA_DNS_SERVFAIL};
    q.callback(q.arg, &q.question, a ? a : &fallback); /* may submit more */
    da_dns_answer_free(a);
}

/* The questions out now; those they lead to stay out. */
static int upstream_run(void *impl)
{
    fuzz_upstream *u = impl;
    for (size_t n = u->count; n > 0 && u->count > 0; n--)
        upstream_answer(u, 0);
    return 0;
}

static void upstream_destroy(void *impl)
{
    fuzz_upstream *u = impl;
    FUZZ_CHECK(u->count == 0); /* every question was answered */
    free(u->out);
    free(u);
}

static const resolver_ops upstream_ops = {
    .submit = upstream_submit, .run = upstream_run, .destroy = upstream_destroy};

/* ------------------------------------------------------ the environment */

static void touch(const char *s)
{
    if (s != NULL) {
        volatile size_t n = strlen(s);
        (void)n;
    }
}

static void json_to_strbuf(void *ctx, const char *bytes, size_t len)
{
    strbuf_append(ctx, bytes, len);
}

/* What the event log does with an event: a copy for its writer thread,
 * then the JSON line. Every string is read here, while the service still
 * owns them. */
static void on_event(void *ctx, const event_record *r)
{
    (void)ctx;
    FUZZ_CHECK(r->listener != NULL && r->action != NULL && r->mail_from != NULL);
    for (int f = 0; f < EVF_COUNT; f++)
        if (event_field_is_string(f))
            touch(event_field_string(r, f));
    for (size_t i = 0; i < r->result_count; i++) {
        FUZZ_CHECK(r->results[i].method != NULL && r->results[i].result != NULL);
        touch(r->results[i].domain);
        touch(r->results[i].detail);
        touch(r->results[i].reason);
        touch(r->results[i].props);
    }
    for (size_t i = 0; i < r->rcpt_count; i++) {
        FUZZ_CHECK(r->rcpts[i].address != NULL && r->rcpts[i].action != NULL);
        touch(r->rcpts[i].reply);
    }
    event_record *copy = event_record_copy(r, NULL);
    FUZZ_CHECK(copy != NULL);
    strbuf json;
    strbuf_init(&json);
    event_json_write(copy, -1, json_to_strbuf, &json);
    FUZZ_CHECK(!json.failed && json.len > 2 && json.data[0] == '{');
    if (fuzz_tracing())
        fprintf(stderr, "event: %s\n", json.data);
    strbuf_free(&json);
    free(copy);
}

void fuzz_env_open(fuzz_env *e, unsigned config_variant)
{
    memset(e, 0, sizeof *e);
    FUZZ_CHECK(uv_loop_init(&e->loop) == 0);
    domauthd *d = &e->d;
    d->loop = &e->loop;
    d->config_path = "fuzz.conf";
    d->config = fuzz_config_new(config_variant);
    e->repeat_budget = 4u << 20;
    e->upstream = calloc(1, sizeof *e->upstream);
    FUZZ_CHECK(e->upstream != NULL);
    d->upstream = resolver_wrap(&upstream_ops, e->upstream);
    da_dns_cache_options co = {.max_entries = 64};
    d->cache = da_dns_cache_new(&co);
    d->records = da_spf_record_cache_new(16);
    d->dkim_key_cache = da_dkim_key_cache_new(16);
    FUZZ_CHECK(d->upstream && d->cache && d->records && d->dkim_key_cache);
    d->resolver = da_resolver_new_cached(d->cache, d->upstream);
    FUZZ_CHECK(d->resolver != NULL);
    d->env = (svc_env){.loop = d->loop,
                       .resolver = d->resolver,
                       .records = d->records,
                       .dkim_key_cache = d->dkim_key_cache,
                       .counters = &d->counters,
                       .on_event = on_event,
                       .log = daemon_log};
}

unsigned fuzz_repeat(fuzz_env *e, uint8_t count, size_t unit_len)
{
    size_t n = count < 128 ? count + 1u : (count - 127u) * 30u;
    size_t most = e->repeat_budget < (3u << 19) ? e->repeat_budget : (3u << 19);
    if (unit_len > 0 && n * unit_len > most)
        n = most / unit_len;
    if (n == 0)
        n = 1;
    size_t used = n * unit_len;
    e->repeat_budget -= used < e->repeat_budget ? used : e->repeat_budget;
    return (unsigned)n;
}

void fuzz_env_reload(fuzz_env *e, unsigned config_variant)
{
    config_ref *previous = e->d.config;
    e->d.config = fuzz_config_new(config_variant);
    config_ref_put(previous); /* sessions that started under it keep it */
}

void fuzz_env_step(fuzz_env *e)
{
    da_resolver_run(e->d.upstream);
    uv_run(&e->loop, UV_RUN_NOWAIT);
}

void fuzz_env_answer_one(fuzz_env *e, unsigned pick)
{
    if (e->upstream->count > 0)
        upstream_answer(e->upstream, pick % e->upstream->count);
    uv_run(&e->loop, UV_RUN_NOWAIT);
}

void fuzz_env_settle(fuzz_env *e)
{
    /* Each round answers one level of questions (an include, then its
     * record, ...); an SPF check asks at most a few dozen. Then what they
     * closed goes on the loop's next turns. */
    for (int i = 0; i < 200 && e->upstream->count > 0; i++)
        fuzz_env_step(e);
    FUZZ_CHECK(e->upstream->count == 0);
    for (int i = 0; i < 3; i++)
        uv_run(&e->loop, UV_RUN_NOWAIT);
}

typedef struct timer_list {
    uv_timer_t *timers[256];
    size_t count;
} timer_list;

static void collect_timer(uv_handle_t *h, void *arg)
{
    timer_list *l = arg;
    if (h->type == UV_TIMER && uv_is_active(h) && !uv_is_closing(h) &&
        l->count < sizeof l->timers / sizeof l->timers[0])
        l->timers[l->count++] = (uv_timer_t *)h;
}

void fuzz_env_time_passes(fuzz_env *e)
{
    timer_list l = {.count = 0};
    uv_walk(&e->loop, collect_timer, &l);
    /* Each is due now; libuv runs them in its order. (timer_cb is a field
     * of the unix uv_timer_t; no public call gives it back.) */
    for (size_t i = 0; i < l.count; i++)
        uv_timer_start(l.timers[i], l.timers[i]->timer_cb, 0, 0);
    uv_run(&e->loop, UV_RUN_NOWAIT);
}

void fuzz_env_stop(fuzz_env *e)
{
    e->d.stopping = true;
}

static void print_handle(uv_handle_t *h, void *arg)
{
    (void)arg;
    fprintf(stderr, "  handle %p type %s active %d closing %d\n", (void *)h,
            uv_handle_type_name(h->type), uv_is_active(h), uv_is_closing(h));
}

void fuzz_env_close(fuzz_env *e)
{
    domauthd *d = &e->d;
    fuzz_env_settle(e);
    /* Every connection is closed and every question answered: nothing may
     * be left on the loop (a handle still there was never closed). */
    for (int i = 0; i < 10 && uv_loop_alive(&e->loop); i++)
        uv_run(&e->loop, UV_RUN_NOWAIT);
    if (uv_loop_alive(&e->loop)) {
        fprintf(stderr, "handles left on the loop after every session ended:\n");
        uv_walk(&e->loop, print_handle, NULL);
        abort();
    }
    da_resolver_free(d->resolver);
    da_resolver_free(d->upstream);
    da_dns_cache_free(d->cache);
    da_spf_record_cache_free(d->records);
    da_dkim_key_cache_free(d->dkim_key_cache);
    FUZZ_CHECK(uv_loop_close(&e->loop) == 0);
    FUZZ_CHECK(d->stats.sessions_active == 0);
    config_ref_put(d->config);
    memset(e, 0, sizeof *e);
}

/* ------------------------------------------------- connections (listen.c) */

static void on_conn_closed(uv_handle_t *handle)
{
    conn_unref(handle->data);
}

void conn_ref(conn *c)
{
    c->refs++;
}

void conn_unref(conn *c)
{
    FUZZ_CHECK(c->refs > 0);
    if (--c->refs > 0)
        return;
    fuzz_conn *fc = (fuzz_conn *)c;
    FUZZ_CHECK(c->state == NULL); /* on_close freed it */
    config_ref_put(c->config);
    free(c->held);
    strbuf_free(&fc->out);
    free(fc);
}

void conn_refresh_config(conn *c)
{
    if (c->config == c->daemon->config)
        return;
    config_ref *old = c->config;
    c->config = config_ref_get(c->daemon->config);
    config_ref_put(old);
}

void conn_close(conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    daemon_stats *st = &c->daemon->stats;
    st->sessions_active--;
    st->kind_sessions_active[c->kind]--;
    if (c->handler->on_close != NULL)
        c->handler->on_close(c);
    /* The socket's close, here only the timer's: the last reference goes
     * on the loop's next turn, as in listen.c. */
    uv_close((uv_handle_t *)&c->timer, on_conn_closed);
}

void conn_send(conn *c, const void *data, size_t len)
{
    if (c->closing || len == 0)
        return;
    fuzz_conn *fc = (fuzz_conn *)c;
    if (fc->sends_before_failure > 0 && --fc->sends_before_failure == 0) {
        conn_close(c);
        return;
    }
    size_t before = fc->out.len;
    strbuf_append(&fc->out, data, len);
    FUZZ_CHECK(!fc->out.failed);
    if (fc->check_output != NULL)
        fc->check_output(fc, (const uint8_t *)fc->out.data + before, len);
}

/* Every send here is written at once: nothing is left to wait for. */
void conn_close_when_written(conn *c)
{
    conn_close(c);
}

static void hold(conn *c, const uint8_t *data, size_t len)
{
    if (c->held_len + len > c->held_cap) {
        size_t cap = c->held_cap ? c->held_cap : 4096;
        while (cap < c->held_len + len)
            cap *= 2;
        uint8_t *n = realloc(c->held, cap);
        FUZZ_CHECK(n != NULL);
        c->held = n;
        c->held_cap = cap;
    }
    memcpy(c->held + c->held_len, data, len);
    c->held_len += len;
}

static void deliver(conn *c, const uint8_t *data, size_t len)
{
    while (len > 0 && !c->paused && !c->closing) {
        size_t used = c->handler->on_data(c, data, len);
        FUZZ_CHECK(used <= len);
        data += used;
        len -= used;
        if (used == 0 && !c->paused)
            break;
    }
    if (len > 0 && !c->closing)
        hold(c, data, len);
}

void conn_pause(conn *c)
{
    FUZZ_CHECK(!c->closing);
    c->paused = true;
}

void conn_resume(conn *c)
{
    if (c->closing || !c->paused)
        return;
    if (c->daemon->stopping) {
        /* The reply is queued; the session ends with it. */
        conn_close(c);
        return;
    }
    c->paused = false;
    conn_ref(c);
    while (c->held_len > 0 && !c->paused && !c->closing) {
        size_t len = c->held_len;
        uint8_t *data = c->held;
        c->held = NULL;
        c->held_len = c->held_cap = 0;
        deliver(c, data, len);
        free(data);
    }
    conn_unref(c);
}

fuzz_conn *fuzz_conn_open(fuzz_env *e, conn_kind kind, const conn_handler *handler)
{
    domauthd *d = &e->d;
    fuzz_conn *fc = calloc(1, sizeof *fc);
    FUZZ_CHECK(fc != NULL);
    conn *c = &fc->c;
    strbuf_init(&fc->out);
    c->daemon = d;
    c->kind = kind;
    c->refs = 1; /* released when the timer is closed (conn_close) */
    c->config = config_ref_get(d->config);
    c->handler = handler;
    snprintf(c->peer, sizeof c->peer, "fuzz");
    uv_timer_init(d->loop, &c->timer);
    c->timer.data = c;
    d->stats.connections++;
    d->stats.sessions_active++;
    d->stats.kind_sessions_active[kind]++;
    c->state = handler->state_new(c);
    FUZZ_CHECK(c->state != NULL);
    conn_ref(c); /* the caller's */
    return fc;
}

void fuzz_conn_read(fuzz_conn *fc, const uint8_t *data, size_t len)
{
    conn *c = &fc->c;
    if (c->closing || len == 0)
        return;
    conn_ref(c);
    if (c->paused || c->held_len > 0)
        hold(c, data, len);
    else
        deliver(c, data, len);
    conn_unref(c);
}

/* -------------------------------------------------- session targets */

static void session_open_conn(fuzz_session *s)
{
    s->fc = fuzz_conn_open(&s->env, s->kind, s->handler);
    if (s->opened != NULL)
        s->opened(s->fc);
    strbuf_clear(&s->wire);
    s->wire_sent = 0;
}

void fuzz_session_drop(fuzz_session *s)
{
    if (s->fc == NULL)
        return;
    conn_close(&s->fc->c);
    if (s->dropped != NULL)
        s->dropped(s->fc);
    conn_unref(&s->fc->c);
    s->fc = NULL;
}

/* The connection in use: a new one when the last was closed. */
static void session_current(fuzz_session *s)
{
    if (s->fc != NULL && s->fc->c.closing)
        fuzz_session_drop(s);
    if (s->fc == NULL)
        session_open_conn(s);
}

static size_t next_cut(fuzz_session *s)
{
    s->cut_state = s->cut_state * 1103515245u + 12345u;
    uint32_t r = s->cut_state >> 16;
    return (r & 3) == 0 ? 1 + (r >> 2) % 512 : 1 + (r >> 2) % 16;
}

void fuzz_session_flush(fuzz_session *s, bool all)
{
    while (s->fc != NULL && s->wire_sent < s->wire.len) {
        size_t left = s->wire.len - s->wire_sent;
        size_t n = s->cut_state == 0 ? left : next_cut(s);
        if (n > left) {
            if (!all)
                break;
            n = left;
        }
        fuzz_conn_read(s->fc, (const uint8_t *)s->wire.data + s->wire_sent, n);
        s->wire_sent += n;
        if (s->fc->c.closing)
            break;
    }
    if (s->wire_sent == s->wire.len || (s->fc != NULL && s->fc->c.closing)) {
        strbuf_clear(&s->wire);
        s->wire_sent = 0;
    }
}

void fuzz_session_op_run(fuzz_session *s, fuzz_session_op op)
{
    switch (op) {
    case FUZZ_OP_DNS:
        fuzz_session_flush(s, true);
        fuzz_env_step(&s->env);
        break;
    case FUZZ_OP_ANSWER:
        fuzz_session_flush(s, true);
        fuzz_env_answer_one(&s->env, fuzz_byte(&s->in));
        break;
    case FUZZ_OP_SETTLE:
        fuzz_session_flush(s, true);
        fuzz_env_settle(&s->env);
        break;
    case FUZZ_OP_TIME:
        fuzz_session_flush(s, true);
        fuzz_env_time_passes(&s->env);
        break;
    case FUZZ_OP_LOSE:
        fuzz_session_flush(s, false);
        fuzz_session_drop(s);
        break;
    case FUZZ_OP_RELOAD: fuzz_env_reload(&s->env, fuzz_byte(&s->in)); break;
    case FUZZ_OP_CUT: s->cut_state = fuzz_byte(&s->in); break;
    case FUZZ_OP_SEND_FAILS: s->fc->sends_before_failure = 1 + fuzz_byte(&s->in) % 4; break;
    case FUZZ_OP_STOP: /* an idle session closes now, a waiting one after its reply */
        fuzz_session_flush(s, false);
        fuzz_env_stop(&s->env);
        if (!s->fc->c.paused)
            conn_close(&s->fc->c);
        break;
    }
}

void fuzz_session_run(fuzz_session *s, const uint8_t *data, size_t size,
                      void (*run_op)(fuzz_session *s, uint8_t op))
{
    s->in = (fuzz_reader){data, data + size};
    strbuf_init(&s->wire);
    fuzz_env_open(&s->env, fuzz_byte(&s->in));
    while (fuzz_more(&s->in)) {
        if (s->env.d.stopping && (s->fc == NULL || s->fc->c.closing))
            break; /* no new connection once stopping */
        session_current(s);
        run_op(s, fuzz_byte(&s->in));
        fuzz_session_flush(s, false);
    }
    fuzz_session_flush(s, true);
    fuzz_env_settle(&s->env);
    fuzz_session_drop(s);
    fuzz_env_close(&s->env);
    strbuf_free(&s->wire);
}

/* ------------------------------------------------------- canned values */

/* Beyond RFC 5321's limits: a local-part of 70 bytes, labels of 63. */
#define LONG_LOCAL "llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllll"
#define LONG_LABEL "ddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"

#define LIST(name, ...)                                                                  \
    static const char *const name##_items[] = {__VA_ARGS__};                             \
    const fuzz_list name = {name##_items, sizeof name##_items / sizeof name##_items[0]}

LIST(fuzz_ips, "192.0.2.10", "198.51.100.7", "203.0.113.5", "127.0.0.1", "::1", "2001:db8::25",
     "10.1.2.3", "192.0.2.200", "::ffff:192.0.2.10", "not-an-ip", "", "2001:db8::g");
LIST(fuzz_client_names, "mx.pass.test", "unknown", "[192.0.2.10]", "localhost", "mx.inc.test");
LIST(fuzz_helos, "mx.pass.test", "mx.inc.test", "fail.test", "", "[192.0.2.10]", "localhost",
     "temp.test", "soft.test");
LIST(fuzz_senders, "a@pass.test", "b@fail.test", "c@soft.test", "d@neutral.test", "e@inc.test",
     "f@perm.test", "g@loop.test", "h@temp.test", "i@broken.test", "j@redir.test", "k@two.test",
     "a@sign.test", "carol@peer.test", "", "postmaster", "x@nonexistent.test",
     "\"quoted local\"@pass.test", "a@mx.pass.test", LONG_LOCAL "@fail.test",
     LONG_LOCAL "@" LONG_LABEL "." LONG_LABEL "." LONG_LABEL "." LONG_LABEL ".pass.test",
     LONG_LOCAL LONG_LOCAL LONG_LOCAL LONG_LOCAL LONG_LOCAL LONG_LOCAL LONG_LOCAL LONG_LOCAL
     LONG_LOCAL LONG_LOCAL LONG_LOCAL LONG_LOCAL LONG_LOCAL LONG_LOCAL LONG_LOCAL LONG_LOCAL
     "@soft.test");
LIST(fuzz_rcpts, "b@dest.test", "c@other.test", "d@sub.dest.test", "postmaster",
     "e@elsewhere.test", "", "dave@dest.test", "B@DEST.TEST", LONG_LOCAL "@dest.test");
LIST(fuzz_auth_users, "alice", "", "bob@dest.test");
LIST(fuzz_queue_ids, "4AbCdE1", "", "QUEUE2", "4AbCdE1");
LIST(fuzz_header_names, "From", "To", "Subject", "DKIM-Signature", "Authentication-Results",
     "X-Domauth-Score", "X-Spam-Score", "Date", "Received", "from", "Received-SPF", "Sender");
LIST(fuzz_bodies, "Hello.\r\n", "A signed hello.\r\n", "A tampered hello.\r\n", "",
     "line\r\n\r\n\r\n", "no final newline", "\r\n", "x", ".\r\n..\r\n", "trailing  \t\r\n");

/* A valid signature of From: Signer <a@sign.test>, To: b@dest.test,
 * Subject: hi and the body Hello. (the key above), and of the peer.test
 * message of tests/service/dkim_score.script. */
#define SIGN_TEST_SIG(selector)                                                          \
    "v=1; a=ed25519-sha256; c=relaxed/relaxed; d=sign.test; s=" selector ";\n"          \
    "\th=from:from:to:to:subject:subject:date;\n"                                        \
    "\tbh=yZQq1c8wjBl0fZ4Wc/oraMCAG1mZJv5v/hlvyFy+t6A=; b=Kr3YxWWLTjLhfQopk2KiPOzE\n"     \
    "\tflkbqMWhVxx2N5q36Bpx1tOTXsJJXnUKXGxpOeMzCprk2XPo16i8KJVbZ/dmAA=="

const fuzz_field fuzz_signed_fields[FUZZ_SIGNED_FIELDS] = {
    {"DKIM-Signature", SIGN_TEST_SIG("s1")},
    {"From", "Signer <a@sign.test>"},
    {"To", "b@dest.test"},
    {"Subject", "hi"}};
const char fuzz_signed_body[] = "Hello.\r\n";

LIST(values_from, "Signer <a@sign.test>", "a@pass.test", "Carol <carol@peer.test>",
     "Alice <alice@pass.test>, Mallory <m@fail.test>", "CEO <ceo@fail.test",
     "undisclosed-recipients:;", "\"q\\\"uoted\" <x@soft.test>", "a@b@c",
     "(comment) d@neutral.test", "", "g1: a@pass.test, b@fail.test;",
     "a@pass.test, b@soft.test, c@neutral.test, d@inc.test, e@fail.test");
LIST(values_to, "b@dest.test", "dave@dest.test", "");
LIST(values_subject, "hi", "signed hello", "*** FRAUD *** already", "=?UTF-8?B?w6k=?=", "",
     "a very long subject that goes on and on and on and on and on and on and on and on "
     "and on and on and on and on and on and on and on and on and on and on and on");
LIST(values_dkim, SIGN_TEST_SIG("s1"), SIGN_TEST_SIG("revoked"), SIGN_TEST_SIG("slow"),
     SIGN_TEST_SIG("nokey"),
     "v=1; a=rsa-sha256; c=relaxed/relaxed; d=peer.test; s=s1;\n"
     "\th=from:from:to:to:subject:subject:date;\n"
     "\tbh=Dulfr5bw3ydqwyHJLfoiRt5MQs41vEtL+oQhpkrY9Bg=; b=C1LCE7faDgllrikKnnP6OqPl\n"
     "\t4AK/edU9Ej6Zqdmq2OBbYzsSgTVMNDgX4CkRwEoYcC4wHj86t908aKs1gP1fYdf0/C0Poq/VnOA\n"
     "\thHjUR9+tMemR2Y7VKeeCE3xlg895LHxara9oMu6J/sMhb84a0iEFHSU9mIYpn40DzEs7B+IzIHG\n"
     "\taZ8LyaBAbRzqfgkJjwvGp1hb3tta8L2C6TYJO7flThZ8asQSUmu3q/RaA1o4QOEKR6DYO7C7fqw\n"
     "\tin/4o35FD9EXpdZQpX/sPRn5k9/heXnR7YWHJLNTzG48poZsyUY3RdkoYnu5z/pAh+v8t1yIM6Q\n"
     "\txvdOj7JhL0nSNBaCiw==",
     "v=1; a=rsa-sha256; d=peer.test; s=s1; h=from; bh=; b=", "garbage",
     "v=1; a=ed25519-sha256; d=sign.test; s=s1; h=subject; l=3; bh=AAAA; b=AAAA");
LIST(values_authres, "mx.dest.test; spf=pass smtp.mailfrom=a@pass.test", "other.test; dkim=pass",
     "mx.dest.test", "MX.DEST.TEST; none", "host.dest.test; spf=pass",
     "mx.dest.test (comment); dkim=fail", "");
LIST(values_score, "5.0", "-100", "garbage", "");
LIST(values_other, "Mon, 1 Jan 2024 00:00:00 +0000", "from x by y; Mon, 1 Jan 2024",
     "pass (mx.dest.test: domain of a@pass.test designates 192.0.2.10 as permitted sender)",
     "", "folded\n\tvalue\n\tover lines");

const fuzz_list *fuzz_header_values(size_t name_index)
{
    switch (name_index) {
    case 0: case 9: case 11: return &values_from;
    case 1: return &values_to;
    case 2: return &values_subject;
    case 3: return &values_dkim;
    case 4: return &values_authres;
    case 5: case 6: return &values_score;
    default: return &values_other;
    }
}

void fuzz_pick(fuzz_reader *r, strbuf *sb, const fuzz_list *list, bool no_nul)
{
    fuzz_value(r, sb, list->items, list->count, no_nul);
}

void fuzz_header(fuzz_reader *r, strbuf *name, strbuf *value)
{
    uint8_t pick = fuzz_byte(r);
    if (pick < fuzz_header_names.count) {
        strbuf_clear(name);
        strbuf_puts(name, fuzz_header_names.items[pick]);
        fuzz_pick(r, value, fuzz_header_values(pick), true);
    } else {
        r->p--; /* the byte is fuzz_value's selector: past the names, fuzzed */
        fuzz_value(r, name, NULL, 0, true);
        fuzz_pick(r, value, &values_other, true);
    }
}
