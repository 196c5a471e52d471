/* SPDX-License-Identifier: MIT
 *
 * io.c: I/O threads (io_threads > 0, DESIGN.md §2). Each thread runs its own libuv
 * loop with a share of the connections (round robin): socket reads and writes, TLS,
 * zlib and XML parsing. The seam is two queues: events (parsed stanzas, stream
 * header, TLS done, closed) go to the core thread, posted once per I/O loop
 * iteration with one wake-up; commands (serialised output, STARTTLS, restart,
 * compression, close) go to the I/O thread, handed over once per core loop iteration
 * with one wake-up per thread. The core serialises outgoing stanzas itself, so a
 * stanza never crosses threads outbound. Never touches sessions or routing.
 * See docs/internals/threads.md.
 */
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alloc.h"
#include "error.h"
#include "internal.h"
#include "log.h"
#include "stanza.h"

enum net_cmd_kind {
    CMD_ADOPT,    /* a socket accepted by the core */
    CMD_CONNECT,  /* start net_connect's connection */
    CMD_SEND,     /* serialised output */
    CMD_STARTTLS, /* conn_starttls() */
    CMD_RESTART,  /* conn_restart_stream() */
    CMD_COMPRESS, /* conn_start_compression(); carries the zlib state */
    CMD_RESUME,   /* the core has handled a gated event: parse on */
    CMD_CLOSE,    /* conn_close() */
    CMD_ABORT,    /* conn_abort() or output overflow */
    CMD_FREE,     /* the core's closed() has run: free the struct */
    CMD_SHUTDOWN, /* net_free(): close every connection of the thread */
    CMD_STOP,     /* net_free(): end the thread */
    CMD_CALL,     /* tests: run a function on the thread */
};

struct net_connect_addrs {
    struct sockaddr_storage to, from;
    bool has_from;
};

struct net_cmd {
    struct list_node link;
    enum net_cmd_kind kind;
    struct conn *c;
    union {
        struct {
            char *data;
            size_t len;
        } send;
        uv_os_sock_t fd;
        struct net__zlib *zlib;
        int why; /* CMD_ABORT: enum conn_close_reason, or -1 as conn_abort() */
        struct net_connect_addrs *addrs;
        struct {
            void (*fn)(struct conn *, void *);
            void *arg;
            uv_sem_t *done;
        } call;
    } u;
};

struct net_io {
    struct net_loop nl;
    uv_loop_t loop;
    uv_thread_t thread;
    uv_async_t wake;          /* the core handed over commands */
    uv_prepare_t post;        /* before the loop sleeps: hand this iteration's events over */
    uv_mutex_t lock;          /* guards cmds */
    struct list_node cmds;    /* from the core, not yet run */
    struct list_node pending; /* core thread only: commands not yet handed over */
    struct list_node events;  /* I/O thread only: events not yet handed over */
    unsigned n_closing;       /* handles of this loop whose close callback is due */
};

/* A finished handshake, copied for the core. */
struct net_tls_event {
    struct conn_tls_info info;
    struct net__tls_info_storage st;
    char version[32];
    char cipher[128];
    char sni[256];
    X509 *peer_cert;
    long verify_result;
    bool has_sni, have_store;
};

struct net_event {
    struct list_node link;
    enum conn_event_kind kind;
    struct conn *c;
    bool gated; /* the I/O thread holds c's parser until a command answers */
    union {
        struct stanza *st;
        struct {
            struct stanza *header;
            char *content_ns;
        } open;
        struct {
            enum parser_error err;
            char *detail;
        } error;
        enum conn_close_reason why;
        struct net_tls_event *tls;
    } u;
};

/* Moves every node of from to the end of to, in O(1). */
static void
list_splice_tail(struct list_node *to, struct list_node *from)
{
    if (list_is_empty(from))
        return;
    struct list_node *first = from->next, *last = from->prev;
    first->prev = to->prev;
    to->prev->next = first;
    last->next = to;
    to->prev = last;
    list_init(from);
}

/* Core side: commands. */

static void on_cmd_flush(uv_prepare_t *h);

static struct net_cmd *
cmd_new(enum net_cmd_kind kind, struct conn *c)
{
    struct net_cmd *cmd = yb_calloc(1, sizeof *cmd);
    if (cmd != NULL) {
        cmd->kind = kind;
        cmd->c = c;
    }
    return cmd;
}

