/* Whole small-file reading. See small_file.h for the contract. */
#include "small_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int small_file_read(const char *path, size_t max_bytes, const char *what, char **text, size_t *len,
                    char *err, size_t err_cap)
{
    *text = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, err_cap, "cannot open %s %s: %s", what, path, strerror(errno));
        return -1;
    }
    /* One byte more than allowed tells a file that is too large from one that fits exactly. */
    char *buffer = malloc(max_bytes + 2);
    if (!buffer) {
        fclose(f);
        snprintf(err, err_cap, "cannot read %s %s: out of memory", what, path);
        return -1;
    }
    size_t got = fread(buffer, 1, max_bytes + 1, f);
    int read_errno = ferror(f) ? errno : 0;
    fclose(f);
    const char *bad = NULL;
    char problem[64];
    if (read_errno) {
        bad = strerror(read_errno);
    } else if (got > max_bytes) {
        snprintf(problem, sizeof problem, "larger than %zu bytes", max_bytes);
        bad = problem;
    }
    if (bad) {
        snprintf(err, err_cap, "cannot read %s %s: %s", what, path, bad);
        free(buffer);
        return -1;
    }
    buffer[got] = '\0';
    *text = buffer;
    *len = got;
    return 1;
}
