/* SOAP parsing on responses recorded from the govmomi simulator (tests/fixtures/soap), plus the
 * cookie forms of a real vCenter. */
#include "check.h"
#include "sources/vcenter/vcenter_soap.h"

#include <libxml/parser.h>
#include <stdlib.h>

static char *read_fixture(const char *name, size_t *len)
{
    const char *root = getenv("EVENT_ROUTER_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/soap/%s", root ? root : ".", name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open fixture %s\n", path);
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = calloc(1, (size_t)size + 1);
    *len = fread(data, 1, (size_t)size, f);
    fclose(f);
    return data;
}

/* Parses a fixture; returns the doc (or NULL) and fills the status and error. */
static xmlDocPtr parse_fixture(const char *name, const char *user, xmlNodePtr *response,
                               vcenter_soap_status *status, char *error, size_t cap)
{
    size_t len = 0;
    char *body = read_fixture(name, &len);
    xmlDocPtr doc = vcenter_soap_parse_response(body, len, user, response, status, error, cap);
    free(body);
    return doc;
}

static void test_service_content(void)
{
    xmlNodePtr response;
    vcenter_soap_status status;
    char error[256];
    xmlDocPtr doc =
        parse_fixture("service_content.xml", NULL, &response, &status, error, sizeof error);
    CHECK(doc != NULL);
    CHECK(status == VCENTER_SOAP_OK);
    vcenter_service_content content;
    CHECK(vcenter_soap_parse_service_content(vcenter_xml_child(response, "returnval"), &content));
    CHECK_STR(content.root_folder, "group-d1");
    CHECK_STR(content.property_collector, "propertyCollector");
    CHECK_STR(content.session_manager, "SessionManager");
    CHECK_STR(content.event_manager, "EventManager");
    CHECK_STR(content.api_version, "6.5");
    xmlFreeDoc(doc);
}

static void test_session_cookie_forms(void)
{
    char cookie[128];
    /* The simulator: unquoted, HttpOnly. */
    CHECK(vcenter_soap_parse_session_cookie(
        "vmware_soap_session=d70a3bc5-2a0f-4d14-b034-f3dde6c0abf3; HttpOnly", cookie,
        sizeof cookie));
    CHECK_STR(cookie, "vmware_soap_session=d70a3bc5-2a0f-4d14-b034-f3dde6c0abf3");
    /* A real vCenter: quoted, with Path and Secure, possibly after another cookie. */
    CHECK(vcenter_soap_parse_session_cookie(
        "other=1; Path=/\nvmware_soap_session=\"52b0a3c4d1e2\"; Path=/; HttpOnly; Secure", cookie,
        sizeof cookie));
    CHECK_STR(cookie, "vmware_soap_session=52b0a3c4d1e2");
    CHECK(!vcenter_soap_parse_session_cookie("other=1; Path=/", cookie, sizeof cookie));
    CHECK(!vcenter_soap_parse_session_cookie(NULL, cookie, sizeof cookie));
    CHECK(!vcenter_soap_parse_session_cookie("vmware_soap_session=; HttpOnly", cookie,
                                             sizeof cookie));
}

static void test_login_response(void)
{
    xmlNodePtr response;
    vcenter_soap_status status;
    char error[256];
    xmlDocPtr doc = parse_fixture("login.xml", "user", &response, &status, error, sizeof error);
    CHECK(status == VCENTER_SOAP_OK);
    char user[64];
    CHECK(vcenter_xml_text(vcenter_xml_child(vcenter_xml_child(response, "returnval"), "userName"),
                           user, sizeof user));
    CHECK_STR(user, "user");
    xmlFreeDoc(doc);
}

static void test_invalid_login_names_user_not_password(void)
{
    xmlNodePtr response;
    vcenter_soap_status status;
    char error[256];
    xmlDocPtr doc = parse_fixture("fault_invalid_login.xml", "administrator@vsphere.local",
                                  &response, &status, error, sizeof error);
    CHECK(doc == NULL);
    CHECK(response == NULL);
    CHECK(status == VCENTER_SOAP_INVALID_LOGIN);
    CHECK_CONTAINS(error, "administrator@vsphere.local");
    CHECK_CONTAINS(error, "invalid user name or password");
}

static void test_not_authenticated_with_empty_faultstring(void)
{
    xmlNodePtr response;
    vcenter_soap_status status;
    char error[256];
    xmlDocPtr doc = parse_fixture("fault_not_authenticated.xml", "user", &response, &status, error,
                                  sizeof error);
    CHECK(doc == NULL);
    CHECK(status == VCENTER_SOAP_NOT_AUTHENTICATED);
    CHECK_CONTAINS(error, "not authenticated");
}

static void test_other_fault_and_garbage(void)
{
    const char *fault =
        "<?xml version=\"1.0\"?><soapenv:Envelope "
        "xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" "
        "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soapenv:Body><soapenv:Fault>"
        "<faultcode>ServerFaultCode</faultcode><faultstring>managed object not found</faultstring>"
        "<detail><ManagedObjectNotFoundFault xmlns=\"urn:vim25\" "
        "xsi:type=\"ManagedObjectNotFound\"/></detail></soapenv:Fault></soapenv:Body>"
        "</soapenv:Envelope>";
    xmlNodePtr response;
    vcenter_soap_status status;
    char error[256];
    CHECK(vcenter_soap_parse_response(fault, strlen(fault), "u", &response, &status, error,
                                      sizeof error) == NULL);
    CHECK(status == VCENTER_SOAP_FAULT);
    CHECK_CONTAINS(error, "ManagedObjectNotFound");
    CHECK_CONTAINS(error, "managed object not found");

    const char *garbage = "<html><body>502 Bad Gateway</body></html>";
    CHECK(vcenter_soap_parse_response(garbage, strlen(garbage), "u", &response, &status, error,
                                      sizeof error) == NULL);
    CHECK(status == VCENTER_SOAP_BAD_RESPONSE);
    CHECK(vcenter_soap_parse_response("", 0, "u", &response, &status, error, sizeof error) == NULL);
    CHECK(status == VCENTER_SOAP_BAD_RESPONSE);
}

static void test_read_next_events_page(void)
{
    xmlNodePtr response;
    vcenter_soap_status status;
    char error[256];
    xmlDocPtr doc =
        parse_fixture("read_next_events.xml", "user", &response, &status, error, sizeof error);
    CHECK(status == VCENTER_SOAP_OK);
    int64_t keys[8];
    char types[8][64];
    size_t n = 0;
    for (xmlNodePtr ev = vcenter_xml_child(response, "returnval"); ev && n < 8;
         ev = vcenter_xml_next(ev->next, "returnval"), n++) {
        CHECK(vcenter_event_key(ev, &keys[n]));
        /* The simulator writes the type with its own prefix for the XSI namespace. */
        CHECK(vcenter_xml_type(ev, types[n], sizeof types[n]) != NULL);
    }
    CHECK(n == 3);
    CHECK(keys[0] == 27 && keys[1] == 9 && keys[2] == 8); /* newest first, as the simulator does */
    CHECK_STR(types[0], "UserLoginSessionEvent");
    CHECK_STR(types[2], "VmBeingCreatedEvent");
    xmlFreeDoc(doc);
}

static void test_latest_page_update(void)
{
    xmlNodePtr response;
    vcenter_soap_status status;
    char error[256];
    xmlDocPtr doc =
        parse_fixture("wait_for_updates.xml", "user", &response, &status, error, sizeof error);
    CHECK(status == VCENTER_SOAP_OK);
    xmlNodePtr nodes[32];
    char version[64];
    size_t n = vcenter_soap_parse_latest_page(vcenter_xml_child(response, "returnval"), version,
                                              sizeof version, nodes, 32);
    /* Two updates arrived together (power off: stopping, then powered off), each carrying the
     * whole page of ten. */
    CHECK(n == 20);
    CHECK_STR(version, "-");
    int64_t key = 0;
    char type[64];
    CHECK(vcenter_event_key(nodes[0], &key));
    CHECK(key == 28);
    CHECK_STR(vcenter_xml_type(nodes[0], type, sizeof type), "VmStoppingEvent");
    CHECK(vcenter_event_key(nodes[10], &key));
    CHECK(key == 29);
    CHECK_STR(vcenter_xml_type(nodes[10], type, sizeof type), "VmPoweredOffEvent");
    /* Fewer slots than events: the count still tells how many there were. */
    CHECK(vcenter_soap_parse_latest_page(vcenter_xml_child(response, "returnval"), version,
                                         sizeof version, nodes, 4) == 20);
    xmlFreeDoc(doc);

    /* maxWaitSeconds passed without change: an empty response, no returnval. */
    doc = parse_fixture("wait_for_updates_timeout.xml", "user", &response, &status, error,
                        sizeof error);
    CHECK(status == VCENTER_SOAP_OK);
    CHECK(vcenter_xml_child(response, "returnval") == NULL);
    xmlFreeDoc(doc);
}

static void test_create_collector_and_time(void)
{
    xmlNodePtr response;
    vcenter_soap_status status;
    char error[256], text[256];
    xmlDocPtr doc =
        parse_fixture("create_collector.xml", "user", &response, &status, error, sizeof error);
    CHECK(vcenter_xml_text(vcenter_xml_child(response, "returnval"), text, sizeof text));
    CHECK_CONTAINS(text, "session[");
    xmlFreeDoc(doc);
    doc = parse_fixture("current_time.xml", "user", &response, &status, error, sizeof error);
    CHECK(vcenter_xml_text(vcenter_xml_child(response, "returnval"), text, sizeof text));
    CHECK_STR(text, "2026-11-25T18:24:46.772710271Z");
    xmlFreeDoc(doc);
}

/* The CloudEvent source is the SDK URL as VEBA writes it: scheme://host[:port]/sdk, whatever
 * form the address was configured in, never with credentials. */
static void test_source_url_is_normalized(void)
{
    const char *cases[][2] = {
        {"vc.example.com", "https://vc.example.com/sdk"},
        {"vc.example.com/", "https://vc.example.com/sdk"},
        {"https://VC.Example.com/sdk", "https://vc.example.com/sdk"},
        {"https://admin:s3cret@vc.example.com:8443/sdk", "https://vc.example.com:8443/sdk"},
        {"http://127.0.0.1:8989", "http://127.0.0.1:8989/sdk"},
    };
    uv_loop_t loop;
    uv_loop_init(&loop);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        config_vcenter config = {.address = (char *)cases[i][0]};
        char err[256];
        vcenter_soap *soap = vcenter_soap_new(&loop, &config, err, sizeof err);
        CHECK(soap != NULL);
        if (!soap)
            continue;
        CHECK_STR(vcenter_soap_source_url(soap), cases[i][1]);
        vcenter_soap_close(soap);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
}

int main(void)
{
    RUN_TEST(test_service_content);
    RUN_TEST(test_session_cookie_forms);
    RUN_TEST(test_login_response);
    RUN_TEST(test_invalid_login_names_user_not_password);
    RUN_TEST(test_not_authenticated_with_empty_faultstring);
    RUN_TEST(test_other_fault_and_garbage);
    RUN_TEST(test_read_next_events_page);
    RUN_TEST(test_latest_page_update);
    RUN_TEST(test_create_collector_and_time);
    RUN_TEST(test_source_url_is_normalized);
    xmlCleanupParser();
    return CHECK_DONE();
}
