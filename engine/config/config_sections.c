#include "config/config_sections.h"

#include "config/config_filter.h"
#include "filters/event_pattern.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * WHICH TYPES RUN TODAY. This is the one place that says so: every type below is parsed and
 * checked in full, and an unsupported one additionally yields "... is not supported yet". When a
 * provider or processor lands, flip its `supported` to true (and map it to its kind).
 * ------------------------------------------------------------------------------------------- */
typedef struct {
    const char *type;    /* the value of `type:` */
    const char *section; /* the key of its settings block */
    bool supported;
} type_support;

static const type_support provider_types[] = {
    {"webhook", "webhook", true},
    {"vcenter", "vcenter", true},
    {"vcsim", "vcsim", false},
    {"horizon", "horizon", true},
};

static const type_support processor_types[] = {
    {"knative", "knative", true},
    {"openfaas", "openfaas", true},
    {"aws_event_bridge", "awsEventBridge", true},
};

#define COUNT(array) (sizeof(array) / sizeof *(array))

/* Bit per auth type: which ones a section accepts (VEBA accepts only these per section). */
#define AUTH_ALLOW(type) (1u << (type))

static const struct {
    config_auth_type type;
    const char *name;
    const char *section; /* NULL: the type has no settings */
} auth_types[] = {
    {AUTH_BASIC, "basic_auth", "basicAuth"},
    {AUTH_AWS_ACCESS_KEY, "aws_access_key", "awsAccessKeyAuth"},
    {AUTH_AWS_IAM_ROLE, "aws_iam_role", NULL},
    {AUTH_ACTIVE_DIRECTORY, "active_directory", "activeDirectoryAuth"},
};

void config_auth_clear(config_auth *auth)
{
    free(auth->username);
    free(auth->password);
    free(auth->domain);
    free(auth->access_key);
    free(auth->secret_key);
    free(auth->session_token);
    memset(auth, 0, sizeof *auth);
}

static void read_auth_fields(config_checker *ck, config_auth_type type, const ynode *settings,
                             const char *path, config_auth *out)
{
    switch (type) {
    case AUTH_BASIC:
        check_known_keys(ck, settings, path,
                         (const char *const[]){"username", "password", "passwordFile", NULL});
        check_string(ck, settings, path, "username", true, &out->username);
        check_secret(ck, settings, path, "password", true, &out->password);
        break;
    case AUTH_AWS_ACCESS_KEY:
        check_known_keys(ck, settings, path,
                         (const char *const[]){"accessKey", "secretKey", "secretKeyFile",
                                               "sessionToken", "sessionTokenFile", NULL});
        check_string(ck, settings, path, "accessKey", true, &out->access_key);
        check_secret(ck, settings, path, "secretKey", true, &out->secret_key);
        check_secret(ck, settings, path, "sessionToken", false, &out->session_token);
        break;
    case AUTH_ACTIVE_DIRECTORY:
        check_known_keys(
            ck, settings, path,
            (const char *const[]){"domain", "username", "password", "passwordFile", NULL});
        check_string(ck, settings, path, "domain", true, &out->domain);
        check_string(ck, settings, path, "username", true, &out->username);
        check_secret(ck, settings, path, "password", true, &out->password);
        break;
    default:
        break;
    }
}

