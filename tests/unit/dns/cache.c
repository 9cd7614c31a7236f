/* Unit tests for the DNS cache and the asynchronous evaluation driver, with
 * an injected clock and a fake upstream that answers only when told to:
 * TTL floors and ceilings, negative caching, coalescing, LRU eviction,
 * freeing with questions in flight, deadlines (abort) and shared records. */
#include <stdlib.h>
#include <string.h>

#include "dns/resolver.h"
#include "domauth.h"
#include "tap.h"

/* ---- a fake upstream: remembers questions, answers on demand ---- */

typedef struct pending {
    char name[256];
    da_dns_type type;
    da_resolver_callback callback;
    void *arg;
} pending;

typedef struct fake_upstream {
    pending items[64];
    size_t count;
    unsigned submitted;
} fake_upstream;

static int fake_submit(void *impl, const da_dns_question *q, da_resolver_callback cb, void *arg)
{
    fake_upstream *f = impl;
    if (f->count == 64)
        return -1;
    pending *p = &f->items[f->count++];
    snprintf(p->name, sizeof p->name, "%s", q->name);
    p->type = q->type;
    p->callback = cb;
    p->arg = arg;
    f->submitted++;
    return 0;
}

static int fake_run(void *impl)
{
    (void)impl;
    return 0;
}

static void fake_destroy(void *impl)
{
    (void)impl;
}

static const resolver_ops fake_ops = {
    .submit = fake_submit, .run = fake_run, .destroy = fake_destroy};

/* Answers the oldest pending question with the given answer. */
static bool fake_answer_next(fake_upstream *f, const da_dns_answer *a)
{
    if (f->count == 0)
        return false;
    pending p = f->items[0];
    memmove(f->items, f->items + 1, (f->count - 1) * sizeof *f->items);
    f->count--;
    da_dns_question q = {p.name, p.type};
    p.callback(p.arg, &q, a);
    return true;
}

/* Answers the pending question for (name, type). */
static bool fake_answer_named(fake_upstream *f, const char *name, da_dns_type type,
                              const da_dns_answer *a)
{
    for (size_t i = 0; i < f->count; i++) {
        if (f->items[i].type != type || strcmp(f->items[i].name, name) != 0)
            continue;
        pending p = f->items[i];
        memmove(f->items + i, f->items + i + 1, (f->count - i - 1) * sizeof *f->items);
        f->count--;
        da_dns_question q = {p.name, p.type};
        p.callback(p.arg, &q, a);
        return true;
    }
    return false;
}

/* ---- a clock the test moves ---- */

static uint64_t fake_now_ms;
static uint64_t fake_clock(void *arg)
{
    (void)arg;
    return fake_now_ms;
}

/* ---- a callback that records what it heard ---- */

typedef struct heard {
    int calls;
    da_dns_status status;
    size_t count;
} heard;

static void on_heard(void *arg, const da_dns_question *q, const da_dns_answer *a)
{
    (void)q;
    heard *h = arg;
    h->calls++;
    h->status = a->status;
    h->count = a->count;
}

static da_dns_answer *txt_answer(const char *text, uint32_t ttl)
{
    da_dns_answer *a = da_dns_answer_new(DA_DNS_NOERROR, ttl);
    da_dns_answer_add_text(a, DA_DNS_TXT, text, strlen(text), ttl);
    return a;
}

static void ask(da_resolver *r, const char *name, heard *h)
{
    da_dns_question q = {name, DA_DNS_TXT};
    da_resolver_submit(r, &q, on_heard, h);
}

