/* SPDX-License-Identifier: MIT
 *
 * mod_vcard.c: XEP-0054 vcard-temp. An account stores its vCard (get/set with no
 * 'to' or to its own bare JID); anyone may read another account's vCard at its bare
 * JID, answered by the server (RFC 6120 §10.3.3). The vCard is kept serialised in
 * the key-value store ("vcard", key ""), at most the host's vcard_max_size bytes.
 * Avatars inside the vCard are stored as they come; XEP-0153 hashes are not derived.
 */
#include <stdio.h>
#include <string.h>

#include "module_api.h"

#define NS_VCARD          "vcard-temp"
#define VCARD_STORE       "vcard"
#define VCARD_DEFAULT_MAX 65536

struct vcard_req {
    struct storage_req req;
    struct iq_request *iq;
    char *domain, *node;
    bool is_self;    /* get: the owner asks (no vCard -> empty result) */
    bool no_account; /* get: the target account does not exist */
    struct buf data; /* set: the vCard to store (empty: delete); get: what was found */
};

static void
vcard_req_free(struct vcard_req *vr)
{
    buf_fini(&vr->data);
    yb_free(vr->domain);
    yb_free(vr->node);
    yb_free(vr);
}

static struct vcard_req *
vcard_req_new(struct iq_request *iq, const char *domain, const char *node)
{
    struct vcard_req *vr = yb_calloc(1, sizeof *vr);
    vr->iq = iq;
    vr->domain = yb_strdup(domain);
    vr->node = yb_strdup(node);
    buf_init(&vr->data);
    return vr;
}

/* Queues vr; on failure answers the iq at once. The iq must have been kept. */
static void
vcard_submit(struct vcard_req *vr)
{
    if (module_storage_submit(&vr->req) != 0) {
        iq_reply_error(vr->iq, SE_INTERNAL_SERVER_ERROR, NULL);
        vcard_req_free(vr);
    }
}

/* True when n has non-whitespace character data of its own (vCard-XML has no
 * mixed content at the top level). */
static bool
has_stray_text(const struct xml_node *n)
{
    for (const char *t = node_text(n); t && *t; t++)
        if (*t != ' ' && *t != '\t' && *t != '\r' && *t != '\n')
            return true;
    return false;
}

/* ---- get ---- */

static int
get_work(struct db *db, struct storage_req *r)
{
    struct vcard_req *vr = (struct vcard_req *)r;
    if (!vr->is_self && !db_account_exists(db, vr->domain, vr->node)) {
        vr->no_account = true;
        return 0;
    }
    return db_kv_get(db, vr->domain, vr->node, VCARD_STORE, "", &vr->data);
}

static void
get_done(struct storage_req *r)
{
    struct vcard_req *vr = (struct vcard_req *)r;
    if (vr->no_account) {
        /* XEP-0054 §3.3; RFC 6121 §8.5.1: no such account. */
        iq_reply_error(vr->iq, SE_SERVICE_UNAVAILABLE, NULL);
    } else if (r->status == YB_ENOENT) {
        if (vr->is_self) {
            /* §3.1: the owner gets an empty vCard it can fill in. */
            struct stanza *res = iq_result_new(vr->iq, NULL);
            node_add_child(stanza_root(res), "vCard", NS_VCARD);
            iq_reply(vr->iq, res);
        } else {
            iq_reply_error(vr->iq, SE_ITEM_NOT_FOUND, NULL); /* §3.3 */
        }
    } else if (r->status != 0) {
        log_error("vcard", "reading the vCard of %s@%s failed: %s", vr->node, vr->domain,
                  yb_strerror(r->status));
        iq_reply_error(vr->iq, SE_INTERNAL_SERVER_ERROR, NULL);
    } else {
        struct stanza *card = stanza_parse(vr->data.data, vr->data.len);
        if (card == NULL) {
            log_error("vcard", "the stored vCard of %s@%s does not parse", vr->node, vr->domain);
            iq_reply_error(vr->iq, SE_INTERNAL_SERVER_ERROR, NULL);
        } else {
            iq_reply(vr->iq, iq_result_new(vr->iq, stanza_root(card)));
            stanza_unref(card);
        }
    }
    vcard_req_free(vr);
}

