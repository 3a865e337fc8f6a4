/* The leader election's driver: timers and Lease requests on the loop. The decisions are
 * lease.c's pure functions; see leader_election.h for the protocol. */
#include "ha/leader_election.h"

#include "ha/lease.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COMPONENT "leader"
#define RELEASE_TIMEOUT_MS 1000
#define MIN_REQUEST_TIMEOUT_MS 1000

struct leader_election {
    uv_loop_t *loop;
    http_client *http;
    const k8s_api *api;
    leader_election_callbacks callbacks;
    char identity[256];
    char name[256];
    char namespace_[256];
    char object_path[1100];    /* .../leases/NAME */
    char collection_path[768]; /* .../leases */
    int lease_duration_seconds;
    double renew_deadline;
    double retry_period;
    long request_timeout_ms;

    election_view view;
    char resource_version[128];
    char *observed_json; /* the Lease as last read or written, for the next PUT */
    size_t observed_len;

    bool leading;
    double last_renew; /* monotonic seconds: when the try that last renewed started */
    double try_started;
    bool in_flight;
    bool failing; /* the last try failed: log the next failure at debug level only */
    uint64_t transitions;

    bool closing;
    bool releasing;
    void (*closed)(void *user);
    void *closed_user;
    uv_timer_t try_timer;
    uv_timer_t deadline_timer;
    int open_handles;
};

static void try_once(leader_election *le);
static void continue_close(leader_election *le);

static double monotonic_now(void)
{
    return (double)uv_hrtime() / 1e9;
}

static void wall_now_text(char *out, size_t cap)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    lease_format_micro_time((double)now.tv_sec + (double)now.tv_nsec / 1e9, out, cap);
}

static void on_try_timer(uv_timer_t *timer)
{
    try_once(timer->data);
}

static void schedule_next(leader_election *le)
{
    if (le->closing)
        return;
    double jitter = (double)rand() / ((double)RAND_MAX + 1.0);
    double delay =
        election_next_try_delay(le->leading, &le->view, le->retry_period, jitter, monotonic_now());
    uv_timer_start(&le->try_timer, on_try_timer, (uint64_t)(delay * 1000.0), 0);
}

static void stop_leading(leader_election *le, const char *why)
{
    if (!le->leading)
        return;
    le->leading = false;
    uv_timer_stop(&le->deadline_timer);
    if (le->closing)
        log_info(COMPONENT, "%s: stopped leading (lease %s/%s): %s", le->identity, le->namespace_,
                 le->name, why);
    else
        log_warn(COMPONENT, "%s: stopped leading (lease %s/%s): %s", le->identity, le->namespace_,
                 le->name, why);
    if (le->callbacks.stopped)
        le->callbacks.stopped(le->callbacks.user);
}

static void on_deadline(uv_timer_t *timer)
{
    leader_election *le = timer->data;
    double now = monotonic_now();
    if (!le->leading)
        return;
    if (election_must_step_down(le->last_renew, le->renew_deadline, now)) {
        char why[128];
        snprintf(why, sizeof why, "could not renew within renewDeadline (%gs)", le->renew_deadline);
        stop_leading(le, why);
        return;
    }
    double left = le->last_renew + le->renew_deadline - now;
    uv_timer_start(&le->deadline_timer, on_deadline, (uint64_t)(left * 1000.0) + 1, 0);
}

static void try_failed(leader_election *le, const char *what, const char *reason)
{
    if (le->leading || !le->failing)
        log_warn(COMPONENT, "%s: lease %s/%s: %s: %s%s", le->identity, le->namespace_, le->name,
                 what, reason, le->leading ? " (still leading, retrying)" : "");
    else
        log_debug(COMPONENT, "%s: lease %s/%s: %s: %s", le->identity, le->namespace_, le->name,
                  what, reason);
    le->failing = true;
    schedule_next(le);
}

/* Takes a Lease the API returned (GET or a write's answer): the view, the resourceVersion and the
 * object for the next PUT. -1 with err when it is not a valid Lease. */
static int take_lease(leader_election *le, const http_client_response *response, char *err,
                      size_t err_cap)
{
    lease_record record;
    char rv[sizeof le->resource_version];
    if (lease_parse(response->body, response->body_len, &record, rv, sizeof rv, err, err_cap) != 0)
        return -1;
    char *copy = malloc(response->body_len + 1);
    if (!copy) {
        snprintf(err, err_cap, "out of memory");
        return -1;
    }
    memcpy(copy, response->body, response->body_len + 1);
    free(le->observed_json);
    le->observed_json = copy;
    le->observed_len = response->body_len;
    memcpy(le->resource_version, rv, sizeof rv);
    election_observe(&le->view, &record, monotonic_now());
    return 0;
}

