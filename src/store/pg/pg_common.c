/* pg_common.c: see pg_common.h. */
#include "pg_common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/errbuf.h"
#include "util/json.h"

enum { PASSWORD_MAX = 1024 };

static int read_password(const char *path, char **out, char *why, size_t why_size)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return errbuf_set(why, why_size, "database_password_file %s: %s", path, strerror(errno));
    char line[PASSWORD_MAX + 2];
    if (fgets(line, sizeof line, f) == NULL)
        line[0] = '\0';
    fclose(f);
    size_t n = strcspn(line, "\r\n");
    if (n > PASSWORD_MAX)
        return errbuf_set(why, why_size, "database_password_file %s: the first line is longer "
                          "than %d bytes", path, PASSWORD_MAX);
    if (n == 0)
        return errbuf_set(why, why_size, "database_password_file %s: the first line is empty",
                          path);
    line[n] = '\0';
    *out = strdup(line);
    explicit_bzero(line, sizeof line);
    return *out ? 0 : errbuf_set(why, why_size, "out of memory");
}

int pg_link_init(pg_link *l, const char *location, const char *password_file,
                 unsigned timeout_ms, char *why, size_t why_size)
{
    *l = (pg_link){.timeout_ms = timeout_ms};
    if ((l->location = strdup(location)) == NULL)
        return errbuf_set(why, why_size, "out of memory");
    if (password_file != NULL && *password_file != '\0' &&
        read_password(password_file, &l->password, why, why_size) != 0)
        return -1;
    return 0;
}

const char *pg_message(PGconn *c)
{
    static const char none[] = "no connection";
    if (c == NULL)
        return none;
    /* libpq ends its messages with a newline; the caller's copy drops it. */
    return PQerrorMessage(c);
}

/* libpq's message on one line: its line ends and tabs become spaces (a
 * log line and a TAP line stay one line), the last one dropped. */
static void set_trimmed(char *why, size_t why_size, const char *what, const char *message)
{
    char line[512];
    size_t n = 0;
    for (const char *p = message; *p && n < sizeof line - 1; p++) {
        char c = *p == '\n' || *p == '\t' || *p == '\r' ? ' ' : *p;
        if (c == ' ' && (n == 0 || line[n - 1] == ' '))
            continue;
        line[n++] = c;
    }
    while (n > 0 && line[n - 1] == ' ')
        n--;
    line[n] = '\0';
    if (what != NULL)
        errbuf_set(why, why_size, "%s failed: %s", what, line);
    else
        errbuf_set(why, why_size, "%s", line);
}

int pg_conn_error(PGconn *c, const char *what, char *why, size_t why_size)
{
    set_trimmed(why, why_size, what, pg_message(c));
    return -1;
}

int pg_result_error(const PGresult *res, const char *what, char *why, size_t why_size)
{
    const char *m = res ? PQresultErrorMessage(res) : "out of memory";
    set_trimmed(why, why_size, what, *m ? m : PQresStatus(PQresultStatus(res)));
    return -1;
}

int pg_exec(PGconn *c, const char *sql, char *why, size_t why_size)
{
    PGresult *res = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(res);
    int rc = 0;
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        rc = pg_result_error(res, NULL, why, why_size);
    PQclear(res);
    return rc;
}

int pg_link_ensure(pg_link *l, bool *fresh, char *why, size_t why_size)
{
    *fresh = false;
    /* A connection the server ended while it sat idle (pg_terminate_backend,
     * a restart) still says CONNECTION_OK until something reads from it:
     * reading what is waiting (libpq's socket never blocks) finds the end
     * here, so the statement about to run gets a new connection instead of
     * failing. The event writer retries a failed batch; a quarantine purge
     * or release would not. */
    /* Twice: a terminated backend sends its FATAL message before it
     * closes, and the first read takes only the message. */
    if (l->conn != NULL && PQstatus(l->conn) == CONNECTION_OK &&
        PQtransactionStatus(l->conn) == PQTRANS_IDLE && PQconsumeInput(l->conn) == 1 &&
        PQconsumeInput(l->conn) == 1 && PQstatus(l->conn) == CONNECTION_OK)
        return 0;
    if (l->conn != NULL)
        PQfinish(l->conn);
    const char *keys[5] = {"dbname", "connect_timeout", "application_name", NULL, NULL};
    const char *values[5] = {l->location, "5", "domauth", NULL, NULL};
    if (l->password != NULL) {
        keys[3] = "password";
        values[3] = l->password;
    }
    /* expand_dbname: dbname is the whole URI; the keys after it fill in
     * what it does not say. */
    l->conn = PQconnectdbParams(keys, values, 1);
    if (l->conn == NULL)
        return errbuf_set(why, why_size, "out of memory");
    if (PQstatus(l->conn) != CONNECTION_OK)
        return pg_conn_error(l->conn, "connect", why, why_size);
    /* A lock held elsewhere (a slow database) fails the statement after
     * the timeout instead of holding the writer: it spools meanwhile. */
    char sql[160];
    snprintf(sql, sizeof sql, "SET statement_timeout = %u; SET lock_timeout = %u",
             l->timeout_ms, l->timeout_ms);
    if (pg_exec(l->conn, sql, why, why_size) != 0 ||
        pg_exec(l->conn, "SET client_encoding = 'UTF8'; SET client_min_messages = warning", why,
                why_size) != 0)
        return -1;
    *fresh = true;
    return 0;
}

