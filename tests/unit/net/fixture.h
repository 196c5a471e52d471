/* SPDX-License-Identifier: MIT
 *
 * fixture.h: shared by the net tests: a net on a private uv loop with an echo handler
 * (the core's stand-in) that records every event, and a blocking client (plain
 * sockets, OpenSSL on the fd) that runs in a thread while the test thread runs the
 * loop. Client checks are recorded and asserted after the thread joined.
 */
#ifndef YB_TEST_NET_FIXTURE_H
#define YB_TEST_NET_FIXTURE_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <zlib.h>

#include "alloc.h"
#include "conn.h"
#include "error.h"
#include "log.h"
#include "net.h"
#include "stanza.h"
#include "test.h"

#define FIX_FN static __attribute__((unused))

/* YB_TEST_IO_THREADS=N runs the same tests with N I/O threads (CTest registers
 * each net test twice: unit/net/<test> and unit/net/<test>-io2). */
FIX_FN unsigned
fix_io_threads(void)
{
    const char *v = getenv("YB_TEST_IO_THREADS");
    return v != NULL ? (unsigned)atoi(v) : 0;
}

#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define HEADER                                                                                     \
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "                                   \
    "xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"
#define SRV_HEADER                                                                                 \
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "                                   \
    "xmlns:stream='http://etherx.jabber.org/streams' from='localhost' id='s1' version='1.0'>"

struct fix {
    uv_loop_t loop;
    struct net *net;
    uv_async_t wake;
    uv_timer_t guard;
    uv_idle_t flood;
    uv_timer_t later; /* conn_close() from outside any handler */
    bool timed_out;
    char dir[64];
    char cert1[128], key1[128], cert2[128], key2[128];
    int port;
    size_t max_output;
    /* Server side, loop thread. */
    bool refuse;
    int n_accepted, n_closed, n_tls_done;
    enum conn_close_reason why;
    char peer_ip[64];
    int peer_port;
    char listener[32];
    char events[2048];
    struct conn *conn; /* the last accepted, until closed */
    int rc_after_close;
    int flood_rc;
    size_t flood_bytes;
    char tls_version[16], tls_sni[64], tls_alpn[32];
    bool tls_had_sni, tls_had_alpn;
    unsigned char exporter[64], end_point[64];
    size_t exporter_len, end_point_len;
    bool tls_flag_in_done;
    /* Client side. */
    pthread_t thread;
    void (*client)(struct fix *);
    atomic_bool client_done;
    atomic_bool server_gone; /* set by closed(), read by clients that wait for it */
    char client_err[512];
    unsigned char c_exporter[64], c_end_point[32];
    size_t c_exporter_len;
    char c_alpn[32];
    char c_subject_ok;
    unsigned long c_ssl_reason;
    int c_user;                         /* free for a test */
    atomic_int phase;                   /* client/loop handshakes in a test */
    void (*on_wake_hook)(struct fix *); /* runs on the loop thread at each wake-up */
    void (*on_stanza_hook)(struct fix *, struct conn *); /* before each stanza is handled */
};

static struct fix F;

FIX_FN __attribute__((format(printf, 2, 3))) void
ev_add(struct fix *f, const char *fmt, ...)
{
    size_t len = strlen(f->events);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->events + len, sizeof f->events - len, fmt, ap);
    va_end(ap);
}

/* The core's stand-in. */

static void
h_tls_done(void *ud, struct conn *c, const struct conn_tls_info *info)
{
    struct fix *f = ud;
    f->n_tls_done++;
    f->tls_flag_in_done = conn_is_tls(c);
    snprintf(f->tls_version, sizeof f->tls_version, "%s", info->version);
    f->tls_had_sni = info->sni != NULL;
    snprintf(f->tls_sni, sizeof f->tls_sni, "%s", info->sni ? info->sni : "");
    f->tls_had_alpn = info->alpn != NULL;
    snprintf(f->tls_alpn, sizeof f->tls_alpn, "%s", info->alpn ? info->alpn : "");
    f->exporter_len = info->exporter ? info->exporter_len : 0;
    if (info->exporter)
        memcpy(f->exporter, info->exporter, info->exporter_len);
    f->end_point_len = info->end_point ? info->end_point_len : 0;
    if (info->end_point)
        memcpy(f->end_point, info->end_point, info->end_point_len);
    ev_add(f, "tls;");
}

