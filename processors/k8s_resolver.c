/* Kubernetes object reference -> destination URL, over the Kubernetes API. */
#include "processors/k8s_resolver.h"

#include "log.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *ref_namespace(const config_k8s_ref *ref)
{
    return ref->namespace_ && *ref->namespace_ ? ref->namespace_ : "default";
}

static bool is_core_service(const config_k8s_ref *ref)
{
    return strcmp(ref->api_version, "v1") == 0 && strcasecmp(ref->kind, "Service") == 0;
}

int k8s_ref_api_path(const config_k8s_ref *ref, char *out, size_t out_cap, char *err,
                     size_t err_cap)
{
    if (!ref->api_version || !ref->kind || !ref->name || !*ref->name) {
        snprintf(err, err_cap, "ref needs apiVersion, kind and name");
        return -1;
    }
    int n;
    if (is_core_service(ref)) {
        n = snprintf(out, out_cap, "/api/v1/namespaces/%s/services/%s", ref_namespace(ref),
                     ref->name);
    } else if (strchr(ref->api_version, '/')) {
        /* Any Addressable (Broker, Knative Service, Channel...): the resource is the lower-case
         * plural of the kind, which for these kinds is the kind plus "s". */
        char resource[64];
        size_t len = strlen(ref->kind);
        if (len + 2 > sizeof resource) {
            snprintf(err, err_cap, "kind %s is too long", ref->kind);
            return -1;
        }
        for (size_t i = 0; i < len; i++)
            resource[i] = (char)tolower((unsigned char)ref->kind[i]);
        resource[len] = 's';
        resource[len + 1] = '\0';
        n = snprintf(out, out_cap, "/apis/%s/namespaces/%s/%s/%s", ref->api_version,
                     ref_namespace(ref), resource, ref->name);
    } else {
        snprintf(err, err_cap, "cannot resolve a ref to %s %s", ref->api_version, ref->kind);
        return -1;
    }
    if (n < 0 || (size_t)n >= out_cap) {
        snprintf(err, err_cap, "ref is too long");
        return -1;
    }
    return 0;
}

static const char *string_at(const cJSON *object, const char *a, const char *b, const char *c)
{
    const cJSON *node = cJSON_GetObjectItemCaseSensitive(object, a);
    if (b)
        node = cJSON_GetObjectItemCaseSensitive(node, b);
    if (c)
        node = cJSON_GetObjectItemCaseSensitive(node, c);
    return cJSON_IsString(node) && *node->valuestring ? node->valuestring : NULL;
}

int k8s_ref_url_from_object(const config_k8s_ref *ref, const char *json, size_t json_len, char *url,
                            size_t url_cap, char *err, size_t err_cap)
{
    cJSON *object = cJSON_ParseWithLength(json, json_len);
    if (!cJSON_IsObject(object)) {
        cJSON_Delete(object);
        snprintf(err, err_cap, "the Kubernetes API answered something that is not a JSON object");
        return -1;
    }
    int rc = 0;
    if (is_core_service(ref)) {
        const cJSON *ports = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(object, "spec"), "ports");
        const cJSON *port = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(ports, 0), "port");
        int number = cJSON_IsNumber(port) ? port->valueint : 80;
        if (number == 80)
            snprintf(url, url_cap, "http://%s.%s.svc.cluster.local", ref->name, ref_namespace(ref));
        else
            snprintf(url, url_cap, "http://%s.%s.svc.cluster.local:%d", ref->name,
                     ref_namespace(ref), number);
    } else {
        const char *found = string_at(object, "status", "address", "url");
        if (!found)
            found = string_at(object, "status", "url", NULL);
        if (found && strlen(found) < url_cap) {
            snprintf(url, url_cap, "%s", found);
        } else {
            snprintf(err, err_cap, "%s %s/%s has no status.address.url yet (not ready?)", ref->kind,
                     ref_namespace(ref), ref->name);
            rc = -1;
        }
    }
    cJSON_Delete(object);
    return rc;
}

typedef struct resolution {
    config_k8s_ref ref; /* borrowed strings: the caller's ref outlives the request */
    char path[512];
    k8s_resolve_done_fn done;
    void *user;
} resolution;

static void on_object(void *user, const http_client_response *response)
{
    resolution *r = user;
    char url[1024];
    char err[512];
    const char *result = NULL;
    if (response->error) {
        format_message(err, sizeof err, "Kubernetes API GET %s: %s", r->path, response->error);
    } else if (response->status < 200 || response->status > 299) {
        /* The API's Status object says why (NotFound, Forbidden...); it carries no secrets. */
        cJSON *status = cJSON_ParseWithLength(response->body, response->body_len);
        const char *message = string_at(status, "message", NULL, NULL);
        format_message(err, sizeof err, "Kubernetes API GET %s: HTTP %ld%s%s", r->path,
                       response->status, message ? ": " : "", message ? message : "");
        cJSON_Delete(status);
    } else if (k8s_ref_url_from_object(&r->ref, response->body, response->body_len, url, sizeof url,
                                       err, sizeof err) == 0) {
        result = url;
    }
    r->done(r->user, result, result ? NULL : err);
    free(r);
}

int k8s_resolve(http_client *http, const k8s_api *api, const config_k8s_ref *ref, long timeout_ms,
                k8s_resolve_done_fn done, void *user)
{
    resolution *r = calloc(1, sizeof *r);
    if (!r)
        return -1;
    r->ref = *ref;
    r->done = done;
    r->user = user;
    char err[256];
    if (k8s_ref_api_path(ref, r->path, sizeof r->path, err, sizeof err) != 0) {
        free(r);
        return -1;
    }
    char url[1024];
    snprintf(url, sizeof url, "%s%s", api->base_url, r->path);
    http_header accept = {"Accept", "application/json"};
    http_client_request request = {.method = "GET",
                                   .url = url,
                                   .headers = &accept,
                                   .header_count = 1,
                                   .timeout_ms = timeout_ms,
                                   .ca_file = api->ca_file,
                                   .bearer_token = api->token};
    if (http_client_send(http, &request, on_object, r) != 0) {
        free(r);
        return -1;
    }
    return 0;
}
