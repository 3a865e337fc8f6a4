/* `event-router console`: talks the line protocol of docs/console.md to a running engine.
 * Interactive (libedit: history, completion, multi-line Lua) when stdin is a terminal; otherwise
 * a filter from commands on stdin to results on stdout, failing when any command failed. */
#include "console/console.h"
#include "console/console_internal.h"

#include <editline/readline.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* ---- a line reader over a file descriptor (poll-friendly, unlike stdio) ---- */

typedef struct line_reader {
    int fd;
    char *buf;
    size_t len, cap;
    bool eof;
} line_reader;

/* Returns a malloc'd line without its newline when one is complete, else NULL. */
static char *reader_take_line(line_reader *r)
{
    char *nl = r->len ? memchr(r->buf, '\n', r->len) : NULL;
    if (!nl && !(r->eof && r->len > 0))
        return NULL;
    size_t line_len = nl ? (size_t)(nl - r->buf) : r->len;
    char *line = malloc(line_len + 1);
    if (!line)
        return NULL;
    memcpy(line, r->buf, line_len);
    line[line_len] = '\0';
    size_t used = nl ? line_len + 1 : line_len;
    memmove(r->buf, r->buf + used, r->len - used);
    r->len -= used;
    return line;
}

/* One read(); false on EOF or error. */
static bool reader_fill(line_reader *r)
{
    if (r->cap - r->len < 4096) {
        size_t cap = r->cap ? r->cap * 2 : 8192;
        char *grown = realloc(r->buf, cap);
        if (!grown)
            return false;
        r->buf = grown;
        r->cap = cap;
    }
    ssize_t n;
    do
        n = read(r->fd, r->buf + r->len, r->cap - r->len);
    while (n < 0 && errno == EINTR);
    if (n <= 0) {
        r->eof = true;
        return false;
    }
    r->len += (size_t)n;
    return true;
}

/* ---- connection ---- */

static int connect_unix(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof addr.sun_path) {
        fprintf(stderr, "console: socket path too long: %s\n", path);
        return -1;
    }
    strcpy(addr.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0)
        return fd;
    fprintf(stderr, "console: cannot connect to %s: %s (is event-router running?)\n", path,
            strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

static int connect_tcp(const char *address)
{
    char host[256];
    const char *colon = strrchr(address, ':');
    if (!colon || (size_t)(colon - address) >= sizeof host) {
        fprintf(stderr, "console: --tcp wants HOST:PORT\n");
        return -1;
    }
    memcpy(host, address, (size_t)(colon - address));
    host[colon - address] = '\0';
    if (host[0] == '[') {
        size_t len = strlen(host);
        memmove(host, host + 1, len);
        if (len > 1 && host[len - 2] == ']')
            host[len - 2] = '\0';
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(host, colon + 1, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "console: %s: %s\n", address, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        fprintf(stderr, "console: cannot connect to %s: %s\n", address, strerror(errno));
    return fd;
}

static bool send_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        data += n;
        len -= (size_t)n;
    }
    return true;
}

/* ---- Ctrl-C: a self-pipe, so a tail's poll() sees it ---- */

static int interrupt_pipe[2] = {-1, -1};
static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
    if (interrupt_pipe[1] >= 0) {
        ssize_t ignored = write(interrupt_pipe[1], "x", 1);
        (void)ignored;
    }
}

static void drain_interrupts(void)
{
    char scratch[64];
    while (read(interrupt_pipe[0], scratch, sizeof scratch) > 0) {
    }
    interrupted = 0;
}

/* ---- one request, one answer ---- */

typedef struct session {
    int fd;
    line_reader in;       /* from the engine */
    line_reader commands; /* non-interactive commands, read here so a tail can watch it too */
    bool interactive;
    char *pending; /* a stdin line that ended a tail: the next command */
    bool failed;
} session;

/* Prints one line of the answer; returns 1 on "ok", -1 on "error: ...", 0 to go on. */
static int show_answer_line(const char *line)
{
    if (strcmp(line, "ok") == 0)
        return 1;
    if (strncmp(line, "error: ", 7) == 0) {
        fprintf(stderr, "%s\n", line);
        return -1;
    }
    printf("%s\n", strncmp(line, "| ", 2) == 0 ? line + 2 : line);
    return 0;
}

