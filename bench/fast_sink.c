/* The benchmark's sink in C, on the router's own HTTP server: the same contract as
 * fast_sink.mjs (counts requests; for events carrying the `benchsent` extension, send time in
 * microseconds since the epoch, records the delay from send to receipt) at a fraction of node's
 * CPU cost, so that on a small machine the benchmark measures the router and not its sink.
 *   fast_sink PORT      prints the bound port; GET /stats -> {count, latency: {n, p50, p99, max}}
 *                       (ms); POST /reset clears the latencies. Exits on SIGTERM or SIGINT.
 * A request with X-Amz-Target: AWSEvents.PutEvents is answered as EventBridge answers (every
 * entry accepted, one EventId each), each entry counted, its latency read from the benchsent
 * extension inside Detail; AWSEvents.ListRules lists one rule, arn:aws:events:us-east-1:
 * 123456789012:rule/bench, whose pattern matches every event. Signatures are not checked: that
 * is the tests' business. /stats also gives `calls` (PutEvents calls).
 * With FAST_SINK_FUNCTIONS=N it is also a minimal OpenFaaS gateway: /system/namespaces names
 * openfaas-fn, /system/functions lists N functions (bench-1..N) whose topic annotation names
 * the benchmark's 64 subjects, and each POST /function/NAME is one count, its latency read from
 * the structured body's benchsent. */
#include "http/http_server.h"

#include <stdbool.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <uv.h>

typedef struct sink {
    unsigned long long count;
    unsigned long long calls;
    char answer[2048];
    double *delays_ms;
    size_t delay_count, delay_cap;
    char stats[256];
    char *functions_json; /* the OpenFaaS function list; NULL: not a gateway */
} sink;

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double percentile(const double *sorted, size_t n, double p)
{
    size_t index = (size_t)(p / 100.0 * (double)n);
    return sorted[index < n ? index : n - 1];
}

static void answer_stats(sink *s, http_response *response)
{
    int len;
    if (s->delay_count == 0) {
        len = snprintf(s->stats, sizeof s->stats,
                       "{\"count\":%llu,\"calls\":%llu,\"latency\":{\"n\":0,\"p50\":null,"
                       "\"p99\":null,\"max\":null}}",
                       s->count, s->calls);
    } else {
        qsort(s->delays_ms, s->delay_count, sizeof *s->delays_ms, compare_doubles);
        size_t n = s->delay_count;
        len = snprintf(s->stats, sizeof s->stats,
                       "{\"count\":%llu,\"calls\":%llu,\"latency\":{\"n\":%zu,\"p50\":%.3f,"
                       "\"p99\":%.3f,\"max\":%.3f}}",
                       s->count, s->calls, n, percentile(s->delays_ms, n, 50),
                       percentile(s->delays_ms, n, 99), percentile(s->delays_ms, n, 100));
    }
    response->status = 200;
    response->content_type = "application/json";
    response->body = s->stats;
    response->body_len = (size_t)len;
}

static void record_delay(sink *s, const char *sent_us)
{
    struct timeval now;
    gettimeofday(&now, NULL);
    double now_us = (double)now.tv_sec * 1e6 + (double)now.tv_usec;
    if (s->delay_count == s->delay_cap) {
        size_t cap = s->delay_cap ? s->delay_cap * 2 : 65536;
        double *grown = realloc(s->delays_ms, cap * sizeof *grown);
        if (!grown)
            return;
        s->delays_ms = grown;
        s->delay_cap = cap;
    }
    s->delays_ms[s->delay_count++] = (now_us - strtod(sent_us, NULL)) / 1000.0;
}

/* Counts the entries of a PutEvents body and records each one's latency. Returns the count. */
static size_t record_put_events(sink *s, const http_request *request)
{
    char *body = strndup(request->body ? request->body : "", request->body_len);
    size_t entries = 0;
    for (const char *p = body; p && (p = strstr(p, "\"Source\":")); p += 9)
        entries++;
    static const char marker[] = "benchsent\\\":\\\"";
    for (const char *p = body; p && (p = strstr(p, marker)); p += sizeof marker - 1)
        record_delay(s, p + sizeof marker - 1);
    free(body);
    return entries;
}

static void answer_put_events(sink *s, size_t entries, http_response *response)
{
    size_t len =
        (size_t)snprintf(s->answer, sizeof s->answer, "{\"FailedEntryCount\":0,\"Entries\":[");
    for (size_t i = 0; i < entries && i < 10; i++)
        len += (size_t)snprintf(s->answer + len, sizeof s->answer - len,
                                "%s{\"EventId\":\"%08llx-0000-4000-8000-%012zx\"}", i ? "," : "",
                                s->calls, i);
    len += (size_t)snprintf(s->answer + len, sizeof s->answer - len, "]}");
    response->status = 200;
    response->content_type = "application/x-amz-json-1.1";
    response->body = s->answer;
    response->body_len = len;
}

