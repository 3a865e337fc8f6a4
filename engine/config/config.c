/* RouterConfig loading: YAML text -> position-keeping tree (config_yaml.c) -> checked, typed
 * config (this file for the document and our extensions, config_sections.c for providers,
 * processors and metrics). Nothing is returned unless the whole file is valid. */
#include "config/config.h"
#include "config/config_check.h"
#include "config/config_sections.h"
#include "config/config_yaml.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_API_VERSION "event-router.vmware.com/v1alpha1"
#define CONFIG_KIND "RouterConfig"
/* A RouterConfig is a few kilobytes; anything this large is the wrong file. */
#define CONFIG_FILE_MAX (1024 * 1024)

static void set_defaults(config *cfg)
{
    cfg->delivery = (config_delivery){
        .timeout_seconds = 30,
        .connect_timeout_seconds = 5,
        .retries = 10,
        .backoff_initial_seconds = 0.5,
        .backoff_max_seconds = 30,
        .max_in_flight = 64,
        .max_in_flight_bytes = 64u * 1024 * 1024,
    };
    cfg->queue_capacity = 4096;
    cfg->queue_type = QUEUE_DISK;
    cfg->queue_max_bytes = 64u * 1024 * 1024;
    cfg->queue_segment_bytes = 8u * 1024 * 1024;
    cfg->queue_sync_interval_seconds = 0;
}

static void read_header(config_checker *ck, const ynode *root, config *cfg)
{
    static const struct {
        const char *key, *expected;
    } fixed[] = {{"apiVersion", CONFIG_API_VERSION}, {"kind", CONFIG_KIND}};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
        char *text = NULL;
        if (check_string(ck, root, "", fixed[i].key, true, &text) &&
            strcmp(text, fixed[i].expected) != 0) {
            const ynode *value = check_value(ck, root, "", fixed[i].key, false);
            check_error_at(ck, value->line, value->col, fixed[i].key, "expected '%s', got '%.60s'",
                           fixed[i].expected, text);
        }
        free(text);
    }
    const ynode *metadata = check_map(ck, root, "", "metadata", true);
    check_known_keys(ck, metadata, "metadata", (const char *const[]){"name", "labels", NULL});
    check_string(ck, metadata, "metadata", "name", true, &cfg->name);
    const ynode *labels = check_map(ck, metadata, "metadata", "labels", false);
    for (size_t i = 0; labels && i < labels->pair_count; i++) {
        const ynode *value = labels->pairs[i].value;
        if (value->kind != YNODE_SCALAR) {
            char field[256];
            snprintf(field, sizeof field, "metadata.labels.%s", labels->pairs[i].key);
            check_error_at(ck, value->line, value->col, field, "label values must be strings");
        }
    }
}

/* Appends a zeroed element to a growing array; NULL when out of memory. */
static void *grow(void **array, size_t *count, size_t size)
{
    char *grown = realloc(*array, (*count + 1) * size);
    if (!grown)
        return NULL;
    memset(grown + *count * size, 0, size);
    *array = grown;
    return grown + (*count)++ * size;
}

/* Names identify providers and processors in logs, metrics and the console: they must differ. */
static void check_unique_names(config_checker *ck, const ynode **names, size_t count,
                               const char *const *paths)
{
    for (size_t i = 0; i < count; i++)
        for (size_t j = 0; j < i && names[i]; j++)
            if (names[j] && strcmp(names[i]->scalar, names[j]->scalar) == 0) {
                char field[256];
                check_path(field, sizeof field, paths[i], "name");
                check_error_at(ck, names[i]->line, names[i]->col, field,
                               "duplicate name '%.80s' (first used at line %d)", names[i]->scalar,
                               names[j]->line);
                break;
            }
}

typedef void (*read_item_fn)(config_checker *ck, const ynode *map, const char *path, void *out,
                             const ynode **name_node);

static void read_provider_item(config_checker *ck, const ynode *map, const char *path, void *out,
                               const ynode **name_node)
{
    config_provider *provider = out;
    provider->line = map->line;
    config_read_provider(ck, map, path, provider, name_node);
}

