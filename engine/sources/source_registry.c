/* Every event source type the config can name: one row each. */
#include "sources/source.h"
#include "sources/horizon/source_horizon.h"
#include "sources/vcenter/source_vcenter.h"
#include "sources/source_webhook.h"

#include <string.h>

static const source_type *const source_types[] = {
    &webhook_source_type,
    &vcenter_source_type,
    &horizon_source_type,
};

const source_type *source_type_find(const char *name)
{
    for (size_t i = 0; i < sizeof source_types / sizeof source_types[0]; i++)
        if (strcmp(source_types[i]->name, name) == 0)
            return source_types[i];
    return NULL;
}
