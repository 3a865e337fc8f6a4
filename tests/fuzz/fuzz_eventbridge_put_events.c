/* libFuzzer target: the PutEvents answer and the whole-call error answer, as an endpoint (or
 * anything posing as one) might send them. The first byte picks how many entries were sent. */
#include "processors/aws/eventbridge_api.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t sent = data[0] % (EVENTBRIDGE_MAX_ENTRIES + 1);
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    eventbridge_entry_result results[EVENTBRIDGE_MAX_ENTRIES];
    size_t failed = 0;
    char err[256];
    if (eventbridge_parse_put_events(body, len, sent, results, &failed, err, sizeof err) == 0) {
        /* Every entry the answer failed is a non-OK result (an entry with neither id nor
         * error is one too, on top of FailedEntryCount). */
        size_t not_ok = 0;
        for (size_t i = 0; i < sent; i++)
            not_ok += results[i].status != EVENTBRIDGE_ENTRY_OK;
        if (failed > not_ok || not_ok > sent)
            __builtin_trap();
    }
    char code[64], message[256];
    eventbridge_parse_error(body, len, code, sizeof code, message, sizeof message);
    eventbridge_classify_call(400, code);
    return 0;
}
