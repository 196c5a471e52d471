/* SPDX-License-Identifier: MIT
 *
 * server.c: the server's lifetime: hosts from the config, the network listeners, the
 * storage worker, modules, signals (SIGTERM/SIGINT stop, SIGHUP reloads) and config
 * reload. Everything runs on the core loop.
 */
#include "server.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "fs.h"

struct server *srv;

static void
host_apply(struct host *h, const struct config_host *ch)
{
    h->offline_quota = ch->offline_quota;
    h->max_resources = ch->max_resources;
    h->conflict = ch->resource_conflict;
    h->removed = false;
}

static struct host *
host_new(const struct config_host *ch)
{
    struct host *h = yb_calloc(1, sizeof *h);
    h->domain = yb_strdup(ch->domain);
    host_apply(h, ch);
    return h;
}

static void
host_free(struct host *h)
{
    if (h == NULL)
        return;
    yb_free(h->domain);
    yb_free(h);
}

struct host *
server_find_host(const char *domain)
{
    struct host *h = domain ? hashmap_get(&srv->hosts, domain) : NULL;
    return h && !h->removed ? h : NULL;
}

bool
host_is_local(const char *domain)
{
    return server_find_host(domain) != NULL;
}

size_t
host_offline_quota(const char *domain)
{
    struct host *h = server_find_host(domain);
    return h ? h->offline_quota : 0;
}

void
server_random_id(char out[17])
{
    static const char chars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char raw[16];
    if (RAND_bytes(raw, sizeof raw) != 1) {
        log_error("server", "RAND_bytes failed");
        abort();
    }
    for (int i = 0; i < 16; i++)
        out[i] = chars[raw[i] % (sizeof chars - 1)];
    out[16] = '\0';
}

static char *
path_join(const char *dir, const char *name)
{
    struct buf b = BUF_INIT;
    buf_printf(&b, "%s/%s", dir, name);
    return buf_steal(&b);
}

/* Hosts without a configured certificate get a generated one in the data dir. */
int
server_prepare_certificates(struct config *cfg)
{
    char *dir = path_join(cfg->data_dir, "certs");
    int rc = 0;
    if (fs_mkdirs(dir, 0700) != 0) {
        log_error("server", "cannot create %s: %s", dir, strerror(errno));
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < cfg->n_hosts; i++) {
        struct config_host *h = &cfg->hosts[i];
        if (h->certificate != NULL)
            continue;
        struct buf b = BUF_INIT;
        buf_printf(&b, "%s/%s.crt", dir, h->domain);
        h->certificate = buf_steal(&b);
        buf_printf(&b, "%s/%s.key", dir, h->domain);
        h->key = buf_steal(&b);
        if (access(h->certificate, R_OK) == 0 && access(h->key, R_OK) == 0)
            continue;
        log_info("server", "generating a self-signed certificate for %s in %s", h->domain, dir);
        if (net_tls_generate_self_signed(h->domain, h->certificate, h->key, 3650) != 0)
            rc = -1;
    }
    yb_free(dir);
    return rc;
}

static int
load_tls_identities(const struct config *cfg)
{
    for (size_t i = 0; i < cfg->n_hosts; i++) {
        const struct config_host *h = &cfg->hosts[i];
        if (net_tls_add_identity(srv->net, h->domain, h->certificate, h->key) != 0)
            return YB_EINVAL;
    }
    return 0;
}

/* Reload: proves that a host's certificate and key load and match before the live
 * identities are replaced, so that a broken file refuses the reload instead of
 * leaving the server without the certificate it had (the old files may be the ones
 * that changed). Returns 0, or -1 with the reason in err. */
static int
check_tls_identity(const struct config_host *h, struct buf *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    int ok = ctx != NULL && SSL_CTX_use_certificate_chain_file(ctx, h->certificate) == 1 &&
             SSL_CTX_use_PrivateKey_file(ctx, h->key, SSL_FILETYPE_PEM) == 1 &&
             SSL_CTX_check_private_key(ctx) == 1;
    if (!ok) {
        char detail[256] = "unknown error";
        unsigned long e = ERR_get_error();
        if (e != 0)
            ERR_error_string_n(e, detail, sizeof detail);
        buf_printf(err, "host %s: cannot load certificate %s / key %s: %s\n", h->domain,
                   h->certificate, h->key, detail);
    }
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return ok ? 0 : -1;
}

static void
on_signal(uv_signal_t *handle, int signum)
{
    (void)handle;
    if (signum == SIGHUP) {
        struct buf err = BUF_INIT;
        if (server_reload(srv, &err) != 0)
            log_error("server", "reload refused, old config kept: %s", err.data ? err.data : "");
        buf_fini(&err);
        return;
    }
    log_info("server", "signal %d: shutting down", signum);
    server_stop(srv);
}

#define SHUTDOWN_GRACE_MS 5000

static void
on_housekeeping(uv_timer_t *t)
{
    (void)t;
    c2s_housekeeping();
    s2s_housekeeping();
}

