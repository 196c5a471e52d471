/* SPDX-License-Identifier: MIT
 *
 * floor.c: yerba-floor, the machine's floor under issue 5's targets. It measures the least any
 * server can cost here, with no XMPP at all: relaying fixed-size messages between paired
 * connections (plain TCP or TLS 1.3), bare TLS handshakes, the memory an idle connection holds,
 * and what one wake-up from epoll_wait costs. The "server" is a forked child on one plain epoll
 * loop; the parent is the client and reads the child's CPU and RSS from /proc (procstat.c), as
 * yerba-bench does with --server-pid. The server's TLS is set up as yerbad's (src/net/tls.c):
 * memory BIOs, the same cipher list and options, SSL_MODE_RELEASE_BUFFERS, one
 * session ticket, an EC P-256 key. docs/bench.md describes the modes and figures.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "hist.h"
#include "procstat.h"

/* As src/net/tls.c: TLS 1.2 suites with forward secrecy and AEAD only. */
#define FLOOR_CIPHERS   "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL:!MD5:!RC4:!3DES"
#define FLOOR_HDR_BYTES 16 /* send time (8), step (4), sequence (4) */
#define FLOOR_MAX_STEPS 24
#define FLOOR_HELLO     4 /* a relay client's first bytes: its index, little-endian */

enum floor_mode { MODE_RELAY, MODE_HANDSHAKE, MODE_IDLE, MODE_WAKEUP };

struct opts {
    enum floor_mode mode;
    bool tls, json, step;
    int clients, conns, inflight, bytes;
    double rate, duration, drain, hold;
    double step_secs, step_factor, step_p99_ms, max_rate;
    int server_cpu, client_cpu;
};

/* One nonblocking socket, with TLS over memory BIOs when ssl is set (as yerbad's
 * conn.c: the socket sees only ciphertext, OpenSSL never touches the descriptor). */
struct fconn {
    int fd;
    int idx;           /* relay: the client's index (-1 until its hello arrived) */
    uint8_t hello_got; /* relay server: bytes of the hello read so far */
    uint32_t hello;    /* and their value */
    bool hs_done, closing;
    SSL *ssl;
    uint8_t *out; /* bytes the socket did not take yet */
    size_t out_len, out_cap;
};

typedef void conn_data_fn(struct fconn *c, const uint8_t *p, size_t n);
typedef void conn_up_fn(struct fconn *c);

/* One read buffer, one plaintext buffer and one ciphertext buffer for all
 * connections: the floor keeps nothing per connection while it is idle. */
static uint8_t g_rbuf[65536], g_pbuf[65536], g_cbuf[16384];
static int g_ep = -1;
static char TAG_LISTEN, TAG_CTL;

static int64_t
clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t
now_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

static void
die(const char *what)
{
    fprintf(stderr, "yerba-floor: %s: %s\n", what, errno ? strerror(errno) : "failed");
    ERR_print_errors_fp(stderr);
    exit(3);
}

static void
pin(int cpu)
{
    if (cpu < 0)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0)
        die("sched_setaffinity");
}

static void
ep_set(int op, int fd, void *ptr, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = ptr};
    if (epoll_ctl(g_ep, op, fd, &ev) != 0 && op != EPOLL_CTL_DEL)
        die("epoll_ctl");
}

static void
sock_tune(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* Writes what the socket takes and keeps the rest for EPOLLOUT. Returns 0 or -1. */
static int
conn_write_raw(struct fconn *c, const uint8_t *p, size_t n)
{
    if (c->out_len == 0) {
        ssize_t w = write(c->fd, p, n);
        if (w < 0) {
            if (errno != EAGAIN && errno != EINTR)
                return -1;
            w = 0;
        }
        p += w;
        n -= (size_t)w;
        if (n == 0)
            return 0;
        ep_set(EPOLL_CTL_MOD, c->fd, c, EPOLLIN | EPOLLOUT);
    }
    if (c->out_len + n > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < c->out_len + n)
            cap *= 2;
        c->out = realloc(c->out, cap);
        if (c->out == NULL)
            die("realloc");
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
    return 0;
}

/* EPOLLOUT: writes the backlog; idle connections give its buffer back. */
static int
conn_drain(struct fconn *c)
{
    ssize_t w = write(c->fd, c->out, c->out_len);
    if (w < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : -1;
    memmove(c->out, c->out + w, c->out_len - (size_t)w);
    c->out_len -= (size_t)w;
    if (c->out_len == 0) {
        free(c->out);
        c->out = NULL;
        c->out_cap = 0;
        ep_set(EPOLL_CTL_MOD, c->fd, c, EPOLLIN);
    }
    return 0;
}

/* Moves the records OpenSSL produced to the socket. */
static int
conn_flush_tls(struct fconn *c)
{
    BIO *wbio = SSL_get_wbio(c->ssl);
    int n;
    while (BIO_ctrl_pending(wbio) > 0 && (n = BIO_read(wbio, g_cbuf, sizeof g_cbuf)) > 0)
        if (conn_write_raw(c, g_cbuf, (size_t)n) != 0)
            return -1;
    return 0;
}

static int
conn_send(struct fconn *c, const uint8_t *p, size_t n)
{
    if (c->ssl == NULL)
        return conn_write_raw(c, p, n);
    /* A memory BIO takes everything: SSL_write never wants to retry. */
    if (SSL_write(c->ssl, p, (int)n) != (int)n)
        return -1;
    return conn_flush_tls(c);
}

static struct fconn *
conn_init(struct fconn *c, int fd, SSL_CTX *ctx, bool server)
{
    memset(c, 0, sizeof *c);
    c->fd = fd;
    c->idx = -1;
    if (ctx != NULL) {
        c->ssl = SSL_new(ctx);
        BIO *rbio = BIO_new(BIO_s_mem()), *wbio = BIO_new(BIO_s_mem());
        if (c->ssl == NULL || rbio == NULL || wbio == NULL)
            die("SSL_new");
        /* An empty memory BIO means "try again later", not end of file. */
        BIO_set_mem_eof_return(rbio, -1);
        BIO_set_mem_eof_return(wbio, -1);
        SSL_set_bio(c->ssl, rbio, wbio);
        if (server)
            SSL_set_accept_state(c->ssl);
        else
            SSL_set_connect_state(c->ssl);
    }
    ep_set(EPOLL_CTL_ADD, fd, c, EPOLLIN);
    return c;
}

static void
conn_fini(struct fconn *c)
{
    ep_set(EPOLL_CTL_DEL, c->fd, NULL, 0);
    close(c->fd);
    SSL_free(c->ssl);
    free(c->out);
    c->ssl = NULL;
    c->out = NULL;
}

static int
conn_handshake(struct fconn *c, conn_up_fn *on_up)
{
    int r = SSL_do_handshake(c->ssl);
    if (conn_flush_tls(c) != 0)
        return -1;
    if (r == 1) {
        c->hs_done = true;
        if (on_up != NULL)
            on_up(c);
        return 0;
    }
    int e = SSL_get_error(c->ssl, r);
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? 0 : -1;
}

/* EPOLLIN: one read(), then the handshake or every record in it. Returns 1 while
 * open, 0 when the peer closed, -1 on an error. */
static int
conn_readable(struct fconn *c, conn_data_fn *on_data, conn_up_fn *on_up)
{
    ssize_t n = read(c->fd, g_rbuf, sizeof g_rbuf);
    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? 1 : -1;
    if (n == 0)
        return 0;
    if (c->ssl == NULL) {
        on_data(c, g_rbuf, (size_t)n);
        return c->closing ? 0 : 1;
    }
    BIO_write(SSL_get_rbio(c->ssl), g_rbuf, (int)n);
    if (!c->hs_done && conn_handshake(c, on_up) != 0)
        return -1;
    if (!c->hs_done || c->closing)
        return 1;
    int r;
    while ((r = SSL_read(c->ssl, g_pbuf, sizeof g_pbuf)) > 0)
        on_data(c, g_pbuf, (size_t)r);
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_ZERO_RETURN)
        return 0;
    if (e != SSL_ERROR_WANT_READ)
        return -1;
    return conn_flush_tls(c) == 0 ? 1 : -1;
}

/* ---- TLS contexts ---- */

/* The server's context as yerbad's ctx_new(), with an EC P-256 self-signed
 * certificate made in memory. */
static SSL_CTX *
server_ctx_new(void)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (key == NULL || x == NULL || ctx == NULL)
        die("cannot make the certificate");
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"floor.example", -1,
                               -1, 0);
    X509_set_issuer_name(x, name);
    X509_set_pubkey(x, key);
    if (X509_sign(x, key, EVP_sha256()) <= 0)
        die("X509_sign");
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(ctx, FLOOR_CIPHERS) != 1)
        die("SSL_CTX setup");
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_num_tickets(ctx, 1);
    if (SSL_CTX_use_certificate(ctx, x) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1)
        die("cannot use the certificate");
    X509_free(x);
    EVP_PKEY_free(key);
    return ctx;
}

