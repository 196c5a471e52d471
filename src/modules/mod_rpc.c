/* SPDX-License-Identifier: MIT
 *
 * mod_rpc.c: XEP-0009 Jabber-RPC on each host, for the host's admins only (others
 * get forbidden): the XEP-0133 administration operations as XML-RPC methods, plus
 * system.listMethods. A payload that is not a well-formed <methodCall/> gets
 * bad-request; a well-formed call of an unknown method or with wrong parameters
 * gets an XML-RPC fault (codes in xmlrpc.h). The codec is src/proto/xmlrpc.c.
 */
#include <stdlib.h>
#include <string.h>

#include "module_api.h"
#include "xmlrpc.h"

struct rpc_run;

struct method {
    const char *name;
    const char *signature; /* one letter per parameter: s = string */
    const char *help;
    /* Answers with rpc_result() or rpc_fault(), now or later. */
    void (*fn)(struct rpc_run *r, const struct xmlrpc_value *params);
};

struct rpc_run {
    struct iq_request *req;
    const struct method *m;
    char *domain;
    char *requester;
};

static void
rpc_free(struct rpc_run *r)
{
    yb_free(r->domain);
    yb_free(r->requester);
    yb_free(r);
}

/* Answers with a methodResponse carrying v. Consumes: v. */
static void
rpc_result(struct rpc_run *r, struct xmlrpc_value *v)
{
    struct stanza *res = iq_result_new(r->req, NULL);
    struct xml_node *q = node_add_child(stanza_root(res), "query", NS_RPC);
    xmlrpc_response_to_xml(q, v);
    xmlrpc_value_free(v);
    iq_reply(r->req, res);
    rpc_free(r);
}

static void
rpc_fault(struct rpc_run *r, int32_t code, const char *text)
{
    struct stanza *res = iq_result_new(r->req, NULL);
    struct xml_node *q = node_add_child(stanza_root(res), "query", NS_RPC);
    xmlrpc_fault_to_xml(q, code, text);
    iq_reply(r->req, res);
    rpc_free(r);
}

/* An account of this host named by a parameter. Returns: new jid, or NULL after
 * answering with a fault. */
static struct jid *
param_account(struct rpc_run *r, const struct xmlrpc_value *v, bool full_ok)
{
    struct jid *j = jid_new(v->str);
    if (j == NULL || j->node == NULL || strcmp(j->domain, r->domain) != 0 ||
        (j->resource != NULL && !full_ok)) {
        jid_free(j);
        rpc_fault(r, XMLRPC_FAULT_INVALID_PARAMS, "not an account JID of this host");
        return NULL;
    }
    return j;
}

/* ---- accounts ---- */

static void
account_done(void *ud, int status)
{
    struct rpc_run *r = ud;
    switch (status) {
    case 0:
        log_info("rpc", "%s called %s", r->requester, r->m->name);
        rpc_result(r, xmlrpc_bool_new(true));
        break;
    case YB_EEXIST:
        rpc_fault(r, XMLRPC_FAULT_APPLICATION, "the account already exists");
        break;
    case YB_ENOENT:
        rpc_fault(r, XMLRPC_FAULT_APPLICATION, "no such account");
        break;
    case YB_EINVAL:
        rpc_fault(r, XMLRPC_FAULT_INVALID_PARAMS, "password refused");
        break;
    default:
        rpc_fault(r, XMLRPC_FAULT_INTERNAL, yb_strerror(status));
        break;
    }
}

static bool
password_ok(struct rpc_run *r, const struct xmlrpc_value *pw)
{
    if (pw->len == 0 || strlen(pw->str) != pw->len) {
        rpc_fault(r, XMLRPC_FAULT_INVALID_PARAMS, "the password is empty");
        return false;
    }
    return true;
}

static void
m_add_user(struct rpc_run *r, const struct xmlrpc_value *p)
{
    if (!password_ok(r, p->items[1]))
        return;
    struct jid *j = param_account(r, p->items[0], false);
    if (j != NULL)
        account_create(j->domain, j->node, p->items[1]->str, account_done, r);
    jid_free(j);
}

static void
m_delete_user(struct rpc_run *r, const struct xmlrpc_value *p)
{
    struct jid *j = param_account(r, p->items[0], false);
    if (j != NULL)
        account_delete(j->domain, j->node, account_done, r);
    jid_free(j);
}

static void
m_change_password(struct rpc_run *r, const struct xmlrpc_value *p)
{
    if (!password_ok(r, p->items[1]))
        return;
    struct jid *j = param_account(r, p->items[0], false);
    if (j != NULL)
        account_set_password(j->domain, j->node, p->items[1]->str, account_done, r);
    jid_free(j);
}

static void
count_done(void *ud, int status, long n)
{
    struct rpc_run *r = ud;
    if (status != 0)
        rpc_fault(r, XMLRPC_FAULT_INTERNAL, yb_strerror(status));
    else
        rpc_result(r, xmlrpc_int_new(n > INT32_MAX ? INT32_MAX : (int32_t)n));
}