/* During shutdown: once every stream has closed (or the grace period is over) the
 * loop stops and server_fini() releases the rest, committing pending writes. */
static void
on_shutdown_tick(uv_timer_t *t)
{
    size_t open = srv->n_streams + s2s_open_streams();
    if (open == 0 || clock_mono_ms() >= srv->stop_deadline_ms) {
        if (open != 0)
            log_warn("server", "%zu streams still open after the grace period", open);
        uv_timer_stop(t);
        uv_stop(srv->loop);
    }
}

int
server_init(struct server *s, uv_loop_t *loop, struct config *cfg)
{
    memset(s, 0, sizeof *s);
    srv = s;
    s->loop = loop;
    s->cfg = cfg;
    hashmap_init(&s->hosts);
    hashmap_init(&s->iq_handlers);
    hashmap_init(&s->features);
    hashmap_init(&s->auth_failures);
    list_init(&s->streams);
    list_init(&s->modules);
    list_init(&s->identities);
    for (int i = 0; i < EV__COUNT; i++)
        list_init(&s->hooks[i]);
    user_table_init();
    s->stats.started_us = clock_wall_us();
    uv_signal_init(loop, &s->sig_term);
    uv_signal_init(loop, &s->sig_int);
    uv_signal_init(loop, &s->sig_hup);
    uv_timer_init(loop, &s->housekeeping);
    for (size_t i = 0; i < cfg->n_hosts; i++)
        hashmap_set(&s->hosts, cfg->hosts[i].domain, host_new(&cfg->hosts[i]));

    int rc = storage_open(loop, cfg->database, &s->storage);
    if (rc != 0) {
        log_error("server", "cannot open database %s: %s", cfg->database, yb_strerror(rc));
        return rc;
    }
    struct net_config ncfg;
    memset(&ncfg, 0, sizeof ncfg);
    parser_limits_default(&ncfg.parser);
    ncfg.parser.max_stanza_bytes = cfg->max_stanza_bytes;
    ncfg.parser.max_header_bytes = cfg->max_stream_header_bytes;
    ncfg.parser.max_depth = cfg->max_xml_depth;
    ncfg.parser.max_attrs = cfg->max_attributes;
    ncfg.max_output_bytes = cfg->max_output_bytes;
    ncfg.ca_file = cfg->s2s_ca_file;
    ncfg.io_threads = cfg->io_threads;
    s->net = net_new(loop, &ncfg);
    if (s->net == NULL)
        return YB_EIO;
    if ((rc = load_tls_identities(cfg)) != 0)
        return rc;
    return modules_load_all();
}

int
server_start(struct server *s)
{
    for (size_t i = 0; i < s->cfg->n_listeners; i++) {
        const struct config_listener *l = &s->cfg->listeners[i];
        if (l->kind == LISTENER_COMPONENT) {
            /* XEP-0114: plaintext, normally on loopback (docs/components.md). */
            struct listen_config cc = {.address = l->address,
                                       .port = l->port,
                                       .tls = LISTEN_STARTTLS,
                                       .name = "component"};
            if (net_listen(s->net, &cc, component_accept, s) != 0)
                return YB_EIO;
            log_info("server", "listening for components on [%s]:%d", l->address,
                     net_listener_port(s->net, i));
            continue;
        }
        if (l->kind == LISTENER_S2S) {
            bool direct = l->tls == LISTENER_TLS_DIRECT;
            struct listen_config sc = {.address = l->address,
                                       .port = l->port,
                                       .tls = direct ? LISTEN_DIRECT_TLS : LISTEN_STARTTLS,
                                       .alpn = "xmpp-server",
                                       .name = direct ? "s2s-tls" : "s2s",
                                       .request_client_cert = true};
            if (net_listen(s->net, &sc, s2s_accept, s) != 0)
                return YB_EIO;
            log_info("server", "listening for servers on [%s]:%d (%s)", l->address,
                     net_listener_port(s->net, i), direct ? "direct TLS" : "STARTTLS");
            continue;
        }
        struct listen_config lc = {
            .address = l->address,
            .port = l->port,
            .tls = l->tls == LISTENER_TLS_DIRECT ? LISTEN_DIRECT_TLS : LISTEN_STARTTLS,
            .alpn = "xmpp-client",
            .name = l->tls == LISTENER_TLS_DIRECT ? "c2s-tls" : "c2s",
        };
        if (net_listen(s->net, &lc, c2s_accept, s) != 0)
            return YB_EIO;
        log_info("server", "listening for clients on [%s]:%d (%s)", l->address,
                 net_listener_port(s->net, i),
                 lc.tls == LISTEN_DIRECT_TLS ? "direct TLS" : "STARTTLS");
    }
    int rc = admin_start(s->cfg->admin_socket);
    if (rc != 0)
        return rc;
    uv_signal_start(&s->sig_term, on_signal, SIGTERM);
    uv_signal_start(&s->sig_int, on_signal, SIGINT);
    uv_signal_start(&s->sig_hup, on_signal, SIGHUP);
    uv_timer_start(&s->housekeeping, on_housekeeping, 1000, 1000);
    signal(SIGPIPE, SIG_IGN);
    log_info("server", "yerbad ready (%zu host%s)", s->cfg->n_hosts,
             s->cfg->n_hosts == 1 ? "" : "s");
    return 0;
}