static enum hook_result
on_vcard_get(struct iq_request *req, void *ud)
{
    (void)ud;
    /* No 'to': the sender's own account; otherwise the bare JID asked for. */
    const struct jid *target = iq_request_to(req) ? iq_request_to(req) : iq_request_from(req);
    if (target == NULL || target->node == NULL) {
        iq_reply_error(req, SE_SERVICE_UNAVAILABLE, NULL);
        return HOOK_HANDLED;
    }
    struct vcard_req *vr = vcard_req_new(req, target->domain, target->node);
    vr->is_self = iq_request_from_self(req);
    vr->req.work = get_work;
    vr->req.done = get_done;
    iq_request_keep(req);
    vcard_submit(vr);
    return HOOK_HANDLED;
}

/* ---- set ---- */

static int
set_work(struct db *db, struct storage_req *r)
{
    struct vcard_req *vr = (struct vcard_req *)r;
    if (vr->data.len == 0)
        return db_kv_delete(db, vr->domain, vr->node, VCARD_STORE, "");
    return db_kv_set(db, vr->domain, vr->node, VCARD_STORE, "", vr->data.data, vr->data.len);
}

static void
set_done(struct storage_req *r)
{
    struct vcard_req *vr = (struct vcard_req *)r;
    if (r->status == 0) {
        iq_reply_result(vr->iq);
    } else {
        log_error("vcard", "storing the vCard of %s@%s failed: %s", vr->node, vr->domain,
                  yb_strerror(r->status));
        iq_reply_error(vr->iq,
                       r->status == YB_EFULL ? SE_RESOURCE_CONSTRAINT : SE_INTERNAL_SERVER_ERROR,
                       NULL);
    }
    vcard_req_free(vr);
}

static enum hook_result
on_vcard_set(struct iq_request *req, void *ud)
{
    (void)ud;
    const struct jid *from = iq_request_from(req);
    if (!iq_request_from_self(req) || from == NULL || from->node == NULL) {
        /* XEP-0054 §3.2: nobody sets another entity's vCard. */
        iq_reply_error(req, SE_FORBIDDEN, NULL);
        return HOOK_HANDLED;
    }
    struct xml_node *card = iq_request_payload(req);
    if (has_stray_text(card)) {
        iq_reply_error(req, SE_BAD_REQUEST, "a vCard holds elements, not text");
        return HOOK_HANDLED;
    }
    struct vcard_req *vr = vcard_req_new(req, from->domain, from->node);
    vr->req.work = set_work;
    vr->req.done = set_done;
    /* A vCard without any property is no vCard: it is deleted, so that readers get
     * item-not-found as for an account that never set one. */
    if (node_first_element(card) != NULL) {
        node_serialize(card, "", &vr->data);
        const struct config_host *h = host_config(from->domain);
        size_t max = h ? h->vcard_max_size : VCARD_DEFAULT_MAX;
        if (vr->data.len > max) {
            /* A size limit is local service policy (RFC 6120 §8.3.3.12). */
            char text[96];
            snprintf(text, sizeof text, "the vCard is larger than %zu bytes", max);
            iq_reply_error(req, SE_POLICY_VIOLATION, text);
            vcard_req_free(vr);
            return HOOK_HANDLED;
        }
    }
    iq_request_keep(req);
    vcard_submit(vr);
    return HOOK_HANDLED;
}

static int
vcard_load(struct module *m)
{
    int rc = module_add_feature(m, NS_VCARD);
    if (rc == 0)
        rc = module_hook_iq(m, IQ_GET, IQ_TO_BARE, NS_VCARD, "vCard", on_vcard_get, NULL);
    if (rc == 0)
        rc = module_hook_iq(m, IQ_SET, IQ_TO_BARE, NS_VCARD, "vCard", on_vcard_set, NULL);
    return rc;
}

MODULE_DEFINE(vcard, .summary = "XEP-0054: vcard-temp (stored per account, size-limited)",
              .xeps = "0054@1.3.0",
              .notes = "An account with no vCard reads back an empty <vCard/>; other readers get "
                       "item-not-found, and service-unavailable for an account that does not "
                       "exist. A vCard larger than vcard_max_size (serialised bytes) is refused "
                       "with policy-violation; setting an empty <vCard/> deletes it.",
              .load = vcard_load);
