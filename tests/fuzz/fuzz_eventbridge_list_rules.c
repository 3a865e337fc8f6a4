/* libFuzzer target: the ListRules answer (rules, patterns, paging token). */
#include "processors/aws/eventbridge_api.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    eventbridge_rule_page page;
    char err[256];
    if (eventbridge_parse_list_rules((const char *)data, size, &page, err, sizeof err) == 0) {
        for (size_t i = 0; i < page.count; i++)
            if (eventbridge_rule_find(&page, page.rules[i].arn) == NULL)
                __builtin_trap();
        eventbridge_rule_page_free(&page);
    }
    return 0;
}
