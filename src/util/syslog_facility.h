/* syslog_facility.h: syslog facility names ("mail", "local0", ...). */
#ifndef DA_UTIL_SYSLOG_FACILITY_H
#define DA_UTIL_SYSLOG_FACILITY_H

/* The LOG_* code of a facility name, or -1 for an unknown one. */
int util_syslog_facility(const char *name);

#endif
