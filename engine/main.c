/* event-router: command line, signals and the loop. Everything else is in engine.c. */
#include "config/config.h"
#include "console/console.h"
#include "console/console_backend.h"
#include "engine.h"
#include "log.h"
#include "service_notify.h"
#include "lua/test_script.h"
#include "test_pattern.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

/* The VMware Event Router's default, so its container images' arguments keep working. */
#define DEFAULT_CONFIG_PATH "/etc/vmware-event-router/config"
#define SHUTDOWN_DEADLINE_SECONDS 10.0

static const char usage_text[] =
    "usage: event-router [-config PATH] [-log-level debug|info|warn|error] [-log-json]\n"
    "       event-router check-config PATH\n"
    "       event-router test-script SCRIPT [EVENT.json ...]\n"
    "       event-router test-pattern [--eventbridge] PATTERN.json [EVENT.json ...]\n"
    "       event-router console [--socket PATH | --tcp HOST:PORT --token T]\n"
    "       event-router --version | --help\n"
    "\n"
    "Streams events from the configured sources (webhook) to the configured processors\n"
    "(knative). Flags take one or two dashes and 'NAME VALUE' or 'NAME=VALUE'.\n"
    "  -config PATH       RouterConfig YAML file (default " DEFAULT_CONFIG_PATH ")\n"
    "  -log-level LEVEL   debug, info (default), warn or error\n"
    "  -log-json          log JSON lines instead of text\n"
    "Signals: SIGTERM/SIGINT stop intake, drain deliveries (up to 10 s) and exit 0;\n"
    "SIGHUP reloads the scripts (and their settings) from the config.\n";

typedef struct options {
    const char *config_path;
    const char *log_level;
    bool log_json;
} options;

static void print_config_errors(const config_errors *errors)
{
    for (size_t i = 0; i < errors->count; i++)
        fprintf(stderr, "%s\n", errors->messages[i]);
}

static int check_config(const char *path)
{
    config_errors errors = {0};
    config *cfg = config_load(path, &errors);
    print_config_errors(&errors);
    config_errors_free(&errors);
    if (!cfg)
        return 1;
    printf("%s: OK\n", path);
    config_free(cfg);
    return 0;
}

/* Accepts -name, --name, -name=value and --name=value. Returns the value for flags that take one
 * (from "=value" or the next argument), "" for boolean flags, NULL when arg is not this flag. */
static const char *match_flag(int argc, char **argv, int *i, const char *name, bool takes_value)
{
    const char *arg = argv[*i];
    if (arg[0] != '-')
        return NULL;
    arg += arg[1] == '-' ? 2 : 1;
    size_t len = strlen(name);
    if (strncmp(arg, name, len) != 0)
        return NULL;
    if (arg[len] == '=')
        return takes_value ? arg + len + 1 : NULL;
    if (arg[len] != '\0')
        return NULL;
    if (!takes_value)
        return "";
    if (*i + 1 >= argc)
        return NULL;
    return argv[++*i];
}

static int parse_options(int argc, char **argv, options *opts)
{
    for (int i = 1; i < argc; i++) {
        const char *value;
        if ((value = match_flag(argc, argv, &i, "config", true))) {
            opts->config_path = value;
        } else if ((value = match_flag(argc, argv, &i, "log-level", true))) {
            opts->log_level = value;
        } else if ((value = match_flag(argc, argv, &i, "log-json", false))) {
            opts->log_json = true;
        } else {
            fprintf(stderr, "event-router: unknown or incomplete argument '%s'\n\n%s", argv[i],
                    usage_text);
            return 2;
        }
    }
    return 0;
}

typedef struct runtime {
    uv_loop_t loop;
    uv_signal_t sigterm, sigint, sighup;
    engine *engine;
    service_watchdog watchdog;
    int signals_seen;
    int exit_status;
} runtime;

static void on_engine_stopped(void *user)
{
    runtime *rt = user;
    rt->engine = NULL;
    uv_close((uv_handle_t *)&rt->sigterm, NULL);
    uv_close((uv_handle_t *)&rt->sigint, NULL);
    uv_close((uv_handle_t *)&rt->sighup, NULL);
    service_watchdog_stop(&rt->watchdog);
    log_info("main", "stopped");
}

static void on_stop_signal(uv_signal_t *handle, int signum)
{
    runtime *rt = handle->data;
    if (++rt->signals_seen > 1) {
        log_warn("main", "second %s: exiting without waiting for deliveries", strsignal(signum));
        exit(1);
    }
    log_info("main", "%s received: stopping", strsignal(signum));
    service_notify("STOPPING=1\nSTATUS=stopping: delivering what is queued");
    engine_shutdown(rt->engine, SHUTDOWN_DEADLINE_SECONDS, on_engine_stopped, rt);
}

