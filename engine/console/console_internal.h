/* What the console's own files share: the server's state, one connected client, and the calls a
 * command uses to answer. Not an interface for the rest of the engine (that is console.h). */
#ifndef EVENT_ROUTER_CONSOLE_INTERNAL_H
#define EVENT_ROUTER_CONSOLE_INTERNAL_H

#include "console/console.h"
#include "console/console_ring.h"

#include <stdbool.h>
#include <stddef.h>

/* A client that does not read gets at most this much queued for a tail; past it, trace lines are
 * skipped and counted. A command's answer may go up to the hard limit, past which the client is
 * dropped: nothing is ever queued without bound. */
#define CONSOLE_TAIL_BUFFER_LIMIT (64 * 1024)
#define CONSOLE_HARD_BUFFER_LIMIT (8 * 1024 * 1024)
#define CONSOLE_MAX_REQUEST (1024 * 1024)

typedef struct console_conn console_conn;

struct console {
    uv_loop_t *loop;
    console_backend backend;
    console_ring ring;
    uv_pipe_t pipe;
    bool pipe_listening;
    char *socket_path;
    uv_tcp_t tcp;
    bool tcp_listening;
    int tcp_port;
    char *tcp_token;
    console_conn *conns;
    int open_handles; /* freed when the last close callback ran after console_close */
    bool closing;
};

struct console_conn {
    union {
        uv_stream_t stream;
        uv_pipe_t pipe;
        uv_tcp_t tcp;
    } handle;
    console *owner;
    console_conn *next;
    bool authenticated;
    bool closing;
    char *input;
    size_t input_len, input_cap;
    bool in_block; /* between "<<<" and ">>>" */
    char *block;
    size_t block_len;
    size_t buffered; /* bytes handed to uv_write and not yet written */
    bool tailing;
    char *tail_filter; /* NULL: everything */
    size_t tail_skipped;
    size_t tail_shown;
    char read_buffer[16 * 1024];
};

/* console_conn.c. Answers: payload lines go out as "| text" (text with several lines gives
 * several), then exactly one "ok" or "error: reason". Everything passes through log_mask_secrets.
 */
void conn_print(console_conn *conn, const char *text);
void conn_printf(console_conn *conn, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void conn_ok(console_conn *conn);
void conn_error(console_conn *conn, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Starts closing a client (idempotent); its memory goes in the close callback. */
void conn_close(console_conn *conn);
/* Drops one hold on the console; the last one, once console_close started, frees it. */
void console_release_handle(console *c);

/* console_commands.c: runs one request (a command line, or a Lua block when is_block). */
void console_run_request(console_conn *conn, const char *request, bool is_block);
/* Filter syntax of `tail`: substring of type/subject/source/source name, or key=value. */
bool console_filter_matches_event(const char *filter, const event *ev);
bool console_filter_matches_entry(const char *filter, const ring_entry *e);
void console_format_entry(console_conn *conn, const ring_entry *e, bool with_steps);
/* One trace line as `tail` shows it; step NULL for the event's arrival. */
void console_format_trace_line(char *out, size_t cap, const event *ev, const trace_step *step,
                               double at);

/* console_deadletter.c */
void console_deadletter_command(console_conn *conn, int argc, char **argv);
/* pattern PATTERN [ID]; args: the line after the command word. */
void console_pattern_command(console_conn *conn, const char *args);
/* The structured JSON of the newest dead-lettered event with this id (in processor's file, or in
 * any file when processor is NULL); malloc'd, NULL when not found. */
char *console_deadletter_find_event(console *c, const char *id, const char *processor);

/* Where clients and server meet when no --socket is given. */
void console_default_socket_path(char *out, size_t cap);

#endif
