#include "check.h"
#include "config/config.h"
#include "config/config_scalar.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char configs_dir[1024];

static const char *config_path(const char *name)
{
    static char path[1200];
    snprintf(path, sizeof path, "%s/%s", configs_dir, name);
    return path;
}

/* The first message containing needle, or NULL. */
static const char *error_with(const config_errors *errors, const char *needle)
{
    for (size_t i = 0; i < errors->count; i++)
        if (strstr(errors->messages[i], needle))
            return errors->messages[i];
    return NULL;
}

static void dump_errors(const config_errors *errors)
{
    for (size_t i = 0; i < errors->count; i++)
        fprintf(stderr, "    %s\n", errors->messages[i]);
}

#define CHECK_ERROR(errors, needle)                                                                \
    do {                                                                                           \
        const char *found_ = error_with((errors), (needle));                                       \
        CHECK_CONTAINS(found_, needle);                                                            \
        if (!found_)                                                                               \
            dump_errors(errors);                                                                   \
    } while (0)

static const char header[] = "apiVersion: event-router.vmware.com/v1alpha1\n"
                             "kind: RouterConfig\n"
                             "metadata:\n"
                             "  name: test\n";

/* A minimal valid document with extra text appended after the header (line 5 onwards). */
static config *parse_with(const char *body, config_errors *errors)
{
    char text[4096];
    snprintf(text, sizeof text, "%s%s", header, body);
    return config_parse("t.yaml", text, strlen(text), errors);
}

static const char webhook_provider[] = "eventProvider:\n"
                                       "  type: webhook\n"
                                       "  name: hook\n"
                                       "  webhook:\n"
                                       "    bindAddress: 127.0.0.1:8080\n"
                                       "    path: /webhook\n";
static const char knative_processor[] = "eventProcessor:\n"
                                        "  type: knative\n"
                                        "  name: sink\n"
                                        "  knative:\n"
                                        "    destination:\n"
                                        "      uri: http://127.0.0.1:9090/\n";

static void test_veba_webhook_knative(void)
{
    config_errors errors = {0};
    config *cfg = config_load(config_path("veba-webhook-knative.yaml"), &errors);
    CHECK(cfg != NULL);
    CHECK(errors.count == 0);
    dump_errors(&errors);
    if (cfg) {
        CHECK_STR(cfg->name, "router-config-webhook");
        CHECK(cfg->provider_count == 1);
        CHECK(cfg->providers[0].kind == PROVIDER_WEBHOOK);
        CHECK_STR(cfg->providers[0].name, "veba-webhook");
        CHECK(cfg->providers[0].line == 9);
        CHECK_STR(cfg->providers[0].webhook.bind_address, "0.0.0.0:8080");
        CHECK_STR(cfg->providers[0].webhook.path, "/webhook");
        CHECK(cfg->providers[0].webhook.max_body_bytes == 4 * 1024 * 1024);
        CHECK(cfg->providers[0].webhook.auth.type == AUTH_BASIC);
        CHECK_STR(cfg->providers[0].webhook.auth.username, "webhook-user");
        CHECK_STR(cfg->providers[0].webhook.auth.password, "webhook-pass");
        CHECK(cfg->processor_count == 1);
        CHECK(cfg->processors[0].kind == PROCESSOR_KNATIVE);
        CHECK_STR(cfg->processors[0].knative.uri,
                  "http://default-broker-ingress.vmware-functions.svc.cluster.local/");
        CHECK(!cfg->processors[0].knative.has_ref);
        CHECK(cfg->processors[0].knative.structured);
        CHECK(cfg->metrics.enabled);
        CHECK_STR(cfg->metrics.bind_address, "0.0.0.0:8082");
        CHECK(cfg->metrics.auth.type == AUTH_NONE);
        /* defaults of our extensions */
        CHECK_STR(cfg->deadletter_dir, "./deadletter");
        CHECK(cfg->queue_capacity == 4096);
        CHECK(cfg->delivery.timeout_seconds == 30);
        CHECK(cfg->delivery.connect_timeout_seconds == 5);
        CHECK(cfg->delivery.retries == 10);
        CHECK(cfg->delivery.backoff_initial_seconds == 0.5);
        CHECK(cfg->delivery.backoff_max_seconds == 30);
        CHECK(cfg->delivery.max_in_flight == 64);
        CHECK(cfg->scripts_dir == NULL);
        CHECK(cfg->console_socket == NULL);
    }
    config_free(cfg);
    config_errors_free(&errors);
}

static void test_knative_ref_broker(void)
{
    config_errors errors = {0};
    config *cfg = config_load(config_path("knative-ref-broker.yaml"), &errors);
    CHECK(cfg != NULL);
    dump_errors(&errors);
    if (cfg) {
        const config_knative *knative = &cfg->processors[0].knative;
        CHECK(knative->has_ref);
        CHECK(knative->uri == NULL);
        CHECK(!knative->structured);
        CHECK_STR(knative->ref.api_version, "eventing.knative.dev/v1");
        CHECK_STR(knative->ref.kind, "Broker");
        CHECK_STR(knative->ref.name, "default");
        CHECK_STR(knative->ref.namespace_, "vmware-functions");
        CHECK_STR(cfg->metrics.bind_address, "0.0.0.0:8082");
    }
    config_free(cfg);
    config_errors_free(&errors);
}

