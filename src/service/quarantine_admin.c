/* quarantine_admin.c: release and delete (quarantine_admin.h), moved here
 * from cli/quarantine.c so that domauthd's control socket does exactly
 * what the command line does. */
#include "service/quarantine_admin.h"
#include "service/sendmail.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "store/event.h"
#include "store/event_store.h"
#include "util/node.h"
#include "util/strbuf.h"

static int keep_row(void *ctx, const quarantine_row *r)
{
    svc_quarantine_file *f = ctx;
    f->path = strdup(r->path ? r->path : "");
    f->state = strdup(r->state ? r->state : "");
    return 1;
}

int svc_quarantine_find(quarantine *q, const char *dir, const char *id, svc_quarantine_file *f,
                        char *why, size_t why_size)
{
    memset(f, 0, sizeof *f);
    quarantine_index *x = quarantine_get_index(q);
    quarantine_query qq = {.id = id, .state = "all", .limit = 1};
    if (x != NULL && x->ops->query(x, &qq, keep_row, f, why, why_size) != 0)
        return -1;
    if (f->path == NULL) {
        char path[4096 + 256];
        snprintf(path, sizeof path, "%s/new/%s", dir, id);
        if (access(path, F_OK) != 0)
            return 1;
        f->path = strdup(path);
    }
    if (f->path == NULL) {
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    return 0;
}

static void put_line(void *ctx, const char *bytes, size_t len)
{
    strbuf_append(ctx, bytes, len);
}

/* Appends "; " and text (or text alone) to warn. */
static void add_warning(char *warn, size_t warn_size, const char *text)
{
    size_t n = strlen(warn);
    if (n + 1 < warn_size)
        snprintf(warn + n, warn_size - n, "%s%s", n ? "; " : "", text);
}

/* One JSON line, appended whole (O_APPEND, one write), as domauthd's
 * writer appends its own: the JSON file and the store agree. */
static void audit_json(const char *path, const event_record *r, char *warn, size_t warn_size)
{
    strbuf line;
    strbuf_init(&line);
    event_json_write(r, -1, put_line, &line);
    strbuf_putc(&line, '\n');
    int fd = line.failed ? -1 : open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0 || write(fd, line.data, line.len) != (ssize_t)line.len) {
        char text[700];
        snprintf(text, sizeof text, "not in the event log %s: %s", path,
                 line.failed ? "out of memory" : strerror(errno));
        add_warning(warn, warn_size, text);
    }
    if (fd >= 0)
        close(fd);
    strbuf_free(&line);
}

void svc_quarantine_audit(const svc_quarantine_admin *a, const char *action,
                          const char *mail_from, char *const *rcpts, size_t rcpt_count,
                          const char *reasons, char *warn, size_t warn_size)
{
    if (warn_size > 0)
        warn[0] = '\0';
    bool db = a->database != NULL && *a->database != '\0';
    bool json = a->event_log != NULL && *a->event_log != '\0';
    if (!db && !json)
        return;
    event_rcpt *rc = calloc(rcpt_count ? rcpt_count : 1, sizeof *rc);
    if (rc == NULL) {
        add_warning(warn, warn_size, "no audit event: out of memory");
        return;
    }
    for (size_t i = 0; i < rcpt_count; i++)
        rc[i] = (event_rcpt){.address = rcpts[i], .action = action};
    event_record r = {
        .time = (int64_t)time(NULL),
        .listener = "quarantine",
        .client_ip = "",
        .helo = "",
        .mail_from = mail_from ? mail_from : "",
        .rcpt = rcpt_count ? rcpts[0] : NULL,
        .action = action,
        .reasons = reasons,
        .rcpts = rc,
        .rcpt_count = rcpt_count,
    };
    /* Its node and a key of its own, as domauthd's events have, so that a
     * shared database tells the nodes apart and a replay stores it once. */
    char host[UTIL_HOST_NAME_MAX], uid[2 * 16 + 1];
    unsigned char key[16];
    r.node = util_node_name(a->node, host);
    if (getrandom(key, sizeof key, 0) == (ssize_t)sizeof key) {
        for (size_t i = 0; i < sizeof key; i++)
            snprintf(uid + 2 * i, 3, "%02x", key[i]);
        r.uid = uid;
    }
    if (json)
        audit_json(a->event_log, &r, warn, warn_size);
    if (db) {
        event_store_options so = {.access = EVENT_STORE_WRITE, .busy_timeout_ms = 10000,
                                  .password_file = a->password_file};
        char why[600];
        event_store *store = event_store_open(a->database, &so, why, sizeof why);
        const event_record *one[1] = {&r};
        if (store == NULL || event_store_write(store, one, 1, why, sizeof why) != 0) {
            char text[1200];
            snprintf(text, sizeof text, "not in the event store %s: %s", a->database, why);
            add_warning(warn, warn_size, text);
        }
        if (store != NULL)
            event_store_close(store);
    }
    free(rc);
}

/* A local submission takes seconds; past this the sendmail is stuck, and
 * the message stays quarantined rather than hold a pool thread. */
enum { RELEASE_SENDMAIL_TIMEOUT = 120 };

