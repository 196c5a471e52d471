/* SPDX-License-Identifier: MIT
 *
 * mod_roster.c: roster management (RFC 6121 §2): roster get with versioning
 * (§2.6), roster set and remove with pushes to every interested resource. Removing
 * an item cancels the subscriptions in both directions (§2.5.2). The subscription
 * state machine itself is mod_presence.c's.
 */
#include <string.h>

#include "module_api.h"

#define MAX_NAME_LEN  1024
#define MAX_GROUP_LEN 1024

static enum hook_result
on_roster_get(struct iq_request *req, void *ud)
{
    (void)ud;
    struct session *s = iq_request_session(req);
    if (!iq_request_from_self(req) || s == NULL) {
        iq_reply_error(req, SE_FORBIDDEN, NULL);
        return HOOK_HANDLED;
    }
    struct user *u = session_user(s);
    session_set_interested(s);
    const char *ver = node_attr(iq_request_payload(req), "ver");
    if (ver != NULL && ver[0] != '\0' && strcmp(ver, roster_version(u)) == 0) {
        /* RFC 6121 §2.6.3: unchanged; the client keeps its copy. */
        iq_reply_result(req);
        return HOOK_HANDLED;
    }
    struct stanza *res = iq_result_new(req, NULL);
    struct xml_node *q = node_add_child(stanza_root(res), "query", NS_ROSTER);
    node_set_attr(q, "ver", roster_version(u));
    size_t pos = 0;
    for (struct roster_item *it; (it = roster_next(u, &pos)) != NULL;)
        if (it->in_roster)
            roster_item_to_xml(it, q, false);
    iq_reply(req, res);
    return HOOK_HANDLED;
}

static void
send_subscription(struct user *u, const char *contact, const char *type)
{
    struct stanza *p = stanza_new("presence", NS_CLIENT);
    stanza_set_attr(p, "from", user_bare(u));
    stanza_set_attr(p, "to", contact);
    stanza_set_attr(p, "type", type);
    route(p);
}

/* RFC 6121 §2.5.2: removal cancels both subscriptions and forgets the contact. */
static void
remove_item(struct iq_request *req, struct user *u, const char *contact)
{
    struct roster_item *it = roster_find(u, contact);
    if (it == NULL || !it->in_roster) {
        iq_reply_error(req, SE_ITEM_NOT_FOUND, NULL); /* §2.5.3 */
        return;
    }
    bool had_to = it->sub == SUB_TO || it->sub == SUB_BOTH || it->ask;
    bool was_subscribed = it->sub == SUB_FROM || it->sub == SUB_BOTH;
    bool had_from = was_subscribed || it->pending_in;
    it->in_roster = false;
    it->pending_in = false;
    it->sub = SUB_NONE;
    it->ask = false;
    it->approved = false;
    iq_reply_result(req);
    char *jid = yb_strdup(contact);
    roster_commit(u, it, true);
    if (had_to)
        send_subscription(u, jid, "unsubscribe");
    if (had_from)
        send_subscription(u, jid, "unsubscribed");
    /* RFC 6121 §3.2.2: a contact whose subscription ends sees us go offline. */
    for (struct session *s = user_first_session(u); was_subscribed && s;
         s = user_next_session(u, s)) {
        if (!session_is_available(s))
            continue;
        struct stanza *p = stanza_new("presence", NS_CLIENT);
        stanza_set_attr(p, "from", session_jid(s)->full);
        stanza_set_attr(p, "to", jid);
        stanza_set_attr(p, "type", "unavailable");
        route(p);
    }
    yb_free(jid);
}

