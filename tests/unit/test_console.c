/* The console over its real Unix/TCP sockets, against a fake engine behind console_backend, on a
 * real libuv loop in its own thread. Also: `test_console --serve SOCKET` runs that server until
 * killed and `test_console --client ARGS` runs the client (both for tests/console_tmux.sh). */
#include "check.h"
#include "console/console.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define SECRET "hunter22-very-secret"

/* ---- the fake engine ---- */

typedef struct fake_engine {
    char deadletter_dir[256];
    bool reload_fails;
    char paused[64];
    char last_replay[4096];
    char last_replay_processor[64];
    int replays;
    char last_chunk[4096];
} fake_engine;

static char *fake_stats(void *e)
{
    (void)e;
    return strdup("{\"events_total\":42}");
}
static char *fake_sources(void *e)
{
    (void)e;
    return strdup("[{\"name\":\"webhook\",\"type\":\"webhook\",\"state\":\"running\"}]");
}
static char *fake_processors(void *e)
{
    (void)e;
    return strdup("[{\"name\":\"knative\",\"delivered\":7}]");
}
static char *fake_scripts(void *e)
{
    (void)e;
    return strdup("{\"dir\":\"/scripts\",\"scripts\":[{\"name\":\"a.lua\",\"errors\":0}]}");
}
static char *fake_config(void *e)
{
    (void)e;
    return strdup("{\"processor\":{\"auth\":{\"password\":\"" SECRET "\"}}}");
}
static int fake_reload(void *e, char *err, size_t cap)
{
    fake_engine *f = e;
    if (f->reload_fails) {
        snprintf(err, cap, "a.lua:3: unexpected symbol");
        return -1;
    }
    return 0;
}
static int fake_pause(void *e, const char *name, bool pause, char *err, size_t cap)
{
    fake_engine *f = e;
    if (strcmp(name, "webhook") != 0) {
        snprintf(err, cap, "no source named %s", name);
        return -1;
    }
    snprintf(f->paused, sizeof f->paused, "%s", pause ? name : "");
    return 0;
}
static int fake_replay(void *e, const char *json, const char *processor, char *err, size_t cap)
{
    fake_engine *f = e;
    if (strstr(json, "\"bad-")) {
        snprintf(err, cap, "processor refused it");
        return -1;
    }
    snprintf(f->last_replay, sizeof f->last_replay, "%s", json);
    snprintf(f->last_replay_processor, sizeof f->last_replay_processor, "%s",
             processor ? processor : "(all)");
    f->replays++;
    return 0;
}
static char *fake_test_script(void *e, const char *script, const char *json, char *err, size_t cap)
{
    (void)e;
    if (strcmp(script, "a.lua") != 0) {
        snprintf(err, cap, "no script named %s", script);
        return NULL;
    }
    cJSON *result = cJSON_CreateObject();
    cJSON_AddStringToObject(result, "verdict", "kept");
    cJSON_AddItemToObject(result, "event", cJSON_Parse(json));
    char *text = cJSON_PrintUnformatted(result);
    cJSON_Delete(result);
    return text;
}
static const char *fake_deadletter_dir(void *e)
{
    return ((fake_engine *)e)->deadletter_dir;
}
static char *fake_eval(void *e, const char *chunk, char *err, size_t cap)
{
    fake_engine *f = e;
    snprintf(f->last_chunk, sizeof f->last_chunk, "%s", chunk);
    if (strstr(chunk, "error(")) {
        snprintf(err, cap, "console:1: boom");
        return NULL;
    }
    size_t len = strlen(chunk) + 8;
    char *out = malloc(len);
    snprintf(out, len, "lua: %s", chunk);
    return out;
}

static fake_engine engine;
static console_backend backend = {
    .engine = &engine,
    .stats_json = fake_stats,
    .sources_json = fake_sources,
    .processors_json = fake_processors,
    .scripts_json = fake_scripts,
    .config_json = fake_config,
    .reload = fake_reload,
    .pause_source = fake_pause,
    .replay = fake_replay,
    .test_script = fake_test_script,
    .deadletter_dir = fake_deadletter_dir,
    .eval_lua = fake_eval,
};

/* ---- the loop thread: everything touching the console runs there ---- */

