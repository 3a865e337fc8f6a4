/* Constant-rate generator in C: posts binary-mode CloudEvents at RATE events/s for SECONDS to
 * URL over CONNECTIONS keep-alive connections (one request at a time each), every event stamped
 * with its *scheduled* send time (extension benchsent, microseconds since the epoch), so waiting
 * for a free connection counts in the latency (no coordinated omission). The node rate_gen.mjs
 * could not hold 5,000/s itself on a 2-core machine: straight at the C sink it measured p99 548 ms.
 * It also times each answer from the moment its request was written (ack_p50/p99/max, ms): how
 * long a 202 took, without the wait for a free connection.
 *   rate_gen URL RATE SECONDS [CONNECTIONS=64]
 *     -> prints JSON {sent, ok, failed, seconds, rate, ack_p50, ack_p99, ack_max} */
#include <http_parser.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <uv.h>

#define BODY                                                                                       \
    "{\"Key\":1,\"ChainId\":1,\"CreatedTime\":\"2024-01-01T12:00:00Z\",\"UserName\":"              \
    "\"VSPHERE.LOCAL\\\\svc\",\"Datacenter\":{\"Name\":\"Datacenter\",\"Datacenter\":{\"Type\":"   \
    "\"Datacenter\",\"Value\":\"datacenter-2\"}},\"Vm\":{\"Name\":\"vm-app-01\",\"Vm\":{\"Type\":" \
    "\"VirtualMachine\",\"Value\":\"vm-1001\"}},\"FullFormattedMessage\":\"vm-app-01 on "          \
    "esx-1.vcenter.local in Datacenter is powered on\"}"

typedef struct generator generator;

typedef struct connection {
    uv_tcp_t tcp;
    uv_connect_t connect;
    uv_write_t write;
    http_parser parser;
    generator *gen;
    bool ready; /* connected and no request outstanding */
    bool dead;
    uint64_t written_ns; /* when the request in flight was handed to the socket */
    char request[1024];
} connection;

struct generator {
    uv_loop_t *loop;
    uv_timer_t tick;
    struct sockaddr_in addr;
    char host[96];
    char path[256];
    double rate;
    unsigned long long total, sent, ok, failed, done;
    double start_us; /* wall clock, for the stamps */
    uint64_t start_ns;
    uint64_t deadline_ns;
    connection *connections;
    int connection_count;
    double *ack_ms; /* per answered request */
    unsigned long long acks;
};

static double wall_us(void)
{
    struct timeval now;
    gettimeofday(&now, NULL);
    return (double)now.tv_sec * 1e6 + (double)now.tv_usec;
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    (void)handle;
    static char buffer[65536];
    (void)suggested;
    *buf = uv_buf_init(buffer, sizeof buffer);
}

static void send_next(connection *c);

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void finish_one(generator *g, bool ok)
{
    if (ok)
        g->ok++;
    else
        g->failed++;
    g->done++;
}

static int on_message_complete(http_parser *parser)
{
    connection *c = parser->data;
    generator *g = c->gen;
    if (g->acks < g->total)
        g->ack_ms[g->acks++] = (double)(uv_hrtime() - c->written_ns) / 1e6;
    finish_one(g, parser->status_code == 202);
    c->ready = true;
    send_next(c);
    return 0;
}

static const http_parser_settings settings = {.on_message_complete = on_message_complete};

static void connection_lost(connection *c)
{
    if (c->dead)
        return;
    if (!c->ready && c->parser.data)
        finish_one(c->gen, false); /* the request in flight */
    c->dead = true;
    c->ready = false;
    uv_close((uv_handle_t *)&c->tcp, NULL);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    connection *c = stream->data;
    if (nread < 0) {
        connection_lost(c);
        return;
    }
    size_t parsed = http_parser_execute(&c->parser, &settings, buf->base, (size_t)nread);
    if (parsed != (size_t)nread || HTTP_PARSER_ERRNO(&c->parser) != HPE_OK)
        connection_lost(c);
}

static void on_written(uv_write_t *req, int status)
{
    if (status < 0)
        connection_lost(req->data);
}

/* Sends the oldest event that is due, if any, on an idle connection. */
static void send_next(connection *c)
{
    generator *g = c->gen;
    if (!c->ready || g->sent >= g->total)
        return;
    uint64_t due = (uint64_t)((double)(uv_hrtime() - g->start_ns) / 1e9 * g->rate);
    if (g->sent >= due)
        return;
    unsigned long long i = g->sent++;
    double scheduled_us = g->start_us + (double)i / g->rate * 1e6;
    int len = snprintf(c->request, sizeof c->request,
                       "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                       "ce-specversion: 1.0\r\nce-id: gen-%llu\r\n"
                       "ce-source: https://vcenter.local/sdk\r\n"
                       "ce-type: com.vmware.event.router/event\r\n"
                       "ce-subject: VmPoweredOnEvent-%llu\r\nce-benchsent: %.0f\r\n"
                       "Content-Length: %zu\r\n\r\n%s",
                       g->path, g->host, i, i % 64 + 1, scheduled_us, strlen(BODY), BODY);
    c->ready = false;
    c->written_ns = uv_hrtime();
    uv_buf_t buf = uv_buf_init(c->request, (unsigned int)len);
    c->write.data = c;
    if (uv_write(&c->write, (uv_stream_t *)&c->tcp, &buf, 1, on_written) < 0)
        connection_lost(c);
}

