#include "deadletter.h"

#include "directories.h"
#include "log.h"
#include "utf8.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

struct deadletter {
    char *dir;
    uint64_t write_failures;
    bool lazy_sync; /* past the shutdown deadline: one sync at close instead of one per line */
    bool unsynced;  /* lines written lazily and not yet synced */
};

deadletter *deadletter_open(const char *dir, char *err, size_t err_cap)
{
    if (make_directories(dir, 0750) != 0) {
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

bool deadletter_utf8_valid(const char *text, size_t len)
{
    return utf8_valid(text, len);
}

static char *base64(const char *bytes, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    if (out)
        EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)bytes, (int)len);
    return out;
}

char *deadletter_format_line(const char *processor, const event *ev, int attempts,
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
    if (!text || deadletter_utf8_valid(text, strlen(text)))
        return text;

    /* Not UTF-8 (an attribute or a JSON string of the event held other bytes): the line keeps
     * "event" readable with U+FFFD in their place, and "event_base64" keeps the event's exact
     * bytes, so a replay can restore it. */
    /* cJSON escapes every control character and passes other bytes through, so such bytes only
     * occur inside strings, and the readable form is still the same JSON. */
    char *readable = utf8_replace_invalid(text, strlen(text));
    cJSON *original = event_to_json(ev);
    char *exact = original ? cJSON_PrintUnformatted(original) : NULL;
    cJSON_Delete(original);
    char *encoded = exact ? base64(exact, strlen(exact)) : NULL;
    char *out = NULL;
    static const char note[] = ",\"note\":\"the event held bytes that are not UTF-8: they read as "
                               "U+FFFD in event; event_base64 is its exact structured JSON\","
                               "\"event_base64\":\"";
    if (readable && encoded) {
        size_t head = strlen(readable) - 1; /* without the closing brace */
        out = malloc(head + sizeof note + strlen(encoded) + 3);
        if (out)
            sprintf(out, "%.*s%s%s\"}", (int)head, readable, note, encoded);
    }
    free(text);
    free(readable);
    free(exact);
    free(encoded);
    return out;
}

/* open + write + fdatasync + close each time: a dead letter is rare by nature, and it must be on
 * disk before the disk queue forgets the event. The file is private (0600): events can carry
 * whatever the sender put in them. */
static int append_line(const char *path, const char *text, bool sync)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    fchmod(fd, 0600); /* a file from an older version may have been wider */
    size_t len = strlen(text), at = 0;
    int rc = 0;
    struct iovec parts[2] = {{(void *)text, len}, {"\n", 1}};
    size_t total = len + 1;
    while (at < total) {
        ssize_t n;
        if (at < len) {
            struct iovec rest[2] = {{(char *)text + at, len - at}, parts[1]};
            n = writev(fd, rest, 2);
        } else {
            n = write(fd, "\n", 1);
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = -1;
            break;
        }
        at += (size_t)n;
    }
    if (rc == 0 && sync && fdatasync(fd) != 0)
        rc = -1;
    int saved = errno;
    if (close(fd) != 0 && rc == 0)
        rc = -1;
    else
        errno = saved;
    return rc;
}

bool deadletter_write(deadletter *dl, const char *processor, const event *ev, int attempts,
                      const char *last_error)
{
    char *text = deadletter_format_line(processor, ev, attempts, last_error);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.jsonl", dl->dir, processor);
    bool ok = text && append_line(path, text, !dl->lazy_sync) == 0;
    if (ok && dl->lazy_sync)
        dl->unsynced = true;
    if (!ok) {
        dl->write_failures++;
        log_error("deadletter", "could not write event %s to %s: %s", ev->id ? ev->id : "?", path,
                  text ? strerror(errno) : "out of memory");
    }
    free(text);
    return ok;
}

uint64_t deadletter_write_failures(const deadletter *dl)
{
    return dl->write_failures;
}

void deadletter_sync_lazily(deadletter *dl)
{
    dl->lazy_sync = true;
}

void deadletter_close(deadletter *dl)
{
    if (!dl)
        return;
    if (dl->unsynced) {
        int fd = open(dl->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || syncfs(fd) != 0)
            log_error("deadletter", "could not sync %s: %s", dl->dir, strerror(errno));
        if (fd >= 0)
            close(fd);
    }
    free(dl->dir);
    free(dl);
}
