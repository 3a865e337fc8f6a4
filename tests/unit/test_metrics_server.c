/* The metrics server over real HTTP: its loop runs in a thread, libcurl asks from the test thread.
 */
#include "check.h"
#include "metrics/metrics_server.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <strings.h>
#include <uv.h>

/* ---- the server's loop, in a thread of its own ------------------------------------------------
 */

typedef void (*loop_stop_fn)(void *user);

typedef struct loop_thread {
    uv_loop_t loop;
    uv_async_t stop;
    pthread_t thread;
    loop_stop_fn on_stop; /* runs on the loop thread: closes what the test opened */
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

/* Stops the loop; uv_loop_close()'s verdict, 0 when every handle was closed. */
static int loop_thread_join(loop_thread *lt)
{
    uv_async_send(&lt->stop);
    pthread_join(lt->thread, NULL);
    uv_run(&lt->loop, UV_RUN_NOWAIT);
    return uv_loop_close(&lt->loop);
}

/* ---- a libcurl client -------------------------------------------------------------------------
 */

typedef struct reply {
    long status;
    char body[65536];
    size_t body_len;
    char content_type[128];
    char www_authenticate[256];
    char allow[64];
} reply;

static size_t collect_body(char *data, size_t size, size_t count, void *user)
{
    reply *r = user;
    size_t n = size * count;
    size_t room = sizeof r->body - 1 - r->body_len;
    size_t take = n < room ? n : room;
    memcpy(r->body + r->body_len, data, take);
    r->body_len += take;
    r->body[r->body_len] = '\0';
    return n;
}

static void copy_header_value(const char *line, size_t len, size_t name_len, char *out, size_t cap)
{
    const char *value = line + name_len;
    size_t value_len = len - name_len;
    while (value_len > 0 && *value == ' ')
        value++, value_len--;
    while (value_len > 0 && (value[value_len - 1] == '\r' || value[value_len - 1] == '\n'))
        value_len--;
    snprintf(out, cap, "%.*s", (int)value_len, value);
}

static size_t collect_header(char *line, size_t size, size_t count, void *user)
{
    reply *r = user;
    size_t n = size * count;
    if (n > 17 && strncasecmp(line, "WWW-Authenticate:", 17) == 0)
        copy_header_value(line, n, 17, r->www_authenticate, sizeof r->www_authenticate);
    else if (n > 6 && strncasecmp(line, "Allow:", 6) == 0)
        copy_header_value(line, n, 6, r->allow, sizeof r->allow);
    return n;
}

/* One request; user_password "user:password" or NULL, raw_authorization a whole header or NULL. */
static long fetch(int port, const char *method, const char *path, const char *user_password,
                  const char *raw_authorization, reply *r)
{
    memset(r, 0, sizeof *r);
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    CURL *curl = curl_easy_init();
    struct curl_slist *headers = NULL;
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 5L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collect_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, r);
    if (strcmp(method, "POST") == 0)
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "x=1");
    else if (strcmp(method, "GET") != 0)
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    if (user_password) {
        curl_easy_setopt(curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(curl, CURLOPT_USERPWD, user_password);
    }
    if (raw_authorization) {
        headers = curl_slist_append(headers, raw_authorization);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    }
    CURLcode rc = curl_easy_perform(curl);
    CHECK(rc == CURLE_OK);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
        char *type = NULL;
        curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type);
        snprintf(r->content_type, sizeof r->content_type, "%s", type ? type : "");
    }
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return r->status;
}

/* ---- fixture ----------------------------------------------------------------------------------
 */

static atomic_bool router_ready;

static bool is_ready(void *user)
{
    (void)user;
    return atomic_load(&router_ready);
}

typedef struct fixture {
    loop_thread lt;
    metrics *m;
    metrics_server *server;
    int port;
} fixture;

static void stop_server(void *user)
{
    metrics_server_close(((fixture *)user)->server);
}

