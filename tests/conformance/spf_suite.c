/* spf_suite.c: runs the openspf.org SPF conformance suites (rfc7208-tests.yml,
 * rfc4408-tests.yml, kept in ../shared/conformance/spf) through the in-memory
 * zone and prints TAP. It reads the YAML in place and copies none of it. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "domauth.h"
#include "spf_yaml.h"

/* RFC 4408 suite tests whose expectations RFC 7208 changed. Each entry is
 * the test name and why its 4408 expectation no longer holds. Keep it short:
 * every line here hides a test. Empty for now: where RFC 7208 changed an
 * answer (SPF-type records, void lookups, the MX limit, the undefined results
 * for invalid domains) the 4408 suite already accepts it in a result list. */
typedef struct skip_entry {
    const char *test;
    const char *reason;
} skip_entry;

static const skip_entry rfc4408_skips[] = {
    {NULL, NULL},
};

/* The receiver name for %{r}; only the permerror test exp-only-macro-char
 * uses %{r} (in a domain-spec, where it is an error), so any value works. */
#define SUITE_RECEIVER "receiver.example.org"
#define SUITE_NOW 1400000000 /* %{t}: no test depends on it */

enum { MAX_STEPS = 10000, MAX_EXPECT = 8 };

typedef struct options {
    const char *dir;
    const char *only;   /* run only tests whose name or full path contains this */
    bool verbose;       /* print traces for passing tests too */
} options;

typedef struct suite_counts {
    const char *file;
    int passed, failed, skipped;
} suite_counts;

/* Test-program state: plain globals are fine here. */
static int tap_number;
static int total_failed;

/* The zone plus the suite's rule that an absent name starting with "error."
 * times out. Sets *hit_error_rule when it applied. */
static da_dns_answer *suite_lookup(const da_zone *zone, const da_dns_question *q,
                                   bool *hit_error_rule)
{
    da_dns_answer *a = da_zone_lookup(zone, q);
    if (a != NULL && a->status == DA_DNS_NXDOMAIN && strncasecmp(q->name, "error.", 6) == 0) {
        da_dns_answer_free(a);
        *hit_error_rule = true;
        return da_dns_answer_new(DA_DNS_TIMEOUT, 0);
    }
    return a;
}

/* ------------------------------------------------------------ one test */

typedef struct outcome {
    bool ok_run;            /* the evaluation finished */
    char result[16];
    char *explanation;      /* malloc'd copy or NULL */
    char problem[512];
    char *trace;            /* malloc'd text of the trace */
    bool hit_error_rule;
} outcome;

static void outcome_free(outcome *o)
{
    free(o->explanation);
    free(o->trace);
    memset(o, 0, sizeof *o);
}

static char *trace_text(const da_spf_eval *ev)
{
    static const char *const kinds[] = {"record", "term", "query", "limit", "result", "note"};
    size_t n = da_spf_eval_trace_count(ev);
    size_t cap = 256, len = 0;
    char *buf = malloc(cap);
    if (buf == NULL)
        return NULL;
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const da_spf_trace_event *e = da_spf_eval_trace_get(ev, i);
        if (e == NULL)
            continue;
        const char *kind = (unsigned)e->kind < sizeof kinds / sizeof kinds[0]
                               ? kinds[e->kind]
                               : "?";
        const char *text = e->text ? e->text : "";
        size_t need = strlen(text) + 2 * e->depth + 40;
        if (len + need >= cap) {
            while (len + need >= cap)
                cap *= 2;
            char *p = realloc(buf, cap);
            if (p == NULL)
                break;
            buf = p;
        }
        len += (size_t)snprintf(buf + len, cap - len, "#     %*s%-6s %s\n", (int)(2 * e->depth),
                                "", kind, text);
    }
    return buf;
}

static void outcome_collect(outcome *o, const da_spf_eval *ev)
{
    o->ok_run = true;
    snprintf(o->result, sizeof o->result, "%s", da_spf_result_name(da_spf_eval_result(ev)));
    const char *exp = da_spf_eval_explanation(ev);
    o->explanation = exp ? strdup(exp) : NULL;
    const char *problem = da_spf_eval_problem(ev);
    snprintf(o->problem, sizeof o->problem, "%s", problem ? problem : "");
    o->trace = trace_text(ev);
}

