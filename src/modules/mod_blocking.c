/* SPDX-License-Identifier: MIT
 *
 * mod_blocking.c: XEP-0191 Blocking Command. The blocklist (§3.2), block and
 * unblock commands (§3.3-§3.5) with pushes to every resource that asked for the
 * list, kept per account in the preloaded map store "blocklist" (key: the
 * normalised JID, value ""). Enforced on routing: stanzas from a blocked JID are
 * not delivered (presence dropped, messages and iq get/set answered with
 * service-unavailable, §3.3), the account's own stanzas to a blocked JID get
 * not-acceptable with <blocked/>, and the account's presence never reaches a
 * blocked JID. JIDs match per XEP-0191 §7 (XEP-0016 rules). A user's resources
 * never block each other.
 */
#include <string.h>

#include "module_api.h"

#define NS_BLOCKING        "urn:xmpp:blocking"
#define NS_BLOCKING_ERRORS "urn:xmpp:blocking:errors"
#define BLOCK_STORE        "blocklist"
#define BLOCKLIST_MAX      10000

/* Session data: set (to this marker) once a session asked for the blocklist; such
 * sessions get pushes (§3.3). Nothing to free. */
static char interested_marker;

/* The stanza being routed again after its recipient's account was loaded. */
static const struct stanza *reinjecting;

/* ---- matching (§7) ---- */

/* True when the blocklist of u covers t: t itself, its bare JID, its domain or a
 * parent domain of it is listed. "domain/resource" items match only that JID, which
 * the first lookup covers. */
static bool
is_blocked(const struct user *u, const struct jid *t)
{
    const struct hashmap *bl = user_map(u, BLOCK_STORE);
    if (bl == NULL || hashmap_count(bl) == 0)
        return false;
    if (hashmap_get(bl, t->full) != NULL)
        return true;
    if (t->node != NULL && hashmap_get(bl, t->bare) != NULL)
        return true;
    for (const char *d = t->domain; d != NULL; d = strchr(d, '.')) {
        if (*d == '.')
            d++;
        if (hashmap_get(bl, d) != NULL)
            return true;
    }
    return false;
}

/* True when the blocklist item p covers t (same rules as is_blocked). */
static bool
item_matches(const struct jid *p, const struct jid *t)
{
    if (p->node != NULL)
        return t->node != NULL && strcmp(p->bare, t->bare) == 0 &&
               (p->resource == NULL ||
                (t->resource != NULL && strcmp(p->resource, t->resource) == 0));
    if (p->resource != NULL)
        return strcmp(p->full, t->full) == 0;
    size_t dl = strlen(t->domain), pl = strlen(p->domain);
    return dl >= pl && strcmp(t->domain + dl - pl, p->domain) == 0 &&
           (dl == pl || t->domain[dl - pl - 1] == '.');
}

static bool
any_matches(struct jid *const *items, size_t n, const struct jid *t)
{
    for (size_t i = 0; i < n; i++)
        if (item_matches(items[i], t))
            return true;
    return false;
}

/* ---- presence on block and unblock ---- */

static void
send_presence(const char *from, const char *to, const char *type)
{
    struct stanza *p = stanza_new("presence", NS_CLIENT);
    stanza_set_attr(p, "from", from);
    stanza_set_attr(p, "to", to);
    if (type != NULL)
        stanza_set_attr(p, "type", type);
    route(p);
}

struct directed_ctx {
    struct jid *const *items;
    size_t n;
    struct buf hits; /* NUL-separated JIDs */
};

static void
collect_directed(void *ud, const char *jid)
{
    struct directed_ctx *ctx = ud;
    struct jid *j = jid_new(jid);
    if (j != NULL && any_matches(ctx->items, ctx->n, j)) {
        buf_puts(&ctx->hits, jid);
        buf_putc(&ctx->hits, '\0');
    }
    jid_free(j);
}

/* The user's resources see the contact go offline: from each available resource
 * of a local contact, else from its bare JID. */
