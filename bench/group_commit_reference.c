/* The disk's own floor for a durable acknowledgement: a minimal group commit with no HTTP, no
 * JSON and no event loop. A producer appends RECORD_BYTES records at RATE per second to a file in
 * DIR; one writer thread takes everything appended so far, writes it and calls fdatasync, then
 * marks those records durable. It prints the append-to-durable latency (p50, p99, p99.9, max, ms)
 * and the fdatasync calls per second as JSON. What the router's 202 waits for can only be slower
 * than this on the same disk at the same moment; bench/webhook_knative.sh runs it next to the
 * router so that its tail is compared with the disk's.
 *   group_commit_reference DIR RATE SECONDS [RECORD_BYTES=700] */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct journal {
    pthread_mutex_t lock;
    pthread_cond_t appended;
    size_t total, appended_count, durable_count;
    int closing;
    int fd;
    size_t record_bytes;
    double *appended_at_ms; /* per record */
    double *latency_ms;     /* per record, once durable */
    size_t syncs;
} journal;

static double monotonic_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void *write_and_sync(void *arg)
{
    journal *j = arg;
    size_t cap = 1 << 20;
    char *bytes = malloc(cap);
    if (!bytes)
        return NULL;
    memset(bytes, 'x', cap);
    for (;;) {
        pthread_mutex_lock(&j->lock);
        while (j->appended_count == j->durable_count && !j->closing)
            pthread_cond_wait(&j->appended, &j->lock);
        size_t upto = j->appended_count;
        int last = j->closing && upto == j->durable_count;
        pthread_mutex_unlock(&j->lock);
        if (last)
            break;
        size_t len = (upto - j->durable_count) * j->record_bytes;
        while (len > 0) {
            size_t chunk = len < cap ? len : cap;
            if (write(j->fd, bytes, chunk) != (ssize_t)chunk) {
                perror("group_commit_reference: write");
                exit(1);
            }
            len -= chunk;
        }
        if (fdatasync(j->fd) != 0) {
            perror("group_commit_reference: fdatasync");
            exit(1);
        }
        j->syncs++;
        double now = monotonic_ms();
        for (size_t i = j->durable_count; i < upto; i++)
            j->latency_ms[i] = now - j->appended_at_ms[i];
        pthread_mutex_lock(&j->lock);
        j->durable_count = upto;
        pthread_mutex_unlock(&j->lock);
    }
    free(bytes);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: group_commit_reference DIR RATE SECONDS [RECORD_BYTES]\n");
        return 2;
    }
    double rate = atof(argv[2]), seconds = atof(argv[3]);
    journal j = {.record_bytes = argc > 4 ? (size_t)atol(argv[4]) : 700};
    j.total = (size_t)(rate * seconds);
    if (rate <= 0 || j.total == 0 || j.record_bytes == 0) {
        fprintf(stderr, "group_commit_reference: want RATE, SECONDS and RECORD_BYTES > 0\n");
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/group-commit-reference.log", argv[1]);
    j.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    j.appended_at_ms = calloc(j.total, sizeof *j.appended_at_ms);
    j.latency_ms = calloc(j.total, sizeof *j.latency_ms);
    if (j.fd < 0 || !j.appended_at_ms || !j.latency_ms) {
        fprintf(stderr, "group_commit_reference: %s: %s\n", path, strerror(errno));
        return 1;
    }
    pthread_mutex_init(&j.lock, NULL);
    pthread_cond_init(&j.appended, NULL);
    pthread_t writer;
    pthread_create(&writer, NULL, write_and_sync, &j);
    double start = monotonic_ms();
    for (size_t i = 0; i < j.total; i++) {
        double wait_ms = start + (double)i * 1000.0 / rate - monotonic_ms();
        if (wait_ms > 0) {
            struct timespec pause = {(time_t)(wait_ms / 1000), (long)(wait_ms * 1e6) % 1000000000L};
            nanosleep(&pause, NULL);
        }
        pthread_mutex_lock(&j.lock);
        j.appended_at_ms[i] = monotonic_ms();
        j.appended_count = i + 1;
        pthread_cond_signal(&j.appended);
        pthread_mutex_unlock(&j.lock);
    }
    pthread_mutex_lock(&j.lock);
    j.closing = 1;
    pthread_cond_signal(&j.appended);
    pthread_mutex_unlock(&j.lock);
    pthread_join(writer, NULL);
    double elapsed_s = (monotonic_ms() - start) / 1000.0;
    close(j.fd);
    unlink(path);
    qsort(j.latency_ms, j.total, sizeof *j.latency_ms, compare_doubles);
    printf("{\"records\":%zu,\"p50\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f,"
           "\"syncs_per_s\":%.0f}\n",
           j.total, j.latency_ms[j.total / 2], j.latency_ms[j.total * 99 / 100],
           j.latency_ms[j.total * 999 / 1000], j.latency_ms[j.total - 1],
           (double)j.syncs / elapsed_s);
    free(j.appended_at_ms);
    free(j.latency_ms);
    return 0;
}
