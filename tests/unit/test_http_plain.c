/* http_plain against real servers on 127.0.0.1 in one node child process: node's http module
 * (keep-alive, chunked, Connection: close) and a raw TCP server for what http can't be asked to
 * do (a response that ends with the connection, 100 Continue, closing kept-alive connections). */
#include "check.h"
#include "node_peer.h"
#include "http/http_plain.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* http server: /echo describes the request as JSON; /conn answers the connection's number;
 * /chunked answers in three chunks; /close answers with Connection: close; /big 3 MiB; /len the
 * request body's length and a checksum; ?delay ms, ?status. Raw server (second port): /eof
 * answers without a length and closes; /continue sends 100 Continue first; /idleclose answers
 * then closes the idle connection 50 ms later; /race answers the first request of a connection
 * and closes the connection on any later one without answering. Raw answers carry the
 * connection's number as body. */
static const char server_js[] =
    "const http=require('http'),net=require('net');let conns=0,rawConns=0;"
    "const s=http.createServer((req,res)=>{const b=[];req.on('data',c=>b.push(c));"
    "req.on('end',()=>{const u=new URL(req.url,'http://x');const q=u.searchParams;"
    "const body=Buffer.concat(b);const d=+(q.get('delay')||0);"
    "setTimeout(()=>{"
    "if(u.pathname==='/chunked'){res.writeHead(200,{'Content-Type':'text/x-chunks'});"
    "res.write('one,');setTimeout(()=>{res.write('two,');setTimeout(()=>res.end('three'),20)},20);"
    "return}"
    "const h={'Content-Type':'text/plain','Retry-After':'9','Set-Cookie':['a=1','b=2']};"
    "if(u.pathname==='/close')h.Connection='close';"
    "let out='hello';"
    "if(u.pathname==='/echo')out=JSON.stringify({method:req.method,url:req.url,"
    "headers:req.headers,body:body.toString()});"
    "if(u.pathname==='/conn'||u.pathname==='/close')out=String(req.socket.id);"
    "if(u.pathname==='/big')out='x'.repeat(3*1024*1024);"
    "if(u.pathname==='/len'){let sum=0;for(const x of body)sum=(sum*31+x)%1000000007;"
    "out=body.length+':'+sum}"
    "res.writeHead(+(q.get('status')||200),h);res.end(out)},d)})});"
    "s.on('connection',k=>{k.id=++conns});s.keepAliveTimeout=60000;"
    "const r=net.createServer(k=>{const id=++rawConns;let n=0,buf='';"
    "k.on('data',d=>{buf+=d;let i;while((i=buf.indexOf('\\r\\n\\r\\n'))>=0){"
    "const path=buf.slice(0,i).split(' ')[1];buf=buf.slice(i+4);n++;"
    "if(path==='/eof'){k.end('HTTP/1.1 200 OK\\r\\nContent-Type: text/eof\\r\\n\\r\\nuntil "
    "close');}"
    "else if(path==='/continue'){k.write('HTTP/1.1 100 Continue\\r\\n\\r\\n');"
    "setTimeout(()=>k.write('HTTP/1.1 201 Created\\r\\nContent-Length: '+String(id).length+"
    "'\\r\\n\\r\\n'+id),20)}"
    "else if(path==='/race'&&n>1){k.destroy()}"
    "else{k.write('HTTP/1.1 200 OK\\r\\nContent-Length: '+String(id).length+'\\r\\n\\r\\n'+id);"
    "if(path==='/idleclose')setTimeout(()=>k.end(),50)}}});k.on('error',()=>{})});"
    "s.listen(0,'127.0.0.1',()=>r.listen(0,'127.0.0.1',()=>"
    "console.log(s.address().port+' '+r.address().port)));"
    "setInterval(()=>{try{process.kill(process.ppid,0)}catch(e){process.exit(0)}},200);";

static pid_t server_pid;
static int http_port, raw_port;

static int server_start(void)
{
    char line[64];
    server_pid = node_peer_start(server_js, line, sizeof line);
    if (server_pid < 0)
        return -1;
    return sscanf(line, "%d %d", &http_port, &raw_port) == 2 ? 0 : -1;
}