static void on_tick(uv_timer_t *timer)
{
    generator *g = timer->data;
    /* Round-robin over idle connections until nothing due is left. */
    bool progress = true;
    while (progress) {
        progress = false;
        for (int k = 0; k < g->connection_count; k++) {
            unsigned long long before = g->sent;
            send_next(&g->connections[k]);
            progress |= g->sent != before;
        }
    }
    bool finished = g->sent >= g->total && g->done >= g->sent;
    if (finished || uv_hrtime() > g->deadline_ns) {
        uv_timer_stop(timer);
        for (int k = 0; k < g->connection_count; k++)
            if (!g->connections[k].dead) {
                g->connections[k].dead = true;
                uv_close((uv_handle_t *)&g->connections[k].tcp, NULL);
            }
        uv_close((uv_handle_t *)timer, NULL);
    }
}

static void on_connected(uv_connect_t *req, int status)
{
    connection *c = req->data;
    if (status < 0) {
        fprintf(stderr, "rate_gen: connect: %s\n", uv_strerror(status));
        c->dead = true;
        uv_close((uv_handle_t *)&c->tcp, NULL);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    http_parser_init(&c->parser, HTTP_RESPONSE);
    c->parser.data = c;
    c->ready = true;
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: rate_gen http://HOST:PORT/PATH RATE SECONDS [CONNECTIONS]\n");
        return 2;
    }
    generator g = {0};
    g.loop = uv_default_loop();
    g.rate = atof(argv[2]);
    double seconds = atof(argv[3]);
    g.connection_count = argc > 4 ? atoi(argv[4]) : 64;
    g.total = (unsigned long long)(g.rate * seconds);
    int port = 0;
    char ip[64];
    if (sscanf(argv[1], "http://%63[0-9.]:%d%255s", ip, &port, g.path) < 2 || g.rate <= 0 ||
        g.connection_count <= 0) {
        fprintf(stderr, "rate_gen: want http://IPV4:PORT/PATH, a rate and connections > 0\n");
        return 2;
    }
    if (!g.path[0])
        strcpy(g.path, "/");
    snprintf(g.host, sizeof g.host, "%s:%d", ip, port);
    uv_ip4_addr(ip, port, &g.addr);
    g.connections = calloc((size_t)g.connection_count, sizeof *g.connections);
    g.ack_ms = calloc(g.total ? g.total : 1, sizeof *g.ack_ms);
    for (int k = 0; k < g.connection_count; k++) {
        connection *c = &g.connections[k];
        c->gen = &g;
        uv_tcp_init(g.loop, &c->tcp);
        c->tcp.data = c;
        c->connect.data = c;
        uv_tcp_connect(&c->connect, &c->tcp, (const struct sockaddr *)&g.addr, on_connected);
    }
    /* Connections first, so that their set-up is not counted as the router's latency. */
    while (uv_run(g.loop, UV_RUN_ONCE)) {
        int settled = 0;
        for (int k = 0; k < g.connection_count; k++)
            settled += g.connections[k].ready || g.connections[k].dead;
        if (settled == g.connection_count)
            break;
    }
    g.start_ns = uv_hrtime();
    g.start_us = wall_us();
    g.deadline_ns = g.start_ns + (uint64_t)((seconds + 15) * 1e9);
    uv_timer_init(g.loop, &g.tick);
    g.tick.data = &g;
    uv_timer_start(&g.tick, on_tick, 0, 1);
    uv_run(g.loop, UV_RUN_DEFAULT);
    double elapsed = (double)(uv_hrtime() - g.start_ns) / 1e9;
    qsort(g.ack_ms, g.acks, sizeof *g.ack_ms, compare_doubles);
    double p50 = g.acks ? g.ack_ms[g.acks / 2] : 0, p99 = g.acks ? g.ack_ms[g.acks * 99 / 100] : 0,
           max = g.acks ? g.ack_ms[g.acks - 1] : 0;
    printf("{\"sent\":%llu,\"ok\":%llu,\"failed\":%llu,\"seconds\":%.3f,\"rate\":%.1f,"
           "\"ack_p50\":%.3f,\"ack_p99\":%.3f,\"ack_max\":%.3f}\n",
           g.sent, g.ok, g.failed + (g.sent - g.done), elapsed, (double)g.sent / seconds, p50, p99,
           max);
    free(g.ack_ms);
    free(g.connections);
    return 0;
}
