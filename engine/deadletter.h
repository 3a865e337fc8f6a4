/* The dead-letter file: events that could not be delivered are appended here as JSON lines, one
 * event per line with the processor, the attempts and the last error, so nothing is ever dropped
 * silently. One file per processor: <dir>/<processor>.jsonl, mode 0600. Writes are synchronous
 * and synced (rare by nature; losing them would defeat the purpose). Every line is valid JSON and
 * valid UTF-8: an event holding other bytes keeps them in "event_base64" (see
 * deadletter_format_line). A failed write is not an acknowledgement: the caller keeps the event
 * and tries again (the dispatcher does). */
#ifndef EVENT_ROUTER_DEADLETTER_H
#define EVENT_ROUTER_DEADLETTER_H

#include "event.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct deadletter deadletter;

/* Creates dir if needed. NULL with a reason when the directory cannot be created. */
deadletter *deadletter_open(const char *dir, char *err, size_t err_cap);
/* Appends one line. Returns false (logs and counts it) when the write or the sync failed. */
bool deadletter_write(deadletter *dl, const char *processor, const event *ev, int attempts,
                      const char *last_error);
/* The line deadletter_write appends (malloc'd, without the newline), for the log as a last
 * resort. Valid JSON and valid UTF-8. */
char *deadletter_format_line(const char *processor, const event *ev, int attempts,
                             const char *last_error);
bool deadletter_utf8_valid(const char *text, size_t len);
uint64_t deadletter_write_failures(const deadletter *dl);
const char *deadletter_dir(const deadletter *dl);
/* Past the shutdown deadline, with hundreds of events to dead-letter at once: lines are no longer
 * synced one by one (a few ms each would blow the deadline) but all together in deadletter_close.
 * Nothing is weaker for it: a memory queue loses its events in a crash anyway. */
void deadletter_sync_lazily(deadletter *dl);
void deadletter_close(deadletter *dl);

#endif
