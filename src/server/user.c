/* SPDX-License-Identifier: MIT
 *
 * user.c: local accounts as the core holds them: loaded on demand with their roster
 * (RFC 6121 §2) and pending subscription requests, shared by their sessions and by
 * whatever is processing a stanza for them, freed when nobody holds them. Roster
 * changes are written through the storage worker (not waited for: the worker keeps
 * them in order).
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

#define ROSTER_STORE  "roster"
#define PENDING_STORE "roster_pending"
#define META_STORE    "roster_meta"

struct user_waiter {
    struct list_node link;
    user_fn fn;
    void *ud;
};

void
user_table_init(void)
{
    hashmap_init(&srv->users);
}

static void
item_free(struct roster_item *it)
{
    if (it == NULL)
        return;
    yb_free(it->jid);
    yb_free(it->name);
    for (size_t i = 0; i < it->n_groups; i++)
        yb_free(it->groups[i]);
    yb_free(it->groups);
    yb_free(it->pending_stanza);
    yb_free(it);
}

static void
user_free(struct user *u)
{
    struct hashmap_iter it;
    void *v;
    hashmap_iter_init(&it, &u->roster);
    while (hashmap_iter_next(&it, NULL, &v))
        item_free(v);
    hashmap_fini(&u->roster);
    for (size_t i = 0; u->maps != NULL && i < srv->n_preload; i++) {
        hashmap_iter_init(&it, &u->maps[i]);
        while (hashmap_iter_next(&it, NULL, &v))
            yb_free(v);
        hashmap_fini(&u->maps[i]);
    }
    yb_free(u->maps);
    yb_free(u->bare);
    yb_free(u->node);
    yb_free(u);
}

void
user_table_fini(void)
{
    struct hashmap_iter it;
    void *v;
    hashmap_iter_init(&it, &srv->users);
    while (hashmap_iter_next(&it, NULL, &v))
        user_free(v);
    hashmap_fini(&srv->users);
}

struct user *
user_find_loaded(const char *bare)
{
    struct user *u = hashmap_get(&srv->users, bare);
    return u && u->loaded && u->exists ? u : NULL;
}

const char *
user_bare(const struct user *u)
{
    return u->bare;
}

const char *
user_node(const struct user *u)
{
    return u->node;
}

const char *
user_domain(const struct user *u)
{
    return u->host->domain;
}

struct session *
user_first_session(const struct user *u)
{
    if (list_is_empty(&u->sessions))
        return NULL;
    return LIST_ENTRY(u->sessions.next, struct session, user_link);
}

struct session *
user_next_session(const struct user *u, const struct session *s)
{
    if (s->user_link.next == &u->sessions)
        return NULL;
    return LIST_ENTRY(s->user_link.next, struct session, user_link);
}

bool
user_has_available(const struct user *u)
{
    for (struct session *s = user_first_session(u); s; s = user_next_session(u, s))
        if (s->available)
            return true;
    return false;
}

void
user_hold(struct user *u)
{
    u->refs++;
}

void
user_release(struct user *u)
{
    if (--u->refs > 0)
        return;
    if (hashmap_get(&srv->users, u->bare) == u)
        hashmap_remove(&srv->users, u->bare);
    user_free(u);
}

/* ---- roster items <-> stored XML ---- */

const char *
roster_sub_name(enum roster_sub s)
{
    static const char *const names[] = {"none", "to", "from", "both"};
    return names[s];
}

static enum roster_sub
sub_parse(const char *s)
{
    if (s == NULL)
        return SUB_NONE;
    if (strcmp(s, "to") == 0)
        return SUB_TO;
    if (strcmp(s, "from") == 0)
        return SUB_FROM;
    if (strcmp(s, "both") == 0)
        return SUB_BOTH;
    return SUB_NONE;
}

void
roster_item_to_xml(const struct roster_item *it, struct xml_node *parent, bool removed)
{
    struct xml_node *n = node_add_child(parent, "item", NS_ROSTER);
    node_set_attr(n, "jid", it->jid);
    if (removed) {
        node_set_attr(n, "subscription", "remove");
        return;
    }
    node_set_attr(n, "subscription", roster_sub_name(it->sub));
    if (it->name != NULL)
        node_set_attr(n, "name", it->name);
    if (it->ask)
        node_set_attr(n, "ask", "subscribe");
    if (it->approved)
        node_set_attr(n, "approved", "true");
    for (size_t i = 0; i < it->n_groups; i++)
        node_add_text_child(n, "group", NULL, it->groups[i]);
}

