/* SPDX-License-Identifier: MIT
 *
 * internal.h: what the files of src/net share and nothing else may see: the net,
 * listener and conn structures, the TLS identity table and the functions that cross
 * net.c (loop, listeners, flush scheduling), conn.c (one connection's bytes, parser
 * and lifecycle) and tls.c (OpenSSL contexts, certificates). See
 * docs/internals/net.md.
 */
#ifndef YB_NET_INTERNAL_H
#define YB_NET_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <uv.h>

#include "buf.h"
#include "conn.h"
#include "list.h"
#include "log.h"
#include "net.h"

/* One read buffer per loop: libuv's alloc_cb hands it to every connection, because
 * read_cb consumes the bytes synchronously (DESIGN.md §5). */
#define NET_READ_BUF_BYTES (64 * 1024)
/* SSL_read gives at most one record (16 KiB) per call. */
#define NET_TLS_SCRATCH_BYTES (16 * 1024)
/* A memory BIO keeps its largest buffer until freed; one that grew beyond this is
 * replaced once drained, so an idle connection holds little. */
#define NET_TLS_BIO_KEEP_BYTES 4096
/* Used when net_config.max_output_bytes is 0. */
#define NET_DEFAULT_MAX_OUTPUT (1024 * 1024)
/* A graceful close (flush, close_notify, FIN, wait for the peer's FIN) that has not
 * finished after this long is cut short. */
#define NET_CLOSE_TIMEOUT_MS 5000
#define NET_LISTEN_BACKLOG   511
/* XEP-0138 zlib. Inflated bytes go to the parser through one per-loop buffer of this
 * size. Output uses a 2^12-byte window and memLevel 5 (32 KiB of deflate state per
 * connection instead of zlib's default 256 KiB); see docs/internals/net.md. */
#define NET_ZLIB_SCRATCH_BYTES       (16 * 1024)
#define NET_ZLIB_DEFLATE_WINDOW_BITS 12
#define NET_ZLIB_DEFLATE_MEM_LEVEL   5
/* What one socket read may inflate to, in units of the parser's stanza limit (plus
 * one stream header): more is a compression bomb and ends the stream with
 * policy-violation. One stanza is already bounded by the parser itself. */
#define NET_ZLIB_READ_FACTOR 4
/* net_config.idle_ms when given 0. */
#define NET_IDLE_MS 10000
/* An idle sweep that released this many parsers gives free pages back to the system. */
#define NET_IDLE_TRIM_COUNT 64
/* Room for "<listener name>#<id>" in log lines. */
#define NET_WHO_BYTES 64

struct tls_identity {
    char *domain; /* lower case */
    SSL_CTX *ctx; /* one reference; SSL objects hold their own */
};

struct listener {
    uv_tcp_t tcp; /* tcp.data = the listener */
    struct net *net;
    net_accept_fn accept;
    void *ud;
    enum listen_tls tls;
    char *name;
    unsigned char *alpn_wire; /* the ALPN protocol in wire format (length-prefixed), or NULL */
    size_t alpn_wire_len;
    int port;
    bool is_open;             /* false after net_stop_listening() */
    bool request_client_cert; /* s2s: ask for the peer's certificate */
};

/* What an outgoing connection (net_connect) was asked for. Freed with the conn. */
struct conn_outgoing {
    uv_connect_t req; /* req.data = the conn */
    char *name;
    char *server_name;        /* SNI, or NULL */
    char *client_identity;    /* domain whose certificate we present, or NULL */
    unsigned char *alpn_wire; /* offered protocol in wire format, or NULL */
    size_t alpn_wire_len;
    bool direct_tls;
    bool connected; /* connected() was called */
};

/* What one event loop that owns sockets needs: the core loop with io_threads = 0,
 * or one I/O thread's loop. Touched only by the thread that runs the loop. */
struct net_loop {
    uv_loop_t *loop;
    struct net *net;
    struct net_io *io;        /* the I/O thread running this loop, or NULL (core loop) */
    struct list_node conns;   /* every conn of this loop until its uv_close callback */
    struct list_node dirty;   /* conns with output to flush before the loop sleeps */
    struct list_node closing; /* conns in a graceful close, oldest first */
    uv_prepare_t flush_handle;
    uv_timer_t close_timer;
    uv_timer_t idle_timer; /* the idle sweep (parser_idle()); does not keep the loop alive */
    char *read_buf;        /* NET_READ_BUF_BYTES, shared by every conn's reads */
    char *tls_scratch;     /* NET_TLS_SCRATCH_BYTES, decrypted bytes before the parser */
    char *zlib_scratch;    /* NET_ZLIB_SCRATCH_BYTES, inflated bytes; allocated at first use */
    bool is_reading;       /* read_buf is lent out to a read in progress */
};