/* Reads an answer to the end. A tail streams until Ctrl-C (or, piped, the next stdin line),
 * which the client turns into the empty line that ends it. Returns false on failure. */
static bool read_answer(session *s, bool streaming)
{
    bool stop_sent = false;
    for (;;) {
        char *line;
        while ((line = reader_take_line(&s->in))) {
            int verdict = show_answer_line(line);
            free(line);
            if (verdict != 0) {
                fflush(stdout);
                return verdict > 0;
            }
        }
        fflush(stdout);
        if (s->in.eof) {
            fprintf(stderr, "console: the engine closed the connection\n");
            return false;
        }
        struct pollfd fds[3] = {{.fd = s->fd, .events = POLLIN},
                                {.fd = interrupt_pipe[0], .events = POLLIN},
                                {.fd = -1}};
        bool watch_stdin = streaming && !stop_sent && !s->interactive && !s->commands.eof;
        if (watch_stdin)
            fds[2] = (struct pollfd){.fd = 0, .events = POLLIN};
        if (poll(fds, 3, -1) < 0 && errno != EINTR)
            return false;
        bool stop = false;
        if (fds[1].revents & POLLIN) {
            drain_interrupts();
            stop = streaming;
            if (stop && s->interactive)
                printf("\n"); /* after the terminal's ^C */
        }
        if (watch_stdin && (fds[2].revents & (POLLIN | POLLHUP | POLLERR))) {
            reader_fill(&s->commands);
            free(s->pending);
            s->pending = reader_take_line(&s->commands);
            /* the next command, or the end of the input: nothing more will come to stop it */
            stop = s->pending != NULL || s->commands.eof;
        }
        if (stop && !stop_sent) {
            stop_sent = send_all(s->fd, "\n", 1);
        }
        if (fds[0].revents & (POLLIN | POLLHUP | POLLERR))
            reader_fill(&s->in);
    }
}

static bool is_tail(const char *request)
{
    while (*request == ' ' || *request == '\t')
        request++;
    return strncmp(request, "tail", 4) == 0 && (request[4] == '\0' || request[4] == ' ');
}

/* True when a line of text is exactly line (text may hold several lines). */
static bool has_line(const char *text, const char *line)
{
    size_t len = strlen(line);
    for (const char *p = text; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, line, len) == 0 && (p[len] == '\n' || p[len] == '\0'))
            return true;
    return false;
}

/* A request of several lines goes framed as a block; one line goes as it is, except a line
 * "<<<", which the engine would take as the start of a block and wait for its end: it goes
 * framed, as a (one-line) chunk. A line ">>>" would end a block early, so a block cannot hold
 * one. */
static bool run_request(session *s, const char *request)
{
    bool ok;
    bool multi_line = strchr(request, '\n') != NULL;
    if (multi_line && has_line(request, ">>>")) {
        fprintf(stderr, "error: a line that is exactly >>> cannot be inside a Lua block\n");
        return false;
    }
    if (multi_line || strcmp(request, "<<<") == 0) {
        ok = send_all(s->fd, "<<<\n", 4) && send_all(s->fd, request, strlen(request)) &&
             send_all(s->fd, "\n>>>\n", 5);
    } else {
        ok = send_all(s->fd, request, strlen(request)) && send_all(s->fd, "\n", 1);
    }
    if (!ok) {
        fprintf(stderr, "console: lost the connection\n");
        return false;
    }
    return read_answer(s, is_tail(request));
}

/* ---- multi-line Lua ---- */

static bool is_word_char(char ch)
{
    return ch == '_' || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
           (ch >= '0' && ch <= '9');
}

/* How many blocks the text leaves open: function/do/if/repeat open, end/until close (the `then`
 * of an if and the `do` of while/for belong to the opener). Strings and comments are skipped. */
