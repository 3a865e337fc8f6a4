/* The Lease JSON, the election's decisions with an injected clock (engine/ha/lease.c), the
 * ConfigMap checkpoint JSON and the leaderElection/checkpointStore config. */
#include "check.h"

#include "config/config.h"
#include "ha/lease.h"
#include "sources/vcenter/checkpoint_store.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static const char lease_json[] =
    "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\",\"metadata\":{\"name\":\"er\","
    "\"namespace\":\"ns\",\"resourceVersion\":\"1234\",\"labels\":{\"app\":\"er\"}},\"spec\":{"
    "\"holderIdentity\":\"pod-a\",\"leaseDurationSeconds\":15,\"acquireTime\":"
    "\"2026-12-01T22:00:00.000000Z\",\"renewTime\":\"2026-12-01T22:00:10.500000Z\","
    "\"leaseTransitions\":3,\"preferredHolder\":\"x\"}}";

static void test_parse_and_render_lease(void)
{
    lease_record r;
    char rv[64], err[256];
    CHECK(lease_parse(lease_json, strlen(lease_json), &r, rv, sizeof rv, err, sizeof err) == 0);
    CHECK_STR(r.holder, "pod-a");
    CHECK(r.lease_duration_seconds == 15);
    CHECK(r.transitions == 3);
    CHECK_STR(r.renew_time, "2026-12-01T22:00:10.500000Z");
    CHECK_STR(rv, "1234");

    /* An update keeps what we do not know (labels, preferredHolder) and carries the version. */
    lease_record next = r;
    snprintf(next.holder, sizeof next.holder, "pod-b");
    char *body = lease_render_update(lease_json, strlen(lease_json), "1234", &next);
    cJSON *json = cJSON_Parse(body);
    CHECK_STR(cJSON_GetStringValue(
                  cJSON_GetObjectItem(cJSON_GetObjectItem(json, "metadata"), "resourceVersion")),
              "1234");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(
                  cJSON_GetObjectItem(cJSON_GetObjectItem(json, "metadata"), "labels"), "app")),
              "er");
    cJSON *spec = cJSON_GetObjectItem(json, "spec");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(spec, "holderIdentity")), "pod-b");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(spec, "preferredHolder")), "x");
    cJSON_Delete(json);
    free(body);

    body = lease_render_new("er", "ns", &r);
    json = cJSON_Parse(body);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(json, "kind")), "Lease");
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(json, "apiVersion")),
              "coordination.k8s.io/v1");
    CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(json, "metadata"), "resourceVersion") == NULL);
    cJSON_Delete(json);
    free(body);
}

