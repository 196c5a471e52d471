/* SPDX-License-Identifier: MIT
 *
 * mod_presence.c: presence (RFC 6121 §3, §4): the subscription state machine for
 * outbound and inbound subscription stanzas (Appendix A), initial presence with
 * probes and broadcast, presence probes answered for local accounts, directed
 * presence, unavailable broadcast when a session ends for any reason, and
 * re-delivery of pending subscription requests at login (§3.1.3).
 */
#include <stdlib.h>
#include <string.h>

#include "module_api.h"

/* A copy of st addressed from/to, routed. Borrowed: st. */
static void
send_copy(const struct stanza *st, const char *from, const char *to)
{
    struct stanza *c = stanza_copy(st);
    stanza_set_attr(c, "from", from);
    stanza_set_attr(c, "to", to);
    route(c);
}

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

/* Delivers st to the account's sessions: available ones, or for subscription
 * stanzas the interested ones (RFC 6121 §3.1.3). Borrowed: st. */
static void
deliver_to_sessions(struct user *u, const struct stanza *st, bool subscription)
{
    for (struct session *s = user_first_session(u); s; s = user_next_session(u, s)) {
        if (!session_is_available(s) && !(subscription && session_is_interested(s)))
            continue;
        struct stanza *c = stanza_copy(st);
        stanza_set_attr(c, "to", session_jid(s)->full);
        session_send(s, c);
    }
}

/* The current presence of each available session of u, sent to contact. */
static void
send_current_presence(struct user *u, const char *contact)
{
    for (struct session *s = user_first_session(u); s; s = user_next_session(u, s))
        if (session_is_available(s) && session_presence(s) != NULL)
            send_copy(session_presence(s), session_jid(s)->full, contact);
}

/* ---- outbound (from a local session) ---- */

static void
broadcast(struct session *origin, struct stanza *st, bool initial)
{
    struct user *u = session_user(origin);
    const char *from = session_jid(origin)->full;
    size_t pos = 0;
    for (struct roster_item *it; (it = roster_next(u, &pos)) != NULL;) {
        if (initial && roster_item_has_to(it))
            send_presence(user_bare(u), it->jid, "probe"); /* §4.2.2 */
        if (roster_item_has_from(it))
            send_copy(st, from, it->jid);
    }
    /* §4.2.2, §4.4.2: the account's own available resources, the sender too. */
    for (struct session *s = user_first_session(u); s; s = user_next_session(u, s)) {
        if (!session_is_available(s) && s != origin)
            continue;
        struct stanza *c = stanza_copy(st);
        stanza_set_attr(c, "from", from);
        stanza_set_attr(c, "to", session_jid(s)->full);
        session_send(s, c);
    }
}

struct directed_ctx {
    const struct stanza *st;
    const char *from;
};

static void
send_unavailable_directed(void *ud, const char *jid)
{
    struct directed_ctx *ctx = ud;
    send_copy(ctx->st, ctx->from, jid);
}

static void
go_unavailable(struct session *s, struct stanza *st)
{
    bool was_available = session_is_available(s);
    session_set_presence(s, NULL, 0);
    if (was_available)
        broadcast(s, st, false);
    /* §4.6.3: everyone who got directed presence learns we left. */
    struct directed_ctx ctx = {st, session_jid(s)->full};
    session_foreach_directed(s, send_unavailable_directed, &ctx);
}

static int
parse_priority(const struct stanza *st)
{
    const char *p = node_child_text(stanza_root(st), "priority", NULL);
    if (p == NULL)
        return 0;
    long v = strtol(p, NULL, 10);
    return v < -128 ? -128 : v > 127 ? 127 : (int)v;
}

