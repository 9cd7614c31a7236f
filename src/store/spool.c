/* spool.c: the quarantine spool writer and the spool-file parser; see
 * spool.h.
 *
 * The message streams into tmp/NAME.part as it arrives (a 64 KiB buffer,
 * so memory does not grow with the message). Its facts are known only at
 * the verdict, and they go first in the file, so commit writes tmp/NAME
 * as header + a kernel copy of the part file, syncs it, renames it into
 * new/NAME and syncs new/. new/ then only ever holds whole files. */
#define _GNU_SOURCE
#include "util/hex.h"
#include "store/spool.h"

#include <dirent.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/errbuf.h"
#include "util/strbuf.h"

enum { SPOOL_BUFFER = 64 * 1024, NAME_TRIES = 16 };

struct maildir_spool {
    char *dir;
    spool_io io;
    unsigned counter; /* this handle's deliveries: part of every name */
};

struct spool_file {
    maildir_spool *s;
    int fd;
    char name[SPOOL_ID_MAX];
    char part_path[4096];
    uint64_t size;
    int error;           /* the first errno of a write, 0 while all is well */
    char error_what[64];
    size_t used;
    char buffer[SPOOL_BUFFER];
};

/* ------------------------------------------------------------- the io */

static ssize_t do_write(const maildir_spool *s, int fd, const void *buf, size_t len)
{
    return s->io.write ? s->io.write(s->io.ctx, fd, buf, len) : write(fd, buf, len);
}

static int do_fsync(const maildir_spool *s, int fd)
{
    return s->io.fsync ? s->io.fsync(s->io.ctx, fd) : fsync(fd);
}

bool spool_id_valid(const char *id)
{
    if (id == NULL || !*id || id[0] == '.' || strlen(id) >= SPOOL_ID_MAX)
        return false;
    for (const char *p = id; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-' && *p != ',' &&
            *p != '=' && *p != ':')
            return false;
    return true;
}

static int do_rename(const maildir_spool *s, const char *from, const char *to)
{
    return s->io.rename ? s->io.rename(s->io.ctx, from, to) : rename(from, to);
}

static uint32_t do_random(const maildir_spool *s)
{
    if (s->io.random)
        return s->io.random(s->io.ctx);
    uint32_t r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
        r = (uint32_t)getpid() * 2654435761u ^ (uint32_t)s->counter;
    return r;
}

