/* The console server: listeners, accepting clients, input framing and tail fan-out, on the engine's
 * loop. Output and closing a client are in console_conn.c, commands in console_commands.c, the ring
 * in console_ring.c. */
#include "console/console_internal.h"

#include <cjson/cJSON.h>
#include "log.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

void console_default_socket_path(char *out, size_t cap)
{
    const char *runtime = getenv("XDG_RUNTIME_DIR");
    if (runtime && *runtime)
        snprintf(out, cap, "%s/event-router.sock", runtime);
    else
        snprintf(out, cap, "/tmp/event-router-%u.sock", (unsigned)getuid());
}

static double now_seconds(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* ---- tail ---- */

static void conn_stop_tail(console_conn *conn)
{
    if (conn->tail_skipped > 0)
        conn_printf(conn, "... %zu events skipped", conn->tail_skipped);
    conn->tailing = false;
    conn->tail_skipped = 0;
    free(conn->tail_filter);
    conn->tail_filter = NULL;
    conn_ok(conn);
}

static void publish(console *c, const event *ev, const trace_step *step, double at)
{
    char line[2048];
    bool formatted = false;
    for (console_conn *conn = c->conns; conn; conn = conn->next) {
        if (!conn->tailing || conn->closing)
            continue;
        if (conn->tail_filter && !console_filter_matches_event(conn->tail_filter, ev))
            continue;
        if (conn->buffered >= CONSOLE_TAIL_BUFFER_LIMIT || conn->tail_skipped > 0) {
            conn->tail_skipped++;
            continue;
        }
        if (!formatted) {
            console_format_trace_line(line, sizeof line, ev, step, at);
            formatted = true;
        }
        conn_print(conn, line);
        conn->tail_shown++;
    }
}

void console_trace_begin(console *c, const event *ev)
{
    if (!c || c->closing || !ev)
        return;
    double at = now_seconds();
    console_ring_begin(&c->ring, ev, at);
    publish(c, ev, NULL, at);
}

void console_trace_step(console *c, const event *ev, const trace_step *step)
{
    if (!c || c->closing || !ev || !step)
        return;
    console_ring_step(&c->ring, ev, step);
    publish(c, ev, step, step->at);
}

/* ---- input ---- */

static bool token_equals(const char *given, const char *expected)
{
    size_t a = strlen(given), b = strlen(expected);
    unsigned char diff = (unsigned char)(a != b);
    for (size_t i = 0; i < b; i++)
        diff |= (unsigned char)(expected[i] ^ (i < a ? given[i] : 0));
    return diff == 0;
}

static void conn_handle_line(console_conn *conn, char *line)
{
    size_t len = strlen(line);
    if (len > 0 && line[len - 1] == '\r')
        line[--len] = '\0';
    if (!conn->authenticated) {
        if (strncmp(line, "auth ", 5) == 0 && conn->owner->tcp_token &&
            token_equals(line + 5, conn->owner->tcp_token)) {
            conn->authenticated = true;
            conn_ok(conn);
        } else {
            conn_error(conn, "authentication required: send \"auth TOKEN\" first");
            conn_close(conn);
        }
        return;
    }
    if (conn->tailing) {
        conn_stop_tail(conn); /* any line ends a tail */
        return;
    }
    if (conn->in_block) {
        if (strcmp(line, ">>>") == 0) {
            conn->in_block = false;
            console_run_request(conn, conn->block ? conn->block : "", true);
            free(conn->block);
            conn->block = NULL;
            conn->block_len = 0;
            return;
        }
        if (conn->block_len + len + 2 > CONSOLE_MAX_REQUEST) {
            conn_error(conn, "block too long (limit %d bytes)", CONSOLE_MAX_REQUEST);
            conn_close(conn);
            return;
        }
        char *grown = realloc(conn->block, conn->block_len + len + 2);
        if (!grown) {
            conn_close(conn);
            return;
        }
        conn->block = grown;
        memcpy(conn->block + conn->block_len, line, len);
        conn->block_len += len;
        conn->block[conn->block_len++] = '\n';
        conn->block[conn->block_len] = '\0';
        return;
    }
    if (strcmp(line, "<<<") == 0) {
        conn->in_block = true;
        return;
    }
    console_run_request(conn, line, false);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    console_conn *conn = handle->data;
    *buf = uv_buf_init(conn->read_buffer, sizeof conn->read_buffer);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    console_conn *conn = stream->data;
    if (nread < 0) {
        conn_close(conn);
        return;
    }
    for (ssize_t i = 0; i < nread && !conn->closing; i++) {
        char ch = buf->base[i];
        if (ch != '\n') {
            if (conn->input_len + 1 >= CONSOLE_MAX_REQUEST) {
                conn_error(conn, "line too long (limit %d bytes)", CONSOLE_MAX_REQUEST);
                conn_close(conn);
                return;
            }
            if (conn->input_len + 1 >= conn->input_cap) {
                size_t cap = conn->input_cap ? conn->input_cap * 2 : 256;
                char *grown = realloc(conn->input, cap);
                if (!grown) {
                    conn_close(conn);
                    return;
                }
                conn->input = grown;
                conn->input_cap = cap;
            }
            conn->input[conn->input_len++] = ch;
            continue;
        }
        char *line = malloc(conn->input_len + 1);
        if (!line) {
            conn_close(conn);
            return;
        }
        memcpy(line, conn->input, conn->input_len);
        line[conn->input_len] = '\0';
        conn->input_len = 0;
        conn_handle_line(conn, line);
        free(line);
    }
}

/* ---- connections ---- */

static void accept_client(console *c, uv_stream_t *server, bool is_tcp)
{
    console_conn *conn = calloc(1, sizeof *conn);
    if (!conn)
        return;
    conn->owner = c;
    conn->authenticated = !is_tcp;
    int rc = is_tcp ? uv_tcp_init(c->loop, &conn->handle.tcp)
                    : uv_pipe_init(c->loop, &conn->handle.pipe, 0);
    if (rc < 0) {
        free(conn);
        return;
    }
    conn->handle.stream.data = conn;
    c->open_handles++;
    conn->next = c->conns;
    c->conns = conn;
    if (uv_accept(server, &conn->handle.stream) < 0 ||
        uv_read_start(&conn->handle.stream, on_alloc, on_read) < 0)
        conn_close(conn);
}

static void on_pipe_connection(uv_stream_t *server, int status)
{
    if (status == 0)
        accept_client(server->data, server, false);
}

static void on_tcp_connection(uv_stream_t *server, int status)
{
    if (status == 0)
        accept_client(server->data, server, true);
}

/* ---- listeners ---- */

/* A socket file nobody answers on is left over from a crash and may go; one that answers belongs
 * to a running engine and must not be stolen. */
static int claim_socket_path(const char *path, char *err, size_t err_cap)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT
                   ? 0
                   : (snprintf(err, err_cap, "console socket %s: %s", path, strerror(errno)), -1);
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, err_cap, "console socket %s: exists and is not a socket", path);
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, err_cap, "console socket: %s", strerror(errno));
        return -1;
    }
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
    int connected = connect(fd, (struct sockaddr *)&addr, sizeof addr);
    int connect_errno = errno;
    close(fd);
    if (connected == 0) {
        snprintf(err, err_cap, "console socket %s: another engine is listening on it", path);
        return -1;
    }
    if (connect_errno != ECONNREFUSED && connect_errno != ENOENT) {
        snprintf(err, err_cap, "console socket %s: %s", path, strerror(connect_errno));
        return -1;
    }
    log_info("console", "replacing stale console socket %s", path);
    if (unlink(path) != 0 && errno != ENOENT) {
        snprintf(err, err_cap, "console socket %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int listen_unix(console *c, const char *path, char *err, size_t err_cap)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path) {
        snprintf(err, err_cap, "console socket path too long: %s", path);
        return -1;
    }
    if (claim_socket_path(path, err, err_cap) != 0)
        return -1;
    memcpy(addr.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(err, err_cap, "console socket: %s", strerror(errno));
        return -1;
    }
    /* Owner only from the first moment: the console can reconfigure and replay. */
    mode_t old_umask = umask(0177);
    int bound = bind(fd, (struct sockaddr *)&addr, sizeof addr);
    int bind_errno = errno;
    umask(old_umask);
    if (bound != 0 || chmod(path, 0600) != 0 || listen(fd, 16) != 0) {
        snprintf(err, err_cap, "console socket %s: %s", path,
                 strerror(bound != 0 ? bind_errno : errno));
        close(fd);
        if (bound == 0)
            unlink(path);
        return -1;
    }
    uv_pipe_init(c->loop, &c->pipe, 0);
    c->pipe.data = c;
    c->open_handles++;
    c->pipe_listening = true;
    int rc = uv_pipe_open(&c->pipe, fd);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&c->pipe, 16, on_pipe_connection);
    if (rc < 0) {
        snprintf(err, err_cap, "console socket %s: %s", path, uv_strerror(rc));
        return -1;
    }
    return 0;
}