static void
io_push(struct net *n, struct net_io *io, struct net_cmd *cmd)
{
    if (cmd == NULL)
        return; /* OOM: only the shared library gets here; the server aborts */
    list_insert_tail(&io->pending, &cmd->link);
    if (!n->cmd_flush_on) {
        n->cmd_flush_on = true;
        uv_prepare_start(&n->cmd_flush, on_cmd_flush);
    }
}

/* c's serialised output becomes one SEND command. */
static void
core_hand_output(struct conn *c)
{
    struct conn_core *k = c->core;
    if (k->is_dirty) {
        list_remove(&k->dirty);
        k->is_dirty = false;
    }
    size_t len = k->out.len;
    if (len == 0)
        return;
    struct net_cmd *cmd = cmd_new(CMD_SEND, c);
    if (cmd == NULL)
        return;
    cmd->u.send.len = len;
    cmd->u.send.data = buf_steal(&k->out);
    atomic_fetch_add(&k->queued, len);
    io_push(c->net, c->io, cmd);
}

/* Every command for c goes after the output queued before it. */
static void
core_cmd(struct conn *c, enum net_cmd_kind kind)
{
    core_hand_output(c);
    io_push(c->net, c->io, cmd_new(kind, c));
}

static void
core_cmd_compress(struct conn *c, struct net__zlib *z)
{
    core_hand_output(c);
    struct net_cmd *cmd = cmd_new(CMD_COMPRESS, c);
    if (cmd == NULL) {
        net__zlib_free(z);
        return;
    }
    cmd->u.zlib = z;
    io_push(c->net, c->io, cmd);
}

/* As with io_threads = 0, a STARTTLS, restart, compression or close asked inside a
 * handler takes effect when it returns: after all the output it queued (the
 * <proceed/>, <success/>, <compressed/>). */
static void
core_defer(struct conn *c, unsigned action)
{
    c->core->deferred |= (uint8_t)action;
}

static void
core_apply_deferred(struct conn *c)
{
    struct conn_core *k = c->core;
    unsigned d = k->deferred;
    k->deferred = 0;
    struct net__zlib *z = k->zlib;
    k->zlib = NULL;
    if (d & CONN_DEFER_CLOSE)
        core_cmd(c, CMD_CLOSE);
    else if (k->state != CONN_OPEN)
        ;
    else if (d & CONN_DEFER_STARTTLS)
        core_cmd(c, CMD_STARTTLS);
    else if (d & CONN_DEFER_COMPRESS) {
        core_cmd_compress(c, z);
        z = NULL;
    } else if (d & CONN_DEFER_RESTART)
        core_cmd(c, CMD_RESTART);
    net__zlib_free(z);
}

static void
hand_all(struct net *n)
{
    while (!list_is_empty(&n->core_dirty))
        core_hand_output(LIST_ENTRY(n->core_dirty.next, struct conn_core, dirty)->conn);
    for (unsigned i = 0; i < n->n_io; i++) {
        struct net_io *io = &n->io[i];
        if (list_is_empty(&io->pending))
            continue;
        uv_mutex_lock(&io->lock);
        list_splice_tail(&io->cmds, &io->pending);
        uv_mutex_unlock(&io->lock);
        uv_async_send(&io->wake);
    }
}

/* Before the core loop sleeps: one hand-over and one wake-up per I/O thread. */
static void
on_cmd_flush(uv_prepare_t *h)
{
    struct net *n = h->data;
    hand_all(n);
    uv_prepare_stop(h);
    n->cmd_flush_on = false;
}

static void
live_inc(struct net *n)
{
    /* Like a socket handle with io_threads = 0, a live conn keeps the loop alive. */
    if (n->n_live++ == 0)
        uv_ref((uv_handle_t *)&n->ev_wake);
}

static void
live_dec(struct net *n)
{
    if (--n->n_live == 0)
        uv_unref((uv_handle_t *)&n->ev_wake);
}

