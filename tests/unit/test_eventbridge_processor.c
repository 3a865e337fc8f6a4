/* The EventBridge processor's shutdown contract with the engine's HTTP client: once stop() or
 * abandon() has been called the client may be closed at any time, so no timer of the processor
 * (the ListRules refresh, the batch flush) may start a request on it afterwards. The first
 * ListRules pass is due on the first loop turn after create; the engine's deadline path calls
 * abandon and closes the client at once. Under ASan a request on the closed client is a
 * use-after-free; in any build the endpoint (a listening socket of this test) must see nothing. */
#include "check.h"
#include "metrics/metrics.h"
#include "processors/eventbridge.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int listen_loopback(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 8) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) != 0)
        return -1;
    *port = ntohs(addr.sin_port);
    return fd;
}

static void on_timeout(uv_timer_t *timer)
{
    uv_close((uv_handle_t *)timer, NULL);
}

/* Runs the loop 300 ms: long enough for the first ListRules pass to fire had it been left. */
static void run_a_while(uv_loop_t *loop)
{
    uv_timer_t timer;
    uv_timer_init(loop, &timer);
    uv_timer_start(&timer, on_timeout, 300, 0);
    uv_run(loop, UV_RUN_DEFAULT);
}

static void check_no_request_after(bool abandon)
{
    int port = 0;
    int fd = listen_loopback(&port);
    CHECK(fd >= 0);
    char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d/", port);
    char *rules[] = {"arn:aws:events:us-east-1:123456789012:rule/r"};
    config_processor config = {.name = "eb", .kind = PROCESSOR_EVENTBRIDGE};
    config.eventbridge = (config_eventbridge){.region = "us-east-1",
                                              .event_bus = "default",
                                              .rule_arns = rules,
                                              .rule_count = 1,
                                              .endpoint = endpoint,
                                              .rule_refresh_seconds = 300,
                                              .batch_max_entries = 10,
                                              .batch_max_delay_seconds = 0.02};
    config.eventbridge.auth = (config_auth){
        .type = AUTH_AWS_ACCESS_KEY, .access_key = "AKIATEST", .secret_key = "not-a-real-secret"};
    uv_loop_t loop;
    uv_loop_init(&loop);
    http_client *http = http_client_new(&loop);
    metrics *m = metrics_new();
    config_delivery delivery = {.timeout_seconds = 1, .connect_timeout_seconds = 1};
    processor_services services = {.loop = &loop,
                                   .http = http,
                                   .delivery = &delivery,
                                   .metrics = m,
                                   .stats = metrics_add_processor(m, "eb", "aws_event_bridge")};
    void *state = NULL;
    char err[256] = "";
    CHECK(eventbridge_processor_type.create(&config, &services, &state, err, sizeof err) == 0);
    if (abandon)
        eventbridge_processor_type.abandon(state, "not delivered before shutdown", false);
    else
        eventbridge_processor_type.stop(state);
    http_client_close(http);
    run_a_while(&loop);
    /* Nobody connected: the refresh never ran. */
    struct timeval no_wait = {0};
    fd_set ready;
    FD_ZERO(&ready);
    FD_SET(fd, &ready);
    CHECK(select(fd + 1, &ready, NULL, NULL, &no_wait) == 0);
    CHECK(!eventbridge_processor_type.ready(state));
    eventbridge_processor_type.destroy(state);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
    metrics_free(m);
    close(fd);
}

static void test_no_request_after_stop(void)
{
    check_no_request_after(false);
}

static void test_no_request_after_abandon(void)
{
    check_no_request_after(true);
}

int main(void)
{
    RUN_TEST(test_no_request_after_stop);
    RUN_TEST(test_no_request_after_abandon);
    return CHECK_DONE();
}