static void read_processor_item(config_checker *ck, const ynode *map, const char *path, void *out,
                                const ynode **name_node)
{
    config_processor *processor = out;
    processor->line = map->line;
    config_read_processor(ck, map, path, processor, name_node);
}

/* The singular VEBA key and our list form, concatenated in that order. */
static void read_items(config_checker *ck, const ynode *root, const char *singular,
                       const char *plural, void **array, size_t *count, size_t size,
                       read_item_fn read_item)
{
    const ynode *single = check_map(ck, root, "", singular, false);
    const ynode *list = check_seq(ck, root, "", plural, false);
    size_t total = (single ? 1 : 0) + (list ? list->item_count : 0);
    const ynode **names = calloc(total + 1, sizeof *names);
    char(*paths)[64] = calloc(total + 1, sizeof *paths);
    const char **path_list = calloc(total + 1, sizeof *path_list);
    if (!names || !paths || !path_list)
        goto out;
    for (size_t i = 0; i < total; i++) {
        const ynode *map = single && i == 0 ? single : list->items[i - (single ? 1 : 0)];
        if (map == single)
            snprintf(paths[i], sizeof paths[i], "%s", singular);
        else
            snprintf(paths[i], sizeof paths[i], "%s[%zu]", plural, i - (single ? 1 : 0));
        path_list[i] = paths[i];
        if (map->kind != YNODE_MAP) {
            check_error_at(ck, map->line, map->col, paths[i], "expected a mapping");
            continue;
        }
        void *item = grow(array, count, size);
        if (!item)
            break;
        read_item(ck, map, paths[i], item, &names[i]);
    }
    check_unique_names(ck, names, total, path_list);
out:
    free(names);
    free(paths);
    free(path_list);
}