static bool fixture_start(fixture *f, const config_metrics *config)
{
    char err[256] = "";
    loop_thread_init(&f->lt);
    f->m = metrics_new();
    provider_stats *hook = metrics_add_provider(f->m, "hooks", "webhook", "127.0.0.1:0");
    hook->events_total = 5;
    f->m->events_in = 5;
    processor_stats *kn = metrics_add_processor(f->m, "kn", "knative");
    metrics_processor_outcome(kn, "VmPoweredOnEvent", 1);
    atomic_store(&router_ready, false);
    f->server = metrics_server_start(&f->lt.loop, config, f->m, is_ready, NULL, err, sizeof err);
    CHECK(f->server != NULL);
    if (!f->server) {
        fprintf(stderr, "start: %s\n", err);
        uv_close((uv_handle_t *)&f->lt.stop, NULL);
        uv_run(&f->lt.loop, UV_RUN_NOWAIT);
        uv_loop_close(&f->lt.loop);
        metrics_free(f->m);
        return false;
    }
    f->port = metrics_server_port(f->server);
    CHECK(f->port > 0);
    loop_thread_start(&f->lt, stop_server, f);
    return true;
}

static void fixture_stop(fixture *f)
{
    /* 0: the listener and every connection were closed, nothing is left on the loop */
    CHECK(loop_thread_join(&f->lt) == 0);
    metrics_free(f->m);
}

static config_metrics open_config(void)
{
    return (config_metrics){.enabled = true, .bind_address = "127.0.0.1:0"};
}

/* ---- tests ------------------------------------------------------------------------------------
 */

static void test_endpoints_without_auth(void)
{
    config_metrics config = open_config();
    fixture f;
    if (!fixture_start(&f, &config))
        return;
    reply r;
    CHECK(fetch(f.port, "GET", "/stats", NULL, NULL, &r) == 200);
    CHECK_STR(r.content_type, "application/json");
    cJSON *json = cJSON_Parse(r.body);
    cJSON *stats = cJSON_GetObjectItem(json, "vmware.event.router.stats");
    cJSON *hook = cJSON_GetObjectItem(stats, "webhook");
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(hook, "events_total")) == 5);
    cJSON *invocations = cJSON_GetObjectItem(cJSON_GetObjectItem(stats, "knative"), "invocations");
    CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(
              cJSON_GetObjectItem(invocations, "VmPoweredOnEvent"), "SuccessCount")) == 1);
    cJSON_Delete(json);

    CHECK(fetch(f.port, "GET", "/metrics?x=1", NULL, NULL, &r) == 200);
    CHECK_CONTAINS(r.content_type, "text/plain");
    CHECK_CONTAINS(r.content_type, "version=0.0.4");
    CHECK_CONTAINS(r.body, "\nevent_router_events_in_total 5\n");

    CHECK(fetch(f.port, "GET", "/healthz", NULL, NULL, &r) == 200);
    CHECK_STR(r.body, "ok");

    CHECK(fetch(f.port, "GET", "/nope", NULL, NULL, &r) == 404);
    CHECK(fetch(f.port, "GET", "/stats/", NULL, NULL, &r) == 404);
    CHECK(fetch(f.port, "POST", "/stats", NULL, NULL, &r) == 405);
    CHECK_STR(r.allow, "GET");
    CHECK(fetch(f.port, "DELETE", "/healthz", NULL, NULL, &r) == 405);
    fixture_stop(&f);
}

static void test_readyz_follows_the_callback(void)
{
    config_metrics config = open_config();
    fixture f;
    if (!fixture_start(&f, &config))
        return;
    reply r;
    CHECK(fetch(f.port, "GET", "/readyz", NULL, NULL, &r) == 503);
    CHECK_STR(r.body, "not ready");
    atomic_store(&router_ready, true);
    CHECK(fetch(f.port, "GET", "/readyz", NULL, NULL, &r) == 200);
    CHECK_STR(r.body, "ready");
    atomic_store(&router_ready, false);
    CHECK(fetch(f.port, "GET", "/readyz", NULL, NULL, &r) == 503);
    fixture_stop(&f);
}