static void test_multi_with_extensions(void)
{
    char cwd[1024];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    CHECK(chdir(configs_dir) == 0); /* passwordFile is relative to the working directory */
    setenv("EVENT_ROUTER_TEST_WEBHOOK_PASSWORD", "webhook-secret-from-env", 1);
    config_errors errors = {0};
    config *cfg = config_load("multi.yaml", &errors);
    CHECK(cfg != NULL);
    dump_errors(&errors);
    if (cfg) {
        CHECK(cfg->provider_count == 2);
        CHECK_STR(cfg->providers[0].name, "main-webhook");
        CHECK_STR(cfg->providers[1].name, "second-webhook");
        CHECK(cfg->providers[1].line == 15);
        CHECK_STR(cfg->providers[1].webhook.bind_address, "[::1]:8081");
        CHECK(cfg->providers[1].webhook.max_body_bytes == 1024 * 1024);
        CHECK_STR(cfg->providers[1].webhook.auth.password, "webhook-secret-from-env");
        CHECK(cfg->processor_count == 2);
        CHECK_STR(cfg->processors[0].knative.uri, "http://127.0.0.1:9090/");
        CHECK(cfg->processors[1].knative.has_ref);
        CHECK_STR(cfg->processors[1].knative.ref.namespace_, "default");
        CHECK(cfg->processors[1].knative.insecure_ssl);
        CHECK_STR(cfg->processors[1].knative.ca_file, "/etc/ssl/certs/ca.pem");
        CHECK_STR(cfg->processors[1].knative.auth.password, "broker-secret-from-file");
        CHECK(cfg->metrics.enabled);
        CHECK_STR(cfg->metrics.bind_address, "127.0.0.1:8082");
        CHECK_STR(cfg->scripts_dir, "./scripts");
        CHECK(cfg->script_instruction_limit == 2000000);
        CHECK(cfg->script_time_limit_ms == 500);
        CHECK_STR(cfg->console_socket, "/run/event-router/console.sock");
        CHECK_STR(cfg->deadletter_dir, "/var/lib/event-router/deadletter");
        CHECK(cfg->delivery.timeout_seconds == 10);
        CHECK(cfg->delivery.connect_timeout_seconds == 2);
        CHECK(cfg->delivery.retries == 3);
        CHECK(cfg->delivery.backoff_initial_seconds == 0.25);
        CHECK(cfg->delivery.backoff_max_seconds == 60);
        CHECK(cfg->delivery.max_in_flight == 16);
        CHECK(cfg->queue_capacity == 500);
    }
    /* Resolved secrets are masked in the log from now on. */
    char masked[128];
    log_mask_secrets("p=broker-secret-from-file", masked, sizeof masked);
    CHECK_STR(masked, "p=*****");
    config_free(cfg);
    config_errors_free(&errors);
    unsetenv("EVENT_ROUTER_TEST_WEBHOOK_PASSWORD");
    CHECK(chdir(cwd) == 0);
}

static void test_vcenter_provider(void)
{
    config_errors errors = {0};
    const char *path = config_path("veba-vcenter-knative.yaml");
    config *cfg = config_load(path, &errors);
    CHECK(cfg != NULL);
    CHECK(errors.count == 0);
    if (cfg) {
        CHECK(cfg->providers[0].kind == PROVIDER_VCENTER);
        CHECK(cfg->providers[0].vcenter.max_replay_age_seconds == 3600);
        CHECK(!cfg->providers[0].vcenter.sources_for_knative_format);
        config_free(cfg);
    }
    config_errors_free(&errors);

    /* The section with mistakes in it: every problem is reported. */
    cfg = parse_with("eventProvider:\n"
                     "  type: vcenter\n"
                     "  name: vc\n"
                     "  vcenter:\n"
                     "    insecureSSL: sometimes\n"
                     "    checkpointDir: /tmp/cp\n"
                     "    eventFormat: cloudy\n",
                     &errors);
    CHECK(cfg == NULL);
    CHECK_ERROR(&errors, "t.yaml:9:5: eventProvider.vcenter.address: is required");
    CHECK_ERROR(&errors, "t.yaml:9:18: eventProvider.vcenter.insecureSSL: expected true or false");
    CHECK_ERROR(&errors, "t.yaml:11:18: eventProvider.vcenter.eventFormat: must be router or "
                         "sources-for-knative");
    config_errors_free(&errors);

    cfg = parse_with("eventProvider:\n"
                     "  type: vcenter\n"
                     "  name: vc\n"
                     "  vcenter:\n"
                     "    address: https://vc.local/sdk\n"
                     "    maxReplayAge: 10m\n"
                     "    eventFormat: sources-for-knative\n"
                     "eventProcessor:\n"
                     "  type: knative\n"
                     "  name: sink\n"
                     "  knative: {destination: {uri: 'http://127.0.0.1:9090/'}}\n",
                     &errors);
    CHECK(cfg != NULL);
    if (cfg) {
        CHECK(cfg->providers[0].vcenter.max_replay_age_seconds == 600);
        CHECK(cfg->providers[0].vcenter.sources_for_knative_format);
        config_free(cfg);
    }
    config_errors_free(&errors);
}