static void read_extensions(config_checker *ck, const ynode *root, config *cfg)
{
    const ynode *scripts = check_map(ck, root, "", "scripts", false);
    check_known_keys(
        ck, scripts, "scripts",
        (const char *const[]){"dir", "instructionLimit", "memoryLimit", "timeLimitMs", NULL});
    check_string(ck, scripts, "scripts", "dir", scripts != NULL, &cfg->scripts_dir);
    int instruction_limit = 0;
    if (check_int(ck, scripts, "scripts", "instructionLimit", 1000, 1000000000, &instruction_limit))
        cfg->script_instruction_limit = instruction_limit;
    check_size(ck, scripts, "scripts", "memoryLimit", &cfg->script_memory_limit);
    int time_limit_ms = 0;
    if (check_int(ck, scripts, "scripts", "timeLimitMs", 1, 60000, &time_limit_ms))
        cfg->script_time_limit_ms = time_limit_ms;

    const ynode *console = check_map(ck, root, "", "console", false);
    check_known_keys(ck, console, "console",
                     (const char *const[]){"socket", "tcpAddress", "token", "tokenFile", NULL});
    cfg->console_enabled = console != NULL;
    check_string(ck, console, "console", "socket", false, &cfg->console_socket);
    if (check_host_port(ck, console, "console", "tcpAddress", false, &cfg->console_tcp_address))
        check_secret(ck, console, "console", "token", true, &cfg->console_token);

    const ynode *dead_letter = check_map(ck, root, "", "deadLetter", false);
    check_known_keys(ck, dead_letter, "deadLetter", (const char *const[]){"dir", NULL});
    check_string(ck, dead_letter, "deadLetter", "dir", false, &cfg->deadletter_dir);
    if (!cfg->deadletter_dir)
        cfg->deadletter_dir = strdup("./deadletter");

    const ynode *queue = check_map(ck, root, "", "queue", false);
    check_known_keys(ck, queue, "queue",
                     (const char *const[]){"type", "capacity", "dir", "maxBytes", "segmentBytes",
                                           "syncInterval", NULL});
    int capacity;
    if (check_int(ck, queue, "queue", "capacity", 1, 100000000, &capacity))
        cfg->queue_capacity = (size_t)capacity;
    char *queue_type = NULL;
    if (check_string(ck, queue, "queue", "type", false, &queue_type)) {
        if (strcmp(queue_type, "memory") == 0) {
            cfg->queue_type = QUEUE_MEMORY;
        } else if (strcmp(queue_type, "disk") != 0) {
            const ynode *at = check_value(ck, queue, "queue", "type", false);
            check_error_at(ck, at->line, at->col, "queue.type",
                           "expected 'disk' or 'memory', got '%.60s'", queue_type);
        }
    }
    free(queue_type);
    check_string(ck, queue, "queue", "dir", false, &cfg->queue_dir);
    check_size(ck, queue, "queue", "maxBytes", &cfg->queue_max_bytes);
    check_size(ck, queue, "queue", "segmentBytes", &cfg->queue_segment_bytes);
    check_duration_or_zero(ck, queue, "queue", "syncInterval", &cfg->queue_sync_interval_seconds);
    if (cfg->queue_max_bytes < 1024 * 1024 && queue) {
        const ynode *at = check_value(ck, queue, "queue", "maxBytes", false);
        check_error_at(ck, at ? at->line : queue->line, at ? at->col : queue->col, "queue.maxBytes",
                       "must be at least 1MiB");
    }
    /* Space comes back a whole segment at a time: keep several segments in the bound. */
    if (cfg->queue_segment_bytes > cfg->queue_max_bytes / 4)
        cfg->queue_segment_bytes = cfg->queue_max_bytes / 4;
    if (!cfg->queue_dir) {
        /* Beside the dead letters: the router's state lives in one place, and two routers with
         * their own dead-letter directories never share a queue. */
        const char *dl = cfg->deadletter_dir;
        const char *slash = strrchr(dl, '/');
        size_t prefix = slash ? (size_t)(slash - dl) + 1 : 0;
        cfg->queue_dir = malloc(prefix + sizeof "queue");
        if (cfg->queue_dir) {
            memcpy(cfg->queue_dir, dl, prefix);
            memcpy(cfg->queue_dir + prefix, "queue", sizeof "queue");
        }
    }

    const ynode *delivery = check_map(ck, root, "", "delivery", false);
    config_delivery *d = &cfg->delivery;
    check_known_keys(ck, delivery, "delivery",
                     (const char *const[]){"timeout", "connectTimeout", "retries", "backoffInitial",
                                           "backoffMax", "maxInFlight", "maxInFlightBytes", NULL});
    check_duration(ck, delivery, "delivery", "timeout", &d->timeout_seconds);
    check_duration(ck, delivery, "delivery", "connectTimeout", &d->connect_timeout_seconds);
    check_int(ck, delivery, "delivery", "retries", 0, 1000000, &d->retries);
    check_duration(ck, delivery, "delivery", "backoffInitial", &d->backoff_initial_seconds);
    bool max_given =
        check_duration(ck, delivery, "delivery", "backoffMax", &d->backoff_max_seconds);
    check_int(ck, delivery, "delivery", "maxInFlight", 1, 100000, &d->max_in_flight);
    check_size(ck, delivery, "delivery", "maxInFlightBytes", &d->max_in_flight_bytes);
    if (d->backoff_max_seconds < d->backoff_initial_seconds) {
        const ynode *at =
            max_given ? check_value(ck, delivery, "delivery", "backoffMax", false) : delivery;
        check_error_at(ck, at->line, at->col, "delivery.backoffMax",
                       "must not be shorter than backoffInitial");
    }
}

