/* vCenter event XML -> CloudEvent: every event class of the generated table against goldens
 * that govmomi itself produced (tools/gen-vsphere-types -golden), plus the CloudEvent
 * attributes of both formats and the XML variations a real vCenter or vcsim sends. */
#include <ctype.h>
#include <libxml/parser.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "sources/vcenter/vcenter_convert.h"
#include "sources/vcenter/vsphere_types.h"

#define VIM_OPEN                                                                                   \
    "<returnval xmlns=\"urn:vim25\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "      \
    "xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\" "
#define EVENT_BASE                                                                                 \
    "<key>1234</key><chainId>1230</chainId>"                                                       \
    "<createdTime>2024-01-02T03:04:05.120000Z</createdTime><userName>VSPHERE.LOCAL\\admin"         \
    "</userName>"                                                                                  \
    "<datacenter><name>dc1</name><datacenter type=\"Datacenter\">datacenter-2</datacenter>"        \
    "</datacenter>"                                                                                \
    "<host><name>esx1</name><host type=\"HostSystem\">host-9</host></host>"

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)size + 1);
    if (buf && fread(buf, 1, (size_t)size, f) != (size_t)size) {
        free(buf);
        buf = NULL;
    }
    if (buf)
        buf[size] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)size;
    return buf;
}

static void fixture_path(char *out, size_t cap, const char *name)
{
    const char *root = getenv("EVENT_ROUTER_SOURCE_DIR");
    snprintf(out, cap, "%s/tests/fixtures/vsphere-events/%s", root ? root : ".", name);
}

/* Writes the first path where a and b differ into path; true when they are equal. */
static bool json_diff(const cJSON *a, const cJSON *b, char *path, size_t cap)
{
    if (cJSON_Compare(a, b, true))
        return true;
    size_t len = strlen(path);
    if (cJSON_IsObject(a) && cJSON_IsObject(b)) {
        const cJSON *ia = a->child, *ib = b->child;
        for (; ia && ib; ia = ia->next, ib = ib->next) {
            snprintf(path + len, cap - len, ".%s", ib->string);
            if (strcmp(ia->string, ib->string) != 0) {
                snprintf(path + len, cap - len, ".%s (got key %s)", ib->string, ia->string);
                return false;
            }
            if (!json_diff(ia, ib, path, cap))
                return false;
        }
        snprintf(path + len, cap - len, " (%s)", ia ? "extra key" : "missing key");
        return false;
    }
    if (cJSON_IsArray(a) && cJSON_IsArray(b) && cJSON_GetArraySize(a) == cJSON_GetArraySize(b)) {
        int i = 0;
        for (const cJSON *ia = a->child, *ib = b->child; ia; ia = ia->next, ib = ib->next, i++) {
            snprintf(path + len, cap - len, "[%d]", i);
            if (!json_diff(ia, ib, path, cap))
                return false;
        }
    }
    char *ga = cJSON_PrintUnformatted(a), *gb = cJSON_PrintUnformatted(b);
    snprintf(path + len, cap - len, ": got %.200s want %.200s", ga ? ga : "?", gb ? gb : "?");
    free(ga);
    free(gb);
    return false;
}

/* Our data serialized and parsed again, as a receiver sees it (raw big numbers included). */
static cJSON *as_received(const cJSON *data)
{
    char *text = cJSON_PrintUnformatted(data);
    cJSON *parsed = text ? cJSON_Parse(text) : NULL;
    free(text);
    return parsed;
}

/* The element holding the events: the first *Response element of the SOAP body. */
static xmlNodePtr find_response(xmlNodePtr node)
{
    for (; node; node = node->next) {
        const char *name = (const char *)node->name;
        size_t len = strlen(name);
        if (node->type == XML_ELEMENT_NODE && len > 8 && strcmp(name + len - 8, "Response") == 0)
            return node;
        xmlNodePtr inner = find_response(node->children);
        if (inner)
            return inner;
    }
    return NULL;
}

/* Converts every event of fixture <name>.xml and compares it with line i of <name>.jsonl.
 * Returns how many events were compared. */
