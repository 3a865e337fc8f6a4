#include "check.h"
#include "http/http_server.h"
#include "test_http_server_client.h"

#include <stdatomic.h>

#define MAX_BODY 1024

static atomic_int handled;

/* Echoes what the server parsed, so the test can see it: "METHOD path?query|x-test|body". */
static void echo_handler(void *user, const http_request *request, http_response *response)
{
    (void)user;
    static char body[4096];
    atomic_fetch_add(&handled, 1);
    if (strcmp(request->path, "/missing") == 0) {
        response->status = 404;
        return;
    }
    bool names_lower = true;
    for (size_t i = 0; i < request->header_count; i++)
        for (const char *p = request->header_names[i]; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                names_lower = false;
    const char *test = http_request_header(request, "X-TEST");
    const char *empty = http_request_header(request, "x-empty");
    int len = snprintf(body, sizeof body, "%s %s?%s|%s|%s|%s|%.*s", request->method, request->path,
                       request->query, test ? test : "-", empty ? empty : "-",
                       names_lower ? "lower" : "MIXED", (int)request->body_len, request->body);
    response->status = 200;
    response->content_type = "text/plain";
    response->body = body;
    response->body_len = (size_t)len;
    response->extra_headers = "X-Echo: yes\r\n";
}

typedef struct fixture {
    loop_thread lt;
    http_server *server;
    int port;
} fixture;

static void stop_server(void *user)
{
    http_server_close(((fixture *)user)->server);
}

static bool fixture_start(fixture *f)
{
    char err[256] = "";
    loop_thread_init(&f->lt);
    f->server = http_server_start(&f->lt.loop, "127.0.0.1:0", MAX_BODY, echo_handler, NULL, err,
                                  sizeof err);
    CHECK(f->server != NULL);
    if (!f->server) {
        fprintf(stderr, "start: %s\n", err);
        return false;
    }
    f->port = http_server_port(f->server);
    CHECK(f->port > 0);
    loop_thread_start(&f->lt, stop_server, f);
    return true;
}

static void fixture_stop(fixture *f)
{
    /* 0: every handle (listener, timer, connections) was closed and the loop is empty. */
    CHECK(loop_thread_join(&f->lt) == 0);
}

static client_reader *open_client(const fixture *f)
{
    client_reader *r = calloc(1, sizeof *r);
    r->fd = client_connect(f->port);
    CHECK(r->fd >= 0);
    return r;
}

static void close_client(client_reader *r)
{
    close(r->fd);
    free(r);
}

static client_response response;

static void test_keep_alive_reuses_the_connection(void)
{
    fixture f;
    if (!fixture_start(&f))
        return;
    client_reader *r = open_client(&f);
    for (int i = 0; i < 3; i++) {
        char request[256];
        snprintf(request, sizeof request,
                 "POST /hook?n=%d HTTP/1.1\r\nHost: x\r\nX-Test: Hello\r\nContent-Length: 5\r\n\r\n"
                 "abcde",
                 i);
        CHECK(client_send_str(r->fd, request));
        CHECK(client_read_response(r, &response) == 200);
        char want[64];
        snprintf(want, sizeof want, "POST /hook?n=%d|Hello|-|lower|abcde", i);
        CHECK_STR(response.body, want);
        CHECK_STR(response_header(&response, "Content-Type"), "text/plain");
        CHECK_STR(response_header(&response, "X-Echo"), "yes");
        CHECK(response_header(&response, "Connection") == NULL);
    }
    close_client(r);
    fixture_stop(&f);
}

static void test_pipelined_requests_are_answered_in_order(void)
{
    fixture f;
    if (!fixture_start(&f))
        return;
    client_reader *r = open_client(&f);
    char requests[8192] = "";
    for (int i = 0; i < 20; i++) {
        char one[128];
        snprintf(one, sizeof one, "GET /p%d HTTP/1.1\r\nHost: x\r\n\r\n", i);
        strcat(requests, one);
    }
    CHECK(client_send_str(r->fd, requests));
    for (int i = 0; i < 20; i++) {
        char want[64];
        snprintf(want, sizeof want, "GET /p%d?|-|-|lower|", i);
        CHECK(client_read_response(r, &response) == 200);
        CHECK_STR(response.body, want);
    }
    close_client(r);
    fixture_stop(&f);
}

static void test_connection_close_and_http10_end_the_connection(void)
{
    fixture f;
    if (!fixture_start(&f))
        return;
    client_reader *r = open_client(&f);
    /* The request after "Connection: close" must not be answered. */
    CHECK(client_send_str(r->fd, "GET /a HTTP/1.1\r\nConnection: close\r\n\r\n"
                                 "GET /b HTTP/1.1\r\n\r\n"));
    CHECK(client_read_response(r, &response) == 200);
    CHECK_STR(response_header(&response, "Connection"), "close");
    CHECK(client_sees_close(r));
    close_client(r);

    r = open_client(&f);
    CHECK(client_send_str(r->fd, "GET /old HTTP/1.0\r\n\r\n"));
    CHECK(client_read_response(r, &response) == 200);
    CHECK(client_sees_close(r));
    close_client(r);

    r = open_client(&f);
    CHECK(client_send_str(r->fd, "GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    CHECK(client_read_response(r, &response) == 200);
    CHECK(client_send_str(r->fd, "GET /again HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    CHECK(client_read_response(r, &response) == 200);
    CHECK_CONTAINS(response.body, "/again");
    close_client(r);
    fixture_stop(&f);
}

static void test_body_over_the_limit_is_413(void)
{
    fixture f;
    if (!fixture_start(&f))
        return;
    char *big = malloc(MAX_BODY + 2);
    memset(big, 'x', MAX_BODY + 1);
    big[MAX_BODY + 1] = '\0';

    /* Declared too large: refused from the headers alone, even though the body is sent. */
    client_reader *r = open_client(&f);
    char head[128];
    snprintf(head, sizeof head, "POST /big HTTP/1.1\r\nContent-Length: %d\r\n\r\n", MAX_BODY + 1);
    CHECK(client_send_str(r->fd, head));
    CHECK(client_send_str(r->fd, big));
    CHECK(client_read_response(r, &response) == 413);
    CHECK(client_sees_close(r));
    close_client(r);

    /* Chunked: the limit applies to the accumulated body. */
    r = open_client(&f);
    CHECK(client_send_str(r->fd, "POST /big HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"));
    char chunk[64];
    for (int i = 0; i < 3; i++) {
        snprintf(chunk, sizeof chunk, "%x\r\n", 400);
        CHECK(client_send_str(r->fd, chunk));
        CHECK(client_send(r->fd, big, 400));
        CHECK(client_send_str(r->fd, "\r\n"));
    }
    CHECK(client_read_response(r, &response) == 413);
    CHECK(client_sees_close(r));
    close_client(r);

    /* Exactly at the limit is fine, chunked or not. */
    r = open_client(&f);
    snprintf(head, sizeof head, "POST /ok HTTP/1.1\r\nContent-Length: %d\r\n\r\n", MAX_BODY);
    CHECK(client_send_str(r->fd, head));
    CHECK(client_send(r->fd, big, MAX_BODY));
    CHECK(client_read_response(r, &response) == 200);
    CHECK(client_send_str(r->fd, "POST /ok HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                                 "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"));
    CHECK(client_read_response(r, &response) == 200);
    CHECK_CONTAINS(response.body, "|abcde");
    close_client(r);
    free(big);
    fixture_stop(&f);
}

static void test_malformed_request_is_400_and_closes(void)
{
    fixture f;
    if (!fixture_start(&f))
        return;
    int before = atomic_load(&handled);
    client_reader *r = open_client(&f);
    CHECK(client_send_str(r->fd, "THIS IS NOT HTTP\r\n\r\n"));
    CHECK(client_read_response(r, &response) == 400);
    CHECK(client_sees_close(r));
    close_client(r);

    r = open_client(&f);
    CHECK(client_send_str(r->fd, "POST /x HTTP/1.1\r\nContent-Length: abc\r\n\r\n"));
    CHECK(client_read_response(r, &response) == 400);
    CHECK(client_sees_close(r));
    close_client(r);
    CHECK(atomic_load(&handled) == before);
    fixture_stop(&f);
}

static void test_handler_status_and_header_details(void)
{
    fixture f;
    if (!fixture_start(&f))
        return;
    client_reader *r = open_client(&f);
    CHECK(client_send_str(r->fd, "GET /missing HTTP/1.1\r\n\r\n"));
    CHECK(client_read_response(r, &response) == 404);
    CHECK_STR(response_header(&response, "Content-Length"), "0");
    /* An empty header value, header names in any case, a query and a fragment-less target. */
    CHECK(client_send_str(r->fd, "GET /h?a=1&b=2 HTTP/1.1\r\nX-Empty:\r\nx-TeSt: v\r\n\r\n"));
    CHECK(client_read_response(r, &response) == 200);
    CHECK_STR(response.body, "GET /h?a=1&b=2|v||lower|");
    /* Expect: 100-continue gets its interim answer before the final one. */
    CHECK(client_send_str(r->fd, "POST /c HTTP/1.1\r\nExpect: 100-continue\r\n"
                                 "Content-Length: 2\r\n\r\n"));
    CHECK(client_read_response(r, &response) == 100);
    CHECK(client_send_str(r->fd, "hi"));
    CHECK(client_read_response(r, &response) == 200);
    CHECK_CONTAINS(response.body, "|hi");
    close_client(r);
    fixture_stop(&f);
}

/* A request split into one-byte writes exercises every parser callback across reads. */
static void test_request_split_across_reads(void)
{
    fixture f;
    if (!fixture_start(&f))
        return;
    client_reader *r = open_client(&f);
    const char *request =
        "POST /slow?q=1 HTTP/1.1\r\nX-Test: split\r\nContent-Length: 3\r\n\r\nxyz";
    for (const char *p = request; *p; p++) {
        CHECK(client_send(r->fd, p, 1));
        usleep(200);
    }
    CHECK(client_read_response(r, &response) == 200);
    CHECK_STR(response.body, "POST /slow?q=1|split|-|lower|xyz");
    close_client(r);
    fixture_stop(&f);
}

/* Hundreds of connections and thousands of pipelined requests; then close with clients still
 * connected: every handle must close and ASan must find nothing. */
static void test_many_connections_and_close_with_clients_connected(void)
{
    fixture f;
    if (!fixture_start(&f))
        return;
    enum { CONNECTIONS = 200, PER_CONNECTION = 25 };
    static client_reader *clients[CONNECTIONS];
    char requests[PER_CONNECTION * 64] = "";
    for (int i = 0; i < PER_CONNECTION; i++)
        strcat(requests, "POST /load HTTP/1.1\r\nContent-Length: 2\r\n\r\nok");
    int before = atomic_load(&handled);
    for (int c = 0; c < CONNECTIONS; c++) {
        clients[c] = open_client(&f);
        CHECK(client_send_str(clients[c]->fd, requests));
    }
    int answered = 0;
    for (int c = 0; c < CONNECTIONS; c++)
        for (int i = 0; i < PER_CONNECTION; i++)
            answered += client_read_response(clients[c], &response) == 200;
    CHECK(answered == CONNECTIONS * PER_CONNECTION);
    CHECK(atomic_load(&handled) - before == CONNECTIONS * PER_CONNECTION);
    fixture_stop(&f);
    for (int c = 0; c < CONNECTIONS; c++) {
        CHECK(client_sees_close(clients[c]));
        close_client(clients[c]);
    }
}

static void test_head_and_upgrade(void)
{
    fixture f;
    if (!fixture_start(&f))
        return;
    client_reader *r = open_client(&f);
    /* HEAD: the Content-Length of the GET answer, no body; the next answer must parse cleanly. */
    CHECK(client_send_str(r->fd, "HEAD /h HTTP/1.1\r\n\r\nGET /next HTTP/1.1\r\n\r\n"));
    r->len = 0;
    char raw[1024] = "";
    size_t got = 0;
    while (!strstr(raw, "/next") && got < sizeof raw - 1) {
        ssize_t n = recv(r->fd, raw + got, sizeof raw - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
        raw[got] = '\0';
    }
    CHECK(strncmp(raw, "HTTP/1.1 200", 12) == 0);
    CHECK_CONTAINS(raw, "Content-Length: 19\r\n"); /* "HEAD /h?|-|-|lower|" */
    const char *second = strstr(raw + 1, "HTTP/1.1 200");
    CHECK(second != NULL);
    if (second) /* the first answer ends right where the second begins: no body was sent */
        CHECK(strncmp(second - 4, "\r\n\r\n", 4) == 0);
    close_client(r);

    /* An Upgrade request is answered, then the connection ends: we speak only HTTP. */
    r = open_client(&f);
    CHECK(client_send_str(r->fd,
                          "GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"));
    CHECK(client_read_response(r, &response) == 200);
    CHECK(client_sees_close(r));
    close_client(r);
    fixture_stop(&f);
}

static void stop_idle_server(void *user)
{
    http_server_close(user);
}

static void test_idle_connections_are_closed(void)
{
    loop_thread lt;
    loop_thread_init(&lt);
    char err[256];
    http_server *server =
        http_server_start(&lt.loop, "127.0.0.1:0", MAX_BODY, echo_handler, NULL, err, sizeof err);
    CHECK(server != NULL);
    if (!server)
        return;
    http_server_set_idle_timeout(server, 200);
    fixture f = {.port = http_server_port(server)};
    loop_thread_start(&lt, stop_idle_server, server);

    client_reader *idle = open_client(&f);
    client_reader *busy = open_client(&f);
    uint64_t start = uv_hrtime();
    /* The busy one keeps talking and stays open past the idle one's deadline. */
    for (int i = 0; i < 6; i++) {
        CHECK(client_send_str(busy->fd, "GET /ping HTTP/1.1\r\n\r\n"));
        CHECK(client_read_response(busy, &response) == 200);
        usleep(60 * 1000);
    }
    CHECK(client_sees_close(idle));
    double waited = (double)(uv_hrtime() - start) / 1e9;
    CHECK(waited >= 0.2 && waited < 2.0);
    close_client(idle);
    close_client(busy);
    CHECK(loop_thread_join(&lt) == 0);
}

static void test_bind_addresses(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    char err[256] = "";
    CHECK(http_server_start(&loop, "127.0.0.1", 10, echo_handler, NULL, err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "port");
    CHECK(http_server_start(&loop, "not-an-ip:80", 10, echo_handler, NULL, err, sizeof err) ==
          NULL);
    CHECK_CONTAINS(err, "not-an-ip");
    CHECK(http_server_start(&loop, "127.0.0.1:99999", 10, echo_handler, NULL, err, sizeof err) ==
          NULL);

    http_server *first =
        http_server_start(&loop, "127.0.0.1:0", 10, echo_handler, NULL, err, sizeof err);
    CHECK(first != NULL);
    char taken[64];
    snprintf(taken, sizeof taken, "127.0.0.1:%d", first ? http_server_port(first) : 1);
    CHECK(http_server_start(&loop, taken, 10, echo_handler, NULL, err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "cannot listen");
    http_server_close(first);

    /* IPv6 loopback, when the host has it. */
    http_server *v6 = http_server_start(&loop, "[::1]:0", 10, echo_handler, NULL, err, sizeof err);
    if (v6) {
        CHECK(http_server_port(v6) > 0);
        http_server_close(v6);
    } else {
        fprintf(stderr, "note: no IPv6 loopback here (%s)\n", err);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
}

int main(void)
{
    RUN_TEST(test_keep_alive_reuses_the_connection);
    RUN_TEST(test_pipelined_requests_are_answered_in_order);
    RUN_TEST(test_connection_close_and_http10_end_the_connection);
    RUN_TEST(test_body_over_the_limit_is_413);
    RUN_TEST(test_malformed_request_is_400_and_closes);
    RUN_TEST(test_handler_status_and_header_details);
    RUN_TEST(test_request_split_across_reads);
    RUN_TEST(test_many_connections_and_close_with_clients_connected);
    RUN_TEST(test_head_and_upgrade);
    RUN_TEST(test_idle_connections_are_closed);
    RUN_TEST(test_bind_addresses);
    return CHECK_DONE();
}