/* Gives c its I/O thread and core-side state. Returns 0 or YB_ENOMEM. */
static int
core_assign(struct conn *c)
{
    struct net *n = c->net;
    struct conn_core *k = yb_calloc(1, sizeof *k);
    if (k == NULL)
        return YB_ENOMEM;
    k->conn = c;
    buf_init(&k->out);
    list_init(&k->dirty);
    k->state = CONN_OPEN;
    atomic_init(&k->queued, 0);
    atomic_init(&k->io_pending, 0);
    atomic_init(&k->bytes_in, 0);
    c->core = k;
    c->io = &n->io[n->next_io++ % n->n_io];
    c->nl = &c->io->nl;
    live_inc(n);
    return 0;
}

static bool
has_any_identity(struct net *n)
{
    uv_mutex_lock(&n->tls_lock);
    bool any = n->n_ids > 0;
    uv_mutex_unlock(&n->tls_lock);
    return any;
}

static void
on_tmp_closed(uv_handle_t *h)
{
    yb_free(h);
}

void
net__io_accept(struct listener *l)
{
    struct net *n = l->net;
    char who[NET_WHO_BYTES];
    /* Accept on the core loop, then hand the descriptor over: a libuv handle
     * belongs to one loop. */
    uv_tcp_t *tmp = yb_malloc(sizeof *tmp);
    if (tmp == NULL)
        return;
    uv_tcp_init(n->loop, tmp);
    int rc = uv_accept((uv_stream_t *)&l->tcp, (uv_stream_t *)tmp);
    uv_os_fd_t fd = -1;
    if (rc == 0)
        rc = uv_fileno((uv_handle_t *)tmp, &fd);
    int own = rc == 0 ? dup(fd) : -1;
    uv_close((uv_handle_t *)tmp, on_tmp_closed);
    if (own < 0) {
        log_warn(l->name, "accept failed: %s", rc != 0 ? uv_strerror(rc) : "dup");
        return;
    }
    if (l->tls == LISTEN_DIRECT_TLS && !has_any_identity(n)) {
        /* As with io_threads = 0: closed before the core hears of it. */
        log_error(l->name, "TLS requested but no certificate is configured");
        close(own);
        return;
    }
    struct conn *c = net__conn_alloc(n);
    if (c == NULL || core_assign(c) != 0) {
        log_error(l->name, "out of memory accepting a connection");
        yb_free(c);
        close(own);
        return;
    }
    c->listener = l;
    c->core->tls_asked = l->tls == LISTEN_DIRECT_TLS;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    memset(&ss, 0, sizeof ss);
    if (getpeername(own, (struct sockaddr *)&ss, &len) == 0)
        net__conn_set_peer_addr(c, &ss);
    else
        strcpy(c->peer_ip, "?");
    net__conn_who(c, who);
    /* First in c's queue: every command the accept function issues follows. */
    struct net_cmd *cmd = cmd_new(CMD_ADOPT, c);
    if (cmd != NULL)
        cmd->u.fd = own;
    io_push(n, c->io, cmd);
    c->core->in_handler++;
    c->handler = l->accept(l->ud, c, &c->ud);
    c->core->in_handler--;
    if (c->handler != NULL)
        core_apply_deferred(c);
    if (c->handler == NULL) {
        c->core->deferred = 0;
        net__zlib_free(c->core->zlib);
        c->core->zlib = NULL;
        log_debug(who, "refused connection from %s port %u", c->peer_ip, c->peer_port);
        c->core->state = CONN_CLOSING;
        buf_fini(&c->core->out);
        core_hand_output(c);
        struct net_cmd *ab = cmd_new(CMD_ABORT, c);
        if (ab != NULL)
            ab->u.why = CONN_CLOSED_LOCAL;
        io_push(n, c->io, ab);
        return;
    }
    log_debug(who, "connection from %s port %u", c->peer_ip, c->peer_port);
}

void
net__io_connect(struct conn *c, const struct sockaddr_storage *to,
                const struct sockaddr_storage *from)
{
    struct net_connect_addrs *a = yb_calloc(1, sizeof *a);
    struct net_cmd *cmd = cmd_new(CMD_CONNECT, c);
    if (a == NULL || cmd == NULL || core_assign(c) != 0) {
        /* Only without abort-on-OOM: the conn is lost. */
        yb_free(a);
        yb_free(cmd);
        return;
    }
    c->core->tls_asked = c->outgoing->direct_tls;
    a->to = *to;
    if (from != NULL) {
        a->from = *from;
        a->has_from = true;
    }
    cmd->u.addrs = a;
    io_push(c->net, c->io, cmd);
}

