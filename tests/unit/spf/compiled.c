/* The compiled-policy differential test: every check is run twice over one
 * DNS cache, once by the walk (da_spf_request.walk_only) and once allowing
 * a compiled policy, and the two must agree on the result, the mechanism,
 * the explanation, the problem and the RFC 7208 counters. Over (a) the
 * openspf.org suites' scenarios, read in place from ../shared/conformance
 * (skipped when absent), with many client addresses each; (b) random
 * record worlds from a fixed seed (includes and redirects with cycles,
 * a/mx with cidr, ip4/ip6, exists, void lookups, DNS errors, limits near
 * their bounds); (c) a policy going stale: TTL expiry, eviction of an
 * answer it used, and another DNS cache behind the same record cache. The
 * share of checks a policy answered is printed and must not be nil, so
 * the comparison cannot pass by never compiling. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance/spf_yaml.h"
#include "dns/resolver.h"
#include "domauth.h"
#include "tap.h"

/* ------------------------------------------------------ the test bed */

/* An upstream that forwards to a zone resolver the test can swap, so the
 * DNS changes behind a cache that still holds the old answers. */
typedef struct switch_upstream {
    da_resolver *current;
} switch_upstream;

static int switch_submit(void *impl, const da_dns_question *q, da_resolver_callback cb, void *arg)
{
    return da_resolver_submit(((switch_upstream *)impl)->current, q, cb, arg);
}

static int switch_run(void *impl)
{
    return da_resolver_run(((switch_upstream *)impl)->current);
}

static void switch_destroy(void *impl)
{
    (void)impl;
}

static const resolver_ops switch_ops = {
    .submit = switch_submit, .run = switch_run, .destroy = switch_destroy};

typedef struct bed {
    switch_upstream sw;
    da_resolver *zone_resolver, *upstream, *resolver;
    da_dns_cache *cache;
    da_spf_record_cache *records;
    uint64_t now_ms;
} bed;

static uint64_t bed_clock(void *arg)
{
    return *(uint64_t *)arg;
}

static void bed_open(bed *b, const da_zone *zone, da_spf_record_cache *records, size_t max_entries,
                     uint32_t error_ttl)
{
    memset(b, 0, sizeof *b);
    b->now_ms = 1000000;
    b->zone_resolver = da_resolver_new_zone(zone);
    b->sw.current = b->zone_resolver;
    b->upstream = resolver_wrap(&switch_ops, &b->sw);
    da_dns_cache_options o = {.max_entries = max_entries, .error_ttl = error_ttl,
                              .clock = bed_clock, .clock_arg = &b->now_ms};
    b->cache = da_dns_cache_new(&o);
    b->resolver = da_resolver_new_cached(b->cache, b->upstream);
    b->records = records;
    if (b->zone_resolver == NULL || b->upstream == NULL || b->cache == NULL || b->resolver == NULL) {
        printf("Bail out! test bed setup failed\n");
        exit(2);
    }
}

static void bed_close(bed *b)
{
    da_resolver_free(b->resolver);
    da_dns_cache_free(b->cache);
    da_resolver_free(b->upstream);
    da_resolver_free(b->zone_resolver);
}

/* ------------------------------------------------------------ a check */

typedef struct limits {
    unsigned terms, voids, mx;
} limits;

typedef struct outcome {
    bool ran;
    da_spf_result result;
    char mechanism[600], explanation[1200], problem[600];
    bool has_mechanism, has_explanation, has_problem;
    unsigned terms, voids, queries;
} outcome;

static void on_done(void *arg, da_spf_eval *ev)
{
    (void)ev;
    *(bool *)arg = true;
}

static void copy_opt(char *out, size_t size, bool *has, const char *s)
{
    *has = s != NULL;
    snprintf(out, size, "%s", s ? s : "");
}

