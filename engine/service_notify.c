/* The notify protocol by hand: a datagram on an AF_UNIX socket. An address starting with '@' is
 * in the abstract namespace (the '@' becomes a NUL byte), as systemd documents. */
#include "service_notify.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int service_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path)
        return 0;
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    size_t length = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || length >= sizeof address.sun_path)
        return -EINVAL;
    memcpy(address.sun_path, path, length);
    if (path[0] == '@')
        address.sun_path[0] = '\0';
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    socklen_t address_length = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + length);
    ssize_t sent =
        sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&address, address_length);
    int result = sent < 0 ? -errno : 0;
    close(fd);
    return result;
}

static void on_watchdog_tick(uv_timer_t *timer)
{
    (void)timer;
    service_notify("WATCHDOG=1");
}

uint64_t service_watchdog_start(service_watchdog *watchdog, uv_loop_t *loop)
{
    watchdog->started = false;
    const char *usec_text = getenv("WATCHDOG_USEC");
    const char *pid_text = getenv("WATCHDOG_PID");
    if (!usec_text || !getenv("NOTIFY_SOCKET"))
        return 0;
    if (pid_text && strtol(pid_text, NULL, 10) != (long)getpid())
        return 0;
    char *end;
    unsigned long long usec = strtoull(usec_text, &end, 10);
    if (*end != '\0' || usec < 2000)
        return 0;
    uint64_t interval_ms = usec / 2000; /* half the interval, as sd_watchdog_enabled advises */
    uv_timer_init(loop, &watchdog->timer);
    uv_timer_start(&watchdog->timer, on_watchdog_tick, interval_ms, interval_ms);
    uv_unref((uv_handle_t *)&watchdog->timer); /* it never keeps the loop alive on its own */
    watchdog->started = true;
    return interval_ms;
}

void service_watchdog_stop(service_watchdog *watchdog)
{
    if (!watchdog->started)
        return;
    watchdog->started = false;
    uv_close((uv_handle_t *)&watchdog->timer, NULL);
}