static void
contact_goes_offline(struct user *u, const char *contact)
{
    struct user *cu = user_find(contact);
    for (struct session *s = user_first_session(u); s; s = user_next_session(u, s)) {
        if (!session_is_available(s))
            continue;
        bool sent = false;
        for (struct session *c = cu ? user_first_session(cu) : NULL; c;
             c = user_next_session(cu, c)) {
            if (!session_is_available(c))
                continue;
            struct stanza *p = stanza_new("presence", NS_CLIENT);
            stanza_set_attr(p, "from", session_jid(c)->full);
            stanza_set_attr(p, "to", session_jid(s)->full);
            stanza_set_attr(p, "type", "unavailable");
            session_send(s, p);
            sent = true;
        }
        if (!sent && cu == NULL) {
            struct stanza *p = stanza_new("presence", NS_CLIENT);
            stanza_set_attr(p, "from", contact);
            stanza_set_attr(p, "to", session_jid(s)->full);
            stanza_set_attr(p, "type", "unavailable");
            session_send(s, p);
        }
    }
}

/* Before new items take effect: §3.3, contacts allowed to see our presence (and
 * JIDs that got directed presence) get unavailable presence from each available
 * resource; and our resources see the blocked contacts go offline. */
static void
hide_presence(struct user *u, struct jid *const *items, size_t n)
{
    size_t pos = 0;
    for (struct roster_item *it; (it = roster_next(u, &pos)) != NULL;) {
        if (!roster_item_has_from(it) && !roster_item_has_to(it))
            continue;
        struct jid *c = jid_new(it->jid);
        if (c == NULL || is_blocked(u, c)) {
            jid_free(c);
            continue;
        }
        /* A full-JID item blocks one resource of the contact: tell that one. */
        const char *target = NULL;
        bool matched = false;
        for (size_t i = 0; i < n && !matched; i++) {
            if (item_matches(items[i], c)) {
                matched = true;
                target = it->jid;
            } else if (items[i]->node != NULL && items[i]->resource != NULL &&
                       strcmp(items[i]->bare, c->bare) == 0) {
                matched = true;
                target = items[i]->full;
            }
        }
        if (matched && roster_item_has_from(it)) {
            for (struct session *s = user_first_session(u); s; s = user_next_session(u, s))
                if (session_is_available(s))
                    send_presence(session_jid(s)->full, target, "unavailable");
        }
        if (matched && roster_item_has_to(it) && target == it->jid)
            contact_goes_offline(u, it->jid);
        jid_free(c);
    }
    for (struct session *s = user_first_session(u); s; s = user_next_session(u, s)) {
        struct directed_ctx ctx = {.items = items, .n = n};
        buf_init(&ctx.hits);
        session_foreach_directed(s, collect_directed, &ctx);
        for (size_t off = 0; off < ctx.hits.len;) {
            const char *jid = ctx.hits.data + off;
            off += strlen(jid) + 1;
            send_presence(session_jid(s)->full, jid, "unavailable");
            session_remove_directed(s, jid);
        }
        buf_fini(&ctx.hits);
    }
}

/* After items were removed: §3.4, contacts allowed to see our presence get our
 * current presence again, and we probe the contacts we are subscribed to so that
 * our resources learn theirs. */
static void
restore_presence(struct user *u, struct jid *const *items, size_t n)
{
    size_t pos = 0;
    for (struct roster_item *it; (it = roster_next(u, &pos)) != NULL;) {
        if (!roster_item_has_from(it) && !roster_item_has_to(it))
            continue;
        struct jid *c = jid_new(it->jid);
        if (c == NULL || is_blocked(u, c)) {
            jid_free(c);
            continue;
        }
        bool matched = any_matches(items, n, c);
        for (size_t i = 0; i < n && !matched; i++)
            matched = items[i]->node != NULL && strcmp(items[i]->bare, c->bare) == 0;
        jid_free(c);
        if (!matched)
            continue;
        if (roster_item_has_from(it)) {
            for (struct session *s = user_first_session(u); s; s = user_next_session(u, s)) {
                if (!session_is_available(s) || session_presence(s) == NULL)
                    continue;
                struct stanza *p = stanza_copy(session_presence(s));
                stanza_set_attr(p, "from", session_jid(s)->full);
                stanza_set_attr(p, "to", it->jid);
                route(p);
            }
        }
        if (roster_item_has_to(it) && user_has_available(u))
            send_presence(user_bare(u), it->jid, "probe");
    }
}

