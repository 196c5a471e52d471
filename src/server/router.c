/* SPDX-License-Identifier: MIT
 *
 * router.c: where every stanza goes (RFC 6120 §8.1, §10; RFC 6121 §8.5). Stanzas
 * from clients are stamped and checked here; the delivery rules for local
 * domains, bare and full JIDs live only here. Presence and iq handling are handed to
 * the presence module and to iq dispatch. Remote domains get remote-server-not-found
 * until server-to-server links exist.
 */
#include <string.h>

#include "server.h"

static bool
is_error(const struct stanza *st)
{
    return strcmp(stanza_type_of(st), "error") == 0;
}

void
route_error(const struct stanza *orig, enum stanza_error_cond c, const char *text)
{
    if (is_error(orig) || stanza_attr(orig, "from") == NULL)
        return;
    const char *type = stanza_type_of(orig);
    if (strcmp(stanza_name(orig), "iq") == 0 && strcmp(type, "result") == 0)
        return;
    struct stanza *err = stanza_error_reply(orig, c, text);
    if (err == NULL)
        return;
    if (stanza_attr(err, "from") == NULL) {
        /* orig had no 'to': the server answered for the sender's own account
         * (RFC 6120 §10.3), so the error comes from that bare JID. */
        char *bare = jid_bare_of(stanza_attr(err, "to"));
        stanza_set_attr(err, "from", bare);
        yb_free(bare);
    }
    route(err);
}

struct bare_msg {
    struct stanza *st;
};

static void
message_to_user(struct user *u, int status, void *ud)
{
    struct bare_msg *m = ud;
    struct stanza *st = m->st;
    yb_free(m);
    const char *type = stanza_type_of(st);
    if (u == NULL) {
        /* RFC 6121 §8.5.1: no such account. */
        if (status != YB_ENOENT)
            route_error(st, SE_INTERNAL_SERVER_ERROR, NULL);
        else if (strcmp(type, "headline") != 0 && strcmp(type, "groupchat") != 0)
            route_error(st, SE_SERVICE_UNAVAILABLE, NULL);
        stanza_unref(st);
        return;
    }
    route_to_sessions_of(u, st);
}

enum route_action
route_pick(const char *type, const struct route_candidate *c, size_t n, bool *chosen)
{
    for (size_t i = 0; i < n; i++)
        chosen[i] = false;
    if (strcmp(type, "error") == 0)
        return ROUTE_DROP; /* §8.5.2.1.4 */
    if (strcmp(type, "groupchat") == 0)
        return ROUTE_ERROR; /* §8.5.2.1.2 */
    bool headline = strcmp(type, "headline") == 0;
    int best = -1;
    for (size_t i = 0; i < n; i++)
        if (c[i].available && c[i].priority >= 0 && c[i].priority > best)
            best = c[i].priority;
    if (best < 0)
        return headline ? ROUTE_DROP : ROUTE_OFFLINE; /* §8.5.2.2 */
    /* normal and chat: the highest priority (all of them on a tie, §8.5.2.1.1);
     * headline: every non-negative priority (§8.5.2.1.3). */
    for (size_t i = 0; i < n; i++)
        chosen[i] = c[i].available && c[i].priority >= 0 && (headline || c[i].priority == best);
    return ROUTE_DELIVER;
}

void
route_to_sessions_of(struct user *u, struct stanza *st)
{
    struct route_candidate cand[64];
    struct session *sess[64];
    bool chosen[64];
    size_t n = 0;
    for (struct session *s = user_first_session(u); s && n < 64; s = user_next_session(u, s)) {
        cand[n].available = s->available;
        cand[n].priority = s->priority;
        sess[n++] = s;
    }
    switch (route_pick(stanza_type_of(st), cand, n, chosen)) {
    case ROUTE_DELIVER:
        for (size_t i = 0; i < n; i++)
            if (chosen[i])
                session_send(sess[i], stanza_ref(st));
        break;
    case ROUTE_OFFLINE: {
        struct jid *from = jid_new(stanza_attr(st, "from"));
        struct event ev = {.id = EV_MESSAGE_OFFLINE, .user = u, .stanza = st, .from = from};
        if (event_fire(&ev) == HOOK_PASS && stanza_child(st, "body", NULL) != NULL)
            route_error(st, SE_SERVICE_UNAVAILABLE, NULL);
        jid_free(from);
        break;
    }
    case ROUTE_ERROR:
        route_error(st, SE_SERVICE_UNAVAILABLE, NULL);
        break;
    case ROUTE_DROP:
        break;
    }
    stanza_unref(st);
}

