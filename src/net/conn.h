/* SPDX-License-Identifier: MIT
 *
 * conn.h: one XML stream connection as the core sees it. net calls the handler's
 * functions (on the core thread) with parsed events; the core answers with the
 * conn_* calls below. A struct conn stays valid until its handler's closed() has
 * returned; the core must drop its pointer there.
 *
 * Calls made from inside a handler callback (e.g. conn_starttls() while handling
 * <starttls/>) take effect when the callback returns; bytes the peer sent after the
 * element that triggered a STARTTLS or a stream restart are dropped (RFC 6120
 * §5.4.3.3, and against STARTTLS command injection).
 */
#ifndef YB_NET_CONN_H
#define YB_NET_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parser.h"
#include "stanza.h"

struct conn;

/* What a finished TLS handshake gives the core. Borrowed for the call. */
struct conn_tls_info {
    const char *version; /* "TLSv1.3" */
    const char *cipher;
    const char *sni;               /* the name the client asked for, or NULL */
    const char *alpn;              /* the negotiated protocol, or NULL */
    const unsigned char *exporter; /* RFC 9266 tls-exporter, 32 bytes; NULL unless TLS 1.3 */
    size_t exporter_len;
    const unsigned char *end_point; /* RFC 5929 tls-server-end-point hash of our certificate */
    size_t end_point_len;
    const unsigned char *unique; /* RFC 5929 tls-unique (see tls.c for TLS 1.3) */
    size_t unique_len;
};

enum conn_close_reason {
    CONN_CLOSED_LOCAL,    /* conn_close() finished */
    CONN_CLOSED_PEER,     /* EOF or reset from the peer */
    CONN_CLOSED_TLS,      /* TLS handshake or record failure */
    CONN_CLOSED_OVERFLOW, /* output above max_output_bytes */
    CONN_CLOSED_ERROR,    /* other socket error */
    CONN_CLOSED_CONNECT,  /* an outgoing connection could not be established */
};

/* What the peer's certificate proved, after tls_done(). */
enum conn_peer_cert {
    CONN_CERT_NONE,      /* no certificate (clients normally send none) */
    CONN_CERT_UNTRUSTED, /* a certificate whose chain does not verify against the CA store
                            (self-signed, expired, unknown issuer) */
    CONN_CERT_TRUSTED,   /* a certificate that chains to a trusted CA */
};

struct conn_handler {
    /* The direct-TLS handshake (accepted connections on a LISTEN_DIRECT_TLS listener)
     * or the STARTTLS handshake finished. */
    void (*tls_done)(void *ud, struct conn *c, const struct conn_tls_info *info);
    void (*stream_open)(void *ud, struct conn *c, const struct xml_node *header,
                        const char *content_ns);
    /* Consumes: st. */
    void (*stanza)(void *ud, struct conn *c, struct stanza *st);
    void (*stream_close)(void *ud, struct conn *c);
    void (*parse_error)(void *ud, struct conn *c, enum parser_error err, const char *detail);
    /* The connection is gone (after conn_close() or a peer/socket failure). Never
     * called from inside a conn_* call. c is invalid once this returns. */
    void (*closed)(void *ud, struct conn *c, enum conn_close_reason why);
    /* An outgoing connection (net_connect) is established; for direct TLS the
     * handshake starts now and tls_done() follows. Output queued from here (or
     * earlier) goes out once the stream can carry it. */
    void (*connected)(void *ud, struct conn *c);
};

/* Queues a stanza, serialised with the connection's content namespace. Consumes: st.
 * Returns 0, YB_ECLOSED (closing: dropped), or YB_ELIMIT (pending output above the
 * limit: dropped, and the connection is aborted with CONN_CLOSED_OVERFLOW). */
int conn_send(struct conn *c, struct stanza *st);
/* Queues raw bytes (stream headers, features, errors). Same returns. */
int conn_send_raw(struct conn *c, const char *data, size_t len);
/* The default namespace stanzas are written in (default "jabber:client"). */
void conn_set_content_ns(struct conn *c, const char *ns);
/* Starts TLS after the queued output (e.g. <proceed/>) is on the wire: the server
 * side on accepted connections, the client side (with the server name, ALPN and
 * client certificate given to net_connect) on outgoing ones. The parser restarts;
 * tls_done() follows, or closed(CONN_CLOSED_TLS). */
void conn_starttls(struct conn *c);
/* XEP-0138 stream compression (zlib). Like conn_starttls(), it takes effect when the
 * current handler callback returns (at once when called outside one): the output
 * queued until then (the <compressed/>) is written uncompressed, the parser restarts
 * for the peer's new stream header, bytes the peer sent after the element being
 * handled are dropped, and from then on both directions are zlib streams. Output is
 * deflated once per flush (one Z_SYNC_FLUSH per batch, not per stanza); input is
 * inflated before the parser. Under TLS the order is TLS → zlib → XML on input and
 * XML → zlib → TLS on output. Input that inflates to far more than the parser's
 * stanza limit within one read (a compression bomb) ends in parse_error()
 * with PARSER_E_POLICY; corrupt compressed input in parse_error() with
 * PARSER_E_NOT_WELL_FORMED. Costs about 77 KiB per connection while compressed
 * (docs/internals/net.md), freed with the connection.
 * Returns 0; YB_EEXIST (already requested: the stream is unchanged), YB_ECLOSED
 * (closing) or YB_ENOMEM (zlib setup failed: the stream is unchanged, so the core can
 * answer <failure><setup-failed/></failure>). */
int conn_start_compression(struct conn *c);
/* Whether conn_start_compression() succeeded on c. */
bool conn_is_compressed(const struct conn *c);
/* Resets the parser for a new stream (after SASL success). */
void conn_restart_stream(struct conn *c);
/* Flushes queued output, closes TLS cleanly (close_notify) and the socket; closed()
 * follows. Safe to call twice. */
void conn_close(struct conn *c);
/* Drops queued output and closes at once; closed() follows. */
void conn_abort(struct conn *c);

/* Borrowed while c lives. */
const char *conn_peer_ip(const struct conn *c); /* "127.0.0.1", "::1" */
int conn_peer_port(const struct conn *c);
const char *conn_listener_name(const struct conn *c);
bool conn_is_tls(const struct conn *c);
/* Unique per process, for logs ("c2s#12"). */
unsigned long conn_id(const struct conn *c);
size_t conn_pending_output(const struct conn *c);
/* Whether c was made by net_connect(). */
bool conn_is_outgoing(const struct conn *c);
/* The peer's certificate after tls_done(): whether it chains to the CA store (the
 * net_config's ca_file), and in *name_ok whether it names domain (RFC 6125 as RFC
 * 6120 §13.7.1.2 applies it: a DNS-ID (wildcards in the left-most label only), an
 * XmppAddr or an SRV-ID _xmpp-server/_xmpp-client). Certificates that carry only the
 * serverAuth purpose are accepted from clients too (XEP-0178 §3). detail (may be
 * NULL) gets the verification error's text for logs. */
enum conn_peer_cert conn_peer_cert_check(const struct conn *c, const char *domain, bool *name_ok,
                                         char *detail, size_t detail_len);
/* Bytes read from the socket so far, as on the wire (before TLS and zlib). */
uint64_t conn_bytes_received(const struct conn *c);

#endif