/* ---- the commands ---- */

static void
push(struct user *u, const struct module *m, const char *name, struct jid *const *items, size_t n)
{
    for (struct session *s = user_first_session(u); s; s = user_next_session(u, s)) {
        if (session_get_data(s, m) == NULL)
            continue;
        struct stanza *iq = stanza_new("iq", NS_CLIENT);
        char id[17];
        server_random_id(id);
        stanza_set_attr(iq, "type", "set");
        stanza_set_attr(iq, "id", id);
        stanza_set_attr(iq, "to", session_jid(s)->full);
        struct xml_node *cmd = node_add_child(stanza_root(iq), name, NS_BLOCKING);
        for (size_t i = 0; i < n; i++)
            node_set_attr(node_add_child(cmd, "item", NS_BLOCKING), "jid", items[i]->full);
        session_send(s, iq);
    }
}

/* The account behind a request from one of its own sessions, or NULL after
 * answering forbidden. */
static struct user *
own_account(struct iq_request *req)
{
    struct session *s = iq_request_session(req);
    if (!iq_request_from_self(req) || s == NULL || session_user(s) == NULL) {
        iq_reply_error(req, SE_FORBIDDEN, NULL);
        return NULL;
    }
    return session_user(s);
}

static void
free_items(struct jid **items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        jid_free(items[i]);
    yb_free(items);
}

/* Parses the <item jid=.../> children of cmd into *out (normalised, duplicates
 * removed). Answers the error itself and returns -1 on a bad item. */
static int
parse_items(struct iq_request *req, const struct xml_node *cmd, struct jid ***out, size_t *n_out)
{
    size_t n = 0;
    for (struct xml_node *c = node_first_element(cmd); c; c = node_next_element(c))
        n++;
    struct jid **items = yb_calloc(n ? n : 1, sizeof *items);
    size_t k = 0;
    for (struct xml_node *c = node_first_element(cmd); c; c = node_next_element(c)) {
        const char *js = node_attr(c, "jid");
        if (strcmp(c->name, "item") != 0 || strcmp(c->ns, NS_BLOCKING) != 0 || js == NULL) {
            iq_reply_error(req, SE_BAD_REQUEST, NULL); /* §10 schema: item with jid */
            free_items(items, k);
            return -1;
        }
        struct jid *j = jid_new(js);
        if (j == NULL) {
            iq_reply_error(req, SE_JID_MALFORMED, NULL);
            free_items(items, k);
            return -1;
        }
        bool dup = false;
        for (size_t i = 0; i < k && !dup; i++)
            dup = strcmp(items[i]->full, j->full) == 0;
        if (dup)
            jid_free(j);
        else
            items[k++] = j;
    }
    *out = items;
    *n_out = k;
    return 0;
}

static enum hook_result
on_blocklist(struct iq_request *req, void *ud)
{
    const struct module *m = ud;
    struct user *u = own_account(req);
    if (u == NULL)
        return HOOK_HANDLED;
    session_set_data(iq_request_session(req), m, &interested_marker);
    struct stanza *res = iq_result_new(req, NULL);
    struct xml_node *list = node_add_child(stanza_root(res), "blocklist", NS_BLOCKING);
    const struct hashmap *bl = user_map(u, BLOCK_STORE);
    if (bl != NULL) {
        struct hashmap_iter it;
        const char *key;
        hashmap_iter_init(&it, bl);
        while (hashmap_iter_next(&it, &key, NULL))
            node_set_attr(node_add_child(list, "item", NS_BLOCKING), "jid", key);
    }
    iq_reply(req, res);
    return HOOK_HANDLED;
}

