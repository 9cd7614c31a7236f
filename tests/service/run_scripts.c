/* run_scripts.c: the message service without sockets. Each script in
 * tests/service/ holds scenarios: a configuration, a DNS zone, a session
 * (client facts, envelope, header fields, body) and what must come out
 * (replies, header edits, the event), as Postfix's smtpd_check test mode
 * replays SMTP commands against expected output. One TAP test per
 * expectation; a policy bug is caught in milliseconds.
 *
 * Script lines (leading blanks ignored, '#' starts a comment line):
 *   === TITLE                 a new scenario (fresh config, zone, message)
 *   config ... end            domauth.conf text (the block's indentation is
 *                             not part of it: deeper lines continue a value)
 *   zone ... end              zone text (domauth(1), ZONE FILES); before the
 *                             first scenario, the zone of every scenario of
 *                             the file (a scenario's own zone adds to it)
 *   caps milter|policy|milter-nobody
 *   connect IP [helo=H] [auth=USER] [mta=NAME] [name=CLIENTNAME]
 *                             a new session (IP "-": none, a local submission);
 *                             the next command starts a new message in it
 *   mail ADDRESS | mail-repeat CHAR COUNT @DOMAIN
 *                             (with caps policy the sender only, as Postfix's
 *                             policy requests carry it: no reply)
 *   rcpt ADDRESS
 *   header NAME: VALUE        (value as on the wire after the colon; \n is CRLF
 *                             and \t a TAB, for folded fields)
 *   header-repeat COUNT NAME: VALUE
 *   eoh | body TEXT | eom | finish
 *   free                      the end of the transaction (RSET, QUIT): writes
 *                             the event if none was; the next command starts
 *                             a new message (its own replies, edits, event)
 *   free-on-reply             free the message inside the end-of-message reply
 *                             (as the milter does), to catch use after free
 *   expect reply ACTION [REPLY-GLOB]      the last reply
 *   expect edit OP NAME[[INDEX]] [VALUE-GLOB]  OP: insert append change delete;
 *                                         INDEX: of change and delete (1-based),
 *                                         0 for insert and append
 *   expect no-edit NAME[[INDEX]]
 *   expect edits N                        the number of header edits
 *   expect event KEY=GLOB ...             the message's event (see on_event)
 *   expect no-event
 *   expect counters NAME=N ...  the service's counters (messages, checked,
 *                             skipped, spf_<result>, dkim_<result>, dmarc_<result>)
 *   expect config-error GLOB              the config is refused with this
 *                                         error ("test.conf:LINE: reason")
 *   expect config-warning GLOB            the config is read with a warning
 *                                         such as this one (old key names)
 *   quarantine-fault WHAT     before the first message: the spool's WHAT
 *                             (write, fsync, rename) fails with ENOSPC/EIO,
 *                             or no-folder (none is open)
 *   expect quarantined N [KEY=GLOB ...]   N messages in new/ and as many
 *                             indexed; the keys are of the newest spool file
 *                             read back (mail_from rcpts client_ip helo
 *                             queue_id results told verdict reasons message)
 *   expect tmp-empty          nothing left in the spool's tmp/
 *
 * A scenario whose configuration can quarantine to the folder gets a
 * fresh spool and index under /tmp (quarantine_dir and database are set
 * by the runner). Replies: hold (the MTA's hold queue) and discard (kept
 * in the folder) for ACTION_QUARANTINE.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <ftw.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "config/config.h"
#include "domauth.h"
#include "domauth_dmarc.h"
#include "service/service.h"
#include "tap.h"
#include "util/file.h"
#include "util/strbuf.h"

typedef struct captured_edit {
    header_op op;
    char *name, *value;
    unsigned index;
} captured_edit;

typedef struct scenario {
    const char *file;
    char title[200];
    strbuf config_text, zone_text;
    strbuf file_zone; /* the zone before the first scenario: every scenario's */
    bool in_config, in_zone;
    bool configured;
    domauth_config config;
    da_zone *zone;
    da_resolver *zone_resolver, *resolver;
    da_dns_cache *cache;
    bool free_on_reply;       /* as the milter adapter does at the end */
    uv_loop_t loop;
    svc_env env;
    svc_config svc;
    svc_caps caps;
    svc_counters counters;
    svc_msg *msg;
    /* the session */
    char ip[64], helo[256], auth[128], mta[256], name[256];
    /* what came out */
    bool replied;
    char reply_action[16];
    char reply_text[600];
    captured_edit *edits;
    size_t edit_count;
    strbuf event_json; /* the last event, as key=value lines */
    unsigned events;   /* of this message */
    bool in_eom;
    /* the quarantine folder of a scenario that can quarantine */
    char qroot[64];
    char qfault[32];
    quarantine *q;
} scenario;

