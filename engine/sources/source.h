/* The source interface: one event source type (webhook, vcenter) per file, one row in the table
 * in source_registry.c. A source pushes events into the engine's queue and is told, in
 * event_done, when every processor has acknowledged or dead-lettered an event it produced; that
 * is the only moment a source may advance a checkpoint.
 *
 * A source that acknowledges events to a sender (the webhook's 202) offers them with
 * event_queue_offer and acknowledges only when the queue says they are safe: at once on
 * EVENT_QUEUE_ACCEPTED (memory queue), or in the durable callback on EVENT_QUEUE_PENDING (the
 * disk queue's group commit; durable false means answer "retry later"). A source whose sender
 * keeps the events itself (vCenter keeps its history) uses event_queue_push, which bypasses the
 * disk, and advances its checkpoint in event_done, as before. Events read back from the disk queue
 * at start (ev->recovered) never reach a source's event_done: the run that took them in is gone. */
#ifndef EVENT_ROUTER_SOURCE_H
#define EVENT_ROUTER_SOURCE_H

#include "config/config.h"
#include "event.h"
#include "http/http_client.h"
#include "kube/k8s_api.h"
#include "event_queue.h"
#include "metrics/metrics.h"

#include <stdbool.h>
#include <uv.h>

typedef struct source_services {
    uv_loop_t *loop;
    event_queue *queue;
    provider_stats *stats; /* count every event taken in, and every one refused as invalid */
    /* For a problem that retrying cannot fix, such as vCenter refusing the credentials at the
     * first login: the engine logs reason and stops with a failing exit status. */
    void (*fatal)(void *engine, const char *reason);
    void *engine;
    /* For a checkpoint kept in Kubernetes (checkpointStore type configmap): the engine's HTTP
     * client, the service account (NULL outside Kubernetes), the store's config and namespace, and
     * whether this replica leads now (always true without leaderElection): only the leader writes
     * checkpoints. */
    http_client *http;
    const k8s_api *kube;
    const config_checkpoint_store *checkpoint_store;
    const char *checkpoint_namespace;
    bool (*leading)(void *engine);
} source_services;

typedef struct source_type {
    const char *name; /* the config's eventProvider type */
    /* With leaderElection, created only while this replica leads and closed when it stops: a
     * source that reads a shared history (vCenter, Horizon) must not read it twice. */
    bool leader_only;
    int (*create)(const config_provider *config, const source_services *services, void **state,
                  char *err, size_t err_cap);
    /* Optional: every processor finished with ev (delivered or dead-lettered). Called in the order
     * the processors finish, which may differ from intake order. */
    void (*event_done)(void *state, event *ev);
    /* True while the source can take in events (for /readyz). */
    bool (*ready)(void *state);
    /* Optional: stop taking in events (paused true) or start again, for the console. A paused
     * source keeps what it has not taken in: vCenter keeps its history, webhook senders get 503. */
    void (*pause)(void *state, bool paused);
    /* Stops intake and frees the state once its handles are closed; no call follows. */
    void (*close)(void *state);
} source_type;

const source_type *source_type_find(const char *name);

#endif
