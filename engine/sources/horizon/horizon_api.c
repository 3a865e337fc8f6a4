/* Horizon Server REST API session. See horizon_api.h for the contract.
 *
 * One operation at a time walks these steps, each an HTTP request:
 *   audit-events:  [login | refresh] -> GET -> (401: refresh, or login when the refresh token
 *                  is gone or refused) -> GET once more
 *   logout:        POST /rest/logout
 * Every request holds the session (in_flight); a closed session frees itself when the last
 * request has come back, so a callback never touches freed memory. */
#include "sources/horizon/horizon_api.h"

#include "http/http_client.h"
#include "log.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COMPONENT "horizon"
#define DEFAULT_ACCESS_LIFETIME_MS (30 * 60 * 1000)
#define DEFAULT_REFRESH_LIFETIME_MS (8 * 60 * 60 * 1000)
/* Renew this long before expiry (a quarter of the lifetime for short-lived tokens). */
#define REFRESH_MARGIN_MS (60 * 1000)
#define REQUEST_TIMEOUT_MS 30000
#define LOGOUT_TIMEOUT_MS 2000
#define MAX_EVENTS_RESPONSE (64 * 1024 * 1024)
/* A token that claims to live longer is renewed after this anyway: converting a lifetime of any
 * size (an exp of 1e300, or infinity) to an integer is undefined behaviour. */
#define MAX_TOKEN_LIFETIME_S (365.0 * 24 * 60 * 60)

typedef enum { STEP_LOGIN, STEP_REFRESH, STEP_GET, STEP_LOGOUT } api_step;

struct horizon_api {
    uv_loop_t *loop;
    http_client *http;
    const config_horizon *config;
    char base[1024]; /* address without a trailing '/' */
    char host[256];
    char who[512]; /* "domain\\username" for messages */

    char *access_token;
    char *refresh_token;
    uint64_t access_renew_at;   /* uv_now() ms after which the access token is renewed first */
    uint64_t refresh_usable_to; /* uv_now() ms after which the refresh token is not tried */

    horizon_api_fn logout_done; /* its own slot: logout may run beside a poll at shutdown */
    void *logout_user;

    /* The operation in progress. */
    char *query;
    horizon_api_fn done;
    void *user;
    bool retried_unauthorized;

    size_t in_flight;
    bool closing;
    uint64_t logins;
    uint64_t refreshes;
};

/* Each step starts one request: 0, or -1 when it could not (the caller reports that). */
static int step_login(horizon_api *api);
static int step_refresh(horizon_api *api);
static int step_get(horizon_api *api);

bool horizon_url_encode(const char *text, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        bool plain = isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~';
        if (n + (plain ? 1 : 3) >= cap)
            return false;
        if (plain) {
            out[n++] = (char)*p;
        } else {
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    if (n >= cap)
        return false;
    out[n] = '\0';
    return true;
}

/* ---- Tokens ---- */

static void forget_secret_string(char **text)
{
    if (*text) {
        memset(*text, 0, strlen(*text));
        free(*text);
        *text = NULL;
    }
}

static int base64url_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-' || c == '+')
        return 62;
    if (c == '_' || c == '/')
        return 63;
    return -1;
}

/* A JWT's lifetime in ms (exp - iat, or exp - now without iat); 0 when the token is not a JWT
 * with an exp claim. */