/* parent[auth] (optional). allowed is a mask of AUTH_ALLOW bits. */
static void read_auth(config_checker *ck, const ynode *parent, const char *parent_path,
                      unsigned allowed, config_auth *out)
{
    char path[256], field[256];
    check_path(path, sizeof path, parent_path, "auth");
    const ynode *auth = check_map(ck, parent, parent_path, "auth", false);
    if (!auth)
        return;
    check_known_keys(ck, auth, path,
                     (const char *const[]){"type", "basicAuth", "awsAccessKeyAuth",
                                           "activeDirectoryAuth", NULL});
    const ynode *type = check_value(ck, auth, path, "type", true);
    check_path(field, sizeof field, path, "type");
    size_t match = COUNT(auth_types);
    if (type && type->kind == YNODE_SCALAR)
        for (size_t i = 0; i < COUNT(auth_types); i++)
            if (strcmp(type->scalar, auth_types[i].name) == 0)
                match = i;
    if (type && match == COUNT(auth_types)) {
        check_error_at(ck, type->line, type->col, field,
                       "unknown auth type '%.60s' (expected basic_auth, aws_access_key, "
                       "aws_iam_role or active_directory)",
                       type->kind == YNODE_SCALAR ? type->scalar : "");
        return;
    }
    if (!type)
        return;
    if (!(allowed & AUTH_ALLOW(auth_types[match].type))) {
        char expected[128] = "";
        for (size_t i = 0; i < COUNT(auth_types); i++)
            if (allowed & AUTH_ALLOW(auth_types[i].type))
                snprintf(expected + strlen(expected), sizeof expected - strlen(expected), "%s%s",
                         *expected ? ", " : "", auth_types[i].name);
        check_error_at(ck, type->line, type->col, field,
                       "auth type '%s' is not accepted here (expected %s)", auth_types[match].name,
                       expected);
        return;
    }
    for (size_t i = 0; i < COUNT(auth_types); i++) {
        const ynode_pair *other =
            auth_types[i].section && i != match ? ynode_find(auth, auth_types[i].section) : NULL;
        if (other) {
            check_path(field, sizeof field, path, other->key);
            check_error_at(ck, other->key_line, other->key_col, field,
                           "does not apply to auth type '%s'", auth_types[match].name);
        }
    }
    out->type = auth_types[match].type;
    if (!auth_types[match].section)
        return;
    char settings_path[256];
    check_path(settings_path, sizeof settings_path, path, auth_types[match].section);
    const ynode *settings = check_map(ck, auth, path, auth_types[match].section, true);
    if (settings)
        read_auth_fields(ck, out->type, settings, settings_path, out);
}

void config_read_auth(config_checker *ck, const ynode *parent, const char *parent_path,
                      unsigned allowed, config_auth *out)
{
    read_auth(ck, parent, parent_path, allowed, out);
}

static bool starts_with(const char *text, const char *prefix)
{
    return strncmp(text, prefix, strlen(prefix)) == 0;
}

/* Reports a URL that is not http(s)://something; quoting it is fine, URLs here carry no secrets
 * by contract (credentials go in auth blocks). */
static void check_http_url(config_checker *ck, const ynode *parent, const char *path,
                           const char *key, const char *url)
{
    if (!url)
        return;
    const char *rest = starts_with(url, "https://")  ? url + 8
                       : starts_with(url, "http://") ? url + 7
                                                     : NULL;
    if (rest && *rest && *rest != '/')
        return;
    const ynode *value = check_value(ck, parent, path, key, false);
    char field[256];
    check_path(field, sizeof field, path, key);
    check_error_at(ck, value ? value->line : parent->line, value ? value->col : parent->col, field,
                   "expected an http:// or https:// URL");
}

void config_check_http_url(config_checker *ck, const ynode *parent, const char *path,
                           const char *key, const char *url)
{
    check_http_url(ck, parent, path, key, url);
}

/* Finds type in table; reports an unknown type at its position. NULL when unknown/missing. */
static const type_support *read_type(config_checker *ck, const ynode *map, const char *path,
                                     const type_support *table, size_t count)
{
    char field[256];
    check_path(field, sizeof field, path, "type");
    const ynode *type = check_value(ck, map, path, "type", true);
    if (!type)
        return NULL;
    if (type->kind == YNODE_SCALAR)
        for (size_t i = 0; i < count; i++)
            if (strcmp(type->scalar, table[i].type) == 0)
                return &table[i];
    char expected[128] = "";
    for (size_t i = 0; i < count; i++)
        snprintf(expected + strlen(expected), sizeof expected - strlen(expected), "%s%s",
                 i ? ", " : "", table[i].type);
    check_error_at(ck, type->line, type->col, field, "unknown type '%.60s' (expected one of: %s)",
                   type->kind == YNODE_SCALAR ? type->scalar : "", expected);
    return NULL;
}

/* Reports settings blocks for other types ("vcenter:" under a webhook provider) and returns the
 * path and node of the block for `chosen` (required). */
static const ynode *read_type_section(config_checker *ck, const ynode *map, const char *path,
                                      const type_support *table, size_t count,
                                      const type_support *chosen, char *section_path, size_t cap)
{
    for (size_t i = 0; i < count; i++) {
        const ynode_pair *other =
            &table[i] != chosen && strcmp(table[i].section, chosen->section) != 0
                ? ynode_find(map, table[i].section)
                : NULL;
        if (other) {
            char field[256];
            check_path(field, sizeof field, path, other->key);
            check_error_at(ck, other->key_line, other->key_col, field,
                           "does not apply to type '%s'", chosen->type);
        }
    }
    check_path(section_path, cap, path, chosen->section);
    return check_map(ck, map, path, chosen->section, true);
}