static void fill_request(da_spf_request *req, yaml_document_t *doc, yaml_node_t *t)
{
    memset(req, 0, sizeof *req);
    req->client_ip = map_str(doc, t, "host");
    req->mail_from = map_str(doc, t, "mailfrom");
    req->helo = map_str(doc, t, "helo");
    req->receiver = SUITE_RECEIVER;
    req->now = SUITE_NOW;
    req->trace = true; /* printed when a test fails */
}

/* Drives the evaluation step by step, answering from the zone. */
static void run_stepwise(const da_zone *zone, const da_spf_request *req, outcome *o)
{
    char err[256] = "";
    da_spf_eval *ev = da_spf_eval_new(req, err, sizeof err);
    if (ev == NULL) {
        snprintf(o->problem, sizeof o->problem, "da_spf_eval_new: %s", err);
        return;
    }
    int steps = 0;
    for (;;) {
        da_spf_step s = da_spf_eval_step(ev);
        if (s.kind == DA_SPF_STEP_DONE) {
            outcome_collect(o, ev);
            break;
        }
        if (s.count == 0 || ++steps > MAX_STEPS) {
            snprintf(o->problem, sizeof o->problem,
                     s.count == 0 ? "step asked no questions and is not done"
                                  : "more than %d steps",
                     MAX_STEPS);
            o->trace = trace_text(ev);
            break;
        }
        /* Copy the questions: answering may change the engine's list. */
        size_t n = s.count;
        da_dns_question *qs = calloc(n, sizeof *qs);
        char(*names)[256] = calloc(n, sizeof *names);
        if (qs == NULL || names == NULL) {
            free(qs);
            free(names);
            snprintf(o->problem, sizeof o->problem, "out of memory");
            break;
        }
        for (size_t i = 0; i < n; i++) {
            snprintf(names[i], sizeof names[i], "%s", s.questions[i].name);
            qs[i].name = names[i];
            qs[i].type = s.questions[i].type;
        }
        for (size_t i = 0; i < n; i++) {
            da_dns_answer *a = suite_lookup(zone, &qs[i], &o->hit_error_rule);
            da_dns_answer fallback = {.status = DA_DNS_SERVFAIL};
            da_spf_eval_answer(ev, &qs[i], a ? a : &fallback);
            da_dns_answer_free(a);
        }
        free(qs);
        free(names);
    }
    da_spf_eval_free(ev);
}

/* Runs the evaluation through the zone resolver and da_spf_eval_run. */
static void run_resolver(const da_zone *zone, const da_spf_request *req, outcome *o)
{
    char err[256] = "";
    da_resolver *r = da_resolver_new_zone(zone);
    if (r == NULL) {
        snprintf(o->problem, sizeof o->problem, "da_resolver_new_zone failed");
        return;
    }
    da_spf_eval *ev = da_spf_eval_new(req, err, sizeof err);
    if (ev == NULL) {
        snprintf(o->problem, sizeof o->problem, "da_spf_eval_new: %s", err);
    } else if (da_spf_eval_run(ev, r) != 0) {
        snprintf(o->problem, sizeof o->problem, "da_spf_eval_run failed");
        o->trace = trace_text(ev);
    } else {
        outcome_collect(o, ev);
    }
    da_spf_eval_free(ev);
    da_resolver_free(r);
}

static void on_async_done(void *arg, da_spf_eval *ev)
{
    (void)ev;
    *(bool *)arg = true;
}

/* Runs the evaluation asynchronously (da_spf_eval_start) through a DNS cache
 * shared by the scenario's tests and a parsed-record cache shared by the
 * whole suite, so hits, coalescing and shared records are exercised too. */
