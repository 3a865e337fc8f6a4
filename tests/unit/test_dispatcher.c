/* The dispatcher against a scripted in-process processor on a real libuv loop: acks, retries,
 * dead-letters, per-key ordering, the concurrency limit and abandon at shutdown. */
#include "check.h"
#include "dispatcher.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* The fake target answers each attempt after a short timer, with the outcome a test script picks
 * from the event id and attempt number. */
typedef struct fake_target {
    uv_loop_t *loop;
    delivery_status (*decide)(const event *ev, int attempt);
    int attempts_by_id[64];
    size_t running, max_running;
    char delivered_order[64][16];
    size_t delivered_count;
} fake_target;

typedef struct fake_attempt {
    uv_timer_t timer;
    fake_target *target;
    event *ev;
    void *attempt;
    processor_attempt_done_fn done;
} fake_attempt;

static void fake_attempt_closed(uv_handle_t *handle)
{
    free(handle->data);
}

static void fake_attempt_fire(uv_timer_t *timer)
{
    fake_attempt *a = timer->data;
    fake_target *t = a->target;
    int id = atoi(a->ev->id);
    int attempt = ++t->attempts_by_id[id];
    delivery_result result = {.status = t->decide(a->ev, attempt), .retry_after_seconds = -1};
    result.http_status = result.status == DELIVERY_OK         ? 202
                         : result.status == DELIVERY_RETRY    ? 503
                         : result.status == DELIVERY_FILTERED ? 0
                                                              : 400;
    snprintf(result.error, sizeof result.error, "HTTP %ld from fake", result.http_status);
    if (result.status == DELIVERY_OK)
        snprintf(t->delivered_order[t->delivered_count++], 16, "%s", a->ev->id);
    t->running--;
    a->done(a->attempt, &result);
    event_unref(a->ev);
    uv_close((uv_handle_t *)timer, fake_attempt_closed);
}

static void fake_send(void *state, event *ev, void *attempt, processor_attempt_done_fn done)
{
    fake_target *t = state;
    fake_attempt *a = calloc(1, sizeof *a);
    *a = (fake_attempt){.target = t, .ev = event_ref(ev), .attempt = attempt, .done = done};
    if (++t->running > t->max_running)
        t->max_running = t->running;
    uv_timer_init(t->loop, &a->timer);
    a->timer.data = a;
    uv_timer_start(&a->timer, fake_attempt_fire, 1, 0);
}

static const processor_type fake_type = {.name = "fake", .send = fake_send};

typedef struct harness {
    uv_loop_t loop;
    fake_target target;
    metrics *metrics;
    processor_stats *stats;
    deadletter *deadletter;
    char dir[64];
    dispatcher *dispatcher;
    config_delivery policy;
    int done_delivered, done_dead;
    bool close_when_idle; /* as the engine at shutdown: close from inside done() */
    bool closed;
} harness;

static void on_closed(void *user)
{
    ((harness *)user)->closed = true;
}

static void on_done(void *owner, event *ev, dispatch_outcome outcome, const char *error)
{
    (void)ev;
    bool delivered = outcome == DISPATCH_DELIVERED;
    CHECK(delivered == (error == NULL));
    harness *h = owner;
    if (delivered)
        h->done_delivered++;
    else
        h->done_dead++;
    if (h->close_when_idle && dispatcher_pending(h->dispatcher) == 0)
        dispatcher_close(h->dispatcher, on_closed, h);
}

static double zero_jitter(void)
{
    return 0.0;
}

static void harness_init(harness *h, delivery_status (*decide)(const event *, int), int retries,
                         int max_in_flight)
{
    memset(h, 0, sizeof *h);
    uv_loop_init(&h->loop);
    h->target.loop = &h->loop;
    h->target.decide = decide;
    h->metrics = metrics_new();
    h->stats = metrics_add_processor(h->metrics, "fake", "fake");
    snprintf(h->dir, sizeof h->dir, "/tmp/er-dispatcher-XXXXXX");
    CHECK(mkdtemp(h->dir) != NULL);
    char err[256];
    h->deadletter = deadletter_open(h->dir, err, sizeof err);
    h->policy = (config_delivery){.timeout_seconds = 1,
                                  .retries = retries,
                                  .backoff_initial_seconds = 0.001,
                                  .backoff_max_seconds = 0.002,
                                  .max_in_flight = max_in_flight};
    dispatcher_options options = {.processor_name = "fake",
                                  .type = &fake_type,
                                  .processor_state = &h->target,
                                  .delivery = &h->policy,
                                  .deadletter = h->deadletter,
                                  .metrics = h->metrics,
                                  .stats = h->stats,
                                  .done = on_done,
                                  .owner = h,
                                  .random01 = zero_jitter};
    h->dispatcher = dispatcher_new(&h->loop, &options);
}

