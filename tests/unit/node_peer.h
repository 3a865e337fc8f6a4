/* A real HTTP peer for unit tests: a node process running the given script, which prints its
 * listening port(s) on its first line and exits when the test process is gone. */
#ifndef EVENT_ROUTER_TEST_NODE_PEER_H
#define EVENT_ROUTER_TEST_NODE_PEER_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

/* Starts node -e script; copies its first output line into line. Returns the pid, or -1. */
static pid_t node_peer_start(const char *script, char *line, size_t line_cap)
{
    int out[2];
    if (pipe(out) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(out[1], 1);
        close(out[0]);
        close(out[1]);
        execlp("node", "node", "-e", script, (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    FILE *f = fdopen(out[0], "r");
    line[0] = '\0';
    bool ok = f && fgets(line, (int)line_cap, f);
    if (f)
        fclose(f);
    return ok && pid > 0 ? pid : -1;
}

static void node_peer_stop(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

#endif