static int open_blocks(const char *text)
{
    int depth = 0;
    bool after_loop_head = false; /* inside `while ... do` / `for ... do` */
    for (const char *p = text; *p;) {
        if (*p == '"' || *p == '\'') {
            char quote = *p++;
            while (*p && *p != quote && *p != '\n')
                p += (*p == '\\' && p[1]) ? 2 : 1;
            if (*p)
                p++;
            continue;
        }
        if (p[0] == '-' && p[1] == '-') {
            while (*p && *p != '\n')
                p++;
            continue;
        }
        if (!is_word_char(*p)) {
            p++;
            continue;
        }
        const char *start = p;
        while (is_word_char(*p))
            p++;
        size_t len = (size_t)(p - start);
#define IS(word) (len == sizeof word - 1 && strncmp(start, word, len) == 0)
        if (IS("function") || IS("if") || IS("repeat")) {
            depth++;
        } else if (IS("while") || IS("for")) {
            depth++;
            after_loop_head = true;
        } else if (IS("do")) {
            if (after_loop_head)
                after_loop_head = false;
            else
                depth++;
        } else if (IS("end") || IS("until")) {
            depth--;
        }
#undef IS
    }
    return depth;
}

/* Words Tab completes: the commands, then the words their arguments often are. */
static const char *const command_names[] = {
    "help",   "stats",      "sources",   "processors", "scripts", "config", "tail",
    "last",   "show",       "test",      "pattern",    "replay",  "reload", "pause",
    "resume", "deadletter", "log-level", "quit",       "list",    "all",    "debug",
    "info",   "warn",       "error",     NULL};
#define COMMAND_COUNT 18 /* the first ones are commands */

static bool starts_with_command(const char *text)
{
    while (*text == ' ' || *text == '\t')
        text++;
    size_t len = 0;
    while (text[len] && text[len] != ' ' && text[len] != '\t' && text[len] != '\n')
        len++;
    for (int i = 0; i < COMMAND_COUNT; i++)
        if (strlen(command_names[i]) == len && strncmp(command_names[i], text, len) == 0)
            return true;
    return false;
}

/* True when the request typed so far wants another line. */
static bool wants_more(char *text)
{
    size_t len = strlen(text);
    while (len > 0 && (text[len - 1] == ' ' || text[len - 1] == '\t'))
        len--;
    if (len > 0 && text[len - 1] == '\\') {
        text[len - 1] = '\0'; /* an explicit continuation: the backslash is not part of it */
        return true;
    }
    /* Commands never continue (`tail do` filters on "do"); only Lua does. */
    return !starts_with_command(text) && open_blocks(text) > 0;
}

static char *append_line(char *so_far, const char *line)
{
    if (!so_far)
        return strdup(line);
    size_t a = strlen(so_far), b = strlen(line);
    char *joined = realloc(so_far, a + b + 2);
    if (!joined) {
        free(so_far);
        return NULL;
    }
    joined[a] = '\n';
    memcpy(joined + a + 1, line, b + 1);
    return joined;
}

/* ---- interactive ---- */

static char *complete_command(const char *text, int state)
{
    static size_t index;
    if (state == 0)
        index = 0;
    size_t len = strlen(text);
    while (command_names[index]) {
        const char *name = command_names[index++];
        if (strncmp(name, text, len) == 0)
            return strdup(name);
    }
    return NULL;
}

static char **complete(const char *text, int start, int end)
{
    (void)start;
    (void)end;
    rl_attempted_completion_over = 1; /* no file names */
    return rl_completion_matches(text, complete_command);
}

static void history_path(char *out, size_t cap)
{
    const char *home = getenv("HOME");
    snprintf(out, cap, "%s/.event_router_history", home && *home ? home : ".");
}

