#include "check.h"
#include "event_queue.h"

static int ready_calls;
static int space_calls;

static void on_ready(void *consumer)
{
    (void)consumer;
    ready_calls++;
}

static void on_space(void *waiter)
{
    (void)waiter;
    space_calls++;
}

static event *make(const char *id)
{
    event *ev = event_new();
    event_set_attribute(ev, "id", id);
    return ev;
}

static void test_fifo_and_sequence(void)
{
    event_queue q;
    CHECK(event_queue_init(&q, 3));
    event_queue_set_consumer(&q, on_ready, NULL);
    ready_calls = 0;
    event *a = make("a"), *b = make("b");
    CHECK(event_queue_push(&q, a));
    CHECK(event_queue_push(&q, b));
    CHECK(ready_calls == 2);
    CHECK(a->sequence + 1 == b->sequence);
    event *first = event_queue_pop(&q);
    CHECK(first == a);
    CHECK(event_queue_depth(&q) == 1);
    event_unref(first);
    event_unref(a);
    event_unref(b);
    event_queue_destroy(&q); /* drops b's queue reference */
}

static void test_full_queue_refuses_and_wakes_waiters(void)
{
    event_queue q;
    CHECK(event_queue_init(&q, 2));
    event *evs[3] = {make("1"), make("2"), make("3")};
    CHECK(event_queue_push(&q, evs[0]));
    CHECK(event_queue_push(&q, evs[1]));
    CHECK(!event_queue_push(&q, evs[2]));
    CHECK(evs[2]->refcount == 1); /* a refused event stays the caller's alone */
    space_calls = 0;
    event_queue_wait_for_space(&q, on_space, &q);
    event_queue_wait_for_space(&q, on_space, &q); /* registering twice wakes once */
    event *popped = event_queue_pop(&q);
    CHECK(space_calls == 1);
    event_unref(popped);
    event_queue_pop(&q);
    CHECK(space_calls == 1); /* a waiter is woken once per registration */
    event_unref(evs[1]);
    for (int i = 0; i < 3; i++)
        event_unref(evs[i]);
    event_queue_destroy(&q);
}

static void test_batch_is_all_or_nothing(void)
{
    event_queue q;
    CHECK(event_queue_init(&q, 4));
    event *evs[5];
    for (int i = 0; i < 5; i++)
        evs[i] = make("x");
    CHECK(!event_queue_push_all(&q, evs, 5));
    CHECK(event_queue_depth(&q) == 0);
    CHECK(event_queue_push_all(&q, evs, 4));
    CHECK(event_queue_free(&q) == 0);
    for (int i = 0; i < 4; i++) {
        event *ev = event_queue_pop(&q);
        CHECK(ev == evs[i]); /* wrap-around keeps order */
        event_unref(ev);
    }
    for (int i = 0; i < 5; i++)
        event_unref(evs[i]);
    event_queue_destroy(&q);
}

int main(void)
{
    RUN_TEST(test_fifo_and_sequence);
    RUN_TEST(test_full_queue_refuses_and_wakes_waiters);
    RUN_TEST(test_batch_is_all_or_nothing);
    return CHECK_DONE();
}
