/* quarantine.c: the quarantine spool writer, its parser and the index
 * (src/store/spool.c, quarantine.c, sqlite/quarantine_sqlite.c): a message
 * read back byte for byte and its facts with hostile values, short writes,
 * write/fsync/rename faults through the injectable io, names that cannot
 * collide, a crashed tmp file that is never listed, the strict parser,
 * purge by age that never removes a younger message, and the index rebuilt
 * for messages stored without their row. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/quarantine_store.h"
#include "store/spool.h"
#include "tap.h"

static char root[64];

static unsigned count_dir(const char *sub)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", root, sub);
    DIR *d = opendir(path);
    unsigned n = 0;
    if (d == NULL)
        return 0;
    for (struct dirent *de; (de = readdir(d)) != NULL;)
        n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

static int rm_entry(const char *p, const struct stat *sb, int f, struct FTW *w)
{
    (void)sb;
    (void)f;
    (void)w;
    return remove(p);
}

static void clear_root(void)
{
    nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- injected io ---- */
typedef struct fault {
    size_t max_chunk;     /* short writes: at most this many bytes a call */
    size_t fail_after;    /* ENOSPC once this many bytes are written (0: never) */
    size_t written;
    int fail_fsync;       /* fail the n-th fsync (1-based; 0: never) */
    int fsyncs;
    bool fail_rename;
    uint32_t random;
} fault;

static ssize_t f_write(void *ctx, int fd, const void *buf, size_t len)
{
    fault *f = ctx;
    if (f->fail_after && f->written + 1 > f->fail_after) {
        errno = ENOSPC;
        return -1;
    }
    if (f->max_chunk && len > f->max_chunk)
        len = f->max_chunk;
    if (f->fail_after && f->written + len > f->fail_after)
        len = f->fail_after - f->written;
    ssize_t n = write(fd, buf, len);
    if (n > 0)
        f->written += (size_t)n;
    return n;
}

static int f_fsync(void *ctx, int fd)
{
    fault *f = ctx;
    if (++f->fsyncs == f->fail_fsync) {
        errno = EIO;
        return -1;
    }
    return fsync(fd);
}

static int f_rename(void *ctx, const char *from, const char *to)
{
    fault *f = ctx;
    if (f->fail_rename) {
        errno = EROFS;
        return -1;
    }
    return rename(from, to);
}

static uint32_t f_random(void *ctx)
{
    return ((fault *)ctx)->random;
}

static spool_io io_for(fault *f)
{
    return (spool_io){.write = f_write, .fsync = f_fsync, .rename = f_rename,
                      .random = f_random, .ctx = f};
}

static const char *const rcpts[] = {"b@dest.test", "c%d@dest.test"};
static const char *const results[] = {"spf=fail", "dkim=none"};

static spool_facts facts_at(int64_t t)
{
    return (spool_facts){
        .time = t,
        .mail_from = "evil\r\nX-Domauth-Quarantine-Verdict: accept\r\n@example.test",
        .rcpts = rcpts,
        .rcpt_count = 2,
        .client_ip = "192.0.2.10",
        .client_name = NULL,
        .helo = "h\xc3\xa9lo.test",
        .queue_id = "4ABC",
        .domain = "example.test",
        .results = results,
        .result_count = 2,
        .score = -1.5,
        .verdict = "quarantine",
        .told = "accept",
        .reasons = "spf=fail: [spf] fail_action quarantine; 100%",
    };
}

static char *message_of(size_t n)
{
    char *m = malloc(n);
    for (size_t i = 0; i < n; i++)
        m[i] = (char)(i * 131 + i / 7); /* every byte value, NUL and CR/LF too */
    return m;
}

/* Writes n bytes in chunks of step through the spool, commits, reads back. */
static int store_and_read(maildir_spool *s, const char *msg, size_t n, size_t step, spool_entry *e,
                          char **back, size_t *back_len, char *id, char *why, size_t why_size)
{
    spool_file *f = spool_file_begin(s, 1800000000, why, why_size);
    if (f == NULL)
        return -1;
    for (size_t i = 0; i < n; i += step)
        spool_file_write(f, msg + i, n - i < step ? n - i : step);
    spool_facts x = facts_at(1800000000);
    char path[4096];
    if (spool_file_commit(f, &x, id, SPOOL_ID_MAX, path, sizeof path, why, why_size) != 0)
        return -1;
    return spool_read(path, e, back, back_len, why, why_size);
}

