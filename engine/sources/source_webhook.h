/* The webhook source: CloudEvents POSTed to one path (binary, structured or batched mode). */
#ifndef EVENT_ROUTER_SOURCE_WEBHOOK_H
#define EVENT_ROUTER_SOURCE_WEBHOOK_H

#include "sources/source.h"

extern const source_type webhook_source_type;

/* The port the source listens on (useful when the config asked for port 0); -1 on error. */
int webhook_source_port(void *state);

#endif
