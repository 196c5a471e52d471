/* SPDX-License-Identifier: MIT
 *
 * conn.c: one XML stream connection: socket reads through TLS (memory BIOs) and, once
 * XEP-0138 compression is on, zlib into the stream parser, parser events out to the
 * core's handler, queued output back through zlib and TLS into batched writes, and
 * the close sequence (flush, close_notify, FIN, linger).
 * Handler calls happen in conn_dispatch() only: that is where I/O threads will queue
 * events to the core thread. Never touches sessions or routing (DESIGN.md §2).
 */
#include <assert.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include <openssl/buffer.h>
#include <openssl/err.h>

#include "alloc.h"
#include "error.h"
#include "internal.h"
#include "log.h"
#include "parser.h"
#include "stanza.h"

#define CONTENT_NS_DEFAULT "jabber:client"

/* Owns its bytes: either inline after the struct (TLS records) or a stolen plaintext
 * buffer (heap). */
struct write_req {
    uv_write_t req;
    size_t len;
    char *heap;
};

static unsigned long conn_next_id;

static void conn_begin_close(struct conn *c);
static void conn_close_now(struct conn *c, enum conn_close_reason why);
static void conn_tls_fail(struct conn *c, const char *what);

const char *
net__conn_who(const struct conn *c, char *buf)
{
    snprintf(buf, NET_WHO_BYTES, "%s#%lu", conn_listener_name(c), c->id);
    return buf;
}

static const char *
close_reason_name(enum conn_close_reason why)
{
    switch (why) {
    case CONN_CLOSED_LOCAL:
        return "local";
    case CONN_CLOSED_PEER:
        return "peer";
    case CONN_CLOSED_TLS:
        return "tls";
    case CONN_CLOSED_OVERFLOW:
        return "overflow";
    case CONN_CLOSED_ERROR:
        return "error";
    case CONN_CLOSED_CONNECT:
        return "connect failed";
    }
    return "?";
}

static void conn_await(struct conn *c);

/* The one place where handler functions are called. Calls made by the handler on c
 * while in_handler > 0 that cannot run inside a parser callback are deferred and
 * applied by the caller of this function (conn_apply_deferred). */
static void
conn_dispatch(struct conn *c, const struct conn_event *ev)
{
    if (c->io != NULL) {
        if (net__io_post(c, ev))
            conn_await(c);
        return;
    }
    const struct conn_handler *h = c->handler;
    assert(h != NULL);
    c->in_handler++;
    switch (ev->kind) {
    case CONN_EV_TLS_DONE:
        if (h->tls_done != NULL)
            h->tls_done(c->ud, c, ev->u.tls);
        break;
    case CONN_EV_STREAM_OPEN:
        if (h->stream_open != NULL)
            h->stream_open(c->ud, c, ev->u.open.header, ev->u.open.content_ns);
        break;
    case CONN_EV_STANZA:
        if (h->stanza != NULL)
            h->stanza(c->ud, c, ev->u.st);
        else
            stanza_unref(ev->u.st);
        break;
    case CONN_EV_STREAM_CLOSE:
        if (h->stream_close != NULL)
            h->stream_close(c->ud, c);
        break;
    case CONN_EV_PARSE_ERROR:
        if (h->parse_error != NULL)
            h->parse_error(c->ud, c, ev->u.error.err, ev->u.error.detail);
        break;
    case CONN_EV_CLOSED:
        if (h->closed != NULL)
            h->closed(c->ud, c, ev->u.why);
        break;
    case CONN_EV_CONNECTED:
        if (h->connected != NULL)
            h->connected(c->ud, c);
        break;
    }
    c->in_handler--;
}

/* Parser callbacks. */

/* With an I/O thread, the parser stops after the stream header and after every
 * top-level element that is not a stanza, until the core's answer arrives (a
 * RESUME, after any STARTTLS/restart/compression/close it asked for): such an
 * element may change how the bytes after it are read (RFC 6120 §5.4.3.3). */
static void
conn_await(struct conn *c)
{
    if (c->io == NULL || c->state != CONN_OPEN)
        return;
    c->awaiting = true;
    if (c->is_feeding && !c->parse_failed)
        parser_suspend(c->parser);
}

static void
on_stream_open(void *ud, const struct xml_node *header, const char *content_ns)
{
    struct conn *c = ud;
    if (c->state != CONN_OPEN)
        return;
    struct conn_event ev = {.kind = CONN_EV_STREAM_OPEN};
    ev.u.open.header = header;
    ev.u.open.content_ns = content_ns;
    conn_dispatch(c, &ev);
}

static void
on_stanza(void *ud, struct stanza *st)
{
    struct conn *c = ud;
    if (c->state != CONN_OPEN) {
        stanza_unref(st);
        return;
    }
    struct conn_event ev = {.kind = CONN_EV_STANZA};
    ev.u.st = st;
    conn_dispatch(c, &ev);
}

static void
on_stream_close(void *ud)
{
    struct conn *c = ud;
    if (c->state != CONN_OPEN)
        return;
    struct conn_event ev = {.kind = CONN_EV_STREAM_CLOSE};
    conn_dispatch(c, &ev);
}

static void
on_parse_error(void *ud, enum parser_error err, const char *detail)
{
    struct conn *c = ud;
    char who[NET_WHO_BYTES];
    c->parse_failed = true;
    /* The detail names the fault, not the payload; still, keep it out of info logs. */
    log_debug(net__conn_who(c, who), "parse error %d: %s", (int)err, detail ? detail : "");
    if (c->state != CONN_OPEN)
        return;
    struct conn_event ev = {.kind = CONN_EV_PARSE_ERROR};
    ev.u.error.err = err;
    ev.u.error.detail = detail;
    conn_dispatch(c, &ev);
}

static const struct parser_callbacks conn_parser_cbs = {
    .stream_open = on_stream_open,
    .stanza = on_stanza,
    .stream_close = on_stream_close,
    .error = on_parse_error,
};

/* Output. */

/* XEP-0138: everything queued since the last flush becomes one deflate batch that
 * ends in a sync flush, so a burst of stanzas costs one flush marker. Called only
 * right before c->out is handed on (SSL_write, or stolen for uv_write), so c->out
 * never holds compressed bytes across calls. */
static int
conn_deflate(struct conn *c)
{
    if (!c->zlib_on || c->out.len == 0)
        return 0;
    int rc = net__zlib_deflate(c->zlib, &c->out);
    if (rc != 0) {
        char who[NET_WHO_BYTES];
        log_warn(net__conn_who(c, who), "compression failed: %s", yb_strerror(rc));
        conn_close_now(c, CONN_CLOSED_ERROR);
    }
    return rc;
}

