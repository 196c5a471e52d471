/* SPDX-License-Identifier: MIT
 *
 * stanza.c: the stanza tree and its arena. A stanza is one refcounted block: the
 * struct stanza header followed by the first arena chunk, so a small stanza costs a
 * single malloc; bigger ones chain further chunks that double in size. Nodes,
 * attributes and strings are bump-allocated and only freed with the stanza. Every
 * function propagates OOM (NULL / YB_ENOMEM) and leaves the tree consistent.
 * Serialisation lives in serialize.c, parsing in parser.c.
 */
#include "stanza.h"

#include <assert.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "internal.h"

/* The stanza header plus the first chunk fill one allocation of this size. */
#define ARENA_FIRST_TOTAL 1024
#define ARENA_CHUNK_MIN   2048
#define ARENA_CHUNK_MAX   (64 * 1024)
#define NODE_ALIGN        alignof(struct xml_node)

struct chunk {
    struct chunk *next;
    /* the chunk's bytes follow, aligned for nodes */
};

struct stanza {
    atomic_uint refs;
    struct xml_node *root;
    char *cur, *end;      /* free space of the newest chunk */
    struct chunk *chunks; /* chunks after the first one, newest first */
    size_t arena_bytes;   /* capacity of all chunks, the first included */
    size_t next_chunk;    /* capacity of the next chunk to allocate */
};

static_assert(sizeof(struct stanza) % alignof(struct xml_node) == 0, "first chunk alignment");
static_assert(sizeof(struct chunk) % alignof(struct xml_node) == 0, "chunk alignment");

/* Namespaces that most stanzas carry: pointing at these costs no arena bytes. */
static const struct {
    const char *s;
    size_t len;
} known_ns[] = {
#define NS(x)                                                                                      \
    {                                                                                              \
        x, sizeof(x) - 1                                                                           \
    }
    NS(""),
    NS("jabber:client"),
    NS("jabber:server"),
    NS("jabber:component:accept"),
    NS("http://etherx.jabber.org/streams"),
    NS("urn:ietf:params:xml:ns:xmpp-stanzas"),
    NS("urn:ietf:params:xml:ns:xmpp-streams"),
    NS("urn:ietf:params:xml:ns:xmpp-sasl"),
    NS("urn:ietf:params:xml:ns:xmpp-tls"),
    NS("urn:ietf:params:xml:ns:xmpp-bind"),
    NS("urn:ietf:params:xml:ns:xmpp-session"),
    NS("jabber:iq:roster"),
    NS("jabber:iq:private"),
    NS("jabber:iq:register"),
    NS("jabber:x:data"),
    NS("vcard-temp"),
    NS("vcard-temp:x:update"),
    NS("http://jabber.org/protocol/caps"),
    NS("http://jabber.org/protocol/disco#info"),
    NS("http://jabber.org/protocol/disco#items"),
    NS("http://jabber.org/protocol/chatstates"),
    NS("http://jabber.org/protocol/muc"),
    NS("http://jabber.org/protocol/muc#user"),
    NS("http://jabber.org/protocol/pubsub"),
    NS("http://jabber.org/protocol/pubsub#event"),
    NS("urn:xmpp:ping"),
    NS("urn:xmpp:delay"),
    NS("urn:xmpp:receipts"),
    NS("urn:xmpp:chat-markers:0"),
    NS("urn:xmpp:sid:0"),
    NS("urn:xmpp:hints"),
    NS("urn:xmpp:sm:3"),
    NS("urn:xmpp:carbons:2"),
    NS("urn:xmpp:forward:0"),
    NS("urn:xmpp:mam:2"),
    NS("urn:xmpp:blocking"),
    NS("urn:xmpp:avatar:metadata"),
    NS("urn:xmpp:avatar:data"),
#undef NS
};

static size_t
align_up(size_t n, size_t a)
{
    return (n + a - 1) & ~(a - 1);
}

