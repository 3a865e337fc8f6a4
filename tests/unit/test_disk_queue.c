/* The disk queue on a real directory and a real libuv loop: what was durable comes back after a
 * restart with the same ids, finished events do not, torn and corrupt tails are skipped and
 * counted, a full queue refuses, finished segments are deleted, and one fdatasync serves many
 * events. */
#include "check.h"
#include "disk_queue.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct harness {
    uv_loop_t loop;
    char dir[64];
    disk_queue *dq;
    event *recovered[256];
    size_t recovered_count;
    char recovered_source[64];
    disk_queue_recovery stats;
    int durable_ok, durable_failed;
} harness;

static void on_recovered(void *user, event *ev, const char *source)
{
    harness *h = user;
    if (h->recovered_count < 256)
        h->recovered[h->recovered_count++] = event_ref(ev);
    snprintf(h->recovered_source, sizeof h->recovered_source, "%s", source ? source : "");
}

static void on_durable(void *user, bool ok)
{
    harness *h = user;
    if (ok)
        h->durable_ok++;
    else
        h->durable_failed++;
}

static disk_queue_options options_for(harness *h, uint64_t max_bytes, uint64_t segment_bytes)
{
    return (disk_queue_options){.dir = h->dir,
                                .max_bytes = max_bytes,
                                .segment_bytes = segment_bytes,
                                .sync_interval_seconds = 0.002};
}

static void drop_recovered(harness *h)
{
    for (size_t i = 0; i < h->recovered_count; i++)
        event_unref(h->recovered[i]);
    h->recovered_count = 0;
}

static void open_queue(harness *h, uint64_t max_bytes, uint64_t segment_bytes)
{
    drop_recovered(h);
    disk_queue_options o = options_for(h, max_bytes, segment_bytes);
    char err[256] = "";
    h->dq = disk_queue_open(&h->loop, &o, on_recovered, h, &h->stats, err, sizeof err);
    if (!h->dq)
        fprintf(stderr, "open: %s\n", err);
    CHECK(h->dq != NULL);
}

static void close_queue(harness *h)
{
    disk_queue_close(h->dq, NULL, NULL);
    uv_run(&h->loop, UV_RUN_DEFAULT);
    h->dq = NULL;
}

static void harness_init(harness *h)
{
    memset(h, 0, sizeof *h);
    uv_loop_init(&h->loop);
    snprintf(h->dir, sizeof h->dir, "/tmp/er-disk-queue-XXXXXX");
    CHECK(mkdtemp(h->dir) != NULL);
}

/* Files named segment-*<suffix> in the queue directory. */
static size_t count_files(const harness *h, const char *suffix)
{
    size_t n = 0;
    DIR *d = opendir(h->dir);
    struct dirent *entry;
    while (d && (entry = readdir(d))) {
        size_t len = strlen(entry->d_name), tail = strlen(suffix);
        n += strncmp(entry->d_name, "segment-", 8) == 0 && len > tail &&
             strcmp(entry->d_name + len - tail, suffix) == 0;
    }
    if (d)
        closedir(d);
    return n;
}

static size_t count_segments(const harness *h)
{
    return count_files(h, ".log");
}

static void harness_finish(harness *h)
{
    drop_recovered(h);
    CHECK(uv_loop_close(&h->loop) == 0);
    char command[128];
    snprintf(command, sizeof command, "rm -rf %s", h->dir);
    CHECK(system(command) == 0);
}

static event *make_event(int n, size_t data_len)
{
    event *ev = event_new();
    char id[32];
    snprintf(id, sizeof id, "ev-%d", n);
    event_set_attribute(ev, "specversion", "1.0");
    event_set_attribute(ev, "id", id);
    event_set_attribute(ev, "source", "/test");
    event_set_attribute(ev, "type", "test");
    event_set_attribute(ev, "subject", "vm-1");
    if (data_len) {
        char *data = malloc(data_len + 3);
        data[0] = '"';
        memset(data + 1, 'x', data_len);
        data[data_len + 1] = '"';
        event_set_data(ev, data, data_len + 2, true);
        free(data);
    }
    ev->source_name = "hook";
    return ev;
}

