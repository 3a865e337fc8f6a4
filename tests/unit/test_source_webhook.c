#include "check.h"
#include "event_queue.h"
#include "sources/source_webhook.h"
#include "test_http_server_client.h"

#include <openssl/evp.h>

#define QUEUE_CAPACITY 4

typedef struct fixture {
    loop_thread lt;
    config_provider config;
    event_queue queue;
    provider_stats stats;
    source_services services;
    void *state;
    int port;
    char authorization[256]; /* "Authorization: Basic ...\r\n" for the right credentials */
} fixture;

static void close_source(void *user)
{
    fixture *f = user;
    webhook_source_type.close(f->state);
}

static bool fixture_start(fixture *f, const char *path)
{
    memset(f, 0, sizeof *f);
    f->config.name = "webhook-test";
    f->config.kind = PROVIDER_WEBHOOK;
    f->config.webhook.bind_address = "127.0.0.1:0";
    f->config.webhook.path = (char *)path;
    f->config.webhook.max_body_bytes = 2048;
    f->config.webhook.auth.type = AUTH_BASIC;
    f->config.webhook.auth.username = "admin";
    f->config.webhook.auth.password = "s3cret-pass";
    unsigned char encoded[64];
    EVP_EncodeBlock(encoded, (const unsigned char *)"admin:s3cret-pass", 17);
    snprintf(f->authorization, sizeof f->authorization, "Authorization: Basic %s\r\n", encoded);

    loop_thread_init(&f->lt);
    CHECK(event_queue_init(&f->queue, QUEUE_CAPACITY));
    f->services = (source_services){.loop = &f->lt.loop, .queue = &f->queue, .stats = &f->stats};
    char err[256] = "";
    if (webhook_source_type.create(&f->config, &f->services, &f->state, err, sizeof err) != 0) {
        fprintf(stderr, "create: %s\n", err);
        CHECK(!"webhook source created");
        return false;
    }
    CHECK(webhook_source_type.ready(f->state));
    f->port = webhook_source_port(f->state);
    CHECK(f->port > 0);
    loop_thread_start(&f->lt, close_source, f);
    return true;
}

static int fixture_stop(fixture *f)
{
    return loop_thread_join(&f->lt);
}

static client_response response;

/* One request on its own connection; returns the status. */
static int post(const fixture *f, const char *method, const char *path, const char *extra_headers,
                const char *body)
{
    client_reader *r = calloc(1, sizeof *r);
    r->fd = client_connect(f->port);
    char head[2048];
    snprintf(head, sizeof head, "%s %s HTTP/1.1\r\nHost: x\r\n%sContent-Length: %zu\r\n\r\n",
             method, path, extra_headers, strlen(body));
    client_send_str(r->fd, head);
    client_send_str(r->fd, body);
    int status = client_read_response(r, &response);
    close(r->fd);
    free(r);
    return status;
}

static char headers[1024];

static const char *binary_event(const fixture *f, const char *id)
{
    snprintf(headers, sizeof headers,
             "%sce-specversion: 1.0\r\nce-id: %s\r\nce-source: /test\r\nce-type: t\r\n"
             "Content-Type: application/json\r\n",
             f->authorization, id);
    return headers;
}

static const char *batch_headers(const fixture *f)
{
    snprintf(headers, sizeof headers, "%sContent-Type: application/cloudevents-batch+json\r\n",
             f->authorization);
    return headers;
}

static const char *batch_of_two(const char *first, const char *second)
{
    static char body[512];
    snprintf(body, sizeof body,
             "[{\"specversion\":\"1.0\",\"id\":\"%s\",\"source\":\"/b\",\"type\":\"t\"},"
             "{\"specversion\":\"1.0\",\"id\":\"%s\",\"source\":\"/b\",\"type\":\"t\"}]",
             first, second);
    return body;
}