/* Core side: the conn_* calls. */

/* After output was added to c->core->out. */
static int
core_queued(struct conn *c)
{
    struct conn_core *k = c->core;
    struct net *n = c->net;
    size_t total = k->out.len + atomic_load(&k->queued) + atomic_load(&k->io_pending);
    if (total > n->cfg.max_output_bytes) {
        char who[NET_WHO_BYTES];
        log_warn(net__conn_who(c, who), "output above %zu bytes (peer not reading): aborting",
                 n->cfg.max_output_bytes);
        k->state = CONN_CLOSING;
        k->deferred = 0;
        buf_fini(&k->out);
        core_hand_output(c);
        struct net_cmd *cmd = cmd_new(CMD_ABORT, c);
        if (cmd != NULL)
            cmd->u.why = CONN_CLOSED_OVERFLOW;
        io_push(n, c->io, cmd);
        return YB_ELIMIT;
    }
    if (!k->is_dirty) {
        list_insert_tail(&n->core_dirty, &k->dirty);
        k->is_dirty = true;
        if (!n->cmd_flush_on) {
            n->cmd_flush_on = true;
            uv_prepare_start(&n->cmd_flush, on_cmd_flush);
        }
    }
    return 0;
}

int
net__io_send(struct conn *c, struct stanza *st, const char *ns)
{
    struct conn_core *k = c->core;
    if (k->state != CONN_OPEN) {
        stanza_unref(st);
        return YB_ECLOSED;
    }
    size_t before = k->out.len;
    int rc = stanza_serialize(st, ns, &k->out);
    stanza_unref(st);
    if (rc != 0) {
        k->out.len = before;
        if (k->out.data != NULL)
            k->out.data[before] = '\0';
        return rc;
    }
    return core_queued(c);
}

int
net__io_send_raw(struct conn *c, const char *data, size_t len)
{
    if (c->core->state != CONN_OPEN)
        return YB_ECLOSED;
    int rc = buf_append(&c->core->out, data, len);
    if (rc != 0)
        return rc;
    return core_queued(c);
}

void
net__io_starttls(struct conn *c)
{
    struct conn_core *k = c->core;
    if (k->state != CONN_OPEN)
        return;
    if (k->tls_asked) {
        char who[NET_WHO_BYTES];
        log_warn(net__conn_who(c, who), "STARTTLS on a TLS connection: ignored");
        return;
    }
    k->tls_asked = true;
    if (k->in_handler > 0)
        core_defer(c, CONN_DEFER_STARTTLS);
    else
        core_cmd(c, CMD_STARTTLS);
}

int
net__io_start_compression(struct conn *c)
{
    struct conn_core *k = c->core;
    if (k->state != CONN_OPEN)
        return YB_ECLOSED;
    if (k->compressed)
        return YB_EEXIST;
    /* Made here so that the core can answer <failure><setup-failed/> at once. */
    struct net__zlib *z = net__zlib_new();
    if (z == NULL)
        return YB_ENOMEM;
    k->compressed = true;
    if (k->in_handler > 0) {
        k->zlib = z;
        core_defer(c, CONN_DEFER_COMPRESS);
    } else {
        core_cmd_compress(c, z);
    }
    return 0;
}

void
net__io_restart(struct conn *c)
{
    if (c->core->state != CONN_OPEN)
        return;
    if (c->core->in_handler > 0)
        core_defer(c, CONN_DEFER_RESTART);
    else
        core_cmd(c, CMD_RESTART);
}

void
net__io_close(struct conn *c)
{
    if (c->core->state != CONN_OPEN)
        return;
    c->core->state = CONN_CLOSING;
    if (c->core->in_handler > 0)
        core_defer(c, CONN_DEFER_CLOSE);
    else
        core_cmd(c, CMD_CLOSE);
}