static uv_loop_t loop;
static uv_thread_t loop_thread;
static uv_async_t wakeup;
static uv_sem_t done;
static void (*job)(void *);
static void *job_arg;
static bool stopping;

static void on_wakeup(uv_async_t *handle)
{
    if (job) {
        job(job_arg);
        job = NULL;
        uv_sem_post(&done);
    }
    if (stopping)
        uv_close((uv_handle_t *)handle, NULL);
}

static void run_loop(void *arg)
{
    (void)arg;
    uv_run(&loop, UV_RUN_DEFAULT);
}

static void on_loop(void (*fn)(void *), void *arg)
{
    job = fn;
    job_arg = arg;
    uv_async_send(&wakeup);
    uv_sem_wait(&done);
}

typedef struct start_job {
    console_options options;
    console *result;
    char err[256];
} start_job;

static void do_start(void *arg)
{
    start_job *j = arg;
    j->result = console_start(&loop, &j->options, &backend, j->err, sizeof j->err);
}

static console *start_console(const char *path, const char *tcp, const char *token, char *err)
{
    start_job j = {
        .options = {
            .socket_path = path, .tcp_address = tcp, .tcp_token = token, .recent_capacity = 100}};
    on_loop(do_start, &j);
    if (err)
        strcpy(err, j.err);
    return j.result;
}

static void do_close(void *arg)
{
    console_close(arg);
}

static void close_console(console *c)
{
    on_loop(do_close, c);
}

/* ---- publishing events as the engine would ---- */

typedef struct publish_job {
    console *c;
    const char *id, *type, *subject;
    bool with_steps;
    int count; /* > 1: ids are "<id>-<n>" */
} publish_job;

static void do_publish(void *arg)
{
    publish_job *j = arg;
    event *ev = event_new();
    event_set_attribute(ev, "specversion", "1.0");
    event_set_attribute(ev, "source", "/vcenter");
    event_set_attribute(ev, "type", j->type);
    if (j->subject)
        event_set_attribute(ev, "subject", j->subject);
    const char *data = "{\"vm\":\"web-1\"}";
    event_set_data(ev, data, strlen(data), true);
    ev->source_name = "webhook";
    for (int n = 0; n < (j->count ? j->count : 1); n++) {
        char id[64];
        if (j->count > 1)
            snprintf(id, sizeof id, "%s-%d", j->id, n);
        else
            snprintf(id, sizeof id, "%s", j->id);
        event_set_attribute(ev, "id", id);
        ev->sequence++;
        console_trace_begin(j->c, ev);
        if (j->with_steps) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            double now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
            trace_step script = {TRACE_SCRIPT, "a.lua", "kept", now};
            trace_step routed = {TRACE_ROUTED, "", "knative", now + 0.001};
            trace_step delivered = {TRACE_DELIVERED, "knative", "HTTP 202 after 1 attempt(s)",
                                    now + 0.002};
            console_trace_step(j->c, ev, &script);
            console_trace_step(j->c, ev, &routed);
            console_trace_step(j->c, ev, &delivered);
        }
    }
    event_unref(ev);
}

static void publish(console *c, const char *id, const char *type, const char *subject)
{
    publish_job j = {.c = c, .id = id, .type = type, .subject = subject, .with_steps = true};
    on_loop(do_publish, &j);
}

typedef struct buffered_job {
    console *c;
    size_t bytes;
} buffered_job;

static void do_buffered(void *arg)
{
    buffered_job *j = arg;
    j->bytes = console_buffered_bytes(j->c);
}

/* ---- a client over the real socket ---- */