static void test_parse_refuses_what_is_not_a_lease(void)
{
    lease_record r;
    char rv[64], err[256];
    const char *bad[] = {
        "[]",
        "{\"kind\":\"ConfigMap\",\"metadata\":{\"resourceVersion\":\"1\"}}",
        "{\"kind\":\"Lease\",\"metadata\":{}}",
        "{\"kind\":\"Lease\",\"metadata\":{\"resourceVersion\":\"1\"},\"spec\":{"
        "\"holderIdentity\":7}}",
        "{\"kind\":\"Lease\",\"metadata\":{\"resourceVersion\":\"1\"},\"spec\":{"
        "\"leaseDurationSeconds\":1.5}}",
        "{\"kind\":\"Lease\",\"metadata\":{\"resourceVersion\":\"1\"},\"spec\":{"
        "\"leaseTransitions\":1e12}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK(lease_parse(bad[i], strlen(bad[i]), &r, rv, sizeof rv, err, sizeof err) == -1);
    /* A Lease created by hand with no spec at all is free. */
    const char *bare = "{\"kind\":\"Lease\",\"metadata\":{\"resourceVersion\":\"9\"}}";
    CHECK(lease_parse(bare, strlen(bare), &r, rv, sizeof rv, err, sizeof err) == 0);
    CHECK_STR(r.holder, "");
}

static lease_record held_by(const char *holder, int seconds, const char *renew, int transitions)
{
    lease_record r = {0};
    snprintf(r.holder, sizeof r.holder, "%s", holder);
    r.lease_duration_seconds = seconds;
    snprintf(r.renew_time, sizeof r.renew_time, "%s", renew);
    snprintf(r.acquire_time, sizeof r.acquire_time, "t0");
    r.transitions = transitions;
    return r;
}

static void test_expiry_is_judged_from_the_local_observation(void)
{
    election_view view = {0};
    lease_record a = held_by("a", 3, "r1", 0);
    election_observe(&view, &a, 100.0);
    CHECK(election_held_by_other(&view, "b", 102.9));
    CHECK(!election_held_by_other(&view, "b", 103.0)); /* expired: 3 s without a change */
    CHECK(!election_held_by_other(&view, "a", 101.0)); /* it is ours */
    /* The same record seen again does not move the observation... */
    election_observe(&view, &a, 102.0);
    CHECK(view.observed_time == 100.0);
    /* ...a renewal does, whatever its renewTime says about the other host's clock. */
    lease_record renewed = held_by("a", 3, "1999-01-01T00:00:00.000000Z", 0);
    election_observe(&view, &renewed, 102.5);
    CHECK(election_held_by_other(&view, "b", 105.0));
    CHECK(!election_held_by_other(&view, "b", 105.5));
    /* Released (holder "") is free at once. */
    lease_record released = election_release_record(&view, "now");
    CHECK_STR(released.holder, "");
    CHECK(released.lease_duration_seconds == 1);
    CHECK(released.transitions == 0);
    election_observe(&view, &released, 106.0);
    CHECK(!election_held_by_other(&view, "b", 106.0));
}

static void test_next_record_keeps_or_counts_transitions(void)
{
    election_view view = {0};
    lease_record created = election_next_record(&view, "a", 15, "T1");
    CHECK(created.transitions == 0);
    CHECK_STR(created.acquire_time, "T1");
    lease_record a = held_by("a", 15, "T1", 4);
    election_observe(&view, &a, 0);
    lease_record renew = election_next_record(&view, "a", 15, "T2");
    CHECK(renew.transitions == 4);
    CHECK_STR(renew.acquire_time, "t0"); /* kept */
    CHECK_STR(renew.renew_time, "T2");
    lease_record takeover = election_next_record(&view, "b", 15, "T3");
    CHECK(takeover.transitions == 5);
    CHECK_STR(takeover.acquire_time, "T3");
    CHECK_STR(takeover.holder, "b");
}

static void test_step_down_before_anyone_sees_expiry(void)
{
    /* Leader renews at 10.0 (its clock); another replica saw that record at 10.0 at the earliest:
     * the leader stops at 10 + renewDeadline, the other may take over at 10 + leaseDuration. */
    CHECK(!election_must_step_down(10.0, 2.0, 11.99));
    CHECK(election_must_step_down(10.0, 2.0, 12.0));
    election_view view = {0};
    lease_record a = held_by("a", 3, "r", 0);
    election_observe(&view, &a, 10.0);
    CHECK(election_held_by_other(&view, "b", 12.99));
    /* A leader renews every retryPeriod; a standby waits a little longer, or wakes at expiry. */
    CHECK(election_next_try_delay(true, &view, 0.5, 0.9, 10.0) == 0.5);
    double d = election_next_try_delay(false, &view, 0.5, 0.5, 10.0);
    CHECK(d >= 0.5 && d <= 0.6);
    d = election_next_try_delay(false, &view, 0.5, 0.99, 12.8);
    CHECK(d > 0.2 && d < 0.22); /* expiry at 13.0 + margin */
}

static void test_micro_time(void)
{
    char text[40];
    lease_format_micro_time(1764627323.25, text, sizeof text);
    CHECK_STR(text, "2025-12-01T22:15:23.250000Z");
}

static void test_configmap_checkpoint_json(void)
{
    checkpoint_record in = {0};
    snprintf(in.vcenter, sizeof in.vcenter, "vc.example.com");
    snprintf(in.last_event_uuid, sizeof in.last_event_uuid, "uuid-1");
    in.last_event_key = 4242;
    snprintf(in.last_event_type, sizeof in.last_event_type, "VmPoweredOnEvent");
    snprintf(in.last_event_key_timestamp, sizeof in.last_event_key_timestamp,
             "2026-12-01T22:00:00.000000001Z");
    char *body = checkpoint_configmap_render(NULL, 0, "cp", "ns", NULL, &in);
    cJSON *json = cJSON_Parse(body);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(json, "kind")), "ConfigMap");
    const char *stored =
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(json, "data"), "checkpoint"));
    CHECK_CONTAINS(stored, "\"lastEventKey\":4242");
    CHECK_CONTAINS(stored, "\"vCenter\":\"vc.example.com\"");
    /* As the API returns it: with a resourceVersion. */
    cJSON_AddStringToObject(cJSON_GetObjectItem(json, "metadata"), "resourceVersion", "77");
    cJSON_AddStringToObject(cJSON_GetObjectItem(json, "data"), "other", "kept");
    char *answer = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);
    free(body);
    checkpoint_record out;
    char rv[64], err[256];
    CHECK(checkpoint_configmap_parse(answer, strlen(answer), "ConfigMap ns/cp", &out, rv, sizeof rv,
                                     err, sizeof err) == 1);
    CHECK(out.last_event_key == 4242);
    CHECK_STR(out.last_event_uuid, "uuid-1");
    CHECK_STR(rv, "77");
    /* A PUT keeps the other keys and carries the version. */
    body = checkpoint_configmap_render(answer, strlen(answer), "cp", "ns", "77", &in);
    CHECK_CONTAINS(body, "\"other\":\"kept\"");
    CHECK_CONTAINS(body, "\"resourceVersion\":\"77\"");
    free(body);
    free(answer);

    const char *empty = "{\"kind\":\"ConfigMap\",\"metadata\":{\"resourceVersion\":\"1\"}}";
    CHECK(checkpoint_configmap_parse(empty, strlen(empty), "w", &out, rv, sizeof rv, err,
                                     sizeof err) == 0);
    const char *bad = "{\"kind\":\"ConfigMap\",\"metadata\":{\"resourceVersion\":\"1\"},"
                      "\"data\":{\"checkpoint\":\"{\\\"lastEventKey\\\":\\\"x\\\"}\"}}";
    CHECK(checkpoint_configmap_parse(bad, strlen(bad), "ConfigMap ns/cp", &out, rv, sizeof rv, err,
                                     sizeof err) == -1);
    CHECK_CONTAINS(err, "ConfigMap ns/cp");
}

