/* http_client against a real HTTP/1.1 server (node's http module, child process on 127.0.0.1). */
#include "check.h"
#include "node_peer.h"
#include "http/http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* Answers every request after ?delay ms with ?status and ?retry (Retry-After); /echo answers a
 * JSON description of the request; /conn the number of the connection it came on. Exits when the
 * test process is gone. */
static const char server_js[] =
    "const http=require('http');let conns=0;"
    "const s=http.createServer((req,res)=>{const b=[];req.on('data',c=>b.push(c));"
    "req.on('end',()=>{const u=new URL(req.url,'http://x');const q=u.searchParams;"
    "const h={'Content-Type':'text/plain; charset=utf-8'};"
    "if(q.get('retry'))h['Retry-After']=q.get('retry');"
    "let body='hello '+u.pathname;"
    "if(u.pathname==='/echo')body=JSON.stringify({method:req.method,headers:req.headers,"
    "body:Buffer.concat(b).toString()});"
    "if(u.pathname==='/conn')body=String(req.socket.id);"
    "if(u.pathname==='/big')body='x'.repeat(3*1024*1024);"
    "setTimeout(()=>{res.writeHead(+(q.get('status')||200),h);res.end(body);},+(q.get('delay')||0))"
    ";"
    "});});"
    "s.on('connection',k=>{k.id=++conns;});s.keepAliveTimeout=60000;"
    "s.listen(0,'127.0.0.1',()=>console.log(s.address().port));"
    "setInterval(()=>{try{process.kill(process.ppid,0)}catch(e){process.exit(0)}},200);";

static pid_t server_pid;
static int server_port;

static int server_start(void)
{
    char line[32];
    server_pid = node_peer_start(server_js, line, sizeof line);
    if (server_pid < 0)
        return -1;
    server_port = atoi(line);
    return server_port > 0 ? 0 : -1;
}

static void server_stop(void)
{
    node_peer_stop(server_pid);
}

static char *url(const char *path)
{
    static char buf[8][256];
    static int next;
    char *u = buf[next++ % 8];
    snprintf(u, sizeof buf[0], "http://127.0.0.1:%d%s", server_port, path);
    return u;
}

typedef struct outcome {
    int calls;
    long status;
    char error[256];
    int timed_out;
    char body[4096];
    size_t body_len;
    char retry_after[64];
    char content_type[64];
    char conn[16];
    int in_send; /* set while http_client_send runs: a callback must never see it */
    int called_inside_send;
    void *client;
} outcome;

static void on_done(void *user, const http_client_response *r)
{
    outcome *o = user;
    o->calls++;
    o->called_inside_send |= o->in_send;
    o->status = r->status;
    o->timed_out = r->timed_out;
    snprintf(o->error, sizeof o->error, "%s", r->error ? r->error : "");
    snprintf(o->body, sizeof o->body, "%s", r->body ? r->body : "");
    o->body_len = r->body_len;
    snprintf(o->retry_after, sizeof o->retry_after, "%s", r->retry_after ? r->retry_after : "");
    snprintf(o->content_type, sizeof o->content_type, "%s", r->content_type ? r->content_type : "");
}

static void send_get(http_client *c, const char *u, long timeout_ms, outcome *o)
{
    http_client_request req = {.method = "GET", .url = u, .timeout_ms = timeout_ms};
    o->in_send = 1;
    CHECK(http_client_send(c, &req, on_done, o) == 0);
    o->in_send = 0;
}

/* Runs the loop until the given outcomes are all called, then closes the client and checks that
 * every handle was closed. */
static void run_until_done(uv_loop_t *loop, http_client *c, outcome *o, size_t n)
{
    for (;;) {
        size_t done = 0;
        for (size_t i = 0; i < n; i++)
            done += o[i].calls > 0;
        if (done == n)
            break;
        uv_run(loop, UV_RUN_ONCE);
    }
    http_client_close(c);
    uv_run(loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(loop) == 0);
}

static void test_status_body_and_headers(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    http_client *c = http_client_new(&loop);
    outcome o[2] = {0};
    send_get(c, url("/busy?status=503&retry=7"), 0, &o[0]);
    send_get(c, url("/fine"), 0, &o[1]);
    CHECK(http_client_in_flight(c) == 2);
    run_until_done(&loop, c, o, 2);
    CHECK(o[0].calls == 1 && o[1].calls == 1);
    CHECK(!o[0].called_inside_send && !o[1].called_inside_send);
    CHECK(o[0].status == 503);
    CHECK_STR(o[0].retry_after, "7");
    CHECK_STR(o[0].error, "");
    CHECK_STR(o[0].body, "hello /busy");
    CHECK(o[0].body_len == strlen("hello /busy"));
    CHECK_STR(o[0].content_type, "text/plain; charset=utf-8");
    CHECK(o[1].status == 200);
    CHECK_STR(o[1].retry_after, "");
}