uint64_t horizon_jwt_lifetime_ms(const char *token)
{
    const char *start = strchr(token, '.');
    const char *end = start ? strchr(start + 1, '.') : NULL;
    if (!start || !end || end - start > 8192)
        return 0;
    char decoded[6200];
    size_t n = 0;
    unsigned bits = 0, acc = 0;
    for (const char *p = start + 1; p < end && *p != '='; p++) {
        int v = base64url_value(*p);
        if (v < 0)
            return 0;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n + 1 >= sizeof decoded)
                return 0;
            decoded[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    decoded[n] = '\0';
    cJSON *claims = cJSON_Parse(decoded);
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(claims, "exp");
    const cJSON *iat = cJSON_GetObjectItemCaseSensitive(claims, "iat");
    double lifetime = 0;
    if (cJSON_IsNumber(exp))
        lifetime = exp->valuedouble - (cJSON_IsNumber(iat) ? iat->valuedouble : (double)time(NULL));
    cJSON_Delete(claims);
    if (!(lifetime > 0)) /* also NaN */
        return 0;
    return (uint64_t)((lifetime < MAX_TOKEN_LIFETIME_S ? lifetime : MAX_TOKEN_LIFETIME_S) * 1000.0);
}

static uint64_t renew_margin(uint64_t lifetime_ms)
{
    return lifetime_ms / 4 < REFRESH_MARGIN_MS ? lifetime_ms / 4 : REFRESH_MARGIN_MS;
}

static void set_access_token(horizon_api *api, const char *token, uint64_t sent_at)
{
    forget_secret_string(&api->access_token);
    api->access_token = strdup(token);
    uint64_t lifetime = horizon_jwt_lifetime_ms(token);
    if (!lifetime)
        lifetime = DEFAULT_ACCESS_LIFETIME_MS;
    /* Counted from when the request left: the token cannot have been issued earlier. */
    api->access_renew_at = sent_at + lifetime - renew_margin(lifetime);
}

static void set_refresh_token(horizon_api *api, const char *token, uint64_t sent_at)
{
    forget_secret_string(&api->refresh_token);
    api->refresh_token = strdup(token);
    uint64_t lifetime = horizon_jwt_lifetime_ms(token);
    if (!lifetime)
        lifetime = DEFAULT_REFRESH_LIFETIME_MS;
    api->refresh_usable_to = sent_at + lifetime - renew_margin(lifetime);
}

/* ---- Requests ---- */

typedef struct api_call {
    horizon_api *api;
    api_step step;
    uint64_t sent_at;
} api_call;

static void free_api(horizon_api *api)
{
    forget_secret_string(&api->access_token);
    forget_secret_string(&api->refresh_token);
    free(api->query);
    free(api);
}

/* Ends the operation: clears it first, since done may start the next one. */
static void finish(horizon_api *api, horizon_api_status status, const char *error,
                   const cJSON *events)
{
    horizon_api_fn done = api->done;
    void *user = api->user;
    api->done = NULL;
    free(api->query);
    api->query = NULL;
    if (!done)
        return;
    horizon_api_result result = {.status = status, .error = error, .events = events};
    done(user, &result);
}

static void on_response(void *user, const http_client_response *response);

static int send_call(horizon_api *api, api_step step, const char *method, const char *path,
                     const char *query, const char *body, const char *bearer)
{
    char url[8192];
    int n = snprintf(url, sizeof url, "%s%s%s%s", api->base, path, query ? "?" : "",
                     query ? query : "");
    if (n < 0 || (size_t)n >= sizeof url)
        return -1;
    api_call *call = calloc(1, sizeof *call);
    if (!call)
        return -1;
    call->api = api;
    call->step = step;
    call->sent_at = uv_now(api->loop);
    static const http_header headers[] = {{"Content-Type", "application/json"},
                                          {"Accept", "application/json"}};
    http_client_request request = {
        .method = method,
        .url = url,
        .headers = headers,
        .header_count = body ? 2 : 1,
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .timeout_ms = step == STEP_LOGOUT ? LOGOUT_TIMEOUT_MS : REQUEST_TIMEOUT_MS,
        .connect_timeout_ms = step == STEP_LOGOUT ? LOGOUT_TIMEOUT_MS : 0,
        .insecure = api->config->insecure_ssl,
        .ca_file = api->config->ca_file,
        .bearer_token = bearer,
        .max_response_bytes = step == STEP_GET ? MAX_EVENTS_RESPONSE : 0,
    };
    if (!body)
        request.headers = headers + 1;
    api->in_flight++;
    if (http_client_send(api->http, &request, on_response, call) != 0) {
        api->in_flight--;
        free(call);
        return -1;
    }
    return 0;
}

static char *json_body_with_token(const char *name, const char *value)
{
    cJSON *json = cJSON_CreateObject();
    cJSON_AddStringToObject(json, name, value ? value : "");
    char *text = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);
    return text;
}

