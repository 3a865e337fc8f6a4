#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("event-router %s\n", EVENT_ROUTER_VERSION);
        return 0;
    }
    fprintf(stderr, "event-router: not wired yet\n");
    return 1;
}
