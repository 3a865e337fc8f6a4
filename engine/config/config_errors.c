/* The error list check-config prints. Every message goes through the logger's secret mask as a
 * last line of defence: the validators never format secret values, but a secret that is also used
 * as, say, a user name must still not leak through a message that quotes the user name. */
#include "config/config.h"
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void escape_control_bytes(const char *text, char *out, size_t cap)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p && n + 5 < cap; p++) {
        if (*p == '\n')
            n += (size_t)snprintf(out + n, cap - n, "\\n");
        else if (*p == '\r')
            n += (size_t)snprintf(out + n, cap - n, "\\r");
        else if (*p == '\t')
            n += (size_t)snprintf(out + n, cap - n, "\\t");
        else if (*p < 0x20 || *p == 0x7f)
            n += (size_t)snprintf(out + n, cap - n, "\\x%02x", *p);
        else
            out[n++] = (char)*p;
    }
    out[n] = '\0';
}

void config_errors_add(config_errors *errors, const char *file, int line, int col,
                       const char *field, const char *fmt, ...)
{
    if (!errors)
        return;
    char message[768];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);

    char full[1024];
    if (field && *field)
        snprintf(full, sizeof full, "%s:%d:%d: %s: %s", file ? file : "<config>", line, col, field,
                 message);
    else
        snprintf(full, sizeof full, "%s:%d:%d: %s", file ? file : "<config>", line, col, message);
    char masked[1024];
    log_mask_secrets(full, masked, sizeof masked);
    /* check-config prints one message per line: a value that carries a newline (or any other
     * control byte) is shown escaped, so it cannot split a message or forge a second one. */
    char escaped[4 * sizeof masked];
    escape_control_bytes(masked, escaped, sizeof escaped);

    if (errors->count == errors->cap) {
        size_t cap = errors->cap ? errors->cap * 2 : 8;
        char **grown = realloc(errors->messages, cap * sizeof *grown);
        if (!grown)
            return;
        errors->messages = grown;
        errors->cap = cap;
    }
    char *copy = strdup(escaped);
    if (copy)
        errors->messages[errors->count++] = copy;
}

void config_errors_free(config_errors *errors)
{
    if (!errors)
        return;
    for (size_t i = 0; i < errors->count; i++)
        free(errors->messages[i]);
    free(errors->messages);
    errors->messages = NULL;
    errors->count = 0;
    errors->cap = 0;
}
