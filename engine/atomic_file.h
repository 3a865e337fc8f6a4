/* Replacing a small file so that a crash at any moment leaves either the old content or the new
 * one, never a mix: write a temp file beside it, fsync, rename over, fsync the directory. Used by
 * the sources' checkpoints. */
#ifndef EVENT_ROUTER_ATOMIC_FILE_H
#define EVENT_ROUTER_ATOMIC_FILE_H

#include <stddef.h>

/* Writes data to path atomically, creating missing parent directories. 0 on success; -1 with
 * errno set and *failed_step naming what failed ("create the directory of", "create", "write",
 * "fsync", "close", "rename", or "sync the directory of"). */
int atomic_file_write(const char *path, const void *data, size_t len, const char **failed_step);

/* atomic_file_write with its failure as a message naming the file: "cannot <step> <what> <path>:
 * <reason>" in err. 0 on success, -1 on failure. */
int atomic_file_save(const char *path, const char *what, const void *data, size_t len, char *err,
                     size_t err_cap);

#endif
