/* `deadletter list|show|replay` and the dead-letter lookup of `replay ID`. The files are
 * <dir>/<processor>.jsonl, one {time, processor, attempts, error, event} object per line, plus
 * "event_base64" (the event's exact structured JSON) when the event held bytes that are not UTF-8
 * (deadletter.c). Files are streamed line by line, never read whole. */
#include "console/console_internal.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *dead_dir(console_conn *conn)
{
    const console_backend *b = &conn->owner->backend;
    const char *dir = b->deadletter_dir ? b->deadletter_dir(b->engine) : NULL;
    if (!dir || !*dir)
        conn_error(conn, "no dead-letter directory configured");
    return dir && *dir ? dir : NULL;
}

/* A processor name becomes a file name: nothing that could leave the directory. */
static bool processor_name_ok(const char *name)
{
    return name && *name && name[0] != '.' && !strchr(name, '/');
}

static void file_path(char *out, size_t cap, const char *dir, const char *processor)
{
    snprintf(out, cap, "%s/%s.jsonl", dir, processor);
}

/* The event a dead-letter record holds, as structured JSON text (malloc'd), or NULL when the
 * record holds none. "event_base64" wins over "event": there "event" shows U+FFFD in place of the
 * bytes that were not UTF-8, and only the base64 form gives back the event byte for byte. */
static char *record_event_text(const cJSON *record)
{
    const cJSON *encoded = cJSON_GetObjectItemCaseSensitive(record, "event_base64");
    if (cJSON_IsString(encoded)) {
        size_t len = strlen(encoded->valuestring);
        char *text = len % 4 == 0 ? malloc(len / 4 * 3 + 1) : NULL;
        int n = text ? EVP_DecodeBlock((unsigned char *)text,
                                       (const unsigned char *)encoded->valuestring, (int)len)
                     : -1;
        if (n < 0) {
            free(text);
            return NULL;
        }
        /* EVP_DecodeBlock counts padding as data; take it back off. */
        n -= (len >= 1 && encoded->valuestring[len - 1] == '=') +
             (len >= 2 && encoded->valuestring[len - 2] == '=');
        text[n] = '\0';
        if (strlen(text) != (size_t)n) { /* a NUL inside: not a JSON text */
            free(text);
            return NULL;
        }
        return text;
    }
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(record, "event");
    return cJSON_IsObject(ev) ? cJSON_PrintUnformatted(ev) : NULL;
}

static void cmd_list(console_conn *conn)
{
    const char *dir = dead_dir(conn);
    if (!dir)
        return;
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) {
            conn_print(conn, "no dead letters");
            conn_ok(conn);
        } else {
            conn_error(conn, "%s: %s", dir, strerror(errno));
        }
        return;
    }
    size_t files = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len <= 6 || strcmp(de->d_name + len - 6, ".jsonl") != 0 || de->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t lines = 0;
        int ch;
        while ((ch = getc(f)) != EOF)
            lines += ch == '\n';
        fclose(f);
        conn_printf(conn, "%.*s  %zu  %s", (int)(len - 6), de->d_name, lines, path);
        files++;
    }
    closedir(d);
    if (files == 0)
        conn_print(conn, "no dead letters");
    conn_ok(conn);
}

static bool parse_limit(const char *text, size_t *out)
{
    if (strcmp(text, "all") == 0) {
        *out = (size_t)-1;
        return true;
    }
    char *end = NULL;
    unsigned long long n = strtoull(text, &end, 10);
    if (!*text || *end || text[0] == '-')
        return false;
    *out = (size_t)n;
    return true;
}

static FILE *open_dead_file(console_conn *conn, const char *processor, char *path, size_t cap)
{
    const char *dir = dead_dir(conn);
    if (!dir)
        return NULL;
    if (!processor_name_ok(processor)) {
        conn_error(conn, "bad processor name");
        return NULL;
    }
    file_path(path, cap, dir, processor);
    FILE *f = fopen(path, "r");
    if (!f)
        conn_error(conn, "no dead letters for %s", processor);
    return f;
}

