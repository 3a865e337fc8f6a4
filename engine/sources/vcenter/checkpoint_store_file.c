/* The file checkpoint store: today's VEBA-compatible file behind the store interface. */
#include "sources/vcenter/checkpoint_store.h"

#include <stdio.h>
#include <stdlib.h>

static void file_load(checkpoint_store *store, checkpoint_store_loaded_fn loaded, void *user)
{
    checkpoint_record record;
    char err[512] = "";
    int rc = checkpoint_load(store->where, &record, err, sizeof err);
    loaded(user, rc, rc == 1 ? &record : NULL, rc < 0 ? err : NULL);
}

static int file_save(checkpoint_store *store, const checkpoint_record *record, char *err,
                     size_t err_cap)
{
    return checkpoint_save(store->where, record, err, err_cap);
}

static bool file_needs_retry(const checkpoint_store *store)
{
    (void)store;
    return false; /* a failed save returned -1 at once */
}

static void file_close(checkpoint_store *store)
{
    free(store);
}

static const checkpoint_store_ops file_ops = {
    .load = file_load, .save = file_save, .needs_retry = file_needs_retry, .close = file_close};

checkpoint_store *checkpoint_store_file_open(const char *dir, const char *host, char *err,
                                             size_t err_cap)
{
    checkpoint_store *store = calloc(1, sizeof *store);
    if (!store) {
        snprintf(err, err_cap, "out of memory");
        return NULL;
    }
    store->ops = &file_ops;
    if (!checkpoint_path(dir, host, store->where, sizeof store->where)) {
        snprintf(err, err_cap, "checkpoint path too long");
        free(store);
        return NULL;
    }
    return store;
}

checkpoint_store *checkpoint_store_open(const source_services *services, const char *dir,
                                        const char *host, char *err, size_t err_cap)
{
    if (services->checkpoint_store &&
        services->checkpoint_store->type == CHECKPOINT_STORE_CONFIGMAP)
        return checkpoint_store_configmap_open(services, err, err_cap);
    return checkpoint_store_file_open(dir, host, err, err_cap);
}
