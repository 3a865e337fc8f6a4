/* The disk queue: a write-ahead journal of every event the engine accepts, so that an
 * acknowledgement (a webhook 202) survives kill -9, an OOM kill or a power cut.
 *
 * Layout: <dir>/segment-<id>.log files of event records, written append-only, and beside each a
 * segment-<id>.done file of the finished marks of its events. Both hold records, one after the
 * other:
 *
 *   u32 crc32c   of everything after it (length, kind, reserved, id, payload)
 *   u32 length   of the payload
 *   u8  kind     1: an event (payload: JSON {source, key, event}), 2: that event id is finished
 *   u8[3]        reserved, zero
 *   u64 id       the event's journal id, increasing across restarts
 *   payload
 *
 * Integers are little-endian. A record that fails its checksum, or is cut short (a torn write at
 * the tail after a crash), ends the reading of its file: it and the rest of that file are skipped
 * and counted, never trusted and never fatal. (Queues written by earlier versions kept finished
 * records in the .log file; they are still honoured there.)
 *
 * Group commit: appends go into one buffer; a worker thread writes it and calls fdatasync once
 * for everything appended since the last commit, then the durable callbacks run on the loop. A
 * commit starts at the end of the loop turn when the disk is idle and at most once per sync
 * interval otherwise, so a lone event waits for one fdatasync and a flood shares each one among
 * many events. A new segment's file is created (and the directory synced) by the commit's worker,
 * never on the loop thread.
 *
 * Finished marks go to the thread pool a few milliseconds after the event finished, in a chain of
 * their own that never waits for a commit, and are never synced: losing one after a crash only
 * means that event is delivered again (at-least-once), never that one is lost. A kill -9 (the
 * page cache survives it) therefore delivers again only what finished in those last milliseconds.
 *
 * Space: a segment is deleted (both files, by the marks chain, so no late mark creates its .done
 * again) once every event in it has finished and a newer one is being written; the live segments'
 * bytes count against max_bytes and a full queue refuses appends (the source pushes back).
 * Single-threaded API (the loop thread); only the file work runs on libuv's thread pool. */
#ifndef EVENT_ROUTER_DISK_QUEUE_H
#define EVENT_ROUTER_DISK_QUEUE_H

#include "event.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define DISK_QUEUE_RECORD_HEADER 20
#define DISK_QUEUE_KIND_EVENT 1
#define DISK_QUEUE_KIND_FINISHED 2
/* No event record is larger (a 64 MiB event would exceed every byte bound anyway); a length above
 * it is corruption, not a reason to allocate. */
#define DISK_QUEUE_MAX_PAYLOAD (64u * 1024 * 1024)

typedef struct disk_queue disk_queue;

typedef struct disk_queue_options {
    const char *dir;
    uint64_t max_bytes;           /* live segment bytes; appends beyond are refused */
    uint64_t segment_bytes;       /* a segment past this size is closed and a new one begun */
    double sync_interval_seconds; /* at most one fdatasync per interval; 0: the next commit
                                   * starts as soon as the previous one returned */
} disk_queue_options;

typedef struct disk_queue_recovery {
    size_t segments;     /* segment files read */
    size_t events;       /* undelivered events handed back, to be delivered again */
    size_t finished;     /* event records already finished before the restart */
    size_t torn_records; /* records skipped: bad checksum, cut short, or undecodable */
    uint64_t torn_bytes; /* bytes skipped with them */
} disk_queue_recovery;

/* An undelivered event from a previous run; source is the name of the source that took it in
 * (NULL when absent). The callee takes its own reference if it keeps ev. */
typedef void (*disk_queue_recovered_fn)(void *user, event *ev, const char *source);
/* durable false: the write or the sync failed; the events are not safe on disk. */
typedef void (*disk_queue_durable_fn)(void *user, bool durable);

/* Creates dir if needed, reads every segment in it (recovered(user, ev, source) for each
 * undelivered event, in intake order), then starts a fresh segment. NULL with a reason when the
 * directory cannot be used. stats may be NULL. */
disk_queue *disk_queue_open(uv_loop_t *loop, const disk_queue_options *options,
                            disk_queue_recovered_fn recovered, void *user,
                            disk_queue_recovery *stats, char *err, size_t err_cap);

/* Serializes ev into the commit buffer (ev->journal_id and journal_segment are set). False when
 * the queue is full (or out of memory): nothing was written, the caller pushes back. */
bool disk_queue_append(disk_queue *dq, event *ev);
/* Records of ev's size would fit now. */
bool disk_queue_has_room(const disk_queue *dq, uint64_t bytes);
/* fn(user, durable) runs once, on the loop, after the commit that covers every append so far. */
void disk_queue_when_durable(disk_queue *dq, disk_queue_durable_fn fn, void *user);
/* ev is finished everywhere: it will not be delivered again after a restart, and its segment is
 * deleted once all of its events are finished. */
void disk_queue_finished(disk_queue *dq, event *ev);

uint64_t disk_queue_bytes(const disk_queue *dq);
uint64_t disk_queue_fsyncs(const disk_queue *dq);
uint64_t disk_queue_commits(const disk_queue *dq);
/* fn(user, seconds) runs on the loop after each synced commit with the time its worker spent
 * writing and in fdatasync: the disk's share of a 202's wait (for the metrics). */
void disk_queue_observe_commits(disk_queue *dq, void (*fn)(void *user, double seconds), void *user);
/* False after a failed write or sync until a later commit succeeds (for readiness and alarms). */
bool disk_queue_healthy(const disk_queue *dq);

/* Commits what is buffered, waits for the commit in flight, closes the files and frees the queue;
 * closed(user) runs last. Events not finished stay on disk for the next start. */
void disk_queue_close(disk_queue *dq, void (*closed)(void *user), void *user);

/* ---- the file format, without I/O (recovery and the fuzzer use it) ---- */

typedef struct disk_queue_record {
    uint8_t kind;
    uint64_t id;
    const uint8_t *payload;
    size_t len;
} disk_queue_record;

/* Calls fn for each valid record of one segment's bytes, in order, and stops at the first record
 * that is cut short or fails its checksum. Returns the length of the valid prefix. */
size_t disk_queue_scan(const uint8_t *bytes, size_t len,
                       void (*fn)(void *user, const disk_queue_record *record), void *user);
/* Decodes an event record's payload. NULL with a reason when it is not a valid event; *source
 * then points into a malloc'd copy the caller frees (NULL when absent). */
event *disk_queue_decode_event(const uint8_t *payload, size_t len, char **source, char *reason,
                               size_t reason_cap);

#endif
