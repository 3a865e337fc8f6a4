/* The OpenFaaS gateway's function list: which functions exist and which topics each one takes
 * (its `topic` annotation), read as VEBA reads it: GET /system/namespaces, then
 * GET /system/functions?namespace=NS for each (one call without a query when the gateway names
 * no namespaces or has no namespaces endpoint), with the gateway's basic auth. */
#ifndef EVENT_ROUTER_OPENFAAS_FUNCTIONS_H
#define EVENT_ROUTER_OPENFAAS_FUNCTIONS_H

#include "http/http_client.h"

#include <stddef.h>

typedef struct openfaas_listed_function {
    char *address_name; /* "name.namespace", or "name" when the gateway gave no namespace */
    char **topics;      /* split on ',', trimmed, empty parts and duplicates left out */
    size_t topic_count;
} openfaas_listed_function;

typedef struct openfaas_function_list {
    openfaas_listed_function *items;
    size_t count;
} openfaas_function_list;

void openfaas_function_list_free(openfaas_function_list *list);

/* Splits a topic annotation ("a, b,,a") into {"a", "b"}. Returns 0 or -1 when out of memory. */
int openfaas_split_topics(const char *annotation, char ***topics, size_t *count);
void openfaas_free_topics(char **topics, size_t count);

/* One /system/namespaces answer: a JSON array of strings. */
int openfaas_parse_namespaces(const char *body, char ***names, size_t *count, char *err,
                              size_t err_cap);
/* One /system/functions answer, appended to list. namespace_ (may be NULL) is the one asked for,
 * used when a function does not name its own. */
int openfaas_parse_functions(const char *body, const char *namespace_, openfaas_function_list *list,
                             char *err, size_t err_cap);

typedef struct openfaas_list_request {
    const char *address;         /* the gateway, without a trailing slash */
    const char *display_address; /* the same without any user:password@, for messages */
    const char *username;        /* NULL: no auth */
    const char *password;
    long timeout_ms;
    long connect_timeout_ms;
} openfaas_list_request;

/* list is the caller's on success (error NULL); on failure list is NULL and error says where and
 * what the gateway answered (never the password). Called exactly once, never from inside fetch. */
typedef void (*openfaas_list_done_fn)(void *user, openfaas_function_list *list, const char *error);

/* Starts one full read of the list. Returns 0, or -1 when no request could be started. */
int openfaas_list_fetch(http_client *http, const openfaas_list_request *request,
                        openfaas_list_done_fn done, void *user);

#endif