static enum hook_result
on_block(struct iq_request *req, void *ud)
{
    const struct module *m = ud;
    struct user *u = own_account(req);
    if (u == NULL)
        return HOOK_HANDLED;
    struct jid **items;
    size_t n;
    if (parse_items(req, iq_request_payload(req), &items, &n) != 0)
        return HOOK_HANDLED;
    if (n == 0) {
        iq_reply_error(req, SE_BAD_REQUEST, "block needs at least one item"); /* §3.3 */
        free_items(items, n);
        return HOOK_HANDLED;
    }
    const struct hashmap *bl = user_map(u, BLOCK_STORE);
    if (bl == NULL) {
        iq_reply_error(req, SE_INTERNAL_SERVER_ERROR, NULL);
        free_items(items, n);
        return HOOK_HANDLED;
    }
    size_t n_new = 0;
    for (size_t i = 0; i < n; i++)
        if (hashmap_get(bl, items[i]->full) == NULL)
            n_new++;
    if (hashmap_count(bl) + n_new > BLOCKLIST_MAX) {
        iq_reply_error(req, SE_POLICY_VIOLATION, "the blocklist is full");
        free_items(items, n);
        return HOOK_HANDLED;
    }
    /* Presence first: once listed, the filter below would swallow it. */
    hide_presence(u, items, n);
    for (size_t i = 0; i < n; i++)
        if (hashmap_get(bl, items[i]->full) == NULL)
            user_map_set(u, BLOCK_STORE, items[i]->full, "");
    iq_reply_result(req);
    push(u, m, "block", items, n);
    free_items(items, n);
    return HOOK_HANDLED;
}

static enum hook_result
on_unblock(struct iq_request *req, void *ud)
{
    const struct module *m = ud;
    struct user *u = own_account(req);
    if (u == NULL)
        return HOOK_HANDLED;
    struct jid **items;
    size_t n;
    if (parse_items(req, iq_request_payload(req), &items, &n) != 0)
        return HOOK_HANDLED;
    const struct hashmap *bl = user_map(u, BLOCK_STORE);
    if (bl == NULL) {
        iq_reply_error(req, SE_INTERNAL_SERVER_ERROR, NULL);
        free_items(items, n);
        return HOOK_HANDLED;
    }
    bool all = n == 0;
    if (all) {
        /* §3.5: an empty <unblock/> clears the list. */
        yb_free(items);
        items = yb_calloc(hashmap_count(bl) + 1, sizeof *items);
        struct hashmap_iter it;
        const char *key;
        hashmap_iter_init(&it, bl);
        while (hashmap_iter_next(&it, &key, NULL)) {
            struct jid *j = jid_new(key);
            if (j != NULL)
                items[n++] = j;
            else
                log_warn("blocking", "dropping unparsable blocklist item of %s", user_bare(u));
        }
    }
    struct jid **removed = yb_calloc(n ? n : 1, sizeof *removed);
    size_t n_removed = 0;
    for (size_t i = 0; i < n; i++) {
        if (hashmap_get(bl, items[i]->full) == NULL)
            continue;
        user_map_set(u, BLOCK_STORE, items[i]->full, NULL);
        removed[n_removed++] = items[i];
    }
    if (all) {
        /* Keys that did not parse as JIDs go too. */
        while (hashmap_count(bl) > 0) {
            struct hashmap_iter it;
            const char *key;
            hashmap_iter_init(&it, bl);
            if (!hashmap_iter_next(&it, &key, NULL))
                break;
            char *k = yb_strdup(key);
            user_map_set(u, BLOCK_STORE, k, NULL);
            yb_free(k);
        }
    }
    iq_reply_result(req);
    push(u, m, "unblock", all ? NULL : items, all ? 0 : n);
    restore_presence(u, removed, n_removed);
    yb_free(removed);
    free_items(items, n);
    return HOOK_HANDLED;
}

/* ---- enforcement ---- */

/* §3.3: what a blocked JID's stanza to the user gets. Borrowed: st. */
static void
reject_inbound(const struct stanza *st)
{
    const char *name = stanza_name(st);
    const char *type = stanza_type_of(st);
    if (strcmp(name, "message") == 0) {
        if (strcmp(type, "error") != 0)
            route_error(st, SE_SERVICE_UNAVAILABLE, NULL);
    } else if (strcmp(name, "iq") == 0) {
        if (strcmp(type, "get") == 0 || strcmp(type, "set") == 0)
            route_error(st, SE_SERVICE_UNAVAILABLE, NULL);
    }
    /* Presence (notifications, subscriptions, probes): no answer at all. */
}