/* Writes all of buf, through short writes and EINTR. 0 or an errno. */
static int write_all(const maildir_spool *s, int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = do_write(s, fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno ? errno : EIO;
        if (n == 0)
            return ENOSPC; /* no progress: never loop forever */
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* ----------------------------------------------------------- the maildir_spool */

static int make_dir(const char *path, bool create)
{
    struct stat sb;
    if (stat(path, &sb) == 0)
        return S_ISDIR(sb.st_mode) ? 0 : ENOTDIR;
    if (!create || errno != ENOENT)
        return errno;
    if (mkdir(path, 0750) != 0 && errno != EEXIST)
        return errno;
    return 0;
}

maildir_spool *spool_open(const char *dir, bool create, const spool_io *io, char *why, size_t why_size)
{
    if (dir == NULL || dir[0] != '/' || strlen(dir) > 3000) {
        errbuf_set(why, why_size, "quarantine_dir must be an absolute path, not '%.200s'",
            dir ? dir : "");
        return NULL;
    }
    char path[4096];
    const char *subs[] = {"", "/tmp", "/new"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s%s", dir, subs[i]);
        int e = make_dir(path, create);
        if (e != 0) {
            errbuf_set(why, why_size, "%s: %s", path, strerror(e));
            return NULL;
        }
    }
    maildir_spool *s = calloc(1, sizeof *s);
    if (s == NULL || (s->dir = strdup(dir)) == NULL) {
        free(s);
        errbuf_set(why, why_size, "out of memory");
        return NULL;
    }
    if (io != NULL)
        s->io = *io;
    return s;
}

void spool_close(maildir_spool *s)
{
    if (s == NULL)
        return;
    free(s->dir);
    free(s);
}

const char *spool_dir(const maildir_spool *s)
{
    return s->dir;
}

/* --------------------------------------------------------- the writer */

spool_file *spool_file_begin(maildir_spool *s, int64_t now, char *why, size_t why_size)
{
    spool_file *f = malloc(sizeof *f);
    if (f == NULL) {
        errbuf_set(why, why_size, "out of memory");
        return NULL;
    }
    f->s = s;
    f->size = 0;
    f->used = 0;
    f->error = 0;
    f->error_what[0] = '\0';
    for (int tries = 0; tries < NAME_TRIES; tries++) {
        /* time.Ppid.Qcounter.Rrandom: unique per process by the counter,
         * between processes by the pid, across pid reuse by the time and
         * the random bits; O_EXCL catches whatever is left. */
        snprintf(f->name, sizeof f->name, "%lld.P%ldQ%uR%08x", (long long)now, (long)getpid(),
                 ++s->counter, do_random(s));
        snprintf(f->part_path, sizeof f->part_path, "%s/tmp/%s.part", s->dir, f->name);
        f->fd = open(f->part_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0640);
        if (f->fd >= 0)
            return f;
        if (errno != EEXIST)
            break;
    }
    errbuf_set(why, why_size, "cannot create %s: %s", f->part_path, strerror(errno));
    free(f);
    return NULL;
}

static void flush(spool_file *f)
{
    if (f->used == 0 || f->error)
        return;
    int e = write_all(f->s, f->fd, f->buffer, f->used);
    if (e != 0) {
        f->error = e;
        snprintf(f->error_what, sizeof f->error_what, "write");
    }
    f->used = 0;
}

void spool_file_write(spool_file *f, const void *data, size_t len)
{
    const char *p = data;
    f->size += len;
    while (len > 0 && !f->error) {
        size_t room = sizeof f->buffer - f->used;
        size_t n = len < room ? len : room;
        memcpy(f->buffer + f->used, p, n);
        f->used += n;
        p += n;
        len -= n;
        if (f->used == sizeof f->buffer)
            flush(f);
    }
}

uint64_t spool_file_size(const spool_file *f)
{
    return f->size;
}

void spool_file_abort(spool_file *f)
{
    if (f == NULL)
        return;
    close(f->fd);
    unlink(f->part_path);
    free(f);
}

/* One "X-Domauth-Quarantine-KEY: VALUE\n" line, the value escaped. */
static void put_line(strbuf *sb, const char *key, const char *value)
{
    if (value == NULL)
        return;
    strbuf_printf(sb, "X-Domauth-Quarantine-%s: ", key);
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        if (*p < 0x20 || *p > 0x7e || *p == '%')
            strbuf_printf(sb, "%%%02X", *p);
        else
            strbuf_putc(sb, (char)*p);
    }
    strbuf_putc(sb, '\n');
}

static void put_header(strbuf *sb, const char *id, const spool_facts *x, uint64_t size)
{
    char num[64];
    put_line(sb, "Version", "1");
    put_line(sb, "Id", id);
    snprintf(num, sizeof num, "%lld", (long long)x->time);
    put_line(sb, "Time", num);
    put_line(sb, "Mail-From", x->mail_from ? x->mail_from : "");
    for (size_t i = 0; i < x->rcpt_count; i++)
        put_line(sb, "Rcpt", x->rcpts[i]);
    put_line(sb, "Client-Ip", x->client_ip);
    put_line(sb, "Client-Name", x->client_name);
    put_line(sb, "Helo", x->helo);
    put_line(sb, "Queue-Id", x->queue_id);
    put_line(sb, "Domain", x->domain);
    for (size_t i = 0; i < x->result_count; i++)
        put_line(sb, "Result", x->results[i]);
    snprintf(num, sizeof num, "%.1f", x->score);
    put_line(sb, "Score", num);
    put_line(sb, "Verdict", x->verdict ? x->verdict : "quarantine");
    put_line(sb, "Told", x->told);
    put_line(sb, "Reasons", x->reasons);
    snprintf(num, sizeof num, "%llu", (unsigned long long)size);
    put_line(sb, "Size", num);
    strbuf_putc(sb, '\n');
}

/* Copies the part file after the header: in the kernel when the io is the
 * system's, else through the injected write (so fault tests reach it). */
static int copy_message(spool_file *f, int out, const char **what)
{
    uint64_t left = f->size;
    off_t in_off = 0;
    if (f->s->io.write == NULL) {
        while (left > 0) {
            ssize_t n = copy_file_range(f->fd, &in_off, out, NULL, left, 0);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL ||
                          errno == EOPNOTSUPP) && in_off == 0)
                break; /* not here: copy by hand below */
            if (n <= 0) {
                *what = "copy";
                return n < 0 ? errno : EIO;
            }
            left -= (uint64_t)n;
        }
        if (left == 0)
            return 0;
    }
    char buf[SPOOL_BUFFER];
    while (left > 0) {
        ssize_t n = pread(f->fd, buf, left < sizeof buf ? left : sizeof buf, in_off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            *what = "read back";
            return n < 0 ? errno : EIO;
        }
        int e = write_all(f->s, out, buf, (size_t)n);
        if (e != 0) {
            *what = "write";
            return e;
        }
        in_off += n;
        left -= (uint64_t)n;
    }
    return 0;
}