static void test_horizon_provider(void)
{
    config_errors errors = {0};
    config *cfg = config_load(config_path("veba-horizon-knative.yaml"), &errors);
    CHECK(cfg != NULL);
    dump_errors(&errors);
    if (cfg) {
        const config_horizon *hz = &cfg->providers[0].horizon;
        CHECK(cfg->providers[0].kind == PROVIDER_HORIZON);
        CHECK_STR(config_provider_type_name(cfg->providers[0].kind), "horizon");
        CHECK_STR(config_provider_address(&cfg->providers[0]), "https://api.myhorizon.corp.local");
        CHECK_STR(hz->address, "https://api.myhorizon.corp.local");
        CHECK(!hz->insecure_ssl);
        CHECK(!hz->checkpoint);
        CHECK_STR(hz->checkpoint_dir, "./checkpoints");
        CHECK(hz->max_replay_age_seconds == 3600);
        CHECK(!hz->sources_for_knative_format);
        CHECK(hz->auth.type == AUTH_ACTIVE_DIRECTORY);
        CHECK_STR(hz->auth.domain, "corp");
        CHECK_STR(hz->auth.username, "administrator");
        CHECK_STR(hz->auth.password, "ReplaceMe");
        config_free(cfg);
    }
    config_errors_free(&errors);

    /* Our additions, as for vCenter. */
    cfg = parse_with("eventProvider:\n"
                     "  type: horizon\n"
                     "  name: hz\n"
                     "  horizon:\n"
                     "    address: https://horizon.local/\n"
                     "    caFile: /etc/ssl/horizon.pem\n"
                     "    checkpoint: true\n"
                     "    checkpointDir: /var/lib/cp\n"
                     "    maxReplayAge: 10m\n"
                     "    eventFormat: sources-for-knative\n"
                     "    auth:\n"
                     "      type: active_directory\n"
                     "      activeDirectoryAuth: {domain: corp, username: u, password: pw-hz}\n"
                     "eventProcessor:\n"
                     "  type: knative\n"
                     "  name: sink\n"
                     "  knative: {destination: {uri: 'http://127.0.0.1:9090/'}}\n",
                     &errors);
    CHECK(cfg != NULL);
    dump_errors(&errors);
    if (cfg) {
        const config_horizon *hz = &cfg->providers[0].horizon;
        CHECK_STR(hz->ca_file, "/etc/ssl/horizon.pem");
        CHECK(hz->checkpoint);
        CHECK_STR(hz->checkpoint_dir, "/var/lib/cp");
        CHECK(hz->max_replay_age_seconds == 600);
        CHECK(hz->sources_for_knative_format);
        config_free(cfg);
    }
    config_errors_free(&errors);

    /* Mistakes, each at its place: no auth, a bad URL, an unknown key, a bad format. */
    cfg = parse_with("eventProvider:\n"
                     "  type: horizon\n"
                     "  name: hz\n"
                     "  horizon:\n"
                     "    address: horizon.local\n"
                     "    insecureSsl: true\n"
                     "    eventFormat: veba\n",
                     &errors);
    CHECK(cfg == NULL);
    CHECK_ERROR(&errors, "t.yaml:9:14: eventProvider.horizon.address: expected an http:// or "
                         "https:// URL");
    CHECK_ERROR(&errors, "t.yaml:10:5: eventProvider.horizon.insecureSsl: unknown key");
    CHECK_ERROR(&errors, "t.yaml:11:18: eventProvider.horizon.eventFormat: must be router or "
                         "sources-for-knative");
    CHECK_ERROR(&errors, "eventProvider.horizon.auth: is required");
    config_errors_free(&errors);

    /* Horizon logs in to Active Directory only. */
    cfg = parse_with("eventProvider:\n"
                     "  type: horizon\n"
                     "  name: hz\n"
                     "  horizon:\n"
                     "    address: https://horizon.local\n"
                     "    auth: {type: basic_auth, basicAuth: {username: u, password: pw-basic}}\n",
                     &errors);
    CHECK(cfg == NULL);
    CHECK_ERROR(&errors, "t.yaml:10:18: eventProvider.horizon.auth.type: auth type 'basic_auth' "
                         "is not accepted here (expected active_directory)");
    config_errors_free(&errors);
}

static void test_other_types_not_supported(void)
{
    config_errors errors = {0};
    config *cfg =
        parse_with("eventProviders:\n"
                   "  - type: vcsim\n"
                   "    name: sim\n"
                   "    vcsim: {address: 'https://127.0.0.1:8989/sdk', insecureSSL: true}\n"
                   "  - type: horizon\n"
                   "    name: hz\n"
                   "    horizon: {address: 'https://horizon.local', auth: {type: active_directory, "
                   "activeDirectoryAuth: {domain: d, username: u, password: pw1}}}\n"
                   "eventProcessors:\n"
                   "  - type: openfaas\n"
                   "    name: faas\n"
                   "    openfaas: {address: 'http://gateway.openfaas:8080', async: false}\n"
                   "  - type: aws_event_bridge\n"
                   "    name: eb\n"
                   "    awsEventBridge:\n"
                   "      region: us-west-1\n"
                   "      eventBus: default\n"
                   "      ruleARN: arn:aws:events:us-west-1:1234567890:rule/x\n"
                   "      auth:\n"
                   "        type: aws_access_key\n"
                   "        awsAccessKeyAuth: {accessKey: AKIA1, secretKey: topsecret}\n",
                   &errors);
    CHECK(cfg == NULL);
    CHECK(errors.count == 1); /* aws_event_bridge, horizon and openfaas run now */
    CHECK_ERROR(&errors, "t.yaml:6:11: eventProviders[0].type: eventProvider type 'vcsim' is not "
                         "supported yet");
    CHECK(error_with(&errors, "openfaas") == NULL);
    CHECK(error_with(&errors, "aws_event_bridge") == NULL);
    CHECK(error_with(&errors, "horizon") == NULL);
    dump_errors(&errors);
    config_errors_free(&errors);
}

static void test_many_errors_at_once(void)
{
    config_errors errors = {0};
    const char *path = config_path("invalid-many.yaml");
    config *cfg = config_load(path, &errors);
    CHECK(cfg == NULL);
    CHECK(errors.count == 8);
    static const char *const expected[] = {
        ":1:13: apiVersion: expected 'event-router.vmware.com/v1alpha1', got "
        "'event-router.vmware.com/v1alpha2'",
        ":9:18: eventProvider.webhook.bindAddress: expected host:port, got 'localhost'",
        ":10:11: eventProvider.webhook.path: must start with '/' and must not be '/' alone",
        ":11:5: eventProvider.webhook.colour: unknown key 'colour'",
        ":16:15: eventProcessor.knative.encoding: expected binary or structured, got 'protobuf'",
        ":17:18: eventProcessor.knative.insecureSSL: expected true or false, got 'maybe'",
        ":19:7: eventProcessor.knative.destination: set exactly one of 'uri' and 'ref'",
        ":22:12: delivery.timeout: expected a positive duration",
    };
    for (size_t i = 0; i < sizeof expected / sizeof *expected; i++) {
        char needle[1600];
        snprintf(needle, sizeof needle, "%s%s", path, expected[i]);
        CHECK_ERROR(&errors, needle);
    }
    config_errors_free(&errors);
}

