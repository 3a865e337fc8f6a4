/* The console's backend on a running engine: starts the console the config asks for and attaches
 * it to the engine, which traces into it and closes it at shutdown. */
#ifndef EVENT_ROUTER_CONSOLE_BACKEND_H
#define EVENT_ROUTER_CONSOLE_BACKEND_H

#include "engine.h"

#include <stddef.h>
#include <uv.h>

/* 0 when the config has no console or it started; -1 with a reason in err. */
int console_backend_start(engine *e, uv_loop_t *loop, char *err, size_t err_cap);

#endif
