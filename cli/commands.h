/* commands.h: the subcommands of the domauth command and the exit codes
 * they share (sysexits.h values, documented in domauth(1)). */
#ifndef DA_CLI_COMMANDS_H
#define DA_CLI_COMMANDS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "domauth.h"

enum {
    CLI_EXIT_USAGE = 64,    /* EX_USAGE */
    CLI_EXIT_DATAERR = 65,  /* EX_DATAERR: input that does not parse */
    CLI_EXIT_NOINPUT = 66,  /* EX_NOINPUT: a file that cannot be read */
    CLI_EXIT_SOFTWARE = 70, /* EX_SOFTWARE: setup failed, out of memory */
    CLI_EXIT_TEMPFAIL = 75, /* EX_TEMPFAIL: another node holds the job's lease */
};

int cmd_spf_batch(int argc, char **argv);
int cmd_spf_lint(int argc, char **argv);
int cmd_spf_wizard(int argc, char **argv);
int cmd_spf_flatten(int argc, char **argv);
int cmd_log(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_xmail_filter(int argc, char **argv);
int cmd_checkauth(int argc, char **argv);
int cmd_srs(int argc, char **argv);
int cmd_arc(int argc, char **argv);
int cmd_status(int argc, char **argv, bool reload);
int cmd_senderid(int argc, char **argv);
int cmd_quarantine(int argc, char **argv);
int cmd_store(int argc, char **argv);
int cmd_dmarc(int argc, char **argv);

/* Shared by the commands (domauth.c). */
struct uv_loop_s;
/* Makes the resolver: over the zone file zone_path (loaded into *zone) when
 * given, else over DNS with options, on loop (libuv) when given, else
 * c-ares blocking. Returns 0, or the exit status after printing why. */
int cli_open_resolver(const char *zone_path, const da_resolver_options *options,
                      struct uv_loop_s *loop, da_zone **zone, da_resolver **resolver);

/* Writes s (NULL: nothing) for a terminal: printable ASCII as it is, any
 * other byte (NUL too, for _n) as \xHH, so text from DNS, a message or domauthd cannot send
 * escape sequences or forge lines. With lines, '\n', '\t' and a CR before
 * LF pass as well. */
void cli_put_safe(FILE *out, const char *s, bool lines);

/* The site's configuration as domauthd reads it, with its list files (a
 * missing default file is the built-in defaults; a given one must exist).
 * Returns 0, or -1 with why in err and cfg freed (cli_common.c). */
struct domauth_config;
int cli_load_site_config(struct domauth_config *cfg, const char *path, bool given, char *err,
                         size_t err_size);
/* A DKIM private key file (PEM, rsa or ed25519), for signing or sealing;
 * NULL with the reason printed (dkim.c). The file's text is wiped. */
struct da_dkim_key;
struct da_dkim_key *cli_load_dkim_key(const char *path);
/* Standard input read whole through fd 0 (reopening /dev/stdin fails on a
 * pipe another user made, as pipe(8) does), at most max_bytes: a longer
 * input is refused, never cut. NULL with why in err (cli_common.c). */
char *cli_read_stdin(size_t max_bytes, size_t *len, char *err, size_t err_size);
/* A decimal option value in [min, max]; false after saying on standard
 * error what the option takes (cli_common.c). */
bool cli_parse_option_number(const char *option, const char *text, unsigned long min,
                             unsigned long max, unsigned long *out);
/* One log line to syslog and, with to_stderr, to standard error after
 * "who: ", made safe for a terminal (cli_common.c). */
void cli_log_tee(const char *who, bool to_stderr, int priority, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

/* The exit code of an SPF or Sender ID result (spf check, senderid check),
 * and "authserv-id; clause", an Authentication-Results value (to free). */
int cli_spf_exit_code(da_spf_result result);
char *cli_authres_value(const char *receiver, const char *clause);

/* The event store, for the commands that read it (store_cli.c). */
#define CLI_DEFAULT_CONFIG "/etc/domauth/domauth.conf"
#define CLI_DEFAULT_DATABASE "/var/lib/domauth/events.db"
struct event_store;
/* TIME on the command line: 2026-11-22[T10:00[:30]] local time, @SECONDS,
 * or an age (90s 30m 1h 7d 2w) counted back from now. */
bool cli_parse_time(const char *s, int64_t now, int64_t *out);
void cli_format_time(int64_t t, char *buf, size_t size); /* local "YYYY-MM-DD HH:MM:SS" */
/* --database, else the 'database' key of config (or of the default file
 * when it exists), else the default path. *path is the caller's to free;
 * returns 0 or an exit status after printing why. */
int cli_database_path(const char *database, const char *config, char **path,
                      char **password_file);
/* cli_database_path, and with node the [daemon] node of the configuration
 * read (NULL when none was read or it sets none; to free). */
int cli_database_config(const char *database, const char *config, char **path,
                        char **password_file, char **node);
/* Read-only, or for purging. Returns 0 or an exit status. */
int cli_open_store(const char *path, const char *password_file, bool purging,
                   struct event_store **store);
void cli_put_safe_n(FILE *out, const char *s, size_t len, bool lines);

#endif
