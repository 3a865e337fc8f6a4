/* The Knative processor against real peers on 127.0.0.1: a node HTTP server that is both the
 * event sink (answering any status asked for) and a fake Kubernetes API (answering Broker,
 * Knative Service and Service objects in the real API's JSON shape). */
#include "check.h"
#include "node_peer.h"
#include "processors/knative.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char server_js[] =
    "const http=require('http');let apiHits=0,last=null;"
    "const json=(res,code,o)=>{res.writeHead(code,{'Content-Type':'application/json'});"
    "res.end(JSON.stringify(o));};"
    "const notFound=(res,group,kind,name)=>json(res,404,{kind:'Status',apiVersion:'v1',"
    "metadata:{},status:'Failure',message:kind+'.'+group+' \"'+name+'\" not found',"
    "reason:'NotFound',details:{name:name,group:group,kind:kind},code:404});"
    "const ready=[{lastTransitionTime:'2024-05-01T10:00:00Z',status:'True',type:'Ready'}];"
    "const s=http.createServer((req,res)=>{const b=[];req.on('data',c=>b.push(c));"
    "req.on('end',()=>{const u=new URL(req.url,'http://x');const p=u.pathname;"
    "const base='http://127.0.0.1:'+s.address().port;"
    "if(p.startsWith('/api')){apiHits++;"
    " if(req.headers.authorization!=='Bearer test-token')return json(res,401,{kind:'Status',"
    "  apiVersion:'v1',metadata:{},status:'Failure',message:'Unauthorized',reason:'Unauthorized',"
    "  code:401});"
    " if(p==='/apis/eventing.knative.dev/v1/namespaces/default/brokers/rabbit')"
    "  return json(res,200,{apiVersion:'eventing.knative.dev/v1',kind:'Broker',"
    "  metadata:{annotations:{'eventing.knative.dev/broker.class':'MTChannelBasedBroker'},"
    "  creationTimestamp:'2024-05-01T10:00:00Z',generation:1,name:'rabbit',namespace:'default',"
    "  resourceVersion:'1234',uid:'6f1c0b7e-8f3a-4c55-9a8e-1d2c3b4a5f60'},"
    "  spec:{config:{apiVersion:'v1',kind:'ConfigMap',name:'config-br-default-channel',"
    "  namespace:'knative-eventing'},delivery:{backoffDelay:'PT0.2S',backoffPolicy:'exponential',"
    "  retry:10}},status:{address:{name:'http',url:base+'/default/rabbit'},"
    "  addresses:[{name:'http',url:base+'/default/rabbit'}],"
    "  annotations:{'knative.dev/channelAPIVersion':'messaging.knative.dev/v1'},"
    "  conditions:ready,observedGeneration:1}});"
    " if(p==='/apis/serving.knative.dev/v1/namespaces/prod/services/hello')"
    "  return json(res,200,{apiVersion:'serving.knative.dev/v1',kind:'Service',"
    "  metadata:{name:'hello',namespace:'prod',generation:1},spec:{template:{spec:{containers:"
    "  "
    "[{image:'ghcr.io/knative/helloworld-go:latest'}]}}},status:{address:{url:base+'/ksvc/hello'},"
    "  conditions:ready,latestCreatedRevisionName:'hello-00001',"
    "  latestReadyRevisionName:'hello-00001',observedGeneration:1,"
    "  url:'http://hello.prod.example.com'}});"
    " const m=p.match(/^\\/apis\\/([^/]+)\\/v1\\/namespaces\\/[^/]+\\/([^/]+)\\/([^/]+)$/);"
    " return m?notFound(res,m[1],m[2],m[3]):notFound(res,'','services',p);}"
    "if(p==='/stats')return json(res,200,{apiHits,last});"
    "last={path:p,headers:req.headers,body:Buffer.concat(b).toString()};"
    "const st=p.match(/^\\/status\\/(\\d+)/);const h={};"
    "if(u.searchParams.get('retry'))h['Retry-After']=u.searchParams.get('retry');"
    "res.writeHead(st?+st[1]:202,h);res.end();});});"
    "s.keepAliveTimeout=60000;s.listen(0,'127.0.0.1',()=>console.log(s.address().port));"
    "setInterval(()=>{try{process.kill(process.ppid,0)}catch(e){process.exit(0)}},200);";