static SSL_CTX *
client_ctx_new(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL)
        die("SSL_CTX_new");
    /* Every connection is a full handshake: the client keeps no session. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    return ctx;
}

/* ---- the server: a forked child on one epoll loop ---- */

struct server {
    const struct opts *o;
    int lfd, ctl;
    SSL_CTX *ctx;
    struct fconn **by_idx; /* relay: connections by the index in their hello */
    int n_hello, n_up;
    uint64_t accepted, handshakes, relayed_bytes, dropped_bytes;
    size_t heap_ready; /* malloc's bytes in use when the server was ready */
};

static struct server g_srv;

static void
server_tell(char what)
{
    if (write(g_srv.ctl, &what, 1) != 1)
        die("control write");
}

static void
server_free(struct fconn *c)
{
    if (c->idx >= 0 && g_srv.by_idx != NULL && g_srv.by_idx[c->idx] == c)
        g_srv.by_idx[c->idx] = NULL;
    conn_fini(c);
    free(c);
}

static void
server_count_up(void)
{
    if (++g_srv.n_up == g_srv.o->clients)
        server_tell('A');
}

/* Relay: the hello names the connection, then every byte goes to the partner. */
static void
relay_data(struct fconn *c, const uint8_t *p, size_t n)
{
    while (c->idx < 0 && n > 0) {
        c->hello |= (uint32_t)*p++ << (8 * c->hello_got++);
        n--;
        if (c->hello_got < FLOOR_HELLO)
            continue;
        if (c->hello >= (uint32_t)g_srv.o->clients || g_srv.by_idx[c->hello] != NULL) {
            c->closing = true;
            return;
        }
        c->idx = (int)c->hello;
        g_srv.by_idx[c->idx] = c;
        if (++g_srv.n_hello == g_srv.o->clients)
            server_tell('A');
    }
    if (n == 0)
        return;
    struct fconn *peer = g_srv.by_idx[c->idx ^ 1];
    if (peer != NULL && !peer->closing && conn_send(peer, p, n) == 0)
        g_srv.relayed_bytes += n;
    else
        g_srv.dropped_bytes += n;
}

static void
ignore_data(struct fconn *c, const uint8_t *p, size_t n)
{
    (void)c;
    (void)p;
    (void)n;
}

/* Handshake mode: done, so say goodbye and close (once the socket took it). */
static void
handshake_up(struct fconn *c)
{
    g_srv.handshakes++;
    SSL_shutdown(c->ssl);
    conn_flush_tls(c);
    c->closing = true;
}

static void
idle_up(struct fconn *c)
{
    (void)c;
    g_srv.handshakes++;
    server_count_up();
}

static void
server_accept(void)
{
    for (;;) {
        int fd = accept4(g_srv.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == ECONNABORTED || errno == EINTR)
                return;
            die("accept");
        }
        sock_tune(fd);
        g_srv.accepted++;
        struct fconn *c = malloc(sizeof *c);
        if (c == NULL)
            die("malloc");
        conn_init(c, fd, g_srv.ctx, true);
        if (g_srv.o->mode == MODE_IDLE && g_srv.ctx == NULL)
            server_count_up();
    }
}

static void
server_conn_event(struct fconn *c, uint32_t events)
{
    const struct opts *o = g_srv.o;
    if ((events & EPOLLOUT) && c->out_len > 0 && conn_drain(c) != 0) {
        server_free(c);
        return;
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        conn_up_fn *up = o->mode == MODE_HANDSHAKE ? handshake_up
                         : o->mode == MODE_IDLE    ? idle_up
                                                   : NULL;
        int r = conn_readable(c, o->mode == MODE_RELAY ? relay_data : ignore_data, up);
        if (r < 0 || (r == 0 && !c->closing)) {
            server_free(c);
            return;
        }
    }
    if (c->closing && c->out_len == 0)
        server_free(c);
}