static void server_stop(void)
{
    node_peer_stop(server_pid);
}

static char *url_on(int port, const char *path)
{
    static char buf[8][256];
    static int next;
    char *u = buf[next++ % 8];
    snprintf(u, sizeof buf[0], "http://127.0.0.1:%d%s", port, path);
    return u;
}

static char *url(const char *path)
{
    return url_on(http_port, path);
}

static char *raw_url(const char *path)
{
    return url_on(raw_port, path);
}

typedef struct outcome {
    int calls;
    long status;
    char error[512];
    int timed_out;
    char body[4096];
    size_t body_len;
    int truncated;
    char retry_after[64];
    char content_type[64];
    char set_cookie[64];
    int in_send;
    int called_inside_send;
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
    o->truncated = r->truncated;
    snprintf(o->retry_after, sizeof o->retry_after, "%s", r->retry_after ? r->retry_after : "");
    snprintf(o->content_type, sizeof o->content_type, "%s", r->content_type ? r->content_type : "");
    snprintf(o->set_cookie, sizeof o->set_cookie, "%s", r->set_cookie ? r->set_cookie : "");
}

static void send_req(http_plain *c, const http_client_request *req, outcome *o)
{
    o->in_send = 1;
    CHECK(http_plain_send(c, req, on_done, o) == 0);
    o->in_send = 0;
}

static void send_get(http_plain *c, const char *u, long timeout_ms, outcome *o)
{
    http_client_request req = {.method = "GET", .url = u, .timeout_ms = timeout_ms};
    send_req(c, &req, o);
}

static void wait_for(uv_loop_t *loop, outcome *o, size_t n)
{
    for (;;) {
        size_t done = 0;
        for (size_t i = 0; i < n; i++)
            done += o[i].calls > 0;
        if (done == n)
            return;
        uv_run(loop, UV_RUN_ONCE);
    }
}

/* Closes the client and checks every handle it had was closed and nothing was called twice. */
static void finish(uv_loop_t *loop, http_plain *c, outcome *o, size_t n)
{
    http_plain_close(c);
    uv_run(loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(loop) == 0);
    for (size_t i = 0; i < n; i++) {
        CHECK(o[i].calls == 1);
        CHECK(!o[i].called_inside_send);
    }
}

static void on_slept(uv_timer_t *t)
{
    *(int *)t->data = 1;
}