static void
m_registered_count(struct rpc_run *r, const struct xmlrpc_value *p)
{
    (void)p;
    account_count(r->domain, count_done, r);
}

/* ---- sessions ---- */

struct sessions {
    bool full; /* collect full JIDs (else distinct bare JIDs) */
    const char *match_bare, *match_full;
    struct hashmap seen;
    struct session **found;
    char **jids;
    size_t n, cap;
};

static void
collect(void *ud, struct session *s)
{
    struct sessions *c = ud;
    const struct jid *j = session_jid(s);
    if (c->match_full != NULL && strcmp(j->full, c->match_full) != 0)
        return;
    if (c->match_bare != NULL && strcmp(j->bare, c->match_bare) != 0)
        return;
    const char *key = c->full ? j->full : j->bare;
    if (hashmap_get(&c->seen, key) != NULL)
        return;
    hashmap_set(&c->seen, key, (void *)1);
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 16;
        c->found = yb_realloc(c->found, c->cap * sizeof *c->found);
        c->jids = yb_realloc(c->jids, c->cap * sizeof *c->jids);
    }
    c->found[c->n] = s;
    c->jids[c->n++] = yb_strdup(key);
}

static void
sessions_fini(struct sessions *c)
{
    for (size_t i = 0; i < c->n; i++)
        yb_free(c->jids[i]);
    yb_free(c->jids);
    yb_free(c->found);
    hashmap_fini(&c->seen);
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
list_online(struct rpc_run *r, bool full)
{
    struct sessions c = {.full = full};
    hashmap_init(&c.seen);
    session_foreach(r->domain, collect, &c);
    if (c.n > 1)
        qsort(c.jids, c.n, sizeof *c.jids, cmp_str);
    struct xmlrpc_value *a = xmlrpc_array_new();
    for (size_t i = 0; i < c.n; i++)
        xmlrpc_array_append(a, xmlrpc_string_new(c.jids[i]));
    sessions_fini(&c);
    rpc_result(r, a);
}

static void
m_online_users(struct rpc_run *r, const struct xmlrpc_value *p)
{
    (void)p;
    list_online(r, false);
}

static void
m_online_sessions(struct rpc_run *r, const struct xmlrpc_value *p)
{
    (void)p;
    list_online(r, true);
}

static void
m_kick(struct rpc_run *r, const struct xmlrpc_value *p)
{
    struct jid *j = param_account(r, p->items[0], true);
    if (j == NULL)
        return;
    struct sessions c = {.full = true};
    hashmap_init(&c.seen);
    if (j->resource != NULL)
        c.match_full = j->full;
    else
        c.match_bare = j->bare;
    session_foreach(r->domain, collect, &c);
    jid_free(j);
    log_info("rpc", "%s kicked %zu session(s)", r->requester, c.n);
    /* Answer first: the caller may be kicking itself. */
    rpc_result(r, xmlrpc_int_new((int32_t)c.n));
    for (size_t i = 0; i < c.n; i++)
        session_close_error(c.found[i], STE_POLICY_VIOLATION, "session ended by an administrator");
    sessions_fini(&c);
}

struct announce {
    const char *domain, *body;
    int32_t n;
};

static void
announce_one(void *ud, struct session *s)
{
    struct announce *a = ud;
    struct stanza *m = stanza_new("message", NS_CLIENT);
    char id[17];
    server_random_id(id);
    stanza_set_attr(m, "from", a->domain);
    stanza_set_attr(m, "to", session_jid(s)->full);
    stanza_set_attr(m, "type", "headline");
    stanza_set_attr(m, "id", id);
    node_add_text_child(stanza_root(m), "body", NULL, a->body);
    session_send(s, m);
    a->n++;
}

static void
m_announce(struct rpc_run *r, const struct xmlrpc_value *p)
{
    const struct xmlrpc_value *msg = p->items[0];
    if (msg->len == 0 || strlen(msg->str) != msg->len) {
        rpc_fault(r, XMLRPC_FAULT_INVALID_PARAMS, "the message is empty");
        return;
    }
    struct announce a = {.domain = r->domain, .body = msg->str};
    session_foreach(r->domain, announce_one, &a);
    log_info("rpc", "%s announced to %d session(s)", r->requester, (int)a.n);
    rpc_result(r, xmlrpc_int_new(a.n));
}

static void m_list_methods(struct rpc_run *r, const struct xmlrpc_value *p);
static void m_method_help(struct rpc_run *r, const struct xmlrpc_value *p);

static const struct method methods[] = {
    {"system.listMethods", "", "The names of the methods offered here.", m_list_methods},
    {"system.methodHelp", "s", "A description of a method.", m_method_help},
    {"yerba.addUser", "ss", "addUser(jid, password): creates an account; true.", m_add_user},
    {"yerba.deleteUser", "s", "deleteUser(jid): deletes an account and its data; true.",
     m_delete_user},
    {"yerba.changePassword", "ss", "changePassword(jid, password): sets a password; true.",
     m_change_password},
    {"yerba.registeredUsersCount", "", "The number of accounts on this host.", m_registered_count},
    {"yerba.onlineUsers", "", "The bare JIDs of accounts with a session, sorted.", m_online_users},
    {"yerba.onlineSessions", "", "The full JIDs of the sessions on this host, sorted.",
     m_online_sessions},
    {"yerba.kick", "s",
     "kick(jid): ends the session (full JID) or all sessions (bare JID); the number ended.",
     m_kick},
    {"yerba.announce", "s",
     "announce(message): sends a headline to every session of this host; the number reached.",
     m_announce},
};
#define N_METHODS (sizeof methods / sizeof methods[0])

static const struct method *
method_find(const char *name)
{
    for (size_t i = 0; i < N_METHODS; i++)
        if (strcmp(methods[i].name, name) == 0)
            return &methods[i];
    return NULL;
}

static void
m_list_methods(struct rpc_run *r, const struct xmlrpc_value *p)
{
    (void)p;
    struct xmlrpc_value *a = xmlrpc_array_new();
    for (size_t i = 0; i < N_METHODS; i++)
        xmlrpc_array_append(a, xmlrpc_string_new(methods[i].name));
    rpc_result(r, a);
}

static void
m_method_help(struct rpc_run *r, const struct xmlrpc_value *p)
{
    const struct method *m = method_find(p->items[0]->str);
    if (m == NULL)
        rpc_fault(r, XMLRPC_FAULT_INVALID_PARAMS, "no such method");
    else
        rpc_result(r, xmlrpc_string_new(m->help));
}

/* ---- the iq ---- */

static bool
params_match(const struct method *m, const struct xmlrpc_value *params)
{
    if (params->n_items != strlen(m->signature))
        return false;
    for (size_t i = 0; i < params->n_items; i++)
        if (m->signature[i] == 's' && params->items[i]->type != XMLRPC_STRING)
            return false;
    return true;
}

static enum hook_result
on_rpc(struct iq_request *req, void *ud)
{
    (void)ud;
    const struct jid *from = iq_request_from(req);
    const struct jid *to = iq_request_to(req);
    const char *domain = to != NULL ? to->domain : from->domain;
    /* XEP-0009 §5: a requester without the rights gets forbidden. */
    if (from == NULL || !host_is_admin(domain, from->bare)) {
        iq_reply_error(req, SE_FORBIDDEN, NULL);
        return HOOK_HANDLED;
    }
    struct xml_node *q = iq_request_payload(req);
    struct xml_node *mc = node_first_element(q);
    if (mc == NULL || node_next_element(mc) != NULL) {
        iq_reply_error(req, SE_BAD_REQUEST, "expected one <methodCall/>");
        return HOOK_HANDLED;
    }
    struct xmlrpc_call *call = NULL;
    const char *why = NULL;
    int rc = xmlrpc_call_parse(mc, &call, &why);
    if (rc != 0) {
        iq_reply_error(req, SE_BAD_REQUEST, rc == YB_EINVAL ? why : NULL);
        return HOOK_HANDLED;
    }
    iq_request_keep(req);
    struct rpc_run *r = yb_calloc(1, sizeof *r);
    r->req = req;
    r->domain = yb_strdup(domain);
    r->requester = yb_strdup(from->full);
    r->m = method_find(call->method);
    if (r->m == NULL) {
        struct buf b = BUF_INIT;
        buf_printf(&b, "no such method: %s", call->method);
        rpc_fault(r, XMLRPC_FAULT_NO_METHOD, b.data);
        buf_fini(&b);
    } else if (!params_match(r->m, call->params)) {
        struct buf b = BUF_INIT;
        buf_printf(&b, "%s takes %zu string parameter(s)", r->m->name, strlen(r->m->signature));
        rpc_fault(r, XMLRPC_FAULT_INVALID_PARAMS, b.data);
        buf_fini(&b);
    } else {
        r->m->fn(r, call->params);
    }
    xmlrpc_call_free(call);
    return HOOK_HANDLED;
}

static int
rpc_load(struct module *m)
{
    int rc = module_add_feature(m, NS_RPC);
    if (rc == 0)
        rc = module_add_identity(m, "automation", "rpc", "Jabber-RPC");
    if (rc == 0)
        rc = module_hook_iq(m, IQ_SET, IQ_TO_HOST, NS_RPC, "query", on_rpc, NULL);
    return rc;
}

MODULE_DEFINE(rpc, .summary = "XEP-0009 Jabber-RPC administration for admins", .xeps = "0009@2.2.1",
              .notes = "Admins only; methods: system.listMethods, system.methodHelp, "
                       "yerba.addUser, yerba.deleteUser, yerba.changePassword, "
                       "yerba.registeredUsersCount, yerba.onlineUsers, yerba.onlineSessions, "
                       "yerba.kick, yerba.announce",
              .load = rpc_load);
