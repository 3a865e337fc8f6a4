/* The leader-election record in a coordination.k8s.io/v1 Lease, and the decisions of client-go's
 * leaderelection (tools/leaderelection/leaderelection.go) as pure functions of an injected clock,
 * so the state machine is tested without a server or a loop.
 *
 * Facts carried over from client-go:
 *   - A lease is free when its holderIdentity is empty, or expired when the record has not
 *     changed for leaseDurationSeconds. Expiry is judged by the local monotonic clock from when
 *     this replica saw the record change (observed_time), never by comparing renewTime with the
 *     local wall clock: the two hosts' clocks may differ, their rates hardly do.
 *   - Taking over increments leaseTransitions and sets acquireTime; a renewal keeps both.
 *   - Release (ReleaseOnCancel) writes holderIdentity "" and leaseDurationSeconds 1, keeping
 *     leaseTransitions, so a standby takes over at its next try.
 *   - A leader stops leading when it has not renewed for renewDeadline (< leaseDuration): before
 *     any other replica can judge the lease expired. */
#ifndef EVENT_ROUTER_LEASE_H
#define EVENT_ROUTER_LEASE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct lease_record {
    char holder[256];           /* spec.holderIdentity; "" when free */
    int lease_duration_seconds; /* spec.leaseDurationSeconds */
    char acquire_time[40];      /* spec.acquireTime, MicroTime (RFC 3339, microseconds) */
    char renew_time[40];        /* spec.renewTime */
    int transitions;            /* spec.leaseTransitions */
} lease_record;

/* Parses a Lease object as the API returns it: its spec into record, metadata.resourceVersion
 * into rv. Absent spec fields read as empty/0 (a Lease created by hand may have none). Returns 0,
 * or -1 with err naming the field (not a Lease, resourceVersion missing, a field of the wrong
 * type). */
int lease_parse(const char *json, size_t len, lease_record *record, char *rv, size_t rv_cap,
                char *err, size_t err_cap);

/* The body of a POST creating the Lease name in namespace_ with record. malloc'd, NULL: no
 * memory. */
char *lease_render_new(const char *name, const char *namespace_, const lease_record *record);

/* The body of a PUT: observed_json (the object as last read, so its labels, annotations and
 * fields we do not know survive) with the spec fields of record and resourceVersion rv, which
 * makes the API refuse it with 409 when the Lease changed meanwhile. NULL when observed_json is
 * not an object (or no memory). */
char *lease_render_update(const char *observed_json, size_t len, const char *rv,
                          const lease_record *record);

/* Kubernetes MicroTime of a wall-clock time in seconds: "2026-12-01T22:35:23.123456Z". */
void lease_format_micro_time(double seconds, char *out, size_t cap);

bool lease_record_equal(const lease_record *a, const lease_record *b);

/* What one replica knows of the lease, client-go's observedRecord and observedTime. */
typedef struct election_view {
    bool has_record;
    lease_record record;
    double observed_time; /* monotonic seconds when record last changed */
} election_view;

/* Records what a GET or a successful write showed at monotonic time now. */
void election_observe(election_view *view, const lease_record *record, double now);

/* True when another replica holds the lease and, as seen from here, it has not expired. */
bool election_held_by_other(const election_view *view, const char *identity, double now);

/* Monotonic time at which the observed lease expires as seen from here (observed_time + its
 * leaseDurationSeconds); 0 when nothing is observed. */
double election_expiry(const election_view *view);

/* The record to write to acquire or renew: holder identity, renewTime now_text, acquireTime and
 * leaseTransitions kept when identity already holds it, else acquireTime now_text and
 * transitions + 1 (0 for a lease that never had a holder). */
lease_record election_next_record(const election_view *view, const char *identity,
                                  int lease_duration_seconds, const char *now_text);

/* The record that releases the lease (client-go's release()). */
lease_record election_release_record(const election_view *view, const char *now_text);

/* True when a leader whose last successful renewal was sent at last_renew must stop leading. */
bool election_must_step_down(double last_renew, double renew_deadline, double now);

/* Seconds until the next try: a leader renews every retry_period; a standby tries again after
 * retry_period stretched by jitter (0 <= jitter < 1, scaled by 0.2), or earlier, just after the
 * observed lease expires. */
double election_next_try_delay(bool leading, const election_view *view, double retry_period,
                               double jitter, double now);

#endif
