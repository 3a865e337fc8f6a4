/* Where the vCenter source keeps its checkpoint (checkpoint.h's record), behind one small
 * interface with two implementations:
 *   file       the VMware Event Router's <checkpointDir>/cp-<host>.json (checkpoint.c), the
 * default; configmap  a Kubernetes ConfigMap, key `checkpoint` (the Tanzu vSphere source's layout),
 * the same JSON as the file; read by a new leader on takeover (checkpoint_store_configmap.c). The
 * source calls save on the same cadence and under the same rule for both: only a checkpoint every
 * event at or below which is delivered. */
#ifndef EVENT_ROUTER_CHECKPOINT_STORE_H
#define EVENT_ROUTER_CHECKPOINT_STORE_H

#include "sources/source.h"
#include "sources/vcenter/checkpoint.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct checkpoint_store checkpoint_store;

/* result 1: record loaded; 0: there is none yet; -1: error says why (a checkpoint that cannot be
 * parsed: an operator has to look). */
typedef void (*checkpoint_store_loaded_fn)(void *user, int result, const checkpoint_record *record,
                                           const char *error);

typedef struct checkpoint_store_ops {
    /* Calls loaded exactly once: the file store before it returns, the ConfigMap store later
     * (it retries an unreachable API by itself, every second, until closed). */
    void (*load)(checkpoint_store *store, checkpoint_store_loaded_fn loaded, void *user);
    /* 0 when written or underway, -1 with err when it failed now (the caller keeps its record
     * dirty and saves again on its next tick). */
    int (*save)(checkpoint_store *store, const checkpoint_record *record, char *err,
                size_t err_cap);
    /* True when an asynchronous write failed: save again even with nothing new. */
    bool (*needs_retry)(const checkpoint_store *store);
    /* Finishes a write underway, then frees. */
    void (*close)(checkpoint_store *store);
} checkpoint_store_ops;

struct checkpoint_store {
    const checkpoint_store_ops *ops;
    char where[1100]; /* "checkpoints/cp-host.json", "ConfigMap ns/name" */
};

/* The store services->checkpoint_store names, for the vCenter host (the file's name). NULL with
 * err (a path too long, no Kubernetes service account for a ConfigMap). */
checkpoint_store *checkpoint_store_open(const source_services *services, const char *dir,
                                        const char *host, char *err, size_t err_cap);

checkpoint_store *checkpoint_store_file_open(const char *dir, const char *host, char *err,
                                             size_t err_cap);
checkpoint_store *checkpoint_store_configmap_open(const source_services *services, char *err,
                                                  size_t err_cap);

/* The ConfigMap's JSON, pure (tested and fuzzed alone): parse reads metadata.resourceVersion into
 * rv and data.checkpoint into record: 1 loaded, 0 the ConfigMap has no `checkpoint` key, -1 with
 * err (not a ConfigMap, no resourceVersion, a checkpoint that does not parse). render builds the
 * body of a POST (rv NULL) or PUT (rv given: 409 when it changed meanwhile) keeping observed's
 * other fields and data keys when observed is given. */
int checkpoint_configmap_parse(const char *json, size_t len, const char *where,
                               checkpoint_record *record, char *rv, size_t rv_cap, char *err,
                               size_t err_cap);
char *checkpoint_configmap_render(const char *observed, size_t observed_len, const char *name,
                                  const char *namespace_, const char *rv,
                                  const checkpoint_record *record);

#endif
