#include "lua/test_script.h"

#include "event.h"
#include "log.h"
#include "lua/script_chain.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What er.log wrote while one event ran. */
static void capture_log(void *user, log_level level, const char *component, const char *message)
{
    cJSON *logs = user;
    char line[2200];
    snprintf(line, sizeof line, "%s [%s] %s", log_level_name(level), component, message);
    cJSON_AddItemToArray(logs, cJSON_CreateString(line));
}

static char *read_whole(FILE *file, size_t *len)
{
    size_t cap = 1 << 16, used = 0;
    char *text = malloc(cap);
    while (text) {
        used += fread(text + used, 1, cap - used - 1, file);
        if (used < cap - 1)
            break;
        cap *= 2;
        char *grown = realloc(text, cap);
        if (!grown)
            free(text);
        text = grown;
    }
    if (text)
        text[used] = '\0';
    *len = used;
    return text;
}

/* A chain loads a folder; the script may be a disabled one (*.disabled.lua, _*.lua) that a chain
 * would skip, so it is linked into a fresh folder under a name the loader takes, with the
 * script's lib/ beside it for require. */
static char *stage_script(const char *script, char *err, size_t err_cap)
{
    char resolved[PATH_MAX];
    if (!realpath(script, resolved)) {
        snprintf(err, err_cap, "%s: %s", script, strerror(errno));
        return NULL;
    }
    char dir_template[] = "/tmp/event-router-test-script.XXXXXX";
    if (!mkdtemp(dir_template)) {
        snprintf(err, err_cap, "temporary folder: %s", strerror(errno));
        return NULL;
    }
    char copy[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", resolved);
    char name[NAME_MAX + 1];
    snprintf(name, sizeof name, "%s", basename(copy));
    while (name[0] == '_')
        memmove(name, name + 1, strlen(name));
    char *disabled = strstr(name, ".disabled.lua");
    if (disabled && disabled[13] == '\0')
        strcpy(disabled, ".lua");
    char link_path[PATH_MAX + NAME_MAX + 2];
    snprintf(link_path, sizeof link_path, "%s/%s", dir_template, name);
    snprintf(copy, sizeof copy, "%s", resolved);
    char lib_target[PATH_MAX + 8], lib_link[PATH_MAX + 8];
    snprintf(lib_target, sizeof lib_target, "%s/lib", dirname(copy));
    snprintf(lib_link, sizeof lib_link, "%s/lib", dir_template);
    struct stat st;
    if (symlink(resolved, link_path) != 0 ||
        (stat(lib_target, &st) == 0 && symlink(lib_target, lib_link) != 0)) {
        snprintf(err, err_cap, "staging %s: %s", script, strerror(errno));
        return NULL;
    }
    return strdup(dir_template);
}

/* The staging folder holds only links: remove them, then the folder. */
static void unstage(const char *dir)
{
    DIR *folder = opendir(dir);
    if (folder) {
        struct dirent *entry;
        while ((entry = readdir(folder))) {
            if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
                continue;
            char path[PATH_MAX + NAME_MAX + 2];
            snprintf(path, sizeof path, "%s/%s", dir, entry->d_name);
            unlink(path);
        }
        closedir(folder);
    }
    rmdir(dir);
}

static const char *verdict_name(script_verdict verdict)
{
    return verdict == SCRIPT_DROP ? "drop" : verdict == SCRIPT_DEADLETTER ? "deadletter" : "keep";
}

/* Runs one event; returns its result object, *failed set when the script raised an error. */
static cJSON *run_one_json(script_chain *chain, event *ev, int *failed)
{
    cJSON *line = cJSON_CreateObject();
    cJSON_AddStringToObject(line, "input_id", ev->id);
    cJSON *logs = cJSON_CreateArray();
    log_set_capture(capture_log, logs);
    script_result result = {0};
    script_verdict verdict = script_chain_run(chain, ev, &result);
    log_set_capture(NULL, NULL);
    cJSON_AddStringToObject(line, "verdict", verdict_name(verdict));
    cJSON_AddBoolToObject(line, "changed", result.changed_mask != 0);
    cJSON_AddItemToObject(line, "event", event_to_json(ev));
    if (result.routes) {
        cJSON *routes = cJSON_AddArrayToObject(line, "routes");
        for (size_t i = 0; i < result.route_count; i++)
            cJSON_AddItemToArray(routes, cJSON_CreateString(result.routes[i]));
    } else {
        cJSON_AddNullToObject(line, "routes");
    }
    if (result.error[0])
        cJSON_AddStringToObject(line, "error", result.error);
    else
        cJSON_AddNullToObject(line, "error");
    cJSON_AddItemToObject(line, "logs", logs);
    *failed = result.error[0] != 0;
    script_result_clear(&result);
    return line;
}

/* Runs one event and prints its result line. Returns 0 when the script ran without error. */
static int run_one(script_chain *chain, event *ev)
{
    int failed = 0;
    cJSON *line = run_one_json(chain, ev, &failed);
    char *text = cJSON_PrintUnformatted(line);
    printf("%s\n", text ? text : "{}");
    free(text);
    cJSON_Delete(line);
    return failed;
}

/* An input holds one structured CloudEvent or an array of them. */
static int run_input(script_chain *chain, const char *name, const char *text, size_t len)
{
    cJSON *parsed = cJSON_ParseWithLength(text, len);
    if (!parsed) {
        fprintf(stderr, "test-script: %s: not valid JSON\n", name);
        return 2;
    }
    int status = 0;
    size_t count = cJSON_IsArray(parsed) ? (size_t)cJSON_GetArraySize(parsed) : 1;
    for (size_t i = 0; i < count; i++) {
        const cJSON *item = cJSON_IsArray(parsed) ? cJSON_GetArrayItem(parsed, (int)i) : parsed;
        char reason[256];
        event *ev = event_from_json(item, reason, sizeof reason);
        if (!ev) {
            fprintf(stderr, "test-script: %s: event [%zu]: %s\n", name, i, reason);
            status = 2;
            continue;
        }
        if (run_one(chain, ev) && status == 0)
            status = 1;
        event_unref(ev);
    }
    cJSON_Delete(parsed);
    return status;
}

int test_script_main(int argc, char **argv)
{
    if (argc < 3 || strcmp(argv[2], "--help") == 0) {
        fprintf(stderr, "usage: event-router test-script SCRIPT [EVENT.json ...]\n"
                        "Runs SCRIPT on each event (a structured CloudEvent, or an array of them; "
                        "stdin when no file is given) and prints one JSON line per event: "
                        "input_id, verdict (keep|drop|deadletter), changed, event, routes, error, "
                        "logs. Exit status 1 when the script raised an error, 2 on bad input.\n");
        return 2;
    }
    char err[1024] = "";
    char *dir = stage_script(argv[2], err, sizeof err);
    if (!dir) {
        fprintf(stderr, "test-script: %s\n", err);
        return 2;
    }
    script_chain *chain = script_chain_load(dir, NULL, err, sizeof err);
    if (!chain) {
        fprintf(stderr, "test-script: %s\n", err);
        unstage(dir);
        free(dir);
        return 2;
    }
    int status = 0;
    if (argc == 3) {
        size_t len;
        char *text = read_whole(stdin, &len);
        status = text ? run_input(chain, "stdin", text, len) : 2;
        free(text);
    }
    for (int i = 3; i < argc; i++) {
        FILE *file = fopen(argv[i], "r");
        if (!file) {
            fprintf(stderr, "test-script: %s: %s\n", argv[i], strerror(errno));
            status = 2;
            continue;
        }
        size_t len;
        char *text = read_whole(file, &len);
        fclose(file);
        int one = text ? run_input(chain, argv[i], text, len) : 2;
        if (one > status)
            status = one;
        free(text);
    }
    script_chain_free(chain);
    unstage(dir);
    free(dir);
    return status;
}

char *test_script_run_json(const char *script_path, const char *event_json, char *err,
                           size_t err_cap)
{
    cJSON *parsed = cJSON_Parse(event_json);
    char reason[256] = "not valid JSON";
    event *ev = parsed ? event_from_json(parsed, reason, sizeof reason) : NULL;
    cJSON_Delete(parsed);
    if (!ev) {
        snprintf(err, err_cap, "the event is not a valid CloudEvent: %s", reason);
        return NULL;
    }
    char *dir = stage_script(script_path, err, err_cap);
    script_chain *chain = dir ? script_chain_load(dir, NULL, err, err_cap) : NULL;
    char *text = NULL;
    if (chain) {
        int failed = 0;
        cJSON *line = run_one_json(chain, ev, &failed);
        text = cJSON_PrintUnformatted(line);
        cJSON_Delete(line);
        script_chain_free(chain);
    }
    if (dir) {
        unstage(dir);
        free(dir);
    }
    event_unref(ev);
    return text;
}