static void
outbound_broadcast(struct session *s, struct stanza *st)
{
    const char *type = stanza_type_of(st);
    if (strcmp(type, "unavailable") == 0) {
        go_unavailable(s, st);
        return;
    }
    if (type[0] != '\0')
        return; /* probes, errors or junk without 'to': nothing to do */
    bool initial = !session_is_available(s);
    /* Kept while the session is available: sized to the stanza, not the usual block. */
    struct stanza *copy = stanza_copy_compact(st);
    stanza_set_attr(copy, "to", NULL);
    session_set_presence(s, copy, parse_priority(st));
    broadcast(s, st, initial);
    if (initial) {
        /* §4.2.2: the new resource learns about the account's other resources. */
        struct user *u = session_user(s);
        for (struct session *o = user_first_session(u); o; o = user_next_session(u, o)) {
            if (o == s || !session_is_available(o) || session_presence(o) == NULL)
                continue;
            struct stanza *c = stanza_copy(session_presence(o));
            stanza_set_attr(c, "from", session_jid(o)->full);
            stanza_set_attr(c, "to", session_jid(s)->full);
            session_send(s, c);
        }
        struct event ev = {.id = EV_SESSION_AVAILABLE,
                           .session = s,
                           .user = session_user(s),
                           .from = session_jid(s)};
        event_fire(&ev);
    }
}

/* limits.max_roster_items against subscriptions: a new contact beyond the limit
 * (in_only: in the roster proper, for the user's own subscribe; otherwise every item
 * kept, for requests from others, which are stored until answered) is refused, so
 * neither the user nor a flood of requests from other (remote) JIDs can grow the
 * stored roster without bound. Returns true when refused (the error is sent). */
static bool
roster_full(struct user *u, struct stanza *st, bool in_only, enum stanza_error_cond cond)
{
    size_t max = server_config()->max_roster_items;
    size_t n = max > 0 ? roster_count(u, in_only) : 0;
    if (max == 0 || n < max)
        return false;
    static struct limit_burst refusals;
    uint64_t suppressed = 0;
    stats_bump(in_only ? STAT_REFUSED_ROSTER_ITEMS : STAT_REFUSED_SUBSCRIPTIONS);
    if (limit_burst_log(&refusals, &suppressed))
        log_warn("presence",
                 "%s subscription for %s refused: %zu items (max_roster_items); %llu such "
                 "refusals not logged before",
                 in_only ? "outgoing" : "incoming", user_bare(u), n,
                 (unsigned long long)suppressed);
    route_error(st, cond, "roster size limit reached");
    return true;
}

static void
outbound_subscription(struct session *s, struct stanza *st, const struct jid *to)
{
    struct user *u = session_user(s);
    const char *type = stanza_type_of(st);
    const char *contact = to->bare;
    struct roster_item *it = roster_find(u, contact);
    bool route_it = true;
    if (strcmp(type, "subscribe") == 0) {
        /* Appendix A.2.1 */
        if ((it == NULL || !it->in_roster) && roster_full(u, st, true, SE_NOT_ALLOWED))
            return;
        it = roster_ensure(u, contact);
        bool was_in = it->in_roster;
        if (!roster_item_has_to(it) && (!it->ask || !was_in)) {
            it->ask = true;
            it->in_roster = true;
            roster_commit(u, it, true);
        }
    } else if (strcmp(type, "subscribed") == 0) {
        /* A.2.2; §3.4 pre-approval when nothing is pending. */
        if (it != NULL && it->pending_in) {
            it->pending_in = false;
            yb_free(it->pending_stanza);
            it->pending_stanza = NULL;
            it->sub = it->sub == SUB_TO ? SUB_BOTH : it->sub == SUB_NONE ? SUB_FROM : it->sub;
            it->in_roster = true;
            roster_commit(u, it, true);
        } else if (!roster_item_has_from(it)) {
            it = roster_ensure(u, contact);
            if (it->in_roster && !it->approved) {
                it->approved = true;
                roster_commit(u, it, true);
            } else if (!it->in_roster) {
                roster_commit(u, it, false); /* nothing to remember: drops the empty item */
            }
            route_it = false;
        } else {
            route_it = false;
        }
    } else if (strcmp(type, "unsubscribe") == 0) {
        /* A.2.3 */
        if (it != NULL && (roster_item_has_to(it) || it->ask)) {
            it->sub = it->sub == SUB_BOTH ? SUB_FROM : it->sub == SUB_TO ? SUB_NONE : it->sub;
            it->ask = false;
            roster_commit(u, it, it->in_roster);
        }
    } else {
        /* unsubscribed, A.2.4: cancels or denies the contact's subscription. */
        if (it != NULL && (roster_item_has_from(it) || it->pending_in || it->approved)) {
            bool had_from = roster_item_has_from(it);
            it->sub = it->sub == SUB_BOTH ? SUB_TO : it->sub == SUB_FROM ? SUB_NONE : it->sub;
            it->pending_in = false;
            it->approved = false;
            yb_free(it->pending_stanza);
            it->pending_stanza = NULL;
            if (had_from) {
                /* §3.2.2: the contact sees us go offline. */
                for (struct session *ss = user_first_session(u); ss; ss = user_next_session(u, ss))
                    if (session_is_available(ss))
                        send_presence(session_jid(ss)->full, contact, "unavailable");
            }
            roster_commit(u, it, it->in_roster);
        }
    }
    if (!route_it)
        return;
    /* §3.1.2: stamped with the bare JID, addressed to the contact's bare JID. */
    struct stanza *out = stanza_copy(st);
    stanza_set_attr(out, "from", user_bare(u));
    stanza_set_attr(out, "to", contact);
    route(out);
    if (strcmp(type, "subscribed") == 0)
        send_current_presence(u, contact); /* §3.1.5 */
}