static size_t compare_fixture(const char *name)
{
    char path[1024], file[256];
    snprintf(file, sizeof file, "%s.xml", name);
    fixture_path(path, sizeof path, file);
    xmlDocPtr doc = xmlReadFile(path, NULL, XML_PARSE_NONET | XML_PARSE_HUGE);
    CHECK(doc != NULL);
    snprintf(file, sizeof file, "%s.jsonl", name);
    fixture_path(path, sizeof path, file);
    char *lines = read_file(path, NULL);
    CHECK(lines != NULL);
    if (!doc || !lines) {
        xmlFreeDoc(doc);
        free(lines);
        return 0;
    }
    vcenter_convert_context ctx = {.format = VCENTER_FORMAT_ROUTER};
    xmlNodePtr response = find_response(xmlDocGetRootElement(doc));
    CHECK(response != NULL);
    size_t compared = 0, mismatches = 0;
    char *line = lines;
    for (xmlNodePtr n = response ? response->children : NULL; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        char *eol = strchr(line, '\n');
        CHECK(eol != NULL);
        if (!eol)
            break;
        *eol = '\0';
        cJSON *golden = cJSON_Parse(line);
        line = eol + 1;
        const char *want_class =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(golden, "class"));
        const char *class_name = NULL;
        cJSON *data = vcenter_event_data_json(&ctx, n, &class_name);
        cJSON *got = as_received(data);
        char diff[1024] = "";
        bool same =
            class_name && want_class && strcmp(class_name, want_class) == 0 &&
            json_diff(got, cJSON_GetObjectItemCaseSensitive(golden, "data"), diff, sizeof diff);
        if (!same && mismatches++ < 5)
            fprintf(stderr, "  %s: %s: data%s\n", name, want_class ? want_class : "?", diff);
        compared++;
        cJSON_Delete(got);
        cJSON_Delete(data);
        cJSON_Delete(golden);
    }
    fprintf(stderr, "  %s: %zu events compared, %zu mismatched\n", name, compared, mismatches);
    CHECK(mismatches == 0);
    CHECK(*line == '\0'); /* no golden left over */
    CHECK(ctx.unknown_classes == 0);
    free(lines);
    xmlFreeDoc(doc);
    return compared;
}

/* One populated instance of every event class in the table, encoded and decoded by govmomi. */
static void test_every_class_matches_govmomi_golden(void)
{
    size_t events_in_table = 0;
    for (size_t i = 0; i < vsphere_type_count(); i++)
        events_in_table += vsphere_type_at(i)->is_event;
    size_t compared = compare_fixture("events");
    CHECK(compared == events_in_table);
    CHECK(compared > 300);
}

/* Events a real SOAP peer (govmomi's simulator) sent, as govmomi's client decoded them. */
static void test_vcsim_capture_matches_govmomi(void)
{
    CHECK(compare_fixture("vcsim-events") >= 10);
}

static void test_table_is_sorted_and_findable(void)
{
    size_t n = vsphere_type_count();
    CHECK(n > 100);
    for (size_t i = 1; i < n; i++)
        CHECK(strcmp(vsphere_type_at(i - 1)->name, vsphere_type_at(i)->name) < 0);
    const vsphere_type *t = vsphere_type_find("VmPoweredOnEvent");
    CHECK(t && t->is_event);
    CHECK_STR(t ? t->base : NULL, "VmEvent");
    CHECK_STR(t && t->field_count ? t->fields[0].json_name : NULL, "Key");
    CHECK(vsphere_type_find("NoSuchEvent") == NULL);
    CHECK(vsphere_type_find(NULL) == NULL);
    CHECK(vsphere_type_at(n) == NULL);
}

/* Parses xml and converts its root element. */
static event *convert_text(vcenter_convert_context *ctx, const char *xml, int64_t *key,
                           char *reason)
{
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "event.xml", NULL, XML_PARSE_NONET);
    CHECK(doc != NULL);
    if (!doc)
        return NULL;
    event *ev = vcenter_event_convert(ctx, xmlDocGetRootElement(doc), key, reason, 256);
    xmlFreeDoc(doc);
    return ev;
}

