/* The openfaas block of an openfaas processor. VEBA's keys keep their meaning (address, async,
 * auth: basic_auth). Our extensions, all optional: topicRefresh, timeout, headers, topicFrom,
 * unmatched, invokeWithAuth and callback {bindAddress, path, url, deadline, onFailure}. */
#include "config/config_sections.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_TOPIC_REFRESH_SECONDS 10.0

static void error_at(config_checker *ck, const ynode *node, const char *path, const char *key,
                     const char *fmt, const char *detail)
{
    char field[256];
    check_path(field, sizeof field, path, key);
    check_error_at(ck, node->line, node->col, field, fmt, detail);
}

/* Header names an invocation sets itself, or that would let a config break the request. */
static bool header_is_reserved(const char *name)
{
    static const char *const reserved[] = {"content-type",      "content-length", "host",
                                           "transfer-encoding", "x-callback-url", NULL};
    for (size_t i = 0; reserved[i]; i++)
        if (strcasecmp(name, reserved[i]) == 0)
            return true;
    return false;
}

/* RFC 9110 token characters. */
static bool is_header_name(const char *name)
{
    if (!*name)
        return false;
    for (const char *c = name; *c; c++)
        if (!strchr("!#$%&'*+-.^_`|~", *c) &&
            !((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')))
            return false;
    return true;
}

static void read_headers(config_checker *ck, const ynode *settings, const char *path,
                         config_openfaas *out)
{
    char headers_path[256];
    check_path(headers_path, sizeof headers_path, path, "headers");
    const ynode *headers = check_map(ck, settings, path, "headers", false);
    if (!headers)
        return;
    out->headers = calloc(headers->pair_count ? headers->pair_count : 1, sizeof *out->headers);
    if (!out->headers)
        return;
    for (size_t i = 0; i < headers->pair_count; i++) {
        const ynode_pair *pair = &headers->pairs[i];
        char field[256];
        check_path(field, sizeof field, headers_path, pair->key);
        if (!is_header_name(pair->key)) {
            check_error_at(ck, pair->key_line, pair->key_col, field,
                           "'%.60s' is not a valid HTTP header name", pair->key);
            continue;
        }
        if (header_is_reserved(pair->key)) {
            check_error_at(ck, pair->key_line, pair->key_col, field,
                           "'%.60s' is set by the processor itself", pair->key);
            continue;
        }
        const ynode *value = pair->value;
        if (value->kind != YNODE_SCALAR || strpbrk(value->scalar ? value->scalar : "", "\r\n")) {
            check_error_at(ck, value->line, value->col, field, "expected a single-line string");
            continue;
        }
        config_header *h = &out->headers[out->header_count];
        h->name = strdup(pair->key);
        h->value = strdup(value->is_null ? "" : value->scalar);
        if (h->name && h->value)
            out->header_count++;
        else {
            free(h->name);
            free(h->value);
        }
    }
}

static void read_topic_from(config_checker *ck, const ynode *settings, const char *path,
                            config_openfaas *out)
{
    const ynode *list = check_seq(ck, settings, path, "topicFrom", false);
    if (!list)
        return;
    out->topic_from_subject = out->topic_from_type = false;
    for (size_t i = 0; i < list->item_count; i++) {
        const ynode *item = list->items[i];
        const char *text = item->kind == YNODE_SCALAR && !item->is_null ? item->scalar : "";
        if (strcmp(text, "subject") == 0)
            out->topic_from_subject = true;
        else if (strcmp(text, "type") == 0)
            out->topic_from_type = true;
        else
            error_at(ck, item, path, "topicFrom", "expected subject or type, got '%.40s'", text);
    }
    if (!out->topic_from_subject && !out->topic_from_type)
        error_at(ck, list, path, "topicFrom", "must name subject, type or both%s", "");
}

static void read_callback(config_checker *ck, const ynode *settings, const char *path,
                          config_openfaas *out)
{
    char cb_path[256];
    check_path(cb_path, sizeof cb_path, path, "callback");
    const ynode *callback = check_map(ck, settings, path, "callback", false);
    if (!callback)
        return;
    check_known_keys(
        ck, callback, cb_path,
        (const char *const[]){"bindAddress", "path", "url", "deadline", "onFailure", NULL});
    if (!out->async)
        error_at(ck, callback, path, "callback",
                 "needs async: true (a synchronous invocation answers with the function's "
                 "result%s)",
                 "");
    out->callback_deadline_seconds = 300;
    check_host_port(ck, callback, cb_path, "bindAddress", true, &out->callback_bind_address);
    if (!check_string(ck, callback, cb_path, "path", false, &out->callback_path))
        out->callback_path = strdup("/callback");
    else if (out->callback_path[0] != '/')
        error_at(ck, check_value(ck, callback, cb_path, "path", false), cb_path, "path",
                 "must start with '/', got '%.60s'", out->callback_path);
    if (check_string(ck, callback, cb_path, "url", false, &out->callback_url))
        config_check_http_url(ck, callback, cb_path, "url", out->callback_url);
    check_duration(ck, callback, cb_path, "deadline", &out->callback_deadline_seconds);
    char *on_failure = NULL;
    if (check_string(ck, callback, cb_path, "onFailure", false, &on_failure)) {
        out->callback_retry = strcmp(on_failure, "retry") == 0;
        if (!out->callback_retry && strcmp(on_failure, "deadletter") != 0)
            error_at(ck, check_value(ck, callback, cb_path, "onFailure", false), cb_path,
                     "onFailure", "expected deadletter or retry, got '%.40s'", on_failure);
    }
    free(on_failure);
}

void config_read_openfaas(config_checker *ck, const ynode *settings, const char *path,
                          config_openfaas *out)
{
    out->topic_refresh_seconds = DEFAULT_TOPIC_REFRESH_SECONDS;
    out->topic_from_subject = true;
    check_known_keys(ck, settings, path,
                     (const char *const[]){"address", "async", "auth", "topicRefresh", "timeout",
                                           "headers", "topicFrom", "unmatched", "invokeWithAuth",
                                           "callback", NULL});
    if (check_string(ck, settings, path, "address", true, &out->address)) {
        config_check_http_url(ck, settings, path, "address", out->address);
        size_t len = strlen(out->address);
        while (len > 0 && out->address[len - 1] == '/')
            out->address[--len] = '\0';
    }
    check_bool(ck, settings, path, "async", &out->async);
    check_duration(ck, settings, path, "topicRefresh", &out->topic_refresh_seconds);
    check_duration(ck, settings, path, "timeout", &out->timeout_seconds);
    read_headers(ck, settings, path, out);
    read_topic_from(ck, settings, path, out);
    char *unmatched = NULL;
    if (check_string(ck, settings, path, "unmatched", false, &unmatched)) {
        out->unmatched_deadletter = strcmp(unmatched, "deadletter") == 0;
        if (!out->unmatched_deadletter && strcmp(unmatched, "ack") != 0)
            error_at(ck, check_value(ck, settings, path, "unmatched", false), path, "unmatched",
                     "expected ack or deadletter, got '%.40s'", unmatched);
    }
    free(unmatched);
    check_bool(ck, settings, path, "invokeWithAuth", &out->invoke_with_auth);
    read_callback(ck, settings, path, out);
    config_read_auth(ck, settings, path, 1u << AUTH_BASIC, &out->auth);
}

void config_openfaas_clear(config_openfaas *openfaas)
{
    free(openfaas->address);
    free(openfaas->callback_bind_address);
    free(openfaas->callback_path);
    free(openfaas->callback_url);
    config_auth_clear(&openfaas->auth);
    for (size_t i = 0; i < openfaas->header_count; i++) {
        free(openfaas->headers[i].name);
        free(openfaas->headers[i].value);
    }
    free(openfaas->headers);
    memset(openfaas, 0, sizeof *openfaas);
}