/* Appends n events and waits until they are durable; returns them (the caller unrefs). */
static void append_durably(harness *h, event **evs, int first, int n)
{
    for (int i = 0; i < n; i++) {
        evs[i] = make_event(first + i, 100);
        CHECK(disk_queue_append(h->dq, evs[i]));
    }
    disk_queue_when_durable(h->dq, on_durable, h);
    int before = h->durable_ok;
    while (h->durable_ok == before)
        uv_run(&h->loop, UV_RUN_ONCE);
}

static void test_durable_events_come_back_with_their_ids(void)
{
    harness h;
    harness_init(&h);
    open_queue(&h, 1 << 24, 1 << 20);
    CHECK(h.stats.events == 0);
    event *evs[10];
    append_durably(&h, evs, 0, 10);
    CHECK(h.durable_ok == 1);
    uint64_t fsyncs = disk_queue_fsyncs(h.dq);
    /* Ten events, one commit: one fdatasync (the segment's directory sync came at open). */
    CHECK(fsyncs <= 2);
    disk_queue_finished(h.dq, evs[0]);
    disk_queue_finished(h.dq, evs[3]);
    for (int i = 0; i < 10; i++)
        event_unref(evs[i]);
    close_queue(&h);

    open_queue(&h, 1 << 24, 1 << 20);
    CHECK(h.stats.events == 8);
    CHECK(h.stats.finished == 2);
    CHECK(h.stats.torn_records == 0);
    CHECK(h.recovered_count == 8);
    CHECK_STR(h.recovered[0]->id, "ev-1");
    CHECK_STR(h.recovered[1]->id, "ev-2");
    CHECK_STR(h.recovered[2]->id, "ev-4");
    CHECK_STR(h.recovered[7]->id, "ev-9");
    CHECK_STR(h.recovered_source, "hook");
    CHECK(h.recovered[0]->data_len == 102);
    /* Finishing the recovered ones empties the queue for good. */
    for (size_t i = 0; i < h.recovered_count; i++)
        disk_queue_finished(h.dq, h.recovered[i]);
    close_queue(&h);
    open_queue(&h, 1 << 24, 1 << 20);
    CHECK(h.stats.events == 0);
    close_queue(&h);
    harness_finish(&h);
}

static char *last_segment_path(const harness *h, char *path, size_t cap)
{
    DIR *d = opendir(h->dir);
    struct dirent *entry;
    char best[256] = "";
    while ((entry = readdir(d)))
        if (strncmp(entry->d_name, "segment-", 8) == 0 && strstr(entry->d_name, ".log") &&
            strcmp(entry->d_name, best) > 0)
            snprintf(best, sizeof best, "%s", entry->d_name);
    closedir(d);
    snprintf(path, cap, "%s/%s", h->dir, best);
    return path;
}

static void test_torn_tail_is_skipped_and_counted(void)
{
    harness h;
    harness_init(&h);
    open_queue(&h, 1 << 24, 1 << 20);
    event *evs[5];
    append_durably(&h, evs, 0, 5);
    for (int i = 0; i < 5; i++)
        event_unref(evs[i]);
    close_queue(&h);
    /* A crash in the middle of the last write: its record is cut short. */
    char path[512];
    last_segment_path(&h, path, sizeof path);
    struct stat st;
    CHECK(stat(path, &st) == 0);
    CHECK(truncate(path, st.st_size - 7) == 0);
    open_queue(&h, 1 << 24, 1 << 20);
    CHECK(h.stats.events == 4);
    CHECK(h.stats.torn_records == 1);
    CHECK(h.stats.torn_bytes > 0);
    CHECK_STR(h.recovered[3]->id, "ev-3");
    close_queue(&h);
    harness_finish(&h);
}

