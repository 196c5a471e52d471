/* SPDX-License-Identifier: MIT
 *
 * module.c: the module loader and the event hooks. Built-in modules are listed
 * here; each one's registrations (hooks, iq handlers, features) are recorded on its
 * struct module so that unloading removes them all.
 */
#include <string.h>

#include "server.h"

#define MODULE(name) extern const struct module_def module_##name;
#include "modules.list"
#undef MODULE

static const struct module_def *const builtin_modules[] = {
#define MODULE(name) &module_##name,
#include "modules.list"
#undef MODULE
};

struct hook_entry {
    struct list_node link;     /* srv->hooks[ev] */
    struct list_node mod_link; /* module->hooks */
    struct module *module;
    int priority;
    hook_fn fn;
    void *ud;
};

struct disco_identity {
    struct list_node link;
    struct module *module;
    char *category, *type, *name;
};

struct module {
    const struct module_def *def;
    size_t index; /* slot in sessions' module_data */
    struct list_node link;
    struct list_node hooks;
    char **iq_keys;
    size_t n_iq_keys;
    char **features;
    size_t n_features;
};

const char *
module_name(const struct module *m)
{
    return m->def->name;
}

int
module_hook(struct module *m, enum event_id ev, int priority, hook_fn fn, void *ud)
{
    struct hook_entry *h = yb_calloc(1, sizeof *h);
    h->module = m;
    h->priority = priority;
    h->fn = fn;
    h->ud = ud;
    /* Sorted by descending priority; equal priorities keep load order. */
    struct list_node *n;
    LIST_FOREACH(n, &srv->hooks[ev])
    {
        if (LIST_ENTRY(n, struct hook_entry, link)->priority < priority)
            break;
    }
    list_insert_tail(n, &h->link);
    list_insert_tail(&m->hooks, &h->mod_link);
    return 0;
}

enum hook_result
event_fire(struct event *ev)
{
    struct list_node *n;
    LIST_FOREACH(n, &srv->hooks[ev->id])
    {
        struct hook_entry *h = LIST_ENTRY(n, struct hook_entry, link);
        if (h->fn(ev, h->ud) == HOOK_HANDLED)
            return HOOK_HANDLED;
    }
    return HOOK_PASS;
}

int
module_hook_iq(struct module *m, enum iq_type t, enum iq_target target, const char *ns,
               const char *name, iq_fn fn, void *ud)
{
    char *key;
    int rc = iq__register(m, t, target, ns, name, fn, ud, &key);
    if (rc != 0)
        return rc;
    m->iq_keys = yb_realloc(m->iq_keys, (m->n_iq_keys + 1) * sizeof *m->iq_keys);
    m->iq_keys[m->n_iq_keys++] = key;
    return 0;
}

int
module_add_feature(struct module *m, const char *ns)
{
    if (hashmap_get(&srv->features, ns) != NULL)
        return 0;
    hashmap_set(&srv->features, ns, m);
    m->features = yb_realloc(m->features, (m->n_features + 1) * sizeof *m->features);
    m->features[m->n_features++] = yb_strdup(ns);
    return 0;
}

int
module_add_identity(struct module *m, const char *category, const char *type, const char *name)
{
    struct disco_identity *id = yb_calloc(1, sizeof *id);
    id->module = m;
    id->category = yb_strdup(category);
    id->type = yb_strdup(type);
    id->name = name ? yb_strdup(name) : NULL;
    list_insert_tail(&srv->identities, &id->link);
    return 0;
}

void
server_foreach_identity(void (*fn)(void *ud, const char *category, const char *type,
                                   const char *name),
                        void *ud)
{
    struct list_node *n;
    LIST_FOREACH(n, &srv->identities)
    {
        struct disco_identity *id = LIST_ENTRY(n, struct disco_identity, link);
        fn(ud, id->category, id->type, id->name);
    }
}

void
server_foreach_feature(void (*fn)(void *ud, const char *ns), void *ud)
{
    struct list_node *n;
    LIST_FOREACH(n, &srv->modules)
    {
        struct module *m = LIST_ENTRY(n, struct module, link);
        for (size_t i = 0; i < m->n_features; i++)
            fn(ud, m->features[i]);
    }
}

void
modules_foreach(void (*fn)(void *ud, const struct module_def *def), void *ud)
{
    struct list_node *n;
    LIST_FOREACH(n, &srv->modules)
    fn(ud, LIST_ENTRY(n, struct module, link)->def);
}

void
module_defs_foreach(void (*fn)(void *ud, const struct module_def *def), void *ud)
{
    for (size_t i = 0; i < sizeof builtin_modules / sizeof builtin_modules[0]; i++)
        fn(ud, builtin_modules[i]);
}

size_t
module__index(const struct module *m)
{
    return m->index;
}

static void
module_unload(struct module *m)
{
    if (m->def->unload != NULL)
        m->def->unload(m);
    struct list_node *n, *tmp;
    LIST_FOREACH_SAFE(n, tmp, &srv->identities)
    {
        struct disco_identity *id = LIST_ENTRY(n, struct disco_identity, link);
        if (id->module != m)
            continue;
        list_remove(&id->link);
        yb_free(id->category);
        yb_free(id->type);
        yb_free(id->name);
        yb_free(id);
    }
    while (!list_is_empty(&m->hooks)) {
        struct hook_entry *h = LIST_ENTRY(m->hooks.next, struct hook_entry, mod_link);
        list_remove(&h->mod_link);
        list_remove(&h->link);
        yb_free(h);
    }
    for (size_t i = 0; i < m->n_iq_keys; i++) {
        iq__unregister(m->iq_keys[i]);
        yb_free(m->iq_keys[i]);
    }
    for (size_t i = 0; i < m->n_features; i++) {
        hashmap_remove(&srv->features, m->features[i]);
        yb_free(m->features[i]);
    }
    yb_free(m->iq_keys);
    yb_free(m->features);
    list_remove(&m->link);
    yb_free(m);
}

int
modules_load_all(void)
{
    srv->n_modules = sizeof builtin_modules / sizeof builtin_modules[0];
    for (size_t i = 0; i < sizeof builtin_modules / sizeof builtin_modules[0]; i++) {
        struct module *m = yb_calloc(1, sizeof *m);
        m->def = builtin_modules[i];
        m->index = i;
        list_init(&m->hooks);
        list_insert_tail(&srv->modules, &m->link);
        int rc = m->def->load ? m->def->load(m) : 0;
        if (rc != 0) {
            log_error("modules", "module %s failed to load: %s", m->def->name, yb_strerror(rc));
            module_unload(m);
            return rc;
        }
        log_debug("modules", "loaded %s", m->def->name);
    }
    return 0;
}

void
modules_unload_all(void)
{
    while (!list_is_empty(&srv->modules))
        module_unload(LIST_ENTRY(srv->modules.prev, struct module, link));
}