static void
h_stream_open(void *ud, struct conn *c, const struct xml_node *header, const char *content_ns)
{
    struct fix *f = ud;
    ev_add(f, "open:%s:%s;", header->name, content_ns);
    conn_send_raw(c, SRV_HEADER, strlen(SRV_HEADER));
    bool offer = !conn_is_tls(c) && strcmp(conn_listener_name(c), "starttls") == 0;
    const char *features = offer ? "<stream:features><starttls xmlns='" NS_TLS
                                   "'><required/></starttls></stream:features>"
                                 : "<stream:features/>";
    conn_send_raw(c, features, strlen(features));
}

static void
on_flood(uv_idle_t *h)
{
    struct fix *f = h->data;
    static char chunk[16384];
    if (chunk[0] == 0)
        memset(chunk, 'x', sizeof chunk);
    if (f->conn == NULL || f->flood_rc != 0) {
        uv_idle_stop(h);
        return;
    }
    for (int i = 0; i < 4 && f->flood_rc == 0; i++) {
        f->flood_rc = conn_send_raw(f->conn, chunk, sizeof chunk);
        f->flood_bytes += sizeof chunk;
        if (f->flood_bytes > (size_t)256 << 20)
            f->flood_rc = 1; /* the bound never hit */
    }
}

static void
on_later(uv_timer_t *t)
{
    struct fix *f = t->data;
    if (f->conn != NULL) {
        conn_send_raw(f->conn, "<later/>", 8);
        conn_close(f->conn);
        f->rc_after_close = conn_send_raw(f->conn, "<late/>", 7);
    }
}

static void
h_stanza(void *ud, struct conn *c, struct stanza *st)
{
    struct fix *f = ud;
    const char *name = stanza_name(st);
    const char *body = node_child_text(stanza_root(st), "body", NULL);
    if (f->on_stanza_hook != NULL)
        f->on_stanza_hook(f, c);
    ev_add(f, "%s%s%s;", name, body ? ":" : "", body ? body : "");
    if (strcmp(name, "compress") == 0) {
        /* XEP-0138's order: ask net first, answer by the result. */
        int rc = conn_start_compression(c);
        const char *answer = rc == 0 ? "<compressed/>" : "<failure/>";
        conn_send_raw(c, answer, strlen(answer));
        stanza_unref(st);
    } else if (strcmp(name, "starttls") == 0) {
        const char *proceed = "<proceed xmlns='" NS_TLS "'/>";
        conn_send_raw(c, proceed, strlen(proceed));
        conn_starttls(c);
        stanza_unref(st);
    } else if (strcmp(name, "restart") == 0) {
        conn_send_raw(c, "<restarted/>", 12);
        conn_restart_stream(c);
        stanza_unref(st);
    } else if (strcmp(name, "close") == 0) {
        conn_send_raw(c, "<bye/>", 6);
        conn_close(c);
        f->rc_after_close = conn_send_raw(c, "<late/>", 7);
        stanza_unref(st);
    } else if (strcmp(name, "closelater") == 0) {
        uv_timer_start(&f->later, on_later, 1, 0);
        stanza_unref(st);
    } else if (strcmp(name, "abort") == 0) {
        conn_send_raw(c, "<never/>", 8);
        conn_abort(c);
        f->rc_after_close = conn_send_raw(c, "<late/>", 7);
        stanza_unref(st);
    } else if (strcmp(name, "flood") == 0) {
        uv_idle_start(&f->flood, on_flood);
        stanza_unref(st);
    } else {
        conn_send(c, st); /* echo */
    }
}

static void
h_stream_close(void *ud, struct conn *c)
{
    struct fix *f = ud;
    ev_add(f, "end;");
    conn_send_raw(c, "</stream:stream>", 16);
    conn_close(c);
}

