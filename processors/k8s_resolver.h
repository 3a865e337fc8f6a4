/* Resolves a Kubernetes object reference (a Knative Broker, a Knative Service or a core Service)
 * to the URL events should be POSTed to, through the Kubernetes API, the way Knative's own
 * "destination" resolution does: the object's status.address.url, or the Service's cluster DNS
 * name.
 * In-cluster credentials: kube/k8s_api.h. */
#ifndef EVENT_ROUTER_K8S_RESOLVER_H
#define EVENT_ROUTER_K8S_RESOLVER_H

#include "config/config.h"
#include "http/http_client.h"
#include "kube/k8s_api.h"

#include <stddef.h>

/* The API path of the object ref names ("/apis/eventing.knative.dev/v1/namespaces/NS/brokers/N").
 * Returns 0, or -1 with a reason for a kind we cannot resolve. */
int k8s_ref_api_path(const config_k8s_ref *ref, char *out, size_t out_cap, char *err,
                     size_t err_cap);

/* Picks the destination URL out of the object's JSON as the API returned it. Returns 0, or -1
 * with a reason (e.g. the Broker is not ready and has no address yet). */
int k8s_ref_url_from_object(const config_k8s_ref *ref, const char *json, size_t json_len, char *url,
                            size_t url_cap, char *err, size_t err_cap);

/* done(user, url, NULL) or done(user, NULL, error); called exactly once, later (never from inside
 * k8s_resolve). */
typedef void (*k8s_resolve_done_fn)(void *user, const char *url, const char *error);

/* GETs the object and resolves it. timeout_ms 0 means the http_client default. Returns 0, or -1
 * when the request could not be started (done is then not called). */
int k8s_resolve(http_client *http, const k8s_api *api, const config_k8s_ref *ref, long timeout_ms,
                k8s_resolve_done_fn done, void *user);

#endif
