/* AWS credentials: the readers (shared file, STS XML, ECS/IMDS JSON, ISO 8601), and the chain on
 * a real libuv loop against tests/peers/aws_credential_fakes.mjs (STS AssumeRoleWithWebIdentity,
 * the ECS container endpoint and IMDSv2 as their public APIs describe them), including expiry,
 * refresh, a failed refresh that keeps the current keys, and errors that never carry a secret. */
#include "check.h"
#include "node_peer.h"

#include "http/http_client.h"
#include "log.h"
#include "processors/aws/aws_credentials_provider.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static uv_loop_t *loop;
static http_client *http;
static pid_t fake_pid;
static char fake_url[64];
static char temp_dir[] = "/tmp/test_aws_credentials_XXXXXX";

/* ---- helpers ------------------------------------------------------------------------------ */

static bool masked(const char *secret)
{
    char out[4096];
    log_mask_secrets(secret, out, sizeof out);
    return strcmp(out, "*****") == 0;
}

static void on_tick(uv_timer_t *timer)
{
    (void)timer;
}

/* Runs the loop until *flag is set or seconds pass; true when it was set. */
static bool run_until(const bool *flag, double seconds)
{
    uv_timer_t tick;
    uv_timer_init(loop, &tick);
    uv_timer_start(&tick, on_tick, 20, 20);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        if (*flag)
            break;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((double)(now.tv_sec - start.tv_sec) + (double)(now.tv_nsec - start.tv_nsec) / 1e9 >
            seconds)
            break;
        uv_run(loop, UV_RUN_ONCE);
    }
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return *flag;
}

static void run_for(double seconds)
{
    bool never = false;
    run_until(&never, seconds);
}

typedef struct call_result {
    bool done;
    long status;
    char body[65536];
} call_result;

static void on_call_done(void *user, const http_client_response *response)
{
    call_result *r = user;
    r->status = response->status;
    snprintf(r->body, sizeof r->body, "%s", response->body ? response->body : "");
    r->done = true;
}

/* A request to the fake's control/stats endpoints. */
static cJSON *fake_call(const char *method, const char *path, const char *body)
{
    static call_result r;
    memset(&r, 0, sizeof r);
    char url[256];
    snprintf(url, sizeof url, "%s%s", fake_url, path);
    http_client_request request = {
        .method = method, .url = url, .body = body, .body_len = body ? strlen(body) : 0};
    if (http_client_send(http, &request, on_call_done, &r) != 0 || !run_until(&r.done, 10))
        return NULL;
    return cJSON_Parse(r.body);
}

static void fake_control(const char *json)
{
    cJSON_Delete(fake_call("POST", "/__control", json));
}

static int fake_stat(const char *name)
{
    cJSON *stats = fake_call("GET", "/__stats", NULL);
    int value = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(stats, name));
    cJSON_Delete(stats);
    return value;
}

/* The secret the fake issued for key id, or "" (to check it never leaks). */
static void fake_secret_of(const char *key_id, char *secret, size_t cap, char *token,
                           size_t token_cap)
{
    cJSON *stats = fake_call("GET", "/__stats", NULL);
    const cJSON *item;
    secret[0] = token[0] = '\0';
    cJSON_ArrayForEach(item, cJSON_GetObjectItem(stats, "issued"))
    {
        if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(item, "accessKeyId")), key_id) == 0) {
            snprintf(secret, cap, "%s",
                     cJSON_GetStringValue(cJSON_GetObjectItem(item, "secretAccessKey")));
            snprintf(token, token_cap, "%s",
                     cJSON_GetStringValue(cJSON_GetObjectItem(item, "sessionToken")));
        }
    }
    cJSON_Delete(stats);
}

