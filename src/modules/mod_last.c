/* SPDX-License-Identifier: MIT
 *
 * mod_last.c: XEP-0012 Last Activity. To a served domain: the server's uptime
 * (§5, counted from this module's load). To an account's bare JID (§3): 0 when it
 * has an available resource, else the seconds since its last session ended with
 * the status of its last unavailable presence, kept in the account's "last" store;
 * only for the account itself and contacts subscribed to its presence (forbidden
 * otherwise, §3 and §8). Queries to a full JID are the client's (§4): the router
 * delivers them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "module_api.h"

#define NS_LAST    "jabber:iq:last"
#define LAST_STORE "last"
#define LAST_KEY   "logout"
#define MAX_STATUS 1024

static struct module *self_module;
static uint64_t loaded_ms;

static void
reply_seconds(struct iq_request *req, uint64_t seconds, const char *status)
{
    char secs[24];
    snprintf(secs, sizeof secs, "%llu", (unsigned long long)seconds);
    struct stanza *res = iq_result_new(req, NULL);
    struct xml_node *q = node_add_text_child(stanza_root(res), "query", NS_LAST,
                                             status && status[0] ? status : NULL);
    node_set_attr(q, "seconds", secs);
    iq_reply(req, res);
}

static enum hook_result
on_host_last(struct iq_request *req, void *ud)
{
    (void)ud;
    reply_seconds(req, (clock_mono_ms() - loaded_ms) / 1000, NULL);
    return HOOK_HANDLED;
}

/* ---- recording: the status of the unavailable presence, then the time ---- */

static enum hook_result
on_presence_out(struct event *ev, void *ud)
{
    (void)ud;
    const char *type = stanza_attr(ev->stanza, "type");
    if (ev->to != NULL || type == NULL || strcmp(type, "unavailable") != 0)
        return HOOK_PASS;
    const char *status = node_child_text(stanza_root(ev->stanza), "status", NULL);
    yb_free(session_get_data(ev->session, self_module));
    char *copy = NULL;
    if (status != NULL && status[0] != '\0') {
        size_t len = strlen(status);
        if (len > MAX_STATUS)
            len = MAX_STATUS;
        copy = yb_malloc(len + 1);
        memcpy(copy, status, len);
        copy[len] = '\0';
    }
    session_set_data(ev->session, self_module, copy);
    return HOOK_PASS;
}

struct save_req {
    struct storage_req req;
    char *domain, *node;
    char *value; /* "<unix seconds>\n<status>" */
};

static int
save_work(struct db *db, struct storage_req *r)
{
    struct save_req *sr = (struct save_req *)r;
    if (!db_account_exists(db, sr->domain, sr->node))
        return 0; /* deleted meanwhile: nothing to remember */
    return db_kv_set(db, sr->domain, sr->node, LAST_STORE, LAST_KEY, sr->value, strlen(sr->value));
}

static void
save_done(struct storage_req *r)
{
    struct save_req *sr = (struct save_req *)r;
    if (r->status != 0)
        log_warn("last", "recording the last activity of %s@%s failed: %s", sr->node, sr->domain,
                 yb_strerror(r->status));
    yb_free(sr->domain);
    yb_free(sr->node);
    yb_free(sr->value);
    yb_free(sr);
}

static enum hook_result
on_session_closed(struct event *ev, void *ud)
{
    (void)ud;
    char *status = session_get_data(ev->session, self_module);
    session_set_data(ev->session, self_module, NULL);
    struct buf v = BUF_INIT;
    buf_printf(&v, "%lld\n%s", (long long)(clock_wall_us() / 1000000), status ? status : "");
    yb_free(status);
    struct save_req *sr = yb_calloc(1, sizeof *sr);
    sr->req.work = save_work;
    sr->req.done = save_done;
    sr->domain = yb_strdup(user_domain(ev->user));
    sr->node = yb_strdup(user_node(ev->user));
    sr->value = yb_strdup(v.data);
    buf_fini(&v);
    if (module_storage_submit(&sr->req) != 0) {
        sr->req.status = YB_ECLOSED;
        save_done(&sr->req);
    }
    return HOOK_PASS;
}

/* ---- queries to a bare JID ---- */

