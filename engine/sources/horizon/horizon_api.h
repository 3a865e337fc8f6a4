/* A Horizon Server REST API session on the libuv loop: POST /rest/login, /rest/refresh,
 * /rest/logout and GET /rest/external/v1/audit-events, with the token handling Horizon wants.
 *
 * Tokens: login gives an access token (about 30 min) and a refresh token (about 8 h). Both are
 * JWTs; their lifetimes come from exp - iat (the server's clock never meets ours), else those
 * defaults. The access token is refreshed shortly before it expires; a 401 on audit-events means
 * refresh and retry once; a refresh answered 400 or 401 (the refresh token expired) means a full
 * login. The password and the tokens never appear in an error or a log line. */
#ifndef EVENT_ROUTER_HORIZON_API_H
#define EVENT_ROUTER_HORIZON_API_H

#include "config/config.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef enum {
    HORIZON_API_OK,
    HORIZON_API_UNREACHABLE,   /* no answer, a timeout or a 5xx: retry later */
    HORIZON_API_LOGIN_REFUSED, /* the credentials were refused (400, 401 or 403 on login) */
    HORIZON_API_FAILED,        /* any other answer: retry later */
} horizon_api_status;

typedef struct horizon_api_result {
    horizon_api_status status;
    const char *error;   /* why, naming the call; NULL on OK */
    const cJSON *events; /* audit-events: the JSON array, valid during the callback only */
} horizon_api_result;

typedef void (*horizon_api_fn)(void *user, const horizon_api_result *result);

typedef struct horizon_api horizon_api;

/* config is borrowed and must outlive the session. NULL with err on a bad address. */
horizon_api *horizon_api_new(uv_loop_t *loop, const config_horizon *config, char *err,
                             size_t err_cap);
/* The address's host, e.g. for the checkpoint file name. */
const char *horizon_api_host(const horizon_api *api);
/* Logs in or refreshes as needed, then GET audit-events?query (query already URL-encoded).
 * One call at a time; done is called exactly once, never from inside this call. 0 or -1. */
int horizon_api_audit_events(horizon_api *api, const char *query, horizon_api_fn done, void *user);
bool horizon_api_logged_in(const horizon_api *api);
/* POST /rest/logout with the refresh token (best effort, short timeout); forgets the tokens.
 * May run beside an audit-events call (at shutdown). -1 when not logged in. */
int horizon_api_logout(horizon_api *api, horizon_api_fn done, void *user);
/* Aborts what is running without calling back, and frees the session. */
void horizon_api_close(horizon_api *api);

/* Counts for tests and the log: full logins and refreshes done. */
uint64_t horizon_api_logins(const horizon_api *api);
uint64_t horizon_api_refreshes(const horizon_api *api);

/* Percent-encodes text for a query string value into out. False when it does not fit. */
bool horizon_url_encode(const char *text, char *out, size_t cap);
/* A JWT's lifetime in ms from its claims (exp - iat, or exp - now without iat), at most a year;
 * 0 when the token is not a JWT with an exp claim. */
uint64_t horizon_jwt_lifetime_ms(const char *token);

#endif