static void test_syntax_and_missing_file(void)
{
    config_errors errors = {0};
    const char *path = config_path("invalid-syntax.yaml");
    CHECK(config_load(path, &errors) == NULL);
    CHECK(errors.count == 1);
    char needle[1400];
    snprintf(needle, sizeof needle,
             "%s:5:14: YAML syntax error: did not find expected ',' or ']' while parsing a flow "
             "sequence (from line 4 col 9)",
             path);
    CHECK_ERROR(&errors, needle);
    config_errors_free(&errors);

    CHECK(config_load(config_path("does-not-exist.yaml"), &errors) == NULL);
    snprintf(needle, sizeof needle, "%s:1:1: cannot open the configuration: No such file",
             config_path("does-not-exist.yaml"));
    CHECK_ERROR(&errors, needle);
    config_errors_free(&errors);

    CHECK(config_parse("e.yaml", "", 0, &errors) == NULL);
    CHECK_ERROR(&errors, "e.yaml:1:1: the configuration is empty");
    config_errors_free(&errors);

    CHECK(config_parse("l.yaml", "- a\n- b\n", 8, &errors) == NULL);
    CHECK_ERROR(&errors, "l.yaml:1:1: the configuration must be a mapping");
    config_errors_free(&errors);

    const char *dup = "kind: RouterConfig\nkind: RouterConfig\n";
    CHECK(config_parse("d.yaml", dup, strlen(dup), &errors) == NULL);
    CHECK_ERROR(&errors, "d.yaml:2:1: duplicate key 'kind'");
    config_errors_free(&errors);

    const char *alias = "metadata: &m {name: x}\nother: *m\n";
    CHECK(config_parse("a.yaml", alias, strlen(alias), &errors) == NULL);
    CHECK_ERROR(&errors, "a.yaml:2:8: YAML aliases are not supported");
    config_errors_free(&errors);

    const char *two = "kind: RouterConfig\n---\nkind: RouterConfig\n";
    CHECK(config_parse("m.yaml", two, strlen(two), &errors) == NULL);
    CHECK_ERROR(&errors, "m.yaml:2:1: only one YAML document");
    config_errors_free(&errors);
}

static void test_header_and_required_sections(void)
{
    config_errors errors = {0};
    const char *text = "kind: Router\nextra: 1\n";
    CHECK(config_parse("h.yaml", text, strlen(text), &errors) == NULL);
    CHECK_ERROR(&errors, "h.yaml:1:1: apiVersion: is required");
    CHECK_ERROR(&errors, "h.yaml:1:7: kind: expected 'RouterConfig', got 'Router'");
    CHECK_ERROR(&errors, "h.yaml:2:1: extra: unknown key 'extra'");
    CHECK_ERROR(&errors, "h.yaml:1:1: metadata: is required");
    CHECK_ERROR(&errors, "h.yaml:1:1: eventProvider: at least one event provider is required");
    CHECK_ERROR(&errors, "h.yaml:1:1: eventProcessor: at least one event processor is required");
    config_errors_free(&errors);

    /* Missing required fields inside sections point at their mapping. */
    CHECK(parse_with("eventProvider:\n"
                     "  type: webhook\n"
                     "  webhook:\n"
                     "    auth: {type: basic_auth, basicAuth: {username: u}}\n"
                     "eventProcessor:\n"
                     "  name: sink\n"
                     "  type: knative\n"
                     "  knative:\n"
                     "    encoding: binary\n"
                     "metricsProvider:\n"
                     "  default: {bindAddress: 0.0.0.0}\n",
                     &errors) == NULL);
    CHECK_ERROR(&errors, "t.yaml:6:3: eventProvider.name: is required");
    CHECK_ERROR(&errors, "t.yaml:8:5: eventProvider.webhook.bindAddress: is required");
    CHECK_ERROR(&errors, "t.yaml:8:5: eventProvider.webhook.path: is required");
    CHECK_ERROR(&errors, "t.yaml:8:41: eventProvider.webhook.auth.basicAuth.password: is required");
    CHECK_ERROR(&errors, "t.yaml:13:5: eventProcessor.knative.destination: is required");
    CHECK_ERROR(&errors, "t.yaml:15:3: metricsProvider.type: is required");
    CHECK_ERROR(&errors, "t.yaml:15:3: metricsProvider.name: is required");
    CHECK_ERROR(&errors, "t.yaml:15:26: metricsProvider.default.bindAddress: expected host:port");
    config_errors_free(&errors);

    /* A type without its settings block, and a block for another type. */
    char body[1024];
    snprintf(body, sizeof body,
             "eventProvider:\n  type: webhook\n  name: hook\n  vcenter: {address: x}\n%s",
             knative_processor);
    CHECK(parse_with(body, &errors) == NULL);
    CHECK_ERROR(&errors, "t.yaml:6:3: eventProvider.webhook: is required");
    CHECK_ERROR(&errors, "t.yaml:8:3: eventProvider.vcenter: does not apply to type 'webhook'");
    config_errors_free(&errors);

    snprintf(body, sizeof body, "eventProvider:\n  type: kafka\n  name: k\n%s", knative_processor);
    CHECK(parse_with(body, &errors) == NULL);
    CHECK_ERROR(&errors, "t.yaml:6:9: eventProvider.type: unknown type 'kafka' (expected one of: "
                         "webhook, vcenter, vcsim, horizon)");
    config_errors_free(&errors);
}

static void test_minimal_valid_and_metrics_absent(void)
{
    config_errors errors = {0};
    char body[1024];
    snprintf(body, sizeof body, "%s%s", webhook_provider, knative_processor);
    config *cfg = parse_with(body, &errors);
    CHECK(cfg != NULL);
    dump_errors(&errors);
    if (cfg) {
        CHECK(!cfg->metrics.enabled);
        CHECK(cfg->metrics.bind_address == NULL);
        CHECK(!cfg->processors[0].knative.structured);
        CHECK_STR(cfg->path, "t.yaml");
    }
    config_free(cfg);

    /* A metricsProvider without its default block binds to loopback. */
    snprintf(body, sizeof body, "%s%smetricsProvider: {type: default, name: m}\n", webhook_provider,
             knative_processor);
    cfg = parse_with(body, &errors);
    CHECK(cfg && cfg->metrics.enabled);
    CHECK_STR(cfg ? cfg->metrics.bind_address : NULL, "127.0.0.1:8082");
    config_free(cfg);
    config_errors_free(&errors);
}