static void submit(harness *h, int id, const char *subject)
{
    event *ev = event_new();
    char text[16];
    snprintf(text, sizeof text, "%d", id);
    event_set_attribute(ev, "specversion", "1.0");
    event_set_attribute(ev, "id", text);
    event_set_attribute(ev, "source", "/test");
    event_set_attribute(ev, "type", "test");
    if (subject)
        event_set_attribute(ev, "subject", subject);
    ev->received_ns = uv_hrtime();
    ev->sequence = (uint64_t)id + 1; /* as the queue would number them */
    dispatcher_submit(h->dispatcher, ev);
    event_unref(ev);
}

/* Reads the dead-letter file whole (NULL when there is none). */
static char *read_deadletters(harness *h)
{
    char path[128];
    snprintf(path, sizeof path, "%s/fake.jsonl", h->dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    static char buffer[1 << 16];
    size_t n = fread(buffer, 1, sizeof buffer - 1, f);
    buffer[n] = '\0';
    fclose(f);
    return buffer;
}

static void harness_finish(harness *h)
{
    dispatcher_close(h->dispatcher, NULL, NULL);
    uv_run(&h->loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&h->loop) == 0); /* nothing leaked on the loop */
    char path[128];
    snprintf(path, sizeof path, "%s/fake.jsonl", h->dir);
    unlink(path);
    rmdir(h->dir);
    deadletter_close(h->deadletter);
    metrics_free(h->metrics);
}

static delivery_status always_ok(const event *ev, int attempt)
{
    (void)ev;
    (void)attempt;
    return DELIVERY_OK;
}

static delivery_status fail_twice_then_ok(const event *ev, int attempt)
{
    (void)ev;
    return attempt <= 2 ? DELIVERY_RETRY : DELIVERY_OK;
}

static delivery_status always_retry(const event *ev, int attempt)
{
    (void)ev;
    (void)attempt;
    return DELIVERY_RETRY;
}

static delivery_status reject_id_3(const event *ev, int attempt)
{
    (void)attempt;
    return strcmp(ev->id, "3") == 0 ? DELIVERY_FAILED : DELIVERY_OK;
}

/* Odd attempts of every event fail: each event needs exactly two attempts. */
static delivery_status flaky(const event *ev, int attempt)
{
    (void)ev;
    return attempt % 2 == 1 ? DELIVERY_RETRY : DELIVERY_OK;
}

/* Even ids are left out by the processor's own selection (EventBridge: no rule matches). */
static delivery_status filter_even(const event *ev, int attempt)
{
    (void)attempt;
    return atoi(ev->id) % 2 == 0 ? DELIVERY_FILTERED : DELIVERY_OK;
}

static void test_filtered_is_acked_and_counted_not_delivered(void)
{
    harness h;
    harness_init(&h, filter_even, 3, 4);
    for (int i = 0; i < 10; i++)
        submit(&h, i, "VmPoweredOnEvent");
    uv_run(&h.loop, UV_RUN_DEFAULT);
    CHECK(h.done_delivered == 10); /* acknowledged: the source may advance past them */
    CHECK(h.done_dead == 0);
    CHECK(h.stats->filtered == 5);
    CHECK(h.stats->delivered == 5);
    CHECK(h.stats->retries == 0);
    CHECK(h.stats->responses_by_class[0] == 0); /* no HTTP answer is not a transport error */
    CHECK(h.stats->subject_count == 1 && h.stats->subjects[0].success == 5);
    CHECK(read_deadletters(&h) == NULL);
    harness_finish(&h);
}