/* Fuzz finding (fuzz_k8s_objects): an answer with a repeated key kept the old copy first, so the
 * resourceVersion written was not the one read back. Every copy is replaced now. */
static void test_repeated_keys_do_not_shadow_what_is_written(void)
{
    const char *cm = "{\"kind\":\"ConfigMap\",\"metadata\":{\"resourceVersion\":\"1\","
                     "\"resourceVersion\":\"2\"},\"data\":{}}";
    checkpoint_record in = {.last_event_key = 5};
    char *body = checkpoint_configmap_render(cm, strlen(cm), "cp", "ns", "77", &in);
    checkpoint_record out;
    char rv[64], err[256];
    CHECK(checkpoint_configmap_parse(body, strlen(body), "w", &out, rv, sizeof rv, err,
                                     sizeof err) == 1);
    CHECK_STR(rv, "77");
    free(body);
    const char *lease = "{\"kind\":\"Lease\",\"metadata\":{\"resourceVersion\":\"1\","
                        "\"resourceVersion\":\"2\"},\"spec\":{\"holderIdentity\":\"a\","
                        "\"holderIdentity\":\"b\"}}";
    lease_record record = {.lease_duration_seconds = 3};
    snprintf(record.holder, sizeof record.holder, "me");
    body = lease_render_update(lease, strlen(lease), "78", &record);
    lease_record back;
    CHECK(lease_parse(body, strlen(body), &back, rv, sizeof rv, err, sizeof err) == 0);
    CHECK_STR(rv, "78");
    CHECK_STR(back.holder, "me");
    free(body);
}

static const char base_config[] = "apiVersion: event-router.vmware.com/v1alpha1\n"
                                  "kind: RouterConfig\n"
                                  "metadata: {name: t}\n"
                                  "eventProvider:\n"
                                  "  type: webhook\n"
                                  "  name: hook\n"
                                  "  webhook: {bindAddress: 127.0.0.1:8080, path: /webhook}\n"
                                  "eventProcessor:\n"
                                  "  type: knative\n"
                                  "  name: sink\n"
                                  "  knative: {destination: {uri: http://127.0.0.1:9090/}}\n";