static void test_knative_destination_forms(void)
{
    config_errors errors = {0};
    char body[1024];
    snprintf(body, sizeof body,
             "%seventProcessor:\n  type: knative\n  name: s\n  knative:\n"
             "    destination:\n      uri: {scheme: https, host: 'sink.local:8443', path: in}\n",
             webhook_provider);
    config *cfg = parse_with(body, &errors);
    CHECK_STR(cfg ? cfg->processors[0].knative.uri : NULL, "https://sink.local:8443/in");
    config_free(cfg);

    snprintf(body, sizeof body,
             "%seventProcessor:\n  type: knative\n  name: s\n  knative:\n"
             "    destination:\n      uri: {scheme: ftp, host: h}\n",
             webhook_provider);
    CHECK(parse_with(body, &errors) == NULL);
    CHECK_ERROR(&errors, "t.yaml:16:21: eventProcessor.knative.destination.uri.scheme: expected "
                         "http or https, got 'ftp'");
    config_errors_free(&errors);

    snprintf(body, sizeof body,
             "%seventProcessor:\n  type: knative\n  name: s\n  knative:\n"
             "    destination:\n      uri: sink.local/\n",
             webhook_provider);
    CHECK(parse_with(body, &errors) == NULL);
    CHECK_ERROR(&errors, "t.yaml:16:12: eventProcessor.knative.destination.uri: expected an "
                         "http:// or https:// URL");
    config_errors_free(&errors);

    snprintf(body, sizeof body,
             "%seventProcessor:\n  type: knative\n  name: s\n  knative:\n"
             "    destination: {}\n",
             webhook_provider);
    CHECK(parse_with(body, &errors) == NULL);
    CHECK_ERROR(&errors, "eventProcessor.knative.destination: set exactly one of 'uri' and 'ref'");
    config_errors_free(&errors);

    snprintf(body, sizeof body,
             "%seventProcessor:\n  type: knative\n  name: s\n  knative:\n"
             "    destination:\n      ref: {kind: Broker}\n",
             webhook_provider);
    CHECK(parse_with(body, &errors) == NULL);
    CHECK_ERROR(&errors, "t.yaml:16:12: eventProcessor.knative.destination.ref.apiVersion: is "
                         "required");
    CHECK_ERROR(&errors, "t.yaml:16:12: eventProcessor.knative.destination.ref.name: is required");
    config_errors_free(&errors);
}

static void test_lists_and_unique_names(void)
{
    config_errors errors = {0};
    char body[2048];
    snprintf(body, sizeof body,
             "%seventProviders:\n"
             "  - type: webhook\n"
             "    name: hook\n"
             "    webhook: {bindAddress: ':9000', path: /other}\n"
             "  - just-a-string\n"
             "%s"
             "eventProcessors: {name: not-a-list}\n",
             webhook_provider, knative_processor);
    CHECK(parse_with(body, &errors) == NULL);
    CHECK_ERROR(&errors, "t.yaml:13:11: eventProviders[0].name: duplicate name 'hook' (first used "
                         "at line 7)");
    CHECK_ERROR(&errors, "t.yaml:15:5: eventProviders[1]: expected a mapping");
    CHECK_ERROR(&errors, "t.yaml:22:18: eventProcessors: expected a list, got a mapping");
    config_errors_free(&errors);
}

static void test_scalar_types_and_extensions(void)
{
    config_errors errors = {0};
    char body[2048];
    snprintf(body, sizeof body,
             "%s%s"
             "delivery:\n"
             "  retries: -1\n"
             "  maxInFlight: lots\n"
             "  backoffInitial: 10s\n"
             "  backoffMax: 5s\n"
             "  connectTimeout: 0\n"
             "queue: {capacity: 0}\n"
             "scripts: {}\n"
             "console: [a]\n"
             "deadLetter: {dir: /tmp/dl, keep: 3}\n",
             webhook_provider, knative_processor);
    CHECK(parse_with(body, &errors) == NULL);
    CHECK_ERROR(&errors, "t.yaml:18:12: delivery.retries: expected an integer from 0 to 1000000, "
                         "got '-1'");
    CHECK_ERROR(&errors, "t.yaml:19:16: delivery.maxInFlight: expected an integer from 1");
    CHECK_ERROR(&errors, "t.yaml:21:15: delivery.backoffMax: must not be shorter than "
                         "backoffInitial");
    CHECK_ERROR(&errors, "t.yaml:22:19: delivery.connectTimeout: expected a positive duration");
    CHECK_ERROR(&errors, "t.yaml:23:19: queue.capacity: expected an integer from 1");
    CHECK_ERROR(&errors, "t.yaml:24:10: scripts.dir: is required");
    CHECK_ERROR(&errors, "t.yaml:25:10: console: expected a mapping, got a list");
    CHECK_ERROR(&errors, "t.yaml:26:28: deadLetter.keep: unknown key 'keep'");
    config_errors_free(&errors);

    /* Bare numbers are seconds; sizes accept suffixes. */
    snprintf(body, sizeof body,
             "eventProvider:\n  type: webhook\n  name: h\n"
             "  webhook: {bindAddress: '0.0.0.0:0', path: /w, maxBodySize: 512KiB}\n"
             "%sdelivery: {timeout: 2.5, backoffMax: 1m30s}\n",
             knative_processor);
    config *cfg = parse_with(body, &errors);
    CHECK(cfg != NULL);
    dump_errors(&errors);
    if (cfg) {
        CHECK(cfg->delivery.timeout_seconds == 2.5);
        CHECK(cfg->delivery.backoff_max_seconds == 90);
        CHECK(cfg->providers[0].webhook.max_body_bytes == 512 * 1024);
        /* Intake limits left out: 0, the HTTP server's defaults. */
        CHECK(cfg->providers[0].webhook.max_connections == 0);
        CHECK(cfg->providers[0].webhook.header_timeout_seconds == 0);
    }
    config_free(cfg);
    config_errors_free(&errors);

    /* The webhook's intake limits. */
    snprintf(body, sizeof body,
             "eventProvider:\n  type: webhook\n  name: h\n"
             "  webhook: {bindAddress: '0.0.0.0:0', path: /w, maxConnections: 100,\n"
             "    maxBodySizeInFlight: 16MiB, headerTimeout: 5s, bodyTimeout: 20s,\n"
             "    idleTimeout: 1m}\n%s",
             knative_processor);
    cfg = parse_with(body, &errors);
    CHECK(cfg != NULL);
    dump_errors(&errors);
    if (cfg) {
        const config_webhook *w = &cfg->providers[0].webhook;
        CHECK(w->max_connections == 100);
        CHECK(w->max_body_bytes_in_flight == 16 * 1024 * 1024);
        CHECK(w->header_timeout_seconds == 5);
        CHECK(w->body_timeout_seconds == 20);
        CHECK(w->idle_timeout_seconds == 60);
    }
    config_free(cfg);
    snprintf(body, sizeof body,
             "eventProvider:\n  type: webhook\n  name: h\n"
             "  webhook: {bindAddress: '0.0.0.0:0', path: /w, maxConnections: 0,\n"
             "    headerTimeout: soon, maxBodySize: 2MiB, maxBodySizeInFlight: 1MiB}\n%s",
             knative_processor);
    CHECK(parse_with(body, &errors) == NULL);
    CHECK_ERROR(&errors, "eventProvider.webhook.maxConnections");
    CHECK_ERROR(&errors, "eventProvider.webhook.headerTimeout");
    CHECK_ERROR(&errors, "eventProvider.webhook.maxBodySizeInFlight: must be at least maxBodySize "
                         "(2097152 bytes)");
    config_errors_free(&errors);
}

