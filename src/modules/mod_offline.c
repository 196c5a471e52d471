/* SPDX-License-Identifier: MIT
 *
 * mod_offline.c: offline messages (RFC 6121 §8.5.2.2.1, XEP-0160): chat and normal
 * messages with a body for an account with no available resource are stored with a
 * XEP-0203 delay stamp, up to a per-account quota, and delivered when a resource
 * with a non-negative priority sends initial presence. Standalone chat states and
 * other bodiless messages are not stored.
 *
 * Delivery goes page by page (a page is at most a quarter of the connection's output
 * bound): each page is read and deleted in one transaction, sent, and only then is the
 * next page fetched, so a large mailbox never trips the output bound (which would close
 * the session and lose the page). Storage failures are logged once per burst.
 */
#include <string.h>

#include "module_api.h"

#define OFFLINE_STORE "offline"
/* A failing disk fails every request: one log line per this window, with a count. */
#define OFFLINE_LOG_QUIET_MS 10000
/* Bounds of one delivery page, in stored bytes. */
#define PAGE_MIN_BYTES 4096
#define PAGE_MAX_BYTES (64 * 1024)

/* Log throttle for storage failures (core thread only). */
struct log_burst {
    uint64_t last_ms;
    unsigned long n_quiet;
    bool logged;
};

/* True when this failure should be logged; *quiet gets the number of failures not
 * logged since the last line. */
static bool
burst_should_log(struct log_burst *b, unsigned long *quiet)
{
    uint64_t now = clock_mono_ms();
    if (b->logged && now - b->last_ms < OFFLINE_LOG_QUIET_MS) {
        b->n_quiet++;
        return false;
    }
    *quiet = b->n_quiet;
    b->n_quiet = 0;
    b->last_ms = now;
    b->logged = true;
    return true;
}

static struct log_burst store_burst, fetch_burst;

struct store_req {
    struct storage_req req;
    char *domain, *node, *with;
    char *xml;
    size_t quota;
    int64_t when_us;
    struct stanza *orig; /* for the error reply */
};

static int
store_work(struct db *db, struct storage_req *r)
{
    struct store_req *sr = (struct store_req *)r;
    if (!db_account_exists(db, sr->domain, sr->node))
        return YB_ENOENT;
    int64_t id;
    return db_archive_append(db, sr->domain, sr->node, OFFLINE_STORE, sr->when_us, sr->with,
                             sr->xml, strlen(sr->xml), sr->quota, &id);
}

static void
store_done(struct storage_req *r)
{
    struct store_req *sr = (struct store_req *)r;
    switch (r->status) {
    case 0:
        log_debug("offline", "stored a message for %s@%s", sr->node, sr->domain);
        break;
    case YB_ENOENT:
        route_error(sr->orig, SE_SERVICE_UNAVAILABLE, NULL);
        break;
    case YB_ELIMIT:
        /* XEP-0160 §3: the quota is full. */
        log_info("offline", "offline quota of %s@%s is full", sr->node, sr->domain);
        route_error(sr->orig, SE_SERVICE_UNAVAILABLE, "offline storage is full");
        break;
    default: {
        unsigned long quiet;
        if (burst_should_log(&store_burst, &quiet))
            log_error("offline",
                      "storing a message for %s@%s failed: %s"
                      " (%lu similar failures since the last report)",
                      sr->node, sr->domain, yb_strerror(r->status), quiet);
        route_error(sr->orig,
                    r->status == YB_EFULL ? SE_RESOURCE_CONSTRAINT : SE_INTERNAL_SERVER_ERROR,
                    NULL);
        break;
    }
    }
    stanza_unref(sr->orig);
    yb_free(sr->domain);
    yb_free(sr->node);
    yb_free(sr->with);
    yb_free(sr->xml);
    yb_free(sr);
}