static void cache_tests(void)
{
    fake_upstream up = {0};
    da_resolver *upstream = resolver_wrap(&fake_ops, &up);
    da_dns_cache_options opt = {.min_ttl = 10, .max_ttl = 100, .max_negative_ttl = 30,
                                .max_entries = 3, .clock = fake_clock};
    da_dns_cache *cache = da_dns_cache_new(&opt);
    da_resolver *r = da_resolver_new_cached(cache, upstream);
    da_dns_cache_stats st;

    /* Miss, then a hit answered inside submit. */
    heard h1 = {0}, h2 = {0};
    ask(r, "a.example", &h1);
    TAP_OK(up.submitted == 1 && h1.calls == 0, "a miss goes upstream and waits");
    da_dns_answer *a = txt_answer("v=spf1 -all", 50);
    fake_answer_next(&up, a);
    TAP_OK(h1.calls == 1 && h1.count == 1, "the waiter hears the upstream answer");
    ask(r, "A.EXAMPLE.", &h2);
    TAP_OK(h2.calls == 1 && up.submitted == 1, "same name in other case and with a dot: a hit");

    /* Expiry at the TTL (50 s, inside floor and ceiling). */
    fake_now_ms += 49999;
    heard h3 = {0};
    ask(r, "a.example", &h3);
    TAP_OK(h3.calls == 1 && up.submitted == 1, "still cached just before the TTL");
    fake_now_ms += 2;
    heard h4 = {0};
    ask(r, "a.example", &h4);
    TAP_OK(h4.calls == 0 && up.submitted == 2, "expired at the TTL: asked again");
    fake_answer_next(&up, a);
    da_dns_answer_free(a);

    /* Floor and ceiling. */
    heard hf = {0}, hc = {0};
    ask(r, "floor.example", &hf);
    a = txt_answer("x", 1);
    fake_answer_next(&up, a);
    da_dns_answer_free(a);
    ask(r, "ceiling.example", &hc);
    a = txt_answer("y", 100000);
    fake_answer_next(&up, a);
    da_dns_answer_free(a);
    fake_now_ms += 9000;
    unsigned before = up.submitted;
    heard hx = {0};
    ask(r, "floor.example", &hx);
    TAP_OK(hx.calls == 1 && up.submitted == before, "a 1 s TTL is kept for the 10 s floor");
    fake_now_ms += 92000; /* 101 s after storing */
    ask(r, "ceiling.example", &hx);
    TAP_OK(up.submitted == before + 1, "a day-long TTL is cut to the 100 s ceiling");
    da_dns_answer *nx = da_dns_answer_new(DA_DNS_NXDOMAIN, 600);
    fake_answer_next(&up, nx);

    /* Negative caching: NXDOMAIN and NODATA, capped at 30 s. */
    heard hn = {0};
    ask(r, "gone.example", &hn);
    fake_answer_next(&up, nx);
    da_dns_answer_free(nx);
    before = up.submitted;
    fake_now_ms += 29000;
    heard hn2 = {0};
    ask(r, "gone.example", &hn2);
    TAP_OK(hn2.calls == 1 && hn2.status == DA_DNS_NXDOMAIN && up.submitted == before,
           "NXDOMAIN is cached (RFC 2308)");
    fake_now_ms += 2000;
    heard hn3 = {0};
    ask(r, "gone.example", &hn3);
    TAP_OK(up.submitted == before + 1, "negative TTL capped at 30 s");
    da_dns_answer *nodata = da_dns_answer_new(DA_DNS_NOERROR, 20);
    fake_answer_next(&up, nodata);
    da_dns_answer_free(nodata);
    heard hn4 = {0};
    ask(r, "gone.example", &hn4);
    TAP_OK(hn4.calls == 1 && hn4.status == DA_DNS_NOERROR && hn4.count == 0,
           "NODATA is cached too");

    /* Errors are not kept by default. */
    heard he = {0}, he2 = {0};
    ask(r, "broken.example", &he);
    da_dns_answer *sf = da_dns_answer_new(DA_DNS_SERVFAIL, 0);
    fake_answer_next(&up, sf);
    before = up.submitted;
    ask(r, "broken.example", &he2);
    TAP_OK(he.status == DA_DNS_SERVFAIL && up.submitted == before + 1,
           "SERVFAIL is not cached (error_ttl 0)");
    fake_answer_next(&up, sf);
    da_dns_cache_get_stats(cache, &st);
    TAP_OK(st.upstream_errors == 2, "upstream errors counted (%llu)",
           (unsigned long long)st.upstream_errors);

    /* Coalescing: three askers, one upstream question. */
    heard c1 = {0}, c2 = {0}, c3 = {0};
    before = up.submitted;
    ask(r, "burst.example", &c1);
    ask(r, "burst.example", &c2);
    ask(r, "Burst.Example", &c3);
    da_dns_cache_get_stats(cache, &st);
    TAP_OK(up.submitted == before + 1 && st.coalesced == 2 && st.in_flight == 1,
           "a burst for one name costs one upstream query");
    a = txt_answer("z", 60);
    fake_answer_next(&up, a);
    da_dns_answer_free(a);
    TAP_OK(c1.calls == 1 && c2.calls == 1 && c3.calls == 1, "every coalesced asker hears");

    /* LRU: max 3 entries; touching one keeps it. */
    da_dns_cache_get_stats(cache, &st);
    uint64_t evictions = st.evictions;
    TAP_OK(st.entries <= 3, "never more than max_entries (%zu)", st.entries);
    heard hl = {0};
    ask(r, "burst.example", &hl); /* most recent */
    const char *fresh[] = {"n1.example", "n2.example"};
    for (int i = 0; i < 2; i++) {
        heard hh = {0};
        ask(r, fresh[i], &hh);
        a = txt_answer("n", 60);
        fake_answer_next(&up, a);
        da_dns_answer_free(a);
    }
    da_dns_cache_get_stats(cache, &st);
    before = up.submitted;
    heard hb = {0};
    ask(r, "burst.example", &hb);
    TAP_OK(st.evictions > evictions && hb.calls == 1 && up.submitted == before,
           "least recently used entries go first; a touched one stays");

    /* Freeing the cache with a question in flight: the waiter hears SERVFAIL
     * now, and the late upstream answer is harmless. */
    heard hw = {0};
    ask(r, "late.example", &hw);
    da_resolver_free(r);
    da_dns_cache_free(cache);
    TAP_OK(hw.calls == 1 && hw.status == DA_DNS_SERVFAIL, "a waiter hears SERVFAIL when the cache goes");
    a = txt_answer("late", 60);
    TAP_OK(fake_answer_next(&up, a) && hw.calls == 1, "a late upstream answer is dropped safely");
    da_dns_answer_free(a);
    da_dns_answer_free(sf);
    da_resolver_free(upstream);
}