static void test_round_trip(void)
{
    char why[600], id[SPOOL_ID_MAX];
    maildir_spool *s = spool_open(root, true, NULL, why, sizeof why);
    TAP_OK(s != NULL && count_dir("tmp") == 0 && count_dir("new") == 0,
           "spool_open makes tmp/ and new/ (%s)", s ? "" : why);
    size_t n = 200000; /* over three of the writer's buffers */
    char *msg = message_of(n), *back = NULL;
    size_t back_len = 0;
    spool_entry e;
    int rc = store_and_read(s, msg, n, 1000, &e, &back, &back_len, id, why, sizeof why);
    TAP_OK(rc == 0 && back_len == n && memcmp(back, msg, n) == 0,
           "200000 bytes of every value read back byte for byte (%s)", rc ? why : "");
    if (rc == 0) {
        TAP_OK(strcmp(e.mail_from, facts_at(0).mail_from) == 0 && e.rcpt_count == 2 &&
                   strcmp(e.rcpts[1], "c%d@dest.test") == 0 &&
                   strcmp(e.helo, "h\xc3\xa9lo.test") == 0 && e.client_name == NULL &&
                   strcmp(e.verdict, "quarantine") == 0 && e.score == -1.5 &&
                   e.time == 1800000000 && strcmp(e.id, id) == 0 && e.result_count == 2 &&
                   strcmp(e.reasons, facts_at(0).reasons) == 0,
               "the facts read back, CR LF and %% in values escaped, not new lines");
        spool_entry_free(&e);
    }
    free(back);
    TAP_OK(count_dir("new") == 1 && count_dir("tmp") == 0, "one file in new/, tmp/ empty");
    spool_close(s);
    free(msg);
    clear_root();
}

static void test_short_writes(void)
{
    char why[600], id[SPOOL_ID_MAX];
    fault f = {.max_chunk = 7, .random = 1};
    spool_io io = io_for(&f);
    maildir_spool *s = spool_open(root, true, &io, why, sizeof why);
    size_t n = 70001;
    char *msg = message_of(n), *back = NULL;
    size_t back_len = 0;
    spool_entry e;
    int rc = store_and_read(s, msg, n, 65536, &e, &back, &back_len, id, why, sizeof why);
    TAP_OK(rc == 0 && back_len == n && memcmp(back, msg, n) == 0,
           "writes of at most 7 bytes a call still make the whole file (%s)", rc ? why : "");
    if (rc == 0)
        spool_entry_free(&e);
    free(back);
    free(msg);
    spool_close(s);
    clear_root();
}

static void test_faults(void)
{
    char why[600], id[SPOOL_ID_MAX], path[4096];
    struct {
        fault f;
        const char *want;
        const char *what;
    } cases[] = {
        {{.fail_after = 100000}, "write failed: No space left on device", "ENOSPC while streaming"},
        {{.fail_after = 150100}, "write failed: No space left on device",
         "ENOSPC while writing the spool file"},
        {{.fail_fsync = 1}, "fsync failed: Input/output error", "fsync of the file fails"},
        {{.fail_rename = true}, "rename into new/ failed: Read-only file system",
         "rename into new/ fails"},
        {{.fail_fsync = 2}, "fsync of the directory failed", "fsync of new/ fails"},
    };
    char *msg = message_of(150000);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        spool_io io = io_for(&cases[i].f);
        maildir_spool *s = spool_open(root, true, &io, why, sizeof why);
        spool_file *f = spool_file_begin(s, 1800000000, why, sizeof why);
        spool_file_write(f, msg, 150000);
        spool_facts x = facts_at(1800000000);
        int rc = spool_file_commit(f, &x, id, sizeof id, path, sizeof path, why, sizeof why);
        TAP_OK(rc == -1 && strstr(why, cases[i].want) != NULL && strstr(why, root) != NULL &&
                   count_dir("new") == 0 && count_dir("tmp") == 0,
               "%s: refused, the path and the error said (%s), nothing left", cases[i].what,
               why);
        spool_close(s);
        clear_root();
    }
    free(msg);
}