static int
conn_tls_encrypt(struct conn *c)
{
    if (c->ssl == NULL || !c->tls_up || c->tls_failed || c->out.len == 0)
        return 0;
    int rc = conn_deflate(c);
    if (rc != 0)
        return rc;
    if (c->out.len > INT_MAX) {
        conn_close_now(c, CONN_CLOSED_OVERFLOW);
        return YB_ELIMIT;
    }
    net__tls_clear_errors();
    /* A memory BIO never pushes back, so SSL_write takes everything at once. */
    int r = SSL_write(c->ssl, c->out.data, (int)c->out.len);
    if (r <= 0) {
        char who[NET_WHO_BYTES];
        net__tls_log_errors(LOG_WARN, net__conn_who(c, who), "TLS write failed");
        c->tls_failed = true;
        conn_close_now(c, CONN_CLOSED_TLS);
        return YB_EIO;
    }
    buf_fini(&c->out);
    return 0;
}

/* A memory BIO keeps its largest buffer until freed: replace one holding more than
 * keep bytes, once it is drained, so the memory goes back. */
static void
conn_tls_trim_to(struct conn *c, bool read_side, size_t keep)
{
    BIO *b = read_side ? SSL_get_rbio(c->ssl) : SSL_get_wbio(c->ssl);
    BUF_MEM *bm = NULL;
    if (read_side)
        c->rbio_held = false;
    if (b == NULL)
        return;
    if (BIO_ctrl_pending(b) != 0) {
        if (read_side)
            c->rbio_held = true;
        return;
    }
    BIO_get_mem_ptr(b, &bm);
    if (bm == NULL || bm->max <= keep)
        return;
    BIO *fresh = BIO_new(BIO_s_mem());
    if (fresh == NULL)
        return;
    BIO_set_mem_eof_return(fresh, -1);
    if (read_side)
        SSL_set0_rbio(c->ssl, fresh);
    else
        SSL_set0_wbio(c->ssl, fresh);
}

/* Between reads a connection keeps up to NET_TLS_BIO_KEEP_BYTES per BIO: replacing
 * a BIO on every message would cost more than the memory is worth. */
static void
conn_tls_trim(struct conn *c, bool read_side)
{
    conn_tls_trim_to(c, read_side, NET_TLS_BIO_KEEP_BYTES);
}

/* The idle sweep (net.c): a connection that received nothing for a while gives back
 * its parser's expat instance and its TLS memory buffers (DESIGN.md §5: no
 * per-connection buffers while idle); both come back at the next input. Returns
 * whether the parser let go of its instance. */
bool
net__conn_idle(struct conn *c)
{
    if (c->state != CONN_OPEN || c->parse_failed)
        return false;
    if (c->ssl != NULL && c->tls_up && !c->tls_failed) {
        conn_tls_trim_to(c, true, 0);
        conn_tls_trim_to(c, false, 0);
    }
    return c->parser != NULL && parser_idle(c->parser);
}

static void
on_write(uv_write_t *req, int status)
{
    struct write_req *wr = (struct write_req *)req;
    struct conn *c = req->handle->data;
    assert(c->in_flight >= wr->len);
    c->in_flight -= wr->len;
    yb_free(wr->heap);
    yb_free(wr);
    if (c->core != NULL)
        net__io_note_pending(c);
    if (status < 0 && c->state != CONN_CLOSED) {
        char who[NET_WHO_BYTES];
        log_debug(net__conn_who(c, who), "write failed: %s", uv_strerror(status));
        enum conn_close_reason why = CONN_CLOSED_ERROR;
        if (c->state == CONN_CLOSING)
            why = c->why;
        else if (status == UV_EPIPE || status == UV_ECONNRESET)
            why = CONN_CLOSED_PEER;
        conn_close_now(c, why);
    }
}

/* Bytes a flush could not write at once go to libuv with a request, which keeps them
 * in order behind earlier ones and reports the outcome in on_write. data lies in the
 * request's own storage after it, or in wr->heap. */