/* Quit: report the server's own counts to the parent, then exit. */
static void
server_finish(void)
{
    char line[256];
    int len = snprintf(line, sizeof line,
                       "accepted=%" PRIu64 " handshakes=%" PRIu64 " relayed_bytes=%" PRIu64
                       " dropped_bytes=%" PRIu64 " heap_ready=%zu heap_end=%zu\n",
                       g_srv.accepted, g_srv.handshakes, g_srv.relayed_bytes, g_srv.dropped_bytes,
                       g_srv.heap_ready, mallinfo2().uordblks);
    if (write(g_srv.ctl, line, (size_t)len) != len)
        die("control write");
    _exit(0);
}

static void
ctl_expect(int ctl, char want)
{
    char got;
    if (read(ctl, &got, 1) != 1 || got != want) {
        errno = 0;
        die("control protocol");
    }
}

/* Wakeup mode: the cost of sleeping in epoll_wait and being woken by a timer --rate
 * times a second (what an idle server pays for each message that arrives alone),
 * then of one trivial system call. */
static void
wakeup_serve(const struct opts *o, int ctl)
{
    g_srv = (struct server){.o = o, .ctl = ctl};
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    if ((g_ep = epoll_create1(EPOLL_CLOEXEC)) < 0 || tfd < 0)
        die("timerfd");
    ep_set(EPOLL_CTL_ADD, tfd, NULL, EPOLLIN);
    server_tell('R');
    ctl_expect(ctl, 'G');
    long period = (long)(1e9 / o->rate);
    struct itimerspec its = {{period / 1000000000, period % 1000000000},
                             {period / 1000000000, period % 1000000000}};
    timerfd_settime(tfd, 0, &its, NULL);
    uint64_t wakeups = 0, expirations = 0, x;
    struct epoll_event ev;
    for (int64_t end = now_ns() + (int64_t)(o->duration * 1e9); now_ns() < end;) {
        if (epoll_wait(g_ep, &ev, 1, -1) == 1 && read(tfd, &x, sizeof x) == sizeof x) {
            wakeups++;
            expirations += x;
        }
    }
    close(tfd);
    server_tell('D');
    ctl_expect(ctl, 'S');
    enum { N_CALLS = 200000 };
    int64_t c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    for (int i = 0; i < N_CALLS; i++)
        syscall(SYS_getppid); /* not cached by libc */
    double call_ns = (double)(clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0) / N_CALLS;
    char line[128];
    int len =
        snprintf(line, sizeof line, "wakeups=%" PRIu64 " expirations=%" PRIu64 " call_ns=%.1f\n",
                 wakeups, expirations, call_ns);
    if (write(ctl, line, (size_t)len) != len)
        die("control write");
    _exit(0);
}

static void
server_run(const struct opts *o, int lfd, int ctl)
{
    if (o->mode == MODE_WAKEUP)
        wakeup_serve(o, ctl);
    g_srv = (struct server){.o = o, .lfd = lfd, .ctl = ctl};
    if (o->tls)
        g_srv.ctx = server_ctx_new();
    if (o->mode == MODE_RELAY &&
        (g_srv.by_idx = calloc((size_t)o->clients, sizeof(void *))) == NULL)
        die("calloc");
    if ((g_ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
        die("epoll_create1");
    ep_set(EPOLL_CTL_ADD, lfd, &TAG_LISTEN, EPOLLIN);
    ep_set(EPOLL_CTL_ADD, ctl, &TAG_CTL, EPOLLIN);
    g_srv.heap_ready = mallinfo2().uordblks;
    server_tell('R');
    struct epoll_event ev[256];
    for (;;) {
        int n = epoll_wait(g_ep, ev, 256, -1);
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        for (int i = 0; i < n; i++) {
            if (ev[i].data.ptr == &TAG_LISTEN)
                server_accept();
            else if (ev[i].data.ptr == &TAG_CTL)
                server_finish();
            else
                server_conn_event(ev[i].data.ptr, ev[i].events);
        }
    }
}

/* ---- the client: the parent process ---- */

struct cconn {
    struct fconn io; /* first: callbacks get &io */
    int64_t t0_ns;   /* handshake mode: when the connect started */
    uint8_t *rx;     /* relay: the message being received */
    size_t rx_len;
};

struct step {
    double rate, secs;
    uint64_t asked, sent, received;
    struct hist lat;
    int64_t cpu_us;        /* the server's */
    int64_t client_cpu_us; /* this process's: near 100 % of secs, the generator is the limit */
    bool saturated, good;
};

struct client {
    const struct opts *o;
    SSL_CTX *ctx;
    struct sockaddr_in addr;
    int ctl;
    pid_t server;
    struct cconn *conns; /* relay and idle: o->clients of them */
    int n_started, n_up, n_open, n_failed, n_dropped;
    bool server_ready, server_all, measuring;
    uint32_t step_id;
    uint64_t seq, late;
    struct step *cur;
    struct hist hs_lat; /* handshake mode: connect to handshake done */
    char version[32], cipher[64], group[32];
    char server_line[256];
};

static struct client g_cl;

static void
client_note_tls(SSL *ssl)
{
    if (g_cl.cipher[0] != '\0')
        return;
    snprintf(g_cl.version, sizeof g_cl.version, "%s", SSL_get_version(ssl));
    snprintf(g_cl.cipher, sizeof g_cl.cipher, "%s", SSL_get_cipher_name(ssl));
    int nid = SSL_get_negotiated_group(ssl);
    const char *g = nid != NID_undef ? OBJ_nid2sn(nid) : NULL;
    snprintf(g_cl.group, sizeof g_cl.group, "%s", g != NULL ? g : "?");
}

static void
client_up(struct fconn *io)
{
    struct cconn *c = (struct cconn *)io;
    g_cl.n_up++;
    if (io->ssl != NULL)
        client_note_tls(io->ssl);
    if (g_cl.o->mode == MODE_HANDSHAKE) {
        hist_record(&g_cl.hs_lat, (uint64_t)(now_ns() - c->t0_ns));
    } else if (g_cl.o->mode == MODE_RELAY) {
        uint32_t i = (uint32_t)io->idx;
        uint8_t h[FLOOR_HELLO] = {(uint8_t)i, (uint8_t)(i >> 8), (uint8_t)(i >> 16),
                                  (uint8_t)(i >> 24)};
        if (conn_send(io, h, sizeof h) != 0)
            io->closing = true;
    }
}

static uint64_t
get_u64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint32_t
get_u32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static void
client_message(const uint8_t *m)
{
    int64_t sent_ns = (int64_t)get_u64(m);
    if (g_cl.cur == NULL || get_u32(m + 8) != g_cl.step_id) {
        g_cl.late++; /* after its step's drain */
        return;
    }
    g_cl.cur->received++;
    hist_record(&g_cl.cur->lat, (uint64_t)(now_ns() - sent_ns));
}

/* Relay: cuts the stream into messages of --bytes. */
static void
client_data(struct fconn *io, const uint8_t *p, size_t n)
{
    struct cconn *c = (struct cconn *)io;
    size_t b = (size_t)g_cl.o->bytes;
    if (g_cl.o->mode != MODE_RELAY)
        return;
    while (n > 0) {
        if (c->rx_len == 0 && n >= b) {
            client_message(p);
            p += b;
            n -= b;
            continue;
        }
        if (c->rx == NULL && (c->rx = malloc(b)) == NULL)
            die("malloc");
        size_t take = b - c->rx_len < n ? b - c->rx_len : n;
        memcpy(c->rx + c->rx_len, p, take);
        c->rx_len += take;
        p += take;
        n -= take;
        if (c->rx_len == b) {
            client_message(c->rx);
            c->rx_len = 0;
        }
    }
}

static void
client_close(struct cconn *c)
{
    conn_fini(&c->io);
    free(c->rx);
    c->rx = NULL;
    c->io.fd = -1;
    g_cl.n_open--;
}

/* A blocking connect (immediate on loopback), then nonblocking I/O. */
static void
client_open(struct cconn *c, int idx)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket");
    int64_t t0 = now_ns();
    if (connect(fd, (struct sockaddr *)&g_cl.addr, sizeof g_cl.addr) != 0)
        die("connect");
    if (fcntl(fd, F_SETFL, O_NONBLOCK) != 0)
        die("fcntl");
    sock_tune(fd);
    conn_init(&c->io, fd, g_cl.ctx, false);
    c->io.idx = idx;
    c->t0_ns = t0;
    c->rx = NULL;
    c->rx_len = 0;
    g_cl.n_started++;
    g_cl.n_open++;
    if (c->io.ssl == NULL)
        client_up(&c->io);
    else if (conn_handshake(&c->io, client_up) != 0)
        die("TLS client start");
}

static void
client_ctl_read(void)
{
    char buf[64];
    ssize_t n = read(g_cl.ctl, buf, sizeof buf);
    if (n <= 0) {
        errno = 0;
        die("the server process went away");
    }
    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] == 'R')
            g_cl.server_ready = true;
        else if (buf[i] == 'A')
            g_cl.server_all = true;
    }
}

