/* The ConfigMap checkpoint store: data.checkpoint of a v1 ConfigMap holds the same JSON as the
 * file. Writes go out one at a time (the newest record waits for the one underway), with the
 * resourceVersion last seen: a 409 means someone else wrote it, so the store reads it again and
 * writes again only while this replica still leads; a replica that does not lead writes nothing.
 * The first read retries every second while the API cannot be reached. */
#include "sources/vcenter/checkpoint_store.h"

#include "log.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMPONENT "checkpoint"
#define REQUEST_TIMEOUT_MS 5000
#define LOAD_RETRY_MS 1000
#define CHECKPOINT_KEY "checkpoint"

int checkpoint_configmap_parse(const char *json, size_t len, const char *where,
                               checkpoint_record *record, char *rv, size_t rv_cap, char *err,
                               size_t err_cap)
{
    memset(record, 0, sizeof *record);
    cJSON *object = cJSON_ParseWithLength(json, len);
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(object, "kind");
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(object, "metadata"), "resourceVersion");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(object, "data");
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(data, CHECKPOINT_KEY);
    int rc = -1;
    if (!cJSON_IsObject(object))
        snprintf(err, err_cap, "%s: the answer is not a JSON object", where);
    else if (kind && (!cJSON_IsString(kind) || strcmp(kind->valuestring, "ConfigMap") != 0))
        snprintf(err, err_cap, "%s: the answer is not a ConfigMap", where);
    else if (!cJSON_IsString(version) || !version->valuestring[0] ||
             strlen(version->valuestring) >= rv_cap)
        snprintf(err, err_cap, "%s: metadata.resourceVersion is missing or not a short string",
                 where);
    else if (data && !cJSON_IsObject(data) && !cJSON_IsNull(data))
        snprintf(err, err_cap, "%s: data is not an object", where);
    else if (text && !cJSON_IsString(text))
        snprintf(err, err_cap, "%s: data.checkpoint is not a string", where);
    else {
        snprintf(rv, rv_cap, "%s", version->valuestring);
        rc = text ? checkpoint_parse(text->valuestring, strlen(text->valuestring), where, record,
                                     err, err_cap)
                  : 0;
    }
    cJSON_Delete(object);
    return rc;
}

/* Removes every member called name: a repeated key must not shadow the one written. */
static void delete_all(cJSON *object, const char *name)
{
    while (cJSON_GetObjectItemCaseSensitive(object, name))
        cJSON_DeleteItemFromObjectCaseSensitive(object, name);
}

char *checkpoint_configmap_render(const char *observed, size_t observed_len, const char *name,
                                  const char *namespace_, const char *rv,
                                  const checkpoint_record *record)
{
    char *text = checkpoint_render(record);
    if (!text)
        return NULL;
    cJSON *object = observed ? cJSON_ParseWithLength(observed, observed_len) : NULL;
    if (!cJSON_IsObject(object)) {
        cJSON_Delete(object);
        object = cJSON_CreateObject();
    }
    delete_all(object, "apiVersion");
    delete_all(object, "kind");
    cJSON_AddStringToObject(object, "apiVersion", "v1");
    cJSON_AddStringToObject(object, "kind", "ConfigMap");
    cJSON *metadata = cJSON_GetObjectItemCaseSensitive(object, "metadata");
    if (!cJSON_IsObject(metadata)) {
        delete_all(object, "metadata");
        metadata = cJSON_AddObjectToObject(object, "metadata");
    }
    delete_all(metadata, "name");
    delete_all(metadata, "namespace");
    delete_all(metadata, "resourceVersion");
    cJSON_AddStringToObject(metadata, "name", name);
    cJSON_AddStringToObject(metadata, "namespace", namespace_);
    if (rv)
        cJSON_AddStringToObject(metadata, "resourceVersion", rv);
    cJSON *data = cJSON_GetObjectItemCaseSensitive(object, "data");
    if (!cJSON_IsObject(data)) {
        delete_all(object, "data");
        data = cJSON_AddObjectToObject(object, "data");
    }
    delete_all(data, CHECKPOINT_KEY);
    cJSON_AddStringToObject(data, CHECKPOINT_KEY, text);
    free(text);
    char *body = cJSON_PrintUnformatted(object);
    cJSON_Delete(object);
    return body;
}

typedef enum { VERSION_UNKNOWN, VERSION_ABSENT, VERSION_KNOWN } version_state;