static void run_check(bed *b, const char *ip, const char *from, const char *helo,
                      const limits *lim, bool walk_only, outcome *o)
{
    memset(o, 0, sizeof *o);
    da_spf_request req = {.client_ip = ip, .mail_from = from, .helo = helo,
                          .receiver = "receiver.example.org", .now = 1400000000,
                          .records = b->records, .walk_only = walk_only};
    if (lim != NULL) {
        req.max_dns_terms = lim->terms;
        req.max_void_lookups = lim->voids;
        req.max_mx_names = lim->mx;
    }
    char err[256];
    da_spf_eval *ev = da_spf_eval_new(&req, err, sizeof err);
    if (ev == NULL)
        return;
    bool done = false;
    if (da_spf_eval_start(ev, b->resolver, on_done, &done) == 0)
        for (int round = 0; !done && round < 1000; round++)
            da_resolver_run(b->upstream);
    if (done) {
        o->ran = true;
        o->result = da_spf_eval_result(ev);
        copy_opt(o->mechanism, sizeof o->mechanism, &o->has_mechanism, da_spf_eval_mechanism(ev));
        copy_opt(o->explanation, sizeof o->explanation, &o->has_explanation,
                 da_spf_eval_explanation(ev));
        copy_opt(o->problem, sizeof o->problem, &o->has_problem, da_spf_eval_problem(ev));
        o->terms = da_spf_eval_dns_terms(ev);
        o->voids = da_spf_eval_void_lookups(ev);
        o->queries = da_spf_eval_queries(ev);
    }
    da_spf_eval_free(ev);
}

static bool same(const outcome *a, const outcome *b)
{
    return a->ran == b->ran && a->result == b->result && a->has_mechanism == b->has_mechanism &&
           strcmp(a->mechanism, b->mechanism) == 0 && a->has_explanation == b->has_explanation &&
           strcmp(a->explanation, b->explanation) == 0 && a->has_problem == b->has_problem &&
           strcmp(a->problem, b->problem) == 0 && a->terms == b->terms && a->voids == b->voids &&
           a->queries == b->queries;
}

static void print_outcome(const char *label, const outcome *o)
{
    printf("#     %-8s %s mech=%s%s exp=%s%s problem=%s%s terms=%u voids=%u queries=%u\n", label,
           o->ran ? da_spf_result_name(o->result) : "(did not run)",
           o->has_mechanism ? "" : "(null)", o->mechanism, o->has_explanation ? "" : "(null)",
           o->explanation, o->has_problem ? "" : "(null)", o->problem, o->terms, o->voids,
           o->queries);
}

typedef struct tally {
    unsigned checks, mismatches;
} tally;

/* The walk, then twice with compiled policies allowed (the first of those
 * may walk and compile): all three must agree. */
static void differ(bed *b, tally *t, const char *where, const char *ip, const char *from,
                   const char *helo, const limits *lim)
{
    outcome walk, first, second;
    run_check(b, ip, from, helo, lim, true, &walk);
    run_check(b, ip, from, helo, lim, false, &first);
    run_check(b, ip, from, helo, lim, false, &second);
    t->checks += 2;
    bool ok1 = same(&walk, &first), ok2 = same(&walk, &second);
    t->mismatches += !ok1 + !ok2;
    if ((!ok1 || !ok2) && t->mismatches <= 20) {
        printf("# mismatch in %s: ip %s from '%s' helo '%s'\n", where, ip, from ? from : "",
               helo ? helo : "");
        print_outcome("walk", &walk);
        print_outcome("first", &first);
        print_outcome("second", &second);
    }
}

static uint64_t answered(da_spf_record_cache *records)
{
    da_spf_compiled_stats st;
    da_spf_record_cache_compiled_stats(records, &st);
    return st.answered;
}

/* ------------------------------------------- (a) the conformance suites */

enum { MAX_IPS = 48 };

typedef struct ip_set {
    char ips[MAX_IPS][64];
    size_t count;
} ip_set;

static void ip_add(ip_set *s, const char *ip)
{
    if (ip == NULL || s->count == MAX_IPS)
        return;
    for (size_t i = 0; i < s->count; i++)
        if (strcmp(s->ips[i], ip) == 0)
            return;
    snprintf(s->ips[s->count++], sizeof s->ips[0], "%s", ip);
}

/* An address and its neighbour (last octet or group plus one). */
static void ip_add_near(ip_set *s, const char *ip)
{
    if (ip == NULL)
        return;
    ip_add(s, ip);
    unsigned char b[16];
    char text[64];
    if (inet_pton(AF_INET, ip, b) == 1) {
        b[3]++;
        ip_add(s, inet_ntop(AF_INET, b, text, sizeof text));
    } else if (inet_pton(AF_INET6, ip, b) == 1) {
        b[15]++;
        ip_add(s, inet_ntop(AF_INET6, b, text, sizeof text));
    }
}