static void
h_parse_error(void *ud, struct conn *c, enum parser_error err, const char *detail)
{
    struct fix *f = ud;
    (void)detail;
    ev_add(f, "error:%d;", (int)err);
    const char *e = "<stream:error><not-well-formed "
                    "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>";
    conn_send_raw(c, e, strlen(e));
    conn_close(c);
}

static void
h_closed(void *ud, struct conn *c, enum conn_close_reason why)
{
    struct fix *f = ud;
    f->n_closed++;
    f->why = why;
    ev_add(f, "closed:%d;", (int)why);
    /* Calls on a closing conn are harmless. */
    conn_close(c);
    if (conn_send_raw(c, "x", 1) != YB_ECLOSED)
        ev_add(f, "BAD-SEND-IN-CLOSED;");
    if (f->conn == c)
        f->conn = NULL;
    atomic_store(&f->server_gone, true);
}

static const struct conn_handler echo_handler = {
    .tls_done = h_tls_done,
    .stream_open = h_stream_open,
    .stanza = h_stanza,
    .stream_close = h_stream_close,
    .parse_error = h_parse_error,
    .closed = h_closed,
};

static const struct conn_handler *
on_accept(void *ud, struct conn *c, void **conn_ud)
{
    struct fix *f = ud;
    if (f->refuse)
        return NULL;
    f->n_accepted++;
    f->conn = c;
    snprintf(f->peer_ip, sizeof f->peer_ip, "%s", conn_peer_ip(c));
    f->peer_port = conn_peer_port(c);
    snprintf(f->listener, sizeof f->listener, "%s", conn_listener_name(c));
    *conn_ud = f;
    return &echo_handler;
}

/* Setup and teardown. */

static void
on_wake(uv_async_t *h)
{
    struct fix *f = h->data;
    if (f->on_wake_hook != NULL)
        f->on_wake_hook(f);
}

static void
on_guard(uv_timer_t *t)
{
    struct fix *f = t->data;
    f->timed_out = true;
}

/* Creates the loop, the net and two self-signed identities ("localhost" first,
 * "second.test"). Returns 0 or -1. */
FIX_FN int
fix_init(struct fix *f, size_t max_output)
{
    memset(f, 0, sizeof *f);
    if (getenv("YB_TEST_DEBUG") != NULL)
        log_set_level(LOG_DEBUG);
    if (uv_loop_init(&f->loop) != 0)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/yb-net-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->cert1, sizeof f->cert1, "%s/localhost.crt", f->dir);
    snprintf(f->key1, sizeof f->key1, "%s/localhost.key", f->dir);
    snprintf(f->cert2, sizeof f->cert2, "%s/second.crt", f->dir);
    snprintf(f->key2, sizeof f->key2, "%s/second.key", f->dir);
    if (net_tls_generate_self_signed("localhost", f->cert1, f->key1, 30) != 0 ||
        net_tls_generate_self_signed("second.test", f->cert2, f->key2, 30) != 0)
        return -1;
    struct net_config cfg;
    memset(&cfg, 0, sizeof cfg);
    parser_limits_default(&cfg.parser);
    cfg.max_output_bytes = max_output ? max_output : 1 << 20;
    cfg.io_threads = fix_io_threads();
    f->net = net_new(&f->loop, &cfg);
    if (f->net == NULL)
        return -1;
    if (net_tls_add_identity(f->net, "localhost", f->cert1, f->key1) != 0 ||
        net_tls_add_identity(f->net, "second.test", f->cert2, f->key2) != 0)
        return -1;
    uv_async_init(&f->loop, &f->wake, on_wake);
    f->wake.data = f;
    uv_timer_init(&f->loop, &f->guard);
    f->guard.data = f;
    uv_timer_start(&f->guard, on_guard, 20000, 0);
    uv_idle_init(&f->loop, &f->flood);
    f->flood.data = f;
    uv_timer_init(&f->loop, &f->later);
    f->later.data = f;
    return 0;
}