static void read_config(config_checker *ck, const ynode *root, config *cfg)
{
    check_known_keys(ck, root, "",
                     (const char *const[]){"apiVersion", "kind", "metadata", "eventProvider",
                                           "eventProviders", "eventProcessor", "eventProcessors",
                                           "metricsProvider", "scripts", "console", "deadLetter",
                                           "delivery", "queue", "leaderElection", "checkpointStore",
                                           NULL});
    read_header(ck, root, cfg);
    size_t errors_before = ck->errors->count;
    read_items(ck, root, "eventProvider", "eventProviders", (void **)&cfg->providers,
               &cfg->provider_count, sizeof *cfg->providers, read_provider_item);
    if (cfg->provider_count == 0 && ck->errors->count == errors_before)
        check_error_at(ck, root->line, root->col, "eventProvider",
                       "at least one event provider is required (eventProvider or "
                       "eventProviders)");
    errors_before = ck->errors->count;
    read_items(ck, root, "eventProcessor", "eventProcessors", (void **)&cfg->processors,
               &cfg->processor_count, sizeof *cfg->processors, read_processor_item);
    if (cfg->processor_count == 0 && ck->errors->count == errors_before)
        check_error_at(ck, root->line, root->col, "eventProcessor",
                       "at least one event processor is required (eventProcessor or "
                       "eventProcessors)");
    const ynode *metrics = check_map(ck, root, "", "metricsProvider", false);
    if (metrics)
        config_read_metrics(ck, metrics, "metricsProvider", &cfg->metrics);
    read_extensions(ck, root, cfg);
    config_read_high_availability(ck, root, cfg);
}

config *config_parse(const char *name, const char *yaml, size_t len, config_errors *errors)
{
    config_errors scratch = {0};
    config_errors *sink = errors ? errors : &scratch;
    size_t errors_before = sink->count;
    config *cfg = NULL;
    ynode *root = ynode_parse(name, yaml, len, sink);
    if (root && root->kind != YNODE_MAP) {
        config_errors_add(sink, name, root->line, root->col, NULL,
                          "the configuration must be a mapping (apiVersion, kind, ...)");
    } else if (root) {
        cfg = calloc(1, sizeof *cfg);
        if (cfg) {
            set_defaults(cfg);
            cfg->path = strdup(name);
            config_checker ck = {.file = name, .errors = sink};
            read_config(&ck, root, cfg);
        }
    }
    ynode_free(root);
    if (!cfg && sink->count == errors_before)
        config_errors_add(sink, name, 1, 1, NULL, "out of memory");
    if (cfg && sink->count != errors_before) {
        config_free(cfg);
        cfg = NULL;
    }
    config_errors_free(&scratch);
    return cfg;
}

config *config_load(const char *path, config_errors *errors)
{
    FILE *file = fopen(path, "rb");
    if (!file) {
        config_errors_add(errors, path, 1, 1, NULL, "cannot open the configuration: %s",
                          strerror(errno));
        return NULL;
    }
    char *text = malloc(CONFIG_FILE_MAX + 1);
    size_t len = text ? fread(text, 1, CONFIG_FILE_MAX + 1, file) : 0;
    bool failed = !text || ferror(file);
    fclose(file);
    if (failed || len > CONFIG_FILE_MAX) {
        config_errors_add(errors, path, 1, 1, NULL, "cannot read the configuration: %s",
                          failed ? "read error" : "file is larger than 1 MiB");
        free(text);
        return NULL;
    }
    config *cfg = config_parse(path, text, len, errors);
    free(text);
    return cfg;
}

void config_free(config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->provider_count; i++)
        config_provider_clear(&cfg->providers[i]);
    free(cfg->providers);
    for (size_t i = 0; i < cfg->processor_count; i++)
        config_processor_clear(&cfg->processors[i]);
    free(cfg->processors);
    free(cfg->metrics.bind_address);
    config_auth_clear(&cfg->metrics.auth);
    free(cfg->path);
    free(cfg->name);
    free(cfg->scripts_dir);
    free(cfg->console_socket);
    free(cfg->console_tcp_address);
    free(cfg->console_token);
    free(cfg->deadletter_dir);
    free(cfg->queue_dir);
    free(cfg->leader_election.lease_name);
    free(cfg->leader_election.lease_namespace);
    free(cfg->leader_election.identity);
    free(cfg->checkpoint_store.name);
    free(cfg->checkpoint_store.namespace_);
    free(cfg);
}
