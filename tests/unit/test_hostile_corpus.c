/* The hostile-script corpus (tests/hostile, see its README): every case runs in a real script
 * chain on benign and hostile events; none may freeze, crash or lose an event, each hostile
 * event ends as the case says, and the benign events around it come out as a working script
 * leaves them. */
#include "check.h"
#include "lua/script_chain.h"

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct hostile_case {
    char name[256];
    char expect[32]; /* deadletter, drop, pass, keep, load-error */
    char error[256];
    int line; /* 0: not checked */
    bool deep_data;
} hostile_case;

static char corpus_dir[4096];

static void header_value(const char *text, const char *key, char *out, size_t cap)
{
    char prefix[64];
    snprintf(prefix, sizeof prefix, "-- %s:", key);
    const char *at = strstr(text, prefix);
    out[0] = '\0';
    if (!at)
        return;
    at += strlen(prefix);
    while (*at == ' ')
        at++;
    size_t len = strcspn(at, "\n");
    snprintf(out, cap, "%.*s", (int)len, at);
}

static char *read_text(const char *path)
{
    FILE *file = fopen(path, "rb");
    if (!file)
        return NULL;
    char *text = calloc(1, 1 << 16);
    if (text)
        fread(text, 1, (1 << 16) - 1, file);
    fclose(file);
    return text;
}

static void write_text(const char *path, const char *text)
{
    FILE *file = fopen(path, "w");
    CHECK(file != NULL);
    if (file) {
        fputs(text, file);
        fclose(file);
    }
}

/* [[[ ... ]]] nested depth deep, as JSON text. */
static char *nested_array(int depth)
{
    char *text = malloc((size_t)depth * 2 + 1);
    for (int i = 0; i < depth; i++) {
        text[i] = '[';
        text[depth * 2 - 1 - i] = ']';
    }
    text[depth * 2] = '\0';
    return text;
}

static event *new_event(const char *type, int n, bool deep)
{
    event *ev = event_new();
    char id[32];
    snprintf(id, sizeof id, "%s-%d", type, n);
    event_set_attribute(ev, "specversion", "1.0");
    event_set_attribute(ev, "id", id);
    event_set_attribute(ev, "source", "/corpus");
    event_set_attribute(ev, "type", type);
    event_set_attribute(ev, "subject", "VmPoweredOnEvent");
    event_set_attribute(ev, "datacontenttype", "application/json");
    char *data = deep ? nested_array(999) : strdup("{\"n\":1}");
    CHECK(event_set_data(ev, data, strlen(data), true));
    free(data);
    return ev;
}

static const char *extension(const event *ev, const char *name)
{
    for (size_t i = 0; i < ev->extension_count; i++)
        if (strcmp(ev->extensions[i].name, name) == 0)
            return ev->extensions[i].value;
    return NULL;
}

static bool error_names_line(const char *error, int line)
{
    char want[64];
    snprintf(want, sizeof want, "10-case.lua:%d:", line);
    return strstr(error, want) != NULL;
}

static void report(const hostile_case *c, const char *what, const char *detail)
{
    fprintf(stderr, "  case %s: %s%s%s\n", c->name, what, detail ? ": " : "", detail ? detail : "");
}

