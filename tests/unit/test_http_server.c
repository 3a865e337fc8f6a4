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

/* One raw request on a new connection: the status, the answer in response, and whether the
 * server closed the connection after it. */
static int raw_exchange(const fixture *f, const char *bytes, size_t len, bool *closed)
{
    client_reader *r = open_client(f);
    CHECK(client_send(r->fd, bytes, len));
    int status = client_read_response(r, &response);
    if (closed)
        *closed = client_sees_close(r);
    close_client(r);
    return status;
}

/* Regression (issue 11): the parser's leniencies are refused with the reason, before the
 * handler runs: versions other than 1.0/1.1, bare CR line ends (in the head and in chunked
 * framing), Transfer-Encoding other than exactly chunked, and Content-Length with it. */
static void test_strict_http11(void)
{
    fixture f;
    if (!fixture_start(&f))
        return;
    int before = atomic_load(&handled);
    static const struct {
        const char *request;
        int status;
        const char *reason;
    } cases[] = {
        {"GET /x HTTP/9.9\r\n\r\n", 505, "HTTP/9.9 is not supported (only HTTP/1.0 and HTTP/1.1)"},
        {"GET /x HTTP/1.2\r\n\r\n", 505, "HTTP/1.2 is not supported"},
        {"GET /x HTTP/2.0\r\n\r\n", 505, "HTTP/2.0 is not supported"},
        {"GET /x HTTP/1.1\rX-A: b\r\n\r\n", 400, "bare CR"},
        {"GET /x HTTP/1.1\r\nX-A: b\rX-B: c\r\n\r\n", 400, "bare CR"},
        {"POST /x HTTP/1.1\r\nContent-Length: 2\r\n\rxab", 400, "bare CR"},
        {"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\rxab\r\n0\r\n\r\n", 400,
         "bare CR"},
        {"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\n0\r\n\r\n", 400,
         "chunk data is not followed by CRLF"},
        {"POST /x HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n", 400,
         "Transfer-Encoding 'gzip, chunked' is not supported (only chunked)"},
        {"POST /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nab", 400, "Transfer-Encoding"},
        {"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
         "0\r\n\r\n",
         400, "Transfer-Encoding is given more than once"},
        {"POST /x HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
         400, "Content-Length"},
        {"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n0\r\n\r\n",
         400, "Content-Length"},
        {"POST /x HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab", 400,
         "Content-Length is given more than once"},
        {"POST /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400,
         "Transfer-Encoding in an HTTP/1.0 request"},
        {"POST /x HTTP/1.1\r\nExpect: magic\r\nContent-Length: 2\r\n\r\nab", 417,
         "Expect 'magic' is not supported"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool closed = false;
        int status = raw_exchange(&f, cases[i].request, strlen(cases[i].request), &closed);
        if (status != cases[i].status)
            fprintf(stderr, "  case %zu: %d %s\n", i, status, response.body);
        CHECK(status == cases[i].status);
        CHECK_CONTAINS(response.body, cases[i].reason);
        CHECK(closed);
    }
    CHECK(atomic_load(&handled) == before);

    /* What is allowed stays allowed: CRLF everywhere, bare LF line ends, 1.0, chunked split
     * across reads with the CRLF of the framing cut in two. */
    CHECK(raw_exchange(&f, "GET /a HTTP/1.0\r\n\r\n", 19, NULL) == 200);
    CHECK(raw_exchange(&f, "GET /a HTTP/1.1\nX-Test: lf\n\n", 28, NULL) == 200);
    CHECK_CONTAINS(response.body, "|lf|");
    client_reader *r = open_client(&f);
    const char *pieces[] = {"POST /c HTTP/1.1\r\nTransfer-Encoding: Chunked \r\n\r", "\n3\r",
                            "\nabc\r", "\n0\r\n\r", "\n"};
    for (size_t i = 0; i < 5; i++) {
        CHECK(client_send_str(r->fd, pieces[i]));
        usleep(20 * 1000);
    }
    CHECK(client_read_response(r, &response) == 200);
    CHECK_CONTAINS(response.body, "|abc");
    close_client(r);

    /* A head over 32 KiB is 431. */
    size_t big = HTTP_SERVER_MAX_HEADER_BYTES + 100;
    char *head = malloc(big + 64);
    int n = snprintf(head, 64, "GET /a HTTP/1.1\r\nX-Big: ");
    memset(head + n, 'a', big);
    memcpy(head + n + big, "\r\n\r\n", 4);
    CHECK(raw_exchange(&f, head, (size_t)n + big + 4, NULL) == 431);
    free(head);
    fixture_stop(&f);
}

static atomic_int checked;

/* Refuses /private without "authorization: yes" before its body; /paused says 503. */
static bool check_private(void *user, const http_request *request, http_response *response)
{
    (void)user;
    atomic_fetch_add(&checked, 1);
    CHECK(request->body_len == 0);
    const char *auth = http_request_header(request, "authorization");
    if (strcmp(request->path, "/private") == 0 && !(auth && strcmp(auth, "yes") == 0)) {
        response->status = 401;
        response->body = "{\"error\": \"unauthorized\"}";
        response->body_len = strlen(response->body);
        response->extra_headers = "WWW-Authenticate: Basic realm=\"t\"\r\n";
        return false;
    }
    return true;
}

/* Regression (issue 11): bodies were read before authentication. The header check answers on
 * the head (the announced body is never sent here, yet the 401 comes), and 100 Continue goes
 * out only for a request that will be read. */
static void test_header_check_runs_before_the_body(void)
{
    fixture f;
    if (!fixture_start(&f))
        return;
    http_server_set_header_check(f.server, check_private);
    int before = atomic_load(&handled);
    client_reader *r = open_client(&f);
    CHECK(client_send_str(r->fd, "POST /private HTTP/1.1\r\nContent-Length: 1000\r\n"
                                 "Expect: 100-continue\r\n\r\n"));
    CHECK(client_read_response(r, &response) == 401);
    CHECK(response_header(&response, "WWW-Authenticate") != NULL);
    CHECK(client_sees_close(r));
    close_client(r);
    CHECK(atomic_load(&handled) == before);

    /* Allowed: 100 Continue first, then the body, then the handler's answer. */
    r = open_client(&f);
    CHECK(client_send_str(r->fd, "POST /private HTTP/1.1\r\nAuthorization: yes\r\n"
                                 "Content-Length: 3\r\nExpect: 100-continue\r\n\r\n"));
    CHECK(client_read_response(r, &response) == 100);
    CHECK(client_send_str(r->fd, "abc"));
    CHECK(client_read_response(r, &response) == 200);
    CHECK_CONTAINS(response.body, "|abc");
    close_client(r);

    /* Too large: 413 instead of 100, before the header check is asked. */
    int asked = atomic_load(&checked);
    r = open_client(&f);
    CHECK(client_send_str(r->fd, "POST /private HTTP/1.1\r\nAuthorization: yes\r\n"
                                 "Content-Length: 5000\r\nExpect: 100-continue\r\n\r\n"));
    CHECK(client_read_response(r, &response) == 413);
    CHECK_CONTAINS(response.body, "request body of 5000 bytes is over the limit of 1024 bytes");
    close_client(r);
    CHECK(atomic_load(&checked) == asked);

    /* HTTP/1.0 does not know 100 Continue: none is sent. */
    r = open_client(&f);
    CHECK(client_send_str(r->fd, "POST /open HTTP/1.0\r\nContent-Length: 2\r\n"
                                 "Expect: 100-continue\r\n\r\nok"));
    CHECK(client_read_response(r, &response) == 200);
    close_client(r);
    fixture_stop(&f);
}

/* The connection cap refuses with a 503 and a reason; room again once connections close. */
static void test_connection_cap(void)
{
    fixture f;
    if (!fixture_start(&f))
        return;
    http_server_set_limits(f.server, &(http_server_limits){.max_connections = 3});
    client_reader *held[3];
    for (int i = 0; i < 3; i++) {
        held[i] = open_client(&f);
        CHECK(client_send_str(held[i]->fd, "GET /a HTTP/1.1\r\n\r\n"));
        CHECK(client_read_response(held[i], &response) == 200);
    }
    client_reader *r = open_client(&f);
    CHECK(client_read_response(r, &response) == 503);
    CHECK_CONTAINS(response.body, "too many connections (limit 3), retry later");
    CHECK(response_header(&response, "Retry-After") != NULL);
    CHECK(client_sees_close(r));
    close_client(r);
    close_client(held[0]);
    usleep(100 * 1000);
    r = open_client(&f);
    CHECK(client_send_str(r->fd, "GET /a HTTP/1.1\r\n\r\n"));
    CHECK(client_read_response(r, &response) == 200);
    close_client(r);
    close_client(held[1]);
    close_client(held[2]);
    fixture_stop(&f);
}

/* Bodies being read are bounded in bytes across connections: 503 beyond, room again after. */
static void test_total_body_bytes(void)
{
    fixture f;
    if (!fixture_start(&f))
        return;
    http_server_set_limits(f.server, &(http_server_limits){.max_body_bytes_total = 1500});
    client_reader *first = open_client(&f);
    CHECK(client_send_str(first->fd, "POST /a HTTP/1.1\r\nContent-Length: 1000\r\n\r\nabc"));
    usleep(100 * 1000);
    client_reader *second = open_client(&f);
    CHECK(client_send_str(second->fd, "POST /b HTTP/1.1\r\nContent-Length: 1000\r\n\r\n"));
    CHECK(client_read_response(second, &response) == 503);
    CHECK_CONTAINS(response.body, "request bodies being read exceed 1500 bytes, retry later");
    CHECK(response_header(&response, "Retry-After") != NULL);
    close_client(second);
    /* A chunked body counts as it grows. */
    client_reader *chunked = open_client(&f);
    CHECK(client_send_str(chunked->fd, "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"));
    char chunk[700];
    memset(chunk, 'c', sizeof chunk);
    CHECK(client_send_str(chunked->fd, "2bc\r\n"));
    CHECK(client_send(chunked->fd, chunk, sizeof chunk));
    CHECK(client_send_str(chunked->fd, "\r\n"));
    CHECK(client_read_response(chunked, &response) == 503);
    close_client(chunked);
    /* The first finishes; its bytes are released. */
    char rest[997];
    memset(rest, 'x', sizeof rest);
    CHECK(client_send(first->fd, rest, sizeof rest));
    CHECK(client_read_response(first, &response) == 200);
    close_client(first);
    usleep(50 * 1000);
    bool closed;
    char request[1100];
    int n = snprintf(request, sizeof request, "POST /d HTTP/1.1\r\nContent-Length: 1000\r\n\r\n");
    memset(request + n, 'd', 1000);
    CHECK(raw_exchange(&f, request, (size_t)n + 1000, &closed) == 200);
    fixture_stop(&f);
}

/* Regression (issue 11): each byte restarted the idle timer, so a client sending one byte at a
 * time held its connection forever. The head and the body now have deadlines of their own. */
static void test_head_and_body_deadlines(void)
{
    fixture f;
    if (!fixture_start(&f))
        return;
    http_server_set_limits(f.server, &(http_server_limits){.header_timeout_ms = 400,
                                                           .body_timeout_ms = 600,
                                                           .idle_timeout_ms = 5000});
    client_reader *head = open_client(&f);
    client_reader *body = open_client(&f);
    client_reader *idle = open_client(&f);
    CHECK(client_send_str(body->fd, "POST /b HTTP/1.1\r\nContent-Length: 100\r\n\r\n"));
    CHECK(client_send_str(idle->fd, "GET /a HTTP/1.1\r\n\r\n"));
    CHECK(client_read_response(idle, &response) == 200);
    const char *trickle = "GET /slow HTTP/1.1\r\nX-Test: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    uint64_t start = uv_hrtime();
    bool head_open = true, body_open = true;
    double head_closed_at = 0, body_closed_at = 0;
    for (size_t i = 0; i < 50 && (head_open || body_open); i++) {
        if (head_open && !client_send(head->fd, trickle + i, 1)) {
            head_open = false;
            head_closed_at = (double)(uv_hrtime() - start) / 1e9;
        }
        if (body_open && !client_send(body->fd, "x", 1)) {
            body_open = false;
            body_closed_at = (double)(uv_hrtime() - start) / 1e9;
        }
        usleep(100 * 1000);
    }
    CHECK(!head_open && !body_open);
    /* Closed near their deadlines (a send fails one byte after the close at the latest). */
    CHECK(head_closed_at >= 0.35 && head_closed_at < 3.0);
    CHECK(body_closed_at >= 0.55 && body_closed_at < 3.0);
    /* The idle keep-alive connection outlived both deadlines. */
    CHECK(client_send_str(idle->fd, "GET /a HTTP/1.1\r\n\r\n"));
    CHECK(client_read_response(idle, &response) == 200);
    close_client(head);
    close_client(body);
    close_client(idle);
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
    RUN_TEST(test_strict_http11);
    RUN_TEST(test_header_check_runs_before_the_body);
    RUN_TEST(test_connection_cap);
    RUN_TEST(test_total_body_bytes);
    RUN_TEST(test_head_and_body_deadlines);
    RUN_TEST(test_handler_status_and_header_details);
    RUN_TEST(test_request_split_across_reads);
    RUN_TEST(test_many_connections_and_close_with_clients_connected);
    RUN_TEST(test_head_and_upgrade);
    RUN_TEST(test_idle_connections_are_closed);
    RUN_TEST(test_bind_addresses);
    return CHECK_DONE();
}
