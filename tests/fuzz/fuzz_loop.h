/* For targets that drive a libuv server through a real loopback socket in the same thread: the
 * target is the client (a plain non-blocking socket) and turns the loop by hand between its own
 * reads and writes. */
#ifndef EVENT_ROUTER_FUZZ_LOOP_H
#define EVENT_ROUTER_FUZZ_LOOP_H

#include "fuzz_support.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <uv.h>

/* Waits up to timeout_ms for fd to have something to read (or to be closed), running the loop
 * whenever it has work. True when fd is readable. */
static inline bool fuzz_loop_wait_readable(uv_loop_t *loop, int fd, int timeout_ms)
{
    uint64_t deadline = uv_hrtime() / 1000000 + (uint64_t)timeout_ms;
    for (;;) {
        uv_run(loop, UV_RUN_NOWAIT);
        struct pollfd fds[2] = {{.fd = fd, .events = POLLIN},
                                {.fd = uv_backend_fd(loop), .events = POLLIN}};
        uint64_t now = uv_hrtime() / 1000000;
        if (now >= deadline)
            return false;
        int wait = (int)(deadline - now);
        int timeout = uv_backend_timeout(loop);
        if (timeout >= 0 && timeout < wait)
            wait = timeout;
        if (poll(fds, 2, wait) < 0 && errno != EINTR)
            return false;
        if (fds[0].revents)
            return true;
    }
}

/* Sends all of len, turning the loop while the socket buffer is full. False when the peer is
 * gone (a server may close after a bad request before reading everything). */
static inline bool fuzz_loop_send(uv_loop_t *loop, int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return false;
        uv_run(loop, UV_RUN_NOWAIT);
        poll(NULL, 0, 1);
    }
    return true;
}

static void fuzz_loop_count_handle(uv_handle_t *handle, void *count)
{
    if (handle->type == UV_TCP || handle->type == UV_NAMED_PIPE)
        (*(size_t *)count)++;
}

/* TCP and pipe handles still open or closing on the loop (listeners included). */
static inline size_t fuzz_loop_stream_handles(uv_loop_t *loop)
{
    size_t count = 0;
    uv_walk(loop, fuzz_loop_count_handle, &count);
    return count;
}

/* Runs the loop until only `remaining` stream handles are left: the server has closed and freed
 * every connection of this input, so each input starts from the same state. */
static inline bool fuzz_loop_settle(uv_loop_t *loop, size_t remaining, int timeout_ms)
{
    uint64_t deadline = uv_hrtime() / 1000000 + (uint64_t)timeout_ms;
    while (fuzz_loop_stream_handles(loop) > remaining) {
        if (uv_hrtime() / 1000000 >= deadline)
            return false;
        uv_run(loop, UV_RUN_NOWAIT);
        struct pollfd backend = {.fd = uv_backend_fd(loop), .events = POLLIN};
        poll(&backend, 1, 1);
    }
    return true;
}

#endif
