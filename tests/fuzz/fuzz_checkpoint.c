/* The vCenter checkpoint file (engine/sources/vcenter/checkpoint.c), which a restart reads back
 * and which an operator may have edited or a crash may have cut short. The input is the file.
 * Beyond not crashing: a file that loads is saved and loaded again to the same record (what the
 * source writes it can read), and its timestamps parse or are refused without harm. */
#include "fuzz_support.h"

#include "sources/vcenter/checkpoint.h"

#include <unistd.h>

static char dir[128];
static char input_path[256], saved_path[256];

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
    /* tmpfs when there is one: the save's fsyncs then cost nothing. */
    snprintf(dir, sizeof dir, "%s/fuzz_checkpoint_XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    FUZZ_ASSERT(mkdtemp(dir));
    snprintf(input_path, sizeof input_path, "%s/cp-input.json", dir);
    snprintf(saved_path, sizeof saved_path, "%s/cp-saved.json", dir);
    atexit(remove_dir);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(input_path, "wb");
    FUZZ_ASSERT(f);
    FUZZ_ASSERT(fwrite(data, 1, size, f) == size);
    FUZZ_ASSERT(fclose(f) == 0);

    checkpoint_record record;
    char err[512] = "";
    int rc = checkpoint_load(input_path, &record, err, sizeof err);
    FUZZ_ASSERT(rc == 1 || rc == -1);
    if (rc == -1) {
        FUZZ_ASSERT(err[0] != '\0');
        return 0;
    }
    double seconds;
    checkpoint_parse_time(record.last_event_key_timestamp, &seconds);
    checkpoint_parse_time(record.created_timestamp, &seconds);

    FUZZ_ASSERT(checkpoint_save(saved_path, &record, err, sizeof err) == 0);
    checkpoint_record again;
    FUZZ_ASSERT(checkpoint_load(saved_path, &again, err, sizeof err) == 1);
    FUZZ_ASSERT(again.last_event_key == record.last_event_key);
    FUZZ_ASSERT(strcmp(again.vcenter, record.vcenter) == 0);
    FUZZ_ASSERT(strcmp(again.last_event_uuid, record.last_event_uuid) == 0);
    FUZZ_ASSERT(strcmp(again.last_event_type, record.last_event_type) == 0);
    /* An empty timestamp is written as Go's zero time, as the VMware Event Router does. */
    FUZZ_ASSERT(strcmp(again.last_event_key_timestamp, record.last_event_key_timestamp[0]
                                                           ? record.last_event_key_timestamp
                                                           : "0001-01-01T00:00:00Z") == 0);
    if (record.created_timestamp[0])
        FUZZ_ASSERT(strcmp(again.created_timestamp, record.created_timestamp) == 0);
    return 0;
}