static config *parse_ha(const char *extra, config_errors *errors)
{
    char text[4096];
    snprintf(text, sizeof text, "%s%s", base_config, extra);
    return config_parse("ha.yaml", text, strlen(text), errors);
}

static bool has_error(const config_errors *errors, const char *text)
{
    for (size_t i = 0; i < errors->count; i++)
        if (strstr(errors->messages[i], text))
            return true;
    return false;
}

static void test_config(void)
{
    config_errors errors = {0};
    setenv("POD_NAME", "router-7f9c", 1);
    config *cfg = parse_ha("leaderElection: {leaseName: event-router}\n"
                           "checkpointStore: {type: configmap, name: er-checkpoint}\n",
                           &errors);
    CHECK(cfg != NULL);
    if (cfg) {
        CHECK(cfg->leader_election.enabled);
        CHECK_STR(cfg->leader_election.identity, "router-7f9c");
        CHECK(cfg->leader_election.lease_duration_seconds == 15);
        CHECK(cfg->leader_election.renew_deadline_seconds == 10);
        CHECK(cfg->leader_election.retry_period_seconds == 2);
        CHECK(cfg->leader_election.lease_namespace == NULL);
        CHECK(cfg->checkpoint_store.type == CHECKPOINT_STORE_CONFIGMAP);
        CHECK_STR(cfg->checkpoint_store.name, "er-checkpoint");
    }
    config_free(cfg);
    cfg = parse_ha("", &errors);
    CHECK(cfg && !cfg->leader_election.enabled &&
          cfg->checkpoint_store.type == CHECKPOINT_STORE_FILE);
    config_free(cfg);

    CHECK(parse_ha("leaderElection: {leaseName: er, leaseDuration: 10s, renewDeadline: 10s}\n",
                   &errors) == NULL);
    CHECK(has_error(&errors, "ha.yaml:12:68: leaderElection.renewDeadline: must be shorter than "
                             "leaseDuration"));
    config_errors_free(&errors);
    CHECK(parse_ha("leaderElection: {leaseName: er, renewDeadline: 2s}\n", &errors) == NULL);
    CHECK(has_error(&errors, "leaderElection.retryPeriod: must be shorter than renewDeadline"));
    config_errors_free(&errors);
    CHECK(parse_ha("leaderElection: {leaseName: er, leaseDuration: 2500ms, renewDeadline: 1s, "
                   "retryPeriod: 200ms}\n",
                   &errors) == NULL);
    CHECK(has_error(&errors, "leaderElection.leaseDuration: must be a whole number of seconds"));
    config_errors_free(&errors);
    CHECK(parse_ha("leaderElection: {leaseName: Not_A_Name}\n", &errors) == NULL);
    CHECK(has_error(&errors, "leaderElection.leaseName: must be a Kubernetes name"));
    config_errors_free(&errors);
    CHECK(parse_ha("leaderElection: {}\n", &errors) == NULL);
    CHECK(has_error(&errors, "leaderElection.leaseName"));
    config_errors_free(&errors);
    CHECK(parse_ha("checkpointStore: {type: configmap}\n", &errors) == NULL);
    CHECK(has_error(&errors, "checkpointStore.name"));
    config_errors_free(&errors);
    CHECK(parse_ha("checkpointStore: {type: etcd, name: x}\n", &errors) == NULL);
    CHECK(has_error(&errors, "expected 'file' or 'configmap'"));
    config_errors_free(&errors);
}

int main(void)
{
    RUN_TEST(test_parse_and_render_lease);
    RUN_TEST(test_parse_refuses_what_is_not_a_lease);
    RUN_TEST(test_expiry_is_judged_from_the_local_observation);
    RUN_TEST(test_next_record_keeps_or_counts_transitions);
    RUN_TEST(test_step_down_before_anyone_sees_expiry);
    RUN_TEST(test_micro_time);
    RUN_TEST(test_configmap_checkpoint_json);
    RUN_TEST(test_repeated_keys_do_not_shadow_what_is_written);
    RUN_TEST(test_config);
    return CHECK_DONE();
}