struct net {
    uv_loop_t *loop; /* the core loop */
    struct net_config cfg;
    struct net_loop core;        /* the core loop's sockets (all of them with io_threads = 0) */
    struct listener **listeners; /* in the order opened; freed by net_free() */
    size_t n_listeners;
    unsigned n_closing_handles; /* our handles whose close callback has not run yet */
    /* TLS identities, the CA store and the client context are read by every I/O
     * thread (SNI, new SSL objects) and changed by the core (reload): tls_lock. */
    uv_mutex_t tls_lock;
    struct tls_identity *ids;
    size_t n_ids;
    char *ca_file;        /* cfg.ca_file's own copy, or NULL */
    X509_STORE *ca_store; /* trusted CAs for peers' certificates; loaded at first use */
    SSL_CTX *client_ctx;  /* for outgoing TLS; created at first use */
    bool ca_store_failed; /* loading the CA store failed (logged once) */
    /* I/O threads (io.c); n_io = 0: everything runs on the core loop. */
    unsigned n_io;
    struct net_io *io;
    unsigned next_io;            /* round robin */
    uv_mutex_t ev_lock;          /* guards ev_queue */
    struct list_node ev_queue;   /* struct net_event from the I/O threads */
    uv_async_t ev_wake;          /* one wake-up per batch of events */
    uv_prepare_t cmd_flush;      /* hands queued commands over before the core sleeps */
    struct list_node core_dirty; /* conns with serialised output not yet handed over */
    size_t n_live;               /* threaded conns whose closed() has not run */
    bool cmd_flush_on, stopping;
};

enum conn_state {
    CONN_OPEN,
    CONN_CLOSING, /* conn_close() or peer EOF: flushing, then close_notify and FIN */
    CONN_CLOSED,  /* uv_close() called; the close callback frees the conn */
};

/* Actions requested from inside a handler callback, applied when it returns. */
enum {
    CONN_DEFER_STARTTLS = 1u << 0,
    CONN_DEFER_RESTART = 1u << 1,
    CONN_DEFER_CLOSE = 1u << 2,
    CONN_DEFER_COMPRESS = 1u << 3,
};

struct net__zlib;

/* Core-side state of a connection served by an I/O thread (io.c). The atomics are
 * written by the I/O thread and read by the core; the rest is the core's. */
struct conn_core {
    struct conn *conn;
    struct buf out;            /* serialised on the core, not yet handed over */
    struct list_node dirty;    /* net->core_dirty */
    _Atomic size_t queued;     /* bytes handed over that the I/O thread has not taken */
    _Atomic size_t io_pending; /* the I/O thread's pending output (plaintext, BIOs, writes) */
    _Atomic uint64_t bytes_in; /* conn_bytes_received() */
    X509 *peer_cert;           /* captured at tls_done, or NULL */
    long verify_result;
    uint8_t state;          /* enum conn_state as the core sees it */
    uint8_t in_handler;     /* a handler call for this conn is in progress */
    uint8_t deferred;       /* CONN_DEFER_*: asked inside a handler, sent when it returns */
    struct net__zlib *zlib; /* CONN_DEFER_COMPRESS's zlib state */
    bool is_dirty : 1;
    bool tls_up : 1;        /* tls_done() was delivered */
    bool tls_asked : 1;     /* direct TLS or conn_starttls() */
    bool compressed : 1;    /* conn_start_compression() succeeded */
    bool have_ca_store : 1; /* the CA store existed at the handshake */
};

/* One connection. Per-connection memory is a tracked figure: no inline buffers
 * beyond the peer address; output and TLS buffers exist only while in use. */