static void test_flipped_byte_is_caught_by_the_checksum(void)
{
    harness h;
    harness_init(&h);
    open_queue(&h, 1 << 24, 1 << 20);
    event *evs[5];
    append_durably(&h, evs, 0, 5);
    for (int i = 0; i < 5; i++)
        event_unref(evs[i]);
    close_queue(&h);
    char path[512];
    last_segment_path(&h, path, sizeof path);
    int fd = open(path, O_RDWR);
    struct stat st;
    fstat(fd, &st);
    /* A byte inside the third record's payload (records are about the same size). */
    off_t at = st.st_size / 5 * 2 + st.st_size / 10;
    unsigned char byte;
    CHECK(pread(fd, &byte, 1, at) == 1);
    byte ^= 0x20;
    CHECK(pwrite(fd, &byte, 1, at) == 1);
    close(fd);
    open_queue(&h, 1 << 24, 1 << 20);
    CHECK(h.stats.events == 2); /* the two before the damage; the rest of the segment is skipped */
    CHECK(h.stats.torn_records == 1);
    close_queue(&h);
    harness_finish(&h);
}

static void test_full_queue_refuses_and_frees_space_as_events_finish(void)
{
    harness h;
    harness_init(&h);
    open_queue(&h, 64 * 1024, 8 * 1024);
    event *evs[200];
    int accepted = 0;
    /* In small durable batches: a segment is closed when the next batch begins. */
    while (accepted < 200) {
        evs[accepted] = make_event(accepted, 1000);
        if (!disk_queue_append(h.dq, evs[accepted]))
            break;
        if (++accepted % 3 == 0) {
            int before = h.durable_ok;
            disk_queue_when_durable(h.dq, on_durable, &h);
            while (h.durable_ok == before)
                uv_run(&h.loop, UV_RUN_ONCE);
        }
    }
    CHECK(accepted > 10 && accepted < 200);
    CHECK(disk_queue_bytes(h.dq) <= 64 * 1024);
    int before = h.durable_ok;
    disk_queue_when_durable(h.dq, on_durable, &h);
    while (h.durable_ok == before)
        uv_run(&h.loop, UV_RUN_ONCE);
    /* Rejected by a full queue: nothing of it was written. */
    event_unref(evs[accepted]);
    size_t segments_full = count_segments(&h);
    CHECK(segments_full >= 4);
    for (int i = 0; i < accepted; i++) {
        disk_queue_finished(h.dq, evs[i]);
        event_unref(evs[i]);
    }
    /* Segments are deleted on the thread pool; only the one being written stays. */
    for (int i = 0; i < 100 && count_segments(&h) > 1; i++)
        uv_run(&h.loop, UV_RUN_ONCE);
    CHECK(count_segments(&h) == 1);
    /* Their finished marks went with them: only the current segment may still have a .done. */
    CHECK(count_files(&h, ".done") <= 1);
    CHECK(disk_queue_bytes(h.dq) < 16 * 1024);
    event *more = make_event(999, 1000);
    CHECK(disk_queue_append(h.dq, more));
    disk_queue_finished(h.dq, more);
    event_unref(more);
    close_queue(&h);
    open_queue(&h, 64 * 1024, 8 * 1024);
    CHECK(h.stats.events == 0);
    close_queue(&h);
    harness_finish(&h);
}

/* Runs the loop until the queue directory holds a .done file of at least min_bytes, at most
 * about a second: marks are written a few milliseconds after the event finished. */
static off_t wait_for_marks(harness *h, off_t min_bytes)
{
    char path[512];
    last_segment_path(h, path, sizeof path);
    char *dot = strrchr(path, '.');
    snprintf(dot, sizeof path - (size_t)(dot - path), ".done");
    struct stat st = {0};
    for (int i = 0; i < 200; i++) {
        if (stat(path, &st) == 0 && st.st_size >= min_bytes)
            return st.st_size;
        uv_run(&h->loop, UV_RUN_NOWAIT);
        usleep(5000);
    }
    return stat(path, &st) == 0 ? st.st_size : 0;
}