static void report_not_supported(config_checker *ck, const ynode *map, const char *path,
                                 const char *what, const type_support *chosen)
{
    if (chosen->supported)
        return;
    const ynode *type = check_value(ck, map, path, "type", false);
    char field[256];
    check_path(field, sizeof field, path, "type");
    check_error_at(ck, type->line, type->col, field, "%s type '%s' is not supported yet", what,
                   chosen->type);
}

static void read_webhook(config_checker *ck, const ynode *settings, const char *path,
                         config_webhook *out)
{
    check_known_keys(ck, settings, path,
                     (const char *const[]){"bindAddress", "path", "auth", "maxBodySize",
                                           "maxConnections", "maxBodySizeInFlight", "headerTimeout",
                                           "bodyTimeout", "idleTimeout", NULL});
    check_host_port(ck, settings, path, "bindAddress", true, &out->bind_address);
    if (check_string(ck, settings, path, "path", true, &out->path) &&
        (out->path[0] != '/' || strcmp(out->path, "/") == 0)) {
        const ynode *value = check_value(ck, settings, path, "path", false);
        char field[256];
        check_path(field, sizeof field, path, "path");
        check_error_at(ck, value->line, value->col, field,
                       "must start with '/' and must not be '/' alone (e.g. /webhook)");
    }
    check_size(ck, settings, path, "maxBodySize", &out->max_body_bytes);
    check_int(ck, settings, path, "maxConnections", 1, 1000000, &out->max_connections);
    if (check_size(ck, settings, path, "maxBodySizeInFlight", &out->max_body_bytes_in_flight) &&
        out->max_body_bytes_in_flight < out->max_body_bytes) {
        /* One request that may never fit would get 503 forever. */
        const ynode *value = check_value(ck, settings, path, "maxBodySizeInFlight", false);
        char field[256];
        check_path(field, sizeof field, path, "maxBodySizeInFlight");
        check_error_at(ck, value->line, value->col, field,
                       "must be at least maxBodySize (%zu bytes)", out->max_body_bytes);
    }
    check_duration(ck, settings, path, "headerTimeout", &out->header_timeout_seconds);
    check_duration(ck, settings, path, "bodyTimeout", &out->body_timeout_seconds);
    check_duration(ck, settings, path, "idleTimeout", &out->idle_timeout_seconds);
    read_auth(ck, settings, path, AUTH_ALLOW(AUTH_BASIC), &out->auth);
}

/* eventFormat: router (default) or sources-for-knative. */
static void read_event_format(config_checker *ck, const ynode *settings, const char *path,
                              bool *sources_for_knative)
{
    char *format = NULL;
    if (check_string(ck, settings, path, "eventFormat", false, &format)) {
        if (strcmp(format, "sources-for-knative") == 0)
            *sources_for_knative = true;
        else if (strcmp(format, "router") != 0) {
            const ynode *value = check_value(ck, settings, path, "eventFormat", false);
            char field[300];
            snprintf(field, sizeof field, "%s.eventFormat", path);
            check_error_at(ck, value ? value->line : 0, value ? value->col : 0, field,
                           "must be router or sources-for-knative, not '%s'", format);
        }
    }
    free(format);
}

static void read_vcenter(config_checker *ck, const ynode *settings, const char *path,
                         config_vcenter *out, bool full)
{
    if (full)
        check_known_keys(ck, settings, path,
                         (const char *const[]){"address", "insecureSSL", "caFile", "checkpoint",
                                               "checkpointDir", "maxReplayAge", "eventFormat",
                                               "auth", NULL});
    else
        check_known_keys(ck, settings, path,
                         (const char *const[]){"address", "insecureSSL", "auth", NULL});
    if (check_string(ck, settings, path, "address", true, &out->address))
        check_http_url(ck, settings, path, "address", out->address);
    check_bool(ck, settings, path, "insecureSSL", &out->insecure_ssl);
    check_string(ck, settings, path, "caFile", false, &out->ca_file);
    check_bool(ck, settings, path, "checkpoint", &out->checkpoint);
    check_string(ck, settings, path, "checkpointDir", false, &out->checkpoint_dir);
    check_duration(ck, settings, path, "maxReplayAge", &out->max_replay_age_seconds);
    read_event_format(ck, settings, path, &out->sources_for_knative_format);
    unsigned allowed =
        full ? AUTH_ALLOW(AUTH_BASIC) : AUTH_ALLOW(AUTH_BASIC) | AUTH_ALLOW(AUTH_ACTIVE_DIRECTORY);
    read_auth(ck, settings, path, allowed, &out->auth);
}