struct fetch_req {
    struct storage_req req;
    char *domain, *node;
    struct buf value;
    struct iq_request *iq;
};

static int
fetch_work(struct db *db, struct storage_req *r)
{
    struct fetch_req *fr = (struct fetch_req *)r;
    return db_kv_get(db, fr->domain, fr->node, LAST_STORE, LAST_KEY, &fr->value);
}

static void
fetch_done(struct storage_req *r)
{
    struct fetch_req *fr = (struct fetch_req *)r;
    if (r->status == YB_ENOENT) {
        iq_reply_error(fr->iq, SE_ITEM_NOT_FOUND, "no last activity recorded");
    } else if (r->status != 0) {
        iq_reply_error(fr->iq, SE_INTERNAL_SERVER_ERROR, NULL);
    } else {
        buf_putc(&fr->value, '\0');
        char *end;
        long long when = strtoll(fr->value.data, &end, 10);
        const char *status = *end == '\n' ? end + 1 : "";
        long long now = clock_wall_us() / 1000000;
        reply_seconds(fr->iq, now > when ? (uint64_t)(now - when) : 0, status);
    }
    buf_fini(&fr->value);
    yb_free(fr->domain);
    yb_free(fr->node);
    yb_free(fr);
}

static void
answer_bare(struct iq_request *req, struct user *u)
{
    if (u == NULL) {
        iq_reply_error(req, SE_SERVICE_UNAVAILABLE, NULL); /* RFC 6121 §8.5.1 */
        return;
    }
    const struct jid *from = iq_request_from(req);
    bool allowed = iq_request_from_self(req);
    if (!allowed && from != NULL) {
        struct roster_item *it = roster_find(u, from->bare);
        allowed = it != NULL && (it->sub == SUB_FROM || it->sub == SUB_BOTH);
    }
    if (!allowed) {
        iq_reply_error(req, SE_FORBIDDEN, NULL); /* §3, §8 */
        return;
    }
    if (user_has_available(u)) {
        reply_seconds(req, 0, NULL); /* §3: online */
        return;
    }
    struct fetch_req *fr = yb_calloc(1, sizeof *fr);
    fr->req.work = fetch_work;
    fr->req.done = fetch_done;
    fr->domain = yb_strdup(user_domain(u));
    fr->node = yb_strdup(user_node(u));
    buf_init(&fr->value);
    fr->iq = req;
    iq_request_keep(req);
    if (module_storage_submit(&fr->req) != 0) {
        fr->req.status = YB_EIO;
        fetch_done(&fr->req);
    }
}

static void
on_user_loaded(struct user *u, int status, void *ud)
{
    (void)status;
    answer_bare(ud, u);
}

static enum hook_result
on_bare_last(struct iq_request *req, void *ud)
{
    (void)ud;
    const struct jid *to = iq_request_to(req);
    const struct jid *target = to != NULL ? to : iq_request_from(req);
    struct user *u = user_find(target->bare);
    if (u != NULL) {
        answer_bare(req, u);
        return HOOK_HANDLED;
    }
    iq_request_keep(req); /* user_acquire may call back at once */
    user_acquire(target->domain, target->node, on_user_loaded, req);
    return HOOK_HANDLED;
}

static int
last_load(struct module *m)
{
    self_module = m;
    loaded_ms = clock_mono_ms();
    int rc = module_add_feature(m, NS_LAST);
    if (rc == 0)
        rc = module_hook_iq(m, IQ_GET, IQ_TO_HOST, NS_LAST, "query", on_host_last, NULL);
    if (rc == 0)
        rc = module_hook_iq(m, IQ_GET, IQ_TO_BARE, NS_LAST, "query", on_bare_last, NULL);
    if (rc == 0)
        rc = module_hook(m, EV_PRESENCE_OUT, 100, on_presence_out, NULL);
    if (rc == 0)
        rc = module_hook(m, EV_SESSION_CLOSED, 0, on_session_closed, NULL);
    return rc;
}

MODULE_DEFINE(last, .summary = "Last Activity: server uptime, accounts' last logout and status",
              .xeps = "0012@2.0",
              .notes = "An account that never logged out gets item-not-found; an unknown "
                       "account service-unavailable",
              .load = last_load);
