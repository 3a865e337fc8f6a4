/* One console client's output and its close path. Commands (console_commands.c,
 * console_deadletter.c) answer through these calls and the server (console_server.c) reads input
 * and accepts clients; both use this file, and this file calls neither. */
#include "console/console_internal.h"

#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void console_release_handle(console *c)
{
    if (--c->open_handles > 0 || !c->closing)
        return;
    if (c->backend.release)
        c->backend.release(c->backend.engine);
    console_ring_free(&c->ring);
    free(c->socket_path);
    free(c->tcp_token);
    free(c);
}

static void on_conn_closed(uv_handle_t *handle)
{
    console_conn *conn = handle->data;
    console *c = conn->owner;
    free(conn->input);
    free(conn->block);
    free(conn->tail_filter);
    free(conn);
    console_release_handle(c);
}

void conn_close(console_conn *conn)
{
    if (conn->closing)
        return;
    conn->closing = true;
    conn->tailing = false;
    console *c = conn->owner;
    for (console_conn **p = &c->conns; *p; p = &(*p)->next) {
        if (*p == conn) {
            *p = conn->next;
            break;
        }
    }
    uv_read_stop(&conn->handle.stream);
    uv_close((uv_handle_t *)&conn->handle.stream, on_conn_closed);
}

/* ---- output ---- */

typedef struct console_write {
    uv_write_t req;
    console_conn *conn;
    size_t len;
    char data[];
} console_write;

static void on_write_done(uv_write_t *req, int status)
{
    console_write *w = (console_write *)req;
    console_conn *conn = w->conn;
    conn->buffered -= w->len;
    free(w);
    if (status < 0 || conn->closing)
        return;
    /* Room again: tell the tailing client what it missed before anything newer. */
    if (conn->tailing && conn->tail_skipped > 0 && conn->buffered < CONSOLE_TAIL_BUFFER_LIMIT / 2) {
        conn_printf(conn, "... %zu events skipped", conn->tail_skipped);
        conn->tail_skipped = 0;
    }
}

/* Writes what the socket takes now and queues only the rest, so a client that reads keeps the
 * console's memory near zero and one that does not is measured by `buffered`. */
static void conn_send_raw(console_conn *conn, const char *data, size_t len)
{
    if (conn->closing || len == 0)
        return;
    if (conn->buffered == 0) {
        uv_buf_t buf = uv_buf_init((char *)data, (unsigned)len);
        int written = uv_try_write(&conn->handle.stream, &buf, 1);
        if (written > 0) {
            data += written;
            len -= (size_t)written;
        } else if (written != UV_EAGAIN && written != UV_ENOSYS) {
            conn_close(conn);
            return;
        }
        if (len == 0)
            return;
    }
    if (conn->buffered + len > CONSOLE_HARD_BUFFER_LIMIT) {
        log_warn("console", "dropping a client that does not read its output");
        conn_close(conn);
        return;
    }
    console_write *w = malloc(sizeof *w + len);
    if (!w) {
        conn_close(conn);
        return;
    }
    w->conn = conn;
    w->len = len;
    memcpy(w->data, data, len);
    uv_buf_t buf = uv_buf_init(w->data, (unsigned)len);
    if (uv_write(&w->req, &conn->handle.stream, &buf, 1, on_write_done) < 0) {
        free(w);
        conn_close(conn);
        return;
    }
    conn->buffered += len;
}

/* Every line the console sends goes through here: masked, prefixed, newline-terminated. */
static void conn_send_line(console_conn *conn, const char *prefix, const char *text, size_t len)
{
    size_t prefix_len = strlen(prefix);
    char *raw = malloc(len + 1);
    size_t cap = prefix_len + len * 2 + 16; /* a mask ("*****") replaces at least 3 bytes */
    char *line = malloc(cap);
    if (!raw || !line) {
        free(raw);
        free(line);
        conn_close(conn);
        return;
    }
    memcpy(raw, text, len);
    raw[len] = '\0';
    memcpy(line, prefix, prefix_len);
    log_mask_secrets(raw, line + prefix_len, cap - prefix_len - 1);
    size_t total = strlen(line);
    line[total++] = '\n';
    conn_send_raw(conn, line, total);
    free(raw);
    free(line);
}

void conn_print(console_conn *conn, const char *text)
{
    const char *p = text ? text : "";
    do {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len > 0 && p[len - 1] == '\r')
            len--;
        conn_send_line(conn, "| ", p, len);
        p = nl ? nl + 1 : NULL;
    } while (p && *p);
}

void conn_printf(console_conn *conn, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    char *text = NULL;
    int n = vasprintf(&text, fmt, args);
    va_end(args);
    if (n >= 0) {
        conn_print(conn, text);
        free(text);
    }
}

void conn_ok(console_conn *conn)
{
    conn_send_line(conn, "", "ok", 2);
}

void conn_error(console_conn *conn, const char *fmt, ...)
{
    char reason[1024];
    va_list args;
    va_start(args, fmt);
    vsnprintf(reason, sizeof reason, fmt, args);
    va_end(args);
    /* The reason is one line: the client reads the line as the end of the answer. */
    for (char *p = reason; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    char line[1100];
    snprintf(line, sizeof line, "error: %s", reason);
    conn_send_line(conn, "", line, strlen(line));
}
