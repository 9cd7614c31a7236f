/* fuzz_spool.c: libFuzzer target for the quarantine spool-file parser
 * (spool_parse in src/store/spool.c), which `domauth quarantine list` and
 * `show` run on files anyone with access to the spool could have altered.
 * Checks that a header that parses has every required field, a safe id
 * and a message offset within the input, and that a refusal says why. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/spool.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond))                                                                     \
            abort();                                                                     \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    spool_entry e;
    char why[300];
    why[0] = '\0';
    if (spool_parse((const char *)data, size, &e, why, sizeof why) != 0) {
        CHECK(why[0] != '\0');
        CHECK(strnlen(why, sizeof why) < sizeof why);
        return 0;
    }
    CHECK(e.version == 1 && e.id != NULL && e.mail_from != NULL && e.verdict != NULL);
    CHECK(e.message_offset <= size && e.message_offset > 0);
    CHECK(data[e.message_offset - 1] == '\n');
    CHECK(strchr(e.id, '/') == NULL && e.id[0] != '.');
    for (size_t i = 0; i < e.rcpt_count; i++)
        CHECK(e.rcpts[i] != NULL);
    for (size_t i = 0; i < e.result_count; i++)
        CHECK(e.results[i] != NULL);
    spool_entry_free(&e);
    return 0;
}