static void run_async(const da_zone *zone, da_dns_cache *cache, da_spf_record_cache *records,
                      const da_spf_request *req, outcome *o)
{
    char err[256] = "";
    da_resolver *zr = da_resolver_new_zone(zone);
    da_resolver *cr = zr ? da_resolver_new_cached(cache, zr) : NULL;
    da_spf_request shared = *req;
    shared.records = records;
    da_spf_eval *ev = cr ? da_spf_eval_new(&shared, err, sizeof err) : NULL;
    bool done = false;
    if (ev == NULL) {
        snprintf(o->problem, sizeof o->problem, "async setup failed: %s", err);
    } else if (da_spf_eval_start(ev, cr, on_async_done, &done) != 0) {
        snprintf(o->problem, sizeof o->problem, "da_spf_eval_start failed");
    } else {
        for (int round = 0; !done && round < MAX_STEPS; round++)
            da_resolver_run(zr);
        if (done)
            outcome_collect(o, ev);
        else
            snprintf(o->problem, sizeof o->problem, "async evaluation never finished");
    }
    da_spf_eval_free(ev);
    da_resolver_free(cr);
    da_resolver_free(zr);
}

/* ------------------------------------------------------- expectations */

static const char *canonical_result(const char *word)
{
    if (strcasecmp(word, "unknown") == 0)
        return "permerror";
    if (strcasecmp(word, "error") == 0)
        return "temperror";
    return word;
}

typedef struct expectation {
    const char *results[MAX_EXPECT];
    size_t count;
    const char *explanation; /* NULL: not checked; "DEFAULT": see below */
} expectation;

static void expectation_read(expectation *e, yaml_document_t *doc, yaml_node_t *t)
{
    memset(e, 0, sizeof *e);
    yaml_node_t *r = map_get(doc, t, "result");
    if (r != NULL && r->type == YAML_SCALAR_NODE) {
        e->results[e->count++] = canonical_result(node_str(doc, r));
    } else if (r != NULL && r->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = r->data.sequence.items.start;
             it < r->data.sequence.items.top && e->count < MAX_EXPECT; it++) {
            const char *w = node_str(doc, yaml_document_get_node(doc, *it));
            if (w != NULL)
                e->results[e->count++] = canonical_result(w);
        }
    }
    e->explanation = map_str(doc, t, "explanation");
}

/* "DEFAULT" in the suite stands for the implementation's own default
 * explanation (pyspf's driver sets its default to the word DEFAULT). We
 * cannot set ours, so DEFAULT passes when the explanation was not taken
 * from an exp= record: it must not equal any TXT text of the scenario, nor
 * begin with the literal text before the first macro of one (8+ chars). */
static bool explanation_is_default(const char *got, yaml_document_t *doc,
                                   yaml_node_t *zonedata, char *why, size_t why_size)
{
    if (got == NULL || zonedata == NULL || zonedata->type != YAML_MAPPING_NODE)
        return true;
    for (yaml_node_pair_t *p = zonedata->data.mapping.pairs.start;
         p < zonedata->data.mapping.pairs.top; p++) {
        yaml_node_t *list = yaml_document_get_node(doc, p->value);
        if (list == NULL || list->type != YAML_SEQUENCE_NODE)
            continue;
        for (yaml_node_item_t *it = list->data.sequence.items.start;
             it < list->data.sequence.items.top; it++) {
            yaml_node_t *v = map_get(doc, yaml_document_get_node(doc, *it), "TXT");
            if (v == NULL)
                continue;
            size_t len;
            char *text = text_value(doc, v, &len);
            if (text == NULL)
                continue;
            const char *pct = strchr(text, '%');
            size_t prefix = pct ? (size_t)(pct - text) : len;
            bool same = strcmp(got, text) == 0 ||
                        (pct != NULL && prefix >= 8 && strncmp(got, text, prefix) == 0);
            if (same)
                snprintf(why, why_size, "explanation comes from the TXT record '%s'", text);
            free(text);
            if (same)
                return false;
        }
    }
    return true;
}