struct presence_in {
    struct stanza *st;
    struct jid *from, *to;
};

static void
presence_to_user(struct user *u, int status, void *ud)
{
    (void)status;
    struct presence_in *p = ud;
    if (u != NULL) {
        struct event ev = {.id = EV_PRESENCE_IN,
                           .user = u,
                           .stanza = p->st,
                           .from = p->from,
                           .to = p->to,
                           .session = p->to->resource ? session_find(p->to) : NULL};
        event_fire(&ev);
    }
    /* RFC 6121 §8.5.1: presence for an account that does not exist is ignored. */
    stanza_unref(p->st);
    jid_free(p->from);
    jid_free(p->to);
    yb_free(p);
}

static void
route_local(struct stanza *st, struct jid *to, struct session *origin)
{
    const char *name = stanza_name(st);
    const char *from_s = stanza_attr(st, "from");
    /* From a local session the stanza carries the session's own JID, already
     * prepared: a copy costs less than a second stringprep. */
    struct jid *from = origin != NULL && from_s != NULL && strcmp(from_s, origin->jid->full) == 0
                           ? jid_dup(origin->jid)
                           : jid_new(from_s);
    if (from == NULL) {
        log_warn("router", "dropping a stanza with an invalid 'from'");
        stanza_unref(st);
        jid_free(to);
        return;
    }
    if (to->node == NULL) {
        /* To the server itself. */
        if (strcmp(name, "iq") == 0 && to->resource == NULL)
            iq_dispatch(st, origin, from, to, IQ_TO_HOST, NULL);
        else if (strcmp(name, "message") == 0)
            route_error(st, SE_SERVICE_UNAVAILABLE, NULL);
        else if (strcmp(name, "iq") == 0)
            route_error(st, SE_SERVICE_UNAVAILABLE, NULL);
        stanza_unref(st);
        jid_free(from);
        jid_free(to);
        return;
    }
    /* Filters (e.g. blocking) see every stanza for a local account first. */
    struct event in = {.id = EV_STANZA_IN,
                       .user = user_find_loaded(to->bare),
                       .stanza = st,
                       .from = from,
                       .to = to};
    if (event_fire(&in) == HOOK_HANDLED) {
        stanza_unref(st);
        jid_free(from);
        jid_free(to);
        return;
    }
    struct session *target = to->resource ? session_find(to) : NULL;
    if (strcmp(name, "presence") == 0) {
        struct presence_in *p = yb_calloc(1, sizeof *p);
        p->st = st;
        p->from = from;
        p->to = to;
        user_acquire(to->domain, to->node, presence_to_user, p);
        return;
    }
    if (strcmp(name, "iq") == 0) {
        if (to->resource == NULL) {
            iq_dispatch(st, origin, from, to, IQ_TO_BARE, NULL);
        } else if (target != NULL) {
            session_send(target, stanza_ref(st));
        } else {
            route_error(st, SE_SERVICE_UNAVAILABLE, NULL); /* §8.5.3.2.3 (iq) */
        }
        stanza_unref(st);
    } else if (target != NULL) {
        session_send(target, st); /* §8.5.3.1 */
    } else {
        const char *type = stanza_type_of(st);
        if (to->resource != NULL && strcmp(type, "groupchat") == 0) {
            route_error(st, SE_SERVICE_UNAVAILABLE, NULL); /* §8.5.3.2.1 */
            stanza_unref(st);
        } else {
            struct bare_msg *m = yb_calloc(1, sizeof *m);
            m->st = st;
            user_acquire(to->domain, to->node, message_to_user, m);
        }
    }
    jid_free(from);
    jid_free(to);
}

