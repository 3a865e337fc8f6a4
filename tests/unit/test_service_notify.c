/* The notify protocol against a socket that reads what a service manager would: READY and
 * STATUS, STOPPING, the watchdog's pings at half of WATCHDOG_USEC, abstract addresses, and
 * silence without NOTIFY_SOCKET. */
#include "check.h"
#include "service_notify.h"

#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static int listen_datagrams(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    size_t length = strlen(path);
    memcpy(address.sun_path, path, length);
    if (path[0] == '@')
        address.sun_path[0] = '\0';
    unlink(path);
    CHECK(bind(fd, (struct sockaddr *)&address,
               (socklen_t)(offsetof(struct sockaddr_un, sun_path) + length)) == 0);
    return fd;
}

/* The next datagram within timeout_ms, as a string; "" when none came. */
static const char *next_message(int fd, int timeout_ms)
{
    static char buffer[512];
    struct pollfd ready = {.fd = fd, .events = POLLIN};
    if (poll(&ready, 1, timeout_ms) != 1)
        return "";
    ssize_t n = recv(fd, buffer, sizeof buffer - 1, 0);
    buffer[n < 0 ? 0 : n] = '\0';
    return buffer;
}

static char socket_path[108];

static void test_ready_status_and_stopping_arrive(void)
{
    int fd = listen_datagrams(socket_path);
    setenv("NOTIFY_SOCKET", socket_path, 1);
    CHECK(service_notify("READY=1\nSTATUS=running") == 0);
    CHECK(strcmp(next_message(fd, 1000), "READY=1\nSTATUS=running") == 0);
    CHECK(service_notify("STOPPING=1") == 0);
    CHECK(strcmp(next_message(fd, 1000), "STOPPING=1") == 0);
    close(fd);
    unlink(socket_path);
}

static void test_abstract_socket(void)
{
    char abstract[64];
    snprintf(abstract, sizeof abstract, "@event-router-test-%d", (int)getpid());
    int fd = listen_datagrams(abstract);
    setenv("NOTIFY_SOCKET", abstract, 1);
    CHECK(service_notify("READY=1") == 0);
    CHECK(strcmp(next_message(fd, 1000), "READY=1") == 0);
    close(fd);
}

static void test_nothing_without_a_socket_and_errors_named(void)
{
    unsetenv("NOTIFY_SOCKET");
    CHECK(service_notify("READY=1") == 0);
    setenv("NOTIFY_SOCKET", "relative/path", 1);
    CHECK(service_notify("READY=1") < 0);
    setenv("NOTIFY_SOCKET", "/nonexistent/notify.sock", 1);
    CHECK(service_notify("READY=1") < 0);
    uv_loop_t loop;
    uv_loop_init(&loop);
    service_watchdog watchdog;
    unsetenv("NOTIFY_SOCKET");
    setenv("WATCHDOG_USEC", "100000", 1);
    CHECK(service_watchdog_start(&watchdog, &loop) == 0); /* no socket: no watchdog */
    service_watchdog_stop(&watchdog);
    CHECK(uv_loop_close(&loop) == 0);
}

static void on_test_end(uv_timer_t *timer)
{
    service_watchdog *watchdog = timer->data;
    service_watchdog_stop(watchdog);
    uv_close((uv_handle_t *)timer, NULL);
}

static void test_watchdog_pings_at_half_the_interval(void)
{
    int fd = listen_datagrams(socket_path);
    setenv("NOTIFY_SOCKET", socket_path, 1);
    setenv("WATCHDOG_USEC", "200000", 1); /* 200 ms: a ping every 100 ms */
    unsetenv("WATCHDOG_PID");
    uv_loop_t loop;
    uv_loop_init(&loop);
    service_watchdog watchdog;
    CHECK(service_watchdog_start(&watchdog, &loop) == 100);
    uv_timer_t end;
    uv_timer_init(&loop, &end);
    end.data = &watchdog;
    uv_timer_start(&end, on_test_end, 550, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
    int pings = 0;
    while (strcmp(next_message(fd, 0), "WATCHDOG=1") == 0)
        pings++;
    CHECK(pings >= 4 && pings <= 6); /* 100, 200, ..., 500 ms; a loaded machine may lose one */
    close(fd);

    /* Another process's watchdog (WATCHDOG_PID) is not ours to feed. */
    setenv("WATCHDOG_PID", "1", 1);
    uv_loop_init(&loop);
    CHECK(service_watchdog_start(&watchdog, &loop) == 0);
    CHECK(uv_loop_close(&loop) == 0);
    unsetenv("WATCHDOG_PID");
    unsetenv("WATCHDOG_USEC");
    unlink(socket_path);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t length = sizeof address;
    bind(fd, (struct sockaddr *)&address, sizeof address);
    getsockname(fd, (struct sockaddr *)&address, &length);
    close(fd);
    return ntohs(address.sin_port);
}

/* The real binary under a pretend service manager: READY with STATUS once it runs, watchdog
 * pings from its loop, STOPPING on SIGTERM, exit 0. */
static void test_the_router_speaks_the_protocol(void)
{
    const char *bin = getenv("EVENT_ROUTER_BIN");
    CHECK(bin != NULL);
    if (!bin)
        return;
    char dir[] = "/tmp/event-router-notify-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char config_path[256];
    snprintf(config_path, sizeof config_path, "%s/config.yaml", dir);
    FILE *config = fopen(config_path, "w");
    fprintf(config,
            "apiVersion: event-router.vmware.com/v1alpha1\nkind: RouterConfig\n"
            "metadata: {name: notify}\n"
            "eventProvider: {type: webhook, name: hook, webhook: {bindAddress: \"127.0.0.1:%d\", "
            "path: /webhook}}\n"
            "eventProcessor: {type: knative, name: sink, knative: {destination: {uri: "
            "\"http://127.0.0.1:9/\"}}}\n"
            "deadLetter: {dir: %s/deadletter}\nqueue: {type: memory}\n",
            free_port(), dir);
    fclose(config);
    int fd = listen_datagrams(socket_path);
    pid_t child = fork();
    if (child == 0) {
        setenv("NOTIFY_SOCKET", socket_path, 1);
        setenv("WATCHDOG_USEC", "200000", 1);
        unsetenv("WATCHDOG_PID");
        execl(bin, bin, "-config", config_path, "-log-level", "warn", (char *)NULL);
        _exit(127);
    }
    CHECK(strcmp(next_message(fd, 20000), "READY=1\nSTATUS=running") == 0);
    CHECK(strcmp(next_message(fd, 2000), "WATCHDOG=1") == 0);
    CHECK(strcmp(next_message(fd, 2000), "WATCHDOG=1") == 0);
    kill(child, SIGTERM);
    const char *message;
    do
        message = next_message(fd, 10000);
    while (strcmp(message, "WATCHDOG=1") == 0);
    CHECK(strncmp(message, "STOPPING=1\n", 11) == 0);
    int status = 0;
    CHECK(waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(fd);
    unlink(socket_path);
    char remove[300];
    snprintf(remove, sizeof remove, "rm -rf %s", dir);
    CHECK(system(remove) == 0);
}

int main(void)
{
    snprintf(socket_path, sizeof socket_path, "/tmp/event-router-notify-%d.sock", (int)getpid());
    RUN_TEST(test_ready_status_and_stopping_arrive);
    RUN_TEST(test_abstract_socket);
    RUN_TEST(test_nothing_without_a_socket_and_errors_named);
    RUN_TEST(test_watchdog_pings_at_half_the_interval);
    RUN_TEST(test_the_router_speaks_the_protocol);
    return CHECK_DONE();
}