static int connect_path(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static int connect_port(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close(fd);
        return -1;
    }
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void send_text(int fd, const char *text)
{
    size_t len = strlen(text);
    while (len > 0) {
        ssize_t n = send(fd, text, len, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        text += n;
        len -= (size_t)n;
    }
}

/* Reads one line (without newline) byte by byte; false on EOF/timeout. */
static bool read_line(int fd, char *out, size_t cap)
{
    size_t len = 0;
    for (;;) {
        char ch;
        ssize_t n = recv(fd, &ch, 1, 0);
        if (n <= 0)
            return false;
        if (ch == '\n')
            break;
        if (len + 1 < cap)
            out[len++] = ch;
    }
    out[len] = '\0';
    return true;
}

static char answer[1 << 20];

/* Sends one request and collects the whole answer (all lines) into `answer`; 1 ok, 0 error,
 * -1 when the connection ended first. */
static int request(int fd, const char *text)
{
    send_text(fd, text);
    send_text(fd, "\n");
    answer[0] = '\0';
    size_t used = 0;
    char line[65536];
    while (read_line(fd, line, sizeof line)) {
        used += (size_t)snprintf(answer + used, sizeof answer - used, "%s\n", line);
        if (strcmp(line, "ok") == 0)
            return 1;
        if (strncmp(line, "error: ", 7) == 0)
            return 0;
    }
    return -1;
}

static char temp_dir[] = "/tmp/test_console_XXXXXX";
static char socket_path[512];
static console *main_console;

/* ---- tests ---- */

static void test_help_and_backend_documents(void)
{
    int fd = connect_path(socket_path);
    CHECK(fd >= 0);
    CHECK(request(fd, "help") == 1);
    CHECK_CONTAINS(answer, "| deadletter replay PROCESSOR [N|all]");
    CHECK(request(fd, "stats") == 1);
    CHECK_CONTAINS(answer, "\"events_total\":\t42");
    CHECK(request(fd, "sources") == 1);
    CHECK_CONTAINS(answer, "\"state\":\t\"running\"");
    CHECK(request(fd, "processors") == 1);
    CHECK_CONTAINS(answer, "\"delivered\":\t7");
    CHECK(request(fd, "scripts") == 1);
    CHECK_CONTAINS(answer, "a.lua");
    CHECK(request(fd, "") == 1);
    CHECK_STR(answer, "ok\n");
    close(fd);
}

static void test_secrets_masked(void)
{
    int fd = connect_path(socket_path);
    CHECK(request(fd, "config") == 1);
    CHECK_CONTAINS(answer, "\"password\":\t\"*****\"");
    CHECK(strstr(answer, SECRET) == NULL);
    /* Also in Lua output and in errors echoing what the user typed. */
    CHECK(request(fd, "= '" SECRET "'") == 1);
    CHECK(strstr(answer, SECRET) == NULL);
    CHECK(request(fd, "error('" SECRET "')") == 0);
    CHECK(strstr(answer, SECRET) == NULL);
    CHECK(request(fd, "show " SECRET) == 0);
    CHECK_CONTAINS(answer, "error: no recent event with id *****");
    close(fd);
}

static void test_lua(void)
{
    int fd = connect_path(socket_path);
    CHECK(request(fd, "= 1 + 1") == 1);
    CHECK_STR(engine.last_chunk, "return  1 + 1");
    CHECK_STR(answer, "| lua: return  1 + 1\nok\n");
    CHECK(request(fd, "x = 5") == 1);
    CHECK_STR(engine.last_chunk, "x = 5");
    CHECK(request(fd, "<<<\nfor i = 1, 3 do\n  y = i\nend\n>>>") == 1);
    CHECK_STR(engine.last_chunk, "for i = 1, 3 do\n  y = i\nend\n");
    CHECK_CONTAINS(answer, "| lua: for i = 1, 3 do\n|   y = i\n| end\nok\n");
    CHECK(request(fd, "error('x')") == 0);
    CHECK_STR(answer, "error: console:1: boom\n");
    close(fd);
}

static void test_ring_last_show(void)
{
    publish(main_console, "e1", "com.vmware.VmPoweredOnEvent", "web-1");
    publish(main_console, "e2", "com.vmware.VmPoweredOffEvent", "web-2");
    publish(main_console, "e3", "com.vmware.VmPoweredOnEvent", "db-1");
    int fd = connect_path(socket_path);
    CHECK(request(fd, "last 2") == 1);
    CHECK(strstr(answer, " e1 ") == NULL);
    CHECK_CONTAINS(answer, " e2 type=com.vmware.VmPoweredOffEvent subject=web-2");
    CHECK_CONTAINS(answer, " e3 type=com.vmware.VmPoweredOnEvent subject=db-1");
    CHECK(strstr(answer, " e2 ") < strstr(answer, " e3 ")); /* oldest first */
    CHECK_CONTAINS(answer, "|   +");
    CHECK_CONTAINS(answer, "delivered knative: HTTP 202 after 1 attempt(s)");
    CHECK(request(fd, "last x") == 0);
    CHECK(request(fd, "show e1") == 1);
    CHECK_CONTAINS(answer, "\"id\":\t\"e1\"");
    CHECK_CONTAINS(answer, "\"vm\":\t\"web-1\"");
    CHECK_CONTAINS(answer, "script a.lua: kept");
    CHECK_CONTAINS(answer, "s routed: knative");
    CHECK(request(fd, "show nope") == 0);
    CHECK_CONTAINS(answer, "error: no recent event with id nope");
    CHECK(request(fd, "show") == 0);
    close(fd);
}

static void test_test_script(void)
{
    int fd = connect_path(socket_path);
    CHECK(request(fd, "test a.lua e2") == 1);
    CHECK_CONTAINS(answer, "\"verdict\":\t\"kept\"");
    CHECK_CONTAINS(answer, "\"id\":\t\"e2\"");
    CHECK(request(fd, "test a.lua") == 1); /* the newest */
    CHECK_CONTAINS(answer, "\"id\":\t\"e3\"");
    CHECK(request(fd, "test a.lua {\"specversion\": \"1.0\", \"id\": \"lit\"}") == 1);
    CHECK_CONTAINS(answer, "\"id\":\t\"lit\"");
    CHECK(request(fd, "test b.lua e2") == 0);
    CHECK_CONTAINS(answer, "error: no script named b.lua");
    CHECK(request(fd, "test a.lua nope") == 0);
    CHECK(request(fd, "test") == 0);
    close(fd);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static char *read_file(const char *path)
{
    static char buf[65536];
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

#define DL_LINE(id)                                                                                \
    "{\"time\":\"2026-01-01T00:00:00Z\",\"processor\":\"knative\",\"attempts\":3,\"error\":"       \
    "\"HTTP 503\",\"event\":{\"specversion\":\"1.0\",\"id\":\"" id "\",\"source\":\"/s\","         \
    "\"type\":\"t\"}}\n"

static void test_replay_and_deadletter(void)
{
    char path[600];
    snprintf(path, sizeof path, "%s/knative.jsonl", engine.deadletter_dir);
    write_file(path, DL_LINE("dl-1") DL_LINE("bad-2") DL_LINE("dl-3") DL_LINE("dl-4"));
    int fd = connect_path(socket_path);

    CHECK(request(fd, "replay e2") == 1);
    CHECK_CONTAINS(engine.last_replay, "\"id\":\"e2\"");
    CHECK_STR(engine.last_replay_processor, "(all)");
    CHECK(request(fd, "replay e1 knative") == 1);
    CHECK_CONTAINS(engine.last_replay, "\"id\":\"e1\"");
    CHECK_STR(engine.last_replay_processor, "knative");
    CHECK(request(fd, "replay dl-3") == 1); /* not in the ring: from the dead letters */
    CHECK_CONTAINS(answer, "from dead letters");
    CHECK_CONTAINS(engine.last_replay, "\"id\":\"dl-3\"");
    CHECK(request(fd, "replay nope") == 0);
    CHECK(request(fd, "replay bad-2") == 0);
    CHECK_CONTAINS(answer, "error: replay failed: processor refused it");

    CHECK(request(fd, "deadletter list") == 1);
    CHECK_CONTAINS(answer, "| knative  4  ");
    CHECK(request(fd, "deadletter show knative 2") == 1);
    CHECK_CONTAINS(answer, "#1 2026-01-01T00:00:00Z attempts=3 error=HTTP 503");
    CHECK_CONTAINS(answer, "\"id\":\"bad-2\"");
    CHECK(strstr(answer, "dl-3") == NULL);
    CHECK(request(fd, "deadletter show nothing") == 0);
    CHECK(request(fd, "deadletter show ../etc") == 0);
    CHECK(request(fd, "deadletter bogus") == 0);

    /* The first three: dl-1 goes, bad-2 fails and stays, dl-3 goes; dl-4 untouched. */
    int before = engine.replays;
    CHECK(request(fd, "deadletter replay knative 3") == 1);
    CHECK_CONTAINS(answer, "replayed 2 of 3, 2 left");
    CHECK_CONTAINS(answer, "#2: replay failed, kept: processor refused it");
    CHECK(engine.replays == before + 2);
    CHECK_STR(read_file(path), DL_LINE("bad-2") DL_LINE("dl-4"));
    CHECK(request(fd, "deadletter replay knative all") == 1);
    CHECK_STR(read_file(path), DL_LINE("bad-2"));
    CHECK(request(fd, "deadletter replay knative x") == 0);
    close(fd);
}

/* A line written for an event that was not UTF-8: "event" shows U+FFFD, "event_base64" holds the
 * exact structured JSON (subject "caf\xff"). Both replays must hand over the exact bytes. */
#define DL_BASE64_EXACT                                                                            \
    "{\"specversion\":\"1.0\",\"id\":\"b64-1\",\"source\":\"/s\",\"type\":\"t\",\"subject\":"      \
    "\"caf\xff\"}"
#define DL_BASE64_LINE                                                                             \
    "{\"time\":\"2026-01-01T00:00:00Z\",\"processor\":\"knative\",\"attempts\":1,\"error\":"       \
    "\"HTTP 400\",\"event\":{\"specversion\":\"1.0\",\"id\":\"b64-1\",\"source\":\"/s\","          \
    "\"type\":\"t\",\"subject\":\"caf\xef\xbf\xbd\"},\"note\":\"not UTF-8\",\"event_base64\":"     \
    "\"eyJzcGVjdmVyc2lvbiI6IjEuMCIsImlkIjoiYjY0LTEiLCJzb3VyY2UiOiIvcyIsInR5cGUiOiJ0Iiwic3ViamVjdC" \
    "I6"                                                                                           \
    "ImNhZv8ifQ==\"}\n"

static void test_deadletter_replay_base64(void)
{
    char path[600];
    snprintf(path, sizeof path, "%s/knative.jsonl", engine.deadletter_dir);
    write_file(path, DL_BASE64_LINE);
    int fd = connect_path(socket_path);
    CHECK(request(fd, "replay b64-1 knative") == 1);
    CHECK_STR(engine.last_replay, DL_BASE64_EXACT);
    engine.last_replay[0] = '\0';
    CHECK(request(fd, "deadletter replay knative all") == 1);
    CHECK_CONTAINS(answer, "replayed 1 of 1, 0 left");
    CHECK_STR(engine.last_replay, DL_BASE64_EXACT);
    CHECK_STR(read_file(path), "");
    /* event_base64 that is not base64: kept, never replayed from the U+FFFD view. */
    write_file(path, "{\"event\":{\"specversion\":\"1.0\",\"id\":\"x\",\"source\":\"/s\",\"type\":"
                     "\"t\"},\"event_base64\":\"%%%\"}\n");
    CHECK(request(fd, "deadletter replay knative all") == 1);
    CHECK_CONTAINS(answer, "replayed 0 of 1, 1 left");
    close(fd);
}

static void test_reload_pause_log_level(void)
{
    int fd = connect_path(socket_path);
    CHECK(request(fd, "reload") == 1);
    engine.reload_fails = true;
    CHECK(request(fd, "reload") == 0);
    CHECK_CONTAINS(answer, "error: reload failed: a.lua:3: unexpected symbol");
    engine.reload_fails = false;
    CHECK(request(fd, "pause webhook") == 1);
    CHECK_STR(engine.paused, "webhook");
    CHECK(request(fd, "resume webhook") == 1);
    CHECK_STR(engine.paused, "");
    CHECK(request(fd, "pause vcenter") == 0);
    CHECK_CONTAINS(answer, "error: no source named vcenter");
    CHECK(request(fd, "pause") == 0);
    log_level saved = log_get_level();
    CHECK(request(fd, "log-level debug") == 1);
    CHECK(log_get_level() == LOG_LEVEL_DEBUG);
    CHECK(request(fd, "log-level loud") == 0);
    CHECK(request(fd, "log-level") == 1);
    CHECK_CONTAINS(answer, "log level debug");
    log_set_level(saved);
    close(fd);
}

/* Reads tail output until "ok", counting event lines and skipped events. */
static void read_tail_to_end(int fd, size_t *lines, size_t *skipped, char *text, size_t cap)
{
    char line[4096];
    size_t used = 0;
    while (read_line(fd, line, sizeof line)) {
        if (strcmp(line, "ok") == 0)
            return;
        size_t n = 0;
        if (sscanf(line, "| ... %zu events skipped", &n) == 1)
            *skipped += n;
        else if (strstr(line, " event type="))
            (*lines)++;
        if (text)
            used += (size_t)snprintf(text + used, cap - used, "%s\n", line);
    }
}

static void test_tail_with_filter(void)
{
    int tailer = connect_path(socket_path);
    int other = connect_path(socket_path);
    char line[4096];
    send_text(tailer, "tail 5 subject=web-1\n");
    /* The backlog (e1 matches) first, then the start marker. */
    CHECK(read_line(tailer, line, sizeof line));
    CHECK_CONTAINS(line, " e1 type=");
    while (read_line(tailer, line, sizeof line) && !strstr(line, "tailing"))
        ;
    CHECK_CONTAINS(line, "tailing");
    publish(main_console, "t1", "com.vmware.A", "web-1");
    publish(main_console, "t2", "com.vmware.B", "web-2");
    /* Another client is served meanwhile. */
    CHECK(request(other, "stats") == 1);
    publish(main_console, "t3", "com.vmware.C", "web-1 " SECRET);
    publish(main_console, "t4", "com.vmware.D", "web-1");
    send_text(tailer, "\n");
    size_t lines = 0, skipped = 0;
    static char text[65536];
    read_tail_to_end(tailer, &lines, &skipped, text, sizeof text);
    CHECK_CONTAINS(text, " t1 event type=com.vmware.A");
    CHECK_CONTAINS(text, " t1 delivered knative: HTTP 202");
    CHECK(strstr(text, " t2 ") == NULL);
    CHECK(strstr(text, " t3 ") == NULL); /* key=value is exact */
    CHECK_CONTAINS(text, " t4 event type=com.vmware.D");
    CHECK(lines == 2 && skipped == 0);
    /* Substring filter on type; the connection is usable after a tail. */
    send_text(tailer, "tail VmPoweredOff\n");
    while (read_line(tailer, line, sizeof line) && !strstr(line, "tailing"))
        ;
    publish(main_console, "t5", "com.vmware.VmPoweredOffEvent", "x");
    publish(main_console, "t6", "com.vmware.VmPoweredOnEvent", SECRET);
    publish(main_console, "t7", "other", "subject " SECRET);
    send_text(tailer, "stop\n");
    text[0] = '\0';
    lines = 0;
    read_tail_to_end(tailer, &lines, &skipped, text, sizeof text);
    CHECK(lines == 1);
    CHECK_CONTAINS(text, " t5 event");
    /* The secret in a subject is masked on the way out. */
    send_text(tailer, "tail " SECRET "\n");
    while (read_line(tailer, line, sizeof line) && !strstr(line, "tailing"))
        ;
    publish(main_console, "t8", "other", "subject " SECRET);
    send_text(tailer, "\n");
    text[0] = '\0';
    read_tail_to_end(tailer, &lines, &skipped, text, sizeof text);
    CHECK_CONTAINS(text, " t8 event type=other subject=subject *****");
    CHECK(strstr(text, SECRET) == NULL);
    CHECK(request(tailer, "stats") == 1);
    close(tailer);
    close(other);
}

static void test_slow_client_stays_bounded(void)
{
    int slow = connect_path(socket_path);
    int small = 4096;
    setsockopt(slow, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    char line[4096];
    send_text(slow, "tail\n");
    while (read_line(slow, line, sizeof line) && !strstr(line, "tailing"))
        ;
    enum { TOTAL = 100000 };
    publish_job j = {.c = main_console, .id = "flood", .type = "com.vmware.Flood", .count = TOTAL};
    on_loop(do_publish, &j);
    buffered_job b = {.c = main_console};
    on_loop(do_buffered, &b);
    fprintf(stderr, "  buffered after %d traces to a client that does not read: %zu bytes\n", TOTAL,
            b.bytes);
    CHECK(b.bytes > 0);
    CHECK(b.bytes <= 64 * 1024 + 4096);
    /* The engine is still answering others. */
    int other = connect_path(socket_path);
    CHECK(request(other, "stats") == 1);
    close(other);
    send_text(slow, "\n");
    size_t lines = 0, skipped = 0;
    read_tail_to_end(slow, &lines, &skipped, NULL, 0);
    fprintf(stderr, "  shown %zu, skipped %zu\n", lines, skipped);
    CHECK(skipped > 0);
    CHECK(lines > 0);
    CHECK(lines + skipped == TOTAL);
    close(slow);
}

static void test_socket_claiming(void)
{
    char err[256] = "";
    struct stat st;
    CHECK(stat(socket_path, &st) == 0 && (st.st_mode & 0777) == 0600);
    /* A live engine's socket is not stolen. */
    CHECK(start_console(socket_path, NULL, NULL, err) == NULL);
    CHECK_CONTAINS(err, "another engine is listening");
    /* A stale one (nobody listening) is replaced. */
    char stale[600];
    snprintf(stale, sizeof stale, "%s/stale.sock", temp_dir);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    memcpy(addr.sun_path, stale, strlen(stale) + 1); /* temp paths are short */
    CHECK(bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0);
    close(fd);
    console *c = start_console(stale, NULL, NULL, err);
    CHECK(c != NULL);
    int client = connect_path(stale);
    CHECK(client >= 0 && request(client, "stats") == 1);
    close(client);
    close_console(c);
    CHECK(access(stale, F_OK) != 0); /* removed on close */
    /* A regular file is never deleted. */
    char plain[600];
    snprintf(plain, sizeof plain, "%s/plain", temp_dir);
    write_file(plain, "keep me");
    CHECK(start_console(plain, NULL, NULL, err) == NULL);
    CHECK_CONTAINS(err, "not a socket");
    CHECK_STR(read_file(plain), "keep me");
    unlink(plain);
}

static void test_tcp_token(void)
{
    char err[256] = "", path[600];
    snprintf(path, sizeof path, "%s/tcp.sock", temp_dir);
    CHECK(start_console(path, "0.0.0.0:0", "tok-123456", err) == NULL);
    CHECK_CONTAINS(err, "only loopback");
    CHECK(start_console(path, "127.0.0.1:0", NULL, err) == NULL);
    console *c = start_console(path, "127.0.0.1:0", "tok-123456", err);
    CHECK(c != NULL);
    if (!c)
        return;
    int port = console_tcp_port(c);
    CHECK(port > 0);
    int fd = connect_port(port);
    CHECK(request(fd, "stats") == 0); /* no auth: refused and closed */
    CHECK_CONTAINS(answer, "authentication required");
    char line[256];
    CHECK(!read_line(fd, line, sizeof line));
    close(fd);
    fd = connect_port(port);
    CHECK(request(fd, "auth tok-12345") == 0);
    close(fd);
    fd = connect_port(port);
    CHECK(request(fd, "auth tok-123456") == 1);
    CHECK(request(fd, "stats") == 1);
    CHECK_CONTAINS(answer, "events_total");
    close(fd);
    close_console(c);
}

/* The real client binary path (this program in --client mode), piped. */
static int run_client(const char *input, char *out, size_t cap)
{
    char in_path[600], out_path[600];
    snprintf(in_path, sizeof in_path, "%s/client.in", temp_dir);
    snprintf(out_path, sizeof out_path, "%s/client.out", temp_dir);
    write_file(in_path, input);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, in_path, O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    self[n > 0 ? n : 0] = '\0';
    char *argv[] = {self, "--client", "--socket", socket_path, NULL};
    pid_t pid;
    int status = -1;
    if (posix_spawn(&pid, self, &actions, NULL, argv, environ) == 0)
        waitpid(pid, &status, 0);
    posix_spawn_file_actions_destroy(&actions);
    snprintf(out, cap, "%s", read_file(out_path) ? read_file(out_path) : "");
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_client_piped(void)
{
    static char out[65536];
    CHECK(run_client("stats\nlog-level\n", out, sizeof out) == 0);
    CHECK_CONTAINS(out, "\"events_total\":\t42");
    CHECK_CONTAINS(out, "log level");
    CHECK(strstr(out, "| ") == NULL); /* framing is the client's business */
    CHECK(run_client("stats\nshow nope\nsources\n", out, sizeof out) == 1);
    CHECK_CONTAINS(out, "error: no recent event with id nope");
    CHECK_CONTAINS(out, "\"state\":\t\"running\"");
    /* A Lua block over several lines goes as one request. */
    CHECK(run_client("function f(x)\n  return x\nend\n= f(1)\n", out, sizeof out) == 0);
    CHECK_CONTAINS(out, "lua: function f(x)\n  return x\nend\n");
    CHECK_CONTAINS(out, "lua: return  f(1)");
    CHECK(run_client("tail 0 do\nlast 1\n", out, sizeof out) == 0); /* a command: no block */
    CHECK_CONTAINS(out, "tailing");
    CHECK(run_client("x = 1 + \\\n 2\n", out, sizeof out) == 0);
    CHECK_STR(engine.last_chunk, "x = 1 + \n 2\n");
    /* A piped tail ends at the next line, which then runs. */
    CHECK(run_client("tail 1\nlast 1\n", out, sizeof out) == 0);
    CHECK_CONTAINS(out, "tailing");
    const char *after_tail = strstr(out, "tailing");
    CHECK(after_tail && strstr(after_tail, " type=") != NULL); /* `last 1` ran after it */
}

static int serve_forever(const char *path)
{
    uv_loop_init(&loop);
    char err[256];
    snprintf(engine.deadletter_dir, sizeof engine.deadletter_dir, "/nonexistent");
    console_options options = {.socket_path = path};
    console *c = console_start(&loop, &options, &backend, err, sizeof err);
    if (!c) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    main_console = c;
    publish_job j = {.c = c, .id = "demo", .type = "com.vmware.Demo", .with_steps = true};
    do_publish(&j);
    uv_run(&loop, UV_RUN_DEFAULT);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--client") == 0)
        return console_client_main(argc - 1, argv + 1);
    if (argc > 2 && strcmp(argv[1], "--serve") == 0)
        return serve_forever(argv[2]);
    signal(SIGPIPE, SIG_IGN);
    log_set_level(LOG_LEVEL_ERROR);
    log_register_secret(SECRET);
    CHECK(mkdtemp(temp_dir) != NULL);
    snprintf(socket_path, sizeof socket_path, "%s/console.sock", temp_dir);
    snprintf(engine.deadletter_dir, sizeof engine.deadletter_dir, "%s/dead", temp_dir);
    mkdir(engine.deadletter_dir, 0700);

    uv_loop_init(&loop);
    uv_async_init(&loop, &wakeup, on_wakeup);
    uv_sem_init(&done, 0);
    uv_thread_create(&loop_thread, run_loop, NULL);
    char err[256] = "";
    main_console = start_console(socket_path, NULL, NULL, err);
    CHECK(main_console != NULL);
    if (!main_console) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }

    RUN_TEST(test_help_and_backend_documents);
    RUN_TEST(test_secrets_masked);
    RUN_TEST(test_lua);
    RUN_TEST(test_ring_last_show);
    RUN_TEST(test_test_script);
    RUN_TEST(test_replay_and_deadletter);
    RUN_TEST(test_deadletter_replay_base64);
    RUN_TEST(test_reload_pause_log_level);
    RUN_TEST(test_tail_with_filter);
    RUN_TEST(test_slow_client_stays_bounded);
    RUN_TEST(test_socket_claiming);
    RUN_TEST(test_tcp_token);
    RUN_TEST(test_client_piped);

    close_console(main_console);
    CHECK(access(socket_path, F_OK) != 0);
    stopping = true;
    uv_async_send(&wakeup);
    uv_thread_join(&loop_thread);
    CHECK(uv_loop_close(&loop) == 0); /* every handle closed, nothing leaked */
    uv_sem_destroy(&done);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf %s", temp_dir);
    CHECK(system(cmd) == 0);
    log_forget_secrets();
    return CHECK_DONE();
}
