/* The Kubernetes API's answers the high-availability code reads: a Lease (engine/ha/lease.c) and
 * the checkpoint ConfigMap (engine/sources/vcenter/checkpoint_store_configmap.c). The input is one
 * answer body, read as both. Beyond not crashing: an answer that parses renders an update that
 * parses back to the same record and version (what we write we read); a refused one says why. */
#include "fuzz_support.h"

#include "ha/lease.h"
#include "sources/vcenter/checkpoint_store.h"

static void fuzz_lease(const char *text, size_t size)
{
    lease_record record;
    char rv[128], err[512] = "";
    if (lease_parse(text, size, &record, rv, sizeof rv, err, sizeof err) != 0) {
        FUZZ_ASSERT(err[0] != '\0');
        return;
    }
    char *body = lease_render_update(text, size, rv, &record);
    FUZZ_ASSERT(body);
    lease_record again;
    char rv_again[128];
    FUZZ_ASSERT(
        lease_parse(body, strlen(body), &again, rv_again, sizeof rv_again, err, sizeof err) == 0);
    FUZZ_ASSERT(strcmp(rv, rv_again) == 0);
    FUZZ_ASSERT(strcmp(again.holder, record.holder) == 0);
    FUZZ_ASSERT(again.lease_duration_seconds == record.lease_duration_seconds);
    FUZZ_ASSERT(again.transitions == record.transitions);
    FUZZ_ASSERT(strcmp(again.renew_time, record.renew_time) == 0);
    free(body);
    /* The decisions take any record. */
    election_view view = {0};
    election_observe(&view, &record, 1.0);
    (void)election_held_by_other(&view, "fuzz", 2.0);
    lease_record next = election_next_record(&view, "fuzz", 15, "2026-01-01T00:00:00.000000Z");
    FUZZ_ASSERT(strcmp(next.holder, "fuzz") == 0);
}

static void fuzz_configmap(const char *text, size_t size)
{
    checkpoint_record record;
    char rv[128], err[512] = "";
    int rc = checkpoint_configmap_parse(text, size, "ConfigMap fuzz/cp", &record, rv, sizeof rv,
                                        err, sizeof err);
    FUZZ_ASSERT(rc >= -1 && rc <= 1);
    if (rc < 0) {
        FUZZ_ASSERT(err[0] != '\0');
        return;
    }
    if (rc == 0)
        return;
    char *body = checkpoint_configmap_render(text, size, "cp", "fuzz", rv, &record);
    FUZZ_ASSERT(body);
    checkpoint_record again;
    char rv_again[128];
    FUZZ_ASSERT(checkpoint_configmap_parse(body, strlen(body), "ConfigMap fuzz/cp", &again,
                                           rv_again, sizeof rv_again, err, sizeof err) == 1);
    FUZZ_ASSERT(strcmp(rv, rv_again) == 0);
    FUZZ_ASSERT(again.last_event_key == record.last_event_key);
    FUZZ_ASSERT(strcmp(again.last_event_uuid, record.last_event_uuid) == 0);
    FUZZ_ASSERT(strcmp(again.vcenter, record.vcenter) == 0);
    free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_strndup(data, size);
    size_t len = strlen(text);
    fuzz_lease(text, len);
    fuzz_configmap(text, len);
    free(text);
    return 0;
}
