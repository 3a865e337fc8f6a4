/* The disk queue's segment files (engine/disk_queue.c), which a restart reads back after a crash
 * may have torn their tail, or a disk flipped a byte. The input is one segment file; when its first
 * byte is odd, the same bytes are also the segment's finished-marks (.done) file. Through the
 * real recovery (disk_queue_open on a directory holding it): never a crash, every event handed
 * back is a valid CloudEvent, and the counts add up. The scanner alone: the valid prefix never
 * exceeds the input, and each record it reports lies inside it. */
#include "disk_queue.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FUZZ_REQUIRE(cond)                                                                         \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: violated: %s\n", __FILE__, __LINE__, #cond);                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static char dir[128], segment[256], marks[256], lock[256];
static uv_loop_t loop;

typedef struct scan_state {
    const uint8_t *start, *end;
    size_t records, events, undecodable;
} scan_state;

static void on_record(void *user, const disk_queue_record *record)
{
    scan_state *s = user;
    FUZZ_REQUIRE(record->payload >= s->start && record->payload + record->len <= s->end);
    FUZZ_REQUIRE(record->kind == DISK_QUEUE_KIND_EVENT || record->kind == DISK_QUEUE_KIND_FINISHED);
    s->records++;
    if (record->kind != DISK_QUEUE_KIND_EVENT)
        return;
    char *source = NULL, reason[256] = "";
    event *ev =
        disk_queue_decode_event(record->payload, record->len, &source, reason, sizeof reason);
    if (ev) {
        char why[256];
        FUZZ_REQUIRE(event_validate(ev, why, sizeof why));
        s->events++;
        event_unref(ev);
    } else {
        FUZZ_REQUIRE(reason[0] != '\0');
        FUZZ_REQUIRE(source == NULL);
        s->undecodable++;
    }
    free(source);
}

static size_t recovered;

static void on_recovered(void *user, event *ev, const char *source)
{
    (void)user;
    (void)source;
    char why[256];
    FUZZ_REQUIRE(event_validate(ev, why, sizeof why));
    FUZZ_REQUIRE(ev->journal_segment == 1);
    recovered++;
}

static void remove_dir(void)
{
    char command[300];
    snprintf(command, sizeof command, "rm -rf %s", dir);
    if (system(command) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    snprintf(dir, sizeof dir, "%s/fuzz_disk_queue_XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    FUZZ_REQUIRE(mkdtemp(dir));
    snprintf(segment, sizeof segment, "%s/segment-00000000000000000001.log", dir);
    snprintf(marks, sizeof marks, "%s/segment-00000000000000000001.done", dir);
    snprintf(lock, sizeof lock, "%s/lock", dir);
    uv_loop_init(&loop);
    atexit(remove_dir);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    scan_state s = {data, data + size, 0, 0, 0};
    size_t valid = disk_queue_scan(data, size, on_record, &s);
    FUZZ_REQUIRE(valid <= size);
    FUZZ_REQUIRE(valid >= s.records * DISK_QUEUE_RECORD_HEADER);

    FILE *f = fopen(segment, "wb");
    FUZZ_REQUIRE(f);
    FUZZ_REQUIRE(fwrite(data, 1, size, f) == size);
    FUZZ_REQUIRE(fclose(f) == 0);
    bool with_marks = size > 0 && (data[0] & 1);
    if (with_marks) {
        FUZZ_REQUIRE(link(segment, marks) == 0);
    }
    disk_queue_options options = {.dir = dir,
                                  .max_bytes = 1u << 30,
                                  .segment_bytes = 1u << 20,
                                  .sync_interval_seconds = 0.001};
    disk_queue_recovery stats;
    char err[256] = "";
    recovered = 0;
    disk_queue *dq = disk_queue_open(&loop, &options, on_recovered, NULL, &stats, err, sizeof err);
    FUZZ_REQUIRE(dq);
    FUZZ_REQUIRE(stats.events == recovered);
    /* Every decodable event record is delivered again or was finished; every other one, and a
     * torn tail, is counted as skipped. */
    FUZZ_REQUIRE(stats.events + stats.finished == s.events);
    size_t torn_tail = valid < size ? 1 : 0;
    if (with_marks) /* event records in a .done file are damage there */
        FUZZ_REQUIRE(stats.torn_records == 2 * s.undecodable + s.events + 2 * torn_tail);
    else
        FUZZ_REQUIRE(stats.torn_records == s.undecodable + torn_tail);
    disk_queue_close(dq, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    /* Leave the directory as the next input expects it: one segment, nothing else. */
    remove_dir();
    FUZZ_REQUIRE(mkdir(dir, 0700) == 0);
    return 0;
}
