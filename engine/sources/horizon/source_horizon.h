/* The Horizon event source (eventProvider type "horizon", as in VEBA): polls Horizon's audit
 * events and delivers each exactly once per run in (time, id) order, resuming from a checkpoint
 * (VEBA has none) across restarts. */
#ifndef EVENT_ROUTER_SOURCE_HORIZON_H
#define EVENT_ROUTER_SOURCE_HORIZON_H

#include "sources/source.h"

extern const source_type horizon_source_type;

/* The last connection or login problem (never a password or token), "" while healthy. */
const char *source_horizon_last_error(void *state);

#endif
