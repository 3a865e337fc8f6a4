/* The async callback listener: with `callback:` set, each async invocation carries
 * X-Callback-Url pointing here with a token of its own; the gateway's queue worker POSTs the
 * function's answer back with X-Function-Status, X-Call-Id and X-Duration-Seconds. A waiter
 * ends exactly once: on its callback, at its deadline, or when abandoned at shutdown. */
#ifndef EVENT_ROUTER_OPENFAAS_CALLBACK_H
#define EVENT_ROUTER_OPENFAAS_CALLBACK_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

typedef struct openfaas_callbacks openfaas_callbacks;
typedef struct openfaas_waiter openfaas_waiter;

typedef enum {
    CALLBACK_RECEIVED,  /* function_status and call_id are set */
    CALLBACK_TIMED_OUT, /* the deadline passed */
    CALLBACK_ABANDONED, /* shutdown */
} openfaas_callback_outcome;

typedef struct openfaas_callback_result {
    openfaas_callback_outcome outcome;
    long function_status;    /* X-Function-Status; 0 when absent or unreadable */
    char call_id[80];        /* X-Call-Id; "" when absent */
    double duration_seconds; /* X-Duration-Seconds; < 0 when absent */
} openfaas_callback_result;

typedef void (*openfaas_callback_fn)(void *user, const openfaas_callback_result *result);

/* Listens on bind_address for POST path. public_url (NULL: http://bind_address + path) is what
 * the gateway is told to call. Returns NULL with a reason in err. */
openfaas_callbacks *openfaas_callbacks_start(uv_loop_t *loop, const char *bind_address,
                                             const char *path, const char *public_url, char *err,
                                             size_t err_cap);
/* The listener's port (for bind addresses with port 0). */
int openfaas_callbacks_port(const openfaas_callbacks *callbacks);

/* A new waiter; its X-Callback-Url is written to url. done is not called until armed. */
openfaas_waiter *openfaas_callbacks_expect(openfaas_callbacks *callbacks, openfaas_callback_fn done,
                                           void *user, char *url, size_t url_cap);
/* The gateway took the call (202): from now on done is called once, on the callback or after
 * deadline_seconds. If the callback came before the 202 was read, done runs on the next turn. */
void openfaas_waiter_arm(openfaas_waiter *waiter, double deadline_seconds);
/* The call failed before it was queued: the waiter ends without calling done. */
void openfaas_waiter_cancel(openfaas_waiter *waiter);

/* Ends every armed waiter now with CALLBACK_ABANDONED. */
void openfaas_callbacks_abandon(openfaas_callbacks *callbacks);
/* Counters for /metrics and the console. */
typedef struct openfaas_callback_counts {
    unsigned long long received, timed_out, unknown; /* unknown: no waiter had the token */
} openfaas_callback_counts;
openfaas_callback_counts openfaas_callbacks_counts(const openfaas_callbacks *callbacks);
/* Stops listening; closed(user) once every handle is closed. No waiter may be left. */
void openfaas_callbacks_close(openfaas_callbacks *callbacks, void (*closed)(void *user),
                              void *user);

#endif
