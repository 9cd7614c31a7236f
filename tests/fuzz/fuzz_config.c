/* fuzz_config.c: libFuzzer target for domauth.conf parsing: any bytes must
 * give a configuration or an error naming a line, never a crash or leak. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    domauth_config cfg;
    if (config_init(&cfg) != 0)
        return 0;
    char err[512];
    if (config_parse(&cfg, "fuzz.conf", (const char *)data, size, err, sizeof err) == 0) {
        config_settings_for(&cfg, "mail.example.org");
        config_free(&cfg);
    } else if (strncmp(err, "fuzz.conf:", 10) != 0) {
        __builtin_trap(); /* every error must name the file */
    }
    return 0;
}
