/* fuzz_spf_record.c: libFuzzer target for the SPF record parser. Feeds the
 * input to spf_record_parse (in an arena) and to da_spf_record_check, and
 * checks that the two agree on whether a record is valid. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domauth.h"
#include "spf/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads every field of a parsed record so the sanitizers see bad pointers. */
static size_t touch_record(const spf_record *rec)
{
    size_t sum = 0;
    for (size_t i = 0; i < rec->count; i++) {
        const spf_term *t = &rec->terms[i];
        sum += (size_t)t->mechanism + (size_t)t->qualifier + t->cidr4 + t->cidr6;
        if (t->domain_spec != NULL)
            sum += strlen(t->domain_spec);
        if (t->text != NULL)
            sum += strlen(t->text);
        sum += spf_mechanism_queries_dns(t->mechanism) ? 1 : 0;
        const char *name = spf_mechanism_name(t->mechanism);
        if (name != NULL)
            sum += strlen(name);
        for (size_t j = 0; j < sizeof t->addr; j++)
            sum += t->addr[j];
    }
    if (rec->redirect != NULL)
        sum += strlen(rec->redirect);
    if (rec->exp != NULL)
        sum += strlen(rec->exp);
    return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    char err[256] = "", err2[256] = "";

    arena a;
    arena_init(&a);
    spf_record *rec = NULL;
    int parsed = spf_record_parse(&a, text, size, &rec, err, sizeof err);
    volatile size_t sink = 0;
    if (parsed == 0 && rec != NULL)
        sink += touch_record(rec);
    else
        sink += strnlen(err, sizeof err);
    arena_free(&a);

    int checked = da_spf_record_check(text, size, err2, sizeof err2);
    sink += strnlen(err2, sizeof err2);
    (void)sink;

    /* The public syntax check and the parser must agree on SPF records. */
    if (spf_record_is_spf(text, size) && (parsed == 0) != (checked == 0)) {
        fprintf(stderr, "spf_record_parse says %d (%s), da_spf_record_check says %d (%s)\n",
                parsed, err, checked, err2);
        abort();
    }
    return 0;
}
