/* SPDX-License-Identifier: MIT
 *
 * net.c: the network layer's front: listeners (IPv4, IPv6, dual-stack "::") on the
 * core loop, and for every loop that owns sockets (the core loop, or each I/O thread's)
 * the shared read buffers, the once-per-iteration flush of every connection with
 * queued output (a uv_prepare handle, run just before the loop polls, as Redis does
 * in beforeSleep) and the timer that bounds graceful closes. Connections are conn.c's;
 * TLS is tls.c's; I/O threads and the queues to and from them are io.c's.
 */
#include <signal.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "alloc.h"
#include "error.h"
#include "internal.h"
#include "log.h"

uint64_t
net__now_ms(const struct net_loop *nl)
{
    return uv_now(nl->loop);
}

static void
on_flush(uv_prepare_t *h)
{
    struct net_loop *nl = h->data;
    /* net__conn_flush() unlinks c; it calls no handler, so the list only shrinks. */
    while (!list_is_empty(&nl->dirty))
        net__conn_flush(LIST_ENTRY(nl->dirty.next, struct conn, queue));
    uv_prepare_stop(h);
}

void
net__conn_mark_dirty(struct conn *c)
{
    struct net_loop *nl = c->nl;
    /* A closing conn is flushed by the close sequence itself; its queue node is on
     * the closing list. */
    if (c->is_dirty || c->state != CONN_OPEN)
        return;
    if (list_is_empty(&nl->dirty))
        uv_prepare_start(&nl->flush_handle, on_flush);
    list_insert_tail(&nl->dirty, &c->queue);
    c->is_dirty = true;
}

static void
on_close_timer(uv_timer_t *t)
{
    struct net_loop *nl = t->data;
    uint64_t now = net__now_ms(nl);
    /* Oldest first, all with the same timeout: stop at the first one still in time. */
    while (!list_is_empty(&nl->closing)) {
        struct conn *c = LIST_ENTRY(nl->closing.next, struct conn, queue);
        if (c->close_deadline_ms > now)
            break;
        char who[NET_WHO_BYTES];
        log_debug(net__conn_who(c, who), "close timed out");
        net__conn_shutdown_now(c, false);
    }
    if (list_is_empty(&nl->closing))
        uv_timer_stop(t);
}

void
net__conn_closing(struct conn *c)
{
    struct net_loop *nl = c->nl;
    list_remove(&c->queue);
    c->is_dirty = false;
    c->close_deadline_ms = net__now_ms(nl) + NET_CLOSE_TIMEOUT_MS;
    list_insert_tail(&nl->closing, &c->queue);
    if (!uv_is_active((uv_handle_t *)&nl->close_timer))
        uv_timer_start(&nl->close_timer, on_close_timer, 1000, 1000);
}

/* Idle streams keep no parser or TLS buffers: a connection that received nothing
 * since the previous sweep (one to two periods) drops expat's instance, about
 * 10 KiB, and its memory BIOs' buffers, rebuilt at its next input (DESIGN.md §5: no
 * per-connection buffers while idle). Runs on the loop that owns the connections. */
static void
on_idle_sweep(uv_timer_t *t)
{
    struct net_loop *nl = t->data;
    struct list_node *it;
    size_t freed = 0;
    LIST_FOREACH(it, &nl->conns)
    {
        struct conn *c = LIST_ENTRY(it, struct conn, link);
        if (c->bytes_in == c->idle_mark)
            freed += net__conn_idle(c);
        c->idle_mark = c->bytes_in;
    }
#ifdef __GLIBC__
    /* The freed blocks sit between live ones (TLS state, sessions): without this the
     * allocator keeps their pages, and the process's RSS does not go down. */
    if (freed >= NET_IDLE_TRIM_COUNT)
        malloc_trim(0);
#endif
}