static cJSON *data_text(vcenter_convert_context *ctx, const char *xml, const char **class_name)
{
    xmlDocPtr doc = xmlReadMemory(xml, (int)strlen(xml), "event.xml", NULL, XML_PARSE_NONET);
    CHECK(doc != NULL);
    if (!doc)
        return NULL;
    cJSON *data = vcenter_event_data_json(ctx, xmlDocGetRootElement(doc), class_name);
    xmlFreeDoc(doc);
    return data;
}

static const char *ext(const event *ev, const char *name)
{
    return ev ? event_get_attribute(ev, name) : NULL;
}

static bool is_uuid_v4(const char *s)
{
    if (!s || strlen(s) != 36 || s[14] != '4' || !strchr("89ab", s[19]))
        return false;
    for (int i = 0; i < 36; i++)
        if ((i == 8 || i == 13 || i == 18 || i == 23) ? s[i] != '-'
                                                      : !isxdigit((unsigned char)s[i]))
            return false;
    return true;
}

static const char powered_on[] = VIM_OPEN "xsi:type=\"VmPoweredOnEvent\">" EVENT_BASE
                                          "<vm><name>web-1</name><vm type=\"VirtualMachine\">vm-42"
                                          "</vm></vm><fullFormattedMessage>web-1 on esx1 is "
                                          "powered on</fullFormattedMessage><template>false"
                                          "</template></returnval>";

static void test_router_format_attributes(void)
{
    vcenter_convert_context ctx = {.format = VCENTER_FORMAT_ROUTER,
                                   .source_url = "https://vcenter.local/sdk",
                                   .api_version = "8.0.2.0"};
    char reason[256] = "";
    int64_t key = 0;
    event *ev = convert_text(&ctx, powered_on, &key, reason);
    CHECK(ev != NULL);
    CHECK(key == 1234);
    CHECK_STR(ext(ev, "specversion"), "1.0");
    CHECK_STR(ext(ev, "type"), "com.vmware.event.router/event");
    CHECK_STR(ext(ev, "subject"), "VmPoweredOnEvent");
    CHECK_STR(ext(ev, "source"), "https://vcenter.local/sdk");
    CHECK_STR(ext(ev, "time"), "2024-01-02T03:04:05.12Z");
    CHECK_STR(ext(ev, "datacontenttype"), "application/json");
    CHECK_STR(ext(ev, "vsphereapiversion"), "8.0.2.0");
    CHECK(ext(ev, "eventclass") == NULL);
    CHECK(is_uuid_v4(ext(ev, "id")));
    CHECK_STR(ev ? ev->ordering_key : NULL, "vm-42");
    CHECK(ev && event_validate(ev, reason, sizeof reason));
    event *again = convert_text(&ctx, powered_on, NULL, reason);
    CHECK(again && ev && strcmp(ext(again, "id"), ext(ev, "id")) != 0); /* ids are unique */
    const cJSON *data = ev ? ev->data_json : NULL;
    CHECK(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(data, "Key")));
    CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(data, "Template")));
    CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(data, "Ds")));
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(data, "ChangeTag")), "");
    CHECK_CONTAINS(ev ? (const char *)ev->data : NULL,
                   "\"Vm\":{\"Name\":\"web-1\",\"Vm\":{\"Type\":\"VirtualMachine\",\"Value\":"
                   "\"vm-42\"}}");
    CHECK_CONTAINS(ev ? (const char *)ev->data : NULL, "{\"Key\":1234,\"ChainId\":1230,");
    event_unref(again);
    event_unref(ev);
}