static bool check_outcome(const outcome *o, const expectation *e, yaml_document_t *doc,
                          yaml_node_t *zonedata, char *why, size_t why_size)
{
    if (!o->ok_run) {
        snprintf(why, why_size, "evaluation did not finish: %.400s", o->problem);
        return false;
    }
    bool result_ok = false;
    for (size_t i = 0; i < e->count; i++)
        if (strcasecmp(o->result, e->results[i]) == 0)
            result_ok = true;
    if (!result_ok) {
        snprintf(why, why_size, "wrong result");
        return false;
    }
    if (e->explanation == NULL)
        return true;
    /* Explanations exist only for fail; with another acceptable result
     * there is nothing to compare. */
    if (strcmp(o->result, "fail") != 0)
        return true;
    if (strcmp(e->explanation, "DEFAULT") == 0)
        return explanation_is_default(o->explanation, doc, zonedata, why, why_size);
    if (o->explanation == NULL || strcmp(o->explanation, e->explanation) != 0) {
        snprintf(why, why_size, "wrong explanation");
        return false;
    }
    return true;
}

static void print_expected(const expectation *e)
{
    printf("#   want result: ");
    for (size_t i = 0; i < e->count; i++)
        printf("%s%s", i ? " or " : "", e->results[i]);
    printf("\n");
    if (e->explanation != NULL)
        printf("#   want explanation: '%s'\n", e->explanation);
}

static void print_outcome(const outcome *o, const char *label)
{
    printf("#   got result%s: %s\n", label, o->ok_run ? o->result : "(none)");
    printf("#   got explanation%s: %s%s%s\n", label, o->explanation ? "'" : "",
           o->explanation ? o->explanation : "(null)", o->explanation ? "'" : "");
    if (o->problem[0] != '\0')
        printf("#   problem: %s\n", o->problem);
    if (o->trace != NULL && o->trace[0] != '\0')
        printf("#   trace%s:\n%s", label, o->trace);
}

static void tap_line(bool ok, const char *path, const char *skip_reason)
{
    tap_number++;
    if (skip_reason != NULL)
        printf("ok %d - %s # SKIP %s\n", tap_number, path, skip_reason);
    else
        printf("%s %d - %s\n", ok ? "ok" : "not ok", tap_number, path);
    if (!ok && skip_reason == NULL)
        total_failed++;
}

static void print_test_info(yaml_document_t *doc, yaml_node_t *t)
{
    const char *mailfrom = map_str(doc, t, "mailfrom"), *helo = map_str(doc, t, "helo"),
               *host = map_str(doc, t, "host");
    printf("#   mailfrom '%s' helo '%s' host %s\n", mailfrom ? mailfrom : "", helo ? helo : "",
           host ? host : "");
    const char *spec = map_str(doc, t, "spec");
    if (spec != NULL)
        printf("#   spec %s\n", spec);
}

/* ------------------------------------------------------------ a suite */

static const char *skip_reason_for(const char *suite, const char *test)
{
    if (strcmp(suite, "rfc4408") != 0)
        return NULL;
    for (size_t i = 0; rfc4408_skips[i].test != NULL; i++)
        if (strcmp(rfc4408_skips[i].test, test) == 0)
            return rfc4408_skips[i].reason;
    return NULL;
}

