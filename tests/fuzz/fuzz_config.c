/* The RouterConfig parser and validator (engine/config/) on a YAML buffer, as check-config and
 * the daemon's start and reload read a file. Beyond not crashing: a rejected config comes with at
 * least one error, every error names the place as "file:line:col:", and an accepted config frees
 * cleanly. */
#include "fuzz_support.h"

#include "config/config.h"
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
    config_errors_free(&errors);
    /* Each accepted password is registered for masking; forget them so the list does not grow
     * with every input. */
    log_forget_secrets();
    return 0;
}