static void clear_edits(scenario *s)
{
    for (size_t i = 0; i < s->edit_count; i++) {
        free(s->edits[i].name);
        free(s->edits[i].value);
    }
    free(s->edits);
    s->edits = NULL;
    s->edit_count = 0;
}

/* A new message: replies, edits and the event are its own. */
static void forget_outputs(scenario *s)
{
    s->replied = false;
    s->events = 0;
    clear_edits(s);
}

static void on_reply(void *arg, const svc_reply *r)
{
    scenario *s = arg;
    s->replied = true;
    bool end = s->free_on_reply && s->in_eom;
    const char *names[] = {"accept", "defer", "reject", "quarantine", "redirect"};
    snprintf(s->reply_action, sizeof s->reply_action, "%s",
             r->action == ACTION_ACCEPT && r->verdict && r->verdict->tag_subject ? "tag"
             : r->action == ACTION_QUARANTINE ? (r->hold ? "hold" : "discard")
                                              : names[r->action]);
    /* A redirect's "text" is its mailbox: expect reply redirect spam@... */
    snprintf(s->reply_text, sizeof s->reply_text, "%s",
             r->action == ACTION_REDIRECT ? (r->redirect_to ? r->redirect_to : "")
             : r->reply                  ? r->reply
                                         : "");
    clear_edits(s);
    s->edits = calloc(r->edit_count + 1, sizeof *s->edits);
    for (size_t i = 0; i < r->edit_count; i++) {
        s->edits[i].op = r->edits[i].op;
        s->edits[i].name = strdup(r->edits[i].name);
        s->edits[i].value = strdup(r->edits[i].value ? r->edits[i].value : "");
        s->edits[i].index = r->edits[i].index;
    }
    s->edit_count = r->edit_count;
    if (end) {
        /* Inside the service's own call, as milter_conn.c does. */
        svc_msg_free(s->msg);
        s->msg = NULL;
    }
}

static void kv(strbuf *sb, const char *key, const char *value)
{
    strbuf_printf(sb, "%s=%s\n", key, value ? value : "null");
}

static void on_event(void *ctx, const event_record *e)
{
    scenario *s = ctx;
    s->events++;
    strbuf_clear(&s->event_json);
    strbuf *sb = &s->event_json;
    kv(sb, "listener", e->listener);
    kv(sb, "queue_id", e->queue_id);
    kv(sb, "client_ip", e->client_ip);
    kv(sb, "client_name", e->client_name);
    kv(sb, "helo", e->helo);
    kv(sb, "mail_from", e->mail_from);
    kv(sb, "rcpt", e->rcpt);
    kv(sb, "header_from", e->header_from);
    kv(sb, "identity", e->identity);
    kv(sb, "domain", e->domain);
    kv(sb, "result", e->result);
    kv(sb, "mechanism", e->mechanism);
    kv(sb, "problem", e->problem);
    kv(sb, "skip", e->skip_reason);
    char score[32];
    snprintf(score, sizeof score, "%.1f", e->score);
    kv(sb, "score", score);
    kv(sb, "action", e->action);
    kv(sb, "held", e->held_action);
    kv(sb, "reply", e->reply);
    kv(sb, "reasons", e->reasons);
    kv(sb, "dmarc", e->dmarc);
    strbuf results;
    strbuf_init(&results);
    for (size_t i = 0; i < e->result_count; i++)
        strbuf_printf(&results, "%s%s=%s", i ? " " : "", e->results[i].method,
                      e->results[i].result);
    kv(sb, "results", results.data ? results.data : "");
    strbuf_free(&results);
    char n[32];
    snprintf(n, sizeof n, "%zu", e->result_count);
    kv(sb, "result_count", n);
    snprintf(n, sizeof n, "%zu", e->rcpt_count);
    kv(sb, "rcpt_count", n);
    for (size_t i = 0; i < e->rcpt_count; i++) {
        char key[64];
        snprintf(key, sizeof key, "rcpt%zu", i);
        strbuf v;
        strbuf_init(&v);
        strbuf_printf(&v, "%s %s", e->rcpts[i].address, e->rcpts[i].action);
        kv(sb, key, v.data);
        strbuf_free(&v);
    }
    for (size_t i = 0; i < e->result_count; i++) {
        char key[64];
        snprintf(key, sizeof key, "props%zu", i);
        kv(sb, key, e->results[i].props);
        snprintf(key, sizeof key, "reason%zu", i);
        kv(sb, key, e->results[i].reason);
    }
}

static void run_loop(scenario *s)
{
    /* The zone answers when run; timers and drives live on the loop. */
    for (int i = 0; i < 1000; i++) {
        da_resolver_run(s->zone_resolver);
        if (uv_run(&s->loop, UV_RUN_NOWAIT) == 0)
            break;
    }
}