static void on_write(void *user, const http_client_response *response)
{
    leader_election *le = user;
    le->in_flight = false;
    char err[512];
    bool written = response->status == 200 || response->status == 201;
    if (written && take_lease(le, response, err, sizeof err) != 0)
        written = false;
    if (le->closing) {
        continue_close(le);
        return;
    }
    if (!written) {
        if (response->status == 409) {
            /* Somebody else wrote the Lease since we read it: they won this round. */
            log_debug(COMPONENT, "%s: lease %s/%s: conflict, another replica wrote it first",
                      le->identity, le->namespace_, le->name);
            schedule_next(le);
            return;
        }
        if (response->status == 200 || response->status == 201)
            try_failed(le, "write", err);
        else {
            k8s_api_describe_failure(response, err, sizeof err);
            try_failed(le, "write", err);
        }
        return;
    }
    le->failing = false;
    double now = monotonic_now();
    if (election_must_step_down(le->try_started, le->renew_deadline, now)) {
        /* The answer came after the deadline: the renewal counts for nobody's safety margin. */
        stop_leading(le, "the renewal was answered only after renewDeadline");
        schedule_next(le);
        return;
    }
    le->last_renew = le->try_started;
    if (!le->leading) {
        le->leading = true;
        le->transitions++;
        log_info(COMPONENT, "%s: started leading (lease %s/%s, transitions %d)", le->identity,
                 le->namespace_, le->name, le->view.record.transitions);
        if (le->callbacks.started)
            le->callbacks.started(le->callbacks.user);
    }
    double left = le->last_renew + le->renew_deadline - now;
    uv_timer_start(&le->deadline_timer, on_deadline, (uint64_t)(left * 1000.0) + 1, 0);
    schedule_next(le);
}

static void send_write(leader_election *le, const char *method, const char *path, char *body)
{
    if (!body) {
        try_failed(le, method, "out of memory");
        return;
    }
    le->in_flight = true;
    int rc =
        k8s_api_send(le->http, le->api, method, path, body, le->request_timeout_ms, on_write, le);
    free(body);
    if (rc != 0) {
        le->in_flight = false;
        try_failed(le, method, "cannot start the request");
    }
}

static void on_get(void *user, const http_client_response *response)
{
    leader_election *le = user;
    le->in_flight = false;
    char err[512] = "";
    int taken = response->status == 200 ? take_lease(le, response, err, sizeof err) : -1;
    if (le->closing) {
        continue_close(le);
        return;
    }
    char now_text[40];
    wall_now_text(now_text, sizeof now_text);
    if (response->status == 404) {
        election_view none = {0};
        lease_record record =
            election_next_record(&none, le->identity, le->lease_duration_seconds, now_text);
        send_write(le, "POST", le->collection_path,
                   lease_render_new(le->name, le->namespace_, &record));
        return;
    }
    if (response->status != 200 || taken != 0) {
        if (response->status != 200)
            k8s_api_describe_failure(response, err, sizeof err);
        try_failed(le, "GET", err);
        return;
    }
    if (election_held_by_other(&le->view, le->identity, monotonic_now())) {
        le->failing = false;
        if (le->leading)
            stop_leading(le, "the lease is held by another replica");
        schedule_next(le);
        return;
    }
    lease_record record =
        election_next_record(&le->view, le->identity, le->lease_duration_seconds, now_text);
    send_write(
        le, "PUT", le->object_path,
        lease_render_update(le->observed_json, le->observed_len, le->resource_version, &record));
}

static void try_once(leader_election *le)
{
    if (le->closing || le->in_flight)
        return;
    le->try_started = monotonic_now();
    le->in_flight = true;
    if (k8s_api_send(le->http, le->api, "GET", le->object_path, NULL, le->request_timeout_ms,
                     on_get, le) != 0) {
        le->in_flight = false;
        try_failed(le, "GET", "cannot start the request");
    }
}

