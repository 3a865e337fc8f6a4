/* vCenter event -> CloudEvent (engine/sources/vcenter/vcenter_convert.c): one event element with
 * its xsi:type, as a ReadNextEvents <returnval> or a latestPage <val> holds it, converted in both
 * attribute conventions. Every event it produces must keep the promise of fuzz_event_check.h. */
#include "fuzz_event_check.h"

#include "sources/vcenter/vcenter_convert.h"
#include "sources/vcenter/vcenter_soap.h"

#include <libxml/parser.h>

static void silence(void *ctx, const char *msg, ...)
{
    (void)ctx;
    (void)msg;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    xmlSetGenericErrorFunc(NULL, silence);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1024 * 1024)
        return 0;
    xmlDocPtr doc = xmlReadMemory((const char *)data, (int)size, "event.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (root) {
        vcenter_event_format formats[] = {VCENTER_FORMAT_ROUTER, VCENTER_FORMAT_SOURCES_KNATIVE};
        for (size_t i = 0; i < 2; i++) {
            vcenter_convert_context ctx = {
                .format = formats[i], .source_url = "https://vc.local/sdk", .api_version = "8.0"};
            int64_t key = 0;
            char reason[256] = "";
            event *ev = vcenter_event_convert(&ctx, root, &key, reason, sizeof reason);
            if (ev) {
                fuzz_check_event(ev);
                event_unref(ev);
            } else {
                FUZZ_ASSERT(reason[0] != '\0');
            }
            const char *class_name = NULL;
            cJSON *json = vcenter_event_data_json(&ctx, root, &class_name);
            if (json) {
                char *text = cJSON_PrintUnformatted(json);
                FUZZ_ASSERT(text);
                free(text);
                cJSON_Delete(json);
            }
        }
    }
    xmlFreeDoc(doc);
    return 0;
}
