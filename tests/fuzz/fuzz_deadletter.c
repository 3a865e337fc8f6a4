/* Dead-letter files as the console reads them (engine/console/console_deadletter.c): the input is
 * the content of <dir>/knative.jsonl, which a crash may have cut short or a person may have
 * edited. Through a real console on a Unix socket the target runs `deadletter list`,
 * `deadletter show knative all`, `replay 1` (the lookup by id) and `deadletter replay knative all`
 * with a backend that decodes each replayed event as the engine's does (event_from_json). Beyond
 * not crashing: every answer is "| " lines then one "ok" or "error: " line; every replayed event
 * keeps the promise of fuzz_event_check.h; and the rewritten file holds exactly the lines whose
 * replay was refused. */
#include "fuzz_event_check.h"
#include "fuzz_loop.h"

#include "console/console.h"
#include "log.h"
#include "utf8.h"

#include <sys/un.h>
#include <unistd.h>

static uv_loop_t loop;
static console *the_console;
static char dir[128], socket_path[256], file_path[256];
static int client = -1;
static size_t replays_accepted;

static int replay(void *engine, const char *event_json, const char *processor, char *err,
                  size_t err_cap)
{
    (void)engine;
    (void)processor;
    cJSON *parsed = cJSON_Parse(event_json);
    if (!parsed) {
        snprintf(err, err_cap, "not valid JSON");
        return -1;
    }
    char reason[256];
    event *ev = event_from_json(parsed, reason, sizeof reason);
    cJSON_Delete(parsed);
    if (!ev) {
        snprintf(err, err_cap, "not a valid CloudEvent: %s", reason);
        return -1;
    }
    /* A replay gives back the event exactly as it was dead-lettered (event_base64 included):
     * one that held bytes that are not UTF-8 (a script can set any bytes) is restored as it was,
     * and its processor refuses it again. The promise of fuzz_event_check.h holds for the rest. */
    cJSON *json = event_to_json(ev);
    char *text = json ? cJSON_PrintUnformatted(json) : NULL;
    cJSON_Delete(json);
    FUZZ_ASSERT(event_validate(ev, err, err_cap));
    if (text && utf8_valid(text, strlen(text)))
        fuzz_check_event(ev);
    free(text);
    event_unref(ev);
    replays_accepted++;
    return 0;
}

static const char *deadletter_dir(void *engine)
{
    (void)engine;
    return dir;
}

static void remove_files(void)
{
    unlink(file_path);
    unlink(socket_path);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_set_level(LOG_LEVEL_ERROR);
    snprintf(dir, sizeof dir, "%s/fuzz_deadletter_XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    FUZZ_ASSERT(mkdtemp(dir));
    snprintf(socket_path, sizeof socket_path, "%s/console.sock", dir);
    snprintf(file_path, sizeof file_path, "%s/knative.jsonl", dir);
    atexit(remove_files);
    uv_loop_init(&loop);
    console_backend backend = {.replay = replay, .deadletter_dir = deadletter_dir};
    console_options options = {.socket_path = socket_path, .recent_capacity = 10};
    char err[256];
    the_console = console_start(&loop, &options, &backend, err, sizeof err);
    if (!the_console)
        fprintf(stderr, "fuzz_deadletter: %s\n", err);
    FUZZ_ASSERT(the_console);
    return 0;
}

static int connect_console(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    FUZZ_ASSERT(fd >= 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket_path);
    FUZZ_ASSERT(connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0);
    return fd;
}

/* Sends one command and reads its answer to the final line; true for "ok". */
static bool request(const char *command)
{
    if (client < 0)
        client = connect_console();
    FUZZ_ASSERT(fuzz_loop_send(&loop, client, command, strlen(command)));
    FUZZ_ASSERT(fuzz_loop_send(&loop, client, "\n", 1));
    static char line[1 << 20];
    size_t used = 0;
    for (;;) {
        char *nl = memchr(line, '\n', used);
        while (nl) {
            *nl = '\0';
            if (strcmp(line, "ok") == 0 || strncmp(line, "error: ", 7) == 0) {
                bool ok = line[0] == 'o';
                size_t rest = used - (size_t)(nl + 1 - line);
                FUZZ_ASSERT(rest == 0); /* nothing after the final line of the answer */
                return ok;
            }
            if (strncmp(line, "| ", 2) != 0)
                fprintf(stderr, "console answer line without '| ': %.200s\n", line);
            FUZZ_ASSERT(strncmp(line, "| ", 2) == 0);
            used -= (size_t)(nl + 1 - line);
            memmove(line, nl + 1, used);
            nl = memchr(line, '\n', used);
        }
        if (used == sizeof line) /* a long payload line: keep its end only */
            used = 0;
        bool readable = fuzz_loop_wait_readable(&loop, client, 10000);
        if (!readable)
            fprintf(stderr, "no answer to '%s' within 10 s\n", command);
        FUZZ_ASSERT(readable);
        ssize_t n = recv(client, line + used, sizeof line - used, 0);
        if (n == 0)
            fprintf(stderr, "the console closed the connection during '%s'\n", command);
        FUZZ_ASSERT(n != 0);
        if (n > 0)
            used += (size_t)n;
    }
}

static size_t count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t lines = 0, cap = 0;
    char *line = NULL;
    while (getline(&line, &cap, f) > 0)
        lines++;
    free(line);
    fclose(f);
    return lines;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(file_path, "wb");
    FUZZ_ASSERT(f);
    FUZZ_ASSERT(fwrite(data, 1, size, f) == size);
    FUZZ_ASSERT(fclose(f) == 0);
    size_t lines = count_lines(file_path);

    FUZZ_ASSERT(request("deadletter list"));
    FUZZ_ASSERT(request("deadletter show knative all"));
    request("replay 1");
    replays_accepted = 0;
    FUZZ_ASSERT(request("deadletter replay knative all"));
    size_t kept = count_lines(file_path);
    if (kept != lines - replays_accepted)
        fprintf(stderr, "%zu lines, %zu replayed, %zu kept\n", lines, replays_accepted, kept);
    FUZZ_ASSERT(kept == lines - replays_accepted);
    return 0;
}
