/* A processor's filter, short of the running engine (tests/integration/filter.test.mjs runs it
 * end to end): the event seen as structured JSON (event_view.h) without copying or allocating,
 * and `filter: {eventPattern: ...}` in the config, written as YAML or as a JSON string, with its
 * errors at file:line:col. */
#include "check.h"
#include "config/config.h"
#include "config/config_filter.h"
#include "config/config_yaml.h"
#include "event.h"
#include "event_view.h"
#include "filters/event_pattern.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Linked with -Wl,--wrap=malloc,... (tests/CMakeLists.txt) to count the engine's allocations. */
void *__real_malloc(size_t size);
void *__real_calloc(size_t count, size_t size);
void *__real_realloc(void *p, size_t size);
static unsigned long allocations;
void *__wrap_malloc(size_t size)
{
    allocations++;
    return __real_malloc(size);
}
void *__wrap_calloc(size_t count, size_t size)
{
    allocations++;
    return __real_calloc(count, size);
}
void *__wrap_realloc(void *p, size_t size)
{
    allocations++;
    return __real_realloc(p, size);
}

static event *sample_event(void)
{
    event *ev = event_new();
    event_set_attribute(ev, "specversion", "1.0");
    event_set_attribute(ev, "id", "42");
    event_set_attribute(ev, "source", "https://vc.lab/sdk");
    event_set_attribute(ev, "type", "com.vmware.event.router/event");
    event_set_attribute(ev, "subject", "VmPoweredOnEvent");
    event_set_attribute(ev, "datacontenttype", "application/json");
    event_set_attribute(ev, "vsphereapiversion", "8.0.2");
    const char *data = "{\"Key\":7,\"Vm\":{\"Name\":\"DC0_H0_VM0\"},\"Tags\":[\"a\",\"b\"]}";
    event_set_data(ev, data, strlen(data), true);
    return ev;
}

static void test_view_is_the_structured_json(void)
{
    event *ev = sample_event();
    event_view view;
    const cJSON *json = event_view_init(&view, ev);
    char *text = cJSON_PrintUnformatted(json);
    CHECK_STR(text,
              "{\"specversion\":\"1.0\",\"id\":\"42\",\"source\":\"https://vc.lab/sdk\","
              "\"type\":\"com.vmware.event.router/event\",\"subject\":\"VmPoweredOnEvent\","
              "\"datacontenttype\":\"application/json\",\"vsphereapiversion\":\"8.0.2\","
              "\"data\":{\"Key\":7,\"Vm\":{\"Name\":\"DC0_H0_VM0\"},\"Tags\":[\"a\",\"b\"]}}");
    free(text);
    /* it is what event_to_json builds, without building it */
    cJSON *built = event_to_json(ev);
    CHECK(cJSON_Compare(json, built, true));
    cJSON_Delete(built);
    /* the event's data tree is borrowed, not changed */
    CHECK(ev->data_json->string == NULL && ev->data_json->next == NULL);
    event_unref(ev);
}

static void test_view_leaves_out_what_a_pattern_cannot_use(void)
{
    event *ev = event_new();
    event_set_attribute(ev, "id", "1");
    event_set_attribute(ev, "datacontenttype", "text/plain");
    event_set_data(ev, "hello", 5, false);
    for (int i = 0; i < EVENT_VIEW_MAX_EXTENSIONS + 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "ext%d", i);
        event_set_attribute(ev, name, "v");
    }
    event_view view;
    const cJSON *json = event_view_init(&view, ev);
    CHECK(cJSON_GetObjectItem(json, "data") == NULL);
    CHECK(cJSON_GetArraySize(json) == 2 + EVENT_VIEW_MAX_EXTENSIONS);
    CHECK(cJSON_GetObjectItem(json, "ext0") != NULL);
    event_unref(ev);
}

static event_pattern *compile(const char *text)
{
    return event_pattern_compile(text, strlen(text), NULL, NULL);
}

