/* control_client.h: one command to domauthd's control socket and its
 * answer (daemon/control.c: one line in, one answer, then close). How the
 * console acts: it never writes the spool or the configuration's
 * consequences itself. */
#ifndef DA_WEB_CONTROL_CLIENT_H
#define DA_WEB_CONTROL_CLIENT_H

#include <stddef.h>

#include "util/strbuf.h"

enum { CONTROL_ANSWER_MAX = 1 << 20, CONTROL_TIMEOUT_S = 30 };

/* Sends command (one line, no newline) to address ("unix:/path") and
 * appends the answer to out. 0, or -1 with why (domauthd not running, no
 * permission, no answer within CONTROL_TIMEOUT_S). */
int control_call(const char *address, const char *command, strbuf *out, char *why,
                 size_t why_size);

#endif
