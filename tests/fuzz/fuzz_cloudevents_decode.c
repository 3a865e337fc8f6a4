/* CloudEvents HTTP decoding (engine/http/cloudevents_http_decode.c): binary, structured and
 * batched mode, as the webhook source receives them. Input: header lines, an empty line, the body
 * (see fuzz_support.h). Beyond not crashing, every event the decoder accepts must survive what
 * the router does with it next: encoding in binary and in structured mode, and decoding that
 * again (another router, or our own webhook, is a valid receiver) with the same id. */
#include "fuzz_event_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_headers input;
    fuzz_split_headers(data, size, &input);
    http_request request = {.method = "POST",
                            .path = "/",
                            .query = "",
                            .header_names = input.names,
                            .header_values = input.values,
                            .header_count = input.count,
                            .body = input.body,
                            .body_len = input.body_len};
    event **events = NULL;
    size_t count = 0;
    char reason[256] = "";
    if (cloudevents_http_decode(&request, &events, &count, reason, sizeof reason) == 0) {
        for (size_t i = 0; i < count; i++) {
            fuzz_check_event(events[i]);
            event_unref(events[i]);
        }
        free(events);
    } else {
        FUZZ_ASSERT(events == NULL && reason[0] != '\0');
    }
    free(input.storage);
    return 0;
}
