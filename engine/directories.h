/* Creating a directory and its missing parents (mkdir -p): the disk queue and the dead-letter
 * writer are often given a fresh path such as ./deadletter/prod. */
#ifndef EVENT_ROUTER_DIRECTORIES_H
#define EVENT_ROUTER_DIRECTORIES_H

#include <sys/types.h>

/* Creates path and its missing parents with mode; an existing directory is fine. 0 on success,
 * -1 with errno set. */
int make_directories(const char *path, mode_t mode);

#endif