/* host:port where host is 127.0.0.1, ::1 or localhost; [::1]:port too. */
static int parse_loopback(const char *address, struct sockaddr_storage *out, char *err,
                          size_t err_cap)
{
    const char *colon = strrchr(address, ':');
    if (!colon || !colon[1]) {
        snprintf(err, err_cap, "console tcp address %s: expected host:port", address);
        return -1;
    }
    char host[64];
    size_t host_len = (size_t)(colon - address);
    if (host_len >= sizeof host) {
        snprintf(err, err_cap, "console tcp address %s: host too long", address);
        return -1;
    }
    memcpy(host, address, host_len);
    host[host_len] = '\0';
    if (host[0] == '[' && host_len > 2 && host[host_len - 1] == ']') {
        memmove(host, host + 1, host_len - 2);
        host[host_len - 2] = '\0';
    }
    char *end = NULL;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535) {
        snprintf(err, err_cap, "console tcp address %s: bad port", address);
        return -1;
    }
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)out) == 0) {
        if ((ntohl(((struct sockaddr_in *)out)->sin_addr.s_addr) >> 24) == 127)
            return 0;
    } else if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)out) == 0) {
        if (IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)out)->sin6_addr))
            return 0;
    }
    snprintf(err, err_cap, "console tcp address %s: only loopback addresses are allowed", address);
    return -1;
}

