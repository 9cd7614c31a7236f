/* node.h: the name a node of a cluster goes by ([daemon] node), the same
 * for its events, its audit events and its leases. */
#ifndef DA_UTIL_NODE_H
#define DA_UTIL_NODE_H

enum { UTIL_HOST_NAME_MAX = 256 };

/* configured when it is set and not empty; else the host name; else
 * "localhost". host is where the latter two are written. */
const char *util_node_name(const char *configured, char host[UTIL_HOST_NAME_MAX]);

#endif
