/* quarantine.c: the spool and its index together, and retention; see
 * quarantine_store.h. */
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