static struct roster_item *
item_from_xml(const struct xml_node *n)
{
    const char *jid = node_attr(n, "jid");
    if (jid == NULL)
        return NULL;
    struct roster_item *it = yb_calloc(1, sizeof *it);
    it->jid = yb_strdup(jid);
    const char *name = node_attr(n, "name");
    it->name = name ? yb_strdup(name) : NULL;
    it->sub = sub_parse(node_attr(n, "subscription"));
    it->ask = node_attr(n, "ask") != NULL;
    it->approved = node_attr(n, "approved") != NULL;
    it->in_roster = true;
    for (struct xml_node *g = node_first_element(n); g; g = node_next_element(g)) {
        if (strcmp(g->name, "group") != 0)
            continue;
        it->groups = yb_realloc(it->groups, (it->n_groups + 1) * sizeof *it->groups);
        it->groups[it->n_groups++] = yb_strdup(node_text(g));
    }
    return it;
}

/* ---- loading ---- */

struct load_req {
    struct storage_req req;
    struct user *u;
    char *domain, *node;
    bool exists;
    uint64_t ver;
    struct buf items;   /* stored items, concatenated */
    struct buf pending; /* "jid\0stanza\0" pairs */
    struct buf *maps;   /* per preloaded store: "key\0value\0" pairs */
    size_t n_maps;
};

static int
collect_item(void *ud, const char *key, const void *data, size_t len)
{
    (void)key;
    struct buf *b = ud;
    buf_append(b, data, len);
    return 0;
}

static int
collect_pending(void *ud, const char *key, const void *data, size_t len)
{
    struct buf *b = ud;
    buf_append(b, key, strlen(key) + 1);
    buf_append(b, data, len);
    buf_putc(b, '\0');
    return 0;
}

static int
load_work(struct db *db, struct storage_req *r)
{
    struct load_req *lr = (struct load_req *)r;
    lr->exists = db_account_exists(db, lr->domain, lr->node);
    if (!lr->exists)
        return YB_ENOENT;
    struct buf ver = BUF_INIT;
    if (db_kv_get(db, lr->domain, lr->node, META_STORE, "version", &ver) == 0)
        lr->ver = strtoull(ver.data, NULL, 10);
    buf_fini(&ver);
    buf_puts(&lr->items, "<items>");
    int rc = db_map_list(db, lr->domain, lr->node, ROSTER_STORE, collect_item, &lr->items);
    buf_puts(&lr->items, "</items>");
    if (rc == 0)
        rc = db_map_list(db, lr->domain, lr->node, PENDING_STORE, collect_pending, &lr->pending);
    for (size_t i = 0; rc == 0 && i < lr->n_maps; i++)
        rc = db_map_list(db, lr->domain, lr->node, srv->preload[i], collect_pending, &lr->maps[i]);
    return rc;
}

/* A failing disk fails every request: storage failures seen here are logged once per
 * USER_LOG_QUIET_MS, with the number not logged (core thread only). */
#define USER_LOG_QUIET_MS 10000

struct log_burst {
    uint64_t last_ms;
    unsigned long n_quiet;
    bool logged;
};

static bool
burst_should_log(struct log_burst *b, unsigned long *quiet)
{
    uint64_t now = clock_mono_ms();
    if (b->logged && now - b->last_ms < USER_LOG_QUIET_MS) {
        b->n_quiet++;
        return false;
    }
    *quiet = b->n_quiet;
    b->n_quiet = 0;
    b->last_ms = now;
    b->logged = true;
    return true;
}

static struct log_burst load_burst, save_burst, map_burst;

static void
run_waiters(struct user *u, int status)
{
    /* Waiters may add new waiters or release u: hold it while we run them. */
    user_hold(u);
    while (!list_is_empty(&u->waiters)) {
        struct user_waiter *w = LIST_ENTRY(u->waiters.next, struct user_waiter, link);
        list_remove(&w->link);
        w->fn(u->exists ? u : NULL, status, w->ud);
        yb_free(w);
        user_release(u); /* the waiter's hold */
    }
    user_release(u);
}