static void test_scalar_parsers(void)
{
    double seconds = -1;
    CHECK(config_parse_duration("250ms", &seconds) && seconds == 0.25);
    CHECK(config_parse_duration("5s", &seconds) && seconds == 5);
    CHECK(config_parse_duration("1m", &seconds) && seconds == 60);
    CHECK(config_parse_duration("1h30m", &seconds) && seconds == 5400);
    CHECK(config_parse_duration("7", &seconds) && seconds == 7);
    CHECK(!config_parse_duration("5 s", &seconds));
    CHECK(!config_parse_duration("5sec", &seconds));
    CHECK(!config_parse_duration("-5s", &seconds));
    CHECK(!config_parse_duration("", &seconds));
    size_t bytes = 0;
    CHECK(config_parse_size("4MiB", &bytes) && bytes == 4194304);
    CHECK(config_parse_size("1000", &bytes) && bytes == 1000);
    CHECK(config_parse_size("2KiB", &bytes) && bytes == 2048);
    CHECK(!config_parse_size("4 parsecs", &bytes));
    CHECK(config_is_host_port("0.0.0.0:8080"));
    CHECK(config_is_host_port(":8080"));
    CHECK(config_is_host_port("[::1]:8080"));
    CHECK(config_is_host_port("localhost:0"));
    CHECK(!config_is_host_port("localhost"));
    CHECK(!config_is_host_port("::1:8080"));
    CHECK(!config_is_host_port("host:65536"));
    CHECK(!config_is_host_port("host:80a"));
    CHECK(!config_is_host_port("http://host:80"));
    bool flag = false;
    CHECK(config_parse_bool("yes", &flag) && flag);
    CHECK(config_parse_bool("False", &flag) && !flag);
    CHECK(!config_parse_bool("maybe", &flag));
}

static char *write_temp_file(const char *content)
{
    char *path = strdup("/tmp/test_config_secret_XXXXXX");
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd >= 0) {
        CHECK(write(fd, content, strlen(content)) == (ssize_t)strlen(content));
        close(fd);
    }
    return path;
}

static void test_secret_sources(void)
{
    char *file = write_temp_file("s3cret-from-file\r\n");
    setenv("EVENT_ROUTER_TEST_SECRET", "s3cret-from-env", 1);
    unsetenv("EVENT_ROUTER_TEST_UNSET");
    config_errors errors = {0};
    char body[2048];
    snprintf(body, sizeof body,
             "eventProvider:\n  type: webhook\n  name: h\n"
             "  webhook:\n    bindAddress: 127.0.0.1:1\n    path: /w\n"
             "    auth: {type: basic_auth, basicAuth: {username: u, passwordFile: '%s'}}\n"
             "eventProcessor:\n  type: knative\n  name: s\n  knative:\n"
             "    destination: {uri: 'http://127.0.0.1:2/'}\n"
             "    auth: {type: basic_auth, basicAuth: {username: u, password: "
             "'${EVENT_ROUTER_TEST_SECRET}'}}\n",
             file);
    config *cfg = parse_with(body, &errors);
    CHECK(cfg != NULL);
    dump_errors(&errors);
    if (cfg) {
        CHECK_STR(cfg->providers[0].webhook.auth.password, "s3cret-from-file");
        CHECK_STR(cfg->processors[0].knative.auth.password, "s3cret-from-env");
    }
    config_free(cfg);

    /* Every way a secret source can fail is reported at its place. */
    snprintf(
        body, sizeof body,
        "eventProvider:\n  type: webhook\n  name: h\n"
        "  webhook:\n    bindAddress: 127.0.0.1:1\n    path: /w\n"
        "    auth: {type: basic_auth, basicAuth: {username: u, passwordFile: /nonexistent/pw}}\n"
        "eventProcessors:\n"
        "  - {type: knative, name: a, knative: {destination: {uri: 'http://h/'},\n"
        "     auth: {type: basic_auth, basicAuth: {username: u, password: "
        "'${EVENT_ROUTER_TEST_UNSET}'}}}}\n"
        "  - {type: knative, name: b, knative: {destination: {uri: 'http://h/'},\n"
        "     auth: {type: basic_auth, basicAuth: {username: u, password: x, passwordFile: "
        "f}}}}\n");
    CHECK(parse_with(body, &errors) == NULL);
    CHECK_ERROR(&errors, "t.yaml:11:69: eventProvider.webhook.auth.basicAuth.passwordFile: cannot "
                         "read '/nonexistent/pw': No such file or directory");
    CHECK_ERROR(&errors, "t.yaml:14:66: eventProcessors[0].knative.auth.basicAuth.password: "
                         "environment variable 'EVENT_ROUTER_TEST_UNSET' is not set");
    CHECK_ERROR(&errors, "t.yaml:16:69: eventProcessors[1].knative.auth.basicAuth.passwordFile: "
                         "set either 'password' or 'passwordFile', not both");
    config_errors_free(&errors);
    unsetenv("EVENT_ROUTER_TEST_SECRET");
    unlink(file);
    free(file);
}