leader_election *leader_election_start(uv_loop_t *loop, http_client *http, const k8s_api *api,
                                       const config_leader_election *config, const char *namespace_,
                                       const leader_election_callbacks *callbacks, char *err,
                                       size_t err_cap)
{
    if (!config->lease_name || !config->identity || !namespace_ || !*namespace_) {
        snprintf(err, err_cap, "leaderElection needs a lease name, a namespace and an identity");
        return NULL;
    }
    leader_election *le = calloc(1, sizeof *le);
    if (!le) {
        snprintf(err, err_cap, "out of memory");
        return NULL;
    }
    le->loop = loop;
    le->http = http;
    le->api = api;
    le->callbacks = *callbacks;
    snprintf(le->identity, sizeof le->identity, "%s", config->identity);
    snprintf(le->name, sizeof le->name, "%s", config->lease_name);
    snprintf(le->namespace_, sizeof le->namespace_, "%s", namespace_);
    snprintf(le->collection_path, sizeof le->collection_path,
             "/apis/coordination.k8s.io/v1/namespaces/%s/leases", le->namespace_);
    snprintf(le->object_path, sizeof le->object_path, "%s/%s", le->collection_path, le->name);
    le->lease_duration_seconds = (int)config->lease_duration_seconds;
    le->renew_deadline = config->renew_deadline_seconds;
    le->retry_period = config->retry_period_seconds;
    /* A request that hangs (a partition) must not hold the next try back for long; the deadline
     * timer alone decides when a leader stops. */
    le->request_timeout_ms = (long)(le->retry_period * 2000.0);
    if (le->request_timeout_ms < MIN_REQUEST_TIMEOUT_MS)
        le->request_timeout_ms = MIN_REQUEST_TIMEOUT_MS;
    if (le->request_timeout_ms > (long)(le->renew_deadline * 1000.0))
        le->request_timeout_ms = (long)(le->renew_deadline * 1000.0);
    uv_timer_init(loop, &le->try_timer);
    uv_timer_init(loop, &le->deadline_timer);
    le->try_timer.data = le->deadline_timer.data = le;
    le->open_handles = 2;
    log_info(COMPONENT,
             "%s: electing on lease %s/%s (leaseDuration %ds, renewDeadline %gs, "
             "retryPeriod %gs)",
             le->identity, le->namespace_, le->name, le->lease_duration_seconds, le->renew_deadline,
             le->retry_period);
    uv_timer_start(&le->try_timer, on_try_timer, 0, 0);
    return le;
}

bool leader_election_leading(const leader_election *le)
{
    return le->leading;
}

const char *leader_election_holder(const leader_election *le)
{
    return le->view.has_record ? le->view.record.holder : "";
}

const char *leader_election_identity(const leader_election *le)
{
    return le->identity;
}

uint64_t leader_election_transitions(const leader_election *le)
{
    return le->transitions;
}

static void on_handle_closed(uv_handle_t *handle)
{
    leader_election *le = handle->data;
    if (--le->open_handles > 0)
        return;
    void (*closed)(void *) = le->closed;
    void *user = le->closed_user;
    free(le->observed_json);
    free(le);
    if (closed)
        closed(user);
}

static void finish_close(leader_election *le)
{
    uv_close((uv_handle_t *)&le->try_timer, on_handle_closed);
    uv_close((uv_handle_t *)&le->deadline_timer, on_handle_closed);
}

static void on_released(void *user, const http_client_response *response)
{
    leader_election *le = user;
    le->in_flight = false;
    if (response->status == 200)
        log_info(COMPONENT, "%s: released lease %s/%s", le->identity, le->namespace_, le->name);
    else {
        char err[512];
        k8s_api_describe_failure(response, err, sizeof err);
        log_warn(COMPONENT,
                 "%s: could not release lease %s/%s (%s): a standby takes over once it expires",
                 le->identity, le->namespace_, le->name, err);
    }
    finish_close(le);
}

/* Runs once nothing is in flight: release when we hold the lease, then close. */
static void continue_close(leader_election *le)
{
    if (le->in_flight || le->releasing)
        return;
    bool holding = le->leading && le->view.has_record &&
                   strcmp(le->view.record.holder, le->identity) == 0 && le->observed_json;
    stop_leading(le, "shutting down");
    if (!holding) {
        finish_close(le);
        return;
    }
    le->releasing = true;
    char now_text[40];
    wall_now_text(now_text, sizeof now_text);
    lease_record released = election_release_record(&le->view, now_text);
    char *body =
        lease_render_update(le->observed_json, le->observed_len, le->resource_version, &released);
    le->in_flight = body != NULL;
    if (!body || k8s_api_send(le->http, le->api, "PUT", le->object_path, body, RELEASE_TIMEOUT_MS,
                              on_released, le) != 0) {
        le->in_flight = false;
        finish_close(le);
    }
    free(body);
}

void leader_election_release_and_close(leader_election *le, void (*done)(void *user), void *user)
{
    if (le->closing)
        return;
    le->closing = true;
    le->closed = done;
    le->closed_user = user;
    uv_timer_stop(&le->try_timer);
    uv_timer_stop(&le->deadline_timer);
    continue_close(le);
}
