/* lru.h: an intrusive doubly linked list kept in recency order, for the
 * bounded caches: embed an lru_node, touch on use, evict from the tail.
 * The list owns nothing; its users free what they unlink. */
#ifndef DA_LRU_H
#define DA_LRU_H

#include <stddef.h>

typedef struct lru_node {
    struct lru_node *prev, *next;
} lru_node;

typedef struct lru_list {
    lru_node *head; /* most recently used */
    lru_node *tail; /* least recently used */
} lru_list;

/* The struct of the given type that holds node as its member. */
#define LRU_ENTRY(node, type, member) ((type *)(void *)((char *)(node) - offsetof(type, member)))

static inline void lru_unlink(lru_list *list, lru_node *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        list->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        list->tail = n->prev;
    n->prev = n->next = NULL;
}

static inline void lru_push_front(lru_list *list, lru_node *n)
{
    n->prev = NULL;
    n->next = list->head;
    if (list->head)
        list->head->prev = n;
    list->head = n;
    if (list->tail == NULL)
        list->tail = n;
}

/* Moves a node in the list to the front: it was just used. */
static inline void lru_touch(lru_list *list, lru_node *n)
{
    lru_unlink(list, n);
    lru_push_front(list, n);
}

#endif
