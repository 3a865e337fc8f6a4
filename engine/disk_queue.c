#include "disk_queue.h"

#include "directories.h"
#include "crc32c.h"
#include "log.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* Finished marks wait this long for company before they are written (unsynced). Every mark not
 * yet written when the process dies is one duplicate after the restart, so the wait is short. */
#define MARKS_FLUSH_MS 5

typedef struct byte_buffer {
    uint8_t *bytes;
    size_t len, cap;
} byte_buffer;

typedef struct segment {
    uint64_t id;
    uint64_t bytes;    /* its two files on disk, or appended and about to be */
    size_t live;       /* event records not yet finished */
    byte_buffer marks; /* finished records for its .done file, not yet handed to a marks job */
} segment;

typedef struct waiter {
    disk_queue_durable_fn fn;
    void *user;
} waiter;

/* One commit on the thread pool: its bytes, its file and its waiters are its own. When the target
 * segment changed, the job opens the new file (and syncs the directory) off the loop thread. */
typedef struct commit_job {
    uv_work_t work;
    disk_queue *dq;
    byte_buffer buffer;
    int fd;
    char *open_path; /* the target's file to open first, NULL to write to fd */
    uint64_t open_segment;
    bool directory_synced;
    uint64_t disk_ns; /* spent in write and fdatasync */
    int error;        /* errno of a failed open, write or sync, 0 on success */
    waiter *waiters;
    size_t waiter_count;
} commit_job;

typedef struct marks_file {
    uint64_t segment;
    byte_buffer bytes;
} marks_file;

/* Finished marks and segment deletions on the thread pool, one job at a time, never synced: their
 * loss in a crash only means duplicates. Deleting in the same chain keeps a late mark from
 * creating a .done file again after its segment went. */
typedef struct marks_job {
    uv_work_t work;
    disk_queue *dq;
    marks_file *files;
    size_t file_count;
    uint64_t *doomed; /* segments whose files are deleted after the marks are written */
    size_t doomed_count;
    int error;        /* errno of the first failed mark write */
    int unlink_error; /* errno of the first failed deletion */
    uint64_t unlink_failed_segment;
} marks_job;

struct disk_queue {
    uv_loop_t *loop;
    char *dir;
    uint64_t max_bytes;
    uint64_t segment_bytes;
    uint64_t sync_interval_ms;

    segment *segments; /* ascending ids; the last one is being written */
    size_t segment_count, segment_cap;
    int lock_fd; /* <dir>/lock, flock'ed: one router per queue directory */
    int fd;      /* open segment file (the target's once a commit began) */
    uint64_t fd_segment;
    bool roll_next;   /* a write failed: begin a new segment before the next commit */
    uint64_t next_id; /* journal id of the next event */
    uint64_t total_bytes;

    byte_buffer pending;
    waiter *waiters;
    size_t waiter_count, waiter_cap;

    commit_job *committing; /* the commit in flight, NULL when idle */
    uint64_t last_sync_start;
    uv_timer_t timer;
    bool timer_armed;

    size_t marked_segments; /* segments with marks waiting for a marks job */
    uint64_t *doomed;       /* deleted segments whose files a marks job is still to unlink */
    size_t doomed_count, doomed_cap;
    marks_job *marking; /* the marks job in flight, NULL when idle */
    uv_timer_t marks_timer;
    bool marks_timer_armed;
    bool marks_failing; /* a mark write failed; logged once until one succeeds */
    int open_handles;   /* timers not yet closed */

    uint64_t fsyncs, commits;
    void (*commit_observer)(void *user, double seconds);
    void *commit_observer_user;
    bool healthy;
    bool closing;
    void (*closed)(void *user);
    void *closed_user;
};

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* ---- the format ---- */

size_t disk_queue_scan(const uint8_t *bytes, size_t len,
                       void (*fn)(void *user, const disk_queue_record *record), void *user)
{
    size_t at = 0;
    while (len - at >= DISK_QUEUE_RECORD_HEADER) {
        const uint8_t *h = bytes + at;
        uint32_t payload_len = get_u32(h + 4);
        if (payload_len > DISK_QUEUE_MAX_PAYLOAD ||
            payload_len > len - at - DISK_QUEUE_RECORD_HEADER)
            break;
        uint8_t kind = h[8];
        if ((kind != DISK_QUEUE_KIND_EVENT && kind != DISK_QUEUE_KIND_FINISHED) || h[9] || h[10] ||
            h[11])
            break;
        uint32_t crc = crc32c_update(0, h + 4, DISK_QUEUE_RECORD_HEADER - 4 + payload_len);
        if (crc != get_u32(h))
            break;
        disk_queue_record record = {kind, get_u64(h + 12), h + DISK_QUEUE_RECORD_HEADER,
                                    payload_len};
        fn(user, &record);
        at += DISK_QUEUE_RECORD_HEADER + payload_len;
    }
    return at;
}

