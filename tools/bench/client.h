/* SPDX-License-Identifier: MIT
 *
 * client.h: one XMPP client session on an outgoing net connection: stream open,
 * STARTTLS (or direct TLS, XEP-0368), SASL PLAIN or SCRAM-SHA-1/-256 (RFC 6120 §6,
 * RFC 5802, RFC 7677), resource binding (RFC 6120 §7), then optionally the roster
 * get and the initial presence (RFC 6121 §2.2, §4.2). After that the owner sends
 * and receives stanzas. Many clients share one event loop and one struct net.
 * This is the seed of the client library: it knows XMPP, not benchmarks.
 * Certificates are not checked (the bench talks to self-signed test servers).
 */
#ifndef YB_BENCH_CLIENT_H
#define YB_BENCH_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "net.h"
#include "stanza.h"

struct client;

enum client_sasl {
    CLIENT_SASL_PLAIN,
    CLIENT_SASL_SCRAM_SHA1,
    CLIENT_SASL_SCRAM_SHA256,
};

/* Why a client ended. CLIENT_OK: a logout (client_close) that finished cleanly. */
enum client_error {
    CLIENT_OK,
    CLIENT_E_CONNECT,  /* TCP connect failed */
    CLIENT_E_TLS,      /* TLS handshake or record failure */
    CLIENT_E_AUTH,     /* SASL failure (wrong password, blocked account, ...) */
    CLIENT_E_PROTOCOL, /* unexpected or missing element, bad XML */
    CLIENT_E_STREAM,   /* the server sent a stream error (timeout, rate limit, ...) */
    CLIENT_E_CLOSED,   /* the server closed the connection */
    CLIENT_E_ABORTED,  /* client_abort() */
};
#define CLIENT_N_ERRORS 8

struct client_config {
    const char *ip; /* numeric server address */
    int port;
    const char *bind_ip; /* local source address, or NULL */
    bool direct_tls;     /* TLS from the first byte; else STARTTLS (required) */
    const char *domain;  /* the server's domain: stream 'to', SNI */
    const char *user;    /* the account's local part */
    const char *password;
    const char *resource; /* requested resource, or NULL: the server picks one */
    enum client_sasl sasl;
    bool roster_get;       /* fetch the roster before going online */
    bool initial_presence; /* send <presence/> before going online */
};

struct client_callbacks {
    /* The session is ready: bound, roster fetched and presence sent if asked. */
    void (*online)(void *ud, struct client *c);
    /* A stanza received while online. Borrowed for the call. */
    void (*stanza)(void *ud, struct client *c, const struct stanza *st);
    /* The client is gone; err says why (CLIENT_OK after a clean client_close()),
     * detail names the failure (e.g. the SASL condition), or is NULL. c is freed when
     * this returns. Never called from inside client_new(). */
    void (*closed)(void *ud, struct client *c, enum client_error err, const char *detail);
};

/* Starts a session: connects and logs in. Strings in cfg are copied; cb is
 * borrowed and must outlive the client. Returns the client, or NULL (no callback
 * follows) when the connection cannot be started. */
struct client *client_new(struct net *n, const struct client_config *cfg,
                          const struct client_callbacks *cb, void *ud);
/* The bound full JID once online, else NULL. Borrowed while c lives. */
const char *client_jid(const struct client *c);
bool client_is_online(const struct client *c);
/* Sends a stanza (online only). Consumes: st. Returns 0, YB_ECLOSED, YB_EINVAL (not
 * online yet) or YB_ELIMIT (output limit: the connection is being aborted). */
int client_send(struct client *c, struct stanza *st);
/* Sends already serialised XML (online only). Same returns. */
int client_send_raw(struct client *c, const char *xml, size_t len);
/* Bytes queued for the server and not yet written (flow control for floods). */
size_t client_pending_output(const struct client *c);
/* Logs out: closes the stream (</stream:stream>) and waits for the server's
 * closing tag; closed(CLIENT_OK) follows. Safe to call twice. */
void client_close(struct client *c);
/* Drops the connection at once; closed(CLIENT_E_ABORTED) follows unless it already
 * ended otherwise. */
void client_abort(struct client *c);
/* A short, static name for err ("auth", "tls", ...). */
const char *client_error_name(enum client_error err);
/* "PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-256". */
const char *client_sasl_mech(enum client_sasl m);

#endif
