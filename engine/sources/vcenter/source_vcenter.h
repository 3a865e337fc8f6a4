/* The vCenter event source (eventProvider type "vcenter"): streams every vCenter event in key
 * order into the engine's queue, resumes from a VMware Event Router compatible checkpoint, and
 * survives vCenter restarts and expired sessions. */
#ifndef EVENT_ROUTER_SOURCE_VCENTER_H
#define EVENT_ROUTER_SOURCE_VCENTER_H

#include "sources/source.h"

extern const source_type vcenter_source_type;

/* The last connection or login problem (never a password), "" while healthy. */
const char *source_vcenter_last_error(void *state);

#endif