static void run_scenario(const options *opt, const char *suite, yaml_document_t *doc,
                         suite_counts *counts, suite_counts *resolver_counts,
                         suite_counts *async_counts, da_spf_record_cache *records)
{
    spf_scenario sc;
    if (!scenario_read(doc, &sc))
        return;
    const char *desc = sc.desc;
    yaml_node_t *tests = sc.tests, *zonedata = sc.zonedata;
    char why[512] = "";
    da_zone *zone = zone_build(doc, zonedata, why, sizeof why);
    /* One DNS cache per scenario: its tests share one zone, so later tests
     * of a scenario are answered from cache. */
    da_dns_cache *cache = da_dns_cache_new(NULL);
    for (yaml_node_pair_t *p = tests->data.mapping.pairs.start; p < tests->data.mapping.pairs.top;
         p++) {
        const char *name = node_str(doc, yaml_document_get_node(doc, p->key));
        yaml_node_t *t = yaml_document_get_node(doc, p->value);
        if (name == NULL || t == NULL)
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s/%s", suite, desc, name);
        if (opt->only != NULL && strcmp(opt->only, name) != 0 && strstr(path, opt->only) == NULL)
            continue;
        const char *skip = skip_reason_for(suite, name);
        if (skip != NULL) {
            tap_line(true, path, skip);
            counts->skipped++;
            continue;
        }
        if (zone == NULL) {
            tap_line(false, path, NULL);
            printf("#   zonedata could not be loaded: %s\n", why);
            counts->failed++;
            continue;
        }
        expectation e;
        expectation_read(&e, doc, t);
        da_spf_request req;
        fill_request(&req, doc, t);

        outcome step = {0};
        run_stepwise(zone, &req, &step);
        char reason[512] = "";
        bool ok = check_outcome(&step, &e, doc, zonedata, reason, sizeof reason);
        tap_line(ok, path, NULL);
        if (ok)
            counts->passed++;
        else
            counts->failed++;
        if (!ok || opt->verbose) {
            if (!ok)
                printf("#   %s\n", reason);
            print_test_info(doc, t);
            print_expected(&e);
            print_outcome(&step, "");
        }

        /* Two more drivers for the RFC 7208 suite, which must agree with
         * the step driver: da_resolver_new_zone + da_spf_eval_run, and the
         * asynchronous da_spf_eval_start behind the DNS and record caches. */
        if (strcmp(suite, "rfc7208") == 0) {
            for (int driver = 0; driver < 2; driver++) {
                const char *label = driver == 0 ? "resolver" : "async";
                suite_counts *dc = driver == 0 ? resolver_counts : async_counts;
                char rpath[512];
                snprintf(rpath, sizeof rpath, "%s-%s/%s/%s", suite, label, desc, name);
                if (step.hit_error_rule) {
                    tap_line(true, rpath, "uses the error.* timeout rule, which the zone "
                                          "resolver cannot apply");
                    dc->skipped++;
                    continue;
                }
                outcome res = {0};
                if (driver == 0)
                    run_resolver(zone, &req, &res);
                else
                    run_async(zone, cache, records, &req, &res);
                char rreason[512] = "";
                bool rok = check_outcome(&res, &e, doc, zonedata, rreason, sizeof rreason);
                bool agree = res.ok_run == step.ok_run &&
                             strcmp(res.result, step.result) == 0 &&
                             ((res.explanation == NULL && step.explanation == NULL) ||
                              (res.explanation != NULL && step.explanation != NULL &&
                               strcmp(res.explanation, step.explanation) == 0));
                if (rok && !agree)
                    snprintf(rreason, sizeof rreason, "%s driver disagrees with the step driver",
                             label);
                tap_line(rok && agree, rpath, NULL);
                if (rok && agree)
                    dc->passed++;
                else
                    dc->failed++;
                if (!(rok && agree) || opt->verbose) {
                    if (!(rok && agree))
                        printf("#   %s\n", rreason);
                    print_test_info(doc, t);
                    print_expected(&e);
                    char paren[32];
                    snprintf(paren, sizeof paren, " (%s)", label);
                    print_outcome(&res, paren);
                    printf("#   step driver: %s, explanation %s\n",
                           step.ok_run ? step.result : "(none)",
                           step.explanation ? step.explanation : "(null)");
                }
                outcome_free(&res);
            }
        }
        outcome_free(&step);
    }
    da_dns_cache_free(cache);
    da_zone_free(zone);
}

static int run_suite(const options *opt, const char *suite, const char *path,
                     suite_counts *counts, suite_counts *resolver_counts,
                     suite_counts *async_counts, da_spf_record_cache *records)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        printf("# cannot open %s\n", path);
        return -1;
    }
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        fclose(f);
        return -1;
    }
    yaml_parser_set_input_file(&parser, f);
    int rc = 0;
    for (;;) {
        yaml_document_t doc;
        if (!yaml_parser_load(&parser, &doc)) {
            printf("# %s: YAML error: %s (line %zu)\n", path,
                   parser.problem ? parser.problem : "?", parser.problem_mark.line + 1);
            rc = -1;
            break;
        }
        if (yaml_document_get_root_node(&doc) == NULL) {
            yaml_document_delete(&doc);
            break;
        }
        run_scenario(opt, suite, &doc, counts, resolver_counts, async_counts, records);
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
    fclose(f);
    return rc;
}