/* Sessions get a system-shutdown stream error; the loop ends once every connection
 * has flushed and closed and the handles below are closed. */
void
server_stop(struct server *s)
{
    if (s->stopping)
        return;
    s->stopping = true;
    if (s->net != NULL)
        net_stop_listening(s->net);
    admin_stop();
    component_stop();
    s2s_stop();
    struct list_node *n, *tmp;
    LIST_FOREACH_SAFE(n, tmp, &s->streams)
    {
        struct session *ss = LIST_ENTRY(n, struct session, link);
        c2s_stream_error(ss, STE_SYSTEM_SHUTDOWN, NULL);
    }
    uv_signal_stop(&s->sig_term);
    uv_signal_stop(&s->sig_int);
    uv_signal_stop(&s->sig_hup);
    uv_close((uv_handle_t *)&s->sig_term, NULL);
    uv_close((uv_handle_t *)&s->sig_int, NULL);
    uv_close((uv_handle_t *)&s->sig_hup, NULL);
    s->stop_deadline_ms = clock_mono_ms() + SHUTDOWN_GRACE_MS;
    uv_timer_start(&s->housekeeping, on_shutdown_tick, 0, 20);
}

void
server_fini(struct server *s)
{
    uv_close((uv_handle_t *)&s->housekeeping, NULL);
    net_free(s->net);
    s->net = NULL;
    modules_unload_all();
    /* Pending writes (offline messages, roster changes) are committed here. */
    storage_close(s->storage);
    s->storage = NULL;
    user_table_fini();
    iq_table_fini();
    c2s_fini();
    component_fini();
    s2s_fini();
    struct hashmap_iter it;
    void *v;
    hashmap_iter_init(&it, &s->hosts);
    while (hashmap_iter_next(&it, NULL, &v))
        host_free(v);
    hashmap_fini(&s->hosts);
    hashmap_fini(&s->features);
    for (size_t i = 0; i < s->n_preload; i++)
        yb_free(s->preload[i]);
    yb_free(s->preload);
    hashmap_fini(&s->iq_handlers);
    config_free(s->cfg);
    s->cfg = NULL;
}

/* Re-reads the file. Hosts, their settings and certificates, limits and the log
 * level change at once; listeners and the database stay as they were (a restart
 * applies those), which is logged. */
int
server_reload(struct server *s, struct buf *err)
{
    struct config *ncfg = config_load(s->cfg->path, err);
    if (ncfg == NULL)
        return YB_EINVAL;
    if (server_prepare_certificates(ncfg) != 0) {
        buf_puts(err, "cannot create the certificates of the new config\n");
        config_free(ncfg);
        return YB_EINVAL;
    }
    int bad = 0;
    for (size_t i = 0; i < ncfg->n_hosts; i++)
        bad |= check_tls_identity(&ncfg->hosts[i], err);
    if (bad) {
        config_free(ncfg);
        return YB_EINVAL;
    }
    net_tls_clear_identities(s->net);
    struct config *old = s->cfg;
    s->cfg = ncfg;
    s->config_generation++;
    if (load_tls_identities(ncfg) != 0) {
        buf_puts(err, "certificates of the new config do not load\n");
        net_tls_clear_identities(s->net);
        s->cfg = old;
        load_tls_identities(old);
        config_free(ncfg);
        return YB_EINVAL;
    }
    for (size_t i = 0; i < ncfg->n_hosts; i++) {
        struct host *h = hashmap_get(&s->hosts, ncfg->hosts[i].domain);
        if (h != NULL)
            host_apply(h, &ncfg->hosts[i]);
        else
            hashmap_set(&s->hosts, ncfg->hosts[i].domain, host_new(&ncfg->hosts[i]));
    }
    /* Hosts removed from the config stop accepting new streams; their sessions
     * stay until they end (they point at the host, which we keep). */
    struct hashmap_iter it;
    const char *key;
    void *v;
    hashmap_iter_init(&it, &s->hosts);
    while (hashmap_iter_next(&it, &key, &v)) {
        struct host *h = v;
        if (config_find_host(ncfg, key) == NULL)
            h->removed = true;
    }
    enum log_level lvl;
    if (log_level_parse(ncfg->log_level, &lvl) == 0)
        log_set_level(lvl);
    if (ncfg->n_listeners != old->n_listeners || strcmp(ncfg->database, old->database) != 0)
        log_warn("server", "listener and database changes apply at the next restart");
    config_free(old);
    log_info("server", "configuration reloaded from %s", ncfg->path ? ncfg->path : "defaults");
    return 0;
}
