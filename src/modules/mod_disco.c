/* SPDX-License-Identifier: MIT
 *
 * mod_disco.c: XEP-0030 Service Discovery for each served domain and, on their
 * behalf, for accounts' bare JIDs (XEP-0030 §8: only to the account itself and to
 * contacts with a presence subscription from it); XEP-0128/XEP-0157 contact
 * addresses from the host's config; XEP-0115 the server's own capabilities hash in
 * c2s stream features, computed from exactly the disco#info it answers.
 *
 * Other modules extend the host's answers through DISCO_INFO and DISCO_ITEMS (with
 * ev->node for node queries). A node query that no module answered (reply still
 * empty and no handler returned HANDLED) gets item-not-found.
 */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "module_api.h"

#define NS_DISCO_INFO  "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
#define NS_CAPS        "http://jabber.org/protocol/caps"
#define NS_XDATA       "jabber:x:data"
#define NS_SERVERINFO  "http://jabber.org/network/serverinfo"
#define CAPS_NODE      "https://yerba.example/caps"

static struct module *self_module;

/* ---- the host's disco#info ---- */

static void
add_identity(void *ud, const char *category, const char *type, const char *name)
{
    struct xml_node *id = node_add_child(ud, "identity", NS_DISCO_INFO);
    node_set_attr(id, "category", category);
    node_set_attr(id, "type", type);
    if (name != NULL)
        node_set_attr(id, "name", name);
}

static void
add_feature(void *ud, const char *ns)
{
    node_set_attr(node_add_child(ud, "feature", NS_DISCO_INFO), "var", ns);
}

static void
add_field(struct xml_node *x, const char *var, char *const *values, size_t n)
{
    if (n == 0)
        return;
    struct xml_node *f = node_add_child(x, "field", NS_XDATA);
    node_set_attr(f, "var", var);
    /* XEP-0157 §5: the registered fields are list-multi. */
    node_set_attr(f, "type", "list-multi");
    for (size_t i = 0; i < n; i++)
        node_add_text_child(f, "value", NS_XDATA, values[i]);
}

/* XEP-0128 extended information carrying the XEP-0157 contact addresses; only
 * when at least one address is configured. */
static void
add_contact_form(struct xml_node *query, const char *domain)
{
    const struct config_host *h = host_config(domain);
    if (h == NULL || h->n_contact_abuse + h->n_contact_admin + h->n_contact_feedback +
                             h->n_contact_sales + h->n_contact_security + h->n_contact_support ==
                         0)
        return;
    struct xml_node *x = node_add_child(query, "x", NS_XDATA);
    node_set_attr(x, "type", "result");
    struct xml_node *ft = node_add_child(x, "field", NS_XDATA);
    node_set_attr(ft, "var", "FORM_TYPE");
    node_set_attr(ft, "type", "hidden");
    node_add_text_child(ft, "value", NS_XDATA, NS_SERVERINFO);
    add_field(x, "abuse-addresses", h->contact_abuse, h->n_contact_abuse);
    add_field(x, "admin-addresses", h->contact_admin, h->n_contact_admin);
    add_field(x, "feedback-addresses", h->contact_feedback, h->n_contact_feedback);
    add_field(x, "sales-addresses", h->contact_sales, h->n_contact_sales);
    add_field(x, "security-addresses", h->contact_security, h->n_contact_security);
    add_field(x, "support-addresses", h->contact_support, h->n_contact_support);
}

/* Fills query with the host's own information (no node): identities, features,
 * what other modules add, and the contact form. */
static void
build_host_info(struct xml_node *query, const char *domain, struct event *proto)
{
    server_foreach_identity(add_identity, query);
    server_foreach_feature(add_feature, query);
    struct event ev = *proto;
    ev.id = EV_DISCO_INFO;
    ev.reply = query;
    ev.node = NULL;
    event_fire(&ev);
    add_contact_form(query, domain);
}

/* ---- XEP-0115 §5.1 verification string ---- */

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

struct strlist {
    char **v;
    size_t n;
};

static void
strlist_add(struct strlist *l, char *s)
{
    l->v = yb_realloc(l->v, (l->n + 1) * sizeof *l->v);
    l->v[l->n++] = s;
}