static void
conn_write_rest(struct conn *c, struct write_req *wr, char *data, size_t len)
{
    wr->len = len;
    uv_buf_t b = uv_buf_init(data, (unsigned)len);
    c->in_flight += len;
    int rc = uv_write(&wr->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
    if (rc != 0) {
        char who[NET_WHO_BYTES];
        c->in_flight -= len;
        yb_free(wr->heap);
        yb_free(wr);
        log_debug(net__conn_who(c, who), "write failed: %s", uv_strerror(rc));
        conn_close_now(c, c->state == CONN_CLOSING ? c->why : CONN_CLOSED_ERROR);
    }
}

/* Writes what the socket takes right now, if nothing is queued before it. Most
 * flushes fit: they cost one write(2), no request and no callback, and libuv does
 * not re-arm epoll afterwards (a completed uv_write costs an epoll_ctl). Errors are
 * left to the uv_write of the rest, which reports them through on_write. */
static size_t
conn_try_write(struct conn *c, char *data, size_t len)
{
    if (c->in_flight != 0 || len > INT_MAX)
        return 0;
    uv_buf_t b = uv_buf_init(data, (unsigned)len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    return n > 0 ? (size_t)n : 0;
}

/* The TLS records of a flush are read out of the memory BIO into this buffer, one per
 * thread (I/O threads flush their own connections); larger flushes get a request. */
#define FLUSH_SCRATCH_BYTES (16 * 1024)
static _Thread_local char flush_scratch[FLUSH_SCRATCH_BYTES];

static void
conn_flush_tls(struct conn *c)
{
    if (conn_tls_encrypt(c) != 0)
        return;
    BIO *wbio = SSL_get_wbio(c->ssl);
    size_t len = BIO_ctrl_pending(wbio);
    if (len == 0)
        return;
    if (len > INT_MAX) {
        conn_close_now(c, CONN_CLOSED_ERROR);
        return;
    }
    bool scratch = c->in_flight == 0 && len <= FLUSH_SCRATCH_BYTES;
    struct write_req *wr = NULL;
    char *data;
    if (scratch) {
        data = flush_scratch;
    } else {
        if ((wr = yb_malloc(sizeof *wr + len)) == NULL) {
            conn_close_now(c, CONN_CLOSED_ERROR);
            return;
        }
        wr->heap = NULL;
        data = (char *)(wr + 1);
    }
    int got = BIO_read(wbio, data, (int)len);
    assert(got == (int)len);
    (void)got;
    /* Drained: a buffer that had to grow past the keep size is replaced. Smaller
     * flushes cannot have grown it that far, and skip the check. */
    if (c->tls_up && len > NET_TLS_BIO_KEEP_BYTES / 2)
        conn_tls_trim(c, false);
    if (scratch) {
        size_t done = conn_try_write(c, data, len);
        if (done == len)
            return;
        if ((wr = yb_malloc(sizeof *wr + (len - done))) == NULL) {
            conn_close_now(c, CONN_CLOSED_ERROR);
            return;
        }
        wr->heap = NULL;
        memcpy(wr + 1, data + done, len - done);
        data = (char *)(wr + 1);
        len -= done;
    }
    conn_write_rest(c, wr, data, len);
}

static void
conn_flush_plain(struct conn *c)
{
    if (conn_deflate(c) != 0)
        return;
    size_t len = c->out.len;
    if (len == 0)
        return;
    size_t done = conn_try_write(c, c->out.data, len);
    if (done == len) {
        /* Nothing held between flushes (DESIGN.md §5). */
        buf_fini(&c->out);
        return;
    }
    struct write_req *wr = yb_malloc(sizeof *wr);
    if (wr == NULL) {
        conn_close_now(c, CONN_CLOSED_ERROR);
        return;
    }
    /* The plaintext buffer becomes the write's: no copy, and the conn holds nothing
     * until it queues more. */
    wr->heap = buf_steal(&c->out);
    conn_write_rest(c, wr, wr->heap + done, len - done);
}

void
net__conn_flush(struct conn *c)
{
    if (c->is_dirty) {
        list_remove(&c->queue);
        c->is_dirty = false;
    }
    if (c->state == CONN_CLOSED)
        return;
    /* Until an outgoing connection is up, output waits (it may have to go through
     * a TLS session that does not exist yet). */
    if (c->outgoing != NULL && !c->outgoing->connected)
        return;
    if (c->ssl != NULL)
        conn_flush_tls(c);
    else
        conn_flush_plain(c);
    /* The core reads an I/O thread's backlog from here (conn_pending_output). */
    if (c->core != NULL)
        net__io_note_pending(c);
}

/* After bytes were added to c->out. */
static int
conn_queued(struct conn *c)
{
    if (c->out.len + c->in_flight > c->net->cfg.max_output_bytes) {
        char who[NET_WHO_BYTES];
        log_warn(net__conn_who(c, who), "output above %zu bytes (peer not reading): aborting",
                 c->net->cfg.max_output_bytes);
        conn_close_now(c, CONN_CLOSED_OVERFLOW);
        return YB_ELIMIT;
    }
    net__conn_mark_dirty(c);
    if (c->core != NULL)
        net__io_note_pending(c);
    return 0;
}

static const char *
conn_content_ns(const struct conn *c)
{
    return c->content_ns != NULL ? c->content_ns : CONTENT_NS_DEFAULT;
}

int
conn_send(struct conn *c, struct stanza *st)
{
    if (c->io != NULL)
        return net__io_send(c, st, conn_content_ns(c));
    if (c->state != CONN_OPEN) {
        stanza_unref(st);
        return YB_ECLOSED;
    }
    size_t before = c->out.len;
    int rc = stanza_serialize(st, conn_content_ns(c), &c->out);
    stanza_unref(st);
    if (rc != 0) {
        c->out.len = before;
        if (c->out.data != NULL)
            c->out.data[before] = '\0';
        return rc;
    }
    return conn_queued(c);
}

int
conn_send_raw(struct conn *c, const char *data, size_t len)
{
    if (c->io != NULL)
        return net__io_send_raw(c, data, len);
    if (c->state != CONN_OPEN)
        return YB_ECLOSED;
    int rc = buf_append(&c->out, data, len);
    if (rc != 0)
        return rc;
    return conn_queued(c);
}

void
conn_set_content_ns(struct conn *c, const char *ns)
{
    char *copy = NULL;
    if (ns != NULL && strcmp(ns, CONTENT_NS_DEFAULT) != 0) {
        copy = yb_strdup(ns);
        if (copy == NULL)
            return;
    }
    yb_free(c->content_ns);
    c->content_ns = copy;
}

/* Deferred actions. */

static void
conn_defer(struct conn *c, unsigned action)
{
    c->deferred |= (uint8_t)action;
    /* Stop after the current element: the rest must be read with the new state. */
    if (c->is_feeding && !c->parse_failed)
        parser_suspend(c->parser);
}

static void
conn_do_restart(struct conn *c)
{
    if (parser_reset(c->parser) != 0) {
        conn_close_now(c, CONN_CLOSED_ERROR);
        return;
    }
    c->parse_failed = false;
}

/* The client speaks first: the ClientHello goes into the write BIO for the next
 * flush. */
static void
conn_tls_client_hello(struct conn *c)
{
    net__tls_clear_errors();
    int r = SSL_do_handshake(c->ssl);
    if (r != 1 && SSL_get_error(c->ssl, r) != SSL_ERROR_WANT_READ) {
        conn_tls_fail(c, "TLS handshake failed");
        return;
    }
    net__conn_mark_dirty(c);
}

static void
conn_do_starttls(struct conn *c)
{
    char who[NET_WHO_BYTES];
    /* The <proceed/> goes out in plaintext before the SSL object exists. */
    net__conn_flush(c);
    if (c->state != CONN_OPEN)
        return;
    c->ssl = net__tls_new_ssl(c->net, c);
    if (c->ssl == NULL) {
        conn_close_now(c, CONN_CLOSED_TLS);
        return;
    }
    log_debug(net__conn_who(c, who), "STARTTLS");
    conn_do_restart(c);
    if (c->outgoing != NULL && c->state == CONN_OPEN)
        conn_tls_client_hello(c);
}

static void
conn_do_compress(struct conn *c)
{
    char who[NET_WHO_BYTES];
    /* The <compressed/> goes out as it is; what follows is compressed. */
    net__conn_flush(c);
    if (c->state != CONN_OPEN)
        return;
    c->zlib_on = true;
    log_debug(net__conn_who(c, who), "compression on");
    conn_do_restart(c);
}

/* Applies what a handler asked for while it ran. Returns true when the parser was
 * reset, so the bytes that followed the triggering element must be dropped. */
static bool
conn_apply_deferred(struct conn *c)
{
    unsigned d = c->deferred;
    c->deferred = 0;
    if (d == 0 || c->state == CONN_CLOSED)
        return false;
    if (d & CONN_DEFER_CLOSE) {
        conn_begin_close(c);
        return false;
    }
    if (c->state != CONN_OPEN)
        return false;
    if (d & CONN_DEFER_STARTTLS)
        conn_do_starttls(c);
    else if (d & CONN_DEFER_COMPRESS)
        conn_do_compress(c);
    else if (d & CONN_DEFER_RESTART)
        conn_do_restart(c);
    /* RFC 6120 §5.4.3.3 and STARTTLS command injection: what the peer sent after the
     * element that triggered the restart belongs to no stream. After <compress/> it
     * is not even part of the peer's zlib stream, which starts after <compressed/>. */
    c->discard_rest = true;
    return true;
}

/* Input. */

static void
conn_parse(struct conn *c, const char *data, size_t len)
{
    if (c->parse_failed || c->discard_rest || c->state != CONN_OPEN)
        return;
    c->is_feeding = true;
    enum parser_status st = parser_feed(c->parser, data, len);
    c->is_feeding = false;
    while (st == PARSER_SUSPENDED && c->state == CONN_OPEN) {
        if (c->awaiting)
            return; /* the rest is held in the parser until the core answers */
        if (conn_apply_deferred(c) || c->state != CONN_OPEN)
            return;
        c->is_feeding = true;
        st = parser_resume(c->parser);
        c->is_feeding = false;
    }
    if (st == PARSER_FAILED)
        c->parse_failed = true;
    conn_apply_deferred(c);
}

/* Input the parser never saw but that ends the stream as a parse error would (a
 * compression bomb, corrupt compressed data): the core answers with the stream
 * error and closes. */
static void
conn_input_error(struct conn *c, enum parser_error err, const char *detail)
{
    on_parse_error(c, err, detail);
    conn_apply_deferred(c);
}

/* The most one socket read may inflate to. */
static size_t
conn_zlib_read_limit(const struct conn *c)
{
    const struct parser_limits *l = &c->net->cfg.parser;
    if (l->max_stanza_bytes > (SIZE_MAX - l->max_header_bytes) / NET_ZLIB_READ_FACTOR)
        return SIZE_MAX;
    return NET_ZLIB_READ_FACTOR * l->max_stanza_bytes + l->max_header_bytes;
}

/* XEP-0138: inflate, then parse, one scratch buffer at a time. The parser bounds
 * each stanza; the read limit bounds what a small input may expand to (whitespace
 * between stanzas, a flood of tiny stanzas), so a bomb costs little CPU. */
static void
conn_inflate(struct conn *c, const char *data, size_t len)
{
    if (c->nl->zlib_scratch == NULL)
        c->nl->zlib_scratch = yb_malloc(NET_ZLIB_SCRATCH_BYTES);
    char *out = c->nl->zlib_scratch;
    if (out == NULL) {
        conn_input_error(c, PARSER_E_NOMEM, "out of memory for inflate");
        return;
    }
    size_t limit = conn_zlib_read_limit(c);
    for (;;) {
        size_t got = 0;
        int rc = net__zlib_inflate(c->zlib, &data, &len, out, NET_ZLIB_SCRATCH_BYTES, &got, limit);
        if (rc == YB_ELIMIT) {
            char who[NET_WHO_BYTES];
            log_info(net__conn_who(c, who), "compressed input expands beyond %zu bytes", limit);
            conn_input_error(c, PARSER_E_POLICY, "compressed input expands too much");
            return;
        }
        if (got > 0)
            conn_parse(c, out, got);
        if (rc != 0) {
            if (c->state == CONN_OPEN && !c->parse_failed)
                conn_input_error(c, rc == YB_ENOMEM ? PARSER_E_NOMEM : PARSER_E_NOT_WELL_FORMED,
                                 "bad compressed data");
            return;
        }
        /* Stop when the stream is gone or what follows is dropped anyway. */
        if (c->state != CONN_OPEN || c->parse_failed || c->discard_rest)
            return;
        if (got < NET_ZLIB_SCRATCH_BYTES && len == 0)
            return;
    }
}

static void
conn_feed(struct conn *c, const char *data, size_t len)
{
    if (c->parse_failed || c->discard_rest || c->state != CONN_OPEN)
        return;
    if (c->zlib_on)
        conn_inflate(c, data, len);
    else
        conn_parse(c, data, len);
}

/* A fatal TLS error: send the alert OpenSSL queued, then close. */
static void
conn_tls_fail(struct conn *c, const char *what)
{
    char who[NET_WHO_BYTES];
    net__tls_log_errors(LOG_INFO, net__conn_who(c, who), what);
    c->tls_failed = true;
    if (c->state != CONN_OPEN)
        return;
    c->state = CONN_CLOSING;
    c->why = CONN_CLOSED_TLS;
    conn_begin_close(c);
}

static void
conn_tls_handshake_done(struct conn *c)
{
    char who[NET_WHO_BYTES];
    struct net__tls_info_storage storage;
    struct conn_tls_info info;
    c->tls_up = true;
    net__tls_info(c->ssl, &info, &storage);
    log_debug(net__conn_who(c, who), "TLS up: %s %s sni=%s alpn=%s", info.version, info.cipher,
              info.sni ? info.sni : "-", info.alpn ? info.alpn : "-");
    net__conn_mark_dirty(c); /* the last handshake flight, session tickets */
    struct conn_event ev = {.kind = CONN_EV_TLS_DONE};
    ev.u.tls = &info;
    conn_dispatch(c, &ev);
    conn_apply_deferred(c);
}

static void
conn_tls_input(struct conn *c, const char *data, size_t len)
{
    BIO *rbio = SSL_get_rbio(c->ssl);
    if (BIO_write(rbio, data, (int)len) != (int)len) {
        conn_close_now(c, CONN_CLOSED_ERROR);
        return;
    }
    if (!c->tls_up) {
        net__tls_clear_errors();
        int r = SSL_do_handshake(c->ssl);
        if (r != 1) {
            int e = SSL_get_error(c->ssl, r);
            if (e != SSL_ERROR_WANT_READ) {
                conn_tls_fail(c, "TLS handshake failed");
                return;
            }
            if (BIO_ctrl_pending(SSL_get_wbio(c->ssl)) > 0)
                net__conn_mark_dirty(c);
            conn_tls_trim(c, true);
            return;
        }
        conn_tls_handshake_done(c);
        if (c->state != CONN_OPEN)
            return;
    }
    char *scratch = c->nl->tls_scratch;
    bool drained = false;
    for (;;) {
        net__tls_clear_errors();
        int r = SSL_read(c->ssl, scratch, NET_TLS_SCRATCH_BYTES);
        if (r > 0) {
            conn_feed(c, scratch, (size_t)r);
            if (c->state != CONN_OPEN)
                return;
            /* Usually one read brings whole records: once neither the BIO nor
             * OpenSSL holds anything, a further SSL_read could only say "want
             * read", at the price of a record layer pass. */
            if (BIO_ctrl_pending(SSL_get_rbio(c->ssl)) == 0 && !SSL_has_pending(c->ssl)) {
                drained = true;
                break;
            }
            continue;
        }
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ)
            break;
        if (e == SSL_ERROR_ZERO_RETURN) {
            if (c->awaiting) {
                /* After a </stream:stream> the core has not answered yet: its
                 * conn_close() comes first, as with io_threads = 0. */
                c->peer_tls_closed = true;
                return;
            }
            /* The peer's close_notify: answer with ours and close. */
            c->state = CONN_CLOSING;
            c->why = CONN_CLOSED_PEER;
            conn_begin_close(c);
            return;
        }
        conn_tls_fail(c, "TLS read failed");
        return;
    }
    /* Alerts, tickets, KeyUpdate answers. */
    if (BIO_ctrl_pending(SSL_get_wbio(c->ssl)) > 0)
        net__conn_mark_dirty(c);
    /* A drained BIO that took only a few bytes cannot have grown past the keep
     * size (see conn_tls_trim). */
    if (!drained || c->rbio_held || len > NET_TLS_BIO_KEEP_BYTES / 2)
        conn_tls_trim(c, true);
}

/* While the parser waits for the core, the socket is not read: what is held stays
 * within one read's worth. */
static void
conn_maybe_pause(struct conn *c)
{
    if (c->awaiting && !c->read_paused && c->state == CONN_OPEN) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->read_paused = true;
    }
}

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct conn *c = h->data;
    (void)suggested;
    /* Safe to share: libuv calls read_cb with these bytes before the next alloc_cb,
     * and read_cb consumes them synchronously. */
    assert(!c->nl->is_reading);
    c->nl->is_reading = true;
    *b = uv_buf_init(c->nl->read_buf, NET_READ_BUF_BYTES);
}

