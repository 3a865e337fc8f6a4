/* The service manager's notify protocol (systemd's sd_notify, as documented: one datagram of
 * "KEY=VALUE\n" lines to the AF_UNIX socket named by $NOTIFY_SOCKET), without libsystemd.
 * Without $NOTIFY_SOCKET every call does nothing, so the router runs the same anywhere else. */
#ifndef EVENT_ROUTER_SERVICE_NOTIFY_H
#define EVENT_ROUTER_SERVICE_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

/* Sends state (e.g. "READY=1\nSTATUS=running") once. Returns 0, or a negative errno; 0 also
 * when there is no notify socket. */
int service_notify(const char *state);

/* The watchdog: when the manager asked for one ($WATCHDOG_USEC, and $WATCHDOG_PID is unset or
 * this process), a timer on the loop sends WATCHDOG=1 every half interval. It runs on the event
 * loop itself, so a loop that is stuck stops the pings and the manager restarts the process. */
typedef struct service_watchdog {
    uv_timer_t timer;
    bool started;
} service_watchdog;

/* Returns the ping interval in milliseconds, or 0 when no watchdog was asked for. */
uint64_t service_watchdog_start(service_watchdog *watchdog, uv_loop_t *loop);
/* Closes the timer (its memory is the caller's; it may be freed after the loop has run). */
void service_watchdog_stop(service_watchdog *watchdog);

#endif