static void test_every_event_is_acked_once(void)
{
    harness h;
    harness_init(&h, always_ok, 3, 4);
    for (int i = 0; i < 20; i++)
        submit(&h, i, NULL);
    uv_run(&h.loop, UV_RUN_DEFAULT);
    CHECK(h.done_delivered == 20);
    CHECK(h.done_dead == 0);
    CHECK(h.stats->delivered == 20);
    CHECK(h.target.max_running <= 4); /* the concurrency limit holds */
    CHECK(h.target.max_running > 1);  /* and unordered events do run in parallel */
    CHECK(dispatcher_pending(h.dispatcher) == 0);
    CHECK(read_deadletters(&h) == NULL);
    harness_finish(&h);
}

static void test_transient_failures_are_retried(void)
{
    harness h;
    harness_init(&h, fail_twice_then_ok, 3, 4);
    submit(&h, 1, NULL);
    uv_run(&h.loop, UV_RUN_DEFAULT);
    CHECK(h.done_delivered == 1);
    CHECK(h.target.attempts_by_id[1] == 3);
    CHECK(h.stats->retries == 2);
    harness_finish(&h);
}

static void test_exhausted_retries_are_dead_lettered(void)
{
    harness h;
    harness_init(&h, always_retry, 2, 4);
    submit(&h, 5, "VmPoweredOnEvent");
    uv_run(&h.loop, UV_RUN_DEFAULT);
    CHECK(h.done_dead == 1);
    CHECK(h.target.attempts_by_id[5] == 3); /* the first attempt and 2 retries */
    char *lines = read_deadletters(&h);
    CHECK_CONTAINS(lines, "\"attempts\":3");
    CHECK_CONTAINS(lines, "HTTP 503 from fake");
    CHECK_CONTAINS(lines, "\"id\":\"5\"");
    CHECK(h.metrics->events_dead_lettered == 1);
    harness_finish(&h);
}

static void test_final_failure_is_not_retried(void)
{
    harness h;
    harness_init(&h, reject_id_3, 5, 4);
    for (int i = 0; i < 6; i++)
        submit(&h, i, NULL);
    uv_run(&h.loop, UV_RUN_DEFAULT);
    CHECK(h.done_delivered == 5);
    CHECK(h.done_dead == 1);
    CHECK(h.target.attempts_by_id[3] == 1);
    char *lines = read_deadletters(&h);
    CHECK_CONTAINS(lines, "HTTP 400 from fake");
    harness_finish(&h);
}

static void test_same_key_is_delivered_in_order(void)
{
    harness h;
    harness_init(&h, flaky, 3, 8);
    /* Two keys interleaved: each key's ids must come out ascending despite every first attempt
     * failing, while the two keys run side by side. */
    for (int i = 0; i < 20; i++)
        submit(&h, i, i % 2 ? "vm-odd" : "vm-even");
    uv_run(&h.loop, UV_RUN_DEFAULT);
    CHECK(h.done_delivered == 20);
    int last_odd = -1, last_even = -1;
    for (size_t i = 0; i < h.target.delivered_count; i++) {
        int id = atoi(h.target.delivered_order[i]);
        int *last = id % 2 ? &last_odd : &last_even;
        CHECK(id > *last);
        *last = id;
    }
    CHECK(h.target.max_running == 2); /* one per key, never two of the same key */
    harness_finish(&h);
}

/* With one delivery at a time, events leave in intake order even when an event of a key waited
 * behind its predecessor while an unkeyed event arrived (VEBA's one-at-a-time behaviour). */
static void test_one_in_flight_keeps_intake_order(void)
{
    harness h;
    harness_init(&h, always_ok, 3, 1);
    submit(&h, 0, "vm-1");
    submit(&h, 1, "vm-1");
    submit(&h, 2, NULL);
    submit(&h, 3, "vm-2");
    submit(&h, 4, "vm-1");
    uv_run(&h.loop, UV_RUN_DEFAULT);
    CHECK(h.done_delivered == 5);
    for (size_t i = 0; i < h.target.delivered_count; i++)
        CHECK(atoi(h.target.delivered_order[i]) == (int)i);
    harness_finish(&h);
}

static void test_abandon_dead_letters_everything_pending(void)
{
    harness h;
    harness_init(&h, always_retry, 1000, 2);
    h.policy.backoff_initial_seconds = 60; /* the retry would wait long after shutdown */
    h.policy.backoff_max_seconds = 60;
    for (int i = 0; i < 5; i++)
        submit(&h, i, "same-vm");
    uv_run(&h.loop, UV_RUN_ONCE);
    while (h.target.attempts_by_id[0] == 0)
        uv_run(&h.loop, UV_RUN_ONCE);
    dispatcher_abandon(h.dispatcher, "not delivered before shutdown", false);
    uv_run(&h.loop, UV_RUN_DEFAULT);
    CHECK(h.done_dead == 5);
    CHECK(dispatcher_pending(h.dispatcher) == 0);
    char *lines = read_deadletters(&h);
    CHECK_CONTAINS(lines, "not delivered before shutdown");
    harness_finish(&h);
}