static void
load_done(struct storage_req *r)
{
    struct load_req *lr = (struct load_req *)r;
    struct user *u = lr->u;
    u->loading = false;
    u->exists = lr->exists && r->status == 0;
    u->loaded = u->exists;
    if (u->exists) {
        u->roster_ver = lr->ver;
        snprintf(u->ver_str, sizeof u->ver_str, "%llu", (unsigned long long)u->roster_ver);
        struct stanza *items = stanza_parse(lr->items.data, lr->items.len);
        if (items != NULL) {
            for (struct xml_node *n = node_first_element(stanza_root(items)); n;
                 n = node_next_element(n)) {
                struct roster_item *it = item_from_xml(n);
                if (it != NULL)
                    hashmap_set(&u->roster, it->jid, it);
            }
            stanza_unref(items);
        } else {
            log_error("roster", "stored roster of %s does not parse", u->bare);
        }
        for (size_t off = 0; off < lr->pending.len;) {
            const char *jid = lr->pending.data + off;
            const char *st = jid + strlen(jid) + 1;
            off += strlen(jid) + strlen(st) + 2;
            struct roster_item *it = roster_ensure(u, jid);
            it->pending_in = true;
            yb_free(it->pending_stanza);
            it->pending_stanza = yb_strdup(st);
        }
        u->maps = yb_calloc(srv->n_preload ? srv->n_preload : 1, sizeof *u->maps);
        for (size_t i = 0; i < srv->n_preload; i++) {
            hashmap_init(&u->maps[i]);
            struct buf *b = i < lr->n_maps ? &lr->maps[i] : NULL;
            for (size_t off = 0; b != NULL && off < b->len;) {
                const char *key = b->data + off;
                const char *val = key + strlen(key) + 1;
                off += strlen(key) + strlen(val) + 2;
                hashmap_set(&u->maps[i], key, yb_strdup(val));
            }
        }
    }
    int status = r->status != 0 ? r->status : (u->exists ? 0 : YB_ENOENT);
    unsigned long quiet;
    if (status != 0 && status != YB_ENOENT && burst_should_log(&load_burst, &quiet))
        log_error("roster",
                  "cannot load account %s: %s (%lu similar failures since the last report)",
                  u->bare, yb_strerror(status), quiet);
    buf_fini(&lr->items);
    buf_fini(&lr->pending);
    for (size_t i = 0; i < lr->n_maps; i++)
        buf_fini(&lr->maps[i]);
    yb_free(lr->maps);
    yb_free(lr->domain);
    yb_free(lr->node);
    yb_free(lr);
    /* Not found or failed: the entry must not be cached as loaded. */
    if (!u->exists && hashmap_get(&srv->users, u->bare) == u)
        hashmap_remove(&srv->users, u->bare);
    run_waiters(u, status);
}

void
user_acquire(const char *domain, const char *node, user_fn fn, void *ud)
{
    struct host *h = server_find_host(domain);
    if (h == NULL || node == NULL) {
        fn(NULL, YB_ENOENT, ud);
        return;
    }
    char bare[2048];
    snprintf(bare, sizeof bare, "%s@%s", node, domain);
    struct user *u = hashmap_get(&srv->users, bare);
    if (u != NULL && u->loaded) {
        user_hold(u);
        fn(u, 0, ud);
        user_release(u);
        return;
    }
    if (u == NULL) {
        u = yb_calloc(1, sizeof *u);
        u->bare = yb_strdup(bare);
        u->node = yb_strdup(node);
        u->host = h;
        hashmap_init(&u->roster);
        list_init(&u->sessions);
        list_init(&u->waiters);
        hashmap_set(&srv->users, u->bare, u);
    }
    struct user_waiter *w = yb_calloc(1, sizeof *w);
    w->fn = fn;
    w->ud = ud;
    list_insert_tail(&u->waiters, &w->link);
    user_hold(u);
    if (u->loading)
        return;
    u->loading = true;
    struct load_req *lr = yb_calloc(1, sizeof *lr);
    lr->req.work = load_work;
    lr->req.done = load_done;
    lr->u = u;
    lr->domain = yb_strdup(domain);
    lr->node = yb_strdup(node);
    lr->n_maps = srv->n_preload;
    lr->maps = yb_calloc(lr->n_maps ? lr->n_maps : 1, sizeof *lr->maps);
    if (storage_submit(srv->storage, &lr->req) != 0) {
        lr->req.status = YB_EIO;
        load_done(&lr->req);
    }
}

