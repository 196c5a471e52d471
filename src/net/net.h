/* SPDX-License-Identifier: MIT
 *
 * net.h: the network layer's front: listeners, TLS identities and connections'
 * lifecycle. net owns sockets, SSL objects and stream parsers; it never touches a
 * session, a roster or the router (DESIGN.md §2). With io_threads = 0 everything runs
 * on the loop given to net_new(); with I/O threads the callbacks in conn.h still run
 * on that loop (the core thread), fed from a queue (docs/internals/threads.md).
 * Every function here: core thread only.
 */
#ifndef YB_NET_H
#define YB_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "parser.h"

struct net;
struct conn;
struct conn_handler;

enum listen_tls {
    LISTEN_STARTTLS,   /* plaintext first; the stream may upgrade with STARTTLS */
    LISTEN_DIRECT_TLS, /* TLS from the first byte (XEP-0368) */
};

struct listen_config {
    const char *address; /* "0.0.0.0", "::", "127.0.0.1", "::1" */
    int port;            /* 0: any free port (see net_listener_port) */
    enum listen_tls tls;
    const char *alpn; /* for direct TLS: the protocol to accept, e.g. "xmpp-client" */
    const char *name; /* for logs: "c2s", "c2s-tls" */
    /* Ask the peer for a certificate (server-to-server: SASL EXTERNAL, XEP-0178);
     * a peer without one is still accepted. See conn_peer_cert_check(). */
    bool request_client_cert;
};

/* An outgoing connection. Strings are copied. */
struct connect_config {
    const char *ip; /* numeric IPv4 or IPv6 address */
    int port;
    const char *bind_ip;     /* local source address, or NULL for any */
    bool direct_tls;         /* TLS from the first byte (XEP-0368) */
    const char *server_name; /* SNI for TLS, or NULL */
    const char *alpn;        /* ALPN to offer ("xmpp-server", "xmpp-client"), or NULL */
    /* The domain whose certificate (net_tls_add_identity) we present to the server
     * (SASL EXTERNAL); NULL: none. */
    const char *client_identity;
    const char *name; /* for logs: "s2s-out", "bench" */
};

struct net_config {
    struct parser_limits parser;
    size_t max_output_bytes; /* pending output per connection before YB_ELIMIT */
    /* PEM bundle of trusted CAs for checking peers' certificates; NULL: OpenSSL's
     * default locations (Debian: /etc/ssl/certs). Loaded at first use. */
    const char *ca_file;
    /* Threads that own the sockets (TLS, zlib, XML parsing, writes); 0: everything
     * runs on the loop given to net_new(). See docs/internals/threads.md. */
    unsigned io_threads;
    /* A connection that received nothing for between one and two of these periods
     * gives its XML parser's buffers back (parser_idle()); 0: 10 s. */
    unsigned idle_ms;
};

/* The core side's answer to a new connection: its event handler and data.
 * Return NULL handler to refuse the connection (it is closed at once). */
typedef const struct conn_handler *(*net_accept_fn)(void *ud, struct conn *c, void **conn_ud);

/* Creates the network layer on loop. Returns NULL on failure (logged). */
struct net *net_new(uv_loop_t *loop, const struct net_config *cfg);
/* Closes every listener and connection; returns once their closed() callbacks have
 * run (it runs the loop as needed). Accepts NULL. */
void net_free(struct net *n);

/* Adds a TLS identity served for domain (and, if it is the first, by default when
 * the client sends no or an unknown SNI). Loads and checks the certificate chain and
 * key now. Returns 0, or YB_EINVAL (file unreadable, key mismatch: logged). */
int net_tls_add_identity(struct net *n, const char *domain, const char *cert_file,
                         const char *key_file);
/* Whether an identity for domain was added. */
bool net_tls_has_identity(struct net *n, const char *domain);
/* Replaces all identities (config reload). Existing connections keep theirs. */
void net_tls_clear_identities(struct net *n);

/* Starts listening. Returns 0 or YB_EIO (logged with the address). */
int net_listen(struct net *n, const struct listen_config *cfg, net_accept_fn accept, void *ud);
/* The port of the nth listener opened (for port 0 in tests), or -1. */
int net_listener_port(const struct net *n, size_t index);
/* Stops accepting on every listener (shutdown); existing connections stay. */
void net_stop_listening(struct net *n);

/* Opens an outgoing connection to cfg->ip port cfg->port with handler h and data ud.
 * Returns the conn, valid until h->closed() has returned: connected() follows on
 * success (then tls_done() for direct TLS), closed(CONN_CLOSED_CONNECT) on failure,
 * never from inside this call. Returns NULL (logged, no callback) when cfg is
 * unusable (not a numeric address, no such client identity). */
struct conn *net_connect(struct net *n, const struct connect_config *cfg,
                         const struct conn_handler *h, void *ud);

/* Generates a self-signed EC P-256 certificate and key for domain (with
 * subjectAltName DNS:domain and *.domain) valid for days, written as PEM files
 * (key mode 0600). Returns 0 or YB_EIO. */
int net_tls_generate_self_signed(const char *domain, const char *cert_file, const char *key_file,
                                 int days);

#endif
