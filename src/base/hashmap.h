/* SPDX-License-Identifier: MIT
 *
 * hashmap.h: a map from NUL-terminated string keys to pointers (open addressing,
 * linear probing, tombstones). The map copies keys; values are the caller's.
 */
#ifndef YB_BASE_HASHMAP_H
#define YB_BASE_HASHMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hashmap_slot;

struct hashmap {
    struct hashmap_slot *slots;
    size_t cap;    /* a power of two, or 0 */
    size_t n_used; /* live entries */
    size_t n_dead; /* tombstones */
};

struct hashmap_iter {
    const struct hashmap *map;
    size_t pos;
};

void hashmap_init(struct hashmap *m);
/* Frees the map's own storage (keys included); values are untouched. */
void hashmap_fini(struct hashmap *m);
/* Returns the value for key, or NULL. */
void *hashmap_get(const struct hashmap *m, const char *key);
/* Sets key to value, replacing any old value. Returns 0 or YB_ENOMEM. */
int hashmap_set(struct hashmap *m, const char *key, void *value);
/* Removes key; returns its old value or NULL. */
void *hashmap_remove(struct hashmap *m, const char *key);
static inline size_t
hashmap_count(const struct hashmap *m)
{
    return m->n_used;
}

/* Iteration; the map must not be changed while iterating except by
 * hashmap_remove() of the current key. */
void hashmap_iter_init(struct hashmap_iter *it, const struct hashmap *m);
bool hashmap_iter_next(struct hashmap_iter *it, const char **key, void **value);

/* FNV-1a over a string; exposed for other tables. */
uint64_t hashmap_hash(const char *s);

#endif