static void
conn_read_error(struct conn *c, ssize_t nread)
{
    char who[NET_WHO_BYTES];
    if (nread == UV_EOF) {
        c->peer_eof = true;
        if (c->state == CONN_OPEN) {
            /* A half-close ends the stream too: we do not keep writing to a peer
             * that has stopped talking. */
            log_debug(net__conn_who(c, who), "peer closed the connection");
            c->state = CONN_CLOSING;
            c->why = CONN_CLOSED_PEER;
            conn_begin_close(c);
        } else if (c->state == CONN_CLOSING && c->shut_down) {
            conn_close_now(c, c->why);
        }
        return;
    }
    log_debug(net__conn_who(c, who), "read failed: %s", uv_strerror((int)nread));
    enum conn_close_reason why = nread == UV_ECONNRESET ? CONN_CLOSED_PEER : CONN_CLOSED_ERROR;
    conn_close_now(c, c->state == CONN_CLOSING ? c->why : why);
}

static void
on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct conn *c = s->data;
    c->nl->is_reading = false;
    if (nread == 0)
        return;
    if (nread < 0) {
        conn_read_error(c, nread);
        return;
    }
    /* While closing, input is read only to see the peer's FIN, and dropped. */
    if (c->state != CONN_OPEN)
        return;
    c->discard_rest = false;
    c->bytes_in += (uint64_t)nread;
    if (c->core != NULL)
        atomic_store_explicit(&c->core->bytes_in, c->bytes_in, memory_order_relaxed);
    if (c->zlib_on)
        net__zlib_new_read(c->zlib);
    if (c->ssl != NULL)
        conn_tls_input(c, b->base, (size_t)nread);
    else
        conn_feed(c, b->base, (size_t)nread);
    conn_maybe_pause(c);
}