static void test_names(void)
{
    char why[600];
    fault f = {.random = 0x1234};
    spool_io io = io_for(&f);
    maildir_spool *s = spool_open(root, true, &io, why, sizeof why);
    /* The name the first begin would take is there already. */
    char taken[512];
    snprintf(taken, sizeof taken, "%s/tmp/1800000000.P%ldQ1R00001234.part", root,
             (long)getpid());
    close(open(taken, O_CREAT | O_WRONLY, 0600));
    spool_file *a = spool_file_begin(s, 1800000000, why, sizeof why);
    TAP_OK(a != NULL && count_dir("tmp") == 2, "a name that exists is passed over (O_EXCL)");
    spool_file_abort(a);
    unlink(taken);
    /* A thousand messages in one second from one process: a thousand names. */
    spool_file *files[1000];
    bool all = true;
    for (int i = 0; i < 1000; i++)
        all = all && (files[i] = spool_file_begin(s, 1800000000, why, sizeof why)) != NULL;
    TAP_OK(all && count_dir("tmp") == 1000, "1000 messages in one second: 1000 names");
    for (int i = 0; i < 1000; i++)
        spool_file_abort(files[i]);
    TAP_OK(count_dir("tmp") == 0, "abort unlinks each");
    spool_close(s);
    clear_root();
}

static int count_row(void *ctx, const quarantine_row *r)
{
    (void)r;
    (*(unsigned *)ctx)++;
    return 0;
}

static unsigned rows(quarantine *q, const char *state)
{
    quarantine_index *x = quarantine_get_index(q);
    unsigned n = 0;
    char why[600];
    quarantine_query qq = {.state = state};
    x->ops->query(x, &qq, count_row, &n, why, sizeof why);
    return n;
}

static void test_crash_and_purge(void)
{
    char why[600], dir[128], db[128], id[SPOOL_ID_MAX];
    snprintf(dir, sizeof dir, "%s/q", root);
    snprintf(db, sizeof db, "%s/events.db", root);
    mkdir(root, 0700);
    quarantine_options o = {.dir = dir, .database = db, .days = 30, .write = true};
    quarantine *q = quarantine_open(&o, why, sizeof why);
    TAP_OK(q != NULL, "quarantine_open with an index (%s)", q ? "" : why);
    if (q == NULL)
        return;
    /* A crash mid-message and one mid-commit: files in tmp/ only. */
    spool_file *f = quarantine_begin(q, 1800000000, why, sizeof why);
    spool_file_write(f, "Subject: x\r\n\r\n", 14);
    char crashed[512];
    snprintf(crashed, sizeof crashed, "%s/tmp/1799000000.P1Q1R00000000", dir);
    close(open(crashed, O_CREAT | O_WRONLY, 0600));
    TAP_OK(rows(q, "all") == 0 && count_dir("q/new") == 0,
           "a crashed tmp file is neither indexed nor in new/ (never listed)");
    struct timespec old[2] = {{.tv_sec = 1000}, {.tv_sec = 1000}};
    utimensat(AT_FDCWD, crashed, old, 0);
    int removed = spool_clean_tmp(quarantine_spool(q), (int64_t)time(NULL), 36 * 3600);
    TAP_OK(removed == 1 && count_dir("q/tmp") == 1,
           "spool_clean_tmp removes the old tmp file, not the message arriving");
    spool_file_abort(f);

    /* Purge by age: 40, 31 and 29 days old; 30 days' retention. */
    int64_t now = 1800000000;
    int64_t ages[] = {40, 31, 29};
    for (int i = 0; i < 3; i++) {
        f = quarantine_begin(q, now, why, sizeof why);
        spool_file_write(f, "Subject: x\r\n\r\nbody\r\n", 20);
        spool_facts x = facts_at(now - ages[i] * 86400);
        TAP_OK(quarantine_commit(q, f, &x, id, sizeof id, why, sizeof why) == 0,
               "commit and index a message %lld days old", (long long)ages[i]);
    }
    TAP_OK(rows(q, NULL) == 3 && count_dir("q/new") == 3, "three quarantined, three files");
    uint64_t n = 0;
    TAP_OK(quarantine_purge(q, now, 1, &n, why, sizeof why) == 0 && n == 1 &&
               rows(q, NULL) == 2 && count_dir("q/new") == 2,
           "a bounded purge removes at most its limit (1), the oldest");
    TAP_OK(quarantine_purge(q, now, 0, &n, why, sizeof why) == 0 && n == 1 &&
               rows(q, NULL) == 1 && count_dir("q/new") == 1 && rows(q, "deleted") == 2,
           "purge removes the 31-day-old one, keeps the 29-day-old one");
    TAP_OK(quarantine_purge(q, now + 86400 - 1, 0, &n, why, sizeof why) == 0 && n == 0,
           "never one younger than the retention, even a second before it expires");
    TAP_OK(quarantine_purge(q, now + 86400 + 1, 0, &n, why, sizeof why) == 0 && n == 1 &&
               rows(q, NULL) == 0 && count_dir("q/new") == 0,
           "a second after, it goes");
    quarantine_close(q);
    clear_root();
}

