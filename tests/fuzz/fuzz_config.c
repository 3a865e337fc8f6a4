/* The RouterConfig parser and validator (engine/config/) on a YAML buffer, as check-config and
 * the daemon's start and reload read a file. Beyond not crashing: a rejected config comes with at
 * least one error, every error names the place as "file:line:col:", an accepted config frees
 * cleanly, and no error quotes the value of a secret field (password, secretKey, token): the
 * value is changed in place and the config checked again; an error that changes with it and held
 * the old value leaked it. */
#include "fuzz_support.h"

#include "config/config.h"
#include "config/config_yaml.h"
#include "log.h"

#include <ctype.h>

#define NAME "fuzz.yaml"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_set_level(LOG_LEVEL_ERROR); /* warnings about odd values would flood the fuzzer's output */
    return 0;
}

static bool names_its_place(const char *message)
{
    if (strncmp(message, NAME ":", sizeof NAME) != 0)
        return false;
    const char *p = message + sizeof NAME;
    for (int part = 0; part < 2; part++) {
        if (!isdigit((unsigned char)*p))
            return false;
        while (isdigit((unsigned char)*p))
            p++;
        if (*p++ != ':')
            return false;
    }
    return true;
}

/* Byte offset of 1-based line:col, counting bytes (libyaml counts characters: only used after a
 * check that the bytes there are what the tree says). */
static size_t offset_of(const uint8_t *data, size_t size, int line, int col)
{
    size_t at = 0;
    for (int l = 1; l < line && at < size; at++)
        if (data[at] == '\n')
            l++;
    return at + (size_t)(col - 1);
}

static bool is_secret_key(const char *key)
{
    return strcmp(key, "password") == 0 || strcmp(key, "secretKey") == 0 ||
           strcmp(key, "token") == 0;
}

/* A different value of the same length: letters and digits shifted, the rest kept. */
static bool shift_secret(uint8_t *bytes, size_t len)
{
    bool changed = false;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = bytes[i];
        if (c >= 'a' && c <= 'z')
            bytes[i] = (uint8_t)(c == 'z' ? 'a' : c + 1);
        else if (c >= 'A' && c <= 'Z')
            bytes[i] = (uint8_t)(c == 'Z' ? 'A' : c + 1);
        else if (c >= '0' && c <= '9')
            bytes[i] = (uint8_t)(c == '9' ? '0' : c + 1);
        else
            continue;
        changed = true;
    }
    return changed;
}

static void check_secret_not_quoted(const uint8_t *data, size_t size, const ynode *value,
                                    const config_errors *errors)
{
    const char *secret = value->scalar;
    size_t len = secret ? strlen(secret) : 0;
    if (value->kind != YNODE_SCALAR || value->is_null || len < 3 || strstr(secret, "${"))
        return;
    size_t at = offset_of(data, size, value->line, value->col);
    if (at < size && (data[at] == '"' || data[at] == '\''))
        at++; /* quoted: the text starts after the quote */
    if (at + len > size || memcmp(data + at, secret, len) != 0)
        return; /* escapes or multi-byte characters before it: not worth mapping */
    /* The same text elsewhere (a mutated key named "evReplaceMesor") may be quoted rightly. */
    if (memmem(data, size, secret, len) != data + at ||
        memmem(data + at + 1, size - at - 1, secret, len))
        return;
    uint8_t *changed = malloc(size);
    FUZZ_ASSERT(changed);
    memcpy(changed, data, size);
    if (shift_secret(changed + at, len)) {
        config_errors again = {0};
        config *cfg = config_parse(NAME, (const char *)changed, size, &again);
        config_free(cfg);
        if (again.count == errors->count) {
            for (size_t i = 0; i < errors->count; i++) {
                bool differs = strcmp(again.messages[i], errors->messages[i]) != 0;
                bool leaked = differs && strstr(errors->messages[i], secret);
                if (leaked)
                    fprintf(stderr, "an error quotes the secret '%s': %s\n", secret,
                            errors->messages[i]);
                FUZZ_ASSERT(!leaked);
            }
        }
        config_errors_free(&again);
    }
    free(changed);
}

static void check_secrets(const uint8_t *data, size_t size, const ynode *node,
                          const config_errors *errors, int depth)
{
    if (!node || depth > 32)
        return;
    for (size_t i = 0; node->kind == YNODE_MAP && i < node->pair_count; i++) {
        if (is_secret_key(node->pairs[i].key))
            check_secret_not_quoted(data, size, node->pairs[i].value, errors);
        else
            check_secrets(data, size, node->pairs[i].value, errors, depth + 1);
    }
    for (size_t i = 0; node->kind == YNODE_SEQ && i < node->item_count; i++)
        check_secrets(data, size, node->items[i], errors, depth + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    config_errors errors = {0};
    config *cfg = config_parse(NAME, (const char *)data, size, &errors);
    if (!cfg)
        FUZZ_ASSERT(errors.count > 0);
    for (size_t i = 0; i < errors.count; i++) {
        if (!names_its_place(errors.messages[i]))
            fprintf(stderr, "error without its place: %s\n", errors.messages[i]);
        FUZZ_ASSERT(names_its_place(errors.messages[i]));
    }
    config_free(cfg);
    if (errors.count > 0) {
        config_errors scratch = {0};
        ynode *root = ynode_parse(NAME, (const char *)data, size, &scratch);
        check_secrets(data, size, root, &errors, 0);
        ynode_free(root);
        config_errors_free(&scratch);
    }
    config_errors_free(&errors);
    /* Each accepted password is registered for masking; forget them so the list does not grow
     * with every input. */
    log_forget_secrets();
    return 0;
}