/* Closing. */

static void
outgoing_free(struct conn_outgoing *o)
{
    if (o == NULL)
        return;
    yb_free(o->name);
    yb_free(o->server_name);
    yb_free(o->client_identity);
    yb_free(o->alpn_wire);
    yb_free(o);
}

void
net__conn_free_rest(struct conn *c)
{
    yb_free(c->content_ns);
    outgoing_free(c->outgoing);
    yb_free(c->core);
    yb_free(c);
}

static void
conn_free(struct conn *c)
{
    parser_free(c->parser);
    SSL_free(c->ssl);
    net__zlib_free(c->zlib);
    buf_fini(&c->out);
    yb_free(c->content_ns);
    outgoing_free(c->outgoing);
    yb_free(c);
}

static void
on_close(uv_handle_t *h)
{
    struct conn *c = h->data;
    char who[NET_WHO_BYTES];
    assert(c->in_flight == 0);
    list_remove(&c->link);
    log_debug(net__conn_who(c, who), "closed (%s)",
              close_reason_name((enum conn_close_reason)c->why));
    if (c->io != NULL) {
        /* The core frees the struct (FREE command) after its closed() ran. */
        struct conn_event ev = {.kind = CONN_EV_CLOSED};
        ev.u.why = (enum conn_close_reason)c->why;
        net__io_post(c, &ev);
        parser_free(c->parser);
        SSL_free(c->ssl);
        net__zlib_free(c->zlib);
        buf_fini(&c->out);
        c->parser = NULL;
        c->ssl = NULL;
        c->zlib = NULL;
        return;
    }
    if (c->handler != NULL) {
        struct conn_event ev = {.kind = CONN_EV_CLOSED};
        ev.u.why = (enum conn_close_reason)c->why;
        conn_dispatch(c, &ev);
    }
    conn_free(c);
}

/* Closes the socket now; pending writes are cancelled. closed() follows from the
 * close callback, never from here. */
static void
conn_close_now(struct conn *c, enum conn_close_reason why)
{
    if (c->state == CONN_CLOSED)
        return;
    c->state = CONN_CLOSED;
    c->why = (uint8_t)why;
    buf_fini(&c->out);
    list_remove(&c->queue);
    c->is_dirty = false;
    if (c->is_feeding && !c->parse_failed)
        parser_suspend(c->parser);
    uv_close((uv_handle_t *)&c->tcp, on_close);
}

static void
on_shutdown(uv_shutdown_t *req, int status)
{
    struct conn *c = req->handle->data;
    yb_free(req);
    if (c->state == CONN_CLOSED)
        return;
    c->shut_down = true;
    /* Waiting for the peer's FIN before close(2) keeps the kernel from answering
     * late input with a reset that could destroy our last bytes (the stream error,
     * the close_notify) before the peer reads them. The close timer bounds this. */
    if (status < 0 || c->peer_eof || c->no_linger)
        conn_close_now(c, (enum conn_close_reason)c->why);
}