/* ---- roster operations ---- */

struct roster_item *
roster_find(struct user *u, const char *contact)
{
    return hashmap_get(&u->roster, contact);
}

struct roster_item *
roster_ensure(struct user *u, const char *contact)
{
    struct roster_item *it = hashmap_get(&u->roster, contact);
    if (it == NULL) {
        it = yb_calloc(1, sizeof *it);
        it->jid = yb_strdup(contact);
        hashmap_set(&u->roster, it->jid, it);
    }
    return it;
}

struct roster_item *
roster_next(struct user *u, size_t *pos)
{
    struct hashmap_iter it = {&u->roster, *pos};
    void *v;
    if (!hashmap_iter_next(&it, NULL, &v))
        return NULL;
    *pos = it.pos;
    return v;
}

size_t
roster_count(struct user *u, bool in_only)
{
    if (!in_only)
        return hashmap_count(&u->roster);
    size_t n = 0, pos = 0;
    for (struct roster_item *r; (r = roster_next(u, &pos)) != NULL;)
        n += r->in_roster;
    return n;
}

const char *
roster_version(const struct user *u)
{
    return u->ver_str;
}

struct save_req {
    struct storage_req req;
    char *domain, *node, *contact;
    char *item_xml;    /* NULL: delete the roster entry */
    char *pending_xml; /* NULL: delete the pending request */
    char ver[24];
};

static int
save_work(struct db *db, struct storage_req *r)
{
    struct save_req *sr = (struct save_req *)r;
    int rc = sr->item_xml ? db_map_set(db, sr->domain, sr->node, ROSTER_STORE, sr->contact,
                                       sr->item_xml, strlen(sr->item_xml))
                          : db_map_delete(db, sr->domain, sr->node, ROSTER_STORE, sr->contact);
    if (rc == 0)
        rc = sr->pending_xml ? db_map_set(db, sr->domain, sr->node, PENDING_STORE, sr->contact,
                                          sr->pending_xml, strlen(sr->pending_xml))
                             : db_map_delete(db, sr->domain, sr->node, PENDING_STORE, sr->contact);
    if (rc == 0)
        rc = db_kv_set(db, sr->domain, sr->node, META_STORE, "version", sr->ver, strlen(sr->ver));
    return rc;
}

static void
save_done(struct storage_req *r)
{
    struct save_req *sr = (struct save_req *)r;
    unsigned long quiet;
    /* The client already got its result (the write is asynchronous); the change
     * stays in memory and is lost at the next load of the account. */
    if (r->status != 0 && burst_should_log(&save_burst, &quiet))
        log_error("roster",
                  "saving the roster item %s of %s@%s failed: %s; the change is kept in memory"
                  " only (%lu similar failures since the last report)",
                  sr->contact, sr->node, sr->domain, yb_strerror(r->status), quiet);
    yb_free(sr->domain);
    yb_free(sr->node);
    yb_free(sr->contact);
    yb_free(sr->item_xml);
    yb_free(sr->pending_xml);
    yb_free(sr);
}

static void
push(struct user *u, const struct roster_item *it, bool removed)
{
    for (struct session *s = user_first_session(u); s; s = user_next_session(u, s)) {
        if (!s->interested)
            continue;
        struct stanza *iq = stanza_new("iq", NS_CLIENT);
        char id[17];
        server_random_id(id);
        stanza_set_attr(iq, "type", "set");
        stanza_set_attr(iq, "id", id);
        stanza_set_attr(iq, "to", s->jid->full);
        struct xml_node *q = node_add_child(stanza_root(iq), "query", NS_ROSTER);
        node_set_attr(q, "ver", u->ver_str);
        roster_item_to_xml(it, q, removed);
        session_send(s, iq);
    }
}

