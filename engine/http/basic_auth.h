/* HTTP Basic authentication for the servers the engine runs (webhook, metrics). Only a SHA-256
 * of "username:password" is kept, and digests are compared in constant time, so neither the
 * password nor the time an answer takes tells anything about a guess. */
#ifndef EVENT_ROUTER_BASIC_AUTH_H
#define EVENT_ROUTER_BASIC_AUTH_H

#include "http/http_server.h"

#include <stdbool.h>

typedef struct basic_auth {
    bool required;
    unsigned char digest[32];
} basic_auth;

/* Sets up the check; false when SHA-256 is unavailable. */
bool basic_auth_init(basic_auth *auth, const char *username, const char *password);
/* True when no auth is required or the request carries the right credentials. */
bool basic_auth_allows(const basic_auth *auth, const http_request *request);

#endif
