/* Leader election by a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it, on
 * the libuv loop with the asynchronous HTTP client (never blocking the loop):
 *
 *   try:   GET the Lease; 404 -> POST it with us as holder; held by another and not expired (as
 *          seen from here, lease.h) -> try again later; else PUT our record with the
 *          resourceVersion we read (409: another replica won the race).
 *   lead:  after a successful write; renew every retryPeriod. A leader whose last successful
 *          renewal was sent renewDeadline ago stops leading (a timer, independent of answers),
 *          which is before any other replica can see the lease expire (leaseDuration).
 *   release: on shutdown, PUT holderIdentity "" and leaseDurationSeconds 1 (client-go's
 *          ReleaseOnCancel), so a standby takes over at its next try.
 *
 * started(user) and stopped(user) run on the loop when this replica starts or stops leading. */
#ifndef EVENT_ROUTER_LEADER_ELECTION_H
#define EVENT_ROUTER_LEADER_ELECTION_H

#include "config/config.h"
#include "http/http_client.h"
#include "kube/k8s_api.h"

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

typedef struct leader_election leader_election;

typedef struct leader_election_callbacks {
    void (*started)(void *user);
    void (*stopped)(void *user);
    void *user;
} leader_election_callbacks;

/* Starts trying at once. api and http are borrowed and must outlive it. namespace_ is the lease's
 * namespace (copied). NULL with err on a bad argument or no memory. */
leader_election *leader_election_start(uv_loop_t *loop, http_client *http, const k8s_api *api,
                                       const config_leader_election *config, const char *namespace_,
                                       const leader_election_callbacks *callbacks, char *err,
                                       size_t err_cap);

bool leader_election_leading(const leader_election *le);
/* The holder identity last observed ("" when free or unknown), and ours. */
const char *leader_election_holder(const leader_election *le);
const char *leader_election_identity(const leader_election *le);
uint64_t leader_election_transitions(const leader_election *le); /* times we started leading */

/* Stops trying; when leading, releases the lease first (stopped runs) and then calls done(user);
 * done also runs when the release fails or times out. Frees le once its handles are closed. The
 * http client must stay open until done runs. */
void leader_election_release_and_close(leader_election *le, void (*done)(void *user), void *user);

#endif