/* Every A and AAAA value of the scenario's zonedata. */
static void zone_addresses(yaml_document_t *doc, yaml_node_t *zonedata, ip_set *s)
{
    if (zonedata == NULL || zonedata->type != YAML_MAPPING_NODE)
        return;
    for (yaml_node_pair_t *p = zonedata->data.mapping.pairs.start;
         p < zonedata->data.mapping.pairs.top; p++) {
        yaml_node_t *list = yaml_document_get_node(doc, p->value);
        if (list == NULL || list->type != YAML_SEQUENCE_NODE)
            continue;
        for (yaml_node_item_t *it = list->data.sequence.items.start;
             it < list->data.sequence.items.top; it++) {
            yaml_node_t *item = yaml_document_get_node(doc, *it);
            ip_add_near(s, map_str(doc, item, "A"));
            ip_add_near(s, map_str(doc, item, "AAAA"));
        }
    }
}

static void conformance_scenario(yaml_document_t *doc, da_spf_record_cache *records, tally *t,
                                 unsigned *scenarios)
{
    spf_scenario sc;
    if (!scenario_read(doc, &sc))
        return;
    const char *desc = sc.desc;
    yaml_node_t *tests = sc.tests, *zonedata = sc.zonedata;
    char why[512] = "";
    da_zone *zone = zone_build(doc, zonedata, why, sizeof why);
    if (zone == NULL)
        return;
    (*scenarios)++;
    ip_set ips = {.count = 0};
    for (yaml_node_pair_t *p = tests->data.mapping.pairs.start; p < tests->data.mapping.pairs.top;
         p++)
        ip_add_near(&ips, map_str(doc, yaml_document_get_node(doc, p->value), "host"));
    zone_addresses(doc, zonedata, &ips);
    static const char *const extra[] = {"192.0.2.1", "1.2.3.4", "10.0.0.1", "::1",
                                        "2001:db8::1", "::ffff:1.2.3.4", "255.255.255.255"};
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++)
        ip_add(&ips, extra[i]);
    /* Answers that fail are kept too (error_ttl), so their temperrors compile. */
    bed b;
    bed_open(&b, zone, records, 100000, 60);
    for (yaml_node_pair_t *p = tests->data.mapping.pairs.start; p < tests->data.mapping.pairs.top;
         p++) {
        const char *name = node_str(doc, yaml_document_get_node(doc, p->key));
        yaml_node_t *test = yaml_document_get_node(doc, p->value);
        char where[512];
        snprintf(where, sizeof where, "%s/%s", desc, name ? name : "?");
        const char *from = map_str(doc, test, "mailfrom"), *helo = map_str(doc, test, "helo");
        for (size_t i = 0; i < ips.count; i++)
            differ(&b, t, where, ips.ips[i], from, helo, NULL);
    }
    bed_close(&b);
    da_zone_free(zone);
}

static void conformance_part(void)
{
    const char *dir = getenv("DOMAUTH_CONFORMANCE");
    if (dir == NULL || dir[0] == '\0')
        dir = DOMAUTH_CONFORMANCE_DIR;
    static const char *const files[] = {"rfc7208-tests.yml", "rfc4408-tests.yml"};
    da_spf_record_cache *records = da_spf_record_cache_new(256);
    for (size_t f = 0; f < 2; f++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/spf/%s", dir, files[f]);
        FILE *in = fopen(path, "rb");
        if (in == NULL) {
            TAP_SKIP("conformance suite not found at %s", path);
            continue;
        }
        yaml_parser_t parser;
        yaml_parser_initialize(&parser);
        yaml_parser_set_input_file(&parser, in);
        tally t = {0};
        unsigned scenarios = 0;
        uint64_t before = answered(records);
        bool loaded = true;
        for (;;) {
            yaml_document_t doc;
            if (!yaml_parser_load(&parser, &doc)) {
                loaded = false;
                break;
            }
            if (yaml_document_get_root_node(&doc) == NULL) {
                yaml_document_delete(&doc);
                break;
            }
            conformance_scenario(&doc, records, &t, &scenarios);
            yaml_document_delete(&doc);
        }
        yaml_parser_delete(&parser);
        fclose(in);
        uint64_t by_policy = answered(records) - before;
        printf("# %s: %u scenarios, %u compiled-path checks, %" PRIu64
               " answered by a policy, %u mismatches\n",
               files[f], scenarios, t.checks, by_policy, t.mismatches);
        TAP_OK(loaded && scenarios > 0, "%s: the YAML loads", files[f]);
        TAP_OK(t.mismatches == 0, "%s: walk and compiled policies agree on %u checks", files[f],
               t.checks);
        TAP_OK(by_policy > t.checks / 4, "%s: policies answered %" PRIu64 " of them", files[f],
               by_policy);
    }
    da_spf_record_cache_free(records);
}