/* A process killed right after delivery must not deliver again what it had finished a few
 * milliseconds before: finished marks reach the file system promptly, without waiting for a
 * commit or a close. Regression test: they used to wait 200 ms or more behind a busy disk, and
 * a kill -9 then duplicated every event delivered in that window. */
static void test_finished_marks_reach_the_disk_promptly(void)
{
    harness h;
    harness_init(&h);
    open_queue(&h, 1 << 24, 1 << 20);
    event *evs[10];
    append_durably(&h, evs, 0, 10);
    for (int i = 0; i < 6; i++)
        disk_queue_finished(h.dq, evs[i]);
    /* Six marks, each one record header, in the segment's own .done file. */
    CHECK(wait_for_marks(&h, 6 * DISK_QUEUE_RECORD_HEADER) == 6 * DISK_QUEUE_RECORD_HEADER);
    /* What a kill -9 now leaves: the files as they are, without close(). A copy of the directory
     * is opened as the restarted router would. */
    harness copy;
    harness_init(&copy);
    char command[256];
    snprintf(command, sizeof command, "cp %s/segment-* %s/", h.dir, copy.dir);
    CHECK(system(command) == 0);
    open_queue(&copy, 1 << 24, 1 << 20);
    CHECK(copy.stats.events == 4);
    CHECK(copy.stats.finished == 6);
    CHECK(copy.stats.torn_records == 0);
    CHECK_STR(copy.recovered[0]->id, "ev-6");
    close_queue(&copy);
    harness_finish(&copy);
    for (int i = 0; i < 10; i++)
        event_unref(evs[i]);
    close_queue(&h);
    harness_finish(&h);
}

/* A torn .done tail (a power cut while marks were written) costs duplicates, never the events:
 * the marks before the damage count, the event records are all read. */
static void test_torn_marks_only_deliver_again(void)
{
    harness h;
    harness_init(&h);
    open_queue(&h, 1 << 24, 1 << 20);
    event *evs[4];
    append_durably(&h, evs, 0, 4);
    for (int i = 0; i < 3; i++)
        disk_queue_finished(h.dq, evs[i]);
    CHECK(wait_for_marks(&h, 3 * DISK_QUEUE_RECORD_HEADER) == 3 * DISK_QUEUE_RECORD_HEADER);
    for (int i = 0; i < 4; i++)
        event_unref(evs[i]);
    close_queue(&h);
    char path[512];
    last_segment_path(&h, path, sizeof path);
    char *dot = strrchr(path, '.');
    snprintf(dot, sizeof path - (size_t)(dot - path), ".done");
    CHECK(truncate(path, 2 * DISK_QUEUE_RECORD_HEADER + 5) == 0);
    open_queue(&h, 1 << 24, 1 << 20);
    CHECK(h.stats.finished == 2);
    CHECK(h.stats.events == 2); /* ev-2, whose mark was torn, and ev-3 */
    CHECK(h.stats.torn_records == 1);
    CHECK_STR(h.recovered[0]->id, "ev-2");
    close_queue(&h);
    harness_finish(&h);
}

/* A crash between deleting a finished segment's .log and its .done leaves the .done alone; the
 * next start removes it. */
