/* The Horizon source's readers (engine/sources/horizon/): an audit-events answer (a JSON array of
 * events: the fields ordering needs, then the conversion in both formats) and, the same bytes
 * written to a file, the Horizon checkpoint (load, save, load again). Beyond not crashing: every
 * converted event keeps the promise of fuzz_event_check.h, and a checkpoint that loads is read
 * back identical after a save. */
#include "fuzz_event_check.h"

#include "log.h"
#include "sources/horizon/horizon_checkpoint.h"
#include "sources/horizon/horizon_event.h"

#include <unistd.h>

static char dir[128], input_path[256], saved_path[256];

static void remove_dir(void)
{
    unlink(input_path);
    unlink(saved_path);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_set_level(LOG_LEVEL_ERROR);
    snprintf(dir, sizeof dir, "%s/fuzz_horizon_XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    FUZZ_ASSERT(mkdtemp(dir));
    snprintf(input_path, sizeof input_path, "%s/cp-horizon-input.json", dir);
    snprintf(saved_path, sizeof saved_path, "%s/cp-horizon-saved.json", dir);
    atexit(remove_dir);
    return 0;
}

static void check_page(const uint8_t *data, size_t size)
{
    cJSON *page = cJSON_ParseWithLength((const char *)data, size);
    const cJSON *item;
    cJSON *array = cJSON_IsArray(page) ? page : NULL;
    cJSON_ArrayForEach(item, array)
    {
        int64_t id = 0, time_ms = 0;
        const char *type = NULL;
        char reason[256] = "";
        if (!horizon_event_fields(item, &id, &time_ms, &type, reason, sizeof reason)) {
            FUZZ_ASSERT(reason[0] != '\0');
            continue;
        }
        char stamp[64];
        horizon_format_time_ms(time_ms, stamp, sizeof stamp);
        horizon_event_format formats[] = {HORIZON_FORMAT_ROUTER, HORIZON_FORMAT_SOURCES_KNATIVE};
        for (size_t i = 0; i < 2; i++) {
            event *ev = horizon_event_convert(item, formats[i], "https://horizon.local", reason,
                                              sizeof reason);
            if (ev) {
                fuzz_check_event(ev);
                event_unref(ev);
            } else {
                FUZZ_ASSERT(reason[0] != '\0');
            }
        }
    }
    cJSON_Delete(page);
}

static void check_checkpoint(const uint8_t *data, size_t size)
{
    FILE *f = fopen(input_path, "wb");
    FUZZ_ASSERT(f);
    FUZZ_ASSERT(fwrite(data, 1, size, f) == size);
    FUZZ_ASSERT(fclose(f) == 0);
    horizon_checkpoint cp = {0}, again = {0};
    char err[512] = "";
    int rc = horizon_checkpoint_load(input_path, &cp, err, sizeof err);
    FUZZ_ASSERT(rc == 1 || rc == -1);
    if (rc == 1) {
        FUZZ_ASSERT(horizon_checkpoint_save(saved_path, &cp, err, sizeof err) == 0);
        FUZZ_ASSERT(horizon_checkpoint_load(saved_path, &again, err, sizeof err) == 1);
        FUZZ_ASSERT(again.last_time_ms == cp.last_time_ms && again.last_id == cp.last_id);
        FUZZ_ASSERT(strcmp(again.horizon, cp.horizon) == 0);
        FUZZ_ASSERT(strcmp(again.last_type, cp.last_type) == 0);
        FUZZ_ASSERT(again.last_ids.count == cp.last_ids.count);
        for (size_t i = 0; i < cp.last_ids.count; i++)
            FUZZ_ASSERT(horizon_id_set_has(&again.last_ids, cp.last_ids.ids[i]));
    } else {
        FUZZ_ASSERT(err[0] != '\0');
    }
    horizon_checkpoint_free(&cp);
    horizon_checkpoint_free(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_page(data, size);
    check_checkpoint(data, size);
    return 0;
}
