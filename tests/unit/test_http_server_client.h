/* Test helpers shared by the HTTP server tests: the server's loop runs in a thread of its own
 * while the test talks to it over real blocking sockets on 127.0.0.1. */
#ifndef EVENT_ROUTER_TEST_HTTP_SERVER_CLIENT_H
#define EVENT_ROUTER_TEST_HTTP_SERVER_CLIENT_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <uv.h>

/* ---- the loop thread ---- */

typedef void (*loop_stop_fn)(void *user);

typedef struct loop_thread {
    uv_loop_t loop;
    uv_async_t stop;
    pthread_t thread;
    loop_stop_fn on_stop; /* runs on the loop thread: close what the test opened */
    void *user;
} loop_thread;

static void loop_thread_stop_cb(uv_async_t *async)
{
    loop_thread *lt = async->data;
    lt->on_stop(lt->user);
    uv_close((uv_handle_t *)async, NULL);
}

static void *loop_thread_main(void *arg)
{
    loop_thread *lt = arg;
    uv_run(&lt->loop, UV_RUN_DEFAULT);
    return NULL;
}

static void loop_thread_init(loop_thread *lt)
{
    uv_loop_init(&lt->loop);
    uv_async_init(&lt->loop, &lt->stop, loop_thread_stop_cb);
    lt->stop.data = lt;
}

static void loop_thread_start(loop_thread *lt, loop_stop_fn on_stop, void *user)
{
    lt->on_stop = on_stop;
    lt->user = user;
    pthread_create(&lt->thread, NULL, loop_thread_main, lt);
}

/* Stops the loop and returns uv_loop_close()'s verdict: 0 means every handle was closed. */
static int loop_thread_join(loop_thread *lt)
{
    uv_async_send(&lt->stop);
    pthread_join(lt->thread, NULL);
    /* Close callbacks queued by the last iteration have run; nothing may be left. */
    uv_run(&lt->loop, UV_RUN_NOWAIT);
    return uv_loop_close(&lt->loop);
}

/* ---- a raw HTTP client ---- */

static int client_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    struct timeval timeout = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool client_send(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n <= 0)
            return false;
        data += n;
        len -= (size_t)n;
    }
    return true;
}

static bool client_send_str(int fd, const char *text)
{
    return client_send(fd, text, strlen(text));
}

typedef struct client_response {
    int status;
    char headers[4096]; /* the raw header block, lower-cased names kept as sent */
    char body[65536];
    size_t body_len;
} client_response;

/* Bytes read past the end of one response belong to the next one (pipelining). */
typedef struct client_reader {
    int fd;
    char buffer[131072];
    size_t len;
} client_reader;

static bool reader_fill(client_reader *r)
{
    if (r->len == sizeof r->buffer)
        return false;
    ssize_t n = recv(r->fd, r->buffer + r->len, sizeof r->buffer - r->len, 0);
    if (n <= 0)
        return false;
    r->len += (size_t)n;
    return true;
}

static const char *response_header(const client_response *response, const char *name)
{
    static char value[512];
    const char *line = strstr(response->headers, "\r\n");
    size_t name_len = strlen(name);
    while (line && line[2]) {
        line += 2;
        if (strncasecmp(line, name, name_len) == 0 && line[name_len] == ':') {
            const char *start = line + name_len + 1;
            while (*start == ' ')
                start++;
            size_t len = strcspn(start, "\r");
            snprintf(value, sizeof value, "%.*s", (int)len, start);
            return value;
        }
        line = strstr(line, "\r\n");
    }
    return NULL;
}

/* Reads one response; its status, or -1 when the connection ended or timed out first. */
static int client_read_response(client_reader *r, client_response *response)
{
    char *end;
    for (;;) {
        r->buffer[r->len < sizeof r->buffer ? r->len : sizeof r->buffer - 1] = '\0';
        end = r->len ? strstr(r->buffer, "\r\n\r\n") : NULL;
        if (end)
            break;
        if (!reader_fill(r))
            return -1;
    }
    size_t head_len = (size_t)(end - r->buffer) + 4;
    snprintf(response->headers, sizeof response->headers, "%.*s", (int)head_len, r->buffer);
    response->status = atoi(r->buffer + 9);
    const char *length = response_header(response, "Content-Length");
    size_t body_len = length ? (size_t)atol(length) : 0;
    while (r->len < head_len + body_len)
        if (!reader_fill(r))
            return -1;
    memcpy(response->body, r->buffer + head_len, body_len);
    response->body[body_len] = '\0';
    response->body_len = body_len;
    memmove(r->buffer, r->buffer + head_len + body_len, r->len - head_len - body_len);
    r->len -= head_len + body_len;
    return response->status;
}

/* True when the peer closed the connection (EOF or reset) with nothing more to read. */
static bool client_sees_close(client_reader *r)
{
    if (r->len > 0)
        return false;
    char byte;
    ssize_t n = recv(r->fd, &byte, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

#endif