/* Listens on 127.0.0.1 port 0 (name "starttls" or "direct"). Returns the port. */
FIX_FN int
fix_listen(struct fix *f, enum listen_tls tls, const char *alpn)
{
    struct listen_config lc = {
        .address = "127.0.0.1",
        .port = 0,
        .tls = tls,
        .alpn = alpn,
        .name = tls == LISTEN_STARTTLS ? "starttls" : "direct",
    };
    if (net_listen(f->net, &lc, on_accept, f) != 0)
        return -1;
    f->port = net_listener_port(f->net, 0);
    return f->port;
}

FIX_FN void
fix_fini(struct fix *f)
{
    net_free(f->net);
    f->net = NULL;
    uv_close((uv_handle_t *)&f->wake, NULL);
    uv_close((uv_handle_t *)&f->guard, NULL);
    uv_close((uv_handle_t *)&f->flood, NULL);
    uv_close((uv_handle_t *)&f->later, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&f->loop) != 0)
        fprintf(stderr, "fixture: handles left on the loop\n");
    unlink(f->cert1);
    unlink(f->key1);
    unlink(f->cert2);
    unlink(f->key2);
    rmdir(f->dir);
}

static void *
client_main(void *arg)
{
    struct fix *f = arg;
    f->client(f);
    ERR_clear_error();
    atomic_store(&f->client_done, true);
    uv_async_send(&f->wake);
    return NULL;
}

/* Runs client in a thread and the loop here until the client finished and every
 * accepted connection is closed. */
FIX_FN void
fix_run(struct fix *f, void (*client)(struct fix *))
{
    f->client = client;
    pthread_create(&f->thread, NULL, client_main, f);
    while (!atomic_load(&f->client_done) && !f->timed_out)
        uv_run(&f->loop, UV_RUN_ONCE);
    pthread_join(f->thread, NULL);
    while (f->n_closed < f->n_accepted && !f->timed_out)
        uv_run(&f->loop, UV_RUN_ONCE);
}

/* The blocking client. */

struct cli {
    struct fix *f;
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    char buf[65536];
    size_t len;
    int ssl_err;          /* the last SSL_get_error of a failed read */
    z_stream *zin, *zout; /* XEP-0138 once cli_compress() ran */
    char *raw;            /* every compressed byte received (for counting flushes) */
    size_t raw_len;
};

FIX_FN void
cfail(struct fix *f, int line, const char *what)
{
    if (f->client_err[0] == '\0')
        snprintf(f->client_err, sizeof f->client_err, "line %d: %s", line, what);
}

#define CCHECK(f, cond)                                                                            \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            cfail((f), __LINE__, #cond);                                                           \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

