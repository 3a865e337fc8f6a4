/* The AWS EventBridge processor: each event becomes one PutEvents entry, as VEBA builds it
 * (Source = the CloudEvent's source, DetailType = its subject, or its type when there is none,
 * Detail = the whole CloudEvent in structured JSON, EventBusName = eventBus) plus Time = the
 * event's time, signed with SigV4 for `events` and sent to the region's endpoint (or `endpoint`).
 * One entry per attempt for now: the per-entry answer decides (InternalFailure and
 * ThrottlingException retry, other codes are final and dead-lettered with AWS's code). Rule
 * matching waits for the pattern engine: every event routed here is sent, and the bus's rules
 * decide in AWS. */
#ifndef EVENT_ROUTER_PROCESSOR_EVENTBRIDGE_H
#define EVENT_ROUTER_PROCESSOR_EVENTBRIDGE_H

#include "processors/processor.h"

extern const processor_type eventbridge_processor_type;

#endif