static void test_matching_through_the_view_allocates_nothing(void)
{
    event *ev = sample_event();
    event_pattern *p = compile("{\"subject\": [\"VmPoweredOnEvent\"], \"vsphereapiversion\": "
                               "[{\"prefix\": \"8.\"}], \"data\": {\"Key\": [{\"numeric\": [\">\", "
                               "5]}], \"Tags\": [\"b\"], \"Vm\": {\"Name\": [{\"wildcard\": "
                               "\"DC0_*\"}]}}}");
    event_pattern *miss = compile("{\"data\": {\"Key\": [8]}}");
    CHECK(p && miss);
    unsigned long before = allocations;
    bool all = true, none = false;
    for (int i = 0; i < 1000; i++) {
        event_view view;
        const cJSON *json = event_view_init(&view, ev);
        all = all && event_pattern_match(p, json);
        none = none || event_pattern_match(miss, json);
    }
    CHECK(all);
    CHECK(!none);
    CHECK(allocations == before);
    event_pattern_free(p);
    event_pattern_free(miss);
    event_unref(ev);
}

/* What an EventBridge rule sees of a PutEvents entry VEBA-style: Source = the CloudEvent source,
 * DetailType = its subject, Detail = the whole CloudEvent. */
static void test_eventbridge_envelope(void)
{
    event *ev = sample_event();
    const char *resources[] = {"arn:aws:ec2:us-east-1:123456789012:instance/i-1"};
    eventbridge_fields fields = {.account = "123456789012",
                                 .region = "us-east-1",
                                 .resources = resources,
                                 .resource_count = 1};
    eventbridge_view view;
    const cJSON *json = event_view_eventbridge(&view, ev, &fields);
    char *text = cJSON_PrintUnformatted(json);
    CHECK_STR(text,
              "{\"version\":\"0\",\"detail-type\":\"VmPoweredOnEvent\",\"source\":\"https://"
              "vc.lab/sdk\",\"account\":\"123456789012\",\"region\":\"us-east-1\",\"resources\":["
              "\"arn:aws:ec2:us-east-1:123456789012:instance/i-1\"],\"detail\":{\"specversion\":"
              "\"1.0\",\"id\":\"42\",\"source\":\"https://vc.lab/sdk\",\"type\":\"com.vmware.event."
              "router/event\",\"subject\":\"VmPoweredOnEvent\",\"datacontenttype\":\"application/"
              "json\",\"vsphereapiversion\":\"8.0.2\",\"data\":{\"Key\":7,\"Vm\":{\"Name\":\"DC0_"
              "H0_VM0\"},\"Tags\":[\"a\",\"b\"]}}}");
    free(text);
    /* a real rule on source, detail-type and detail; VEBA's matcher (detail alone) never
     * matched it */
    event_pattern *rule = compile("{\"source\": [{\"prefix\": \"https://vc.\"}], "
                                  "\"detail-type\": [\"VmPoweredOnEvent\"], \"account\": "
                                  "[\"123456789012\"], \"detail\": {\"data\": {\"Vm\": {\"Name\": "
                                  "[{\"prefix\": \"DC0_\"}]}}}}");
    unsigned long before = allocations;
    eventbridge_view again;
    CHECK(event_pattern_match(rule, event_view_eventbridge(&again, ev, &fields)));
    CHECK(allocations == before);
    /* without a subject, DetailType is the type */
    event_set_attribute(ev, "subject", NULL);
    json = event_view_eventbridge(&view, ev, &fields);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(json, "detail-type")),
              "com.vmware.event.router/event");
    CHECK(!event_pattern_match(rule, json));
    event_pattern_free(rule);
    event_unref(ev);
}

/* ---- config ---- */

static const char header[] = "apiVersion: event-router.vmware.com/v1alpha1\n"
                             "kind: RouterConfig\n"
                             "metadata:\n"
                             "  name: test\n"
                             "eventProvider:\n"
                             "  type: webhook\n"
                             "  name: hook\n"
                             "  webhook:\n"
                             "    bindAddress: 127.0.0.1:8080\n"
                             "    path: /webhook\n"
                             "eventProcessor:\n"
                             "  type: knative\n"
                             "  name: sink\n"
                             "  knative: {destination: {uri: \"http://127.0.0.1:9000/\"}}\n";