static pid_t server_pid;
static int server_port;
static char sa_dir[64];

static int server_start(void)
{
    char line[32];
    server_pid = node_peer_start(server_js, line, sizeof line);
    if (server_pid < 0)
        return -1;
    server_port = atoi(line);
    return server_port > 0 ? 0 : -1;
}

static char *server_url(const char *path)
{
    static char buf[8][256];
    static int next;
    char *u = buf[next++ % 8];
    snprintf(u, sizeof buf[0], "http://127.0.0.1:%d%s", server_port, path);
    return u;
}

static int unused_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

typedef struct outcome {
    int calls;
    delivery_result result;
    int in_send;
    int called_inside_send;
} outcome;

static void on_attempt_done(void *attempt, const delivery_result *result)
{
    outcome *o = attempt;
    o->calls++;
    o->called_inside_send |= o->in_send;
    o->result = *result;
}

/* One processor on its own loop and client for one test. */
typedef struct harness {
    uv_loop_t loop;
    http_client *http;
    config_delivery delivery;
    processor_services services;
    void *state;
    char err[512];
} harness;

static int harness_open(harness *h, config_processor *config)
{
    memset(h, 0, sizeof *h);
    uv_loop_init(&h->loop);
    h->http = http_client_new(&h->loop);
    h->delivery = (config_delivery){.timeout_seconds = 5, .connect_timeout_seconds = 2};
    h->services = (processor_services){.loop = &h->loop, .http = h->http, .delivery = &h->delivery};
    config->name = "test-knative";
    config->kind = PROCESSOR_KNATIVE;
    return knative_processor_type.create(config, &h->services, &h->state, h->err, sizeof h->err);
}

static event *sample_event(const char *id)
{
    event *ev = event_new();
    event_set_attribute(ev, "specversion", "1.0");
    event_set_attribute(ev, "id", id);
    event_set_attribute(ev, "source", "https://vcenter.local/sdk");
    event_set_attribute(ev, "type", "com.vmware.event.router/event");
    event_set_attribute(ev, "subject", "VmPoweredOnEvent");
    event_set_data(ev, "{\"vm\":\"web 01\"}", 15, true);
    return ev;
}

static void send_event(harness *h, outcome *o, const char *id)
{
    event *ev = sample_event(id);
    o->in_send = 1;
    knative_processor_type.send(h->state, ev, o, on_attempt_done);
    o->in_send = 0;
    event_unref(ev); /* the processor keeps its own reference while it needs one */
}

static void wait_for(harness *h, outcome *o, size_t n)
{
    for (;;) {
        size_t done = 0;
        for (size_t i = 0; i < n; i++)
            done += o[i].calls > 0;
        if (done == n)
            return;
        uv_run(&h->loop, UV_RUN_ONCE);
    }
}

static void harness_close(harness *h)
{
    if (h->state)
        knative_processor_type.destroy(h->state);
    http_client_close(h->http);
    uv_run(&h->loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&h->loop) == 0);
}

typedef struct stats_reply {
    int calls;
    cJSON *json;
} stats_reply;

static void on_stats(void *user, const http_client_response *r)
{
    stats_reply *got = user;
    got->calls = 1;
    got->json = r->body ? cJSON_Parse(r->body) : NULL;
}

/* What the sink last received, and how often the fake API was asked, as the server says. */
static cJSON *server_stats(void)
{
    harness h;
    memset(&h, 0, sizeof h);
    uv_loop_init(&h.loop);
    h.http = http_client_new(&h.loop);
    stats_reply got = {0};
    http_client_request req = {.method = "GET", .url = server_url("/stats")};
    http_client_send(h.http, &req, on_stats, &got);
    while (!got.calls)
        uv_run(&h.loop, UV_RUN_ONCE);
    harness_close(&h);
    return got.json;
}

static const char *stats_string(cJSON *stats, const char *a, const char *b)
{
    cJSON *node = cJSON_GetObjectItem(cJSON_GetObjectItem(stats, "last"), a);
    if (b)
        node = cJSON_GetObjectItem(node, b);
    return cJSON_IsString(node) ? node->valuestring : NULL;
}

