/* The scripts' dead letters (<deadLetter.dir>/scripts.jsonl) under the same rule as the
 * dispatcher's: a failed write is not an acknowledgement. An event whose line could not be
 * written stays owned here (a reference, its error) and is written again 1 s, 2 s, ... up to 30 s
 * apart until the write succeeds; while any waits, script_deadletters_pending is non-zero (the
 * engine answers /readyz 503 and counts it in event_router_deadletter_pending) and an error is
 * logged. Each event handed in ends in exactly one done(owner, ev, outcome) call. */
#ifndef EVENT_ROUTER_SCRIPT_DEADLETTER_H
#define EVENT_ROUTER_SCRIPT_DEADLETTER_H

#include "deadletter.h"
#include "event.h"

#include <stddef.h>
#include <uv.h>

typedef enum {
    SCRIPT_DEADLETTER_WRITTEN = 0,
    SCRIPT_DEADLETTER_LOGGED, /* past the shutdown deadline, memory queue: the log holds its line */
    SCRIPT_DEADLETTER_KEPT,   /* past the shutdown deadline, disk queue: left for the next start */
} script_deadletter_outcome;

typedef void (*script_deadletter_done_fn)(void *owner, event *ev,
                                          script_deadletter_outcome outcome);

typedef struct script_deadletters script_deadletters;

script_deadletters *script_deadletters_new(uv_loop_t *loop, deadletter *dl,
                                           script_deadletter_done_fn done, void *owner);
/* Writes ev's line with error; done follows at once when it was written, else after a retry
 * succeeds (or the shutdown deadline). Takes its own reference while it waits. */
void script_deadletters_write(script_deadletters *sd, event *ev, const char *error);
/* Events whose line is waiting to be written. */
size_t script_deadletters_pending(const script_deadletters *sd);
/* The shutdown deadline: every waiting line is tried once more; those still failing end KEPT
 * (keep: a disk queue delivers them at the next start) or LOGGED. */
void script_deadletters_abandon(script_deadletters *sd, bool keep);
/* Abandons what still waits (LOGGED), closes the timer and frees; closed(user) follows. */
void script_deadletters_close(script_deadletters *sd, void (*closed)(void *user), void *user);

#endif
