/* Cost of signing one PutEvents request with SigV4 (target: < 10 us per request on this 2-core
 * machine), for bodies of a few sizes, with the signer's day key cached (the steady state) and
 * with the key derived every time (the first request of a day or after a credential refresh).
 * CPU time of this process, so a busy machine does not inflate it.
 * Usage: bench_sigv4_sign [requests]   (default 200000) */
#include "processors/aws/sigv4.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void run(const char *title, size_t body_len, long requests, bool cold_key)
{
    char *body = malloc(body_len + 1);
    for (size_t i = 0; i < body_len; i++)
        body[i] = (char)('a' + i % 26);
    http_header headers[] = {{"host", "events.eu-west-1.amazonaws.com"},
                             {"content-type", "application/x-amz-json-1.1"},
                             {"x-amz-target", "AWSEvents.PutEvents"}};
    sigv4_request request = {"POST", "/", NULL, headers, 3, NULL, true};
    sigv4_context context = {
        .credentials = {"ASIAEXAMPLEKEYID0001", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                        "IQoJb3JpZ2luX2VjEXAMPLE-session-token-of-a-realistic-length-"
                        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
        .region = "eu-west-1",
        .service = "events",
        .now = time(NULL),
    };
    sigv4_signer signer = {0};
    size_t check = 0;
    double start = cpu_seconds();
    for (long i = 0; i < requests; i++) {
        if (cold_key)
            signer.key_valid = false;
        if (sigv4_sign(&signer, &context, &request, body, body_len) != 0) {
            fprintf(stderr, "signing failed\n");
            exit(1);
        }
        check += signer.authorization.len;
    }
    double elapsed = cpu_seconds() - start;
    printf("%-44s %8.2f us/request  (%ld requests, %zu)\n", title, elapsed / requests * 1e6,
           requests, check / (size_t)requests);
    sigv4_signer_free(&signer);
    free(body);
}

int main(int argc, char **argv)
{
    long requests = argc > 1 ? atol(argv[1]) : 200000;
    if (requests <= 0)
        requests = 200000;
    printf("SigV4 signing cost (target < 10 us per request)\n");
    run("1 KiB body, day key cached", 1024, requests, false);
    run("8 KiB body (10 entries), day key cached", 8192, requests, false);
    run("1 KiB body, key derived every request", 1024, requests, true);
    run("256 KiB body (largest PutEvents)", 256 * 1024, requests / 100 + 1, false);
    return 0;
}