static enum hook_result
on_message_offline(struct event *ev, void *ud)
{
    (void)ud;
    size_t quota = host_offline_quota(user_domain(ev->user));
    if (quota == 0)
        return HOOK_PASS;
    if (stanza_child(ev->stanza, "body", NULL) == NULL)
        return HOOK_HANDLED; /* chat states and receipts alone are not kept */
    struct stanza *copy = stanza_copy(ev->stanza);
    int64_t now = clock_wall_us();
    char stamp[32];
    clock_format_xep82(now, stamp);
    /* XEP-0203: when, and by whom, the message was delayed. */
    struct xml_node *d =
        node_add_text_child(stanza_root(copy), "delay", NS_DELAY, "Offline Storage");
    node_set_attr(d, "from", user_domain(ev->user));
    node_set_attr(d, "stamp", stamp);
    struct store_req *sr = yb_calloc(1, sizeof *sr);
    sr->req.work = store_work;
    sr->req.done = store_done;
    sr->domain = yb_strdup(user_domain(ev->user));
    sr->node = yb_strdup(user_node(ev->user));
    sr->with = yb_strdup(ev->from ? ev->from->bare : "");
    sr->xml = stanza_to_string(copy);
    sr->quota = quota;
    sr->when_us = now;
    sr->orig = stanza_ref(ev->stanza);
    stanza_unref(copy);
    if (module_storage_submit(&sr->req) != 0) {
        sr->req.status = YB_EIO;
        store_done(&sr->req);
    }
    return HOOK_HANDLED;
}

/* ---- delivery at initial presence ---- */

struct fetch_req {
    struct storage_req req;
    char *domain, *node;
    char *full_jid;   /* the session to deliver to */
    struct buf items; /* NUL-separated stored stanzas */
    int64_t last_id;
    size_t page_bytes; /* stop collecting once items holds this much */
    bool more;         /* the page filled up: more items may wait */
};

static int
collect(void *ud, const struct db_archive_item *item)
{
    struct fetch_req *fr = ud;
    if (fr->items.len > 0 && fr->items.len + item->len > fr->page_bytes) {
        fr->more = true;
        return 1;
    }
    size_t before = fr->items.len;
    if (buf_append(&fr->items, item->data, item->len) != 0 || buf_putc(&fr->items, '\0') != 0) {
        /* Out of memory: deliver what we have; the rest stays stored. */
        fr->items.len = before;
        fr->more = true;
        return 1;
    }
    fr->last_id = item->id;
    return 0;
}

static int
fetch_work(struct db *db, struct storage_req *r)
{
    struct fetch_req *fr = (struct fetch_req *)r;
    fr->more = false;
    fr->last_id = 0;
    int rc = db_archive_list(db, fr->domain, fr->node, OFFLINE_STORE, 0, 0, collect, fr);
    /* Removed in the same transaction: a message is handed out once. */
    if (rc == 0 && fr->last_id > 0)
        rc = db_archive_delete_upto(db, fr->domain, fr->node, OFFLINE_STORE, fr->last_id);
    return rc;
}

struct restore_req {
    struct storage_req req;
    char *domain, *node;
    struct buf items;
};

static int
restore_work(struct db *db, struct storage_req *r)
{
    struct restore_req *rr = (struct restore_req *)r;
    for (size_t off = 0; off < rr->items.len;) {
        const char *xml = rr->items.data + off;
        size_t len = strlen(xml);
        int64_t id;
        int rc = db_archive_append(db, rr->domain, rr->node, OFFLINE_STORE, clock_wall_us(), "",
                                   xml, len, 0, &id);
        if (rc != 0)
            return rc;
        off += len + 1;
    }
    return 0;
}

static void
restore_done(struct storage_req *r)
{
    struct restore_req *rr = (struct restore_req *)r;
    if (r->status != 0)
        log_error("offline", "could not put back undelivered messages of %s@%s", rr->node,
                  rr->domain);
    buf_fini(&rr->items);
    yb_free(rr->domain);
    yb_free(rr->node);
    yb_free(rr);
}

static void fetch_done(struct storage_req *r);

static void
fetch_free(struct fetch_req *fr)
{
    buf_fini(&fr->items);
    yb_free(fr->domain);
    yb_free(fr->node);
    yb_free(fr->full_jid);
    yb_free(fr);
}

/* Size of a delivery page: a quarter of the output bound, within the page limits. */
static size_t
page_bytes(void)
{
    size_t b = server_config()->max_output_bytes / 4;
    if (b < PAGE_MIN_BYTES)
        b = PAGE_MIN_BYTES;
    if (b > PAGE_MAX_BYTES)
        b = PAGE_MAX_BYTES;
    return b;
}