static int note_unreadable(void *ctx, const quarantine_row *r, const char *problem)
{
    (void)r;
    (void)problem;
    (*(unsigned *)ctx)++;
    return 0;
}

/* Messages stored while the index was away (no database, as when
 * PostgreSQL is down: quarantine_commit's "stored but not indexed") get
 * their rows from their own facts; a row that exists is never changed, so a
 * release made meanwhile stays; an unreadable file is counted and named. */
static void test_reindex(void)
{
    char why[600], dir[128], db[128], ids[2][SPOOL_ID_MAX];
    snprintf(dir, sizeof dir, "%s/q", root);
    snprintf(db, sizeof db, "%s/events.db", root);
    mkdir(root, 0700);
    quarantine_options bare = {.dir = dir, .days = 30, .write = true};
    quarantine *q = quarantine_open(&bare, why, sizeof why);
    TAP_OK(q != NULL, "a quarantine without an index (%s)", q ? "" : why);
    if (q == NULL)
        return;
    for (int i = 0; i < 2; i++) {
        spool_file *f = quarantine_begin(q, 1800000000, why, sizeof why);
        spool_file_write(f, "Subject: x\r\n\r\nbody\r\n", 20);
        spool_facts x = facts_at(1800000000 - i * 60);
        quarantine_commit(q, f, &x, ids[i], sizeof ids[i], why, sizeof why);
    }
    quarantine_close(q);
    char corrupt[512];
    snprintf(corrupt, sizeof corrupt, "%s/new/1800000000.P9Q9R00000000", dir);
    FILE *bad = fopen(corrupt, "w");
    fputs("X-Domauth-Quarantine-Version: 1\nnot a spool file\n", bad);
    fclose(bad);

    quarantine_options o = {.dir = dir, .database = db, .days = 30, .write = true};
    q = quarantine_open(&o, why, sizeof why);
    TAP_OK(q != NULL && rows(q, "all") == 0, "the index starts empty (%s)", q ? "" : why);
    if (q == NULL)
        return;
    uint64_t added = 0, unreadable = 0;
    unsigned named = 0;
    int rc = quarantine_reindex(q, note_unreadable, &named, &added, &unreadable, why, sizeof why);
    TAP_OK(rc == 0 && added == 2 && unreadable == 1 && named == 1,
           "reindex adds the two messages' rows and names the unreadable file (%llu added, "
           "%llu unreadable%s%s)", (unsigned long long)added, (unsigned long long)unreadable,
           rc ? ": " : "", rc ? why : "");
    quarantine_index *x = quarantine_get_index(q);
    bool found = false;
    x->ops->set_state(x, ids[0], "released", 1800000100, "tester", &found, why, sizeof why);
    rc = quarantine_reindex(q, NULL, NULL, &added, &unreadable, why, sizeof why);
    TAP_OK(rc == 0 && added == 0 && found && rows(q, "released") == 1 && rows(q, NULL) == 1,
           "a second reindex adds nothing and leaves the release as it was");
    quarantine_query one = {.id = ids[1]};
    unsigned n = 0;
    x->ops->query(x, &one, count_row, &n, why, sizeof why);
    TAP_OK(n == 1, "the rebuilt row is found by its id");
    /* The race reindex leaves: a file listed as unindexed whose row (and a
     * release) arrive before its add. add_missing must not undo it. */
    quarantine_row again = {.id = ids[0], .path = "x", .time = 1, .state = "quarantined"};
    bool wrote = true;
    rc = x->ops->add_missing(x, &again, &wrote, why, sizeof why);
    TAP_OK(rc == 0 && !wrote && rows(q, "released") == 1,
           "add_missing over an existing row writes nothing (the release stays)");
    quarantine_close(q);
    clear_root();
}