/* ------------------------------------------------- (b) random worlds */

static uint64_t rng = 0x7208c0ffee4408ull;

static unsigned rnd(unsigned n)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (unsigned)((rng * 2685821657736338717ull) >> 33) % n;
}

enum { DOMAINS = 10, HOSTS = 8, EXPS = 3 };

static void add_addr(da_zone *z, const char *name, bool v6, unsigned a, unsigned b)
{
    da_dns_rr rr = {.type = v6 ? DA_DNS_AAAA : DA_DNS_A};
    char text[64];
    if (v6)
        snprintf(text, sizeof text, "2001:db8::%x:%x", a, b);
    else
        snprintf(text, sizeof text, "10.0.%u.%u", a, b);
    inet_pton(v6 ? AF_INET6 : AF_INET, text, rr.addr);
    da_zone_add(z, name, &rr);
}

static void add_txt(da_zone *z, const char *name, const char *text)
{
    da_dns_rr rr = {.type = DA_DNS_TXT, .text = text, .text_len = strlen(text)};
    da_zone_add(z, name, &rr);
}

static void add_mx(da_zone *z, const char *name, unsigned pref, const char *host)
{
    da_dns_rr rr = {.type = DA_DNS_MX, .preference = (uint16_t)pref, .name = host};
    da_zone_add(z, name, &rr);
}

static const char *qualifier(void)
{
    static const char *const q[] = {"", "", "+", "-", "~", "?"};
    return q[rnd(6)];
}

/* One random term, appended to buf. */
static void random_term(char *buf, size_t size)
{
    size_t len = strlen(buf);
    char *out = buf + len;
    size_t room = size - len;
    static const unsigned cidr4[] = {8, 16, 24, 28, 30, 32};
    static const unsigned cidr6[] = {32, 64, 100, 112, 124, 128};
    const char *q = qualifier();
    switch (rnd(18)) {
    case 0:
    case 1:
        snprintf(out, room, " %sip4:10.0.%u.%u/%u", q, rnd(4), rnd(16), cidr4[rnd(6)]);
        break;
    case 2: snprintf(out, room, " %sip6:2001:db8::%x:0/%u", q, rnd(4), cidr6[rnd(6)]); break;
    case 3: snprintf(out, room, " %sa", q); break;
    case 4: snprintf(out, room, " %sa:h%u.test", q, rnd(HOSTS)); break;
    case 5:
        snprintf(out, room, " %sa:h%u.test/%u//%u", q, rnd(HOSTS), cidr4[rnd(6)], cidr6[rnd(6)]);
        break;
    case 6: snprintf(out, room, " %smx", q); break;
    case 7: snprintf(out, room, " %smx:d%u.test/%u", q, rnd(DOMAINS), cidr4[rnd(6)]); break;
    case 8:
    case 9:
    case 10: snprintf(out, room, " %sinclude:d%u.test", q, rnd(DOMAINS)); break;
    case 11: snprintf(out, room, " %sexists:h%u.test", q, rnd(HOSTS)); break;
    case 12: snprintf(out, room, " %sexists:%%{i}.x.test", q); break;
    case 13: snprintf(out, room, " %sa:nx%u.test", q, rnd(4)); break; /* void */
    case 14: snprintf(out, room, " %sinclude:nx%u.test", q, rnd(2)); break;
    case 15: snprintf(out, room, " %smx:nx%u.test", q, rnd(4)); break;
    case 16:
        if (rnd(2))
            snprintf(out, room, " %sa:%%{l}.h%u.test", q, rnd(HOSTS));
        else
            snprintf(out, room, " %sexists:%%{ir}.%%{v}.%%{d2}.x.test", q);
        break;
    default: snprintf(out, room, " %sptr:test", q); break;
    }
}