static enum hook_result
on_presence_out(struct event *ev, void *ud)
{
    (void)ud;
    struct stanza *st = ev->stanza;
    const char *type = stanza_type_of(st);
    if (strcmp(type, "subscribe") == 0 || strcmp(type, "subscribed") == 0 ||
        strcmp(type, "unsubscribe") == 0 || strcmp(type, "unsubscribed") == 0) {
        if (ev->to != NULL) /* without 'to' there is nobody to subscribe to */
            outbound_subscription(ev->session, st, ev->to);
        return HOOK_HANDLED;
    }
    if (ev->to == NULL) {
        outbound_broadcast(ev->session, st);
        return HOOK_HANDLED;
    }
    if (strcmp(type, "probe") == 0)
        return HOOK_HANDLED; /* the server probes on the client's behalf */
    /* Directed presence (§4.6). */
    struct roster_item *it = roster_find(ev->user, ev->to->bare);
    if (type[0] == '\0' && !roster_item_has_from(it))
        session_add_directed(ev->session, ev->to->full);
    else if (strcmp(type, "unavailable") == 0)
        session_remove_directed(ev->session, ev->to->full);
    return HOOK_PASS; /* the router delivers it */
}

/* ---- inbound (to a local account) ---- */

static void
inbound_subscription(struct user *u, struct stanza *st, const struct jid *from)
{
    const char *type = stanza_type_of(st);
    const char *contact = from->bare;
    struct roster_item *it = roster_find(u, contact);
    if (strcmp(type, "subscribe") == 0) {
        /* Appendix A.3.1 */
        if (roster_item_has_from(it)) {
            send_presence(user_bare(u), contact, "subscribed"); /* §3.1.3 auto-reply */
            return;
        }
        if (it != NULL && it->approved) {
            it->approved = false;
            it->sub = it->sub == SUB_TO ? SUB_BOTH : SUB_FROM;
            roster_commit(u, it, true);
            send_presence(user_bare(u), contact, "subscribed");
            send_current_presence(u, contact);
            return;
        }
        if (it == NULL && roster_full(u, st, false, SE_RESOURCE_CONSTRAINT))
            return;
        it = roster_ensure(u, contact);
        it->pending_in = true;
        struct stanza *stored = stanza_copy(st);
        stanza_set_attr(stored, "to", user_bare(u));
        stanza_set_attr(stored, "from", contact);
        yb_free(it->pending_stanza);
        it->pending_stanza = stanza_to_string(stored);
        stanza_unref(stored);
        roster_commit(u, it, false);
        deliver_to_sessions(u, st, true);
    } else if (strcmp(type, "subscribed") == 0) {
        /* A.3.2 */
        if (it == NULL || !it->ask)
            return;
        it->ask = false;
        it->sub = it->sub == SUB_FROM ? SUB_BOTH : it->sub == SUB_NONE ? SUB_TO : it->sub;
        roster_commit(u, it, true);
        deliver_to_sessions(u, st, true);
    } else if (strcmp(type, "unsubscribe") == 0) {
        /* A.3.3 */
        if (it == NULL || (!roster_item_has_from(it) && !it->pending_in))
            return;
        bool changed = roster_item_has_from(it);
        it->sub = it->sub == SUB_BOTH ? SUB_TO : it->sub == SUB_FROM ? SUB_NONE : it->sub;
        it->pending_in = false;
        yb_free(it->pending_stanza);
        it->pending_stanza = NULL;
        roster_commit(u, it, changed && it->in_roster);
        deliver_to_sessions(u, st, true);
    } else {
        /* unsubscribed, A.3.4 */
        if (it == NULL || (!roster_item_has_to(it) && !it->ask))
            return;
        it->sub = it->sub == SUB_BOTH ? SUB_FROM : it->sub == SUB_TO ? SUB_NONE : it->sub;
        it->ask = false;
        roster_commit(u, it, it->in_roster);
        deliver_to_sessions(u, st, true);
    }
}