static void on_engine_fatal(void *user, const char *reason)
{
    (void)reason; /* already logged by the engine */
    runtime *rt = user;
    rt->exit_status = 1;
    service_notify("STOPPING=1\nSTATUS=stopping after a fatal error");
    if (rt->engine && rt->signals_seen++ == 0)
        engine_shutdown(rt->engine, SHUTDOWN_DEADLINE_SECONDS, on_engine_stopped, rt);
}

static void on_sighup(uv_signal_t *handle, int signum)
{
    (void)signum;
    runtime *rt = handle->data;
    char err[1024];
    if (!rt->engine)
        return;
    /* RELOADING=1 wants MONOTONIC_USEC= beside it (systemd 253+ checks it with Type=notify-reload);
     * older managers ignore both. */
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    char reloading[128];
    snprintf(reloading, sizeof reloading, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading",
             (unsigned long long)now.tv_sec * 1000000ULL + (unsigned long long)now.tv_nsec / 1000);
    service_notify(reloading);
    if (engine_reload(rt->engine, err, sizeof err) != 0) {
        log_error("main", "SIGHUP: reload failed, the previous scripts stay active: %s", err);
        service_notify("READY=1\nSTATUS=running (the last reload failed: see the log)");
    } else {
        service_notify("READY=1\nSTATUS=running");
    }
}

static int run(const options *opts)
{
    config_errors errors = {0};
    config *cfg = config_load(opts->config_path, &errors);
    print_config_errors(&errors);
    config_errors_free(&errors);
    if (!cfg)
        return 1;

    runtime rt = {0};
    uv_loop_init(&rt.loop);
    char err[1024] = "";
    rt.engine = engine_start(&rt.loop, cfg, err, sizeof err);
    if (!rt.engine) {
        log_error("main", "cannot start: %s", err);
        uv_run(&rt.loop, UV_RUN_DEFAULT); /* let the partly started engine close its handles */
        uv_loop_close(&rt.loop);
        config_free(cfg);
        return 1;
    }
    engine_set_fatal_handler(rt.engine, on_engine_fatal, &rt);
    uv_signal_t *handles[] = {&rt.sigterm, &rt.sigint, &rt.sighup};
    for (size_t i = 0; i < 3; i++) {
        uv_signal_init(&rt.loop, handles[i]);
        handles[i]->data = &rt;
    }
    uv_signal_start(&rt.sigterm, on_stop_signal, SIGTERM);
    uv_signal_start(&rt.sigint, on_stop_signal, SIGINT);
    uv_signal_start(&rt.sighup, on_sighup, SIGHUP);
    if (console_backend_start(rt.engine, &rt.loop, err, sizeof err) != 0) {
        log_error("main", "cannot start: console: %s", err);
        on_engine_fatal(&rt, err);
    } else {
        log_info("main", "event-router %s running with %s", EVENT_ROUTER_VERSION,
                 opts->config_path);
        /* Every source and processor has started: the service manager may order what
         * depends on us now. */
        service_watchdog_start(&rt.watchdog, &rt.loop);
        service_notify("READY=1\nSTATUS=running");
    }

    uv_run(&rt.loop, UV_RUN_DEFAULT);
    int closed = uv_loop_close(&rt.loop);
    if (closed != 0)
        log_warn("main", "loop closed with handles still open: %s", uv_err_name(closed));
    config_free(cfg);
    log_forget_secrets();
    return rt.exit_status;
}

int main(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-version") == 0)) {
        printf("event-router %s\n", EVENT_ROUTER_VERSION);
        return 0;
    }
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-help") == 0 ||
                     strcmp(argv[1], "-h") == 0)) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "console") == 0)
        return console_client_main(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "test-script") == 0)
        return test_script_main(argc, argv);
    if (argc > 1 && strcmp(argv[1], "test-pattern") == 0)
        return test_pattern_main(argc, argv);
    if (argc > 1 && strcmp(argv[1], "check-config") == 0) {
        if (argc != 3) {
            fprintf(stderr, "usage: event-router check-config PATH\n");
            return 2;
        }
        return check_config(argv[2]);
    }
    options opts = {.config_path = DEFAULT_CONFIG_PATH, .log_level = "info"};
    int rc = parse_options(argc, argv, &opts);
    if (rc != 0)
        return rc;
    log_level level;
    if (!log_parse_level(opts.log_level, &level)) {
        fprintf(stderr, "event-router: -log-level must be debug, info, warn or error, not '%s'\n",
                opts.log_level);
        return 2;
    }
    log_set_level(level);
    log_set_json(opts.log_json);
    signal(SIGPIPE, SIG_IGN);
    return run(&opts);
}
