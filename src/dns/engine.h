/* engine.h: what a sans-I/O engine looks like to the code that feeds it
 * DNS answers: a step function listing the questions it needs, an answer
 * function, an optional abort. Two runners drive one: the asynchronous
 * driver on a libuv loop (driver.h, with a deadline) and da_engine_run
 * here, blocking, for the command line and tests. */
#ifndef DA_DNS_ENGINE_H
#define DA_DNS_ENGINE_H

#include <stdbool.h>
#include <stddef.h>

#include "domauth.h"

typedef struct da_engine_step {
    bool done;
    size_t count;                     /* questions to submit now (may be 0 while waiting) */
    const da_dns_question *questions; /* valid until the next step */
} da_engine_step;

typedef struct da_engine {
    void *self;
    da_engine_step (*step)(void *self);
    void (*answer)(void *self, const da_dns_question *question, const da_dns_answer *answer);
    /* Optional: end now with a temporary error. */
    void (*abort)(void *self, const char *reason);
} da_engine;

/* Steps the engine to its end over a blocking resolver: submits what each
 * step asks (a question the resolver refuses is answered SERVFAIL), runs
 * the resolver, steps again. Returns 0 when done, -1 when the resolver
 * failed or max_rounds steps did not finish it. */
int da_engine_run(const da_engine *engine, da_resolver *resolver, unsigned max_rounds);

#endif
