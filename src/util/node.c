/* node.c: see node.h. */
#include "util/node.h"

#include <stdio.h>
#include <unistd.h>

const char *util_node_name(const char *configured, char host[UTIL_HOST_NAME_MAX])
{
    if (configured != NULL && *configured != '\0')
        return configured;
    if (gethostname(host, UTIL_HOST_NAME_MAX) != 0 || host[0] == '\0')
        snprintf(host, UTIL_HOST_NAME_MAX, "localhost");
    host[UTIL_HOST_NAME_MAX - 1] = '\0'; /* gethostname need not end a cut name */
    return host;
}
