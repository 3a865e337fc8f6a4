/* For the tests of one processor's config block: read an eventProcessor mapping the way the
 * config loader does, and look for an error among those it gave. */
#ifndef EVENT_ROUTER_TEST_CONFIG_PROCESSOR_READ_H
#define EVENT_ROUTER_TEST_CONFIG_PROCESSOR_READ_H

#include "config/config_sections.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Reads one processor mapping (as file p.yaml); true when it gave no error. The caller frees
 * errors and the processor. */
static inline bool read_processor(const char *yaml, config_processor *out, config_errors *errors)
{
    memset(out, 0, sizeof *out);
    ynode *root = ynode_parse("p.yaml", yaml, strlen(yaml), errors);
    if (!root)
        return false;
    config_checker ck = {"p.yaml", errors};
    const ynode *name = NULL;
    config_read_processor(&ck, root, "eventProcessor", out, &name);
    ynode_free(root);
    return errors->count == 0;
}

/* True when an error contains needle; otherwise says which errors there were. */
static inline bool has_error(const config_errors *errors, const char *needle)
{
    for (size_t i = 0; i < errors->count; i++)
        if (strstr(errors->messages[i], needle))
            return true;
    fprintf(stderr, "  no error contains: %s\n", needle);
    for (size_t i = 0; i < errors->count; i++)
        fprintf(stderr, "  have: %s\n", errors->messages[i]);
    return false;
}

#endif