void
net__io_abort(struct conn *c)
{
    struct conn_core *k = c->core;
    if (k->state == CONN_CLOSED)
        return;
    k->state = CONN_CLOSING;
    k->deferred = 0;
    buf_fini(&k->out); /* dropped, as with io_threads = 0 */
    core_hand_output(c);
    struct net_cmd *cmd = cmd_new(CMD_ABORT, c);
    if (cmd != NULL)
        cmd->u.why = -1;
    io_push(c->net, c->io, cmd);
}

void
net__conn_call(struct conn *c, void (*fn)(struct conn *, void *), void *arg)
{
    if (c->io == NULL) {
        fn(c, arg);
        return;
    }
    uv_sem_t done;
    uv_sem_init(&done, 0);
    struct net_cmd *cmd = cmd_new(CMD_CALL, c);
    if (cmd == NULL) {
        uv_sem_destroy(&done);
        return;
    }
    cmd->u.call.fn = fn;
    cmd->u.call.arg = arg;
    cmd->u.call.done = &done;
    /* Straight to the thread, ahead of what the core has not handed over yet, so
     * that a test's look does not change how output is batched. */
    uv_mutex_lock(&c->io->lock);
    list_insert_tail(&c->io->cmds, &cmd->link);
    uv_mutex_unlock(&c->io->lock);
    uv_async_send(&c->io->wake);
    uv_sem_wait(&done);
    uv_sem_destroy(&done);
}

/* Core side: events. */

static void
event_free(struct net_event *e)
{
    switch (e->kind) {
    case CONN_EV_TLS_DONE:
        if (e->u.tls != NULL)
            X509_free(e->u.tls->peer_cert);
        yb_free(e->u.tls);
        break;
    case CONN_EV_STREAM_OPEN:
        stanza_unref(e->u.open.header);
        yb_free(e->u.open.content_ns);
        break;
    case CONN_EV_STANZA:
        stanza_unref(e->u.st);
        break;
    case CONN_EV_PARSE_ERROR:
        yb_free(e->u.error.detail);
        break;
    default:
        break;
    }
    yb_free(e);
}

static void
core_tls_done(struct conn *c, struct net_event *e, bool live)
{
    struct conn_core *k = c->core;
    struct net_tls_event *t = e->u.tls;
    k->tls_up = true;
    X509_free(k->peer_cert);
    k->peer_cert = t->peer_cert; /* taken */
    t->peer_cert = NULL;
    k->verify_result = t->verify_result;
    k->have_ca_store = t->have_store;
    if (!live || c->handler->tls_done == NULL)
        return;
    struct conn_tls_info info = t->info;
    info.version = t->version;
    info.cipher = t->cipher;
    info.sni = t->has_sni ? t->sni : NULL;
    info.alpn = t->info.alpn != NULL ? t->st.alpn : NULL;
    info.exporter = t->info.exporter != NULL ? t->st.exporter : NULL;
    info.unique = t->info.unique != NULL ? t->st.unique : NULL;
    info.end_point = t->info.end_point != NULL ? t->st.end_point : NULL;
    c->handler->tls_done(c->ud, c, &info);
}

static void
core_closed(struct conn *c, enum conn_close_reason why)
{
    struct conn_core *k = c->core;
    k->state = CONN_CLOSED;
    if (k->is_dirty) {
        list_remove(&k->dirty);
        k->is_dirty = false;
    }
    buf_fini(&k->out);
    if (c->handler != NULL && c->handler->closed != NULL)
        c->handler->closed(c->ud, c, why);
    X509_free(k->peer_cert);
    k->peer_cert = NULL;
    net__zlib_free(k->zlib);
    k->zlib = NULL;
    /* After every command the core queued for c: the I/O thread frees it. */
    io_push(c->net, c->io, cmd_new(CMD_FREE, c));
    live_dec(c->net);
}

/* The conn_handler call for one event, as conn_dispatch() makes it with
 * io_threads = 0. Events for a conn the core is closing are dropped. */