static void
client_conn_event(struct cconn *c, uint32_t events)
{
    int r = 1;
    if ((events & EPOLLOUT) && c->io.out_len > 0 && conn_drain(&c->io) != 0)
        r = -1;
    if (r > 0 && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        r = conn_readable(&c->io, client_data, client_up);
    if (r > 0 && !c->io.closing)
        return;
    if (g_cl.o->mode != MODE_HANDSHAKE)
        g_cl.n_dropped++;
    else if (!c->io.hs_done || r < 0)
        g_cl.n_failed++;
    client_close(c);
    if (g_cl.o->mode == MODE_HANDSHAKE)
        free(c);
}

/* One turn of the client's loop, waiting at most timeout_ms. */
static void
client_poll(int timeout_ms)
{
    struct epoll_event ev[256];
    int n = epoll_wait(g_ep, ev, 256, timeout_ms);
    if (n < 0 && errno != EINTR)
        die("epoll_wait");
    for (int i = 0; i < n; i++) {
        if (ev[i].data.ptr == &TAG_CTL)
            client_ctl_read();
        else
            client_conn_event(ev[i].data.ptr, ev[i].events);
    }
}

static void
client_poll_for(double secs)
{
    int64_t end = now_ns() + (int64_t)(secs * 1e9);
    for (int64_t t; (t = now_ns()) < end;)
        client_poll((int)((end - t) / 1000000) + 1);
}

/* Relay and idle: opens every client, at most --inflight handshakes at once, and
 * waits until the server has seen them all. Returns false on a failure. */
static bool
client_connect_all(void)
{
    const struct opts *o = g_cl.o;
    int64_t deadline = now_ns() + (int64_t)(60 + o->clients / 100) * 1000000000;
    while (g_cl.n_up < o->clients || !g_cl.server_all) {
        while (g_cl.n_started < o->clients && g_cl.n_started - g_cl.n_up < o->inflight)
            client_open(&g_cl.conns[g_cl.n_started], g_cl.n_started);
        client_poll(10);
        if (g_cl.n_dropped > 0 || now_ns() > deadline)
            return false;
    }
    return true;
}

static uint8_t *g_msg;

static void
client_send_one(struct step *s)
{
    struct cconn *c = &g_cl.conns[g_cl.seq % (uint64_t)g_cl.o->clients];
    uint64_t t = (uint64_t)now_ns();
    uint32_t seq = (uint32_t)g_cl.seq++;
    memcpy(g_msg, &t, 8);
    memcpy(g_msg + 8, &g_cl.step_id, 4);
    memcpy(g_msg + 12, &seq, 4);
    if (c->io.fd >= 0 && conn_send(&c->io, g_msg, (size_t)g_cl.o->bytes) != 0)
        c->io.closing = true;
    s->sent++;
}

/* One relay phase at a fixed rate: a message is due every 1/rate s, sent from the
 * clients in turn, each to its partner; then up to --drain s for the stragglers. */
static void
relay_step(struct step *s, double rate, double secs)
{
    const struct opts *o = g_cl.o;
    memset(s, 0, sizeof *s);
    hist_init(&s->lat);
    s->rate = rate;
    s->asked = (uint64_t)(rate * secs + 0.5);
    g_cl.step_id++;
    g_cl.cur = s;
    struct procstat p0, p1;
    procstat_read(g_cl.server, &p0);
    int64_t c0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    int64_t t0 = now_ns(), end = t0 + (int64_t)(secs * 1e9), t;
    while ((t = now_ns()) < end) {
        uint64_t due = (uint64_t)((double)(t - t0) * rate / 1e9);
        while (s->sent < due && s->sent < s->asked)
            client_send_one(s);
        client_poll(1);
    }
    int64_t drain_end = now_ns() + (int64_t)(o->drain * 1e9);
    while (s->received < s->sent && now_ns() < drain_end && g_cl.n_dropped == 0)
        client_poll(5);
    procstat_read(g_cl.server, &p1);
    s->client_cpu_us = (clock_ns(CLOCK_PROCESS_CPUTIME_ID) - c0) / 1000;
    s->secs = (double)(now_ns() - t0) / 1e9;
    g_cl.cur = NULL;
    s->cpu_us = p1.cpu_us - p0.cpu_us;
    s->saturated = (double)s->sent < 0.98 * (double)s->asked;
    s->good = s->received == s->sent && g_cl.n_dropped == 0 &&
              (double)hist_percentile(&s->lat, 99) <= o->step_p99_ms * 1e6;
}

/* Asks the server to stop and reads its own counts. */
static void
client_finish(void)
{
    if (write(g_cl.ctl, "Q", 1) != 1)
        die("control write");
    size_t len = 0;
    while (len < sizeof g_cl.server_line - 1) {
        ssize_t n = read(g_cl.ctl, g_cl.server_line + len, sizeof g_cl.server_line - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        g_cl.server_line[len] = '\0';
        if (strchr(g_cl.server_line, '\n') != NULL)
            break;
    }
    waitpid(g_cl.server, NULL, 0);
}

/* ---- reports ---- */

struct server_counts {
    uint64_t accepted, handshakes, relayed_bytes, dropped_bytes;
    size_t heap_ready, heap_end; /* malloc's bytes in use (mallinfo2) */
};

static struct server_counts
server_counts(void)
{
    struct server_counts sc = {0};
    const char *l = g_cl.server_line;
    if (sscanf(l,
               "accepted=%" SCNu64 " handshakes=%" SCNu64 " relayed_bytes=%" SCNu64
               " dropped_bytes=%" SCNu64 " heap_ready=%zu heap_end=%zu",
               &sc.accepted, &sc.handshakes, &sc.relayed_bytes, &sc.dropped_bytes, &sc.heap_ready,
               &sc.heap_end) != 6)
        fprintf(stderr, "yerba-floor: no counts from the server\n");
    return sc;
}

static double
ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

static const char *
tls_desc(void)
{
    static char d[160];
    if (!g_cl.o->tls)
        return "plain TCP";
    snprintf(d, sizeof d, "%s %s %s", g_cl.version, g_cl.cipher, g_cl.group);
    return d;
}

static void
json_tls(void)
{
    if (g_cl.o->tls)
        printf("\"tls\":true,\"tls_version\":\"%s\",\"cipher\":\"%s\",\"group\":\"%s\"",
               g_cl.version, g_cl.cipher, g_cl.group);
    else
        printf("\"tls\":false");
}

static double
per_msg(const struct step *s)
{
    return s->received > 0 ? (double)s->cpu_us / (double)s->received : 0;
}

static int
report_relay(struct step *steps, int n_steps, int best)
{
    const struct opts *o = g_cl.o;
    struct server_counts sc = server_counts();
    uint64_t sent = 0, received = 0;
    for (int i = 0; i < n_steps; i++) {
        sent += steps[i].sent;
        received += steps[i].received;
    }
    int rc = g_cl.n_dropped > 0 || (!o->step && received < sent) ? 1 : 0;
    printf("yerba-floor relay: %s, %d clients (%d pairs), %d-byte messages\n", tls_desc(),
           o->clients, o->clients / 2, o->bytes);
    for (int i = 0; i < n_steps; i++) {
        const struct step *s = &steps[i];
        printf("  rate %8.0f msg/s  sent %8" PRIu64 "  received %8" PRIu64 "  lost %" PRIu64
               "  p50 %.3f ms  p99 %.3f ms  max %.3f ms  server %.2f us/msg (%.0f %% of a "
               "core), client %.0f %%%s%s\n",
               s->rate, s->sent, s->received, s->sent - s->received,
               ms(hist_percentile(&s->lat, 50)), ms(hist_percentile(&s->lat, 99)),
               ms(s->lat.count ? s->lat.max_ns : 0), per_msg(s),
               (double)s->cpu_us / (s->secs * 1e4), (double)s->client_cpu_us / (s->secs * 1e4),
               s->saturated ? "  generator saturated" : "",
               o->step ? (s->good ? "  good" : "  bad") : "");
    }
    if (o->step)
        printf("  best       %.0f msg/s with no loss and p99 <= %.1f ms\n",
               best >= 0 ? steps[best].rate : 0.0, o->step_p99_ms);
    printf("  late %" PRIu64 ", dropped connections %d; server relayed %" PRIu64 " bytes (%" PRIu64
           " messages), dropped %" PRIu64 " bytes\n",
           g_cl.late, g_cl.n_dropped, sc.relayed_bytes, sc.relayed_bytes / (uint64_t)o->bytes,
           sc.dropped_bytes);
    if (!o->json)
        return rc;
    const struct step *f = &steps[0];
    printf("{\"mode\":\"relay\",");
    json_tls();
    printf(",\"clients\":%d,\"bytes\":%d,\"rate\":%.0f,\"sent\":%" PRIu64 ",\"received\":%" PRIu64
           ",\"lost\":%" PRIu64 ",\"msg_per_s\":%.1f,\"lat_p50_ms\":%.4f,\"lat_p99_ms\":%.4f,"
           "\"lat_max_ms\":%.4f,\"server_cpu_us_per_msg\":%.3f,\"server_cpu_pct\":%.1f,"
           "\"client_cpu_pct\":%.1f,"
           "\"dropped\":%d,\"server_accepted\":%" PRIu64 ",\"server_relayed_bytes\":%" PRIu64
           ",\"server_dropped_bytes\":%" PRIu64 ",\"total_sent\":%" PRIu64
           ",\"total_received\":%" PRIu64 ",\"late\":%" PRIu64 ",\"steps\":[",
           o->clients, o->bytes, f->rate, f->sent, f->received, f->sent - f->received,
           (double)f->received / f->secs, ms(hist_percentile(&f->lat, 50)),
           ms(hist_percentile(&f->lat, 99)), ms(f->lat.count ? f->lat.max_ns : 0), per_msg(f),
           (double)f->cpu_us / (f->secs * 1e4), (double)f->client_cpu_us / (f->secs * 1e4),
           g_cl.n_dropped, sc.accepted, sc.relayed_bytes, sc.dropped_bytes, sent, received,
           g_cl.late);
    for (int i = 0; i < n_steps; i++) {
        const struct step *s = &steps[i];
        printf("%s{\"rate\":%.0f,\"sent\":%" PRIu64 ",\"received\":%" PRIu64
               ",\"p99_ms\":%.4f,\"server_cpu_us_per_msg\":%.3f,\"server_cpu_pct\":%.1f,"
               "\"client_cpu_pct\":%.1f,\"good\":%s,\"saturated\":%s}",
               i ? "," : "", s->rate, s->sent, s->received, ms(hist_percentile(&s->lat, 99)),
               per_msg(s), (double)s->cpu_us / (s->secs * 1e4),
               (double)s->client_cpu_us / (s->secs * 1e4), s->good ? "true" : "false",
               s->saturated ? "true" : "false");
    }
    printf("],\"best_rate\":");
    if (o->step && best >= 0)
        printf("%.0f", steps[best].rate);
    else
        printf("null");
    printf(",\"exit\":%d}\n", rc);
    return rc;
}

/* ---- the modes, client side ---- */

static int
run_relay(void)
{
    const struct opts *o = g_cl.o;
    static struct step steps[FLOOR_MAX_STEPS];
    int n_steps = 0, best = -1;
    if ((g_msg = malloc((size_t)o->bytes)) == NULL)
        die("malloc");
    memset(g_msg, 'x', (size_t)o->bytes);
    if (!client_connect_all()) {
        fprintf(stderr, "yerba-floor: could not connect every client (%d up, %d dropped)\n",
                g_cl.n_up, g_cl.n_dropped);
        return 3;
    }
    double rate = o->rate;
    do {
        struct step *s = &steps[n_steps++];
        relay_step(s, rate, o->step ? o->step_secs : o->duration);
        if (!s->good || s->saturated)
            break;
        best = n_steps - 1;
        rate = (double)(int64_t)(rate * o->step_factor + 0.5);
    } while (o->step && n_steps < FLOOR_MAX_STEPS && (o->max_rate <= 0 || rate <= o->max_rate));
    client_finish();
    return report_relay(steps, n_steps, best);
}

static int
run_handshake(void)
{
    const struct opts *o = g_cl.o;
    struct procstat p0, p1;
    hist_init(&g_cl.hs_lat);
    procstat_read(g_cl.server, &p0);
    int64_t t0 = now_ns(), deadline = t0 + (int64_t)(60 + o->conns / 100) * 1000000000;
    while ((g_cl.n_started < o->conns || g_cl.n_open > 0) && now_ns() < deadline) {
        while (g_cl.n_started < o->conns && g_cl.n_open < o->inflight) {
            struct cconn *c = calloc(1, sizeof *c);
            if (c == NULL)
                die("calloc");
            client_open(c, g_cl.n_started);
        }
        client_poll(100);
    }
    procstat_read(g_cl.server, &p1);
    double secs = (double)(now_ns() - t0) / 1e9;
    client_finish();
    struct server_counts sc = server_counts();
    int ok = g_cl.n_started - g_cl.n_open - g_cl.n_failed;
    int rc = ok < o->conns ? 1 : 0;
    double cpu_ms = ok > 0 ? (double)(p1.cpu_us - p0.cpu_us) / 1e3 / ok : 0;
    printf("yerba-floor handshake: %s, %d connections, %d in flight\n", tls_desc(), o->conns,
           o->inflight);
    printf("  handshakes %d ok, %d failed, %d unfinished, in %.2f s (%.0f/s)\n", ok, g_cl.n_failed,
           g_cl.n_open, secs, ok / secs);
    printf("  handshake latency p50 %.3f ms  p99 %.3f ms (connect to client Finished)\n",
           ms(hist_percentile(&g_cl.hs_lat, 50)), ms(hist_percentile(&g_cl.hs_lat, 99)));
    printf("  server CPU %.3f ms per connection (accept, handshake, close); server counted "
           "%" PRIu64 " accepts, %" PRIu64 " handshakes\n",
           cpu_ms, sc.accepted, sc.handshakes);
    if (o->json) {
        printf("{\"mode\":\"handshake\",");
        json_tls();
        printf(",\"conns\":%d,\"inflight\":%d,\"ok\":%d,\"failed\":%d,\"unfinished\":%d,"
               "\"secs\":%.3f,\"handshakes_per_s\":%.1f,\"lat_p50_ms\":%.4f,\"lat_p99_ms\":%.4f,"
               "\"server_cpu_ms_per_handshake\":%.4f,\"server_accepted\":%" PRIu64
               ",\"server_handshakes\":%" PRIu64 ",\"exit\":%d}\n",
               o->conns, o->inflight, ok, g_cl.n_failed, g_cl.n_open, secs, ok / secs,
               ms(hist_percentile(&g_cl.hs_lat, 50)), ms(hist_percentile(&g_cl.hs_lat, 99)), cpu_ms,
               sc.accepted, sc.handshakes, rc);
    }
    return rc;
}

static int
run_idle(void)
{
    const struct opts *o = g_cl.o;
    struct procstat p0, p1, p2;
    procstat_read(g_cl.server, &p0);
    bool all = client_connect_all();
    /* Let the last handshakes' buffers go back before reading. */
    client_poll_for(0.2);
    procstat_read(g_cl.server, &p1);
    client_poll_for(o->duration);
    procstat_read(g_cl.server, &p2);
    int up = g_cl.n_up;
    client_finish();
    struct server_counts sc = server_counts();
    int rc = all ? (g_cl.n_dropped > 0 ? 1 : 0) : 3;
    double per = up > 0 ? (double)(p1.rss_kib - p0.rss_kib) / up : 0;
    double per2 = up > 0 ? (double)(p2.rss_kib - p0.rss_kib) / up : 0;
    double heap = up > 0 ? ((double)sc.heap_end - (double)sc.heap_ready) / 1024 / up : 0;
    printf("yerba-floor idle: %s, %d connections (%d up, %d dropped)\n", tls_desc(), o->clients, up,
           g_cl.n_dropped);
    printf("  server RSS %" PRId64 " KiB before, %" PRId64 " KiB with them up, %" PRId64
           " KiB after %.1f s\n",
           p0.rss_kib, p1.rss_kib, p2.rss_kib, o->duration);
    printf("  server RSS per connection %.2f KiB (%.2f KiB after the hold); server counted "
           "%" PRIu64 " accepts, %" PRIu64 " handshakes\n",
           per, per2, sc.accepted, sc.handshakes);
    printf("  server heap in use per connection %.2f KiB (malloc's count, without its overhead "
           "and the kernel's)\n",
           heap);
    if (o->json) {
        printf("{\"mode\":\"idle\",");
        json_tls();
        printf(
            ",\"clients\":%d,\"up\":%d,\"dropped\":%d,\"server_rss_before_kib\":%" PRId64
            ",\"server_rss_after_kib\":%" PRId64 ",\"server_rss_hold_kib\":%" PRId64
            ",\"rss_per_conn_kib\":%.3f,\"rss_per_conn_hold_kib\":%.3f,\"heap_per_conn_kib\":%.3f,"
            "\"server_accepted\":%" PRIu64 ",\"server_handshakes\":%" PRIu64 ",\"exit\":%d}\n",
            o->clients, up, g_cl.n_dropped, p0.rss_kib, p1.rss_kib, p2.rss_kib, per, per2, heap,
            sc.accepted, sc.handshakes, rc);
    }
    return rc;
}

static int
run_wakeup(void)
{
    const struct opts *o = g_cl.o;
    struct procstat p0, p1;
    procstat_read(g_cl.server, &p0);
    if (write(g_cl.ctl, "G", 1) != 1)
        die("control write");
    ctl_expect(g_cl.ctl, 'D');
    procstat_read(g_cl.server, &p1);
    if (write(g_cl.ctl, "S", 1) != 1)
        die("control write");
    char line[128] = "";
    ssize_t n = read(g_cl.ctl, line, sizeof line - 1);
    waitpid(g_cl.server, NULL, 0);
    uint64_t wakeups = 0, expirations = 0;
    double call_ns = 0;
    if (n <= 0 || sscanf(line, "wakeups=%" SCNu64 " expirations=%" SCNu64 " call_ns=%lf", &wakeups,
                         &expirations, &call_ns) != 3) {
        fprintf(stderr, "yerba-floor: no counts from the server\n");
        return 3;
    }
    double per = wakeups > 0 ? (double)(p1.cpu_us - p0.cpu_us) / (double)wakeups : 0;
    printf("yerba-floor wakeup: a timer %.0f times a second for %.1f s\n", o->rate, o->duration);
    printf("  wake-ups %" PRIu64 " (timer expirations %" PRIu64 "), CPU %.2f us per wake-up "
           "(%.1f %% of a core)\n",
           wakeups, expirations, per, (double)(p1.cpu_us - p0.cpu_us) / (o->duration * 1e4));
    printf("  one trivial system call (getppid): %.3f us of CPU\n", call_ns / 1e3);
    if (o->json)
        printf("{\"mode\":\"wakeup\",\"rate\":%.0f,\"wakeups\":%" PRIu64 ",\"expirations\":%" PRIu64
               ",\"cpu_us_per_wakeup\":%.3f,\"syscall_us\":%.4f,\"exit\":0}\n",
               o->rate, wakeups, expirations, per, call_ns / 1e3);
    return 0;
}

/* ---- options and main ---- */

static void
usage(FILE *f)
{
    fputs(
        "usage: yerba-floor relay|handshake|idle|wakeup [options]\n"
        "  --tls / --plain        TLS 1.3 or plain TCP (relay: plain; idle: TLS; handshake: TLS)\n"
        "  --clients N            relay and idle: connections (even for relay; 1000)\n"
        "  --rate R               relay: messages per second, all clients together;\n"
        "                         wakeup: timer wake-ups per second (2000)\n"
        "  --duration S           relay: sending time; idle: hold time; wakeup: timer time\n"
        "                         (relay 10, idle 2, wakeup 5)\n"
        "  --bytes B              relay: bytes per message (250, at least 16)\n"
        "  --drain S              relay: longest wait for messages in flight (2)\n"
        "  --step                 relay: raise the rate by --step-factor every --step-secs\n"
        "                         until loss or p99 > --step-p99 ms (or --max-rate)\n"
        "  --step-secs S, --step-factor F, --step-p99 MS, --max-rate R   (5, 1.5, 10, none)\n"
        "  --conns M              handshake: connections (2000)\n"
        "  --inflight K           handshakes in progress at most (50)\n"
        "  --server-cpu C, --client-cpu C   pin the server child / the client (as taskset -c)\n"
        "  --json                 one JSON line after the human-readable block\n",
        f);
}

static int
parse_opts(int argc, char **argv, struct opts *o)
{
    enum {
        O_TLS = 256,
        O_PLAIN,
        O_CLIENTS,
        O_RATE,
        O_DUR,
        O_BYTES,
        O_DRAIN,
        O_STEP,
        O_STEPSECS,
        O_STEPF,
        O_STEPP99,
        O_MAXRATE,
        O_CONNS,
        O_INFLIGHT,
        O_SCPU,
        O_CCPU,
        O_JSON,
        O_HELP
    };
    static const struct option lo[] = {{"tls", no_argument, 0, O_TLS},
                                       {"plain", no_argument, 0, O_PLAIN},
                                       {"clients", required_argument, 0, O_CLIENTS},
                                       {"rate", required_argument, 0, O_RATE},
                                       {"duration", required_argument, 0, O_DUR},
                                       {"bytes", required_argument, 0, O_BYTES},
                                       {"drain", required_argument, 0, O_DRAIN},
                                       {"step", no_argument, 0, O_STEP},
                                       {"step-secs", required_argument, 0, O_STEPSECS},
                                       {"step-factor", required_argument, 0, O_STEPF},
                                       {"step-p99", required_argument, 0, O_STEPP99},
                                       {"max-rate", required_argument, 0, O_MAXRATE},
                                       {"conns", required_argument, 0, O_CONNS},
                                       {"inflight", required_argument, 0, O_INFLIGHT},
                                       {"server-cpu", required_argument, 0, O_SCPU},
                                       {"client-cpu", required_argument, 0, O_CCPU},
                                       {"json", no_argument, 0, O_JSON},
                                       {"help", no_argument, 0, O_HELP},
                                       {0, 0, 0, 0}};
    if (argc < 2) {
        usage(stderr);
        return -1;
    }
    const char *mode = argv[1];
    if (strcmp(mode, "--help") == 0 || strcmp(mode, "-h") == 0) {
        usage(stdout);
        exit(0);
    }
    *o = (struct opts){.clients = 1000,
                       .rate = 2000,
                       .duration = -1,
                       .bytes = 250,
                       .drain = 2,
                       .step_secs = 5,
                       .step_factor = 1.5,
                       .step_p99_ms = 10,
                       .conns = 2000,
                       .inflight = 50,
                       .server_cpu = -1,
                       .client_cpu = -1};
    int tls = -1;
    if (strcmp(mode, "relay") == 0)
        o->mode = MODE_RELAY;
    else if (strcmp(mode, "handshake") == 0)
        o->mode = MODE_HANDSHAKE;
    else if (strcmp(mode, "idle") == 0)
        o->mode = MODE_IDLE;
    else if (strcmp(mode, "wakeup") == 0)
        o->mode = MODE_WAKEUP;
    else {
        fprintf(stderr, "yerba-floor: unknown mode '%s'\n", mode);
        return -1;
    }
    optind = 2;
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case O_TLS:
            tls = 1;
            break;
        case O_PLAIN:
            tls = 0;
            break;
        case O_CLIENTS:
            o->clients = atoi(optarg);
            break;
        case O_RATE:
            o->rate = atof(optarg);
            break;
        case O_DUR:
            o->duration = atof(optarg);
            break;
        case O_BYTES:
            o->bytes = atoi(optarg);
            break;
        case O_DRAIN:
            o->drain = atof(optarg);
            break;
        case O_STEP:
            o->step = true;
            break;
        case O_STEPSECS:
            o->step_secs = atof(optarg);
            break;
        case O_STEPF:
            o->step_factor = atof(optarg);
            break;
        case O_STEPP99:
            o->step_p99_ms = atof(optarg);
            break;
        case O_MAXRATE:
            o->max_rate = atof(optarg);
            break;
        case O_CONNS:
            o->conns = atoi(optarg);
            break;
        case O_INFLIGHT:
            o->inflight = atoi(optarg);
            break;
        case O_SCPU:
            o->server_cpu = atoi(optarg);
            break;
        case O_CCPU:
            o->client_cpu = atoi(optarg);
            break;
        case O_JSON:
            o->json = true;
            break;
        case 'h':
        case O_HELP:
            usage(stdout);
            exit(0);
        default:
            return -1;
        }
    }
    o->tls = tls >= 0 ? tls == 1 : o->mode == MODE_HANDSHAKE || o->mode == MODE_IDLE;
    if (o->duration < 0)
        o->duration = o->mode == MODE_RELAY ? 10 : o->mode == MODE_IDLE ? 2 : 5;
    const char *bad = NULL;
    if (optind < argc)
        bad = "unexpected argument";
    else if (o->clients < 2 || (o->mode == MODE_RELAY && o->clients % 2 != 0))
        bad = "--clients must be at least 2 (and even for relay)";
    else if (o->rate <= 0 || o->duration < 0 || o->drain < 0 || o->step_secs <= 0 ||
             o->step_factor <= 1 || o->step_p99_ms <= 0)
        bad = "--rate, --step-secs, --step-p99 must be positive, --step-factor above 1";
    else if (o->bytes < FLOOR_HDR_BYTES || o->bytes > 16384)
        bad = "--bytes must be 16 to 16384";
    else if (o->conns < 1 || o->inflight < 1)
        bad = "--conns and --inflight must be positive";
    else if (o->mode == MODE_HANDSHAKE && !o->tls)
        bad = "handshake mode is TLS only";
    else if (o->mode == MODE_WAKEUP && (o->tls || o->rate > 1e6))
        bad = "wakeup mode has no TLS and a rate of at most 1000000";
    if (bad != NULL) {
        fprintf(stderr, "yerba-floor: %s\n", bad);
        return -1;
    }
    return 0;
}

