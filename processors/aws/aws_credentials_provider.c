/* The credentials chain on the libuv loop: one fetch at a time, waiters told once it concludes,
 * a timer that refreshes before expiry (or retries after a failure). */
#include "processors/aws/aws_credentials_provider.h"

#include "log.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#define DEFAULT_MARGIN_SECONDS 300.0
#define DEFAULT_TIMEOUT_MS 5000L
#define DEFAULT_IMDS "http://169.254.169.254"
#define DEFAULT_ECS_HOST "http://169.254.170.2"
#define IMDS_TOKEN_TTL "21600"
#define RETRY_MIN_SECONDS 1.0
#define RETRY_MAX_SECONDS 60.0

typedef struct waiter {
    aws_credentials_done_fn done;
    void *user;
    struct waiter *next;
} waiter;

typedef enum { IMDS_TOKEN, IMDS_ROLE, IMDS_CREDENTIALS } imds_step;

struct aws_credentials_provider {
    uv_loop_t *loop;
    http_client *http;
    bool is_static;
    char *region;
    char *sts_endpoint;
    char *imds_endpoint;
    char *ecs_host;
    double margin;
    long timeout_ms;
    double (*clock)(void *);
    void *clock_user;

    aws_credentials current;
    bool have_current;
    bool fetching;
    imds_step imds;
    char *imds_token; /* secret */
    char *imds_role;
    char *role_arn; /* web identity: for messages */
    unsigned long fetches;
    char last_error[512];
    bool has_error;
    double retry_delay;
    double next_attempt_at; /* after a failure: no new fetch before this */

    uv_timer_t refresh_timer;
    uv_timer_t notify_timer;
    int open_handles;
    int requests_in_flight;
    bool closing;
    waiter *waiters;
};

