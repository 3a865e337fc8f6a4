/* Counters and histograms of the whole engine, rendered as the VMware Event Router's /stats JSON
 * and as Prometheus text for /metrics. Single-threaded: only the loop thread touches them. */
#ifndef EVENT_ROUTER_METRICS_H
#define EVENT_ROUTER_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef struct provider_stats {
    char *name;
    char *type;
    char *address;
    time_t started;
    uint64_t events_total; /* taken in */
    uint64_t events_err;   /* refused (invalid, unauthorized, queue full) */
} provider_stats;

typedef struct subject_count {
    char *subject;
    uint64_t success;
    uint64_t failure;
} subject_count;

typedef struct processor_stats {
    char *name;
    char *type;
    subject_count *subjects; /* invocations per subject (event type for events without one) */
    size_t subject_count;
    size_t subject_cap;
    uint64_t delivered;
    uint64_t failed; /* final failures (dead-lettered) */
    uint64_t retries;
    uint64_t in_flight;
    /* deliveries by HTTP status class: index 0 = transport error, 1..5 = 1xx..5xx */
    uint64_t responses_by_class[6];
} processor_stats;

#define METRICS_LATENCY_BUCKETS 12

typedef size_t (*metrics_gauge_fn)(void *user);

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
    metrics_gauge_fn queue_depth;
    void *queue_depth_user;
} metrics;

extern const double metrics_latency_bounds[METRICS_LATENCY_BUCKETS];

metrics *metrics_new(void);
void metrics_free(metrics *m);

provider_stats *metrics_add_provider(metrics *m, const char *name, const char *type,
                                     const char *address);
processor_stats *metrics_add_processor(metrics *m, const char *name, const char *type);

/* One final outcome of one event at one processor. subject may be NULL. */
void metrics_processor_outcome(processor_stats *p, const char *subject, int success);
void metrics_observe_latency(metrics *m, double seconds);

/* /stats: the VMware Event Router's JSON shape. Returns a malloc'd string. */
char *metrics_render_stats(const metrics *m);
/* /metrics: Prometheus text exposition format 0.0.4. Returns a malloc'd string. */
char *metrics_render_prometheus(const metrics *m);

#endif
