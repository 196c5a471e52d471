/* SPDX-License-Identifier: MIT
 *
 * fake_net.c: an in-memory implementation of src/net's conn.h and net.h for
 * fuzz_c2s, so that the real server core (c2s, SASL, sessions, router, modules) runs
 * on bytes that no socket carried. Linked as an object file in front of the server
 * library, it takes the place of yb_net's net.c, conn.c and tls.c: the linker then
 * has no reason to pull those archive members, and if the server ever needs a
 * conn_ or net_ function missing here, the duplicate definitions fail the link
 * instead of mixing the two.
 *
 * What it keeps from conn.c, because the core relies on it: handler calls only from
 * here, actions asked for inside a handler (close, STARTTLS, restart, compression)
 * applied when it returns, the parser suspended after the element that asked for a
 * restart and the rest of that read dropped, closed() only from the loop and never
 * inside a conn_* call. What it leaves out: sockets, TLS (a STARTTLS "succeeds" at
 * the peer's next read with made-up channel-binding data), zlib (input is taken as
 * inflated, output kept as plaintext), write batching (output is collected at once).
 */
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "conn.h"
#include "error.h"
#include "fake_net.h"
#include "list.h"
#include "log.h"
#include "net.h"
#include "parser.h"
#include "stanza.h"

#define CONTENT_NS_DEFAULT "jabber:client"
/* Output kept per connection before it counts as a peer that does not read. */
#define FAKE_MAX_OUTPUT (4u * 1024 * 1024)

enum { DEFER_CLOSE = 1, DEFER_STARTTLS = 2, DEFER_RESTART = 4, DEFER_COMPRESS = 8 };
enum fake_state { FAKE_OPEN, FAKE_CLOSING, FAKE_CLOSED };

struct net {
    uv_loop_t *loop;
    struct net_config cfg;
    struct list_node conns;
    unsigned long next_id;
};

struct conn {
    uv_idle_t handle; /* never started: its uv_close callback delivers closed() */
    struct net *net;
    const struct conn_handler *handler;
    void *ud;
    struct parser *parser;
    char *content_ns;
    struct buf out;
    size_t *starts; /* where each stream written starts in out */
    size_t n_starts;
    uint64_t bytes_in;
    unsigned long id;
    unsigned in_handler;
    struct list_node link;
    enum fake_state state;
    enum conn_close_reason why;
    unsigned deferred;
    bool is_feeding, parse_failed, discard_rest;
    bool tls_requested, tls_pending, tls_up, compressed;
    bool gone, released;
};

/* ---- handler calls ---- */

static void
enter(struct conn *c)
{
    c->in_handler++;
}

static void
leave(struct conn *c)
{
    c->in_handler--;
}

static void
on_stream_open(void *ud, const struct xml_node *header, const char *content_ns)
{
    struct conn *c = ud;
    if (c->state != FAKE_OPEN || c->handler->stream_open == NULL)
        return;
    enter(c);
    c->handler->stream_open(c->ud, c, header, content_ns);
    leave(c);
}

static void
on_stanza(void *ud, struct stanza *st)
{
    struct conn *c = ud;
    if (c->state != FAKE_OPEN || c->handler->stanza == NULL) {
        stanza_unref(st);
        return;
    }
    enter(c);
    c->handler->stanza(c->ud, c, st);
    leave(c);
}

static void
on_stream_close(void *ud)
{
    struct conn *c = ud;
    if (c->state != FAKE_OPEN || c->handler->stream_close == NULL)
        return;
    enter(c);
    c->handler->stream_close(c->ud, c);
    leave(c);
}

static void
on_parse_error(void *ud, enum parser_error err, const char *detail)
{
    struct conn *c = ud;
    c->parse_failed = true;
    if (c->state != FAKE_OPEN || c->handler->parse_error == NULL)
        return;
    enter(c);
    c->handler->parse_error(c->ud, c, err, detail);
    leave(c);
}

