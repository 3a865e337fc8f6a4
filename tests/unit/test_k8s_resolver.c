/* Kubernetes reference resolution: API paths, URLs picked from objects as the API returns them,
 * and in-cluster credential discovery. (The asynchronous GET is exercised in test_knative.) */
#include "check.h"
#include "processors/k8s_resolver.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static config_k8s_ref ref(const char *api_version, const char *kind, const char *ns,
                          const char *name)
{
    return (config_k8s_ref){(char *)api_version, (char *)kind, (char *)name, (char *)ns};
}

static void test_api_paths(void)
{
    char path[256], err[256];
    config_k8s_ref broker = ref("eventing.knative.dev/v1", "Broker", "default", "rabbit");
    CHECK(k8s_ref_api_path(&broker, path, sizeof path, err, sizeof err) == 0);
    CHECK_STR(path, "/apis/eventing.knative.dev/v1/namespaces/default/brokers/rabbit");

    config_k8s_ref ksvc = ref("serving.knative.dev/v1", "Service", "prod", "hello");
    CHECK(k8s_ref_api_path(&ksvc, path, sizeof path, err, sizeof err) == 0);
    CHECK_STR(path, "/apis/serving.knative.dev/v1/namespaces/prod/services/hello");

    config_k8s_ref svc = ref("v1", "Service", NULL, "web");
    CHECK(k8s_ref_api_path(&svc, path, sizeof path, err, sizeof err) == 0);
    CHECK_STR(path, "/api/v1/namespaces/default/services/web");

    config_k8s_ref pod = ref("v1", "Pod", "default", "p");
    CHECK(k8s_ref_api_path(&pod, path, sizeof path, err, sizeof err) == -1);
    CHECK_CONTAINS(err, "v1 Pod");

    config_k8s_ref nameless = ref("v1", "Service", "default", "");
    CHECK(k8s_ref_api_path(&nameless, path, sizeof path, err, sizeof err) == -1);
}

static const char broker_json[] =
    "{\"apiVersion\":\"eventing.knative.dev/v1\",\"kind\":\"Broker\",\"metadata\":{\"name\":"
    "\"rabbit\",\"namespace\":\"default\",\"generation\":1},\"spec\":{\"config\":{\"apiVersion\":"
    "\"v1\",\"kind\":\"ConfigMap\",\"name\":\"config-br-default-channel\",\"namespace\":"
    "\"knative-eventing\"}},\"status\":{\"address\":{\"name\":\"http\",\"url\":\"http://"
    "broker-ingress.knative-eventing.svc.cluster.local/default/rabbit\"},\"conditions\":[{"
    "\"status\":\"True\",\"type\":\"Ready\"}],\"observedGeneration\":1}}";

static const char broker_not_ready_json[] =
    "{\"apiVersion\":\"eventing.knative.dev/v1\",\"kind\":\"Broker\",\"metadata\":{\"name\":"
    "\"rabbit\",\"namespace\":\"default\"},\"spec\":{},\"status\":{\"conditions\":[{\"status\":"
    "\"Unknown\",\"type\":\"Ready\",\"reason\":\"BrokerClassNotFound\"}]}}";

static const char ksvc_url_only_json[] =
    "{\"apiVersion\":\"serving.knative.dev/v1\",\"kind\":\"Service\",\"metadata\":{\"name\":"
    "\"hello\",\"namespace\":\"prod\"},\"status\":{\"url\":\"http://hello.prod.example.com\"}}";

static const char service_json[] =
    "{\"kind\":\"Service\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"web\",\"namespace\":"
    "\"prod\"},\"spec\":{\"ports\":[{\"name\":\"http\",\"protocol\":\"TCP\",\"port\":8080,"
    "\"targetPort\":8080}],\"selector\":{\"app\":\"web\"},\"clusterIP\":\"10.96.12.7\",\"type\":"
    "\"ClusterIP\"},\"status\":{\"loadBalancer\":{}}}";

static const char service_port_80_json[] =
    "{\"kind\":\"Service\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"web\",\"namespace\":"
    "\"prod\"},\"spec\":{\"ports\":[{\"protocol\":\"TCP\",\"port\":80,\"targetPort\":8080}]}}";

