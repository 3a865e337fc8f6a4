/* The Knative processor: POSTs each event as a CloudEvent (binary mode by default, structured on
 * request) to a sink URL, a Broker, a Knative Service or a Service. The destination is K_SINK
 * when that is set (SinkBinding, ContainerSource), else the config's uri, else its ref resolved
 * through the Kubernetes API. */
#ifndef EVENT_ROUTER_PROCESSOR_KNATIVE_H
#define EVENT_ROUTER_PROCESSOR_KNATIVE_H

#include "processors/processor.h"

extern const processor_type knative_processor_type;

#endif