static const struct parser_callbacks parser_cbs = {
    .stream_open = on_stream_open,
    .stanza = on_stanza,
    .stream_close = on_stream_close,
    .error = on_parse_error,
};

/* ---- closing ---- */

static void
conn_free(struct conn *c)
{
    parser_free(c->parser);
    yb_free(c->content_ns);
    buf_fini(&c->out);
    yb_free(c->starts);
    yb_free(c);
}

static void
on_handle_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    list_remove(&c->link);
    if (c->handler != NULL && c->handler->closed != NULL) {
        enter(c);
        c->handler->closed(c->ud, c, c->why);
        leave(c);
    }
    c->gone = true;
    if (c->released)
        conn_free(c);
}

static void
close_now(struct conn *c, enum conn_close_reason why)
{
    if (c->state == FAKE_CLOSED)
        return;
    c->state = FAKE_CLOSED;
    c->why = why;
    if (c->is_feeding && !c->parse_failed)
        parser_suspend(c->parser);
    uv_close((uv_handle_t *)&c->handle, on_handle_closed);
}

/* ---- restarts ---- */

static void
new_stream(struct conn *c)
{
    size_t *s = yb_realloc(c->starts, (c->n_starts + 1) * sizeof *s);
    if (s == NULL) {
        close_now(c, CONN_CLOSED_ERROR);
        return;
    }
    c->starts = s;
    c->starts[c->n_starts++] = c->out.len;
    if (parser_reset(c->parser) != 0) {
        close_now(c, CONN_CLOSED_ERROR);
        return;
    }
    c->parse_failed = false;
}

static void
defer(struct conn *c, unsigned what)
{
    c->deferred |= what;
    if (c->is_feeding && !c->parse_failed)
        parser_suspend(c->parser);
}

/* As conn.c's conn_apply_deferred(): true when the stream restarted, so the rest of
 * the read is dropped. */
static bool
apply_deferred(struct conn *c)
{
    unsigned d = c->deferred;
    c->deferred = 0;
    if (d == 0 || c->state == FAKE_CLOSED)
        return false;
    if (d & DEFER_CLOSE) {
        close_now(c, c->why);
        return false;
    }
    if (c->state != FAKE_OPEN)
        return false;
    if (d & DEFER_STARTTLS)
        c->tls_pending = true;
    new_stream(c);
    c->discard_rest = true;
    return true;
}

/* ---- input ---- */

static void
parse(struct conn *c, const char *data, size_t len)
{
    if (c->parse_failed || c->discard_rest || c->state != FAKE_OPEN)
        return;
    c->is_feeding = true;
    enum parser_status st = parser_feed(c->parser, data, len);
    c->is_feeding = false;
    while (st == PARSER_SUSPENDED && c->state == FAKE_OPEN) {
        if (apply_deferred(c) || c->state != FAKE_OPEN)
            return;
        c->is_feeding = true;
        st = parser_resume(c->parser);
        c->is_feeding = false;
    }
    if (st == PARSER_FAILED)
        c->parse_failed = true;
    apply_deferred(c);
}

static void
tls_handshake_done(struct conn *c)
{
    static const unsigned char exporter[32] = "fake-tls-exporter-0123456789abcd";
    static const unsigned char end_point[32] = "fake-tls-server-end-point-012345";
    struct conn_tls_info info = {
        .version = "TLSv1.3",
        .cipher = "FAKE",
        .exporter = exporter,
        .exporter_len = sizeof exporter,
        .end_point = end_point,
        .end_point_len = sizeof end_point,
    };
    c->tls_pending = false;
    c->tls_up = true;
    if (c->handler->tls_done != NULL) {
        enter(c);
        c->handler->tls_done(c->ud, c, &info);
        leave(c);
    }
    apply_deferred(c);
}

void
fake_conn_input(struct conn *c, const char *data, size_t len)
{
    if (c->state != FAKE_OPEN)
        return;
    c->discard_rest = false;
    c->bytes_in += len;
    if (c->tls_pending) {
        tls_handshake_done(c);
        if (c->state != FAKE_OPEN)
            return;
    }
    parse(c, data, len);
}