static void test_basic_auth_guards_all_but_the_probes(void)
{
    config_metrics config = open_config();
    config.auth = (config_auth){.type = AUTH_BASIC, .username = "scraper", .password = "s3cret:pw"};
    fixture f;
    if (!fixture_start(&f, &config))
        return;
    reply r;
    CHECK(fetch(f.port, "GET", "/stats", NULL, NULL, &r) == 401);
    CHECK_CONTAINS(r.www_authenticate, "Basic realm=");
    CHECK(strstr(r.body, "s3cret") == NULL);
    CHECK(fetch(f.port, "GET", "/metrics", NULL, NULL, &r) == 401);
    CHECK_CONTAINS(r.www_authenticate, "Basic");
    CHECK(fetch(f.port, "GET", "/stats", "scraper:wrong", NULL, &r) == 401);
    CHECK(fetch(f.port, "GET", "/stats", "scrape:s3cret:pw", NULL, &r) == 401);
    CHECK(fetch(f.port, "GET", "/stats", "scraper:s3cret:p", NULL, &r) == 401);
    CHECK(fetch(f.port, "GET", "/stats", NULL, "Authorization: Basic !!!notbase64", &r) == 401);
    CHECK(fetch(f.port, "GET", "/stats", NULL,
                "Authorization: Bearer c2NyYXBlcjpzM2NyZXQ6cHc=", &r) == 401);
    /* unknown paths do not reveal themselves before authentication */
    CHECK(fetch(f.port, "GET", "/nope", NULL, NULL, &r) == 401);

    CHECK(fetch(f.port, "GET", "/stats", "scraper:s3cret:pw", NULL, &r) == 200);
    CHECK_CONTAINS(r.body, "vmware.event.router.stats");
    CHECK(fetch(f.port, "GET", "/metrics", "scraper:s3cret:pw", NULL, &r) == 200);
    /* the scheme is case-insensitive; "scraper:s3cret:pw" in base64 */
    CHECK(fetch(f.port, "GET", "/metrics", NULL,
                "Authorization: basic c2NyYXBlcjpzM2NyZXQ6cHc=", &r) == 200);
    CHECK(fetch(f.port, "GET", "/nope", "scraper:s3cret:pw", NULL, &r) == 404);

    /* Kubernetes probes carry no credentials */
    CHECK(fetch(f.port, "GET", "/healthz", NULL, NULL, &r) == 200);
    CHECK(fetch(f.port, "GET", "/readyz", NULL, NULL, &r) == 503);
    fixture_stop(&f);
}

static void test_refuses_what_it_cannot_serve(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    metrics *m = metrics_new();
    char err[256] = "";

    config_metrics config = open_config();
    config.auth = (config_auth){
        .type = AUTH_AWS_ACCESS_KEY, .access_key = "AKIA", .secret_key = "very-secret-key"};
    CHECK(metrics_server_start(&loop, &config, m, NULL, NULL, err, sizeof err) == NULL);
    CHECK_CONTAINS(err, "basic_auth");
    CHECK(strstr(err, "very-secret-key") == NULL);

    config = open_config();
    config.auth = (config_auth){.type = AUTH_BASIC, .username = "u"};
    err[0] = '\0';
    CHECK(metrics_server_start(&loop, &config, m, NULL, NULL, err, sizeof err) == NULL);
    CHECK(err[0] != '\0');

    config = open_config();
    config.bind_address = "not-an-address";
    err[0] = '\0';
    CHECK(metrics_server_start(&loop, &config, m, NULL, NULL, err, sizeof err) == NULL);
    CHECK(err[0] != '\0');

    metrics_server_close(NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    CHECK(uv_loop_close(&loop) == 0);
    metrics_free(m);
}

static void close_metrics_server(void *server)
{
    metrics_server_close(server);
}

static void test_ready_defaults_to_true_without_callback(void)
{
    loop_thread lt;
    loop_thread_init(&lt);
    metrics *m = metrics_new();
    config_metrics config = open_config();
    char err[256];
    metrics_server *server =
        metrics_server_start(&lt.loop, &config, m, NULL, NULL, err, sizeof err);
    CHECK(server != NULL);
    if (server) {
        int port = metrics_server_port(server);
        loop_thread_start(&lt, close_metrics_server, server);
        reply r;
        CHECK(fetch(port, "GET", "/readyz", NULL, NULL, &r) == 200);
        CHECK(loop_thread_join(&lt) == 0);
    }
    metrics_free(m);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    RUN_TEST(test_endpoints_without_auth);
    RUN_TEST(test_readyz_follows_the_callback);
    RUN_TEST(test_basic_auth_guards_all_but_the_probes);
    RUN_TEST(test_refuses_what_it_cannot_serve);
    RUN_TEST(test_ready_defaults_to_true_without_callback);
    curl_global_cleanup();
    return CHECK_DONE();
}