event *disk_queue_decode_event(const uint8_t *payload, size_t len, char **source, char *reason,
                               size_t reason_cap)
{
    *source = NULL;
    cJSON *root = cJSON_ParseWithLength((const char *)payload, len);
    if (!root || !cJSON_IsObject(root)) {
        snprintf(reason, reason_cap, "payload is not a JSON object");
        cJSON_Delete(root);
        return NULL;
    }
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(root, "event");
    event *ev = cJSON_IsObject(body) ? event_from_json(body, reason, reason_cap) : NULL;
    if (!ev && !cJSON_IsObject(body))
        snprintf(reason, reason_cap, "no 'event' object");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "source");
    const cJSON *key = cJSON_GetObjectItemCaseSensitive(root, "key");
    if (ev && cJSON_IsString(name) && !(*source = strdup(name->valuestring))) {
        event_unref(ev);
        ev = NULL;
        snprintf(reason, reason_cap, "out of memory");
    }
    if (ev && cJSON_IsString(key) && !(ev->ordering_key = strdup(key->valuestring))) {
        free(*source);
        *source = NULL;
        event_unref(ev);
        ev = NULL;
        snprintf(reason, reason_cap, "out of memory");
    }
    cJSON_Delete(root);
    return ev;
}

/* Room for one more item in the array whose pointer is at array_pointer (count of *cap used),
 * doubling from first_cap; false when out of memory (the array is then unchanged). The pointer
 * is read and written with memcpy: it is a segment *, a waiter *, ..., not a void *. */
static bool room_for_one(void *array_pointer, size_t *cap, size_t count, size_t item_size,
                         size_t first_cap)
{
    if (count < *cap)
        return true;
    size_t grown_cap = *cap ? *cap * 2 : first_cap;
    void *array;
    memcpy(&array, array_pointer, sizeof array);
    void *grown = realloc(array, grown_cap * item_size);
    if (!grown)
        return false;
    memcpy(array_pointer, &grown, sizeof grown);
    *cap = grown_cap;
    return true;
}