struct deferred {
    struct stanza *st;
};

static void
deferred_loaded(struct user *u, int status, void *ud)
{
    (void)u;
    (void)status;
    struct deferred *d = ud;
    struct stanza *st = d->st;
    yb_free(d);
    /* While u is held, the router sees the account loaded and this hook runs again
     * with it; when the account does not exist the router gives its usual answer. */
    const struct stanza *outer = reinjecting;
    reinjecting = st;
    route(st);
    reinjecting = outer;
}

static enum hook_result
on_stanza_in(struct event *ev, void *ud)
{
    (void)ud;
    if (ev->from == NULL || ev->to == NULL || strcmp(ev->from->bare, ev->to->bare) == 0)
        return HOOK_PASS; /* a user's resources never block each other */
    if (ev->user == NULL) {
        if (ev->stanza == reinjecting)
            return HOOK_PASS;
        /* The recipient's blocklist is not in memory: load the account first. */
        struct deferred *d = yb_calloc(1, sizeof *d);
        d->st = stanza_ref(ev->stanza);
        user_acquire(ev->to->domain, ev->to->node, deferred_loaded, d);
        return HOOK_HANDLED;
    }
    if (is_blocked(ev->user, ev->from)) {
        reject_inbound(ev->stanza);
        return HOOK_HANDLED;
    }
    /* The sender's side: a blocker's presence (broadcasts, probes, directed
     * presence made by the server) never reaches a JID it blocks. */
    if (strcmp(stanza_name(ev->stanza), "presence") == 0 && ev->from->node != NULL &&
        host_is_local(ev->from->domain)) {
        struct user *sender = user_find(ev->from->bare);
        if (sender != NULL && is_blocked(sender, ev->to))
            return HOOK_HANDLED;
    }
    return HOOK_PASS;
}

static enum hook_result
on_stanza_out(struct event *ev, void *ud)
{
    (void)ud;
    if (ev->to == NULL || ev->user == NULL || ev->session == NULL ||
        strcmp(ev->to->bare, user_bare(ev->user)) == 0 || !is_blocked(ev->user, ev->to))
        return HOOK_PASS;
    /* §3.3: not routed; not-acceptable with <blocked/>, never for an error. */
    if (strcmp(stanza_type_of(ev->stanza), "error") != 0) {
        struct stanza *err = stanza_error_reply(ev->stanza, SE_NOT_ACCEPTABLE, NULL);
        if (err != NULL) {
            struct xml_node *e = stanza_child(err, "error", NULL);
            if (e != NULL)
                node_add_child(e, "blocked", NS_BLOCKING_ERRORS);
            session_send(ev->session, err);
        }
    }
    return HOOK_HANDLED;
}

static int
blocking_load(struct module *m)
{
    int rc = module_preload_map(m, BLOCK_STORE);
    if (rc == 0)
        rc = module_add_feature(m, NS_BLOCKING);
    if (rc == 0)
        rc = module_hook_iq(m, IQ_GET, IQ_TO_BARE, NS_BLOCKING, "blocklist", on_blocklist, m);
    if (rc == 0)
        rc = module_hook_iq(m, IQ_SET, IQ_TO_BARE, NS_BLOCKING, "block", on_block, m);
    if (rc == 0)
        rc = module_hook_iq(m, IQ_SET, IQ_TO_BARE, NS_BLOCKING, "unblock", on_unblock, m);
    if (rc == 0)
        rc = module_hook(m, EV_STANZA_IN, 100, on_stanza_in, m);
    if (rc == 0)
        rc = module_hook(m, EV_STANZA_OUT, 100, on_stanza_out, m);
    return rc;
}

MODULE_DEFINE(blocking, .summary = "XEP-0191: Blocking Command", .xeps = "0191@1.3",
              .notes = "Messages and iq get/set from a blocked JID get service-unavailable, "
                       "its presence is dropped; the user's stanzas to it get not-acceptable "
                       "with <blocked/>. Blocking also makes the blocked contacts appear "
                       "offline to the user's resources; unblocking sends current presence "
                       "and probes. At most 10000 items per account (policy-violation). "
                       "Messages stored offline before a block are still delivered.",
              .load = blocking_load);