static int run_interactive(session *s)
{
    char history[4096];
    history_path(history, sizeof history);
    using_history();
    read_history(history);
    rl_readline_name = "event-router";
    rl_attempted_completion_function = complete;
    for (;;) {
        char *request = NULL;
        for (;;) {
            interrupted = 0;
            char *line = readline(request ? "... " : "event-router> ");
            if (!line) {
                if (interrupted) { /* Ctrl-C at the prompt drops what was typed */
                    drain_interrupts();
                    free(request);
                    request = NULL;
                    printf("\n");
                    continue;
                }
                free(request);
                printf("\n");
                write_history(history);
                return s->failed ? 1 : 0;
            }
            request = append_line(request, line);
            free(line);
            if (!request || !wants_more(request))
                break;
        }
        if (!request)
            continue;
        size_t len = strlen(request);
        while (len > 0 && (request[len - 1] == ' ' || request[len - 1] == '\t'))
            request[--len] = '\0'; /* completion leaves a space; keep history clean */
        if (*request) {
            add_history(request);
            write_history(history);
        }
        if (strcmp(request, "quit") == 0 || strcmp(request, "exit") == 0) {
            free(request);
            return s->failed ? 1 : 0;
        }
        drain_interrupts();
        bool ok = run_request(s, request);
        free(request);
        if (!ok) {
            s->failed = true;
            if (s->in.eof)
                return 1;
        }
    }
}

/* ---- piped ---- */

static char *next_stdin_line(session *s)
{
    if (s->pending) {
        char *line = s->pending;
        s->pending = NULL;
        return line;
    }
    for (;;) {
        char *line = reader_take_line(&s->commands);
        if (line || s->commands.eof)
            return line;
        reader_fill(&s->commands);
    }
}

static int run_piped(session *s)
{
    for (;;) {
        char *request = NULL;
        char *line;
        while ((line = next_stdin_line(s))) {
            request = append_line(request, line);
            free(line);
            if (!request || !wants_more(request))
                break;
        }
        if (!request)
            break;
        if (!run_request(s, request)) {
            s->failed = true;
            if (s->in.eof) {
                free(request);
                break;
            }
        }
        free(request);
    }
    return s->failed ? 1 : 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: event-router console [--socket PATH] [--tcp HOST:PORT --token T]\n"
                    "  the token may also come from EVENT_ROUTER_CONSOLE_TOKEN\n");
}

int console_client_main(int argc, char **argv)
{
    const char *socket_path = NULL, *tcp = NULL;
    const char *token = getenv("EVENT_ROUTER_CONSOLE_TOKEN");
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "console") == 0 && i == 1)
            continue; /* called as `event-router console ...` with the subcommand kept */
        if ((strcmp(arg, "--socket") == 0 || strcmp(arg, "-socket") == 0) && i + 1 < argc) {
            socket_path = argv[++i];
        } else if ((strcmp(arg, "--tcp") == 0 || strcmp(arg, "-tcp") == 0) && i + 1 < argc) {
            tcp = argv[++i];
        } else if ((strcmp(arg, "--token") == 0 || strcmp(arg, "-token") == 0) && i + 1 < argc) {
            token = argv[++i];
        } else {
            usage();
            return 2;
        }
    }
    char default_path[512];
    if (!socket_path) {
        console_default_socket_path(default_path, sizeof default_path);
        socket_path = default_path;
    }
    session s = {.fd = tcp ? connect_tcp(tcp) : connect_unix(socket_path)};
    if (s.fd < 0)
        return 1;
    s.in.fd = s.fd;
    s.commands.fd = 0;
    s.interactive = isatty(0) && isatty(1);
    if (pipe(interrupt_pipe) != 0) {
        close(s.fd);
        return 1;
    }
    for (int i = 0; i < 2; i++)
        fcntl(interrupt_pipe[i], F_SETFL, fcntl(interrupt_pipe[i], F_GETFL) | O_NONBLOCK);
    struct sigaction sa = {.sa_handler = on_sigint};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    int status;
    if (tcp) {
        if (!token) {
            fprintf(stderr, "console: --tcp needs --token (or EVENT_ROUTER_CONSOLE_TOKEN)\n");
            status = 2;
            goto done;
        }
        char auth[1024];
        snprintf(auth, sizeof auth, "auth %s", token);
        if (!run_request(&s, auth)) {
            status = 1;
            goto done;
        }
    }
    status = s.interactive ? run_interactive(&s) : run_piped(&s);
done:
    close(s.fd);
    close(interrupt_pipe[0]);
    close(interrupt_pipe[1]);
    interrupt_pipe[0] = interrupt_pipe[1] = -1;
    free(s.in.buf);
    free(s.commands.buf);
    free(s.pending);
    return status;
}