static void
core_dispatch(struct net_event *e)
{
    struct conn *c = e->c;
    const struct conn_handler *h = c->handler;
    bool live = h != NULL && c->core->state == CONN_OPEN;
    if (e->kind == CONN_EV_CLOSED) {
        core_closed(c, e->u.why);
        return;
    }
    c->core->in_handler++;
    switch (e->kind) {
    case CONN_EV_TLS_DONE:
        core_tls_done(c, e, live);
        break;
    case CONN_EV_STREAM_OPEN:
        if (live && h->stream_open != NULL)
            h->stream_open(c->ud, c, stanza_root(e->u.open.header), e->u.open.content_ns);
        break;
    case CONN_EV_STANZA:
        if (live && h->stanza != NULL) {
            struct stanza *st = e->u.st;
            e->u.st = NULL;
            h->stanza(c->ud, c, st);
        }
        break;
    case CONN_EV_STREAM_CLOSE:
        if (live && h->stream_close != NULL)
            h->stream_close(c->ud, c);
        break;
    case CONN_EV_PARSE_ERROR:
        if (live && h->parse_error != NULL)
            h->parse_error(c->ud, c, e->u.error.err, e->u.error.detail);
        break;
    case CONN_EV_CONNECTED:
        if (live && h->connected != NULL)
            h->connected(c->ud, c);
        break;
    case CONN_EV_CLOSED:
        break;
    }
    c->core->in_handler--;
    core_apply_deferred(c);
    /* The answer to a gated event: after the commands the handler queued. The
     * I/O thread drops what it held if one of them restarted the stream. */
    if (e->gated && c->core->state == CONN_OPEN)
        core_cmd(c, CMD_RESUME);
}

/* One wake-up per batch: every event queued so far. */
static void
on_ev_wake(uv_async_t *h)
{
    struct net *n = h->data;
    struct list_node batch;
    list_init(&batch);
    uv_mutex_lock(&n->ev_lock);
    list_splice_tail(&batch, &n->ev_queue);
    uv_mutex_unlock(&n->ev_lock);
    while (!list_is_empty(&batch)) {
        struct net_event *e = LIST_ENTRY(batch.next, struct net_event, link);
        list_remove(&e->link);
        core_dispatch(e);
        event_free(e);
    }
}

/* I/O thread side. */

static bool
is_plain_stanza(const struct stanza *st)
{
    const char *name = stanza_name(st);
    return strcmp(name, "message") == 0 || strcmp(name, "presence") == 0 || strcmp(name, "iq") == 0;
}

static struct net_tls_event *
tls_event_new(struct conn *c, const struct conn_tls_info *info)
{
    struct net_tls_event *t = yb_calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->info = *info;
    snprintf(t->version, sizeof t->version, "%s", info->version ? info->version : "");
    snprintf(t->cipher, sizeof t->cipher, "%s", info->cipher ? info->cipher : "");
    if (info->sni != NULL) {
        snprintf(t->sni, sizeof t->sni, "%s", info->sni);
        t->has_sni = true;
    }
    if (info->alpn != NULL)
        snprintf(t->st.alpn, sizeof t->st.alpn, "%s", info->alpn);
    if (info->exporter != NULL && info->exporter_len <= sizeof t->st.exporter)
        memcpy(t->st.exporter, info->exporter, info->exporter_len);
    if (info->unique != NULL && info->unique_len <= sizeof t->st.unique)
        memcpy(t->st.unique, info->unique, info->unique_len);
    if (info->end_point != NULL && info->end_point_len <= sizeof t->st.end_point)
        memcpy(t->st.end_point, info->end_point, info->end_point_len);
    /* The core checks the certificate later (conn_peer_cert_check); an X509 that
     * nobody changes may be read from any thread. */
    t->peer_cert = SSL_get1_peer_certificate(c->ssl);
    t->verify_result = SSL_get_verify_result(c->ssl);
    uv_mutex_lock(&c->net->tls_lock);
    t->have_store = c->net->ca_store != NULL;
    uv_mutex_unlock(&c->net->tls_lock);
    return t;
}

