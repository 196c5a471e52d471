/* SPDX-License-Identifier: MIT
 *
 * resolve.h: asynchronous DNS for server-to-server links: where to connect for a
 * remote XMPP domain (RFC 6120 §3.2 SRV lookup with A/AAAA fallback, XEP-0368
 * _xmpps-server records for direct TLS), and plain host name lookups. c-ares runs on
 * the caller's libuv loop; nothing here blocks. See docs/internals/dns.md.
 */
#ifndef YB_NET_RESOLVE_H
#define YB_NET_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "error.h"

struct resolver;
struct resolve_query;

/* Statuses a resolve_fn gets besides 0. The domain or host has no address: */
#define RESOLVE_ENOTFOUND YB_ENOENT
/* The overall deadline (resolver_new's timeout_ms) passed with no address: */
#define RESOLVE_ETIMEDOUT YB_EAGAIN
/* The domain says it offers no XMPP server service (a lone SRV record with target
 * ".", RFC 6120 §3.2.1; or XEP-0368 §5: "." for _xmpps-server and no _xmpp-server
 * records). No address fallback is attempted: */
#define RESOLVE_EUNAVAILABLE YB_EPERM
/* The resolver was freed while the query was pending: */
#define RESOLVE_ECANCELED YB_ECLOSED
/* Any other failure (server failure, refused, network error) is YB_EIO. */

/* Never more targets than this in one answer. */
#define RESOLVE_MAX_TARGETS 16
/* Port of the RFC 6120 §3.2.2 fallback (and of IP literal domains). */
#define RESOLVE_XMPP_SERVER_PORT 5269
/* resolver_new's timeout_ms when given 0. */
#define RESOLVE_DEFAULT_TIMEOUT_MS 10000

/* One place to try, in the order given. */
struct resolve_target {
    char host[256]; /* the SRV target (or the domain / host name), for logs */
    char ip[46];    /* numeric IPv4 or IPv6 address */
    int port;
    bool direct_tls; /* from an _xmpps-server record: TLS from the first byte */
};

/* The answer: status 0 with 1 <= n <= RESOLVE_MAX_TARGETS targets, or a negative
 * status (RESOLVE_E* above, YB_EIO, YB_ENOMEM) with t NULL and n 0. Always called from
 * the loop, never from inside the call that started the query (except resolver_free:
 * see there). Borrowed: t is valid during the call only. The query is gone once this
 * returns. */
typedef void (*resolve_fn)(void *ud, int status, const struct resolve_target *t, size_t n);

/* Creates a resolver on loop (one per loop). servers NULL reads the system
 * configuration (/etc/resolv.conf, and /etc/hosts first); otherwise a c-ares server
 * list such as "127.0.0.1:5353,[::1]:53", asked alone. timeout_ms bounds every query
 * from start to answer (0: RESOLVE_DEFAULT_TIMEOUT_MS). Returns NULL on failure
 * (logged). The loop's thread only, as every function here. */
struct resolver *resolver_new(uv_loop_t *loop, const char *servers, unsigned timeout_ms);

/* Frees r. Every query still pending gets its callback with RESOLVE_ECANCELED before
 * this returns (this is the only synchronous callback). Runs the loop until r's
 * handles are closed, as net_free does, so not from inside a loop callback.
 * Accepts NULL. */
void resolver_free(struct resolver *r);

/* Looks up where to reach the XMPP server of domain (RFC 6120 §3.2, XEP-0368):
 * _xmpps-server._tcp and _xmpp-server._tcp SRV records, merged and ordered by
 * priority then weight (RFC 2782), each target expanded to its IPv6 and IPv4
 * addresses; without any SRV record, the domain's own addresses on port 5269. An IP
 * literal domain ("192.0.2.1", "::1", "[::1]") is answered as it is, on port 5269.
 * Returns the query (valid until fn runs or resolve_cancel), or NULL if domain is
 * not a valid name or r is closing; then fn is never called. */
struct resolve_query *resolve_xmpp_server(struct resolver *r, const char *domain, resolve_fn fn,
                                          void *ud);

/* Looks up the IPv6 and IPv4 addresses of a host name (or takes an IP literal as it
 * is), each with port and direct_tls false. Same contract as resolve_xmpp_server;
 * also NULL for a port outside 1..65535. */
struct resolve_query *resolve_host(struct resolver *r, const char *name, int port, resolve_fn fn,
                                   void *ud);

/* Cancels q: its fn is never called. q must still be pending (fn not run yet).
 * Accepts NULL. */
void resolve_cancel(struct resolve_query *q);

#endif