/* Regression: the engine closes the dispatcher from inside done() once nothing is pending (a
 * SIGTERM with an event in delivery); finish() then went on using the freed dispatcher. */
static void test_close_from_inside_done_frees_once(void)
{
    harness h;
    harness_init(&h, reject_id_3, 0, 2);
    h.close_when_idle = true;
    for (int i = 0; i < 5; i++)
        submit(&h, i, i % 2 ? "vm-a" : NULL);
    uv_run(&h.loop, UV_RUN_DEFAULT);
    CHECK(h.done_delivered == 4);
    CHECK(h.done_dead == 1);
    CHECK(h.closed);
    CHECK(uv_loop_close(&h.loop) == 0);
    char path[128];
    snprintf(path, sizeof path, "%s/fake.jsonl", h.dir);
    unlink(path);
    rmdir(h.dir);
    deadletter_close(h.deadletter);
    metrics_free(h.metrics);
}

/* A dead letter on a full disk (/dev/full) is not an acknowledgement: the event stays owned and
 * pending, the alarm count is up, and once the disk takes it again the line is written and the
 * event nacked exactly once. */
static void test_failed_dead_letter_write_keeps_the_event(void)
{
    harness h;
    harness_init(&h, reject_id_3, 0, 2);
    char path[128];
    snprintf(path, sizeof path, "%s/fake.jsonl", h.dir);
    CHECK(symlink("/dev/full", path) == 0);
    submit(&h, 3, NULL);
    while (dispatcher_deadletter_pending(h.dispatcher) == 0)
        uv_run(&h.loop, UV_RUN_ONCE);
    CHECK(h.done_dead == 0);
    CHECK(dispatcher_pending(h.dispatcher) == 1);
    CHECK(h.metrics->events_dead_lettered == 0);
    CHECK(deadletter_write_failures(h.deadletter) == 1);
    /* The disk has room again. */
    unlink(path);
    while (h.done_dead == 0)
        uv_run(&h.loop, UV_RUN_ONCE);
    CHECK(dispatcher_deadletter_pending(h.dispatcher) == 0);
    CHECK(h.metrics->events_dead_lettered == 1);
    CHECK_CONTAINS(read_deadletters(&h), "\"id\":\"3\"");
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    harness_finish(&h);
}

/* Past the shutdown deadline a dead letter that still cannot be written goes to the log, and the
 * dispatcher closes: the shutdown deadline holds. */
static void test_abandon_ends_a_failing_dead_letter(void)
{
    harness h;
    harness_init(&h, reject_id_3, 0, 2);
    char path[128];
    snprintf(path, sizeof path, "%s/fake.jsonl", h.dir);
    CHECK(symlink("/dev/full", path) == 0);
    submit(&h, 3, NULL);
    while (dispatcher_deadletter_pending(h.dispatcher) == 0)
        uv_run(&h.loop, UV_RUN_ONCE);
    dispatcher_abandon(h.dispatcher, "not delivered before shutdown", false);
    CHECK(h.done_dead == 1);
    CHECK(dispatcher_pending(h.dispatcher) == 0);
    unlink(path);
    harness_finish(&h);
}

int main(void)
{
    RUN_TEST(test_every_event_is_acked_once);
    RUN_TEST(test_filtered_is_acked_and_counted_not_delivered);
    RUN_TEST(test_transient_failures_are_retried);
    RUN_TEST(test_exhausted_retries_are_dead_lettered);
    RUN_TEST(test_final_failure_is_not_retried);
    RUN_TEST(test_same_key_is_delivered_in_order);
    RUN_TEST(test_one_in_flight_keeps_intake_order);
    RUN_TEST(test_abandon_dead_letters_everything_pending);
    RUN_TEST(test_close_from_inside_done_frees_once);
    RUN_TEST(test_failed_dead_letter_write_keeps_the_event);
    RUN_TEST(test_abandon_ends_a_failing_dead_letter);
    return CHECK_DONE();
}
