/* report_store.c: see report_store.h. The ledger backends this build has. */
#include "store/report_store.h"

#include "util/errbuf.h"

static const report_ledger_ops *const backends[] = {
    &report_ledger_sqlite,
#ifdef DOMAUTH_HAVE_PG
    &report_ledger_pg,
#endif
};

report_ledger *report_ledger_open(const char *location, bool write, const char *password_file,
                                  char *why, size_t why_size)
{
    for (size_t i = 0; location != NULL && i < sizeof backends / sizeof backends[0]; i++)
        if (backends[i]->claims(location))
            return backends[i]->open(location, write, password_file, why, why_size);
    errbuf_set(why, why_size, "no report ledger backend for %s", location ? location : "(none)");
    return NULL;
}

void report_ledger_close(report_ledger *l)
{
    if (l != NULL)
        l->ops->close(l);
}
