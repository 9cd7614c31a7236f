/* store_cli.c: what the commands that read the event store share (domauth
 * log, domauth report): times on the command line and finding and opening
 * the store. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commands.h"
#include "config/config.h"
#include "store/event_store.h"
#include "util/file.h"

enum { BUSY_TIMEOUT_MS = 10000 };

/* ------------------------------------------------------------- time */

/* Reads exactly `digits` decimal digits at *p. */
static bool read_digits(const char **p, int digits, int *value)
{
    int v = 0;
    for (int i = 0; i < digits; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += digits;
    *value = v;
    return true;
}

/* "2026-11-22", "2026-11-22T10:00", "2026-11-22 10:00:30", local time. */
static bool parse_date(const char *s, int64_t *out)
{
    struct tm tm = {0};
    int year, month, day, hour = 0, minute = 0, second = 0;
    const char *p = s;
    if (!read_digits(&p, 4, &year) || *p++ != '-' || !read_digits(&p, 2, &month) ||
        *p++ != '-' || !read_digits(&p, 2, &day))
        return false;
    if (*p == 'T' || *p == ' ') {
        p++;
        if (!read_digits(&p, 2, &hour) || *p++ != ':' || !read_digits(&p, 2, &minute))
            return false;
        if (*p == ':' && (p++, !read_digits(&p, 2, &second)))
            return false;
    }
    if (*p != '\0' || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 ||
        minute > 59 || second > 60)
        return false;
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    tm.tm_isdst = -1;
    time_t t = mktime(&tm);
    if (t == (time_t)-1 || tm.tm_mday != day) /* mktime moved 2026-02-30 to March */
        return false;
    *out = (int64_t)t;
    return true;
}

/* "@1700000000", or an age such as "30m" counted back from now. */
bool cli_parse_time(const char *s, int64_t now, int64_t *out)
{
    char *end;
    if (s[0] == '@') {
        errno = 0;
        long long v = strtoll(s + 1, &end, 10);
        if (errno != 0 || end == s + 1 || *end != '\0')
            return false;
        *out = v;
        return true;
    }
    if (s[0] >= '0' && s[0] <= '9' && strchr("smhdw", s[strlen(s) - 1]) != NULL &&
        strchr(s, '-') == NULL) {
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        static const char units[] = "smhdw";
        static const int64_t seconds[] = {1, 60, 3600, 86400, 604800};
        if (errno != 0 || end[0] == '\0' || end[1] != '\0' || v > 100ull * 365 * 86400)
            return false;
        *out = now - (int64_t)v * seconds[strchr(units, end[0]) - units];
        return true;
    }
    return parse_date(s, out);
}

void cli_format_time(int64_t t, char *buf, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (localtime_r(&tt, &tm) == NULL || strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm) == 0)
        snprintf(buf, size, "@%lld", (long long)t);
}

/* The database path: --database, else the configuration's 'database' key,
 * else the default. Sets *path (to free) or returns an exit status. With
 * password_file, also the configuration's database_password_file (NULL
 * when unset; to free). */
int cli_database_path(const char *database, const char *config, char **path,
                      char **password_file)
{
    return cli_database_config(database, config, path, password_file, NULL);
}

int cli_database_config(const char *database, const char *config, char **path,
                        char **password_file, char **node)
{
    if (password_file != NULL)
        *password_file = NULL;
    if (node != NULL)
        *node = NULL;
    if (database != NULL && config == NULL)
        return (*path = strdup(database)) ? 0 : CLI_EXIT_SOFTWARE;
    const char *file = config ? config : CLI_DEFAULT_CONFIG;
    size_t len = 0;
    char why[300];
    char *text = util_read_file(file, 16u << 20, &len, why, sizeof why);
    if (text == NULL) {
        if (config != NULL || errno != ENOENT) {
            fprintf(stderr, "domauth: %s\n", why);
            if (config != NULL)
                return CLI_EXIT_NOINPUT;
        }
        return (*path = strdup(CLI_DEFAULT_DATABASE)) ? 0 : CLI_EXIT_SOFTWARE;
    }
    domauth_config cfg;
    char err[512] = "";
    int status = 0;
    if (config_init(&cfg) != 0) {
        free(text);
        return CLI_EXIT_SOFTWARE;
    }
    if (config_parse(&cfg, file, text, len, err, sizeof err) != 0) {
        fprintf(stderr, "domauth: %s\n", err);
        free(text);
        return CLI_EXIT_DATAERR;
    }
    free(text);
    if (database != NULL) {
        if ((*path = strdup(database)) == NULL)
            status = CLI_EXIT_SOFTWARE;
    } else if (cfg.database == NULL || cfg.database[0] == '\0') {
        fprintf(stderr, "domauth: %s sets no database (database = ); give --database\n", file);
        status = CLI_EXIT_NOINPUT;
    } else if ((*path = strdup(cfg.database)) == NULL) {
        status = CLI_EXIT_SOFTWARE;
    }
    if (status == 0 && password_file != NULL && cfg.database_password_file != NULL &&
        *cfg.database_password_file != '\0' &&
        (*password_file = strdup(cfg.database_password_file)) == NULL)
        status = CLI_EXIT_SOFTWARE;
    if (status == 0 && node != NULL && cfg.node != NULL && *cfg.node != '\0' &&
        (*node = strdup(cfg.node)) == NULL)
        status = CLI_EXIT_SOFTWARE;
    config_free(&cfg);
    return status;
}

/* Opens the store (read-only unless purging). Returns 0 or an exit status. */
int cli_open_store(const char *path, const char *password_file, bool purging,
                   event_store **store)
{
    event_store_options so = {.access = purging ? EVENT_STORE_PURGE : EVENT_STORE_READ,
                              .busy_timeout_ms = BUSY_TIMEOUT_MS,
                              .password_file = password_file};
    char why[512];
    *store = event_store_open(path, &so, why, sizeof why);
    if (*store == NULL) {
        fprintf(stderr, "domauth: %s\n", why);
        return CLI_EXIT_NOINPUT;
    }
    if (why[0] != '\0')
        fprintf(stderr, "domauth: warning: %s\n", why);
    return 0;
}