void
fake_conn_eof(struct conn *c)
{
    if (c->state == FAKE_OPEN) {
        c->state = FAKE_CLOSING;
        close_now(c, CONN_CLOSED_PEER);
    }
}

/* ---- the fuzzer's view ---- */

struct conn *
fake_conn_accept(struct net *n, net_accept_fn accept, void *ud)
{
    struct conn *c = yb_calloc(1, sizeof *c);
    c->net = n;
    c->id = ++n->next_id;
    c->state = FAKE_OPEN;
    buf_init(&c->out);
    c->parser = parser_new(&n->cfg.parser, &parser_cbs, c);
    c->starts = yb_calloc(1, sizeof *c->starts);
    c->n_starts = 1;
    uv_idle_init(n->loop, &c->handle);
    c->handle.data = c;
    list_insert_tail(&n->conns, &c->link);
    enter(c);
    c->handler = accept(ud, c, &c->ud);
    leave(c);
    if (c->handler == NULL) {
        c->deferred = 0;
        c->released = true; /* nobody holds it: freed by the close callback */
        close_now(c, CONN_CLOSED_LOCAL);
        return NULL;
    }
    apply_deferred(c);
    return c;
}

bool
fake_conn_gone(const struct conn *c)
{
    return c->gone;
}

const char *
fake_conn_output(const struct conn *c, size_t *len)
{
    *len = c->out.len;
    return c->out.data != NULL ? c->out.data : "";
}

size_t
fake_conn_streams(const struct conn *c)
{
    return c->n_starts;
}

size_t
fake_conn_stream_start(const struct conn *c, size_t i)
{
    return c->starts[i];
}

void
fake_conn_free(struct conn *c)
{
    if (c == NULL)
        return;
    if (c->gone)
        conn_free(c);
    else
        c->released = true;
}

/* ---- conn.h ---- */

static int
queued(struct conn *c)
{
    if (c->out.len > FAKE_MAX_OUTPUT || c->out.len > c->net->cfg.max_output_bytes * 4) {
        close_now(c, CONN_CLOSED_OVERFLOW);
        return YB_ELIMIT;
    }
    return 0;
}

int
conn_send(struct conn *c, struct stanza *st)
{
    if (c->state != FAKE_OPEN) {
        stanza_unref(st);
        return YB_ECLOSED;
    }
    size_t before = c->out.len;
    int rc = stanza_serialize(st, c->content_ns ? c->content_ns : CONTENT_NS_DEFAULT, &c->out);
    stanza_unref(st);
    if (rc != 0) {
        c->out.len = before;
        if (c->out.data != NULL)
            c->out.data[before] = '\0';
        return rc;
    }
    return queued(c);
}

int
conn_send_raw(struct conn *c, const char *data, size_t len)
{
    if (c->state != FAKE_OPEN)
        return YB_ECLOSED;
    int rc = buf_append(&c->out, data, len);
    return rc != 0 ? rc : queued(c);
}

void
conn_set_content_ns(struct conn *c, const char *ns)
{
    yb_free(c->content_ns);
    c->content_ns = ns != NULL && strcmp(ns, CONTENT_NS_DEFAULT) != 0 ? yb_strdup(ns) : NULL;
}

void
conn_starttls(struct conn *c)
{
    if (c->state != FAKE_OPEN || c->tls_requested)
        return;
    c->tls_requested = true;
    if (c->in_handler > 0) {
        defer(c, DEFER_STARTTLS);
        return;
    }
    c->tls_pending = true;
    new_stream(c);
}

int
conn_start_compression(struct conn *c)
{
    if (c->state != FAKE_OPEN)
        return YB_ECLOSED;
    if (c->compressed)
        return YB_EEXIST;
    c->compressed = true;
    if (c->in_handler > 0)
        defer(c, DEFER_COMPRESS);
    else
        new_stream(c);
    return 0;
}

bool
conn_is_compressed(const struct conn *c)
{
    return c->compressed;
}