/* Regression (issue 11): a FIFO as passwordFile hung check-config (open for reading blocks until a
 * writer comes); a directory or a FIFO is refused at its place, naming the field and the type. */
static void test_secret_file_must_be_regular(void)
{
    char fifo[] = "/tmp/test_config_fifo_XXXXXX";
    int fd = mkstemp(fifo);
    CHECK(fd >= 0);
    close(fd);
    unlink(fifo);
    CHECK(mkfifo(fifo, 0600) == 0);
    config_errors errors = {0};
    char body[2048];
    snprintf(body, sizeof body,
             "eventProvider:\n  type: webhook\n  name: h\n"
             "  webhook:\n    bindAddress: 127.0.0.1:1\n    path: /w\n"
             "    auth: {type: basic_auth, basicAuth: {username: u, passwordFile: '%s'}}\n"
             "eventProcessor:\n  type: knative\n  name: s\n  knative:\n"
             "    destination: {uri: 'http://127.0.0.1:2/'}\n"
             "    auth: {type: basic_auth, basicAuth: {username: u, passwordFile: /tmp}}\n",
             fifo);
    CHECK(parse_with(body, &errors) == NULL);
    char want[256];
    snprintf(want, sizeof want,
             "t.yaml:11:69: eventProvider.webhook.auth.basicAuth.passwordFile: '%s' is not a "
             "regular file (it is a FIFO)",
             fifo);
    CHECK_ERROR(&errors, want);
    CHECK_ERROR(&errors, "t.yaml:17:69: eventProcessor.knative.auth.basicAuth.passwordFile: '/tmp' "
                         "is not a regular file (it is a directory)");
    config_errors_free(&errors);
    unlink(fifo);
}

/* Regression (issue 11): a value with a newline split check-config's message over two lines. */
static void test_error_messages_stay_on_one_line(void)
{
    config_errors errors = {0};
    CHECK(parse_with("eventProvider:\n  type: \"web\\nhook\\r\\x01\"\n  name: h\n", &errors) ==
          NULL);
    const char *message = error_with(&errors, "eventProvider.type");
    CHECK_CONTAINS(message, "'web\\nhook\\r\\x01'");
    for (size_t i = 0; i < errors.count; i++)
        CHECK(strpbrk(errors.messages[i], "\r\n\x01") == NULL);
    config_errors_free(&errors);
}

static void test_auth_forms(void)
{
    config_errors errors = {0};
    char body[2048];
    snprintf(body, sizeof body,
             "%s%s"
             "metricsProvider:\n  type: default\n  name: m\n  default:\n"
             "    auth:\n      type: aws_access_key\n"
             "      awsAccessKeyAuth: {accessKey: AKIA, secretKey: abcdef}\n",
             webhook_provider, knative_processor);
    CHECK(parse_with(body, &errors) == NULL);
    CHECK_ERROR(&errors, "t.yaml:22:13: metricsProvider.default.auth.type: auth type "
                         "'aws_access_key' is not accepted here (expected basic_auth)");
    config_errors_free(&errors);

    snprintf(body, sizeof body,
             "%s%s"
             "metricsProvider:\n  type: default\n  name: m\n  default:\n"
             "    auth:\n      type: basic_auth\n"
             "      activeDirectoryAuth: {username: u, password: p}\n",
             webhook_provider, knative_processor);
    CHECK(parse_with(body, &errors) == NULL);
    CHECK_ERROR(&errors, "t.yaml:23:7: metricsProvider.default.auth.activeDirectoryAuth: does not "
                         "apply to auth type 'basic_auth'");
    CHECK_ERROR(&errors, "t.yaml:22:7: metricsProvider.default.auth.basicAuth: is required");
    config_errors_free(&errors);

    snprintf(body, sizeof body,
             "%s%s"
             "metricsProvider:\n  type: default\n  name: m\n  default:\n"
             "    auth: {type: oauth}\n",
             webhook_provider, knative_processor);
    CHECK(parse_with(body, &errors) == NULL);
    CHECK_ERROR(&errors, "t.yaml:21:18: metricsProvider.default.auth.type: unknown auth type "
                         "'oauth'");
    config_errors_free(&errors);

    /* VEBA's horizon provider uses active_directory; domain, username and password are all
     * required (Horizon's login takes a domain; VEBA refuses UPN logins too). */
    snprintf(body, sizeof body,
             "eventProvider:\n  type: horizon\n  name: hz\n  horizon:\n"
             "    address: https://horizon.local\n"
             "    auth:\n      type: active_directory\n"
             "      activeDirectoryAuth: {username: u}\n%s",
             knative_processor);
    CHECK(parse_with(body, &errors) == NULL);
    CHECK_ERROR(&errors, "t.yaml:12:28: eventProvider.horizon.auth.activeDirectoryAuth.password: "
                         "is required (or 'passwordFile')");
    CHECK_ERROR(&errors, "t.yaml:12:28: eventProvider.horizon.auth.activeDirectoryAuth.domain: "
                         "is required");
    CHECK(errors.count == 2);
    config_errors_free(&errors);
}

/* Secrets given inline, from env and from files never show up in any message, masked or not:
 * the validators must not even try to print them. */
