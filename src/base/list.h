/* SPDX-License-Identifier: MIT
 *
 * list.h: intrusive circular doubly-linked list. Embed a struct list_node in the
 * object; recover the object with LIST_ENTRY (container_of).
 */
#ifndef YB_BASE_LIST_H
#define YB_BASE_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct list_node {
    struct list_node *prev, *next;
};

#define LIST_ENTRY(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))
#define LIST_FOREACH(n, head)         for ((n) = (head)->next; (n) != (head); (n) = (n)->next)
#define LIST_FOREACH_SAFE(n, tmp, head)                                                            \
    for ((n) = (head)->next, (tmp) = (n)->next; (n) != (head); (n) = (tmp), (tmp) = (n)->next)

static inline void
list_init(struct list_node *head)
{
    head->prev = head->next = head;
}

static inline bool
list_is_empty(const struct list_node *head)
{
    return head->next == head;
}

static inline void
list_insert_tail(struct list_node *head, struct list_node *n)
{
    n->prev = head->prev;
    n->next = head;
    head->prev->next = n;
    head->prev = n;
}

static inline void
list_insert_head(struct list_node *head, struct list_node *n)
{
    n->next = head->next;
    n->prev = head;
    head->next->prev = n;
    head->next = n;
}

/* Unlinks n and points it at itself, so removing twice is harmless. */
static inline void
list_remove(struct list_node *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = n;
}

#endif