static void test_post_with_headers_and_auth(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    http_client *c = http_client_new(&loop);
    outcome o[2] = {0};
    http_header headers[] = {{"ce-id", "42"}, {"Content-Type", "application/json"}};
    http_client_request basic = {.method = "POST",
                                 .url = url("/echo"),
                                 .headers = headers,
                                 .header_count = 2,
                                 .body = "{\"a\":1}",
                                 .body_len = 7,
                                 .username = "alice",
                                 .password = "s3cret"};
    CHECK(http_client_send(c, &basic, on_done, &o[0]) == 0);
    http_client_request bearer = {.method = "GET", .url = url("/echo"), .bearer_token = "tok123"};
    CHECK(http_client_send(c, &bearer, on_done, &o[1]) == 0);
    run_until_done(&loop, c, o, 2);
    CHECK(o[0].status == 200);
    CHECK_CONTAINS(o[0].body, "\"method\":\"POST\"");
    CHECK_CONTAINS(o[0].body, "\"ce-id\":\"42\"");
    CHECK_CONTAINS(o[0].body, "\"content-type\":\"application/json\"");
    CHECK_CONTAINS(o[0].body, "\"body\":\"{\\\"a\\\":1}\"");
    CHECK_CONTAINS(o[0].body, "\"authorization\":\"Basic YWxpY2U6czNjcmV0\"");
    CHECK(!strstr(o[0].body, "\"expect\""));
    CHECK_CONTAINS(o[1].body, "\"method\":\"GET\"");
    CHECK_CONTAINS(o[1].body, "\"authorization\":\"Bearer tok123\"");
}

/* Sequential requests on one client: each starts from the previous one's callback. */
typedef struct chain {
    http_client *client;
    int remaining;
    int connection_ids[8];
    int count;
    outcome last;
} chain;

static void on_chain_done(void *user, const http_client_response *r)
{
    chain *ch = user;
    CHECK(r->status == 200);
    /* /conn answers the number of the connection the server received it on. */
    ch->connection_ids[ch->count++] = r->body ? atoi(r->body) : -1;
    if (--ch->remaining > 0) {
        http_client_request req = {.method = "GET", .url = url("/conn")};
        CHECK(http_client_send(ch->client, &req, on_chain_done, ch) == 0);
    } else {
        ch->last.calls = 1;
    }
}

static void test_connection_reuse(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    chain ch = {.client = http_client_new(&loop), .remaining = 5};
    http_client_request req = {.method = "GET", .url = url("/conn")};
    CHECK(http_client_send(ch.client, &req, on_chain_done, &ch) == 0);
    run_until_done(&loop, ch.client, &ch.last, 1);
    CHECK(ch.count == 5);
    CHECK(ch.connection_ids[0] > 0);
    for (int i = 1; i < ch.count; i++)
        CHECK(ch.connection_ids[i] == ch.connection_ids[0]);
}

static void test_many_concurrent(void)
{
    enum { N = 50 };
    uv_loop_t loop;
    uv_loop_init(&loop);
    http_client *c = http_client_new(&loop);
    static outcome o[N];
    memset(o, 0, sizeof o);
    uint64_t start = uv_hrtime();
    for (int i = 0; i < N; i++)
        send_get(c, url("/slow?delay=300"), 0, &o[i]);
    CHECK(http_client_in_flight(c) == N);
    run_until_done(&loop, c, o, N);
    double seconds = (double)(uv_hrtime() - start) / 1e9;
    int ok = 0;
    for (int i = 0; i < N; i++)
        ok += o[i].calls == 1 && o[i].status == 200;
    CHECK(ok == N);
    /* Serially this would take 15 s; concurrently about 0.3 s. */
    CHECK(seconds < 3.0);
}

static int unused_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd); /* bound but never listening, then released: connecting is refused */
    return ntohs(a.sin_port);
}

