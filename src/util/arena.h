/* arena.h: a bump allocator for one evaluation or one session.
 * Allocate freely, free everything at once with arena_free. Not for objects
 * that must outlive their owner or be freed one at a time. */
#ifndef DA_ARENA_H
#define DA_ARENA_H

#include <stddef.h>

typedef struct arena_block arena_block;

typedef struct arena {
    arena_block *head;
    size_t used_total; /* bytes handed out, for limits and statistics */
} arena;

void arena_init(arena *a);
/* Returns zeroed memory aligned for any type, or NULL when out of memory. */
void *arena_alloc(arena *a, size_t size);
char *arena_strndup(arena *a, const char *s, size_t len);
char *arena_strdup(arena *a, const char *s);
/* Releases every block but the first, which is kept for reuse. */
void arena_reset(arena *a);
void arena_free(arena *a);

#endif