static int
listen_loopback(struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    *addr = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof *addr;
    if (fd < 0 || bind(fd, (struct sockaddr *)addr, sizeof *addr) != 0 || listen(fd, 4096) != 0 ||
        getsockname(fd, (struct sockaddr *)addr, &len) != 0)
        die("cannot listen on 127.0.0.1");
    return fd;
}

int
main(int argc, char **argv)
{
    struct opts o;
    if (parse_opts(argc, argv, &o) != 0)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    struct sockaddr_in addr;
    int lfd = listen_loopback(&addr);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        die("socketpair");
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        close(sv[0]);
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the client */
        pin(o.server_cpu);
        server_run(&o, lfd, sv[1]);
    }
    close(lfd);
    close(sv[1]);
    pin(o.client_cpu);
    g_cl = (struct client){.o = &o, .addr = addr, .ctl = sv[0], .server = pid};
    if (o.tls)
        g_cl.ctx = client_ctx_new();
    if (o.mode != MODE_HANDSHAKE &&
        (g_cl.conns = calloc((size_t)o.clients, sizeof *g_cl.conns)) == NULL)
        die("calloc");
    if ((g_ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
        die("epoll_create1");
    ep_set(EPOLL_CTL_ADD, g_cl.ctl, &TAG_CTL, EPOLLIN);
    while (!g_cl.server_ready)
        client_poll(-1);
    switch (o.mode) {
    case MODE_RELAY:
        return run_relay();
    case MODE_HANDSHAKE:
        return run_handshake();
    case MODE_IDLE:
        return run_idle();
    case MODE_WAKEUP:
        return run_wakeup();
    }
    return 3;
}
