/* Every processor type the config can name: one row each, the code in processors/. */
#include "processors/eventbridge.h"
#include "processors/knative.h"
#include "processors/openfaas.h"
#include "processors/processor.h"

#include <string.h>

static const processor_type *const processor_types[] = {
    &knative_processor_type,
    &eventbridge_processor_type,
    &openfaas_processor_type,
};

const processor_type *processor_type_find(const char *name)
{
    for (size_t i = 0; i < sizeof processor_types / sizeof processor_types[0]; i++)
        if (strcmp(processor_types[i]->name, name) == 0)
            return processor_types[i];
    return NULL;
}