/* Flush, close_notify, FIN. c->state is CONN_CLOSING and c->why set. */
static void
conn_begin_close(struct conn *c)
{
    assert(c->state == CONN_CLOSING);
    if (c->ssl != NULL && c->tls_up && !c->tls_failed) {
        if (conn_tls_encrypt(c) != 0)
            return;
        net__tls_clear_errors();
        /* Sends our close_notify; we do not wait for the peer's. */
        SSL_shutdown(c->ssl);
        net__tls_clear_errors();
    }
    net__conn_flush(c);
    if (c->state == CONN_CLOSED)
        return;
    buf_fini(&c->out); /* plaintext queued before a handshake that never finished */
    uv_shutdown_t *req = yb_malloc(sizeof *req);
    if (req == NULL || uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        yb_free(req);
        conn_close_now(c, (enum conn_close_reason)c->why);
        return;
    }
    net__conn_closing(c);
}

void
net__conn_shutdown_now(struct conn *c, bool goodbye)
{
    if (c->state == CONN_CLOSED)
        return;
    enum conn_close_reason why =
        c->state == CONN_CLOSING ? (enum conn_close_reason)c->why : CONN_CLOSED_LOCAL;
    if (goodbye && c->state == CONN_OPEN && c->in_flight == 0) {
        /* Best effort, without waiting: whatever the socket takes now. */
        char *data = NULL;
        size_t len = 0;
        if (c->ssl != NULL && c->tls_up && !c->tls_failed) {
            if (conn_tls_encrypt(c) != 0)
                return;
            net__tls_clear_errors();
            SSL_shutdown(c->ssl);
            net__tls_clear_errors();
            BIO *wbio = SSL_get_wbio(c->ssl);
            len = BIO_ctrl_pending(wbio);
            if (len > 0 && len <= INT_MAX && (data = yb_malloc(len)) != NULL)
                len = (size_t)BIO_read(wbio, data, (int)len);
        } else if (c->ssl == NULL && c->out.len > 0) {
            if (conn_deflate(c) != 0)
                return;
            len = c->out.len;
            data = buf_steal(&c->out);
        }
        if (data != NULL) {
            uv_buf_t b = uv_buf_init(data, (unsigned)len);
            (void)uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
            yb_free(data);
        }
    }
    conn_close_now(c, why);
}

/* The conn_* API. */

void
conn_starttls(struct conn *c)
{
    char who[NET_WHO_BYTES];
    if (c->io != NULL) {
        net__io_starttls(c);
        return;
    }
    if (c->state != CONN_OPEN)
        return;
    if (c->ssl != NULL) {
        log_warn(net__conn_who(c, who), "STARTTLS on a TLS connection: ignored");
        return;
    }
    if (c->in_handler > 0) {
        conn_defer(c, CONN_DEFER_STARTTLS);
        return;
    }
    conn_do_starttls(c);
}

int
conn_start_compression(struct conn *c)
{
    if (c->io != NULL)
        return net__io_start_compression(c);
    if (c->state != CONN_OPEN)
        return YB_ECLOSED;
    if (c->zlib != NULL)
        return YB_EEXIST;
    c->zlib = net__zlib_new();
    if (c->zlib == NULL)
        return YB_ENOMEM;
    if (c->in_handler > 0) {
        conn_defer(c, CONN_DEFER_COMPRESS);
        return 0;
    }
    conn_do_compress(c);
    return 0;
}

bool
conn_is_compressed(const struct conn *c)
{
    if (c->core != NULL)
        return c->core->compressed;
    return c->zlib != NULL;
}

void
conn_restart_stream(struct conn *c)
{
    if (c->io != NULL) {
        net__io_restart(c);
        return;
    }
    if (c->state != CONN_OPEN)
        return;
    if (c->in_handler > 0) {
        conn_defer(c, CONN_DEFER_RESTART);
        return;
    }
    conn_do_restart(c);
}

void
conn_close(struct conn *c)
{
    if (c->io != NULL) {
        net__io_close(c);
        return;
    }
    if (c->state != CONN_OPEN)
        return;
    c->state = CONN_CLOSING;
    c->why = CONN_CLOSED_LOCAL;
    if (c->in_handler > 0) {
        conn_defer(c, CONN_DEFER_CLOSE);
        return;
    }
    conn_begin_close(c);
}

void
conn_abort(struct conn *c)
{
    if (c->io != NULL) {
        net__io_abort(c);
        return;
    }
    if (c->state == CONN_CLOSED)
        return;
    conn_close_now(c,
                   c->state == CONN_CLOSING ? (enum conn_close_reason)c->why : CONN_CLOSED_LOCAL);
}

const char *
conn_peer_ip(const struct conn *c)
{
    return c->peer_ip;
}

int
conn_peer_port(const struct conn *c)
{
    return c->peer_port;
}

const char *
conn_listener_name(const struct conn *c)
{
    return c->listener != NULL ? c->listener->name : c->outgoing->name;
}

bool
conn_is_outgoing(const struct conn *c)
{
    return c->outgoing != NULL;
}

bool
conn_is_tls(const struct conn *c)
{
    if (c->core != NULL)
        return c->core->tls_up;
    return c->ssl != NULL && c->tls_up;
}

unsigned long
conn_id(const struct conn *c)
{
    return c->id;
}

uint64_t
conn_bytes_received(const struct conn *c)
{
    if (c->core != NULL)
        return atomic_load_explicit(&c->core->bytes_in, memory_order_relaxed);
    return c->bytes_in;
}

size_t
conn_pending_output(const struct conn *c)
{
    if (c->core != NULL)
        return c->core->out.len + atomic_load(&c->core->queued) + atomic_load(&c->core->io_pending);
    size_t n = c->out.len + c->in_flight;
    if (c->ssl != NULL)
        n += BIO_ctrl_pending(SSL_get_wbio(c->ssl));
    return n;
}

/* Accepting. */

static void
conn_set_peer(struct conn *c)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    memset(&ss, 0, sizeof ss);
    strcpy(c->peer_ip, "?");
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) != 0)
        return;
    net__conn_set_peer_addr(c, &ss);
}