/* Runs the loop for ms (idle connections keep it alive, so it would not stop by itself). */
static void sleep_loop(uv_loop_t *loop, uint64_t ms)
{
    int slept = 0;
    uv_timer_t t;
    uv_timer_init(loop, &t);
    t.data = &slept;
    uv_timer_start(&t, on_slept, ms, 0);
    while (!slept)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

static void test_supports(void)
{
    http_client_request r = {.method = "POST", .url = "http://127.0.0.1:8080/x"};
    CHECK(http_plain_supports(&r));
    r.url = "https://127.0.0.1/";
    CHECK(!http_plain_supports(&r));
    r.url = "http://user:pw@127.0.0.1/";
    CHECK(!http_plain_supports(&r));
    r.url = "http://127.0.0.1/";
    r.method = "HEAD";
    CHECK(!http_plain_supports(&r));
    r.method = NULL;
    CHECK(http_plain_supports(&r));
}

static void test_status_body_and_headers(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    http_plain *c = http_plain_new(&loop);
    outcome o[2] = {0};
    send_get(c, url("/x?status=503"), 0, &o[0]);
    http_client_request post = {
        .method = "POST",
        .url = url("/echo?q=1"),
        .headers = (http_header[]){{"ce-id", "42"}, {"Content-Type", "application/json"}},
        .header_count = 2,
        .body = "{\"a\":1}",
        .body_len = 7};
    send_req(c, &post, &o[1]);
    CHECK(http_plain_in_flight(c) == 2);
    wait_for(&loop, o, 2);
    CHECK(http_plain_in_flight(c) == 0);
    CHECK(o[0].status == 503);
    CHECK_STR(o[0].error, "");
    CHECK_STR(o[0].body, "hello");
    CHECK(o[0].body_len == 5);
    CHECK_STR(o[0].retry_after, "9");
    CHECK_STR(o[0].content_type, "text/plain");
    CHECK_STR(o[0].set_cookie, "a=1\nb=2");
    CHECK(o[1].status == 200);
    CHECK_CONTAINS(o[1].body, "\"method\":\"POST\"");
    CHECK_CONTAINS(o[1].body, "\"url\":\"/echo?q=1\"");
    CHECK_CONTAINS(o[1].body, "\"ce-id\":\"42\"");
    CHECK_CONTAINS(o[1].body, "\"content-type\":\"application/json\"");
    CHECK_CONTAINS(o[1].body, "\"content-length\":\"7\"");
    char host[64];
    snprintf(host, sizeof host, "\"host\":\"127.0.0.1:%d\"", http_port);
    CHECK_CONTAINS(o[1].body, host);
    CHECK_CONTAINS(o[1].body, "\"body\":\"{\\\"a\\\":1}\"");
    CHECK(!strstr(o[1].body, "\"expect\""));
    CHECK(!strstr(o[1].body, "authorization"));
    finish(&loop, c, o, 2);
}

static void test_auth_headers(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    http_plain *c = http_plain_new(&loop);
    outcome o[4] = {0};
    /* Three credential lengths: base64 with no, two and one padding characters. */
    const char *users[] = {"alice", "u", "us"};
    const char *passwords[] = {"s3cret", "pw", "pw"};
    for (int i = 0; i < 3; i++) {
        http_client_request r = {
            .method = "GET", .url = url("/echo"), .username = users[i], .password = passwords[i]};
        send_req(c, &r, &o[i]);
    }
    http_client_request bearer = {.method = "GET", .url = url("/echo"), .bearer_token = "tok123"};
    send_req(c, &bearer, &o[3]);
    wait_for(&loop, o, 4);
    CHECK_CONTAINS(o[0].body, "\"authorization\":\"Basic YWxpY2U6czNjcmV0\"");
    CHECK_CONTAINS(o[1].body, "\"authorization\":\"Basic dTpwdw==\"");
    CHECK_CONTAINS(o[2].body, "\"authorization\":\"Basic dXM6cHc=\"");
    CHECK_CONTAINS(o[3].body, "\"authorization\":\"Bearer tok123\"");
    CHECK_CONTAINS(o[3].body, "\"method\":\"GET\"");
    finish(&loop, c, o, 4);
}

static void test_chunked_and_until_close(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    http_plain *c = http_plain_new(&loop);
    outcome o[3] = {0};
    send_get(c, url("/chunked"), 0, &o[0]);
    send_get(c, raw_url("/eof"), 0, &o[1]);
    send_get(c, raw_url("/continue"), 0, &o[2]);
    wait_for(&loop, o, 3);
    CHECK(o[0].status == 200);
    CHECK_STR(o[0].body, "one,two,three");
    CHECK_STR(o[0].content_type, "text/x-chunks");
    CHECK(o[1].status == 200);
    CHECK_STR(o[1].body, "until close");
    CHECK_STR(o[1].content_type, "text/eof");
    CHECK(o[2].status == 201); /* the interim 100 is skipped */
    CHECK(o[2].body_len > 0 && atoi(o[2].body) > 0);
    finish(&loop, c, o, 3);
}

typedef struct chain {
    http_plain *client;
    const char *url;
    int count;
    int want;
    char ids[8][16];
    outcome last;
} chain;

/* Each answer starts the next request from inside the callback, as the dispatcher does. */
static void on_chain_done(void *user, const http_client_response *r)
{
    chain *ch = user;
    if (r->status == 200 && ch->count < 8)
        snprintf(ch->ids[ch->count], sizeof ch->ids[0], "%s", r->body);
    else
        snprintf(ch->last.error, sizeof ch->last.error, "%s", r->error ? r->error : "bad status");
    if (++ch->count < ch->want) {
        http_client_request req = {.method = "GET", .url = ch->url};
        CHECK(http_plain_send(ch->client, &req, on_chain_done, ch) == 0);
    }
}

static void test_connection_reuse(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    chain ch = {.client = http_plain_new(&loop), .url = url("/conn"), .want = 5};
    http_client_request req = {.method = "GET", .url = ch.url};
    CHECK(http_plain_send(ch.client, &req, on_chain_done, &ch) == 0);
    while (ch.count < ch.want)
        uv_run(&loop, UV_RUN_ONCE);
    CHECK_STR(ch.last.error, "");
    CHECK(atoi(ch.ids[0]) > 0);
    for (int i = 1; i < 5; i++)
        CHECK_STR(ch.ids[i], ch.ids[0]);
    http_plain_close(ch.client);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
}

/* Connection: close, and a server closing an idle kept-alive connection: the next request goes
 * out on a new connection and succeeds. */
static void test_closed_connections_are_replaced(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    http_plain *c = http_plain_new(&loop);
    outcome o[4] = {0};
    send_get(c, url("/close"), 0, &o[0]);
    wait_for(&loop, &o[0], 1);
    send_get(c, url("/close"), 0, &o[1]);
    wait_for(&loop, &o[1], 1);
    CHECK(o[0].status == 200 && o[1].status == 200);
    CHECK(atoi(o[1].body) > atoi(o[0].body));

    send_get(c, raw_url("/idleclose"), 0, &o[2]);
    wait_for(&loop, &o[2], 1);
    sleep_loop(&loop, 200); /* the server closes the idle connection meanwhile */
    send_get(c, raw_url("/idleclose"), 0, &o[3]);
    wait_for(&loop, &o[3], 1);
    CHECK(o[2].status == 200 && o[3].status == 200);
    CHECK_STR(o[3].error, "");
    CHECK(atoi(o[3].body) > atoi(o[2].body));
    finish(&loop, c, o, 4);
}

/* The keep-alive race: the server drops a reused connection as the request arrives, having sent
 * nothing. The request is sent once more on a fresh connection. */
static void test_retry_on_dropped_reused_connection(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    http_plain *c = http_plain_new(&loop);
    outcome o[2] = {0};
    send_get(c, raw_url("/race"), 0, &o[0]);
    wait_for(&loop, &o[0], 1);
    send_get(c, raw_url("/race"), 0, &o[1]);
    wait_for(&loop, &o[1], 1);
    CHECK(o[0].status == 200);
    CHECK(o[1].status == 200);
    CHECK_STR(o[1].error, "");
    CHECK(atoi(o[1].body) == atoi(o[0].body) + 1);
    finish(&loop, c, o, 2);
}

static void test_connect_refused(void)
{
    /* A port that was just free: nothing listens there. */
    uv_loop_t loop;
    uv_loop_init(&loop);
    uv_tcp_t probe;
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", 0, &addr);
    uv_tcp_init(&loop, &probe);
    uv_tcp_bind(&probe, (struct sockaddr *)&addr, 0);
    struct sockaddr_storage bound;
    int len = sizeof bound;
    uv_tcp_getsockname(&probe, (struct sockaddr *)&bound, &len);
    int port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
    uv_close((uv_handle_t *)&probe, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);

    http_plain *c = http_plain_new(&loop);
    outcome o = {0};
    http_client_request r = {
        .method = "POST", .url = url_on(port, "/x"), .username = "bob", .password = "hunter2"};
    send_req(c, &r, &o);
    wait_for(&loop, &o, 1);
    CHECK(o.status == 0);
    CHECK(!o.timed_out);
    char where[64];
    snprintf(where, sizeof where, "127.0.0.1:%d/x", port);
    CHECK_CONTAINS(o.error, where);
    CHECK(!strstr(o.error, "hunter2"));
    finish(&loop, c, &o, 1);
}

static void test_total_timeout(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    http_plain *c = http_plain_new(&loop);
    outcome o = {0};
    uint64_t start = uv_hrtime();
    send_get(c, url("/x?delay=3000"), 200, &o);
    wait_for(&loop, &o, 1);
    double seconds = (double)(uv_hrtime() - start) / 1e9;
    CHECK(o.status == 0);
    CHECK(o.timed_out);
    CHECK_CONTAINS(o.error, "/x");
    CHECK(seconds >= 0.19 && seconds < 1.5);
    finish(&loop, c, &o, 1);
}

static void test_many_concurrent_and_localhost(void)
{
    enum { N = 50 };
    uv_loop_t loop;
    uv_loop_init(&loop);
    http_plain *c = http_plain_new(&loop);
    static outcome o[N + 1];
    memset(o, 0, sizeof o);
    uint64_t start = uv_hrtime();
    for (int i = 0; i < N; i++)
        send_get(c, url("/conn?delay=300"), 0, &o[i]);
    char local[128];
    snprintf(local, sizeof local, "http://localhost:%d/x", http_port);
    send_get(c, local, 0, &o[N]);
    CHECK(http_plain_in_flight(c) == N + 1);
    wait_for(&loop, o, N + 1);
    double seconds = (double)(uv_hrtime() - start) / 1e9;
    int ok = 0;
    for (int i = 0; i < N; i++)
        ok += o[i].status == 200;
    CHECK(ok == N);
    CHECK(seconds < 2.0); /* in parallel, not one after the other */
    CHECK(o[N].status == 200);
    CHECK_STR(o[N].body, "hello");
    finish(&loop, c, o, N + 1);
}

static void test_close_with_requests_in_flight(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    http_plain *c = http_plain_new(&loop);
    outcome o[4] = {0};
    for (int i = 0; i < 3; i++)
        send_get(c, url("/x?delay=2000"), 0, &o[i]);
    send_get(c, "http://localhost:1/never", 0, &o[3]); /* possibly still resolving */
    uint64_t start = uv_hrtime();
    uv_run(&loop, UV_RUN_NOWAIT);
    http_plain_close(c);
    for (int i = 0; i < 4; i++) {
        CHECK(o[i].calls == 1);
        CHECK_STR(o[i].error, "client closed");
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK((double)(uv_hrtime() - start) / 1e9 < 1.5);
    CHECK(uv_loop_close(&loop) == 0);
}

static void test_big_bodies(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    http_plain *c = http_plain_new(&loop);
    outcome o[4] = {0};
    size_t len = 2 * 1024 * 1024;
    unsigned char *body = malloc(len);
    unsigned long long sum = 0;
    for (size_t i = 0; i < len; i++) {
        body[i] = (unsigned char)('a' + i % 23);
        sum = (sum * 31 + body[i]) % 1000000007ULL;
    }
    http_client_request post = {
        .method = "POST", .url = url("/len"), .body = body, .body_len = len};
    send_req(c, &post, &o[0]);
    free(body); /* the client copied it */
    send_get(c, url("/big"), 0, &o[1]);
    http_client_request limited = {.method = "GET", .url = url("/big"), .max_response_bytes = 1000};
    send_req(c, &limited, &o[2]);
    send_get(c, url("/x"), 0, &o[3]);
    wait_for(&loop, o, 4);
    char want[64];
    snprintf(want, sizeof want, "%zu:%llu", len, sum);
    CHECK(o[0].status == 200);
    CHECK_STR(o[0].body, want);
    CHECK(o[1].status == 200);
    CHECK(o[1].body_len == 1024 * 1024); /* capped like curl's path */
    CHECK(o[1].truncated);
    CHECK(o[2].status == 200 && o[2].body_len == 1000 && o[2].truncated);
    CHECK(o[3].status == 200 && o[3].body_len == 5 && !o[3].truncated);
    CHECK(!o[0].truncated);
    finish(&loop, c, o, 4);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (server_start() != 0) {
        fprintf(stderr, "could not start the node test server\n");
        return 1;
    }
    RUN_TEST(test_supports);
    RUN_TEST(test_status_body_and_headers);
    RUN_TEST(test_auth_headers);
    RUN_TEST(test_chunked_and_until_close);
    RUN_TEST(test_connection_reuse);
    RUN_TEST(test_closed_connections_are_replaced);
    RUN_TEST(test_retry_on_dropped_reused_connection);
    RUN_TEST(test_connect_refused);
    RUN_TEST(test_total_timeout);
    RUN_TEST(test_many_concurrent_and_localhost);
    RUN_TEST(test_close_with_requests_in_flight);
    RUN_TEST(test_big_bodies);
    server_stop();
    return CHECK_DONE();
}