void
roster_commit(struct user *u, struct roster_item *it, bool do_push)
{
    u->roster_ver++;
    snprintf(u->ver_str, sizeof u->ver_str, "%llu", (unsigned long long)u->roster_ver);
    struct save_req *sr = yb_calloc(1, sizeof *sr);
    sr->req.work = save_work;
    sr->req.done = save_done;
    sr->domain = yb_strdup(u->host->domain);
    sr->node = yb_strdup(u->node);
    sr->contact = yb_strdup(it->jid);
    memcpy(sr->ver, u->ver_str, sizeof sr->ver);
    if (it->in_roster) {
        struct stanza *tmp = stanza_new("query", NS_ROSTER);
        roster_item_to_xml(it, stanza_root(tmp), false);
        struct buf b = BUF_INIT;
        node_serialize(node_first_element(stanza_root(tmp)), NS_ROSTER, &b);
        sr->item_xml = buf_steal(&b);
        stanza_unref(tmp);
    }
    if (it->pending_in && it->pending_stanza != NULL)
        sr->pending_xml = yb_strdup(it->pending_stanza);
    if (storage_submit(srv->storage, &sr->req) != 0) {
        sr->req.status = YB_ECLOSED;
        save_done(&sr->req);
    }
    if (do_push)
        push(u, it, !it->in_roster);
    if (!it->in_roster && !it->pending_in) {
        hashmap_remove(&u->roster, it->jid);
        item_free(it);
    }
}

/* ---- preloaded stores ---- */

int
module_preload_map(struct module *m, const char *store)
{
    (void)m;
    if (user__preload_index(store) >= 0)
        return YB_EEXIST;
    /* Accounts already in memory were loaded without it: only allowed at start. */
    assert(hashmap_count(&srv->users) == 0);
    srv->preload = yb_realloc(srv->preload, (srv->n_preload + 1) * sizeof *srv->preload);
    srv->preload[srv->n_preload++] = yb_strdup(store);
    return 0;
}

int
user__preload_index(const char *store)
{
    for (size_t i = 0; i < srv->n_preload; i++)
        if (strcmp(srv->preload[i], store) == 0)
            return (int)i;
    return -1;
}

const struct hashmap *
user_map(const struct user *u, const char *store)
{
    int i = user__preload_index(store);
    return i >= 0 && u->maps != NULL ? &u->maps[i] : NULL;
}

struct map_save_req {
    struct storage_req req;
    char *domain, *node, *store, *key, *value;
};

static int
map_save_work(struct db *db, struct storage_req *r)
{
    struct map_save_req *mr = (struct map_save_req *)r;
    return mr->value ? db_map_set(db, mr->domain, mr->node, mr->store, mr->key, mr->value,
                                  strlen(mr->value))
                     : db_map_delete(db, mr->domain, mr->node, mr->store, mr->key);
}

static void
map_save_done(struct storage_req *r)
{
    struct map_save_req *mr = (struct map_save_req *)r;
    unsigned long quiet;
    if (r->status != 0 && burst_should_log(&map_burst, &quiet))
        log_error("storage",
                  "saving %s of %s@%s failed: %s (%lu similar failures since the last report)",
                  mr->store, mr->node, mr->domain, yb_strerror(r->status), quiet);
    yb_free(mr->domain);
    yb_free(mr->node);
    yb_free(mr->store);
    yb_free(mr->key);
    yb_free(mr->value);
    yb_free(mr);
}

void
user_map_set(struct user *u, const char *store, const char *key, const char *value)
{
    int i = user__preload_index(store);
    assert(i >= 0 && u->maps != NULL);
    yb_free(hashmap_remove(&u->maps[i], key));
    if (value != NULL)
        hashmap_set(&u->maps[i], key, yb_strdup(value));
    struct map_save_req *mr = yb_calloc(1, sizeof *mr);
    mr->req.work = map_save_work;
    mr->req.done = map_save_done;
    mr->domain = yb_strdup(u->host->domain);
    mr->node = yb_strdup(u->node);
    mr->store = yb_strdup(store);
    mr->key = yb_strdup(key);
    mr->value = value ? yb_strdup(value) : NULL;
    if (storage_submit(srv->storage, &mr->req) != 0) {
        mr->req.status = YB_ECLOSED;
        map_save_done(&mr->req);
    }
}

int
module_storage_submit(struct storage_req *req)
{
    return storage_submit(srv->storage, req);
}
