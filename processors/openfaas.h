/* The OpenFaaS processor: VEBA's `type: openfaas`. Every function whose `topic` annotation names
 * the event's topic (its subject; optionally also its type) is invoked through the gateway with
 * the event as a structured CloudEvent. See openfaas.c for the design. */
#ifndef EVENT_ROUTER_PROCESSOR_OPENFAAS_H
#define EVENT_ROUTER_PROCESSOR_OPENFAAS_H

#include "processors/processor.h"

extern const processor_type openfaas_processor_type;

#endif
