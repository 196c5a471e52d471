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

static const char *
stanza_type(const struct stanza *st)
{
    const char *t = stanza_attr(st, "type");
    return t ? t : "";
}

static bool
is_error(const struct stanza *st)
{
    return strcmp(stanza_type(st), "error") == 0;
}

void
route_error(const struct stanza *orig, enum stanza_error_cond c, const char *text)
{
    if (is_error(orig) || stanza_attr(orig, "from") == NULL)
        return;
    const char *type = stanza_type(orig);
    if (strcmp(stanza_name(orig), "iq") == 0 && strcmp(type, "result") == 0)
        return;
    struct stanza *err = stanza_error_reply(orig, c, text);
    if (err != NULL)
        route(err);
}

/* RFC 6121 §8.5.2.1: message to a bare JID with at least one available resource. */
static bool
deliver_to_best(struct user *u, struct stanza *st, bool all_nonnegative)
{
    int best = -1;
    for (struct session *s = user_first_session(u); s; s = user_next_session(u, s))
        if (s->available && s->priority >= 0 && s->priority > best)
            best = s->priority;
    if (best < 0)
        return false;
    for (struct session *s = user_first_session(u); s; s = user_next_session(u, s))
        if (s->available && s->priority >= 0 && (all_nonnegative || s->priority == best))
            session_send(s, stanza_ref(st));
    return true;
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
    const char *type = stanza_type(st);
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

void
route_to_sessions_of(struct user *u, struct stanza *st)
{
    const char *type = stanza_type(st);
    if (strcmp(type, "error") == 0) {
        /* §8.5.2.1.4: silently ignored. */
    } else if (strcmp(type, "groupchat") == 0) {
        route_error(st, SE_SERVICE_UNAVAILABLE, NULL); /* §8.5.2.1.2 */
    } else if (strcmp(type, "headline") == 0) {
        deliver_to_best(u, st, true); /* §8.5.2.1.3; dropped when nobody is there */
    } else if (!deliver_to_best(u, st, false)) {
        /* normal and chat with no available resource: §8.5.2.2.1, offline storage. */
        struct jid *from = jid_new(stanza_attr(st, "from"));
        struct event ev = {.id = EV_MESSAGE_OFFLINE, .user = u, .stanza = st, .from = from};
        if (event_fire(&ev) == HOOK_PASS && stanza_child(st, "body", NULL) != NULL)
            route_error(st, SE_SERVICE_UNAVAILABLE, NULL);
        jid_free(from);
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
    struct jid *from = jid_new(stanza_attr(st, "from"));
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
        const char *type = stanza_type(st);
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
    /* No server-to-server links yet. */
    log_debug("router", "no route to %s", to->domain);
    route_error(st, SE_REMOTE_SERVER_NOT_FOUND, NULL);
    stanza_unref(st);
    jid_free(to);
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
    if (strcmp(name, "iq") == 0 && (to == NULL || (to->resource == NULL &&
                                                   strcmp(to->bare, s->jid->bare) == 0))) {
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
