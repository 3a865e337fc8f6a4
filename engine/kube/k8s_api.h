/* The Kubernetes API as a pod sees it: its service account's credentials, and one JSON request.
 *
 * In-cluster credentials come from the pod's service account:
 *   <dir>/token, <dir>/ca.crt, <dir>/namespace, dir = /var/run/secrets/kubernetes.io/serviceaccount
 *   API at https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT
 * Tests override dir with EVENT_ROUTER_K8S_SERVICEACCOUNT_DIR and the API base URL with
 * EVENT_ROUTER_K8S_API_URL. Used by the Knative ref resolver, the leader election and the
 * ConfigMap checkpoint store. */
#ifndef EVENT_ROUTER_K8S_API_H
#define EVENT_ROUTER_K8S_API_H

#include "http/http_client.h"

#include <stddef.h>

#define K8S_SERVICEACCOUNT_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

typedef struct k8s_api {
    char *base_url;   /* "https://10.96.0.1:443", no trailing slash */
    char *token;      /* secret: bearer token of the service account */
    char *ca_file;    /* the cluster CA, NULL when the file is absent */
    char *namespace_; /* the pod's namespace, NULL when unknown */
} k8s_api;

/* Loads the in-cluster credentials. Returns 0, or -1 with a reason in err, e.g. "no
 * service-account token was found at /var/run/.../token". */
int k8s_api_load(k8s_api *api, char *err, size_t err_cap);
void k8s_api_free(k8s_api *api);

/* One request with a JSON body (or none), authenticated with the token, verified with the CA.
 * path starts with "/" ("/apis/coordination.k8s.io/v1/namespaces/NS/leases/N"). done is called
 * exactly once, later. Returns 0, or -1 when it could not be started (done is then not called). */
int k8s_api_send(http_client *http, const k8s_api *api, const char *method, const char *path,
                 const char *json_body, long timeout_ms, http_client_done_fn done, void *user);

/* "HTTP 409: <the Status object's message>" or the transport error, for log lines: a Status
 * carries no secrets. */
void k8s_api_describe_failure(const http_client_response *response, char *out, size_t cap);

#endif
