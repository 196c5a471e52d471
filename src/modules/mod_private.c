/* SPDX-License-Identifier: MIT
 *
 * mod_private.c: XEP-0049 Private XML Storage (jabber:iq:private). An account
 * stores and reads back XML fragments keyed by their namespace, for itself only.
 * Each namespace's elements are kept serialised in the key-value store ("private",
 * key = namespace), at most the host's vcard_max_size bytes per namespace.
 * Reserved namespaces (XEP-0049 §2.3: 'jabber:...', 'http://jabber.org/...',
 * 'vcard-temp') are refused.
 */
#include <stdio.h>
#include <string.h>

#include "module_api.h"

#define NS_PRIVATE          "jabber:iq:private"
#define PRIVATE_STORE       "private"
#define PRIVATE_MAX_NS      1023
#define PRIVATE_DEFAULT_MAX 65536

struct private_req {
    struct storage_req req;
    struct iq_request *iq;
    char *domain, *node, *ns;
    struct buf data; /* set: the <query/> to store; get: what was found */
};

static void
private_req_free(struct private_req *pr)
{
    buf_fini(&pr->data);
    yb_free(pr->domain);
    yb_free(pr->node);
    yb_free(pr->ns);
    yb_free(pr);
}

static bool
is_reserved(const char *ns)
{
    return strncmp(ns, "jabber:", 7) == 0 || strncmp(ns, "http://jabber.org/", 18) == 0 ||
           strcmp(ns, "vcard-temp") == 0;
}

static bool
has_stray_text(const struct xml_node *n)
{
    for (const char *t = node_text(n); t && *t; t++)
        if (*t != ' ' && *t != '\t' && *t != '\r' && *t != '\n')
            return true;
    return false;
}

/* Checks the request: the sender's own account, and a <query/> whose children are
 * elements of one namespace that is not reserved. Answers the error itself and
 * returns NULL, or returns that namespace (borrowed from the request). */
static const char *
check_request(struct iq_request *req)
{
    const struct jid *from = iq_request_from(req);
    if (!iq_request_from_self(req) || from == NULL || from->node == NULL) {
        iq_reply_error(req, SE_FORBIDDEN, NULL); /* XEP-0049 §2.3 */
        return NULL;
    }
    struct xml_node *q = iq_request_payload(req);
    struct xml_node *first = node_first_element(q);
    /* §2.3: at least one child with a proper namespace, else not-acceptable. */
    if (first == NULL || first->ns[0] == '\0') {
        iq_reply_error(req, SE_NOT_ACCEPTABLE, "one child element with its own namespace");
        return NULL;
    }
    if (has_stray_text(q)) {
        iq_reply_error(req, SE_BAD_REQUEST, NULL);
        return NULL;
    }
    /* §2.3: one namespace per request (a set may hold several elements of it). */
    for (struct xml_node *c = node_next_element(first); c; c = node_next_element(c)) {
        if (strcmp(c->ns, first->ns) != 0) {
            iq_reply_error(req, SE_BAD_REQUEST, "one namespace per request");
            return NULL;
        }
    }
    if (is_reserved(first->ns)) {
        iq_reply_error(req, SE_NOT_ACCEPTABLE, "reserved namespace");
        return NULL;
    }
    if (strlen(first->ns) > PRIVATE_MAX_NS) {
        iq_reply_error(req, SE_NOT_ACCEPTABLE, "namespace too long");
        return NULL;
    }
    return first->ns;
}

static struct private_req *
private_req_new(struct iq_request *iq, const char *ns)
{
    const struct jid *from = iq_request_from(iq);
    struct private_req *pr = yb_calloc(1, sizeof *pr);
    pr->iq = iq;
    pr->domain = yb_strdup(from->domain);
    pr->node = yb_strdup(from->node);
    pr->ns = yb_strdup(ns);
    buf_init(&pr->data);
    return pr;
}

static void
private_submit(struct private_req *pr)
{
    iq_request_keep(pr->iq);
    if (module_storage_submit(&pr->req) != 0) {
        iq_reply_error(pr->iq, SE_INTERNAL_SERVER_ERROR, NULL);
        private_req_free(pr);
    }
}

/* ---- get ---- */

static int
get_work(struct db *db, struct storage_req *r)
{
    struct private_req *pr = (struct private_req *)r;
    return db_kv_get(db, pr->domain, pr->node, PRIVATE_STORE, pr->ns, &pr->data);
}

