/* arena.c: bump allocation in growing blocks; see arena.h. */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { ARENA_MIN_BLOCK = 4096, ARENA_ALIGN = 16 };

struct arena_block {
    arena_block *next;
    size_t size;
    size_t used;
    _Alignas(16) unsigned char data[];
};

void arena_init(arena *a)
{
    a->head = NULL;
    a->used_total = 0;
}

void *arena_alloc(arena *a, size_t size)
{
    if (size > SIZE_MAX / 2)
        return NULL;
    size_t rounded = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (rounded == 0)
        rounded = ARENA_ALIGN;
    arena_block *b = a->head;
    if (b == NULL || b->size - b->used < rounded) {
        size_t want = rounded > ARENA_MIN_BLOCK ? rounded : ARENA_MIN_BLOCK;
        /* Grow block sizes with the arena so large evaluations stay cheap. */
        if (b != NULL && b->size * 2 > want && b->size < (1u << 20))
            want = b->size * 2;
        b = malloc(sizeof *b + want);
        if (b == NULL)
            return NULL;
        b->next = a->head;
        b->size = want;
        b->used = 0;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += rounded;
    a->used_total += rounded;
    memset(p, 0, size);
    return p;
}

char *arena_strndup(arena *a, const char *s, size_t len)
{
    char *p = arena_alloc(a, len + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *arena_strdup(arena *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}

void arena_reset(arena *a)
{
    if (a->head == NULL)
        return;
    /* Keep the largest (newest) block; free the rest. */
    arena_block *keep = a->head;
    arena_block *b = keep->next;
    while (b != NULL) {
        arena_block *next = b->next;
        free(b);
        b = next;
    }
    keep->next = NULL;
    keep->used = 0;
    a->used_total = 0;
}

void arena_free(arena *a)
{
    arena_block *b = a->head;
    while (b != NULL) {
        arena_block *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
    a->used_total = 0;
}
