/* driver.h: one asynchronous driver for any sans-I/O engine (SPF, DKIM,
 * and those to come). An engine is a step function that lists the DNS
 * questions it needs and an answer function that is fed them; the driver
 * submits the questions to a resolver on a libuv loop, feeds the answers
 * back, steps again after each, and keeps a deadline: when it passes the
 * engine is aborted (or, without an abort function, every question still
 * out is answered DA_DNS_TIMEOUT), so a check always ends. */
#ifndef DA_DNS_DRIVER_H
#define DA_DNS_DRIVER_H

#include <stdbool.h>
#include <stddef.h>

#include "dns/engine.h"
#include "domauth.h"

struct uv_loop_s;

typedef struct da_drive da_drive;
typedef void (*da_drive_done_fn)(void *arg);

/* Starts driving. *handle is set to the drive before anything runs and
 * cleared to NULL just before done is called, so the owner always knows
 * whether there is a drive to cancel. done runs once, from the loop or
 * inside this call when every answer was cached; the drive frees itself
 * afterwards. deadline_ms 0 means 20000. Returns -1 when out of memory
 * (nothing was started; done is not called; *handle is NULL). */
int da_drive_start(struct uv_loop_s *loop, da_resolver *resolver, unsigned deadline_ms,
                   const da_engine *engine, da_drive_done_fn done, void *arg, da_drive **handle);
/* The owner lets go before done (NULL is ignored): done is never called, the engine is never
 * touched again (the owner may free it now), and the drive frees itself
 * once the resolver has answered what is still out. */
void da_drive_cancel(da_drive *drive);

/* Engines as the driver sees them (the engine object stays the caller's). */
da_engine da_engine_spf(da_spf_eval *eval);
struct da_dkim_verify;
da_engine da_engine_dkim(struct da_dkim_verify *verify);
struct da_dmarc_eval;
da_engine da_engine_dmarc(struct da_dmarc_eval *eval);
struct da_arc_verify;
da_engine da_engine_arc(struct da_arc_verify *verify);

#endif