static int listen_tcp(console *c, const char *address, char *err, size_t err_cap)
{
    struct sockaddr_storage addr;
    if (parse_loopback(address, &addr, err, err_cap) != 0)
        return -1;
    uv_tcp_init(c->loop, &c->tcp);
    c->tcp.data = c;
    c->open_handles++;
    c->tcp_listening = true;
    int rc = uv_tcp_bind(&c->tcp, (struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&c->tcp, 16, on_tcp_connection);
    if (rc < 0) {
        snprintf(err, err_cap, "console tcp %s: %s", address, uv_strerror(rc));
        return -1;
    }
    struct sockaddr_storage bound;
    int len = sizeof bound;
    uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&bound, &len);
    c->tcp_port = ntohs(bound.ss_family == AF_INET ? ((struct sockaddr_in *)&bound)->sin_port
                                                   : ((struct sockaddr_in6 *)&bound)->sin6_port);
    return 0;
}

console *console_start(uv_loop_t *loop, const console_options *options,
                       const console_backend *backend, char *err, size_t err_cap)
{
    if (options->tcp_address && (!options->tcp_token || strlen(options->tcp_token) == 0)) {
        snprintf(err, err_cap, "console tcp needs a token");
        if (backend->release)
            backend->release(backend->engine);
        return NULL;
    }
    console *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, err_cap, "out of memory");
        if (backend->release)
            backend->release(backend->engine);
        return NULL;
    }
    c->loop = loop;
    c->backend = *backend;
    c->tcp_port = -1;
    char path[512];
    if (options->socket_path)
        snprintf(path, sizeof path, "%s", options->socket_path);
    else
        console_default_socket_path(path, sizeof path);
    c->socket_path = strdup(path);
    c->tcp_token = options->tcp_token ? strdup(options->tcp_token) : NULL;
    if (c->tcp_token)
        log_register_secret(c->tcp_token);
    if (!c->socket_path || (options->tcp_token && !c->tcp_token) ||
        !console_ring_init(&c->ring, options->recent_capacity ? options->recent_capacity : 1000)) {
        snprintf(err, err_cap, "out of memory");
        console_close(c);
        return NULL;
    }
    if (listen_unix(c, path, err, err_cap) != 0 ||
        (options->tcp_address && listen_tcp(c, options->tcp_address, err, err_cap) != 0)) {
        console_close(c);
        return NULL;
    }
    log_info("console", "console listening on %s", path);
    return c;
}

static void on_listener_closed(uv_handle_t *handle)
{
    console_release_handle(handle->data);
}

void console_close(console *c)
{
    if (!c || c->closing)
        return;
    c->closing = true;
    c->open_handles++; /* held while closing so the last callback frees exactly once */
    while (c->conns)
        conn_close(c->conns);
    if (c->pipe_listening) {
        uv_close((uv_handle_t *)&c->pipe, on_listener_closed);
        /* Only our own socket file: a refused start never claimed the path. */
        unlink(c->socket_path);
    }
    if (c->tcp_listening)
        uv_close((uv_handle_t *)&c->tcp, on_listener_closed);
    console_release_handle(c);
}

size_t console_buffered_bytes(const console *c)
{
    size_t total = 0;
    for (const console_conn *conn = c->conns; conn; conn = conn->next)
        total += conn->buffered;
    return total;
}

int console_tcp_port(const console *c)
{
    return c->tcp_port;
}

char *console_recent_json(const console *c, size_t n)
{
    cJSON *list = cJSON_CreateArray();
    for (size_t i = n; i-- > 0;) {
        const ring_entry *e = console_ring_newest(&c->ring, i);
        if (!e || e->json_truncated || !e->json)
            continue;
        cJSON *parsed = cJSON_Parse(e->json);
        if (parsed)
            cJSON_AddItemToArray(list, parsed);
    }
    char *text = cJSON_PrintUnformatted(list);
    cJSON_Delete(list);
    return text;
}