/* Adds a chunk able to hold size bytes at align; reserve (>= size) asks for headroom
 * so that a growing text can be extended in place afterwards. */
static void *
arena_grow(struct stanza *st, size_t size, size_t align, size_t reserve)
{
    if (reserve > SIZE_MAX / 4)
        return NULL;
    size_t cap = st->next_chunk;
    if (cap < reserve + align)
        cap = align_up(reserve + align, NODE_ALIGN);
    struct chunk *c = yb_malloc(sizeof(struct chunk) + cap);
    if (c == NULL)
        return NULL;
    c->next = st->chunks;
    st->chunks = c;
    st->arena_bytes += cap;
    if (st->next_chunk < ARENA_CHUNK_MAX)
        st->next_chunk *= 2;
    st->cur = (char *)(c + 1);
    st->end = st->cur + cap;
    char *p = (char *)(((uintptr_t)st->cur + (align - 1)) & ~(uintptr_t)(align - 1));
    st->cur = p + size;
    return p;
}

static void *
arena_alloc_reserve(struct stanza *st, size_t size, size_t align, size_t reserve)
{
    uintptr_t p = ((uintptr_t)st->cur + (align - 1)) & ~(uintptr_t)(align - 1);
    if (p <= (uintptr_t)st->end && size <= (uintptr_t)st->end - p) {
        st->cur = (char *)p + size;
        return (void *)p;
    }
    return arena_grow(st, size, align, reserve);
}

static void *
arena_alloc(struct stanza *st, size_t size, size_t align)
{
    return arena_alloc_reserve(st, size, align, size);
}

char *
xml__alloc(struct stanza *st, size_t size)
{
    return arena_alloc(st, size, 1);
}