static void
strlist_sort_into(struct strlist *l, struct buf *out)
{
    if (l->n > 0)
        qsort(l->v, l->n, sizeof *l->v, cmp_str);
    for (size_t i = 0; i < l->n; i++) {
        buf_puts(out, l->v[i]);
        buf_putc(out, '<');
        yb_free(l->v[i]);
    }
    yb_free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* One extended form's string: FORM_TYPE '<', then each field by var with its
 * sorted values (§5.1 step 6). Returns NULL for a form without FORM_TYPE (§5.4:
 * such forms are ignored). */
static char *
form_string(const struct xml_node *x)
{
    const char *form_type = NULL;
    struct strlist fields = {0};
    for (struct xml_node *f = node_first_element(x); f; f = node_next_element(f)) {
        if (strcmp(f->name, "field") != 0 || node_attr(f, "var") == NULL)
            continue;
        const char *var = node_attr(f, "var");
        if (strcmp(var, "FORM_TYPE") == 0) {
            form_type = node_child_text(f, "value", NS_XDATA);
            continue;
        }
        /* "var\1values<...": \1 (never in a var) makes sorting the whole
         * strings order them by var alone; it becomes '<' when appended. */
        struct buf b = BUF_INIT;
        buf_puts(&b, var);
        buf_putc(&b, '\1');
        struct strlist values = {0};
        for (struct xml_node *v = node_first_element(f); v; v = node_next_element(v))
            if (strcmp(v->name, "value") == 0)
                strlist_add(&values, yb_strdup(node_text(v)));
        strlist_sort_into(&values, &b);
        strlist_add(&fields, yb_strdup(b.data));
        buf_fini(&b);
    }
    if (form_type == NULL) {
        for (size_t i = 0; i < fields.n; i++)
            yb_free(fields.v[i]);
        yb_free(fields.v);
        return NULL;
    }
    struct buf b = BUF_INIT;
    buf_puts(&b, form_type);
    buf_putc(&b, '\1');
    if (fields.n > 0)
        qsort(fields.v, fields.n, sizeof *fields.v, cmp_str);
    for (size_t i = 0; i < fields.n; i++) {
        *strchr(fields.v[i], '\1') = '<';
        buf_puts(&b, fields.v[i]);
        yb_free(fields.v[i]);
    }
    yb_free(fields.v);
    char *s = yb_strdup(b.data);
    buf_fini(&b);
    return s;
}

/* XEP-0115 §5.1: SHA-1 over identities, features and extended forms of the
 * disco#info query, Base64-encoded. out: at least 29 bytes. */
static void
caps_ver(const struct xml_node *query, char out[29])
{
    struct strlist ids = {0}, feats = {0}, forms = {0};
    for (struct xml_node *n = node_first_element(query); n; n = node_next_element(n)) {
        if (strcmp(n->name, "identity") == 0 && strcmp(n->ns, NS_DISCO_INFO) == 0) {
            struct buf b = BUF_INIT;
            const char *lang = node_attr(n, "xml:lang");
            const char *name = node_attr(n, "name");
            buf_printf(&b, "%s/%s/%s/%s", node_attr(n, "category") ? node_attr(n, "category") : "",
                       node_attr(n, "type") ? node_attr(n, "type") : "", lang ? lang : "",
                       name ? name : "");
            strlist_add(&ids, yb_strdup(b.data));
            buf_fini(&b);
        } else if (strcmp(n->name, "feature") == 0 && strcmp(n->ns, NS_DISCO_INFO) == 0) {
            if (node_attr(n, "var") != NULL)
                strlist_add(&feats, yb_strdup(node_attr(n, "var")));
        } else if (strcmp(n->name, "x") == 0 && strcmp(n->ns, NS_XDATA) == 0) {
            char *s = form_string(n);
            if (s != NULL)
                strlist_add(&forms, s);
        }
    }
    struct buf s = BUF_INIT;
    strlist_sort_into(&ids, &s);
    strlist_sort_into(&feats, &s);
    /* Forms are ordered by FORM_TYPE, which starts each form's string up to \1;
     * their '<' separators are already inside. */
    if (forms.n > 0)
        qsort(forms.v, forms.n, sizeof *forms.v, cmp_str);
    for (size_t i = 0; i < forms.n; i++) {
        *strchr(forms.v[i], '\1') = '<';
        buf_puts(&s, forms.v[i]);
        yb_free(forms.v[i]);
    }
    yb_free(forms.v);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    EVP_Digest(s.data ? s.data : "", s.len, md, &md_len, EVP_sha1(), NULL);
    EVP_EncodeBlock((unsigned char *)out, md, (int)md_len);
    buf_fini(&s);
}

/* The ver of a host as a client would compute it from our disco#info. It goes into
 * every client's stream features, and building the disco#info and hashing it costs
 * more than the rest of the features together, so it is kept per host until the
 * configuration changes (modules' features do not change while running). */
struct caps_entry {
    unsigned generation;
    char ver[29];
};
static struct hashmap caps_cache; /* domain -> struct caps_entry */
static bool caps_cache_ready;

static void
host_caps_ver(const char *domain, char out[29])
{
    if (!caps_cache_ready) {
        hashmap_init(&caps_cache);
        caps_cache_ready = true;
    }
    struct caps_entry *e = hashmap_get(&caps_cache, domain);
    if (e != NULL && e->generation == server_config_generation()) {
        memcpy(out, e->ver, sizeof e->ver);
        return;
    }
    struct stanza *q = stanza_new("query", NS_DISCO_INFO);
    struct event proto = {.id = EV_DISCO_INFO};
    build_host_info(stanza_root(q), domain, &proto);
    caps_ver(stanza_root(q), out);
    stanza_unref(q);
    if (e == NULL) {
        e = yb_calloc(1, sizeof *e);
        if (hashmap_set(&caps_cache, domain, e) != 0) {
            yb_free(e);
            return;
        }
    }
    e->generation = server_config_generation();
    memcpy(e->ver, out, sizeof e->ver);
}

static void
disco_unload(struct module *m)
{
    (void)m;
    if (!caps_cache_ready)
        return;
    struct hashmap_iter it;
    void *v;
    hashmap_iter_init(&it, &caps_cache);
    while (hashmap_iter_next(&it, NULL, &v))
        yb_free(v);
    hashmap_fini(&caps_cache);
    caps_cache_ready = false;
}

/* ---- iq handlers: the host ---- */

static const char *
request_domain(const struct iq_request *req)
{
    const struct jid *to = iq_request_to(req);
    return to != NULL ? to->domain : iq_request_from(req)->domain;
}

static struct stanza *
new_reply(struct iq_request *req, const char *ns, const char *node, struct xml_node **query)
{
    struct stanza *res = iq_result_new(req, NULL);
    *query = node_add_child(stanza_root(res), "query", ns);
    if (node != NULL)
        node_set_attr(*query, "node", node); /* XEP-0030 §3.2: mirrored */
    return res;
}

static enum hook_result
on_host_info(struct iq_request *req, void *ud)
{
    (void)ud;
    const char *node = node_attr(iq_request_payload(req), "node");
    const char *domain = request_domain(req);
    struct xml_node *q;
    struct stanza *res = new_reply(req, NS_DISCO_INFO, node, &q);
    struct event proto = {.id = EV_DISCO_INFO,
                          .session = iq_request_session(req),
                          .stanza = iq_request_stanza(req),
                          .from = iq_request_from(req),
                          .to = iq_request_to(req)};
    bool caps_node = false;
    if (node != NULL && strncmp(node, CAPS_NODE "#", strlen(CAPS_NODE) + 1) == 0) {
        /* XEP-0115 §6.2: node#ver is answered with the same information. */
        char ver[29];
        host_caps_ver(domain, ver);
        caps_node = strcmp(node + strlen(CAPS_NODE) + 1, ver) == 0;
    }
    if (node == NULL || caps_node) {
        build_host_info(q, domain, &proto);
        iq_reply(req, res);
        return HOOK_HANDLED;
    }
    proto.reply = q;
    proto.node = node;
    if (event_fire(&proto) == HOOK_PASS && node_first_element(q) == NULL) {
        stanza_unref(res);
        iq_reply_error(req, SE_ITEM_NOT_FOUND, NULL);
        return HOOK_HANDLED;
    }
    iq_reply(req, res);
    return HOOK_HANDLED;
}

static enum hook_result
on_host_items(struct iq_request *req, void *ud)
{
    (void)ud;
    const char *node = node_attr(iq_request_payload(req), "node");
    struct xml_node *q;
    struct stanza *res = new_reply(req, NS_DISCO_ITEMS, node, &q);
    struct event ev = {.id = EV_DISCO_ITEMS,
                       .session = iq_request_session(req),
                       .stanza = iq_request_stanza(req),
                       .from = iq_request_from(req),
                       .to = iq_request_to(req),
                       .reply = q,
                       .node = node};
    enum hook_result r = event_fire(&ev);
    if (node != NULL && r == HOOK_PASS && node_first_element(q) == NULL) {
        stanza_unref(res);
        iq_reply_error(req, SE_ITEM_NOT_FOUND, NULL);
        return HOOK_HANDLED;
    }
    iq_reply(req, res);
    return HOOK_HANDLED;
}

/* ---- iq handlers: an account's bare JID (XEP-0030 §3.1, §4.1, §8) ---- */

/* True when the requester may see the account's presence: the account itself, or
 * a contact with a subscription 'from' or 'both' (RFC 6121 §3). */
static bool
may_see(struct user *u, const struct iq_request *req)
{
    const struct jid *from = iq_request_from(req);
    if (from == NULL)
        return false;
    if (strcmp(from->bare, user_bare(u)) == 0)
        return true;
    struct roster_item *it = roster_find(u, from->bare);
    return it != NULL && (it->sub == SUB_FROM || it->sub == SUB_BOTH);
}

static void
answer_bare(struct iq_request *req, struct user *u)
{
    struct xml_node *payload = iq_request_payload(req);
    bool info = strcmp(payload->ns, NS_DISCO_INFO) == 0;
    const char *node = node_attr(payload, "node");
    bool allowed = u != NULL && may_see(u, req);
    if (info && !allowed) {
        /* §8 rule 1: no account, or not authorised: the same answer. */
        iq_reply_error(req, SE_SERVICE_UNAVAILABLE, NULL);
        return;
    }
    if (!info && !allowed) {
        iq_reply(req, iq_result_new(req, payload)); /* §8 rule 2: empty */
        return;
    }
    if (node != NULL) {
        iq_reply_error(req, SE_ITEM_NOT_FOUND, NULL); /* accounts have no nodes here */
        return;
    }
    struct xml_node *q;
    struct stanza *res = new_reply(req, info ? NS_DISCO_INFO : NS_DISCO_ITEMS, NULL, &q);
    if (info) {
        add_identity(q, "account", "registered", NULL);
        add_feature(q, NS_DISCO_INFO);
        add_feature(q, NS_DISCO_ITEMS);
    } else {
        /* §4.1: the available resources, for those allowed to know. */
        for (struct session *s = user_first_session(u); s; s = user_next_session(u, s)) {
            if (!session_is_available(s))
                continue;
            node_set_attr(node_add_child(q, "item", NS_DISCO_ITEMS), "jid", session_jid(s)->full);
        }
    }
    iq_reply(req, res);
}

static void
on_user_loaded(struct user *u, int status, void *ud)
{
    (void)status;
    answer_bare(ud, u);
}

static enum hook_result
on_bare(struct iq_request *req, void *ud)
{
    (void)ud;
    const struct jid *to = iq_request_to(req);
    const struct jid *target = to != NULL ? to : iq_request_from(req);
    struct user *u = user_find(target->bare);
    if (u != NULL) {
        answer_bare(req, u);
        return HOOK_HANDLED;
    }
    /* Kept first: user_acquire may call back before it returns. */
    iq_request_keep(req);
    user_acquire(target->domain, target->node, on_user_loaded, req);
    return HOOK_HANDLED;
}

/* ---- XEP-0115 in stream features ---- */

static enum hook_result
on_stream_features(struct event *ev, void *ud)
{
    (void)ud;
    const char *domain = ev->session != NULL ? session_domain(ev->session) : "";
    if (domain[0] == '\0' || !host_is_local(domain))
        return HOOK_PASS;
    char ver[29];
    host_caps_ver(domain, ver);
    /* XEP-0115 §6.3: a server may advertise its own caps in stream features. */
    struct xml_node *c = node_add_child(ev->reply, "c", NS_CAPS);
    node_set_attr(c, "hash", "sha-1");
    node_set_attr(c, "node", CAPS_NODE);
    node_set_attr(c, "ver", ver);
    return HOOK_PASS;
}

static int
disco_load(struct module *m)
{
    self_module = m;
    int rc = module_add_identity(m, "server", "im", "Yerba");
    if (rc == 0)
        rc = module_add_feature(m, NS_DISCO_INFO);
    if (rc == 0)
        rc = module_add_feature(m, NS_DISCO_ITEMS);
    if (rc == 0)
        rc = module_hook_iq(m, IQ_GET, IQ_TO_HOST, NS_DISCO_INFO, "query", on_host_info, NULL);
    if (rc == 0)
        rc = module_hook_iq(m, IQ_GET, IQ_TO_HOST, NS_DISCO_ITEMS, "query", on_host_items, NULL);
    if (rc == 0)
        rc = module_hook_iq(m, IQ_GET, IQ_TO_BARE, NS_DISCO_INFO, "query", on_bare, NULL);
    if (rc == 0)
        rc = module_hook_iq(m, IQ_GET, IQ_TO_BARE, NS_DISCO_ITEMS, "query", on_bare, NULL);
    if (rc == 0)
        rc = module_hook(m, EV_STREAM_FEATURES, 0, on_stream_features, NULL);
    return rc;
}

MODULE_DEFINE(disco,
              .summary = "Service discovery for hosts and accounts, contact addresses, the "
                         "server's entity capabilities",
              .xeps = "0030@2.5rc3,0115@1.6.0,0128@1.0.1,0157@1.1.0",
              .notes = "XEP-0115: the server's own caps hash (sha-1) in c2s stream features; "
                       "XEP-0157: contact addresses from each host's contact settings",
              .load = disco_load, .unload = disco_unload);
