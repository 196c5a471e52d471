/* SPDX-License-Identifier: MIT
 *
 * hashmap.c: open-addressing string map.
 */
#include "hashmap.h"

#include <string.h>

#include "alloc.h"
#include "error.h"

/* A tombstone keeps its key pointer at TOMBSTONE so probe chains stay intact. */
static char tombstone_key;
#define TOMBSTONE (&tombstone_key)

struct hashmap_slot {
    char *key; /* NULL: never used; TOMBSTONE: removed */
    void *value;
    uint64_t hash;
};

uint64_t
hashmap_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

void
hashmap_init(struct hashmap *m)
{
    memset(m, 0, sizeof *m);
}

void
hashmap_fini(struct hashmap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key != NULL && m->slots[i].key != TOMBSTONE)
            yb_free(m->slots[i].key);
    yb_free(m->slots);
    hashmap_init(m);
}

static struct hashmap_slot *
find(const struct hashmap *m, const char *key, uint64_t h)
{
    if (m->cap == 0)
        return NULL;
    for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        struct hashmap_slot *s = &m->slots[i];
        if (s->key == NULL)
            return NULL;
        if (s->key != TOMBSTONE && s->hash == h && strcmp(s->key, key) == 0)
            return s;
    }
}

static int
grow(struct hashmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 16;
    /* Mostly tombstones: rehash at the same size. */
    if (m->cap && m->n_used * 4 < m->cap)
        cap = m->cap;
    struct hashmap_slot *slots = yb_calloc(cap, sizeof *slots);
    if (slots == NULL)
        return YB_ENOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        struct hashmap_slot *s = &m->slots[i];
        if (s->key == NULL || s->key == TOMBSTONE)
            continue;
        size_t j = s->hash & (cap - 1);
        while (slots[j].key != NULL)
            j = (j + 1) & (cap - 1);
        slots[j] = *s;
    }
    yb_free(m->slots);
    m->slots = slots;
    m->cap = cap;
    m->n_dead = 0;
    return 0;
}

void *
hashmap_get(const struct hashmap *m, const char *key)
{
    struct hashmap_slot *s = find(m, key, hashmap_hash(key));
    return s ? s->value : NULL;
}

int
hashmap_set(struct hashmap *m, const char *key, void *value)
{
    uint64_t h = hashmap_hash(key);
    struct hashmap_slot *s = find(m, key, h);
    if (s != NULL) {
        s->value = value;
        return 0;
    }
    if ((m->n_used + m->n_dead + 1) * 4 >= m->cap * 3 && grow(m) != 0)
        return YB_ENOMEM;
    char *k = yb_strdup(key);
    if (k == NULL)
        return YB_ENOMEM;
    size_t i = h & (m->cap - 1);
    while (m->slots[i].key != NULL && m->slots[i].key != TOMBSTONE)
        i = (i + 1) & (m->cap - 1);
    if (m->slots[i].key == TOMBSTONE)
        m->n_dead--;
    m->slots[i].key = k;
    m->slots[i].value = value;
    m->slots[i].hash = h;
    m->n_used++;
    return 0;
}

void *
hashmap_remove(struct hashmap *m, const char *key)
{
    struct hashmap_slot *s = find(m, key, hashmap_hash(key));
    if (s == NULL)
        return NULL;
    void *v = s->value;
    yb_free(s->key);
    s->key = TOMBSTONE;
    s->value = NULL;
    m->n_used--;
    m->n_dead++;
    return v;
}

void
hashmap_iter_init(struct hashmap_iter *it, const struct hashmap *m)
{
    it->map = m;
    it->pos = 0;
}

bool
hashmap_iter_next(struct hashmap_iter *it, const char **key, void **value)
{
    while (it->pos < it->map->cap) {
        struct hashmap_slot *s = &it->map->slots[it->pos++];
        if (s->key != NULL && s->key != TOMBSTONE) {
            if (key)
                *key = s->key;
            if (value)
                *value = s->value;
            return true;
        }
    }
    return false;
}