static void clear_aws_environment(void)
{
    static const char *const names[] = {"AWS_ACCESS_KEY_ID",
                                        "AWS_SECRET_ACCESS_KEY",
                                        "AWS_SESSION_TOKEN",
                                        "AWS_SHARED_CREDENTIALS_FILE",
                                        "AWS_PROFILE",
                                        "AWS_WEB_IDENTITY_TOKEN_FILE",
                                        "AWS_ROLE_ARN",
                                        "AWS_ROLE_SESSION_NAME",
                                        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                                        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                                        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
                                        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                                        "AWS_EC2_METADATA_DISABLED",
                                        "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                                        "AWS_ENDPOINT_URL_STS"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        unsetenv(names[i]);
    setenv("HOME", temp_dir, 1); /* no ~/.aws/credentials of the machine's user */
}

static void write_file(const char *name, const char *text, char *path, size_t cap)
{
    snprintf(path, cap, "%s/%s", temp_dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

typedef struct got {
    bool done;
    bool ok;
    char key_id[128];
    char source[64];
    char error[512];
    double expiration;
    bool has_token;
} got;

static void on_credentials(void *user, const aws_credentials *credentials, const char *error)
{
    got *g = user;
    g->done = true;
    g->ok = credentials != NULL;
    if (credentials) {
        snprintf(g->key_id, sizeof g->key_id, "%s", credentials->access_key_id);
        snprintf(g->source, sizeof g->source, "%s", credentials->source);
        g->expiration = credentials->expiration;
        g->has_token = credentials->session_token != NULL;
    }
    snprintf(g->error, sizeof g->error, "%s", error ? error : "");
}

static got get_credentials(aws_credentials_provider *provider)
{
    got g = {0};
    CHECK(aws_credentials_provider_get(provider, on_credentials, &g) == 0);
    CHECK(!g.done); /* never from inside the call */
    CHECK(run_until(&g.done, 15));
    return g;
}

static aws_credentials_provider *chain(double margin)
{
    aws_credentials_options options = {
        .region = "eu-west-1",
        .sts_endpoint = NULL,
        .imds_endpoint = fake_url,
        .ecs_host = fake_url,
        .refresh_margin_seconds = margin,
        .timeout_ms = 5000,
    };
    char sts[96];
    snprintf(sts, sizeof sts, "%s/", fake_url);
    options.sts_endpoint = sts;
    return aws_credentials_provider_new_chain(loop, http, &options);
}

static void close_provider(aws_credentials_provider *provider)
{
    aws_credentials_provider_close(provider);
    run_for(0.1);
}

/* ---- readers ------------------------------------------------------------------------------ */

static void test_iso8601(void)
{
    double t;
    CHECK(aws_parse_iso8601("2015-08-30T12:36:00Z", &t) && t == 1440938160);
    CHECK(aws_parse_iso8601("2015-08-30T12:36:00.250Z", &t) && t == 1440938160.25);
    CHECK(aws_parse_iso8601("2015-08-30T14:36:00+02:00", &t) && t == 1440938160);
    CHECK(aws_parse_iso8601("2015-08-30T10:36:00-02:00", &t) && t == 1440938160);
    CHECK(!aws_parse_iso8601("2015-08-30 12:36:00Z", &t));
    CHECK(!aws_parse_iso8601("2015-08-30T12:36:00", &t));
    CHECK(!aws_parse_iso8601("2015-13-30T12:36:00Z", &t));
    CHECK(!aws_parse_iso8601("2015-08-30T12:36:00Zjunk", &t));
    CHECK(!aws_parse_iso8601(NULL, &t));
}

static void test_shared_credentials_file(void)
{
    const char *text =
        "# a comment\n[default]\naws_access_key_id = AKIADEFAULT\n"
        "aws_secret_access_key=default-secret-abc\n\n"
        "[veba]\n ; another comment\naws_access_key_id=ASIAVEBA\n"
        "aws_secret_access_key = veba-secret-xyz \naws_session_token = veba-token-123\n"
        "[broken]\naws_access_key_id=AKIABROKEN\n";
    aws_credentials c;
    char err[256] = "";
    CHECK(aws_parse_shared_credentials(text, "default", "creds", &c, err, sizeof err) == 0);
    CHECK_STR(c.access_key_id, "AKIADEFAULT");
    CHECK_STR(c.secret_access_key, "default-secret-abc");
    CHECK(c.session_token == NULL && c.expiration == 0);
    aws_credentials_clear(&c);
    CHECK(aws_parse_shared_credentials(text, "veba", "creds", &c, err, sizeof err) == 0);
    CHECK_STR(c.secret_access_key, "veba-secret-xyz");
    CHECK_STR(c.session_token, "veba-token-123");
    CHECK(masked("veba-secret-xyz") && masked("veba-token-123"));
    aws_credentials_clear(&c);
    CHECK(aws_parse_shared_credentials(text, "missing", "creds", &c, err, sizeof err) == 1);
    CHECK(aws_parse_shared_credentials(text, "broken", "/home/u/.aws/credentials", &c, err,
                                       sizeof err) == -1);
    CHECK_STR(err, "/home/u/.aws/credentials:11: profile [broken] has no aws_secret_access_key");
}

static void test_sts_answer(void)
{
    const char *answer =
        "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
        "<AssumeRoleWithWebIdentityResult><Credentials>"
        "<SessionToken>sts-token-value</SessionToken>"
        "<SecretAccessKey>sts-secret-value</SecretAccessKey>"
        "<Expiration>2014-10-24T23:00:23Z</Expiration>"
        "<AccessKeyId>ASIASTSKEY</AccessKeyId></Credentials>"
        "</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>";
    aws_credentials c;
    char err[256] = "";
    CHECK(aws_parse_sts_web_identity(answer, strlen(answer), &c, err, sizeof err) == 0);
    CHECK_STR(c.access_key_id, "ASIASTSKEY");
    CHECK_STR(c.session_token, "sts-token-value");
    CHECK(c.expiration == 1414191623);
    CHECK_STR(c.source, "web identity");
    CHECK(masked("sts-secret-value") && masked("sts-token-value"));
    aws_credentials_clear(&c);

    const char *refused = "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
                          "<Error><Type>Sender</Type><Code>InvalidIdentityToken</Code>"
                          "<Message>No OpenIDConnect provider found</Message></Error>"
                          "<RequestId>x</RequestId></ErrorResponse>";
    CHECK(aws_parse_sts_web_identity(refused, strlen(refused), &c, err, sizeof err) == -1);
    CHECK_STR(err, "STS refused: InvalidIdentityToken: No OpenIDConnect provider found");
    CHECK(aws_parse_sts_web_identity("<x", 2, &c, err, sizeof err) == -1);
    CHECK_CONTAINS(err, "not XML");
    const char *no_expiry =
        "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>"
        "<SessionToken>t</SessionToken><SecretAccessKey>s</SecretAccessKey>"
        "<AccessKeyId>ASIANOEXP</AccessKeyId></Credentials></AssumeRoleWithWebIdentityResult>"
        "</AssumeRoleWithWebIdentityResponse>";
    CHECK(aws_parse_sts_web_identity(no_expiry, strlen(no_expiry), &c, err, sizeof err) == -1);
    CHECK_STR(err, "STS's answer has no valid Expiration for key id ASIANOEXP");
}

static void test_credentials_json(void)
{
    const char *imds = "{\"Code\":\"Success\",\"LastUpdated\":\"2012-04-26T16:39:16Z\","
                       "\"Type\":\"AWS-HMAC\",\"AccessKeyId\":\"ASIAIMDS\","
                       "\"SecretAccessKey\":\"imds-secret-value\",\"Token\":\"imds-token-value\","
                       "\"Expiration\":\"2017-05-17T15:09:54Z\"}";
    aws_credentials c;
    char err[256] = "";
    CHECK(aws_parse_credentials_json(imds, strlen(imds), "IMDS", &c, err, sizeof err) == 0);
    CHECK_STR(c.access_key_id, "ASIAIMDS");
    CHECK(c.expiration == 1495033794);
    CHECK(masked("imds-secret-value"));
    aws_credentials_clear(&c);
    const char *failed = "{\"Code\":\"AssumeRoleUnauthorizedAccess\",\"Message\":\"denied\"}";
    CHECK(aws_parse_credentials_json(failed, strlen(failed), "IMDS", &c, err, sizeof err) == -1);
    CHECK_STR(err, "IMDS answered Code AssumeRoleUnauthorizedAccess: denied");
    const char *incomplete = "{\"AccessKeyId\":\"ASIAX\"}";
    CHECK(aws_parse_credentials_json(incomplete, strlen(incomplete), "ECS", &c, err, sizeof err) ==
          -1);
    CHECK_STR(err, "ECS sent no AccessKeyId and SecretAccessKey");
    const char *bad_time = "{\"AccessKeyId\":\"ASIAX\",\"SecretAccessKey\":\"s3cr3t-x\","
                           "\"Token\":\"t\",\"Expiration\":\"tomorrow\"}";
    CHECK(aws_parse_credentials_json(bad_time, strlen(bad_time), "ECS", &c, err, sizeof err) == -1);
    CHECK_STR(err, "ECS sent an invalid Expiration for key id ASIAX");
}

/* ---- the chain ---------------------------------------------------------------------------- */

static void test_static_keys(void)
{
    aws_credentials_provider *p =
        aws_credentials_provider_new_static(loop, "AKIASTATIC", "static-secret-value", NULL);
    CHECK(p != NULL);
    const aws_credentials *now = aws_credentials_provider_current(p);
    CHECK(now && strcmp(now->access_key_id, "AKIASTATIC") == 0);
    CHECK(masked("static-secret-value"));
    got g = get_credentials(p);
    CHECK(g.ok);
    CHECK_STR(g.key_id, "AKIASTATIC");
    close_provider(p);
    CHECK(aws_credentials_provider_new_static(loop, "AKIA", "", NULL) == NULL);
    run_for(0.05);
}

static void test_environment_first(void)
{
    clear_aws_environment();
    setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "env-secret-value", 1);
    setenv("AWS_SESSION_TOKEN", "env-token-value", 1);
    /* Also configured, but later in the chain: not used. */
    setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/x", 1);
    aws_credentials_provider *p = chain(0);
    got g = get_credentials(p);
    CHECK(g.ok && g.has_token);
    CHECK_STR(g.key_id, "AKIAENV");
    CHECK_STR(g.source, "environment");
    CHECK(masked("env-secret-value") && masked("env-token-value"));
    close_provider(p);

    unsetenv("AWS_SECRET_ACCESS_KEY");
    p = chain(0);
    g = get_credentials(p);
    CHECK(!g.ok);
    CHECK_STR(g.error, "environment: AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
    close_provider(p);
}

static void test_shared_file_source(void)
{
    clear_aws_environment();
    char path[512], home_aws[512];
    write_file("credentials",
               "[default]\naws_access_key_id=AKIAFILEDEFAULT\n"
               "aws_secret_access_key=file-default-secret\n"
               "[veba]\naws_access_key_id=AKIAFILEVEBA\n"
               "aws_secret_access_key=file-veba-secret\n",
               path, sizeof path);
    setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
    setenv("AWS_PROFILE", "veba", 1);
    aws_credentials_provider *p = chain(0);
    got g = get_credentials(p);
    CHECK(g.ok && !g.has_token && g.expiration == 0);
    CHECK_STR(g.key_id, "AKIAFILEVEBA");
    CHECK_STR(g.source, "shared credentials file");
    close_provider(p);

    /* ~/.aws/credentials and the default profile when nothing names another. */
    unsetenv("AWS_SHARED_CREDENTIALS_FILE");
    unsetenv("AWS_PROFILE");
    snprintf(home_aws, sizeof home_aws, "%s/.aws", temp_dir);
    mkdir(home_aws, 0700);
    write_file(".aws/credentials",
               "[default]\naws_access_key_id=AKIAHOME\n"
               "aws_secret_access_key=home-secret\n",
               path, sizeof path);
    p = chain(0);
    g = get_credentials(p);
    CHECK_STR(g.key_id, "AKIAHOME");
    close_provider(p);
    remove(path);
    rmdir(home_aws);
}

static void test_web_identity_expiry_and_refresh(void)
{
    clear_aws_environment();
    char token_path[512];
    write_file("web-identity-token", "eyJhbGciOiJSUzI1NiJ9.fake-web-identity-token.sig\n",
               token_path, sizeof token_path);
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", token_path, 1);
    setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/veba-eventbridge", 1);
    setenv("AWS_ROLE_SESSION_NAME", "veba-test", 1);
    fake_control("{\"lifetimeSeconds\":4}");
    int sts_before = fake_stat("sts");
    /* A margin of 2 s on 4 s credentials: the refresh comes about 2 s after each fetch. */
    aws_credentials_provider *p = chain(2);
    got first = get_credentials(p);
    CHECK(first.ok && first.has_token);
    CHECK_STR(first.source, "web identity");
    CHECK(strncmp(first.key_id, "ASIASTS", 7) == 0);
    CHECK(first.expiration > (double)time(NULL) && first.expiration < (double)time(NULL) + 6);
    char secret[256], token[512];
    fake_secret_of(first.key_id, secret, sizeof secret, token, sizeof token);
    CHECK(*secret && masked(secret) && masked(token));

    /* Wait for the refresh the provider makes on its own, before expiry. */
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    const aws_credentials *current = aws_credentials_provider_current(p);
    bool refreshed = false;
    for (int i = 0; i < 100 && !refreshed; i++) {
        run_for(0.1);
        current = aws_credentials_provider_current(p);
        refreshed = current && strcmp(current->access_key_id, first.key_id) != 0;
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    CHECK(refreshed);
    CHECK(aws_credentials_provider_fetches(p) >= 2);
    CHECK(fake_stat("sts") >= sts_before + 2);
    /* The new key came before the old one expired (no gap), not at once. */
    double waited = (double)(now.tv_sec - start.tv_sec);
    CHECK(waited <= 4);
    close_provider(p);
    fake_control("{\"lifetimeSeconds\":3600}");
}

static void test_web_identity_refused_names_role_not_token(void)
{
    clear_aws_environment();
    char token_path[512];
    write_file("wrong-token", "wrong-web-identity-token-value", token_path, sizeof token_path);
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", token_path, 1);
    setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/veba-eventbridge", 1);
    aws_credentials_provider *p = chain(0);
    got g = get_credentials(p);
    CHECK(!g.ok);
    CHECK_CONTAINS(g.error, "web identity: STS AssumeRoleWithWebIdentity for role "
                            "arn:aws:iam::123456789012:role/veba-eventbridge: HTTP 400: STS "
                            "refused: InvalidIdentityToken");
    CHECK(strstr(g.error, "wrong-web-identity-token-value") == NULL);
    CHECK(masked("wrong-web-identity-token-value"));
    /* A second ask within the backoff answers from the failure, without hammering STS. */
    int sts_before = fake_stat("sts");
    got again = get_credentials(p);
    CHECK(!again.ok);
    CHECK(fake_stat("sts") == sts_before);
    close_provider(p);

    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "/nonexistent/token", 1);
    p = chain(0);
    g = get_credentials(p);
    CHECK_STR(g.error, "web identity: cannot read AWS_WEB_IDENTITY_TOKEN_FILE /nonexistent/token");
    close_provider(p);
}

static void test_ecs_container_credentials(void)
{
    clear_aws_environment();
    fake_control("{\"ecsAuthorization\":\"ecs-authorization-token\",\"lifetimeSeconds\":3600}");
    setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/task-1", 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "ecs-authorization-token", 1);
    aws_credentials_provider *p = chain(0);
    got g = get_credentials(p);
    CHECK(g.ok && g.has_token);
    CHECK(strncmp(g.key_id, "ASIAECS", 7) == 0);
    CHECK_STR(g.source, "ECS container credentials");
    close_provider(p);

    /* FULL_URI with the token from a file, which wins over the variable. */
    char url[128], token_path[512];
    snprintf(url, sizeof url, "%s/v2/credentials/task-2", fake_url);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
    unsetenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "not-this-one", 1);
    write_file("ecs-token", "ecs-authorization-token\n", token_path, sizeof token_path);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token_path, 1);
    p = chain(0);
    g = get_credentials(p);
    CHECK(g.ok);
    close_provider(p);

    unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    p = chain(0);
    g = get_credentials(p);
    CHECK(!g.ok);
    CHECK_STR(g.error, "ECS container credentials: HTTP 401");
    CHECK(masked("not-this-one"));
    close_provider(p);

    /* Plain http to anywhere but loopback or the agent would send the token in the clear. */
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://192.0.2.10/creds", 1);
    p = chain(0);
    g = get_credentials(p);
    CHECK_CONTAINS(g.error, "AWS_CONTAINER_CREDENTIALS_FULL_URI http://192.0.2.10/creds must be");
    close_provider(p);
    fake_control("{\"ecsAuthorization\":null}");
}

static void test_imds_v2_refresh_survives_a_failed_refresh(void)
{
    clear_aws_environment();
    fake_control("{\"lifetimeSeconds\":6,\"imdsRole\":\"veba-instance-role\"}");
    int tokens_before = fake_stat("imdsToken");
    aws_credentials_provider *p = chain(4);
    got first = get_credentials(p);
    CHECK(first.ok && first.has_token);
    CHECK_STR(first.source, "EC2 instance metadata (IMDSv2)");
    CHECK(strncmp(first.key_id, "ASIAIMD", 7) == 0);
    CHECK(fake_stat("imdsToken") == tokens_before + 1);

    /* The refresh (about 2 s in) fails once: the first keys stay current, a retry follows
     * 1 s later and brings new ones before the first expire (6 s). */
    fake_control("{\"failNext\":{\"imds\":1}}");
    bool refreshed = false;
    bool kept_during_failure = true;
    for (int i = 0; i < 80 && !refreshed; i++) {
        run_for(0.1);
        const aws_credentials *current = aws_credentials_provider_current(p);
        if (!current)
            kept_during_failure = false;
        refreshed = current && strcmp(current->access_key_id, first.key_id) != 0;
    }
    CHECK(refreshed);
    CHECK(kept_during_failure);
    CHECK(aws_credentials_provider_last_error(p) == NULL);
    close_provider(p);

    /* No role attached: the metadata service answers 404 to the role list. */
    fake_control("{\"imdsRole\":\"\",\"lifetimeSeconds\":3600}");
    p = chain(0);
    got g = get_credentials(p);
    CHECK(!g.ok);
    CHECK_CONTAINS(g.error, "HTTP 404 (no IAM role is attached to this instance)");
    close_provider(p);
    fake_control("{\"imdsRole\":\"veba-instance-role\"}");
}

static void test_nothing_configured(void)
{
    clear_aws_environment();
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    aws_credentials_provider *p = chain(0);
    got g = get_credentials(p);
    CHECK(!g.ok);
    CHECK_CONTAINS(g.error, "no AWS credentials found");
    close_provider(p);
}

/* Closing with a fetch in flight: the waiter hears "closed", the late answer frees nothing
 * twice (ASan watches). */
static void test_close_during_fetch(void)
{
    clear_aws_environment();
    aws_credentials_provider *p = chain(0);
    got g = {0};
    CHECK(aws_credentials_provider_get(p, on_credentials, &g) == 0);
    aws_credentials_provider_close(p);
    CHECK(g.done && !g.ok);
    CHECK_STR(g.error, "credentials provider closed");
    run_for(0.5);
}

int main(void)
{
    log_set_level(LOG_LEVEL_ERROR);
    if (!mkdtemp(temp_dir))
        return 1;
    RUN_TEST(test_iso8601);
    RUN_TEST(test_shared_credentials_file);
    RUN_TEST(test_sts_answer);
    RUN_TEST(test_credentials_json);

    loop = uv_default_loop();
    http = http_client_new(loop);
    const char *source = getenv("EVENT_ROUTER_SOURCE_DIR");
    char script[1400], line[64];
    snprintf(script, sizeof script, "import('%s/tests/peers/aws_credential_fakes.mjs')",
             source ? source : ".");
    fake_pid = node_peer_start(script, line, sizeof line);
    CHECK(fake_pid > 0 && atoi(line) > 0);
    if (fake_pid > 0 && atoi(line) > 0) {
        snprintf(fake_url, sizeof fake_url, "http://127.0.0.1:%d", atoi(line));
        RUN_TEST(test_static_keys);
        RUN_TEST(test_environment_first);
        RUN_TEST(test_shared_file_source);
        RUN_TEST(test_web_identity_expiry_and_refresh);
        RUN_TEST(test_web_identity_refused_names_role_not_token);
        RUN_TEST(test_ecs_container_credentials);
        RUN_TEST(test_imds_v2_refresh_survives_a_failed_refresh);
        RUN_TEST(test_nothing_configured);
        RUN_TEST(test_close_during_fetch);
    }
    node_peer_stop(fake_pid);
    http_client_close(http);
    uv_run(loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(loop) == 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", temp_dir);
    CHECK(system(cmd) == 0);
    log_forget_secrets();
    return CHECK_DONE();
}