int spool_file_commit(spool_file *f, const spool_facts *facts, char *id, size_t id_size,
                      char *path, size_t path_size, char *why, size_t why_size)
{
    maildir_spool *s = f->s;
    char tmp_path[4096], new_path[4096], new_dir[4096];
    snprintf(tmp_path, sizeof tmp_path, "%s/tmp/%s", s->dir, f->name);
    snprintf(new_path, sizeof new_path, "%s/new/%s", s->dir, f->name);
    snprintf(new_dir, sizeof new_dir, "%s/new", s->dir);
    flush(f);
    int out = -1, e = f->error;
    const char *what = f->error_what, *where = f->part_path;
    if (e != 0)
        goto fail;
    where = tmp_path;
    out = open(tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0640);
    if (out < 0) {
        e = errno;
        what = "create";
        goto fail;
    }
    strbuf header;
    strbuf_init(&header);
    put_header(&header, f->name, facts, f->size);
    if (header.failed || header.len > SPOOL_HEADER_MAX) {
        strbuf_free(&header);
        e = header.failed ? ENOMEM : E2BIG;
        what = "header";
        goto fail;
    }
    e = write_all(s, out, header.data, header.len);
    strbuf_free(&header);
    if (e != 0) {
        what = "write";
        goto fail;
    }
    if ((e = copy_message(f, out, &what)) != 0)
        goto fail;
    if (do_fsync(s, out) != 0) {
        e = errno;
        what = "fsync";
        goto fail;
    }
    if (close(out) != 0) {
        out = -1;
        e = errno;
        what = "close";
        goto fail;
    }
    out = -1;
    if (do_rename(s, tmp_path, new_path) != 0) {
        e = errno;
        what = "rename into new/";
        goto fail;
    }
    /* The rename is durable once the directory is synced. A failure here
     * leaves a whole file in new/, which may not survive a power cut:
     * taken back, so the caller's fallback applies. */
    int dfd = open(new_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || do_fsync(s, dfd) != 0) {
        e = errno;
        what = "fsync of the directory";
        if (dfd >= 0)
            close(dfd);
        unlink(new_path);
        where = new_dir;
        goto fail_renamed;
    }
    close(dfd);
    close(f->fd);
    unlink(f->part_path);
    snprintf(id, id_size, "%s", f->name);
    snprintf(path, path_size, "%s", new_path);
    free(f);
    return 0;
fail:
    if (out >= 0)
        close(out);
    unlink(tmp_path);
fail_renamed:
    errbuf_set(why, why_size, "%s: %s failed: %s", where, what, strerror(e ? e : EIO));
    spool_file_abort(f);
    return -1;
}

int spool_clean_tmp(maildir_spool *s, int64_t now, int64_t max_age)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/tmp", s->dir);
    DIR *d = opendir(dir);
    if (d == NULL)
        return -1;
    int removed = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        struct stat sb;
        if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISREG(sb.st_mode) && (int64_t)sb.st_mtime < now - max_age &&
            unlinkat(dirfd(d), de->d_name, 0) == 0)
            removed++;
    }
    closedir(d);
    return removed;
}

/* --------------------------------------------------------- the parser */

typedef enum spool_key {
    K_VERSION, K_ID, K_TIME, K_MAIL_FROM, K_RCPT, K_CLIENT_IP, K_CLIENT_NAME, K_HELO,
    K_QUEUE_ID, K_DOMAIN, K_RESULT, K_SCORE, K_VERDICT, K_TOLD, K_REASONS, K_SIZE, K_COUNT
} spool_key;

static const char *const key_names[K_COUNT] = {
    "Version", "Id", "Time", "Mail-From", "Rcpt", "Client-Ip", "Client-Name", "Helo",
    "Queue-Id", "Domain", "Result", "Score", "Verdict", "Told", "Reasons", "Size"};

