/* The AWS EventBridge processor: each event a configured rule's EventPattern matches becomes one
 * PutEvents entry, as VEBA builds it (Source = the CloudEvent's source, DetailType = its subject,
 * or its type when there is none, Detail = the whole CloudEvent in structured JSON, EventBusName =
 * eventBus) plus Time = the event's time. Entries go in batched PutEvents calls signed with SigV4
 * for `events`, to the region's endpoint (or `endpoint`); each entry is answered on its own
 * (see eventbridge.c). Events no rule matches are acknowledged as filtered. */
#ifndef EVENT_ROUTER_PROCESSOR_EVENTBRIDGE_H
#define EVENT_ROUTER_PROCESSOR_EVENTBRIDGE_H

#include "processors/processor.h"

extern const processor_type eventbridge_processor_type;

#endif
