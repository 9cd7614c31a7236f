/* syslog_facility.c: a facility's name as domauth.conf gives it. */
#include "util/syslog_facility.h"

#include <string.h>
#include <syslog.h>

int util_syslog_facility(const char *name)
{
    static const struct { const char *name; int code; } facilities[] = {
        {"mail", LOG_MAIL},     {"daemon", LOG_DAEMON}, {"user", LOG_USER},
        {"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2},
        {"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5},
        {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7},
    };
    if (name == NULL || *name == '\0')
        return LOG_MAIL;
    for (size_t i = 0; i < sizeof facilities / sizeof facilities[0]; i++)
        if (strcmp(name, facilities[i].name) == 0)
            return facilities[i].code;
    return -1;
}
