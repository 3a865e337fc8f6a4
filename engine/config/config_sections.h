/* The typed sections of a RouterConfig: an event provider, an event processor, the metrics
 * provider and their auth blocks. Each reads one YAML mapping into the config structs, reporting
 * problems through the checker; the caller decides validity by whether errors were added. */
#ifndef EVENT_ROUTER_CONFIG_SECTIONS_H
#define EVENT_ROUTER_CONFIG_SECTIONS_H

#include "config/config.h"
#include "config/config_check.h"

/* map is one provider ("eventProvider" or an item of "eventProviders"); path names it in
 * messages. Sets *name_node to the node holding its name (for the uniqueness check). */
void config_read_provider(config_checker *ck, const ynode *map, const char *path,
                          config_provider *out, const ynode **name_node);
void config_read_processor(config_checker *ck, const ynode *map, const char *path,
                           config_processor *out, const ynode **name_node);
void config_read_metrics(config_checker *ck, const ynode *map, const char *path,
                         config_metrics *out);

/* parent[auth] (optional): one of the auth types in allowed (a mask of 1u << config_auth_type). */
void config_read_auth(config_checker *ck, const ynode *parent, const char *parent_path,
                      unsigned allowed, config_auth *out);
/* Reports a value of parent[key] that is not an http:// or https:// URL. */
void config_check_http_url(config_checker *ck, const ynode *parent, const char *path,
                           const char *key, const char *url);
/* The awsEventBridge block (config_eventbridge.c). */
void config_read_eventbridge(config_checker *ck, const ynode *settings, const char *path,
                             config_eventbridge *out);
void config_eventbridge_clear(config_eventbridge *eventbridge);
/* The openfaas block (config_openfaas.c). */
void config_read_openfaas(config_checker *ck, const ynode *settings, const char *path,
                          config_openfaas *out);
void config_openfaas_clear(config_openfaas *openfaas);

/* leaderElection and checkpointStore (config_ha.c). */
void config_read_high_availability(config_checker *ck, const ynode *root, config *cfg);
void config_provider_clear(config_provider *provider);
void config_processor_clear(config_processor *processor);
void config_auth_clear(config_auth *auth);

#endif