static void test_connect_refused_and_bad_url(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    http_client *c = http_client_new(&loop);
    outcome o[2] = {0};
    char refused[64];
    snprintf(refused, sizeof refused, "http://127.0.0.1:%d/x", unused_port());
    send_get(c, refused, 0, &o[0]);
    send_get(c, "notascheme://what", 0, &o[1]);
    run_until_done(&loop, c, o, 2);
    CHECK(o[0].calls == 1 && o[0].status == 0);
    CHECK(o[0].error[0] != '\0');
    CHECK(!o[0].timed_out);
    fprintf(stderr, "  refused error: %s\n", o[0].error);
    CHECK(o[1].calls == 1 && o[1].status == 0 && o[1].error[0] != '\0');
    CHECK(!o[0].called_inside_send && !o[1].called_inside_send);
}

static void test_total_timeout(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    http_client *c = http_client_new(&loop);
    outcome o = {0};
    uint64_t start = uv_hrtime();
    send_get(c, url("/slow?delay=3000"), 200, &o);
    run_until_done(&loop, c, &o, 1);
    double seconds = (double)(uv_hrtime() - start) / 1e9;
    CHECK(o.calls == 1 && o.status == 0);
    CHECK(o.timed_out);
    CHECK(o.error[0] != '\0');
    CHECK(seconds < 2.0);
}

static void test_body_cap(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    http_client *c = http_client_new(&loop);
    outcome o = {0};
    send_get(c, url("/big"), 0, &o);
    run_until_done(&loop, c, &o, 1);
    CHECK(o.status == 200);
    CHECK(o.body_len == 1024 * 1024);
}

static void close_client(uv_timer_t *t)
{
    http_client_close(t->data);
    uv_close((uv_handle_t *)t, NULL);
}

static void test_close_with_requests_in_flight(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    http_client *c = http_client_new(&loop);
    outcome o[3] = {0};
    for (int i = 0; i < 3; i++)
        send_get(c, url("/slow?delay=2000"), 0, &o[i]);
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    t.data = c;
    uv_timer_start(&t, close_client, 100, 0);
    uint64_t start = uv_hrtime();
    uv_run(&loop, UV_RUN_DEFAULT); /* returns once the client freed its handles */
    CHECK((double)(uv_hrtime() - start) / 1e9 < 1.5);
    for (int i = 0; i < 3; i++) {
        CHECK(o[i].calls == 1);
        CHECK_STR(o[i].error, "client closed");
    }
    CHECK(uv_loop_close(&loop) == 0);
}

/* A callback that closes the client while other requests are still running. */
static void on_done_then_close(void *user, const http_client_response *r)
{
    outcome *o = user;
    on_done(o, r);
    http_client_close((http_client *)o->client);
}

static void test_close_from_a_callback(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    http_client *c = http_client_new(&loop);
    outcome o[3] = {0};
    o[0].client = c;
    http_client_request quick = {.method = "GET", .url = url("/quick")};
    CHECK(http_client_send(c, &quick, on_done_then_close, &o[0]) == 0);
    send_get(c, url("/slow?delay=2000"), 0, &o[1]);
    send_get(c, url("/slow?delay=2000"), 0, &o[2]);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(o[0].calls == 1 && o[0].status == 200);
    CHECK(o[1].calls == 1 && o[2].calls == 1);
    CHECK_STR(o[1].error, "client closed");
    CHECK_STR(o[2].error, "client closed");
    CHECK(uv_loop_close(&loop) == 0);
}

/* A body above curl's Expect: 100-continue threshold goes out without that round trip. */
static void test_large_post_without_expect(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    http_client *c = http_client_new(&loop);
    outcome o = {0};
    size_t len = 2 * 1024 * 1024;
    char *body = malloc(len);
    memset(body, 'a', len);
    http_client_request req = {
        .method = "POST", .url = url("/echo"), .body = body, .body_len = len};
    CHECK(http_client_send(c, &req, on_done, &o) == 0);
    free(body); /* the client keeps its own copy */
    run_until_done(&loop, c, &o, 1);
    CHECK(o.status == 200);
    CHECK_CONTAINS(o.body, "\"content-length\":\"2097152\"");
    CHECK(!strstr(o.body, "\"expect\""));
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (server_start() != 0) {
        fprintf(stderr, "cannot start the node test server\n");
        return 1;
    }
    RUN_TEST(test_status_body_and_headers);
    RUN_TEST(test_post_with_headers_and_auth);
    RUN_TEST(test_connection_reuse);
    RUN_TEST(test_many_concurrent);
    RUN_TEST(test_connect_refused_and_bad_url);
    RUN_TEST(test_total_timeout);
    RUN_TEST(test_body_cap);
    RUN_TEST(test_close_with_requests_in_flight);
    RUN_TEST(test_close_from_a_callback);
    RUN_TEST(test_large_post_without_expect);
    server_stop();
    return CHECK_DONE();
}
