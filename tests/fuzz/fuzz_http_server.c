/* The HTTP/1.1 server (engine/http/http_server.c) as a client on 127.0.0.1 talks to it: the input
 * is the raw byte stream (one or more pipelined requests), written in pieces of an input-derived
 * size so the parser also sees requests cut at arbitrary points. The handler reads every field of
 * each request, checks its Basic credentials and decodes it as CloudEvents, as the webhook does.
 * Beyond not crashing: after the client's EOF the server finishes the conversation (answers, then
 * closes) within 5 s, every answer it sends starts with an HTTP/1.1 status line, and it frees the
 * connection. */
#include "fuzz_loop.h"

#include "http/basic_auth.h"
#include "http/cloudevents_http.h"
#include "http/http_server.h"
#include "log.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#define MAX_BODY_BYTES (64 * 1024)

static uv_loop_t loop;
static http_server *server;
static int port;
static size_t idle_stream_handles;
static basic_auth auth; /* user:pass, "Basic dXNlcjpwYXNz" */

static void handle(void *user, const http_request *request, http_response *response)
{
    (void)user;
    /* Touch every byte the server hands over: ASan then sees any string that is not there. */
    size_t total = strlen(request->method) + strlen(request->path) + strlen(request->query);
    for (size_t i = 0; i < request->header_count; i++)
        total += strlen(request->header_names[i]) + strlen(request->header_values[i]);
    for (size_t i = 0; i < request->body_len; i++)
        total += (unsigned char)request->body[i];
    FUZZ_ASSERT(request->body_len <= MAX_BODY_BYTES);
    /* Only the right credentials pass, as the webhook and metrics servers check them. */
    if (basic_auth_allows(&auth, request)) {
        const char *authorization = http_request_header(request, "authorization");
        FUZZ_ASSERT(authorization && strstr(authorization, "dXNlcjpwYXNz"));
    }

    event **events = NULL;
    size_t count = 0;
    char reason[256];
    int rc = cloudevents_http_decode(request, &events, &count, reason, sizeof reason);
    for (size_t i = 0; rc == 0 && i < count; i++)
        event_unref(events[i]);
    free(events);

    static char body[64];
    int len = snprintf(body, sizeof body, "{\"seen\":%zu,\"events\":%zu}", total, count);
    response->status = rc == 0 ? 202 : 400;
    response->content_type = "application/json";
    response->body = body;
    response->body_len = (size_t)len;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_set_level(LOG_LEVEL_ERROR);
    uv_loop_init(&loop);
    FUZZ_ASSERT(basic_auth_init(&auth, "user", "pass"));
    char err[256];
    server = http_server_start(&loop, "127.0.0.1:0", MAX_BODY_BYTES, handle, NULL, err, sizeof err);
    if (!server)
        fprintf(stderr, "fuzz_http_server: %s\n", err);
    FUZZ_ASSERT(server);
    port = http_server_port(server);
    idle_stream_handles = fuzz_loop_stream_handles(&loop);
    return 0;
}

static int connect_client(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    FUZZ_ASSERT(fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = connect(fd, (struct sockaddr *)&addr, sizeof addr);
    FUZZ_ASSERT(rc == 0 || errno == EINPROGRESS);
    return fd;
}

/* Reads what the server sends until its EOF; false when it does not finish in time. */
static bool read_answers(int fd, size_t *received, bool *starts_with_status)
{
    char buf[16384];
    *received = 0;
    *starts_with_status = true;
    for (;;) {
        if (!fuzz_loop_wait_readable(&loop, fd, 5000))
            return false;
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            return true;
        if (n < 0)
            continue;
        if (*received == 0 && (n < 9 || memcmp(buf, "HTTP/1.1 ", 9) != 0))
            *starts_with_status = false;
        *received += (size_t)n;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = connect_client();
    uint32_t hash = 2166136261u;
    for (size_t i = 0; i < size; i++)
        hash = (hash ^ data[i]) * 16777619u;
    size_t piece = hash % 4 == 0 ? size : 1 + hash % 512;
    bool sent = true;
    for (size_t at = 0; sent && at < size; at += piece) {
        size_t n = size - at < piece ? size - at : piece;
        sent = fuzz_loop_send(&loop, fd, data + at, n);
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    shutdown(fd, SHUT_WR);
    size_t received;
    bool starts_with_status;
    bool finished = read_answers(fd, &received, &starts_with_status);
    if (!finished)
        fprintf(stderr, "the server did not close the connection within 5 s of the client's EOF\n");
    FUZZ_ASSERT(finished);
    FUZZ_ASSERT(received == 0 || starts_with_status);
    close(fd);
    bool settled = fuzz_loop_settle(&loop, idle_stream_handles, 5000);
    if (!settled)
        fprintf(stderr, "the server kept a connection open after the client closed\n");
    FUZZ_ASSERT(settled);
    return 0;
}