/* the lines above are 1..14: a filter starts at line 15 */

static config *parse_filter(const char *filter, config_errors *errors)
{
    char text[4096];
    snprintf(text, sizeof text, "%s%s", header, filter);
    return config_parse("f.yaml", text, strlen(text), errors);
}

static bool filter_matches(const config *cfg, const char *event_json)
{
    cJSON *event = cJSON_Parse(event_json);
    bool m = event_pattern_match(cfg->processors[0].filter, event);
    cJSON_Delete(event);
    return m;
}

static void test_filter_written_in_yaml(void)
{
    config_errors errors = {0};
    config *cfg = parse_filter("  filter:\n"
                               "    eventPattern:\n"
                               "      subject: [VmPoweredOnEvent, \"VmPoweredOffEvent\"]\n"
                               "      data:\n"
                               "        Key: [{numeric: [\">\", 10]}]\n"
                               "        Code: [\"5\"]\n"
                               "        Flag: [true]\n"
                               "        Gone: [~]\n",
                               &errors);
    CHECK(cfg != NULL);
    if (!cfg) {
        for (size_t i = 0; i < errors.count; i++)
            fprintf(stderr, "  %s\n", errors.messages[i]);
        config_errors_free(&errors);
        return;
    }
    CHECK(cfg->processors[0].filter != NULL);
    CHECK_STR(cfg->processors[0].filter_text,
              "{\"subject\":[\"VmPoweredOnEvent\",\"VmPoweredOffEvent\"],\"data\":{\"Key\":[{"
              "\"numeric\":[\">\",10]}],\"Code\":[\"5\"],\"Flag\":[true],\"Gone\":[null]}}");
    /* quoted "5" is a string, plain 10 and true are a number and a boolean, ~ is null */
    CHECK(filter_matches(cfg, "{\"subject\": \"VmPoweredOffEvent\", \"data\": {\"Key\": 11, "
                              "\"Code\": \"5\", \"Flag\": true, \"Gone\": null}}"));
    CHECK(!filter_matches(cfg, "{\"subject\": \"VmPoweredOffEvent\", \"data\": {\"Key\": 11, "
                               "\"Code\": 5, \"Flag\": true, \"Gone\": null}}"));
    CHECK(!filter_matches(cfg, "{\"subject\": \"VmPoweredOffEvent\", \"data\": {\"Key\": 10, "
                               "\"Code\": \"5\", \"Flag\": true, \"Gone\": null}}"));
    config_free(cfg);
}

static void test_filter_written_as_json(void)
{
    config_errors errors = {0};
    config *cfg = parse_filter("  filter:\n"
                               "    eventPattern: |\n"
                               "      {\"source\": [{\"prefix\": \"https://vc\"}],\n"
                               "       \"detail-type\": [\"x\"]}\n",
                               &errors);
    CHECK(cfg && cfg->processors[0].filter);
    if (cfg) {
        CHECK(filter_matches(cfg, "{\"source\": \"https://vc.lab\", \"detail-type\": \"x\"}"));
        CHECK(!filter_matches(cfg, "{\"source\": \"http://vc.lab\", \"detail-type\": \"x\"}"));
    }
    config_free(cfg);
    config_errors_free(&errors);

    /* no filter: every event */
    cfg = parse_filter("", &errors);
    CHECK(cfg && cfg->processors[0].filter == NULL && cfg->processors[0].filter_text == NULL);
    config_free(cfg);
    config_errors_free(&errors);
}

static void expect_error(const char *filter, const char *expected)
{
    config_errors errors = {0};
    config *cfg = parse_filter(filter, &errors);
    CHECK(cfg == NULL);
    CHECK(errors.count >= 1);
    bool found = false;
    for (size_t i = 0; i < errors.count; i++)
        found = found || strcmp(errors.messages[i], expected) == 0;
    check_count++;
    if (!found) {
        check_failures++;
        fprintf(stderr, "  expected: %s\n", expected);
        for (size_t i = 0; i < errors.count; i++)
            fprintf(stderr, "  got:      %s\n", errors.messages[i]);
    }
    config_free(cfg);
    config_errors_free(&errors);
}