struct conn {
    uv_tcp_t tcp; /* tcp.data = the conn */
    struct net *net;
    struct net_loop *nl;                /* the loop that owns the socket */
    struct net_io *io;                  /* its I/O thread, or NULL (io_threads = 0) */
    struct conn_core *core;             /* with an I/O thread: the core's side; NULL otherwise */
    struct listener *listener;          /* NULL for outgoing connections */
    struct conn_outgoing *outgoing;     /* NULL for accepted connections */
    const struct conn_handler *handler; /* NULL until accepted by the core */
    void *ud;
    struct parser *parser;
    SSL *ssl;               /* NULL until TLS starts; app data = the conn */
    char *content_ns;       /* NULL: "jabber:client" */
    struct net__zlib *zlib; /* XEP-0138 state once compression was requested, or NULL */
    struct buf out;         /* pending plaintext; empty and unallocated when idle */
    size_t in_flight;       /* bytes handed to uv_write and not yet completed */
    uint64_t bytes_in;      /* bytes read from the socket (before TLS and zlib) */
    uint64_t idle_mark;     /* bytes_in at the last idle sweep */
    uint64_t close_deadline_ms;
    struct list_node link;  /* net->conns */
    struct list_node queue; /* net->dirty while open, net->closing while closing */
    unsigned long id;
    unsigned in_handler; /* depth of handler calls in progress for this conn */
    uint16_t peer_port;
    uint8_t state;            /* enum conn_state */
    uint8_t deferred;         /* CONN_DEFER_* */
    uint8_t why;              /* enum conn_close_reason, for closed() */
    bool is_feeding : 1;      /* inside parser_feed/parser_resume */
    bool is_dirty : 1;        /* linked in net->dirty */
    bool tls_up : 1;          /* handshake finished */
    bool tls_failed : 1;      /* fatal TLS error: no SSL_shutdown */
    bool parse_failed : 1;    /* the parser reported an error; input is ignored */
    bool discard_rest : 1;    /* drop the rest of the current read (after a restart) */
    bool peer_eof : 1;        /* the peer's FIN arrived */
    bool shut_down : 1;       /* our FIN is out (uv_shutdown finished) */
    bool no_linger : 1;       /* close without waiting for the peer's FIN */
    bool zlib_on : 1;         /* compression in effect (after the <compressed/> went out) */
    bool awaiting : 1;        /* I/O thread: parser held until the core answers (io.c) */
    bool read_paused : 1;     /* I/O thread: socket reads stopped while awaiting */
    bool peer_tls_closed : 1; /* I/O thread: close_notify arrived while awaiting */
    bool rbio_held : 1;       /* the read BIO kept bytes, or took many: trim it later */
    char peer_ip[46];         /* INET6_ADDRSTRLEN */
};

enum conn_event_kind {
    CONN_EV_TLS_DONE,
    CONN_EV_STREAM_OPEN,
    CONN_EV_STANZA,
    CONN_EV_STREAM_CLOSE,
    CONN_EV_PARSE_ERROR,
    CONN_EV_CLOSED,
    CONN_EV_CONNECTED,
};

/* What net tells the core: a direct call with io_threads = 0, a queued struct
 * net_event (io.c) otherwise. */
struct conn_event {
    enum conn_event_kind kind;
    union {
        const struct conn_tls_info *tls;
        struct {
            const struct xml_node *header;
            const char *content_ns;
        } open;
        struct stanza *st;
        struct {
            enum parser_error err;
            const char *detail;
        } error;
        enum conn_close_reason why;
    } u;
};

/* net.c */
/* Queues c for the flush before the loop sleeps. */
void net__conn_mark_dirty(struct conn *c);
/* Moves c from the dirty list to the closing list (deadline set now). */
void net__conn_closing(struct conn *c);
/* The close timer's clock. */
uint64_t net__now_ms(const struct net_loop *nl);
/* Sets up / tears down a loop's handles and buffers. */
int net__loop_init(struct net_loop *nl, struct net *n, uv_loop_t *loop);
/* Closes the loop's handles (close callbacks counted in *closing). */
void net__loop_close_handles(struct net_loop *nl, unsigned *closing);
void net__loop_free_buffers(struct net_loop *nl);

/* conn.c */
/* Accepts a connection from l (listener callback). */
void net__conn_accept(struct listener *l);
/* Writes c's pending output now. */
void net__conn_flush(struct conn *c);
/* Frees what an idle connection can rebuild at its next input (the idle sweep). */
bool net__conn_idle(struct conn *c);
/* Closing deadline passed, or net_free(): closes at once (best effort goodbye). */
void net__conn_shutdown_now(struct conn *c, bool goodbye);
/* "c2s#12" into buf (NET_WHO_BYTES); returns buf. */
const char *net__conn_who(const struct conn *c, char *buf);
/* Threaded mode, on the I/O thread: the socket fd accepted by the core is c's now. */
void net__conn_adopt(struct conn *c, uv_os_sock_t fd);
/* Threaded mode, on the I/O thread: starts the connect of c. */
void net__conn_start_connect(struct conn *c, const struct sockaddr_storage *to,
                             const struct sockaddr_storage *from);