static void test_refusals(void)
{
    fixture f;
    if (!fixture_start(&f, "/webhook"))
        return;
    const char *event_headers =
        "ce-specversion: 1.0\r\nce-id: 1\r\nce-source: /s\r\nce-type: t\r\n";

    CHECK(post(&f, "POST", "/webhook", event_headers, "") == 401);
    CHECK_STR(response_header(&response, "WWW-Authenticate"), "Basic realm=\"event-router\"");

    char wrong[512];
    unsigned char encoded[64];
    /* Same length as the right password, and a different length. */
    EVP_EncodeBlock(encoded, (const unsigned char *)"admin:s3cret-pasS", 17);
    snprintf(wrong, sizeof wrong, "Authorization: Basic %s\r\n%s", encoded, event_headers);
    CHECK(post(&f, "POST", "/webhook", wrong, "") == 401);
    EVP_EncodeBlock(encoded, (const unsigned char *)"admin:s3cret", 12);
    snprintf(wrong, sizeof wrong, "Authorization: Basic %s\r\n%s", encoded, event_headers);
    CHECK(post(&f, "POST", "/webhook", wrong, "") == 401);
    snprintf(wrong, sizeof wrong, "Authorization: Bearer abc\r\n%s", event_headers);
    CHECK(post(&f, "POST", "/webhook", wrong, "") == 401);
    CHECK(strstr(response.body, "s3cret") == NULL);

    CHECK(post(&f, "GET", "/webhook", f.authorization, "") == 405);
    CHECK_STR(response_header(&response, "Allow"), "POST");
    CHECK(post(&f, "POST", "/elsewhere", binary_event(&f, "1"), "{}") == 404);
    CHECK(post(&f, "POST", "/webhook/extra", binary_event(&f, "1"), "{}") == 404);

    /* An invalid event: 400 with the reason in a JSON body. */
    char missing_id[512];
    snprintf(missing_id, sizeof missing_id,
             "%sce-specversion: 1.0\r\nce-source: /s\r\nce-type: t\r\n", f.authorization);
    CHECK(post(&f, "POST", "/webhook", missing_id, "") == 400);
    CHECK_STR(response_header(&response, "Content-Type"), "application/json");
    cJSON *body = cJSON_Parse(response.body);
    CHECK(body != NULL);
    CHECK_CONTAINS(cJSON_GetStringValue(cJSON_GetObjectItem(body, "error")), "'id'");
    cJSON_Delete(body);

    CHECK(post(&f, "POST", "/webhook", binary_event(&f, "1"), "{not json") == 400);
    CHECK_CONTAINS(response.body, "not valid JSON");

    char plain[512];
    snprintf(plain, sizeof plain, "%sContent-Type: application/json\r\n", f.authorization);
    CHECK(post(&f, "POST", "/webhook", plain, "{}") == 400);
    CHECK_CONTAINS(response.body, "not a CloudEvent");

    char big[4096];
    memset(big, ' ', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CHECK(post(&f, "POST", "/webhook", binary_event(&f, "1"), big) == 413);

    CHECK(fixture_stop(&f) == 0);
    CHECK(event_queue_depth(&f.queue) == 0);
    CHECK(f.stats.events_total == 0);
    /* 4 unauthorized + 3 invalid; 404/405/413 are not events refused. */
    CHECK(f.stats.events_err == 7);
    event_queue_destroy(&f.queue);
}

static void test_accepts_until_full_and_batches_are_all_or_nothing(void)
{
    fixture f;
    if (!fixture_start(&f, "/webhook"))
        return;
    CHECK(post(&f, "POST", "/webhook", binary_event(&f, "a"), "{\"n\":1}") == 202);
    CHECK(response.body_len == 0);
    CHECK(post(&f, "POST", "/webhook", batch_headers(&f), batch_of_two("b", "c")) == 202);
    /* One slot left: a batch of two does not fit and none of it is queued. */
    CHECK(post(&f, "POST", "/webhook", batch_headers(&f), batch_of_two("x", "y")) == 503);
    CHECK_STR(response_header(&response, "Retry-After"), "1");
    CHECK(post(&f, "POST", "/webhook", batch_headers(&f), "[]") == 202);
    char structured[512];
    snprintf(structured, sizeof structured, "%sContent-Type: application/cloudevents+json\r\n",
             f.authorization);
    CHECK(post(&f, "POST", "/webhook", structured,
               "{\"specversion\":\"1.0\",\"id\":\"d\",\"source\":\"/s\",\"type\":\"t\"}") == 202);
    CHECK(post(&f, "POST", "/webhook", binary_event(&f, "e"), "{}") == 503);
    CHECK(fixture_stop(&f) == 0);

    CHECK(f.stats.events_total == 4);
    CHECK(f.stats.events_err == 2);
    const char *want[] = {"a", "b", "c", "d"};
    uint64_t last_sequence = 0;
    for (size_t i = 0; i < 4; i++) {
        event *ev = event_queue_pop(&f.queue);
        CHECK(ev != NULL);
        if (!ev)
            break;
        CHECK_STR(ev->id, want[i]);
        CHECK_STR(ev->source_name, "webhook-test");
        CHECK(ev->sequence > last_sequence);
        CHECK(ev->received_ns > 0);
        last_sequence = ev->sequence;
        CHECK(ev->refcount == 1); /* the source kept no reference */
        event_unref(ev);
    }
    CHECK(event_queue_pop(&f.queue) == NULL);
    event_queue_destroy(&f.queue);
}

static void test_create_refuses_bad_config(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    event_queue queue;
    event_queue_init(&queue, 1);
    provider_stats stats = {0};
    source_services services = {.loop = &loop, .queue = &queue, .stats = &stats};
    config_provider config = {.name = "w", .kind = PROVIDER_WEBHOOK};
    config.webhook.bind_address = "127.0.0.1:0";
    void *state = NULL;
    char err[256] = "";

    config.webhook.path = "/";
    CHECK(webhook_source_type.create(&config, &services, &state, err, sizeof err) == -1);
    CHECK_CONTAINS(err, "\"/\"");

    config.webhook.path = "/hook";
    config.webhook.bind_address = "127.0.0.1";
    CHECK(webhook_source_type.create(&config, &services, &state, err, sizeof err) == -1);
    CHECK_CONTAINS(err, "port");

    config.webhook.bind_address = "127.0.0.1:0";
    config.webhook.auth.type = AUTH_AWS_IAM_ROLE;
    CHECK(webhook_source_type.create(&config, &services, &state, err, sizeof err) == -1);
    CHECK_CONTAINS(err, "basic_auth");

    /* Without auth any client may post. */
    config.webhook.auth.type = AUTH_NONE;
    CHECK(webhook_source_type.create(&config, &services, &state, err, sizeof err) == 0);
    CHECK(webhook_source_type.event_done == NULL);
    CHECK_STR(webhook_source_type.name, "webhook");
    if (state)
        webhook_source_type.close(state);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
    event_queue_destroy(&queue);
}

static void test_without_auth_accepts(void)
{
    fixture f;
    memset(&f, 0, sizeof f);
    /* Build the fixture by hand with auth off. */
    f.config.name = "open";
    f.config.webhook.bind_address = "127.0.0.1:0";
    f.config.webhook.path = "/open";
    loop_thread_init(&f.lt);
    event_queue_init(&f.queue, QUEUE_CAPACITY);
    f.services = (source_services){.loop = &f.lt.loop, .queue = &f.queue, .stats = &f.stats};
    char err[256];
    CHECK(webhook_source_type.create(&f.config, &f.services, &f.state, err, sizeof err) == 0);
    if (!f.state)
        return;
    f.port = webhook_source_port(f.state);
    loop_thread_start(&f.lt, close_source, &f);
    CHECK(post(&f, "POST", "/open",
               "ce-specversion: 1.0\r\nce-id: 1\r\nce-source: /s\r\nce-type: t\r\n", "") == 202);
    CHECK(fixture_stop(&f) == 0);
    CHECK(event_queue_depth(&f.queue) == 1);
    CHECK(f.stats.events_total == 1);
    event_queue_destroy(&f.queue);
}

int main(void)
{
    RUN_TEST(test_refusals);
    RUN_TEST(test_accepts_until_full_and_batches_are_all_or_nothing);
    RUN_TEST(test_create_refuses_bad_config);
    RUN_TEST(test_without_auth_accepts);
    return CHECK_DONE();
}
