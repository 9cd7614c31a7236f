/* The event log is in the store layer now (src/store/eventlog.h). */
#include "store/eventlog.h"
