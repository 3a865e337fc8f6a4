/* vSphere SOAP responses (engine/sources/vcenter/vcenter_soap.c) read the way the vCenter source
 * reads them: the envelope and faults, the ServiceContent, a ReadNextEvents page (each
 * <returnval> an event: key, createdTime, type, conversion) and a WaitForUpdatesEx latestPage;
 * plus the Set-Cookie parser on the same bytes. Converted events must keep the promise of
 * fuzz_event_check.h. */
#include "fuzz_event_check.h"

#include "sources/vcenter/checkpoint.h"
#include "sources/vcenter/vcenter_convert.h"
#include "sources/vcenter/vcenter_soap.h"

#include <libxml/parser.h>

#define MAX_PAGE_NODES 1000

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

static void take_event(vcenter_convert_context *ctx, xmlNodePtr node)
{
    int64_t key = 0;
    if (!vcenter_event_key(node, &key))
        return;
    char created[64], type[128];
    double created_time = 0;
    vcenter_xml_text(vcenter_xml_child(node, "createdTime"), created, sizeof created);
    checkpoint_parse_time(created, &created_time);
    vcenter_xml_type(node, type, sizeof type);
    char reason[256] = "";
    event *ev = vcenter_event_convert(ctx, node, &key, reason, sizeof reason);
    if (ev) {
        fuzz_check_event(ev);
        event_unref(ev);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_strndup(data, size);
    char cookie[512];
    vcenter_soap_parse_session_cookie(text, cookie, sizeof cookie);
    free(text);

    xmlNodePtr response = NULL;
    vcenter_soap_status status = VCENTER_SOAP_OK;
    char error[512] = "";
    xmlDocPtr doc = vcenter_soap_parse_response((const char *)data, size, "administrator",
                                                &response, &status, error, sizeof error);
    if (!doc) {
        FUZZ_ASSERT(status != VCENTER_SOAP_OK && error[0] != '\0');
        return 0;
    }
    FUZZ_ASSERT(status == VCENTER_SOAP_OK && response);
    xmlNodePtr returnval = vcenter_xml_child(response, "returnval");
    vcenter_service_content content;
    vcenter_soap_parse_service_content(returnval, &content);
    char value[256];
    vcenter_xml_text(returnval, value, sizeof value);

    vcenter_convert_context ctx = {.format = VCENTER_FORMAT_ROUTER,
                                   .source_url = "https://vc.local/sdk",
                                   .api_version = "8.0"};
    for (xmlNodePtr node = returnval; node; node = vcenter_xml_next(node->next, "returnval"))
        take_event(&ctx, node);

    if (returnval) {
        static xmlNodePtr nodes[MAX_PAGE_NODES];
        char version[256];
        size_t found = vcenter_soap_parse_latest_page(returnval, version, sizeof version, nodes,
                                                      MAX_PAGE_NODES);
        for (size_t i = 0; i < found && i < MAX_PAGE_NODES; i++)
            take_event(&ctx, nodes[i]);
    }
    xmlFreeDoc(doc);
    return 0;
}