bool
net__io_post(struct conn *c, const struct conn_event *ev)
{
    struct net_event *e = yb_calloc(1, sizeof *e);
    if (e == NULL) {
        if (ev->kind == CONN_EV_STANZA)
            stanza_unref(ev->u.st);
        return false;
    }
    e->kind = ev->kind;
    e->c = c;
    switch (ev->kind) {
    case CONN_EV_TLS_DONE:
        e->u.tls = tls_event_new(c, ev->u.tls);
        break;
    case CONN_EV_STREAM_OPEN:
        /* The header is the parser's; the core gets its own copy. */
        e->u.open.header = stanza_from_node(ev->u.open.header);
        e->u.open.content_ns = yb_strdup(ev->u.open.content_ns ? ev->u.open.content_ns : "");
        e->gated = true;
        break;
    case CONN_EV_STANZA:
        e->u.st = ev->u.st; /* handed over: the core owns it now */
        e->gated = !is_plain_stanza(ev->u.st);
        break;
    case CONN_EV_STREAM_CLOSE:
        /* Input after the stream's end (the TLS close_notify, the FIN) waits for
         * the core's conn_close(), so the close reason is as with io_threads = 0. */
        e->gated = true;
        break;
    case CONN_EV_PARSE_ERROR:
        e->u.error.err = ev->u.error.err;
        e->u.error.detail = ev->u.error.detail ? yb_strdup(ev->u.error.detail) : NULL;
        break;
    case CONN_EV_CLOSED:
        e->u.why = ev->u.why;
        break;
    default:
        break;
    }
    if ((e->kind == CONN_EV_TLS_DONE && e->u.tls == NULL) ||
        (e->kind == CONN_EV_STREAM_OPEN &&
         (e->u.open.header == NULL || e->u.open.content_ns == NULL))) {
        /* Only without abort-on-OOM; the stream cannot go on. */
        event_free(e);
        return false;
    }
    list_insert_tail(&c->io->events, &e->link);
    return e->gated;
}

void
net__io_note_pending(struct conn *c)
{
    size_t n = c->out.len + c->in_flight;
    if (c->ssl != NULL)
        n += BIO_ctrl_pending(SSL_get_wbio(c->ssl));
    atomic_store(&c->core->io_pending, n);
}

/* Before the I/O loop sleeps: this iteration's events, one wake-up. */
static void
on_io_post(uv_prepare_t *h)
{
    struct net_io *io = h->data;
    struct net *n = io->nl.net;
    if (list_is_empty(&io->events))
        return;
    uv_mutex_lock(&n->ev_lock);
    list_splice_tail(&n->ev_queue, &io->events);
    uv_mutex_unlock(&n->ev_lock);
    uv_async_send(&n->ev_wake);
}

static void
on_io_handle_closed(uv_handle_t *h)
{
    struct net_io *io = h->data;
    io->n_closing--;
}

static void
io_stop(struct net_io *io)
{
    io->wake.data = io;
    io->post.data = io;
    io->n_closing += 2;
    uv_close((uv_handle_t *)&io->wake, on_io_handle_closed);
    uv_close((uv_handle_t *)&io->post, on_io_handle_closed);
    net__loop_close_handles(&io->nl, &io->n_closing);
}

static void
run_cmd(struct net_io *io, struct net_cmd *cmd)
{
    struct conn *c = cmd->c;
    switch (cmd->kind) {
    case CMD_ADOPT:
        net__conn_adopt(c, cmd->u.fd);
        break;
    case CMD_CONNECT:
        net__conn_start_connect(c, &cmd->u.addrs->to,
                                cmd->u.addrs->has_from ? &cmd->u.addrs->from : NULL);
        yb_free(cmd->u.addrs);
        break;
    case CMD_SEND:
        atomic_fetch_sub(&c->core->queued, cmd->u.send.len);
        net__conn_take_output(c, cmd->u.send.data, cmd->u.send.len);
        break;
    case CMD_STARTTLS:
        net__conn_cmd_starttls(c);
        break;
    case CMD_RESTART:
        net__conn_cmd_restart(c);
        break;
    case CMD_COMPRESS:
        net__conn_cmd_compress(c, cmd->u.zlib);
        break;
    case CMD_RESUME:
        net__conn_cmd_resume(c);
        break;
    case CMD_CLOSE:
        net__conn_cmd_close(c);
        break;
    case CMD_ABORT:
        net__conn_cmd_abort(c, cmd->u.why);
        break;
    case CMD_FREE:
        net__conn_free_rest(c);
        break;
    case CMD_SHUTDOWN: {
        struct list_node *it, *tmp;
        LIST_FOREACH_SAFE(it, tmp, &io->nl.conns)
        {
            net__conn_shutdown_now(LIST_ENTRY(it, struct conn, link), true);
        }
        break;
    }
    case CMD_STOP:
        io_stop(io);
        break;
    case CMD_CALL:
        cmd->u.call.fn(c, cmd->u.call.arg);
        uv_sem_post(cmd->u.call.done);
        break;
    }
}

