/* Horizon checkpoints (VEBA has none): <dir>/cp-horizon-<host>.json holding the time of the last
 * delivered audit event and the ids of every delivered event with that same millisecond, so a
 * restart asks Horizon for that millisecond onwards and skips exactly those ids.
 *
 *   {"horizon": "<host>", "lastEventTime": <ms>, "lastEventTimestamp": "<RFC 3339>",
 *    "lastEventIds": [<id>, ...], "lastEventId": <id>, "lastEventType": "<type>",
 *    "createdTimestamp": "<RFC 3339>"}
 *
 * The tracker knows which pushed events are done. Events finish out of order; the checkpoint is
 * the last event E such that every event pushed up to E is done, so a restart never skips an
 * event that was still in flight. Events are pushed in (time, id) order. */
#ifndef EVENT_ROUTER_HORIZON_CHECKPOINT_H
#define EVENT_ROUTER_HORIZON_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The ids delivered within one millisecond. */
typedef struct horizon_id_set {
    int64_t *ids;
    size_t count;
    size_t cap;
} horizon_id_set;

bool horizon_id_set_has(const horizon_id_set *set, int64_t id);
bool horizon_id_set_add(horizon_id_set *set, int64_t id);
void horizon_id_set_clear(horizon_id_set *set); /* keeps the memory */
void horizon_id_set_free(horizon_id_set *set);
bool horizon_id_set_copy(horizon_id_set *to, const horizon_id_set *from);

typedef struct horizon_checkpoint {
    char horizon[256];
    int64_t last_time_ms;
    horizon_id_set last_ids;
    int64_t last_id;
    char last_type[128];
} horizon_checkpoint;

/* "<dir>/cp-horizon-<host>.json". False when it does not fit. */
bool horizon_checkpoint_path(const char *dir, const char *host, char *out, size_t cap);
/* 1 when loaded, 0 when there is no file, -1 (with err naming the file and field) when it cannot
 * be read or is not a Horizon checkpoint. out must be zeroed or freed before. */
int horizon_checkpoint_load(const char *path, horizon_checkpoint *out, char *err, size_t err_cap);
/* Writes atomically (engine/atomic_file.h). 0 or -1 with err. */
int horizon_checkpoint_save(const char *path, const horizon_checkpoint *cp, char *err,
                            size_t err_cap);
void horizon_checkpoint_free(horizon_checkpoint *cp);

typedef struct horizon_tracker horizon_tracker;

/* start (may be NULL): the checkpoint resumed from, so ids delivered in its millisecond by the
 * previous run stay in the next checkpoint when more events of that millisecond commit. */
horizon_tracker *horizon_tracker_new(const horizon_checkpoint *start);
void horizon_tracker_free(horizon_tracker *tracker);
/* An event was pushed with token seq (increasing). False on no memory. */
bool horizon_tracker_pushed(horizon_tracker *tracker, uint64_t seq, int64_t time_ms, int64_t id,
                            const char *type);
/* The event with seq is done. True when the committed position moved. */
bool horizon_tracker_done(horizon_tracker *tracker, uint64_t seq);
/* Fills last_time_ms, last_ids, last_id and last_type from the committed position. False when
 * nothing committed since the tracker started. */
bool horizon_tracker_fill(const horizon_tracker *tracker, horizon_checkpoint *cp);
size_t horizon_tracker_pending(const horizon_tracker *tracker);

#endif
