/* A bump allocator: a compiled pattern is many small immutable pieces with one lifetime, so they
 * come from chunks that are freed together. */
#include "event_pattern_internal.h"

#include <stdlib.h>
#include <string.h>

#define EP_ARENA_CHUNK 4096

struct ep_arena_chunk {
    ep_arena_chunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char bytes[];
};

void *ep_arena_alloc(ep_arena *arena, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    if (size == 0)
        size = 16;
    ep_arena_chunk *chunk = arena->head;
    if (!chunk || chunk->cap - chunk->used < size) {
        size_t cap = size > EP_ARENA_CHUNK ? size : EP_ARENA_CHUNK;
        chunk = malloc(sizeof *chunk + cap);
        if (!chunk)
            return NULL;
        chunk->used = 0;
        chunk->cap = cap;
        /* A big piece gets a chunk of its own behind the current one, so the rest of the
         * current chunk stays usable. */
        if (arena->head && size > EP_ARENA_CHUNK) {
            chunk->next = arena->head->next;
            arena->head->next = chunk;
        } else {
            chunk->next = arena->head;
            arena->head = chunk;
        }
    }
    void *p = chunk->bytes + chunk->used;
    chunk->used += size;
    memset(p, 0, size);
    return p;
}

char *ep_arena_strndup(ep_arena *arena, const char *bytes, size_t len)
{
    char *copy = ep_arena_alloc(arena, len + 1);
    if (copy && len)
        memcpy(copy, bytes, len);
    return copy;
}

void ep_arena_free(ep_arena *arena)
{
    ep_arena_chunk *chunk = arena->head;
    while (chunk) {
        ep_arena_chunk *next = chunk->next;
        free(chunk);
        chunk = next;
    }
    arena->head = NULL;
}

size_t ep_arena_size(const ep_arena *arena)
{
    size_t total = 0;
    for (const ep_arena_chunk *chunk = arena->head; chunk; chunk = chunk->next)
        total += sizeof *chunk + chunk->cap;
    return total;
}