static void fail_start(horizon_api *api, const char *what)
{
    char error[128];
    snprintf(error, sizeof error, "%s: cannot start a request", what);
    finish(api, HORIZON_API_UNREACHABLE, error, NULL);
}

static int step_login(horizon_api *api)
{
    const config_auth *auth = &api->config->auth;
    cJSON *json = cJSON_CreateObject();
    cJSON_AddStringToObject(json, "domain", auth->domain ? auth->domain : "");
    cJSON_AddStringToObject(json, "username", auth->username ? auth->username : "");
    cJSON_AddStringToObject(json, "password", auth->password ? auth->password : "");
    char *body = cJSON_PrintUnformatted(json);
    cJSON_Delete(json); /* cJSON frees without wiping; the password is in the config anyway */
    int rc = body ? send_call(api, STEP_LOGIN, "POST", "/rest/login", NULL, body, NULL) : -1;
    forget_secret_string(&body);
    return rc;
}

static int step_refresh(horizon_api *api)
{
    char *body = json_body_with_token("refresh_token", api->refresh_token);
    int rc = body ? send_call(api, STEP_REFRESH, "POST", "/rest/refresh", NULL, body, NULL) : -1;
    forget_secret_string(&body);
    return rc;
}

static int step_get(horizon_api *api)
{
    return send_call(api, STEP_GET, "GET", "/rest/external/v1/audit-events", api->query, NULL,
                     api->access_token);
}

/* What comes before the GET: nothing, a refresh, or a full login. */
static int step_first(horizon_api *api)
{
    uint64_t now = uv_now(api->loop);
    if (api->access_token && now < api->access_renew_at)
        return step_get(api);
    if (api->refresh_token && now < api->refresh_usable_to)
        return step_refresh(api);
    return step_login(api);
}

/* The next step from inside a callback: a failure to start ends the operation. */
#define NEXT_STEP(call, what)                                                                      \
    do {                                                                                           \
        if ((call) != 0)                                                                           \
            fail_start(api, what);                                                                 \
    } while (0)

static const char *token_field(const cJSON *json, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(json, name);
    return cJSON_IsString(item) && item->valuestring[0] ? item->valuestring : NULL;
}

/* Unreachable for no answer or a 5xx, else failed; the message names the call and status. */
static void fail_http(horizon_api *api, const char *what, const http_client_response *response)
{
    char error[512];
    if (response->status == 0) {
        snprintf(error, sizeof error, "%s: %s", what,
                 response->error ? response->error : "no response");
        finish(api, HORIZON_API_UNREACHABLE, error, NULL);
    } else if (response->status == 409) {
        snprintf(error, sizeof error, "%s: HTTP 409 (Horizon's event database not configured?)",
                 what);
        finish(api, HORIZON_API_FAILED, error, NULL);
    } else {
        snprintf(error, sizeof error, "%s: HTTP %ld", what, response->status);
        finish(api, response->status >= 500 ? HORIZON_API_UNREACHABLE : HORIZON_API_FAILED, error,
               NULL);
    }
}

