/* quarantine.c: the spool and its index together, and retention; see
 * quarantine_store.h. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/quarantine_store.h"

struct quarantine {
    maildir_spool *spool;
    quarantine_index *index;
    unsigned days, purge_per_add;
};

static const quarantine_index_ops *const index_backends[] = {
    &quarantine_index_sqlite,
#ifdef DOMAUTH_HAVE_PG
    &quarantine_index_pg,
#endif
};

const quarantine_index_ops *quarantine_index_for(const char *location)
{
    for (size_t i = 0; i < sizeof index_backends / sizeof index_backends[0]; i++)
        if (index_backends[i]->claims(location))
            return index_backends[i];
    return NULL;
}

quarantine *quarantine_open(const quarantine_options *o, char *why, size_t why_size)
{
    quarantine *q = calloc(1, sizeof *q);
    if (q == NULL) {
        snprintf(why, why_size, "out of memory");
        return NULL;
    }
    q->days = o->days ? o->days : 30;
    q->purge_per_add = o->purge_per_add;
    q->spool = spool_open(o->dir, o->write, o->io, why, why_size);
    if (q->spool == NULL) {
        free(q);
        return NULL;
    }
    if (o->database != NULL && *o->database) {
        for (size_t i = 0; i < sizeof index_backends / sizeof index_backends[0]; i++) {
            if (!index_backends[i]->claims(o->database))
                continue;
            q->index = index_backends[i]->open(o->database, o->write, o->password_file, why,
                                               why_size);
            if (q->index == NULL) {
                quarantine_close(q);
                return NULL;
            }
            break;
        }
    }
    return q;
}

void quarantine_close(quarantine *q)
{
    if (q == NULL)
        return;
    if (q->index != NULL)
        q->index->ops->close(q->index);
    spool_close(q->spool);
    free(q);
}

void quarantine_set_days(quarantine *q, unsigned days)
{
    if (days > 0)
        q->days = days;
}

maildir_spool *quarantine_spool(quarantine *q)
{
    return q->spool;
}

quarantine_index *quarantine_get_index(quarantine *q)
{
    return q->index;
}

spool_file *quarantine_begin(quarantine *q, int64_t now, char *why, size_t why_size)
{
    return spool_file_begin(q->spool, now, why, why_size);
}

static int remove_file(void *ctx, const char *path)
{
    (void)ctx;
    return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
}

int quarantine_purge(quarantine *q, int64_t now, uint64_t limit, uint64_t *removed, char *why,
                     size_t why_size)
{
    *removed = 0;
    if (q->index == NULL) {
        snprintf(why, why_size, "no quarantine index (database is empty): nothing to purge by");
        return -1;
    }
    int64_t before = now - (int64_t)q->days * 86400;
    return q->index->ops->expire(q->index, before, limit, now, remove_file, NULL, removed, why,
                                 why_size);
}

int quarantine_commit(quarantine *q, spool_file *f, const spool_facts *facts, char *id,
                      size_t id_size, char *why, size_t why_size)
{
    char path[4096];
    uint64_t size = spool_file_size(f);
    if (spool_file_commit(f, facts, id, id_size, path, sizeof path, why, why_size) != 0)
        return -1;
    if (q->index == NULL)
        return 0;
    quarantine_row row = {
        .id = id,
        .path = path,
        .time = facts->time,
        .sender = facts->mail_from ? facts->mail_from : "",
        .rcpts = facts->rcpts,
        .rcpt_count = facts->rcpt_count,
        .domain = facts->domain,
        .results = facts->results,
        .result_count = facts->result_count,
        .reasons = facts->reasons,
        .told = facts->told,
        .queue_id = facts->queue_id,
        .client_ip = facts->client_ip,
        .size = size,
        .state = "quarantined",
        .state_time = facts->time,
    };
    char inner[512];
    if (q->index->ops->add(q->index, &row, inner, sizeof inner) != 0) {
        snprintf(why, why_size, "%s stored but not indexed: %s", path, inner);
        return 1;
    }
    if (q->purge_per_add > 0) {
        uint64_t removed;
        /* Bounded work per add; a failing purge does not undo the add. */
        quarantine_purge(q, facts->time, q->purge_per_add, &removed, inner, sizeof inner);
    }
    return 0;
}

/* ------------------------------------------------------ unindexed files */

typedef struct id_set {
    char **ids;
    size_t count, size;
    bool failed;
} id_set;

