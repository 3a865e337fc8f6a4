/* Atomic small-file replacement. See atomic_file.h for the contract. */
#include "atomic_file.h"

#include "directories.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* fsync of the directory makes the rename itself durable. */
static int sync_directory(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    int fd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* The sources' state directory is often a fresh path such as ./state/prod. */
static int make_parent_directories(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    return make_directories(dir, 0755);
}

int atomic_file_write(const char *path, const void *data, size_t len, const char **failed_step)
{
    if (make_parent_directories(path) != 0) {
        *failed_step = "create the directory of";
        return -1;
    }
    char temp[4200];
    snprintf(temp, sizeof temp, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rc = fd < 0 ? -1 : 0;
    const char *step = "create";
    if (rc == 0 && write_all(fd, data, len) != 0) {
        rc = -1;
        step = "write";
    }
    if (rc == 0 && fsync(fd) != 0) {
        rc = -1;
        step = "fsync";
    }
    int saved_errno = errno;
    if (fd >= 0 && close(fd) != 0 && rc == 0) {
        rc = -1;
        step = "close";
        saved_errno = errno;
    }
    if (rc == 0 && rename(temp, path) != 0) {
        rc = -1;
        step = "rename";
        saved_errno = errno;
    }
    if (rc != 0) {
        unlink(temp);
        *failed_step = step;
        errno = saved_errno;
        return -1;
    }
    if (sync_directory(path) != 0) {
        *failed_step = "sync the directory of";
        return -1;
    }
    return 0;
}

int atomic_file_save(const char *path, const char *what, const void *data, size_t len, char *err,
                     size_t err_cap)
{
    const char *step = NULL;
    if (atomic_file_write(path, data, len, &step) == 0)
        return 0;
    snprintf(err, err_cap, "cannot %s %s %s: %s", step, what, path, strerror(errno));
    return -1;
}