/* VEBA's horizon block; auth is required and must be active_directory with all three fields,
 * because the Horizon REST login takes a domain (VEBA refuses UPN logins too). */
static void read_horizon(config_checker *ck, const ynode *settings, const char *path,
                         config_horizon *out)
{
    check_known_keys(ck, settings, path,
                     (const char *const[]){"address", "insecureSSL", "caFile", "checkpoint",
                                           "checkpointDir", "maxReplayAge", "eventFormat", "auth",
                                           NULL});
    if (check_string(ck, settings, path, "address", true, &out->address))
        check_http_url(ck, settings, path, "address", out->address);
    check_bool(ck, settings, path, "insecureSSL", &out->insecure_ssl);
    check_string(ck, settings, path, "caFile", false, &out->ca_file);
    check_bool(ck, settings, path, "checkpoint", &out->checkpoint);
    check_string(ck, settings, path, "checkpointDir", false, &out->checkpoint_dir);
    check_duration(ck, settings, path, "maxReplayAge", &out->max_replay_age_seconds);
    read_event_format(ck, settings, path, &out->sources_for_knative_format);
    if (check_map(ck, settings, path, "auth", true))
        read_auth(ck, settings, path, AUTH_ALLOW(AUTH_ACTIVE_DIRECTORY), &out->auth);
}

void config_read_provider(config_checker *ck, const ynode *map, const char *path,
                          config_provider *out, const ynode **name_node)
{
    check_known_keys(
        ck, map, path,
        (const char *const[]){"type", "name", "webhook", "vcenter", "vcsim", "horizon", NULL});
    if (check_string(ck, map, path, "name", true, &out->name))
        *name_node = check_value(ck, map, path, "name", false);
    out->webhook.max_body_bytes = 4 * 1024 * 1024;
    const type_support *type = read_type(ck, map, path, provider_types, COUNT(provider_types));
    if (!type)
        return;
    char section_path[256];
    const ynode *settings = read_type_section(ck, map, path, provider_types, COUNT(provider_types),
                                              type, section_path, sizeof section_path);
    if (strcmp(type->type, "webhook") == 0) {
        out->kind = PROVIDER_WEBHOOK;
        if (settings)
            read_webhook(ck, settings, section_path, &out->webhook);
    } else if (strcmp(type->type, "horizon") == 0) {
        out->kind = PROVIDER_HORIZON;
        out->horizon.max_replay_age_seconds = 3600;
        if (settings)
            read_horizon(ck, settings, section_path, &out->horizon);
        if (!out->horizon.checkpoint_dir)
            out->horizon.checkpoint_dir = strdup("./checkpoints");
    } else {
        out->kind = PROVIDER_VCENTER;
        out->vcenter.max_replay_age_seconds = 3600;
        bool full = strcmp(type->type, "vcenter") == 0;
        if (settings)
            read_vcenter(ck, settings, section_path, &out->vcenter, full);
        if (!out->vcenter.checkpoint_dir)
            out->vcenter.checkpoint_dir = strdup("./checkpoints");
    }
    report_not_supported(ck, map, path, "eventProvider", type);
}

void config_provider_clear(config_provider *provider)
{
    free(provider->name);
    free(provider->webhook.bind_address);
    free(provider->webhook.path);
    config_auth_clear(&provider->webhook.auth);
    free(provider->vcenter.address);
    free(provider->vcenter.ca_file);
    free(provider->vcenter.checkpoint_dir);
    config_auth_clear(&provider->vcenter.auth);
    free(provider->horizon.address);
    free(provider->horizon.ca_file);
    free(provider->horizon.checkpoint_dir);
    config_auth_clear(&provider->horizon.auth);
    memset(provider, 0, sizeof *provider);
}