static int stats_api_hits(void)
{
    cJSON *stats = server_stats();
    int hits = cJSON_GetObjectItem(stats, "apiHits")
                   ? cJSON_GetObjectItem(stats, "apiHits")->valueint
                   : -1;
    cJSON_Delete(stats);
    return hits;
}

static delivery_result deliver_once_to(const char *uri)
{
    config_processor config = {0};
    config.knative.uri = (char *)uri;
    harness h;
    outcome o = {0};
    CHECK(harness_open(&h, &config) == 0);
    send_event(&h, &o, "c-1");
    wait_for(&h, &o, 1);
    CHECK(o.calls == 1 && !o.called_inside_send);
    harness_close(&h);
    return o.result;
}

static void test_classification(void)
{
    struct {
        const char *path;
        delivery_status status;
        long http_status;
    } cases[] = {
        {"/status/200", DELIVERY_OK, 200},     {"/status/202", DELIVERY_OK, 202},
        {"/status/400", DELIVERY_FAILED, 400}, {"/status/404", DELIVERY_FAILED, 404},
        {"/status/408", DELIVERY_RETRY, 408},  {"/status/500", DELIVERY_RETRY, 500},
        {"/status/503", DELIVERY_RETRY, 503},  {"/status/401", DELIVERY_FAILED, 401},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        delivery_result r = deliver_once_to(server_url(cases[i].path));
        CHECK(r.status == cases[i].status);
        CHECK(r.http_status == cases[i].http_status);
        CHECK(r.retry_after_seconds < 0);
        if (r.status != DELIVERY_OK) {
            char expected[128];
            snprintf(expected, sizeof expected, "HTTP %ld from %s", cases[i].http_status,
                     server_url(cases[i].path));
            CHECK_STR(r.error, expected);
        }
    }
}

static void test_retry_after(void)
{
    delivery_result r = deliver_once_to(server_url("/status/429?retry=7"));
    CHECK(r.status == DELIVERY_RETRY && r.http_status == 429);
    CHECK(r.retry_after_seconds == 7);

    char date[64], path[128];
    time_t later = time(NULL) + 30;
    struct tm tm;
    strftime(date, sizeof date, "%a,%%20%d%%20%b%%20%Y%%20%H:%M:%S%%20GMT", gmtime_r(&later, &tm));
    snprintf(path, sizeof path, "/status/503?retry=%s", date);
    r = deliver_once_to(server_url(path));
    CHECK(r.status == DELIVERY_RETRY && r.http_status == 503);
    CHECK(r.retry_after_seconds >= 25 && r.retry_after_seconds <= 31);

    r = deliver_once_to(server_url("/status/503?retry=soon"));
    CHECK(r.retry_after_seconds < 0);
}

static void test_connection_refused(void)
{
    char uri[64];
    snprintf(uri, sizeof uri, "http://127.0.0.1:%d/sink", unused_port());
    delivery_result r = deliver_once_to(uri);
    CHECK(r.status == DELIVERY_RETRY);
    CHECK(r.http_status == 0);
    CHECK_CONTAINS(r.error, uri);
    CHECK_CONTAINS(r.error, "onnect");
}

static void test_binary_delivery_with_basic_auth(void)
{
    config_processor config = {0};
    config.knative.uri = server_url("/sink");
    config.knative.auth = (config_auth){.type = AUTH_BASIC, .username = "u", .password = "pw1"};
    harness h;
    outcome o = {0};
    CHECK(harness_open(&h, &config) == 0);
    send_event(&h, &o, "bin-1");
    wait_for(&h, &o, 1);
    harness_close(&h);
    CHECK(o.result.status == DELIVERY_OK);
    cJSON *stats = server_stats();
    CHECK_STR(stats_string(stats, "path", NULL), "/sink");
    CHECK_STR(stats_string(stats, "headers", "ce-id"), "bin-1");
    CHECK_STR(stats_string(stats, "headers", "ce-specversion"), "1.0");
    CHECK_STR(stats_string(stats, "headers", "ce-subject"), "VmPoweredOnEvent");
    CHECK_STR(stats_string(stats, "headers", "content-type"), "application/json");
    CHECK_STR(stats_string(stats, "headers", "authorization"), "Basic dTpwdzE=");
    CHECK_STR(stats_string(stats, "body", NULL), "{\"vm\":\"web 01\"}");
    cJSON_Delete(stats);
}

