/* The dead-letter file: events that could not be delivered are appended here as JSON lines, one
 * event per line with the processor, the attempts and the last error, so nothing is ever dropped
 * silently. One file per processor: <dir>/<processor>.jsonl. Writes are synchronous and flushed
 * (rare by nature; losing them would defeat the purpose). */
#ifndef EVENT_ROUTER_DEADLETTER_H
#define EVENT_ROUTER_DEADLETTER_H

#include "event.h"

#include <stdbool.h>

typedef struct deadletter deadletter;

/* Creates dir if needed. NULL with a reason when the directory cannot be created. */
deadletter *deadletter_open(const char *dir, char *err, size_t err_cap);
/* Appends one line. Returns false (and logs) only when the write itself failed. */
bool deadletter_write(deadletter *dl, const char *processor, const event *ev, int attempts,
                      const char *last_error);
const char *deadletter_dir(const deadletter *dl);
void deadletter_close(deadletter *dl);

#endif