const char *config_provider_type_name(config_provider_kind kind)
{
    switch (kind) {
    case PROVIDER_WEBHOOK:
        return "webhook";
    case PROVIDER_VCENTER:
        return "vcenter";
    case PROVIDER_HORIZON:
        return "horizon";
    }
    return "unknown";
}

const char *config_provider_address(const config_provider *provider)
{
    switch (provider->kind) {
    case PROVIDER_WEBHOOK:
        return provider->webhook.bind_address;
    case PROVIDER_VCENTER:
        return provider->vcenter.address;
    case PROVIDER_HORIZON:
        return provider->horizon.address;
    }
    return "";
}

const config_auth *config_provider_auth(const config_provider *provider)
{
    switch (provider->kind) {
    case PROVIDER_WEBHOOK:
        return &provider->webhook.auth;
    case PROVIDER_VCENTER:
        return &provider->vcenter.auth;
    case PROVIDER_HORIZON:
        return &provider->horizon.auth;
    }
    return &provider->webhook.auth;
}

/* VEBA writes a Knative URI as Go's url.URL fields; we also accept a plain string. */
static void read_knative_uri(config_checker *ck, const ynode *destination, const char *path,
                             config_knative *out)
{
    char uri_path[256];
    check_path(uri_path, sizeof uri_path, path, "uri");
    const ynode *uri = check_value(ck, destination, path, "uri", false);
    if (uri->kind == YNODE_SCALAR) {
        check_string(ck, destination, path, "uri", true, &out->uri);
        check_http_url(ck, destination, path, "uri", out->uri);
        return;
    }
    const ynode *parts = check_map(ck, destination, path, "uri", true);
    if (!parts)
        return;
    check_known_keys(ck, parts, uri_path, (const char *const[]){"scheme", "host", "path", NULL});
    char *scheme = NULL, *host = NULL, *url_path = NULL;
    bool ok = check_string(ck, parts, uri_path, "scheme", true, &scheme);
    ok = check_string(ck, parts, uri_path, "host", true, &host) && ok;
    check_string(ck, parts, uri_path, "path", false, &url_path);
    if (scheme && strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
        const ynode *value = check_value(ck, parts, uri_path, "scheme", false);
        char field[256];
        check_path(field, sizeof field, uri_path, "scheme");
        check_error_at(ck, value->line, value->col, field, "expected http or https, got '%.20s'",
                       scheme);
        ok = false;
    }
    if (ok) {
        const char *slash = url_path && url_path[0] != '/' ? "/" : "";
        size_t len = strlen(scheme) + strlen(host) + (url_path ? strlen(url_path) : 0) + 8;
        out->uri = malloc(len);
        if (out->uri)
            snprintf(out->uri, len, "%s://%s%s%s", scheme, host, slash, url_path ? url_path : "");
    }
    free(scheme);
    free(host);
    free(url_path);
}

static void read_knative_destination(config_checker *ck, const ynode *settings, const char *path,
                                     config_knative *out)
{
    char dest_path[256], ref_path[256];
    check_path(dest_path, sizeof dest_path, path, "destination");
    const ynode *destination = check_map(ck, settings, path, "destination", true);
    if (!destination)
        return;
    check_known_keys(ck, destination, dest_path, (const char *const[]){"uri", "ref", NULL});
    bool has_uri = check_value(ck, destination, dest_path, "uri", false) != NULL;
    bool has_ref = check_value(ck, destination, dest_path, "ref", false) != NULL;
    if (has_uri == has_ref) {
        check_error_at(ck, destination->line, destination->col, dest_path,
                       "set exactly one of 'uri' and 'ref'");
        return;
    }
    if (has_uri) {
        read_knative_uri(ck, destination, dest_path, out);
        return;
    }
    check_path(ref_path, sizeof ref_path, dest_path, "ref");
    const ynode *ref = check_map(ck, destination, dest_path, "ref", true);
    if (!ref)
        return;
    check_known_keys(ck, ref, ref_path,
                     (const char *const[]){"apiVersion", "kind", "name", "namespace", NULL});
    out->has_ref = true;
    check_string(ck, ref, ref_path, "apiVersion", true, &out->ref.api_version);
    check_string(ck, ref, ref_path, "kind", true, &out->ref.kind);
    check_string(ck, ref, ref_path, "name", true, &out->ref.name);
    if (!check_string(ck, ref, ref_path, "namespace", false, &out->ref.namespace_))
        out->ref.namespace_ = strdup("default");
}