static void test_structured_delivery(void)
{
    config_processor config = {0};
    config.knative.uri = server_url("/structured");
    config.knative.structured = true;
    harness h;
    outcome o = {0};
    CHECK(harness_open(&h, &config) == 0);
    send_event(&h, &o, "st-1");
    wait_for(&h, &o, 1);
    harness_close(&h);
    CHECK(o.result.status == DELIVERY_OK);
    cJSON *stats = server_stats();
    CHECK_STR(stats_string(stats, "headers", "content-type"),
              "application/cloudevents+json; charset=utf-8");
    CHECK(stats_string(stats, "headers", "ce-id") == NULL);
    CHECK_CONTAINS(stats_string(stats, "body", NULL), "\"id\":\"st-1\"");
    cJSON_Delete(stats);
}

static void test_k_sink_overrides_uri(void)
{
    char refused[64];
    snprintf(refused, sizeof refused, "http://127.0.0.1:%d/never", unused_port());
    setenv("K_SINK", server_url("/from-k-sink"), 1);
    delivery_result r = deliver_once_to(refused);
    unsetenv("K_SINK");
    CHECK(r.status == DELIVERY_OK);
    cJSON *stats = server_stats();
    CHECK_STR(stats_string(stats, "path", NULL), "/from-k-sink");
    cJSON_Delete(stats);
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void use_fake_cluster(void)
{
    setenv("EVENT_ROUTER_K8S_SERVICEACCOUNT_DIR", sa_dir, 1);
    setenv("EVENT_ROUTER_K8S_API_URL", server_url(""), 1);
}

static config_processor ref_config(const char *api_version, const char *kind, const char *ns,
                                   const char *name)
{
    config_processor config = {0};
    config.knative.has_ref = true;
    config.knative.ref =
        (config_k8s_ref){(char *)api_version, (char *)kind, (char *)name, (char *)ns};
    return config;
}

static void test_broker_ref_resolved_once(void)
{
    use_fake_cluster();
    int hits_before = stats_api_hits();
    config_processor config = ref_config("eventing.knative.dev/v1", "Broker", "default", "rabbit");
    harness h;
    outcome o[4] = {0};
    CHECK(harness_open(&h, &config) == 0);
    for (int i = 0; i < 3; i++)
        send_event(&h, &o[i], "ref-1");
    wait_for(&h, o, 3);
    send_event(&h, &o[3], "ref-2"); /* the URL is known now */
    wait_for(&h, &o[3], 1);
    harness_close(&h);
    for (int i = 0; i < 4; i++) {
        CHECK(o[i].calls == 1 && !o[i].called_inside_send);
        CHECK(o[i].result.status == DELIVERY_OK);
        CHECK(o[i].result.http_status == 202);
    }
    CHECK(stats_api_hits() == hits_before + 1);
    cJSON *stats = server_stats();
    CHECK_STR(stats_string(stats, "path", NULL), "/default/rabbit");
    CHECK_STR(stats_string(stats, "headers", "ce-id"), "ref-2");
    cJSON_Delete(stats);
}

static void test_knative_service_ref(void)
{
    use_fake_cluster();
    config_processor config = ref_config("serving.knative.dev/v1", "Service", "prod", "hello");
    harness h;
    outcome o = {0};
    CHECK(harness_open(&h, &config) == 0);
    send_event(&h, &o, "ksvc-1");
    wait_for(&h, &o, 1);
    harness_close(&h);
    CHECK(o.result.status == DELIVERY_OK);
    cJSON *stats = server_stats();
    CHECK_STR(stats_string(stats, "path", NULL), "/ksvc/hello");
    cJSON_Delete(stats);
}

static void test_missing_broker_retries_resolution(void)
{
    use_fake_cluster();
    int hits_before = stats_api_hits();
    config_processor config = ref_config("eventing.knative.dev/v1", "Broker", "default", "nope");
    harness h;
    outcome o[3] = {0};
    CHECK(harness_open(&h, &config) == 0);
    send_event(&h, &o[0], "m-1");
    send_event(&h, &o[1], "m-2");
    wait_for(&h, o, 2);
    send_event(&h, &o[2], "m-3"); /* resolution is tried again */
    wait_for(&h, &o[2], 1);
    harness_close(&h);
    for (int i = 0; i < 3; i++) {
        CHECK(o[i].calls == 1 && !o[i].called_inside_send);
        CHECK(o[i].result.status == DELIVERY_RETRY);
        CHECK_CONTAINS(o[i].result.error, "Broker/default/nope");
        CHECK_CONTAINS(o[i].result.error, "HTTP 404");
        CHECK_CONTAINS(o[i].result.error, "brokers.eventing.knative.dev \"nope\" not found");
    }
    CHECK(stats_api_hits() == hits_before + 2);
}

static void test_wrong_token_is_reported(void)
{
    char other[96];
    snprintf(other, sizeof other, "%s-wrong", sa_dir);
    mkdir(other, 0700);
    write_file(other, "token", "not-the-token\n");
    setenv("EVENT_ROUTER_K8S_SERVICEACCOUNT_DIR", other, 1);
    setenv("EVENT_ROUTER_K8S_API_URL", server_url(""), 1);
    config_processor config = ref_config("eventing.knative.dev/v1", "Broker", "default", "rabbit");
    harness h;
    outcome o = {0};
    CHECK(harness_open(&h, &config) == 0);
    send_event(&h, &o, "t-1");
    wait_for(&h, &o, 1);
    harness_close(&h);
    CHECK(o.result.status == DELIVERY_RETRY);
    CHECK_CONTAINS(o.result.error, "HTTP 401");
    CHECK(!strstr(o.result.error, "not-the-token"));
    char path[128];
    snprintf(path, sizeof path, "%s/token", other);
    unlink(path);
    rmdir(other);
}

static void test_out_of_cluster_error(void)
{
    setenv("EVENT_ROUTER_K8S_SERVICEACCOUNT_DIR", "/nonexistent-sa", 1);
    unsetenv("EVENT_ROUTER_K8S_API_URL");
    config_processor config = ref_config("eventing.knative.dev/v1", "Broker", "default", "rabbit");
    harness h;
    CHECK(harness_open(&h, &config) == -1);
    CHECK_STR(h.err, "knative destination ref Broker/default/rabbit needs the Kubernetes API, but "
                     "no service-account token was found at /nonexistent-sa/token (not running "
                     "in a cluster?)");
    h.state = NULL;
    harness_close(&h);
}

static void test_no_destination(void)
{
    config_processor config = {0};
    harness h;
    CHECK(harness_open(&h, &config) == -1);
    CHECK_CONTAINS(h.err, "destination");
    h.state = NULL;
    harness_close(&h);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    unsetenv("K_SINK");
    if (server_start() != 0) {
        fprintf(stderr, "cannot start the node test server\n");
        return 1;
    }
    snprintf(sa_dir, sizeof sa_dir, "/tmp/knative-sa-XXXXXX");
    if (!mkdtemp(sa_dir))
        return 1;
    write_file(sa_dir, "token", "test-token\n");
    write_file(sa_dir, "namespace", "default\n");

    RUN_TEST(test_classification);
    RUN_TEST(test_retry_after);
    RUN_TEST(test_connection_refused);
    RUN_TEST(test_binary_delivery_with_basic_auth);
    RUN_TEST(test_structured_delivery);
    RUN_TEST(test_k_sink_overrides_uri);
    RUN_TEST(test_broker_ref_resolved_once);
    RUN_TEST(test_knative_service_ref);
    RUN_TEST(test_missing_broker_retries_resolution);
    RUN_TEST(test_wrong_token_is_reported);
    RUN_TEST(test_out_of_cluster_error);
    RUN_TEST(test_no_destination);

    char path[128];
    snprintf(path, sizeof path, "%s/token", sa_dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/namespace", sa_dir);
    unlink(path);
    rmdir(sa_dir);
    node_peer_stop(server_pid);
    return CHECK_DONE();
}