static da_zone *random_world(void)
{
    da_zone *z = da_zone_new();
    char name[64];
    for (unsigned h = 0; h < HOSTS; h++) {
        snprintf(name, sizeof name, "h%u.test", h);
        unsigned kind = rnd(10);
        if (kind == 0)
            continue; /* NXDOMAIN: void */
        if (kind == 1) {
            da_zone_add_failure(z, name, 0, DA_DNS_TIMEOUT);
            continue;
        }
        da_zone_add_name(z, name);
        for (unsigned i = rnd(3); i > 0; i--)
            add_addr(z, name, false, rnd(4), rnd(16));
        for (unsigned i = rnd(3); i > 0; i--)
            add_addr(z, name, true, rnd(4), rnd(16));
    }
    /* Names that exists:%{i}.x.test finds for some clients, or fails on. */
    for (unsigned i = 0; i < 8; i++) {
        char ip[64];
        unsigned a = rnd(4), b = rnd(16);
        snprintf(ip, sizeof ip, "10.0.%u.%u.x.test", a, b);
        if (i < 2)
            da_zone_add_failure(z, ip, 0, DA_DNS_TIMEOUT);
        else
            add_addr(z, ip, false, 9, 9);
        snprintf(ip, sizeof ip, "%u.%u.0.10.in-addr.d%u.test.x.test", b, a, rnd(DOMAINS));
        add_addr(z, ip, false, 9, 9);
    }
    static const char *const exps[] = {
        "%{i} is not one of %{d}'s servers", "no: %{s} via %{c} at %{h} (%{l}@%{o}) %{v} %{r}",
        "plain words", "bad %{q macro", "%{ir}.%{l1r-} %% %_ %-"};
    for (unsigned e = 0; e < EXPS; e++) {
        snprintf(name, sizeof name, "e%u.test", e);
        unsigned kind = rnd(6);
        if (kind == 0)
            continue;
        if (kind == 1) {
            da_zone_add_failure(z, name, DA_DNS_TXT, DA_DNS_TIMEOUT);
            continue;
        }
        add_txt(z, name, exps[rnd(5)]);
        if (kind == 2)
            add_txt(z, name, exps[rnd(5)]); /* two: the default explanation */
    }
    for (unsigned d = 0; d < DOMAINS; d++) {
        snprintf(name, sizeof name, "d%u.test", d);
        unsigned kind = rnd(20);
        da_zone_add_name(z, name);
        /* MX hosts: some domains list more than the limit allows. */
        unsigned mx = kind == 3 ? 11 + rnd(3) : rnd(4);
        for (unsigned i = 0; i < mx; i++) {
            char host[64];
            snprintf(host, sizeof host, "h%u.test", rnd(HOSTS));
            add_mx(z, name, rnd(3) * 10, host);
        }
        if (kind == 0)
            continue; /* no SPF record */
        if (kind == 1) {
            da_zone_add_failure(z, name, DA_DNS_TXT, DA_DNS_TIMEOUT);
            continue;
        }
        if (kind == 2) {
            add_txt(z, name, "v=spf1 ip4:10.0.0.0/16 -all");
            add_txt(z, name, "v=spf1 ~all"); /* two records: permerror */
            continue;
        }
        if (kind == 4) {
            add_txt(z, name, "v=spf1 ip4:10.0.300.1 -all"); /* syntax error */
            continue;
        }
        add_addr(z, name, rnd(2), rnd(4), rnd(16));
        char rec[1024] = "v=spf1";
        for (unsigned i = 1 + rnd(6); i > 0; i--)
            random_term(rec, sizeof rec);
        unsigned tail = rnd(10);
        size_t len = strlen(rec);
        if (tail < 3)
            snprintf(rec + len, sizeof rec - len, " redirect=d%u.test", rnd(DOMAINS));
        else if (tail < 8)
            snprintf(rec + len, sizeof rec - len, " %sall", qualifier());
        len = strlen(rec);
        unsigned e = rnd(10);
        if (e < 4)
            snprintf(rec + len, sizeof rec - len, " exp=e%u.test", rnd(EXPS + 1));
        else if (e == 4)
            snprintf(rec + len, sizeof rec - len, " exp=%%{d}.e0.test");
        add_txt(z, name, rec);
        if (rnd(8) == 0)
            add_txt(z, name, "not an spf record");
    }
    return z;
}