/* Decodes value[0..len) into out (NUL-terminated). -1 on a bad escape, a
 * raw byte that the writer would have escaped, or an escaped NUL. */
static int decode(const char *v, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c == '%') {
            if (i + 2 >= len)
                return -1;
            int hi = util_hex_digit(v[i + 1]), lo = util_hex_digit(v[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return -1;
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else if (c < 0x20 || c > 0x7e) {
            return -1;
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
    return 0;
}

static bool parse_u64(const char *s, uint64_t *out)
{
    size_t n = strspn(s, "0123456789");
    if (n == 0 || n > 19 || s[n] != '\0' || (n > 1 && s[0] == '0'))
        return false;
    *out = strtoull(s, NULL, 10);
    return true;
}

static bool parse_score(const char *s, double *out)
{
    const char *p = s + (*s == '-');
    size_t n = strspn(p, "0123456789");
    if (n == 0 || n > 8)
        return false;
    if (p[n] == '.') {
        size_t m = strspn(p + n + 1, "0123456789");
        if (m == 0 || m > 6 || p[n + 1 + m] != '\0')
            return false;
    } else if (p[n] != '\0') {
        return false;
    }
    *out = strtod(s, NULL);
    return true;
}

static int push(char ***list, size_t *count, char *value)
{
    char **n = realloc(*list, (*count + 1) * sizeof *n);
    if (n == NULL)
        return -1;
    *list = n;
    n[(*count)++] = value;
    return 0;
}

void spool_entry_free(spool_entry *e)
{
    free(e->memory);
    free(e->rcpts);
    free(e->results);
    memset(e, 0, sizeof *e);
}

int spool_parse(const char *data, size_t len, spool_entry *out, char *why, size_t why_size)
{
    static const char prefix[] = "X-Domauth-Quarantine-";
    memset(out, 0, sizeof *out);
    if (len > SPOOL_HEADER_MAX)
        len = SPOOL_HEADER_MAX; /* the header must end within it */
    out->memory = malloc(len + 1);
    if (out->memory == NULL) {
        errbuf_set(why, why_size, "out of memory");
        return -1;
    }
    char *mem = out->memory;
    bool seen[K_COUNT] = {false};
    size_t pos = 0;
    unsigned line = 0;
    for (;;) {
        line++;
        const char *p = data + pos;
        const char *nl = memchr(p, '\n', len - pos);
        if (nl == NULL) {
            errbuf_set(why, why_size, "line %u: the header does not end (no empty line within %zu "
                "bytes)", line, len);
            goto fail;
        }
        size_t n = (size_t)(nl - p);
        pos += n + 1;
        if (n == 0)
            break;
        if (n < sizeof prefix - 1 || memcmp(p, prefix, sizeof prefix - 1) != 0) {
            errbuf_set(why, why_size, "line %u: expected X-Domauth-Quarantine-KEY: VALUE", line);
            goto fail;
        }
        const char *k = p + sizeof prefix - 1;
        const char *colon = memchr(k, ':', n - (sizeof prefix - 1));
        if (colon == NULL || colon + 1 >= p + n || colon[1] != ' ') {
            errbuf_set(why, why_size, "line %u: expected ': ' after the key", line);
            goto fail;
        }
        size_t klen = (size_t)(colon - k);
        int key = -1;
        for (int i = 0; i < K_COUNT; i++)
            if (strlen(key_names[i]) == klen && memcmp(k, key_names[i], klen) == 0)
                key = i;
        if (key < 0) {
            errbuf_set(why, why_size, "line %u: unknown key '%.*s'", line, (int)(klen > 40 ? 40 : klen),
                k);
            goto fail;
        }
        if (line == 1 && key != K_VERSION) {
            errbuf_set(why, why_size, "line 1: expected the Version line first");
            goto fail;
        }
        if (seen[key] && key != K_RCPT && key != K_RESULT) {
            errbuf_set(why, why_size, "line %u: %s given twice", line, key_names[key]);
            goto fail;
        }
        seen[key] = true;
        const char *v = colon + 2;
        size_t vlen = (size_t)(p + n - v);
        char *value = mem;
        if (decode(v, vlen, value) != 0) {
            errbuf_set(why, why_size, "line %u: bad byte or escape in the %s value", line,
                key_names[key]);
            goto fail;
        }
        mem += strlen(value) + 1;
        uint64_t u;
        switch ((spool_key)key) {
        case K_VERSION:
            if (strcmp(value, "1") != 0) {
                errbuf_set(why, why_size, "line %u: version '%.20s' is not 1", line, value);
                goto fail;
            }
            out->version = 1;
            break;
        case K_ID:
            if (*value == '\0' || strlen(value) >= SPOOL_ID_MAX || strchr(value, '/') ||
                value[0] == '.') {
                errbuf_set(why, why_size, "line %u: not a spool file name", line);
                goto fail;
            }
            out->id = value;
            break;
        case K_TIME:
            if (!parse_u64(value, &u) || u > (uint64_t)INT64_MAX / 2) {
                errbuf_set(why, why_size, "line %u: Time is not a number of seconds", line);
                goto fail;
            }
            out->time = (int64_t)u;
            break;
        case K_SIZE:
            if (!parse_u64(value, &u)) {
                errbuf_set(why, why_size, "line %u: Size is not a number of bytes", line);
                goto fail;
            }
            out->size = u;
            break;
        case K_SCORE:
            if (!parse_score(value, &out->score)) {
                errbuf_set(why, why_size, "line %u: Score is not a number such as 5.0", line);
                goto fail;
            }
            break;
        case K_RCPT:
        case K_RESULT:
            if (push(key == K_RCPT ? &out->rcpts : &out->results,
                     key == K_RCPT ? &out->rcpt_count : &out->result_count, value) != 0) {
                errbuf_set(why, why_size, "out of memory");
                goto fail;
            }
            break;
        case K_MAIL_FROM: out->mail_from = value; break;
        case K_CLIENT_IP: out->client_ip = value; break;
        case K_CLIENT_NAME: out->client_name = value; break;
        case K_HELO: out->helo = value; break;
        case K_QUEUE_ID: out->queue_id = value; break;
        case K_DOMAIN: out->domain = value; break;
        case K_VERDICT: out->verdict = value; break;
        case K_TOLD: out->told = value; break;
        case K_REASONS: out->reasons = value; break;
        case K_COUNT: break;
        }
    }
    static const spool_key required[] = {K_VERSION, K_ID, K_TIME, K_MAIL_FROM, K_VERDICT,
                                         K_SIZE};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        if (!seen[required[i]]) {
            errbuf_set(why, why_size, "the %s line is missing", key_names[required[i]]);
            goto fail;
        }
    }
    out->message_offset = pos;
    return 0;
fail:
    spool_entry_free(out);
    return -1;
}

int spool_read(const char *path, spool_entry *out, char **message, size_t *message_len,
               char *why, size_t why_size)
{
    memset(out, 0, sizeof *out);
    if (message != NULL) {
        *message = NULL;
        *message_len = 0;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        errbuf_set(why, why_size, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        errbuf_set(why, why_size, "%s: not a regular file", path);
        close(fd);
        return -1;
    }
    size_t head = (uint64_t)sb.st_size < SPOOL_HEADER_MAX ? (size_t)sb.st_size : SPOOL_HEADER_MAX;
    char *buf = malloc(head + 1);
    ssize_t got = buf ? pread(fd, buf, head, 0) : -1;
    char inner[300];
    int rc = -1;
    if (got != (ssize_t)head) {
        errbuf_set(why, why_size, "%s: cannot read: %s", path, buf ? strerror(errno) : "out of memory");
    } else if (spool_parse(buf, head, out, inner, sizeof inner) != 0) {
        errbuf_set(why, why_size, "%s: corrupt spool file: %s", path, inner);
    } else if ((uint64_t)sb.st_size - out->message_offset != out->size) {
        errbuf_set(why, why_size, "%s: corrupt spool file: the message has %llu bytes, the header "
            "says %llu", path, (unsigned long long)((uint64_t)sb.st_size - out->message_offset),
            (unsigned long long)out->size);
        spool_entry_free(out);
    } else {
        rc = 0;
    }
    free(buf);
    if (rc == 0 && message != NULL) {
        char *m = malloc(out->size + 1);
        if (m == NULL ||
            pread(fd, m, out->size, (off_t)out->message_offset) != (ssize_t)out->size) {
            errbuf_set(why, why_size, "%s: cannot read the message", path);
            free(m);
            spool_entry_free(out);
            rc = -1;
        } else {
            m[out->size] = '\0';
            *message = m;
            *message_len = out->size;
        }
    }
    close(fd);
    return rc;
}