static void test_sources_for_knative_format_attributes(void)
{
    vcenter_convert_context ctx = {.format = VCENTER_FORMAT_SOURCES_KNATIVE,
                                   .source_url = "https://vcenter.local/sdk",
                                   .api_version = "7.0.3.0"};
    char reason[256] = "";
    event *ev = convert_text(&ctx, powered_on, NULL, reason);
    CHECK(ev != NULL);
    CHECK_STR(ext(ev, "type"), "com.vmware.vsphere.VmPoweredOnEvent.v0");
    CHECK_STR(ext(ev, "id"), "1234");
    CHECK(ext(ev, "subject") == NULL);
    CHECK_STR(ext(ev, "eventclass"), "event");
    CHECK_STR(ext(ev, "vsphereapiversion"), "7.0.3.0");
    CHECK_STR(ext(ev, "time"), "2024-01-02T03:04:05.12Z");
    CHECK(ev && event_validate(ev, reason, sizeof reason));
    event_unref(ev);
}

static void test_xsi_prefix_and_value_prefix_variance(void)
{
    vcenter_convert_context ctx = {0};
    const char *variants[] = {
        "<returnval xmlns=\"urn:vim25\" xmlns:XMLSchema-instance=\"http://www.w3.org/2001/"
        "XMLSchema-instance\" XMLSchema-instance:type=\"VmPoweredOnEvent\">" EVENT_BASE
        "</returnval>",
        "<returnval xmlns=\"urn:vim25\" xmlns:vim25=\"urn:vim25\" xmlns:q=\"http://www.w3.org/"
        "2001/XMLSchema-instance\" q:type=\"vim25:VmPoweredOnEvent\">" EVENT_BASE "</returnval>",
        VIM_OPEN "xsi:type=\"VmPoweredOnEvent\">" EVENT_BASE "</returnval>",
    };
    cJSON *first = NULL;
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        const char *class_name = NULL;
        cJSON *data = data_text(&ctx, variants[i], &class_name);
        CHECK_STR(class_name, "VmPoweredOnEvent");
        CHECK(data != NULL);
        if (!first)
            first = data;
        else {
            CHECK(cJSON_Compare(first, data, true));
            cJSON_Delete(data);
        }
    }
    cJSON_Delete(first);
    /* A "type" attribute in another namespace is not an xsi:type. */
    char reason[256] = "";
    event *ev = convert_text(&ctx,
                             "<returnval xmlns:o=\"urn:other\" o:type=\"VmPoweredOnEvent\">"
                             "<key>1</key></returnval>",
                             NULL, reason);
    CHECK(ev == NULL);
    CHECK_CONTAINS(reason, "xsi:type");
    CHECK(ctx.unknown_classes == 0);
}

static void test_times_and_big_numbers_keep_go_encoding(void)
{
    vcenter_convert_context ctx = {0};
    cJSON *data = data_text(
        &ctx,
        VIM_OPEN "xsi:type=\"DatastoreCapacityIncreasedEvent\"><key>7</key><chainId>7</chainId>"
                 "<createdTime>2024-01-02T03:04:05.000+02:00</createdTime><userName>u</userName>"
                 "<oldCapacity>9007199254740993</oldCapacity><newCapacity>-12</newCapacity>"
                 "</returnval>",
        NULL);
    char *text = data ? cJSON_PrintUnformatted(data) : NULL;
    CHECK_CONTAINS(text, "\"CreatedTime\":\"2024-01-02T03:04:05+02:00\"");
    CHECK_CONTAINS(text, "\"OldCapacity\":9007199254740993,");
    CHECK_CONTAINS(text, "\"NewCapacity\":-12}");
    CHECK_CONTAINS(text, "\"Datacenter\":null");
    free(text);
    cJSON_Delete(data);
    /* 16 digits below 2^53: cJSON's own printing wrote 6.25e+15 (regression). */
    data = data_text(&ctx,
                     VIM_OPEN
                     "xsi:type=\"DatastoreCapacityIncreasedEvent\"><key>7</key><chainId>7</chainId>"
                     "<oldCapacity>6249999999999999</oldCapacity><newCapacity>-6249999999999999"
                     "</newCapacity></returnval>",
                     NULL);
    text = data ? cJSON_PrintUnformatted(data) : NULL;
    CHECK_CONTAINS(text, "\"OldCapacity\":6249999999999999,");
    CHECK_CONTAINS(text, "\"NewCapacity\":-6249999999999999}");
    free(text);
    cJSON_Delete(data);
    /* Absent plain fields are Go's zero values, not null. */
    data = data_text(&ctx, VIM_OPEN "xsi:type=\"VmPoweredOnEvent\"><key>1</key></returnval>", NULL);
    text = data ? cJSON_PrintUnformatted(data) : NULL;
    CHECK_STR(text,
              "{\"Key\":1,\"ChainId\":0,\"CreatedTime\":\"0001-01-01T00:00:00Z\","
              "\"UserName\":\"\",\"Datacenter\":null,\"ComputeResource\":null,\"Host\":null,"
              "\"Vm\":null,\"Ds\":null,\"Net\":null,\"Dvs\":null,\"FullFormattedMessage\":\"\","
              "\"ChangeTag\":\"\",\"Template\":false}");
    free(text);
    cJSON_Delete(data);
}