static void say_fail(scenario *s, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say_fail(scenario *s, const char *what, const char *fmt, ...)
{
    TAP_OK(false, "%s: %s: %s", s->file, s->title, what);
    va_list ap;
    va_start(ap, fmt);
    char text[2000];
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
        printf("#   %s\n", line);
}

static void pass(scenario *s, const char *what)
{
    TAP_OK(true, "%s: %s: %s", s->file, s->title, what);
}

static void close_handle(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 ? 0 : -1;
}

/* Injected spool faults (quarantine-fault). */
static ssize_t fault_write(void *ctx, int fd, const void *buf, size_t len)
{
    (void)ctx;
    (void)fd;
    (void)buf;
    (void)len;
    errno = ENOSPC;
    return -1;
}

static int fault_fsync(void *ctx, int fd)
{
    (void)ctx;
    (void)fd;
    errno = EIO;
    return -1;
}

static int fault_rename(void *ctx, const char *from, const char *to)
{
    (void)ctx;
    (void)from;
    (void)to;
    errno = EROFS;
    return -1;
}

static bool open_quarantine(scenario *s)
{
    snprintf(s->qroot, sizeof s->qroot, "/tmp/svc-quarantine.XXXXXX");
    if (mkdtemp(s->qroot) == NULL) {
        s->qroot[0] = '\0';
        return false;
    }
    if (strcmp(s->qfault, "no-folder") == 0)
        return true;
    char dir[128], db[128], why[600];
    snprintf(dir, sizeof dir, "%s/q", s->qroot);
    snprintf(db, sizeof db, "%s/events.db", s->qroot);
    spool_io io = {0};
    if (strcmp(s->qfault, "write") == 0)
        io.write = fault_write;
    else if (strcmp(s->qfault, "fsync") == 0)
        io.fsync = fault_fsync;
    else if (strcmp(s->qfault, "rename") == 0)
        io.rename = fault_rename;
    quarantine_options o = {.dir = dir, .database = db, .days = s->config.quarantine_days,
                            .purge_per_add = 16, .write = true, .io = &io};
    s->q = quarantine_open(&o, why, sizeof why);
    if (s->q == NULL)
        say_fail(s, "quarantine opens", "%s", why);
    return s->q != NULL;
}

static void teardown(scenario *s)
{
    svc_msg_free(s->msg);
    s->msg = NULL;
    if (s->configured) {
        run_loop(s);
        uv_walk(&s->loop, close_handle, NULL);
        uv_run(&s->loop, UV_RUN_DEFAULT);
        uv_loop_close(&s->loop);
        da_resolver_free(s->resolver);
        da_resolver_free(s->zone_resolver);
        da_dns_cache_free(s->cache);
        da_zone_free(s->zone);
        config_free(&s->config);
        quarantine_close(s->q);
        s->q = NULL;
        if (s->qroot[0])
            nftw(s->qroot, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        s->qroot[0] = '\0';
    }
    s->configured = false;
    s->qfault[0] = '\0';
    forget_outputs(s);
    strbuf_clear(&s->config_text);
    strbuf_clear(&s->zone_text);
}

static bool setup(scenario *s)
{
    if (s->configured)
        return true;
    char err[600];
    config_init(&s->config);
    const char *text = s->config_text.data ? s->config_text.data : "";
    if (config_parse(&s->config, "test.conf", text, strlen(text), err, sizeof err) != 0) {
        say_fail(s, "configuration parses", "%s", err);
        return false;
    }
    s->zone = da_zone_new();
    const char *zt = s->zone_text.data ? s->zone_text.data : "";
    if (da_zone_load_text(s->zone, zt, strlen(zt), err, sizeof err) != 0) {
        say_fail(s, "zone loads", "%s", err);
        config_free(&s->config);
        da_zone_free(s->zone);
        return false;
    }
    /* A cache in front, as in domauthd: a hit answers inside submit, so
     * replies can come inside the call that asked. */
    s->zone_resolver = da_resolver_new_zone(s->zone);
    da_dns_cache_options co = {.max_entries = 1000};
    s->cache = da_dns_cache_new(&co);
    s->resolver = da_resolver_new_cached(s->cache, s->zone_resolver);
    uv_loop_init(&s->loop);
    memset(&s->counters, 0, sizeof s->counters);
    s->env = (svc_env){.loop = &s->loop,
                       .resolver = s->resolver,
                       .counters = &s->counters,
                       .on_event = on_event,
                       .event_ctx = s};
    s->svc = (svc_config){.config = &s->config, .host_name = "host.test"};
    if (s->config.quarantine_possible && open_quarantine(s))
        s->env.quarantine = s->q;
    s->configured = true;
    return true;
}

static svc_msg *message(scenario *s)
{
    if (s->msg == NULL && setup(s)) {
        forget_outputs(s);
        svc_session sess = {.client_ip = s->ip[0] ? s->ip : NULL,
                            .client_name = s->name[0] ? s->name : NULL,
                            .helo = s->helo,
                            .auth_user = s->auth[0] ? s->auth : NULL,
                            .mta_name = s->mta[0] ? s->mta : NULL};
        s->msg = svc_msg_new(&s->env, &s->svc, &s->caps, &sess);
    }
    return s->msg;
}

static const char *word(char **p)
{
    while (**p == ' ' || **p == '\t')
        (*p)++;
    if (**p == '\0')
        return NULL;
    char *start = *p;
    while (**p && **p != ' ' && **p != '\t')
        (*p)++;
    if (**p)
        *(*p)++ = '\0';
    return start;
}

/* "text" -> text: a glob may start or end with blanks when quoted. */
static char *unquote(char *rest)
{
    while (*rest == ' ')
        rest++;
    size_t rl = strlen(rest);
    if (rl >= 2 && rest[0] == '"' && rest[rl - 1] == '"') {
        rest[rl - 1] = '\0';
        rest++;
    }
    return rest;
}

static bool glob(const char *pattern, const char *text)
{
    return fnmatch(pattern, text ? text : "", 0) == 0;
}

static const char *op_name(header_op op)
{
    switch (op) {
    case HEADER_INSERT_TOP: return "insert";
    case HEADER_APPEND: return "append";
    case HEADER_CHANGE: return "change";
    case HEADER_DELETE: return "delete";
    }
    return "?";
}

/* Regular files in dir; the greatest name in newest. */
static unsigned count_files(const char *dir, char *newest, size_t newest_size)
{
    DIR *d = opendir(dir);
    unsigned n = 0;
    if (newest != NULL)
        newest[0] = '\0';
    if (d == NULL)
        return 0;
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        if (de->d_name[0] == '.')
            continue;
        n++;
        /* Names start with the time, then the pid and a counter: the
         * longest, then greatest, is the latest of one process. */
        if (newest != NULL && (strlen(de->d_name) > strlen(newest) ||
                               (strlen(de->d_name) == strlen(newest) &&
                                strcmp(de->d_name, newest) > 0)))
            snprintf(newest, newest_size, "%s", de->d_name);
    }
    closedir(d);
    return n;
}

static int count_row(void *ctx, const quarantine_row *row)
{
    (void)row;
    (*(unsigned *)ctx)++;
    return 0;
}

static void join(strbuf *sb, char **items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        strbuf_printf(sb, "%s%s", i ? " " : "", items[i]);
}

static void expect_quarantined(scenario *s, const char *what, char *rest)
{
    char dir[128], newest[256], path[512], why[600];
    snprintf(dir, sizeof dir, "%s/q/new", s->qroot);
    const char *count = word(&rest);
    unsigned want = (unsigned)strtoul(count ? count : "0", NULL, 10);
    unsigned files = s->qroot[0] ? count_files(dir, newest, sizeof newest) : 0, rows = 0;
    quarantine_index *x = s->q ? quarantine_get_index(s->q) : NULL;
    quarantine_query q = {0};
    if (x != NULL && x->ops->query(x, &q, count_row, &rows, why, sizeof why) != 0) {
        say_fail(s, what, "index query: %s", why);
        return;
    }
    if (files != want || rows != want) {
        say_fail(s, what, "%u files in new/, %u indexed", files, rows);
        return;
    }
    if (*rest == '\0') {
        pass(s, what);
        return;
    }
    snprintf(path, sizeof path, "%s/%s", dir, newest);
    spool_entry e;
    char *message = NULL;
    size_t message_len = 0;
    if (spool_read(path, &e, &message, &message_len, why, sizeof why) != 0) {
        say_fail(s, what, "%s", why);
        return;
    }
    strbuf facts;
    strbuf_init(&facts);
    strbuf rcpts, results;
    strbuf_init(&rcpts);
    strbuf_init(&results);
    join(&rcpts, e.rcpts, e.rcpt_count);
    join(&results, e.results, e.result_count);
    kv(&facts, "mail_from", e.mail_from);
    kv(&facts, "rcpts", rcpts.data ? rcpts.data : "");
    kv(&facts, "client_ip", e.client_ip);
    kv(&facts, "helo", e.helo);
    kv(&facts, "queue_id", e.queue_id);
    kv(&facts, "results", results.data ? results.data : "");
    kv(&facts, "told", e.told);
    kv(&facts, "verdict", e.verdict);
    kv(&facts, "reasons", e.reasons);
    strbuf_free(&rcpts);
    strbuf_free(&results);
    bool ok = true;
    char diag[2000] = "";
    for (char *p = rest; *p;) {
        while (*p == ' ')
            p++;
        char *eq = strchr(p, '=');
        if (eq == NULL)
            break;
        *eq = '\0';
        char *value = eq + 1, *end;
        if (*value == '"') {
            value++;
            end = strchr(value, '"');
            if (end == NULL)
                end = value + strlen(value);
        } else {
            end = value + strcspn(value, " ");
        }
        char saved = *end;
        *end = '\0';
        const char *got = NULL;
        char gotbuf[1200] = "";
        if (strcmp(p, "message") == 0) {
            /* CRLF shown as \n, so a glob reads like the script's lines. */
            strbuf m;
            strbuf_init(&m);
            for (size_t i = 0; i < message_len; i++)
                if (message[i] != '\r')
                    strbuf_putc(&m, message[i] == '\n' ? '|' : message[i]);
            snprintf(gotbuf, sizeof gotbuf, "%s", m.data ? m.data : "");
            strbuf_free(&m);
            got = gotbuf;
        } else {
            char needle[80];
            snprintf(needle, sizeof needle, "%s=", p);
            for (const char *l = facts.data; l && *l;) {
                const char *nl = strchr(l, '\n');
                size_t len = nl ? (size_t)(nl - l) : strlen(l);
                if (strncmp(l, needle, strlen(needle)) == 0) {
                    snprintf(gotbuf, sizeof gotbuf, "%.*s", (int)(len - strlen(needle)),
                             l + strlen(needle));
                    got = gotbuf;
                    break;
                }
                l = nl ? nl + 1 : l + len;
            }
        }
        if (got == NULL || !glob(value, got)) {
            ok = false;
            size_t dl = strlen(diag);
            snprintf(diag + dl, sizeof diag - dl, "%s: got '%s', want '%s'\n", p,
                     got ? got : "(absent)", value);
        }
        *end = saved;
        p = *end ? end + 1 : end;
    }
    if (ok)
        pass(s, what);
    else
        say_fail(s, what, "%sspool file:\n%s", diag, facts.data ? facts.data : "");
    strbuf_free(&facts);
    free(message);
    spool_entry_free(&e);
}

static void expect(scenario *s, char *rest, unsigned line)
{
    char what[300];
    snprintf(what, sizeof what, "line %u: expect %s", line, rest);
    const char *kind = word(&rest);
    while (*rest == ' ')
        rest++;
    if (kind == NULL) {
        say_fail(s, what, "nothing to expect");
    } else if (strcmp(kind, "reply") == 0) {
        const char *action = word(&rest);
        while (*rest == ' ')
            rest++;
        if (!s->replied)
            say_fail(s, what, "no reply came");
        else if (strcmp(action, s->reply_action) != 0 || (*rest && !glob(rest, s->reply_text)))
            say_fail(s, what, "got %s '%s'", s->reply_action, s->reply_text);
        else
            pass(s, what);
    } else if (strcmp(kind, "edit") == 0 || strcmp(kind, "no-edit") == 0) {
        bool want = strcmp(kind, "edit") == 0;
        const char *op = want ? word(&rest) : NULL;
        char *name = (char *)word(&rest);
        rest = unquote(rest);
        /* NAME[INDEX]: the field a change or delete is for. */
        unsigned index = 0;
        char *bracket = name ? strchr(name, '[') : NULL;
        if (bracket != NULL) {
            index = (unsigned)strtoul(bracket + 1, NULL, 10);
            *bracket = '\0';
        }
        /* [0]: an insert or append (they have no index). */
        bool found = false;
        for (size_t i = 0; i < s->edit_count && name; i++) {
            const captured_edit *e = &s->edits[i];
            if (strcasecmp(e->name, name) != 0)
                continue;
            if (bracket != NULL && e->index != index)
                continue;
            if (want && strcmp(op_name(e->op), op) != 0)
                continue;
            if (want && *rest && !glob(rest, e->value))
                continue;
            found = true;
        }
        if (found == want) {
            pass(s, what);
        } else {
            strbuf sb;
            strbuf_init(&sb);
            for (size_t i = 0; i < s->edit_count; i++)
                strbuf_printf(&sb, "%s %s[%u]: %s\n", op_name(s->edits[i].op), s->edits[i].name,
                              s->edits[i].index, s->edits[i].value);
            say_fail(s, what, "edits:\n%s", sb.data ? sb.data : "(none)");
            strbuf_free(&sb);
        }
    } else if (strcmp(kind, "edits") == 0) {
        size_t n = strtoul(rest, NULL, 10);
        if (n == s->edit_count)
            pass(s, what);
        else
            say_fail(s, what, "got %zu edits", s->edit_count);
    } else if (strcmp(kind, "config-error") == 0 || strcmp(kind, "config-warning") == 0) {
        /* The configuration alone, parsed apart from the scenario's. */
        bool want_error = strcmp(kind, "config-error") == 0;
        const char *pattern = unquote(rest);
        const char *text = s->config_text.data ? s->config_text.data : "";
        domauth_config c;
        char err[600] = "";
        config_init(&c);
        bool failed = config_parse(&c, "test.conf", text, strlen(text), err, sizeof err) != 0;
        strbuf got;
        strbuf_init(&got);
        bool found = false;
        if (want_error) {
            found = failed && glob(pattern, err);
            strbuf_puts(&got, failed ? err : "(no error)");
        } else if (!failed) {
            for (size_t i = 0; i < c.warning_count; i++) {
                found = found || glob(pattern, c.warnings[i]);
                strbuf_printf(&got, "%s\n", c.warnings[i]);
            }
        } else {
            strbuf_printf(&got, "refused: %s", err);
        }
        if (!failed)
            config_free(&c);
        if (found)
            pass(s, what);
        else
            say_fail(s, what, "got:\n%s", got.data ? got.data : "(no warning)");
        strbuf_free(&got);
    } else if (strcmp(kind, "counters") == 0) {
        /* NAME=N ...: messages, checked, skipped, spf_<result>, dkim_<result> */
        bool ok = true;
        char diag[600] = "";
        for (const char *w; (w = word(&rest)) != NULL;) {
            const char *eq = strchr(w, '=');
            if (eq == NULL)
                continue;
            unsigned long long want = strtoull(eq + 1, NULL, 10), got = ~0ull;
            size_t n = (size_t)(eq - w);
            if (n == 8 && strncmp(w, "messages", 8) == 0)
                got = s->counters.messages;
            else if (n == 7 && strncmp(w, "checked", 7) == 0)
                got = s->counters.checked;
            else if (n == 7 && strncmp(w, "skipped", 7) == 0)
                got = s->counters.skipped;
            else if (n == 11 && strncmp(w, "quarantined", 11) == 0)
                got = s->counters.quarantined;
            else if (n == 19 && strncmp(w, "quarantine_failures", 19) == 0)
                got = s->counters.quarantine_failures;
            for (int r = 0; r < SPF_RESULT_COUNT; r++) {
                char key[40];
                snprintf(key, sizeof key, "spf_%s", da_spf_result_name((da_spf_result)r));
                if (strlen(key) == n && strncmp(w, key, n) == 0)
                    got = s->counters.spf[r];
                snprintf(key, sizeof key, "dkim_%s", da_dkim_result_name((da_dkim_result)r));
                if (strlen(key) == n && strncmp(w, key, n) == 0)
                    got = s->counters.dkim[r];
            }
            for (int r = 0; r < DMARC_RESULT_COUNT; r++) {
                char key[40];
                snprintf(key, sizeof key, "dmarc_%s", da_dmarc_result_name((da_dmarc_result)r));
                if (strlen(key) == n && strncmp(w, key, n) == 0)
                    got = s->counters.dmarc[r];
            }
            if (got != want) {
                ok = false;
                size_t dl = strlen(diag);
                snprintf(diag + dl, sizeof diag - dl, "%.*s: got %llu, want %llu\n", (int)n, w,
                         got, want);
            }
        }
        if (ok)
            pass(s, what);
        else
            say_fail(s, what, "%s", diag);
    } else if (strcmp(kind, "no-event") == 0) {
        if (s->events == 0)
            pass(s, what);
        else
            say_fail(s, what, "an event was written:\n%s", s->event_json.data);
    } else if (strcmp(kind, "event") == 0) {
        if (s->events == 0) {
            say_fail(s, what, "no event was written");
            return;
        }
        if (s->events != 1) {
            say_fail(s, what, "%u events were written for one message", s->events);
            return;
        }
        /* KEY=GLOB pairs; a glob may hold spaces when quoted "..." */
        char *p = rest;
        bool ok = true;
        char diag[1500] = "";
        while (*p) {
            while (*p == ' ')
                p++;
            if (!*p)
                break;
            char *eq = strchr(p, '=');
            if (eq == NULL)
                break;
            *eq = '\0';
            const char *key = p;
            char *value = eq + 1;
            char *end;
            if (*value == '"') {
                value++;
                end = strchr(value, '"');
                if (end == NULL)
                    end = value + strlen(value);
            } else {
                end = value + strcspn(value, " ");
            }
            char saved = *end;
            *end = '\0';
            /* Find "key=" in the event lines. */
            char needle[80];
            snprintf(needle, sizeof needle, "%s=", key);
            const char *got = NULL;
            size_t got_len = 0;
            for (const char *l = s->event_json.data; l && *l;) {
                const char *nl = strchr(l, '\n');
                size_t len = nl ? (size_t)(nl - l) : strlen(l);
                if (strncmp(l, needle, strlen(needle)) == 0) {
                    got = l + strlen(needle);
                    got_len = len - strlen(needle);
                    break;
                }
                l = nl ? nl + 1 : l + len;
            }
            char gotbuf[1200];
            snprintf(gotbuf, sizeof gotbuf, "%.*s", (int)got_len, got ? got : "");
            if (got == NULL || !glob(value, gotbuf)) {
                ok = false;
                size_t dl = strlen(diag);
                snprintf(diag + dl, sizeof diag - dl, "%s: got '%s', want '%s'\n", key,
                         got ? gotbuf : "(absent)", value);
            }
            *end = saved;
            p = *end ? end + 1 : end;
            if (saved == '"' && *p == ' ')
                p++;
        }
        if (ok)
            pass(s, what);
        else
            say_fail(s, what, "%sevent:\n%s", diag, s->event_json.data);
    } else if (strcmp(kind, "quarantined") == 0) {
        expect_quarantined(s, what, rest);
    } else if (strcmp(kind, "tmp-empty") == 0) {
        char dir[128];
        snprintf(dir, sizeof dir, "%s/q/tmp", s->qroot);
        unsigned n = count_files(dir, NULL, 0);
        if (n == 0)
            pass(s, what);
        else
            say_fail(s, what, "%u files in %s", n, dir);
    } else {
        say_fail(s, what, "unknown expectation '%s'", kind);
    }
}

/* What a scenario's session is until caps says otherwise. */
static const svc_caps milter_caps = {.listener = "milter", .sees_message = true,
                                     .sees_body = true, .can_insert = true, .can_change = true,
                                     .can_hold = true, .can_redirect = true};

static void command(scenario *s, char *line, unsigned lineno)
{
    char *rest = line;
    const char *cmd = word(&rest);
    while (*rest == ' ')
        rest++;
    if (cmd == NULL)
        return;
    if (strcmp(cmd, "expect") == 0) {
        expect(s, rest, lineno);
        return;
    }
    if (strcmp(cmd, "quarantine-fault") == 0) {
        snprintf(s->qfault, sizeof s->qfault, "%s", rest);
        return;
    }
    if (strcmp(cmd, "caps") == 0) {
        if (strcmp(rest, "policy") == 0)
            s->caps = (svc_caps){.listener = "policy", .can_insert = true, .max_added = 1,
                                 .can_hold = true, .can_redirect = true};
        else if (strcmp(rest, "milter-nohold") == 0)
            s->caps = (svc_caps){.listener = "milter", .sees_message = true, .sees_body = true,
                                 .can_insert = true, .can_change = true};
        else if (strcmp(rest, "milter-nobody") == 0)
            s->caps = (svc_caps){.listener = "milter", .sees_message = true, .can_insert = true,
                                 .can_change = true};
        else
            s->caps = milter_caps;
        return;
    }
    if (strcmp(cmd, "connect") == 0) {
        const char *ip = word(&rest);
        snprintf(s->ip, sizeof s->ip, "%s", ip && strcmp(ip, "-") ? ip : "");
        s->helo[0] = s->auth[0] = s->mta[0] = s->name[0] = '\0';
        if (s->msg != NULL) {
            /* A new session ends the message of the one before. */
            svc_msg_free(s->msg);
            s->msg = NULL;
            run_loop(s);
        }
        const char *w;
        while ((w = word(&rest)) != NULL) {
            if (strncmp(w, "helo=", 5) == 0)
                snprintf(s->helo, sizeof s->helo, "%s", w + 5);
            else if (strncmp(w, "auth=", 5) == 0)
                snprintf(s->auth, sizeof s->auth, "%s", w + 5);
            else if (strncmp(w, "mta=", 4) == 0)
                snprintf(s->mta, sizeof s->mta, "%s", w + 4);
            else if (strncmp(w, "name=", 5) == 0)
                snprintf(s->name, sizeof s->name, "%s", w + 5);
        }
        return;
    }
    svc_msg *m = message(s);
    if (m == NULL)
        return;
    s->replied = false;
    if (strcmp(cmd, "mail") == 0) {
        svc_msg_mail_from(m, rest, strlen(rest));
        /* A policy request carries the sender; the check is at RCPT
         * (daemon/policy_conn.c). */
        if (strcmp(s->caps.listener, "policy") == 0)
            return;
        svc_msg_check_mail(m, on_reply, s);
    } else if (strcmp(cmd, "mail-repeat") == 0) {
        /* mail-repeat CHAR COUNT SUFFIX: a long local-part */
        const char *ch = word(&rest);
        const char *count = word(&rest);
        const char *suffix = word(&rest);
        size_t n = strtoul(count ? count : "0", NULL, 10);
        strbuf a;
        strbuf_init(&a);
        for (size_t i = 0; i < n; i++)
            strbuf_putc(&a, ch ? ch[0] : 'a');
        strbuf_puts(&a, suffix ? suffix : "");
        svc_msg_mail_from(m, a.data, a.len);
        strbuf_free(&a);
        svc_msg_check_mail(m, on_reply, s);
    } else if (strcmp(cmd, "rcpt") == 0) {
        svc_msg_check_rcpt(m, rest, strlen(rest), strcmp(s->caps.listener, "policy") == 0,
                           on_reply, s);
    } else if (strcmp(cmd, "queue") == 0) {
        svc_msg_queue_id(m, rest);
    } else if (strcmp(cmd, "header") == 0 || strcmp(cmd, "header-repeat") == 0) {
        size_t repeat = 1;
        if (strcmp(cmd, "header-repeat") == 0) {
            const char *count = word(&rest);
            repeat = strtoul(count ? count : "1", NULL, 10);
            while (*rest == ' ')
                rest++;
        }
        char *colon = strchr(rest, ':');
        if (colon == NULL)
            return;
        *colon = '\0';
        /* The value as on the wire: "\n" in the script is a folded line. */
        strbuf v;
        strbuf_init(&v);
        for (const char *p = colon + 1; *p; p++) {
            if (p[0] == '\\' && p[1] == 'n') {
                strbuf_puts(&v, "\r\n");
                p++;
            } else if (p[0] == '\\' && p[1] == 't') {
                strbuf_putc(&v, '\t');
                p++;
            } else {
                strbuf_putc(&v, *p);
            }
        }
        for (size_t i = 0; i < repeat; i++)
            svc_msg_header(m, rest, v.data ? v.data : "", v.len);
        strbuf_free(&v);
        s->replied = true; /* no reply expected */
        return;
    } else if (strcmp(cmd, "eoh") == 0) {
        svc_msg_end_headers(m);
        return;
    } else if (strcmp(cmd, "body") == 0) {
        strbuf b;
        strbuf_init(&b);
        strbuf_puts(&b, rest);
        strbuf_puts(&b, "\r\n");
        svc_msg_body(m, b.data, b.len);
        strbuf_free(&b);
        return;
    } else if (strcmp(cmd, "eom") == 0) {
        s->in_eom = true;
        svc_msg_check_end(m, on_reply, s);
        run_loop(s);
        s->in_eom = false;
        return;
    } else if (strcmp(cmd, "free-on-reply") == 0) {
        s->free_on_reply = true;
        return;
    } else if (strcmp(cmd, "free") == 0) {
        svc_msg_free(m);
        s->msg = NULL;
        run_loop(s);
        return;
    } else if (strcmp(cmd, "finish") == 0) {
        svc_msg_finish(m);
        return;
    } else {
        say_fail(s, "script", "line %u: unknown command '%s'", lineno, cmd);
        return;
    }
    run_loop(s);
}

static void run_file(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    size_t len;
    char err[300];
    char *text = util_read_file(path, 1u << 20, &len, err, sizeof err);
    if (text == NULL) {
        TAP_OK(false, "%s: %s", name, err);
        return;
    }
    scenario s;
    memset(&s, 0, sizeof s);
    s.file = name;
    strbuf_init(&s.config_text);
    strbuf_init(&s.zone_text);
    strbuf_init(&s.file_zone);
    strbuf_init(&s.event_json);
    unsigned lineno = 0;
    size_t block_indent = (size_t)-1; /* of the config or zone block */
    for (char *line = text, *next; line != NULL; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        lineno++;
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (s.in_config || s.in_zone) {
            if (strcmp(p, "end") == 0) {
                s.in_config = s.in_zone = false;
            } else {
                strbuf *target = s.in_config ? &s.config_text
                                 : s.title[0]  ? &s.zone_text
                                               : &s.file_zone;
                /* The block's own indentation goes; more than that stays,
                 * for continuation lines. */
                size_t indent = (size_t)(p - line);
                if (block_indent == (size_t)-1 && *p != '\0')
                    block_indent = indent;
                strbuf_puts(target, *p == '\0'                ? p
                                    : indent > block_indent ? line + block_indent
                                                            : p);
                strbuf_putc(target, '\n');
            }
            continue;
        }
        if (*p == '#' || *p == '\0')
            continue;
        if (strncmp(p, "===", 3) == 0) {
            teardown(&s);
            if (s.file_zone.data)
                strbuf_puts(&s.zone_text, s.file_zone.data);
            snprintf(s.title, sizeof s.title, "%s", p[3] == ' ' ? p + 4 : p + 3);
            memset(s.ip, 0, sizeof s.ip);
            s.helo[0] = s.auth[0] = s.mta[0] = s.name[0] = '\0';
            s.caps = milter_caps;
            s.free_on_reply = false;
            continue;
        }
        if (strcmp(p, "config") == 0) {
            s.in_config = true;
            block_indent = (size_t)-1;
            continue;
        }
        if (strcmp(p, "zone") == 0) {
            s.in_zone = true;
            block_indent = (size_t)-1;
            continue;
        }
        command(&s, p, lineno);
    }
    teardown(&s);
    strbuf_free(&s.config_text);
    strbuf_free(&s.zone_text);
    strbuf_free(&s.file_zone);
    strbuf_free(&s.event_json);
    free(text);
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int is_script(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return n > 7 && strcmp(d->d_name + n - 7, ".script") == 0;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "tests/service";
    struct dirent **names;
    int n = scandir(dir, &names, is_script, by_name);
    if (n < 0) {
        printf("Bail out! cannot read %s\n", dir);
        return 1;
    }
    for (int i = 0; i < n; i++) {
        run_file(dir, names[i]->d_name);
        free(names[i]);
    }
    free(names);
    return tap_done();
}