static enum hook_result
on_roster_set(struct iq_request *req, void *ud)
{
    (void)ud;
    struct session *s = iq_request_session(req);
    if (!iq_request_from_self(req) || s == NULL) {
        iq_reply_error(req, SE_FORBIDDEN, NULL); /* §2.3.3 */
        return HOOK_HANDLED;
    }
    struct user *u = session_user(s);
    struct xml_node *q = iq_request_payload(req);
    struct xml_node *item = node_first_element(q);
    /* §2.3.3: exactly one item with a jid. */
    if (item == NULL || strcmp(item->name, "item") != 0 || node_next_element(item) != NULL) {
        iq_reply_error(req, SE_BAD_REQUEST, NULL);
        return HOOK_HANDLED;
    }
    const char *jid_s = node_attr(item, "jid");
    struct jid *j = jid_s ? jid_new(jid_s) : NULL;
    if (j == NULL) {
        iq_reply_error(req, jid_s ? SE_JID_MALFORMED : SE_BAD_REQUEST, NULL);
        return HOOK_HANDLED;
    }
    const char *contact = j->bare;
    const char *sub = node_attr(item, "subscription");
    if (sub != NULL && strcmp(sub, "remove") == 0) {
        remove_item(req, u, contact);
        jid_free(j);
        return HOOK_HANDLED;
    }
    const char *name = node_attr(item, "name");
    if (name != NULL && strlen(name) > MAX_NAME_LEN) {
        iq_reply_error(req, SE_NOT_ACCEPTABLE, NULL);
        jid_free(j);
        return HOOK_HANDLED;
    }
    /* Groups: no empty names, no duplicates (§2.3.3). */
    size_t n_groups = 0;
    for (struct xml_node *g = node_first_element(item); g; g = node_next_element(g)) {
        if (strcmp(g->name, "group") != 0)
            continue;
        const char *gn = node_text(g);
        if (gn[0] == '\0' || strlen(gn) > MAX_GROUP_LEN) {
            iq_reply_error(req, SE_NOT_ACCEPTABLE, NULL);
            jid_free(j);
            return HOOK_HANDLED;
        }
        for (struct xml_node *h = node_first_element(item); h != g; h = node_next_element(h)) {
            if (strcmp(h->name, "group") == 0 && strcmp(node_text(h), gn) == 0) {
                iq_reply_error(req, SE_BAD_REQUEST, NULL);
                jid_free(j);
                return HOOK_HANDLED;
            }
        }
        n_groups++;
    }
    /* limits.max_roster_items: a new contact beyond it is refused (RFC 6121 §2.3.3
     * not-allowed); updating a contact already there is always allowed. */
    size_t max_items = server_config()->max_roster_items;
    struct roster_item *old = roster_find(u, contact);
    if (max_items > 0 && (old == NULL || !old->in_roster)) {
        size_t n = roster_count(u, true);
        if (n >= max_items) {
            static struct limit_burst refusals;
            uint64_t suppressed = 0;
            stats_bump(STAT_REFUSED_ROSTER_ITEMS);
            if (limit_burst_log(&refusals, &suppressed))
                log_warn("roster",
                         "roster set by %s refused: %zu items (max_roster_items); %llu such "
                         "refusals not logged before",
                         user_bare(u), n, (unsigned long long)suppressed);
            iq_reply_error(req, SE_NOT_ALLOWED, "roster size limit reached");
            jid_free(j);
            return HOOK_HANDLED;
        }
    }
    struct roster_item *it = roster_ensure(u, contact);
    it->in_roster = true;
    yb_free(it->name);
    it->name = name && name[0] ? yb_strdup(name) : NULL;
    for (size_t i = 0; i < it->n_groups; i++)
        yb_free(it->groups[i]);
    yb_free(it->groups);
    it->groups = n_groups ? yb_calloc(n_groups, sizeof *it->groups) : NULL;
    it->n_groups = 0;
    for (struct xml_node *g = node_first_element(item); g; g = node_next_element(g))
        if (strcmp(g->name, "group") == 0)
            it->groups[it->n_groups++] = yb_strdup(node_text(g));
    /* The client's subscription and ask attributes are ignored (§2.1.2). */
    iq_reply_result(req);
    roster_commit(u, it, true);
    jid_free(j);
    return HOOK_HANDLED;
}

static int
roster_load(struct module *m)
{
    int rc = module_hook_iq(m, IQ_GET, IQ_TO_BARE, NS_ROSTER, "query", on_roster_get, NULL);
    if (rc == 0)
        rc = module_hook_iq(m, IQ_SET, IQ_TO_BARE, NS_ROSTER, "query", on_roster_set, NULL);
    if (rc == 0)
        rc = module_add_feature(m, "jabber:iq:roster");
    return rc;
}

MODULE_DEFINE(roster, .summary = "RFC 6121 roster management with versioning", .xeps = "",
              .load = roster_load);