static void random_ip(char *out, size_t size)
{
    switch (rnd(8)) {
    case 0: snprintf(out, size, "192.0.2.%u", rnd(256)); break;
    case 1: snprintf(out, size, "::ffff:10.0.%u.%u", rnd(4), rnd(16)); break;
    case 2:
    case 3: snprintf(out, size, "2001:db8::%x:%x", rnd(4), rnd(16)); break;
    default: snprintf(out, size, "10.0.%u.%u", rnd(4), rnd(16)); break;
    }
}

static void random_part(void)
{
    enum { WORLDS = 120, IPS = 10 };
    da_spf_record_cache *records = da_spf_record_cache_new(0);
    tally t = {0};
    uint64_t before = answered(records);
    for (unsigned w = 0; w < WORLDS; w++) {
        da_zone *z = random_world();
        /* Some worlds with tighter limits, so they strike more often. */
        limits lim = {0, 0, 0};
        if (rnd(3) == 0)
            lim = (limits){3 + rnd(8), 1 + rnd(3), 2 + rnd(9)};
        bed b;
        bed_open(&b, z, records, 100000, rnd(2) ? 60 : 0);
        for (unsigned d = 0; d < DOMAINS; d++) {
            char from[64], helo[64], where[64];
            snprintf(from, sizeof from, "%s@d%u.test", rnd(4) ? "user" : "", d);
            snprintf(helo, sizeof helo, "h%u.test", rnd(HOSTS));
            snprintf(where, sizeof where, "world %u domain d%u.test", w, d);
            for (unsigned i = 0; i < IPS; i++) {
                char ip[64];
                random_ip(ip, sizeof ip);
                differ(&b, &t, where, ip, from, helo, lim.terms ? &lim : NULL);
            }
        }
        bed_close(&b);
        da_zone_free(z);
    }
    uint64_t by_policy = answered(records) - before;
    da_spf_compiled_stats st;
    da_spf_record_cache_compiled_stats(records, &st);
    printf("# random worlds: %u compiled-path checks, %" PRIu64 " answered by a policy, %" PRIu64
           " fell back, %" PRIu64 " compiles, %" PRIu64 " declined, %u mismatches\n",
           t.checks, by_policy, st.fallbacks, st.compiles, st.declined, t.mismatches);
    TAP_OK(t.mismatches == 0, "random worlds: walk and compiled policies agree on %u checks",
           t.checks);
    TAP_OK(by_policy > t.checks / 4, "random worlds: policies answered %" PRIu64 " of them",
           by_policy);
    da_spf_record_cache_free(records);
}

/* ------------------------------------------------- (c) going stale */

static da_zone *zone_of(const char *text)
{
    da_zone *z = da_zone_new();
    char err[256];
    if (da_zone_load_text(z, text, strlen(text), err, sizeof err) != 0) {
        printf("Bail out! zone: %s\n", err);
        exit(2);
    }
    return z;
}

/* One check with policies allowed, then the walk: they agree, the result
 * is want (unless want is -1), and a policy answered or not as said. */
static void check_is(bed *b, const char *ip, int want, bool want_policy, const char *what)
{
    uint64_t before = answered(b->records);
    outcome walk, compiled;
    run_check(b, ip, "user@d.test", "h.test", NULL, false, &compiled);
    bool by_policy = answered(b->records) > before;
    run_check(b, ip, "user@d.test", "h.test", NULL, true, &walk);
    bool ok = compiled.ran && (want < 0 || compiled.result == (da_spf_result)want) &&
              same(&walk, &compiled) && by_policy == want_policy;
    TAP_OK(ok, "%s", what);
    if (!ok) {
        printf("#   want %s, %s policy; by policy: %d\n",
               want < 0 ? "any" : da_spf_result_name((da_spf_result)want),
               want_policy ? "from a" : "not from a", by_policy);
        print_outcome("walk", &walk);
        print_outcome("compiled", &compiled);
    }
}

static void ignore_answer(void *arg, const da_dns_question *q, const da_dns_answer *a)
{
    (void)arg;
    (void)q;
    (void)a;
}