static void
on_io_wake(uv_async_t *h)
{
    struct net_io *io = h->data;
    struct list_node batch;
    list_init(&batch);
    uv_mutex_lock(&io->lock);
    list_splice_tail(&batch, &io->cmds);
    uv_mutex_unlock(&io->lock);
    while (!list_is_empty(&batch)) {
        struct net_cmd *cmd = LIST_ENTRY(batch.next, struct net_cmd, link);
        list_remove(&cmd->link);
        run_cmd(io, cmd);
        yb_free(cmd);
    }
}

static void
io_main(void *arg)
{
    struct net_io *io = arg;
    uv_run(&io->loop, UV_RUN_DEFAULT);
}

int
net__io_start(struct net *n, unsigned n_threads)
{
    n->io = yb_calloc(n_threads, sizeof *n->io);
    if (n->io == NULL)
        return YB_ENOMEM;
    uv_mutex_init(&n->ev_lock);
    list_init(&n->ev_queue);
    list_init(&n->core_dirty);
    uv_async_init(n->loop, &n->ev_wake, on_ev_wake);
    n->ev_wake.data = n;
    uv_unref((uv_handle_t *)&n->ev_wake);
    uv_prepare_init(n->loop, &n->cmd_flush);
    n->cmd_flush.data = n;
    for (unsigned i = 0; i < n_threads; i++) {
        struct net_io *io = &n->io[i];
        if (uv_loop_init(&io->loop) != 0 || net__loop_init(&io->nl, n, &io->loop) != 0)
            return YB_ENOMEM; /* the server aborts on OOM; not unwound */
        io->nl.io = io;
        uv_mutex_init(&io->lock);
        list_init(&io->cmds);
        list_init(&io->pending);
        list_init(&io->events);
        uv_async_init(&io->loop, &io->wake, on_io_wake);
        io->wake.data = io;
        uv_prepare_init(&io->loop, &io->post);
        io->post.data = io;
        uv_prepare_start(&io->post, on_io_post);
        n->n_io = i + 1;
        if (uv_thread_create(&io->thread, io_main, io) != 0)
            return YB_EIO;
    }
    log_info("net", "%u I/O threads", n_threads);
    return 0;
}

static void
on_core_handle_closed(uv_handle_t *h)
{
    struct net *n = h->data;
    n->n_closing_handles--;
}

void
net__io_free(struct net *n)
{
    if (n->io == NULL)
        return;
    n->stopping = true;
    /* Every conn closes on its thread; their closed() run here, then their FREE
     * commands go out ahead of STOP. */
    for (unsigned i = 0; i < n->n_io; i++)
        io_push(n, &n->io[i], cmd_new(CMD_SHUTDOWN, NULL));
    hand_all(n);
    while (n->n_live > 0)
        uv_run(n->loop, UV_RUN_ONCE);
    for (unsigned i = 0; i < n->n_io; i++)
        io_push(n, &n->io[i], cmd_new(CMD_STOP, NULL));
    hand_all(n);
    for (unsigned i = 0; i < n->n_io; i++) {
        struct net_io *io = &n->io[i];
        uv_thread_join(&io->thread);
        if (uv_loop_close(&io->loop) != 0)
            log_warn("net", "I/O thread %u: handles left on its loop", i);
        uv_mutex_destroy(&io->lock);
        net__loop_free_buffers(&io->nl);
    }
    /* Events posted after the last closed() (none expected) are dropped. */
    while (!list_is_empty(&n->ev_queue)) {
        struct net_event *e = LIST_ENTRY(n->ev_queue.next, struct net_event, link);
        list_remove(&e->link);
        event_free(e);
    }
    uv_mutex_destroy(&n->ev_lock);
    n->ev_wake.data = n;
    n->cmd_flush.data = n;
    n->n_closing_handles += 2;
    uv_close((uv_handle_t *)&n->ev_wake, on_core_handle_closed);
    uv_close((uv_handle_t *)&n->cmd_flush, on_core_handle_closed);
    yb_free(n->io);
    n->io = NULL;
    n->n_io = 0;
}
