/* The metrics endpoints on their own listener: /stats (the VMware Event Router's JSON), /metrics
 * (Prometheus text), and the Kubernetes probes /healthz and /readyz. */
#ifndef EVENT_ROUTER_METRICS_SERVER_H
#define EVENT_ROUTER_METRICS_SERVER_H

#include "config/config.h"
#include "metrics/metrics.h"

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

typedef struct metrics_server metrics_server;

/* Listens on config->bind_address (default "127.0.0.1:8082"; port 0 picks one). With
 * config->auth of type basic_auth, every endpoint but the probes asks for those credentials; other
 * auth types are refused. ready(user) answers /readyz (NULL: always ready). m must outlive the
 * server. Returns NULL with a reason in err (never a secret) when the address is bad or taken. */
metrics_server *metrics_server_start(uv_loop_t *loop, const config_metrics *config,
                                     const metrics *m, bool (*ready)(void *user), void *user,
                                     char *err, size_t err_cap);
/* The bound port, useful after binding port 0. */
int metrics_server_port(const metrics_server *server);
/* Stops listening, closes every connection and frees the server. NULL is a no-op. */
void metrics_server_close(metrics_server *server);

#endif
