/* SPDX-License-Identifier: MIT
 *
 * session.c: the c2s stream object and, once bound, the session (RFC 6120 §7): its
 * registration with the account, resource conflicts, the per-session presence state
 * modules read and write, and directed-presence bookkeeping (RFC 6121 §4.6).
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "server.h"

struct session *
session_new(struct conn *c)
{
    struct session *s = yb_calloc(1, sizeof *s);
    s->id = conn_id(c);
    snprintf(s->who, sizeof s->who, "c2s#%lu", s->id);
    s->conn = c;
    s->refs = 1;
    s->state = C2S_WAIT_HEADER;
    hashmap_init(&s->directed);
    list_init(&s->link);
    list_init(&s->user_link);
    return s;
}

void
session_ref(struct session *s)
{
    s->refs++;
}

void
session_unref(struct session *s)
{
    if (s == NULL || --s->refs > 0)
        return;
    assert(s->conn == NULL);
    for (unsigned i = 0; i < s->n_held; i++)
        stanza_unref(s->held[i]);
    stanza_unref(s->presence);
    jid_free(s->jid);
    yb_free(s->username);
    hashmap_fini(&s->directed);
    yb_free(s->module_data);
    yb_free(s);
}

struct session *
session_find(const struct jid *full)
{
    if (full->resource == NULL)
        return NULL;
    struct user *u = user_find_loaded(full->bare);
    if (u == NULL)
        return NULL;
    for (struct session *s = user_first_session(u); s; s = user_next_session(u, s))
        if (strcmp(s->jid->resource, full->resource) == 0)
            return s;
    return NULL;
}

int
session_bind(struct session *s, struct user *u, const char *resource)
{
    struct jid *j = jid_from_parts(s->username, s->host->domain, resource);
    if (j == NULL)
        return YB_EINVAL;
    struct session *old = session_find(j);
    if (old != NULL) {
        if (s->host->conflict == CONFLICT_REFUSE) {
            jid_free(j);
            return YB_EEXIST;
        }
        /* RFC 6120 §7.7.2.2: the new session wins; the old one ends with conflict. */
        log_info(old->who, "replaced by a new session for %s", j->full);
        c2s_stream_error(old, STE_CONFLICT, "replaced by a new connection");
        session_unbind(old);
    } else if (u->n_sessions >= s->host->max_resources) {
        jid_free(j);
        return YB_ELIMIT;
    }
    s->jid = j;
    s->user = u;
    user_hold(u);
    list_insert_tail(&u->sessions, &s->user_link);
    u->n_sessions++;
    srv->n_sessions++;
    s->started_us = clock_wall_us();
    s->state = C2S_BOUND;
    return 0;
}

void
session_unbind(struct session *s)
{
    struct user *u = s->user;
    if (u == NULL)
        return;
    struct event ev = {.id = EV_SESSION_CLOSED, .session = s, .user = u, .from = s->jid};
    event_fire(&ev);
    list_remove(&s->user_link);
    u->n_sessions--;
    srv->n_sessions--;
    s->user = NULL;
    s->available = false;
    user_release(u);
}

void
session_send(struct session *s, struct stanza *st)
{
    if (s->conn == NULL || s->state == C2S_CLOSING) {
        stanza_unref(st);
        return;
    }
    if (conn_send(s->conn, st) == YB_ELIMIT)
        s->state = C2S_CLOSING; /* net aborts the connection */
}

const struct jid *
session_jid(const struct session *s)
{
    return s->jid;
}

struct user *
session_user(const struct session *s)
{
    return s->user;
}

bool
session_is_available(const struct session *s)
{
    return s->available;
}

int
session_priority(const struct session *s)
{
    return s->priority;
}

bool
session_is_interested(const struct session *s)
{
    return s->interested;
}

void
session_set_interested(struct session *s)
{
    s->interested = true;
}

struct stanza *
session_presence(const struct session *s)
{
    return s->presence;
}

void
session_set_presence(struct session *s, struct stanza *presence, int priority)
{
    stanza_unref(s->presence);
    s->presence = presence;
    s->available = presence != NULL;
    s->priority = priority;
}

void
session_add_directed(struct session *s, const char *jid)
{
    hashmap_set(&s->directed, jid, (void *)1);
}

void
session_remove_directed(struct session *s, const char *jid)
{
    hashmap_remove(&s->directed, jid);
}

void
session_foreach_directed(struct session *s, void (*fn)(void *ud, const char *jid), void *ud)
{
    struct hashmap_iter it;
    const char *key;
    hashmap_iter_init(&it, &s->directed);
    while (hashmap_iter_next(&it, &key, NULL))
        fn(ud, key);
}