static void test_unknown_class_converts_from_nearest_base(void)
{
    vcenter_convert_context ctx = {.source_url = "https://vc/sdk"};
    char reason[256] = "";
    const char xml[] = VIM_OPEN "xsi:type=\"VmQuantumTeleportedEvent\">" EVENT_BASE
                                "<vm><name>web-1</name><vm type=\"VirtualMachine\">vm-7</vm></vm>"
                                "<template>true</template><hop>3</hop><hop>4</hop>"
                                "<destination><planet>mars</planet><pod type=\"Folder\">"
                                "group-v3</pod></destination></returnval>";
    int64_t key = 0;
    event *ev = convert_text(&ctx, xml, &key, reason);
    CHECK(ev != NULL);
    CHECK(ctx.unknown_classes == 1);
    CHECK(key == 1234);
    CHECK_STR(ext(ev, "subject"), "VmQuantumTeleportedEvent");
    CHECK_STR(ev ? ev->ordering_key : NULL, "vm-7");
    const char *data = ev ? (const char *)ev->data : NULL;
    CHECK_CONTAINS(data, "{\"Key\":1234,\"ChainId\":1230,"); /* typed from the Event base */
    CHECK_CONTAINS(data, "\"Template\":true,\"Hop\":[\"3\",\"4\"],");
    CHECK_CONTAINS(data, "\"Destination\":{\"Planet\":\"mars\",\"Pod\":{\"Type\":\"Folder\","
                         "\"Value\":\"group-v3\"}}");
    event_unref(ev);
}

static void test_eventex_with_arguments(void)
{
    const char xml[] =
        VIM_OPEN "xsi:type=\"EventEx\">" EVENT_BASE
                 "<eventTypeId>com.vmware.vc.HA.ClusterFailoverActionInitiatedEvent</eventTypeId>"
                 "<severity>warning</severity>"
                 "<arguments><key>name</key><value xsi:type=\"xsd:string\">c1</value></arguments>"
                 "<arguments><key>count</key><value xsi:type=\"xsd:int\">3</value></arguments>"
                 "<arguments><key>big</key><value xsi:type=\"xsd:long\">1099511627776</value>"
                 "</arguments>"
                 "<arguments><key>ok</key><value xsi:type=\"xsd:boolean\">true</value></arguments>"
                 "<arguments><key>list</key><value xsi:type=\"ArrayOfString\"><string>a</string>"
                 "<string>b</string></value></arguments>"
                 "<arguments><key>obj</key><value xsi:type=\"ManagedObjectReference\" "
                 "type=\"ClusterComputeResource\">domain-c8</value></arguments>"
                 "<objectId>domain-c8</objectId></returnval>";
    vcenter_convert_context ctx = {.format = VCENTER_FORMAT_ROUTER, .source_url = "https://vc/sdk"};
    char reason[256] = "";
    event *ev = convert_text(&ctx, xml, NULL, reason);
    CHECK(ev != NULL);
    CHECK_STR(ext(ev, "type"), "com.vmware.event.router/eventex");
    CHECK_STR(ext(ev, "subject"), "com.vmware.vc.HA.ClusterFailoverActionInitiatedEvent");
    CHECK_STR(ev ? ev->ordering_key : NULL, "host-9"); /* no Vm: the host */
    cJSON *want =
        cJSON_Parse("[{\"Key\":\"name\",\"Value\":\"c1\"},{\"Key\":\"count\",\"Value\":3},"
                    "{\"Key\":\"big\",\"Value\":1099511627776},{\"Key\":\"ok\",\"Value\":true},"
                    "{\"Key\":\"list\",\"Value\":{\"String\":[\"a\",\"b\"]}},"
                    "{\"Key\":\"obj\",\"Value\":{\"Type\":\"ClusterComputeResource\",\"Value\":"
                    "\"domain-c8\"}}]");
    char diff[512] = "";
    CHECK(ev && json_diff(cJSON_GetObjectItemCaseSensitive(ev->data_json, "Arguments"), want, diff,
                          sizeof diff));
    if (diff[0])
        fprintf(stderr, "  Arguments%s\n", diff);
    CHECK(ev && cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(ev->data_json, "Fault")));
    cJSON_Delete(want);
    event_unref(ev);

    ctx.format = VCENTER_FORMAT_SOURCES_KNATIVE;
    ev = convert_text(&ctx, xml, NULL, reason);
    CHECK_STR(ext(ev, "type"),
              "com.vmware.vsphere.com.vmware.vc.HA.ClusterFailoverActionInitiatedEvent.v0");
    CHECK_STR(ext(ev, "eventclass"), "eventex");
    event_unref(ev);
}