void pg_link_close(pg_link *l)
{
    if (l->conn != NULL)
        PQfinish(l->conn);
    free(l->location);
    if (l->password != NULL) {
        explicit_bzero(l->password, strlen(l->password));
        free(l->password);
    }
    *l = (pg_link){0};
}

void pg_text_utf8(strbuf *out, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        size_t n = json_utf8_len(p);
        if (n > 0 && p + n <= end) {
            strbuf_append(out, (const char *)p, n);
            p += n;
            continue;
        }
        char two[2] = {(char)(0xC0 | *p >> 6), (char)(0x80 | (*p & 0x3F))};
        if (*p < 0x80)
            strbuf_append(out, (const char *)p, 1);
        else
            strbuf_append(out, two, 2);
        p++;
    }
}

int pg_lease_row(PGconn *c, const char *job, const char *holder, int64_t now,
                 unsigned seconds, bool *granted, char *why, size_t why_size)
{
    char until[24], at[24];
    snprintf(until, sizeof until, "%lld", (long long)(now + (int64_t)seconds));
    snprintf(at, sizeof at, "%lld", (long long)now);
    const char *params[4] = {job, holder, until, at};
    /* One statement: the row is taken, renewed by its holder, or left to
     * the other holder whose lease has not ended; two nodes asking at once
     * are ordered by the row lock. */
    PGresult *res = PQexecParams(c,
                                 "INSERT INTO cluster_jobs (job, holder, until)"
                                 " VALUES ($1, $2, $3::bigint)"
                                 " ON CONFLICT (job) DO UPDATE SET holder = excluded.holder,"
                                 " until = excluded.until"
                                 " WHERE cluster_jobs.until <= $4::bigint"
                                 " OR cluster_jobs.holder = $2",
                                 4, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        pg_result_error(res, "lease", why, why_size);
        PQclear(res);
        return -1;
    }
    *granted = strcmp(PQcmdTuples(res), "1") == 0;
    PQclear(res);
    return 0;
}

int pg_lease_holder_row(PGconn *c, const char *job, char *holder, size_t holder_size,
                        int64_t *until, char *why, size_t why_size)
{
    const char *params[1] = {job};
    PGresult *res = PQexecParams(c, "SELECT holder, until FROM cluster_jobs WHERE job = $1", 1,
                                 NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        pg_result_error(res, "lease holder", why, why_size);
        PQclear(res);
        return -1;
    }
    if (PQntuples(res) == 1) {
        snprintf(holder, holder_size, "%s", PQgetvalue(res, 0, 0));
        *until = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    }
    PQclear(res);
    return 0;
}

bool pg_claims_location(const char *location)
{
    return location != NULL && (strncmp(location, "postgresql://", 13) == 0 ||
                                 strncmp(location, "postgres://", 11) == 0);
}

int pg_link_connect(pg_link *l, const char *prefix, char *why, size_t why_size)
{
    bool fresh;
    char message[512];
    if (pg_link_ensure(l, &fresh, message, sizeof message) != 0)
        return errbuf_set(why, why_size, "%s: connect: %s", prefix, message);
    return 0;
}

int pg_fail_result(PGresult *res, const char *prefix, const char *what, char *why,
                   size_t why_size)
{
    char message[512];
    pg_result_error(res, NULL, message, sizeof message);
    PQclear(res);
    return errbuf_set(why, why_size, "%s: %s: %s", prefix, what, message);
}

const char *pg_param_text(strbuf *sb, const char *v, bool *oom)
{
    if (v == NULL)
        return NULL;
    strbuf_clear(sb);
    pg_text_utf8(sb, v, strlen(v));
    if (sb->failed) {
        *oom = true;
        return NULL;
    }
    return sb->data ? sb->data : ""; /* "" appends nothing: no buffer yet */
}
