/* The vCenter source against the govmomi simulator (tests/peers/vcsim, built by
 * tools/build-vcsim.sh): real SOAP over 127.0.0.1, real events from powering a VM off. */
#include "check.h"
#include "sources/vcenter/checkpoint.h"
#include "http/http_server.h"
#include "sources/vcenter/source_vcenter.h"
#include "sources/vcenter/vcenter_soap.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct vcsim {
    pid_t pid;
    int stdin_fd;
    char url[256];
    char control[256];
} vcsim;

static char vcsim_binary[1024];

static bool find_vcsim(void)
{
    const char *env = getenv("EVENT_ROUTER_VCSIM_BIN");
    const char *root = getenv("EVENT_ROUTER_SOURCE_DIR");
    if (env && env[0])
        snprintf(vcsim_binary, sizeof vcsim_binary, "%s", env);
    else
        snprintf(vcsim_binary, sizeof vcsim_binary, "%s/build-vcsim/vcsim", root ? root : ".");
    return access(vcsim_binary, X_OK) == 0;
}

/* Starts the peer and reads its one-line JSON ready message. */
static bool vcsim_start(vcsim *sim, const char *cert_dir)
{
    char cert[512] = "", key[512] = "";
    if (cert_dir) {
        snprintf(cert, sizeof cert, "%s/cert.pem", cert_dir);
        snprintf(key, sizeof key, "%s/key.pem", cert_dir);
    }
    int in[2], out[2];
    if (pipe(in) != 0 || pipe(out) != 0)
        return false;
    sim->pid = fork();
    if (sim->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        if (cert_dir)
            execl(vcsim_binary, vcsim_binary, "-port", "0", "-control-port", "0",
                  "-exit-on-stdin-eof", "-lifetime", "2m", "-tls-cert", cert, "-tls-key", key,
                  (char *)NULL);
        else
            execl(vcsim_binary, vcsim_binary, "-port", "0", "-control-port", "0",
                  "-exit-on-stdin-eof", "-lifetime", "2m", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    sim->stdin_fd = in[1];
    char line[2048];
    size_t len = 0;
    while (len < sizeof line - 1) {
        fd_set fds;
        FD_ZERO(&fds);
        FD_SET(out[0], &fds);
        struct timeval timeout = {15, 0};
        if (select(out[0] + 1, &fds, NULL, NULL, &timeout) <= 0)
            break;
        ssize_t n = read(out[0], line + len, 1);
        if (n <= 0 || line[len] == '\n')
            break;
        len++;
    }
    line[len] = '\0';
    close(out[0]);
    cJSON *ready = cJSON_Parse(line);
    const char *url = cJSON_GetStringValue(cJSON_GetObjectItem(ready, "url"));
    const char *control = cJSON_GetStringValue(cJSON_GetObjectItem(ready, "control"));
    bool ok = url && control;
    if (ok) {
        snprintf(sim->url, sizeof sim->url, "%s", url);
        snprintf(sim->control, sizeof sim->control, "%s", control);
    } else {
        fprintf(stderr, "vcsim did not start: %s\n", line);
    }
    cJSON_Delete(ready);
    return ok;
}

static void vcsim_stop(vcsim *sim)
{
    close(sim->stdin_fd); /* -exit-on-stdin-eof */
    kill(sim->pid, SIGTERM);
    waitpid(sim->pid, NULL, 0);
}

static size_t discard(char *data, size_t size, size_t count, void *user)
{
    (void)data;
    (void)user;
    return size * count;
}

/* A blocking POST to the control API (the simulator is another process, so the loop can wait). */
static long vcsim_control(const vcsim *sim, const char *path)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", sim->control, path);
    CURL *curl = curl_easy_init();
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
    long status = 0;
    if (curl_easy_perform(curl) == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);
    return status;
}

typedef struct harness {
    uv_loop_t loop;
    event_queue queue;
    provider_stats stats;
    config_provider config;
    void *state;
    char checkpoint_dir[256];
} harness;

/* checkpoint_dir NULL: a new empty one. */
static bool harness_start(harness *h, const vcsim *sim, const char *user, const char *password,
                          size_t queue_capacity, const char *checkpoint_dir, char *err,
                          size_t err_cap)
{
    memset(h, 0, sizeof *h);
    uv_loop_init(&h->loop);
    event_queue_init(&h->queue, queue_capacity);
    if (checkpoint_dir) {
        snprintf(h->checkpoint_dir, sizeof h->checkpoint_dir, "%s", checkpoint_dir);
    } else {
        snprintf(h->checkpoint_dir, sizeof h->checkpoint_dir, "/tmp/test_source_vcenter.XXXXXX");
        if (!mkdtemp(h->checkpoint_dir))
            return false;
    }
    h->config.name = "vc-test";
    h->config.kind = PROVIDER_VCENTER;
    h->config.vcenter.address = (char *)sim->url;
    h->config.vcenter.checkpoint = true;
    h->config.vcenter.checkpoint_dir = h->checkpoint_dir;
    h->config.vcenter.auth.type = AUTH_BASIC;
    h->config.vcenter.auth.username = (char *)user;
    h->config.vcenter.auth.password = (char *)password;
    source_services services = {.loop = &h->loop, .queue = &h->queue, .stats = &h->stats};
    return vcenter_source_type.create(&h->config, &services, &h->state, err, err_cap) == 0;
}

/* Runs the loop until done(h) or the deadline; returns done(h). */
static bool run_until(harness *h, bool (*done)(harness *), double seconds)
{
    uint64_t deadline = uv_hrtime() + (uint64_t)(seconds * 1e9);
    while (!done(h) && uv_hrtime() < deadline)
        uv_run(&h->loop, UV_RUN_ONCE);
    return done(h);
}

static bool is_ready(harness *h)
{
    return vcenter_source_type.ready(h->state);
}

static bool has_error(harness *h)
{
    return source_vcenter_last_error(h->state)[0] != '\0';
}

static bool powered_off_seen;
static bool has_powered_off(harness *h)
{
    for (size_t i = 0; i < h->queue.count; i++) {
        event *ev = h->queue.ring[(h->queue.head + i) % h->queue.capacity];
        const char *subject = event_get_attribute(ev, "subject");
        if (subject && strcmp(subject, "VmPoweredOffEvent") == 0)
            powered_off_seen = true;
    }
    return powered_off_seen;
}

static bool has_powered_on(harness *h)
{
    for (size_t i = 0; i < h->queue.count; i++) {
        const char *subject =
            event_get_attribute(h->queue.ring[(h->queue.head + i) % h->queue.capacity], "subject");
        if (subject && strcmp(subject, "VmPoweredOnEvent") == 0)
            return true;
    }
    return false;
}

static int64_t expected_checkpoint_key;
static char expected_checkpoint_path[512];
static bool checkpoint_reached(harness *h)
{
    (void)h;
    checkpoint_record record;
    char err[256];
    return checkpoint_load(expected_checkpoint_path, &record, err, sizeof err) == 1 &&
           record.last_event_key == expected_checkpoint_key;
}

static bool never(harness *h)
{
    (void)h;
    return false;
}

static bool loop_empty(harness *h)
{
    return !uv_loop_alive(&h->loop);
}

static void harness_close(harness *h)
{
    vcenter_source_type.close(h->state);
    run_until(h, loop_empty, 10);
    CHECK(!uv_loop_alive(&h->loop)); /* every handle closed */
    CHECK(uv_loop_close(&h->loop) == 0);
    event_queue_destroy(&h->queue);
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[1024];
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

static void test_power_off_reaches_queue_in_key_order_and_checkpoints(const vcsim *sim)
{
    harness h;
    char err[256] = "";
    CHECK(harness_start(&h, sim, "user", "pass", 1000, NULL, err, sizeof err));
    CHECK(run_until(&h, is_ready, 10));
    /* Events from before the start are not replayed without a checkpoint. */
    run_until(&h, never, 0.3);
    size_t before = event_queue_depth(&h.queue);

    CHECK(vcsim_control(sim, "/vm/poweroff?name=DC0_H0_VM0") == 200);
    powered_off_seen = false;
    uint64_t t0 = uv_hrtime();
    CHECK(run_until(&h, has_powered_off, 5));
    double latency = (double)(uv_hrtime() - t0) / 1e9;
    fprintf(stderr, "  VmPoweredOffEvent reached the queue %.3f s after the control call\n",
            latency);
    CHECK(before == 0);

    /* Another operation, then everything must be in strictly increasing key order. */
    CHECK(vcsim_control(sim, "/vm/poweron?name=DC0_H0_VM0") == 200);
    CHECK(run_until(&h, has_powered_on, 5));
    int64_t previous = 0, last_key = 0;
    bool increasing = true, saw_stopping = false, saw_off = false, saw_on = false;
    event *ev;
    while ((ev = event_queue_pop(&h.queue))) {
        int64_t key = (int64_t)(intptr_t)ev->source_token;
        if (key <= previous)
            increasing = false;
        previous = last_key = key;
        const char *subject = event_get_attribute(ev, "subject");
        saw_stopping |= subject && strcmp(subject, "VmStoppingEvent") == 0;
        saw_off |= subject && strcmp(subject, "VmPoweredOffEvent") == 0;
        saw_on |= subject && strcmp(subject, "VmPoweredOnEvent") == 0;
        CHECK_STR(ev->source_name, "vc-test");
        CHECK_STR(ev->type, "com.vmware.event.router/event");
        vcenter_source_type.event_done(h.state, ev);
        event_unref(ev);
    }
    CHECK(increasing);
    CHECK(saw_stopping && saw_off && saw_on);
    CHECK(h.stats.events_total >= 4);

    /* The checkpoint is written within about a second of the last event_done. */
    char path[512], cp_err[256];
    checkpoint_path(h.checkpoint_dir, "127.0.0.1", path, sizeof path);
    snprintf(expected_checkpoint_path, sizeof expected_checkpoint_path, "%s", path);
    expected_checkpoint_key = last_key;
    uint64_t done_at = uv_hrtime();
    CHECK(run_until(&h, checkpoint_reached, 3));
    CHECK(uv_hrtime() - done_at < 1500000000ull);
    checkpoint_record record;
    CHECK(checkpoint_load(path, &record, cp_err, sizeof cp_err) == 1);
    CHECK(record.last_event_key == last_key);
    CHECK_STR(record.last_event_type, "VmPoweredOnEvent");
    CHECK_STR(record.vcenter, "127.0.0.1");
    harness_close(&h);

    /* A restart resumes after the checkpoint: only newer events arrive. */
    harness h3;
    CHECK(harness_start(&h3, sim, "user", "pass", 1000, h.checkpoint_dir, err, sizeof err));
    CHECK(run_until(&h3, is_ready, 10));
    CHECK(vcsim_control(sim, "/vm/poweroff?name=DC0_H0_VM1") == 200);
    powered_off_seen = false;
    CHECK(run_until(&h3, has_powered_off, 5));
    bool all_newer = true;
    while ((ev = event_queue_pop(&h3.queue))) {
        if ((int64_t)(intptr_t)ev->source_token <= last_key)
            all_newer = false;
        event_unref(ev);
    }
    CHECK(all_newer);
    harness_close(&h3);
    remove_dir(h3.checkpoint_dir);
}

static bool is_not_ready(harness *h)
{
    return !vcenter_source_type.ready(h->state);
}

/* Pops everything, checking keys only grow across calls; counts subjects of interest. */
static int64_t drain_previous;
static bool drain_increasing;
static int drain(harness *h, const char *subject_wanted)
{
    int wanted = 0;
    event *ev;
    while ((ev = event_queue_pop(&h->queue))) {
        int64_t key = (int64_t)(intptr_t)ev->source_token;
        if (key <= drain_previous)
            drain_increasing = false;
        drain_previous = key;
        const char *subject = event_get_attribute(ev, "subject");
        if (subject && subject_wanted && strcmp(subject, subject_wanted) == 0)
            wanted++;
        vcenter_source_type.event_done(h->state, ev);
        event_unref(ev);
    }
    return wanted;
}

static void test_reconnects_after_vcenter_restart(const vcsim *sim)
{
    harness h;
    char err[256] = "";
    CHECK(harness_start(&h, sim, "user", "pass", 1000, NULL, err, sizeof err));
    CHECK(run_until(&h, is_ready, 10));
    drain_previous = 0;
    drain_increasing = true;
    CHECK(vcsim_control(sim, "/vm/poweroff?name=DC0_C0_RP0_VM0") == 200);
    powered_off_seen = false;
    CHECK(run_until(&h, has_powered_off, 5));
    CHECK(drain(&h, "VmPoweredOffEvent") == 1);

    /* The restart drops every connection and ends every session (NotAuthenticated after). */
    CHECK(vcsim_control(sim, "/restart?down_ms=300") == 200);
    CHECK(run_until(&h, is_not_ready, 5));
    CHECK(run_until(&h, is_ready, 10));
    CHECK(vcsim_control(sim, "/vm/poweron?name=DC0_C0_RP0_VM0") == 200);
    CHECK(vcsim_control(sim, "/vm/poweroff?name=DC0_C0_RP0_VM0") == 200);
    powered_off_seen = false;
    CHECK(run_until(&h, has_powered_off, 5));
    run_until(&h, never, 0.5);
    /* Exactly the new power off, nothing replayed twice, keys still increasing. */
    CHECK(drain(&h, "VmPoweredOffEvent") == 1);
    CHECK(drain_increasing);
    harness_close(&h);
    remove_dir(h.checkpoint_dir);
}

static void test_full_queue_pauses_reading_without_loss(const vcsim *sim)
{
    harness h;
    char err[256] = "";
    CHECK(harness_start(&h, sim, "user", "pass", 1, NULL, err, sizeof err));
    CHECK(run_until(&h, is_ready, 10));
    drain_previous = 0;
    drain_increasing = true;
    CHECK(vcsim_control(sim, "/vm/poweroff?name=DC0_C0_RP0_VM1") == 200);
    CHECK(vcsim_control(sim, "/vm/poweron?name=DC0_C0_RP0_VM1") == 200);
    run_until(&h, never, 0.5);
    CHECK(event_queue_depth(&h.queue) == 1); /* never more than the queue holds */
    const char *expected[] = {"VmStoppingEvent", "VmPoweredOffEvent", "VmStartingEvent",
                              "VmPoweredOnEvent"};
    size_t seen = 0;
    uint64_t deadline = uv_hrtime() + 5000000000ull;
    while (seen < 4 && uv_hrtime() < deadline) {
        event *ev = event_queue_pop(&h.queue);
        if (!ev) {
            uv_run(&h.loop, UV_RUN_ONCE);
            continue;
        }
        const char *subject = event_get_attribute(ev, "subject");
        if (subject && strcmp(subject, expected[seen]) == 0)
            seen++;
        vcenter_source_type.event_done(h.state, ev);
        event_unref(ev);
    }
    CHECK(seen == 4); /* all four, in order, one queue slot at a time */
    harness_close(&h);
    remove_dir(h.checkpoint_dir);
}

static void test_wrong_password_is_a_clear_error(const vcsim *sim)
{
    /* The simulator accepts any non-empty password; an empty one is refused (InvalidLogin). */
    harness h;
    char err[256] = "";
    CHECK(harness_start(&h, sim, "alice@vsphere.local", "", 10, NULL, err, sizeof err));
    CHECK(run_until(&h, has_error, 10));
    const char *error = source_vcenter_last_error(h.state);
    CHECK_CONTAINS(error, "alice@vsphere.local");
    CHECK_CONTAINS(error, "invalid user name or password");
    CHECK(!vcenter_source_type.ready(h.state));
    harness_close(&h);
    remove_dir(h.checkpoint_dir);
}

static void test_password_never_in_error(const vcsim *sim)
{
    /* Nothing listens on this port: the error names the host, never the password. */
    (void)sim;
    vcsim dead = {0};
    snprintf(dead.url, sizeof dead.url, "http://127.0.0.1:1/sdk");
    harness h;
    char err[256] = "";
    CHECK(harness_start(&h, &dead, "user", "s3cret-Pa55", 10, NULL, err, sizeof err));
    CHECK(run_until(&h, has_error, 10));
    const char *error = source_vcenter_last_error(h.state);
    CHECK_CONTAINS(error, "127.0.0.1");
    CHECK(strstr(error, "s3cret-Pa55") == NULL);
    CHECK(!vcenter_source_type.ready(h.state));
    harness_close(&h);
    remove_dir(h.checkpoint_dir);
}

/* HTTPS with the peer's own certificate: trusted through ca_file, refused without it. */
static void test_tls_with_ca_file_and_refused_without(void)
{
    char dir[] = "/tmp/test_source_vcenter_tls.XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char command[2048];
    snprintf(command, sizeof command, "%s -gen-cert %s >/dev/null", vcsim_binary, dir);
    CHECK(system(command) == 0);
    vcsim sim;
    if (!vcsim_start(&sim, dir)) {
        CHECK(!"vcsim with TLS started");
        return;
    }
    CHECK(strncmp(sim.url, "https://", 8) == 0);
    char ca[512], err[256] = "";
    snprintf(ca, sizeof ca, "%s/cert.pem", dir);

    harness h;
    CHECK(harness_start(&h, &sim, "user", "pass", 10, NULL, err, sizeof err));
    CHECK(run_until(&h, has_error, 10)); /* self-signed: not trusted by the system store */
    CHECK(!vcenter_source_type.ready(h.state));
    CHECK_CONTAINS(source_vcenter_last_error(h.state), "unreachable");
    harness_close(&h);
    remove_dir(h.checkpoint_dir);

    CHECK(harness_start(&h, &sim, "user", "pass", 10, NULL, err, sizeof err));
    h.config.vcenter.ca_file = ca; /* read at create: restart with it */
    vcenter_source_type.close(h.state);
    run_until(&h, loop_empty, 10);
    source_services services = {.loop = &h.loop, .queue = &h.queue, .stats = &h.stats};
    CHECK(vcenter_source_type.create(&h.config, &services, &h.state, err, sizeof err) == 0);
    CHECK(run_until(&h, is_ready, 10));
    harness_close(&h);
    remove_dir(h.checkpoint_dir);
    vcsim_stop(&sim);
    remove_dir(dir);
}

/* ---- A fake vCenter with a real vCenter's collector semantics ----
 * The simulator's ReadNextEvents serves only its latestPage; a real vCenter reads forward from the
 * collector's beginTime, page after page. This fake does the latter on answers shaped like the
 * recorded ones (tests/fixtures/soap), so the multi-page backlog and the replay bound can be
 * checked where the simulator cannot show them. */

#define FAKE_EVENTS 1500
#define FAKE_COLLECTORS 64

typedef struct fake_collector {
    char ref[32]; /* "" when free */
    double begin; /* 0: no time filter */
    double end;   /* 0: open */
    int page_size;
    int cursor; /* the last key read */
} fake_collector;

typedef struct fake_vcenter {
    http_server *server;
    char url[128];
    double now;
    int newest;              /* keys 1..newest exist (unless skipped or purged) */
    int oldest_kept;         /* history kept from this key on (older ones are purged) */
    int skip_every;          /* keys divisible by this were never written (0: none) */
    bool ignore_time_filter; /* like the simulator */
    bool huge_pages;         /* ReadNextEvents answers more than the response cap */
    int huge_from_count;     /* with huge_pages: only for a maxCount at least this (0: always) */
    bool huge_wait_once;     /* the next WaitForUpdatesEx with news answers over its byte limit */
    int page_reported;       /* the newest key the last WaitForUpdatesEx reported */
    int refuse_session_at;   /* once newest reaches it, one call gets NotAuthenticated (0: off) */
    int logins;
    fake_collector collectors[FAKE_COLLECTORS];
    int collector_count;
    int read_next_calls;
    char create_bodies[4][1024];
    int create_count;
} fake_vcenter;

static double fake_event_time(const fake_vcenter *fake, int key)
{
    return fake->now - 1500.5 + key; /* key 1 1500.5 s ago ... key 1500 0.5 s ago */
}

static bool fake_has_key(const fake_vcenter *fake, int key)
{
    return key >= 1 && key <= fake->newest && key >= fake->oldest_kept &&
           !(fake->skip_every && key % fake->skip_every == 0);
}

static void format_time(double t, char *out, size_t cap)
{
    checkpoint_format_time((int64_t)floor(t), (long)((t - floor(t)) * 1e9), out, cap);
}

/* The text between "<tag" ...">" and "</tag>" of the first tag in body, or "". */
static void fake_element(const char *body, const char *tag, char *out, size_t cap)
{
    out[0] = '\0';
    char open[64];
    snprintf(open, sizeof open, "<%s", tag);
    const char *start = strstr(body, open);
    start = start ? strchr(start, '>') : NULL;
    const char *end = start ? strstr(start, "</") : NULL;
    if (end && (size_t)(end - start - 1) < cap)
        snprintf(out, cap, "%.*s", (int)(end - start - 1), start + 1);
}

static fake_collector *fake_find(fake_vcenter *fake, const char *body)
{
    char ref[64];
    fake_element(body, "_this", ref, sizeof ref);
    for (int i = 0; i < FAKE_COLLECTORS; i++)
        if (fake->collectors[i].ref[0] && strcmp(fake->collectors[i].ref, ref) == 0)
            return &fake->collectors[i];
    return NULL;
}

static void fake_event(FILE *out, const fake_vcenter *fake, int key, const char *element)
{
    char created[64];
    format_time(fake_event_time(fake, key), created, sizeof created);
    fprintf(out,
            "<%s xmlns:XMLSchema-instance=\"http://www.w3.org/2001/XMLSchema-instance\" "
            "XMLSchema-instance:type=\"GeneralUserEvent\"><key>%d</key><chainId>%d</chainId>"
            "<createdTime>%s</createdTime><userName>user</userName>"
            "<fullFormattedMessage>event %d</fullFormattedMessage><message>event %d</message>"
            "</%s>",
            element, key, key, created, key, key, element);
}

/* The follow collector's latestPage as a real vCenter sends it: coalesced, only the newest
 * page_size events whatever happened since the last call. */
static void fake_latest_page(FILE *out, fake_vcenter *fake)
{
    const fake_collector *follow = &fake->collectors[0];
    int size = follow->page_size > 0 ? follow->page_size : 10;
    fputs("<returnval><version>v</version><filterSet><filter type=\"PropertyFilter\">"
          "session[52c1e3]filter</filter><objectSet><kind>modify</kind><obj "
          "type=\"EventHistoryCollector\">",
          out);
    fprintf(out,
            "%s</obj><changeSet><name>latestPage</name><op>assign</op><val "
            "xsi:type=\"ArrayOfEvent\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">",
            follow->ref);
    for (int key = fake->newest, n = 0; key >= 1 && n < size; key--)
        if (fake_has_key(fake, key)) {
            fake_event(out, fake, key, "Event");
            n++;
        }
    fputs("</val></changeSet></objectSet></filterSet></returnval>", out);
    fake->page_reported = fake->newest;
}

static char *fake_body; /* the last answer, freed on the next one and at the end */

static void fake_handle(void *user, const http_request *request, http_response *response)
{
    fake_vcenter *fake = user;
    /* The request body is not NUL-terminated. */
    char *body = strndup(request->body ? request->body : "", request->body_len);
    free(fake_body);
    size_t len = 0;
    FILE *out = open_memstream(&fake_body, &len);
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope xmlns:soapenv=\"http://"
          "schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body>",
          out);
    char name[64] = "";
    const char *call = strstr(body, "<soapenv:Body><");
    if (call)
        sscanf(call + strlen("<soapenv:Body><"), "%63[A-Za-z]", name);
    response->status = 200;
    response->content_type = "text/xml; charset=utf-8";
    if (strcmp(name, "RetrieveServiceContent") == 0) {
        fputs("<RetrieveServiceContentResponse xmlns=\"urn:vim25\"><returnval><rootFolder "
              "type=\"Folder\">group-d1</rootFolder><propertyCollector type=\"PropertyCollector\">"
              "propertyCollector</propertyCollector><about><apiVersion>7.0.3.0</apiVersion>"
              "</about><sessionManager type=\"SessionManager\">SessionManager</sessionManager>"
              "<eventManager type=\"EventManager\">EventManager</eventManager></returnval>"
              "</RetrieveServiceContentResponse>",
              out);
    } else if (strcmp(name, "Login") == 0) {
        fake->logins++;
        /* A real vCenter's cookie form: quoted value, Path and Secure. */
        response->extra_headers =
            "Set-Cookie: vmware_soap_session=\"52c1e3-fake\"; Path=/; HttpOnly; Secure\r\n";
        fputs("<LoginResponse xmlns=\"urn:vim25\"><returnval><key>52c1e3</key><userName>user"
              "</userName></returnval></LoginResponse>",
              out);
    } else if (strcmp(name, "CurrentTime") == 0) {
        char now[64];
        format_time(fake->now, now, sizeof now);
        fprintf(out,
                "<CurrentTimeResponse xmlns=\"urn:vim25\"><returnval>%s</returnval>"
                "</CurrentTimeResponse>",
                now);
    } else if (fake->refuse_session_at && fake->newest >= fake->refuse_session_at) {
        fake->refuse_session_at = 0; /* the session ended (an administrator, a vCenter timeout) */
        response->status = 500;
        fputs("<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring></faultstring>"
              "<detail><NotAuthenticatedFault xmlns=\"urn:vim25\" "
              "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
              "xsi:type=\"NotAuthenticated\"></NotAuthenticatedFault></detail></soapenv:Fault>",
              out);
    } else if (strcmp(name, "CreateCollectorForEvents") == 0) {
        int slot = 0;
        while (slot < FAKE_COLLECTORS && fake->collectors[slot].ref[0])
            slot++;
        if (slot == FAKE_COLLECTORS)
            slot = FAKE_COLLECTORS - 1; /* a leak in the source: the count check below fails */
        fake_collector *c = &fake->collectors[slot];
        memset(c, 0, sizeof *c);
        snprintf(c->ref, sizeof c->ref, "session[52c1e3]%d", fake->collector_count++);
        char text[64];
        fake_element(body, "beginTime", text, sizeof text);
        if (!checkpoint_parse_time(text, &c->begin))
            c->begin = 0;
        fake_element(body, "endTime", text, sizeof text);
        if (!checkpoint_parse_time(text, &c->end))
            c->end = 0;
        fake_element(body, "maxCount", text, sizeof text);
        c->page_size = atoi(text);
        if (fake->create_count < 4)
            snprintf(fake->create_bodies[fake->create_count++], sizeof fake->create_bodies[0], "%s",
                     body);
        fprintf(out,
                "<CreateCollectorForEventsResponse xmlns=\"urn:vim25\"><returnval "
                "type=\"EventHistoryCollector\">%s</returnval></CreateCollectorForEventsResponse>",
                c->ref);
    } else if (strcmp(name, "ReadNextEvents") == 0 && fake_find(fake, body)) {
        /* Forward from beginTime (or the oldest kept event) to endTime, including events
         * recorded after the collector was created: a real vCenter's reading. */
        fake_collector *c = fake_find(fake, body);
        char text[32];
        fake_element(body, "maxCount", text, sizeof text);
        int max = atoi(text);
        fake->read_next_calls++;
        fputs("<ReadNextEventsResponse xmlns=\"urn:vim25\">", out);
        if (fake->huge_pages && max >= fake->huge_from_count)
            for (int i = 0; i < 17 * 1024; i++)
                fprintf(out, "<!-- %1017d -->", i); /* 1 KiB each: 17 MiB */
        for (int n = 0; c->cursor < fake->newest && n < max;) {
            int key = ++c->cursor;
            double t = fake_event_time(fake, key);
            bool in_time =
                fake->ignore_time_filter || (t >= c->begin && (c->end == 0 || t <= c->end));
            if (fake_has_key(fake, key) && in_time) {
                fake_event(out, fake, key, "returnval");
                n++;
            }
        }
        fputs("</ReadNextEventsResponse>", out);
    } else if (strcmp(name, "WaitForUpdatesEx") == 0) {
        char version[32];
        fake_element(body, "version", version, sizeof version);
        fputs("<WaitForUpdatesExResponse xmlns=\"urn:vim25\">", out);
        if (version[0] && fake->newest > fake->page_reported && fake->huge_wait_once) {
            fake->huge_wait_once = false;
            size_t pad = VCENTER_SOAP_MAX_UPDATE_BYTES + 1024;
            char *comment = malloc(pad + 1);
            memset(comment, 'x', pad);
            comment[pad] = '\0';
            fprintf(out, "<!-- %s -->", comment);
            free(comment);
        }
        if (!version[0] || fake->newest > fake->page_reported)
            fake_latest_page(out, fake);
        fputs("</WaitForUpdatesExResponse>", out);
    } else if (strcmp(name, "DestroyCollector") == 0) {
        fake_collector *c = fake_find(fake, body);
        if (c)
            c->ref[0] = '\0';
        fputs("<DestroyCollectorResponse xmlns=\"urn:vim25\"></DestroyCollectorResponse>", out);
    } else if (strcmp(name, "CreatePropertyCollector") == 0) {
        fputs("<CreatePropertyCollectorResponse xmlns=\"urn:vim25\"><returnval type=\""
              "PropertyCollector\">session[52c1e3]pc</returnval></CreatePropertyCollectorResponse>",
              out);
    } else if (strcmp(name, "CreateFilter") == 0) {
        fputs("<CreateFilterResponse xmlns=\"urn:vim25\"><returnval type=\"PropertyFilter\">"
              "session[52c1e3]filter</returnval></CreateFilterResponse>",
              out);
    } else if (strcmp(name, "DestroyPropertyCollector") == 0 || strcmp(name, "Logout") == 0) {
        fprintf(out, "<%sResponse xmlns=\"urn:vim25\"></%sResponse>", name, name); /* nothing new */
    } else {
        response->status = 500;
        fprintf(out,
                "<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>"
                "unexpected %s</faultstring></soapenv:Fault>",
                name);
    }
    fputs("</soapenv:Body></soapenv:Envelope>", out);
    fclose(out);
    free(body);
    response->body = fake_body;
    response->body_len = len;
}

static bool fake_start(fake_vcenter *fake, harness *h)
{
    memset(fake, 0, sizeof *fake);
    fake->now = floor((double)time(NULL));
    fake->newest = FAKE_EVENTS;
    fake->oldest_kept = 1;
    char err[256];
    fake->server =
        http_server_start(&h->loop, "127.0.0.1:0", 1 << 20, fake_handle, fake, err, sizeof err);
    if (!fake->server) {
        fprintf(stderr, "fake vCenter: %s\n", err);
        return false;
    }
    snprintf(fake->url, sizeof fake->url, "http://127.0.0.1:%d/sdk",
             http_server_port(fake->server));
    return true;
}

/* The loop and queue of h without the source (created by fake_source_start). */
static void fake_harness_init(harness *h, size_t queue_capacity)
{
    memset(h, 0, sizeof *h);
    uv_loop_init(&h->loop);
    event_queue_init(&h->queue, queue_capacity);
    snprintf(h->checkpoint_dir, sizeof h->checkpoint_dir, "/tmp/test_source_vcenter.XXXXXX");
    CHECK(mkdtemp(h->checkpoint_dir) != NULL);
}

/* A checkpoint at key (with that event's time), then the source on the fake. */
static bool fake_source_start(harness *h, fake_vcenter *fake, int checkpoint_key,
                              double max_replay_age)
{
    checkpoint_record record = {0};
    snprintf(record.vcenter, sizeof record.vcenter, "127.0.0.1");
    record.last_event_key = checkpoint_key;
    snprintf(record.last_event_type, sizeof record.last_event_type, "GeneralUserEvent");
    snprintf(record.last_event_uuid, sizeof record.last_event_uuid, "uuid-%d", checkpoint_key);
    format_time(fake_event_time(fake, checkpoint_key), record.last_event_key_timestamp,
                sizeof record.last_event_key_timestamp);
    format_time(fake->now, record.created_timestamp, sizeof record.created_timestamp);
    char path[512], err[256];
    if (!checkpoint_path(h->checkpoint_dir, "127.0.0.1", path, sizeof path) ||
        checkpoint_save(path, &record, err, sizeof err) != 0)
        return false;
    h->config.name = "vc-fake";
    h->config.kind = PROVIDER_VCENTER;
    h->config.vcenter.address = fake->url;
    h->config.vcenter.checkpoint = true;
    h->config.vcenter.checkpoint_dir = h->checkpoint_dir;
    h->config.vcenter.max_replay_age_seconds = max_replay_age;
    h->config.vcenter.auth.type = AUTH_BASIC;
    h->config.vcenter.auth.username = "user";
    h->config.vcenter.auth.password = "fake-vcenter-secret";
    source_services services = {.loop = &h->loop, .queue = &h->queue, .stats = &h->stats};
    return vcenter_source_type.create(&h->config, &services, &h->state, err, sizeof err) == 0;
}

static size_t fake_expected;
static bool fake_all_queued(harness *h)
{
    return h->queue.count >= fake_expected;
}

/* Every queued key, in queue order, is first..last exactly once. */
static void check_queued_keys(harness *h, int first, int last)
{
    CHECK(h->queue.count == (size_t)(last - first + 1));
    int expected = first;
    bool in_order = true;
    event *ev;
    while ((ev = event_queue_pop(&h->queue))) {
        in_order &= (intptr_t)ev->source_token == expected++;
        vcenter_source_type.event_done(h->state, ev);
        event_unref(ev);
    }
    CHECK(in_order);
    CHECK(expected == last + 1);
}

static void fake_close(harness *h, fake_vcenter *fake)
{
    vcenter_source_type.close(h->state);
    http_server_close(fake->server);
    run_until(h, loop_empty, 10);
    CHECK(uv_loop_close(&h->loop) == 0);
    event_queue_destroy(&h->queue);
    remove_dir(h->checkpoint_dir);
    free(fake_body);
    fake_body = NULL;
}

static void test_backlog_of_several_pages_read_forward_in_order(void)
{
    harness h;
    fake_vcenter fake;
    fake_harness_init(&h, 2048);
    CHECK(fake_start(&fake, &h));
    CHECK(fake_source_start(&h, &fake, 100, 3600));
    fake_expected = FAKE_EVENTS - 100;
    CHECK(run_until(&h, fake_all_queued, 10));
    /* Keys 100..1500 from the checkpoint's time: a page of 1000, then one of 401. */
    CHECK(fake.read_next_calls >= 2);
    /* The follow collector first (from now, a small latestPage), then the backlog collector from
     * the checkpoint's time with a page of 1000. */
    CHECK(fake.create_count == 2);
    char begin[64], expected[64];
    fake_element(fake.create_bodies[0], "beginTime", begin, sizeof begin);
    format_time(fake.now, expected, sizeof expected);
    CHECK_STR(begin, expected);
    CHECK_CONTAINS(fake.create_bodies[0], "<maxCount>1</maxCount>");
    fake_element(fake.create_bodies[1], "beginTime", begin, sizeof begin);
    format_time(fake_event_time(&fake, 100), expected, sizeof expected);
    CHECK_STR(begin, expected);
    CHECK_CONTAINS(fake.create_bodies[1], "</time><maxCount>1000</maxCount></filter>");
    check_queued_keys(&h, 101, FAKE_EVENTS);
    fake_close(&h, &fake);
}

/* maxReplayAge bounds the catch-up even when the server ignores the time filter (the simulator):
 * the checkpoint is 1400 s old, the bound 1000 s. */
static void test_backlog_respects_max_replay_age(void)
{
    for (int ignore = 0; ignore <= 1; ignore++) {
        harness h;
        fake_vcenter fake;
        fake_harness_init(&h, 2048);
        CHECK(fake_start(&fake, &h));
        fake.ignore_time_filter = ignore;
        CHECK(fake_source_start(&h, &fake, 100, 1000));
        fake_expected = 1000; /* keys 501..1500: created at most 999.5 s ago */
        CHECK(run_until(&h, fake_all_queued, 10));
        run_until(&h, never, 0.2); /* nothing more comes */
        char begin[64], expected[64];
        fake_element(fake.create_bodies[1], "beginTime", begin, sizeof begin);
        format_time(fake.now - 1000, expected, sizeof expected);
        CHECK_STR(begin, expected);
        check_queued_keys(&h, 501, FAKE_EVENTS);
        fake_close(&h, &fake);
    }
}

static bool has_error_now(harness *h)
{
    return has_error(h);
}

static void test_response_too_large_is_named(void)
{
    harness h;
    fake_vcenter fake;
    fake_harness_init(&h, 16);
    CHECK(fake_start(&fake, &h));
    fake.huge_pages = true;
    CHECK(fake_source_start(&h, &fake, 100, 3600));
    CHECK(run_until(&h, has_error_now, 10));
    const char *error = source_vcenter_last_error(h.state);
    CHECK_CONTAINS(error, "ReadNextEvents");
    CHECK_CONTAINS(error, "response too large (16777216 bytes cap)");
    CHECK(h.queue.count == 0);
    fake_close(&h, &fake);
}

/* ---- Storms on a real vCenter's semantics: latestPage coalesced to the newest event, the
 * collectors read forward. Only the drain through ReadNextEvents sees a whole burst. ---- */

static void test_fake_coalesced_bursts_arrive_whole(void)
{
    harness h;
    fake_vcenter fake;
    fake_harness_init(&h, 16384);
    CHECK(fake_start(&fake, &h));
    CHECK(fake_source_start(&h, &fake, FAKE_EVENTS, 3600));
    CHECK(run_until(&h, is_ready, 10));
    int first = FAKE_EVENTS + 1;
    const int bursts[] = {1000, 5000, 10000};
    for (size_t i = 0; i < sizeof bursts / sizeof bursts[0]; i++) {
        fake.newest += bursts[i];
        fake_expected = (size_t)bursts[i];
        CHECK(run_until(&h, fake_all_queued, 60));
        run_until(&h, never, 0.05); /* and nothing more */
        check_queued_keys(&h, first, fake.newest);
        first = fake.newest + 1;
    }
    CHECK(h.stats.events_lost == 0);
    CHECK(h.stats.event_keys_absent == 0);
    fake_close(&h, &fake);
}

/* vCenter skips keys: each hole costs one look-up, is reported as absent, and never stalls. */
static void test_fake_skipped_keys_are_reported_and_never_stall(void)
{
    harness h;
    fake_vcenter fake;
    fake_harness_init(&h, 4096);
    CHECK(fake_start(&fake, &h));
    CHECK(fake_source_start(&h, &fake, FAKE_EVENTS, 3600));
    CHECK(run_until(&h, is_ready, 10));
    fake.skip_every = 100;
    fake.newest += 1050; /* 1501..2550 without 1600, 1700, ..., 2500 */
    fake_expected = 1040;
    CHECK(run_until(&h, fake_all_queued, 30));
    run_until(&h, never, 0.05);
    CHECK(h.queue.count == 1040);
    int64_t previous = FAKE_EVENTS;
    bool increasing = true, no_skipped = true;
    event *ev;
    while ((ev = event_queue_pop(&h.queue))) {
        int64_t key = (int64_t)(intptr_t)ev->source_token;
        increasing &= key > previous;
        no_skipped &= key % 100 != 0;
        previous = key;
        vcenter_source_type.event_done(h.state, ev);
        event_unref(ev);
    }
    CHECK(increasing && no_skipped && previous == 2550);
    CHECK(h.stats.event_keys_absent == 10);
    CHECK(h.stats.events_lost == 0);
    fake_close(&h, &fake);
}

/* The checkpoint is older than the history vCenter still keeps: the lost keys are counted. */
static void test_fake_history_overflow_is_counted(void)
{
    harness h;
    fake_vcenter fake;
    fake_harness_init(&h, 2048);
    CHECK(fake_start(&fake, &h));
    fake.oldest_kept = 600;
    CHECK(fake_source_start(&h, &fake, 100, 3600));
    fake_expected = FAKE_EVENTS - 599;
    CHECK(run_until(&h, fake_all_queued, 10));
    run_until(&h, never, 0.05);
    check_queued_keys(&h, 600, FAKE_EVENTS);
    CHECK(h.stats.events_lost == 499); /* 101..599 */
    CHECK(h.stats.event_keys_absent == 0);
    fake_close(&h, &fake);
}

/* Events posted right after ready (during the backlog) and a session that ends mid-stream:
 * every key once, in order, after one more login. */
static int fake_phase;
static fake_vcenter *fake_driven;
static bool fake_drive_startup_and_session_loss(harness *h)
{
    if (fake_phase == 0 && vcenter_source_type.ready(h->state)) {
        fake_driven->newest += 20;
        fake_driven->refuse_session_at = fake_driven->newest;
        fake_phase = 1;
    } else if (fake_phase == 1 && fake_driven->refuse_session_at == 0) {
        fake_driven->newest += 30; /* while the source logs in again */
        fake_phase = 2;
    }
    return fake_phase == 2 && h->queue.count >= (size_t)(fake_driven->newest - 600);
}

static void test_fake_startup_window_and_lost_session(void)
{
    harness h;
    fake_vcenter fake;
    fake_harness_init(&h, 2048);
    CHECK(fake_start(&fake, &h));
    CHECK(fake_source_start(&h, &fake, 600, 3600));
    fake_phase = 0;
    fake_driven = &fake;
    CHECK(run_until(&h, fake_drive_startup_and_session_loss, 20));
    run_until(&h, never, 0.05);
    check_queued_keys(&h, 601, FAKE_EVENTS + 50);
    CHECK(fake.logins == 2);
    CHECK(h.stats.events_lost == 0);
    fake_close(&h, &fake);
}

/* Paused from the console: nothing is read or pushed; resumed: everything arrives. */
static void test_fake_pause_reads_nothing_until_resumed(void)
{
    harness h;
    fake_vcenter fake;
    fake_harness_init(&h, 2048);
    CHECK(fake_start(&fake, &h));
    CHECK(fake_source_start(&h, &fake, FAKE_EVENTS, 3600));
    CHECK(run_until(&h, is_ready, 10));
    vcenter_source_type.pause(h.state, true);
    run_until(&h, never, 0.1); /* the call in flight finishes */
    int reads = fake.read_next_calls;
    fake.newest += 100;
    run_until(&h, never, 0.3);
    CHECK(h.queue.count == 0);
    CHECK(fake.read_next_calls == reads);
    vcenter_source_type.pause(h.state, false);
    fake_expected = 100;
    CHECK(run_until(&h, fake_all_queued, 10));
    check_queued_keys(&h, FAKE_EVENTS + 1, fake.newest);
    fake_close(&h, &fake);
}

/* A WaitForUpdatesEx answer over its byte limit: the events are read from the history. */
static void test_fake_update_too_large_is_read_from_history(void)
{
    harness h;
    fake_vcenter fake;
    fake_harness_init(&h, 4096);
    CHECK(fake_start(&fake, &h));
    CHECK(fake_source_start(&h, &fake, FAKE_EVENTS, 3600));
    CHECK(run_until(&h, is_ready, 10));
    fake.huge_wait_once = true;
    fake.newest += 2000;
    fake_expected = 2000;
    CHECK(run_until(&h, fake_all_queued, 30));
    run_until(&h, never, 0.05);
    CHECK(!fake.huge_wait_once); /* the oversized answer was sent */
    CHECK(fake.logins == 1);     /* read again without reconnecting */
    check_queued_keys(&h, FAKE_EVENTS + 1, fake.newest);
    CHECK(h.stats.events_lost == 0);
    fake_close(&h, &fake);
}

/* A page over the byte limit is read again with smaller pages: nothing is skipped. */
static void test_fake_page_too_large_is_read_again_smaller(void)
{
    harness h;
    fake_vcenter fake;
    fake_harness_init(&h, 2048);
    CHECK(fake_start(&fake, &h));
    fake.huge_pages = true;
    fake.huge_from_count = 500;
    CHECK(fake_source_start(&h, &fake, 100, 3600));
    fake_expected = FAKE_EVENTS - 100;
    CHECK(run_until(&h, fake_all_queued, 15));
    run_until(&h, never, 0.05);
    check_queued_keys(&h, 101, FAKE_EVENTS);
    CHECK(fake.logins == 2);
    fake_close(&h, &fake);
}

#define RUN_TEST_ARG(fn, arg)                                                                      \
    do {                                                                                           \
        int before_ = check_failures;                                                              \
        fn(arg);                                                                                   \
        fprintf(stderr, "%s %s\n", check_failures == before_ ? "ok  " : "FAIL", #fn);              \
    } while (0)

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    RUN_TEST(test_backlog_of_several_pages_read_forward_in_order);
    RUN_TEST(test_backlog_respects_max_replay_age);
    RUN_TEST(test_response_too_large_is_named);
    RUN_TEST(test_fake_coalesced_bursts_arrive_whole);
    RUN_TEST(test_fake_skipped_keys_are_reported_and_never_stall);
    RUN_TEST(test_fake_history_overflow_is_counted);
    RUN_TEST(test_fake_startup_window_and_lost_session);
    RUN_TEST(test_fake_page_too_large_is_read_again_smaller);
    RUN_TEST(test_fake_update_too_large_is_read_from_history);
    RUN_TEST(test_fake_pause_reads_nothing_until_resumed);
    if (!find_vcsim()) {
        /* tools/test.sh always builds the peer: a missing one is a broken setup, not a skip. */
        fprintf(stderr, "vcsim binary %s is absent (build it with tools/build-vcsim.sh)\n",
                vcsim_binary);
        return 1;
    }
    vcsim sim;
    if (!vcsim_start(&sim, NULL)) {
        CHECK(!"vcsim started");
        return CHECK_DONE();
    }
    RUN_TEST_ARG(test_power_off_reaches_queue_in_key_order_and_checkpoints, &sim);
    RUN_TEST_ARG(test_reconnects_after_vcenter_restart, &sim);
    RUN_TEST_ARG(test_full_queue_pauses_reading_without_loss, &sim);
    RUN_TEST_ARG(test_wrong_password_is_a_clear_error, &sim);
    RUN_TEST_ARG(test_password_never_in_error, &sim);
    RUN_TEST(test_tls_with_ca_file_and_refused_without);
    vcsim_stop(&sim);
    curl_global_cleanup();
    return CHECK_DONE();
}