static void test_extended_event(void)
{
    vcenter_convert_context ctx = {.format = VCENTER_FORMAT_SOURCES_KNATIVE,
                                   .source_url = "https://vc/sdk"};
    char reason[256] = "";
    event *ev = convert_text(
        &ctx,
        VIM_OPEN "xsi:type=\"ExtendedEvent\">" EVENT_BASE
                 "<eventTypeId>com.vmware.applmgmt.backup.job.failed.event</eventTypeId>"
                 "<managedObject type=\"Folder\">group-d1</managedObject>"
                 "<data><key>reason</key><value>disk full</value></data></returnval>",
        NULL, reason);
    CHECK_STR(ext(ev, "type"), "com.vmware.vsphere.com.vmware.applmgmt.backup.job.failed.event.v0");
    CHECK_STR(ext(ev, "eventclass"), "extendedevent");
    CHECK_CONTAINS(ev ? (const char *)ev->data : NULL,
                   "\"Data\":[{\"Key\":\"reason\",\"Value\":\"disk full\"}]");
    event_unref(ev);
}

static void test_rejects_non_events(void)
{
    vcenter_convert_context ctx = {0};
    char reason[256] = "";
    event *ev = convert_text(
        &ctx, VIM_OPEN "xsi:type=\"HostEventArgument\"><name>esx</name></returnval>", NULL, reason);
    CHECK(ev == NULL);
    CHECK_CONTAINS(reason, "not an event");
    ev = convert_text(&ctx, "<returnval><key>1</key></returnval>", NULL, reason);
    CHECK(ev == NULL);
    CHECK_CONTAINS(reason, "no xsi:type");
    CHECK(vcenter_event_data_json(&ctx, NULL, NULL) == NULL);
}

int main(void)
{
    RUN_TEST(test_table_is_sorted_and_findable);
    RUN_TEST(test_every_class_matches_govmomi_golden);
    RUN_TEST(test_vcsim_capture_matches_govmomi);
    RUN_TEST(test_router_format_attributes);
    RUN_TEST(test_sources_for_knative_format_attributes);
    RUN_TEST(test_xsi_prefix_and_value_prefix_variance);
    RUN_TEST(test_times_and_big_numbers_keep_go_encoding);
    RUN_TEST(test_unknown_class_converts_from_nearest_base);
    RUN_TEST(test_eventex_with_arguments);
    RUN_TEST(test_extended_event);
    RUN_TEST(test_rejects_non_events);
    xmlCleanupParser();
    return CHECK_DONE();
}
