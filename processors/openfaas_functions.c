#include "processors/openfaas_functions.h"

#include "log.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void openfaas_free_topics(char **topics, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(topics[i]);
    free(topics);
}

void openfaas_function_list_free(openfaas_function_list *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->count; i++) {
        free(list->items[i].address_name);
        openfaas_free_topics(list->items[i].topics, list->items[i].topic_count);
    }
    free(list->items);
    list->items = NULL;
    list->count = 0;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

int openfaas_split_topics(const char *annotation, char ***topics, size_t *count)
{
    *topics = NULL;
    *count = 0;
    size_t cap = 1;
    for (const char *c = annotation; *c; c++)
        cap += *c == ',';
    char **out = calloc(cap, sizeof *out);
    if (!out)
        return -1;
    size_t n = 0;
    const char *part = annotation;
    for (;;) {
        size_t len = strcspn(part, ",");
        const char *start = part, *end = part + len;
        while (start < end && is_space(*start))
            start++;
        while (end > start && is_space(end[-1]))
            end--;
        size_t trimmed = (size_t)(end - start);
        bool seen = trimmed == 0;
        for (size_t i = 0; i < n && !seen; i++)
            seen = strlen(out[i]) == trimmed && memcmp(out[i], start, trimmed) == 0;
        if (!seen) {
            if (!(out[n] = strndup(start, trimmed))) {
                openfaas_free_topics(out, n);
                return -1;
            }
            n++;
        }
        if (!part[len])
            break;
        part += len + 1;
    }
    *topics = out;
    *count = n;
    return 0;
}

int openfaas_parse_namespaces(const char *body, char ***names, size_t *count, char *err,
                              size_t err_cap)
{
    *names = NULL;
    *count = 0;
    cJSON *root = cJSON_Parse(body);
    if (!cJSON_IsArray(root)) {
        snprintf(err, err_cap, "expected a JSON array of namespace names");
        cJSON_Delete(root);
        return -1;
    }
    size_t n = (size_t)cJSON_GetArraySize(root);
    char **out = calloc(n ? n : 1, sizeof *out);
    size_t kept = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, root)
    {
        if (!out || !cJSON_IsString(item) || !*item->valuestring) {
            snprintf(err, err_cap,
                     out ? "namespace %zu is not a non-empty string" : "out of memory", kept);
            openfaas_free_topics(out, kept);
            cJSON_Delete(root);
            return -1;
        }
        if (!(out[kept] = strdup(item->valuestring)))
            break;
        kept++;
    }
    cJSON_Delete(root);
    *names = out;
    *count = kept;
    return 0;
}

int openfaas_parse_functions(const char *body, const char *namespace_, openfaas_function_list *list,
                             char *err, size_t err_cap)
{
    cJSON *root = cJSON_Parse(body);
    if (!cJSON_IsArray(root)) {
        snprintf(err, err_cap, "expected a JSON array of functions");
        cJSON_Delete(root);
        return -1;
    }
    size_t n = (size_t)cJSON_GetArraySize(root);
    openfaas_listed_function *grown =
        realloc(list->items, (list->count + n + 1) * sizeof *list->items);
    if (!grown) {
        cJSON_Delete(root);
        snprintf(err, err_cap, "out of memory");
        return -1;
    }
    list->items = grown;
    size_t index = 0;
    const cJSON *fn;
    int rc = 0;
    cJSON_ArrayForEach(fn, root)
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(fn, "name");
        if (!cJSON_IsString(name) || !*name->valuestring) {
            snprintf(err, err_cap, "function %zu has no name", index);
            rc = -1;
            break;
        }
        index++;
        const cJSON *own_ns = cJSON_GetObjectItemCaseSensitive(fn, "namespace");
        const char *ns =
            cJSON_IsString(own_ns) && *own_ns->valuestring ? own_ns->valuestring : namespace_;
        const cJSON *annotations = cJSON_GetObjectItemCaseSensitive(fn, "annotations");
        const cJSON *topic = cJSON_GetObjectItemCaseSensitive(annotations, "topic");
        openfaas_listed_function *item = &list->items[list->count];
        memset(item, 0, sizeof *item);
        size_t len = strlen(name->valuestring) + (ns ? strlen(ns) + 1 : 0) + 1;
        item->address_name = malloc(len);
        if (!item->address_name ||
            openfaas_split_topics(cJSON_IsString(topic) ? topic->valuestring : "", &item->topics,
                                  &item->topic_count) != 0) {
            free(item->address_name);
            snprintf(err, err_cap, "out of memory");
            rc = -1;
            break;
        }
        if (ns)
            snprintf(item->address_name, len, "%s.%s", name->valuestring, ns);
        else
            snprintf(item->address_name, len, "%s", name->valuestring);
        list->count++;
    }
    cJSON_Delete(root);
    return rc;
}

/* ---- one read of the whole list ------------------------------------------------------------ */

typedef struct list_round {
    http_client *http;
    char *address;
    char *display_address;
    char *username;
    char *password;
    long timeout_ms;
    long connect_timeout_ms;
    openfaas_list_done_fn done;
    void *user;
    size_t pending;
    openfaas_function_list list;
    char error[512];
} list_round;

typedef struct functions_call {
    list_round *round;
    char *namespace_; /* NULL: asked without a query */
} functions_call;

static void round_free(list_round *r)
{
    free(r->address);
    free(r->display_address);
    free(r->username);
    if (r->password) {
        memset(r->password, 0, strlen(r->password));
        free(r->password);
    }
    openfaas_function_list_free(&r->list);
    free(r);
}