static uint64_t invalidated(da_spf_record_cache *records)
{
    da_spf_compiled_stats st;
    da_spf_record_cache_compiled_stats(records, &st);
    return st.invalidated;
}

static void stale_part(void)
{
    da_zone *old_zone = zone_of("d.test TXT \"v=spf1 mx:d.test a:h.test -all\"\n"
                                "d.test MX 10 mx.test\n"
                                "mx.test A 10.0.0.1\n"
                                "h.test A 10.0.0.2\n");
    da_zone *new_zone = zone_of("d.test TXT \"v=spf1 -all\"\n"
                                "d.test MX 10 mx.test\n"
                                "mx.test A 10.0.0.9\n"
                                "h.test A 10.0.0.8\n"
                                "other.test A 10.9.9.9\n");
    da_resolver *new_resolver = da_resolver_new_zone(new_zone);
    da_spf_record_cache *records = da_spf_record_cache_new(0);

    /* TTL expiry: the zone's answers live 3600 s. */
    bed b;
    bed_open(&b, old_zone, records, 100, 0);
    check_is(&b, "10.0.0.1", DA_SPF_PASS, false, "expiry: the first check walks (and compiles)");
    check_is(&b, "10.0.0.1", DA_SPF_PASS, true, "expiry: the next one is the policy's (mx)");
    check_is(&b, "10.0.0.2", DA_SPF_PASS, true, "expiry: so is another client's (a)");
    check_is(&b, "10.0.0.3", DA_SPF_FAIL, true, "expiry: and a fail with its explanation");
    check_is(&b, "2001:db8::1", DA_SPF_FAIL, false, "expiry: IPv6 clients have their own policy");
    check_is(&b, "2001:db8::1", DA_SPF_FAIL, true, "expiry: which answers the next one");
    b.sw.current = new_resolver; /* the DNS changes; the cache still holds the old answers */
    check_is(&b, "10.0.0.1", DA_SPF_PASS, true, "expiry: within the TTL the cached answers hold");
    b.now_ms += 3599 * 1000;
    check_is(&b, "10.0.0.1", DA_SPF_PASS, true, "expiry: one second before the TTL still");
    b.now_ms += 1000;
    uint64_t dropped = invalidated(records);
    check_is(&b, "10.0.0.1", DA_SPF_FAIL, false, "expiry: at the TTL the policy is not used");
    TAP_OK(invalidated(records) > dropped, "expiry: the stale policy was dropped");
    check_is(&b, "10.0.0.1", DA_SPF_FAIL, true, "expiry: the new record compiles in its turn");

    /* Another DNS cache behind the same record cache never sees the
     * first cache's policy. */
    bed other;
    bed_open(&other, old_zone, records, 100, 0);
    other.sw.current = new_resolver;
    check_is(&other, "10.0.0.1", DA_SPF_FAIL, false,
             "another DNS cache: the first cache's policy does not apply");
    bed_close(&other);
    bed_close(&b);

    /* Eviction: a cache of 4 entries (the policy's TXT, MX and two
     * addresses) drops one of them for a fifth answer, long before expiry. */
    bed_open(&b, old_zone, records, 4, 0);
    check_is(&b, "10.0.0.3", DA_SPF_FAIL, false, "eviction: the first check walks (and compiles)");
    check_is(&b, "10.0.0.1", DA_SPF_PASS, true, "eviction: the next one is the policy's");
    b.sw.current = new_resolver;
    dropped = invalidated(records);
    da_dns_question q = {"other.test", DA_DNS_A};
    da_resolver_submit(b.resolver, &q, ignore_answer, NULL);
    da_resolver_run(b.upstream);
    da_dns_cache_stats cs;
    da_dns_cache_get_stats(b.cache, &cs);
    TAP_OK(cs.evictions > 0, "eviction: the fifth answer evicted one");
    check_is(&b, "10.0.0.1", -1, false, "eviction: the policy is not used after it");
    TAP_OK(invalidated(records) > dropped, "eviction: the policy was dropped");
    bed_close(&b);

    da_resolver_free(new_resolver);
    da_spf_record_cache_free(records);
    da_zone_free(old_zone);
    da_zone_free(new_zone);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    stale_part();
    random_part();
    conformance_part();
    return tap_done();
}
