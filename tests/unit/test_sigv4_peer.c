/* Our SigV4 signatures, sent through the engine's HTTP client, checked by an independent
 * implementation: tests/peers/sigv4_endpoint.mjs verifies each request with @smithy/signature-v4
 * (AWS's JavaScript SDK signer) as an AWS endpoint would. Wrong secrets, tampered bodies and
 * unknown key ids must be refused, so the checker itself is shown to check. */
#include "check.h"
#include "node_peer.h"

#include "http/http_client.h"
#include "processors/aws/sigv4.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KEY_ID "ASIAPEERTEST0001"
#define SECRET "peer/secret+value/0123456789abcdefghijABCDEFGHIJ"
#define TOKEN "IQoJb3JpZ2luX2VjEPeerSessionToken/with+symbols=="
#define LONG_KEY_ID "AKIAPEERLONGTERM01"
#define LONG_SECRET "long-term-secret-value-0123456789"

static uv_loop_t *loop;
static http_client *http;
static char host[64];

typedef struct answer {
    bool done;
    long status;
    char body[8192];
} answer;

static void on_done(void *user, const http_client_response *response)
{
    answer *a = user;
    a->status = response->status;
    snprintf(a->body, sizeof a->body, "%s",
             response->body ? response->body : (response->error ? response->error : ""));
    a->done = true;
}

/* Signs (method, path, query, body) with the given keys, optionally changes the body after
 * signing, sends it and returns the endpoint's answer. */
static answer send_signed(const char *method, const char *raw_path, const char *wire_path,
                          const char *query, const char *body, const char *key_id,
                          const char *secret, const char *token, const char *tampered_body)
{
    http_header headers[8] = {{"Host", host},
                              {"Content-Type", "application/x-amz-json-1.1"},
                              {"X-Amz-Target", "AWSEvents.PutEvents"}};
    size_t count = 3;
    sigv4_request request = {method, raw_path, query, headers, count, NULL, true};
    sigv4_context context = {.credentials = {key_id, secret, token},
                             .region = "eu-west-1",
                             .service = "events",
                             .now = time(NULL)};
    sigv4_signer signer = {0};
    answer a = {0};
    CHECK(sigv4_sign(&signer, &context, &request, body, body ? strlen(body) : 0) == 0);
    for (size_t i = 0; i < signer.added_count; i++)
        headers[count++] = signer.added[i];
    char url[1024];
    snprintf(url, sizeof url, "http://%s%s%s%s", host, wire_path, query ? "?" : "",
             query ? query : "");
    const char *sent = tampered_body ? tampered_body : body;
    http_client_request http_request = {.method = method,
                                        .url = url,
                                        .headers = headers,
                                        .header_count = count,
                                        .body = sent,
                                        .body_len = sent ? strlen(sent) : 0};
    CHECK(http_client_send(http, &http_request, on_done, &a) == 0);
    while (!a.done)
        uv_run(loop, UV_RUN_ONCE);
    sigv4_signer_free(&signer);
    return a;
}

static const char *json_string(const char *body, const char *key, char *out, size_t cap)
{
    cJSON *root = cJSON_Parse(body);
    const char *value = cJSON_GetStringValue(cJSON_GetObjectItem(root, key));
    snprintf(out, cap, "%s", value ? value : "");
    cJSON_Delete(root);
    return out;
}

static void test_put_events_with_session_token(void)
{
    const char *body = "{\"Entries\":[{\"Source\":\"https://vc.lab/sdk\",\"DetailType\":"
                       "\"VmPoweredOnEvent\",\"Detail\":\"{\\\"x\\\":\\\"\xc3\xa9\\\"}\"}]}";
    answer a = send_signed("POST", "/", "/", NULL, body, KEY_ID, SECRET, TOKEN, NULL);
    CHECK(a.status == 200);
    CHECK_CONTAINS(a.body, "\"verified\":true");
    CHECK_CONTAINS(a.body, "\"x-amz-security-token\"");
    CHECK_CONTAINS(a.body, "\"x-amz-target\"");
    char text[4096];
    CHECK_STR(json_string(a.body, "body", text, sizeof text), body);
}

static void test_long_term_keys_get_with_query_and_odd_path(void)
{
    answer a = send_signed("GET", "/rules/a b/\xe1\x88\xb4/x", "/rules/a%20b/%E1%88%B4/x",
                           "b=2&a=1&%E1%88%B4=caf%C3%A9&empty=&a=0", NULL, LONG_KEY_ID, LONG_SECRET,
                           NULL, NULL);
    CHECK(a.status == 200);
    CHECK_CONTAINS(a.body, "\"verified\":true");
    CHECK(strstr(a.body, "x-amz-security-token") == NULL);
}

static void test_wrong_secret_is_refused(void)
{
    answer a = send_signed("POST", "/", "/", NULL, "{}", KEY_ID, "not-the-secret", TOKEN, NULL);
    CHECK(a.status == 403);
    char code[128];
    CHECK_STR(json_string(a.body, "__type", code, sizeof code), "InvalidSignatureException");
}

static void test_tampered_body_is_refused(void)
{
    answer a = send_signed("POST", "/", "/", NULL, "{\"Entries\":[]}", KEY_ID, SECRET, TOKEN,
                           "{\"Entries\":[1]}");
    CHECK(a.status == 403);
    CHECK_CONTAINS(a.body, "InvalidSignatureException");
}

static void test_unknown_key_and_wrong_token_are_refused(void)
{
    answer a = send_signed("POST", "/", "/", NULL, "{}", "AKIAUNKNOWN", SECRET, NULL, NULL);
    CHECK(a.status == 403);
    CHECK_CONTAINS(a.body, "UnrecognizedClientException");
    a = send_signed("POST", "/", "/", NULL, "{}", KEY_ID, SECRET, "another-token", NULL);
    CHECK(a.status == 403);
    CHECK_CONTAINS(a.body, "UnrecognizedClientException");
}

int main(void)
{
    setenv("SIGV4_KEYS",
           "{\"" KEY_ID "\":{\"secret\":\"" SECRET "\",\"token\":\"" TOKEN "\"},"
           "\"" LONG_KEY_ID "\":{\"secret\":\"" LONG_SECRET "\"}}",
           1);
    setenv("SIGV4_REGION", "eu-west-1", 1);
    setenv("SIGV4_SERVICE", "events", 1);
    const char *source = getenv("EVENT_ROUTER_SOURCE_DIR");
    char script[1400], line[64];
    snprintf(script, sizeof script, "import('%s/tests/peers/sigv4_endpoint.mjs')",
             source ? source : ".");
    pid_t pid = node_peer_start(script, line, sizeof line);
    CHECK(pid > 0 && atoi(line) > 0);
    if (pid > 0 && atoi(line) > 0) {
        snprintf(host, sizeof host, "127.0.0.1:%d", atoi(line));
        loop = uv_default_loop();
        http = http_client_new(loop);
        RUN_TEST(test_put_events_with_session_token);
        RUN_TEST(test_long_term_keys_get_with_query_and_odd_path);
        RUN_TEST(test_wrong_secret_is_refused);
        RUN_TEST(test_tampered_body_is_refused);
        RUN_TEST(test_unknown_key_and_wrong_token_are_refused);
        http_client_close(http);
        uv_run(loop, UV_RUN_DEFAULT);
        CHECK(uv_loop_close(loop) == 0);
    }
    node_peer_stop(pid);
    return CHECK_DONE();
}