static void test_secret_never_in_errors(void)
{
    const char *secrets[] = {"hunter2-inline", "hunter2-env", "hunter2-file", "AKIA-hunter2"};
    char *file = write_temp_file("hunter2-file\n");
    setenv("EVENT_ROUTER_TEST_HUNTER", "hunter2-env", 1);
    config_errors errors = {0};
    char body[3072];
    snprintf(body, sizeof body,
             "eventProvider:\n  type: webhook\n  name: h\n"
             "  webhook:\n    bindAddress: nowhere\n    path: w\n"
             "    auth: {type: basic_auth, basicAuth: {username: u, password: hunter2-inline, "
             "pasword: hunter2-inline}}\n"
             "eventProcessor:\n  type: aws_event_bridge\n  name: eb\n"
             "  awsEventBridge:\n    region: r\n"
             "    auth:\n      type: aws_access_key\n"
             "      awsAccessKeyAuth: {accessKey: AKIA-hunter2, secretKeyFile: '%s', "
             "secretKey: '${EVENT_ROUTER_TEST_HUNTER}'}\n"
             "metricsProvider:\n  type: default\n  name: m\n"
             "  default: {bindAddress: hunter2-inline, auth: {type: basic_auth, basicAuth: "
             "{username: u, password: [hunter2-inline]}}}\n",
             file);
    CHECK(parse_with(body, &errors) == NULL);
    CHECK(errors.count >= 8);
    for (size_t i = 0; i < errors.count; i++) {
        for (size_t s = 0; s < sizeof secrets / sizeof *secrets; s++)
            CHECK(strstr(errors.messages[i], secrets[s]) == NULL);
        CHECK(strstr(errors.messages[i], "*****") == NULL ||
              strstr(errors.messages[i], "bindAddress")); /* only the non-secret field echoes */
    }
    CHECK_ERROR(&errors, "unknown key 'pasword'");
    CHECK_ERROR(&errors, "awsAccessKeyAuth.secretKeyFile: set either 'secretKey' or "
                         "'secretKeyFile', not both");
    CHECK_ERROR(&errors, "metricsProvider.default.auth.basicAuth.password: expected a single "
                         "value, got a list");
    config_errors_free(&errors);
    unsetenv("EVENT_ROUTER_TEST_HUNTER");
    unlink(file);
    free(file);
}

static void test_queue_section(void)
{
    config_errors errors = {0};
    char body[2048];
    snprintf(body, sizeof body, "%s%sdeadLetter: {dir: /var/lib/er/deadletter}\n", webhook_provider,
             knative_processor);
    config *cfg = parse_with(body, &errors);
    CHECK(cfg != NULL);
    if (cfg) {
        /* The defaults: a disk queue beside the dead letters, 64 MiB bounds. */
        CHECK(cfg->queue_type == QUEUE_DISK);
        CHECK_STR(cfg->queue_dir, "/var/lib/er/queue");
        CHECK(cfg->queue_max_bytes == 64u * 1024 * 1024);
        CHECK(cfg->delivery.max_in_flight_bytes == 64u * 1024 * 1024);
        CHECK(cfg->queue_sync_interval_seconds == 0);
        config_free(cfg);
    }
    snprintf(body, sizeof body,
             "%s%squeue: {type: memory, maxBytes: 8MiB, dir: /q, syncInterval: 5ms}\n"
             "delivery: {maxInFlightBytes: 16MiB}\n",
             webhook_provider, knative_processor);
    cfg = parse_with(body, &errors);
    CHECK(cfg != NULL);
    if (cfg) {
        CHECK(cfg->queue_type == QUEUE_MEMORY);
        CHECK_STR(cfg->queue_dir, "/q");
        CHECK(cfg->queue_max_bytes == 8u * 1024 * 1024);
        CHECK(cfg->queue_segment_bytes == 2u * 1024 * 1024); /* a quarter of the bound */
        CHECK(cfg->queue_sync_interval_seconds == 0.005);
        CHECK(cfg->delivery.max_in_flight_bytes == 16u * 1024 * 1024);
        config_free(cfg);
    }
    snprintf(body, sizeof body, "%s%squeue: {type: tape, maxBytes: 1KiB}\n", webhook_provider,
             knative_processor);
    CHECK(parse_with(body, &errors) == NULL);
    CHECK_ERROR(&errors, "t.yaml:17:15: queue.type: expected 'disk' or 'memory', got 'tape'");
    CHECK_ERROR(&errors, "queue.maxBytes: must be at least 1MiB");
    config_errors_free(&errors);
    /* 0 turns the commit pacing off; a negative pace is refused where it is written. */
    snprintf(body, sizeof body, "%s%squeue: {syncInterval: 0ms}\n", webhook_provider,
             knative_processor);
    cfg = parse_with(body, &errors);
    CHECK(cfg != NULL);
    if (cfg) {
        CHECK(cfg->queue_sync_interval_seconds == 0);
        config_free(cfg);
    }
    snprintf(body, sizeof body, "%s%squeue: {syncInterval: -1ms}\n", webhook_provider,
             knative_processor);
    CHECK(parse_with(body, &errors) == NULL);
    CHECK_ERROR(&errors, "t.yaml:17:23: queue.syncInterval: expected a duration such as 0, 2ms "
                         "or 1s (0 or more), got '-1ms'");
    config_errors_free(&errors);
}

int main(void)
{
    const char *source_dir = getenv("EVENT_ROUTER_SOURCE_DIR");
    snprintf(configs_dir, sizeof configs_dir, "%s/tests/configs", source_dir ? source_dir : ".");
    RUN_TEST(test_veba_webhook_knative);
    RUN_TEST(test_knative_ref_broker);
    RUN_TEST(test_multi_with_extensions);
    RUN_TEST(test_vcenter_provider);
    RUN_TEST(test_horizon_provider);
    RUN_TEST(test_other_types_not_supported);
    RUN_TEST(test_many_errors_at_once);
    RUN_TEST(test_syntax_and_missing_file);
    RUN_TEST(test_header_and_required_sections);
    RUN_TEST(test_minimal_valid_and_metrics_absent);
    RUN_TEST(test_knative_destination_forms);
    RUN_TEST(test_lists_and_unique_names);
    RUN_TEST(test_scalar_types_and_extensions);
    RUN_TEST(test_scalar_parsers);
    RUN_TEST(test_secret_sources);
    RUN_TEST(test_secret_file_must_be_regular);
    RUN_TEST(test_error_messages_stay_on_one_line);
    RUN_TEST(test_auth_forms);
    RUN_TEST(test_secret_never_in_errors);
    log_forget_secrets();
    RUN_TEST(test_queue_section);
    return CHECK_DONE();
}