static void test_urls_from_objects(void)
{
    char url[256], err[256];
    config_k8s_ref broker = ref("eventing.knative.dev/v1", "Broker", "default", "rabbit");
    CHECK(k8s_ref_url_from_object(&broker, broker_json, strlen(broker_json), url, sizeof url, err,
                                  sizeof err) == 0);
    CHECK_STR(url, "http://broker-ingress.knative-eventing.svc.cluster.local/default/rabbit");

    CHECK(k8s_ref_url_from_object(&broker, broker_not_ready_json, strlen(broker_not_ready_json),
                                  url, sizeof url, err, sizeof err) == -1);
    CHECK_CONTAINS(err, "Broker default/rabbit has no status.address.url");

    config_k8s_ref ksvc = ref("serving.knative.dev/v1", "Service", "prod", "hello");
    CHECK(k8s_ref_url_from_object(&ksvc, ksvc_url_only_json, strlen(ksvc_url_only_json), url,
                                  sizeof url, err, sizeof err) == 0);
    CHECK_STR(url, "http://hello.prod.example.com");

    config_k8s_ref svc = ref("v1", "Service", "prod", "web");
    CHECK(k8s_ref_url_from_object(&svc, service_json, strlen(service_json), url, sizeof url, err,
                                  sizeof err) == 0);
    CHECK_STR(url, "http://web.prod.svc.cluster.local:8080");
    CHECK(k8s_ref_url_from_object(&svc, service_port_80_json, strlen(service_port_80_json), url,
                                  sizeof url, err, sizeof err) == 0);
    CHECK_STR(url, "http://web.prod.svc.cluster.local");

    CHECK(k8s_ref_url_from_object(&broker, "<html>", 6, url, sizeof url, err, sizeof err) == -1);
}

static char sa_dir[64];

static void write_file(const char *name, const char *text)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", sa_dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void remove_file(const char *name)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", sa_dir, name);
    unlink(path);
}

static void test_api_load(void)
{
    k8s_api api;
    char err[256];
    setenv("EVENT_ROUTER_K8S_SERVICEACCOUNT_DIR", sa_dir, 1);
    unsetenv("EVENT_ROUTER_K8S_API_URL");
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");

    CHECK(k8s_api_load(&api, err, sizeof err) == -1);
    char expected[160];
    snprintf(expected, sizeof expected, "no service-account token was found at %s/token", sa_dir);
    CHECK_STR(err, expected);

    write_file("token", "abc.def.ghi\n");
    CHECK(k8s_api_load(&api, err, sizeof err) == -1);
    CHECK_CONTAINS(err, "KUBERNETES_SERVICE_HOST is not set");
    CHECK(!strstr(err, "abc.def"));

    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
    write_file("ca.crt", "-----BEGIN CERTIFICATE-----\n");
    write_file("namespace", "event-router\n");
    CHECK(k8s_api_load(&api, err, sizeof err) == 0);
    CHECK_STR(api.base_url, "https://10.96.0.1:6443");
    CHECK_STR(api.token, "abc.def.ghi");
    CHECK_CONTAINS(api.ca_file, "/ca.crt");
    CHECK_STR(api.namespace_, "event-router");
    k8s_api_free(&api);

    setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
    unsetenv("KUBERNETES_SERVICE_PORT");
    remove_file("ca.crt");
    CHECK(k8s_api_load(&api, err, sizeof err) == 0);
    CHECK_STR(api.base_url, "https://[fd00::1]:443");
    CHECK(api.ca_file == NULL);
    k8s_api_free(&api);

    setenv("EVENT_ROUTER_K8S_API_URL", "http://127.0.0.1:1234/", 1);
    CHECK(k8s_api_load(&api, err, sizeof err) == 0);
    CHECK_STR(api.base_url, "http://127.0.0.1:1234");
    k8s_api_free(&api);

    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("EVENT_ROUTER_K8S_API_URL");
    remove_file("token");
    remove_file("namespace");
}

int main(void)
{
    snprintf(sa_dir, sizeof sa_dir, "/tmp/k8s-sa-XXXXXX");
    if (!mkdtemp(sa_dir))
        return 1;
    RUN_TEST(test_api_paths);
    RUN_TEST(test_urls_from_objects);
    RUN_TEST(test_api_load);
    rmdir(sa_dir);
    return CHECK_DONE();
}