FIX_FN int
cli_connect(struct cli *cl, struct fix *f, int rcvbuf)
{
    memset(cl, 0, sizeof *cl);
    cl->f = f;
    cl->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (cl->fd < 0)
        return -1;
    struct timeval tv = {.tv_sec = 5};
    setsockopt(cl->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(cl->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (rcvbuf > 0)
        setsockopt(cl->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
    return connect(cl->fd, (struct sockaddr *)&sin, sizeof sin);
}

FIX_FN void
cli_close(struct cli *cl)
{
    if (cl->zin != NULL) {
        inflateEnd(cl->zin);
        deflateEnd(cl->zout);
    }
    free(cl->zin);
    free(cl->zout);
    free(cl->raw);
    cl->zin = cl->zout = NULL;
    cl->raw = NULL;
    SSL_free(cl->ssl);
    SSL_CTX_free(cl->ctx);
    cl->ssl = NULL;
    cl->ctx = NULL;
    if (cl->fd >= 0)
        close(cl->fd);
    cl->fd = -1;
}

/* Sends bytes as they are (over TLS if it is up). */
FIX_FN int
cli_send_bytes(struct cli *cl, const char *s, size_t len)
{
    if (cl->ssl != NULL)
        return SSL_write(cl->ssl, s, (int)len) == (int)len ? 0 : -1;
    while (len > 0) {
        ssize_t n = send(cl->fd, s, len, MSG_NOSIGNAL);
        if (n <= 0)
            return -1;
        s += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Deflates len bytes with one sync flush into a new buffer (*out, *out_len). */
FIX_FN int
cli_deflate(struct cli *cl, const char *s, size_t len, char **out, size_t *out_len)
{
    size_t cap = deflateBound(cl->zout, len) + 64;
    *out = malloc(cap);
    if (*out == NULL)
        return -1;
    cl->zout->next_in = (Bytef *)(uintptr_t)s;
    cl->zout->avail_in = (uInt)len;
    cl->zout->next_out = (Bytef *)*out;
    cl->zout->avail_out = (uInt)cap;
    int zr = deflate(cl->zout, Z_SYNC_FLUSH);
    *out_len = cap - cl->zout->avail_out;
    return zr == Z_OK && cl->zout->avail_in == 0 ? 0 : -1;
}

/* Sends s, compressed once cli_compress() ran. */
FIX_FN int
cli_send(struct cli *cl, const char *s)
{
    if (cl->zout == NULL)
        return cli_send_bytes(cl, s, strlen(s));
    char *z;
    size_t zlen;
    int rc = cli_deflate(cl, s, strlen(s), &z, &zlen);
    if (rc == 0)
        rc = cli_send_bytes(cl, z, zlen);
    free(z);
    return rc;
}

/* From now on both directions are zlib streams (client default: 32 KiB window). */
FIX_FN int
cli_compress(struct cli *cl)
{
    cl->zin = calloc(1, sizeof *cl->zin);
    cl->zout = calloc(1, sizeof *cl->zout);
    cl->raw = malloc(1 << 20);
    if (cl->zin == NULL || cl->zout == NULL || cl->raw == NULL)
        return -1;
    if (inflateInit(cl->zin) != Z_OK)
        return -1;
    return deflateInit(cl->zout, Z_DEFAULT_COMPRESSION) == Z_OK ? 0 : -1;
}

FIX_FN int cli_read_raw(struct cli *cl, char *dst, size_t cap);

/* Reads once; returns bytes, 0 at EOF (clean), -1 on error or timeout. */
FIX_FN int
cli_read_some(struct cli *cl)
{
    if (cl->len + 1 >= sizeof cl->buf)
        return -1;
    if (cl->zin != NULL) {
        char tmp[16384];
        int n = cli_read_raw(cl, tmp, sizeof tmp);
        if (n <= 0)
            return n;
        if (cl->raw_len + (size_t)n <= 1 << 20) {
            memcpy(cl->raw + cl->raw_len, tmp, (size_t)n);
            cl->raw_len += (size_t)n;
        }
        cl->zin->next_in = (Bytef *)tmp;
        cl->zin->avail_in = (uInt)n;
        size_t before = cl->len;
        while (cl->zin->avail_in > 0) {
            if (cl->len + 1 >= sizeof cl->buf)
                return -1;
            cl->zin->next_out = (Bytef *)cl->buf + cl->len;
            cl->zin->avail_out = (uInt)(sizeof cl->buf - 1 - cl->len);
            uInt avail = cl->zin->avail_out;
            int zr = inflate(cl->zin, Z_SYNC_FLUSH);
            cl->len += avail - cl->zin->avail_out;
            if (zr != Z_OK && zr != Z_BUF_ERROR)
                return -1;
        }
        cl->buf[cl->len] = '\0';
        return (int)(cl->len - before);
    }
    int n = cli_read_raw(cl, cl->buf + cl->len, sizeof cl->buf - 1 - cl->len);
    if (n > 0) {
        cl->len += (size_t)n;
        cl->buf[cl->len] = '\0';
    }
    return n;
}

/* One read from the socket (through TLS if up) into dst. */
FIX_FN int
cli_read_raw(struct cli *cl, char *dst, size_t cap)
{
    int n;
    if (cl->ssl != NULL) {
        n = SSL_read(cl->ssl, dst, (int)cap);
        if (n <= 0) {
            cl->ssl_err = SSL_get_error(cl->ssl, n);
            return cl->ssl_err == SSL_ERROR_ZERO_RETURN ? 0 : -1;
        }
    } else {
        n = (int)recv(cl->fd, dst, cap, 0);
        if (n < 0)
            return -1;
    }
    return n;
}

/* Reads until needle has arrived; the buffer keeps what follows it. */
FIX_FN bool
cli_expect(struct cli *cl, const char *needle)
{
    for (;;) {
        char *p = strstr(cl->buf, needle);
        if (cl->len > 0 && p != NULL) {
            size_t cut = (size_t)(p - cl->buf) + strlen(needle);
            memmove(cl->buf, cl->buf + cut, cl->len - cut + 1);
            cl->len -= cut;
            return true;
        }
        size_t keep = strlen(needle);
        if (cl->len > sizeof cl->buf / 2 && cl->len > keep) {
            /* Long input: only a needle across the cut matters. */
            memmove(cl->buf, cl->buf + cl->len - keep, keep + 1);
            cl->len = keep;
        }
        if (cli_read_some(cl) <= 0)
            return false;
    }
}

/* Reads until EOF: true for a clean end (TCP FIN, or close_notify over TLS). */
FIX_FN bool
cli_expect_eof(struct cli *cl)
{
    for (;;) {
        cl->len = 0;
        cl->buf[0] = '\0';
        int n = cli_read_some(cl);
        if (n == 0)
            return true;
        if (n < 0)
            return false;
    }
}

struct cli_tls_opts {
    const char *sni;
    const unsigned char *alpn; /* wire format */
    unsigned alpn_len;
    int min_version, max_version;
    const char *ciphers;
};

/* Client TLS handshake on the connected socket. Returns 0, or -1 with the reason of
 * the first OpenSSL error in cl->f->c_ssl_reason. */
FIX_FN int
cli_tls(struct cli *cl, const struct cli_tls_opts *o)
{
    cl->ctx = SSL_CTX_new(TLS_client_method());
    if (cl->ctx == NULL)
        return -1;
    SSL_CTX_set_verify(cl->ctx, SSL_VERIFY_NONE, NULL);
    if (o->min_version)
        SSL_CTX_set_min_proto_version(cl->ctx, o->min_version);
    if (o->max_version)
        SSL_CTX_set_max_proto_version(cl->ctx, o->max_version);
    if (o->ciphers)
        SSL_CTX_set_cipher_list(cl->ctx, o->ciphers);
    cl->ssl = SSL_new(cl->ctx);
    if (o->sni) {
        char name[256]; /* the macro casts away const */
        snprintf(name, sizeof name, "%s", o->sni);
        SSL_set_tlsext_host_name(cl->ssl, name);
    }
    if (o->alpn)
        SSL_set_alpn_protos(cl->ssl, o->alpn, o->alpn_len);
    SSL_set_fd(cl->ssl, cl->fd);
    ERR_clear_error();
    if (SSL_connect(cl->ssl) != 1) {
        cl->f->c_ssl_reason = ERR_GET_REASON(ERR_peek_error());
        ERR_clear_error();
        return -1;
    }
    return 0;
}

/* Records what the client sees of the session: exporter, ALPN, the server
 * certificate's SHA-256. */
FIX_FN void
cli_tls_record(struct cli *cl)
{
    struct fix *f = cl->f;
    const char *label = "EXPORTER-Channel-Binding";
    if (SSL_version(cl->ssl) == TLS1_3_VERSION &&
        SSL_export_keying_material(cl->ssl, f->c_exporter, 32, label, strlen(label), NULL, 0, 0) ==
            1)
        f->c_exporter_len = 32;
    const unsigned char *alpn = NULL;
    unsigned alpn_len = 0;
    SSL_get0_alpn_selected(cl->ssl, &alpn, &alpn_len);
    if (alpn != NULL && alpn_len < sizeof f->c_alpn)
        memcpy(f->c_alpn, alpn, alpn_len);
    X509 *cert = SSL_get1_peer_certificate(cl->ssl);
    if (cert != NULL) {
        unsigned len = 0;
        X509_digest(cert, EVP_sha256(), f->c_end_point, &len);
        X509_free(cert);
    }
}

#define ASSERT_CLIENT_OK(f)                                                                        \
    do {                                                                                           \
        if ((f)->client_err[0] != '\0')                                                            \
            TEST__FAIL("client: %s", (f)->client_err);                                             \
        if ((f)->timed_out)                                                                        \
            TEST__FAIL("timed out; server events: %s", (f)->events);                               \
    } while (0)

#endif