void
conn_restart_stream(struct conn *c)
{
    if (c->state != FAKE_OPEN)
        return;
    if (c->in_handler > 0)
        defer(c, DEFER_RESTART);
    else
        new_stream(c);
}

void
conn_close(struct conn *c)
{
    if (c->state != FAKE_OPEN)
        return;
    c->state = FAKE_CLOSING;
    c->why = CONN_CLOSED_LOCAL;
    if (c->in_handler > 0)
        defer(c, DEFER_CLOSE);
    else
        close_now(c, CONN_CLOSED_LOCAL);
}

void
conn_abort(struct conn *c)
{
    close_now(c, c->state == FAKE_CLOSING ? c->why : CONN_CLOSED_LOCAL);
}

const char *
conn_peer_ip(const struct conn *c)
{
    (void)c;
    return "127.0.0.1";
}

int
conn_peer_port(const struct conn *c)
{
    return (int)(40000 + c->id % 20000);
}

const char *
conn_listener_name(const struct conn *c)
{
    (void)c;
    return "c2s";
}

bool
conn_is_tls(const struct conn *c)
{
    return c->tls_up;
}

unsigned long
conn_id(const struct conn *c)
{
    return c->id;
}

size_t
conn_pending_output(const struct conn *c)
{
    (void)c;
    return 0; /* the fake peer reads everything at once */
}

bool
conn_is_outgoing(const struct conn *c)
{
    (void)c;
    return false;
}

enum conn_peer_cert
conn_peer_cert_check(const struct conn *c, const char *domain, bool *name_ok, char *detail,
                     size_t detail_len)
{
    (void)c;
    (void)domain;
    *name_ok = false;
    if (detail != NULL && detail_len > 0)
        snprintf(detail, detail_len, "no certificate (fake net)");
    return CONN_CERT_NONE;
}

uint64_t
conn_bytes_received(const struct conn *c)
{
    return c->bytes_in;
}

/* ---- net.h ---- */

struct net *
net_new(uv_loop_t *loop, const struct net_config *cfg)
{
    struct net *n = yb_calloc(1, sizeof *n);
    n->loop = loop;
    n->cfg = *cfg;
    list_init(&n->conns);
    return n;
}

void
net_free(struct net *n)
{
    if (n == NULL)
        return;
    struct list_node *node;
    LIST_FOREACH(node, &n->conns)
    {
        close_now(LIST_ENTRY(node, struct conn, link), CONN_CLOSED_LOCAL);
    }
    while (!list_is_empty(&n->conns))
        uv_run(n->loop, UV_RUN_NOWAIT);
    yb_free(n);
}

int
net_tls_add_identity(struct net *n, const char *domain, const char *cert_file, const char *key_file)
{
    (void)n;
    (void)domain;
    (void)cert_file;
    (void)key_file;
    return 0;
}

bool
net_tls_has_identity(struct net *n, const char *domain)
{
    (void)n;
    (void)domain;
    return true;
}

void
net_tls_clear_identities(struct net *n)
{
    (void)n;
}

int
net_listen(struct net *n, const struct listen_config *cfg, net_accept_fn accept, void *ud)
{
    (void)n;
    (void)cfg;
    (void)accept;
    (void)ud;
    return YB_EIO; /* the fuzzer accepts its connections itself */
}

int
net_listener_port(const struct net *n, size_t index)
{
    (void)n;
    (void)index;
    return -1;
}

void
net_stop_listening(struct net *n)
{
    (void)n;
}

struct conn *
net_connect(struct net *n, const struct connect_config *cfg, const struct conn_handler *h, void *ud)
{
    (void)n;
    (void)h;
    (void)ud;
    log_error(cfg->name ? cfg->name : "out", "no outgoing connections on the fake net");
    return NULL;
}

int
net_tls_generate_self_signed(const char *domain, const char *cert_file, const char *key_file,
                             int days)
{
    (void)domain;
    (void)cert_file;
    (void)key_file;
    (void)days;
    return YB_EIO;
}
