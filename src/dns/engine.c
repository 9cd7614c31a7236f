/* engine.c: da_engine_run; see engine.h. */
#include "engine.h"

static void on_answer(void *arg, const da_dns_question *q, const da_dns_answer *a)
{
    const da_engine *e = arg;
    e->answer(e->self, q, a);
}

int da_engine_run(const da_engine *e, da_resolver *resolver, unsigned max_rounds)
{
    static const da_dns_answer servfail = {.status = DA_DNS_SERVFAIL};
    for (unsigned round = 0; round < max_rounds; round++) {
        da_engine_step s = e->step(e->self);
        if (s.done)
            return 0;
        for (size_t i = 0; i < s.count; i++)
            if (da_resolver_submit(resolver, &s.questions[i], on_answer, (void *)e) != 0)
                e->answer(e->self, &s.questions[i], &servfail);
        if (da_resolver_run(resolver) != 0)
            return -1;
    }
    return -1;
}