typedef struct configmap_store {
    checkpoint_store base; /* first: the interface's pointer is this one's */
    uv_loop_t *loop;
    http_client *http;
    const k8s_api *kube;
    bool (*leading)(void *engine);
    void *engine;
    char name[256];
    char namespace_[256];
    char object_path[1100];
    char collection_path[800];

    version_state version;
    char rv[128];
    char *observed; /* the ConfigMap as last read or written */
    size_t observed_len;

    checkpoint_store_loaded_fn loaded;
    void *loaded_user;
    checkpoint_record wanted; /* the newest record to write */
    bool has_wanted;
    bool in_flight;
    bool failed;
    bool closing;
    uv_timer_t retry_timer;
    bool timer_open;
} configmap_store;

static void write_next(configmap_store *st);
static void send_get(configmap_store *st);

static void free_store(configmap_store *st)
{
    free(st->observed);
    free(st);
}

static void on_timer_closed(uv_handle_t *handle)
{
    free_store(handle->data);
}

static void finish_if_closing(configmap_store *st)
{
    if (!st->closing || st->in_flight)
        return;
    if (st->timer_open) {
        st->timer_open = false;
        uv_close((uv_handle_t *)&st->retry_timer, on_timer_closed);
    }
}

static void keep_observed(configmap_store *st, const http_client_response *response)
{
    char *copy = malloc(response->body_len + 1);
    if (!copy)
        return;
    memcpy(copy, response->body, response->body_len + 1);
    free(st->observed);
    st->observed = copy;
    st->observed_len = response->body_len;
}

/* The store's own answer to a GET: version state and observed object. 1/0 as parse, -1 error. */
static int take_get(configmap_store *st, const http_client_response *response,
                    checkpoint_record *record, char *err, size_t err_cap)
{
    if (response->status == 404) {
        st->version = VERSION_ABSENT;
        free(st->observed);
        st->observed = NULL;
        return 0;
    }
    if (response->status != 200) {
        k8s_api_describe_failure(response, err, err_cap);
        return -2; /* transient: try again */
    }
    int rc = checkpoint_configmap_parse(response->body, response->body_len, st->base.where, record,
                                        st->rv, sizeof st->rv, err, err_cap);
    if (rc >= 0) {
        st->version = VERSION_KNOWN;
        keep_observed(st, response);
    }
    return rc;
}

static void on_load_timer(uv_timer_t *timer)
{
    send_get(timer->data);
}

static void on_load(void *user, const http_client_response *response)
{
    configmap_store *st = user;
    st->in_flight = false;
    if (st->closing) {
        finish_if_closing(st);
        return;
    }
    checkpoint_record record;
    char err[512] = "";
    int rc = take_get(st, response, &record, err, sizeof err);
    if (rc == -2) {
        log_warn(COMPONENT, "%s: cannot read the checkpoint: %s (retrying in 1s)", st->base.where,
                 err);
        uv_timer_start(&st->retry_timer, on_load_timer, LOAD_RETRY_MS, 0);
        return;
    }
    checkpoint_store_loaded_fn loaded = st->loaded;
    st->loaded = NULL;
    if (loaded)
        loaded(st->loaded_user, rc, rc == 1 ? &record : NULL, rc < 0 ? err : NULL);
}

static void send_get(configmap_store *st)
{
    st->in_flight = true;
    if (k8s_api_send(st->http, st->kube, "GET", st->object_path, NULL, REQUEST_TIMEOUT_MS, on_load,
                     st) != 0) {
        st->in_flight = false;
        uv_timer_start(&st->retry_timer, on_load_timer, LOAD_RETRY_MS, 0);
    }
}

static void configmap_load(checkpoint_store *store, checkpoint_store_loaded_fn loaded, void *user)
{
    configmap_store *st = (configmap_store *)store;
    st->loaded = loaded;
    st->loaded_user = user;
    send_get(st);
}

static void on_reread(void *user, const http_client_response *response)
{
    configmap_store *st = user;
    st->in_flight = false;
    checkpoint_record theirs;
    char err[512] = "";
    int rc = take_get(st, response, &theirs, err, sizeof err);
    if (rc < 0 && rc != 0) {
        st->version = VERSION_UNKNOWN;
        st->failed = true;
        log_warn(COMPONENT, "%s: cannot read the checkpoint again: %s", st->base.where, err);
        finish_if_closing(st);
        return;
    }
    write_next(st);
}