static void test_parser(void)
{
    static const char good[] = "X-Domauth-Quarantine-Version: 1\n"
                               "X-Domauth-Quarantine-Id: 1.P2Q3R4\n"
                               "X-Domauth-Quarantine-Time: 1800000000\n"
                               "X-Domauth-Quarantine-Mail-From: \n"
                               "X-Domauth-Quarantine-Verdict: quarantine\n"
                               "X-Domauth-Quarantine-Size: 4\n"
                               "\n"
                               "body";
    spool_entry e;
    char why[300];
    TAP_OK(spool_parse(good, sizeof good - 1, &e, why, sizeof why) == 0 &&
               e.message_offset == sizeof good - 5 && e.size == 4 && *e.mail_from == '\0',
           "a minimal header parses (the null sender as an empty value)");
    spool_entry_free(&e);
    static const struct {
        const char *text, *want;
    } bad[] = {
        {"X-Domauth-Quarantine-Id: 1\n\n", "line 1: expected the Version line first"},
        {"X-Domauth-Quarantine-Version: 2\n\n", "version '2' is not 1"},
        {"X-Domauth-Quarantine-Version: 1\nX-Domauth-Quarantine-Nope: x\n\n", "unknown key"},
        {"X-Domauth-Quarantine-Version: 1\nX-Domauth-Quarantine-Time: 1\n"
         "X-Domauth-Quarantine-Time: 2\n\n", "line 3: Time given twice"},
        {"X-Domauth-Quarantine-Version: 1\nX-Domauth-Quarantine-Helo: a%4\n\n", "bad byte or escape"},
        {"X-Domauth-Quarantine-Version: 1\nX-Domauth-Quarantine-Helo: a%00b\n\n", "bad byte or escape"},
        {"X-Domauth-Quarantine-Version: 1\nX-Domauth-Quarantine-Helo: a\rb\n\n", "bad byte or escape"},
        {"X-Domauth-Quarantine-Version: 1\nX-Domauth-Quarantine-Time: 01\n\n", "Time is not"},
        {"X-Domauth-Quarantine-Version: 1\nX-Domauth-Quarantine-Score: 1e5\n\n", "Score is not"},
        {"X-Domauth-Quarantine-Version: 1\nX-Domauth-Quarantine-Id: ../x\n\n", "not a spool file name"},
        {"X-Domauth-Quarantine-Version: 1\nX-Domauth-Quarantine-Helo:x\n\n", "expected ': '"},
        {"X-Domauth-Quarantine-Version: 1\nSubject: x\n\n", "line 2: expected X-Domauth"},
        {"X-Domauth-Quarantine-Version: 1\n", "the header does not end"},
        {"X-Domauth-Quarantine-Version: 1\n\n", "the Id line is missing"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = '\0';
        int rc = spool_parse(bad[i].text, strlen(bad[i].text), &e, why, sizeof why);
        TAP_OK(rc == -1 && strstr(why, bad[i].want) != NULL, "refused: %s (%s)", bad[i].want,
               why);
    }
}

int main(void)
{
    snprintf(root, sizeof root, "/tmp/unit-quarantine.XXXXXX");
    if (mkdtemp(root) == NULL) {
        printf("Bail out! mkdtemp\n");
        return 1;
    }
    test_round_trip();
    mkdir(root, 0700);
    test_short_writes();
    mkdir(root, 0700);
    test_faults();
    mkdir(root, 0700);
    test_names();
    test_crash_and_purge();
    mkdir(root, 0700);
    test_reindex();
    test_parser();
    clear_root();
    return tap_done();
}