void
net__conn_set_peer_addr(struct conn *c, const struct sockaddr_storage *sp)
{
    const struct sockaddr_storage ss = *sp;
    strcpy(c->peer_ip, "?");
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;
        uv_ip4_name(sin, c->peer_ip, sizeof c->peer_ip);
        c->peer_port = ntohs(sin->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;
        c->peer_port = ntohs(sin6->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
            /* A dual-stack "::" listener: report IPv4 peers as IPv4, so per-IP limits
             * and logs see one form. */
            struct sockaddr_in sin;
            memset(&sin, 0, sizeof sin);
            sin.sin_family = AF_INET;
            memcpy(&sin.sin_addr, &sin6->sin6_addr.s6_addr[12], 4);
            uv_ip4_name(&sin, c->peer_ip, sizeof c->peer_ip);
        } else {
            uv_ip6_name(sin6, c->peer_ip, sizeof c->peer_ip);
        }
    }
}

struct conn *
net__conn_alloc(struct net *n)
{
    struct conn *c = yb_calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->net = n;
    c->nl = &n->core;
    c->id = ++conn_next_id;
    c->state = CONN_OPEN;
    buf_init(&c->out);
    list_init(&c->queue);
    list_init(&c->link);
    return c;
}

void
net__conn_accept(struct listener *l)
{
    struct net *n = l->net;
    char who[NET_WHO_BYTES];
    struct conn *c = net__conn_alloc(n);
    if (c == NULL) {
        /* libuv holds the accepted socket until uv_accept; under OOM we cannot take
         * it. The server aborts on OOM, so this is for the shared library only. */
        log_error(l->name, "out of memory accepting a connection");
        return;
    }
    c->listener = l;
    list_insert_tail(&n->core.conns, &c->link);
    uv_tcp_init(n->loop, &c->tcp);
    c->tcp.data = c;
    int rc = uv_accept((uv_stream_t *)&l->tcp, (uv_stream_t *)&c->tcp);
    if (rc != 0) {
        log_warn(l->name, "accept failed: %s", uv_strerror(rc));
        conn_close_now(c, CONN_CLOSED_ERROR);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    conn_set_peer(c);
    net__conn_who(c, who);
    c->parser = parser_new(&n->cfg.parser, &conn_parser_cbs, c);
    if (c->parser == NULL) {
        log_error(who, "out of memory for the stream parser");
        conn_close_now(c, CONN_CLOSED_ERROR);
        return;
    }
    if (l->tls == LISTEN_DIRECT_TLS && (c->ssl = net__tls_new_ssl(n, c)) == NULL) {
        conn_close_now(c, CONN_CLOSED_TLS);
        return;
    }
    c->in_handler++;
    c->handler = l->accept(l->ud, c, &c->ud);
    c->in_handler--;
    if (c->handler == NULL) {
        log_debug(who, "refused connection from %s port %u", c->peer_ip, c->peer_port);
        c->deferred = 0;
        conn_close_now(c, CONN_CLOSED_LOCAL);
        return;
    }
    log_debug(who, "connection from %s port %u", c->peer_ip, c->peer_port);
    rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc != 0) {
        log_warn(who, "cannot read: %s", uv_strerror(rc));
        conn_close_now(c, CONN_CLOSED_ERROR);
        return;
    }
    conn_apply_deferred(c);
}

/* Threaded mode: the I/O thread takes over a socket the core accepted. The core
 * has called the accept function already; its commands follow this one. */
void
net__conn_adopt(struct conn *c, uv_os_sock_t fd)
{
    char who[NET_WHO_BYTES];
    net__conn_who(c, who);
    list_insert_tail(&c->nl->conns, &c->link);
    uv_tcp_init(c->nl->loop, &c->tcp);
    c->tcp.data = c;
    int rc = uv_tcp_open(&c->tcp, fd);
    if (rc != 0) {
        log_warn(who, "cannot adopt socket: %s", uv_strerror(rc));
        close(fd);
        conn_close_now(c, CONN_CLOSED_ERROR);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    c->parser = parser_new(&c->net->cfg.parser, &conn_parser_cbs, c);
    if (c->parser == NULL) {
        log_error(who, "out of memory for the stream parser");
        conn_close_now(c, CONN_CLOSED_ERROR);
        return;
    }
    if (c->listener->tls == LISTEN_DIRECT_TLS && (c->ssl = net__tls_new_ssl(c->net, c)) == NULL) {
        conn_close_now(c, CONN_CLOSED_TLS);
        return;
    }
    rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc != 0) {
        log_warn(who, "cannot read: %s", uv_strerror(rc));
        conn_close_now(c, CONN_CLOSED_ERROR);
    }
}

/* Threaded mode: the core's commands, on the I/O thread. A conn whose socket is gone
 * ignores them. */

void
net__conn_take_output(struct conn *c, char *data, size_t len)
{
    if (c->state == CONN_OPEN && buf_append(&c->out, data, len) == 0)
        conn_queued(c);
    yb_free(data);
}

void
net__conn_cmd_starttls(struct conn *c)
{
    if (c->state != CONN_OPEN || c->ssl != NULL)
        return;
    conn_do_starttls(c);
}

void
net__conn_cmd_restart(struct conn *c)
{
    if (c->state == CONN_OPEN)
        conn_do_restart(c);
}

void
net__conn_cmd_compress(struct conn *c, struct net__zlib *z)
{
    if (c->state != CONN_OPEN || c->zlib != NULL) {
        net__zlib_free(z);
        return;
    }
    c->zlib = z;
    conn_do_compress(c);
}

void
net__conn_cmd_resume(struct conn *c)
{
    if (c->state != CONN_OPEN || !c->awaiting)
        return;
    c->awaiting = false;
    if (!c->parse_failed) {
        /* The bytes held since the gate, then whatever else is in the parser. */
        c->is_feeding = true;
        enum parser_status st = parser_resume(c->parser);
        c->is_feeding = false;
        if (st == PARSER_FAILED)
            c->parse_failed = true;
        if (c->state != CONN_OPEN || c->awaiting)
            return;
    }
    if (c->peer_tls_closed) {
        c->state = CONN_CLOSING;
        c->why = CONN_CLOSED_PEER;
        conn_begin_close(c);
        return;
    }
    if (c->read_paused) {
        c->read_paused = false;
        int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
        if (rc != 0)
            conn_close_now(c, CONN_CLOSED_ERROR);
    }
}

void
net__conn_cmd_close(struct conn *c)
{
    if (c->state != CONN_OPEN)
        return;
    c->state = CONN_CLOSING;
    c->why = CONN_CLOSED_LOCAL;
    if (c->read_paused) {
        /* A closing conn reads to see the peer's FIN (and drops the bytes). */
        c->awaiting = false;
        c->read_paused = false;
        if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
            conn_close_now(c, CONN_CLOSED_LOCAL);
            return;
        }
    }
    conn_begin_close(c);
}