static void
inbound_probe(struct user *u, const struct jid *from)
{
    struct roster_item *it = roster_find(u, from->bare);
    if (!roster_item_has_from(it)) {
        /* Not subscribed: reveal nothing, and say so (§4.3.2). */
        send_presence(user_bare(u), from->bare, "unsubscribed");
        return;
    }
    if (user_has_available(u))
        send_current_presence(u, from->full);
    else
        send_presence(user_bare(u), from->full, "unavailable");
}

static enum hook_result
on_presence_in(struct event *ev, void *ud)
{
    (void)ud;
    struct stanza *st = ev->stanza;
    const char *type = stanza_type_of(st);
    if (strcmp(type, "subscribe") == 0 || strcmp(type, "subscribed") == 0 ||
        strcmp(type, "unsubscribe") == 0 || strcmp(type, "unsubscribed") == 0) {
        inbound_subscription(ev->user, st, ev->from);
        return HOOK_HANDLED;
    }
    if (strcmp(type, "probe") == 0) {
        inbound_probe(ev->user, ev->from);
        return HOOK_HANDLED;
    }
    if (ev->to->resource != NULL) {
        /* §8.5.3: to a connected resource, or silently dropped. */
        if (ev->session != NULL)
            session_send(ev->session, stanza_ref(st));
        return HOOK_HANDLED;
    }
    if (strcmp(type, "error") != 0)
        deliver_to_sessions(ev->user, st, false); /* §8.5.2.1 presence */
    return HOOK_HANDLED;
}

/* ---- session lifecycle ---- */

static enum hook_result
on_session_available(struct event *ev, void *ud)
{
    (void)ud;
    /* §3.1.3: subscription requests received while offline are delivered now. */
    size_t pos = 0;
    for (struct roster_item *it; (it = roster_next(ev->user, &pos)) != NULL;) {
        if (!it->pending_in || it->pending_stanza == NULL)
            continue;
        struct stanza *p = stanza_parse(it->pending_stanza, strlen(it->pending_stanza));
        if (p != NULL) {
            stanza_set_attr(p, "to", session_jid(ev->session)->full);
            session_send(ev->session, p);
        }
    }
    return HOOK_PASS;
}

static enum hook_result
on_session_closed(struct event *ev, void *ud)
{
    (void)ud;
    /* §4.5.2: whatever the reason, contacts see the session go. */
    struct stanza *p = stanza_new("presence", NS_CLIENT);
    stanza_set_attr(p, "type", "unavailable");
    stanza_set_attr(p, "from", session_jid(ev->session)->full);
    go_unavailable(ev->session, p);
    stanza_unref(p);
    return HOOK_PASS;
}

static int
presence_load(struct module *m)
{
    int rc = module_hook(m, EV_PRESENCE_OUT, 0, on_presence_out, NULL);
    if (rc == 0)
        rc = module_hook(m, EV_PRESENCE_IN, 0, on_presence_in, NULL);
    if (rc == 0)
        rc = module_hook(m, EV_SESSION_AVAILABLE, 10, on_session_available, NULL);
    if (rc == 0)
        rc = module_hook(m, EV_SESSION_CLOSED, 0, on_session_closed, NULL);
    return rc;
}

MODULE_DEFINE(presence, .summary = "RFC 6121 presence and subscriptions", .xeps = "",
              .load = presence_load);
