/* Counters and histograms of the whole engine, rendered as the VMware Event Router's /stats JSON
 * and as Prometheus text for /metrics. Single-threaded: only the loop thread touches them. */
#ifndef EVENT_ROUTER_METRICS_H
#define EVENT_ROUTER_METRICS_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

typedef struct provider_stats {
    char *name;
    char *type;
    char *address;
    time_t started;
    uint64_t events_total;      /* taken in */
    uint64_t events_err;        /* refused (invalid, unauthorized, queue full) */
    uint64_t unknown_classes;   /* vCenter: types not in the generated table, converted anyway */
    uint64_t events_lost;       /* vCenter: keys older than the history it keeps (or unreadable) */
    uint64_t event_keys_absent; /* vCenter: keys its history does not hold (vCenter skipped them) */
} provider_stats;

typedef struct subject_count {
    char *subject;
    uint64_t success;
    uint64_t failure;
} subject_count;

/* One sample a processor keeps itself, given to emit at render time: family is the metric name
 * (its # HELP and # TYPE are written once however many processors emit it), suffix goes after
 * it ("_bucket", "_sum", "_count" for a histogram, else ""), and up to two labels follow the
 * processor label (NULL names: none). */
typedef void (*metrics_sample_emit_fn)(void *ctx, const char *family, const char *type,
                                       const char *help, const char *suffix, const char *label1,
                                       const char *value1, const char *label2, const char *value2,
                                       double value);

typedef struct processor_stats {
    char *name;
    char *type;
    subject_count *subjects; /* invocations per subject (event type for events without one) */
    size_t subject_count;
    size_t subject_cap;
    uint64_t delivered;
    uint64_t failed; /* final failures (dead-lettered) */
    uint64_t retries;
    uint64_t filtered; /* events its filter did not match: acknowledged, not delivered */
    uint64_t in_flight;
    /* deliveries by HTTP status class: index 0 = transport error, 1..5 = 1xx..5xx */
    uint64_t responses_by_class[6];
    char *address; /* the target's URI for /stats; NULL renders as "" */
    /* One target inside a fan-out processor (an OpenFaaS function): in /metrics, not in /stats,
     * where VEBA's shape has only the processor itself. */
    int metrics_only;
    /* Optional: the processor's own samples (OpenFaaS: function list age, refresh failures). */
    void (*samples)(void *user, metrics_sample_emit_fn emit, void *ctx);
    void *samples_user;
} processor_stats;

/* A hostile stream can invent a new subject per event; beyond this many distinct subjects per
 * processor the rest are counted under METRICS_OTHER_SUBJECT, and subjects are cut to
 * METRICS_SUBJECT_MAX_BYTES (at a UTF-8 boundary), so memory stays bounded. */
#define METRICS_MAX_SUBJECTS 1000
#define METRICS_SUBJECT_MAX_BYTES 256
#define METRICS_OTHER_SUBJECT "other"

#define METRICS_LATENCY_BUCKETS 12

typedef size_t (*metrics_gauge_fn)(void *user);

/* The queue's and the dead-letter writer's state, asked for at render time. */
typedef struct metrics_queue_sample {
    size_t queued_bytes;                /* event bytes waiting in the queue */
    size_t in_delivery;                 /* events in the dispatchers */
    size_t in_delivery_bytes;           /* their bytes */
    bool disk;                          /* a disk queue is configured */
    uint64_t disk_bytes;                /* its live segment bytes */
    uint64_t fsyncs;                    /* fdatasync and directory fsync calls */
    uint64_t commits;                   /* group commits (writes), synced or not */
    bool disk_healthy;                  /* its last write and sync succeeded */
    size_t deadletter_pending;          /* events whose dead-letter write failed, being retried */
    uint64_t deadletter_write_failures; /* failed dead-letter writes */
} metrics_queue_sample;

/* The leader election's state, asked for at render time (ha/leader_election.h). */
typedef struct metrics_leader_sample {
    bool enabled; /* leaderElection is configured */
    bool leading;
    uint64_t transitions; /* times this replica started leading */
    const char *holder;   /* the lease's holder as last seen; "" when free or unknown */
    const char *identity; /* this replica's */
} metrics_leader_sample;

typedef struct metrics {
    time_t started;
    uint64_t events_in;
    uint64_t events_out; /* finished: delivered by every processor it was routed to */
    uint64_t events_dropped;
    uint64_t events_dead_lettered;
    provider_stats **providers;
    size_t provider_count;
    processor_stats **processors;
    size_t processor_count;
    /* intake-to-delivery latency, seconds; cumulative counts per upper bound */
    uint64_t latency_buckets[METRICS_LATENCY_BUCKETS];
    uint64_t latency_count;
    double latency_sum;
    metrics_gauge_fn queue_depth; /* events accepted and not finished: queue + dispatchers */
    void *queue_depth_user;
    void (*queue_samples)(void *user, metrics_queue_sample *out);
    void *queue_samples_user;
    /* the disk queue's synced commits: seconds in write + fdatasync, same bounds as latency */
    uint64_t commit_buckets[METRICS_LATENCY_BUCKETS];
    uint64_t commit_count;
    double commit_sum;
    uint64_t queue_recovered_events; /* read back from the disk queue at start */
    uint64_t queue_torn_records;     /* skipped there as torn or corrupt */

    /* Script reloads (SIGHUP, console): counts, when the last one ran and why it failed. */
    uint64_t reloads_total;
    uint64_t reload_failures_total;
    time_t last_reload;          /* 0: never */
    char last_reload_error[512]; /* "" after a successful reload */
    uint64_t script_errors_total;
    /* The scripts' own samples, asked for at render time because the chain (and so the set of
     * scripts) changes on reload. emit's name is NULL for a script's error count. */
    void (*script_samples)(void *user,
                           void (*emit)(void *ctx, const char *script, const char *name,
                                        double value),
                           void *ctx);
    void *script_samples_user;
    void (*leader_samples)(void *user, metrics_leader_sample *out); /* NULL: no election */
    void *leader_samples_user;
} metrics;

extern const double metrics_latency_bounds[METRICS_LATENCY_BUCKETS];

metrics *metrics_new(void);
void metrics_free(metrics *m);

provider_stats *metrics_add_provider(metrics *m, const char *name, const char *type,
                                     const char *address);
processor_stats *metrics_add_processor(metrics *m, const char *name, const char *type);

/* Sets (copies) the target address shown in /stats. */
void metrics_set_processor_address(processor_stats *p, const char *address);

/* One final outcome of one event at one processor: counts it per subject and in delivered (success)
 * or failed (otherwise), so callers do not touch those two counters themselves. subject may be NULL
 * (counted under ""). */
void metrics_processor_outcome(processor_stats *p, const char *subject, int success);
/* Counts one attempt's answer in responses_by_class: http_status 0 (no answer) is a transport
 * error; 100..599 by class; anything else also counts as an error. */
void metrics_count_response(processor_stats *p, long http_status);
void metrics_observe_latency(metrics *m, double seconds);
/* A disk queue commit's time in write + fdatasync (engine/disk_queue.h). */
void metrics_observe_commit(metrics *m, double seconds);

/* /stats: the VMware Event Router's JSON shape. Returns a malloc'd string. */
char *metrics_render_stats(const metrics *m);
/* /metrics: Prometheus text exposition format 0.0.4. Returns a malloc'd string. */
char *metrics_render_prometheus(const metrics *m);

#endif