static void on_login(horizon_api *api, const api_call *call, const http_client_response *r)
{
    if (r->status == 400 || r->status == 401 || r->status == 403) {
        char error[700];
        snprintf(error, sizeof error,
                 "login as %s refused (HTTP %ld): check domain, username "
                 "and password",
                 api->who, r->status);
        finish(api, HORIZON_API_LOGIN_REFUSED, error, NULL);
        return;
    }
    if (r->status != 200) {
        fail_http(api, "login", r);
        return;
    }
    cJSON *json = cJSON_ParseWithLength(r->body, r->body_len);
    const char *access = token_field(json, "access_token");
    const char *refresh = token_field(json, "refresh_token");
    if (!access || !refresh) {
        cJSON_Delete(json);
        finish(api, HORIZON_API_FAILED, "login: the answer has no access_token and refresh_token",
               NULL);
        return;
    }
    set_access_token(api, access, call->sent_at);
    set_refresh_token(api, refresh, call->sent_at);
    cJSON_Delete(json);
    api->logins++;
    log_debug(COMPONENT, "logged in to %s as %s", api->host, api->who);
    NEXT_STEP(step_get(api), "audit-events");
}

static void on_refresh(horizon_api *api, const api_call *call, const http_client_response *r)
{
    if (r->status == 400 || r->status == 401) {
        /* The refresh token expired (Horizon answers 400): only a full login helps. */
        forget_secret_string(&api->refresh_token);
        NEXT_STEP(step_login(api), "login");
        return;
    }
    if (r->status != 200) {
        fail_http(api, "refresh", r);
        return;
    }
    cJSON *json = cJSON_ParseWithLength(r->body, r->body_len);
    const char *access = token_field(json, "access_token");
    if (!access) {
        cJSON_Delete(json);
        forget_secret_string(&api->refresh_token);
        NEXT_STEP(step_login(api), "login");
        return;
    }
    set_access_token(api, access, call->sent_at);
    cJSON_Delete(json);
    api->refreshes++;
    log_debug(COMPONENT, "access token for %s refreshed", api->host);
    NEXT_STEP(step_get(api), "audit-events");
}

static void on_get(horizon_api *api, const http_client_response *r)
{
    if (r->status == 401 && !api->retried_unauthorized) {
        api->retried_unauthorized = true;
        forget_secret_string(&api->access_token);
        if (api->refresh_token)
            NEXT_STEP(step_refresh(api), "refresh");
        else
            NEXT_STEP(step_login(api), "login");
        return;
    }
    if (r->status == 401) {
        finish(api, HORIZON_API_FAILED, "audit-events: HTTP 401 right after a new token", NULL);
        return;
    }
    if (r->status != 200) {
        fail_http(api, "audit-events", r);
        return;
    }
    if (r->truncated) {
        finish(api, HORIZON_API_FAILED, "audit-events: answer too large", NULL);
        return;
    }
    cJSON *json = cJSON_ParseWithLength(r->body, r->body_len);
    if (!cJSON_IsArray(json)) {
        cJSON_Delete(json);
        finish(api, HORIZON_API_FAILED, "audit-events: the answer is not a JSON array", NULL);
        return;
    }
    finish(api, HORIZON_API_OK, NULL, json);
    cJSON_Delete(json);
}

static void on_response(void *user, const http_client_response *response)
{
    api_call *call = user;
    horizon_api *api = call->api;
    api->in_flight--;
    if (api->closing) {
        free(call);
        if (api->in_flight == 0)
            free_api(api);
        return;
    }
    switch (call->step) {
    case STEP_LOGIN:
        on_login(api, call, response);
        break;
    case STEP_REFRESH:
        on_refresh(api, call, response);
        break;
    case STEP_GET:
        on_get(api, response);
        break;
    case STEP_LOGOUT: {
        forget_secret_string(&api->access_token);
        forget_secret_string(&api->refresh_token);
        horizon_api_fn done = api->logout_done;
        api->logout_done = NULL;
        /* 400: the token had expired already, which is as good as logged out. */
        bool ok = response->status == 200 || response->status == 204 || response->status == 400;
        char error[512];
        snprintf(error, sizeof error, "logout: %s%ld", response->status ? "HTTP " : "no response ",
                 response->status);
        horizon_api_result result = {.status = ok ? HORIZON_API_OK : HORIZON_API_FAILED,
                                     .error = ok ? NULL : error};
        if (done)
            done(api->logout_user, &result);
        break;
    }
    }
    free(call);
}

