#include "metrics/metrics_server.h"

#include "http/basic_auth.h"
#include "http/http_server.h"
#include "log.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_BIND_ADDRESS "127.0.0.1:8082"
/* Only GETs are served; a body is never needed. */
#define MAX_REQUEST_BODY 4096

struct metrics_server {
    http_server *http;
    const metrics *metrics;
    bool (*ready)(void *user);
    void *user;
    basic_auth auth;
    /* The last rendered body: http_server copies the response after the handler returns, so it
     * lives until the next request or close. */
    char *last_body;
};

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
    if (!health && !readiness && !basic_auth_allows(&server->auth, request)) {
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
    if (!basic_auth_init(&server->auth, auth->username, auth->password)) {
        snprintf(err, err_cap, "metrics server: cannot set up basic auth (SHA-256)");
        return false;
    }
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
             http_server_port(server->http), server->auth.required ? ", basic auth" : "");
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
