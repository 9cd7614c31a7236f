/* commands.h: the subcommands of the domauth command and the exit codes
 * they share (sysexits.h values, documented in domauth(1)). */
#ifndef DA_CLI_COMMANDS_H
#define DA_CLI_COMMANDS_H

enum {
    CLI_EXIT_USAGE = 64,    /* EX_USAGE */
    CLI_EXIT_DATAERR = 65,  /* EX_DATAERR: input that does not parse */
    CLI_EXIT_NOINPUT = 66,  /* EX_NOINPUT: a file that cannot be read */
    CLI_EXIT_SOFTWARE = 70, /* EX_SOFTWARE: setup failed, out of memory */
};

int cmd_spf_batch(int argc, char **argv);
int cmd_spf_lint(int argc, char **argv);
int cmd_spf_wizard(int argc, char **argv);
int cmd_log(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_srs(int argc, char **argv);
#include <stdbool.h>
int cmd_status(int argc, char **argv, bool reload);

#endif