/* ---- Interface ---- */

horizon_api *horizon_api_new(uv_loop_t *loop, const config_horizon *config, char *err,
                             size_t err_cap)
{
    const char *address = config->address ? config->address : "";
    const char *rest = strstr(address, "://");
    if (!rest || !rest[3]) {
        snprintf(err, err_cap, "address '%s' is not an http(s) URL", address);
        return NULL;
    }
    horizon_api *api = calloc(1, sizeof *api);
    if (!api) {
        snprintf(err, err_cap, "out of memory");
        return NULL;
    }
    api->loop = loop;
    api->config = config;
    snprintf(api->base, sizeof api->base, "%s", address);
    size_t len = strlen(api->base);
    while (len > 0 && api->base[len - 1] == '/')
        api->base[--len] = '\0';
    rest += 3;
    size_t host_len = strcspn(rest, "/?#");
    const char *at = memchr(rest, '@', host_len);
    if (at) {
        host_len -= (size_t)(at + 1 - rest);
        rest = at + 1;
    }
    if (rest[0] == '[') {
        const char *close = memchr(rest, ']', host_len);
        host_len = close ? (size_t)(close - rest - 1) : host_len;
        rest++;
    } else {
        const char *colon = memchr(rest, ':', host_len);
        if (colon)
            host_len = (size_t)(colon - rest);
    }
    snprintf(api->host, sizeof api->host, "%.*s", (int)host_len, rest);
    snprintf(api->who, sizeof api->who, "%s\\%s", config->auth.domain ? config->auth.domain : "",
             config->auth.username ? config->auth.username : "");
    if (config->auth.password)
        log_register_secret(config->auth.password);
    api->http = http_client_new(loop);
    if (!api->http) {
        free(api);
        snprintf(err, err_cap, "out of memory");
        return NULL;
    }
    return api;
}

const char *horizon_api_host(const horizon_api *api)
{
    return api->host;
}

int horizon_api_audit_events(horizon_api *api, const char *query, horizon_api_fn done, void *user)
{
    if (api->closing || api->done)
        return -1;
    api->query = strdup(query ? query : "");
    if (!api->query)
        return -1;
    api->done = done;
    api->user = user;
    api->retried_unauthorized = false;
    if (step_first(api) != 0) {
        api->done = NULL;
        free(api->query);
        api->query = NULL;
        return -1;
    }
    return 0;
}

bool horizon_api_logged_in(const horizon_api *api)
{
    return api->refresh_token != NULL || api->access_token != NULL;
}

int horizon_api_logout(horizon_api *api, horizon_api_fn done, void *user)
{
    if (api->closing || api->logout_done || !api->refresh_token)
        return -1;
    char *body = json_body_with_token("refresh_token", api->refresh_token);
    int rc = body ? send_call(api, STEP_LOGOUT, "POST", "/rest/logout", NULL, body, NULL) : -1;
    forget_secret_string(&body);
    if (rc == 0) {
        api->logout_done = done;
        api->logout_user = user;
    }
    return rc;
}

void horizon_api_close(horizon_api *api)
{
    if (!api || api->closing)
        return;
    api->closing = true;
    api->done = NULL;
    api->logout_done = NULL;
    /* Held while aborting: the last aborted request's callback must not free the session under
     * this function (on_response frees a closed session when nothing is in flight). */
    api->in_flight++;
    http_client_close(api->http); /* aborted requests come back now, see on_response */
    if (--api->in_flight == 0)
        free_api(api);
}

uint64_t horizon_api_logins(const horizon_api *api)
{
    return api->logins;
}

uint64_t horizon_api_refreshes(const horizon_api *api)
{
    return api->refreshes;
}