static void test_filter_errors_name_the_place(void)
{
    /* in YAML: at the offending value */
    expect_error("  filter:\n"
                 "    eventPattern:\n"
                 "      detail:\n"
                 "        state: [{prefix: 5}]\n",
                 "f.yaml:18:26: eventProcessor.filter.eventPattern: detail.state[0].prefix: prefix "
                 "match pattern must be a string");
    expect_error(
        "  filter:\n"
        "    eventPattern:\n"
        "      detail:\n"
        "        state: running\n",
        "f.yaml:18:16: eventProcessor.filter.eventPattern: detail.state: \"state\" must be "
        "an object or an array");
    expect_error("  filter:\n"
                 "    eventPattern:\n"
                 "      source: [{anything-but: {wildcard: [\"a*\", \"b\\\\c\"]}}]\n",
                 "f.yaml:17:49: eventProcessor.filter.eventPattern: "
                 "source[0].anything-but.wildcard[1]: Invalid escape character at pos 2");
    /* in a JSON string: at the string, with the place inside the pattern */
    expect_error("  filter:\n"
                 "    eventPattern: '{\"a\": []}'\n",
                 "f.yaml:16:19: eventProcessor.filter.eventPattern: a: Empty arrays are not "
                 "allowed (line 1, column 7 of the pattern)");
    expect_error(
        "  filter:\n"
        "    eventPattern: '{\"a\": [1,'\n",
        "f.yaml:16:19: eventProcessor.filter.eventPattern: invalid JSON: unexpected end of "
        "text (line 1, column 10 of the pattern)");
    /* the section itself */
    expect_error("  filter:\n"
                 "    pattern: {a: [1]}\n",
                 "f.yaml:16:5: eventProcessor.filter.pattern: unknown key 'pattern'");
    expect_error("  filter:\n"
                 "    pattern: {a: [1]}\n",
                 "f.yaml:16:5: eventProcessor.filter.eventPattern: is required");
    expect_error("  filter: [1]\n",
                 "f.yaml:15:11: eventProcessor.filter: expected a mapping, got a list");
}

static void test_yaml_to_json_places(void)
{
    config_errors errors = {0};
    const char *yaml = "a:\n  b: [1, \"x\", plain, -0.5e3, 1.5.2, True, NULL]\n  \"c d\": {}\n";
    ynode *root = ynode_parse("y.yaml", yaml, strlen(yaml), &errors);
    CHECK(root != NULL);
    yaml_json json;
    CHECK(root && yaml_to_json(root, &json));
    if (root && json.text) {
        CHECK_STR(json.text,
                  "{\"a\":{\"b\":[1,\"x\",\"plain\",-0.5e3,\"1.5.2\",true,null],\"c d\":{}}}");
        int line, col;
        yaml_json_locate(&json, (size_t)(strstr(json.text, "\"plain\"") - json.text), &line, &col);
        CHECK(line == 2 && col == 15);
        yaml_json_locate(&json, (size_t)(strstr(json.text, "\"c d\"") - json.text), &line, &col);
        CHECK(line == 3 && col == 3);
        yaml_json_free(&json);
    }
    ynode_free(root);
    config_errors_free(&errors);
}

int main(void)
{
    log_set_level(LOG_LEVEL_ERROR);
    RUN_TEST(test_view_is_the_structured_json);
    RUN_TEST(test_view_leaves_out_what_a_pattern_cannot_use);
    RUN_TEST(test_matching_through_the_view_allocates_nothing);
    RUN_TEST(test_eventbridge_envelope);
    RUN_TEST(test_filter_written_in_yaml);
    RUN_TEST(test_filter_written_as_json);
    RUN_TEST(test_filter_errors_name_the_place);
    RUN_TEST(test_yaml_to_json_places);
    return CHECK_DONE();
}