static int collect_id(void *ctx, const quarantine_row *row)
{
    id_set *set = ctx;
    if (set->count == set->size) {
        size_t size = set->size ? set->size * 2 : 256;
        char **ids = realloc(set->ids, size * sizeof *ids);
        if (ids == NULL) {
            set->failed = true;
            return 1;
        }
        set->ids = ids;
        set->size = size;
    }
    if ((set->ids[set->count] = strdup(row->id ? row->id : "")) == NULL) {
        set->failed = true;
        return 1;
    }
    set->count++;
    return 0;
}

static int by_string(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void id_set_free(id_set *set)
{
    for (size_t i = 0; i < set->count; i++)
        free(set->ids[i]);
    free(set->ids);
}

int quarantine_scan_unindexed(quarantine *q, quarantine_unindexed_fn *fn, void *ctx, char *why,
                              size_t why_size)
{
    id_set known = {0};
    quarantine_query every = {.state = "all"};
    if (q->index != NULL) {
        char inner[512];
        if (q->index->ops->query(q->index, &every, collect_id, &known, inner, sizeof inner) !=
                0 ||
            known.failed) {
            snprintf(why, why_size, "reading the quarantine index: %s",
                     known.failed ? "out of memory" : inner);
            id_set_free(&known);
            return -1;
        }
        if (known.count > 0)
            qsort(known.ids, known.count, sizeof *known.ids, by_string);
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/new", spool_dir(q->spool));
    DIR *d = opendir(dir);
    if (d == NULL) {
        snprintf(why, why_size, "%s: %s", dir, strerror(errno));
        id_set_free(&known);
        return -1;
    }
    int rc = 0;
    for (struct dirent *de; rc == 0 && (de = readdir(d)) != NULL;) {
        char *name = de->d_name;
        if (name[0] == '.' || !spool_id_valid(name) ||
            (known.count > 0 &&
             bsearch(&name, known.ids, known.count, sizeof *known.ids, by_string) != NULL))
            continue;
        char path[4096 + 256], problem[700] = "";
        snprintf(path, sizeof path, "%s/%s", dir, name);
        spool_entry e;
        quarantine_row r = {.id = name, .path = path, .state = "unindexed"};
        if (spool_read(path, &e, NULL, NULL, problem, sizeof problem) == 0) {
            r.time = r.state_time = e.time;
            r.sender = e.mail_from;
            r.rcpts = (const char *const *)e.rcpts;
            r.rcpt_count = e.rcpt_count;
            r.domain = e.domain;
            r.results = (const char *const *)e.results;
            r.result_count = e.result_count;
            r.reasons = e.reasons;
            r.told = e.told;
            r.queue_id = e.queue_id;
            r.client_ip = e.client_ip;
            r.size = e.size;
            rc = fn(ctx, &r, NULL);
            spool_entry_free(&e);
        } else {
            rc = fn(ctx, &r, problem);
        }
    }
    closedir(d);
    id_set_free(&known);
    if (rc != 0) {
        snprintf(why, why_size, "the scan of %s was stopped", dir);
        return -1;
    }
    return 0;
}

typedef struct reindex_state {
    quarantine *q;
    quarantine_unindexed_fn *unreadable_fn;
    void *ctx;
    uint64_t added, unreadable;
    char failure[600];
} reindex_state;

static int reindex_one(void *ctx, const quarantine_row *row, const char *problem)
{
    reindex_state *st = ctx;
    if (problem != NULL) {
        st->unreadable++;
        return st->unreadable_fn ? st->unreadable_fn(st->ctx, row, problem) : 0;
    }
    quarantine_row r = *row;
    r.state = "quarantined";
    bool added = false;
    char inner[512];
    if (st->q->index->ops->add_missing(st->q->index, &r, &added, inner, sizeof inner) != 0) {
        snprintf(st->failure, sizeof st->failure, "%s: %s", row->path, inner);
        return 1;
    }
    st->added += added;
    return 0;
}

int quarantine_reindex(quarantine *q, quarantine_unindexed_fn *unreadable_fn, void *ctx,
                       uint64_t *added, uint64_t *unreadable, char *why, size_t why_size)
{
    *added = *unreadable = 0;
    if (q->index == NULL || q->index->ops->add_missing == NULL) {
        snprintf(why, why_size, "%s",
                 q->index == NULL ? "no quarantine index (database is empty): nothing to rebuild"
                                  : "this index cannot add rows without replacing them");
        return -1;
    }
    reindex_state st = {.q = q, .unreadable_fn = unreadable_fn, .ctx = ctx};
    int rc = quarantine_scan_unindexed(q, reindex_one, &st, why, why_size);
    *added = st.added;
    *unreadable = st.unreadable;
    if (st.failure[0] != '\0')
        snprintf(why, why_size, "%s", st.failure); /* what stopped the scan */
    return rc;
}