static void usage(FILE *out, const char *prog)
{
    fprintf(out,
            "usage: %s [-v] [-t TEST] [DIR]\n"
            "  DIR      the conformance directory holding spf/*.yml\n"
            "           (default: $DOMAUTH_CONFORMANCE, else ../shared/conformance)\n"
            "  -t TEST  run only tests whose name is TEST or whose path contains it\n"
            "  -v       print details and traces for passing tests too\n",
            prog);
}

static bool file_exists(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return false;
    fclose(f);
    return true;
}

int main(int argc, char **argv)
{
    options opt = {0};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0) {
            opt.verbose = true;
        } else if ((strcmp(argv[i], "-t") == 0 || strcmp(argv[i], "--test") == 0) &&
                   i + 1 < argc) {
            opt.only = argv[++i];
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout, argv[0]);
            return 0;
        } else if (argv[i][0] == '-') {
            usage(stderr, argv[0]);
            return 2;
        } else {
            opt.dir = argv[i];
        }
    }
    if (opt.dir == NULL)
        opt.dir = getenv("DOMAUTH_CONFORMANCE");
    if (opt.dir == NULL || opt.dir[0] == '\0')
        opt.dir = "../shared/conformance";

    static const struct {
        const char *suite, *file;
    } suites[] = {{"rfc7208", "rfc7208-tests.yml"}, {"rfc4408", "rfc4408-tests.yml"}};
    enum { NSUITES = sizeof suites / sizeof suites[0] };
    char paths[NSUITES][4096];
    for (size_t i = 0; i < NSUITES; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/spf/%s", opt.dir, suites[i].file);
        if (!file_exists(paths[i])) {
            printf("1..0 # SKIP conformance suite not found at %s\n", paths[i]);
            return 0;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);

    suite_counts counts[NSUITES] = {{0}}, resolver = {"rfc7208-tests.yml (resolver driver)", 0,
                                                      0, 0};
    suite_counts async = {"rfc7208-tests.yml (async driver, cached)", 0, 0, 0};
    da_spf_record_cache *records = da_spf_record_cache_new(64);
    int rc = 0;
    for (size_t i = 0; i < NSUITES; i++) {
        counts[i].file = suites[i].file;
        if (run_suite(&opt, suites[i].suite, paths[i], &counts[i], &resolver, &async,
                      records) != 0)
            rc = 1;
    }
    uint64_t record_hits, record_parses;
    da_spf_record_cache_stats(records, &record_hits, &record_parses);
    da_spf_record_cache_free(records);
    for (size_t i = 0; i < NSUITES; i++) {
        const suite_counts *c = &counts[i];
        printf("# %s: %d of %d passed", c->file, c->passed, c->passed + c->failed);
        if (c->skipped)
            printf(", %d skipped", c->skipped);
        printf("\n");
    }
    printf("# %s: %d of %d passed", resolver.file, resolver.passed,
           resolver.passed + resolver.failed);
    if (resolver.skipped)
        printf(", %d skipped", resolver.skipped);
    printf("\n");
    printf("# %s: %d of %d passed", async.file, async.passed, async.passed + async.failed);
    if (async.skipped)
        printf(", %d skipped", async.skipped);
    printf(" (parsed records: %llu parsed, %llu reused)\n", (unsigned long long)record_parses,
           (unsigned long long)record_hits);
    printf("1..%d\n", tap_number);
    if (tap_number == 0 && opt.only != NULL) {
        printf("# no test matched '%s'\n", opt.only);
        return 1;
    }
    return rc != 0 || total_failed != 0 ? 1 : 0;
}
