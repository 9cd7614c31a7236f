/* dmarc_reports.c: one run of the DMARC aggregate reports; see
 * dmarc_reports.h. The building is the report layer's (pure); what is
 * here is the I/O around it: the store, the DNS check of external
 * destinations (RFC 9990 section 4), the ledger and sendmail(1). */
#include "service/dmarc_reports.h"
#include "service/sendmail.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "store/event_store.h"
#include "store/report_store.h"
#include "util/strbuf.h"

enum { DEFAULT_ATTEMPTS = 5, DEFAULT_SENDMAIL_TIMEOUT = 120 };

typedef struct run {
    const dmarc_report_run_options *o;
    dmarc_report_totals *t;
    dmarc_report_set *set;
    char why[300];
    bool failed;
} run;

static void say(const run *r, int priority, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(const run *r, int priority, const char *fmt, ...)
{
    if (r->o->log == NULL)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    r->o->log(r->o->ctx, priority, line);
}

static void tell(const run *r, const dmarc_report_outcome *out)
{
    if (r->o->outcome != NULL)
        r->o->outcome(r->o->ctx, out);
}

int dmarc_report_day(const char *text, int64_t *begin)
{
    int y, m, d;
    char tail;
    if (text == NULL || strlen(text) != 10 || sscanf(text, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 ||
        text[4] != '-' || text[7] != '-' || y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1 ||
        d > 31)
        return -1;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d};
    time_t t = timegm(&tm);
    struct tm back;
    gmtime_r(&t, &back);
    if (back.tm_mday != d || back.tm_mon != m - 1) /* 2026-02-30 */
        return -1;
    *begin = (int64_t)t;
    return 0;
}

static int add_event(void *ctx, int64_t id, const event_record *rec)
{
    (void)id;
    run *r = ctx;
    r->t->events++;
    if (dmarc_report_set_add(r->set, rec, &r->t->skipped_events, r->why, sizeof r->why) != 0) {
        r->failed = true;
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------- the DNS */

typedef struct txt_answer {
    bool done;
    da_dns_status status;
    bool authorized;
    char override[DMARC_RUA_ADDRESS_MAX + 1];
} txt_answer;

static void on_txt(void *arg, const da_dns_question *q, const da_dns_answer *a)
{
    (void)q;
    txt_answer *t = arg;
    t->done = true;
    t->status = a ? a->status : DA_DNS_SERVFAIL;
    for (size_t i = 0; a && a->status == DA_DNS_NOERROR && i < a->count; i++) {
        const da_dns_rr *rr = &a->records[i];
        if (rr->type != DA_DNS_TXT || rr->text == NULL)
            continue;
        char over[DMARC_RUA_ADDRESS_MAX + 1];
        if (dmarc_report_authorization(rr->text, rr->text_len, over, sizeof over)) {
            if (!t->authorized || (t->override[0] == '\0' && over[0] != '\0'))
                snprintf(t->override, sizeof t->override, "%s", over);
            t->authorized = true;
        }
    }
}

/* RFC 9990 section 4: whether a destination outside the policy domain's
 * organizational domain has agreed to take its reports; 1 yes (with the
 * address to use in u), 0 no (why in detail), -1 not known now (a DNS
 * error: tried again at the next run). */
static int authorized(const run *r, const dmarc_report *rep, dmarc_rua *u, char *detail,
                      size_t detail_size)
{
    const char *org = dmarc_report_org_domain(rep);
    if (dmarc_report_host_within(u->host, org))
        return 1;
    char name[256];
    int n = snprintf(name, sizeof name, "%s._report._dmarc.%s", dmarc_report_domain(rep), u->host);
    if (n < 0 || n > 253) {
        snprintf(detail, detail_size, "%.100s._report._dmarc.%.100s is longer than DNS allows",
                 dmarc_report_domain(rep), u->host);
        return 0;
    }
    if (r->o->resolver == NULL) {
        snprintf(detail, detail_size, "outside %.100s and no resolver to check %s", org, name);
        return 0;
    }
    txt_answer t = {0};
    da_dns_question q = {name, DA_DNS_TXT};
    if (da_resolver_submit(r->o->resolver, &q, on_txt, &t) != 0 ||
        (!t.done && da_resolver_run(r->o->resolver) != 0) || !t.done) {
        snprintf(detail, detail_size, "the query for %s TXT could not be made", name);
        return -1;
    }
    if (t.status == DA_DNS_SERVFAIL || t.status == DA_DNS_TIMEOUT) {
        snprintf(detail, detail_size, "%s TXT: %s", name, da_dns_status_name(t.status));
        return -1;
    }
    if (!t.authorized) {
        snprintf(detail, detail_size, "%s has no v=DMARC1 record (%s)", name,
                 t.status == DA_DNS_NXDOMAIN ? "NXDOMAIN" : "none of its TXT records");
        return 0;
    }
    if (t.override[0] != '\0') {
        /* The receiver may name another address, at the same host only. */
        dmarc_rua v;
        size_t count = 0;
        char bad[200];
        dmarc_rua_parse(t.override, &v, 1, &count, bad, sizeof bad);
        if (count != 1 || !v.mailto || strcasecmp(v.host, u->host) != 0) {
            snprintf(detail, detail_size,
                     "%s overrides with '%.100s', not a mailto: at %.100s: neither is sent to", name,
                     t.override, u->host);
            return 0;
        }
        snprintf(u->address, sizeof u->address, "%s", v.address);
    }
    return 1;
}

/* -------------------------------------------------------------- files */

static int write_file(const char *dir, const char *name, const void *data, size_t len,
                      char *why, size_t why_size)
{
    /* The .eml names hold a rua address, which the DNS gave: one file in
     * dir, never a path. */
    if (strchr(name, '/') != NULL) {
        snprintf(why, why_size, "%.300s: not a file name (a '/')", name);
        return -1;
    }
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof path) {
        snprintf(why, why_size, "%s/%s: the path is too long", dir, name);
        return -1;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) {
        snprintf(why, why_size, "%.300s: %s", path, strerror(errno));
        return -1;
    }
    const char *p = data;
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, p + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            snprintf(why, why_size, "%.300s: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        off += (size_t)w;
    }
    if (close(fd) != 0) {
        snprintf(why, why_size, "%.300s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------- the run */

static void one_destination(run *r, const dmarc_report *rep, report_ledger *ledger,
                            dmarc_rua *u, const char *id, const char *file,
                            const unsigned char *gz, size_t gz_len, dmarc_report_outcome base)
{
    const dmarc_report_run_options *o = r->o;
    dmarc_report_outcome out = base;
    char detail[600] = "";
    out.destination = u->mailto ? u->address : u->uri;
    out.detail = detail;
    if (!u->mailto) {
        snprintf(detail, sizeof detail, "not a mailto: URI (only mail is sent)");
        out.status = "skipped";
        r->t->skipped++;
        say(r, LOG_INFO, "DMARC report %s: %s skipped: %s", id, u->uri, detail);
        tell(r, &out);
        return;
    }
    int ok = authorized(r, rep, u, detail, sizeof detail);
    if (ok == 0) {
        out.status = "not authorized";
        r->t->unauthorized++;
        say(r, LOG_NOTICE, "DMARC report %s: not sent to %s: %s", id, u->address, detail);
        tell(r, &out);
        return;
    }
    bool found = false, sent = false;
    unsigned attempts = 0;
    char lwhy[300] = "";
    if (ledger != NULL &&
        ledger->ops->get(ledger, id, u->address, &found, &sent, &attempts, lwhy, sizeof lwhy) != 0) {
        snprintf(detail, sizeof detail, "%s", lwhy);
        out.status = "error";
        r->t->failed++;
        say(r, LOG_ERR, "DMARC report %s: %s: %s", id, u->address, lwhy);
        tell(r, &out);
        return;
    }
    unsigned max = o->max_attempts ? o->max_attempts : DEFAULT_ATTEMPTS;
    if (sent) {
        out.status = "already sent";
        r->t->already_sent++;
        tell(r, &out);
        return;
    }
    if (attempts >= max) {
        snprintf(detail, sizeof detail, "%u attempts failed", attempts);
        out.status = "gave up";
        r->t->gave_up++;
        tell(r, &out);
        return;
    }
    strbuf mail;
    strbuf_init(&mail);
    if (dmarc_report_mail(rep, &o->meta, u->address, gz, gz_len, o->now, &mail, detail,
                          sizeof detail) != 0) {
        strbuf_free(&mail);
        out.status = "error";
        r->t->failed++;
        say(r, LOG_ERR, "DMARC report %s: %s: %s", id, u->address, detail);
        tell(r, &out);
        return;
    }
    out.mail_bytes = mail.len;
    if (u->max_size > 0 && mail.len > u->max_size) {
        snprintf(detail, sizeof detail, "%zu bytes is over the URI's size limit (%llu)", mail.len,
                 (unsigned long long)u->max_size);
        out.status = "skipped";
        r->t->skipped++;
        say(r, LOG_NOTICE, "DMARC report %s: not sent to %s: %s", id, u->address, detail);
        tell(r, &out);
        strbuf_free(&mail);
        return;
    }
    if (ok < 0 && !o->dry_run) {
        /* The DNS could not say: a failed attempt, tried again next run. */
        out.status = "failed";
    } else if (o->dry_run) {
        out.status = "would send";
        r->t->would_send++;
        if (o->output_dir != NULL) {
            char name[800];
            int n = snprintf(name, sizeof name, "%s.%s.eml", file, u->address);
            if (n < 0 || (size_t)n >= sizeof name)
                say(r, LOG_ERR, "DMARC report %s: the file name for %s is too long", id,
                    u->address);
            else if (write_file(o->output_dir, name, mail.data, mail.len, lwhy, sizeof lwhy) != 0)
                say(r, LOG_ERR, "DMARC report %s: %s", id, lwhy);
        }
        if (ok < 0)
            snprintf(detail, sizeof detail, "%s", "the authorization could not be checked now");
        tell(r, &out);
        strbuf_free(&mail);
        return;
    } else {
        const char *sendmail = o->sendmail && *o->sendmail ? o->sendmail : "/usr/sbin/sendmail";
        unsigned timeout = o->sendmail_timeout_s ? o->sendmail_timeout_s : DEFAULT_SENDMAIL_TIMEOUT;
        const char *to[1] = {u->address};
        out.status = svc_sendmail(sendmail, o->meta.email, to, 1, mail.data, mail.len, false,
                                  timeout, detail, sizeof detail) == 0
                         ? "sent"
                         : "failed";
    }
    strbuf_free(&mail);
    bool done = strcmp(out.status, "sent") == 0;
    report_ledger_row row = {id, dmarc_report_domain(rep), u->address, dmarc_report_begin(rep),
                             dmarc_report_end(rep), done ? "sent" : "failed", 0,
                             done ? NULL : detail, o->now};
    if (ledger != NULL && ledger->ops->record(ledger, &row, lwhy, sizeof lwhy) != 0)
        say(r, LOG_ERR, "DMARC report %s to %s: %s, but not in the ledger: %s", id, u->address,
            out.status, lwhy);
    if (done) {
        r->t->sent++;
        out.detail = NULL;
        say(r, LOG_INFO, "DMARC report %s sent to %s (%llu messages, %zu records, %zu bytes)", id,
            u->address, (unsigned long long)out.messages, out.records, out.mail_bytes);
    } else {
        r->t->failed++;
        say(r, LOG_WARNING, "DMARC report %s to %s failed (attempt %u of %u): %s", id, u->address,
            attempts + 1, max, detail);
    }
    tell(r, &out);
}

static void one_report(run *r, const dmarc_report *rep, report_ledger *ledger)
{
    const dmarc_report_run_options *o = r->o;
    char id[600], file[700], detail[600] = "";
    dmarc_report_outcome out = {
        .domain = dmarc_report_domain(rep),
        .report_id = id,
        .filename = file,
        .messages = dmarc_report_message_count(rep),
        .records = dmarc_report_record_count(rep),
        .detail = detail,
    };
    if (dmarc_report_id(rep, &o->meta, id, sizeof id) != 0 ||
        dmarc_report_filename(rep, &o->meta, file, sizeof file) != 0) {
        say(r, LOG_ERR, "DMARC report for %s: the names are too long", dmarc_report_domain(rep));
        r->t->failed++;
        return;
    }
    r->t->reports++;
    strbuf xml;
    strbuf_init(&xml);
    unsigned char *gz = NULL;
    size_t gz_len = 0;
    if (dmarc_report_xml(rep, &o->meta, &xml, detail, sizeof detail) != 0 ||
        dmarc_report_gzip(xml.data, xml.len, &gz, &gz_len, detail, sizeof detail) != 0) {
        out.status = "error";
        r->t->failed++;
        say(r, LOG_ERR, "DMARC report %s: %s", id, detail);
        tell(r, &out);
        strbuf_free(&xml);
        return;
    }
    out.xml_bytes = xml.len;
    out.gz_bytes = gz_len;
    strbuf_free(&xml);
    if (o->output_dir != NULL) {
        if (write_file(o->output_dir, file, gz, gz_len, detail, sizeof detail) != 0) {
            out.status = "error";
            say(r, LOG_ERR, "DMARC report %s: %s", id, detail);
        } else {
            out.status = "written";
        }
        tell(r, &out);
        detail[0] = '\0';
    }
    dmarc_rua uris[DMARC_RUA_MAX];
    size_t n = 0;
    char bad[300] = "";
    if (dmarc_rua_parse(dmarc_report_rua(rep), uris, DMARC_RUA_MAX, &n, bad, sizeof bad) != 0 ||
        bad[0])
        say(r, LOG_NOTICE, "DMARC report %s: rua of %s: %s", id, dmarc_report_domain(rep), bad);
    if (n == 0) {
        snprintf(detail, sizeof detail, "the record asks for no reports (no usable rua)");
        out.status = "skipped";
        r->t->skipped++;
        tell(r, &out);
    }
    for (size_t i = 0; i < n; i++)
        one_destination(r, rep, ledger, &uris[i], id, file, gz, gz_len, out);
    free(gz);
}

int dmarc_report_run(const dmarc_report_run_options *o, dmarc_report_totals *totals, char *why,
                     size_t why_size)
{
    memset(totals, 0, sizeof *totals);
    run r = {.o = o, .t = totals};
    if (o->database == NULL || *o->database == '\0') {
        snprintf(why, why_size, "no database to read the events from");
        return -1;
    }
    event_store_options so = {.access = EVENT_STORE_READ, .password_file = o->password_file};
    char swhy[300] = "";
    event_store *store = event_store_open(o->database, &so, swhy, sizeof swhy);
    if (store == NULL) {
        snprintf(why, why_size, "%s", swhy);
        return -1;
    }
    if (swhy[0])
        say(&r, LOG_WARNING, "%s", swhy);
    r.set = dmarc_report_set_new(o->begin, o->end);
    if (r.set == NULL) {
        event_store_close(store);
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    if (o->only_domain != NULL)
        dmarc_report_set_only(r.set, o->only_domain);
    event_query q = {.have_since = true, .have_until = true, .since = o->begin, .until = o->end,
                     .method = "dmarc"};
    int rc = event_store_query(store, &q, add_event, &r, swhy, sizeof swhy);
    event_store_close(store);
    if (rc != 0 || r.failed) {
        snprintf(why, why_size, "%s", rc != 0 ? swhy : r.why);
        dmarc_report_set_free(r.set);
        return -1;
    }
    /* The ledger: written by a real run; a dry run only reads it (when
     * there is one) to say what went already. */
    report_ledger *ledger = NULL;
    if (dmarc_report_set_count(r.set) > 0) {
        ledger = report_ledger_open(o->database, !o->dry_run, o->password_file, swhy,
                                    sizeof swhy);
        if (ledger == NULL && !o->dry_run) {
            snprintf(why, why_size, "%s", swhy);
            dmarc_report_set_free(r.set);
            return -1;
        }
    }
    for (size_t i = 0; i < dmarc_report_set_count(r.set); i++)
        one_report(&r, dmarc_report_set_get(r.set, i), ledger);
    report_ledger_close(ledger);
    dmarc_report_set_free(r.set);
    return 0;
}

typedef struct failed_scan {
    unsigned max_attempts;
    int64_t *days;
    size_t max, count;
} failed_scan;

static int note_failed(void *ctx, const report_ledger_row *row)
{
    failed_scan *f = ctx;
    if (row->state == NULL || strcmp(row->state, "failed") != 0 || row->attempts >= f->max_attempts)
        return 0;
    size_t i = 0;
    while (i < f->count && f->days[i] < row->begin)
        i++;
    if ((i < f->count && f->days[i] == row->begin) || f->count >= f->max)
        return 0;
    memmove(f->days + i + 1, f->days + i, (f->count - i) * sizeof *f->days);
    f->days[i] = row->begin;
    f->count++;
    return 0;
}

int dmarc_report_failed_periods(const char *database, const char *password_file, int64_t since,
                                unsigned max_attempts, int64_t *days, size_t max, size_t *count,
                                char *why, size_t why_size)
{
    *count = 0;
    char lwhy[300];
    report_ledger *l = report_ledger_open(database, false, password_file, lwhy, sizeof lwhy);
    if (l == NULL)
        return 0; /* no database or no ledger yet: nothing failed */
    failed_scan f = {max_attempts ? max_attempts : DEFAULT_ATTEMPTS, days, max, 0};
    int rc = l->ops->list(l, since, note_failed, &f, lwhy, sizeof lwhy);
    report_ledger_close(l);
    if (rc != 0) {
        snprintf(why, why_size, "%s", lwhy);
        return -1;
    }
    *count = f.count;
    return 0;
}