int svc_quarantine_release(const svc_quarantine_admin *a, quarantine *q, const char *id,
                           const char *to, const char *by, size_t *count, char *why,
                           size_t why_size, char *warn, size_t warn_size)
{
    if (warn_size > 0)
        warn[0] = '\0';
    *count = 0;
    svc_quarantine_file f;
    int rc = spool_id_valid(id) ? svc_quarantine_find(q, a->dir, id, &f, why, why_size) : 1;
    if (rc != 0) {
        if (rc > 0)
            snprintf(why, why_size, "%s is not in the quarantine", id);
        return rc > 0 ? SVC_Q_NOT_FOUND : SVC_Q_FAILED;
    }
    if (f.state && *f.state && strcmp(f.state, "quarantined") != 0) {
        snprintf(why, why_size, "%s is %s, not quarantined", id, f.state);
        free(f.path);
        free(f.state);
        return SVC_Q_NOT_QUARANTINED;
    }
    quarantine_index *x = quarantine_get_index(q);
    char err[600];
    bool found = false;
    /* Where the index can move a row only from quarantined, the release
     * is claimed first: of two releases of one message (two nodes, two
     * administrators), one sends it and the other is told; a failed send
     * puts the row back. */
    bool claimed = false;
    if (x != NULL && x->ops->change_state != NULL) {
        if (x->ops->change_state(x, id, "quarantined", "released", (int64_t)time(NULL), by,
                                 &claimed, err, sizeof err) != 0) {
            snprintf(why, why_size, "%s: %s; still quarantined", id, err);
            free(f.path);
            free(f.state);
            return SVC_Q_FAILED;
        }
        if (!claimed) {
            snprintf(why, why_size, "%s was released or deleted meanwhile; not sent again", id);
            free(f.path);
            free(f.state);
            return SVC_Q_NOT_QUARANTINED;
        }
    }
    spool_entry e;
    char *message = NULL;
    size_t len = 0;
    int result = SVC_Q_DONE;
    if (spool_read(f.path, &e, &message, &len, why, why_size) != 0) {
        if (claimed)
            x->ops->change_state(x, id, "released", "quarantined", (int64_t)time(NULL), NULL,
                                 &found, err, sizeof err);
        free(f.path);
        free(f.state);
        return SVC_Q_FAILED;
    }
    char *one[1] = {(char *)to};
    char *const *rcpts = to ? one : e.rcpts;
    size_t n = to ? 1 : e.rcpt_count;
    if (n == 0) {
        snprintf(why, why_size, "%s has no recipients; give another recipient", id);
        result = SVC_Q_FAILED;
    } else if (svc_sendmail(a->sendmail ? a->sendmail : "/usr/sbin/sendmail", e.mail_from,
                            (const char *const *)rcpts, n, message, len, true,
                            RELEASE_SENDMAIL_TIMEOUT, err, sizeof err) != 0) {
        snprintf(why, why_size, "%s: %s; still quarantined", id, err);
        result = SVC_Q_FAILED;
    } else {
        *count = n;
        /* The MTA has the message now: the copy goes, the row stays as
         * the record (who, when). */
        char text[1300];
        if (!claimed && x != NULL &&
            x->ops->set_state(x, id, "released", (int64_t)time(NULL), by, &found, err,
                              sizeof err) != 0) {
            snprintf(text, sizeof text, "released, but the index says otherwise: %s", err);
            add_warning(warn, warn_size, text);
        }
        if (unlink(f.path) != 0 && errno != ENOENT) {
            snprintf(text, sizeof text, "%s: %s", f.path, strerror(errno));
            add_warning(warn, warn_size, text);
        }
        char reasons[400], audit_warn[600];
        snprintf(reasons, sizeof reasons, "released from quarantine %s by %s%s%s", id, by,
                 to ? " to " : "", to ? to : "");
        svc_quarantine_audit(a, "release", e.mail_from, rcpts, n, reasons, audit_warn,
                             sizeof audit_warn);
        if (audit_warn[0]) {
            snprintf(text, sizeof text, "release done, but %s", audit_warn);
            add_warning(warn, warn_size, text);
        }
    }
    if (claimed && result != SVC_Q_DONE &&
        x->ops->change_state(x, id, "released", "quarantined", (int64_t)time(NULL), NULL, &found,
                             err, sizeof err) != 0) {
        char text[700];
        snprintf(text, sizeof text, "not sent, and the index still says released: %s", err);
        add_warning(warn, warn_size, text);
    }
    free(message);
    spool_entry_free(&e);
    free(f.path);
    free(f.state);
    return result;
}

int svc_quarantine_delete(const svc_quarantine_admin *a, quarantine *q, const char *id,
                          const char *by, char *why, size_t why_size, char *warn,
                          size_t warn_size)
{
    if (warn_size > 0)
        warn[0] = '\0';
    svc_quarantine_file f;
    int rc = spool_id_valid(id) ? svc_quarantine_find(q, a->dir, id, &f, why, why_size) : 1;
    if (rc < 0)
        return SVC_Q_FAILED;
    if (rc > 0 || (f.state && strcmp(f.state, "deleted") == 0)) {
        snprintf(why, why_size, "%s is not in the quarantine", id);
        if (rc == 0) {
            free(f.path);
            free(f.state);
        }
        return SVC_Q_NOT_FOUND;
    }
    quarantine_index *x = quarantine_get_index(q);
    bool found = false;
    int result = SVC_Q_DONE;
    if (unlink(f.path) != 0 && errno != ENOENT) {
        snprintf(why, why_size, "%s: %s", f.path, strerror(errno));
        result = SVC_Q_FAILED;
    } else if (x != NULL && x->ops->set_state(x, id, "deleted", (int64_t)time(NULL), by, &found,
                                              why, why_size) != 0) {
        result = SVC_Q_FAILED;
    } else {
        char reasons[400], audit_warn[600];
        snprintf(reasons, sizeof reasons, "deleted from quarantine %s by %s", id, by);
        svc_quarantine_audit(a, "delete", NULL, NULL, 0, reasons, audit_warn, sizeof audit_warn);
        if (audit_warn[0]) {
            char text[700];
            snprintf(text, sizeof text, "delete done, but %s", audit_warn);
            add_warning(warn, warn_size, text);
        }
    }
    free(f.path);
    free(f.state);
    return result;
}