/* ---- the cap on questions sent upstream at once ---- */

static void upstream_cap_tests(void)
{
    fake_upstream up = {0};
    da_resolver *upstream = resolver_wrap(&fake_ops, &up);
    da_dns_cache_options opt = {.max_upstream = 2, .clock = fake_clock};
    da_dns_cache *cache = da_dns_cache_new(&opt);
    da_resolver *r = da_resolver_new_cached(cache, upstream);
    heard h[4] = {{0}};
    const char *names[] = {"q1.example", "q2.example", "q3.example", "q4.example"};
    for (int i = 0; i < 4; i++)
        ask(r, names[i], &h[i]);
    da_dns_cache_stats st;
    da_dns_cache_get_stats(cache, &st);
    TAP_OK(up.submitted == 2 && st.queued == 2 && st.in_flight == 4,
           "only max_upstream questions go out; the rest wait (%u sent, %zu queued)",
           up.submitted, st.queued);
    da_dns_answer *a = txt_answer("x", 60);
    fake_answer_next(&up, a);
    TAP_OK(h[0].calls == 1 && up.submitted == 3, "an answer frees a slot for the next question");
    fake_answer_next(&up, a);
    fake_answer_next(&up, a);
    fake_answer_next(&up, a);
    TAP_OK(h[1].calls == 1 && h[2].calls == 1 && h[3].calls == 1 && up.submitted == 4,
           "every queued question is asked and answered in turn");
    /* Freeing with questions queued: their waiters hear, nothing leaks. */
    heard late[3] = {{0}};
    ask(r, "l1.example", &late[0]);
    ask(r, "l2.example", &late[1]);
    ask(r, "l3.example", &late[2]);
    da_resolver_free(r);
    da_dns_cache_free(cache);
    TAP_OK(late[0].calls == 1 && late[1].calls == 1 && late[2].calls == 1 &&
               late[2].status == DA_DNS_SERVFAIL,
           "queued questions are answered SERVFAIL when the cache goes");
    while (fake_answer_next(&up, a))
        ;
    da_dns_answer_free(a);
    da_resolver_free(upstream);
}

/* ---- the asynchronous evaluation driver ---- */

typedef struct finished {
    int calls;
    da_spf_result result;
    bool free_inside;
} finished;

static void on_finished(void *arg, da_spf_eval *ev)
{
    finished *f = arg;
    f->calls++;
    f->result = da_spf_eval_result(ev);
    if (f->free_inside)
        da_spf_eval_free(ev);
}

static da_spf_eval *new_eval(const char *ip, const char *from, da_spf_record_cache *records)
{
    char err[128];
    da_spf_request req = {.client_ip = ip, .mail_from = from, .helo = "h.example",
                          .records = records};
    return da_spf_eval_new(&req, err, sizeof err);
}