static void test_leftover_marks_file_is_removed(void)
{
    harness h;
    harness_init(&h);
    char path[512];
    snprintf(path, sizeof path, "%s/segment-00000000000000000007.done", h.dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fputs("left over", f);
    fclose(f);
    open_queue(&h, 1 << 24, 1 << 20);
    CHECK(access(path, F_OK) != 0);
    CHECK(h.stats.torn_records == 0);
    close_queue(&h);
    harness_finish(&h);
}

static void test_one_fdatasync_serves_a_burst(void)
{
    harness h;
    harness_init(&h);
    open_queue(&h, 1 << 26, 1 << 24);
    uint64_t before = disk_queue_fsyncs(h.dq);
    event *evs[100];
    for (int i = 0; i < 100; i++) {
        evs[i] = make_event(i, 200);
        CHECK(disk_queue_append(h.dq, evs[i]));
        disk_queue_when_durable(h.dq, on_durable, &h);
    }
    while (h.durable_ok < 100)
        uv_run(&h.loop, UV_RUN_ONCE);
    /* The first append starts a commit at once; the other 99 share the next one. */
    CHECK(disk_queue_fsyncs(h.dq) - before <= 2);
    for (int i = 0; i < 100; i++)
        event_unref(evs[i]);
    close_queue(&h);
    harness_finish(&h);
}

/* queue.syncInterval paces commits: three commits one after the other (each waits for the one
 * before) cannot all fit in less than two intervals. Only a lower bound is asserted, which a slow
 * machine cannot break; 0, the default, leaves the pace to the disk. */
static void test_sync_interval_paces_commits(void)
{
    harness h;
    harness_init(&h);
    disk_queue_options o = options_for(&h, 1 << 24, 1 << 20);
    o.sync_interval_seconds = 0.2;
    char err[256] = "";
    h.dq = disk_queue_open(&h.loop, &o, on_recovered, &h, &h.stats, err, sizeof err);
    CHECK(h.dq != NULL);
    uint64_t started = uv_hrtime();
    event *evs[3];
    for (int i = 0; i < 3; i++)
        append_durably(&h, &evs[i], i, 1);
    double seconds = (double)(uv_hrtime() - started) / 1e9;
    CHECK(seconds >= 0.39);
    CHECK(disk_queue_commits(h.dq) == 3);
    for (int i = 0; i < 3; i++)
        event_unref(evs[i]);
    close_queue(&h);
    harness_finish(&h);
}

static void test_a_second_router_cannot_share_the_directory(void)
{
    harness h;
    harness_init(&h);
    open_queue(&h, 1 << 24, 1 << 20);
    disk_queue_options o = options_for(&h, 1 << 24, 1 << 20);
    char err[256] = "";
    disk_queue *second = disk_queue_open(&h.loop, &o, on_recovered, &h, NULL, err, sizeof err);
    CHECK(second == NULL);
    CHECK_CONTAINS(err, "another event-router is using it");
    close_queue(&h);
    harness_finish(&h);
}

static void count_record(void *user, const disk_queue_record *record)
{
    (void)record;
    (*(int *)user)++;
}

static void test_scan_stops_at_garbage(void)
{
    const uint8_t garbage[64] = {1, 2, 3, 4, 0xff, 0xff, 0xff, 0x7f};
    int records = 0;
    CHECK(disk_queue_scan(garbage, sizeof garbage, count_record, &records) == 0);
    CHECK(records == 0);
    CHECK(disk_queue_scan(garbage, 3, count_record, &records) == 0);
}

int main(void)
{
    RUN_TEST(test_durable_events_come_back_with_their_ids);
    RUN_TEST(test_torn_tail_is_skipped_and_counted);
    RUN_TEST(test_flipped_byte_is_caught_by_the_checksum);
    RUN_TEST(test_full_queue_refuses_and_frees_space_as_events_finish);
    RUN_TEST(test_finished_marks_reach_the_disk_promptly);
    RUN_TEST(test_torn_marks_only_deliver_again);
    RUN_TEST(test_leftover_marks_file_is_removed);
    RUN_TEST(test_one_fdatasync_serves_a_burst);
    RUN_TEST(test_sync_interval_paces_commits);
    RUN_TEST(test_a_second_router_cannot_share_the_directory);
    RUN_TEST(test_scan_stops_at_garbage);
    return CHECK_DONE();
}