static void cmd_show(console_conn *conn, int argc, char **argv)
{
    size_t limit = 10;
    if (argc < 3 || (argc > 3 && !parse_limit(argv[3], &limit))) {
        conn_error(conn, "usage: deadletter show PROCESSOR [N]");
        return;
    }
    char path[4096];
    FILE *f = open_dead_file(conn, argv[2], path, sizeof path);
    if (!f)
        return;
    char *line = NULL;
    size_t line_cap = 0;
    size_t number = 0;
    while (number < limit && getline(&line, &line_cap, f) > 0) {
        number++;
        cJSON *json = cJSON_Parse(line);
        const cJSON *ev = cJSON_GetObjectItemCaseSensitive(json, "event");
        const cJSON *when = cJSON_GetObjectItemCaseSensitive(json, "time");
        const cJSON *attempts = cJSON_GetObjectItemCaseSensitive(json, "attempts");
        const cJSON *error = cJSON_GetObjectItemCaseSensitive(json, "error");
        if (!cJSON_IsObject(ev)) {
            conn_printf(conn, "#%zu (not a dead-letter record)", number);
        } else {
            char *event_text = cJSON_PrintUnformatted(ev);
            conn_printf(conn, "#%zu %s attempts=%d error=%s", number,
                        cJSON_IsString(when) ? when->valuestring : "?",
                        cJSON_IsNumber(attempts) ? attempts->valueint : 0,
                        cJSON_IsString(error) ? error->valuestring : "");
            conn_printf(conn, "   %s", event_text ? event_text : "");
            free(event_text);
        }
        cJSON_Delete(json);
    }
    free(line);
    fclose(f);
    conn_ok(conn);
}

/* Dead letters of the script stage are in "scripts.jsonl" (engine.c) and go through the whole
 * pipeline again (target NULL). `script:<file>` picks that file's lines whose error names the
 * script <file> ("<file>:line: message"); other names are processor files. */
typedef struct replay_source {
    const char *file;   /* the dead-letter file's name, without .jsonl */
    const char *target; /* processor, or NULL for the whole pipeline */
    const char *script; /* only lines whose error starts with "<script>:", or NULL for all */
} replay_source;

static replay_source replay_source_of(const char *name)
{
    if (strcmp(name, "scripts") == 0)
        return (replay_source){"scripts", NULL, NULL};
    if (strncmp(name, "script:", 7) == 0)
        return (replay_source){"scripts", NULL, name + 7};
    return (replay_source){name, name, NULL};
}

static bool error_names_script(const cJSON *record, const char *script)
{
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(record, "error");
    size_t len = strlen(script);
    return cJSON_IsString(error) && strncmp(error->valuestring, script, len) == 0 &&
           error->valuestring[len] == ':';
}

/* Replays the first `limit` lines; a line leaves the file only when its replay was accepted. The
 * file is rewritten to a temporary and renamed over, so a crash leaves the old or the new file,
 * never half of one. Runs on the loop thread, so the engine's own appends cannot interleave with
 * a write; but a replay through the scripts may dead-letter its event again at once, appending
 * to this very file: only the lines the file had when the replay began are replayed, and the
 * lines appended since are carried over to the new file as they are. */