static void run_case(const hostile_case *c)
{
    char dir[64] = "/tmp/er-hostile-XXXXXX", source[4400], path[4200];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(source, sizeof source, "%s/%s", corpus_dir, c->name);
    char *code = read_text(source);
    CHECK(code != NULL);
    snprintf(path, sizeof path, "%s/10-case.lua", dir);
    write_text(path, code ? code : "");
    free(code);
    snprintf(path, sizeof path, "%s/20-after.lua", dir);
    write_text(path, "function process(e) e.extensions.after = 'yes' end\n");

    /* The default instruction budget; a wall-clock limit far above it, so that which limit stops
     * a case does not depend on how loaded the machine is or on the sanitizers (the wall clock
     * has cases of its own in test_lua_sandbox). */
    script_limits limits = {.memory_limit = 16 << 20, .time_limit_ms = 20000};
    char err[512] = "";
    script_chain *chain = script_chain_load(dir, &limits, err, sizeof err);
    int failures_before = check_failures;
    if (strcmp(c->expect, "load-error") == 0) {
        CHECK(chain == NULL);
        CHECK_CONTAINS(err, c->error);
        if (c->line)
            CHECK(error_names_line(err, c->line));
    } else if (!chain) {
        CHECK(chain != NULL);
        report(c, "did not load", err);
    } else {
        static const char *const types[] = {"benign", "hostile", "benign", "hostile", "benign"};
        size_t sent = 0, kept = 0, dropped = 0, dead = 0;
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
            event *ev = new_event(types[i], (int)i, c->deep_data);
            script_result result;
            script_verdict verdict = script_chain_run(chain, ev, &result);
            sent++;
            kept += verdict == SCRIPT_KEEP;
            dropped += verdict == SCRIPT_DROP;
            dead += verdict == SCRIPT_DEADLETTER;
            bool hostile = strcmp(types[i], "hostile") == 0;
            bool keeps = !hostile || strcmp(c->expect, "keep") == 0;
            if (keeps) {
                CHECK(verdict == SCRIPT_KEEP);
                CHECK_STR(result.error, "");
                CHECK_STR(extension(ev, "seen"), "yes");
                CHECK_STR(extension(ev, "after"), "yes");
            } else {
                script_verdict want = strcmp(c->expect, "deadletter") == 0 ? SCRIPT_DEADLETTER
                                      : strcmp(c->expect, "drop") == 0     ? SCRIPT_DROP
                                                                           : SCRIPT_KEEP;
                CHECK(verdict == want);
                CHECK_CONTAINS(result.error, c->error);
                if (c->line)
                    CHECK(error_names_line(result.error, c->line));
                if (want == SCRIPT_KEEP) { /* passed on: none of the failed script's changes */
                    CHECK_STR(ev->subject, "VmPoweredOnEvent");
                    CHECK(extension(ev, "tampered") == NULL);
                    CHECK(extension(ev, "seen") == NULL);
                    CHECK(result.routes == NULL);
                    CHECK(ev->data_len == 7 && memcmp(ev->data, "{\"n\":1}", 7) == 0);
                    CHECK_STR(extension(ev, "after"), "yes");
                }
                if (check_failures != failures_before)
                    report(c, "hostile event", result.error);
            }
            script_result_clear(&result);
            event_unref(ev);
        }
        CHECK(sent == kept + dropped + dead);
        script_chain_free(chain);
    }
    fprintf(stderr, "%s case %s\n", check_failures == failures_before ? "ok  " : "FAIL", c->name);
    char command[200];
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    CHECK(system(command) == 0);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(((const hostile_case *)a)->name, ((const hostile_case *)b)->name);
}

/* argv[1], when given, runs only the case of that file name. */
int main(int argc, char **argv)
{
    const char *root = getenv("EVENT_ROUTER_SOURCE_DIR");
    snprintf(corpus_dir, sizeof corpus_dir, "%s/tests/hostile", root ? root : ".");
    DIR *folder = opendir(corpus_dir);
    CHECK(folder != NULL);
    if (!folder)
        return CHECK_DONE();
    hostile_case cases[256];
    size_t count = 0;
    struct dirent *entry;
    while ((entry = readdir(folder)) && count < sizeof cases / sizeof cases[0]) {
        size_t len = strlen(entry->d_name);
        if (len < 5 || strcmp(entry->d_name + len - 4, ".lua") != 0 ||
            (argc > 1 && strcmp(entry->d_name, argv[1]) != 0))
            continue;
        hostile_case *c = &cases[count++];
        memset(c, 0, sizeof *c);
        snprintf(c->name, sizeof c->name, "%s", entry->d_name);
        char path[4400], value[256];
        snprintf(path, sizeof path, "%s/%s", corpus_dir, c->name);
        char *text = read_text(path);
        CHECK(text != NULL);
        header_value(text ? text : "", "expect", c->expect, sizeof c->expect);
        header_value(text ? text : "", "error", c->error, sizeof c->error);
        header_value(text ? text : "", "line", value, sizeof value);
        c->line = atoi(value);
        header_value(text ? text : "", "data", value, sizeof value);
        c->deep_data = strcmp(value, "deep") == 0;
        free(text);
        CHECK(c->expect[0] != '\0');
        CHECK(strcmp(c->expect, "keep") == 0 || c->error[0] != '\0');
    }
    closedir(folder);
    qsort(cases, count, sizeof cases[0], compare_names);
    CHECK(argc > 1 ? count == 1 : count >= 40);
    for (size_t i = 0; i < count; i++)
        run_case(&cases[i]);
    return CHECK_DONE();
}