char *
xml__strndup(struct stanza *st, const char *s, size_t len)
{
    if (len == SIZE_MAX)
        return NULL;
    char *d = arena_alloc(st, len + 1, 1);
    if (d != NULL) {
        if (len > 0)
            memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}

static char *
arena_strdup(struct stanza *st, const char *s)
{
    return xml__strndup(st, s, strlen(s));
}

const char *
xml__intern_ns(struct stanza *st, const char *ns, size_t len, const char *parent_ns)
{
    if (parent_ns != NULL && strncmp(parent_ns, ns, len) == 0 && parent_ns[len] == '\0')
        return parent_ns;
    for (size_t i = 0; i < sizeof known_ns / sizeof known_ns[0]; i++) {
        if (known_ns[i].len == len && memcmp(known_ns[i].s, ns, len) == 0)
            return known_ns[i].s;
    }
    return xml__strndup(st, ns, len);
}

/* A stanza whose first arena block holds at least arena_hint bytes: exactly that
 * (aligned) if compact, else no less than the usual first block. */
static struct stanza *
stanza_alloc_arena(size_t arena_hint, bool compact)
{
    size_t first = ARENA_FIRST_TOTAL - sizeof(struct stanza);
    if (arena_hint > first || compact) {
        if (arena_hint > SIZE_MAX / 2)
            return NULL;
        first = align_up(arena_hint, NODE_ALIGN);
    }
    struct stanza *st = yb_malloc(sizeof(struct stanza) + first);
    if (st == NULL)
        return NULL;
    atomic_init(&st->refs, 1);
    st->root = NULL;
    st->cur = (char *)(st + 1);
    st->end = st->cur + first;
    st->chunks = NULL;
    st->arena_bytes = first;
    st->next_chunk = ARENA_CHUNK_MIN;
    return st;
}

static struct stanza *
stanza_alloc(size_t arena_hint)
{
    return stanza_alloc_arena(arena_hint, false);
}

static struct xml_node *
node_alloc(struct stanza *st, enum xml_node_kind kind)
{
    struct xml_node *n = arena_alloc(st, sizeof *n, NODE_ALIGN);
    if (n == NULL)
        return NULL;
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->owner = st;
    return n;
}

/* Element nodes keep node_text()'s concatenation in their (otherwise unused) text
 * field; any change to their children drops it. */
static void
invalidate_text(struct xml_node *n)
{
    n->text = NULL;
    n->text_len = 0;
}

static void
link_child(struct xml_node *parent, struct xml_node *child)
{
    child->parent = parent;
    child->next = NULL;
    child->prev = parent->last_child;
    if (parent->last_child != NULL)
        parent->last_child->next = child;
    else
        parent->first_child = child;
    parent->last_child = child;
    invalidate_text(parent);
}

struct stanza *
xml__stanza_new(const char *name, size_t name_len, const char *ns, size_t ns_len, size_t arena_hint)
{
    struct stanza *st = stanza_alloc(arena_hint);
    if (st == NULL)
        return NULL;
    struct xml_node *root = node_alloc(st, XML_ELEMENT);
    if (root == NULL)
        goto fail;
    root->name = xml__strndup(st, name, name_len);
    root->ns = xml__intern_ns(st, ns, ns_len, NULL);
    if (root->name == NULL || root->ns == NULL)
        goto fail;
    st->root = root;
    return st;
fail:
    stanza_unref(st);
    return NULL;
}

struct stanza *
stanza_new(const char *name, const char *ns)
{
    assert(name != NULL);
    if (ns == NULL)
        ns = "";
    return xml__stanza_new(name, strlen(name), ns, strlen(ns), 0);
}

struct stanza *
stanza_ref(struct stanza *st)
{
    atomic_fetch_add_explicit(&st->refs, 1, memory_order_relaxed);
    return st;
}

void
stanza_unref(struct stanza *st)
{
    if (st == NULL)
        return;
    if (atomic_fetch_sub_explicit(&st->refs, 1, memory_order_acq_rel) != 1)
        return;
    struct chunk *c = st->chunks;
    while (c != NULL) {
        struct chunk *next = c->next;
        yb_free(c);
        c = next;
    }
    yb_free(st);
}

bool
stanza_is_shared(const struct stanza *st)
{
    /* atomic_load takes a non-const pointer in C11. */
    return atomic_load_explicit((atomic_uint *)(uintptr_t)&st->refs, memory_order_acquire) > 1;
}

struct xml_node *
stanza_root(const struct stanza *st)
{
    return st->root;
}

size_t
stanza_size(const struct stanza *st)
{
    return st->arena_bytes;
}

const char *
stanza_name(const struct stanza *st)
{
    return st->root->name;
}

const char *
stanza_ns(const struct stanza *st)
{
    return st->root->ns;
}

const char *
stanza_attr(const struct stanza *st, const char *name)
{
    return node_attr(st->root, name);
}

int
stanza_set_attr(struct stanza *st, const char *name, const char *value)
{
    return node_set_attr(st->root, name, value);
}

struct xml_node *
stanza_child(const struct stanza *st, const char *name, const char *ns)
{
    return node_child(st->root, name, ns);
}

struct xml_node *
xml__add_child_raw(struct stanza *st, struct xml_node *parent, const char *name, const char *ns)
{
    struct xml_node *n = node_alloc(st, XML_ELEMENT);
    if (n == NULL)
        return NULL;
    n->name = name;
    n->ns = ns;
    link_child(parent, n);
    return n;
}

struct xml_node *
node_add_child(struct xml_node *parent, const char *name, const char *ns)
{
    assert(parent->kind == XML_ELEMENT && name != NULL);
    assert(!stanza_is_shared(parent->owner));
    struct stanza *st = parent->owner;
    const char *n_ns = ns == NULL ? parent->ns : xml__intern_ns(st, ns, strlen(ns), parent->ns);
    const char *n_name = arena_strdup(st, name);
    if (n_ns == NULL || n_name == NULL)
        return NULL;
    return xml__add_child_raw(st, parent, n_name, n_ns);
}

struct xml_node *
node_add_text_child(struct xml_node *parent, const char *name, const char *ns, const char *text)
{
    struct xml_node *n = node_add_child(parent, name, ns);
    if (n == NULL)
        return NULL;
    if (text != NULL && node_add_text(n, text, strlen(text)) != 0) {
        node_remove(n);
        return NULL;
    }
    return n;
}

int
node_add_text(struct xml_node *n, const char *text, size_t len)
{
    assert(n->kind == XML_ELEMENT);
    assert(!stanza_is_shared(n->owner));
    if (len == 0)
        return 0;
    struct stanza *st = n->owner;
    struct xml_node *last = n->last_child;
    if (last != NULL && last->kind == XML_TEXT) {
        size_t old = last->text_len;
        if (len > SIZE_MAX / 4 - old)
            return YB_ENOMEM;
        /* The parser appends piece by piece: extend in place when the text is the
         * newest allocation, otherwise move it to a chunk with room to grow. */
        if (last->text + old + 1 == st->cur && len <= (size_t)(st->end - st->cur)) {
            char *w = st->cur - (old + 1);
            memcpy(w + old, text, len);
            w[old + len] = '\0';
            st->cur += len;
        } else {
            size_t need = old + len + 1;
            char *w = arena_alloc_reserve(st, need, 1, 2 * need);
            if (w == NULL)
                return YB_ENOMEM;
            memcpy(w, last->text, old);
            memcpy(w + old, text, len);
            w[old + len] = '\0';
            last->text = w;
        }
        last->text_len = old + len;
        invalidate_text(n);
        return 0;
    }
    struct xml_node *t = node_alloc(st, XML_TEXT);
    if (t == NULL)
        return YB_ENOMEM;
    char *w = xml__strndup(st, text, len);
    if (w == NULL)
        return YB_ENOMEM;
    t->text = w;
    t->text_len = len;
    link_child(n, t);
    return 0;
}

void
node_remove(struct xml_node *n)
{
    struct xml_node *parent = n->parent;
    if (parent == NULL)
        return;
    assert(!stanza_is_shared(n->owner));
    if (n->prev != NULL)
        n->prev->next = n->next;
    else
        parent->first_child = n->next;
    if (n->next != NULL)
        n->next->prev = n->prev;
    else
        parent->last_child = n->prev;
    n->parent = n->next = n->prev = NULL;
    invalidate_text(parent);
}

void
node_remove_children(struct xml_node *n)
{
    assert(n->kind == XML_ELEMENT);
    assert(!stanza_is_shared(n->owner));
    struct xml_node *c = n->first_child;
    while (c != NULL) {
        struct xml_node *next = c->next;
        c->parent = c->next = c->prev = NULL;
        c = next;
    }
    n->first_child = n->last_child = NULL;
    invalidate_text(n);
}

int
xml__append_attr(struct xml_node *n, const char *name, const char *value, size_t value_len)
{
    struct stanza *st = n->owner;
    struct xml_attr *a = arena_alloc(st, sizeof *a, alignof(struct xml_attr));
    if (a == NULL)
        return YB_ENOMEM;
    a->name = name;
    a->value = xml__strndup(st, value, value_len);
    a->next = NULL;
    if (a->value == NULL)
        return YB_ENOMEM;
    struct xml_attr **tail = &n->attrs;
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = a;
    return 0;
}

int
node_set_attr(struct xml_node *n, const char *name, const char *value)
{
    assert(n->kind == XML_ELEMENT && name != NULL);
    assert(!stanza_is_shared(n->owner));
    for (struct xml_attr **pa = &n->attrs; *pa != NULL; pa = &(*pa)->next) {
        struct xml_attr *a = *pa;
        if (strcmp(a->name, name) != 0)
            continue;
        if (value == NULL) {
            *pa = a->next;
            return 0;
        }
        if (strcmp(a->value, value) == 0)
            return 0;
        const char *v = arena_strdup(n->owner, value);
        if (v == NULL)
            return YB_ENOMEM;
        a->value = v;
        return 0;
    }
    if (value == NULL)
        return 0;
    const char *nm = arena_strdup(n->owner, name);
    if (nm == NULL)
        return YB_ENOMEM;
    return xml__append_attr(n, nm, value, strlen(value));
}

const char *
node_attr(const struct xml_node *n, const char *name)
{
    for (const struct xml_attr *a = n->attrs; a != NULL; a = a->next) {
        if (strcmp(a->name, name) == 0)
            return a->value;
    }
    return NULL;
}

static bool
node_matches(const struct xml_node *n, const char *name, const char *ns)
{
    return n->kind == XML_ELEMENT && (name == NULL || strcmp(n->name, name) == 0) &&
           (ns == NULL || strcmp(n->ns, ns) == 0);
}

struct xml_node *
node_child(const struct xml_node *n, const char *name, const char *ns)
{
    for (struct xml_node *c = n->first_child; c != NULL; c = c->next) {
        if (node_matches(c, name, ns))
            return c;
    }
    return NULL;
}

struct xml_node *
node_first_element(const struct xml_node *n)
{
    for (struct xml_node *c = n->first_child; c != NULL; c = c->next) {
        if (c->kind == XML_ELEMENT)
            return c;
    }
    return NULL;
}

struct xml_node *
node_next_element(const struct xml_node *n)
{
    for (struct xml_node *c = n->next; c != NULL; c = c->next) {
        if (c->kind == XML_ELEMENT)
            return c;
    }
    return NULL;
}

const char *
node_text(const struct xml_node *n)
{
    if (n->text != NULL)
        return n->text; /* a text node, or an element's cached concatenation */
    const struct xml_node *only = NULL;
    size_t n_text = 0, total = 0;
    for (const struct xml_node *c = n->first_child; c != NULL; c = c->next) {
        if (c->kind == XML_TEXT) {
            only = c;
            n_text++;
            total += c->text_len;
        }
    }
    if (n_text == 0)
        return "";
    if (n_text == 1)
        return only->text;
    /* Text split by child elements ("a<b/>c"): concatenate once into the arena. The
     * cache is not part of the tree's value, so filling it through a const node is
     * fine; it is only done on the core thread, which owns the arena's free space. */
    struct xml_node *w = (struct xml_node *)(uintptr_t)n;
    char *s = arena_alloc(w->owner, total + 1, 1);
    if (s == NULL)
        return NULL;
    size_t off = 0;
    for (const struct xml_node *c = n->first_child; c != NULL; c = c->next) {
        if (c->kind == XML_TEXT) {
            memcpy(s + off, c->text, c->text_len);
            off += c->text_len;
        }
    }
    s[total] = '\0';
    w->text = s;
    w->text_len = total;
    return s;
}

const char *
node_child_text(const struct xml_node *n, const char *name, const char *ns)
{
    const struct xml_node *c = node_child(n, name, ns);
    return c == NULL ? NULL : node_text(c);
}

/* An upper bound of the arena bytes a deep copy of src needs. */
static size_t
copy_size(const struct xml_node *src)
{
    size_t total = 0;
    const struct xml_node *s = src;
    for (;;) {
        total += sizeof(struct xml_node) + NODE_ALIGN;
        if (s->kind == XML_TEXT) {
            total += s->text_len + 1;
        } else {
            total += strlen(s->name) + strlen(s->ns) + 2;
            for (const struct xml_attr *a = s->attrs; a != NULL; a = a->next)
                total += sizeof *a + NODE_ALIGN + strlen(a->name) + strlen(a->value) + 2;
            if (s->first_child != NULL) {
                s = s->first_child;
                continue;
            }
        }
        while (s != src && s->next == NULL)
            s = s->parent;
        if (s == src)
            return total;
        s = s->next;
    }
}

/* Copies one node (not its children) under parent, or as st's root if parent is NULL. */
static struct xml_node *
copy_one(struct stanza *st, struct xml_node *parent, const struct xml_node *src)
{
    struct xml_node *n = node_alloc(st, src->kind);
    if (n == NULL)
        return NULL;
    if (src->kind == XML_TEXT) {
        char *t = xml__strndup(st, src->text, src->text_len);
        if (t == NULL)
            return NULL;
        n->text = t;
        n->text_len = src->text_len;
    } else {
        n->name = arena_strdup(st, src->name);
        n->ns = xml__intern_ns(st, src->ns, strlen(src->ns), parent ? parent->ns : NULL);
        if (n->name == NULL || n->ns == NULL)
            return NULL;
        struct xml_attr **tail = &n->attrs;
        for (const struct xml_attr *sa = src->attrs; sa != NULL; sa = sa->next) {
            struct xml_attr *a = arena_alloc(st, sizeof *a, alignof(struct xml_attr));
            if (a == NULL)
                return NULL;
            a->name = arena_strdup(st, sa->name);
            a->value = arena_strdup(st, sa->value);
            a->next = NULL;
            if (a->name == NULL || a->value == NULL)
                return NULL;
            *tail = a;
            tail = &a->next;
        }
    }
    if (parent != NULL)
        link_child(parent, n);
    else
        st->root = n;
    return n;
}

/* Deep copy of src under parent (or as root). Iterative: depth is not bounded here.
 * On OOM the partial copy may stay linked; callers undo it. */
static struct xml_node *
copy_tree(struct stanza *st, struct xml_node *parent, const struct xml_node *src)
{
    struct xml_node *top = copy_one(st, parent, src);
    if (top == NULL)
        return NULL;
    const struct xml_node *s = src;
    struct xml_node *d = top;
    for (;;) {
        if (s->kind == XML_ELEMENT && s->first_child != NULL) {
            s = s->first_child;
            d = copy_one(st, d, s);
            if (d == NULL)
                return NULL;
            continue;
        }
        while (s != src && s->next == NULL) {
            s = s->parent;
            d = d->parent;
        }
        if (s == src)
            return top;
        s = s->next;
        d = copy_one(st, d->parent, s);
        if (d == NULL)
            return NULL;
    }
}

struct stanza *
stanza_from_node(const struct xml_node *node)
{
    if (node->kind != XML_ELEMENT)
        return NULL;
    struct stanza *st = stanza_alloc(copy_size(node));
    if (st == NULL)
        return NULL;
    if (copy_tree(st, NULL, node) == NULL) {
        stanza_unref(st);
        return NULL;
    }
    return st;
}

struct stanza *
stanza_copy(const struct stanza *st)
{
    return stanza_from_node(st->root);
}

struct stanza *
stanza_copy_compact(const struct stanza *st)
{
    struct stanza *copy = stanza_alloc_arena(copy_size(st->root), true);
    if (copy == NULL)
        return NULL;
    if (copy_tree(copy, NULL, st->root) == NULL) {
        stanza_unref(copy);
        return NULL;
    }
    return copy;
}

struct xml_node *
node_append_copy(struct xml_node *parent, const struct xml_node *src)
{
    assert(parent->kind == XML_ELEMENT);
    assert(!stanza_is_shared(parent->owner));
    /* Copying a subtree into itself would walk into the copy: go through a temporary
     * stanza in that case. */
    for (const struct xml_node *a = parent; a != NULL; a = a->parent) {
        if (a == src) {
            struct stanza *tmp = stanza_from_node(src);
            if (tmp == NULL)
                return NULL;
            struct xml_node *n = node_append_copy(parent, tmp->root);
            stanza_unref(tmp);
            return n;
        }
    }
    struct xml_node *before = parent->last_child;
    struct xml_node *n = copy_tree(parent->owner, parent, src);
    /* On OOM the partial copy, if linked at all, is parent's last child. */
    if (n == NULL && parent->last_child != before)
        node_remove(parent->last_child);
    return n;
}