void
route(struct stanza *st)
{
    srv->stats.stanzas_routed++;
    const char *to_s = stanza_attr(st, "to");
    struct jid *to = to_s ? jid_new(to_s) : NULL;
    if (to == NULL) {
        if (to_s != NULL)
            route_error(st, SE_JID_MALFORMED, NULL);
        stanza_unref(st);
        return;
    }
    if (host_is_local(to->domain)) {
        route_local(st, to, NULL);
        return;
    }
    /* A component's domain (XEP-0114), else another server (s2s.c). */
    if (component_deliver(to->domain, st)) {
        jid_free(to);
        return;
    }
    s2s_route(st, to);
}

void
router_from_session(struct session *s, struct stanza *st)
{
    const char *from = stanza_attr(st, "from");
    if (from != NULL) {
        /* RFC 6120 §8.1.2.1: a client may only name itself. */
        struct jid *f = jid_new(from);
        bool ok = f != NULL && (strcmp(f->full, s->jid->full) == 0 ||
                                (f->resource == NULL && strcmp(f->bare, s->jid->bare) == 0));
        jid_free(f);
        if (!ok) {
            stanza_unref(st);
            c2s_stream_error(s, STE_INVALID_FROM, NULL);
            return;
        }
    }
    if (stanza_is_shared(st)) {
        struct stanza *copy = stanza_copy(st);
        stanza_unref(st);
        st = copy;
    }
    stanza_set_attr(st, "from", s->jid->full);
    const char *name = stanza_name(st);
    const char *to_s = stanza_attr(st, "to");
    struct jid *to = NULL;
    if (to_s != NULL) {
        to = jid_new(to_s);
        if (to == NULL) {
            /* RFC 6120 §8.3.3.8 */
            struct stanza *err = stanza_error_reply(st, SE_JID_MALFORMED, NULL);
            if (!is_error(st) && err != NULL) {
                stanza_set_attr(err, "from", NULL);
                session_send(s, err);
            } else {
                stanza_unref(err);
            }
            stanza_unref(st);
            return;
        }
    }
    srv->stats.stanzas_routed++;
    struct event out = {
        .id = EV_STANZA_OUT, .session = s, .user = s->user, .stanza = st, .from = s->jid, .to = to};
    if (event_fire(&out) == HOOK_HANDLED) {
        stanza_unref(st);
        jid_free(to);
        return;
    }
    if (strcmp(name, "presence") == 0) {
        struct event ev = {.id = EV_PRESENCE_OUT,
                           .session = s,
                           .user = s->user,
                           .stanza = st,
                           .from = s->jid,
                           .to = to};
        if (event_fire(&ev) == HOOK_PASS && to != NULL) {
            srv->stats.stanzas_routed--;
            route(stanza_ref(st));
        }
        stanza_unref(st);
        jid_free(to);
        return;
    }
    if (strcmp(name, "iq") == 0 &&
        (to == NULL || (to->resource == NULL && strcmp(to->bare, s->jid->bare) == 0))) {
        /* RFC 6120 §10.3.3: handled by the server on the account's behalf. */
        iq_dispatch(st, s, s->jid, to, IQ_TO_BARE, s->user);
        stanza_unref(st);
        jid_free(to);
        return;
    }
    if (to == NULL) {
        /* RFC 6120 §10.3.1: a message with no 'to' is for the sender's bare JID. */
        stanza_set_attr(st, "to", s->jid->bare);
        to = jid_new(s->jid->bare);
    }
    if (host_is_local(to->domain)) {
        route_local(st, to, s);
        return;
    }
    jid_free(to);
    srv->stats.stanzas_routed--;
    route(st);
}
