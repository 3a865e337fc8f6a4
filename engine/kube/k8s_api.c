/* Service-account credentials and JSON requests to the Kubernetes API. See k8s_api.h. */
#include "kube/k8s_api.h"

#include "log.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads a small file whole, trimmed of trailing whitespace. NULL when it cannot be read. */
static char *read_small_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *text = calloc(1, 16384 + 1);
    size_t len = text ? fread(text, 1, 16384, f) : 0;
    fclose(f);
    if (!text)
        return NULL;
    while (len > 0 && isspace((unsigned char)text[len - 1]))
        len--;
    text[len] = '\0';
    return text;
}

static char *join_path(const char *dir, const char *file)
{
    size_t len = strlen(dir) + strlen(file) + 2;
    char *path = malloc(len);
    if (path)
        snprintf(path, len, "%s/%s", dir, file);
    return path;
}

int k8s_api_load(k8s_api *api, char *err, size_t err_cap)
{
    memset(api, 0, sizeof *api);
    const char *dir = getenv("EVENT_ROUTER_K8S_SERVICEACCOUNT_DIR");
    if (!dir || !*dir)
        dir = K8S_SERVICEACCOUNT_DIR;
    char *token_path = join_path(dir, "token");
    char *ca_path = join_path(dir, "ca.crt");
    char *namespace_path = join_path(dir, "namespace");
    int rc = -1;
    if (!token_path || !ca_path || !namespace_path) {
        snprintf(err, err_cap, "out of memory");
        goto out;
    }
    api->token = read_small_file(token_path);
    if (!api->token || !*api->token) {
        snprintf(err, err_cap, "no service-account token was found at %s", token_path);
        goto out;
    }
    log_register_secret(api->token); /* a bearer token never reaches a log line */
    const char *override = getenv("EVENT_ROUTER_K8S_API_URL");
    if (override && *override) {
        api->base_url = strdup(override);
    } else {
        const char *host = getenv("KUBERNETES_SERVICE_HOST");
        const char *port = getenv("KUBERNETES_SERVICE_PORT");
        if (!host || !*host) {
            snprintf(err, err_cap,
                     "KUBERNETES_SERVICE_HOST is not set although a service-account token is at %s",
                     token_path);
            goto out;
        }
        size_t len = strlen(host) + 32;
        api->base_url = malloc(len);
        if (api->base_url) /* an IPv6 service address needs brackets in a URL */
            snprintf(api->base_url, len, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s",
                     host, port && *port ? port : "443");
    }
    if (!api->base_url) {
        snprintf(err, err_cap, "out of memory");
        goto out;
    }
    size_t len = strlen(api->base_url);
    while (len > 0 && api->base_url[len - 1] == '/')
        api->base_url[--len] = '\0';
    FILE *ca = fopen(ca_path, "r");
    if (ca) {
        fclose(ca);
        api->ca_file = ca_path;
        ca_path = NULL;
    }
    api->namespace_ = read_small_file(namespace_path);
    rc = 0;
out:
    if (rc != 0)
        k8s_api_free(api);
    free(token_path);
    free(ca_path);
    free(namespace_path);
    return rc;
}

void k8s_api_free(k8s_api *api)
{
    if (!api)
        return;
    if (api->token) {
        memset(api->token, 0, strlen(api->token));
        free(api->token);
    }
    free(api->base_url);
    free(api->ca_file);
    free(api->namespace_);
    memset(api, 0, sizeof *api);
}

int k8s_api_send(http_client *http, const k8s_api *api, const char *method, const char *path,
                 const char *json_body, long timeout_ms, http_client_done_fn done, void *user)
{
    char url[1024];
    int n = snprintf(url, sizeof url, "%s%s", api->base_url, path);
    if (n < 0 || (size_t)n >= sizeof url)
        return -1;
    http_header headers[] = {{"Accept", "application/json"}, {"Content-Type", "application/json"}};
    http_client_request request = {.method = method,
                                   .url = url,
                                   .headers = headers,
                                   .header_count = json_body ? 2 : 1,
                                   .body = json_body,
                                   .body_len = json_body ? strlen(json_body) : 0,
                                   .timeout_ms = timeout_ms,
                                   .connect_timeout_ms = timeout_ms,
                                   .ca_file = api->ca_file,
                                   .bearer_token = api->token};
    return http_client_send(http, &request, done, user);
}

void k8s_api_describe_failure(const http_client_response *response, char *out, size_t cap)
{
    if (response->error) {
        format_message(out, cap, "%s", response->error);
        return;
    }
    cJSON *status = cJSON_ParseWithLength(response->body, response->body_len);
    const cJSON *message = cJSON_GetObjectItemCaseSensitive(status, "message");
    bool has_message = cJSON_IsString(message) && message->valuestring[0];
    format_message(out, cap, "HTTP %ld%s%.300s", response->status, has_message ? ": " : "",
                   has_message ? message->valuestring : "");
    cJSON_Delete(status);
}