int
net__loop_init(struct net_loop *nl, struct net *n, uv_loop_t *loop)
{
    nl->loop = loop;
    nl->net = n;
    list_init(&nl->conns);
    list_init(&nl->dirty);
    list_init(&nl->closing);
    nl->read_buf = yb_malloc(NET_READ_BUF_BYTES);
    nl->tls_scratch = yb_malloc(NET_TLS_SCRATCH_BYTES);
    if (nl->read_buf == NULL || nl->tls_scratch == NULL) {
        net__loop_free_buffers(nl);
        return YB_ENOMEM;
    }
    uv_prepare_init(loop, &nl->flush_handle);
    nl->flush_handle.data = nl;
    uv_timer_init(loop, &nl->close_timer);
    nl->close_timer.data = nl;
    uv_timer_init(loop, &nl->idle_timer);
    nl->idle_timer.data = nl;
    unsigned period = n->cfg.idle_ms > 0 ? n->cfg.idle_ms : NET_IDLE_MS;
    uv_timer_start(&nl->idle_timer, on_idle_sweep, period, period);
    uv_unref((uv_handle_t *)&nl->idle_timer);
    return 0;
}

static void
on_loop_handle_closed(uv_handle_t *h)
{
    unsigned *closing = h->data;
    (*closing)--;
}

void
net__loop_close_handles(struct net_loop *nl, unsigned *closing)
{
    nl->flush_handle.data = closing;
    nl->close_timer.data = closing;
    nl->idle_timer.data = closing;
    *closing += 3;
    uv_close((uv_handle_t *)&nl->flush_handle, on_loop_handle_closed);
    uv_close((uv_handle_t *)&nl->close_timer, on_loop_handle_closed);
    uv_close((uv_handle_t *)&nl->idle_timer, on_loop_handle_closed);
}

void
net__loop_free_buffers(struct net_loop *nl)
{
    yb_free(nl->read_buf);
    yb_free(nl->tls_scratch);
    yb_free(nl->zlib_scratch);
    nl->read_buf = nl->tls_scratch = nl->zlib_scratch = NULL;
}

struct net *
net_new(uv_loop_t *loop, const struct net_config *cfg)
{
    struct net *n = yb_calloc(1, sizeof *n);
    if (n == NULL)
        goto fail;
    n->loop = loop;
    n->cfg = *cfg;
    /* libuv writes with write(2): a peer's reset must be an EPIPE for one connection,
     * not a signal that ends the process. Left alone if someone set a handler. */
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
        signal(SIGPIPE, SIG_IGN);
    if (n->cfg.max_output_bytes == 0)
        n->cfg.max_output_bytes = NET_DEFAULT_MAX_OUTPUT;
    if (cfg->ca_file != NULL && (n->ca_file = yb_strdup(cfg->ca_file)) == NULL)
        goto fail;
    n->cfg.ca_file = n->ca_file;
    if (net__loop_init(&n->core, n, loop) != 0)
        goto fail;
    uv_mutex_init(&n->tls_lock);
    if (cfg->io_threads > 0 && net__io_start(n, cfg->io_threads) != 0) {
        log_error("net", "cannot start %u I/O threads", cfg->io_threads);
        unsigned closing = 0;
        net__loop_close_handles(&n->core, &closing);
        while (closing > 0)
            uv_run(loop, UV_RUN_ONCE);
        net__loop_free_buffers(&n->core);
        uv_mutex_destroy(&n->tls_lock);
        yb_free(n->ca_file);
        yb_free(n);
        return NULL;
    }
    return n;
fail:
    log_error("net", "out of memory");
    if (n != NULL) {
        yb_free(n->ca_file);
        yb_free(n);
    }
    return NULL;
}

static void
on_handle_closed(uv_handle_t *h)
{
    struct net *n = h->data;
    n->n_closing_handles--;
}

static void
listener_free(struct listener *l)
{
    yb_free(l->name);
    yb_free(l->alpn_wire);
    yb_free(l);
}

/* A listener that never made it into n->listeners. */
static void
on_listener_discarded(uv_handle_t *h)
{
    struct listener *l = h->data;
    l->net->n_closing_handles--;
    listener_free(l);
}

static void
on_connection(uv_stream_t *server, int status)
{
    struct listener *l = server->data;
    if (status < 0) {
        log_warn(l->name, "accept: %s", uv_strerror(status));
        return;
    }
    if (l->net->n_io > 0)
        net__io_accept(l);
    else
        net__conn_accept(l);
}