static double wall_clock(void *user)
{
    (void)user;
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static double now_of(const aws_credentials_provider *p)
{
    return p->clock(p->clock_user);
}

static char *dup_or_null(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

static const char *env(const char *name)
{
    const char *value = getenv(name);
    return value && *value ? value : NULL;
}

static void free_secret(char *secret)
{
    if (secret)
        OPENSSL_cleanse(secret, strlen(secret));
    free(secret);
}

static bool current_valid(const aws_credentials_provider *p)
{
    return p->have_current && (p->current.expiration == 0 || now_of(p) < p->current.expiration);
}

/* ---- lifetime ----------------------------------------------------------------------------- */

static void maybe_free(aws_credentials_provider *p)
{
    if (!p->closing || p->open_handles > 0 || p->requests_in_flight > 0)
        return;
    aws_credentials_clear(&p->current);
    free(p->region);
    free(p->sts_endpoint);
    free(p->imds_endpoint);
    free(p->ecs_host);
    free_secret(p->imds_token);
    free(p->imds_role);
    free(p->role_arn);
    free(p);
}

static void on_handle_closed(uv_handle_t *handle)
{
    aws_credentials_provider *p = handle->data;
    p->open_handles--;
    maybe_free(p);
}

static void on_notify(uv_timer_t *timer);
static void on_refresh(uv_timer_t *timer);

static aws_credentials_provider *provider_alloc(uv_loop_t *loop)
{
    aws_credentials_provider *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->loop = loop;
    p->clock = wall_clock;
    p->margin = DEFAULT_MARGIN_SECONDS;
    p->timeout_ms = DEFAULT_TIMEOUT_MS;
    uv_timer_init(loop, &p->refresh_timer);
    uv_timer_init(loop, &p->notify_timer);
    p->refresh_timer.data = p;
    p->notify_timer.data = p;
    p->open_handles = 2;
    return p;
}

aws_credentials_provider *aws_credentials_provider_new_static(uv_loop_t *loop,
                                                              const char *access_key_id,
                                                              const char *secret_access_key,
                                                              const char *session_token)
{
    aws_credentials_provider *p = provider_alloc(loop);
    if (!p)
        return NULL;
    p->is_static = true;
    if (aws_credentials_set(&p->current, access_key_id, secret_access_key, session_token, 0,
                            "static keys") != 0) {
        aws_credentials_provider_close(p);
        return NULL;
    }
    p->have_current = true;
    p->fetches = 1;
    return p;
}

aws_credentials_provider *aws_credentials_provider_new_chain(uv_loop_t *loop, http_client *http,
                                                             const aws_credentials_options *options)
{
    aws_credentials_provider *p = provider_alloc(loop);
    if (!p)
        return NULL;
    p->http = http;
    aws_credentials_options none = {0};
    if (!options)
        options = &none;
    p->region = dup_or_null(options->region);
    p->sts_endpoint = dup_or_null(options->sts_endpoint);
    p->imds_endpoint = dup_or_null(options->imds_endpoint);
    p->ecs_host = dup_or_null(options->ecs_host);
    if (options->refresh_margin_seconds > 0)
        p->margin = options->refresh_margin_seconds;
    if (options->timeout_ms > 0)
        p->timeout_ms = options->timeout_ms;
    if (options->clock) {
        p->clock = options->clock;
        p->clock_user = options->clock_user;
    }
    return p;
}

void aws_credentials_provider_close(aws_credentials_provider *p)
{
    if (!p || p->closing)
        return;
    p->closing = true;
    waiter *w = p->waiters;
    p->waiters = NULL;
    while (w) {
        waiter *next = w->next;
        w->done(w->user, NULL, "credentials provider closed");
        free(w);
        w = next;
    }
    uv_close((uv_handle_t *)&p->refresh_timer, on_handle_closed);
    uv_close((uv_handle_t *)&p->notify_timer, on_handle_closed);
}

/* ---- conclusions -------------------------------------------------------------------------- */

static void schedule_notify(aws_credentials_provider *p)
{
    if (p->waiters)
        uv_timer_start(&p->notify_timer, on_notify, 0, 0);
}

/* Waiters hear back once something is known: valid credentials, or a failed fetch. */
static void on_notify(uv_timer_t *timer)
{
    aws_credentials_provider *p = timer->data;
    bool valid = current_valid(p);
    if (p->closing || (!valid && p->fetching))
        return;
    waiter *w = p->waiters;
    p->waiters = NULL;
    while (w) {
        waiter *next = w->next;
        w->done(w->user, valid ? &p->current : NULL,
                valid ? NULL : (p->has_error ? p->last_error : "no AWS credentials"));
        free(w);
        w = next;
    }
}

static void start_refresh_timer(aws_credentials_provider *p, double seconds)
{
    if (seconds < 0.01)
        seconds = 0.01;
    uv_timer_start(&p->refresh_timer, on_refresh, (uint64_t)(seconds * 1000), 0);
}

static void fetch_succeeded(aws_credentials_provider *p, aws_credentials *fresh)
{
    aws_credentials_clear(&p->current);
    p->current = *fresh;
    memset(fresh, 0, sizeof *fresh);
    p->have_current = true;
    p->fetching = false;
    p->has_error = false;
    p->last_error[0] = '\0';
    p->fetches++;
    p->retry_delay = 0;
    p->next_attempt_at = 0;
    log_debug("aws", "credentials from %s, key id %s%s", p->current.source,
              p->current.access_key_id, p->current.expiration ? " (temporary)" : "");
    if (p->current.expiration > 0) {
        double left = p->current.expiration - now_of(p);
        double delay = left - p->margin;
        /* Credentials that arrive already inside the margin: refresh at half their life
         * rather than at once, so a source that only hands out short ones is not hammered. */
        if (delay < RETRY_MIN_SECONDS)
            delay = left / 2 > RETRY_MIN_SECONDS ? left / 2 : RETRY_MIN_SECONDS;
        start_refresh_timer(p, delay);
    }
    schedule_notify(p);
}

/* The message is masked before it is kept: a server may echo a token we sent. */
static void fetch_failed(aws_credentials_provider *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void fetch_failed(aws_credentials_provider *p, const char *fmt, ...)
{
    char raw[512];
    va_list args;
    va_start(args, fmt);
    vsnprintf(raw, sizeof raw, fmt, args);
    va_end(args);
    log_mask_secrets(raw, p->last_error, sizeof p->last_error);
    p->has_error = true;
    p->fetching = false;
    p->retry_delay = p->retry_delay > 0 ? p->retry_delay * 2 : RETRY_MIN_SECONDS;
    if (p->retry_delay > RETRY_MAX_SECONDS)
        p->retry_delay = RETRY_MAX_SECONDS;
    p->next_attempt_at = now_of(p) + p->retry_delay;
    log_warn("aws", "AWS credentials: %s (next try in %.0f s)", p->last_error, p->retry_delay);
    /* Keep refreshing while the current ones are still good, so they are replaced in time. */
    if (current_valid(p))
        start_refresh_timer(p, p->retry_delay);
    schedule_notify(p);
}

/* ---- HTTP helper -------------------------------------------------------------------------- */

typedef void (*answer_fn)(aws_credentials_provider *p, const http_client_response *response);

typedef struct request_ctx {
    aws_credentials_provider *provider;
    answer_fn on_answer;
} request_ctx;

static void on_http_done(void *user, const http_client_response *response)
{
    request_ctx *ctx = user;
    aws_credentials_provider *p = ctx->provider;
    answer_fn on_answer = ctx->on_answer;
    free(ctx);
    p->requests_in_flight--;
    if (p->closing) {
        maybe_free(p);
        return;
    }
    on_answer(p, response);
}

static bool send_request(aws_credentials_provider *p, const char *method, const char *url,
                         const http_header *headers, size_t header_count, const char *body,
                         answer_fn on_answer)
{
    request_ctx *ctx = malloc(sizeof *ctx);
    if (!ctx)
        return false;
    *ctx = (request_ctx){p, on_answer};
    http_client_request request = {
        .method = method,
        .url = url,
        .headers = headers,
        .header_count = header_count,
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .connect_timeout_ms = p->timeout_ms,
        .timeout_ms = p->timeout_ms,
        .max_response_bytes = 256 * 1024,
    };
    if (!p->http || http_client_send(p->http, &request, on_http_done, ctx) != 0) {
        free(ctx);
        return false;
    }
    p->requests_in_flight++;
    return true;
}

/* "<what> at <url>: <transport error | HTTP status>" for a failed request. */
static bool answer_failed(const http_client_response *response, char *out, size_t cap)
{
    if (response->error) {
        format_message(out, cap, "%s", response->error);
        return true;
    }
    if (response->status < 200 || response->status >= 300) {
        format_message(out, cap, "HTTP %ld", response->status);
        return true;
    }
    return false;
}

static char *read_small_file(const char *path, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *text = malloc(cap + 1);
    size_t len = text ? fread(text, 1, cap, f) : 0;
    fclose(f);
    if (!text)
        return NULL;
    text[len] = '\0';
    return text;
}

static void trim_end(char *text)
{
    size_t len = strlen(text);
    while (len > 0 && isspace((unsigned char)text[len - 1]))
        text[--len] = '\0';
}

/* Form encoding for STS's query API (RFC 3986 unreserved kept). */
static void form_append(char *out, size_t cap, const char *key, const char *value)
{
    size_t len = strlen(out);
    len += (size_t)snprintf(out + len, cap > len ? cap - len : 0, "%s%s=", len ? "&" : "", key);
    for (const unsigned char *c = (const unsigned char *)value; *c && len + 4 < cap; c++) {
        if (isalnum(*c) || *c == '-' || *c == '_' || *c == '.' || *c == '~')
            out[len++] = (char)*c;
        else
            len += (size_t)snprintf(out + len, cap - len, "%%%02X", *c);
    }
    out[len < cap ? len : cap - 1] = '\0';
}

/* ---- 3. web identity ---------------------------------------------------------------------- */

static void on_sts_answer(aws_credentials_provider *p, const http_client_response *response)
{
    char problem[300], parse_error[300] = "";
    aws_credentials fresh;
    /* STS puts its reason in the XML body for 4xx too. */
    if (response->error) {
        fetch_failed(p, "web identity: STS for role %s: %s", p->role_arn, response->error);
        return;
    }
    if (aws_parse_sts_web_identity(response->body, response->body_len, &fresh, parse_error,
                                   sizeof parse_error) != 0) {
        answer_failed(response, problem, sizeof problem);
        fetch_failed(p, "web identity: STS AssumeRoleWithWebIdentity for role %s: %s%s%s",
                     p->role_arn, response->status == 200 ? "" : problem,
                     response->status == 200 ? "" : ": ", parse_error);
        return;
    }
    fetch_succeeded(p, &fresh);
}

static void fetch_web_identity(aws_credentials_provider *p, const char *token_file,
                               const char *role_arn)
{
    free(p->role_arn);
    p->role_arn = strdup(role_arn);
    char *token = read_small_file(token_file, 64 * 1024);
    if (!token) {
        fetch_failed(p, "web identity: cannot read AWS_WEB_IDENTITY_TOKEN_FILE %s", token_file);
        return;
    }
    trim_end(token);
    log_register_secret(token);
    const char *session = env("AWS_ROLE_SESSION_NAME");
    char session_name[64];
    if (!session) {
        format_message(session_name, sizeof session_name, "event-router-%lld",
                       (long long)now_of(p));
        session = session_name;
    }
    size_t cap = strlen(token) * 3 + strlen(role_arn) * 3 + 512;
    char *body = calloc(1, cap);
    if (!body) {
        free_secret(token);
        fetch_failed(p, "web identity: out of memory");
        return;
    }
    form_append(body, cap, "Action", "AssumeRoleWithWebIdentity");
    form_append(body, cap, "RoleArn", role_arn);
    form_append(body, cap, "RoleSessionName", session);
    form_append(body, cap, "Version", "2011-06-15");
    form_append(body, cap, "WebIdentityToken", token);
    free_secret(token);

    char url[512];
    const char *endpoint = p->sts_endpoint ? p->sts_endpoint : env("AWS_ENDPOINT_URL_STS");
    if (endpoint)
        format_message(url, sizeof url, "%s", endpoint);
    else if (p->region)
        format_message(url, sizeof url, "https://sts.%s.amazonaws.com/", p->region);
    else
        format_message(url, sizeof url, "https://sts.amazonaws.com/");
    http_header headers[] = {{"Content-Type", "application/x-www-form-urlencoded"},
                             {"Accept", "text/xml"}};
    bool sent = send_request(p, "POST", url, headers, 2, body, on_sts_answer);
    OPENSSL_cleanse(body, strlen(body));
    free(body);
    if (!sent)
        fetch_failed(p, "web identity: cannot send the STS request to %s", url);
}

/* ---- 4. ECS container endpoint ------------------------------------------------------------ */

/* Plain http is only for the container agents' own addresses and loopback, as in the SDKs: a
 * token must not travel unencrypted to anywhere else. */
static bool ecs_url_allowed(const char *url)
{
    if (strncasecmp(url, "https://", 8) == 0)
        return true;
    if (strncasecmp(url, "http://", 7) != 0)
        return false;
    const char *host = url + 7;
    size_t len = strcspn(host, ":/?#");
    if (host[0] == '[')
        len = strcspn(host, "]") + 1;
    static const char *const allowed[] = {"127.",          "[::1]",          "localhost",
                                          "169.254.170.2", "169.254.170.23", "[fd00:ec2::23]"};
    for (size_t i = 0; i < sizeof allowed / sizeof *allowed; i++) {
        size_t n = strlen(allowed[i]);
        bool prefix = allowed[i][n - 1] == '.';
        if (prefix ? strncmp(host, allowed[i], n) == 0 && len > n
                   : len == n && strncasecmp(host, allowed[i], n) == 0)
            return true;
    }
    return false;
}

static void on_ecs_answer(aws_credentials_provider *p, const http_client_response *response)
{
    char problem[300];
    aws_credentials fresh;
    if (answer_failed(response, problem, sizeof problem)) {
        fetch_failed(p, "ECS container credentials: %s", problem);
        return;
    }
    if (aws_parse_credentials_json(response->body, response->body_len, "ECS container credentials",
                                   &fresh, problem, sizeof problem) != 0) {
        fetch_failed(p, "%s", problem);
        return;
    }
    fetch_succeeded(p, &fresh);
}

static void fetch_ecs(aws_credentials_provider *p, const char *full_uri, const char *relative)
{
    char url[1024];
    if (full_uri)
        format_message(url, sizeof url, "%s", full_uri);
    else
        format_message(url, sizeof url, "%s%s%s", p->ecs_host ? p->ecs_host : DEFAULT_ECS_HOST,
                       relative[0] == '/' ? "" : "/", relative);
    if (full_uri && !ecs_url_allowed(url)) {
        fetch_failed(p,
                     "ECS container credentials: AWS_CONTAINER_CREDENTIALS_FULL_URI %s must be "
                     "https, or http on loopback or the container agent's address",
                     url);
        return;
    }
    char *token = NULL;
    const char *token_file = env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    if (token_file) {
        token = read_small_file(token_file, 16 * 1024);
        if (!token) {
            fetch_failed(p,
                         "ECS container credentials: cannot read "
                         "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE %s",
                         token_file);
            return;
        }
        trim_end(token);
    } else if (env("AWS_CONTAINER_AUTHORIZATION_TOKEN")) {
        token = strdup(env("AWS_CONTAINER_AUTHORIZATION_TOKEN"));
    }
    if (token)
        log_register_secret(token);
    http_header headers[] = {{"Authorization", token}};
    bool sent = send_request(p, "GET", url, headers, token ? 1 : 0, NULL, on_ecs_answer);
    free_secret(token);
    if (!sent)
        fetch_failed(p, "ECS container credentials: cannot send the request to %s", url);
}

/* ---- 5. IMDSv2 ---------------------------------------------------------------------------- */

static void imds_url(const aws_credentials_provider *p, const char *path, char *out, size_t cap)
{
    const char *base = p->imds_endpoint ? p->imds_endpoint
                                        : (env("AWS_EC2_METADATA_SERVICE_ENDPOINT")
                                               ? env("AWS_EC2_METADATA_SERVICE_ENDPOINT")
                                               : DEFAULT_IMDS);
    size_t len = strlen(base);
    format_message(out, cap, "%.*s%s", (int)(len && base[len - 1] == '/' ? len - 1 : len), base,
                   path);
}

static void imds_next(aws_credentials_provider *p);

static void on_imds_answer(aws_credentials_provider *p, const http_client_response *response)
{
    static const char *const steps[] = {"token PUT /latest/api/token",
                                        "GET /latest/meta-data/iam/security-credentials/",
                                        "role credentials"};
    char problem[300];
    if (answer_failed(response, problem, sizeof problem)) {
        fetch_failed(p, "EC2 instance metadata (IMDSv2) %s: %s%s", steps[p->imds], problem,
                     p->imds == IMDS_ROLE && response->status == 404
                         ? " (no IAM role is attached to this instance)"
                         : "");
        return;
    }
    if (p->imds == IMDS_CREDENTIALS) {
        aws_credentials fresh;
        if (aws_parse_credentials_json(response->body, response->body_len,
                                       "EC2 instance metadata (IMDSv2)", &fresh, problem,
                                       sizeof problem) != 0) {
            fetch_failed(p, "%s (role %s)", problem, p->imds_role);
            return;
        }
        fetch_succeeded(p, &fresh);
        return;
    }
    char *text = strndup(response->body ? response->body : "", response->body_len);
    if (!text) {
        fetch_failed(p, "EC2 instance metadata (IMDSv2): out of memory");
        return;
    }
    if (p->imds == IMDS_ROLE)
        text[strcspn(text, "\r\n")] = '\0'; /* the first role listed, as the SDKs */
    trim_end(text);
    if (!*text) {
        free(text);
        fetch_failed(p, "EC2 instance metadata (IMDSv2) %s: empty answer", steps[p->imds]);
        return;
    }
    if (p->imds == IMDS_TOKEN) {
        log_register_secret(text);
        free_secret(p->imds_token);
        p->imds_token = text;
        p->imds = IMDS_ROLE;
    } else {
        free(p->imds_role);
        p->imds_role = text;
        p->imds = IMDS_CREDENTIALS;
    }
    imds_next(p);
}

static void imds_next(aws_credentials_provider *p)
{
    char url[1024];
    bool sent;
    if (p->imds == IMDS_TOKEN) {
        imds_url(p, "/latest/api/token", url, sizeof url);
        http_header headers[] = {{"X-aws-ec2-metadata-token-ttl-seconds", IMDS_TOKEN_TTL}};
        sent = send_request(p, "PUT", url, headers, 1, NULL, on_imds_answer);
    } else {
        char path[512];
        format_message(path, sizeof path, "/latest/meta-data/iam/security-credentials/%s",
                       p->imds == IMDS_CREDENTIALS ? p->imds_role : "");
        imds_url(p, path, url, sizeof url);
        http_header headers[] = {{"X-aws-ec2-metadata-token", p->imds_token}};
        sent = send_request(p, "GET", url, headers, 1, NULL, on_imds_answer);
    }
    if (!sent)
        fetch_failed(p, "EC2 instance metadata (IMDSv2): cannot send the request to %s", url);
}

/* ---- the chain ---------------------------------------------------------------------------- */

static bool fetch_from_environment(aws_credentials_provider *p)
{
    const char *key_id = env("AWS_ACCESS_KEY_ID");
    const char *secret = env("AWS_SECRET_ACCESS_KEY");
    if (!key_id && !secret)
        return false;
    if (!key_id || !secret) {
        fetch_failed(p, "environment: %s is set but %s is not",
                     key_id ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
                     key_id ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
        return true;
    }
    aws_credentials fresh;
    if (aws_credentials_set(&fresh, key_id, secret, env("AWS_SESSION_TOKEN"), 0, "environment") !=
        0)
        fetch_failed(p, "environment: out of memory");
    else
        fetch_succeeded(p, &fresh);
    return true;
}

static bool fetch_from_shared_file(aws_credentials_provider *p)
{
    char path[1024];
    const char *file = env("AWS_SHARED_CREDENTIALS_FILE");
    if (file)
        format_message(path, sizeof path, "%s", file);
    else if (env("HOME"))
        format_message(path, sizeof path, "%s/.aws/credentials", env("HOME"));
    else
        return false;
    char *text = read_small_file(path, 1024 * 1024);
    if (!text)
        return false;
    const char *profile = env("AWS_PROFILE") ? env("AWS_PROFILE") : "default";
    aws_credentials fresh;
    char problem[300];
    int rc = aws_parse_shared_credentials(text, profile, path, &fresh, problem, sizeof problem);
    OPENSSL_cleanse(text, strlen(text));
    free(text);
    if (rc == 1)
        return false;
    if (rc != 0)
        fetch_failed(p, "shared credentials file: %s", problem);
    else
        fetch_succeeded(p, &fresh);
    return true;
}

static void start_fetch(aws_credentials_provider *p)
{
    p->fetching = true;
    if (fetch_from_environment(p) || fetch_from_shared_file(p))
        return;
    const char *token_file = env("AWS_WEB_IDENTITY_TOKEN_FILE");
    const char *role_arn = env("AWS_ROLE_ARN");
    if (token_file && role_arn) {
        fetch_web_identity(p, token_file, role_arn);
        return;
    }
    const char *full_uri = env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    const char *relative = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    if (full_uri || relative) {
        fetch_ecs(p, full_uri, relative);
        return;
    }
    const char *disabled = env("AWS_EC2_METADATA_DISABLED");
    if (disabled && strcasecmp(disabled, "true") == 0) {
        fetch_failed(p, "no AWS credentials found (environment, shared credentials file, web "
                        "identity, ECS container endpoint; instance metadata is disabled)");
        return;
    }
    p->imds = IMDS_TOKEN;
    imds_next(p);
}

static void on_refresh(uv_timer_t *timer)
{
    aws_credentials_provider *p = timer->data;
    if (!p->closing && !p->fetching && !p->is_static)
        start_fetch(p);
}

const aws_credentials *aws_credentials_provider_current(aws_credentials_provider *p)
{
    return current_valid(p) ? &p->current : NULL;
}

int aws_credentials_provider_get(aws_credentials_provider *p, aws_credentials_done_fn done,
                                 void *user)
{
    if (!p || p->closing || !done)
        return -1;
    waiter *w = malloc(sizeof *w);
    if (!w)
        return -1;
    *w = (waiter){done, user, NULL};
    waiter **tail = &p->waiters;
    while (*tail)
        tail = &(*tail)->next;
    *tail = w;
    if (current_valid(p) || p->fetching || p->is_static || now_of(p) < p->next_attempt_at) {
        schedule_notify(p); /* waits for the running fetch when there is one */
        return 0;
    }
    start_fetch(p);
    schedule_notify(p);
    return 0;
}

unsigned long aws_credentials_provider_fetches(const aws_credentials_provider *p)
{
    return p->fetches;
}

const char *aws_credentials_provider_last_error(const aws_credentials_provider *p)
{
    return p->has_error ? p->last_error : NULL;
}
