/* vCenter checkpoints, compatible with the VMware Event Router's files
 * (<dir>/cp-<vcenter-host>.json with vCenter, lastEventUUID, lastEventKey, lastEventType,
 * lastEventKeyTimestamp, createdTimestamp).
 *
 * Two parts: the file (load, and an atomic save: temp file, fsync, rename, fsync of the
 * directory), and a tracker that knows which pushed events are done. Events finish out of order;
 * the checkpoint is the highest key K such that every pushed event with a key <= K is done, so a
 * restart never skips an event that was still in flight. */
#ifndef EVENT_ROUTER_CHECKPOINT_H
#define EVENT_ROUTER_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct checkpoint_record {
    char vcenter[256];
    char last_event_uuid[128];
    int64_t last_event_key;
    char last_event_type[128];
    char last_event_key_timestamp[64]; /* RFC 3339, the event's createdTime */
    char created_timestamp[64];        /* RFC 3339, when the checkpoint was written */
} checkpoint_record;

/* "<dir>/cp-<host>.json". False when it does not fit. */
bool checkpoint_path(const char *dir, const char *host, char *out, size_t cap);
/* 1 when loaded, 0 when there is no file, -1 (with err) when it cannot be read or parsed. */
int checkpoint_load(const char *path, checkpoint_record *out, char *err, size_t err_cap);
/* Parses a checkpoint's JSON text; where names it in errors (a path, "ConfigMap ns/name").
 * 1, or -1 with err. */
int checkpoint_parse(const char *text, size_t len, const char *where, checkpoint_record *out,
                     char *err, size_t err_cap);
/* The checkpoint's JSON (the file's content, the ConfigMap's `checkpoint` value), malloc'd; sets
 * createdTimestamp to now when it is empty. NULL: no memory. */
char *checkpoint_render(const checkpoint_record *record);
/* Writes atomically, creating the directory if needed. 0 or -1 with err. Sets created_timestamp
 * to now when it is empty. */
int checkpoint_save(const char *path, const checkpoint_record *record, char *err, size_t err_cap);

typedef struct checkpoint_tracker checkpoint_tracker;

/* Everything up to and including start_key counts as done already. */
checkpoint_tracker *checkpoint_tracker_new(int64_t start_key);
void checkpoint_tracker_free(checkpoint_tracker *tracker);
/* An event was pushed. Keys must increase; false for a key not above the last pushed one (or no
 * memory). uuid, type and created_time (may be NULL) are copied for the checkpoint. */
bool checkpoint_tracker_pushed(checkpoint_tracker *tracker, int64_t key, const char *uuid,
                               const char *type, const char *created_time);
/* The event with key is done. Returns true when the contiguous checkpoint moved. */
bool checkpoint_tracker_done(checkpoint_tracker *tracker, int64_t key);
/* The highest key with everything at or below it done. */
int64_t checkpoint_tracker_committed(const checkpoint_tracker *tracker);
/* Fills the last_event_* fields of record from the committed event (leaves vcenter alone).
 * False when nothing was committed since the tracker started. */
bool checkpoint_tracker_fill(const checkpoint_tracker *tracker, checkpoint_record *record);
/* Events pushed and not yet committed (done or not). */
size_t checkpoint_tracker_pending(const checkpoint_tracker *tracker);

/* Formats a time (seconds + nanoseconds since the epoch, UTC) as RFC 3339 with nanoseconds. */
void checkpoint_format_time(int64_t seconds, long nanoseconds, char *out, size_t cap);
/* Parses an RFC 3339 time into seconds since the epoch; false when it cannot. */
bool checkpoint_parse_time(const char *text, double *seconds);

#endif
