/* Configuration: the VMware Event Router's RouterConfig (apiVersion
 * event-router.vmware.com/v1alpha1) in YAML, plus our optional extensions.
 *
 * config_load() reads and validates the whole file and collects every problem it finds as
 * "file:line:col: field: message" so check-config can print them all at once. The resulting
 * struct is plain data owned by the config (free with config_free). Secrets given as
 * passwordFile/env references are resolved at load time and registered with the logger's mask. */
#ifndef EVENT_ROUTER_CONFIG_H
#define EVENT_ROUTER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    AUTH_NONE = 0,
    AUTH_BASIC,            /* type: basic_auth, basicAuth: {username, password} */
    AUTH_AWS_ACCESS_KEY,   /* type: aws_access_key, awsAccessKeyAuth: {accessKey, secretKey} */
    AUTH_AWS_IAM_ROLE,     /* type: aws_iam_role */
    AUTH_ACTIVE_DIRECTORY, /* type: active_directory, activeDirectoryAuth: {domain, username,
                              password} */
} config_auth_type;

typedef struct config_auth {
    config_auth_type type;
    char *username;
    char *password; /* secret */
    char *domain;
    char *access_key;
    char *secret_key;    /* secret */
    char *session_token; /* secret; awsAccessKeyAuth.sessionToken (temporary keys), optional */
} config_auth;

typedef struct config_webhook {
    char *bind_address; /* "host:port" */
    char *path;         /* never "/" */
    config_auth auth;
    size_t max_body_bytes; /* 413 above this; default 4 MiB */
    /* Intake bounds against floods and slow clients; 0 means the server's default
     * (http/http_server.h): 512 connections, 64 MiB of bodies in flight, 10 s / 30 s / 120 s. */
    int max_connections;             /* maxConnections */
    size_t max_body_bytes_in_flight; /* maxBodySizeInFlight: all connections together */
    double header_timeout_seconds;   /* headerTimeout: request line and headers */
    double body_timeout_seconds;     /* bodyTimeout: the whole body */
    double idle_timeout_seconds;     /* idleTimeout: keep-alive between requests */
} config_webhook;

typedef struct config_vcenter {
    char *address; /* https://host/sdk */
    bool insecure_ssl;
    char *ca_file;
    bool checkpoint;
    char *checkpoint_dir;
    double max_replay_age_seconds;   /* maxReplayAge: how far back a checkpoint may resume; 1h */
    bool sources_for_knative_format; /* eventFormat: sources-for-knative; default router */
    config_auth auth;
} config_vcenter;

/* VEBA's horizon provider: address, insecureSSL and an active_directory login (domain, username
 * and password all required), plus our caFile, checkpoints and event format. */
typedef struct config_horizon {
    char *address; /* https://horizon.example.com, the REST API's base */
    bool insecure_ssl;
    char *ca_file;
    bool checkpoint;
    char *checkpoint_dir;
    double max_replay_age_seconds;   /* maxReplayAge: how far back a checkpoint may resume; 1h */
    bool sources_for_knative_format; /* eventFormat: sources-for-knative; default router */
    config_auth auth;                /* always AUTH_ACTIVE_DIRECTORY */
} config_horizon;

typedef enum { PROVIDER_WEBHOOK, PROVIDER_VCENTER, PROVIDER_HORIZON } config_provider_kind;

typedef struct config_provider {
    char *name;
    config_provider_kind kind;
    int line; /* where it was declared, for later messages */
    config_webhook webhook;
    config_vcenter vcenter;
    config_horizon horizon;
} config_provider;

/* The provider's type name as the config spells it ("webhook", "vcenter", "horizon"). */
const char *config_provider_type_name(config_provider_kind kind);
/* Where the provider listens or connects (never holds a secret). */
const char *config_provider_address(const config_provider *provider);
/* The provider's own auth block (the login it uses, or the one it demands). */
const config_auth *config_provider_auth(const config_provider *provider);

typedef struct config_k8s_ref {
    char *api_version;
    char *kind;
    char *name;
    char *namespace_; /* default "default" */
} config_k8s_ref;

typedef struct config_knative {
    bool structured; /* encoding: structured; default binary */
    bool insecure_ssl;
    char *ca_file;
    char *uri; /* a string, or built from VEBA's {scheme, host, path}; NULL when ref is used */
    bool has_ref;
    config_k8s_ref ref;
    config_auth auth;
} config_knative;

/* awsEventBridge: VEBA's {region, eventBus, ruleARN, auth} plus our extensions. */
typedef struct config_eventbridge {
    char *region;
    char *event_bus;  /* a bus name or a bus ARN */
    char **rule_arns; /* ruleARN, then rules: [...], each once */
    size_t rule_count;
    config_auth auth; /* AUTH_NONE or AUTH_AWS_IAM_ROLE: the default chain; AUTH_AWS_ACCESS_KEY:
                         those keys */
    char *endpoint;   /* NULL: https://events.<region>.amazonaws.com */
    double rule_refresh_seconds;    /* ruleRefresh; default 300 */
    int batch_max_entries;          /* batch.maxEntries, 1..10; default 10 */
    double batch_max_delay_seconds; /* batch.maxDelay; default 0.02 */
    int rate_limit;                 /* rateLimit: PutEvents calls per second; 0: none */
    char **resources;               /* resources: every entry's Resources (ARNs); none by default */
    size_t resource_count;
} config_eventbridge;

typedef struct config_header {
    char *name;
    char *value;
} config_header;

