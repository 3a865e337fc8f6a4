#include "metrics_server.h"

#include "http_server.h"
#include "log.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_BIND_ADDRESS "127.0.0.1:8082"
/* Only GETs are served; a body is never needed. */
#define MAX_REQUEST_BODY 4096
#define MAX_CREDENTIALS 1024

struct metrics_server {
    http_server *http;
    const metrics *metrics;
    bool (*ready)(void *user);
    void *user;
    bool auth_required;
    /* SHA-256 of "username:password": the password itself is not kept here, and comparing
     * digests takes the same time whatever the guess. */
    unsigned char expected_digest[EVP_MAX_MD_SIZE];
    unsigned int digest_len;
    /* The last rendered body: http_server copies the response after the handler returns, so it
     * lives until the next request or close. */
    char *last_body;
};

/* ---- basic auth ------------------------------------------------------------------------------ */

static int base64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Standard base64 with optional padding; false on anything malformed or too long. */
static bool base64_decode(const char *text, unsigned char *out, size_t cap, size_t *out_len)
{
    size_t len = strlen(text);
    while (len > 0 && text[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return false;
    uint32_t bits = 0;
    int bit_count = 0;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int v = base64_value(text[i]);
        if (v < 0)
            return false;
        bits = (bits << 6) | (uint32_t)v;
        bit_count += 6;
        if (bit_count >= 8) {
            bit_count -= 8;
            if (n == cap)
                return false;
            out[n++] = (unsigned char)(bits >> bit_count);
        }
    }
    *out_len = n;
    return true;
}

static bool digest(const void *data, size_t len, unsigned char *out, unsigned int *out_len)
{
    return EVP_Digest(data, len, out, out_len, EVP_sha256(), NULL) == 1;
}

static bool credentials_match(const metrics_server *server, const http_request *request)
{
    const char *header = http_request_header(request, "authorization");
    if (!header || strncasecmp(header, "Basic ", 6) != 0)
        return false;
    const char *encoded = header + 6;
    while (*encoded == ' ')
        encoded++;
    unsigned char decoded[MAX_CREDENTIALS];
    size_t decoded_len;
    if (!base64_decode(encoded, decoded, sizeof decoded, &decoded_len))
        return false;
    unsigned char got[EVP_MAX_MD_SIZE];
    unsigned int got_len = 0;
    bool ok = digest(decoded, decoded_len, got, &got_len) && got_len == server->digest_len &&
              CRYPTO_memcmp(got, server->expected_digest, got_len) == 0;
    OPENSSL_cleanse(decoded, sizeof decoded);
    return ok;
}

/* ---- routes ---------------------------------------------------------------------------------- */

static void answer_text(http_response *response, int status, const char *text)
{
    response->status = status;
    response->content_type = "text/plain; charset=utf-8";
    response->body = text;
    response->body_len = strlen(text);
}

static void answer_rendered(metrics_server *server, http_response *response, char *body,
                            const char *content_type)
{
    if (!body) {
        answer_text(response, 500, "could not render metrics\n");
        return;
    }
    server->last_body = body;
    response->status = 200;
    response->content_type = content_type;
    response->body = body;
    response->body_len = strlen(body);
}

static void handle_request(void *user, const http_request *request, http_response *response)
{
    metrics_server *server = user;
    free(server->last_body);
    server->last_body = NULL;

    const char *path = request->path;
    bool stats = strcmp(path, "/stats") == 0;
    bool prometheus = strcmp(path, "/metrics") == 0;
    bool health = strcmp(path, "/healthz") == 0;
    bool readiness = strcmp(path, "/readyz") == 0;

    /* The probes stay open even with auth configured: Kubernetes' httpGet probes cannot send
     * credentials, and "alive" / "ready" reveal nothing worth protecting. */
    if (server->auth_required && !health && !readiness && !credentials_match(server, request)) {
        answer_text(response, 401, "invalid credentials\n");
        response->extra_headers = "WWW-Authenticate: Basic realm=\"event-router\", "
                                  "charset=\"UTF-8\"\r\n";
        return;
    }
    if (!stats && !prometheus && !health && !readiness) {
        answer_text(response, 404, "not found\n");
        return;
    }
    if (strcmp(request->method, "GET") != 0) {
        answer_text(response, 405, "method not allowed\n");
        response->extra_headers = "Allow: GET\r\n";
        return;
    }
    if (stats)
        answer_rendered(server, response, metrics_render_stats(server->metrics),
                        "application/json");
    else if (prometheus)
        answer_rendered(server, response, metrics_render_prometheus(server->metrics),
                        "text/plain; version=0.0.4; charset=utf-8");
    else if (health)
        answer_text(response, 200, "ok");
    else if (!server->ready || server->ready(server->user))
        answer_text(response, 200, "ready");
    else
        answer_text(response, 503, "not ready");
}

/* ---- lifetime -------------------------------------------------------------------------------- */

static bool configure_auth(metrics_server *server, const config_auth *auth, char *err,
                           size_t err_cap)
{
    if (auth->type == AUTH_NONE)
        return true;
    if (auth->type != AUTH_BASIC) {
        snprintf(err, err_cap, "metrics server: only basic_auth is supported");
        return false;
    }
    if (!auth->username || !auth->password) {
        snprintf(err, err_cap, "metrics server: basic_auth needs a username and a password");
        return false;
    }
    size_t user_len = strlen(auth->username), password_len = strlen(auth->password);
    char *joined = malloc(user_len + 1 + password_len);
    if (!joined) {
        snprintf(err, err_cap, "metrics server: out of memory");
        return false;
    }
    memcpy(joined, auth->username, user_len);
    joined[user_len] = ':';
    memcpy(joined + user_len + 1, auth->password, password_len);
    bool ok =
        digest(joined, user_len + 1 + password_len, server->expected_digest, &server->digest_len);
    OPENSSL_cleanse(joined, user_len + 1 + password_len);
    free(joined);
    if (!ok) {
        snprintf(err, err_cap, "metrics server: cannot compute SHA-256");
        return false;
    }
    server->auth_required = true;
    return true;
}

metrics_server *metrics_server_start(uv_loop_t *loop, const config_metrics *config,
                                     const metrics *m, bool (*ready)(void *user), void *user,
                                     char *err, size_t err_cap)
{
    metrics_server *server = calloc(1, sizeof *server);
    if (!server) {
        snprintf(err, err_cap, "metrics server: out of memory");
        return NULL;
    }
    server->metrics = m;
    server->ready = ready;
    server->user = user;
    if (!configure_auth(server, &config->auth, err, err_cap)) {
        free(server);
        return NULL;
    }
    const char *bind = config->bind_address ? config->bind_address : DEFAULT_BIND_ADDRESS;
    server->http =
        http_server_start(loop, bind, MAX_REQUEST_BODY, handle_request, server, err, err_cap);
    if (!server->http) {
        OPENSSL_cleanse(server, sizeof *server);
        free(server);
        return NULL;
    }
    log_info("metrics", "serving /stats, /metrics, /healthz and /readyz on %s (port %d)%s", bind,
             http_server_port(server->http), server->auth_required ? ", basic auth" : "");
    return server;
}

int metrics_server_port(const metrics_server *server)
{
    return http_server_port(server->http);
}

void metrics_server_close(metrics_server *server)
{
    if (!server)
        return;
    /* http_server_close closes every connection at once, so the handler cannot run again. */
    http_server_close(server->http);
    free(server->last_body);
    OPENSSL_cleanse(server, sizeof *server);
    free(server);
}
