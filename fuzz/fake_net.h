/* SPDX-License-Identifier: MIT
 *
 * fake_net.h: the fuzzer's side of fake_net.c, an in-memory stand-in for src/net
 * that implements conn.h and net.h without sockets or TLS. A fuzz target makes a
 * connection with fake_conn_accept(), plays the peer with fake_conn_input() and
 * fake_conn_eof(), and reads back every byte the server queued, cut into the
 * streams it wrote (a STARTTLS, SASL or compression restart starts a new one).
 */
#ifndef YB_FUZZ_FAKE_NET_H
#define YB_FUZZ_FAKE_NET_H

#include <stdbool.h>
#include <stddef.h>

#include "net.h"

/* A new accepted connection from 127.0.0.1 on a plaintext (STARTTLS) listener named
 * "c2s", handed to accept as net.c would. Returns NULL if accept refused it (its
 * closed() never runs then). The conn stays readable by the caller after the
 * server's closed(): free it with fake_conn_free(). */
struct conn *fake_conn_accept(struct net *n, net_accept_fn accept, void *ud);
/* One socket read of len bytes from the peer. A STARTTLS requested earlier
 * "completes" at the start of the next read: tls_done() runs with fixed channel
 * binding data. After compression the bytes are taken as already inflated. */
void fake_conn_input(struct conn *c, const char *data, size_t len);
/* The peer's FIN: closed(CONN_CLOSED_PEER) follows from the loop if still open. */
void fake_conn_eof(struct conn *c);
/* Whether the server's closed() has run for c. */
bool fake_conn_gone(const struct conn *c);
/* Everything the server queued on c, in order. */
const char *fake_conn_output(const struct conn *c, size_t *len);
/* The number of streams written (1 + restarts), and where stream i starts in the
 * output. */
size_t fake_conn_streams(const struct conn *c);
size_t fake_conn_stream_start(const struct conn *c, size_t i);
/* Frees c once the server's closed() has run (before that: at closed()). */
void fake_conn_free(struct conn *c);

#endif