static bool buffer_reserve(byte_buffer *b, size_t more)
{
    if (b->len + more <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 64 * 1024;
    while (cap < b->len + more)
        cap *= 2;
    uint8_t *grown = realloc(b->bytes, cap);
    if (!grown)
        return false;
    b->bytes = grown;
    b->cap = cap;
    return true;
}

static void buffer_put_record(byte_buffer *b, uint8_t kind, uint64_t id, const void *payload,
                              size_t len)
{
    uint8_t *h = b->bytes + b->len;
    put_u32(h + 4, (uint32_t)len);
    h[8] = kind;
    h[9] = h[10] = h[11] = 0;
    put_u64(h + 12, id);
    if (len)
        memcpy(h + DISK_QUEUE_RECORD_HEADER, payload, len);
    put_u32(h, crc32c_update(0, h + 4, DISK_QUEUE_RECORD_HEADER - 4 + len));
    b->len += DISK_QUEUE_RECORD_HEADER + len;
}

/* ---- segments ---- */

/* kind: "log" for a segment's event records, "done" for its finished marks. */
static void segment_path(const char *dir, uint64_t id, const char *kind, char *path, size_t cap)
{
    snprintf(path, cap, "%s/segment-%020" PRIu64 ".%s", dir, id, kind);
}

static segment *find_segment(disk_queue *dq, uint64_t id)
{
    size_t lo = 0, hi = dq->segment_count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (dq->segments[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < dq->segment_count && dq->segments[lo].id == id ? &dq->segments[lo] : NULL;
}

static segment *add_segment(disk_queue *dq, uint64_t id)
{
    if (!room_for_one(&dq->segments, &dq->segment_cap, dq->segment_count, sizeof *dq->segments, 8))
        return NULL;
    segment *s = &dq->segments[dq->segment_count++];
    *s = (segment){.id = id};
    return s;
}

/* Takes s out of the queue's books: its space is free at once for appends, and its marks not yet
 * written are not needed any more. The files stay; the caller deletes them. */
static void forget_segment(disk_queue *dq, segment *s)
{
    dq->total_bytes -= s->bytes;
    if (s->marks.len > 0)
        dq->marked_segments--;
    free(s->marks.bytes);
    size_t index = (size_t)(s - dq->segments);
    memmove(s, s + 1, (dq->segment_count - index - 1) * sizeof *s);
    dq->segment_count--;
}

/* 0, or the errno of the first unlink that failed. No logging: it runs on the thread pool. */
static int unlink_segment_files(const char *dir, uint64_t id)
{
    char path[4096];
    int error = 0;
    /* The events first: without them a leftover .done file is harmless (removed at the next
     * start), while a .log without its marks would deliver its events again. */
    segment_path(dir, id, "log", path, sizeof path);
    if (unlink(path) != 0 && errno != ENOENT)
        error = errno;
    segment_path(dir, id, "done", path, sizeof path);
    if (unlink(path) != 0 && errno != ENOENT && !error)
        error = errno;
    return error;
}

static void schedule_marks(disk_queue *dq);

/* A finished segment that is no longer written to goes; its files are deleted by the marks chain
 * (without room to remember it, at once). */
static void delete_segment(disk_queue *dq, segment *s)
{
    uint64_t id = s->id;
    forget_segment(dq, s);
    if (!room_for_one(&dq->doomed, &dq->doomed_cap, dq->doomed_count, sizeof *dq->doomed, 8)) {
        int error = unlink_segment_files(dq->dir, id);
        if (error)
            log_warn("disk-queue", "could not delete segment %" PRIu64 " in %s: %s", id, dq->dir,
                     strerror(error));
        return;
    }
    dq->doomed[dq->doomed_count++] = id;
    schedule_marks(dq);
}

static int sync_directory(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* The segment new records go to: a new one when a batch begins and the current one is full or
 * a write to it failed. Its file is created when the batch is committed. */
static segment *batch_target(disk_queue *dq)
{
    segment *target = dq->segment_count ? &dq->segments[dq->segment_count - 1] : NULL;
    if (dq->pending.len > 0 && target)
        return target;
    if (!target || dq->roll_next || target->bytes >= dq->segment_bytes) {
        uint64_t id = target ? target->id + 1 : 1;
        if (!(target = add_segment(dq, id)))
            return NULL;
        dq->roll_next = false;
        /* The segment before may have finished while it was still the target. */
        if (dq->segment_count >= 2 && dq->segments[dq->segment_count - 2].live == 0)
            delete_segment(dq, &dq->segments[dq->segment_count - 2]);
        target = &dq->segments[dq->segment_count - 1];
    }
    return target;
}

/* Opens a segment's file for appending; the directory is synced once per new file so the file
 * itself survives a crash. */
static int open_segment_file(const char *dir, const char *path, bool *directory_synced)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0)
        *directory_synced = sync_directory(dir) == 0;
    return fd;
}

/* ---- commits ---- */

static void maybe_commit(disk_queue *dq);
static void maybe_finish_close(disk_queue *dq);

static void commit_work(uv_work_t *work)
{
    commit_job *job = work->data;
    if (job->open_path) {
        job->fd = open_segment_file(job->dq->dir, job->open_path, &job->directory_synced);
        if (job->fd < 0) {
            job->error = errno;
            return;
        }
    }
    if (job->fd < 0) {
        job->error = EBADF;
        return;
    }
    uint64_t started = uv_hrtime();
    size_t at = 0;
    while (at < job->buffer.len) {
        ssize_t n = write(job->fd, job->buffer.bytes + at, job->buffer.len - at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            job->error = n < 0 ? errno : EIO;
            return;
        }
        at += (size_t)n;
    }
    if (fdatasync(job->fd) != 0)
        job->error = errno;
    job->disk_ns = uv_hrtime() - started;
}

static void commit_done(uv_work_t *work, int status)
{
    commit_job *job = work->data;
    disk_queue *dq = job->dq;
    dq->committing = NULL;
    dq->commits++;
    if (job->error == 0)
        dq->fsyncs++;
    if (job->directory_synced)
        dq->fsyncs++;
    if (job->open_path && job->fd >= 0) {
        if (dq->fd >= 0)
            close(dq->fd);
        dq->fd = job->fd;
        dq->fd_segment = job->open_segment;
    }
    bool ok = status == 0 && job->error == 0;
    if (ok && dq->commit_observer)
        dq->commit_observer(dq->commit_observer_user, (double)job->disk_ns / 1e9);
    if (!ok) {
        /* Part of the buffer may be on disk: later records would sit behind a torn one, so the
         * next commit goes to a fresh segment. */
        dq->roll_next = true;
        if (dq->healthy)
            log_error("disk-queue",
                      "cannot write %s: %s; events are refused until a write succeeds", dq->dir,
                      strerror(job->error ? job->error : EIO));
    } else if (!dq->healthy) {
        log_info("disk-queue", "writing to %s again", dq->dir);
    }
    dq->healthy = ok;
    for (size_t i = 0; i < job->waiter_count; i++)
        job->waiters[i].fn(job->waiters[i].user, ok);
    free(job->waiters);
    free(job->buffer.bytes);
    free(job->open_path);
    free(job);
    maybe_commit(dq);
    maybe_finish_close(dq);
}

static void start_commit(disk_queue *dq)
{
    commit_job *job = calloc(1, sizeof *job);
    if (!job)
        return; /* retried by the next append or the timer */
    job->dq = dq;
    job->work.data = job;
    job->fd = dq->fd;
    if (dq->segment_count == 0) {
        job->error = EIO;
    } else {
        const segment *target = &dq->segments[dq->segment_count - 1];
        if (dq->fd < 0 || dq->fd_segment != target->id) {
            char path[4096];
            segment_path(dq->dir, target->id, "log", path, sizeof path);
            job->open_segment = target->id;
            if (!(job->open_path = strdup(path)))
                job->error = ENOMEM;
        }
    }
    job->buffer = dq->pending;
    job->waiters = dq->waiters;
    job->waiter_count = dq->waiter_count;
    dq->pending = (byte_buffer){0};
    dq->waiters = NULL;
    dq->waiter_count = dq->waiter_cap = 0;
    dq->last_sync_start = uv_now(dq->loop);
    dq->committing = job;
    if (job->error || uv_queue_work(dq->loop, &job->work, commit_work, commit_done) != 0) {
        if (!job->error)
            job->error = EAGAIN;
        job->fd = -1; /* not opened: commit_done keeps dq->fd */
        commit_done(&job->work, 0);
    }
}

static void on_timer(uv_timer_t *timer)
{
    disk_queue *dq = timer->data;
    dq->timer_armed = false;
    if (!dq->committing && (dq->pending.len > 0 || dq->waiter_count > 0))
        start_commit(dq);
}

/* Starts a commit when one is due: never in the middle of a loop turn (the appends of this turn,
 * every request read in one poll, share it), and at most one per sync interval while the disk is
 * busy. */
static void maybe_commit(disk_queue *dq)
{
    if (dq->committing || (dq->pending.len == 0 && dq->waiter_count == 0))
        return;
    if (dq->closing) {
        start_commit(dq);
        return;
    }
    if (dq->timer_armed)
        return;
    uint64_t now = uv_now(dq->loop);
    uint64_t due = dq->last_sync_start + dq->sync_interval_ms;
    dq->timer_armed = true;
    uv_timer_start(&dq->timer, on_timer, now < due ? due - now : 0, 0);
}

/* ---- finished marks ---- */

static void maybe_start_marks(disk_queue *dq);

static void marks_work(uv_work_t *work)
{
    marks_job *job = work->data;
    const char *dir = job->dq->dir;
    for (size_t i = 0; i < job->file_count; i++) {
        char path[4096];
        segment_path(dir, job->files[i].segment, "done", path, sizeof path);
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        const byte_buffer *b = &job->files[i].bytes;
        size_t at = 0;
        while (fd >= 0 && at < b->len) {
            ssize_t n = write(fd, b->bytes + at, b->len - at);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                errno = n < 0 ? errno : EIO;
                break;
            }
            at += (size_t)n;
        }
        if ((fd < 0 || at < b->len) && !job->error)
            job->error = errno ? errno : EIO;
        if (fd >= 0)
            close(fd);
    }
    for (size_t i = 0; i < job->doomed_count; i++) {
        int error = unlink_segment_files(dir, job->doomed[i]);
        if (error && !job->unlink_error) {
            job->unlink_error = error;
            job->unlink_failed_segment = job->doomed[i];
        }
    }
}

static void marks_done(uv_work_t *work, int status)
{
    marks_job *job = work->data;
    disk_queue *dq = job->dq;
    dq->marking = NULL;
    int error = status != 0 ? EIO : job->error;
    if (error && !dq->marks_failing)
        log_warn("disk-queue",
                 "cannot write finished marks in %s: %s; those events are delivered again after "
                 "a restart",
                 dq->dir, strerror(error));
    else if (!error && dq->marks_failing)
        log_info("disk-queue", "writing finished marks in %s again", dq->dir);
    dq->marks_failing = error != 0;
    if (job->unlink_error)
        log_warn("disk-queue", "could not delete segment %" PRIu64 " in %s: %s",
                 job->unlink_failed_segment, dq->dir, strerror(job->unlink_error));
    for (size_t i = 0; i < job->file_count; i++)
        free(job->files[i].bytes.bytes);
    free(job->files);
    free(job->doomed);
    free(job);
    schedule_marks(dq);
    maybe_finish_close(dq);
}

/* Out of memory at close: the marks are given up (their events are delivered again after the
 * restart) and the deletions done here. */
static void drop_marks(disk_queue *dq)
{
    for (size_t i = 0; i < dq->segment_count; i++) {
        free(dq->segments[i].marks.bytes);
        dq->segments[i].marks = (byte_buffer){0};
    }
    dq->marked_segments = 0;
    for (size_t i = 0; i < dq->doomed_count; i++)
        unlink_segment_files(dq->dir, dq->doomed[i]);
    dq->doomed_count = 0;
    log_warn("disk-queue", "out of memory at close: finished marks not written; those events are "
                           "delivered again after a restart");
}

static void start_marks(disk_queue *dq)
{
    marks_job *job = calloc(1, sizeof *job);
    marks_file *files = dq->marked_segments ? calloc(dq->marked_segments, sizeof *files) : NULL;
    if (!job || (dq->marked_segments && !files)) {
        free(job);
        free(files);
        if (dq->closing)
            drop_marks(dq); /* rather than a close that never ends */
        return;             /* retried by the next mark or deletion */
    }
    job->dq = dq;
    job->work.data = job;
    job->files = files;
    for (size_t i = 0; i < dq->segment_count && job->file_count < dq->marked_segments; i++) {
        segment *s = &dq->segments[i];
        if (s->marks.len == 0)
            continue;
        job->files[job->file_count++] = (marks_file){s->id, s->marks};
        s->marks = (byte_buffer){0};
    }
    dq->marked_segments = 0;
    job->doomed = dq->doomed;
    job->doomed_count = dq->doomed_count;
    dq->doomed = NULL;
    dq->doomed_count = dq->doomed_cap = 0;
    dq->marking = job;
    if (uv_queue_work(dq->loop, &job->work, marks_work, marks_done) != 0) {
        marks_work(&job->work); /* no thread pool: on the loop rather than not at all */
        marks_done(&job->work, 0);
    }
}

static void on_marks_timer(uv_timer_t *timer)
{
    disk_queue *dq = timer->data;
    dq->marks_timer_armed = false;
    maybe_start_marks(dq);
}

static void maybe_start_marks(disk_queue *dq)
{
    if (!dq->marking && (dq->marked_segments > 0 || dq->doomed_count > 0))
        start_marks(dq);
}

/* Marks and deletions wait MARKS_FLUSH_MS to share a job; at close they go at once. Before the
 * queue is open (recovery) they wait for it. */
static void schedule_marks(disk_queue *dq)
{
    if (!dq->open_handles || dq->marking || (dq->marked_segments == 0 && dq->doomed_count == 0))
        return;
    if (dq->closing) {
        start_marks(dq);
        return;
    }
    if (!dq->marks_timer_armed) {
        dq->marks_timer_armed = true;
        uv_timer_start(&dq->marks_timer, on_marks_timer, MARKS_FLUSH_MS, 0);
    }
}

/* ---- appends ---- */

bool disk_queue_has_room(const disk_queue *dq, uint64_t bytes)
{
    return dq->total_bytes + bytes + DISK_QUEUE_RECORD_HEADER <= dq->max_bytes;
}

/* {"source":..,"key":..,"event":{...}}. JSON data goes in as the bytes received (valid JSON:
 * event_set_data checked them; NUL-terminated by it) instead of a copy of its parsed tree printed
 * again, which would cost more than the rest of an append together. */
static char *encode_event(event *ev)
{
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    if (ev->source_name)
        cJSON_AddStringToObject(root, "source", ev->source_name);
    if (ev->ordering_key)
        cJSON_AddStringToObject(root, "key", ev->ordering_key);
    cJSON *data_json = ev->data_json;
    bool raw = data_json && ev->data_len > 0 && !memchr(ev->data, '\0', ev->data_len);
    if (raw)
        ev->data_json = NULL; /* hidden from event_to_json for this one call */
    size_t data_len = ev->data_len;
    if (raw)
        ev->data_len = 0;
    cJSON *body = event_to_json(ev);
    ev->data_json = data_json;
    ev->data_len = data_len;
    if (body && raw && !cJSON_AddRawToObject(body, "data", (const char *)ev->data)) {
        cJSON_Delete(body);
        body = NULL;
    }
    char *text = NULL;
    if (body && cJSON_AddItemToObject(root, "event", body))
        text = cJSON_PrintUnformatted(root);
    else
        cJSON_Delete(body);
    cJSON_Delete(root);
    return text;
}

bool disk_queue_append(disk_queue *dq, event *ev)
{
    if (dq->closing || !dq->healthy)
        return false;
    char *text = encode_event(ev);
    size_t len = text ? strlen(text) : 0;
    bool ok = text && len <= DISK_QUEUE_MAX_PAYLOAD && disk_queue_has_room(dq, len) &&
              buffer_reserve(&dq->pending, DISK_QUEUE_RECORD_HEADER + len);
    segment *target = ok ? batch_target(dq) : NULL;
    if (target) {
        ev->journal_id = dq->next_id++;
        ev->journal_segment = target->id;
        buffer_put_record(&dq->pending, DISK_QUEUE_KIND_EVENT, ev->journal_id, text, len);
        target->bytes += DISK_QUEUE_RECORD_HEADER + len;
        target->live++;
        dq->total_bytes += DISK_QUEUE_RECORD_HEADER + len;
    }
    ok = target != NULL;
    free(text);
    if (ok)
        maybe_commit(dq);
    return ok;
}

void disk_queue_when_durable(disk_queue *dq, disk_queue_durable_fn fn, void *user)
{
    if (!room_for_one(&dq->waiters, &dq->waiter_cap, dq->waiter_count, sizeof *dq->waiters, 16)) {
        fn(user, false);
        return;
    }
    dq->waiters[dq->waiter_count++] = (waiter){fn, user};
    maybe_commit(dq);
}

void disk_queue_finished(disk_queue *dq, event *ev)
{
    if (!ev->journal_segment)
        return;
    segment *s = find_segment(dq, ev->journal_segment);
    ev->journal_segment = 0;
    if (!s)
        return;
    bool is_target = s == &dq->segments[dq->segment_count - 1];
    if (--s->live == 0 && !is_target) {
        delete_segment(dq, s);
        return;
    }
    /* The mark goes to the event's own segment's .done file, so it goes away with the segment.
     * Without room for it the event is delivered again after a crash: at-least-once holds. */
    if (!buffer_reserve(&s->marks, DISK_QUEUE_RECORD_HEADER))
        return;
    if (s->marks.len == 0)
        dq->marked_segments++;
    buffer_put_record(&s->marks, DISK_QUEUE_KIND_FINISHED, ev->journal_id, NULL, 0);
    s->bytes += DISK_QUEUE_RECORD_HEADER;
    dq->total_bytes += DISK_QUEUE_RECORD_HEADER;
    schedule_marks(dq);
}

uint64_t disk_queue_bytes(const disk_queue *dq)
{
    return dq->total_bytes;
}

uint64_t disk_queue_fsyncs(const disk_queue *dq)
{
    return dq->fsyncs;
}

uint64_t disk_queue_commits(const disk_queue *dq)
{
    return dq->commits;
}

void disk_queue_observe_commits(disk_queue *dq, void (*fn)(void *user, double seconds), void *user)
{
    dq->commit_observer = fn;
    dq->commit_observer_user = user;
}

bool disk_queue_healthy(const disk_queue *dq)
{
    return dq->healthy;
}

/* ---- recovery ---- */

typedef struct recovered_event {
    event *ev;
    char *source;
} recovered_event;

typedef struct recovery {
    disk_queue *dq;
    segment *segment;
    recovered_event *events;
    size_t event_count, event_cap;
    uint64_t *finished;
    size_t finished_count, finished_cap;
    disk_queue_recovery *stats;
    uint64_t max_id;
} recovery;

static bool remember_finished(recovery *r, uint64_t id)
{
    if (!room_for_one(&r->finished, &r->finished_cap, r->finished_count, sizeof *r->finished, 1024))
        return false;
    r->finished[r->finished_count++] = id;
    return true;
}

/* A .done file holds finished marks only; anything else in it is damage. */
static void recover_mark(void *user, const disk_queue_record *record)
{
    recovery *r = user;
    if (record->kind == DISK_QUEUE_KIND_FINISHED) {
        remember_finished(r, record->id);
        return;
    }
    r->stats->torn_records++;
    r->stats->torn_bytes += DISK_QUEUE_RECORD_HEADER + record->len;
}

static void recover_record(void *user, const disk_queue_record *record)
{
    recovery *r = user;
    if (record->id > r->max_id)
        r->max_id = record->id;
    /* Queues written before marks had files of their own keep them in the segment. */
    if (record->kind == DISK_QUEUE_KIND_FINISHED) {
        remember_finished(r, record->id);
        return;
    }
    char reason[256] = "";
    char *source = NULL;
    event *ev =
        disk_queue_decode_event(record->payload, record->len, &source, reason, sizeof reason);
    if (!ev) {
        r->stats->torn_records++;
        r->stats->torn_bytes += DISK_QUEUE_RECORD_HEADER + record->len;
        log_warn("disk-queue", "segment %" PRIu64 ": record %" PRIu64 " skipped: %s",
                 r->segment->id, record->id, reason);
        return;
    }
    if (!room_for_one(&r->events, &r->event_cap, r->event_count, sizeof *r->events, 256)) {
        event_unref(ev);
        free(source);
        return;
    }
    ev->journal_id = record->id;
    ev->journal_segment = r->segment->id;
    r->events[r->event_count++] = (recovered_event){ev, source};
}

static int compare_ids(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int compare_segments(const void *a, const void *b)
{
    return compare_ids(&((const segment *)a)->id, &((const segment *)b)->id);
}

static bool read_file(const char *path, uint8_t **bytes, size_t *len)
{
    *bytes = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    struct stat st;
    bool ok = fstat(fd, &st) == 0;
    size_t size = ok ? (size_t)st.st_size : 0;
    uint8_t *data = ok ? malloc(size ? size : 1) : NULL;
    size_t at = 0;
    while (data && at < size) {
        ssize_t n = read(fd, data + at, size - at);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        at += (size_t)n;
    }
    close(fd);
    if (!data)
        return false;
    *bytes = data;
    *len = at;
    return true;
}

static bool parse_segment_name(const char *name, uint64_t *id, const char *kind)
{
    char tail[8];
    return sscanf(name, "segment-%" SCNu64 ".%5s", id, tail) == 2 && strcmp(tail, kind) == 0 &&
           *id > 0;
}

/* The .log files are the segments; a .done file without its .log is what a crash between the two
 * unlinks left, and goes now. */
static int list_segments(disk_queue *dq)
{
    DIR *d = opendir(dq->dir);
    if (!d)
        return -1;
    struct dirent *entry;
    uint64_t id;
    while ((entry = readdir(d))) {
        if (parse_segment_name(entry->d_name, &id, "log") && !add_segment(dq, id)) {
            closedir(d);
            return -1;
        }
    }
    if (dq->segment_count > 1)
        qsort(dq->segments, dq->segment_count, sizeof *dq->segments, compare_segments);
    rewinddir(d);
    while ((entry = readdir(d))) {
        if (parse_segment_name(entry->d_name, &id, "done") && !find_segment(dq, id)) {
            char path[4096];
            segment_path(dq->dir, id, "done", path, sizeof path);
            if (unlink(path) != 0)
                log_warn("disk-queue", "could not delete %s: %s", path, strerror(errno));
        }
    }
    closedir(d);
    return 0;
}

/* Reads one file of segment s through fn; returns its size, 0 when it is absent. */
static size_t recover_file(recovery *r, segment *s, const char *kind,
                           void (*fn)(void *user, const disk_queue_record *record))
{
    char path[4096];
    segment_path(r->dq->dir, s->id, kind, path, sizeof path);
    uint8_t *bytes;
    size_t len;
    if (!read_file(path, &bytes, &len)) {
        if (errno != ENOENT || strcmp(kind, "log") == 0)
            log_warn("disk-queue", "cannot read %s: %s", path, strerror(errno));
        return 0;
    }
    r->segment = s;
    size_t valid = disk_queue_scan(bytes, len, fn, r);
    if (valid < len) {
        r->stats->torn_records++;
        r->stats->torn_bytes += len - valid;
        log_warn("disk-queue",
                 "%s: %zu byte(s) after offset %zu are torn or corrupt (a crash mid-write): "
                 "skipped%s",
                 path, len - valid, valid,
                 fn == recover_mark ? "; the events they finished are delivered again" : "");
    }
    free(bytes);
    return len;
}

static void recover(disk_queue *dq, disk_queue_recovered_fn fn, void *user,
                    disk_queue_recovery *stats)
{
    recovery r = {.dq = dq, .stats = stats};
    for (size_t i = 0; i < dq->segment_count; i++) {
        segment *s = &dq->segments[i];
        s->bytes = recover_file(&r, s, "log", recover_record);
        stats->segments++;
        s->bytes += recover_file(&r, s, "done", recover_mark);
    }
    if (r.finished_count > 1)
        qsort(r.finished, r.finished_count, sizeof *r.finished, compare_ids);
    for (size_t i = 0; i < r.event_count; i++) {
        recovered_event *re = &r.events[i];
        bool done = r.finished_count && bsearch(&re->ev->journal_id, r.finished, r.finished_count,
                                                sizeof *r.finished, compare_ids);
        if (done) {
            stats->finished++;
        } else {
            find_segment(dq, re->ev->journal_segment)->live++;
            stats->events++;
            fn(user, re->ev, re->source);
        }
        event_unref(re->ev);
        free(re->source);
    }
    free(r.events);
    free(r.finished);
    dq->next_id = r.max_id + 1;
    for (size_t i = 0; i < dq->segment_count; i++)
        dq->total_bytes += dq->segments[i].bytes;
    /* Segments with nothing left to deliver go (once the queue is open); the others when their
     * events finish. */
    for (size_t i = dq->segment_count; i-- > 0;)
        if (dq->segments[i].live == 0)
            delete_segment(dq, &dq->segments[i]);
}

static void free_queue(disk_queue *dq)
{
    if (dq->lock_fd >= 0)
        close(dq->lock_fd);
    for (size_t i = 0; i < dq->segment_count; i++)
        free(dq->segments[i].marks.bytes);
    free(dq->pending.bytes);
    free(dq->waiters);
    free(dq->doomed);
    free(dq->segments);
    free(dq->dir);
    free(dq);
}

disk_queue *disk_queue_open(uv_loop_t *loop, const disk_queue_options *options,
                            disk_queue_recovered_fn recovered, void *user,
                            disk_queue_recovery *stats, char *err, size_t err_cap)
{
    disk_queue_recovery ignored = {0};
    if (!stats)
        stats = &ignored;
    *stats = (disk_queue_recovery){0};
    if (make_directories(options->dir, 0700) != 0) {
        snprintf(err, err_cap, "queue directory %s: %s", options->dir, strerror(errno));
        return NULL;
    }
    disk_queue *dq = calloc(1, sizeof *dq);
    if (!dq || !(dq->dir = strdup(options->dir))) {
        free(dq);
        snprintf(err, err_cap, "out of memory");
        return NULL;
    }
    dq->loop = loop;
    dq->fd = -1;
    char lock_path[4096];
    snprintf(lock_path, sizeof lock_path, "%s/lock", options->dir);
    dq->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (dq->lock_fd < 0 || flock(dq->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        snprintf(err, err_cap, "queue directory %s: %s", options->dir,
                 errno == EWOULDBLOCK ? "another event-router is using it" : strerror(errno));
        free_queue(dq);
        return NULL;
    }
    dq->healthy = true;
    dq->max_bytes = options->max_bytes;
    dq->segment_bytes = options->segment_bytes ? options->segment_bytes : 8u * 1024 * 1024;
    dq->sync_interval_ms = (uint64_t)(options->sync_interval_seconds * 1000.0 + 0.5);
    dq->next_id = 1;
    if (list_segments(dq) != 0) {
        snprintf(err, err_cap, "queue directory %s: %s", options->dir, strerror(errno));
        free_queue(dq);
        return NULL;
    }
    recover(dq, recovered, user, stats);
    dq->roll_next = true; /* never append behind a previous run's (possibly torn) tail */
    segment *target = batch_target(dq);
    char path[4096];
    bool directory_synced = false;
    if (target) {
        segment_path(dq->dir, target->id, "log", path, sizeof path);
        dq->fd = open_segment_file(dq->dir, path, &directory_synced);
    }
    if (dq->fd < 0) {
        snprintf(err, err_cap, "queue directory %s: cannot create a segment: %s", options->dir,
                 strerror(errno));
        free_queue(dq);
        return NULL;
    }
    dq->fd_segment = target->id;
    dq->fsyncs += directory_synced;
    uv_timer_init(loop, &dq->timer);
    dq->timer.data = dq;
    uv_timer_init(loop, &dq->marks_timer);
    dq->marks_timer.data = dq;
    dq->open_handles = 2;
    schedule_marks(dq); /* the segments recovery found finished */
    return dq;
}

static void on_timer_closed(uv_handle_t *handle)
{
    disk_queue *dq = handle->data;
    if (--dq->open_handles > 0)
        return;
    void (*closed)(void *) = dq->closed;
    void *user = dq->closed_user;
    free_queue(dq);
    if (closed)
        closed(user);
}

static void maybe_finish_close(disk_queue *dq)
{
    if (!dq->closing || dq->committing || dq->pending.len > 0 || dq->waiter_count > 0 ||
        dq->marking || dq->marked_segments > 0 || dq->doomed_count > 0)
        return;
    if (dq->fd >= 0)
        close(dq->fd);
    dq->fd = -1;
    uv_timer_stop(&dq->timer);
    uv_timer_stop(&dq->marks_timer);
    if (!uv_is_closing((uv_handle_t *)&dq->timer)) {
        uv_close((uv_handle_t *)&dq->timer, on_timer_closed);
        uv_close((uv_handle_t *)&dq->marks_timer, on_timer_closed);
    }
}

void disk_queue_close(disk_queue *dq, void (*closed)(void *user), void *user)
{
    dq->closing = true;
    dq->closed = closed;
    dq->closed_user = user;
    maybe_commit(dq);
    schedule_marks(dq);
    maybe_finish_close(dq);
}