static void cmd_replay(console_conn *conn, int argc, char **argv)
{
    size_t limit = (size_t)-1;
    if (argc < 3 || (argc > 3 && !parse_limit(argv[3], &limit))) {
        conn_error(conn, "usage: deadletter replay PROCESSOR|scripts|script:FILE [N|all]");
        return;
    }
    const console_backend *b = &conn->owner->backend;
    if (!b->replay) {
        conn_error(conn, "not supported by this engine: replay");
        return;
    }
    replay_source source = replay_source_of(argv[2]);
    if (source.script && !processor_name_ok(source.script)) {
        conn_error(conn, "bad script name");
        return;
    }
    char path[4096], tmp[4200];
    FILE *in = open_dead_file(conn, source.file, path, sizeof path);
    if (!in)
        return;
    struct stat info;
    off_t original_size = fstat(fileno(in), &info) == 0 ? info.st_size : 0;
    snprintf(tmp, sizeof tmp, "%s.replay-%d.tmp", path, (int)getpid());
    FILE *out = fopen(tmp, "w");
    if (!out) {
        conn_error(conn, "%s: %s", tmp, strerror(errno));
        fclose(in);
        return;
    }
    char *line = NULL;
    size_t line_cap = 0, tried = 0, replayed = 0, kept = 0;
    ssize_t len;
    bool write_failed = false;
    for (off_t at = ftello(in); (len = getline(&line, &line_cap, in)) > 0; at = ftello(in)) {
        bool done = false;
        cJSON *json = at < original_size && tried < limit ? cJSON_Parse(line) : NULL;
        if (json && (!source.script || error_names_script(json, source.script))) {
            tried++;
            char *ev = record_event_text(json);
            char err[512] = "";
            if (!ev)
                conn_printf(conn, "#%zu: not a dead-letter record, kept", tried);
            else if (b->replay(b->engine, ev, source.target, err, sizeof err) == 0)
                done = true;
            else
                conn_printf(conn, "#%zu: replay failed, kept: %s", tried, err);
            free(ev);
        } else if (at < original_size && tried < limit && !json && !source.script) {
            tried++;
            conn_printf(conn, "#%zu: not a dead-letter record, kept", tried);
        }
        cJSON_Delete(json);
        if (done) {
            replayed++;
            continue;
        }
        kept++;
        if (fwrite(line, 1, (size_t)len, out) != (size_t)len)
            write_failed = true;
    }
    free(line);
    fclose(in);
    if (fflush(out) != 0 || fsync(fileno(out)) != 0)
        write_failed = true;
    fclose(out);
    if (write_failed || rename(tmp, path) != 0) {
        unlink(tmp);
        conn_error(conn, "could not rewrite %s; %zu events were replayed and are still in it", path,
                   replayed);
        return;
    }
    conn_printf(conn, "replayed %zu of %zu, %zu left in %s", replayed, tried, kept, path);
    conn_ok(conn);
}

void console_deadletter_command(console_conn *conn, int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : "";
    if (strcmp(sub, "list") == 0)
        cmd_list(conn);
    else if (strcmp(sub, "show") == 0)
        cmd_show(conn, argc, argv);
    else if (strcmp(sub, "replay") == 0)
        cmd_replay(conn, argc, argv);
    else
        conn_error(conn, "usage: deadletter list | show PROCESSOR [N] | replay PROCESSOR [N|all]");
}

static char *find_in_file(const char *path, const char *id)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *line = NULL, *found = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        if (!strstr(line, id))
            continue; /* cheap test before parsing */
        cJSON *json = cJSON_Parse(line);
        const cJSON *ev = cJSON_GetObjectItemCaseSensitive(json, "event");
        const cJSON *ev_id = cJSON_GetObjectItemCaseSensitive(ev, "id");
        if (cJSON_IsString(ev_id) && strcmp(ev_id->valuestring, id) == 0) {
            free(found); /* the newest record wins */
            found = record_event_text(json);
        }
        cJSON_Delete(json);
    }
    free(line);
    fclose(f);
    return found;
}

char *console_deadletter_find_event(console *c, const char *id, const char *processor)
{
    const char *dir =
        c->backend.deadletter_dir ? c->backend.deadletter_dir(c->backend.engine) : NULL;
    if (!dir || !*dir)
        return NULL;
    char path[4096];
    if (processor) {
        if (!processor_name_ok(processor))
            return NULL;
        file_path(path, sizeof path, dir, processor);
        return find_in_file(path, id);
    }
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    char *found = NULL;
    struct dirent *de;
    while (!found && (de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len <= 6 || strcmp(de->d_name + len - 6, ".jsonl") != 0 || de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        found = find_in_file(path, id);
    }
    closedir(d);
    return found;
}
