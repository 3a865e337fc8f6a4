#include "deadletter.h"

#include "log.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

struct deadletter {
    char *dir;
};

/* mkdir -p: the dead-letter directory is often a fresh path like ./deadletter/prod. */
static int make_directories(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return -1;
    for (char *p = copy + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(copy, 0750) != 0 && errno != EEXIST) {
            free(copy);
            return -1;
        }
        *p = '/';
    }
    int rc = mkdir(copy, 0750) != 0 && errno != EEXIST ? -1 : 0;
    free(copy);
    return rc;
}

deadletter *deadletter_open(const char *dir, char *err, size_t err_cap)
{
    if (make_directories(dir) != 0) {
        snprintf(err, err_cap, "dead-letter directory %s: %s", dir, strerror(errno));
        return NULL;
    }
    deadletter *dl = calloc(1, sizeof *dl);
    if (!dl || !(dl->dir = strdup(dir))) {
        free(dl);
        snprintf(err, err_cap, "out of memory");
        return NULL;
    }
    return dl;
}

const char *deadletter_dir(const deadletter *dl)
{
    return dl->dir;
}

bool deadletter_write(deadletter *dl, const char *processor, const event *ev, int attempts,
                      const char *last_error)
{
    char stamp[32];
    time_t now = time(NULL);
    struct tm utc;
    gmtime_r(&now, &utc);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &utc);

    cJSON *line = cJSON_CreateObject();
    cJSON_AddStringToObject(line, "time", stamp);
    cJSON_AddStringToObject(line, "processor", processor);
    cJSON_AddNumberToObject(line, "attempts", attempts);
    cJSON_AddStringToObject(line, "error", last_error ? last_error : "");
    cJSON_AddItemToObject(line, "event", event_to_json(ev));
    char *text = cJSON_PrintUnformatted(line);
    cJSON_Delete(line);

    char path[4096];
    snprintf(path, sizeof path, "%s/%s.jsonl", dl->dir, processor);
    bool ok = false;
    FILE *file = text ? fopen(path, "a") : NULL;
    if (file) {
        ok = fprintf(file, "%s\n", text) > 0;
        ok = fflush(file) == 0 && ok;
        ok = fclose(file) == 0 && ok;
    }
    if (!ok)
        log_error("deadletter", "could not write event %s to %s: %s", ev->id ? ev->id : "?", path,
                  strerror(errno));
    free(text);
    return ok;
}

void deadletter_close(deadletter *dl)
{
    if (!dl)
        return;
    free(dl->dir);
    free(dl);
}