void
net__conn_cmd_abort(struct conn *c, int why)
{
    if (c->state == CONN_CLOSED)
        return;
    if (why < 0)
        why = c->state == CONN_CLOSING ? c->why : CONN_CLOSED_LOCAL;
    conn_close_now(c, (enum conn_close_reason)why);
}

/* Connecting. */

static void
on_connect(uv_connect_t *req, int status)
{
    struct conn *c = req->data;
    char who[NET_WHO_BYTES];
    /* Closed while connecting (conn_abort, net_free): the close callback follows. */
    if (c->state == CONN_CLOSED)
        return;
    net__conn_who(c, who);
    if (status < 0) {
        log_info(who, "cannot connect to %s port %u: %s", c->peer_ip, c->peer_port,
                 uv_strerror(status));
        conn_close_now(c, CONN_CLOSED_CONNECT);
        return;
    }
    if (c->state != CONN_OPEN) {
        /* conn_close() before the connection was up: nothing to say. */
        conn_close_now(c, (enum conn_close_reason)c->why);
        return;
    }
    c->outgoing->connected = true;
    uv_tcp_nodelay(&c->tcp, 1);
    log_debug(who, "connected to %s port %u", c->peer_ip, c->peer_port);
    int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc != 0) {
        log_warn(who, "cannot read: %s", uv_strerror(rc));
        conn_close_now(c, CONN_CLOSED_ERROR);
        return;
    }
    if (c->outgoing->direct_tls && (c->ssl = net__tls_new_ssl(c->net, c)) == NULL) {
        conn_close_now(c, CONN_CLOSED_TLS);
        return;
    }
    struct conn_event ev = {.kind = CONN_EV_CONNECTED};
    conn_dispatch(c, &ev);
    conn_apply_deferred(c);
    if (c->state != CONN_OPEN)
        return;
    if (c->ssl != NULL && !c->tls_up)
        conn_tls_client_hello(c);
    else if (c->out.len > 0)
        net__conn_mark_dirty(c);
}

static int
parse_ip(const char *ip, int port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (ip == NULL || port < 0 || port > 65535)
        return -1;
    if (uv_ip4_addr(ip, port, (struct sockaddr_in *)ss) == 0)
        return 0;
    memset(ss, 0, sizeof *ss);
    return uv_ip6_addr(ip, port, (struct sockaddr_in6 *)ss) == 0 ? 0 : -1;
}

static struct conn_outgoing *
outgoing_new(const struct connect_config *cfg)
{
    struct conn_outgoing *o = yb_calloc(1, sizeof *o);
    if (o == NULL)
        return NULL;
    o->name = yb_strdup(cfg->name != NULL ? cfg->name : "out");
    o->server_name = cfg->server_name ? yb_strdup(cfg->server_name) : NULL;
    o->client_identity = cfg->client_identity ? yb_strdup(cfg->client_identity) : NULL;
    o->direct_tls = cfg->direct_tls;
    size_t alpn_len = cfg->alpn != NULL ? strlen(cfg->alpn) : 0;
    if (alpn_len > 0 && alpn_len <= 255 && (o->alpn_wire = yb_malloc(alpn_len + 1)) != NULL) {
        o->alpn_wire[0] = (unsigned char)alpn_len;
        memcpy(o->alpn_wire + 1, cfg->alpn, alpn_len);
        o->alpn_wire_len = alpn_len + 1;
    }
    if (o->name == NULL || (cfg->server_name && !o->server_name) ||
        (cfg->client_identity && !o->client_identity) || (alpn_len > 0 && !o->alpn_wire)) {
        outgoing_free(o);
        return NULL;
    }
    return o;
}

struct conn *
net_connect(struct net *n, const struct connect_config *cfg, const struct conn_handler *h, void *ud)
{
    const char *name = cfg->name != NULL ? cfg->name : "out";
    struct sockaddr_storage to, from;
    if (parse_ip(cfg->ip, cfg->port, &to) != 0 ||
        (cfg->bind_ip != NULL && parse_ip(cfg->bind_ip, 0, &from) != 0)) {
        log_error(name, "bad address to connect %s port %d from %s", cfg->ip ? cfg->ip : "(none)",
                  cfg->port, cfg->bind_ip ? cfg->bind_ip : "any");
        return NULL;
    }
    if (cfg->client_identity != NULL && !net_tls_has_identity(n, cfg->client_identity)) {
        log_error(name, "no certificate for %s to present", cfg->client_identity);
        return NULL;
    }
    struct conn *c = net__conn_alloc(n);
    struct conn_outgoing *o = outgoing_new(cfg);
    struct parser *p = c != NULL ? parser_new(&n->cfg.parser, &conn_parser_cbs, c) : NULL;
    if (c == NULL || o == NULL || p == NULL) {
        log_error(name, "out of memory for a connection");
        yb_free(c);
        outgoing_free(o);
        parser_free(p);
        return NULL;
    }
    c->parser = p;
    c->outgoing = o;
    c->handler = h;
    c->ud = ud;
    c->peer_port = (uint16_t)cfg->port;
    snprintf(c->peer_ip, sizeof c->peer_ip, "%s", cfg->ip);
    o->req.data = c;
    if (n->n_io > 0) {
        net__io_connect(c, &to, cfg->bind_ip != NULL ? &from : NULL);
        return c;
    }
    net__conn_start_connect(c, &to, cfg->bind_ip != NULL ? &from : NULL);
    return c;
}

/* On the loop that will own c (the core loop, or its I/O thread). */
void
net__conn_start_connect(struct conn *c, const struct sockaddr_storage *to,
                        const struct sockaddr_storage *from)
{
    list_insert_tail(&c->nl->conns, &c->link);
    uv_tcp_init(c->nl->loop, &c->tcp);
    c->tcp.data = c;
    int rc = 0;
    if (from != NULL)
        rc = uv_tcp_bind(&c->tcp, (const struct sockaddr *)from, 0);
    if (rc == 0)
        rc = uv_tcp_connect(&c->outgoing->req, &c->tcp, (const struct sockaddr *)to, on_connect);
    if (rc != 0) {
        char who[NET_WHO_BYTES];
        log_info(net__conn_who(c, who), "cannot connect to %s port %d: %s", c->peer_ip,
                 c->peer_port, uv_strerror(rc));
        conn_close_now(c, CONN_CLOSED_CONNECT); /* closed() follows from the loop */
    }
}