static void read_knative(config_checker *ck, const ynode *settings, const char *path,
                         config_knative *out)
{
    check_known_keys(
        ck, settings, path,
        (const char *const[]){"encoding", "insecureSSL", "caFile", "destination", "auth", NULL});
    const ynode *encoding = check_value(ck, settings, path, "encoding", false);
    char *encoding_text = NULL;
    if (encoding && check_string(ck, settings, path, "encoding", false, &encoding_text)) {
        out->structured = strcmp(encoding_text, "structured") == 0;
        if (!out->structured && strcmp(encoding_text, "binary") != 0) {
            char field[256];
            check_path(field, sizeof field, path, "encoding");
            check_error_at(ck, encoding->line, encoding->col, field,
                           "expected binary or structured, got '%.40s'", encoding_text);
        }
    }
    free(encoding_text);
    check_bool(ck, settings, path, "insecureSSL", &out->insecure_ssl);
    check_string(ck, settings, path, "caFile", false, &out->ca_file);
    read_knative_destination(ck, settings, path, out);
    read_auth(ck, settings, path, AUTH_ALLOW(AUTH_BASIC), &out->auth);
}

void config_read_processor(config_checker *ck, const ynode *map, const char *path,
                           config_processor *out, const ynode **name_node)
{
    check_known_keys(ck, map, path,
                     (const char *const[]){"type", "name", "knative", "openfaas", "awsEventBridge",
                                           "filter", NULL});
    if (check_string(ck, map, path, "name", true, &out->name))
        *name_node = check_value(ck, map, path, "name", false);
    config_read_filter(ck, map, path, &out->filter, &out->filter_text);
    const type_support *type = read_type(ck, map, path, processor_types, COUNT(processor_types));
    if (!type)
        return;
    char section_path[256];
    const ynode *settings =
        read_type_section(ck, map, path, processor_types, COUNT(processor_types), type,
                          section_path, sizeof section_path);
    out->kind = PROCESSOR_KNATIVE;
    if (settings && strcmp(type->type, "knative") == 0) {
        read_knative(ck, settings, section_path, &out->knative);
    } else if (strcmp(type->type, "aws_event_bridge") == 0) {
        out->kind = PROCESSOR_EVENTBRIDGE;
        if (settings)
            config_read_eventbridge(ck, settings, section_path, &out->eventbridge);
    } else if (strcmp(type->type, "openfaas") == 0) {
        out->kind = PROCESSOR_OPENFAAS;
        if (settings)
            config_read_openfaas(ck, settings, section_path, &out->openfaas);
    }
    report_not_supported(ck, map, path, "eventProcessor", type);
}

void config_processor_clear(config_processor *processor)
{
    config_knative *knative = &processor->knative;
    free(processor->name);
    free(knative->ca_file);
    free(knative->uri);
    free(knative->ref.api_version);
    free(knative->ref.kind);
    free(knative->ref.name);
    free(knative->ref.namespace_);
    config_auth_clear(&knative->auth);
    config_eventbridge_clear(&processor->eventbridge);
    event_pattern_free(processor->filter);
    free(processor->filter_text);
    config_openfaas_clear(&processor->openfaas);
    memset(processor, 0, sizeof *processor);
}

void config_read_metrics(config_checker *ck, const ynode *map, const char *path,
                         config_metrics *out)
{
    check_known_keys(ck, map, path, (const char *const[]){"type", "name", "default", NULL});
    char *name = NULL;
    check_string(ck, map, path, "name", true, &name);
    free(name);
    static const type_support metrics_types[] = {{"default", "default", true}};
    read_type(ck, map, path, metrics_types, COUNT(metrics_types));
    out->enabled = true;
    char section_path[256];
    check_path(section_path, sizeof section_path, path, "default");
    const ynode *settings = check_map(ck, map, path, "default", false);
    check_known_keys(ck, settings, section_path,
                     (const char *const[]){"bindAddress", "auth", NULL});
    check_host_port(ck, settings, section_path, "bindAddress", false, &out->bind_address);
    read_auth(ck, settings, section_path, AUTH_ALLOW(AUTH_BASIC), &out->auth);
    if (!out->bind_address)
        out->bind_address = strdup("127.0.0.1:8082");
}