/* Queues the read of the next page for fr->full_jid; frees fr when storage is
 * closed. */
static void
fetch_submit(struct fetch_req *fr)
{
    memset(&fr->req, 0, sizeof fr->req);
    fr->req.work = fetch_work;
    fr->req.done = fetch_done;
    buf_init(&fr->items);
    fr->last_id = 0;
    fr->more = false;
    fr->page_bytes = page_bytes();
    if (module_storage_submit(&fr->req) != 0)
        fetch_free(fr);
}

static struct session *
find_session(struct user *u, const char *full)
{
    for (struct session *s = user_first_session(u); s; s = user_next_session(u, s))
        if (strcmp(session_jid(s)->full, full) == 0)
            return s;
    return NULL;
}

static void
deliver_fetched(struct user *u, int status, void *ud)
{
    struct fetch_req *fr = ud;
    struct session *s = u ? find_session(u, fr->full_jid) : NULL;
    if (s == NULL && fr->items.len > 0) {
        /* The session left (or the account could not be loaded) before the messages
         * came back: store them again. */
        struct restore_req *rr = yb_calloc(1, sizeof *rr);
        rr->req.work = restore_work;
        rr->req.done = restore_done;
        rr->domain = fr->domain;
        rr->node = fr->node;
        rr->items = fr->items;
        fr->domain = fr->node = NULL;
        buf_init(&fr->items);
        if (module_storage_submit(&rr->req) != 0) {
            rr->req.status = YB_ECLOSED;
            restore_done(&rr->req);
        }
    }
    for (size_t off = 0; s != NULL && off < fr->items.len;) {
        const char *xml = fr->items.data + off;
        size_t len = strlen(xml);
        off += len + 1;
        struct stanza *m = stanza_parse(xml, len);
        if (m == NULL) {
            log_error("offline", "a stored message of %s does not parse; dropped", fr->full_jid);
            continue;
        }
        stanza_set_attr(m, "to", fr->full_jid);
        session_send(s, m);
    }
    if (status == 0 && s != NULL && fr->more) {
        /* The next page, read after this one was handed to the connection. */
        buf_fini(&fr->items);
        fetch_submit(fr);
        return;
    }
    fetch_free(fr);
}

static void
fetch_done(struct storage_req *r)
{
    struct fetch_req *fr = (struct fetch_req *)r;
    if (r->status != 0) {
        /* Nothing was deleted: the messages wait for the next initial presence. */
        unsigned long quiet;
        if (burst_should_log(&fetch_burst, &quiet))
            log_error("offline",
                      "fetching offline messages for %s failed: %s; they stay stored"
                      " (%lu similar failures since the last report)",
                      fr->full_jid, yb_strerror(r->status), quiet);
        buf_clear(&fr->items);
        fr->more = false;
    }
    user_acquire(fr->domain, fr->node, deliver_fetched, fr);
}

static enum hook_result
on_session_available(struct event *ev, void *ud)
{
    (void)ud;
    if (session_priority(ev->session) < 0)
        return HOOK_PASS; /* XEP-0160 §4: not for negative priorities */
    struct fetch_req *fr = yb_calloc(1, sizeof *fr);
    fr->domain = yb_strdup(user_domain(ev->user));
    fr->node = yb_strdup(user_node(ev->user));
    fr->full_jid = yb_strdup(session_jid(ev->session)->full);
    fetch_submit(fr);
    return HOOK_PASS;
}

static int
offline_load(struct module *m)
{
    int rc = module_hook(m, EV_MESSAGE_OFFLINE, 0, on_message_offline, NULL);
    if (rc == 0)
        rc = module_hook(m, EV_SESSION_AVAILABLE, 0, on_session_available, NULL);
    if (rc == 0)
        rc = module_add_feature(m, "msgoffline");
    return rc;
}

MODULE_DEFINE(offline, .summary = "Offline messages with delay stamps (XEP-0160, XEP-0203)",
              .xeps = "0085@2.1,0160@1.0.1,0203@2.0",
              .notes = "XEP-0085: chat states are routed untouched; a message without a body "
                       "(a standalone chat state, a receipt) is never stored offline",
              .load = offline_load);
