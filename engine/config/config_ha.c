/* leaderElection and checkpointStore: high availability on Kubernetes (ha/leader_election.h,
 * sources/vcenter/checkpoint_store.h). */
#include "config/config.h"
#include "config/config_check.h"
#include "config/config_sections.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CLIENT_GO_JITTER_FACTOR 1.2

/* A DNS subdomain (RFC 1123), as Kubernetes requires of a Lease's or ConfigMap's name and of a
 * namespace (which is even a label, checked the same way here: the API has the last word). */
static bool is_dns_subdomain(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > 253)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && !((c == '-' || c == '.') && i > 0 && i + 1 < len))
            return false;
    }
    return true;
}

static void check_object_name(config_checker *ck, const ynode *map, const char *path,
                              const char *key, bool required, char **out)
{
    if (!check_string(ck, map, path, key, required, out))
        return;
    if (!is_dns_subdomain(*out)) {
        const ynode *at = check_value(ck, map, path, key, false);
        char field[128];
        check_path(field, sizeof field, path, key);
        check_error_at(ck, at->line, at->col, field,
                       "must be a Kubernetes name: lower-case letters, digits, '-' and '.', at "
                       "most 253 characters");
    }
}

static char *default_identity(void)
{
    const char *pod = getenv("POD_NAME");
    if (pod && *pod)
        return strdup(pod);
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0 || !host[0])
        snprintf(host, sizeof host, "event-router-%ld", (long)getpid());
    return strdup(host);
}

static void read_leader_election(config_checker *ck, const ynode *root, config *cfg)
{
    const char *path = "leaderElection";
    const ynode *map = check_map(ck, root, "", path, false);
    if (!map)
        return;
    config_leader_election *le = &cfg->leader_election;
    le->enabled = true;
    check_known_keys(ck, map, path,
                     (const char *const[]){"leaseName", "leaseNamespace", "identity",
                                           "leaseDuration", "renewDeadline", "retryPeriod", NULL});
    check_object_name(ck, map, path, "leaseName", true, &le->lease_name);
    check_object_name(ck, map, path, "leaseNamespace", false, &le->lease_namespace);
    if (check_string(ck, map, path, "identity", false, &le->identity) &&
        (!le->identity[0] || strlen(le->identity) > 253)) {
        const ynode *at = check_value(ck, map, path, "identity", false);
        check_error_at(ck, at->line, at->col, "leaderElection.identity",
                       "must be 1 to 253 characters");
    }
    if (!le->identity)
        le->identity = default_identity();
    bool lease_given = check_duration(ck, map, path, "leaseDuration", &le->lease_duration_seconds);
    bool renew_given = check_duration(ck, map, path, "renewDeadline", &le->renew_deadline_seconds);
    bool retry_given = check_duration(ck, map, path, "retryPeriod", &le->retry_period_seconds);
    const ynode *lease_at = lease_given ? check_value(ck, map, path, "leaseDuration", false) : map;
    const ynode *renew_at = renew_given ? check_value(ck, map, path, "renewDeadline", false) : map;
    const ynode *retry_at = retry_given ? check_value(ck, map, path, "retryPeriod", false) : map;
    double lease = le->lease_duration_seconds;
    if (lease < 1 || lease > 2147483647.0 || lease != (double)(long)lease)
        check_error_at(ck, lease_at->line, lease_at->col, "leaderElection.leaseDuration",
                       "must be a whole number of seconds, at least 1s (a Lease holds "
                       "leaseDurationSeconds)");
    else if (le->renew_deadline_seconds >= lease)
        check_error_at(ck, renew_at->line, renew_at->col, "leaderElection.renewDeadline",
                       "must be shorter than leaseDuration (%gs): a leader that cannot renew "
                       "must stop before its lease can expire",
                       lease);
    if (le->renew_deadline_seconds <= CLIENT_GO_JITTER_FACTOR * le->retry_period_seconds)
        check_error_at(ck, retry_at->line, retry_at->col, "leaderElection.retryPeriod",
                       "must be shorter than renewDeadline / %.1f (%gs), so a leader tries to "
                       "renew more than once before it gives up",
                       CLIENT_GO_JITTER_FACTOR,
                       le->renew_deadline_seconds / CLIENT_GO_JITTER_FACTOR);
}

static void read_checkpoint_store(config_checker *ck, const ynode *root, config *cfg)
{
    const char *path = "checkpointStore";
    const ynode *map = check_map(ck, root, "", path, false);
    if (!map)
        return;
    config_checkpoint_store *store = &cfg->checkpoint_store;
    check_known_keys(ck, map, path, (const char *const[]){"type", "name", "namespace", NULL});
    char *type = NULL;
    if (check_string(ck, map, path, "type", true, &type)) {
        if (strcmp(type, "configmap") == 0) {
            store->type = CHECKPOINT_STORE_CONFIGMAP;
        } else if (strcmp(type, "file") != 0) {
            const ynode *at = check_value(ck, map, path, "type", false);
            check_error_at(ck, at->line, at->col, "checkpointStore.type",
                           "expected 'file' or 'configmap', got '%.60s'", type);
        }
    }
    free(type);
    bool configmap = store->type == CHECKPOINT_STORE_CONFIGMAP;
    check_object_name(ck, map, path, "name", configmap, &store->name);
    check_object_name(ck, map, path, "namespace", false, &store->namespace_);
    if (!configmap)
        return;
    /* One ConfigMap key, `checkpoint` (the Tanzu vSphere source's layout): one vCenter source. */
    size_t checkpointing = 0;
    for (size_t i = 0; i < cfg->provider_count; i++)
        if (cfg->providers[i].kind == PROVIDER_VCENTER && cfg->providers[i].vcenter.checkpoint)
            checkpointing++;
    if (checkpointing > 1)
        check_error_at(ck, map->line, map->col, "checkpointStore",
                       "type configmap keeps one checkpoint (key 'checkpoint'): at most one "
                       "vcenter provider may have checkpoint: true, %zu do",
                       checkpointing);
}

void config_read_high_availability(config_checker *ck, const ynode *root, config *cfg)
{
    cfg->leader_election.lease_duration_seconds = 15;
    cfg->leader_election.renew_deadline_seconds = 10;
    cfg->leader_election.retry_period_seconds = 2;
    read_leader_election(ck, root, cfg);
    read_checkpoint_store(ck, root, cfg);
}
