/* SPDX-License-Identifier: MIT
 *
 * iq.c: iq dispatch (RFC 6120 §8.2.3, §10.3.3): handlers keyed by (type, target,
 * namespace, element). An unhandled get/set gets service-unavailable; a result or
 * error addressed to the server or to a bare JID is dropped. This is the only place
 * these rules live.
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "server.h"

struct iq_handler {
    struct module *module;
    iq_fn fn;
    void *ud;
};

struct iq_request {
    struct stanza *st;
    struct xml_node *payload;
    struct session *origin;
    struct jid *from;
    struct jid *to;
    bool from_self;
    bool kept;
    bool answered;
    bool in_dispatch; /* the handler is running: iq_dispatch frees the request */
};

static void
handler_key(char *out, size_t size, enum iq_type t, enum iq_target target, const char *ns,
            const char *name)
{
    static const char *const targets[] = {"host", "bare", "preauth"};
    snprintf(out, size, "%s|%s|%s|%s", t == IQ_GET ? "get" : "set", targets[target], ns, name);
}

bool
iq_has_preauth_handler(const struct stanza *st)
{
    const char *type = stanza_attr(st, "type");
    struct xml_node *payload = node_first_element(stanza_root(st));
    if (type == NULL || payload == NULL)
        return false;
    bool is_get = strcmp(type, "get") == 0;
    if (!is_get && strcmp(type, "set") != 0)
        return false;
    char key[512];
    handler_key(key, sizeof key, is_get ? IQ_GET : IQ_SET, IQ_PREAUTH, payload->ns, payload->name);
    return hashmap_get(&srv->iq_handlers, key) != NULL;
}

/* An error for st: routed, or, on a stream that is not authenticated yet, sent back
 * on it without addresses. */
static void
dispatch_error(struct stanza *st, struct session *origin, enum iq_target target,
               enum stanza_error_cond c)
{
    if (target != IQ_PREAUTH) {
        route_error(st, c, NULL);
        return;
    }
    struct stanza *err = stanza_error_reply(st, c, NULL);
    stanza_set_attr(err, "to", NULL);
    stanza_set_attr(err, "from", NULL);
    session_send(origin, err);
}

int
iq__register(struct module *m, enum iq_type t, enum iq_target target, const char *ns,
             const char *name, iq_fn fn, void *ud, char **key_out)
{
    char key[512];
    handler_key(key, sizeof key, t, target, ns, name);
    if (hashmap_get(&srv->iq_handlers, key) != NULL)
        return YB_EEXIST;
    struct iq_handler *h = yb_calloc(1, sizeof *h);
    h->module = m;
    h->fn = fn;
    h->ud = ud;
    hashmap_set(&srv->iq_handlers, key, h);
    *key_out = yb_strdup(key);
    return 0;
}

void
iq__unregister(const char *key)
{
    yb_free(hashmap_remove(&srv->iq_handlers, key));
}

void
iq_table_fini(void)
{
    struct hashmap_iter it;
    void *v;
    hashmap_iter_init(&it, &srv->iq_handlers);
    while (hashmap_iter_next(&it, NULL, &v))
        yb_free(v);
    hashmap_fini(&srv->iq_handlers);
}

static void
request_free(struct iq_request *req)
{
    stanza_unref(req->st);
    jid_free(req->from);
    jid_free(req->to);
    if (req->origin != NULL)
        session_unref(req->origin);
    yb_free(req);
}

void
iq_dispatch(struct stanza *st, struct session *origin, const struct jid *from, const struct jid *to,
            enum iq_target target, struct user *target_user)
{
    (void)target_user;
    const char *type = stanza_attr(st, "type");
    if (type == NULL) {
        dispatch_error(st, origin, target, SE_BAD_REQUEST);
        return;
    }
    bool is_get = strcmp(type, "get") == 0;
    if (!is_get && strcmp(type, "set") != 0) {
        if (strcmp(type, "result") != 0 && strcmp(type, "error") != 0)
            dispatch_error(st, origin, target, SE_BAD_REQUEST);
        return; /* results and errors to us are dropped */
    }
    /* RFC 6120 §8.2.3: exactly one payload element. */
    struct xml_node *payload = node_first_element(stanza_root(st));
    if (payload == NULL || node_next_element(payload) != NULL) {
        dispatch_error(st, origin, target, SE_BAD_REQUEST);
        return;
    }
    char key[512];
    handler_key(key, sizeof key, is_get ? IQ_GET : IQ_SET, target, payload->ns, payload->name);
    struct iq_handler *h = hashmap_get(&srv->iq_handlers, key);
    if (h == NULL) {
        dispatch_error(st, origin, target, SE_SERVICE_UNAVAILABLE);
        return;
    }
    struct iq_request *req = yb_calloc(1, sizeof *req);
    req->st = stanza_ref(st);
    req->payload = payload;
    req->origin = origin;
    if (origin != NULL)
        session_ref(origin);
    req->from = from ? jid_dup(from) : NULL;
    req->to = to ? jid_dup(to) : NULL;
    req->from_self =
        from != NULL && (to == NULL || (to->node != NULL && strcmp(to->bare, from->bare) == 0));
    req->in_dispatch = true;
    enum hook_result r = h->fn(req, h->ud);
    req->in_dispatch = false;
    if (req->answered) {
        request_free(req);
    } else if (req->kept) {
        return; /* answered later; that frees it */
    } else if (r == HOOK_PASS) {
        iq_reply_error(req, SE_SERVICE_UNAVAILABLE, NULL);
    } else {
        log_error("iq", "handler for %s neither answered nor kept the request", key);
        iq_reply_error(req, SE_INTERNAL_SERVER_ERROR, NULL);
    }
}

struct stanza *
iq_request_stanza(const struct iq_request *req)
{
    return req->st;
}

struct xml_node *
iq_request_payload(const struct iq_request *req)
{
    return req->payload;
}

const struct jid *
iq_request_from(const struct iq_request *req)
{
    return req->from;
}

const struct jid *
iq_request_to(const struct iq_request *req)
{
    return req->to;
}

struct session *
iq_request_session(const struct iq_request *req)
{
    return req->origin;
}

bool
iq_request_from_self(const struct iq_request *req)
{
    return req->from_self;
}

void
iq_request_keep(struct iq_request *req)
{
    req->kept = true;
}

struct stanza *
iq_result_new(const struct iq_request *req, const struct xml_node *payload)
{
    struct stanza *r = stanza_new("iq", NS_CLIENT);
    stanza_set_attr(r, "type", "result");
    stanza_set_attr(r, "id", stanza_attr(req->st, "id"));
    if (payload != NULL)
        node_append_copy(stanza_root(r), payload);
    return r;
}

/* Sends the answer: back to the local session directly when there is one (an iq
 * without 'to' is answered without 'from', RFC 6120 §8.1.2.1), else routed. */
void
iq_reply(struct iq_request *req, struct stanza *reply)
{
    assert(!req->answered);
    req->answered = true;
    stanza_set_attr(reply, "to", req->from ? req->from->full : NULL);
    if (req->to != NULL)
        stanza_set_attr(reply, "from", req->to->full);
    else
        stanza_set_attr(reply, "from", NULL);
    if (req->origin != NULL)
        session_send(req->origin, reply);
    else
        route(reply);
    if (!req->in_dispatch)
        request_free(req);
}

void
iq_reply_result(struct iq_request *req)
{
    iq_reply(req, iq_result_new(req, NULL));
}

void
iq_reply_error(struct iq_request *req, enum stanza_error_cond c, const char *text)
{
    struct stanza *err = stanza_error_reply(req->st, c, text);
    iq_reply(req, err);
}