static void async_tests(void)
{
    fake_upstream up = {0};
    da_resolver *upstream = resolver_wrap(&fake_ops, &up);

    /* Answers arrive later, one by one; done fires once, with the result. */
    finished f = {0};
    da_spf_eval *ev = new_eval("192.0.2.1", "u@a.example", NULL);
    da_spf_eval_start(ev, upstream, on_finished, &f);
    TAP_OK(f.calls == 0 && up.count == 1, "start asks and returns without a result");
    da_dns_answer *a = txt_answer("v=spf1 ip4:192.0.2.0/24 -all", 60);
    fake_answer_next(&up, a);
    da_dns_answer_free(a);
    TAP_OK(f.calls == 1 && f.result == DA_SPF_PASS, "done fires once with pass");
    da_spf_eval_free(ev);

    /* Freed inside done while a prefetch is still out: the late answer must
     * not touch freed memory (ASan would say so). */
    finished g = {.free_inside = true};
    ev = new_eval("192.0.2.1", "u@b.example", NULL);
    da_spf_eval_start(ev, upstream, on_finished, &g);
    a = txt_answer("v=spf1 a include:other.example -all", 60);
    fake_answer_next(&up, a);
    da_dns_answer_free(a);
    TAP_OK(up.count == 2, "the a lookup and the include prefetch go out together (%zu)",
           up.count);
    da_dns_answer *addr = da_dns_answer_new(DA_DNS_NOERROR, 60);
    da_dns_answer_add_addr(addr, DA_DNS_A, (const uint8_t[4]){192, 0, 2, 1}, 60);
    fake_answer_named(&up, "b.example", DA_DNS_A, addr);
    da_dns_answer_free(addr);
    TAP_OK(g.calls == 1 && g.result == DA_SPF_PASS && up.count == 1,
           "a match finishes while the include prefetch is still out");
    a = txt_answer("v=spf1 -all", 60);
    TAP_OK(fake_answer_named(&up, "other.example", DA_DNS_TXT, a),
           "the late prefetch answer is absorbed after free");
    da_dns_answer_free(a);

    /* Abort (a deadline): temperror now; later answers are ignored. */
    finished h = {0};
    ev = new_eval("192.0.2.1", "u@slow.example", NULL);
    da_spf_eval_start(ev, upstream, on_finished, &h);
    da_spf_eval_abort(ev, "deadline");
    TAP_OK(h.calls == 1 && h.result == DA_SPF_TEMPERROR, "abort gives temperror at once");
    TAP_STR_EQ(da_spf_eval_problem(ev), "deadline", "abort's reason is the problem");
    da_spf_eval_free(ev);
    a = txt_answer("v=spf1 +all", 60);
    fake_answer_next(&up, a);
    da_dns_answer_free(a);
    TAP_OK(h.calls == 1, "an answer after abort changes nothing");

    /* Shared parsed records: two domains with the same record text. */
    da_spf_record_cache *records = da_spf_record_cache_new(1);
    finished r1 = {0}, r2 = {0};
    da_spf_eval *e1 = new_eval("192.0.2.9", "u@one.example", records);
    da_spf_eval *e2 = new_eval("192.0.2.9", "u@two.example", records);
    da_spf_eval_start(e1, upstream, on_finished, &r1);
    da_spf_eval_start(e2, upstream, on_finished, &r2);
    a = txt_answer("v=spf1 ip4:192.0.2.9 -all", 60);
    fake_answer_next(&up, a);
    /* A different record now evicts the first from the 1-entry cache while
     * e1 still holds it. */
    da_spf_eval *e3 = new_eval("192.0.2.9", "u@three.example", records);
    finished r3 = {0};
    da_spf_eval_start(e3, upstream, on_finished, &r3);
    fake_answer_next(&up, a);
    da_dns_answer *b = txt_answer("v=spf1 -all", 60);
    fake_answer_next(&up, b);
    da_dns_answer_free(a);
    da_dns_answer_free(b);
    uint64_t hits, parses;
    da_spf_record_cache_stats(records, &hits, &parses);
    TAP_OK(r1.result == DA_SPF_PASS && r2.result == DA_SPF_PASS && r3.result == DA_SPF_FAIL,
           "results right with shared records");
    TAP_OK(parses == 2 && hits == 1, "same text parsed once (parses %llu, hits %llu)",
           (unsigned long long)parses, (unsigned long long)hits);
    da_spf_record_cache_free(records); /* e1..e3 still hold references */
    TAP_STR_EQ(da_spf_eval_mechanism(e1), "ip4:192.0.2.9", "a record outlives its cache");
    da_spf_eval_free(e1);
    da_spf_eval_free(e2);
    da_spf_eval_free(e3);
    da_resolver_free(upstream);
}

int main(void)
{
    cache_tests();
    upstream_cap_tests();
    async_tests();
    return tap_done();
}
