/* sendmail.h: one way to hand a message to the MTA, for every sender of
 * mail domauth has (quarantine releases, DMARC aggregate reports, the
 * check-auth auto-responder): PATH -i -f FROM -- RCPT... with the message on
 * standard input, within a deadline, so that a stuck sendmail is killed
 * rather than holding a domauthd pool thread or a CLI run for ever. */
#ifndef DA_SERVICE_SENDMAIL_H
#define DA_SERVICE_SENDMAIL_H

#include <stdbool.h>
#include <stddef.h>

/* from: the envelope sender ("" or NULL: the null sender "<>"). With
 * crlf_to_lf, each CR LF of msg is written as LF (a local submission's line
 * end). Returns 0 when sendmail took the whole message and exited 0; else
 * -1 with why (could not be run, its exit status, killed at timeout_s). */
int svc_sendmail(const char *path, const char *from, const char *const *rcpts, size_t rcpt_count,
                 const char *msg, size_t len, bool crlf_to_lf, unsigned timeout_s, char *why,
                 size_t why_size);

#endif
