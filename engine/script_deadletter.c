#include "script_deadletter.h"

#include "log.h"

#include <stdlib.h>
#include <string.h>

typedef struct waiting_line {
    event *ev;
    char *error;
    struct waiting_line *next;
} waiting_line;

struct script_deadletters {
    deadletter *dl;
    script_deadletter_done_fn done;
    void *owner;
    uv_timer_t retry_timer;
    waiting_line *head, **tail;
    size_t pending;
    int failed_rounds; /* consecutive retry rounds that left a line unwritten: the backoff */
    void (*closed)(void *user);
    void *closed_user;
};

script_deadletters *script_deadletters_new(uv_loop_t *loop, deadletter *dl,
                                           script_deadletter_done_fn done, void *owner)
{
    script_deadletters *sd = calloc(1, sizeof *sd);
    if (!sd)
        return NULL;
    sd->dl = dl;
    sd->done = done;
    sd->owner = owner;
    sd->tail = &sd->head;
    uv_timer_init(loop, &sd->retry_timer);
    sd->retry_timer.data = sd;
    return sd;
}

size_t script_deadletters_pending(const script_deadletters *sd)
{
    return sd ? sd->pending : 0;
}

static void on_retry(uv_timer_t *timer);

static void schedule_retry(script_deadletters *sd)
{
    double delay = sd->failed_rounds < 5 ? (double)(1 << sd->failed_rounds) : 30.0;
    uv_timer_start(&sd->retry_timer, on_retry, (uint64_t)(delay * 1000.0), 0);
}

/* Takes the first waiting line off the list (the caller ends it). */
static waiting_line *take_first(script_deadletters *sd)
{
    waiting_line *w = sd->head;
    sd->head = w->next;
    if (!sd->head)
        sd->tail = &sd->head;
    sd->pending--;
    return w;
}

static void end_line(script_deadletters *sd, waiting_line *w, script_deadletter_outcome outcome)
{
    event *ev = w->ev;
    free(w->error);
    free(w);
    sd->done(sd->owner, ev, outcome);
    event_unref(ev);
}

void script_deadletters_write(script_deadletters *sd, event *ev, const char *error)
{
    if (!sd->head && deadletter_write(sd->dl, "scripts", ev, 0, error)) {
        sd->done(sd->owner, ev, SCRIPT_DEADLETTER_WRITTEN);
        return;
    }
    /* Behind a line already waiting, this one waits too: the file keeps their order. */
    waiting_line *w = calloc(1, sizeof *w);
    char *copy = strdup(error ? error : "");
    if (!w || !copy) {
        free(w);
        free(copy);
        log_error("engine", "event %s: out of memory keeping its dead letter; it follows: %s",
                  ev->id, error ? error : "");
        sd->done(sd->owner, ev, SCRIPT_DEADLETTER_LOGGED);
        return;
    }
    w->ev = event_ref(ev);
    w->error = copy;
    *sd->tail = w;
    sd->tail = &w->next;
    if (sd->pending++ == 0) {
        sd->failed_rounds = 0;
        schedule_retry(sd);
    }
    log_error("engine", "event %s stays in memory until its dead letter is written (retrying)",
              ev->id);
}

/* Writes the waiting lines in order; stops at the first that fails (the disk is still full). */
static void write_waiting(script_deadletters *sd)
{
    while (sd->head && deadletter_write(sd->dl, "scripts", sd->head->ev, 0, sd->head->error))
        end_line(sd, take_first(sd), SCRIPT_DEADLETTER_WRITTEN);
}

static void on_retry(uv_timer_t *timer)
{
    script_deadletters *sd = timer->data;
    write_waiting(sd);
    if (sd->head) {
        sd->failed_rounds++;
        schedule_retry(sd);
    }
}

void script_deadletters_abandon(script_deadletters *sd, bool keep)
{
    if (!sd)
        return;
    uv_timer_stop(&sd->retry_timer);
    write_waiting(sd);
    while (sd->head) {
        waiting_line *w = take_first(sd);
        if (keep) {
            log_info("engine",
                     "event %s kept in the disk queue: its dead letter could not be "
                     "written before shutdown",
                     w->ev->id);
            end_line(sd, w, SCRIPT_DEADLETTER_KEPT);
            continue;
        }
        char *line = deadletter_format_line("scripts", w->ev, 0, w->error);
        log_error("engine",
                  "event %s: its dead letter could not be written before shutdown and follows: %s",
                  w->ev->id, line ? line : "(out of memory)");
        free(line);
        end_line(sd, w, SCRIPT_DEADLETTER_LOGGED);
    }
}

static void on_timer_closed(uv_handle_t *handle)
{
    script_deadletters *sd = handle->data;
    void (*closed)(void *) = sd->closed;
    void *user = sd->closed_user;
    free(sd);
    if (closed)
        closed(user);
}

void script_deadletters_close(script_deadletters *sd, void (*closed)(void *user), void *user)
{
    script_deadletters_abandon(sd, false);
    sd->closed = closed;
    sd->closed_user = user;
    uv_close((uv_handle_t *)&sd->retry_timer, on_timer_closed);
}