int
net_listen(struct net *n, const struct listen_config *cfg, net_accept_fn accept, void *ud)
{
    const char *name = cfg->name != NULL ? cfg->name : "listener";
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (cfg->address == NULL || cfg->port < 0 || cfg->port > 65535 ||
        (uv_ip4_addr(cfg->address, cfg->port, (struct sockaddr_in *)&ss) != 0 &&
         uv_ip6_addr(cfg->address, cfg->port, (struct sockaddr_in6 *)&ss) != 0)) {
        log_error(name, "bad listen address %s port %d", cfg->address ? cfg->address : "(none)",
                  cfg->port);
        return YB_EIO;
    }
    struct listener *l = yb_calloc(1, sizeof *l);
    if (l == NULL)
        return YB_EIO;
    l->net = n;
    l->accept = accept;
    l->ud = ud;
    l->tls = cfg->tls;
    l->request_client_cert = cfg->request_client_cert;
    l->name = yb_strdup(name);
    size_t alpn_len = cfg->alpn != NULL ? strlen(cfg->alpn) : 0;
    if (cfg->tls == LISTEN_DIRECT_TLS && alpn_len > 0) {
        if (alpn_len > 255) {
            log_error(name, "ALPN protocol name too long");
            listener_free(l);
            return YB_EIO;
        }
        l->alpn_wire = yb_malloc(alpn_len + 1);
        if (l->alpn_wire != NULL) {
            l->alpn_wire[0] = (unsigned char)alpn_len;
            memcpy(l->alpn_wire + 1, cfg->alpn, alpn_len);
            l->alpn_wire_len = alpn_len + 1;
        }
    }
    struct listener **ls = yb_realloc(n->listeners, (n->n_listeners + 1) * sizeof *ls);
    if (ls != NULL)
        n->listeners = ls;
    if (l->name == NULL || (alpn_len > 0 && l->tls == LISTEN_DIRECT_TLS && !l->alpn_wire) ||
        ls == NULL) {
        log_error(name, "out of memory");
        listener_free(l);
        return YB_EIO;
    }

    uv_tcp_init(n->loop, &l->tcp);
    l->tcp.data = l;
    /* libuv sets SO_REUSEADDR. No UV_TCP_IPV6ONLY: "::" takes IPv4 too where the
     * system allows dual-stack. */
    int rc = uv_tcp_bind(&l->tcp, (const struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&l->tcp, NET_LISTEN_BACKLOG, on_connection);
    if (rc == 0) {
        int len = sizeof ss;
        rc = uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&ss, &len);
    }
    if (rc != 0) {
        log_error(name, "cannot listen on %s port %d: %s", cfg->address, cfg->port,
                  uv_strerror(rc));
        n->n_closing_handles++;
        uv_close((uv_handle_t *)&l->tcp, on_listener_discarded);
        return YB_EIO;
    }
    l->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                       : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    l->is_open = true;
    n->listeners[n->n_listeners++] = l;
    log_info(name, "listening on %s port %d%s", cfg->address, l->port,
             l->tls == LISTEN_DIRECT_TLS ? " (direct TLS)" : "");
    return 0;
}

int
net_listener_port(const struct net *n, size_t index)
{
    if (n == NULL || index >= n->n_listeners)
        return -1;
    return n->listeners[index]->port;
}

void
net_stop_listening(struct net *n)
{
    for (size_t i = 0; i < n->n_listeners; i++) {
        struct listener *l = n->listeners[i];
        if (!l->is_open)
            continue;
        /* The struct stays until net_free(): connections point at it. */
        l->is_open = false;
        l->tcp.data = n;
        n->n_closing_handles++;
        uv_close((uv_handle_t *)&l->tcp, on_handle_closed);
    }
}

void
net_free(struct net *n)
{
    if (n == NULL)
        return;
    net_stop_listening(n);
    /* I/O threads first: their conns' closed() run on this thread, then they stop. */
    net__io_free(n);
    struct list_node *it, *tmp;
    LIST_FOREACH_SAFE(it, tmp, &n->core.conns)
    {
        net__conn_shutdown_now(LIST_ENTRY(it, struct conn, link), true);
    }
    net__loop_close_handles(&n->core, &n->n_closing_handles);
    /* Close callbacks are pending, so these iterations do not block. */
    while (!list_is_empty(&n->core.conns) || n->n_closing_handles > 0)
        uv_run(n->loop, UV_RUN_ONCE);
    for (size_t i = 0; i < n->n_listeners; i++)
        listener_free(n->listeners[i]);
    yb_free(n->listeners);
    net__tls_free_identities(n);
    net__tls_free_client(n);
    uv_mutex_destroy(&n->tls_lock);
    yb_free(n->ca_file);
    net__loop_free_buffers(&n->core);
    yb_free(n);
}