static void round_finish(list_round *r)
{
    if (r->error[0]) {
        r->done(r->user, NULL, r->error);
    } else {
        openfaas_function_list *list = malloc(sizeof *list);
        if (!list) {
            r->done(r->user, NULL, "out of memory");
        } else {
            *list = r->list;
            r->list = (openfaas_function_list){0};
            r->done(r->user, list, NULL);
        }
    }
    round_free(r);
}

static void round_fail(list_round *r, const char *path, const http_client_response *response,
                       const char *detail)
{
    if (r->error[0])
        return; /* the first failure says it */
    if (response && response->error)
        format_message(r->error, sizeof r->error, "GET %s%s: %s", r->display_address, path,
                       response->error);
    else if (response && (response->status == 401 || response->status == 403))
        format_message(r->error, sizeof r->error, "GET %s%s: HTTP %ld: the gateway refused %s%s%s",
                       r->display_address, path, response->status,
                       r->username ? "user '" : "requests without credentials",
                       r->username ? r->username : "", r->username ? "'" : "");
    else if (response && (response->status < 200 || response->status > 299))
        format_message(r->error, sizeof r->error, "GET %s%s: HTTP %ld: %.200s", r->display_address,
                       path, response->status, response->body ? response->body : "");
    else
        format_message(r->error, sizeof r->error, "GET %s%s: %s", r->display_address, path, detail);
}

static int round_get(list_round *r, const char *path, http_client_done_fn done, void *user)
{
    size_t len = strlen(r->address) + strlen(path) + 1;
    char *url = malloc(len);
    if (!url)
        return -1;
    snprintf(url, len, "%s%s", r->address, path);
    http_client_request request = {.method = "GET",
                                   .url = url,
                                   .timeout_ms = r->timeout_ms,
                                   .connect_timeout_ms = r->connect_timeout_ms,
                                   .username = r->username,
                                   .password = r->password,
                                   .max_response_bytes = 16u << 20};
    int rc = http_client_send(r->http, &request, done, user);
    free(url);
    return rc;
}

static void on_functions(void *user, const http_client_response *response)
{
    functions_call *call = user;
    list_round *r = call->round;
    char path[512];
    format_message(path, sizeof path, "/system/functions%s%s",
                   call->namespace_ ? "?namespace=" : "", call->namespace_ ? call->namespace_ : "");
    char detail[256];
    if (response->error || response->status < 200 || response->status > 299)
        round_fail(r, path, response, "");
    else if (response->truncated)
        round_fail(r, path, NULL, "the answer is larger than 16 MiB");
    else if (openfaas_parse_functions(response->body, call->namespace_, &r->list, detail,
                                      sizeof detail) != 0)
        round_fail(r, path, NULL, detail);
    free(call->namespace_);
    free(call);
    if (--r->pending == 0)
        round_finish(r);
}

/* Asks for the functions of namespace_ (NULL: without a query). */
static void ask_functions(list_round *r, const char *namespace_)
{
    functions_call *call = calloc(1, sizeof *call);
    char path[512];
    if (call)
        call->round = r;
    if (call && namespace_) {
        char *escaped = curl_easy_escape(NULL, namespace_, 0);
        call->namespace_ = strdup(namespace_);
        snprintf(path, sizeof path, "/system/functions?namespace=%s", escaped ? escaped : "");
        curl_free(escaped);
        if (!call->namespace_ || !escaped) {
            free(call->namespace_);
            free(call);
            call = NULL;
        }
    } else {
        snprintf(path, sizeof path, "/system/functions");
    }
    if (!call || (r->pending++, round_get(r, path, on_functions, call) != 0)) {
        if (call) {
            r->pending--;
            free(call->namespace_);
            free(call);
        }
        round_fail(r, path, NULL, "cannot start the request");
    }
}

static void on_namespaces(void *user, const http_client_response *response)
{
    list_round *r = user;
    char **names = NULL;
    size_t count = 0;
    char detail[256];
    /* A gateway without multiple-namespace support has no such endpoint (404) or names none. */
    if (response->error ||
        ((response->status < 200 || response->status > 299) && response->status != 404)) {
        round_fail(r, "/system/namespaces", response, "");
    } else if (response->status != 404 && openfaas_parse_namespaces(response->body, &names, &count,
                                                                    detail, sizeof detail) != 0) {
        round_fail(r, "/system/namespaces", NULL, detail);
    } else {
        r->pending++; /* held while the calls start, so none can finish the round early */
        if (count == 0)
            ask_functions(r, NULL);
        for (size_t i = 0; i < count && !r->error[0]; i++)
            ask_functions(r, names[i]);
        r->pending--;
    }
    openfaas_free_topics(names, count);
    if (r->pending == 0)
        round_finish(r);
}

static char *copy_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

int openfaas_list_fetch(http_client *http, const openfaas_list_request *request,
                        openfaas_list_done_fn done, void *user)
{
    list_round *r = calloc(1, sizeof *r);
    if (!r)
        return -1;
    r->http = http;
    r->address = strdup(request->address);
    r->display_address = strdup(request->display_address);
    r->username = copy_or_null(request->username);
    r->password = copy_or_null(request->password);
    r->timeout_ms = request->timeout_ms;
    r->connect_timeout_ms = request->connect_timeout_ms;
    r->done = done;
    r->user = user;
    if (!r->address || !r->display_address || (request->username && !r->username) ||
        (request->password && !r->password) ||
        round_get(r, "/system/namespaces", on_namespaces, r) != 0) {
        round_free(r);
        return -1;
    }
    return 0;
}