static void on_written(void *user, const http_client_response *response)
{
    configmap_store *st = user;
    st->in_flight = false;
    if (response->status == 200 || response->status == 201) {
        char err[256];
        checkpoint_record ignored;
        if (checkpoint_configmap_parse(response->body, response->body_len, st->base.where, &ignored,
                                       st->rv, sizeof st->rv, err, sizeof err) >= 0) {
            st->version = VERSION_KNOWN;
            keep_observed(st, response);
        } else {
            st->version = VERSION_UNKNOWN;
        }
        st->failed = false;
        write_next(st);
        return;
    }
    if (response->status == 409) {
        /* Written (or created) by someone else meanwhile: read it again; ours goes out only if
         * this replica still leads (write_next checks). */
        log_info(COMPONENT, "%s: changed by another writer: reading it again", st->base.where);
        st->version = VERSION_UNKNOWN;
        st->has_wanted = true;
        write_next(st);
        return;
    }
    char err[512];
    k8s_api_describe_failure(response, err, sizeof err);
    log_warn(COMPONENT, "%s: cannot write the checkpoint: %s (trying again)", st->base.where, err);
    st->failed = true;
    st->has_wanted = true;
    finish_if_closing(st);
}

static void write_next(configmap_store *st)
{
    if (st->in_flight || !st->has_wanted) {
        finish_if_closing(st);
        return;
    }
    if (!st->leading(st->engine)) {
        log_debug(COMPONENT, "%s: not leading: the checkpoint is the leader's to write",
                  st->base.where);
        st->has_wanted = false;
        st->failed = false;
        finish_if_closing(st);
        return;
    }
    if (st->version == VERSION_UNKNOWN) {
        st->in_flight = true;
        if (k8s_api_send(st->http, st->kube, "GET", st->object_path, NULL, REQUEST_TIMEOUT_MS,
                         on_reread, st) != 0) {
            st->in_flight = false;
            st->failed = true;
            finish_if_closing(st);
        }
        return;
    }
    bool create = st->version == VERSION_ABSENT;
    char *body =
        checkpoint_configmap_render(create ? NULL : st->observed, st->observed_len, st->name,
                                    st->namespace_, create ? NULL : st->rv, &st->wanted);
    st->has_wanted = false;
    st->in_flight = body != NULL;
    if (!body || k8s_api_send(st->http, st->kube, create ? "POST" : "PUT",
                              create ? st->collection_path : st->object_path, body,
                              REQUEST_TIMEOUT_MS, on_written, st) != 0) {
        st->in_flight = false;
        st->failed = true;
        st->has_wanted = true;
    }
    free(body);
    finish_if_closing(st);
}

static int configmap_save(checkpoint_store *store, const checkpoint_record *record, char *err,
                          size_t err_cap)
{
    (void)err;
    (void)err_cap;
    configmap_store *st = (configmap_store *)store;
    st->wanted = *record;
    st->has_wanted = true;
    st->failed = false;
    write_next(st);
    return 0;
}

static bool configmap_needs_retry(const checkpoint_store *store)
{
    return ((const configmap_store *)store)->failed;
}

static void configmap_close(checkpoint_store *store)
{
    configmap_store *st = (configmap_store *)store;
    st->closing = true;
    st->loaded = NULL;
    uv_timer_stop(&st->retry_timer);
    finish_if_closing(st);
}

static const checkpoint_store_ops configmap_ops = {.load = configmap_load,
                                                   .save = configmap_save,
                                                   .needs_retry = configmap_needs_retry,
                                                   .close = configmap_close};

checkpoint_store *checkpoint_store_configmap_open(const source_services *services, char *err,
                                                  size_t err_cap)
{
    const config_checkpoint_store *config = services->checkpoint_store;
    if (!services->kube || !services->http || !services->leading || !config->name ||
        !services->checkpoint_namespace || !services->checkpoint_namespace[0]) {
        snprintf(err, err_cap,
                 "checkpointStore configmap needs the Kubernetes API (a service "
                 "account) and a namespace");
        return NULL;
    }
    configmap_store *st = calloc(1, sizeof *st);
    if (!st) {
        snprintf(err, err_cap, "out of memory");
        return NULL;
    }
    st->base.ops = &configmap_ops;
    st->loop = services->loop;
    st->http = services->http;
    st->kube = services->kube;
    st->leading = services->leading;
    st->engine = services->engine;
    snprintf(st->name, sizeof st->name, "%s", config->name);
    snprintf(st->namespace_, sizeof st->namespace_, "%s", services->checkpoint_namespace);
    snprintf(st->base.where, sizeof st->base.where, "ConfigMap %s/%s", st->namespace_, st->name);
    snprintf(st->collection_path, sizeof st->collection_path, "/api/v1/namespaces/%s/configmaps",
             st->namespace_);
    snprintf(st->object_path, sizeof st->object_path, "%s/%s", st->collection_path, st->name);
    uv_timer_init(st->loop, &st->retry_timer);
    st->retry_timer.data = st;
    st->timer_open = true;
    return &st->base;
}