/* openfaas: VEBA's {address, async, auth} plus our extensions (config_openfaas.c). */
typedef struct config_openfaas {
    char *address;    /* the gateway, http(s)://host:port, no trailing slash */
    bool async;       /* invoke /async-function/ (202 is success) */
    config_auth auth; /* basic_auth for the /system endpoints; AUTH_NONE when left out */
    double topic_refresh_seconds; /* topicRefresh; default 10 */
    double timeout_seconds;       /* timeout per invocation; 0: delivery.timeout */
    config_header *headers;       /* headers: {name: value} sent on every invocation */
    size_t header_count;
    bool topic_from_subject; /* topicFrom: [subject, type]; default subject only (VEBA) */
    bool topic_from_type;
    bool unmatched_deadletter; /* unmatched: deadletter (default: ack and count) */
    bool invoke_with_auth;     /* invokeWithAuth: send the basic auth on invocations too */
    /* callback: {bindAddress, path, url, deadline, onFailure} (async only); NULL bind: none */
    char *callback_bind_address;
    char *callback_path;              /* default /callback */
    char *callback_url;               /* what the gateway calls; NULL: http://bindAddress/path */
    double callback_deadline_seconds; /* default 300 */
    bool callback_retry;              /* onFailure: retry (default deadletter) */
} config_openfaas;

typedef enum { PROCESSOR_KNATIVE, PROCESSOR_EVENTBRIDGE, PROCESSOR_OPENFAAS } config_processor_kind;

typedef struct config_processor {
    char *name;
    config_processor_kind kind;
    int line;
    config_knative knative;
    config_eventbridge eventbridge;
    /* filter: {eventPattern: ...}: only matching events are delivered; the others are acked and
     * counted. NULL: every event (filters/event_pattern.h). */
    struct event_pattern *filter;
    char *filter_text; /* the pattern's JSON */
    config_openfaas openfaas;
} config_processor;

typedef struct config_metrics {
    bool enabled;
    char *bind_address; /* default "127.0.0.1:8082" */
    config_auth auth;
} config_metrics;

/* delivery: {...} - applies to every processor. */
typedef struct config_delivery {
    double timeout_seconds;         /* total per attempt; default 30 */
    double connect_timeout_seconds; /* default 5 */
    int retries;                    /* attempts after the first; default 10 */
    double backoff_initial_seconds; /* default 0.5 */
    double backoff_max_seconds;     /* default 30 */
    int max_in_flight;              /* per processor; default 64 */
    size_t max_in_flight_bytes;     /* events taken off the queue, all processors; 64 MiB */
} config_delivery;

typedef enum { QUEUE_DISK = 0, QUEUE_MEMORY } config_queue_type;

/* leaderElection: {...} (config_ha.c): present means high availability is on. client-go's
 * defaults: 15 s / 10 s / 2 s. */
typedef struct config_leader_election {
    bool enabled;
    char *lease_name;
    char *lease_namespace;         /* NULL: the service account's namespace file */
    char *identity;                /* given, else $POD_NAME, else the host name */
    double lease_duration_seconds; /* a whole number of seconds: the Lease holds whole seconds */
    double renew_deadline_seconds;
    double retry_period_seconds;
} config_leader_election;

typedef enum { CHECKPOINT_STORE_FILE = 0, CHECKPOINT_STORE_CONFIGMAP } config_checkpoint_store_type;

/* checkpointStore: {type: file | configmap, name, namespace}: where the vCenter source keeps its
 * checkpoint (file: the provider's checkpointDir, the default). */
typedef struct config_checkpoint_store {
    config_checkpoint_store_type type;
    char *name;       /* the ConfigMap's name */
    char *namespace_; /* NULL: as the lease's (or the service account's) */
} config_checkpoint_store;

typedef struct config {
    char *path;
    char *name; /* metadata.name */
    config_provider *providers;
    size_t provider_count;
    config_processor *processors;
    size_t processor_count;
    config_metrics metrics;
    config_delivery delivery;
    char *scripts_dir;             /* scripts: {dir}; NULL: no scripts run (as in VEBA) */
    long script_instruction_limit; /* scripts: {instructionLimit}; 0: the runtime default */
    size_t script_memory_limit;    /* scripts: {memoryLimit}; 0: the runtime default */
    long script_time_limit_ms;     /* scripts: {timeLimitMs}; 0: the runtime default */
    bool console_enabled;          /* a console: section is present */
    char *console_socket;          /* console: {socket}; NULL: the default path */
    char *console_tcp_address;     /* console: {tcpAddress}: loopback host:port, with a token */
    char *console_token;           /* console: {token | tokenFile}; secret */
    char *deadletter_dir;          /* deadLetter: {dir}; default "./deadletter" */
    size_t queue_capacity;         /* queue: {capacity}; default 4096 events */
    config_queue_type queue_type;  /* queue: {type: disk | memory}; default disk */
    char *queue_dir;               /* queue: {dir}; default "queue" beside deadLetter.dir */
    size_t queue_max_bytes;        /* queue: {maxBytes}: memory and disk; default 64 MiB */
    size_t queue_segment_bytes;    /* queue: {segmentBytes}; default 8 MiB */
    double queue_sync_interval_seconds; /* queue: {syncInterval}; default 0: no pacing */
    config_leader_election leader_election;
    config_checkpoint_store checkpoint_store;
} config;

typedef struct config_errors {
    char **messages; /* "file:line:col: field: message" */
    size_t count;
    size_t cap;
} config_errors;

/* Returns NULL and fills errors when the file cannot be read or is invalid. */
config *config_load(const char *path, config_errors *errors);
/* Same, from a string; name is used in place of the file name in messages. */
config *config_parse(const char *name, const char *yaml, size_t len, config_errors *errors);
void config_free(config *cfg);

void config_errors_add(config_errors *errors, const char *file, int line, int col,
                       const char *field, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
void config_errors_free(config_errors *errors);

#endif