/* Threaded mode, on the I/O thread: the core's commands. */
void net__conn_take_output(struct conn *c, char *data, size_t len);
void net__conn_cmd_starttls(struct conn *c);
void net__conn_cmd_restart(struct conn *c);
void net__conn_cmd_compress(struct conn *c, struct net__zlib *z);
void net__conn_cmd_resume(struct conn *c);
void net__conn_cmd_close(struct conn *c);
void net__conn_cmd_abort(struct conn *c, int why);
/* Frees what is left of a closed conn. */
void net__conn_free_rest(struct conn *c);
/* Fills c's peer address from ss. */
void net__conn_set_peer_addr(struct conn *c, const struct sockaddr_storage *ss);
/* A new conn for l, with its id (core thread). NULL on OOM. */
struct conn *net__conn_alloc(struct net *n);

/* io.c */
/* Starts / stops the I/O threads. */
int net__io_start(struct net *n, unsigned n_threads);
void net__io_free(struct net *n);
/* Threaded accept on the core thread. */
void net__io_accept(struct listener *l);
/* Threaded net_connect's hand-over on the core thread. */
void net__io_connect(struct conn *c, const struct sockaddr_storage *to,
                     const struct sockaddr_storage *from);
/* I/O thread: queues ev for the core. Returns true when the parser must wait for
 * the core's answer (see docs/internals/threads.md). */
bool net__io_post(struct conn *c, const struct conn_event *ev);
/* I/O thread: publish c's pending output figure for the core. */
void net__io_note_pending(struct conn *c);
/* Core side of the conn_* calls with I/O threads. */
int net__io_send(struct conn *c, struct stanza *st, const char *ns);
int net__io_send_raw(struct conn *c, const char *data, size_t len);
void net__io_starttls(struct conn *c);
int net__io_start_compression(struct conn *c);
void net__io_restart(struct conn *c);
void net__io_close(struct conn *c);
void net__io_abort(struct conn *c);
/* Tests: runs fn(c, arg) on the thread that owns c's socket and waits for it. */
void net__conn_call(struct conn *c, void (*fn)(struct conn *, void *), void *arg);

/* tls.c */
/* A new SSL for c, or NULL (logged): server side with the default identity for
 * accepted connections; client side (SNI, ALPN, client certificate, CA store) for
 * outgoing ones. */
SSL *net__tls_new_ssl(struct net *n, struct conn *c);
/* Frees the CA store and the client context. */
void net__tls_free_client(struct net *n);
/* The handshake's results for tls_done(); strings point into storage. */
struct net__tls_info_storage {
    char alpn[256];
    unsigned char exporter[32];
    unsigned char unique[EVP_MAX_MD_SIZE];
    unsigned char end_point[64]; /* EVP_MAX_MD_SIZE */
};
void net__tls_info(SSL *ssl, struct conn_tls_info *info, struct net__tls_info_storage *st);
/* Logs what, with the first error of OpenSSL's queue, as one line for who; clears
 * the queue. */
void net__tls_clear_errors(void);
void net__tls_log_errors(enum log_level level, const char *who, const char *what);
void net__tls_free_identities(struct net *n);
/* conn_peer_cert_check() on a certificate and verification result. */
enum conn_peer_cert net__tls_cert_check(X509 *cert, long verify_result, bool have_store,
                                        const char *domain, bool *name_ok, char *detail,
                                        size_t detail_len);

/* compress.c */
/* New deflate and inflate streams (see NET_ZLIB_*), or NULL on OOM. */
struct net__zlib *net__zlib_new(void);
/* Accepts NULL. */
void net__zlib_free(struct net__zlib *z);
/* Bytes held for z now (structures and zlib's allocations). */
size_t net__zlib_mem(const struct net__zlib *z);
/* Replaces out's plaintext with its compressed form, ending in a Z_SYNC_FLUSH so
 * the peer can inflate everything sent so far. Returns 0, YB_ENOMEM or YB_EIO (out
 * unchanged then). */
int net__zlib_deflate(struct net__zlib *z, struct buf *out);
/* A socket read begins: the inflate budget starts again. */
void net__zlib_new_read(struct net__zlib *z);
/* Inflates from *data and *len (advanced past what was used) into out (cap bytes);
 * *got is the number of bytes written. Call again while *got == cap or *len > 0.
 * Returns 0, YB_ELIMIT (more than read_limit bytes inflated since
 * net__zlib_new_read: a compression bomb), YB_EPROTO (corrupt input, or bytes after
 * the end of the peer's zlib stream) or YB_ENOMEM. */
int net__zlib_inflate(struct net__zlib *z, const char **data, size_t *len, char *out, size_t cap,
                      size_t *got, size_t read_limit);

#endif
