/* Reading a whole small file (a source's checkpoint) into memory, with errors that name it. */
#ifndef EVENT_ROUTER_SMALL_FILE_H
#define EVENT_ROUTER_SMALL_FILE_H

#include <stddef.h>

/* Reads path, at most max_bytes, into *text (NUL-terminated, the caller frees it) and its length
 * into *len. what says what the file is ("checkpoint") for the error. 1 when read; 0 when path
 * does not exist (nothing allocated); -1 with err naming what and path (cannot open, cannot read,
 * out of memory, or larger than max_bytes: a truncated file would be taken for a damaged one). */
int small_file_read(const char *path, size_t max_bytes, const char *what, char **text, size_t *len,
                    char *err, size_t err_cap);

#endif