static void handle(void *user, const http_request *request, http_response *response)
{
    sink *s = user;
    if (strcmp(request->method, "GET") == 0 && strcmp(request->path, "/stats") == 0) {
        answer_stats(s, response);
        return;
    }
    if (strcmp(request->method, "POST") == 0 && strcmp(request->path, "/reset") == 0) {
        s->delay_count = 0;
        response->status = 204;
        return;
    }
    if (s->functions_json && strcmp(request->method, "GET") == 0) {
        response->status = 200;
        response->content_type = "application/json";
        bool namespaces = strcmp(request->path, "/system/namespaces") == 0;
        response->body = namespaces ? "[\"openfaas-fn\"]" : s->functions_json;
        response->body_len = strlen(response->body);
        return;
    }
    if (s->functions_json && strncmp(request->path, "/function/", 10) == 0) {
        static const char marker[] = "\"benchsent\":\"";
        s->count++;
        const char *body = request->body ? request->body : "";
        const char *at = memmem(body, request->body_len, marker, sizeof marker - 1);
        if (at)
            record_delay(s, at + sizeof marker - 1);
        response->status = 200;
        return;
    }
    const char *target = http_request_header(request, "x-amz-target");
    if (target && strcmp(target, "AWSEvents.ListRules") == 0) {
        static const char rules[] =
            "{\"Rules\":[{\"Name\":\"bench\",\"Arn\":\"arn:aws:events:us-east-1:123456789012:"
            "rule/bench\",\"EventPattern\":\"{\\\"source\\\":[{\\\"prefix\\\":\\\"\\\"}]}\","
            "\"State\":\"ENABLED\",\"EventBusName\":\"default\"}]}";
        response->status = 200;
        response->content_type = "application/x-amz-json-1.1";
        response->body = rules;
        response->body_len = sizeof rules - 1;
        return;
    }
    if (target && strcmp(target, "AWSEvents.PutEvents") == 0) {
        size_t entries = record_put_events(s, request);
        s->count += entries;
        s->calls++;
        answer_put_events(s, entries, response);
        return;
    }
    s->count++;
    const char *sent = http_request_header(request, "ce-benchsent");
    if (sent)
        record_delay(s, sent);
    response->status = 202;
}

static void on_signal(uv_signal_t *signal, int signum)
{
    (void)signum;
    uv_stop(signal->loop);
}

int main(int argc, char **argv)
{
    char address[64];
    snprintf(address, sizeof address, "127.0.0.1:%s", argc > 1 ? argv[1] : "0");
    uv_loop_t *loop = uv_default_loop();
    sink s = {0};
    const char *functions = getenv("FAST_SINK_FUNCTIONS");
    int function_count = functions ? atoi(functions) : 0;
    if (function_count > 0) {
        char topics[64 * 24] = "";
        for (int i = 1; i <= 64; i++)
            snprintf(topics + strlen(topics), sizeof topics - strlen(topics),
                     "%sVmPoweredOnEvent-%d", i > 1 ? "," : "", i);
        size_t cap = (size_t)function_count * (sizeof topics + 128) + 8;
        s.functions_json = malloc(cap);
        size_t len = (size_t)snprintf(s.functions_json, cap, "[");
        for (int i = 1; i <= function_count; i++)
            len += (size_t)snprintf(s.functions_json + len, cap - len,
                                    "%s{\"name\":\"bench-%d\",\"namespace\":\"openfaas-fn\","
                                    "\"annotations\":{\"topic\":\"%s\"}}",
                                    i > 1 ? "," : "", i, topics);
        snprintf(s.functions_json + len, cap - len, "]");
    }
    char err[256];
    http_server *server =
        http_server_start(loop, address, 16u * 1024 * 1024, handle, &s, err, sizeof err);
    if (!server) {
        fprintf(stderr, "fast_sink: %s\n", err);
        return 1;
    }
    http_server_set_idle_timeout(server, 60000);
    uv_signal_t term, interrupt;
    uv_signal_init(loop, &term);
    uv_signal_init(loop, &interrupt);
    uv_signal_start(&term, on_signal, SIGTERM);
    uv_signal_start(&interrupt, on_signal, SIGINT);
    printf("%d\n", http_server_port(server));
    fflush(stdout);
    uv_run(loop, UV_RUN_DEFAULT);
    free(s.delays_ms);
    free(s.functions_json);
    return 0;
}
