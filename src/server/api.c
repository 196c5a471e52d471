/* SPDX-License-Identifier: MIT
 *
 * api.c: the parts of module_api.h that are thin views of core state: settings,
 * account management, server-wide session access and per-session module data.
 * Core thread only.
 */
#include <string.h>

#include "server.h"

const struct config_host *
host_config(const char *domain)
{
    return server_find_host(domain) ? config_find_host(srv->cfg, domain) : NULL;
}

const struct config *
server_config(void)
{
    return srv->cfg;
}

void
stats_bump(enum stat_counter c)
{
    if (c < STAT__COUNT)
        srv->stats.module_counters[c]++;
}

unsigned
server_config_generation(void)
{
    return srv->config_generation;
}

bool
host_is_admin(const char *domain, const char *bare_jid)
{
    const struct config_host *h = host_config(domain);
    if (h == NULL || bare_jid == NULL)
        return false;
    for (size_t i = 0; i < h->n_admins; i++)
        if (strcmp(h->admins[i], bare_jid) == 0)
            return true;
    return false;
}

void
host_foreach(void (*fn)(void *ud, const char *domain), void *ud)
{
    for (size_t i = 0; i < srv->cfg->n_hosts; i++)
        fn(ud, srv->cfg->hosts[i].domain);
}

/* ---- accounts ---- */

struct account_op {
    account_fn fn;
    void *ud;
};

static void
account_done(void *ud, int status)
{
    struct account_op *op = ud;
    op->fn(op->ud, status);
    yb_free(op);
}

static struct account_op *
account_op_new(account_fn fn, void *ud)
{
    struct account_op *op = yb_calloc(1, sizeof *op);
    op->fn = fn;
    op->ud = ud;
    return op;
}

void
account_create(const char *domain, const char *node, const char *password, account_fn fn, void *ud)
{
    auth_set_password(domain, node, password, true, account_done, account_op_new(fn, ud));
}

void
account_set_password(const char *domain, const char *node, const char *password, account_fn fn,
                     void *ud)
{
    auth_set_password(domain, node, password, false, account_done, account_op_new(fn, ud));
}

void
account_delete(const char *domain, const char *node, account_fn fn, void *ud)
{
    struct buf bare = BUF_INIT;
    buf_printf(&bare, "%s@%s", node, domain);
    user_end_sessions(bare.data, STE_NOT_AUTHORIZED, "account deleted");
    buf_fini(&bare);
    auth_delete_user(domain, node, account_done, account_op_new(fn, ud));
}

struct count_req {
    struct storage_req req;
    char *domain;
    long n;
    void (*fn)(void *ud, int status, long n);
    void *ud;
};

static int
count_work(struct db *db, struct storage_req *r)
{
    struct count_req *c = (struct count_req *)r;
    c->n = db_account_count(db, c->domain);
    return c->n < 0 ? (int)c->n : 0;
}

static void
count_done(struct storage_req *r)
{
    struct count_req *c = (struct count_req *)r;
    c->fn(c->ud, r->status, r->status == 0 ? c->n : 0);
    yb_free(c->domain);
    yb_free(c);
}

void
account_count(const char *domain, void (*fn)(void *ud, int status, long n), void *ud)
{
    struct count_req *c = yb_calloc(1, sizeof *c);
    c->req.work = count_work;
    c->req.done = count_done;
    c->domain = domain ? yb_strdup(domain) : NULL;
    c->fn = fn;
    c->ud = ud;
    if (storage_submit(srv->storage, &c->req) != 0) {
        c->req.status = YB_ECLOSED;
        count_done(&c->req);
    }
}

void
user_end_sessions(const char *bare, enum stream_error_cond cond, const char *text)
{
    struct user *u = user_find_loaded(bare);
    if (u == NULL)
        return;
    user_hold(u);
    struct session *s;
    while ((s = user_first_session(u)) != NULL) {
        c2s_stream_error(s, cond, text);
        session_unbind(s);
    }
    user_release(u);
}

struct user *
user_find(const char *bare)
{
    return user_find_loaded(bare);
}

/* ---- sessions ---- */

void
session_foreach(const char *domain, void (*fn)(void *ud, struct session *s), void *ud)
{
    struct list_node *n, *tmp;
    LIST_FOREACH_SAFE(n, tmp, &srv->streams)
    {
        struct session *s = LIST_ENTRY(n, struct session, link);
        if (s->user == NULL || s->state != C2S_BOUND)
            continue;
        if (domain != NULL && strcmp(s->host->domain, domain) != 0)
            continue;
        fn(ud, s);
    }
}

size_t
server_session_count(const char *domain)
{
    if (domain == NULL)
        return srv->n_sessions;
    size_t n = 0;
    struct list_node *it;
    LIST_FOREACH(it, &srv->streams)
    {
        struct session *s = LIST_ENTRY(it, struct session, link);
        if (s->user != NULL && strcmp(s->host->domain, domain) == 0)
            n++;
    }
    return n;
}

void
session_close_error(struct session *s, enum stream_error_cond c, const char *text)
{
    c2s_stream_error(s, c, text);
}

const char *
session_peer_ip(const struct session *s)
{
    return s->conn ? conn_peer_ip(s->conn) : "";
}

bool
session_is_tls(const struct session *s)
{
    return s->tls;
}

const char *
session_domain(const struct session *s)
{
    return s->host ? s->host->domain : "";
}

uint64_t
session_idle_ms(const struct session *s)
{
    uint64_t now = uv_now(srv->loop);
    return now > s->last_active_ms ? now - s->last_active_ms : 0;
}

int64_t
session_started_us(const struct session *s)
{
    return s->started_us;
}

void *
session_get_data(const struct session *s, const struct module *m)
{
    return s->module_data ? s->module_data[module__index(m)] : NULL;
}

void
session_set_data(struct session *s, const struct module *m, void *data)
{
    if (s->module_data == NULL)
        s->module_data = yb_calloc(srv->n_modules, sizeof *s->module_data);
    s->module_data[module__index(m)] = data;
}