static void
get_done(struct storage_req *r)
{
    struct private_req *pr = (struct private_req *)r;
    if (r->status == YB_ENOENT) {
        /* Nothing stored: the query comes back as asked, with the empty element. */
        iq_reply(pr->iq, iq_result_new(pr->iq, iq_request_payload(pr->iq)));
    } else if (r->status != 0) {
        log_error("private", "reading %s of %s@%s failed: %s", pr->ns, pr->node, pr->domain,
                  yb_strerror(r->status));
        iq_reply_error(pr->iq, SE_INTERNAL_SERVER_ERROR, NULL);
    } else {
        struct stanza *q = stanza_parse(pr->data.data, pr->data.len);
        if (q == NULL) {
            log_error("private", "stored %s of %s@%s does not parse", pr->ns, pr->node, pr->domain);
            iq_reply_error(pr->iq, SE_INTERNAL_SERVER_ERROR, NULL);
        } else {
            iq_reply(pr->iq, iq_result_new(pr->iq, stanza_root(q)));
            stanza_unref(q);
        }
    }
    private_req_free(pr);
}

static enum hook_result
on_private_get(struct iq_request *req, void *ud)
{
    (void)ud;
    const char *ns = check_request(req);
    if (ns == NULL)
        return HOOK_HANDLED;
    struct private_req *pr = private_req_new(req, ns);
    pr->req.work = get_work;
    pr->req.done = get_done;
    private_submit(pr);
    return HOOK_HANDLED;
}

/* ---- set ---- */

static int
set_work(struct db *db, struct storage_req *r)
{
    struct private_req *pr = (struct private_req *)r;
    return db_kv_set(db, pr->domain, pr->node, PRIVATE_STORE, pr->ns, pr->data.data, pr->data.len);
}

static void
set_done(struct storage_req *r)
{
    struct private_req *pr = (struct private_req *)r;
    if (r->status == 0) {
        iq_reply_result(pr->iq);
    } else {
        log_error("private", "storing %s of %s@%s failed: %s", pr->ns, pr->node, pr->domain,
                  yb_strerror(r->status));
        iq_reply_error(pr->iq,
                       r->status == YB_EFULL ? SE_RESOURCE_CONSTRAINT : SE_INTERNAL_SERVER_ERROR,
                       NULL);
    }
    private_req_free(pr);
}

static enum hook_result
on_private_set(struct iq_request *req, void *ud)
{
    (void)ud;
    const char *ns = check_request(req);
    if (ns == NULL)
        return HOOK_HANDLED;
    struct private_req *pr = private_req_new(req, ns);
    pr->req.work = set_work;
    pr->req.done = set_done;
    /* The whole <query/> is kept: it holds exactly the elements of this namespace. */
    node_serialize(iq_request_payload(req), "", &pr->data);
    const struct config_host *h = host_config(pr->domain);
    size_t max = h ? h->vcard_max_size : PRIVATE_DEFAULT_MAX;
    if (pr->data.len > max) {
        char text[96];
        snprintf(text, sizeof text, "private data is larger than %zu bytes", max);
        iq_reply_error(req, SE_POLICY_VIOLATION, text); /* RFC 6120 §8.3.3.12 */
        private_req_free(pr);
        return HOOK_HANDLED;
    }
    private_submit(pr);
    return HOOK_HANDLED;
}

static int
private_load(struct module *m)
{
    int rc = module_add_feature(m, NS_PRIVATE);
    if (rc == 0)
        rc = module_hook_iq(m, IQ_GET, IQ_TO_BARE, NS_PRIVATE, "query", on_private_get, NULL);
    if (rc == 0)
        rc = module_hook_iq(m, IQ_SET, IQ_TO_BARE, NS_PRIVATE, "query", on_private_set, NULL);
    return rc;
}

MODULE_DEFINE(private, .summary = "XEP-0049: Private XML Storage", .xeps = "0049@1.2",
              .notes = "Reserved namespaces ('jabber:*', 'http://jabber.org/*', 'vcard-temp') "
                       "get not-acceptable, as does a query without a namespaced child; a "
                       "query mixing namespaces gets bad-request. Each namespace holds at most "
                       "vcard_max_size serialised bytes (policy-violation beyond).",
              .load = private_load);
